//! `switchyard lc verify ethereum`: an operator checks beacon light-client
//! data (a bootstrap, then updates) exactly as the hub's light client would,
//! from the beacon API's own JSON (`{version, data}` envelopes, or the array
//! `light_client/updates` serves), and reads off the finalized slot and
//! sync-committee period reached. One JSON line per object; the caller
//! exits non-zero if any object was invalid.

use std::io::Write;
use std::path::PathBuf;

use alloy_primitives::B256;
use serde::Serialize;
use switchyard_lc_beacon::{ChainSpec, LightClientStore, LightClientUpdate, json};

/// Beacon genesis times (Unix seconds) and the slot length: the default
/// current slot when none is given.
const GENESIS_TIMES: [(&str, u64); 3] = [
    ("mainnet", 1_606_824_023),
    ("sepolia", 1_655_733_600),
    ("holesky", 1_695_902_400),
];
const SECONDS_PER_SLOT: u64 = 12;

/// What to verify.
#[derive(Debug, Clone)]
pub struct VerifyArgs {
    /// Network name (its fork schedule and genesis validators root).
    pub network: String,
    /// The block root the operator trusts (weak subjectivity checkpoint).
    pub trusted_root: B256,
    /// Beacon API `light_client/bootstrap` response.
    pub bootstrap: PathBuf,
    /// Update files, applied in order: `light_client/updates` arrays,
    /// single update, finality-update or optimistic-update envelopes.
    pub updates: Vec<PathBuf>,
    /// The current slot (default: from the clock).
    pub current_slot: Option<u64>,
}

/// One line of output.
#[derive(Debug, Serialize)]
struct Line<'a> {
    file: String,
    /// Position within the file (arrays hold several updates).
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

fn spec_of(network: &str) -> Result<(ChainSpec, u64), String> {
    let spec = ChainSpec::by_name(network).ok_or_else(|| {
        format!("--network: expected \"mainnet\", \"sepolia\" or \"holesky\", got {network:?}")
    })?;
    let genesis = GENESIS_TIMES
        .iter()
        .find(|(n, _)| *n == network)
        .map_or(0, |(_, t)| *t);
    Ok((spec, genesis))
}

/// Verifies and applies everything in `args`, writing a line per object to
/// `out`. Returns whether every object was valid; `Err` only for usage
/// errors (unknown network, unreadable file).
pub fn verify_ethereum(args: &VerifyArgs, out: &mut impl Write) -> Result<bool, String> {
    let (spec, genesis_time) = spec_of(&args.network)?;
    let now_slot = args.current_slot.unwrap_or_else(|| {
        (crate::unix_ms() / 1000).saturating_sub(genesis_time) / SECONDS_PER_SLOT
    });
    let read = |p: &PathBuf| {
        std::fs::read_to_string(p).map_err(|e| format!("reading {}: {e}", p.display()))
    };
    let mut emit = |line: Line<'_>| -> Result<(), String> {
        let text = serde_json::to_string(&line).map_err(|e| e.to_string())?;
        writeln!(out, "{text}").map_err(|e| e.to_string())
    };
    let state = |s: &LightClientStore| {
        let f = s.finalized_header().beacon.slot;
        (
            Some(f),
            Some(s.optimistic_header().beacon.slot),
            Some(s.spec().period_at_slot(f)),
        )
    };

    let text = read(&args.bootstrap)?;
    let file = args.bootstrap.display().to_string();
    let store = json::bootstrap_from_json(&text)
        .and_then(|b| LightClientStore::from_bootstrap(args.trusted_root, b, spec.clone()));
    let mut store = match store {
        Ok(s) => {
            let (finalized_slot, optimistic_slot, period) = state(&s);
            emit(Line {
                file,
                index: 0,
                kind: "bootstrap",
                verdict: "valid",
                error: None,
                retryable: None,
                finalized_slot,
                optimistic_slot,
                period,
            })?;
            s
        }
        Err(e) => {
            // Without a trusted store nothing after it can be checked.
            emit(Line {
                file,
                index: 0,
                kind: "bootstrap",
                verdict: "invalid",
                error: Some(e.to_string()),
                retryable: Some(e.is_retryable()),
                finalized_slot: None,
                optimistic_slot: None,
                period: None,
            })?;
            return Ok(false);
        }
    };

    let mut all_valid = true;
    for path in &args.updates {
        let text = read(path)?;
        let file = path.display().to_string();
        let (kind, decoded) = decode_updates(&text, &spec);
        let updates = match decoded {
            Ok(u) => u,
            Err(e) => {
                all_valid = false;
                emit(Line {
                    file,
                    index: 0,
                    kind,
                    verdict: "invalid",
                    error: Some(e),
                    retryable: Some(false),
                    finalized_slot: None,
                    optimistic_slot: None,
                    period: None,
                })?;
                continue;
            }
        };
        for (index, u) in updates.iter().enumerate() {
            let result = store
                .verify_update(u, now_slot)
                .and_then(|v| store.apply_update(v));
            let (finalized_slot, optimistic_slot, period) = state(&store);
            let (verdict, error, retryable) = match result {
                Ok(_) => ("valid", None, None),
                Err(e) => {
                    all_valid = false;
                    ("invalid", Some(e.to_string()), Some(e.is_retryable()))
                }
            };
            emit(Line {
                file: file.clone(),
                index,
                kind,
                verdict,
                error,
                retryable,
                finalized_slot,
                optimistic_slot,
                period,
            })?;
        }
    }
    Ok(all_valid)
}

/// The updates in one file and what kind they are, told apart by shape: an
/// array is `light_client/updates`; an envelope with `next_sync_committee`
/// is an update, one with `finalized_header` a finality update, otherwise
/// an optimistic update.
fn decode_updates(
    text: &str,
    spec: &ChainSpec,
) -> (&'static str, Result<Vec<LightClientUpdate>, String>) {
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return ("unknown", Err(format!("not JSON: {e}"))),
    };
    let preset = &spec.preset;
    if value.is_array() {
        return (
            "update",
            json::updates_from_json(text, preset).map_err(|e| e.to_string()),
        );
    }
    let data = &value["data"];
    if data.get("next_sync_committee").is_some() {
        (
            "update",
            json::update_from_json(text, preset)
                .map(|u| vec![u])
                .map_err(|e| e.to_string()),
        )
    } else if data.get("finalized_header").is_some() {
        (
            "finality_update",
            json::finality_update_from_json(text, preset)
                .map(|u| vec![u.into()])
                .map_err(|e| e.to_string()),
        )
    } else {
        (
            "optimistic_update",
            json::optimistic_update_from_json(text, preset)
                .map(|u| vec![u.into()])
                .map_err(|e| e.to_string()),
        )
    }
}
