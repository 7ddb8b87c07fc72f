//! The balance monitor against a real anvil chain: every delivery signer's
//! balance is published, and those under the threshold are flagged.

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::Address;
use switchyard::balance::BalanceMonitor;
use switchyard::metrics::Metrics;
use switchyard_evm::attest::Attester;
use switchyard_evm::rpc::{RpcPolicy, RpcPool};
use switchyard_evm::submitter::{EvmSubmitter, Signers, SubmitterConfig};
use switchyard_localnet::evm::ANVIL_KEYS;
use switchyard_localnet::procs::Anvil;

const CHAIN_ID: u64 = 7_001;

fn address_of(key: &str) -> Address {
    Attester::from_hex(key, "test key")
        .expect("anvil dev keys are valid")
        .address()
}

#[tokio::test]
async fn signer_balances_are_published_and_low_ones_flagged() {
    let anvil = Anvil::spawn(CHAIN_ID, 0.2).expect("anvil starts (deploy/setup.sh)");
    // Balances need no contract: the signers' Inbox is never called.
    let submitter = |key: &str| {
        let pool = RpcPool::new(
            "dest",
            std::slice::from_ref(&anvil.url),
            RpcPolicy::default(),
        )
        .expect("valid url");
        EvmSubmitter::new(
            pool,
            key,
            "test submitter key",
            SubmitterConfig::new(CHAIN_ID, Address::ZERO),
        )
        .expect("valid submitter key")
    };
    let signers = Arc::new(
        Signers::new(
            vec![submitter(ANVIL_KEYS[2]), submitter(ANVIL_KEYS[3])],
            "test keys",
        )
        .expect("distinct keys"),
    );
    let metrics = Metrics::new();
    // anvil funds each dev account with 10,000 ether.
    for (low_eth, flag) in [(0.1, 0), (20_000.0, 1)] {
        BalanceMonitor::new(
            "dest",
            Arc::clone(&signers),
            metrics.clone(),
            low_eth,
            Duration::from_secs(30),
        )
        .check_once()
        .await
        .expect("balances read");
        for k in [ANVIL_KEYS[2], ANVIL_KEYS[3]] {
            let signer = address_of(k).to_string();
            let eth = metrics
                .signer_balance
                .with_label_values(&["dest", &signer])
                .get();
            assert!((9_000.0..=10_000.0).contains(&eth), "{signer}: {eth}");
            assert_eq!(
                metrics
                    .signer_balance_low
                    .with_label_values(&["dest", &signer])
                    .get(),
                flag,
                "threshold {low_eth}"
            );
        }
    }
    let text = metrics.render();
    assert!(
        text.contains("switchyard_signer_balance_eth{destination=\"dest\",signer=\"0x"),
        "{text}"
    );
}
