// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title TestL2OutputOracle
/// @notice A stand-in for the OP Stack's legacy L2OutputOracle with its
///         storage layout: Initializable at slot 0, `startingBlockNumber` 1,
///         `startingTimestamp` 2, `l2Outputs` at 3, each output two words
///         (`outputRoot`; `timestamp` in the low 128 bits and
///         `l2BlockNumber` in the high 128 bits of the second). Anyone may
///         propose (a test fixture: the real one has a PROPOSER).
contract TestL2OutputOracle {
    struct OutputProposal {
        bytes32 outputRoot;
        uint128 timestamp;
        uint128 l2BlockNumber;
    }

    uint256 private _initialized;
    uint256 public startingBlockNumber;
    uint256 public startingTimestamp;
    OutputProposal[] internal l2Outputs;

    event OutputProposed(bytes32 indexed outputRoot, uint256 indexed l2OutputIndex, uint256 indexed l2BlockNumber, uint256 l1Timestamp);

    function proposeL2Output(bytes32 outputRoot, uint256 l2BlockNumber) external {
        emit OutputProposed(outputRoot, l2Outputs.length, l2BlockNumber, block.timestamp);
        // Block numbers and timestamps stay far below 2^128.
        // forge-lint: disable-next-line(unsafe-typecast)
        l2Outputs.push(OutputProposal(outputRoot, uint128(block.timestamp), uint128(l2BlockNumber)));
    }

    function latestOutputIndex() external view returns (uint256) {
        return l2Outputs.length - 1;
    }

    function getL2Output(uint256 index) external view returns (OutputProposal memory) {
        return l2Outputs[index];
    }
}
