//! Test kit (feature `testkit`, enabled only by dev-dependencies): a beacon
//! chain of the test's own for the light client. Sync committees come from
//! deterministic BLS secret keys (one committee per period), and the kit
//! builds the light-client objects they sign: bootstraps, updates across
//! periods, finality and optimistic updates, with the beacon API's JSON.
//!
//! No beacon state or block body is built. The light client checks Merkle
//! branches against `state_root` and `body_root` only, so each header gets
//! a state root computed from the leaves it must prove (the current and
//! next committees, the finalized block root, at the generalized indices of
//! the header's fork) and a body root from its execution payload header (at
//! `EXECUTION_PAYLOAD_GINDEX`), with filler nodes derived from the kit's
//! seed everywhere else.
//!
//! Execution payloads are the caller's: [`execution_payload`] turns an
//! execution block header (e.g. a local chain's) into the payload header a
//! beacon block would carry, so that [`crate::execution::bind_execution`]
//! binds the finalized header to that very block.

use alloy_primitives::{B256, U256};
use blst::min_pk::{AggregatePublicKey, AggregateSignature, SecretKey, Signature};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use ssz_types::{FixedVector, VariableList};
use switchyard_lc_evm::Header;

use crate::bls::DST;
use crate::config::{ChainSpec, DOMAIN_SYNC_COMMITTEE, EXECUTION_PAYLOAD_GINDEX, Fork};
use crate::error::{Error, Result};
use crate::merkle::{compute_domain, hash_pair, signing_root};
use crate::types::{
    BeaconBlockHeader, BlsPublicKey, BlsSignature, ExecutionPayloadHeader,
    ExecutionPayloadHeaderDeneb, FinalityProof, LightClientBootstrap, LightClientFinalityUpdate,
    LightClientHeader, LightClientOptimisticUpdate, LightClientUpdate, NextSyncCommitteeProof,
    SyncAggregate, SyncCommittee,
};

fn sha256(parts: &[&[u8]]) -> B256 {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    B256::from_slice(&h.finalize())
}

/// `floorlog2(gindex)`.
fn depth(gindex: u64) -> u32 {
    63 - gindex.leading_zeros()
}

/// A Merkle tree in which only some leaves are given (by generalized
/// index); every subtree without a given leaf is one filler node derived
/// from `salt` and its index.
struct Tree {
    leaves: Vec<(u64, B256)>,
    salt: B256,
}

impl Tree {
    fn node(&self, g: u64) -> B256 {
        if let Some((_, v)) = self.leaves.iter().find(|(l, _)| *l == g) {
            return *v;
        }
        let below = self.leaves.iter().any(|(l, _)| {
            let (dl, dg) = (depth(*l), depth(g));
            dl > dg && l >> (dl - dg) == g
        });
        if below {
            hash_pair(&self.node(2 * g), &self.node(2 * g + 1))
        } else {
            sha256(&[self.salt.as_slice(), &g.to_le_bytes()])
        }
    }

    fn root(&self) -> B256 {
        self.node(1)
    }

    /// Sibling nodes from the leaf at `g` up to the root, as
    /// `is_valid_merkle_branch` takes them.
    fn branch(&self, mut g: u64) -> Vec<B256> {
        let mut out = Vec::new();
        while g > 1 {
            out.push(self.node(g ^ 1));
            g /= 2;
        }
        out
    }
}

/// A sync committee and its members' secret keys.
pub struct Committee {
    keys: Vec<SecretKey>,
    committee: SyncCommittee,
}

impl std::fmt::Debug for Committee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Committee")
            .field("size", &self.keys.len())
            .field("root", &self.committee.root())
            .finish()
    }
}

impl Committee {
    /// `size` members (at least one) whose secret keys are derived from
    /// `seed` by `KeyGen`: the same seed gives the same committee.
    pub fn generate(seed: &[u8], size: usize) -> Self {
        let keys: Vec<SecretKey> = (0..size as u64)
            .map(|i| {
                let ikm = sha256(&[b"switchyard testkit member", seed, &i.to_le_bytes()]);
                SecretKey::key_gen(ikm.as_slice(), &[])
                    .expect("KeyGen takes any 32 bytes of key material")
            })
            .collect();
        let pubkeys: Vec<_> = keys.iter().map(SecretKey::sk_to_pk).collect();
        let refs: Vec<_> = pubkeys.iter().collect();
        let aggregate = AggregatePublicKey::aggregate(&refs, false)
            .expect("a committee has at least one member")
            .to_public_key();
        let committee = SyncCommittee {
            pubkeys: pubkeys
                .iter()
                .map(|pk| BlsPublicKey::from(pk.compress()))
                .collect(),
            aggregate_pubkey: BlsPublicKey::from(aggregate.compress()),
        };
        Self { keys, committee }
    }

    /// The committee as light-client objects carry it.
    pub fn sync_committee(&self) -> &SyncCommittee {
        &self.committee
    }

    /// The aggregate signature of the members whose bit is set over
    /// `signing_root` (the G2 point at infinity when none is).
    pub fn sign(&self, bits: &[bool], signing_root: B256) -> SyncAggregate {
        let sigs: Vec<Signature> = self
            .keys
            .iter()
            .zip(bits)
            .filter(|(_, b)| **b)
            .map(|(k, _)| k.sign(signing_root.as_slice(), DST, &[]))
            .collect();
        let refs: Vec<_> = sigs.iter().collect();
        let signature = match AggregateSignature::aggregate(&refs, false) {
            Ok(a) => BlsSignature::from(a.to_signature().compress()),
            Err(_) => {
                let mut infinity = [0u8; 96];
                infinity[0] = 0xc0;
                BlsSignature::from(infinity)
            }
        };
        SyncAggregate {
            sync_committee_bits: bits.to_vec(),
            sync_committee_signature: signature,
        }
    }
}

/// The execution payload header (Deneb shape, also Electra's and Fulu's)
/// of the execution block `h`: what a beacon block carrying that block
/// commits to. Refuses headers whose bloom or extra data do not fit the
/// SSZ container.
pub fn execution_payload(h: &Header) -> Result<ExecutionPayloadHeader> {
    Ok(ExecutionPayloadHeader::Deneb(ExecutionPayloadHeaderDeneb {
        parent_hash: h.parent_hash,
        fee_recipient: h.beneficiary,
        state_root: h.state_root,
        receipts_root: h.receipts_root,
        logs_bloom: FixedVector::new(h.logs_bloom.as_slice().to_vec())
            .map_err(|e| Error::decode("logs_bloom", format!("{e:?}")))?,
        prev_randao: h.mix_hash,
        block_number: h.number,
        gas_limit: h.gas_limit,
        gas_used: h.gas_used,
        timestamp: h.timestamp,
        extra_data: VariableList::new(h.extra_data.to_vec())
            .map_err(|e| Error::decode("extra_data", format!("{e:?}")))?,
        base_fee_per_gas: U256::from(h.base_fee_per_gas.unwrap_or_default()),
        block_hash: h.hash(),
        transactions_root: h.transactions_root,
        withdrawals_root: h.withdrawals_root.unwrap_or_default(),
        blob_gas_used: h.blob_gas_used.unwrap_or_default(),
        excess_blob_gas: h.excess_blob_gas.unwrap_or_default(),
    }))
}

/// A beacon chain of the test's own: a [`ChainSpec`] (fork versions,
/// genesis validators root, preset) and a seed for committees and fillers.
#[derive(Debug, Clone)]
pub struct TestChain {
    spec: ChainSpec,
    seed: Vec<u8>,
}

impl TestChain {
    /// A chain following `spec`; `seed` fixes its committees.
    pub fn new(spec: ChainSpec, seed: &[u8]) -> Self {
        Self {
            spec,
            seed: seed.to_vec(),
        }
    }

    /// The chain's parameters.
    pub fn spec(&self) -> &ChainSpec {
        &self.spec
    }

    /// The sync committee of `period`.
    pub fn committee(&self, period: u64) -> Committee {
        Committee::generate(
            &[self.seed.as_slice(), &period.to_le_bytes()].concat(),
            self.spec.preset.sync_committee_size,
        )
    }

    fn salt(&self, what: &[u8], slot: u64) -> B256 {
        sha256(&[b"switchyard testkit", what, &self.seed, &slot.to_le_bytes()])
    }

    /// The state at `slot`: the committees of its period and the next, and
    /// `finalized_root` as the finalized checkpoint's root.
    fn state(&self, slot: u64, finalized_root: B256) -> Tree {
        let g = self.spec.fork_at_slot(slot).state_gindices();
        let period = self.spec.period_at_slot(slot);
        Tree {
            leaves: vec![
                (
                    g.current_sync_committee,
                    self.committee(period).sync_committee().root(),
                ),
                (
                    g.next_sync_committee,
                    self.committee(period + 1).sync_committee().root(),
                ),
                (g.finalized_root, finalized_root),
            ],
            salt: self.salt(b"state", slot),
        }
    }

    fn header_with(
        &self,
        slot: u64,
        execution: ExecutionPayloadHeader,
        state: &Tree,
    ) -> Result<LightClientHeader> {
        let mut header = LightClientHeader {
            beacon: BeaconBlockHeader {
                slot,
                proposer_index: slot % 64,
                parent_root: self.salt(b"parent", slot),
                state_root: state.root(),
                body_root: B256::ZERO,
            },
            execution: Some(execution),
            execution_branch: Vec::new(),
        };
        let body = Tree {
            leaves: vec![(EXECUTION_PAYLOAD_GINDEX, header.execution_root(&self.spec)?)],
            salt: self.salt(b"body", slot),
        };
        header.beacon.body_root = body.root();
        header.execution_branch = body.branch(EXECUTION_PAYLOAD_GINDEX);
        Ok(header)
    }

    /// A light-client header at `slot` (Capella or later) whose block body
    /// proves `execution`.
    pub fn header(
        &self,
        slot: u64,
        execution: ExecutionPayloadHeader,
    ) -> Result<LightClientHeader> {
        self.header_with(slot, execution, &self.state(slot, B256::ZERO))
    }

    /// The bootstrap of the block at `slot` carrying `execution`; trust it
    /// by `bootstrap.header.beacon_root()`.
    pub fn bootstrap(
        &self,
        slot: u64,
        execution: ExecutionPayloadHeader,
    ) -> Result<LightClientBootstrap> {
        let state = self.state(slot, B256::ZERO);
        let header = self.header_with(slot, execution, &state)?;
        let g = self.spec.fork_at_slot(slot).state_gindices();
        Ok(LightClientBootstrap {
            header,
            current_sync_committee: self
                .committee(self.spec.period_at_slot(slot))
                .sync_committee()
                .clone(),
            current_sync_committee_branch: state.branch(g.current_sync_committee),
        })
    }

    /// `compute_signing_root` of `attested` for an aggregate included at
    /// `signature_slot`: the fork version of the slot before it and the
    /// genesis validators root make the domain.
    pub fn signing_root(&self, attested: &BeaconBlockHeader, signature_slot: u64) -> B256 {
        let epoch = self.spec.epoch_at_slot(signature_slot.max(1) - 1);
        let domain = compute_domain(
            DOMAIN_SYNC_COMMITTEE,
            self.spec.fork_version_at_epoch(epoch),
            self.spec.genesis_validators_root,
        );
        signing_root(attested.root(), domain)
    }

    /// The whole committee of `signature_slot`'s period signing `attested`.
    pub fn sign(&self, attested: &BeaconBlockHeader, signature_slot: u64) -> SyncAggregate {
        let committee = self.committee(self.spec.period_at_slot(signature_slot));
        let bits = vec![true; self.spec.preset.sync_committee_size];
        committee.sign(&bits, self.signing_root(attested, signature_slot))
    }

    /// A `LightClientUpdate`: an attested header at `attested_slot`
    /// carrying `attested_execution`, whose state proves `finalized` (when
    /// given) and, with `next_sync_committee`, the committee of the period
    /// after the attested one; signed at `signature_slot` by its period's
    /// whole committee.
    pub fn update(
        &self,
        attested_slot: u64,
        attested_execution: ExecutionPayloadHeader,
        finalized: Option<&LightClientHeader>,
        next_sync_committee: bool,
        signature_slot: u64,
    ) -> Result<LightClientUpdate> {
        let finalized_root = finalized.map_or(B256::ZERO, LightClientHeader::beacon_root);
        let state = self.state(attested_slot, finalized_root);
        let attested_header = self.header_with(attested_slot, attested_execution, &state)?;
        let g = self.spec.fork_at_slot(attested_slot).state_gindices();
        let next = next_sync_committee.then(|| NextSyncCommitteeProof {
            committee: self
                .committee(self.spec.period_at_slot(attested_slot) + 1)
                .sync_committee()
                .clone(),
            branch: state.branch(g.next_sync_committee),
        });
        let finality = finalized.map(|f| FinalityProof {
            finalized_header: f.clone(),
            branch: state.branch(g.finalized_root),
        });
        let sync_aggregate = self.sign(&attested_header.beacon, signature_slot);
        Ok(LightClientUpdate {
            attested_header,
            next_sync_committee: next,
            finality,
            sync_aggregate,
            signature_slot,
        })
    }

    /// A `LightClientFinalityUpdate` of `finalized` (see [`Self::update`]).
    pub fn finality_update(
        &self,
        attested_slot: u64,
        attested_execution: ExecutionPayloadHeader,
        finalized: &LightClientHeader,
        signature_slot: u64,
    ) -> Result<LightClientFinalityUpdate> {
        let state = self.state(attested_slot, finalized.beacon_root());
        let attested_header = self.header_with(attested_slot, attested_execution, &state)?;
        let g = self.spec.fork_at_slot(attested_slot).state_gindices();
        Ok(LightClientFinalityUpdate {
            sync_aggregate: self.sign(&attested_header.beacon, signature_slot),
            attested_header,
            finality: FinalityProof {
                finalized_header: finalized.clone(),
                branch: state.branch(g.finalized_root),
            },
            signature_slot,
        })
    }

    /// A `LightClientOptimisticUpdate` (see [`Self::update`]).
    pub fn optimistic_update(
        &self,
        attested_slot: u64,
        attested_execution: ExecutionPayloadHeader,
        signature_slot: u64,
    ) -> Result<LightClientOptimisticUpdate> {
        let u = self.update(
            attested_slot,
            attested_execution,
            None,
            false,
            signature_slot,
        )?;
        Ok(LightClientOptimisticUpdate {
            attested_header: u.attested_header,
            sync_aggregate: u.sync_aggregate,
            signature_slot,
        })
    }

    // ----- the beacon API's JSON (`{version, data}` envelopes) -----

    fn envelope(&self, slot: u64, data: Value) -> Value {
        let mut envelope = json!({ "version": self.spec.fork_at_slot(slot).name() });
        envelope["data"] = data;
        envelope
    }

    /// `light_client/bootstrap/{root}`'s answer.
    pub fn bootstrap_json(&self, b: &LightClientBootstrap) -> Value {
        let fork = self.spec.fork_at_slot(b.header.beacon.slot);
        self.envelope(
            b.header.beacon.slot,
            json!({
                "header": header_json(&b.header, fork),
                "current_sync_committee": committee_json(&b.current_sync_committee),
                "current_sync_committee_branch": b.current_sync_committee_branch,
            }),
        )
    }

    /// One element of `light_client/updates`' answer.
    pub fn update_json(&self, u: &LightClientUpdate) -> Value {
        let slot = u.attested_header.beacon.slot;
        let fork = self.spec.fork_at_slot(slot);
        let g = fork.state_gindices();
        let zeros = |gindex| vec![B256::ZERO; depth(gindex) as usize];
        let (committee, next_branch) = match &u.next_sync_committee {
            Some(n) => (committee_json(&n.committee), n.branch.clone()),
            None => (
                committee_json(&SyncCommittee {
                    pubkeys: vec![BlsPublicKey::ZERO; self.spec.preset.sync_committee_size],
                    aggregate_pubkey: BlsPublicKey::ZERO,
                }),
                zeros(g.next_sync_committee),
            ),
        };
        let (finalized, finality_branch) = match &u.finality {
            Some(f) => (header_json(&f.finalized_header, fork), f.branch.clone()),
            None => (empty_header_json(fork), zeros(g.finalized_root)),
        };
        self.envelope(
            slot,
            json!({
                "attested_header": header_json(&u.attested_header, fork),
                "next_sync_committee": committee,
                "next_sync_committee_branch": next_branch,
                "finalized_header": finalized,
                "finality_branch": finality_branch,
                "sync_aggregate": aggregate_json(&u.sync_aggregate),
                "signature_slot": u.signature_slot.to_string(),
            }),
        )
    }

    /// `light_client/finality_update`'s answer.
    pub fn finality_update_json(&self, u: &LightClientFinalityUpdate) -> Value {
        let slot = u.attested_header.beacon.slot;
        let fork = self.spec.fork_at_slot(slot);
        self.envelope(
            slot,
            json!({
                "attested_header": header_json(&u.attested_header, fork),
                "finalized_header": header_json(&u.finality.finalized_header, fork),
                "finality_branch": u.finality.branch,
                "sync_aggregate": aggregate_json(&u.sync_aggregate),
                "signature_slot": u.signature_slot.to_string(),
            }),
        )
    }

    /// `light_client/optimistic_update`'s answer.
    pub fn optimistic_update_json(&self, u: &LightClientOptimisticUpdate) -> Value {
        let slot = u.attested_header.beacon.slot;
        let fork = self.spec.fork_at_slot(slot);
        self.envelope(
            slot,
            json!({
                "attested_header": header_json(&u.attested_header, fork),
                "sync_aggregate": aggregate_json(&u.sync_aggregate),
                "signature_slot": u.signature_slot.to_string(),
            }),
        )
    }
}

fn beacon_json(b: &BeaconBlockHeader) -> Value {
    json!({
        "slot": b.slot.to_string(),
        "proposer_index": b.proposer_index.to_string(),
        "parent_root": b.parent_root,
        "state_root": b.state_root,
        "body_root": b.body_root,
    })
}

/// An execution payload header in the JSON shape of `fork` (blob gas
/// fields from Deneb on, whatever the variant holds).
fn execution_json(e: &ExecutionPayloadHeader, fork: Fork) -> Value {
    let d = match e {
        ExecutionPayloadHeader::Deneb(d) => d.clone(),
        ExecutionPayloadHeader::Capella(c) => ExecutionPayloadHeaderDeneb {
            parent_hash: c.parent_hash,
            fee_recipient: c.fee_recipient,
            state_root: c.state_root,
            receipts_root: c.receipts_root,
            logs_bloom: c.logs_bloom.clone(),
            prev_randao: c.prev_randao,
            block_number: c.block_number,
            gas_limit: c.gas_limit,
            gas_used: c.gas_used,
            timestamp: c.timestamp,
            extra_data: c.extra_data.clone(),
            base_fee_per_gas: c.base_fee_per_gas,
            block_hash: c.block_hash,
            transactions_root: c.transactions_root,
            withdrawals_root: c.withdrawals_root,
            blob_gas_used: 0,
            excess_blob_gas: 0,
        },
    };
    let hex = |b: &[u8]| format!("0x{}", hex_of(b));
    let mut v = json!({
        "parent_hash": d.parent_hash,
        "fee_recipient": d.fee_recipient,
        "state_root": d.state_root,
        "receipts_root": d.receipts_root,
        "logs_bloom": hex(&d.logs_bloom[..]),
        "prev_randao": d.prev_randao,
        "block_number": d.block_number.to_string(),
        "gas_limit": d.gas_limit.to_string(),
        "gas_used": d.gas_used.to_string(),
        "timestamp": d.timestamp.to_string(),
        "extra_data": hex(&d.extra_data[..]),
        "base_fee_per_gas": d.base_fee_per_gas.to_string(),
        "block_hash": d.block_hash,
        "transactions_root": d.transactions_root,
        "withdrawals_root": d.withdrawals_root,
    });
    if fork >= Fork::Deneb {
        v["blob_gas_used"] = json!(d.blob_gas_used.to_string());
        v["excess_blob_gas"] = json!(d.excess_blob_gas.to_string());
    }
    v
}

fn header_json(h: &LightClientHeader, fork: Fork) -> Value {
    let mut v = json!({ "beacon": beacon_json(&h.beacon) });
    if fork >= Fork::Capella
        && let Some(e) = &h.execution
    {
        v["execution"] = execution_json(e, fork);
        v["execution_branch"] = json!(h.execution_branch);
    }
    v
}

/// The spec's empty `LightClientHeader()` of `fork`.
fn empty_header_json(fork: Fork) -> Value {
    let mut v = json!({ "beacon": beacon_json(&BeaconBlockHeader::default()) });
    if fork >= Fork::Capella {
        v["execution"] = execution_json(
            &ExecutionPayloadHeader::Deneb(ExecutionPayloadHeaderDeneb::default()),
            fork,
        );
        v["execution_branch"] = json!(vec![B256::ZERO; depth(EXECUTION_PAYLOAD_GINDEX) as usize]);
    }
    v
}

fn committee_json(c: &SyncCommittee) -> Value {
    json!({ "pubkeys": c.pubkeys, "aggregate_pubkey": c.aggregate_pubkey })
}

fn aggregate_json(a: &SyncAggregate) -> Value {
    let mut bits = vec![0u8; a.sync_committee_bits.len().div_ceil(8)];
    for (i, b) in a.sync_committee_bits.iter().enumerate() {
        if *b {
            bits[i / 8] |= 1 << (i % 8);
        }
    }
    json!({
        "sync_committee_bits": format!("0x{}", hex_of(&bits)),
        "sync_committee_signature": a.sync_committee_signature,
    })
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
