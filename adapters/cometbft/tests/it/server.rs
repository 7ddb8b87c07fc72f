//! A local CometBFT RPC stand-in (axum) over generated blocks, plus a
//! dead endpoint and one that accepts connections and never answers.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ics23::commitment_proof::Proof;
use ics23::{CommitmentProof, ExistenceProof, HashOp, HostFunctionsManager, InnerOp, LeafOp};
use prost::Message as _;
use serde_json::{Value, json};
use switchyard_lc_cometbft::LightBlock;
use switchyard_lc_cometbft::json::{commit_to_rpc, validators_to_rpc};
use switchyard_lc_cometbft::outbox::OUTBOX_STORE;
use tendermint_testgen::{Commit, Generator, Header, LightBlock as TestgenBlock, Validator};

pub(crate) const CHAIN_ID: &str = "cosmos-test";

pub(crate) fn time_of(h: u64) -> tendermint::Time {
    tendermint::Time::from_unix_timestamp(1_700_000_000 + h as i64 * 5, 0).expect("time")
}

/// One of four validators replaced at every height (a skip of more than
/// three heights shares no signer with the trusted set).
pub(crate) fn rotating_set(h: u64) -> Vec<Validator> {
    (h..h + 4)
        .map(|i| Validator::new(&format!("v{i}")).voting_power(10))
        .collect()
}

pub(crate) fn gen_block(
    h: u64,
    vals: &[Validator],
    next: &[Validator],
    app_hash: Option<Vec<u8>>,
) -> LightBlock {
    let mut header = Header::new(vals)
        .next_validators(next)
        .height(h)
        .chain_id(CHAIN_ID)
        .time(time_of(h));
    if let Some(a) = app_hash {
        header = header.app_hash(tendermint::AppHash::try_from(a).expect("app hash"));
    }
    let b = TestgenBlock::new(header.clone(), Commit::new(header, 1))
        .next_validators(next)
        .generate()
        .expect("testgen block");
    LightBlock::new(b.signed_header, b.validators, b.next_validators, b.provider)
}

/// An outbox entry served by `abci_query`: state height, key, value, and
/// the two proof ops (IAVL store, then multistore) as RPC JSON.
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) height: u64,
    pub(crate) key: Vec<u8>,
    pub(crate) value: Vec<u8>,
    pub(crate) ops: Value,
}

fn root(p: &ExistenceProof) -> Vec<u8> {
    ics23::calculate_existence_root::<HostFunctionsManager>(p).expect("root")
}

fn encode(p: ExistenceProof) -> String {
    B64.encode(
        CommitmentProof {
            proof: Some(Proof::Exist(p)),
        }
        .encode_to_vec(),
    )
}

/// A one-entry IAVL store under a two-store multistore; returns the entry
/// and the app hash that commits to it.
pub(crate) fn entry(height: u64, key: &[u8], value: &[u8]) -> (Entry, Vec<u8>) {
    let iavl_leaf = LeafOp {
        hash: HashOp::Sha256.into(),
        prehash_key: 0,
        prehash_value: HashOp::Sha256.into(),
        length: ics23::LengthOp::VarProto.into(),
        prefix: vec![0x00, 0x02, 0x0a],
    };
    let store = ExistenceProof {
        key: key.to_vec(),
        value: value.to_vec(),
        leaf: Some(iavl_leaf),
        path: vec![],
    };
    let store_root = root(&store);
    let simple_leaf = ics23::tendermint_spec().leaf_spec.expect("leaf spec");
    let bank = root(&ExistenceProof {
        key: b"bank".to_vec(),
        value: vec![0xba; 32],
        leaf: Some(simple_leaf.clone()),
        path: vec![],
    });
    let mut prefix = vec![0x01];
    prefix.extend_from_slice(&bank);
    let multi = ExistenceProof {
        key: OUTBOX_STORE.to_vec(),
        value: store_root,
        leaf: Some(simple_leaf),
        path: vec![InnerOp {
            hash: HashOp::Sha256.into(),
            prefix,
            suffix: vec![],
        }],
    };
    let app_hash = root(&multi);
    let ops = json!({"ops": [
        {"type": "ics23:iavl", "key": B64.encode(key), "data": encode(store)},
        {"type": "ics23:simple", "key": B64.encode(OUTBOX_STORE), "data": encode(multi)},
    ]});
    (
        Entry {
            height,
            key: key.to_vec(),
            value: value.to_vec(),
            ops,
        },
        app_hash,
    )
}

/// What a node serves.
#[derive(Default)]
pub(crate) struct Node {
    pub(crate) blocks: BTreeMap<u64, LightBlock>,
    pub(crate) entry: Option<Entry>,
    pub(crate) requests: AtomicUsize,
    /// Requests per path, to check pagination and fetch order.
    pub(crate) log: std::sync::Mutex<Vec<String>>,
}

fn envelope(result: &Value) -> String {
    json!({"jsonrpc": "2.0", "id": -1, "result": result}).to_string()
}

fn rpc_error(message: &str) -> String {
    json!({"jsonrpc": "2.0", "id": -1, "error": {"code": -32603, "message": "Internal error", "data": message}}).to_string()
}

fn num(q: &HashMap<String, String>, k: &str, default: u64) -> u64 {
    q.get(k)
        .map(|v| v.trim_matches('"').parse().expect("number"))
        .unwrap_or(default)
}

async fn status(State(node): State<Arc<Node>>) -> String {
    node.requests.fetch_add(1, Ordering::SeqCst);
    let latest = node.blocks.keys().next_back().copied().unwrap_or(0);
    envelope(&json!({
        "node_info": {"network": CHAIN_ID, "version": "0.38.0"},
        "sync_info": {"latest_block_height": latest.to_string(), "catching_up": false},
    }))
}

async fn commit(State(node): State<Arc<Node>>, Query(q): Query<HashMap<String, String>>) -> String {
    node.requests.fetch_add(1, Ordering::SeqCst);
    let h = num(&q, "height", 0);
    node.log.lock().expect("log").push(format!("commit {h}"));
    match node.blocks.get(&h) {
        Some(b) => envelope(&commit_to_rpc(b)),
        None => rpc_error(&format!("height {h} is not available")),
    }
}

async fn validators(
    State(node): State<Arc<Node>>,
    Query(q): Query<HashMap<String, String>>,
) -> String {
    node.requests.fetch_add(1, Ordering::SeqCst);
    let h = num(&q, "height", 0);
    let page = num(&q, "page", 1) as usize;
    let per_page = num(&q, "per_page", 30) as usize;
    node.log
        .lock()
        .expect("log")
        .push(format!("validators {h} page {page}/{per_page}"));
    let set = match (node.blocks.get(&h), node.blocks.get(&(h - 1))) {
        (Some(b), _) => b.validators.clone(),
        (None, Some(prev)) => prev.next_validators.clone(),
        _ => return rpc_error(&format!("height {h} is not available")),
    };
    envelope(&validators_to_rpc(h, &set, page, per_page.min(100)))
}

async fn abci_query(
    State(node): State<Arc<Node>>,
    Query(q): Query<HashMap<String, String>>,
) -> String {
    node.requests.fetch_add(1, Ordering::SeqCst);
    let h = num(&q, "height", 0);
    let data = q
        .get("data")
        .map(|d| d.trim_start_matches("0x").to_owned())
        .unwrap_or_default();
    assert_eq!(q.get("prove").map(String::as_str), Some("true"));
    assert_eq!(
        q.get("path").map(String::as_str),
        Some("\"/store/switchyard/key\"")
    );
    let found = node
        .entry
        .as_ref()
        .filter(|e| e.height == h && hex::encode(&e.key) == data);
    let response = match found {
        Some(e) => json!({
            "code": 0, "log": "", "info": "", "index": "0",
            "key": B64.encode(&e.key), "value": B64.encode(&e.value),
            "proofOps": e.ops, "height": h.to_string(), "codespace": "",
        }),
        None => json!({
            "code": 0, "log": "", "info": "", "index": "0",
            "key": B64.encode(hex::decode(&data).expect("hex")), "value": null,
            "proofOps": null, "height": h.to_string(), "codespace": "",
        }),
    };
    envelope(&json!({ "response": response }))
}

/// Serves `node` on an ephemeral loopback port until the test ends.
pub(crate) async fn serve(node: Arc<Node>) -> String {
    let app = Router::new()
        .route("/status", get(status))
        .route("/commit", get(commit))
        .route("/validators", get(validators))
        .route("/abci_query", get(abci_query))
        .with_state(node);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    format!("http://{addr}")
}

/// An address nothing listens on.
pub(crate) async fn dead() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

/// An endpoint that accepts connections and never answers; counts them.
pub(crate) async fn silent() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            held.push(sock);
        }
    });
    (format!("http://{addr}"), count)
}
