//! `LightClientStore` and its transitions (consensus-specs
//! `specs/altair/light-client/sync-protocol.md`, with the Capella, Deneb and
//! Electra amendments), split into a pure `verify_*` and an `apply_*` that
//! only executes what verification decided.

use alloy_primitives::B256;

use crate::bls::CommitteeKeys;
use crate::config::{ChainSpec, DOMAIN_SYNC_COMMITTEE, Fork, MIN_SYNC_COMMITTEE_PARTICIPANTS};

/// Layout version of [`LightClientStore::snapshot`].
const SNAPSHOT_VERSION: u8 = 1;
use crate::error::{Error, Proof, Result};
use crate::merkle::{compute_domain, signing_root, verify_branch};
use crate::types::{LightClientBootstrap, LightClientHeader, LightClientUpdate, SyncCommittee};

/// The light client's trusted state.
#[derive(Debug, Clone)]
pub struct LightClientStore {
    spec: ChainSpec,
    finalized_header: LightClientHeader,
    current_sync_committee: SyncCommittee,
    next_sync_committee: Option<SyncCommittee>,
    best_valid_update: Option<LightClientUpdate>,
    optimistic_header: LightClientHeader,
    previous_max_active_participants: usize,
    current_max_active_participants: usize,
    current_keys: CommitteeKeys,
    next_keys: Option<CommitteeKeys>,
    // Bumped by every mutation so a `VerifiedUpdate` cannot be applied to a
    // state it was not checked against.
    generation: u64,
}

/// An update that passed `validate_light_client_update` against one store
/// state, with the effects `process_light_client_update` will have.
#[derive(Clone)]
#[must_use = "a verified update does nothing until applied"]
pub struct VerifiedUpdate {
    update: LightClientUpdate,
    generation: u64,
    becomes_best: bool,
    advances_optimistic: bool,
    applies: bool,
}

// A committee is 512 keys: print the decision, not the payload.
impl std::fmt::Debug for VerifiedUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedUpdate")
            .field("attested_slot", &self.update.attested_header.beacon.slot)
            .field("finalized_slot", &self.update.finalized_slot())
            .field("signature_slot", &self.update.signature_slot)
            .field("generation", &self.generation)
            .field("becomes_best", &self.becomes_best)
            .field("advances_optimistic", &self.advances_optimistic)
            .field("applies", &self.applies)
            .finish()
    }
}

impl VerifiedUpdate {
    /// The verified update.
    pub fn update(&self) -> &LightClientUpdate {
        &self.update
    }

    /// Whether applying it will advance the finalized header or the committees.
    pub fn will_finalize(&self) -> bool {
        self.applies
    }
}

/// What applying an update changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpdateOutcome {
    /// The finalized header moved forward.
    pub finalized_advanced: bool,
    /// The optimistic header moved forward.
    pub optimistic_advanced: bool,
    /// The update is kept as the best candidate for a forced update
    /// (a valid update without enough trust to finalize yet).
    pub stored_as_best: bool,
    /// The store learned the next sync committee.
    pub next_committee_learned: bool,
    /// The store moved into the next sync committee period.
    pub committee_rotated: bool,
}

fn supermajority(participants: usize, size: usize) -> bool {
    participants * 3 >= size * 2
}

impl LightClientStore {
    /// Checks a bootstrap against the operator's trusted block root without
    /// building a store (`initialize_light_client_store`'s assertions).
    pub fn verify_bootstrap(
        trusted_block_root: B256,
        bootstrap: &LightClientBootstrap,
        spec: &ChainSpec,
    ) -> Result<()> {
        bootstrap.header.validate(spec)?;
        let got = bootstrap.header.beacon_root();
        if got != trusted_block_root {
            return Err(Error::BootstrapRootMismatch {
                expected: trusted_block_root,
                got,
            });
        }
        check_committee_size(&bootstrap.current_sync_committee, spec)?;
        let slot = bootstrap.header.beacon.slot;
        verify_branch(
            Proof::CurrentSyncCommittee,
            bootstrap.current_sync_committee.root(),
            &bootstrap.current_sync_committee_branch,
            spec.fork_at_slot(slot)
                .state_gindices()
                .current_sync_committee,
            bootstrap.header.beacon.state_root,
        )
    }

    /// `initialize_light_client_store`: verifies the bootstrap, then builds
    /// the store from it.
    pub fn from_bootstrap(
        trusted_block_root: B256,
        bootstrap: LightClientBootstrap,
        spec: ChainSpec,
    ) -> Result<Self> {
        Self::verify_bootstrap(trusted_block_root, &bootstrap, &spec)?;
        let current_keys = CommitteeKeys::new(&bootstrap.current_sync_committee);
        Ok(Self {
            spec,
            finalized_header: bootstrap.header.clone(),
            current_sync_committee: bootstrap.current_sync_committee,
            next_sync_committee: None,
            best_valid_update: None,
            optimistic_header: bootstrap.header,
            previous_max_active_participants: 0,
            current_max_active_participants: 0,
            current_keys,
            next_keys: None,
            generation: 0,
        })
    }

    /// The store as bytes to persist and [`restore`](Self::restore) later:
    /// finalized and optimistic headers (with their forks), the current and
    /// next committees and the participation maxima. The best valid update
    /// is left out: it only matters for a forced update after a long stall,
    /// and the next updates rebuild it. Whoever keeps the bytes must keep
    /// them authentic (the hub stores them under the queue key's HMAC):
    /// `restore` checks their shape, not their history.
    pub fn snapshot(&self) -> Vec<u8> {
        use crate::codec::{Part, committee_bytes, container, header_part};
        let fork_of = |h: &LightClientHeader| self.spec.fork_at_slot(h.beacon.slot);
        let (ff, of) = (
            fork_of(&self.finalized_header),
            fork_of(&self.optimistic_header),
        );
        let index = |f: Fork| Fork::ALL.iter().position(|x| *x == f).unwrap_or(0) as u8;
        let mut out = vec![SNAPSHOT_VERSION, index(ff), index(of)];
        out.extend(container(vec![
            header_part(&self.finalized_header, ff),
            header_part(&self.optimistic_header, of),
            Part::Fixed(committee_bytes(
                Some(&self.current_sync_committee),
                &self.spec.preset,
            )),
            Part::Fixed(vec![u8::from(self.next_sync_committee.is_some())]),
            Part::Fixed(committee_bytes(
                self.next_sync_committee.as_ref(),
                &self.spec.preset,
            )),
            Part::Fixed(
                (self.previous_max_active_participants as u64)
                    .to_le_bytes()
                    .to_vec(),
            ),
            Part::Fixed(
                (self.current_max_active_participants as u64)
                    .to_le_bytes()
                    .to_vec(),
            ),
        ]));
        out
    }

    /// A store from a [`snapshot`](Self::snapshot) taken under the same
    /// `spec`. Refuses bytes of another version or shape, and headers whose
    /// execution branch does not prove their execution header.
    pub fn restore(bytes: &[u8], spec: ChainSpec) -> Result<Self> {
        use crate::codec::{
            committee, committee_len, err, next_bytes, next_header, register_header,
        };
        let bad = |reason: String| Error::Decode {
            what: "light-client snapshot",
            reason,
        };
        let [version, ff, of, rest @ ..] = bytes else {
            return Err(bad(format!(
                "{} bytes, expected a 3-byte prefix",
                bytes.len()
            )));
        };
        if *version != SNAPSHOT_VERSION {
            return Err(bad(format!(
                "version {version}, expected {SNAPSHOT_VERSION}"
            )));
        }
        let fork = |i: u8| {
            Fork::ALL
                .get(usize::from(i))
                .copied()
                .ok_or_else(|| bad(format!("fork index {i}, expected 0..{}", Fork::ALL.len())))
        };
        let (ff, of) = (fork(*ff)?, fork(*of)?);
        let clen = committee_len(&spec.preset);
        let mut b = ssz::SszDecoderBuilder::new(rest);
        register_header(&mut b, ff)?;
        register_header(&mut b, of)?;
        b.register_type_parameterized(true, clen)
            .map_err(err("sync committee"))?;
        b.register_type_parameterized(true, 1)
            .map_err(err("flag"))?;
        b.register_type_parameterized(true, clen)
            .map_err(err("sync committee"))?;
        b.register_type::<u64>().map_err(err("participants"))?;
        b.register_type::<u64>().map_err(err("participants"))?;
        let mut d = b.build().map_err(err("light-client snapshot"))?;
        let finalized_header = next_header(&mut d, ff)?;
        let optimistic_header = next_header(&mut d, of)?;
        let current_sync_committee = committee(&next_bytes(&mut d, "sync committee")?);
        let has_next = next_bytes(&mut d, "flag")?;
        let next = committee(&next_bytes(&mut d, "sync committee")?);
        let prev: u64 = d.decode_next().map_err(err("participants"))?;
        let cur: u64 = d.decode_next().map_err(err("participants"))?;
        let next_sync_committee = match has_next.as_slice() {
            [0] => None,
            [1] => Some(next),
            other => {
                return Err(bad(format!(
                    "next-committee flag {other:?}, expected 0 or 1"
                )));
            }
        };
        finalized_header.validate(&spec)?;
        optimistic_header.validate(&spec)?;
        let current_keys = CommitteeKeys::new(&current_sync_committee);
        let next_keys = next_sync_committee.as_ref().map(CommitteeKeys::new);
        Ok(Self {
            spec,
            finalized_header,
            current_sync_committee,
            next_sync_committee,
            best_valid_update: None,
            optimistic_header,
            previous_max_active_participants: usize::try_from(prev).unwrap_or(usize::MAX),
            current_max_active_participants: usize::try_from(cur).unwrap_or(usize::MAX),
            current_keys,
            next_keys,
            generation: 0,
        })
    }

    /// The chain parameters the store verifies with.
    pub fn spec(&self) -> &ChainSpec {
        &self.spec
    }

    /// The latest finalized header.
    pub fn finalized_header(&self) -> &LightClientHeader {
        &self.finalized_header
    }

    /// The latest header signed by more than the safety threshold.
    pub fn optimistic_header(&self) -> &LightClientHeader {
        &self.optimistic_header
    }

    /// The committee of the finalized header's period.
    pub fn current_sync_committee(&self) -> &SyncCommittee {
        &self.current_sync_committee
    }

    /// The committee of the next period, once known.
    pub fn next_sync_committee(&self) -> Option<&SyncCommittee> {
        self.next_sync_committee.as_ref()
    }

    /// The best valid update not yet applied, candidate for a forced update.
    pub fn best_valid_update(&self) -> Option<&LightClientUpdate> {
        self.best_valid_update.as_ref()
    }

    fn store_period(&self) -> u64 {
        self.spec.period_at_slot(self.finalized_header.beacon.slot)
    }

    /// `get_safety_threshold`: half of the best participation seen over
    /// the previous and current period.
    fn safety_threshold(&self, current_max: usize) -> usize {
        self.previous_max_active_participants.max(current_max) / 2
    }

    /// `validate_light_client_update`, plus the decisions of
    /// `process_light_client_update`, without touching the store.
    pub fn verify_update(
        &self,
        update: &LightClientUpdate,
        current_slot: u64,
    ) -> Result<VerifiedUpdate> {
        let spec = &self.spec;
        let size = spec.preset.sync_committee_size;
        let bits = &update.sync_aggregate.sync_committee_bits;
        if bits.len() != size {
            return Err(Error::CommitteeSize {
                expected: size,
                got: bits.len(),
            });
        }
        let participants = update.sync_aggregate.participants();
        if participants < MIN_SYNC_COMMITTEE_PARTICIPANTS {
            return Err(Error::InsufficientParticipation {
                min: MIN_SYNC_COMMITTEE_PARTICIPANTS,
                got: participants,
            });
        }
        update.attested_header.validate(spec)?;

        let attested = &update.attested_header.beacon;
        let finalized_slot = update.finalized_slot();
        if current_slot < update.signature_slot {
            return Err(Error::SignatureSlotInFuture {
                current_slot,
                signature_slot: update.signature_slot,
            });
        }
        if !(update.signature_slot > attested.slot && attested.slot >= finalized_slot) {
            return Err(Error::SlotOrder {
                signature_slot: update.signature_slot,
                attested_slot: attested.slot,
                finalized_slot,
            });
        }

        let store_period = self.store_period();
        let signature_period = spec.period_at_slot(update.signature_slot);
        let next_known = self.next_sync_committee.is_some();
        let period_ok = if next_known {
            signature_period == store_period || signature_period == store_period + 1
        } else {
            signature_period == store_period
        };
        if !period_ok {
            return Err(Error::UnknownSignaturePeriod {
                store_period,
                signature_period,
                next_committee_known: next_known,
            });
        }

        let attested_period = spec.period_at_slot(attested.slot);
        let has_next_sync_committee =
            !next_known && update.next_sync_committee.is_some() && attested_period == store_period;
        if !(attested.slot > self.finalized_header.beacon.slot || has_next_sync_committee) {
            return Err(Error::IrrelevantUpdate {
                attested_slot: attested.slot,
                finalized_slot: self.finalized_header.beacon.slot,
            });
        }

        let gindices = spec.fork_at_slot(attested.slot).state_gindices();
        if let Some(finality) = &update.finality {
            let finalized_root = if finality.finalized_header.beacon.slot == 0 {
                // Finality still at genesis: the state holds a zero root and
                // the header must be the empty one.
                if !finality.finalized_header.is_empty() {
                    return Err(Error::NonEmptyWithoutProof {
                        field: "finalized_header",
                    });
                }
                B256::ZERO
            } else {
                finality.finalized_header.validate(spec)?;
                finality.finalized_header.beacon_root()
            };
            verify_branch(
                Proof::Finality,
                finalized_root,
                &finality.branch,
                gindices.finalized_root,
                attested.state_root,
            )?;
        }

        if let Some(next) = &update.next_sync_committee {
            check_committee_size(&next.committee, spec)?;
            if let Some(known) = &self.next_sync_committee
                && attested_period == store_period
                && *known != next.committee
            {
                return Err(Error::NextSyncCommitteeMismatch {
                    expected: known.root(),
                    got: next.committee.root(),
                });
            }
            verify_branch(
                Proof::NextSyncCommittee,
                next.committee.root(),
                &next.branch,
                gindices.next_sync_committee,
                attested.state_root,
            )?;
        }

        let keys = if signature_period == store_period {
            &self.current_keys
        } else {
            // `period_ok` admitted store_period + 1 only with a known next committee.
            self.next_keys
                .as_ref()
                .ok_or(Error::UnknownSignaturePeriod {
                    store_period,
                    signature_period,
                    next_committee_known: false,
                })?
        };
        let fork_version_slot = update.signature_slot.max(1) - 1;
        let fork_version = spec.fork_version_at_epoch(spec.epoch_at_slot(fork_version_slot));
        let domain = compute_domain(
            DOMAIN_SYNC_COMMITTEE,
            fork_version,
            spec.genesis_validators_root,
        );
        keys.fast_aggregate_verify(
            bits,
            signing_root(attested.root(), domain),
            &update.sync_aggregate.sync_committee_signature,
            update.signature_slot,
        )?;

        // process_light_client_update's decisions.
        let becomes_best = self
            .best_valid_update
            .as_ref()
            .is_none_or(|best| is_better_update(update, best, spec));
        let current_max = self.current_max_active_participants.max(participants);
        let advances_optimistic = participants > self.safety_threshold(current_max)
            && attested.slot > self.optimistic_header.beacon.slot;
        let has_finalized_next_sync_committee = !next_known
            && update.next_sync_committee.is_some()
            && update.has_finality()
            && spec.period_at_slot(finalized_slot) == attested_period;
        let applies = supermajority(participants, size)
            && (finalized_slot > self.finalized_header.beacon.slot
                || has_finalized_next_sync_committee);
        if applies && !next_known && spec.period_at_slot(finalized_slot) != store_period {
            // apply_light_client_update's assertion: without a known next
            // committee the store cannot skip a period.
            return Err(Error::FinalizedPeriodUnreachable {
                store_period,
                finalized_period: spec.period_at_slot(finalized_slot),
            });
        }

        Ok(VerifiedUpdate {
            update: update.clone(),
            generation: self.generation,
            becomes_best,
            advances_optimistic,
            applies,
        })
    }

    /// `process_light_client_update` for an update verified against this
    /// very store state.
    pub fn apply_update(&mut self, verified: VerifiedUpdate) -> Result<UpdateOutcome> {
        if verified.generation != self.generation {
            return Err(Error::StaleVerification {
                expected: verified.generation,
                got: self.generation,
            });
        }
        self.generation += 1;
        let VerifiedUpdate {
            update,
            becomes_best,
            advances_optimistic,
            applies,
            ..
        } = verified;
        let mut outcome = UpdateOutcome::default();
        let participants = update.sync_aggregate.participants();
        self.current_max_active_participants =
            self.current_max_active_participants.max(participants);
        if advances_optimistic {
            self.optimistic_header = update.attested_header.clone();
            outcome.optimistic_advanced = true;
        }
        if applies {
            let finalized = update
                .finality
                .as_ref()
                .map(|f| f.finalized_header.clone())
                .unwrap_or_default();
            let next = update
                .next_sync_committee
                .as_ref()
                .map(|n| n.committee.clone());
            self.apply_light_client_update(finalized, next, &mut outcome);
            self.best_valid_update = None;
        } else if becomes_best {
            self.best_valid_update = Some(update);
            outcome.stored_as_best = true;
        }
        Ok(outcome)
    }

    /// `process_light_client_store_force_update`: after `UPDATE_TIMEOUT`
    /// slots without finality, apply the best valid update, treating its
    /// attested header as finalized. `Ok(None)` when nothing is due.
    pub fn apply_force_update(&mut self, current_slot: u64) -> Result<Option<UpdateOutcome>> {
        let timeout = self.spec.update_timeout();
        if current_slot <= self.finalized_header.beacon.slot.saturating_add(timeout) {
            return Ok(None);
        }
        let Some(best) = &self.best_valid_update else {
            return Ok(None);
        };
        let finalized = match &best.finality {
            Some(f) if f.finalized_header.beacon.slot > self.finalized_header.beacon.slot => {
                f.finalized_header.clone()
            }
            _ => best.attested_header.clone(),
        };
        let store_period = self.store_period();
        let finalized_period = self.spec.period_at_slot(finalized.beacon.slot);
        if self.next_sync_committee.is_none() && finalized_period != store_period {
            return Err(Error::FinalizedPeriodUnreachable {
                store_period,
                finalized_period,
            });
        }
        let next = best
            .next_sync_committee
            .as_ref()
            .map(|n| n.committee.clone());
        self.generation += 1;
        let mut outcome = UpdateOutcome::default();
        self.apply_light_client_update(finalized, next, &mut outcome);
        self.best_valid_update = None;
        Ok(Some(outcome))
    }

    /// `apply_light_client_update`; callers have checked its assertion.
    fn apply_light_client_update(
        &mut self,
        finalized: LightClientHeader,
        next: Option<SyncCommittee>,
        outcome: &mut UpdateOutcome,
    ) {
        let store_period = self.store_period();
        let finalized_period = self.spec.period_at_slot(finalized.beacon.slot);
        if self.next_sync_committee.is_none() {
            self.next_keys = next.as_ref().map(CommitteeKeys::new);
            outcome.next_committee_learned = next.is_some();
            self.next_sync_committee = next;
        } else if finalized_period == store_period + 1 {
            if let (Some(committee), Some(keys)) =
                (self.next_sync_committee.take(), self.next_keys.take())
            {
                self.current_sync_committee = committee;
                self.current_keys = keys;
            }
            self.next_keys = next.as_ref().map(CommitteeKeys::new);
            outcome.next_committee_learned = next.is_some();
            self.next_sync_committee = next;
            self.previous_max_active_participants = self.current_max_active_participants;
            self.current_max_active_participants = 0;
            outcome.committee_rotated = true;
        }
        if finalized.beacon.slot > self.finalized_header.beacon.slot {
            self.finalized_header = finalized;
            outcome.finalized_advanced = true;
            if self.finalized_header.beacon.slot > self.optimistic_header.beacon.slot {
                self.optimistic_header = self.finalized_header.clone();
                outcome.optimistic_advanced = true;
            }
        }
    }
}

fn check_committee_size(committee: &SyncCommittee, spec: &ChainSpec) -> Result<()> {
    let expected = spec.preset.sync_committee_size;
    if committee.pubkeys.len() == expected {
        Ok(())
    } else {
        Err(Error::CommitteeSize {
            expected,
            got: committee.pubkeys.len(),
        })
    }
}

/// `is_better_update`.
fn is_better_update(new: &LightClientUpdate, old: &LightClientUpdate, spec: &ChainSpec) -> bool {
    let max = new.sync_aggregate.sync_committee_bits.len();
    let new_n = new.sync_aggregate.participants();
    let old_n = old.sync_aggregate.participants();
    let (new_super, old_super) = (supermajority(new_n, max), supermajority(old_n, max));
    if new_super != old_super {
        return new_super;
    }
    if !new_super && new_n != old_n {
        return new_n > old_n;
    }
    let relevant = |u: &LightClientUpdate| {
        u.next_sync_committee.is_some()
            && spec.period_at_slot(u.attested_header.beacon.slot)
                == spec.period_at_slot(u.signature_slot)
    };
    if relevant(new) != relevant(old) {
        return relevant(new);
    }
    if new.has_finality() != old.has_finality() {
        return new.has_finality();
    }
    if new.has_finality() {
        let committee_finality = |u: &LightClientUpdate| {
            spec.period_at_slot(u.finalized_slot())
                == spec.period_at_slot(u.attested_header.beacon.slot)
        };
        if committee_finality(new) != committee_finality(old) {
            return committee_finality(new);
        }
    }
    if new_n != old_n {
        return new_n > old_n;
    }
    if new.attested_header.beacon.slot != old.attested_header.beacon.slot {
        return new.attested_header.beacon.slot < old.attested_header.beacon.slot;
    }
    new.signature_slot < old.signature_slot
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{FinalityProof, NextSyncCommitteeProof, SyncAggregate};

    const SIZE: usize = 512;

    fn update(participants: usize, attested: u64, signature: u64) -> LightClientUpdate {
        let mut header = LightClientHeader::default();
        header.beacon.slot = attested;
        LightClientUpdate {
            attested_header: header,
            next_sync_committee: None,
            finality: None,
            sync_aggregate: SyncAggregate {
                sync_committee_bits: (0..SIZE).map(|i| i < participants).collect(),
                sync_committee_signature: Default::default(),
            },
            signature_slot: signature,
        }
    }

    fn with_committee(mut u: LightClientUpdate) -> LightClientUpdate {
        u.next_sync_committee = Some(NextSyncCommitteeProof {
            committee: SyncCommittee::default(),
            branch: vec![B256::repeat_byte(1); 5],
        });
        u
    }

    fn with_finality(mut u: LightClientUpdate, finalized: u64) -> LightClientUpdate {
        let mut header = LightClientHeader::default();
        header.beacon.slot = finalized;
        u.finality = Some(FinalityProof {
            finalized_header: header,
            branch: vec![B256::repeat_byte(1); 6],
        });
        u
    }

    #[test]
    fn is_better_update_follows_the_spec_order() {
        let spec = ChainSpec::mainnet();
        let better = |a: &LightClientUpdate, b: &LightClientUpdate| {
            assert_ne!(is_better_update(a, b, &spec), is_better_update(b, a, &spec));
            is_better_update(a, b, &spec)
        };
        // Supermajority first, then raw participation below it.
        assert!(better(&update(342, 100, 101), &update(341, 100, 101)));
        assert!(better(&update(300, 100, 101), &update(200, 100, 101)));
        // A committee relevant to the signature period beats finality.
        let relevant = with_committee(update(400, 100, 101));
        let final_only = with_finality(update(400, 100, 101), 90);
        assert!(better(&relevant, &final_only));
        // A committee attested in another period than the signature is not relevant.
        let period = 8192;
        let stale = with_committee(update(400, period - 1, period + 1));
        assert!(better(&final_only, &stale));
        // Finality in the attested period beats finality in an earlier one.
        let same_period = with_finality(update(400, period + 10, period + 11), period + 1);
        let earlier = with_finality(update(400, period + 10, period + 11), period - 1);
        assert!(better(&same_period, &earlier));
        // Ties: more signers, then older attested slot, then older signature slot.
        assert!(better(&update(500, 100, 101), &update(400, 100, 101)));
        assert!(better(&update(400, 99, 101), &update(400, 100, 101)));
        assert!(better(&update(400, 100, 101), &update(400, 100, 102)));
    }
}
