//! A Cosmos (CometBFT) origin end to end: a local node serving a
//! tendermint-testgen chain (real ed25519 signatures) whose app hashes
//! commit to a real IAVL outbox store, a real anvil destination with the
//! Switchyard contracts, a real redis-server, and the hub (`Hub::start`).
//! Messages written to the outbox are each delivered exactly once; a
//! tampered `abci_query` answer is never relayed and counts as a
//! rejection; the light client bisects across a replaced validator set; a
//! restarted hub resumes from Redis without re-delivering, and
//! a hub that lost its persisted state re-walks the outbox and appends
//! nothing twice.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256};
use alloy::providers::RootProvider;
use switchyard::config::Config;
use switchyard::hub::Hub;
use switchyard::metrics::stage;
use switchyard_cometbft::testkit::{self, Chain, Node, Tamper};
use switchyard_localnet::evm::received_events;
use switchyard_localnet::procs::{Anvil, RedisServer};
use switchyard_types::Message;
use tokio_util::sync::CancellationToken;

use crate::harness::net::{Chains, KeyFiles, asking_attester, attester_toml, checkpoint_of};

const COSMOS: u32 = 7_000;
const DEST: u32 = 1_000;
const QUEUE_KEY: &str = "5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c";

struct Net {
    _anvil: Anvil,
    redis: RedisServer,
    dir: tempfile::TempDir,
    node: std::sync::Arc<Node>,
    cosmos_url: String,
    anvil_url: String,
    recipient: Address,
    from_block: u64,
    config: String,
}

fn message(nonce: u32, recipient: Address) -> Message {
    Message {
        version: 3,
        nonce,
        origin: COSMOS,
        sender: B256::repeat_byte(0xc0),
        destination: DEST,
        recipient: recipient.into_word(),
        body: format!("from cosmos #{nonce}").into_bytes().into(),
    }
}

impl Net {
    async fn start() -> Self {
        Self::start_at(3600).await
    }

    /// A network whose Cosmos block 1 is `age_secs` old.
    async fn start_at(age_secs: i64) -> Self {
        let Chains {
            mut anvils,
            wallets,
            mut deployments,
        } = Chains::start(71_000, &[DEST], 0.2).await;
        let (anvil, wallet, d) = (anvils.remove(0), &wallets[0], deployments.remove(0));
        let redis = RedisServer::spawn(None).expect("redis-server starts");
        let dir = tempfile::tempdir().expect("tmp");
        let (head, checkpoint_hash) = checkpoint_of(wallet).await;
        KeyFiles::write_in(dir.path(), QUEUE_KEY);

        // The Cosmos chain: block 1 is the operator's trusted header, an
        // hour old (well inside the trusting period).
        let base = (switchyard::unix_ms() / 1000) as i64 - age_secs;
        let mut chain = Chain::new(4, base);
        chain.commit();
        let trusted_hash = chain
            .block(1)
            .expect("block 1")
            .signed_header
            .header
            .hash()
            .to_string();
        let node = Node::new(chain);
        let cosmos_url = testkit::serve(node.clone()).await;

        let p = |f: &str| dir.path().join(f).display().to_string();
        let config = format!(
            r#"attester_key = {{ file = "{attester}" }}
queue_key = {{ file = "{queue}" }}
[redis]
url = "{redis}"
key_prefix = "sy-cosmos"
[http]
listen = "127.0.0.1:0"
[dispatcher]
max_wait_ms = 50
[[chains]]
name = "dest"
domain = {DEST}
chain_id = {chain_id}
rpc_urls = ["{anvil_url}"]
trust = "single_endpoint"
mailbox = "{mailbox}"
inbox = "{inbox}"
confirmations = 1
checkpoint = {{ number = {head}, hash = "{hash}" }}
poll_interval_ms = 100
submitter_key = {{ file = "{submitter}" }}
delivery_confirmations = 1
[[cometbft_origins]]
name = "cosmos"
domain = {COSMOS}
rpc_urls = ["{cosmos_url}"]
trusted_height = 1
trusted_hash = "{trusted_hash}"
trusting_period_secs = 1209600
trust_threshold = "1/3"
clock_drift_secs = 10
poll_interval_ms = 100
rpc_timeout_ms = 2000
"#,
            attester = p("attester"),
            queue = p("queue"),
            redis = redis.url,
            chain_id = wallet.chain_id(),
            anvil_url = anvil.url,
            mailbox = d.mailbox,
            inbox = d.inbox,
            hash = checkpoint_hash,
            submitter = p("submitter"),
        );
        Self {
            anvil_url: anvil.url.clone(),
            _anvil: anvil,
            redis,
            dir,
            node,
            cosmos_url,
            recipient: d.recipient,
            from_block: head,
            config,
        }
    }

    async fn hub(&self) -> (Hub, CancellationToken) {
        let _ = &self.dir;
        let cfg = Config::from_toml(&self.config).expect("config");
        let shutdown = CancellationToken::new();
        let hub = Hub::start(cfg, shutdown.clone()).await.expect("hub starts");
        (hub, shutdown)
    }

    /// Writes `nonces` to the outbox in one block, then produces the block
    /// whose header commits them.
    /// The configured `trusted_hash` value, quoted as in the TOML.
    fn trusted_hash_value(&self) -> String {
        self.config
            .lines()
            .find_map(|l| l.strip_prefix("trusted_hash = "))
            .expect("trusted_hash line")
            .to_owned()
    }

    fn dispatch(&self, nonces: std::ops::Range<u32>) {
        let mut chain = self.node.chain.write().expect("chain lock");
        for n in nonces {
            chain.dispatch(&message(n, self.recipient));
        }
        chain.commit();
        chain.commit();
    }

    /// Bodies received by the recipient, with their counts.
    async fn received(&self) -> HashMap<Vec<u8>, usize> {
        let provider = RootProvider::new_http(self.anvil_url.parse().expect("url"));
        let mut out = HashMap::new();
        for r in received_events(&provider, self.recipient, self.from_block)
            .await
            .expect("events")
        {
            assert_eq!(r.origin, COSMOS, "origin of a delivery");
            assert_eq!(r.sender, B256::repeat_byte(0xc0), "sender of a delivery");
            *out.entry(r.body.to_vec()).or_default() += 1;
        }
        out
    }

    /// Waits until nonces `0..n` were each delivered, and checks that
    /// nothing else and nothing twice was.
    async fn wait_delivered(&self, n: u32, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let got = self.received().await;
            let want: Vec<Vec<u8>> = (0..n)
                .map(|i| message(i, self.recipient).body.to_vec())
                .collect();
            assert!(
                got.values().all(|c| *c == 1),
                "{what}: a message delivered twice: {got:?}"
            );
            assert!(
                got.keys().all(|b| want.contains(b)),
                "{what}: unexpected delivery: {got:?}"
            );
            if got.len() == n as usize {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: {} of {n} delivered after 90 s",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn rejections(hub: &Hub, reason: &str) -> u64 {
    hub.metrics
        .rejections
        .with_label_values(&["cosmos", reason])
        .get()
}

async fn stop(hub: Hub, shutdown: CancellationToken) {
    shutdown.cancel();
    hub.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cometbft_outbox_messages_are_delivered_exactly_once_and_lies_never() {
    let net = Net::start().await;
    let (hub, shutdown) = net.hub().await;

    // 1. Five messages in one block, then three more in a later one.
    net.dispatch(0..5);
    net.wait_delivered(5, "first block").await;
    net.dispatch(5..8);
    net.wait_delivered(8, "second block").await;
    assert_eq!(hub.metrics.messages_at(stage::ENQUEUED), 8);
    assert!(
        hub.metrics
            .lc_height
            .with_label_values(&["cosmos", "tip"])
            .get()
            >= 5
    );
    // The trusted header's age against the trusting period, for the
    // alert that fires before the state expires.
    let now = (switchyard::unix_ms() / 1000) as i64;
    let trusted_at = hub
        .metrics
        .lc_trusted_time
        .with_label_values(&["cosmos"])
        .get();
    assert!(
        (now - 3600..=now).contains(&trusted_at),
        "trusted header time {trusted_at}, now {now}"
    );
    assert_eq!(
        hub.metrics
            .lc_trusting_period
            .with_label_values(&["cosmos"])
            .get(),
        1_209_600
    );
    // The CometBFT RPC calls are counted with the other endpoints' calls.
    for method in ["status", "commit", "validators", "abci_query"] {
        assert!(
            hub.metrics
                .rpc
                .with_label_values(&["cosmos", method, "ok"])
                .get()
                > 0,
            "{method}: {}",
            hub.metrics.render()
        );
    }
    assert_eq!(
        hub.metrics
            .watcher_fatal
            .with_label_values(&["cosmos", "origin"])
            .get(),
        0
    );

    // The validator set is replaced at once, then ten blocks pass: a skip
    // from the trusted header lacks trust, the hub bisects (several
    // /commit requests in one sync) and goes on.
    let commits = net.node.served("/commit");
    {
        let mut chain = net.node.chain.write().expect("chain lock");
        chain.rotate_validators("rotated", 4);
        for _ in 0..10 {
            chain.commit();
        }
    }
    let tip = net.node.chain.read().expect("chain lock").latest() as i64;
    let deadline = Instant::now() + Duration::from_secs(30);
    while hub
        .metrics
        .lc_height
        .with_label_values(&["cosmos", "tip"])
        .get()
        < tip
    {
        assert!(Instant::now() < deadline, "no sync across the new set");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        net.node.served("/commit") >= commits + 3,
        "bisection: the target and pivots were fetched"
    );

    // 2. A node that changes the value of message 8, then one that proves
    // it under another store root: never relayed, counted as rejections.
    net.node.set_tamper(Some(Tamper::Value));
    let served = net.node.served("/abci_query");
    net.dispatch(8..9);
    let deadline = Instant::now() + Duration::from_secs(30);
    while rejections(&hub, "proof_invalid") == 0 {
        assert!(Instant::now() < deadline, "tampered value not refused");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    net.node.set_tamper(Some(Tamper::ForeignProof));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        net.node.served("/abci_query") >= served + 3,
        "the refused message was asked again"
    );
    // Counted once per (nonce, reason), not once per retry.
    assert_eq!(rejections(&hub, "proof_invalid"), 1);
    net.node.set_tamper(Some(Tamper::Hide));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(net.received().await.len(), 8, "nothing relayed while lying");
    assert_eq!(hub.metrics.messages_at(stage::ENQUEUED), 8);

    // Honest again: message 8 goes through, once.
    net.node.set_tamper(None);
    net.wait_delivered(9, "after the lies").await;
    stop(hub, shutdown).await;

    // 3. A restart resumes from Redis: only the new messages are walked.
    net.dispatch(9..11);
    let (hub, shutdown) = net.hub().await;
    net.wait_delivered(11, "after a restart").await;
    assert_eq!(
        hub.metrics.messages_at(stage::OBSERVED),
        2,
        "the restarted hub resumed at nonce 9"
    );
    assert_eq!(hub.metrics.messages_at(stage::ENQUEUED), 2);
    stop(hub, shutdown).await;

    // 4. Persisted state lost: the hub starts over from the checkpoint and
    // nonce 0; the lanes' cursors (height = nonce + 1) make every append a
    // no-op, so nothing is delivered twice.
    let client = redis::Client::open(net.redis.url.as_str()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let removed: u64 = redis::cmd("DEL")
        .arg(format!("sy-cosmos:{{origin:{COSMOS}}}:cometbft"))
        .query_async(&mut conn)
        .await
        .expect("DEL");
    assert_eq!(removed, 1, "the state was persisted under its key");
    let (hub, shutdown) = net.hub().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while hub.metrics.messages_at(stage::OBSERVED) < 11 {
        assert!(Instant::now() < deadline, "the outbox was not walked again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        hub.metrics.messages_at(stage::ENQUEUED),
        0,
        "re-walked messages are not appended again"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    net.wait_delivered(11, "after a re-walk").await;
    let _ = &net.cosmos_url;
    stop(hub, shutdown).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_that_does_not_match_stops_the_cometbft_watcher_visibly() {
    let mut net = Net::start().await;
    let good = net.trusted_hash_value();
    net.config = net
        .config
        .replace(&good, &format!("\"{}\"", "AB".repeat(32)));
    let (hub, shutdown) = net.hub().await;
    net.dispatch(0..2);
    let url = format!("http://{}/readyz", hub.addr);
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let r = reqwest::get(&url).await.expect("readyz");
        let body = r.text().await.expect("body");
        if body.contains("chain cosmos: stopped") {
            break body;
        }
        assert!(Instant::now() < deadline, "not reported: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(body.contains("checkpoint"), "{body}");
    // Liveness fails too, with the reason: the orchestrator restarts the
    // process rather than leave it serving without its watcher.
    let r = reqwest::get(format!("http://{}/healthz", hub.addr))
        .await
        .expect("healthz");
    assert_eq!(r.status(), 503);
    let live = r.text().await.expect("body");
    assert!(
        live.contains("chain cosmos: stopped") && live.contains("checkpoint"),
        "{live}"
    );
    assert!(
        live.contains("task watcher cosmos: ended before shutdown"),
        "{live}"
    );
    // And exported: a watcher stopped before its first round has no height
    // for a staleness alert to see.
    assert_eq!(
        hub.metrics
            .watcher_fatal
            .with_label_values(&["cosmos", "origin"])
            .get(),
        1
    );
    let text = hub.metrics.render();
    assert!(
        !text.contains("switchyard_light_client_height{chain=\"cosmos\""),
        "{text}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(net.received().await.is_empty(), "nothing relayed");
    assert_eq!(hub.metrics.messages_at(stage::OBSERVED), 0);
    stop(hub, shutdown).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_persisted_state_gives_way_to_a_newer_checkpoint_keeping_the_nonce() {
    const DAY: i64 = 24 * 3600;
    // The chain's first blocks are 20 days old; a 30-day trusting period
    // accepts them.
    let mut net = Net::start_at(20 * DAY).await;
    net.config = net.config.replace(
        "trusting_period_secs = 1209600",
        "trusting_period_secs = 2592000",
    );
    let (hub, shutdown) = net.hub().await;
    net.dispatch(0..3);
    net.wait_delivered(3, "old blocks").await;
    stop(hub, shutdown).await;

    // Twenty days later, with a 14-day trusting period: the persisted
    // header (20 days old) has expired. The operator configures a recent
    // checkpoint; the hub starts from it and from the persisted next
    // nonce.
    let checkpoint = {
        let mut chain = net.node.chain.write().expect("chain lock");
        chain.advance_time(20 * DAY - 600);
        chain.commit();
        chain.block(chain.latest()).expect("checkpoint").clone()
    };
    let old_hash = net.trusted_hash_value();
    net.config = net
        .config
        .replace(
            "trusting_period_secs = 2592000",
            "trusting_period_secs = 1209600",
        )
        .replace(
            "trusted_height = 1",
            &format!("trusted_height = {}", checkpoint.height().value()),
        )
        .replace(
            &old_hash,
            &format!("\"{}\"", checkpoint.signed_header.header.hash()),
        );
    net.dispatch(3..5);
    let (hub, shutdown) = net.hub().await;
    net.wait_delivered(5, "after the checkpoint").await;
    assert_eq!(
        hub.metrics.messages_at(stage::OBSERVED),
        2,
        "the walk resumed at the persisted nonce"
    );
    stop(hub, shutdown).await;
}

/// An independent attester following the Cosmos origin with its own
/// CometBFT light client signs what its own light client verified: the
/// Inbox's only attester key is the attester's (threshold 1), the hub holds
/// none. A lane entry forged by whoever holds the queue key, claiming a
/// Cosmos nonce the attester passed, is refused and dead-lettered, never
/// delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_attester_signs_cosmos_messages_its_own_light_client_verified_only() {
    use switchyard::store::{LaneEntry, LaneId, QueueKey, Store};
    let net = Net::start().await;
    let dir = net.dir.path();
    let token = dir.join("attester-token");
    std::fs::write(&token, "token-of-the-attester").expect("write");
    // The attester: the Inbox's attester key, no queue key, no submitter,
    // its own key prefix, the same origin and destination.
    let attester_cfg = attester_toml(&net.config, "att-cosmos", &token);
    let attester_shutdown = CancellationToken::new();
    let attester = Hub::start(
        Config::from_toml(&attester_cfg).expect("attester config"),
        attester_shutdown.clone(),
    )
    .await
    .expect("attester starts");
    let hub_cfg = asking_attester(&net.config, &format!("http://{}", attester.addr), &token);
    let shutdown = CancellationToken::new();
    let hub = Hub::start(
        Config::from_toml(&hub_cfg).expect("hub config"),
        shutdown.clone(),
    )
    .await
    .expect("hub starts");

    net.dispatch(0..5);
    net.wait_delivered(5, "signed by the attester").await;
    assert!(
        attester
            .metrics
            .attestations
            .with_label_values(&["dest", "signed"])
            .get()
            > 0,
        "{}",
        attester.metrics.render()
    );

    // Whoever holds the queue key appends a message the outbox never held,
    // at a nonce the attester's light client passed.
    let store = Store::connect(
        &switchyard::store::RedisTarget::Single(net.redis.url.clone()),
        "sy-cosmos",
        QueueKey::from_secret(QUEUE_KEY).expect("queue key"),
    )
    .await
    .expect("redis");
    let mut forged = message(1_000, net.recipient);
    forged.body = b"forged: mint to the attacker".to_vec().into();
    let appended = store
        .lanes()
        .append(
            LaneId {
                dst: DEST,
                shard: 0,
            },
            &LaneEntry {
                origin: COSMOS,
                height: 2,
                verified_at_ms: switchyard::unix_ms(),
                messages: vec![forged.encode().into()],
            },
        )
        .await
        .expect("append");
    assert!(appended, "the forged entry is in the lane");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let dead = store
            .dead_letters()
            .dead_letters(DEST, 4)
            .await
            .expect("dead letters");
        if !dead.is_empty() {
            let text = format!("{dead:?}");
            assert!(text.contains("unknown_message"), "{text}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the forged entry was not dead-lettered: {}",
            hub.metrics.render()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        attester
            .metrics
            .attestation_refusals
            .with_label_values(&["unknown_message"])
            .get()
            >= 1
    );
    // Nothing but the five honest messages was delivered, each once; the
    // ones after the forgery still are.
    net.dispatch(5..7);
    net.wait_delivered(7, "after the forged entry").await;
    stop(hub, shutdown).await;
    stop(attester, attester_shutdown).await;
}
