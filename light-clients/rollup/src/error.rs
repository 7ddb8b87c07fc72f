//! The one error type of the crate, and the hop each refusal belongs to.

use std::fmt;

use alloy_primitives::{Address, B256, Bytes, keccak256};
use serde::Serialize;

use crate::bundle::RollupKind;

/// Which chain a Merkle-Patricia proof is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// Ethereum (the settlement layer): the rollup's contracts.
    L1,
    /// The rollup itself: a contract under the proven L2 header.
    L2,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::L1 => "L1",
            Self::L2 => "L2",
        })
    }
}

/// The hop of the chain of proofs that refused a bundle: beacon root → L1
/// state root → settlement contract → its storage → the rollup's
/// commitment → the L2 header → (optionally) an L2 storage slot, and last
/// the proposal's finality, judged only once every proof holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Hop {
    /// The bundle itself: a part the target needs is missing, a field has
    /// the wrong shape or size, or the bundle is for another rollup kind.
    Bundle,
    /// Beacon block root → L1 execution state root (SSZ branch), or the
    /// bundle's state root against the one the caller trusts.
    BeaconBranch,
    /// L1 state root → a settlement contract's account (its storage root).
    L1Account,
    /// A settlement contract's storage root → a slot and its value, or a
    /// slot that is not the one the contract's layout puts the value in.
    L1Storage,
    /// The rollup's commitment against what the L2 block and the bundle's
    /// parts hash to: output root, dispute game id, assertion hash, the
    /// proposal's L2 block number.
    Commitment,
    /// The L2 header: its hash against the proven block hash, its decoding,
    /// the fields the commitment also fixes.
    L2Header,
    /// L2 state root → an L2 account.
    L2Account,
    /// An L2 account's storage root → a slot and its value.
    L2Storage,
    /// The proposal's status and age against the finality policy.
    Finality,
}

impl fmt::Display for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Bundle => "bundle",
            Self::BeaconBranch => "beacon branch",
            Self::L1Account => "L1 account proof",
            Self::L1Storage => "L1 storage proof",
            Self::Commitment => "commitment",
            Self::Finality => "finality",
            Self::L2Header => "L2 header",
            Self::L2Account => "L2 account proof",
            Self::L2Storage => "L2 storage proof",
        })
    }
}

/// Why a Merkle-Patricia proof does not prove what it claims.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProofFailure {
    /// An empty proof, which proves only the empty trie.
    EmptyProof {
        /// The root the proof had to reach.
        root: B256,
    },
    /// The walk met something other than what the root and the key
    /// require: a node that is not the one its parent refers to, or a value
    /// at the key other than the claimed one (`None`: nothing).
    Mismatch {
        /// How many nibbles of the key the walk had followed.
        nibble: usize,
        /// What the trie requires there (a node reference, or the claimed
        /// value).
        expected: Option<Bytes>,
        /// What the proof holds there.
        got: Option<Bytes>,
    },
    /// A node or value that does not decode.
    Malformed {
        /// The decoder's reason.
        reason: String,
    },
    /// More nodes than a 32-byte key can need.
    TooManyNodes {
        /// [`crate::mpt::MAX_PROOF_NODES`].
        max: usize,
        /// Nodes in the proof.
        got: usize,
    },
    /// A node larger than any trie node (a full branch is 532 bytes).
    NodeTooLarge {
        /// Position of the node in the proof.
        index: usize,
        /// [`crate::mpt::MAX_NODE_BYTES`].
        max: usize,
        /// Its length.
        got: usize,
    },
}

/// Up to 40 bytes in hex; longer byte strings (whole trie nodes) by length
/// and hash, so that a log line stays short.
struct Short<'a>(Option<&'a Bytes>);

impl fmt::Display for Short<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("nothing"),
            Some(b) if b.len() <= 40 => write!(f, "{b}"),
            Some(b) => write!(f, "a {}-byte node with hash {}", b.len(), keccak256(b)),
        }
    }
}

impl fmt::Display for ProofFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyProof { root } => {
                write!(
                    f,
                    "empty proof, which proves only the empty root, not {root}"
                )
            }
            Self::Mismatch {
                nibble,
                expected,
                got,
            } => write!(
                f,
                "at nibble {nibble}: expected {}, got {}",
                Short(expected.as_ref()),
                Short(got.as_ref())
            ),
            Self::Malformed { reason } => write!(f, "malformed: {reason}"),
            Self::TooManyNodes { max, got } => write!(f, "{got} nodes, at most {max}"),
            Self::NodeTooLarge { index, max, got } => {
                write!(f, "node {index} is {got} bytes, at most {max}")
            }
        }
    }
}

/// Why a rollup bundle was refused.
///
/// Every variant names the values that were wrong (expected and got where
/// there are two); [`RollupError::hop`] says which hop of the chain of
/// proofs refused it, [`RollupError::reason`] gives a bounded label for
/// metrics and [`RollupError::is_retryable`] separates "not enough trust
/// yet" from a verdict on the data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RollupError {
    // ----- the bundle -----
    /// A part of the bundle the target needs is absent.
    #[error("bundle: {what} is missing ({needed_by} needs it)")]
    MissingPart {
        /// The bundle field.
        what: &'static str,
        /// The settlement form that needs it.
        needed_by: &'static str,
    },
    /// A field of the wrong shape or size.
    #[error("bundle: {field}: expected {expected}, got {got}")]
    Malformed {
        /// The bundle field.
        field: &'static str,
        /// The shape required.
        expected: String,
        /// What the bundle holds.
        got: String,
    },
    /// A bundle of one rollup kind checked against a target of another.
    #[error("bundle is for {got}, the target is {expected}")]
    KindMismatch {
        /// The target's kind.
        expected: RollupKind,
        /// The bundle's kind.
        got: RollupKind,
    },
    /// The bundle proves an L2 storage slot but the target names no L2
    /// account to check it against (a proof of an unnamed account proves
    /// nothing).
    #[error("bundle proves an L2 storage slot but the target names no L2 account")]
    NoL2Account,

    // ----- beacon block root → L1 state root -----
    /// The bundle's branch is for another beacon block than the trusted one.
    #[error("beacon root: trusted {expected}, the bundle's branch is for {got}")]
    BeaconRootMismatch {
        /// The caller's (verified) beacon block root.
        expected: B256,
        /// The bundle's `beaconRoot`.
        got: B256,
    },
    /// A branch with the wrong number of siblings.
    #[error("beacon branch: expected {expected} siblings, got {got}")]
    BeaconBranchLength {
        /// Depth of the generalized index.
        expected: usize,
        /// Siblings in the bundle.
        got: usize,
    },
    /// The branch does not lead from the state root to the beacon root.
    #[error(
        "beacon branch: state root {state_root} at generalized index {gindex} hashes to \
         {got}, expected beacon root {expected}"
    )]
    BeaconBranch {
        /// The generalized index checked.
        gindex: u64,
        /// The leaf: the bundle's execution state root.
        state_root: B256,
        /// The beacon block root.
        expected: B256,
        /// The root the branch leads to.
        got: B256,
    },
    /// The bundle's L1 state root is not the one the caller trusts.
    #[error("L1 state root: trusted {expected}, the bundle's is {got}")]
    StateRootMismatch {
        /// The caller's (verified) L1 state root.
        expected: B256,
        /// The bundle's `executionStateRoot`.
        got: B256,
    },

    // ----- Merkle-Patricia proofs -----
    /// An account proof that does not verify.
    #[error("{layer} account proof of {address} under state root {state_root}: {failure}")]
    AccountProof {
        /// L1 or L2.
        layer: Layer,
        /// The account.
        address: Address,
        /// The state root the proof must reach.
        state_root: B256,
        /// What went wrong (boxed: it holds node bytes, and keeps every
        /// `Result` of the crate small).
        failure: Box<ProofFailure>,
    },
    /// A valid proof that the account does not exist.
    #[error("{layer} account {address} does not exist under state root {state_root}")]
    AccountAbsent {
        /// L1 or L2.
        layer: Layer,
        /// The account.
        address: Address,
        /// The state root.
        state_root: B256,
    },
    /// A storage proof that does not verify (including a claimed value
    /// other than the one the trie holds).
    #[error(
        "{layer} storage proof of {address} slot {slot} under storage root {storage_root}: \
         {failure}"
    )]
    StorageProof {
        /// L1 or L2.
        layer: Layer,
        /// The account.
        address: Address,
        /// The slot (before hashing).
        slot: B256,
        /// The account's storage root.
        storage_root: B256,
        /// What went wrong (boxed, as for accounts).
        failure: Box<ProofFailure>,
    },
    /// A proven slot that is not the one the contract's layout keeps the
    /// value in.
    #[error("{layer} storage of {address}: {what} is slot {expected}, the bundle proves {got}")]
    StorageSlot {
        /// L1 or L2.
        layer: Layer,
        /// The account.
        address: Address,
        /// The value the slot holds (e.g. `anchors[game type].root`).
        what: &'static str,
        /// The slot the layout gives.
        expected: B256,
        /// The slot the bundle proves.
        got: B256,
    },

    // ----- the commitment -----
    /// The output root L1 holds is not the one the L2 block gives.
    #[error(
        "output root: L1 holds {expected}, L2 block {height} gives {got} (with message passer \
         storage root {message_passer_storage_root})"
    )]
    OutputRoot {
        /// The proven output root (L1 storage).
        expected: B256,
        /// keccak(version ‖ state root ‖ message passer storage root ‖
        /// block hash) of the bundle's header.
        got: B256,
        /// The header's number.
        height: u64,
        /// The bundle's `l2MessagePasserStorageRoot`, the one part not in
        /// the header.
        message_passer_storage_root: B256,
    },
    /// The assertion slot the bundle proves is not the one of the assertion
    /// its parts hash to.
    #[error(
        "assertion: the parts hash to assertion {assertion_hash}, kept in slot {expected}; \
         the bundle proves slot {got}"
    )]
    AssertionSlot {
        /// keccak(prev ‖ keccak(abi.encode(afterState)) ‖ sequencerBatchAcc).
        assertion_hash: B256,
        /// `keccak(assertion_hash ‖ 0x75)`.
        expected: B256,
        /// The bundle's `storageKey`.
        got: B256,
    },
    /// The assertion's machine did not finish (an errored machine commits
    /// to no block).
    #[error("assertion after state: machine status expected 1 (FINISHED), got {got}")]
    MachineStatus {
        /// `afterState.machineStatus`.
        got: u8,
    },
    /// The dispute-game slot the bundle proves is not the one of the game
    /// its root claim and extra data name.
    #[error(
        "dispute game: type {game_type}, root claim {root_claim} and the extra data are kept \
         in slot {expected}; the bundle proves slot {got}"
    )]
    GameSlot {
        /// The bundle's game type.
        game_type: u32,
        /// The computed output root (the game's root claim).
        root_claim: B256,
        /// keccak(getGameUUID(...) ‖ slot of `_disputeGames`).
        expected: B256,
        /// The bundle's `storageKey`.
        got: B256,
    },
    /// The factory holds no game for this root claim (a valid exclusion
    /// proof).
    #[error(
        "dispute game: the factory holds no game of type {game_type} with root claim {root_claim}"
    )]
    GameAbsent {
        /// The game type asked for.
        game_type: u32,
        /// The root claim asked for.
        root_claim: B256,
    },
    /// A game of a type the target does not accept (or whose packed id
    /// disagrees with the type it was looked up by).
    #[error("dispute game type: expected one of {expected:?}, got {got}")]
    GameType {
        /// The accepted types.
        expected: Vec<u32>,
        /// The game's type.
        got: u32,
    },
    /// The proposal is for another L2 block than the header given.
    #[error("{what}: L2 block number expected {expected} (the header's), got {got}")]
    L2BlockNumber {
        /// Which proposal field ("dispute game extra data", "output proposal").
        what: &'static str,
        /// The header's number.
        expected: u64,
        /// The proposal's.
        got: u64,
    },

    // ----- finality -----
    /// A dispute game not resolved for the defender.
    #[error("dispute game {game}: status expected 2 (DEFENDER_WINS), got {got}")]
    GameStatus {
        /// The game proxy.
        game: Address,
        /// Its status (0 IN_PROGRESS, 1 CHALLENGER_WINS, 2 DEFENDER_WINS).
        got: u8,
    },
    /// An unresolved game whose L2 block number was shown wrong.
    #[error("dispute game {game}: its L2 block number was challenged")]
    GameBlockNumberChallenged {
        /// The game proxy.
        game: Address,
    },
    /// An assertion that is not Confirmed.
    #[error("assertion {assertion_hash}: status expected 2 (Confirmed), got {got}")]
    AssertionStatus {
        /// The assertion.
        assertion_hash: B256,
        /// Its status (0 NoAssertion, 1 Pending, 2 Confirmed).
        got: u8,
    },
    /// A proposal that is valid but not yet old enough for the policy.
    #[error("{what}: {since} + {wait} {unit} is after now ({now})")]
    NotFinal {
        /// The clock that runs ("dispute game finality delay", ...).
        what: &'static str,
        /// When it started (a timestamp or an L1 block number).
        since: u64,
        /// The policy's wait.
        wait: u64,
        /// The caller's now, in the same unit.
        now: u64,
        /// "s" or "L1 blocks".
        unit: &'static str,
    },
    /// The policy does not accept anchor-state roots.
    #[error("the finality policy does not accept AnchorStateRegistry anchors")]
    AnchorNotAccepted,
    /// A minimum age in L1 blocks without the current L1 block number.
    #[error("pending assertion: the minimum age is in L1 blocks and no current L1 block was given")]
    L1BlockUnknown,

    // ----- the L2 header -----
    /// The header does not hash to the block hash the commitment proves.
    #[error("L2 header: hash expected {expected} (proven), got {got}")]
    L2HeaderHash {
        /// The proven block hash.
        expected: B256,
        /// keccak of the bundle's header.
        got: B256,
    },
    /// A header that does not decode (or is over the size bound).
    #[error("L2 header: {0}")]
    L2HeaderDecode(switchyard_lc_evm::Error),
    /// An Arbitrum header whose extra data is not the proven send root.
    #[error("L2 header {height}: send root (extra data) expected {expected}, got {got}")]
    SendRoot {
        /// The header's number.
        height: u64,
        /// `afterState.globalState.bytes32Vals[1]`.
        expected: B256,
        /// The header's extra data.
        got: Bytes,
    },
}

impl RollupError {
    /// The hop of the chain of proofs that refused the bundle.
    pub fn hop(&self) -> Hop {
        match self {
            Self::MissingPart { .. }
            | Self::Malformed { .. }
            | Self::KindMismatch { .. }
            | Self::NoL2Account => Hop::Bundle,
            Self::BeaconRootMismatch { .. }
            | Self::BeaconBranchLength { .. }
            | Self::BeaconBranch { .. }
            | Self::StateRootMismatch { .. } => Hop::BeaconBranch,
            Self::AccountProof { layer, .. } | Self::AccountAbsent { layer, .. } => match layer {
                Layer::L1 => Hop::L1Account,
                Layer::L2 => Hop::L2Account,
            },
            Self::StorageProof { layer, .. } | Self::StorageSlot { layer, .. } => match layer {
                Layer::L1 => Hop::L1Storage,
                Layer::L2 => Hop::L2Storage,
            },
            Self::OutputRoot { .. }
            | Self::AssertionSlot { .. }
            | Self::MachineStatus { .. }
            | Self::GameSlot { .. }
            | Self::GameAbsent { .. }
            | Self::GameType { .. }
            | Self::L2BlockNumber { .. } => Hop::Commitment,
            Self::GameStatus { .. }
            | Self::GameBlockNumberChallenged { .. }
            | Self::AssertionStatus { .. }
            | Self::NotFinal { .. }
            | Self::AnchorNotAccepted
            | Self::L1BlockUnknown => Hop::Finality,
            Self::L2HeaderHash { .. } | Self::L2HeaderDecode(_) | Self::SendRoot { .. } => {
                Hop::L2Header
            }
        }
    }

    /// A short, bounded snake_case label for metrics (never an id or a
    /// value).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingPart { .. } => "missing_part",
            Self::Malformed { .. } => "malformed",
            Self::KindMismatch { .. } => "kind_mismatch",
            Self::NoL2Account => "no_l2_account",
            Self::BeaconRootMismatch { .. } => "beacon_root_mismatch",
            Self::BeaconBranchLength { .. } => "beacon_branch_length",
            Self::BeaconBranch { .. } => "beacon_branch",
            Self::StateRootMismatch { .. } => "state_root_mismatch",
            Self::AccountProof { .. } => "account_proof",
            Self::AccountAbsent { .. } => "account_absent",
            Self::StorageProof { .. } => "storage_proof",
            Self::StorageSlot { .. } => "storage_slot",
            Self::OutputRoot { .. } => "output_root",
            Self::AssertionSlot { .. } => "assertion_slot",
            Self::MachineStatus { .. } => "machine_status",
            Self::GameSlot { .. } => "game_slot",
            Self::GameAbsent { .. } => "game_absent",
            Self::GameType { .. } => "game_type",
            Self::L2BlockNumber { .. } => "l2_block_number",
            Self::GameStatus { .. } => "game_status",
            Self::GameBlockNumberChallenged { .. } => "game_block_number_challenged",
            Self::AssertionStatus { .. } => "assertion_status",
            Self::NotFinal { .. } => "not_final",
            Self::AnchorNotAccepted => "anchor_not_accepted",
            Self::L1BlockUnknown => "l1_block_unknown",
            Self::L2HeaderHash { .. } => "l2_header_hash",
            Self::L2HeaderDecode(_) => "l2_header_decode",
            Self::SendRoot { .. } => "send_root",
        }
    }

    /// Whether the same bundle may pass later, with more time or a later
    /// L1 state: a game still in progress, a pending assertion, a proposal
    /// younger than the policy's wait. Everything else is a verdict on the
    /// data itself.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::NotFinal { .. } => true,
            Self::GameStatus { got, .. } => *got == crate::op::GameStatus::InProgress as u8,
            Self::AssertionStatus { got, .. } => {
                *got == crate::arbitrum::AssertionStatus::Pending as u8
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_shown_by_hash() {
        let node = Bytes::from(vec![0xab; 532]);
        let f = ProofFailure::Mismatch {
            nibble: 3,
            expected: Some(Bytes::from(vec![0xa0; 33])),
            got: Some(node.clone()),
        };
        let s = f.to_string();
        assert!(s.contains("532-byte node"), "{s}");
        assert!(s.contains(&keccak256(&node).to_string()), "{s}");
        assert!(!s.contains("abababab"), "{s}");
    }

    #[test]
    fn hops_and_retry_follow_the_variant() {
        let pending = RollupError::AssertionStatus {
            assertion_hash: B256::ZERO,
            got: 1,
        };
        assert_eq!(pending.hop(), Hop::Finality);
        assert!(pending.is_retryable());
        let absent = RollupError::AssertionStatus {
            assertion_hash: B256::ZERO,
            got: 0,
        };
        assert!(!absent.is_retryable());
        let lost = RollupError::GameStatus {
            game: Address::ZERO,
            got: 1,
        };
        assert!(!lost.is_retryable());
        let running = RollupError::GameStatus {
            game: Address::ZERO,
            got: 0,
        };
        assert!(running.is_retryable());
        let l2 = RollupError::StorageProof {
            layer: Layer::L2,
            address: Address::ZERO,
            slot: B256::ZERO,
            storage_root: B256::ZERO,
            failure: Box::new(ProofFailure::EmptyProof { root: B256::ZERO }),
        };
        assert_eq!(l2.hop(), Hop::L2Storage);
        assert!(!l2.is_retryable());
    }

    #[test]
    fn reasons_are_snake_case_labels() {
        let samples = [
            RollupError::NoL2Account,
            RollupError::AnchorNotAccepted,
            RollupError::MachineStatus { got: 2 },
            RollupError::L2HeaderDecode(switchyard_lc_evm::Error::HeaderFieldCount { got: 3 }),
        ];
        for e in samples {
            let r = e.reason();
            assert!(
                r.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{r}"
            );
        }
    }
}
