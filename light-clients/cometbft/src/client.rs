//! Light-client verification (CometBFT spec
//! `spec/light-client/verification/verification_002_draft.md`: the
//! single-step checks `ValidAndVerified`, and skipping verification with
//! bisection, `VerifyToTarget`) by the upstream
//! `tendermint-light-client-verifier`, wrapped: a trusted state that only
//! moves after a successful verify, and the bisection written as a state
//! machine, so the pure crate never fetches anything itself.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tendermint::Time;
use tendermint::hash::Hash;
use tendermint_light_client_verifier::errors::VerificationErrorDetail;
use tendermint_light_client_verifier::options::Options;
use tendermint_light_client_verifier::types::{LightBlock, TrustThreshold};
use tendermint_light_client_verifier::{ProdVerifier, Verdict, Verifier};

use crate::batch::batch_verifier;
use crate::error::{Error, Result, VerdictClass};

/// Which ed25519 backend checks the commit signatures.
///
/// Both run the same upstream predicates in the same order; only the way
/// signatures are checked differs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SignatureBackend {
    /// The upstream `ProdVerifier`: ed25519-consensus, one signature at a time.
    Single,
    /// The commit's signatures batch-verified first (ed25519-consensus
    /// batch, ZIP-215: accepts exactly what single verification accepts),
    /// then the upstream verifier with those triples answered from the
    /// batch; any batch failure falls back to single verification.
    #[default]
    Batch,
}

/// Light-client parameters, as an operator writes them in the config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `n/d`, between 1/3 and 1; CometBFT's default is `1/3`.
    #[serde(default = "Config::default_threshold")]
    pub trust_threshold: String,
    /// How long a trusted header may be used to verify newer ones; below
    /// the chain's unbonding period (commonly two thirds of it).
    pub trusting_period_secs: u64,
    /// Allowed lead of a header's time over the caller's clock.
    #[serde(default)]
    pub clock_drift_secs: u64,
    /// Signature backend.
    #[serde(default)]
    pub signatures: SignatureBackend,
}

impl Config {
    fn default_threshold() -> String {
        "1/3".to_owned()
    }
}

/// Parses a trust threshold written `n/d` (1/3 ≤ n/d ≤ 1).
pub fn parse_trust_threshold(s: &str) -> Result<TrustThreshold> {
    let bad = |reason: String| Error::decode("trust threshold", ".", reason);
    let (n, d) = s
        .split_once('/')
        .ok_or_else(|| bad(format!("expected `n/d`, got {s:?}")))?;
    let n: u64 = n
        .trim()
        .parse()
        .map_err(|e| bad(format!("numerator {n:?}: {e}")))?;
    let d: u64 = d
        .trim()
        .parse()
        .map_err(|e| bad(format!("denominator {d:?}: {e}")))?;
    TrustThreshold::new(n, d).map_err(|e| bad(format!("expected 1/3 <= {n}/{d} <= 1: {e}")))
}

/// Parses a time given as RFC 3339 (`2024-05-01T12:00:00Z`) or as unix
/// seconds (`1714564800`), for operators' `--now`.
pub fn parse_time(s: &str) -> Result<Time> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<i64>() {
        return Time::from_unix_timestamp(secs, 0)
            .map_err(|e| Error::decode("time", ".", format!("unix seconds {secs}: {e}")));
    }
    Time::parse_from_rfc3339(s).map_err(|e| {
        Error::decode(
            "time",
            ".",
            format!("expected RFC 3339 or unix seconds, got {s:?}: {e}"),
        )
    })
}

/// The verifier with its options. Holds no chain state: the trusted state
/// is a separate value the caller owns and persists.
#[derive(Debug, Clone)]
pub struct LightClient {
    options: Options,
    backend: SignatureBackend,
}

impl LightClient {
    /// A light client with explicit options.
    pub fn new(options: Options, backend: SignatureBackend) -> Self {
        Self { options, backend }
    }

    /// A light client from the operator's config.
    pub fn from_config(config: &Config) -> Result<Self> {
        let options = Options {
            trust_threshold: parse_trust_threshold(&config.trust_threshold)?,
            trusting_period: Duration::from_secs(config.trusting_period_secs),
            clock_drift: Duration::from_secs(config.clock_drift_secs),
        };
        Ok(Self::new(options, config.signatures))
    }

    /// The verifier options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The signature backend.
    pub fn backend(&self) -> SignatureBackend {
        self.backend
    }

    /// One verification step from `trusted` to `untrusted` (adjacent or
    /// skipping), without changing anything. `Err` with
    /// [`Error::NotEnoughTrust`] means "bisect", see [`Bisection`].
    pub fn verify(
        &self,
        trusted: &TrustedState,
        untrusted: &LightBlock,
        now: Time,
    ) -> Result<VerifiedBlock> {
        let verdict = match self.backend {
            SignatureBackend::Single => ProdVerifier::default().verify_update_header(
                untrusted.as_untrusted_state(),
                trusted.block.as_trusted_state(),
                &self.options,
                now,
            ),
            SignatureBackend::Batch => batch_verifier(untrusted).verify_update_header(
                untrusted.as_untrusted_state(),
                trusted.block.as_trusted_state(),
                &self.options,
                now,
            ),
        };
        let height = untrusted.height().value();
        match verdict {
            Verdict::Success => Ok(VerifiedBlock {
                block: untrusted.clone(),
                trusted_height: trusted.height(),
                trusted_hash: trusted.hash(),
            }),
            Verdict::NotEnoughTrust(tally) => Err(Error::NotEnoughTrust {
                trusted_height: trusted.height(),
                height,
                tallied: tally.tallied,
                total: tally.total,
                threshold: tally.trust_threshold.to_string(),
            }),
            Verdict::Invalid(detail) => Err(invalid(trusted.height(), height, detail)),
        }
    }
}

fn invalid(trusted_height: u64, height: u64, detail: VerificationErrorDetail) -> Error {
    match detail {
        VerificationErrorDetail::NotWithinTrustPeriod(e) => Error::TrustExpired {
            trusted_height,
            expires_at: e.expires_at.to_string(),
            now: e.now.to_string(),
        },
        VerificationErrorDetail::HeaderFromTheFuture(e) => Error::HeaderFromFuture {
            height,
            header_time: e.header_time.to_string(),
            now: e.now.to_string(),
        },
        other => Error::Invalid {
            height,
            reason: other.to_string(),
        },
    }
}

/// A block that passed [`LightClient::verify`] against one trusted state.
#[derive(Debug, Clone)]
#[must_use = "a verified block does nothing until applied"]
pub struct VerifiedBlock {
    block: LightBlock,
    trusted_height: u64,
    trusted_hash: Hash,
}

impl VerifiedBlock {
    /// The verified block.
    pub fn block(&self) -> &LightBlock {
        &self.block
    }

    /// Its height.
    pub fn height(&self) -> u64 {
        self.block.height().value()
    }
}

/// The light client's trusted state: one verified block with its
/// validator sets. Serializes as tendermint-rs LightBlock JSON; reading it
/// back runs the checks of [`TrustedState::new`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "LightBlock", try_from = "LightBlock")]
pub struct TrustedState {
    block: LightBlock,
}

impl From<TrustedState> for LightBlock {
    fn from(state: TrustedState) -> Self {
        state.block
    }
}

impl TryFrom<LightBlock> for TrustedState {
    type Error = Error;

    fn try_from(block: LightBlock) -> Result<Self> {
        Self::new(block)
    }
}

impl TrustedState {
    /// Trusts `block` as given (an operator's checkpoint or a persisted
    /// state). Checks what the upstream verifier leaves to its caller: that
    /// the next validator set is the one the header commits to, since every
    /// skip from this state is counted against it.
    pub fn new(block: LightBlock) -> Result<Self> {
        let height = block.height().value();
        let got = block.next_validators.hash();
        let expected = block.signed_header.header.next_validators_hash;
        if got != expected {
            return Err(Error::BadTrustedBlock {
                height,
                reason: format!("next validator set hashes to {got}, header commits to {expected}"),
            });
        }
        Ok(Self { block })
    }

    /// Trusts an operator-given checkpoint: the header must hash to
    /// `header_hash` (weak subjectivity), its commit must be for that
    /// header, and both validator sets must be the ones the header names.
    pub fn from_checkpoint(block: LightBlock, header_hash: Hash) -> Result<Self> {
        let height = block.height().value();
        let header = &block.signed_header.header;
        let bad = |reason: String| Error::BadTrustedBlock { height, reason };
        let got = header.hash();
        if got != header_hash {
            return Err(bad(format!(
                "header hashes to {got}, the checkpoint is {header_hash}"
            )));
        }
        if block.signed_header.commit.block_id.hash != got {
            return Err(bad(format!(
                "commit is for block {}, header hashes to {got}",
                block.signed_header.commit.block_id.hash
            )));
        }
        let vals = block.validators.hash();
        if vals != header.validators_hash {
            return Err(bad(format!(
                "validator set hashes to {vals}, header commits to {}",
                header.validators_hash
            )));
        }
        Self::new(block)
    }

    /// Checks that this state can still verify newer blocks at `now`.
    pub fn check_fresh(&self, options: &Options, now: Time) -> Result<()> {
        let expires = (self.block.time() + options.trusting_period)
            .map_err(|e| Error::decode("trusted header time", ".", e))?;
        if expires > now {
            Ok(())
        } else {
            Err(Error::TrustExpired {
                trusted_height: self.height(),
                expires_at: expires.to_string(),
                now: now.to_string(),
            })
        }
    }

    /// Moves the trusted state to a block verified against it.
    pub fn apply(&mut self, verified: VerifiedBlock) -> Result<()> {
        if verified.trusted_height != self.height() || verified.trusted_hash != self.hash() {
            return Err(Error::StaleVerification {
                expected: verified.trusted_height,
                got: self.height(),
            });
        }
        self.block = verified.block;
        Ok(())
    }

    /// The trusted block.
    pub fn block(&self) -> &LightBlock {
        &self.block
    }

    /// The trusted block, by value.
    pub fn into_block(self) -> LightBlock {
        self.block
    }

    /// Its height.
    pub fn height(&self) -> u64 {
        self.block.height().value()
    }

    /// Its header hash.
    pub fn hash(&self) -> Hash {
        self.block.signed_header.header.hash()
    }

    /// Its header time.
    pub fn time(&self) -> Time {
        self.block.time()
    }

    /// Its app hash: the state root after the previous block, so a store
    /// proof queried at height `h` is checked against the header at `h + 1`.
    pub fn app_hash(&self) -> &[u8] {
        self.block.signed_header.header.app_hash.as_bytes()
    }
}

/// What the bisection needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Progress {
    /// The target is verified: the new trusted state.
    Verified(Box<TrustedState>),
    /// Fetch the block at this height and [`Bisection::feed`] it.
    NeedBlock(u64),
}

/// Skipping verification with bisection (the CometBFT light-client
/// "bisection" schedule, as in tendermint-rs' `basic_bisecting_schedule`):
/// try the target; when the trusted validators do not sign enough of it,
/// keep it and try the midpoint; after each success try the lowest kept
/// block again.
///
/// A state machine so that the pure crate fetches nothing: the caller asks
/// [`Bisection::wanted`], fetches that block however it likes (sync
/// closure, async RPC) and feeds it back. The trusted state only moves on a
/// successful step; [`Bisection::trusted`] is the progress so far.
#[derive(Debug, Clone)]
pub struct Bisection {
    trusted: TrustedState,
    target: u64,
    // Blocks that lacked trust, the lowest last: each is retried once the
    // trusted state got closer to it, without fetching it again.
    pending: Vec<LightBlock>,
    wanted: u64,
}

impl Bisection {
    /// Starts from `trusted` towards `target` (which must be above it).
    pub fn new(trusted: TrustedState, target: u64) -> Result<Self> {
        if target <= trusted.height() {
            return Err(Error::Invalid {
                height: target,
                reason: format!(
                    "target height is not above the trusted height {}",
                    trusted.height()
                ),
            });
        }
        Ok(Self {
            trusted,
            target,
            pending: Vec::new(),
            wanted: target,
        })
    }

    /// The height of the block to feed next.
    pub fn wanted(&self) -> u64 {
        self.wanted
    }

    /// The target height.
    pub fn target(&self) -> u64 {
        self.target
    }

    /// The trusted state reached so far (the start, or the last verified pivot).
    pub fn trusted(&self) -> &TrustedState {
        &self.trusted
    }

    /// Verifies the fetched block at [`Bisection::wanted`] and any kept
    /// block that becomes reachable through it.
    ///
    /// An error leaves the machine as it was, so the caller may feed the
    /// same height again from another source (a provider that served a bad
    /// block is not the chain).
    pub fn feed(&mut self, client: &LightClient, block: LightBlock, now: Time) -> Result<Progress> {
        let got = block.height().value();
        if got != self.wanted {
            return Err(Error::UnexpectedHeight {
                expected: self.wanted,
                got,
            });
        }
        let mut candidate = block;
        loop {
            match client.verify(&self.trusted, &candidate, now) {
                Ok(verified) => {
                    self.trusted.apply(verified)?;
                    if self.trusted.height() == self.target {
                        return Ok(Progress::Verified(Box::new(self.trusted.clone())));
                    }
                    // Not the target, so the target (at least) is kept.
                    match self.pending.pop() {
                        Some(next) => candidate = next,
                        None => unreachable!("the target is kept until it verifies"),
                    }
                }
                Err(Error::NotEnoughTrust { .. }) => {
                    let from = self.trusted.height();
                    let to = candidate.height().value();
                    let pivot = from + (to - from) / 2;
                    if pivot == from {
                        // Adjacent steps need no trusted overlap; the
                        // upstream verifier never says this for them.
                        return Err(Error::Invalid {
                            height: to,
                            reason: "adjacent block lacks trust".to_owned(),
                        });
                    }
                    self.pending.push(candidate);
                    self.wanted = pivot;
                    return Ok(Progress::NeedBlock(pivot));
                }
                Err(e) => {
                    // The failed block is dropped and asked for again, so
                    // the caller may fetch it from another source; blocks
                    // verified before it stay verified.
                    self.wanted = candidate.height().value();
                    return Err(e);
                }
            }
        }
    }
}

/// The outcome of one step, as the offline verifier prints it (one JSON
/// line per step).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepReport {
    /// Height of the block checked.
    pub height: u64,
    /// Height of the trusted block it was checked against.
    pub trusted_height: u64,
    /// `SUCCESS`, `NOT_ENOUGH_TRUST` or `INVALID`.
    pub verdict: VerdictClass,
    /// Why, unless it succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Whether the same block may pass later.
    pub retryable: bool,
}

/// Single steps in order, as the model-based vectors run them: each block
/// is verified against the current trusted state, which moves only on
/// SUCCESS (no bisection: a skip that lacks trust is reported as such).
pub fn verify_sequence(
    client: &LightClient,
    trusted: &mut TrustedState,
    blocks: &[LightBlock],
    now: Time,
) -> Vec<StepReport> {
    blocks
        .iter()
        .map(|block| {
            let trusted_height = trusted.height();
            let result = client.verify(trusted, block, now);
            let verdict = VerdictClass::of(&result);
            let (error, retryable) = match result {
                Ok(verified) => match trusted.apply(verified) {
                    Ok(()) => (None, false),
                    Err(e) => (Some(e.to_string()), e.is_retryable()),
                },
                Err(e) => (Some(e.to_string()), e.is_retryable()),
            };
            StepReport {
                height: block.height().value(),
                trusted_height,
                verdict,
                error,
                retryable,
            }
        })
        .collect()
}

/// What [`verify_to_height`] did.
#[derive(Debug, Clone)]
pub struct Synced {
    /// The new trusted state, at the target height.
    pub trusted: TrustedState,
    /// Heights fetched from the source, in order.
    pub fetched: Vec<u64>,
}

/// Drives a [`Bisection`] from `trusted` to `target` with a synchronous
/// block source (tests, the offline CLI). The async watcher drives the
/// state machine itself.
pub fn verify_to_height<F>(
    client: &LightClient,
    trusted: &TrustedState,
    target: u64,
    now: Time,
    mut fetch: F,
) -> Result<Synced>
where
    F: FnMut(u64) -> Result<LightBlock>,
{
    let mut bisection = Bisection::new(trusted.clone(), target)?;
    let mut fetched = Vec::new();
    loop {
        let height = bisection.wanted();
        let block = fetch(height)?;
        fetched.push(height);
        match bisection.feed(client, block, now)? {
            Progress::Verified(trusted) => {
                return Ok(Synced {
                    trusted: *trusted,
                    fetched,
                });
            }
            Progress::NeedBlock(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_thresholds_are_parsed_and_bounded() {
        let t = parse_trust_threshold("2/3").expect("2/3");
        assert_eq!((t.numerator(), t.denominator()), (2, 3));
        assert_eq!(
            parse_trust_threshold(" 1 / 3 ").expect("spaces"),
            TrustThreshold::ONE_THIRD
        );
        for bad in ["1/4", "4/3", "1/0", "third", "1/x"] {
            let err = parse_trust_threshold(bad).expect_err(bad);
            assert!(
                matches!(
                    err,
                    Error::Decode {
                        what: "trust threshold",
                        ..
                    }
                ),
                "{err}"
            );
        }
    }

    #[test]
    fn config_reads_defaults_and_refuses_unknown_fields() {
        let c: Config =
            serde_json::from_str(r#"{"trusting_period_secs": 1209600}"#).expect("config");
        assert_eq!(c.trust_threshold, "1/3");
        assert_eq!(c.signatures, SignatureBackend::Batch);
        let client = LightClient::from_config(&c).expect("client");
        assert_eq!(
            client.options().trusting_period,
            Duration::from_secs(1_209_600)
        );
        assert_eq!(client.options().clock_drift, Duration::ZERO);
        let err = serde_json::from_str::<Config>(r#"{"trusting_period_secs": 1, "drift": 2}"#);
        assert!(err.is_err());
        let c = Config {
            trust_threshold: "1/5".into(),
            ..c
        };
        assert!(LightClient::from_config(&c).is_err());
    }

    #[test]
    fn times_are_rfc3339_or_unix_seconds() {
        assert_eq!(
            parse_time("1").expect("secs"),
            Time::from_unix_timestamp(1, 0).expect("t")
        );
        assert_eq!(
            parse_time("1970-01-01T00:00:01Z").expect("rfc3339"),
            Time::from_unix_timestamp(1, 0).expect("t")
        );
        assert!(parse_time("yesterday").is_err());
    }
}
