//! Skipping verification with bisection: chained over the model-based
//! vectors, and over generated chains (tendermint-testgen, real ed25519
//! signatures) whose validator sets rotate so a direct skip lacks trust.

use std::collections::BTreeMap;
use std::time::Duration;

use switchyard_lc_cometbft::{
    Bisection, Error, LightBlock, LightClient, Progress, SignatureBackend, TrustedState,
    VerdictClass, verify_to_height,
};

use crate::model_based::{cases, class};
use crate::support::{gen_block, options, rotating_chain, rotating_set, time_of};

const CHAIN: &str = "switchyard-test";

fn client() -> LightClient {
    LightClient::new(options(Duration::from_secs(3600)), SignatureBackend::Batch)
}

fn source(
    chain: &[LightBlock],
) -> impl FnMut(u64) -> switchyard_lc_cometbft::Result<LightBlock> + '_ {
    move |h| {
        chain
            .iter()
            .find(|b| b.height().value() == h)
            .cloned()
            .ok_or(Error::Source {
                height: h,
                reason: "not in the test chain".into(),
                retryable: false,
            })
    }
}

/// The vectors' files that end in SUCCESS, replayed through the
/// bisection: the driver is given the files' blocks (the successful one
/// where a height has several) and must reach the last step's block,
/// asking for exactly the heights the model's steps visit.
#[test]
fn bisection_chains_the_vector_steps() {
    let mut reached = 0;
    let mut skipped = Vec::new();
    for (name, case) in cases() {
        let last = case.input.last().expect("steps");
        if class(&last.verdict) != VerdictClass::Success {
            continue;
        }
        let mut by_height: BTreeMap<u64, &LightBlock> = BTreeMap::new();
        for step in &case.input {
            let h = step.block.height().value();
            if class(&step.verdict) != VerdictClass::Invalid
                && (class(&step.verdict) == VerdictClass::Success || !by_height.contains_key(&h))
            {
                by_height.insert(h, &step.block);
            }
        }
        let target = last.block.height().value();
        let client = case.client(SignatureBackend::Batch);
        let trusted = case.trusted();
        // One moment for the whole bisection: the model's first step.
        // (The model advances its clock between steps, so using each
        // step's own time would expire the initial block in some files.)
        let now = case.input[0].now;
        let synced = verify_to_height(&client, &trusted, target, now, |h| {
            by_height
                .get(&h)
                .map(|b| (*b).clone())
                .ok_or(Error::Source {
                    height: h,
                    reason: "height not in the vector".into(),
                    retryable: false,
                })
        });
        match synced {
            Ok(s) => {
                assert_eq!(s.trusted.block(), &last.block, "{name}");
                let mut visited: Vec<u64> = case
                    .input
                    .iter()
                    .map(|s| s.block.height().value())
                    .collect();
                visited.dedup();
                assert!(
                    s.fetched.iter().all(|h| visited.contains(h)),
                    "{name}: fetched {:?}, steps visit {visited:?}",
                    s.fetched
                );
                reached += 1;
            }
            Err(e) => {
                // Only a height the model never visited may stop it.
                assert!(matches!(e, Error::Source { .. }), "{name}: {e}");
                skipped.push(name);
            }
        }
    }
    // Every file that ends in SUCCESS (28) is reached by bisection alone.
    assert_eq!((reached, skipped.len()), (28, 0), "skipped {skipped:?}");
}

#[test]
fn a_direct_skip_over_rotated_validators_lacks_trust() {
    let chain = rotating_chain(CHAIN, 16);
    let trusted = TrustedState::new(chain[0].clone()).expect("genesis");
    let now = time_of(20);
    let err = client()
        .verify(&trusted, &chain[15], now)
        .expect_err("no overlap with the trusted set");
    assert_eq!(err.class(), VerdictClass::NotEnoughTrust, "{err}");
    assert!(err.is_retryable());
}

#[test]
fn the_driver_bisects_through_pivots_to_the_target() {
    let chain = rotating_chain(CHAIN, 16);
    let trusted = TrustedState::new(chain[0].clone()).expect("genesis");
    let now = time_of(20);
    for backend in [SignatureBackend::Single, SignatureBackend::Batch] {
        let client = LightClient::new(options(Duration::from_secs(3600)), backend);
        let synced = verify_to_height(&client, &trusted, 16, now, source(&chain)).expect("synced");
        assert_eq!(synced.trusted.block(), &chain[15]);
        assert_eq!(synced.fetched[0], 16, "the target first");
        assert!(
            synced.fetched.len() > 2,
            "pivots fetched: {:?}",
            synced.fetched
        );
        assert!(synced.fetched[1..].iter().all(|h| (2..16).contains(h)));
        // Each pivot is the midpoint of the trusted height and the lowest
        // block that lacked trust: 16 -> 8 -> 4 first.
        assert_eq!(&synced.fetched[..3], &[16, 8, 4], "{:?}", synced.fetched);
    }
}

#[test]
fn the_state_machine_asks_for_pivots_and_moves_only_on_success() {
    let chain = rotating_chain(CHAIN, 9);
    let trusted = TrustedState::new(chain[0].clone()).expect("genesis");
    let now = time_of(20);
    let client = client();
    let mut b = Bisection::new(trusted, 9).expect("above");
    assert_eq!(b.wanted(), 9);
    let p = b.feed(&client, chain[8].clone(), now).expect("lacks trust");
    assert_eq!(p, Progress::NeedBlock(5));
    assert_eq!(b.trusted().height(), 1, "nothing verified yet");
    // A block at the wrong height is refused without changing anything.
    let err = b
        .feed(&client, chain[3].clone(), now)
        .expect_err("height 4");
    assert!(matches!(
        err,
        Error::UnexpectedHeight {
            expected: 5,
            got: 4
        }
    ));
    let p = b
        .feed(&client, chain[4].clone(), now)
        .expect("5 lacks trust from 1");
    assert_eq!(p, Progress::NeedBlock(3));
    let p = b.feed(&client, chain[2].clone(), now).expect("3 verifies");
    // 3 verified; 5 retried from the kept blocks without a fetch; from 3
    // to 5 there is overlap, then 9 lacks it from 5: pivot 7.
    assert_eq!(p, Progress::NeedBlock(7));
    assert_eq!(b.trusted().height(), 5);
    let p = b.feed(&client, chain[6].clone(), now).expect("7 verifies");
    match p {
        Progress::Verified(t) => assert_eq!(t.block(), &chain[8]),
        other => panic!("expected the target, got {other:?}"),
    }
}

#[test]
fn a_tampered_intermediate_block_is_refused() {
    let chain = rotating_chain(CHAIN, 16);
    let trusted = TrustedState::new(chain[0].clone()).expect("genesis");
    let now = time_of(20);
    let mut forged = chain;
    // The pivot at 4 claims another app hash than its validators signed.
    forged[3].signed_header.header.app_hash =
        tendermint::AppHash::try_from(vec![0xee; 32]).expect("app hash");
    let err =
        verify_to_height(&client(), &trusted, 16, now, source(&forged)).expect_err("forged pivot");
    assert_eq!(err.class(), VerdictClass::Invalid, "{err}");
    assert!(matches!(err, Error::Invalid { height: 4, .. }), "{err}");
    assert!(!err.is_retryable());
}

#[test]
fn a_chain_signed_by_other_validators_is_refused() {
    // An attacker's chain from height 2 on: its own validators, correctly
    // signed, never overlapping the trusted set; bisection must end in an
    // adjacent step whose validators are not the ones block 1 announced.
    let honest = rotating_chain(CHAIN, 1);
    let evil = |h: u64| {
        (0..4)
            .map(|i| tendermint_testgen::Validator::new(&format!("evil{h}-{i}")).voting_power(10))
            .collect::<Vec<_>>()
    };
    let mut chain = honest;
    for h in 2..=8 {
        chain.push(gen_block(CHAIN, h, &evil(h), &evil(h + 1)));
    }
    let trusted = TrustedState::new(chain[0].clone()).expect("genesis");
    let err = verify_to_height(&client(), &trusted, 8, time_of(20), source(&chain))
        .expect_err("forged chain");
    assert_eq!(err.class(), VerdictClass::Invalid, "{err}");
    assert!(matches!(err, Error::Invalid { height: 2, .. }), "{err}");
}

#[test]
fn an_expired_trusted_state_is_not_retryable() {
    let chain = rotating_chain(CHAIN, 3);
    let trusted = TrustedState::new(chain[0].clone()).expect("genesis");
    let client = LightClient::new(options(Duration::from_secs(10)), SignatureBackend::Batch);
    let late = time_of(100);
    assert!(trusted.check_fresh(client.options(), late).is_err());
    let err = client
        .verify(&trusted, &chain[1], late)
        .expect_err("expired");
    assert!(
        matches!(
            err,
            Error::TrustExpired {
                trusted_height: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.is_retryable());
}

#[test]
fn a_header_from_the_future_is_retryable() {
    let chain = rotating_chain(CHAIN, 3);
    let trusted = TrustedState::new(chain[0].clone()).expect("genesis");
    let err = client()
        .verify(&trusted, &chain[1], time_of(1))
        .expect_err("header at time_of(2) > now");
    assert!(
        matches!(err, Error::HeaderFromFuture { height: 2, .. }),
        "{err}"
    );
    assert!(err.is_retryable());
}

#[test]
fn checkpoints_are_checked_against_the_operator_hash() {
    let chain = rotating_chain(CHAIN, 2);
    let block = chain[1].clone();
    let hash = block.signed_header.header.hash();
    TrustedState::from_checkpoint(block.clone(), hash).expect("matching checkpoint");
    let other = chain[0].signed_header.header.hash();
    let err = TrustedState::from_checkpoint(block.clone(), other).expect_err("wrong hash");
    assert!(
        matches!(err, Error::BadTrustedBlock { height: 2, .. }),
        "{err}"
    );
    let mut wrong_next = block;
    wrong_next.next_validators = chain[0].validators.clone();
    assert!(TrustedState::new(wrong_next).is_err());
    let _ = rotating_set(1);
}
