//! The commitment path of a Cosmos-side Switchyard outbox
//! (`docs/cometbft-outbox.md` is the chain team's side of it).
//!
//! Store `switchyard` (the module's KV store key, so the multistore proves
//! it under that name), key `"outbox/" ‖ nonce (u32 BE)`, value the
//! message's full Hyperlane v3 encoding. The value is the encoding rather
//! than the id because the hub relays the body: a proven encoding is
//! everything it needs, an id would need the body from somewhere else and a
//! match against it.
//!
//! The key holds the nonce alone because the nonce is one counter for the
//! whole chain (a destination Inbox's replay protection is keyed by
//! (origin, nonce), and route groups let one Inbox receive several
//! destination domains): the hub walks the outbox nonce by nonce, so it
//! must be able to name the key of nonce `n` without knowing its
//! destination. The destination is inside the message.

use switchyard_types::{Domain, Message};

use crate::error::{Error, Result};
use crate::proof::{ProofOp, verify_membership, verify_non_membership};

/// The KV store the outbox module writes to.
pub const OUTBOX_STORE: &[u8] = b"switchyard";

/// Prefix of every outbox key inside the store.
pub const OUTBOX_PREFIX: &[u8] = b"outbox/";

/// Length of an outbox key.
pub const OUTBOX_KEY_LEN: usize = OUTBOX_PREFIX.len() + 4;

/// The key of the message with `nonce`. Big-endian, so an iterator over
/// `"outbox/"` walks the messages in nonce order.
pub fn outbox_key(nonce: u32) -> Vec<u8> {
    let mut key = Vec::with_capacity(OUTBOX_KEY_LEN);
    key.extend_from_slice(OUTBOX_PREFIX);
    key.extend_from_slice(&nonce.to_be_bytes());
    key
}

/// The nonce an outbox key names.
pub fn parse_outbox_key(key: &[u8]) -> Result<u32> {
    match key.strip_prefix(OUTBOX_PREFIX).map(<[u8; 4]>::try_from) {
        Some(Ok(nonce)) => Ok(u32::from_be_bytes(nonce)),
        _ => Err(Error::OutboxEntry {
            field: "key",
            expected: format!("{OUTBOX_KEY_LEN} bytes: \"outbox/\" ‖ nonce u32 BE"),
            got: format!("{} bytes {}", key.len(), hex::encode(key)),
        }),
    }
}

/// Turns a proven outbox entry into the message it stores, checking that
/// the entry is consistent: a version-3 message from `origin` (the
/// chain's domain, from config, never from the entry) whose nonce is the
/// one its key names.
pub fn message_from_entry(origin: Domain, key: &[u8], value: &[u8]) -> Result<Message> {
    let nonce = parse_outbox_key(key)?;
    let message = Message::decode(value).map_err(|e| Error::OutboxEntry {
        field: "value",
        expected: "a Hyperlane v3 message encoding".to_owned(),
        got: e.to_string(),
    })?;
    message.check_version().map_err(|e| Error::OutboxEntry {
        field: "version",
        expected: switchyard_types::MESSAGE_VERSION.to_string(),
        got: e.to_string(),
    })?;
    let mismatch = |field, expected: u32, got: u32| Error::OutboxEntry {
        field,
        expected: expected.to_string(),
        got: got.to_string(),
    };
    if message.origin != origin {
        return Err(mismatch("origin", origin, message.origin));
    }
    if message.nonce != nonce {
        return Err(mismatch("nonce (key vs message)", nonce, message.nonce));
    }
    Ok(message)
}

/// Checks the outbox entry `key = value` under `app_hash` (store proof,
/// then the multistore proof of [`OUTBOX_STORE`]) and returns its message.
///
/// `app_hash` is that of the verified header one above the query height:
/// CometBFT headers carry the app hash of the state after the previous
/// block.
pub fn verify_entry(
    app_hash: &[u8],
    ops: &[ProofOp],
    origin: Domain,
    key: &[u8],
    value: &[u8],
) -> Result<Message> {
    let message = message_from_entry(origin, key, value)?;
    verify_membership(app_hash, ops, &[OUTBOX_STORE, key], value)?;
    Ok(message)
}

/// Checks that the outbox holds no entry for `nonce` under `app_hash`
/// (a non-existence proof in the store, then the multistore proof of
/// [`OUTBOX_STORE`]): message `nonce` was not written yet in that state.
pub fn verify_absent(app_hash: &[u8], ops: &[ProofOp], nonce: u32) -> Result<()> {
    verify_non_membership(app_hash, ops, &[OUTBOX_STORE, &outbox_key(nonce)])
}
