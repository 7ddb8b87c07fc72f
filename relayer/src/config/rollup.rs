//! `[chains.rollup]`: a rollup origin proved through the chain it settles
//! on. The L2's own endpoints are trusted for liveness only: a block is
//! routed when it is an ancestor of an L2 block proven from the settlement
//! chain's verified state (an OP Stack output root, an Arbitrum BoLD
//! assertion). Interpreting the section is the configuration's business:
//! the origin takes a [`Target`] and a [`FinalityPolicy`] and never reads
//! the configuration.

use alloy_primitives::Address;
use serde::{Deserialize, Serialize};
use switchyard_lc_rollup::op::FactoryLayout;
use switchyard_lc_rollup::{
    DEFAULT_GAME_FINALITY_DELAY, DEFAULT_OUTPUT_FINALIZATION_PERIOD, FinalityPolicy, MinAge,
    RollupKind, Settlement, Target,
};

use super::{ConfigError, TrustMode};

/// A rollup origin's settlement: where its commitments are kept on the
/// chain it settles on, and which of them count as final.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RollupConfig {
    /// `op-stack` (output roots) or `arbitrum` (BoLD assertions).
    #[schemars(schema_with = "super::schema::rollup_kind")]
    pub kind: RollupKind,
    /// The configured chain (`chains[].name`) the rollup settles on: its
    /// light client (beacon-anchored, or a header-chain quorum) gives the
    /// verified state the rollup's blocks are proven from.
    #[schemars(regex(pattern = super::schema::NAME_PATTERN))]
    pub settles_on: String,
    /// OP Stack with fault proofs: the DisputeGameFactory proxy.
    #[schemars(schema_with = "super::schema::hex::<20>")]
    #[serde(default)]
    pub dispute_game_factory: Option<Address>,
    /// OP Stack, legacy: the L2OutputOracle proxy.
    #[schemars(schema_with = "super::schema::hex::<20>")]
    #[serde(default)]
    pub l2_output_oracle: Option<Address>,
    /// OP Stack: the AnchorStateRegistry proxy (its anchor of `game_type`).
    #[schemars(schema_with = "super::schema::hex::<20>")]
    #[serde(default)]
    pub anchor_state_registry: Option<Address>,
    /// Arbitrum: the BoLD Rollup proxy.
    #[schemars(schema_with = "super::schema::hex::<20>")]
    #[serde(default)]
    pub rollup: Option<Address>,
    /// With `dispute_game_factory`: the game types accepted (0 CANNON, 1
    /// PERMISSIONED_CANNON).
    #[serde(default = "default_game_types")]
    pub game_types: Vec<u32>,
    /// With `anchor_state_registry`: the game type whose anchor is read.
    #[serde(default)]
    pub game_type: u32,
    /// With `dispute_game_factory`: a factory from before `initBonds`
    /// (`_disputeGames` at slot 102, not 103): early devnets only.
    #[serde(default)]
    pub legacy_factory_layout: bool,
    /// Seconds a game must have been resolved DEFENDER_WINS before its root
    /// is final: the chain's OptimismPortal
    /// `disputeGameFinalityDelaySeconds` (3.5 days on OP Mainnet).
    #[schemars(range(max = 4 * 7 * 24 * 3600))]
    #[serde(default = "default_game_delay")]
    pub game_finality_delay_secs: u64,
    /// Seconds after an L2OutputOracle proposal before it is final: the
    /// oracle's `FINALIZATION_PERIOD_SECONDS` (7 days on mainnets).
    #[schemars(range(max = 4 * 7 * 24 * 3600))]
    #[serde(default = "default_output_period")]
    pub output_finalization_period_secs: u64,
    /// Accept the AnchorStateRegistry's anchor (a root from a game that
    /// resolved for the defender; the delay since is not provable).
    #[serde(default = "default_true")]
    pub accept_anchor_state: bool,
    /// Opt-in, weaker: an OP Stack proposal not final yet (an unresolved
    /// game, an output inside its finalization period) is accepted once it
    /// is this many seconds old. The origin's trust mode is then
    /// `rollup_min_age`: a challenger may still show the proposal wrong.
    #[schemars(range(min = 1, max = 4 * 7 * 24 * 3600))]
    #[serde(default)]
    pub min_age_secs: Option<u64>,
    /// Opt-in, weaker: a pending Arbitrum assertion is accepted once it is
    /// this many L1 blocks old (the Rollup contract records blocks, not
    /// times).
    #[schemars(range(min = 1, max = 1_000_000))]
    #[serde(default)]
    pub min_age_l1_blocks: Option<u64>,
    /// Pause between rounds of reading the settlement contract, in ms.
    #[schemars(range(min = 100, max = 600_000))]
    #[serde(default = "default_rollup_poll")]
    pub poll_interval_ms: u64,
    /// Most proposals looked at in one round, newest first, before giving
    /// up on finding a newer one that verifies (bounds the reads a round
    /// makes when many proposals are refused or not final).
    #[schemars(range(min = 1, max = 1024))]
    #[serde(default = "default_max_candidates")]
    pub max_candidates: u32,
}

fn default_game_types() -> Vec<u32> {
    vec![0, 1]
}
fn default_game_delay() -> u64 {
    DEFAULT_GAME_FINALITY_DELAY
}
fn default_output_period() -> u64 {
    DEFAULT_OUTPUT_FINALIZATION_PERIOD
}
fn default_true() -> bool {
    true
}
fn default_rollup_poll() -> u64 {
    12_000
}
fn default_max_candidates() -> u32 {
    32
}

impl RollupConfig {
    /// The settlement contract and its form. Exactly one contract key must
    /// be set, one of `kind`'s forms (checked by [`RollupConfig::check`]).
    pub fn target(&self, path: &str) -> Result<Target, ConfigError> {
        let err = |key: &str, reason: String| ConfigError {
            path: format!("{path}.{key}"),
            reason,
        };
        let set: Vec<&str> = [
            ("dispute_game_factory", self.dispute_game_factory.is_some()),
            ("l2_output_oracle", self.l2_output_oracle.is_some()),
            (
                "anchor_state_registry",
                self.anchor_state_registry.is_some(),
            ),
            ("rollup", self.rollup.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, on)| on.then_some(k))
        .collect();
        let expected = match self.kind {
            RollupKind::Arbitrum => "rollup (the BoLD Rollup contract)",
            _ => "one of dispute_game_factory, l2_output_oracle, anchor_state_registry",
        };
        let settlement = match (
            self.dispute_game_factory,
            self.l2_output_oracle,
            self.anchor_state_registry,
            self.rollup,
        ) {
            (Some(factory), None, None, None) => {
                if self.game_types.is_empty() {
                    return Err(err(
                        "game_types",
                        "expected at least one game type, got none".into(),
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
            (None, Some(oracle), None, None) => Settlement::OpL2OutputOracle { oracle },
            (None, None, Some(registry), None) => Settlement::OpAnchorStateRegistry {
                registry,
                game_type: self.game_type,
            },
            (None, None, None, Some(rollup)) => Settlement::ArbitrumRollup { rollup },
            _ => {
                return Err(err(
                    "kind",
                    format!(
                        "expected exactly one settlement contract for {}: {expected}, got {}",
                        self.kind,
                        if set.is_empty() {
                            "none".to_owned()
                        } else {
                            set.join(", ")
                        }
                    ),
                ));
            }
        };
        if settlement.kind() != self.kind {
            return Err(err(
                set[0],
                format!("kind = \"{}\" expects {expected}", self.kind),
            ));
        }
        // The L2 contract a bundle may prove a slot of: the origin proves
        // blocks, not L2 storage, so none.
        Ok(Target {
            settlement,
            l2_account: None,
        })
    }

    /// Which proposals count as final.
    pub fn policy(&self) -> FinalityPolicy {
        let min_age = match (self.min_age_secs, self.min_age_l1_blocks) {
            (None, None) => None,
            // The clock not configured never reaches the age: only the
            // family the operator opted in for is accepted early.
            (secs, blocks) => Some(MinAge {
                seconds: secs.unwrap_or(u64::MAX),
                l1_blocks: blocks.unwrap_or(u64::MAX),
            }),
        };
        FinalityPolicy {
            game_finality_delay: self.game_finality_delay_secs,
            output_finalization_period: self.output_finalization_period_secs,
            accept_anchor_state: self.accept_anchor_state,
            min_age,
        }
    }

    /// The origin's trust mode: what its routed blocks may rest on at
    /// worst.
    pub fn trust_mode(&self) -> TrustMode {
        if self.min_age_secs.is_some() || self.min_age_l1_blocks.is_some() {
            TrustMode::RollupMinAge
        } else {
            TrustMode::RollupFinal
        }
    }

    /// Checks the section of `chains[i]` (`path`), named `name`, against
    /// the configured chains' names: what settles_on names, and whether it
    /// has a rollup section of its own.
    pub fn check(
        &self,
        path: &str,
        name: &str,
        chains: &[(&str, bool)],
    ) -> Result<(), ConfigError> {
        let err = |key: &str, reason: String| ConfigError {
            path: format!("{path}.{key}"),
            reason,
        };
        self.target(path)?;
        // Each family's minimum age is on its settlement's own clock: OP
        // Stack proposals record times, Arbitrum assertions L1 blocks.
        let (wrong, right) = match self.kind {
            RollupKind::Arbitrum => (
                self.min_age_secs.map(|_| "min_age_secs"),
                "min_age_l1_blocks",
            ),
            _ => (
                self.min_age_l1_blocks.map(|_| "min_age_l1_blocks"),
                "min_age_secs",
            ),
        };
        if let Some(key) = wrong {
            return Err(err(
                key,
                format!(
                    "expected {right} for kind = \"{}\" (its proposals record {}), got {key}",
                    self.kind,
                    if self.kind == RollupKind::Arbitrum {
                        "L1 blocks, not times"
                    } else {
                        "times, not L1 blocks"
                    }
                ),
            ));
        }
        match chains.iter().find(|(n, _)| *n == self.settles_on) {
            None => {
                return Err(err(
                    "settles_on",
                    format!(
                        "expected the name of a configured chain (its light client gives the verified state), got {:?}",
                        self.settles_on
                    ),
                ));
            }
            Some((n, _)) if *n == name => {
                return Err(err(
                    "settles_on",
                    format!("expected another chain than the rollup itself, got {n:?}"),
                ));
            }
            Some((n, true)) => {
                return Err(err(
                    "settles_on",
                    format!(
                        "{n:?} is a rollup origin itself: settle on a chain verified by its own light client (beacon or header-chain quorum)"
                    ),
                ));
            }
            Some(_) => {}
        }
        let week = 7 * 24 * 3600;
        for (key, v) in [
            ("game_finality_delay_secs", self.game_finality_delay_secs),
            (
                "output_finalization_period_secs",
                self.output_finalization_period_secs,
            ),
        ] {
            if v > 4 * week {
                return Err(err(key, format!("expected 0..={}, got {v}", 4 * week)));
            }
        }
        if let Some(s) = self.min_age_secs
            && !(1..=4 * week).contains(&s)
        {
            return Err(err(
                "min_age_secs",
                format!("expected 1..={}, got {s}", 4 * week),
            ));
        }
        if let Some(b) = self.min_age_l1_blocks
            && !(1..=1_000_000).contains(&b)
        {
            return Err(err(
                "min_age_l1_blocks",
                format!("expected 1..=1000000, got {b}"),
            ));
        }
        if !(100..=600_000).contains(&self.poll_interval_ms) {
            return Err(err(
                "poll_interval_ms",
                format!("expected 100..=600000, got {}", self.poll_interval_ms),
            ));
        }
        if !(1..=1024).contains(&self.max_candidates) {
            return Err(err(
                "max_candidates",
                format!("expected 1..=1024, got {}", self.max_candidates),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, TrustMode};

    /// An L1 in single-endpoint mode and an L2 settling on it; `rollup`
    /// is the L2's `[chains.rollup]` body.
    fn two_chains(rollup: &str) -> String {
        format!(
            r#"
attester_key = {{ env = "SY_ATTESTER" }}
queue_key = {{ env = "SY_QUEUE_KEY" }}
[redis]
url = "redis://127.0.0.1:6379"
[[chains]]
name = "l1"
domain = 1
chain_id = 31337
rpc_urls = ["http://127.0.0.1:8545"]
trust = "single_endpoint"
mailbox = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
inbox = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
submitter_key = {{ file = "/run/secrets/l1" }}
[[chains]]
name = "l2"
domain = 2
chain_id = 10
rpc_urls = ["http://127.0.0.1:9545"]
mailbox = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
inbox = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
submitter_key = {{ file = "/run/secrets/l2" }}
[chains.rollup]
{rollup}
"#
        )
    }

    const ARBITRUM: &str = r#"kind = "arbitrum"
settles_on = "l1"
rollup = "0x5FbDB2315678afecb367f032d93F642f64180aa3""#;

    const FACTORY: &str = r#"kind = "op-stack"
settles_on = "l1"
dispute_game_factory = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512""#;

    #[test]
    fn a_rollup_origin_is_trusted_by_its_settlement_and_says_how() {
        let c = Config::from_toml(&two_chains(FACTORY)).expect("valid");
        let l2 = &c.chains[1];
        // One endpoint and no `trust` key: the endpoint is trusted for
        // liveness only, so no quorum is asked for.
        assert_eq!(l2.trust_mode(), TrustMode::RollupFinal);
        assert_eq!(l2.quorum(), 1);
        let r = l2.rollup.as_ref().expect("rollup");
        let p = r.policy();
        assert_eq!(p.game_finality_delay, 302_400);
        assert_eq!(p.min_age, None);
        let opted = format!("{FACTORY}\nmin_age_secs = 3600\naccept_anchor_state = false");
        let c = Config::from_toml(&two_chains(&opted)).expect("valid");
        let l2 = &c.chains[1];
        assert_eq!(l2.trust_mode(), TrustMode::RollupMinAge);
        let p = l2.rollup.as_ref().expect("rollup").policy();
        assert_eq!(p.min_age.map(|m| m.seconds), Some(3600));
        assert_eq!(p.min_age.map(|m| m.l1_blocks), Some(u64::MAX));
        assert!(!p.accept_anchor_state);
        assert_eq!(TrustMode::RollupMinAge.as_str(), "rollup_min_age");
        // Arbitrum: confirmed assertions, or pending ones old enough in L1
        // blocks when chosen.
        let c = Config::from_toml(&two_chains(ARBITRUM)).expect("valid");
        assert_eq!(c.chains[1].trust_mode(), TrustMode::RollupFinal);
        let opted = format!("{ARBITRUM}\nmin_age_l1_blocks = 300");
        let c = Config::from_toml(&two_chains(&opted)).expect("valid");
        let l2 = &c.chains[1];
        assert_eq!(l2.trust_mode(), TrustMode::RollupMinAge);
        let p = l2.rollup.as_ref().expect("rollup").policy();
        assert_eq!(p.min_age.map(|m| m.l1_blocks), Some(300));
        assert_eq!(p.min_age.map(|m| m.seconds), Some(u64::MAX));
        assert!(TrustMode::ALL.contains(&TrustMode::RollupFinal));
    }

    #[test]
    fn rollup_sections_are_refused_with_their_path() {
        let cases: [(String, &str, &str); 8] = [
            (
                r#"kind = "op-stack"
settles_on = "l1""#
                    .into(),
                "chains[1].rollup.kind",
                "got none",
            ),
            (
                format!(
                    "{FACTORY}\nl2_output_oracle = \"0x5FbDB2315678afecb367f032d93F642f64180aa3\""
                ),
                "chains[1].rollup.kind",
                "got dispute_game_factory, l2_output_oracle",
            ),
            (
                FACTORY.replace("dispute_game_factory", "rollup"),
                "chains[1].rollup.rollup",
                "expects one of dispute_game_factory",
            ),
            (
                format!("{ARBITRUM}\nmin_age_secs = 600"),
                "chains[1].rollup.min_age_secs",
                "expected min_age_l1_blocks",
            ),
            (
                FACTORY.replace("\"l1\"", "\"mainnet\""),
                "chains[1].rollup.settles_on",
                "got \"mainnet\"",
            ),
            (
                FACTORY.replace("\"l1\"", "\"l2\""),
                "chains[1].rollup.settles_on",
                "another chain than the rollup itself",
            ),
            (
                format!("{FACTORY}\ngame_types = []"),
                "chains[1].rollup.game_types",
                "at least one",
            ),
            (
                format!("{FACTORY}\nmin_age_secs = 0"),
                "chains[1].rollup.min_age_secs",
                "got 0",
            ),
        ];
        for (body, path, says) in cases {
            let err = Config::from_toml(&two_chains(&body)).expect_err(&body);
            assert_eq!(err.path, path, "{body}: {err}");
            assert!(err.reason.contains(says), "{body}: {err}");
        }
        // A rollup with a beacon anchor too: one or the other.
        let both = two_chains(FACTORY).replace(
            "[chains.rollup]",
            "[chains.beacon]\nurls = [\"http://127.0.0.1:5052\"]\nnetwork = \"mainnet\"\ntrusted_root = \"0x0000000000000000000000000000000000000000000000000000000000000001\"\n[chains.rollup]",
        );
        let err = Config::from_toml(&both).expect_err("beacon and rollup");
        assert_eq!(err.path, "chains[1].beacon", "{err}");
        // A rollup settling on a rollup.
        let nested = two_chains(FACTORY).replace(
            "submitter_key = { file = \"/run/secrets/l1\" }",
            "submitter_key = { file = \"/run/secrets/l1\" }\n[chains.rollup]\nkind = \"op-stack\"\nsettles_on = \"l2\"\nl2_output_oracle = \"0x5FbDB2315678afecb367f032d93F642f64180aa3\"",
        );
        let err = Config::from_toml(&nested).expect_err("nested");
        assert!(err.reason.contains("is a rollup origin itself"), "{err}");
        // A boolean where the policy takes one, and nowhere else.
        let flag = format!("{FACTORY}\nlegacy_factory_layout = true");
        Config::from_toml(&two_chains(&flag)).expect("a boolean key");
        let wrong = format!("{FACTORY}\nmin_age_secs = true");
        assert!(Config::from_toml(&two_chains(&wrong)).is_err());
    }
}
