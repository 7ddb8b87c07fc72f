//! Independent attesters: the m of n that an Inbox's threshold asks for.
//!
//! An attester (`switchyard run --role attester`) is a process of its own,
//! run by its own operator: it follows the origins with its own endpoints
//! and light clients, exactly as a hub's watchers do, but records the ids
//! of the messages it verified ([`Verified`], in its own Redis) instead of
//! writing lanes. A dispatcher asks it to sign a batch root over HTTP
//! ([`serve`]); it signs only when it verified every message of the batch
//! itself and the destination (chain id and Inbox) is one it is configured
//! for, and otherwise says why, message by message. It holds no queue key
//! and never reads the hub's Redis, so neither a lane writer nor the hub's
//! Redis can make it sign anything.
//!
//! The dispatcher side ([`collect`]) asks as many configured attesters as
//! the threshold in parallel (one more for each that gives no signature,
//! the rest when the first are slow), keeps the signatures that recover to
//! an attester the Inbox counts (the set and threshold are read from the
//! chain), orders them as the Inbox wants (by increasing signer address)
//! and submits once it holds the threshold. A batch short of it waits and is asked about again; one
//! that too many attesters refused for good is split, and a message refused
//! alone is dead-lettered with every refusal.
//!
//! May import: the store (the attester's own record), the signing key,
//! metrics, health. Imported by: the route stage (recording), dispatch
//! (collecting), the HTTP surface and the hub.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use alloy_primitives::{Address, B256, Bytes};
use serde::{Deserialize, Serialize};
use switchyard_types::Domain;

use crate::store::{IdsAt, OriginState, StoreError, Witness};

pub mod collect;
pub mod serve;

pub use collect::Collector;
pub use serve::AttestService;

/// The path of the attestation API.
pub const PATH: &str = "/v1/attest";

/// `POST /v1/attest`: sign the root of a batch for the Inbox `inbox` on
/// chain `chain_id`. The batch is named by its messages (`messages`) or by
/// their ids (`ids`, what the dispatcher sends), never both.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestRequest {
    /// The destination's EIP-155 chain id (in the signed domain).
    pub chain_id: u64,
    /// The destination's Inbox (in the signed domain).
    pub inbox: Address,
    /// The batch as messages, in the order the root is computed over.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<AttestItem>,
    /// The batch as message ids, in the order the root is computed over.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<IdItem>,
}

/// One message of a batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestItem {
    /// The origin height the hub's watcher verified it at (its lane
    /// entry's): where the attester looks the message up. A message is
    /// signed for only if the attester recorded it at that very height;
    /// a height its light client has not reached makes the refusal "not
    /// yet" rather than "never".
    pub height: u64,
    /// The encoded message.
    pub message: Bytes,
}

/// One message of a batch, by its id: what the Inbox's root is computed
/// over, so an attester that recorded the id itself (with the message's
/// destination) needs nothing more to sign. Whoever later submits the
/// batch must hand the Inbox messages that hash to these ids, so naming a
/// message by id gives a caller no more than naming it by its bytes.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IdItem {
    /// The message's origin domain (the attester's record is per origin).
    pub origin: Domain,
    /// The origin height it was verified at (as [`AttestItem::height`]).
    pub height: u64,
    /// `keccak256` of the encoded message.
    pub id: B256,
}

/// The content type of a request in the binary encoding by ids
/// ([`encode_ids`]): what the dispatcher sends. An attester also takes
/// messages, in [`BINARY_MESSAGES`] (what hubs before the ids encoding
/// send) and in JSON (`application/json`, [`AttestRequest`]), for tools and
/// curl.
pub const BINARY: &str = "application/vnd.switchyard.attest.v2";

/// The content type of a request in the binary encoding by messages
/// ([`encode_request`]).
pub const BINARY_MESSAGES: &str = "application/vnd.switchyard.attest.v1";

/// The first bytes of a request by messages, and by ids (the encoding's
/// version is in them).
const MAGIC_MESSAGES: &[u8; 4] = b"SYA1";
const MAGIC_IDS: &[u8; 4] = b"SYA2";
/// Bytes before the items: magic, chain id, Inbox, count.
const HEAD_LEN: usize = 4 + 8 + 20 + 4;
/// Bytes of an item before its message: height, length.
const ITEM_HEAD_LEN: usize = 8 + 4;
/// Bytes of an item by id: origin, height, id.
const ID_ITEM_LEN: usize = 4 + 8 + 32;

/// The binary encoding of a request by messages. All integers big-endian:
///
/// ```text
/// "SYA1" ‖ chain id u64 ‖ Inbox (20) ‖ count u32 ‖ count × (height u64 ‖ length u32 ‖ message)
/// ```
pub fn encode_request(
    chain_id: u64,
    inbox: Address,
    messages: &[Bytes],
    heights: &[u64],
) -> Vec<u8> {
    // Each message with its height: a count that says what follows.
    let n = messages.len().min(heights.len());
    let messages = &messages[..n];
    let size = HEAD_LEN
        + messages
            .iter()
            .map(|m| ITEM_HEAD_LEN + m.len())
            .sum::<usize>();
    let mut out = Vec::with_capacity(size);
    put_head(&mut out, MAGIC_MESSAGES, chain_id, inbox, n);
    for (m, h) in messages.iter().zip(heights) {
        out.extend_from_slice(&h.to_be_bytes());
        out.extend_from_slice(&u32::try_from(m.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(m);
    }
    out
}

/// The binary encoding of a request by ids, what the dispatcher sends: 44
/// bytes a message where the messages themselves are 300 or more, and an
/// attester that takes ids hashes nothing but the root (hashing every
/// message again cost the three attesters of a 2-of-3 set more than the
/// hub's whole verification). All integers big-endian:
///
/// ```text
/// "SYA2" ‖ chain id u64 ‖ Inbox (20) ‖ count u32 ‖ count × (origin u32 ‖ height u64 ‖ id (32))
/// ```
///
/// `origins`, `heights` and `ids` are one message each, in batch order.
pub fn encode_ids(
    chain_id: u64,
    inbox: Address,
    origins: &[Domain],
    heights: &[u64],
    ids: &[B256],
) -> Vec<u8> {
    let n = ids.len().min(origins.len()).min(heights.len());
    let mut out = Vec::with_capacity(HEAD_LEN + n * ID_ITEM_LEN);
    put_head(&mut out, MAGIC_IDS, chain_id, inbox, n);
    for ((o, h), id) in origins.iter().zip(heights).zip(ids).take(n) {
        out.extend_from_slice(&o.to_be_bytes());
        out.extend_from_slice(&h.to_be_bytes());
        out.extend_from_slice(id.as_slice());
    }
    out
}

fn put_head(out: &mut Vec<u8>, magic: &[u8; 4], chain_id: u64, inbox: Address, n: usize) {
    out.extend_from_slice(magic);
    out.extend_from_slice(&chain_id.to_be_bytes());
    out.extend_from_slice(inbox.as_slice());
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
}

/// Why a binary request does not decode: what, where, expected against got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// More items than an attester takes in one request (HTTP 413).
    TooMany { max: usize, got: u64 },
    /// Anything else about the bytes (HTTP 400).
    Malformed(String),
    /// Bytes past a magic by messages that do not follow (HTTP 400).
    MalformedMessages(String),
}

impl DecodeError {
    /// The content type the error is about.
    fn encoding(&self) -> &'static str {
        match self {
            Self::MalformedMessages(_) => BINARY_MESSAGES,
            _ => BINARY,
        }
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooMany { max, got } => {
                write!(f, "messages: expected 1 to {max} per request, got {got}")
            }
            Self::Malformed(why) | Self::MalformedMessages(why) => {
                write!(f, "request body ({}): {why}", self.encoding())
            }
        }
    }
}

/// Decodes a binary request ([`encode_ids`] or [`encode_request`], told
/// apart by the magic) strictly: at most `max_messages` items (checked
/// before anything is allocated for them), every length within the body,
/// no trailing bytes. Messages are views of `body`, not copies.
pub fn decode_request(
    body: &axum::body::Bytes,
    max_messages: usize,
) -> Result<AttestRequest, DecodeError> {
    let bad = |why: String| DecodeError::Malformed(why);
    if body.len() < HEAD_LEN {
        return Err(bad(format!(
            "expected at least {HEAD_LEN} bytes (magic, chain id, Inbox, count), got {}",
            body.len()
        )));
    }
    let by_ids = match &body[..4] {
        m if m == MAGIC_IDS => true,
        m if m == MAGIC_MESSAGES => false,
        m => {
            return Err(bad(format!(
                "bytes 0..4: expected the magic \"SYA2\" (ids) or \"SYA1\" (messages), got 0x{}",
                hex::encode(m)
            )));
        }
    };
    let u64_at = |at: usize| u64::from_be_bytes(body[at..at + 8].try_into().expect("8 bytes"));
    let u32_at = |at: usize| u32::from_be_bytes(body[at..at + 4].try_into().expect("4 bytes"));
    let chain_id = u64_at(4);
    let inbox = Address::from_slice(&body[12..32]);
    let count = u32_at(32);
    if count == 0 || count as usize > max_messages {
        return Err(DecodeError::TooMany {
            max: max_messages,
            got: u64::from(count),
        });
    }
    let mut req = AttestRequest {
        chain_id,
        inbox,
        messages: Vec::new(),
        ids: Vec::new(),
    };
    if by_ids {
        let want = HEAD_LEN + count as usize * ID_ITEM_LEN;
        if body.len() != want {
            return Err(bad(format!(
                "expected {count} items of {ID_ITEM_LEN} bytes (origin, height, id) after byte {HEAD_LEN}, {want} bytes in all, got {}",
                body.len()
            )));
        }
        req.ids = body[HEAD_LEN..]
            .chunks_exact(ID_ITEM_LEN)
            .map(|c| IdItem {
                origin: u32::from_be_bytes(c[..4].try_into().expect("4 bytes")),
                height: u64::from_be_bytes(c[4..12].try_into().expect("8 bytes")),
                id: B256::from_slice(&c[12..]),
            })
            .collect();
        return Ok(req);
    }
    let mut messages = Vec::with_capacity(count as usize);
    let mut at = HEAD_LEN;
    for i in 0..count as usize {
        if body.len() - at < ITEM_HEAD_LEN {
            return Err(DecodeError::MalformedMessages(format!(
                "item {i} at byte {at}: expected {ITEM_HEAD_LEN} bytes of height and length, got {}",
                body.len() - at
            )));
        }
        let height = u64_at(at);
        let len = u32_at(at + 8) as usize;
        at += ITEM_HEAD_LEN;
        if body.len() - at < len {
            return Err(DecodeError::MalformedMessages(format!(
                "item {i}'s message at byte {at}: expected {len} bytes, got {}",
                body.len() - at
            )));
        }
        messages.push(AttestItem {
            height,
            message: Bytes::from(body.slice(at..at + len)),
        });
        at += len;
    }
    if at != body.len() {
        return Err(DecodeError::MalformedMessages(format!(
            "expected {count} items ending at byte {at}, got {} bytes more",
            body.len() - at
        )));
    }
    req.messages = messages;
    Ok(req)
}

/// The answer: a signature, or the refusals.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestAnswer {
    /// The attester's address.
    pub signer: Address,
    /// The batch root it computed.
    pub root: B256,
    /// 65-byte `r ‖ s ‖ v` signature of the Inbox's batch digest, when it
    /// signs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Bytes>,
    /// Why it does not sign (empty when it does).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<Refusal>,
}

/// A message (or the whole batch, `index` absent) the attester will not
/// sign for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Refusal {
    /// The message's place in the batch; none for the batch as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// Why.
    pub reason: RefusalReason,
    /// What, where, expected against got.
    pub detail: String,
}

/// Why an attester refuses (a bounded metrics label).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum RefusalReason {
    /// A message its light clients never verified, at a height they have
    /// passed: forged, or older than the attester's window.
    UnknownMessage,
    /// A message at a height its light clients have not reached yet: asked
    /// again later, it may sign.
    NotYetVerified,
    /// A message addressed to a domain the destination does not serve.
    WrongDestination,
    /// A chain id and Inbox the attester is not configured for.
    UnknownDestination,
    /// A message from an origin the attester does not follow.
    UnknownOrigin,
    /// Bytes that are not a message of the relayed version.
    Malformed,
}

impl RefusalReason {
    /// Every reason (metric series created at 0).
    pub const ALL: [RefusalReason; 6] = [
        Self::UnknownMessage,
        Self::NotYetVerified,
        Self::WrongDestination,
        Self::UnknownDestination,
        Self::UnknownOrigin,
        Self::Malformed,
    ];

    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownMessage => "unknown_message",
            Self::NotYetVerified => "not_yet_verified",
            Self::WrongDestination => "wrong_destination",
            Self::UnknownDestination => "unknown_destination",
            Self::UnknownOrigin => "unknown_origin",
            Self::Malformed => "malformed",
        }
    }

    /// Whether asking again later cannot change the answer: only a message
    /// not verified *yet* may be signed later.
    pub fn is_final(self) -> bool {
        self != Self::NotYetVerified
    }
}

/// What an attester's own light clients verified: the ids (in its store),
/// per origin the highest height recorded by this process, and the
/// origins' own cursors (an EVM origin's "every block up to here routed").
#[derive(Debug, Clone)]
pub struct Verified {
    witness: Witness,
    state: OriginState,
    heights: Arc<Mutex<HashMap<Domain, u64>>>,
    /// The ids this process recorded at its last [`RECENT_HEIGHTS`] heights
    /// of each origin, once the store holds them: a batch names the heights
    /// the hub just routed, and reading the record back from Redis (and
    /// checking its tag) for every batch would cost more than the batch's
    /// verification did. What this process recorded itself needs no tag;
    /// older heights, and those another replica recorded, are read from the
    /// store.
    recent: Arc<Mutex<HashMap<Domain, RecentIds>>>,
}

/// One origin's recent heights and what was recorded at each.
type RecentIds = BTreeMap<u64, Arc<IdsAt>>;

/// What an attester's record says of a message id at a height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Not recorded there: never verified at that height, or past the
    /// window.
    No,
    /// Verified there, addressed to this destination domain.
    To(Domain),
    /// Verified there, by a version that recorded ids only: its
    /// destination is the message's to check (the Inbox checks it too).
    Unaddressed,
}

/// Heights per origin whose ids an attester keeps in memory (a few blocks
/// of its origins' recent traffic; at 1,000 messages a block, about 60 KB
/// each).
const RECENT_HEIGHTS: usize = 64;

impl Verified {
    /// Over the attester's record `witness` and its origins' `state`.
    pub fn new(witness: Witness, state: OriginState) -> Self {
        Self {
            witness,
            state,
            heights: Arc::default(),
            recent: Arc::default(),
        }
    }

    /// Records `ids` (each with its message's destination domain) verified
    /// at `height` of `origin` (an origin's watcher routes heights in
    /// order, so every message below the highest height recorded has been
    /// recorded).
    pub async fn record(
        &self,
        origin: Domain,
        height: u64,
        ids: &[(B256, Domain)],
    ) -> Result<(), StoreError> {
        self.witness.record(origin, height, ids).await?;
        if !ids.is_empty() {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            let heights = recent.entry(origin).or_default();
            // As written: a height recorded again (a reorg below the
            // confirmations) replaces its ids, as the store's SET does.
            heights.insert(
                height,
                Arc::new(ids.iter().map(|(id, d)| (*id, Some(*d))).collect()),
            );
            while heights.len() > RECENT_HEIGHTS {
                heights.pop_first();
            }
        }
        let mut h = self.heights.lock().unwrap_or_else(|p| p.into_inner());
        let e = h.entry(origin).or_default();
        *e = (*e).max(height);
        Ok(())
    }

    /// The height of `origin` below which every message this attester's
    /// light client verified is recorded: the EVM watcher's scanned cursor
    /// (it passes blocks without messages too), or the highest height
    /// recorded (a CometBFT origin's heights are its outbox nonces, routed
    /// one by one in order). None before the first round: a message is
    /// then "not yet verified", never "unknown".
    pub async fn passed(&self, origin: Domain) -> Result<Option<u64>, StoreError> {
        let recorded = {
            let h = self.heights.lock().unwrap_or_else(|p| p.into_inner());
            h.get(&origin).copied()
        };
        let scanned = self.state.scanned(origin).await?;
        Ok(recorded.max(scanned))
    }

    /// Whether each of `items` (id, origin height) of `origin` was
    /// recorded at that height, and to which destination.
    pub async fn lookup(
        &self,
        origin: Domain,
        items: &[(B256, u64)],
    ) -> Result<Vec<Recorded>, StoreError> {
        let mut heights: Vec<u64> = items.iter().map(|(_, h)| *h).collect();
        heights.sort_unstable();
        heights.dedup();
        let mut sets: Vec<Option<Arc<IdsAt>>> = {
            let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            let of_origin = recent.get(&origin);
            heights
                .iter()
                .map(|h| of_origin.and_then(|r| r.get(h)).cloned())
                .collect()
        };
        let missing: Vec<u64> = heights
            .iter()
            .zip(&sets)
            .filter(|(_, s)| s.is_none())
            .map(|(h, _)| *h)
            .collect();
        if !missing.is_empty() {
            let mut read = self.witness.lookup(origin, &missing).await?.into_iter();
            for s in sets.iter_mut().filter(|s| s.is_none()) {
                *s = read.next().map(Arc::new);
            }
        }
        Ok(items
            .iter()
            .map(|(id, h)| {
                let at = heights.binary_search(h).ok().and_then(|i| sets[i].as_ref());
                match at.and_then(|s| s.get(id)) {
                    None => Recorded::No,
                    Some(Some(d)) => Recorded::To(*d),
                    Some(None) => Recorded::Unaddressed,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> (Vec<Bytes>, Vec<u64>) {
        (
            vec![
                Bytes::from_static(b"first"),
                Bytes::new(),
                Bytes::from(vec![7u8; 300]),
            ],
            vec![1, u64::MAX, 42],
        )
    }

    #[test]
    fn the_binary_encoding_round_trips_and_shares_the_body() {
        let (messages, heights) = request();
        let inbox = Address::repeat_byte(0xab);
        let body = axum::body::Bytes::from(encode_request(7, inbox, &messages, &heights));
        let r = decode_request(&body, 3).expect("decodes");
        assert_eq!((r.chain_id, r.inbox), (7, inbox));
        let got: Vec<(u64, &[u8])> = r
            .messages
            .iter()
            .map(|m| (m.height, &m.message[..]))
            .collect();
        let want: Vec<(u64, &[u8])> = heights
            .iter()
            .copied()
            .zip(messages.iter().map(|m| &m[..]))
            .collect();
        assert_eq!(got, want);
        // A view of the body, not a copy.
        let last = &r.messages[2].message;
        assert!(body.as_ptr_range().contains(&last.as_ptr()));
    }

    #[test]
    fn a_binary_request_that_does_not_decode_says_where_and_what() {
        let (messages, heights) = request();
        let good = encode_request(7, Address::ZERO, &messages, &heights);
        let decode = |b: &[u8], max| decode_request(&axum::body::Bytes::copy_from_slice(b), max);
        assert_eq!(
            decode(&good, 2).err(),
            Some(DecodeError::TooMany { max: 2, got: 3 })
        );
        let none = encode_request(7, Address::ZERO, &[], &[]);
        assert_eq!(
            decode(&none, 2).err(),
            Some(DecodeError::TooMany { max: 2, got: 0 })
        );
        let cases: [(&[u8], &str); 5] = [
            (
                &good[..10],
                "expected at least 36 bytes (magic, chain id, Inbox, count), got 10",
            ),
            (
                &[b"JSON", &good[4..]].concat(),
                "bytes 0..4: expected the magic \"SYA2\" (ids) or \"SYA1\" (messages), got 0x4a534f4e",
            ),
            (
                &good[..40],
                "item 0 at byte 36: expected 12 bytes of height and length, got 4",
            ),
            (
                &good[..good.len() - 1],
                "item 2's message at byte 77: expected 300 bytes, got 299",
            ),
            (
                &[&good[..], b"x"].concat(),
                "expected 3 items ending at byte 377, got 1 bytes more",
            ),
        ];
        for (i, (bytes, why)) in cases.into_iter().enumerate() {
            let err = decode(bytes, 3).expect_err(why);
            // Past the magic, the error names the encoding by messages.
            let encoding = if i < 2 { BINARY } else { BINARY_MESSAGES };
            assert_eq!(err.to_string(), format!("request body ({encoding}): {why}"));
        }
        // A count far above the body is refused before anything is
        // allocated for it.
        let mut huge = good.clone();
        huge[32..36].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            decode(&huge, 2000),
            Err(DecodeError::TooMany { .. })
        ));
    }

    #[test]
    fn a_request_by_ids_round_trips_and_must_be_exactly_its_items() {
        let inbox = Address::repeat_byte(0xcd);
        let ids = [B256::repeat_byte(1), B256::repeat_byte(2)];
        let good = encode_ids(9, inbox, &[7, 8], &[100, u64::MAX], &ids);
        assert_eq!(good.len(), HEAD_LEN + 2 * ID_ITEM_LEN);
        let decode = |b: &[u8], max| decode_request(&axum::body::Bytes::copy_from_slice(b), max);
        let r = decode(&good, 2).expect("decodes");
        assert_eq!((r.chain_id, r.inbox, r.messages.len()), (9, inbox, 0));
        assert_eq!(
            r.ids,
            [
                IdItem {
                    origin: 7,
                    height: 100,
                    id: ids[0]
                },
                IdItem {
                    origin: 8,
                    height: u64::MAX,
                    id: ids[1]
                }
            ]
        );
        assert_eq!(
            decode(&good, 1).err(),
            Some(DecodeError::TooMany { max: 1, got: 2 })
        );
        for (bytes, got) in [
            (&good[..good.len() - 1], 123),
            (&[&good[..], b"x"].concat()[..], 125),
        ] {
            let err = decode(bytes, 2).expect_err("not exactly its items");
            assert_eq!(
                err.to_string(),
                format!(
                    "request body ({BINARY}): expected 2 items of 44 bytes (origin, height, id) after byte 36, 124 bytes in all, got {got}"
                )
            );
        }
    }
}
