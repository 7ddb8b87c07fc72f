//! The batch signature backend gives the upstream verifier's verdicts,
//! reasons included: on every vector step, and on commits with a bad
//! signature where the upstream looks (invalid) and where its early stop
//! never looks (valid).

use std::time::Duration;

use switchyard_lc_cometbft::{LightBlock, LightClient, SignatureBackend, TrustedState};
use tendermint::block::CommitSig;

use crate::model_based::cases;
use crate::support::{gen_block, options, rotating_set, time_of};

fn both() -> [LightClient; 2] {
    [SignatureBackend::Single, SignatureBackend::Batch]
        .map(|b| LightClient::new(options(Duration::from_secs(3600)), b))
}

#[test]
fn every_vector_step_gets_the_same_outcome_from_both_backends() {
    for (name, case) in cases() {
        let single = case.client(SignatureBackend::Single);
        let batch = case.client(SignatureBackend::Batch);
        let mut trusted = case.trusted();
        for (i, step) in case.input.iter().enumerate() {
            let a = single.verify(&trusted, &step.block, step.now);
            let b = batch.verify(&trusted, &step.block, step.now);
            assert_eq!(
                a.as_ref().err().map(ToString::to_string),
                b.as_ref().err().map(ToString::to_string),
                "{name} step {i}"
            );
            if let Ok(v) = b {
                trusted.apply(v).expect("fresh");
            }
        }
    }
}

/// Block 2 of a chain with a fixed set of four, with validator `victim`'s
/// signature replaced by another validator's (well-formed, wrong).
fn with_bad_signature(victim: usize) -> (TrustedState, LightBlock) {
    let vals = rotating_set(1);
    let trusted = TrustedState::new(gen_block("bad-sig", 1, &vals, &vals)).expect("genesis");
    let mut b = gen_block("bad-sig", 2, &vals, &vals);
    let donor = (victim + 1) % 4;
    let CommitSig::BlockIdFlagCommit { signature, .. } =
        b.signed_header.commit.signatures[donor].clone()
    else {
        panic!("all signed")
    };
    if let CommitSig::BlockIdFlagCommit { signature: s, .. } =
        &mut b.signed_header.commit.signatures[victim]
    {
        *s = signature;
    }
    (trusted, b)
}

#[test]
fn a_bad_signature_the_upstream_checks_is_invalid_for_both() {
    let (trusted, b) = with_bad_signature(0);
    let [single, batch] = both();
    let a = single
        .verify(&trusted, &b, time_of(10))
        .expect_err("bad signature");
    let c = batch
        .verify(&trusted, &b, time_of(10))
        .expect_err("bad signature");
    assert_eq!(a.to_string(), c.to_string());
    assert!(a.to_string().contains("failed to verify signature"), "{a}");
}

#[test]
fn a_bad_signature_past_two_thirds_is_ignored_by_both() {
    // The upstream tally stops once more than 2/3 signed (3 of 4 here),
    // in validator-set order, so the last signature is never checked; the
    // batch backend, whose batch fails, falls back to exactly that.
    let (trusted, b) = with_bad_signature(3);
    let [single, batch] = both();
    let _ = single
        .verify(&trusted, &b, time_of(10))
        .expect("3 of 4 suffice");
    let _ = batch
        .verify(&trusted, &b, time_of(10))
        .expect("same verdict");
}
