//! OP Stack: the output root and where L1 keeps the proposals of it.
//!
//! - Output root, version 0 (OP Stack specs, `protocol/proposals.md`, "L2
//!   Output Commitment Construction"; `Hashing.hashOutputRootProof`):
//!   `keccak(version ‖ stateRoot ‖ messagePasserStorageRoot ‖ blockHash)`.
//! - AnchorStateRegistry (op-contracts 1.4 to 1.8, the form of the OP
//!   vector): `mapping(GameType => OutputRoot) anchors` at slot 1, an
//!   `OutputRoot` being `{ Hash root; uint256 l2BlockNumber }`. A game
//!   updates its type's anchor when it resolves DEFENDER_WINS
//!   (`tryUpdateAnchorState`).
//! - DisputeGameFactory: `mapping(Hash => GameId) _disputeGames` keyed by
//!   `getGameUUID = keccak(abi.encode(gameType, rootClaim, extraData))`, the
//!   `GameId` packing type, creation time and proxy address
//!   (`LibGameId.pack`). The slot is 103 since `initBonds` (slot 102) came
//!   in with the fault-proof release (storage-layout snapshot
//!   `DisputeGameFactory.json`); before, 102.
//! - FaultDisputeGame slot 0: `createdAt` (bytes 0..8 from the low end),
//!   `resolvedAt` (8..16), `status` (16), `initialized` (17) and, since
//!   1.3, `l2BlockNumberChallenged` (18). Its root claim and extra data are
//!   immutable clone arguments, in code, not storage: the factory's UUID is
//!   what binds them.
//! - L2OutputOracle: `Types.OutputProposal[] l2Outputs` at slot 3, two
//!   words each: `outputRoot`, then `timestamp` (uint128, low half) and
//!   `l2BlockNumber` (uint128, high half).

use alloy_primitives::{Address, B256, U256, keccak256};
use serde::{Deserialize, Serialize};

use crate::slots::{array_slot, mapping_slot, packed};

/// The output-root version this crate computes (the only one defined).
pub const OUTPUT_VERSION_V0: B256 = B256::ZERO;

/// Slot of `AnchorStateRegistry.anchors`.
pub const ANCHORS_SLOT: u64 = 1;

/// Slot of `L2OutputOracle.l2Outputs`.
pub const L2_OUTPUTS_SLOT: u64 = 3;

/// The FaultDisputeGame slot holding its timestamps and status.
pub const GAME_STATUS_SLOT: B256 = B256::ZERO;

/// Output root version 0 of an L2 block.
pub fn output_root(state_root: B256, message_passer_storage_root: B256, block_hash: B256) -> B256 {
    let mut buf = [0u8; 128];
    buf[..32].copy_from_slice(OUTPUT_VERSION_V0.as_slice());
    buf[32..64].copy_from_slice(state_root.as_slice());
    buf[64..96].copy_from_slice(message_passer_storage_root.as_slice());
    buf[96..].copy_from_slice(block_hash.as_slice());
    keccak256(buf)
}

fn word_of(n: u64) -> B256 {
    B256::from(U256::from(n).to_be_bytes::<32>())
}

/// Slot of `anchors[game_type].root` in an AnchorStateRegistry.
pub fn anchor_root_slot(game_type: u32) -> B256 {
    mapping_slot(word_of(u64::from(game_type)), ANCHORS_SLOT)
}

/// Which DisputeGameFactory storage layout the target has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactoryLayout {
    /// With `initBonds` (every deployed fault-proof factory):
    /// `_disputeGames` at slot 103.
    #[default]
    WithInitBonds,
    /// Before `initBonds` (early devnets): `_disputeGames` at slot 102.
    Legacy,
}

impl FactoryLayout {
    /// The slot of `_disputeGames`.
    pub const fn dispute_games_slot(self) -> u64 {
        match self {
            Self::WithInitBonds => 103,
            Self::Legacy => 102,
        }
    }
}

/// `DisputeGameFactory.getGameUUID`: keccak of
/// `abi.encode(uint32 gameType, bytes32 rootClaim, bytes extraData)`.
pub fn game_uuid(game_type: u32, root_claim: B256, extra_data: &[u8]) -> B256 {
    let padded = extra_data.len().div_ceil(32) * 32;
    let mut buf = Vec::with_capacity(128 + padded);
    buf.extend_from_slice(word_of(u64::from(game_type)).as_slice());
    buf.extend_from_slice(root_claim.as_slice());
    // Head of the dynamic `bytes`: its offset from the start, three words.
    buf.extend_from_slice(word_of(0x60).as_slice());
    buf.extend_from_slice(word_of(extra_data.len() as u64).as_slice());
    buf.extend_from_slice(extra_data);
    buf.resize(128 + padded, 0);
    keccak256(buf)
}

/// Slot of `_disputeGames[uuid]`.
pub fn game_slot(uuid: B256, layout: FactoryLayout) -> B256 {
    mapping_slot(uuid, layout.dispute_games_slot())
}

/// A `GameId`: what the factory stores for a game.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct GameId {
    /// The game type (top 4 bytes).
    pub game_type: u32,
    /// When the factory created the game (next 8 bytes).
    pub created_at: u64,
    /// The game's proxy (low 20 bytes).
    pub proxy: Address,
}

impl GameId {
    /// Unpacks `LibGameId.pack(gameType, timestamp, proxy)`.
    pub fn unpack(word: B256) -> Self {
        let w = word.0;
        Self {
            game_type: u32::from_be_bytes([w[0], w[1], w[2], w[3]]),
            created_at: u64::from_be_bytes([w[4], w[5], w[6], w[7], w[8], w[9], w[10], w[11]]),
            proxy: Address::from_slice(&w[12..]),
        }
    }

    /// The packed word.
    pub fn pack(&self) -> B256 {
        let mut w = [0u8; 32];
        w[..4].copy_from_slice(&self.game_type.to_be_bytes());
        w[4..12].copy_from_slice(&self.created_at.to_be_bytes());
        w[12..].copy_from_slice(self.proxy.as_slice());
        B256::from(w)
    }
}

/// `GameStatus` of a dispute game.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[repr(u8)]
pub enum GameStatus {
    /// Not resolved yet.
    InProgress = 0,
    /// The root claim was shown wrong.
    ChallengerWins = 1,
    /// The root claim stood.
    DefenderWins = 2,
}

/// What a FaultDisputeGame's slot 0 holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct FaultGameState {
    /// When the game was initialized.
    pub created_at: u64,
    /// When it resolved (0 while in progress).
    pub resolved_at: u64,
    /// The raw `GameStatus` byte.
    pub status: u8,
    /// Whether the proposal's L2 block number was shown wrong
    /// (`challengeRootL2Block`, FaultDisputeGame 1.3 and later; zero
    /// before).
    pub l2_block_number_challenged: bool,
}

impl FaultGameState {
    /// Unpacks slot 0.
    pub fn unpack(word: U256) -> Self {
        Self {
            created_at: packed(word, 0, 8),
            resolved_at: packed(word, 8, 8),
            status: packed(word, 16, 1) as u8,
            l2_block_number_challenged: packed(word, 18, 1) != 0,
        }
    }

    /// Packs into slot 0 (with `initialized` set, as every live game has).
    pub fn pack(&self) -> U256 {
        U256::from(self.created_at)
            | (U256::from(self.resolved_at) << 64)
            | (U256::from(self.status) << 128)
            | (U256::from(1u8) << 136)
            | (U256::from(u8::from(self.l2_block_number_challenged)) << 144)
    }
}

/// The L2 block number a FaultDisputeGame's extra data names: the extra
/// data is exactly one word (the game refuses any other length when it is
/// initialized).
pub fn game_l2_block_number(extra_data: &[u8]) -> Option<u64> {
    let word: [u8; 32] = extra_data.try_into().ok()?;
    u64::try_from(U256::from_be_bytes(word)).ok()
}

/// Slots of `l2Outputs[index]`: the output root's, then the word holding
/// its timestamp and L2 block number.
pub fn l2_output_slots(index: u64) -> (B256, B256) {
    (
        array_slot(L2_OUTPUTS_SLOT, index, 2, 0),
        array_slot(L2_OUTPUTS_SLOT, index, 2, 1),
    )
}

/// The second word of an `OutputProposal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct OutputProposalMeta {
    /// When the output was proposed (low 128 bits).
    pub timestamp: u64,
    /// Its L2 block number (high 128 bits).
    pub l2_block_number: u64,
}

impl OutputProposalMeta {
    /// Unpacks the word; `None` when a half does not fit in 64 bits (no
    /// real proposal does).
    pub fn unpack(word: U256) -> Option<Self> {
        let mask = (U256::from(1u8) << 128) - U256::from(1u8);
        Some(Self {
            timestamp: u64::try_from(word & mask).ok()?,
            l2_block_number: u64::try_from(word >> 128).ok()?,
        })
    }

    /// Packs the word.
    pub fn pack(&self) -> U256 {
        U256::from(self.timestamp) | (U256::from(self.l2_block_number) << 128)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchor_slot_of_cannon_is_the_vectors_key() {
        assert_eq!(
            anchor_root_slot(0),
            "0xa6eef7e35abe7026729641147f7915573c7e97b47efa546f5f6e3230263bcb49"
                .parse::<B256>()
                .expect("hex")
        );
        assert_ne!(anchor_root_slot(1), anchor_root_slot(0));
    }

    #[test]
    fn uuid_is_the_abi_encoding() {
        let root = B256::repeat_byte(0xcc);
        let extra = U256::from(41u64).to_be_bytes::<32>();
        let mut enc = Vec::new();
        enc.extend_from_slice(&U256::from(1u64).to_be_bytes::<32>());
        enc.extend_from_slice(root.as_slice());
        enc.extend_from_slice(&U256::from(0x60u64).to_be_bytes::<32>());
        enc.extend_from_slice(&U256::from(32u64).to_be_bytes::<32>());
        enc.extend_from_slice(&extra);
        assert_eq!(game_uuid(1, root, &extra), keccak256(&enc));
        // Unaligned extra data is zero-padded to a word.
        let mut enc = enc[..128].to_vec();
        enc[96..].copy_from_slice(&U256::from(3u64).to_be_bytes::<32>());
        enc.extend_from_slice(&[1, 2, 3]);
        enc.resize(160, 0);
        assert_eq!(game_uuid(1, root, &[1, 2, 3]), keccak256(&enc));
    }

    #[test]
    fn packings_round_trip() {
        let id = GameId {
            game_type: 1,
            created_at: 1_700_000_000,
            proxy: Address::repeat_byte(0x42),
        };
        assert_eq!(GameId::unpack(id.pack()), id);
        assert_eq!(&id.pack()[..4], &[0, 0, 0, 1]);
        let g = FaultGameState {
            created_at: 5,
            resolved_at: 9,
            status: 2,
            l2_block_number_challenged: true,
        };
        assert_eq!(FaultGameState::unpack(g.pack()), g);
        // The status is byte 16 from the low end (bits 128..136).
        assert_eq!(g.pack().to_be_bytes::<32>()[15], 2);
        let m = OutputProposalMeta {
            timestamp: 7,
            l2_block_number: 11,
        };
        assert_eq!(OutputProposalMeta::unpack(m.pack()), Some(m));
        assert_eq!(OutputProposalMeta::unpack(U256::MAX), None);
    }

    #[test]
    fn extra_data_is_one_word() {
        let w = U256::from(123u64).to_be_bytes::<32>();
        assert_eq!(game_l2_block_number(&w), Some(123));
        assert_eq!(game_l2_block_number(&w[1..]), None);
        assert_eq!(game_l2_block_number(&[0xff; 32]), None);
    }

    #[test]
    fn output_root_hashes_four_words() {
        let r = output_root(
            B256::repeat_byte(1),
            B256::repeat_byte(2),
            B256::repeat_byte(3),
        );
        let mut buf = vec![0u8; 32];
        buf.extend_from_slice(&[1; 32]);
        buf.extend_from_slice(&[2; 32]);
        buf.extend_from_slice(&[3; 32]);
        assert_eq!(r, keccak256(buf));
    }
}
