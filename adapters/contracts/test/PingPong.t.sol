// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Vm} from "./Vm.sol";
import {InboxFixture} from "./InboxFixture.sol";
import {Inbox} from "../src/Inbox.sol";
import {Mailbox} from "../src/Mailbox.sol";
import {Message} from "../src/Message.sol";
import {Receiver} from "../src/Receiver.sol";
import {PingPong} from "../src/examples/PingPong.sol";

/// @notice PingPong end to end on two "chains" inside one forge test: chain A (domain
///         1000) and chain B (domain 2000) each have a real Mailbox, a real Inbox (2 of 3
///         attesters) and a PingPong. The test plays the hub: it reads the Mailboxes'
///         Dispatch logs, signs the batch for the destination Inbox with the attester
///         keys, and calls `Inbox.deliver` there.
contract PingPongTest is InboxFixture {
    uint32 internal constant A = 1000;
    uint32 internal constant B = 2000;
    uint32 internal constant C = 3000;
    address internal constant STRANGER = address(0x5757);
    bytes32 internal constant DISPATCH_TOPIC = keccak256("Dispatch(address,uint32,bytes32,bytes)");
    bytes32 internal constant RALLY_ENDED_TOPIC = keccak256("RallyEnded(bytes32,uint32)");

    Mailbox internal mailboxA;
    Mailbox internal mailboxB;
    Inbox internal inboxA;
    Inbox internal inboxB;
    PingPong internal a;
    PingPong internal b;

    /// @dev The last RallyEnded event seen by {collect}.
    address internal endedBy;
    bytes32 internal endedRally;
    uint32 internal endedHops;

    function setUp() public {
        keys = makeKeys(3, 1);
        mailboxA = new Mailbox(A);
        mailboxB = new Mailbox(B);
        inboxA = new Inbox(A, addrs(keys), 2, HANDLE_GAS);
        inboxB = new Inbox(B, addrs(keys), 2, HANDLE_GAS);
        a = new PingPong(mailboxA, address(inboxA), 2);
        b = new PingPong(mailboxB, address(inboxB), 2);
        link(a, B, address(b));
        link(b, A, address(a));
        vm.recordLogs();
    }

    // ---- helpers: the hub in miniature ----

    function b32(address x) internal pure returns (bytes32) {
        return Message.addressToBytes32(x);
    }

    /// @dev `app` accepts messages from `peer` on `domain` (both lists).
    function link(PingPong app, uint32 domain, address peer) internal {
        app.setOrigin(domain, true);
        app.setSender(domain, b32(peer), true);
    }

    /// @dev The messages the two Mailboxes dispatched since the last call, by destination.
    function collect() internal returns (bytes[] memory toA, bytes[] memory toB) {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256 nA;
        uint256 nB;
        toA = new bytes[](logs.length);
        toB = new bytes[](logs.length);
        for (uint256 i; i < logs.length; ++i) {
            Vm.Log memory l = logs[i];
            if (l.topics.length == 2 && l.topics[0] == RALLY_ENDED_TOPIC) {
                (endedBy, endedRally, endedHops) = (l.emitter, l.topics[1], abi.decode(l.data, (uint32)));
            }
            if (l.topics.length == 0 || l.topics[0] != DISPATCH_TOPIC) continue;
            if (l.emitter != address(mailboxA) && l.emitter != address(mailboxB)) continue;
            bytes memory m = abi.decode(l.data, (bytes));
            uint32 destination = uint32(uint256(l.topics[2]));
            if (destination == A) toA[nA++] = m;
            else if (destination == B) toB[nB++] = m;
        }
        assembly ("memory-safe") {
            mstore(toA, nA)
            mstore(toB, nB)
        }
    }

    /// @dev Delivers `msgs` as one batch to `inbox`, attested by 2 of its 3 attesters.
    function deliver(Inbox inbox, bytes[] memory msgs) internal {
        if (msgs.length == 0) return;
        inbox.deliver(msgs, signFirst(inbox, msgs, 2));
    }

    /// @dev Relays until no message is in flight; returns the number of messages delivered.
    function pump() internal returns (uint256 delivered) {
        while (true) {
            (bytes[] memory toA, bytes[] memory toB) = collect();
            if (toA.length + toB.length == 0) return delivered;
            deliver(inboxA, toA);
            deliver(inboxB, toB);
            delivered += toA.length + toB.length;
        }
    }

    function assertEnded(PingPong by, bytes32 rally, uint32 hops) internal view {
        assertEq(endedBy, address(by), "RallyEnded emitter");
        assertEq(endedRally, rally, "RallyEnded rally");
        assertEq(uint256(endedHops), hops, "RallyEnded hops");
    }

    function rallyId(PingPong app, uint32 domain, uint256 n) internal pure returns (bytes32) {
        return keccak256(abi.encode(domain, address(app), n));
    }

    // ---- configuration ----

    function testConfiguration() public view {
        assertEq(address(a.mailbox()), address(mailboxA), "mailbox");
        assertEq(a.inbox(), address(inboxA), "inbox");
        assertEq(uint256(a.localDomain()), A, "local domain from the Mailbox");
        assertEq(uint256(a.maxHops()), 2, "max hops");
        assertTrue(a.accepts(B, b32(address(b))), "a accepts b");
        assertTrue(b.accepts(A, b32(address(a))), "b accepts a");
    }

    function testConstructorRefusesZeroHopsAndZeroMailbox() public {
        vm.expectRevert(abi.encodeWithSelector(PingPong.InvalidMaxHops.selector, uint32(0)));
        new PingPong(mailboxA, address(inboxA), 0);
        vm.expectRevert(abi.encodeWithSelector(Receiver.ZeroAddress.selector));
        new PingPong(Mailbox(address(0)), address(inboxA), 2);
    }

    // ---- the round trip ----

    function testRoundTrip() public {
        bytes32 rally = rallyId(a, A, 0);
        bytes memory pingMsg =
            Message.formatMemory(3, 0, A, b32(address(a)), B, b32(address(b)), abi.encode(rally, uint32(1)));
        bytes memory pongMsg =
            Message.formatMemory(3, 0, B, b32(address(b)), A, b32(address(a)), abi.encode(rally, uint32(2)));

        // Chain A: ping dispatched through Mailbox A.
        vm.expectEmit(true, true, true, true, address(mailboxA));
        emit Mailbox.Dispatch(address(a), B, b32(address(b)), pingMsg);
        vm.expectEmit(true, true, true, true, address(a));
        emit PingPong.PingSent(rally, B, b32(address(b)), 1, keccak256(pingMsg));
        vm.prank(STRANGER); // anyone may start a rally
        (bytes32 gotRally, bytes32 pingId) = a.ping(B, b32(address(b)));
        assertEq(gotRally, rally, "rally id");
        assertEq(pingId, keccak256(pingMsg), "ping id");
        assertEq(a.pingsSent(), 1, "a pings sent");
        assertEq(a.ralliesStarted(), 1, "a rallies");

        (bytes[] memory toA, bytes[] memory toB) = collect();
        assertEq(toA.length, 0, "nothing to A yet");
        assertEq(toB.length, 1, "one ping to B");
        assertEq(toB[0], pingMsg, "ping as dispatched");

        // Chain B: Inbox B delivers the attested ping; b answers through Mailbox B.
        vm.expectEmit(true, true, true, true, address(b));
        emit PingPong.PingReceived(rally, A, b32(address(a)), 1);
        vm.expectEmit(true, true, true, true, address(mailboxB));
        emit Mailbox.Dispatch(address(b), A, b32(address(a)), pongMsg);
        vm.expectEmit(true, true, true, true, address(b));
        emit PingPong.PongSent(rally, A, b32(address(a)), 2, keccak256(pongMsg));
        vm.expectEmit(true, true, true, true, address(inboxB));
        emit Inbox.MessageDelivered(pingId, A, 0);
        deliver(inboxB, toB);
        assertEq(b.pingsReceived(), 1, "b pings received");
        assertEq(b.pongsSent(), 1, "b pongs sent");
        assertTrue(inboxB.isProcessed(A, 0) && !inboxB.failed(pingId), "ping delivered");

        (toA, toB) = collect();
        assertEq(toA.length, 1, "one pong to A");
        assertEq(toB.length, 0, "nothing more to B");
        assertEq(toA[0], pongMsg, "pong as dispatched");

        // Chain A: Inbox A delivers the pong; hop 2 = a's limit, the rally ends.
        vm.expectEmit(true, true, true, true, address(a));
        emit PingPong.PongReceived(rally, B, b32(address(b)), 2);
        vm.expectEmit(true, true, true, true, address(a));
        emit PingPong.RallyEnded(rally, 2);
        vm.expectEmit(true, true, true, true, address(inboxA));
        emit Inbox.MessageDelivered(keccak256(pongMsg), B, 0);
        deliver(inboxA, toA);
        assertEq(a.pongsReceived(), 1, "a pongs received");

        assertEq(pump(), 0, "nothing in flight");
        assertEq(a.pingsReceived() + a.pongsSent(), 0, "a sent no pong");
        assertEq(b.pingsSent() + b.pongsReceived(), 0, "b sent no ping");

        // A second rally gets a new id and the next nonces.
        (bytes32 second,) = a.ping(B, b32(address(b)));
        assertEq(second, rallyId(a, A, 1), "second rally id");
        assertEq(pump(), 2, "ping and pong");
        assertEq(a.pongsReceived(), 2, "a pongs received");
        assertTrue(inboxA.isProcessed(B, 1), "second pong delivered");
    }

    /// @dev Longer rallies stop at the smaller of the two sides' limits.
    function testHopLimitIsEachSidesOwn() public {
        PingPong a10 = new PingPong(mailboxA, address(inboxA), 10);
        PingPong b3 = new PingPong(mailboxB, address(inboxB), 3);
        link(a10, B, address(b3));
        link(b3, A, address(a10));
        (bytes32 rally,) = a10.ping(B, b32(address(b3)));
        assertEq(pump(), 3, "hops 1..3");
        assertEnded(b3, rally, 3);
        assertEq(a10.pingsSent(), 2, "a10 sent hops 1 and 3");
        assertEq(a10.pongsReceived(), 1, "a10 got hop 2");
        assertEq(b3.pingsReceived(), 2, "b3 got hops 1 and 3");
        assertEq(b3.pongsSent(), 1, "b3 sent hop 2");

        // The other way round: b3 sends hops 1 and 3, a10 answers hop 3 with hop 4,
        // which b3 does not answer: at most min(limits) + 1 messages.
        (rally,) = b3.ping(A, b32(address(a10)));
        assertEq(pump(), 4, "hops 1..4");
        assertEnded(b3, rally, 4);
        assertEq(b3.pingsSent(), 2, "b3 sent hops 1 and 3");
        assertEq(a10.pongsSent(), 2, "a10 sent hops 2 and 4");

        // With limit 5 on both sides: 5 messages, the initiator receives the last one.
        PingPong a5 = new PingPong(mailboxA, address(inboxA), 5);
        PingPong b5 = new PingPong(mailboxB, address(inboxB), 5);
        link(a5, B, address(b5));
        link(b5, A, address(a5));
        (rally,) = a5.ping(B, b32(address(b5)));
        assertEq(pump(), 5, "hops 1..5");
        assertEnded(b5, rally, 5);
        assertEq(b5.pingsReceived(), 3, "b5 got 1, 3, 5");
        assertEq(a5.pongsReceived(), 2, "a5 got 2, 4");
    }

    // ---- failure paths ----

    function testPingRefusesUnlistedPeer() public {
        bytes32 unknown = b32(address(0xB0B));
        vm.expectRevert(abi.encodeWithSelector(PingPong.PeerNotAllowed.selector, B, unknown));
        a.ping(B, unknown);
        vm.expectRevert(abi.encodeWithSelector(PingPong.PeerNotAllowed.selector, C, b32(address(b))));
        a.ping(C, b32(address(b)));
        assertEq(mailboxA.nonce(), 0, "nothing dispatched");
    }

    /// @dev The pong comes back from a sender a no longer lists: Inbox A records it as
    ///      failed with the Receiver's reason; once relisted, anyone's retry delivers it.
    function testReplyFromUnlistedSenderIsRecordedAsFailedThenRetried() public {
        (bytes32 rally,) = a.ping(B, b32(address(b)));
        (, bytes[] memory toB) = collect();
        deliver(inboxB, toB);
        a.setSender(B, b32(address(b)), false); // delisted while the pong is in flight

        (bytes[] memory toA,) = collect();
        bytes memory pong = toA[0];
        bytes32 pongId = keccak256(pong);
        vm.expectEmit(true, true, true, true, address(inboxA));
        emit Inbox.MessageFailed(
            pongId, B, 0, abi.encodeWithSelector(Receiver.SenderNotAllowed.selector, B, b32(address(b)))
        );
        deliver(inboxA, toA);
        assertTrue(inboxA.failed(pongId), "recorded as failed");
        assertTrue(inboxA.isProcessed(B, 0), "processed");
        assertEq(a.pongsReceived(), 0, "not received");

        // Re-delivering the batch is a no-op (replay protection), not a second failure.
        deliver(inboxA, toA);
        assertEq(pump(), 0, "nothing in flight");

        a.setSender(B, b32(address(b)), true);
        vm.expectEmit(true, true, true, true, address(a));
        emit PingPong.PongReceived(rally, B, b32(address(b)), 2);
        vm.expectEmit(true, true, true, true, address(inboxA));
        emit Inbox.MessageDelivered(pongId, B, 0);
        vm.prank(STRANGER);
        inboxA.retry(pong);
        assertEq(a.pongsReceived(), 1, "received after retry");
        assertTrue(!inboxA.failed(pongId), "failure cleared");
    }

    /// @dev A contract (or account) a does not list dispatches a fake pong to it.
    function testImpostorOnListedOriginIsRefused() public {
        address impostor = address(0x1A1A);
        vm.prank(impostor);
        mailboxB.dispatch(A, b32(address(a)), abi.encode(bytes32(0), uint32(2)));
        (bytes[] memory toA,) = collect();
        vm.expectEmit(true, true, true, true, address(inboxA));
        emit Inbox.MessageFailed(
            keccak256(toA[0]), B, 0, abi.encodeWithSelector(Receiver.SenderNotAllowed.selector, B, b32(impostor))
        );
        deliver(inboxA, toA);
        assertEq(a.pongsReceived(), 0, "refused");
        assertEq(pump(), 0, "no reply");
    }

    /// @dev A PingPong on a chain b does not list (domain C) pings b: refused by origin.
    function testPingFromUnlistedOriginIsRefused() public {
        Mailbox mailboxC = new Mailbox(C);
        PingPong c = new PingPong(mailboxC, address(new Inbox(C, addrs(keys), 2, HANDLE_GAS)), 2);
        link(c, B, address(b));
        c.ping(B, b32(address(b)));
        Vm.Log[] memory logs = vm.getRecordedLogs();
        bytes memory m;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter == address(mailboxC)) m = abi.decode(logs[i].data, (bytes));
        }
        vm.expectEmit(true, true, true, true, address(inboxB));
        emit Inbox.MessageFailed(keccak256(m), C, 0, abi.encodeWithSelector(Receiver.OriginNotAllowed.selector, C));
        deliver(inboxB, one(m));
        assertEq(b.pingsReceived(), 0, "refused");
        assertEq(b.pongsSent(), 0, "no reply");
    }

    /// @dev A listed sender whose body is not a valid hop fails in the Inbox, no reply.
    function testHopZeroIsRefused() public {
        address listed = address(0xA11CE);
        b.setSender(A, b32(listed), true);
        vm.prank(listed);
        mailboxA.dispatch(B, b32(address(b)), abi.encode(bytes32(uint256(7)), uint32(0)));
        (, bytes[] memory toB) = collect();
        vm.expectEmit(true, true, true, true, address(inboxB));
        emit Inbox.MessageFailed(
            keccak256(toB[0]), A, 0, abi.encodeWithSelector(PingPong.InvalidHop.selector, uint32(0))
        );
        deliver(inboxB, toB);
        assertEq(pump(), 0, "no reply");
    }

    function testHandleOnlyFromInbox() public {
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(Receiver.NotInbox.selector, STRANGER, address(inboxB)));
        b.handle(A, b32(address(a)), abi.encode(bytes32(0), uint32(1)));
        assertEq(b.pingsReceived(), 0, "refused");
    }

    /// @dev What a received ping costs b (checks, decode, counters, the pong's dispatch),
    ///      cold as in a real delivery, the first time (counters and Mailbox nonce go
    ///      from zero to non-zero) and afterwards: within the Inbox's handleGasLimit.
    function testReplyGas() public {
        uint256 first = measuredPing(1);
        uint256 later = measuredPing(2);
        emit log_named_uint("gas of handle for a ping answered by a pong, first message", first);
        emit log_named_uint("gas of handle for a ping answered by a pong, later messages", later);
        assertTrue(first < 100_000, "first fits");
        assertTrue(later < 45_000, "later fits");
        assertTrue(first < HANDLE_GAS, "under the test Inbox's handleGasLimit");
        assertEq(b.pongsSent(), 2, "answered");
    }

    function measuredPing(uint256 n) internal returns (uint256 used) {
        vm.cool(address(b));
        vm.cool(address(mailboxB));
        vm.prank(address(inboxB));
        uint256 before = gasleft();
        b.handle(A, b32(address(a)), abi.encode(bytes32(n), uint32(1)));
        used = before - gasleft();
    }
}
