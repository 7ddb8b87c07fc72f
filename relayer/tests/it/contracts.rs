//! `switchyard contracts deploy`, `contracts set-attesters` and `keys
//! address` through the binary, on a real anvil: what they print, what the
//! chain then holds, and each refusal (contracts that exist, code that is
//! not the artifact's, a wrong current set, a key that is not the owner).

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use alloy::primitives::{Address, U256};
use alloy::providers::{Provider, RootProvider};
use switchyard_evm::attest::Attester;
use switchyard_evm::bindings::{ARTIFACTS_DIR, Inbox, Mailbox};
use switchyard_localnet::evm::ANVIL_KEYS;
use switchyard_localnet::procs::Anvil;

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
const CHAIN_ID: u64 = 31337;

fn addr(key: &str) -> Address {
    Attester::from_hex(key, "test key").expect("key").address()
}

/// A hub configuration with chain alpha; without an inbox it is an
/// origin only (no submitter keys), as before a first deployment.
fn config(rpc: &str, mailbox: Address, inbox: Option<Address>) -> String {
    let destination = inbox
        .map(|a| {
            format!(
                "inbox = \"{a}\"\nsubmitter_key = {{ env = \"SY_SUBMITTER\" }}\n\
                 extra_submitter_keys = [{{ env = \"SY_SUBMITTER2\" }}]\n"
            )
        })
        .unwrap_or_default();
    format!(
        r#"
attester_key = {{ env = "SY_ATTESTER" }}
queue_key = {{ env = "SY_QUEUE_KEY" }}
[redis]
url = "redis://127.0.0.1:1"
[[chains]]
name = "alpha"
domain = 1000
chain_id = {CHAIN_ID}
rpc_urls = ["{rpc}"]
trust = "single_endpoint"
mailbox = "{mailbox}"
{destination}"#
    )
}

async fn run(args: &[&str]) -> Output {
    tokio::process::Command::new(BIN)
        .args(args)
        .env_remove("SWITCHYARD_CONFIG")
        .env_remove("SWITCHYARD_ARTIFACTS")
        .env("SY_ATTESTER", ANVIL_KEYS[1])
        .env("SY_SUBMITTER", ANVIL_KEYS[2])
        .env("SY_SUBMITTER2", ANVIL_KEYS[3])
        .env("SY_DEPLOYER", ANVIL_KEYS[0])
        .env("SY_STRANGER", ANVIL_KEYS[5])
        .stdin(Stdio::null())
        .output()
        .await
        .expect("the binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Asserts the exit code, that the output says `says`, and that no key
/// used by the run appears in it.
fn expect(o: &Output, code: i32, says: &str) {
    let all = text(o);
    assert_eq!(o.status.code(), Some(code), "{all}");
    assert!(all.contains(says), "output lacks {says:?}: {all}");
    for k in ANVIL_KEYS {
        assert!(
            !all.to_ascii_lowercase().contains(&k[2..]),
            "a key in the output: {all}"
        );
    }
}

/// The addresses of the `[[chains]]` snippet printed by `deploy`, which
/// must parse as TOML.
fn snippet(o: &Output) -> (Address, Address) {
    let out = String::from_utf8_lossy(&o.stdout);
    let v: toml::Table = out.parse().expect("the snippet is TOML");
    let c = &v["chains"][0];
    assert_eq!(c["name"].as_str(), Some("alpha"), "{out}");
    let get = |k: &str| {
        c[k].as_str()
            .expect("an address")
            .parse::<Address>()
            .expect("an address")
    };
    (get("mailbox"), get("inbox"))
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).expect("write");
    p.to_str().expect("utf-8").to_owned()
}

/// A copy of the artifacts whose Inbox runtime code differs from what its
/// creation code deploys (one byte outside the immutables).
fn tampered_artifacts(dir: &Path) -> PathBuf {
    // Where the binary finds them by default too (the relayer's checkout).
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(ARTIFACTS_DIR);
    let out = dir.join("out");
    for c in ["Mailbox", "Inbox"] {
        let d = out.join(format!("{c}.sol"));
        std::fs::create_dir_all(&d).expect("dir");
        let path = src.join(format!("{c}.sol/{c}.json"));
        let mut text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("artifact {}: {e}", path.display()));
        if c == "Inbox" {
            let mut json: serde_json::Value = serde_json::from_str(&text).expect("json");
            let code = json["deployedBytecode"]["object"]
                .as_str()
                .expect("code")
                .to_owned();
            // Byte 0 (0x60, PUSH1 of the free memory pointer) is no immutable.
            assert!(code.starts_with("0x60"), "{}", &code[..8]);
            json["deployedBytecode"]["object"] = format!("0x61{}", &code[4..]).into();
            text = json.to_string();
        }
        std::fs::write(d.join(format!("{c}.json")), text).expect("write");
    }
    out
}

#[tokio::test]
async fn deploy_is_checked_idempotent_and_set_attesters_changes_the_set() {
    let anvil = Anvil::spawn(CHAIN_ID, 0.2).expect("anvil");
    let provider: RootProvider = RootProvider::new_http(anvil.url.parse().expect("url"));
    let dir = tempfile::tempdir().expect("dir");
    let fresh = write(
        dir.path(),
        "fresh.toml",
        // Before a deployment: the zero Mailbox and no inbox (an origin-only
        // entry), as docs/operations.md says.
        &config(&anvil.url, Address::ZERO, None),
    );
    let base = [
        "--chain",
        "alpha",
        "--key-env",
        "SY_DEPLOYER",
        "--confirmations",
        "2",
    ];

    // Deployed with the configured attester key's address by default.
    let args = [&["contracts", "deploy", "--config", &fresh][..], &base[..]].concat();
    let out = run(&args).await;
    expect(&out, 0, "[[chains]]");
    let (mailbox, inbox) = snippet(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "attesters [\"{}\"], threshold 1",
            addr(ANVIL_KEYS[1])
        )),
        "{stdout}"
    );
    // What the chain holds, read by the test itself.
    let m = Mailbox::new(mailbox, &provider);
    assert_eq!(m.localDomain().call().await.expect("call"), 1000);
    let i = Inbox::new(inbox, &provider);
    assert_eq!(i.localDomain().call().await.expect("call"), 1000);
    assert!(
        i.isAttester(addr(ANVIL_KEYS[1]))
            .call()
            .await
            .expect("call")
    );
    assert_eq!(i.threshold().call().await.expect("call"), U256::from(1));
    assert_eq!(
        i.handleGasLimit().call().await.expect("call"),
        U256::from(200_000)
    );
    assert_eq!(i.owner().call().await.expect("call"), addr(ANVIL_KEYS[0]));
    // Confirmed: the deployment's block has its confirmations.
    let code = provider.get_code_at(inbox).await.expect("code");
    assert!(!code.is_empty());

    // The configuration now names them: not deployed again without --force.
    let named = write(
        dir.path(),
        "named.toml",
        &config(&anvil.url, mailbox, Some(inbox)),
    );
    let args = [&["contracts", "deploy", "--config", &named][..], &base[..]].concat();
    expect(
        &run(&args).await,
        1,
        &format!(
            "exist on chain (mailbox {mailbox} has the Mailbox artifact's code, inbox {inbox} has the Inbox artifact's code)"
        ),
    );
    let out = run(&[&args[..], &["--force"][..]].concat()).await;
    expect(&out, 0, "[[chains]]");
    let (m2, i2) = snippet(&out);
    assert!(m2 != mailbox && i2 != inbox);

    // Code that is not the artifact's is refused after deployment.
    let tampered = tampered_artifacts(dir.path());
    let args = [
        &["contracts", "deploy", "--config", &fresh][..],
        &base[..],
        &["--artifacts", tampered.to_str().expect("utf-8")][..],
    ]
    .concat();
    expect(&run(&args).await, 1, "runtime code differs from");

    // Several attesters need a threshold; settings the Inbox would refuse
    // are refused before any transaction.
    let (a1, a3, a4) = (
        addr(ANVIL_KEYS[1]).to_string(),
        addr(ANVIL_KEYS[3]).to_string(),
        addr(ANVIL_KEYS[4]).to_string(),
    );
    let two = [
        &["contracts", "deploy", "--config", &fresh][..],
        &base[..],
        &["--attester", &a1, "--attester", &a3][..],
    ]
    .concat();
    expect(&run(&two).await, 2, "--threshold");
    expect(
        &run(&[&two[..], &["--threshold", "3"][..]].concat()).await,
        1,
        "expected 1 to 2 (the attesters), got 3",
    );

    // set-attesters: add a3 and a4 with threshold 2, then drop a1.
    let set = |current: &[&str], wanted: &[&str], threshold: &str, key: &str| {
        let mut a = vec![
            "contracts".to_owned(),
            "set-attesters".into(),
            "--config".into(),
            named.clone(),
            "--chain".into(),
            "alpha".into(),
            "--key-env".into(),
            key.into(),
            "--confirmations".into(),
            "2".into(),
            "--threshold".into(),
            threshold.into(),
        ];
        for c in current {
            a.extend(["--current".to_owned(), (*c).to_owned()]);
        }
        for w in wanted {
            a.extend(["--attester".to_owned(), (*w).to_owned()]);
        }
        a
    };
    let args = set(&[&a1], &[&a1, &a3, &a4], "2", "SY_DEPLOYER");
    let out = run(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    expect(&out, 0, "threshold 2");
    assert_eq!(i.threshold().call().await.expect("call"), U256::from(2));
    for a in [&a1, &a3, &a4] {
        let a: Address = a.parse().expect("address");
        assert!(i.isAttester(a).call().await.expect("call"), "{a}");
    }
    // A wrong current set is refused, naming what the chain holds.
    let args = set(&[&a1], &[&a3, &a4], "2", "SY_DEPLOYER");
    expect(
        &run(&args.iter().map(String::as_str).collect::<Vec<_>>()).await,
        1,
        "attesterCount: expected 1, got 3",
    );
    // Only the owner may change it.
    let args = set(&[&a1, &a3, &a4], &[&a3, &a4], "2", "SY_STRANGER");
    expect(
        &run(&args.iter().map(String::as_str).collect::<Vec<_>>()).await,
        1,
        &format!(
            "owner (only it may change the attesters): expected {}",
            addr(ANVIL_KEYS[5])
        ),
    );
    let args = set(&[&a1, &a3, &a4], &[&a3], "1", "SY_DEPLOYER");
    expect(
        &run(&args.iter().map(String::as_str).collect::<Vec<_>>()).await,
        0,
        "threshold 1",
    );
    assert!(
        !i.isAttester(a1.parse().expect("a"))
            .call()
            .await
            .expect("call")
    );
    assert!(
        !i.isAttester(a4.parse().expect("a"))
            .call()
            .await
            .expect("call")
    );
    assert!(
        i.isAttester(a3.parse().expect("a"))
            .call()
            .await
            .expect("call")
    );
    assert_eq!(i.threshold().call().await.expect("call"), U256::from(1));

    // An unknown chain is 5.
    expect(
        &run(&[
            "contracts",
            "deploy",
            "--config",
            &fresh,
            "--chain",
            "beta",
            "--key-env",
            "SY_DEPLOYER",
        ])
        .await,
        5,
        "expected one of: alpha",
    );
}

#[tokio::test]
async fn keys_address_prints_every_configured_keys_address_and_no_key() {
    let dir = tempfile::tempdir().expect("dir");
    let file = write(
        dir.path(),
        "hub.toml",
        &config(
            "http://127.0.0.1:1",
            Address::ZERO,
            Some(Address::repeat_byte(1)),
        ),
    );
    let out = run(&["keys", "address", "--config", &file]).await;
    expect(&out, 0, "");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for (path, key) in [
        ("attester_key", ANVIL_KEYS[1]),
        ("chains[0].submitter_key", ANVIL_KEYS[2]),
        ("chains[0].extra_submitter_keys[0]", ANVIL_KEYS[3]),
    ] {
        assert!(
            stdout.contains(&format!("{path} = \"{}\"", addr(key))),
            "{path}: {stdout}"
        );
    }
    // A key that cannot be read: the configuration's path and the
    // variable, nothing printed as if complete.
    let out = tokio::process::Command::new(BIN)
        .args(["keys", "address", "--config", &file])
        .env_remove("SWITCHYARD_CONFIG")
        .env("SY_ATTESTER", ANVIL_KEYS[1])
        .env("SY_SUBMITTER", "not a key")
        .env("SY_SUBMITTER2", ANVIL_KEYS[3])
        .output()
        .await
        .expect("runs");
    let all = text(&out);
    assert_ne!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains("chains[0].submitter_key") && all.contains("32-byte hex"),
        "{all}"
    );
    assert!(out.stdout.is_empty(), "{all}");
    assert!(!all.contains("not a key"), "{all}");
}
