//! ABI of Switchyard's contracts (`adapters/contracts/src`), declared here by
//! hand so the Rust build does not depend on a Solidity toolchain; a test
//! checks these declarations against the compiled artifacts' ABI. Bytecode is
//! loaded at run time from the artifacts ([`load_bytecode`]).

use std::path::{Path, PathBuf};

use alloy::primitives::Bytes;
use alloy::sol;

use crate::EvmError;

sol! {
    /// Origin side: assigns nonces and emits encoded messages.
    #[sol(rpc)]
    contract Mailbox {
        constructor(uint32 localDomain);
        event Dispatch(address indexed sender, uint32 indexed destination, bytes32 indexed recipient, bytes message);
        function localDomain() external view returns (uint32);
        function nonce() external view returns (uint32);
        function dispatch(uint32 destination, bytes32 recipient, bytes calldata body) external returns (bytes32 id);
        function dispatchMany(uint32 destination, bytes32 recipient, bytes[] calldata bodies) external returns (uint32 firstNonce);
    }

    /// Destination side: checks threshold attestations, replay, calls recipients.
    #[sol(rpc)]
    contract Inbox {
        constructor(uint32 localDomain, address[] attesters, uint256 threshold, uint256 handleGasLimit);
        event MessageDelivered(bytes32 indexed id, uint32 indexed origin, uint32 nonce);
        event MessageFailed(bytes32 indexed id, uint32 indexed origin, uint32 nonce, bytes reason);
        event AttesterSet(address indexed attester, bool enabled);
        event ThresholdSet(uint256 threshold);
        event DomainAliasSet(uint32 indexed domain, bool accepted);
        event MessageRetried(bytes32 indexed id, bool delivered);
        event MessageCancelled(bytes32 indexed id, uint256 failedAt);
        event RetryWindowSet(uint256 window);
        error NotOwner(address caller);
        error NotFailed(bytes32 id);
        error AlreadyCancelled(bytes32 id);
        error RetryWindowClosed(bytes32 id, uint256 failedAt, uint256 deadline);
        function deliver(bytes[] calldata messages, bytes[] calldata signatures) external;
        /// Anyone, within `retryWindow` seconds of the first failure, unless cancelled.
        function retry(bytes calldata message) external;
        /// Owner only: the failed message is never retried nor delivered afterwards.
        function cancel(bytes32 id) external;
        function setRetryWindow(uint256 window) external;
        function retryWindow() external view returns (uint256);
        function failedAt(bytes32 id) external view returns (uint256);
        function isCancelled(bytes32 id) external view returns (bool);
        function retryDeadline(bytes32 id) external view returns (uint256);
        function batchRoot(bytes[] calldata messages) external pure returns (bytes32);
        function batchDigest(bytes32 root) external view returns (bytes32);
        function domainSeparator() external view returns (bytes32);
        function isProcessed(uint32 origin, uint32 nonce) external view returns (bool);
        function failed(bytes32 id) external view returns (bool);
        function threshold() external view returns (uint256);
        function attesterCount() external view returns (uint256);
        function handleGasLimit() external view returns (uint256);
        function owner() external view returns (address);
        function isAttester(address attester) external view returns (bool);
        function localDomain() external view returns (uint32);
        function setAttester(address attester, bool enabled) external;
        function setThreshold(uint256 threshold) external;
        function setDomainAlias(uint32 domain, bool accepted) external;
        function isDomainAlias(uint32 domain) external view returns (bool);
    }

    /// A recipient for devnets and tests: records every delivery.
    #[sol(rpc)]
    contract TestRecipient {
        constructor(address inbox);
        event Received(uint32 indexed origin, bytes32 indexed sender, bytes body);
        function received() external view returns (uint256);
        function setMode(uint8 mode) external;
    }

    /// The example application (`src/examples/PingPong.sol`): pings and
    /// pongs between two chains through their Mailboxes, on the `Receiver`
    /// base (only the Inbox calls `handle`; allow-listed origins and
    /// senders).
    #[sol(rpc)]
    contract PingPong {
        constructor(address mailbox, address inbox, uint32 maxHops);
        event PingSent(bytes32 indexed rally, uint32 indexed destination, bytes32 indexed peer, uint32 hop, bytes32 messageId);
        event PongSent(bytes32 indexed rally, uint32 indexed destination, bytes32 indexed peer, uint32 hop, bytes32 messageId);
        event PingReceived(bytes32 indexed rally, uint32 indexed origin, bytes32 indexed sender, uint32 hop);
        event PongReceived(bytes32 indexed rally, uint32 indexed origin, bytes32 indexed sender, uint32 hop);
        event RallyEnded(bytes32 indexed rally, uint32 hops);
        function ping(uint32 destination, bytes32 peer) external returns (bytes32 rally, bytes32 messageId);
        function setOrigin(uint32 origin, bool allowed) external;
        function setSender(uint32 origin, bytes32 sender, bool allowed) external;
        function pingsSent() external view returns (uint256);
        function pongsSent() external view returns (uint256);
        function pingsReceived() external view returns (uint256);
        function pongsReceived() external view returns (uint256);
    }

    /// EIP-712 struct the attesters sign (domain: "Switchyard Inbox", "1",
    /// chain id, Inbox address).
    struct Batch {
        bytes32 root;
    }
}

sol! {
    /// The OP Stack's dispute games (`IDisputeGame`, op-contracts): the
    /// getters a rollup origin asks which block a game is about. Not
    /// Switchyard's contract (no artifact here); what they return is a
    /// hint, which the DisputeGameFactory's storage then binds.
    interface IDisputeGame {
        function rootClaim() external pure returns (bytes32);
        function extraData() external pure returns (bytes memory);
    }
}

// The event's constructor takes its nine fields, as the deployed event has.
#[allow(clippy::too_many_arguments)]
mod bold {
    use alloy::sol;

    sol! {
        /// Arbitrum's BoLD Rollup contract (OffchainLabs nitro-contracts 3.x,
        /// `IRollupCore`): what a rollup origin asks to find the assertion to
        /// prove. Not Switchyard's contract; what it returns and emits is a
        /// hint, which the `_assertions` storage proof then binds.
        interface IBoldRollup {
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
            function latestConfirmed() external view returns (bytes32);
        }
    }
}

pub use bold::IBoldRollup;

/// Where `forge build` writes artifacts, relative to the repository root.
pub const ARTIFACTS_DIR: &str = "adapters/contracts/out";

/// The artifact path of `contract` under `out_dir`.
pub fn artifact_path(out_dir: &Path, contract: &str) -> PathBuf {
    out_dir
        .join(format!("{contract}.sol"))
        .join(format!("{contract}.json"))
}

/// Reads the creation bytecode of `contract` from its forge artifact.
pub fn load_bytecode(out_dir: &Path, contract: &str) -> Result<Bytes, EvmError> {
    let path = artifact_path(out_dir, contract);
    let err = |reason: String| EvmError::Artifact {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| err(format!("{e} (run deploy/setup.sh to build the contracts)")))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| err(format!("not JSON: {e}")))?;
    let hex = json
        .pointer("/bytecode/object")
        .and_then(|v| v.as_str())
        .ok_or_else(|| err("no bytecode.object".into()))?;
    let bytes: Bytes = hex
        .parse()
        .map_err(|e| err(format!("bytecode is not hex: {e}")))?;
    if bytes.is_empty() {
        return Err(err(
            "empty bytecode (abstract contract or interface?)".into()
        ));
    }
    Ok(bytes)
}

/// Reads the ABI's function and event signatures of `contract`, e.g.
/// `deliver(bytes[],bytes[])`, so tests can compare them with the bindings.
pub fn load_abi_signatures(out_dir: &Path, contract: &str) -> Result<Vec<String>, EvmError> {
    let path = artifact_path(out_dir, contract);
    let err = |reason: String| EvmError::Artifact {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| err(format!("not JSON: {e}")))?;
    let abi = json
        .get("abi")
        .and_then(|a| a.as_array())
        .ok_or_else(|| err("no abi".into()))?;
    let mut out = Vec::new();
    for item in abi {
        let kind = item
            .get("type")
            .and_then(|t| t.as_str())
            .unwrap_or_default();
        if kind != "function" && kind != "event" {
            continue;
        }
        let name = item
            .get("name")
            .and_then(|t| t.as_str())
            .unwrap_or_default();
        let inputs = item
            .get("inputs")
            .and_then(|i| i.as_array())
            .map(|ins| {
                ins.iter()
                    .map(|i| i.get("type").and_then(|t| t.as_str()).unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        out.push(format!("{kind} {name}({inputs})"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use alloy::sol_types::SolEvent;

    use super::IBoldRollup;

    /// The declaration is the deployed contract's: its event's topic is the
    /// one BoLD Rollups emit (nitro-contracts' generated Go bindings name
    /// `0x901c3aee…`).
    #[test]
    fn bold_assertion_created_topic_is_the_deployed_one() {
        assert_eq!(
            IBoldRollup::AssertionCreated::SIGNATURE_HASH.to_string(),
            "0x901c3aee23cf4478825462caaab375c606ab83516060388344f0650340753630"
        );
    }
}
