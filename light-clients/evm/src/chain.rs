//! The header-chain light client: a trusted checkpoint, parent-hash linking,
//! and a confirmation depth.
//!
//! This is the weaker of the EVM trust modes (see ARCHITECTURE.md, "Trust
//! model"): nothing here checks proof of work or a validator signature. A
//! header is trusted because it links, by parent hash, to an
//! operator-given checkpoint, and a block's contents are trusted once
//! `confirmations` headers have been linked on top of it. It fits
//! development networks and proof-of-authority chains whose RPC the operator
//! trusts to follow the canonical chain; on Ethereum itself the beacon light
//! client is the one to use.
//!
//! # Reorgs
//!
//! The chain only ever grows by one linked header at a time. A reorg that
//! replaces blocks at or below the tip shows up as a header whose parent is
//! not the tip ([`Error::ParentMismatch`]) or whose height is not the next
//! one ([`Error::HeightGap`]); it is refused, never followed silently. The
//! caller decides: wait, or [`HeaderChain::rewind_to`] the common ancestor
//! and apply the new branch. A reorg deeper than `confirmations` means
//! blocks already relayed were not final; rewinding below
//! [`HeaderChain::confirmed_height`] is allowed (down to the checkpoint) but
//! the caller should treat it as an incident.

use std::collections::VecDeque;

use alloy_primitives::B256;
use serde::{Deserialize, Serialize};

use crate::{Error, Header, Log, Receipt, receipts_root};

/// A block named by number and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlockRef {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
}

/// What the chain keeps of an accepted header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WindowEntry {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// Parent hash: kept so persisted state can be checked for continuity
    /// when it is loaded.
    pub parent_hash: B256,
    /// The header's receipts root.
    pub receipts_root: B256,
}

/// A header that [`HeaderChain::verify_header`] accepted, to be given to
/// [`HeaderChain::apply_header`]. It can only be made by verification.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a verified header changes nothing until it is applied"]
pub struct VerifiedHeader {
    entry: WindowEntry,
    timestamp: u64,
}

impl VerifiedHeader {
    /// Block number.
    pub fn number(&self) -> u64 {
        self.entry.number
    }

    /// Block hash (computed from the header, never taken from an RPC).
    pub fn hash(&self) -> B256 {
        self.entry.hash
    }

    /// Parent hash.
    pub fn parent_hash(&self) -> B256 {
        self.entry.parent_hash
    }

    /// The header's receipts root.
    pub fn receipts_root(&self) -> B256 {
        self.entry.receipts_root
    }

    /// The header's timestamp.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }
}

/// A block whose header the chain accepted, that is confirmed, and whose
/// receipts match the header's receipts root: its logs may be relayed.
/// It can only be made by [`HeaderChain::verify_block`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedBlock<'a> {
    number: u64,
    hash: B256,
    timestamp: u64,
    receipts: &'a [Receipt],
}

impl<'a> VerifiedBlock<'a> {
    /// Block number.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Block hash.
    pub fn hash(&self) -> B256 {
        self.hash
    }

    /// Block timestamp (Unix seconds).
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// The verified receipts, in block order.
    pub fn receipts(&self) -> &'a [Receipt] {
        self.receipts
    }

    /// Every log of the block with its position: `(tx_index,
    /// log_index_in_block, log)`, where the log index counts across the
    /// whole block as JSON-RPC's `logIndex` does.
    pub fn logs(&self) -> impl Iterator<Item = (usize, usize, &'a Log)> + 'a {
        self.receipts
            .iter()
            .enumerate()
            .flat_map(|(tx, r)| r.logs.iter().map(move |log| (tx, log)))
            .enumerate()
            .map(|(i, (tx, log))| (tx, i, log))
    }

    #[cfg(test)]
    pub(crate) fn new_unchecked(
        number: u64,
        hash: B256,
        timestamp: u64,
        receipts: &'a [Receipt],
    ) -> Self {
        Self {
            number,
            hash,
            timestamp,
            receipts,
        }
    }
}

/// The light client of one EVM chain followed by header linking.
///
/// State: a trusted checkpoint and the window of headers verified above it
/// (at most `max_window`; as it fills, the oldest is dropped and becomes the
/// checkpoint). Serializable so the relayer can persist and resume it;
/// deserializing checks that the window continues the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "HeaderChainState")]
pub struct HeaderChain {
    checkpoint: BlockRef,
    confirmations: u64,
    max_window: usize,
    window: VecDeque<WindowEntry>,
}

/// The serialized form, checked before it becomes a [`HeaderChain`].
#[derive(Deserialize)]
struct HeaderChainState {
    checkpoint: BlockRef,
    confirmations: u64,
    max_window: usize,
    window: VecDeque<WindowEntry>,
}

impl TryFrom<HeaderChainState> for HeaderChain {
    type Error = Error;

    fn try_from(s: HeaderChainState) -> Result<Self, Error> {
        let mut chain = Self::new(s.checkpoint, s.confirmations, s.max_window)?;
        if s.window.len() > s.max_window {
            return Err(Error::CorruptState {
                height: s.checkpoint.number,
                what: "window_length",
                expected: format!("at most {}", s.max_window),
                got: s.window.len().to_string(),
            });
        }
        for e in s.window {
            let tip = chain.tip();
            if e.number.checked_sub(1) != Some(tip.number) {
                return Err(Error::CorruptState {
                    height: e.number,
                    what: "number",
                    expected: tip.number.saturating_add(1).to_string(),
                    got: e.number.to_string(),
                });
            }
            if e.parent_hash != tip.hash {
                return Err(Error::CorruptState {
                    height: e.number,
                    what: "parent_hash",
                    expected: tip.hash.to_string(),
                    got: e.parent_hash.to_string(),
                });
            }
            chain.window.push_back(e);
        }
        Ok(chain)
    }
}

impl HeaderChain {
    /// A chain trusting `checkpoint`, relaying blocks `confirmations` deep,
    /// and keeping the last `max_window` headers. The window must be larger
    /// than the confirmation depth, or a block would be pruned before it is
    /// confirmed ([`Error::WindowTooSmall`]).
    pub fn new(checkpoint: BlockRef, confirmations: u64, max_window: usize) -> Result<Self, Error> {
        if u64::try_from(max_window).map_or(true, |w| w <= confirmations) {
            return Err(Error::WindowTooSmall {
                max_window,
                confirmations,
            });
        }
        Ok(Self {
            checkpoint,
            confirmations,
            max_window,
            window: VecDeque::new(),
        })
    }

    /// The trusted checkpoint: the highest block below the window.
    pub fn checkpoint(&self) -> BlockRef {
        self.checkpoint
    }

    /// The confirmation depth.
    pub fn confirmations(&self) -> u64 {
        self.confirmations
    }

    /// The most headers kept above the checkpoint.
    pub fn max_window(&self) -> usize {
        self.max_window
    }

    /// The headers kept above the checkpoint, oldest first.
    pub fn window(&self) -> impl ExactSizeIterator<Item = &WindowEntry> {
        self.window.iter()
    }

    /// The highest accepted block (the checkpoint when none was applied).
    pub fn tip(&self) -> BlockRef {
        self.window.back().map_or(self.checkpoint, |e| BlockRef {
            number: e.number,
            hash: e.hash,
        })
    }

    /// The highest block whose contents may be relayed: the tip minus the
    /// confirmation depth, never below the checkpoint (trusted by
    /// definition).
    pub fn confirmed_height(&self) -> u64 {
        self.tip()
            .number
            .saturating_sub(self.confirmations)
            .max(self.checkpoint.number)
    }

    /// The accepted hash at `height`: the checkpoint's or a window entry's.
    pub fn hash_at(&self, height: u64) -> Option<B256> {
        if height == self.checkpoint.number {
            return Some(self.checkpoint.hash);
        }
        let index = height.checked_sub(self.checkpoint.number)?.checked_sub(1)?;
        self.window
            .get(usize::try_from(index).ok()?)
            .map(|e| e.hash)
    }

    fn check_link(&self, height: u64, parent_hash: B256) -> Result<(), Error> {
        let tip = self.tip();
        if height.checked_sub(1) != Some(tip.number) {
            return Err(Error::HeightGap {
                expected: tip.number.saturating_add(1),
                got: height,
            });
        }
        if parent_hash != tip.hash {
            return Err(Error::ParentMismatch {
                height,
                expected: tip.hash,
                got: parent_hash,
            });
        }
        Ok(())
    }

    fn verified(header: &Header, hash: B256) -> VerifiedHeader {
        VerifiedHeader {
            entry: WindowEntry {
                number: header.number,
                hash,
                parent_hash: header.parent_hash,
                receipts_root: header.receipts_root,
            },
            timestamp: header.timestamp,
        }
    }

    /// Checks that `header` extends the tip: a valid fork layout, height
    /// tip + 1 ([`Error::HeightGap`]), parent hash equal to the tip's hash
    /// ([`Error::ParentMismatch`]). The hash is computed here, never taken
    /// from elsewhere. Does not change the chain.
    pub fn verify_header(&self, header: &Header) -> Result<VerifiedHeader, Error> {
        header.layout()?;
        self.check_link(header.number, header.parent_hash)?;
        Ok(Self::verified(header, header.hash()))
    }

    /// As [`HeaderChain::verify_header`], and also refuses the header when
    /// the hash an RPC claimed for it is not its hash
    /// ([`Error::HashMismatch`], expected = computed, got = claimed): the
    /// RPC is then lying or serving another block.
    pub fn verify_header_with_hash(
        &self,
        header: &Header,
        claimed: B256,
    ) -> Result<VerifiedHeader, Error> {
        header.layout()?;
        let hash = header.hash();
        if hash != claimed {
            return Err(Error::HashMismatch {
                height: header.number,
                expected: hash,
                got: claimed,
            });
        }
        self.check_link(header.number, header.parent_hash)?;
        Ok(Self::verified(header, hash))
    }

    /// Makes a verified header the new tip, dropping the oldest window entry
    /// (which becomes the checkpoint) past `max_window`. Fails only when the
    /// chain moved since the header was verified and it no longer links.
    #[expect(
        clippy::needless_pass_by_value,
        reason = "applying consumes the verified header: it is a one-use token"
    )]
    pub fn apply_header(&mut self, header: VerifiedHeader) -> Result<(), Error> {
        self.check_link(header.entry.number, header.entry.parent_hash)?;
        self.window.push_back(header.entry);
        while self.window.len() > self.max_window {
            if let Some(oldest) = self.window.pop_front() {
                self.checkpoint = BlockRef {
                    number: oldest.number,
                    hash: oldest.hash,
                };
            }
        }
        Ok(())
    }

    /// Drops the headers above `height`, which becomes the tip: the way to
    /// follow a reorg after finding the common ancestor. Refuses heights
    /// below the checkpoint, which the chain no longer knows.
    pub fn rewind_to(&mut self, height: u64) -> Result<(), Error> {
        let Some(keep) = height.checked_sub(self.checkpoint.number) else {
            return Err(Error::RewindBelowCheckpoint {
                checkpoint: self.checkpoint.number,
                got: height,
            });
        };
        // A height above the tip keeps everything.
        self.window
            .truncate(usize::try_from(keep).unwrap_or(usize::MAX));
        Ok(())
    }

    /// Checks a block for relaying: `header` must be the one accepted at its
    /// height, in the window or the checkpoint itself (trusted by
    /// definition) ([`Error::UnknownHeader`], [`Error::HashMismatch`] with
    /// expected = accepted, got = computed), at or below the confirmed height
    /// ([`Error::NotConfirmed`]), and `receipts` must be exactly the block's
    /// receipts: their trie root equals the header's receipts root
    /// ([`Error::ReceiptsRootMismatch`]).
    pub fn verify_block<'a>(
        &self,
        header: &Header,
        receipts: &'a [Receipt],
    ) -> Result<VerifiedBlock<'a>, Error> {
        let height = header.number;
        let expected = self.hash_at(height).ok_or(Error::UnknownHeader {
            height,
            lowest: self.checkpoint.number,
            highest: self.tip().number,
        })?;
        let hash = header.hash();
        if hash != expected {
            return Err(Error::HashMismatch {
                height,
                expected,
                got: hash,
            });
        }
        let confirmed = self.confirmed_height();
        if height > confirmed {
            return Err(Error::NotConfirmed { height, confirmed });
        }
        let got = receipts_root(receipts);
        if got != header.receipts_root {
            return Err(Error::ReceiptsRootMismatch {
                height,
                expected: header.receipts_root,
                got,
            });
        }
        Ok(VerifiedBlock {
            number: height,
            hash,
            timestamp: header.timestamp,
            receipts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Log, TxType};
    use alloy_primitives::{Address, Bytes};

    /// Headers `from+1..=from+n` linked onto `parent`.
    fn linked(parent: BlockRef, n: u64) -> Vec<Header> {
        let mut out = Vec::new();
        let mut prev = parent;
        for i in 1..=n {
            let h = Header {
                parent_hash: prev.hash,
                number: prev.number + 1,
                timestamp: 1_000 + i,
                receipts_root: receipts_root(&[]),
                base_fee_per_gas: Some(1),
                ..Header::default()
            };
            prev = BlockRef {
                number: h.number,
                hash: h.hash(),
            };
            out.push(h);
        }
        out
    }

    fn genesis() -> BlockRef {
        BlockRef {
            number: 100,
            hash: B256::repeat_byte(0x99),
        }
    }

    fn chain_with(n: u64, confirmations: u64, window: usize) -> (HeaderChain, Vec<Header>) {
        let mut chain = HeaderChain::new(genesis(), confirmations, window).expect("config");
        let headers = linked(genesis(), n);
        for h in &headers {
            let v = chain.verify_header(h).expect("links");
            chain.apply_header(v).expect("applies");
        }
        (chain, headers)
    }

    #[test]
    fn window_must_exceed_confirmations() {
        assert_eq!(
            HeaderChain::new(genesis(), 3, 3),
            Err(Error::WindowTooSmall {
                max_window: 3,
                confirmations: 3
            })
        );
        assert!(HeaderChain::new(genesis(), 3, 4).is_ok());
    }

    #[test]
    fn height_gap_names_expected_and_got() {
        let (chain, _) = chain_with(2, 0, 8);
        let h = Header {
            number: 104,
            parent_hash: chain.tip().hash,
            ..Header::default()
        };
        assert_eq!(
            chain.verify_header(&h),
            Err(Error::HeightGap {
                expected: 103,
                got: 104
            })
        );
        let h = Header {
            number: 102,
            parent_hash: chain.tip().hash,
            ..Header::default()
        };
        assert_eq!(
            chain.verify_header(&h),
            Err(Error::HeightGap {
                expected: 103,
                got: 102
            })
        );
    }

    #[test]
    fn parent_mismatch_names_expected_and_got() {
        let (chain, _) = chain_with(2, 0, 8);
        let h = Header {
            number: 103,
            parent_hash: B256::repeat_byte(7),
            ..Header::default()
        };
        assert_eq!(
            chain.verify_header(&h),
            Err(Error::ParentMismatch {
                height: 103,
                expected: chain.tip().hash,
                got: B256::repeat_byte(7)
            })
        );
    }

    #[test]
    fn claimed_hash_must_be_the_computed_one() {
        let chain = HeaderChain::new(genesis(), 0, 8).expect("config");
        let h = &linked(genesis(), 1)[0];
        let claimed = B256::repeat_byte(0x42);
        assert_eq!(
            chain.verify_header_with_hash(h, claimed),
            Err(Error::HashMismatch {
                height: 101,
                expected: h.hash(),
                got: claimed
            })
        );
        let v = chain.verify_header_with_hash(h, h.hash()).expect("matches");
        assert_eq!(v.hash(), h.hash());
    }

    #[test]
    fn layout_is_checked_before_linking() {
        let chain = HeaderChain::new(genesis(), 0, 8).expect("config");
        let mut h = linked(genesis(), 1).remove(0);
        h.base_fee_per_gas = None;
        h.withdrawals_root = Some(B256::ZERO);
        assert_eq!(
            chain.verify_header(&h),
            Err(Error::HeaderLayout {
                height: 101,
                field: "withdrawals_root",
                missing: "base_fee_per_gas"
            })
        );
    }

    #[test]
    fn verify_does_not_mutate_and_stale_apply_is_refused() {
        let chain0 = HeaderChain::new(genesis(), 0, 8).expect("config");
        let hs = linked(genesis(), 1);
        let v1 = chain0.verify_header(&hs[0]).expect("links");
        let v1_again = chain0.verify_header(&hs[0]).expect("links");
        assert_eq!(chain0.tip(), genesis());
        let mut chain = chain0;
        chain.apply_header(v1).expect("applies");
        assert_eq!(
            chain.apply_header(v1_again),
            Err(Error::HeightGap {
                expected: 102,
                got: 101
            })
        );
    }

    #[test]
    fn window_prunes_and_checkpoint_moves_up() {
        let (chain, headers) = chain_with(10, 2, 4);
        assert_eq!(chain.window().len(), 4);
        assert_eq!(chain.tip().number, 110);
        assert_eq!(
            chain.checkpoint(),
            BlockRef {
                number: 106,
                hash: headers[5].hash()
            }
        );
        assert_eq!(chain.confirmed_height(), 108);
        assert_eq!(chain.hash_at(107), Some(headers[6].hash()));
        assert_eq!(chain.hash_at(105), None);
        assert_eq!(chain.hash_at(111), None);
    }

    #[test]
    fn confirmed_height_never_below_checkpoint() {
        let (chain, _) = chain_with(1, 5, 8);
        assert_eq!(chain.confirmed_height(), 100);
    }

    #[test]
    fn unknown_header_names_the_range() {
        let (chain, headers) = chain_with(10, 0, 4);
        let err = chain.verify_block(&headers[0], &[]).expect_err("pruned");
        assert_eq!(
            err,
            Error::UnknownHeader {
                height: 101,
                lowest: 106,
                highest: 110
            }
        );
        assert!(!err.is_retryable());
        let next = linked(chain.tip(), 1).remove(0);
        let err = chain.verify_block(&next, &[]).expect_err("above tip");
        assert_eq!(
            err,
            Error::UnknownHeader {
                height: 111,
                lowest: 106,
                highest: 110
            }
        );
        assert!(err.is_retryable());
    }

    #[test]
    fn hash_mismatch_names_accepted_and_computed() {
        let (chain, headers) = chain_with(3, 0, 8);
        let mut forged = headers[1].clone();
        forged.gas_used = 1;
        assert_eq!(
            chain.verify_block(&forged, &[]),
            Err(Error::HashMismatch {
                height: 102,
                expected: headers[1].hash(),
                got: forged.hash()
            })
        );
    }

    #[test]
    fn not_confirmed_until_deep_enough() {
        let (mut chain, headers) = chain_with(3, 2, 8);
        assert_eq!(
            chain.verify_block(&headers[1], &[]),
            Err(Error::NotConfirmed {
                height: 102,
                confirmed: 101
            })
        );
        assert!(chain.verify_block(&headers[0], &[]).is_ok());
        let next = linked(chain.tip(), 1).remove(0);
        let v = chain.verify_header(&next).expect("links");
        chain.apply_header(v).expect("applies");
        assert!(chain.verify_block(&headers[1], &[]).is_ok());
    }

    #[test]
    fn receipts_root_mismatch_names_both_roots() {
        let (chain, headers) = chain_with(1, 0, 8);
        let receipts = vec![Receipt {
            tx_type: TxType::Eip1559,
            status: true,
            cumulative_gas_used: 21_000,
            logs: vec![Log {
                address: Address::repeat_byte(1),
                topics: vec![],
                data: Bytes::new(),
            }],
            ..Receipt::default()
        }];
        assert_eq!(
            chain.verify_block(&headers[0], &receipts),
            Err(Error::ReceiptsRootMismatch {
                height: 101,
                expected: headers[0].receipts_root,
                got: receipts_root(&receipts)
            })
        );
    }

    #[test]
    fn checkpoint_block_is_verifiable() {
        let (chain, headers) = chain_with(10, 0, 4);
        let block = chain
            .verify_block(&headers[5], &[])
            .expect("checkpoint block");
        assert_eq!((block.number(), block.hash()), (106, headers[5].hash()));
    }

    #[test]
    fn rewind_follows_a_reorg() {
        let (mut chain, headers) = chain_with(5, 0, 8);
        // A competing block 104 whose parent is 103.
        let mut fork = linked(
            BlockRef {
                number: 103,
                hash: headers[2].hash(),
            },
            1,
        )
        .remove(0);
        fork.gas_used = 9;
        assert!(matches!(
            chain.verify_header(&fork),
            Err(Error::HeightGap { .. })
        ));
        chain.rewind_to(103).expect("above checkpoint");
        assert_eq!(
            chain.tip(),
            BlockRef {
                number: 103,
                hash: headers[2].hash()
            }
        );
        let v = chain.verify_header(&fork).expect("links after rewind");
        chain.apply_header(v).expect("applies");
        assert_eq!(chain.tip().hash, fork.hash());
        assert_eq!(
            chain.rewind_to(99),
            Err(Error::RewindBelowCheckpoint {
                checkpoint: 100,
                got: 99
            })
        );
        chain.rewind_to(1_000).expect("no-op above the tip");
        assert_eq!(chain.tip().number, 104);
    }

    #[test]
    fn state_round_trips_and_corruption_is_refused() {
        let (chain, _) = chain_with(6, 1, 4);
        let json = serde_json::to_value(&chain).expect("serializes");
        let back: HeaderChain = serde_json::from_value(json.clone()).expect("deserializes");
        assert_eq!(back, chain);

        let mut bad = json.clone();
        bad["window"][2]["parent_hash"] = serde_json::json!(B256::repeat_byte(5));
        let err = serde_json::from_value::<HeaderChain>(bad).expect_err("broken link");
        assert!(err.to_string().contains("parent_hash"), "{err}");

        let mut bad = json.clone();
        bad["window"][0]["number"] = serde_json::json!(1);
        let err = serde_json::from_value::<HeaderChain>(bad).expect_err("wrong number");
        assert!(err.to_string().contains("number"), "{err}");

        let mut bad = json;
        bad["max_window"] = serde_json::json!(1);
        let err = serde_json::from_value::<HeaderChain>(bad).expect_err("window too small");
        assert!(err.to_string().contains("too small"), "{err}");
    }

    #[test]
    fn logs_are_numbered_across_the_block() {
        let log = Log::default();
        let receipts = vec![
            Receipt {
                logs: vec![log.clone(), log.clone()],
                ..Receipt::default()
            },
            Receipt::default(),
            Receipt {
                logs: vec![log],
                ..Receipt::default()
            },
        ];
        let block = VerifiedBlock::new_unchecked(1, B256::ZERO, 0, &receipts);
        let positions: Vec<_> = block.logs().map(|(tx, i, _)| (tx, i)).collect();
        assert_eq!(positions, vec![(0, 0), (0, 1), (2, 2)]);
    }
}
