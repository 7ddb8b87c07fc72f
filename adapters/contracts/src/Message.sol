// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title Message
/// @notice Encoding of a Switchyard message. It is byte-for-byte the Hyperlane v3
///         message format so that tooling and recipients written for Hyperlane work:
///
///         | field       | type    | offset | size |
///         |-------------|---------|--------|------|
///         | version     | uint8   | 0      | 1    |
///         | nonce       | uint32  | 1      | 4    |
///         | origin      | uint32  | 5      | 4    |
///         | sender      | bytes32 | 9      | 32   |
///         | destination | uint32  | 41     | 4    |
///         | recipient   | bytes32 | 45     | 32   |
///         | body        | bytes   | 77     | rest |
///
///         All integers are big-endian (`abi.encodePacked`). The message id is
///         `keccak256` of the whole encoding.
/// @dev The readers take `bytes calldata` and use `calldataload` directly: the Inbox
///      processes messages straight from calldata, and copying each message to memory
///      just to read a few header fields would cost gas on the per-message hot path.
///      The readers do NOT check the length: callers must first check
///      `message.length >= HEADER_LENGTH` (the Inbox does, reverting with
///      `MessageTooShort`). Reading past the end of calldata would silently yield zeros.
library Message {
    /// @notice Message format version (Hyperlane v3).
    uint8 internal constant VERSION = 3;

    /// @notice Length of the fixed header preceding the body.
    uint256 internal constant HEADER_LENGTH = 77;

    uint256 private constant NONCE_OFFSET = 1;
    uint256 private constant ORIGIN_OFFSET = 5;
    uint256 private constant SENDER_OFFSET = 9;
    uint256 private constant DESTINATION_OFFSET = 41;
    uint256 private constant RECIPIENT_OFFSET = 45;
    uint256 private constant BODY_OFFSET = 77;

    /// @notice Encodes a message (Hyperlane v3 layout).
    function format(
        uint8 version_,
        uint32 nonce_,
        uint32 origin_,
        bytes32 sender_,
        uint32 destination_,
        bytes32 recipient_,
        bytes calldata body_
    ) internal pure returns (bytes memory) {
        return abi.encodePacked(version_, nonce_, origin_, sender_, destination_, recipient_, body_);
    }

    /// @notice Same as {format} for a body held in memory (used by tests and off-chain style helpers).
    function formatMemory(
        uint8 version_,
        uint32 nonce_,
        uint32 origin_,
        bytes32 sender_,
        uint32 destination_,
        bytes32 recipient_,
        bytes memory body_
    ) internal pure returns (bytes memory) {
        return abi.encodePacked(version_, nonce_, origin_, sender_, destination_, recipient_, body_);
    }

    /// @notice Message id: keccak256 of the whole encoded message (calldata version).
    /// @dev Hashes through scratch memory at the free memory pointer without
    ///      allocating it, so a loop over many messages does not grow memory.
    function id(bytes calldata message) internal pure returns (bytes32 digest) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, message.offset, message.length)
            digest := keccak256(ptr, message.length)
        }
    }

    /// @notice Message id of a message held in memory.
    function idMemory(bytes memory message) internal pure returns (bytes32) {
        return keccak256(message);
    }

    /// @notice Format version (byte 0). Requires `message.length >= HEADER_LENGTH`.
    function version(bytes calldata message) internal pure returns (uint8 v) {
        assembly {
            v := shr(248, calldataload(message.offset))
        }
    }

    /// @notice Per-origin nonce. Requires `message.length >= HEADER_LENGTH`.
    function nonce(bytes calldata message) internal pure returns (uint32 n) {
        assembly {
            n := shr(224, calldataload(add(message.offset, NONCE_OFFSET)))
        }
    }

    /// @notice Origin domain. Requires `message.length >= HEADER_LENGTH`.
    function origin(bytes calldata message) internal pure returns (uint32 o) {
        assembly {
            o := shr(224, calldataload(add(message.offset, ORIGIN_OFFSET)))
        }
    }

    /// @notice Sender on the origin chain, left-padded address. Requires `message.length >= HEADER_LENGTH`.
    function sender(bytes calldata message) internal pure returns (bytes32 s) {
        assembly {
            s := calldataload(add(message.offset, SENDER_OFFSET))
        }
    }

    /// @notice Destination domain. Requires `message.length >= HEADER_LENGTH`.
    function destination(bytes calldata message) internal pure returns (uint32 d) {
        assembly {
            d := shr(224, calldataload(add(message.offset, DESTINATION_OFFSET)))
        }
    }

    /// @notice Recipient on the destination chain, left-padded address. Requires `message.length >= HEADER_LENGTH`.
    function recipient(bytes calldata message) internal pure returns (bytes32 r) {
        assembly {
            r := calldataload(add(message.offset, RECIPIENT_OFFSET))
        }
    }

    /// @notice The recipient field as an EVM address (low 20 bytes; the high 12 bytes are ignored).
    function recipientAddress(bytes calldata message) internal pure returns (address a) {
        assembly {
            a := and(calldataload(add(message.offset, RECIPIENT_OFFSET)), 0xffffffffffffffffffffffffffffffffffffffff)
        }
    }

    /// @notice Body (everything after the header), as a calldata slice: no copy.
    ///         Requires `message.length >= HEADER_LENGTH`.
    function body(bytes calldata message) internal pure returns (bytes calldata b) {
        assembly {
            b.offset := add(message.offset, BODY_OFFSET)
            b.length := sub(message.length, BODY_OFFSET)
        }
    }

    /// @notice Left-pads an address to the bytes32 form used in the sender/recipient fields.
    function addressToBytes32(address a) internal pure returns (bytes32) {
        return bytes32(uint256(uint160(a)));
    }

    /// @notice Inverse of {addressToBytes32}: keeps the low 20 bytes.
    function bytes32ToAddress(bytes32 b) internal pure returns (address) {
        return address(uint160(uint256(b)));
    }
}
