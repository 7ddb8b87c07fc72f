//! consensus-spec-tests `light_client/sync` (minimal preset) as copied by
//! helios into `ethereum/consensus-core/testdata/{deneb,electra}`: every
//! step of `steps.yaml` is run in order and its checks compared.

use std::path::Path;

use alloy_primitives::B256;
use switchyard_lc_beacon::spectest::{self, StepAction, SyncCase};
use switchyard_lc_beacon::{Error, Fork, LightClientStore, Proof};

use crate::support::vectors_dir;

fn load(dir: &Path) -> SyncCase {
    spectest::load_sync_case(|name| std::fs::read(dir.join(name)))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

/// Runs one case (every step must succeed and leave the store the case
/// expects) and returns how many steps it executed.
fn run_case(dir: &Path) -> usize {
    let case = dir
        .strip_prefix(vectors_dir())
        .unwrap_or(dir)
        .display()
        .to_string();
    let c = load(dir);
    let mut store = LightClientStore::from_bootstrap(c.trusted_root, c.bootstrap, c.spec)
        .unwrap_or_else(|e| panic!("{case}: bootstrap: {e}"));
    for (i, step) in c.steps.iter().enumerate() {
        spectest::run_step(&mut store, step)
            .unwrap_or_else(|e| panic!("{case} step {i} ({}): {e}", step.action.kind()));
    }
    c.steps.len()
}

/// The runner is not a rubber stamp: a case whose expected header differs
/// from what the light client reaches fails at that step.
#[test]
fn the_case_runner_fails_a_step_whose_checks_differ() {
    let dir = vectors_dir().join("helios/ethereum/consensus-core/testdata/deneb/light_client_sync");
    let mut c = load(&dir);
    let mut store =
        LightClientStore::from_bootstrap(c.trusted_root, c.bootstrap.clone(), c.spec.clone())
            .expect("bootstrap");
    c.steps[0].finalized.beacon_root = B256::repeat_byte(7);
    let err = spectest::run_step(&mut store, &c.steps[0]).expect_err("wrong expectation");
    assert!(err.to_string().contains("finalized header check"), "{err}");
    // And an update that does not decode is a verdict of its step.
    let StepAction::Update { update, .. } = &mut c.steps[1].action else {
        panic!("step 1 is an update");
    };
    **update = Err(Error::Decode {
        what: "update file",
        reason: "test".into(),
    });
    assert!(spectest::run_step(&mut store, &c.steps[1]).is_err());
}

#[test]
fn helios_consensus_spec_sync_cases() {
    let root = vectors_dir().join("helios/ethereum/consensus-core/testdata");
    let mut cases = 0;
    let mut steps = 0;
    for fork in ["deneb", "electra"] {
        let mut dirs: Vec<_> = std::fs::read_dir(root.join(fork))
            .expect("fork folder")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.join("steps.yaml").is_file())
            .collect();
        dirs.sort();
        for dir in dirs {
            steps += run_case(&dir);
            cases += 1;
        }
    }
    assert_eq!(
        (cases, steps),
        (6, 32),
        "SOURCES.md lists 6 cases with 32 steps"
    );
}

/// Lantern.Beacon's copy of consensus-spec-tests `light_client/sync`
/// (minimal), with Altair/Bellatrix headers, the Capella and Deneb fork
/// transitions, `upgrade_store` steps and stores fed legacy-fork data.
#[test]
fn lantern_consensus_spec_sync_cases_with_fork_transitions() {
    let root = vectors_dir().join("lantern-beacon/test/Lantern.Beacon.Sync.Tests/MockData/minimal");
    let mut cases = 0;
    let mut steps = 0;
    for fork in ["altair", "bellatrix", "capella", "deneb"] {
        let base = root.join(fork).join("sync/pyspec_tests");
        let mut dirs: Vec<_> = std::fs::read_dir(&base)
            .expect("fork folder")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.join("steps.yaml").is_file())
            .collect();
        dirs.sort();
        for dir in dirs {
            steps += run_case(&dir);
            cases += 1;
        }
    }
    assert_eq!((cases, steps), (20, 86));
}

/// Mutations of the first Electra update (minimal preset) against the
/// bootstrapped store: the Electra-depth proofs must be checked at the
/// Electra generalized indices, and the Electra fork version must sign.
#[test]
fn electra_update_mutations_are_rejected() {
    let dir =
        vectors_dir().join("helios/ethereum/consensus-core/testdata/electra/light_client_sync");
    let c = load(&dir);
    let (spec, trusted, bootstrap) = (c.spec, c.trusted_root, c.bootstrap);
    assert_eq!(bootstrap.current_sync_committee_branch.len(), 6);
    let StepAction::Update {
        current_slot,
        update,
        ..
    } = &c.steps[0].action
    else {
        panic!("the first step processes an update");
    };
    let current_slot = *current_slot;
    let update = update.as_ref().clone().expect("update decodes");
    let finality_len = update.finality.as_ref().expect("finality").branch.len();
    assert_eq!(finality_len, 7);

    let store = LightClientStore::from_bootstrap(trusted, bootstrap.clone(), spec.clone())
        .expect("valid bootstrap");
    let _ = store
        .verify_update(&update, current_slot)
        .expect("unmutated update is valid");

    let mut u = update.clone();
    u.finality.as_mut().expect("finality").branch[6][0] ^= 1;
    let err = store
        .verify_update(&u, current_slot)
        .expect_err("flipped finality node");
    assert!(
        matches!(
            err,
            Error::InvalidBranch {
                proof: Proof::Finality,
                gindex: 169,
                ..
            }
        ),
        "{err}"
    );

    // The "_sf" update carries a next sync committee.
    let next = update.next_sync_committee.as_ref().expect("next committee");
    assert_eq!(next.branch.len(), 6);
    let mut u = update.clone();
    u.next_sync_committee.as_mut().expect("next").branch[5][0] ^= 1;
    let err = store
        .verify_update(&u, current_slot)
        .expect_err("flipped committee node");
    assert!(
        matches!(
            err,
            Error::InvalidBranch {
                proof: Proof::NextSyncCommittee,
                gindex: 87,
                ..
            }
        ),
        "{err}"
    );

    // A non-zero node where a pre-Electra proof would have padding.
    let mut b = bootstrap.clone();
    b.current_sync_committee_branch
        .insert(0, B256::repeat_byte(1));
    let err = LightClientStore::verify_bootstrap(trusted, &b, &spec).expect_err("padding");
    assert_eq!(
        err,
        Error::BranchLength {
            proof: Proof::CurrentSyncCommittee,
            expected: 6,
            got: 7
        }
    );

    let mut wrong = spec;
    for f in &mut wrong.forks {
        if f.fork == Fork::Electra {
            f.version = [5, 0, 0, 2];
        }
    }
    let store = LightClientStore::from_bootstrap(trusted, bootstrap, wrong).expect("bootstrap");
    let err = store
        .verify_update(&update, current_slot)
        .expect_err("wrong fork version");
    assert!(matches!(err, Error::InvalidSignature { .. }), "{err}");
}
