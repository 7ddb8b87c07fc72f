//! Development-network helpers: deploy the contracts, send traffic, read the
//! events that prove delivery. Used by `switchyard devnet`, `switchyard
//! bench --sink anvil` and the tests; never by the hub itself.

use std::time::Duration;

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::Encodable2718;
use alloy::network::TxSignerSync;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::types::{Filter, TransactionReceipt};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolConstructor, SolEvent};

use switchyard_evm::EvmError;
use switchyard_evm::bindings::{Inbox, Mailbox, TestRecipient};

/// anvil's well-known development keys (mnemonic "test test ... junk"): public
/// test keys, never real secrets.
pub const ANVIL_KEYS: [&str; 10] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];

fn rpc_err(method: &'static str, e: impl std::fmt::Display) -> EvmError {
    EvmError::Rpc {
        method,
        endpoint: "devnet".into(),
        message: switchyard_types::redact::urls_in(&e.to_string()),
    }
}

/// A development account that signs locally and tracks its own nonce, so a
/// devnet can push thousands of transactions without a round trip each.
#[derive(Debug)]
pub struct DevWallet {
    provider: RootProvider,
    signer: PrivateKeySigner,
    chain_id: u64,
    nonce: u64,
}

impl DevWallet {
    /// Connects to `url` with `key`.
    pub async fn connect(url: &str, key: &str) -> Result<Self, EvmError> {
        let provider = RootProvider::new_http(url.parse().map_err(|e| EvmError::Malformed {
            what: "rpc url",
            reason: format!("{e}"),
        })?);
        let signer: PrivateKeySigner = key.parse().map_err(|_| EvmError::Key {
            what: "devnet key".into(),
            reason: "expected a 32-byte hex key".into(),
        })?;
        let chain_id = provider
            .get_chain_id()
            .await
            .map_err(|e| rpc_err("eth_chainId", e))?;
        let nonce = provider
            .get_transaction_count(signer.address())
            .pending()
            .await
            .map_err(|e| rpc_err("eth_getTransactionCount", e))?;
        Ok(Self {
            provider,
            signer,
            chain_id,
            nonce,
        })
    }

    /// The account's address.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The provider.
    pub fn provider(&self) -> &RootProvider {
        &self.provider
    }

    /// Signs and broadcasts a transaction without waiting for it.
    pub async fn send(
        &mut self,
        to: Option<Address>,
        input: Bytes,
        gas: u64,
    ) -> Result<B256, EvmError> {
        let mut tx = TxEip1559 {
            chain_id: self.chain_id,
            nonce: self.nonce,
            gas_limit: gas,
            max_fee_per_gas: 100_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            to: to.map_or(TxKind::Create, TxKind::Call),
            value: U256::ZERO,
            access_list: Default::default(),
            input,
        };
        let sig = self
            .signer
            .sign_transaction_sync(&mut tx)
            .map_err(|e| EvmError::Key {
                what: "devnet key".into(),
                reason: e.to_string(),
            })?;
        let signed = tx.into_signed(sig);
        let hash = *signed.hash();
        let raw = TxEnvelope::from(signed).encoded_2718();
        let _pending = self
            .provider
            .send_raw_transaction(&raw)
            .await
            .map_err(|e| rpc_err("eth_sendRawTransaction", e))?;
        self.nonce += 1;
        Ok(hash)
    }

    /// Waits for the receipt of `hash` (up to `timeout`); errors if reverted.
    pub async fn wait(
        &self,
        hash: B256,
        timeout: Duration,
    ) -> Result<TransactionReceipt, EvmError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(r) = self
                .provider
                .get_transaction_receipt(hash)
                .await
                .map_err(|e| rpc_err("eth_getTransactionReceipt", e))?
            {
                if !r.status() {
                    return Err(EvmError::Reverted {
                        tx_hash: hash.to_string(),
                        block: r.block_number.unwrap_or_default(),
                    });
                }
                return Ok(r);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(EvmError::Timeout {
                    method: "eth_getTransactionReceipt",
                    after: timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Deploys `bytecode ‖ constructor_args` and returns the contract address.
    pub async fn deploy(
        &mut self,
        bytecode: &Bytes,
        constructor_args: &[u8],
    ) -> Result<Address, EvmError> {
        let mut input = bytecode.to_vec();
        input.extend_from_slice(constructor_args);
        let hash = self.send(None, input.into(), 6_000_000).await?;
        let r = self.wait(hash, Duration::from_secs(60)).await?;
        r.contract_address.ok_or_else(|| EvmError::Malformed {
            what: "deployment receipt",
            reason: "no contractAddress".into(),
        })
    }
}

/// The contracts of one devnet chain.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Deployment {
    /// Mailbox (origin side).
    pub mailbox: Address,
    /// Inbox (destination side).
    pub inbox: Address,
    /// TestRecipient registered with the Inbox.
    pub recipient: Address,
    /// Block of the last deployment transaction.
    pub block: u64,
}

/// Deploys Mailbox, Inbox (`attesters`, `threshold`) and a TestRecipient.
pub async fn deploy_all(
    wallet: &mut DevWallet,
    artifacts: &std::path::Path,
    domain: u32,
    attesters: Vec<Address>,
    threshold: u64,
    handle_gas_limit: u64,
) -> Result<Deployment, EvmError> {
    let mailbox_code = switchyard_evm::bindings::load_bytecode(artifacts, "Mailbox")?;
    let inbox_code = switchyard_evm::bindings::load_bytecode(artifacts, "Inbox")?;
    let recipient_code = switchyard_evm::bindings::load_bytecode(artifacts, "TestRecipient")?;
    let mailbox = wallet
        .deploy(
            &mailbox_code,
            &Mailbox::constructorCall {
                localDomain: domain,
            }
            .abi_encode(),
        )
        .await?;
    let inbox = wallet
        .deploy(
            &inbox_code,
            &Inbox::constructorCall {
                localDomain: domain,
                attesters,
                threshold: U256::from(threshold),
                handleGasLimit: U256::from(handle_gas_limit),
            }
            .abi_encode(),
        )
        .await?;
    let recipient = wallet
        .deploy(
            &recipient_code,
            &TestRecipient::constructorCall { inbox }.abi_encode(),
        )
        .await?;
    let block = wallet
        .provider()
        .get_block_number()
        .await
        .map_err(|e| rpc_err("eth_blockNumber", e))?;
    Ok(Deployment {
        mailbox,
        inbox,
        recipient,
        block,
    })
}

/// Deploys one more TestRecipient accepting calls from `inbox`.
pub async fn deploy_recipient(
    wallet: &mut DevWallet,
    artifacts: &std::path::Path,
    inbox: Address,
) -> Result<Address, EvmError> {
    let code = switchyard_evm::bindings::load_bytecode(artifacts, "TestRecipient")?;
    wallet
        .deploy(
            &code,
            &TestRecipient::constructorCall { inbox }.abi_encode(),
        )
        .await
}

/// Deploys the example `PingPong` app answering up to `max_hops`.
pub async fn deploy_ping_pong(
    wallet: &mut DevWallet,
    artifacts: &std::path::Path,
    mailbox: Address,
    inbox: Address,
    max_hops: u32,
) -> Result<Address, EvmError> {
    let code = switchyard_evm::bindings::load_bytecode(artifacts, "PingPong")?;
    wallet
        .deploy(
            &code,
            &switchyard_evm::bindings::PingPong::constructorCall {
                mailbox,
                inbox,
                maxHops: max_hops,
            }
            .abi_encode(),
        )
        .await
}

/// `Mailbox.dispatchMany` calldata.
pub fn dispatch_many_calldata(destination: u32, recipient: Address, bodies: Vec<Bytes>) -> Bytes {
    Mailbox::dispatchManyCall {
        destination,
        recipient: recipient.into_word(),
        bodies,
    }
    .abi_encode()
    .into()
}

/// One `TestRecipient.Received` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Origin domain.
    pub origin: u32,
    /// Sender on the origin.
    pub sender: B256,
    /// Body delivered.
    pub body: Bytes,
    /// Destination transaction.
    pub tx_hash: Option<B256>,
}

/// All `Received` events of `recipient` from block `from` on.
pub async fn received_events(
    provider: &RootProvider,
    recipient: Address,
    from: u64,
) -> Result<Vec<Received>, EvmError> {
    let filter = Filter::new()
        .address(recipient)
        .event_signature(TestRecipient::Received::SIGNATURE_HASH)
        .from_block(from);
    let logs = provider
        .get_logs(&filter)
        .await
        .map_err(|e| rpc_err("eth_getLogs", e))?;
    logs.into_iter()
        .map(|l| {
            let tx_hash = l.transaction_hash;
            let ev =
                TestRecipient::Received::decode_log(&l.inner).map_err(|e| EvmError::Malformed {
                    what: "Received event",
                    reason: e.to_string(),
                })?;
            Ok(Received {
                origin: ev.data.origin,
                sender: ev.data.sender,
                body: ev.data.body,
                tx_hash,
            })
        })
        .collect()
}
