//! The one error type of the crate.

use alloy_primitives::B256;

/// Why an input was refused.
///
/// Every variant carries the values that were wrong (expected and got, and
/// the height when there is one) so that a log line alone explains the
/// refusal; [`Error::reason`] gives a bounded label for metrics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ----- RLP -----
    /// The input ended inside an item.
    #[error("rlp truncated at byte {offset}: item needs {needed} bytes, {available} available")]
    RlpTruncated {
        /// Offset of the item's first byte.
        offset: usize,
        /// Bytes the item declares (header and payload).
        needed: usize,
        /// Bytes left in the input from `offset`.
        available: usize,
    },
    /// Bytes left after the one item the input must hold.
    #[error("rlp trailing bytes: item is {expected} bytes, input is {got}")]
    RlpTrailingBytes {
        /// Length of the item.
        expected: usize,
        /// Length of the input.
        got: usize,
    },
    /// An encoding that decodes but is not the one canonical encoding.
    #[error("non-canonical rlp at byte {offset}: {what}")]
    RlpNonCanonical {
        /// Offset of the offending byte.
        offset: usize,
        /// Which canonical rule is broken.
        what: &'static str,
    },
    /// A list where a string was expected, or the reverse.
    #[error("rlp field {field} at byte {offset}: expected a {expected}, got a {got}")]
    RlpUnexpectedKind {
        /// The field being decoded.
        field: &'static str,
        /// Offset of the item.
        offset: usize,
        /// "list" or "string".
        expected: &'static str,
        /// "list" or "string".
        got: &'static str,
    },
    /// A fixed-size field (hash, address, bloom, nonce) of the wrong length.
    #[error("rlp field {field}: expected {expected} bytes, got {got}")]
    RlpFieldLength {
        /// The field being decoded.
        field: &'static str,
        /// Its fixed length.
        expected: usize,
        /// The length found.
        got: usize,
    },
    /// An integer field longer than its type.
    #[error("rlp integer {field}: at most {max_bytes} bytes, got {got}")]
    RlpIntegerOverflow {
        /// The field being decoded.
        field: &'static str,
        /// Width of the integer type.
        max_bytes: usize,
        /// The length found.
        got: usize,
    },
    /// Lists nested deeper than the decoder follows (a guard against stack
    /// exhaustion by hostile input; no consensus object nests this deep).
    #[error("rlp nested deeper than {limit} lists")]
    RlpTooDeep {
        /// The nesting limit.
        limit: usize,
    },

    // ----- headers and receipts -----
    /// A header list whose length matches no fork layout.
    #[error("header has {got} fields, expected 15, 16, 17, 20 or 21")]
    HeaderFieldCount {
        /// Number of fields found.
        got: usize,
    },
    /// A fork field present while a field of an earlier fork is absent (the
    /// trailing fields of EIP-1559, EIP-4895, EIP-4844/4788 and EIP-7685
    /// come only in that order).
    #[error("header {height}: {field} is present but {missing} is absent")]
    HeaderLayout {
        /// Block number.
        height: u64,
        /// The field present.
        field: &'static str,
        /// The earlier field missing.
        missing: &'static str,
    },
    /// A receipt type other than legacy (0) and the EIP-2718 types 1 to 4.
    #[error("unsupported receipt type: expected 0..=4, got {got}")]
    UnsupportedReceiptType {
        /// The type byte found.
        got: u8,
    },
    /// A receipt status other than the EIP-658 values 0 and 1.
    #[error("receipt status: expected 0 or 1, got {got}")]
    ReceiptStatus {
        /// The status byte found.
        got: u8,
    },

    // ----- header chain -----
    /// Configuration in which a confirmed block would already be pruned.
    #[error("window of {max_window} headers too small for {confirmations} confirmations")]
    WindowTooSmall {
        /// The configured window.
        max_window: usize,
        /// The configured confirmation depth (the window must exceed it).
        confirmations: u64,
    },
    /// Persisted state whose window does not continue its checkpoint.
    #[error("corrupt state at height {height}: {what} expected {expected}, got {got}")]
    CorruptState {
        /// Height of the offending entry.
        height: u64,
        /// Which link is broken ("number" or "parent_hash").
        what: &'static str,
        /// What the previous entry requires.
        expected: String,
        /// What the entry holds.
        got: String,
    },
    /// A header that is not the next height above the tip.
    #[error("height gap: expected header {expected}, got {got}")]
    HeightGap {
        /// Tip height + 1.
        expected: u64,
        /// The header's height.
        got: u64,
    },
    /// A header whose parent is not the tip: a fork, or a reorg below the
    /// tip.
    #[error("header {height}: parent hash expected {expected}, got {got}")]
    ParentMismatch {
        /// The header's height.
        height: u64,
        /// The tip's hash.
        expected: B256,
        /// The header's parent hash.
        got: B256,
    },
    /// A header whose hash is not the one trusted or claimed.
    #[error("header {height}: hash expected {expected}, got {got}")]
    HashMismatch {
        /// The header's height.
        height: u64,
        /// The trusted hash (the chain's, or the one computed from the
        /// header when checking an RPC's claim).
        expected: B256,
        /// The hash that differs (computed, or claimed).
        got: B256,
    },
    /// A height the chain holds no header for (pruned, or not yet reached).
    #[error("no accepted header at height {height}: the chain holds {lowest}..={highest}")]
    UnknownHeader {
        /// The height asked for.
        height: u64,
        /// The checkpoint's height, the lowest the chain holds.
        lowest: u64,
        /// The tip's height.
        highest: u64,
    },
    /// A block above the confirmed height.
    #[error("block {height} not confirmed: confirmed height is {confirmed}")]
    NotConfirmed {
        /// The block's height.
        height: u64,
        /// The chain's confirmed height.
        confirmed: u64,
    },
    /// A rewind to a height the chain cannot return to.
    #[error("cannot rewind to {got}: lowest height is the checkpoint {checkpoint}")]
    RewindBelowCheckpoint {
        /// Checkpoint height.
        checkpoint: u64,
        /// The height asked for.
        got: u64,
    },
    /// Receipts whose trie root is not the header's `receiptsRoot`.
    #[error("block {height}: receipts root expected {expected}, got {got}")]
    ReceiptsRootMismatch {
        /// The block's height.
        height: u64,
        /// The header's receipts root.
        expected: B256,
        /// The root of the receipts given.
        got: B256,
    },

    // ----- message extraction -----
    /// A Dispatch log of the mailbox that cannot be relayed.
    #[error(
        "block {height} tx {tx_index} log {log_index}: malformed Dispatch log, {what}: \
         expected {expected}, got {got}"
    )]
    MalformedLog {
        /// The block's height.
        height: u64,
        /// Index of the receipt in the block.
        tx_index: usize,
        /// Index of the log in the block.
        log_index: usize,
        /// Which check failed (a fixed snake_case label).
        what: &'static str,
        /// What the check required.
        expected: String,
        /// What the log held.
        got: String,
    },
}

impl Error {
    /// A short, bounded snake_case label for metrics (never an id or a
    /// value).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::RlpTruncated { .. } => "rlp_truncated",
            Self::RlpTrailingBytes { .. } => "rlp_trailing_bytes",
            Self::RlpNonCanonical { .. } => "rlp_non_canonical",
            Self::RlpUnexpectedKind { .. } => "rlp_unexpected_kind",
            Self::RlpFieldLength { .. } => "rlp_field_length",
            Self::RlpIntegerOverflow { .. } => "rlp_integer_overflow",
            Self::RlpTooDeep { .. } => "rlp_too_deep",
            Self::HeaderFieldCount { .. } => "header_field_count",
            Self::HeaderLayout { .. } => "header_layout",
            Self::UnsupportedReceiptType { .. } => "unsupported_receipt_type",
            Self::ReceiptStatus { .. } => "receipt_status",
            Self::WindowTooSmall { .. } => "window_too_small",
            Self::CorruptState { .. } => "corrupt_state",
            Self::HeightGap { .. } => "height_gap",
            Self::ParentMismatch { .. } => "parent_mismatch",
            Self::HashMismatch { .. } => "hash_mismatch",
            Self::UnknownHeader { .. } => "unknown_header",
            Self::NotConfirmed { .. } => "not_confirmed",
            Self::RewindBelowCheckpoint { .. } => "rewind_below_checkpoint",
            Self::ReceiptsRootMismatch { .. } => "receipts_root_mismatch",
            Self::MalformedLog { .. } => "malformed_log",
        }
    }

    /// Whether the input may become acceptable later without changing: true
    /// only for "not enough trust yet" (a block not yet confirmed, a block
    /// above the tip, or a header above the tip whose ancestors have not
    /// been applied). Every
    /// other error is a verdict on the data itself.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::NotConfirmed { .. } => true,
            Self::HeightGap { expected, got } => got > expected,
            Self::UnknownHeader {
                height, highest, ..
            } => height > highest,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_snake_case_labels() {
        let samples = [
            Error::RlpTruncated {
                offset: 0,
                needed: 2,
                available: 1,
            },
            Error::HeightGap {
                expected: 2,
                got: 3,
            },
            Error::NotConfirmed {
                height: 5,
                confirmed: 4,
            },
            Error::MalformedLog {
                height: 1,
                tx_index: 0,
                log_index: 0,
                what: "topic_count",
                expected: "4".into(),
                got: "3".into(),
            },
        ];
        for e in samples {
            let r = e.reason();
            assert!(r.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{r}");
        }
    }

    #[test]
    fn retryable_only_when_trust_may_grow() {
        assert!(
            Error::NotConfirmed {
                height: 5,
                confirmed: 4
            }
            .is_retryable()
        );
        assert!(
            Error::HeightGap {
                expected: 2,
                got: 3
            }
            .is_retryable()
        );
        assert!(
            !Error::HeightGap {
                expected: 2,
                got: 1
            }
            .is_retryable()
        );
        assert!(
            !Error::ParentMismatch {
                height: 2,
                expected: B256::ZERO,
                got: B256::repeat_byte(1)
            }
            .is_retryable()
        );
    }

    #[test]
    fn display_names_expected_and_got() {
        let e = Error::ReceiptsRootMismatch {
            height: 7,
            expected: B256::repeat_byte(0xaa),
            got: B256::repeat_byte(0xbb),
        };
        let s = e.to_string();
        assert!(
            s.contains("block 7") && s.contains("aaaa") && s.contains("bbbb"),
            "{s}"
        );
    }
}
