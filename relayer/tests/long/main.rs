//! The hub's long runs, apart from the fast suite so that `cargo test -p
//! switchyard` stays quick: chaos (kills, restarts, lost endpoints, paused
//! chains under steady traffic), overload, the kill loops and replica runs
//! of `reliability`, the status API with the explorer in headless
//! Chromium, and a real Prometheus evaluating the dashboard and the alerts
//! on a live hub. `deploy/test.sh` runs them (`cargo test -p switchyard
//! --test long`); `CHAOS_SECONDS` sets the chaos run's length.

#[path = "../harness/mod.rs"]
mod harness;

mod chaos;
mod failover;
mod overload;
mod prometheus;
mod reliability;
mod status;
