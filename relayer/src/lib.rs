//! Switchyard, the cross-chain message hub.
//!
//! Data flow, in the order a message meets the modules: [`origin`] (origin
//! evidence → light client → verified batches) → [`route`] (target, group
//! member, backpressure, lane entry) → [`store`] (Redis Streams lanes and
//! the hub's other state) → [`dispatch`] (batch, attest, submit,
//! acknowledge). [`attest`] is the m of n behind "attest": independent
//! attester processes that sign only what their own light clients
//! verified, and the dispatchers' client of them. [`backlog`] carries the feedback from dispatch back to
//! route. [`hub::Hub`] assembles them from a [`config::Config`]; the dev tools
//! (`tools`: devnet and bench, feature `devtools`) run the same hub against
//! local chains or generated evidence; [`cli`] is the command line.

pub mod admin;
pub mod attest;
pub mod backlog;
pub mod balance;
pub mod chain;
pub mod cli;
pub mod config;
pub mod dispatch;
pub mod error;
pub mod health;
pub mod http;
pub mod hub;
pub mod input;
pub mod journal;
pub mod metrics;
pub mod origin;
pub mod ratelimit;
pub mod route;
pub mod status_index;
pub mod store;
pub mod tasks;
#[cfg(feature = "devtools")]
pub mod tools;

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
