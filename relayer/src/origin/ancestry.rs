//! Closing a gap between what the header chain holds and a finalized anchor
//! far ahead of it (a first start from an older checkpoint, hours of
//! downtime, a beacon API outage, a long non-finality), by walking backward
//! from the anchor.
//!
//! An ancestor of a finalized block is final: trusted by hash linking alone,
//! whoever served it. So the walk starts at the anchor's execution block
//! hash and follows parent hashes down to a block the watcher already
//! holds (the light client's window at or above the gate, or an earlier
//! walk). What it keeps is one hash per block (32 bytes; at most
//! [`MAX_GAP`] blocks), not headers: the watcher then reads the headers
//! forward, each by its hash, in its bounded window, and routes them as they
//! come.

use std::collections::VecDeque;

use alloy_primitives::B256;
use switchyard_lc_evm::{BlockRef, HeaderChain};

use crate::chain::HeaderSource;
use crate::error::HubError;

/// The longest gap closed by one walk: 2^20 blocks (32 MiB of hashes; about
/// 145 days of Ethereum blocks, far beyond the two weeks a beacon checkpoint
/// stays usable).
pub const MAX_GAP: u64 = 1 << 20;

/// Headers asked for at once while walking: by number, in parallel, each
/// then checked to be the parent the walk expects (a block served under the
/// wrong number is asked for again by hash).
const CHUNK: u64 = 32;

/// Hashes of consecutive blocks `first ..= first + len - 1`, all ancestors
/// of a finalized block (or that block itself).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ancestry {
    first: u64,
    hashes: VecDeque<B256>,
}

/// Where a walk ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Walk {
    /// The anchor descends from a block the watcher holds at `height`: the
    /// ancestry now reaches the anchor.
    Linked {
        /// The highest block the walk and the watcher agree on.
        height: u64,
    },
    /// Below the gate, the anchor's ancestor at `height` is `finalized` but
    /// the watcher routed `held`: the routed branch is not final.
    Mismatch {
        /// Height of the disagreement.
        height: u64,
        /// The finalized chain's block there.
        finalized: B256,
        /// The block the watcher holds there.
        held: B256,
    },
}

impl Ancestry {
    /// The hash at `height`, if known.
    pub fn get(&self, height: u64) -> Option<B256> {
        let i = usize::try_from(height.checked_sub(self.first)?).ok()?;
        self.hashes.get(i).copied()
    }

    /// The highest block known, if any.
    pub fn top(&self) -> Option<u64> {
        (!self.hashes.is_empty()).then(|| self.first + self.hashes.len() as u64 - 1)
    }

    /// Forgets the blocks at or below `height` (routed: not needed again).
    pub fn drop_to(&mut self, height: u64) {
        while !self.hashes.is_empty() && self.first <= height {
            self.hashes.pop_front();
            self.first += 1;
        }
    }

    /// Number of hashes held.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether no hash is held.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The hash the watcher already knows at `height`: from this ancestry,
    /// or from the light client's window at or above `floor` (the gate:
    /// below it the light client's blocks were routed and are not replaced).
    fn known(&self, lc: &HeaderChain, floor: u64, height: u64) -> Option<B256> {
        self.get(height)
            .or_else(|| (height >= floor).then(|| lc.hash_at(height)).flatten())
    }

    /// Walks from `anchor` down to a block the watcher knows, through
    /// `source`; on [`Walk::Linked`] the ancestry holds every block from just
    /// above the link up to the anchor. `floor` is the gate: the walk never
    /// goes below it (a block there that differs is a [`Walk::Mismatch`]).
    pub async fn walk<S: HeaderSource>(
        &mut self,
        source: &S,
        lc: &HeaderChain,
        floor: u64,
        anchor: BlockRef,
        chain: &str,
    ) -> Result<Walk, HubError> {
        let gap = anchor.number.saturating_sub(floor);
        if gap > MAX_GAP {
            return Err(HubError::State {
                what: format!("finalized ancestry of {chain}"),
                reason: format!(
                    "the finalized block {} is {gap} blocks past the last routed block {floor}, more than {MAX_GAP}: start from a recent checkpoint",
                    anchor.number
                ),
            });
        }
        // Hashes found, from the anchor down.
        let mut found: Vec<B256> = Vec::new();
        let mut expect = anchor.hash;
        let mut height = anchor.number;
        // Headers read by number ahead of the walk: `cache[i]` is block
        // `cache_lo + i` as an endpoint served it (checked before use).
        let mut cache: Vec<Option<switchyard_lc_evm::Header>> = Vec::new();
        let mut cache_lo = height + 1;
        loop {
            match self.known(lc, floor, height) {
                Some(k) if k == expect => break,
                Some(k) if height <= floor => {
                    return Ok(Walk::Mismatch {
                        height,
                        finalized: expect,
                        held: k,
                    });
                }
                _ => {}
            }
            if height <= floor {
                // Nothing known at the gate (the light client's window moved
                // past it): nothing to link to.
                return Err(HubError::State {
                    what: format!("finalized ancestry of {chain}"),
                    reason: format!(
                        "walking back from finalized block {} reached block {height} without meeting a block the watcher holds",
                        anchor.number
                    ),
                });
            }
            found.push(expect);
            let cached = height
                .checked_sub(cache_lo)
                .and_then(|i| cache.get_mut(usize::try_from(i).ok()?))
                .and_then(Option::take)
                .filter(|h| h.hash() == expect);
            let header = match cached {
                Some(h) => h,
                None => source.header_by_hash(expect).await?.ok_or_else(|| {
                    HubError::Evm(switchyard_evm::EvmError::NotFound {
                        what: format!("block {expect} (an ancestor of the finalized block)"),
                    })
                })?,
            };
            if header.number != height {
                return Err(HubError::Evm(switchyard_evm::EvmError::Malformed {
                    what: "block header",
                    reason: format!(
                        "block {expect} claims number {}, expected {height} (an ancestor of finalized block {})",
                        header.number, anchor.number
                    ),
                }));
            }
            expect = header.parent_hash;
            height -= 1;
            if height < cache_lo && height > floor {
                cache_lo = height.saturating_sub(CHUNK - 1).max(floor + 1);
                cache = futures::future::join_all((cache_lo..=height).map(|n| source.header(n)))
                    .await
                    .into_iter()
                    .map(|r| r.ok().map(|(h, _)| h))
                    .collect();
            }
        }
        // `found` holds height + 1 ..= anchor, top first.
        found.reverse();
        let start = height + 1;
        match self.top() {
            Some(top) if top + 1 == start => self.hashes.extend(found),
            _ => {
                self.first = start;
                self.hashes = found.into();
            }
        }
        Ok(Walk::Linked { height })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestry_answers_by_height_and_forgets_what_was_routed() {
        let mut a = Ancestry {
            first: 10,
            hashes: (0..5u8).map(B256::repeat_byte).collect(),
        };
        assert_eq!(a.get(9), None);
        assert_eq!(a.get(10), Some(B256::repeat_byte(0)));
        assert_eq!(a.get(14), Some(B256::repeat_byte(4)));
        assert_eq!(a.get(15), None);
        assert_eq!(a.top(), Some(14));
        a.drop_to(12);
        assert_eq!(
            (a.get(12), a.get(13), a.len()),
            (None, Some(B256::repeat_byte(3)), 2)
        );
        a.drop_to(100);
        assert!(a.is_empty());
        assert_eq!(a.top(), None);
    }
}
