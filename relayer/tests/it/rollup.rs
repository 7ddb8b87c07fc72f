//! Rollup origins end to end on anvil: an L1 chain whose contracts keep the
//! OP Stack's and Arbitrum's storage layouts (`TestDisputeGameFactory` and
//! its games, `TestL2OutputOracle`, `TestAnchorStateRegistry`,
//! `TestBoldRollup`, adapters/contracts/src/test), an L2 chain dispatching
//! through its Mailbox, and a destination the hub (in process, real Redis)
//! delivers to. The test plays the proposer: it computes real output roots
//! of the L2's blocks (`keccak(0 ‖ stateRoot ‖ messagePasserStorageRoot ‖
//! blockHash)`) and posts them to L1, or, for Arbitrum, asserts and
//! confirms the L2's blocks as a Nitro node serves them ([`NitroView`]).
//!
//! The hub must relay an L2 message only once a final proposal on L1 covers
//! its block: an unresolved game waits (unless the minimum-age policy is
//! chosen), a proposal whose root is not the L2 block's is refused and
//! counted, and an L2 endpoint serving a forged branch with forged
//! messages gets nothing relayed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use alloy::eips::{BlockId, BlockNumberOrTag};
use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::providers::Provider;
use alloy::sol;
use alloy::sol_types::{SolCall, SolEvent};
use serde_json::Value;
use switchyard::config::Config;
use switchyard::hub::Hub;
use switchyard::metrics::stage;
use switchyard::origin::rollup::MESSAGE_PASSER;
use switchyard_evm::bindings::{ARTIFACTS_DIR, load_bytecode};
use switchyard_evm::rpc::{RpcPolicy, RpcPool};
use switchyard_evm::source::EvmSource;
use switchyard_localnet::evm::dispatch_many_calldata;
use switchyard_localnet::procs::{RedisServer, repo_root};
use tokio_util::sync::CancellationToken;

use crate::harness::net::{Chains, KeyFiles, bodies_received, received};
use crate::harness::proxy::{HONEST, Proxy, forge_branch};
use crate::rollup_arbitrum::{
    AssertionState, GlobalState, assertion_hash, confirmAssertionCall, createAssertionCall,
};

const L1: u32 = 1000;
const L2: u32 = 2000;
const DEST: u32 = 3000;
const L2_NAME: &str = "l2";
/// How long a test waits for something that should happen.
const PATIENCE: Duration = Duration::from_secs(90);
const QUEUE_KEY: &str = "5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b";
/// FaultDisputeGame status DEFENDER_WINS.
const DEFENDER_WINS: u8 = 2;

sol! {
    #[sol(rpc)]
    contract TestDisputeGameFactory {
        event DisputeGameCreated(address indexed disputeProxy, uint32 indexed gameType, bytes32 indexed rootClaim);
        function create(uint32 gameType, bytes32 rootClaim, bytes extraData) external returns (address proxy);
        function gameCount() external view returns (uint256);
    }

    #[sol(rpc)]
    contract TestFaultDisputeGame {
        function resolve(uint8 status) external;
        function resolvedAt() external view returns (uint64);
    }

    #[sol(rpc)]
    contract TestL2OutputOracle {
        function proposeL2Output(bytes32 outputRoot, uint256 l2BlockNumber) external;
    }

    #[sol(rpc)]
    contract TestAnchorStateRegistry {
        function setAnchor(uint32 gameType, bytes32 root, uint256 l2BlockNumber) external;
    }
}

/// Where the rollup's proposals are kept, and how they become final.
enum Settlement {
    /// The DisputeGameFactory; the `[chains.rollup]` policy lines.
    Games(&'static str),
    /// The L2OutputOracle; the policy lines.
    Outputs(&'static str),
    /// The AnchorStateRegistry; the `game_type` and policy lines.
    Anchor(&'static str),
    /// Arbitrum: the BoLD Rollup (the L2 read through a [`NitroView`]); the
    /// policy lines.
    Assertions(&'static str),
}

/// Three anvil chains (L1, L2, destination), the settlement contracts on
/// L1, Redis and the hub.
struct Net {
    chains: Chains,
    _redis: RedisServer,
    _dir: tempfile::TempDir,
    factory: Address,
    oracle: Address,
    registry: Address,
    bold: Address,
    /// The L2 as the hub sees it when it is an Arbitrum chain.
    nitro: Option<NitroView>,
    /// The last assertion posted (the next one's parent).
    last_assertion: B256,
    /// The L2 read directly (the test's own view, never through a proxy).
    l2: EvmSource,
    /// The hub's one L2 endpoint, when the test stands in front of it.
    proxy: Option<Proxy>,
    hub: Hub,
    shutdown: CancellationToken,
}

impl Net {
    async fn start(chain_id_base: u64, settlement: Settlement, l2_proxy: bool) -> Self {
        let mut chains = Chains::start(chain_id_base, &[L1, L2, DEST], 0.5).await;
        let artifacts = repo_root().join(ARTIFACTS_DIR);
        let deploy =
            |name: &str| load_bytecode(&artifacts, name).expect("run adapters/contracts/build.sh");
        let factory = chains.wallets[0]
            .deploy(&deploy("TestDisputeGameFactory"), &[])
            .await
            .expect("factory deploys");
        let oracle = chains.wallets[0]
            .deploy(&deploy("TestL2OutputOracle"), &[])
            .await
            .expect("oracle deploys");
        let registry = chains.wallets[0]
            .deploy(&deploy("TestAnchorStateRegistry"), &[])
            .await
            .expect("registry deploys");
        let bold = chains.wallets[0]
            .deploy(&deploy("TestBoldRollup"), &[])
            .await
            .expect("rollup deploys");
        let nitro = match settlement {
            Settlement::Assertions(_) => Some(NitroView::start(&chains.anvils[1].url).await),
            _ => None,
        };
        let redis = RedisServer::spawn(None).expect("redis starts");
        let dir = tempfile::tempdir().expect("tmp");
        let keys = KeyFiles::write_in(dir.path(), QUEUE_KEY);
        let proxy = match l2_proxy {
            true => Some(
                Proxy::start(&chains.anvils[1].url, chains.deployments[1].mailbox, HONEST).await,
            ),
            false => None,
        };
        let (contract, policy) = match settlement {
            Settlement::Games(p) => (
                format!("dispute_game_factory = \"{factory}\"\ngame_types = [0]"),
                p,
            ),
            Settlement::Outputs(p) => (format!("l2_output_oracle = \"{oracle}\""), p),
            Settlement::Anchor(p) => (format!("anchor_state_registry = \"{registry}\""), p),
            Settlement::Assertions(p) => (format!("rollup = \"{bold}\""), p),
        };
        let kind = match nitro {
            Some(_) => "arbitrum",
            None => "op-stack",
        };
        let mut toml = format!(
            "attester_key = {{ file = \"{}\" }}\nqueue_key = {{ file = \"{}\" }}\n[redis]\nurl = \"{}\"\nkey_prefix = \"rollup-{chain_id_base}\"\n[http]\nlisten = \"127.0.0.1:0\"\n",
            keys.attester.display(),
            keys.queue.display(),
            redis.url,
        );
        for (i, (name, domain)) in [("l1", L1), (L2_NAME, L2), ("dest", DEST)]
            .into_iter()
            .enumerate()
        {
            let (mut number, mut hash) = chains.checkpoint(i).await;
            let url = match (&proxy, &nitro, i) {
                (Some(p), _, 1) => p.url.clone(),
                (_, Some(v), 1) => {
                    (number, hash) = v.head().await;
                    v.url.clone()
                }
                _ => chains.anvils[i].url.clone(),
            };
            // The L1 and the destination are read through their one endpoint,
            // by choice; the L2's endpoint is trusted for liveness only.
            let trust = if i == 1 {
                ""
            } else {
                "trust = \"single_endpoint\"\n"
            };
            toml.push_str(&format!(
                "[[chains]]\nname = \"{name}\"\ndomain = {domain}\nchain_id = {}\nrpc_urls = [\"{url}\"]\n{trust}mailbox = \"{}\"\ninbox = \"{}\"\nconfirmations = 1\ncheckpoint = {{ number = {number}, hash = \"{hash}\" }}\npoll_interval_ms = 100\nsubmitter_key = {{ file = \"{}\" }}\ndelivery_confirmations = 1\n",
                chains.anvils[i].chain_id,
                chains.deployments[i].mailbox,
                chains.deployments[i].inbox,
                keys.submitter.display(),
            ));
            if i == 1 {
                toml.push_str(&format!(
                    "[chains.rollup]\nkind = \"{kind}\"\nsettles_on = \"l1\"\n{contract}\npoll_interval_ms = 200\n{policy}\n"
                ));
            }
        }
        let cfg = Config::from_toml(&toml).expect("the test's configuration is valid");
        let shutdown = CancellationToken::new();
        let hub = Hub::start(cfg, shutdown.clone()).await.expect("hub starts");
        let l2 = EvmSource::new(
            RpcPool::new(
                "l2-direct",
                std::slice::from_ref(&chains.anvils[1].url),
                RpcPolicy::default(),
            )
            .expect("pool"),
        );
        assert_layouts();
        Self {
            chains,
            _redis: redis,
            _dir: dir,
            factory,
            oracle,
            registry,
            bold,
            nitro,
            last_assertion: B256::ZERO,
            l2,
            proxy,
            hub,
            shutdown,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.hub.join().await;
    }

    fn proven(&self) -> i64 {
        self.hub
            .metrics
            .lc_height
            .with_label_values(&[L2_NAME, "proven"])
            .get()
    }

    /// The L2 origin's `switchyard_trust_mode` gauge for `mode`.
    fn trust_mode(&self, mode: &str) -> i64 {
        self.hub
            .metrics
            .trust_mode
            .with_label_values(&[L2_NAME, mode])
            .get()
    }

    fn rejections(&self, reason: &str) -> u64 {
        self.hub
            .metrics
            .rejections
            .with_label_values(&[L2_NAME, reason])
            .get()
    }

    async fn wait_for(&self, what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !done() {
            assert!(
                Instant::now() < deadline,
                "{what}: not after {PATIENCE:?}\n{}",
                self.hub.metrics.render()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Dispatches `bodies` L2 → destination in one transaction; the L2
    /// block that holds them.
    async fn dispatch(&mut self, bodies: &[Bytes]) -> u64 {
        let data =
            dispatch_many_calldata(DEST, self.chains.deployments[2].recipient, bodies.to_vec());
        let gas = 3_000_000 + 40_000 * bodies.len() as u64;
        let mailbox = self.chains.deployments[1].mailbox;
        let w = &mut self.chains.wallets[1];
        let hash = w
            .send(Some(mailbox), data, gas)
            .await
            .expect("dispatch sent");
        let receipt = w.wait(hash, PATIENCE).await.expect("dispatch mined");
        receipt.block_number.expect("mined")
    }

    /// L2 block `number`'s output root, as an honest proposer computes it
    /// from its own node: `keccak(0 ‖ stateRoot ‖ messagePasserStorageRoot
    /// ‖ blockHash)`.
    async fn output_root(&self, number: u64) -> B256 {
        let (header, _) = self.l2.header(number).await.expect("L2 block");
        let mp = self
            .l2
            .proof(MESSAGE_PASSER, &[], BlockId::number(number))
            .await
            .expect("message passer proof")
            .storage_hash;
        switchyard_lc_rollup::op::output_root(header.state_root, mp, header.hash())
    }

    /// Sends `data` to `to` on L1 and waits for it.
    async fn l1_send(
        &mut self,
        to: Address,
        data: Vec<u8>,
    ) -> alloy::rpc::types::TransactionReceipt {
        let w = &mut self.chains.wallets[0];
        let hash = w
            .send(Some(to), data.into(), 3_000_000)
            .await
            .expect("L1 tx sent");
        w.wait(hash, PATIENCE).await.expect("L1 tx mined")
    }

    /// Creates a game (type 0) claiming `root` for L2 block `l2_block`; its
    /// proxy.
    async fn create_game(&mut self, root: B256, l2_block: u64) -> Address {
        let extra = Bytes::from(U256::from(l2_block).to_be_bytes::<32>().to_vec());
        let call = TestDisputeGameFactory::createCall {
            gameType: 0,
            rootClaim: root,
            extraData: extra,
        };
        let receipt = self.l1_send(self.factory, call.abi_encode()).await;
        let log = receipt
            .inner
            .logs()
            .iter()
            .find(|l| {
                l.topic0() == Some(&TestDisputeGameFactory::DisputeGameCreated::SIGNATURE_HASH)
            })
            .expect("DisputeGameCreated");
        Address::from_word(log.topics()[1])
    }

    /// Resolves `game` for the defender; its `resolvedAt` (L1 time).
    async fn resolve(&mut self, game: Address) -> u64 {
        let call = TestFaultDisputeGame::resolveCall {
            status: DEFENDER_WINS,
        };
        self.l1_send(game, call.abi_encode()).await;
        TestFaultDisputeGame::new(game, self.chains.wallets[0].provider().clone())
            .resolvedAt()
            .call()
            .await
            .expect("resolvedAt()")
    }

    async fn propose(&mut self, root: B256, l2_block: u64) {
        let call = TestL2OutputOracle::proposeL2OutputCall {
            outputRoot: root,
            l2BlockNumber: U256::from(l2_block),
        };
        self.l1_send(self.oracle, call.abi_encode()).await;
    }

    /// Sets the registry's anchor of `game_type` to `root` for L2 block
    /// `l2_block` (what a game of that type resolving for the defender does).
    async fn set_anchor(&mut self, game_type: u32, root: B256, l2_block: u64) {
        let call = TestAnchorStateRegistry::setAnchorCall {
            gameType: game_type,
            root,
            l2BlockNumber: U256::from(l2_block),
        };
        self.l1_send(self.registry, call.abi_encode()).await;
    }

    /// Asserts (and, when `confirm`, confirms) that L2 block `l2_block` of
    /// the Arbitrum view ends the next assertion, with `send_root` as its
    /// send root (the view's when `None`); the assertion's hash.
    async fn assert_block(
        &mut self,
        l2_block: u64,
        send_root: Option<B256>,
        confirm: bool,
    ) -> B256 {
        let view = self.nitro.as_ref().expect("an Arbitrum view");
        let (hash, extra) = view.block_of(l2_block).await;
        let after = AssertionState {
            globalState: GlobalState {
                bytes32Vals: [hash, send_root.unwrap_or(extra)],
                u64Vals: [l2_block, 0],
            },
            machineStatus: 1,
            endHistoryRoot: B256::ZERO,
        };
        let acc = keccak256(l2_block.to_be_bytes());
        let parent = self.last_assertion;
        let h = assertion_hash(&after, parent, acc);
        let call = createAssertionCall {
            parent,
            afterState: after.clone(),
            inboxAcc: acc,
        };
        self.l1_send(self.bold, call.abi_encode()).await;
        if confirm {
            let call = confirmAssertionCall {
                assertionHash: h,
                blockHash: hash,
                sendRoot: after.globalState.bytes32Vals[1],
            };
            self.l1_send(self.bold, call.abi_encode()).await;
        }
        self.last_assertion = h;
        h
    }

    /// The L1 head's timestamp.
    async fn l1_time(&self) -> u64 {
        self.chains.wallets[0]
            .provider()
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await
            .expect("L1 head")
            .expect("exists")
            .header
            .timestamp
    }

    async fn received(&self) -> u64 {
        received(
            &self.chains.wallets[2],
            self.chains.deployments[2].recipient,
        )
        .await
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
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every body of `sent` delivered exactly once from the L2, nothing
    /// else.
    async fn assert_delivered_exactly_once(&self, sent: &[Bytes]) {
        self.wait_received(sent.len() as u64).await;
        // A duplicate, or anything else, would show up by now.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let d = &self.chains.deployments[2];
        let sender = self.chains.wallets[1].address();
        let delivered =
            bodies_received(&self.chains.wallets[2], d.recipient, d.block, L2, sender).await;
        let expected: BTreeMap<Bytes, u32> = sent.iter().map(|b| (b.clone(), 1)).collect();
        assert_eq!(delivered, expected, "every body exactly once, nothing else");
        assert_eq!(
            self.hub.metrics.messages_at(stage::ENQUEUED),
            sent.len() as u64
        );
    }

    /// Nothing relayed beyond `delivered` while the hub does a few rounds,
    /// and no L2 block proven beyond `proven`.
    async fn assert_waiting(&self, delivered: u64, proven: i64, what: &str) {
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(self.received().await, delivered, "{what}");
        assert_eq!(
            self.hub.metrics.messages_at(stage::ENQUEUED),
            delivered,
            "{what}"
        );
        assert_eq!(self.proven(), proven, "{what}");
    }
}

/// The stand-ins keep the storage layouts the hub reads (the compiler's
/// own account of them, from the artifacts): the factory's `_disputeGames`
/// and `_disputeGameList`, a game's packed slot 0, the oracle's
/// `l2Outputs`, the registry's `anchors`.
fn assert_layouts() {
    use switchyard_lc_rollup::op::{ANCHORS_SLOT, FactoryLayout, L2_OUTPUTS_SLOT};
    let layout = |file: &str, contract: &str| -> BTreeMap<String, (u64, u64)> {
        let p = repo_root()
            .join(ARTIFACTS_DIR)
            .join(format!("{file}.sol"))
            .join(format!("{contract}.json"));
        let j: Value =
            serde_json::from_str(&std::fs::read_to_string(&p).expect("artifact")).expect("JSON");
        j["storageLayout"]["storage"]
            .as_array()
            .expect("storageLayout (foundry.toml extra_output)")
            .iter()
            .map(|v| {
                let slot = v["slot"].as_str().expect("slot").parse().expect("number");
                let offset = v["offset"].as_u64().expect("offset");
                (
                    v["label"].as_str().expect("label").to_owned(),
                    (slot, offset),
                )
            })
            .collect()
    };
    let factory = layout("TestDisputeGameFactory", "TestDisputeGameFactory");
    let games = FactoryLayout::WithInitBonds.dispute_games_slot();
    assert_eq!(factory["_disputeGames"], (games, 0));
    assert_eq!(factory["_disputeGameList"], (games + 1, 0));
    let game = layout("TestDisputeGameFactory", "TestFaultDisputeGame");
    for (label, offset) in [
        ("createdAt", 0),
        ("resolvedAt", 8),
        ("status", 16),
        ("initialized", 17),
        ("l2BlockNumberChallenged", 18),
    ] {
        assert_eq!(game[label], (0, offset), "{label}");
    }
    let oracle = layout("TestL2OutputOracle", "TestL2OutputOracle");
    assert_eq!(oracle["l2Outputs"], (L2_OUTPUTS_SLOT, 0));
    let registry = layout("TestAnchorStateRegistry", "TestAnchorStateRegistry");
    assert_eq!(registry["anchors"], (ANCHORS_SLOT, 0));
}

fn bodies(tag: &str, n: usize) -> Vec<Bytes> {
    (0..n)
        .map(|i| Bytes::from(format!("rollup {tag} #{i}").into_bytes()))
        .collect()
}

/// The dispute-game form: messages wait while no game covers their block
/// and while the game covering it is unresolved or inside the finality
/// delay; then they are delivered once each. A game whose root claim is not
/// the L2 block's output root is refused (`game_absent`: the factory holds
/// no game for the block's real root) and counted once; the block waits
/// for an honest game. Prints the latency the proof path adds: from the
/// first L1 block at which the game is final to the delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollup_origin_relays_only_below_a_final_dispute_game() {
    // L1 seconds: anvil's 0.5 s blocks make L1 time run up to twice as fast
    // as the wall clock, so the delay outlasts the checks below.
    const DELAY: u64 = 10;
    let mut net = Net::start(
        63_100,
        Settlement::Games("game_finality_delay_secs = 10"),
        false,
    )
    .await;
    assert_eq!(net.trust_mode("rollup_final"), 1);

    let first = bodies("first", 5);
    let a = net.dispatch(&first).await;
    net.assert_waiting(0, 0, "no proposal covers the block yet")
        .await;

    let root = net.output_root(a).await;
    let game = net.create_game(root, a).await;
    net.assert_waiting(0, 0, "the game covering the block is unresolved")
        .await;

    let resolved_at = net.resolve(game).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        net.l1_time().await < resolved_at + DELAY,
        "the finality delay outlasts the check"
    );
    assert_eq!(net.proven(), 0, "resolved, inside the finality delay");
    assert_eq!(
        net.received().await,
        0,
        "resolved, inside the finality delay"
    );

    // The first L1 block at which the game is final, then the delivery.
    let deadline = Instant::now() + PATIENCE;
    let mut final_at = None;
    let delivered_at = loop {
        if final_at.is_none() && net.l1_time().await >= resolved_at + DELAY {
            final_at = Some(Instant::now());
        }
        if net.received().await >= first.len() as u64 {
            break Instant::now();
        }
        assert!(Instant::now() < deadline, "{}", net.hub.metrics.render());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let final_at = final_at.expect("the game was final before the delivery");
    println!(
        "rollup origin: delivered {:.2} s after the first L1 block at which the game was final (L1 confirmations 1, 0.5 s blocks on every chain, prover poll 200 ms, watchers 100 ms)",
        delivered_at.duration_since(final_at).as_secs_f64()
    );
    net.assert_delivered_exactly_once(&first).await;
    assert_eq!(net.proven(), a as i64);

    // A game claiming another root for the next block: refused, counted.
    let second = bodies("second", 3);
    let b = net.dispatch(&second).await;
    let forged = keccak256("not the output root of the block");
    let game = net.create_game(forged, b).await;
    net.resolve(game).await;
    net.wait_for("the forged root refused", || {
        net.rejections("game_absent") == 1
    })
    .await;
    net.assert_waiting(first.len() as u64, a as i64, "a forged root proves nothing")
        .await;

    // The honest game for it: delivered; the forged one was counted once.
    let root = net.output_root(b).await;
    let game = net.create_game(root, b).await;
    net.resolve(game).await;
    let all: Vec<Bytes> = first.iter().chain(&second).cloned().collect();
    net.assert_delivered_exactly_once(&all).await;
    assert_eq!(net.proven(), b as i64);
    assert_eq!(net.rejections("game_absent"), 1, "logged and counted once");
    net.stop().await;
}

/// With the minimum-age policy chosen, a game nobody resolved is accepted
/// once it is old enough, and the origin says so (`rollup_min_age`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unresolved_game_is_accepted_past_the_minimum_age_when_chosen() {
    let mut net = Net::start(63_200, Settlement::Games("min_age_secs = 2"), false).await;
    assert_eq!(net.trust_mode("rollup_min_age"), 1);
    let sent = bodies("young", 4);
    let a = net.dispatch(&sent).await;
    let root = net.output_root(a).await;
    net.create_game(root, a).await;
    net.assert_delivered_exactly_once(&sent).await;
    assert_eq!(net.proven(), a as i64);
    net.stop().await;
}

/// The L2OutputOracle form with the hub's one L2 endpoint a liar: once it
/// serves a self-consistent forged branch whose first block carries forged
/// Dispatch logs under a matching receipts root, the hub's L2 header chain
/// follows it, but nothing on it is relayed. A final output posted for a
/// real block past the fork does not match the header the liar serves for
/// it (`output_root`, counted), so nothing past the last proven block
/// moves: the liar delays, it does not forge. (In `single_endpoint` mode
/// the forged messages would be delivered.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_l2_endpoint_delays_messages_and_never_forges_them() {
    let mut net = Net::start(
        63_300,
        Settlement::Outputs("output_finalization_period_secs = 4"),
        true,
    )
    .await;
    let honest = bodies("honest", 4);
    let a = net.dispatch(&honest).await;
    let root = net.output_root(a).await;
    net.propose(root, a).await;
    net.assert_delivered_exactly_once(&honest).await;
    assert_eq!(net.proven(), a as i64);

    // The liar forks the L2 at its head, forging block `a`'s messages.
    let url = net.chains.anvils[1].url.clone();
    let branch = forge_branch(&url, net.chains.deployments[1].mailbox, a).await;
    let fork = branch.fork;
    let proxy = net.proxy.as_ref().expect("the L2 endpoint is the proxy");
    proxy.forge(branch);
    net.wait_for("the hub's header chain follows the forged branch", || {
        net.hub
            .metrics
            .lc_height
            .with_label_values(&[L2_NAME, "tip"])
            .get()
            > fork as i64 + 1
    })
    .await;

    // A real block past the fork, and a final output for it on L1.
    let later = bodies("later", 2);
    let b = net.dispatch(&later).await;
    assert!(b > fork);
    let root = net.output_root(b).await;
    net.propose(root, b).await;
    net.wait_for("the output refused against the liar's header", || {
        net.rejections("output_root") >= 1
    })
    .await;
    net.assert_waiting(
        honest.len() as u64,
        a as i64,
        "the liar's branch is not proven",
    )
    .await;
    // Exactly the honest messages, none of the forged ones.
    net.assert_delivered_exactly_once(&honest).await;
    assert!(net.proxy.as_ref().expect("proxy").tampered() > 0);
    net.stop().await;
}

/// The AnchorStateRegistry form: messages wait until the anchor of the
/// configured game type covers their block. Another game type's anchor is
/// not read; an anchor whose root is not the block's output root is refused
/// (`output_root`) and counted once; then the honest anchor: delivered once
/// each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollup_origin_relays_only_below_the_anchor_state() {
    let mut net = Net::start(63_400, Settlement::Anchor("game_type = 1"), false).await;
    assert_eq!(net.trust_mode("rollup_final"), 1);
    let sent = bodies("anchored", 4);
    let a = net.dispatch(&sent).await;
    net.assert_waiting(0, 0, "no anchor covers the block yet")
        .await;

    let root = net.output_root(a).await;
    net.set_anchor(0, root, a).await;
    net.assert_waiting(0, 0, "game type 0's anchor is not the configured one")
        .await;

    net.set_anchor(1, keccak256("not the output root of the block"), a)
        .await;
    net.wait_for("the forged anchor refused", || {
        net.rejections("output_root") == 1
    })
    .await;
    net.assert_waiting(0, 0, "a forged anchor proves nothing")
        .await;

    net.set_anchor(1, root, a).await;
    net.assert_delivered_exactly_once(&sent).await;
    assert_eq!(net.proven(), a as i64);
    assert_eq!(net.rejections("output_root"), 1, "logged and counted once");
    net.stop().await;
}

/// An Arbitrum chain as a Nitro node serves it, made from an anvil chain:
/// every header's extra data is a 32-byte send root (`keccak("send root" ‖
/// number)`), so every block has another hash and links to the rewritten
/// parent. Receipts (their root is in the header, unchanged) are the
/// anvil's with the new block hashes. Anvil cannot make Nitro headers; the
/// hub reads this chain, the test posts assertions of it.
#[derive(Debug)]
struct NitroView {
    url: String,
    state: std::sync::Arc<NitroState>,
    _task: tokio::task::JoinHandle<()>,
}

#[derive(Debug)]
struct NitroState {
    upstream: String,
    /// Rewritten blocks from 0, in order (JSON with their `hash`).
    blocks: tokio::sync::Mutex<Vec<Value>>,
}

impl NitroState {
    async fn rpc(&self, method: &str, params: Value) -> Value {
        crate::harness::proxy::rpc(&self.upstream, method, params).await
    }

    /// Rewritten block `n`, rewriting the ones below it first; `None` when
    /// the chain is not that high yet.
    async fn block(&self, n: u64) -> Option<Value> {
        let mut blocks = self.blocks.lock().await;
        while blocks.len() as u64 <= n {
            let i = blocks.len() as u64;
            let mut b = self
                .rpc(
                    "eth_getBlockByNumber",
                    serde_json::json!([format!("0x{i:x}"), false]),
                )
                .await;
            if b.is_null() {
                return None;
            }
            let send_root = keccak256([b"send root".as_slice(), &i.to_be_bytes()].concat());
            b["extraData"] = Value::String(send_root.to_string());
            if let Some(parent) = blocks.last() {
                b["parentHash"] = parent["hash"].clone();
            }
            let header: alloy::rpc::types::Header =
                serde_json::from_value(b.clone()).expect("a header");
            b["hash"] = Value::String(header.inner.hash_slow().to_string());
            blocks.push(b);
        }
        Some(blocks[usize::try_from(n).expect("small")].clone())
    }

    async fn answer(&self, call: &Value) -> Value {
        let method = call["method"].as_str().unwrap_or("");
        let params = call["params"].clone();
        let number = |v: &Value| -> Option<u64> {
            u64::from_str_radix(v.as_str()?.strip_prefix("0x")?, 16).ok()
        };
        match method {
            "eth_getBlockByNumber" => {
                let n = match params[0].as_str() {
                    Some("latest") | Some("safe") | Some("finalized") => {
                        number(&self.rpc("eth_blockNumber", serde_json::json!([])).await)
                    }
                    _ => number(&params[0]),
                };
                match n {
                    Some(n) => self.block(n).await.unwrap_or(Value::Null),
                    None => Value::Null,
                }
            }
            "eth_getBlockByHash" => {
                let asked = params[0].as_str().unwrap_or("").to_lowercase();
                let blocks = self.blocks.lock().await;
                blocks
                    .iter()
                    .find(|b| b["hash"].as_str().map(str::to_lowercase) == Some(asked.clone()))
                    .cloned()
                    .unwrap_or(Value::Null)
            }
            "eth_getBlockReceipts" => {
                let Some(n) = number(&params[0]) else {
                    return Value::Null;
                };
                let Some(block) = self.block(n).await else {
                    return Value::Null;
                };
                let mut receipts = self.rpc(method, params).await;
                for r in receipts.as_array_mut().into_iter().flatten() {
                    r["blockHash"] = block["hash"].clone();
                    for l in r["logs"].as_array_mut().into_iter().flatten() {
                        l["blockHash"] = block["hash"].clone();
                    }
                }
                receipts
            }
            _ => self.rpc(method, params).await,
        }
    }
}

async fn nitro_rpc(
    axum::extract::State(st): axum::extract::State<std::sync::Arc<NitroState>>,
    axum::Json(req): axum::Json<Value>,
) -> axum::Json<Value> {
    let one = |call: Value, result: Value| serde_json::json!({"jsonrpc": "2.0", "id": call["id"].clone(), "result": result});
    axum::Json(match req {
        Value::Array(calls) => {
            let mut out = Vec::new();
            for c in calls {
                let r = st.answer(&c).await;
                out.push(one(c, r));
            }
            Value::Array(out)
        }
        call => {
            let r = st.answer(&call).await;
            one(call, r)
        }
    })
}

impl NitroView {
    async fn start(upstream: &str) -> Self {
        let state = std::sync::Arc::new(NitroState {
            upstream: upstream.to_owned(),
            blocks: tokio::sync::Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .route("/", axum::routing::post(nitro_rpc))
            .with_state(std::sync::Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url,
            state,
            _task: task,
        }
    }

    /// The view's head: its number and (rewritten) hash.
    async fn head(&self) -> (u64, B256) {
        let n = self
            .state
            .rpc("eth_blockNumber", serde_json::json!([]))
            .await;
        let n = u64::from_str_radix(n.as_str().expect("hex").trim_start_matches("0x"), 16)
            .expect("number");
        let (hash, _) = self.block_of(n).await;
        (n, hash)
    }

    /// Block `n`'s hash and send root in the view.
    async fn block_of(&self, n: u64) -> (B256, B256) {
        let b = self.state.block(n).await.expect("the block exists");
        let field = |k: &str| -> B256 { b[k].as_str().expect("hex").parse().expect("B256") };
        (field("hash"), field("extraData"))
    }
}

/// The Arbitrum form end to end: an L2 whose headers are Nitro's (through
/// a [`NitroView`]), a BoLD Rollup on L1. Messages wait while the
/// assertion covering their block is pending; a confirmed assertion whose
/// send root is not the header's is refused (`send_root`) and counted
/// once; once an honest assertion is confirmed they are delivered, once
/// each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_arbitrum_origin_relays_only_below_a_confirmed_assertion() {
    let mut net = Net::start(63_500, Settlement::Assertions(""), false).await;
    assert_eq!(net.trust_mode("rollup_final"), 1);
    let first = bodies("arbitrum", 4);
    let a = net.dispatch(&first).await;
    net.assert_waiting(0, 0, "no assertion covers the block yet")
        .await;
    net.assert_block(a, None, false).await;
    net.assert_waiting(0, 0, "the assertion covering the block is pending")
        .await;

    // A confirmed assertion of a later block with another send root.
    let second = bodies("arbitrum later", 2);
    let b = net.dispatch(&second).await;
    net.assert_block(b, Some(keccak256("not the send root")), true)
        .await;
    net.wait_for("the assertion refused", || net.rejections("send_root") == 1)
        .await;
    net.assert_waiting(
        0,
        0,
        "an assertion that does not describe its block proves nothing",
    )
    .await;

    // An honest one for the later block: both blocks' messages move.
    net.assert_block(b, None, true).await;
    let all: Vec<Bytes> = first.iter().chain(&second).cloned().collect();
    net.assert_delivered_exactly_once(&all).await;
    assert_eq!(net.proven(), b as i64);
    assert_eq!(net.rejections("send_root"), 1, "logged and counted once");
    net.stop().await;
}
