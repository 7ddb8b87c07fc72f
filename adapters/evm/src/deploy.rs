//! Deploying and administering Switchyard's contracts on an EVM chain, for
//! `switchyard contracts deploy` and `switchyard contracts set-attesters`:
//! every transaction waits for its confirmations, and what it did is read
//! back before it is reported done.
//!
//! - The runtime code found at a deployed address must be the artifact's
//!   `deployedBytecode`, byte for byte except at the artifact's
//!   `immutableReferences` (where the constructor writes its immutables,
//!   which the settings check then reads back through the getters).
//! - An Inbox's settings are read back: its domain, that each expected
//!   attester is enabled and that `attesterCount` is their number (so no
//!   other address is), the threshold, the handle gas limit and the owner.
//!
//! The devnet's helpers (`switchyard-localnet`) stay dev-only; this module
//! is what an operator runs against a real chain.

use std::path::Path;
use std::time::Duration;

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::{BlockNumberOrTag, Encodable2718};
use alloy::network::TxSignerSync;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
use alloy::providers::Provider;
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolConstructor};

use crate::EvmError;
use crate::bindings::{Inbox, Mailbox, artifact_path};
use crate::rpc::RpcPool;

/// A contract's forge artifact: what is deployed and what must then be
/// found on chain.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// Contract name.
    pub name: String,
    /// The file read.
    pub path: String,
    /// Creation code (constructor arguments are appended).
    pub creation: Bytes,
    /// Runtime code, with zeros where immutables go.
    pub runtime: Bytes,
    /// `(start, length)` of every immutable in the runtime code.
    pub immutables: Vec<(usize, usize)>,
}

/// Reads `contract`'s artifact under `out_dir` (forge's `out/`).
pub fn load_artifact(out_dir: &Path, contract: &str) -> Result<Artifact, EvmError> {
    let path = artifact_path(out_dir, contract);
    let shown = path.display().to_string();
    let err = |reason: String| EvmError::Artifact {
        path: shown.clone(),
        reason,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        err(format!(
            "{e} (give --artifacts the contracts' out/ directory, built by adapters/contracts/build.sh)"
        ))
    })?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| err(format!("not JSON: {e}")))?;
    let code = |pointer: &str| -> Result<Bytes, EvmError> {
        let hex = json
            .pointer(pointer)
            .and_then(|v| v.as_str())
            .ok_or_else(|| err(format!("no {pointer}")))?;
        let bytes: Bytes = hex
            .parse()
            .map_err(|e| err(format!("{pointer} is not hex: {e}")))?;
        if bytes.is_empty() {
            return Err(err(format!("{pointer} is empty (an abstract contract?)")));
        }
        Ok(bytes)
    };
    let creation = code("/bytecode/object")?;
    let runtime = code("/deployedBytecode/object")?;
    let mut immutables = Vec::new();
    if let Some(refs) = json
        .pointer("/deployedBytecode/immutableReferences")
        .and_then(|v| v.as_object())
    {
        for places in refs.values() {
            for p in places.as_array().into_iter().flatten() {
                let field = |k: &str| {
                    p.get(k)
                        .and_then(serde_json::Value::as_u64)
                        .and_then(|v| usize::try_from(v).ok())
                };
                let (Some(start), Some(len)) = (field("start"), field("length")) else {
                    return Err(err(format!("malformed immutableReferences entry {p}")));
                };
                if start.saturating_add(len) > runtime.len() {
                    return Err(err(format!(
                        "immutable at {start}+{len} past the runtime code's {} bytes",
                        runtime.len()
                    )));
                }
                immutables.push((start, len));
            }
        }
    }
    immutables.sort_unstable();
    Ok(Artifact {
        name: contract.to_owned(),
        path: shown,
        creation,
        runtime,
        immutables,
    })
}

impl Artifact {
    /// Whether `code` (as `eth_getCode` returns it) is this artifact's
    /// runtime code, its immutables aside; `Err` says where it differs.
    pub fn check_runtime(&self, code: &[u8]) -> Result<(), String> {
        if code.len() != self.runtime.len() {
            return Err(format!(
                "expected {} bytes of runtime code, got {}",
                self.runtime.len(),
                code.len()
            ));
        }
        let mut masked = vec![false; code.len()];
        for &(start, len) in &self.immutables {
            masked[start..start + len].fill(true);
        }
        match (0..code.len()).find(|&i| !masked[i] && code[i] != self.runtime[i]) {
            None => Ok(()),
            Some(i) => Err(format!(
                "runtime code differs from {} at byte {i}: expected 0x{:02x}, got 0x{:02x}",
                self.path, self.runtime[i], code[i]
            )),
        }
    }
}

/// The Inbox's constructor settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxSettings {
    /// The chain's message domain.
    pub domain: u32,
    /// The attester set.
    pub attesters: Vec<Address>,
    /// Signatures required per batch.
    pub threshold: u64,
    /// Gas forwarded to each recipient.
    pub handle_gas_limit: u64,
}

impl InboxSettings {
    /// Refuses what the Inbox's constructor would revert on, before any
    /// transaction: an empty or duplicated set, a zero address, a
    /// threshold of 0 or above the set, a zero gas limit.
    pub fn check(&self) -> Result<(), EvmError> {
        let bad = |what: &str, expected: &str, got: String| EvmError::Mismatch {
            what: what.to_owned(),
            expected: expected.to_owned(),
            got,
        };
        if self.attesters.is_empty() {
            return Err(bad("attesters", "at least one", "none".into()));
        }
        for (i, a) in self.attesters.iter().enumerate() {
            if a.is_zero() {
                return Err(bad("attesters", "no zero address", format!("{a} at {i}")));
            }
            if self.attesters[..i].contains(a) {
                return Err(bad("attesters", "no duplicates", format!("{a} twice")));
            }
        }
        if self.threshold == 0 || self.threshold > self.attesters.len() as u64 {
            return Err(bad(
                "threshold",
                &format!("1 to {} (the attesters)", self.attesters.len()),
                self.threshold.to_string(),
            ));
        }
        if self.handle_gas_limit == 0 {
            return Err(bad("handle gas limit", "above 0", "0".into()));
        }
        Ok(())
    }
}

/// A confirmed transaction.
#[derive(Debug, Clone, Copy)]
pub struct Confirmed {
    /// Its hash.
    pub tx_hash: B256,
    /// Its block.
    pub block: u64,
    /// The contract it created, if it did.
    pub created: Option<Address>,
}

/// The address of the account of `key` (hex); `what` names the key's
/// source in an error, which never holds the key.
pub fn key_address(key: &str, what: &str) -> Result<Address, EvmError> {
    let signer: PrivateKeySigner = key.trim().parse().map_err(|_| EvmError::Key {
        what: what.to_owned(),
        reason: "expected a 32-byte hex secp256k1 private key".to_owned(),
    })?;
    Ok(signer.address())
}

/// `eth_getCode` of `at` (empty: no contract).
pub async fn code_at(pool: &RpcPool, at: Address) -> Result<Bytes, EvmError> {
    pool.read("eth_getCode", |p| async move { p.get_code_at(at).await })
        .await
}

/// `eth_call` of `call` on `to`, decoded.
pub async fn call<C: SolCall>(pool: &RpcPool, to: Address, call: C) -> Result<C::Return, EvmError> {
    let data: Bytes = call.abi_encode().into();
    let req = TransactionRequest::default().to(to).input(data.into());
    let out = pool
        .read("eth_call", |p| {
            let req = req.clone();
            async move { p.call(req).await }
        })
        .await?;
    C::abi_decode_returns(&out).map_err(|e| EvmError::Malformed {
        what: "eth_call answer",
        reason: format!("{} at {to}: {e}", C::SIGNATURE),
    })
}

fn mismatch(
    what: String,
    expected: impl std::fmt::Display,
    got: impl std::fmt::Display,
) -> EvmError {
    EvmError::Mismatch {
        what,
        expected: expected.to_string(),
        got: got.to_string(),
    }
}

/// Checks that `at` holds `artifact`'s runtime code.
pub async fn check_code(pool: &RpcPool, artifact: &Artifact, at: Address) -> Result<(), EvmError> {
    let code = code_at(pool, at).await?;
    artifact.check_runtime(&code).map_err(|got| {
        mismatch(
            format!("{} code at {at}", artifact.name),
            "the artifact's runtime code",
            got,
        )
    })
}

/// Checks the Mailbox at `at`: its domain.
pub async fn check_mailbox(pool: &RpcPool, at: Address, domain: u32) -> Result<(), EvmError> {
    let got = call(pool, at, Mailbox::localDomainCall {}).await?;
    if got != domain {
        return Err(mismatch(format!("Mailbox {at} localDomain"), domain, got));
    }
    Ok(())
}

/// Reads the Inbox's settings back and checks them against `expected`;
/// `owner`, when given, must be its owner.
pub async fn check_inbox(
    pool: &RpcPool,
    at: Address,
    expected: &InboxSettings,
    owner: Option<Address>,
) -> Result<(), EvmError> {
    let what = |f: &str| format!("Inbox {at} {f}");
    let domain = call(pool, at, Inbox::localDomainCall {}).await?;
    if domain != expected.domain {
        return Err(mismatch(what("localDomain"), expected.domain, domain));
    }
    check_attesters(pool, at, &expected.attesters, expected.threshold).await?;
    let gas = call(pool, at, Inbox::handleGasLimitCall {}).await?;
    if gas != U256::from(expected.handle_gas_limit) {
        return Err(mismatch(
            what("handleGasLimit"),
            expected.handle_gas_limit,
            gas,
        ));
    }
    if let Some(owner) = owner {
        let got = call(pool, at, Inbox::ownerCall {}).await?;
        if got != owner {
            return Err(mismatch(what("owner"), owner, got));
        }
    }
    Ok(())
}

/// Checks the Inbox's attester set is exactly `attesters` (each enabled,
/// and as many enabled as listed) and its threshold `threshold`.
pub async fn check_attesters(
    pool: &RpcPool,
    at: Address,
    attesters: &[Address],
    threshold: u64,
) -> Result<(), EvmError> {
    let what = |f: &str| format!("Inbox {at} {f}");
    for a in attesters {
        if !call(pool, at, Inbox::isAttesterCall { attester: *a }).await? {
            return Err(mismatch(what(&format!("isAttester({a})")), true, false));
        }
    }
    let count = call(pool, at, Inbox::attesterCountCall {}).await?;
    if count != U256::from(attesters.len()) {
        return Err(mismatch(what("attesterCount"), attesters.len(), count));
    }
    let got = call(pool, at, Inbox::thresholdCall {}).await?;
    if got != U256::from(threshold) {
        return Err(mismatch(what("threshold"), threshold, got));
    }
    Ok(())
}

/// How transactions are sent and confirmed.
#[derive(Debug, Clone, Copy)]
pub struct SendPolicy {
    /// Blocks a transaction's block must have (itself included) before it
    /// is taken as done.
    pub confirmations: u64,
    /// Longest wait for one transaction's inclusion and confirmations.
    pub wait: Duration,
    /// Ceiling of `maxFeePerGas`, in wei.
    pub max_fee_per_gas: u128,
    /// Gas limit as a percentage of the estimate.
    pub gas_margin_percent: u64,
}

impl Default for SendPolicy {
    fn default() -> Self {
        Self {
            confirmations: 3,
            wait: Duration::from_secs(600),
            max_fee_per_gas: 500_000_000_000,
            gas_margin_percent: 130,
        }
    }
}

/// An account that deploys and administers the contracts of one chain.
pub struct Admin {
    pool: RpcPool,
    signer: PrivateKeySigner,
    chain_id: u64,
    policy: SendPolicy,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("address", &self.signer.address())
            .field("chain_id", &self.chain_id)
            .finish_non_exhaustive()
    }
}

impl Admin {
    /// The account of `key` (hex; `what` names its source in errors) on
    /// `pool`'s chain, which must answer `chain_id`.
    pub async fn new(
        pool: RpcPool,
        key: &str,
        what: &str,
        chain_id: u64,
        policy: SendPolicy,
    ) -> Result<Self, EvmError> {
        let signer: PrivateKeySigner = key.trim().parse().map_err(|_| EvmError::Key {
            what: what.to_owned(),
            reason: "expected a 32-byte hex secp256k1 private key".to_owned(),
        })?;
        let got = pool
            .read("eth_chainId", |p| async move { p.get_chain_id().await })
            .await?;
        if got != chain_id {
            return Err(mismatch(
                format!("chain {} eth_chainId", pool.chain()),
                chain_id,
                got,
            ));
        }
        Ok(Self {
            pool,
            signer,
            chain_id,
            policy,
        })
    }

    /// The account's address.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// The pool.
    pub fn pool(&self) -> &RpcPool {
        &self.pool
    }

    /// Deploys `artifact` with `args` and checks the code it left.
    pub async fn deploy(&self, artifact: &Artifact, args: &[u8]) -> Result<Confirmed, EvmError> {
        let mut input = artifact.creation.to_vec();
        input.extend_from_slice(args);
        let done = self
            .send(None, input.into(), &format!("deploying {}", artifact.name))
            .await?;
        let at = done.created.ok_or_else(|| EvmError::Malformed {
            what: "deployment receipt",
            reason: format!("{}: no contractAddress in {}", artifact.name, done.tx_hash),
        })?;
        check_code(&self.pool, artifact, at).await?;
        Ok(done)
    }

    /// Deploys a Mailbox and an Inbox with `settings`, checks their code
    /// and reads the settings back. Returns (Mailbox, Inbox).
    pub async fn deploy_pair(
        &self,
        mailbox: &Artifact,
        inbox: &Artifact,
        settings: &InboxSettings,
    ) -> Result<(Confirmed, Confirmed), EvmError> {
        settings.check()?;
        let m = self
            .deploy(
                mailbox,
                &Mailbox::constructorCall {
                    localDomain: settings.domain,
                }
                .abi_encode(),
            )
            .await?;
        let i = self
            .deploy(
                inbox,
                &Inbox::constructorCall {
                    localDomain: settings.domain,
                    attesters: settings.attesters.clone(),
                    threshold: U256::from(settings.threshold),
                    handleGasLimit: U256::from(settings.handle_gas_limit),
                }
                .abi_encode(),
            )
            .await?;
        let (m_at, i_at) = (
            m.created.expect("deploy returns a created address"),
            i.created.expect("deploy returns a created address"),
        );
        check_mailbox(&self.pool, m_at, settings.domain).await?;
        check_inbox(&self.pool, i_at, settings, Some(self.address())).await?;
        Ok((m, i))
    }

    /// Changes the Inbox's attester set to `attesters` with `threshold`
    /// (owner only): enables the new ones, sets the threshold, then
    /// disables the others, an order the Inbox accepts whatever the sizes
    /// (it refuses a threshold above the enabled count at every step).
    /// `current` is the set in force (checked on chain first). Returns the
    /// transactions, in order, after reading the result back.
    pub async fn set_attesters(
        &self,
        inbox: Address,
        current: &[Address],
        attesters: &[Address],
        threshold: u64,
    ) -> Result<Vec<Confirmed>, EvmError> {
        let owner = call(&self.pool, inbox, Inbox::ownerCall {}).await?;
        if owner != self.address() {
            return Err(mismatch(
                format!("Inbox {inbox} owner (only it may change the attesters)"),
                self.address(),
                owner,
            ));
        }
        let now = call(&self.pool, inbox, Inbox::thresholdCall {}).await?;
        let now = u64::try_from(now)
            .map_err(|_| mismatch(format!("Inbox {inbox} threshold"), "a u64", now))?;
        check_attesters(&self.pool, inbox, current, now).await?;
        InboxSettings {
            domain: 0,
            attesters: attesters.to_vec(),
            threshold,
            handle_gas_limit: 1,
        }
        .check()?;
        let mut done = Vec::new();
        for a in attesters.iter().filter(|a| !current.contains(a)) {
            let data = Inbox::setAttesterCall {
                attester: *a,
                enabled: true,
            };
            done.push(
                self.send(
                    Some(inbox),
                    data.abi_encode().into(),
                    &format!("enabling attester {a}"),
                )
                .await?,
            );
        }
        if threshold != now {
            let data = Inbox::setThresholdCall {
                threshold: U256::from(threshold),
            };
            done.push(
                self.send(
                    Some(inbox),
                    data.abi_encode().into(),
                    &format!("setting threshold {threshold}"),
                )
                .await?,
            );
        }
        for a in current.iter().filter(|a| !attesters.contains(a)) {
            let data = Inbox::setAttesterCall {
                attester: *a,
                enabled: false,
            };
            done.push(
                self.send(
                    Some(inbox),
                    data.abi_encode().into(),
                    &format!("disabling attester {a}"),
                )
                .await?,
            );
        }
        check_attesters(&self.pool, inbox, attesters, threshold).await?;
        Ok(done)
    }

    /// Estimates, signs, broadcasts once and waits for `to`/`input`'s
    /// inclusion and confirmations; a revert is an error.
    async fn send(
        &self,
        to: Option<Address>,
        input: Bytes,
        what: &str,
    ) -> Result<Confirmed, EvmError> {
        let from = self.signer.address();
        let mut req = TransactionRequest::default()
            .from(from)
            .input(input.clone().into());
        if let Some(to) = to {
            req = req.to(to);
        }
        let estimate = self
            .pool
            .read("eth_estimateGas", |p| {
                let req = req.clone();
                async move { p.estimate_gas(req).await }
            })
            .await
            .map_err(|e| match e {
                EvmError::Rpc { message, .. } if message.contains("revert") => {
                    EvmError::SimulationReverted {
                        reason: format!("{what}: {message}"),
                    }
                }
                e => e,
            })?;
        let gas_limit = estimate.saturating_mul(self.policy.gas_margin_percent.max(100)) / 100;
        let fees = self
            .pool
            .read("eth_feeHistory", |p| async move {
                p.estimate_eip1559_fees().await
            })
            .await?;
        let max_fee = fees.max_fee_per_gas.min(self.policy.max_fee_per_gas);
        let tip = fees.max_priority_fee_per_gas.min(max_fee);
        let nonce = self
            .pool
            .read("eth_getTransactionCount", |p| async move {
                p.get_transaction_count(from)
                    .block_id(BlockNumberOrTag::Pending.into())
                    .await
            })
            .await?;
        let mut tx = TxEip1559 {
            chain_id: self.chain_id,
            nonce,
            gas_limit,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: tip,
            to: to.map_or(TxKind::Create, TxKind::Call),
            value: U256::ZERO,
            access_list: Default::default(),
            input,
        };
        let sig = self
            .signer
            .sign_transaction_sync(&mut tx)
            .map_err(|e| EvmError::Key {
                what: format!("deployer {from}"),
                reason: format!("signing failed: {e}"),
            })?;
        let signed = tx.into_signed(sig);
        let tx_hash = *signed.hash();
        let raw = TxEnvelope::from(signed).encoded_2718();
        // The same signed bytes may be sent again: a node that has them
        // answers "already known", and only one can be mined.
        self.pool
            .read("eth_sendRawTransaction", |p| {
                let raw = raw.clone();
                async move {
                    match p.send_raw_transaction(&raw).await {
                        Ok(_) => Ok(()),
                        Err(e) if e.to_string().to_ascii_lowercase().contains("already known") => {
                            Ok(())
                        }
                        Err(e) => Err(e),
                    }
                }
            })
            .await?;
        tracing::info!(%tx_hash, what, "transaction sent");
        self.confirm(tx_hash, what).await
    }

    /// Waits for `tx_hash`'s receipt and for `confirmations` blocks, then
    /// checks it is still in the block it was first seen in.
    async fn confirm(&self, tx_hash: B256, what: &str) -> Result<Confirmed, EvmError> {
        let deadline = tokio::time::Instant::now() + self.policy.wait;
        let receipt = |r: Option<TransactionReceipt>| r;
        loop {
            let r = self
                .pool
                .read("eth_getTransactionReceipt", |p| async move {
                    p.get_transaction_receipt(tx_hash).await
                })
                .await
                .map(receipt)?;
            if let Some(r) = r {
                let block = r.block_number.unwrap_or_default();
                if !r.status() {
                    return Err(EvmError::Reverted {
                        tx_hash: tx_hash.to_string(),
                        block,
                    });
                }
                let head = self.pool.block_number().await?;
                if head + 1 >= block + self.policy.confirmations.max(1) {
                    // Still where it was: a reorg would have moved or dropped it.
                    let again = self
                        .pool
                        .read("eth_getTransactionReceipt", |p| async move {
                            p.get_transaction_receipt(tx_hash).await
                        })
                        .await?;
                    match again {
                        Some(a) if a.block_hash == r.block_hash && a.status() => {
                            return Ok(Confirmed {
                                tx_hash,
                                block,
                                created: r.contract_address,
                            });
                        }
                        // Reorganized out or moved: wait for where it lands.
                        _ => {
                            tracing::warn!(%tx_hash, what, "transaction moved by a reorg, waiting again")
                        }
                    }
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(EvmError::Timeout {
                    method: "eth_getTransactionReceipt",
                    after: self.policy.wait,
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact() -> Artifact {
        Artifact {
            name: "T".into(),
            path: "t.json".into(),
            creation: Bytes::from_static(&[1]),
            runtime: Bytes::from_static(&[0x60, 0x00, 0x00, 0x00, 0x56]),
            immutables: vec![(1, 3)],
        }
    }

    #[test]
    fn runtime_code_is_compared_outside_the_immutables_only() {
        let a = artifact();
        assert_eq!(a.check_runtime(&[0x60, 0xaa, 0xbb, 0xcc, 0x56]), Ok(()));
        let err = a
            .check_runtime(&[0x61, 0xaa, 0xbb, 0xcc, 0x56])
            .expect_err("byte 0");
        assert!(err.contains("at byte 0: expected 0x60, got 0x61"), "{err}");
        let err = a.check_runtime(&[0x60, 0, 0, 0, 0x57]).expect_err("byte 4");
        assert!(err.contains("at byte 4"), "{err}");
        let err = a.check_runtime(&[0x60]).expect_err("length");
        assert!(
            err.contains("expected 5 bytes of runtime code, got 1"),
            "{err}"
        );
    }

    #[test]
    fn settings_the_constructor_would_refuse_are_refused_first() {
        let a = Address::repeat_byte(1);
        let b = Address::repeat_byte(2);
        let ok = InboxSettings {
            domain: 1,
            attesters: vec![a, b],
            threshold: 2,
            handle_gas_limit: 100_000,
        };
        assert!(ok.check().is_ok());
        for (bad, says) in [
            (
                InboxSettings {
                    attesters: vec![],
                    threshold: 1,
                    ..ok.clone()
                },
                "at least one",
            ),
            (
                InboxSettings {
                    attesters: vec![a, a],
                    ..ok.clone()
                },
                "no duplicates",
            ),
            (
                InboxSettings {
                    attesters: vec![a, Address::ZERO],
                    ..ok.clone()
                },
                "no zero address",
            ),
            (
                InboxSettings {
                    threshold: 3,
                    ..ok.clone()
                },
                "expected 1 to 2 (the attesters), got 3",
            ),
            (
                InboxSettings {
                    threshold: 0,
                    ..ok.clone()
                },
                "got 0",
            ),
            (
                InboxSettings {
                    handle_gas_limit: 0,
                    ..ok
                },
                "handle gas limit",
            ),
        ] {
            let err = bad.check().expect_err(says).to_string();
            assert!(err.contains(says), "{err}");
        }
    }
}
