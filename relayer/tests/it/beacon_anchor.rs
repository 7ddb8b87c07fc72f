//! The beacon-anchored origin end to end on a live chain. A beacon API
//! served by the test (axum on 127.0.0.1) answers the light-client endpoints
//! with objects of the light client's test kit: a minimal-preset devnet
//! (`network = "custom"`, Electra from genesis) whose sync committees are
//! keys the test generated and whose finalized execution payloads are the
//! origin anvil's real blocks. Slots follow the wall clock from the devnet's
//! genesis time, as the hub's clock does. The hub (in process, real Redis,
//! two anvil chains) relays origin → destination only below the finalized
//! block: nothing before finality, everything exactly once after it. When
//! the sync committee finalizes an execution block that is not the origin
//! chain's (another hash at that height), the hub holds that origin's
//! routing and says so (`not_finalized_by_beacon`, `/readyz`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy::primitives::{Address, B256, Bytes, keccak256};
use alloy::providers::Provider;
use serde_json::Value;
use switchyard::config::Config;
use switchyard::hub::Hub;
use switchyard::metrics::stage;
use switchyard_evm::rpc::{RpcPolicy, RpcPool};
use switchyard_evm::source::EvmSource;
use switchyard_lc_beacon::testkit::{TestChain, execution_payload};
use switchyard_lc_beacon::{
    ChainSpec, ExecutionPayloadHeader, Fork, ForkEntry, LightClientBootstrap, LightClientHeader,
    Preset,
};
use switchyard_localnet::evm::{Deployment, DevWallet, dispatch_many_calldata};
use switchyard_localnet::procs::{Anvil, RedisServer};
use tokio_util::sync::CancellationToken;

use crate::harness::beacon_node::LightClientData;
use crate::harness::net::{
    Chains, KeyFiles, asking_attester, attester_toml, bodies_received, received,
};

const ORIGIN: u32 = 1000;
const DESTINATION: u32 = 2000;
const ORIGIN_NAME: &str = "eth";
/// anvil block time, seconds.
const BLOCK_TIME: f64 = 0.5;
/// The devnet's `SECONDS_PER_SLOT`: slots pass fast enough that finality can
/// advance several times in a test, and a sync-committee period (64 slots
/// in the minimal preset) outlasts the test.
const SECONDS_PER_SLOT: u64 = 3;
/// Slots of a sync-committee period (minimal preset).
const PERIOD_SLOTS: u64 = 64;
/// The devnet's fork schedule: every fork up to Electra from genesis.
const FORKS: [(Fork, [u8; 4]); 6] = [
    (Fork::Phase0, [0x00, 0, 0, 0x57]),
    (Fork::Altair, [0x01, 0, 0, 0x57]),
    (Fork::Bellatrix, [0x02, 0, 0, 0x57]),
    (Fork::Capella, [0x03, 0, 0, 0x57]),
    (Fork::Deneb, [0x04, 0, 0, 0x57]),
    (Fork::Electra, [0x05, 0, 0, 0x57]),
];
/// How long a test waits for something that should happen.
const PATIENCE: Duration = Duration::from_secs(90);

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

fn genesis_validators_root() -> B256 {
    keccak256("switchyard beacon_anchor devnet")
}

fn spec() -> ChainSpec {
    ChainSpec {
        preset: Preset::MINIMAL,
        genesis_validators_root: genesis_validators_root(),
        forks: FORKS
            .iter()
            .map(|(fork, version)| ForkEntry {
                fork: *fork,
                version: *version,
                epoch: 0,
            })
            .collect(),
    }
}

// ----- the beacon API -----

/// What the beacon node serves: JSON built by the kit, replaced as the
/// test finalizes blocks.
struct Served {
    /// The latest finalized header.
    finalized: LightClientHeader,
    /// `light_client/finality_update`.
    finality: Value,
    /// `light_client/updates` by sync-committee period: the latest update
    /// attested in it, with the next committee and finality.
    updates: BTreeMap<u64, Value>,
    /// Requests, for failure messages.
    asked: Vec<String>,
}

/// A beacon node of the test's devnet.
struct BeaconNode {
    chain: TestChain,
    genesis_time: u64,
    bootstrap: LightClientBootstrap,
    served: Mutex<Served>,
}

impl BeaconNode {
    /// A devnet whose clock is 4 slots into a sync-committee period, and a
    /// bootstrap 3 slots back whose execution payload is `checkpoint`.
    fn new(checkpoint: ExecutionPayloadHeader) -> Arc<Self> {
        let now = 100 * PERIOD_SLOTS + 4;
        let genesis_time = unix_secs() - now * SECONDS_PER_SLOT;
        let chain = TestChain::new(spec(), b"beacon_anchor");
        let at = now - 3;
        let bootstrap = chain
            .bootstrap(at, checkpoint.clone())
            .expect("bootstrap builds");
        let node = Arc::new(Self {
            chain,
            genesis_time,
            bootstrap: bootstrap.clone(),
            served: Mutex::new(Served {
                finalized: bootstrap.header.clone(),
                finality: Value::Null,
                updates: BTreeMap::new(),
                asked: Vec::new(),
            }),
        });
        // Until the test finalizes a block, finality stays at the bootstrap.
        node.serve(bootstrap.header, checkpoint, at + 1);
        node
    }

    fn trusted_root(&self) -> B256 {
        self.bootstrap.header.beacon_root()
    }

    fn slot(&self) -> u64 {
        (unix_secs() - self.genesis_time) / SECONDS_PER_SLOT
    }

    fn period(slot: u64) -> u64 {
        slot / PERIOD_SLOTS
    }

    /// Serves `finalized` as attested at `attested_slot` by a header
    /// carrying `attested`, signed the slot after.
    fn serve(&self, finalized: LightClientHeader, attested: ExecutionPayloadHeader, slot: u64) {
        let (chain, signature_slot) = (&self.chain, slot + 1);
        let finality = chain
            .finality_update(slot, attested.clone(), &finalized, signature_slot)
            .expect("finality update builds");
        let update = chain
            .update(slot, attested, Some(&finalized), true, signature_slot)
            .expect("update builds");
        let mut s = self.served.lock().expect("served");
        s.finality = chain.finality_update_json(&finality);
        s.updates
            .insert(Self::period(slot), chain.update_json(&update));
        s.finalized = finalized;
    }

    /// Finalizes `finalized` (an execution payload) at a fresh slot, attested
    /// by a header carrying `attested`: finalized, attested and signature
    /// slots are the last three before the current one (the hub's clock may
    /// read the slot before this one), in one period. Returns the finalized
    /// beacon slot.
    async fn finalize(
        &self,
        finalized: ExecutionPayloadHeader,
        attested: ExecutionPayloadHeader,
    ) -> u64 {
        let slot = loop {
            let now = self.slot();
            let (signature, slot) = (now - 1, now - 3);
            let previous = self.served.lock().expect("served").finalized.beacon.slot;
            if slot > previous && Self::period(slot) == Self::period(signature) {
                break slot;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let header = self
            .chain
            .header(slot, finalized)
            .expect("finalized header builds");
        self.serve(header, attested, slot + 1);
        slot
    }

    fn asked(&self) -> Vec<String> {
        self.served.lock().expect("served").asked.clone()
    }

    fn log(&self, what: String) {
        self.served.lock().expect("served").asked.push(what);
    }
}

impl LightClientData for BeaconNode {
    fn bootstrap(&self, root: B256) -> Option<String> {
        (root == self.trusted_root())
            .then(|| self.chain.bootstrap_json(&self.bootstrap).to_string())
    }

    fn updates(&self, start: u64, count: u64) -> Vec<Value> {
        let s = self.served.lock().expect("served");
        s.updates
            .range(start..start.saturating_add(count))
            .map(|(_, u)| u.clone())
            .collect()
    }

    fn finality_update(&self) -> String {
        self.served.lock().expect("served").finality.to_string()
    }

    fn log(&self, what: String) {
        BeaconNode::log(self, what);
    }
}

// ----- the chains and the hub -----

struct Devnet {
    _anvils: Vec<Anvil>,
    _redis: RedisServer,
    _keys: tempfile::TempDir,
    wallets: Vec<DevWallet>,
    deployments: Vec<Deployment>,
    /// The origin's blocks, as the hub reads them.
    origin: EvmSource,
    node: Arc<BeaconNode>,
    hub: Hub,
    shutdown: CancellationToken,
    /// An independent attester (role attester) the hub asks instead of
    /// signing, when started with one.
    attester: Option<(Hub, CancellationToken)>,
}

impl Devnet {
    /// Two anvil chains with the contracts, a beacon node whose bootstrap
    /// carries the origin's current block, and a hub anchoring the origin
    /// to it.
    async fn start(chain_id_base: u64) -> Self {
        Self::start_with(chain_id_base, false).await
    }

    /// As [`Devnet::start`], with an independent attester following the
    /// origin through its own beacon light client: it holds the Inbox's
    /// attester key (threshold 1), the hub none.
    async fn start_with_attester(chain_id_base: u64) -> Self {
        Self::start_with(chain_id_base, true).await
    }

    async fn start_with(chain_id_base: u64, with_attester: bool) -> Self {
        init_logs();
        let Chains {
            anvils,
            wallets,
            deployments,
        } = Chains::start(chain_id_base, &[ORIGIN, DESTINATION], BLOCK_TIME).await;
        let redis = RedisServer::spawn(None).expect("redis-server starts");
        let keys = tempfile::tempdir().expect("temp dir");
        let KeyFiles {
            attester: attester_key,
            submitter: submitter_key,
            queue: queue_key,
        } = KeyFiles::write_in(keys.path(), &hex::encode(keccak256("beacon_anchor queue")));
        let origin = EvmSource::new(
            RpcPool::new(
                "origin",
                std::slice::from_ref(&anvils[0].url),
                RpcPolicy::default(),
            )
            .expect("pool"),
        );
        let checkpoint = origin.head().await.expect("head");
        let (header, _) = origin.header(checkpoint).await.expect("checkpoint block");
        let node = BeaconNode::new(execution_payload(&header).expect("payload"));
        let beacon_url = crate::harness::beacon_node::serve(Arc::clone(&node)).await;

        let forks: Vec<String> = FORKS
            .iter()
            .map(|(f, v)| {
                format!(
                    "{{ fork = \"{}\", version = \"0x{}\", epoch = 0 }}",
                    f.name(),
                    hex::encode(v)
                )
            })
            .collect();
        let chain = |i: usize, name: &str, domain: u32, mailbox: Address, cp: (u64, B256)| {
            format!(
                "[[chains]]\nname = \"{name}\"\ndomain = {domain}\nchain_id = {}\nrpc_urls = [\"{}\"]\nmailbox = \"{mailbox}\"\ninbox = \"{}\"\nconfirmations = 1\ncheckpoint = {{ number = {}, hash = \"{}\" }}\npoll_interval_ms = 100\nsubmitter_key = {{ file = \"{}\" }}\ndelivery_confirmations = 1\n",
                anvils[i].chain_id,
                anvils[i].url,
                deployments[i].inbox,
                cp.0,
                cp.1,
                submitter_key.display(),
            )
        };
        let dest_head = wallets[1]
            .provider()
            .get_block_number()
            .await
            .expect("head");
        let dest_block = wallets[1]
            .provider()
            .get_block_by_number(dest_head.into())
            .await
            .expect("block")
            .expect("exists");
        let toml = format!(
            "attester_key = {{ file = \"{}\" }}\nqueue_key = {{ file = \"{}\" }}\n[redis]\nurl = \"{}\"\nkey_prefix = \"beacon-{chain_id_base}\"\n[http]\nlisten = \"127.0.0.1:0\"\n{}[chains.beacon]\nurls = [\"{beacon_url}\"]\nnetwork = \"custom\"\ntrusted_root = \"{}\"\npoll_interval_ms = 1000\n[chains.beacon.custom]\npreset = \"minimal\"\ngenesis_validators_root = \"{}\"\ngenesis_time = {}\nseconds_per_slot = {SECONDS_PER_SLOT}\nforks = [{}]\n{}",
            attester_key.display(),
            queue_key.display(),
            redis.url,
            chain(
                0,
                ORIGIN_NAME,
                ORIGIN,
                deployments[0].mailbox,
                (checkpoint, header.hash())
            ),
            node.trusted_root(),
            genesis_validators_root(),
            node.genesis_time,
            forks.join(", "),
            chain(
                1,
                "dest",
                DESTINATION,
                deployments[1].mailbox,
                (dest_head, dest_block.header.hash)
            ),
        )
        // The destination is read through its one endpoint, by choice.
        .replacen(
            "name = \"dest\"\n",
            "name = \"dest\"\ntrust = \"single_endpoint\"\n",
            1,
        );
        let mut attester = None;
        let toml = if with_attester {
            let token = keys.path().join("attester-token");
            std::fs::write(&token, "token-of-the-attester").expect("write token");
            let own = attester_toml(&toml, &format!("attester-beacon-{chain_id_base}"), &token);
            let stop = CancellationToken::new();
            let a = Hub::start(
                Config::from_toml(&own).expect("the attester's configuration is valid"),
                stop.clone(),
            )
            .await
            .expect("attester starts");
            let hub_toml = asking_attester(&toml, &format!("http://{}", a.addr), &token);
            attester = Some((a, stop));
            hub_toml
        } else {
            toml
        };
        let cfg = Config::from_toml(&toml).expect("the devnet's configuration is valid");
        // The hub reads the devnet's parameters from the configuration: the
        // same as the kit's.
        let b = cfg.chains[0].beacon.as_ref().expect("beacon");
        let network = switchyard::config::beacon::Network::from_config(b, "chains[0].beacon")
            .expect("custom network");
        assert_eq!(network.spec, spec());
        assert_eq!(
            (network.genesis_time, network.seconds_per_slot),
            (node.genesis_time, SECONDS_PER_SLOT)
        );
        let shutdown = CancellationToken::new();
        let hub = Hub::start(cfg, shutdown.clone()).await.expect("hub starts");
        let net = Self {
            _anvils: anvils,
            _redis: redis,
            _keys: keys,
            wallets,
            deployments,
            origin,
            node,
            hub,
            shutdown,
            attester,
        };
        // The beacon light client bootstrapped and anchored the checkpoint.
        net.wait_for("the bootstrap's execution block anchored", || {
            net.height("finalized") == checkpoint as i64
        })
        .await;
        net
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.hub.join().await;
        if let Some((a, stop)) = self.attester {
            stop.cancel();
            a.join().await;
        }
    }

    fn height(&self, kind: &str) -> i64 {
        self.hub
            .metrics
            .lc_height
            .with_label_values(&[ORIGIN_NAME, kind])
            .get()
    }

    fn slot(&self, kind: &str) -> i64 {
        self.hub
            .metrics
            .beacon_slot
            .with_label_values(&[ORIGIN_NAME, kind])
            .get()
    }

    fn rejections(&self, reason: &str) -> u64 {
        self.hub
            .metrics
            .rejections
            .with_label_values(&[ORIGIN_NAME, reason])
            .get()
    }

    async fn wait_for(&self, what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !done() {
            assert!(
                Instant::now() < deadline,
                "{what}: not after {PATIENCE:?}\nbeacon API asked: {:?}\n{}",
                self.node.asked(),
                self.hub.metrics.render()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Dispatches `bodies` origin → destination in one transaction; the
    /// block that holds them.
    async fn dispatch(&mut self, bodies: &[Bytes]) -> u64 {
        let data =
            dispatch_many_calldata(DESTINATION, self.deployments[1].recipient, bodies.to_vec());
        let gas = 3_000_000 + 40_000 * bodies.len() as u64;
        let hash = self.wallets[0]
            .send(Some(self.deployments[0].mailbox), data, gas)
            .await
            .expect("dispatch sent");
        let receipt = self.wallets[0]
            .wait(hash, PATIENCE)
            .await
            .expect("dispatch mined");
        receipt.block_number.expect("mined")
    }

    /// The origin's execution payload at `number`, waiting for anvil to
    /// mine it.
    async fn payload(&self, number: u64) -> ExecutionPayloadHeader {
        let deadline = Instant::now() + PATIENCE;
        while self.origin.head().await.expect("head") < number {
            assert!(Instant::now() < deadline, "block {number} not mined");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (header, _) = self.origin.header(number).await.expect("block");
        execution_payload(&header).expect("payload")
    }

    /// The beacon chain finalizes the origin's block `number` (attested by
    /// the block after it); the finalized beacon slot.
    async fn finalize(&self, number: u64) -> u64 {
        let finalized = self.payload(number).await;
        let attested = self.payload(number + 1).await;
        self.node.finalize(finalized, attested).await
    }

    /// `TestRecipient.received()` on the destination.
    async fn received(&self) -> u64 {
        received(&self.wallets[1], self.deployments[1].recipient).await
    }

    async fn wait_received(&self, n: u64) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let got = self.received().await;
            if got >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{got} of {n} messages delivered after {PATIENCE:?}\n{}",
                self.hub.metrics.render()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Every body of `sent` delivered exactly once, nothing else.
    async fn assert_delivered_exactly_once(&self, sent: &[Bytes]) {
        self.wait_received(sent.len() as u64).await;
        // A duplicate would show up by now.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let d = &self.deployments[1];
        let sender = self.wallets[0].address();
        let delivered =
            bodies_received(&self.wallets[1], d.recipient, d.block, ORIGIN, sender).await;
        let expected: BTreeMap<Bytes, u32> = sent.iter().map(|b| (b.clone(), 1)).collect();
        assert_eq!(delivered, expected, "every body exactly once");
        assert_eq!(
            self.hub.metrics.messages_at(stage::ENQUEUED),
            sent.len() as u64
        );
    }

    /// Nothing new is relayed while the origin's header chain runs four
    /// blocks past `block` and the beacon watcher does a few rounds:
    /// `delivered` messages so far, no more, and `block` not passed.
    async fn assert_held(&self, block: u64, delivered: u64, what: &str) {
        let tip = block as i64 + 4;
        self.wait_for("the header chain follows the origin", || {
            self.height("tip") >= tip
        })
        .await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(self.received().await, delivered, "{what}");
        assert_eq!(
            self.hub.metrics.messages_at(stage::ENQUEUED),
            delivered,
            "{what}"
        );
        // The block is held back, not skipped.
        assert!(
            self.height("scanned") < block as i64,
            "{what}: routed to {}",
            self.height("scanned")
        );
    }

    async fn readyz(&self) -> String {
        reqwest::get(format!("http://{}/readyz", self.hub.addr))
            .await
            .expect("readyz answers")
            .text()
            .await
            .expect("body")
    }
}

fn bodies(tag: &str, n: usize) -> Vec<Bytes> {
    (0..n)
        .map(|i| Bytes::from(format!("beacon anchor {tag} #{i}").into_bytes()))
        .collect()
}

/// Hub logs on the test's output when `RUST_LOG` is set.
fn init_logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

// ----- the tests -----

/// Messages wait for the sync committee's finality, then are delivered once
/// each; finality advances again as anvil mines, and the next messages
/// follow it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_beacon_anchored_origin_relays_what_the_sync_committee_finalized() {
    let mut net = Devnet::start(58_100).await;
    assert_eq!(
        net.hub
            .metrics
            .trust_mode
            .with_label_values(&[ORIGIN_NAME, "beacon"])
            .get(),
        1
    );

    // Dispatched above the finalized block: held.
    let first = bodies("first", 5);
    let block = net.dispatch(&first).await;
    net.assert_held(block, 0, "before finality").await;

    // The beacon chain finalizes the dispatch's block: delivered, once.
    let slot = net.finalize(block).await;
    net.assert_delivered_exactly_once(&first).await;
    assert_eq!(net.height("finalized"), block as i64);
    assert_eq!(net.slot("finalized"), slot as i64);
    assert!(net.height("scanned") >= block as i64);

    // Finality moves on with the chain: the next messages wait for it too.
    let second = bodies("second", 7);
    let block2 = net.dispatch(&second).await;
    net.assert_held(block2, 5, "before the second finality")
        .await;
    let head = net.origin.head().await.expect("head");
    let slot2 = net.finalize(head).await;
    let mut sent = first;
    sent.extend(second);
    net.assert_delivered_exactly_once(&sent).await;
    assert_eq!(net.height("finalized"), head as i64);
    assert_eq!(net.slot("finalized"), slot2 as i64);
    assert!(net.slot("optimistic") >= slot2 as i64);
    // Slots are not block numbers: none in the height family.
    let text = net.hub.metrics.render();
    assert!(!text.contains("slot\""), "{text}");

    // Every object the beacon API served was accepted.
    let updates = |outcome| {
        net.hub
            .metrics
            .lc_updates
            .with_label_values(&[ORIGIN_NAME, outcome])
            .get()
    };
    assert!(updates("accepted") >= 3, "{}", net.hub.metrics.render());
    assert_eq!(updates("rejected"), 0, "{}", net.hub.metrics.render());
    assert_eq!(net.rejections("not_finalized_by_beacon"), 0);
    assert!(!net.readyz().await.contains("routing held"));

    // The beacon API calls are counted with the chain's other calls; the
    // trusted state's age is exported against max_checkpoint_age (two
    // weeks by default); the beacon watcher runs.
    let m = &net.hub.metrics;
    let calls = |method: &str| m.rpc.with_label_values(&[ORIGIN_NAME, method, "ok"]).get();
    assert_eq!(calls("light_client_bootstrap"), 1, "{}", m.render());
    assert!(calls("light_client_finality_update") >= 2, "{}", m.render());
    assert!(calls("eth_blockNumber") > 0, "{}", m.render());
    // Both are set in one round: read them between two equal slot readings.
    let (slot, trusted_at) = loop {
        let before = net.slot("finalized");
        let t = m.lc_trusted_time.with_label_values(&[ORIGIN_NAME]).get();
        if net.slot("finalized") == before {
            break (before as u64, t as u64);
        }
    };
    assert_eq!(trusted_at, net.node.genesis_time + slot * SECONDS_PER_SLOT);
    assert_eq!(
        m.lc_trusting_period.with_label_values(&[ORIGIN_NAME]).get(),
        14 * 24 * 3600
    );
    assert_eq!(
        m.watcher_fatal
            .with_label_values(&[ORIGIN_NAME, "beacon"])
            .get(),
        0
    );
    net.stop().await;
}

/// The sync committee finalizes a block at the origin's height that is not
/// the origin's (another hash): the hub holds the origin's routing, counts
/// it and says so on /readyz; nothing past the last genuine finality is
/// delivered, even after a genuine finality update comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finalized_block_the_origin_does_not_have_holds_routing() {
    let mut net = Devnet::start(58_200).await;
    let first = bodies("genuine", 4);
    let block = net.dispatch(&first).await;
    net.finalize(block).await;
    net.assert_delivered_exactly_once(&first).await;

    // Messages above that finality; then a finality update whose execution
    // block at the head's height is another block than anvil's.
    let later = bodies("held", 6);
    let block2 = net.dispatch(&later).await;
    let height = net.origin.head().await.expect("head").max(block2);
    let (mut other, _) = net.origin.header(height).await.expect("block");
    let genuine = other.hash();
    other.extra_data = Bytes::from_static(b"not the origin's block");
    assert_ne!(other.hash(), genuine);
    let attested = net.payload(height + 1).await;
    net.node
        .finalize(execution_payload(&other).expect("payload"), attested)
        .await;
    net.wait_for("the mismatch is counted", || {
        net.rejections("not_finalized_by_beacon") == 1
    })
    .await;
    let held = net.readyz().await;
    assert!(
        held.contains("routing held") && held.contains(&height.to_string()),
        "/readyz: {held}"
    );
    net.assert_held(block2, 4, "after a finality the origin does not hold")
        .await;

    // Genuine finality again, higher: the origin stays held until an
    // operator acts; the gate does not move.
    let head = net.origin.head().await.expect("head");
    net.finalize(head).await;
    net.wait_for("the genuine block anchored", || {
        net.height("finalized") == head as i64
    })
    .await;
    net.assert_held(block2, 4, "held until an operator acts")
        .await;
    assert_eq!(net.rejections("not_finalized_by_beacon"), 1);
    assert!(net.readyz().await.contains("routing held"));
    net.stop().await;
}

/// An independent attester follows a beacon-anchored origin with its own
/// beacon light client (its own bootstrap and finality updates) and signs
/// the origin's messages once finalized; the hub holds no attester key, so
/// nothing reaches the destination without the attester's signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_attester_signs_only_what_its_own_beacon_light_client_finalized() {
    let mut net = Devnet::start_with_attester(58_300).await;
    let attester = &net.attester.as_ref().expect("an attester").0;
    assert_eq!(
        attester
            .metrics
            .trust_mode
            .with_label_values(&[ORIGIN_NAME, "beacon"])
            .get(),
        1
    );
    let sent = bodies("attested", 4);
    let block = net.dispatch(&sent).await;
    net.assert_held(block, 0, "before finality").await;
    let signed = |net: &Devnet| {
        net.attester
            .as_ref()
            .expect("an attester")
            .0
            .metrics
            .attestations
            .with_label_values(&["dest", "signed"])
            .get()
    };
    assert_eq!(signed(&net), 0, "nothing signed before finality");
    net.finalize(block).await;
    net.assert_delivered_exactly_once(&sent).await;
    assert!(signed(&net) > 0, "signed by the attester");
    net.stop().await;
}
