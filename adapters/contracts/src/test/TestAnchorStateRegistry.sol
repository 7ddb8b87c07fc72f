// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title TestAnchorStateRegistry
/// @notice A stand-in for the OP Stack's AnchorStateRegistry (op-contracts
///         1.4 to 1.8) where a rollup origin reads it: Initializable at slot
///         0, `mapping(GameType => OutputRoot) anchors` at slot 1, an
///         `OutputRoot` being `{ bytes32 root; uint256 l2BlockNumber }`. The
///         real registry moves a game type's anchor when a game of that type
///         resolves DEFENDER_WINS (`tryUpdateAnchorState`); here the test
///         sets it (a test fixture: anyone may).
contract TestAnchorStateRegistry {
    struct OutputRoot {
        bytes32 root;
        uint256 l2BlockNumber;
    }

    uint256 private _initialized;
    mapping(uint32 => OutputRoot) public anchors;

    event AnchorUpdated(uint32 indexed gameType, bytes32 root, uint256 l2BlockNumber);

    function setAnchor(uint32 gameType, bytes32 root, uint256 l2BlockNumber) external {
        anchors[gameType] = OutputRoot(root, l2BlockNumber);
        emit AnchorUpdated(gameType, root, l2BlockNumber);
    }
}
