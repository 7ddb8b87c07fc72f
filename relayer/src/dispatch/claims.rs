//! The accounts a destination's dispatchers send from, claimed in Redis for
//! this replica. Two replicas of one hub sending from one account race for
//! its nonces: transactions replace each other, get stuck behind gaps and
//! burn fees. So a replica refuses to start while another live replica
//! holds one of its accounts, and stops delivering to a destination if it
//! ever loses a claim to another replica (reported on `/healthz`, which
//! fails so the process is restarted, to be refused with the reason).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::Address;
use switchyard_types::Domain;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::health::Health;
use crate::metrics::Metrics;
use crate::store::{Leases, StoreError};

/// The claims of one destination's senders, held by this replica.
#[derive(Debug)]
pub struct SenderClaims {
    leases: Leases,
    dst: Domain,
    chain: String,
    senders: Vec<String>,
    owner: String,
    ttl: Duration,
}

impl SenderClaims {
    /// Claims every account of `senders` for `owner` (this replica). A
    /// claim another replica holds is waited for up to twice `ttl` (a
    /// replica that stopped without releasing, or crashed, holds it at most
    /// `ttl` more); still held then, the start is refused
    /// ([`StoreError::SenderInUse`]).
    pub async fn claim(
        leases: Leases,
        dst: Domain,
        chain: &str,
        senders: &[Address],
        owner: &str,
        ttl: Duration,
    ) -> Result<Self, StoreError> {
        let claims = Self {
            leases,
            dst,
            chain: chain.to_owned(),
            senders: senders.iter().map(|a| a.to_checksum(None)).collect(),
            owner: owner.to_owned(),
            ttl,
        };
        let deadline = Instant::now() + ttl * 2;
        for sender in &claims.senders {
            let mut waited = false;
            loop {
                let holder = match claims.leases.claim_sender(dst, sender, owner, ttl).await? {
                    None => break,
                    Some(h) => h,
                };
                if Instant::now() >= deadline {
                    return Err(claims.in_use(sender, holder));
                }
                if !waited {
                    info!(
                        chain,
                        sender,
                        holder,
                        "a submitter account is claimed by another replica; waiting for the claim to lapse"
                    );
                    waited = true;
                }
                tokio::time::sleep(ttl / 4).await;
            }
        }
        Ok(claims)
    }

    fn in_use(&self, sender: &str, holder: String) -> StoreError {
        StoreError::SenderInUse {
            key: self.leases.sender_key(self.dst, sender),
            chain: self.chain.clone(),
            sender: sender.to_owned(),
            holder,
        }
    }

    /// Runs `dispatcher` (the destination's dispatchers, stopped by `stop`)
    /// while renewing the claims every third of their time to live, and
    /// releases them once it has finished (its last transactions
    /// confirmed or given up). A claim found held by another replica stops
    /// the dispatchers and is reported on `/healthz`; a Redis failure is counted
    /// and retried (the claim outlives two missed renewals).
    pub async fn guard(
        self,
        dispatcher: impl Future<Output = ()>,
        stop: CancellationToken,
        health: Arc<Health>,
        metrics: Metrics,
    ) {
        tokio::pin!(dispatcher);
        let mut tick = tokio::time::interval_at(Instant::now() + self.ttl / 3, self.ttl / 3);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut lost = false;
        loop {
            tokio::select! {
                () = &mut dispatcher => break,
                _ = tick.tick(), if !lost => {
                    for sender in &self.senders {
                        match self.leases.claim_sender(self.dst, sender, &self.owner, self.ttl).await {
                            Ok(None) => {}
                            Ok(Some(holder)) => {
                                let e = self.in_use(sender, holder);
                                error!(chain = %self.chain, err = %e, "lost a submitter account to another replica; delivery to this chain stops");
                                // On /healthz (the process is restarted, to be
                                // refused with the reason); not as a watcher's
                                // fatal error: the chain's watcher runs on.
                                health.task_ended(
                                    &format!("dispatcher {} sender claims", self.chain),
                                    e.to_string(),
                                );
                                stop.cancel();
                                lost = true;
                                break;
                            }
                            Err(e) => {
                                metrics.redis_errors.with_label_values(&[e.op()]).inc();
                                warn!(chain = %self.chain, err = %e, "renewing a submitter account's claim failed; retrying");
                            }
                        }
                    }
                }
            }
        }
        if lost {
            return;
        }
        for sender in &self.senders {
            if let Err(e) = self
                .leases
                .release_sender(self.dst, sender, &self.owner)
                .await
            {
                // It lapses after its time to live.
                warn!(chain = %self.chain, sender, err = %e, "releasing a submitter account's claim failed");
            }
        }
    }
}
