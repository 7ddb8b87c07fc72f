//! Shard leases (one dispatcher worker per shard), the registry workers
//! heartbeat into, which decides each worker's fair share, and the claims
//! of the accounts replicas send transactions from (one replica per
//! account, `{dst:<d>}:sender:<account>`).

use std::time::Duration;

use switchyard_types::Domain;

use super::entry::LaneId;
use super::{Store, StoreError, redis_err};

// Lease: renew if still ours. KEYS[1] owner; ARGV owner, ttl ms.
pub(super) const RENEW_LUA: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

// Claim: take if free, extend if ours, else name the holder. KEYS[1]
// claim; ARGV owner, ttl ms. Returns '' when ARGV[1] holds it now.
pub(super) const CLAIM_LUA: &str = r"
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ''
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return ''
end
return holder
";

// Lease: release if ours. KEYS[1] owner; ARGV owner.
pub(super) const RELEASE_LUA: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// Shard leases and the dispatcher workers' registry.
#[derive(Debug, Clone)]
pub struct Leases {
    s: Store,
}

impl Leases {
    pub(super) fn new(s: Store) -> Self {
        Self { s }
    }

    /// Sets `key` to `owner` for `ttl` if it is free; whether it did.
    async fn take(
        &self,
        key: &str,
        owner: &str,
        ttl: Duration,
        op: &'static str,
    ) -> Result<bool, StoreError> {
        let mut c = self.s.conn.clone();
        let r: Option<String> = redis::cmd("SET")
            .arg(key)
            .arg(owner)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .query_async(&mut c)
            .await
            .map_err(redis_err(op))?;
        Ok(r.is_some())
    }

    /// Gives `key` another `ttl` if it is still `owner`'s; whether it was.
    async fn extend(
        &self,
        key: &str,
        owner: &str,
        ttl: Duration,
        op: &'static str,
    ) -> Result<bool, StoreError> {
        let mut c = self.s.conn.clone();
        let r: i64 = self
            .s
            .scripts
            .renew
            .key(key)
            .arg(owner)
            .arg(ttl.as_millis() as u64)
            .invoke_async(&mut c)
            .await
            .map_err(redis_err(op))?;
        Ok(r == 1)
    }

    /// Takes the lease of `lane` for `owner` if free.
    pub async fn acquire_lease(
        &self,
        lane: LaneId,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.take(&self.s.lease_key(lane), owner, ttl, "lease")
            .await
    }

    /// Extends `owner`'s lease of `lane`; false if it is not `owner`'s any more.
    pub async fn renew_lease(
        &self,
        lane: LaneId,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.extend(&self.s.lease_key(lane), owner, ttl, "lease")
            .await
    }

    /// Deletes `key` if it is still `owner`'s.
    async fn give_up(&self, key: &str, owner: &str, op: &'static str) -> Result<(), StoreError> {
        let mut c = self.s.conn.clone();
        let _: i64 = self
            .s
            .scripts
            .release
            .key(key)
            .arg(owner)
            .invoke_async(&mut c)
            .await
            .map_err(redis_err(op))?;
        Ok(())
    }

    /// Gives up `owner`'s lease of `lane`.
    pub async fn release_lease(&self, lane: LaneId, owner: &str) -> Result<(), StoreError> {
        self.give_up(&self.s.lease_key(lane), owner, "lease").await
    }

    /// Heartbeats `worker` into `dst`'s registry at `now_ms`, forgets workers
    /// silent for `ttl`, and returns how many are alive.
    pub async fn heartbeat(
        &self,
        dst: Domain,
        worker: &str,
        now_ms: u64,
        ttl: Duration,
    ) -> Result<u64, StoreError> {
        let key = self.s.workers_key(dst);
        let mut c = self.s.conn.clone();
        let (_, _, live): (i64, i64, u64) = redis::pipe()
            .cmd("ZADD")
            .arg(&key)
            .arg(now_ms)
            .arg(worker)
            .cmd("ZREMRANGEBYSCORE")
            .arg(&key)
            .arg("-inf")
            .arg(now_ms.saturating_sub(ttl.as_millis() as u64))
            .cmd("ZCARD")
            .arg(&key)
            .query_async(&mut c)
            .await
            .map_err(redis_err("heartbeat"))?;
        Ok(live)
    }

    /// Removes `worker` from `dst`'s registry (clean shutdown).
    pub async fn leave(&self, dst: Domain, worker: &str) -> Result<(), StoreError> {
        let mut c = self.s.conn.clone();
        let _: i64 = redis::cmd("ZREM")
            .arg(self.s.workers_key(dst))
            .arg(worker)
            .query_async(&mut c)
            .await
            .map_err(redis_err("leave"))?;
        Ok(())
    }

    /// The key of the claim of `sender` (an account of destination `dst`).
    pub fn sender_key(&self, dst: Domain, sender: &str) -> String {
        format!("{}:{{dst:{dst}}}:sender:{sender}", self.s.prefix)
    }

    /// Claims `sender` (an account of destination `dst`) for `owner` for
    /// `ttl`, or extends `owner`'s claim. `None` when `owner` holds it now,
    /// else the owner that does.
    pub async fn claim_sender(
        &self,
        dst: Domain,
        sender: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StoreError> {
        // One script, so that taking, extending and naming the holder see
        // the same value.
        let mut c = self.s.conn.clone();
        let holder: String = self
            .s
            .scripts
            .claim
            .key(self.sender_key(dst, sender))
            .arg(owner)
            .arg(ttl.as_millis() as u64)
            .invoke_async(&mut c)
            .await
            .map_err(redis_err("sender claim"))?;
        Ok((!holder.is_empty()).then_some(holder))
    }

    /// Gives `owner`'s claim of `sender` up (if it is still `owner`'s).
    pub async fn release_sender(
        &self,
        dst: Domain,
        sender: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        self.give_up(&self.sender_key(dst, sender), owner, "sender release")
            .await
    }
}
