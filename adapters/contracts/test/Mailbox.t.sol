// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {TestBase, Vm} from "./Vm.sol";
import {Mailbox} from "../src/Mailbox.sol";
import {Message} from "../src/Message.sol";

/// @notice Exposes the calldata readers of the Message library.
contract MessageHarness {
    function header(bytes calldata m)
        external
        pure
        returns (uint8 version, uint32 nonce, uint32 origin, bytes32 sender, uint32 destination, bytes32 recipient)
    {
        return (
            Message.version(m),
            Message.nonce(m),
            Message.origin(m),
            Message.sender(m),
            Message.destination(m),
            Message.recipient(m)
        );
    }

    function rest(bytes calldata m) external pure returns (address recipientAddress, bytes memory body, bytes32 id) {
        return (Message.recipientAddress(m), Message.body(m), Message.id(m));
    }

    function format(
        uint8 version,
        uint32 nonce,
        uint32 origin,
        bytes32 sender,
        uint32 destination,
        bytes32 recipient,
        bytes calldata body
    ) external pure returns (bytes memory) {
        return Message.format(version, nonce, origin, sender, destination, recipient, body);
    }
}

contract MessageTest is TestBase {
    MessageHarness internal h = new MessageHarness();

    function testLayoutIsHyperlaneV3() public view {
        bytes32 sender = bytes32(uint256(0x1111));
        bytes32 recipient = 0xffffffffffffffffffffffff2222222222222222222222222222222222222222;
        bytes memory m = h.format(3, 0x01020304, 0x0a0b0c0d, sender, 0x11121314, recipient, hex"c0ffee");
        // Hand-written expected encoding, field by field.
        bytes memory expected =
            bytes.concat(hex"03", hex"01020304", hex"0a0b0c0d", sender, hex"11121314", recipient, hex"c0ffee");
        assertEq(m, expected, "encoding");
        assertEq(m.length, 77 + 3, "length");

        (uint8 version, uint32 nonce, uint32 origin, bytes32 s, uint32 destination, bytes32 r) = h.header(m);
        (address ra, bytes memory body, bytes32 id) = h.rest(m);
        assertEq(version, 3, "version");
        assertEq(nonce, 0x01020304, "nonce");
        assertEq(origin, 0x0a0b0c0d, "origin");
        assertEq(s, sender, "sender");
        assertEq(destination, 0x11121314, "destination");
        assertEq(r, recipient, "recipient");
        assertEq(ra, address(0x2222222222222222222222222222222222222222), "recipient address");
        assertEq(body, hex"c0ffee", "body");
        assertEq(id, keccak256(expected), "id");
    }

    function testEmptyBody() public view {
        bytes memory m = h.format(3, 1, 2, bytes32(0), 3, bytes32(0), "");
        assertEq(m.length, 77, "header only");
        (, bytes memory body,) = h.rest(m);
        assertEq(body.length, 0, "empty body");
    }
}

contract MailboxTest is TestBase {
    uint32 internal constant LOCAL = 1000;
    uint32 internal constant DEST = 2000;
    bytes32 internal constant RECIPIENT = bytes32(uint256(0xabcdef));

    Mailbox internal mailbox;

    event Dispatch(address indexed sender, uint32 indexed destination, bytes32 indexed recipient, bytes message);

    function setUp() public {
        mailbox = new Mailbox(LOCAL);
    }

    function expected(uint32 nonce, address sender, uint32 destination, bytes memory body)
        internal
        pure
        returns (bytes memory)
    {
        return Message.formatMemory(3, nonce, LOCAL, bytes32(uint256(uint160(sender))), destination, RECIPIENT, body);
    }

    function testInitialState() public view {
        assertEq(mailbox.localDomain(), LOCAL, "domain");
        assertEq(mailbox.nonce(), 0, "nonce starts at 0");
        assertEq(mailbox.VERSION(), 3, "version");
    }

    function testDispatchEmitsEncodedMessageAndIncrementsNonce() public {
        bytes memory m0 = expected(0, address(this), DEST, "hello");
        vm.expectEmit(address(mailbox));
        emit Dispatch(address(this), DEST, RECIPIENT, m0);
        bytes32 id0 = mailbox.dispatch(DEST, RECIPIENT, "hello");
        assertEq(id0, keccak256(m0), "id = keccak256(message)");
        assertEq(mailbox.nonce(), 1, "nonce 1");

        address other = address(0x5EED);
        bytes memory m1 = expected(1, other, DEST, "");
        vm.expectEmit(address(mailbox));
        emit Dispatch(other, DEST, RECIPIENT, m1);
        vm.prank(other);
        bytes32 id1 = mailbox.dispatch(DEST, RECIPIENT, "");
        assertEq(id1, keccak256(m1), "id 1");
        assertEq(mailbox.nonce(), 2, "nonce 2 (shared by all senders)");
    }

    function testDispatchPayloadFromRecordedLog() public {
        bytes memory body = new bytes(1000);
        body[999] = 0x42;
        vm.recordLogs();
        mailbox.dispatch(DEST, RECIPIENT, body);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(logs.length, 1, "one event");
        assertEq(logs[0].topics[0], Dispatch.selector, "topic0");
        assertEq(logs[0].topics[1], bytes32(uint256(uint160(address(this)))), "sender topic");
        assertEq(logs[0].topics[2], bytes32(uint256(DEST)), "destination topic");
        assertEq(logs[0].topics[3], RECIPIENT, "recipient topic");
        assertEq(abi.decode(logs[0].data, (bytes)), expected(0, address(this), DEST, body), "payload");
    }

    function testLoopbackAllowed() public {
        bytes memory m = expected(0, address(this), LOCAL, "self");
        vm.expectEmit(address(mailbox));
        emit Dispatch(address(this), LOCAL, RECIPIENT, m);
        mailbox.dispatch(LOCAL, RECIPIENT, "self");
    }

    function testDispatchMany() public {
        mailbox.dispatch(DEST, RECIPIENT, "before");
        bytes[] memory bodies = new bytes[](3);
        bodies[0] = "a";
        bodies[1] = "";
        bodies[2] = new bytes(200);
        for (uint32 i; i < 3; ++i) {
            vm.expectEmit(address(mailbox));
            emit Dispatch(address(this), DEST, RECIPIENT, expected(1 + i, address(this), DEST, bodies[i]));
        }
        uint32 first = mailbox.dispatchMany(DEST, RECIPIENT, bodies);
        assertEq(first, 1, "first nonce");
        assertEq(mailbox.nonce(), 4, "nonce after batch");

        // empty batch: nothing emitted, nonce unchanged
        vm.recordLogs();
        assertEq(mailbox.dispatchMany(DEST, RECIPIENT, new bytes[](0)), 4, "empty returns current nonce");
        assertEq(vm.getRecordedLogs().length, 0, "no event");
        assertEq(mailbox.nonce(), 4, "unchanged");
    }

    function testDispatchManyLargeBatch() public {
        bytes[] memory bodies = new bytes[](500);
        for (uint256 i; i < 500; ++i) {
            bodies[i] = abi.encode(i);
        }
        uint256 g = gasleft();
        mailbox.dispatchMany(DEST, RECIPIENT, bodies);
        uint256 used = g - gasleft();
        assertEq(mailbox.nonce(), 500, "nonce");
        emit log_named_uint("dispatchMany gas per message (500 x 32-byte bodies)", used / 500);
        assertTrue(used / 500 < 6_000, "per-message cost");
    }
}
