//! An attester's record of the messages its own light clients verified:
//! the ids it may sign for. It lives in the attester's own Redis, never the
//! hub's, and every record carries an HMAC under a key derived from the
//! attester's signing key, so whoever can write that Redis still cannot
//! make the attester sign a message it did not verify.
//!
//! Keys: `<prefix>:{witness:<origin>}:<height>` holds the ids of every
//! message verified at that origin height, after the record's tag (one
//! value per height, written once: the cost is per block, not per
//! message), with the window as its expiry (the memory bound: the window
//! times the verified rate, 32 bytes a message).

use alloy_primitives::B256;
use alloy_primitives::map::B256Set;
use switchyard_types::Domain;

use super::{Store, StoreError, redis_err};

/// Bytes of a record's tag.
const TAG_LEN: usize = 32;

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

    fn key(&self, origin: Domain, height: u64) -> String {
        format!("{}:{{witness:{origin}}}:{height}", self.store.prefix)
    }

    /// Records `ids`, every message verified at `height` of `origin`.
    pub async fn record(
        &self,
        origin: Domain,
        height: u64,
        ids: &[B256],
    ) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let key = self.key(origin, height);
        let mut body = Vec::with_capacity(ids.len() * 32);
        for id in ids {
            body.extend_from_slice(id.as_slice());
        }
        let mut value = Vec::with_capacity(TAG_LEN + body.len());
        value.extend_from_slice(&self.store.key.tag_state(&key, &body));
        value.extend_from_slice(&body);
        let mut c = self.store.conn.clone();
        redis::cmd("SET")
            .arg(&key)
            .arg(value)
            .arg("EX")
            .arg(self.window_secs)
            .query_async::<()>(&mut c)
            .await
            .map_err(redis_err("witness record"))
    }

    /// The ids recorded at each of `heights` of `origin`, in that order:
    /// empty for a height never recorded, expired, or whose record does not
    /// authenticate (someone else wrote it: it is not this attester's
    /// word).
    pub async fn lookup(
        &self,
        origin: Domain,
        heights: &[u64],
    ) -> Result<Vec<B256Set>, StoreError> {
        if heights.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = heights.iter().map(|h| self.key(origin, *h)).collect();
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
                let Some(v) = v else {
                    return B256Set::default();
                };
                if v.len() < TAG_LEN
                    || !(v.len() - TAG_LEN).is_multiple_of(32)
                    || self
                        .store
                        .key
                        .verify_state(key, &v[TAG_LEN..], &v[..TAG_LEN])
                        .is_none()
                {
                    return B256Set::default();
                }
                v[TAG_LEN..]
                    .chunks_exact(32)
                    .map(B256::from_slice)
                    .collect()
            })
            .collect())
    }
}

impl Store {
    /// The verified-message record of an attester over this connection,
    /// keeping each height's ids `window_secs`.
    pub fn witness(&self, window_secs: u64) -> Witness {
        Witness::new(self.clone(), window_secs)
    }
}
