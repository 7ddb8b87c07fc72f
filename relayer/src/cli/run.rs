//! `switchyard run`: the hub itself, until SIGINT or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::{init_tracing, on_signals};
use crate::config::Config;
use crate::hub::Hub;

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// TOML configuration (environment overrides: SWITCHYARD__SECTION__KEY).
    #[arg(long, short, env = "SWITCHYARD_CONFIG")]
    pub config: PathBuf,
    /// What this process runs (overrides the file's `role`): `all`,
    /// `watcher` (origin light clients into the lanes), `dispatcher`
    /// (lanes to destination chains) or `attester` (an independent
    /// attester: its own light clients, its own store, `POST /v1/attest`).
    #[arg(long, env = "SWITCHYARD_ROLE")]
    pub role: Option<crate::config::Role>,
}

/// Runs `switchyard run`.
pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let RunArgs { config, role } = args;
    let mut cfg = Config::load(&config).with_context(|| format!("loading {}", config.display()))?;
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
