//! `switchyard lc verify rollup`: an operator checks a rollup bundle (the
//! JSON form of the RIP-7755 vectors: an L1 state root, the settlement
//! contract's account and storage proofs, the L2 header) exactly as the
//! hub's rollup light client would, and reads off the L2 block it proves.
//!
//! The settlement contract is named on the command line, never taken from
//! the bundle: a bundle proving some other contract's storage proves
//! nothing about the rollup. One JSON line: the verdict, or the hop that
//! refused the bundle and why; the caller exits 1 when it is invalid.

use std::io::Write;
use std::path::PathBuf;

use alloy_primitives::{Address, B256};
use clap::ArgGroup;
use serde::Serialize;
use switchyard_lc_rollup::op::FactoryLayout;
use switchyard_lc_rollup::{
    Bundle, FinalityPolicy, Hop, MinAge, Now, RollupError, RollupKind, Settlement, Target, Verdict,
    verify_bundle, verify_bundle_at_state_root,
};

use super::LcCliError;
use crate::input::InputError;

/// `lc verify rollup`'s options.
#[derive(clap::Args, Debug, Clone)]
#[command(group(
    ArgGroup::new("settlement")
        .required(true)
        .args(["rollup", "registry", "factory", "oracle"])
))]
pub struct RollupCli {
    /// The rollup family: `arbitrum` (BoLD assertions) or `op-stack`
    /// (output roots).
    #[arg(long, value_enum)]
    pub kind: KindArg,
    /// The bundle: JSON with `stateProofParams`,
    /// `dstL2StateRootProofParams`, `encodedBlockArray` and the kind's
    /// parts (the RIP-7755 test data form).
    #[arg(long)]
    pub proof: PathBuf,
    /// A beacon block root you trust: the bundle's L1 state root must be
    /// proven under it (SSZ branch). Without it (or `--state-root`) the
    /// bundle's own state root is taken as given and the verdict says
    /// `unanchored`.
    #[arg(long, conflicts_with = "state_root")]
    pub beacon_root: Option<B256>,
    /// An L1 execution state root you trust (from a verified header): the
    /// bundle's must be this one.
    #[arg(long)]
    pub state_root: Option<B256>,
    /// Arbitrum: the BoLD Rollup contract on L1.
    #[arg(long)]
    pub rollup: Option<Address>,
    /// OP Stack: the AnchorStateRegistry on L1 (its anchor for
    /// `--game-type` is proven).
    #[arg(long)]
    pub registry: Option<Address>,
    /// OP Stack: the DisputeGameFactory on L1 (the bundle then carries
    /// `disputeGame`).
    #[arg(long)]
    pub factory: Option<Address>,
    /// OP Stack: the legacy L2OutputOracle on L1 (the bundle then carries
    /// `outputOracle`).
    #[arg(long)]
    pub oracle: Option<Address>,
    /// With `--registry`: the game type whose anchor is proven.
    #[arg(long, default_value_t = 0, requires = "registry")]
    pub game_type: u32,
    /// With `--factory`: the game types accepted (0 CANNON, 1
    /// PERMISSIONED_CANNON, ...).
    #[arg(long, value_delimiter = ',', default_values_t = [0u32, 1], requires = "factory")]
    pub game_types: Vec<u32>,
    /// With `--factory`: the factory predates `initBonds`
    /// (`_disputeGames` at slot 102, not 103).
    #[arg(long, requires = "factory")]
    pub legacy_factory_layout: bool,
    /// The L2 contract whose storage slot the bundle proves (its
    /// `dstL2AccountProofParams`).
    #[arg(long, conflicts_with = "ignore_l2_proof")]
    pub l2_account: Option<Address>,
    /// Checks the bundle without its L2 storage proof, for a bundle whose
    /// L2 account you cannot name (the verdict then says
    /// `"l2_proof": "ignored"`).
    #[arg(long)]
    pub ignore_l2_proof: bool,
    /// The clock, Unix seconds (default: now).
    #[arg(long)]
    pub now: Option<u64>,
    /// The L1 block the proofs were taken at: needed only for the minimum
    /// age of a pending Arbitrum assertion, which counts L1 blocks.
    #[arg(long)]
    pub l1_block: Option<u64>,
    /// Seconds a dispute game must have been resolved before it is final.
    #[arg(
        long = "game-finality-delay-secs",
        alias = "game-finality-delay",
        value_name = "SECS",
        default_value_t = switchyard_lc_rollup::DEFAULT_GAME_FINALITY_DELAY
    )]
    pub game_finality_delay: u64,
    /// Seconds after an L2OutputOracle proposal before it is final.
    #[arg(
        long = "output-finalization-period-secs",
        alias = "output-finalization-period",
        value_name = "SECS",
        default_value_t = switchyard_lc_rollup::DEFAULT_OUTPUT_FINALIZATION_PERIOD
    )]
    pub output_finalization_period: u64,
    /// Refuses AnchorStateRegistry anchors (they record no resolution time,
    /// so the finality delay cannot be checked on them).
    #[arg(long)]
    pub no_anchor_state: bool,
    /// Opt-in, weaker: accepts an OP Stack proposal that is not final yet
    /// once it is this many seconds old (`trust` then says
    /// `minimum_age`).
    #[arg(long)]
    pub min_age_secs: Option<u64>,
    /// Opt-in, weaker: accepts a pending Arbitrum assertion once it is this
    /// many L1 blocks old (needs `--l1-block`).
    #[arg(long, requires = "l1_block")]
    pub min_age_l1_blocks: Option<u64>,
}

/// The report line.
#[derive(Debug, Serialize)]
struct Line<'a> {
    file: String,
    /// The bundle's kind (a verdict names it itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<RollupKind>,
    verdict: &'static str,
    /// The bundle's L2 storage proof was left out (`--ignore-l2-proof`).
    #[serde(skip_serializing_if = "Option::is_none")]
    l2_proof: Option<&'static str>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    proven: Option<&'a Verdict>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    refused: Option<Refusal>,
}

/// Why a bundle was refused.
#[derive(Debug, Serialize)]
struct Refusal {
    /// The hop of the chain of proofs that refused it.
    hop: Hop,
    /// A bounded label (as the hub's `switchyard_rejections_total`).
    reason: &'static str,
    /// The values that disagreed.
    error: String,
    /// Whether the same bundle may pass later (a proposal not final yet).
    retryable: bool,
}

/// `--kind`: the rollup families the light client proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KindArg {
    /// Arbitrum with BoLD assertions.
    Arbitrum,
    /// An OP Stack chain (output roots).
    OpStack,
}

impl RollupCli {
    fn kind(&self) -> RollupKind {
        match self.kind {
            KindArg::Arbitrum => RollupKind::Arbitrum,
            KindArg::OpStack => RollupKind::OpStack,
        }
    }

    /// The settlement contract the options name, which must be one of the
    /// kind's forms.
    fn settlement(&self, kind: RollupKind) -> Result<Settlement, InputError> {
        let s = match (self.rollup, self.registry, self.factory, self.oracle) {
            (Some(rollup), None, None, None) => Settlement::ArbitrumRollup { rollup },
            (None, Some(registry), None, None) => Settlement::OpAnchorStateRegistry {
                registry,
                game_type: self.game_type,
            },
            (None, None, Some(factory), None) => {
                if self.game_types.is_empty() {
                    return Err(InputError::new(
                        "--game-types",
                        "at least one game type",
                        "",
                    ));
                }
                Settlement::OpDisputeGameFactory {
                    factory,
                    game_types: self.game_types.clone(),
                    layout: if self.legacy_factory_layout {
                        FactoryLayout::Legacy
                    } else {
                        FactoryLayout::WithInitBonds
                    },
                }
            }
            (None, None, None, Some(oracle)) => Settlement::OpL2OutputOracle { oracle },
            // clap's group admits exactly one.
            _ => {
                return Err(InputError::new(
                    "settlement",
                    "exactly one of --rollup, --registry, --factory, --oracle",
                    "several",
                ));
            }
        };
        if s.kind() != kind {
            let expected = match kind {
                RollupKind::Arbitrum => "--rollup for --kind arbitrum",
                _ => "--registry, --factory or --oracle for --kind op-stack",
            };
            let got = match s {
                Settlement::ArbitrumRollup { .. } => "--rollup",
                Settlement::OpAnchorStateRegistry { .. } => "--registry",
                Settlement::OpDisputeGameFactory { .. } => "--factory",
                _ => "--oracle",
            };
            return Err(InputError::new("settlement contract", expected, got));
        }
        Ok(s)
    }

    fn policy(&self) -> FinalityPolicy {
        let min_age = match (self.min_age_secs, self.min_age_l1_blocks) {
            (None, None) => None,
            // The family not given is never old enough.
            (secs, blocks) => Some(MinAge {
                seconds: secs.unwrap_or(u64::MAX),
                l1_blocks: blocks.unwrap_or(u64::MAX),
            }),
        };
        FinalityPolicy {
            game_finality_delay: self.game_finality_delay,
            output_finalization_period: self.output_finalization_period,
            accept_anchor_state: !self.no_anchor_state,
            min_age,
        }
    }
}

/// Verifies the bundle `args` names and writes one JSON line to `out`.
/// Returns whether it is valid; `Err` only for usage errors (an option that
/// does not fit the kind, an unreadable file).
pub fn verify_rollup(args: &RollupCli, out: &mut impl Write) -> Result<bool, LcCliError> {
    let kind = args.kind();
    let target = Target {
        settlement: args.settlement(kind)?,
        l2_account: args.l2_account,
    };
    let policy = args.policy();
    let now = Now {
        unix: args.now.unwrap_or_else(|| crate::unix_ms() / 1000),
        l1_block: args.l1_block,
    };
    let file = args.proof.display().to_string();
    let text = std::fs::read_to_string(&args.proof).map_err(|source| LcCliError::Read {
        path: file.clone(),
        source,
    })?;
    let result = Bundle::from_json(kind, &text).and_then(|mut bundle| {
        if args.ignore_l2_proof {
            strip_l2_proof(&mut bundle);
        }
        match args.state_root {
            Some(root) => verify_bundle_at_state_root(&target, &bundle, root, &policy, now),
            None => verify_bundle(&target, &bundle, args.beacon_root, &policy, now),
        }
    });
    let (verdict, proven, refused) = match &result {
        Ok(v) => ("valid", Some(v), None),
        Err(e) => ("invalid", None, Some(refusal(e))),
    };
    let line = serde_json::to_string(&Line {
        file,
        kind: proven.is_none().then_some(kind),
        verdict,
        l2_proof: args.ignore_l2_proof.then_some("ignored"),
        proven,
        refused,
    })?;
    writeln!(out, "{line}")?;
    Ok(result.is_ok())
}

fn refusal(e: &RollupError) -> Refusal {
    Refusal {
        hop: e.hop(),
        reason: e.reason(),
        error: e.to_string(),
        retryable: e.is_retryable(),
    }
}

fn strip_l2_proof(bundle: &mut Bundle) {
    match bundle {
        Bundle::Arbitrum(a) => a.dst_l2_account_proof_params = None,
        Bundle::OpStack(o) => o.dst_l2_account_proof_params = None,
        // Bundle is non-exhaustive: a kind added later keeps its proof,
        // which the verifier then checks or refuses.
        _ => {}
    }
}
