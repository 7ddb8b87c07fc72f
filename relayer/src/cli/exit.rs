//! The exit codes of every `switchyard` command, one meaning each, and the
//! mapping of an error to its code: a script tells "the answer is no" from
//! "the command line is wrong" from "Redis is down" by the code alone.

use std::process::ExitCode;

use crate::admin::AdminError;
use crate::config::ConfigError;
use crate::error::HubError;
use crate::input::InputError;
use crate::store::StoreError;

use super::contracts::{ContractsCliError, evm_exit};
use super::lc::LcCliError;
use super::status::StatusCliError;

/// What a command's exit code says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done, and the answer is yes: valid, found, delivered.
    Ok = 0,
    /// Done, and the answer is no: a light-client object is invalid, a
    /// message failed or was dead-lettered, a bench or devnet check failed.
    No = 1,
    /// The command line is wrong: an unknown option, a missing argument, a
    /// value outside its fixed set or malformed, a file it names that
    /// cannot be read or is not what the option takes (clap's own refusals
    /// exit 2 too).
    Usage = 2,
    /// The configuration cannot be used: unreadable, unknown keys, values
    /// out of range (the message names the key). `config check` also
    /// exits 3 for what would stop a start: a secret it cannot read, an
    /// origin without its first-start checkpoint, a placeholder hash
    /// (warnings alone exit 0); never for a wrong command line (2).
    Config = 3,
    /// A service the command needs could not be asked, or answered with an
    /// error: the hub's API, Redis, a chain's endpoints.
    Unavailable = 4,
    /// What was asked about is not known: a message the hub has no record
    /// of, a dead letter, a destination chain.
    NotFound = 5,
    /// A wait ran out before the answer was final (`status --wait-secs`).
    Timeout = 6,
    /// Any other error (an I/O error, an answer of an unexpected form):
    /// the message says what.
    Error = 7,
    /// The state in Redis is in a storage format this hub does not read:
    /// written by a newer hub (the message names both formats), or older
    /// with no migration. Not retried: run a release that reads it, or
    /// point `redis.key_prefix` at another store.
    Incompatible = 8,
}

/// Every code, in order.
pub const ALL: [Exit; 9] = [
    Exit::Ok,
    Exit::No,
    Exit::Usage,
    Exit::Config,
    Exit::Unavailable,
    Exit::NotFound,
    Exit::Timeout,
    Exit::Error,
    Exit::Incompatible,
];

/// The table `switchyard --help` ends with (and README's "Exit codes").
pub const HELP: &str = "\
Exit codes (every command):
  0  done, and the answer is yes (valid, found, delivered)
  1  done, and the answer is no (an invalid light-client object, a failed or dead-lettered message, a failed bench or devnet check)
  2  the command line is wrong (unknown option, missing argument, a value outside its set or malformed, an unreadable input file)
  3  the configuration cannot be used (unreadable, unknown key, value out of range)
  4  a service could not be asked or answered with an error (the hub's API, Redis, chain endpoints)
  5  not found (a message the hub has no record of, a dead letter, a chain)
  6  a wait ran out before the answer was final (status --wait-secs)
  7  any other error (the message says what)
  8  the state in Redis is in a storage format this hub does not read (written by a newer hub)";

impl Exit {
    /// The code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The code of an error that ended a command: the first error of its
    /// chain (outermost first) this module knows decides.
    pub fn of(err: &anyhow::Error) -> Self {
        err.chain().find_map(Self::of_one).unwrap_or(Exit::Error)
    }

    fn of_one(e: &(dyn std::error::Error + 'static)) -> Option<Self> {
        if e.is::<ConfigError>() {
            return Some(Exit::Config);
        }
        if e.is::<InputError>() || e.is::<clap::Error>() {
            return Some(Exit::Usage);
        }
        if let Some(e) = e.downcast_ref::<StoreError>() {
            return Some(Self::of_store(e));
        }
        if let Some(e) = e.downcast_ref::<AdminError>() {
            return Some(match e {
                AdminError::UnknownChain { .. } => Exit::NotFound,
                AdminError::Queue(s) => Self::of_store(s),
            });
        }
        if let Some(e) = e.downcast_ref::<HubError>() {
            return Some(match e {
                HubError::Config(_) | HubError::CheckpointTooOld { .. } => Exit::Config,
                HubError::Queue(s) => Self::of_store(s),
                HubError::Evm(_) | HubError::Beacon { .. } | HubError::Cometbft { .. } => {
                    Exit::Unavailable
                }
                _ => Exit::Error,
            });
        }
        if let Some(e) = e.downcast_ref::<StatusCliError>() {
            return Some(match e {
                StatusCliError::Input(_) => Exit::Usage,
                StatusCliError::Hub { .. } => Exit::Unavailable,
                _ => Exit::Error,
            });
        }
        if let Some(e) = e.downcast_ref::<ContractsCliError>() {
            return Some(e.exit());
        }
        if let Some(e) = e.downcast_ref::<switchyard_evm::EvmError>() {
            return Some(evm_exit(e));
        }
        if let Some(e) = e.downcast_ref::<LcCliError>() {
            return Some(match e {
                LcCliError::Input(_) | LcCliError::Read { .. } | LcCliError::Unusable { .. } => {
                    Exit::Usage
                }
                _ => Exit::Error,
            });
        }
        None
    }

    fn of_store(e: &StoreError) -> Self {
        match e {
            StoreError::Redis { .. } => Exit::Unavailable,
            StoreError::NotFound { .. } => Exit::NotFound,
            // The queue key comes from the configuration.
            StoreError::Key { .. }
            | StoreError::SenderInUse { .. }
            | StoreError::WrongTopology { .. } => Exit::Config,
            StoreError::NewerFormat { .. } | StoreError::Format { .. } => Exit::Incompatible,
            _ => Exit::Error,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_table_names_every_code_once_in_order() {
        let lines: Vec<&str> = HELP.lines().skip(1).collect();
        assert_eq!(lines.len(), ALL.len());
        for (line, e) in lines.iter().zip(ALL) {
            assert!(
                line.trim_start().starts_with(&format!("{}  ", e.code())),
                "{line}"
            );
        }
    }

    #[test]
    fn the_readme_carries_the_same_table() {
        let readme = include_str!("../../../README.md");
        for line in HELP.lines().skip(1) {
            assert!(
                readme.contains(line.trim_start()),
                "README.md lacks the exit code line {line:?}"
            );
        }
    }

    #[test]
    fn errors_map_to_their_code_through_context() {
        let cfg = anyhow::Error::new(ConfigError {
            path: "x".into(),
            reason: "y".into(),
        })
        .context("loading hub.toml");
        assert_eq!(Exit::of(&cfg), Exit::Config);
        let redis = anyhow::Error::new(HubError::Queue(StoreError::Redis {
            op: "connect",
            message: "refused".into(),
        }))
        .context("starting the hub");
        assert_eq!(Exit::of(&redis), Exit::Unavailable);
        let dlq = anyhow::Error::new(AdminError::UnknownChain {
            got: "nope".into(),
            expected: "alpha".into(),
        });
        assert_eq!(Exit::of(&dlq), Exit::NotFound);
        let gone = anyhow::Error::new(StoreError::NotFound {
            reference: "0/1-0".into(),
        });
        assert_eq!(Exit::of(&gone), Exit::NotFound);
        let input = anyhow::Error::new(InputError::new("--x", "a number", "y"));
        assert_eq!(Exit::of(&input), Exit::Usage);
        let newer = anyhow::Error::new(HubError::Queue(StoreError::NewerFormat {
            key: "sy:{meta}:format".into(),
            found: 2,
            supported: 1,
        }))
        .context("starting the hub");
        assert_eq!(Exit::of(&newer), Exit::Incompatible);
        assert_eq!(Exit::of(&anyhow::anyhow!("something else")), Exit::Error);
    }
}
