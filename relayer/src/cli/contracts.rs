//! `switchyard contracts`: deploy a chain's Mailbox and Inbox from its
//! configuration entry, and change an Inbox's attesters later; and
//! `switchyard keys address`: the addresses of the configured keys.
//!
//! The deployer's key comes by reference (`--key-env VAR` or `--key-file
//! PATH`), is never printed, and never needs to be in the hub's
//! configuration. Every transaction waits for its confirmations, and what
//! it did is read back (code and settings) before the command says done.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use switchyard_evm::deploy::{self, Admin, InboxSettings, SendPolicy};
use switchyard_evm::rpc::{RpcPolicy, RpcPool};
use switchyard_evm::transport::HttpOptions;
use switchyard_evm::{Address, EvmError};

use super::exit::Exit;
use crate::config::{ChainConfig, Config, ConfigError, SecretRef};
use crate::input::InputError;

/// Where the contracts' artifacts are when `--artifacts` is not given:
/// `$SWITCHYARD_ROOT/adapters/contracts/out`, else the source checkout's.
fn default_artifacts() -> PathBuf {
    let root = std::env::var_os("SWITCHYARD_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    root.join(switchyard_evm::bindings::ARTIFACTS_DIR)
}

/// Errors of `switchyard contracts` its exit code depends on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContractsCliError {
    /// The configuration names contracts that exist: not redeployed.
    #[error(
        "chain {chain}: the configuration names contracts that exist on chain ({found}); \
         not redeploying (pass --force to deploy new ones)"
    )]
    Exists {
        /// Chain name.
        chain: String,
        /// What has code where.
        found: String,
    },
    /// A chain the configuration does not have.
    #[error("chain {got:?} is not in the configuration (expected one of: {expected})")]
    UnknownChain {
        /// Name given.
        got: String,
        /// Names configured.
        expected: String,
    },
}

#[derive(Args, Debug)]
pub struct Target {
    /// TOML configuration of the hub (the chain's endpoints, chain id,
    /// domain and contracts).
    #[arg(long, short, env = "SWITCHYARD_CONFIG")]
    config: PathBuf,
    /// The chain's name in the configuration.
    #[arg(long)]
    chain: String,
    /// Environment variable holding the deployer's (owner's) private key.
    #[arg(
        long,
        value_name = "VAR",
        conflicts_with = "key_file",
        required_unless_present = "key_file"
    )]
    key_env: Option<String>,
    /// File holding the deployer's (owner's) private key.
    #[arg(long, value_name = "PATH")]
    key_file: Option<PathBuf>,
    /// Blocks a transaction's block must have, itself included, before the
    /// next step.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=1000))]
    confirmations: u64,
    /// Longest wait for one transaction, in seconds.
    #[arg(long, default_value_t = 600)]
    wait_secs: u64,
}

#[derive(Subcommand, Debug)]
pub enum ContractsCmd {
    /// Deploy the chain's Mailbox and Inbox, check their code and the
    /// Inbox's settings on chain, and print the addresses as configuration.
    /// Refuses (exit 1) when the configuration already names contracts that
    /// exist there, unless --force.
    Deploy {
        #[command(flatten)]
        target: Target,
        /// An attester address (repeat for each); default: the address of
        /// the configuration's attester_key.
        #[arg(long = "attester", value_name = "ADDRESS")]
        attesters: Vec<String>,
        /// Signatures required per batch (default 1 with one attester,
        /// required with more).
        #[arg(long)]
        threshold: Option<u64>,
        /// Gas given to each recipient's handle call (fixed for the
        /// Inbox's life).
        #[arg(long, default_value_t = 200_000)]
        handle_gas_limit: u64,
        /// Deploy even where the configured contracts exist.
        #[arg(long)]
        force: bool,
        /// The contracts' artifacts (forge's out/ directory).
        #[arg(long, env = "SWITCHYARD_ARTIFACTS", default_value_os_t = default_artifacts())]
        artifacts: PathBuf,
    },
    /// Change the configured Inbox's attester set and threshold (owner
    /// only): enables the new attesters, sets the threshold, disables the
    /// old ones, each confirmed, then reads the set back.
    SetAttesters {
        #[command(flatten)]
        target: Target,
        /// The attesters in force now (checked on chain: each enabled, and
        /// no other).
        #[arg(long = "current", value_name = "ADDRESS", required = true)]
        current: Vec<String>,
        /// The attesters wanted (repeat for each).
        #[arg(long = "attester", value_name = "ADDRESS", required = true)]
        attesters: Vec<String>,
        /// Signatures required per batch afterwards.
        #[arg(long)]
        threshold: u64,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    /// Print the address of each configured key: the attester key and every
    /// chain's submitter keys (never a key itself).
    Address {
        /// TOML configuration of the hub.
        #[arg(long, short, env = "SWITCHYARD_CONFIG")]
        config: PathBuf,
    },
}

fn address(flag: &str, text: &str) -> Result<Address, InputError> {
    text.trim()
        .parse()
        .map_err(|_| InputError::new(flag, "a 20-byte hex address (0x and 40 hex digits)", text))
}

fn addresses(flag: &str, list: &[String]) -> Result<Vec<Address>, InputError> {
    list.iter().map(|t| address(flag, t)).collect()
}

struct Opened {
    /// The chain's place in `chains`, for messages naming a key's path.
    index: usize,
    chain: ChainConfig,
    cfg: Config,
    admin: Admin,
}

async fn open(t: &Target) -> anyhow::Result<Opened> {
    let cfg = Config::load(&t.config).with_context(|| format!("loading {}", t.config.display()))?;
    let index = cfg
        .chains
        .iter()
        .position(|c| c.name == t.chain)
        .ok_or_else(|| ContractsCliError::UnknownChain {
            got: t.chain.clone(),
            expected: cfg
                .chains
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let chain = cfg.chains[index].clone();
    let (key_ref, what) = match (&t.key_env, &t.key_file) {
        (Some(var), _) => (
            SecretRef {
                env: Some(var.clone()),
                file: None,
            },
            "--key-env",
        ),
        (None, Some(path)) => (SecretRef::file(path), "--key-file"),
        (None, None) => unreachable!("clap requires --key-env or --key-file"),
    };
    // The reason names the variable or file, never the value.
    let key = key_ref
        .resolve(what)
        .map_err(|e| InputError::new(what, "a readable private key", &e.reason))?;
    let pool = RpcPool::with_http(
        &chain.name,
        &chain.rpc_urls,
        RpcPolicy {
            timeout: Duration::from_millis(chain.rpc_timeout_ms),
            ..RpcPolicy::default()
        },
        &HttpOptions {
            roots: cfg.tls.roots()?,
            max_response_bytes: chain.max_response_bytes,
        },
    )?;
    let admin = Admin::new(
        pool,
        key.expose(),
        what,
        chain.chain_id,
        SendPolicy {
            confirmations: t.confirmations,
            wait: Duration::from_secs(t.wait_secs),
            max_fee_per_gas: u128::from(chain.max_fee_gwei) * 1_000_000_000,
            ..SendPolicy::default()
        },
    )
    .await?;
    Ok(Opened {
        index,
        chain,
        cfg,
        admin,
    })
}

/// Runs `switchyard contracts`.
pub async fn contracts(cmd: ContractsCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ContractsCmd::Deploy {
            target,
            attesters,
            threshold,
            handle_gas_limit,
            force,
            artifacts,
        } => {
            let mailbox_art = deploy::load_artifact(&artifacts, "Mailbox")?;
            let inbox_art = deploy::load_artifact(&artifacts, "Inbox")?;
            let Opened {
                chain, cfg, admin, ..
            } = open(&target).await?;
            let attesters = if attesters.is_empty() {
                let Some(key) = &cfg.attester_key else {
                    return Err(InputError::new(
                        "--attester",
                        "the attesters' addresses (the configuration has no attester_key to default to)",
                        "",
                    )
                    .into());
                };
                let key = key.resolve("attester_key")?;
                vec![deploy::key_address(key.expose(), "attester_key")?]
            } else {
                addresses("--attester", &attesters)?
            };
            let threshold = match threshold {
                Some(t) => t,
                None if attesters.len() == 1 => 1,
                None => {
                    return Err(InputError::new(
                        "--threshold",
                        format!(
                            "a number from 1 to {} with several attesters",
                            attesters.len()
                        ),
                        "nothing",
                    )
                    .into());
                }
            };
            let settings = InboxSettings {
                domain: chain.domain,
                attesters,
                threshold,
                handle_gas_limit,
            };
            settings.check()?;
            // Idempotent: contracts the configuration names and the chain
            // holds are not deployed again.
            let mut found = Vec::new();
            // An origin-only chain has no inbox yet.
            let inbox = chain.inbox;
            for (name, at, art) in [
                ("mailbox", Some(chain.mailbox), &mailbox_art),
                ("inbox", inbox, &inbox_art),
            ] {
                let Some(at) = at else { continue };
                if at.is_zero() {
                    continue;
                }
                let code = deploy::code_at(admin.pool(), at).await?;
                if code.is_empty() {
                    continue;
                }
                // Say whether what is there is the artifact's, so the
                // operator knows if the configuration is already right.
                found.push(match art.check_runtime(&code) {
                    Ok(()) => format!("{name} {at} has the {} artifact's code", art.name),
                    Err(why) => format!("{name} {at} has other code: {why}"),
                });
            }
            if !found.is_empty() && !force {
                return Err(ContractsCliError::Exists {
                    chain: chain.name.clone(),
                    found: found.join(", "),
                }
                .into());
            }
            eprintln!(
                "deploying Mailbox and Inbox on chain {} (chain id {}, domain {}) from {}",
                chain.name,
                chain.chain_id,
                chain.domain,
                admin.address()
            );
            let (m, i) = admin
                .deploy_pair(&mailbox_art, &inbox_art, &settings)
                .await?;
            let (m_at, i_at) = (
                m.created.expect("deploy_pair returns created addresses"),
                i.created.expect("deploy_pair returns created addresses"),
            );
            let list = settings
                .attesters
                .iter()
                .map(|a| format!("\"{a}\""))
                .collect::<Vec<_>>()
                .join(", ");
            println!(
                "# switchyard contracts deploy: chain {name} (chain id {id}, domain {domain})\n\
                 # Mailbox: tx {mtx} in block {mb}; Inbox: tx {itx} in block {ib}; {conf} confirmations each\n\
                 # code checked against {path}; Inbox settings read back:\n\
                 #   attesters [{list}], threshold {threshold}, handle gas limit {gas}, owner {owner}\n\
                 [[chains]]\n\
                 name = \"{name}\"\n\
                 mailbox = \"{m_at}\"\n\
                 inbox = \"{i_at}\"",
                name = chain.name,
                id = chain.chain_id,
                domain = chain.domain,
                mtx = m.tx_hash,
                mb = m.block,
                itx = i.tx_hash,
                ib = i.block,
                conf = target.confirmations,
                path = artifacts.display(),
                gas = settings.handle_gas_limit,
                owner = admin.address(),
            );
            Ok(Exit::Ok.into())
        }
        ContractsCmd::SetAttesters {
            target,
            current,
            attesters,
            threshold,
        } => {
            let current = addresses("--current", &current)?;
            let attesters = addresses("--attester", &attesters)?;
            let Opened {
                index,
                chain,
                admin,
                ..
            } = open(&target).await?;
            let inbox = chain.inbox.ok_or_else(|| ConfigError {
                path: format!("chains[{}].inbox", index),
                reason: "expected the Inbox whose attesters to change, got none".into(),
            })?;
            eprintln!(
                "changing the attesters of Inbox {} on chain {} as {}",
                inbox,
                chain.name,
                admin.address()
            );
            let done = admin
                .set_attesters(inbox, &current, &attesters, threshold)
                .await?;
            for t in &done {
                println!("# tx {} in block {}", t.tx_hash, t.block);
            }
            let list = attesters
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            println!(
                "# Inbox {} on chain {} read back: attesters [{list}], threshold {threshold}",
                inbox, chain.name
            );
            Ok(Exit::Ok.into())
        }
    }
}

/// Runs `switchyard keys`.
pub fn keys(cmd: KeysCmd) -> anyhow::Result<ExitCode> {
    let KeysCmd::Address { config } = cmd;
    let cfg = Config::load(&config).with_context(|| format!("loading {}", config.display()))?;
    let mut keys = Vec::new();
    if let Some(k) = &cfg.attester_key {
        keys.push(("attester_key".to_owned(), k, None));
    }
    for (i, c) in cfg.chains.iter().enumerate() {
        // An origin-only chain has no submitter key.
        if let Some(r) = &c.submitter_key {
            keys.push((format!("chains[{i}].submitter_key"), r, Some(&c.name)));
        }
        for (k, r) in c.extra_submitter_keys.iter().enumerate() {
            keys.push((
                format!("chains[{i}].extra_submitter_keys[{k}]"),
                r,
                Some(&c.name),
            ));
        }
    }
    // Every key is read before anything is printed: a half list would
    // look complete.
    let mut lines = Vec::new();
    for (path, r, chain) in keys {
        let key = r.resolve(&path)?;
        // A malformed key is the configuration's (exit 3), named by path.
        let addr = deploy::key_address(key.expose(), &path).map_err(|_| ConfigError {
            path: path.clone(),
            reason: "expected a 32-byte hex secp256k1 private key (the value is not shown)".into(),
        })?;
        lines.push(match chain {
            Some(name) => format!("{path} = \"{addr}\"  # chain {name}"),
            None => format!("{path} = \"{addr}\""),
        });
    }
    println!("# the addresses of the configured keys (never the keys)");
    for l in lines {
        println!("{l}");
    }
    Ok(Exit::Ok.into())
}

impl ContractsCliError {
    /// The exit code.
    pub fn exit(&self) -> Exit {
        match self {
            Self::Exists { .. } => Exit::No,
            Self::UnknownChain { .. } => Exit::NotFound,
        }
    }
}

/// The exit code of an EVM error of these commands: an endpoint that
/// cannot be asked is 4, what the chain holds not being what was expected
/// (code, settings, chain id, owner) is 1, a key or artifact named on the
/// command line that is unusable is 2.
pub fn evm_exit(e: &EvmError) -> Exit {
    match e {
        EvmError::Rpc { .. } | EvmError::Timeout { .. } | EvmError::NotFound { .. } => {
            Exit::Unavailable
        }
        EvmError::Mismatch { .. } => Exit::No,
        EvmError::Key { .. } | EvmError::Artifact { .. } => Exit::Usage,
        _ => Exit::Error,
    }
}
