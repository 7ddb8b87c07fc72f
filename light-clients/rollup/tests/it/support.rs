//! Targets and helpers shared by the vector and mutation tests.

use alloy_primitives::{Address, address};
use switchyard_lc_rollup::{Bundle, Settlement, Target};

/// The BoLD Rollup proxy of Arbitrum Sepolia on Ethereum Sepolia, as the
/// upstream tests name it (`_L2_ORACLE_ATTRIBUTE_SELECTOR`).
pub(crate) const ARB_SEPOLIA_ROLLUP: Address = address!("042B2E6C5E99d4c521bd49beeD5E99651D9B0Cf4");

/// The inbox the upstream Arbitrum tests name. The vector's L2 proof is of
/// another account (its hashed key is `0x99f21bbc…89bd`), which the vector
/// does not record.
pub(crate) const ARB_UPSTREAM_INBOX: Address = address!("49E2cDC9e81825B6C718ae8244fe0D5b062F4874");

/// The OP devnet's AnchorStateRegistry on L1 and the RIP-7755 inbox on L2
/// (anvil's second deployment address on both chains).
pub(crate) const OP_DEVNET_CONTRACT: Address = address!("e7f1725E7734CE288F8367e1Bb143E90bb3F0512");

/// The Arbitrum vectors' target; the L2 account is left out (see
/// [`ARB_UPSTREAM_INBOX`]).
pub(crate) fn arbitrum_target() -> Target {
    Target {
        settlement: Settlement::ArbitrumRollup {
            rollup: ARB_SEPOLIA_ROLLUP,
        },
        l2_account: None,
    }
}

/// The OP vectors' target: the anchor of game type 0 (CANNON) and the L2
/// inbox.
pub(crate) fn op_target() -> Target {
    Target {
        settlement: Settlement::OpAnchorStateRegistry {
            registry: OP_DEVNET_CONTRACT,
            game_type: 0,
        },
        l2_account: Some(OP_DEVNET_CONTRACT),
    }
}

/// The bundle without its L2 storage proof.
pub(crate) fn without_l2_proof(bundle: &Bundle) -> Bundle {
    let mut b = bundle.clone();
    match &mut b {
        Bundle::Arbitrum(a) => a.dst_l2_account_proof_params = None,
        Bundle::OpStack(o) => o.dst_l2_account_proof_params = None,
        _ => unreachable!("two kinds"),
    }
    b
}
