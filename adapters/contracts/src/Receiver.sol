// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {IMessageRecipient} from "./IMessageRecipient.sol";

/// @title Receiver
/// @notice Base contract for applications that receive Switchyard messages. It
///         implements {IMessageRecipient.handle}, lets only the configured {Inbox}
///         call it, checks the message's origin domain and sender against
///         owner-managed allow-lists, and then calls the application's
///         {_receive} hook. An application inherits it and overrides {_receive}:
///
///         ```solidity
///         contract MyApp is Receiver {
///             constructor(address inbox) Receiver(inbox) {}
///             function _receive(uint32 origin, bytes32 sender, bytes calldata body) internal override { ... }
///         }
///         ```
///
///         then its owner lists the chains and contracts it accepts messages from:
///         `setOrigin(1000, true)`, `setSender(1000, bytes32(uint256(uint160(app))), true)`.
///
/// @dev Trust model, from the bottom up:
///
///      1. The Inbox calls `handle` only for a message it accepted: a batch signed by at
///         least `threshold` of its attesters (m of n, EIP-712 over chain id, Inbox
///         address and batch root), and the hub's attesters sign only messages their
///         light clients verified in a finalized block of the origin chain. So when
///         `msg.sender == inbox`, the arguments are the message's real origin domain,
///         the real `msg.sender` of the origin-chain `Mailbox.dispatch` and its body,
///         delivered once (the Inbox's replay bitmap), unless an m-of-n quorum of
///         attesters lies. The configured Inbox is therefore the only caller to trust;
///         anyone else calling `handle` is refused with {NotInbox}.
///      2. That a message is authentic does not make it welcome: any account on any
///         chain can dispatch a message to any recipient. Which origins and which
///         senders this application accepts is its own policy, the allow-lists here.
///         The origin list is a per-chain switch (turning an origin off refuses all of
///         its senders at once); the sender list is per origin, so the same address on
///         two chains is two separate entries.
///      3. The owner (the deployer, then whoever {transferOwnership} names) manages
///         the Inbox address and both lists; it is as trusted as the application's code.
///
///      How the Inbox calls recipients, and what follows for an application:
///
///      - `handle` gets exactly `Inbox.handleGasLimit()` gas. The checks here cost
///        about 7,000 gas (three cold storage reads); {_receive} must fit in the rest.
///        A message that needs more than the limit fails every time, retries included.
///      - A revert (a refused caller, origin or sender here, or any revert in
///        {_receive}) does not revert the relayer's batch: the Inbox records the
///        message as failed, emits `MessageFailed` with the revert data (at most 256
///        bytes; this contract's errors are 36 to 68 bytes) and anyone can call
///        `Inbox.retry(message)` later, within the Inbox's retry window (7 days from
///        the first failure by default) unless the Inbox owner cancelled the
///        message. A retry runs all the checks again with the
///        allow-lists of that moment: a message refused because its sender was not
///        listed yet is delivered by a retry once the owner lists the sender, and a
///        message that is retried after its sender was delisted is refused again.
///      - Messages arrive once each, but a retried message arrives after later ones:
///        do not rely on nonce order across failures.
///      - The sender is the origin-chain account left-padded to 32 bytes (see
///        {Message.addressToBytes32}); the lists key on that bytes32 form, which also
///        fits origins whose accounts are not 20-byte addresses.
abstract contract Receiver is IMessageRecipient {
    /// @notice The Inbox allowed to call {handle}.
    address public inbox;

    /// @notice Account allowed to change the Inbox and the allow-lists.
    address public owner;

    /// @notice Whether messages from this origin domain are accepted (if their sender is listed too).
    mapping(uint32 origin => bool allowed) public isOriginAllowed;

    /// @notice Whether this sender (left-padded to 32 bytes) is accepted from this origin domain.
    mapping(uint32 origin => mapping(bytes32 sender => bool allowed)) public isSenderAllowed;

    /// @notice The Inbox allowed to call {handle} changed.
    event InboxSet(address indexed previousInbox, address indexed newInbox);

    /// @notice An origin domain was allowed or disallowed.
    event OriginSet(uint32 indexed origin, bool allowed);

    /// @notice A sender of an origin domain was allowed or disallowed.
    event SenderSet(uint32 indexed origin, bytes32 indexed sender, bool allowed);

    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    /// @notice {handle} was called by `caller`, not by the configured Inbox `expected`.
    error NotInbox(address caller, address expected);

    /// @notice The message's origin domain is not in the allow-list.
    error OriginNotAllowed(uint32 origin);

    /// @notice The message's sender is not in the allow-list of its origin domain.
    error SenderNotAllowed(uint32 origin, bytes32 sender);

    /// @notice An admin function was called by `caller`, not by the owner `owner`.
    error NotOwner(address caller, address owner);

    error ZeroAddress();

    /// @param inbox_ The Inbox of this chain (the only allowed caller of {handle}).
    ///        The deployer becomes the owner; both lists start empty (nothing is accepted).
    constructor(address inbox_) {
        if (inbox_ == address(0)) revert ZeroAddress();
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
        inbox = inbox_;
        emit InboxSet(address(0), inbox_);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender, owner);
        _;
    }

    // ---------------------------------------------------------------------------
    // Receiving
    // ---------------------------------------------------------------------------

    /// @notice Entry point for the Inbox: checks the caller, the origin and the sender,
    ///         then calls {_receive}. Reverts with {NotInbox}, {OriginNotAllowed} or
    ///         {SenderNotAllowed} otherwise (the Inbox records the message as failed).
    /// @dev Not virtual: an application customizes {_receive}, never the checks.
    /// @inheritdoc IMessageRecipient
    function handle(uint32 origin, bytes32 sender, bytes calldata body) external {
        address expected = inbox;
        if (msg.sender != expected) revert NotInbox(msg.sender, expected);
        if (!isOriginAllowed[origin]) revert OriginNotAllowed(origin);
        if (!isSenderAllowed[origin][sender]) revert SenderNotAllowed(origin, sender);
        _receive(origin, sender, body);
    }

    /// @notice Whether {handle} would pass a message from `sender` on `origin` to
    ///         {_receive} now (both lists; the caller check aside).
    function accepts(uint32 origin, bytes32 sender) public view returns (bool) {
        return isOriginAllowed[origin] && isSenderAllowed[origin][sender];
    }

    /// @notice The application's handler, called for a message from the Inbox whose
    ///         origin and sender are allowed. A revert marks the message as failed in
    ///         the Inbox (retryable by anyone within its retry window); it must fit in the Inbox's
    ///         `handleGasLimit` minus the checks (see the contract documentation).
    /// @param origin Domain of the chain the message was dispatched on.
    /// @param sender The dispatching account on that chain, left-padded to 32 bytes.
    /// @param body The application payload.
    function _receive(uint32 origin, bytes32 sender, bytes calldata body) internal virtual;

    // ---------------------------------------------------------------------------
    // Administration (owner only)
    // ---------------------------------------------------------------------------

    /// @notice Sets the Inbox allowed to call {handle}, e.g. after the chain's Inbox was
    ///         redeployed. Messages already recorded as failed by the old Inbox can then
    ///         only be retried there, and will be refused ({NotInbox}).
    function setInbox(address newInbox) external onlyOwner {
        if (newInbox == address(0)) revert ZeroAddress();
        emit InboxSet(inbox, newInbox);
        inbox = newInbox;
    }

    /// @notice Allows or disallows every message from `origin` (its senders must be listed too).
    function setOrigin(uint32 origin, bool allowed) external onlyOwner {
        isOriginAllowed[origin] = allowed;
        emit OriginSet(origin, allowed);
    }

    /// @notice Allows or disallows `sender` (an account left-padded to 32 bytes) on `origin`.
    function setSender(uint32 origin, bytes32 sender, bool allowed) external onlyOwner {
        isSenderAllowed[origin][sender] = allowed;
        emit SenderSet(origin, sender, allowed);
    }

    /// @notice Hands the administration to `newOwner` (one step; the zero address is
    ///         refused so that the lists cannot be frozen by mistake).
    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }
}
