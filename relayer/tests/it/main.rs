//! Integration tests of the hub, against real redis-server and anvil
//! processes that each test starts on free ports and stops: the fast suite
//! (`cargo test -p switchyard`). The long runs (chaos, overload, kill
//! loops, the browser) are the `long` binary, run by `deploy/test.sh` or
//! `cargo test -p switchyard --test long`.

#[path = "../harness/mod.rs"]
mod harness;

mod admin;
mod attesters;
mod bad_input;
mod balance;
mod beacon;
mod beacon_anchor;
mod bench;
mod capacity;
mod cli;
mod cometbft;
mod contracts;
mod e2e;
mod groups;
mod integrate;
mod isolation;
mod lanes;
mod lc;
mod ops;
mod outage;
mod pingpong;
mod roles;
mod rollup;
mod rollup_arbitrum;
mod rotation;
mod sdk;
mod secrets;
mod senders;
mod storage;
mod tls;
