//! Attestation: the EIP-712 batch digest, signing it, and recovering the
//! signer from the signature (what a verifying sink or the Inbox does).
//!
//! `single/*` count one signature per iteration (signatures/s). The `batch`
//! groups do a whole batch as the dispatcher does (ids of the encoded
//! messages, `batch_root`, then sign) and as a verifying sink does (the
//! same root, the digest, recover, compare), counted in messages, for the
//! batch sizes 1, 200 (the dispatcher's default) and 2000 (its maximum).

use std::hint::black_box;

use alloy::primitives::{Address, B256, Signature, address, keccak256};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use switchyard_evm::attest::{Attester, batch_digest, recover_signer};
use switchyard_types::{MESSAGE_VERSION, Message, batch_root};

// anvil's first dev key: a public test key, never a real secret.
const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const CHAIN_ID: u64 = 31_337;
const INBOX: Address = address!("5FbDB2315678afecb367f032d93F642f64180aa3");
const BATCH_SIZES: [usize; 3] = [1, 200, 2_000];
const BODY_SIZE: usize = 128;

fn attester() -> Attester {
    Attester::from_hex(KEY, "bench key").expect("the anvil dev key is a valid key")
}

/// `n` encoded messages with 128-byte bodies, as a lane entry holds them.
fn encoded_messages(n: usize) -> Vec<Vec<u8>> {
    (0..n as u32)
        .map(|nonce| {
            Message {
                version: MESSAGE_VERSION,
                nonce,
                origin: 1_000,
                sender: B256::repeat_byte(0x5e),
                destination: 2_000,
                recipient: B256::repeat_byte(0x7c),
                body: vec![nonce.to_be_bytes()[3]; BODY_SIZE].into(),
            }
            .encode()
        })
        .collect()
}

fn root_of(messages: &[Vec<u8>]) -> B256 {
    let ids: Vec<B256> = messages.iter().map(keccak256).collect();
    batch_root(&ids)
}

fn single(c: &mut Criterion) {
    let attester = attester();
    let root = keccak256("a batch root");
    let digest = batch_digest(CHAIN_ID, INBOX, root);
    let sig = attester
        .sign_batch(CHAIN_ID, INBOX, root)
        .expect("the dev key signs");
    let parsed = Signature::from_raw(&sig).expect("a 65-byte signature");
    assert_eq!(
        parsed
            .recover_address_from_prehash(&digest)
            .expect("a valid signature recovers"),
        attester.address()
    );

    let mut group = c.benchmark_group("single");
    group.throughput(Throughput::Elements(1));
    group.bench_function("batch_digest", |b| {
        b.iter(|| batch_digest(CHAIN_ID, INBOX, black_box(root)));
    });
    group.bench_function("sign_batch", |b| {
        b.iter(|| {
            attester
                .sign_batch(CHAIN_ID, INBOX, black_box(root))
                .expect("the dev key signs")
        });
    });
    group.bench_function("recover", |b| {
        b.iter(|| recover_signer(black_box(digest), black_box(&sig)).expect("recovers"));
    });
    // alloy's k256 recovery, for the ratio (what the sink used before).
    group.bench_function("recover_k256", |b| {
        b.iter(|| {
            Signature::from_raw(black_box(&sig))
                .expect("a 65-byte signature")
                .recover_address_from_prehash(black_box(&digest))
                .expect("a valid signature recovers")
        });
    });
    group.finish();
}

fn batch(c: &mut Criterion) {
    let attester = attester();
    let signer = attester.address();
    let mut group = c.benchmark_group("batch");
    for n in BATCH_SIZES {
        let messages = encoded_messages(n);
        let sig = attester
            .sign_batch(CHAIN_ID, INBOX, root_of(&messages))
            .expect("the dev key signs");
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("attest", n), &messages, |b, messages| {
            b.iter(|| {
                attester
                    .sign_batch(CHAIN_ID, INBOX, root_of(black_box(messages)))
                    .expect("the dev key signs")
            });
        });
        group.bench_with_input(BenchmarkId::new("verify", n), &messages, |b, messages| {
            b.iter(|| {
                let digest = batch_digest(CHAIN_ID, INBOX, root_of(black_box(messages)));
                let recovered = recover_signer(digest, black_box(&sig)).expect("recovers");
                assert_eq!(recovered, signer, "the batch's attester signed it");
            });
        });
    }
    group.finish();
}

criterion_group!(benches, single, batch);
criterion_main!(benches);
