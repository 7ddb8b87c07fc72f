//! A delivered-nonce bitmap shared by processes: what `switchyard bench`'s
//! verifying sinks use to act as one destination chain across hub
//! processes. Not hub state (the hub's exactly-once lives in the lanes and
//! on chain); here so that no Redis type lives outside the store.

use switchyard_types::Domain;

use super::{StoreError, redis_err};

/// The nonce bitmap kept in Redis instead of in process, so that several
/// hub processes' sinks act as one destination chain: a message delivered
/// by two processes is caught as a duplicate. One `SETBIT` per message in a
/// script per origin and batch: the script returns how many bits were
/// already set.
#[derive(Clone)]
pub struct SeenNonces {
    conn: redis::aio::MultiplexedConnection,
    prefix: String,
    script: redis::Script,
}

impl std::fmt::Debug for SeenNonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeenNonces")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl SeenNonces {
    /// Bitmaps under `prefix` in the Redis at `url`.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let conn = redis::Client::open(url)
            .map_err(redis_err("open"))?
            .get_multiplexed_async_connection()
            .await
            .map_err(redis_err("connect"))?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
            script: redis::Script::new(
                "local again = 0 \
                 for i = 1, #ARGV do \
                   again = again + redis.call('SETBIT', KEYS[1], ARGV[i], 1) \
                 end \
                 return again",
            ),
        })
    }

    /// Marks `nonces` of `origin` delivered at `dest`; returns how many
    /// already were.
    pub async fn mark(
        &self,
        dest: Domain,
        origin: Domain,
        nonces: &[u32],
    ) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        self.script
            .key(format!("{}:seen:{dest}:{origin}", self.prefix))
            .arg(nonces)
            .invoke_async(&mut conn)
            .await
            .map_err(redis_err("setbit"))
    }
}
