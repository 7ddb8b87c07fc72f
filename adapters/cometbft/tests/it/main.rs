//! The CometBFT adapter against local HTTP servers that serve
//! tendermint-testgen chains (real ed25519 signatures) in CometBFT RPC
//! JSON: failover, pagination, bisection over RPC, outbox proofs.

mod rpc;
mod server;
mod watcher;
