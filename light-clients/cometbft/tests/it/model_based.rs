//! The 41 model-based single-step files of tendermint-rs (99 steps): each
//! step's verdict class must match, and the trusted state moves only on
//! SUCCESS. Parameters as `vectors/SOURCES.md` §1a gives them: threshold
//! 1/3, trusting period from the file, `now` from the step, drift 0.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use switchyard_lc_cometbft::{
    LightBlock, LightClient, SignatureBackend, Time, TrustedState, VerdictClass,
};
use tendermint::block::signed_header::SignedHeader;
use tendermint::validator::Set;

use crate::support::{options, read, vectors};

#[derive(Deserialize)]
pub(crate) struct Initial {
    pub(crate) signed_header: SignedHeader,
    pub(crate) next_validator_set: Set,
    #[serde(with = "tendermint::serializers::from_str")]
    pub(crate) trusting_period: u64,
}

#[derive(Deserialize)]
pub(crate) struct Step {
    pub(crate) block: LightBlock,
    pub(crate) now: Time,
    pub(crate) verdict: String,
}

#[derive(Deserialize)]
pub(crate) struct Case {
    pub(crate) initial: Initial,
    pub(crate) input: Vec<Step>,
}

impl Case {
    /// The initial trusted block uses the next validator set as both its
    /// validators and next validators (SOURCES.md §1a).
    pub(crate) fn trusted(&self) -> TrustedState {
        let block = LightBlock::new(
            self.initial.signed_header.clone(),
            self.initial.next_validator_set.clone(),
            self.initial.next_validator_set.clone(),
            tendermint::node::Id::new([0; 20]),
        );
        TrustedState::new(block).expect("initial block is self-consistent")
    }

    pub(crate) fn client(&self, backend: SignatureBackend) -> LightClient {
        LightClient::new(
            options(Duration::from_nanos(self.initial.trusting_period)),
            backend,
        )
    }
}

pub(crate) fn class(verdict: &str) -> VerdictClass {
    match verdict {
        "SUCCESS" => VerdictClass::Success,
        "NOT_ENOUGH_TRUST" => VerdictClass::NotEnoughTrust,
        "INVALID" => VerdictClass::Invalid,
        other => panic!("unknown verdict {other}"),
    }
}

pub(crate) fn cases() -> BTreeMap<String, Case> {
    let dir = vectors("tendermint-rs/light-client/tests/support/model_based/single_step");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("vector dir") {
        let path: PathBuf = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let name = path
                .file_stem()
                .expect("stem")
                .to_string_lossy()
                .into_owned();
            let case: Case = serde_json::from_str(&read(&path))
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            out.insert(name, case);
        }
    }
    out
}

fn run_all(backend: SignatureBackend) {
    let cases = cases();
    assert_eq!(cases.len(), 41, "all 41 single-step files");
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for (name, case) in &cases {
        let client = case.client(backend);
        let mut trusted = case.trusted();
        for (i, step) in case.input.iter().enumerate() {
            *counts.entry(step.verdict.as_str()).or_default() += 1;
            let before = trusted.clone();
            let got = match client.verify(&trusted, &step.block, step.now) {
                Ok(verified) => {
                    trusted
                        .apply(verified)
                        .expect("verified against this state");
                    VerdictClass::Success
                }
                Err(e) => e.class(),
            };
            if got != class(&step.verdict) {
                failures.push(format!(
                    "{name} step {i}: expected {}, got {got:?}",
                    step.verdict
                ));
            }
            if got == VerdictClass::Success {
                assert_eq!(
                    trusted.block(),
                    &step.block,
                    "{name} step {i}: moved to the block"
                );
            } else {
                assert_eq!(trusted, before, "{name} step {i}: unchanged after {got:?}");
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    let total: usize = counts.values().sum();
    assert_eq!(total, 99, "99 steps");
    assert_eq!(counts["SUCCESS"], 44);
    assert_eq!(counts["NOT_ENOUGH_TRUST"], 42);
    assert_eq!(counts["INVALID"], 13);
}

#[test]
fn all_single_step_vectors_single_signature_backend() {
    run_all(SignatureBackend::Single);
}

#[test]
fn all_single_step_vectors_batch_signature_backend() {
    run_all(SignatureBackend::Batch);
}

#[test]
fn verdict_classes_are_unchanged_by_clock_drift() {
    // SOURCES.md: every verdict holds at drift 0, 1 and 10 s.
    for drift in [1, 10] {
        for (name, case) in cases() {
            let mut opts = *case.client(SignatureBackend::Batch).options();
            opts.clock_drift = Duration::from_secs(drift);
            let client = LightClient::new(opts, SignatureBackend::Batch);
            let mut trusted = case.trusted();
            for (i, step) in case.input.iter().enumerate() {
                let got = match client.verify(&trusted, &step.block, step.now) {
                    Ok(v) => {
                        trusted.apply(v).expect("fresh");
                        VerdictClass::Success
                    }
                    Err(e) => e.class(),
                };
                assert_eq!(
                    got,
                    class(&step.verdict),
                    "{name} step {i} at drift {drift}s"
                );
            }
        }
    }
}

#[test]
fn a_verification_is_refused_by_a_state_that_moved_on() {
    let cases = cases();
    let case = &cases["MC10_3_faulty_TestSuccess"];
    let client = case.client(SignatureBackend::Single);
    let mut trusted = case.trusted();
    let at2 = client
        .verify(&trusted, &case.input[1].block, case.input[1].now)
        .expect("step to 2 succeeds");
    let again = at2.clone();
    trusted.apply(at2).expect("fresh");
    let err = trusted.apply(again).expect_err("stale");
    assert!(err.is_retryable(), "{err}");
}
