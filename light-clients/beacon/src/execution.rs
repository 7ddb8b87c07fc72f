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
