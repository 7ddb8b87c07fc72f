//! The crate's single error type.

/// The three verdict classes of a light-client step, as the
/// tendermint-rs model-based vectors name them (and as they serialize:
/// `SUCCESS`, `NOT_ENOUGH_TRUST`, `INVALID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VerdictClass {
    /// The block verified; the trusted state may advance to it.
    Success,
    /// The block may be valid but the trusted validators do not sign enough
    /// of it: bisect (verify a block in between first).
    NotEnoughTrust,
    /// The block, or the step to it, is invalid.
    Invalid,
}

/// Everything that can go wrong while decoding or verifying CometBFT data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Fewer than the trust threshold of the trusted next validators signed
    /// the block: a skip too far. Bisection resolves it; a single step
    /// reports it.
    #[error(
        "not enough trust to skip from height {trusted_height} to {height}: {tallied} of {total} trusted voting power signed, {threshold} needed"
    )]
    NotEnoughTrust {
        /// Height of the trusted block.
        trusted_height: u64,
        /// Height of the block that was checked.
        height: u64,
        /// Voting power of trusted validators that signed.
        tallied: u64,
        /// Total voting power of the trusted next validator set.
        total: u64,
        /// The trust threshold, as `n/d`.
        threshold: String,
    },
    /// The trusted block is older than the trusting period: the light
    /// client cannot go on from it and needs a fresh checkpoint.
    #[error("trusted block at height {trusted_height} expired at {expires_at}, now is {now}")]
    TrustExpired {
        /// Height of the trusted block.
        trusted_height: u64,
        /// Trusted header time plus the trusting period.
        expires_at: String,
        /// The caller's clock.
        now: String,
    },
    /// The header's time is past `now` plus the allowed clock drift.
    #[error("header at height {height} is from the future: time {header_time}, now {now}")]
    HeaderFromFuture {
        /// Height of the header.
        height: u64,
        /// Its time.
        header_time: String,
        /// The caller's clock.
        now: String,
    },
    /// The upstream verifier refused the block for a reason that will not
    /// change (bad signatures, hashes that do not match, non-increasing
    /// height, too few signers, ...).
    #[error("invalid block at height {height}: {reason}")]
    Invalid {
        /// Height of the block.
        height: u64,
        /// The verifier's reason.
        reason: String,
    },
    /// An operator-given trusted block is not self-consistent or not the
    /// expected checkpoint.
    #[error("trusted block at height {height} rejected: {reason}")]
    BadTrustedBlock {
        /// Height of the block.
        height: u64,
        /// What does not hold.
        reason: String,
    },
    /// A block source returned a block at another height than requested.
    #[error("asked for the block at height {expected}, got height {got}")]
    UnexpectedHeight {
        /// Requested height.
        expected: u64,
        /// Height of the block returned.
        got: u64,
    },
    /// A verified block was applied to a trusted state other than the one
    /// it was verified against.
    #[error(
        "block was verified against trusted height {expected}, trusted state is at height {got}"
    )]
    StaleVerification {
        /// Trusted height at verification time.
        expected: u64,
        /// Current trusted height.
        got: u64,
    },
    /// A block source failed to deliver a block (driver only).
    #[error("fetching the block at height {height} failed: {reason}")]
    Source {
        /// Requested height.
        height: u64,
        /// Why the source failed.
        reason: String,
        /// Whether the source said retrying may succeed.
        retryable: bool,
    },
    /// An ICS-23 proof does not prove what it was asked to.
    #[error("proof op {op} ({kind}) does not prove {claim}")]
    ProofInvalid {
        /// Index of the op in the chain (0 = the store's own proof).
        op: usize,
        /// Proof op type (`ics23:iavl`, `ics23:simple`, `ics23:smt`).
        kind: String,
        /// What it was asked to prove.
        claim: String,
    },
    /// A proof chain does not have the expected shape.
    #[error("malformed proof: {reason}")]
    ProofMalformed {
        /// What is wrong.
        reason: String,
    },
    /// A proven outbox entry is not a well-formed Switchyard message.
    #[error("outbox entry: {field}: expected {expected}, got {got}")]
    OutboxEntry {
        /// Which part of the entry.
        field: &'static str,
        /// What the layout requires.
        expected: String,
        /// What the entry holds.
        got: String,
    },
    /// Input could not be decoded.
    #[error("cannot decode {what} at {path}: {reason}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// Where in the input (a JSON path, or `.` for the whole input).
        path: String,
        /// Expected versus got.
        reason: String,
    },
}

impl VerdictClass {
    /// The class of a step's outcome.
    pub fn of<T>(result: &Result<T>) -> Self {
        match result {
            Ok(_) => Self::Success,
            Err(e) => e.class(),
        }
    }

    /// The vectors' name: `SUCCESS`, `NOT_ENOUGH_TRUST` or `INVALID`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "SUCCESS",
            Self::NotEnoughTrust => "NOT_ENOUGH_TRUST",
            Self::Invalid => "INVALID",
        }
    }
}

impl Error {
    /// Whether the same input may be accepted later without changing it.
    ///
    /// A header from the future becomes acceptable as the clock moves on,
    /// not-enough-trust once a block in between is verified, a stale
    /// verification when re-verified, and a source failure when the source
    /// says so. Everything else is a permanent verdict on the data (an
    /// expired trusted state needs an operator's new checkpoint, not a
    /// retry).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::HeaderFromFuture { .. }
            | Self::NotEnoughTrust { .. }
            | Self::StaleVerification { .. } => true,
            Self::Source { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// The vectors' verdict class of a verification error.
    pub fn class(&self) -> VerdictClass {
        match self {
            Self::NotEnoughTrust { .. } => VerdictClass::NotEnoughTrust,
            _ => VerdictClass::Invalid,
        }
    }

    pub(crate) fn decode(
        what: &'static str,
        path: impl Into<String>,
        reason: impl std::fmt::Display,
    ) -> Self {
        Self::Decode {
            what,
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
