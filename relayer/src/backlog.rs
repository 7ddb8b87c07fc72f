//! Backpressure: the feedback from dispatch to route. The backlog monitor
//! measures every destination's lane in Redis and publishes it in a
//! [`BacklogView`]; the route stage reads the view before appending and holds
//! back a destination over its limit, adding what it appends so the limit is
//! seen before the next measurement. Least-backlog route groups pick their
//! member from the same view.
//!
//! May import: the store, metrics, health, task helpers. Imported by: route,
//! the hub.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchyard_types::Domain;
use tokio_util::sync::CancellationToken;

use crate::health::Health;
use crate::metrics::Metrics;
use crate::store::Lanes;
use crate::tasks::sleep_or_shutdown;
use crate::unix_ms;

/// The latest backlog of each destination (entries), written by the backlog
/// monitor and read by watchers for backpressure.
#[derive(Debug, Default)]
pub struct BacklogView {
    inner: Mutex<HashMap<Domain, u64>>,
}

impl BacklogView {
    /// Records `dst`'s backlog.
    pub fn set(&self, dst: Domain, entries: u64) {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(dst, entries);
    }

    /// Counts `entries` just appended to `dst`'s lane, so that backpressure
    /// sees them before the next measurement replaces the value.
    pub fn add(&self, dst: Domain, entries: u64) {
        *self
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(dst)
            .or_default() += entries;
    }

    /// `dst`'s last known backlog (0 if never measured).
    pub fn get(&self, dst: Domain) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&dst)
            .copied()
            .unwrap_or(0)
    }
}

/// Reports each destination's backlog every second and publishes it for the
/// watchers' backpressure.
#[derive(Debug)]
pub struct BacklogMonitor {
    lanes: Lanes,
    metrics: Metrics,
    dests: Vec<(Domain, String)>,
    shards: u16,
    view: Arc<BacklogView>,
    health: Option<Arc<Health>>,
}

impl BacklogMonitor {
    /// A monitor of `dests`.
    pub fn new(
        lanes: Lanes,
        metrics: Metrics,
        dests: Vec<(Domain, String)>,
        shards: u16,
        view: Arc<BacklogView>,
    ) -> Self {
        Self {
            lanes,
            metrics,
            dests,
            shards,
            view,
            health: None,
        }
    }

    /// Also reports each lane to `health`, where a lane whose oldest entry
    /// is older than `stuck_after_ms` makes `/readyz` fail.
    pub fn with_health(mut self, health: Arc<Health>, stuck_after_ms: u64) -> Self {
        health.set_stuck_after(stuck_after_ms);
        self.health = Some(health);
        self
    }

    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick: u32 = 0;
        loop {
            // Backpressure needs a fresh reading: a watcher held back by a
            // stale one idles while the dispatchers have already drained the
            // lanes. The fuller report (pending, age) is for dashboards,
            // once a second.
            if !tick.is_multiple_of(VIEW_TICKS_PER_REPORT) {
                for (dst, _) in &self.dests {
                    match self.lanes.backlog_len(*dst, self.shards).await {
                        Ok(len) => self.view.set(*dst, len),
                        Err(e) => {
                            self.metrics.redis_errors.with_label_values(&[e.op()]).inc();
                        }
                    }
                }
            } else {
                self.report().await;
            }
            tick = tick.wrapping_add(1);
            if sleep_or_shutdown(VIEW_EVERY, &shutdown).await {
                break;
            }
        }
    }

    async fn report(&self) {
        for (dst, name) in &self.dests {
            match self.lanes.backlog(*dst, self.shards, unix_ms()).await {
                Ok((len, pending, age_ms)) => {
                    self.metrics
                        .lane_backlog
                        .with_label_values(&[name])
                        .set(len as i64);
                    self.metrics
                        .lane_pending
                        .with_label_values(&[name])
                        .set(pending as i64);
                    self.metrics
                        .lane_oldest_age
                        .with_label_values(&[name])
                        .set((age_ms / 1000) as i64);
                    self.view.set(*dst, len);
                    if let Some(h) = &self.health {
                        h.lane(name, len, age_ms);
                    }
                }
                Err(e) => {
                    self.metrics.redis_errors.with_label_values(&[e.op()]).inc();
                }
            }
        }
    }
}

/// How often the backpressure view is refreshed.
const VIEW_EVERY: Duration = Duration::from_millis(100);
/// Refreshes per full backlog report (metrics): once a second.
const VIEW_TICKS_PER_REPORT: u32 = 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backlog_view_counts_appends_until_the_next_measurement() {
        let v = BacklogView::default();
        v.add(7, 1);
        v.set(8, 5);
        v.add(8, 2);
        assert_eq!((v.get(7), v.get(8)), (1, 7));
        v.set(8, 3);
        assert_eq!(v.get(8), 3);
    }
}
