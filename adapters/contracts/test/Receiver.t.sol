// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {InboxFixture} from "./InboxFixture.sol";
import {Inbox} from "../src/Inbox.sol";
import {Receiver} from "../src/Receiver.sol";

/// @notice A Receiver application recording what its hook gets.
contract RecordingReceiver is Receiver {
    uint256 public calls;
    uint32 public lastOrigin;
    bytes32 public lastSender;
    bytes public lastBody;

    event Hooked(uint32 origin, bytes32 sender, bytes body);

    constructor(address inbox_) Receiver(inbox_) {}

    function _receive(uint32 origin, bytes32 sender, bytes calldata body) internal override {
        ++calls;
        lastOrigin = origin;
        lastSender = sender;
        lastBody = body;
        emit Hooked(origin, sender, body);
    }
}

/// @notice A Receiver application whose hook does nothing: measures the checks alone.
contract EmptyReceiver is Receiver {
    constructor(address inbox_) Receiver(inbox_) {}

    function _receive(uint32, bytes32, bytes calldata) internal override {}
}

contract ReceiverTest is InboxFixture {
    Inbox internal inbox;
    RecordingReceiver internal app;

    address internal constant STRANGER = address(0x5757);
    uint32 internal constant OTHER_ORIGIN = 3000;

    function setUp() public {
        inbox = deployInbox(3, 2);
        app = new RecordingReceiver(address(inbox));
    }

    function allowDefault() internal {
        app.setOrigin(ORIGIN, true);
        app.setSender(ORIGIN, SENDER, true);
    }

    /// @dev Calls app.handle as the Inbox would (same caller, no Inbox logic).
    function handleAsInbox(uint32 origin, bytes32 sender, bytes memory body) internal {
        vm.prank(address(inbox));
        app.handle(origin, sender, body);
    }

    // ---- construction ----

    function testConstructorState() public view {
        assertEq(app.inbox(), address(inbox), "inbox");
        assertEq(app.owner(), address(this), "owner");
        assertTrue(!app.isOriginAllowed(ORIGIN), "no origin listed");
        assertTrue(!app.isSenderAllowed(ORIGIN, SENDER), "no sender listed");
        assertTrue(!app.accepts(ORIGIN, SENDER), "accepts nothing");
    }

    function testConstructorEmits() public {
        vm.expectEmit();
        emit Receiver.OwnershipTransferred(address(0), address(this));
        vm.expectEmit();
        emit Receiver.InboxSet(address(0), address(inbox));
        new RecordingReceiver(address(inbox));
    }

    function testConstructorRefusesZeroInbox() public {
        vm.expectRevert(abi.encodeWithSelector(Receiver.ZeroAddress.selector));
        new RecordingReceiver(address(0));
    }

    // ---- handle: caller, origin, sender ----

    function testHandleRefusesNonInboxCaller() public {
        allowDefault();
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(Receiver.NotInbox.selector, STRANGER, address(inbox)));
        app.handle(ORIGIN, SENDER, "x");
        // Not even the owner may call it.
        vm.expectRevert(abi.encodeWithSelector(Receiver.NotInbox.selector, address(this), address(inbox)));
        app.handle(ORIGIN, SENDER, "x");
        assertEq(app.calls(), 0, "hook not called");
    }

    function testHandleRefusesUnknownOrigin() public {
        vm.prank(address(inbox));
        vm.expectRevert(abi.encodeWithSelector(Receiver.OriginNotAllowed.selector, ORIGIN));
        app.handle(ORIGIN, SENDER, "x");
        // A listed sender does not help while its origin is not listed.
        app.setSender(ORIGIN, SENDER, true);
        vm.prank(address(inbox));
        vm.expectRevert(abi.encodeWithSelector(Receiver.OriginNotAllowed.selector, ORIGIN));
        app.handle(ORIGIN, SENDER, "x");
        assertEq(app.calls(), 0, "hook not called");
    }

    function testHandleRefusesUnknownSender() public {
        app.setOrigin(ORIGIN, true);
        vm.prank(address(inbox));
        vm.expectRevert(abi.encodeWithSelector(Receiver.SenderNotAllowed.selector, ORIGIN, SENDER));
        app.handle(ORIGIN, SENDER, "x");
        assertEq(app.calls(), 0, "hook not called");
    }

    function testSenderListIsPerOrigin() public {
        allowDefault();
        app.setOrigin(OTHER_ORIGIN, true);
        // Same sender bytes, other chain: a different account, not listed.
        vm.prank(address(inbox));
        vm.expectRevert(abi.encodeWithSelector(Receiver.SenderNotAllowed.selector, OTHER_ORIGIN, SENDER));
        app.handle(OTHER_ORIGIN, SENDER, "x");
        assertTrue(app.accepts(ORIGIN, SENDER), "listed pair");
        assertTrue(!app.accepts(OTHER_ORIGIN, SENDER), "other origin");
    }

    function testSenderIsTheFull32Bytes() public {
        allowDefault();
        // Same low 20 bytes, non-zero high bytes: another sender (e.g. a non-EVM account).
        bytes32 padded = bytes32(uint256(SENDER) | (uint256(1) << 200));
        vm.prank(address(inbox));
        vm.expectRevert(abi.encodeWithSelector(Receiver.SenderNotAllowed.selector, ORIGIN, padded));
        app.handle(ORIGIN, padded, "x");
    }

    function testHandlePassesMessageToHook() public {
        allowDefault();
        vm.expectEmit(true, true, true, true, address(app));
        emit RecordingReceiver.Hooked(ORIGIN, SENDER, "hello");
        handleAsInbox(ORIGIN, SENDER, "hello");
        assertEq(app.calls(), 1, "calls");
        assertEq(uint256(app.lastOrigin()), ORIGIN, "origin");
        assertEq(app.lastSender(), SENDER, "sender");
        assertEq(app.lastBody(), "hello", "body");
    }

    function testDelistingRefusesAgain() public {
        allowDefault();
        handleAsInbox(ORIGIN, SENDER, "1");
        app.setSender(ORIGIN, SENDER, false);
        vm.prank(address(inbox));
        vm.expectRevert(abi.encodeWithSelector(Receiver.SenderNotAllowed.selector, ORIGIN, SENDER));
        app.handle(ORIGIN, SENDER, "2");
        app.setSender(ORIGIN, SENDER, true);
        app.setOrigin(ORIGIN, false); // the per-chain switch refuses all its senders
        vm.prank(address(inbox));
        vm.expectRevert(abi.encodeWithSelector(Receiver.OriginNotAllowed.selector, ORIGIN));
        app.handle(ORIGIN, SENDER, "3");
        assertEq(app.calls(), 1, "only the first");
    }

    /// @dev The NatSpec's figure: the checks cost about 7,000 gas of the handle stipend.
    function testChecksGas() public {
        EmptyReceiver empty = new EmptyReceiver(address(inbox));
        empty.setOrigin(ORIGIN, true);
        empty.setSender(ORIGIN, SENDER, true);
        vm.cool(address(empty)); // as in a real delivery: first access in the transaction
        vm.prank(address(inbox));
        uint256 before = gasleft();
        empty.handle(ORIGIN, SENDER, "hello");
        uint256 used = before - gasleft();
        emit log_named_uint("gas of handle with an empty hook (call included)", used);
        assertTrue(used < 10_000, "checks fit in a few thousand gas");
    }

    // ---- administration ----

    function testAdminIsOwnerOnly() public {
        bytes memory notOwner = abi.encodeWithSelector(Receiver.NotOwner.selector, STRANGER, address(this));
        vm.startPrank(STRANGER);
        vm.expectRevert(notOwner);
        app.setInbox(STRANGER);
        vm.expectRevert(notOwner);
        app.setOrigin(ORIGIN, true);
        vm.expectRevert(notOwner);
        app.setSender(ORIGIN, SENDER, true);
        vm.expectRevert(notOwner);
        app.transferOwnership(STRANGER);
        vm.stopPrank();
        assertEq(app.inbox(), address(inbox), "inbox unchanged");
        assertEq(app.owner(), address(this), "owner unchanged");
        assertTrue(!app.isOriginAllowed(ORIGIN) && !app.isSenderAllowed(ORIGIN, SENDER), "lists unchanged");
    }

    function testAdminEvents() public {
        vm.expectEmit(true, true, true, true, address(app));
        emit Receiver.OriginSet(ORIGIN, true);
        app.setOrigin(ORIGIN, true);
        vm.expectEmit(true, true, true, true, address(app));
        emit Receiver.SenderSet(ORIGIN, SENDER, true);
        app.setSender(ORIGIN, SENDER, true);
        vm.expectEmit(true, true, true, true, address(app));
        emit Receiver.SenderSet(ORIGIN, SENDER, false);
        app.setSender(ORIGIN, SENDER, false);
        vm.expectEmit(true, true, true, true, address(app));
        emit Receiver.OriginSet(ORIGIN, false);
        app.setOrigin(ORIGIN, false);
        vm.expectEmit(true, true, true, true, address(app));
        emit Receiver.InboxSet(address(inbox), STRANGER);
        app.setInbox(STRANGER);
        vm.expectEmit(true, true, true, true, address(app));
        emit Receiver.OwnershipTransferred(address(this), STRANGER);
        app.transferOwnership(STRANGER);
    }

    function testSetInboxMovesTheAllowedCaller() public {
        allowDefault();
        Inbox next = new Inbox(LOCAL, addrs(keys), 2, HANDLE_GAS);
        app.setInbox(address(next));
        assertEq(app.inbox(), address(next), "inbox");
        vm.prank(address(inbox));
        vm.expectRevert(abi.encodeWithSelector(Receiver.NotInbox.selector, address(inbox), address(next)));
        app.handle(ORIGIN, SENDER, "old");
        vm.prank(address(next));
        app.handle(ORIGIN, SENDER, "new");
        assertEq(app.calls(), 1, "calls");
        vm.expectRevert(abi.encodeWithSelector(Receiver.ZeroAddress.selector));
        app.setInbox(address(0));
    }

    function testTransferOwnership() public {
        app.transferOwnership(STRANGER);
        assertEq(app.owner(), STRANGER, "owner");
        vm.expectRevert(abi.encodeWithSelector(Receiver.NotOwner.selector, address(this), STRANGER));
        app.setOrigin(ORIGIN, true);
        vm.prank(STRANGER);
        app.setOrigin(ORIGIN, true);
        assertTrue(app.isOriginAllowed(ORIGIN), "new owner manages the list");
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(Receiver.ZeroAddress.selector));
        app.transferOwnership(address(0));
    }

    // ---- through a real Inbox ----

    function testInboxDeliversAllowedMessage() public {
        allowDefault();
        bytes memory m = freshMessage(address(app), "hello");
        bytes[] memory msgs = one(m);
        vm.expectEmit(true, true, true, true, address(app));
        emit RecordingReceiver.Hooked(ORIGIN, SENDER, "hello");
        vm.expectEmit(true, true, true, true, address(inbox));
        emit Inbox.MessageDelivered(keccak256(m), ORIGIN, 0);
        inbox.deliver(msgs, signFirst(inbox, msgs, 2));
        assertEq(app.calls(), 1, "calls");
    }

    /// @dev A refusal is an isolated failure in the Inbox (reason = the Receiver's error),
    ///      and anyone's retry delivers the message once the owner lists the sender.
    function testInboxRecordsRefusalAndRetryDeliversOnceListed() public {
        app.setOrigin(ORIGIN, true);
        bytes memory refused = freshMessage(address(app), "early");
        bytes memory other = freshMessage(address(0xCAFE), "no code");
        bytes[] memory msgs = new bytes[](2);
        msgs[0] = refused;
        msgs[1] = other;
        bytes32 id = keccak256(refused);
        vm.expectEmit(true, true, true, true, address(inbox));
        emit Inbox.MessageFailed(
            id, ORIGIN, 0, abi.encodeWithSelector(Receiver.SenderNotAllowed.selector, ORIGIN, SENDER)
        );
        inbox.deliver(msgs, signFirst(inbox, msgs, 2));
        assertTrue(inbox.failed(id), "recorded as failed");
        assertTrue(inbox.isProcessed(ORIGIN, 1), "rest of the batch processed");

        // Still not listed: the retry fails again, the record stays.
        vm.prank(STRANGER);
        inbox.retry(refused);
        assertTrue(inbox.failed(id), "still failed");

        app.setSender(ORIGIN, SENDER, true);
        vm.expectEmit(true, true, true, true, address(app));
        emit RecordingReceiver.Hooked(ORIGIN, SENDER, "early");
        vm.expectEmit(true, true, true, true, address(inbox));
        emit Inbox.MessageDelivered(id, ORIGIN, 0);
        vm.prank(STRANGER);
        inbox.retry(refused);
        assertTrue(!inbox.failed(id), "cleared");
        assertEq(app.calls(), 1, "delivered once");

        // Delivered: a replay of the batch is skipped.
        inbox.deliver(msgs, signFirst(inbox, msgs, 2));
        assertEq(app.calls(), 1, "no replay");
    }

    function testInboxRecordsUnknownOrigin() public {
        bytes memory m = freshMessage(address(app), "x");
        bytes[] memory msgs = one(m);
        vm.expectEmit(true, true, true, true, address(inbox));
        emit Inbox.MessageFailed(
            keccak256(m), ORIGIN, 0, abi.encodeWithSelector(Receiver.OriginNotAllowed.selector, ORIGIN)
        );
        inbox.deliver(msgs, signFirst(inbox, msgs, 2));
        assertTrue(inbox.failed(keccak256(m)), "recorded as failed");
    }

    /// @dev After setInbox, a failure recorded by the old Inbox can only be retried
    ///      there, and is refused (as documented on setInbox).
    function testRetryAtOldInboxRefusedAfterSetInbox() public {
        bytes memory m = freshMessage(address(app), "x");
        bytes[] memory msgs = one(m);
        inbox.deliver(msgs, signFirst(inbox, msgs, 2)); // fails: nothing listed
        allowDefault();
        app.setInbox(STRANGER);
        vm.expectEmit(true, true, true, true, address(inbox));
        emit Inbox.MessageFailed(
            keccak256(m), ORIGIN, 0, abi.encodeWithSelector(Receiver.NotInbox.selector, address(inbox), STRANGER)
        );
        inbox.retry(m);
        assertEq(app.calls(), 0, "not delivered");
    }

    /// @dev Sanity check of the reason size claim: every Receiver error fits in the
    ///      Inbox's 256-byte reason unchanged.
    function testErrorsFitInFailureReason() public view {
        assertTrue(
            abi.encodeWithSelector(Receiver.NotInbox.selector, address(this), address(inbox)).length
                <= inbox.MAX_REASON_LENGTH(),
            "NotInbox"
        );
        assertEq(
            abi.encodeWithSelector(Receiver.SenderNotAllowed.selector, ORIGIN, SENDER).length, 68, "SenderNotAllowed"
        );
    }
}
