//! Delivery signers' balances: a gauge per (chain, signer) for dashboards
//! and a low-balance flag with a warning, before a key runs dry and its
//! transactions stop being accepted.

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::U256;
use switchyard_evm::EvmError;
use switchyard_evm::submitter::Signers;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::metrics::Metrics;
use crate::tasks::sleep_or_shutdown;

/// Reads each signer's balance every `every` and publishes it.
#[derive(Debug)]
pub struct BalanceMonitor {
    chain: String,
    signers: Arc<Signers>,
    metrics: Metrics,
    low: U256,
    every: Duration,
}

/// Wei in an ether.
const WEI_PER_ETH: f64 = 1e18;

impl BalanceMonitor {
    /// Watches `signers` of `chain`; under `low_eth` ether a signer is low.
    pub fn new(
        chain: &str,
        signers: Arc<Signers>,
        metrics: Metrics,
        low_eth: f64,
        every: Duration,
    ) -> Self {
        // Thresholds are operator-sized (a fraction of an ether to a few);
        // f64 precision is ample for them.
        let low = U256::from((low_eth.max(0.0) * WEI_PER_ETH) as u128);
        Self {
            chain: chain.to_owned(),
            signers,
            metrics,
            low,
            every,
        }
    }

    /// One reading of every signer. Returns the first RPC error after
    /// trying them all.
    pub async fn check_once(&self) -> Result<(), EvmError> {
        let mut first_err = None;
        for s in self.signers.submitters() {
            let signer = s.address().to_string();
            match s.balance().await {
                Ok(wei) => {
                    let eth = u128::try_from(wei).unwrap_or(u128::MAX) as f64 / WEI_PER_ETH;
                    self.metrics
                        .signer_balance
                        .with_label_values(&[&self.chain, &signer])
                        .set(eth);
                    let low = wei < self.low;
                    self.metrics
                        .signer_balance_low
                        .with_label_values(&[&self.chain, &signer])
                        .set(i64::from(low));
                    if low {
                        warn!(chain = %self.chain, %signer, balance_eth = eth, "delivery signer balance is low: top it up before its transactions are refused");
                    }
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            if let Err(e) = self.check_once().await {
                warn!(chain = %self.chain, err = %e, "reading signer balances failed");
            }
            if sleep_or_shutdown(self.every, &shutdown).await {
                break;
            }
        }
    }
}
