//! Destination submitter: `Inbox.deliver` transactions with their own nonce
//! tracking and EIP-1559 fees, in three explicit steps: `prepare` (encode and
//! simulate), `submit` (sign and broadcast once), `confirm` (wait for the
//! receipt at the configured depth, and check the block is still canonical).

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
    /// Transaction hash.
    pub tx_hash: B256,
    /// Nonce used.
    pub nonce: u64,
    /// When it was broadcast.
    pub sent_at: Instant,
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
                        return Err(EvmError::SimulationReverted {
                            reason: format!(
                                "{} {}",
                                resp.message,
                                resp.data.as_ref().map(|d| d.get()).unwrap_or_default()
                            ),
                        });
                    }
                }
                self.pool.demote(&label);
                return Err(EvmError::Rpc {
                    method: "eth_estimateGas",
                    endpoint: label,
                    message: e.to_string(),
                });
            }
        };
        let gas_limit = estimate.saturating_mul(self.cfg.gas_margin_percent.max(100)) / 100;
        Ok(PreparedBatch {
            calldata,
            gas_limit,
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
        let raw = TxEnvelope::from(signed).encoded_2718();
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

    /// Waits until `pending` is included `confirmations` deep in a block that
    /// is still canonical. A reverted transaction is an error.
    pub async fn confirm(&self, pending: &PendingBatch) -> Result<Included, EvmError> {
        let deadline = pending.sent_at + self.cfg.receipt_timeout;
        let hash = pending.tx_hash;
        loop {
            let receipt = self
                .pool
                .read("eth_getTransactionReceipt", |p| async move {
                    p.get_transaction_receipt(hash).await
                })
                .await?;
            if let Some(r) = receipt {
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
                    let (mut delivered, mut failed) = (Vec::new(), Vec::new());
                    for log in r.inner.logs() {
                        if log.address() != self.cfg.inbox {
                            continue;
                        }
                        if let Ok(ev) = Inbox::MessageDelivered::decode_log(&log.inner) {
                            delivered.push(ev.data.origin);
                        } else if let Ok(ev) = Inbox::MessageFailed::decode_log(&log.inner) {
                            failed.push(ev.data.origin);
                        }
                    }
                    return Ok(Included {
                        tx_hash: hash,
                        block,
                        gas_used: r.gas_used,
                        delivered,
                        failed,
                    });
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
