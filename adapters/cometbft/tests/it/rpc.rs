//! RPC client: results parsed, pages joined, failover across endpoints.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use switchyard_cometbft::{Error, RpcClient, RpcConfig};

use crate::server::{CHAIN_ID, Node, dead, gen_block, rotating_set, serve, silent};

fn config(endpoints: Vec<String>) -> RpcConfig {
    let mut c = RpcConfig::new(endpoints);
    c.timeout = Duration::from_millis(500);
    c
}

fn node_with(blocks: impl IntoIterator<Item = switchyard_lc_cometbft::LightBlock>) -> Arc<Node> {
    let mut node = Node::default();
    for b in blocks {
        node.blocks.insert(b.height().value(), b);
    }
    Arc::new(node)
}

#[tokio::test]
async fn status_commit_and_light_block_from_one_node() {
    let blocks: Vec<_> = (1..=3)
        .map(|h| gen_block(h, &rotating_set(h), &rotating_set(h + 1), None))
        .collect();
    let node = node_with(blocks.clone());
    let rpc = RpcClient::new(config(vec![serve(node).await])).expect("client");
    let status = rpc.status().await.expect("status");
    assert_eq!(status.chain_id, CHAIN_ID);
    assert_eq!(status.latest_block_height, 3);
    // Block 2 changes the set: its next validators come from height 3.
    let lb = rpc.light_block(2).await.expect("light block");
    assert_eq!(lb.signed_header, blocks[1].signed_header);
    assert_eq!(lb.validators.hash(), blocks[1].validators.hash());
    assert_eq!(lb.next_validators.hash(), blocks[1].next_validators.hash());
}

#[tokio::test]
async fn validators_are_paginated() {
    // 25 validators, 10 a page: three pages, the last one partial.
    let vals: Vec<_> = (0..25)
        .map(|i| tendermint_testgen::Validator::new(&format!("p{i}")).voting_power(3))
        .collect();
    let b = gen_block(4, &vals, &vals, None);
    let node = node_with([b.clone()]);
    let url = serve(node.clone()).await;
    let mut c = config(vec![url]);
    c.per_page = 10;
    let rpc = RpcClient::new(c).expect("client");
    let pages = rpc.validators(4).await.expect("pages");
    let sizes: Vec<_> = pages.iter().map(|p| p.validators.len()).collect();
    assert_eq!(sizes, [10, 10, 5]);
    let lb = rpc.light_block(4).await.expect("light block");
    assert_eq!(lb.validators.hash(), b.validators.hash());
    let log = node.log.lock().expect("log").clone();
    assert!(
        log.contains(&"validators 4 page 3/10".to_owned()),
        "{log:?}"
    );
    assert!(
        !log.contains(&"validators 4 page 4/10".to_owned()),
        "{log:?}"
    );
}

#[tokio::test]
async fn a_dead_endpoint_fails_over_and_is_demoted() {
    let b = gen_block(1, &rotating_set(1), &rotating_set(1), None);
    let node = node_with([b]);
    let live = serve(node.clone()).await;
    let rpc = RpcClient::new(config(vec![dead().await, live])).expect("client");
    rpc.commit(1).await.expect("served by the live node");
    assert_eq!(rpc.failures(), vec![1, 0]);
    // Demoted: the next requests go to the live node first.
    rpc.commit(1).await.expect("again");
    rpc.status().await.expect("status");
    assert_eq!(
        rpc.failures(),
        vec![1, 0],
        "dead endpoint not retried while demoted"
    );
    assert_eq!(node.requests.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_silent_endpoint_times_out_and_is_demoted() {
    let b = gen_block(1, &rotating_set(1), &rotating_set(1), None);
    let node = node_with([b]);
    let (silent_url, connections) = silent().await;
    let rpc = RpcClient::new(config(vec![silent_url, serve(node).await])).expect("client");
    let started = std::time::Instant::now();
    rpc.commit(1)
        .await
        .expect("after the timeout, the live node");
    assert!(started.elapsed() >= Duration::from_millis(400));
    let started = std::time::Instant::now();
    rpc.commit(1).await.expect("straight to the live node");
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "no second timeout"
    );
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn all_endpoints_down_is_retryable_and_names_each() {
    let rpc = RpcClient::new(config(vec![dead().await, dead().await])).expect("client");
    let err = rpc.status().await.expect_err("nothing up");
    match &err {
        Error::AllEndpointsFailed { attempts } => assert_eq!(attempts.len(), 2),
        other => panic!("{other}"),
    }
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_node_error_or_garbage_fails_over() {
    // The first node lacks the height (JSON-RPC error), the second has it.
    let b = gen_block(5, &rotating_set(5), &rotating_set(5), None);
    let empty = serve(node_with([])).await;
    let full = serve(node_with([b])).await;
    let rpc = RpcClient::new(config(vec![empty, full])).expect("client");
    rpc.light_block(5).await.expect("from the second node");
    assert_eq!(rpc.failures(), vec![1, 0]);
}

#[test]
fn config_is_checked() {
    assert!(RpcClient::new(RpcConfig::new(vec![])).is_err());
    let mut c = RpcConfig::new(vec!["http://127.0.0.1:1".into()]);
    c.per_page = 101;
    let err = RpcClient::new(c).expect_err("page too large");
    assert!(!err.is_retryable());
}

/// An observer that records `chain method outcome` per attempt.
fn recorder() -> (
    switchyard_http::RpcObserver,
    Arc<std::sync::Mutex<Vec<String>>>,
) {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let observer: switchyard_http::RpcObserver = Arc::new(move |chain, method, outcome| {
        log.lock()
            .expect("no panic under the lock")
            .push(format!("{chain} {method} {outcome}"));
    });
    (observer, seen)
}

#[tokio::test]
async fn every_attempt_is_reported_with_its_route_and_outcome() {
    let b = gen_block(1, &rotating_set(1), &rotating_set(1), None);
    let node = node_with([b]);
    let (silent_url, _) = silent().await;
    let (observer, seen) = recorder();
    let rpc = RpcClient::new(config(vec![silent_url, dead().await, serve(node).await]))
        .expect("client")
        .with_observer("cosmos", observer);
    rpc.commit(1).await.expect("from the third endpoint");
    rpc.status().await.expect("status");
    assert_eq!(
        *seen.lock().expect("no panic under the lock"),
        [
            "cosmos commit timeout",
            "cosmos commit error",
            "cosmos commit ok",
            "cosmos status ok",
        ]
    );
}
