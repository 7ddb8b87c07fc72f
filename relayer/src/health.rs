//! What `/readyz` reports: Redis reachable, every watcher progressing within
//! its staleness bound, no lane stuck, nothing fatal; and what `/healthz`
//! reports: no task stopped on a fatal error or ended before shutdown.
//! A watcher's fatal stop is also exported (`switchyard_watcher_fatal`):
//! a stopped watcher exports no height, so no staleness alert sees it.

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus::IntGaugeVec;

use crate::metrics::Metrics;

/// Shared health state, written by tasks and read by the HTTP handlers.
#[derive(Debug, Default)]
pub struct Health {
    inner: Mutex<HealthInner>,
    /// `switchyard_watcher_fatal`, when exported.
    fatal_gauge: Option<IntGaugeVec>,
}

/// The `(chain, watcher)` labels of a watcher's health name: `chain` for an
/// origin's own watcher, `chain:beacon` and `chain:rollup` for the beacon
/// light client and the rollup prover that anchor it.
pub fn watcher_labels(name: &str) -> (&str, &str) {
    match name.rsplit_once(':') {
        Some((chain, kind @ ("beacon" | "rollup"))) => (chain, kind),
        _ => (name, "origin"),
    }
}

#[derive(Debug, Default)]
struct HealthInner {
    /// chain → unix ms of the watcher's last successful round.
    watchers: HashMap<String, u64>,
    /// chain → fatal error that stopped a task.
    fatal: HashMap<String, String>,
    /// task → how it ended before shutdown (returned, panicked).
    ended: HashMap<String, String>,
    /// chain → why its routing is held (the task runs, nothing is routed).
    held: HashMap<String, String>,
    /// chain → staleness bound in ms.
    bounds: HashMap<String, u64>,
    /// destination → (entries, age of the oldest in ms), last reading.
    lanes: HashMap<String, (u64, u64)>,
    /// A lane whose oldest entry is older than this is stuck (0: never).
    stuck_after_ms: u64,
    /// destination → why its last batch got fewer attester signatures than
    /// its Inbox's threshold (cleared by the next batch that got them).
    short: HashMap<String, String>,
    /// destination → why fewer of its attesters answer than its Inbox's
    /// threshold, asked while no batch may be (cleared once enough answer,
    /// or a batch got its signatures).
    attesters_down: HashMap<String, String>,
}

impl Health {
    /// Health state that also exports watchers' fatal stops to `metrics`.
    pub fn with_metrics(metrics: &Metrics) -> Self {
        Self {
            fatal_gauge: Some(metrics.watcher_fatal.clone()),
            ..Self::default()
        }
    }

    fn export_fatal(&self, name: &str, fatal: bool) {
        if let Some(g) = &self.fatal_gauge {
            let (chain, watcher) = watcher_labels(name);
            g.with_label_values(&[chain, watcher]).set(i64::from(fatal));
        }
    }

    /// Registers a watcher with its staleness bound (and exports it as not
    /// fatal, so the series exists from the start).
    pub fn register_watcher(&self, chain: &str, stale_after_ms: u64) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.bounds.insert(chain.to_owned(), stale_after_ms);
        let fatal = g.fatal.contains_key(chain);
        drop(g);
        self.export_fatal(chain, fatal);
    }

    /// A watcher finished a round at `now_ms`.
    pub fn watcher_ok(&self, chain: &str, now_ms: u64) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.watchers.insert(chain.to_owned(), now_ms);
    }

    /// The lanes' stuck bound, in ms.
    pub fn set_stuck_after(&self, ms: u64) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.stuck_after_ms = ms;
    }

    /// A reading of the lane of `destination`: its entries and the age of
    /// the oldest. The age comes from Redis, so every replica sees the same
    /// lane, whoever delivers from it.
    pub fn lane(&self, destination: &str, entries: u64, oldest_age_ms: u64) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.lanes
            .insert(destination.to_owned(), (entries, oldest_age_ms));
    }

    /// A task of `chain` stopped on an error it cannot recover from.
    pub fn set_fatal(&self, chain: &str, err: String) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.fatal.insert(chain.to_owned(), err);
        drop(g);
        self.export_fatal(chain, true);
    }

    /// Task `task` ended before shutdown, `how`: the process no longer does
    /// all its work, and restarting it is the way back.
    pub fn task_ended(&self, task: &str, how: String) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.ended.insert(task.to_owned(), how);
    }

    /// Why the process should be restarted (empty = live): a task stopped
    /// on a fatal error or ended before shutdown. `/healthz` answers 503
    /// with these; `/readyz` reports them too.
    pub fn liveness_problems(&self) -> Vec<String> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<String> = g
            .fatal
            .iter()
            .map(|(c, e)| format!("chain {c}: stopped: {e}"))
            .chain(g.ended.iter().map(|(t, how)| format!("task {t}: {how}")))
            .collect();
        out.sort();
        out
    }

    /// Routing of `chain` is held for `reason` (its evidence is disputed):
    /// not ready until [`Health::release`].
    pub fn hold(&self, chain: &str, reason: String) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.held.insert(chain.to_owned(), reason);
    }

    /// Deliveries to `destination` wait: its attesters gave fewer
    /// signatures than its threshold, for `reason` (not ready until
    /// [`Health::attested`]).
    pub fn attestation_short(&self, destination: &str, reason: String) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.short.insert(destination.to_owned(), reason);
    }

    /// A batch to `destination` got its threshold of signatures.
    pub fn attested(&self, destination: &str) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if !g.short.is_empty() {
            g.short.remove(destination);
        }
        if !g.attesters_down.is_empty() {
            g.attesters_down.remove(destination);
        }
    }

    /// Fewer of `destination`'s attesters answer than its threshold, for
    /// `reason` (not ready until [`Health::attesters_up`] or
    /// [`Health::attested`]).
    pub fn attesters_down(&self, destination: &str, reason: String) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.attesters_down.insert(destination.to_owned(), reason);
    }

    /// Enough of `destination`'s attesters answer again.
    pub fn attesters_up(&self, destination: &str) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if !g.attesters_down.is_empty() {
            g.attesters_down.remove(destination);
        }
    }

    /// Routing of `chain` goes on again.
    pub fn release(&self, chain: &str) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.held.remove(chain);
    }

    /// Reasons the hub is not ready at `now_ms` (empty = ready).
    pub fn problems(&self, now_ms: u64) -> Vec<String> {
        let mut out = self.liveness_problems();
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        out.extend(
            g.held
                .iter()
                .map(|(c, r)| format!("chain {c}: routing held: {r}")),
        );
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
        out.extend(g.short.iter().map(|(d, r)| {
            format!("destination {d}: attester signatures below the Inbox's threshold: {r}")
        }));
        out.extend(
            g.attesters_down.iter().map(|(d, r)| {
                format!("destination {d}: attesters below the Inbox's threshold: {r}")
            }),
        );
        if g.stuck_after_ms > 0 {
            for (dest, &(entries, age)) in &g.lanes {
                if entries > 0 && age > g.stuck_after_ms {
                    out.push(format!(
                        "lane {dest}: stuck: {entries} entries, the oldest {} s old (bound {} s)",
                        age / 1000,
                        g.stuck_after_ms / 1000
                    ));
                }
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

    #[test]
    fn fatal_stops_and_ended_tasks_fail_liveness_and_nothing_else_does() {
        let h = Health::default();
        h.register_watcher("alpha", 1000);
        h.hold("alpha", "endpoints disagree".into());
        h.set_stuck_after(1);
        h.lane("beta", 3, 10_000);
        assert!(
            h.liveness_problems().is_empty(),
            "stale, held and stuck are readiness matters: {:?}",
            h.liveness_problems()
        );
        h.set_fatal("cosmos", "checkpoint hash mismatch".into());
        h.task_ended("dispatcher beta", "panicked".into());
        let live = h.liveness_problems();
        assert_eq!(
            live,
            vec![
                "chain cosmos: stopped: checkpoint hash mismatch",
                "task dispatcher beta: panicked",
            ]
        );
        let ready = h.problems(0);
        assert!(live.iter().all(|p| ready.contains(p)), "{ready:?}");
    }

    #[test]
    fn a_fatal_watcher_is_exported_with_its_chain_and_kind() {
        let m = Metrics::new();
        let h = Health::with_metrics(&m);
        for name in ["eth", "eth:beacon", "op:rollup", "cosmos"] {
            h.register_watcher(name, 1000);
        }
        let value =
            |chain: &str, watcher: &str| m.watcher_fatal.with_label_values(&[chain, watcher]).get();
        assert_eq!(value("eth", "origin"), 0, "exported at 0 from the start");
        assert_eq!(value("eth", "beacon"), 0);
        h.set_fatal("eth:beacon", "checkpoint too old".into());
        h.set_fatal("cosmos", "checkpoint hash mismatch".into());
        assert_eq!(value("eth", "beacon"), 1);
        assert_eq!(value("cosmos", "origin"), 1);
        assert_eq!(value("eth", "origin"), 0, "only the stopped watcher");
        assert_eq!(value("op", "rollup"), 0);
        assert_eq!(watcher_labels("a:b:rollup"), ("a:b", "rollup"));
        assert_eq!(watcher_labels("a:b"), ("a:b", "origin"));
        let text = m.render();
        assert!(
            text.contains("switchyard_watcher_fatal{chain=\"eth\",watcher=\"beacon\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn held_routing_is_reported_until_released() {
        let h = Health::default();
        h.hold("alpha", "endpoints disagree at height 7".into());
        assert_eq!(
            h.problems(0),
            vec!["chain alpha: routing held: endpoints disagree at height 7"]
        );
        h.release("alpha");
        assert!(h.problems(0).is_empty());
    }

    #[test]
    fn a_lane_is_stuck_when_its_oldest_entry_outlives_the_bound() {
        let h = Health::default();
        h.set_stuck_after(300_000);
        h.lane("beta", 12, 299_000);
        assert!(h.problems(0).is_empty());
        h.lane("beta", 12, 301_000);
        assert_eq!(
            h.problems(0),
            vec!["lane beta: stuck: 12 entries, the oldest 301 s old (bound 300 s)"]
        );
        // Drained: an empty lane's age is not a problem.
        h.lane("beta", 0, 0);
        assert!(h.problems(0).is_empty());
    }
}
