//! Light-client containers (Altair sync-protocol, Capella and Deneb
//! amendments) and their SSZ roots.
//!
//! Containers whose shape depends on the preset (committee size) or on the
//! fork (branch depths, execution header) hold `Vec`s and are checked against
//! the [`ChainSpec`] at verification time; fixed-shape containers derive their
//! SSZ codec and root.

use alloy_primitives::{Address, B256, FixedBytes, U256};
use ssz_derive::{Decode, Encode};
use ssz_types::{
    FixedVector, VariableList,
    typenum::{U32, U256 as N256},
};
use tree_hash::TreeHash;
use tree_hash_derive::TreeHash;

use crate::config::{ChainSpec, EXECUTION_PAYLOAD_GINDEX, Fork};
use crate::error::{Error, Proof, Result};
use crate::merkle::{hash_pair, verify_branch};

/// A compressed BLS12-381 G1 public key.
pub type BlsPublicKey = FixedBytes<48>;
/// A compressed BLS12-381 G2 signature.
pub type BlsSignature = FixedBytes<96>;

/// `BeaconBlockHeader`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Encode, Decode, TreeHash)]
pub struct BeaconBlockHeader {
    /// Slot of the block.
    pub slot: u64,
    /// Proposer's validator index.
    pub proposer_index: u64,
    /// Root of the parent block.
    pub parent_root: B256,
    /// Root of the post-state.
    pub state_root: B256,
    /// Root of the block body.
    pub body_root: B256,
}

impl BeaconBlockHeader {
    /// `hash_tree_root(header)`, the block root.
    pub fn root(&self) -> B256 {
        self.tree_hash_root()
    }
}

/// `ExecutionPayloadHeader` as of Capella; fields as named in the spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Encode, Decode, TreeHash)]
pub struct ExecutionPayloadHeaderCapella {
    pub parent_hash: B256,
    pub fee_recipient: Address,
    pub state_root: B256,
    pub receipts_root: B256,
    pub logs_bloom: FixedVector<u8, N256>,
    pub prev_randao: B256,
    pub block_number: u64,
    pub gas_limit: u64,
    pub gas_used: u64,
    pub timestamp: u64,
    pub extra_data: VariableList<u8, U32>,
    pub base_fee_per_gas: U256,
    pub block_hash: B256,
    pub transactions_root: B256,
    pub withdrawals_root: B256,
}

/// `ExecutionPayloadHeader` as of Deneb (unchanged in Electra and Fulu);
/// fields as named in the spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Encode, Decode, TreeHash)]
pub struct ExecutionPayloadHeaderDeneb {
    pub parent_hash: B256,
    pub fee_recipient: Address,
    pub state_root: B256,
    pub receipts_root: B256,
    pub logs_bloom: FixedVector<u8, N256>,
    pub prev_randao: B256,
    pub block_number: u64,
    pub gas_limit: u64,
    pub gas_used: u64,
    pub timestamp: u64,
    pub extra_data: VariableList<u8, U32>,
    pub base_fee_per_gas: U256,
    pub block_hash: B256,
    pub transactions_root: B256,
    pub withdrawals_root: B256,
    pub blob_gas_used: u64,
    pub excess_blob_gas: u64,
}

/// The execution payload header of a light-client header, in its fork's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutionPayloadHeader {
    /// Capella shape.
    Capella(ExecutionPayloadHeaderCapella),
    /// Deneb shape (also Electra, Fulu).
    Deneb(ExecutionPayloadHeaderDeneb),
}

impl ExecutionPayloadHeader {
    /// Execution block hash.
    pub fn block_hash(&self) -> B256 {
        match self {
            Self::Capella(h) => h.block_hash,
            Self::Deneb(h) => h.block_hash,
        }
    }

    /// Execution block number.
    pub fn block_number(&self) -> u64 {
        match self {
            Self::Capella(h) => h.block_number,
            Self::Deneb(h) => h.block_number,
        }
    }

    /// Receipts root, the anchor for message inclusion proofs.
    pub fn receipts_root(&self) -> B256 {
        match self {
            Self::Capella(h) => h.receipts_root,
            Self::Deneb(h) => h.receipts_root,
        }
    }

    fn is_default(&self) -> bool {
        match self {
            Self::Capella(h) => *h == ExecutionPayloadHeaderCapella::default(),
            Self::Deneb(h) => *h == ExecutionPayloadHeaderDeneb::default(),
        }
    }

    /// The header in Capella shape: a Deneb-shaped header may stand for a
    /// pre-Deneb block only while its blob fields are zero.
    fn to_capella(&self, slot: u64, fork: Fork) -> Result<ExecutionPayloadHeaderCapella> {
        match self {
            Self::Capella(h) => Ok(h.clone()),
            Self::Deneb(h) => {
                if h.blob_gas_used != 0 || h.excess_blob_gas != 0 {
                    return Err(Error::ExecutionForkMismatch {
                        slot,
                        fork,
                        expected: "zero blob gas fields before Deneb",
                    });
                }
                Ok(ExecutionPayloadHeaderCapella {
                    parent_hash: h.parent_hash,
                    fee_recipient: h.fee_recipient,
                    state_root: h.state_root,
                    receipts_root: h.receipts_root,
                    logs_bloom: h.logs_bloom.clone(),
                    prev_randao: h.prev_randao,
                    block_number: h.block_number,
                    gas_limit: h.gas_limit,
                    gas_used: h.gas_used,
                    timestamp: h.timestamp,
                    extra_data: h.extra_data.clone(),
                    base_fee_per_gas: h.base_fee_per_gas,
                    block_hash: h.block_hash,
                    transactions_root: h.transactions_root,
                    withdrawals_root: h.withdrawals_root,
                })
            }
        }
    }
}

/// `LightClientHeader`: the beacon header, and from Capella on the
/// execution payload header with its proof into the block body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LightClientHeader {
    /// The beacon block header.
    pub beacon: BeaconBlockHeader,
    /// `None` for Altair/Bellatrix headers.
    pub execution: Option<ExecutionPayloadHeader>,
    /// Proof of `execution` under `beacon.body_root` (empty before Capella).
    pub execution_branch: Vec<B256>,
}

impl LightClientHeader {
    /// The beacon block root, the identity of the header.
    pub fn beacon_root(&self) -> B256 {
        self.beacon.root()
    }

    /// `get_lc_execution_root`: the execution header root in the shape of
    /// the fork at the header's slot (zero before Capella).
    pub fn execution_root(&self, spec: &ChainSpec) -> Result<B256> {
        let slot = self.beacon.slot;
        let fork = spec.fork_at_slot(slot);
        let Some(execution) = &self.execution else {
            if fork >= Fork::Capella {
                return Err(Error::ExecutionForkMismatch {
                    slot,
                    fork,
                    expected: "an execution payload header",
                });
            }
            return Ok(B256::ZERO);
        };
        if fork >= Fork::Deneb {
            match execution {
                ExecutionPayloadHeader::Deneb(h) => Ok(h.tree_hash_root()),
                ExecutionPayloadHeader::Capella(_) => Err(Error::ExecutionForkMismatch {
                    slot,
                    fork,
                    expected: "a Deneb execution payload header",
                }),
            }
        } else if fork >= Fork::Capella {
            Ok(execution.to_capella(slot, fork)?.tree_hash_root())
        } else {
            Ok(B256::ZERO)
        }
    }

    /// `is_valid_light_client_header` (Capella/Deneb amendments).
    pub fn validate(&self, spec: &ChainSpec) -> Result<()> {
        let slot = self.beacon.slot;
        let fork = spec.fork_at_slot(slot);
        if fork < Fork::Capella {
            let empty_execution = self.execution.as_ref().is_none_or(|e| e.is_default());
            if !empty_execution || self.execution_branch.iter().any(|n| !n.is_zero()) {
                return Err(Error::ExecutionForkMismatch {
                    slot,
                    fork,
                    expected: "no execution payload header before Capella",
                });
            }
            return Ok(());
        }
        let leaf = self.execution_root(spec)?;
        verify_branch(
            Proof::ExecutionPayload,
            leaf,
            &self.execution_branch,
            EXECUTION_PAYLOAD_GINDEX,
            self.beacon.body_root,
        )
    }

    /// The spec's `LightClientHeader()` in any fork's shape.
    pub(crate) fn is_empty(&self) -> bool {
        self.beacon == BeaconBlockHeader::default()
            && self.execution.as_ref().is_none_or(|e| e.is_default())
            && self.execution_branch.iter().all(|n| n.is_zero())
    }
}

/// `SyncCommittee`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncCommittee {
    /// `SYNC_COMMITTEE_SIZE` member keys, in committee order.
    pub pubkeys: Vec<BlsPublicKey>,
    /// Aggregate of all member keys (unused by verification, part of the root).
    pub aggregate_pubkey: BlsPublicKey,
}

fn pubkey_root(pk: &BlsPublicKey) -> B256 {
    tree_hash::merkle_root(pk.as_slice(), 0)
}

impl SyncCommittee {
    /// `hash_tree_root(sync_committee)`.
    pub fn root(&self) -> B256 {
        let mut leaves = Vec::with_capacity(self.pubkeys.len() * 32);
        for pk in &self.pubkeys {
            leaves.extend_from_slice(pubkey_root(pk).as_slice());
        }
        let pubkeys_root = tree_hash::merkle_root(&leaves, self.pubkeys.len());
        hash_pair(&pubkeys_root, &pubkey_root(&self.aggregate_pubkey))
    }

    fn is_empty(&self) -> bool {
        self.pubkeys.iter().all(|k| k.is_zero()) && self.aggregate_pubkey.is_zero()
    }
}

/// `SyncAggregate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncAggregate {
    /// Which committee members signed, in committee order.
    pub sync_committee_bits: Vec<bool>,
    /// Aggregate signature over the attested header's signing root.
    pub sync_committee_signature: BlsSignature,
}

impl SyncAggregate {
    /// Number of members that signed.
    pub fn participants(&self) -> usize {
        self.sync_committee_bits.iter().filter(|b| **b).count()
    }

    /// Decode the SSZ `Bitvector[n]` (little-endian bit order within bytes).
    pub fn bits_from_bytes(bytes: &[u8], n: usize) -> Result<Vec<bool>> {
        if bytes.len() != n.div_ceil(8) {
            return Err(Error::CommitteeSize {
                expected: n,
                got: bytes.len() * 8,
            });
        }
        let bits: Vec<bool> = (0..bytes.len() * 8)
            .map(|i| bytes[i / 8] >> (i % 8) & 1 == 1)
            .collect();
        if bits[n..].iter().any(|b| *b) {
            return Err(Error::decode(
                "sync_committee_bits",
                "bits set beyond the committee size",
            ));
        }
        Ok(bits[..n].to_vec())
    }
}

/// A next sync committee with its proof under the attested state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextSyncCommitteeProof {
    /// The committee of the attested header's next period.
    pub committee: SyncCommittee,
    /// `next_sync_committee_branch`.
    pub branch: Vec<B256>,
}

/// A finalized header with its proof under the attested state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalityProof {
    /// The finalized header (empty when finality is at genesis).
    pub finalized_header: LightClientHeader,
    /// `finality_branch`.
    pub branch: Vec<B256>,
}

/// `LightClientBootstrap`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LightClientBootstrap {
    /// The header of the trusted block.
    pub header: LightClientHeader,
    /// The committee of the header's period.
    pub current_sync_committee: SyncCommittee,
    /// Proof of the committee under `header.beacon.state_root`.
    pub current_sync_committee_branch: Vec<B256>,
}

/// `LightClientUpdate`, with the spec's "empty branch means absent"
/// convention turned into `Option`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LightClientUpdate {
    /// The header the committee signed.
    pub attested_header: LightClientHeader,
    /// `is_sync_committee_update`: present when the branch is non-zero.
    pub next_sync_committee: Option<NextSyncCommitteeProof>,
    /// `is_finality_update`: present when the branch is non-zero.
    pub finality: Option<FinalityProof>,
    /// The committee's signature.
    pub sync_aggregate: SyncAggregate,
    /// Slot at which the aggregate was included.
    pub signature_slot: u64,
}

impl LightClientUpdate {
    /// Build from the spec's wire fields, where an all-zero branch means the
    /// field is absent and the spec requires the field itself to be empty.
    pub fn from_parts(
        attested_header: LightClientHeader,
        next_sync_committee: SyncCommittee,
        next_sync_committee_branch: Vec<B256>,
        finalized_header: LightClientHeader,
        finality_branch: Vec<B256>,
        sync_aggregate: SyncAggregate,
        signature_slot: u64,
    ) -> Result<Self> {
        let next_sync_committee = if next_sync_committee_branch.iter().all(|n| n.is_zero()) {
            if !next_sync_committee.is_empty() {
                return Err(Error::NonEmptyWithoutProof {
                    field: "next_sync_committee",
                });
            }
            None
        } else {
            Some(NextSyncCommitteeProof {
                committee: next_sync_committee,
                branch: next_sync_committee_branch,
            })
        };
        let finality = if finality_branch.iter().all(|n| n.is_zero()) {
            if !finalized_header.is_empty() {
                return Err(Error::NonEmptyWithoutProof {
                    field: "finalized_header",
                });
            }
            None
        } else {
            Some(FinalityProof {
                finalized_header,
                branch: finality_branch,
            })
        };
        Ok(Self {
            attested_header,
            next_sync_committee,
            finality,
            sync_aggregate,
            signature_slot,
        })
    }

    /// Slot of the finalized header, 0 when the update carries no finality
    /// (the spec's empty header).
    pub fn finalized_slot(&self) -> u64 {
        self.finality
            .as_ref()
            .map_or(0, |f| f.finalized_header.beacon.slot)
    }

    pub(crate) fn has_finality(&self) -> bool {
        self.finality.is_some()
    }
}

/// `LightClientFinalityUpdate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LightClientFinalityUpdate {
    /// The header the committee signed.
    pub attested_header: LightClientHeader,
    /// The finalized header and its proof.
    pub finality: FinalityProof,
    /// The committee's signature.
    pub sync_aggregate: SyncAggregate,
    /// Slot at which the aggregate was included.
    pub signature_slot: u64,
}

/// `LightClientOptimisticUpdate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LightClientOptimisticUpdate {
    /// The header the committee signed.
    pub attested_header: LightClientHeader,
    /// The committee's signature.
    pub sync_aggregate: SyncAggregate,
    /// Slot at which the aggregate was included.
    pub signature_slot: u64,
}

impl From<LightClientFinalityUpdate> for LightClientUpdate {
    /// `process_light_client_finality_update`'s conversion.
    fn from(u: LightClientFinalityUpdate) -> Self {
        Self {
            attested_header: u.attested_header,
            next_sync_committee: None,
            finality: Some(u.finality),
            sync_aggregate: u.sync_aggregate,
            signature_slot: u.signature_slot,
        }
    }
}

impl From<LightClientOptimisticUpdate> for LightClientUpdate {
    /// `process_light_client_optimistic_update`'s conversion.
    fn from(u: LightClientOptimisticUpdate) -> Self {
        Self {
            attested_header: u.attested_header,
            next_sync_committee: None,
            finality: None,
            sync_aggregate: u.sync_aggregate,
            signature_slot: u.signature_slot,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitvector_decoding_is_little_endian_within_bytes() {
        let bits = SyncAggregate::bits_from_bytes(&[0b0000_0101, 0x80], 16).expect("valid");
        assert!(bits[0] && !bits[1] && bits[2] && bits[15]);
        assert_eq!(bits.iter().filter(|b| **b).count(), 3);
        assert!(SyncAggregate::bits_from_bytes(&[0xff], 16).is_err());
    }

    #[test]
    fn empty_committee_root_matches_ssz_zero_hashes() {
        // Vector[Bytes48, 4] of zeros: each key root is zero_hash(1); the
        // vector root is zero_hash(3) because each key is a zero subtree of
        // depth 1; the container adds one level with the zero aggregate key.
        let c = SyncCommittee {
            pubkeys: vec![BlsPublicKey::ZERO; 4],
            ..Default::default()
        };
        let z1 = hash_pair(&B256::ZERO, &B256::ZERO);
        let z2 = hash_pair(&z1, &z1);
        let z3 = hash_pair(&z2, &z2);
        assert_eq!(c.root(), hash_pair(&z3, &z1));
    }
}

/// `hash_tree_root` of the light-client containers in the SSZ shape of a
/// given fork and preset (the shape fixes the execution header type, the
/// branch depths, and what an absent committee or finalized header hashes
/// as).
pub mod roots {
    use super::*;
    use crate::config::Preset;

    fn merkleize(chunks: &[B256]) -> B256 {
        let mut bytes = Vec::with_capacity(chunks.len() * 32);
        for c in chunks {
            bytes.extend_from_slice(c.as_slice());
        }
        tree_hash::merkle_root(&bytes, chunks.len())
    }

    fn depth(gindex: u64) -> usize {
        (63 - gindex.leading_zeros()) as usize
    }

    /// Root of `Vector[Bytes32, depth]`, zero-filled when the proof is absent.
    fn branch_root(branch: &[B256], depth: usize) -> B256 {
        if branch.is_empty() {
            return merkleize(&vec![B256::ZERO; depth]);
        }
        merkleize(branch)
    }

    /// `hash_tree_root(LightClientHeader)` in `fork`'s shape.
    pub fn header(h: &LightClientHeader, fork: Fork) -> B256 {
        let beacon = h.beacon.tree_hash_root();
        if fork < Fork::Capella {
            return merkleize(&[beacon]);
        }
        let execution = match (&h.execution, fork >= Fork::Deneb) {
            (Some(ExecutionPayloadHeader::Deneb(e)), _) => e.tree_hash_root(),
            (Some(ExecutionPayloadHeader::Capella(e)), _) => e.tree_hash_root(),
            (None, true) => ExecutionPayloadHeaderDeneb::default().tree_hash_root(),
            (None, false) => ExecutionPayloadHeaderCapella::default().tree_hash_root(),
        };
        let branch = branch_root(&h.execution_branch, depth(EXECUTION_PAYLOAD_GINDEX));
        merkleize(&[beacon, execution, branch])
    }

    /// `hash_tree_root(SyncAggregate)`.
    pub fn sync_aggregate(a: &SyncAggregate) -> B256 {
        let mut bits = vec![0u8; a.sync_committee_bits.len().div_ceil(8)];
        for (i, b) in a.sync_committee_bits.iter().enumerate() {
            if *b {
                bits[i / 8] |= 1 << (i % 8);
            }
        }
        let bits_root = tree_hash::merkle_root(&bits, a.sync_committee_bits.len().div_ceil(256));
        let signature_root = tree_hash::merkle_root(a.sync_committee_signature.as_slice(), 0);
        merkleize(&[bits_root, signature_root])
    }

    fn empty_committee(preset: &Preset) -> SyncCommittee {
        SyncCommittee {
            pubkeys: vec![BlsPublicKey::ZERO; preset.sync_committee_size],
            aggregate_pubkey: BlsPublicKey::ZERO,
        }
    }

    /// `hash_tree_root(LightClientBootstrap)` in `fork`'s shape.
    pub fn bootstrap(b: &LightClientBootstrap, fork: Fork) -> B256 {
        let d = depth(fork.state_gindices().current_sync_committee);
        merkleize(&[
            header(&b.header, fork),
            b.current_sync_committee.root(),
            branch_root(&b.current_sync_committee_branch, d),
        ])
    }

    /// `hash_tree_root(LightClientUpdate)` in `fork`'s shape.
    pub fn update(u: &LightClientUpdate, fork: Fork, preset: &Preset) -> B256 {
        let g = fork.state_gindices();
        let (committee, next_branch) = match &u.next_sync_committee {
            Some(n) => (
                n.committee.root(),
                branch_root(&n.branch, depth(g.next_sync_committee)),
            ),
            None => (
                empty_committee(preset).root(),
                branch_root(&[], depth(g.next_sync_committee)),
            ),
        };
        let (finalized, finality_branch) = match &u.finality {
            Some(f) => (
                header(&f.finalized_header, fork),
                branch_root(&f.branch, depth(g.finalized_root)),
            ),
            None => (
                header(&LightClientHeader::default(), fork),
                branch_root(&[], depth(g.finalized_root)),
            ),
        };
        merkleize(&[
            header(&u.attested_header, fork),
            committee,
            next_branch,
            finalized,
            finality_branch,
            sync_aggregate(&u.sync_aggregate),
            u.signature_slot.tree_hash_root(),
        ])
    }

    /// `hash_tree_root(LightClientFinalityUpdate)` in `fork`'s shape.
    pub fn finality_update(u: &LightClientFinalityUpdate, fork: Fork) -> B256 {
        let d = depth(fork.state_gindices().finalized_root);
        merkleize(&[
            header(&u.attested_header, fork),
            header(&u.finality.finalized_header, fork),
            branch_root(&u.finality.branch, d),
            sync_aggregate(&u.sync_aggregate),
            u.signature_slot.tree_hash_root(),
        ])
    }

    /// `hash_tree_root(LightClientOptimisticUpdate)` in `fork`'s shape.
    pub fn optimistic_update(u: &LightClientOptimisticUpdate, fork: Fork) -> B256 {
        merkleize(&[
            header(&u.attested_header, fork),
            sync_aggregate(&u.sync_aggregate),
            u.signature_slot.tree_hash_root(),
        ])
    }
}
