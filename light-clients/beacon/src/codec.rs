//! SSZ decoding of the light-client containers whose shape depends on the
//! fork (execution header, branch depths) and the preset (committee size),
//! as served by the beacon API's `application/octet-stream` and used by
//! consensus-spec-tests.

use alloy_primitives::B256;
use ssz::{Decode, DecodeError, SszDecoder, SszDecoderBuilder};

use crate::config::{EXECUTION_PAYLOAD_GINDEX, Fork, Preset};
use crate::error::{Error, Result};
use crate::types::{
    BeaconBlockHeader, BlsPublicKey, BlsSignature, ExecutionPayloadHeader,
    ExecutionPayloadHeaderCapella, ExecutionPayloadHeaderDeneb, FinalityProof,
    LightClientBootstrap, LightClientFinalityUpdate, LightClientHeader,
    LightClientOptimisticUpdate, LightClientUpdate, SyncAggregate, SyncCommittee,
};

const BEACON_HEADER_LEN: usize = 112;

fn depth(gindex: u64) -> usize {
    (63 - gindex.leading_zeros()) as usize
}

fn err(what: &'static str) -> impl Fn(DecodeError) -> Error {
    move |e| Error::decode(what, format!("{e:?}"))
}

/// Fixed length of a `LightClientHeader`, `None` when it is variable
/// (Capella on, because of the execution header's `extra_data`).
fn header_fixed_len(fork: Fork) -> Option<usize> {
    (fork < Fork::Capella).then_some(BEACON_HEADER_LEN)
}

fn register_header(b: &mut SszDecoderBuilder<'_>, fork: Fork) -> Result<()> {
    match header_fixed_len(fork) {
        Some(len) => b.register_type_parameterized(true, len),
        None => b.register_anonymous_variable_length_item(),
    }
    .map_err(err("light client header"))
}

fn branch(bytes: &[u8]) -> Vec<B256> {
    bytes.chunks_exact(32).map(B256::from_slice).collect()
}

/// Decodes a `LightClientHeader` of `fork`.
pub fn header_from_ssz(bytes: &[u8], fork: Fork) -> Result<LightClientHeader> {
    header(bytes, fork)
}

/// Decodes a `SyncCommittee` of the preset's size.
pub fn sync_committee_from_ssz(bytes: &[u8], preset: &Preset) -> Result<SyncCommittee> {
    let expected = committee_len(preset);
    if bytes.len() != expected {
        return Err(Error::decode(
            "sync committee",
            format!("{} bytes, expected {expected}", bytes.len()),
        ));
    }
    Ok(committee(bytes))
}

/// Decodes a `SyncAggregate` of the preset's size.
pub fn sync_aggregate_from_ssz(bytes: &[u8], preset: &Preset) -> Result<SyncAggregate> {
    let expected = aggregate_len(preset);
    if bytes.len() != expected {
        return Err(Error::decode(
            "sync aggregate",
            format!("{} bytes, expected {expected}", bytes.len()),
        ));
    }
    aggregate(bytes, preset)
}

fn header(bytes: &[u8], fork: Fork) -> Result<LightClientHeader> {
    if fork < Fork::Capella {
        let beacon = BeaconBlockHeader::from_ssz_bytes(bytes).map_err(err("beacon header"))?;
        return Ok(LightClientHeader {
            beacon,
            execution: None,
            execution_branch: vec![],
        });
    }
    let branch_len = depth(EXECUTION_PAYLOAD_GINDEX) * 32;
    let mut b = SszDecoderBuilder::new(bytes);
    b.register_type::<BeaconBlockHeader>()
        .map_err(err("beacon header"))?;
    b.register_anonymous_variable_length_item()
        .map_err(err("execution header"))?;
    b.register_type_parameterized(true, branch_len)
        .map_err(err("execution branch"))?;
    let mut d = b.build().map_err(err("light client header"))?;
    let beacon = d
        .decode_next::<BeaconBlockHeader>()
        .map_err(err("beacon header"))?;
    let execution = if fork >= Fork::Deneb {
        ExecutionPayloadHeader::Deneb(
            d.decode_next::<ExecutionPayloadHeaderDeneb>()
                .map_err(err("execution header"))?,
        )
    } else {
        ExecutionPayloadHeader::Capella(
            d.decode_next::<ExecutionPayloadHeaderCapella>()
                .map_err(err("execution header"))?,
        )
    };
    let execution_branch = d
        .decode_next_with(|b| Ok(branch(b)))
        .map_err(err("execution branch"))?;
    Ok(LightClientHeader {
        beacon,
        execution: Some(execution),
        execution_branch,
    })
}

fn committee_len(preset: &Preset) -> usize {
    (preset.sync_committee_size + 1) * 48
}

fn committee(bytes: &[u8]) -> SyncCommittee {
    // Length was fixed by the decoder registration: a whole number of keys.
    let mut keys: Vec<BlsPublicKey> = bytes
        .chunks_exact(48)
        .map(BlsPublicKey::from_slice)
        .collect();
    let aggregate_pubkey = keys.pop().unwrap_or_default();
    SyncCommittee {
        pubkeys: keys,
        aggregate_pubkey,
    }
}

fn aggregate_len(preset: &Preset) -> usize {
    preset.sync_committee_size.div_ceil(8) + 96
}

fn aggregate(bytes: &[u8], preset: &Preset) -> Result<SyncAggregate> {
    let bits_len = preset.sync_committee_size.div_ceil(8);
    Ok(SyncAggregate {
        sync_committee_bits: SyncAggregate::bits_from_bytes(
            &bytes[..bits_len],
            preset.sync_committee_size,
        )?,
        sync_committee_signature: BlsSignature::from_slice(&bytes[bits_len..]),
    })
}

fn next_header(d: &mut SszDecoder<'_>, fork: Fork) -> Result<LightClientHeader> {
    let bytes = d
        .decode_next_with(|b| Ok(b.to_vec()))
        .map_err(err("light client header"))?;
    header(&bytes, fork)
}

fn next_bytes(d: &mut SszDecoder<'_>, what: &'static str) -> Result<Vec<u8>> {
    d.decode_next_with(|b| Ok(b.to_vec())).map_err(err(what))
}

/// Decodes a `LightClientBootstrap` of `fork`.
pub fn bootstrap_from_ssz(
    bytes: &[u8],
    fork: Fork,
    preset: &Preset,
) -> Result<LightClientBootstrap> {
    let branch_len = depth(fork.state_gindices().current_sync_committee) * 32;
    let mut b = SszDecoderBuilder::new(bytes);
    register_header(&mut b, fork)?;
    b.register_type_parameterized(true, committee_len(preset))
        .map_err(err("sync committee"))?;
    b.register_type_parameterized(true, branch_len)
        .map_err(err("branch"))?;
    let mut d = b.build().map_err(err("bootstrap"))?;
    Ok(LightClientBootstrap {
        header: next_header(&mut d, fork)?,
        current_sync_committee: committee(&next_bytes(&mut d, "sync committee")?),
        current_sync_committee_branch: branch(&next_bytes(&mut d, "branch")?),
    })
}

/// Decodes a `LightClientUpdate` of `fork`.
pub fn update_from_ssz(bytes: &[u8], fork: Fork, preset: &Preset) -> Result<LightClientUpdate> {
    let g = fork.state_gindices();
    let mut b = SszDecoderBuilder::new(bytes);
    register_header(&mut b, fork)?;
    b.register_type_parameterized(true, committee_len(preset))
        .map_err(err("sync committee"))?;
    b.register_type_parameterized(true, depth(g.next_sync_committee) * 32)
        .map_err(err("branch"))?;
    register_header(&mut b, fork)?;
    b.register_type_parameterized(true, depth(g.finalized_root) * 32)
        .map_err(err("branch"))?;
    b.register_type_parameterized(true, aggregate_len(preset))
        .map_err(err("sync aggregate"))?;
    b.register_type::<u64>().map_err(err("signature slot"))?;
    let mut d = b.build().map_err(err("update"))?;
    let attested_header = next_header(&mut d, fork)?;
    let next_committee = committee(&next_bytes(&mut d, "sync committee")?);
    let next_branch = branch(&next_bytes(&mut d, "branch")?);
    let finalized_header = next_header(&mut d, fork)?;
    let finality_branch = branch(&next_bytes(&mut d, "branch")?);
    let sync_aggregate = aggregate(&next_bytes(&mut d, "sync aggregate")?, preset)?;
    let signature_slot = d.decode_next::<u64>().map_err(err("signature slot"))?;
    LightClientUpdate::from_parts(
        attested_header,
        next_committee,
        next_branch,
        finalized_header,
        finality_branch,
        sync_aggregate,
        signature_slot,
    )
}

/// Decodes a `LightClientFinalityUpdate` of `fork`.
pub fn finality_update_from_ssz(
    bytes: &[u8],
    fork: Fork,
    preset: &Preset,
) -> Result<LightClientFinalityUpdate> {
    let mut b = SszDecoderBuilder::new(bytes);
    register_header(&mut b, fork)?;
    register_header(&mut b, fork)?;
    b.register_type_parameterized(true, depth(fork.state_gindices().finalized_root) * 32)
        .map_err(err("branch"))?;
    b.register_type_parameterized(true, aggregate_len(preset))
        .map_err(err("sync aggregate"))?;
    b.register_type::<u64>().map_err(err("signature slot"))?;
    let mut d = b.build().map_err(err("finality update"))?;
    let attested_header = next_header(&mut d, fork)?;
    let finalized_header = next_header(&mut d, fork)?;
    let branch = branch(&next_bytes(&mut d, "branch")?);
    Ok(LightClientFinalityUpdate {
        attested_header,
        finality: FinalityProof {
            finalized_header,
            branch,
        },
        sync_aggregate: aggregate(&next_bytes(&mut d, "sync aggregate")?, preset)?,
        signature_slot: d.decode_next::<u64>().map_err(err("signature slot"))?,
    })
}

/// Decodes a `LightClientOptimisticUpdate` of `fork`.
pub fn optimistic_update_from_ssz(
    bytes: &[u8],
    fork: Fork,
    preset: &Preset,
) -> Result<LightClientOptimisticUpdate> {
    let mut b = SszDecoderBuilder::new(bytes);
    register_header(&mut b, fork)?;
    b.register_type_parameterized(true, aggregate_len(preset))
        .map_err(err("sync aggregate"))?;
    b.register_type::<u64>().map_err(err("signature slot"))?;
    let mut d = b.build().map_err(err("optimistic update"))?;
    Ok(LightClientOptimisticUpdate {
        attested_header: next_header(&mut d, fork)?,
        sync_aggregate: aggregate(&next_bytes(&mut d, "sync aggregate")?, preset)?,
        signature_slot: d.decode_next::<u64>().map_err(err("signature slot"))?,
    })
}
