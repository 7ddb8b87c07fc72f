// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {TestBase} from "./Vm.sol";
import {Inbox} from "../src/Inbox.sol";
import {Message} from "../src/Message.sol";
import {TestRecipient} from "../src/test/TestRecipient.sol";
import {IMessageRecipient} from "../src/IMessageRecipient.sol";

/// @notice Recipient doing nothing: the "trivial recipient" of the gas benchmark.
contract NoopRecipient is IMessageRecipient {
    function handle(uint32, bytes32, bytes calldata) external {}
}

/// @notice Recipient that reverts unless it was given at least `minGas` at entry:
///         used to check that a relayer cannot fail a message by under-funding gas.
contract NeedsFullStipend is IMessageRecipient {
    uint256 public minGas;
    uint256 public lastGas;
    uint256 public calls;

    function setMinGas(uint256 minGas_) external {
        minGas = minGas_;
    }

    function handle(uint32, bytes32, bytes calldata) external {
        uint256 g = gasleft();
        if (g < minGas) revert("starved");
        lastGas = g;
        ++calls;
    }
}

/// @notice Recipient returning (via revert) a huge buffer: returndata bombing attempt.
contract ReturnBomb is IMessageRecipient {
    function handle(uint32, bytes32, bytes calldata) external pure {
        assembly {
            revert(0, 100000)
        }
    }
}

/// @notice Shared helpers: attester keys, independent EIP-712 digest computation,
///         message construction and signing.
abstract contract InboxFixture is TestBase {
    uint32 internal constant ORIGIN = 1000;
    uint32 internal constant LOCAL = 2000;
    uint256 internal constant HANDLE_GAS = 200_000;
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    bytes32 internal constant SENDER = bytes32(uint256(0xBEEF));

    uint256[] internal keys; // attester private keys, sorted by address
    uint32 internal nextNonce;

    /// @dev `count` attester keys, sorted by increasing address.
    function makeKeys(uint256 count, uint256 seed) internal pure returns (uint256[] memory out) {
        out = new uint256[](count);
        for (uint256 i; i < count; ++i) {
            out[i] = uint256(keccak256(abi.encode("attester", seed, i))) % (SECP256K1_N - 1) + 1;
        }
        // insertion sort by address
        for (uint256 i = 1; i < count; ++i) {
            uint256 k = out[i];
            uint256 j = i;
            while (j > 0 && vm.addr(out[j - 1]) > vm.addr(k)) {
                out[j] = out[j - 1];
                --j;
            }
            out[j] = k;
        }
    }

    function addrs(uint256[] memory ks) internal pure returns (address[] memory out) {
        out = new address[](ks.length);
        for (uint256 i; i < ks.length; ++i) {
            out[i] = vm.addr(ks[i]);
        }
    }

    function deployInbox(uint256 attesters, uint256 threshold) internal returns (Inbox inbox) {
        keys = makeKeys(attesters, 1);
        inbox = new Inbox(LOCAL, addrs(keys), threshold, HANDLE_GAS);
    }

    function message(uint32 nonce, uint32 destination, address recipient, bytes memory body)
        internal
        pure
        returns (bytes memory)
    {
        return Message.formatMemory(3, nonce, ORIGIN, SENDER, destination, bytes32(uint256(uint160(recipient))), body);
    }

    /// @dev A fresh message (next nonce) for `recipient` on LOCAL.
    function freshMessage(address recipient, bytes memory body) internal returns (bytes memory) {
        return message(nextNonce++, LOCAL, recipient, body);
    }

    // ---- independent EIP-712 computation (does not call the Inbox) ----

    function expectedDomainSeparator(uint256 chainId, address verifyingContract) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256(bytes("Switchyard Inbox")),
                keccak256(bytes("1")),
                chainId,
                verifyingContract
            )
        );
    }

    function expectedRoot(bytes[] memory msgs) internal pure returns (bytes32) {
        bytes memory packed;
        for (uint256 i; i < msgs.length; ++i) {
            packed = bytes.concat(packed, keccak256(msgs[i]));
        }
        return keccak256(packed);
    }

    function expectedDigest(bytes[] memory msgs, uint256 chainId, address verifyingContract)
        internal
        pure
        returns (bytes32)
    {
        bytes32 structHash = keccak256(abi.encode(keccak256("Batch(bytes32 root)"), expectedRoot(msgs)));
        return keccak256(abi.encodePacked("\x19\x01", expectedDomainSeparator(chainId, verifyingContract), structHash));
    }

    function signDigest(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @dev Signatures of `msgs` for `inbox` on the current chain by keys[idx[0]], keys[idx[1]], ... (in that order).
    function signBatch(Inbox inbox, bytes[] memory msgs, uint256[] memory idx)
        internal
        view
        returns (bytes[] memory sigs)
    {
        bytes32 digest = expectedDigest(msgs, block.chainid, address(inbox));
        sigs = new bytes[](idx.length);
        for (uint256 i; i < idx.length; ++i) {
            sigs[i] = signDigest(keys[idx[i]], digest);
        }
    }

    /// @dev Signatures by the first `n` attesters (sorted, so valid ordering).
    function signFirst(Inbox inbox, bytes[] memory msgs, uint256 n) internal view returns (bytes[] memory) {
        uint256[] memory idx = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            idx[i] = i;
        }
        return signBatch(inbox, msgs, idx);
    }

    function one(bytes memory m) internal pure returns (bytes[] memory out) {
        out = new bytes[](1);
        out[0] = m;
    }

    function idx2(uint256 a, uint256 b) internal pure returns (uint256[] memory out) {
        out = new uint256[](2);
        out[0] = a;
        out[1] = b;
    }
}
