//! Transaction receipts in their consensus encoding, and the receipt trie
//! root a header commits to.

use alloy_primitives::{Address, B256, Bloom, Bytes};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::rlp::{self, Fields};

/// The receipt's transaction type: the EIP-2718 envelope type byte.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(try_from = "u8", into = "u8")]
#[repr(u8)]
pub enum TxType {
    /// Untyped (pre-EIP-2718): the receipt is the bare RLP list.
    #[default]
    Legacy = 0,
    /// Access-list transaction (EIP-2930).
    Eip2930 = 1,
    /// Dynamic-fee transaction (EIP-1559).
    Eip1559 = 2,
    /// Blob transaction (EIP-4844).
    Eip4844 = 3,
    /// Set-code transaction (EIP-7702).
    Eip7702 = 4,
}

impl TryFrom<u8> for TxType {
    type Error = Error;

    /// Refuses every type but 0 to 4 with [`Error::UnsupportedReceiptType`].
    fn try_from(got: u8) -> Result<Self, Error> {
        Ok(match got {
            0 => Self::Legacy,
            1 => Self::Eip2930,
            2 => Self::Eip1559,
            3 => Self::Eip4844,
            4 => Self::Eip7702,
            _ => return Err(Error::UnsupportedReceiptType { got }),
        })
    }
}

impl From<TxType> for u8 {
    fn from(t: TxType) -> Self {
        t as Self
    }
}

/// A log (event) emitted during a transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Log {
    /// The emitting contract.
    pub address: Address,
    /// Indexed topics; topic 0 is the event signature hash for
    /// non-anonymous Solidity events.
    pub topics: Vec<B256>,
    /// ABI-encoded non-indexed arguments.
    pub data: Bytes,
}

impl Log {
    fn topics_payload_len(&self) -> usize {
        33 * self.topics.len()
    }

    fn payload_len(&self) -> usize {
        let topics = self.topics_payload_len();
        21 + rlp::header_len(topics) + topics + rlp::bytes_len(&self.data)
    }

    fn encoded_len(&self) -> usize {
        let payload = self.payload_len();
        rlp::header_len(payload) + payload
    }

    /// Appends `rlp([address, [topic, ...], data])`.
    fn encode(&self, out: &mut Vec<u8>) {
        rlp::put_header(out, true, self.payload_len());
        rlp::put_bytes(out, self.address.as_slice());
        rlp::put_header(out, true, self.topics_payload_len());
        for t in &self.topics {
            rlp::put_bytes(out, t.as_slice());
        }
        rlp::put_bytes(out, &self.data);
    }

    fn decode(raw: rlp::Raw<'_>) -> Result<Self, Error> {
        let mut f = Fields::of_list(raw, "log")?;
        let address = Address::from(f.fixed("log.address")?);
        let mut topics_f = f.list("log.topics")?;
        let mut topics = Vec::with_capacity(topics_f.count()?);
        while !topics_f.is_empty() {
            topics.push(B256::from(topics_f.fixed("log.topic")?));
        }
        let data = Bytes::copy_from_slice(f.bytes("log.data")?);
        f.finish("log")?;
        Ok(Self {
            address,
            topics,
            data,
        })
    }
}

/// A transaction receipt, as committed to by the receipt trie (post-Byzantium:
/// a status, EIP-658, rather than a state root).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Receipt {
    /// The transaction's EIP-2718 type.
    pub tx_type: TxType,
    /// Whether the transaction succeeded (EIP-658).
    pub status: bool,
    /// Gas used in the block up to and including this transaction.
    pub cumulative_gas_used: u64,
    /// Bloom filter of this receipt's logs.
    pub logs_bloom: Bloom,
    /// Logs emitted, in order.
    pub logs: Vec<Log>,
}

impl Receipt {
    fn logs_payload_len(&self) -> usize {
        self.logs.iter().map(Log::encoded_len).sum()
    }

    fn payload_len(&self, logs_payload: usize) -> usize {
        1 // status: 0x01 or 0x80, EIP-658
            + rlp::u64_len(self.cumulative_gas_used)
            + 3 + 256 // bloom
            + rlp::header_len(logs_payload)
            + logs_payload
    }

    /// Length of the consensus encoding.
    pub fn encoded_2718_len(&self) -> usize {
        let payload = self.payload_len(self.logs_payload_len());
        usize::from(self.tx_type != TxType::Legacy) + rlp::header_len(payload) + payload
    }

    /// Appends the consensus encoding (EIP-2718): for a legacy receipt
    /// `rlp([status, cumulativeGasUsed, logsBloom, logs])`, for a typed one
    /// the type byte followed by that list. Nothing is allocated but `out`'s
    /// growth, so one buffer can serve a whole block.
    pub fn encode_2718(&self, out: &mut Vec<u8>) {
        let logs_payload = self.logs_payload_len();
        let payload = self.payload_len(logs_payload);
        out.reserve(1 + rlp::header_len(payload) + payload);
        if self.tx_type != TxType::Legacy {
            out.push(self.tx_type.into());
        }
        rlp::put_header(out, true, payload);
        out.push(if self.status { 0x01 } else { 0x80 });
        rlp::put_u64(out, self.cumulative_gas_used);
        rlp::put_bytes(out, self.logs_bloom.as_slice());
        rlp::put_header(out, true, logs_payload);
        for log in &self.logs {
            log.encode(out);
        }
    }

    /// The consensus encoding.
    pub fn encoded_2718(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_2718_len());
        self.encode_2718(&mut out);
        out
    }

    /// Decodes the consensus encoding strictly (canonical RLP, no trailing
    /// bytes, status 0 or 1, type 0 to 4).
    pub fn decode_2718(bytes: &[u8]) -> Result<Self, Error> {
        let (tx_type, body, base) = match bytes.first() {
            // An RLP list starts at 0xc0: an untyped receipt. EIP-2718 type
            // bytes are below 0x80.
            Some(b) if *b >= 0xc0 => (TxType::Legacy, bytes, 0),
            Some(b) if *b < 0x80 && *b != 0 => (TxType::try_from(*b)?, &bytes[1..], 1),
            Some(b) if *b < 0x80 => return Err(Error::UnsupportedReceiptType { got: *b }),
            _ => (TxType::Legacy, bytes, 0),
        };
        let raw = rlp::read_item(body, base)?;
        if raw.len != body.len() {
            return Err(Error::RlpTrailingBytes {
                expected: base + raw.len,
                got: bytes.len(),
            });
        }
        let mut f = Fields::of_list(raw, "receipt")?;
        let status = match f.uint::<1>("status")?[0] {
            0 => false,
            1 => true,
            got => return Err(Error::ReceiptStatus { got }),
        };
        let cumulative_gas_used = f.u64("cumulative_gas_used")?;
        let logs_bloom = Bloom::from(f.fixed("logs_bloom")?);
        let mut logs_f = f.list("logs")?;
        let mut logs = Vec::with_capacity(logs_f.count()?);
        while let Some(raw) = logs_f.next_raw()? {
            logs.push(Log::decode(raw)?);
        }
        f.finish("receipt")?;
        Ok(Self {
            tx_type,
            status,
            cumulative_gas_used,
            logs_bloom,
            logs,
        })
    }
}

/// The receipt trie root of a block's receipts: the Merkle-Patricia trie
/// mapping `rlp(index)` to the receipt's consensus encoding (Yellow Paper
/// section 4.3.2, EIP-2718 for typed receipts).
///
/// This is on the relay hot path: every receipt is encoded into one reused
/// buffer, without a per-receipt allocation.
pub fn receipts_root(receipts: &[Receipt]) -> B256 {
    alloy_trie::root::ordered_trie_root_with_encoder(receipts, |r, buf| r.encode_2718(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(tx_type: TxType) -> Receipt {
        Receipt {
            tx_type,
            status: true,
            cumulative_gas_used: 21_000,
            logs_bloom: Bloom::repeat_byte(0x11),
            logs: vec![
                Log {
                    address: Address::repeat_byte(0xaa),
                    topics: vec![B256::repeat_byte(1), B256::repeat_byte(2)],
                    data: Bytes::from(vec![0x42; 100]),
                },
                Log::default(),
            ],
        }
    }

    #[test]
    fn types_above_four_are_refused() {
        assert_eq!(TxType::try_from(4), Ok(TxType::Eip7702));
        assert_eq!(
            TxType::try_from(5),
            Err(Error::UnsupportedReceiptType { got: 5 })
        );
        assert!(serde_json::from_str::<TxType>("7").is_err());
        let mut enc = sample(TxType::Eip1559).encoded_2718();
        enc[0] = 0x05;
        assert_eq!(
            Receipt::decode_2718(&enc),
            Err(Error::UnsupportedReceiptType { got: 5 })
        );
        enc[0] = 0x00;
        assert_eq!(
            Receipt::decode_2718(&enc),
            Err(Error::UnsupportedReceiptType { got: 0 })
        );
    }

    #[test]
    fn every_type_round_trips() {
        for t in 0..=4u8 {
            let r = sample(TxType::try_from(t).expect("valid"));
            let enc = r.encoded_2718();
            assert_eq!(enc.len(), r.encoded_2718_len());
            assert_eq!(enc[0] == t, t != 0);
            assert_eq!(Receipt::decode_2718(&enc).expect("decodes"), r);
        }
    }

    #[test]
    fn decode_refuses_bad_status_and_trailing_bytes() {
        let r = sample(TxType::Legacy);
        let mut enc = r.encoded_2718();
        let len = enc.len();
        enc.push(0);
        assert_eq!(
            Receipt::decode_2718(&enc),
            Err(Error::RlpTrailingBytes {
                expected: len,
                got: len + 1
            })
        );
        // The status byte directly follows the list header.
        let mut enc = r.encoded_2718();
        let at = rlp::read_item(&enc, 0).expect("list").payload_offset;
        assert_eq!(enc[at], 0x01);
        enc[at] = 0x02;
        assert_eq!(
            Receipt::decode_2718(&enc),
            Err(Error::ReceiptStatus { got: 2 })
        );
    }

    #[test]
    fn empty_block_has_the_empty_trie_root() {
        assert_eq!(receipts_root(&[]), alloy_trie::EMPTY_ROOT_HASH);
    }

    #[test]
    fn serde_round_trips() {
        let r = sample(TxType::Eip4844);
        let json = serde_json::to_string(&r).expect("serializes");
        assert_eq!(
            serde_json::from_str::<Receipt>(&json).expect("deserializes"),
            r
        );
    }
}
