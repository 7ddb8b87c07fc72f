//! Adversarial inputs: an origin RPC endpoint that lies (tampered receipts,
//! headers that do not hash or do not link), Dispatch logs that are not what
//! they claim, and a Redis that is not there yet. Each test proves that nothing
//! unverified reaches a destination and that the hub recovers, delivering
//! every genuine message exactly once, as soon as honest data comes back.
//!
//! The lying endpoint is a small JSON-RPC proxy in front of the real anvil:
//! it forwards every request and, in a tampering mode, rewrites the answers
//! to one method. The hub's light client is the only thing standing between
//! those answers and the destination chain.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, Bytes, keccak256};
use switchyard::config::{
    ChainConfig, CheckpointConfig, Config, DispatcherConfig, HttpConfig, LogConfig, RedisConfig,
    SecretRef,
};
use switchyard::hub::Hub;
use switchyard::metrics::stage;
use switchyard_evm::bindings::TestRecipient;
use switchyard_lc_evm::DISPATCH_TOPIC;
use switchyard_localnet::evm::{Deployment, dispatch_many_calldata, received_events};
use switchyard_localnet::procs::{RedisServer, find_tool, free_port};
use switchyard_types::Message;
use tokio_util::sync::CancellationToken;

const ORIGIN: u32 = 1000;
const DESTINATION: u32 = 2000;
const ORIGIN_NAME: &str = "alpha";
const DESTINATION_NAME: &str = "beta";
/// anvil block time, seconds.
const BLOCK_TIME: f64 = 0.25;
/// How long a test waits for something that should happen.
const PATIENCE: Duration = Duration::from_secs(60);

use crate::harness::net::{Chains, KeyFiles};
use crate::harness::proxy::*;

// ----- the chains, the hub -----

/// Two anvil chains (origin, destination) with the contracts deployed.
struct Net {
    chains: Chains,
    keys: KeyFiles,
    _dir: tempfile::TempDir,
}

impl Net {
    async fn start(chain_id_base: u64) -> Self {
        init_logs();
        let chains = Chains::start(chain_id_base, &[ORIGIN, DESTINATION], BLOCK_TIME).await;
        let dir = tempfile::tempdir().expect("temp dir");
        let keys = KeyFiles::write_in(
            dir.path(),
            &hex::encode(keccak256(format!("queue key {chain_id_base}"))),
        );
        Self {
            chains,
            keys,
            _dir: dir,
        }
    }

    fn origin(&self) -> &Deployment {
        &self.chains.deployments[0]
    }

    fn destination(&self) -> &Deployment {
        &self.chains.deployments[1]
    }

    /// The latest block of chain `i`, as a trusted checkpoint.
    async fn checkpoint(&self, i: usize) -> CheckpointConfig {
        let (number, hash) = self.chains.checkpoint(i).await;
        CheckpointConfig { number, hash }
    }

    /// The hub's configuration: the origin read through `origin_rpc`, its
    /// messages taken from `origin_mailbox`; the destination read directly.
    async fn config(&self, origin_rpc: &str, origin_mailbox: Address, redis_url: &str) -> Config {
        let chain = |i: usize, name: &str, domain, rpc: &str, mailbox, checkpoint| ChainConfig {
            name: name.to_owned(),
            domain,
            chain_id: self.chains.anvils[i].chain_id,
            rpc_urls: vec![rpc.to_owned()],
            mailbox,
            inbox: Some(self.chains.deployments[i].inbox),
            confirmations: 1,
            checkpoint: Some(checkpoint),
            poll_interval_ms: 100,
            rpc_timeout_ms: 5_000,
            submitter_key: Some(SecretRef::file(&self.keys.submitter)),
            delivery_confirmations: 1,
            max_fee_gwei: 500,
            max_batch_gas: 15_000_000,
            extra_submitter_keys: Vec::new(),
            low_balance_eth: 0.1,
            replace_after_ms: 30_000,
            replacement_fee_percent: 125,
            beacon: None,
            // A local chain read through one endpoint: trusted by choice.
            trust: switchyard::config::HeaderTrust::SingleEndpoint,
            min_agreeing_endpoints: None,
            allow_header_chain_on_public_network: false,
            rollup: None,
            max_response_bytes: switchyard_evm::rpc::DEFAULT_MAX_RESPONSE_BYTES,
        };
        Config {
            role: switchyard::config::Role::All,
            redis: RedisConfig {
                url: redis_url.to_owned(),
                key_prefix: format!("sy-bad-{}", self.chains.anvils[0].chain_id),
                cluster_nodes: Vec::new(),
                wait_replicas: 0,
                wait_timeout_ms: 1000,
            },
            tls: switchyard::config::TlsConfig::default(),
            http: HttpConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                ..HttpConfig::default()
            },
            log: LogConfig::default(),
            attester_key: Some(SecretRef::file(&self.keys.attester)),
            queue_key: Some(SecretRef::file(&self.keys.queue)),
            accepted_queue_keys: Vec::new(),
            admin_token: None,
            accepted_admin_tokens: Vec::new(),
            status: switchyard::config::StatusConfig::default(),
            dispatcher: DispatcherConfig::default(),
            attesters: Vec::new(),
            attestation: switchyard::config::AttestationConfig::default(),
            chains: vec![
                chain(
                    0,
                    ORIGIN_NAME,
                    ORIGIN,
                    origin_rpc,
                    origin_mailbox,
                    self.checkpoint(0).await,
                ),
                chain(
                    1,
                    DESTINATION_NAME,
                    DESTINATION,
                    &self.chains.anvils[1].url,
                    self.destination().mailbox,
                    self.checkpoint(1).await,
                ),
            ],
            route_groups: Vec::new(),
            cometbft_origins: Vec::new(),
        }
    }

    /// Dispatches `bodies` origin → destination in one transaction through the
    /// real Mailbox; returns the block that holds them.
    async fn dispatch(&mut self, bodies: &[Bytes]) -> u64 {
        let data =
            dispatch_many_calldata(DESTINATION, self.destination().recipient, bodies.to_vec());
        let mailbox = self.origin().mailbox;
        let gas = 3_000_000 + 40_000 * bodies.len() as u64;
        let hash = self.chains.wallets[0]
            .send(Some(mailbox), data, gas)
            .await
            .expect("dispatch is sent");
        let receipt = self.chains.wallets[0]
            .wait(hash, PATIENCE)
            .await
            .expect("dispatch is mined");
        receipt.block_number.expect("mined receipt has a block")
    }

    /// `TestRecipient.received()` on the destination.
    async fn received(&self) -> u64 {
        let r = TestRecipient::new(
            self.destination().recipient,
            self.chains.wallets[1].provider().clone(),
        );
        let n = r.received().call().await.expect("received() is readable");
        u64::try_from(n).expect("a small count")
    }

    /// Bodies of every `Received` event on the destination, with how many
    /// times each was delivered; checks every one came from the origin's
    /// traffic sender.
    async fn delivered_bodies(&self, sender: Address) -> BTreeMap<Bytes, u32> {
        let events = received_events(
            self.chains.wallets[1].provider(),
            self.destination().recipient,
            self.destination().block,
        )
        .await
        .expect("Received events");
        let mut out = BTreeMap::new();
        for ev in events {
            assert_eq!(ev.origin, ORIGIN, "{ev:?}");
            assert_eq!(ev.sender, sender.into_word(), "{ev:?}");
            *out.entry(ev.body).or_default() += 1;
        }
        out
    }

    /// Waits until the destination has received `n` messages.
    async fn wait_received(&self, n: u64) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let got = self.received().await;
            if got >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "only {got} of {n} messages delivered after {PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn bodies(tag: &str, n: usize) -> Vec<Bytes> {
    (0..n)
        .map(|i| Bytes::from(format!("bad-input {tag} #{i}: a genuine message").into_bytes()))
        .collect()
}

fn rejections(hub: &Hub, reason: &str) -> u64 {
    hub.metrics
        .rejections
        .with_label_values(&[ORIGIN_NAME, reason])
        .get()
}

fn light_client_height(hub: &Hub, kind: &str) -> i64 {
    hub.metrics
        .lc_height
        .with_label_values(&[ORIGIN_NAME, kind])
        .get()
}

/// Waits until the hub counted a refusal of the origin's evidence for `reason`.
async fn wait_rejection(hub: &Hub, reason: &str) {
    let deadline = Instant::now() + PATIENCE;
    while rejections(hub, reason) == 0 {
        assert!(
            Instant::now() < deadline,
            "no {reason} rejection counted after {PATIENCE:?}:\n{}",
            hub.metrics.render()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the hub routed a block past its checkpoint (it follows the
/// origin chain).
async fn wait_following(hub: &Hub) {
    let deadline = Instant::now() + PATIENCE;
    while light_client_height(hub, "scanned") == 0 {
        assert!(
            Instant::now() < deadline,
            "the hub does not follow the origin"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Nothing from the origin was verified, enqueued or delivered.
async fn assert_nothing_relayed(net: &Net, hub: &Hub, block: u64, what: &str) {
    assert_eq!(net.received().await, 0, "{what}: a message was delivered");
    for st in [stage::VERIFIED, stage::ENQUEUED, stage::SUBMITTED] {
        assert_eq!(
            hub.metrics.messages_at(st),
            0,
            "{what}: stage {st}\n{}",
            hub.metrics.render()
        );
    }
    // The block is held back, not skipped.
    let scanned = light_client_height(hub, "scanned");
    assert!(
        scanned < block as i64,
        "{what}: block {block} was passed (scanned {scanned})"
    );
}

/// Every body in `sent` delivered exactly once, and nothing else.
async fn assert_delivered_exactly_once(net: &Net, hub: &Hub, sent: &[Bytes]) {
    net.wait_received(sent.len() as u64).await;
    // Anything wrongly relayed twice or forged would show up by now.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let delivered = net.delivered_bodies(net.chains.wallets[0].address()).await;
    let expected: BTreeMap<Bytes, u32> = sent.iter().map(|b| (b.clone(), 1)).collect();
    assert_eq!(delivered, expected, "every genuine body exactly once");
    assert_eq!(net.received().await, sent.len() as u64);
    assert_eq!(hub.metrics.messages_at(stage::ENQUEUED), sent.len() as u64);
    assert_eq!(hub.metrics.messages_at(stage::REJECTED), 0);
}

/// Hub logs on the test's output when `RUST_LOG` is set (e.g.
/// `RUST_LOG=switchyard=debug`).
fn init_logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

async fn stop(hub: Hub, shutdown: CancellationToken) {
    shutdown.cancel();
    hub.join().await;
}

// ----- the tests -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_receipt_is_never_relayed() {
    let mut net = Net::start(51_000).await;
    let redis = RedisServer::spawn(None).expect("redis-server starts");
    let proxy = Proxy::start(
        &net.chains.anvils[0].url,
        net.origin().mailbox,
        TAMPER_RECEIPTS,
    )
    .await;
    let cfg = net
        .config(&proxy.url, net.origin().mailbox, &redis.url)
        .await;
    let shutdown = CancellationToken::new();
    let hub = Hub::start(cfg, shutdown.clone()).await.expect("hub starts");

    let sent = bodies("receipts", 20);
    let block = net.dispatch(&sent).await;
    wait_rejection(&hub, "receipts_root_mismatch").await;
    // Several retries of the block happen meanwhile (backoff from 200 ms).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        proxy.tampered() >= 2,
        "the block was retried while tampered"
    );
    assert_nothing_relayed(&net, &hub, block, "receipts tampered").await;

    proxy.set_mode(HONEST);
    assert_delivered_exactly_once(&net, &hub, &sent).await;
    assert!(light_client_height(&hub, "scanned") >= block as i64);
    // Counted once per (height, reason), not once per retry.
    let refused = rejections(&hub, "receipts_root_mismatch");
    assert!(
        (1..=2).contains(&refused),
        "receipts_root_mismatch counted {refused} times for one block"
    );
    stop(hub, shutdown).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_that_does_not_link_is_never_relayed() {
    let mut net = Net::start(52_000).await;
    let redis = RedisServer::spawn(None).expect("redis-server starts");
    let proxy = Proxy::start(
        &net.chains.anvils[0].url,
        net.origin().mailbox,
        TAMPER_EXTRA_DATA,
    )
    .await;
    let cfg = net
        .config(&proxy.url, net.origin().mailbox, &redis.url)
        .await;
    let shutdown = CancellationToken::new();
    let hub = Hub::start(cfg, shutdown.clone()).await.expect("hub starts");

    // Dispatch once the hub follows the chain (tip one block above what it
    // routed), so a refused link also exercises the watcher's rewind.
    wait_following(&hub).await;
    let sent = bodies("header", 10);
    let block = net.dispatch(&sent).await;

    // 1. A header whose content does not hash to the hash claimed for it.
    wait_rejection(&hub, "hash_mismatch").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_nothing_relayed(&net, &hub, block, "extraData tampered").await;

    // 2. A self-consistent forged header (the hash claimed is its hash) that
    // does not link to its parent.
    proxy.set_mode(FORGE_PARENT);
    wait_rejection(&hub, "parent_mismatch").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_nothing_relayed(&net, &hub, block, "parentHash forged").await;

    // 3. A self-consistent forged header that links to its parent: the light
    // client takes it as its (unconfirmed) tip, and the next honest header
    // does not link to it. The forged block must never become confirmed.
    proxy.set_mode(FORGE_EXTRA_DATA);
    let deadline = Instant::now() + PATIENCE;
    while rejections(&hub, "parent_mismatch") < 2 {
        assert!(
            Instant::now() < deadline,
            "the header after a forged one was not refused:\n{}",
            hub.metrics.render()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_nothing_relayed(&net, &hub, block, "extraData forged, hash recomputed").await;

    proxy.set_mode(HONEST);
    assert_delivered_exactly_once(&net, &hub, &sent).await;
    // Once per (height, reason): hash_mismatch at the block, parent_mismatch
    // at the block (phase 2) and at the one after it (phase 3).
    assert_eq!(rejections(&hub, "hash_mismatch"), 1);
    assert_eq!(rejections(&hub, "parent_mismatch"), 2);
    assert!(proxy.tampered() >= 3);
    stop(hub, shutdown).await;
}

/// The hub's `/readyz` body.
async fn readyz(hub: &Hub) -> String {
    reqwest::get(format!("http://{}/readyz", hub.addr))
        .await
        .expect("readyz answers")
        .text()
        .await
        .expect("readyz body")
}

/// Header-chain mode with a quorum of two endpoints; the first (preferred,
/// feeding the light client) turns liar and serves a self-consistent forged
/// branch with forged Dispatch logs, claiming a higher head. The honest
/// endpoint does not vouch for it: nothing forged is delivered, the dispute
/// is counted once and held on /readyz, genuine messages wait (none lost),
/// and relaying resumes when the endpoints agree again. With the quorum
/// removed (`trust = "single_endpoint"`) the forged messages are delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_branch_from_one_endpoint_is_never_relayed() {
    let mut net = Net::start(55_000).await;
    let redis = RedisServer::spawn(None).expect("redis-server starts");
    let proxy = Proxy::start(&net.chains.anvils[0].url, net.origin().mailbox, HONEST).await;
    let mut cfg = net
        .config(&proxy.url, net.origin().mailbox, &redis.url)
        .await;
    cfg.chains[0].rpc_urls = vec![proxy.url.clone(), net.chains.anvils[0].url.clone()];
    cfg.chains[0].trust = switchyard::config::HeaderTrust::Quorum;
    cfg.chains[0].min_agreeing_endpoints = Some(2);
    let shutdown = CancellationToken::new();
    let hub = Hub::start(cfg, shutdown.clone()).await.expect("hub starts");
    wait_following(&hub).await;
    assert_eq!(
        hub.metrics
            .trust_mode
            .with_label_values(&[ORIGIN_NAME, "header_chain_quorum"])
            .get(),
        1
    );

    // While the endpoints agree, messages flow.
    let first = bodies("quorum before", 10);
    let template = net.dispatch(&first).await;
    net.wait_received(10).await;

    // The preferred endpoint turns liar.
    proxy.forge(forge_branch(&net.chains.anvils[0].url, net.origin().mailbox, template).await);
    let second = bodies("quorum during", 10);
    net.dispatch(&second).await;
    wait_rejection(&hub, "endpoint_disagreement").await;
    let held = readyz(&hub).await;
    assert!(
        held.contains("routing held") && held.contains("endpoints disagree"),
        "/readyz: {held}"
    );
    // Rounds go on meanwhile; the forged branch is served again and again.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(proxy.tampered() >= 3, "the liar was asked");
    assert_eq!(net.received().await, 10, "nothing past the agreed block");
    assert_eq!(hub.metrics.messages_at(stage::ENQUEUED), 10);
    assert_eq!(
        rejections(&hub, "endpoint_disagreement"),
        1,
        "one dispute, counted once"
    );

    // The endpoints agree again: the genuine messages held back are
    // delivered, each once; the forged ones never.
    proxy.set_mode(HONEST);
    let mut sent = first;
    sent.extend(second);
    assert_delivered_exactly_once(&net, &hub, &sent).await;
    assert!(!readyz(&hub).await.contains("routing held"));
    assert_eq!(rejections(&hub, "endpoint_disagreement"), 1);
    stop(hub, shutdown).await;
}

/// A hub whose destination chain is read through a lying `proxy` (listed
/// first, so preferred) and the honest node.
async fn hub_with_lying_destination(
    net: &Net,
    redis: &RedisServer,
    proxy: &Proxy,
) -> (Hub, CancellationToken) {
    let mut cfg = net
        .config(&net.chains.anvils[0].url, net.origin().mailbox, &redis.url)
        .await;
    cfg.chains[1].rpc_urls = vec![proxy.url.clone(), net.chains.anvils[1].url.clone()];
    let shutdown = CancellationToken::new();
    let hub = Hub::start(cfg, shutdown.clone()).await.expect("hub starts");
    wait_following(&hub).await;
    (hub, shutdown)
}

/// The destination's preferred endpoint swallows every delivery
/// transaction and answers with a successful receipt in a real block. The
/// other endpoint holds that block without the transaction: the batch is not
/// acknowledged but sent again through it, and every message is delivered
/// once; none is lost or dead-lettered. Acknowledging on the liar's receipt
/// loses them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fake_delivery_receipt_loses_nothing() {
    let mut net = Net::start(56_000).await;
    let redis = RedisServer::spawn(None).expect("redis-server starts");
    let proxy = Proxy::start(
        &net.chains.anvils[1].url,
        net.origin().mailbox,
        FAKE_RECEIPTS,
    )
    .await;
    let (hub, shutdown) = hub_with_lying_destination(&net, &redis, &proxy).await;
    let sent = bodies("fake receipt", 20);
    net.dispatch(&sent).await;
    assert_delivered_exactly_once(&net, &hub, &sent).await;
    assert!(
        proxy.tampered() >= 2,
        "a transaction was swallowed and its receipt faked"
    );
    assert_eq!(hub.metrics.messages_at(stage::DEAD_LETTERED), 0);
    stop(hub, shutdown).await;
}

/// The destination's preferred endpoint says every delivery reverts in
/// simulation. Another endpoint simulates it fine: no batch is split into
/// dead letters on that word; every message is delivered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fake_simulation_revert_dead_letters_nothing() {
    let mut net = Net::start(57_000).await;
    let redis = RedisServer::spawn(None).expect("redis-server starts");
    let proxy = Proxy::start(&net.chains.anvils[1].url, net.origin().mailbox, FAKE_REVERT).await;
    let (hub, shutdown) = hub_with_lying_destination(&net, &redis, &proxy).await;
    let sent = bodies("fake revert", 20);
    net.dispatch(&sent).await;
    assert_delivered_exactly_once(&net, &hub, &sent).await;
    assert!(
        proxy.tampered() >= 1,
        "a simulation was answered with a revert"
    );
    assert_eq!(hub.metrics.messages_at(stage::DEAD_LETTERED), 0);
    stop(hub, shutdown).await;
}

// ----- the beacon gate, with the test as the beacon watcher -----

/// An origin watcher as the hub runs it with a beacon anchor, except that
/// the test publishes the finalized execution blocks (what the beacon
/// watcher does after verifying sync-committee signatures).
struct AnchoredWatcher {
    anchor: tokio::sync::watch::Sender<Option<switchyard_lc_evm::BlockRef>>,
    metrics: switchyard::metrics::Metrics,
    health: Arc<switchyard::health::Health>,
    backlog: Arc<switchyard::backlog::BacklogView>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl AnchoredWatcher {
    /// Watches the origin through `rpc` from `checkpoint`, routing to the
    /// destination's lanes in `redis`.
    async fn start(
        net: &Net,
        redis: &RedisServer,
        rpc: &str,
        checkpoint: CheckpointConfig,
    ) -> Self {
        use switchyard::store::{QueueKey, RedisTarget, Store};
        let cfg = net.config(rpc, net.origin().mailbox, &redis.url).await;
        let key = std::fs::read_to_string(&net.keys.queue).expect("queue key");
        let store = Store::connect(
            &RedisTarget::Single(redis.url.clone()),
            &cfg.redis.key_prefix,
            QueueKey::from_secret(key.trim()).expect("queue key"),
        )
        .await
        .expect("redis connects");
        let metrics = switchyard::metrics::Metrics::new();
        let health = Arc::new(switchyard::health::Health::default());
        let backlog = Arc::new(switchyard::backlog::BacklogView::default());
        let router = Arc::new(switchyard::route::Router::from_config(&cfg));
        let pool = switchyard_evm::rpc::RpcPool::new(
            ORIGIN_NAME,
            &[rpc.to_owned()],
            switchyard_evm::rpc::RpcPolicy::default(),
        )
        .expect("rpc pool");
        let spec = switchyard::origin::evm::OriginSpec {
            name: ORIGIN_NAME.to_owned(),
            domain: ORIGIN,
            mailbox: net.origin().mailbox,
            confirmations: 1,
            checkpoint: Some(switchyard_lc_evm::BlockRef {
                number: checkpoint.number,
                hash: checkpoint.hash,
            }),
            poll: Duration::from_millis(100),
            header_lead: switchyard::origin::evm::header_lead(1),
            quorum: 1,
        };
        let (anchor, rx) = tokio::sync::watch::channel(None);
        let route = switchyard::route::RouteStage::new(
            ORIGIN_NAME,
            ORIGIN,
            store.lanes(),
            store.origin_state(),
            router,
            Arc::clone(&backlog),
            metrics.clone(),
            10,
        );
        let watcher = switchyard::origin::evm::Watcher::new(
            spec,
            switchyard_evm::source::EvmSource::new(pool),
            store.origin_state(),
            route,
            metrics.clone(),
            Arc::clone(&health),
        )
        .with_anchor(rx);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(watcher.run(shutdown.child_token()));
        Self {
            anchor,
            metrics,
            health,
            backlog,
            shutdown,
            task,
        }
    }

    fn height(&self, kind: &str) -> u64 {
        u64::try_from(
            self.metrics
                .lc_height
                .with_label_values(&[ORIGIN_NAME, kind])
                .get(),
        )
        .unwrap_or(0)
    }

    /// Waits until the watcher's height of `kind` reaches `at_least`.
    async fn wait_height(&self, kind: &str, at_least: u64, patience: Duration) {
        let deadline = Instant::now() + patience;
        while self.height(kind) < at_least {
            assert!(
                Instant::now() < deadline,
                "{kind} height {} did not reach {at_least} in {patience:?}:\n{}",
                self.height(kind),
                self.metrics.render()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Publishes block `number` of chain `url` as finalized.
    async fn finalize(&self, url: &str, number: u64) {
        let block = rpc(
            url,
            "eth_getBlockByNumber",
            serde_json::json!([format!("0x{number:x}"), false]),
        )
        .await;
        let hash: B256 = block["hash"].as_str().expect("hash").parse().expect("B256");
        self.anchor
            .send(Some(switchyard_lc_evm::BlockRef { number, hash }))
            .expect("the watcher listens");
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}

/// The current block number of chain `url`.
async fn head_of(url: &str) -> u64 {
    let h = rpc(url, "eth_blockNumber", serde_json::json!([])).await;
    u64::from_str_radix(
        h.as_str().and_then(|h| h.strip_prefix("0x")).expect("hex"),
        16,
    )
    .expect("number")
}

/// The rewind-then-forge attack on the beacon gate: while routing waits
/// (backpressure keeps the routed cursor below the gate), the endpoint
/// serves a branch forking below the gate with forged Dispatch logs. The
/// light client never rewinds below the gate, so the forged blocks never
/// replace gated ones: only the genuine messages are routed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_branch_forked_below_the_beacon_gate_is_never_routed() {
    let mut net = Net::start(58_000).await;
    let redis = RedisServer::spawn(None).expect("redis-server starts");
    let proxy = Proxy::start(&net.chains.anvils[0].url, net.origin().mailbox, HONEST).await;
    let checkpoint = net.checkpoint(0).await;
    let w = AnchoredWatcher::start(&net, &redis, &proxy.url, checkpoint).await;
    // Backpressure: the destination's lane looks full, nothing is routed.
    w.backlog.set(DESTINATION, 1_000);

    let sent = bodies("gate", 5);
    let d = net.dispatch(&sent).await;
    w.wait_height("tip", d + 4, PATIENCE).await;
    // The beacon chain finalizes a block above the genuine messages.
    let finalized = w.height("tip") - 1;
    w.finalize(&net.chains.anvils[0].url, finalized).await;
    w.wait_height("gated", finalized, PATIENCE).await;
    assert!(w.height("scanned") < d, "routing still waits");

    // The endpoint rewinds: a branch forking just above the genuine block,
    // below the gate, its first block carrying forged copies of them.
    let mut branch = forge_branch(&net.chains.anvils[0].url, net.origin().mailbox, d).await;
    branch.fork = d + 1;
    branch.fork_hash = rpc(
        &net.chains.anvils[0].url,
        "eth_getBlockByNumber",
        serde_json::json!([format!("0x{:x}", d + 1), false]),
    )
    .await["hash"]
        .as_str()
        .expect("hash")
        .parse()
        .expect("B256");
    proxy.forge(branch);
    let deadline = Instant::now() + PATIENCE;
    while w
        .metrics
        .rejections
        .with_label_values(&[ORIGIN_NAME, "parent_mismatch"])
        .get()
        == 0
    {
        assert!(
            Instant::now() < deadline,
            "the forged branch was not served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Routing goes on: only what the gate vouched for (while the liar keeps
    // serving its branch, the light client stays at the gate, so the gated
    // block itself is short of its confirmation depth: up to the one below).
    w.backlog.set(DESTINATION, 0);
    w.wait_height("scanned", finalized - 1, PATIENCE).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        w.metrics.messages_at(stage::ENQUEUED),
        sent.len() as u64,
        "the genuine messages, and no forged copy:\n{}",
        w.metrics.render()
    );
    assert!(
        w.health
            .problems(0)
            .iter()
            .all(|p| !p.contains("routing held"))
    );
    w.stop().await;
}

/// An anchor 10,000 blocks past the routed cursor (a first start from an
/// old checkpoint, or hours of downtime at Ethereum's pace): its ancestry is
/// read back by hash and the gap closes by itself, every message in it
/// routed once. Before, the header window could never reach the anchor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finalized_block_far_past_the_window_closes_the_gap() {
    let mut net = Net::start(59_000).await;
    let redis = RedisServer::spawn(None).expect("redis-server starts");
    let checkpoint = net.checkpoint(0).await;
    let early = bodies("gap early", 5);
    net.dispatch(&early).await;
    // 10,000 empty blocks, then more messages.
    rpc(
        &net.chains.anvils[0].url,
        "anvil_mine",
        serde_json::json!(["0x2710"]),
    )
    .await;
    let late = bodies("gap late", 5);
    let late_block = net.dispatch(&late).await;
    let w = AnchoredWatcher::start(&net, &redis, &net.chains.anvils[0].url, checkpoint).await;
    // The header window stops at its lead: nothing is finalized yet.
    w.wait_height(
        "tip",
        checkpoint.number + switchyard::origin::evm::header_lead(1),
        PATIENCE,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        w.height("scanned") <= checkpoint.number + 1,
        "nothing finalized, nothing routed"
    );
    assert_eq!(w.metrics.messages_at(stage::ENQUEUED), 0);
    // The beacon chain finalizes a block past both batches.
    net.dispatch(&bodies("gap after", 1)).await;
    let finalized = head_of(&net.chains.anvils[0].url).await;
    assert!(finalized > late_block && finalized - checkpoint.number > 10_000);
    w.finalize(&net.chains.anvils[0].url, finalized).await;
    w.wait_height("scanned", finalized, Duration::from_secs(240))
        .await;
    assert_eq!(
        w.metrics.messages_at(stage::ENQUEUED),
        (early.len() + late.len() + 1) as u64,
        "{}",
        w.metrics.render()
    );
    assert_eq!(
        w.metrics
            .rejections
            .with_label_values(&[ORIGIN_NAME, "not_finalized_by_beacon"])
            .get(),
        0
    );
    w.stop().await;
}

/// Runtime code that emits two `LOG4`s chosen by the caller. Calldata:
/// topics of log A (4 words), topics of log B (4 words), length of A's data,
/// length of B's data, A's data, B's data.
fn log_emitter_initcode() -> Bytes {
    #[rustfmt::skip]
    let runtime: Vec<u8> = vec![
        0x36, 0x60, 0x00, 0x60, 0x00, 0x37,             // calldatacopy(0, 0, calldatasize)
        0x60, 0x60, 0x51, 0x60, 0x40, 0x51,             // A: topic3, topic2
        0x60, 0x20, 0x51, 0x60, 0x00, 0x51,             //    topic1, topic0
        0x61, 0x01, 0x00, 0x51,                         //    size = mload(0x100)
        0x61, 0x01, 0x40,                               //    offset = 0x140
        0xa4,                                           //    log4
        0x60, 0xe0, 0x51, 0x60, 0xc0, 0x51,             // B: topic3, topic2
        0x60, 0xa0, 0x51, 0x60, 0x80, 0x51,             //    topic1, topic0
        0x61, 0x01, 0x20, 0x51,                         //    size = mload(0x120)
        0x61, 0x01, 0x00, 0x51, 0x61, 0x01, 0x40, 0x01, //    offset = 0x140 + mload(0x100)
        0xa4,                                           //    log4
        0x00,                                           // stop
    ];
    let len = u8::try_from(runtime.len()).expect("runtime under 256 bytes");
    // codecopy(0, 11, len); return(0, len): the 11 bytes of this prefix.
    let mut code = vec![
        0x60, len, 0x80, 0x60, 11, 0x60, 0x00, 0x39, 0x60, 0x00, 0xf3,
    ];
    code.extend_from_slice(&runtime);
    code.into()
}

/// The ABI encoding of one `bytes` value (what `emit Dispatch(..., message)`
/// puts in the log data).
fn abi_encode_bytes(value: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 64];
    out[31] = 32;
    out[56..64].copy_from_slice(&(value.len() as u64).to_be_bytes());
    out.extend_from_slice(value);
    out.resize(64 + value.len().div_ceil(32) * 32, 0);
    out
}

/// A Dispatch log as (topics, data).
type RawLog = ([B256; 4], Vec<u8>);

fn dispatch_topics(m: &Message) -> [B256; 4] {
    [
        DISPATCH_TOPIC,
        m.sender,
        B256::left_padding_from(&m.destination.to_be_bytes()),
        m.recipient,
    ]
}

fn emit_calldata(a: &RawLog, b: &RawLog) -> Bytes {
    let mut out = Vec::new();
    for t in a.0.iter().chain(b.0.iter()) {
        out.extend_from_slice(t.as_slice());
    }
    for data in [&a.1, &b.1] {
        out.extend_from_slice(
            B256::left_padding_from(&(data.len() as u64).to_be_bytes()).as_slice(),
        );
    }
    out.extend_from_slice(&a.1);
    out.extend_from_slice(&b.1);
    out.into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_dispatch_log_is_rejected_and_others_flow() {
    let mut net = Net::start(53_000).await;
    let redis = RedisServer::spawn(None).expect("redis-server starts");
    // The "mailbox" the hub follows on the origin is a contract that emits
    // whatever Dispatch logs it is told to.
    let emitter = net.chains.wallets[0]
        .deploy(&log_emitter_initcode(), &[])
        .await
        .expect("emitter deploys");
    let cfg = net
        .config(&net.chains.anvils[0].url.clone(), emitter, &redis.url)
        .await;
    let shutdown = CancellationToken::new();
    let hub = Hub::start(cfg, shutdown.clone()).await.expect("hub starts");

    let sender = net.chains.wallets[0].address();
    let message = |nonce: u32, body: &str| Message {
        version: 3,
        nonce,
        origin: ORIGIN,
        sender: sender.into_word(),
        destination: DESTINATION,
        recipient: net.destination().recipient.into_word(),
        body: Bytes::from(body.as_bytes().to_vec()),
    };
    let well_formed =
        |m: &Message| -> RawLog { (dispatch_topics(m), abi_encode_bytes(&m.encode())) };

    // Transaction 1: a log whose destination topic contradicts its message,
    // then a genuine one.
    let lying_topic = {
        let m = message(100, "malformed: destination topic lies");
        let mut topics = dispatch_topics(&m);
        topics[2] = B256::left_padding_from(&(DESTINATION + 1).to_be_bytes());
        (topics, abi_encode_bytes(&m.encode()))
    };
    let good_1 = message(0, "well-formed #0");
    // Transaction 2: a truncated message (shorter than the message header),
    // then a genuine one.
    let truncated = {
        let m = message(101, "malformed: truncated");
        (dispatch_topics(&m), abi_encode_bytes(&m.encode()[..40]))
    };
    let good_2 = message(1, "well-formed #1");
    let mut blocks = Vec::new();
    for (bad, good) in [(&lying_topic, &good_1), (&truncated, &good_2)] {
        let h = net.chains.wallets[0]
            .send(
                Some(emitter),
                emit_calldata(bad, &well_formed(good)),
                500_000,
            )
            .await
            .expect("emit is sent");
        let r = net.chains.wallets[0]
            .wait(h, PATIENCE)
            .await
            .expect("emit is mined");
        assert_eq!(r.inner.logs().len(), 2, "the emitter emitted both logs");
        blocks.push(r.block_number.expect("mined"));
    }

    net.wait_received(2).await;
    let deadline = Instant::now() + PATIENCE;
    while rejections(&hub, "malformed_log") < 2 {
        assert!(Instant::now() < deadline, "{}", hub.metrics.render());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let delivered = net.delivered_bodies(sender).await;
    let expected: BTreeMap<Bytes, u32> = [&good_1, &good_2]
        .into_iter()
        .map(|m| (m.body.clone(), 1))
        .collect();
    assert_eq!(
        delivered, expected,
        "only the well-formed messages, once each"
    );
    assert_eq!(net.received().await, 2);
    let m = &hub.metrics;
    assert_eq!(rejections(&hub, "malformed_log"), 2, "{}", m.render());
    assert_eq!(m.messages_at(stage::REJECTED), 2, "{}", m.render());
    assert_eq!(m.messages_at(stage::OBSERVED), 4, "{}", m.render());
    assert_eq!(m.messages_at(stage::VERIFIED), 2, "{}", m.render());
    assert_eq!(m.messages_at(stage::ENQUEUED), 2, "{}", m.render());
    assert!(light_client_height(&hub, "scanned") >= blocks[1] as i64);
    stop(hub, shutdown).await;
}

/// A redis-server started on a given port, killed on drop.
#[derive(Debug)]
struct LateRedis(Child);

impl LateRedis {
    fn spawn(port: u16) -> Self {
        let bin = find_tool("redis-server").expect("redis-server installed");
        let child = Command::new(bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server spawns");
        Self(child)
    }
}

impl Drop for LateRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_redis_at_start_is_retried() {
    let mut net = Net::start(54_000).await;
    let port = free_port();
    assert_ne!(port, 0, "a free port");
    let redis_url = format!("redis://127.0.0.1:{port}");
    let cfg = net
        .config(
            &net.chains.anvils[0].url.clone(),
            net.origin().mailbox,
            &redis_url,
        )
        .await;
    let sent = bodies("late redis", 5);
    net.dispatch(&sent).await;

    let shutdown = CancellationToken::new();
    let starting = tokio::spawn(Hub::start(cfg, shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !starting.is_finished(),
        "Hub::start gave up (or pretended to start) without Redis"
    );

    let _redis = LateRedis::spawn(port);
    let hub = tokio::time::timeout(Duration::from_secs(30), starting)
        .await
        .expect("the hub starts once Redis is up")
        .expect("start task")
        .expect("hub starts");

    let connect_errors = hub
        .metrics
        .redis_errors
        .with_label_values(&["connect"])
        .get();
    assert!(connect_errors >= 1, "connect failures counted");
    // The same, as a scraper sees it.
    let text = reqwest::get(format!("http://{}/metrics", hub.addr))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    let scraped: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("switchyard_redis_errors_total{op=\"connect\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no redis connect error counter in:\n{text}"));
    assert!(scraped >= 1.0, "{text}");

    assert_delivered_exactly_once(&net, &hub, &sent).await;
    stop(hub, shutdown).await;
}
