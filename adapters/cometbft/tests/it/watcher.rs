//! Watcher steps over RPC: bisection to a target through a rotating
//! validator set, a forged node refused, and an outbox entry proven under
//! a verified app hash; the outbox walked by nonce over a real IAVL store
//! until an entry is proven absent, and lying answers refused.

use std::sync::Arc;
use std::time::Duration;

use switchyard_cometbft::testkit::{self, Chain, Node, Tamper};
use switchyard_cometbft::{
    Error, OutboxLookup, RpcClient, RpcConfig, fetch_outbox_message, sync_to,
};
use switchyard_lc_cometbft::outbox::outbox_key;
use switchyard_lc_cometbft::{
    LightClient, Options, SignatureBackend, TrustThreshold, TrustedState,
};
use switchyard_types::{B256, Message};

use crate::server::{Node as OneEntryNode, dead, entry, gen_block, rotating_set, serve, time_of};

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

fn node(blocks: &[switchyard_lc_cometbft::LightBlock]) -> OneEntryNode {
    let mut node = OneEntryNode::default();
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
    let key = outbox_key(12);
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
    let got = fetch_outbox_message(&rpc, &at6, ORIGIN, 12)
        .await
        .expect("proven");
    assert_eq!(got, OutboxLookup::Present(message));

    // Against another verified header (other app hash), the proof fails.
    let at7 = sync_to(&rpc, &client(), &at6, 7, time_of(20))
        .await
        .expect("synced to 7")
        .trusted;
    let err = fetch_outbox_message(&rpc, &at7, ORIGIN, 12)
        .await
        .expect_err("state 6 has no such entry in this node, and no proof");
    assert!(matches!(err, Error::LightClient(_)), "{err}");

    // A missing entry without a non-existence proof proves nothing.
    let err = fetch_outbox_message(&rpc, &at6, ORIGIN, 13)
        .await
        .expect_err("absent, unproven");
    assert!(matches!(err, Error::LightClient(_)), "{err}");
    // Wrong origin: refused by the entry check.
    let err = fetch_outbox_message(&rpc, &at6, ORIGIN + 1, 12)
        .await
        .expect_err("other origin");
    assert!(matches!(err, Error::LightClient(_)), "{err}");
}

fn message(nonce: u32) -> Message {
    Message {
        version: 3,
        nonce,
        origin: ORIGIN,
        sender: B256::repeat_byte(0x0a),
        destination: 1 + nonce % 3,
        recipient: B256::repeat_byte(0x0b),
        body: format!("message {nonce}").into_bytes().into(),
    }
}

/// A testkit chain (real IAVL store) holding nonces 0..3 from block 2 on,
/// and nonce 3 from block 4 on; synced to its tip.
async fn outbox_chain() -> (Arc<Node>, RpcClient, TrustedState, Vec<TrustedState>) {
    let mut chain = Chain::new(4, 1_700_000_000);
    chain.commit();
    for nonce in 0..3 {
        chain.dispatch(&message(nonce));
    }
    chain.commit(); // 2: executes nonces 0..3
    chain.commit(); // 3: commits them
    chain.dispatch(&message(3));
    chain.commit(); // 4
    chain.commit(); // 5: commits nonce 3
    let genesis = TrustedState::new(chain.block(1).expect("block 1").clone()).expect("genesis");
    let node = Node::new(chain);
    let url = testkit::serve(node.clone()).await;
    let rpc = RpcClient::new(RpcConfig::new(vec![url])).expect("client");
    let now = tendermint::Time::from_unix_timestamp(1_700_000_100, 0).expect("now");
    let mut at = Vec::new();
    let mut t = genesis.clone();
    for h in 2..=5 {
        t = sync_to(&rpc, &client(), &t, h, now)
            .await
            .expect("synced")
            .trusted;
        at.push(t.clone());
    }
    (node, rpc, genesis, at)
}

#[tokio::test]
async fn the_outbox_is_walked_by_nonce_until_an_entry_is_proven_absent() {
    let (_node, rpc, _, at) = outbox_chain().await;
    let (at3, at5) = (&at[1], &at[3]);
    // Header 3 commits state 2: nonces 0, 1, 2 (to three destinations),
    // then a proven gap.
    for nonce in 0..3 {
        let got = fetch_outbox_message(&rpc, at3, ORIGIN, nonce)
            .await
            .expect("present");
        assert_eq!(got, OutboxLookup::Present(message(nonce)), "nonce {nonce}");
    }
    assert_eq!(
        fetch_outbox_message(&rpc, at3, ORIGIN, 3)
            .await
            .expect("absent, proven"),
        OutboxLookup::Absent
    );
    // Past the last key (no right neighbour) and before any write.
    assert_eq!(
        fetch_outbox_message(&rpc, at3, ORIGIN, u32::MAX)
            .await
            .expect("absent, proven"),
        OutboxLookup::Absent
    );
    assert_eq!(
        fetch_outbox_message(&rpc, &at[0], ORIGIN, 0)
            .await
            .expect("header 2 commits state 1: empty outbox"),
        OutboxLookup::Absent
    );
    // Header 5 commits state 4: nonce 3 is there.
    assert_eq!(
        fetch_outbox_message(&rpc, at5, ORIGIN, 3)
            .await
            .expect("present"),
        OutboxLookup::Present(message(3))
    );
}

#[tokio::test]
async fn lying_answers_prove_nothing() {
    let (node, rpc, _, at) = outbox_chain().await;
    let at3 = &at[1];
    for lie in [Tamper::Value, Tamper::ForeignProof, Tamper::Hide] {
        node.set_tamper(Some(lie));
        let err = fetch_outbox_message(&rpc, at3, ORIGIN, 1)
            .await
            .expect_err("a lie");
        assert!(
            matches!(
                err,
                Error::LightClient(switchyard_lc_cometbft::Error::ProofInvalid { .. })
            ),
            "{lie:?}: {err}"
        );
        assert!(!err.is_retryable(), "{lie:?}");
    }
    node.set_tamper(None);
    assert_eq!(
        fetch_outbox_message(&rpc, at3, ORIGIN, 1)
            .await
            .expect("honest again"),
        OutboxLookup::Present(message(1))
    );
}

#[tokio::test]
async fn a_lying_endpoints_answer_is_replaced_by_another_endpoints() {
    let (liar, _, _, at) = outbox_chain().await;
    let chain = liar.chain.read().expect("chain").clone();
    let honest = Node::new(chain);
    let liar_url = testkit::serve(liar.clone()).await;
    let honest_url = testkit::serve(honest.clone()).await;
    let rpc = RpcClient::new(RpcConfig::new(vec![liar_url, honest_url])).expect("client");
    let at3 = &at[1];
    for lie in [Tamper::Value, Tamper::ForeignProof, Tamper::Hide] {
        liar.set_tamper(Some(lie));
        assert_eq!(
            fetch_outbox_message(&rpc, at3, ORIGIN, 1)
                .await
                .expect("the honest endpoint's answer"),
            OutboxLookup::Present(message(1)),
            "{lie:?}"
        );
    }
    // Both lying: nothing is proven.
    honest.set_tamper(Some(Tamper::Value));
    let err = fetch_outbox_message(&rpc, at3, ORIGIN, 1)
        .await
        .expect_err("every endpoint lies");
    assert!(matches!(err, Error::LightClient(_)), "{err}");
    assert!(honest.served("/abci_query") >= 4);
}
