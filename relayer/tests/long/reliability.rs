//! The lanes' promises under faults, with the hub as a real separate process
//! (`switchyard run`), real anvil chains and real redis-server processes:
//! - `exactly_once`: the hub is killed with SIGKILL at random points ten
//!   times during a 20,000-message run and restarted each time; every
//!   message is delivered exactly once, in channel order;
//! - `replicas`: two hub processes with three dispatcher workers each share
//!   the lanes and both do part of the work;
//! - `forged_entry`: an entry written straight into a lane is refused;
//! - `redis_restart`: Redis (AOF on) killed and restarted mid-run: nothing lost;
//! - `redis_cluster`: the same against a 3-master Redis Cluster.

use std::time::{Duration, Instant};

use rand::Rng;
use switchyard::metrics::sum_messages_in_text;
use switchyard::store::{LaneEntry, LaneId, QueueKey, Store};
use switchyard_localnet::procs::RedisServer;
use switchyard_types::Message;

use crate::harness::stack::{
    QUEUE_KEY, RedisSide, Stack, assert_exactly_once, body, cluster, metric, single_redis, tail,
};

const DISPATCH: &str = "lane_shards = 4\nworkers = 2\nlease_ttl_ms = 1000\nmax_batch_messages = 250\nretry_base_ms = 100";

async fn killed_ten_times(redis: RedisSide) {
    let mut stack = Stack::new(2, 2, redis, DISPATCH).await;
    let mut hub = stack.spawn_hub("hub0");
    // 2 routes × 2 recipients × 5,000 = 20,000 messages.
    stack.send(5_000).await;
    assert_eq!(stack.total_sent(), 20_000);
    for k in 1..=10 {
        let wait = rand::rng().random_range(300..1500);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        hub.kill9();
        hub = stack.spawn_hub(&format!("hub{k}"));
    }
    let done = stack.wait_all(Duration::from_secs(240)).await;
    let v = stack.verify().await;
    assert!(
        done,
        "not all delivered: {v:?}\nlast hub log:\n{}",
        tail(&hub.log)
    );
    assert_eq!(v.delivered, 20_000, "{v:?}");
    assert_eq!(v.duplicates, 0, "{v:?}");
    assert_eq!(v.lost, 0, "{v:?}");
    assert_eq!(v.out_of_order, 0, "channel order broken: {v:?}");
    assert_eq!(v.unexpected, 0, "{v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_in_channel_order_when_the_hub_is_killed_ten_times() {
    killed_ten_times(single_redis(false)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_exactly_once_when_the_hub_is_killed_ten_times() {
    killed_ten_times(cluster()).await;
}

async fn two_replicas(redis: RedisSide) {
    // 12 recipients: 12 channels a route, so traffic lands on most of the 8
    // shards and each replica's shards get some (with 3 channels, all of them
    // could hash into the other replica's shards).
    let mut stack = Stack::new(
        2,
        12,
        redis,
        "lane_shards = 8\nworkers = 3\nlease_ttl_ms = 1000\nmax_batch_messages = 100",
    )
    .await;
    let a = stack.spawn_hub("a");
    let b = stack.spawn_replica("b", 3);
    // Let both replicas join and split the shards before traffic.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let owned = |text: &str| metric(text, "switchyard_lane_shards_owned", &[]) as u64;
    let (ma, mb) = (
        a.metrics().await.expect("a serves"),
        b.metrics().await.expect("b serves"),
    );
    // 2 destinations × 8 shards, split between the replicas.
    assert_eq!(
        owned(&ma) + owned(&mb),
        16,
        "a: {}, b: {}",
        owned(&ma),
        owned(&mb)
    );
    assert!(
        owned(&ma) >= 4 && owned(&mb) >= 4,
        "a: {}, b: {}",
        owned(&ma),
        owned(&mb)
    );
    // 2 routes × 12 recipients × 250 = 6,000 messages.
    stack.send(250).await;
    let done = stack.wait_all(Duration::from_secs(120)).await;
    let v = stack.verify().await;
    assert!(done, "{v:?}\n{}", tail(&a.log));
    assert_eq!(
        (v.delivered, v.duplicates, v.lost, v.out_of_order),
        (6_000, 0, 0, 0),
        "{v:?}"
    );
    // Both replicas delivered part of it; together exactly the total.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let da = sum_messages_in_text(&a.metrics().await.unwrap_or_default(), "delivered");
        let db = sum_messages_in_text(&b.metrics().await.unwrap_or_default(), "delivered");
        if da + db == 6_000 || Instant::now() > deadline {
            assert_eq!(da + db, 6_000, "a {da} + b {db}");
            assert!(
                da > 0 && db > 0,
                "both replicas work: a {da}, b {db}\n--- a:\n{}\n--- b:\n{}",
                tail(&a.log),
                tail(&b.log)
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_two_hubs_with_three_workers_each_split_the_work() {
    two_replicas(single_redis(false)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_replicas_two_hubs_with_three_workers_each_split_the_work() {
    two_replicas(cluster()).await;
}

async fn forged(redis: RedisSide) {
    let mut stack = Stack::new(2, 1, redis, DISPATCH).await;
    let hub = stack.spawn_hub("hub");
    stack.send(50).await;
    assert!(
        stack.wait_all(Duration::from_secs(60)).await,
        "{}",
        tail(&hub.log)
    );
    // A well-formed entry for a real recipient, written without the queue
    // key (wrong key) and one without any tag, into every shard.
    let (dest_domain, dest_inbox, dest_recipient) = (
        stack.chains[1].domain,
        stack.chains[1].inbox,
        stack.chains[1].recipients[0],
    );
    let dest_provider = stack.chains[1].wallet.provider().clone();
    let forged_msg = Message {
        version: 3,
        nonce: 999_999,
        origin: stack.chains[0].domain,
        sender: stack.chains[0].wallet.address().into_word(),
        destination: dest_domain,
        recipient: dest_recipient.into_word(),
        body: body(stack.chains[0].domain, dest_domain, 0, 999_999),
    };
    let entry = LaneEntry {
        origin: forged_msg.origin,
        height: 1,
        verified_at_ms: 1,
        messages: vec![forged_msg.encode().into()],
    };
    let attacker_store = Store::connect(
        &stack.redis_target(),
        "rel",
        QueueKey::new(&[1u8; 32]).expect("key"),
    )
    .await
    .expect("connect");
    let attacker = attacker_store.lanes();
    for shard in 0..4 {
        let lane = LaneId {
            dst: dest_domain,
            shard,
        };
        let raw = entry.encode();
        attacker
            .write_raw(lane, &[("v", b"1"), ("b", &raw), ("h", &[9u8; 32])])
            .await
            .expect("xadd");
        attacker
            .write_raw(lane, &[("v", b"1"), ("b", &raw)])
            .await
            .expect("xadd");
    }
    // Real traffic keeps flowing around the forgeries.
    stack.send(50).await;
    assert!(
        stack.wait_all(Duration::from_secs(60)).await,
        "{}",
        tail(&hub.log)
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let v = stack.verify().await;
    assert_eq!(
        (v.delivered, v.duplicates, v.lost, v.unexpected),
        (200, 0, 0, 0),
        "forged message delivered? {v:?}"
    );
    let inbox = switchyard_evm::bindings::Inbox::new(dest_inbox, dest_provider);
    assert!(
        !inbox
            .isProcessed(forged_msg.origin, 999_999)
            .call()
            .await
            .expect("call"),
        "forged nonce processed"
    );
    let real_store = Store::connect(
        &stack.redis_target(),
        "rel",
        QueueKey::from_secret(QUEUE_KEY).expect("key"),
    )
    .await
    .expect("connect");
    let dead = real_store
        .dead_letters()
        .dead_letters(dest_domain, 4)
        .await
        .expect("list");
    assert_eq!(dead.len(), 8, "every forgery moved aside: {dead:?}");
    assert!(
        dead.iter().all(|d| d.reason.contains("authentication")),
        "{dead:?}"
    );
    let text = hub.metrics().await.expect("metrics");
    let refused = metric(&text, "switchyard_rejections_total", &["refused_entry"]);
    assert_eq!(refused as u64, 8, "counted once each");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_entry_in_a_running_hub_is_refused_never_delivered() {
    forged(single_redis(false)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_forged_entry_is_refused_never_delivered() {
    forged(cluster()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_with_aof_mid_run_loses_nothing() {
    let mut stack = Stack::new(2, 2, single_redis(true), DISPATCH).await;
    let hub = stack.spawn_hub("hub");
    stack.send(2_500).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (port, aof) = match &mut stack.redis {
        RedisSide::Single { server, port, aof } => {
            let mut s = server.take().expect("running");
            s.proc.kill();
            (*port, aof.clone())
        }
        RedisSide::Cluster(_) => unreachable!("single"),
    };
    let before = stack.received().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let restarted =
        RedisServer::spawn_on(port, aof.as_deref(), &[]).expect("redis restarts on its port");
    if let RedisSide::Single { server, .. } = &mut stack.redis {
        *server = Some(restarted);
    }
    let done = stack.wait_all(Duration::from_secs(180)).await;
    let v = stack.verify().await;
    assert!(
        before < 10_000,
        "the restart happened mid-run ({before} delivered before)"
    );
    assert!(done, "{v:?}\n{}", tail(&hub.log));
    assert_exactly_once(&v, 10_000);
}
