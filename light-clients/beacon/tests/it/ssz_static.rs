//! consensus-spec-tests `ssz_static` (mainnet, `ssz_random/case_0`) from
//! Lantern.Beacon: decode each light-client object in its fork's shape and
//! compare `hash_tree_root` with `roots.yaml`.

use alloy_primitives::B256;
use ssz::Decode;
use switchyard_lc_beacon::types::{
    ExecutionPayloadHeaderCapella, ExecutionPayloadHeaderDeneb, roots,
};
use switchyard_lc_beacon::{BeaconBlockHeader, Fork, Preset, codec};
use tree_hash::TreeHash;

use crate::support::vectors_dir;

fn root_of(fork: Fork, ty: &str, bytes: &[u8]) -> Option<B256> {
    let p = &Preset::MAINNET;
    let decoded = |r: switchyard_lc_beacon::Result<B256>| {
        Some(r.unwrap_or_else(|e| panic!("{fork:?} {ty}: {e}")))
    };
    match ty {
        "BeaconBlockHeader" => Some(
            BeaconBlockHeader::from_ssz_bytes(bytes)
                .expect("beacon header")
                .tree_hash_root(),
        ),
        "SyncCommittee" => decoded(codec::sync_committee_from_ssz(bytes, p).map(|c| c.root())),
        "SyncAggregate" => {
            decoded(codec::sync_aggregate_from_ssz(bytes, p).map(|a| roots::sync_aggregate(&a)))
        }
        "LightClientHeader" => {
            decoded(codec::header_from_ssz(bytes, fork).map(|h| roots::header(&h, fork)))
        }
        "LightClientBootstrap" => {
            decoded(codec::bootstrap_from_ssz(bytes, fork, p).map(|b| roots::bootstrap(&b, fork)))
        }
        "LightClientUpdate" => {
            decoded(codec::update_from_ssz(bytes, fork, p).map(|u| roots::update(&u, fork, p)))
        }
        "LightClientFinalityUpdate" => decoded(
            codec::finality_update_from_ssz(bytes, fork, p)
                .map(|u| roots::finality_update(&u, fork)),
        ),
        "LightClientOptimisticUpdate" => decoded(
            codec::optimistic_update_from_ssz(bytes, fork, p)
                .map(|u| roots::optimistic_update(&u, fork)),
        ),
        "ExecutionPayloadHeader" if fork == Fork::Capella => Some(
            ExecutionPayloadHeaderCapella::from_ssz_bytes(bytes)
                .expect("Capella execution header")
                .tree_hash_root(),
        ),
        "ExecutionPayloadHeader" if fork == Fork::Deneb => Some(
            ExecutionPayloadHeaderDeneb::from_ssz_bytes(bytes)
                .expect("Deneb execution header")
                .tree_hash_root(),
        ),
        // Bellatrix execution headers, blocks and bodies are not light-client
        // objects.
        _ => None,
    }
}

#[test]
fn lantern_ssz_static_roots() {
    let root = vectors_dir().join("lantern-beacon/test/Lantern.Beacon.Sync.Tests/MockData/mainnet");
    let mut checked = Vec::new();
    for (fork, name) in [
        (Fork::Phase0, "phase0"),
        (Fork::Altair, "altair"),
        (Fork::Bellatrix, "bellatrix"),
        (Fork::Capella, "capella"),
        (Fork::Deneb, "deneb"),
    ] {
        let dir = root.join(name).join("ssz_static");
        let mut types: Vec<String> = std::fs::read_dir(&dir)
            .expect("ssz_static folder")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        types.sort();
        for ty in types {
            let case = dir.join(&ty).join("ssz_random/case_0");
            let raw = std::fs::read(case.join("serialized.ssz_snappy")).expect("serialized");
            let bytes = snap::raw::Decoder::new()
                .decompress_vec(&raw)
                .expect("raw snappy");
            let Some(got) = root_of(fork, &ty, &bytes) else {
                continue;
            };
            let roots_yaml = std::fs::read_to_string(case.join("roots.yaml")).expect("roots");
            let roots: serde_norway::Value = serde_norway::from_str(&roots_yaml).expect("yaml");
            let want: B256 = roots["root"]
                .as_str()
                .expect("root")
                .parse()
                .expect("hex root");
            assert_eq!(got, want, "{name} {ty}");
            checked.push(format!("{name}/{ty}"));
        }
    }
    assert_eq!(checked.len(), 28, "{checked:?}");
}
