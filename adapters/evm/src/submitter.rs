//! Destination submitter: `Inbox.deliver` transactions with their own nonce
//! tracking and EIP-1559 fees, in three explicit steps: `prepare` (encode and
//! simulate), `submit` (sign and broadcast once), `confirm` (wait for the
//! receipt at the configured depth, check the block is still canonical and
//! that the other endpoints return the same receipt: one endpoint's word
//! never acknowledges a batch, nor dead-letters one by a simulated revert;
//! a transaction not mined within `replace_after` is replaced, same nonce,
//! with fees raised by `fee_bump_percent`, up to the chain's cap).

use std::time::{Duration, Instant};

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::BlockNumberOrTag;
use alloy::eips::Encodable2718;
use alloy::network::TxSignerSync;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolEvent};
use tokio::sync::Mutex;

use crate::EvmError;
use crate::bindings::Inbox;
use crate::rpc::RpcPool;

/// Fixed parameters of a destination.
#[derive(Debug, Clone)]
pub struct SubmitterConfig {
    /// The destination's EIP-155 chain id (also in the attestation domain).
    pub chain_id: u64,
    /// The Inbox contract.
    pub inbox: Address,
    /// Blocks on top of the inclusion block before a batch counts as delivered.
    pub confirmations: u64,
    /// Ceiling on `maxFeePerGas`, in wei.
    pub max_fee_per_gas: u128,
    /// How long `confirm` waits for a receipt before giving up (retryable).
    pub receipt_timeout: Duration,
    /// Receipt polling interval.
    pub poll_interval: Duration,
    /// Multiplier applied to the gas estimate, in percent (>= 100).
    pub gas_margin_percent: u64,
    /// A broadcast not mined after this long is replaced with higher fees.
    pub replace_after: Duration,
    /// Fee increase per replacement, in percent (>= 110: nodes refuse a
    /// replacement that raises fees by less than 10%).
    pub fee_bump_percent: u64,
    /// Cap on one transaction's gas limit; a batch estimated above it is
    /// refused with [`EvmError::BatchTooLarge`] (the dispatcher splits it).
    pub max_gas_per_tx: u64,
}

impl SubmitterConfig {
    /// The Inbox at `inbox` on chain `chain_id`, with defaults for the knobs
    /// most deployments leave alone: 1 confirmation, a 500 gwei fee cap,
    /// receipts polled every 50 ms for up to 120 s, a 30% gas margin,
    /// replacement after 30 s with fees +25%, 15M gas (half a 30M block) a
    /// transaction at most.
    pub fn new(chain_id: u64, inbox: Address) -> Self {
        Self {
            chain_id,
            inbox,
            confirmations: 1,
            max_fee_per_gas: 500_000_000_000,
            receipt_timeout: Duration::from_secs(120),
            poll_interval: Duration::from_millis(50),
            gas_margin_percent: 130,
            replace_after: Duration::from_secs(30),
            fee_bump_percent: 125,
            max_gas_per_tx: 15_000_000,
        }
    }
}

/// A batch encoded and simulated, ready to send.
#[derive(Debug, Clone)]
pub struct PreparedBatch {
    /// `deliver(messages, signatures)` calldata.
    pub calldata: Bytes,
    /// Gas limit with margin.
    pub gas_limit: u64,
}

/// A broadcast transaction.
#[derive(Debug, Clone)]
pub struct PendingBatch {
    /// Transaction hash (of the first broadcast).
    pub tx_hash: B256,
    /// Nonce used.
    pub nonce: u64,
    /// When it was broadcast.
    pub sent_at: Instant,
    /// What was sent, kept to re-sign a replacement.
    prepared: PreparedBatch,
    /// Fees of the first broadcast: (maxFeePerGas, maxPriorityFeePerGas).
    pub fees: (u128, u128),
}

/// A batch included at the configured depth.
#[derive(Debug, Clone)]
pub struct Included {
    /// Transaction hash.
    pub tx_hash: B256,
    /// Inclusion block.
    pub block: u64,
    /// Gas the transaction used.
    pub gas_used: u64,
    /// Origin domain of every message the Inbox delivered in this
    /// transaction (`MessageDelivered`); replays are absent.
    pub delivered: Vec<u32>,
    /// Origin domain of every message whose recipient failed (`MessageFailed`).
    pub failed: Vec<u32>,
    /// Ids of the messages delivered, in the order of `delivered`.
    pub delivered_ids: Vec<B256>,
    /// Ids of the messages whose recipient failed, with the revert data as
    /// text (UTF-8 when it is, hex otherwise), in the order of `failed`.
    pub failed_ids: Vec<(B256, String)>,
    /// Replacements broadcast (fee bumps) before one was mined.
    pub replacements: u32,
}

/// Sends batches to one destination's Inbox with one signer key.
pub struct EvmSubmitter {
    pool: RpcPool,
    signer: PrivateKeySigner,
    cfg: SubmitterConfig,
    /// Next nonce to use; `None` = resync from the chain before the next send.
    nonce: Mutex<Option<u64>>,
}

impl std::fmt::Debug for EvmSubmitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvmSubmitter")
            .field("chain", &self.pool.chain())
            .field("signer", &self.signer.address())
            .field("cfg", &self.cfg)
            .finish()
    }
}

impl EvmSubmitter {
    /// A submitter using `key` (hex); `what` names the key's source in errors.
    pub fn new(
        pool: RpcPool,
        key: &str,
        what: &str,
        cfg: SubmitterConfig,
    ) -> Result<Self, EvmError> {
        let signer: PrivateKeySigner = key.trim().parse().map_err(|_| EvmError::Key {
            what: what.to_owned(),
            reason: "expected a 32-byte hex secp256k1 private key".to_owned(),
        })?;
        Ok(Self {
            pool,
            signer,
            cfg,
            nonce: Mutex::new(None),
        })
    }

    /// The signer's address.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// The destination's parameters.
    pub fn config(&self) -> &SubmitterConfig {
        &self.cfg
    }

    /// The Inbox's current threshold, and which of `candidates` are its
    /// enabled attesters: a dispatcher submits only signatures the Inbox
    /// will count, and learns a changed set from the chain itself.
    pub async fn attester_set(&self, candidates: &[Address]) -> Result<(u64, Vec<bool>), EvmError> {
        let inbox = self.cfg.inbox;
        let threshold = crate::deploy::call(&self.pool, inbox, Inbox::thresholdCall {}).await?;
        let mut enabled = Vec::with_capacity(candidates.len());
        for a in candidates {
            enabled.push(
                crate::deploy::call(&self.pool, inbox, Inbox::isAttesterCall { attester: *a })
                    .await?,
            );
        }
        Ok((u64::try_from(threshold).unwrap_or(u64::MAX), enabled))
    }

    /// The signer's balance in wei.
    pub async fn balance(&self) -> Result<U256, EvmError> {
        let addr = self.signer.address();
        self.pool
            .read(
                "eth_getBalance",
                |p| async move { p.get_balance(addr).await },
            )
            .await
    }

    /// Encodes `deliver(messages, signatures)` and simulates it. A simulation
    /// revert is not retryable: the batch itself is bad.
    pub async fn prepare(
        &self,
        messages: Vec<Bytes>,
        signatures: Vec<Bytes>,
    ) -> Result<PreparedBatch, EvmError> {
        let calldata: Bytes = Inbox::deliverCall {
            messages,
            signatures,
        }
        .abi_encode()
        .into();
        let req = TransactionRequest::default()
            .from(self.signer.address())
            .to(self.cfg.inbox)
            .input(calldata.clone().into());
        let req_for_check = req.clone();
        let (provider, label) = self.pool.preferred();
        let timeout = self.pool.policy().timeout;
        let estimate = match tokio::time::timeout(timeout, provider.estimate_gas(req)).await {
            Err(_) => {
                // A hanging endpoint must lose preference like a refusing one.
                self.pool.demote(&label);
                return Err(EvmError::Timeout {
                    method: "eth_estimateGas",
                    after: timeout,
                });
            }
            Ok(Ok(gas)) => gas,
            Ok(Err(e)) => {
                if let Some(resp) = e.as_error_resp() {
                    // Code 3 / "execution reverted": the node simulated and the
                    // call reverts. Anything else is the endpoint's problem.
                    if resp.code == 3 || resp.message.contains("revert") {
                        let reason = format!(
                            "{} {}",
                            resp.message,
                            resp.data.as_ref().map(|d| d.get()).unwrap_or_default()
                        );
                        // A revert splits and in the end dead-letters the
                        // batch: one endpoint's word is not enough for that.
                        return Err(self.confirm_revert(&label, req_for_check, reason).await);
                    }
                }
                self.pool.demote(&label);
                return Err(EvmError::Rpc {
                    method: "eth_estimateGas",
                    endpoint: label,
                    message: switchyard_types::redact::urls_in(&e.to_string()),
                });
            }
        };
        let gas_limit = estimate.saturating_mul(self.cfg.gas_margin_percent.max(100)) / 100;
        if gas_limit > self.cfg.max_gas_per_tx {
            return Err(EvmError::BatchTooLarge {
                gas: gas_limit,
                limit: self.cfg.max_gas_per_tx,
            });
        }
        Ok(PreparedBatch {
            calldata,
            gas_limit,
        })
    }

    /// The error for a simulation that endpoint `label` says reverts with
    /// `reason`: [`EvmError::SimulationReverted`] when every other endpoint
    /// that answers agrees (or there is no other), [`EvmError::Disputed`]
    /// (retryable, preference moved) when one simulates it without a revert
    /// or none of them answers.
    async fn confirm_revert(
        &self,
        label: &str,
        req: TransactionRequest,
        reason: String,
    ) -> EvmError {
        if self.pool.endpoint_count() < 2 {
            return EvmError::SimulationReverted { reason };
        }
        let answers = self
            .pool
            .each("eth_estimateGas", |p| {
                let req = req.clone();
                async move { p.estimate_gas(req).await }
            })
            .await;
        let (mut reverts, mut succeeds) = (0usize, 0usize);
        for a in &answers {
            match a {
                Ok(_) => succeeds += 1,
                Err(EvmError::Rpc { message, .. }) if message.contains("revert") => reverts += 1,
                Err(_) => {}
            }
        }
        // The endpoint that reported the revert answered again among
        // `answers`: a confirmation needs a second one.
        if succeeds == 0 && reverts >= 2 {
            return EvmError::SimulationReverted { reason };
        }
        self.pool.demote(label);
        tracing::warn!(endpoint = %label, reverts, succeeds, "a simulation revert not confirmed by another endpoint: not splitting, trying again");
        EvmError::Disputed {
            what: format!("simulation revert reported by {label}"),
            reason: format!(
                "{reverts} of {} endpoints see the revert, {succeeds} simulate the batch without one",
                answers.len()
            ),
        }
    }

    /// Whether the receipt `r` (from the preferred endpoint) is vouched for:
    /// every other endpoint that holds its block returns the same receipt
    /// (block hash, status, logs), and at least one does. An endpoint that
    /// holds the block but not the receipt refutes it: a lying endpoint can
    /// answer a transaction it swallowed with a receipt placed in a real
    /// block, and acknowledging on its word loses the batch. With a single
    /// endpoint there is no one to ask.
    async fn vouched(
        &self,
        r: &alloy::rpc::types::TransactionReceipt,
    ) -> Result<Vouched, EvmError> {
        let (hash, block) = (r.transaction_hash, r.block_number.unwrap_or_default());
        // With a single endpoint there is no one else to ask (and no call
        // to spend on the delivery path).
        if self.pool.endpoint_count() < 2 {
            return Ok(Vouched::Yes);
        }
        let receipts = self
            .pool
            .each("eth_getTransactionReceipt", |p| async move {
                p.get_transaction_receipt(hash).await
            })
            .await;
        // What the block commits to: its hash, the status and each log's
        // address, topics and data (nodes differ in the fields they add
        // around a log, such as its block timestamp).
        let same = |o: &alloy::rpc::types::TransactionReceipt| {
            o.block_hash == r.block_hash
                && o.status() == r.status()
                && o.inner.logs().len() == r.inner.logs().len()
                && o.inner
                    .logs()
                    .iter()
                    .zip(r.inner.logs())
                    .all(|(a, b)| a.inner == b.inner)
        };
        let agreeing = receipts
            .iter()
            .filter(|x| matches!(x, Ok(Some(o)) if same(o)))
            .count();
        let mut refuted = receipts
            .iter()
            .filter(|x| matches!(x, Ok(Some(o)) if !same(o)))
            .count();
        // Endpoints without the receipt: do they hold its block? Then the
        // transaction is not in it.
        let without: Vec<usize> = receipts
            .iter()
            .enumerate()
            .filter(|(_, x)| matches!(x, Ok(None)))
            .map(|(i, _)| i)
            .collect();
        if !without.is_empty() {
            let blocks = self
                .pool
                .each("eth_getBlockByNumber", |p| async move {
                    p.get_block_by_number(BlockNumberOrTag::Number(block)).await
                })
                .await;
            refuted += without
                .iter()
                .filter(
                    |&&i| matches!(&blocks[i], Ok(Some(b)) if Some(b.header.hash) == r.block_hash),
                )
                .count();
        }
        // Endpoints that could not be asked (down, timing out) neither
        // confirm nor refute. When every other one is unreachable, the
        // receipt stands on its own, as with a single endpoint: a lie then
        // needs the liar and an outage of all the others.
        let unreachable = receipts.iter().filter(|x| x.is_err()).count();
        Ok(if refuted > 0 {
            Vouched::Refuted { agreeing, refuted }
        } else if agreeing >= 2 || (agreeing == 1 && unreachable + 1 == receipts.len()) {
            Vouched::Yes
        } else {
            Vouched::NotYet
        })
    }

    async fn fees(&self) -> Result<(u128, u128), EvmError> {
        let est = self
            .pool
            .read("eth_feeHistory", |p| async move {
                p.estimate_eip1559_fees().await
            })
            .await?;
        let max_fee = est.max_fee_per_gas.min(self.cfg.max_fee_per_gas);
        let tip = est.max_priority_fee_per_gas.min(max_fee);
        Ok((max_fee, tip))
    }

    /// Signs and broadcasts `prepared` once. The nonce is only consumed when
    /// the node accepted the transaction; on "nonce too low" (someone else used
    /// the key, or a restart) the nonce is resynced from the chain and the
    /// error is retryable.
    pub async fn submit(&self, prepared: &PreparedBatch) -> Result<PendingBatch, EvmError> {
        let (max_fee, tip) = self.fees().await?;
        let mut guard = self.nonce.lock().await;
        let nonce = match *guard {
            Some(n) => n,
            None => {
                let addr = self.signer.address();
                self.pool
                    .read("eth_getTransactionCount", |p| async move {
                        p.get_transaction_count(addr)
                            .block_id(BlockNumberOrTag::Pending.into())
                            .await
                    })
                    .await?
            }
        };
        let (tx_hash, raw) = self.sign(prepared, nonce, (max_fee, tip))?;
        // Broadcast exactly once, to one endpoint: a blind re-send elsewhere
        // could race a replacement. A failed broadcast leaves the nonce unused.
        let (provider, label) = self.pool.preferred();
        let timeout = self.pool.policy().timeout;
        match tokio::time::timeout(timeout, provider.send_raw_transaction(&raw)).await {
            Ok(Ok(_)) => {
                *guard = Some(nonce + 1);
                Ok(PendingBatch {
                    tx_hash,
                    nonce,
                    sent_at: Instant::now(),
                    prepared: prepared.clone(),
                    fees: (max_fee, tip),
                })
            }
            Ok(Err(e)) => {
                let msg = e.to_string();
                let lower = msg.to_ascii_lowercase();
                if lower.contains("nonce too low")
                    || lower.contains("already known")
                    || lower.contains("nonce too high")
                    || lower.contains("underpriced")
                {
                    *guard = None;
                } else {
                    self.pool.demote(&label);
                }
                Err(EvmError::Rpc {
                    method: "eth_sendRawTransaction",
                    endpoint: label,
                    message: msg,
                })
            }
            Err(_) => {
                // Unknown whether the node took it: resync before the next
                // send so a gap or a reuse is corrected from the chain.
                *guard = None;
                self.pool.demote(&label);
                Err(EvmError::Timeout {
                    method: "eth_sendRawTransaction",
                    after: timeout,
                })
            }
        }
    }

    /// Signs an `Inbox.deliver` transaction; returns its hash and encoding.
    fn sign(
        &self,
        prepared: &PreparedBatch,
        nonce: u64,
        (max_fee, tip): (u128, u128),
    ) -> Result<(B256, Vec<u8>), EvmError> {
        let mut tx = TxEip1559 {
            chain_id: self.cfg.chain_id,
            nonce,
            gas_limit: prepared.gas_limit,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: tip,
            to: TxKind::Call(self.cfg.inbox),
            value: U256::ZERO,
            access_list: Default::default(),
            input: prepared.calldata.clone(),
        };
        let sig = self
            .signer
            .sign_transaction_sync(&mut tx)
            .map_err(|e| EvmError::Key {
                what: format!("submitter {}", self.signer.address()),
                reason: format!("signing failed: {e}"),
            })?;
        let signed = tx.into_signed(sig);
        let tx_hash = *signed.hash();
        Ok((tx_hash, TxEnvelope::from(signed).encoded_2718()))
    }

    /// Fees of the replacement of a transaction sent with `fees`: both raised
    /// by `fee_bump_percent` (rounded up), the max fee at least the network's
    /// current estimate, all under the cap. `None` when the cap leaves no room
    /// for a bump nodes would accept (at least 10% on both).
    fn bumped(&self, fees: (u128, u128), network_max_fee: u128) -> Option<(u128, u128)> {
        let pct = u128::from(self.cfg.fee_bump_percent.max(110));
        let up = |v: u128| v.saturating_mul(pct).div_ceil(100);
        let max_fee = up(fees.0)
            .max(network_max_fee)
            .min(self.cfg.max_fee_per_gas);
        let tip = up(fees.1).min(max_fee);
        let min_ok = |old: u128, new: u128| new.saturating_mul(100) >= old.saturating_mul(110);
        // Both at least +10% (a zero tip may stay zero), and the max fee
        // strictly higher: otherwise the "replacement" is the same offer.
        (min_ok(fees.0, max_fee) && min_ok(fees.1, tip) && max_fee > fees.0)
            .then_some((max_fee, tip))
    }

    /// Broadcasts a replacement of `pending` (same nonce, higher fees).
    /// Returns its hash and fees, or `None` when no replacement went out
    /// (fees at the cap, or the nonce already used: one of ours was mined).
    async fn replace(
        &self,
        pending: &PendingBatch,
        fees: (u128, u128),
    ) -> Result<Option<(B256, (u128, u128))>, EvmError> {
        let network = self.fees().await.map(|f| f.0).unwrap_or(0);
        let Some(new_fees) = self.bumped(fees, network) else {
            return Ok(None);
        };
        let (hash, raw) = self.sign(&pending.prepared, pending.nonce, new_fees)?;
        let (provider, label) = self.pool.preferred();
        let timeout = self.pool.policy().timeout;
        match tokio::time::timeout(timeout, provider.send_raw_transaction(&raw)).await {
            Ok(Ok(_)) => Ok(Some((hash, new_fees))),
            Ok(Err(e)) => {
                let lower = e.to_string().to_ascii_lowercase();
                if lower.contains("nonce too low") || lower.contains("already known") {
                    // Mined (or this exact replacement known): the receipt
                    // loop finds whichever it was.
                    Ok(None)
                } else {
                    self.pool.demote(&label);
                    Err(EvmError::Rpc {
                        method: "eth_sendRawTransaction",
                        endpoint: label,
                        message: switchyard_types::redact::urls_in(&e.to_string()),
                    })
                }
            }
            Err(_) => {
                self.pool.demote(&label);
                // Maybe accepted: keep watching its hash too.
                Ok(Some((hash, new_fees)))
            }
        }
    }

    /// Waits until `pending` (or one of its replacements) is included
    /// `confirmations` deep in a block that is still canonical, with a
    /// receipt the other endpoints vouch for ([`EvmSubmitter::vouched`]);
    /// replaces it with higher fees each `replace_after` it stays unmined. A
    /// reverted transaction is an error; so are inclusion in a block that
    /// was then reorganised away and a receipt another endpoint refutes
    /// (retryable: the batch is sent again).
    pub async fn confirm(&self, pending: &PendingBatch) -> Result<Included, EvmError> {
        let deadline = pending.sent_at + self.cfg.receipt_timeout;
        let mut hashes = vec![pending.tx_hash];
        let mut fees = pending.fees;
        let mut last_broadcast = pending.sent_at;
        loop {
            let mut receipt = None;
            for &h in hashes.iter().rev() {
                let r = self
                    .pool
                    .read("eth_getTransactionReceipt", |p| async move {
                        p.get_transaction_receipt(h).await
                    })
                    .await?;
                if r.is_some() {
                    receipt = r;
                    break;
                }
            }
            if receipt.is_none() && last_broadcast.elapsed() >= self.cfg.replace_after {
                match self.replace(pending, fees).await {
                    Ok(Some((h, f))) => {
                        tracing::info!(nonce = pending.nonce, old_max_fee = fees.0, new_max_fee = f.0, tx_hash = %h, "transaction not mined in time: replaced with higher fees");
                        hashes.push(h);
                        fees = f;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(err = %e, "replacement broadcast failed; will try again")
                    }
                }
                last_broadcast = Instant::now();
            }
            if let Some(r) = receipt {
                let hash = r.transaction_hash;
                let block = r.block_number.unwrap_or_default();
                if !r.status() {
                    return Err(EvmError::Reverted {
                        tx_hash: hash.to_string(),
                        block,
                    });
                }
                let head = self
                    .pool
                    .read(
                        "eth_blockNumber",
                        |p| async move { p.get_block_number().await },
                    )
                    .await?;
                if head >= block + self.cfg.confirmations {
                    if self.cfg.confirmations > 0 {
                        // Still canonical? A reorg may have dropped the block.
                        let canonical = self
                            .pool
                            .read("eth_getBlockByNumber", |p| async move {
                                p.get_block_by_number(BlockNumberOrTag::Number(block)).await
                            })
                            .await?
                            .map(|b| b.header.hash);
                        if canonical != r.block_hash {
                            *self.nonce.lock().await = None;
                            return Err(EvmError::NotFound {
                                what: format!(
                                    "transaction {hash} (block {block} reorganised away)"
                                ),
                            });
                        }
                    }
                    match self.vouched(&r).await? {
                        Vouched::Yes => return Ok(self.included(&r, hashes.len())),
                        // Another endpoint is behind: ask again next poll.
                        Vouched::NotYet => {}
                        Vouched::Refuted { agreeing, refuted } => {
                            // The transaction may never have reached the
                            // chain: resync the nonce, and send through
                            // another endpoint next time.
                            *self.nonce.lock().await = None;
                            self.pool.rotate();
                            tracing::warn!(tx_hash = %hash, block, agreeing, refuted, "a receipt other endpoints refute: the batch is not acknowledged and is sent again");
                            return Err(EvmError::Disputed {
                                what: format!("receipt of transaction {hash} in block {block}"),
                                reason: format!(
                                    "{refuted} endpoint(s) hold block {block} without it or with another receipt, {agreeing} return it"
                                ),
                            });
                        }
                    }
                }
            }
            if Instant::now() >= deadline {
                *self.nonce.lock().await = None;
                return Err(EvmError::Timeout {
                    method: "eth_getTransactionReceipt",
                    after: self.cfg.receipt_timeout,
                });
            }
            tokio::time::sleep(self.cfg.poll_interval).await;
        }
    }
}

impl EvmSubmitter {
    /// What receipt `r` says the Inbox did, after `sent` broadcasts.
    fn included(&self, r: &alloy::rpc::types::TransactionReceipt, sent: usize) -> Included {
        let (mut delivered, mut failed) = (Vec::new(), Vec::new());
        let (mut delivered_ids, mut failed_ids) = (Vec::new(), Vec::new());
        for log in r.inner.logs() {
            if log.address() != self.cfg.inbox {
                continue;
            }
            if let Ok(ev) = Inbox::MessageDelivered::decode_log(&log.inner) {
                delivered.push(ev.data.origin);
                delivered_ids.push(ev.data.id);
            } else if let Ok(ev) = Inbox::MessageFailed::decode_log(&log.inner) {
                failed.push(ev.data.origin);
                failed_ids.push((ev.data.id, revert_text(&ev.data.reason)));
            }
        }
        Included {
            tx_hash: r.transaction_hash,
            block: r.block_number.unwrap_or_default(),
            gas_used: r.gas_used,
            delivered,
            failed,
            delivered_ids,
            failed_ids,
            replacements: u32::try_from(sent.saturating_sub(1)).unwrap_or(u32::MAX),
        }
    }
}

/// What the other endpoints say of a receipt (see [`EvmSubmitter::vouched`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Vouched {
    /// Confirmed by another endpoint (or there is no other).
    Yes,
    /// No other endpoint has its block yet.
    NotYet,
    /// An endpoint holding its block does not have it, or has another.
    Refuted { agreeing: usize, refuted: usize },
}

/// Several signer keys delivering to one destination in parallel. Each key
/// has its own nonce sequence, so a transaction stuck on one key holds up
/// only that key's later ones; batches go to the key with the fewest
/// unconfirmed transactions.
#[derive(Debug)]
pub struct Signers {
    subs: Vec<EvmSubmitter>,
    load: Vec<std::sync::atomic::AtomicUsize>,
    next: std::sync::atomic::AtomicUsize,
}

/// A batch broadcast by one of [`Signers`]' keys.
#[derive(Debug, Clone)]
pub struct SignedPending {
    /// Index of the key in [`Signers::submitters`].
    pub signer: usize,
    /// The broadcast.
    pub pending: PendingBatch,
}

/// Releases a key's load count when dropped (a cancelled confirmation too).
struct LoadGuard<'a> {
    load: &'a std::sync::atomic::AtomicUsize,
    armed: bool,
}

impl Drop for LoadGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.load.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

impl Signers {
    /// Keys `subs` for one destination: at least one, all distinct; `what`
    /// names them in errors (a config path).
    pub fn new(subs: Vec<EvmSubmitter>, what: &str) -> Result<Self, EvmError> {
        if subs.is_empty() {
            return Err(EvmError::Key {
                what: what.to_owned(),
                reason: "expected at least one key, got none".into(),
            });
        }
        for (i, s) in subs.iter().enumerate() {
            if let Some(j) = subs[..i].iter().position(|o| o.address() == s.address()) {
                return Err(EvmError::Key {
                    what: what.to_owned(),
                    reason: format!(
                        "key {i} repeats key {j} (address {}): keys must be distinct or their nonces collide",
                        s.address()
                    ),
                });
            }
        }
        let load = subs
            .iter()
            .map(|_| std::sync::atomic::AtomicUsize::new(0))
            .collect();
        Ok(Self {
            subs,
            load,
            next: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// The keys' submitters, in configuration order.
    pub fn submitters(&self) -> &[EvmSubmitter] {
        &self.subs
    }

    /// The least-loaded key, ties broken round-robin.
    fn pick(&self) -> usize {
        use std::sync::atomic::Ordering::Relaxed;
        let n = self.subs.len();
        let start = self.next.fetch_add(1, Relaxed) % n;
        (0..n)
            .map(|k| (start + k) % n)
            .min_by_key(|&i| self.load[i].load(Relaxed))
            .unwrap_or(0)
    }

    /// Simulates and broadcasts the batch with the least-loaded key.
    pub async fn submit(
        &self,
        messages: Vec<Bytes>,
        signatures: Vec<Bytes>,
    ) -> Result<SignedPending, EvmError> {
        let i = self.pick();
        self.load[i].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut guard = LoadGuard {
            load: &self.load[i],
            armed: true,
        };
        let sub = &self.subs[i];
        let prepared = sub.prepare(messages, signatures).await?;
        let pending = sub.submit(&prepared).await?;
        // Stays counted until `confirm` ends.
        guard.armed = false;
        Ok(SignedPending { signer: i, pending })
    }

    /// Confirms a batch sent by [`Signers::submit`].
    pub async fn confirm(&self, p: SignedPending) -> Result<Included, EvmError> {
        let _guard = LoadGuard {
            load: &self.load[p.signer],
            armed: true,
        };
        self.subs[p.signer].confirm(&p.pending).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::RpcPolicy;

    fn submitter(cap: u128, bump: u64) -> EvmSubmitter {
        let pool =
            RpcPool::new("t", &["http://127.0.0.1:9".into()], RpcPolicy::default()).expect("url");
        EvmSubmitter::new(
            pool,
            "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
            "test",
            SubmitterConfig {
                max_fee_per_gas: cap,
                fee_bump_percent: bump,
                ..SubmitterConfig::new(1, Address::ZERO)
            },
        )
        .expect("key")
    }

    #[test]
    fn replacement_fees_rise_at_least_ten_percent_and_respect_the_cap() {
        let s = submitter(1_000, 125);
        assert_eq!(s.bumped((100, 10), 0), Some((125, 13)), "rounded up");
        // The network moved further than the bump: follow it.
        assert_eq!(s.bumped((100, 10), 300), Some((300, 13)));
        // A zero tip may stay zero; the max fee still rises.
        assert_eq!(s.bumped((100, 0), 0), Some((125, 0)));
        // Capped: 950 * 1.25 is over 1,000; 1,000 is only +5.3%: no
        // replacement nodes would accept.
        assert_eq!(s.bumped((950, 10), 0), None);
        assert_eq!(s.bumped((900, 10), 0), Some((1_000, 13)));
        // A configured bump under 10% is raised to 10%.
        let low = submitter(1_000, 105);
        assert_eq!(low.bumped((100, 10), 0), Some((110, 11)));
    }
}

/// Revert data as an operator reads it: `Error(string)`'s text, other UTF-8
/// as is, anything else as hex (custom errors, panics).
pub fn revert_text(data: &[u8]) -> String {
    // Error(string): selector 0x08c379a0, then the ABI-encoded string.
    if data.len() >= 68 && data[..4] == [0x08, 0xc3, 0x79, 0xa0] {
        let len = alloy::primitives::U256::from_be_slice(&data[36..68]);
        if let Ok(len) = usize::try_from(len)
            && let Some(text) = data.get(68..68usize.saturating_add(len))
            && let Ok(t) = std::str::from_utf8(text)
        {
            return t.to_owned();
        }
    }
    if data.is_empty() {
        return "reverted without data".to_owned();
    }
    match std::str::from_utf8(data) {
        Ok(t) if t.chars().all(|c| !c.is_control()) => t.to_owned(),
        _ => format!("0x{}", alloy::primitives::hex::encode(data)),
    }
}

#[cfg(test)]
mod revert_tests {
    use super::revert_text;

    #[test]
    fn error_string_is_decoded_and_other_data_is_hex() {
        let mut d = vec![0x08, 0xc3, 0x79, 0xa0];
        d.extend_from_slice(&[0u8; 31]);
        d.push(32);
        d.extend_from_slice(&[0u8; 31]);
        d.push(5);
        d.extend_from_slice(b"nope!");
        d.extend_from_slice(&[0u8; 27]);
        assert_eq!(revert_text(&d), "nope!");
        assert_eq!(
            revert_text(&[0x4e, 0x48, 0x7b, 0x71, 0, 1]),
            "0x4e487b710001"
        );
        assert_eq!(revert_text(&[]), "reverted without data");
        // A length past the data is not trusted.
        d[67] = 200;
        assert!(revert_text(&d).starts_with("0x08c379a0"));
    }
}
