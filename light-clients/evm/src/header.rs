//! The execution-layer block header (Yellow Paper section 4.3) and the
//! fields later forks appended to it.

use alloy_primitives::{Address, B64, B256, Bloom, Bytes, U256, keccak256};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::rlp::{self, Fields};

/// An execution block header.
///
/// The 15 fields of the Yellow Paper are always present; later forks
/// appended optional fields, which appear only in fork order: a header that
/// has one has all the earlier ones (see [`Header::layout`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Header {
    /// keccak256 of the parent header's RLP.
    pub parent_hash: B256,
    /// keccak256 of the ommers list (the empty-list hash since the Merge,
    /// EIP-3675).
    pub ommers_hash: B256,
    /// Fee recipient (`miner` in JSON-RPC).
    pub beneficiary: Address,
    /// State trie root after the block.
    pub state_root: B256,
    /// Transaction trie root.
    pub transactions_root: B256,
    /// Receipt trie root: what message inclusion is checked against.
    pub receipts_root: B256,
    /// Bloom filter of the block's logs.
    pub logs_bloom: Bloom,
    /// Proof-of-work difficulty (0 since the Merge, EIP-3675).
    pub difficulty: U256,
    /// Block number.
    pub number: u64,
    /// Gas limit.
    pub gas_limit: u64,
    /// Gas used.
    pub gas_used: u64,
    /// Unix timestamp in seconds.
    pub timestamp: u64,
    /// Arbitrary extra data (at most 32 bytes on mainnet; not enforced here,
    /// other chains differ).
    pub extra_data: Bytes,
    /// Proof-of-work mix hash; `prevRandao` since the Merge (EIP-4399).
    pub mix_hash: B256,
    /// Proof-of-work nonce (zero since the Merge).
    pub nonce: B64,
    /// Base fee per gas (London, EIP-1559).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_fee_per_gas: Option<u64>,
    /// Withdrawals trie root (Shanghai, EIP-4895).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawals_root: Option<B256>,
    /// Blob gas used (Cancun, EIP-4844).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_gas_used: Option<u64>,
    /// Excess blob gas (Cancun, EIP-4844).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excess_blob_gas: Option<u64>,
    /// Parent beacon block root (Cancun, EIP-4788).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_beacon_block_root: Option<B256>,
    /// Hash of the execution-layer requests (Prague, EIP-7685).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_hash: Option<B256>,
}

/// The field list of a header, named by the fork that added its last field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum HeaderLayout {
    /// The 15 fields of the Yellow Paper (Frontier to Berlin).
    Legacy,
    /// Adds `baseFeePerGas` (EIP-1559): 16 fields.
    London,
    /// Adds `withdrawalsRoot` (EIP-4895): 17 fields.
    Shanghai,
    /// Adds `blobGasUsed`, `excessBlobGas` (EIP-4844) and
    /// `parentBeaconBlockRoot` (EIP-4788): 20 fields.
    Cancun,
    /// Adds `requestsHash` (EIP-7685): 21 fields.
    Prague,
}

impl HeaderLayout {
    /// Number of RLP fields of this layout.
    pub const fn field_count(self) -> usize {
        match self {
            Self::Legacy => 15,
            Self::London => 16,
            Self::Shanghai => 17,
            Self::Cancun => 20,
            Self::Prague => 21,
        }
    }

    /// The layout with `count` fields, if a fork defines one.
    pub const fn from_field_count(count: usize) -> Option<Self> {
        match count {
            15 => Some(Self::Legacy),
            16 => Some(Self::London),
            17 => Some(Self::Shanghai),
            20 => Some(Self::Cancun),
            21 => Some(Self::Prague),
            _ => None,
        }
    }
}

/// Names of the optional fields, in the order forks appended them.
const OPTIONAL_FIELDS: [&str; 6] = [
    "base_fee_per_gas",
    "withdrawals_root",
    "blob_gas_used",
    "excess_blob_gas",
    "parent_beacon_block_root",
    "requests_hash",
];

impl Header {
    /// Which optional fields are present, in fork order.
    fn present(&self) -> [bool; 6] {
        [
            self.base_fee_per_gas.is_some(),
            self.withdrawals_root.is_some(),
            self.blob_gas_used.is_some(),
            self.excess_blob_gas.is_some(),
            self.parent_beacon_block_root.is_some(),
            self.requests_hash.is_some(),
        ]
    }

    /// The fork layout of this header, or [`Error::HeaderLayout`] when an
    /// optional field is present without an earlier one (or Cancun's three
    /// fields are incomplete). Such a header has no canonical encoding: no
    /// client produces it and [`Header::decode`] never returns one.
    pub fn layout(&self) -> Result<HeaderLayout, Error> {
        let present = self.present();
        let leading = present.iter().take_while(|p| **p).count();
        if let Some(later) = present.iter().skip(leading).position(|p| *p) {
            return Err(Error::HeaderLayout {
                height: self.number,
                field: OPTIONAL_FIELDS[leading + later],
                missing: OPTIONAL_FIELDS[leading],
            });
        }
        // Only 3 or 4 leading fields (an incomplete Cancun triple) name no
        // layout, so both indexes below are in range when this runs.
        HeaderLayout::from_field_count(15 + leading).ok_or_else(|| Error::HeaderLayout {
            height: self.number,
            field: OPTIONAL_FIELDS[leading - 1],
            missing: OPTIONAL_FIELDS[leading],
        })
    }

    fn payload_len(&self) -> usize {
        let opt_u64 = |v: Option<u64>| v.map_or(0, rlp::u64_len);
        let opt_b256 = |v: Option<B256>| if v.is_some() { 33 } else { 0 };
        33 * 5 // parent, ommers, state, transactions, receipts
            + 21 // beneficiary
            + 3 + 256 // bloom
            + rlp::bytes_len(rlp::trim_be(&self.difficulty.to_be_bytes::<32>()))
            + rlp::u64_len(self.number)
            + rlp::u64_len(self.gas_limit)
            + rlp::u64_len(self.gas_used)
            + rlp::u64_len(self.timestamp)
            + rlp::bytes_len(&self.extra_data)
            + 33 // mix hash
            + 9 // nonce
            + opt_u64(self.base_fee_per_gas)
            + opt_b256(self.withdrawals_root)
            + opt_u64(self.blob_gas_used)
            + opt_u64(self.excess_blob_gas)
            + opt_b256(self.parent_beacon_block_root)
            + opt_b256(self.requests_hash)
    }

    /// Length of the RLP encoding.
    pub fn encoded_len(&self) -> usize {
        let payload = self.payload_len();
        rlp::header_len(payload) + payload
    }

    /// Appends the RLP encoding: the list of fields, each optional field
    /// when present. For a header of a valid [`Header::layout`] this is the
    /// canonical encoding (and the one alloy and the execution clients
    /// hash).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        rlp::put_header(out, true, self.payload_len());
        rlp::put_bytes(out, self.parent_hash.as_slice());
        rlp::put_bytes(out, self.ommers_hash.as_slice());
        rlp::put_bytes(out, self.beneficiary.as_slice());
        rlp::put_bytes(out, self.state_root.as_slice());
        rlp::put_bytes(out, self.transactions_root.as_slice());
        rlp::put_bytes(out, self.receipts_root.as_slice());
        rlp::put_bytes(out, self.logs_bloom.as_slice());
        rlp::put_bytes(out, rlp::trim_be(&self.difficulty.to_be_bytes::<32>()));
        rlp::put_u64(out, self.number);
        rlp::put_u64(out, self.gas_limit);
        rlp::put_u64(out, self.gas_used);
        rlp::put_u64(out, self.timestamp);
        rlp::put_bytes(out, &self.extra_data);
        rlp::put_bytes(out, self.mix_hash.as_slice());
        rlp::put_bytes(out, self.nonce.as_slice());
        if let Some(v) = self.base_fee_per_gas {
            rlp::put_u64(out, v);
        }
        if let Some(v) = self.withdrawals_root {
            rlp::put_bytes(out, v.as_slice());
        }
        if let Some(v) = self.blob_gas_used {
            rlp::put_u64(out, v);
        }
        if let Some(v) = self.excess_blob_gas {
            rlp::put_u64(out, v);
        }
        if let Some(v) = self.parent_beacon_block_root {
            rlp::put_bytes(out, v.as_slice());
        }
        if let Some(v) = self.requests_hash {
            rlp::put_bytes(out, v.as_slice());
        }
    }

    /// The RLP encoding.
    pub fn encoded(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out
    }

    /// The block hash: keccak256 of the RLP encoding.
    pub fn hash(&self) -> B256 {
        keccak256(self.encoded())
    }

    /// Decodes a header strictly: canonical RLP, a field count of one of the
    /// fork layouts (so optional fields only in fork order), no trailing
    /// bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let mut f = Fields::of_list(rlp::read_exact(bytes)?, "header")?;
        let count = f.count()?;
        let layout =
            HeaderLayout::from_field_count(count).ok_or(Error::HeaderFieldCount { got: count })?;
        let mut header = Self {
            parent_hash: B256::from(f.fixed("parent_hash")?),
            ommers_hash: B256::from(f.fixed("ommers_hash")?),
            beneficiary: Address::from(f.fixed("beneficiary")?),
            state_root: B256::from(f.fixed("state_root")?),
            transactions_root: B256::from(f.fixed("transactions_root")?),
            receipts_root: B256::from(f.fixed("receipts_root")?),
            logs_bloom: Bloom::from(f.fixed("logs_bloom")?),
            difficulty: U256::from_be_bytes(f.uint::<32>("difficulty")?),
            number: f.u64("number")?,
            gas_limit: f.u64("gas_limit")?,
            gas_used: f.u64("gas_used")?,
            timestamp: f.u64("timestamp")?,
            extra_data: Bytes::copy_from_slice(f.bytes("extra_data")?),
            mix_hash: B256::from(f.fixed("mix_hash")?),
            nonce: B64::from(f.fixed("nonce")?),
            ..Self::default()
        };
        if layout >= HeaderLayout::London {
            header.base_fee_per_gas = Some(f.u64("base_fee_per_gas")?);
        }
        if layout >= HeaderLayout::Shanghai {
            header.withdrawals_root = Some(B256::from(f.fixed("withdrawals_root")?));
        }
        if layout >= HeaderLayout::Cancun {
            header.blob_gas_used = Some(f.u64("blob_gas_used")?);
            header.excess_blob_gas = Some(f.u64("excess_blob_gas")?);
            header.parent_beacon_block_root =
                Some(B256::from(f.fixed("parent_beacon_block_root")?));
        }
        if layout >= HeaderLayout::Prague {
            header.requests_hash = Some(B256::from(f.fixed("requests_hash")?));
        }
        Ok(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prague() -> Header {
        Header {
            number: 7,
            gas_limit: 30_000_000,
            timestamp: 1_700_000_000,
            difficulty: U256::from(0x1234u64),
            extra_data: Bytes::from_static(b"switchyard"),
            base_fee_per_gas: Some(7),
            withdrawals_root: Some(B256::repeat_byte(1)),
            blob_gas_used: Some(0),
            excess_blob_gas: Some(0x4780000),
            parent_beacon_block_root: Some(B256::repeat_byte(2)),
            requests_hash: Some(B256::repeat_byte(3)),
            ..Header::default()
        }
    }

    #[test]
    fn every_layout_round_trips() {
        let mut h = prague();
        let mut layouts = vec![];
        loop {
            let layout = h.layout().expect("valid layout");
            layouts.push(layout);
            let enc = h.encoded();
            assert_eq!(enc.len(), h.encoded_len());
            assert_eq!(Header::decode(&enc).expect("decodes"), h);
            match layout {
                HeaderLayout::Prague => h.requests_hash = None,
                HeaderLayout::Cancun => {
                    h.parent_beacon_block_root = None;
                    h.excess_blob_gas = None;
                    h.blob_gas_used = None;
                }
                HeaderLayout::Shanghai => h.withdrawals_root = None,
                HeaderLayout::London => h.base_fee_per_gas = None,
                HeaderLayout::Legacy => break,
            }
        }
        assert_eq!(layouts.len(), 5);
    }

    #[test]
    fn out_of_order_fields_are_a_layout_error() {
        let mut h = prague();
        h.base_fee_per_gas = None;
        assert_eq!(
            h.layout(),
            Err(Error::HeaderLayout {
                height: 7,
                field: "withdrawals_root",
                missing: "base_fee_per_gas"
            })
        );
        let mut h = prague();
        h.requests_hash = None;
        h.parent_beacon_block_root = None;
        assert_eq!(
            h.layout(),
            Err(Error::HeaderLayout {
                height: 7,
                field: "excess_blob_gas",
                missing: "parent_beacon_block_root"
            })
        );
    }

    #[test]
    fn decode_refuses_partial_cancun_and_extra_fields() {
        // 18 fields: Shanghai + blob_gas_used only.
        let mut h = prague();
        h.requests_hash = None;
        h.parent_beacon_block_root = None;
        h.excess_blob_gas = None;
        assert_eq!(
            Header::decode(&h.encoded()),
            Err(Error::HeaderFieldCount { got: 18 })
        );

        // 22 fields: a Prague header with one more trailing field.
        let h = prague();
        let enc = h.encoded();
        let payload_len = h.encoded_len() - rlp::header_len(h.payload_len());
        let mut body = enc[enc.len() - payload_len..].to_vec();
        body.push(0x80);
        let mut out = Vec::new();
        rlp::put_header(&mut out, true, body.len());
        out.extend_from_slice(&body);
        assert_eq!(
            Header::decode(&out),
            Err(Error::HeaderFieldCount { got: 22 })
        );
    }

    #[test]
    fn decode_refuses_trailing_bytes() {
        let mut enc = prague().encoded();
        let len = enc.len();
        enc.push(0);
        assert_eq!(
            Header::decode(&enc),
            Err(Error::RlpTrailingBytes {
                expected: len,
                got: len + 1
            })
        );
    }

    #[test]
    fn serde_round_trips() {
        let h = prague();
        let json = serde_json::to_string(&h).expect("serializes");
        assert_eq!(
            serde_json::from_str::<Header>(&json).expect("deserializes"),
            h
        );
        let mut legacy = h;
        legacy.base_fee_per_gas = None;
        legacy.withdrawals_root = None;
        legacy.blob_gas_used = None;
        legacy.excess_blob_gas = None;
        legacy.parent_beacon_block_root = None;
        legacy.requests_hash = None;
        let json = serde_json::to_string(&legacy).expect("serializes");
        assert!(!json.contains("requests_hash"));
        assert_eq!(
            serde_json::from_str::<Header>(&json).expect("deserializes"),
            legacy
        );
    }
}
