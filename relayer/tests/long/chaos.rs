//! Chaos run: steady traffic between two anvil chains while the hub is
//! killed with SIGKILL again and again, Redis (AOF on) is restarted, the
//! preferred RPC endpoint of the origin goes away, and the destination chain
//! stops mining; then the traffic stops, everything drains, and the chains'
//! events are matched against what was sent. Prints one JSON line with the
//! figures: sent, delivered, lost, duplicated, out of order, and for each
//! fault the seconds until deliveries resumed once it was cleared.
//!
//! `CHAOS_SECONDS` sets the length of the faulty period (default 60, as CI
//! runs it); `deploy/chaos.sh` runs it longer in release mode.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::proxy::TcpForward;
use crate::harness::stack::{HubProc, Stack, single_redis, tail};

const DISPATCH: &str = "lane_shards = 4\nworkers = 2\nlease_ttl_ms = 1000\nmax_batch_messages = 250\nretry_base_ms = 100";

/// A fault, when it was cleared, and when deliveries resumed after it.
struct Fault {
    what: &'static str,
    cleared: Instant,
    received_at_clear: u64,
    resumed_after: Option<f64>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_steady_traffic_through_kills_restarts_lost_endpoints_and_paused_chains() {
    let seconds: u64 = std::env::var("CHAOS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60)
        .max(30);
    let mut stack = Stack::new(2, 3, single_redis(true), DISPATCH).await;
    // The origin's preferred endpoint is a forwarder that will go away.
    let front = TcpForward::start(&stack.chains[0].url).await;
    stack.rpc_front.insert(0, front.url());
    let mut hub: HubProc = stack.spawn_hub("hub0");
    let mut spawned = 1;
    let start = Instant::now();
    let mut faults: Vec<Fault> = Vec::new();
    let mut kills = 0u32;
    let mut tick = 0u64;
    // Fault schedule, in seconds of the run (scaled to its length).
    let at = |f: f64| (seconds as f64 * f) as u64;
    let (redis_at, rpc_down, rpc_up, pause, resume) =
        (at(0.3), at(0.45), at(0.6), at(0.65), at(0.8));
    while tick < seconds {
        // Steady traffic: 2 routes × 3 recipients × 5 a second; while the
        // destination chain is paused it cannot take dispatches either, so
        // only the other chain sends.
        let t = tick;
        if (pause..=resume).contains(&t) {
            stack.send_routes(&[(0, 1)], 5).await;
        } else {
            stack.send(5).await;
        }
        if t % 10 == 5 {
            hub.kill9();
            kills += 1;
            tokio::time::sleep(Duration::from_millis(500)).await;
            hub = stack.spawn_hub(&format!("hub{spawned}"));
            spawned += 1;
            faults.push(Fault {
                what: "hub SIGKILL",
                cleared: Instant::now(),
                received_at_clear: stack.received().await,
                resumed_after: None,
            });
        }
        if t == redis_at {
            stack.restart_redis();
            faults.push(Fault {
                what: "redis restart (AOF)",
                cleared: Instant::now(),
                received_at_clear: stack.received().await,
                resumed_after: None,
            });
        }
        if t == rpc_down {
            front.set(false);
            // The hub must fail over to the other endpoint while this one
            // is down: count from the moment it went away.
            faults.push(Fault {
                what: "origin RPC endpoint down (failover)",
                cleared: Instant::now(),
                received_at_clear: stack.received().await,
                resumed_after: None,
            });
        }
        if t == rpc_up {
            front.set(true);
        }
        if t == pause {
            stack.set_mining(1, false).await;
        }
        if t == resume {
            stack.set_mining(1, true).await;
            faults.push(Fault {
                what: "destination chain paused, then resumed",
                cleared: Instant::now(),
                received_at_clear: stack.received().await,
                resumed_after: None,
            });
        }
        tick += 1;
        // Until the next second: recovery is the first time the delivered
        // count moves after a fault was cleared (read every 100 ms).
        let next = start + Duration::from_secs(tick);
        loop {
            let received = stack.received().await;
            for f in faults.iter_mut().filter(|f| f.resumed_after.is_none()) {
                if received > f.received_at_clear {
                    f.resumed_after = Some(f.cleared.elapsed().as_secs_f64());
                }
            }
            if Instant::now() >= next {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100).min(next - Instant::now())).await;
        }
    }
    front.set(true);
    let sent = stack.total_sent();
    let deadline = Instant::now() + Duration::from_secs(240);
    while Instant::now() < deadline {
        let received = stack.received().await;
        for f in faults.iter_mut().filter(|f| f.resumed_after.is_none()) {
            if received > f.received_at_clear {
                f.resumed_after = Some(f.cleared.elapsed().as_secs_f64());
            }
        }
        if received >= sent {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let drained_after = start.elapsed().as_secs_f64() - seconds as f64;
    let v = stack.verify().await;
    let recovery: Vec<_> = faults
        .iter()
        .map(|f| json!({"fault": f.what, "resumed_after_s": f.resumed_after}))
        .collect();
    let worst = faults
        .iter()
        .filter_map(|f| f.resumed_after)
        .fold(0.0f64, f64::max);
    println!(
        "{}",
        json!({
            "chaos_seconds": seconds,
            "hub_kills": kills,
            "redis_restarts": 1,
            "sent": sent,
            "delivered": v.delivered,
            "lost": v.lost,
            "duplicated": v.duplicates,
            "out_of_order": v.out_of_order,
            "unexpected": v.unexpected,
            "drained_after_s": drained_after,
            "worst_recovery_s": worst,
            "recovery": recovery,
        })
    );
    assert_eq!(v.lost, 0, "{v:?}\n{}", tail(&hub.log));
    assert_eq!(v.duplicates, 0, "{v:?}");
    assert_eq!(v.unexpected, 0, "{v:?}");
    assert_eq!(v.delivered, sent, "{v:?}");
    assert!(
        faults.iter().all(|f| f.resumed_after.is_some()),
        "deliveries resumed after every fault"
    );
}
