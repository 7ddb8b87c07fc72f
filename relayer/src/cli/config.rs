//! `switchyard config`: a configuration checked as the hub would load it,
//! and the JSON schema of the configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::exit::Exit;
use crate::config::{Config, check, schema};

#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Check a configuration file (with environment overrides) as a start
    /// would meet it: every key and value, every secret reference read
    /// (never printed), a checkpoint or trusted root for every origin's
    /// first start, no placeholder hashes; warnings for weaker trust than a
    /// chain allows. Exit 0 when it would start (warnings printed), 3 when
    /// not (each finding names its key, what was expected and what was
    /// found); 2 is a wrong command line only.
    Check {
        /// TOML file.
        #[arg(env = "SWITCHYARD_CONFIG")]
        file: PathBuf,
        /// Do not read the key secrets (attester, queue, admin and
        /// submitter keys): for a configuration checked where they are not
        /// mounted, such as a chart rendered in CI. Endpoint URLs given by
        /// reference are still read.
        #[arg(long)]
        skip_secrets: bool,
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
        ConfigCmd::Check { file, skip_secrets } => Ok(check(&file, !skip_secrets)),
        ConfigCmd::Schema => {
            println!("{}", serde_json::to_string_pretty(&schema::hub())?);
            Ok(Exit::Ok.into())
        }
    }
}

fn check(file: &std::path::Path, read_secrets: bool) -> ExitCode {
    let (c, loaded) = match Config::load_resolved(file) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {}: {}", e.path, e.reason);
            eprintln!("invalid: the configuration cannot be loaded");
            return Exit::Config.into();
        }
    };
    let mut report = check::check(&c, read_secrets);
    report.warnings.splice(0..0, loaded.warnings);
    for r in &loaded.refs {
        println!("resolved: {} from {}", r.path, r.source);
    }
    for r in &report.resolved {
        println!("resolved: {r}");
    }
    for w in &report.warnings {
        eprintln!("warning: {}: {}", w.path, w.reason);
    }
    for e in &report.errors {
        eprintln!("error: {}: {}", e.path, e.reason);
    }
    let origins = if c.cometbft_origins.is_empty() {
        String::new()
    } else {
        format!(", {} CometBFT origins", c.cometbft_origins.len())
    };
    if report.errors.is_empty() {
        println!(
            "ok: {} chains{origins}, {} warnings",
            c.chains.len(),
            report.warnings.len()
        );
        Exit::Ok.into()
    } else {
        eprintln!(
            "invalid: {} errors, {} warnings",
            report.errors.len(),
            report.warnings.len()
        );
        Exit::Config.into()
    }
}
