//! Hyperlane v3 message layout:
//! `version u8 | nonce u32 | origin u32 | sender bytes32 | destination u32 |
//! recipient bytes32 | body`, all integers big-endian; the id is keccak256 of
//! the whole encoding.

use alloy_primitives::{B256, Bytes, Keccak256, keccak256};
use serde::{Deserialize, Serialize};

/// A chain's domain id (Hyperlane numbering: a u32 chosen per chain).
pub type Domain = u32;

/// The only message version this hub produces and accepts.
pub const MESSAGE_VERSION: u8 = 3;

/// Length of the fixed part of an encoded message, before the body.
pub const HEADER_LEN: usize = 1 + 4 + 4 + 32 + 4 + 32;

/// Why bytes could not be read as a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// Fewer bytes than the fixed header.
    #[error("message too short: expected at least {expected} bytes, got {got}")]
    TooShort {
        /// Minimum length.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// A version this hub does not speak.
    #[error("unsupported message version: expected {expected}, got {got}")]
    Version {
        /// The supported version.
        expected: u8,
        /// The version byte found.
        got: u8,
    },
}

impl MessageError {
    /// Whether retrying can succeed: never, the bytes will not change.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::TooShort { .. } | Self::Version { .. } => false,
        }
    }
}

/// A cross-chain message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Message {
    /// Layout version, [`MESSAGE_VERSION`] for every message the hub relays.
    pub version: u8,
    /// Per-origin sequence number assigned by the origin Mailbox.
    pub nonce: u32,
    /// Domain of the origin chain.
    pub origin: Domain,
    /// Sender address, left-padded to 32 bytes.
    pub sender: B256,
    /// Domain of the destination chain.
    pub destination: Domain,
    /// Recipient address, left-padded to 32 bytes.
    pub recipient: B256,
    /// Application payload.
    pub body: Bytes,
}

/// The ordering unit of the hub: messages of one channel are delivered in
/// nonce order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Channel {
    /// Origin domain.
    pub origin: Domain,
    /// Sender on the origin.
    pub sender: B256,
    /// Recipient on the destination.
    pub recipient: B256,
}

impl Message {
    /// Length of the encoding.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.body.len()
    }

    /// Appends the wire encoding to `out` (no intermediate allocation, so a
    /// batch can be encoded into one buffer).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        out.push(self.version);
        out.extend_from_slice(&self.nonce.to_be_bytes());
        out.extend_from_slice(&self.origin.to_be_bytes());
        out.extend_from_slice(self.sender.as_slice());
        out.extend_from_slice(&self.destination.to_be_bytes());
        out.extend_from_slice(self.recipient.as_slice());
        out.extend_from_slice(&self.body);
    }

    /// The wire encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    /// Decodes any version; callers that relay must also check
    /// [`Message::check_version`].
    pub fn decode(bytes: &[u8]) -> Result<Self, MessageError> {
        if bytes.len() < HEADER_LEN {
            return Err(MessageError::TooShort {
                expected: HEADER_LEN,
                got: bytes.len(),
            });
        }
        let u32_at = |at: usize| {
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        Ok(Self {
            version: bytes[0],
            nonce: u32_at(1),
            origin: u32_at(5),
            sender: B256::from_slice(&bytes[9..41]),
            destination: u32_at(41),
            recipient: B256::from_slice(&bytes[45..77]),
            body: Bytes::copy_from_slice(&bytes[HEADER_LEN..]),
        })
    }

    /// Rejects versions other than [`MESSAGE_VERSION`].
    pub fn check_version(&self) -> Result<(), MessageError> {
        if self.version == MESSAGE_VERSION {
            Ok(())
        } else {
            Err(MessageError::Version {
                expected: MESSAGE_VERSION,
                got: self.version,
            })
        }
    }

    /// keccak256 of the encoding.
    pub fn id(&self) -> B256 {
        keccak256(self.encode())
    }

    /// The channel this message belongs to.
    pub fn channel(&self) -> Channel {
        Channel {
            origin: self.origin,
            sender: self.sender,
            recipient: self.recipient,
        }
    }
}

/// The id of an already encoded message.
pub fn id_of_encoded(encoded: &[u8]) -> B256 {
    keccak256(encoded)
}

/// The attestation root of a delivery batch: `keccak256(id_0 ‖ id_1 ‖ … ‖
/// id_{n-1})` over the message ids in delivery order, the same value the
/// destination Inbox computes as `keccak256(abi.encodePacked(ids))`. Order
/// matters; the empty batch's root is `keccak256("")`.
pub fn batch_root(ids: &[B256]) -> B256 {
    let mut hasher = Keccak256::new();
    for id in ids {
        hasher.update(id);
    }
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_message() -> impl Strategy<Value = Message> {
        (
            any::<u8>(),
            any::<u32>(),
            any::<u32>(),
            any::<[u8; 32]>(),
            any::<u32>(),
            any::<[u8; 32]>(),
            proptest::collection::vec(any::<u8>(), 0..512),
        )
            .prop_map(
                |(version, nonce, origin, s, destination, r, body)| Message {
                    version,
                    nonce,
                    origin,
                    sender: B256::from(s),
                    destination,
                    recipient: B256::from(r),
                    body: body.into(),
                },
            )
    }

    proptest! {
        #[test]
        fn encode_decode_round_trip(m in arb_message()) {
            let bytes = m.encode();
            prop_assert_eq!(bytes.len(), m.encoded_len());
            prop_assert_eq!(Message::decode(&bytes).expect("decodes"), m);
        }

        #[test]
        fn short_input_is_rejected_with_lengths(len in 0usize..HEADER_LEN) {
            let err = Message::decode(&vec![0u8; len]).expect_err("too short");
            prop_assert_eq!(err, MessageError::TooShort { expected: HEADER_LEN, got: len });
        }
    }

    #[test]
    fn batch_root_hashes_the_concatenated_ids_in_order() {
        let (a, b) = (B256::repeat_byte(0xaa), B256::repeat_byte(0xbb));
        assert_eq!(
            batch_root(&[a, b]),
            keccak256([a.as_slice(), b.as_slice()].concat())
        );
        assert_ne!(batch_root(&[a, b]), batch_root(&[b, a]));
        assert_eq!(batch_root(&[a]), keccak256(a));
        assert_eq!(batch_root(&[]), keccak256([]));
    }

    #[test]
    fn wrong_version_names_both() {
        let m = Message {
            version: 2,
            nonce: 0,
            origin: 1,
            sender: B256::ZERO,
            destination: 2,
            recipient: B256::ZERO,
            body: Bytes::new(),
        };
        assert_eq!(
            m.check_version(),
            Err(MessageError::Version {
                expected: 3,
                got: 2
            })
        );
    }
}
