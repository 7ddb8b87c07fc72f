//! `message.json`: the v3 packing and its id.

use serde::Deserialize;
use switchyard_types::{B256, HEADER_LEN, Message, id_of_encoded};

use crate::vectors::{flip, load};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    version: u8,
    nonce: u32,
    origin: u32,
    sender: B256,
    destination: u32,
    recipient: B256,
    body: Vec<u8>,
    id: B256,
}

fn cases() -> Vec<Case> {
    let cases: Vec<Case> = load("message.json");
    assert_eq!(cases.len(), 1, "message.json holds 1 case");
    cases
}

fn message(c: &Case) -> Message {
    Message {
        version: c.version,
        nonce: c.nonce,
        origin: c.origin,
        sender: c.sender,
        destination: c.destination,
        recipient: c.recipient,
        body: c.body.clone().into(),
    }
}

#[test]
fn encodes_to_the_expected_id() {
    for (i, c) in cases().iter().enumerate() {
        let m = message(c);
        let encoded = m.encode();
        assert_eq!(encoded.len(), HEADER_LEN + c.body.len(), "case {i}: length");
        assert_eq!(m.id(), c.id, "case {i}: id");
        assert_eq!(id_of_encoded(&encoded), c.id, "case {i}: id of the bytes");
        assert_eq!(m.check_version(), Ok(()), "case {i}: v3");
    }
}

#[test]
fn decodes_back_to_the_same_fields() {
    for (i, c) in cases().iter().enumerate() {
        let m = message(c);
        assert_eq!(
            Message::decode(&m.encode()).expect("vector decodes"),
            m,
            "case {i}"
        );
    }
}

#[test]
fn any_changed_byte_changes_the_id() {
    for (i, c) in cases().iter().enumerate() {
        let encoded = message(c).encode();
        for at in 0..encoded.len() {
            let mut bad = encoded.clone();
            bad[at] ^= 1;
            assert_ne!(id_of_encoded(&bad), c.id, "case {i}: byte {at} flipped");
        }
        let mut m = message(c);
        m.sender = flip(m.sender, 31);
        assert_ne!(m.id(), c.id, "case {i}: sender changed");
    }
}
