// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {IMessageRecipient} from "../IMessageRecipient.sol";

/// @title TestRecipient
/// @notice A message recipient for devnets and tests. It records every delivery
///         (counter + event) and can be switched into failure modes to exercise the
///         Inbox's failure isolation and retry path:
///         - mode 0 (ACCEPT): record the message;
///         - mode 1 (REVERT): revert with the reason string "TestRecipient: rejected";
///         - mode 2 (BURN_GAS): loop until all forwarded gas is consumed.
/// @dev Lives under src/ (not test/) because devnets deploy it from the build
///      artifacts. `setMode` is deliberately unrestricted: it is a test fixture and
///      scripts flip it from arbitrary accounts. If `inbox` is non-zero, only that
///      Inbox may call `handle` (the check real recipients must do); with
///      `inbox == address(0)` anyone may, which is convenient in unit tests.
contract TestRecipient is IMessageRecipient {
    uint8 public constant MODE_ACCEPT = 0;
    uint8 public constant MODE_REVERT = 1;
    uint8 public constant MODE_BURN_GAS = 2;

    /// @notice The only allowed caller of `handle`, or address(0) for anyone.
    address public immutable inbox;

    /// @notice Current behaviour (see the contract documentation).
    uint8 public mode;

    /// @notice Number of messages accepted so far.
    uint256 public received;

    /// @notice Emitted for every accepted message.
    event Received(uint32 indexed origin, bytes32 indexed sender, bytes body);

    /// @notice Emitted when the mode changes.
    event ModeSet(uint8 mode);

    error NotInbox(address caller);
    error InvalidMode(uint8 mode);

    constructor(address inbox_) {
        inbox = inbox_;
    }

    /// @notice Switches the behaviour of `handle` (0 accept, 1 revert, 2 burn all gas).
    function setMode(uint8 newMode) external {
        if (newMode > MODE_BURN_GAS) revert InvalidMode(newMode);
        mode = newMode;
        emit ModeSet(newMode);
    }

    /// @inheritdoc IMessageRecipient
    function handle(uint32 origin, bytes32 sender, bytes calldata body) external {
        if (inbox != address(0) && msg.sender != inbox) revert NotInbox(msg.sender);
        uint8 m = mode;
        if (m == MODE_REVERT) revert("TestRecipient: rejected");
        if (m == MODE_BURN_GAS) {
            // Spin until the call runs out of gas (consumes the whole stipend).
            assembly {
                for {} 1 {} {}
            }
        }
        ++received;
        emit Received(origin, sender, body);
    }
}
