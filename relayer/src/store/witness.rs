//! An attester's record of the messages its own light clients verified:
//! the ids it may sign for. It lives in the attester's own Redis, never the
//! hub's, and every record carries an HMAC under a key derived from the
//! attester's signing key, so whoever can write that Redis still cannot
//! make the attester sign a message it did not verify.
//!
//! Keys: `<prefix>:{witness:<origin>}:<id>` holds the origin height the
//! message was verified at and the record's tag, with the window as its
//! expiry (the memory bound: the window times the verified rate).

use alloy_primitives::B256;
use switchyard_types::Domain;

use super::{Store, StoreError, redis_err};

/// Bytes of a record: the height, then the tag.
const RECORD_LEN: usize = 8 + 32;

/// Verified message ids of one attester, in its own store.
#[derive(Clone, Debug)]
pub struct Witness {
    store: Store,
    window_secs: u64,
}

impl Witness {
    pub(super) fn new(store: Store, window_secs: u64) -> Self {
        Self { store, window_secs }
    }

    fn key(&self, origin: Domain, id: &B256) -> String {
        format!("{}:{{witness:{origin}}}:{id:x}", self.store.prefix)
    }

    /// Records `ids` as verified at `height` of `origin`.
    pub async fn record(
        &self,
        origin: Domain,
        height: u64,
        ids: &[B256],
    ) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            let key = self.key(origin, id);
            let mut value = Vec::with_capacity(RECORD_LEN);
            value.extend_from_slice(&height.to_be_bytes());
            value.extend_from_slice(&self.store.key.tag_state(&key, &height.to_be_bytes()));
            pipe.cmd("SET")
                .arg(&key)
                .arg(value)
                .arg("EX")
                .arg(self.window_secs)
                .ignore();
        }
        let mut c = self.store.conn.clone();
        pipe.query_async::<()>(&mut c)
            .await
            .map_err(redis_err("witness record"))
    }

    /// The height each of `ids` of `origin` was verified at, `None` for an
    /// id never recorded, expired, or whose record does not authenticate
    /// (someone else wrote it: it is not this attester's word).
    pub async fn lookup(
        &self,
        origin: Domain,
        ids: &[B256],
    ) -> Result<Vec<Option<u64>>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.key(origin, id)).collect();
        let mut pipe = redis::pipe();
        for k in &keys {
            pipe.cmd("GET").arg(k);
        }
        let mut c = self.store.conn.clone();
        let values: Vec<Option<Vec<u8>>> = pipe
            .query_async(&mut c)
            .await
            .map_err(redis_err("witness lookup"))?;
        Ok(keys
            .iter()
            .zip(values)
            .map(|(key, v)| {
                let v = v?;
                if v.len() != RECORD_LEN {
                    return None;
                }
                let height: [u8; 8] = v[..8].try_into().ok()?;
                self.store
                    .key
                    .verify_state(key, &height, &v[8..])
                    .map(|_| u64::from_be_bytes(height))
            })
            .collect())
    }
}

impl Store {
    /// The verified-message record of an attester over this connection,
    /// keeping each id `window_secs`.
    pub fn witness(&self, window_secs: u64) -> Witness {
        Witness::new(self.clone(), window_secs)
    }
}
