//! The watcher's steps: move the trusted state to a target height by
//! driving the pure bisection with blocks fetched over RPC, and prove an
//! outbox entry against a verified header.

use switchyard_lc_cometbft::outbox::{OUTBOX_STORE, outbox_key, verify_entry};
use switchyard_lc_cometbft::{Bisection, LightClient, Progress, Time, TrustedState};
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
        let step_client = client.clone();
        let (b, progress) = tokio::task::spawn_blocking(move || {
            let progress = bisection.feed(&step_client, block, now);
            (bisection, progress)
        })
        .await
        .map_err(|e| Error::Config(format!("verification task failed: {e}")))?;
        bisection = b;
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

/// Fetches and proves the outbox entry `(destination, nonce)` of the chain
/// whose Switchyard domain is `origin`, against `verified`: a trusted
/// header at height `H + 1` proves the state queried at height `H`.
pub async fn fetch_outbox_message(
    rpc: &RpcClient,
    verified: &TrustedState,
    origin: Domain,
    destination: Domain,
    nonce: u32,
) -> Result<Message> {
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
    let key = outbox_key(destination, nonce);
    let path = format!("/store/{}/key", String::from_utf8_lossy(OUTBOX_STORE));
    let answer = rpc.abci_query(&path, &key, height).await?;
    if answer.height != height {
        return Err(Error::Query {
            path,
            height,
            code: 0,
            log: format!("answered for height {} instead", answer.height),
        });
    }
    if answer.value.is_empty() {
        return Err(Error::Query {
            path,
            height,
            code: 0,
            log: format!("no outbox entry for destination {destination} nonce {nonce}"),
        });
    }
    Ok(verify_entry(
        verified.app_hash(),
        &answer.ops,
        origin,
        &key,
        &answer.value,
    )?)
}
