//! The light client's per-block work on a block of `txs` Mailbox
//! transactions dispatching `per_tx` messages each (128-byte bodies, the
//! load generator's default; 20 × 50 is its default block): the receipts
//! root recomputation, the header hash, `verify_block` (both, as the hub
//! runs them) and `extract_messages` over the verified block.
//!
//! The blocks are built here the way `relayer/src/bench/gen.rs` builds them
//! (typed receipts, ABI-encoded `Dispatch` logs with their indexed topics,
//! consensus blooms, a Prague header), without depending on the relayer.
//! Throughput is counted in messages, except `header/hash` (one header).

use std::hint::black_box;

use alloy_primitives::{BloomInput, keccak256};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use switchyard_lc_evm::{
    Address, B64, B256, BlockRef, Bloom, Bytes, DISPATCH_TOPIC, Domain, Header, HeaderChain, Log,
    Message, Receipt, TxType, U256, extract_messages, receipts_root,
};
use switchyard_types::MESSAGE_VERSION;

const ORIGIN: Domain = 1_000;
const BODY_SIZE: usize = 128;

/// (Mailbox transactions, messages per transaction): one message per
/// transaction, the generator's default block, and a larger block.
const SHAPES: [(usize, usize); 3] = [(100, 1), (20, 50), (40, 50)];

fn mailbox() -> Address {
    Address::repeat_byte(0x4d)
}

/// A block whose receipts carry `txs * per_tx` Dispatch logs, and its header
/// (whose receipts root matches them).
fn block(txs: usize, per_tx: usize) -> (Header, Vec<Receipt>) {
    let mut nonce = 0u32;
    let mut gas = 0u64;
    let mut block_bloom = Bloom::ZERO;
    let receipts: Vec<Receipt> = (0..txs)
        .map(|tx| {
            let mut logs_bloom = Bloom::ZERO;
            let logs = (0..per_tx)
                .map(|_| {
                    let log = dispatch_log(nonce);
                    nonce += 1;
                    logs_bloom.accrue(BloomInput::Raw(log.address.as_slice()));
                    for t in &log.topics {
                        logs_bloom.accrue(BloomInput::Raw(t.as_slice()));
                    }
                    log
                })
                .collect();
            gas += 26_000 + 12_000 * per_tx as u64;
            block_bloom.accrue_bloom(&logs_bloom);
            Receipt {
                tx_type: [TxType::Legacy, TxType::Eip1559, TxType::Eip7702][tx % 3],
                status: true,
                cumulative_gas_used: gas,
                logs_bloom,
                logs,
            }
        })
        .collect();
    let header = Header {
        parent_hash: keccak256("parent"),
        ommers_hash: keccak256([0xc0]),
        beneficiary: Address::repeat_byte(0xbe),
        state_root: keccak256("state"),
        transactions_root: keccak256("transactions"),
        receipts_root: receipts_root(&receipts),
        logs_bloom: block_bloom,
        difficulty: U256::ZERO,
        number: 20_000_001,
        gas_limit: 36_000_000.max(gas),
        gas_used: gas,
        timestamp: 1_750_000_012,
        extra_data: Bytes::from_static(b"switchyard bench"),
        mix_hash: keccak256("randao"),
        nonce: B64::ZERO,
        base_fee_per_gas: Some(7_000_000_000),
        withdrawals_root: Some(keccak256("withdrawals")),
        blob_gas_used: Some(0),
        excess_blob_gas: Some(0),
        parent_beacon_block_root: Some(keccak256("beacon")),
        requests_hash: Some(keccak256("")),
    };
    (header, receipts)
}

/// The Mailbox's `Dispatch(sender, destination, recipient, message)` log of
/// message `nonce`: three indexed topics and the message as ABI `bytes`.
fn dispatch_log(nonce: u32) -> Log {
    let sender = Address::repeat_byte(0x5e).into_word();
    let destination: Domain = 2_000 + nonce % 3;
    let recipient = B256::repeat_byte(0x7c);
    let body: Vec<u8> = (0..BODY_SIZE)
        .map(|i| keccak256((u64::from(nonce) << 16 | i as u64).to_be_bytes())[0])
        .collect();
    let message = Message {
        version: MESSAGE_VERSION,
        nonce,
        origin: ORIGIN,
        sender,
        destination,
        recipient,
        body: body.into(),
    };
    let encoded = message.encode();
    let mut data = Vec::with_capacity(64 + encoded.len().div_ceil(32) * 32);
    data.extend_from_slice(&U256::from(32).to_be_bytes::<32>());
    data.extend_from_slice(&U256::from(encoded.len()).to_be_bytes::<32>());
    data.extend_from_slice(&encoded);
    data.resize(64 + encoded.len().div_ceil(32) * 32, 0);
    Log {
        address: mailbox(),
        topics: vec![
            DISPATCH_TOPIC,
            sender,
            B256::left_padding_from(&destination.to_be_bytes()),
            recipient,
        ],
        data: data.into(),
    }
}

/// A chain that trusts `header` as its checkpoint, so the block is
/// confirmed and `verify_block` runs its full checks on it.
fn chain_trusting(header: &Header) -> HeaderChain {
    let checkpoint = BlockRef {
        number: header.number,
        hash: header.hash(),
    };
    HeaderChain::new(checkpoint, 0, 1).expect("a window of 1 exceeds 0 confirmations")
}

fn shape_id(txs: usize, per_tx: usize) -> String {
    format!("{txs}x{per_tx}")
}

fn receipts(c: &mut Criterion) {
    let mut group = c.benchmark_group("receipts_root");
    for (txs, per_tx) in SHAPES {
        let (_, receipts) = block(txs, per_tx);
        group.throughput(Throughput::Elements((txs * per_tx) as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(shape_id(txs, per_tx)),
            &receipts,
            |b, receipts| b.iter(|| receipts_root(black_box(receipts))),
        );
    }
    group.finish();
}

fn header(c: &mut Criterion) {
    let (header, _) = block(1, 1);
    let mut group = c.benchmark_group("header");
    group.throughput(Throughput::Elements(1));
    group.bench_function("hash", |b| b.iter(|| black_box(&header).hash()));
    group.finish();
}

fn verify_and_extract(c: &mut Criterion) {
    let mut group = c.benchmark_group("light_client");
    for (txs, per_tx) in SHAPES {
        let (header, receipts) = block(txs, per_tx);
        let messages = txs * per_tx;
        let chain = chain_trusting(&header);
        group.throughput(Throughput::Elements(messages as u64));
        group.bench_function(
            BenchmarkId::new("verify_block", shape_id(txs, per_tx)),
            |b| {
                b.iter(|| {
                    chain
                        .verify_block(black_box(&header), black_box(&receipts))
                        .expect("the receipts match the header")
                });
            },
        );
        let verified = chain
            .verify_block(&header, &receipts)
            .expect("the receipts match the header");
        assert_eq!(
            extract_messages(&verified, mailbox(), ORIGIN)
                .messages
                .len(),
            messages,
            "every Dispatch log is well formed"
        );
        group.bench_function(
            BenchmarkId::new("extract_messages", shape_id(txs, per_tx)),
            |b| b.iter(|| extract_messages(black_box(&verified), mailbox(), ORIGIN)),
        );
    }
    group.finish();
}

criterion_group!(benches, receipts, header, verify_and_extract);
criterion_main!(benches);
