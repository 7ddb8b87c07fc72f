//! The routing table: which lane shard a verified message goes to. A destination domain
//! maps to that chain's lane; within it, the channel (origin, sender,
//! recipient) picks the shard, so one channel always stays in one shard and
//! in order. Route groups (one logical domain served by several chains) plug
//! in here.

use std::collections::BTreeMap;

use alloy_primitives::{B256, keccak256};
use switchyard_types::{Domain, Message};

use crate::backlog::BacklogView;
use crate::config::{Config, RoutePolicy};
use crate::store::LaneId;

/// Where a destination domain's messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The destination whose lane takes the message.
    pub dst: Domain,
    /// The destination chain's name, for metrics labels.
    pub name: String,
}

/// A logical destination domain served by several chains.
#[derive(Debug, Clone)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// The logical domain.
    pub domain: Domain,
    /// How a member is picked.
    pub policy: RoutePolicy,
    /// Members with their weights.
    pub members: Vec<(Route, u32)>,
}

/// What a destination domain resolves to.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// One chain.
    Chain(&'a Route),
    /// A route group.
    Group(&'a Group),
}

impl Group {
    /// The member for `m`. `least` is the member chosen for this origin
    /// block by the least-backlog policy (see [`Group::least_backlog`]);
    /// the other policies are pure functions of the message, so re-reading
    /// a block after a crash routes every message where it went before.
    pub fn pick(&self, m: &Message, least: Option<Domain>) -> &Route {
        let total: u64 = self.members.iter().map(|(_, w)| u64::from(*w)).sum();
        let weighted = |x: u64| {
            let mut x = x % total.max(1);
            for (r, w) in &self.members {
                if x < u64::from(*w) {
                    return r;
                }
                x -= u64::from(*w);
            }
            &self.members[0].0
        };
        match self.policy {
            RoutePolicy::RoundRobin => &self.members[(m.nonce as usize) % self.members.len()].0,
            RoutePolicy::Weighted => weighted(first_u64(&m.id())),
            RoutePolicy::StickySender => {
                let mut buf = [0u8; 36];
                buf[..4].copy_from_slice(&m.origin.to_be_bytes());
                buf[4..].copy_from_slice(m.sender.as_slice());
                weighted(first_u64(&keccak256(buf)))
            }
            RoutePolicy::LeastBacklog => least
                .and_then(|d| self.members.iter().find(|(r, _)| r.dst == d))
                .map_or(&self.members[0].0, |(r, _)| r),
        }
    }

    /// The member with the smallest known backlog (ties: the first listed).
    pub fn least_backlog(&self, view: &BacklogView) -> Domain {
        self.members
            .iter()
            .min_by_key(|(r, _)| view.get(r.dst))
            .map_or(self.members[0].0.dst, |(r, _)| r.dst)
    }
}

/// Destination domain → route or group.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: BTreeMap<Domain, Route>,
    groups: BTreeMap<Domain, Group>,
    shards: u16,
}

impl Router {
    /// Every configured chain with an Inbox is a destination of its own
    /// domain (an origin-only chain is not: messages to it are rejected as
    /// to an unknown destination); route groups add logical domains.
    pub fn from_config(cfg: &Config) -> Self {
        let routes: BTreeMap<Domain, Route> = cfg
            .chains
            .iter()
            .filter(|c| c.is_destination())
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
        let groups = cfg
            .route_groups
            .iter()
            .map(|g| {
                let members = g
                    .members
                    .iter()
                    .filter_map(|m| {
                        let c = cfg.chain_by_name(&m.chain)?;
                        Some((routes.get(&c.domain)?.clone(), m.weight))
                    })
                    .collect();
                (
                    g.domain,
                    Group {
                        name: g.name.clone(),
                        domain: g.domain,
                        policy: g.policy,
                        members,
                    },
                )
            })
            .collect();
        Self {
            routes,
            groups,
            shards: cfg.dispatcher.lane_shards.max(1),
        }
    }

    /// What `destination` resolves to, or `None` when nothing serves it (the
    /// message is rejected, never dropped silently).
    pub fn target(&self, destination: Domain) -> Option<Target<'_>> {
        if let Some(r) = self.routes.get(&destination) {
            return Some(Target::Chain(r));
        }
        self.groups
            .get(&destination)
            .filter(|g| !g.members.is_empty())
            .map(Target::Group)
    }

    /// Every destination chain's domain.
    pub fn chain_domains(&self) -> Vec<Domain> {
        self.routes.keys().copied().collect()
    }

    /// The route of a single-chain `destination`.
    pub fn route(&self, destination: Domain) -> Option<&Route> {
        self.routes.get(&destination)
    }

    /// Group domains that chain `dst` serves (its dispatcher accepts them).
    pub fn groups_of(&self, dst: Domain) -> Vec<Domain> {
        self.groups
            .values()
            .filter(|g| g.members.iter().any(|(r, _)| r.dst == dst))
            .map(|g| g.domain)
            .collect()
    }

    /// The lane shard of a message on `route`.
    pub fn lane(&self, route: &Route, origin: Domain, sender: &B256, recipient: &B256) -> LaneId {
        LaneId {
            dst: route.dst,
            shard: shard_of(origin, sender, recipient, self.shards),
        }
    }
}

fn first_u64(h: &B256) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&h[..8]);
    u64::from_be_bytes(first)
}

/// The shard of channel (origin, sender, recipient) among `shards`: a hash,
/// so channels spread evenly and a channel never moves while `shards` stays.
pub fn shard_of(origin: Domain, sender: &B256, recipient: &B256, shards: u16) -> u16 {
    let mut buf = [0u8; 68];
    buf[..4].copy_from_slice(&origin.to_be_bytes());
    buf[4..36].copy_from_slice(sender.as_slice());
    buf[36..].copy_from_slice(recipient.as_slice());
    (first_u64(&keccak256(buf)) % u64::from(shards.max(1))) as u16
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

    fn group(policy: RoutePolicy, weights: &[u32]) -> Group {
        Group {
            name: "g".into(),
            domain: 9000,
            policy,
            members: weights
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    (
                        Route {
                            dst: 2000 + i as u32,
                            name: format!("m{i}"),
                        },
                        *w,
                    )
                })
                .collect(),
        }
    }

    fn msg(nonce: u32, sender: u8) -> Message {
        Message {
            version: 3,
            nonce,
            origin: 1000,
            sender: B256::repeat_byte(sender),
            destination: 9000,
            recipient: B256::repeat_byte(9),
            body: Default::default(),
        }
    }

    /// A chain without an Inbox is an origin only: no route leads to it,
    /// so a message addressed to it is rejected as to an unknown
    /// destination instead of waiting in a lane nobody delivers.
    #[test]
    fn an_origin_only_chain_is_no_destination() {
        let chain = |name: &str, domain: u32, inbox: &str| {
            format!(
                "[[chains]]\nname = \"{name}\"\ndomain = {domain}\nchain_id = {domain}\nrpc_urls = [\"http://127.0.0.1:1\"]\ntrust = \"single_endpoint\"\nmailbox = \"0x5FbDB2315678afecb367f032d93F642f64180aa3\"\n{inbox}"
            )
        };
        let text = format!(
            "attester_key = {{ env = \"A\" }}\nqueue_key = {{ env = \"Q\" }}\n[redis]\nurl = \"redis://127.0.0.1:1\"\n{}{}",
            chain(
                "dest",
                1000,
                "inbox = \"0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512\"\nsubmitter_key = { env = \"S\" }\n"
            ),
            chain("origin", 2000, ""),
        );
        let cfg = Config::from_toml(&text).expect("an origin-only chain needs no inbox");
        let router = Router::from_config(&cfg);
        assert!(matches!(router.target(1000), Some(Target::Chain(r)) if r.name == "dest"));
        assert!(router.target(2000).is_none());
    }

    #[test]
    fn round_robin_alternates_by_nonce() {
        let g = group(RoutePolicy::RoundRobin, &[1, 1, 1]);
        let picks: Vec<u32> = (0..6).map(|n| g.pick(&msg(n, 1), None).dst).collect();
        assert_eq!(picks, vec![2000, 2001, 2002, 2000, 2001, 2002]);
    }

    #[test]
    fn weighted_follows_weights() {
        let g = group(RoutePolicy::Weighted, &[3, 1]);
        let heavy = (0..4000)
            .filter(|n| g.pick(&msg(*n, 1), None).dst == 2000)
            .count();
        assert!(
            (2700..3300).contains(&heavy),
            "{heavy} of 4000 for weight 3/4"
        );
    }

    #[test]
    fn sticky_sender_keeps_a_sender_on_one_member_and_spreads_senders() {
        let g = group(RoutePolicy::StickySender, &[1, 1]);
        for s in 0..50u8 {
            let first = g.pick(&msg(0, s), None).dst;
            assert!(
                (1..20).all(|n| g.pick(&msg(n, s), None).dst == first),
                "sender {s} moved"
            );
        }
        let on_first = (0..200u8)
            .filter(|s| g.pick(&msg(0, *s), None).dst == 2000)
            .count();
        assert!(
            (60..140).contains(&on_first),
            "{on_first} of 200 senders on member 0"
        );
    }

    #[test]
    fn least_backlog_picks_the_emptiest_member_and_honours_the_recorded_choice() {
        let g = group(RoutePolicy::LeastBacklog, &[1, 1, 1]);
        let view = BacklogView::default();
        view.set(2000, 50);
        view.set(2001, 3);
        view.set(2002, 7);
        assert_eq!(g.least_backlog(&view), 2001);
        // The block's recorded choice wins over a changed backlog.
        assert_eq!(g.pick(&msg(0, 1), Some(2002)).dst, 2002);
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
