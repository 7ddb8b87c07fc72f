//! Ethereum beacon-chain light client following the Altair sync-committee
//! protocol (consensus-specs `specs/altair/light-client/sync-protocol.md`)
//! with the Capella, Deneb and Electra amendments.
//!
//! Pure: no I/O, no clock (the current slot is a parameter), no logging.
//! A [`LightClientStore`] is built from a bootstrap checked against an
//! operator-given block root; [`LightClientStore::verify_update`] checks an
//! update without mutating and returns a [`VerifiedUpdate`] that
//! [`LightClientStore::apply_update`] then executes.
//!
//! Verdicts: an [`Error`] is either a permanent rejection of the data or,
//! when [`Error::is_retryable`] says so, "not yet" (a signature slot in the
//! future, a period the store has not reached). A valid update that lacks
//! the supermajority or finality to advance the store is kept as the best
//! candidate ([`UpdateOutcome::stored_as_best`]) for a forced update after
//! the spec's timeout ([`LightClientStore::apply_force_update`]).
//!
//! Objects come in as beacon API JSON ([`json`]) or SSZ ([`codec`]); the
//! fork of an object fixes its SSZ shape, the fork of a slot fixes which
//! generalized indices and fork version apply ([`ChainSpec`]).
//!
//! Feature `testkit` (for tests only) adds the `testkit` module: sync committees
//! from deterministic keys and the light-client objects they sign.

mod bls;
pub mod codec;
pub mod config;
mod error;
pub mod execution;
pub mod json;
mod merkle;
pub mod spectest;
mod store;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod types;

pub use config::{ChainSpec, Fork, ForkEntry, Preset};
pub use error::{Error, Proof, Result};
pub use store::{LightClientStore, UpdateOutcome, VerifiedUpdate};
pub use types::{
    BeaconBlockHeader, ExecutionPayloadHeader, FinalityProof, LightClientBootstrap,
    LightClientFinalityUpdate, LightClientHeader, LightClientOptimisticUpdate, LightClientUpdate,
    NextSyncCommitteeProof, SyncAggregate, SyncCommittee,
};
