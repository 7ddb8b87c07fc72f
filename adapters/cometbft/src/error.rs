//! The adapter's error type.

/// What went wrong talking to CometBFT nodes or verifying what they served.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request did not complete (connection refused, reset, timeout).
    #[error("{endpoint}{path}: transport: {reason}")]
    Transport {
        /// Endpoint base URL.
        endpoint: String,
        /// Request path.
        path: String,
        /// Why.
        reason: String,
    },
    /// The node answered with a non-success HTTP status.
    #[error("{endpoint}{path}: HTTP status {status}")]
    Status {
        /// Endpoint base URL.
        endpoint: String,
        /// Request path.
        path: String,
        /// The status code.
        status: u16,
    },
    /// The node's answer could not be read.
    #[error("{endpoint}{path}: {source}")]
    Decode {
        /// Endpoint base URL.
        endpoint: String,
        /// Request path.
        path: String,
        /// The light client's decode error (what, where, expected vs got).
        source: switchyard_lc_cometbft::Error,
    },
    /// Every endpoint failed the request; the last error of each is listed.
    #[error("all {} CometBFT endpoints failed: {}", attempts.len(), attempts.join("; "))]
    AllEndpointsFailed {
        /// One line per endpoint tried.
        attempts: Vec<String>,
    },
    /// An ABCI query answered with a non-zero code or no value.
    #[error("abci_query {path} at height {height}: code {code}: {log}")]
    Query {
        /// Query path.
        path: String,
        /// Height asked.
        height: u64,
        /// ABCI response code (0 with an empty value: not found).
        code: u32,
        /// The node's log line.
        log: String,
    },
    /// Verification of what the nodes served failed.
    #[error(transparent)]
    LightClient(#[from] switchyard_lc_cometbft::Error),
    /// A configuration value is unusable.
    #[error("config: {0}")]
    Config(String),
}

impl Error {
    /// Whether retrying the same operation may succeed: transport and
    /// node-side trouble, yes (another endpoint or a later moment may
    /// answer); verification verdicts as the light client says; a
    /// configuration error, never.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { .. }
            | Self::Status { .. }
            | Self::Decode { .. }
            | Self::AllEndpointsFailed { .. }
            | Self::Query { .. } => true,
            Self::LightClient(e) => e.is_retryable(),
            Self::Config(_) => false,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
