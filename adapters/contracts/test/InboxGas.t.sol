// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {InboxFixture, NoopRecipient} from "./InboxFixture.sol";
import {Inbox} from "../src/Inbox.sol";
import {TestRecipient} from "../src/test/TestRecipient.sol";

/// @notice Gas per message of `deliver` for batches of 100 (run with -vv to see the
///         figures). "exec" is the execution gas of the deliver call measured with
///         gasleft(); "tx" adds what a real transaction also pays: 21,000 base and
///         the calldata (4 gas per zero byte, 16 per non-zero byte, or the EIP-7623
///         floor of 10/40 if higher), i.e. what a relayer is charged.
contract InboxGasTest is InboxFixture {
    uint256 internal constant BATCH = 100;
    uint256 internal constant TX_BUDGET_PER_MESSAGE = 15_000;

    function _batch(address recipient, uint256 bodyLength) internal returns (bytes[] memory msgs) {
        msgs = new bytes[](BATCH);
        for (uint256 i; i < BATCH; ++i) {
            bytes memory body = new bytes(bodyLength);
            for (uint256 j; j < bodyLength; ++j) {
                body[j] = bytes1(uint8(0x80 + (i + j) % 64)); // non-zero bytes: worst case calldata
            }
            msgs[i] = freshMessage(recipient, body);
        }
    }

    function _calldataGas(bytes memory data) internal pure returns (uint256 standard, uint256 floor) {
        uint256 zeros;
        for (uint256 i; i < data.length; ++i) {
            if (data[i] == 0) ++zeros;
        }
        uint256 nonZeros = data.length - zeros;
        standard = 4 * zeros + 16 * nonZeros;
        floor = 10 * (zeros + 4 * nonZeros);
    }

    /// @return execPer execution gas per message; txPer full transaction gas per message.
    function _measure(Inbox inbox, bytes[] memory msgs, uint256 signers, string memory label)
        internal
        returns (uint256 execPer, uint256 txPer)
    {
        bytes[] memory sigs = signFirst(inbox, msgs, signers);
        bytes memory data = abi.encodeCall(Inbox.deliver, (msgs, sigs));
        uint256 g = gasleft();
        inbox.deliver(msgs, sigs);
        uint256 exec = g - gasleft();
        (uint256 cd, uint256 floor) = _calldataGas(data);
        uint256 txGas = 21_000 + cd + exec;
        if (21_000 + floor > txGas) txGas = 21_000 + floor;
        execPer = exec / BATCH;
        txPer = txGas / BATCH;
        emit log(label);
        emit log_named_uint("  exec gas per message", execPer);
        emit log_named_uint("  tx gas per message (incl. 21k base + calldata)", txPer);
    }

    function testGasPerMessageBatch100NoopRecipient1of1() public {
        Inbox inbox = deployInbox(1, 1);
        NoopRecipient r = new NoopRecipient();
        (, uint256 txPer) = _measure(
            inbox, _batch(address(r), 32), 1, "batch 100, 32-byte bodies, noop recipient, 1-of-1, fresh bitmap word"
        );
        assertTrue(txPer <= TX_BUDGET_PER_MESSAGE, "within budget");
        // steady state: the bitmap word of these nonces already exists
        _measure(inbox, _batch(address(r), 32), 1, "  same, next 100 nonces (bitmap word already non-zero)");
    }

    function testGasPerMessageBatch100NoopRecipient2of3() public {
        Inbox inbox = deployInbox(3, 2);
        NoopRecipient r = new NoopRecipient();
        (, uint256 txPer) =
            _measure(inbox, _batch(address(r), 32), 2, "batch 100, 32-byte bodies, noop recipient, 2-of-3");
        assertTrue(txPer <= TX_BUDGET_PER_MESSAGE, "within budget");
    }

    function testGasPerMessageBatch100NoopRecipientEmptyAnd256ByteBodies() public {
        Inbox inbox = deployInbox(1, 1);
        NoopRecipient r = new NoopRecipient();
        _measure(inbox, _batch(address(r), 0), 1, "batch 100, empty bodies, noop recipient, 1-of-1");
        (, uint256 txPer) =
            _measure(inbox, _batch(address(r), 256), 1, "batch 100, 256-byte bodies, noop recipient, 1-of-1");
        assertTrue(txPer <= TX_BUDGET_PER_MESSAGE, "within budget");
    }

    function testGasPerMessageBatch100TestRecipient() public {
        Inbox inbox = deployInbox(1, 1);
        TestRecipient r = new TestRecipient(address(inbox));
        _measure(inbox, _batch(address(r), 32), 1, "batch 100, 32-byte bodies, TestRecipient (counter + event), 1-of-1");
    }
}
