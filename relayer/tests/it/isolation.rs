//! One destination's trouble stays its own, with the hub as a real process
//! (`switchyard run`), real anvil chains and a real redis-server:
//! - `a_stalled_destination_...`: a chain that stops producing blocks holds
//!   back only the messages addressed to it; when it resumes, everything is
//!   delivered exactly once, in channel order; its twin does the same with
//!   the stalled chain's lane over `max_backlog_entries`, where the watcher
//!   holds back routing to that destination only;
//! - `backpressure_...`: past `max_backlog_entries` the origin's watcher
//!   stops routing to that destination (and counts the wait) instead of
//!   growing the lane; the messages
//!   it has not routed stay on the origin chain, and all arrive once the
//!   destination resumes;
//! - `a_batch_that_cannot_succeed_...`: deliveries the destination refuses
//!   (the hub's attester disabled on its Inbox) end up in the dead letters
//!   with the revert as their reason, and replaying them after the fix
//!   delivers every message exactly once.

use std::process::Command;
use std::time::{Duration, Instant};

use alloy::primitives::keccak256;
use alloy::providers::Provider;
use alloy::sol_types::SolCall;
use switchyard::metrics::sum_messages_in_text;
use switchyard::store::{Lanes, QueueKey, Store};
use switchyard_evm::attest::Attester;
use switchyard_evm::bindings::Inbox;
use switchyard_localnet::evm::ANVIL_KEYS;

use crate::harness::stack::{
    HubProc, QUEUE_KEY, Stack, assert_exactly_once, metric, single_redis, tail,
};

/// Polls `cond` every 200 ms until it holds or `timeout` passes.
async fn eventually<F, Fut>(timeout: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A→B, A→C and B→C while C produces no blocks: A→B arrives in full
/// meanwhile, and once C resumes everything arrives exactly once, in order.
/// `dispatcher` is the hub's `[dispatcher]` section.
async fn stalled_destination(dispatcher: &str) {
    let (a, b, c) = (0, 1, 2);
    let mut stack = Stack::new(3, 2, single_redis(false), dispatcher).await;
    let hub = stack.spawn_hub("hub");
    stack.set_mining(c, false).await;
    let stalled_at = stack.chains[c]
        .wallet
        .provider()
        .get_block_number()
        .await
        .expect("head");
    // Five rounds, each included before the next, so several A blocks carry
    // messages for both B and C: A's watcher and Redis serve both.
    let routes = [(a, b), (a, c), (b, c)];
    for _ in 0..5 {
        stack.send_routes(&routes, 20).await;
    }
    assert!(
        eventually(Duration::from_secs(30), || async {
            stack.received_on(b).await >= 200
        })
        .await,
        "A→B not delivered while C is stalled: {} of 200\n{}",
        stack.received_on(b).await,
        tail(&hub.log)
    );
    // Again, now that C's pipelines are full (max_in_flight unconfirmed
    // transactions each) and its lane holds the rest.
    stack.send_routes(&routes, 50).await;
    assert!(
        eventually(Duration::from_secs(30), || async {
            stack.received_on(b).await >= 300
        })
        .await,
        "A→B held back after C's pipelines filled: {} of 300\n{}",
        stack.received_on(b).await,
        tail(&hub.log)
    );
    // The stall was real: C made no block and received nothing, and its
    // messages wait in its lane.
    let head = stack.chains[c]
        .wallet
        .provider()
        .get_block_number()
        .await
        .expect("head");
    assert_eq!(head, stalled_at, "C mined while stalled");
    assert_eq!(stack.received_on(c).await, 0);
    let text = hub.metrics().await.expect("metrics");
    assert!(
        metric(&text, "switchyard_lane_backlog", &["destination=\"c2\""]) > 0.0,
        "C's messages are queued in its lane:\n{text}"
    );
    assert_eq!(stack.received_on(b).await, stack.sent_to(b), "B got more?");

    stack.set_mining(c, true).await;
    let done = stack.wait_all(Duration::from_secs(60)).await;
    let v = stack.verify().await;
    assert!(
        done,
        "not all delivered after C resumed: {v:?}\n{}",
        tail(&hub.log)
    );
    // 3 routes × 2 recipients × (5 × 20 + 50).
    assert_exactly_once(&v, 900);
}

const STALL: &str = "lane_shards = 4\nworkers = 2\nlease_ttl_ms = 1000\nmax_batch_messages = 50\nmax_in_flight = 2\nretry_base_ms = 100";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_destination_does_not_delay_another() {
    // C's lane stays far below the default max_backlog_entries (10,000).
    stalled_destination(STALL).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_over_its_backlog_limit_does_not_delay_another() {
    stalled_destination(&format!("{STALL}\nmax_backlog_entries = 3")).await;
}

/// Real backlog of destination `dst`, read from Redis (the gauge the hub
/// exports is this, refreshed every second).
async fn real_backlog(lanes: &Lanes, dst: u32, shards: u16) -> u64 {
    lanes.backlog(dst, shards, 0).await.expect("backlog").0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backpressure_throttles_the_watcher_and_the_backlog_stays_in_redis() {
    const LIMIT: u64 = 3;
    const SHARDS: u16 = 2;
    let (a, b) = (0, 1);
    let mut stack = Stack::new(
        2,
        2,
        single_redis(false),
        &format!(
            "lane_shards = {SHARDS}\nworkers = 1\nlease_ttl_ms = 1000\nmax_batch_messages = 5\nmax_in_flight = 2\nretry_base_ms = 100\nmax_backlog_entries = {LIMIT}"
        ),
    )
    .await;
    let hub = stack.spawn_hub("hub");
    let store = Store::connect(
        &stack.redis_target(),
        "rel",
        QueueKey::from_secret(QUEUE_KEY).expect("key"),
    )
    .await
    .expect("connect");
    let lanes = store.lanes();
    let dst = stack.chains[b].domain;
    stack.set_mining(b, false).await;
    // Twelve rounds, each included before the next is sent: at least twelve
    // A blocks carry messages to B, each one entry per shard it touches.
    let (mut max_gauge, mut max_real) = (0f64, 0u64);
    let mut sample = async |hub: &HubProc| {
        let text = hub.metrics().await.unwrap_or_default();
        max_gauge = max_gauge.max(metric(
            &text,
            "switchyard_lane_backlog",
            &["destination=\"c1\""],
        ));
        max_real = max_real.max(real_backlog(&lanes, dst, SHARDS).await);
    };
    let mut before_last = 0;
    for _ in 0..12 {
        before_last = stack.chains[a]
            .wallet
            .provider()
            .get_block_number()
            .await
            .expect("head");
        stack.send_routes(&[(a, b)], 5).await;
        sample(&hub).await;
    }
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        sample(&hub).await;
    }
    let text = hub.metrics().await.expect("metrics");
    let throttled = metric(
        &text,
        "switchyard_throttled_seconds_total",
        &["origin=\"c0\"", "destination=\"c1\""],
    );
    let enqueued = sum_messages_in_text(&text, "enqueued");
    let scanned = metric(
        &text,
        "switchyard_light_client_height",
        &["chain=\"c0\"", "kind=\"scanned\""],
    ) as u64;
    let sent = stack.total_sent();
    eprintln!(
        "backpressure: throttled {throttled:.1}s, backlog max gauge {max_gauge} real {max_real}, enqueued {enqueued}/{sent}, scanned {scanned}, last round after {before_last}"
    );
    assert!(
        throttled > 1.0,
        "the watcher never waited: {throttled}\n{text}"
    );
    assert!(
        max_real > LIMIT,
        "the limit was never reached (test premise): {max_real}"
    );
    // The watcher checks the backlog before every lane append and counts
    // its own appends until the monitor measures again (every second), so
    // it stops at LIMIT + 1 entries. The bound allows one block's entries
    // more (one per shard): an append that lands while the monitor is
    // reading the shards is missing from that measurement.
    let bound = LIMIT + u64::from(SHARDS);
    assert!(
        max_real <= bound && max_gauge <= bound as f64,
        "backlog not bounded near the limit {LIMIT}: real max {max_real}, gauge max {max_gauge}, bound {bound}"
    );
    // What is not in the lane was never taken off chain A: the watcher's
    // routed cursor stays below the last round's block.
    assert!(enqueued < sent, "everything enqueued despite the limit");
    assert!(
        scanned <= before_last,
        "the last round was routed (scanned {scanned}, last round after {before_last})"
    );
    assert_eq!(stack.received_on(b).await, 0);

    stack.set_mining(b, true).await;
    let done = stack.wait_all(Duration::from_secs(60)).await;
    let v = stack.verify().await;
    assert!(
        done,
        "not all delivered after B resumed: {v:?}\n{}",
        tail(&hub.log)
    );
    assert_exactly_once(&v, sent);
}

/// `switchyard dlq --config <stack config> <args>`; its stdout.
fn dlq(stack: &Stack, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("dlq")
        .arg("--config")
        .arg(stack.config_path())
        .args(args)
        .output()
        .expect("switchyard dlq runs");
    assert!(
        out.status.success(),
        "dlq {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn dead_letters(stack: &Stack, chain: &str) -> Vec<serde_json::Value> {
    dlq(stack, &["list", chain])
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

/// Sends an owner-only call to chain `ci`'s Inbox and waits for it.
async fn inbox_admin(stack: &mut Stack, ci: usize, call: impl SolCall) {
    let c = &mut stack.chains[ci];
    let h = c
        .wallet
        .send(Some(c.inbox), call.abi_encode().into(), 200_000)
        .await
        .expect("send");
    c.wallet
        .wait(h, Duration::from_secs(30))
        .await
        .expect("owner call succeeds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_cannot_succeed_is_dead_lettered_with_its_reason_and_replays_after_the_fix() {
    let (a, b) = (0, 1);
    let mut stack = Stack::new(
        2,
        2,
        single_redis(false),
        "lane_shards = 2\nworkers = 1\nlease_ttl_ms = 1000\nmax_batch_messages = 20\nmax_attempts = 3\nretry_base_ms = 50",
    )
    .await;
    let hub_attester = Attester::from_hex(ANVIL_KEYS[1], "t")
        .expect("key")
        .address();
    let other = Attester::from_hex(ANVIL_KEYS[3], "t")
        .expect("key")
        .address();
    // On B: enable another attester first (disabling must leave at least
    // `threshold` = 1), then disable the hub's.
    inbox_admin(
        &mut stack,
        b,
        Inbox::setAttesterCall {
            attester: other,
            enabled: true,
        },
    )
    .await;
    inbox_admin(
        &mut stack,
        b,
        Inbox::setAttesterCall {
            attester: hub_attester,
            enabled: false,
        },
    )
    .await;
    let hub = stack.spawn_hub("hub");
    // Both directions: 2 recipients × 30 per route; only A→B is refused.
    stack.send(30).await;
    let n = stack.sent_to(b);
    assert_eq!(n, 60);
    let dead_lettered = async |hub: &HubProc| {
        sum_messages_in_text(&hub.metrics().await.unwrap_or_default(), "dead_lettered")
    };
    let all_dead = eventually(Duration::from_secs(30), || async {
        dead_lettered(&hub).await >= n
    })
    .await;
    assert!(
        all_dead,
        "dead_lettered {} of {n}\n{}",
        dead_lettered(&hub).await,
        tail(&hub.log)
    );
    // B→A is not affected.
    assert!(
        eventually(Duration::from_secs(30), || async {
            stack.received_on(a).await >= stack.sent_to(a)
        })
        .await,
        "B→A held back by B's dead letters"
    );
    assert_eq!(
        stack.received_on(b).await,
        0,
        "delivered despite the revert"
    );

    let letters = dead_letters(&stack, "c1");
    let in_letters: u64 = letters
        .iter()
        .map(|d| d["messages"].as_u64().expect("decodes"))
        .sum();
    assert_eq!(in_letters, n, "{letters:#?}");
    // NotAttester(address): the revert data is its selector and the signer.
    let selector = alloy::primitives::hex::encode(&keccak256("NotAttester(address)")[..4]);
    let signer = alloy::primitives::hex::encode(hub_attester.as_slice());
    for d in &letters {
        let (reason, last_error) = (
            d["reason"].as_str().unwrap_or_default(),
            d["last_error"].as_str().unwrap_or_default().to_lowercase(),
        );
        // A failed simulation is not retryable (the batch itself is bad), so
        // it is given up at the first attempt, not after max_attempts.
        assert!(
            reason.starts_with("not retryable after 1 attempts"),
            "{d:#}"
        );
        assert_eq!(d["attempts"], 1, "{d:#}");
        assert!(last_error.contains("simulation reverted"), "{d:#}");
        assert!(
            last_error.contains(&selector) && last_error.contains(&signer),
            "the revert (NotAttester({hub_attester})) is not in the error: {d:#}"
        );
        assert!(
            reason.ends_with(d["last_error"].as_str().unwrap_or("?")),
            "the reason carries the last error: {d:#}"
        );
    }
    // Nothing more is counted while they sit there.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(dead_lettered(&hub).await, n);

    inbox_admin(
        &mut stack,
        b,
        Inbox::setAttesterCall {
            attester: hub_attester,
            enabled: true,
        },
    )
    .await;
    for d in &letters {
        let reference = d["reference"].as_str().expect("reference");
        let out = dlq(&stack, &["replay", "c1", reference]);
        assert!(out.contains("replayed"), "{out}");
    }
    let done = stack.wait_all(Duration::from_secs(60)).await;
    let v = stack.verify().await;
    assert!(
        done,
        "not delivered after replay: {v:?}\n{}",
        tail(&hub.log)
    );
    assert_exactly_once(&v, stack.total_sent());
    assert!(dead_letters(&stack, "c1").is_empty());
    assert_eq!(dead_lettered(&hub).await, n, "replays dead-lettered again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_inbox_refuses_fails_alone_and_the_rest_of_its_batch_is_delivered() {
    let (a, b) = (0, 1);
    let mut stack = Stack::new(
        2,
        2,
        single_redis(false),
        "lane_shards = 1\nworkers = 1\nlease_ttl_ms = 1000\nmax_batch_messages = 50\nmax_attempts = 3\nretry_base_ms = 50",
    )
    .await;
    // Route group 9000 is served by B, but B's Inbox was never told to
    // accept 9000: a batch holding one of its messages reverts whole
    // (WrongDestination) in simulation.
    stack.groups.push((9000, "round_robin", vec![b]));
    let hub = stack.spawn_hub("hub");
    stack.send_group(a, 9000, 3).await;
    stack.send(30).await;
    let good = stack.sent_to(b);
    assert_eq!(good, 60);
    let bad = 6;
    let metrics = async || hub.metrics().await.unwrap_or_default();
    let settled = eventually(Duration::from_secs(60), || async {
        stack.received_on(b).await >= good
            && sum_messages_in_text(&metrics().await, "dead_lettered") >= bad
    })
    .await;
    let text = metrics().await;
    assert!(
        settled,
        "received {} of {good}, dead-lettered {} of {bad}\n{}",
        stack.received_on(b).await,
        sum_messages_in_text(&text, "dead_lettered"),
        tail(&hub.log)
    );
    assert_eq!(stack.received_on(b).await, good, "every good message, once");
    assert_eq!(sum_messages_in_text(&text, "dead_lettered"), bad);
    let splits: f64 = text
        .lines()
        .filter(|l| l.starts_with("switchyard_batch_splits_total{"))
        .filter_map(|l| l.rsplit(" ").next()?.parse::<f64>().ok())
        .sum();
    assert!(splits >= 1.0, "the refused batch was split: {text}");
    // Every dead letter is there for the refused destination.
    let selector =
        alloy::primitives::hex::encode(&keccak256("WrongDestination(uint256,uint32,uint32)")[..4]);
    let letters = dead_letters(&stack, "c1");
    assert!(!letters.is_empty());
    for d in &letters {
        let e = d["last_error"].as_str().unwrap_or_default().to_lowercase();
        assert!(e.contains(&selector), "{d:#}");
    }
    // B→A was never held up.
    assert!(
        eventually(Duration::from_secs(30), || async {
            stack.received_on(a).await >= stack.sent_to(a)
        })
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_over_the_gas_cap_are_split_until_they_fit_and_all_deliver() {
    let b = 1;
    let mut stack = Stack::new(
        2,
        2,
        single_redis(false),
        "lane_shards = 1\nworkers = 1\nlease_ttl_ms = 1000\nmax_batch_messages = 60\nmax_attempts = 3\nretry_base_ms = 50",
    )
    .await;
    // The Inbox needs gasleft() >= the recipient's 500,000-gas stipend at
    // each call, so a batch's estimate (with the 30% margin) is about
    // 740,000 gas plus ~13,000 a message: 4 fit under 820,000, 8 and more do
    // not, and a batch of up to 60 is halved until its parts fit.
    stack.chain_extra = "max_batch_gas = 820000\n".into();
    let hub = stack.spawn_hub("hub");
    stack.send(60).await;
    let all = stack.wait_all(Duration::from_secs(90)).await;
    let v = stack.verify().await;
    let text = hub.metrics().await.unwrap_or_default();
    assert!(all, "{v:?}\n{}", tail(&hub.log));
    assert_exactly_once(&v, 240);
    assert_eq!(stack.received_on(b).await, 120);
    let splits: f64 = text
        .lines()
        .filter(|l| l.starts_with("switchyard_batch_splits_total{"))
        .filter_map(|l| l.rsplit(" ").next()?.parse::<f64>().ok())
        .sum();
    assert!(splits >= 2.0, "batches were split: {text}");
    assert_eq!(sum_messages_in_text(&text, "dead_lettered"), 0);
    // Every included transaction stayed under the cap.
    let included: f64 = text
        .lines()
        .filter(|l| {
            l.starts_with("switchyard_transactions_total{") && l.contains("outcome=\"included\"")
        })
        .filter_map(|l| l.rsplit(" ").next()?.parse::<f64>().ok())
        .sum();
    let gas: f64 = text
        .lines()
        .filter(|l| l.starts_with("switchyard_gas_used_total{"))
        .filter_map(|l| l.rsplit(" ").next()?.parse::<f64>().ok())
        .sum();
    assert!(
        included > 0.0 && gas / included < 820_000.0,
        "{gas} gas over {included} txs"
    );
}

/// Every `Inbox.deliver` call mined on chain `ci` since the stack started:
/// the encoded messages of each.
async fn deliver_calls(stack: &Stack, ci: usize) -> Vec<Vec<alloy::primitives::Bytes>> {
    use alloy::consensus::Transaction as _;
    let c = &stack.chains[ci];
    let p = c.wallet.provider();
    let head = p.get_block_number().await.expect("head");
    let mut calls = Vec::new();
    for n in c.from_block..=head {
        let block = p
            .get_block_by_number(n.into())
            .full()
            .await
            .expect("eth_getBlockByNumber")
            .expect("block exists");
        for tx in block.transactions.txns() {
            if tx.to() == Some(c.inbox)
                && let Ok(call) = Inbox::deliverCall::abi_decode(tx.input())
            {
                calls.push(call.messages);
            }
        }
    }
    calls
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_stop_at_the_byte_cap() {
    let b = 1;
    let mut stack = Stack::new(
        2,
        2,
        single_redis(false),
        "lane_shards = 1\nworkers = 1\nlease_ttl_ms = 1000\nmax_batch_messages = 500\nmax_batch_bytes = 1024",
    )
    .await;
    let hub = stack.spawn_hub("hub");
    stack.send(60).await;
    let all = stack.wait_all(Duration::from_secs(90)).await;
    let v = stack.verify().await;
    assert!(all, "{v:?}\n{}", tail(&hub.log));
    assert_exactly_once(&v, 240);
    let calls = deliver_calls(&stack, b).await;
    let sizes: Vec<usize> = calls
        .iter()
        .map(|m| m.iter().map(|x| x.len()).sum())
        .collect();
    let messages: usize = calls.iter().map(Vec::len).sum();
    assert_eq!(messages, 120, "every message to B in some deliver call");
    assert!(
        sizes.iter().all(|&s| s <= 1024),
        "a batch over 1,024 bytes of messages: {sizes:?}"
    );
    // Messages are ~140 bytes (7 to a batch): without the cap all 120 rode
    // in one 16,920-byte call.
    assert!(
        calls.len() >= 120 * 100 / 1024,
        "{} calls: {sizes:?}",
        calls.len()
    );
}
