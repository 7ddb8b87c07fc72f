//! Watcher steps over RPC: bisection to a target through a rotating
//! validator set, a forged node refused, and an outbox entry proven under
//! a verified app hash.

use std::sync::Arc;
use std::time::Duration;

use switchyard_cometbft::{Error, RpcClient, RpcConfig, fetch_outbox_message, sync_to};
use switchyard_lc_cometbft::outbox::outbox_key;
use switchyard_lc_cometbft::{
    LightClient, Options, SignatureBackend, TrustThreshold, TrustedState,
};
use switchyard_types::{B256, Message};

use crate::server::{Node, dead, entry, gen_block, rotating_set, serve, time_of};

const ORIGIN: u32 = 4_000;

fn client() -> LightClient {
    LightClient::new(
        Options {
            trust_threshold: TrustThreshold::ONE_THIRD,
            trusting_period: Duration::from_secs(3600),
            clock_drift: Duration::from_secs(5),
        },
        SignatureBackend::Batch,
    )
}

fn chain(n: u64, app_hash_at: Option<&(u64, Vec<u8>)>) -> Vec<switchyard_lc_cometbft::LightBlock> {
    (1..=n)
        .map(|h| {
            let app = app_hash_at
                .filter(|(at, _)| *at == h)
                .map(|(_, a)| a.clone());
            gen_block(h, &rotating_set(h), &rotating_set(h + 1), app)
        })
        .collect()
}

fn node(blocks: &[switchyard_lc_cometbft::LightBlock]) -> Node {
    let mut node = Node::default();
    for b in blocks {
        node.blocks.insert(b.height().value(), b.clone());
    }
    node
}

#[tokio::test]
async fn sync_bisects_over_rpc_to_the_target() {
    let blocks = chain(16, None);
    let url = serve(Arc::new(node(&blocks))).await;
    let rpc = RpcClient::new(RpcConfig::new(vec![dead().await, url])).expect("client");
    let trusted = TrustedState::new(blocks[0].clone()).expect("genesis");
    let out = sync_to(&rpc, &client(), &trusted, 16, time_of(20))
        .await
        .expect("synced");
    // The provider id is not part of what is verified.
    assert_eq!(out.trusted.block().signed_header, blocks[15].signed_header);
    assert_eq!(out.trusted.hash(), blocks[15].signed_header.header.hash());
    assert_eq!(&out.fetched[..3], &[16, 8, 4], "target, then pivots");
    assert_eq!(trusted.height(), 1, "the caller's state is untouched");
}

#[tokio::test]
async fn a_node_serving_a_forged_pivot_is_refused() {
    let mut blocks = chain(16, None);
    blocks[7].signed_header.header.app_hash =
        tendermint::AppHash::try_from(vec![0xee; 32]).expect("app hash");
    let url = serve(Arc::new(node(&blocks))).await;
    let rpc = RpcClient::new(RpcConfig::new(vec![url])).expect("client");
    let trusted = TrustedState::new(blocks[0].clone()).expect("genesis");
    let err = sync_to(&rpc, &client(), &trusted, 16, time_of(20))
        .await
        .expect_err("forged block 8");
    match &err {
        Error::LightClient(switchyard_lc_cometbft::Error::Invalid { height: 8, .. }) => {}
        other => panic!("{other}"),
    }
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_forged_block_from_one_endpoint_is_replaced_by_another_endpoints() {
    let honest = chain(16, None);
    let mut forged = honest.clone();
    forged[7].signed_header.header.app_hash =
        tendermint::AppHash::try_from(vec![0xee; 32]).expect("app hash");
    // The preferred endpoint lies about block 8; the second is honest.
    let liar = serve(Arc::new(node(&forged))).await;
    let good = serve(Arc::new(node(&honest))).await;
    let rpc = RpcClient::new(RpcConfig::new(vec![liar, good])).expect("client");
    let trusted = TrustedState::new(honest[0].clone()).expect("genesis");
    let out = sync_to(&rpc, &client(), &trusted, 16, time_of(20))
        .await
        .expect("synced through the honest endpoint's block 8");
    assert_eq!(out.trusted.hash(), honest[15].signed_header.header.hash());
    assert_eq!(&out.fetched[..4], &[16, 8, 8, 4], "8 asked again");
}

#[tokio::test]
async fn an_outbox_entry_is_proven_under_the_next_headers_app_hash() {
    let message = Message {
        version: 3,
        nonce: 12,
        origin: ORIGIN,
        sender: B256::repeat_byte(0x0a),
        destination: 1,
        recipient: B256::repeat_byte(0x0b),
        body: b"from cosmos".to_vec().into(),
    };
    let key = outbox_key(1, 12);
    // Written at state height 5, committed in header 6.
    let (e, app_hash) = entry(5, &key, &message.encode());
    let blocks = chain(8, Some(&(6, app_hash)));
    let mut n = node(&blocks);
    n.entry = Some(e);
    let url = serve(Arc::new(n)).await;
    let rpc = RpcClient::new(RpcConfig::new(vec![url])).expect("client");
    let trusted = TrustedState::new(blocks[0].clone()).expect("genesis");
    let at6 = sync_to(&rpc, &client(), &trusted, 6, time_of(20))
        .await
        .expect("synced to 6")
        .trusted;
    let got = fetch_outbox_message(&rpc, &at6, ORIGIN, 1, 12)
        .await
        .expect("proven");
    assert_eq!(got, message);

    // Against another verified header (other app hash), the proof fails.
    let at7 = sync_to(&rpc, &client(), &at6, 7, time_of(20))
        .await
        .expect("synced to 7")
        .trusted;
    let err = fetch_outbox_message(&rpc, &at7, ORIGIN, 1, 12)
        .await
        .expect_err("state 6 has no such entry in this node");
    assert!(matches!(err, Error::Query { .. }), "{err}");

    // A missing entry is reported, not proven.
    let err = fetch_outbox_message(&rpc, &at6, ORIGIN, 1, 13)
        .await
        .expect_err("absent");
    assert!(err.to_string().contains("no outbox entry"), "{err}");
    // Wrong origin: refused by the entry check.
    let err = fetch_outbox_message(&rpc, &at6, ORIGIN + 1, 1, 12)
        .await
        .expect_err("other origin");
    assert!(matches!(err, Error::LightClient(_)), "{err}");
}
