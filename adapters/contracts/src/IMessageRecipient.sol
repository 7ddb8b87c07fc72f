// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title IMessageRecipient
/// @notice Interface an application contract implements to receive Switchyard
///         messages from the {Inbox}. It is the Hyperlane v3 recipient interface,
///         so existing Hyperlane recipients work unchanged.
/// @dev The Inbox calls `handle` with a fixed gas stipend (`Inbox.handleGasLimit`)
///      through a low-level call: a revert here marks only this message as failed
///      (retryable through `Inbox.retry`); it never reverts the relayer's batch.
///      Implementations should check `msg.sender == inbox` themselves.
interface IMessageRecipient {
    /// @param origin Domain of the chain the message was dispatched on.
    /// @param sender Dispatching account on the origin chain, left-padded to 32 bytes.
    /// @param body Application payload.
    function handle(uint32 origin, bytes32 sender, bytes calldata body) external;
}
