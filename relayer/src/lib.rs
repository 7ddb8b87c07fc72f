//! Switchyard, the cross-chain message hub.
//!
//! Data flow: [`watcher`] (origin evidence → light client → verified
//! messages) → [`router`] → [`lane`] (Redis Streams) → [`dispatcher`]
//! (batch, attest, submit, acknowledge). [`hub::Hub`] assembles them from a
//! [`config::Config`]; [`devnet`] runs the whole thing against local anvil
//! chains.

pub mod admin;
pub mod ancestry;
pub mod api;
pub mod balance;
pub mod beacon;
pub mod bench;
pub mod chain;
pub mod config;
pub mod cosmos;
pub mod devnet;
pub mod dispatcher;
pub mod error;
pub mod health;
pub mod http;
pub mod hub;
pub mod journal;
pub mod lane;
pub mod lc_cli;
pub mod metrics;
pub mod procs;
pub mod ratelimit;
pub mod router;
pub mod status_cli;
pub mod status_index;
pub mod watcher;

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
