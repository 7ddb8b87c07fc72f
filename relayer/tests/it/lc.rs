//! `switchyard lc verify ethereum` on real mainnet beacon data (helios'
//! Capella chain: bootstrap, 6 updates, a finality and an optimistic
//! update), and on the same data with one byte changed.

use std::path::PathBuf;
use std::process::Command;

/// The checkpoint SOURCES.md gives for the bootstrap (its header's root).
const TRUSTED: &str = "0x5afc212a7924789b2bc86acad3ab3a6ffb1f6e97253ea50bee7f4f51422c9275";

fn testdata(name: &str) -> PathBuf {
    switchyard::procs::repo_root()
        .join("../shared/vectors/helios/ethereum/testdata")
        .join(name)
}

fn verify(root: &str, updates: &[PathBuf]) -> (bool, Vec<serde_json::Value>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.args(["lc", "verify", "ethereum", "--network", "mainnet"])
        .args(["--trusted-root", root])
        .arg("--bootstrap")
        .arg(testdata("bootstrap.json"))
        .args(["--current-slot", "7109432"])
        .arg("--updates")
        .args(updates);
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
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("expected \"mainnet\", \"sepolia\" or \"holesky\", got \"goerli\""),
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
