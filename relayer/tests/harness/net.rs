//! What every network fixture starts with: anvil chains with the contracts
//! deployed, and the hub's key files.

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use switchyard_evm::bindings::ARTIFACTS_DIR;
use switchyard_localnet::evm::{self as devtools, ANVIL_KEYS, Deployment, DevWallet};
use switchyard_localnet::procs::{Anvil, repo_root};

/// The attester every fixture's Inbox trusts (threshold 1): anvil key 1.
pub(crate) fn attester_address() -> Address {
    switchyard_evm::attest::Attester::from_hex(ANVIL_KEYS[1], "test attester")
        .expect("anvil key 1 is a valid key")
        .address()
}

/// Anvil chains, one per domain, each with Mailbox, Inbox and a recipient
/// deployed by anvil key 0.
pub(crate) struct Chains {
    /// The processes (killed on drop).
    pub(crate) anvils: Vec<Anvil>,
    /// The deployer's wallet on each chain.
    pub(crate) wallets: Vec<DevWallet>,
    /// What was deployed on each chain.
    pub(crate) deployments: Vec<Deployment>,
}

impl Chains {
    /// Chains with ids `chain_id_base`, `+1`, … for `domains`, mining every
    /// `block_time` seconds.
    pub(crate) async fn start(chain_id_base: u64, domains: &[u32], block_time: f64) -> Self {
        let anvils: Vec<Anvil> = (0..domains.len())
            .map(|i| {
                Anvil::spawn(chain_id_base + i as u64, block_time)
                    .expect("anvil starts (run deploy/setup.sh)")
            })
            .collect();
        let (wallets, deployments) = deploy_each(&anvils, domains, attester_address()).await;
        Self {
            anvils,
            wallets,
            deployments,
        }
    }

    /// The latest block of chain `i` (number and hash), as a trusted
    /// checkpoint.
    pub(crate) async fn checkpoint(&self, i: usize) -> (u64, B256) {
        checkpoint_of(&self.wallets[i]).await
    }
}

/// The latest block `wallet`'s chain has (number and hash).
pub(crate) async fn checkpoint_of(wallet: &DevWallet) -> (u64, B256) {
    let p = wallet.provider();
    let n = p.get_block_number().await.expect("block number");
    let block = p
        .get_block_by_number(n.into())
        .await
        .expect("checkpoint block")
        .expect("checkpoint block exists");
    (n, block.header.hash)
}

/// The contracts deployed on each of `anvils` for the domain at the same
/// place in `domains` (anvil key 0 deploys), with `attester` the Inbox's one
/// attester (threshold 1): each chain's wallet and deployment, in order.
pub(crate) async fn deploy_each(
    anvils: &[Anvil],
    domains: &[u32],
    attester: Address,
) -> (Vec<DevWallet>, Vec<Deployment>) {
    let artifacts = repo_root().join(ARTIFACTS_DIR);
    let mut wallets = Vec::new();
    let mut deployments = Vec::new();
    for (anvil, &domain) in anvils.iter().zip(domains) {
        let mut wallet = DevWallet::connect(&anvil.url, ANVIL_KEYS[0])
            .await
            .expect("wallet connects");
        let d = devtools::deploy_all(&mut wallet, &artifacts, domain, vec![attester], 1, 500_000)
            .await
            .expect("contracts deploy (run deploy/setup.sh to build them)");
        wallets.push(wallet);
        deployments.push(d);
    }
    (wallets, deployments)
}

/// The hub's secrets as files (mode 0600): the attester (anvil key 1), the
/// submitter (anvil key 2) and the queue key.
#[derive(Debug, Clone)]
pub(crate) struct KeyFiles {
    pub(crate) attester: PathBuf,
    pub(crate) submitter: PathBuf,
    pub(crate) queue: PathBuf,
}

impl KeyFiles {
    /// Writes the three files into `dir` as `attester`, `submitter` and
    /// `queue`.
    pub(crate) fn write_in(dir: &Path, queue_key: &str) -> Self {
        Self {
            attester: write_secret(dir, "attester", ANVIL_KEYS[1]),
            submitter: write_secret(dir, "submitter", ANVIL_KEYS[2]),
            queue: write_secret(dir, "queue", queue_key),
        }
    }
}

/// Writes `value` to a new file `dir/name` readable by its owner only.
pub(crate) fn write_secret(dir: &Path, name: &str, value: &str) -> PathBuf {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let p = dir.join(name);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&p)
        .expect("key file is created");
    f.write_all(value.as_bytes()).expect("key file is written");
    p
}

/// `TestRecipient.received()` of `recipient` on `wallet`'s chain.
pub(crate) async fn received(wallet: &DevWallet, recipient: Address) -> u64 {
    let n = switchyard_evm::bindings::TestRecipient::new(recipient, wallet.provider().clone())
        .received()
        .call()
        .await
        .expect("received()");
    u64::try_from(n).expect("small")
}

/// Each body `recipient` received on `wallet`'s chain since `from_block`,
/// with how often; every one must come from `origin` and `sender`.
pub(crate) async fn bodies_received(
    wallet: &DevWallet,
    recipient: Address,
    from_block: u64,
    origin: u32,
    sender: Address,
) -> std::collections::BTreeMap<alloy::primitives::Bytes, u32> {
    let events = devtools::received_events(wallet.provider(), recipient, from_block)
        .await
        .expect("Received events");
    let mut delivered = std::collections::BTreeMap::new();
    for ev in events {
        assert_eq!(ev.origin, origin, "{ev:?}");
        assert_eq!(ev.sender, sender.into_word(), "{ev:?}");
        *delivered.entry(ev.body).or_default() += 1;
    }
    delivered
}

/// A hub's TOML made the TOML of an attester following the same chains:
/// role attester, no queue key and no submitter keys, its own Redis key
/// prefix `key_prefix`, and the bearer token in the file `token` accepted.
pub(crate) fn attester_toml(hub: &str, key_prefix: &str, token: &Path) -> String {
    let own: String = hub
        .lines()
        .filter(|l| !l.starts_with("queue_key") && !l.starts_with("submitter_key"))
        .map(|l| {
            if l.starts_with("key_prefix = ") {
                format!("key_prefix = \"{key_prefix}\"\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    format!(
        "role = \"attester\"\n{own}[attestation]\ntokens = [{{ file = \"{}\" }}]\n",
        token.display()
    )
}

/// A hub's TOML that asks the attester at `url`, presenting the token in
/// the file `token`, instead of signing with an attester key of its own.
pub(crate) fn asking_attester(hub: &str, url: &str, token: &Path) -> String {
    let own: String = hub
        .lines()
        .filter(|l| !l.starts_with("attester_key"))
        .map(|l| format!("{l}\n"))
        .collect();
    format!(
        "{own}[[attesters]]\nname = \"a0\"\nurl = \"{url}\"\ntoken = {{ file = \"{}\" }}\n",
        token.display()
    )
}
