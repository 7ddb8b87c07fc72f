//! Messages out of a verified block: the mailbox's `Dispatch` logs, decoded
//! and cross-checked against their indexed topics.

use alloy_primitives::{Address, B256, b256, hex};
use serde::{Deserialize, Serialize};
use switchyard_types::{Domain, MESSAGE_VERSION, Message, MessageError};

use crate::{Error, Log, VerifiedBlock};

/// Signature of the mailbox event: `Dispatch(address indexed sender, uint32
/// indexed destination, bytes32 indexed recipient, bytes message)`.
pub const DISPATCH_SIGNATURE: &str = "Dispatch(address,uint32,bytes32,bytes)";

/// topic0 of the `Dispatch` event: keccak256 of [`DISPATCH_SIGNATURE`]
/// (checked by a test).
pub const DISPATCH_TOPIC: B256 =
    b256!("769f711d20c679153d382254f59892613b58a97cc876b249134ac25c80f9c814");

/// Where a log sits in its block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LogPosition {
    /// Index of the transaction (receipt) in the block.
    pub tx_index: usize,
    /// Index of the log in the block (JSON-RPC `logIndex`).
    pub log_index: usize,
}

/// A message with the position of the log that carried it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PositionedMessage {
    /// Index of the transaction (receipt) in the block.
    pub tx_index: usize,
    /// Index of the log in the block.
    pub log_index: usize,
    /// The decoded, cross-checked message.
    pub message: Message,
}

/// The outcome of [`extract_messages`]: the messages to relay, and the
/// mailbox `Dispatch` logs refused (each with a [`Error::MalformedLog`]),
/// both in block order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    /// Messages to relay.
    pub messages: Vec<PositionedMessage>,
    /// Dispatch logs that are not relayed, and why.
    pub rejected: Vec<(LogPosition, Error)>,
}

/// One failed check: (what, expected, got).
type Defect = (&'static str, String, String);

/// Extracts the messages `mailbox` dispatched in `block`, on the chain of
/// domain `origin`.
///
/// A log is a candidate when it was emitted by `mailbox` with topic0
/// [`DISPATCH_TOPIC`] in a successful transaction; other logs are ignored
/// silently (a failed transaction has no logs on a real chain, but that is
/// not trusted). A candidate is relayed only when its data is exactly the
/// ABI encoding of one `bytes` (offset 32, length within the data, zero
/// padding to 32 bytes, nothing after), the bytes decode as a version-3
/// message from `origin`, and the three indexed topics equal the message's
/// sender, destination and recipient. Otherwise it is reported in
/// [`Extracted::rejected`] and the other logs of the block are unaffected.
pub fn extract_messages(block: &VerifiedBlock<'_>, mailbox: Address, origin: Domain) -> Extracted {
    let mut out = Extracted::default();
    let mut log_index = 0usize;
    for (tx_index, receipt) in block.receipts().iter().enumerate() {
        for log in &receipt.logs {
            let position = LogPosition {
                tx_index,
                log_index,
            };
            log_index += 1;
            if !receipt.status
                || log.address != mailbox
                || log.topics.first() != Some(&DISPATCH_TOPIC)
            {
                continue;
            }
            match dispatched_message(log, origin) {
                Ok(message) => out.messages.push(PositionedMessage {
                    tx_index,
                    log_index: position.log_index,
                    message,
                }),
                Err((what, expected, got)) => out.rejected.push((
                    position,
                    Error::MalformedLog {
                        height: block.number(),
                        tx_index,
                        log_index: position.log_index,
                        what,
                        expected,
                        got,
                    },
                )),
            }
        }
    }
    out
}

/// The message of a `Dispatch` log, every check applied.
fn dispatched_message(log: &Log, origin: Domain) -> Result<Message, Defect> {
    let [_, sender, destination, recipient] = log.topics.as_slice() else {
        return Err(("topic_count", "4".into(), log.topics.len().to_string()));
    };
    let bytes = abi_bytes(&log.data)?;
    let message = Message::decode(bytes).map_err(|e| match e {
        MessageError::TooShort { expected, got } => (
            "message_length",
            format!("at least {expected}"),
            got.to_string(),
        ),
        other => ("message", "a decodable message".into(), other.to_string()),
    })?;
    if message.version != MESSAGE_VERSION {
        return Err((
            "message_version",
            MESSAGE_VERSION.to_string(),
            message.version.to_string(),
        ));
    }
    if message.origin != origin {
        return Err(("origin", origin.to_string(), message.origin.to_string()));
    }
    // The indexed topics are what the mailbox was called with; the message
    // must say the same.
    if message.sender != *sender {
        return Err(("sender", sender.to_string(), message.sender.to_string()));
    }
    let message_destination = B256::left_padding_from(&message.destination.to_be_bytes());
    if message_destination != *destination {
        return Err((
            "destination",
            destination.to_string(),
            message_destination.to_string(),
        ));
    }
    if message.recipient != *recipient {
        return Err((
            "recipient",
            recipient.to_string(),
            message.recipient.to_string(),
        ));
    }
    Ok(message)
}

/// The value of ABI-encoded data holding a single `bytes` argument, decoded
/// strictly: head = offset 32, then the length word, then the bytes
/// zero-padded to a multiple of 32, and nothing else. A lax decoder would
/// accept several encodings of one message, or data with room for another.
fn abi_bytes(data: &[u8]) -> Result<&[u8], Defect> {
    if data.len() < 64 {
        return Err((
            "abi_data_length",
            "at least 64".into(),
            data.len().to_string(),
        ));
    }
    let word = |at: usize| -> &[u8] { &data[at..at + 32] };
    let offset = word(0);
    if offset[..31].iter().any(|b| *b != 0) || offset[31] != 32 {
        return Err((
            "abi_offset",
            "32".into(),
            format!("0x{}", hex::encode(offset)),
        ));
    }
    let length = word(32);
    let available = data.len() - 64;
    // A length word with any of its upper 24 bytes set exceeds any data.
    let len = if length[..24].iter().any(|b| *b != 0) {
        None
    } else {
        let mut be = [0u8; 8];
        be.copy_from_slice(&length[24..]);
        usize::try_from(u64::from_be_bytes(be))
            .ok()
            .filter(|len| *len <= available)
    };
    let Some(len) = len else {
        return Err((
            "abi_length",
            format!("at most {available}"),
            format!("0x{}", hex::encode(length)),
        ));
    };
    let padded = len.div_ceil(32) * 32;
    if available != padded {
        return Err((
            "abi_data_length",
            (64 + padded).to_string(),
            data.len().to_string(),
        ));
    }
    let (value, padding) = data[64..].split_at(len);
    if padding.iter().any(|b| *b != 0) {
        return Err((
            "abi_padding",
            "zero bytes".into(),
            format!("0x{}", hex::encode(padding)),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Receipt, TxType};
    use alloy_primitives::{Bytes, keccak256};

    const ORIGIN: Domain = 1000;
    const DESTINATION: Domain = 2000;

    fn mailbox() -> Address {
        Address::repeat_byte(0x3a)
    }

    fn message(nonce: u32) -> Message {
        Message {
            version: 3,
            nonce,
            origin: ORIGIN,
            sender: B256::left_padding_from(Address::repeat_byte(0x5e).as_slice()),
            destination: DESTINATION,
            recipient: B256::repeat_byte(0x7e),
            body: Bytes::from_static(b"hello, destination"),
        }
    }

    fn abi_encode_bytes(value: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; 64];
        out[31] = 32;
        out[56..64].copy_from_slice(&(value.len() as u64).to_be_bytes());
        out.extend_from_slice(value);
        out.resize(64 + value.len().div_ceil(32) * 32, 0);
        out
    }

    fn dispatch_log(m: &Message) -> Log {
        Log {
            address: mailbox(),
            topics: vec![
                DISPATCH_TOPIC,
                m.sender,
                B256::left_padding_from(&m.destination.to_be_bytes()),
                m.recipient,
            ],
            data: abi_encode_bytes(&m.encode()).into(),
        }
    }

    fn receipt(logs: Vec<Log>) -> Receipt {
        Receipt {
            tx_type: TxType::Eip1559,
            status: true,
            logs,
            ..Receipt::default()
        }
    }

    /// Extracts from one receipt holding an unrelated log then `log`.
    fn extract_one(log: Log) -> Extracted {
        let receipts = vec![receipt(vec![Log::default(), log])];
        let block = VerifiedBlock::new_unchecked(42, B256::ZERO, 0, &receipts);
        extract_messages(&block, mailbox(), ORIGIN)
    }

    fn rejected_what(log: Log) -> (&'static str, String, String) {
        let out = extract_one(log);
        assert!(out.messages.is_empty(), "{out:?}");
        assert_eq!(out.rejected.len(), 1, "{out:?}");
        let (position, err) = &out.rejected[0];
        assert_eq!(
            *position,
            LogPosition {
                tx_index: 0,
                log_index: 1
            }
        );
        assert_eq!(err.reason(), "malformed_log");
        match err {
            Error::MalformedLog {
                height,
                tx_index,
                log_index,
                what,
                expected,
                got,
            } => {
                assert_eq!((*height, *tx_index, *log_index), (42, 0, 1));
                (*what, expected.clone(), got.clone())
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn dispatch_topic_is_the_event_signature_hash() {
        assert_eq!(DISPATCH_TOPIC, keccak256(DISPATCH_SIGNATURE));
    }

    #[test]
    fn well_formed_dispatch_is_extracted() {
        let m = message(5);
        let out = extract_one(dispatch_log(&m));
        assert!(out.rejected.is_empty());
        assert_eq!(
            out.messages,
            vec![PositionedMessage {
                tx_index: 0,
                log_index: 1,
                message: m
            }]
        );
    }

    #[test]
    fn other_logs_and_failed_receipts_are_ignored() {
        let m = message(1);
        let mut other_address = dispatch_log(&m);
        other_address.address = Address::repeat_byte(1);
        let mut other_topic = dispatch_log(&m);
        other_topic.topics[0] = B256::repeat_byte(1);
        let no_topics = Log {
            address: mailbox(),
            ..Log::default()
        };
        let mut failed = receipt(vec![dispatch_log(&m)]);
        failed.status = false;
        let receipts = vec![receipt(vec![other_address, other_topic, no_topics]), failed];
        let block = VerifiedBlock::new_unchecked(1, B256::ZERO, 0, &receipts);
        assert_eq!(
            extract_messages(&block, mailbox(), ORIGIN),
            Extracted::default()
        );
    }

    #[test]
    fn a_bad_log_does_not_affect_the_others() {
        let (a, b) = (message(1), message(2));
        let mut bad = dispatch_log(&a);
        bad.topics.pop();
        let receipts = vec![
            receipt(vec![dispatch_log(&a), bad]),
            receipt(vec![dispatch_log(&b)]),
        ];
        let block = VerifiedBlock::new_unchecked(1, B256::ZERO, 0, &receipts);
        let out = extract_messages(&block, mailbox(), ORIGIN);
        let got: Vec<_> = out
            .messages
            .iter()
            .map(|p| (p.tx_index, p.log_index, p.message.nonce))
            .collect();
        assert_eq!(got, vec![(0, 0, 1), (1, 2, 2)]);
        assert_eq!(out.rejected.len(), 1);
        assert_eq!(
            out.rejected[0].0,
            LogPosition {
                tx_index: 0,
                log_index: 1
            }
        );
    }

    #[test]
    fn topic_count_must_be_four() {
        let mut log = dispatch_log(&message(1));
        log.topics.push(B256::ZERO);
        assert_eq!(rejected_what(log), ("topic_count", "4".into(), "5".into()));
    }

    #[test]
    fn abi_offset_must_be_32() {
        let mut log = dispatch_log(&message(1));
        let mut data = log.data.to_vec();
        data[31] = 64;
        log.data = data.into();
        let (what, expected, _) = rejected_what(log);
        assert_eq!((what, expected.as_str()), ("abi_offset", "32"));
    }

    #[test]
    fn abi_length_must_fit_the_data() {
        let mut log = dispatch_log(&message(1));
        let mut data = log.data.to_vec();
        data[63] = 0xff;
        data[62] = 0x01;
        let available = data.len() - 64;
        log.data = data.into();
        let (what, expected, _) = rejected_what(log);
        assert_eq!(
            (what, expected),
            ("abi_length", format!("at most {available}"))
        );

        let mut log = dispatch_log(&message(1));
        let mut data = log.data.to_vec();
        data[32] = 1; // an upper byte of the length word
        log.data = data.into();
        assert_eq!(rejected_what(log).0, "abi_length");
    }

    #[test]
    fn abi_data_must_be_exactly_padded() {
        let m = message(1);
        let mut log = dispatch_log(&m);
        let mut data = log.data.to_vec();
        let expected_len = data.len();
        data.extend_from_slice(&[0u8; 32]);
        log.data = data.into();
        assert_eq!(
            rejected_what(log),
            (
                "abi_data_length",
                expected_len.to_string(),
                (expected_len + 32).to_string()
            )
        );

        let mut log = dispatch_log(&m);
        log.data = Bytes::from(vec![0u8; 63]);
        assert_eq!(
            rejected_what(log),
            ("abi_data_length", "at least 64".into(), "63".into())
        );
    }

    #[test]
    fn abi_padding_must_be_zero() {
        let m = message(1);
        assert_ne!(m.encoded_len() % 32, 0, "the sample needs padding");
        let mut log = dispatch_log(&m);
        let mut data = log.data.to_vec();
        let last = data.len() - 1;
        data[last] = 1;
        log.data = data.into();
        assert_eq!(rejected_what(log).0, "abi_padding");
    }

    #[test]
    fn message_must_decode() {
        let mut log = dispatch_log(&message(1));
        log.data = abi_encode_bytes(&[3u8; 10]).into();
        assert_eq!(
            rejected_what(log),
            ("message_length", "at least 77".into(), "10".into())
        );
    }

    #[test]
    fn version_must_be_3() {
        let mut m = message(1);
        m.version = 2;
        assert_eq!(
            rejected_what(dispatch_log(&m)),
            ("message_version", "3".into(), "2".into())
        );
    }

    #[test]
    fn origin_must_match() {
        let mut m = message(1);
        m.origin = 7;
        assert_eq!(
            rejected_what(dispatch_log(&m)),
            ("origin", "1000".into(), "7".into())
        );
    }

    #[test]
    fn indexed_topics_must_match_the_message() {
        let m = message(1);
        let fields = [("sender", 1usize), ("destination", 2), ("recipient", 3)];
        for (what, topic) in fields {
            let mut log = dispatch_log(&m);
            log.topics[topic] = B256::repeat_byte(0xee);
            let (got_what, expected, _) = rejected_what(log);
            assert_eq!(
                (got_what, expected),
                (what, B256::repeat_byte(0xee).to_string())
            );
        }
    }
}
