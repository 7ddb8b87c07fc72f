//! Seed corpora, built at run time from the shared vectors
//! (`../shared/vectors` from the repository root, or `SWITCHYARD_VECTORS`)
//! and from a few values built here. Nothing of the vectors is copied into
//! the repository. A missing vector folder only makes the corpus smaller.

use std::fs;
use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B64, B256, Bloom, Bytes, U256};
use serde_json::Value;
use switchyard::store::LaneEntry;
use switchyard_lc_beacon::codec::{
    bootstrap_from_ssz, bootstrap_to_ssz, finality_update_from_ssz, finality_update_to_ssz,
    optimistic_update_to_ssz, update_from_ssz, update_stream_chunk, update_to_ssz,
};
use switchyard_lc_beacon::{ChainSpec, Fork, LightClientStore, json as beacon_json};
use switchyard_lc_cometbft::LightBlock;
use switchyard_lc_cometbft::json::{commit_to_rpc, validators_to_rpc};
use switchyard_lc_evm::{Header, Log, Receipt, TxType};
use switchyard_types::Message;

use crate::beacon::{Op, minimal_spec, prefix};

/// The repository root (the parent of this crate).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("fuzz/ has a parent")
        .to_path_buf()
}

/// Where the shared vectors are: `SWITCHYARD_VECTORS`, else
/// `../shared/vectors` from the repository root.
pub fn vectors_dir() -> PathBuf {
    std::env::var_os("SWITCHYARD_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/vectors"))
}

/// Writes `seeds` into `dir` (created if missing), one file each, named by
/// a hash of the content; returns how many were written.
pub fn write(dir: &Path, seeds: &[Vec<u8>]) -> std::io::Result<usize> {
    fs::create_dir_all(dir)?;
    for s in seeds {
        let name = hex::encode(&alloy_primitives::keccak256(s)[..10]);
        fs::write(dir.join(format!("seed-{name}")), s)?;
    }
    Ok(seeds.len())
}

/// The seed corpus of `target` (a name from [`crate::TARGETS`]).
pub fn seeds(target: &str, vectors: &Path) -> Vec<Vec<u8>> {
    let mut out = match target {
        "message" => message(vectors),
        "evm_rlp" => evm_rlp(vectors),
        "beacon_ssz" => beacon_ssz(vectors),
        "beacon_json" => beacon_json(vectors),
        "cometbft_json" => cometbft_json(vectors),
        "config_toml" => config_toml(),
        "lane_entry" => lane_entry(vectors),
        _ => vec![],
    };
    out.sort();
    out.dedup();
    out
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&fs::read_to_string(path).ok()?).ok()
}

fn hex_bytes(v: &Value) -> Vec<u8> {
    let s = v.as_str().unwrap_or("");
    hex::decode(s.trim_start_matches("0x")).unwrap_or_default()
}

fn hex_u64(v: &Value) -> u64 {
    let s = v.as_str().unwrap_or("0").trim_start_matches("0x");
    u64::from_str_radix(if s.is_empty() { "0" } else { s }, 16).unwrap_or(0)
}

fn fixed<const N: usize>(v: &Value) -> [u8; N] {
    let b = hex_bytes(v);
    let mut out = [0u8; N];
    if b.len() == N {
        out.copy_from_slice(&b);
    }
    out
}

// --- messages -------------------------------------------------------------

fn hyperlane_messages(vectors: &Path) -> Vec<Message> {
    let Some(Value::Array(cases)) =
        read_json(&vectors.join("hyperlane-monorepo/vectors/message.json"))
    else {
        return vec![];
    };
    cases
        .iter()
        .map(|c| Message {
            version: c["version"].as_u64().unwrap_or(3) as u8,
            nonce: c["nonce"].as_u64().unwrap_or(0) as u32,
            origin: c["origin"].as_u64().unwrap_or(0) as u32,
            sender: B256::from(fixed::<32>(&c["sender"])),
            destination: c["destination"].as_u64().unwrap_or(0) as u32,
            recipient: B256::from(fixed::<32>(&c["recipient"])),
            body: c["body"]
                .as_array()
                .map(|b| b.iter().map(|x| x.as_u64().unwrap_or(0) as u8).collect())
                .unwrap_or_default(),
        })
        .collect()
}

fn handmade_messages() -> Vec<Message> {
    let base = Message {
        version: 3,
        nonce: 7,
        origin: 1000,
        sender: B256::repeat_byte(0x11),
        destination: 2000,
        recipient: B256::repeat_byte(0x22),
        body: Bytes::from_static(b"hello switchyard"),
    };
    vec![
        base.clone(),
        Message {
            body: Bytes::new(),
            ..base.clone()
        },
        Message {
            version: 0,
            nonce: u32::MAX,
            ..base
        },
    ]
}

fn message(vectors: &Path) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = hyperlane_messages(vectors)
        .iter()
        .chain(&handmade_messages())
        .map(Message::encode)
        .collect();
    out.push(vec![3; 76]);
    out
}

// --- RLP, receipts, headers -----------------------------------------------

fn receipt_from_rpc(v: &Value) -> Receipt {
    let tx_type = TxType::try_from(hex_u64(&v["type"]) as u8).unwrap_or_default();
    Receipt {
        tx_type,
        status: hex_u64(&v["status"]) == 1,
        cumulative_gas_used: hex_u64(&v["cumulativeGasUsed"]),
        logs_bloom: Bloom::from(fixed::<256>(&v["logsBloom"])),
        logs: v["logs"]
            .as_array()
            .map(|logs| {
                logs.iter()
                    .map(|l| Log {
                        address: Address::from(fixed::<20>(&l["address"])),
                        topics: l["topics"]
                            .as_array()
                            .map(|t| t.iter().map(|x| B256::from(fixed::<32>(x))).collect())
                            .unwrap_or_default(),
                        data: hex_bytes(&l["data"]).into(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn header_from_rpc(v: &Value) -> Header {
    let opt_u64 = |k: &str| v.get(k).map(hex_u64);
    let opt_b256 = |k: &str| v.get(k).map(|x| B256::from(fixed::<32>(x)));
    Header {
        parent_hash: B256::from(fixed::<32>(&v["parentHash"])),
        ommers_hash: B256::from(fixed::<32>(&v["sha3Uncles"])),
        beneficiary: Address::from(fixed::<20>(&v["miner"])),
        state_root: B256::from(fixed::<32>(&v["stateRoot"])),
        transactions_root: B256::from(fixed::<32>(&v["transactionsRoot"])),
        receipts_root: B256::from(fixed::<32>(&v["receiptsRoot"])),
        logs_bloom: Bloom::from(fixed::<256>(&v["logsBloom"])),
        difficulty: U256::from(hex_u64(&v["difficulty"])),
        number: hex_u64(&v["number"]),
        gas_limit: hex_u64(&v["gasLimit"]),
        gas_used: hex_u64(&v["gasUsed"]),
        timestamp: hex_u64(&v["timestamp"]),
        extra_data: hex_bytes(&v["extraData"]).into(),
        mix_hash: B256::from(fixed::<32>(&v["mixHash"])),
        nonce: B64::from(fixed::<8>(&v["nonce"])),
        base_fee_per_gas: opt_u64("baseFeePerGas"),
        withdrawals_root: opt_b256("withdrawalsRoot"),
        blob_gas_used: opt_u64("blobGasUsed"),
        excess_blob_gas: opt_u64("excessBlobGas"),
        parent_beacon_block_root: opt_b256("parentBeaconBlockRoot"),
        requests_hash: opt_b256("requestsHash"),
    }
}

fn evm_rlp(vectors: &Path) -> Vec<Vec<u8>> {
    let mut out = vec![];
    // ethereum-tests RLP vectors: the `out` encodings, valid and invalid.
    let rlp = vectors.join("ethereum-tests/RLPTests");
    for f in [
        "rlptest.json",
        "invalidRLPTest.json",
        "RandomRLPTests/example.json",
    ] {
        if let Some(Value::Object(cases)) = read_json(&rlp.join(f)) {
            out.extend(cases.values().map(|c| hex_bytes(&c["out"])));
        }
    }
    // helios' recorded mainnet receipts and block, re-encoded.
    let rpc = vectors.join("helios/tests/testdata/rpc");
    if let Some(Value::Array(rs)) = read_json(&rpc.join("receipts.json")) {
        out.extend(
            rs.iter()
                .take(40)
                .map(|r| receipt_from_rpc(r).encoded_2718()),
        );
    }
    if let Some(r) = read_json(&rpc.join("receipt.json")) {
        out.push(receipt_from_rpc(&r).encoded_2718());
    }
    if let Some(b) = read_json(&rpc.join("block.json")) {
        let mut h = header_from_rpc(&b);
        out.push(h.encoded());
        // Each older layout too (drop the newest fields in fork order).
        h.requests_hash = None;
        out.push(h.encoded());
        h.parent_beacon_block_root = None;
        h.blob_gas_used = None;
        h.excess_blob_gas = None;
        out.push(h.encoded());
        h.withdrawals_root = None;
        out.push(h.encoded());
        h.base_fee_per_gas = None;
        out.push(h.encoded());
    }
    // Hand-made: every receipt type, and a header with all fields.
    for t in 0..=4u8 {
        let r = Receipt {
            tx_type: TxType::try_from(t).unwrap_or_default(),
            status: t % 2 == 0,
            cumulative_gas_used: 21_000 * u64::from(t),
            logs: vec![Log {
                address: Address::repeat_byte(t),
                topics: vec![B256::repeat_byte(1), B256::repeat_byte(2)],
                data: Bytes::from(vec![t; 40]),
            }],
            ..Receipt::default()
        };
        out.push(r.encoded_2718());
    }
    out.push(
        Header {
            number: 7,
            extra_data: Bytes::from_static(b"switchyard"),
            base_fee_per_gas: Some(7),
            withdrawals_root: Some(B256::repeat_byte(1)),
            blob_gas_used: Some(0),
            excess_blob_gas: Some(1),
            parent_beacon_block_root: Some(B256::repeat_byte(2)),
            requests_hash: Some(B256::repeat_byte(3)),
            ..Header::default()
        }
        .encoded(),
    );
    out
}

// --- beacon SSZ -----------------------------------------------------------

fn ssz_snappy_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            ssz_snappy_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "ssz_snappy") {
            out.push(p);
        }
    }
}

fn with_prefix(op: Op, fork: Fork, minimal: bool, body: &[u8]) -> Vec<u8> {
    let mut v = prefix(op, fork, minimal).to_vec();
    v.extend_from_slice(body);
    v
}

/// Seeds of one decoded update / bootstrap in every operation that reads it.
fn beacon_seeds_of(bytes: &[u8], spec: &ChainSpec, minimal: bool, out: &mut Vec<Vec<u8>>) {
    let preset = spec.preset;
    for fork in Fork::ALL.into_iter().filter(|f| *f >= Fork::Altair) {
        if let Ok(u) = update_from_ssz(bytes, fork, &preset) {
            out.push(with_prefix(Op::Update, fork, minimal, bytes));
            out.push(with_prefix(Op::BySlot, Fork::Phase0, minimal, bytes));
            if let Some(chunk) = update_stream_chunk(&u, spec) {
                out.push(with_prefix(Op::Stream, fork, minimal, &chunk));
            }
            if let Some(f) = &u.finality {
                let fu = switchyard_lc_beacon::LightClientFinalityUpdate {
                    attested_header: u.attested_header.clone(),
                    finality: f.clone(),
                    sync_aggregate: u.sync_aggregate.clone(),
                    signature_slot: u.signature_slot,
                };
                out.push(with_prefix(
                    Op::FinalityUpdate,
                    fork,
                    minimal,
                    &finality_update_to_ssz(&fu, fork),
                ));
            }
            let ou = switchyard_lc_beacon::LightClientOptimisticUpdate {
                attested_header: u.attested_header.clone(),
                sync_aggregate: u.sync_aggregate.clone(),
                signature_slot: u.signature_slot,
            };
            out.push(with_prefix(
                Op::OptimisticUpdate,
                fork,
                minimal,
                &optimistic_update_to_ssz(&ou, fork),
            ));
        }
        if let Ok(b) = bootstrap_from_ssz(bytes, fork, &preset) {
            out.push(with_prefix(Op::Bootstrap, fork, minimal, bytes));
            out.push(with_prefix(Op::BySlot, Fork::Altair, minimal, bytes));
            // Parts: the header, committee and aggregate alone.
            let altair = bootstrap_to_ssz(&b, Fork::Altair, &preset);
            let committee_len = (preset.sync_committee_size + 1) * 48;
            out.push(with_prefix(
                Op::Parts,
                Fork::Altair,
                minimal,
                &altair[..112],
            ));
            out.push(with_prefix(
                Op::Parts,
                fork,
                minimal,
                &altair[112..112 + committee_len],
            ));
            if let Ok(store) =
                LightClientStore::from_bootstrap(b.header.beacon_root(), b.clone(), spec.clone())
            {
                out.push(with_prefix(Op::Restore, fork, minimal, &store.snapshot()));
            }
        }
    }
}

fn beacon_ssz(vectors: &Path) -> Vec<Vec<u8>> {
    let mut out = vec![];
    let minimal = minimal_spec();
    let mut files = vec![];
    ssz_snappy_files(&vectors.join("lantern-beacon"), &mut files);
    ssz_snappy_files(
        &vectors.join("helios/ethereum/consensus-core/testdata"),
        &mut files,
    );
    for f in &files {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !(name.starts_with("update") || name.starts_with("bootstrap")) {
            continue;
        }
        let Ok(compressed) = fs::read(f) else {
            continue;
        };
        let Ok(bytes) = snap::raw::Decoder::new().decompress_vec(&compressed) else {
            continue;
        };
        let is_minimal = f.components().any(|c| c.as_os_str() == "minimal")
            || f.to_string_lossy().contains("consensus-core/testdata");
        if is_minimal {
            beacon_seeds_of(&bytes, &minimal, true, &mut out);
        }
    }
    // helios' recorded mainnet objects (beacon API JSON), in SSZ.
    let mainnet = ChainSpec::mainnet();
    let preset = mainnet.preset;
    let testdata = vectors.join("helios/ethereum/testdata");
    let read = |n: &str| fs::read_to_string(testdata.join(n)).unwrap_or_default();
    if let Ok(b) = beacon_json::bootstrap_from_json(&read("bootstrap.json")) {
        let fork = mainnet.fork_at_slot(b.header.beacon.slot);
        beacon_seeds_of(
            &bootstrap_to_ssz(&b, fork, &preset),
            &mainnet,
            false,
            &mut out,
        );
    }
    if let Ok(us) = beacon_json::updates_from_json(&read("updates.json"), &preset) {
        for u in us.iter().take(2) {
            let fork = mainnet.fork_at_slot(u.attested_header.beacon.slot);
            beacon_seeds_of(&update_to_ssz(u, fork, &preset), &mainnet, false, &mut out);
        }
    }
    if let Ok(u) = beacon_json::finality_update_from_json(&read("finality.json"), &preset) {
        let fork = mainnet.fork_at_slot(u.attested_header.beacon.slot);
        let bytes = finality_update_to_ssz(&u, fork);
        out.push(with_prefix(Op::FinalityUpdate, fork, false, &bytes));
        out.push(with_prefix(Op::BySlot, Fork::Bellatrix, false, &bytes));
        if finality_update_from_ssz(&bytes, fork, &preset).is_err() {
            out.pop();
        }
    }
    if let Ok(u) = beacon_json::optimistic_update_from_json(&read("optimistic.json"), &preset) {
        let fork = mainnet.fork_at_slot(u.attested_header.beacon.slot);
        out.push(with_prefix(
            Op::OptimisticUpdate,
            fork,
            false,
            &optimistic_update_to_ssz(&u, fork),
        ));
    }
    // Short hand-made inputs for every operation, fork and preset.
    for op in 0..8u8 {
        for fork in 0..Fork::ALL.len() as u8 {
            for minimal in 0..2u8 {
                out.push(vec![(op << 1) | minimal, fork, 0, 0, 0, 0]);
            }
        }
    }
    out
}

/// helios' recorded mainnet beacon API answers, as served.
fn beacon_json(vectors: &Path) -> Vec<Vec<u8>> {
    let testdata = vectors.join("helios/ethereum/testdata");
    [
        "bootstrap.json",
        "updates.json",
        "finality.json",
        "optimistic.json",
    ]
    .iter()
    .filter_map(|n| fs::read(testdata.join(n)).ok())
    .collect()
}

// --- CometBFT JSON --------------------------------------------------------

fn envelope(result: Value) -> Value {
    serde_json::json!({ "jsonrpc": "2.0", "id": 1, "result": result })
}

fn rpc_bundle(block: &LightBlock, enveloped: bool) -> Value {
    let height = block.signed_header.header.height.value();
    let wrap = |v: Value| if enveloped { envelope(v) } else { v };
    serde_json::json!({
        "commit": wrap(commit_to_rpc(block)),
        "validators": wrap(validators_to_rpc(height, &block.validators, 1, 100)),
        "next_validators": wrap(validators_to_rpc(height + 1, &block.next_validators, 1, 100)),
    })
}

fn cometbft_json(vectors: &Path) -> Vec<Vec<u8>> {
    let mut out = vec![];
    let dir = vectors.join("tendermint-rs/light-client/tests/support/model_based/single_step");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    for f in files.iter().take(12) {
        let Some(case) = read_json(f) else {
            continue;
        };
        let blocks = case["input"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| i["block"].clone())
            .take(2);
        for b in blocks {
            out.push(b.to_string().into_bytes());
            let Ok(lb) = serde_json::from_value::<LightBlock>(b) else {
                continue;
            };
            let bundle = rpc_bundle(&lb, false);
            out.push(bundle.to_string().into_bytes());
            out.push(rpc_bundle(&lb, true).to_string().into_bytes());
            out.push(envelope(bundle["commit"].clone()).to_string().into_bytes());
            out.push(bundle["validators"].to_string().into_bytes());
            out.push(
                Value::Array(vec![bundle.clone(), bundle])
                    .to_string()
                    .into_bytes(),
            );
        }
    }
    out.push(br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"x"}}"#.to_vec());
    out.push(br#"{"block_height":"1","validators":[],"count":"0","total":"0"}"#.to_vec());
    out
}

// --- config and lane entries ------------------------------------------------

fn config_toml() -> Vec<Vec<u8>> {
    let mut out = vec![];
    for p in [
        repo_root().join("deploy/hub.example.toml"),
        repo_root().join("fuzz/seeds/config_toml/minimal.toml"),
    ] {
        if let Ok(b) = fs::read(&p) {
            out.push(b);
        }
    }
    out
}

fn lane_entry(vectors: &Path) -> Vec<Vec<u8>> {
    let msgs: Vec<Bytes> = hyperlane_messages(vectors)
        .iter()
        .chain(&handmade_messages())
        .map(|m| m.encode().into())
        .collect();
    let entry = |messages: Vec<Bytes>| {
        LaneEntry {
            origin: 1000,
            height: 21_925_176,
            verified_at_ms: 1_700_000_000_000,
            messages,
        }
        .encode()
    };
    let mut out = vec![entry(vec![]), entry(msgs.clone())];
    out.extend(msgs.iter().map(|m| entry(vec![m.clone()])));
    out.push(b"0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".to_vec());
    out
}
