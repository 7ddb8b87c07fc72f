//! The bundle: what proves one L2 block from L1, in the JSON form of the
//! RIP-7755 vectors (`shared/vectors/rip7755`, SOURCES.md section 6), plus
//! two optional parts for the OP Stack settlement forms those vectors do not
//! cover (`disputeGame`, `outputOracle`).
//!
//! Byte strings are `0x` hex; integers are JSON numbers, decimal strings or
//! `0x` hex strings of at most 32 bytes (the vectors use all three).

use std::fmt;
use std::str::FromStr;

use alloy_primitives::{B256, Bytes, U256};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::arbitrum::AssertionState;
use crate::error::RollupError;

/// The family of a rollup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RollupKind {
    /// Arbitrum with BoLD assertions.
    #[serde(rename = "arbitrum")]
    Arbitrum,
    /// An OP Stack chain (output roots).
    #[serde(rename = "op-stack")]
    OpStack,
}

impl RollupKind {
    /// The name used on the command line and in JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Arbitrum => "arbitrum",
            Self::OpStack => "op-stack",
        }
    }
}

impl fmt::Display for RollupKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RollupKind {
    type Err = RollupError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "arbitrum" => Ok(Self::Arbitrum),
            "op-stack" => Ok(Self::OpStack),
            other => Err(RollupError::Malformed {
                field: "kind",
                expected: "\"arbitrum\" or \"op-stack\"".into(),
                got: format!("{other:?}"),
            }),
        }
    }
}

/// The L1 execution state root and its SSZ branch to a beacon block root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateProofParams {
    /// The beacon block root the branch is for (informational: the caller
    /// supplies the trusted one).
    pub beacon_root: B256,
    /// The timestamp the RIP-7755 contracts looked the beacon root up by
    /// (EIP-4788); carried, not used.
    #[serde(deserialize_with = "de_u64", serialize_with = "ser_decimal")]
    pub beacon_oracle_timestamp: u64,
    /// The L1 execution payload's state root.
    pub execution_state_root: B256,
    /// Its 12 SSZ siblings up to the beacon block root.
    pub state_root_proof: Vec<B256>,
}

/// An `eth_getProof` answer for one slot: the account proof and the storage
/// proof of `storageKey` holding `storageValue`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountProofParams {
    /// The slot (before hashing).
    pub storage_key: B256,
    /// Its value, big-endian, at most 32 bytes (leading zeros optional).
    pub storage_value: Bytes,
    /// State trie nodes from the root to the account.
    pub account_proof: Vec<Bytes>,
    /// Storage trie nodes from the account's storage root to the slot.
    pub storage_proof: Vec<Bytes>,
}

impl AccountProofParams {
    /// The storage value as a word, refusing more than 32 bytes.
    pub fn value(&self, field: &'static str) -> Result<U256, RollupError> {
        if self.storage_value.len() > 32 {
            return Err(RollupError::Malformed {
                field,
                expected: "a storage word of at most 32 bytes".into(),
                got: format!("{} bytes", self.storage_value.len()),
            });
        }
        Ok(U256::from_be_slice(&self.storage_value))
    }
}

/// An Arbitrum BoLD bundle: the assertion's parts and the L1 proof of its
/// node in the Rollup contract (`dstL2StateRootProofParams`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArbitrumBundle {
    /// L1 state root and its beacon branch.
    pub state_proof_params: StateProofParams,
    /// The Rollup contract's account and `_assertions[hash]` first word.
    pub dst_l2_state_root_proof_params: AccountProofParams,
    /// Optionally, an L2 storage slot under the proven block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_l2_account_proof_params: Option<AccountProofParams>,
    /// The RLP of the L2 block header.
    pub encoded_block_array: Bytes,
    /// The assertion's after state.
    pub after_state: AssertionState,
    /// The parent assertion's hash.
    pub prev_assertion_hash: B256,
    /// The inbox accumulator the assertion read up to.
    pub sequencer_batch_acc: B256,
}

/// An OP Stack bundle. `dstL2StateRootProofParams` proves the slot holding
/// the settlement form's commitment: the anchor's root
/// (AnchorStateRegistry, the vectors' form), `_disputeGames[uuid]`
/// (DisputeGameFactory, with `disputeGame`), or `l2Outputs[index].outputRoot`
/// (L2OutputOracle, with `outputOracle`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpStackBundle {
    /// L1 state root and its beacon branch.
    pub state_proof_params: StateProofParams,
    /// The settlement contract's account and the commitment's slot.
    pub dst_l2_state_root_proof_params: AccountProofParams,
    /// Optionally, an L2 storage slot under the proven block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_l2_account_proof_params: Option<AccountProofParams>,
    /// The RLP of the L2 block header.
    pub encoded_block_array: Bytes,
    /// The L2ToL1MessagePasser's storage root at that block.
    pub l2_message_passer_storage_root: B256,
    /// The DisputeGameFactory form's extra parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispute_game: Option<DisputeGameProof>,
    /// The L2OutputOracle form's extra parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_oracle: Option<OutputOracleProof>,
}

/// A dispute game: the factory's key parts and the game's slot 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DisputeGameProof {
    /// The game type the game was created with.
    #[serde(deserialize_with = "de_u32")]
    pub game_type: u32,
    /// Its extra data (the L2 block number, one word).
    pub extra_data: Bytes,
    /// The game proxy's account and slot 0 (status and timestamps).
    pub game_proof_params: AccountProofParams,
}

/// An L2OutputOracle proposal: its index and the word after its root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputOracleProof {
    /// Index in `l2Outputs`.
    #[serde(deserialize_with = "de_u64")]
    pub index: u64,
    /// The oracle's account and `l2Outputs[index]`'s second word
    /// (timestamp and L2 block number).
    pub proposal_proof_params: AccountProofParams,
}

/// A bundle of either kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum Bundle {
    /// Arbitrum BoLD.
    Arbitrum(ArbitrumBundle),
    /// OP Stack.
    OpStack(OpStackBundle),
}

impl Bundle {
    /// Parses the JSON form of a bundle of `kind` (the form does not name
    /// its kind, so the caller does).
    pub fn from_json(kind: RollupKind, text: &str) -> Result<Self, RollupError> {
        let bad = |e: serde_json::Error| RollupError::Malformed {
            field: "bundle",
            expected: format!("the JSON form of an {kind} bundle"),
            got: e.to_string(),
        };
        Ok(match kind {
            RollupKind::Arbitrum => Self::Arbitrum(serde_json::from_str(text).map_err(bad)?),
            RollupKind::OpStack => Self::OpStack(serde_json::from_str(text).map_err(bad)?),
        })
    }

    /// The bundle's kind.
    pub fn kind(&self) -> RollupKind {
        match self {
            Self::Arbitrum(_) => RollupKind::Arbitrum,
            Self::OpStack(_) => RollupKind::OpStack,
        }
    }

    /// The L1 state root and its beacon branch.
    pub fn state_proof(&self) -> &StateProofParams {
        match self {
            Self::Arbitrum(b) => &b.state_proof_params,
            Self::OpStack(b) => &b.state_proof_params,
        }
    }

    /// The L1 proof of the settlement contract's commitment slot.
    pub fn l1_proof(&self) -> &AccountProofParams {
        match self {
            Self::Arbitrum(b) => &b.dst_l2_state_root_proof_params,
            Self::OpStack(b) => &b.dst_l2_state_root_proof_params,
        }
    }

    /// The optional L2 storage proof.
    pub fn l2_proof(&self) -> Option<&AccountProofParams> {
        match self {
            Self::Arbitrum(b) => b.dst_l2_account_proof_params.as_ref(),
            Self::OpStack(b) => b.dst_l2_account_proof_params.as_ref(),
        }
    }

    /// The RLP of the L2 header.
    pub fn encoded_header(&self) -> &Bytes {
        match self {
            Self::Arbitrum(b) => &b.encoded_block_array,
            Self::OpStack(b) => &b.encoded_block_array,
        }
    }
}

// ----- lenient integers -----

#[derive(Deserialize)]
#[serde(untagged)]
enum Int {
    Number(u64),
    Text(String),
}

fn parse_int(v: Int) -> Result<u64, String> {
    let s = match v {
        Int::Number(n) => return Ok(n),
        Int::Text(s) => s,
    };
    let value = match s.strip_prefix("0x") {
        Some(hex) if !hex.is_empty() && hex.len() <= 64 => U256::from_str_radix(hex, 16),
        Some(_) => return Err(format!("{s:?}: expected at most 32 bytes of hex")),
        None => U256::from_str_radix(&s, 10),
    }
    .map_err(|e| format!("{s:?}: {e}"))?;
    u64::try_from(value).map_err(|_| format!("{s:?}: does not fit in 64 bits"))
}

/// A u64 from a number, a decimal string or a hex string.
pub(crate) fn de_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    parse_int(Int::deserialize(d)?).map_err(D::Error::custom)
}

/// A u32 as [`de_u64`] reads it.
pub(crate) fn de_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = de_u64(d)?;
    u32::try_from(v).map_err(|_| D::Error::custom(format!("{v} does not fit in 32 bits")))
}

/// A u8 as [`de_u64`] reads it.
pub(crate) fn de_u8<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let v = de_u64(d)?;
    u8::try_from(v).map_err(|_| D::Error::custom(format!("{v} does not fit in 8 bits")))
}

/// Two u64 as [`de_u64`] reads them.
pub(crate) fn de_u64_pair<'de, D: Deserializer<'de>>(d: D) -> Result<[u64; 2], D::Error> {
    let [a, b] = <[Int; 2]>::deserialize(d)?;
    Ok([
        parse_int(a).map_err(D::Error::custom)?,
        parse_int(b).map_err(D::Error::custom)?,
    ])
}

fn ser_decimal<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct T {
        #[serde(deserialize_with = "de_u64")]
        v: u64,
    }

    fn int(json: &str) -> Result<u64, serde_json::Error> {
        serde_json::from_str::<T>(&format!("{{\"v\": {json}}}")).map(|t| t.v)
    }

    #[test]
    fn integers_in_every_form_the_vectors_use() {
        assert_eq!(int("1737672028").expect("number"), 1_737_672_028);
        assert_eq!(int("\"1737672028\"").expect("decimal"), 1_737_672_028);
        assert_eq!(
            int("\"0x000000000000000000000000000000000000000000000000000000006765e2e2\"")
                .expect("word"),
            0x6765e2e2
        );
        assert!(int("\"0x\"").is_err());
        assert!(int("\"0x010000000000000000\"").is_err(), "over 64 bits");
        assert!(
            int(&format!("\"0x{}\"", "0".repeat(66))).is_err(),
            "over 32 bytes"
        );
        assert!(int("\"12a\"").is_err());
        assert!(int("-1").is_err());
    }

    #[test]
    fn kinds_parse_by_name() {
        assert_eq!("arbitrum".parse::<RollupKind>(), Ok(RollupKind::Arbitrum));
        assert_eq!("op-stack".parse::<RollupKind>(), Ok(RollupKind::OpStack));
        assert!("optimism".parse::<RollupKind>().is_err());
        assert_eq!(
            serde_json::to_string(&RollupKind::OpStack).expect("json"),
            "\"op-stack\""
        );
    }

    #[test]
    fn storage_values_are_words() {
        let mut p = AccountProofParams {
            storage_key: B256::ZERO,
            storage_value: Bytes::from(vec![1; 32]),
            account_proof: vec![],
            storage_proof: vec![],
        };
        assert_eq!(p.value("v").expect("word"), U256::from_be_bytes([1; 32]));
        p.storage_value = Bytes::from(vec![0, 1]);
        assert_eq!(p.value("v").expect("word"), U256::from(1));
        p.storage_value = Bytes::from(vec![1; 33]);
        assert!(matches!(
            p.value("v"),
            Err(RollupError::Malformed { field: "v", .. })
        ));
    }
}
