//! Test kit (feature `testkit`, enabled only by dev-dependencies): a
//! CometBFT chain generated with tendermint-testgen (real ed25519
//! signatures) whose app hashes commit to a real IAVL outbox store under a
//! two-store multistore, and a local HTTP node serving it (`/status`,
//! `/commit`, `/validators`, `/abci_query` with ICS-23 proofs of presence
//! and absence), with switches to make it lie.
//!
//! The IAVL tree is built the way iavl hashes it (`node.go`): a leaf is
//! `sha256(zigzag height 0 ‖ zigzag size 1 ‖ zigzag version ‖ len ‖ key ‖
//! len ‖ sha256(value))`, an inner node `sha256(zigzag height ‖ zigzag size
//! ‖ zigzag version ‖ len ‖ left ‖ len ‖ right)`; proofs are the ICS-23
//! ops iavl emits, checked with the IAVL spec, so non-existence proofs go
//! through the spec's neighbour checks.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ics23::commitment_proof::Proof;
use ics23::{
    CommitmentProof, ExistenceProof, HashOp, HostFunctionsManager, HostFunctionsProvider, InnerOp,
    LeafOp, LengthOp, NonExistenceProof,
};
use prost::Message as _;
use serde_json::{Value, json};
use switchyard_lc_cometbft::LightBlock;
use switchyard_lc_cometbft::json::{commit_to_rpc, validators_to_rpc};
use switchyard_lc_cometbft::outbox::{OUTBOX_STORE, outbox_key};
use switchyard_types::Message;
use tendermint_testgen::{Commit, Generator, Header, LightBlock as TestgenBlock, Validator};

/// The generated chain's id.
pub const CHAIN_ID: &str = "cosmos-test";

/// The IAVL version every node carries (one byte as a zigzag varint).
const VERSION: i64 = 1;

fn sha256(b: &[u8]) -> Vec<u8> {
    HostFunctionsManager::sha2_256(b).to_vec()
}

fn zigzag(n: i64, out: &mut Vec<u8>) {
    prost::encoding::encode_varint(((n << 1) ^ (n >> 63)) as u64, out);
}

fn iavl_leaf_op() -> LeafOp {
    let mut prefix = Vec::new();
    zigzag(0, &mut prefix);
    zigzag(1, &mut prefix);
    zigzag(VERSION, &mut prefix);
    LeafOp {
        hash: HashOp::Sha256.into(),
        prehash_key: HashOp::NoHash.into(),
        prehash_value: HashOp::Sha256.into(),
        length: LengthOp::VarProto.into(),
        prefix,
    }
}

fn simple_leaf_op() -> LeafOp {
    ics23::tendermint_spec().leaf_spec.expect("leaf spec")
}

fn root_of(p: &ExistenceProof) -> Vec<u8> {
    ics23::calculate_existence_root::<HostFunctionsManager>(p).expect("root")
}

enum Tree {
    Leaf {
        hash: Vec<u8>,
    },
    Inner {
        hash: Vec<u8>,
        header: Vec<u8>,
        left: Box<Tree>,
        right: Box<Tree>,
        left_len: usize,
    },
}

impl Tree {
    fn hash(&self) -> &[u8] {
        match self {
            Tree::Leaf { hash } | Tree::Inner { hash, .. } => hash,
        }
    }

    fn height(&self) -> i64 {
        match self {
            Tree::Leaf { .. } => 0,
            Tree::Inner { header, .. } => i64::from(header[0] >> 1),
        }
    }

    fn build(items: &[(Vec<u8>, Vec<u8>)]) -> Tree {
        if let [(k, v)] = items {
            return Tree::Leaf {
                hash: root_of(&ExistenceProof {
                    key: k.clone(),
                    value: v.clone(),
                    leaf: Some(iavl_leaf_op()),
                    path: vec![],
                }),
            };
        }
        let mid = items.len().div_ceil(2);
        let left = Tree::build(&items[..mid]);
        let right = Tree::build(&items[mid..]);
        let mut header = Vec::new();
        zigzag(1 + left.height().max(right.height()), &mut header);
        zigzag(items.len() as i64, &mut header);
        zigzag(VERSION, &mut header);
        let mut pre = header.clone();
        pre.push(0x20);
        pre.extend_from_slice(left.hash());
        pre.push(0x20);
        pre.extend_from_slice(right.hash());
        Tree::Inner {
            hash: sha256(&pre),
            header,
            left: Box::new(left),
            right: Box::new(right),
            left_len: mid,
        }
    }

    /// Inner ops from the leaf at `index` up to the root.
    fn path(&self, index: usize) -> Vec<InnerOp> {
        match self {
            Tree::Leaf { .. } => Vec::new(),
            Tree::Inner {
                header,
                left,
                right,
                left_len,
                ..
            } => {
                let mut prefix = header.clone();
                prefix.push(0x20);
                let (mut path, suffix) = if index < *left_len {
                    let mut suffix = vec![0x20];
                    suffix.extend_from_slice(right.hash());
                    (left.path(index), suffix)
                } else {
                    prefix.extend_from_slice(left.hash());
                    prefix.push(0x20);
                    (right.path(index - left_len), Vec::new())
                };
                path.push(InnerOp {
                    hash: HashOp::Sha256.into(),
                    prefix,
                    suffix,
                });
                path
            }
        }
    }
}

/// An IAVL store: sorted entries, their root, ICS-23 proofs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Iavl {
    pub entries: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Iavl {
    fn items(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.entries
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The store root (the store must not be empty).
    pub fn root(&self) -> Vec<u8> {
        Tree::build(&self.items()).hash().to_vec()
    }

    fn exist(&self, tree: &Tree, items: &[(Vec<u8>, Vec<u8>)], i: usize) -> ExistenceProof {
        ExistenceProof {
            key: items[i].0.clone(),
            value: items[i].1.clone(),
            leaf: Some(iavl_leaf_op()),
            path: tree.path(i),
        }
    }

    /// A membership proof of `key` if present, else a non-membership proof.
    pub fn prove(&self, key: &[u8]) -> CommitmentProof {
        let items = self.items();
        let tree = Tree::build(&items);
        let proof = match items.binary_search_by(|(k, _)| k.as_slice().cmp(key)) {
            Ok(i) => Proof::Exist(self.exist(&tree, &items, i)),
            Err(i) => Proof::Nonexist(NonExistenceProof {
                key: key.to_vec(),
                left: i.checked_sub(1).map(|l| self.exist(&tree, &items, l)),
                right: (i < items.len()).then(|| self.exist(&tree, &items, i)),
            }),
        };
        CommitmentProof { proof: Some(proof) }
    }
}

/// The app hash of a multistore holding `bank` and `switchyard` (whose
/// root is `store_root`), and the `switchyard` store's proof under it.
pub fn multistore(store_root: &[u8]) -> (Vec<u8>, ExistenceProof) {
    let bank = root_of(&ExistenceProof {
        key: b"bank".to_vec(),
        value: vec![0xba; 32],
        leaf: Some(simple_leaf_op()),
        path: vec![],
    });
    let mut prefix = vec![0x01];
    prefix.extend_from_slice(&bank);
    let proof = ExistenceProof {
        key: OUTBOX_STORE.to_vec(),
        value: store_root.to_vec(),
        leaf: Some(simple_leaf_op()),
        path: vec![InnerOp {
            hash: HashOp::Sha256.into(),
            prefix,
            suffix: vec![],
        }],
    };
    (root_of(&proof), proof)
}

/// A generated chain: blocks, and the outbox store's state after each.
#[derive(Debug, Clone)]
pub struct Chain {
    validators: Vec<Validator>,
    /// The set that signs from the block after the next one on.
    next_validators: Option<Vec<Validator>>,
    base_time: i64,
    blocks: BTreeMap<u64, LightBlock>,
    /// `states[h]`: the store after block `h` (committed by header `h + 1`).
    states: Vec<Iavl>,
    pending: Iavl,
}

impl Chain {
    /// A chain of `validators` equal-power validators whose block `h` is
    /// timed `base_unix + h` seconds; no block yet. The store starts with
    /// one non-outbox key (as a module keeps its counters beside the
    /// outbox), so the empty outbox has a neighbour to prove absence with.
    pub fn new(validators: usize, base_unix: i64) -> Self {
        let validators = (0..validators)
            .map(|i| Validator::new(&format!("val-{i}")).voting_power(10))
            .collect();
        let mut genesis = Iavl::default();
        genesis
            .entries
            .insert(b"count".to_vec(), 0u32.to_be_bytes().to_vec());
        Self {
            validators,
            next_validators: None,
            base_time: base_unix,
            blocks: BTreeMap::new(),
            states: vec![genesis.clone()],
            pending: genesis,
        }
    }

    /// Replaces the validator set by `count` new validators named
    /// `{prefix}-{i}`: the next block announces them (`next_validators`),
    /// the one after is signed by them. Skipping across the change lacks
    /// trust when no old validator stays: the light client must bisect.
    pub fn rotate_validators(&mut self, prefix: &str, count: usize) {
        self.next_validators = Some(
            (0..count)
                .map(|i| Validator::new(&format!("{prefix}-{i}")).voting_power(10))
                .collect(),
        );
    }

    /// Moves the clock of the blocks to come `secs` seconds forward (a
    /// chain the hub did not follow for a while).
    pub fn advance_time(&mut self, secs: i64) {
        self.base_time += secs;
    }

    /// Writes `message` to the outbox in the next block (the `Dispatch`
    /// handler of the chain's module).
    pub fn dispatch(&mut self, message: &Message) {
        self.pending
            .entries
            .insert(outbox_key(message.nonce), message.encode());
        self.pending.entries.insert(
            b"count".to_vec(),
            (message.nonce + 1).to_be_bytes().to_vec(),
        );
    }

    /// Produces the next block (it commits the state after the previous
    /// one) and executes the pending writes in it; returns its height.
    pub fn commit(&mut self) -> u64 {
        let h = self.latest() + 1;
        let store = &self.states[(h - 1) as usize];
        let (app_hash, _) = multistore(&store.root());
        let time = tendermint::Time::from_unix_timestamp(self.base_time + h as i64, 0)
            .expect("block time");
        let next = self
            .next_validators
            .take()
            .unwrap_or_else(|| self.validators.clone());
        let header = Header::new(&self.validators)
            .next_validators(&next)
            .height(h)
            .chain_id(CHAIN_ID)
            .time(time)
            .app_hash(tendermint::AppHash::try_from(app_hash).expect("app hash"));
        let b = TestgenBlock::new(header.clone(), Commit::new(header, 1))
            .next_validators(&next)
            .generate()
            .expect("testgen block");
        self.validators = next;
        self.blocks.insert(
            h,
            LightBlock::new(b.signed_header, b.validators, b.next_validators, b.provider),
        );
        self.states.push(self.pending.clone());
        h
    }

    /// The latest block height (0 before the first block).
    pub fn latest(&self) -> u64 {
        self.blocks.keys().next_back().copied().unwrap_or(0)
    }

    /// Block `h`.
    pub fn block(&self, h: u64) -> Option<&LightBlock> {
        self.blocks.get(&h)
    }

    /// The store after block `h`.
    pub fn state(&self, h: u64) -> Option<&Iavl> {
        self.states.get(h as usize)
    }
}

/// How a node lies in its `abci_query` answers for present entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tamper {
    /// The value's last byte flipped, the honest proof kept.
    Value,
    /// The honest value with a proof from another store root (a store
    /// that also holds a key the chain never wrote).
    ForeignProof,
    /// Claims the entry is absent, with the honest proof of the entry.
    Hide,
}

/// What the node serves.
#[derive(Debug)]
pub struct Node {
    pub chain: RwLock<Chain>,
    pub tamper: Mutex<Option<Tamper>>,
    /// Requests served, per path.
    pub requests: Mutex<HashMap<String, usize>>,
    pub total: AtomicUsize,
}

impl Node {
    pub fn new(chain: Chain) -> Arc<Self> {
        Arc::new(Self {
            chain: RwLock::new(chain),
            tamper: Mutex::new(None),
            requests: Mutex::new(HashMap::new()),
            total: AtomicUsize::new(0),
        })
    }

    /// Switches lying on (`Some`) or off.
    pub fn set_tamper(&self, t: Option<Tamper>) {
        *self.tamper.lock().expect("tamper lock") = t;
    }

    /// Requests served on `path` (`/abci_query`, ...).
    pub fn served(&self, path: &str) -> usize {
        self.requests
            .lock()
            .expect("requests lock")
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    fn count(&self, path: &str) {
        self.total.fetch_add(1, Ordering::SeqCst);
        *self
            .requests
            .lock()
            .expect("requests lock")
            .entry(path.to_owned())
            .or_default() += 1;
    }
}

fn envelope(result: &Value) -> String {
    json!({"jsonrpc": "2.0", "id": -1, "result": result}).to_string()
}

fn rpc_error(message: &str) -> String {
    json!({"jsonrpc": "2.0", "id": -1, "error": {"code": -32603, "message": "Internal error", "data": message}}).to_string()
}

fn num(q: &HashMap<String, String>, k: &str, default: u64) -> u64 {
    q.get(k)
        .and_then(|v| v.trim_matches('"').parse().ok())
        .unwrap_or(default)
}

async fn status(State(node): State<Arc<Node>>) -> String {
    node.count("/status");
    let latest = node.chain.read().expect("chain lock").latest();
    envelope(&json!({
        "node_info": {"network": CHAIN_ID, "version": "0.38.0"},
        "sync_info": {"latest_block_height": latest.to_string(), "catching_up": false},
    }))
}

async fn commit(State(node): State<Arc<Node>>, Query(q): Query<HashMap<String, String>>) -> String {
    node.count("/commit");
    let chain = node.chain.read().expect("chain lock");
    let h = num(&q, "height", chain.latest());
    match chain.block(h) {
        Some(b) => envelope(&commit_to_rpc(b)),
        None => rpc_error(&format!("height {h} is not available")),
    }
}

async fn validators(
    State(node): State<Arc<Node>>,
    Query(q): Query<HashMap<String, String>>,
) -> String {
    node.count("/validators");
    let chain = node.chain.read().expect("chain lock");
    let h = num(&q, "height", chain.latest());
    let page = num(&q, "page", 1) as usize;
    let per_page = num(&q, "per_page", 30) as usize;
    let set = match (chain.block(h), chain.block(h.saturating_sub(1))) {
        (Some(b), _) => b.validators.clone(),
        (None, Some(prev)) => prev.next_validators.clone(),
        _ => return rpc_error(&format!("height {h} is not available")),
    };
    envelope(&validators_to_rpc(h, &set, page, per_page.min(100)))
}

fn op_json(kind: &str, key: &[u8], proof: &CommitmentProof) -> Value {
    json!({"type": kind, "key": B64.encode(key), "data": B64.encode(proof.encode_to_vec())})
}

fn exist(p: ExistenceProof) -> CommitmentProof {
    CommitmentProof {
        proof: Some(Proof::Exist(p)),
    }
}

async fn abci_query(
    State(node): State<Arc<Node>>,
    Query(q): Query<HashMap<String, String>>,
) -> String {
    node.count("/abci_query");
    if q.get("path").map(String::as_str) != Some("\"/store/switchyard/key\"")
        || q.get("prove").map(String::as_str) != Some("true")
    {
        return rpc_error("unsupported query");
    }
    let Some(key) = q
        .get("data")
        .and_then(|d| hex::decode(d.trim_start_matches("0x")).ok())
    else {
        return rpc_error("data: expected 0x-hex");
    };
    let chain = node.chain.read().expect("chain lock");
    let h = num(&q, "height", chain.latest().saturating_sub(1));
    let Some(state) = chain.state(h).filter(|_| h <= chain.latest()) else {
        return rpc_error(&format!("height {h} is not available"));
    };
    let tamper = *node.tamper.lock().expect("tamper lock");
    let mut store = state.clone();
    let mut value = store.entries.get(&key).cloned();
    if value.is_some() && tamper == Some(Tamper::ForeignProof) {
        store
            .entries
            .insert(b"outbox/forged".to_vec(), b"never written".to_vec());
    }
    let store_proof = store.prove(&key);
    let (_, multi) = multistore(&store.root());
    match (&mut value, tamper) {
        (Some(v), Some(Tamper::Value)) => {
            if let Some(last) = v.last_mut() {
                *last ^= 1;
            }
        }
        (Some(_), Some(Tamper::Hide)) => value = None,
        _ => {}
    }
    let ops = json!({"ops": [
        op_json("ics23:iavl", &key, &store_proof),
        op_json("ics23:simple", OUTBOX_STORE, &exist(multi)),
    ]});
    envelope(&json!({"response": {
        "code": 0, "log": "", "info": "", "index": "0",
        "key": B64.encode(&key),
        "value": value.map(|v| B64.encode(v)),
        "proofOps": ops, "height": h.to_string(), "codespace": "",
    }}))
}

/// The RPC routes of `node` (`/status`, `/commit`, `/validators`,
/// `/abci_query`), to serve over plain HTTP ([`serve`]) or TLS.
pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/commit", get(commit))
        .route("/validators", get(validators))
        .route("/abci_query", get(abci_query))
        .with_state(node)
}

/// Serves `node` on an ephemeral loopback port until the runtime ends;
/// returns its base URL.
pub async fn serve(node: Arc<Node>) -> String {
    let app = router(node);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    format!("http://{addr}")
}
