//! The crate's single error type.

use alloy_primitives::B256;

use crate::config::Fork;

/// Which SSZ merkle proof failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Proof {
    /// `current_sync_committee` in the bootstrap header's state.
    CurrentSyncCommittee,
    /// `next_sync_committee` in the attested header's state.
    NextSyncCommittee,
    /// `finalized_checkpoint.root` in the attested header's state.
    Finality,
    /// The execution payload header in a block body.
    ExecutionPayload,
}

impl std::fmt::Display for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::CurrentSyncCommittee => "current sync committee",
            Self::NextSyncCommittee => "next sync committee",
            Self::Finality => "finality",
            Self::ExecutionPayload => "execution payload",
        })
    }
}

/// Everything that can go wrong while decoding or verifying light-client data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bootstrap header is not the operator's trusted checkpoint.
    #[error("bootstrap header root {got} is not the trusted block root {expected}")]
    BootstrapRootMismatch {
        /// The trusted checkpoint root.
        expected: B256,
        /// `hash_tree_root(bootstrap.header.beacon)`.
        got: B256,
    },
    /// A merkle branch does not lead from its leaf to the expected root.
    #[error(
        "invalid {proof} branch: generalized index {gindex} does not prove leaf {leaf} under root {root}"
    )]
    InvalidBranch {
        /// Which proof.
        proof: Proof,
        /// Generalized index the branch was checked at.
        gindex: u64,
        /// Leaf that was proven.
        leaf: B256,
        /// Root it had to reach.
        root: B256,
    },
    /// A branch is shorter than the depth of its generalized index, or its
    /// padding (normalized branches, Electra) is not zero.
    #[error(
        "{proof} branch has {got} nodes, expected {expected} (non-zero padding counts as wrong)"
    )]
    BranchLength {
        /// Which proof.
        proof: Proof,
        /// Depth of the generalized index.
        expected: usize,
        /// Nodes in the branch.
        got: usize,
    },
    /// Fewer sync-committee members signed than the protocol minimum.
    #[error("sync committee participation {got} is below the minimum {min}")]
    InsufficientParticipation {
        /// `MIN_SYNC_COMMITTEE_PARTICIPANTS`.
        min: usize,
        /// Set bits in the sync aggregate.
        got: usize,
    },
    /// A sync committee or aggregate does not have the preset's size.
    #[error("sync committee size {got}, expected {expected}")]
    CommitteeSize {
        /// `SYNC_COMMITTEE_SIZE` of the preset.
        expected: usize,
        /// Size found in the object.
        got: usize,
    },
    /// The signature slot is after the caller's current slot.
    #[error("signature slot {signature_slot} is after the current slot {current_slot}")]
    SignatureSlotInFuture {
        /// Caller's clock.
        current_slot: u64,
        /// `update.signature_slot`.
        signature_slot: u64,
    },
    /// `signature_slot > attested_slot >= finalized_slot` does not hold.
    #[error(
        "slots out of order: signature {signature_slot} > attested {attested_slot} >= finalized {finalized_slot} does not hold"
    )]
    SlotOrder {
        /// `update.signature_slot`.
        signature_slot: u64,
        /// `update.attested_header.beacon.slot`.
        attested_slot: u64,
        /// `update.finalized_header.beacon.slot`.
        finalized_slot: u64,
    },
    /// The update was signed in a period whose committee the store does not
    /// know (yet).
    #[error(
        "signature period {signature_period} is not covered by the store (period {store_period}, next committee known: {next_committee_known})"
    )]
    UnknownSignaturePeriod {
        /// Period of the store's finalized header.
        store_period: u64,
        /// Period of `update.signature_slot`.
        signature_period: u64,
        /// Whether the store already holds the next committee.
        next_committee_known: bool,
    },
    /// The update would finalize a header outside the store's period while
    /// the store does not know the next committee yet.
    #[error(
        "finalized period {finalized_period} cannot be reached from store period {store_period} without the next sync committee"
    )]
    FinalizedPeriodUnreachable {
        /// Period of the store's finalized header.
        store_period: u64,
        /// Period of the header that would become finalized.
        finalized_period: u64,
    },
    /// The update neither advances the store nor supplies a committee it needs.
    #[error(
        "update attested at slot {attested_slot} is not newer than the finalized slot {finalized_slot} and brings no needed committee"
    )]
    IrrelevantUpdate {
        /// `update.attested_header.beacon.slot`.
        attested_slot: u64,
        /// The store's finalized slot.
        finalized_slot: u64,
    },
    /// The update's next committee differs from the one the store already holds.
    #[error("next sync committee root {got} differs from the known next committee {expected}")]
    NextSyncCommitteeMismatch {
        /// Root of the committee in the store.
        expected: B256,
        /// Root of the committee in the update.
        got: B256,
    },
    /// A field that must be empty when its branch is empty is not.
    #[error("{field} must be empty when its branch is all zeros")]
    NonEmptyWithoutProof {
        /// The field's name in the spec.
        field: &'static str,
    },
    /// A header's execution part does not match the fork of its slot.
    #[error("header at slot {slot} is in fork {fork:?}, which expects {expected}")]
    ExecutionForkMismatch {
        /// `header.beacon.slot`.
        slot: u64,
        /// Fork at that slot.
        fork: Fork,
        /// What that fork expects.
        expected: &'static str,
    },
    /// The sync-committee signature is not a valid compressed G2 point.
    #[error("sync aggregate signature is not a valid G2 point")]
    MalformedSignature,
    /// The aggregate signature does not verify against the participants.
    #[error(
        "sync aggregate signature does not verify for {participants} participants at signature slot {signature_slot}"
    )]
    InvalidSignature {
        /// Set bits in the sync aggregate.
        participants: usize,
        /// `update.signature_slot`.
        signature_slot: u64,
    },
    /// A verified update was applied to a store that changed since it was verified.
    #[error("update was verified against store generation {expected}, store is at {got}")]
    StaleVerification {
        /// Generation at verification time.
        expected: u64,
        /// Current generation.
        got: u64,
    },
    /// An execution block header does not match the execution payload header
    /// a verified beacon header commits to.
    #[error(
        "execution {field}: the verified beacon header commits to {expected}, the execution header has {got}"
    )]
    ExecutionHeaderMismatch {
        /// Which field differs.
        field: &'static str,
        /// What the beacon header commits to.
        expected: String,
        /// What the execution header says.
        got: String,
    },
    /// The beacon header has no execution payload (before Capella's
    /// light-client headers).
    #[error("beacon header at slot {slot} carries no execution payload header")]
    NoExecutionPayload {
        /// Its slot.
        slot: u64,
    },
    /// The input could not be decoded.
    #[error("cannot decode {what}: {reason}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
}

impl Error {
    /// Whether the same input may be accepted later without changing it.
    ///
    /// Only clock and store-progress conditions qualify: a signature from the
    /// future becomes acceptable as time passes, a period ahead of the store
    /// once the store has synced up to it, and a stale verification when
    /// re-verified.
    /// Every verification failure of the data itself is permanent.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::SignatureSlotInFuture { .. }
            | Self::FinalizedPeriodUnreachable { .. }
            | Self::StaleVerification { .. } => true,
            // A period behind the store never becomes acceptable again.
            Self::UnknownSignaturePeriod {
                store_period,
                signature_period,
                ..
            } => signature_period > store_period,
            _ => false,
        }
    }

    pub(crate) fn decode(what: &'static str, reason: impl std::fmt::Display) -> Self {
        Self::Decode {
            what,
            reason: reason.to_string(),
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
