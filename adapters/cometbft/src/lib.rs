//! CometBFT chain I/O for Switchyard: an RPC client with failover across
//! endpoints (`/status`, `/commit`, paginated `/validators`, `/abci_query`
//! with proofs) and the watcher steps that drive the pure light client in
//! `switchyard-lc-cometbft`: sync the trusted state to a height, and fetch
//! and prove an outbox entry, or its absence.
//!
//! Feature `testkit` (for tests only) adds a local CometBFT node over a
//! tendermint-testgen chain with a real IAVL outbox store.

mod error;
pub mod rpc;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod watcher;

pub use error::{Error, Result};
pub use rpc::{AbciProof, DEFAULT_MAX_RESPONSE_BYTES, NodeStatus, RpcClient, RpcConfig};
pub use watcher::{OutboxLookup, SyncOutcome, fetch_outbox_message, sync_to};
