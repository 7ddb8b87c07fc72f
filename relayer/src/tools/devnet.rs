//! `switchyard devnet`: N anvil chains and a redis-server on free loopback
//! ports (or the ones given), the contracts deployed on each, the hub running
//! in this process exactly as `switchyard run` runs it, and traffic from every
//! chain to every other. Delivery is checked on chain, independently of the
//! hub: every `TestRecipient.Received` event is matched against what was sent.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, Bytes};
use serde::Serialize;
use switchyard_evm::bindings::{ARTIFACTS_DIR, TestRecipient};
use switchyard_localnet::evm::{self as devtools, ANVIL_KEYS, Deployment, DevWallet};
use tokio_util::sync::CancellationToken;

use crate::config::{
    ChainConfig, CheckpointConfig, Config, DispatcherConfig, HttpConfig, LogConfig, RedisConfig,
    Role, SecretRef,
};
use crate::hub::Hub;
use crate::metrics::{stage, sum_messages_in_text};
use switchyard_localnet::procs::{Anvil, RedisCluster, RedisServer, repo_root};

/// Errors of the devnet.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevnetError {
    /// A local process.
    #[error(transparent)]
    Proc(#[from] switchyard_localnet::procs::ProcError),
    /// Chain I/O.
    #[error(transparent)]
    Evm(#[from] switchyard_evm::EvmError),
    /// The hub.
    #[error(transparent)]
    Hub(#[from] crate::error::HubError),
    /// Anything else, said plainly.
    #[error("{0}")]
    Other(String),
}

/// Devnet parameters.
#[derive(Debug, Clone)]
pub struct DevnetArgs {
    /// Chains to start (ignored when `rpc` is given).
    pub chains: usize,
    /// Messages per route; 0 = steady traffic until stopped.
    pub messages: u64,
    /// Use these chains instead of starting anvil.
    pub rpc: Vec<String>,
    /// Use this Redis instead of starting one.
    pub redis: Option<String>,
    /// anvil block time in seconds.
    pub block_time: f64,
    /// Body size in bytes.
    pub body_size: usize,
    /// Messages per route per second in steady mode.
    pub rate: u64,
    /// Give up after this long.
    pub timeout: Duration,
    /// HTTP listen address of the hub.
    pub http: SocketAddr,
    /// Header-chain confirmation depth.
    pub confirmations: u64,
    /// Contract artifacts.
    pub artifacts: PathBuf,
    /// Serve mode: start and deploy everything, send no traffic, write
    /// [`DevnetInfo`] to `info` (if set) and keep running until stopped, for
    /// an integrator's own contracts and messages (`docs/integrate.md`).
    pub serve: bool,
    /// Where serve mode writes the devnet's addresses (JSON).
    pub info: Option<PathBuf>,
    /// Independent attesters to run, each its own `switchyard run --role
    /// attester` process with its own key, Redis database and light
    /// clients; 0: the hub signs alone.
    pub attesters: usize,
    /// Signatures each Inbox wants from them (1..=attesters).
    pub threshold: usize,
    /// The `switchyard` binary the attesters run (default: this process's
    /// own executable).
    pub switchyard_bin: Option<PathBuf>,
    /// Most messages in one delivery transaction.
    pub batch_size: usize,
    /// Start a Redis Cluster of this many masters (at least 3) instead of
    /// one redis-server.
    pub redis_cluster: Option<usize>,
    /// Replicas per master of that cluster.
    pub cluster_replicas: usize,
    /// The hub's `redis.wait_replicas`.
    pub wait_replicas: u32,
}

impl Default for DevnetArgs {
    fn default() -> Self {
        Self {
            chains: 2,
            messages: 1000,
            rpc: Vec::new(),
            redis: None,
            block_time: 0.2,
            body_size: 64,
            rate: 50,
            timeout: Duration::from_secs(600),
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            confirmations: 2,
            redis_cluster: None,
            cluster_replicas: 0,
            wait_replicas: 0,
            artifacts: repo_root().join(ARTIFACTS_DIR),
            serve: false,
            info: None,
            attesters: 0,
            threshold: 0,
            switchyard_bin: None,
            batch_size: 250,
        }
    }
}

/// Most attesters a devnet runs (anvil keys 5 to 9).
pub const MAX_ATTESTERS: usize = 5;

/// An attester process, killed when dropped.
#[derive(Debug)]
struct AttesterProc {
    child: std::process::Child,
    url: String,
    token: PathBuf,
    log: PathBuf,
}

impl Drop for AttesterProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What serve mode tells an integrator: where everything is, and a funded
/// key the hub does not use.
#[derive(Debug, Clone, Serialize)]
pub struct DevnetInfo {
    /// The hub's HTTP base URL (status API, explorer, metrics).
    pub hub: String,
    /// Redis URL.
    pub redis: String,
    /// An anvil development key, funded on every chain, that neither the
    /// hub nor the devnet's own traffic uses (public test key: never on a
    /// real network).
    pub integrator_key: String,
    /// Its address.
    pub integrator_address: Address,
    /// The chains.
    pub chains: Vec<ChainReport>,
}

/// The anvil key serve mode hands to integrators (0: deployer and traffic,
/// 1: attester, 2: submitter).
const INTEGRATOR_KEY: usize = 3;

/// One chain of the devnet, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct ChainReport {
    /// Name.
    pub name: String,
    /// Domain.
    pub domain: u32,
    /// Chain id.
    pub chain_id: u64,
    /// RPC URL.
    pub rpc: String,
    /// Contracts.
    #[serde(flatten)]
    pub contracts: Deployment,
    /// The traffic sender's address.
    pub sender: Address,
}

/// Hub counters scraped from `/metrics` at the end.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MetricsReport {
    /// stage="observed".
    pub observed: u64,
    /// stage="verified".
    pub verified: u64,
    /// stage="enqueued".
    pub enqueued: u64,
    /// stage="submitted".
    pub submitted: u64,
    /// stage="delivered".
    pub delivered: u64,
    /// stage="rejected".
    pub rejected: u64,
    /// stage="failed".
    pub failed: u64,
    /// `switchyard_gas_used_total`, every destination.
    pub gas_used: u64,
    /// Gas per delivered message.
    pub gas_per_message: f64,
}

/// The devnet's final line.
#[derive(Debug, Clone, Serialize)]
pub struct DevnetReport {
    /// Chains.
    pub chains: usize,
    /// Ordered (origin, destination) pairs.
    pub routes: usize,
    /// Messages dispatched.
    pub sent: u64,
    /// Distinct sent messages found delivered, with the right origin, sender,
    /// body and recipient.
    pub delivered: u64,
    /// Deliveries beyond the first of a message.
    pub duplicates: u64,
    /// Sent but not delivered.
    pub lost: u64,
    /// Deliveries that match nothing sent (wrong body, origin or sender).
    pub mismatched: u64,
    /// From the first dispatch to the last delivery.
    pub seconds: f64,
    /// delivered / seconds.
    pub messages_per_second: f64,
    /// The hub's own counters.
    pub metrics: MetricsReport,
    /// Where the hub served HTTP.
    pub http: String,
    /// Redis used.
    pub redis: String,
    /// Per chain.
    pub chain_details: Vec<ChainReport>,
}

impl DevnetReport {
    /// Success: everything delivered exactly once, nothing unexpected.
    pub fn ok(&self) -> bool {
        self.delivered == self.sent
            && self.duplicates == 0
            && self.mismatched == 0
            && self.lost == 0
    }
}

struct Chain {
    report: ChainReport,
    wallet: DevWallet,
}

fn body_for(origin: u32, dest: u32, i: u64, size: usize) -> Bytes {
    let mut s = format!("switchyard devnet {origin}->{dest} #{i} ").into_bytes();
    while s.len() < size {
        s.push(b'.');
    }
    Bytes::from(s)
}

/// A fresh 32-byte key, hex: the devnet's queue HMAC key.
fn random_hex_key() -> String {
    use rand::RngCore;
    let mut k = [0u8; 32];
    rand::rng().fill_bytes(&mut k);
    hex::encode(k)
}

fn progress(msg: &str) {
    eprintln!("[devnet] {msg}");
}

/// Runs the devnet to completion (or until `shutdown`).
pub async fn run(
    args: DevnetArgs,
    shutdown: CancellationToken,
) -> Result<DevnetReport, DevnetError> {
    // Processes first; their handles kill them on every exit path.
    let mut anvils = Vec::new();
    let urls: Vec<String> = if args.rpc.is_empty() {
        if !(1..=16).contains(&args.chains) {
            return Err(DevnetError::Other(format!(
                "--chains: expected 1..=16, got {}",
                args.chains
            )));
        }
        for i in 0..args.chains {
            anvils.push(Anvil::spawn(31337 + i as u64, args.block_time)?);
        }
        anvils.iter().map(|a| a.url.clone()).collect()
    } else {
        args.rpc.clone()
    };
    if args.wait_replicas > 0 && args.redis_cluster.is_none() {
        return Err(DevnetError::Other(format!(
            "--wait-replicas {}: expected --redis-cluster with --cluster-replicas (the devnet's one redis-server has no replica)",
            args.wait_replicas
        )));
    }
    if let Some(n) = args.redis_cluster {
        if n < 3 || args.redis.is_some() {
            return Err(DevnetError::Other(format!(
                "--redis-cluster: expected at least 3 masters and no --redis, got {n}{}",
                if args.redis.is_some() {
                    " and --redis"
                } else {
                    ""
                }
            )));
        }
        if args.wait_replicas as usize > args.cluster_replicas {
            return Err(DevnetError::Other(format!(
                "--wait-replicas {}: expected at most --cluster-replicas ({})",
                args.wait_replicas, args.cluster_replicas
            )));
        }
    }
    let cluster_dir = std::env::temp_dir().join(format!(
        "switchyard-devnet-cluster-{}-{}",
        std::process::id(),
        crate::unix_ms()
    ));
    let cluster = match args.redis_cluster {
        Some(n) => Some(RedisCluster::spawn_replicated(
            n,
            args.cluster_replicas,
            &cluster_dir,
        )?),
        None => None,
    };
    let redis_server = match (&args.redis, &cluster) {
        (None, None) => Some(RedisServer::spawn(None)?),
        _ => None,
    };
    // With a cluster: its seed nodes, listed.
    let redis_url = args
        .redis
        .clone()
        .or_else(|| redis_server.as_ref().map(|r| r.url.clone()))
        .or_else(|| cluster.as_ref().map(|c| c.urls().join(",")))
        .ok_or_else(|| DevnetError::Other("no redis".into()))?;
    progress(&format!(
        "{} chains: {}; redis {redis_url}",
        urls.len(),
        urls.join(", ")
    ));

    // Keys: the attester and the submitter are distinct from the traffic
    // sender so their nonces never collide. Written to files (0600) because
    // the hub only takes secrets from files or the environment.
    let dir = std::env::temp_dir().join(format!(
        "switchyard-devnet-{}-{}",
        std::process::id(),
        crate::unix_ms()
    ));
    std::fs::create_dir_all(&dir)
        .map_err(|e| DevnetError::Other(format!("creating {}: {e}", dir.display())))?;
    let write_secret = |name: &str, value: &str| -> Result<PathBuf, DevnetError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let p = dir.join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&p)
            .map_err(|e| DevnetError::Other(format!("writing {}: {e}", p.display())))?;
        f.write_all(value.as_bytes())
            .map_err(|e| DevnetError::Other(format!("writing {}: {e}", p.display())))?;
        Ok(p)
    };
    let attester_file = write_secret("attester.key", ANVIL_KEYS[1])?;
    let submitter_file = write_secret("submitter.key", ANVIL_KEYS[2])?;
    let queue_key_file = write_secret("queue.key", &random_hex_key())?;
    let attester_addr =
        switchyard_evm::attest::Attester::from_hex(ANVIL_KEYS[1], "devnet attester")?.address();
    if args.attesters > MAX_ATTESTERS
        || (args.attesters > 0 && !(1..=args.attesters).contains(&args.threshold))
    {
        return Err(DevnetError::Other(format!(
            "--attesters {} --threshold {}: expected at most {MAX_ATTESTERS} attesters and a threshold from 1 to their number",
            args.attesters, args.threshold
        )));
    }
    // With independent attesters, every Inbox wants `threshold` of them
    // (anvil keys 5 and up); without, the hub's own key alone.
    let (inbox_attesters, inbox_threshold) = if args.attesters == 0 {
        (vec![attester_addr], 1)
    } else {
        let mut set = Vec::new();
        for i in 0..args.attesters {
            set.push(
                switchyard_evm::attest::Attester::from_hex(ANVIL_KEYS[5 + i], "devnet attester")?
                    .address(),
            );
        }
        (set, args.threshold as u64)
    };

    // Deploy.
    let mut chains = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        let mut wallet = DevWallet::connect(url, ANVIL_KEYS[0]).await?;
        let domain = 1000 * (i as u32 + 1);
        let deployment = devtools::deploy_all(
            &mut wallet,
            &args.artifacts,
            domain,
            inbox_attesters.clone(),
            inbox_threshold,
            500_000,
        )
        .await?;
        progress(&format!(
            "chain {i}: domain {domain}, chain id {}, mailbox {}, inbox {}, recipient {}",
            wallet.chain_id(),
            deployment.mailbox,
            deployment.inbox,
            deployment.recipient
        ));
        chains.push(Chain {
            report: ChainReport {
                name: format!("chain{i}"),
                domain,
                chain_id: wallet.chain_id(),
                rpc: url.clone(),
                contracts: deployment,
                sender: wallet.address(),
            },
            wallet,
        });
    }

    // The hub, configured as an operator would.
    let mut chain_cfgs = Vec::new();
    for c in &chains {
        use alloy::providers::Provider;
        let block = c
            .wallet
            .provider()
            .get_block_by_number(c.report.contracts.block.into())
            .await
            .map_err(|e| DevnetError::Other(format!("reading checkpoint block: {e}")))?
            .ok_or_else(|| DevnetError::Other("checkpoint block missing".into()))?;
        chain_cfgs.push(ChainConfig {
            name: c.report.name.clone(),
            domain: c.report.domain,
            chain_id: c.report.chain_id,
            rpc_urls: vec![c.report.rpc.clone()],
            mailbox: c.report.contracts.mailbox,
            inbox: Some(c.report.contracts.inbox),
            confirmations: args.confirmations,
            checkpoint: Some(CheckpointConfig {
                number: block.header.number,
                hash: block.header.hash,
            }),
            poll_interval_ms: 100,
            rpc_timeout_ms: 10_000,
            submitter_key: Some(SecretRef::file(&submitter_file)),
            delivery_confirmations: 1,
            max_fee_gwei: 500,
            max_batch_gas: 15_000_000,
            extra_submitter_keys: Vec::new(),
            low_balance_eth: 0.1,
            replace_after_ms: 30_000,
            replacement_fee_percent: 125,
            beacon: None,
            // A local chain read through one endpoint: trusted by choice.
            trust: crate::config::HeaderTrust::SingleEndpoint,
            min_agreeing_endpoints: None,
            allow_header_chain_on_public_network: false,
            rollup: None,
            max_response_bytes: switchyard_evm::rpc::DEFAULT_MAX_RESPONSE_BYTES,
        });
    }
    let mut cfg = Config {
        role: Role::All,
        redis: RedisConfig {
            url: match &cluster {
                // Ignored beside cluster_nodes; a URL all the same.
                Some(c) => c.urls()[0].clone(),
                None => redis_url.clone(),
            },
            key_prefix: format!("sy-devnet-{}", crate::unix_ms()),
            cluster_nodes: cluster.as_ref().map(|c| c.urls()).unwrap_or_default(),
            wait_replicas: args.wait_replicas,
            wait_timeout_ms: 1000,
        },
        tls: crate::config::TlsConfig::default(),
        http: HttpConfig {
            listen: args.http,
            ..HttpConfig::default()
        },
        log: LogConfig::default(),
        attester_key: Some(SecretRef::file(&attester_file)),
        queue_key: Some(SecretRef::file(&queue_key_file)),
        accepted_queue_keys: Vec::new(),
        admin_token: None,
        accepted_admin_tokens: Vec::new(),
        status: crate::config::StatusConfig::default(),
        dispatcher: DispatcherConfig {
            max_batch_messages: args.batch_size,
            ..DispatcherConfig::default()
        },
        attesters: Vec::new(),
        attestation: crate::config::AttestationConfig::default(),
        chains: chain_cfgs,
        route_groups: Vec::new(),
        cometbft_origins: Vec::new(),
    };
    // The attesters: their own processes, keys, Redis databases and light
    // clients, started before the hub and stopped after it.
    let attester_procs = start_attesters(&args, &cfg, &dir, redis_server.is_some()).await?;
    if !attester_procs.is_empty() {
        cfg.attester_key = None;
        cfg.attesters = attester_procs
            .iter()
            .enumerate()
            .map(|(i, a)| crate::config::AttesterEndpoint {
                name: format!("attester{i}"),
                url: a.url.clone(),
                token: SecretRef::file(&a.token),
                client_cert_file: None,
                client_key: None,
            })
            .collect();
    }
    // Not a child of `shutdown`: on Ctrl-C in steady mode the hub keeps
    // running while in-flight messages drain, and is stopped after.
    let hub_shutdown = CancellationToken::new();
    let hub = Hub::start(cfg, hub_shutdown.clone()).await?;
    progress(&format!("hub serving http://{}/metrics", hub.addr));
    let http = hub.addr.to_string();

    let result = if args.serve {
        serve(&args, &chains, &hub, &redis_url, &shutdown)
            .await
            .map(|()| None)
    } else {
        drive(&args, &mut chains, &hub, &shutdown).await.map(Some)
    };
    hub_shutdown.cancel();
    hub.join().await;
    if result.is_err() {
        for a in &attester_procs {
            progress(&format!("attester log {}", a.log.display()));
        }
    } else {
        drop(attester_procs);
        let _ = std::fs::remove_dir_all(&dir);
    }
    let Some((sent, seconds, metrics)) = result? else {
        // Serve mode sent no traffic of its own: nothing to verify.
        return Ok(DevnetReport {
            chains: chains.len(),
            routes: 0,
            sent: 0,
            delivered: 0,
            duplicates: 0,
            lost: 0,
            mismatched: 0,
            seconds: 0.0,
            messages_per_second: 0.0,
            metrics: MetricsReport::default(),
            http,
            redis: redis_url,
            chain_details: chains.into_iter().map(|c| c.report).collect(),
        });
    };
    // The chains are still up (their handles drop at the end of this scope).
    let mut report = verify(&chains, &args, sent, seconds).await?;
    drop(anvils);
    drop(redis_server);
    drop(cluster);
    let _ = std::fs::remove_dir_all(&cluster_dir);
    report.metrics = metrics;
    report.redis = redis_url;
    report.http = http;
    Ok(report)
}

/// Starts `args.attesters` attester processes over the chains of `hub`
/// (the hub's configuration): each with its own key (anvil key 5 + i), a
/// token, its own Redis database (or key prefix, on a Redis the devnet did
/// not start) and its own light clients; returns once each serves HTTP.
async fn start_attesters(
    args: &DevnetArgs,
    hub: &Config,
    dir: &std::path::Path,
    own_redis: bool,
) -> Result<Vec<AttesterProc>, DevnetError> {
    let fail = |what: String| DevnetError::Other(what);
    let bin = match &args.switchyard_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe().map_err(|e| fail(format!("this executable: {e}")))?,
    };
    let mut procs = Vec::new();
    for i in 0..args.attesters {
        let key = dir.join(format!("attester{i}.key"));
        let token = dir.join(format!("attester{i}.token"));
        std::fs::write(&key, ANVIL_KEYS[5 + i])
            .and_then(|()| std::fs::write(&token, random_hex_key()))
            .map_err(|e| fail(format!("writing attester {i}'s secrets: {e}")))?;
        let mut cfg = hub.clone();
        cfg.role = Role::Attester;
        cfg.attester_key = Some(SecretRef::file(&key));
        cfg.queue_key = None;
        cfg.attesters = Vec::new();
        cfg.attestation = crate::config::AttestationConfig {
            tokens: vec![SecretRef::file(&token)],
            ..crate::config::AttestationConfig::default()
        };
        cfg.redis.key_prefix = format!("{}-attester{i}", hub.redis.key_prefix);
        if own_redis {
            cfg.redis.url = format!("{}/{}", hub.redis.url.trim_end_matches('/'), i + 1);
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| fail(format!("a free port: {e}")))?
            .port();
        cfg.http.listen = SocketAddr::from(([127, 0, 0, 1], port));
        for c in &mut cfg.chains {
            c.submitter_key = None;
        }
        let path = dir.join(format!("attester{i}.toml"));
        let text = toml::to_string(&cfg).map_err(|e| fail(format!("attester {i} config: {e}")))?;
        std::fs::write(&path, text)
            .map_err(|e| fail(format!("writing {}: {e}", path.display())))?;
        let log = dir.join(format!("attester{i}.log"));
        let err = std::fs::File::create(&log)
            .map_err(|e| fail(format!("creating {}: {e}", log.display())))?;
        let child = std::process::Command::new(&bin)
            .args(["run", "--config"])
            .arg(&path)
            .env("RUST_LOG", "switchyard=warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(err)
            .spawn()
            .map_err(|e| {
                fail(format!(
                    "starting {} run --role attester: {e}",
                    bin.display()
                ))
            })?;
        procs.push(AttesterProc {
            child,
            url: format!("http://127.0.0.1:{port}"),
            token,
            log,
        });
    }
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    for (i, a) in procs.iter_mut().enumerate() {
        loop {
            if let Ok(r) = client.get(format!("{}/healthz", a.url)).send().await
                && r.status().is_success()
            {
                break;
            }
            if let Ok(Some(status)) = a.child.try_wait() {
                let log = std::fs::read_to_string(&a.log).unwrap_or_default();
                return Err(fail(format!("attester {i} exited ({status}): {log}")));
            }
            if std::time::Instant::now() > deadline {
                return Err(fail(format!(
                    "attester {i} did not serve within 60 s (log {})",
                    a.log.display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        progress(&format!("attester {i} serving {}", a.url));
    }
    Ok(procs)
}

/// Serve mode: tells where everything is (stderr, and the `--info` file,
/// removed again on the way out) and waits for `shutdown`.
async fn serve(
    args: &DevnetArgs,
    chains: &[Chain],
    hub: &Hub,
    redis_url: &str,
    shutdown: &CancellationToken,
) -> Result<(), DevnetError> {
    let key = ANVIL_KEYS[INTEGRATOR_KEY];
    let info = DevnetInfo {
        hub: format!("http://{}", hub.addr),
        redis: redis_url.to_owned(),
        integrator_key: key.to_owned(),
        integrator_address: switchyard_evm::attest::Attester::from_hex(key, "integrator key")?
            .address(),
        chains: chains.iter().map(|c| c.report.clone()).collect(),
    };
    let text = serde_json::to_string_pretty(&info)
        .map_err(|e| DevnetError::Other(format!("devnet info: {e}")))?;
    if let Some(path) = &args.info {
        // Written whole, then renamed: a reader polling for the file never
        // sees half of it.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, &text)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| DevnetError::Other(format!("writing {}: {e}", path.display())))?;
        progress(&format!("devnet info written to {}", path.display()));
    }
    progress(&format!(
        "serving until Ctrl-C: hub and explorer at http://{}/ ; integrator key {} (address {})",
        hub.addr, INTEGRATOR_KEY, info.integrator_address
    ));
    shutdown.cancelled().await;
    if let Some(path) = &args.info {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

type Sent = HashMap<(u32, u32), u64>;

/// Sends traffic and waits for delivery; returns what was sent per route,
/// the seconds from first dispatch to last delivery, and the hub's counters.
async fn drive(
    args: &DevnetArgs,
    chains: &mut [Chain],
    hub: &Hub,
    shutdown: &CancellationToken,
) -> Result<(Sent, f64, MetricsReport), DevnetError> {
    let recipients: Vec<(u32, Address)> = chains
        .iter()
        .map(|c| (c.report.domain, c.report.contracts.recipient))
        .collect();
    let mut sent: Sent = HashMap::new();
    let start = Instant::now();
    let chunk = 100u64;
    let total_target: u64 = if args.messages == 0 {
        u64::MAX
    } else {
        args.messages * (chains.len() as u64) * (chains.len() as u64 - 1).max(1)
    };
    if args.messages > 0 {
        // Everything up front, as fast as the chains take it.
        let mut hashes = Vec::new();
        for c in chains.iter_mut() {
            for &(dest, recipient) in &recipients {
                if dest == c.report.domain && recipients.len() > 1 {
                    continue;
                }
                let mut i = 0;
                while i < args.messages {
                    let n = chunk.min(args.messages - i);
                    let bodies = (i..i + n)
                        .map(|k| body_for(c.report.domain, dest, k, args.body_size))
                        .collect();
                    let data = devtools::dispatch_many_calldata(dest, recipient, bodies);
                    let h = c
                        .wallet
                        .send(
                            Some(c.report.contracts.mailbox),
                            data,
                            3_000_000 + 40_000 * n,
                        )
                        .await?;
                    hashes.push((c.report.domain, h));
                    *sent.entry((c.report.domain, dest)).or_default() += n;
                    i += n;
                }
            }
        }
        for (domain, h) in hashes {
            let c = chains
                .iter()
                .find(|c| c.report.domain == domain)
                .expect("domain from chains");
            c.wallet.wait(h, Duration::from_secs(120)).await?;
        }
        progress(&format!(
            "dispatched {} messages in {:.2} s",
            sent.values().sum::<u64>(),
            start.elapsed().as_secs_f64()
        ));
    }

    let mut last_print = Instant::now();
    let mut last_tick = Instant::now();
    let mut delivered_at = start.elapsed().as_secs_f64();
    let mut next_index: HashMap<(u32, u32), u64> = HashMap::new();
    loop {
        if args.messages == 0
            && !shutdown.is_cancelled()
            && last_tick.elapsed() >= Duration::from_secs(1)
        {
            last_tick = Instant::now();
            for c in chains.iter_mut() {
                for &(dest, recipient) in &recipients {
                    if dest == c.report.domain && recipients.len() > 1 {
                        continue;
                    }
                    let k = next_index.entry((c.report.domain, dest)).or_default();
                    let bodies = (*k..*k + args.rate)
                        .map(|j| body_for(c.report.domain, dest, j, args.body_size))
                        .collect();
                    let data = devtools::dispatch_many_calldata(dest, recipient, bodies);
                    c.wallet
                        .send(
                            Some(c.report.contracts.mailbox),
                            data,
                            3_000_000 + 40_000 * args.rate,
                        )
                        .await?;
                    *k += args.rate;
                    *sent.entry((c.report.domain, dest)).or_default() += args.rate;
                }
            }
        }
        let received = total_received(chains).await?;
        let total_sent: u64 = sent.values().sum();
        if received > 0 {
            delivered_at = start.elapsed().as_secs_f64();
        }
        if last_print.elapsed() >= Duration::from_secs(1) {
            last_print = Instant::now();
            let el = start.elapsed().as_secs_f64();
            progress(&format!(
                "{el:6.1}s delivered {received}/{total_sent}  ({:.0} msg/s)  hub: verified {} enqueued {} delivered {}",
                received as f64 / el.max(1e-9),
                hub.metrics.messages_at(stage::VERIFIED),
                hub.metrics.messages_at(stage::ENQUEUED),
                hub.metrics.messages_at(stage::DELIVERED),
            ));
        }
        if args.messages > 0 && received >= total_target {
            break;
        }
        if args.messages == 0 && shutdown.is_cancelled() {
            // Steady mode stops on Ctrl-C: give in-flight messages a moment.
            let grace = Instant::now();
            while total_received(chains).await? < total_sent
                && grace.elapsed() < Duration::from_secs(20)
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            delivered_at = start.elapsed().as_secs_f64();
            break;
        }
        if args.messages > 0 && shutdown.is_cancelled() {
            return Err(DevnetError::Other(
                "interrupted before every message was delivered".into(),
            ));
        }
        if start.elapsed() > args.timeout {
            progress(&format!(
                "timeout after {:?}: {received}/{total_sent} delivered",
                args.timeout
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The hub counts a delivery once its transaction is confirmed, a little
    // after the recipient's event exists: wait (bounded) for it to catch up.
    let total_received_now = total_received(chains).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut metrics = scrape(hub.addr).await?;
    while metrics.delivered < total_received_now && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        metrics = scrape(hub.addr).await?;
    }
    Ok((sent, delivered_at, metrics))
}

async fn total_received(chains: &[Chain]) -> Result<u64, DevnetError> {
    let mut total = 0u64;
    for c in chains {
        let r = TestRecipient::new(c.report.contracts.recipient, c.wallet.provider().clone());
        let n = r.received().call().await.map_err(|e| {
            DevnetError::Other(format!("reading received() on {}: {e}", c.report.name))
        })?;
        total += u64::try_from(n).unwrap_or(u64::MAX);
    }
    Ok(total)
}

/// GETs `/metrics` over HTTP, as a scraper would.
async fn scrape(addr: SocketAddr) -> Result<MetricsReport, DevnetError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let err =
        |e: std::io::Error| DevnetError::Other(format!("scraping http://{addr}/metrics: {e}"));
    let mut s = tokio::net::TcpStream::connect(addr).await.map_err(err)?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await
        .map_err(err)?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.map_err(err)?;
    let text = String::from_utf8_lossy(&buf);
    let g = |st| sum_messages_in_text(&text, st);
    let gas_used: u64 = text
        .lines()
        .filter(|l| l.starts_with("switchyard_gas_used_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64;
    let delivered = g(stage::DELIVERED);
    Ok(MetricsReport {
        gas_used,
        gas_per_message: gas_used as f64 / delivered.max(1) as f64,
        observed: g(stage::OBSERVED),
        verified: g(stage::VERIFIED),
        enqueued: g(stage::ENQUEUED),
        submitted: g(stage::SUBMITTED),
        delivered: g(stage::DELIVERED),
        rejected: g(stage::REJECTED),
        failed: g(stage::FAILED),
    })
}

/// Matches every `Received` event against what was sent.
async fn verify(
    chains: &[Chain],
    args: &DevnetArgs,
    sent: Sent,
    seconds: f64,
) -> Result<DevnetReport, DevnetError> {
    let senders: HashMap<u32, B256> = chains
        .iter()
        .map(|c| (c.report.domain, c.report.sender.into_word()))
        .collect();
    let mut seen: HashMap<(u32, u32, Bytes), u64> = HashMap::new();
    let mut mismatched = 0u64;
    for c in chains {
        let events = devtools::received_events(
            c.wallet.provider(),
            c.report.contracts.recipient,
            c.report.contracts.block,
        )
        .await?;
        for ev in events {
            let expected_sender = senders.get(&ev.origin);
            let key = (ev.origin, c.report.domain, ev.body.clone());
            let n = sent
                .get(&(ev.origin, c.report.domain))
                .copied()
                .unwrap_or(0);
            let body_ok = is_sent_body(&ev.body, ev.origin, c.report.domain, n, args.body_size);
            if expected_sender != Some(&ev.sender) || !body_ok {
                mismatched += 1;
                continue;
            }
            *seen.entry(key).or_default() += 1;
        }
    }
    let total_sent: u64 = sent.values().sum();
    let delivered = seen.len() as u64;
    let duplicates: u64 = seen.values().map(|n| n - 1).sum();
    Ok(DevnetReport {
        chains: chains.len(),
        routes: sent.len(),
        sent: total_sent,
        delivered,
        duplicates,
        lost: total_sent.saturating_sub(delivered),
        mismatched,
        seconds,
        messages_per_second: if seconds > 0.0 {
            delivered as f64 / seconds
        } else {
            0.0
        },
        metrics: MetricsReport::default(),
        http: String::new(),
        redis: String::new(),
        chain_details: chains.iter().map(|c| c.report.clone()).collect(),
    })
}

/// Whether `body` is one of the `n` bodies sent on route origin → dest.
fn is_sent_body(body: &[u8], origin: u32, dest: u32, n: u64, size: usize) -> bool {
    let prefix = format!("switchyard devnet {origin}->{dest} #");
    let Some(rest) = body.strip_prefix(prefix.as_bytes()) else {
        return false;
    };
    let Some(space) = rest.iter().position(|&b| b == b' ') else {
        return false;
    };
    let Ok(i) = std::str::from_utf8(&rest[..space])
        .unwrap_or("x")
        .parse::<u64>()
    else {
        return false;
    };
    i < n && body == body_for(origin, dest, i, size).as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sent_bodies_are_recognised_and_others_are_not() {
        let b = body_for(1000, 2000, 7, 64);
        assert_eq!(b.len(), 64);
        assert!(is_sent_body(&b, 1000, 2000, 8, 64));
        assert!(
            !is_sent_body(&b, 1000, 2000, 7, 64),
            "index beyond what was sent"
        );
        assert!(!is_sent_body(&b, 2000, 1000, 8, 64), "wrong route");
        let mut tampered = b.to_vec();
        tampered[63] = b'!';
        assert!(!is_sent_body(&tampered, 1000, 2000, 8, 64));
    }
}
