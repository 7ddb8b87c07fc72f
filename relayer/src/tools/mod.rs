//! The dev tools, apart from the hub (feature `devtools`, on by default):
//! [`devnet`] runs the hub between local anvil chains with real traffic and
//! checks every delivery; [`bench`] measures it against generated origin
//! evidence and a verifying sink. Both wire the hub from the same parts as
//! `switchyard run`, and start their local processes through the dev-only
//! `switchyard-localnet` crate.
//!
//! May import anything of the library; nothing of the hub imports it.

pub mod bench;
pub mod devnet;
