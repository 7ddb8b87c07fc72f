//! `switchyard config check`: a configuration checked as the hub would load
//! it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Validate a configuration file (with environment overrides).
    Check {
        /// TOML file.
        file: PathBuf,
    },
}

/// Runs `switchyard config`.
pub fn command(cmd: ConfigCmd) -> ExitCode {
    let ConfigCmd::Check { file } = cmd;
    match Config::load(&file) {
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
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("invalid: {e}");
            ExitCode::from(2)
        }
    }
}
