// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Message} from "./Message.sol";
import {IMessageRecipient} from "./IMessageRecipient.sol";

/// @title Inbox
/// @notice Destination side of Switchyard. A relayer submits a batch of messages
///         (dispatched by origin-chain {Mailbox}es) together with EIP-712 signatures
///         of a committee of attesters over the batch; once at least `threshold`
///         attesters have signed, every message of the batch is delivered to its
///         recipient's {IMessageRecipient.handle}.
///
/// @dev Security and gas design, in the order {deliver} applies it:
///
///      1. Attestation. The attesters sign the EIP-712 struct `Batch(bytes32 root)`
///         where `root = keccak256(id_0 ‖ id_1 ‖ … ‖ id_{n-1})` and `id_i =
///         keccak256(messages[i])`. One signature covers a whole batch, so the
///         per-message cost of verification (3,000 gas per ecrecover) vanishes with
///         batch size. The EIP-712 domain (name "Switchyard Inbox", version "1",
///         chainId, verifyingContract) binds signatures to this chain and this
///         Inbox: a batch signed for another deployment cannot be replayed here.
///         Signatures must be 65 bytes (r ‖ s ‖ v, v ∈ {27, 28}), with s in the lower
///         half of the curve order (no malleable twins), and their signers must be
///         strictly increasing by address: this rejects a duplicated signature
///         without any storage or memory set, in O(n).
///
///      2. Validation. Every message must be at least 77 bytes, have version 3 and
///         `destination == localDomain`. A violation reverts the whole batch: the
///         attesters signed something malformed, which is a bug to stop on, not a
///         recipient failure to isolate.
///
///      3. Replay protection, keyed by (origin, nonce) in a bitmap: the storage word
///         `((origin << 32) | nonce) >> 8` holds 256 consecutive nonces of an origin,
///         bit `nonce & 0xff`. Delivering 256 consecutive messages of one origin thus
///         costs a single zero-to-nonzero SSTORE (later ones are warm rewrites of the
///         same slot). An already-processed message is skipped silently (no event,
///         no call): re-submitting a batch, e.g. by a second relayer racing the first,
///         is a cheap no-op rather than a revert. The bit is set BEFORE the recipient
///         is called, so a re-entrant recipient cannot get a message twice.
///         Consequence: (origin, nonce) must be unique per origin domain, i.e. the
///         attesters must only sign messages emitted by the canonical Mailbox of
///         each origin.
///
///      4. Isolation. The recipient is called with a low-level CALL carrying exactly
///         `handleGasLimit` gas, so a reverting recipient, a recipient without code or
///         one that burns all its gas fails alone: the message is recorded in
///         `failed` with its time of failure (anyone can {retry} it within the
///         owner-set `retryWindow`, the owner can {cancel} it) and the rest of the
///         batch proceeds.
///         Because of EIP-150 (a callee gets at most 63/64 of the remaining gas), a
///         relayer could otherwise make a message fail on purpose by sending too
///         little gas; the Inbox therefore reverts the whole batch with
///         {InsufficientGas} unless the callee is guaranteed its full
///         `handleGasLimit`. Return data is never copied in full (at most
///         `MAX_REASON_LENGTH` bytes, and only on failure), so a malicious recipient
///         cannot make the Inbox pay for a huge returndata copy.
///
///      The per-message path works directly on calldata (header fields are read with
///      `calldataload`, the body is copied once, into the handle() calldata) and
///      reuses the same scratch memory for every message, so memory does not grow
///      with the batch.
contract Inbox {
    using Message for bytes;

    // ---------------------------------------------------------------------------
    // Constants
    // ---------------------------------------------------------------------------

    /// @notice EIP-712 type hash of the domain.
    bytes32 public constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    /// @notice EIP-712 type hash of the signed struct `Batch(bytes32 root)`.
    bytes32 public constant BATCH_TYPEHASH = keccak256("Batch(bytes32 root)");

    /// @notice EIP-712 domain name.
    string public constant EIP712_NAME = "Switchyard Inbox";

    /// @notice EIP-712 domain version.
    string public constant EIP712_VERSION = "1";

    /// @notice Maximum number of bytes of a failing recipient's revert data kept in {MessageFailed}.
    uint256 public constant MAX_REASON_LENGTH = 256;

    /// @notice Retry window set at deployment (the owner changes it with {setRetryWindow}).
    uint256 public constant DEFAULT_RETRY_WINDOW = 7 days;

    /// @dev keccak256(EIP712_NAME), keccak256(EIP712_VERSION).
    bytes32 private constant NAME_HASH = keccak256("Switchyard Inbox");
    bytes32 private constant VERSION_HASH = keccak256("1");

    /// @dev secp256k1n / 2: signatures with a larger s are the malleable twin of a valid one.
    uint256 private constant HALF_CURVE_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    /// @dev Gas kept on top of `handleGasLimit * 64 / 63` when checking that the callee
    ///      will really receive `handleGasLimit`: covers the CALL itself (warm access,
    ///      the recipient was touched by EXTCODESIZE) and the few opcodes between the
    ///      check and the CALL, with a wide margin.
    uint256 private constant CALL_GAS_RESERVE = 1_000;

    /// @dev `handle(uint32,bytes32,bytes)` selector, left-aligned in a word.
    uint256 private constant HANDLE_SELECTOR_WORD = uint256(uint32(IMessageRecipient.handle.selector)) << 224;

    // ---------------------------------------------------------------------------
    // Immutable configuration
    // ---------------------------------------------------------------------------

    /// @notice Domain of this chain: every delivered message must have this destination.
    uint32 public immutable localDomain;

    /// @notice Gas forwarded to each `handle` call (exactly this much, see {InsufficientGas}).
    ///         Immutable: changing it requires a new Inbox (a new EIP-712 domain too).
    uint256 public immutable handleGasLimit;

    /// @dev Minimum gasleft() right before a handle CALL: 64/63 of the stipend plus the reserve.
    uint256 private immutable _minGasBeforeHandle;

    /// @dev EIP-712 domain separator computed at deployment, valid while chainid and
    ///      address(this) are unchanged (a chain fork or a delegatecall recomputes it).
    uint256 private immutable _cachedChainId;
    address private immutable _cachedThis;
    bytes32 private immutable _cachedDomainSeparator;

    // ---------------------------------------------------------------------------
    // State
    // ---------------------------------------------------------------------------

    /// @notice Account allowed to manage the attester set and threshold.
    address public owner;

    /// @notice Number of signatures from distinct enabled attesters required per batch.
    uint256 public threshold;

    /// @notice Number of enabled attesters.
    uint256 public attesterCount;

    /// @notice Whether an address is an enabled attester.
    mapping(address attester => bool enabled) public isAttester;

    /// @notice Route-group domains accepted as destination besides `localDomain`: a
    ///         logical destination served by several chains (the hub picks one member
    ///         per message; replay protection still keys on (origin, nonce)).
    mapping(uint32 domain => bool accepted) public isDomainAlias;

    /// @notice Seconds after its first failure during which a failed message can be
    ///         retried: {retry} is allowed while `block.timestamp <= failedAt + retryWindow`.
    ///         The current value applies to every failed message (lengthening it reopens
    ///         closed windows, shortening it closes open ones).
    uint256 public retryWindow;

    /// @dev State of a message whose recipient call failed. Packed in one slot, so a
    ///      failure costs one zero-to-nonzero SSTORE, as a plain bool would.
    enum FailureState {
        None, // never failed, or delivered by a retry (the record is deleted)
        Failed, // retryable within the window
        Cancelled // by the owner: never retryable, never delivered
    }

    struct Failure {
        FailureState state;
        /// @dev Time of the FIRST failure; a retry that fails again keeps it.
        uint64 failedAt;
    }

    /// @dev Failure records by message id, see {failed}, {failedAt}, {isCancelled}.
    mapping(bytes32 id => Failure) private _failures;

    /// @dev Replay bitmap, see the contract documentation (point 3).
    mapping(uint256 wordKey => uint256 bits) private processedBitmap;

    // ---------------------------------------------------------------------------
    // Events
    // ---------------------------------------------------------------------------

    /// @notice A message was delivered: its recipient's `handle` returned successfully.
    event MessageDelivered(bytes32 indexed id, uint32 indexed origin, uint32 nonce);

    /// @notice A message's recipient call failed (revert, out of gas, or no code); the
    ///         message is now in `failed` and can be retried with {retry}.
    /// @param reason The recipient's revert data, truncated to MAX_REASON_LENGTH bytes
    ///        (or `RecipientHasNoCode(recipient)` if the recipient has no code).
    event MessageFailed(bytes32 indexed id, uint32 indexed origin, uint32 nonce, bytes reason);

    /// @notice {retry} was called for a failed message; `delivered` tells the outcome
    ///         (emitted after the {MessageDelivered} or {MessageFailed} of the attempt).
    event MessageRetried(bytes32 indexed id, bool delivered);

    /// @notice The owner cancelled a failed message: it will never be retried nor
    ///         delivered. `failedAt` is the time of its first failure.
    event MessageCancelled(bytes32 indexed id, uint256 failedAt);

    /// @notice The owner set the retry window (also emitted at deployment with the default).
    event RetryWindowSet(uint256 window);

    event AttesterSet(address indexed attester, bool enabled);
    event ThresholdSet(uint256 threshold);

    /// @notice A route-group domain was accepted or dropped.
    event DomainAliasSet(uint32 indexed domain, bool accepted);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    // ---------------------------------------------------------------------------
    // Errors
    // ---------------------------------------------------------------------------

    error NotOwner(address caller);
    error ZeroAddress();
    error DuplicateAttester(address attester);
    /// @notice The threshold would be 0 or above the number of enabled attesters.
    error InvalidThreshold(uint256 threshold, uint256 attesterCount);
    error InvalidHandleGasLimit(uint256 handleGasLimit);

    error EmptyBatch();
    error BadSignatureLength(uint256 index, uint256 length);
    error BadSignatureV(uint256 index, uint8 v);
    error MalleableSignature(uint256 index, bytes32 s);
    /// @notice ecrecover returned address(0) for this signature.
    error InvalidSignature(uint256 index);
    error NotAttester(address signer);
    error SignersNotSorted(address prev, address next);
    error BelowThreshold(uint256 got, uint256 threshold);

    error MessageTooShort(uint256 index, uint256 length);
    error WrongVersion(uint256 index, uint8 expected, uint8 got);
    error WrongDestination(uint256 index, uint32 expected, uint32 got);

    /// @notice Not enough gas left to give the recipient its full handleGasLimit.
    error InsufficientGas(uint256 gasLeft, uint256 required);
    /// @notice {retry} or {cancel} of a message that is not recorded as failed.
    error NotFailed(bytes32 id);
    /// @notice {retry} or {cancel} of a message the owner cancelled.
    error AlreadyCancelled(bytes32 id);
    /// @notice {retry} after `deadline = failedAt + retryWindow`.
    error RetryWindowClosed(bytes32 id, uint256 failedAt, uint256 deadline);
    /// @notice Failure reason recorded (in MessageFailed) when the recipient has no code.
    error RecipientHasNoCode(address recipient);

    // ---------------------------------------------------------------------------
    // Construction and administration
    // ---------------------------------------------------------------------------

    /// @param localDomain_ Domain of this chain.
    /// @param attesters Initial attester set (no zero address, no duplicates).
    /// @param threshold_ Required signatures per batch, 1 <= threshold_ <= attesters.length.
    /// @param handleGasLimit_ Gas forwarded to each recipient call (> 0).
    constructor(uint32 localDomain_, address[] memory attesters, uint256 threshold_, uint256 handleGasLimit_) {
        if (handleGasLimit_ == 0) revert InvalidHandleGasLimit(handleGasLimit_);
        localDomain = localDomain_;
        handleGasLimit = handleGasLimit_;
        _minGasBeforeHandle = handleGasLimit_ + handleGasLimit_ / 63 + CALL_GAS_RESERVE;

        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);

        for (uint256 i; i < attesters.length; ++i) {
            address a = attesters[i];
            if (a == address(0)) revert ZeroAddress();
            if (isAttester[a]) revert DuplicateAttester(a);
            isAttester[a] = true;
            emit AttesterSet(a, true);
        }
        attesterCount = attesters.length;
        _setThreshold(threshold_);
        _setRetryWindow(DEFAULT_RETRY_WINDOW);

        _cachedChainId = block.chainid;
        _cachedThis = address(this);
        _cachedDomainSeparator = _buildDomainSeparator();
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    /// @notice Enables or disables an attester. A call that does not change the state
    ///         is a no-op (no event). Disabling is refused if it would leave fewer
    ///         attesters than the threshold (lower the threshold first).
    function setAttester(address attester, bool enabled) external onlyOwner {
        if (attester == address(0)) revert ZeroAddress();
        if (isAttester[attester] == enabled) return;
        uint256 count = enabled ? attesterCount + 1 : attesterCount - 1;
        if (count < threshold) revert InvalidThreshold(threshold, count);
        isAttester[attester] = enabled;
        attesterCount = count;
        emit AttesterSet(attester, enabled);
    }

    /// @notice Accepts (or stops accepting) `domain` as a destination alias, for a route
    ///         group this chain serves. `localDomain` itself cannot be an alias.
    function setDomainAlias(uint32 domain, bool accepted) external onlyOwner {
        if (domain == localDomain) revert WrongDestination(0, localDomain, domain);
        isDomainAlias[domain] = accepted;
        emit DomainAliasSet(domain, accepted);
    }

    /// @notice Sets the number of required signatures (1 <= newThreshold <= attesterCount).
    function setThreshold(uint256 newThreshold) external onlyOwner {
        _setThreshold(newThreshold);
    }

    /// @notice Hands the administration to `newOwner` (one step; the zero address is
    ///         refused so that the set cannot be frozen by mistake).
    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    /// @notice Sets the retry window in seconds (see {retryWindow}). 0 leaves a failed
    ///         message retryable only within the second it failed, i.e. stops retries;
    ///         any larger value, however large, is accepted.
    function setRetryWindow(uint256 window) external onlyOwner {
        _setRetryWindow(window);
    }

    /// @notice Cancels a failed message: it can never be retried again, and since it
    ///         stays processed (replay bitmap) it is never delivered. {failed} stays
    ///         true (its recipient never succeeded), {isCancelled} becomes true.
    ///         Allowed whether or not its retry window is still open.
    function cancel(bytes32 id) external onlyOwner {
        Failure storage f = _failures[id];
        FailureState state = f.state;
        if (state == FailureState.None) revert NotFailed(id);
        if (state == FailureState.Cancelled) revert AlreadyCancelled(id);
        f.state = FailureState.Cancelled;
        emit MessageCancelled(id, f.failedAt);
    }

    function _setRetryWindow(uint256 window) private {
        retryWindow = window;
        emit RetryWindowSet(window);
    }

    function _setThreshold(uint256 newThreshold) private {
        if (newThreshold == 0 || newThreshold > attesterCount) {
            revert InvalidThreshold(newThreshold, attesterCount);
        }
        threshold = newThreshold;
        emit ThresholdSet(newThreshold);
    }

    // ---------------------------------------------------------------------------
    // EIP-712
    // ---------------------------------------------------------------------------

    /// @notice EIP-712 domain separator:
    ///         keccak256(abi.encode(DOMAIN_TYPEHASH, keccak256("Switchyard Inbox"),
    ///         keccak256("1"), block.chainid, address(this))).
    function domainSeparator() public view returns (bytes32) {
        if (block.chainid == _cachedChainId && address(this) == _cachedThis) return _cachedDomainSeparator;
        return _buildDomainSeparator();
    }

    /// @notice The digest attesters sign for a batch:
    ///         keccak256("\x19\x01" ‖ domainSeparator() ‖ keccak256(abi.encode(BATCH_TYPEHASH, root))).
    function batchDigest(bytes32 root) public view returns (bytes32 digest) {
        bytes32 separator = domainSeparator();
        bytes32 typehash = BATCH_TYPEHASH;
        assembly ("memory-safe") {
            // structHash = keccak256(BATCH_TYPEHASH ‖ root), in scratch space.
            mstore(0x00, typehash)
            mstore(0x20, root)
            let structHash := keccak256(0x00, 0x40)
            // digest = keccak256(0x1901 ‖ separator ‖ structHash), at the free memory pointer.
            let ptr := mload(0x40)
            mstore(ptr, shl(240, 0x1901))
            mstore(add(ptr, 0x02), separator)
            mstore(add(ptr, 0x22), structHash)
            digest := keccak256(ptr, 0x42)
        }
    }

    /// @notice Batch root: keccak256(id_0 ‖ … ‖ id_{n-1}) with id_i = keccak256(messages[i]).
    function batchRoot(bytes[] calldata messages) external pure returns (bytes32) {
        return _batchRoot(_messageIds(messages));
    }

    /// @notice EIP-5267 description of the EIP-712 domain (for wallets and tooling).
    function eip712Domain()
        external
        view
        returns (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        )
    {
        return (hex"0f", EIP712_NAME, EIP712_VERSION, block.chainid, address(this), bytes32(0), new uint256[](0));
    }

    function _buildDomainSeparator() private view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
    }

    // ---------------------------------------------------------------------------
    // Delivery
    // ---------------------------------------------------------------------------

    /// @notice Delivers an attested batch. See the contract documentation for the rules.
    /// @param messages Encoded messages (Hyperlane v3 layout), in the order that was signed.
    /// @param signatures 65-byte signatures (r ‖ s ‖ v) of `batchDigest(batchRoot(messages))`,
    ///        ordered by strictly increasing signer address.
    function deliver(bytes[] calldata messages, bytes[] calldata signatures) external {
        uint256 count = messages.length;
        if (count == 0) revert EmptyBatch();

        bytes32[] memory ids = _messageIds(messages);
        _verifySignatures(batchDigest(_batchRoot(ids)), signatures);

        uint32 local = localDomain;
        for (uint256 i; i < count; ++i) {
            bytes calldata message = messages[i];
            if (message.length < Message.HEADER_LENGTH) revert MessageTooShort(i, message.length);
            uint8 version = message.version();
            if (version != Message.VERSION) revert WrongVersion(i, Message.VERSION, version);
            uint32 destination = message.destination();
            // The alias lookup costs an SLOAD only for group-addressed messages.
            if (destination != local && !isDomainAlias[destination]) {
                revert WrongDestination(i, local, destination);
            }

            uint32 origin = message.origin();
            uint32 nonce = message.nonce();
            uint256 wordKey = ((uint256(origin) << 32) | nonce) >> 8;
            // forge-lint: disable-next-line(incorrect-shift) -- shifting 1 left by the bit index is intended.
            uint256 bit = 1 << (nonce & 0xff);
            uint256 word = processedBitmap[wordKey];
            if (word & bit != 0) continue; // replay: silently skipped
            processedBitmap[wordKey] = word | bit;

            _handle(ids[i], origin, nonce, message, uint64(block.timestamp));
        }
    }

    /// @notice Calls again the recipient of a message recorded as failed. Anyone may
    ///         call it (the message was attested when first delivered), until
    ///         `failedAt + retryWindow` included ({RetryWindowClosed} afterwards) and
    ///         unless the owner cancelled it ({AlreadyCancelled}). On success the
    ///         failure record is deleted and {MessageDelivered} is emitted; on failure
    ///         {MessageFailed} is emitted again and the record stays with its ORIGINAL
    ///         failure time, so retrying never extends the window. Either way
    ///         {MessageRetried} follows.
    function retry(bytes calldata message) external {
        bytes32 id = message.id();
        Failure memory f = _failures[id];
        if (f.state == FailureState.None) revert NotFailed(id);
        if (f.state == FailureState.Cancelled) revert AlreadyCancelled(id);
        uint256 window = retryWindow;
        // failedAt <= block.timestamp, so the subtraction cannot underflow and a huge
        // window cannot overflow (the deadline below is only computed when it is smaller).
        // A validator's few seconds of timestamp skew are immaterial to a window of days.
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp - f.failedAt > window) {
            revert RetryWindowClosed(id, f.failedAt, f.failedAt + window);
        }
        // Deleted before the call so that a re-entrant retry (or cancel) of the same
        // message finds no record; a new failure restores it with the original time.
        delete _failures[id];
        // A record implies the message passed the length/version/destination checks.
        _handle(id, message.origin(), message.nonce(), message, f.failedAt);
        // Nothing can recreate the record during the call but a new failure (a nested
        // retry or cancel finds no record, a nested deliver skips the processed
        // message); reading it back keeps a return value off deliver's hot path.
        emit MessageRetried(id, _failures[id].state == FailureState.None);
    }

    /// @notice Whether the message's recipient call failed and it was not delivered
    ///         since: true from its failure until a successful {retry}, and for ever
    ///         once the owner {cancel}led it (see {isCancelled}).
    function failed(bytes32 id) external view returns (bool) {
        return _failures[id].state != FailureState.None;
    }

    /// @notice Time of the message's first failure (kept across failed retries and
    ///         after a cancel), 0 if it is not recorded as failed.
    function failedAt(bytes32 id) external view returns (uint256) {
        return _failures[id].failedAt;
    }

    /// @notice Whether the owner cancelled the (failed) message.
    function isCancelled(bytes32 id) external view returns (bool) {
        return _failures[id].state == FailureState.Cancelled;
    }

    /// @notice Last timestamp at which {retry} of the message is allowed with the
    ///         current window (`failedAt + retryWindow`, capped at 2^256-1); 0 if the
    ///         message is not failed or was cancelled.
    function retryDeadline(bytes32 id) external view returns (uint256) {
        Failure memory f = _failures[id];
        if (f.state != FailureState.Failed) return 0;
        uint256 window = retryWindow;
        unchecked {
            uint256 deadline = f.failedAt + window;
            return deadline < window ? type(uint256).max : deadline;
        }
    }

    /// @notice Whether the message (origin, nonce) has been processed (delivered or failed).
    function isProcessed(uint32 origin, uint32 nonce) external view returns (bool) {
        uint256 wordKey = ((uint256(origin) << 32) | nonce) >> 8;
        // forge-lint: disable-next-line(incorrect-shift) -- shifting 1 left by the bit index is intended.
        return processedBitmap[wordKey] & (1 << (nonce & 0xff)) != 0;
    }

    /// @dev ids[i] = keccak256(messages[i]).
    function _messageIds(bytes[] calldata messages) private pure returns (bytes32[] memory ids) {
        uint256 count = messages.length;
        ids = new bytes32[](count);
        for (uint256 i; i < count; ++i) {
            ids[i] = messages[i].id();
        }
    }

    /// @dev keccak256 of the packed ids (= abi.encodePacked(ids), no length prefix).
    function _batchRoot(bytes32[] memory ids) private pure returns (bytes32 root) {
        assembly ("memory-safe") {
            root := keccak256(add(ids, 0x20), shl(5, mload(ids)))
        }
    }

    /// @dev Reverts unless `signatures` holds at least `threshold` valid signatures of
    ///      `digest` by enabled attesters with strictly increasing addresses.
    function _verifySignatures(bytes32 digest, bytes[] calldata signatures) private view {
        uint256 count = signatures.length;
        uint256 required = threshold;
        if (count < required) revert BelowThreshold(count, required);

        address prev = address(0);
        for (uint256 i; i < count; ++i) {
            bytes calldata sig = signatures[i];
            if (sig.length != 65) revert BadSignatureLength(i, sig.length);
            bytes32 r;
            bytes32 s;
            uint8 v;
            assembly {
                r := calldataload(sig.offset)
                s := calldataload(add(sig.offset, 0x20))
                v := byte(0, calldataload(add(sig.offset, 0x40)))
            }
            if (uint256(s) > HALF_CURVE_ORDER) revert MalleableSignature(i, s);
            if (v != 27 && v != 28) revert BadSignatureV(i, v);
            address signer = ecrecover(digest, v, r, s);
            if (signer == address(0)) revert InvalidSignature(i);
            if (signer <= prev) revert SignersNotSorted(prev, signer);
            if (!isAttester[signer]) revert NotAttester(signer);
            prev = signer;
        }
    }

    /// @dev Calls `recipient.handle(origin, sender, body)` with exactly handleGasLimit
    ///      gas and records the outcome (event; on failure a record with time `failedAt_`).
    ///      Never reverts because of the recipient; reverts with InsufficientGas if the
    ///      stipend cannot be guaranteed.
    function _handle(bytes32 id, uint32 originDomain, uint32 nonce, bytes calldata message, uint64 failedAt_) private {
        address recipient = message.recipientAddress();
        if (recipient.code.length == 0) {
            // A CALL to an account without code "succeeds"; treat it as a failure so
            // that the message can be retried once the recipient is deployed.
            _recordFailure(
                id, originDomain, nonce, failedAt_, abi.encodeWithSelector(RecipientHasNoCode.selector, recipient)
            );
        } else if (_callRecipient(recipient, originDomain, message)) {
            emit MessageDelivered(id, originDomain, nonce);
        } else {
            bytes memory reason;
            assembly ("memory-safe") {
                // Bounded copy: a recipient returning megabytes costs us nothing extra.
                let len := returndatasize()
                if gt(len, MAX_REASON_LENGTH) { len := MAX_REASON_LENGTH }
                reason := mload(0x40)
                mstore(reason, len)
                returndatacopy(add(reason, 0x20), 0, len)
                mstore(0x40, add(add(reason, 0x20), and(add(len, 0x1f), not(0x1f))))
            }
            _recordFailure(id, originDomain, nonce, failedAt_, reason);
        }
    }

    /// @dev The low-level CALL of `handle`. Returns whether it succeeded; return data
    ///      is left in the returndata buffer (never copied here).
    function _callRecipient(address recipient, uint32 originDomain, bytes calldata message)
        private
        returns (bool success)
    {
        // Build handle(origin, sender, body) calldata at the free memory pointer
        // without allocating it: the same scratch area serves every message. The
        // sender (offset 9) and body (offset 77..) are read straight from the message
        // in calldata (see {Message}); the body is copied exactly once.
        uint256 ptr;
        uint256 size;
        uint256 selectorWord = HANDLE_SELECTOR_WORD;
        assembly ("memory-safe") {
            let bodyLength := sub(message.length, 77)
            ptr := mload(0x40)
            mstore(ptr, selectorWord)
            mstore(add(ptr, 0x04), originDomain)
            mstore(add(ptr, 0x24), calldataload(add(message.offset, 9))) // sender
            mstore(add(ptr, 0x44), 0x60) // offset of `body` in the arguments
            mstore(add(ptr, 0x64), bodyLength)
            calldatacopy(add(ptr, 0x84), add(message.offset, 77), bodyLength)
            mstore(add(add(ptr, 0x84), bodyLength), 0) // zero the ABI padding
            size := add(0x84, and(add(bodyLength, 0x1f), not(0x1f)))
        }

        // EIP-150: the callee gets at most 63/64 of what is left. Make sure that is at
        // least handleGasLimit, otherwise a relayer could fail a message on purpose.
        uint256 minGas = _minGasBeforeHandle;
        if (gasleft() < minGas) revert InsufficientGas(gasleft(), minGas);

        uint256 gasLimit = handleGasLimit;
        assembly ("memory-safe") {
            // No output buffer: return data is never copied on success.
            success := call(gasLimit, recipient, 0, ptr, size, 0, 0)
        }
    }

    function _recordFailure(bytes32 id, uint32 origin, uint32 nonce, uint64 failedAt_, bytes memory reason) private {
        _failures[id] = Failure({state: FailureState.Failed, failedAt: failedAt_});
        emit MessageFailed(id, origin, nonce, reason);
    }
}
