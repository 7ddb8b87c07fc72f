//! The status API, `switchyard status` and the explorer page against a
//! running stack (real anvil chains, redis-server, the hub process): a
//! message dispatched with the SDK is followed stage by stage, found by its
//! origin and destination transactions and by its sender, every answer is
//! checked against the checked-in OpenAPI document, and headless Chromium
//! (Debian's `chromium`, installed by deploy/setup.sh) searches the page for
//! the message and finds its destination transaction. Without chains, on a
//! real redis-server: lists page through hundreds of journaled messages in
//! a stable order, and the per-client rate limit refuses one client while
//! serving another.

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::{B256, Bytes};
use alloy::providers::RootProvider;
use serde_json::Value;
use switchyard::journal::{Event, QueuedMessage, ops_of};
use switchyard::ratelimit::RateLimiter;
use switchyard::store::{LaneId, QueueKey, RedisTarget, Store};
use switchyard_localnet::procs::RedisServer;
use switchyard_sdk::{HubClient, Outcome, Stage, Tracker};
use switchyard_types::Message;

use crate::harness::stack::{Stack, single_redis, tail};

const OPENAPI: &str = include_str!("../../openapi.json");

async fn get(base: &str, path: &str) -> (u16, Value) {
    let r = reqwest::get(format!("{base}{path}"))
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = r.status().as_u16();
    let body = r
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: not JSON: {e}"));
    (status, body)
}

/// Polls `GET /v1/messages/{id}` until its status is `want`.
async fn wait_status(base: &str, id: &str, want: &str, log: &std::path::Path) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (code, v) = get(base, &format!("/v1/messages/{id}")).await;
        if code == 200 && v["status"] == want {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "message {id} not {want} within 90 s; last answer {code} {v}\n{}",
            tail(log)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A validator of `GET path`'s 200 answers: the document's schema for it
/// (OpenAPI 3.1 schemas are JSON Schema 2020-12), with the document's
/// components beside it so that its `#/components/schemas/...`
/// references resolve. Every keyword counts: types, required, enum,
/// oneOf, pattern, minimum, maximum.
fn openapi_validator(doc: &Value, path: &str) -> jsonschema::Validator {
    let schema =
        &doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "no 200 JSON schema for {path} in openapi.json"
    );
    let mut root = schema.clone();
    root["$schema"] = "https://json-schema.org/draft/2020-12/schema".into();
    root["components"] = doc["components"].clone();
    jsonschema::draft202012::new(&root).unwrap_or_else(|e| panic!("the schema of {path}: {e}"))
}

/// The violations of `v` as an answer of `GET path`: where, and the
/// keyword of the schema it broke.
fn openapi_violations(doc: &Value, path: &str, v: &Value) -> Vec<(String, String)> {
    openapi_validator(doc, path)
        .iter_errors(v)
        .map(|e| (e.instance_path().to_string(), e.schema_path().to_string()))
        .collect()
}

/// Checks an answer of `GET path` against the document's 200 schema.
fn check_against_openapi(doc: &Value, path: &str, v: &Value) {
    let errors = openapi_violations(doc, path, v);
    assert!(
        errors.is_empty(),
        "GET {path} answered outside openapi.json (instance path, schema path): {errors:?}\n{v}"
    );
}

/// The check refuses what the document forbids, keyword by keyword: a
/// hash that breaks `pattern`, a domain under `minimum` or over
/// `maximum` (the hand-written check this replaces let all three pass).
#[test]
fn the_openapi_check_refuses_a_broken_pattern_minimum_and_maximum() {
    let doc: Value = serde_json::from_str(OPENAPI).expect("openapi.json");
    let hash = format!("0x{}", "ab".repeat(32));
    let status = serde_json::json!({
        "id": hash, "status": "delivered", "message": null,
        "origin": {"domain": 1000, "chain": "alpha", "block": 5, "tx_hash": hash},
        "destination": {"domain": 2000, "chain": "beta", "lane": "2000/0", "tx_hash": null, "block": null},
        "failure": null, "last_error": null,
        "stages": [{"stage": "verified", "at_ms": 1}, {"stage": "delivered", "at_ms": 2}],
    });
    let lanes = serde_json::json!({
        "sampled_at_ms": 1,
        "lanes": [{"destination": "beta", "domain": 2000, "entries": 1, "pending": 0, "oldest_age_ms": 5,
            "shards": [{"shard": 3, "entries": 1, "pending": 0, "oldest_age_ms": 5}]}],
    });
    check_against_openapi(&doc, "/v1/messages/{id}", &status);
    check_against_openapi(&doc, "/v1/lanes", &lanes);
    for (path, good, pointer, bad, keyword) in [
        (
            "/v1/messages/{id}",
            &status,
            "/id",
            serde_json::json!("0xAB"),
            "pattern",
        ),
        (
            "/v1/messages/{id}",
            &status,
            "/origin/tx_hash",
            serde_json::json!(hash.to_uppercase()),
            "pattern",
        ),
        (
            "/v1/messages/{id}",
            &status,
            "/origin/domain",
            serde_json::json!(-1),
            "minimum",
        ),
        (
            "/v1/messages/{id}",
            &status,
            "/stages/1/at_ms",
            serde_json::json!(-5),
            "minimum",
        ),
        (
            "/v1/messages/{id}",
            &status,
            "/destination/domain",
            serde_json::json!(1u64 << 32),
            "maximum",
        ),
        (
            "/v1/lanes",
            &lanes,
            "/lanes/0/shards/0/shard",
            serde_json::json!(1024),
            "maximum",
        ),
        (
            "/v1/lanes",
            &lanes,
            "/lanes/0/pending",
            serde_json::json!(-1),
            "minimum",
        ),
    ] {
        let mut v = good.clone();
        *v.pointer_mut(pointer)
            .unwrap_or_else(|| panic!("{pointer}")) = bad.clone();
        let errors = openapi_violations(&doc, path, &v);
        assert!(
            errors
                .iter()
                .any(|(at, kw)| at == pointer && kw.ends_with(&format!("/{keyword}"))),
            "{path} {pointer} = {bad}: expected a {keyword} violation there, got {errors:?}"
        );
    }
}

fn chromium_dump(url: &str) -> String {
    let profile = tempfile::tempdir().expect("tempdir");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--disable-dev-shm-usage",
            // Virtual time runs the page's timers and waits for its fetches.
            "--virtual-time-budget=20000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .output()
        .expect("chromium runs (Debian package chromium; deploy/setup.sh installs it)");
    assert!(
        out.status.success(),
        "chromium failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_api_cli_and_explorer_follow_a_message_to_delivery() {
    let mut stack = Stack::new(2, 2, single_redis(false), "").await;
    let hub = stack.spawn_hub("hub");
    let base = format!("http://127.0.0.1:{}", hub.http);
    let doc: Value = serde_json::from_str(OPENAPI).expect("openapi.json");

    let (sender, sender_address) = stack.integrator_sender(0, 6).await;
    let dest = stack.chains[1].domain;
    let (good, bad) = (stack.chains[1].recipients[0], stack.chains[1].recipients[1]);
    let sent = sender
        .dispatch(dest, good.into_word(), b"where is my message?".to_vec())
        .await
        .expect("dispatched");
    let id = format!("{:#x}", sent.id);

    // 1. The journey, stage by stage, with the transactions on both sides.
    let v = wait_status(&base, &id, "delivered", &hub.log).await;
    check_against_openapi(&doc, "/v1/messages/{id}", &v);
    let stages: Vec<&str> = v["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| s["stage"].as_str().expect("name"))
        .collect();
    assert_eq!(
        stages,
        ["verified", "queued", "submitted", "delivered"],
        "{v}"
    );
    let times: Vec<u64> = v["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| s["at_ms"].as_u64().expect("time"))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "stage times go back: {v}"
    );
    assert_eq!(v["origin"]["block"], sent.block, "{v}");
    assert_eq!(
        v["origin"]["tx_hash"],
        format!("{:#x}", sent.tx_hash),
        "{v}"
    );
    assert_eq!(v["origin"]["domain"], stack.chains[0].domain);
    assert_eq!(v["message"]["nonce"], sent.message.nonce);
    assert_eq!(
        v["message"]["body"],
        format!("0x{}", alloy::hex::encode(b"where is my message?"))
    );
    assert_eq!(v["failure"], Value::Null);
    // The destination transaction is the one the Inbox delivered it in.
    let tracker = Tracker::new(
        RootProvider::new_http(stack.chains[1].url.parse().expect("url")),
        stack.chains[1].inbox,
    );
    let d = tracker
        .wait(&sent.message, Duration::from_secs(30))
        .await
        .expect("delivered on chain");
    assert_eq!(d.outcome, Outcome::Delivered);
    let dest_tx = format!("{:#x}", d.tx_hash.expect("tx"));
    assert_eq!(v["destination"]["tx_hash"], dest_tx, "{v}");
    assert_eq!(v["destination"]["block"], d.block.expect("block"), "{v}");
    assert_eq!(v["destination"]["domain"], dest);

    // The SDK's hub client reads the same.
    let hub_client = HubClient::new(&base).expect("client");
    let typed = hub_client
        .wait(sent.id, Duration::from_secs(10))
        .await
        .expect("delivered");
    assert_eq!(typed.status, Stage::Delivered);
    assert_eq!(typed.destination.tx_hash, d.tx_hash);
    assert_eq!(typed.origin.tx_hash, Some(sent.tx_hash));
    let by_tx = hub_client.by_tx(sent.tx_hash).await.expect("by tx");
    assert!(by_tx.iter().any(|m| m.id == sent.id), "{by_tx:?}");
    assert_eq!(
        hub_client
            .status(alloy::primitives::B256::repeat_byte(0xab))
            .await
            .expect("asks"),
        None
    );

    // 2. Found by origin transaction, destination transaction and sender.
    let origin_tx = format!("{:#x}", sent.tx_hash);
    for q in [
        format!("tx={origin_tx}"),
        format!("tx={dest_tx}"),
        format!("sender={sender_address:#x}"),
        format!(
            "sender={:#x}&origin={}",
            sender_address.into_word(),
            stack.chains[0].domain
        ),
    ] {
        let (code, list) = get(&base, &format!("/v1/messages?{q}")).await;
        assert_eq!(code, 200, "{q}: {list}");
        check_against_openapi(&doc, "/v1/messages", &list);
        assert!(
            list["messages"]
                .as_array()
                .expect("list")
                .iter()
                .any(|m| m["id"] == id),
            "{q} does not find {id}: {list}"
        );
    }

    // 3. A recipient that reverts: failed, with the reason.
    stack.set_recipient_mode(1, bad, 1).await;
    let failing = sender
        .dispatch(dest, bad.into_word(), b"this one reverts".to_vec())
        .await
        .expect("dispatched");
    let f = wait_status(&base, &format!("{:#x}", failing.id), "failed", &hub.log).await;
    check_against_openapi(&doc, "/v1/messages/{id}", &f);
    assert!(
        f["failure"]
            .as_str()
            .is_some_and(|r| r.contains("TestRecipient: rejected")),
        "{f}"
    );

    // 4. Routes and lanes, deployment-wide.
    let (code, routes) = get(&base, "/v1/routes").await;
    assert_eq!(code, 200);
    check_against_openapi(&doc, "/v1/routes", &routes);
    let route = routes["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .find(|r| r["origin_domain"] == stack.chains[0].domain && r["destination_domain"] == dest)
        .unwrap_or_else(|| panic!("no route {} -> {dest}: {routes}", stack.chains[0].domain))
        .clone();
    assert!(route["totals"]["delivered"].as_u64() >= Some(1), "{route}");
    assert!(route["totals"]["failed"].as_u64() >= Some(1), "{route}");
    assert!(route["totals"]["queued"].as_u64() >= Some(2), "{route}");
    let (code, lanes) = get(&base, "/v1/lanes").await;
    assert_eq!(code, 200);
    check_against_openapi(&doc, "/v1/lanes", &lanes);
    assert_eq!(lanes["lanes"].as_array().map(Vec::len), Some(2), "{lanes}");

    // 5. Bad input: what is wrong, with the value; unknown ids are 404.
    let (code, e) = get(&base, "/v1/messages/0x1234").await;
    assert_eq!(code, 400);
    assert!(
        e["error"]
            .as_str()
            .is_some_and(|t| t.contains("64 hex digits") && t.contains("0x1234")),
        "{e}"
    );
    let unknown = format!("0x{}", "ab".repeat(32));
    let (code, e) = get(&base, &format!("/v1/messages/{unknown}")).await;
    assert_eq!(code, 404, "{e}");
    let (code, e) = get(
        &base,
        &format!("/v1/messages?tx={origin_tx}&sender={sender_address:#x}"),
    )
    .await;
    assert_eq!(code, 400, "{e}");
    let (code, e) = get(&base, "/v1/messages?sender=0x12").await;
    assert_eq!(code, 400, "{e}");
    assert!(
        e["error"]
            .as_str()
            .is_some_and(|t| t.contains("40 hex digits")),
        "{e}"
    );

    // 6. The document served is the one checked in.
    let served: Value = reqwest::get(format!("{base}/openapi.json"))
        .await
        .expect("openapi")
        .json()
        .await
        .expect("JSON");
    assert_eq!(served, doc);

    // 7. `switchyard status`.
    let bin = env!("CARGO_BIN_EXE_switchyard");
    let out = Command::new(bin)
        .args(["status", &id, "--hub", &base, "--wait-secs", "10"])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("status       delivered"), "{text}");
    assert!(text.contains(&dest_tx), "{text}");
    let out = Command::new(bin)
        .args([
            "status",
            &format!("{:#x}", failing.id),
            "--hub",
            &base,
            "--json",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "a failed message exits 1");
    let j: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(j["status"], "failed");
    // By transaction: the delivery transaction lists the message.
    let out = Command::new(bin)
        .args(["status", "--tx", &dest_tx, "--hub", &base])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(&format!("message      {id}")), "{text}");
    let out = Command::new(bin)
        .args(["status", &unknown, "--hub", &base])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(5), "an unknown message exits 5");
    let out = Command::new(bin)
        .args(["status", "0xnope", "--hub", &base])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "a malformed id exits 2");
    assert!(String::from_utf8_lossy(&out.stderr).contains("64 hex digits"));
    // A hub that does not answer: 4, never "failed" (1).
    let out = Command::new(bin)
        .args(["status", &id, "--hub", "http://127.0.0.1:9"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(4), "an unreachable hub exits 4");
    assert!(String::from_utf8_lossy(&out.stderr).contains("127.0.0.1:9"));

    // 8. The explorer page in headless Chromium: searching the message id
    // (through the page's own form, from `?q=`) shows its journey with the
    // destination transaction; searching the origin transaction finds it
    // too; the live panel shows a throughput figure and both lanes.
    let page = reqwest::get(format!("{base}/")).await.expect("page");
    let csp = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(csp.contains("default-src 'self'"), "CSP: {csp}");
    let html = page.text().await.expect("html");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page loads nothing from elsewhere"
    );
    let dom = chromium_dump(&format!("{base}/?q={id}"));
    let journey = dom
        .split("id=\"journey\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no journey in the page:\n{dom}"));
    assert!(dom.contains("data-status=\"delivered\""), "{dom}");
    assert!(
        journey.contains(&format!("data-field=\"dest-tx\">{dest_tx}<")),
        "the journey does not show the destination transaction {dest_tx}:\n{journey}"
    );
    for s in ["verified", "queued", "submitted", "delivered"] {
        assert!(
            journey.contains(&format!("data-stage=\"{s}\"")),
            "stage {s} missing:\n{journey}"
        );
    }
    assert!(dom.contains("id=\"throughput\""), "{dom}");
    assert!(
        dom.contains(&format!("data-lane=\"{dest}\"")),
        "lane of {dest} missing:\n{dom}"
    );
    let dom = chromium_dump(&format!("{base}/?q={origin_tx}"));
    assert!(
        dom.contains(&format!("data-id=\"{id}\"")),
        "searching the origin transaction does not list {id}:\n{dom}"
    );
    drop(hub);
}

// --- Lists and rate limit against a real redis-server, without chains ------

const ALPHA: u32 = 1000;
const BETA: u32 = 2000;
const GAMMA: u32 = 3000;

/// A hub config with origins alpha and gamma delivering to beta (only the
/// status API's catalog is built from it).
fn list_config(redis_url: &str) -> switchyard::config::Config {
    let chain = |name: &str, domain: u32| {
        format!(
            r#"[[chains]]
name = "{name}"
domain = {domain}
chain_id = {domain}
rpc_urls = ["http://127.0.0.1:1"]
trust = "single_endpoint"
mailbox = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
inbox = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
submitter_key = {{ env = "UNUSED" }}
"#
        )
    };
    let text = format!(
        "attester_key = {{ env = \"UNUSED\" }}\nqueue_key = {{ env = \"UNUSED\" }}\n[redis]\nurl = \"{redis_url}\"\nkey_prefix = \"lists\"\n{}{}{}",
        chain("alpha", ALPHA),
        chain("beta", BETA),
        chain("gamma", GAMMA),
    );
    switchyard::config::Config::from_toml(&text).expect("config")
}

/// Serves the HTTP surface over `redis_url` with `rate_limit`; the base URL
/// and the store (to write journal records into).
async fn serve_lists(
    redis_url: &str,
    rate_limit: RateLimiter,
    metrics: switchyard::metrics::Metrics,
) -> (String, Store, tokio_util::sync::CancellationToken) {
    let cfg = list_config(redis_url);
    let store = Store::connect(
        &RedisTarget::Single(redis_url.to_owned()),
        "lists",
        QueueKey::from_secret(&"42".repeat(32)).expect("key"),
    )
    .await
    .expect("connect");
    let state = switchyard::http::AppState {
        metrics,
        health: Arc::new(switchyard::health::Health::default()),
        store: store.clone(),
        admin: switchyard::admin::Admin::new(store.dead_letters(), &cfg),
        admin_tokens: Vec::new(),
        catalog: Arc::new(switchyard::http::api::Catalog::from_config(&cfg)),
        rate_limit: Arc::new(rate_limit),
        attest: None,
    };
    let (base, stop) = crate::harness::serve::hub_http(state).await;
    (base, store, stop)
}

fn msg(origin: u32, nonce: u32, sender: B256) -> Message {
    Message {
        version: switchyard_types::MESSAGE_VERSION,
        nonce,
        origin,
        sender,
        destination: BETA,
        recipient: B256::repeat_byte(0xbb),
        body: Bytes::from(nonce.to_be_bytes().to_vec()),
    }
}

/// Journals `nonces` of `sender` on `origin` as queued in one block,
/// verified at `verified_ms`, dispatched in transaction `tx`.
async fn journal_queued(
    store: &Store,
    origin: u32,
    sender: B256,
    nonces: std::ops::Range<u32>,
    verified_ms: u64,
    tx: B256,
) -> Vec<B256> {
    let messages: Vec<QueuedMessage> = nonces
        .map(|n| QueuedMessage {
            message: msg(origin, n, sender),
            origin_tx: Some(tx),
        })
        .collect();
    let ids = messages.iter().map(|q| q.message.id()).collect();
    let event = Event::Queued {
        route: "beta".into(),
        lane: LaneId {
            dst: BETA,
            shard: 0,
        },
        height: 7,
        verified_ms,
        queued_ms: verified_ms + 1,
        messages,
    };
    store
        .status()
        .write_status(&ops_of(&event), 3600)
        .await
        .expect("journal written");
    ids
}

/// Follows `query`'s pages of `limit`; every answer is checked against the
/// OpenAPI document. The messages in order, and the number of pages.
async fn all_pages(base: &str, query: &str, limit: u32) -> (Vec<Value>, usize) {
    all_pages_from(base, query, limit, None).await
}

/// [`all_pages`] from `cursor` on.
async fn all_pages_from(
    base: &str,
    query: &str,
    limit: u32,
    mut cursor: Option<String>,
) -> (Vec<Value>, usize) {
    let doc: Value = serde_json::from_str(OPENAPI).expect("openapi.json");
    let mut out = Vec::new();
    for pages in 1..=100 {
        let mut path = format!("/v1/messages?{query}&limit={limit}");
        if let Some(c) = &cursor {
            path += &format!("&cursor={c}");
        }
        let (code, page) = get(base, &path).await;
        assert_eq!(code, 200, "{path}: {page}");
        check_against_openapi(&doc, "/v1/messages", &page);
        let messages = page["messages"].as_array().expect("messages");
        assert!(messages.len() <= limit as usize, "{path}: over the limit");
        out.extend(messages.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => {
                assert!(page["next_cursor"].is_null(), "{page}");
                return (out, pages);
            }
        }
    }
    panic!("{query}: no end after 100 pages");
}

fn ids_of(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|m| m["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tx_and_sender_lists_are_bounded_pages_in_a_stable_order() {
    let redis = RedisServer::spawn(None).expect("redis-server");
    let metrics = switchyard::metrics::Metrics::new();
    let (base, store, _stop) = serve_lists(&redis.url, RateLimiter::disabled(), metrics).await;
    let sender = B256::left_padding_from(&[0xcd; 20]);
    let big_tx = B256::repeat_byte(0x71);
    // One transaction dispatching 250 messages, journaled in two blocks'
    // worth of events out of nonce order; 30 more from the same sender on
    // another origin, verified in between.
    let mut alpha = journal_queued(&store, ALPHA, sender, 150..250, 2_000, big_tx).await;
    alpha.extend(journal_queued(&store, ALPHA, sender, 0..150, 1_000, big_tx).await);
    let gamma = journal_queued(&store, GAMMA, sender, 0..30, 1_500, B256::repeat_byte(0x72)).await;
    // A delivery transaction carrying 120 of them.
    let delivery = B256::repeat_byte(0x73);
    let delivered: Vec<(B256, u32)> = alpha[..120].iter().map(|id| (*id, ALPHA)).collect();
    store
        .status()
        .write_status(
            &ops_of(&Event::Included {
                dst: BETA,
                tx: delivery,
                block: 9,
                at_ms: 3_000,
                delivered: delivered.clone(),
                failed: vec![],
            }),
            3600,
        )
        .await
        .expect("journal written");

    // A transaction: pages of 100, in nonce order, each message once.
    let (list, pages) = all_pages(&base, &format!("tx={big_tx:#x}"), 100).await;
    assert_eq!(pages, 3);
    let nonces: Vec<u64> = list
        .iter()
        .map(|m| m["message"]["nonce"].as_u64().expect("nonce"))
        .collect();
    assert_eq!(nonces, (0..250).collect::<Vec<u64>>());
    // The default page is the most: 100.
    let (_, first) = get(&base, &format!("/v1/messages?tx={big_tx:#x}")).await;
    assert_eq!(first["messages"].as_array().map(Vec::len), Some(100));
    assert!(first["next_cursor"].is_string(), "{first}");
    // A delivery: in batch order.
    let (list, _) = all_pages(&base, &format!("tx={delivery:#x}"), 7).await;
    let want: Vec<String> = delivered.iter().map(|(id, _)| format!("{id:#x}")).collect();
    assert_eq!(ids_of(&list), want);

    // A sender on every origin: newest first (by verification time), across
    // both origins, each message once.
    let (_, page1) = get(&base, &format!("/v1/messages?sender={sender:#x}&limit=50")).await;
    let cursor = page1["next_cursor"].as_str().expect("more").to_owned();
    // Newer messages arrive while the client pages: the pages it has not
    // read yet do not move.
    let newer = journal_queued(
        &store,
        ALPHA,
        sender,
        250..260,
        9_000,
        B256::repeat_byte(0x74),
    )
    .await;
    let (rest, _) = all_pages_from(&base, &format!("sender={sender:#x}"), 100, Some(cursor)).await;
    let mut seen = ids_of(page1["messages"].as_array().expect("messages"));
    seen.extend(ids_of(&rest));
    let mut want: Vec<String> = alpha
        .iter()
        .chain(&gamma)
        .map(|id| format!("{id:#x}"))
        .collect();
    assert_eq!(seen.len(), want.len(), "every message once, none twice");
    let mut sorted = seen.clone();
    sorted.sort();
    want.sort();
    assert_eq!(sorted, want, "exactly the messages there were");
    let verified: Vec<u64> = page1["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .chain(&rest)
        .map(|m| m["stages"][0]["at_ms"].as_u64().expect("time"))
        .collect();
    assert!(
        verified.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {verified:?}"
    );
    // From the start again, the newer ones come first.
    let (all, _) = all_pages(&base, &format!("sender={sender:#x}"), 100).await;
    assert_eq!(all.len(), 290);
    let head: Vec<String> = ids_of(&all[..10]);
    assert!(
        newer.iter().all(|id| head.contains(&format!("{id:#x}"))),
        "{head:?}"
    );
    // One origin only.
    let (only, _) = all_pages(&base, &format!("sender={sender:#x}&origin={GAMMA}"), 100).await;
    assert_eq!(only.len(), 30);

    // The SDK follows the pages.
    let client = HubClient::new(&base).expect("client");
    assert_eq!(client.by_tx(big_tx).await.expect("by tx").len(), 250);
    assert_eq!(
        client
            .by_sender(sender, Some(ALPHA))
            .await
            .expect("by sender")
            .len(),
        260
    );
    let page = client
        .page(&switchyard_sdk::MessageQuery::Tx(big_tx), None, Some(10))
        .await
        .expect("page");
    assert_eq!(page.messages.len(), 10);
    assert!(page.next_cursor.is_some());

    // Bad input: what is wrong, expected and got.
    let tx_cursor = first["next_cursor"].as_str().expect("cursor").to_owned();
    for (query, says) in [
        (
            format!("tx={big_tx:#x}&limit=0"),
            "limit: expected 1 to 100, got 0",
        ),
        (
            format!("tx={big_tx:#x}&limit=101"),
            "limit: expected 1 to 100, got 101",
        ),
        (
            format!("tx={big_tx:#x}&cursor=nope"),
            "cursor: expected the next_cursor of an earlier tx= answer",
        ),
        (
            format!("sender={sender:#x}&cursor={tx_cursor}"),
            "earlier sender= answer",
        ),
        (format!("tx={big_tx:#x}&limit=ten"), "limit"),
    ] {
        let (code, e) = get(&base, &format!("/v1/messages?{query}")).await;
        assert_eq!(code, 400, "{query}: {e}");
        let text = e["error"].as_str().unwrap_or_default();
        assert!(text.contains(says), "{query}: {text}");
    }

    // The explorer lists the first page and offers the next.
    let dom = chromium_dump(&format!("{base}/?q={big_tx:#x}"));
    let rows = dom.matches("data-col=\"nonce\"").count();
    assert_eq!(rows, 100, "one page of rows:\n{dom}");
    assert!(
        dom.contains("100 messages in transaction") && dom.contains("more to load"),
        "{dom}"
    );
    let button = dom
        .split("id=\"more\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no More button:\n{dom}"));
    let tag_end = button.find('>').expect("tag");
    assert!(
        !button[..tag_end].contains("hidden"),
        "More is hidden:\n{dom}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_rate_gets_429_while_another_is_served() {
    let redis = RedisServer::spawn(None).expect("redis-server");
    let metrics = switchyard::metrics::Metrics::new();
    let (base, _store, _stop) =
        serve_lists(&redis.url, RateLimiter::new(1, 5, metrics.clone()), metrics).await;
    let from = |ip: [u8; 4]| {
        reqwest::Client::builder()
            .local_address(IpAddr::V4(Ipv4Addr::from(ip)))
            .build()
            .expect("client")
    };
    let (a, b) = (from([127, 0, 0, 1]), from([127, 0, 0, 2]));
    let status = |c: &reqwest::Client, path: &str| {
        let r = c.get(format!("{base}{path}"));
        async move { r.send().await.expect("request") }
    };
    let sender = format!("/v1/messages?sender=0x{}", "cd".repeat(20));
    for path in ["/v1/routes", "/v1/lanes", &sender, "/openapi.json", "/"] {
        assert_eq!(
            status(&a, path).await.status(),
            200,
            "{path} within the burst"
        );
    }
    let refused = status(&a, "/v1/routes").await;
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    let body: Value = refused.json().await.expect("JSON");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("retry after")),
        "{body}"
    );
    assert_eq!(
        status(&a, &sender).await.status(),
        429,
        "every status route"
    );
    // An X-Forwarded-For header does not make a new client.
    let r = a
        .get(format!("{base}/v1/routes"))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 429);
    // Another client is served; health and metrics never are limited.
    assert_eq!(status(&b, "/v1/routes").await.status(), 200);
    for path in ["/healthz", "/readyz", "/metrics"] {
        for _ in 0..10 {
            assert_eq!(
                status(&a, path).await.status(),
                200,
                "{path} is not limited"
            );
        }
    }
    let text = status(&a, "/metrics").await.text().await.expect("text");
    assert!(
        text.lines()
            .any(|l| l == "switchyard_http_rate_limited_total 3"),
        "{text}"
    );
    assert!(
        text.contains("switchyard_http_rate_limit_clients 2"),
        "{text}"
    );
    // Tokens come back at the rate.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(status(&a, "/v1/routes").await.status(), 200);
}
