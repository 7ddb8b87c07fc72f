use std::time::Duration;

/// Errors of EVM chain I/O. Every variant answers [`EvmError::is_retryable`]:
/// the relayer retries or gives up from that answer alone.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvmError {
    /// The endpoint answered with an error or could not be reached.
    #[error("rpc {method} on {endpoint} failed: {message}")]
    Rpc {
        /// JSON-RPC method.
        method: &'static str,
        /// Endpoint index in the configured list (URLs may carry credentials).
        endpoint: String,
        /// What the transport or node said.
        message: String,
    },
    /// No answer within the configured time.
    #[error("rpc {method} timed out after {after:?}")]
    Timeout {
        /// JSON-RPC method.
        method: &'static str,
        /// The timeout that passed.
        after: Duration,
    },
    /// The node does not have what was asked (block not yet produced, pruned).
    #[error("{what} not found on chain")]
    NotFound {
        /// What was missing.
        what: String,
    },
    /// The node returned data that cannot be converted (unknown tx type, ...).
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being read.
        what: &'static str,
        /// Why it cannot be used.
        reason: String,
    },
    /// The transaction was included but reverted.
    #[error("transaction {tx_hash} reverted in block {block}")]
    Reverted {
        /// Transaction hash.
        tx_hash: String,
        /// Inclusion block.
        block: u64,
    },
    /// The call would revert (simulation): the batch itself is bad.
    #[error("simulation reverted: {reason}")]
    SimulationReverted {
        /// Decoded revert reason or raw data.
        reason: String,
    },
    /// The batch's gas estimate is over the per-transaction cap: it must be
    /// split, not retried as is.
    #[error("batch needs {gas} gas, over the cap of {limit} a transaction")]
    BatchTooLarge {
        /// Estimated gas, with margin.
        gas: u64,
        /// The cap.
        limit: u64,
    },
    /// One endpoint's answer is contradicted by another (a receipt no other
    /// endpoint has in a block it holds, a simulation revert another
    /// endpoint does not see): not acted on, the operation is tried again,
    /// preferring another endpoint.
    #[error("{what} disputed: {reason}")]
    Disputed {
        /// What was claimed.
        what: String,
        /// Who said otherwise.
        reason: String,
    },
    /// A contract artifact could not be loaded.
    #[error("contract artifact {path}: {reason}")]
    Artifact {
        /// File read.
        path: String,
        /// Why it is unusable.
        reason: String,
    },
    /// What the chain holds is not what was expected: a contract's code or
    /// setting read back after a deployment, the chain id, an owner.
    #[error("{what}: expected {expected}, got {got}")]
    Mismatch {
        /// What was read (contract, address, field).
        what: String,
        /// The expected value.
        expected: String,
        /// The value found.
        got: String,
    },
    /// Fewer attesters signed a batch than the destination's Inbox needs,
    /// and no definitive refusal rules it out: some did not answer, or have
    /// not verified its messages yet. Retried later, spending no attempt.
    #[error("{got} of {threshold} attester signatures: {detail}")]
    BelowThreshold {
        /// Valid signatures from the Inbox's attesters.
        got: usize,
        /// The Inbox's threshold.
        threshold: u64,
        /// Each attester's answer.
        detail: String,
    },
    /// So many attesters refused the batch for good (a message they never
    /// verified, a wrong destination) that the threshold cannot be reached:
    /// split, and a message refused alone is dead-lettered with every
    /// reason.
    #[error("attesters refused the batch: {refusals}")]
    AttestationRefused {
        /// Each refusing attester and its reasons.
        refusals: String,
    },
    /// A key could not be parsed. The key itself is never part of the message.
    #[error("invalid signer key for {what}: {reason}")]
    Key {
        /// Which key (config path), never the key.
        what: String,
        /// Why it is invalid.
        reason: String,
    },
}

impl EvmError {
    /// Whether repeating the same operation later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Rpc { .. }
            | Self::Timeout { .. }
            | Self::NotFound { .. }
            | Self::Disputed { .. }
            | Self::BelowThreshold { .. } => true,
            // A revert after inclusion can be caused by state that changes
            // (a replaced attester set, gas estimates): retry with backoff and
            // let the retry policy dead-letter it.
            Self::Reverted { .. } => true,
            Self::Malformed { .. }
            | Self::SimulationReverted { .. }
            | Self::BatchTooLarge { .. }
            | Self::AttestationRefused { .. }
            | Self::Artifact { .. }
            | Self::Mismatch { .. }
            | Self::Key { .. } => false,
        }
    }

    /// Whether this says only that the chain could not be reached (an
    /// endpoint down or too slow), nothing about what was sent: a batch
    /// failing so is retried without spending its attempts, however long
    /// the outage (bounded by the entry's age).
    pub fn is_outage(&self) -> bool {
        // Attesters that cannot be reached, or have not verified the
        // messages yet, say nothing against the batch either.
        matches!(
            self,
            Self::Rpc { .. } | Self::Timeout { .. } | Self::BelowThreshold { .. }
        )
    }

    /// Whether a batch failing with this should be split in two and each
    /// half tried alone: a simulation that reverts (one bad message must not
    /// take the others with it) or a batch over the gas cap.
    pub fn splits(&self) -> bool {
        matches!(
            self,
            Self::SimulationReverted { .. }
                | Self::BatchTooLarge { .. }
                | Self::AttestationRefused { .. }
        )
    }

    /// A bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Rpc { .. } => "rpc",
            Self::Timeout { .. } => "timeout",
            Self::NotFound { .. } => "not_found",
            Self::Disputed { .. } => "disputed",
            Self::Malformed { .. } => "malformed",
            Self::Reverted { .. } => "reverted",
            Self::SimulationReverted { .. } => "simulation_reverted",
            Self::BatchTooLarge { .. } => "batch_too_large",
            Self::Artifact { .. } => "artifact",
            Self::Mismatch { .. } => "mismatch",
            Self::Key { .. } => "key",
            Self::BelowThreshold { .. } => "below_threshold",
            Self::AttestationRefused { .. } => "attestation_refused",
        }
    }
}
