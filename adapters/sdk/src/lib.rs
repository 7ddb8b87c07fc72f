//! The Switchyard SDK: what a protocol team needs to send a cross-chain
//! message through Switchyard and to find out where it is.
//!
//! - [`Message`] (re-exported from `switchyard-types`) is the wire format:
//!   build, [`encode`](Message::encode), [`decode`](Message::decode), and
//!   its [`id`](Message::id) (`keccak256` of the encoding), the key every
//!   Switchyard component uses for it.
//! - [`Sender`] dispatches through an origin chain's `Mailbox` with any
//!   alloy provider that can sign, and returns the message exactly as the
//!   Mailbox emitted it (nonce included), read back from the receipt.
//! - [`Tracker`] answers, on the destination chain, whether a message was
//!   delivered or failed (and why, and in which transaction), and waits for
//!   it.
//! - [`HubClient`] asks a hub's status API instead: every stage with its
//!   time (verified, queued, submitted, delivered), the origin block and
//!   transaction, the delivering transaction, or why it failed.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use alloy::network::EthereumWallet;
//! use alloy::providers::ProviderBuilder;
//! use alloy::signers::local::PrivateKeySigner;
//! use switchyard_sdk::{Address, Outcome, Sender, Tracker};
//!
//! # async fn run() -> Result<(), switchyard_sdk::SdkError> {
//! let key: PrivateKeySigner = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
//!     .parse()
//!     .expect("a key");
//! let origin = ProviderBuilder::new()
//!     .wallet(EthereumWallet::from(key))
//!     .connect_http("http://127.0.0.1:8545".parse().expect("url"));
//! let mailbox: Address = "0x5FbDB2315678afecb367f032d93F642f64180aa3".parse().expect("address");
//! let recipient: Address = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0".parse().expect("address");
//!
//! let sender = Sender::connect(origin, mailbox).await?;
//! let sent = sender.dispatch(2000, recipient.into_word(), b"hello".to_vec()).await?;
//! println!("message {} (nonce {})", sent.id, sent.message.nonce);
//!
//! let destination = ProviderBuilder::new().connect_http("http://127.0.0.1:9545".parse().expect("url"));
//! let inbox: Address = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512".parse().expect("address");
//! let tracker = Tracker::new(destination, inbox);
//! let delivery = tracker.wait(&sent.message, Duration::from_secs(120)).await?;
//! match delivery.outcome {
//!     Outcome::Delivered => println!("delivered in {:?}", delivery.tx_hash),
//!     Outcome::Failed { reason } => println!("the recipient reverted: {reason}"),
//! }
//! # Ok(())
//! # }
//! ```

use std::time::{Duration, Instant};

use alloy::primitives::Bytes;
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use switchyard_evm::bindings::{Inbox, Mailbox};

mod hub;

pub use alloy::primitives::{Address, B256};
pub use hub::{
    DestinationInfo, HubClient, MessageFields, MessageList, MessageQuery, MessageStatus,
    OriginInfo, Stage, StageAt,
};
pub use switchyard_types::{Domain, MESSAGE_VERSION, Message, id_of_encoded};

/// What can go wrong; [`SdkError::is_retryable`] says whether trying again
/// may succeed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SdkError {
    /// A node did not answer, or answered with an error.
    #[error("{what}: {reason}")]
    Rpc {
        /// The call.
        what: &'static str,
        /// The node's or transport's error.
        reason: String,
    },
    /// The dispatch transaction was mined but reverted.
    #[error("dispatch transaction {tx} reverted")]
    Reverted {
        /// The transaction.
        tx: B256,
    },
    /// The receipt holds no `Dispatch` event of this Mailbox.
    #[error("transaction {tx} emitted no Dispatch event of Mailbox {mailbox}")]
    NoDispatch {
        /// The transaction.
        tx: B256,
        /// The Mailbox asked.
        mailbox: Address,
    },
    /// A message that does not decode.
    #[error("message: {0}")]
    Message(#[from] switchyard_types::MessageError),
    /// A hub's status API did not answer, or refused the request.
    #[error("hub {url}: {reason}")]
    Hub {
        /// The request.
        url: String,
        /// The HTTP status, if there was an answer.
        status: Option<u16>,
        /// What went wrong (the hub's own error text when it gave one).
        reason: String,
    },
    /// Neither delivered nor failed within the time given.
    #[error("message {id} neither delivered nor failed after {waited:?}")]
    Timeout {
        /// The message.
        id: B256,
        /// How long was waited.
        waited: Duration,
    },
}

impl SdkError {
    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Rpc { .. } | Self::Timeout { .. } => true,
            // No answer, the hub's trouble (5xx) or its rate limit (429);
            // any other 4xx is the request's.
            Self::Hub { status, .. } => status.is_none_or(|s| s >= 500 || s == 429),
            _ => false,
        }
    }
}

fn rpc(what: &'static str) -> impl Fn(alloy::contract::Error) -> SdkError {
    move |e| SdkError::Rpc {
        what,
        reason: e.to_string(),
    }
}

/// A message as dispatched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatched {
    /// The message, as the Mailbox encoded it.
    pub message: Message,
    /// Its id.
    pub id: B256,
    /// The dispatch transaction.
    pub tx_hash: B256,
    /// Its block.
    pub block: u64,
}

/// Dispatches through the `Mailbox` of one origin chain.
#[derive(Debug, Clone)]
pub struct Sender<P> {
    mailbox: Mailbox::MailboxInstance<P>,
    origin: Domain,
}

impl<P: Provider + Clone> Sender<P> {
    /// A sender through `mailbox`, reading the chain's Switchyard domain
    /// from it. `provider` must be able to sign (an alloy provider with a
    /// wallet).
    pub async fn connect(provider: P, mailbox: Address) -> Result<Self, SdkError> {
        let mailbox = Mailbox::new(mailbox, provider);
        let origin = mailbox
            .localDomain()
            .call()
            .await
            .map_err(rpc("Mailbox.localDomain"))?;
        Ok(Self { mailbox, origin })
    }

    /// The origin chain's domain.
    pub fn origin(&self) -> Domain {
        self.origin
    }

    /// Dispatches `body` to `recipient` on `destination` and waits for the
    /// transaction; returns the message the Mailbox emitted.
    pub async fn dispatch(
        &self,
        destination: Domain,
        recipient: B256,
        body: impl Into<Bytes>,
    ) -> Result<Dispatched, SdkError> {
        let receipt = self
            .mailbox
            .dispatch(destination, recipient, body.into())
            .send()
            .await
            .map_err(rpc("Mailbox.dispatch"))?
            .get_receipt()
            .await
            .map_err(|e| SdkError::Rpc {
                what: "waiting for the dispatch receipt",
                reason: e.to_string(),
            })?;
        let tx = receipt.transaction_hash;
        if !receipt.status() {
            return Err(SdkError::Reverted { tx });
        }
        let mailbox = *self.mailbox.address();
        let log = receipt
            .inner
            .logs()
            .iter()
            .filter(|l| l.address() == mailbox)
            .find_map(|l| Mailbox::Dispatch::decode_log(&l.inner).ok())
            .ok_or(SdkError::NoDispatch { tx, mailbox })?;
        let message = Message::decode(&log.data.message)?;
        Ok(Dispatched {
            id: message.id(),
            message,
            tx_hash: tx,
            block: receipt.block_number.unwrap_or_default(),
        })
    }
}

/// How a message ended on its destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The recipient's `handle` succeeded.
    Delivered,
    /// The recipient reverted (or ran out of its gas); the Inbox recorded
    /// it and anyone may `retry` it.
    Failed {
        /// The revert data, hex.
        reason: String,
    },
}

/// Where a message ended, and in which transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Delivered or failed.
    pub outcome: Outcome,
    /// The transaction that processed it (the last one, for a retried
    /// failure), when the node still has the event.
    pub tx_hash: Option<B256>,
    /// Its block.
    pub block: Option<u64>,
}

/// Follows messages on one destination `Inbox`.
#[derive(Debug, Clone)]
pub struct Tracker<P> {
    inbox: Inbox::InboxInstance<P>,
    poll: Duration,
}

impl<P: Provider + Clone> Tracker<P> {
    /// A tracker of `inbox` (any provider: it only reads).
    pub fn new(provider: P, inbox: Address) -> Self {
        Self {
            inbox: Inbox::new(inbox, provider),
            poll: Duration::from_millis(500),
        }
    }

    /// Polls every `poll` instead of 500 ms.
    pub fn with_poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// Where `message` is now: `None` while it is not processed.
    pub async fn status(&self, message: &Message) -> Result<Option<Delivery>, SdkError> {
        let processed = self
            .inbox
            .isProcessed(message.origin, message.nonce)
            .call()
            .await
            .map_err(rpc("Inbox.isProcessed"))?;
        if !processed {
            return Ok(None);
        }
        let id = message.id();
        let failed = self
            .inbox
            .failed(id)
            .call()
            .await
            .map_err(rpc("Inbox.failed"))?;
        // The event names the transaction; the id is its first topic.
        let filter = Filter::new()
            .address(*self.inbox.address())
            .event_signature(vec![
                Inbox::MessageDelivered::SIGNATURE_HASH,
                Inbox::MessageFailed::SIGNATURE_HASH,
            ])
            .topic1(id)
            .from_block(0);
        let logs = self
            .inbox
            .provider()
            .get_logs(&filter)
            .await
            .map_err(|e| SdkError::Rpc {
                what: "eth_getLogs on the Inbox",
                reason: e.to_string(),
            })?;
        let last = logs.last();
        let reason = last
            .and_then(|l| Inbox::MessageFailed::decode_log(&l.inner).ok())
            .map(|e| alloy::hex::encode_prefixed(&e.data.reason))
            .unwrap_or_default();
        Ok(Some(Delivery {
            outcome: if failed {
                Outcome::Failed { reason }
            } else {
                Outcome::Delivered
            },
            tx_hash: last.and_then(|l| l.transaction_hash),
            block: last.and_then(|l| l.block_number),
        }))
    }

    /// Waits until `message` is delivered or failed, at most `timeout`.
    pub async fn wait(&self, message: &Message, timeout: Duration) -> Result<Delivery, SdkError> {
        let start = Instant::now();
        loop {
            if let Some(d) = self.status(message).await? {
                return Ok(d);
            }
            if start.elapsed() >= timeout {
                return Err(SdkError::Timeout {
                    id: message.id(),
                    waited: start.elapsed(),
                });
            }
            tokio::time::sleep(self.poll.min(timeout.saturating_sub(start.elapsed()))).await;
        }
    }
}
