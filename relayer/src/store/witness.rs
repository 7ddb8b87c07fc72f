//! An attester's record of the messages its own light clients verified:
//! the ids it may sign for. It lives in the attester's own Redis, never the
//! hub's, and every record carries an HMAC under a key derived from the
//! attester's signing key, so whoever can write that Redis still cannot
//! make the attester sign a message it did not verify.
//!
//! Keys: `<prefix>:{witness:<origin>}:<height>` holds the ids of every
//! message verified at that origin height, each with the message's
//! destination domain, after the record's tag (one value per height,
//! written once: the cost is per block, not per message), with the window
//! as its expiry (the memory bound: the window times the verified rate, 36
//! bytes a message).
//!
//! The record's body is `0x02 ‖ n × (id (32) ‖ destination u32)`, always
//! of odd length. Records written before destinations were recorded are
//! `n × id`, always of even length, and are still read (their ids without
//! a destination) for as long as the window keeps them: a tagged body has
//! exactly one reading.

use alloy_primitives::B256;
use alloy_primitives::map::B256Map;
use switchyard_types::Domain;

use super::{Store, StoreError, redis_err};

/// The ids recorded at one height, each with its message's destination
/// domain (none in a record of the earlier form).
pub type IdsAt = B256Map<Option<Domain>>;

/// Bytes of a record's tag.
const TAG_LEN: usize = 32;
/// The first byte of a record body with destinations.
const ADDRESSED: u8 = 2;
/// Bytes of one id with its destination.
const ITEM_LEN: usize = 32 + 4;

/// A record's body: each id with its destination.
fn encode_body(ids: &[(B256, Domain)]) -> Vec<u8> {
    let mut body = Vec::with_capacity(1 + ids.len() * ITEM_LEN);
    body.push(ADDRESSED);
    for (id, d) in ids {
        body.extend_from_slice(id.as_slice());
        body.extend_from_slice(&d.to_be_bytes());
    }
    body
}

/// The ids of a record's (authenticated) body, in either form; none for a
/// body of neither.
fn decode_body(body: &[u8]) -> Option<IdsAt> {
    if body.len() % 2 == 1 {
        let items = body.strip_prefix(&[ADDRESSED])?;
        if !items.len().is_multiple_of(ITEM_LEN) {
            return None;
        }
        return Some(
            items
                .chunks_exact(ITEM_LEN)
                .map(|c| {
                    let d = u32::from_be_bytes(c[32..].try_into().expect("4 bytes"));
                    (B256::from_slice(&c[..32]), Some(d))
                })
                .collect(),
        );
    }
    if !body.len().is_multiple_of(32) {
        return None;
    }
    Some(
        body.chunks_exact(32)
            .map(|c| (B256::from_slice(c), None))
            .collect(),
    )
}

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

    /// Records `ids` (each with its message's destination domain), every
    /// message verified at `height` of `origin`.
    pub async fn record(
        &self,
        origin: Domain,
        height: u64,
        ids: &[(B256, Domain)],
    ) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let key = self.key(origin, height);
        let body = encode_body(ids);
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
    pub async fn lookup(&self, origin: Domain, heights: &[u64]) -> Result<Vec<IdsAt>, StoreError> {
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
                    return IdsAt::default();
                };
                if v.len() < TAG_LEN
                    || self
                        .store
                        .key
                        .verify_state(key, &v[TAG_LEN..], &v[..TAG_LEN])
                        .is_none()
                {
                    return IdsAt::default();
                }
                decode_body(&v[TAG_LEN..]).unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_body_reads_back_in_either_form_and_only_one_way() {
        let ids = [(B256::repeat_byte(1), 7), (B256::repeat_byte(2), 9)];
        let body = encode_body(&ids);
        assert_eq!(body.len(), 1 + 2 * ITEM_LEN);
        let got = decode_body(&body).expect("decodes");
        assert_eq!(got.len(), 2);
        assert_eq!(got.get(&ids[1].0), Some(&Some(9)));
        // A record of the earlier form: ids only, no destination.
        let legacy: Vec<u8> = [B256::repeat_byte(3), B256::repeat_byte(4)].concat();
        let got = decode_body(&legacy).expect("decodes");
        assert_eq!(got.get(&B256::repeat_byte(4)), Some(&None));
        // Neither form: nothing.
        for bad in [&body[..body.len() - 1], &legacy[..33], &[3u8; 37][..]] {
            assert!(decode_body(bad).is_none(), "{} bytes", bad.len());
        }
    }
}
