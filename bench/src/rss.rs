//! Memory of a server under test, from /proc: resident set size summed over the process
//! and its descendants (pre-fork servers such as gunicorn keep their work in children).

use std::fs;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const EVERY: Duration = Duration::from_millis(250);

/// The value of a `Key:   123 kB` line of /proc/PID/status, in kB.
fn status_kb(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The parent pid field of a /proc/PID/stat line (after the parenthesised command name,
/// which may itself contain spaces and parentheses).
fn ppid_of(stat: &str) -> Option<u32> {
    stat.get(stat.rfind(')')? + 2..)?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// `pid` and all its descendants alive now.
fn tree(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(p) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(pp) = fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .as_deref()
                .and_then(ppid_of)
            {
                parents.push((p, pp));
            }
        }
    }
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found
}

/// Sum of `key` (VmRSS, VmHWM) over the tree, in kB; None when the process is gone.
pub fn tree_kb(pid: u32, key: &str) -> Option<u64> {
    let root = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mut total = status_kb(&root, key)?;
    for p in tree(pid).into_iter().skip(1) {
        if let Some(kb) = fs::read_to_string(format!("/proc/{p}/status"))
            .ok()
            .and_then(|s| status_kb(&s, key))
        {
            total += kb;
        }
    }
    Some(total)
}

/// Samples the tree's RSS while a slice runs; `finish` returns the highest value seen.
pub struct Sampler {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Option<u64>>,
}

impl Sampler {
    pub fn start(pid: u32) -> Sampler {
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut peak = None;
            let mut tick = tokio::time::interval(EVERY);
            loop {
                peak = peak.max(tree_kb(pid, "VmRSS"));
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = &mut stopped => break,
                }
            }
            peak.max(tree_kb(pid, "VmRSS"))
        });
        Sampler { stop, task }
    }

    pub async fn finish(self) -> Option<u64> {
        let _ = self.stop.send(());
        self.task.await.ok().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_lines() {
        let status = "Name:\tbare\nVmHWM:\t   10240 kB\nVmRSS:\t    9000 kB\n";
        assert_eq!(status_kb(status, "VmRSS"), Some(9000));
        assert_eq!(status_kb(status, "VmHWM"), Some(10240));
        assert_eq!(status_kb(status, "VmSwap"), None);
        assert_eq!(
            ppid_of("123 (gunicorn: worker (x)) S 77 123 123 0"),
            Some(77)
        );
    }

    #[test]
    fn own_process_has_memory() {
        assert!(tree_kb(std::process::id(), "VmRSS").is_some_and(|kb| kb > 0));
    }
}
