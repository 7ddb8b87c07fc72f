//! Origins: each follows one chain, verifies what its endpoints say with a
//! light client, and hands the route stage verified batches; they do no
//! routing of their own.
//!
//! - [`evm`]: an EVM chain's header chain (with an endpoint quorum, or gated
//!   by a beacon anchor), its receipts and the Mailbox's messages;
//! - [`beacon`]: the beacon light client that anchors an EVM origin to
//!   finalized blocks, and the gate it sets;
//! - [`ancestry`]: the backward walk from a finalized block past the header
//!   window;
//! - [`cometbft`]: a CometBFT chain's light client and its outbox, proven
//!   message by message;
//! - [`rollup`]: a rollup's blocks proven from the verified state of the
//!   chain it settles on, the anchor its EVM watcher routes ancestors of.
//!
//! May import: chain traits, the route stage, the store's origin state,
//! task helpers, health, metrics. Never the dispatch side.

pub mod ancestry;
pub mod beacon;
pub mod cometbft;
pub mod evm;
pub mod rollup;
