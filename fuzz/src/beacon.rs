//! The beacon light client's SSZ decoders, for every fork and both presets.

use alloy_primitives::B256;
use switchyard_lc_beacon::codec::{
    bootstrap_from_ssz, bootstrap_to_ssz, finality_update_from_ssz, finality_update_to_ssz,
    from_ssz_by_slot, header_from_ssz, optimistic_update_from_ssz, optimistic_update_to_ssz,
    sync_aggregate_from_ssz, sync_committee_from_ssz, update_from_ssz, update_stream_chunk,
    update_to_ssz, updates_from_ssz_stream,
};
use switchyard_lc_beacon::{ChainSpec, Fork, ForkEntry, LightClientStore, Preset};

/// What the first input byte selects (bits 1 to 3; bit 0 is the preset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Update = 0,
    Bootstrap = 1,
    FinalityUpdate = 2,
    OptimisticUpdate = 3,
    Parts = 4,
    Stream = 5,
    BySlot = 6,
    Restore = 7,
}

impl Op {
    fn from_byte(b: u8) -> Self {
        match (b >> 1) & 7 {
            0 => Self::Update,
            1 => Self::Bootstrap,
            2 => Self::FinalityUpdate,
            3 => Self::OptimisticUpdate,
            4 => Self::Parts,
            5 => Self::Stream,
            6 => Self::BySlot,
            _ => Self::Restore,
        }
    }
}

/// The two-byte prefix that makes [`beacon_ssz`] run `op` in `fork` of the
/// mainnet (`minimal == false`) or minimal preset.
pub(crate) fn prefix(op: Op, fork: Fork, minimal: bool) -> [u8; 2] {
    let fork = Fork::ALL.iter().position(|f| *f == fork).unwrap_or(0) as u8;
    [((op as u8) << 1) | u8::from(minimal), fork]
}

/// A network of the minimal preset: the forks one epoch apart, so that a
/// slot-based fork choice has something to choose between.
pub(crate) fn minimal_spec() -> ChainSpec {
    ChainSpec {
        preset: Preset::MINIMAL,
        genesis_validators_root: B256::repeat_byte(0x5a),
        forks: Fork::ALL
            .iter()
            .enumerate()
            .map(|(i, fork)| ForkEntry {
                fork: *fork,
                version: [i as u8, 0, 0, 1],
                epoch: i.saturating_sub(1) as u64,
            })
            .collect(),
    }
}

/// Input: `selector ‖ fork ‖ SSZ`. The selector's bit 0 picks the preset
/// (mainnet or minimal), bits 1 to 3 the decoder ([`Op`]); the fork byte
/// indexes `Fork::ALL` (modulo its length). Every decoded object must
/// re-encode to the input bytes and decode again to the same value.
pub fn beacon_ssz(data: &[u8]) {
    let [sel, fork, rest @ ..] = data else {
        return;
    };
    let spec = if sel & 1 == 0 {
        ChainSpec::mainnet()
    } else {
        minimal_spec()
    };
    let preset = spec.preset;
    let fork = Fork::ALL[usize::from(*fork) % Fork::ALL.len()];
    match Op::from_byte(*sel) {
        Op::Update => {
            if let Ok(u) = update_from_ssz(rest, fork, &preset) {
                let enc = update_to_ssz(&u, fork, &preset);
                assert_eq!(enc, rest, "update: encode(decode(x)) != x");
                let again = update_from_ssz(&enc, fork, &preset).expect("re-encoded update");
                assert_eq!(again, u);
            }
        }
        Op::Bootstrap => {
            if let Ok(b) = bootstrap_from_ssz(rest, fork, &preset) {
                let enc = bootstrap_to_ssz(&b, fork, &preset);
                assert_eq!(enc, rest, "bootstrap: encode(decode(x)) != x");
                let again = bootstrap_from_ssz(&enc, fork, &preset).expect("re-encoded bootstrap");
                assert_eq!(again, b);
            }
        }
        Op::FinalityUpdate => {
            if let Ok(u) = finality_update_from_ssz(rest, fork, &preset) {
                let enc = finality_update_to_ssz(&u, fork);
                assert_eq!(enc, rest, "finality update: encode(decode(x)) != x");
                let again =
                    finality_update_from_ssz(&enc, fork, &preset).expect("re-encoded update");
                assert_eq!(again, u);
            }
        }
        Op::OptimisticUpdate => {
            if let Ok(u) = optimistic_update_from_ssz(rest, fork, &preset) {
                let enc = optimistic_update_to_ssz(&u, fork);
                assert_eq!(enc, rest, "optimistic update: encode(decode(x)) != x");
                let again =
                    optimistic_update_from_ssz(&enc, fork, &preset).expect("re-encoded update");
                assert_eq!(again, u);
            }
        }
        Op::Parts => {
            if let Ok(h) = header_from_ssz(rest, fork) {
                let _ = h.validate(&spec);
                let _ = h.beacon_root();
                let _ = h.execution_root(&spec);
            }
            let _ = sync_committee_from_ssz(rest, &preset);
            if let Ok(a) = sync_aggregate_from_ssz(rest, &preset) {
                assert_eq!(a.sync_committee_bits.len(), preset.sync_committee_size);
                let _ = a.participants();
            }
        }
        Op::Stream => {
            if let Ok(chunks) = updates_from_ssz_stream(rest, &spec) {
                for u in chunks.into_iter().flatten() {
                    let chunk = update_stream_chunk(&u, &spec)
                        .expect("a decoded update's fork is scheduled");
                    let again = updates_from_ssz_stream(&chunk, &spec).expect("one chunk");
                    assert_eq!(again.len(), 1);
                    assert_eq!(again[0].as_ref().ok(), Some(&u), "stream chunk round trip");
                }
            }
        }
        Op::BySlot => match usize::from(data[1]) % 3 {
            0 => {
                let _ = from_ssz_by_slot(rest, &spec, "update", update_from_ssz, |u| {
                    u.attested_header.beacon.slot
                });
            }
            1 => {
                let _ = from_ssz_by_slot(rest, &spec, "bootstrap", bootstrap_from_ssz, |b| {
                    b.header.beacon.slot
                });
            }
            _ => {
                let _ = from_ssz_by_slot(
                    rest,
                    &spec,
                    "finality update",
                    finality_update_from_ssz,
                    |u| u.attested_header.beacon.slot,
                );
            }
        },
        Op::Restore => {
            // The store's snapshot (`LightClientStore::snapshot`), read back
            // from Redis after its MAC checked: its own three-byte prefix
            // follows the fork byte, which is ignored here.
            if let Ok(store) = LightClientStore::restore(rest, spec.clone()) {
                let snap = store.snapshot();
                let again = LightClientStore::restore(&snap, spec)
                    .unwrap_or_else(|e| panic!("a snapshot of a restored store is refused: {e}"));
                assert_eq!(again.finalized_header(), store.finalized_header());
                assert_eq!(again.optimistic_header(), store.optimistic_header());
                assert_eq!(
                    again.current_sync_committee(),
                    store.current_sync_committee()
                );
                assert_eq!(again.next_sync_committee(), store.next_sync_committee());
                assert_eq!(
                    again.snapshot(),
                    snap,
                    "snapshot(restore(snapshot)) != snapshot"
                );
            }
        }
    }
}

/// The fork whose SSZ shape holds `h` (its execution header's variant).
fn shape_fork(h: &switchyard_lc_beacon::LightClientHeader) -> Fork {
    match &h.execution {
        None => Fork::Altair,
        Some(switchyard_lc_beacon::ExecutionPayloadHeader::Capella(_)) => Fork::Capella,
        Some(_) => Fork::Deneb,
    }
}

/// Input: UTF-8 beacon API JSON (`{version, data}` envelopes of
/// `/eth/v1/beacon/light_client/*`), given to every reader with the
/// mainnet and the minimal preset. The JSON readers check shape only (a
/// branch of the wrong length is left to the store's proof checks), so
/// what decodes is compared through its SSZ form, which fixes those
/// lengths: when the SSZ encoding of the JSON-decoded object decodes, it
/// must encode to the same bytes again.
pub fn beacon_json(data: &[u8]) {
    use switchyard_lc_beacon::json;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for preset in [Preset::MAINNET, Preset::MINIMAL] {
        if let Ok(b) = json::bootstrap_from_json(text) {
            let fork = shape_fork(&b.header);
            let enc = bootstrap_to_ssz(&b, fork, &preset);
            if let Ok(again) = bootstrap_from_ssz(&enc, fork, &preset) {
                assert_eq!(bootstrap_to_ssz(&again, fork, &preset), enc, "bootstrap");
            }
        }
        let updates = json::update_from_json(text, &preset)
            .map(|u| vec![u])
            .into_iter()
            .chain(json::updates_from_json(text, &preset));
        for u in updates.flatten().take(4) {
            let fork = shape_fork(&u.attested_header);
            let enc = update_to_ssz(&u, fork, &preset);
            if let Ok(again) = update_from_ssz(&enc, fork, &preset) {
                assert_eq!(update_to_ssz(&again, fork, &preset), enc, "update");
            }
        }
        if let Ok(u) = json::finality_update_from_json(text, &preset) {
            let fork = shape_fork(&u.attested_header);
            let enc = finality_update_to_ssz(&u, fork);
            if let Ok(again) = finality_update_from_ssz(&enc, fork, &preset) {
                assert_eq!(finality_update_to_ssz(&again, fork), enc, "finality update");
            }
        }
        if let Ok(u) = json::optimistic_update_from_json(text, &preset) {
            let fork = shape_fork(&u.attested_header);
            let enc = optimistic_update_to_ssz(&u, fork);
            if let Ok(again) = optimistic_update_from_ssz(&enc, fork, &preset) {
                assert_eq!(
                    optimistic_update_to_ssz(&again, fork),
                    enc,
                    "optimistic update"
                );
            }
        }
    }
}
