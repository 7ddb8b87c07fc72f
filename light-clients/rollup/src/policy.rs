//! The finality policy, as data: which proposals count as final and how a
//! verdict reports the trust it rests on.
//!
//! By default only final proposals pass: a dispute game resolved
//! DEFENDER_WINS at least the finality delay ago, an L2OutputOracle output
//! past its finalization period, a Confirmed assertion, and the
//! AnchorStateRegistry's anchor (a game of the type that resolved for the
//! defender). An operator may opt in to a minimum age for proposals that
//! are not final yet: faster, and weaker (an honest challenger may still
//! win), so the verdict says [`TrustMode::MinimumAge`].

use alloy_primitives::{Address, B256};
use serde::{Deserialize, Serialize};

use crate::arbitrum::{AssertionNode, AssertionStatus};
use crate::error::RollupError;
use crate::op::{FaultGameState, GameStatus, OutputProposalMeta};

/// OP Mainnet's `disputeGameFinalityDelaySeconds` (OptimismPortal2): 3.5
/// days after resolution before a game's root may be used.
pub const DEFAULT_GAME_FINALITY_DELAY: u64 = 302_400;

/// The L2OutputOracle's `FINALIZATION_PERIOD_SECONDS` on mainnet chains:
/// 7 days.
pub const DEFAULT_OUTPUT_FINALIZATION_PERIOD: u64 = 604_800;

/// Which proposals a verdict may rest on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FinalityPolicy {
    /// Seconds a game must have been resolved DEFENDER_WINS before its root
    /// is final (the portal's `disputeGameFinalityDelaySeconds`).
    pub game_finality_delay: u64,
    /// Seconds after an L2OutputOracle proposal before it is final (the
    /// oracle's `FINALIZATION_PERIOD_SECONDS`).
    pub output_finalization_period: u64,
    /// Whether an AnchorStateRegistry anchor is accepted
    /// ([`TrustMode::Anchor`]). The registry takes a root only from a game
    /// that resolved DEFENDER_WINS, but records neither the game nor when,
    /// so the finality delay cannot be checked on it.
    pub accept_anchor_state: bool,
    /// Opt-in: accept proposals that are not final yet once they are this
    /// old ([`TrustMode::MinimumAge`]). `None` (the default) accepts final
    /// proposals only.
    pub min_age: Option<MinAge>,
}

impl Default for FinalityPolicy {
    fn default() -> Self {
        Self {
            game_finality_delay: DEFAULT_GAME_FINALITY_DELAY,
            output_finalization_period: DEFAULT_OUTPUT_FINALIZATION_PERIOD,
            accept_anchor_state: true,
            min_age: None,
        }
    }
}

/// The minimum age of a proposal that is not final yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinAge {
    /// For OP Stack proposals: seconds since the game was created or the
    /// output proposed.
    pub seconds: u64,
    /// For Arbitrum assertions: L1 blocks since the assertion was created
    /// (the Rollup contract records the block, not the time).
    pub l1_blocks: u64,
}

/// What a verdict's trust rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrustMode {
    /// A final proposal: a game resolved for the defender past the finality
    /// delay, an output past its finalization period, a Confirmed
    /// assertion.
    Final,
    /// The AnchorStateRegistry's anchor: resolved for the defender, the
    /// delay since not provable.
    Anchor,
    /// Opt-in: a proposal not final yet, older than the policy's minimum
    /// age. A challenger may still show it wrong.
    MinimumAge,
}

/// The caller's clock, which a pure verifier takes as a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Now {
    /// Unix time in seconds.
    pub unix: u64,
    /// The number of the (verified) L1 block the proofs were taken at;
    /// needed only for the minimum age of a pending Arbitrum assertion.
    pub l1_block: Option<u64>,
}

impl From<u64> for Now {
    fn from(unix: u64) -> Self {
        Self {
            unix,
            l1_block: None,
        }
    }
}

fn reached(since: u64, wait: u64, now: u64) -> bool {
    since.checked_add(wait).is_some_and(|t| t <= now)
}

impl FinalityPolicy {
    /// The trust a FaultDisputeGame's state gives its root claim.
    pub fn judge_game(
        &self,
        game: Address,
        state: &FaultGameState,
        now: Now,
    ) -> Result<TrustMode, RollupError> {
        if state.l2_block_number_challenged {
            return Err(RollupError::GameBlockNumberChallenged { game });
        }
        let young = |what, since, wait| RollupError::NotFinal {
            what,
            since,
            wait,
            now: now.unix,
            unit: "s",
        };
        let min_age = |fallback: RollupError| match self.min_age {
            Some(m) if reached(state.created_at, m.seconds, now.unix) => Ok(TrustMode::MinimumAge),
            Some(m) => Err(young(
                "unresolved dispute game minimum age",
                state.created_at,
                m.seconds,
            )),
            None => Err(fallback),
        };
        match state.status {
            s if s == GameStatus::DefenderWins as u8 => {
                if reached(state.resolved_at, self.game_finality_delay, now.unix) {
                    Ok(TrustMode::Final)
                } else {
                    min_age(young(
                        "dispute game finality delay",
                        state.resolved_at,
                        self.game_finality_delay,
                    ))
                }
            }
            s if s == GameStatus::InProgress as u8 => {
                min_age(RollupError::GameStatus { game, got: s })
            }
            got => Err(RollupError::GameStatus { game, got }),
        }
    }

    /// The trust an L2OutputOracle proposal gets.
    pub fn judge_output(
        &self,
        meta: &OutputProposalMeta,
        now: Now,
    ) -> Result<TrustMode, RollupError> {
        if reached(meta.timestamp, self.output_finalization_period, now.unix) {
            return Ok(TrustMode::Final);
        }
        let (what, wait) = match self.min_age {
            Some(m) if reached(meta.timestamp, m.seconds, now.unix) => {
                return Ok(TrustMode::MinimumAge);
            }
            Some(m) => ("output proposal minimum age", m.seconds),
            None => (
                "output proposal finalization period",
                self.output_finalization_period,
            ),
        };
        Err(RollupError::NotFinal {
            what,
            since: meta.timestamp,
            wait,
            now: now.unix,
            unit: "s",
        })
    }

    /// The trust an assertion's node gives its after state.
    pub fn judge_assertion(
        &self,
        assertion_hash: B256,
        node: &AssertionNode,
        now: Now,
    ) -> Result<TrustMode, RollupError> {
        match node.status {
            s if s == AssertionStatus::Confirmed as u8 => Ok(TrustMode::Final),
            s if s == AssertionStatus::Pending as u8 => {
                let Some(m) = self.min_age else {
                    return Err(RollupError::AssertionStatus {
                        assertion_hash,
                        got: s,
                    });
                };
                let l1_block = now.l1_block.ok_or(RollupError::L1BlockUnknown)?;
                if reached(node.created_at_block, m.l1_blocks, l1_block) {
                    Ok(TrustMode::MinimumAge)
                } else {
                    Err(RollupError::NotFinal {
                        what: "pending assertion minimum age",
                        since: node.created_at_block,
                        wait: m.l1_blocks,
                        now: l1_block,
                        unit: "L1 blocks",
                    })
                }
            }
            got => Err(RollupError::AssertionStatus {
                assertion_hash,
                got,
            }),
        }
    }

    /// The trust an AnchorStateRegistry anchor gets.
    pub fn judge_anchor(&self) -> Result<TrustMode, RollupError> {
        if self.accept_anchor_state {
            Ok(TrustMode::Anchor)
        } else {
            Err(RollupError::AnchorNotAccepted)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GAME: Address = Address::repeat_byte(0x9a);

    fn game(status: GameStatus, created_at: u64, resolved_at: u64) -> FaultGameState {
        FaultGameState {
            created_at,
            resolved_at,
            status: status as u8,
            l2_block_number_challenged: false,
        }
    }

    fn opt_in() -> FinalityPolicy {
        FinalityPolicy {
            min_age: Some(MinAge {
                seconds: 3_600,
                l1_blocks: 300,
            }),
            ..FinalityPolicy::default()
        }
    }

    #[test]
    fn resolved_games_become_final_after_the_delay() {
        let p = FinalityPolicy::default();
        let g = game(GameStatus::DefenderWins, 1_000, 2_000);
        let at = 2_000 + DEFAULT_GAME_FINALITY_DELAY;
        assert_eq!(p.judge_game(GAME, &g, at.into()), Ok(TrustMode::Final));
        let e = p
            .judge_game(GAME, &g, (at - 1).into())
            .expect_err("refused");
        assert!(e.is_retryable(), "{e}");
        assert_eq!(
            e,
            RollupError::NotFinal {
                what: "dispute game finality delay",
                since: 2_000,
                wait: DEFAULT_GAME_FINALITY_DELAY,
                now: at - 1,
                unit: "s"
            }
        );
        // Opted in, a resolved game inside the delay passes on its age.
        assert_eq!(
            opt_in().judge_game(GAME, &g, (at - 1).into()),
            Ok(TrustMode::MinimumAge)
        );
    }

    #[test]
    fn unresolved_games_need_the_opt_in_and_the_age() {
        let g = game(GameStatus::InProgress, 1_000, 0);
        let e = FinalityPolicy::default()
            .judge_game(GAME, &g, 1_000_000.into())
            .expect_err("refused");
        assert_eq!(e, RollupError::GameStatus { game: GAME, got: 0 });
        assert!(e.is_retryable());
        let p = opt_in();
        assert_eq!(
            p.judge_game(GAME, &g, 4_600.into()),
            Ok(TrustMode::MinimumAge)
        );
        assert!(matches!(
            p.judge_game(GAME, &g, 4_599.into()),
            Err(RollupError::NotFinal {
                since: 1_000,
                wait: 3_600,
                ..
            })
        ));
        let challenged = FaultGameState {
            l2_block_number_challenged: true,
            ..g
        };
        assert_eq!(
            p.judge_game(GAME, &challenged, 1_000_000.into()),
            Err(RollupError::GameBlockNumberChallenged { game: GAME })
        );
    }

    #[test]
    fn lost_and_unknown_games_are_refused_whatever_the_policy() {
        for status in [1u8, 3, 255] {
            let g = FaultGameState {
                status,
                ..game(GameStatus::InProgress, 0, 0)
            };
            let e = opt_in()
                .judge_game(GAME, &g, u64::MAX.into())
                .expect_err("refused");
            assert_eq!(
                e,
                RollupError::GameStatus {
                    game: GAME,
                    got: status
                }
            );
            assert!(!e.is_retryable());
        }
    }

    #[test]
    fn outputs_and_their_finalization_period() {
        let m = OutputProposalMeta {
            timestamp: 10,
            l2_block_number: 5,
        };
        let p = FinalityPolicy::default();
        assert_eq!(
            p.judge_output(&m, (10 + DEFAULT_OUTPUT_FINALIZATION_PERIOD).into()),
            Ok(TrustMode::Final)
        );
        assert!(matches!(
            p.judge_output(&m, 3_610.into()),
            Err(RollupError::NotFinal {
                what: "output proposal finalization period",
                ..
            })
        ));
        assert_eq!(
            opt_in().judge_output(&m, 3_610.into()),
            Ok(TrustMode::MinimumAge)
        );
        assert!(opt_in().judge_output(&m, 3_609.into()).is_err());
    }

    #[test]
    fn assertions() {
        let node = |status: AssertionStatus| AssertionNode {
            first_child_block: 0,
            second_child_block: 0,
            created_at_block: 100,
            is_first_child: true,
            status: status as u8,
        };
        let h = B256::repeat_byte(1);
        let p = FinalityPolicy::default();
        assert_eq!(
            p.judge_assertion(h, &node(AssertionStatus::Confirmed), 0.into()),
            Ok(TrustMode::Final)
        );
        let e = p
            .judge_assertion(h, &node(AssertionStatus::Pending), 0.into())
            .expect_err("refused");
        assert!(e.is_retryable());
        assert!(
            !p.judge_assertion(h, &node(AssertionStatus::NoAssertion), 0.into())
                .expect_err("refused")
                .is_retryable()
        );
        let o = opt_in();
        assert_eq!(
            o.judge_assertion(h, &node(AssertionStatus::Pending), 0.into()),
            Err(RollupError::L1BlockUnknown)
        );
        let at = |b| Now {
            unix: 0,
            l1_block: Some(b),
        };
        assert_eq!(
            o.judge_assertion(h, &node(AssertionStatus::Pending), at(400)),
            Ok(TrustMode::MinimumAge)
        );
        assert!(matches!(
            o.judge_assertion(h, &node(AssertionStatus::Pending), at(399)),
            Err(RollupError::NotFinal {
                unit: "L1 blocks",
                ..
            })
        ));
    }

    #[test]
    fn anchors_follow_the_switch_and_policy_parses() {
        assert_eq!(
            FinalityPolicy::default().judge_anchor(),
            Ok(TrustMode::Anchor)
        );
        let off: FinalityPolicy =
            serde_json::from_str(r#"{"accept_anchor_state": false}"#).expect("parses");
        assert_eq!(off.judge_anchor(), Err(RollupError::AnchorNotAccepted));
        assert_eq!(off.game_finality_delay, DEFAULT_GAME_FINALITY_DELAY);
        assert!(serde_json::from_str::<FinalityPolicy>(r#"{"min_age": {"seconds": 1}}"#).is_err());
        assert!(serde_json::from_str::<FinalityPolicy>(r#"{"finality": 1}"#).is_err());
    }
}
