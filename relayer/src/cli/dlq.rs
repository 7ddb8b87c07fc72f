//! `switchyard dlq`: an operator's dead letters (list, show, replay, drop),
//! straight against Redis.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use crate::admin::Admin;
use crate::config::Config;
use crate::store::{RedisTarget, Store};

#[derive(clap::Args, Debug)]
pub struct DlqArgs {
    /// TOML configuration of the hub (for Redis, the queue key, chains).
    #[arg(long, short, env = "SWITCHYARD_CONFIG")]
    pub config: PathBuf,
    #[command(subcommand)]
    pub cmd: DlqCmd,
}

#[derive(Subcommand, Debug)]
pub enum DlqCmd {
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

/// Runs `switchyard dlq`.
pub async fn run(args: DlqArgs) -> anyhow::Result<ExitCode> {
    let DlqArgs { config, cmd } = args;
    let cfg = Config::load(&config).with_context(|| format!("loading {}", config.display()))?;
    let key = crate::hub::queue_key_ring(&cfg)?;
    let target = if cfg.redis.cluster_nodes.is_empty() {
        RedisTarget::Single(cfg.redis.url.clone())
    } else {
        RedisTarget::Cluster(cfg.redis.cluster_nodes.clone())
    };
    let store = Store::connect_with(&target, &cfg.redis.key_prefix, key, &cfg.tls.redis()?)
        .await
        .context("connecting to Redis")?;
    // A store of another format would be misread (exit 8).
    store.require_format().await?;
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
