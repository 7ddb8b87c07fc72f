//! Secrets never leave the process: a hub run with known keys (attester,
//! submitter, queue HMAC key, admin token), at debug log level, relaying
//! traffic, answering refused admin requests and serving its metrics; and
//! configurations whose secrets are malformed. Every byte of output (the
//! log, HTTP bodies, the CLI's stderr) is scanned for each secret in the
//! forms it could leak in.

use std::process::Command;
use std::time::Duration;

use switchyard_localnet::evm::ANVIL_KEYS;

use crate::harness::stack::{QUEUE_KEY, Stack, single_redis, tail};

const ADMIN_TOKEN: &str = "admintoken-5b1e0c7d9a3f4e2b8c6d";

/// API keys in an endpoint URL, where providers put them: user info, path
/// and query.
const URL_PASSWORD: &str = "urlpass-9f2c41d7e8a6b350";
const URL_PATH_KEY: &str = "urlpathkey-3c8e1f6a2b9d7045";
const URL_QUERY_KEY: &str = "urlquerykey-7a1d5e9c3f2b8604";

/// The forms a secret could appear in: as written, without `0x`, upper
/// case, and any 16-character window of it (a truncated leak).
fn forms(secret: &str) -> Vec<String> {
    let bare = secret.trim_start_matches("0x");
    let mut out = vec![secret.to_owned(), bare.to_owned(), bare.to_uppercase()];
    let chars: Vec<char> = bare.chars().collect();
    for w in chars.windows(16) {
        out.push(w.iter().collect());
    }
    out
}

fn assert_clean(what: &str, text: &str, secrets: &[(&str, &str)]) {
    for (name, secret) in secrets {
        for f in forms(secret) {
            assert!(
                !text.contains(&f),
                "{what} contains (part of) the {name}: {f:?}\n{}",
                text.chars().take(2000).collect::<String>()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_logs_metrics_http_answers_or_errors() {
    let mut stack = Stack::new(2, 2, single_redis(false), "").await;
    // Chain c1's preferred endpoint carries keys and does not answer
    // (nothing listens on port 9): its errors are logged, counted and
    // reported while the hub fails over to the real node.
    stack.rpc_front.insert(
        1,
        format!(
            "http://sy-user:{URL_PASSWORD}@127.0.0.1:9/v2/{URL_PATH_KEY}?apikey={URL_QUERY_KEY}"
        ),
    );
    let token_file = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(token_file.path(), ADMIN_TOKEN).expect("write");
    let token_path = token_file.path().display().to_string();
    let hub = stack.spawn_role(
        "hub",
        "all",
        &[
            ("RUST_LOG", "debug"),
            ("SWITCHYARD__ADMIN_TOKEN__FILE", &token_path),
        ],
    );
    stack.send(20).await;
    assert!(
        stack.wait_all(Duration::from_secs(90)).await,
        "{}",
        tail(&hub.log)
    );
    let secrets = [
        ("attester key", ANVIL_KEYS[1]),
        ("submitter key", ANVIL_KEYS[2]),
        ("queue key", QUEUE_KEY),
        ("admin token", ADMIN_TOKEN),
        ("endpoint URL password", URL_PASSWORD),
        ("endpoint URL path key", URL_PATH_KEY),
        ("endpoint URL query key", URL_QUERY_KEY),
    ];

    // Admin requests without the token, with a wrong one, and with a
    // token-sized prefix of the right one: refused, and the refusal says
    // nothing about the token.
    let base = format!("http://127.0.0.1:{}", hub.http);
    let client = reqwest::Client::new();
    let mut answers = String::new();
    for auth in [
        None,
        Some("Bearer wrong"),
        Some(&format!("Bearer {}", &ADMIN_TOKEN[..20])[..]),
    ] {
        let mut req = client.get(format!("{base}/admin/dlq/c1"));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let r = req.send().await.expect("answers");
        assert_eq!(r.status().as_u16(), 401, "{auth:?}");
        answers.push_str(&r.text().await.expect("body"));
    }
    // With the token the API answers (so the scan above scanned a hub that
    // really had the token configured).
    let r = client
        .get(format!("{base}/admin/dlq/c1"))
        .header("Authorization", format!("Bearer {ADMIN_TOKEN}"))
        .send()
        .await
        .expect("answers");
    assert!(r.status().is_success(), "{}", r.status());
    answers.push_str(&r.text().await.expect("body"));
    // The public status API too: its route and lane answers.
    for path in ["/metrics", "/readyz", "/healthz", "/v1/routes", "/v1/lanes"] {
        answers.push_str(
            &client
                .get(format!("{base}{path}"))
                .send()
                .await
                .expect("answers")
                .text()
                .await
                .expect("body"),
        );
    }
    assert_clean("the HTTP answers", &answers, &secrets);
    drop(hub);
    let log = std::fs::read_to_string(stack.dir.path().join("hub.log")).expect("log");
    assert!(
        log.lines().count() > 50,
        "a debug log of a real run:\n{log}"
    );
    assert_clean("the hub's debug log", &log, &secrets);

    // Malformed secrets: the errors name the variable or file, never the
    // value.
    let short_queue = "0123456789abcdef0123";
    let bad_attester = format!("{}zz", &ANVIL_KEYS[1][..60]);
    for (override_key, content, named) in [
        ("SWITCHYARD__QUEUE_KEY__FILE", short_queue, "queue_key"),
        (
            "SWITCHYARD__ATTESTER_KEY__FILE",
            &bad_attester[..],
            "attester_key",
        ),
    ] {
        let file = tempfile::NamedTempFile::new().expect("tmp");
        std::fs::write(file.path(), content).expect("write");
        let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["run", "--config"])
            .arg(stack.config_path())
            .env(override_key, file.path())
            .env("SWITCHYARD__LOG__LEVEL", "debug")
            .env("RUST_BACKTRACE", "1")
            .output()
            .expect("runs");
        assert!(!out.status.success(), "{named}");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains(named), "{text}");
        assert_clean(
            "a refused configuration's error",
            &text,
            &[
                ("short queue key", short_queue),
                ("malformed attester key", &bad_attester),
            ],
        );
    }
}
