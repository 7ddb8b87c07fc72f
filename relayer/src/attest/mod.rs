//! Independent attesters: the m of n that an Inbox's threshold asks for.
//!
//! An attester (`switchyard run --role attester`) is a process of its own,
//! run by its own operator: it follows the origins with its own endpoints
//! and light clients, exactly as a hub's watchers do, but records the ids
//! of the messages it verified ([`Verified`], in its own Redis) instead of
//! writing lanes. A dispatcher asks it to sign a batch root over HTTP
//! ([`serve`]); it signs only when it verified every message of the batch
//! itself and the destination (chain id and Inbox) is one it is configured
//! for, and otherwise says why, message by message. It holds no queue key
//! and never reads the hub's Redis, so neither a lane writer nor the hub's
//! Redis can make it sign anything.
//!
//! The dispatcher side ([`collect`]) asks every configured attester in
//! parallel, keeps the signatures that recover to an attester the Inbox
//! counts (the set and threshold are read from the chain), orders them as
//! the Inbox wants (by increasing signer address) and submits once it holds
//! the threshold. A batch short of it waits and is asked about again; one
//! that too many attesters refused for good is split, and a message refused
//! alone is dead-lettered with every refusal.
//!
//! May import: the store (the attester's own record), the signing key,
//! metrics, health. Imported by: the route stage (recording), dispatch
//! (collecting), the HTTP surface and the hub.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use alloy_primitives::{Address, B256, Bytes};
use serde::{Deserialize, Serialize};
use switchyard_types::Domain;

use crate::store::{OriginState, StoreError, Witness};

pub mod collect;
pub mod serve;

pub use collect::Collector;
pub use serve::AttestService;

/// The path of the attestation API.
pub const PATH: &str = "/v1/attest";

/// `POST /v1/attest`: sign the root of `messages` for the Inbox `inbox` on
/// chain `chain_id`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestRequest {
    /// The destination's EIP-155 chain id (in the signed domain).
    pub chain_id: u64,
    /// The destination's Inbox (in the signed domain).
    pub inbox: Address,
    /// The batch, in the order the root is computed over.
    pub messages: Vec<AttestItem>,
}

/// One message of a batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestItem {
    /// The origin height the hub's watcher verified it at (its lane
    /// entry's): where the attester looks the message up. A message is
    /// signed for only if the attester recorded it at that very height;
    /// a height its light client has not reached makes the refusal "not
    /// yet" rather than "never".
    pub height: u64,
    /// The encoded message.
    pub message: Bytes,
}

/// The answer: a signature, or the refusals.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestAnswer {
    /// The attester's address.
    pub signer: Address,
    /// The batch root it computed.
    pub root: B256,
    /// 65-byte `r ‖ s ‖ v` signature of the Inbox's batch digest, when it
    /// signs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Bytes>,
    /// Why it does not sign (empty when it does).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<Refusal>,
}

/// A message (or the whole batch, `index` absent) the attester will not
/// sign for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Refusal {
    /// The message's place in the batch; none for the batch as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// Why.
    pub reason: RefusalReason,
    /// What, where, expected against got.
    pub detail: String,
}

/// Why an attester refuses (a bounded metrics label).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum RefusalReason {
    /// A message its light clients never verified, at a height they have
    /// passed: forged, or older than the attester's window.
    UnknownMessage,
    /// A message at a height its light clients have not reached yet: asked
    /// again later, it may sign.
    NotYetVerified,
    /// A message addressed to a domain the destination does not serve.
    WrongDestination,
    /// A chain id and Inbox the attester is not configured for.
    UnknownDestination,
    /// A message from an origin the attester does not follow.
    UnknownOrigin,
    /// Bytes that are not a message of the relayed version.
    Malformed,
}

impl RefusalReason {
    /// Every reason (metric series created at 0).
    pub const ALL: [RefusalReason; 6] = [
        Self::UnknownMessage,
        Self::NotYetVerified,
        Self::WrongDestination,
        Self::UnknownDestination,
        Self::UnknownOrigin,
        Self::Malformed,
    ];

    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownMessage => "unknown_message",
            Self::NotYetVerified => "not_yet_verified",
            Self::WrongDestination => "wrong_destination",
            Self::UnknownDestination => "unknown_destination",
            Self::UnknownOrigin => "unknown_origin",
            Self::Malformed => "malformed",
        }
    }

    /// Whether asking again later cannot change the answer: only a message
    /// not verified *yet* may be signed later.
    pub fn is_final(self) -> bool {
        self != Self::NotYetVerified
    }
}

/// What an attester's own light clients verified: the ids (in its store),
/// per origin the highest height recorded by this process, and the
/// origins' own cursors (an EVM origin's "every block up to here routed").
#[derive(Debug, Clone)]
pub struct Verified {
    witness: Witness,
    state: OriginState,
    heights: Arc<Mutex<HashMap<Domain, u64>>>,
}

impl Verified {
    /// Over the attester's record `witness` and its origins' `state`.
    pub fn new(witness: Witness, state: OriginState) -> Self {
        Self {
            witness,
            state,
            heights: Arc::default(),
        }
    }

    /// Records `ids` verified at `height` of `origin` (an origin's watcher
    /// routes heights in order, so every message below the highest height
    /// recorded has been recorded).
    pub async fn record(
        &self,
        origin: Domain,
        height: u64,
        ids: &[B256],
    ) -> Result<(), StoreError> {
        self.witness.record(origin, height, ids).await?;
        let mut h = self.heights.lock().unwrap_or_else(|p| p.into_inner());
        let e = h.entry(origin).or_default();
        *e = (*e).max(height);
        Ok(())
    }

    /// The height of `origin` below which every message this attester's
    /// light client verified is recorded: the EVM watcher's scanned cursor
    /// (it passes blocks without messages too), or the highest height
    /// recorded (a CometBFT origin's heights are its outbox nonces, routed
    /// one by one in order). None before the first round: a message is
    /// then "not yet verified", never "unknown".
    pub async fn passed(&self, origin: Domain) -> Result<Option<u64>, StoreError> {
        let recorded = {
            let h = self.heights.lock().unwrap_or_else(|p| p.into_inner());
            h.get(&origin).copied()
        };
        let scanned = self.state.scanned(origin).await?;
        Ok(recorded.max(scanned))
    }

    /// Whether each of `items` (id, origin height) of `origin` was
    /// recorded at that height.
    pub async fn lookup(
        &self,
        origin: Domain,
        items: &[(B256, u64)],
    ) -> Result<Vec<bool>, StoreError> {
        let mut heights: Vec<u64> = items.iter().map(|(_, h)| *h).collect();
        heights.sort_unstable();
        heights.dedup();
        let sets = self.witness.lookup(origin, &heights).await?;
        Ok(items
            .iter()
            .map(|(id, h)| heights.binary_search(h).is_ok_and(|i| sets[i].contains(id)))
            .collect())
    }
}
