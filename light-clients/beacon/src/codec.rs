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

pub(crate) fn err(what: &'static str) -> impl Fn(DecodeError) -> Error {
    move |e| Error::decode(what, format!("{e:?}"))
}

/// Fixed length of a `LightClientHeader`, `None` when it is variable
/// (Capella on, because of the execution header's `extra_data`).
fn header_fixed_len(fork: Fork) -> Option<usize> {
    (fork < Fork::Capella).then_some(BEACON_HEADER_LEN)
}

pub(crate) fn register_header(b: &mut SszDecoderBuilder<'_>, fork: Fork) -> Result<()> {
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

pub(crate) fn header(bytes: &[u8], fork: Fork) -> Result<LightClientHeader> {
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

pub(crate) fn committee_len(preset: &Preset) -> usize {
    (preset.sync_committee_size + 1) * 48
}

pub(crate) fn committee(bytes: &[u8]) -> SyncCommittee {
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

pub(crate) fn next_header(d: &mut SszDecoder<'_>, fork: Fork) -> Result<LightClientHeader> {
    let bytes = d
        .decode_next_with(|b| Ok(b.to_vec()))
        .map_err(err("light client header"))?;
    header(&bytes, fork)
}

pub(crate) fn next_bytes(d: &mut SszDecoder<'_>, what: &'static str) -> Result<Vec<u8>> {
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

/// Splits the beacon API's `light_client/updates` SSZ response, a sequence
/// of chunks `len: u64 LE ‖ context: [u8; 4] ‖ payload` where `len` counts
/// the context and the payload, and decodes each payload in the fork its
/// context (a fork digest) names.
///
/// The outer `Err` is a framing error after which nothing can be read (a
/// length past the end, an unknown fork digest); an inner `Err` is one
/// update that does not decode, or whose context is not the fork of its
/// attested header's slot (the API's rule), so the next ones can still be
/// checked.
pub fn updates_from_ssz_stream(
    bytes: &[u8],
    spec: &crate::ChainSpec,
) -> Result<Vec<Result<LightClientUpdate>>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let chunk = out.len();
        let Some(len) = bytes.get(at..at + 8) else {
            return Err(Error::decode(
                "update stream",
                format!(
                    "chunk {chunk} at byte {at}: {} bytes left, expected an 8-byte length",
                    bytes.len() - at
                ),
            ));
        };
        let len = u64::from_le_bytes(len.try_into().expect("8 bytes"));
        let start = at + 8;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| start.checked_add(l))
            .filter(|&e| e <= bytes.len() && len >= 4)
            .ok_or_else(|| {
                Error::decode(
                    "update stream",
                    format!(
                        "chunk {chunk} at byte {at}: length {len}, expected 4..={} (the bytes left after the length)",
                        bytes.len() - start
                    ),
                )
            })?;
        let digest: [u8; 4] = bytes[start..start + 4].try_into().expect("4 bytes");
        let fork = spec.fork_of_digest(digest).ok_or_else(|| {
            Error::decode(
                "update stream",
                format!(
                    "chunk {chunk} at byte {at}: fork digest 0x{} is not a fork of this network",
                    alloy_primitives::hex::encode(digest)
                ),
            )
        })?;
        out.push(
            update_from_ssz(&bytes[start + 4..end], fork, &spec.preset).and_then(|u| {
                let slot = u.attested_header.beacon.slot;
                let want = spec.fork_at_slot(slot);
                if want == fork {
                    Ok(u)
                } else {
                    Err(Error::decode(
                        "update stream",
                        format!(
                            "chunk {chunk}: context names {fork:?} but the attested header's slot {slot} is in {want:?}"
                        ),
                    ))
                }
            }),
        );
        at = end;
    }
    Ok(out)
}

/// Decodes a single SSZ object served without a fork context (the beacon
/// API's bootstrap, finality and optimistic updates name their fork only in
/// the `Eth-Consensus-Version` header): the fork is the one in which the
/// bytes decode *and* the object's own slot lies, tried from the newest
/// scheduled fork back to Altair.
pub fn from_ssz_by_slot<T>(
    bytes: &[u8],
    spec: &crate::ChainSpec,
    what: &'static str,
    decode: impl Fn(&[u8], Fork, &Preset) -> Result<T>,
    slot_of: impl Fn(&T) -> u64,
) -> Result<T> {
    let mut tried = Vec::new();
    for entry in spec.forks.iter().rev().filter(|f| f.fork >= Fork::Altair) {
        match decode(bytes, entry.fork, &spec.preset) {
            Ok(v) if spec.fork_at_slot(slot_of(&v)) == entry.fork => return Ok(v),
            Ok(v) => tried.push(format!(
                "{:?}: decodes, but slot {} is in {:?}",
                entry.fork,
                slot_of(&v),
                spec.fork_at_slot(slot_of(&v))
            )),
            Err(e) => tried.push(format!("{:?}: {e}", entry.fork)),
        }
    }
    Err(Error::decode(
        what,
        format!(
            "{} bytes decode in no fork whose slots hold them ({})",
            bytes.len(),
            tried.join("; ")
        ),
    ))
}

// --- encoding: the inverse of the decoders above, for tools and tests that
// serve or store objects in the beacon API's SSZ form.

/// A container field: fixed-size bytes in place, or variable-size bytes
/// behind a 4-byte offset.
pub(crate) enum Part {
    Fixed(Vec<u8>),
    Var(Vec<u8>),
}

pub(crate) fn container(parts: Vec<Part>) -> Vec<u8> {
    let fixed_len: usize = parts
        .iter()
        .map(|p| match p {
            Part::Fixed(b) => b.len(),
            Part::Var(_) => 4,
        })
        .sum();
    let mut fixed = Vec::with_capacity(fixed_len);
    let mut var = Vec::new();
    for p in parts {
        match p {
            Part::Fixed(b) => fixed.extend_from_slice(&b),
            Part::Var(b) => {
                let offset = u32::try_from(fixed_len + var.len()).expect("object under 4 GiB");
                fixed.extend_from_slice(&offset.to_le_bytes());
                var.extend_from_slice(&b);
            }
        }
    }
    fixed.extend_from_slice(&var);
    fixed
}

fn branch_bytes(branch: &[B256], depth: usize) -> Vec<u8> {
    let mut out = vec![0u8; depth * 32];
    for (i, node) in branch.iter().take(depth).enumerate() {
        out[i * 32..(i + 1) * 32].copy_from_slice(node.as_slice());
    }
    out
}

pub(crate) fn header_part(h: &LightClientHeader, fork: Fork) -> Part {
    use ssz::Encode;
    if fork < Fork::Capella {
        return Part::Fixed(h.beacon.as_ssz_bytes());
    }
    let execution = match (&h.execution, fork >= Fork::Deneb) {
        (Some(ExecutionPayloadHeader::Deneb(e)), _) => e.as_ssz_bytes(),
        (Some(ExecutionPayloadHeader::Capella(e)), _) => e.as_ssz_bytes(),
        (None, true) => ExecutionPayloadHeaderDeneb::default().as_ssz_bytes(),
        (None, false) => ExecutionPayloadHeaderCapella::default().as_ssz_bytes(),
    };
    Part::Var(container(vec![
        Part::Fixed(h.beacon.as_ssz_bytes()),
        Part::Var(execution),
        Part::Fixed(branch_bytes(
            &h.execution_branch,
            depth(EXECUTION_PAYLOAD_GINDEX),
        )),
    ]))
}

pub(crate) fn committee_bytes(c: Option<&SyncCommittee>, preset: &Preset) -> Vec<u8> {
    match c {
        Some(c) => {
            let mut out = Vec::with_capacity(committee_len(preset));
            for k in &c.pubkeys {
                out.extend_from_slice(k.as_slice());
            }
            out.extend_from_slice(c.aggregate_pubkey.as_slice());
            out
        }
        None => vec![0u8; committee_len(preset)],
    }
}

fn aggregate_bytes(a: &SyncAggregate) -> Vec<u8> {
    let mut out = vec![0u8; a.sync_committee_bits.len().div_ceil(8)];
    for (i, bit) in a.sync_committee_bits.iter().enumerate() {
        if *bit {
            out[i / 8] |= 1 << (i % 8);
        }
    }
    out.extend_from_slice(a.sync_committee_signature.as_slice());
    out
}

/// Encodes a `LightClientBootstrap` in the SSZ shape of `fork`.
pub fn bootstrap_to_ssz(b: &LightClientBootstrap, fork: Fork, preset: &Preset) -> Vec<u8> {
    container(vec![
        header_part(&b.header, fork),
        Part::Fixed(committee_bytes(Some(&b.current_sync_committee), preset)),
        Part::Fixed(branch_bytes(
            &b.current_sync_committee_branch,
            depth(fork.state_gindices().current_sync_committee),
        )),
    ])
}

/// Encodes a `LightClientUpdate` in the SSZ shape of `fork` (an absent
/// committee or finality proof as the zeros the spec uses for them).
pub fn update_to_ssz(u: &LightClientUpdate, fork: Fork, preset: &Preset) -> Vec<u8> {
    let g = fork.state_gindices();
    let empty = LightClientHeader::default();
    let next = u.next_sync_committee.as_ref();
    let finality = u.finality.as_ref();
    container(vec![
        header_part(&u.attested_header, fork),
        Part::Fixed(committee_bytes(next.map(|n| &n.committee), preset)),
        Part::Fixed(branch_bytes(
            next.map_or(&[][..], |n| &n.branch),
            depth(g.next_sync_committee),
        )),
        header_part(finality.map_or(&empty, |f| &f.finalized_header), fork),
        Part::Fixed(branch_bytes(
            finality.map_or(&[][..], |f| &f.branch),
            depth(g.finalized_root),
        )),
        Part::Fixed(aggregate_bytes(&u.sync_aggregate)),
        Part::Fixed(u.signature_slot.to_le_bytes().to_vec()),
    ])
}

/// Encodes a `LightClientFinalityUpdate` in the SSZ shape of `fork`.
pub fn finality_update_to_ssz(u: &LightClientFinalityUpdate, fork: Fork) -> Vec<u8> {
    container(vec![
        header_part(&u.attested_header, fork),
        header_part(&u.finality.finalized_header, fork),
        Part::Fixed(branch_bytes(
            &u.finality.branch,
            depth(fork.state_gindices().finalized_root),
        )),
        Part::Fixed(aggregate_bytes(&u.sync_aggregate)),
        Part::Fixed(u.signature_slot.to_le_bytes().to_vec()),
    ])
}

/// Encodes a `LightClientOptimisticUpdate` in the SSZ shape of `fork`.
pub fn optimistic_update_to_ssz(u: &LightClientOptimisticUpdate, fork: Fork) -> Vec<u8> {
    container(vec![
        header_part(&u.attested_header, fork),
        Part::Fixed(aggregate_bytes(&u.sync_aggregate)),
        Part::Fixed(u.signature_slot.to_le_bytes().to_vec()),
    ])
}

/// One chunk of the `light_client/updates` SSZ stream: `len ‖ digest ‖ SSZ`
/// (`len` counting digest and SSZ), the update in the fork of its attested
/// header's slot. `None` when that fork is not scheduled.
pub fn update_stream_chunk(u: &LightClientUpdate, spec: &crate::ChainSpec) -> Option<Vec<u8>> {
    let fork = spec.fork_at_slot(u.attested_header.beacon.slot);
    let digest = spec.fork_digest(fork)?;
    let payload = update_to_ssz(u, fork, &spec.preset);
    let mut out = ((4 + payload.len()) as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&digest);
    out.extend_from_slice(&payload);
    Some(out)
}
