//! The two roots over message ids: the depth-32 incremental merkle tree
//! (append, then the root) and the attestation `batch_root` (one keccak over
//! the concatenated ids). Throughput is counted in messages (leaves or ids),
//! except `merkle/root`, which is one root per iteration.

use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use switchyard_types::{B256, IncrementalMerkle, batch_root, keccak256};

const BATCH_SIZES: [usize; 2] = [100, 1_000];

/// Leaves already in the tree before a measured batch: not a power of two,
/// so the frontier is a realistic mix of filled and empty slots.
const PRIOR_LEAVES: u32 = 12_345;

/// `n` distinct message ids.
fn ids(n: usize) -> Vec<B256> {
    (0..n as u64).map(|i| keccak256(i.to_be_bytes())).collect()
}

fn tree_with(leaves: u32) -> IncrementalMerkle {
    let mut tree = IncrementalMerkle::new();
    for i in 0..leaves {
        tree.ingest(keccak256(i.to_be_bytes()))
            .expect("far below the 2^32 - 1 leaf capacity");
    }
    tree
}

fn incremental(c: &mut Criterion) {
    let prior = tree_with(PRIOR_LEAVES);
    let mut group = c.benchmark_group("merkle");
    for n in BATCH_SIZES {
        let leaves = ids(n);
        group.throughput(Throughput::Elements(n as u64));
        // A batch of messages appended, then the root published for it:
        // the per-batch cost of the tree, per message. The tree is cloned
        // outside the timing (1 KiB) so every iteration starts alike.
        group.bench_with_input(
            BenchmarkId::new("ingest_then_root", n),
            &leaves,
            |b, leaves| {
                b.iter_batched_ref(
                    || prior.clone(),
                    |tree| {
                        for leaf in leaves {
                            tree.ingest(*leaf)
                                .expect("far below the 2^32 - 1 leaf capacity");
                        }
                        tree.root()
                    },
                    BatchSize::SmallInput,
                );
            },
        );
    }
    // The root alone: always 32 hashes, whatever the count.
    group.throughput(Throughput::Elements(1));
    group.bench_function("root", |b| b.iter(|| black_box(&prior).root()));
    group.finish();
}

fn batch(c: &mut Criterion) {
    let mut group = c.benchmark_group("batch_root");
    for n in BATCH_SIZES {
        let ids = ids(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &ids, |b, ids| {
            b.iter(|| batch_root(black_box(ids)));
        });
    }
    group.finish();
}

criterion_group!(benches, incremental, batch);
criterion_main!(benches);
