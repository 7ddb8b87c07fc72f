//! The EVM adapter's integration tests, against real anvil chains and the
//! compiled contracts (run `deploy/setup.sh` and
//! `adapters/contracts/build.sh` first).

mod anvil;
