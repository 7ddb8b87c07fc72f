//! Routing: which lane shard a verified message goes to. A destination domain
//! maps to that chain's lane; within it, the channel (origin, sender,
//! recipient) picks the shard, so one channel always stays in one shard and
//! in order. Route groups (one logical domain served by several chains) plug
//! in here.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use alloy_primitives::{B256, keccak256};
use switchyard_types::Domain;

use crate::config::Config;
use crate::lane::LaneId;

/// Where a destination domain's messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The destination whose lane takes the message.
    pub dst: Domain,
    /// The destination chain's name, for metrics labels.
    pub name: String,
}

/// Destination domain → route.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: BTreeMap<Domain, Route>,
    shards: u16,
}

impl Router {
    /// Every configured chain is a destination of its own domain.
    pub fn from_config(cfg: &Config) -> Self {
        let routes = cfg
            .chains
            .iter()
            .map(|c| {
                (
                    c.domain,
                    Route {
                        dst: c.domain,
                        name: c.name.clone(),
                    },
                )
            })
            .collect();
        Self {
            routes,
            shards: cfg.dispatcher.lane_shards.max(1),
        }
    }

    /// The route of `destination`, or `None` when no configured chain serves
    /// it (the message is rejected, never dropped silently).
    pub fn route(&self, destination: Domain) -> Option<&Route> {
        self.routes.get(&destination)
    }

    /// The lane shard of a message on `route`.
    pub fn lane(&self, route: &Route, origin: Domain, sender: &B256, recipient: &B256) -> LaneId {
        LaneId {
            dst: route.dst,
            shard: shard_of(origin, sender, recipient, self.shards),
        }
    }
}

/// The shard of channel (origin, sender, recipient) among `shards`: a hash,
/// so channels spread evenly and a channel never moves while `shards` stays.
pub fn shard_of(origin: Domain, sender: &B256, recipient: &B256, shards: u16) -> u16 {
    let mut buf = [0u8; 68];
    buf[..4].copy_from_slice(&origin.to_be_bytes());
    buf[4..36].copy_from_slice(sender.as_slice());
    buf[36..].copy_from_slice(recipient.as_slice());
    let h = keccak256(buf);
    let mut first = [0u8; 8];
    first.copy_from_slice(&h[..8]);
    (u64::from_be_bytes(first) % u64::from(shards.max(1))) as u16
}

/// The latest backlog of each destination (entries), written by the backlog
/// monitor and read by watchers for backpressure.
#[derive(Debug, Default)]
pub struct BacklogView {
    inner: Mutex<HashMap<Domain, u64>>,
}

impl BacklogView {
    /// Records `dst`'s backlog.
    pub fn set(&self, dst: Domain, entries: u64) {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(dst, entries);
    }

    /// `dst`'s last known backlog (0 if never measured).
    pub fn get(&self, dst: Domain) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&dst)
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn shard_is_stable_and_in_range(origin in any::<u32>(), s in any::<[u8; 32]>(), r in any::<[u8; 32]>(), shards in 1u16..1024) {
            let (s, r) = (B256::from(s), B256::from(r));
            let a = shard_of(origin, &s, &r, shards);
            prop_assert!(a < shards);
            prop_assert_eq!(a, shard_of(origin, &s, &r, shards));
        }
    }

    #[test]
    fn channels_spread_over_shards() {
        let mut counts = [0u32; 8];
        for i in 0..8000u32 {
            let sender = B256::from(keccak256(i.to_be_bytes()));
            counts[usize::from(shard_of(1, &sender, &B256::ZERO, 8))] += 1;
        }
        // 1000 expected per shard; a hash this bad would be a bug.
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
    }
}
