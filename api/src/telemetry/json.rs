//! A lean JSON log layer: one object per line, `{"timestamp", "level", "fields", "target",
//! "span"}`, the shape tracing-subscriber's JSON format writes, assembled from JSON fragments.
//! A span's fields are kept as `"k":v,...` as they are recorded, in a buffer sized once; each
//! event is written straight into its thread's line buffer and handed to the sink whole. No
//! intermediate maps, no re-parsing, no dynamic writer between a field and its line.

use std::cell::RefCell;
use std::fmt::{self, Write};

use chrono::{DateTime, Utc};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The layer; `sink` receives each line, newline included.
pub struct JsonLayer<W> {
    sink: W,
}

impl<W: Fn(&[u8]) + Send + Sync + 'static> JsonLayer<W> {
    pub fn new(sink: W) -> Self {
        JsonLayer { sink }
    }

    fn write_line<S>(&self, line: &mut String, event: &Event<'_>, ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let metadata = event.metadata();
        line.push_str("{\"timestamp\":\"");
        timestamp(line, Utc::now());
        line.push_str("\",\"level\":\"");
        line.push_str(metadata.level().as_str());
        line.push_str("\",\"fields\":{");
        event.record(&mut Fragment::new(line));
        line.push_str("},\"target\":");
        string(line, metadata.target());
        // The event's explicit parent, or else the current span.
        if let Some(span) = ctx.event_span(event) {
            line.push_str(",\"span\":{");
            if let Some(SpanFields(fields)) = span.extensions().get::<SpanFields>()
                && !fields.is_empty()
            {
                line.push_str(fields);
                line.push(',');
            }
            line.push_str("\"name\":");
            string(line, span.name());
            line.push('}');
        }
        line.push_str("}\n");
        (self.sink)(line.as_bytes());
    }
}

/// A span's fields as a JSON fragment: `"name":value,...` (no braces).
struct SpanFields(String);

/// Room for a request span's fields (method, request id, route, status) without regrowing.
const SPAN_FIELDS_CAPACITY: usize = 192;

/// A thread's line buffer larger than this after a line is dropped rather than kept.
const MAX_KEPT_LINE: usize = 64 << 10;

impl<S, W> Layer<S> for JsonLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: Fn(&[u8]) + Send + Sync + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = String::with_capacity(SPAN_FIELDS_CAPACITY);
        attrs.record(&mut Fragment::new(&mut fields));
        let mut extensions = span.extensions_mut();
        if extensions.get_mut::<SpanFields>().is_none() {
            extensions.insert(SpanFields(fields));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if let Some(SpanFields(fields)) = span.extensions_mut().get_mut::<SpanFields>() {
            let first = fields.is_empty();
            values.record(&mut Fragment { out: fields, first });
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        thread_local! {
            static LINE: RefCell<String> = const { RefCell::new(String::new()) };
        }
        let written = LINE.try_with(|line| match line.try_borrow_mut() {
            Ok(mut line) => {
                line.clear();
                self.write_line(&mut line, event, &ctx);
                // One huge line (a long error, say) does not pin its memory to the thread.
                if line.capacity() > MAX_KEPT_LINE {
                    *line = String::new();
                }
            }
            // Re-entered: tracing does not dispatch an event from inside another, but a
            // logging layer must not panic if that ever changes.
            Err(_) => self.write_line(&mut String::new(), event, &ctx),
        });
        // The thread is exiting and its buffer is gone.
        if written.is_err() {
            self.write_line(&mut String::new(), event, &ctx);
        }
    }
}

/// Appends fields to a JSON fragment.
struct Fragment<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Fragment<'a> {
    fn new(out: &'a mut String) -> Self {
        Fragment { out, first: true }
    }

    fn key(&mut self, field: &Field) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        string(self.out, field.name());
        self.out.push(':');
    }

    /// A value that is already JSON (a number, a boolean).
    fn raw(&mut self, field: &Field, value: &str) {
        self.key(field);
        self.out.push_str(value);
    }
}

impl Visit for Fragment<'_> {
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
        self.key(field);
        string(self.out, value);
    }

    /// Written through the escaper as it is formatted: no intermediate string (the event's
    /// message comes here).
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.key(field);
        self.out.push('"');
        // Writing to a `String` fails only if `value`'s `Debug` does; keep what it wrote.
        let _ = write!(Escaped(&mut *self.out), "{value:?}");
        self.out.push('"');
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
fn string(out: &mut String, value: &str) {
    out.push('"');
    // Writing to a `String` cannot fail.
    let _ = Escaped(&mut *out).write_str(value);
    out.push('"');
}

/// Writes what it is given as the inside of a JSON string. Only ASCII bytes are ever
/// escaped, so every cut is on a character boundary and the rest is copied in runs.
struct Escaped<'a, W: ?Sized>(&'a mut W);

impl<W: Write + ?Sized> Write for Escaped<'_, W> {
    fn write_str(&mut self, value: &str) -> fmt::Result {
        let bytes = value.as_bytes();
        let mut start = 0;
        while let Some(found) = first_escaped(&bytes[start..]) {
            let i = start + found;
            self.0.write_str(&value[start..i])?;
            match bytes[i] {
                b'"' => self.0.write_str("\\\"")?,
                b'\\' => self.0.write_str("\\\\")?,
                b'\n' => self.0.write_str("\\n")?,
                b'\r' => self.0.write_str("\\r")?,
                b'\t' => self.0.write_str("\\t")?,
                byte => write!(self.0, "\\u{byte:04x}")?,
            }
            start = i + 1;
        }
        self.0.write_str(&value[start..])
    }
}

/// Where the first byte to escape is, looking at eight bytes at a time: nearly every string
/// a log line carries (keys, routes, ids, messages) has none.
fn first_escaped(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    // Some byte of `word` is below `n` (n <= 0x80): exact, whatever the other bytes are.
    let below = |word: u64, n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word & HIGH;
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let special = below(word, 0x20)
            | below(word ^ (ONES * u64::from(b'"')), 1)
            | below(word ^ (ONES * u64::from(b'\\')), 1);
        if special != 0 {
            break;
        }
        offset += 8;
    }
    bytes[offset..]
        .iter()
        .position(|&byte| ESCAPED[usize::from(byte)])
        .map(|i| offset + i)
}

/// `2026-11-29T09:14:30.123456Z`, as `to_rfc3339_opts(SecondsFormat::Micros, true)` writes
/// it; the part up to the seconds is formatted once a second per thread.
fn timestamp(out: &mut String, now: DateTime<Utc>) {
    thread_local! {
        static SECOND: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    SECOND.with_borrow_mut(|(second, text)| {
        if *second != now.timestamp() {
            text.clear();
            // Formatting a date into a `String` cannot fail.
            let _ = write!(text, "{}", now.format("%Y-%m-%dT%H:%M:%S"));
            *second = now.timestamp();
        }
        out.push_str(text);
    });
    // A leap second shows as 60.xxx elsewhere; here it is capped at .999999.
    let micros = now.timestamp_subsec_micros().min(999_999);
    let mut fraction = *b".000000Z";
    let mut rest = micros;
    for digit in fraction[1..7].iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out.push_str(std::str::from_utf8(&fraction).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_json() {
        let mut out = String::new();
        string(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(out, r#""a\"b\\c\nd\u0001é""#);
        let parsed: String = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed, "a\"b\\c\nd\u{1}é");
        for plain in ["", "request completed", "/items/{id}", "é ü \u{7f} 😀"] {
            let mut out = String::new();
            string(&mut out, plain);
            assert_eq!(out, format!("\"{plain}\""));
            assert_eq!(serde_json::from_str::<String>(&out).unwrap(), plain);
        }
    }

    #[test]
    fn every_byte_is_found_at_every_position() {
        let naive = |bytes: &[u8]| bytes.iter().position(|&b| ESCAPED[usize::from(b)]);
        for byte in 0..=0x7fu8 {
            for len in 1..=19 {
                for at in 0..len {
                    // UTF-8 lead and continuation bytes around, to catch borrows between lanes.
                    let mut text = "é".repeat(len).into_bytes();
                    text.truncate(len);
                    text[at] = byte;
                    assert_eq!(
                        first_escaped(&text),
                        naive(&text),
                        "{byte:#x} at {at} of {len}"
                    );
                    text.fill(b'a');
                    text[at] = byte;
                    assert_eq!(
                        first_escaped(&text),
                        naive(&text),
                        "{byte:#x} at {at} of {len}"
                    );
                    let plain = String::from_utf8(text).unwrap();
                    let mut out = String::new();
                    string(&mut out, &plain);
                    assert_eq!(serde_json::from_str::<String>(&out).unwrap(), plain);
                }
            }
        }
    }

    #[test]
    fn long_lines_and_events_logged_while_a_line_is_written_are_safe() {
        use std::sync::{Arc, Mutex};
        use tracing_subscriber::layer::SubscriberExt;

        /// Logs an event of its own when formatted, as a careless `Debug` might.
        struct Chatty;
        impl fmt::Debug for Chatty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                tracing::warn!("inner");
                f.write_str("chatty")
            }
        }
        let sink = Arc::new(Mutex::new(Vec::new()));
        let writer = sink.clone();
        let subscriber =
            tracing_subscriber::registry().with(JsonLayer::new(move |line: &[u8]| {
                writer.lock().unwrap().push(line.to_vec());
            }));
        let long = "x".repeat(200_000);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(long = long.as_str(), "long");
            tracing::info!(value = ?Chatty, "outer");
            tracing::info!("after");
        });
        let lines: Vec<serde_json::Value> = sink
            .lock()
            .unwrap()
            .iter()
            .map(|line| serde_json::from_slice(line).unwrap())
            .collect();
        let messages: Vec<&str> = lines
            .iter()
            .map(|l| l["fields"]["message"].as_str().unwrap())
            .collect();
        // tracing itself drops an event dispatched from inside another one ("inner").
        assert_eq!(messages, ["long", "outer", "after"]);
        assert_eq!(lines[0]["fields"]["long"], long.as_str());
        assert_eq!(lines[1]["fields"]["value"], "chatty");
    }

    #[test]
    fn timestamps_read_as_rfc3339_with_microseconds() {
        use chrono::{SecondsFormat, TimeZone};
        for (seconds, nanos) in [(0, 0), (1_764_408_870, 123_456_789), (1_764_408_871, 7_000)] {
            let time = Utc.timestamp_opt(seconds, nanos).unwrap();
            let mut out = String::new();
            timestamp(&mut out, time);
            assert_eq!(out, time.to_rfc3339_opts(SecondsFormat::Micros, true));
        }
    }

    #[test]
    fn lines_are_json_objects_with_span_fields() {
        use std::sync::{Arc, Mutex};
        use tracing_subscriber::layer::SubscriberExt;

        let sink = Arc::new(Mutex::new(Vec::new()));
        let writer = sink.clone();
        let layer = JsonLayer::new(move |line: &[u8]| {
            writer.lock().unwrap().extend_from_slice(line);
        });
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
        let text = String::from_utf8(sink.lock().unwrap().clone()).unwrap();
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
