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
}

/// An origin backed by an [`OriginGenerator`].
pub struct GeneratorSource {
    inner: Mutex<Inner>,
    /// Offered load: blocks become available at this rate from `start`
    /// (None: as fast as the hub takes them).
    pace: Option<(std::time::Instant, f64)>,
    first: u64,
    /// Blocks kept after generation, for a watcher that asks again
    /// (re-routing a destination that fell behind, at most its
    /// `header_lead` back). Bounded: memory stays flat. A block of 1,000
    /// messages is about 0.5 MB, the bulk of the benchmark's own memory.
    keep: usize,
}

impl std::fmt::Debug for GeneratorSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratorSource").finish_non_exhaustive()
    }
}

impl GeneratorSource {
    /// Serves `generator`'s chain, keeping its last `keep` blocks.
    pub fn new(generator: OriginGenerator, keep: usize) -> Self {
        let first = generator.tip().number;
        Self {
            inner: Mutex::new(Inner {
                generator,
                blocks: BTreeMap::new(),
                cpu: Duration::ZERO,
            }),
            pace: None,
            first,
            keep: keep.max(1),
        }
    }

    /// Offers `messages_per_second` from now on instead of an unbounded load:
    /// the pretend chain head advances at that rate.
    pub fn paced(mut self, messages_per_second: f64) -> Self {
        let per_block = f64::from(self.lock().generator.messages_per_block().max(1));
        self.pace = Some((std::time::Instant::now(), messages_per_second / per_block));
        self
    }

    /// CPU time spent generating so far.
    pub fn generator_cpu(&self) -> Duration {
        self.lock().cpu
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Generates blocks up to `number`; returns block `number` if still kept.
    fn block(&self, number: u64) -> Result<(Header, B256, Arc<[Receipt]>), EvmError> {
        let mut g = self.lock();
        while g.generator.tip().number < number {
            let before = thread_cpu_time();
            let b = g.generator.next_block();
            if let (Some(a), Some(z)) = (before, thread_cpu_time()) {
                g.cpu += z.saturating_sub(a);
            }
            let n = b.header.number;
            g.blocks
                .insert(n, (b.header, b.hash, Arc::from(b.receipts)));
            while g.blocks.len() > self.keep {
                g.blocks.pop_first();
            }
        }
        g.blocks
            .get(&number)
            .cloned()
            .ok_or_else(|| EvmError::NotFound {
                what: format!(
                    "generated block {number} (only the last {} are kept)",
                    self.keep
                ),
            })
    }
}

impl HeaderSource for GeneratorSource {
    async fn head(&self) -> Result<u64, EvmError> {
        let unbounded = self.lock().generator.tip().number + AHEAD;
        Ok(match self.pace {
            None => unbounded,
            Some((start, blocks_per_second)) => {
                let due = (start.elapsed().as_secs_f64() * blocks_per_second) as u64;
                unbounded.min(self.first + due)
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
