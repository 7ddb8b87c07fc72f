//! From a verified beacon header to the execution layer: the light-client
//! header's execution payload header (proven by its SSZ branch into the
//! beacon block body) fixes the execution block hash, so an execution block
//! header that hashes to it is as trusted as the beacon header, and its
//! receipts root anchors message proofs exactly as in the EVM header-chain
//! client (`switchyard_lc_evm`: receipts-root recomputation, then log
//! extraction).

use switchyard_lc_evm::{BlockRef, Header};

use crate::config::ChainSpec;
use crate::error::{Error, Result};
use crate::types::LightClientHeader;

/// Checks that `execution` is the execution block `beacon` commits to and
/// returns it as the EVM client's trusted anchor (number and hash).
///
/// `beacon` must come from a verified store (finalized or optimistic
/// header): this function re-checks its execution branch but not its
/// signatures.
pub fn bind_execution(
    beacon: &LightClientHeader,
    spec: &ChainSpec,
    execution: &Header,
) -> Result<BlockRef> {
    beacon.validate(spec)?;
    let payload = beacon.execution.as_ref().ok_or(Error::NoExecutionPayload {
        slot: beacon.beacon.slot,
    })?;
    let mismatch = |field, expected: String, got: String| Error::ExecutionHeaderMismatch {
        field,
        expected,
        got,
    };
    // The hash covers every header field; the number and receipts root are
    // compared on their own too so that an error names the field.
    if execution.number != payload.block_number() {
        return Err(mismatch(
            "block number",
            payload.block_number().to_string(),
            execution.number.to_string(),
        ));
    }
    if execution.receipts_root != payload.receipts_root() {
        return Err(mismatch(
            "receipts root",
            payload.receipts_root().to_string(),
            execution.receipts_root.to_string(),
        ));
    }
    let hash = execution.hash();
    if hash != payload.block_hash() {
        return Err(mismatch(
            "block hash",
            payload.block_hash().to_string(),
            hash.to_string(),
        ));
    }
    Ok(BlockRef {
        number: execution.number,
        hash,
    })
}

/// keccak256(rlp([])): post-merge blocks have no ommers.
const EMPTY_OMMERS: alloy_primitives::B256 =
    alloy_primitives::b256!("1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347");

#[derive(alloy_rlp::RlpEncodable)]
struct Withdrawal {
    index: u64,
    validator_index: u64,
    address: alloy_primitives::Address,
    amount: u64,
}

/// Rebuilds the execution block header from a beacon block's execution
/// payload (the beacon API's `/eth/v2/beacon/blocks/{id}` JSON, Capella or
/// Deneb): the transactions and withdrawals tries are recomputed from the
/// payload, so the result hashes to the payload's block hash only if the
/// payload is complete and unaltered (which [`bind_execution`] then checks
/// against a verified header). Electra payloads need the execution
/// requests' hash and are refused.
pub fn header_from_beacon_block_json(text: &str) -> Result<Header> {
    use alloy_primitives::{B64, B256, Bytes, U256};
    use switchyard_lc_evm::trie::trie_root;
    let bad = |reason: String| Error::decode("beacon block", reason);
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let version = v["version"].as_str().unwrap_or("");
    if !matches!(version, "capella" | "deneb") {
        return Err(bad(format!(
            "version {version:?}: expected \"capella\" or \"deneb\""
        )));
    }
    let p = &v["data"]["message"]["body"]["execution_payload"];
    fn field<T: std::str::FromStr>(p: &serde_json::Value, k: &str) -> Result<T> {
        p[k].as_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
            Error::decode(
                "beacon block",
                format!(
                    "execution_payload.{k}: expected a hex or decimal string, got {}",
                    p[k]
                ),
            )
        })
    }
    let list = |k: &str| {
        p[k].as_array()
            .ok_or_else(|| bad(format!("execution_payload.{k}: expected a list")))
    };
    let txs = list("transactions")?
        .iter()
        .map(|t| {
            t.as_str()
                .and_then(|s| s.parse::<Bytes>().ok())
                .ok_or_else(|| bad(format!("transaction {t}: expected hex")))
        })
        .collect::<Result<Vec<Bytes>>>()?;
    let withdrawals = list("withdrawals")?
        .iter()
        .map(|w| {
            Ok(Withdrawal {
                index: field(w, "index")?,
                validator_index: field(w, "validator_index")?,
                address: field(w, "address")?,
                amount: field(w, "amount")?,
            })
        })
        .collect::<Result<Vec<Withdrawal>>>()?;
    // Both tries are keyed by rlp(index) in block order.
    let transactions_root = trie_root(
        txs.iter()
            .enumerate()
            .map(|(i, tx)| (alloy_rlp::encode(i as u64), tx.to_vec())),
    );
    let withdrawals_root = trie_root(
        withdrawals
            .iter()
            .enumerate()
            .map(|(i, w)| (alloy_rlp::encode(i as u64), alloy_rlp::encode(w))),
    );
    let deneb = version == "deneb";
    Ok(Header {
        parent_hash: field(p, "parent_hash")?,
        ommers_hash: EMPTY_OMMERS,
        beneficiary: field(p, "fee_recipient")?,
        state_root: field(p, "state_root")?,
        transactions_root,
        receipts_root: field(p, "receipts_root")?,
        logs_bloom: field(p, "logs_bloom")?,
        difficulty: U256::ZERO,
        number: field(p, "block_number")?,
        gas_limit: field(p, "gas_limit")?,
        gas_used: field(p, "gas_used")?,
        timestamp: field(p, "timestamp")?,
        extra_data: field(p, "extra_data")?,
        mix_hash: field(p, "prev_randao")?,
        nonce: B64::ZERO,
        base_fee_per_gas: Some(field(p, "base_fee_per_gas")?),
        withdrawals_root: Some(withdrawals_root),
        blob_gas_used: if deneb {
            Some(field(p, "blob_gas_used")?)
        } else {
            None
        },
        excess_blob_gas: if deneb {
            Some(field(p, "excess_blob_gas")?)
        } else {
            None
        },
        // EIP-4788: the parent beacon block root is the block's parent_root.
        parent_beacon_block_root: if deneb {
            Some(field::<B256>(&v["data"]["message"], "parent_root")?)
        } else {
            None
        },
        requests_hash: None,
    })
}
