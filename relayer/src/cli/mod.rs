//! The command line: `main.rs` parses and calls [`main`]; each command
//! lives in its own module here, the hub's ([`run`], [`dlq`], [`status`],
//! [`lc`], [`config`]) apart from the dev tools' ([`tools`]: `bench`,
//! `devnet`, with the `devtools` feature). [`exit`] gives every command's
//! exit code one meaning.
//!
//! Conventions: fixed sets of values are `clap::ValueEnum`s (refused by
//! clap with the accepted values listed); durations are whole seconds
//! named `--*-secs` (the older spellings stay as hidden aliases);
//! `--config` also comes from `SWITCHYARD_CONFIG`.
//!
//! May import anything of the library; nothing imports it.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::LogFormat;

pub mod config;
pub mod contracts;
pub mod dlq;
pub mod exit;
pub mod lc;
pub mod run;
pub mod status;
#[cfg(feature = "devtools")]
pub mod tools;

/// The `switchyard` command line.
#[derive(Parser, Debug)]
#[command(
    name = "switchyard",
    version,
    about = "Switchyard: a cross-chain message hub verified by light clients",
    after_help = exit::HELP
)]
pub struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the hub with a configuration file.
    Run(run::RunArgs),
    /// Dead letters of a destination: list, show, replay, drop.
    Dlq(dlq::DlqArgs),
    /// Throughput benchmark: generated origin evidence verified by the light
    /// client, routed through Redis lanes, attested and checked by a null
    /// sink. Progress every second; a JSON summary as the last line.
    #[cfg(feature = "devtools")]
    Bench(tools::BenchCli),
    /// Where a message is: its stages with their times, origin block and
    /// transaction, destination transaction, any failure (from a hub's
    /// status API). By message id, or every message of a transaction
    /// (--tx). Exit status: 0 found (with --wait-secs: delivered), 1 failed
    /// or dead-lettered, 2 a malformed id, 4 the hub could not be asked, 5
    /// unknown to the hub, 6 --wait-secs ran out.
    Status(status::StatusCli),
    /// Light-client tools for operators.
    Lc {
        #[command(subcommand)]
        cmd: lc::LcCmd,
    },
    /// Check a configuration file (exit 0 valid, 3 invalid), or print its
    /// JSON schema.
    Config {
        #[command(subcommand)]
        cmd: config::ConfigCmd,
    },
    /// Deploy a chain's Mailbox and Inbox from its configuration entry, or
    /// change an Inbox's attesters; each step confirmed and read back.
    Contracts {
        #[command(subcommand)]
        cmd: contracts::ContractsCmd,
    },
    /// The configured keys: their addresses (never the keys).
    Keys {
        #[command(subcommand)]
        cmd: contracts::KeysCmd,
    },
    /// Start local anvil chains and Redis, deploy, run the hub, send traffic,
    /// check every delivery; print a JSON summary as the last line.
    #[cfg(feature = "devtools")]
    Devnet(tools::DevnetCli),
}

/// Log targets kept quiet whatever the level: alloy's HTTP transport puts
/// the whole endpoint URL (API keys in its path, query or user info) in a
/// span field at debug level. The hub's own logs name endpoints redacted.
const SECRET_BEARING_TARGETS: &str = "alloy_transport_http=off";

pub(crate) fn init_tracing(format: LogFormat, level: &str) {
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
pub(crate) fn on_signals(token: CancellationToken) {
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

/// Parses the command line, runs the command on a multi-threaded runtime
/// and maps its outcome to the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::Exit::Error.into();
        }
    };
    match runtime.block_on(command(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::Exit::of(&e).into()
        }
    }
}

async fn command(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.cmd {
        Cmd::Run(args) => run::run(args).await,
        Cmd::Dlq(args) => dlq::run(args).await,
        #[cfg(feature = "devtools")]
        Cmd::Bench(args) => tools::bench(args).await,
        Cmd::Status(args) => status::command(args).await,
        Cmd::Lc { cmd } => lc::command(cmd),
        Cmd::Config { cmd } => config::command(cmd),
        Cmd::Contracts { cmd } => contracts::contracts(cmd).await,
        Cmd::Keys { cmd } => contracts::keys(cmd),
        #[cfg(feature = "devtools")]
        Cmd::Devnet(args) => tools::devnet(args).await,
    }
}
