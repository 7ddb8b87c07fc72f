//! The null sink of `switchyard bench`: a destination that checks every
//! attestation exactly as an Inbox would (EIP-712 digest of the batch root,
//! signer recovered and compared with the attester) and counts every message
//! once, by (origin, nonce), like the Inbox's replay bitmap.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use alloy_primitives::{Address, B256, Bytes, keccak256};
use switchyard_evm::EvmError;
use switchyard_evm::attest::{batch_digest, recover_signer};
use switchyard_evm::submitter::Included;
use switchyard_types::{Domain, Message, batch_root};

use crate::chain::BatchSink;
use crate::store::SeenNonces;

/// Nonces (bits) remembered per origin: about a minute of one origin's
/// messages at 75,000 a second, in 512 KiB. Memory stays flat however long
/// the run.
const WINDOW_WORDS: usize = 1 << 16;

/// Which nonces of one origin were delivered, over a sliding window of the
/// most recent `limit` × 64 nonces (default [`WINDOW_WORDS`]).
#[derive(Debug)]
struct NonceWindow {
    /// Nonce / 64 of `words[0]`.
    base: u64,
    words: std::collections::VecDeque<u64>,
    /// Words kept at most.
    limit: usize,
}

impl Default for NonceWindow {
    fn default() -> Self {
        Self::with_limit(WINDOW_WORDS)
    }
}

/// What a nonce was, to a [`NonceWindow`].
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    First,
    Again,
    /// Below the window: cannot be told apart, counted on its own.
    TooOld,
}

impl NonceWindow {
    fn with_limit(limit: usize) -> Self {
        Self {
            base: 0,
            words: std::collections::VecDeque::new(),
            limit,
        }
    }

    fn mark(&mut self, nonce: u32) -> Seen {
        let (word, bit) = (u64::from(nonce) / 64, 1u64 << (nonce % 64));
        if word < self.base {
            return Seen::TooOld;
        }
        while word >= self.base + self.words.len() as u64 {
            if self.words.len() == self.limit {
                self.words.pop_front();
                self.base += 1;
            } else {
                self.words.push_back(0);
            }
        }
        if word < self.base {
            return Seen::TooOld;
        }
        let w = &mut self.words[(word - self.base) as usize];
        if *w & bit != 0 {
            Seen::Again
        } else {
            *w |= bit;
            Seen::First
        }
    }
}

/// A verifying destination that stores nothing but a nonce bitmap.
#[derive(Debug)]
pub struct NullSink {
    domain: Domain,
    chain_id: u64,
    inbox: Address,
    /// The attesters the sink counts (sorted), and how many must sign.
    attesters: Vec<Address>,
    threshold: usize,
    seen: Mutex<HashMap<Domain, NonceWindow>>,
    /// Words each origin's window keeps: [`WINDOW_WORDS`], or every nonce
    /// of the run ([`NullSink::ledger`]).
    window_words: usize,
    shared: Option<SeenNonces>,
    delivered: AtomicU64,
    duplicates: AtomicU64,
    too_old: AtomicU64,
    batches: AtomicU64,
}

impl NullSink {
    /// A sink for `domain` accepting batches signed by `attester` for
    /// (`chain_id`, `inbox`).
    pub fn new(domain: Domain, chain_id: u64, inbox: Address, attester: Address) -> Self {
        Self {
            domain,
            chain_id,
            inbox,
            attesters: vec![attester],
            threshold: 1,
            seen: Mutex::new(HashMap::new()),
            window_words: WINDOW_WORDS,
            shared: None,
            delivered: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            too_old: AtomicU64::new(0),
            batches: AtomicU64::new(0),
        }
    }

    /// Counts `threshold` signatures of `attesters` instead, as an Inbox
    /// with that set does.
    #[must_use]
    pub fn committee(mut self, mut attesters: Vec<Address>, threshold: usize) -> Self {
        attesters.sort_unstable();
        self.attesters = attesters;
        self.threshold = threshold;
        self
    }

    /// Keeps every delivered nonce of the run instead of a sliding window
    /// (one bit a message: 12 MB for 100 million), so that the parts of a
    /// multi-process run can be checked against each other afterwards
    /// ([`NullSink::ledger_entries`], [`merge_ledgers`]) with nothing
    /// shared on the hot path.
    #[must_use]
    pub fn ledger(mut self) -> Self {
        self.window_words = usize::MAX;
        self
    }

    /// Every (origin, word index, bits) this sink has marked, for
    /// [`merge_ledgers`]: with [`NullSink::ledger`], every nonce of the run.
    pub fn ledger_entries(&self) -> Vec<LedgerWords> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<LedgerWords> = seen
            .iter()
            .map(|(&origin, w)| LedgerWords {
                destination: self.domain,
                origin,
                base: w.base,
                words: w.words.iter().copied().collect(),
            })
            .collect();
        out.sort_by_key(|l| (l.destination, l.origin));
        out
    }

    /// Keeps the nonce bitmap in Redis (see [`SeenNonces`]).
    #[must_use]
    pub fn shared(mut self, seen: SeenNonces) -> Self {
        self.shared = Some(seen);
        self
    }

    /// Distinct messages delivered.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Messages received again after their first delivery (a replay the
    /// Inbox would skip).
    pub fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }

    /// Messages whose nonce had left the window when they arrived: neither
    /// counted as delivered nor as duplicates. A correct run has none (the
    /// window spans about a minute of traffic).
    pub fn too_old(&self) -> u64 {
        self.too_old.load(Ordering::Relaxed)
    }

    /// Batches accepted.
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    fn refuse(reason: String) -> EvmError {
        EvmError::SimulationReverted { reason }
    }

    /// Checks the attestation and every message; returns the signed digest
    /// (it stands in for a transaction hash) and (origin, nonce, id) of each
    /// message, in batch order.
    fn check(
        &self,
        messages: &[Bytes],
        signatures: &[Bytes],
    ) -> Result<(B256, Vec<Checked>), EvmError> {
        let ids: Vec<B256> = messages.iter().map(keccak256).collect();
        let digest = batch_digest(self.chain_id, self.inbox, batch_root(&ids));
        // The Inbox's rule: at least `threshold` signatures, each of an
        // attester, by strictly increasing signer.
        if signatures.len() < self.threshold {
            return Err(Self::refuse(format!(
                "BelowThreshold: {} signatures, {} needed",
                signatures.len(),
                self.threshold
            )));
        }
        let mut prev = Address::ZERO;
        for sig in signatures {
            let signer = recover_signer(digest, sig).map_err(|e| Self::refuse(format!("{e}")))?;
            if signer <= prev {
                return Err(Self::refuse(format!(
                    "SignersNotSorted: {prev} then {signer}"
                )));
            }
            if self.attesters.binary_search(&signer).is_err() {
                return Err(Self::refuse(format!(
                    "NotAttester: {signer} is not one of {:?}",
                    self.attesters
                )));
            }
            prev = signer;
        }
        let mut out = Vec::with_capacity(messages.len());
        for (i, raw) in messages.iter().enumerate() {
            let m = Message::decode(raw).map_err(|e| Self::refuse(format!("message {i}: {e}")))?;
            if m.destination != self.domain {
                return Err(Self::refuse(format!(
                    "message {i}: WrongDestination: expected {}, got {}",
                    self.domain, m.destination
                )));
            }
            out.push((m.origin, m.nonce, ids[i]));
        }
        Ok((digest, out))
    }

    /// Counts each message once, in process.
    fn mark_local(&self, digest: B256, checked: &[Checked]) -> Included {
        let mut delivered = Vec::with_capacity(checked.len());
        let mut ids = Vec::with_capacity(checked.len());
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        for &(origin, nonce, id) in checked {
            match seen
                .entry(origin)
                .or_insert_with(|| NonceWindow::with_limit(self.window_words))
                .mark(nonce)
            {
                Seen::First => {
                    delivered.push(origin);
                    ids.push(id);
                }
                Seen::Again => {
                    self.duplicates.fetch_add(1, Ordering::Relaxed);
                }
                Seen::TooOld => {
                    self.too_old.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        drop(seen);
        self.included(digest, delivered, ids)
    }

    /// Counts each message once, in Redis shared with other processes.
    async fn mark_shared(
        &self,
        shared: &SeenNonces,
        digest: B256,
        checked: &[Checked],
    ) -> Result<Included, EvmError> {
        let mut by_origin: Vec<(Domain, Vec<u32>)> = Vec::new();
        for &(origin, nonce, _) in checked {
            match by_origin.iter_mut().find(|(o, _)| *o == origin) {
                Some((_, n)) => n.push(nonce),
                None => by_origin.push((origin, vec![nonce])),
            }
        }
        let mut delivered = Vec::with_capacity(checked.len());
        for (origin, nonces) in by_origin {
            let again = shared
                .mark(self.domain, origin, &nonces)
                .await
                .map_err(|e| EvmError::Rpc {
                    method: "sink SETBIT",
                    endpoint: "bench redis".into(),
                    message: e.to_string(),
                })?;
            self.duplicates.fetch_add(again, Ordering::Relaxed);
            let fresh = (nonces.len() as u64).saturating_sub(again);
            delivered.extend(std::iter::repeat_n(origin, fresh as usize));
        }
        // Shared marking counts per origin, not which ids were fresh: the
        // status journal sees no deliveries from it.
        Ok(self.included(digest, delivered, Vec::new()))
    }

    fn included(&self, digest: B256, delivered: Vec<Domain>, delivered_ids: Vec<B256>) -> Included {
        self.delivered
            .fetch_add(delivered.len() as u64, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        Included {
            tx_hash: digest,
            block: 0,
            gas_used: 0,
            delivered,
            failed: Vec::new(),
            delivered_ids,
            failed_ids: Vec::new(),
            replacements: 0,
        }
    }
}

/// One (destination, origin)'s delivered-nonce bits from a part of a
/// multi-process run: bit `i` of `words[k]` is nonce `(base + k) * 64 + i`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerWords {
    /// The sink's domain.
    pub destination: Domain,
    /// The messages' origin.
    pub origin: Domain,
    /// Word index of `words[0]`.
    pub base: u64,
    /// The bits.
    pub words: Vec<u64>,
}

impl LedgerWords {
    /// Little-endian records: destination, origin (u32), base, word count
    /// (u64), then the words (u64 each).
    pub fn encode_all(all: &[Self]) -> Vec<u8> {
        let mut out = Vec::new();
        for l in all {
            out.extend_from_slice(&l.destination.to_le_bytes());
            out.extend_from_slice(&l.origin.to_le_bytes());
            out.extend_from_slice(&l.base.to_le_bytes());
            out.extend_from_slice(&(l.words.len() as u64).to_le_bytes());
            for w in &l.words {
                out.extend_from_slice(&w.to_le_bytes());
            }
        }
        out
    }

    /// Reads [`LedgerWords::encode_all`]'s records; says where a
    /// truncated or oversized one is.
    pub fn decode_all(mut b: &[u8]) -> Result<Vec<Self>, String> {
        fn take<'a>(b: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], String> {
            if b.len() < n {
                return Err(format!("{what}: expected {n} bytes, {} left", b.len()));
            }
            let (h, t) = b.split_at(n);
            *b = t;
            Ok(h)
        }
        let u32_of = |x: &[u8]| u32::from_le_bytes(x.try_into().unwrap_or([0; 4]));
        let u64_of = |x: &[u8]| u64::from_le_bytes(x.try_into().unwrap_or([0; 8]));
        let mut out = Vec::new();
        while !b.is_empty() {
            let at = out.len();
            let destination = u32_of(take(&mut b, 4, &format!("record {at}: destination"))?);
            let origin = u32_of(take(&mut b, 4, &format!("record {at}: origin"))?);
            let base = u64_of(take(&mut b, 8, &format!("record {at}: base"))?);
            let n = u64_of(take(&mut b, 8, &format!("record {at}: word count"))?);
            let len = usize::try_from(n)
                .ok()
                .and_then(|n| n.checked_mul(8))
                .filter(|&l| l <= b.len())
                .ok_or_else(|| format!("record {at}: {n} words, only {} bytes left", b.len()))?;
            let words = take(&mut b, len, "words")?
                .chunks_exact(8)
                .map(u64_of)
                .collect();
            out.push(Self {
                destination,
                origin,
                base,
                words,
            });
        }
        Ok(out)
    }
}

/// What the parts of a run delivered together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LedgerMerge {
    /// Distinct messages delivered by any part.
    pub distinct: u64,
    /// Messages delivered by more than one part (each extra delivery
    /// counted once).
    pub duplicates: u64,
}

/// Merges the parts' ledgers: a nonce set in two parts' bitmaps for the
/// same (destination, origin) was delivered twice.
pub fn merge_ledgers(parts: &[Vec<LedgerWords>]) -> LedgerMerge {
    let mut union: HashMap<(Domain, Domain), HashMap<u64, u64>> = HashMap::new();
    let mut m = LedgerMerge::default();
    for part in parts {
        for l in part {
            let words = union.entry((l.destination, l.origin)).or_default();
            for (k, &w) in l.words.iter().enumerate() {
                if w == 0 {
                    continue;
                }
                let slot = words.entry(l.base + k as u64).or_insert(0);
                m.duplicates += u64::from((*slot & w).count_ones());
                *slot |= w;
            }
        }
    }
    m.distinct = union
        .values()
        .flat_map(|w| w.values())
        .map(|w| u64::from(w.count_ones()))
        .sum();
    m
}

/// A checked message: (origin, nonce, id).
type Checked = (Domain, u32, B256);

impl BatchSink for NullSink {
    type Pending = Included;

    async fn submit(
        &self,
        messages: Vec<Bytes>,
        signatures: Vec<Bytes>,
    ) -> Result<Included, EvmError> {
        let (digest, checked) = self.check(&messages, &signatures)?;
        match &self.shared {
            Some(shared) => self.mark_shared(shared, digest, &checked).await,
            None => Ok(self.mark_local(digest, &checked)),
        }
    }

    async fn confirm(&self, pending: Included) -> Result<Included, EvmError> {
        Ok(pending)
    }

    fn pending_tx(&self, pending: &Included) -> Option<B256> {
        // The signed digest stands in for a transaction hash.
        Some(pending.tx_hash)
    }

    async fn attester_set(&self, candidates: &[Address]) -> Result<(u64, Vec<bool>), EvmError> {
        Ok((
            self.threshold as u64,
            candidates
                .iter()
                .map(|c| self.attesters.binary_search(c).is_ok())
                .collect(),
        ))
    }
}

/// A benchmark destination: the verifying null sink, or a real anvil
/// chain through the hub's EVM submitter (`--sink anvil`).
#[derive(Debug)]
pub(crate) enum BenchSink {
    /// Checked and counted in process.
    Null(Arc<NullSink>),
    /// Submitted to anvil.
    Anvil(Box<switchyard_evm::submitter::EvmSubmitter>),
}

/// A batch submitted to a [`BenchSink`].
#[derive(Debug)]
pub(crate) enum BenchPending {
    /// Already checked.
    Null(Included),
    /// Sent to anvil, not yet confirmed.
    Anvil(switchyard_evm::submitter::PendingBatch),
}

impl BatchSink for BenchSink {
    type Pending = BenchPending;

    async fn submit(
        &self,
        messages: Vec<Bytes>,
        signatures: Vec<Bytes>,
    ) -> Result<BenchPending, EvmError> {
        match self {
            Self::Null(n) => n.submit(messages, signatures).await.map(BenchPending::Null),
            Self::Anvil(e) => BatchSink::submit(e.as_ref(), messages, signatures)
                .await
                .map(BenchPending::Anvil),
        }
    }

    async fn confirm(&self, pending: BenchPending) -> Result<Included, EvmError> {
        match (self, pending) {
            (Self::Null(n), BenchPending::Null(p)) => n.confirm(p).await,
            (Self::Anvil(e), BenchPending::Anvil(p)) => BatchSink::confirm(e.as_ref(), p).await,
            // A sink only ever confirms what it submitted itself.
            _ => Err(EvmError::Malformed {
                what: "bench batch",
                reason: "confirmed by another kind of sink than submitted it".into(),
            }),
        }
    }

    fn pending_tx(&self, pending: &BenchPending) -> Option<B256> {
        match (self, pending) {
            (Self::Null(n), BenchPending::Null(p)) => n.pending_tx(p),
            (Self::Anvil(e), BenchPending::Anvil(p)) => e.pending_tx(p),
            _ => None,
        }
    }

    async fn attester_set(&self, candidates: &[Address]) -> Result<(u64, Vec<bool>), EvmError> {
        match self {
            Self::Null(n) => n.attester_set(candidates).await,
            Self::Anvil(e) => e.attester_set(candidates).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_evm::attest::Attester;

    const KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

    fn msg(nonce: u32, destination: u32) -> Bytes {
        Message {
            version: 3,
            nonce,
            origin: 1000,
            sender: B256::repeat_byte(1),
            destination,
            recipient: B256::repeat_byte(2),
            body: Bytes::from_static(b"x"),
        }
        .encode()
        .into()
    }

    fn sign(a: &Attester, chain_id: u64, inbox: Address, msgs: &[Bytes]) -> Vec<Bytes> {
        let ids: Vec<B256> = msgs.iter().map(keccak256).collect();
        vec![Bytes::copy_from_slice(
            &a.sign_batch(chain_id, inbox, batch_root(&ids))
                .expect("signs"),
        )]
    }

    #[test]
    fn nonce_window_slides() {
        let mut w = NonceWindow::default();
        assert_eq!(w.mark(5), Seen::First);
        assert_eq!(w.mark(5), Seen::Again);
        assert_eq!(w.mark(0), Seen::First);
        // Far ahead: the window slides past nonce 5's word.
        let far = u32::try_from(WINDOW_WORDS * 64 + 64).expect("fits");
        assert_eq!(w.mark(far), Seen::First);
        assert_eq!(w.words.len(), WINDOW_WORDS, "bounded");
        assert_eq!(w.mark(5), Seen::TooOld);
        assert_eq!(w.mark(far), Seen::Again);
        assert_eq!(w.mark(far - 1), Seen::First);
    }

    #[tokio::test]
    async fn ledgers_of_parts_merge_and_catch_a_message_delivered_by_two() {
        let a = Attester::from_hex(KEY, "t").expect("key");
        let inbox = Address::repeat_byte(9);
        let part = || NullSink::new(2000, 7, inbox, a.address()).ledger();
        let (p0, p1) = (part(), part());
        let far = u32::try_from(WINDOW_WORDS * 64 + 64).expect("fits");
        let first = vec![msg(0, 2000), msg(1, 2000), msg(far, 2000)];
        p0.submit(first.clone(), sign(&a, 7, inbox, &first))
            .await
            .expect("valid");
        // A ledger keeps nonce 0 past a window's length.
        let again = vec![msg(0, 2000)];
        p0.submit(again.clone(), sign(&a, 7, inbox, &again))
            .await
            .expect("valid");
        assert_eq!((p0.duplicates(), p0.too_old()), (1, 0));
        // The other part delivers nonce 1 again (a lease handed over) and
        // nonce 2 for the first time.
        let second = vec![msg(1, 2000), msg(2, 2000)];
        p1.submit(second.clone(), sign(&a, 7, inbox, &second))
            .await
            .expect("valid");
        let ledgers: Vec<Vec<LedgerWords>> = [&p0, &p1]
            .iter()
            .map(|p| {
                let bytes = LedgerWords::encode_all(&p.ledger_entries());
                LedgerWords::decode_all(&bytes).expect("round trip")
            })
            .collect();
        assert_eq!(
            merge_ledgers(&ledgers),
            LedgerMerge {
                distinct: 4,
                duplicates: 1
            }
        );
        // Truncated input says where.
        let bytes = LedgerWords::encode_all(&p0.ledger_entries());
        let err = LedgerWords::decode_all(&bytes[..bytes.len() - 3]).expect_err("truncated");
        assert!(err.contains("record 0") && err.contains("words"), "{err}");
    }

    #[tokio::test]
    async fn counts_once_and_refuses_bad_attestations() {
        let a = Attester::from_hex(KEY, "t").expect("key");
        let inbox = Address::repeat_byte(9);
        let sink = NullSink::new(2000, 7, inbox, a.address());
        let msgs = vec![msg(0, 2000), msg(1, 2000)];
        let inc = sink
            .submit(msgs.clone(), sign(&a, 7, inbox, &msgs))
            .await
            .expect("valid");
        assert_eq!(inc.delivered, vec![1000, 1000]);
        // Replay: counted as duplicates, not delivered again.
        let inc = sink
            .submit(msgs.clone(), sign(&a, 7, inbox, &msgs))
            .await
            .expect("valid");
        assert!(inc.delivered.is_empty());
        assert_eq!((sink.delivered(), sink.duplicates()), (2, 2));
        // Wrong domain binding, tampered batch, wrong destination.
        assert!(
            sink.submit(msgs.clone(), sign(&a, 8, inbox, &msgs))
                .await
                .is_err(),
            "other chain id"
        );
        let mut other = msgs.clone();
        other[1] = msg(5, 2000);
        assert!(
            sink.submit(other, sign(&a, 7, inbox, &msgs)).await.is_err(),
            "batch changed after signing"
        );
        let wrong = vec![msg(9, 3000)];
        assert!(
            sink.submit(wrong.clone(), sign(&a, 7, inbox, &wrong))
                .await
                .is_err(),
            "wrong destination"
        );
        assert_eq!(sink.delivered(), 2);
    }
}
