//! helios `ethereum/testdata`: real mainnet Capella bootstrap, six period
//! updates (862..867), a finality and an optimistic update, verified with
//! mainnet parameters; invalid cases are made by mutation.

use alloy_primitives::{B256, b256};
use switchyard_lc_beacon::{
    ChainSpec, Error, Fork, LightClientBootstrap, LightClientFinalityUpdate,
    LightClientOptimisticUpdate, LightClientStore, LightClientUpdate, Preset, Proof, json,
};

use crate::support::read;

const CHECKPOINT: B256 = b256!("5afc212a7924789b2bc86acad3ab3a6ffb1f6e97253ea50bee7f4f51422c9275");
/// Any slot at or after the newest signature slot (7109431) in the data.
const NOW: u64 = 7_109_432;

struct Data {
    bootstrap: LightClientBootstrap,
    updates: Vec<LightClientUpdate>,
    finality: LightClientFinalityUpdate,
    optimistic: LightClientOptimisticUpdate,
}

fn data() -> Data {
    let p = Preset::MAINNET;
    let dir = "helios/ethereum/testdata";
    Data {
        bootstrap: json::bootstrap_from_json(&read(&format!("{dir}/bootstrap.json")))
            .expect("bootstrap decodes"),
        updates: json::updates_from_json(&read(&format!("{dir}/updates.json")), &p)
            .expect("updates decode"),
        finality: json::finality_update_from_json(&read(&format!("{dir}/finality.json")), &p)
            .expect("finality update decodes"),
        optimistic: json::optimistic_update_from_json(&read(&format!("{dir}/optimistic.json")), &p)
            .expect("optimistic update decodes"),
    }
}

fn store(d: &Data, spec: ChainSpec) -> LightClientStore {
    LightClientStore::from_bootstrap(CHECKPOINT, d.bootstrap.clone(), spec).expect("bootstrap")
}

/// Store after applying the first `n` period updates.
fn synced(d: &Data, n: usize) -> LightClientStore {
    let mut s = store(d, ChainSpec::mainnet());
    for u in &d.updates[..n] {
        let v = s.verify_update(u, NOW).expect("valid update");
        s.apply_update(v).expect("fresh verification");
    }
    s
}

fn flip(b: &mut B256) {
    b[31] ^= 1;
}

#[test]
fn bootstrap_is_the_trusted_checkpoint() {
    let d = data();
    assert_eq!(d.bootstrap.header.beacon.slot, 7_069_376);
    assert_eq!(d.bootstrap.header.beacon_root(), CHECKPOINT);
    LightClientStore::verify_bootstrap(CHECKPOINT, &d.bootstrap, &ChainSpec::mainnet())
        .expect("valid bootstrap");
    let s = store(&d, ChainSpec::mainnet());
    assert_eq!(s.finalized_header().beacon.slot, 7_069_376);
    assert!(s.next_sync_committee().is_none());
}

#[test]
fn full_sync_over_six_periods_then_finality_and_optimistic() {
    let d = data();
    assert_eq!(d.updates.len(), 6);
    let spec = ChainSpec::mainnet();
    let mut s = store(&d, spec.clone());
    let mut verified = 0;
    for (i, u) in d.updates.iter().enumerate() {
        assert_eq!(
            spec.fork_at_slot(u.attested_header.beacon.slot),
            Fork::Capella
        );
        let v = s
            .verify_update(u, NOW)
            .unwrap_or_else(|e| panic!("update {i}: {e}"));
        assert!(
            v.will_finalize(),
            "update {i} has supermajority and finality"
        );
        let out = s.apply_update(v).expect("fresh verification");
        verified += 1;
        assert!(
            out.next_committee_learned,
            "update {i} carries the next committee"
        );
        if i == 0 {
            // Attested before the bootstrap slot: it only supplies the next
            // committee, the finalized header stays.
            assert!(!out.committee_rotated && !out.finalized_advanced);
            assert_eq!(s.finalized_header().beacon.slot, 7_069_376);
        } else {
            assert!(
                out.committee_rotated && out.finalized_advanced,
                "update {i}"
            );
            assert_eq!(
                spec.period_at_slot(s.finalized_header().beacon.slot),
                862 + i as u64
            );
        }
        assert_eq!(
            s.next_sync_committee(),
            Some(&u.next_sync_committee.as_ref().expect("present").committee)
        );
    }

    let v = s
        .verify_update(&d.finality.clone().into(), NOW)
        .expect("finality update");
    let out = s.apply_update(v).expect("fresh verification");
    verified += 1;
    assert!(out.finalized_advanced && out.optimistic_advanced);
    assert_eq!(s.finalized_header().beacon.slot, 7_109_344);
    assert_eq!(s.optimistic_header().beacon.slot, 7_109_430);
    let exec = |h: &switchyard_lc_beacon::LightClientHeader| {
        h.execution.as_ref().expect("Capella header").block_number()
    };
    assert_eq!(exec(s.finalized_header()), 17_923_026);
    // The execution block helios expects to see after syncing.
    assert_eq!(exec(s.optimistic_header()), 17_923_112);

    let v = s
        .verify_update(&d.optimistic.into(), NOW)
        .expect("optimistic update");
    let out = s.apply_update(v).expect("fresh verification");
    verified += 1;
    assert!(out.optimistic_advanced && !out.finalized_advanced && out.stored_as_best);
    assert_eq!(s.optimistic_header().beacon.slot, 7_109_431);
    assert_eq!(exec(s.optimistic_header()), 17_923_113);
    assert_eq!(s.finalized_header().beacon.slot, 7_109_344);
    assert_eq!(verified, 8);
}

#[test]
fn every_header_proves_its_execution_payload() {
    let d = data();
    let spec = ChainSpec::mainnet();
    let mut headers = vec![&d.bootstrap.header, &d.finality.attested_header];
    headers.push(&d.finality.finality.finalized_header);
    headers.push(&d.optimistic.attested_header);
    for u in &d.updates {
        headers.push(&u.attested_header);
        headers.push(&u.finality.as_ref().expect("finality").finalized_header);
    }
    assert_eq!(headers.len(), 16);
    for h in headers {
        h.validate(&spec)
            .unwrap_or_else(|e| panic!("slot {}: {e}", h.beacon.slot));
    }
}

#[test]
fn verify_does_not_mutate_and_stale_verifications_are_refused() {
    let d = data();
    let mut s = synced(&d, 1);
    let before = (s.finalized_header().clone(), s.optimistic_header().clone());
    let v1 = s.verify_update(&d.updates[1], NOW).expect("valid");
    let v1_again = s.verify_update(&d.updates[1], NOW).expect("valid");
    assert_eq!(
        (s.finalized_header().clone(), s.optimistic_header().clone()),
        before
    );
    s.apply_update(v1).expect("fresh");
    let err = s.apply_update(v1_again).expect_err("store moved on");
    assert_eq!(
        err,
        Error::StaleVerification {
            expected: 1,
            got: 2
        }
    );
    assert!(err.is_retryable());
}

fn assert_permanent(err: &Error) {
    assert!(!err.is_retryable(), "{err} must not be retryable");
}

#[test]
fn bootstrap_mutations_are_rejected() {
    let d = data();
    let spec = ChainSpec::mainnet();
    let wrong_root = B256::repeat_byte(0xab);
    let err = LightClientStore::verify_bootstrap(wrong_root, &d.bootstrap, &spec)
        .expect_err("wrong root");
    assert_eq!(
        err,
        Error::BootstrapRootMismatch {
            expected: wrong_root,
            got: CHECKPOINT
        }
    );
    assert_permanent(&err);

    let mut b = d.bootstrap.clone();
    flip(&mut b.current_sync_committee_branch[3]);
    let err = LightClientStore::verify_bootstrap(CHECKPOINT, &b, &spec).expect_err("branch");
    assert!(
        matches!(
            err,
            Error::InvalidBranch {
                proof: Proof::CurrentSyncCommittee,
                gindex: 54,
                ..
            }
        ),
        "{err}"
    );
    assert_permanent(&err);

    let mut b = d.bootstrap.clone();
    b.current_sync_committee.pubkeys[7] = Default::default();
    let err = LightClientStore::verify_bootstrap(CHECKPOINT, &b, &spec).expect_err("committee");
    assert!(
        matches!(
            err,
            Error::InvalidBranch {
                proof: Proof::CurrentSyncCommittee,
                ..
            }
        ),
        "{err}"
    );

    let mut b = d.bootstrap;
    flip(&mut b.header.execution_branch[0]);
    let err = LightClientStore::verify_bootstrap(CHECKPOINT, &b, &spec).expect_err("execution");
    assert!(
        matches!(
            err,
            Error::InvalidBranch {
                proof: Proof::ExecutionPayload,
                gindex: 25,
                ..
            }
        ),
        "{err}"
    );
}

/// Verifies `mutate(update)` against `store` and returns the error.
fn reject(
    store: &LightClientStore,
    update: &LightClientUpdate,
    mutate: impl FnOnce(&mut LightClientUpdate),
) -> Error {
    let mut u = update.clone();
    mutate(&mut u);
    store
        .verify_update(&u, NOW)
        .expect_err("mutated update must be rejected")
}

fn is_invalid_signature(err: &Error) -> bool {
    matches!(err, Error::InvalidSignature { .. })
}

#[test]
fn update_mutations_are_rejected() {
    let d = data();
    let s = synced(&d, 1);
    let u = &d.updates[1];
    let _ = s.verify_update(u, NOW).expect("unmutated update is valid");

    // Flipping the low bit of x still decodes to a G2 point for this
    // signature, so the pairing check is what refuses it.
    let err = reject(&s, u, |u| {
        u.sync_aggregate.sync_committee_signature[95] ^= 1
    });
    assert_eq!(
        err,
        Error::InvalidSignature {
            participants: 512,
            signature_slot: 7_070_143
        }
    );
    assert_permanent(&err);
    // Clearing the compression flag makes the 96 bytes undecodable.
    let err = reject(&s, u, |u| {
        u.sync_aggregate.sync_committee_signature[0] ^= 0x80
    });
    assert_eq!(err, Error::MalformedSignature);
    assert_permanent(&err);
    // A well-formed signature over another message.
    let other = d.updates[2].sync_aggregate.sync_committee_signature;
    let err = reject(&s, u, |u| u.sync_aggregate.sync_committee_signature = other);
    assert!(is_invalid_signature(&err), "{err}");
    assert_permanent(&err);

    let participants = u.sync_aggregate.participants();
    let err = reject(&s, u, |u| u.sync_aggregate.sync_committee_bits[0] ^= true);
    let expected = if u.sync_aggregate.sync_committee_bits[0] {
        participants - 1
    } else {
        participants + 1
    };
    assert_eq!(
        err,
        Error::InvalidSignature {
            participants: expected,
            signature_slot: u.signature_slot
        }
    );

    let err = reject(&s, u, |u| {
        flip(&mut u.finality.as_mut().expect("finality").branch[0])
    });
    assert!(
        matches!(
            err,
            Error::InvalidBranch {
                proof: Proof::Finality,
                gindex: 105,
                ..
            }
        ),
        "{err}"
    );
    assert_permanent(&err);
    let swapped = d.updates[2]
        .finality
        .as_ref()
        .expect("finality")
        .finalized_header
        .clone();
    let err = reject(&s, u, |u| {
        u.finality.as_mut().expect("finality").finalized_header = swapped
    });
    assert!(
        matches!(
            err,
            Error::SlotOrder { .. }
                | Error::InvalidBranch {
                    proof: Proof::Finality,
                    ..
                }
        ),
        "{err}"
    );

    let err = reject(&s, u, |u| {
        flip(&mut u.next_sync_committee.as_mut().expect("next").branch[2])
    });
    assert!(
        matches!(
            err,
            Error::InvalidBranch {
                proof: Proof::NextSyncCommittee,
                gindex: 55,
                ..
            }
        ),
        "{err}"
    );
    let err = reject(&s, u, |u| {
        u.next_sync_committee
            .as_mut()
            .expect("next")
            .committee
            .pubkeys[0] = Default::default();
    });
    assert!(
        matches!(
            err,
            Error::InvalidBranch {
                proof: Proof::NextSyncCommittee,
                ..
            }
        ),
        "{err}"
    );

    let err = reject(&s, u, |u| flip(&mut u.attested_header.execution_branch[1]));
    assert!(
        matches!(
            err,
            Error::InvalidBranch {
                proof: Proof::ExecutionPayload,
                ..
            }
        ),
        "{err}"
    );

    let err = reject(&s, u, |u| u.sync_aggregate.sync_committee_bits.fill(false));
    assert_eq!(err, Error::InsufficientParticipation { min: 1, got: 0 });
    assert_permanent(&err);

    let err = reject(&s, u, |u| u.signature_slot = u.attested_header.beacon.slot);
    assert!(matches!(err, Error::SlotOrder { .. }), "{err}");
    assert_permanent(&err);
}

#[test]
fn wrong_chain_parameters_break_the_signature() {
    let d = data();
    // updates[0] is the first update a fresh store accepts; it is signed in
    // Capella, so a wrong Capella version or genesis validators root changes
    // the signing domain.
    let u = &d.updates[0];
    let _ = store(&d, ChainSpec::mainnet())
        .verify_update(u, NOW)
        .expect("valid with mainnet parameters");

    let mut spec = ChainSpec::mainnet();
    for f in &mut spec.forks {
        if f.fork == Fork::Capella {
            f.version = [3, 0, 0, 1];
        }
    }
    let err = store(&d, spec)
        .verify_update(u, NOW)
        .expect_err("wrong fork version");
    assert!(is_invalid_signature(&err), "{err}");
    assert_permanent(&err);

    let spec = ChainSpec {
        genesis_validators_root: B256::repeat_byte(1),
        ..ChainSpec::mainnet()
    };
    let err = store(&d, spec)
        .verify_update(u, NOW)
        .expect_err("wrong genesis validators root");
    assert!(is_invalid_signature(&err), "{err}");
    assert_permanent(&err);
}

#[test]
fn finality_and_optimistic_mutations_are_rejected() {
    let d = data();
    let s = synced(&d, 6);
    let f: LightClientUpdate = d.finality.clone().into();
    let o: LightClientUpdate = d.optimistic.into();
    for u in [&f, &o] {
        let err = reject(&s, u, |u| {
            u.sync_aggregate.sync_committee_signature[95] ^= 1
        });
        assert!(is_invalid_signature(&err), "{err}");
        let err = reject(&s, u, |u| {
            u.sync_aggregate.sync_committee_signature[0] ^= 0x80
        });
        assert_eq!(err, Error::MalformedSignature);
        let err = reject(&s, u, |u| u.attested_header.beacon.proposer_index += 1);
        assert!(is_invalid_signature(&err), "{err}");
    }
    let err = reject(&s, &f, |u| {
        flip(&mut u.finality.as_mut().expect("finality").branch[5])
    });
    assert!(
        matches!(
            err,
            Error::InvalidBranch {
                proof: Proof::Finality,
                ..
            }
        ),
        "{err}"
    );
    let err = reject(&s, &o, |u| {
        let i = u
            .sync_aggregate
            .sync_committee_bits
            .iter()
            .position(|b| *b)
            .expect("a signer");
        u.sync_aggregate.sync_committee_bits[i] = false;
    });
    assert!(is_invalid_signature(&err), "{err}");
}

#[test]
fn clock_and_period_conditions_are_retryable() {
    let d = data();
    let s = synced(&d, 1);
    let u = &d.updates[1];
    let err = s
        .verify_update(u, u.signature_slot - 1)
        .expect_err("from the future");
    assert_eq!(
        err,
        Error::SignatureSlotInFuture {
            current_slot: u.signature_slot - 1,
            signature_slot: u.signature_slot
        }
    );
    assert!(err.is_retryable());

    // Two periods ahead of the store: it must catch up first.
    let err = s.verify_update(&d.updates[3], NOW).expect_err("period gap");
    assert_eq!(
        err,
        Error::UnknownSignaturePeriod {
            store_period: 862,
            signature_period: 865,
            next_committee_known: true
        }
    );
    assert!(err.is_retryable());

    // A store without the next committee accepts only its own period.
    let fresh = synced(&d, 0);
    let err = fresh
        .verify_update(u, NOW)
        .expect_err("next committee unknown");
    assert!(
        matches!(
            err,
            Error::UnknownSignaturePeriod {
                next_committee_known: false,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn old_update_is_irrelevant_once_its_committee_is_known() {
    let d = data();
    let s = synced(&d, 1);
    let err = s
        .verify_update(&d.updates[0], NOW)
        .expect_err("nothing new");
    assert!(
        matches!(
            err,
            Error::IrrelevantUpdate {
                attested_slot: 7_061_719,
                ..
            }
        ),
        "{err}"
    );
    assert_permanent(&err);

    // Once the store is in period 863, a period-862 signature is stale for good.
    let s = synced(&d, 2);
    let err = s
        .verify_update(&d.updates[0], NOW)
        .expect_err("behind the store");
    assert_eq!(
        err,
        Error::UnknownSignaturePeriod {
            store_period: 863,
            signature_period: 862,
            next_committee_known: true,
        }
    );
    assert_permanent(&err);
}

/// A store persisted mid-sync and restored continues exactly as the
/// original: the same verdicts and the same headers for the rest of the
/// data; damaged snapshots are refused.
#[test]
fn a_restored_snapshot_continues_like_the_original() {
    let d = data();
    let mut original = synced(&d, 3);
    let bytes = original.snapshot();
    let mut restored = LightClientStore::restore(&bytes, ChainSpec::mainnet()).expect("restores");
    assert_eq!(restored.finalized_header(), original.finalized_header());
    assert_eq!(restored.optimistic_header(), original.optimistic_header());
    assert_eq!(
        restored.next_sync_committee(),
        original.next_sync_committee()
    );
    assert_eq!(restored.snapshot(), bytes, "a snapshot round-trips");
    let rest: Vec<LightClientUpdate> = d.updates[3..]
        .iter()
        .cloned()
        .chain([d.finality.clone().into(), d.optimistic.clone().into()])
        .collect();
    for u in &rest {
        let a = original
            .verify_update(u, NOW)
            .map(|v| original.apply_update(v));
        let b = restored
            .verify_update(u, NOW)
            .map(|v| restored.apply_update(v));
        assert_eq!(a.is_ok(), b.is_ok());
        assert_eq!(restored.finalized_header(), original.finalized_header());
        assert_eq!(restored.optimistic_header(), original.optimistic_header());
    }
    assert_eq!(original.finalized_header().beacon.slot, 7_109_344);

    // Truncated, another version, a flipped execution-branch node.
    assert!(LightClientStore::restore(&bytes[..bytes.len() - 1], ChainSpec::mainnet()).is_err());
    let mut v2 = bytes;
    v2[0] = 2;
    let err = LightClientStore::restore(&v2, ChainSpec::mainnet()).expect_err("version");
    assert!(err.to_string().contains("version 2"), "{err}");
    let s = synced(&d, 1);
    let mut bytes = s.snapshot();
    let node = s.finalized_header().execution_branch[0];
    let at = bytes
        .windows(32)
        .position(|w| w == node.as_slice())
        .expect("branch node in the snapshot");
    bytes[at] ^= 1;
    let err = LightClientStore::restore(&bytes, ChainSpec::mainnet()).expect_err("branch");
    assert!(
        matches!(
            err,
            Error::InvalidBranch {
                proof: Proof::ExecutionPayload,
                ..
            }
        ),
        "{err}"
    );
}
