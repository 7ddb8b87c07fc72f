//! Header verification with 100 and 150 validators (tendermint-testgen
//! blocks, real ed25519 signatures), and, in the same run, the same
//! commit signatures verified alone with ed25519-consensus: one by one
//! (all of them, and the two thirds the upstream verifier stops at) and
//! as one batch. The ratios of the first to the others are the overhead
//! of everything that is not signature checking.
//!
//! Medians measured on the 2-core dev machine (`--warm-up-time 1
//! --measurement-time 3`), equal-power sets, adjacent step (skipping is
//! the same to within 0.3%: the 1/3 tally's signatures are reused):
//!
//! | validators | upstream (single) | batch backend | ed25519 one by one, all / 2/3+1 | ed25519 batch, all |
//! |---|---|---|---|---|
//! | 100 | 2.67 ms | 1.94 ms | 3.55 / 2.37 ms | 1.90 ms |
//! | 150 | 4.01 ms | 2.73 ms | 5.33 / 3.58 ms | 2.57 ms |
//!
//! Upstream is 1.12x the signatures it checks one by one; the batch
//! backend is 1.02-1.06x the same batch alone (two runs), and 1.37-1.48x
//! faster than upstream.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ed25519_consensus::{Signature, VerificationKey, VerificationKeyBytes, batch};
use switchyard_lc_cometbft::{
    LightBlock, LightClient, Options, SignatureBackend, Time, TrustThreshold, TrustedState,
};
use tendermint::PublicKey;
use tendermint::block::CommitSig;
use tendermint::vote::{SignedVote, Type, ValidatorIndex, Vote};
use tendermint_testgen::{Commit, Generator, Header, LightBlock as TestgenBlock, Validator};

fn time_of(h: u64) -> Time {
    Time::from_unix_timestamp(1_700_000_000 + h as i64, 0).expect("time")
}

fn block(vals: &[Validator], h: u64) -> LightBlock {
    let header = Header::new(vals)
        .next_validators(vals)
        .height(h)
        .chain_id("bench-chain")
        .time(time_of(h));
    let b = TestgenBlock::new(header.clone(), Commit::new(header, 1))
        .generate()
        .expect("testgen block");
    LightBlock::new(b.signed_header, b.validators, b.next_validators, b.provider)
}

/// `(key, sign bytes, signature)` of every commit signature, in commit order.
fn triples(b: &LightBlock) -> Vec<(VerificationKey, Vec<u8>, Signature)> {
    let commit = &b.signed_header.commit;
    commit
        .signatures
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s {
            CommitSig::BlockIdFlagCommit {
                validator_address,
                timestamp,
                signature: Some(sig),
            } => {
                let v = b.validators.validator(*validator_address).expect("signer");
                let PublicKey::Ed25519(pk) = v.pub_key else {
                    panic!("ed25519 only")
                };
                let vote = Vote {
                    vote_type: Type::Precommit,
                    height: commit.height,
                    round: commit.round,
                    block_id: Some(commit.block_id),
                    timestamp: Some(*timestamp),
                    validator_address: *validator_address,
                    validator_index: ValidatorIndex::try_from(i).expect("index"),
                    signature: Some(sig.clone()),
                    extension: Default::default(),
                    extension_signature: None,
                };
                let signed = SignedVote::from_vote(vote, b.signed_header.header.chain_id.clone())
                    .expect("signed");
                let mut msg = Vec::new();
                signed.sign_bytes_into(&mut msg).expect("encodes");
                let key = VerificationKey::try_from(pk.as_bytes()).expect("key");
                let sig = Signature::try_from(sig.as_bytes()).expect("sig");
                Some((key, msg, sig))
            }
            _ => None,
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let options = Options {
        trust_threshold: TrustThreshold::ONE_THIRD,
        trusting_period: Duration::from_secs(3600),
        clock_drift: Duration::ZERO,
    };
    let now = time_of(100);
    let mut group = c.benchmark_group("cometbft");
    for n in [100usize, 150] {
        let vals: Vec<Validator> = (0..n)
            .map(|i| Validator::new(&format!("bench-{i}")).voting_power(10))
            .collect();
        let trusted = TrustedState::new(block(&vals, 1)).expect("trusted");
        // Adjacent: the upstream verifier checks the new set's signatures
        // until more than 2/3 of the power signed.
        let next = block(&vals, 2);
        // Skipping: 1/3 of the trusted set, then 2/3 of the new one.
        let skip = block(&vals, 50);
        let single = LightClient::new(options, SignatureBackend::Single);
        let batched = LightClient::new(options, SignatureBackend::Batch);
        for (name, client) in [("single", &single), ("batch", &batched)] {
            for (kind, untrusted) in [("adjacent", &next), ("skipping", &skip)] {
                let _ = client.verify(&trusted, untrusted, now).expect("valid");
                group.bench_with_input(
                    BenchmarkId::new(format!("verify_header/{kind}/{name}"), n),
                    untrusted,
                    |b, untrusted| {
                        b.iter(|| client.verify(&trusted, black_box(untrusted), now));
                    },
                );
            }
        }

        let t = triples(&next);
        assert_eq!(t.len(), n);
        let two_thirds = n * 2 / 3 + 1;
        for (label, count) in [("all", n), ("two_thirds", two_thirds)] {
            group.bench_with_input(
                BenchmarkId::new(format!("ed25519_alone/one_by_one/{label}"), n),
                &t[..count],
                |b, t| {
                    b.iter(|| {
                        for (key, msg, sig) in t {
                            key.verify(sig, black_box(msg)).expect("valid");
                        }
                    });
                },
            );
        }
        group.bench_with_input(
            BenchmarkId::new("ed25519_alone/batch/all", n),
            &t,
            |b, t| {
                b.iter(|| {
                    let mut v = batch::Verifier::new();
                    for (key, msg, sig) in t {
                        v.queue((VerificationKeyBytes::from(*key), *sig, black_box(msg)));
                    }
                    v.verify(rand_core::OsRng).expect("valid batch");
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
