// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title TestBoldRollup
/// @notice A stand-in for Arbitrum's BoLD Rollup (OffchainLabs
///         nitro-contracts 3.x, `RollupCore`) where a rollup origin reads it:
///         `mapping(bytes32 => AssertionNode) _assertions` at slot 117, the
///         node's first word packing `firstChildBlock`, `secondChildBlock`,
///         `createdAtBlock`, `isFirstChild` and `status` from the low-order
///         end; `latestConfirmed()`; and `AssertionCreated` with the deployed
///         event's signature. The assertion hash is `RollupLib.assertionHash`.
///         No stakes, no challenge: the test asserts and confirms (a test
///         fixture: anyone may).
contract TestBoldRollup {
    enum AssertionStatus {
        NoAssertion,
        Pending,
        Confirmed
    }

    struct AssertionNode {
        uint64 firstChildBlock;
        uint64 secondChildBlock;
        uint64 createdAtBlock;
        bool isFirstChild;
        AssertionStatus status;
        bytes32 configHash;
    }

    struct GlobalState {
        bytes32[2] bytes32Vals;
        uint64[2] u64Vals;
    }

    struct AssertionState {
        GlobalState globalState;
        uint8 machineStatus;
        bytes32 endHistoryRoot;
    }

    struct ConfigData {
        bytes32 wasmModuleRoot;
        uint256 requiredStake;
        address challengeManager;
        uint64 confirmPeriodBlocks;
        uint64 nextInboxPosition;
    }

    struct BeforeStateData {
        bytes32 prevPrevAssertionHash;
        bytes32 sequencerBatchAcc;
        ConfigData configData;
    }

    struct AssertionInputs {
        BeforeStateData beforeStateData;
        AssertionState beforeState;
        AssertionState afterState;
    }

    /// @dev RollupCore's variables before `_assertions` (slots 0 to 116).
    uint256[117] private _before;
    mapping(bytes32 => AssertionNode) private _assertions;
    bytes32 private _latestConfirmed;

    event AssertionCreated(
        bytes32 indexed assertionHash,
        bytes32 indexed parentAssertionHash,
        AssertionInputs assertion,
        bytes32 afterInboxBatchAcc,
        uint256 inboxMaxCount,
        bytes32 wasmModuleRoot,
        uint256 requiredStake,
        address challengeManager,
        uint64 confirmPeriodBlocks
    );
    event AssertionConfirmed(bytes32 indexed assertionHash, bytes32 blockHash, bytes32 sendRoot);

    error AssertionExists(bytes32 assertionHash);
    error NotPending(bytes32 assertionHash);

    /// @notice Records an assertion of `afterState` following `parent`,
    ///         having read the inbox up to `inboxAcc`; Pending.
    function createAssertion(bytes32 parent, AssertionState calldata afterState, bytes32 inboxAcc)
        external
        returns (bytes32 assertionHash)
    {
        assertionHash = keccak256(abi.encodePacked(parent, keccak256(abi.encode(afterState)), inboxAcc));
        if (_assertions[assertionHash].status != AssertionStatus.NoAssertion) {
            revert AssertionExists(assertionHash);
        }
        _assertions[assertionHash] = AssertionNode({
            firstChildBlock: 0,
            secondChildBlock: 0,
            createdAtBlock: uint64(block.number),
            isFirstChild: true,
            status: AssertionStatus.Pending,
            configHash: bytes32(0)
        });
        AssertionInputs memory inputs;
        inputs.beforeStateData.sequencerBatchAcc = inboxAcc;
        inputs.afterState = afterState;
        emit AssertionCreated(assertionHash, parent, inputs, inboxAcc, 0, bytes32(0), 0, address(0), 0);
    }

    /// @notice Confirms a pending assertion (its challenge period over).
    function confirmAssertion(bytes32 assertionHash, bytes32 blockHash, bytes32 sendRoot) external {
        AssertionNode storage node = _assertions[assertionHash];
        if (node.status != AssertionStatus.Pending) revert NotPending(assertionHash);
        node.status = AssertionStatus.Confirmed;
        _latestConfirmed = assertionHash;
        emit AssertionConfirmed(assertionHash, blockHash, sendRoot);
    }

    function latestConfirmed() external view returns (bytes32) {
        return _latestConfirmed;
    }

    function getAssertion(bytes32 assertionHash) external view returns (AssertionNode memory) {
        return _assertions[assertionHash];
    }
}
