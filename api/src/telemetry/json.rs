//! A lean JSON log format: one object per line, `{"timestamp", "level", "fields", "target",
//! "span"}`, as tracing-subscriber's JSON format writes it, but assembled from JSON fragments:
//! a span's fields are kept as `"k":v,...` once, and each event is written straight to the
//! line, with no intermediate maps and no re-parsing of the span's fields.

use std::cell::RefCell;
use std::fmt::{self, Write};

use chrono::{DateTime, Utc};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Fields as a JSON fragment: `"name":value,...` (no braces).
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonFields;

impl<'writer> FormatFields<'writer> for JsonFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut visitor = Fragment {
            writer: &mut writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }

    fn add_fields(
        &self,
        current: &mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let first = current.fields.is_empty();
        let mut visitor = Fragment {
            writer: &mut current.as_writer(),
            first,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct Fragment<'a, 'w> {
    writer: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl Fragment<'_, '_> {
    fn key(&mut self, field: &Field) -> fmt::Result {
        if !self.first {
            self.writer.write_char(',')?;
        }
        self.first = false;
        string(self.writer, field.name())?;
        self.writer.write_char(':')
    }

    /// A value that is already JSON (a number, a boolean).
    fn raw(&mut self, field: &Field, value: &str) {
        if self.result.is_ok() {
            self.result = self.key(field).and_then(|()| self.writer.write_str(value));
        }
    }
}

impl Visit for Fragment<'_, '_> {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.raw(field, itoa::Buffer::new().format(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.raw(field, itoa::Buffer::new().format(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.raw(field, if value { "true" } else { "false" });
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.raw(field, ryu::Buffer::new().format_finite(value));
        } else {
            self.record_str(field, &value.to_string());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if self.result.is_ok() {
            self.result = self.key(field).and_then(|()| string(self.writer, value));
        }
    }

    /// Written through the escaper as it is formatted: no intermediate string (the event's
    /// message comes here).
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_ok() {
            self.result = self.key(field).and_then(|()| {
                self.writer.write_char('"')?;
                write!(Escaped(&mut *self.writer), "{value:?}")?;
                self.writer.write_char('"')
            });
        }
    }
}

/// Bytes a JSON string must escape: `"`, `\` and the control characters.
static ESCAPED: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// A JSON string literal.
fn string(writer: &mut impl Write, value: &str) -> fmt::Result {
    writer.write_char('"')?;
    Escaped(writer).write_str(value)?;
    writer.write_char('"')
}

/// Writes what it is given as the inside of a JSON string. Only ASCII bytes are ever
/// escaped, so every cut is on a character boundary and the rest is copied in runs.
struct Escaped<'a, W: ?Sized>(&'a mut W);

impl<W: Write + ?Sized> Write for Escaped<'_, W> {
    fn write_str(&mut self, value: &str) -> fmt::Result {
        let mut start = 0;
        for (i, &byte) in value.as_bytes().iter().enumerate() {
            if !ESCAPED[usize::from(byte)] {
                continue;
            }
            self.0.write_str(&value[start..i])?;
            match byte {
                b'"' => self.0.write_str("\\\"")?,
                b'\\' => self.0.write_str("\\\\")?,
                b'\n' => self.0.write_str("\\n")?,
                b'\r' => self.0.write_str("\\r")?,
                b'\t' => self.0.write_str("\\t")?,
                _ => write!(self.0, "\\u{byte:04x}")?,
            }
            start = i + 1;
        }
        self.0.write_str(&value[start..])
    }
}

/// `2026-11-29T09:14:30.123456Z`, as `to_rfc3339_opts(SecondsFormat::Micros, true)` writes
/// it; the part up to the seconds is formatted once a second per thread.
fn timestamp(writer: &mut impl Write, now: DateTime<Utc>) -> fmt::Result {
    thread_local! {
        static SECOND: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    SECOND.with_borrow_mut(|(second, text)| {
        if *second != now.timestamp() {
            text.clear();
            write!(text, "{}", now.format("%Y-%m-%dT%H:%M:%S"))?;
            *second = now.timestamp();
        }
        writer.write_str(text)
    })?;
    // A leap second shows as 60.xxx elsewhere; here it is capped at .999999.
    let micros = now.timestamp_subsec_micros().min(999_999);
    let mut fraction = *b".000000Z";
    let mut rest = micros;
    for digit in fraction[1..7].iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    writer.write_str(std::str::from_utf8(&fraction).map_err(|_| fmt::Error)?)
}

/// The event line.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonFormat;

impl<S, N> FormatEvent<S, N> for JsonFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        writer.write_str("{\"timestamp\":\"")?;
        timestamp(&mut writer, Utc::now())?;
        writer.write_str("\",\"level\":\"")?;
        writer.write_str(metadata.level().as_str())?;
        writer.write_str("\",\"fields\":{")?;
        ctx.format_fields(writer.by_ref(), event)?;
        writer.write_str("},\"target\":")?;
        string(&mut writer, metadata.target())?;
        // The event's explicit parent, or else the current span.
        if let Some(span) = ctx.parent_span() {
            writer.write_str(",\"span\":{")?;
            let extensions = span.extensions();
            let fields = extensions
                .get::<FormattedFields<N>>()
                .map(|f| f.fields.as_str())
                .unwrap_or_default();
            if !fields.is_empty() {
                writer.write_str(fields)?;
                writer.write_char(',')?;
            }
            writer.write_str("\"name\":")?;
            string(&mut writer, span.name())?;
            writer.write_char('}')?;
        }
        writer.write_str("}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_json() {
        let mut out = String::new();
        string(&mut out, "a\"b\\c\nd\u{1}é").unwrap();
        assert_eq!(out, r#""a\"b\\c\nd\u0001é""#);
        let parsed: String = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed, "a\"b\\c\nd\u{1}é");
        for plain in ["", "request completed", "/items/{id}", "é ü \u{7f} 😀"] {
            let mut out = String::new();
            string(&mut out, plain).unwrap();
            assert_eq!(out, format!("\"{plain}\""));
            assert_eq!(serde_json::from_str::<String>(&out).unwrap(), plain);
        }
    }

    #[test]
    fn timestamps_read_as_rfc3339_with_microseconds() {
        use chrono::{SecondsFormat, TimeZone};
        for (seconds, nanos) in [(0, 0), (1_764_408_870, 123_456_789), (1_764_408_871, 7_000)] {
            let time = Utc.timestamp_opt(seconds, nanos).unwrap();
            let mut out = String::new();
            timestamp(&mut out, time).unwrap();
            assert_eq!(out, time.to_rfc3339_opts(SecondsFormat::Micros, true));
        }
    }

    #[test]
    fn lines_are_json_objects_with_span_fields() {
        use std::sync::{Arc, Mutex};
        use tracing_subscriber::layer::SubscriberExt;

        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let writer = sink.clone();
        let layer = tracing_subscriber::fmt::layer()
            .fmt_fields(JsonFields)
            .event_format(JsonFormat)
            .with_writer(move || writer.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "request",
                method = "GET",
                request_id = "r\"1",
                status = tracing::field::Empty
            );
            span.record("status", 200);
            span.in_scope(|| {
                tracing::info!(
                    latency_ms = 1.5,
                    ok = true,
                    big = u64::MAX,
                    small = i64::MIN,
                    nan = f64::NAN,
                    "request completed"
                )
            });
            tracing::warn!(count = 3, "outside");
            tracing::info!(parent: &span, "explicit \"parent\"");
        });
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["fields"]["message"], "request completed");
        assert_eq!(lines[0]["fields"]["latency_ms"], 1.5);
        assert_eq!(lines[0]["fields"]["ok"], true);
        assert_eq!(lines[0]["fields"]["big"], u64::MAX);
        assert_eq!(lines[0]["fields"]["small"], i64::MIN);
        assert_eq!(lines[0]["fields"]["nan"], "NaN");
        assert_eq!(lines[0]["span"]["request_id"], "r\"1");
        assert_eq!(lines[0]["span"]["status"], 200);
        assert_eq!(lines[0]["span"]["name"], "request");
        assert_eq!(lines[0]["level"], "INFO");
        assert_eq!(lines[1]["fields"]["count"], 3);
        assert!(lines[1].get("span").is_none());
        assert_eq!(lines[2]["fields"]["message"], "explicit \"parent\"");
        assert_eq!(lines[2]["span"]["request_id"], "r\"1");
        assert_eq!(lines[2]["span"]["status"], 200);
    }
}
