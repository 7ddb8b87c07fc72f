//! The relayer's error type. Every error answers whether it is retryable;
//! the hub retries (with backoff) or gives up from that answer alone.

use crate::config::ConfigError;
use crate::store::StoreError;

/// Errors of the hub.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// The configuration cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Redis / queue.
    #[error(transparent)]
    Queue(#[from] StoreError),
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
    /// The beacon API failed or answered something unusable.
    #[error("chain {chain}: {source}")]
    Beacon {
        /// Chain name.
        chain: String,
        /// What the beacon API client says (boxed: it can carry a decoder
        /// error, and every `Result` of the hub would pay for its size).
        #[source]
        source: Box<switchyard_beacon::BeaconError>,
    },
    /// The beacon light client refused data.
    #[error("chain {chain}: beacon light client: {source}")]
    BeaconLightClient {
        /// Chain name.
        chain: String,
        /// The light client's verdict.
        #[source]
        source: switchyard_lc_beacon::Error,
    },
    /// The trusted checkpoint is older than `max_checkpoint_age`: the
    /// committees that signed after it may no longer be accountable.
    #[error(
        "chain {chain}: beacon checkpoint at slot {slot} is {age_slots} slots old, more than max_checkpoint_age ({max_slots} slots){}: configure chains[].beacon.trusted_root with a recent finalized block root",
        persisted.map(|p| format!("; the persisted state (finalized slot {p}) is too old as well")).unwrap_or_default()
    )]
    CheckpointTooOld {
        /// Chain name.
        chain: String,
        /// The checkpoint's slot.
        slot: u64,
        /// Its age.
        age_slots: u64,
        /// The bound.
        max_slots: u64,
        /// The persisted state's finalized slot, when it was too old too.
        persisted: Option<u64>,
    },
    /// A CometBFT origin's nodes failed, or what they served did not
    /// verify.
    #[error("chain {chain}: {source}")]
    Cometbft {
        /// Chain name.
        chain: String,
        /// The adapter's error (transport, or the light client's verdict),
        /// boxed: it is large and rare.
        #[source]
        source: Box<switchyard_cometbft::Error>,
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
            Self::Config(_) | Self::State { .. } | Self::CheckpointTooOld { .. } => false,
            Self::Beacon { source, .. } => source.is_retryable(),
            // As for the header chain: another endpoint, or a later round,
            // may bring valid data.
            Self::BeaconLightClient { .. } => true,
            Self::Queue(e) => e.is_retryable(),
            Self::Evm(e) => e.is_retryable(),
            // Bad evidence from one endpoint may be followed by good evidence
            // from another: the block is retried, never skipped.
            Self::LightClient { .. } => true,
            Self::Cometbft { source, .. } => source.is_retryable(),
            Self::Io { .. } => true,
        }
    }
}
