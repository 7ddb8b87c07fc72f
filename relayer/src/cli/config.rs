//! `switchyard config`: a configuration checked as the hub would load it,
//! and the JSON schema of the configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::exit::Exit;
use crate::config::{Config, schema};

#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Validate a configuration file (with environment overrides): exit 0
    /// valid, 3 invalid (the message names the key).
    Check {
        /// TOML file.
        #[arg(env = "SWITCHYARD_CONFIG")]
        file: PathBuf,
    },
    /// Print the JSON schema (draft-07) of the configuration, generated
    /// from the hub's own types: for an editor's TOML support (taplo, Even
    /// Better TOML). What a schema cannot say (unique names, a quorum
    /// within the endpoints) only `config check` checks.
    Schema,
}

/// Runs `switchyard config`.
pub fn command(cmd: ConfigCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ConfigCmd::Check { file } => Ok(check(&file)),
        ConfigCmd::Schema => {
            println!("{}", serde_json::to_string_pretty(&schema::hub())?);
            Ok(Exit::Ok.into())
        }
    }
}

fn check(file: &std::path::Path) -> ExitCode {
    match Config::load(file) {
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
            Exit::Ok.into()
        }
        Err(e) => {
            eprintln!("invalid: {e}");
            Exit::Config.into()
        }
    }
}
