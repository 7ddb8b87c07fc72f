//! Shared helpers: vector paths and generated chains.

use std::path::PathBuf;
use std::time::Duration;

use switchyard_lc_cometbft::{LightBlock, Options, Time, TrustThreshold};
use tendermint_testgen::light_block::TmLightBlock;
use tendermint_testgen::{Commit, Generator, Header, LightBlock as TestgenBlock, Validator};

/// `../shared/vectors/<rel>` from the repository root.
pub(crate) fn vectors(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vectors")
        .join(rel)
}

pub(crate) fn read(path: &PathBuf) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub(crate) fn options(trusting_period: Duration) -> Options {
    Options {
        trust_threshold: TrustThreshold::ONE_THIRD,
        trusting_period,
        clock_drift: Duration::ZERO,
    }
}

pub(crate) fn into_block(b: TmLightBlock) -> LightBlock {
    LightBlock::new(b.signed_header, b.validators, b.next_validators, b.provider)
}

/// Unix time of height `h` in generated chains.
pub(crate) const GENESIS_SECS: i64 = 1_700_000_000;

pub(crate) fn time_of(h: u64) -> Time {
    Time::from_unix_timestamp(GENESIS_SECS + h as i64 * 5, 0).expect("valid time")
}

/// A block of a generated chain signed by `vals`, announcing `next`.
pub(crate) fn gen_block(
    chain_id: &str,
    h: u64,
    vals: &[Validator],
    next: &[Validator],
) -> LightBlock {
    let header = Header::new(vals)
        .next_validators(next)
        .height(h)
        .chain_id(chain_id)
        .time(time_of(h));
    let commit = Commit::new(header.clone(), 1);
    let tb = TestgenBlock::new(header, commit).next_validators(next);
    into_block(tb.generate().expect("testgen block"))
}

/// The validator set at height `h` of a chain where one of four validators
/// is replaced at every height: `v{h}`..`v{h+3}`, so a header more than
/// three heights ahead shares no signer with the trusted set.
pub(crate) fn rotating_set(h: u64) -> Vec<Validator> {
    (h..h + 4)
        .map(|i| Validator::new(&format!("v{i}")).voting_power(10))
        .collect()
}

/// Blocks 1..=n of the rotating chain.
pub(crate) fn rotating_chain(chain_id: &str, n: u64) -> Vec<LightBlock> {
    (1..=n)
        .map(|h| gen_block(chain_id, h, &rotating_set(h), &rotating_set(h + 1)))
        .collect()
}
