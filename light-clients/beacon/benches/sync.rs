//! The beacon light client's work on real mainnet data (helios' Capella
//! chain, 512-member committee): building a store from a bootstrap (which
//! decompresses the committee's keys), verifying an update, and, for
//! comparison in the same run, blst's `fast_aggregate_verify` alone over the
//! same keys, message and signature: the floor an update's verification
//! cannot go under; and binding a verified header to its execution block
//! (the first link of a receipt proof).

use std::hint::black_box;
use std::path::PathBuf;

use alloy_primitives::B256;
use blst::min_pk::{PublicKey, Signature};
use criterion::{Criterion, criterion_group, criterion_main};
use sha2::{Digest, Sha256};
use switchyard_lc_beacon::execution::{bind_execution, header_from_beacon_block_json};
use switchyard_lc_beacon::{ChainSpec, LightClientStore, LightClientUpdate, Preset, json};

const CHECKPOINT: &str = "5afc212a7924789b2bc86acad3ab3a6ffb1f6e97253ea50bee7f4f51422c9275";
/// At or after every signature slot in the data.
const NOW: u64 = 7_109_432;
const DST: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

fn read(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vectors/helios/ethereum/testdata")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn bench(c: &mut Criterion) {
    let spec = ChainSpec::mainnet();
    let root: B256 = CHECKPOINT.parse().expect("hex");
    let bootstrap = json::bootstrap_from_json(&read("bootstrap.json")).expect("bootstrap");
    let updates =
        json::updates_from_json(&read("updates.json"), &Preset::MAINNET).expect("updates");
    let finality: LightClientUpdate =
        json::finality_update_from_json(&read("finality.json"), &Preset::MAINNET)
            .expect("finality update")
            .into();

    c.bench_function("bootstrap", |b| {
        b.iter(|| {
            LightClientStore::from_bootstrap(root, black_box(bootstrap.clone()), spec.clone())
                .expect("valid bootstrap")
        });
    });

    // Synced to period 867: the finality update verifies against it.
    let mut store =
        LightClientStore::from_bootstrap(root, bootstrap.clone(), spec.clone()).expect("bootstrap");
    for u in &updates {
        let v = store.verify_update(u, NOW).expect("valid update");
        store.apply_update(v).expect("fresh");
    }
    c.bench_function("verify_update/full_committee", |b| {
        b.iter(|| {
            store
                .verify_update(black_box(&finality), NOW)
                .expect("valid")
        });
    });

    // The same signature check with blst alone: participating keys already
    // decompressed, signing root computed outside the loop.
    let committee = store.current_sync_committee();
    let bits = &finality.sync_aggregate.sync_committee_bits;
    let keys: Vec<PublicKey> = committee
        .pubkeys
        .iter()
        .zip(bits)
        .filter(|(_, bit)| **bit)
        .map(|(k, _)| PublicKey::key_validate(k.as_slice()).expect("valid key"))
        .collect();
    let fork = spec.fork_at_slot(finality.signature_slot - 1);
    let domain = spec.sync_committee_domain(fork).expect("scheduled fork");
    let signing_root: [u8; 32] = Sha256::new()
        .chain_update(finality.attested_header.beacon.root())
        .chain_update(domain)
        .finalize()
        .into();
    let sig = Signature::from_bytes(finality.sync_aggregate.sync_committee_signature.as_slice())
        .expect("signature");
    let refs: Vec<&PublicKey> = keys.iter().collect();
    assert_eq!(
        sig.fast_aggregate_verify(true, &signing_root, DST, &refs),
        blst::BLST_ERROR::BLST_SUCCESS,
        "the same check as the store's"
    );
    c.bench_function("blst_fast_aggregate_verify_alone", |b| {
        b.iter(|| sig.fast_aggregate_verify(true, black_box(&signing_root), DST, &refs));
    });

    // The receipt proof's first link: the verified attested header (slot
    // 7109430) to its execution block 17923112, whose receipts root then
    // proves messages (the receipts-root rows are in the EVM crate's
    // `receipt_proof` bench, on a recorded mainnet block).
    let exec = header_from_beacon_block_json(&read("blocks/7109430.json")).expect("block");
    let attested = &finality.attested_header;
    bind_execution(attested, &spec, &exec).expect("binds");
    c.bench_function("bind_execution", |b| {
        b.iter(|| bind_execution(black_box(attested), &spec, black_box(&exec)).expect("binds"));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
