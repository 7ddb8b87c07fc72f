//! consensus-spec-tests `light_client/sync` case folders: `meta.yaml`
//! (trusted root, genesis validators root, fork digests), `config.yaml` (the
//! fork schedule), `bootstrap.ssz_snappy`, and `steps.yaml` naming the
//! updates to process and the headers the store must hold after each step.
//!
//! The crate's own tests and `switchyard lc verify ethereum --case` run
//! cases through this one loader and step runner. It reads nothing itself:
//! the caller hands it the files' bytes by name.

use alloy_primitives::B256;
use serde_norway::Value;

use crate::config::{Fork, ForkEntry, Preset};
use crate::error::{Error, Result};
use crate::store::LightClientStore;
use crate::types::{LightClientBootstrap, LightClientHeader, LightClientUpdate};
use crate::{ChainSpec, codec};

/// A header the store must hold after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedHeader {
    /// Beacon slot.
    pub slot: u64,
    /// `hash_tree_root` of the beacon header.
    pub beacon_root: B256,
    /// Root of the execution payload header (Capella on; absent before).
    pub execution_root: Option<B256>,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum StepAction {
    /// `process_update`: verify and apply an update.
    Update {
        /// The update's file name (without `.ssz_snappy`).
        name: String,
        /// The clock.
        current_slot: u64,
        /// The decoded update, or why it does not decode.
        update: Box<Result<LightClientUpdate>>,
    },
    /// `force_update` after the spec's timeout.
    Force {
        /// The clock.
        current_slot: u64,
    },
    /// `upgrade_store` to a fork.
    UpgradeStore {
        /// The fork the digest names.
        fork: Fork,
    },
}

impl StepAction {
    /// The step's name in `steps.yaml`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Update { .. } => "process_update",
            Self::Force { .. } => "force_update",
            Self::UpgradeStore { .. } => "upgrade_store",
        }
    }
}

/// One step and the store it must leave behind.
#[derive(Debug, Clone)]
pub struct Step {
    /// What to do.
    pub action: StepAction,
    /// `checks.finalized_header`.
    pub finalized: ExpectedHeader,
    /// `checks.optimistic_header`.
    pub optimistic: ExpectedHeader,
}

/// A loaded case.
#[derive(Debug, Clone)]
pub struct SyncCase {
    /// The case's network (minimal preset, its fork schedule and genesis
    /// validators root).
    pub spec: ChainSpec,
    /// `trusted_block_root`.
    pub trusted_root: B256,
    /// The bootstrap, decoded in the fork `bootstrap_fork_digest` names.
    pub bootstrap: LightClientBootstrap,
    /// The steps in order.
    pub steps: Vec<Step>,
}

fn bad(file: &'static str, reason: impl std::fmt::Display) -> Error {
    Error::decode(file, reason)
}

fn yaml(
    read: &mut impl FnMut(&str) -> std::io::Result<Vec<u8>>,
    file: &'static str,
) -> Result<Value> {
    let bytes = read(file).map_err(|e| bad(file, e))?;
    serde_norway::from_slice(&bytes).map_err(|e| bad(file, e))
}

fn snappy(bytes: &[u8], file: &'static str) -> Result<Vec<u8>> {
    // Raw snappy blocks, not the framed format.
    snap::raw::Decoder::new()
        .decompress_vec(bytes)
        .map_err(|e| bad(file, format!("not a raw snappy block: {e}")))
}

fn hex4(v: &Value, file: &'static str, key: &str) -> Result<[u8; 4]> {
    let s = match v {
        Value::String(s) => s.clone(),
        // `0x01000001` unquoted reads as an integer in YAML 1.1.
        Value::Number(n) => format!(
            "0x{:08x}",
            n.as_u64()
                .ok_or_else(|| bad(file, format!("{key}: expected 4 bytes, got {n}")))?
        ),
        other => {
            return Err(bad(
                file,
                format!("{key}: expected 4 hex bytes, got {other:?}"),
            ));
        }
    };
    alloy_primitives::hex::decode(&s)
        .ok()
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .ok_or_else(|| bad(file, format!("{key}: expected 4 hex bytes, got {s:?}")))
}

fn b256(v: &Value, file: &'static str, key: &str) -> Result<B256> {
    v.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
        bad(
            file,
            format!("{key}: expected a 32-byte hex root, got {v:?}"),
        )
    })
}

fn u64_of(v: &Value, file: &'static str, key: &str) -> Result<u64> {
    v.as_u64()
        .ok_or_else(|| bad(file, format!("{key}: expected an integer, got {v:?}")))
}

fn chain_spec(config: &Value, gvr: B256) -> Result<ChainSpec> {
    const FILE: &str = "config.yaml";
    if config["PRESET_BASE"].as_str() != Some("minimal") {
        return Err(bad(
            FILE,
            format!(
                "PRESET_BASE: expected \"minimal\" (the light-client sync tests' preset), got {:?}",
                config["PRESET_BASE"]
            ),
        ));
    }
    let mut forks = vec![ForkEntry {
        fork: Fork::Phase0,
        version: hex4(
            &config["GENESIS_FORK_VERSION"],
            FILE,
            "GENESIS_FORK_VERSION",
        )?,
        epoch: 0,
    }];
    for (fork, name) in [
        (Fork::Altair, "ALTAIR"),
        (Fork::Bellatrix, "BELLATRIX"),
        (Fork::Capella, "CAPELLA"),
        (Fork::Deneb, "DENEB"),
        (Fork::Electra, "ELECTRA"),
        (Fork::Fulu, "FULU"),
    ] {
        // Unscheduled forks are absent or at the far-future epoch.
        let Some(epoch) = config[format!("{name}_FORK_EPOCH").as_str()].as_u64() else {
            continue;
        };
        if epoch == u64::MAX {
            continue;
        }
        let key = format!("{name}_FORK_VERSION");
        forks.push(ForkEntry {
            fork,
            version: hex4(&config[key.as_str()], FILE, &key)?,
            epoch,
        });
    }
    Ok(ChainSpec {
        preset: Preset::MINIMAL,
        genesis_validators_root: gvr,
        forks,
    })
}

fn expected(v: &Value, key: &str) -> Result<ExpectedHeader> {
    const FILE: &str = "steps.yaml";
    Ok(ExpectedHeader {
        slot: u64_of(&v["slot"], FILE, &format!("{key}.slot"))?,
        beacon_root: b256(&v["beacon_root"], FILE, &format!("{key}.beacon_root"))?,
        // Altair-era files check no execution root.
        execution_root: match &v["execution_root"] {
            Value::Null => None,
            r => Some(b256(r, FILE, &format!("{key}.execution_root"))?),
        },
    })
}

/// Loads a case; `read(name)` returns the bytes of the case's file `name`.
/// Errors name the file and the key. An update that does not decode is not
/// an error here: its step carries the decoding error, as a verdict.
pub fn load_sync_case(mut read: impl FnMut(&str) -> std::io::Result<Vec<u8>>) -> Result<SyncCase> {
    let meta = yaml(&mut read, "meta.yaml")?;
    let gvr = b256(
        &meta["genesis_validators_root"],
        "meta.yaml",
        "genesis_validators_root",
    )?;
    let spec = chain_spec(&yaml(&mut read, "config.yaml")?, gvr)?;
    let fork_of = |v: &Value, file: &'static str, key: &str| -> Result<Fork> {
        let digest = hex4(v, file, key)?;
        spec.fork_of_digest(digest).ok_or_else(|| {
            bad(
                file,
                format!(
                    "{key}: 0x{} is the digest of no fork in config.yaml",
                    alloy_primitives::hex::encode(digest)
                ),
            )
        })
    };
    let bootstrap_fork = fork_of(
        &meta["bootstrap_fork_digest"],
        "meta.yaml",
        "bootstrap_fork_digest",
    )?;
    let raw = read("bootstrap.ssz_snappy").map_err(|e| bad("bootstrap.ssz_snappy", e))?;
    let bootstrap = codec::bootstrap_from_ssz(
        &snappy(&raw, "bootstrap.ssz_snappy")?,
        bootstrap_fork,
        &spec.preset,
    )?;
    let trusted_root = b256(
        &meta["trusted_block_root"],
        "meta.yaml",
        "trusted_block_root",
    )?;

    let steps_yaml = yaml(&mut read, "steps.yaml")?;
    let list = steps_yaml
        .as_sequence()
        .ok_or_else(|| bad("steps.yaml", "expected a list of steps"))?;
    let mut steps = Vec::with_capacity(list.len());
    for (i, step) in list.iter().enumerate() {
        let (kind, body) = step
            .as_mapping()
            .and_then(|m| m.iter().next())
            .ok_or_else(|| {
                bad(
                    "steps.yaml",
                    format!("step {i}: expected a one-key mapping"),
                )
            })?;
        let key = |k: &str| format!("step {i}: {k}");
        let action = match kind.as_str() {
            Some("process_update") => {
                let name = body["update"]
                    .as_str()
                    .ok_or_else(|| bad("steps.yaml", key("update: expected a file name")))?
                    .to_owned();
                let fork = fork_of(
                    &body["update_fork_digest"],
                    "steps.yaml",
                    &key("update_fork_digest"),
                )?;
                let file = format!("{name}.ssz_snappy");
                let update = read(&file)
                    .map_err(|e| bad("update file", format!("{file}: {e}")))
                    .and_then(|raw| snappy(&raw, "update file"))
                    .and_then(|bytes| codec::update_from_ssz(&bytes, fork, &spec.preset));
                StepAction::Update {
                    name,
                    current_slot: u64_of(
                        &body["current_slot"],
                        "steps.yaml",
                        &key("current_slot"),
                    )?,
                    update: Box::new(update),
                }
            }
            Some("force_update") => StepAction::Force {
                current_slot: u64_of(&body["current_slot"], "steps.yaml", &key("current_slot"))?,
            },
            Some("upgrade_store") => StepAction::UpgradeStore {
                fork: fork_of(
                    &body["store_fork_digest"],
                    "steps.yaml",
                    &key("store_fork_digest"),
                )?,
            },
            other => {
                return Err(bad(
                    "steps.yaml",
                    format!(
                        "step {i}: expected process_update, force_update or upgrade_store, got {other:?}"
                    ),
                ));
            }
        };
        let checks = &body["checks"];
        steps.push(Step {
            action,
            finalized: expected(&checks["finalized_header"], &key("checks.finalized_header"))?,
            optimistic: expected(
                &checks["optimistic_header"],
                &key("checks.optimistic_header"),
            )?,
        });
    }
    Ok(SyncCase {
        spec,
        trusted_root,
        bootstrap,
        steps,
    })
}

fn check(
    which: &'static str,
    got: &LightClientHeader,
    want: &ExpectedHeader,
    spec: &ChainSpec,
) -> Result<()> {
    let execution_root = match want.execution_root {
        Some(_) => Some(got.execution_root(spec)?),
        None => None,
    };
    let got_view = (got.beacon.slot, got.beacon_root(), execution_root);
    let want_view = (want.slot, want.beacon_root, want.execution_root);
    if got_view == want_view {
        Ok(())
    } else {
        Err(Error::decode(
            which,
            format!(
                "store holds slot {} root {} execution root {:?}, the case expects slot {} root {} execution root {:?}",
                got_view.0, got_view.1, got_view.2, want_view.0, want_view.1, want_view.2
            ),
        ))
    }
}

/// Runs one step on `store` as the spec's test runner does, then compares
/// the store's finalized and optimistic headers with the step's checks.
/// `Err` is the step's verdict: the update was refused (the light client's
/// own error) or the store differs from what the case expects.
pub fn run_step(store: &mut LightClientStore, step: &Step) -> Result<()> {
    match &step.action {
        StepAction::Update {
            current_slot,
            update,
            ..
        } => {
            let update = update.as_ref().as_ref().map_err(Clone::clone)?;
            let verified = store.verify_update(update, *current_slot)?;
            store.apply_update(verified)?;
        }
        StepAction::Force { current_slot } => {
            store.apply_force_update(*current_slot)?;
        }
        // The store keeps each header in the shape it was verified in and
        // derives execution roots from the header's own slot
        // (`get_lc_execution_root`), so upgrading the store's fork changes
        // nothing observable; loading checked that the digest names a
        // scheduled fork.
        StepAction::UpgradeStore { .. } => {}
    }
    let spec = store.spec().clone();
    check(
        "finalized header check",
        store.finalized_header(),
        &step.finalized,
        &spec,
    )?;
    check(
        "optimistic header check",
        store.optimistic_header(),
        &step.optimistic,
        &spec,
    )
}
