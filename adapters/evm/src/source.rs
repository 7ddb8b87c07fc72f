//! What an origin watcher reads from an EVM chain, converted to the light
//! client's types. Nothing here is trusted: the header's hash, the link to
//! its parent and the receipts root are all recomputed by the light client.

use alloy::consensus::ReceiptEnvelope;
use alloy::eips::{BlockId, BlockNumberOrTag};
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, TransactionRequest};
use switchyard_lc_evm::{Header, Log, Receipt, TxType};

use crate::EvmError;
use crate::rpc::RpcPool;

/// Reads heads, headers and block receipts of one chain.
#[derive(Debug, Clone)]
pub struct EvmSource {
    pool: RpcPool,
}

impl EvmSource {
    /// A source over `pool`.
    pub fn new(pool: RpcPool) -> Self {
        Self { pool }
    }

    /// The pool (for its chain name and policy).
    pub fn pool(&self) -> &RpcPool {
        &self.pool
    }

    /// The chain's latest block number (a stale endpoint loses preference:
    /// [`RpcPool::block_number`]).
    pub async fn head(&self) -> Result<u64, EvmError> {
        self.pool.block_number().await
    }

    /// Header `number` and the hash the node claims for it (the light client
    /// recomputes it and rejects a mismatch).
    pub async fn header(&self, number: u64) -> Result<(Header, B256), EvmError> {
        let block = self
            .pool
            .read("eth_getBlockByNumber", |p| async move {
                p.get_block_by_number(BlockNumberOrTag::Number(number))
                    .await
            })
            .await?
            .ok_or_else(|| EvmError::NotFound {
                what: format!("block {number}"),
            })?;
        let (header, claimed) = convert_header(block);
        if header.number != number {
            return Err(EvmError::Malformed {
                what: "block header",
                reason: format!("asked for block {number}, node returned {}", header.number),
            });
        }
        Ok((header, claimed))
    }

    /// The header whose hash is `hash`, if the node has it. The hash is
    /// recomputed: a header that does not hash to `hash` is refused
    /// ([`EvmError::Malformed`]), so what comes back is exactly the block
    /// asked for, whoever served it.
    pub async fn header_by_hash(&self, hash: B256) -> Result<Option<Header>, EvmError> {
        let Some(block) = self
            .pool
            .read("eth_getBlockByHash", |p| async move {
                p.get_block_by_hash(hash).await
            })
            .await?
        else {
            return Ok(None);
        };
        let (header, _) = convert_header(block);
        let computed = header.hash();
        if computed != hash {
            return Err(EvmError::Malformed {
                what: "block header",
                reason: format!("asked for block {hash}, node returned one hashing to {computed}"),
            });
        }
        Ok(Some(header))
    }

    /// Every endpoint's hash for block `number`, asked independently and in
    /// endpoint order: `None` where an endpoint failed, timed out or does not
    /// have the block (yet). A vote, not evidence: the watcher routes a block
    /// only when enough endpoints name the hash its light client holds.
    pub async fn block_hashes(&self, number: u64) -> Vec<Option<B256>> {
        self.pool
            .each("eth_getBlockByNumber", |p| async move {
                p.get_block_by_number(BlockNumberOrTag::Number(number))
                    .await
            })
            .await
            .into_iter()
            .map(|answer| match answer {
                Ok(Some(block)) if block.header.number == number => Some(block.header.hash),
                _ => None,
            })
            .collect()
    }

    /// All receipts of block `number`, in transaction order.
    pub async fn receipts(&self, number: u64) -> Result<Vec<Receipt>, EvmError> {
        Ok(self.receipts_with_hashes(number).await?.0)
    }

    /// All receipts of block `number`, in transaction order, and the
    /// transaction hashes the node gives with them. The hashes are not
    /// proven by the receipts root: the hub only shows them (status API).
    pub async fn receipts_with_hashes(
        &self,
        number: u64,
    ) -> Result<(Vec<Receipt>, Vec<B256>), EvmError> {
        let receipts = self
            .pool
            .read("eth_getBlockReceipts", |p| async move {
                p.get_block_receipts(BlockNumberOrTag::Number(number).into())
                    .await
            })
            .await?
            .ok_or_else(|| EvmError::NotFound {
                what: format!("receipts of block {number}"),
            })?;
        receipts
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                if let Some(idx) = r.transaction_index
                    && idx != i as u64
                {
                    return Err(EvmError::Malformed {
                        what: "block receipts",
                        reason: format!(
                            "block {number}: receipt at position {i} has transactionIndex {idx}"
                        ),
                    });
                }
                Ok((receipt_from_rpc(r.inner)?, r.transaction_hash))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|v| v.into_iter().unzip())
    }
}

/// An account's `eth_getProof` answer at one block. Nothing in it is
/// trusted: the rollup light client walks every proof from a state root it
/// verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountProof {
    /// The account.
    pub address: Address,
    /// Its storage root, as the node claims it.
    pub storage_hash: B256,
    /// State trie nodes from the root to the account.
    pub account_proof: Vec<Bytes>,
    /// The slots asked for, in the order asked.
    pub slots: Vec<SlotProof>,
}

/// One storage slot of an [`AccountProof`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotProof {
    /// The slot (before hashing).
    pub key: B256,
    /// Its value, as the node claims it.
    pub value: U256,
    /// Storage trie nodes from the account's storage root to the slot.
    pub proof: Vec<Bytes>,
}

/// Most slots asked for in one `eth_getProof`: what a rollup proof needs
/// (at most two), with room; bounds the answer before the byte bound does.
pub const MAX_PROOF_SLOTS: usize = 16;

/// Most blocks one `eth_getLogs` asks for: within what public providers
/// serve (many refuse more than a few thousand).
pub const MAX_LOG_RANGE: u64 = 1_000;

impl EvmSource {
    /// `eth_getProof` of `address` and its `slots` at block `at` (by hash,
    /// EIP-1898: a node that has another block at that height answers for
    /// the block asked, or fails; or by number). The answer must name the
    /// account and the slots asked, in order; the proofs themselves are
    /// checked by the caller's light client.
    pub async fn proof(
        &self,
        address: Address,
        slots: &[B256],
        at: BlockId,
    ) -> Result<AccountProof, EvmError> {
        if slots.len() > MAX_PROOF_SLOTS {
            return Err(EvmError::Malformed {
                what: "eth_getProof request",
                reason: format!(
                    "expected at most {MAX_PROOF_SLOTS} slots, got {}",
                    slots.len()
                ),
            });
        }
        let keys: Vec<B256> = slots.to_vec();
        let r = self
            .pool
            .read("eth_getProof", |p| {
                let keys = keys.clone();
                async move { p.get_proof(address, keys).block_id(at).await }
            })
            .await?;
        let asked: Vec<B256> = r.storage_proof.iter().map(|s| s.key.as_b256()).collect();
        if r.address != address || asked != slots {
            return Err(EvmError::Malformed {
                what: "eth_getProof answer",
                reason: format!(
                    "asked for {address} slots {slots:?} at block {at}, got {} slots {asked:?}",
                    r.address
                ),
            });
        }
        Ok(AccountProof {
            address,
            storage_hash: r.storage_hash,
            account_proof: r.account_proof,
            slots: r
                .storage_proof
                .into_iter()
                .map(|s| SlotProof {
                    key: s.key.as_b256(),
                    value: s.value,
                    proof: s.proof,
                })
                .collect(),
        })
    }

    /// The logs of `address` with `topic0` (and `topic1`, when given) in
    /// blocks `from..=to`, at most [`MAX_LOG_RANGE`] blocks. What one
    /// endpoint says was emitted: a hint (where a proposal's parts are),
    /// never evidence; every log is checked to be of the address, topics
    /// and range asked.
    pub async fn logs(
        &self,
        address: Address,
        topic0: B256,
        topic1: Option<B256>,
        from: u64,
        to: u64,
    ) -> Result<Vec<alloy::rpc::types::Log>, EvmError> {
        if to < from || to - from >= MAX_LOG_RANGE {
            return Err(EvmError::Malformed {
                what: "eth_getLogs request",
                reason: format!(
                    "expected a range of 1..={MAX_LOG_RANGE} blocks, got {from}..={to}"
                ),
            });
        }
        let mut filter = Filter::new()
            .address(address)
            .event_signature(topic0)
            .from_block(from)
            .to_block(to);
        if let Some(t) = topic1 {
            filter = filter.topic1(t);
        }
        let logs = self
            .pool
            .read("eth_getLogs", |p| {
                let filter = filter.clone();
                async move { p.get_logs(&filter).await }
            })
            .await?;
        for l in &logs {
            let topics = l.topics();
            let in_range = l.block_number.is_some_and(|n| (from..=to).contains(&n));
            if l.address() != address
                || topics.first() != Some(&topic0)
                || topic1.is_some_and(|t| topics.get(1) != Some(&t))
                || !in_range
            {
                return Err(EvmError::Malformed {
                    what: "eth_getLogs answer",
                    reason: format!(
                        "asked for logs of {address} with topic {topic0} in blocks {from}..={to}, got one of {} with topics {topics:?} in block {:?}",
                        l.address(),
                        l.block_number
                    ),
                });
            }
        }
        Ok(logs)
    }

    /// `eth_call` of `data` to `to` at block `at`. The result is what one
    /// endpoint says a contract returns: a hint (which proposal to prove),
    /// never evidence.
    pub async fn call(&self, to: Address, data: Bytes, at: BlockId) -> Result<Bytes, EvmError> {
        let req = TransactionRequest::default().to(to).input(data.into());
        self.pool
            .read("eth_call", |p| {
                let req = req.clone();
                async move { p.call(req).block(at).await }
            })
            .await
    }
}

/// A JSON-RPC block's header in the light client's form, and the hash the
/// node claims for it.
fn convert_header(block: alloy::rpc::types::Block) -> (Header, B256) {
    let h = block.header.inner;
    let header = Header {
        parent_hash: h.parent_hash,
        ommers_hash: h.ommers_hash,
        beneficiary: h.beneficiary,
        state_root: h.state_root,
        transactions_root: h.transactions_root,
        receipts_root: h.receipts_root,
        logs_bloom: h.logs_bloom,
        difficulty: h.difficulty,
        number: h.number,
        gas_limit: h.gas_limit,
        gas_used: h.gas_used,
        timestamp: h.timestamp,
        extra_data: h.extra_data,
        mix_hash: h.mix_hash,
        nonce: h.nonce,
        base_fee_per_gas: h.base_fee_per_gas,
        withdrawals_root: h.withdrawals_root,
        blob_gas_used: h.blob_gas_used,
        excess_blob_gas: h.excess_blob_gas,
        parent_beacon_block_root: h.parent_beacon_block_root,
        requests_hash: h.requests_hash,
    };
    (header, block.header.hash)
}

/// A JSON-RPC receipt in the light client's form (what the receipts root
/// commits to: type, status, cumulative gas, bloom, logs).
pub fn receipt_from_rpc(
    envelope: ReceiptEnvelope<alloy::rpc::types::Log>,
) -> Result<Receipt, EvmError> {
    let tx_type = TxType::try_from(envelope.tx_type() as u8).map_err(|e| EvmError::Malformed {
        what: "receipt",
        reason: e.to_string(),
    })?;
    let (receipt, bloom) = match envelope {
        ReceiptEnvelope::Legacy(r)
        | ReceiptEnvelope::Eip2930(r)
        | ReceiptEnvelope::Eip1559(r)
        | ReceiptEnvelope::Eip4844(r)
        | ReceiptEnvelope::Eip7702(r) => (r.receipt, r.logs_bloom),
    };
    Ok(Receipt {
        tx_type,
        status: receipt.status.coerce_status(),
        cumulative_gas_used: receipt.cumulative_gas_used,
        logs_bloom: bloom,
        logs: receipt
            .logs
            .into_iter()
            .map(|l| Log {
                address: l.inner.address,
                topics: l.inner.data.topics().to_vec(),
                data: l.inner.data.data,
            })
            .collect(),
    })
}
