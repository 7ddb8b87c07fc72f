//! The proxy harness: what stands between the hub and a real endpoint in
//! the tests. [`TcpForward`] forwards bytes and can be taken down and brought
//! back (a lost endpoint); [`Proxy`] forwards JSON-RPC and, in a lying mode,
//! rewrites answers (tampered receipts, forged headers and branches, fake
//! delivery receipts and reverts): the hub's light client and its endpoint
//! quorum are all that stand between those answers and a destination.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use alloy::primitives::{Address, B256, Bloom, BloomInput, Bytes, keccak256};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use switchyard_lc_evm::DISPATCH_TOPIC;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// Bytes of a message before its body (Hyperlane v3 layout).
pub(crate) const MESSAGE_HEADER_LEN: usize = 77;

/// A TCP forwarder in front of an RPC endpoint that can be taken down
/// (listener closed, open connections cut) and brought back on its port.
pub(crate) struct TcpForward {
    pub(crate) addr: SocketAddr,
    pub(crate) up: Arc<AtomicBool>,
    pub(crate) cut: Arc<Notify>,
}

impl TcpForward {
    pub(crate) async fn start(upstream: &str) -> Self {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("upstream host:port");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let up = Arc::new(AtomicBool::new(true));
        let cut = Arc::new(Notify::new());
        let (up2, cut2) = (Arc::clone(&up), Arc::clone(&cut));
        tokio::spawn(async move {
            let mut listener = Some(listener);
            loop {
                if !up2.load(Ordering::SeqCst) {
                    // Down: the port refuses connections.
                    listener = None;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                let l = match &listener {
                    Some(l) => l,
                    None => match TcpListener::bind(addr).await {
                        Ok(l) => listener.insert(l),
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let accepted = tokio::select! {
                    a = l.accept() => a,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => continue,
                };
                let Ok((mut inbound, _)) = accepted else {
                    continue;
                };
                let cut = Arc::clone(&cut2);
                let up = Arc::clone(&up2);
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    // A connection accepted just as the endpoint went down
                    // missed the notification: it watches the flag too.
                    let down = async {
                        while up.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.notified() => {}
                        () = down => {}
                    }
                });
            }
        });
        Self { addr, up, cut }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn set(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
        if !up {
            self.cut.notify_waiters();
        }
    }
}

// ----- the lying endpoint -----

/// Forward everything unchanged.
pub(crate) const HONEST: u8 = 0;
/// `eth_getBlockReceipts`: flip one hex digit in the body of the Mailbox's
/// first Dispatch log.
pub(crate) const TAMPER_RECEIPTS: u8 = 1;
/// `eth_getBlockByNumber` of a block with Dispatch logs: change `extraData`,
/// keep the claimed `hash` (which no longer matches the header).
pub(crate) const TAMPER_EXTRA_DATA: u8 = 2;
/// `eth_getBlockByNumber` of a block with Dispatch logs: change `parentHash`
/// and claim the hash of the forged header, a self-consistent header that
/// does not link to its parent.
pub(crate) const FORGE_PARENT: u8 = 3;
/// `eth_getBlockByNumber` of a block with Dispatch logs: change `extraData`
/// and claim the hash of the forged header, which links to its parent: only
/// the next (honest) header shows it is not on the chain.
pub(crate) const FORGE_EXTRA_DATA: u8 = 4;

/// Serves its own branch above a fork point: self-consistent headers that
/// link to the real chain, the first holding forged Dispatch logs under a
/// receipts root that matches them, and claims a head 3 blocks higher than
/// the real one. Only agreement with other endpoints can tell.
pub(crate) const FORGE_BRANCH: u8 = 5;

/// A destination endpoint that swallows `eth_sendRawTransaction` (answers
/// the hash, forwards nothing) and answers `eth_getTransactionReceipt` of a
/// swallowed transaction with a successful receipt placed in a real block.
pub(crate) const FAKE_RECEIPTS: u8 = 6;
/// A destination endpoint whose `eth_estimateGas` always says the call
/// reverts.
pub(crate) const FAKE_REVERT: u8 = 7;

#[derive(Debug)]
pub(crate) struct ProxyState {
    pub(crate) upstream: String,
    pub(crate) client: reqwest::Client,
    pub(crate) mailbox: Address,
    pub(crate) mode: AtomicU8,
    /// Responses rewritten so far.
    pub(crate) tampered: AtomicU64,
    /// The branch served in [`FORGE_BRANCH`] mode.
    pub(crate) branch: std::sync::Mutex<Option<ForgedBranch>>,
    /// Transactions swallowed in [`FAKE_RECEIPTS`] mode.
    pub(crate) swallowed: std::sync::Mutex<std::collections::HashSet<B256>>,
}

/// A forged branch above real block `fork`: block `fork + 1` carries the
/// receipts of a real block with Dispatch logs whose messages were altered
/// (new nonces, another body), later blocks are empty. Blocks are made on
/// demand and kept, so every answer names the same hashes.
#[derive(Debug)]
pub(crate) struct ForgedBranch {
    pub(crate) fork: u64,
    /// Real block `fork`'s hash: the forged branch's first parent.
    pub(crate) fork_hash: B256,
    /// JSON of a real block with Dispatch logs: the template of every
    /// forged header.
    pub(crate) template: Value,
    /// The forged receipts of block `fork + 1` and their trie root.
    pub(crate) receipts: Value,
    pub(crate) receipts_root: B256,
    /// Forged blocks `fork + 1 ..` (JSON with its `hash`), in order.
    pub(crate) blocks: Vec<Value>,
}

impl ForgedBranch {
    /// The forged block at `number` (> `fork`).
    pub(crate) fn block(&mut self, number: u64) -> Value {
        while self.fork + (self.blocks.len() as u64) < number {
            let n = self.fork + self.blocks.len() as u64 + 1;
            let parent = match self.blocks.last() {
                Some(b) => b["hash"].as_str().expect("forged hash").to_owned(),
                None => self.fork_hash.to_string(),
            };
            let mut b = self.template.clone();
            b["number"] = Value::String(format!("0x{n:x}"));
            b["parentHash"] = Value::String(parent);
            b["transactions"] = Value::Array(Vec::new());
            if n > self.fork + 1 {
                b["receiptsRoot"] =
                    Value::String(switchyard_lc_evm::receipts_root(&[]).to_string());
                b["logsBloom"] = Value::String(Bloom::ZERO.to_string());
            } else {
                b["receiptsRoot"] = Value::String(self.receipts_root.to_string());
            }
            let header: alloy::rpc::types::Header =
                serde_json::from_value(b.clone()).expect("forged header parses");
            b["hash"] = Value::String(header.inner.hash_slow().to_string());
            self.blocks.push(b);
        }
        let index = usize::try_from(number - self.fork - 1).expect("small");
        self.blocks[index].clone()
    }

    /// The forged receipts of block `number` (> `fork`).
    pub(crate) fn receipts(&mut self, number: u64) -> Value {
        if number == self.fork + 1 {
            self.receipts.clone()
        } else {
            Value::Array(Vec::new())
        }
    }
}

/// The block number a JSON-RPC call asks about (`eth_getBlockByNumber`,
/// `eth_getBlockReceipts`), when given as a number.
pub(crate) fn block_param(call: &Value) -> Option<u64> {
    let p = call.pointer("/params/0")?.as_str()?;
    u64::from_str_radix(p.strip_prefix("0x")?, 16).ok()
}

/// The answer of a [`FORGE_BRANCH`] proxy to one call, when it makes one up.
pub(crate) fn forge_answer(
    st: &ProxyState,
    call: &Value,
    real_answer: Option<&Value>,
) -> Option<Value> {
    let mut guard = st.branch.lock().unwrap_or_else(|p| p.into_inner());
    let branch = guard.as_mut()?;
    let method = call.get("method")?.as_str()?;
    let result = match method {
        "eth_blockNumber" => {
            let real = real_answer?.get("result")?.as_str()?;
            let real = u64::from_str_radix(real.strip_prefix("0x")?, 16).ok()?;
            Value::String(format!("0x{:x}", real.max(branch.fork) + 3))
        }
        "eth_getBlockByNumber" => {
            let n = block_param(call).filter(|n| *n > branch.fork)?;
            branch.block(n)
        }
        "eth_getBlockReceipts" => {
            let n = block_param(call).filter(|n| *n > branch.fork)?;
            branch.receipts(n)
        }
        _ => return None,
    };
    Some(
        serde_json::json!({"jsonrpc": "2.0", "id": call.get("id").cloned().unwrap_or(Value::Null), "result": result}),
    )
}

/// A JSON-RPC proxy on 127.0.0.1 that forwards POST bodies to `upstream` and
/// rewrites responses according to its mode; stopped on drop.
#[derive(Debug)]
pub(crate) struct Proxy {
    pub(crate) url: String,
    pub(crate) state: Arc<ProxyState>,
    pub(crate) task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub(crate) async fn start(upstream: &str, mailbox: Address, mode: u8) -> Self {
        let state = Arc::new(ProxyState {
            upstream: upstream.to_owned(),
            client: reqwest::Client::new(),
            mailbox,
            mode: AtomicU8::new(mode),
            tampered: AtomicU64::new(0),
            branch: std::sync::Mutex::new(None),
            swallowed: std::sync::Mutex::default(),
        });
        let app = axum::Router::new()
            .route("/", axum::routing::post(relay))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("proxy binds a loopback port");
        let addr = listener.local_addr().expect("proxy address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}"),
            state,
            task,
        }
    }

    pub(crate) fn set_mode(&self, mode: u8) {
        self.state.mode.store(mode, Ordering::SeqCst);
    }

    pub(crate) fn tampered(&self) -> u64 {
        self.state.tampered.load(Ordering::SeqCst)
    }

    /// Serves a forged branch from now on (see [`FORGE_BRANCH`]).
    pub(crate) fn forge(&self, branch: ForgedBranch) {
        *self.state.branch.lock().unwrap_or_else(|p| p.into_inner()) = Some(branch);
        self.set_mode(FORGE_BRANCH);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The made-up answer of a [`FAKE_RECEIPTS`] or [`FAKE_REVERT`] proxy to
/// one call, when it makes one up.
pub(crate) async fn destination_lie(st: &ProxyState, mode: u8, call: &Value) -> Option<Value> {
    let method = call.get("method")?.as_str()?;
    let id = call.get("id").cloned().unwrap_or(Value::Null);
    let answer = |result: Value| serde_json::json!({"jsonrpc": "2.0", "id": id, "result": result});
    match (mode, method) {
        (FAKE_REVERT, "eth_estimateGas") => Some(serde_json::json!({
            "jsonrpc": "2.0",
            "id": call.get("id").cloned().unwrap_or(Value::Null),
            "error": {"code": 3, "message": "execution reverted: forged by the proxy", "data": "0x"},
        })),
        (FAKE_RECEIPTS, "eth_sendRawTransaction") => {
            let raw: Bytes = call.pointer("/params/0")?.as_str()?.parse().ok()?;
            let hash = keccak256(&raw);
            st.swallowed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(hash);
            Some(answer(Value::String(hash.to_string())))
        }
        (FAKE_RECEIPTS, "eth_getTransactionReceipt") => {
            let hash: B256 = call.pointer("/params/0")?.as_str()?.parse().ok()?;
            if !st
                .swallowed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&hash)
            {
                return None;
            }
            // A real block, two below the head: deep enough, canonical.
            let head = rpc(&st.upstream, "eth_blockNumber", serde_json::json!([])).await;
            let head = u64::from_str_radix(head.as_str()?.strip_prefix("0x")?, 16).ok()?;
            let n = format!("0x{:x}", head.saturating_sub(2));
            let block = rpc(
                &st.upstream,
                "eth_getBlockByNumber",
                serde_json::json!([n, false]),
            )
            .await;
            Some(answer(serde_json::json!({
                "transactionHash": hash.to_string(),
                "transactionIndex": "0x0",
                "blockHash": block["hash"],
                "blockNumber": n,
                "from": Address::ZERO.to_string(),
                "to": Address::ZERO.to_string(),
                "cumulativeGasUsed": "0x5208",
                "gasUsed": "0x5208",
                "effectiveGasPrice": "0x1",
                "contractAddress": null,
                "logs": [],
                "logsBloom": Bloom::ZERO.to_string(),
                "type": "0x2",
                "status": "0x1",
            })))
        }
        _ => None,
    }
}

pub(crate) async fn relay(State(st): State<Arc<ProxyState>>, body: axum::body::Bytes) -> Response {
    let mode = st.mode.load(Ordering::SeqCst);
    if matches!(mode, FAKE_RECEIPTS | FAKE_REVERT)
        && let Ok(call) = serde_json::from_slice::<Value>(&body)
        && let Some(lie) = destination_lie(&st, mode, &call).await
    {
        st.tampered.fetch_add(1, Ordering::SeqCst);
        return (
            [(header::CONTENT_TYPE, "application/json")],
            lie.to_string(),
        )
            .into_response();
    }
    let answer = st
        .client
        .post(&st.upstream)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.clone())
        .send()
        .await;
    let bytes = match answer {
        Ok(r) => match r.bytes().await {
            Ok(b) => b,
            Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
        },
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let mode = st.mode.load(Ordering::SeqCst);
    if mode == FORGE_BRANCH
        && let Ok(call) = serde_json::from_slice::<Value>(&body)
        && let Some(forged) = forge_answer(
            &st,
            &call,
            serde_json::from_slice::<Value>(&bytes).ok().as_ref(),
        )
    {
        st.tampered.fetch_add(1, Ordering::SeqCst);
        return (
            [(header::CONTENT_TYPE, "application/json")],
            forged.to_string(),
        )
            .into_response();
    }
    let out = match tamper(&st, mode, &body, &bytes) {
        Some(rewritten) => {
            st.tampered.fetch_add(1, Ordering::SeqCst);
            axum::body::Bytes::from(rewritten)
        }
        None => bytes,
    };
    ([(header::CONTENT_TYPE, "application/json")], out).into_response()
}

/// The rewritten response, or None to forward it unchanged. Handles single
/// and batched JSON-RPC calls (responses matched to requests by id).
pub(crate) fn tamper(
    st: &ProxyState,
    mode: u8,
    request: &[u8],
    response: &[u8],
) -> Option<Vec<u8>> {
    if mode == HONEST {
        return None;
    }
    let request: Value = serde_json::from_slice(request).ok()?;
    let mut response: Value = serde_json::from_slice(response).ok()?;
    let calls: Vec<&Value> = match &request {
        Value::Array(a) => a.iter().collect(),
        v => vec![v],
    };
    let method_of = |id: &Value| {
        calls
            .iter()
            .find(|c| c.get("id") == Some(id))
            .and_then(|c| c.get("method"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let answers: Vec<&mut Value> = match &mut response {
        Value::Array(a) => a.iter_mut().collect(),
        v => vec![v],
    };
    let mut changed = false;
    for answer in answers {
        let Some(method) = answer.get("id").and_then(method_of) else {
            continue;
        };
        let Some(result) = answer.get_mut("result") else {
            continue;
        };
        changed |= match (mode, method.as_str()) {
            (TAMPER_RECEIPTS, "eth_getBlockReceipts") => tamper_receipts(result, st.mailbox),
            (TAMPER_EXTRA_DATA, "eth_getBlockByNumber") => tamper_extra_data(result, st.mailbox),
            (FORGE_PARENT, "eth_getBlockByNumber") => {
                forge_header(result, st.mailbox, "parentHash", &forged_parent())
            }
            (FORGE_EXTRA_DATA, "eth_getBlockByNumber") => {
                forge_header(result, st.mailbox, "extraData", &forged_extra_data())
            }
            _ => false,
        };
    }
    if changed {
        serde_json::to_vec(&response).ok()
    } else {
        None
    }
}

pub(crate) fn is_dispatch_from(log: &Value, mailbox: Address) -> bool {
    let address = log
        .get("address")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<Address>().ok());
    let topic0 = log
        .pointer("/topics/0")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<B256>().ok());
    address == Some(mailbox) && topic0 == Some(DISPATCH_TOPIC)
}

/// Another hex digit in place of `c` (the JSON stays valid, the byte changes).
pub(crate) fn flip_hex_digit(c: char) -> Option<char> {
    char::from_digit(c.to_digit(16)? ^ 1, 16)
}

/// Flips the high nibble of the first body byte of the first Dispatch log of
/// `mailbox` in a block's receipts.
pub(crate) fn tamper_receipts(receipts: &mut Value, mailbox: Address) -> bool {
    let Some(receipts) = receipts.as_array_mut() else {
        return false;
    };
    for receipt in receipts {
        let Some(logs) = receipt.get_mut("logs").and_then(Value::as_array_mut) else {
            continue;
        };
        for log in logs {
            if !is_dispatch_from(log, mailbox) {
                continue;
            }
            let Some(data) = log.get_mut("data") else {
                continue;
            };
            let Some(hex) = data.as_str() else {
                continue;
            };
            // "0x", the ABI head (offset and length words), the message
            // header: then the body.
            let at = 2 + 2 * (64 + MESSAGE_HEADER_LEN);
            let Some(flipped) = hex.chars().nth(at).and_then(flip_hex_digit) else {
                continue;
            };
            let mut forged = hex.to_owned();
            forged.replace_range(at..=at, &flipped.to_string());
            *data = Value::String(forged);
            return true;
        }
    }
    false
}

/// Whether a block (JSON) may hold a Dispatch log of `mailbox`, by its bloom.
pub(crate) fn may_hold_dispatch(block: &Value, mailbox: Address) -> bool {
    let Some(bloom) = block
        .get("logsBloom")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<Bloom>().ok())
    else {
        return false;
    };
    bloom.contains_input(BloomInput::Raw(mailbox.as_slice()))
        && bloom.contains_input(BloomInput::Raw(DISPATCH_TOPIC.as_slice()))
}

pub(crate) fn forged_extra_data() -> String {
    format!("0x{}", hex::encode("forged by the proxy"))
}

pub(crate) fn forged_parent() -> String {
    keccak256("a parent that never was").to_string()
}

/// Changes `extraData` of a block with Dispatch logs, keeping the claimed hash.
pub(crate) fn tamper_extra_data(block: &mut Value, mailbox: Address) -> bool {
    if !may_hold_dispatch(block, mailbox) {
        return false;
    }
    block["extraData"] = Value::String(forged_extra_data());
    true
}

/// Sets `field` of a block with Dispatch logs and claims the forged header's
/// own hash for it.
pub(crate) fn forge_header(block: &mut Value, mailbox: Address, field: &str, value: &str) -> bool {
    if !may_hold_dispatch(block, mailbox) {
        return false;
    }
    block[field] = Value::String(value.to_owned());
    let Ok(forged) = serde_json::from_value::<alloy::rpc::types::Header>(block.clone()) else {
        return false;
    };
    block["hash"] = Value::String(forged.inner.hash_slow().to_string());
    true
}

/// One JSON-RPC call to `url`; its `result`.
pub(crate) async fn rpc(url: &str, method: &str, params: Value) -> Value {
    let answer: Value = reqwest::Client::new()
        .post(url)
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        .send()
        .await
        .expect("anvil answers")
        .json()
        .await
        .expect("a JSON answer");
    answer["result"].clone()
}

/// A branch forking the chain at `url` after its current head, whose first block
/// carries the Dispatch logs of real block `template` with each message's
/// nonce moved by 1,000,000 and the first body byte changed: messages the
/// Mailbox never sent, under a receipts root that matches them.
pub(crate) async fn forge_branch(url: &str, mailbox: Address, template: u64) -> ForgedBranch {
    let head = rpc(url, "eth_blockNumber", serde_json::json!([])).await;
    let fork = u64::from_str_radix(
        head.as_str()
            .and_then(|h| h.strip_prefix("0x"))
            .expect("hex head"),
        16,
    )
    .expect("head number");
    let fork_block = rpc(
        url,
        "eth_getBlockByNumber",
        serde_json::json!([format!("0x{fork:x}"), false]),
    )
    .await;
    let fork_hash: B256 = fork_block["hash"]
        .as_str()
        .expect("hash")
        .parse()
        .expect("B256");
    let tag = format!("0x{template:x}");
    let block = rpc(url, "eth_getBlockByNumber", serde_json::json!([tag, false])).await;
    let mut receipts = rpc(url, "eth_getBlockReceipts", serde_json::json!([tag])).await;
    let mut forged_logs = 0;
    for receipt in receipts.as_array_mut().expect("receipts") {
        for log in receipt["logs"].as_array_mut().expect("logs") {
            if !is_dispatch_from(log, mailbox) {
                continue;
            }
            let hex = log["data"].as_str().expect("data").to_owned();
            // "0x", two ABI words, then the message: version (1 byte),
            // nonce (4 bytes), ..., body after 77 bytes.
            let nonce_at = 2 + 128 + 2;
            let nonce = u32::from_str_radix(&hex[nonce_at..nonce_at + 8], 16).expect("nonce");
            let body_at = 2 + 2 * (64 + MESSAGE_HEADER_LEN);
            let flipped = hex
                .chars()
                .nth(body_at)
                .and_then(flip_hex_digit)
                .expect("a body byte");
            let mut forged = hex.clone();
            forged.replace_range(
                nonce_at..nonce_at + 8,
                &format!("{:08x}", nonce + 1_000_000),
            );
            forged.replace_range(body_at..=body_at, &flipped.to_string());
            log["data"] = Value::String(forged);
            forged_logs += 1;
        }
    }
    assert!(
        forged_logs > 0,
        "block {template} holds Dispatch logs to forge"
    );
    let typed: Vec<alloy::rpc::types::TransactionReceipt> =
        serde_json::from_value(receipts.clone()).expect("receipts parse");
    let lc_receipts: Vec<switchyard_lc_evm::Receipt> = typed
        .into_iter()
        .map(|r| switchyard_evm::source::receipt_from_rpc(r.inner).expect("receipt converts"))
        .collect();
    ForgedBranch {
        fork,
        fork_hash,
        template: block,
        receipts_root: switchyard_lc_evm::receipts_root(&lc_receipts),
        receipts,
        blocks: Vec::new(),
    }
}
