//! Where log lines go: appended to a buffer in memory, written to standard output by a thread
//! of its own in one write per batch. A request never waits on a write, and does not wake
//! the writer for every line (a channel with a parked receiver costs a wake-up and a context
//! switch per line): only the first line into an empty buffer rings, and the writer then
//! lets a batch gather for `GATHER` before writing it.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long a batch gathers after its first line. Lines reach the output at most this late.
const GATHER: Duration = Duration::from_millis(25);

struct Shared {
    state: Mutex<State>,
    /// Rung by the first line into an empty buffer, and on shutdown.
    ring: Condvar,
    /// Lines dropped because the buffer was full; reported by the writer.
    dropped: AtomicU64,
    limit: usize,
}

#[derive(Default)]
struct State {
    pending: Vec<u8>,
    stopping: bool,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The writer of log lines: [`BatchWriter::line`] for the JSON layer, `MakeWriter` for the
/// fmt layer (whose lines each arrive as one `write_all`).
#[derive(Clone)]
pub struct BatchWriter {
    shared: Arc<Shared>,
}

/// Writes what is pending and stops the writer thread when dropped: keep it until exit.
pub struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// A writer batching into `output`, holding at most `limit` bytes not yet written (lines past
/// that are dropped and counted rather than memory grown or requests slowed down).
pub fn batched<W: Write + Send + 'static>(
    output: W,
    limit: usize,
) -> std::io::Result<(BatchWriter, FlushGuard)> {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        ring: Condvar::new(),
        dropped: AtomicU64::new(0),
        limit,
    });
    let thread = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn({
            let shared = shared.clone();
            move || write_batches(&shared, output)
        })?;
    Ok((
        BatchWriter {
            shared: shared.clone(),
        },
        FlushGuard {
            shared,
            thread: Some(thread),
        },
    ))
}

fn write_batches<W: Write>(shared: &Shared, mut output: W) {
    let mut batch = Vec::new();
    loop {
        let mut state = shared.state();
        while state.pending.is_empty() && !state.stopping {
            state = shared.ring.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        if !state.stopping {
            // Let the batch gather; a shutdown cuts the wait short.
            state = shared
                .ring
                .wait_timeout(state, GATHER)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        std::mem::swap(&mut batch, &mut state.pending);
        let stopping = state.stopping;
        drop(state);
        let dropped = shared.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            // Nothing else can report it: this is the log.
            let _ = writeln!(
                batch,
                r#"{{"level":"WARN","fields":{{"message":"log lines dropped: output too slow","dropped":{dropped}}},"target":"api::telemetry"}}"#
            );
        }
        // A failing output (closed pipe, full disk) must not stop the service.
        let _ = output.write_all(&batch).and_then(|()| output.flush());
        batch.clear();
        if stopping {
            return;
        }
    }
}

impl BatchWriter {
    /// Queues one whole line (or drops and counts it when the buffer is full).
    pub fn line(&self, line: &[u8]) {
        let mut state = self.shared.state();
        if state.pending.len() + line.len() > self.shared.limit {
            drop(state);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let first = state.pending.is_empty();
        state.pending.extend_from_slice(line);
        drop(state);
        if first {
            self.shared.ring.notify_one();
        }
    }
}

impl Write for BatchWriter {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        self.line(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = BatchWriter;

    fn make_writer(&'a self) -> BatchWriter {
        self.clone()
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.shared.state().stopping = true;
        self.shared.ring.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_written_in_batches_and_flushed_on_drop() {
        let sink = Sink::default();
        let (writer, guard) = batched(sink.clone(), 1 << 20).unwrap();
        for i in 0..100 {
            writer
                .make_writer()
                .write_all(format!("line {i}\n").as_bytes())
                .unwrap();
        }
        drop(guard);
        let writes = sink.0.lock().unwrap();
        let text = String::from_utf8(writes.concat()).unwrap();
        let expected: String = (0..100).map(|i| format!("line {i}\n")).collect();
        assert_eq!(text, expected);
        assert!(writes.len() < 100, "{} writes for 100 lines", writes.len());
    }

    #[test]
    fn lines_past_the_limit_are_dropped_and_reported() {
        let sink = Sink::default();
        let (writer, guard) = batched(sink.clone(), 10).unwrap();
        writer.make_writer().write_all(b"12345\n").unwrap();
        // Longer than the whole buffer: dropped whatever the writer thread has done.
        writer.make_writer().write_all(b"0123456789a\n").unwrap();
        drop(guard);
        let text = String::from_utf8(sink.0.lock().unwrap().concat()).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("12345"));
        let report: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        assert_eq!(report["fields"]["dropped"], 1);
        assert_eq!(lines.next(), None, "{text}");
    }
}
