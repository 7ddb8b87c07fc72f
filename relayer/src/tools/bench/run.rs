//! The full benchmark pipeline: generator → light client → router → Redis
//! lanes on a real redis-server → dispatchers → attestation signing → a null
//! sink that checks every attestation and counts every message once. The
//! watcher, lanes and dispatcher are the hub's own; only the two ends
//! (origin source, destination sink) differ from a real deployment.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, keccak256};
use serde::Serialize;
use switchyard_evm::attest::Attester;
use switchyard_evm::rpc::{RpcPolicy, RpcPool};
use switchyard_evm::submitter::{EvmSubmitter, SubmitterConfig};
use switchyard_lc_evm::receipts_root;
use switchyard_localnet::evm::{self as devtools, ANVIL_KEYS, DevWallet};
use tokio_util::sync::CancellationToken;

use super::sink::BenchSink;
use super::{GenConfig, GeneratorSource, NullSink};
use crate::config::{
    ChainConfig, Config, DispatcherConfig, HttpConfig, LogConfig, RedisConfig, SecretRef,
};
use crate::error::HubError;
use crate::hub::{HubBuilder, SideTask, Wiring};
use crate::metrics::{Metrics, quantile_between};
use crate::origin::evm::OriginSpec;
use crate::store::QueueKey;
use switchyard_localnet::procs::{Anvil, RedisCluster, RedisServer, repo_root};

/// Errors of the benchmark.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// Setting up.
    #[error("{0}")]
    Setup(String),
}

/// Benchmark parameters.
#[derive(Debug, Clone)]
pub struct BenchArgs {
    /// Measured window after warm-up.
    pub seconds: u64,
    /// Warm-up before the window.
    pub warmup: u64,
    /// Routes (ordered origin → destination pairs).
    pub routes: usize,
    /// Message body size in bytes.
    pub body_size: usize,
    /// Lane shards per destination (None: [`auto_shards`]).
    pub shards: Option<u16>,
    /// Dispatcher workers per destination.
    pub workers: usize,
    /// Messages per attested batch.
    pub batch: usize,
    /// Backlog limit (entries) per destination lane.
    pub max_backlog: u64,
    /// Use this Redis instead of starting one.
    pub redis: Option<String>,
    /// Generator seed.
    pub seed: u64,
    /// Offered load in messages/s across all origins (None: unbounded).
    pub rate: Option<f64>,
    /// Where attested batches go.
    pub sink: SinkKind,
    /// Hub processes sharing the Redis (more than 1: this process starts
    /// them as children and sums their reports).
    pub processes: usize,
    /// Null sinks keep their nonce bitmap in Redis (implied by `part`).
    pub shared_sink: bool,
    /// This process is part `.0` of `.1`: it watches the origins whose
    /// index modulo `.1` is `.0`, and dispatches for every destination.
    pub part: Option<(usize, usize)>,
    /// Key prefix (the parts of a run share one).
    pub prefix: Option<String>,
    /// Keep the status journal (`[status]`, on by default in the hub):
    /// every message's record written to Redis as the hub does.
    pub status_journal: bool,
    /// Independent attesters (0: the hub signs alone): each an attester
    /// hub of its own in this process, reading the same generated chains
    /// (each block is generated once) with its own light clients and Redis
    /// key prefix, reached over HTTP as a deployment reaches them.
    pub attesters: usize,
    /// Signatures the destinations want from them.
    pub threshold: usize,
    /// Start a Redis Cluster of this many masters (at least 3) on loopback
    /// instead of one redis-server; the run goes through child processes
    /// (`processes` of them, 1 included).
    pub redis_cluster: Option<usize>,
    /// Replicas per master of that cluster.
    pub cluster_replicas: usize,
    /// Use this Redis Cluster (seed node URLs) instead of starting one.
    pub cluster_nodes: Vec<String>,
    /// `redis.wait_replicas` of the hubs (0: off): each lane append waits
    /// until this many replicas hold it.
    pub wait_replicas: u32,
    /// A part writes every nonce its sinks delivered here when it ends,
    /// for the coordinator's exactly-once check across parts.
    pub ledger_out: Option<std::path::PathBuf>,
}

/// Parses `I/N` (0 ≤ I < N).
pub fn parse_part(s: &str) -> Result<(usize, usize), crate::input::InputError> {
    let bad = || crate::input::InputError::new("--part", "I/N with 0 <= I < N", s);
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// The destination end of the benchmark (`--sink`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SinkKind {
    /// [`NullSink`]: checks every attestation in process, counts every
    /// message once; measures the hub.
    #[default]
    Null,
    /// A real anvil chain: an Inbox and a trivial recipient per destination
    /// domain, batches sent by the hub's EVM submitter; measures gas per
    /// message (and anvil's throughput more than the hub's).
    Anvil,
}

impl Default for BenchArgs {
    fn default() -> Self {
        Self {
            seconds: 60,
            warmup: 5,
            routes: 12,
            body_size: 128,
            shards: None,
            workers: 2,
            batch: 1000,
            max_backlog: 256,
            redis: None,
            seed: 1,
            rate: None,
            sink: SinkKind::Null,
            processes: 1,
            shared_sink: false,
            part: None,
            prefix: None,
            status_journal: false,
            attesters: 0,
            threshold: 0,
            redis_cluster: None,
            cluster_replicas: 0,
            cluster_nodes: Vec::new(),
            wait_replicas: 0,
            ledger_out: None,
        }
    }
}

/// p50 and p99 of one stage, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize, Default)]
pub struct Quantiles {
    /// Median.
    pub p50_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
}

/// The final JSON line.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct BenchReport {
    /// Delivered (attested, checked, counted once) per second in the window.
    pub messages_per_second: f64,
    /// Length of the measured window.
    pub seconds: f64,
    /// Delivered in the window.
    pub delivered: u64,
    /// Delivered over the whole run.
    pub delivered_total: u64,
    /// Messages the sinks saw again after their first delivery.
    pub duplicates: u64,
    /// Messages that arrived after their nonce left the sink's window
    /// (about a minute of traffic): unchecked, so a correct run has none.
    pub too_old: u64,
    /// Median and 99th percentile end to end (verified to attested).
    pub p50_ms: Option<f64>,
    /// See `p50_ms`.
    pub p99_ms: Option<f64>,
    /// Per stage: verify (block fetched to verified), enqueue (verified to
    /// in Redis), deliver (verified to attested and counted).
    pub stages: HashMap<String, Quantiles>,
    /// Hub process CPU seconds per million delivered (generator included).
    pub cpu_seconds_per_million: f64,
    /// The generators' share of that (with `--attesters`, the attesters
    /// read the same generated chains: generated once).
    pub generator_cpu_seconds_per_million: f64,
    /// redis-server CPU seconds per million delivered (when started here).
    pub redis_cpu_seconds_per_million: Option<f64>,
    /// Peak resident memory of the process.
    pub peak_rss_bytes: u64,
    /// Resident memory when the measured window opened, and when it
    /// closed: equal within noise when memory is flat.
    pub rss_window_start_bytes: u64,
    /// See `rss_window_start_bytes`.
    pub rss_window_end_bytes: u64,
    /// Routes.
    pub routes: usize,
    /// Origin chains.
    pub origins: usize,
    /// Destination chains.
    pub destinations: usize,
    /// Body size.
    pub body_size: usize,
    /// Lane shards per destination.
    pub lane_shards: u16,
    /// Offered load (messages/s), when paced; absent = unbounded.
    pub offered_messages_per_second: Option<f64>,
    /// Attested batches.
    pub batches: u64,
    /// Which sink: "null" or "anvil".
    pub sink: String,
    /// Hub processes whose reports this one sums (1: this process alone).
    /// With several, rates and counts are sums, CPU is the sum of the
    /// processes', latencies and peak RSS are the worst process's.
    pub processes: usize,
    /// With `--sink anvil`: gas of the included `Inbox.deliver`
    /// transactions (whole transactions: intrinsic, calldata, signature
    /// checks, replay bitmap, recipient calls) per delivered message.
    pub gas_per_message: Option<f64>,
    /// With `--sink anvil`: messages per included transaction.
    pub messages_per_transaction: Option<f64>,
    /// The same messages' irreducible keccak work (message ids plus
    /// receipts-trie hashing), timed on one core in this run: the ceiling of
    /// one core that only hashed.
    pub hash_bound_messages_per_second: f64,
    /// Masters of the Redis Cluster the run used (absent: one redis-server).
    #[serde(default)]
    pub redis_masters: Option<usize>,
    /// Replicas per master of that cluster.
    #[serde(default)]
    pub cluster_replicas: Option<usize>,
    /// `redis.wait_replicas` the hubs ran with.
    #[serde(default)]
    pub wait_replicas: u32,
    /// Each hub process of a multi-process or cluster run, in part order.
    #[serde(default)]
    pub parts: Vec<PartReport>,
    /// Each Redis node the run started (cluster runs), with its CPU.
    #[serde(default)]
    pub redis_nodes: Vec<RedisNodeReport>,
    /// Whether the status journal ran (`--status-journal`).
    pub status_journal: bool,
    /// Status journal message updates written to Redis in the window.
    pub status_written: u64,
    /// Status journal message updates dropped in the window (buffer full,
    /// Redis errors): the journal lagging behind the deliveries.
    pub status_dropped: u64,
}

/// One hub process of a multi-process run.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PartReport {
    /// Its deliveries per second in its window.
    pub messages_per_second: f64,
    /// Its CPU seconds per million of its deliveries.
    pub cpu_seconds_per_million: f64,
    /// Its peak resident memory.
    pub peak_rss_bytes: u64,
}

/// One Redis node of a cluster run.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RedisNodeReport {
    /// `127.0.0.1:<port>`.
    pub address: String,
    /// "master" or "replica", at the end of the run.
    pub role: String,
    /// Its CPU seconds over the measured window per million delivered (a
    /// node is one thread: 1,000,000 / this is its ceiling in msg/s).
    pub cpu_seconds_per_million: f64,
}

fn proc_cpu(pid: Option<u32>) -> Option<Duration> {
    let path = pid.map_or("/proc/self/stat".to_owned(), |p| format!("/proc/{p}/stat"));
    super::stat_cpu(&path)
}

/// Peak resident memory of the process (`VmHWM`).
fn peak_rss() -> u64 {
    status_kb("VmHWM:")
}

/// Resident memory now (`VmRSS`).
fn current_rss() -> u64 {
    status_kb("VmRSS:")
}

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with(field))?;
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        })
        .unwrap_or(0)
}

/// Times the irreducible hashing of the configuration's messages on this
/// thread: receipts-trie roots and message ids of freshly generated blocks.
fn hash_bound(cfg: &GenConfig) -> f64 {
    let Ok(mut gens) = cfg.generators() else {
        return 0.0;
    };
    let mut blocks = Vec::new();
    for g in gens.iter_mut() {
        for _ in 0..4 {
            blocks.push(g.next_block());
        }
    }
    let messages: u64 = blocks.iter().map(|b| u64::from(b.messages)).sum();
    let start = Instant::now();
    let mut sink = 0u8;
    for b in &blocks {
        sink ^= receipts_root(&b.receipts)[0];
        for r in &b.receipts {
            for log in &r.logs {
                // The message is the ABI `bytes` after offset and length.
                if log.data.len() > 64 {
                    let len = usize::try_from(u64::from_be_bytes(
                        log.data[56..64].try_into().unwrap_or([0; 8]),
                    ))
                    .unwrap_or(0);
                    if let Some(m) = log.data.get(64..64 + len) {
                        sink ^= keccak256(m)[0];
                    }
                }
            }
        }
    }
    std::hint::black_box(sink);
    messages as f64 / start.elapsed().as_secs_f64().max(1e-9)
}

/// `--processes N`: starts N copies of this binary as parts of one run on
/// one Redis (started here unless given), waits for their reports and sums
/// them. Each part measures its own window; they start together, so the
/// windows coincide to within process start-up.
async fn coordinate(
    args: BenchArgs,
    shutdown: CancellationToken,
) -> Result<BenchReport, BenchError> {
    let setup = |e: String| BenchError::Setup(format!("--processes: {e}"));
    let scratch = std::env::temp_dir().join(format!(
        "switchyard-bench-{}-{}",
        std::process::id(),
        crate::unix_ms()
    ));
    std::fs::create_dir_all(&scratch)
        .map_err(|e| setup(format!("creating {}: {e}", scratch.display())))?;
    let _scratch = RemoveOnDrop(scratch.clone());
    let cluster = match args.redis_cluster {
        Some(masters) => Some(
            RedisCluster::spawn_replicated(
                masters,
                args.cluster_replicas,
                &scratch.join("cluster"),
            )
            .map_err(|e| BenchError::Setup(format!("--redis-cluster: {e}")))?,
        ),
        None => None,
    };
    let redis_server = match (&args.redis, &cluster, args.cluster_nodes.is_empty()) {
        (None, None, true) => Some(RedisServer::spawn(None).map_err(|e| setup(e.to_string()))?),
        _ => None,
    };
    let redis_url = args
        .redis
        .clone()
        .or_else(|| redis_server.as_ref().map(|r| r.url.clone()));
    let cluster_nodes = match &cluster {
        Some(c) => c.urls(),
        None => args.cluster_nodes.clone(),
    };
    // The parts' hubs wait for Redis as a deployment's do: a Redis given
    // here is checked first, so a wrong or unreachable one fails the run
    // with the reason instead of leaving the parts retrying.
    let target = match &redis_url {
        Some(url) => crate::store::RedisTarget::Single(url.clone()),
        None => crate::store::RedisTarget::Cluster(cluster_nodes.clone()),
    };
    let probe_key = QueueKey::new(keccak256(b"switchyard bench queue key").as_slice())
        .map_err(|e| setup(e.to_string()))?;
    let given = match (&cluster, cluster_nodes.is_empty(), &args.redis) {
        (Some(_), _, _) => "--redis-cluster",
        (None, false, _) => "--redis-cluster-nodes",
        (None, true, Some(_)) => "--redis",
        (None, true, None) => "the bench's redis-server",
    };
    match tokio::time::timeout(
        Duration::from_secs(15),
        crate::store::Store::connect(&target, "bench-probe", probe_key),
    )
    .await
    {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(BenchError::Setup(format!("{given}: {e}"))),
        Err(_) => {
            return Err(BenchError::Setup(format!(
                "{given}: no answer within 15 s from {target:?}"
            )));
        }
    }
    let exe = std::env::current_exe().map_err(|e| setup(e.to_string()))?;
    let prefix = format!("bench-{}", crate::unix_ms());
    let n = args.processes;
    let mut children = Vec::new();
    let ledger = |i: usize| scratch.join(format!("part{i}.ledger"));
    for i in 0..n {
        let mut cmd = tokio::process::Command::new(&exe);
        cmd.arg("bench")
            .args(["--duration-secs", &args.seconds.to_string()])
            .args(["--warmup-secs", &args.warmup.to_string()])
            .args(["--routes", &args.routes.to_string()])
            .args(["--body-size", &args.body_size.to_string()])
            .args(["--workers", &args.workers.to_string()])
            .args(["--batch-size", &args.batch.to_string()])
            .args(["--prefix", &prefix])
            .args(["--part", &format!("{i}/{n}")])
            .arg("--ledger-out")
            .arg(ledger(i))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        match &redis_url {
            Some(url) => {
                cmd.args(["--redis", url]);
            }
            None => {
                cmd.args(["--redis-cluster-nodes", &cluster_nodes.join(",")]);
            }
        }
        if let Some(s) = args.shards {
            cmd.args(["--shards", &s.to_string()]);
        }
        if let Some(r) = args.rate {
            cmd.args(["--rate", &r.to_string()]);
        }
        if args.status_journal {
            cmd.arg("--status-journal");
        }
        if args.wait_replicas > 0 {
            cmd.args(["--wait-replicas", &args.wait_replicas.to_string()]);
        }
        children.push(
            cmd.spawn()
                .map_err(|e| setup(format!("starting part {i}: {e}")))?,
        );
    }
    // Redis's CPU over (about) the parts' measured window: they start
    // together, and each opens its window after the warm-up.
    let node_pids: Vec<(String, u32)> = match &cluster {
        Some(c) => c
            .nodes
            .iter()
            .map(|s| (format!("127.0.0.1:{}", s.proc.port), s.proc.pid()))
            .collect(),
        None => redis_server
            .iter()
            .map(|s| (format!("127.0.0.1:{}", s.proc.port), s.proc.pid()))
            .collect(),
    };
    let sampler = {
        let pids = node_pids.clone();
        let (warmup, seconds) = (args.warmup, args.seconds);
        tokio::spawn(async move {
            // Parts take about a second to start their hubs.
            tokio::time::sleep(Duration::from_secs(warmup) + Duration::from_millis(1000)).await;
            let before: Vec<Option<Duration>> =
                pids.iter().map(|(_, p)| proc_cpu(Some(*p))).collect();
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            pids.iter()
                .zip(before)
                .map(|((_, p), b)| match (b, proc_cpu(Some(*p))) {
                    (Some(b), Some(a)) => a.saturating_sub(b),
                    _ => Duration::ZERO,
                })
                .collect::<Vec<Duration>>()
        })
    };
    let mut reports = Vec::new();
    let mut ledgers = Vec::new();
    for (i, child) in children.into_iter().enumerate() {
        let out = tokio::select! {
            out = child.wait_with_output() => out.map_err(|e| setup(format!("part {i}: {e}")))?,
            () = shutdown.cancelled() => return Err(setup("interrupted".into())),
        };
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last = stdout.lines().last().unwrap_or_default();
        let report: BenchReport = serde_json::from_str(last).map_err(|e| {
            setup(format!(
                "part {i} exited with {}; its last line is not a report ({e}): {last:?}",
                out.status
            ))
        })?;
        reports.push(report);
        let path = ledger(i);
        let bytes = std::fs::read(&path)
            .map_err(|e| setup(format!("part {i}'s ledger {}: {e}", path.display())))?;
        ledgers.push(
            super::sink::LedgerWords::decode_all(&bytes)
                .map_err(|e| setup(format!("part {i}'s ledger {}: {e}", path.display())))?,
        );
    }
    // Exactly once across the parts: a nonce two parts delivered.
    let merged = super::sink::merge_ledgers(&ledgers);
    let node_cpu = sampler
        .await
        .map_err(|e| setup(format!("Redis CPU sampler: {e}")))?;
    let roles: Vec<String> = match &cluster {
        Some(c) => (0..c.nodes.len())
            .map(|i| match c.role(i).as_deref() {
                Some("slave") => "replica".to_owned(),
                Some(r) => r.to_owned(),
                None => "unknown".to_owned(),
            })
            .collect(),
        None => vec!["master".to_owned(); node_pids.len()],
    };
    drop(redis_server);
    drop(cluster);
    let sum = |f: fn(&BenchReport) -> f64| reports.iter().map(f).sum::<f64>();
    let worst = |f: fn(&BenchReport) -> Option<f64>| {
        reports
            .iter()
            .filter_map(f)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
    };
    let delivered: u64 = reports.iter().map(|r| r.delivered).sum();
    let per_million = |d: Duration| {
        if delivered == 0 {
            0.0
        } else {
            d.as_secs_f64() * 1e6 / delivered as f64
        }
    };
    let redis_nodes: Vec<RedisNodeReport> = node_pids
        .iter()
        .zip(&node_cpu)
        .zip(roles)
        .map(|(((address, _), cpu), role)| RedisNodeReport {
            address: address.clone(),
            role,
            cpu_seconds_per_million: per_million(*cpu),
        })
        .collect();
    // CPU per million: each part's CPU over its own deliveries, summed as
    // CPU seconds over all deliveries.
    let cpu_per_million = |f: fn(&BenchReport) -> f64| {
        if delivered == 0 {
            return 0.0;
        }
        reports
            .iter()
            .map(|r| f(r) * r.delivered as f64)
            .sum::<f64>()
            / delivered as f64
    };
    let mut stages = HashMap::new();
    for name in ["verify", "enqueue", "attest", "deliver"] {
        let q = |f: fn(&Quantiles) -> Option<f64>| {
            reports
                .iter()
                .filter_map(|r| r.stages.get(name).and_then(f))
                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
        };
        stages.insert(
            name.to_owned(),
            Quantiles {
                p50_ms: q(|x| x.p50_ms),
                p99_ms: q(|x| x.p99_ms),
            },
        );
    }
    let first = reports
        .first()
        .cloned()
        .ok_or_else(|| setup("no parts".into()))?;
    Ok(BenchReport {
        messages_per_second: sum(|r| r.messages_per_second),
        seconds: reports.iter().map(|r| r.seconds).fold(0.0, f64::max),
        delivered,
        // Distinct across the parts (their ledgers merged).
        delivered_total: merged.distinct,
        // Within each part, and across parts.
        duplicates: reports.iter().map(|r| r.duplicates).sum::<u64>() + merged.duplicates,
        too_old: reports.iter().map(|r| r.too_old).sum(),
        p50_ms: worst(|r| r.p50_ms),
        p99_ms: worst(|r| r.p99_ms),
        stages,
        cpu_seconds_per_million: cpu_per_million(|r| r.cpu_seconds_per_million),
        generator_cpu_seconds_per_million: cpu_per_million(|r| r.generator_cpu_seconds_per_million),
        redis_cpu_seconds_per_million: (!node_cpu.is_empty())
            .then(|| per_million(node_cpu.iter().sum())),
        peak_rss_bytes: reports.iter().map(|r| r.peak_rss_bytes).max().unwrap_or(0),
        rss_window_start_bytes: reports
            .iter()
            .map(|r| r.rss_window_start_bytes)
            .max()
            .unwrap_or(0),
        rss_window_end_bytes: reports
            .iter()
            .map(|r| r.rss_window_end_bytes)
            .max()
            .unwrap_or(0),
        batches: reports.iter().map(|r| r.batches).sum(),
        status_journal: args.status_journal,
        status_written: reports.iter().map(|r| r.status_written).sum(),
        status_dropped: reports.iter().map(|r| r.status_dropped).sum(),
        processes: n,
        offered_messages_per_second: args.rate,
        redis_masters: cluster_masters(&args),
        cluster_replicas: args.redis_cluster.map(|_| args.cluster_replicas),
        wait_replicas: args.wait_replicas,
        parts: reports
            .iter()
            .map(|r| PartReport {
                messages_per_second: r.messages_per_second,
                cpu_seconds_per_million: r.cpu_seconds_per_million,
                peak_rss_bytes: r.peak_rss_bytes,
            })
            .collect(),
        redis_nodes,
        ..first
    })
}

/// Masters of the run's cluster: started here, or given (counted as the
/// seed list's length, the usual way to give one).
fn cluster_masters(args: &BenchArgs) -> Option<usize> {
    args.redis_cluster
        .or((!args.cluster_nodes.is_empty()).then_some(args.cluster_nodes.len()))
}

/// Removes a scratch directory when the run ends, however it ends.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `--sink anvil`: the chain and, per destination (in
/// [`GenConfig::destinations`] order), its Inbox and recipient.
struct AnvilSink {
    chain: Anvil,
    contracts: Vec<(Address, Address)>,
    from_block: u64,
}

impl AnvilSink {
    /// Starts anvil, deploys an Inbox (the bench attester, threshold 1) and
    /// a TestRecipient per destination domain, and points the generator's
    /// messages at those recipients.
    async fn deploy(
        gen_cfg: &mut GenConfig,
        attesters: &[Address],
        threshold: u64,
    ) -> Result<Self, BenchError> {
        let setup = |e: String| BenchError::Setup(format!("--sink anvil: {e}"));
        let keys = ANVIL_KEYS.len() - 1;
        if gen_cfg.destinations.len() > keys {
            return Err(setup(format!(
                "at most {keys} destinations (one funded anvil dev key each), got {}; use fewer --routes",
                gen_cfg.destinations.len()
            )));
        }
        let chain = Anvil::spawn(31337, 0.25).map_err(|e| setup(e.to_string()))?;
        let mut wallet = DevWallet::connect(&chain.url, ANVIL_KEYS[0])
            .await
            .map_err(|e| setup(e.to_string()))?;
        let artifacts = repo_root().join(switchyard_evm::bindings::ARTIFACTS_DIR);
        let mut contracts = Vec::new();
        let mut from_block = 0;
        for d in &mut gen_cfg.destinations {
            let dep = devtools::deploy_all(
                &mut wallet,
                &artifacts,
                d.domain,
                attesters.to_vec(),
                threshold,
                100_000,
            )
            .await
            .map_err(|e| setup(e.to_string()))?;
            d.recipients = vec![B256::left_padding_from(dep.recipient.as_slice())];
            contracts.push((dep.inbox, dep.recipient));
            from_block = dep.block;
        }
        Ok(Self {
            chain,
            contracts,
            from_block,
        })
    }

    /// Messages the recipients received more than once, by (origin, sender,
    /// body): bodies are distinct per nonce, so a repeat is a redelivery.
    async fn duplicates_on_chain(&self) -> Result<u64, BenchError> {
        let wallet = DevWallet::connect(&self.chain.url, ANVIL_KEYS[0])
            .await
            .map_err(|e| BenchError::Setup(e.to_string()))?;
        let mut seen = std::collections::HashSet::new();
        let mut again = 0;
        for (_, recipient) in &self.contracts {
            for r in devtools::received_events(wallet.provider(), *recipient, self.from_block)
                .await
                .map_err(|e| BenchError::Setup(e.to_string()))?
            {
                if !seen.insert((r.origin, r.sender, r.body)) {
                    again += 1;
                }
            }
        }
        Ok(again)
    }
}

/// Lane shards per destination when not given: about 16 lanes in all (the
/// parallelism two cores can use), at least one per destination. More
/// lanes than that only cut each block's messages into smaller entries:
/// every entry costs an append, a read and an acknowledgement whatever it
/// holds.
pub(crate) fn auto_shards(destinations: usize) -> u16 {
    u16::try_from((16 / destinations.max(1)).clamp(1, 16)).unwrap_or(1)
}

/// Generated blocks each origin keeps for re-reads: about 64 blocks (32 MB)
/// in all, between 4 and 16 per origin.
fn keep_per_origin(origins: usize) -> usize {
    (64 / origins.max(1)).clamp(4, 16)
}

/// Readings at the start of the measured window.
struct Window {
    at: Instant,
    delivered: u64,
    cpu: Duration,
    redis_cpu: Option<Duration>,
    generator_cpu: Duration,
    rss: u64,
    latency: HashMap<&'static str, Vec<(f64, u64)>>,
}

/// Runs the benchmark; progress lines go to stderr.
pub async fn run(args: BenchArgs, shutdown: CancellationToken) -> Result<BenchReport, BenchError> {
    let setup = |e: String| BenchError::Setup(e);
    if args.sink == SinkKind::Anvil
        && (args.processes > 1 || args.part.is_some() || args.shared_sink)
    {
        return Err(setup(
            "--processes/--shared-sink apply to the null sink only".into(),
        ));
    }
    if args.processes == 0 {
        return Err(setup("--processes: expected at least 1, got 0".into()));
    }
    let cluster = args.redis_cluster.is_some() || !args.cluster_nodes.is_empty();
    if let Some(m) = args.redis_cluster
        && m < 3
    {
        return Err(setup(format!(
            "--redis-cluster: expected at least 3 masters (Redis Cluster's minimum), got {m}"
        )));
    }
    if cluster && args.redis.is_some() {
        return Err(setup(
            "--redis with --redis-cluster/--redis-cluster-nodes: give one Redis or one cluster"
                .into(),
        ));
    }
    if args.redis_cluster.is_some() && !args.cluster_nodes.is_empty() {
        return Err(setup(
            "--redis-cluster starts a cluster, --redis-cluster-nodes uses one: give one".into(),
        ));
    }
    if cluster && (args.sink == SinkKind::Anvil || args.shared_sink || args.attesters > 0) {
        return Err(setup(
            "--redis-cluster/--redis-cluster-nodes: a null-sink run without --shared-sink or --attesters"
                .into(),
        ));
    }
    if args.redis_cluster.is_some() && args.wait_replicas as usize > args.cluster_replicas {
        return Err(setup(format!(
            "--wait-replicas {}: expected at most --cluster-replicas ({}), or no append is ever acknowledged",
            args.wait_replicas, args.cluster_replicas
        )));
    }
    if (args.processes > 1 || cluster) && args.part.is_none() {
        return coordinate(args, shutdown).await;
    }
    let redis_server = match (&args.redis, cluster) {
        (None, false) => Some(RedisServer::spawn(None).map_err(|e| setup(e.to_string()))?),
        _ => None,
    };
    // A cluster run's parts name the cluster's nodes; `url` is then unused.
    let redis_url = args
        .redis
        .clone()
        .or_else(|| redis_server.as_ref().map(|r| r.url.clone()))
        .unwrap_or_else(|| "redis://cluster-nodes-in-use:1".to_owned());

    let mut gen_cfg = GenConfig::with_routes(args.routes);
    gen_cfg.body_size = args.body_size;
    gen_cfg.seed = args.seed;
    gen_cfg.validate().map_err(|e| setup(e.to_string()))?;

    let attester_key = format!("0x{}", hex::encode(keccak256(args.seed.to_be_bytes())));
    let attester =
        Attester::from_hex(&attester_key, "bench attester").map_err(|e| setup(e.to_string()))?;
    // The committee: with --attesters, keys derived from the seed, and
    // the destinations want --threshold of them; else the hub's key alone.
    if args.attesters > 0 && !(1..=args.attesters).contains(&args.threshold) {
        return Err(setup(format!(
            "--threshold: expected 1 to {} (the attesters), got {}",
            args.attesters, args.threshold
        )));
    }
    if args.attesters > 0 && (args.processes > 1 || args.part.is_some()) {
        return Err(setup(
            "--attesters: a run of one process (its attesters follow every origin)".into(),
        ));
    }
    let mut committee = Vec::new();
    for i in 0..args.attesters {
        let key = format!(
            "0x{}",
            hex::encode(keccak256(
                [&args.seed.to_be_bytes()[..], &(i as u64).to_be_bytes()].concat()
            ))
        );
        committee
            .push(Attester::from_hex(&key, "bench attester").map_err(|e| setup(e.to_string()))?);
    }
    let (set, threshold): (Vec<Address>, usize) = if committee.is_empty() {
        (vec![attester.address()], 1)
    } else {
        (
            committee.iter().map(Attester::address).collect(),
            args.threshold,
        )
    };
    let queue_key = QueueKey::new(keccak256(b"switchyard bench queue key").as_slice())
        .map_err(|e| setup(e.to_string()))?;
    let prefix = args
        .prefix
        .clone()
        .unwrap_or_else(|| format!("bench-{}", crate::unix_ms()));
    let shared_seen = if args.shared_sink {
        Some(
            crate::store::SeenNonces::connect(&redis_url, &prefix)
                .await
                .map_err(|e| setup(e.to_string()))?,
        )
    } else {
        None
    };
    let replica = match args.part {
        Some((i, _)) => format!("bench-{i}"),
        None => "bench".to_owned(),
    };

    // With `--sink anvil`: one chain, and on it an Inbox and a recipient per
    // destination domain; the generator addresses its messages to them.
    let anvil = match args.sink {
        SinkKind::Null => None,
        SinkKind::Anvil => Some(AnvilSink::deploy(&mut gen_cfg, &set, threshold as u64).await?),
    };

    // The hub's configuration for these chains: only routing and dispatch
    // settings matter; no RPC is ever called.
    let mut domains: Vec<u32> = gen_cfg.origins.iter().map(|o| o.domain).collect();
    domains.extend(gen_cfg.destinations.iter().map(|d| d.domain));
    domains.sort_unstable();
    domains.dedup();
    let mailbox_of = |d: u32| {
        gen_cfg
            .origins
            .iter()
            .find(|o| o.domain == d)
            .map_or(Address::ZERO, |o| o.mailbox)
    };
    let inbox = Address::repeat_byte(0x1b);
    // Where each destination's batches are attested for: the null sink's
    // made-up chain, or the anvil chain's Inbox of that destination.
    let dest_of = |d: u32| -> (u64, Address) {
        match (
            &anvil,
            gen_cfg.destinations.iter().position(|x| x.domain == d),
        ) {
            (Some(a), Some(i)) => (a.chain.chain_id, a.contracts[i].0),
            _ => (u64::from(d), inbox),
        }
    };
    let shards = args
        .shards
        .unwrap_or_else(|| auto_shards(gen_cfg.destinations.len()));
    let keep = keep_per_origin(gen_cfg.origins.len());
    let dispatcher = DispatcherConfig {
        max_batch_messages: args.batch,
        max_wait_ms: 2,
        max_in_flight: 4,
        lane_shards: shards,
        workers: args.workers,
        lease_ttl_ms: 3000,
        max_backlog_entries: args.max_backlog,
        ..DispatcherConfig::default()
    };
    let mut cfg = Config {
        role: crate::config::Role::All,
        redis: RedisConfig {
            url: redis_url.clone(),
            key_prefix: prefix.clone(),
            cluster_nodes: args.cluster_nodes.clone(),
            wait_replicas: args.wait_replicas,
            wait_timeout_ms: 1000,
        },
        tls: crate::config::TlsConfig::default(),
        // Each process of a `--processes` run has its own status API.
        http: HttpConfig {
            listen: "127.0.0.1:0"
                .parse()
                .map_err(|e| setup(format!("listen address: {e}")))?,
            ..HttpConfig::default()
        },
        log: LogConfig::default(),
        attester_key: Some(SecretRef {
            env: Some("UNUSED".into()),
            file: None,
        }),
        queue_key: Some(SecretRef {
            env: Some("UNUSED".into()),
            file: None,
        }),
        accepted_queue_keys: Vec::new(),
        admin_token: None,
        accepted_admin_tokens: Vec::new(),
        status: crate::config::StatusConfig {
            enabled: args.status_journal,
            ..crate::config::StatusConfig::default()
        },
        dispatcher: dispatcher.clone(),
        attesters: Vec::new(),
        attestation: crate::config::AttestationConfig::default(),
        chains: domains
            .iter()
            .map(|&d| ChainConfig {
                name: format!("d{d}"),
                domain: d,
                chain_id: dest_of(d).0,
                rpc_urls: vec!["http://127.0.0.1:1".into()],
                mailbox: mailbox_of(d),
                inbox: Some(dest_of(d).1),
                confirmations: 0,
                checkpoint: None,
                poll_interval_ms: 10,
                rpc_timeout_ms: 1000,
                submitter_key: Some(SecretRef {
                    env: Some("UNUSED".into()),
                    file: None,
                }),
                delivery_confirmations: 0,
                max_fee_gwei: 1,
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
            })
            .collect(),
        route_groups: Vec::new(),
        cometbft_origins: Vec::new(),
    };
    cfg.validate().map_err(|e| setup(e.to_string()))?;

    let (part, parts) = args.part.unwrap_or((0, 1));
    let generators = gen_cfg.generators().map_err(|e| setup(e.to_string()))?;
    // The offered rate is the whole run's: this part's share.
    let origins = (gen_cfg.origins.len() as f64).max(1.0);
    let mut wiring = BenchWiring {
        sources: HashMap::new(),
        checkpoints: HashMap::new(),
        header_lead: keep as u64 / 2,
        sinks: HashMap::new(),
    };
    for (_, g) in generators
        .into_iter()
        .enumerate()
        .filter(|(k, _)| k % parts == part)
    {
        let domain = g.domain();
        wiring.checkpoints.insert(domain, g.checkpoint());
        let source = GeneratorSource::new(g, keep);
        let source = Arc::new(match args.rate {
            Some(rate) => source.paced(rate / origins),
            None => source,
        });
        wiring.sources.insert(domain, source);
    }
    // Every generated chain (the attesters read the same ones): their CPU
    // is the bench's, reported apart from the hub's.
    let sources: Vec<Arc<GeneratorSource>> = wiring.sources.values().cloned().collect();
    let mut sinks = Vec::new();
    for (i, d) in gen_cfg.destinations.iter().enumerate() {
        let sink = match &anvil {
            Some(a) => {
                let (inbox, _) = a.contracts[i];
                let pool = RpcPool::new(
                    &format!("d{}", d.domain),
                    std::slice::from_ref(&a.chain.url),
                    RpcPolicy::default(),
                )
                .map_err(|e| setup(e.to_string()))?;
                // Key 0 deployed; each destination submits with its own key so
                // their nonces never interleave.
                let submitter = EvmSubmitter::new(
                    pool,
                    ANVIL_KEYS[i + 1],
                    "anvil dev key",
                    SubmitterConfig {
                        max_fee_per_gas: 100_000_000_000,
                        ..SubmitterConfig::new(a.chain.chain_id, inbox)
                    },
                )
                .map_err(|e| setup(e.to_string()))?;
                BenchSink::Anvil(Box::new(submitter))
            }
            None => {
                let mut sink =
                    NullSink::new(d.domain, u64::from(d.domain), inbox, attester.address())
                        .committee(set.clone(), threshold);
                // A part keeps every nonce: the coordinator checks the parts
                // against each other afterwards.
                if args.ledger_out.is_some() {
                    sink = sink.ledger();
                }
                if let Some(seen) = &shared_seen {
                    sink = sink.shared(seen.clone());
                }
                let sink = Arc::new(sink);
                sinks.push(Arc::clone(&sink));
                BenchSink::Null(sink)
            }
        };
        wiring.sinks.insert(d.domain, Arc::new(sink));
    }
    // The attesters: each a hub in role attester, reading the same
    // generated chains with its own light clients and store, reached over
    // HTTP.
    let stop = CancellationToken::new();
    let mut attester_hubs = Vec::new();
    let secrets = std::env::temp_dir().join(format!(
        "switchyard-bench-{}-{}",
        std::process::id(),
        crate::unix_ms()
    ));
    if !committee.is_empty() {
        std::fs::create_dir_all(&secrets)
            .map_err(|e| setup(format!("creating {}: {e}", secrets.display())))?;
    }
    for (i, a) in committee.iter().enumerate() {
        let token = secrets.join(format!("token{i}"));
        std::fs::write(&token, format!("bench-token-{i}-{}", crate::unix_ms()))
            .map_err(|e| setup(format!("writing a token: {e}")))?;
        let mut acfg = cfg.clone();
        acfg.role = crate::config::Role::Attester;
        acfg.attesters = Vec::new();
        acfg.queue_key = None;
        // Given to the builder below, never read from here.
        acfg.attester_key = Some(SecretRef {
            env: Some("UNUSED".into()),
            file: None,
        });
        acfg.redis.key_prefix = format!("{prefix}-attester{i}");
        acfg.status.enabled = false;
        acfg.attestation = crate::config::AttestationConfig {
            tokens: vec![SecretRef::file(&token)],
            max_messages: args.batch.max(1),
            ..crate::config::AttestationConfig::default()
        };
        for c in &mut acfg.chains {
            c.submitter_key = None;
        }
        let mut awiring = BenchWiring {
            sources: HashMap::new(),
            checkpoints: HashMap::new(),
            header_lead: keep as u64 / 2,
            sinks: HashMap::new(),
        };
        // The hub's chains, read again: each block is generated once (what
        // a chain costs, not a verifier), and this attester's light clients
        // verify every one of them on their own.
        for (domain, source) in &wiring.sources {
            awiring
                .checkpoints
                .insert(*domain, wiring.checkpoints[domain]);
            awiring.sources.insert(*domain, Arc::new(source.reader()));
        }
        let ahub = HubBuilder::new(acfg)
            .attester(a.clone())
            .replica(format!("bench-attester{i}"))
            .start(awiring, stop.clone())
            .await
            .map_err(|e| setup(format!("attester {i}: {e}")))?;
        cfg.attesters.push(crate::config::AttesterEndpoint {
            name: format!("attester{i}"),
            url: format!("http://{}", ahub.addr),
            token: SecretRef::file(&token),
            client_cert_file: None,
            client_key: None,
        });
        attester_hubs.push(ahub);
    }
    if !committee.is_empty() {
        cfg.attester_key = None;
    }
    // The hub itself, wired as `switchyard run` wires it, with generated
    // sources and these sinks in place of the chains.
    let builder = HubBuilder::new(cfg).queue_key(queue_key).replica(replica);
    let builder = if committee.is_empty() {
        builder.attester(attester.clone())
    } else {
        builder
    };
    let hub = builder
        .start(wiring, stop.clone())
        .await
        .map_err(|e| setup(e.to_string()))?;
    let metrics = hub.metrics.clone();

    let delivered = || match anvil {
        Some(_) => metrics.messages_at(crate::metrics::stage::DELIVERED),
        None => sinks.iter().map(|s| s.delivered()).sum::<u64>(),
    };
    let status_counts = || {
        let get = |o: &str| metrics.status_updates.with_label_values(&[o]).get();
        (
            get("written"),
            get("buffer_full") + get("redis_error") + get("shutdown"),
        )
    };
    let mut status0 = (0, 0);
    let redis_pid = redis_server.as_ref().map(|r| r.proc.pid());
    let started = Instant::now();
    let mut last = (Instant::now(), 0u64);
    let mut window: Option<Window> = None;
    let stages = ["verify", "enqueue", "attest", "deliver"];
    let end = Duration::from_secs(args.warmup + args.seconds);
    while started.elapsed() < end && !shutdown.is_cancelled() {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = delivered();
        let rate = (now - last.1) as f64 / last.0.elapsed().as_secs_f64();
        last = (Instant::now(), now);
        let phase = if window.is_some() {
            "measuring"
        } else {
            "warm-up"
        };
        eprintln!(
            "[bench] {:5.1}s {phase}: delivered {now}  {rate:>9.0} msg/s  rss {} MiB (peak {} MiB)",
            started.elapsed().as_secs_f64(),
            current_rss() / (1 << 20),
            peak_rss() / (1 << 20)
        );
        if window.is_none() && started.elapsed() >= Duration::from_secs(args.warmup) {
            let snap = stages
                .iter()
                .map(|s| (*s, metrics.latency_buckets(s)))
                .collect();
            let gen_cpu: Duration = sources.iter().map(|s| s.generator_cpu()).sum();
            status0 = status_counts();
            window = Some(Window {
                at: Instant::now(),
                delivered: now,
                cpu: proc_cpu(None).unwrap_or_default(),
                redis_cpu: proc_cpu(redis_pid),
                generator_cpu: gen_cpu,
                rss: current_rss(),
                latency: snap,
            });
        }
    }
    let Window {
        at: t0,
        delivered: d0,
        cpu: cpu0,
        redis_cpu: rcpu0,
        generator_cpu: gcpu0,
        rss: rss0,
        latency: snap0,
    } = window.ok_or_else(|| setup("stopped before the measured window".into()))?;
    let elapsed = t0.elapsed().as_secs_f64();
    let d1 = delivered();
    let status1 = status_counts();
    let cpu = proc_cpu(None).unwrap_or_default().saturating_sub(cpu0);
    let rcpu = match (rcpu0, proc_cpu(redis_pid)) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let gcpu = sources
        .iter()
        .map(|s| s.generator_cpu())
        .sum::<Duration>()
        .saturating_sub(gcpu0);
    let window_delivered = d1 - d0;
    let per_million = |d: Duration| {
        if window_delivered > 0 {
            d.as_secs_f64() * 1e6 / window_delivered as f64
        } else {
            0.0
        }
    };
    let mut stage_q = HashMap::new();
    for s in stages {
        let after = metrics.latency_buckets(s);
        let before = snap0.get(s).cloned().unwrap_or_default();
        stage_q.insert(
            s.to_owned(),
            Quantiles {
                p50_ms: quantile_between(&before, &after, 0.5).map(|v| v * 1000.0),
                p99_ms: quantile_between(&before, &after, 0.99).map(|v| v * 1000.0),
            },
        );
    }
    let peak = peak_rss();
    let rss1 = current_rss();
    stop.cancel();
    // What has not stopped within 30 s is aborted with the hub's tasks.
    let _ = tokio::time::timeout(Duration::from_secs(30), hub.join()).await;
    for a in attester_hubs {
        let _ = tokio::time::timeout(Duration::from_secs(30), a.join()).await;
    }
    let _ = std::fs::remove_dir_all(&secrets);
    if let Some(path) = &args.ledger_out {
        let all: Vec<_> = sinks.iter().flat_map(|s| s.ledger_entries()).collect();
        std::fs::write(path, super::sink::LedgerWords::encode_all(&all))
            .map_err(|e| setup(format!("--ledger-out {}: {e}", path.display())))?;
    }
    let e2e = stage_q.get("deliver").copied().unwrap_or_default();
    let delivered_total = delivered();
    let (mut duplicates, mut gas_per_message, mut per_tx, mut batches) = (
        sinks.iter().map(|s| s.duplicates()).sum(),
        None,
        None,
        sinks.iter().map(|s| s.batches()).sum(),
    );
    if let Some(a) = &anvil {
        let (mut gas, mut included) = (0u64, 0u64);
        for d in &gen_cfg.destinations {
            let name = format!("d{}", d.domain);
            gas += metrics.gas_used.with_label_values(&[&name]).get();
            included += metrics
                .transactions
                .with_label_values(&[&name, "included"])
                .get();
        }
        let handled = delivered_total + metrics.messages_at(crate::metrics::stage::FAILED);
        gas_per_message = (handled > 0).then(|| gas as f64 / handled as f64);
        per_tx = (included > 0).then(|| handled as f64 / included as f64);
        batches = included;
        // Checked on chain, independently of the hub's counters: a message
        // the recipients received twice.
        duplicates = a.duplicates_on_chain().await?;
    }
    let report = BenchReport {
        messages_per_second: window_delivered as f64 / elapsed.max(1e-9),
        seconds: elapsed,
        delivered: window_delivered,
        delivered_total,
        duplicates,
        too_old: sinks.iter().map(|s| s.too_old()).sum(),
        p50_ms: e2e.p50_ms,
        p99_ms: e2e.p99_ms,
        stages: stage_q,
        cpu_seconds_per_million: per_million(cpu),
        generator_cpu_seconds_per_million: per_million(gcpu),
        redis_cpu_seconds_per_million: rcpu.map(per_million),
        peak_rss_bytes: peak,
        rss_window_start_bytes: rss0,
        rss_window_end_bytes: rss1,
        routes: gen_cfg.routes.len(),
        origins: gen_cfg.origins.len(),
        destinations: gen_cfg.destinations.len(),
        body_size: args.body_size,
        lane_shards: shards,
        offered_messages_per_second: args.rate,
        batches,
        sink: if anvil.is_some() { "anvil" } else { "null" }.to_owned(),
        processes: 1,
        redis_masters: cluster_masters(&args),
        cluster_replicas: None,
        wait_replicas: args.wait_replicas,
        parts: Vec::new(),
        redis_nodes: Vec::new(),
        gas_per_message,
        messages_per_transaction: per_tx,
        hash_bound_messages_per_second: hash_bound(&gen_cfg),
        status_journal: args.status_journal,
        status_written: status1.0 - status0.0,
        status_dropped: status1.1 - status0.1,
    };
    drop(redis_server);
    drop(anvil);
    Ok(report)
}

/// The benchmark's [`Wiring`]: this process's share of the generated
/// origins, and a sink per destination.
struct BenchWiring {
    sources: HashMap<u32, Arc<GeneratorSource>>,
    checkpoints: HashMap<u32, switchyard_lc_evm::BlockRef>,
    /// Within what the generator keeps (re-routing a destination that fell
    /// behind reads its blocks again).
    header_lead: u64,
    sinks: HashMap<u32, Arc<BenchSink>>,
}

impl Wiring for BenchWiring {
    type Source = Arc<GeneratorSource>;
    type Sink = BenchSink;

    fn source(
        &mut self,
        _i: usize,
        chain: &ChainConfig,
        _pool: &RpcPool,
    ) -> Result<Option<Arc<GeneratorSource>>, HubError> {
        Ok(self.sources.get(&chain.domain).cloned())
    }

    fn tune(&self, spec: &mut OriginSpec) {
        spec.checkpoint = self.checkpoints.get(&spec.domain).copied();
        spec.poll = Duration::from_millis(1);
        spec.header_lead = self.header_lead;
        spec.quorum = 1;
    }

    fn sink(
        &mut self,
        _i: usize,
        chain: &ChainConfig,
        _pool: &RpcPool,
        _metrics: &Metrics,
        _shutdown: &CancellationToken,
        _side: &mut Vec<SideTask>,
    ) -> Result<Option<Arc<BenchSink>>, HubError> {
        Ok(self.sinks.get(&chain.domain).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_parses_and_refuses_out_of_range() {
        assert_eq!(parse_part("0/2"), Ok((0, 2)));
        assert_eq!(parse_part("1/2"), Ok((1, 2)));
        for bad in ["2/2", "1", "a/2", "1/0", "-1/2"] {
            let err = parse_part(bad).expect_err(bad).to_string();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn auto_shards_keep_about_sixteen_lanes() {
        assert_eq!(auto_shards(4), 4);
        assert_eq!(auto_shards(1), 16);
        assert_eq!(auto_shards(17), 1);
        assert_eq!(auto_shards(0), 16);
        assert_eq!(keep_per_origin(4), 16);
        assert_eq!(keep_per_origin(33), 4);
    }
}
