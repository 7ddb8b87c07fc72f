// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Vm} from "./Vm.sol";
import {InboxFixture, NoopRecipient, NeedsFullStipend, ReturnBomb} from "./InboxFixture.sol";
import {Inbox} from "../src/Inbox.sol";
import {TestRecipient} from "../src/test/TestRecipient.sol";
import {Message} from "../src/Message.sol";

contract InboxDeliveryTest is InboxFixture {
    Inbox internal inbox;
    TestRecipient internal recipient;

    event Received(uint32 indexed origin, bytes32 indexed sender, bytes body);
    event MessageDelivered(bytes32 indexed id, uint32 indexed origin, uint32 nonce);
    event MessageFailed(bytes32 indexed id, uint32 indexed origin, uint32 nonce, bytes reason);

    function setUp() public {
        inbox = deployInbox(3, 2);
        recipient = new TestRecipient(address(inbox));
    }

    // ---- EIP-712 / root ----

    function testDomainSeparatorMatchesIndependentComputation() public view {
        assertEq(inbox.domainSeparator(), expectedDomainSeparator(block.chainid, address(inbox)), "domain separator");
    }

    function testBatchRootAndDigestMatchIndependentComputation() public view {
        bytes[] memory msgs = new bytes[](3);
        msgs[0] = message(0, LOCAL, address(recipient), "a");
        msgs[1] = message(1, LOCAL, address(recipient), "");
        msgs[2] = message(2, LOCAL, address(recipient), new bytes(300));
        bytes32 root = inbox.batchRoot(msgs);
        assertEq(root, expectedRoot(msgs), "root");
        assertEq(
            root,
            keccak256(abi.encodePacked(keccak256(msgs[0]), keccak256(msgs[1]), keccak256(msgs[2]))),
            "root literal"
        );
        assertEq(inbox.batchDigest(root), expectedDigest(msgs, block.chainid, address(inbox)), "digest");
        assertEq(inbox.BATCH_TYPEHASH(), keccak256("Batch(bytes32 root)"), "typehash");
    }

    /// @dev The test vector published in README.md (computed there with `cast`, independently).
    function testReadmeVector() public {
        address at = 0x5FbDB2315678afecb367f032d93F642f64180aa3;
        vm.etch(at, address(inbox).code); // immutables keep the old address: exercises the recompute path
        vm.chainId(31337);
        Inbox v = Inbox(at);
        bytes[] memory msgs = new bytes[](2);
        msgs[0] = Message.formatMemory(3, 0, 1000, bytes32(uint256(0xBEEF)), 2000, bytes32(uint256(0xCAFE)), "hello");
        msgs[1] = Message.formatMemory(3, 1, 1000, bytes32(uint256(0xBEEF)), 2000, bytes32(uint256(0xCAFE)), "");
        assertEq(keccak256(msgs[0]), 0xd2d62366325f161f7b57b396fcbd30401df826a3fbc985a83842318eec1accd6, "id0");
        assertEq(keccak256(msgs[1]), 0x34a42a3cc59e96edf2d18460ff02acec2fa38417fa1a79a9b095944e22428505, "id1");
        assertEq(v.domainSeparator(), 0x8121b366d7f8f422985da1a528925c022379bd42736b9e5698ce3aaf973c5fd1, "separator");
        bytes[] memory first = one(msgs[0]);
        assertEq(v.batchRoot(first), 0xa33e832bb7303a8dd9641677321cfa108bf63453ff6e8fca8a882c59dd1ff465, "root 1");
        assertEq(
            v.batchDigest(v.batchRoot(first)),
            0xac7928a7a7d1afb8b841e0fa22d7ee02940298b0aaf6c38080dd54dfc9068e3a,
            "digest 1"
        );
        assertEq(v.batchRoot(msgs), 0xf6345abca0bfe9afddde3deb030c1d6fe1740242e03d106f508e42da1287dcc0, "root 2");
        assertEq(
            v.batchDigest(v.batchRoot(msgs)),
            0x705391f9e6ff58b7b1ae43d19cea9c38da722ed804818624e740f0e4e8fdbf49,
            "digest 2"
        );
    }

    function testDomainSeparatorFollowsChainId() public {
        bytes32 before = inbox.domainSeparator();
        vm.chainId(777);
        assertEq(inbox.domainSeparator(), expectedDomainSeparator(777, address(inbox)), "recomputed");
        assertTrue(inbox.domainSeparator() != before, "changed");
    }

    // ---- valid deliveries ----

    function testDeliver1of1() public {
        Inbox single = deployInbox(1, 1);
        TestRecipient r = new TestRecipient(address(single));
        bytes memory m = message(7, LOCAL, address(r), "hello");
        bytes[] memory msgs = one(m);
        bytes[] memory sigs = signFirst(single, msgs, 1);

        vm.expectEmit(true, true, true, true, address(r));
        emit Received(ORIGIN, SENDER, "hello");
        vm.expectEmit(true, true, true, true, address(single));
        emit MessageDelivered(keccak256(m), ORIGIN, 7);
        single.deliver(msgs, sigs);

        assertEq(r.received(), 1, "received");
        assertTrue(single.isProcessed(ORIGIN, 7), "processed");
        assertTrue(!single.isProcessed(ORIGIN, 6), "neighbour not processed");
        assertTrue(!single.isProcessed(ORIGIN + 1, 7), "other origin not processed");
    }

    function testDeliver2of3CallsRecipientWithOriginSenderBody() public {
        bytes[] memory msgs = new bytes[](3);
        msgs[0] = message(0, LOCAL, address(recipient), "first");
        msgs[1] = message(1, LOCAL, address(recipient), hex"00ff00");
        msgs[2] = message(300, LOCAL, address(recipient), new bytes(100));
        // any 2 of the 3 attesters, in address order
        bytes[] memory sigs = signBatch(inbox, msgs, idx2(0, 2));

        vm.expectEmit(true, true, true, true, address(recipient));
        emit Received(ORIGIN, SENDER, "first");
        vm.expectEmit(true, true, true, true, address(recipient));
        emit Received(ORIGIN, SENDER, hex"00ff00");
        vm.expectEmit(true, true, true, true, address(recipient));
        emit Received(ORIGIN, SENDER, new bytes(100));
        inbox.deliver(msgs, sigs);

        assertEq(recipient.received(), 3, "received");
        assertTrue(inbox.isProcessed(ORIGIN, 0) && inbox.isProcessed(ORIGIN, 1), "processed");
        assertTrue(inbox.isProcessed(ORIGIN, 300), "processed 300");
        assertTrue(!inbox.isProcessed(ORIGIN, 2), "2 not processed");
    }

    function testAllThreeSignaturesAccepted() public {
        bytes[] memory msgs = one(freshMessage(address(recipient), "x"));
        inbox.deliver(msgs, signFirst(inbox, msgs, 3));
        assertEq(recipient.received(), 1, "received");
    }

    function testReplayedBatchIsNoOp() public {
        bytes[] memory msgs = new bytes[](2);
        msgs[0] = freshMessage(address(recipient), "a");
        msgs[1] = freshMessage(address(recipient), "b");
        bytes[] memory sigs = signFirst(inbox, msgs, 2);
        inbox.deliver(msgs, sigs);
        assertEq(recipient.received(), 2, "first delivery");

        vm.recordLogs();
        inbox.deliver(msgs, sigs);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(logs.length, 0, "no event on replay");
        assertEq(recipient.received(), 2, "no second delivery");
    }

    function testReplayInsideNewBatchSkipsOnlyTheOldMessage() public {
        bytes memory old = freshMessage(address(recipient), "old");
        inbox.deliver(one(old), signFirst(inbox, one(old), 2));
        bytes[] memory msgs = new bytes[](2);
        msgs[0] = old;
        msgs[1] = freshMessage(address(recipient), "new");
        vm.recordLogs();
        inbox.deliver(msgs, signFirst(inbox, msgs, 2));
        Vm.Log[] memory logs = vm.getRecordedLogs();
        // Received + MessageDelivered for the new message only
        assertEq(logs.length, 2, "events");
        assertEq(recipient.received(), 2, "received");
    }

    // ---- signature failures ----

    function testRevertsOnNonAttesterKey() public {
        bytes[] memory msgs = one(freshMessage(address(recipient), "x"));
        uint256 stranger = 0xA11CE;
        bytes32 digest = expectedDigest(msgs, block.chainid, address(inbox));
        bytes[] memory sigs = new bytes[](2);
        sigs[0] = signDigest(keys[0], digest);
        sigs[1] = signDigest(stranger, digest);
        // keep sorted order so that the attester check is what fails
        if (vm.addr(stranger) < vm.addr(keys[0])) (sigs[0], sigs[1]) = (sigs[1], sigs[0]);
        vm.expectRevert(abi.encodeWithSelector(Inbox.NotAttester.selector, vm.addr(stranger)));
        inbox.deliver(msgs, sigs);
    }

    function testRevertsOnDuplicateSigner() public {
        bytes[] memory msgs = one(freshMessage(address(recipient), "x"));
        bytes[] memory sigs = signBatch(inbox, msgs, idx2(1, 1));
        address a = vm.addr(keys[1]);
        vm.expectRevert(abi.encodeWithSelector(Inbox.SignersNotSorted.selector, a, a));
        inbox.deliver(msgs, sigs);
    }

    function testRevertsOnUnsortedSigners() public {
        bytes[] memory msgs = one(freshMessage(address(recipient), "x"));
        bytes[] memory sigs = signBatch(inbox, msgs, idx2(2, 0));
        vm.expectRevert(abi.encodeWithSelector(Inbox.SignersNotSorted.selector, vm.addr(keys[2]), vm.addr(keys[0])));
        inbox.deliver(msgs, sigs);
    }

    function testRevertsBelowThreshold() public {
        bytes[] memory msgs = one(freshMessage(address(recipient), "x"));
        bytes[] memory sigs = signFirst(inbox, msgs, 1);
        vm.expectRevert(abi.encodeWithSelector(Inbox.BelowThreshold.selector, 1, 2));
        inbox.deliver(msgs, sigs);
        vm.expectRevert(abi.encodeWithSelector(Inbox.BelowThreshold.selector, 0, 2));
        inbox.deliver(msgs, new bytes[](0));
    }

    function testRevertsOnMalleableS() public {
        bytes[] memory msgs = one(freshMessage(address(recipient), "x"));
        bytes32 digest = expectedDigest(msgs, block.chainid, address(inbox));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(keys[0], digest);
        // The twin signature (n - s, flipped v) recovers the same signer: must be refused.
        bytes32 highS = bytes32(SECP256K1_N - uint256(s));
        uint8 flippedV = v == 27 ? 28 : 27;
        assertEq(ecrecover(digest, flippedV, r, highS), vm.addr(keys[0]), "twin recovers the signer");
        bytes[] memory sigs = new bytes[](2);
        sigs[0] = abi.encodePacked(r, highS, flippedV);
        sigs[1] = signDigest(keys[1], digest);
        vm.expectRevert(abi.encodeWithSelector(Inbox.MalleableSignature.selector, 0, highS));
        inbox.deliver(msgs, sigs);
    }

    function testRevertsOnBadV() public {
        bytes[] memory msgs = one(freshMessage(address(recipient), "x"));
        bytes32 digest = expectedDigest(msgs, block.chainid, address(inbox));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(keys[0], digest);
        bytes[] memory sigs = new bytes[](2);
        sigs[0] = abi.encodePacked(r, s, v - 27); // 0/1 style v is refused
        sigs[1] = signDigest(keys[1], digest);
        vm.expectRevert(abi.encodeWithSelector(Inbox.BadSignatureV.selector, 0, v - 27));
        inbox.deliver(msgs, sigs);
    }

    function testRevertsOnWrongSignatureLength() public {
        bytes[] memory msgs = one(freshMessage(address(recipient), "x"));
        bytes[] memory sigs = signFirst(inbox, msgs, 2);
        bytes memory good = sigs[1];
        bytes memory short = new bytes(64);
        for (uint256 i; i < 64; ++i) {
            short[i] = good[i];
        }
        sigs[1] = short;
        vm.expectRevert(abi.encodeWithSelector(Inbox.BadSignatureLength.selector, 1, 64));
        inbox.deliver(msgs, sigs);
        sigs[1] = bytes.concat(good, hex"00");
        vm.expectRevert(abi.encodeWithSelector(Inbox.BadSignatureLength.selector, 1, 66));
        inbox.deliver(msgs, sigs);
    }

    function testRevertsOnInvalidSignature() public {
        bytes[] memory msgs = one(freshMessage(address(recipient), "x"));
        bytes[] memory sigs = new bytes[](2);
        sigs[0] = abi.encodePacked(bytes32(0), bytes32(uint256(1)), uint8(27)); // r = 0: ecrecover -> 0
        sigs[1] = signFirst(inbox, msgs, 1)[0];
        vm.expectRevert(abi.encodeWithSelector(Inbox.InvalidSignature.selector, 0));
        inbox.deliver(msgs, sigs);
    }

    function testRevertsOnSignatureForAnotherChainId() public {
        bytes[] memory msgs = one(freshMessage(address(recipient), "x"));
        bytes32 wrongDigest = expectedDigest(msgs, block.chainid + 1, address(inbox));
        bytes32 rightDigest = inbox.batchDigest(inbox.batchRoot(msgs));
        bytes[] memory sigs = new bytes[](2);
        sigs[0] = signDigest(keys[0], wrongDigest);
        sigs[1] = signDigest(keys[1], wrongDigest);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(keys[0], wrongDigest);
        vm.expectRevert(abi.encodeWithSelector(Inbox.NotAttester.selector, ecrecover(rightDigest, v, r, s)));
        inbox.deliver(msgs, sigs);
    }

    function testRevertsAfterChainIdChange() public {
        bytes[] memory msgs = one(freshMessage(address(recipient), "x"));
        bytes[] memory sigs = signFirst(inbox, msgs, 2); // signed for the current chain id
        vm.chainId(block.chainid + 5);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(keys[0], expectedDigest(msgs, block.chainid - 5, address(inbox)));
        address recovered = ecrecover(inbox.batchDigest(inbox.batchRoot(msgs)), v, r, s);
        vm.expectRevert(abi.encodeWithSelector(Inbox.NotAttester.selector, recovered));
        inbox.deliver(msgs, sigs);
    }

    function testRevertsOnSignatureForAnotherInbox() public {
        Inbox other = new Inbox(LOCAL, addrs(keys), 2, HANDLE_GAS); // same attesters, other address
        bytes[] memory msgs = one(freshMessage(address(recipient), "x"));
        bytes[] memory sigs = signFirst(other, msgs, 2);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(keys[0], expectedDigest(msgs, block.chainid, address(other)));
        address recovered = ecrecover(inbox.batchDigest(inbox.batchRoot(msgs)), v, r, s);
        vm.expectRevert(abi.encodeWithSelector(Inbox.NotAttester.selector, recovered));
        inbox.deliver(msgs, sigs);
    }

    function testRevertsOnSignatureOverDifferentBatch() public {
        bytes[] memory signed = one(freshMessage(address(recipient), "x"));
        bytes[] memory sigs = signFirst(inbox, signed, 2);
        bytes[] memory submitted = one(freshMessage(address(recipient), "y"));
        vm.expectRevert(); // recovers to an unknown address
        inbox.deliver(submitted, sigs);
    }

    // ---- message validation ----

    function testRevertsOnWrongDestination() public {
        bytes[] memory msgs = new bytes[](2);
        msgs[0] = freshMessage(address(recipient), "ok");
        msgs[1] = message(nextNonce++, LOCAL + 1, address(recipient), "elsewhere");
        bytes[] memory sigs = signFirst(inbox, msgs, 2);
        vm.expectRevert(abi.encodeWithSelector(Inbox.WrongDestination.selector, 1, LOCAL, LOCAL + 1));
        inbox.deliver(msgs, sigs);
        assertEq(recipient.received(), 0, "whole batch reverted");
    }

    function testDomainAliasAcceptsRouteGroupDomainOnlyWhenSetByOwner() public {
        uint32 group = 9000;
        bytes[] memory msgs = new bytes[](2);
        msgs[0] = freshMessage(address(recipient), "own");
        msgs[1] = message(nextNonce++, group, address(recipient), "group");
        bytes[] memory sigs = signFirst(inbox, msgs, 2);
        vm.expectRevert(abi.encodeWithSelector(Inbox.WrongDestination.selector, 1, LOCAL, group));
        inbox.deliver(msgs, sigs);

        vm.prank(address(0xBAD));
        vm.expectRevert(abi.encodeWithSelector(Inbox.NotOwner.selector, address(0xBAD)));
        inbox.setDomainAlias(group, true);
        vm.expectRevert(abi.encodeWithSelector(Inbox.WrongDestination.selector, 0, LOCAL, LOCAL));
        inbox.setDomainAlias(LOCAL, true);

        inbox.setDomainAlias(group, true);
        assertTrue(inbox.isDomainAlias(group), "alias set");
        inbox.deliver(msgs, sigs);
        assertEq(recipient.received(), 2, "own and group messages delivered");

        inbox.setDomainAlias(group, false);
        bytes[] memory later = one(message(nextNonce++, group, address(recipient), "after"));
        bytes[] memory laterSigs = signFirst(inbox, later, 2);
        vm.expectRevert(abi.encodeWithSelector(Inbox.WrongDestination.selector, 0, LOCAL, group));
        inbox.deliver(later, laterSigs);
    }

    function testRevertsOnWrongVersion() public {
        bytes memory m = freshMessage(address(recipient), "v");
        m[0] = bytes1(uint8(2));
        bytes[] memory msgs = one(m);
        bytes[] memory sigs = signFirst(inbox, msgs, 2);
        vm.expectRevert(abi.encodeWithSelector(Inbox.WrongVersion.selector, 0, 3, 2));
        inbox.deliver(msgs, sigs);
    }

    function testRevertsOnShortMessage() public {
        bytes[] memory msgs = one(new bytes(76));
        bytes[] memory sigs = signFirst(inbox, msgs, 2);
        vm.expectRevert(abi.encodeWithSelector(Inbox.MessageTooShort.selector, 0, 76));
        inbox.deliver(msgs, sigs);
    }

    function testRevertsOnEmptyBatch() public {
        bytes[] memory msgs = new bytes[](0);
        bytes[] memory sigs = signFirst(inbox, msgs, 2);
        vm.expectRevert(Inbox.EmptyBatch.selector);
        inbox.deliver(msgs, sigs);
    }

    // ---- failure isolation and retry ----

    function testRecipientFailuresAreIsolated() public {
        TestRecipient reverter = new TestRecipient(address(inbox));
        reverter.setMode(1);
        TestRecipient burner = new TestRecipient(address(inbox));
        burner.setMode(2);
        address noCode = address(0xC0DE);

        bytes[] memory msgs = new bytes[](5);
        msgs[0] = freshMessage(address(recipient), "a");
        msgs[1] = freshMessage(address(reverter), "b");
        msgs[2] = freshMessage(address(burner), "c");
        msgs[3] = freshMessage(noCode, "d");
        msgs[4] = freshMessage(address(recipient), "e");
        bytes[] memory sigs = signFirst(inbox, msgs, 2);

        vm.expectEmit(address(inbox));
        emit MessageDelivered(keccak256(msgs[0]), ORIGIN, 0);
        vm.expectEmit(address(inbox));
        emit MessageFailed(
            keccak256(msgs[1]), ORIGIN, 1, abi.encodeWithSignature("Error(string)", "TestRecipient: rejected")
        );
        vm.expectEmit(address(inbox));
        emit MessageFailed(keccak256(msgs[2]), ORIGIN, 2, "");
        vm.expectEmit(address(inbox));
        emit MessageFailed(
            keccak256(msgs[3]), ORIGIN, 3, abi.encodeWithSelector(Inbox.RecipientHasNoCode.selector, noCode)
        );
        vm.expectEmit(address(inbox));
        emit MessageDelivered(keccak256(msgs[4]), ORIGIN, 4);
        uint256 gasBefore = gasleft();
        inbox.deliver(msgs, sigs);
        uint256 used = gasBefore - gasleft();

        assertEq(recipient.received(), 2, "good messages delivered");
        assertTrue(!inbox.failed(keccak256(msgs[0])) && !inbox.failed(keccak256(msgs[4])), "good not failed");
        assertTrue(inbox.failed(keccak256(msgs[1])), "reverter failed");
        assertTrue(inbox.failed(keccak256(msgs[2])), "burner failed");
        assertTrue(inbox.failed(keccak256(msgs[3])), "no-code failed");
        for (uint32 n; n < 5; ++n) {
            assertTrue(inbox.isProcessed(ORIGIN, n), "all processed");
        }
        // The burner consumed its whole stipend, not more.
        assertTrue(used > HANDLE_GAS && used < 2 * HANDLE_GAS, "burner limited to its stipend");
    }

    function testRetryAfterRecipientFixed() public {
        recipient.setMode(1);
        bytes memory m = freshMessage(address(recipient), "later");
        inbox.deliver(one(m), signFirst(inbox, one(m), 2));
        assertTrue(inbox.failed(keccak256(m)), "failed");
        assertEq(recipient.received(), 0, "not received");

        // still failing: MessageFailed again, record kept
        vm.expectEmit(address(inbox));
        emit MessageFailed(keccak256(m), ORIGIN, 0, abi.encodeWithSignature("Error(string)", "TestRecipient: rejected"));
        inbox.retry(m);
        assertTrue(inbox.failed(keccak256(m)), "still failed");

        recipient.setMode(0);
        vm.expectEmit(true, true, true, true, address(recipient));
        emit Received(ORIGIN, SENDER, "later");
        vm.expectEmit(address(inbox));
        emit MessageDelivered(keccak256(m), ORIGIN, 0);
        vm.prank(address(0xDEAD)); // anyone may retry
        inbox.retry(m);
        assertTrue(!inbox.failed(keccak256(m)), "cleared");
        assertEq(recipient.received(), 1, "received once");

        vm.expectRevert(abi.encodeWithSelector(Inbox.NotFailed.selector, keccak256(m)));
        inbox.retry(m);
        // a replayed batch still does not deliver it again
        inbox.deliver(one(m), signFirst(inbox, one(m), 2));
        assertEq(recipient.received(), 1, "no replay after retry");
    }

    function testRetryOfUnknownMessageReverts() public {
        bytes memory m = freshMessage(address(recipient), "never delivered");
        vm.expectRevert(abi.encodeWithSelector(Inbox.NotFailed.selector, keccak256(m)));
        inbox.retry(m);
    }

    function testRetryOfNoCodeRecipientAfterDeployment() public {
        NoopRecipient later = new NoopRecipient();
        address target = address(0xC0DE);
        bytes memory m = freshMessage(target, "d");
        inbox.deliver(one(m), signFirst(inbox, one(m), 2));
        assertTrue(inbox.failed(keccak256(m)), "failed");
        vm.etch(target, address(later).code);
        inbox.retry(m);
        assertTrue(!inbox.failed(keccak256(m)), "delivered after deployment");
    }

    function testReturnDataBombIsTruncated() public {
        ReturnBomb bomb = new ReturnBomb();
        bytes memory m = freshMessage(address(bomb), "boom");
        vm.recordLogs();
        inbox.deliver(one(m), signFirst(inbox, one(m), 2));
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(logs.length, 1, "one MessageFailed");
        (, bytes memory reason) = abi.decode(logs[0].data, (uint32, bytes));
        assertEq(reason.length, inbox.MAX_REASON_LENGTH(), "reason truncated");
    }

    function testRecipientRejectsCallerOtherThanInbox() public {
        vm.expectRevert(abi.encodeWithSelector(TestRecipient.NotInbox.selector, address(this)));
        recipient.handle(ORIGIN, SENDER, "direct");
    }

    // ---- 63/64 rule ----

    /// @dev Sweeps the transaction gas across the InsufficientGas boundary: at every
    ///      gas amount the batch either reverts as a whole or the recipient gets its
    ///      full stipend. A message must never be marked failed for lack of gas.
    function testRelayerCannotStarveRecipient() public {
        NeedsFullStipend probe = new NeedsFullStipend();
        // Calibrate: gasleft() at the recipient's entry when it gets the full stipend.
        bytes memory calib = freshMessage(address(probe), "p");
        inbox.deliver(one(calib), signFirst(inbox, one(calib), 2));
        uint256 fullStipendAtEntry = probe.lastGas();
        assertTrue(fullStipendAtEntry > HANDLE_GAS - 1_000 && fullStipendAtEntry <= HANDLE_GAS, "calibration");
        // From now on the probe reverts if it got even 1 gas less than the full stipend.
        probe.setMinGas(fullStipendAtEntry);

        // Coarse sweep to locate the boundary, then a fine sweep around it.
        uint256 firstSuccess = _sweep(probe, 150_000, 300_000, 701, type(uint256).max);
        assertTrue(firstSuccess != type(uint256).max, "some deliveries succeeded");
        _sweep(probe, firstSuccess - 800, firstSuccess + 400, 7, firstSuccess);
        emit log_named_uint("stipend at recipient entry", fullStipendAtEntry);
        emit log_named_uint("min tx gas for a 1-message batch (approx)", firstSuccess);
    }

    function _sweep(NeedsFullStipend probe, uint256 from, uint256 to, uint256 step, uint256 firstSuccess)
        private
        returns (uint256)
    {
        uint256 insufficient;
        for (uint256 g = from; g < to; g += step) {
            bytes memory m = freshMessage(address(probe), "p");
            bytes[] memory msgs = one(m);
            bytes[] memory sigs = signFirst(inbox, msgs, 2);
            uint256 callsBefore = probe.calls();
            try inbox.deliver{gas: g}(msgs, sigs) {
                assertTrue(!inbox.failed(keccak256(m)), "message failed for lack of gas");
                assertEq(probe.calls(), callsBefore + 1, "recipient reached");
                if (g < firstSuccess) firstSuccess = g;
            } catch (bytes memory err) {
                // casting to 'bytes4' is safe because only the selector is compared
                // forge-lint: disable-next-line(unsafe-typecast)
                if (err.length >= 4 && bytes4(err) == Inbox.InsufficientGas.selector) ++insufficient;
                assertTrue(!inbox.isProcessed(ORIGIN, nextNonce - 1), "revert undone");
            }
        }
        assertTrue(insufficient > 0, "InsufficientGas was hit");
        return firstSuccess;
    }
}

/// @dev Retry window and cancellation. Each test fails if its defence is removed: the
///      window check, the original failure time kept across failed retries, the owner
///      check of setRetryWindow and cancel, and the cancelled state checked by retry.
contract InboxRetryTest is InboxFixture {
    Inbox internal inbox;
    TestRecipient internal recipient;
    address internal constant STRANGER = address(0xBAD);
    uint256 internal constant T0 = 1_700_000_000;
    uint256 internal constant WEEK = 7 days;

    event MessageDelivered(bytes32 indexed id, uint32 indexed origin, uint32 nonce);
    event MessageFailed(bytes32 indexed id, uint32 indexed origin, uint32 nonce, bytes reason);
    event MessageRetried(bytes32 indexed id, bool delivered);
    event MessageCancelled(bytes32 indexed id, uint256 failedAt);
    event RetryWindowSet(uint256 window);

    function setUp() public {
        inbox = deployInbox(3, 2);
        recipient = new TestRecipient(address(inbox));
    }

    /// @dev Delivers a fresh message that fails (rejecting recipient) at time `t`,
    ///      then lets the recipient accept again. Returns the message.
    function _failAt(uint256 t) internal returns (bytes memory m) {
        vm.warp(t);
        recipient.setMode(1);
        m = freshMessage(address(recipient), "m");
        inbox.deliver(one(m), signFirst(inbox, one(m), 2));
        assertTrue(inbox.failed(keccak256(m)), "failed");
        recipient.setMode(0);
    }

    function _rejected() internal pure returns (bytes memory) {
        return abi.encodeWithSignature("Error(string)", "TestRecipient: rejected");
    }

    function testDefaultWindowAndFailureTimeRecorded() public {
        assertEq(inbox.retryWindow(), WEEK, "default window");
        assertEq(inbox.DEFAULT_RETRY_WINDOW(), WEEK, "default constant");
        bytes memory m = _failAt(T0);
        bytes32 id = keccak256(m);
        assertEq(inbox.failedAt(id), T0, "failedAt");
        assertEq(inbox.retryDeadline(id), T0 + WEEK, "deadline");
        assertTrue(!inbox.isCancelled(id), "not cancelled");
        bytes32 unknown = keccak256("unknown");
        assertEq(inbox.failedAt(unknown), 0, "unknown failedAt");
        assertEq(inbox.retryDeadline(unknown), 0, "unknown deadline");
    }

    function testRetryInsideWindowSucceeds() public {
        bytes memory m = _failAt(T0);
        bytes32 id = keccak256(m);
        vm.warp(T0 + WEEK); // the deadline itself is inside the window
        vm.expectEmit(address(inbox));
        emit MessageDelivered(id, ORIGIN, 0);
        vm.expectEmit(address(inbox));
        emit MessageRetried(id, true);
        vm.prank(STRANGER); // anyone may retry
        inbox.retry(m);
        assertEq(recipient.received(), 1, "delivered");
        assertTrue(!inbox.failed(id), "record deleted");
        assertEq(inbox.failedAt(id), 0, "failedAt cleared");
    }

    function testRetryAfterWindowReverts() public {
        bytes memory m = _failAt(T0);
        bytes32 id = keccak256(m);
        vm.warp(T0 + WEEK + 1);
        vm.expectRevert(abi.encodeWithSelector(Inbox.RetryWindowClosed.selector, id, T0, T0 + WEEK));
        inbox.retry(m);
        assertEq(recipient.received(), 0, "not delivered");
        assertTrue(inbox.failed(id), "still recorded as failed");
        assertEq(inbox.failedAt(id), T0, "failure time kept");
    }

    /// @dev Choice stated in Inbox.retry: a retry that fails again keeps the time of
    ///      the FIRST failure, so retrying cannot extend the window.
    function testRetryThatFailsAgainKeepsOriginalFailureTime() public {
        bytes memory m = _failAt(T0);
        bytes32 id = keccak256(m);
        recipient.setMode(1);
        vm.warp(T0 + WEEK - 10);
        vm.expectEmit(address(inbox));
        emit MessageFailed(id, ORIGIN, 0, _rejected());
        vm.expectEmit(address(inbox));
        emit MessageRetried(id, false);
        inbox.retry(m);
        assertTrue(inbox.failed(id), "failed again");
        assertEq(inbox.failedAt(id), T0, "original failure time kept");
        assertEq(inbox.retryDeadline(id), T0 + WEEK, "deadline not extended");

        recipient.setMode(0);
        vm.warp(T0 + WEEK + 1);
        vm.expectRevert(abi.encodeWithSelector(Inbox.RetryWindowClosed.selector, id, T0, T0 + WEEK));
        inbox.retry(m);
        assertEq(recipient.received(), 0, "not delivered");
    }

    function testOwnerSetsRetryWindowAndStrangerCannot() public {
        vm.expectEmit(address(inbox));
        emit RetryWindowSet(1 hours);
        inbox.setRetryWindow(1 hours);
        assertEq(inbox.retryWindow(), 1 hours, "window set");

        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(Inbox.NotOwner.selector, STRANGER));
        inbox.setRetryWindow(365 days);
        assertEq(inbox.retryWindow(), 1 hours, "window unchanged");

        bytes memory m = _failAt(T0);
        vm.warp(T0 + 1 hours + 1);
        vm.expectRevert(abi.encodeWithSelector(Inbox.RetryWindowClosed.selector, keccak256(m), T0, T0 + 1 hours));
        inbox.retry(m);
    }

    /// @dev The current window applies to every failed message: lengthening it
    ///      reopens a closed window, 0 stops retries after the second of failure.
    function testWindowChangeAppliesToExistingFailures() public {
        bytes memory m = _failAt(T0);
        bytes32 id = keccak256(m);
        vm.warp(T0 + WEEK + 1);
        vm.expectRevert(abi.encodeWithSelector(Inbox.RetryWindowClosed.selector, id, T0, T0 + WEEK));
        inbox.retry(m);
        inbox.setRetryWindow(30 days);
        assertEq(inbox.retryDeadline(id), T0 + 30 days, "deadline follows the window");
        inbox.retry(m);
        assertEq(recipient.received(), 1, "delivered after the owner lengthened the window");

        inbox.setRetryWindow(0);
        bytes memory n = _failAt(T0 + 100 days);
        vm.warp(T0 + 100 days + 1);
        vm.expectRevert(
            abi.encodeWithSelector(Inbox.RetryWindowClosed.selector, keccak256(n), T0 + 100 days, T0 + 100 days)
        );
        inbox.retry(n);

        inbox.setRetryWindow(type(uint256).max); // no overflow: retries open for good
        assertEq(inbox.retryDeadline(keccak256(n)), type(uint256).max, "deadline saturates");
        inbox.retry(n);
        assertEq(recipient.received(), 2, "delivered with the largest window");
    }

    function testOwnerCancelsFailedMessage() public {
        bytes memory m = _failAt(T0);
        bytes32 id = keccak256(m);
        vm.warp(T0 + 1 days);
        vm.expectEmit(address(inbox));
        emit MessageCancelled(id, T0);
        inbox.cancel(id);
        assertTrue(inbox.isCancelled(id), "cancelled");
        assertTrue(inbox.failed(id), "still failed: its recipient never succeeded");
        assertEq(inbox.failedAt(id), T0, "failure time kept");
        assertEq(inbox.retryDeadline(id), 0, "no deadline");

        // Inside the window and with a working recipient, the retry is refused.
        vm.expectRevert(abi.encodeWithSelector(Inbox.AlreadyCancelled.selector, id));
        inbox.retry(m);
        vm.expectRevert(abi.encodeWithSelector(Inbox.AlreadyCancelled.selector, id));
        inbox.cancel(id);
        // Still processed: a replayed batch does not deliver it either.
        inbox.deliver(one(m), signFirst(inbox, one(m), 2));
        assertTrue(inbox.isProcessed(ORIGIN, 0), "processed");
        assertEq(recipient.received(), 0, "never delivered");
    }

    function testOwnerCanCancelAfterTheWindow() public {
        bytes memory m = _failAt(T0);
        vm.warp(T0 + WEEK + 1);
        inbox.cancel(keccak256(m));
        // Reopening the window does not revive a cancelled message.
        inbox.setRetryWindow(365 days);
        vm.expectRevert(abi.encodeWithSelector(Inbox.AlreadyCancelled.selector, keccak256(m)));
        inbox.retry(m);
        assertEq(recipient.received(), 0, "never delivered");
    }

    function testStrangerCannotCancel() public {
        bytes memory m = _failAt(T0);
        bytes32 id = keccak256(m);
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(Inbox.NotOwner.selector, STRANGER));
        inbox.cancel(id);
        assertTrue(!inbox.isCancelled(id), "not cancelled");
        inbox.retry(m);
        assertEq(recipient.received(), 1, "still retryable");
    }

    function testCancelOfNonFailedMessageReverts() public {
        bytes32 unknown = keccak256(freshMessage(address(recipient), "never delivered"));
        vm.expectRevert(abi.encodeWithSelector(Inbox.NotFailed.selector, unknown));
        inbox.cancel(unknown);

        bytes memory ok = freshMessage(address(recipient), "ok");
        inbox.deliver(one(ok), signFirst(inbox, one(ok), 2));
        vm.expectRevert(abi.encodeWithSelector(Inbox.NotFailed.selector, keccak256(ok)));
        inbox.cancel(keccak256(ok));

        bytes memory retried = _failAt(T0);
        inbox.retry(retried);
        vm.expectRevert(abi.encodeWithSelector(Inbox.NotFailed.selector, keccak256(retried)));
        inbox.cancel(keccak256(retried));
        assertEq(recipient.received(), 2, "both delivered once");
    }
}

contract InboxAdminTest is InboxFixture {
    Inbox internal inbox;
    address internal constant STRANGER = address(0xBAD);

    event AttesterSet(address indexed attester, bool enabled);
    event ThresholdSet(uint256 threshold);
    event RetryWindowSet(uint256 window);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    function setUp() public {
        inbox = deployInbox(3, 2);
    }

    function testInitialState() public view {
        assertEq(inbox.owner(), address(this), "owner");
        assertEq(inbox.threshold(), 2, "threshold");
        assertEq(inbox.attesterCount(), 3, "count");
        assertEq(inbox.localDomain(), LOCAL, "domain");
        assertEq(inbox.handleGasLimit(), HANDLE_GAS, "gas limit");
        assertEq(inbox.retryWindow(), 7 days, "retry window");
        for (uint256 i; i < 3; ++i) {
            assertTrue(inbox.isAttester(vm.addr(keys[i])), "attester");
        }
        assertTrue(!inbox.isAttester(STRANGER), "stranger");
    }

    function testOnlyOwner() public {
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(Inbox.NotOwner.selector, STRANGER));
        inbox.setAttester(STRANGER, true);
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(Inbox.NotOwner.selector, STRANGER));
        inbox.setThreshold(1);
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(Inbox.NotOwner.selector, STRANGER));
        inbox.transferOwnership(STRANGER);
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(Inbox.NotOwner.selector, STRANGER));
        inbox.setRetryWindow(0);
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(Inbox.NotOwner.selector, STRANGER));
        inbox.cancel(bytes32(0));
    }

    function testSetAttesterEmitsAndUpdates() public {
        address a = address(0xA77E57);
        vm.expectEmit(address(inbox));
        emit AttesterSet(a, true);
        inbox.setAttester(a, true);
        assertTrue(inbox.isAttester(a), "enabled");
        assertEq(inbox.attesterCount(), 4, "count up");

        // no-op when unchanged: no event
        vm.recordLogs();
        inbox.setAttester(a, true);
        assertEq(vm.getRecordedLogs().length, 0, "no event on no-op");
        assertEq(inbox.attesterCount(), 4, "count unchanged");

        vm.expectEmit(address(inbox));
        emit AttesterSet(a, false);
        inbox.setAttester(a, false);
        assertTrue(!inbox.isAttester(a), "disabled");
        assertEq(inbox.attesterCount(), 3, "count down");

        vm.expectRevert(Inbox.ZeroAddress.selector);
        inbox.setAttester(address(0), true);
    }

    function testRemovedAttesterCannotSign() public {
        TestRecipient r = new TestRecipient(address(0));
        inbox.setAttester(vm.addr(keys[0]), false);
        bytes[] memory msgs = one(freshMessage(address(r), "x"));
        vm.expectRevert(abi.encodeWithSelector(Inbox.NotAttester.selector, vm.addr(keys[0])));
        inbox.deliver(msgs, signFirst(inbox, msgs, 2));
    }

    function testThresholdBounds() public {
        vm.expectEmit(address(inbox));
        emit ThresholdSet(3);
        inbox.setThreshold(3);
        assertEq(inbox.threshold(), 3, "threshold 3");

        vm.expectRevert(abi.encodeWithSelector(Inbox.InvalidThreshold.selector, 0, 3));
        inbox.setThreshold(0);
        vm.expectRevert(abi.encodeWithSelector(Inbox.InvalidThreshold.selector, 4, 3));
        inbox.setThreshold(4);
        // disabling an attester would leave 2 < threshold 3
        vm.expectRevert(abi.encodeWithSelector(Inbox.InvalidThreshold.selector, 3, 2));
        inbox.setAttester(vm.addr(keys[0]), false);

        inbox.setThreshold(1);
        inbox.setAttester(vm.addr(keys[0]), false);
        inbox.setAttester(vm.addr(keys[1]), false);
        assertEq(inbox.attesterCount(), 1, "one left");
        vm.expectRevert(abi.encodeWithSelector(Inbox.InvalidThreshold.selector, 1, 0));
        inbox.setAttester(vm.addr(keys[2]), false);
    }

    function testTransferOwnership() public {
        vm.expectEmit(address(inbox));
        emit OwnershipTransferred(address(this), STRANGER);
        inbox.transferOwnership(STRANGER);
        assertEq(inbox.owner(), STRANGER, "new owner");
        vm.expectRevert(abi.encodeWithSelector(Inbox.NotOwner.selector, address(this)));
        inbox.setThreshold(1);
        vm.prank(STRANGER);
        inbox.setThreshold(1);
        vm.prank(STRANGER);
        vm.expectRevert(Inbox.ZeroAddress.selector);
        inbox.transferOwnership(address(0));
    }

    function testConstructorValidation() public {
        address[] memory two = addrs(makeKeys(2, 9));
        vm.expectRevert(abi.encodeWithSelector(Inbox.InvalidThreshold.selector, 3, 2));
        new Inbox(LOCAL, two, 3, HANDLE_GAS);
        vm.expectRevert(abi.encodeWithSelector(Inbox.InvalidThreshold.selector, 0, 2));
        new Inbox(LOCAL, two, 0, HANDLE_GAS);
        vm.expectRevert(abi.encodeWithSelector(Inbox.InvalidHandleGasLimit.selector, 0));
        new Inbox(LOCAL, two, 1, 0);
        address[] memory dup = new address[](2);
        dup[0] = two[0];
        dup[1] = two[0];
        vm.expectRevert(abi.encodeWithSelector(Inbox.DuplicateAttester.selector, two[0]));
        new Inbox(LOCAL, dup, 1, HANDLE_GAS);
        dup[1] = address(0);
        vm.expectRevert(Inbox.ZeroAddress.selector);
        new Inbox(LOCAL, dup, 1, HANDLE_GAS);
    }

    function testConstructorEmitsAttesterEvents() public {
        address[] memory two = addrs(makeKeys(2, 9));
        vm.expectEmit();
        emit OwnershipTransferred(address(0), address(this));
        vm.expectEmit();
        emit AttesterSet(two[0], true);
        vm.expectEmit();
        emit AttesterSet(two[1], true);
        vm.expectEmit();
        emit ThresholdSet(2);
        vm.expectEmit();
        emit RetryWindowSet(7 days);
        new Inbox(LOCAL, two, 2, HANDLE_GAS);
    }
}
