//! Redis Cluster under the hub: masters failed over while traffic flows,
//! and hub replicas coming and going on one cluster (issue 19). Real anvil
//! chains, real redis-server cluster nodes, the hub as separate processes.
//! - `coordinated`: `CLUSTER FAILOVER` on a replica under steady traffic;
//! - `killed`: a master SIGKILLed under steady traffic with
//!   `redis.wait_replicas = 1`, its replica promoted, the old master
//!   restarted as a replica: every message delivered exactly once;
//! - `wait_refuses`: the setting is in effect (an append its replicas did
//!   not acknowledge is refused and retried, the cursor stays behind it);
//! - `four_replicas`: four hubs on one cluster, one killed and another
//!   started: the leases rebalance, nothing lost or duplicated;
//! - `resharding`: slots migrated between masters under traffic (`ASK`,
//!   `MOVED`, `TRYAGAIN` answered meanwhile): exactly once.
//!
//! Each failover test prints how long the hub took to deliver again.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchyard::metrics::sum_messages_in_text;
use switchyard::store::{QueueKey, Store};
use switchyard_localnet::procs::RedisCluster;
use tokio_util::sync::CancellationToken;

use crate::harness::stack::{
    HubProc, QUEUE_KEY, RedisSide, Stack, assert_exactly_once, metric, replicated_cluster, tail,
    warnings,
};

const DISPATCH: &str = "lane_shards = 4\nworkers = 2\nlease_ttl_ms = 1000\nmax_batch_messages = 100\nretry_base_ms = 100";

fn cluster_of(stack: &Stack) -> &RedisCluster {
    match &stack.redis {
        RedisSide::Cluster(c) => c,
        RedisSide::Single { .. } => unreachable!("a cluster"),
    }
}

fn cluster_mut(stack: &mut Stack) -> &mut RedisCluster {
    match &mut stack.redis {
        RedisSide::Cluster(c) => c,
        RedisSide::Single { .. } => unreachable!("a cluster"),
    }
}

/// A (master, its replica) pair of node indices, as the cluster sees them
/// now.
fn master_and_replica(c: &RedisCluster) -> (usize, usize) {
    for r in 0..c.nodes.len() {
        if c.role(r).as_deref() != Some("slave") {
            continue;
        }
        let info = c.cli(r, &["info", "replication"]).expect("redis-cli");
        let port: u16 = info
            .lines()
            .find_map(|l| l.trim().strip_prefix("master_port:"))
            .and_then(|p| p.parse().ok())
            .expect("a replica names its master");
        let m = c
            .nodes
            .iter()
            .position(|n| n.proc.port == port)
            .expect("the master is one of the nodes");
        return (m, r);
    }
    panic!("no replica in the cluster");
}

/// Delivered-message counts of a hub, sampled every 100 ms until stopped:
/// the stall a failover causes is read from them.
struct Progress {
    samples: Arc<Mutex<Vec<(Instant, u64)>>>,
    stop: CancellationToken,
}

impl Progress {
    fn watch(hub: &HubProc) -> Self {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = CancellationToken::new();
        let url = format!("http://127.0.0.1:{}/metrics", hub.http);
        let (s, st) = (Arc::clone(&samples), stop.clone());
        tokio::spawn(async move {
            while !st.is_cancelled() {
                if let Ok(r) = reqwest::get(&url).await
                    && let Ok(text) = r.text().await
                {
                    let n = sum_messages_in_text(&text, "delivered");
                    s.lock().expect("samples").push((Instant::now(), n));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Self { samples, stop }
    }

    /// From `at` on: how long until the first delivery, and the longest
    /// time with no delivery while messages were still outstanding (up to
    /// the last sample below `total`).
    fn stall_after(&self, at: Instant, total: u64) -> (Duration, Duration) {
        self.stop.cancel();
        let samples = self.samples.lock().expect("samples").clone();
        let before = samples
            .iter()
            .rev()
            .find(|(t, _)| *t <= at)
            .map_or(0, |(_, n)| *n);
        let first = samples
            .iter()
            .find(|(t, n)| *t > at && *n > before)
            .map_or(Duration::MAX, |(t, _)| *t - at);
        let mut longest = Duration::ZERO;
        let mut last_change = at;
        let mut last_n = before;
        for (t, n) in samples.iter().filter(|(t, _)| *t > at) {
            if *n != last_n {
                longest = longest.max(*t - last_change);
                last_change = *t;
                last_n = *n;
            }
            if *n >= total {
                break;
            }
        }
        (first, longest)
    }
}

/// Sends `rounds` rounds of `per_channel` messages on every channel,
/// `gap` apart: steady traffic across the failover.
async fn traffic(stack: &mut Stack, rounds: usize, per_channel: u64, gap: Duration) {
    for _ in 0..rounds {
        stack.send(per_channel).await;
        tokio::time::sleep(gap).await;
    }
}

async fn failover_under_traffic(kill: bool) {
    let mut stack = Stack::new(2, 2, replicated_cluster(), DISPATCH).await;
    if kill {
        // The setting that closes the SIGKILL gap (docs/exactly-once.md).
        stack.redis_extra = "wait_replicas = 1\nwait_timeout_ms = 500".into();
    }
    let hub = stack.spawn_hub("hub");
    let progress = Progress::watch(&hub);
    // Traffic before, during and after: 2 routes × 2 recipients × 50 a
    // round.
    traffic(&mut stack, 4, 50, Duration::from_millis(300)).await;
    let (m, r) = master_and_replica(cluster_of(&stack));
    let at = Instant::now();
    if kill {
        cluster_mut(&mut stack).kill(m);
    } else {
        let out = cluster_of(&stack)
            .cli(r, &["cluster", "failover"])
            .expect("redis-cli");
        assert!(out.trim() == "OK", "CLUSTER FAILOVER: {out}");
    }
    // The replica takes over: at once when coordinated, after the node
    // timeout (2 s) and an election when its master died.
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster_of(&stack).role(r).as_deref() != Some("master") {
        assert!(Instant::now() < deadline, "replica {r} not promoted");
        // Traffic keeps coming while the cluster elects.
        traffic(&mut stack, 1, 25, Duration::from_millis(200)).await;
    }
    let promoted = at.elapsed();
    if kill {
        // The dead master comes back (a pod restarted): it rejoins as the
        // new master's replica, so WAIT 1 is satisfiable again.
        cluster_mut(&mut stack)
            .restart(m)
            .expect("old master restarts");
    }
    traffic(&mut stack, 6, 50, Duration::from_millis(300)).await;
    let total = stack.total_sent();
    let done = stack.wait_all(Duration::from_secs(180)).await;
    let (first, longest) = progress.stall_after(at, total);
    let v = stack.verify().await;
    assert!(done, "not all delivered: {v:?}\n{}", tail(&hub.log));
    if (v.duplicates, v.lost, v.out_of_order) != (0, 0, 0) {
        eprintln!("hub warnings:\n{}", warnings(&hub.log, 80));
    }
    assert_exactly_once(&v, total);
    let text = hub.metrics().await.unwrap_or_default();
    // How often a pipeline found entries a stale lease holder had read,
    // and took them back ahead of newer ones (docs/exactly-once.md, K5).
    let took_back = std::fs::read_to_string(&hub.log)
        .unwrap_or_default()
        .matches("took back entries")
        .count();
    eprintln!(
        "[failover] {}: replica promoted after {:.1} s; first delivery after it {:.1} s; \
         longest delivery stall {:.1} s; redis errors counted {}; entries taken back from a \
         stale holder {took_back} times; {total} messages exactly once",
        if kill { "SIGKILL" } else { "CLUSTER FAILOVER" },
        promoted.as_secs_f64(),
        first.as_secs_f64(),
        longest.as_secs_f64(),
        metric(&text, "switchyard_redis_errors_total", &[]),
    );
    if kill {
        // The old master is a replica now, and in sync.
        let c = cluster_of(&stack);
        let deadline = Instant::now() + Duration::from_secs(20);
        while c.role(m).as_deref() != Some("slave") {
            assert!(Instant::now() < deadline, "old master {m} did not rejoin");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_failover_under_traffic_delivers_exactly_once_in_order() {
    failover_under_traffic(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_master_killed_under_traffic_with_wait_replicas_loses_nothing() {
    failover_under_traffic(true).await;
}

/// `redis.wait_replicas` is in effect: with every replica stopped, no
/// lane append is acknowledged by one, so each origin's scanned cursor
/// stays before the first block with messages (counted as `op="wait"`
/// errors). The entries the masters took may still be delivered (a master
/// that dies before replicating them takes them along, and the cursor
/// held behind them appends them again). When the replicas return the
/// cursors move on, and every message is delivered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_replicas_holds_the_origin_cursor_until_a_replica_has_the_entries() {
    let mut stack = Stack::new(2, 2, replicated_cluster(), DISPATCH).await;
    stack.redis_extra = "wait_replicas = 1\nwait_timeout_ms = 200".into();
    let hub = stack.spawn_hub("hub");
    stack.send(20).await;
    assert!(
        stack.wait_all(Duration::from_secs(60)).await,
        "{}",
        tail(&hub.log)
    );
    let store = Store::connect(
        &stack.redis_target(),
        "rel",
        QueueKey::from_secret(QUEUE_KEY).expect("key"),
    )
    .await
    .expect("connect");
    let state = store.origin_state();
    let origins: Vec<u32> = stack.chains.iter().map(|c| c.domain).collect();
    let scanned = async |state: &switchyard::store::OriginState| {
        let mut out = Vec::new();
        for &o in &origins {
            out.push(state.scanned(o).await.expect("scanned").unwrap_or(0));
        }
        out
    };
    let moving = scanned(&state).await;
    // Every replica down: no append can be acknowledged by one.
    let replicas: Vec<usize> = {
        let c = cluster_of(&stack);
        (0..c.nodes.len())
            .filter(|&i| c.role(i).as_deref() == Some("slave"))
            .collect()
    };
    assert_eq!(replicas.len(), 3);
    for &r in &replicas {
        cluster_mut(&mut stack).kill(r);
    }
    stack.send(20).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = scanned(&state).await;
    // Blocks keep coming (anvil mines every 0.2 s): a cursor that moved
    // would be seen 3 s later.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        scanned(&state).await,
        held,
        "the cursors stay behind the unreplicated entries (before: {moving:?})\n{}",
        tail(&hub.log)
    );
    let text = hub.metrics().await.unwrap_or_default();
    assert!(
        metric(&text, "switchyard_redis_errors_total", &["op=\"wait\""]) > 0.0,
        "short WAITs are counted: {}",
        text.lines()
            .filter(|l| l.starts_with("switchyard_redis_errors_total"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    for &r in &replicas {
        cluster_mut(&mut stack)
            .restart(r)
            .expect("replica restarts");
    }
    let total = stack.total_sent();
    let done = stack.wait_all(Duration::from_secs(120)).await;
    let v = stack.verify().await;
    assert!(done, "{v:?}\n{}", tail(&hub.log));
    assert_exactly_once(&v, total);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = scanned(&state).await;
        if now.iter().zip(&held).all(|(n, h)| n > h) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "cursors did not move on: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Four hub processes on one cluster: each owns some lane shards; one is
/// killed and another started; the leases move, and every message is
/// delivered exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_hub_replicas_on_a_cluster_rebalance_when_one_dies_and_one_joins() {
    let mut stack = Stack::new(
        2,
        12,
        replicated_cluster(),
        "lane_shards = 8\nworkers = 2\nlease_ttl_ms = 1000\nmax_batch_messages = 100",
    )
    .await;
    let mut hubs: Vec<HubProc> = vec![stack.spawn_hub("h0")];
    for (k, name) in [(3, "h1"), (4, "h2"), (5, "h3")] {
        hubs.push(stack.spawn_replica(name, k));
    }
    let owned = |text: &str| metric(text, "switchyard_lane_shards_owned", &[]) as u64;
    // 2 destinations × 8 shards, split among the live hubs.
    async fn split(hubs: &[&HubProc], owned: impl Fn(&str) -> u64) -> Vec<u64> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut counts = Vec::new();
            for h in hubs {
                counts.push(owned(&h.metrics().await.unwrap_or_default()));
            }
            if counts.iter().sum::<u64>() == 16 && counts.iter().all(|&n| n >= 2) {
                return counts;
            }
            assert!(Instant::now() < deadline, "shards not split: {counts:?}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let before = split(&hubs.iter().collect::<Vec<_>>(), owned).await;
    eprintln!("[replicas] 4 hubs own {before:?}");
    // 2 routes × 12 recipients × 100 = 2,400 messages, half before the
    // change, half after.
    stack.send(50).await;
    hubs[1].kill9();
    hubs.push(stack.spawn_replica("h4", 6));
    stack.send(50).await;
    let live: Vec<&HubProc> = [0, 2, 3, 4].iter().map(|&i| &hubs[i]).collect();
    let after = split(&live, owned).await;
    eprintln!("[replicas] after h1 died and h4 joined: {after:?}");
    let total = stack.total_sent();
    let done = stack.wait_all(Duration::from_secs(180)).await;
    let v = stack.verify().await;
    assert!(done, "{v:?}\n{}", tail(&hubs[0].log));
    assert_exactly_once(&v, total);
    // The newcomer took part of the work.
    let text = hubs[4].metrics().await.unwrap_or_default();
    assert!(owned(&text) >= 2, "h4 owns shards: {}", owned(&text));
}

/// Slots move between masters while traffic flows (`redis-cli --cluster
/// reshard`: keys migrated one by one, the hub's requests answered with
/// `ASK`, `MOVED` or `TRYAGAIN` meanwhile): every message is delivered
/// exactly once, in channel order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_resharding_under_traffic_delivers_exactly_once() {
    let mut stack = Stack::new(2, 2, crate::harness::stack::cluster(), DISPATCH).await;
    let hub = stack.spawn_hub("hub");
    traffic(&mut stack, 3, 50, Duration::from_millis(300)).await;
    let (ports, ids): (Vec<u16>, Vec<String>) = {
        let c = cluster_of(&stack);
        (0..c.nodes.len())
            .map(|i| {
                (
                    c.nodes[i].proc.port,
                    c.cli(i, &["cluster", "myid"])
                        .expect("myid")
                        .trim()
                        .to_owned(),
                )
            })
            .unzip()
    };
    // Every slot of node 0 to node 1, then half of them back to node 2,
    // while the traffic goes on.
    let node0 = ids[0].clone();
    let moves = [(0usize, 1usize, 5461u32), (1, 2, 2730)];
    let reshard = tokio::task::spawn_blocking(move || {
        let cli = switchyard_localnet::procs::find_tool("redis-cli").expect("redis-cli");
        let start = Instant::now();
        for (from, to, slots) in moves {
            let out = std::process::Command::new(&cli)
                .args(["--cluster", "reshard", &format!("127.0.0.1:{}", ports[0])])
                .args(["--cluster-from", &ids[from], "--cluster-to", &ids[to]])
                .args(["--cluster-slots", &slots.to_string(), "--cluster-yes"])
                .stdin(std::process::Stdio::null())
                .output()
                .expect("redis-cli runs");
            assert!(
                out.status.success(),
                "reshard {from} -> {to}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        start.elapsed()
    });
    traffic(&mut stack, 6, 50, Duration::from_millis(300)).await;
    let took = reshard.await.expect("reshard ran");
    // Node 0 holds no slot now; nodes 1 and 2 hold them all.
    let nodes = cluster_of(&stack)
        .cli(1, &["cluster", "nodes"])
        .expect("nodes");
    let zero = nodes
        .lines()
        .find(|l| l.starts_with(&node0))
        .expect("node 0 listed");
    assert_eq!(
        zero.split_whitespace().count(),
        8,
        "node 0 keeps no slot range: {zero}"
    );
    traffic(&mut stack, 2, 50, Duration::from_millis(300)).await;
    let total = stack.total_sent();
    let done = stack.wait_all(Duration::from_secs(180)).await;
    let v = stack.verify().await;
    assert!(done, "not all delivered: {v:?}\n{}", tail(&hub.log));
    assert_exactly_once(&v, total);
    let text = hub.metrics().await.unwrap_or_default();
    eprintln!(
        "[reshard] 8,191 slot moves in {:.1} s under traffic; redis errors counted {}; {total} messages exactly once",
        took.as_secs_f64(),
        metric(&text, "switchyard_redis_errors_total", &[]),
    );
}
