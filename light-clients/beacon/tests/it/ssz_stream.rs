//! The beacon API's SSZ forms on real (consensus-spec-tests) objects: the
//! `light_client/updates` chunk stream (`len ‖ fork digest ‖ SSZ`, `len`
//! counting digest and payload) across a Capella → Deneb transition, and
//! single objects served without a fork, whose fork is found from their slot.

use std::path::{Path, PathBuf};

use switchyard_lc_beacon::spectest::{self, StepAction};
use switchyard_lc_beacon::{ChainSpec, Fork, LightClientUpdate, codec};

use crate::support::vectors_dir;

const FORKS: [Fork; 5] = [
    Fork::Altair,
    Fork::Bellatrix,
    Fork::Capella,
    Fork::Deneb,
    Fork::Electra,
];

fn case_dir() -> PathBuf {
    vectors_dir().join(
        "lantern-beacon/test/Lantern.Beacon.Sync.Tests/MockData/minimal/capella/sync/pyspec_tests/deneb_fork",
    )
}

fn raw(dir: &Path, file: &str) -> Vec<u8> {
    let bytes = std::fs::read(dir.join(file)).expect("vector file");
    snap::raw::Decoder::new()
        .decompress_vec(&bytes)
        .expect("raw snappy")
}

/// The case's updates as (decoded, SSZ bytes, fork of the attested slot).
fn updates() -> (ChainSpec, Vec<(LightClientUpdate, Vec<u8>, Fork)>) {
    let dir = case_dir();
    let case = spectest::load_sync_case(|n| std::fs::read(dir.join(n))).expect("case loads");
    let mut out = Vec::new();
    for step in &case.steps {
        if let StepAction::Update { name, update, .. } = &step.action {
            let u = update.as_ref().clone().expect("decodes");
            let fork = case.spec.fork_at_slot(u.attested_header.beacon.slot);
            out.push((u, raw(&dir, &format!("{name}.ssz_snappy")), fork));
        }
    }
    (case.spec, out)
}

fn chunk(spec: &ChainSpec, fork: Fork, payload: &[u8]) -> Vec<u8> {
    let mut c = ((4 + payload.len()) as u64).to_le_bytes().to_vec();
    c.extend_from_slice(&spec.fork_digest(fork).expect("scheduled"));
    c.extend_from_slice(payload);
    c
}

#[test]
fn an_update_stream_across_a_fork_decodes_each_update_in_its_fork() {
    let (spec, updates) = updates();
    let forks: Vec<Fork> = updates.iter().map(|u| u.2).collect();
    assert!(
        forks.contains(&Fork::Capella) && forks.contains(&Fork::Deneb),
        "the case crosses Capella → Deneb: {forks:?}"
    );
    let stream: Vec<u8> = updates
        .iter()
        .flat_map(|(_, bytes, fork)| chunk(&spec, *fork, bytes))
        .collect();
    let got = codec::updates_from_ssz_stream(&stream, &spec).expect("frames");
    assert_eq!(got.len(), updates.len());
    for (g, (want, _, _)) in got.iter().zip(&updates) {
        assert_eq!(g.as_ref().expect("decodes"), want);
    }
    assert!(
        codec::updates_from_ssz_stream(&[], &spec)
            .expect("empty")
            .is_empty()
    );
}

#[test]
fn a_malformed_update_stream_is_refused_with_where_and_why() {
    let (spec, updates) = updates();
    let (_, bytes, fork) = &updates[0];
    let good = chunk(&spec, *fork, bytes);

    // Cut short: the length runs past the end.
    let err = codec::updates_from_ssz_stream(&good[..good.len() - 1], &spec).expect_err("short");
    assert!(
        err.to_string().contains("chunk 0 at byte 0: length"),
        "{err}"
    );
    // A stray byte after a whole chunk: no room for a length.
    let mut tail = good.clone();
    tail.push(0);
    let err = codec::updates_from_ssz_stream(&tail, &spec).expect_err("stray byte");
    assert!(
        err.to_string().contains("expected an 8-byte length"),
        "{err}"
    );
    // The length counted without the context (a known server bug).
    let mut short_len = good.clone();
    short_len[..8].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
    let err = codec::updates_from_ssz_stream(&short_len, &spec);
    assert!(err.is_err() || err.expect("frames")[0].is_err());
    // A digest of another network.
    let mut other = good.clone();
    other[8] ^= 0xff;
    let err = codec::updates_from_ssz_stream(&other, &spec).expect_err("digest");
    assert!(
        err.to_string().contains("is not a fork of this network"),
        "{err}"
    );
    // The right bytes under the wrong fork's context: that update is
    // refused, the next one still read.
    let wrong = if *fork == Fork::Deneb {
        Fork::Capella
    } else {
        Fork::Deneb
    };
    let mut two = chunk(&spec, wrong, bytes);
    two.extend_from_slice(&good);
    let got = codec::updates_from_ssz_stream(&two, &spec).expect("frames");
    assert!(got[0].is_err(), "{:?}", got[0]);
    assert!(got[1].is_ok());
}

#[test]
fn a_bootstrap_served_without_its_fork_decodes_in_the_fork_of_its_slot() {
    let dir = case_dir();
    let case = spectest::load_sync_case(|n| std::fs::read(dir.join(n))).expect("case loads");
    let bytes = raw(&dir, "bootstrap.ssz_snappy");
    let got = codec::from_ssz_by_slot(
        &bytes,
        &case.spec,
        "bootstrap",
        codec::bootstrap_from_ssz,
        |b| b.header.beacon.slot,
    )
    .expect("decodes");
    assert_eq!(got, case.bootstrap);
    let err = codec::from_ssz_by_slot(
        &bytes[..bytes.len() - 3],
        &case.spec,
        "bootstrap",
        codec::bootstrap_from_ssz,
        |b| b.header.beacon.slot,
    )
    .expect_err("truncated");
    assert!(err.to_string().contains("decode in no fork"), "{err}");
}

/// Every bootstrap and update of every sync case (Altair to Electra),
/// decoded and encoded again, gives back the case's bytes; and the stream
/// chunk of an update decodes to the update.
#[test]
fn encoding_inverts_decoding_on_every_sync_case() {
    let mut dirs = Vec::new();
    for (base, forks) in [
        (
            "helios/ethereum/consensus-core/testdata",
            &["deneb", "electra"][..],
        ),
        (
            "lantern-beacon/test/Lantern.Beacon.Sync.Tests/MockData/minimal",
            &["altair", "bellatrix", "capella", "deneb"][..],
        ),
    ] {
        for fork in forks {
            let mut d = vectors_dir().join(base).join(fork);
            if base.starts_with("lantern") {
                d = d.join("sync/pyspec_tests");
            }
            for e in std::fs::read_dir(&d).expect("fork folder") {
                let p = e.expect("entry").path();
                if p.join("steps.yaml").is_file() {
                    dirs.push(p);
                }
            }
        }
    }
    assert_eq!(dirs.len(), 26, "6 helios and 20 lantern cases");
    let mut objects = 0;
    for dir in &dirs {
        let case = spectest::load_sync_case(|n| std::fs::read(dir.join(n))).expect("loads");
        let spec = &case.spec;
        let b = &case.bootstrap;
        let bytes = raw(dir, "bootstrap.ssz_snappy");
        // Cases fed legacy data hold objects in an older fork's shape than
        // their slot's: encode in the shape they decoded in.
        let named = FORKS
            .into_iter()
            .rev()
            .find(|f| codec::bootstrap_from_ssz(&bytes, *f, &spec.preset).as_ref() == Ok(b))
            .expect("decodes in some fork");
        assert_eq!(
            codec::bootstrap_to_ssz(b, named, &spec.preset),
            bytes,
            "{}: bootstrap",
            dir.display()
        );
        objects += 1;
        for step in &case.steps {
            if let StepAction::Update { name, update, .. } = &step.action {
                let u = update.as_ref().as_ref().expect("decodes");
                let bytes = raw(dir, &format!("{name}.ssz_snappy"));
                let fork = FORKS
                    .into_iter()
                    .rev()
                    .find(|f| codec::update_from_ssz(&bytes, *f, &spec.preset).as_ref() == Ok(u))
                    .expect("decodes in some fork");
                assert_eq!(
                    codec::update_to_ssz(u, fork, &spec.preset),
                    bytes,
                    "{}: {name}",
                    dir.display()
                );
                if let Some(chunk) = codec::update_stream_chunk(u, spec) {
                    let back = codec::updates_from_ssz_stream(&chunk, spec).expect("frames");
                    assert_eq!(back[0].as_ref().expect("decodes"), u);
                }
                objects += 1;
            }
        }
    }
    assert!(objects > 100, "{objects} objects");
}
