//! The hub's status API from Rust: where a message is, stage by stage,
//! without reading the destination chain (see `docs/integrate.md` and the
//! OpenAPI document the hub serves at `/openapi.json`). The hub serializes
//! these same types, so client and server cannot drift apart.

use std::time::{Duration, Instant};

use alloy::primitives::{B256, Bytes};
use serde::{Deserialize, Serialize};
use switchyard_types::Domain;

use crate::SdkError;

/// A message's stage, in journey order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The origin block's receipts were verified against a header the
    /// hub's light client accepted.
    Verified,
    /// Queued in the destination's lane.
    Queued,
    /// Broadcast in an attested batch.
    Submitted,
    /// Delivered by the destination Inbox.
    Delivered,
    /// The Inbox called the recipient and the call failed (final; the Inbox
    /// can retry it on request).
    Failed,
    /// Given up by the hub and kept for an operator to replay.
    DeadLettered,
}

impl Stage {
    /// Every stage, in journey order.
    pub const ALL: [Stage; 6] = [
        Self::Verified,
        Self::Queued,
        Self::Submitted,
        Self::Delivered,
        Self::Failed,
        Self::DeadLettered,
    ];

    /// The name used in the API and the hub's records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Queued => "queued",
            Self::Submitted => "submitted",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::DeadLettered => "dead_lettered",
        }
    }

    /// Whether the message will not move by itself any more.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Delivered | Self::Failed | Self::DeadLettered)
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stage and when it was reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageAt {
    /// The stage.
    pub stage: Stage,
    /// Unix time, milliseconds.
    pub at_ms: u64,
}

/// The message's own fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageFields {
    /// Layout version.
    pub version: u8,
    /// Origin Mailbox nonce.
    pub nonce: u32,
    /// Origin domain.
    pub origin: Domain,
    /// Sender, left-padded to 32 bytes.
    pub sender: B256,
    /// Destination domain.
    pub destination: Domain,
    /// Recipient, left-padded to 32 bytes.
    pub recipient: B256,
    /// The payload when at most 64 bytes; longer payloads are in the origin
    /// transaction (the hub keeps their length and hash).
    pub body: Option<Bytes>,
    /// Payload length in bytes.
    pub body_len: u64,
    /// keccak256 of the payload.
    pub body_hash: B256,
}

/// The origin side of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginInfo {
    /// Origin domain.
    pub domain: Option<Domain>,
    /// The hub's name for the chain.
    pub chain: Option<String>,
    /// Block the message was proven in.
    pub block: Option<u64>,
    /// The dispatch transaction, as the origin's node named it (the hub
    /// shows it; it is not covered by the receipts root it verified).
    pub tx_hash: Option<B256>,
}

/// The destination side of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationInfo {
    /// Destination domain (of the chain it was routed to).
    pub domain: Option<Domain>,
    /// The hub's name for the chain.
    pub chain: Option<String>,
    /// Lane shard, `domain/shard`.
    pub lane: Option<String>,
    /// The delivering transaction (before inclusion, the last one it was
    /// submitted in).
    pub tx_hash: Option<B256>,
    /// Its block, once included.
    pub block: Option<u64>,
}

/// `GET /v1/messages/{id}`, typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageStatus {
    /// Message id.
    pub id: B256,
    /// The stage the message is at.
    pub status: Stage,
    /// The message, when the hub recorded it queued (absent when only later
    /// stages were recorded).
    pub message: Option<MessageFields>,
    /// Where it came from.
    pub origin: OriginInfo,
    /// Where it goes.
    pub destination: DestinationInfo,
    /// Why it failed or was given up.
    pub failure: Option<String>,
    /// The last failed attempt's error while not final.
    pub last_error: Option<String>,
    /// Every stage reached, in order.
    pub stages: Vec<StageAt>,
}

/// `GET /v1/messages?tx=|sender=`, typed: one page of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageList {
    /// The messages of this page, in list order (a transaction's in the
    /// order it carried them, a sender's newest first). A page may hold
    /// fewer than asked and still have a next one.
    pub messages: Vec<MessageStatus>,
    /// Where the next page starts (pass it as `cursor`); `None` at the end.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// What `GET /v1/messages` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageQuery {
    /// The messages of an origin (dispatch) or destination (delivery)
    /// transaction.
    Tx(B256),
    /// The messages of a sender (left-padded to 32 bytes), on one origin
    /// or on every origin the hub follows.
    Sender {
        /// The sender.
        sender: B256,
        /// Only this origin domain.
        origin: Option<Domain>,
    },
}

impl MessageQuery {
    fn path(&self) -> String {
        match self {
            Self::Tx(tx) => format!("/v1/messages?tx={tx:#x}"),
            Self::Sender {
                sender,
                origin: None,
            } => format!("/v1/messages?sender={sender:#x}"),
            Self::Sender {
                sender,
                origin: Some(o),
            } => format!("/v1/messages?sender={sender:#x}&origin={o}"),
        }
    }
}

/// Most pages [`HubClient::list`] follows: a hub's lists are far shorter
/// (a sender's index keeps 1,000 messages per origin), so more means a hub
/// that never ends its list.
const MAX_PAGES: usize = 1000;

/// How often a request the hub refused with 429 (rate limited) is tried
/// again, and the longest `Retry-After` waited.
const RATE_LIMITED_RETRIES: u32 = 3;
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// A client of one hub's status API.
///
/// ```no_run
/// use std::time::Duration;
///
/// use switchyard_sdk::{B256, HubClient, Stage};
///
/// # async fn run(id: B256, dispatch_tx: B256) -> Result<(), switchyard_sdk::SdkError> {
/// let hub = HubClient::new("http://127.0.0.1:9464")?;
/// // Every message the dispatch transaction sent (all pages), and where it is.
/// for m in hub.by_tx(dispatch_tx).await? {
///     println!("{}: {} (lane {:?})", m.id, m.status, m.destination.lane);
/// }
/// // Wait until one is final.
/// let status = hub.wait(id, Duration::from_secs(120)).await?;
/// match status.status {
///     Stage::Delivered => println!("delivered in {:?}", status.destination.tx_hash),
///     _ => println!("not delivered: {:?}", status.failure),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct HubClient {
    base: String,
    http: reqwest::Client,
    poll: Duration,
}

impl HubClient {
    /// A client of the hub at `base` (e.g. `http://127.0.0.1:9464`).
    pub fn new(base: impl Into<String>) -> Result<Self, SdkError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| SdkError::Hub {
                url: String::new(),
                status: None,
                reason: format!("http client: {e}"),
            })?;
        Ok(Self {
            base: base.into().trim_end_matches('/').to_owned(),
            http,
            poll: Duration::from_millis(500),
        })
    }

    /// How often [`HubClient::wait`] asks (default 500 ms).
    pub fn with_poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<Option<T>, SdkError> {
        let url = format!("{}{path}", self.base);
        let err = |status: Option<u16>, reason: String| SdkError::Hub {
            url: url.clone(),
            status,
            reason,
        };
        let mut tries = 0;
        let r = loop {
            let r = self
                .http
                .get(&url)
                .send()
                .await
                .map_err(|e| err(None, e.to_string()))?;
            if r.status() != reqwest::StatusCode::TOO_MANY_REQUESTS || tries == RATE_LIMITED_RETRIES
            {
                break r;
            }
            tries += 1;
            let after = r
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
                .map_or(Duration::from_secs(1), Duration::from_secs);
            tokio::time::sleep(after.min(MAX_RETRY_AFTER)).await;
        };
        let status = r.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let body = r.bytes().await.map_err(|e| err(None, e.to_string()))?;
        if !status.is_success() {
            let reason = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            return Err(err(Some(status.as_u16()), reason));
        }
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| err(Some(status.as_u16()), format!("unexpected answer: {e}")))
    }

    /// Where message `id` is; `None` if the hub does not know it (not seen
    /// yet, or older than the hub's retention).
    pub async fn status(&self, id: B256) -> Result<Option<MessageStatus>, SdkError> {
        self.get(&format!("/v1/messages/{id:#x}")).await
    }

    /// One page of `query`: up to `limit` messages (the hub's default, 100,
    /// without it) from `cursor` (a previous page's `next_cursor`; the
    /// first page without it).
    pub async fn page(
        &self,
        query: &MessageQuery,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<MessageList, SdkError> {
        let mut path = query.path();
        if let Some(l) = limit {
            path += &format!("&limit={l}");
        }
        if let Some(c) = cursor {
            // Cursors are hex with a letter in front; nothing to escape in
            // one from the hub, and anything else is refused by it.
            path += &format!("&cursor={c}");
        }
        Ok(self
            .get::<MessageList>(&path)
            .await?
            .unwrap_or(MessageList {
                messages: Vec::new(),
                next_cursor: None,
            }))
    }

    /// Every message of `query`, following the pages to the end.
    pub async fn list(&self, query: &MessageQuery) -> Result<Vec<MessageStatus>, SdkError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self.page(query, cursor.as_deref(), None).await?;
            all.extend(page.messages);
            match page.next_cursor {
                Some(next) if cursor.as_ref() != Some(&next) => cursor = Some(next),
                Some(_) => {
                    return Err(SdkError::Hub {
                        url: format!("{}{}", self.base, query.path()),
                        status: None,
                        reason: "the hub answered the same next_cursor twice".into(),
                    });
                }
                None => return Ok(all),
            }
        }
        Err(SdkError::Hub {
            url: format!("{}{}", self.base, query.path()),
            status: None,
            reason: format!("the list did not end within {MAX_PAGES} pages"),
        })
    }

    /// The messages of an origin (dispatch) or destination (delivery)
    /// transaction, every page.
    pub async fn by_tx(&self, tx: B256) -> Result<Vec<MessageStatus>, SdkError> {
        self.list(&MessageQuery::Tx(tx)).await
    }

    /// The messages of `sender` (newest first, every page), on `origin` or
    /// on every origin the hub follows.
    pub async fn by_sender(
        &self,
        sender: B256,
        origin: Option<Domain>,
    ) -> Result<Vec<MessageStatus>, SdkError> {
        self.list(&MessageQuery::Sender { sender, origin }).await
    }

    /// Waits until message `id` is delivered, failed or dead-lettered, and
    /// returns its status; [`SdkError::Timeout`] after `timeout`.
    pub async fn wait(&self, id: B256, timeout: Duration) -> Result<MessageStatus, SdkError> {
        let start = Instant::now();
        loop {
            if let Some(s) = self.status(id).await?
                && s.status.is_final()
            {
                return Ok(s);
            }
            if start.elapsed() >= timeout {
                return Err(SdkError::Timeout {
                    id,
                    waited: start.elapsed(),
                });
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_answer_parses() {
        let j = r#"{"id":"0x0ba2dcb5856479f00154c66f767a198a67d0f387a5e72e69e7ced292442fcfd6",
          "status":"delivered","message":null,
          "origin":{"domain":1000,"chain":"chain0","block":193,"tx_hash":"0xc0784a1143815ab80f4718b0fd25326dc196852d2d0d20de0882c10089814fba"},
          "destination":{"domain":2000,"chain":"chain1","lane":"2000/2","tx_hash":null,"block":null},
          "failure":null,"last_error":null,
          "stages":[{"stage":"verified","at_ms":1},{"stage":"dead_lettered","at_ms":2}]}"#;
        let s: MessageStatus = serde_json::from_str(j).expect("parses");
        assert_eq!(s.status, Stage::Delivered);
        assert!(s.status.is_final());
        assert_eq!(s.origin.block, Some(193));
        assert_eq!(s.stages[1].stage, Stage::DeadLettered);
        assert_eq!(Stage::DeadLettered.to_string(), "dead_lettered");
        assert!(!Stage::Submitted.is_final());
    }

    #[test]
    fn a_list_page_carries_its_next_cursor() {
        let l: MessageList =
            serde_json::from_str(r#"{"messages":[],"next_cursor":"t00"}"#).expect("parses");
        assert_eq!(l.next_cursor.as_deref(), Some("t00"));
        let end: MessageList =
            serde_json::from_str(r#"{"messages":[],"next_cursor":null}"#).expect("parses");
        assert_eq!(end.next_cursor, None);
        // A hub from before pagination: one page, the last.
        let old: MessageList = serde_json::from_str(r#"{"messages":[]}"#).expect("parses");
        assert_eq!(old.next_cursor, None);
        let q = MessageQuery::Sender {
            sender: B256::repeat_byte(1),
            origin: Some(7),
        };
        assert!(q.path().ends_with("01&origin=7"), "{}", q.path());
    }
}
