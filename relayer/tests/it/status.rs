//! The status API, `switchyard status` and the explorer page against a
//! running stack (real anvil chains, redis-server, the hub process): a
//! message dispatched with the SDK is followed stage by stage, found by its
//! origin and destination transactions and by its sender, every answer is
//! checked against the checked-in OpenAPI document, and headless Chromium
//! (Debian's `chromium`, installed by deploy/setup.sh) searches the page for
//! the message and finds its destination transaction.

use std::process::Command;
use std::time::{Duration, Instant};

use alloy::providers::RootProvider;
use serde_json::Value;
use switchyard_sdk::{HubClient, Outcome, Stage, Tracker};

use crate::stack::{Stack, single_redis, tail};

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

/// Checks `v` against schema `s` of the OpenAPI document: types, required
/// properties, enums, items, `oneOf` and `$ref` (what the document uses).
fn conforms(doc: &Value, s: &Value, v: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = s["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return conforms(doc, &doc["components"]["schemas"][name], v, at);
    }
    if let Some(alts) = s["oneOf"].as_array() {
        return if alts.iter().any(|a| conforms(doc, a, v, at).is_ok()) {
            Ok(())
        } else {
            Err(format!("{at}: {v} matches none of {}", s["oneOf"]))
        };
    }
    let types: Vec<&str> = match &s["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let kind = match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let allowed = types.is_empty()
        || types.contains(&kind)
        || (kind == "integer" && types.contains(&"number"));
    if !allowed {
        return Err(format!("{at}: expected {types:?}, got {kind} {v}"));
    }
    if let Some(e) = s["enum"].as_array()
        && !e.contains(v)
    {
        return Err(format!("{at}: {v} is not one of {e:?}"));
    }
    if let Value::Object(o) = v {
        for r in s["required"].as_array().into_iter().flatten() {
            let r = r.as_str().unwrap_or_default();
            if !o.contains_key(r) {
                return Err(format!("{at}: required property {r} missing in {v}"));
            }
        }
        if let Some(props) = s["properties"].as_object() {
            for (k, ps) in props {
                if let Some(x) = o.get(k) {
                    conforms(doc, ps, x, &format!("{at}.{k}"))?;
                }
            }
        }
    }
    if let (Value::Array(items), Some(is)) = (v, s.get("items")) {
        for (i, x) in items.iter().enumerate() {
            conforms(doc, is, x, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// Checks an answer of `GET path` against the document's 200 schema.
fn check_against_openapi(doc: &Value, path: &str, v: &Value) {
    let schema =
        &doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "no 200 JSON schema for {path} in openapi.json"
    );
    conforms(doc, schema, v, path).unwrap_or_else(|e| panic!("{e}"));
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
        .args(["status", &id, "--hub", &base, "--wait", "10"])
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
    assert_eq!(out.status.code(), Some(2), "an unknown message exits 2");
    let out = Command::new(bin)
        .args(["status", "0xnope", "--hub", &base])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(4), "a malformed id exits 4");
    assert!(String::from_utf8_lossy(&out.stderr).contains("64 hex digits"));
    // A hub that does not answer: 4 as well, never "failed" (1).
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
