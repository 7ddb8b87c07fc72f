//! Rotating the queue key under traffic with no downtime, as
//! docs/operations.md says: the new key accepted everywhere, then signing
//! with the old one accepted, then the old one dropped; each step a new
//! replica started before the previous one is killed. Lane entries and the
//! watchers' state (light-client store, routed cursor) signed with the old
//! key keep verifying while it is accepted, and the state is signed again
//! with the new key when read, so the last step, with the new key alone,
//! finds nothing it cannot read: nothing lost or delivered twice, no
//! watcher stuck.

use std::time::Duration;

use crate::harness::stack::{Stack, assert_exactly_once, single_redis, tail};

const OLD: &str = "5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b";
const NEW: &str = "0x6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_key_rotates_under_traffic_with_nothing_lost_and_no_watcher_stuck() {
    let mut stack = Stack::new(2, 2, single_redis(false), "lease_ttl_ms = 1000").await;
    let patience = Duration::from_secs(120);
    // Before: the old key alone.
    let mut hub = stack.spawn_with_queue_keys("k0", 3, OLD, &[]);
    stack.send(3).await;
    assert!(stack.wait_all(patience).await, "{}", tail(&hub.log));
    // Each step: traffic in flight, the next replica started, the previous
    // one killed (its leases and pending entries move to the new one).
    let steps: [(&str, usize, &str, &[&str]); 3] = [
        ("k1", 4, OLD, &[NEW]),
        ("k2", 5, NEW, &[OLD]),
        ("k3", 6, NEW, &[]),
    ];
    for (name, key, signing, accepted) in steps {
        stack.send(3).await;
        let next = stack.spawn_with_queue_keys(name, key, signing, accepted);
        stack.send(3).await;
        drop(std::mem::replace(&mut hub, next));
        stack.send(3).await;
        assert!(
            stack.wait_all(patience).await,
            "after step {name}\n{}",
            tail(&hub.log)
        );
        if name == "k2" {
            // The old key is dropped only once nothing it signed is left in
            // the lanes: everything sent so far is delivered.
            assert_exactly_once(&stack.verify().await, stack.total_sent());
        }
    }
    // With the new key alone, the watchers read their state and route.
    stack.send(3).await;
    assert!(stack.wait_all(patience).await, "{}", tail(&hub.log));
    assert_exactly_once(&stack.verify().await, stack.total_sent());
    let log = std::fs::read_to_string(&hub.log).expect("log");
    assert!(!log.contains("authentication failed"), "{log}");
}
