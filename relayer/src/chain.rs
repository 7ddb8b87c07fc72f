//! The seams between the hub and chains: what a header-chain watcher reads
//! from an origin, and what a dispatcher hands to a destination. The hub
//! runs against real chains through the EVM adapter, and against the load
//! generator and a verifying null sink in `switchyard bench`, through the
//! same code paths.

use std::future::Future;
use std::sync::Arc;

use alloy_primitives::{Address, B256, Bytes};
use switchyard_evm::EvmError;
use switchyard_evm::source::EvmSource;
use switchyard_evm::submitter::{EvmSubmitter, Included, PendingBatch};
use switchyard_lc_evm::{Header, Receipt};

/// What a header-chain watcher reads from an origin. Nothing it returns is
/// trusted: the light client recomputes hashes, links and receipts roots.
pub trait HeaderSource: Send + Sync + 'static {
    /// The latest block number.
    fn head(&self) -> impl Future<Output = Result<u64, EvmError>> + Send;
    /// Header `number` and the hash the source claims for it.
    fn header(&self, number: u64) -> impl Future<Output = Result<(Header, B256), EvmError>> + Send;
    /// All receipts of block `number`, in transaction order.
    fn receipts(&self, number: u64)
    -> impl Future<Output = Result<BlockReceipts, EvmError>> + Send;
    /// The header whose hash is `hash` (recomputed), if the source has it.
    fn header_by_hash(
        &self,
        hash: B256,
    ) -> impl Future<Output = Result<Option<Header>, EvmError>> + Send;
    /// Each independent endpoint's hash for block `number` (`None` where one
    /// did not answer): the votes of a header-chain quorum.
    fn block_hashes(&self, number: u64) -> impl Future<Output = Vec<Option<B256>>> + Send;
    /// Reads headers from another endpoint from now on: the current one's
    /// branch was outvoted.
    fn switch_endpoint(&self);
}

/// A block's receipts, and the transaction hashes the source gave with
/// them (empty when it gave none). The hashes are not covered by the
/// receipts root: they are shown by the status API, never relied on.
#[derive(Debug, Clone)]
pub struct BlockReceipts {
    /// Receipts in transaction order.
    pub receipts: Arc<[Receipt]>,
    /// Transaction hashes in the same order, or empty.
    pub tx_hashes: Arc<[B256]>,
}

impl HeaderSource for EvmSource {
    fn head(&self) -> impl Future<Output = Result<u64, EvmError>> + Send {
        EvmSource::head(self)
    }
    fn header(&self, number: u64) -> impl Future<Output = Result<(Header, B256), EvmError>> + Send {
        EvmSource::header(self, number)
    }
    async fn receipts(&self, number: u64) -> Result<BlockReceipts, EvmError> {
        let (receipts, hashes) = EvmSource::receipts_with_hashes(self, number).await?;
        Ok(BlockReceipts {
            receipts: Arc::from(receipts),
            tx_hashes: Arc::from(hashes),
        })
    }
    fn header_by_hash(
        &self,
        hash: B256,
    ) -> impl Future<Output = Result<Option<Header>, EvmError>> + Send {
        EvmSource::header_by_hash(self, hash)
    }
    fn block_hashes(&self, number: u64) -> impl Future<Output = Vec<Option<B256>>> + Send {
        EvmSource::block_hashes(self, number)
    }
    fn switch_endpoint(&self) {
        self.pool().rotate();
    }
}

impl<T: HeaderSource> HeaderSource for Arc<T> {
    fn head(&self) -> impl Future<Output = Result<u64, EvmError>> + Send {
        T::head(self)
    }
    fn header(&self, number: u64) -> impl Future<Output = Result<(Header, B256), EvmError>> + Send {
        T::header(self, number)
    }
    fn receipts(
        &self,
        number: u64,
    ) -> impl Future<Output = Result<BlockReceipts, EvmError>> + Send {
        T::receipts(self, number)
    }
    fn header_by_hash(
        &self,
        hash: B256,
    ) -> impl Future<Output = Result<Option<Header>, EvmError>> + Send {
        T::header_by_hash(self, hash)
    }
    fn block_hashes(&self, number: u64) -> impl Future<Output = Vec<Option<B256>>> + Send {
        T::block_hashes(self, number)
    }
    fn switch_endpoint(&self) {
        T::switch_endpoint(self);
    }
}

/// Where a dispatcher delivers attested batches: submit (one broadcast,
/// after whatever simulation the destination allows), then confirm.
pub trait BatchSink: Send + Sync + 'static {
    /// A submitted batch awaiting confirmation.
    type Pending: Send + 'static;
    /// Submits `messages` with their attestation `signatures`.
    fn submit(
        &self,
        messages: Vec<Bytes>,
        signatures: Vec<Bytes>,
    ) -> impl Future<Output = Result<Self::Pending, EvmError>> + Send;
    /// Waits until the batch is final; says which messages took effect.
    fn confirm(
        &self,
        pending: Self::Pending,
    ) -> impl Future<Output = Result<Included, EvmError>> + Send;
    /// The transaction a pending batch was broadcast in, if it has one
    /// (shown by the status API while the batch is in flight).
    fn pending_tx(&self, _pending: &Self::Pending) -> Option<B256> {
        None
    }
    /// The accounts that send this sink's transactions, each with nonces of
    /// its own: no two replicas of a hub may send from one of them
    /// (`dispatch::claims`). None for a sink that sends nothing.
    fn senders(&self) -> Vec<Address> {
        Vec::new()
    }
    /// The destination's attestation threshold and which of `candidates`
    /// are attesters it counts (read from the Inbox): what a dispatcher
    /// collecting signatures from `[[attesters]]` submits by. A sink
    /// without an Inbox has no set to read.
    fn attester_set(
        &self,
        _candidates: &[Address],
    ) -> impl Future<Output = Result<(u64, Vec<bool>), EvmError>> + Send {
        async {
            Err(EvmError::Mismatch {
                what: "attester set".into(),
                expected: "a destination with an Inbox to read it from".into(),
                got: "a sink without one".into(),
            })
        }
    }
}

impl BatchSink for EvmSubmitter {
    type Pending = PendingBatch;

    async fn submit(
        &self,
        messages: Vec<Bytes>,
        signatures: Vec<Bytes>,
    ) -> Result<PendingBatch, EvmError> {
        let prepared = self.prepare(messages, signatures).await?;
        EvmSubmitter::submit(self, &prepared).await
    }

    async fn confirm(&self, pending: PendingBatch) -> Result<Included, EvmError> {
        EvmSubmitter::confirm(self, &pending).await
    }

    fn pending_tx(&self, pending: &PendingBatch) -> Option<B256> {
        Some(pending.tx_hash)
    }

    fn senders(&self) -> Vec<Address> {
        vec![self.address()]
    }

    async fn attester_set(&self, candidates: &[Address]) -> Result<(u64, Vec<bool>), EvmError> {
        EvmSubmitter::attester_set(self, candidates).await
    }
}

impl BatchSink for switchyard_evm::submitter::Signers {
    type Pending = switchyard_evm::submitter::SignedPending;

    async fn submit(
        &self,
        messages: Vec<Bytes>,
        signatures: Vec<Bytes>,
    ) -> Result<Self::Pending, EvmError> {
        switchyard_evm::submitter::Signers::submit(self, messages, signatures).await
    }

    async fn confirm(&self, pending: Self::Pending) -> Result<Included, EvmError> {
        switchyard_evm::submitter::Signers::confirm(self, pending).await
    }

    fn pending_tx(&self, pending: &Self::Pending) -> Option<B256> {
        Some(pending.pending.tx_hash)
    }

    fn senders(&self) -> Vec<Address> {
        self.submitters()
            .iter()
            .map(EvmSubmitter::address)
            .collect()
    }

    async fn attester_set(&self, candidates: &[Address]) -> Result<(u64, Vec<bool>), EvmError> {
        // Every submitter reads the same Inbox.
        match self.submitters().first() {
            Some(s) => s.attester_set(candidates).await,
            None => Err(EvmError::Mismatch {
                what: "attester set".into(),
                expected: "a submitter to read the Inbox with".into(),
                got: "none".into(),
            }),
        }
    }
}
