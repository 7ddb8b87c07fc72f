//! Dead-letter administration through the admin HTTP API (token required,
//! on the main listener or on its own `http.admin_listen`) and the
//! `switchyard dlq` command, against a real redis-server.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{B256, Bytes};
use switchyard::admin::Admin;
use switchyard::config::Config;
use switchyard::health::Health;
use switchyard::http::AppState;
use switchyard::metrics::Metrics;
use switchyard::store::{LaneEntry, LaneId, QueueKey, RedisTarget, Store};
use switchyard_localnet::procs::RedisServer;
use switchyard_types::Message;

const KEY_HEX: &str = "4242424242424242424242424242424242424242424242424242424242424242";

fn config_text(redis_url: &str, key_file: &str) -> String {
    format!(
        r#"
attester_key = {{ env = "UNUSED_BY_DLQ" }}
queue_key = {{ file = "{key_file}" }}
[redis]
url = "{redis_url}"
key_prefix = "adm"
[dispatcher]
lane_shards = 2
[[chains]]
name = "beta"
domain = 2000
chain_id = 31338
rpc_urls = ["http://127.0.0.1:1"]
trust = "single_endpoint"
mailbox = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
inbox = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
submitter_key = {{ env = "UNUSED_BY_DLQ" }}
"#
    )
}

fn message(nonce: u32) -> Bytes {
    Message {
        version: 3,
        nonce,
        origin: 1000,
        sender: B256::repeat_byte(1),
        destination: 2000,
        recipient: B256::repeat_byte(2),
        body: Bytes::from_static(b"hello"),
    }
    .encode()
    .into()
}

/// A dead letter in shard 1 of destination 2000; returns its reference.
async fn seed(store: &Store) -> String {
    let lanes = store.lanes();
    let lane = LaneId {
        dst: 2000,
        shard: 1,
    };
    let entry = LaneEntry {
        origin: 1000,
        height: 9,
        verified_at_ms: 1,
        messages: vec![message(7), message(8)],
    };
    lanes.ensure_group(lane).await.expect("group");
    assert!(lanes.append(lane, &entry).await.expect("append"));
    let got = lanes
        .read(lane, "c", 10, Duration::from_millis(100), false)
        .await
        .expect("read");
    lanes
        .record_failure(lane, &got[0].id, "execution reverted")
        .await
        .expect("fail");
    store
        .dead_letters()
        .dead_letter(lane, &got[0].id, "max_attempts reached")
        .await
        .expect("dlq");
    store
        .dead_letters()
        .dead_letters(2000, 2)
        .await
        .expect("list")[0]
        .reference
        .clone()
}

#[tokio::test]
async fn admin_api_refuses_requests_without_the_token_and_manages_dead_letters() {
    let redis = RedisServer::spawn(None).expect("redis-server");
    let dir = tempfile::tempdir().expect("tmp");
    let key_file = dir.path().join("q");
    std::fs::write(&key_file, KEY_HEX).expect("write");
    let cfg = Config::from_toml(&config_text(&redis.url, &key_file.display().to_string()))
        .expect("config");
    let store = Store::connect(
        &RedisTarget::Single(redis.url.clone()),
        "adm",
        QueueKey::from_secret(KEY_HEX).expect("key"),
    )
    .await
    .expect("connect");
    let lanes = store.lanes();
    let reference = seed(&store).await;

    let serve = |tokens: &[&str]| {
        let state = AppState {
            metrics: Metrics::new(),
            health: Arc::new(Health::default()),
            store: store.clone(),
            admin: Admin::new(store.dead_letters(), &cfg),
            admin_tokens: tokens.iter().map(|t| Arc::from(*t)).collect(),
            catalog: Arc::new(switchyard::http::api::Catalog::from_config(&cfg)),
            rate_limit: Arc::new(switchyard::ratelimit::RateLimiter::disabled()),
            attest: None,
        };
        crate::harness::serve::hub_http(state)
    };
    let http = reqwest::Client::new();

    // Admin API disabled: refused even with a token.
    let (base, stop) = serve(&[]).await;
    let r = http
        .get(format!("{base}/admin/dlq/beta"))
        .bearer_auth("anything")
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 403);
    stop.cancel();

    // A rotation: the admin token and an accepted one both open the API,
    // nothing else does.
    let (base, stop) = serve(&["n3w-token", "s3cret-token"]).await;
    for (token, status) in [
        ("n3w-token", 200),
        ("s3cret-token", 200),
        ("n3w-tokeX", 401),
        ("s3cret-token-longer", 401),
        ("", 401),
    ] {
        let r = http
            .get(format!("{base}/admin/dlq/beta"))
            .bearer_auth(token)
            .send()
            .await
            .expect("req");
        assert_eq!(r.status(), status, "token {token:?}");
    }
    stop.cancel();

    let (base, _stop) = serve(&["s3cret-token"]).await;
    let r = http
        .get(format!("{base}/admin/dlq/beta"))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 401, "no token");
    let r = http
        .get(format!("{base}/admin/dlq/beta"))
        .bearer_auth("s3cret-tokeX")
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 401, "wrong token");
    let r = http
        .get(format!("{base}/admin/dlq/beta"))
        .bearer_auth("s3cret-token-longer")
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 401, "longer token");
    // The reference is `shard/id`: it is the path's last two segments.
    let path = reference.clone();
    let r = http
        .post(format!("{base}/admin/dlq/beta/{path}/replay"))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 401, "replay without token");
    let r = http
        .delete(format!("{base}/admin/dlq/beta/{path}"))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 401, "drop without token");
    assert_eq!(
        store
            .dead_letters()
            .dead_letters(2000, 2)
            .await
            .expect("list")
            .len(),
        1,
        "nothing changed"
    );

    let list: serde_json::Value = http
        .get(format!("{base}/admin/dlq/beta"))
        .bearer_auth("s3cret-token")
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    assert_eq!(list.as_array().expect("array").len(), 1);
    assert_eq!(list[0]["reason"], "max_attempts reached");
    assert_eq!(list[0]["last_error"], "execution reverted");
    assert_eq!(list[0]["attempts"], 1);
    let show: serde_json::Value = http
        .get(format!("{base}/admin/dlq/beta/{path}"))
        .bearer_auth("s3cret-token")
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    assert_eq!(show["message_list"].as_array().expect("messages").len(), 2);
    assert_eq!(show["message_list"][1]["nonce"], 8);
    let r = http
        .get(format!("{base}/admin/dlq/gamma"))
        .bearer_auth("s3cret-token")
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 404, "unknown chain");

    let r = http
        .post(format!("{base}/admin/dlq/beta/{path}/replay"))
        .bearer_auth("s3cret-token")
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 200);
    assert!(
        store
            .dead_letters()
            .dead_letters(2000, 2)
            .await
            .expect("list")
            .is_empty()
    );
    let back = lanes
        .read(
            LaneId {
                dst: 2000,
                shard: 1,
            },
            "c",
            10,
            Duration::from_millis(100),
            false,
        )
        .await
        .expect("read");
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].entry.as_ref().expect("authentic").messages.len(), 2);
    let r = http
        .post(format!("{base}/admin/dlq/beta/{path}/replay"))
        .bearer_auth("s3cret-token")
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 404, "already replayed");
}

#[tokio::test]
async fn dlq_command_lists_shows_replays_and_drops() {
    let redis = RedisServer::spawn(None).expect("redis-server");
    let dir = tempfile::tempdir().expect("tmp");
    let key_file = dir.path().join("q");
    std::fs::write(&key_file, KEY_HEX).expect("write");
    let cfg_file = dir.path().join("hub.toml");
    std::fs::write(
        &cfg_file,
        config_text(&redis.url, &key_file.display().to_string()),
    )
    .expect("write");
    let store = Store::connect(
        &RedisTarget::Single(redis.url.clone()),
        "adm",
        QueueKey::from_secret(KEY_HEX).expect("key"),
    )
    .await
    .expect("connect");
    let lanes = store.lanes();
    let first = seed(&store).await;

    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .arg("dlq")
            .arg("--config")
            .arg(&cfg_file)
            .args(args)
            .output()
            .expect("runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = run(&["list", "beta"]);
    assert!(ok, "{err}");
    let line: serde_json::Value =
        serde_json::from_str(out.lines().next().expect("one line")).expect("json");
    assert_eq!(line["reference"], first.as_str());
    let (ok, out, _) = run(&["show", "beta", &first]);
    assert!(ok);
    assert!(out.contains("\"nonce\": 7"), "{out}");
    let (ok, _, err) = run(&["list", "nope"]);
    assert!(!ok);
    assert!(err.contains("unknown chain \"nope\""), "{err}");
    let (ok, out, err) = run(&["replay", "beta", &first]);
    assert!(ok, "{err}");
    assert!(out.contains("replayed"), "{out}");
    assert!(
        store
            .dead_letters()
            .dead_letters(2000, 2)
            .await
            .expect("list")
            .is_empty()
    );

    // Dead-letter it again (from the replayed entry) and drop it.
    let lane = LaneId {
        dst: 2000,
        shard: 1,
    };
    let back = lanes
        .read(lane, "c", 10, Duration::from_millis(100), false)
        .await
        .expect("read");
    store
        .dead_letters()
        .dead_letter(lane, &back[0].id, "again")
        .await
        .expect("dlq");
    let second = store
        .dead_letters()
        .dead_letters(2000, 2)
        .await
        .expect("list")[0]
        .reference
        .clone();
    let (ok, _, err) = run(&["drop", "beta", &second]);
    assert!(ok, "{err}");
    assert!(
        store
            .dead_letters()
            .dead_letters(2000, 2)
            .await
            .expect("list")
            .is_empty()
    );
    let (ok, _, err) = run(&["drop", "beta", &second]);
    assert!(!ok);
    assert!(err.contains("not found"), "{err}");
}

#[tokio::test]
async fn with_admin_listen_the_admin_api_answers_on_its_own_address_only() {
    let redis = RedisServer::spawn(None).expect("redis-server");
    let dir = tempfile::tempdir().expect("tmp");
    let key_file = dir.path().join("q");
    std::fs::write(&key_file, KEY_HEX).expect("write");
    let token_file = dir.path().join("admin");
    std::fs::write(&token_file, "s3cret-token\n").expect("write");
    // A watcher-only hub: it reads no signing key, and its watcher retries
    // the unreachable RPC in the background while the test talks to it.
    let text = format!(
        "role = \"watcher\"\nadmin_token = {{ file = \"{}\" }}\n{}[http]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n",
        token_file.display(),
        config_text(&redis.url, &key_file.display().to_string()),
    );
    let cfg = Config::from_toml(&text).expect("config");
    let store = Store::connect(
        &RedisTarget::Single(redis.url.clone()),
        "adm",
        QueueKey::from_secret(KEY_HEX).expect("key"),
    )
    .await
    .expect("connect");
    seed(&store).await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let hub = switchyard::hub::Hub::start(cfg, shutdown.clone())
        .await
        .expect("hub starts");
    let admin = hub.admin_addr.expect("an admin address of its own");
    assert_ne!(admin, hub.addr);
    let http = reqwest::Client::new();
    let get = |url: String, token: Option<&'static str>| {
        let r = http.get(url);
        let r = match token {
            Some(t) => r.bearer_auth(t),
            None => r,
        };
        async move { r.send().await.expect("request") }
    };

    // The public listener has no admin route, token or not.
    for token in [None, Some("s3cret-token")] {
        let r = get(format!("http://{}/admin/dlq/beta", hub.addr), token).await;
        assert_eq!(r.status(), 404, "public /admin with token {token:?}");
    }
    let r = http
        .post(format!("http://{}/admin/dlq/beta/1/1-0/replay", hub.addr))
        .bearer_auth("s3cret-token")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 404, "public replay");
    assert_eq!(
        get(format!("http://{}/metrics", hub.addr), None)
            .await
            .status(),
        200
    );

    // The admin listener: the admin API, behind its token, and nothing else.
    let r = get(format!("http://{admin}/admin/dlq/beta"), None).await;
    assert_eq!(r.status(), 401, "no token");
    let r = get(
        format!("http://{admin}/admin/dlq/beta"),
        Some("s3cret-token"),
    )
    .await;
    assert_eq!(r.status(), 200);
    let list: serde_json::Value = r.json().await.expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    for path in ["/metrics", "/v1/routes", "/"] {
        let r = get(format!("http://{admin}{path}"), None).await;
        assert_eq!(r.status(), 404, "{path} on the admin listener");
    }
    shutdown.cancel();
    hub.join().await;
}
