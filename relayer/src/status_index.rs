//! The status journal's transaction and sender indexes: how their members
//! sort, the opaque cursors that page through them, and reading one page
//! (`GET /v1/messages?tx=|sender=`). [`crate::journal`] writes them.
//!
//! An index is a Redis sorted set whose members all score 0, so Redis
//! orders them as byte strings. Each member is a sort key followed by the
//! 32-byte message id:
//! - a transaction's index: its position in the transaction (4 bytes,
//!   big-endian: the origin nonce in a dispatch transaction, the place in
//!   the batch in a delivery), read in ascending order;
//! - a sender's index on one origin: when the message was verified (8
//!   bytes, ms) and its nonce (4), read newest first.
//!
//! A cursor is the last member of a page with a tag for the index, in hex;
//! the next page starts strictly after it. Messages that arrive later sort
//! before a sender cursor (they are newer) or into their own transaction,
//! so following cursors never skips nor repeats a message.

use std::collections::HashSet;

use alloy_primitives::{B256, hex};
use switchyard_types::Domain;

use crate::input::InputError;
use crate::store::{StatusStore, StoreError};

const ID: usize = 32;
const TX_MEMBER: usize = 4 + ID;
const SENDER_MEMBER: usize = 8 + 4 + ID;

/// The member of message `id` in a transaction's index, at position `seq`.
pub fn tx_member(seq: u32, id: &B256) -> Vec<u8> {
    [&seq.to_be_bytes()[..], id.as_slice()].concat()
}

/// The member of message `id` (with `nonce`, verified at `verified_ms`) in
/// its sender's index.
pub fn sender_member(verified_ms: u64, nonce: u32, id: &B256) -> Vec<u8> {
    [
        &verified_ms.to_be_bytes()[..],
        &nonce.to_be_bytes()[..],
        id.as_slice(),
    ]
    .concat()
}

/// Which index a list reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    /// A transaction's messages.
    Tx,
    /// A sender's messages.
    Sender,
}

impl IndexKind {
    fn tag(self) -> char {
        match self {
            Self::Tx => 't',
            Self::Sender => 's',
        }
    }

    fn member_len(self) -> usize {
        match self {
            Self::Tx => TX_MEMBER,
            Self::Sender => SENDER_MEMBER,
        }
    }

    fn query(self) -> &'static str {
        match self {
            Self::Tx => "tx=",
            Self::Sender => "sender=",
        }
    }
}

/// Where the next page of a list starts: strictly after this member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    kind: IndexKind,
    member: Vec<u8>,
}

impl Cursor {
    /// The text form, as `next_cursor` carries it.
    pub fn encode(&self) -> String {
        format!("{}{}", self.kind.tag(), hex::encode(&self.member))
    }

    /// Parses the `cursor` of a `kind` list; the error says what was
    /// expected and what came.
    pub fn parse(kind: IndexKind, text: &str) -> Result<Self, InputError> {
        let digits = 2 * kind.member_len();
        let wrong = || {
            InputError::new(
                "cursor",
                format!(
                    "the next_cursor of an earlier {} answer (\"{}\" and {digits} hex digits)",
                    kind.query(),
                    kind.tag(),
                ),
                text,
            )
        };
        let body = text.strip_prefix(kind.tag()).ok_or_else(wrong)?;
        if body.len() != digits {
            return Err(wrong());
        }
        let member = hex::decode(body).map_err(|_| wrong())?;
        Ok(Self { kind, member })
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Message ids, in list order.
    pub ids: Vec<B256>,
    /// Where the next page starts; `None` at the end.
    pub next: Option<Cursor>,
}

/// Up to `limit` of `members` (in list order, read with one extra to learn
/// whether more follow) as a page. Members of another length are skipped:
/// the journal is not authenticated, a stray member is not trusted.
fn page_of(kind: IndexKind, mut members: Vec<Vec<u8>>, limit: usize) -> Page {
    let more = members.len() > limit;
    members.truncate(limit);
    let next = more
        .then(|| members.last().cloned())
        .flatten()
        .map(|member| Cursor { kind, member });
    let mut seen = HashSet::new();
    let ids = members
        .iter()
        .filter(|m| m.len() == kind.member_len())
        .map(|m| B256::from_slice(&m[m.len() - ID..]))
        .filter(|id| seen.insert(*id))
        .collect();
    Page { ids, next }
}

/// A page of transaction `hash`'s messages, in the order the transaction
/// carried them.
pub async fn tx_page(
    status: &StatusStore,
    hash: &B256,
    after: Option<&Cursor>,
    limit: usize,
) -> Result<Page, StoreError> {
    let members = status
        .status_by_tx(hash, after.map(|c| c.member.as_slice()), limit + 1)
        .await?;
    Ok(page_of(IndexKind::Tx, members, limit))
}

/// A page of `sender`'s messages on `origins`, newest first.
pub async fn sender_page(
    status: &StatusStore,
    origins: &[Domain],
    sender: &B256,
    after: Option<&Cursor>,
    limit: usize,
) -> Result<Page, StoreError> {
    let before = after.map(|c| c.member.as_slice());
    let reads = origins
        .iter()
        .map(|o| status.status_by_sender(*o, sender, before, limit + 1));
    // Each origin's first `limit + 1` after the cursor hold the first
    // `limit + 1` of all of them.
    let mut members: Vec<Vec<u8>> = futures::future::try_join_all(reads)
        .await?
        .into_iter()
        .flatten()
        .collect();
    members.sort_unstable_by(|a, b| b.cmp(a));
    members.dedup();
    Ok(page_of(IndexKind::Sender, members, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_sort_in_list_order() {
        let id = |b| B256::repeat_byte(b);
        // A transaction: by position, whatever the ids.
        assert!(tx_member(1, &id(9)) < tx_member(2, &id(1)));
        assert!(tx_member(255, &id(9)) < tx_member(256, &id(1)));
        // A sender: by time, then nonce; newer sorts greater.
        assert!(sender_member(1_000, 7, &id(9)) < sender_member(1_001, 0, &id(1)));
        assert!(sender_member(1_000, 7, &id(9)) < sender_member(1_000, 8, &id(1)));
    }

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let c = Cursor {
            kind: IndexKind::Sender,
            member: sender_member(5, 6, &B256::repeat_byte(7)),
        };
        assert_eq!(Cursor::parse(IndexKind::Sender, &c.encode()), Ok(c.clone()));
        let e = Cursor::parse(IndexKind::Tx, &c.encode())
            .expect_err("a sender cursor")
            .to_string();
        assert!(
            e.contains("earlier tx= answer") && e.contains("72 hex digits"),
            "{e}"
        );
        for bad in ["", "s", "s12", &format!("s{}", "zz".repeat(44)), "x"] {
            let e = Cursor::parse(IndexKind::Sender, bad)
                .expect_err(bad)
                .to_string();
            assert!(e.starts_with("cursor: expected"), "{e}");
            assert!(e.contains(&format!("got {bad:?}")), "{e}");
        }
        let long = "s".repeat(10_000);
        let e = Cursor::parse(IndexKind::Sender, &long)
            .expect_err("long")
            .to_string();
        assert!(e.len() < 400, "a long cursor is not echoed whole: {e}");
    }

    #[test]
    fn a_page_says_where_the_next_starts_and_skips_strays() {
        let m = |i: u32| tx_member(i, &B256::repeat_byte(i as u8));
        let p = page_of(IndexKind::Tx, vec![m(1), m(2), m(3)], 2);
        assert_eq!(p.ids, vec![B256::repeat_byte(1), B256::repeat_byte(2)]);
        assert_eq!(p.next.as_ref().map(|c| c.member.clone()), Some(m(2)));
        let p = page_of(IndexKind::Tx, vec![m(1), m(2)], 2);
        assert_eq!(p.next, None, "no more: no cursor");
        let p = page_of(IndexKind::Tx, vec![vec![1, 2, 3], m(4), m(4)], 5);
        assert_eq!(
            p.ids,
            vec![B256::repeat_byte(4)],
            "stray and repeated members"
        );
    }
}
