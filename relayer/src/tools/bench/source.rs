//! The load generator behind the same [`HeaderSource`] seam an RPC origin
//! uses: the watcher asks for heads, headers and receipts, and verifies them
//! with the light client exactly as it does data from a node.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy_primitives::B256;
use switchyard_evm::EvmError;
use switchyard_lc_evm::{Header, Receipt};

use super::{OriginGenerator, thread_cpu_time};
use crate::chain::{BlockReceipts, HeaderSource};

/// How far the pretend chain head runs ahead of what was generated: the
/// watcher sees blocks to fetch, and the generator makes them on demand.
const AHEAD: u64 = 8;

struct Inner {
    generator: OriginGenerator,
    blocks: BTreeMap<u64, (Header, B256, Arc<[Receipt]>)>,
    cpu: Duration,
    /// Per reader (the hub's watcher, each attester's), the highest block
    /// it asked for: a block is dropped only once every reader is `keep`
    /// past it.
    cursors: Vec<u64>,
}

impl Inner {
    fn slowest(&self) -> u64 {
        self.cursors.iter().copied().min().unwrap_or(0)
    }
}

/// One generated chain, shared by its readers.
struct Chain {
    inner: Mutex<Inner>,
    /// Offered load: blocks become available at this rate from `start`
    /// (None: as fast as the hub takes them).
    pace: Option<(std::time::Instant, f64)>,
    first: u64,
    /// Blocks kept below the slowest reader, for a watcher that asks again
    /// (re-routing a destination that fell behind, at most its
    /// `header_lead` back); the fastest reader runs at most this (or
    /// [`AHEAD`], whichever is more) ahead of the slowest. Bounded: memory
    /// stays flat. A block of 1,000
    /// messages is about 0.5 MB, the bulk of the benchmark's own memory.
    keep: usize,
}

/// An origin backed by an [`OriginGenerator`]: one reader of a generated
/// chain. The attesters of `bench --attesters` read the hub's chain through
/// [`GeneratorSource::reader`]: each block is generated once (the chain's
/// cost, not a verifier's) and every reader's light client verifies it on
/// its own.
pub struct GeneratorSource {
    chain: Arc<Chain>,
    reader: usize,
}

impl std::fmt::Debug for GeneratorSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratorSource")
            .field("reader", &self.reader)
            .finish_non_exhaustive()
    }
}

impl GeneratorSource {
    /// Serves `generator`'s chain, keeping its last `keep` blocks.
    pub fn new(generator: OriginGenerator, keep: usize) -> Self {
        let first = generator.tip().number;
        Self {
            chain: Arc::new(Chain {
                inner: Mutex::new(Inner {
                    generator,
                    blocks: BTreeMap::new(),
                    cpu: Duration::ZERO,
                    cursors: vec![first],
                }),
                pace: None,
                first,
                keep: keep.max(1),
            }),
            reader: 0,
        }
    }

    /// Offers `messages_per_second` from now on instead of an unbounded load:
    /// the pretend chain head advances at that rate. Before any
    /// [`GeneratorSource::reader`] is taken.
    ///
    /// # Panics
    ///
    /// If a reader was taken already.
    pub fn paced(self, messages_per_second: f64) -> Self {
        let Self { chain, reader } = self;
        let mut chain = Arc::into_inner(chain).expect("paced before any reader is taken");
        let per_block = f64::from(
            chain
                .inner
                .get_mut()
                .unwrap_or_else(|p| p.into_inner())
                .generator
                .messages_per_block()
                .max(1),
        );
        chain.pace = Some((std::time::Instant::now(), messages_per_second / per_block));
        Self {
            chain: Arc::new(chain),
            reader,
        }
    }

    /// Another reader of the same chain, starting where it started.
    pub fn reader(&self) -> Self {
        let mut g = self.lock();
        g.cursors.push(self.chain.first);
        Self {
            chain: Arc::clone(&self.chain),
            reader: g.cursors.len() - 1,
        }
    }

    /// CPU time spent generating so far (the chain's, whichever reader
    /// asks: count it once).
    pub fn generator_cpu(&self) -> Duration {
        self.lock().cpu
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.chain.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Generates blocks up to `number`; returns block `number` if still kept.
    fn block(&self, number: u64) -> Result<(Header, B256, Arc<[Receipt]>), EvmError> {
        let keep = self.chain.keep as u64;
        let mut g = self.lock();
        let cursor = &mut g.cursors[self.reader];
        *cursor = (*cursor).max(number);
        while g.generator.tip().number < number {
            let before = thread_cpu_time();
            let b = g.generator.next_block();
            if let (Some(a), Some(z)) = (before, thread_cpu_time()) {
                g.cpu += z.saturating_sub(a);
            }
            let n = b.header.number;
            g.blocks
                .insert(n, (b.header, b.hash, Arc::from(b.receipts)));
        }
        let slowest = g.slowest();
        while let Some((&oldest, _)) = g.blocks.first_key_value()
            && oldest + keep <= slowest
        {
            g.blocks.pop_first();
        }
        g.blocks
            .get(&number)
            .cloned()
            .ok_or_else(|| EvmError::NotFound {
                what: format!(
                    "generated block {number} (only the last {} are kept)",
                    self.chain.keep
                ),
            })
    }
}

impl HeaderSource for GeneratorSource {
    async fn head(&self) -> Result<u64, EvmError> {
        let unbounded = {
            let g = self.lock();
            // No further ahead of the slowest reader than that (memory:
            // the blocks between them are kept). Alone, a reader is never
            // held back.
            let lead = AHEAD.max(self.chain.keep as u64);
            (g.generator.tip().number + AHEAD).min(g.slowest() + lead)
        };
        Ok(match self.chain.pace {
            None => unbounded,
            Some((start, blocks_per_second)) => {
                let due = (start.elapsed().as_secs_f64() * blocks_per_second) as u64;
                unbounded.min(self.chain.first + due)
            }
        })
    }

    async fn header(&self, number: u64) -> Result<(Header, B256), EvmError> {
        self.block(number).map(|(h, hash, _)| (h, hash))
    }

    async fn receipts(&self, number: u64) -> Result<BlockReceipts, EvmError> {
        // Generated blocks have no transactions to name.
        self.block(number).map(|(_, _, receipts)| BlockReceipts {
            receipts,
            tx_hashes: Arc::from([]),
        })
    }

    async fn header_by_hash(&self, hash: B256) -> Result<Option<Header>, EvmError> {
        let g = self.lock();
        Ok(g.blocks
            .values()
            .find(|(_, h, _)| *h == hash)
            .map(|(header, _, _)| header.clone()))
    }

    /// The generator is one source: one vote (the bench's origins are
    /// configured `single_endpoint`, so the watcher never asks).
    async fn block_hashes(&self, number: u64) -> Vec<Option<B256>> {
        vec![self.block(number).ok().map(|(_, hash, _)| hash)]
    }

    fn switch_endpoint(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::bench::GenConfig;

    fn chain(keep: usize) -> GeneratorSource {
        let config = GenConfig {
            messages_per_tx: 2,
            txs_per_block: 2,
            foreign_txs_per_block: 1,
            ..GenConfig::default()
        };
        let g = config.generators().expect("config").remove(0);
        GeneratorSource::new(g, keep)
    }

    #[tokio::test]
    async fn readers_of_one_chain_get_the_same_blocks_generated_once() {
        let hub = chain(4);
        let attester = hub.reader();
        let first = hub.chain.first;
        // Alone, a reader is never held back: 8 ahead of the tip.
        assert_eq!(hub.head().await.expect("head"), first + AHEAD);
        let (h, hash) = hub.header(first + 3).await.expect("header");
        assert_eq!((h.number, h.hash()), (first + 3, hash));
        // The slower reader holds the faster one back at the lead.
        assert_eq!(hub.head().await.expect("head"), first + AHEAD);
        for n in first + 4..=first + AHEAD {
            hub.header(n).await.expect("header");
        }
        assert_eq!(hub.head().await.expect("head"), first + AHEAD);
        // The same block, generated once: the same receipts, shared.
        let a = attester.receipts(first + 3).await.expect("receipts");
        let b = hub.receipts(first + 3).await.expect("receipts");
        assert!(Arc::ptr_eq(&a.receipts, &b.receipts));
        assert_eq!(attester.header(first + 3).await.expect("header").1, hash);
        // Every block the slow reader has yet to read is kept, however far
        // the fast one went; once it moves on, the old ones go.
        assert!(attester.header(first + 1).await.is_ok());
        attester.header(first + AHEAD).await.expect("header");
        assert_eq!(
            hub.head().await.expect("head"),
            first + 2 * AHEAD,
            "the lead moved with the slowest reader"
        );
        let err = hub.header(first + 1).await.expect_err("dropped");
        assert!(
            err.to_string().contains("only the last 4 are kept"),
            "{err}"
        );
        assert!(
            hub.header(first + AHEAD - 3).await.is_ok(),
            "keep below the slowest"
        );
    }
}
