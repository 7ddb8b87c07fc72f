//! `switchyard lc verify ethereum` on real mainnet beacon data (helios'
//! Capella chain: bootstrap, 6 updates, a finality and an optimistic
//! update), as JSON and as the beacon API's SSZ, and on the same data with
//! one byte changed; and consensus-spec-tests case folders.

use std::path::{Path, PathBuf};

use std::process::Command;
use switchyard_lc_beacon::{ChainSpec, Fork, Preset, codec, json};

/// The checkpoint SOURCES.md gives for the bootstrap (its header's root).
const TRUSTED: &str = "0x5afc212a7924789b2bc86acad3ab3a6ffb1f6e97253ea50bee7f4f51422c9275";

fn testdata(name: &str) -> PathBuf {
    switchyard_localnet::procs::repo_root()
        .join("../shared/vectors/helios/ethereum/testdata")
        .join(name)
}

fn verify(root: &str, updates: &[PathBuf]) -> (bool, Vec<serde_json::Value>, String) {
    verify_from(root, &testdata("bootstrap.json"), updates)
}

fn verify_from(
    root: &str,
    bootstrap: &Path,
    updates: &[PathBuf],
) -> (bool, Vec<serde_json::Value>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.args(["lc", "verify", "ethereum", "--network", "mainnet"])
        .args(["--trusted-root", root])
        .arg("--bootstrap")
        .arg(bootstrap)
        .args(["--current-slot", "7109432"])
        .arg("--updates")
        .args(updates);
    run(cmd)
}

fn run(mut cmd: Command) -> (bool, Vec<serde_json::Value>, String) {
    let out = cmd.output().expect("the binary runs");
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    (
        out.status.success(),
        lines,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn lc_verify_ethereum_follows_mainnet_from_bootstrap_to_finality() {
    let files = ["updates.json", "finality.json", "optimistic.json"].map(testdata);
    let (ok, lines, stderr) = verify(TRUSTED, &files);
    assert!(ok, "{lines:#?}\n{stderr}");
    assert_eq!(lines.len(), 9, "bootstrap, 6 updates, finality, optimistic");
    assert!(lines.iter().all(|l| l["verdict"] == "valid"), "{lines:#?}");
    let kinds: Vec<&str> = lines
        .iter()
        .map(|l| l["kind"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(kinds[0], "bootstrap");
    assert_eq!(kinds[7], "finality_update");
    assert_eq!(kinds[8], "optimistic_update");
    assert_eq!(lines[0]["period"], 862);
    let last = &lines[8];
    assert_eq!(last["finalized_slot"], 7_109_344);
    assert_eq!(last["optimistic_slot"], 7_109_431);
    assert_eq!(last["period"], 867);
}

#[test]
fn lc_verify_ethereum_reports_a_tampered_object_and_exits_non_zero() {
    // One hex digit of the finality update's sync-committee signature.
    let text = std::fs::read_to_string(testdata("finality.json")).expect("read");
    let key = "\"sync_committee_signature\": \"0x";
    let at = text.find(key).expect("signature field") + key.len() + 20;
    let mut bytes = text.into_bytes();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    let dir = tempfile::tempdir().expect("tmp");
    let tampered = dir.path().join("finality.json");
    std::fs::write(&tampered, bytes).expect("write");

    let (ok, lines, _) = verify(TRUSTED, &[testdata("updates.json"), tampered]);
    assert!(!ok, "exit status must say invalid: {lines:#?}");
    let bad = lines.last().expect("a line for the tampered object");
    assert_eq!(bad["kind"], "finality_update");
    assert_eq!(bad["verdict"], "invalid", "{bad}");
    assert_eq!(bad["retryable"], false, "{bad}");
    assert!(
        bad["error"]
            .as_str()
            .is_some_and(|e| e.contains("signature")),
        "{bad}"
    );
    // The store stays where the valid updates left it.
    assert_eq!(bad["period"], 867);

    // A bootstrap that is not the trusted checkpoint: nothing else is
    // checked.
    let wrong = "0x5afc212a7924789b2bc86acad3ab3a6ffb1f6e97253ea50bee7f4f51422c9276";
    let (ok, lines, _) = verify(wrong, &[testdata("updates.json")]);
    assert!(!ok);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    // The same mainnet data under another network's genesis root and fork
    // versions: the bootstrap still matches its root (no signature in it),
    // every update's signature fails.
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["lc", "verify", "ethereum", "--network", "sepolia"])
        .args(["--trusted-root", TRUSTED])
        .arg("--bootstrap")
        .arg(testdata("bootstrap.json"))
        .args(["--current-slot", "7109432", "--updates"])
        .arg(testdata("updates.json"))
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().skip(1).all(|l| l.contains("\"invalid\"")),
        "{text}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args([
            "lc",
            "verify",
            "ethereum",
            "--network",
            "goerli",
            "--trusted-root",
            TRUSTED,
        ])
        .arg("--bootstrap")
        .arg(testdata("bootstrap.json"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("[possible values: mainnet, sepolia, holesky]"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lines[0]["verdict"], "invalid");
    assert!(
        lines[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains(&TRUSTED[2..])),
        "names the root it got: {}",
        lines[0]
    );
}

/// The same mainnet objects in the beacon API's SSZ forms (bootstrap and
/// finality update as single objects, the updates as the chunk stream)
/// give the same verdicts and the same store, line for line.
#[test]
fn lc_verify_ethereum_reads_the_beacon_api_ssz_forms() {
    let read = |n: &str| std::fs::read_to_string(testdata(n)).expect("read");
    let spec = ChainSpec::mainnet();
    let preset = Preset::MAINNET;
    let dir = tempfile::tempdir().expect("tmp");
    let bootstrap = json::bootstrap_from_json(&read("bootstrap.json")).expect("json");
    let bootstrap_ssz = dir.path().join("bootstrap.ssz");
    std::fs::write(
        &bootstrap_ssz,
        codec::bootstrap_to_ssz(&bootstrap, Fork::Capella, &preset),
    )
    .expect("write");
    let updates = json::updates_from_json(&read("updates.json"), &preset).expect("json");
    let stream: Vec<u8> = updates
        .iter()
        .flat_map(|u| codec::update_stream_chunk(u, &spec).expect("scheduled fork"))
        .collect();
    let updates_ssz = dir.path().join("updates.ssz");
    std::fs::write(&updates_ssz, &stream).expect("write");
    let finality = json::finality_update_from_json(&read("finality.json"), &preset).expect("json");
    let finality_ssz = dir.path().join("finality.ssz");
    std::fs::write(
        &finality_ssz,
        codec::finality_update_to_ssz(&finality, Fork::Capella),
    )
    .expect("write");
    let optimistic =
        json::optimistic_update_from_json(&read("optimistic.json"), &preset).expect("json");
    let optimistic_ssz = dir.path().join("optimistic.ssz");
    std::fs::write(
        &optimistic_ssz,
        codec::optimistic_update_to_ssz(&optimistic, Fork::Capella),
    )
    .expect("write");

    let (ok, ssz_lines, stderr) = verify_from(
        TRUSTED,
        &bootstrap_ssz,
        &[updates_ssz.clone(), finality_ssz, optimistic_ssz],
    );
    assert!(ok, "{ssz_lines:#?}\n{stderr}");
    let files = ["updates.json", "finality.json", "optimistic.json"].map(testdata);
    let (_, json_lines, _) = verify(TRUSTED, &files);
    let view = |l: &serde_json::Value| {
        (
            l["kind"].clone(),
            l["verdict"].clone(),
            l["finalized_slot"].clone(),
            l["optimistic_slot"].clone(),
            l["period"].clone(),
        )
    };
    assert_eq!(
        ssz_lines.iter().map(view).collect::<Vec<_>>(),
        json_lines.iter().map(view).collect::<Vec<_>>()
    );

    // One signature bit flipped inside the stream's third update: that
    // update is invalid, the stream still frames, the exit status says so.
    let third: usize = updates[..2]
        .iter()
        .map(|u| codec::update_stream_chunk(u, &spec).expect("chunk").len())
        .sum();
    let chunk_len = codec::update_stream_chunk(&updates[2], &spec)
        .expect("chunk")
        .len();
    // The signature is 96 bytes before the 8-byte signature slot at the end.
    let mut bad = stream.clone();
    bad[third + chunk_len - 8 - 50] ^= 1;
    std::fs::write(&updates_ssz, &bad).expect("write");
    let (ok, lines, _) = verify_from(TRUSTED, &bootstrap_ssz, std::slice::from_ref(&updates_ssz));
    assert!(!ok);
    let verdicts: Vec<&str> = lines
        .iter()
        .map(|l| l["verdict"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        verdicts[..4],
        ["valid", "valid", "valid", "invalid"],
        "{lines:#?}"
    );
    // Cut off mid-chunk: a framing error, named.
    std::fs::write(&updates_ssz, &stream[..stream.len() - 10]).expect("write");
    let (ok, lines, _) = verify_from(TRUSTED, &bootstrap_ssz, &[updates_ssz]);
    assert!(!ok);
    let last = lines.last().expect("line");
    assert_eq!(last["verdict"], "invalid");
    assert!(
        last["error"]
            .as_str()
            .is_some_and(|e| e.contains("update stream")),
        "{last}"
    );
}

fn case(dir: &Path) -> (bool, Vec<serde_json::Value>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.args(["lc", "verify", "ethereum", "--case"]).arg(dir);
    run(cmd)
}

/// A consensus-spec-tests case folder (Capella → Deneb transition) runs
/// step by step; a copy whose expected header differs from what the light
/// client reaches fails that step.
#[test]
fn lc_verify_ethereum_runs_a_consensus_spec_tests_case_folder() {
    let dir = switchyard_localnet::procs::repo_root().join(
        "../shared/vectors/lantern-beacon/test/Lantern.Beacon.Sync.Tests/MockData/minimal/capella/sync/pyspec_tests/deneb_fork",
    );
    let steps = std::fs::read_to_string(dir.join("steps.yaml")).expect("steps");
    let n_steps = steps.lines().filter(|l| l.starts_with("- ")).count();
    let (ok, lines, stderr) = case(&dir);
    assert!(ok, "{lines:#?}\n{stderr}");
    assert_eq!(lines.len(), 1 + n_steps, "bootstrap and every step");
    assert!(lines.iter().all(|l| l["verdict"] == "valid"), "{lines:#?}");
    assert!(lines.iter().any(|l| l["kind"] == "process_update"));

    // A copy with one expected root changed.
    let copy = tempfile::tempdir().expect("tmp");
    for e in std::fs::read_dir(&dir).expect("case") {
        let p = e.expect("entry").path();
        std::fs::copy(&p, copy.path().join(p.file_name().expect("name"))).expect("copy");
    }
    let key = "beacon_root: '0x";
    let at = steps.find(key).expect("a beacon_root check") + key.len();
    let mut changed = steps.into_bytes();
    changed[at] = if changed[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(copy.path().join("steps.yaml"), changed).expect("write");
    let (ok, lines, _) = case(copy.path());
    assert!(!ok);
    let bad = &lines[1];
    assert_eq!(bad["verdict"], "invalid", "{lines:#?}");
    assert!(
        bad["error"]
            .as_str()
            .is_some_and(|e| e.contains("header check")),
        "{bad}"
    );
    // Not a case folder: a usage error naming the file.
    let empty = tempfile::tempdir().expect("tmp");
    let (ok, lines, stderr) = case(empty.path());
    assert!(!ok && lines.is_empty());
    assert!(stderr.contains("meta.yaml"), "{stderr}");
}

/// A tendermint-rs model-based case as files an operator would have: the
/// trusted block and each step's block as LightBlock JSON.
fn comet_case(name: &str, dir: &Path) -> (PathBuf, Vec<PathBuf>, Vec<String>) {
    let p = switchyard_localnet::procs::repo_root().join(format!(
        "../shared/vectors/tendermint-rs/light-client/tests/support/model_based/single_step/{name}.json"
    ));
    let case: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).expect("vector")).expect("json");
    // The initial block's next validators sign it too (SOURCES.md §1a).
    let trusted = serde_json::json!({
        "signed_header": case["initial"]["signed_header"],
        "validator_set": case["initial"]["next_validator_set"],
        "next_validator_set": case["initial"]["next_validator_set"],
        "provider": "0000000000000000000000000000000000000000",
    });
    let trusted_path = dir.join("trusted.json");
    std::fs::write(&trusted_path, trusted.to_string()).expect("write");
    let mut files = Vec::new();
    let mut verdicts = Vec::new();
    for (i, step) in case["input"].as_array().expect("steps").iter().enumerate() {
        let f = dir.join(format!("step{i}.json"));
        std::fs::write(&f, step["block"].to_string()).expect("write");
        files.push(f);
        verdicts.push(step["verdict"].as_str().expect("verdict").to_owned());
    }
    (trusted_path, files, verdicts)
}

fn comet(
    trusted: &Path,
    untrusted: &[PathBuf],
    extra: &[&str],
) -> (bool, Vec<serde_json::Value>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.args(["lc", "verify", "cometbft", "--trusted"])
        .arg(trusted)
        .args(["--trusting-period", "1400", "--clock-drift", "0"])
        .args(extra);
    if !extra.contains(&"--now") {
        cmd.args(["--now", "1400"]);
    }
    cmd.arg("--untrusted").args(untrusted);
    run(cmd)
}

/// `lc verify cometbft` on a model-based case: the verdict of each step as
/// the vector gives it (a skip that lacks trust, then the steps that
/// succeed), the same from CometBFT RPC JSON, and a tampered block INVALID
/// with a non-zero exit.
#[test]
fn lc_verify_cometbft_gives_each_step_its_verdict() {
    let dir = tempfile::tempdir().expect("tmp");
    let (trusted, files, verdicts) = comet_case("MC4_4_faulty_TestSuccess", dir.path());
    assert_eq!(verdicts, ["NOT_ENOUGH_TRUST", "SUCCESS", "SUCCESS"]);
    let (ok, lines, stderr) = comet(&trusted, &files, &[]);
    assert!(ok, "{lines:#?}\n{stderr}");
    let got: Vec<&str> = lines
        .iter()
        .map(|l| l["verdict"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(got, verdicts, "{lines:#?}");
    // The trusted state moves only on SUCCESS.
    assert_eq!(lines[1]["trusted_height"], lines[0]["trusted_height"]);
    assert_eq!(lines[2]["trusted_height"], lines[1]["height"]);

    // The same blocks as CometBFT RPC answers: `/commit` and `/validators`
    // results in a bundle.
    let rpc_files: Vec<PathBuf> = files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let block = switchyard_lc_cometbft::json::light_block_from_json(
                &std::fs::read_to_string(f).expect("read"),
            )
            .expect("LightBlock JSON");
            use switchyard_lc_cometbft::json::{commit_to_rpc, validators_to_rpc};
            let h = block.height().value();
            let bundle = serde_json::json!({
                "commit": commit_to_rpc(&block),
                "validators": validators_to_rpc(h, &block.validators, 1, 100),
                "next_validators": validators_to_rpc(h + 1, &block.next_validators, 1, 100),
            });
            let p = dir.path().join(format!("rpc{i}.json"));
            std::fs::write(&p, bundle.to_string()).expect("write");
            p
        })
        .collect();
    let (ok, rpc_lines, stderr) = comet(&trusted, &rpc_files, &[]);
    assert!(ok, "{rpc_lines:#?}\n{stderr}");
    let got: Vec<&str> = rpc_lines
        .iter()
        .map(|l| l["verdict"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(got, verdicts);

    // A changed consensus hash in the last block: its commit no longer
    // signs it.
    let text = std::fs::read_to_string(&files[2]).expect("read");
    let key = "\"consensus_hash\":\"";
    let at = text.find(key).expect("app_hash") + key.len();
    let mut bytes = text.into_bytes();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let tampered = dir.path().join("tampered.json");
    std::fs::write(&tampered, bytes).expect("write");
    let (ok, lines, stderr) = comet(&trusted, &[files[1].clone(), tampered], &[]);
    assert!(!ok, "an INVALID step exits non-zero: {lines:#?}");
    assert_eq!(lines.len(), 2, "{stderr}");
    assert_eq!(lines[1]["verdict"], "INVALID", "{lines:#?}");
    assert!(lines[1]["error"].is_string());

    // Bisection: a case where the direct skip from height 1 to 4 lacks
    // trust; with --bisect the CLI verifies through the pivots it is given.
    let dir2 = tempfile::tempdir().expect("tmp");
    let (trusted2, files2, verdicts2) =
        comet_case("MC4_4_faulty_TestValsetChangesFully", dir2.path());
    assert_eq!(verdicts2[0], "NOT_ENOUGH_TRUST");
    let (ok, lines, stderr) = comet(&trusted2, &files2, &["--now", "1399", "--bisect"]);
    assert!(ok, "{lines:#?}\n{stderr}");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["verdict"], "SUCCESS", "{lines:#?}");
    assert_eq!(lines[0]["height"], 4);
    assert_eq!(
        lines[0]["fetched"],
        serde_json::json!([4, 2, 3]),
        "{lines:#?}"
    );
    // Without the pivot it needs, the bisection cannot finish.
    let (ok, lines, _) = comet(&trusted2, &files2[..1], &["--now", "1399", "--bisect"]);
    assert!(!ok);
    assert!(
        lines[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("no --untrusted file holds it")),
        "{lines:#?}"
    );

    // Bad options are usage errors naming the option.
    let (ok, _, stderr) = comet(&trusted, &files, &["--trust-threshold", "1/4"]);
    assert!(!ok && stderr.contains("--trust-threshold"), "{stderr}");
}

/// The RIP-7755 test data (`shared/vectors/rip7755`, SOURCES.md section 6).
fn rip7755(name: &str) -> PathBuf {
    switchyard_localnet::procs::repo_root()
        .join("../shared/vectors/rip7755/contracts/test/data")
        .join(name)
}

/// Arbitrum Sepolia's BoLD Rollup on Ethereum Sepolia; the OP devnet's
/// AnchorStateRegistry (and its L2 inbox, at the same address); the inbox
/// the upstream Arbitrum tests name.
const ARB_ROLLUP: &str = "0x042B2E6C5E99d4c521bd49beeD5E99651D9B0Cf4";
const OP_CONTRACT: &str = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";
const ARB_INBOX: &str = "0x49E2cDC9e81825B6C718ae8244fe0D5b062F4874";

fn rollup(file: &Path, args: &[&str]) -> (bool, Vec<serde_json::Value>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.args(["lc", "verify", "rollup", "--proof"])
        .arg(file)
        .args(["--now", "1750000000"])
        .args(args);
    run(cmd)
}

fn beacon_root_of(file: &Path) -> String {
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).expect("vector")).expect("json");
    j["stateProofParams"]["beaconRoot"]
        .as_str()
        .expect("beaconRoot")
        .to_owned()
}

/// `lc verify rollup` on every RIP-7755 file: the real Arbitrum Sepolia
/// chain of proofs and the OP devnet verify (exit 0, the L2 block and the
/// trust it rests on); each `invalids/` file exits 1 naming the hop that
/// refused it; options that do not fit the kind are usage errors.
#[test]
fn lc_verify_rollup_proves_the_rip7755_blocks_and_names_the_hop_of_each_invalid() {
    let arb = rip7755("ArbitrumSepoliaProof.json");
    let arb_root = beacon_root_of(&arb);
    let arb_args = ["--kind", "arbitrum", "--rollup", ARB_ROLLUP];
    let (ok, lines, stderr) = rollup(
        &arb,
        &[
            &arb_args[..],
            &["--beacon-root", &arb_root, "--ignore-l2-proof"],
        ]
        .concat(),
    );
    assert!(ok, "{lines:#?}\n{stderr}");
    assert_eq!(lines.len(), 1, "one JSON line");
    let v = &lines[0];
    // Each key once (a parsed line would hide a repeated one).
    let raw = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["lc", "verify", "rollup", "--proof"])
        .arg(&arb)
        .args(arb_args)
        .args(["--ignore-l2-proof", "--now", "1750000000"])
        .output()
        .expect("runs");
    let raw = String::from_utf8_lossy(&raw.stdout);
    assert_eq!(raw.matches("\"kind\":").count(), 1, "{raw}");
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&arb).expect("read")).expect("json");
    assert_eq!(v["verdict"], "valid", "{v}");
    assert_eq!(v["kind"], "arbitrum");
    assert_eq!(v["l2_block_number"], 117_201_326);
    assert_eq!(
        v["l2_block_hash"], j["afterState"]["globalState"]["bytes32Vals"][0],
        "the block the assertion commits to"
    );
    assert_eq!(v["trust"], "final", "a Confirmed assertion");
    assert_eq!(v["l1_anchor"]["by"], "beacon_root");
    assert_eq!(v["l1_anchor"]["root"], arb_root.as_str());
    assert_eq!(v["commitment"]["form"], "assertion");
    assert_eq!(v["l2_proof"], "ignored");
    // The vector's L2 slot is of an account it does not name: checked only
    // against an account the operator names, refused otherwise.
    let (ok, lines, _) = rollup(&arb, &arb_args);
    assert!(!ok);
    assert_eq!(
        (&lines[0]["verdict"], &lines[0]["hop"], &lines[0]["reason"]),
        (
            &serde_json::json!("invalid"),
            &serde_json::json!("bundle"),
            &serde_json::json!("no_l2_account")
        ),
        "{lines:#?}"
    );
    // Another rollup contract than the one the bundle proves.
    let (ok, lines, _) = rollup(
        &arb,
        &[
            "--kind",
            "arbitrum",
            "--rollup",
            OP_CONTRACT,
            "--ignore-l2-proof",
        ],
    );
    assert!(!ok);
    assert_eq!(lines[0]["hop"], "l1_account", "{lines:#?}");

    let op = rip7755("OPSepoliaProof.json");
    let op_root = beacon_root_of(&op);
    let op_args = [
        "--kind",
        "op-stack",
        "--registry",
        OP_CONTRACT,
        "--l2-account",
        OP_CONTRACT,
    ];
    let (ok, lines, stderr) = rollup(&op, &[&op_args[..], &["--beacon-root", &op_root]].concat());
    assert!(ok, "{lines:#?}\n{stderr}");
    let v = &lines[0];
    assert_eq!(v["kind"], "op-stack");
    assert_eq!(v["l2_block_number"], 41);
    assert_eq!(v["trust"], "anchor");
    assert_eq!(v["commitment"]["form"], "anchor_state");
    assert_eq!(
        v["l2_storage"]["address"].as_str().map(str::to_lowercase),
        Some(OP_CONTRACT.to_lowercase())
    );
    assert!(v.get("l2_proof").is_none(), "{v}");
    // The devnet's beacon branch is placeholders: under a real beacon root
    // (Arbitrum Sepolia's) the beacon hop refuses it.
    let (ok, lines, _) = rollup(&op, &[&op_args[..], &["--beacon-root", &arb_root]].concat());
    assert!(!ok);
    assert_eq!(lines[0]["hop"], "beacon_branch", "{lines:#?}");
    // Against a state root the operator trusts instead.
    let state_root = j_state_root(&op);
    let (ok, lines, _) = rollup(
        &op,
        &[&op_args[..], &["--state-root", &state_root]].concat(),
    );
    assert!(ok, "{lines:#?}");
    assert_eq!(lines[0]["l1_anchor"]["by"], "state_root");
    let (ok, lines, _) = rollup(
        &op,
        &[
            &op_args[..],
            &["--state-root", &format!("0x{}", "11".repeat(32))],
        ]
        .concat(),
    );
    assert!(!ok);
    assert_eq!(lines[0]["reason"], "state_root_mismatch", "{lines:#?}");
    // A policy that refuses anchors: refused at the finality hop, for good.
    let (ok, lines, _) = rollup(&op, &[&op_args[..], &["--no-anchor-state"]].concat());
    assert!(!ok);
    assert_eq!(lines[0]["hop"], "finality", "{lines:#?}");
    assert_eq!(lines[0]["retryable"], false);

    // Every invalid file, each at its hop (a file added to the vectors
    // fails here until it is listed).
    let expected: &[(&str, &str, &[&str])] = &[
        (
            "ArbitrumInvalidL1State.json",
            "l1_storage",
            &[
                "--kind",
                "arbitrum",
                "--rollup",
                ARB_ROLLUP,
                "--l2-account",
                ARB_INBOX,
            ],
        ),
        ("OPInvalidL1Storage.json", "l1_storage", &op_args),
        ("OPInvalidL2StateRoot.json", "commitment", &op_args),
        ("OPInvalidL2Storage.json", "l2_storage", &op_args),
    ];
    let mut found: Vec<String> = std::fs::read_dir(rip7755("invalids"))
        .expect("invalids/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    assert_eq!(
        found,
        expected
            .iter()
            .map(|(f, _, _)| f.to_string())
            .collect::<Vec<_>>()
    );
    for (name, hop, args) in expected {
        let (ok, lines, stderr) = rollup(&rip7755(&format!("invalids/{name}")), args);
        assert!(!ok, "{name} must exit non-zero: {lines:#?}");
        assert_eq!(lines.len(), 1, "{name}: {stderr}");
        let l = &lines[0];
        assert_eq!(l["verdict"], "invalid", "{name}: {l}");
        assert_eq!(l["hop"], *hop, "{name}: {l}");
        assert_eq!(l["retryable"], false, "{name}: a forgery is never retried");
        assert!(l["error"].as_str().is_some_and(|e| !e.is_empty()), "{l}");
        assert!(l["kind"].is_string(), "{l}");
    }

    // Usage errors name the option, and write no verdict.
    let (ok, lines, stderr) = rollup(&op, &["--kind", "optimism", "--oracle", OP_CONTRACT]);
    assert!(!ok && lines.is_empty());
    assert!(
        stderr.contains("invalid value 'optimism' for '--kind <KIND>'")
            && stderr.contains("[possible values: arbitrum, op-stack]"),
        "{stderr}"
    );
    let (ok, lines, stderr) = rollup(&arb, &["--kind", "arbitrum", "--oracle", OP_CONTRACT]);
    assert!(!ok && lines.is_empty());
    assert!(
        stderr.contains("settlement contract: expected --rollup for --kind arbitrum"),
        "{stderr}"
    );
    let (ok, _, stderr) = rollup(&arb, &["--kind", "arbitrum"]);
    assert!(!ok && stderr.contains("--rollup"), "{stderr}");
}

fn j_state_root(file: &Path) -> String {
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).expect("vector")).expect("json");
    j["stateProofParams"]["executionStateRoot"]
        .as_str()
        .expect("executionStateRoot")
        .to_owned()
}
