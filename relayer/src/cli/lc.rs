//! `switchyard lc verify ethereum`: an operator checks beacon light-client
//! data (a bootstrap, then updates) exactly as the hub's light client would,
//! from the beacon API's own formats (JSON `{version, data}` envelopes or the
//! array `light_client/updates` serves; SSZ as served with `Accept:
//! application/octet-stream`, including the updates' chunk stream) or a
//! consensus-spec-tests case folder, and reads off the finalized slot and
//! sync-committee period reached. One JSON line per object; the caller
//! exits non-zero if any object was invalid. `lc verify cometbft` does the
//! same for CometBFT light blocks, and `lc verify rollup` ([`rollup`]) for
//! a rollup block proved from L1.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use alloy_primitives::B256;
use clap::Subcommand;
use serde::Serialize;

use crate::input::InputError;
use switchyard_lc_beacon::spectest::{self, StepAction};
use switchyard_lc_beacon::{ChainSpec, LightClientStore, LightClientUpdate, codec, json};

pub mod rollup;

/// What to verify.
#[derive(Debug, Clone)]
pub struct VerifyArgs {
    /// Network name (its fork schedule and genesis validators root).
    pub network: String,
    /// The block root the operator trusts (weak subjectivity checkpoint).
    pub trusted_root: B256,
    /// Beacon API `light_client/bootstrap` response: JSON, or SSZ as served
    /// with `Accept: application/octet-stream`.
    pub bootstrap: PathBuf,
    /// Update files, applied in order: JSON (`light_client/updates` arrays,
    /// single update, finality-update or optimistic-update envelopes) or SSZ
    /// (the `light_client/updates` chunk stream, or a single finality or
    /// optimistic update).
    pub updates: Vec<PathBuf>,
    /// The current slot (default: from the clock).
    pub current_slot: Option<u64>,
}

/// One line of output.
#[derive(Debug, Serialize)]
struct Line<'a> {
    file: String,
    /// Position within the file (arrays and streams hold several updates;
    /// a case folder's step number).
    index: usize,
    kind: &'a str,
    verdict: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Whether an invalid object may become valid later (a signature slot
    /// in the future, a period the store has not reached).
    #[serde(skip_serializing_if = "Option::is_none")]
    retryable: Option<bool>,
    finalized_slot: Option<u64>,
    optimistic_slot: Option<u64>,
    /// Sync-committee period of the finalized header.
    period: Option<u64>,
}

/// Why `lc verify` could not check its input at all (a verdict line is
/// written for everything it could check).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LcCliError {
    /// An option or a value that does not parse.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A file that cannot be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A file that is not what its option takes (a trusted block, a case
    /// folder).
    #[error("{what}: {reason}")]
    Unusable {
        /// The option and file.
        what: String,
        /// What the decoder said.
        reason: String,
    },
    /// The report cannot be written.
    #[error("writing the report: {0}")]
    Write(#[from] std::io::Error),
    /// A report line cannot be encoded.
    #[error("encoding a report line: {0}")]
    Encode(#[from] serde_json::Error),
}

fn read_file(p: &Path) -> Result<Vec<u8>, LcCliError> {
    std::fs::read(p).map_err(|source| LcCliError::Read {
        path: p.display().to_string(),
        source,
    })
}

/// Why the updates of one file could not be decoded (its report line).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Undecodable(String);

/// `--network`: the beacon networks built in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BeaconNetwork {
    /// Ethereum mainnet.
    Mainnet,
    /// The Sepolia testnet.
    Sepolia,
    /// The Holesky testnet.
    Holesky,
}

impl BeaconNetwork {
    /// The network's name (as `[chains.beacon] network` spells it).
    pub fn name(self) -> &'static str {
        match self {
            Self::Mainnet => "mainnet",
            Self::Sepolia => "sepolia",
            Self::Holesky => "holesky",
        }
    }
}

fn spec_of(network: &str) -> Result<(ChainSpec, u64), LcCliError> {
    let spec = ChainSpec::by_name(network).ok_or_else(|| {
        InputError::new(
            "--network",
            "\"mainnet\", \"sepolia\" or \"holesky\"",
            network,
        )
    })?;
    Ok((
        spec,
        crate::config::beacon::genesis_time(network).unwrap_or(0),
    ))
}

/// Writes verdict lines, each with the store's state after the object.
struct Report<'w, W: Write> {
    out: &'w mut W,
    all_valid: bool,
}

impl<W: Write> Report<'_, W> {
    fn line(
        &mut self,
        file: &str,
        index: usize,
        kind: &str,
        result: Result<(), (String, bool)>,
        store: Option<&LightClientStore>,
    ) -> Result<(), LcCliError> {
        let (finalized_slot, optimistic_slot, period) = match store {
            Some(s) => {
                let f = s.finalized_header().beacon.slot;
                (
                    Some(f),
                    Some(s.optimistic_header().beacon.slot),
                    Some(s.spec().period_at_slot(f)),
                )
            }
            None => (None, None, None),
        };
        let (verdict, error, retryable) = match result {
            Ok(()) => ("valid", None, None),
            Err((e, retryable)) => {
                self.all_valid = false;
                ("invalid", Some(e), Some(retryable))
            }
        };
        let text = serde_json::to_string(&Line {
            file: file.to_owned(),
            index,
            kind,
            verdict,
            error,
            retryable,
            finalized_slot,
            optimistic_slot,
            period,
        })?;
        writeln!(self.out, "{text}")?;
        Ok(())
    }
}

fn invalid(e: &switchyard_lc_beacon::Error) -> (String, bool) {
    (e.to_string(), e.is_retryable())
}

/// Verifies and applies everything in `args`, writing a line per object to
/// `out`. Returns whether every object was valid; `Err` only for usage
/// errors (unknown network, unreadable file).
pub fn verify_ethereum(args: &VerifyArgs, out: &mut impl Write) -> Result<bool, LcCliError> {
    let (spec, genesis_time) = spec_of(&args.network)?;
    let now_slot = args
        .current_slot
        .unwrap_or_else(|| crate::config::beacon::wall_clock(genesis_time)());
    let mut report = Report {
        out,
        all_valid: true,
    };

    let bytes = read_file(&args.bootstrap)?;
    let file = args.bootstrap.display().to_string();
    let bootstrap = if is_json(&bytes) {
        std::str::from_utf8(&bytes)
            .map_err(|e| switchyard_lc_beacon::Error::Decode {
                what: "bootstrap",
                reason: format!("not UTF-8 JSON: {e}"),
            })
            .and_then(json::bootstrap_from_json)
    } else {
        codec::from_ssz_by_slot(&bytes, &spec, "bootstrap", codec::bootstrap_from_ssz, |b| {
            b.header.beacon.slot
        })
    };
    let mut store = match bootstrap
        .and_then(|b| LightClientStore::from_bootstrap(args.trusted_root, b, spec.clone()))
    {
        Ok(s) => {
            report.line(&file, 0, "bootstrap", Ok(()), Some(&s))?;
            s
        }
        Err(e) => {
            // Without a trusted store nothing after it can be checked.
            report.line(&file, 0, "bootstrap", Err(invalid(&e)), None)?;
            return Ok(false);
        }
    };

    for path in &args.updates {
        let bytes = read_file(path)?;
        let file = path.display().to_string();
        let (kind, decoded) = decode_updates(&bytes, &spec);
        let updates = match decoded {
            Ok(u) => u,
            Err(e) => {
                report.line(&file, 0, kind, Err((e.to_string(), false)), Some(&store))?;
                continue;
            }
        };
        for (index, u) in updates.into_iter().enumerate() {
            let result = u
                .and_then(|u| store.verify_update(&u, now_slot))
                .and_then(|v| store.apply_update(v))
                .map(|_| ())
                .map_err(|e| invalid(&e));
            report.line(&file, index, kind, result, Some(&store))?;
        }
    }
    Ok(report.all_valid)
}

/// Runs a consensus-spec-tests `light_client/sync` case folder (its own
/// network, trusted root and clock), one line per step, a step being
/// invalid when the light client refuses it or ends in another state than
/// the case's checks. `Err` when the folder is not a readable case.
pub fn verify_case(dir: &Path, out: &mut impl Write) -> Result<bool, LcCliError> {
    let case = spectest::load_sync_case(|name| std::fs::read(dir.join(name))).map_err(|e| {
        LcCliError::Unusable {
            what: format!("--case {}", dir.display()),
            reason: e.to_string(),
        }
    })?;
    let mut report = Report {
        out,
        all_valid: true,
    };
    let file = dir.join("bootstrap.ssz_snappy").display().to_string();
    let mut store =
        match LightClientStore::from_bootstrap(case.trusted_root, case.bootstrap, case.spec) {
            Ok(s) => {
                report.line(&file, 0, "bootstrap", Ok(()), Some(&s))?;
                s
            }
            Err(e) => {
                report.line(&file, 0, "bootstrap", Err(invalid(&e)), None)?;
                return Ok(false);
            }
        };
    for (i, step) in case.steps.iter().enumerate() {
        let file = match &step.action {
            StepAction::Update { name, .. } => dir.join(format!("{name}.ssz_snappy")),
            _ => dir.join("steps.yaml"),
        };
        let result = spectest::run_step(&mut store, step).map_err(|e| invalid(&e));
        report.line(
            &file.display().to_string(),
            i,
            step.action.kind(),
            result,
            Some(&store),
        )?;
    }
    Ok(report.all_valid)
}

fn is_json(bytes: &[u8]) -> bool {
    matches!(
        bytes.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[')
    )
}

/// Updates decoded from one file, each on its own (one may fail to decode
/// while the others are checked).
type Decoded = Vec<switchyard_lc_beacon::Result<LightClientUpdate>>;

/// The updates in one file and what kind they are. JSON is told apart by
/// shape: an array is `light_client/updates`; an envelope with
/// `next_sync_committee` is an update, one with `finalized_header` a
/// finality update, otherwise an optimistic update. SSZ is the
/// `light_client/updates` chunk stream if it frames as one, else a single
/// finality or optimistic update (their fork found from their slot).
fn decode_updates(bytes: &[u8], spec: &ChainSpec) -> (&'static str, Result<Decoded, Undecodable>) {
    if !is_json(bytes) {
        return decode_ssz_updates(bytes, spec);
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => return ("unknown", Err(Undecodable(format!("not UTF-8 JSON: {e}")))),
    };
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return ("unknown", Err(Undecodable(format!("not JSON: {e}")))),
    };
    let preset = &spec.preset;
    let one = |r: switchyard_lc_beacon::Result<LightClientUpdate>| r.map(|u| vec![Ok(u)]);
    let (kind, result) = if value.is_array() {
        (
            "update",
            json::updates_from_json(text, preset).map(|v| v.into_iter().map(Ok).collect()),
        )
    } else if value["data"].get("next_sync_committee").is_some() {
        ("update", one(json::update_from_json(text, preset)))
    } else if value["data"].get("finalized_header").is_some() {
        (
            "finality_update",
            one(json::finality_update_from_json(text, preset).map(Into::into)),
        )
    } else {
        (
            "optimistic_update",
            one(json::optimistic_update_from_json(text, preset).map(Into::into)),
        )
    };
    (kind, result.map_err(|e| Undecodable(e.to_string())))
}

fn decode_ssz_updates(
    bytes: &[u8],
    spec: &ChainSpec,
) -> (&'static str, Result<Decoded, Undecodable>) {
    let stream_err = match codec::updates_from_ssz_stream(bytes, spec) {
        Ok(updates) => return ("update", Ok(updates)),
        Err(e) => e,
    };
    let attested = |u: &LightClientUpdate| u.attested_header.beacon.slot;
    if let Ok(u) = codec::from_ssz_by_slot(
        bytes,
        spec,
        "finality update",
        |b, f, p| codec::finality_update_from_ssz(b, f, p).map(LightClientUpdate::from),
        attested,
    ) {
        return ("finality_update", Ok(vec![Ok(u)]));
    }
    match codec::from_ssz_by_slot(
        bytes,
        spec,
        "optimistic update",
        |b, f, p| codec::optimistic_update_from_ssz(b, f, p).map(LightClientUpdate::from),
        attested,
    ) {
        Ok(u) => ("optimistic_update", Ok(vec![Ok(u)])),
        Err(e) => (
            "unknown",
            Err(Undecodable(format!(
                "SSZ that is neither an update stream ({stream_err}) nor a finality or optimistic update ({e})"
            ))),
        ),
    }
}

/// What `lc verify cometbft` checks.
#[derive(Debug, Clone)]
pub struct CometArgs {
    /// The block the operator trusts (LightBlock JSON or an RPC bundle).
    pub trusted: PathBuf,
    /// Blocks to verify, in order (each file one block or an array).
    pub untrusted: Vec<PathBuf>,
    /// The clock: RFC 3339 or Unix seconds (default: now).
    pub now: Option<String>,
    /// Trusting period, seconds.
    pub trusting_period_secs: u64,
    /// `n/d`.
    pub trust_threshold: String,
    /// Allowed clock drift, seconds.
    pub clock_drift_secs: u64,
    /// Verify the highest block by bisection, taking pivots from the given
    /// blocks, instead of each block in turn.
    pub bisect: bool,
}

#[derive(Debug, Serialize)]
struct CometLine<'a> {
    file: &'a str,
    index: usize,
    #[serde(flatten)]
    report: switchyard_lc_cometbft::StepReport,
    /// With `--bisect`: the heights fetched on the way, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fetched: Vec<u64>,
}

/// Verifies CometBFT blocks against a trusted one, one JSON line per step
/// (`verdict` SUCCESS, NOT_ENOUGH_TRUST or INVALID, the trusted height it
/// was checked against); the trusted state moves only on SUCCESS. Returns
/// whether no step was INVALID (not enough trust calls for bisection, not
/// for alarm); `Err` for usage errors (unreadable file, bad option).
pub fn verify_cometbft(args: &CometArgs, out: &mut impl Write) -> Result<bool, LcCliError> {
    use switchyard_lc_cometbft::{
        Config, LightClient, TrustedState, json, parse_time, verify_sequence, verify_to_height,
    };
    let read = |p: &PathBuf| {
        std::fs::read_to_string(p).map_err(|source| LcCliError::Read {
            path: p.display().to_string(),
            source,
        })
    };
    let client = LightClient::from_config(&Config {
        trust_threshold: args.trust_threshold.clone(),
        trusting_period_secs: args.trusting_period_secs,
        clock_drift_secs: args.clock_drift_secs,
        signatures: Default::default(),
    })
    .map_err(|e| {
        InputError::new(
            "--trust-threshold",
            format!("n/d with 1/3 <= n/d <= 1 ({e})"),
            &args.trust_threshold,
        )
    })?;
    let now = match &args.now {
        Some(t) => parse_time(t)
            .map_err(|e| InputError::new("--now", format!("RFC 3339 or Unix seconds ({e})"), t))?,
        None => switchyard_lc_cometbft::Time::now(),
    };
    let trusted_file = args.trusted.display().to_string();
    let mut trusted = json::light_block_auto(&read(&args.trusted)?)
        .and_then(TrustedState::new)
        .map_err(|e| LcCliError::Unusable {
            what: format!("--trusted {trusted_file}"),
            reason: e.to_string(),
        })?;
    let mut blocks = Vec::new();
    for p in &args.untrusted {
        let file = p.display().to_string();
        let found = json::light_blocks_auto(&read(p)?).map_err(|e| LcCliError::Unusable {
            what: format!("--untrusted {file}"),
            reason: e.to_string(),
        })?;
        blocks.extend(
            found
                .into_iter()
                .enumerate()
                .map(|(i, b)| (file.clone(), i, b)),
        );
    }
    let mut emit = |file: &str, index: usize, report, fetched| -> Result<(), LcCliError> {
        let text = serde_json::to_string(&CometLine {
            file,
            index,
            report,
            fetched,
        })?;
        writeln!(out, "{text}")?;
        Ok(())
    };
    if !args.bisect {
        let only: Vec<_> = blocks.iter().map(|(_, _, b)| b.clone()).collect();
        let reports = verify_sequence(&client, &mut trusted, &only, now);
        let mut ok = true;
        for ((file, index, _), report) in blocks.iter().zip(reports) {
            // Not enough trust is not a fault of the block: bisect.
            ok &= report.verdict != switchyard_lc_cometbft::VerdictClass::Invalid;
            emit(file, *index, report, Vec::new())?;
        }
        return Ok(ok);
    }
    // Bisection: the given blocks are the only source of pivots.
    let Some((file, index, target)) = blocks.iter().max_by_key(|(_, _, b)| b.height()) else {
        return Err(InputError::new("--untrusted", "at least one block with --bisect", "").into());
    };
    let by_height: std::collections::HashMap<u64, _> = blocks
        .iter()
        .map(|(_, _, b)| (b.height().value(), b.clone()))
        .collect();
    let trusted_height = trusted.height();
    let result = verify_to_height(&client, &trusted, target.height().value(), now, |h| {
        by_height
            .get(&h)
            .cloned()
            .ok_or_else(|| switchyard_lc_cometbft::Error::Source {
                height: h,
                reason: "bisection needs this block; no --untrusted file holds it".into(),
                retryable: false,
            })
    });
    let report = match &result {
        Ok(_) => switchyard_lc_cometbft::StepReport {
            height: target.height().value(),
            trusted_height,
            verdict: switchyard_lc_cometbft::VerdictClass::Success,
            error: None,
            retryable: false,
        },
        Err(e) => switchyard_lc_cometbft::StepReport {
            height: target.height().value(),
            trusted_height,
            verdict: e.class(),
            error: Some(e.to_string()),
            retryable: e.is_retryable(),
        },
    };
    let fetched = match &result {
        Ok(synced) => synced.fetched.clone(),
        Err(_) => Vec::new(),
    };
    emit(file, *index, report, fetched)?;
    Ok(result.is_ok())
}

#[derive(Subcommand, Debug)]
pub enum LcCmd {
    /// Verify light-client data as the hub's light client would; one JSON
    /// line per object; exit 1 if any object is invalid.
    Verify {
        #[command(subcommand)]
        chain: LcChain,
    },
}

#[derive(Subcommand, Debug)]
pub enum LcChain {
    /// Ethereum beacon chain (sync committees), from the beacon API's JSON
    /// or SSZ responses, or a consensus-spec-tests case folder.
    Ethereum {
        /// Network whose fork schedule and genesis validators root apply.
        #[arg(long, value_enum, default_value_t = BeaconNetwork::Mainnet)]
        network: BeaconNetwork,
        /// Block root of the bootstrap you trust (weak subjectivity).
        #[arg(long, required_unless_present = "case")]
        trusted_root: Option<alloy_primitives::B256>,
        /// `light_client/bootstrap` response (JSON, or SSZ).
        #[arg(long, required_unless_present = "case")]
        bootstrap: Option<PathBuf>,
        /// Update files in order: `light_client/updates` arrays, update,
        /// finality-update or optimistic-update envelopes (JSON); the
        /// `light_client/updates` chunk stream, a finality or optimistic
        /// update (SSZ).
        #[arg(long, num_args = 1..)]
        updates: Vec<PathBuf>,
        /// Current slot (default: from the clock).
        #[arg(long)]
        current_slot: Option<u64>,
        /// A consensus-spec-tests `light_client/sync` case folder
        /// (meta.yaml, config.yaml, steps.yaml, SSZ-snappy objects): its own
        /// network, trusted root and clock; one line per step.
        #[arg(long, conflicts_with_all = ["trusted_root", "bootstrap", "updates", "current_slot"])]
        case: Option<PathBuf>,
    },
    /// A CometBFT chain: skipping verification from a trusted block
    /// (tendermint-light-client-verifier), one JSON line per step; exit 1
    /// if a step is INVALID.
    Cometbft(CometCli),
    /// A rollup block proved from L1 (OP Stack output roots, Arbitrum BoLD
    /// assertions): the L1 storage proofs of the settlement contract you
    /// name, the commitment, the L2 header, the finality policy. One JSON
    /// line with the verdict (or the hop that refused the bundle); exit 1
    /// if invalid.
    Rollup(rollup::RollupCli),
}

#[derive(clap::Args, Debug)]
pub struct CometCli {
    /// The block you trust: tendermint-rs LightBlock JSON, or an RPC bundle
    /// `{"commit": <'/commit' result>, "validators": <'/validators' result>}`.
    #[arg(long)]
    pub trusted: PathBuf,
    /// Blocks to verify in order (each file one block, in either form, or
    /// a JSON array of them).
    #[arg(long, num_args = 1.., required = true)]
    pub untrusted: Vec<PathBuf>,
    /// The clock: RFC 3339 or Unix seconds (default: now).
    #[arg(long)]
    pub now: Option<String>,
    /// Trusting period, seconds (below the chain's unbonding period).
    #[arg(
        long = "trusting-period-secs",
        alias = "trusting-period",
        value_name = "SECS",
        default_value_t = 1_209_600
    )]
    pub trusting_period: u64,
    /// Trust threshold `n/d` (1/3 ≤ n/d ≤ 1).
    #[arg(long, default_value = "1/3")]
    pub trust_threshold: String,
    /// Allowed clock drift, seconds.
    #[arg(
        long = "clock-drift-secs",
        alias = "clock-drift",
        value_name = "SECS",
        default_value_t = 5
    )]
    pub clock_drift: u64,
    /// Verify the highest block by skipping with bisection, pivots taken
    /// from the given blocks.
    #[arg(long)]
    pub bisect: bool,
}

/// Runs `switchyard lc`.
pub fn command(cmd: LcCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        LcCmd::Verify {
            chain:
                LcChain::Ethereum {
                    network,
                    trusted_root,
                    bootstrap,
                    updates,
                    current_slot,
                    case,
                },
        } => {
            let out = &mut std::io::stdout().lock();
            let all_valid = match (case, trusted_root, bootstrap) {
                (Some(dir), _, _) => verify_case(&dir, out),
                (None, Some(trusted_root), Some(bootstrap)) => {
                    let args = VerifyArgs {
                        network: network.name().to_owned(),
                        trusted_root,
                        bootstrap,
                        updates,
                        current_slot,
                    };
                    verify_ethereum(&args, out)
                }
                // clap requires both unless --case is given.
                _ => Err(InputError::new(
                    "--trusted-root and --bootstrap",
                    "both, without --case",
                    "",
                )
                .into()),
            }?;
            Ok(if all_valid {
                ExitCode::SUCCESS
            } else {
                super::exit::Exit::No.into()
            })
        }
        LcCmd::Verify {
            chain: LcChain::Cometbft(c),
        } => {
            let args = CometArgs {
                trusted: c.trusted,
                untrusted: c.untrusted,
                now: c.now,
                trusting_period_secs: c.trusting_period,
                trust_threshold: c.trust_threshold,
                clock_drift_secs: c.clock_drift,
                bisect: c.bisect,
            };
            let ok = verify_cometbft(&args, &mut std::io::stdout().lock())?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                super::exit::Exit::No.into()
            })
        }
        LcCmd::Verify {
            chain: LcChain::Rollup(r),
        } => {
            let ok = rollup::verify_rollup(&r, &mut std::io::stdout().lock())?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
