//! A beacon network as configured: the light client's chain spec (built in,
//! or a custom devnet's fork schedule), its genesis time and slot clock.
//! Interpreting `[chains.beacon]` is the configuration's business, so the
//! origin's watcher takes a [`Network`] and never reads the configuration.

use std::sync::Arc;

use switchyard_lc_beacon::{ChainSpec, Fork, ForkEntry, Preset};

use super::{BeaconConfig, ConfigError, CustomNetwork};
use crate::unix_ms;

/// The current beacon slot; a parameter so that recorded data can be
/// replayed at the time it was recorded.
pub type SlotClock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Beacon genesis times (Unix seconds) of the built-in networks.
const GENESIS_TIMES: [(&str, u64); 3] = [
    ("mainnet", 1_606_824_023),
    ("sepolia", 1_655_733_600),
    ("holesky", 1_695_902_400),
];
const SECONDS_PER_SLOT: u64 = 12;

/// The genesis time of a built-in network.
pub fn genesis_time(network: &str) -> Option<u64> {
    GENESIS_TIMES
        .iter()
        .find(|(n, _)| *n == network)
        .map(|(_, t)| *t)
}

/// The built-in networks' names (`[chains.beacon] network`, besides
/// `custom`).
pub fn built_in_networks() -> impl Iterator<Item = &'static str> {
    GENESIS_TIMES
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| ChainSpec::by_name(n).is_some())
}

/// A slot clock from the wall clock: `genesis_time` in Unix seconds.
pub fn wall_clock(genesis_time: u64) -> SlotClock {
    slot_clock(genesis_time, SECONDS_PER_SLOT)
}

/// A slot clock from the wall clock, for slots of `seconds_per_slot`.
pub fn slot_clock(genesis_time: u64, seconds_per_slot: u64) -> SlotClock {
    let seconds_per_slot = seconds_per_slot.max(1);
    Arc::new(move || (unix_ms() / 1000).saturating_sub(genesis_time) / seconds_per_slot)
}

/// A beacon network: what the light client verifies with, and its clock.
#[derive(Debug, Clone)]
pub struct Network {
    /// Fork schedule, genesis validators root, preset.
    pub spec: ChainSpec,
    /// Unix seconds of slot 0.
    pub genesis_time: u64,
    /// Slot length.
    pub seconds_per_slot: u64,
}

impl Network {
    /// The network `b` names: a built-in one, or a devnet described by its
    /// `custom` table, checked; errors name the key under `path` (e.g.
    /// `chains[0].beacon`).
    pub fn from_config(b: &BeaconConfig, path: &str) -> Result<Self, ConfigError> {
        let err = |key: &str, reason: String| ConfigError {
            path: format!("{path}.{key}"),
            reason,
        };
        let name = b.network.as_str();
        match (name, &b.custom) {
            ("custom", Some(c)) => Self::custom(c, &format!("{path}.custom")),
            ("custom", None) => Err(err(
                "custom",
                "network = \"custom\" needs a [chains.beacon.custom] table: preset, genesis_validators_root, genesis_time, forks".into(),
            )),
            (_, custom) => {
                let (Some(spec), Some(genesis_time)) = (ChainSpec::by_name(name), genesis_time(name))
                else {
                    return Err(err(
                        "network",
                        format!(
                            "expected \"mainnet\", \"sepolia\", \"holesky\" or \"custom\", got {name:?}"
                        ),
                    ));
                };
                if custom.is_some() {
                    return Err(err(
                        "custom",
                        format!("only with network = \"custom\": {name}'s parameters are built in"),
                    ));
                }
                Ok(Self {
                    spec,
                    genesis_time,
                    seconds_per_slot: SECONDS_PER_SLOT,
                })
            }
        }
    }

    fn custom(c: &CustomNetwork, path: &str) -> Result<Self, ConfigError> {
        let err = |key: String, reason: String| ConfigError {
            path: format!("{path}.{key}"),
            reason,
        };
        let preset = Preset::by_name(&c.preset).ok_or_else(|| {
            err(
                "preset".into(),
                format!("expected \"mainnet\" or \"minimal\", got {:?}", c.preset),
            )
        })?;
        if !(1..=60).contains(&c.seconds_per_slot) {
            return Err(err(
                "seconds_per_slot".into(),
                format!("expected 1..=60, got {}", c.seconds_per_slot),
            ));
        }
        let mut forks: Vec<ForkEntry> = Vec::with_capacity(c.forks.len());
        for (k, f) in c.forks.iter().enumerate() {
            let Some(&fork) = Fork::ALL.get(k) else {
                return Err(err(
                    format!("forks[{k}]"),
                    format!(
                        "expected at most {} forks (phase0 to fulu)",
                        Fork::ALL.len()
                    ),
                ));
            };
            if f.fork != fork.name() {
                return Err(err(
                    format!("forks[{k}].fork"),
                    format!(
                        "expected {:?} (every fork from phase0 in order, up to the last scheduled one), got {:?}",
                        fork.name(),
                        f.fork
                    ),
                ));
            }
            let earliest = forks.last().map_or(0, |e| e.epoch);
            if f.epoch < earliest || (k == 0 && f.epoch != 0) {
                return Err(err(
                    format!("forks[{k}].epoch"),
                    format!(
                        "expected {} (phase0 at 0, then forks in activation order), got {}",
                        if k == 0 {
                            "0".into()
                        } else {
                            format!("at least {earliest}")
                        },
                        f.epoch
                    ),
                ));
            }
            if let Some(j) = forks.iter().position(|e| e.version == f.version.0) {
                return Err(err(
                    format!("forks[{k}].version"),
                    format!(
                        "{} is forks[{j}]'s version too: each fork has its own",
                        f.version
                    ),
                ));
            }
            forks.push(ForkEntry {
                fork,
                version: f.version.0,
                epoch: f.epoch,
            });
        }
        if !forks.iter().any(|f| f.fork == Fork::Capella) {
            return Err(err(
                "forks".into(),
                "expected the schedule up to capella at least: light-client headers carry the execution block, which the hub anchors, from Capella on".into(),
            ));
        }
        Ok(Self {
            spec: ChainSpec {
                preset,
                genesis_validators_root: c.genesis_validators_root,
                forks,
            },
            genesis_time: c.genesis_time,
            seconds_per_slot: c.seconds_per_slot,
        })
    }

    /// The slot clock of the network, from the wall clock.
    pub fn clock(&self) -> SlotClock {
        slot_clock(self.genesis_time, self.seconds_per_slot)
    }

    /// `secs` in whole slots.
    pub fn slots(&self, secs: u64) -> u64 {
        secs / self.seconds_per_slot.max(1)
    }
}
