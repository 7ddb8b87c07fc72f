//! consensus-spec-tests `light_client/sync` (minimal preset) as copied by
//! helios into `ethereum/consensus-core/testdata/{deneb,electra}`: every
//! step of `steps.yaml` is run in order and its checks compared.

use std::path::Path;

use alloy_primitives::B256;
use serde_norway::Value;
use switchyard_lc_beacon::{
    ChainSpec, Error, Fork, ForkEntry, LightClientHeader, LightClientStore, Preset, Proof, codec,
};

use crate::support::vectors_dir;

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn snappy(path: &Path) -> Vec<u8> {
    let raw = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // Raw snappy blocks, not the framed format.
    snap::raw::Decoder::new()
        .decompress_vec(&raw)
        .expect("raw snappy block")
}

fn hex4(v: &Value) -> [u8; 4] {
    let s = match v {
        Value::String(s) => s.clone(),
        // `0x01000001` unquoted reads as an integer in YAML 1.1.
        Value::Number(n) => format!("0x{:08x}", n.as_u64().expect("version")),
        other => panic!("not a fork version: {other:?}"),
    };
    let bytes = alloy_primitives::hex::decode(s).expect("hex");
    bytes.try_into().expect("4 bytes")
}

fn b256(v: &Value) -> B256 {
    v.as_str()
        .expect("hex string")
        .parse()
        .expect("32-byte hex")
}

fn u64_of(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("not an integer: {v:?}"))
}

fn chain_spec(config: &Value, gvr: B256) -> ChainSpec {
    assert_eq!(config["PRESET_BASE"].as_str(), Some("minimal"));
    let mut forks = vec![ForkEntry {
        fork: Fork::Phase0,
        version: hex4(&config["GENESIS_FORK_VERSION"]),
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
        let epoch = &config[format!("{name}_FORK_EPOCH").as_str()];
        let Some(epoch) = epoch.as_u64() else {
            continue;
        };
        if epoch == u64::MAX {
            continue;
        }
        forks.push(ForkEntry {
            fork,
            version: hex4(&config[format!("{name}_FORK_VERSION").as_str()]),
            epoch,
        });
    }
    ChainSpec {
        preset: Preset::MINIMAL,
        genesis_validators_root: gvr,
        forks,
    }
}

fn check_header(
    case: &str,
    step: usize,
    what: &str,
    got: &LightClientHeader,
    want: &Value,
    spec: &ChainSpec,
) {
    assert_eq!(
        got.beacon.slot,
        u64_of(&want["slot"]),
        "{case} step {step}: {what} slot"
    );
    assert_eq!(
        got.beacon_root(),
        b256(&want["beacon_root"]),
        "{case} step {step}: {what} root"
    );
    // Altair-era test files check no execution root.
    if !want["execution_root"].is_null() {
        let execution_root = got.execution_root(spec).expect("valid header");
        assert_eq!(
            execution_root,
            b256(&want["execution_root"]),
            "{case} step {step}: {what} execution root"
        );
    }
}

/// Runs one case and returns how many steps it executed.
fn run_case(dir: &Path) -> usize {
    let case = dir
        .strip_prefix(vectors_dir())
        .unwrap_or(dir)
        .display()
        .to_string();
    let meta = yaml(&dir.join("meta.yaml"));
    let spec = chain_spec(
        &yaml(&dir.join("config.yaml")),
        b256(&meta["genesis_validators_root"]),
    );
    let fork_of = |digest: &Value| {
        spec.fork_of_digest(hex4(digest))
            .unwrap_or_else(|| panic!("{case}: unknown digest {digest:?}"))
    };
    let bootstrap_fork = fork_of(&meta["bootstrap_fork_digest"]);
    let bootstrap = codec::bootstrap_from_ssz(
        &snappy(&dir.join("bootstrap.ssz_snappy")),
        bootstrap_fork,
        &spec.preset,
    )
    .expect("bootstrap decodes");
    let mut store = LightClientStore::from_bootstrap(
        b256(&meta["trusted_block_root"]),
        bootstrap,
        spec.clone(),
    )
    .unwrap_or_else(|e| panic!("{case}: bootstrap: {e}"));

    let steps = yaml(&dir.join("steps.yaml"));
    let steps = steps.as_sequence().expect("steps are a list");
    for (i, step) in steps.iter().enumerate() {
        let (kind, body) = step
            .as_mapping()
            .and_then(|m| m.iter().next())
            .expect("one step");
        match kind.as_str() {
            Some("process_update") => {
                let current_slot = u64_of(&body["current_slot"]);
                let fork = fork_of(&body["update_fork_digest"]);
                let name = body["update"].as_str().expect("update name");
                let bytes = snappy(&dir.join(format!("{name}.ssz_snappy")));
                let update = codec::update_from_ssz(&bytes, fork, &spec.preset)
                    .unwrap_or_else(|e| panic!("{case} step {i}: decode {name}: {e}"));
                let verified = store
                    .verify_update(&update, current_slot)
                    .unwrap_or_else(|e| panic!("{case} step {i}: {name}: {e}"));
                store.apply_update(verified).expect("fresh verification");
            }
            Some("force_update") => {
                let current_slot = u64_of(&body["current_slot"]);
                store
                    .apply_force_update(current_slot)
                    .unwrap_or_else(|e| panic!("{case} step {i}: {e}"));
            }
            Some("upgrade_store") => {
                // The store keeps each header in the shape it was verified
                // in and derives execution roots from the header's own slot
                // (`get_lc_execution_root`), so upgrading the store's fork
                // changes nothing observable; the digest must still name a
                // scheduled fork.
                fork_of(&body["store_fork_digest"]);
            }
            other => panic!("{case} step {i}: unknown step {other:?}"),
        }
        let checks = &body["checks"];
        check_header(
            &case,
            i,
            "finalized",
            store.finalized_header(),
            &checks["finalized_header"],
            &spec,
        );
        check_header(
            &case,
            i,
            "optimistic",
            store.optimistic_header(),
            &checks["optimistic_header"],
            &spec,
        );
    }
    steps.len()
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
    let meta = yaml(&dir.join("meta.yaml"));
    let config = yaml(&dir.join("config.yaml"));
    let gvr = b256(&meta["genesis_validators_root"]);
    let trusted = b256(&meta["trusted_block_root"]);
    let spec = chain_spec(&config, gvr);
    let bootstrap = codec::bootstrap_from_ssz(
        &snappy(&dir.join("bootstrap.ssz_snappy")),
        Fork::Electra,
        &spec.preset,
    )
    .expect("bootstrap decodes");
    assert_eq!(bootstrap.current_sync_committee_branch.len(), 6);
    let steps = yaml(&dir.join("steps.yaml"));
    let first = &steps[0]["process_update"];
    let name = first["update"].as_str().expect("update name");
    let current_slot = u64_of(&first["current_slot"]);
    let update = codec::update_from_ssz(
        &snappy(&dir.join(format!("{name}.ssz_snappy"))),
        Fork::Electra,
        &spec.preset,
    )
    .expect("update decodes");
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
