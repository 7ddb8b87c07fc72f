//! What `/readyz` reports: Redis reachable, every watcher progressing within
//! its staleness bound, nothing fatal.

use std::collections::HashMap;
use std::sync::Mutex;

/// Shared health state, written by tasks and read by the HTTP handlers.
#[derive(Debug, Default)]
pub struct Health {
    inner: Mutex<HealthInner>,
}

#[derive(Debug, Default)]
struct HealthInner {
    /// chain → unix ms of the watcher's last successful round.
    watchers: HashMap<String, u64>,
    /// chain → fatal error that stopped a task.
    fatal: HashMap<String, String>,
    /// chain → staleness bound in ms.
    bounds: HashMap<String, u64>,
}

impl Health {
    /// Registers a watcher with its staleness bound.
    pub fn register_watcher(&self, chain: &str, stale_after_ms: u64) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.bounds.insert(chain.to_owned(), stale_after_ms);
    }

    /// A watcher finished a round at `now_ms`.
    pub fn watcher_ok(&self, chain: &str, now_ms: u64) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.watchers.insert(chain.to_owned(), now_ms);
    }

    /// A task of `chain` stopped on an error it cannot recover from.
    pub fn set_fatal(&self, chain: &str, err: String) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.fatal.insert(chain.to_owned(), err);
    }

    /// Reasons the hub is not ready at `now_ms` (empty = ready).
    pub fn problems(&self, now_ms: u64) -> Vec<String> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<String> = g
            .fatal
            .iter()
            .map(|(c, e)| format!("chain {c}: stopped: {e}"))
            .collect();
        for (chain, bound) in &g.bounds {
            match g.watchers.get(chain) {
                None => out.push(format!("chain {chain}: light client not synced yet")),
                Some(t) if now_ms.saturating_sub(*t) > *bound => out.push(format!(
                    "chain {chain}: light client stale: last progress {} ms ago, bound {bound} ms",
                    now_ms - t
                )),
                Some(_) => {}
            }
        }
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_and_missing_watchers_are_reported() {
        let h = Health::default();
        h.register_watcher("alpha", 1000);
        assert_eq!(
            h.problems(0),
            vec!["chain alpha: light client not synced yet"]
        );
        h.watcher_ok("alpha", 10_000);
        assert!(h.problems(10_500).is_empty());
        assert!(h.problems(11_001)[0].contains("stale"));
    }
}
