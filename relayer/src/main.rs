//! The `switchyard` binary: parse arguments, load config, init tracing, call
//! into the library, map the outcome to an exit code.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use switchyard::admin::Admin;
use switchyard::config::{Config, LogFormat};
use switchyard::devnet::{self, DevnetArgs};
use switchyard::hub::Hub;
use switchyard::store::{QueueKey, RedisTarget, Store};
use tokio_util::sync::CancellationToken;

/// mimalloc rather than glibc malloc: per-message buffers are allocated on
/// one runtime thread and freed on another, which glibc's arenas handle
/// poorly (measured: about 15% of the pipeline's CPU in malloc and free,
/// and a resident size that creeps over long runs).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "switchyard",
    version,
    about = "Switchyard: a cross-chain message hub verified by light clients"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the hub with a configuration file.
    Run {
        /// TOML configuration (environment overrides: SWITCHYARD__SECTION__KEY).
        #[arg(long, short)]
        config: PathBuf,
        /// What this process runs (overrides the file's `role`): `all`,
        /// `watcher` (origin light clients into the lanes) or `dispatcher`
        /// (lanes to destination chains).
        #[arg(long, env = "SWITCHYARD_ROLE")]
        role: Option<switchyard::config::Role>,
    },
    /// Dead letters of a destination: list, show, replay, drop.
    Dlq {
        /// TOML configuration of the hub (for Redis, the queue key, chains).
        #[arg(long, short)]
        config: PathBuf,
        #[command(subcommand)]
        cmd: DlqCmd,
    },
    /// Throughput benchmark: generated origin evidence verified by the light
    /// client, routed through Redis lanes, attested and checked by a null
    /// sink. Progress every second; a JSON summary as the last line.
    Bench {
        /// Measured seconds after warm-up.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Warm-up seconds.
        #[arg(long, default_value_t = 5)]
        warmup: u64,
        /// Routes (ordered origin → destination pairs; 12 = 4 chains).
        #[arg(long, default_value_t = 12)]
        routes: usize,
        /// Message body size in bytes.
        #[arg(long, default_value_t = 128)]
        body_size: usize,
        /// Lane shards per destination (default: 16 lanes in all, at least
        /// one a destination: 4 each for the default 4 chains).
        #[arg(long)]
        shards: Option<u16>,
        /// Dispatcher workers per destination.
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Messages per attested batch.
        #[arg(long, default_value_t = 1000)]
        batch_size: usize,
        /// Use this Redis instead of starting one.
        #[arg(long)]
        redis: Option<String>,
        /// Offer this many messages/s (all origins together) instead of an
        /// unbounded load: latency at a given rate.
        #[arg(long)]
        rate: Option<f64>,
        /// Where attested batches go: `null` (checked in process, counted
        /// once) or `anvil` (a real chain: Inbox and recipient per
        /// destination; reports gas_per_message).
        #[arg(long, default_value = "null")]
        sink: switchyard::bench::SinkKind,
        /// A few seconds of correctness checking (CI): exit 1 unless
        /// messages were delivered, none twice.
        #[arg(long)]
        smoke: bool,
        /// Hub processes sharing one Redis (origins split between them,
        /// every destination's lane shards leased among them); their
        /// sinks share one nonce bitmap in Redis, so a message delivered by
        /// two processes counts as a duplicate.
        #[arg(long, default_value_t = 1)]
        processes: usize,
        /// Keep the sink's nonce bitmap in Redis even with one process
        /// (the baseline to compare `--processes 2` with).
        #[arg(long)]
        shared_sink: bool,
        /// Internal: this process is part I of N (`I/N`) of a
        /// `--processes N` run.
        #[arg(long, hide = true)]
        part: Option<String>,
        /// Internal: the key prefix shared by the parts of a run.
        #[arg(long, hide = true)]
        prefix: Option<String>,
        /// Run the status journal as the hub does by default (every
        /// message's stages written to Redis for the status API).
        #[arg(long)]
        status_journal: bool,
    },
    /// Where a message is: its stages with their times, origin block and
    /// transaction, destination transaction, any failure (from a hub's
    /// status API). By message id, or every message of a transaction
    /// (--tx). Exit status: 0 found (with --wait: delivered), 1 failed or
    /// dead-lettered, 2 unknown to the hub, 3 --wait ran out, 4 the hub
    /// could not be asked (unreachable, or a malformed id).
    Status {
        /// Message id (0x and 64 hex digits).
        #[arg(required_unless_present = "tx", conflicts_with = "tx")]
        id: Option<String>,
        /// The messages of this origin (dispatch) or destination (delivery)
        /// transaction instead.
        #[arg(long)]
        tx: Option<String>,
        /// The hub's HTTP address.
        #[arg(long, env = "SWITCHYARD_HUB", default_value = "http://127.0.0.1:9464")]
        hub: String,
        /// Wait up to this many seconds for the message to be delivered (or
        /// to fail).
        #[arg(long)]
        wait: Option<u64>,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Light-client tools for operators.
    Lc {
        #[command(subcommand)]
        cmd: LcCmd,
    },
    /// Check a configuration file and exit (0 valid, 2 invalid).
    Config {
        #[command(subcommand)]
        cmd: ConfigCmd,
    },
    /// Start local anvil chains and Redis, deploy, run the hub, send traffic,
    /// check every delivery; print a JSON summary as the last line.
    Devnet {
        /// Number of anvil chains to start.
        #[arg(long, default_value_t = 2)]
        chains: usize,
        /// Messages per route (origin, destination); 0 = steady traffic until Ctrl-C.
        #[arg(long, default_value_t = 1000)]
        messages: u64,
        /// Use these chains (comma-separated RPC URLs) instead of starting anvil.
        #[arg(long, value_delimiter = ',')]
        rpc: Vec<String>,
        /// Use this Redis (redis://host:port) instead of starting one.
        #[arg(long)]
        redis: Option<String>,
        /// anvil block time, seconds.
        #[arg(long, default_value_t = 0.2)]
        block_time: f64,
        /// Message body size, bytes.
        #[arg(long, default_value_t = 64)]
        body_size: usize,
        /// Steady mode: messages per route per second.
        #[arg(long, default_value_t = 50)]
        rate: u64,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout_secs: u64,
        /// Hub HTTP listen address (port 0 = any free port).
        #[arg(long, default_value = "127.0.0.1:0")]
        http: SocketAddr,
        /// Header-chain confirmation depth.
        #[arg(long, default_value_t = 2)]
        confirmations: u64,
        /// Log level of the hub inside the devnet.
        #[arg(long, default_value = "warn")]
        log_level: String,
        /// Send no traffic: deploy, start the hub and keep everything up
        /// until Ctrl-C, for your own contracts and messages.
        #[arg(long)]
        serve: bool,
        /// With --serve: write the chains' RPC URLs, contract addresses, the
        /// hub URL and a funded integrator key to this JSON file.
        #[arg(long, requires = "serve")]
        info: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum DlqCmd {
    /// List dead letters of destination CHAIN (one JSON object per line).
    List {
        /// Destination chain name.
        chain: String,
    },
    /// Show one dead letter (REF = shard/id from `list`) with its messages.
    Show {
        /// Destination chain name.
        chain: String,
        /// Reference from `list`.
        reference: String,
    },
    /// Put a dead letter back into its lane.
    Replay {
        /// Destination chain name.
        chain: String,
        /// Reference from `list`.
        reference: String,
    },
    /// Delete a dead letter.
    Drop {
        /// Destination chain name.
        chain: String,
        /// Reference from `list`.
        reference: String,
    },
}

#[derive(Subcommand, Debug)]
enum LcCmd {
    /// Verify light-client data as the hub's light client would; one JSON
    /// line per object; exit 1 if any object is invalid.
    Verify {
        #[command(subcommand)]
        chain: LcChain,
    },
}

#[derive(Subcommand, Debug)]
enum LcChain {
    /// Ethereum beacon chain (sync committees), from the beacon API's JSON
    /// or SSZ responses, or a consensus-spec-tests case folder.
    Ethereum {
        /// Network whose fork schedule and genesis validators root apply.
        #[arg(long, default_value = "mainnet")]
        network: String,
        /// Block root of the bootstrap you trust (weak subjectivity).
        #[arg(long, required_unless_present = "case")]
        trusted_root: Option<alloy_primitives::B256>,
        /// `light_client/bootstrap` response (JSON, or SSZ).
        #[arg(long, required_unless_present = "case")]
        bootstrap: Option<PathBuf>,
        /// Update files in order: `light_client/updates` arrays, update,
        /// finality-update or optimistic-update envelopes (JSON); the
        /// `light_client/updates` chunk stream, a finality or optimistic
        /// update (SSZ).
        #[arg(long, num_args = 1..)]
        updates: Vec<PathBuf>,
        /// Current slot (default: from the clock).
        #[arg(long)]
        current_slot: Option<u64>,
        /// A consensus-spec-tests `light_client/sync` case folder
        /// (meta.yaml, config.yaml, steps.yaml, SSZ-snappy objects): its own
        /// network, trusted root and clock; one line per step.
        #[arg(long, conflicts_with_all = ["trusted_root", "bootstrap", "updates", "current_slot"])]
        case: Option<PathBuf>,
    },
    /// A CometBFT chain: skipping verification from a trusted block
    /// (tendermint-light-client-verifier), one JSON line per step; exit 1
    /// if a step is INVALID.
    Cometbft(CometCli),
}

#[derive(clap::Args, Debug)]
struct CometCli {
    /// The block you trust: tendermint-rs LightBlock JSON, or an RPC bundle
    /// `{"commit": <'/commit' result>, "validators": <'/validators' result>}`.
    #[arg(long)]
    trusted: PathBuf,
    /// Blocks to verify in order (each file one block, in either form, or
    /// a JSON array of them).
    #[arg(long, num_args = 1.., required = true)]
    untrusted: Vec<PathBuf>,
    /// The clock: RFC 3339 or Unix seconds (default: now).
    #[arg(long)]
    now: Option<String>,
    /// Trusting period, seconds (below the chain's unbonding period).
    #[arg(long, default_value_t = 1_209_600)]
    trusting_period: u64,
    /// Trust threshold `n/d` (1/3 ≤ n/d ≤ 1).
    #[arg(long, default_value = "1/3")]
    trust_threshold: String,
    /// Allowed clock drift, seconds.
    #[arg(long, default_value_t = 5)]
    clock_drift: u64,
    /// Verify the highest block by skipping with bisection, pivots taken
    /// from the given blocks.
    #[arg(long)]
    bisect: bool,
}

#[derive(Subcommand, Debug)]
enum ConfigCmd {
    /// Validate a configuration file (with environment overrides).
    Check {
        /// TOML file.
        file: PathBuf,
    },
}

/// Log targets kept quiet whatever the level: alloy's HTTP transport puts
/// the whole endpoint URL (API keys in its path, query or user info) in a
/// span field at debug level. The hub's own logs name endpoints redacted.
const SECRET_BEARING_TARGETS: &str = "alloy_transport_http=off";

fn init_tracing(format: LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let filter = filter.add_directive(
        SECRET_BEARING_TARGETS
            .parse()
            .expect("a static directive that parses"),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Cancels `token` on SIGINT or SIGTERM.
fn on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(err = %e, "cannot install SIGTERM handler");
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("signal received, shutting down");
        token.cancel();
    });
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(real_main(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn real_main(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.cmd {
        Cmd::Status {
            id,
            tx,
            hub,
            wait,
            json,
        } => {
            use switchyard::status_cli::Lookup;
            let query = match (id, tx) {
                (Some(id), _) => Lookup::Id(id),
                (None, Some(tx)) => Lookup::Tx(tx),
                // clap requires one of them.
                (None, None) => anyhow::bail!("give a message id or --tx"),
            };
            let args = switchyard::status_cli::StatusArgs {
                hub,
                query,
                wait: wait.map(std::time::Duration::from_secs),
                json,
            };
            match switchyard::status_cli::run(&args, &mut std::io::stdout().lock()).await {
                Ok(code) => Ok(ExitCode::from(code)),
                Err(e) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::from(switchyard::status_cli::EXIT_ERROR))
                }
            }
        }
        Cmd::Lc {
            cmd:
                LcCmd::Verify {
                    chain:
                        LcChain::Ethereum {
                            network,
                            trusted_root,
                            bootstrap,
                            updates,
                            current_slot,
                            case,
                        },
                },
        } => {
            let out = &mut std::io::stdout().lock();
            let all_valid = match (case, trusted_root, bootstrap) {
                (Some(dir), _, _) => switchyard::lc_cli::verify_case(&dir, out),
                (None, Some(trusted_root), Some(bootstrap)) => {
                    let args = switchyard::lc_cli::VerifyArgs {
                        network,
                        trusted_root,
                        bootstrap,
                        updates,
                        current_slot,
                    };
                    switchyard::lc_cli::verify_ethereum(&args, out)
                }
                // clap requires both unless --case is given.
                _ => Err("--trusted-root and --bootstrap are required without --case".into()),
            }
            .map_err(anyhow::Error::msg)?;
            Ok(if all_valid {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::Lc {
            cmd: LcCmd::Verify {
                chain: LcChain::Cometbft(c),
            },
        } => {
            let args = switchyard::lc_cli::CometArgs {
                trusted: c.trusted,
                untrusted: c.untrusted,
                now: c.now,
                trusting_period_secs: c.trusting_period,
                trust_threshold: c.trust_threshold,
                clock_drift_secs: c.clock_drift,
                bisect: c.bisect,
            };
            let ok = switchyard::lc_cli::verify_cometbft(&args, &mut std::io::stdout().lock())
                .map_err(anyhow::Error::msg)?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::Config {
            cmd: ConfigCmd::Check { file },
        } => match Config::load(&file) {
            Ok(c) => {
                if c.cometbft_origins.is_empty() {
                    println!("ok: {} chains", c.chains.len());
                } else {
                    println!(
                        "ok: {} chains, {} CometBFT origins",
                        c.chains.len(),
                        c.cometbft_origins.len()
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("invalid: {e}");
                Ok(ExitCode::from(2))
            }
        },
        Cmd::Dlq { config, cmd } => {
            let cfg =
                Config::load(&config).with_context(|| format!("loading {}", config.display()))?;
            let key = QueueKey::from_secret(cfg.queue_key.resolve("queue_key")?.expose())?;
            let target = if cfg.redis.cluster_nodes.is_empty() {
                RedisTarget::Single(cfg.redis.url.clone())
            } else {
                RedisTarget::Cluster(cfg.redis.cluster_nodes.clone())
            };
            let store = Store::connect_with(&target, &cfg.redis.key_prefix, key, &cfg.tls.redis()?)
                .await
                .context("connecting to Redis")?;
            let admin = Admin::new(store.dead_letters(), &cfg);
            match cmd {
                DlqCmd::List { chain } => {
                    for d in admin.list(&chain).await? {
                        println!("{}", serde_json::to_string(&d)?);
                    }
                }
                DlqCmd::Show { chain, reference } => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&admin.show(&chain, &reference).await?)?
                    );
                }
                DlqCmd::Replay { chain, reference } => {
                    let id = admin.replay(&chain, &reference).await?;
                    println!("replayed {reference} as lane entry {id}");
                }
                DlqCmd::Drop { chain, reference } => {
                    admin.drop(&chain, &reference).await?;
                    println!("dropped {reference}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Bench {
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
        } => {
            init_tracing(LogFormat::Text, "warn");
            let shutdown = CancellationToken::new();
            on_signals(shutdown.clone());
            let (seconds, warmup) = if smoke { (3, 1) } else { (seconds, warmup) };
            let args = switchyard::bench::BenchArgs {
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
                    .map(|p| switchyard::bench::parse_part(&p))
                    .transpose()
                    .map_err(anyhow::Error::msg)?,
                prefix,
                status_journal,
                ..switchyard::bench::BenchArgs::default()
            };
            let report = switchyard::bench::run(args, shutdown).await?;
            println!("{}", serde_json::to_string(&report)?);
            let ok = report.delivered > 0 && report.duplicates == 0 && report.too_old == 0;
            Ok(if !smoke || ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::Run { config, role } => {
            let mut cfg =
                Config::load(&config).with_context(|| format!("loading {}", config.display()))?;
            if let Some(role) = role {
                cfg.role = role;
            }
            init_tracing(cfg.log.format, &cfg.log.level);
            let shutdown = CancellationToken::new();
            on_signals(shutdown.clone());
            let hub = Hub::start(cfg, shutdown.clone())
                .await
                .context("starting the hub")?;
            shutdown.cancelled().await;
            hub.join().await;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Devnet {
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
        } => {
            init_tracing(LogFormat::Text, &log_level);
            if body_size > 16 * 1024 {
                anyhow::bail!("--body-size: expected at most 16384, got {body_size}");
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
                ..DevnetArgs::default()
            };
            let report = devnet::run(args, shutdown).await?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
