//! The test harness shared by the hub's test binaries (`it`, the fast
//! suite, and `long`, the long runs): one of each kind of fixture.
//!
//! - [`stack`]: anvil chains with the contracts, Redis (single, AOF or a
//!   cluster), the hub as a process of the built binary, traffic and an
//!   exactly-once verdict read from the chains;
//! - [`net`]: the pieces every network fixture starts with (anvil chains
//!   with the contracts deployed, key files);
//! - [`proxy`]: a TCP forwarder that can be taken down, and a lying
//!   JSON-RPC proxy;
//! - [`prometheus`]: a Prometheus server scraping the test's hubs, and
//!   its HTTP API;
//! - [`beacon_node`]: a fake beacon node serving a test's chain data;
//! - [`serve`]: the hub's HTTP surface or a fake node served on a loopback
//!   port.
//!
//! Each binary includes it with `#[path = "../harness/mod.rs"] mod
//! harness;`; what one binary does not use is allowed to be dead there.
#![allow(dead_code, unused_imports)]

pub(crate) mod beacon_node;
pub(crate) mod net;
pub(crate) mod prometheus;
pub(crate) mod proxy;
pub(crate) mod serve;
pub(crate) mod stack;
