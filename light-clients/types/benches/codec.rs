//! The message codec: encoding into a reused buffer, strict decoding, and the
//! message id, for the body sizes `switchyard bench` sweeps (32 to 2048
//! bytes; 128 is its default). Throughput is one message per iteration, so
//! criterion's elements/s read as messages/s on one core.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use switchyard_types::{B256, MESSAGE_VERSION, Message, id_of_encoded};

const BODY_SIZES: [usize; 4] = [32, 128, 512, 2048];

/// A version-3 message with an incompressible `body_size`-byte body (a
/// fixed xorshift stream: the same bytes on every run).
fn message(body_size: usize) -> Message {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let body: Vec<u8> = (0..body_size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    Message {
        version: MESSAGE_VERSION,
        nonce: 4_242,
        origin: 1_000,
        sender: B256::repeat_byte(0x5e),
        destination: 2_000,
        recipient: B256::repeat_byte(0x7c),
        body: body.into(),
    }
}

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(1));
    for size in BODY_SIZES {
        let m = message(size);
        let encoded = m.encode();

        // The hot path: the buffer is reused, so only the copy is measured.
        let mut buf = Vec::with_capacity(m.encoded_len());
        group.bench_with_input(BenchmarkId::new("encode_into", size), &m, |b, m| {
            b.iter(|| {
                buf.clear();
                black_box(m).encode_into(&mut buf);
                black_box(&buf);
            });
        });
        group.bench_with_input(BenchmarkId::new("decode", size), &encoded, |b, bytes| {
            b.iter(|| Message::decode(black_box(bytes)).expect("the bytes are a valid encoding"));
        });
        // `Message::id` encodes, then hashes: what a component holding only
        // the decoded message pays.
        group.bench_with_input(BenchmarkId::new("id", size), &m, |b, m| {
            b.iter(|| black_box(m).id());
        });
        // The id of bytes already encoded (the dispatcher's case): keccak alone.
        group.bench_with_input(
            BenchmarkId::new("id_of_encoded", size),
            &encoded,
            |b, bytes| b.iter(|| id_of_encoded(black_box(bytes))),
        );
    }
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
