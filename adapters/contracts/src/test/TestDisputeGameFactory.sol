// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title TestFaultDisputeGame
/// @notice A stand-in for the OP Stack's FaultDisputeGame with its storage
///         layout where a rollup origin reads it: slot 0 packs `createdAt`,
///         `resolvedAt`, `status`, `initialized` and
///         `l2BlockNumberChallenged` from the low-order end, as op-contracts
///         1.3 and later do; `rootClaim()` and `extraData()` answer as the
///         real getters. No bisection game: the test resolves it.
/// @dev The real game keeps its root claim and extra data as clone
///      arguments in code; here they are storage after slot 0, which the hub
///      never reads as storage (only through the getters, as hints).
contract TestFaultDisputeGame {
    uint64 public createdAt;
    uint64 public resolvedAt;
    /// @notice 0 IN_PROGRESS, 1 CHALLENGER_WINS, 2 DEFENDER_WINS.
    uint8 public status;
    bool public initialized;
    bool public l2BlockNumberChallenged;

    bytes32 public rootClaim;
    bytes internal _extraData;

    error AlreadyResolved();

    constructor(bytes32 rootClaim_, bytes memory extraData_) {
        createdAt = uint64(block.timestamp);
        initialized = true;
        rootClaim = rootClaim_;
        _extraData = extraData_;
    }

    function extraData() external view returns (bytes memory) {
        return _extraData;
    }

    function l2BlockNumber() external view returns (uint256) {
        return abi.decode(_extraData, (uint256));
    }

    /// @notice Ends the game with `status_` now (anyone: a test fixture).
    function resolve(uint8 status_) external {
        if (status != 0) revert AlreadyResolved();
        status = status_;
        resolvedAt = uint64(block.timestamp);
    }
}

/// @title TestDisputeGameFactory
/// @notice A stand-in for the OP Stack's DisputeGameFactory with its storage
///         layout (op-contracts' storage-layout snapshot): Initializable and
///         OwnableUpgradeable's slots 0..100, `gameImpls` at 101,
///         `initBonds` at 102, `_disputeGames` (UUID => GameId) at 103,
///         `_disputeGameList` at 104. `create` records a game as the real one
///         does: UUID = keccak256(abi.encode(gameType, rootClaim, extraData)),
///         GameId = gameType << 224 | timestamp << 160 | proxy.
contract TestDisputeGameFactory {
    uint256[101] private _ownableSlots;
    mapping(uint32 => address) public gameImpls;
    mapping(uint32 => uint256) public initBonds;
    mapping(bytes32 => bytes32) internal _disputeGames;
    bytes32[] internal _disputeGameList;

    event DisputeGameCreated(address indexed disputeProxy, uint32 indexed gameType, bytes32 indexed rootClaim);

    error GameAlreadyExists(bytes32 uuid);

    /// @notice Creates a game of `gameType` claiming `rootClaim` for the L2
    ///         block `extraData` names (one word).
    function create(uint32 gameType, bytes32 rootClaim, bytes calldata extraData)
        external
        returns (address proxy)
    {
        bytes32 uuid = getGameUUID(gameType, rootClaim, extraData);
        if (_disputeGames[uuid] != bytes32(0)) revert GameAlreadyExists(uuid);
        proxy = address(new TestFaultDisputeGame(rootClaim, extraData));
        bytes32 id = bytes32(
            (uint256(gameType) << 224) | (uint256(uint64(block.timestamp)) << 160) | uint256(uint160(proxy))
        );
        _disputeGames[uuid] = id;
        _disputeGameList.push(id);
        emit DisputeGameCreated(proxy, gameType, rootClaim);
    }

    function getGameUUID(uint32 gameType, bytes32 rootClaim, bytes calldata extraData)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(gameType, rootClaim, extraData));
    }

    function gameCount() external view returns (uint256) {
        return _disputeGameList.length;
    }

    function gameAtIndex(uint256 index) external view returns (uint32 gameType, uint64 timestamp, address proxy) {
        uint256 id = uint256(_disputeGameList[index]);
        // The GameId packing: each field is cut out of its own bits.
        // forge-lint: disable-next-line(unsafe-typecast)
        gameType = uint32(id >> 224);
        // forge-lint: disable-next-line(unsafe-typecast)
        timestamp = uint64(id >> 160);
        // forge-lint: disable-next-line(unsafe-typecast)
        proxy = address(uint160(id));
    }
}
