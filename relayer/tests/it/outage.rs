//! A destination unreachable for far longer than `max_attempts` retries
//! last: its batches wait, spending no attempt (an unreachable chain says
//! nothing about them), and are delivered once it is back. Nothing is
//! dead-lettered; before, a long outage dead-lettered everything waiting.

use std::time::{Duration, Instant};

use switchyard::metrics::sum_messages_in_text;

use crate::harness::proxy::TcpForward;
use crate::harness::stack::{Stack, assert_exactly_once, single_redis, tail};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_destination_outage_dead_letters_nothing() {
    // Two attempts, 50 ms apart: the old rule gave a batch up within a
    // second of the destination going away.
    let mut stack = Stack::new(
        2,
        1,
        single_redis(false),
        "max_attempts = 2\nretry_base_ms = 50",
    )
    .await;
    let front = TcpForward::start(&stack.chains[1].url).await;
    stack.rpc_front.insert(1, front.url());
    stack.front_only.insert(1);
    let hub = stack.spawn_hub("hub");
    let deadline = Instant::now() + Duration::from_secs(60);
    while hub.readyz().await.is_none() {
        assert!(Instant::now() < deadline, "{}", tail(&hub.log));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    front.set(false);
    stack.send_routes(&[(0, 1)], 5).await;
    // Many retry rounds while the destination is away.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(stack.received_on(1).await, 0, "the destination is down");
    let m = hub.metrics().await.expect("metrics");
    assert!(
        sum_messages_in_text(&m, "enqueued") >= stack.total_sent(),
        "the messages wait in the lane\n{m}"
    );
    assert_eq!(sum_messages_in_text(&m, "dead_lettered"), 0, "{m}");
    let log = std::fs::read_to_string(&hub.log).expect("log");
    assert!(
        log.contains("destination unreachable, batch will be retried"),
        "the batches were tried while it was down\n{}",
        tail(&hub.log)
    );

    front.set(true);
    assert!(
        stack.wait_all(Duration::from_secs(120)).await,
        "{}",
        tail(&hub.log)
    );
    assert_exactly_once(&stack.verify().await, stack.total_sent());
    let m = hub.metrics().await.expect("metrics");
    assert_eq!(sum_messages_in_text(&m, "dead_lettered"), 0, "{m}");
}
