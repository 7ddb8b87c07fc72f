//! The receipt proof on real data: helios' recorded mainnet block 21925176
//! (Cancun, 202 receipts of types 0 and 2, 16 withdrawals). Proving a
//! message from Ethereum is recomputing the block's receipts root from all
//! its receipts and checking it against the header the light client
//! accepted (`verify_block`), which the hub does once per block whatever
//! the number of messages in it; then reading the Dispatch logs.
//!
//! Rows: the root alone, `verify_block` (header hash + root), and
//! `verify_block` + `extract_messages`, throughput in receipts.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;
use switchyard_lc_evm::{Address, BlockRef, HeaderChain, extract_messages, receipts_root};

#[path = "../tests/support/rpc_json.rs"]
mod rpc_json;

fn json(name: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vectors/helios/tests/testdata/rpc")
        .join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).expect("JSON")
}

fn bench(c: &mut Criterion) {
    let header = rpc_json::header_from_rpc(&json("block.json"));
    let receipts: Vec<_> = json("receipts.json")
        .as_array()
        .expect("receipts")
        .iter()
        .map(rpc_json::receipt_from_rpc)
        .collect();
    assert_eq!(receipts.len(), 202);
    assert_eq!(
        receipts_root(&receipts),
        header.receipts_root,
        "real data recomputes"
    );
    let mut chain = HeaderChain::new(
        BlockRef {
            number: header.number - 1,
            hash: header.parent_hash,
        },
        0,
        64,
    )
    .expect("chain");
    let v = chain.verify_header(&header).expect("links");
    chain.apply_header(v).expect("applies");
    // A Mailbox address no log in the block has: every log is looked at,
    // none is a Dispatch.
    let mailbox = Address::repeat_byte(0x4d);

    let mut g = c.benchmark_group("receipt_proof");
    g.throughput(Throughput::Elements(receipts.len() as u64));
    g.bench_function("receipts_root/mainnet_21925176", |b| {
        b.iter(|| receipts_root(black_box(&receipts)))
    });
    g.bench_function("verify_block/mainnet_21925176", |b| {
        b.iter(|| {
            chain
                .verify_block(black_box(&header), black_box(&receipts))
                .expect("valid")
                .number()
        })
    });
    g.bench_function("verify_and_extract/mainnet_21925176", |b| {
        b.iter(|| {
            let v = chain
                .verify_block(black_box(&header), black_box(&receipts))
                .expect("valid");
            extract_messages(&v, mailbox, 1).messages.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
