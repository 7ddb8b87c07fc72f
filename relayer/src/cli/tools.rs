//! The dev tools' commands, apart from the hub's: `switchyard bench` and
//! `switchyard devnet` (built with the `devtools` feature, on by default).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::exit::Exit;
use super::{init_tracing, on_signals};
use crate::config::LogFormat;
use crate::input::InputError;
use crate::tools::bench::SinkKind;
use crate::tools::devnet::{self, DevnetArgs};

#[derive(clap::Args, Debug)]
pub struct BenchCli {
    /// Measured seconds after warm-up.
    #[arg(
        long = "duration-secs",
        alias = "seconds",
        value_name = "SECS",
        default_value_t = 60
    )]
    pub seconds: u64,
    /// Warm-up seconds.
    #[arg(
        long = "warmup-secs",
        alias = "warmup",
        value_name = "SECS",
        default_value_t = 5
    )]
    pub warmup: u64,
    /// Routes (ordered origin → destination pairs; 12 = 4 chains).
    #[arg(long, default_value_t = 12)]
    pub routes: usize,
    /// Message body size in bytes.
    #[arg(long, default_value_t = 128)]
    pub body_size: usize,
    /// Lane shards per destination (default: 16 lanes in all, at least
    /// one a destination: 4 each for the default 4 chains).
    #[arg(long)]
    pub shards: Option<u16>,
    /// Dispatcher workers per destination.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Messages per attested batch.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
    /// Use this Redis instead of starting one.
    #[arg(long)]
    pub redis: Option<String>,
    /// Offer this many messages/s (all origins together) instead of an
    /// unbounded load: latency at a given rate.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Where attested batches go: `null` (checked in process, counted
    /// once) or `anvil` (a real chain: Inbox and recipient per
    /// destination; reports gas_per_message).
    #[arg(long, value_enum, default_value_t = SinkKind::Null)]
    pub sink: SinkKind,
    /// A few seconds of correctness checking (CI): exit 1 unless
    /// messages were delivered, none twice.
    #[arg(long)]
    pub smoke: bool,
    /// Hub processes sharing one Redis or cluster (origins split between
    /// them, every destination's lane shards leased among them). Each
    /// keeps every nonce its sinks delivered; at the end the parts'
    /// bitmaps are merged, so a message delivered by two processes counts
    /// as a duplicate, with nothing shared while the run measures.
    #[arg(
        long,
        default_value_t = 1,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
    )]
    pub processes: usize,
    /// Keep the sink's nonce bitmap in Redis, one SETBIT per message
    /// (what multi-process runs did before their bitmaps were merged
    /// afterwards; measures that cost).
    #[arg(long)]
    pub shared_sink: bool,
    /// A Redis Cluster started here (the bench reports every node's CPU).
    #[command(flatten)]
    pub cluster: ClusterFlags,
    /// Use this Redis Cluster (seed node URLs, comma separated) instead
    /// of starting one.
    #[arg(
        long,
        value_name = "URLS",
        value_delimiter = ',',
        conflicts_with_all = ["redis", "redis_cluster"]
    )]
    pub redis_cluster_nodes: Vec<String>,
    /// Internal: where a part writes the nonces it delivered.
    #[arg(long, hide = true)]
    pub ledger_out: Option<PathBuf>,
    /// Internal: this process is part I of N (`I/N`) of a
    /// `--processes N` run.
    #[arg(long, hide = true)]
    pub part: Option<String>,
    /// Internal: the key prefix shared by the parts of a run.
    #[arg(long, hide = true)]
    pub prefix: Option<String>,
    /// Run the status journal as the hub does by default (every
    /// message's stages written to Redis for the status API).
    #[arg(long)]
    pub status_journal: bool,
    /// Independent attesters, each an attester hub of its own (reading the
    /// generated chains with its own light clients and store) reached over
    /// HTTP; 0: the hub signs alone.
    #[arg(long, default_value_t = 0)]
    pub attesters: usize,
    /// Signatures the destinations want from the attesters (default: a
    /// majority).
    #[arg(long, requires = "attesters")]
    pub threshold: Option<usize>,
}

/// Runs `switchyard bench`.
pub async fn bench(args: BenchCli) -> anyhow::Result<ExitCode> {
    let BenchCli {
        seconds,
        warmup,
        routes,
        body_size,
        shards,
        workers,
        batch_size,
        redis,
        rate,
        sink,
        smoke,
        processes,
        shared_sink,
        part,
        prefix,
        status_journal,
        attesters,
        threshold,
        cluster:
            ClusterFlags {
                redis_cluster,
                cluster_replicas,
                wait_replicas,
            },
        redis_cluster_nodes,
        ledger_out,
    } = args;
    if sink == SinkKind::Anvil && (processes > 1 || shared_sink) {
        return Err(InputError::new(
            "--processes/--shared-sink",
            "--sink null (they apply to the null sink only)",
            "anvil",
        )
        .into());
    }
    init_tracing(LogFormat::Text, "warn");
    let shutdown = CancellationToken::new();
    on_signals(shutdown.clone());
    let (seconds, warmup) = if smoke { (3, 1) } else { (seconds, warmup) };
    let args = crate::tools::bench::BenchArgs {
        seconds,
        warmup,
        routes,
        body_size,
        shards,
        workers,
        batch: batch_size,
        redis,
        rate,
        sink,
        processes,
        shared_sink,
        part: part
            .map(|p| crate::tools::bench::parse_part(&p))
            .transpose()?,
        prefix,
        status_journal,
        attesters,
        threshold: threshold.unwrap_or(attesters / 2 + 1),
        redis_cluster,
        cluster_replicas,
        cluster_nodes: redis_cluster_nodes,
        wait_replicas,
        ledger_out,
        ..crate::tools::bench::BenchArgs::default()
    };
    let report = crate::tools::bench::run(args, shutdown).await?;
    println!("{}", serde_json::to_string(&report)?);
    let ok = report.delivered > 0 && report.duplicates == 0 && report.too_old == 0;
    Ok(if !smoke || ok {
        ExitCode::SUCCESS
    } else {
        Exit::No.into()
    })
}

/// `--log-level`: the levels of `tracing`, and off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogLevel {
    /// Nothing.
    Off,
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// What the hub does, in outline.
    Info,
    /// In detail.
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    /// The `tracing` filter of this level.
    pub fn filter(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
            Self::Trace => "trace",
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct DevnetCli {
    /// Number of anvil chains to start.
    #[arg(long, default_value_t = 2)]
    pub chains: usize,
    /// Messages per route (origin, destination); 0 = steady traffic until Ctrl-C.
    #[arg(long, default_value_t = 1000)]
    pub messages: u64,
    /// Use these chains (comma-separated RPC URLs) instead of starting anvil.
    #[arg(long, value_delimiter = ',')]
    pub rpc: Vec<String>,
    /// Use this Redis (redis://host:port) instead of starting one.
    #[arg(long)]
    pub redis: Option<String>,
    /// anvil block time, seconds.
    #[arg(
        long = "block-time-secs",
        alias = "block-time",
        value_name = "SECS",
        default_value_t = 0.2
    )]
    pub block_time: f64,
    /// Message body size, bytes.
    #[arg(long, default_value_t = 64)]
    pub body_size: usize,
    /// Steady mode: messages per route per second.
    #[arg(long, default_value_t = 50)]
    pub rate: u64,
    /// Give up after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub timeout_secs: u64,
    /// Hub HTTP listen address (port 0 = any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub http: SocketAddr,
    /// Header-chain confirmation depth.
    #[arg(long, default_value_t = 2)]
    pub confirmations: u64,
    /// Log level of the hub inside the devnet.
    #[arg(long, value_enum, default_value_t = LogLevel::Warn)]
    pub log_level: LogLevel,
    /// Send no traffic: deploy, start the hub and keep everything up
    /// until Ctrl-C, for your own contracts and messages.
    #[arg(long)]
    pub serve: bool,
    /// With --serve: write the chains' RPC URLs, contract addresses, the
    /// hub URL and a funded integrator key to this JSON file.
    #[arg(long, requires = "serve")]
    pub info: Option<PathBuf>,
    /// Independent attesters, each its own `switchyard run --role
    /// attester` process with its own key, Redis database and light
    /// clients (0: the hub signs alone). At most 5.
    #[arg(long, default_value_t = 0)]
    pub attesters: usize,
    /// Signatures each Inbox wants from the attesters (default: a
    /// majority of them).
    #[arg(long, requires = "attesters")]
    pub threshold: Option<usize>,
    /// Most messages in one delivery transaction.
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(1..=2000))]
    pub batch_size: u64,
    /// A Redis Cluster for the devnet's hub.
    #[command(flatten)]
    pub cluster: ClusterFlags,
}

/// `--redis-cluster`, `--cluster-replicas`, `--wait-replicas`: a Redis
/// Cluster on loopback for `bench` and `devnet`, and the hubs' wait on it.
#[derive(clap::Args, Debug)]
pub struct ClusterFlags {
    /// Start a Redis Cluster of N masters (at least 3) on loopback instead
    /// of one redis-server.
    #[arg(long, value_name = "N", conflicts_with = "redis")]
    pub redis_cluster: Option<usize>,
    /// Replicas per master of the `--redis-cluster` cluster.
    #[arg(
        long,
        value_name = "R",
        default_value_t = 0,
        requires = "redis_cluster"
    )]
    pub cluster_replicas: usize,
    /// The hubs' `redis.wait_replicas`: every lane append waits until this
    /// many replicas hold it (at most --cluster-replicas, or what a given
    /// cluster has); measures the setting's cost.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub wait_replicas: u32,
}

/// Runs `switchyard devnet`.
pub async fn devnet(args: DevnetCli) -> anyhow::Result<ExitCode> {
    let DevnetCli {
        chains,
        messages,
        rpc,
        redis,
        block_time,
        body_size,
        rate,
        timeout_secs,
        http,
        confirmations,
        log_level,
        serve,
        info,
        attesters,
        threshold,
        batch_size,
        cluster:
            ClusterFlags {
                redis_cluster,
                cluster_replicas,
                wait_replicas,
            },
    } = args;
    init_tracing(LogFormat::Text, log_level.filter());
    if body_size > 16 * 1024 {
        return Err(InputError::new("--body-size", "at most 16384", &body_size.to_string()).into());
    }
    let shutdown = CancellationToken::new();
    on_signals(shutdown.clone());
    let args = DevnetArgs {
        chains,
        messages,
        rpc,
        redis,
        block_time,
        body_size: body_size.max(32),
        rate: rate.max(1),
        timeout: Duration::from_secs(timeout_secs),
        http,
        confirmations,
        serve,
        info,
        attesters,
        threshold: threshold.unwrap_or(attesters / 2 + 1),
        batch_size: batch_size as usize,
        redis_cluster,
        cluster_replicas,
        wait_replicas,
        ..DevnetArgs::default()
    };
    let report = devnet::run(args, shutdown).await?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        Exit::No.into()
    })
}
