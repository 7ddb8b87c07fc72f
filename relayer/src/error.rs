//! The relayer's error type. Every error answers whether it is retryable;
//! the hub retries (with backoff) or gives up from that answer alone.

use crate::config::ConfigError;
use crate::lane::QueueError;

/// Errors of the hub.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// The configuration cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Redis / queue.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// Chain I/O.
    #[error(transparent)]
    Evm(#[from] switchyard_evm::EvmError),
    /// The light client refused data.
    #[error("chain {chain}: {source}")]
    LightClient {
        /// Chain name.
        chain: String,
        /// The light client's verdict.
        #[source]
        source: switchyard_lc_evm::Error,
    },
    /// Persisted state cannot be read back.
    #[error("persisted state of {what}: {reason}")]
    State {
        /// What was read.
        what: String,
        /// Why it is unusable.
        reason: String,
    },
    /// A socket or file.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl HubError {
    /// Whether repeating the operation later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Config(_) | Self::State { .. } => false,
            Self::Queue(e) => e.is_retryable(),
            Self::Evm(e) => e.is_retryable(),
            // Bad evidence from one endpoint may be followed by good evidence
            // from another: the block is retried, never skipped.
            Self::LightClient { .. } => true,
            Self::Io { .. } => true,
        }
    }
}
