//! TLS to every endpoint and to Redis, and bounded answers, against real
//! servers whose certificates each test makes on the spot:
//!
//! - the EVM pool, the beacon API client and the CometBFT RPC client each
//!   work against an HTTPS server on 127.0.0.1 when its CA is configured
//!   (`[tls] ca_file`), and refuse it, naming the certificate failure, when
//!   it is not (an unknown issuer) or when another CA is;
//! - the Redis lanes connect, append and read over `rediss://` to Debian's
//!   redis-server serving TLS only (single node, Cluster, and with a client
//!   certificate), and refuse it without its CA;
//! - an endpoint answering without end makes each client fail, retryably,
//!   at its `max_response_bytes`, naming the endpoint by scheme, host and
//!   port only.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use alloy::primitives::Bytes;
use alloy_primitives::{B256, b256};
use axum::Json;
use axum::routing::{get, post};
use serde_json::{Value, json};
use switchyard::store::{LaneEntry, LaneId, Lanes, QueueKey, RedisTarget, RedisTls, Store};
use switchyard_beacon::BeaconApi;
use switchyard_evm::rpc::{HttpOptions, RpcPolicy, RpcPool};
use switchyard_http::TlsRoots;
use switchyard_http::testkit::{Issued, TestCa, serve_endless, serve_tls};
use switchyard_lc_beacon::ChainSpec;
use switchyard_localnet::procs::{RedisCluster, RedisServer, RedisTlsFiles};

/// The checkpoint of helios' recorded mainnet bootstrap.
const CHECKPOINT: B256 = b256!("5afc212a7924789b2bc86acad3ab3a6ffb1f6e97253ea50bee7f4f51422c9275");

/// A CA, a server certificate it issued, the CA written to `dir/ca.pem`.
struct Pki {
    ca: TestCa,
    server: Issued,
    roots: TlsRoots,
}

fn pki(dir: &Path, name: &str) -> Pki {
    let ca = TestCa::new(name);
    let server = ca.issue(&format!("{name} server"));
    let roots = TlsRoots::with_ca_file(ca.write(dir, &format!("{name}-ca.pem"))).expect("CA file");
    Pki { ca, server, roots }
}

fn policy() -> RpcPolicy {
    RpcPolicy {
        timeout: Duration::from_secs(5),
        attempts: 1,
        backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
        ..RpcPolicy::default()
    }
}

/// A JSON-RPC server answering `eth_blockNumber` with 42, at any path.
fn json_rpc() -> axum::Router {
    axum::Router::new().fallback(post(|Json(req): Json<Value>| async move {
        Json(json!({"jsonrpc": "2.0", "id": req["id"], "result": "0x2a"}))
    }))
}

async fn block_number(pool: &RpcPool) -> Result<u64, switchyard_evm::EvmError> {
    pool.read("eth_blockNumber", |p| async move {
        use alloy::providers::Provider;
        p.get_block_number().await
    })
    .await
}

fn says_unknown_issuer(err: &str) {
    assert!(
        err.contains("invalid peer certificate") && err.contains("UnknownIssuer"),
        "expected the certificate failure named: {err}"
    );
}

#[tokio::test]
async fn evm_pool_trusts_the_configured_ca_and_refuses_an_unknown_issuer() {
    let dir = tempfile::tempdir().expect("dir");
    let pki = pki(dir.path(), "evm");
    let other = self::pki(dir.path(), "other");
    // A key in the path, as providers put it: never shown.
    let url = format!("{}/v2/KEYPATH", serve_tls(json_rpc(), &pki.server).await);
    let http = |roots: &TlsRoots| HttpOptions {
        roots: roots.clone(),
        ..HttpOptions::default()
    };
    let pool = RpcPool::with_http("t", std::slice::from_ref(&url), policy(), &http(&pki.roots))
        .expect("pool");
    assert_eq!(block_number(&pool).await.expect("over TLS"), 42);

    for (what, pool) in [
        (
            "public roots only",
            RpcPool::new("t", std::slice::from_ref(&url), policy()).expect("pool"),
        ),
        (
            "another CA",
            RpcPool::with_http(
                "t",
                std::slice::from_ref(&url),
                policy(),
                &http(&other.roots),
            )
            .expect("pool"),
        ),
    ] {
        let err = block_number(&pool).await.expect_err(what);
        let shown = err.to_string();
        says_unknown_issuer(&shown);
        assert!(err.is_retryable(), "{what}: {shown}");
        assert!(!shown.contains("KEYPATH"), "{shown}");
    }
    drop(other.ca);
}

/// The recorded bootstrap, served at its path.
fn beacon() -> axum::Router {
    let p = switchyard_localnet::procs::repo_root()
        .join("../shared/vectors/helios/ethereum/testdata/bootstrap.json");
    let body = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    axum::Router::new().route(
        &format!("/eth/v1/beacon/light_client/bootstrap/{CHECKPOINT}"),
        get(move || async move { body }),
    )
}

#[tokio::test]
async fn beacon_api_trusts_the_configured_ca_and_refuses_an_unknown_issuer() {
    let dir = tempfile::tempdir().expect("dir");
    let pki = pki(dir.path(), "beacon");
    let url = serve_tls(beacon(), &pki.server).await;
    let spec = ChainSpec::by_name("mainnet").expect("mainnet");
    let api = BeaconApi::with_http(
        std::slice::from_ref(&url),
        Duration::from_secs(5),
        &spec,
        &pki.roots,
        switchyard_beacon::DEFAULT_MAX_RESPONSE_BYTES,
    )
    .expect("api");
    api.bootstrap(CHECKPOINT).await.expect("bootstrap over TLS");

    let public = BeaconApi::new(&[url], Duration::from_secs(5), &spec).expect("api");
    let err = public.bootstrap(CHECKPOINT).await.expect_err("unknown CA");
    assert!(err.is_retryable(), "{err}");
    says_unknown_issuer(&err.to_string());
}

#[tokio::test]
async fn cometbft_rpc_trusts_the_configured_ca_and_refuses_an_unknown_issuer() {
    use switchyard_cometbft::testkit::{Chain, Node, router};
    use switchyard_cometbft::{RpcClient, RpcConfig};
    let dir = tempfile::tempdir().expect("dir");
    let pki = pki(dir.path(), "cometbft");
    let mut chain = Chain::new(4, 1_700_000_000);
    chain.commit();
    let url = serve_tls(router(Node::new(chain)), &pki.server).await;
    let rpc = RpcClient::new(RpcConfig {
        roots: pki.roots.clone(),
        ..RpcConfig::new(vec![url.clone()])
    })
    .expect("client");
    let status = rpc.status().await.expect("status over TLS");
    assert_eq!(status.latest_block_height, 1);

    let public = RpcClient::new(RpcConfig::new(vec![url])).expect("client");
    let err = public.status().await.expect_err("unknown CA");
    assert!(err.is_retryable(), "{err}");
    says_unknown_issuer(&err.to_string());
}

#[tokio::test]
async fn every_client_stops_reading_an_answer_at_its_bound() {
    const LIMIT: usize = 256 * 1024;
    // A body that never ends, with no length announced.
    let (url, sent) = serve_endless(b' ', 16 * 1024, None).await;
    let keyed = format!("{url}/v2/KEYPATH");

    let pool = RpcPool::with_http(
        "t",
        std::slice::from_ref(&keyed),
        policy(),
        &HttpOptions {
            roots: TlsRoots::public(),
            max_response_bytes: LIMIT,
        },
    )
    .expect("pool");
    let evm = block_number(&pool).await.expect_err("endless");
    assert!(evm.is_retryable(), "{evm}");

    let spec = ChainSpec::by_name("mainnet").expect("mainnet");
    let api = BeaconApi::with_http(
        std::slice::from_ref(&keyed),
        Duration::from_secs(5),
        &spec,
        &TlsRoots::public(),
        LIMIT,
    )
    .expect("api");
    let beacon = api.finality_update().await.expect_err("endless");
    assert!(beacon.is_retryable(), "{beacon}");

    let rpc = switchyard_cometbft::RpcClient::new(switchyard_cometbft::RpcConfig {
        max_response_bytes: LIMIT,
        timeout: Duration::from_secs(5),
        ..switchyard_cometbft::RpcConfig::new(vec![keyed.clone()])
    })
    .expect("client");
    let cometbft = rpc.status().await.expect_err("endless");
    assert!(cometbft.is_retryable(), "{cometbft}");

    for shown in [evm.to_string(), beacon.to_string(), cometbft.to_string()] {
        assert!(
            shown.contains(&format!(
                "{url}: answer over the limit of {LIMIT} bytes (max_response_bytes)"
            )),
            "{shown}"
        );
        assert!(!shown.contains("KEYPATH"), "{shown}");
    }
    // Each client hung up at its bound: the server, which writes as long
    // as the socket takes it, stopped at the bound plus socket buffers.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let total = sent.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sent.load(Ordering::Relaxed), total, "still sending");
    assert!(
        total < 3 * (LIMIT as u64 + (16 << 20)),
        "{total} bytes sent"
    );
}

fn key() -> QueueKey {
    QueueKey::new(&[7u8; 32]).expect("key")
}

const LANE: LaneId = LaneId {
    dst: 2000,
    shard: 0,
};

fn entry(height: u64) -> LaneEntry {
    LaneEntry {
        origin: 1000,
        height,
        verified_at_ms: 1,
        messages: vec![Bytes::from_static(b"over tls")],
    }
}

/// Appends and reads back one entry.
async fn round_trip(lanes: &Lanes) {
    lanes.ensure_group(LANE).await.expect("group");
    assert!(lanes.append(LANE, &entry(5)).await.expect("append"));
    let read = lanes
        .read(LANE, "c", 10, Duration::from_millis(200), false)
        .await
        .expect("read");
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].entry.as_ref().expect("authentic"), &entry(5));
}

/// The server's files under `dir`: certificate, key, and its CA.
fn redis_files(dir: &Path, pki: &Pki, auth_clients: bool) -> RedisTlsFiles {
    let (cert, key) = pki.server.write(dir, "redis");
    RedisTlsFiles {
        cert,
        key,
        ca: pki.roots.ca_file().expect("a CA file").to_path_buf(),
        auth_clients,
    }
}

fn ca_only(pki: &Pki) -> RedisTls {
    RedisTls {
        ca_pem: Some(pki.ca.pem().into_bytes()),
        client: None,
    }
}

#[tokio::test]
async fn lanes_work_over_rediss_with_the_configured_ca_and_refuse_an_unknown_issuer() {
    let dir = tempfile::tempdir().expect("dir");
    let pki = pki(dir.path(), "redis");
    let server = RedisServer::spawn_tls(&redis_files(dir.path(), &pki, false))
        .expect("redis-server with TLS starts (run deploy/setup.sh)");
    assert!(server.url.starts_with("rediss://"), "{}", server.url);
    let target = RedisTarget::Single(server.url.clone());
    let store = Store::connect_with(&target, "t", key(), &ca_only(&pki))
        .await
        .expect("connects over TLS");
    let lanes = store.lanes();
    round_trip(&lanes).await;

    // The webpki roots alone do not know this CA.
    let err = Store::connect(&target, "t", key())
        .await
        .expect_err("unknown CA");
    says_unknown_issuer(&err.to_string());
    // Nor does another CA.
    let other = self::pki(dir.path(), "other");
    let err = Store::connect_with(&target, "t", key(), &ca_only(&other))
        .await
        .expect_err("another CA");
    says_unknown_issuer(&err.to_string());
}

#[tokio::test]
async fn lanes_present_a_client_certificate_when_redis_requires_one() {
    let dir = tempfile::tempdir().expect("dir");
    let pki = pki(dir.path(), "mtls");
    let server = RedisServer::spawn_tls(&redis_files(dir.path(), &pki, true))
        .expect("redis-server with TLS starts");
    let target = RedisTarget::Single(server.url.clone());
    let client = pki.ca.issue("hub");
    let tls = RedisTls {
        ca_pem: Some(pki.ca.pem().into_bytes()),
        client: Some((
            client.cert_pem.clone().into_bytes(),
            client.key_pem.clone().into_bytes(),
        )),
    };
    let store = Store::connect_with(&target, "t", key(), &tls)
        .await
        .expect("connects with a client certificate");
    let lanes = store.lanes();
    round_trip(&lanes).await;
    // Without one the server ends the handshake.
    Store::connect_with(&target, "t", key(), &ca_only(&pki))
        .await
        .expect_err("no client certificate");
}

#[tokio::test]
async fn lanes_work_over_a_tls_redis_cluster() {
    let dir = tempfile::tempdir().expect("dir");
    let pki = pki(dir.path(), "cluster");
    let files = redis_files(dir.path(), &pki, false);
    let cluster = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().expect("dir");
        let c = RedisCluster::spawn_tls(3, dir.path(), &files).expect("3-master TLS cluster");
        (c, dir)
    })
    .await
    .expect("spawn");
    let urls = cluster.0.urls();
    assert!(urls.iter().all(|u| u.starts_with("rediss://")), "{urls:?}");
    let target = RedisTarget::Cluster(urls);
    let store = Store::connect_with(&target, "t", key(), &ca_only(&pki))
        .await
        .expect("connects to the cluster over TLS");
    let lanes = store.lanes();
    round_trip(&lanes).await;
    assert!(
        Store::connect(&target, "t", key()).await.is_err(),
        "a cluster of an unknown CA is refused"
    );
}
