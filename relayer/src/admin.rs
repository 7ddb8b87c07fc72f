//! Dead-letter administration, shared by the CLI (`switchyard dlq ...`) and
//! the admin HTTP API (`/admin/dlq/...`, bearer token required).

use alloy_primitives::keccak256;
use serde::Serialize;
use switchyard_types::Message;

use crate::config::Config;
use crate::store::{DeadLetter, DeadLetters, LaneEntry, StoreError};

/// Errors of an admin operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// No configured chain has that name.
    #[error("unknown chain {got:?}: expected one of {expected}")]
    UnknownChain {
        /// Name given.
        got: String,
        /// Configured names.
        expected: String,
    },
    /// The queue.
    #[error(transparent)]
    Queue(#[from] StoreError),
}

/// A message inside a dead letter, as shown by `dlq show`.
#[derive(Debug, Clone, Serialize)]
pub struct MessageSummary {
    /// Message id.
    pub id: String,
    /// Origin domain.
    pub origin: u32,
    /// Origin nonce.
    pub nonce: u32,
    /// Sender.
    pub sender: String,
    /// Recipient.
    pub recipient: String,
    /// Body length.
    pub body_len: usize,
}

/// A dead letter with its messages.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetterDetail {
    /// Summary.
    #[serde(flatten)]
    pub letter: DeadLetter,
    /// Its messages, if the body decodes.
    pub message_list: Vec<MessageSummary>,
}

/// Dead-letter operations on the lanes of `cfg`'s chains.
#[derive(Debug, Clone)]
pub struct Admin {
    dead: DeadLetters,
    chains: Vec<(String, u32)>,
    shards: u16,
}

impl Admin {
    /// Over `dead`, for the chains and shard count of `cfg`.
    pub fn new(dead: DeadLetters, cfg: &Config) -> Self {
        Self {
            dead,
            chains: cfg
                .chains
                .iter()
                .map(|c| (c.name.clone(), c.domain))
                .collect(),
            shards: cfg.dispatcher.lane_shards,
        }
    }

    fn domain(&self, chain: &str) -> Result<u32, AdminError> {
        self.chains
            .iter()
            .find(|(n, _)| n == chain)
            .map(|(_, d)| *d)
            .ok_or_else(|| AdminError::UnknownChain {
                got: chain.to_owned(),
                expected: self
                    .chains
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Dead letters of destination `chain`.
    pub async fn list(&self, chain: &str) -> Result<Vec<DeadLetter>, AdminError> {
        Ok(self
            .dead
            .dead_letters(self.domain(chain)?, self.shards)
            .await?)
    }

    /// One dead letter with its messages.
    pub async fn show(&self, chain: &str, reference: &str) -> Result<DeadLetterDetail, AdminError> {
        let (letter, body) = self
            .dead
            .dead_letter_detail(self.domain(chain)?, reference)
            .await?;
        let message_list = LaneEntry::decode(&letter.entry_id, &body)
            .map(|e| {
                e.messages
                    .iter()
                    .filter_map(|raw| {
                        let m = Message::decode(raw).ok()?;
                        Some(MessageSummary {
                            id: keccak256(raw).to_string(),
                            origin: m.origin,
                            nonce: m.nonce,
                            sender: m.sender.to_string(),
                            recipient: m.recipient.to_string(),
                            body_len: m.body.len(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(DeadLetterDetail {
            letter,
            message_list,
        })
    }

    /// Puts a dead letter back into its lane; returns the new entry id.
    pub async fn replay(&self, chain: &str, reference: &str) -> Result<String, AdminError> {
        Ok(self
            .dead
            .replay_dead_letter(self.domain(chain)?, reference)
            .await?)
    }

    /// Deletes a dead letter.
    pub async fn drop(&self, chain: &str, reference: &str) -> Result<(), AdminError> {
        Ok(self
            .dead
            .drop_dead_letter(self.domain(chain)?, reference)
            .await?)
    }
}
