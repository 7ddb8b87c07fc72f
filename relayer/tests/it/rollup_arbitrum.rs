//! The Arbitrum rollup origin's prover on a real L1 chain: an anvil whose
//! `TestBoldRollup` keeps the BoLD Rollup's storage layout and emits its
//! `AssertionCreated` event (adapters/contracts/src/test), and, for the
//! L2, the real Arbitrum Sepolia block of `../shared/vectors/rip7755`
//! (block 117,201,326, a Nitro header whose extra data is its send root)
//! served by a small JSON-RPC node: the real Nitro header, where the hub
//! test (`rollup.rs::an_arbitrum_origin_relays_only_below_a_confirmed_assertion`)
//! uses an anvil chain rewritten into Nitro's header form.
//!
//! The test plays the validator: it asserts the vector's after state (the
//! assertion hash is the real one) and confirms it. The prover must prove
//! the block only from a Confirmed assertion (or, when chosen, a pending
//! one old enough), refuse an assertion that does not describe the block
//! (counted once), and get nothing from an L2 endpoint that lies.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use alloy::consensus::Header as ConsensusHeader;
use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::rlp::Decodable;
use alloy::sol;
use alloy::sol_types::SolCall;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use switchyard::health::Health;
use switchyard::metrics::Metrics;
use switchyard::origin::rollup::{RollupProver, RollupSpec};
use switchyard_evm::bindings::{ARTIFACTS_DIR, load_bytecode};
use switchyard_evm::rpc::{RpcPolicy, RpcPool};
use switchyard_evm::source::EvmSource;
use switchyard_lc_evm::BlockRef;
use switchyard_lc_rollup::{FinalityPolicy, MinAge, Settlement, Target};
use switchyard_localnet::evm::{ANVIL_KEYS, DevWallet};
use switchyard_localnet::procs::{Anvil, repo_root};
use tokio::sync::watch;

use crate::harness::net::checkpoint_of;
use crate::harness::serve::router;

const NAME: &str = "arb";
const PATIENCE: Duration = Duration::from_secs(30);

// TestBoldRollup's calls (rollup.rs posts its assertions with them too).
sol! {
    struct GlobalState {
        bytes32[2] bytes32Vals;
        uint64[2] u64Vals;
    }
    struct AssertionState {
        GlobalState globalState;
        uint8 machineStatus;
        bytes32 endHistoryRoot;
    }
    function createAssertion(bytes32 parent, AssertionState afterState, bytes32 inboxAcc) external returns (bytes32);
    function confirmAssertion(bytes32 assertionHash, bytes32 blockHash, bytes32 sendRoot) external;
}

/// The vector's assertion: its after state, parent and inbox accumulator,
/// the L2 header's RLP and the assertion hash its L1 storage key encodes.
struct Vector {
    after: AssertionState,
    parent: B256,
    acc: B256,
    header_rlp: Bytes,
    storage_key: B256,
}

fn vector() -> Vector {
    let p =
        repo_root().join("../shared/vectors/rip7755/contracts/test/data/ArbitrumSepoliaProof.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let v: Value = serde_json::from_str(&text).expect("JSON");
    let b32 = |v: &Value| -> B256 { v.as_str().expect("hex").parse().expect("bytes32") };
    let int = |v: &Value| -> u64 {
        match v {
            Value::Number(n) => n.as_u64().expect("u64"),
            Value::String(s) => match s.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).expect("hex u64"),
                None => s.parse().expect("decimal u64"),
            },
            other => panic!("not an integer: {other}"),
        }
    };
    let a = &v["afterState"];
    let g = &a["globalState"];
    Vector {
        after: AssertionState {
            globalState: GlobalState {
                bytes32Vals: [b32(&g["bytes32Vals"][0]), b32(&g["bytes32Vals"][1])],
                u64Vals: [int(&g["u64Vals"][0]), int(&g["u64Vals"][1])],
            },
            machineStatus: int(&a["machineStatus"]) as u8,
            endHistoryRoot: b32(&a["endHistoryRoot"]),
        },
        parent: b32(&v["prevAssertionHash"]),
        acc: b32(&v["sequencerBatchAcc"]),
        header_rlp: v["encodedBlockArray"]
            .as_str()
            .expect("hex")
            .parse()
            .expect("RLP"),
        storage_key: b32(&v["dstL2StateRootProofParams"]["storageKey"]),
    }
}

/// A JSON-RPC node that has one block: the vector's, by its hash. When
/// `lie` is set it serves, for that hash, a header with another extra data.
#[derive(Clone)]
struct L2Node {
    block: Value,
    hash: B256,
    lie: Arc<AtomicBool>,
}

async fn l2_rpc(State(node): State<L2Node>, Json(req): Json<Value>) -> Json<Value> {
    let id = req["id"].clone();
    let result = match req["method"].as_str() {
        Some("eth_getBlockByHash") => {
            let asked: Option<B256> = req["params"][0].as_str().and_then(|s| s.parse().ok());
            if asked == Some(node.hash) {
                let mut block = node.block.clone();
                if node.lie.load(Ordering::SeqCst) {
                    block["extraData"] = json!(format!("0x{}", "ab".repeat(32)));
                }
                block
            } else {
                Value::Null
            }
        }
        Some("eth_chainId") => json!("0x66eee"),
        _ => {
            return Json(
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "method not found"}}),
            );
        }
    };
    Json(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

/// Serves the vector's L2 block; the node's URL and its lie switch.
async fn l2_node(rlp: &Bytes) -> (String, Arc<AtomicBool>) {
    let mut buf = rlp.as_ref();
    let header = ConsensusHeader::decode(&mut buf).expect("the vector's header decodes");
    let hash = keccak256(rlp);
    let block = alloy::rpc::types::Block::<alloy::rpc::types::Transaction> {
        header: alloy::rpc::types::Header {
            hash,
            inner: header,
            total_difficulty: None,
            size: Some(U256::from(rlp.len())),
        },
        uncles: Vec::new(),
        transactions: alloy::rpc::types::BlockTransactions::Hashes(Vec::new()),
        withdrawals: None,
    };
    let lie = Arc::new(AtomicBool::new(false));
    let node = L2Node {
        block: serde_json::to_value(&block).expect("block JSON"),
        hash,
        lie: Arc::clone(&lie),
    };
    let app = axum::Router::new()
        .route("/", axum::routing::post(l2_rpc))
        .with_state(node);
    (router(app).await, lie)
}

/// The L1 anvil, the validator's wallet and the L2 node.
struct World {
    anvil: Anvil,
    wallet: DevWallet,
    l2_url: String,
    lie: Arc<AtomicBool>,
}

impl World {
    async fn start(chain_id: u64) -> Self {
        // Blocks only when the test makes them: automine (each transaction
        // its own block) and `anvil_mine`, so an assertion's age in L1
        // blocks is the test's to set.
        let anvil = Anvil::spawn(chain_id, 3600.0).expect("anvil starts (run deploy/setup.sh)");
        let wallet = DevWallet::connect(&anvil.url, ANVIL_KEYS[0])
            .await
            .expect("wallet");
        {
            use alloy::providers::Provider;
            let _: Value = wallet
                .provider()
                .raw_request("anvil_setAutomine".into(), (true,))
                .await
                .expect("anvil_setAutomine");
        }
        let (l2_url, lie) = l2_node(&vector().header_rlp).await;
        Self {
            anvil,
            wallet,
            l2_url,
            lie,
        }
    }

    /// A fresh Rollup (each scenario its own, so one's assertions do not
    /// meet another's).
    async fn rollup(&mut self) -> Address {
        let artifacts = repo_root().join(ARTIFACTS_DIR);
        let code =
            load_bytecode(&artifacts, "TestBoldRollup").expect("run adapters/contracts/build.sh");
        self.wallet
            .deploy(&code, &[])
            .await
            .expect("rollup deploys")
    }

    async fn send(&mut self, to: Address, data: Vec<u8>) {
        let hash = self
            .wallet
            .send(Some(to), data.into(), 1_000_000)
            .await
            .expect("L1 tx sent");
        let r = self.wallet.wait(hash, PATIENCE).await.expect("L1 tx mined");
        assert!(r.status(), "L1 tx succeeded");
    }

    /// Asserts `after` following `parent` with `acc`.
    async fn assert(&mut self, rollup: Address, after: &AssertionState, parent: B256, acc: B256) {
        let call = createAssertionCall {
            parent,
            afterState: after.clone(),
            inboxAcc: acc,
        };
        self.send(rollup, call.abi_encode()).await;
    }

    async fn confirm(&mut self, rollup: Address, h: B256, after: &AssertionState) {
        let call = confirmAssertionCall {
            assertionHash: h,
            blockHash: after.globalState.bytes32Vals[0],
            sendRoot: after.globalState.bytes32Vals[1],
        };
        self.send(rollup, call.abi_encode()).await;
    }

    /// Mines `n` empty L1 blocks.
    async fn mine(&self, n: u64) {
        use alloy::providers::Provider;
        let _: Value = self
            .wallet
            .provider()
            .raw_request("anvil_mine".into(), (U256::from(n),))
            .await
            .expect("anvil_mine");
    }

    /// A prover of `rollup` under `policy`, with the sender of the L1
    /// blocks it works at (the L1 light client's part in the hub).
    fn prover(
        &self,
        rollup: Address,
        policy: FinalityPolicy,
    ) -> (Prover, watch::Receiver<Option<BlockRef>>) {
        let pool = |name: &str, url: &str| {
            EvmSource::new(
                RpcPool::new(name, &[url.to_owned()], RpcPolicy::default()).expect("pool"),
            )
        };
        let (l1_tx, l1_rx) = watch::channel(None);
        let metrics = Metrics::new();
        let (prover, proven) = RollupProver::new(
            RollupSpec {
                name: NAME.into(),
                settles_on: "l1".into(),
                target: Target {
                    settlement: Settlement::ArbitrumRollup { rollup },
                    l2_account: None,
                },
                policy,
                poll: Duration::from_millis(100),
                max_candidates: 8,
            },
            pool("l1", &self.anvil.url),
            pool(NAME, &self.l2_url),
            l1_rx,
            metrics.clone(),
            Arc::new(Health::default()),
        );
        (
            Prover {
                prover,
                l1_tx,
                metrics,
            },
            proven,
        )
    }
}

/// The RollupLib assertion hash of the test's inputs.
pub(crate) fn assertion_hash(after: &AssertionState, parent: B256, acc: B256) -> B256 {
    use alloy::sol_types::SolValue;
    keccak256(
        [
            parent.as_slice(),
            keccak256(after.abi_encode()).as_slice(),
            acc.as_slice(),
        ]
        .concat(),
    )
}

struct Prover {
    prover: RollupProver,
    l1_tx: watch::Sender<Option<BlockRef>>,
    metrics: Metrics,
}

impl Prover {
    /// One round at the L1 head (verified, as the L1 light client would
    /// publish it).
    async fn round(
        &mut self,
        world: &World,
    ) -> Result<Option<BlockRef>, switchyard::error::HubError> {
        let (number, hash) = checkpoint_of(&world.wallet).await;
        self.l1_tx.send_replace(Some(BlockRef { number, hash }));
        self.prover.round().await
    }

    fn rejections(&self, reason: &str) -> u64 {
        self.metrics
            .rejections
            .with_label_values(&[NAME, reason])
            .get()
    }
}

fn final_only() -> FinalityPolicy {
    FinalityPolicy {
        game_finality_delay: 0,
        output_finalization_period: 0,
        accept_anchor_state: false,
        min_age: None,
    }
}

/// A pending assertion proves nothing; once Confirmed, the L2 block it ends
/// at is proven (and the assertion hash the test's Rollup computed is the
/// real Arbitrum Sepolia one). An L2 endpoint serving another header for
/// that hash gets nothing proven.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_assertion_proves_its_block_and_a_pending_one_does_not() {
    let mut w = World::start(64_100).await;
    let rollup = w.rollup().await;
    let v = vector();
    let h = assertion_hash(&v.after, v.parent, v.acc);
    assert_eq!(
        switchyard_lc_rollup::arbitrum::assertion_slot(h),
        v.storage_key,
        "the test's assertion is the vector's"
    );
    let (mut p, proven) = w.prover(rollup, final_only());
    assert_eq!(p.round(&w).await.expect("round"), None, "nothing asserted");

    w.assert(rollup, &v.after, v.parent, v.acc).await;
    assert_eq!(p.round(&w).await.expect("round"), None, "pending");
    assert_eq!(*proven.borrow(), None);

    w.confirm(rollup, h, &v.after).await;
    // The liar first: the header it serves for the asserted hash does not
    // hash to it, and the read is refused before the light client sees it.
    w.lie.store(true, Ordering::SeqCst);
    let err = p
        .round(&w)
        .await
        .expect_err("a header that is not the asserted block");
    assert!(err.to_string().contains("hashing to"), "{err}");
    assert_eq!(*proven.borrow(), None, "nothing proven from the liar");

    w.lie.store(false, Ordering::SeqCst);
    let got = p.round(&w).await.expect("round").expect("proven");
    let hash = keccak256(&v.header_rlp);
    assert_eq!(
        got,
        BlockRef {
            number: 117_201_326,
            hash
        }
    );
    assert_eq!(*proven.borrow(), Some(got));
    assert_eq!(
        p.metrics
            .lc_height
            .with_label_values(&[NAME, "proven"])
            .get(),
        117_201_326
    );
    // Nothing newer: the next round proves nothing more.
    assert_eq!(p.round(&w).await.expect("round"), None);
    assert_eq!(p.rejections("send_root"), 0);
}

/// Confirmed assertions that do not describe the block are refused at
/// their hop and counted once: a send root other than the header's (Nitro
/// keeps it in the extra data), and a machine status other than FINISHED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assertion_that_does_not_describe_its_block_is_refused_and_counted_once() {
    let mut w = World::start(64_200).await;
    let v = vector();
    for (reason, after) in [
        ("send_root", {
            let mut a = v.after.clone();
            a.globalState.bytes32Vals[1] = keccak256("not the send root");
            a
        }),
        ("machine_status", {
            let mut a = v.after.clone();
            a.machineStatus = 2;
            a
        }),
    ] {
        let rollup = w.rollup().await;
        let (mut p, proven) = w.prover(rollup, final_only());
        w.assert(rollup, &after, v.parent, v.acc).await;
        w.confirm(rollup, assertion_hash(&after, v.parent, v.acc), &after)
            .await;
        for _ in 0..2 {
            w.mine(1).await;
            assert_eq!(p.round(&w).await.expect("round"), None, "{reason}");
        }
        assert_eq!(*proven.borrow(), None, "{reason}");
        assert_eq!(p.rejections(reason), 1, "{reason}: counted once");
    }
}

/// With the minimum-age policy chosen, a pending assertion is accepted once
/// it is that many L1 blocks old, found in the Rollup's `AssertionCreated`
/// logs; before, nothing is proven.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_assertion_is_accepted_past_the_minimum_age_when_chosen() {
    let mut w = World::start(64_300).await;
    let rollup = w.rollup().await;
    let v = vector();
    let policy = FinalityPolicy {
        min_age: Some(MinAge {
            seconds: u64::MAX,
            l1_blocks: 5,
        }),
        ..final_only()
    };
    let (mut p, proven) = w.prover(rollup, policy);
    w.assert(rollup, &v.after, v.parent, v.acc).await;
    assert_eq!(p.round(&w).await.expect("round"), None, "0 blocks old");
    w.mine(3).await;
    assert_eq!(p.round(&w).await.expect("round"), None, "3 blocks old");
    assert_eq!(*proven.borrow(), None);
    w.mine(2).await;
    let got = p
        .round(&w)
        .await
        .expect("round")
        .expect("5 blocks old: proven");
    assert_eq!(got.number, 117_201_326);
    assert_eq!(p.rejections("assertion_status"), 0);
}

/// The stand-in keeps the layout the prover reads (the compiler's own
/// account of it, from the artifact): `_assertions` at slot 117 (0x75, the
/// slot the vector's real storage key is under), and the node's first word
/// packed as `switchyard_lc_rollup::arbitrum::AssertionNode` unpacks it.
#[test]
fn the_stand_in_keeps_the_bold_rollup_layout() {
    let p = repo_root()
        .join(ARTIFACTS_DIR)
        .join("TestBoldRollup.sol/TestBoldRollup.json");
    let j: Value =
        serde_json::from_str(&std::fs::read_to_string(&p).expect("artifact")).expect("JSON");
    let layout = &j["storageLayout"];
    let var = layout["storage"]
        .as_array()
        .expect("storageLayout (foundry.toml extra_output)")
        .iter()
        .find(|v| v["label"] == "_assertions")
        .expect("_assertions");
    assert_eq!(
        (var["slot"].as_str(), var["offset"].as_u64()),
        (
            Some(
                switchyard_lc_rollup::arbitrum::ASSERTIONS_SLOT
                    .to_string()
                    .as_str()
            ),
            Some(0)
        )
    );
    let value = layout["types"][var["type"].as_str().expect("type")]["value"]
        .as_str()
        .expect("a mapping's value type");
    let members: Vec<(String, String, u64)> = layout["types"][value]["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            (
                m["label"].as_str().expect("label").to_owned(),
                m["slot"].as_str().expect("slot").to_owned(),
                m["offset"].as_u64().expect("offset"),
            )
        })
        .collect();
    for (label, offset) in [
        ("firstChildBlock", 0),
        ("secondChildBlock", 8),
        ("createdAtBlock", 16),
        ("isFirstChild", 24),
        ("status", 25),
    ] {
        assert!(
            members.contains(&(label.to_owned(), "0".to_owned(), offset)),
            "{label} at slot 0 offset {offset}: {members:?}"
        );
    }
}
