//! Hub roles in separate processes: a watcher-only process that holds no
//! signing key, dispatcher-only processes that deliver, and `/readyz`
//! reporting a lane nobody delivers from as stuck.

use std::time::{Duration, Instant};

use switchyard::metrics::sum_messages_in_text;

use crate::harness::stack::{HubProc, Stack, assert_exactly_once, single_redis, tail};

/// Polls `/readyz` until `want(code, body)` or `timeout`; the last answer.
async fn readyz_until(
    hub: &HubProc,
    timeout: Duration,
    want: impl Fn(u16, &str) -> bool,
) -> (u16, String) {
    let deadline = Instant::now() + timeout;
    loop {
        let got = hub.readyz().await.unwrap_or((0, "no answer".into()));
        if want(got.0, &got.1) || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_watcher_and_dispatcher_processes_relay_and_a_lane_without_dispatcher_is_stuck() {
    let mut stack = Stack::new(
        2,
        3,
        single_redis(false),
        "lane_shards = 4\nstuck_after_ms = 10000",
    )
    .await;
    // The watcher never signs: its attester key points at a file that does
    // not exist, and it starts anyway.
    let watcher = stack.spawn_role(
        "watcher",
        "watcher",
        &[("SWITCHYARD__ATTESTER_KEY__FILE", "/nonexistent/attester")],
    );
    stack.send(40).await;
    // Nobody delivers: once the oldest entry is older than the bound, the
    // watcher (which sees the lanes through Redis) is not ready.
    let (code, text) = readyz_until(&watcher, Duration::from_secs(60), |c, t| {
        c == 503 && t.contains("stuck")
    })
    .await;
    assert_eq!(code, 503, "{text}\n{}", tail(&watcher.log));
    assert!(
        text.contains("lane c0: stuck") || text.contains("lane c1: stuck"),
        "{text}"
    );
    assert_eq!(stack.received().await, 0, "nothing delivers yet");

    let dispatcher = stack.spawn_role("dispatcher", "dispatcher", &[]);
    let done = stack.wait_all(Duration::from_secs(120)).await;
    let v = stack.verify().await;
    assert!(
        done,
        "{v:?}\n{}\n{}",
        tail(&watcher.log),
        tail(&dispatcher.log)
    );
    assert_exactly_once(&v, stack.total_sent());

    // Each process did its own part only. The dispatcher counts a delivery
    // once it is deep enough, a block after the recipients saw it.
    let deadline = Instant::now() + Duration::from_secs(15);
    let (wm, dm) = loop {
        let wm = watcher.metrics().await.expect("watcher serves");
        let dm = dispatcher.metrics().await.expect("dispatcher serves");
        if sum_messages_in_text(&dm, "delivered") >= stack.total_sent() || Instant::now() > deadline
        {
            break (wm, dm);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(sum_messages_in_text(&wm, "verified"), stack.total_sent());
    assert_eq!(sum_messages_in_text(&wm, "delivered"), 0);
    assert_eq!(sum_messages_in_text(&dm, "verified"), 0);
    assert_eq!(sum_messages_in_text(&dm, "delivered"), stack.total_sent());

    // Drained lanes: both ready again.
    for hub in [&watcher, &dispatcher] {
        let (code, text) = readyz_until(hub, Duration::from_secs(30), |c, _| c == 200).await;
        assert_eq!(code, 200, "{text}\n{}", tail(&hub.log));
    }
}
