//! Local networks for Switchyard's tests and dev tools (`switchyard devnet`,
//! `switchyard bench`): real anvil chains and redis-server processes on free
//! loopback ports, killed when their handles drop, and the helpers that
//! deploy the contracts and send traffic.
//!
//! This crate is dev-only: the adapters and the relayer take it as a
//! dev-dependency, and the hub binary only through its `devtools` feature
//! (on by default; a production build uses `--no-default-features` and
//! carries no launcher).

pub mod evm;
pub mod procs;

pub use procs::{
    Anvil, Managed, ProcError, RedisCluster, RedisServer, RedisTlsFiles, find_tool, free_port,
    repo_root,
};
