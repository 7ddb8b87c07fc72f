//! State the hub trusts, per origin: the light clients' stores, the highest
//! block fully routed, and route-group decisions. Values are authenticated
//! with the queue key: whoever can write to Redis cannot move them.

use switchyard_types::Domain;

use super::{Store, StoreError, redis_err};

// Choose once: KEYS[1] assignment; ARGV proposed member. Returns the
// recorded member.
pub(super) const ASSIGN_LUA: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', 86400) then return ARGV[1] end
return redis.call('GET', KEYS[1])
";

// Re-sign: KEYS[1] state; ARGV old value, new value. Only if unchanged.
pub(super) const RESIGN_LUA: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return 1
end
return 0
";

/// Per-origin state the hub trusts: light-client stores, the routed
/// cursor, and route-group decisions.
#[derive(Debug, Clone)]
pub struct OriginState {
    s: Store,
}

impl OriginState {
    pub(super) fn new(s: Store) -> Self {
        Self { s }
    }

    /// Stores `value` under `key` with a tag binding it to `key`: state the
    /// hub trusts (the light client's anchor, the routed cursor) must not be
    /// writable by whoever can write to Redis.
    async fn set_authenticated(
        &self,
        key: String,
        value: &str,
        op: &'static str,
    ) -> Result<(), StoreError> {
        let tag = hex::encode(self.s.key.tag_state(&key, value.as_bytes()));
        let mut c = self.s.conn.clone();
        redis::cmd("SET")
            .arg(&key)
            .arg(format!("{tag}:{value}"))
            .query_async(&mut c)
            .await
            .map_err(redis_err(op))
    }

    async fn get_authenticated(
        &self,
        key: String,
        op: &'static str,
    ) -> Result<Option<String>, StoreError> {
        let mut c = self.s.conn.clone();
        let v: Option<String> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut c)
            .await
            .map_err(redis_err(op))?;
        let Some(v) = v else { return Ok(None) };
        let refused = |reason: &str| StoreError::Decode {
            id: key.clone(),
            reason: reason.to_owned(),
        };
        let (tag, value) = v
            .split_once(':')
            .ok_or_else(|| refused("no authentication tag"))?;
        let tag = hex::decode(tag).map_err(|_| refused("authentication tag is not hex"))?;
        match self.s.key.verify_state(&key, value.as_bytes(), &tag) {
            None => {
                return Err(refused(
                    "authentication failed: written without the queue key (or a key no longer in queue_key and accepted_queue_keys)",
                ));
            }
            Some(0) => {}
            Some(_) => {
                // Written under a key of the ring that no longer signs (a
                // rotation): sign it again with the current one, unless it
                // changed meanwhile, so the old key can be dropped once
                // every process runs with the new one.
                let tag = hex::encode(self.s.key.tag_state(&key, value.as_bytes()));
                let _: i64 = self
                    .s
                    .scripts
                    .resign
                    .key(&key)
                    .arg(&v)
                    .arg(format!("{tag}:{value}"))
                    .invoke_async(&mut c)
                    .await
                    .map_err(redis_err(op))?;
            }
        }
        Ok(Some(value.to_owned()))
    }

    /// Highest origin block fully routed, if any.
    pub async fn scanned(&self, origin: Domain) -> Result<Option<u64>, StoreError> {
        let key = self.s.scanned_key(origin);
        match self.get_authenticated(key.clone(), "get_scanned").await? {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| StoreError::Decode {
                id: key,
                reason: format!("expected a block number, got {v:?}"),
            }),
        }
    }

    /// Records that every block up to `height` has been routed.
    pub async fn set_scanned(&self, origin: Domain, height: u64) -> Result<(), StoreError> {
        self.set_authenticated(
            self.s.scanned_key(origin),
            &height.to_string(),
            "set_scanned",
        )
        .await
    }

    /// The persisted light-client state of `origin` (JSON), if any; refused
    /// if it was not written by a holder of the queue key.
    pub async fn load_lc(&self, origin: Domain) -> Result<Option<String>, StoreError> {
        self.get_authenticated(self.s.lc_key(origin), "load_lc")
            .await
    }

    /// Persists the light-client state of `origin`.
    pub async fn save_lc(&self, origin: Domain, state: &str) -> Result<(), StoreError> {
        self.set_authenticated(self.s.lc_key(origin), state, "save_lc")
            .await
    }

    /// The persisted beacon light-client store of `origin` (hex of its
    /// snapshot), if any; refused if not written by a holder of the queue
    /// key.
    pub async fn load_beacon(&self, origin: Domain) -> Result<Option<String>, StoreError> {
        self.get_authenticated(self.s.beacon_key(origin), "load_beacon")
            .await
    }

    /// Persists the beacon light-client store of `origin`.
    pub async fn save_beacon(&self, origin: Domain, state: &str) -> Result<(), StoreError> {
        self.set_authenticated(self.s.beacon_key(origin), state, "save_beacon")
            .await
    }

    /// The persisted state of CometBFT origin `origin` (JSON: its trusted
    /// light block and the next outbox nonce), if any; refused if not
    /// written by a holder of the queue key.
    pub async fn load_cometbft(&self, origin: Domain) -> Result<Option<String>, StoreError> {
        self.get_authenticated(self.s.cometbft_key(origin), "load_cometbft")
            .await
    }

    /// Persists the state of CometBFT origin `origin`.
    pub async fn save_cometbft(&self, origin: Domain, state: &str) -> Result<(), StoreError> {
        self.set_authenticated(self.s.cometbft_key(origin), state, "save_cometbft")
            .await
    }

    /// The member of route `group` for the messages of origin block
    /// `height`: the first caller's `proposed` member is recorded (SET NX,
    /// kept a day) and every later caller, this watcher after a restart or
    /// another replica's, gets the same answer. One decision per block means
    /// one member per message, so a message never reaches two chains.
    pub async fn assign_group_member(
        &self,
        origin: Domain,
        group: Domain,
        height: u64,
        proposed: Domain,
    ) -> Result<Domain, StoreError> {
        let mut c = self.s.conn.clone();
        let v: String = self
            .s
            .scripts
            .assign
            .key(format!(
                "{}:{{origin:{origin}}}:assign:{group}:{height}",
                self.s.prefix
            ))
            .arg(proposed)
            .invoke_async(&mut c)
            .await
            .map_err(redis_err("assign_group_member"))?;
        v.parse().map_err(|_| StoreError::Decode {
            id: format!("assignment of group {group} at {height}"),
            reason: format!("expected a domain, got {v:?}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use switchyard_localnet::procs::RedisServer;

    use crate::store::{QueueKey, RedisTarget, Store, StoreError};

    const OLD: [u8; 32] = [7; 32];
    const NEW: [u8; 32] = [8; 32];

    async fn store(redis: &RedisServer, key: QueueKey) -> Store {
        Store::connect(&RedisTarget::Single(redis.url.clone()), "rot", key)
            .await
            .expect("connects")
    }

    fn key(k: &[u8; 32]) -> QueueKey {
        QueueKey::new(k).expect("key")
    }

    /// State written under the old key is read through a ring that accepts
    /// it and signed again with the new key, so a hub holding the new key
    /// alone reads it afterwards; before, it refuses it.
    #[tokio::test]
    async fn state_signed_with_an_accepted_key_is_signed_again_when_read() {
        let redis = RedisServer::spawn(None).expect("redis-server starts");
        let old = store(&redis, key(&OLD)).await.origin_state();
        old.save_lc(7, "{\"anchor\":1}").await.expect("saved");
        old.set_scanned(7, 42).await.expect("saved");

        let alone = store(&redis, key(&NEW)).await.origin_state();
        let refused = alone.load_lc(7).await.expect_err("not the new key's");
        assert!(
            matches!(refused, StoreError::Decode { .. })
                && refused.to_string().contains("authentication failed"),
            "{refused}"
        );

        let ring = store(&redis, key(&NEW).accepting([key(&OLD)]))
            .await
            .origin_state();
        assert_eq!(
            ring.load_lc(7).await.expect("read").as_deref(),
            Some("{\"anchor\":1}")
        );
        assert_eq!(ring.scanned(7).await.expect("read"), Some(42));

        assert_eq!(
            alone.load_lc(7).await.expect("signed again").as_deref(),
            Some("{\"anchor\":1}")
        );
        assert_eq!(alone.scanned(7).await.expect("signed again"), Some(42));
        let stale = old.load_lc(7).await.expect_err("no longer the old key's");
        assert!(
            stale.to_string().contains("authentication failed"),
            "{stale}"
        );
    }
}
