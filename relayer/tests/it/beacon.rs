//! The beacon watcher against local HTTP servers that replay helios'
//! recorded mainnet responses (bootstrap, six period updates, a finality
//! update, the beacon block of the finalized slot) and an execution JSON-RPC
//! server that answers `eth_getBlockByNumber` with the execution block
//! rebuilt from that beacon block; state in a real redis-server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy_primitives::{B256, b256};
use axum::routing::post;
use serde_json::{Value, json};
use switchyard::error::HubError;
use switchyard::health::Health;
use switchyard::metrics::Metrics;
use switchyard::origin::beacon::{BeaconSpec, BeaconWatcher, Round};
use switchyard::store::{OriginState, QueueKey, RedisTarget, Store};
use switchyard_beacon::BeaconApi;
use switchyard_evm::rpc::{RpcPolicy, RpcPool};
use switchyard_evm::source::EvmSource;
use switchyard_lc_beacon::ChainSpec;
use switchyard_lc_beacon::execution::header_from_beacon_block_json;
use switchyard_lc_evm::Header;
use switchyard_localnet::procs::RedisServer;

use crate::harness::beacon_node::LightClientData;

const CHECKPOINT: B256 = b256!("5afc212a7924789b2bc86acad3ab3a6ffb1f6e97253ea50bee7f4f51422c9275");
/// At or after every signature slot in the data.
const NOW: u64 = 7_109_432;
/// Two weeks of slots.
const MAX_AGE: u64 = 100_800;
const DOMAIN: u32 = 1;
/// Mainnet's genesis time, in Unix seconds.
const MAINNET_GENESIS: u64 = 1_606_824_023;

fn testdata(name: &str) -> String {
    let p = switchyard_localnet::procs::repo_root()
        .join("../shared/vectors/helios/ethereum/testdata")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// What the replaying beacon node serves, and the paths it was asked for.
#[derive(Clone)]
struct Beacon {
    bootstrap: Arc<String>,
    updates: Arc<Vec<Value>>,
    /// Answer every recorded update, whatever range is asked (as a node
    /// that serves more than asked, older periods included).
    all_updates: Arc<std::sync::atomic::AtomicBool>,
    finality: Arc<Mutex<String>>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Beacon {
    fn recorded() -> Self {
        let updates: Value = serde_json::from_str(&testdata("updates.json")).expect("json");
        Self {
            bootstrap: Arc::new(testdata("bootstrap.json")),
            updates: Arc::new(updates.as_array().expect("array").clone()),
            finality: Arc::new(Mutex::new(testdata("finality.json"))),
            all_updates: Arc::default(),
            log: Arc::default(),
        }
    }

    fn asked(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }
}

impl LightClientData for Beacon {
    fn bootstrap(&self, root: B256) -> Option<String> {
        (root == CHECKPOINT).then(|| (*self.bootstrap).clone())
    }

    /// The recorded updates whose attested header lies in those periods.
    fn updates(&self, start: u64, count: u64) -> Vec<Value> {
        self.updates
            .iter()
            .filter(|u| {
                let slot: u64 = u["data"]["attested_header"]["beacon"]["slot"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .expect("slot");
                self.all_updates.load(std::sync::atomic::Ordering::SeqCst)
                    || (start..start + count).contains(&(slot / 8192))
            })
            .cloned()
            .collect()
    }

    fn finality_update(&self) -> String {
        self.finality.lock().expect("finality").clone()
    }

    fn log(&self, what: String) {
        self.log.lock().expect("log").push(what);
    }
}

async fn beacon_node(b: Beacon) -> String {
    crate::harness::beacon_node::serve(Arc::new(b)).await
}

/// The execution block of the finalized beacon slot 7109344, in
/// `eth_getBlockByNumber` form.
fn rpc_block(h: &Header) -> Value {
    let hex = |n: u64| format!("0x{n:x}");
    json!({
        "hash": h.hash(),
        "parentHash": h.parent_hash,
        "sha3Uncles": h.ommers_hash,
        "miner": h.beneficiary,
        "stateRoot": h.state_root,
        "transactionsRoot": h.transactions_root,
        "receiptsRoot": h.receipts_root,
        "logsBloom": h.logs_bloom,
        "difficulty": "0x0",
        "number": hex(h.number),
        "gasLimit": hex(h.gas_limit),
        "gasUsed": hex(h.gas_used),
        "timestamp": hex(h.timestamp),
        "extraData": h.extra_data,
        "mixHash": h.mix_hash,
        "nonce": h.nonce,
        "baseFeePerGas": hex(h.base_fee_per_gas.expect("London")),
        "withdrawalsRoot": h.withdrawals_root.expect("Shanghai"),
        "uncles": [],
        "transactions": [],
        "withdrawals": [],
        "size": "0x0",
    })
}

async fn execution_node(header: Header) -> String {
    let serve = crate::harness::serve::router;
    let block = Arc::new(rpc_block(&header));
    let number = header.number;
    serve(axum::Router::new().route(
        "/",
        post(move |axum::Json(req): axum::Json<Value>| {
            let block = Arc::clone(&block);
            async move {
                let asked = u64::from_str_radix(
                    req["params"][0]
                        .as_str()
                        .unwrap_or("0x0")
                        .trim_start_matches("0x"),
                    16,
                )
                .unwrap_or(0);
                let result = if req["method"] == "eth_getBlockByNumber" && asked == number {
                    (*block).clone()
                } else {
                    Value::Null
                };
                axum::Json(json!({"jsonrpc": "2.0", "id": req["id"], "result": result}))
            }
        }),
    ))
    .await
}

struct Setup {
    _redis: RedisServer,
    state: OriginState,
    beacon: Beacon,
    beacon_url: String,
    exec_url: String,
    exec_header: Header,
}

async fn setup() -> Setup {
    let redis = RedisServer::spawn(None).expect("redis-server starts (run deploy/setup.sh)");
    let store = Store::connect(
        &RedisTarget::Single(redis.url.clone()),
        "bc",
        QueueKey::new(&[7u8; 32]).expect("key"),
    )
    .await
    .expect("redis");
    let state = store.origin_state();
    let beacon = Beacon::recorded();
    let beacon_url = beacon_node(beacon.clone()).await;
    let exec_header =
        header_from_beacon_block_json(&testdata("blocks/7109344.json")).expect("Capella block");
    let exec_url = execution_node(exec_header.clone()).await;
    Setup {
        _redis: redis,
        state,
        beacon,
        beacon_url,
        exec_url,
        exec_header,
    }
}

fn watcher(s: &Setup, beacon_urls: &[String], now: u64) -> (BeaconWatcher, Metrics) {
    let spec = ChainSpec::mainnet();
    let api = BeaconApi::new(beacon_urls, Duration::from_secs(5), &spec).expect("api");
    let pool = RpcPool::new(
        "eth",
        std::slice::from_ref(&s.exec_url),
        RpcPolicy::default(),
    )
    .expect("pool");
    let metrics = Metrics::new();
    let (w, _rx) = BeaconWatcher::new(
        BeaconSpec {
            name: "eth".into(),
            domain: DOMAIN,
            spec,
            trusted_root: CHECKPOINT,
            max_checkpoint_age_slots: MAX_AGE,
            poll: Duration::from_millis(100),
            clock: Arc::new(move || now),
            genesis_time: MAINNET_GENESIS,
            seconds_per_slot: 12,
        },
        api,
        EvmSource::new(pool),
        s.state.clone(),
        metrics.clone(),
        Arc::new(Health::default()),
    );
    (w, metrics)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beacon_watcher_syncs_anchors_the_finalized_execution_block_and_resumes_from_redis() {
    let s = setup().await;
    let (w, metrics) = watcher(&s, std::slice::from_ref(&s.beacon_url), NOW);
    let mut store = w.init().await.expect("bootstraps");
    assert_eq!(store.finalized_header().beacon.slot, 7_069_376);
    let round: Round = w.step(&mut store).await.expect("round");
    // Six period updates (862..867) and the finality update.
    assert_eq!(
        (round.applied, round.refused),
        (7, 0),
        "{:?}",
        s.beacon.asked()
    );
    assert_eq!(round.finalized_slot, 7_109_344);
    let anchor = round.anchor.expect("anchored");
    assert_eq!(anchor.number, s.exec_header.number);
    assert_eq!(anchor.hash, s.exec_header.hash());
    let text = metrics.render();
    assert!(
        text.contains(&format!(
            "switchyard_light_client_height{{chain=\"eth\",kind=\"finalized\"}} {}",
            anchor.number
        )),
        "{text}"
    );
    // The trusted state's age: its finalized slot's start, and how long
    // after it the state is still resumed (max_checkpoint_age).
    for line in [
        format!(
            "switchyard_light_client_trusted_timestamp_seconds{{chain=\"eth\"}} {}",
            MAINNET_GENESIS + 7_109_344 * 12
        ),
        format!(
            "switchyard_light_client_trusting_period_seconds{{chain=\"eth\"}} {}",
            MAX_AGE * 12
        ),
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
    // A second round: nothing new, nothing refused, same anchor.
    let again = w.step(&mut store).await.expect("round");
    assert_eq!(
        (again.applied, again.refused, again.anchor),
        (0, 0, Some(anchor))
    );

    // A restart resumes from Redis: no bootstrap is fetched.
    let asked_before = s.beacon.asked().len();
    let (w2, _) = watcher(&s, std::slice::from_ref(&s.beacon_url), NOW);
    let resumed = w2.init().await.expect("resumes");
    assert_eq!(resumed.finalized_header(), store.finalized_header());
    assert!(
        s.beacon.asked()[asked_before..]
            .iter()
            .all(|p| !p.starts_with("bootstrap")),
        "{:?}",
        s.beacon.asked()
    );
    // State written without the queue key is refused, not trusted.
    let mut c = redis::Client::open(s._redis.url.as_str())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let key = format!("bc:{{origin:{DOMAIN}}}:beacon");
    let stored: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut c)
        .await
        .expect("stored state");
    let forged = stored.replacen('0', "1", 1);
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(&forged)
        .query_async(&mut c)
        .await
        .expect("set");
    let err = w2.init().await.expect_err("forged state");
    assert!(!err.is_retryable(), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beacon_watcher_refuses_checkpoints_older_than_the_maximum_age() {
    let s = setup().await;
    let late = NOW + 2 * MAX_AGE;
    let (w, _) = watcher(&s, std::slice::from_ref(&s.beacon_url), late);
    let err = w.init().await.expect_err("too old");
    assert!(
        matches!(
            err,
            HubError::CheckpointTooOld {
                persisted: None,
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("trusted_root"), "{err}");

    // A persisted state past the bound is not resumed either.
    let (w, _) = watcher(&s, std::slice::from_ref(&s.beacon_url), NOW);
    let mut store = w.init().await.expect("bootstraps");
    w.step(&mut store).await.expect("round");
    let (w, _) = watcher(&s, std::slice::from_ref(&s.beacon_url), late);
    let err = w.init().await.expect_err("too old");
    assert!(
        matches!(
            err,
            HubError::CheckpointTooOld {
                persisted: Some(7_109_344),
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beacon_watcher_fails_over_and_refuses_a_tampered_finality_update() {
    let s = setup().await;
    // The first endpoint is down (nothing listens there).
    let dead = format!(
        "http://127.0.0.1:{}",
        switchyard_localnet::procs::free_port()
    );
    let (w, metrics) = watcher(&s, &[dead, s.beacon_url.clone()], NOW);
    let mut store = w.init().await.expect("the second endpoint answers");
    // One hex digit of the finality update's signature changed.
    {
        let mut f = s.beacon.finality.lock().expect("finality");
        let key = "\"sync_committee_signature\": \"0x";
        let at = f.find(key).expect("signature") + key.len() + 20;
        let digit = if &f[at..=at] == "0" { "1" } else { "0" };
        f.replace_range(at..=at, digit);
    }
    // The period updates apply; the finality update is refused. The store
    // stays where the period updates left it, and the round then asks the
    // execution node for that finalized block (which this replay does not
    // have): only a block the store finalized is ever anchored.
    let err = w
        .step(&mut store)
        .await
        .expect_err("no such execution block");
    assert!(err.is_retryable(), "{err}");
    let finalized = store.finalized_header();
    assert!(
        finalized.beacon.slot < 7_109_344,
        "{}",
        finalized.beacon.slot
    );
    let number = finalized
        .execution
        .as_ref()
        .expect("Capella")
        .block_number();
    assert!(err.to_string().contains(&number.to_string()), "{err}");
    assert!(
        metrics.render().contains(
            "switchyard_light_client_updates_total{chain=\"eth\",outcome=\"accepted\"} 6"
        ),
        "{}",
        metrics.render()
    );
    assert!(
        metrics.render().contains(
            "switchyard_light_client_updates_total{chain=\"eth\",outcome=\"rejected\"} 1"
        ),
        "{}",
        metrics.render()
    );
}

/// A store three periods behind, and a node that answers every period it
/// has, older ones included: the stale updates are skipped (not counted as
/// refused, not a reason to stop), the missing periods applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beacon_watcher_catches_up_periods_past_stale_updates_it_is_sent() {
    let s = setup().await;
    s.beacon
        .all_updates
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let (w, _) = watcher(&s, std::slice::from_ref(&s.beacon_url), NOW);
    let mut store = w.init().await.expect("bootstraps");
    let preset = switchyard_lc_beacon::Preset::MAINNET;
    let updates = switchyard_lc_beacon::json::updates_from_json(&testdata("updates.json"), &preset)
        .expect("updates");
    for u in &updates[..3] {
        let v = store.verify_update(u, NOW).expect("valid");
        store.apply_update(v).expect("fresh");
    }
    let round = w.step(&mut store).await.expect("round");
    // Three newer periods and the finality update applied (the newest of
    // the periods the store has may be verified again, a no-op), nothing
    // refused.
    assert!(round.applied >= 4 && round.refused == 0, "{round:?}");
    assert_eq!(round.finalized_slot, 7_109_344);
}
