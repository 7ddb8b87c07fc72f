//! The command line's conventions, through the binary: every exit code
//! means one thing across commands (and `--help` says which), fixed sets of
//! values are refused by clap with the values it accepts, durations are
//! `--*-secs` with the old spellings still accepted, and `--config` comes
//! from `SWITCHYARD_CONFIG` too.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use axum::Json;
use axum::http::StatusCode;
use axum::routing::get;

use crate::harness::serve::router;

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

/// A message id no hub knows.
const ID: &str = "0x00000000000000000000000000000000000000000000000000000000000000aa";

/// A hub configuration the hub accepts (nothing is started from it).
const CONFIG: &str = r#"
attester_key = { env = "SY_ATTESTER" }
queue_key = { env = "SY_QUEUE_KEY" }
[redis]
url = "redis://127.0.0.1:1"
[[chains]]
name = "alpha"
domain = 1000
chain_id = 31337
rpc_urls = ["http://127.0.0.1:1"]
trust = "single_endpoint"
mailbox = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
inbox = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
submitter_key = { env = "SY_SUBMITTER" }
checkpoint = { number = 0, hash = "0x88e96d4537bea4d9c05d12549907b32561d3bf31f45aae734cdc119f13406cb6" }
"#;

/// The secrets `CONFIG` names, so that `config check` can read them.
const SECRETS: &[(&str, &str)] = &[
    (
        "SY_ATTESTER",
        "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    ),
    ("SY_QUEUE_KEY", "a queue key of at least thirty-two bytes"),
    (
        "SY_SUBMITTER",
        "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    ),
];

/// Runs the binary with `args` (and `env`), without a SWITCHYARD_CONFIG
/// from the caller's environment.
async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    tokio::process::Command::new(BIN)
        .args(args)
        .env_remove("SWITCHYARD_CONFIG")
        .env_remove("SWITCHYARD_HUB")
        .envs(env.iter().copied())
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

/// Asserts the exit code, and that stderr says `says` (when given).
fn expect(o: &Output, code: i32, says: &str) {
    assert_eq!(o.status.code(), Some(code), "{}", text(o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(says),
        "stderr lacks {says:?}: {}",
        text(o)
    );
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).expect("write");
    p
}

/// A hub whose status API knows no message (404 as the hub answers it).
async fn empty_hub() -> String {
    let not_found = || async {
        (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"error": "no such message"})),
        )
    };
    router(axum::Router::new().route("/v1/messages/{id}", get(not_found))).await
}

#[test]
fn help_ends_with_the_exit_codes_and_lists_only_the_new_spellings() {
    let out = std::process::Command::new(BIN)
        .arg("--help")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("Exit codes (every command):"), "{help}");
    for code in 0..=8 {
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("{code}  "))),
            "code {code} is not explained:\n{help}"
        );
    }
    for (cmd, new, old) in [
        (&["status"][..], "--wait-secs <SECS>", "--wait <"),
        (&["bench"][..], "--duration-secs <SECS>", "--seconds <"),
        (&["bench"][..], "--warmup-secs <SECS>", "--warmup <"),
        (
            &["devnet"][..],
            "--block-time-secs <SECS>",
            "--block-time <",
        ),
        (
            &["lc", "verify", "cometbft"][..],
            "--trusting-period-secs <SECS>",
            "--trusting-period <",
        ),
        (
            &["lc", "verify", "rollup"][..],
            "--game-finality-delay-secs <SECS>",
            "--game-finality-delay <",
        ),
    ] {
        let out = std::process::Command::new(BIN)
            .args(cmd)
            .arg("--help")
            .output()
            .expect("runs");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains(new), "{cmd:?} --help lacks {new}:\n{help}");
        assert!(!help.contains(old), "{cmd:?} --help shows {old}:\n{help}");
    }
    let out = std::process::Command::new(BIN)
        .args(["run", "--help"])
        .output()
        .expect("runs");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("[env: SWITCHYARD_CONFIG="), "{help}");
}

#[tokio::test]
async fn fixed_sets_are_refused_by_clap_with_the_values_it_accepts() {
    for (args, value, possible) in [
        (
            &[
                "lc",
                "verify",
                "ethereum",
                "--network",
                "goerli",
                "--case",
                "x",
            ][..],
            "'goerli' for '--network <NETWORK>'",
            "[possible values: mainnet, sepolia, holesky]",
        ),
        (
            &[
                "lc",
                "verify",
                "rollup",
                "--kind",
                "optimism",
                "--proof",
                "x",
                "--oracle",
                "0x5FbDB2315678afecb367f032d93F642f64180aa3",
            ][..],
            "'optimism' for '--kind <KIND>'",
            "[possible values: arbitrum, op-stack]",
        ),
        (
            &["devnet", "--log-level", "loud"][..],
            "'loud' for '--log-level <LOG_LEVEL>'",
            "[possible values: off, error, warn, info, debug, trace]",
        ),
        (
            &["bench", "--sink", "redis"][..],
            "'redis' for '--sink <SINK>'",
            "[possible values: null, anvil]",
        ),
        (
            &["run", "--config", "hub.toml", "--role", "relay"][..],
            "'relay' for '--role <ROLE>'",
            "[possible values: all, watcher, dispatcher, attester]",
        ),
    ] {
        let out = run(args, &[]).await;
        expect(&out, 2, &format!("invalid value {value}"));
        expect(&out, 2, possible);
    }
}

#[tokio::test]
async fn each_exit_code_means_one_thing_across_commands() {
    let dir = tempfile::tempdir().expect("dir");
    let good = write(dir.path(), "hub.toml", CONFIG);
    let bad = write(
        dir.path(),
        "bad.toml",
        &CONFIG.replace("name = \"alpha\"", "name = \"Alpha\""),
    );
    let (good, bad) = (good.to_str().expect("utf-8"), bad.to_str().expect("utf-8"));
    let hub = empty_hub().await;

    // 0: done, yes.
    let out = run(&["config", "check", good], SECRETS).await;
    expect(&out, 0, "");
    // 1: done, no: a bootstrap under a root nobody trusts.
    let bootstrap = switchyard_localnet::procs::repo_root()
        .join("../shared/vectors/helios/ethereum/testdata/bootstrap.json");
    let wrong_root = format!("0x{}01", "00".repeat(31));
    let out = run(
        &[
            "lc",
            "verify",
            "ethereum",
            "--trusted-root",
            &wrong_root,
            "--bootstrap",
            bootstrap.to_str().expect("utf-8"),
        ],
        &[],
    )
    .await;
    expect(&out, 1, "");
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"verdict\":\"invalid\""));
    // 2: the command line: clap's refusals, a malformed value, an input
    // file that cannot be read.
    expect(&run(&["status", ID, "--bogus"], &[]).await, 2, "--bogus");
    expect(&run(&["status"], &[]).await, 2, "required");
    expect(
        &run(&["status", "0xnope", "--hub", &hub], &[]).await,
        2,
        "64 hex digits",
    );
    expect(
        &run(
            &[
                "lc",
                "verify",
                "ethereum",
                "--trusted-root",
                &wrong_root,
                "--bootstrap",
                "/nonexistent/bootstrap.json",
            ],
            &[],
        )
        .await,
        2,
        "/nonexistent/bootstrap.json",
    );
    // 3: the configuration, whichever command reads it, from --config or
    // from SWITCHYARD_CONFIG.
    expect(
        &run(&["config", "check", bad], &[]).await,
        3,
        "chains[0].name",
    );
    expect(
        &run(&["config", "check"], &[("SWITCHYARD_CONFIG", bad)]).await,
        3,
        "chains[0].name",
    );
    expect(
        &run(&["run", "--config", bad], &[]).await,
        3,
        "chains[0].name",
    );
    expect(
        &run(&["run"], &[("SWITCHYARD_CONFIG", bad)]).await,
        3,
        "chains[0].name",
    );
    expect(
        &run(&["dlq", "list", "alpha"], &[("SWITCHYARD_CONFIG", bad)]).await,
        3,
        "chains[0].name",
    );
    expect(
        &run(&["dlq", "--config", good, "list", "alpha"], &[]).await,
        3,
        "SY_QUEUE_KEY",
    );
    // The variable names the file: it is no configuration key itself.
    let mut with_file = SECRETS.to_vec();
    with_file.push(("SWITCHYARD_CONFIG", good));
    expect(&run(&["config", "check"], &with_file).await, 0, "");
    // 4: a service that cannot be asked: a hub, Redis.
    expect(
        &run(&["status", ID, "--hub", "http://127.0.0.1:1"], &[]).await,
        4,
        "127.0.0.1:1",
    );
    expect(
        &run(
            &["dlq", "--config", good, "list", "alpha"],
            &[("SY_QUEUE_KEY", &"k".repeat(32))],
        )
        .await,
        4,
        "redis",
    );
    // 5: not found.
    expect(&run(&["status", ID, "--hub", &hub], &[]).await, 5, "");
    // 6: a wait ran out; the old spelling of the option still works.
    for wait in ["--wait-secs", "--wait"] {
        let out = run(&["status", ID, "--hub", &hub, wait, "1"], &[]).await;
        expect(&out, 6, "");
    }
    // 7: anything else: here the answer cannot be written (a full disk).
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = tokio::process::Command::new(BIN)
        .args(["status", ID, "--hub", &hub])
        .env_remove("SWITCHYARD_CONFIG")
        .stdout(full)
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs")
        .wait_with_output()
        .await
        .expect("runs");
    expect(&out, 7, "writing the answer");
}

/// `config check` predicts a start: endpoint URLs from the environment
/// (list overrides included) are read and named by source only, a secret
/// that cannot be read fails it with exit 3 (the configuration), a wrong
/// command line with 2, and an override that cannot apply says how instead.
#[tokio::test]
async fn config_check_reads_every_reference_and_overrides_of_list_entries() {
    let dir = tempfile::tempdir().expect("dir");
    let good = write(dir.path(), "hub.toml", CONFIG);
    let good = good.to_str().expect("utf-8");
    let secret_url = "https://rpc.example/v2/SECRET-API-KEY";
    let mut env = SECRETS.to_vec();
    env.push((
        "SWITCHYARD__CHAINS__0__RPC_URLS",
        r#"[{"env": "SY_ALPHA_RPC"}]"#,
    ));
    env.push(("SY_ALPHA_RPC", secret_url));
    env.push((
        "SWITCHYARD__REDIS__CLUSTER_NODES",
        "redis://10.0.0.1:6379,redis://10.0.0.2:6379",
    ));
    let out = run(&["config", "check", good], &env).await;
    expect(&out, 0, "");
    let all = text(&out);
    assert!(
        all.contains("resolved: chains[0].rpc_urls[0] from env SY_ALPHA_RPC"),
        "{all}"
    );
    assert!(
        all.contains("resolved: attester_key from env SY_ATTESTER"),
        "{all}"
    );
    assert!(
        !all.contains("SECRET-API-KEY"),
        "a value was printed: {all}"
    );

    // A list entry's key by index; an entry the file lacks is refused.
    let out = run(
        &["config", "check", good],
        &[("SWITCHYARD__CHAINS__1__RPC_URLS", "https://x")],
    )
    .await;
    expect(
        &out,
        3,
        "environment variable SWITCHYARD__CHAINS__1__RPC_URLS: expected an index below 1",
    );
    // The URL's variable unset: the path and the variable, no value.
    let out = run(
        &["config", "check", good],
        &[(
            "SWITCHYARD__CHAINS__0__RPC_URLS",
            r#"[{"env": "SY_UNSET_RPC"}]"#,
        )],
    )
    .await;
    expect(
        &out,
        3,
        "error: chains[0].rpc_urls[0]: environment variable SY_UNSET_RPC is not set",
    );
    // A secret that cannot be read is found by the check, not by the start.
    let out = run(&["config", "check", good], &SECRETS[..2]).await;
    expect(
        &out,
        3,
        "error: chains[0].submitter_key: environment variable SY_SUBMITTER is not set",
    );
    // Where the key secrets are not mounted (a rendered chart in CI).
    let out = run(&["config", "check", "--skip-secrets", good], &[]).await;
    expect(&out, 0, "");
    // No checkpoint: fatal at a first start, so refused here.
    let bare = write(
        dir.path(),
        "bare.toml",
        &CONFIG.replace(
            "checkpoint = { number = 0, hash = \"0x88e96d4537bea4d9c05d12549907b32561d3bf31f45aae734cdc119f13406cb6\" }\n",
            "",
        ),
    );
    let out = run(&["config", "check", bare.to_str().expect("utf-8")], SECRETS).await;
    expect(
        &out,
        3,
        "error: chains[0].checkpoint: expected { number, hash }",
    );
    // Header-chain mode on a public chain id: a warning, still exit 0.
    let mut public = SECRETS.to_vec();
    public.push(("SWITCHYARD__CHAINS__0__CHAIN_ID", "10"));
    let out = run(&["config", "check", good], &public).await;
    expect(
        &out,
        0,
        "warning: chains[0].chain_id: chain_id 10 is OP Mainnet",
    );
    // The former name of replacement_fee_percent: read, with a warning.
    let mut former = SECRETS.to_vec();
    former.push(("SWITCHYARD__CHAINS__0__FEE_BUMP_PERCENT", "150"));
    let out = run(&["config", "check", good], &former).await;
    expect(
        &out,
        0,
        "warning: chains[0].fee_bump_percent: expected replacement_fee_percent",
    );
    // The command line itself: 2.
    expect(&run(&["config", "check"], &[]).await, 2, "required");
}
