//! The watcher's steps: move the trusted state to a target height by
//! driving the pure bisection with blocks fetched over RPC, and prove an
//! outbox entry against a verified header.

use switchyard_lc_cometbft::outbox::{OUTBOX_STORE, outbox_key, verify_absent, verify_entry};
use switchyard_lc_cometbft::{
    Bisection, Error as LcError, LightBlock, LightClient, Progress, Time, TrustedState,
};
use switchyard_types::{Domain, Message};

use crate::error::{Error, Result};
use crate::rpc::RpcClient;

/// What [`sync_to`] did.
#[derive(Debug, Clone)]
pub struct SyncOutcome {
    /// The trusted state at the target height.
    pub trusted: TrustedState,
    /// Heights fetched, in order (the target first, then pivots).
    pub fetched: Vec<u64>,
}

/// Verifies the chain from `trusted` up to `target` (skipping, bisecting
/// where a skip lacks trust) and returns the new trusted state. The
/// caller's state is untouched on error; the caller persists the result.
///
/// A block that does not verify may be one endpoint's lie rather than the
/// chain's: before giving up, the same height is asked from every
/// endpoint alone, and any different block is tried.
///
/// Signature checking runs on the blocking pool, off the async workers.
pub async fn sync_to(
    rpc: &RpcClient,
    client: &LightClient,
    trusted: &TrustedState,
    target: u64,
    now: Time,
) -> Result<SyncOutcome> {
    let mut bisection = Bisection::new(trusted.clone(), target)?;
    let mut fetched = Vec::new();
    loop {
        let height = bisection.wanted();
        let block = rpc.light_block(height).await?;
        fetched.push(height);
        let (b, mut progress) = feed(bisection, client, block.clone(), now).await?;
        bisection = b;
        if let Err(e) = &progress
            && matches!(
                e,
                LcError::Invalid { .. } | LcError::HeaderFromFuture { .. }
            )
        {
            let first_err = e.to_string();
            let refused = bisection.wanted();
            let mut tried = vec![if refused == height {
                block
            } else {
                // A kept block failed after a pivot verified: ask again.
                rpc.light_block(refused).await?
            }];
            for endpoint in 0..rpc.endpoint_count() {
                let Ok(alt) = rpc.light_block_from(endpoint, refused).await else {
                    continue;
                };
                if tried.iter().any(|t| same_block(t, &alt)) {
                    continue;
                }
                tracing::warn!(height = refused, endpoint, err = %first_err, "block refused; trying another endpoint's");
                tried.push(alt.clone());
                fetched.push(refused);
                let (b, p) = feed(bisection, client, alt, now).await?;
                bisection = b;
                let bad = matches!(
                    &p,
                    Err(LcError::Invalid { .. } | LcError::HeaderFromFuture { .. })
                );
                progress = p;
                if !bad {
                    break;
                }
            }
        }
        match progress? {
            Progress::Verified(trusted) => {
                return Ok(SyncOutcome {
                    trusted: *trusted,
                    fetched,
                });
            }
            Progress::NeedBlock(_) => {}
        }
    }
}

fn same_block(a: &LightBlock, b: &LightBlock) -> bool {
    a.signed_header == b.signed_header
        && a.validators.hash() == b.validators.hash()
        && a.next_validators.hash() == b.next_validators.hash()
}

type Fed = (Bisection, std::result::Result<Progress, LcError>);

/// One bisection step on the blocking pool.
async fn feed(
    bisection: Bisection,
    client: &LightClient,
    block: LightBlock,
    now: Time,
) -> Result<Fed> {
    let client = client.clone();
    let mut bisection = bisection;
    tokio::task::spawn_blocking(move || {
        let progress = bisection.feed(&client, block, now);
        (bisection, progress)
    })
    .await
    .map_err(|e| Error::Config(format!("verification task failed: {e}")))
}

/// What the outbox holds for a nonce, proven against a verified header.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutboxLookup {
    /// The entry exists: its message, checked against its key and origin.
    Present(Message),
    /// The entry is absent (a non-existence proof under the verified app
    /// hash): the message with this nonce was not written yet in that
    /// state. Not a node's word: a node cannot make it up.
    Absent,
}

/// Fetches and proves the outbox entry of `nonce` of the chain whose
/// Switchyard domain is `origin`, against `verified`: a trusted header at
/// height `H + 1` proves the state queried at height `H`.
///
/// An entry is either proven present or proven absent; any other answer
/// (a proof that does not reach the verified app hash, a value that is not
/// the entry's message) is an error and proves nothing. An answer that does
/// not verify is asked again from every endpoint alone, so one lying
/// endpoint does not stall the walk.
pub async fn fetch_outbox_message(
    rpc: &RpcClient,
    verified: &TrustedState,
    origin: Domain,
    nonce: u32,
) -> Result<OutboxLookup> {
    let height = verified
        .height()
        .checked_sub(1)
        .filter(|h| *h > 0)
        .ok_or_else(|| {
            Error::Config(format!(
                "header {} proves no queryable state (needs height >= 2)",
                verified.height()
            ))
        })?;
    let key = outbox_key(nonce);
    let path = format!("/store/{}/key", String::from_utf8_lossy(OUTBOX_STORE));
    let answer = rpc.abci_query(&path, &key, height).await?;
    let first = prove_answer(verified, origin, nonce, height, &path, &key, &answer);
    let Err(first_err) = first else {
        return first;
    };
    if !matches!(first_err, Error::LightClient(_) | Error::Query { .. }) {
        return Err(first_err);
    }
    // An answer that does not verify may be one endpoint's lie: ask every
    // endpoint alone before giving up (each answer is proven the same way).
    for endpoint in 0..rpc.endpoint_count() {
        let Ok(answer) = rpc.abci_query_from(endpoint, &path, &key, height).await else {
            continue;
        };
        if let Ok(found) = prove_answer(verified, origin, nonce, height, &path, &key, &answer) {
            tracing::warn!(height, nonce, endpoint, err = %first_err, "outbox answer refused; another endpoint's verified");
            return Ok(found);
        }
    }
    Err(first_err)
}

fn prove_answer(
    verified: &TrustedState,
    origin: Domain,
    nonce: u32,
    height: u64,
    path: &str,
    key: &[u8],
    answer: &crate::rpc::AbciProof,
) -> Result<OutboxLookup> {
    if answer.height != height {
        return Err(Error::Query {
            path: path.to_owned(),
            height,
            code: 0,
            log: format!("answered for height {} instead", answer.height),
        });
    }
    if answer.value.is_empty() {
        verify_absent(verified.app_hash(), &answer.ops, nonce)?;
        return Ok(OutboxLookup::Absent);
    }
    Ok(OutboxLookup::Present(verify_entry(
        verified.app_hash(),
        &answer.ops,
        origin,
        key,
        &answer.value,
    )?))
}
