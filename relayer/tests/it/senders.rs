//! One replica per sending account: two hub processes given the same
//! submitter key would race for its nonces. The second refuses to start
//! with the account, the replica holding it and what to do; a replica that
//! loses its claim (another writer took it in Redis) stops delivering to
//! that chain and fails `/healthz` with the reason.

use std::time::{Duration, Instant};

use redis::AsyncCommands;

use crate::harness::stack::{HubProc, RedisSide, Stack, assert_exactly_once, single_redis, tail};

/// Waits until `hub` answers `/readyz` (its start, claims included, done).
async fn serving(hub: &HubProc) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while hub.readyz().await.is_none() {
        assert!(Instant::now() < deadline, "{}", tail(&hub.log));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The exit status of `hub`, which must exit within `timeout`.
fn exited(hub: &mut HubProc, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = hub.child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "still running after {timeout:?}\n{}",
            tail(&hub.log)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn redis_url(stack: &Stack) -> String {
    match &stack.redis {
        RedisSide::Single { port, .. } => format!("redis://127.0.0.1:{port}"),
        RedisSide::Cluster(_) => panic!("a single Redis"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_refuses_a_submitter_key_another_replica_sends_from() {
    let mut stack = Stack::new(2, 1, single_redis(false), "lease_ttl_ms = 1000").await;
    let a = stack.spawn_hub("a");
    serving(&a).await;

    // The same configuration, so the same submitter key: refused (exit 3,
    // a configuration mistake) after waiting twice the claim's life for it
    // to lapse; it never does, the first replica renews it.
    let mut b = stack.spawn_hub("b");
    let status = exited(&mut b, Duration::from_secs(30));
    let log = std::fs::read_to_string(&b.log).expect("log");
    assert_eq!(status.code(), Some(3), "{log}");
    assert!(log.contains("is in use by replica"), "{log}");
    assert!(
        log.contains(":sender:0x"),
        "the claim's key names the account: {log}"
    );
    assert!(log.contains("Submitter keys per replica"), "{log}");

    // The first replica delivers everything, once.
    stack.send(4).await;
    assert!(
        stack.wait_all(Duration::from_secs(120)).await,
        "{}",
        tail(&a.log)
    );
    assert_exactly_once(&stack.verify().await, stack.total_sent());

    // It dies without releasing: its claims lapse after their life, and a
    // replica with the key starts and delivers.
    drop(a);
    let c = stack.spawn_hub("c");
    serving(&c).await;
    stack.send(4).await;
    assert!(
        stack.wait_all(Duration::from_secs(120)).await,
        "{}",
        tail(&c.log)
    );
    assert_exactly_once(&stack.verify().await, stack.total_sent());

    // Another writer takes an account's claim in Redis: the replica stops
    // delivering to that chain and says why on /healthz.
    let client = redis::Client::open(redis_url(&stack)).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let claims: Vec<String> = conn.keys("rel:*:sender:*").await.expect("KEYS");
    assert_eq!(claims.len(), 2, "one claim per destination: {claims:?}");
    let _: () = conn.set_ex(&claims[0], "intruder", 60).await.expect("SET");
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let r = reqwest::get(format!("http://127.0.0.1:{}/healthz", c.http))
            .await
            .expect("healthz");
        let code = r.status().as_u16();
        let body = r.text().await.expect("body");
        if code == 503 {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "healthz still {code}: {body}\n{}",
            tail(&c.log)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(body.contains("in use by replica intruder"), "{body}");
}
