//! The storage format in Redis, through the binary: `switchyard run` on a
//! fresh store writes its format and starts; on a store of the same format
//! it starts; on a store written by a newer hub it refuses to start with
//! exit code 8, naming both formats, and leaves the store alone.

use std::process::Stdio;
use std::time::Duration;

use switchyard::store::STORAGE_FORMAT;
use switchyard_localnet::evm::ANVIL_KEYS;
use switchyard_localnet::procs::RedisServer;
use tokio::io::{AsyncBufReadExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

/// A hub whose chain endpoint does not answer: it starts (its watcher
/// retries), which is all these tests need.
fn config(redis: &str) -> String {
    format!(
        r#"
attester_key = {{ env = "SY_ATTESTER" }}
queue_key = {{ env = "SY_QUEUE_KEY" }}
[http]
listen = "127.0.0.1:0"
[redis]
url = "{redis}"
[[chains]]
name = "alpha"
domain = 1000
chain_id = 31337
rpc_urls = ["http://127.0.0.1:1"]
trust = "single_endpoint"
mailbox = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
inbox = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
submitter_key = {{ env = "SY_SUBMITTER" }}
"#
    )
}

/// `switchyard <cmd> --config <file> <rest>` with the keys in the environment.
fn command(cmd: &str, file: &std::path::Path, rest: &[&str]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(BIN);
    c.args([cmd, "--config"])
        .arg(file)
        .args(rest)
        .env_remove("SWITCHYARD_CONFIG")
        .env("SY_ATTESTER", ANVIL_KEYS[1])
        .env("SY_SUBMITTER", ANVIL_KEYS[2])
        .env("SY_QUEUE_KEY", "q".repeat(32))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

/// Starts the hub and waits for its "storage format checked" log line;
/// stops it once seen. Panics with its output if it exits first.
async fn starts(file: &std::path::Path) {
    let mut child = command("run", file, &[]).spawn().expect("the binary runs");
    let stderr = child.stderr.take().expect("piped");
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            let hit = line.contains("storage format checked");
            seen.push(line);
            if hit {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    // Still running after the check: it started.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let exited = child.try_wait().expect("wait");
    let _ = child.kill().await;
    assert!(
        found && exited.is_none(),
        "the hub did not start (exit {exited:?}):\n{}",
        seen.join("\n")
    );
}

async fn format(redis: &RedisServer) -> Option<String> {
    let client = redis::Client::open(redis.url.as_str()).expect("client");
    let mut c = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    redis::cmd("GET")
        .arg("sy:{meta}:format")
        .query_async(&mut c)
        .await
        .expect("get")
}

async fn set_format(redis: &RedisServer, v: u32) {
    let client = redis::Client::open(redis.url.as_str()).expect("client");
    let mut c = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let _: () = redis::cmd("SET")
        .arg("sy:{meta}:format")
        .arg(v)
        .query_async(&mut c)
        .await
        .expect("set");
}

#[tokio::test]
async fn a_fresh_store_gets_the_format_the_same_starts_a_newer_is_refused() {
    let redis = RedisServer::spawn(None).expect("redis-server");
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("hub.toml");
    std::fs::write(&file, config(&redis.url)).expect("write");

    // Fresh: the hub writes its format and runs.
    assert_eq!(format(&redis).await, None);
    starts(&file).await;
    assert_eq!(format(&redis).await, Some(STORAGE_FORMAT.to_string()));

    // The same format: it starts again.
    starts(&file).await;
    assert_eq!(format(&redis).await, Some(STORAGE_FORMAT.to_string()));

    // A newer hub's store: refused at once, not retried, with both numbers.
    let newer = STORAGE_FORMAT + 1;
    set_format(&redis, newer).await;
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        command("run", &file, &[]).stdout(Stdio::piped()).output(),
    )
    .await
    .expect("refused without retrying")
    .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(8), "{stderr}");
    assert!(
        stderr.contains(&format!("storage format {newer}, written by a newer hub"))
            && stderr.contains(&format!("reads format {STORAGE_FORMAT}"))
            && stderr.contains("sy:{meta}:format"),
        "{stderr}"
    );
    // No secret in what it printed.
    assert!(!stderr.contains(&ANVIL_KEYS[1][2..]), "{stderr}");
    assert!(!stderr.contains(&"q".repeat(32)), "{stderr}");
    // And the store is left as it was.
    assert_eq!(format(&redis).await, Some(newer.to_string()));

    // switchyard dlq refuses it too, without writing.
    let out = command("dlq", &file, &["list", "alpha"])
        .stdout(Stdio::piped())
        .output()
        .await
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(8), "{stderr}");
    assert!(stderr.contains("written by a newer hub"), "{stderr}");
    assert_eq!(format(&redis).await, Some(newer.to_string()));
}

/// A Redis of the wrong kind is refused at start with what to change (exit
/// code 3, configuration), not retried forever: `redis.cluster_nodes`
/// naming a plain Redis, and `redis.url` naming a Redis Cluster node.
#[tokio::test]
async fn a_redis_of_the_wrong_kind_is_refused_at_start_with_the_setting_to_change() {
    let plain = RedisServer::spawn(None).expect("redis-server");
    let cdir = tempfile::tempdir().expect("dir");
    let cluster = switchyard_localnet::procs::RedisCluster::spawn(3, cdir.path()).expect("cluster");
    let dir = tempfile::tempdir().expect("dir");
    let cases = [
        (
            config("redis://unused:1").replace(
                "url = \"redis://unused:1\"",
                &format!(
                    "url = \"redis://unused:1\"\ncluster_nodes = [\"{}\"]",
                    plain.url
                ),
            ),
            "redis.cluster_nodes: expected Redis Cluster nodes, got a Redis with cluster support disabled",
        ),
        (
            config(&cluster.urls()[0]),
            "redis.url: expected a single Redis, got a Redis Cluster node",
        ),
    ];
    for (i, (text, expected)) in cases.into_iter().enumerate() {
        let file = dir.path().join(format!("hub{i}.toml"));
        std::fs::write(&file, text).expect("write");
        let out = tokio::time::timeout(
            Duration::from_secs(30),
            command("run", &file, &[]).stdout(Stdio::piped()).output(),
        )
        .await
        .expect("refused without retrying")
        .expect("the binary runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
}
