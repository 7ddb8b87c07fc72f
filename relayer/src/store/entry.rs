//! The lane entry: its binary codec and its HMAC under the queue key, which
//! binds an entry to its lane and authenticates the hub's own state in Redis.

use alloy_primitives::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use switchyard_types::Domain;

use super::StoreError;

/// Version of the entry encoding written in field `v`.
pub const ENTRY_VERSION: u32 = 1;

/// One shard of one destination's lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LaneId {
    /// Destination domain.
    pub dst: Domain,
    /// Shard index, below the destination's shard count.
    pub shard: u16,
}

impl std::fmt::Display for LaneId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.dst, self.shard)
    }
}

/// One lane entry: the verified messages of one origin block for one shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneEntry {
    /// Origin domain.
    pub origin: Domain,
    /// Origin block the messages were proven in.
    pub height: u64,
    /// When the light client verified them (unix ms), for latency metrics.
    pub verified_at_ms: u64,
    /// Encoded messages (Hyperlane v3 layout), in log order.
    pub messages: Vec<Bytes>,
}

impl LaneEntry {
    /// Binary body: `origin u32 | height u64 | verified_at_ms u64 | count u32 |
    /// (len u32 | message)*`, big-endian.
    pub fn encode(&self) -> Vec<u8> {
        let size = 24 + self.messages.iter().map(|m| 4 + m.len()).sum::<usize>();
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(&self.origin.to_be_bytes());
        out.extend_from_slice(&self.height.to_be_bytes());
        out.extend_from_slice(&self.verified_at_ms.to_be_bytes());
        out.extend_from_slice(&(self.messages.len() as u32).to_be_bytes());
        for m in &self.messages {
            out.extend_from_slice(&(m.len() as u32).to_be_bytes());
            out.extend_from_slice(m);
        }
        out
    }

    /// Inverse of [`LaneEntry::encode`]; `id` only labels errors.
    pub fn decode(id: &str, bytes: &[u8]) -> Result<Self, StoreError> {
        let err = |reason: String| StoreError::Decode {
            id: id.to_owned(),
            reason,
        };
        let mut r = Reader { bytes, at: 0 };
        let origin = r.u32().ok_or_else(|| err("truncated header".into()))?;
        let height = r.u64().ok_or_else(|| err("truncated header".into()))?;
        let verified_at_ms = r.u64().ok_or_else(|| err("truncated header".into()))?;
        let count = r.u32().ok_or_else(|| err("truncated header".into()))? as usize;
        // Each message needs at least 4 bytes: a count beyond that is a lie,
        // and must not make us allocate.
        if count > bytes.len() / 4 {
            return Err(err(format!(
                "count {count} exceeds what {} bytes can hold",
                bytes.len()
            )));
        }
        let mut messages = Vec::with_capacity(count);
        for i in 0..count {
            let len = r
                .u32()
                .ok_or_else(|| err(format!("message {i}: truncated length")))?
                as usize;
            let m = r.take(len).ok_or_else(|| {
                err(format!(
                    "message {i}: expected {len} bytes, got {}",
                    bytes.len() - r.at
                ))
            })?;
            messages.push(Bytes::copy_from_slice(m));
        }
        if r.at != bytes.len() {
            return Err(err(format!(
                "expected {} bytes, got {} (trailing data)",
                r.at,
                bytes.len()
            )));
        }
        Ok(Self {
            origin,
            height,
            verified_at_ms,
            messages,
        })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(u64::from_be_bytes(a))
    }
}

/// The HMAC key ring of lane entries and hub state: the first key signs,
/// any key of the ring verifies, so the key can be rotated with no
/// downtime (a new key accepted everywhere, then signing, then the old one
/// dropped). `Debug` never shows a key.
#[derive(Clone)]
pub struct QueueKey {
    /// The signing key, then the keys only accepted.
    ring: Vec<Hmac<Sha256>>,
}

impl std::fmt::Debug for QueueKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QueueKey(<redacted>, {} key(s))", self.ring.len())
    }
}

impl QueueKey {
    /// Minimum key length in bytes.
    pub const MIN_LEN: usize = 32;

    /// A key from raw bytes (at least [`QueueKey::MIN_LEN`]).
    pub fn new(key: &[u8]) -> Result<Self, StoreError> {
        if key.len() < Self::MIN_LEN {
            return Err(StoreError::Key {
                reason: format!(
                    "expected at least {} bytes, got {}",
                    Self::MIN_LEN,
                    key.len()
                ),
            });
        }
        let mac = Hmac::<Sha256>::new_from_slice(key).map_err(|e| StoreError::Key {
            reason: e.to_string(),
        })?;
        Ok(Self { ring: vec![mac] })
    }

    /// This key signing, and `accepted` (the other keys of a rotation)
    /// verifying as well.
    pub fn accepting(mut self, accepted: impl IntoIterator<Item = QueueKey>) -> Self {
        for k in accepted {
            self.ring.extend(k.ring);
        }
        self
    }

    /// How many keys verify (the signing key included).
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Never: a ring holds its signing key.
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    fn signer(&self) -> &Hmac<Sha256> {
        // A ring is built from a key and only grows.
        &self.ring[0]
    }

    /// A key from a secret's text: hex (64+ hex digits, optional 0x) is
    /// decoded, anything else is taken as raw bytes.
    pub fn from_secret(text: &str) -> Result<Self, StoreError> {
        let t = text.trim();
        let hex_part = t.strip_prefix("0x").unwrap_or(t);
        match hex::decode(hex_part) {
            Ok(bytes) if !hex_part.is_empty() => Self::new(&bytes),
            _ => Self::new(t.as_bytes()),
        }
    }

    /// The MAC of a lane entry: it binds the entry to its lane, so an entry
    /// cannot be replayed into another destination or shard.
    fn lane_mac(key: &Hmac<Sha256>, lane: LaneId, version: &[u8], body: &[u8]) -> Hmac<Sha256> {
        let mut mac = key.clone();
        mac.update(b"switchyard-lane-entry");
        mac.update(&lane.dst.to_be_bytes());
        mac.update(&lane.shard.to_be_bytes());
        mac.update(&(version.len() as u32).to_be_bytes());
        mac.update(version);
        mac.update(body);
        mac
    }

    pub(super) fn tag(&self, lane: LaneId, version: &[u8], body: &[u8]) -> [u8; 32] {
        Self::lane_mac(self.signer(), lane, version, body)
            .finalize()
            .into_bytes()
            .into()
    }

    /// Constant-time check of a lane entry's tag under each key of the ring.
    pub(super) fn verify(&self, lane: LaneId, version: &[u8], body: &[u8], tag: &[u8]) -> bool {
        self.ring.iter().any(|k| {
            Self::lane_mac(k, lane, version, body)
                .verify_slice(tag)
                .is_ok()
        })
    }

    /// The MAC of hub state stored under key `what` (distinct keys never
    /// collide, and never with lane entries).
    fn state_mac(key: &Hmac<Sha256>, what: &str, data: &[u8]) -> Hmac<Sha256> {
        let mut mac = key.clone();
        mac.update(b"switchyard-state");
        mac.update(&(what.len() as u32).to_be_bytes());
        mac.update(what.as_bytes());
        mac.update(data);
        mac
    }

    pub(super) fn tag_state(&self, what: &str, data: &[u8]) -> [u8; 32] {
        Self::state_mac(self.signer(), what, data)
            .finalize()
            .into_bytes()
            .into()
    }

    /// Which key of the ring `tag` is of (0: the signing key), if any.
    pub(super) fn verify_state(&self, what: &str, data: &[u8], tag: &[u8]) -> Option<usize> {
        self.ring
            .iter()
            .position(|k| Self::state_mac(k, what, data).verify_slice(tag).is_ok())
    }
}

/// Why a lane entry is never signed. The text is what its dead letter's
/// `reason` says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntryRefusal {
    /// No version field.
    #[error("no version field `v`")]
    NoVersion,
    /// No HMAC tag.
    #[error("no authentication tag `h`")]
    NoTag,
    /// The tag is not the queue key's for this lane: written without the
    /// key, or moved from another lane.
    #[error("authentication failed: HMAC does not match lane {lane}")]
    Unauthenticated {
        /// The lane it was read from.
        lane: LaneId,
    },
    /// An entry encoding this hub does not write.
    #[error("entry version: expected {expected}, got {got:?}")]
    Version {
        /// [`ENTRY_VERSION`].
        expected: u32,
        /// The field as found.
        got: String,
    },
    /// Authentic, but the body does not decode.
    #[error("{reason}")]
    Body {
        /// The decoder's error (expected vs got).
        reason: String,
    },
    /// A message of the entry does not decode or has another version.
    #[error("message {index}: {reason}")]
    Message {
        /// Its position in the entry.
        index: usize,
        /// The decoder's error.
        reason: String,
    },
    /// A message addressed to a domain this destination does not serve.
    #[error(
        "message {index}: destination expected {expected} (or one of its groups {groups:?}), got {got}"
    )]
    Destination {
        /// Its position in the entry.
        index: usize,
        /// This destination's domain.
        expected: Domain,
        /// The route groups it serves.
        groups: Vec<Domain>,
        /// The message's destination.
        got: Domain,
    },
    /// A message from another origin than the entry's.
    #[error("message {index}: origin expected {expected}, got {got}")]
    Origin {
        /// Its position in the entry.
        index: usize,
        /// The entry's origin.
        expected: Domain,
        /// The message's origin.
        got: Domain,
    },
}

/// An entry handed to a dispatcher.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Stream entry id (to acknowledge).
    pub id: String,
    /// The decoded, authenticated entry, or why it is refused.
    pub entry: Result<LaneEntry, EntryRefusal>,
    /// The raw body, kept for the dead-letter stream.
    pub raw: Vec<u8>,
    /// Failed delivery attempts recorded so far.
    pub attempts: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> LaneEntry {
        LaneEntry {
            origin: 1000,
            height: 42,
            verified_at_ms: 1_700_000_000_000,
            messages: vec![
                Bytes::from_static(b"hello"),
                Bytes::new(),
                Bytes::from(vec![7u8; 300]),
            ],
        }
    }

    #[test]
    fn entry_round_trip() {
        let e = entry();
        assert_eq!(LaneEntry::decode("1-0", &e.encode()).expect("decodes"), e);
    }

    #[test]
    fn truncated_or_padded_entries_are_refused() {
        let bytes = entry().encode();
        for cut in 0..bytes.len() {
            assert!(
                LaneEntry::decode("1-0", &bytes[..cut]).is_err(),
                "cut at {cut} accepted"
            );
        }
        let mut longer = bytes;
        longer.push(0);
        let err = LaneEntry::decode("1-0", &longer).expect_err("trailing");
        assert!(err.to_string().contains("trailing"), "{err}");
    }

    #[test]
    fn absurd_count_does_not_allocate() {
        let mut bytes = entry().encode();
        bytes[20..24].copy_from_slice(&u32::MAX.to_be_bytes());
        let err = LaneEntry::decode("1-0", &bytes).expect_err("lying count");
        assert!(err.to_string().contains("exceeds"), "{err}");
    }

    #[test]
    fn tag_binds_key_lane_version_and_body() {
        let k = QueueKey::new(&[7u8; 32]).expect("key");
        let other = QueueKey::new(&[8u8; 32]).expect("key");
        let lane = LaneId {
            dst: 2000,
            shard: 1,
        };
        let body = entry().encode();
        let tag = k.tag(lane, b"1", &body);
        assert!(k.verify(lane, b"1", &body, &tag));
        assert!(!other.verify(lane, b"1", &body, &tag), "another key");
        assert!(
            !k.verify(
                LaneId {
                    dst: 2000,
                    shard: 2
                },
                b"1",
                &body,
                &tag
            ),
            "another shard"
        );
        assert!(
            !k.verify(
                LaneId {
                    dst: 3000,
                    shard: 1
                },
                b"1",
                &body,
                &tag
            ),
            "another destination"
        );
        assert!(!k.verify(lane, b"2", &body, &tag), "another version");
        let mut tampered = body;
        tampered[30] ^= 1;
        assert!(!k.verify(lane, b"1", &tampered, &tag), "another body");
    }

    /// A ring signs with its first key and verifies under any of its keys;
    /// state tells which key it was signed with, so it can be signed again.
    #[test]
    fn a_key_ring_signs_with_its_first_key_and_accepts_the_others() {
        let old = || QueueKey::new(&[7u8; 32]).expect("key");
        let new = || QueueKey::new(&[8u8; 32]).expect("key");
        let stranger = QueueKey::new(&[9u8; 32]).expect("key");
        let lane = LaneId { dst: 5, shard: 0 };
        let body = entry().encode();
        let by_old = old().tag(lane, b"1", &body);
        let by_new = new().tag(lane, b"1", &body);
        let ring = new().accepting([old()]);
        assert_eq!(ring.len(), 2);
        assert_eq!(ring.tag(lane, b"1", &body), by_new, "the first key signs");
        assert!(ring.verify(lane, b"1", &body, &by_old));
        assert!(ring.verify(lane, b"1", &body, &by_new));
        let forged = stranger.tag(lane, b"1", &body);
        assert!(
            !ring.verify(lane, b"1", &body, &forged),
            "a key not in the ring"
        );
        assert!(
            !old().verify(lane, b"1", &body, &by_new),
            "the old key alone"
        );
        let st_old = old().tag_state("k", b"v");
        assert_eq!(
            ring.verify_state("k", b"v", &ring.tag_state("k", b"v")),
            Some(0)
        );
        assert_eq!(ring.verify_state("k", b"v", &st_old), Some(1));
        assert_eq!(
            ring.verify_state("other", b"v", &st_old),
            None,
            "bound to its key"
        );
        assert_eq!(
            ring.verify_state("k", b"v", &stranger.tag_state("k", b"v")),
            None
        );
        assert!(!format!("{ring:?}").contains("07"));
    }

    #[test]
    fn short_keys_are_refused_and_hex_is_decoded() {
        assert!(QueueKey::new(&[1u8; 31]).is_err());
        assert!(QueueKey::from_secret("abcd").is_err(), "4 raw bytes");
        let hex64 = "11".repeat(32);
        let a = QueueKey::from_secret(&hex64).expect("hex key");
        let b = QueueKey::new(&[0x11u8; 32]).expect("raw");
        let lane = LaneId { dst: 1, shard: 0 };
        assert_eq!(a.tag(lane, b"1", b"x"), b.tag(lane, b"1", b"x"));
        assert!(!format!("{a:?}").contains("11"));
    }
}
