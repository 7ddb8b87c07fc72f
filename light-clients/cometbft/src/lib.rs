//! CometBFT (Tendermint) light client for Switchyard.
//!
//! Header verification is the upstream `tendermint-light-client-verifier`
//! (CometBFT spec `spec/light-client/verification`), wrapped, not
//! rewritten: a [`TrustedState`] moves only after [`LightClient::verify`]
//! succeeded and the result is applied, and skipping verification with
//! bisection is a state machine ([`Bisection`]) that asks for blocks
//! instead of fetching them, so this crate stays pure: no async, no I/O,
//! no clock (`now` is a parameter), no logging.
//!
//! Messages are proven with ICS-23 ([`proof`]) against the app hash of a
//! verified header, under the outbox layout of [`outbox`]. Operators'
//! inputs come as CometBFT RPC JSON or tendermint-rs LightBlock JSON
//! ([`json`]).
//!
//! The batch signature backend draws its random coefficients from the OS
//! (a batch is sound only if signers cannot predict them); that is its
//! only contact with the outside.
//!
//! Verdicts: [`Error::class`] gives the vectors' class (not enough trust vs
//! invalid); [`Error::is_retryable`] whether the same input may pass later.

mod batch;
mod client;
mod error;
pub mod json;
pub mod outbox;
pub mod proof;

pub use client::{
    Bisection, Config, LightClient, Progress, SignatureBackend, StepReport, Synced, TrustedState,
    VerifiedBlock, parse_time, parse_trust_threshold, verify_sequence, verify_to_height,
};
pub use error::{Error, Result, VerdictClass};

/// Upstream types callers need to name.
pub use tendermint::{Hash, Time};
pub use tendermint_light_client_verifier::options::Options;
pub use tendermint_light_client_verifier::types::{LightBlock, TrustThreshold};
