//! Switchyard's rollup light client: an OP Stack or Arbitrum (BoLD) L2
//! block proved from a verified L1 state root, so that no rollup endpoint
//! is trusted for anything but liveness.
//!
//! Pure code (no I/O, no async, no clock, no logging). A [`Bundle`] (the
//! JSON form of the RIP-7755 vectors) is checked hop by hop:
//!
//! 1. [`beacon`]: beacon block root → L1 execution state root, the SSZ
//!    branch at generalized index 6434 (optional: without a beacon root the
//!    bundle's state root is taken as given, and the verdict says so);
//! 2. [`mpt`]: the settlement contract's account and storage slot under that
//!    state root (`eth_getProof` form, walked by alloy-trie);
//! 3. the commitment: an OP Stack output root ([`op`]: AnchorStateRegistry
//!    anchor, DisputeGameFactory game, L2OutputOracle output) or an
//!    Arbitrum assertion hash ([`arbitrum`]);
//! 4. the L2 header by its hash (`switchyard_lc_evm::Header`, every fork
//!    layout), whose receipts root then proves messages as for any EVM
//!    block;
//! 5. optionally, an L2 storage slot under that header;
//! 6. the proposal's finality under a [`FinalityPolicy`] at a caller-given
//!    time ([`Now`]), reported as a [`TrustMode`].
//!
//! [`verify_bundle`] runs them all and returns a [`Verdict`]; every refusal
//! is a [`RollupError`] naming its [`Hop`] and the values that disagreed,
//! and [`RollupError::is_retryable`] separates "not final yet" from a
//! verdict on the data.

pub mod arbitrum;
pub mod beacon;
mod bundle;
mod error;
pub mod mpt;
pub mod op;
mod policy;
pub mod slots;
mod verify;

pub use alloy_primitives::{Address, B256, Bytes, U256};
pub use bundle::{
    AccountProofParams, ArbitrumBundle, Bundle, DisputeGameProof, OpStackBundle, OutputOracleProof,
    RollupKind, StateProofParams,
};
pub use error::{Hop, Layer, ProofFailure, RollupError};
pub use policy::{
    DEFAULT_GAME_FINALITY_DELAY, DEFAULT_OUTPUT_FINALIZATION_PERIOD, FinalityPolicy, MinAge, Now,
    TrustMode,
};
pub use switchyard_lc_evm::{BlockRef, Header};
pub use verify::{
    Commitment, L1Anchor, L2Slot, MAX_HEADER_BYTES, Settlement, Target, Verdict, verify_bundle,
    verify_bundle_at_state_root,
};
