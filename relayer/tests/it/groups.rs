//! Route groups end to end: one logical destination domain served by two
//! chains, with two hub replicas routing concurrently. Every message is
//! delivered exactly once across the members (never on both), each member
//! in channel order, and the policies split the traffic as documented.

use std::time::Duration;

use crate::harness::stack::{Stack, assert_exactly_once, single_redis, tail};

async fn received_per_member(stack: &Stack, members: &[usize], group: u32) -> Vec<u64> {
    let mut out = Vec::new();
    for &m in members {
        let c = &stack.chains[m];
        let mut n = 0;
        for rcpt in &c.recipients {
            let events =
                switchyard_localnet::evm::received_events(c.wallet.provider(), *rcpt, c.from_block)
                    .await
                    .expect("logs");
            n += events
                .iter()
                .filter(|e| {
                    std::str::from_utf8(&e.body).is_ok_and(|b| b.contains(&format!("->{group} ")))
                })
                .count() as u64;
        }
        out.push(n);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_groups_deliver_each_message_once_across_members_with_two_replicas() {
    let mut stack = Stack::new(
        3,
        1,
        single_redis(false),
        "lane_shards = 2\nworkers = 2\nlease_ttl_ms = 1000",
    )
    .await;
    stack.add_group(9000, "round_robin", vec![1, 2]).await;
    stack.add_group(9100, "least_backlog", vec![1, 2]).await;
    stack.add_group(9200, "sticky_sender", vec![1, 2]).await;
    // Two replicas: both watchers route every origin block, so the
    // least-backlog choice must be made once for both.
    let a = stack.spawn_hub("a");
    let _b = stack.spawn_replica("b", 3);
    for _ in 0..3 {
        stack.send_group(0, 9000, 100).await;
        stack.send_group(0, 9100, 100).await;
        stack.send_group(0, 9200, 100).await;
    }
    assert_eq!(stack.total_sent(), 900);
    let done = stack.wait_all(Duration::from_secs(120)).await;
    let v = stack.verify().await;
    assert!(done, "{v:?}\n{}", tail(&a.log));
    assert_exactly_once(&v, 900);
    // Round robin alternates by nonce: 300 consecutive-nonce batches of 100
    // split evenly.
    assert_eq!(
        received_per_member(&stack, &[1, 2], 9000).await,
        vec![150, 150]
    );
    // One sender: sticky keeps all of it on one member.
    let sticky = received_per_member(&stack, &[1, 2], 9200).await;
    assert!(
        sticky == vec![300, 0] || sticky == vec![0, 300],
        "{sticky:?}"
    );
    let least = received_per_member(&stack, &[1, 2], 9100).await;
    assert_eq!(least.iter().sum::<u64>(), 300, "{least:?}");
}
