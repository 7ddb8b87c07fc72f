//! Arbitrum BoLD: the assertion hash and where the Rollup contract keeps
//! an assertion's status (OffchainLabs nitro-contracts 3.x, `RollupLib`,
//! `Assertion.sol`, `RollupCore`).
//!
//! - `assertionHash = keccak(parentAssertionHash ‖ keccak(abi.encode(afterState)) ‖ inboxAcc)`
//!   (`RollupLib.assertionHash`), where `inboxAcc` is the sequencer
//!   inbox's batch accumulator the assertion read up to.
//! - `afterState = { GlobalState { bytes32[2] bytes32Vals; uint64[2] u64Vals }; MachineStatus machineStatus; bytes32 endHistoryRoot }`,
//!   all static, so its ABI encoding is six words; `bytes32Vals` are the L2
//!   block hash and the send root, `u64Vals` the inbox position.
//! - `mapping(bytes32 => AssertionNode) _assertions` at slot 117 (0x75);
//!   the node's first word packs `firstChildBlock`, `secondChildBlock`,
//!   `createdAtBlock` (uint64 each), `isFirstChild` (bool) and `status`
//!   (bits 200..208: 0 NoAssertion, 1 Pending, 2 Confirmed).
//!
//! An assertion is Confirmed only after its challenge period passed with
//! no rival winning, which makes its block hash final.

use alloy_primitives::{B256, U256, keccak256};
use serde::{Deserialize, Serialize};

use crate::bundle::{de_u8, de_u64_pair};
use crate::slots::{mapping_slot, packed};

/// Slot of `RollupCore._assertions`.
pub const ASSERTIONS_SLOT: u64 = 0x75;

/// `MachineStatus.FINISHED`: the only after state that commits to a block.
pub const MACHINE_FINISHED: u8 = 1;

/// The global state an assertion ends in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GlobalState {
    /// The L2 block hash, then the send root.
    pub bytes32_vals: [B256; 2],
    /// The inbox position: batch, then position in the batch.
    #[serde(deserialize_with = "de_u64_pair")]
    pub u64_vals: [u64; 2],
}

/// An assertion's after state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssertionState {
    /// The global state.
    pub global_state: GlobalState,
    /// 0 RUNNING, 1 FINISHED, 2 ERRORED.
    #[serde(deserialize_with = "de_u8")]
    pub machine_status: u8,
    /// Root of the BoLD history commitment.
    pub end_history_root: B256,
}

impl AssertionState {
    /// The L2 block hash the assertion ends at.
    pub fn block_hash(&self) -> B256 {
        self.global_state.bytes32_vals[0]
    }

    /// The send root (the L2→L1 message tree) at that block.
    pub fn send_root(&self) -> B256 {
        self.global_state.bytes32_vals[1]
    }

    /// `keccak(abi.encode(afterState))`.
    pub fn hash(&self) -> B256 {
        let mut buf = [0u8; 192];
        buf[..32].copy_from_slice(self.global_state.bytes32_vals[0].as_slice());
        buf[32..64].copy_from_slice(self.global_state.bytes32_vals[1].as_slice());
        buf[88..96].copy_from_slice(&self.global_state.u64_vals[0].to_be_bytes());
        buf[120..128].copy_from_slice(&self.global_state.u64_vals[1].to_be_bytes());
        buf[159] = self.machine_status;
        buf[160..].copy_from_slice(self.end_history_root.as_slice());
        keccak256(buf)
    }
}

/// `RollupLib.assertionHash`.
pub fn assertion_hash(
    parent_assertion_hash: B256,
    after_state: &AssertionState,
    inbox_acc: B256,
) -> B256 {
    let mut buf = [0u8; 96];
    buf[..32].copy_from_slice(parent_assertion_hash.as_slice());
    buf[32..64].copy_from_slice(after_state.hash().as_slice());
    buf[64..].copy_from_slice(inbox_acc.as_slice());
    keccak256(buf)
}

/// Slot of the first word of `_assertions[assertion_hash]`.
pub fn assertion_slot(assertion_hash: B256) -> B256 {
    mapping_slot(assertion_hash, ASSERTIONS_SLOT)
}

/// `AssertionStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[repr(u8)]
pub enum AssertionStatus {
    /// No assertion with this hash.
    NoAssertion = 0,
    /// Created, its challenge period not over.
    Pending = 1,
    /// Confirmed: final.
    Confirmed = 2,
}

/// The first word of an `AssertionNode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct AssertionNode {
    /// L1 block of the first child's creation (0 while childless).
    pub first_child_block: u64,
    /// L1 block of the second child's creation (a rival; 0 if none).
    pub second_child_block: u64,
    /// L1 block the assertion was created in.
    pub created_at_block: u64,
    /// Whether it is its parent's first child.
    pub is_first_child: bool,
    /// The raw `AssertionStatus` byte.
    pub status: u8,
}

impl AssertionNode {
    /// Unpacks the word.
    pub fn unpack(word: U256) -> Self {
        Self {
            first_child_block: packed(word, 0, 8),
            second_child_block: packed(word, 8, 8),
            created_at_block: packed(word, 16, 8),
            is_first_child: packed(word, 24, 1) != 0,
            status: packed(word, 25, 1) as u8,
        }
    }

    /// Packs the word.
    pub fn pack(&self) -> U256 {
        U256::from(self.first_child_block)
            | (U256::from(self.second_child_block) << 64)
            | (U256::from(self.created_at_block) << 128)
            | (U256::from(u8::from(self.is_first_child)) << 192)
            | (U256::from(self.status) << 200)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_of_the_sepolia_vector() {
        // ArbitrumSepoliaProof.json's proven word: Confirmed, a first
        // child, created at L1 block 0x734e3e, its first child at 0x734eda.
        let word = U256::from_str_radix("02010000000000734e3e00000000000000000000000000734eda", 16)
            .expect("hex");
        let n = AssertionNode::unpack(word);
        assert_eq!(
            n,
            AssertionNode {
                first_child_block: 0x734eda,
                second_child_block: 0,
                created_at_block: 0x734e3e,
                is_first_child: true,
                status: AssertionStatus::Confirmed as u8,
            }
        );
        assert_eq!(n.pack(), word);
    }

    #[test]
    fn after_state_encoding_is_six_words() {
        let s = AssertionState {
            global_state: GlobalState {
                bytes32_vals: [B256::repeat_byte(1), B256::repeat_byte(2)],
                u64_vals: [0x0102, 0x0304],
            },
            machine_status: 1,
            end_history_root: B256::repeat_byte(3),
        };
        let mut enc = Vec::new();
        enc.extend_from_slice(&[1; 32]);
        enc.extend_from_slice(&[2; 32]);
        enc.extend_from_slice(&U256::from(0x0102).to_be_bytes::<32>());
        enc.extend_from_slice(&U256::from(0x0304).to_be_bytes::<32>());
        enc.extend_from_slice(&U256::from(1).to_be_bytes::<32>());
        enc.extend_from_slice(&[3; 32]);
        assert_eq!(s.hash(), keccak256(&enc));
        assert_eq!(s.block_hash(), B256::repeat_byte(1));
        assert_eq!(s.send_root(), B256::repeat_byte(2));
    }
}
