//! Adversarial inputs as a property: every update the light client accepts
//! in the vectors (helios' mainnet chain and every consensus-spec-tests sync
//! case, Altair to Electra) is refused once any single part the protocol
//! authenticates is changed: a signature bit, a participation bit, a node of
//! any branch, a field of the attested or finalized header, a key of the
//! next committee; and every mainnet update is refused under another
//! genesis validators root or fork version.

use std::sync::OnceLock;

use alloy_primitives::B256;
use proptest::prelude::*;
use switchyard_lc_beacon::spectest::{self, StepAction};
use switchyard_lc_beacon::{ChainSpec, LightClientStore, LightClientUpdate, Preset, json};

use crate::support::{read, vectors_dir};

/// A store and an update it accepts at `now`.
struct Valid {
    name: String,
    store: LightClientStore,
    update: LightClientUpdate,
    now: u64,
}

fn mainnet() -> Vec<Valid> {
    let dir = "helios/ethereum/testdata";
    let p = Preset::MAINNET;
    let bootstrap =
        json::bootstrap_from_json(&read(&format!("{dir}/bootstrap.json"))).expect("json");
    let mut updates =
        json::updates_from_json(&read(&format!("{dir}/updates.json")), &p).expect("json");
    updates.push(
        json::finality_update_from_json(&read(&format!("{dir}/finality.json")), &p)
            .expect("json")
            .into(),
    );
    updates.push(
        json::optimistic_update_from_json(&read(&format!("{dir}/optimistic.json")), &p)
            .expect("json")
            .into(),
    );
    let root: B256 = "0x5afc212a7924789b2bc86acad3ab3a6ffb1f6e97253ea50bee7f4f51422c9275"
        .parse()
        .expect("hex");
    let now = 7_109_432;
    let mut store =
        LightClientStore::from_bootstrap(root, bootstrap, ChainSpec::mainnet()).expect("bootstrap");
    let mut out = Vec::new();
    for (i, u) in updates.into_iter().enumerate() {
        out.push(Valid {
            name: format!("mainnet #{i}"),
            store: store.clone(),
            update: u.clone(),
            now,
        });
        let v = store.verify_update(&u, now).expect("valid");
        store.apply_update(v).expect("fresh");
    }
    out
}

fn spec_cases() -> Vec<Valid> {
    let mut dirs = Vec::new();
    for (base, forks, sub) in [
        (
            "helios/ethereum/consensus-core/testdata",
            &["deneb", "electra"][..],
            "",
        ),
        (
            "lantern-beacon/test/Lantern.Beacon.Sync.Tests/MockData/minimal",
            &["altair", "bellatrix", "capella", "deneb"][..],
            "sync/pyspec_tests",
        ),
    ] {
        for fork in forks {
            let d = vectors_dir().join(base).join(fork).join(sub);
            for e in std::fs::read_dir(&d).expect("folder") {
                let p = e.expect("entry").path();
                if p.join("steps.yaml").is_file() {
                    dirs.push(p);
                }
            }
        }
    }
    dirs.sort();
    let mut out = Vec::new();
    for dir in dirs {
        let case = spectest::load_sync_case(|n| std::fs::read(dir.join(n))).expect("case");
        let mut store =
            LightClientStore::from_bootstrap(case.trusted_root, case.bootstrap, case.spec)
                .expect("bootstrap");
        for (i, step) in case.steps.iter().enumerate() {
            if let StepAction::Update {
                update,
                current_slot,
                ..
            } = &step.action
            {
                let u = update.as_ref().clone().expect("decodes");
                if store.verify_update(&u, *current_slot).is_ok() {
                    out.push(Valid {
                        name: format!("{} step {i}", dir.display()),
                        store: store.clone(),
                        update: u,
                        now: *current_slot,
                    });
                }
            }
            spectest::run_step(&mut store, step).expect("the case passes");
        }
    }
    out
}

fn valid() -> &'static [Valid] {
    static ALL: OnceLock<Vec<Valid>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut v = mainnet();
        v.extend(spec_cases());
        v
    })
}

/// The parts a mutation can hit.
#[derive(Debug, Clone, Copy)]
enum Part {
    Signature,
    Participation,
    FinalityBranch,
    CommitteeBranch,
    CommitteeKey,
    AttestedHeader,
    FinalizedHeader,
    ExecutionBranch,
}

const PARTS: [Part; 8] = [
    Part::Signature,
    Part::Participation,
    Part::FinalityBranch,
    Part::CommitteeBranch,
    Part::CommitteeKey,
    Part::AttestedHeader,
    Part::FinalizedHeader,
    Part::ExecutionBranch,
];

fn flip(b: &mut [u8], bit: usize) {
    let i = (bit / 8) % b.len();
    b[i] ^= 1 << (bit % 8);
}

/// Applies the mutation; `false` when the update has no such part (an
/// update without finality has no finality branch).
fn mutate(u: &mut LightClientUpdate, part: Part, pick: usize, bit: usize) -> bool {
    match part {
        Part::Signature => {
            let mut s = u.sync_aggregate.sync_committee_signature.0;
            flip(&mut s, bit);
            u.sync_aggregate.sync_committee_signature = s.into();
        }
        Part::Participation => {
            let bits = &mut u.sync_aggregate.sync_committee_bits;
            let i = pick % bits.len();
            bits[i] = !bits[i];
        }
        Part::FinalityBranch => {
            let Some(f) = u.finality.as_mut() else {
                return false;
            };
            let i = pick % f.branch.len();
            flip(f.branch[i].as_mut_slice(), bit);
        }
        Part::CommitteeBranch => {
            let Some(n) = u.next_sync_committee.as_mut() else {
                return false;
            };
            let i = pick % n.branch.len();
            flip(n.branch[i].as_mut_slice(), bit);
        }
        Part::CommitteeKey => {
            let Some(n) = u.next_sync_committee.as_mut() else {
                return false;
            };
            let i = pick % n.committee.pubkeys.len();
            let mut k = n.committee.pubkeys[i].0;
            flip(&mut k, bit);
            n.committee.pubkeys[i] = k.into();
        }
        Part::AttestedHeader => header_field(&mut u.attested_header.beacon, pick, bit),
        Part::FinalizedHeader => {
            let Some(f) = u.finality.as_mut() else {
                return false;
            };
            header_field(&mut f.finalized_header.beacon, pick, bit);
        }
        Part::ExecutionBranch => {
            let h = &mut u.attested_header;
            if h.execution_branch.is_empty() {
                return false;
            }
            let i = pick % h.execution_branch.len();
            flip(h.execution_branch[i].as_mut_slice(), bit);
        }
    }
    true
}

fn header_field(h: &mut switchyard_lc_beacon::BeaconBlockHeader, pick: usize, bit: usize) {
    match pick % 5 {
        0 => h.slot ^= 1 << (bit % 64),
        1 => h.proposer_index ^= 1 << (bit % 64),
        2 => flip(h.parent_root.as_mut_slice(), bit),
        3 => flip(h.state_root.as_mut_slice(), bit),
        _ => flip(h.body_root.as_mut_slice(), bit),
    }
}

#[test]
fn the_property_runs_over_every_accepted_update() {
    let all = valid();
    let mainnet = all.iter().filter(|v| v.name.starts_with("mainnet")).count();
    assert_eq!(
        mainnet, 8,
        "6 period updates, a finality and an optimistic update"
    );
    assert!(all.len() > 60, "{} accepted updates in all", all.len());
    assert!(
        all.iter().any(|v| v.update.next_sync_committee.is_some())
            && all.iter().any(|v| v.update.finality.is_some())
            && all
                .iter()
                .any(|v| !v.update.attested_header.execution_branch.is_empty())
            && all
                .iter()
                .any(|v| v.update.attested_header.execution_branch.is_empty()),
        "every part occurs"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_single_change_to_an_accepted_update_is_refused(
        case in any::<prop::sample::Index>(),
        part in 0..PARTS.len(),
        pick in any::<usize>(),
        bit in any::<usize>(),
    ) {
        let v = case.get(valid());
        let mut u = v.update.clone();
        if mutate(&mut u, PARTS[part], pick, bit) {
            let verdict = v.store.verify_update(&u, v.now);
            prop_assert!(
                verdict.is_err(),
                "{}: {:?} (pick {pick}, bit {bit}) still verifies",
                v.name, PARTS[part]
            );
        }
    }

    #[test]
    fn another_networks_genesis_root_or_fork_version_refuses_every_mainnet_update(
        case in 0usize..8,
        bit in 0usize..256,
        genesis in any::<bool>(),
    ) {
        let v = &valid()[case];
        let mut spec = ChainSpec::mainnet();
        if genesis {
            flip(spec.genesis_validators_root.as_mut_slice(), bit);
        } else {
            let fork = spec.fork_at_slot(v.update.signature_slot.saturating_sub(1));
            let entry = spec.forks.iter_mut().find(|f| f.fork == fork).expect("scheduled");
            flip(&mut entry.version, bit % 32);
        }
        let store = LightClientStore::restore(&v.store.snapshot(), spec).expect("same state");
        prop_assert!(store.verify_update(&v.update, v.now).is_err());
    }
}
