// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Mailbox} from "../Mailbox.sol";
import {Receiver} from "../Receiver.sol";

/// @title PingPong
/// @notice Example Switchyard application: a cross-chain ping-pong with replies, built
///         on {Receiver}. Deploy one PingPong per chain (each with its chain's Mailbox
///         and Inbox), list each other as origin and sender on both sides, then call
///         {ping} on one of them:
///
///         ```
///         chain A: a.ping(B, b)         -> Mailbox A dispatches hop 1 (a ping) to b
///         chain B: Inbox B delivers it  -> b emits PingReceived, replies hop 2 (a pong) through Mailbox B
///         chain A: Inbox A delivers it  -> a emits PongReceived; hop 2 = a's maxHops: RallyEnded
///         ```
///
///         The messages of one exchange form a rally: hop 1 is the ping that starts it,
///         odd hops are pings (from the side that started it), even hops pongs. Each
///         side answers the message of hop `h` with hop `h + 1` only while
///         `h < maxHops` (its own, immutable limit), so it never sends a hop above its
///         limit and a rally has at most `min(maxHops of both sides) + 1` messages
///         (exactly `maxHops` when both sides have the same limit), whatever the peer
///         sends: two PingPongs can never bounce messages (and relayer gas) forever.
///         With `maxHops == 2` on both sides, {ping} is one round trip.
///
/// @dev Body of every message: `abi.encode(bytes32 rally, uint32 hop)`. The rally id is
///      `keccak256(abi.encode(localDomain, address(this), n))` for the n-th rally this
///      contract started, unique across chains. A reply goes to the message's origin
///      and sender, which {Receiver} has just checked against the allow-lists: a
///      PingPong only ever answers listed peers. A reply is a `Mailbox.dispatch` from
///      inside `handle`, so it is paid from the Inbox's `handleGasLimit`: a received
///      ping answered by a pong costs about 35,000 gas, and about 93,000 the first time
///      (counters and the Mailbox nonce go from zero to non-zero); see the forge test
///      `testReplyGas`. Deploy with an Inbox whose `handleGasLimit` covers that.
contract PingPong is Receiver {
    /// @notice The Mailbox of this chain, through which pings and pongs are dispatched.
    Mailbox public immutable mailbox;

    /// @notice Domain of this chain (the Mailbox's `localDomain`).
    uint32 public immutable localDomain;

    /// @notice Highest hop this contract sends: it answers hop `h` only if `h < maxHops`.
    uint32 public immutable maxHops;

    /// @notice Rallies started here with {ping}.
    uint256 public ralliesStarted;

    /// @notice Messages sent and received, by kind (odd hops are pings, even hops pongs).
    uint256 public pingsSent;
    uint256 public pongsSent;
    uint256 public pingsReceived;
    uint256 public pongsReceived;

    /// @notice A ping (odd hop) was dispatched to `peer` on `destination`.
    event PingSent(
        bytes32 indexed rally, uint32 indexed destination, bytes32 indexed peer, uint32 hop, bytes32 messageId
    );

    /// @notice A pong (even hop) was dispatched to `peer` on `destination`.
    event PongSent(
        bytes32 indexed rally, uint32 indexed destination, bytes32 indexed peer, uint32 hop, bytes32 messageId
    );

    /// @notice A ping (odd hop) from `sender` on `origin` was received.
    event PingReceived(bytes32 indexed rally, uint32 indexed origin, bytes32 indexed sender, uint32 hop);

    /// @notice A pong (even hop) from `sender` on `origin` was received.
    event PongReceived(bytes32 indexed rally, uint32 indexed origin, bytes32 indexed sender, uint32 hop);

    /// @notice The message of hop `hops` was received and not answered: `hops >= maxHops`.
    event RallyEnded(bytes32 indexed rally, uint32 hops);

    /// @notice {ping} to a peer whose answer this contract would refuse (not in the allow-lists).
    error PeerNotAllowed(uint32 destination, bytes32 peer);

    /// @notice A received body is not `abi.encode(bytes32, uint32)` with a hop >= 1.
    error InvalidHop(uint32 hop);

    /// @notice `maxHops` must be at least 1 (the ping itself).
    error InvalidMaxHops(uint32 maxHops);

    /// @param mailbox_ The Mailbox of this chain.
    /// @param inbox_ The Inbox of this chain (see {Receiver}).
    /// @param maxHops_ Highest hop this contract sends (2: a ping is answered by one pong, which ends it).
    constructor(Mailbox mailbox_, address inbox_, uint32 maxHops_) Receiver(inbox_) {
        if (address(mailbox_) == address(0)) revert ZeroAddress();
        if (maxHops_ == 0) revert InvalidMaxHops(maxHops_);
        mailbox = mailbox_;
        localDomain = mailbox_.localDomain();
        maxHops = maxHops_;
    }

    /// @notice Starts a rally: dispatches hop 1 (a ping) to the PingPong `peer` on
    ///         `destination`. Anyone may call it (the caller pays the dispatch; delivery
    ///         is the relayer's). The peer must be in this contract's allow-lists, so
    ///         that its pong will be accepted.
    /// @param destination Domain of the peer's chain.
    /// @param peer The peer PingPong, left-padded to 32 bytes (as `Mailbox.dispatch` takes it).
    /// @return rally The new rally's id (in every event of the rally, on both chains).
    /// @return messageId The id of the dispatched message (as in the Inbox's events).
    function ping(uint32 destination, bytes32 peer) external returns (bytes32 rally, bytes32 messageId) {
        if (!accepts(destination, peer)) revert PeerNotAllowed(destination, peer);
        rally = keccak256(abi.encode(localDomain, address(this), ralliesStarted++));
        messageId = _send(destination, peer, rally, 1);
    }

    /// @dev Records the received hop and answers with the next one while under the limit.
    function _receive(uint32 origin, bytes32 sender, bytes calldata body) internal override {
        (bytes32 rally, uint32 hop) = abi.decode(body, (bytes32, uint32));
        if (hop == 0) revert InvalidHop(hop);
        if (hop % 2 == 1) {
            ++pingsReceived;
            emit PingReceived(rally, origin, sender, hop);
        } else {
            ++pongsReceived;
            emit PongReceived(rally, origin, sender, hop);
        }
        if (hop < maxHops) {
            _send(origin, sender, rally, hop + 1);
        } else {
            emit RallyEnded(rally, hop);
        }
    }

    function _send(uint32 destination, bytes32 peer, bytes32 rally, uint32 hop) private returns (bytes32 messageId) {
        messageId = mailbox.dispatch(destination, peer, abi.encode(rally, hop));
        if (hop % 2 == 1) {
            ++pingsSent;
            emit PingSent(rally, destination, peer, hop, messageId);
        } else {
            ++pongsSent;
            emit PongSent(rally, destination, peer, hop, messageId);
        }
    }
}
