//! BLS12-381 `FastAggregateVerify` (min_pk, proof-of-possession ciphersuite)
//! over a sync committee whose keys are decompressed once.

use alloy_primitives::B256;
use blst::{
    BLST_ERROR,
    min_pk::{PublicKey, Signature},
};

use crate::error::{Error, Result};
use crate::types::{BlsSignature, SyncCommittee};

pub(crate) const DST: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

/// Decompressed, group-checked committee keys.
///
/// Decompressing 512 keys costs about as much as a whole signature check, so
/// the store keeps them for as long as it keeps the committee. A key that
/// fails `KeyValidate` is kept as `None`: it makes any aggregate it takes
/// part in invalid, exactly as in the spec's `FastAggregateVerify`.
#[derive(Clone)]
pub(crate) struct CommitteeKeys(Vec<Option<PublicKey>>);

impl std::fmt::Debug for CommitteeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitteeKeys")
            .field("len", &self.0.len())
            .finish()
    }
}

impl CommitteeKeys {
    pub(crate) fn new(committee: &SyncCommittee) -> Self {
        Self(
            committee
                .pubkeys
                .iter()
                .map(|pk| PublicKey::key_validate(pk.as_slice()).ok())
                .collect(),
        )
    }

    /// `FastAggregateVerify(participant_pubkeys, signing_root, signature)`.
    pub(crate) fn fast_aggregate_verify(
        &self,
        bits: &[bool],
        signing_root: B256,
        signature: &BlsSignature,
        signature_slot: u64,
    ) -> Result<()> {
        let participants = bits.iter().filter(|b| **b).count();
        let invalid = Error::InvalidSignature {
            participants,
            signature_slot,
        };
        let mut keys = Vec::with_capacity(participants);
        for (key, bit) in self.0.iter().zip(bits) {
            if *bit {
                match key {
                    Some(k) => keys.push(k),
                    None => return Err(invalid),
                }
            }
        }
        let sig =
            Signature::from_bytes(signature.as_slice()).map_err(|_| Error::MalformedSignature)?;
        match sig.fast_aggregate_verify(true, signing_root.as_slice(), DST, &keys) {
            BLST_ERROR::BLST_SUCCESS => Ok(()),
            _ => Err(invalid),
        }
    }
}
