// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Message} from "./Message.sol";

/// @title Mailbox
/// @notice Origin side of Switchyard: applications call {dispatch} (or {dispatchMany})
///         to send a message to a recipient on another domain. The Mailbox only
///         numbers the message and emits it in a {Dispatch} event; Switchyard's
///         relayer watches these events, has them attested and delivers them to the
///         destination chain's {Inbox}.
/// @dev Design notes:
///      - Messages use the Hyperlane v3 encoding (see {Message}); the event carries
///        the full encoding so that off-chain code never re-encodes (one source of
///        truth for the id = keccak256(message)).
///      - Nothing is stored per message: the event log is the record. The only state
///        is the next nonce (one storage slot), keeping dispatch cheap.
///      - `destination == localDomain` (loopback) is allowed on purpose: it is a
///        legal message (an Inbox on this same chain may deliver it) and is useful for
///        single-chain devnets and tests. The Mailbox does not know which domains exist.
///      - There is no fee, no hook and no access control: anyone may dispatch.
contract Mailbox {
    /// @notice Message format version emitted by this Mailbox.
    uint8 public constant VERSION = Message.VERSION;

    /// @notice Domain identifier of the chain this Mailbox is deployed on (the
    ///         `origin` field of every message it dispatches).
    uint32 public immutable localDomain;

    /// @notice Nonce the next dispatched message will carry. Starts at 0 and
    ///         increases by one per message; together with `localDomain` it uniquely
    ///         identifies a message (the Inbox's replay protection keys on (origin, nonce)).
    uint32 public nonce;

    /// @notice Emitted once per dispatched message.
    /// @param sender The caller of {dispatch} / {dispatchMany}.
    /// @param destination Destination domain.
    /// @param recipient Recipient on the destination domain.
    /// @param message The full encoded message (Hyperlane v3 layout, see {Message}).
    event Dispatch(address indexed sender, uint32 indexed destination, bytes32 indexed recipient, bytes message);

    constructor(uint32 localDomain_) {
        localDomain = localDomain_;
    }

    /// @notice Dispatches one message.
    /// @dev Reverts (checked arithmetic) once 2^32 messages have been dispatched: the
    ///      nonce is a uint32 in the wire format and must never wrap, or replay
    ///      protection on the destination would drop new messages as replays.
    /// @return id keccak256 of the encoded message.
    function dispatch(uint32 destination, bytes32 recipient, bytes calldata body) external returns (bytes32 id) {
        uint32 n = nonce;
        nonce = n + 1;
        bytes memory message = Message.format(
            Message.VERSION, n, localDomain, Message.addressToBytes32(msg.sender), destination, recipient, body
        );
        id = keccak256(message);
        emit Dispatch(msg.sender, destination, recipient, message);
    }

    /// @notice Dispatches several messages to the same recipient in one transaction:
    ///         one consecutive nonce and one {Dispatch} event per body, in order.
    /// @dev Meant for load generators and batching applications. The nonce is read
    ///      and written once for the whole call, and each message's memory is released
    ///      after its event so that memory (whose cost is quadratic) does not grow
    ///      with the number of bodies. With an empty `bodies`, nothing is dispatched
    ///      and the current nonce is returned unchanged.
    /// @return firstNonce Nonce of the first message; message i has `firstNonce + i`.
    function dispatchMany(uint32 destination, bytes32 recipient, bytes[] calldata bodies)
        external
        returns (uint32 firstNonce)
    {
        firstNonce = nonce;
        // Checked: reverts if the batch would overflow the uint32 nonce space. (The cast
        // of bodies.length cannot truncate: 2^32 bodies cannot fit in a transaction.)
        nonce = firstNonce + uint32(bodies.length);
        bytes32 sender = Message.addressToBytes32(msg.sender);
        for (uint256 i; i < bodies.length; ++i) {
            uint256 freePtr;
            assembly ("memory-safe") {
                freePtr := mload(0x40)
            }
            // casting to 'uint32' is safe because i < bodies.length and
            // firstNonce + uint32(bodies.length) was checked above.
            // forge-lint: disable-next-line(unsafe-typecast)
            uint32 messageNonce = firstNonce + uint32(i);
            bytes memory message =
                Message.format(Message.VERSION, messageNonce, localDomain, sender, destination, recipient, bodies[i]);
            emit Dispatch(msg.sender, destination, recipient, message);
            // `message` is dead after the event: hand its memory back.
            assembly ("memory-safe") {
                mstore(0x40, freePtr)
            }
        }
    }
}
