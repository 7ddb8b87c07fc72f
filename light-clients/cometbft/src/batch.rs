//! A batch-verifying signature backend for the upstream verifier.
//!
//! The upstream `PredicateVerifier` checks commit signatures one at a time
//! through a `tendermint::crypto::signature::Verifier`. This backend keeps
//! all of its logic (predicates, tallies, early stop, duplicate checks) and
//! only swaps that leaf: before verification it batch-verifies every commit
//! signature of the block with ed25519-consensus, then answers the
//! upstream's per-signature calls from the set of triples the batch
//! accepted. A triple outside the set (or every triple, when the batch
//! fails) is verified singly, so the verdict and its reason are exactly
//! the upstream's.
//!
//! Sound because ed25519-consensus implements ZIP-215: batch and single
//! verification accept exactly the same signatures (the upstream single
//! verifier is the same crate), unlike most ed25519 libraries whose batch
//! and single checks disagree on edge cases.

use std::collections::HashMap;

use ed25519_consensus::{Signature, VerificationKey, VerificationKeyBytes, batch};
use tendermint::PublicKey;
use tendermint::block::CommitSig;
use tendermint::crypto::signature::{Error as SigError, Verifier as SigVerifier};
use tendermint::vote::{SignedVote, Type, ValidatorIndex, Vote};
use tendermint_light_client_verifier::PredicateVerifier;
use tendermint_light_client_verifier::operations::{
    ProdCommitValidator, ProvidedVotingPowerCalculator,
};
use tendermint_light_client_verifier::predicates::ProdPredicates;
use tendermint_light_client_verifier::types::LightBlock;

/// The upstream predicate verifier over the batch-backed signature check.
pub(crate) type BatchVerifier = PredicateVerifier<
    ProdPredicates,
    ProvidedVotingPowerCalculator<PreVerified>,
    ProdCommitValidator,
>;

/// Signature triples `(key, message, signature)` a successful batch accepted.
#[derive(Debug, Clone, Default)]
pub(crate) struct PreVerified {
    // Keyed by signature; the key and message must match too.
    accepted: HashMap<[u8; 64], ([u8; 32], Vec<u8>)>,
}

impl PreVerified {
    /// Batch-verifies the commit signatures of `block` by the keys of its
    /// own validator set. Signatures of unknown signers are left to the
    /// single path, where the upstream verifier decides about them.
    pub(crate) fn for_block(block: &LightBlock) -> Self {
        let keys: HashMap<_, _> = block
            .validators
            .validators()
            .iter()
            .filter_map(|v| match v.pub_key {
                PublicKey::Ed25519(pk) => Some((v.address, pk.as_bytes().to_owned())),
                #[allow(unreachable_patterns)]
                _ => None,
            })
            .collect();
        let commit = &block.signed_header.commit;
        let chain_id = &block.signed_header.header.chain_id;
        let mut accepted = HashMap::with_capacity(commit.signatures.len());
        let mut batch = batch::Verifier::new();
        for (idx, sig) in commit.signatures.iter().enumerate() {
            let CommitSig::BlockIdFlagCommit {
                validator_address,
                timestamp,
                signature: Some(signature),
            } = sig
            else {
                continue;
            };
            let (Some(key), Ok(index)) =
                (keys.get(validator_address), ValidatorIndex::try_from(idx))
            else {
                continue;
            };
            let (Ok(key), Ok(sig_bytes)) = (
                <[u8; 32]>::try_from(key.as_slice()),
                <[u8; 64]>::try_from(signature.as_bytes()),
            ) else {
                continue;
            };
            // The vote exactly as the upstream `NonAbsentCommitVote` builds
            // it, so the sign bytes are the ones it will ask about.
            let vote = Vote {
                vote_type: Type::Precommit,
                height: commit.height,
                round: commit.round,
                block_id: Some(commit.block_id),
                timestamp: Some(*timestamp),
                validator_address: *validator_address,
                validator_index: index,
                signature: Some(signature.clone()),
                extension: Default::default(),
                extension_signature: None,
            };
            let Some(signed) = SignedVote::from_vote(vote, chain_id.clone()) else {
                continue;
            };
            let mut msg = Vec::with_capacity(166);
            if signed.sign_bytes_into(&mut msg).is_err() {
                continue;
            }
            batch.queue((
                VerificationKeyBytes::from(key),
                Signature::from(sig_bytes),
                &msg,
            ));
            accepted.insert(sig_bytes, (key, msg));
        }
        // Random coefficients are what makes a batch sound: an adversary
        // must not know them when choosing signatures.
        match batch.verify(rand_core::OsRng) {
            Ok(()) => Self { accepted },
            Err(_) => Self::default(),
        }
    }
}

impl SigVerifier for PreVerified {
    fn verify(
        &self,
        pubkey: PublicKey,
        msg: &[u8],
        signature: &tendermint::Signature,
    ) -> Result<(), SigError> {
        let PublicKey::Ed25519(pk) = pubkey else {
            return Err(SigError::UnsupportedKeyType);
        };
        if let Ok(sig) = <[u8; 64]>::try_from(signature.as_bytes())
            && let Some((key, m)) = self.accepted.get(&sig)
            && key.as_slice() == pk.as_bytes()
            && m.as_slice() == msg
        {
            return Ok(());
        }
        // Outside the batch: the upstream default check, the same crate.
        let key =
            VerificationKey::try_from(pk.as_bytes()).map_err(|_| SigError::MalformedPublicKey)?;
        let sig =
            Signature::try_from(signature.as_bytes()).map_err(|_| SigError::MalformedSignature)?;
        key.verify(&sig, msg)
            .map_err(|_| SigError::VerificationFailed)
    }
}

/// The upstream verifier with `block`'s signatures batch-checked.
pub(crate) fn batch_verifier(block: &LightBlock) -> BatchVerifier {
    PredicateVerifier::new(
        ProdPredicates,
        ProvidedVotingPowerCalculator::new(PreVerified::for_block(block)),
        ProdCommitValidator,
    )
}
