//! Decoding of the beacon API's light-client JSON (`{version, data}`
//! envelopes as served under `/eth/v1/beacon/light_client/*`).
//!
//! Decoding only checks shape; every consensus rule is left to the store.

use alloy_primitives::{Address, B256, Bytes, U256};
use serde::{Deserialize, Deserializer, de::DeserializeOwned};
use ssz_types::{FixedVector, VariableList};

use crate::config::Preset;
use crate::error::{Error, Result};
use crate::types::{
    BeaconBlockHeader, BlsPublicKey, BlsSignature, ExecutionPayloadHeader,
    ExecutionPayloadHeaderCapella, ExecutionPayloadHeaderDeneb, FinalityProof,
    LightClientBootstrap, LightClientFinalityUpdate, LightClientHeader,
    LightClientOptimisticUpdate, LightClientUpdate, SyncAggregate, SyncCommittee,
};

/// The execution header shape named by the envelope's `version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    BeaconOnly,
    Capella,
    Deneb,
}

fn shape(version: &str) -> Result<Shape> {
    match version {
        "altair" | "bellatrix" => Ok(Shape::BeaconOnly),
        "capella" => Ok(Shape::Capella),
        "deneb" | "electra" | "fulu" => Ok(Shape::Deneb),
        other => Err(Error::decode(
            "version",
            format!("unknown fork name {other:?}"),
        )),
    }
}

fn quoted_u64<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<u64, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

fn quoted_u256<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<U256, D::Error> {
    let s = String::deserialize(d)?;
    U256::from_str_radix(&s, 10).map_err(serde::de::Error::custom)
}

#[derive(Deserialize)]
struct Envelope<T> {
    version: String,
    data: T,
}

#[derive(Deserialize)]
struct JsonBeacon {
    #[serde(deserialize_with = "quoted_u64")]
    slot: u64,
    #[serde(deserialize_with = "quoted_u64")]
    proposer_index: u64,
    parent_root: B256,
    state_root: B256,
    body_root: B256,
}

#[derive(Deserialize)]
struct JsonExecution {
    parent_hash: B256,
    fee_recipient: Address,
    state_root: B256,
    receipts_root: B256,
    logs_bloom: Bytes,
    prev_randao: B256,
    #[serde(deserialize_with = "quoted_u64")]
    block_number: u64,
    #[serde(deserialize_with = "quoted_u64")]
    gas_limit: u64,
    #[serde(deserialize_with = "quoted_u64")]
    gas_used: u64,
    #[serde(deserialize_with = "quoted_u64")]
    timestamp: u64,
    extra_data: Bytes,
    #[serde(deserialize_with = "quoted_u256")]
    base_fee_per_gas: U256,
    block_hash: B256,
    transactions_root: B256,
    withdrawals_root: B256,
    #[serde(default, deserialize_with = "opt_quoted_u64")]
    blob_gas_used: Option<u64>,
    #[serde(default, deserialize_with = "opt_quoted_u64")]
    excess_blob_gas: Option<u64>,
}

fn opt_quoted_u64<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<u64>, D::Error> {
    quoted_u64(d).map(Some)
}

#[derive(Deserialize)]
struct JsonHeader {
    beacon: JsonBeacon,
    execution: Option<JsonExecution>,
    #[serde(default)]
    execution_branch: Vec<B256>,
}

#[derive(Deserialize)]
struct JsonCommittee {
    pubkeys: Vec<BlsPublicKey>,
    aggregate_pubkey: BlsPublicKey,
}

#[derive(Deserialize)]
struct JsonAggregate {
    sync_committee_bits: Bytes,
    sync_committee_signature: BlsSignature,
}

#[derive(Deserialize)]
struct JsonBootstrap {
    header: JsonHeader,
    current_sync_committee: JsonCommittee,
    current_sync_committee_branch: Vec<B256>,
}

#[derive(Deserialize)]
struct JsonUpdate {
    attested_header: JsonHeader,
    next_sync_committee: JsonCommittee,
    next_sync_committee_branch: Vec<B256>,
    finalized_header: JsonHeader,
    finality_branch: Vec<B256>,
    sync_aggregate: JsonAggregate,
    #[serde(deserialize_with = "quoted_u64")]
    signature_slot: u64,
}

#[derive(Deserialize)]
struct JsonFinalityUpdate {
    attested_header: JsonHeader,
    finalized_header: JsonHeader,
    finality_branch: Vec<B256>,
    sync_aggregate: JsonAggregate,
    #[serde(deserialize_with = "quoted_u64")]
    signature_slot: u64,
}

#[derive(Deserialize)]
struct JsonOptimisticUpdate {
    attested_header: JsonHeader,
    sync_aggregate: JsonAggregate,
    #[serde(deserialize_with = "quoted_u64")]
    signature_slot: u64,
}

fn execution(e: &JsonExecution, shape: Shape) -> Result<Option<ExecutionPayloadHeader>> {
    let logs_bloom = FixedVector::new(e.logs_bloom.to_vec())
        .map_err(|err| Error::decode("logs_bloom", format!("{err:?}")))?;
    let extra_data = VariableList::new(e.extra_data.to_vec())
        .map_err(|err| Error::decode("extra_data", format!("{err:?}")))?;
    Ok(match shape {
        Shape::BeaconOnly => {
            return Err(Error::decode(
                "execution",
                "execution header in a pre-Capella object",
            ));
        }
        Shape::Capella => {
            if e.blob_gas_used.is_some() || e.excess_blob_gas.is_some() {
                return Err(Error::decode(
                    "execution",
                    "blob gas fields in a Capella object",
                ));
            }
            Some(ExecutionPayloadHeader::Capella(
                ExecutionPayloadHeaderCapella {
                    parent_hash: e.parent_hash,
                    fee_recipient: e.fee_recipient,
                    state_root: e.state_root,
                    receipts_root: e.receipts_root,
                    logs_bloom,
                    prev_randao: e.prev_randao,
                    block_number: e.block_number,
                    gas_limit: e.gas_limit,
                    gas_used: e.gas_used,
                    timestamp: e.timestamp,
                    extra_data,
                    base_fee_per_gas: e.base_fee_per_gas,
                    block_hash: e.block_hash,
                    transactions_root: e.transactions_root,
                    withdrawals_root: e.withdrawals_root,
                },
            ))
        }
        Shape::Deneb => {
            let (Some(blob_gas_used), Some(excess_blob_gas)) = (e.blob_gas_used, e.excess_blob_gas)
            else {
                return Err(Error::decode(
                    "execution",
                    "Deneb object without blob gas fields",
                ));
            };
            Some(ExecutionPayloadHeader::Deneb(ExecutionPayloadHeaderDeneb {
                parent_hash: e.parent_hash,
                fee_recipient: e.fee_recipient,
                state_root: e.state_root,
                receipts_root: e.receipts_root,
                logs_bloom,
                prev_randao: e.prev_randao,
                block_number: e.block_number,
                gas_limit: e.gas_limit,
                gas_used: e.gas_used,
                timestamp: e.timestamp,
                extra_data,
                base_fee_per_gas: e.base_fee_per_gas,
                block_hash: e.block_hash,
                transactions_root: e.transactions_root,
                withdrawals_root: e.withdrawals_root,
                blob_gas_used,
                excess_blob_gas,
            }))
        }
    })
}

fn header(h: JsonHeader, shape: Shape) -> Result<LightClientHeader> {
    let execution = match h.execution {
        Some(e) => execution(&e, shape)?,
        None if shape == Shape::BeaconOnly => None,
        None => return Err(Error::decode("execution", "missing execution header")),
    };
    Ok(LightClientHeader {
        beacon: BeaconBlockHeader {
            slot: h.beacon.slot,
            proposer_index: h.beacon.proposer_index,
            parent_root: h.beacon.parent_root,
            state_root: h.beacon.state_root,
            body_root: h.beacon.body_root,
        },
        execution,
        execution_branch: h.execution_branch,
    })
}

fn committee(c: JsonCommittee) -> SyncCommittee {
    SyncCommittee {
        pubkeys: c.pubkeys,
        aggregate_pubkey: c.aggregate_pubkey,
    }
}

fn aggregate(a: &JsonAggregate, preset: &Preset) -> Result<SyncAggregate> {
    Ok(SyncAggregate {
        sync_committee_bits: SyncAggregate::bits_from_bytes(
            &a.sync_committee_bits,
            preset.sync_committee_size,
        )?,
        sync_committee_signature: a.sync_committee_signature,
    })
}

fn envelope<T: DeserializeOwned>(what: &'static str, s: &str) -> Result<(Shape, T)> {
    let e: Envelope<T> = serde_json::from_str(s).map_err(|err| Error::decode(what, err))?;
    Ok((shape(&e.version)?, e.data))
}

fn update(shape: Shape, u: JsonUpdate, preset: &Preset) -> Result<LightClientUpdate> {
    let sync_aggregate = aggregate(&u.sync_aggregate, preset)?;
    LightClientUpdate::from_parts(
        header(u.attested_header, shape)?,
        committee(u.next_sync_committee),
        u.next_sync_committee_branch,
        header(u.finalized_header, shape)?,
        u.finality_branch,
        sync_aggregate,
        u.signature_slot,
    )
}

/// Decodes a `LightClientBootstrap` envelope.
pub fn bootstrap_from_json(s: &str) -> Result<LightClientBootstrap> {
    let (shape, b): (_, JsonBootstrap) = envelope("bootstrap", s)?;
    Ok(LightClientBootstrap {
        header: header(b.header, shape)?,
        current_sync_committee: committee(b.current_sync_committee),
        current_sync_committee_branch: b.current_sync_committee_branch,
    })
}

/// Decodes one `LightClientUpdate` envelope.
pub fn update_from_json(s: &str, preset: &Preset) -> Result<LightClientUpdate> {
    let (shape, u) = envelope("update", s)?;
    update(shape, u, preset)
}

/// Decodes the array of envelopes served by `light_client/updates`.
pub fn updates_from_json(s: &str, preset: &Preset) -> Result<Vec<LightClientUpdate>> {
    let list: Vec<Envelope<JsonUpdate>> =
        serde_json::from_str(s).map_err(|err| Error::decode("updates", err))?;
    list.into_iter()
        .map(|e| update(shape(&e.version)?, e.data, preset))
        .collect()
}

/// Decodes a `LightClientFinalityUpdate` envelope.
pub fn finality_update_from_json(s: &str, preset: &Preset) -> Result<LightClientFinalityUpdate> {
    let (shape, u): (_, JsonFinalityUpdate) = envelope("finality update", s)?;
    Ok(LightClientFinalityUpdate {
        attested_header: header(u.attested_header, shape)?,
        finality: FinalityProof {
            finalized_header: header(u.finalized_header, shape)?,
            branch: u.finality_branch,
        },
        sync_aggregate: aggregate(&u.sync_aggregate, preset)?,
        signature_slot: u.signature_slot,
    })
}

/// Decodes a `LightClientOptimisticUpdate` envelope.
pub fn optimistic_update_from_json(
    s: &str,
    preset: &Preset,
) -> Result<LightClientOptimisticUpdate> {
    let (shape, u): (_, JsonOptimisticUpdate) = envelope("optimistic update", s)?;
    Ok(LightClientOptimisticUpdate {
        attested_header: header(u.attested_header, shape)?,
        sync_aggregate: aggregate(&u.sync_aggregate, preset)?,
        signature_slot: u.signature_slot,
    })
}
