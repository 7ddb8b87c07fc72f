//! The store: typed handles over Redis, one per concern, over one
//! connection. No Redis type leaves this folder.
//!
//! - `mod.rs`: the connection ([`Store`]), its errors, TLS and key layout;
//! - [`entry`]: the lane entry codec and its HMAC under the queue key;
//! - [`lane`]: append, read, acknowledge, backlog ([`Lanes`]);
//! - [`dead`]: dead letters ([`DeadLetters`]);
//! - [`lease`]: shard leases and the worker registry ([`Leases`]);
//! - [`state`]: light-client state, cursors and route-group decisions
//!   ([`OriginState`]);
//! - [`status`]: the status journal's records ([`StatusStore`]);
//! - [`seen`]: the bench's shared delivered-nonce bitmap ([`SeenNonces`]);
//! - [`format`]: the storage format recorded in Redis, checked at start;
//! - [`witness`]: an attester's record of the messages it verified (in
//!   the attester's own Redis).
//!
//! May import: `switchyard_types` only. Every stage imports it.
//!
//! A destination's lane is split into shards; messages of one channel
//! (origin, sender, recipient) always go to the same shard. One stream entry
//! carries a batch of verified messages (an origin block's messages for that
//! shard), which is what makes high message rates cheap for Redis. Every
//! entry carries an HMAC under the queue key: Redis is not trusted, and an
//! entry that fails authentication or decoding is never signed.
//!
//! Keys (prefix `sy` by default) carry hash tags so that what changes
//! atomically shares a Redis Cluster slot; everything of one shard lives in
//! the slot of `{lane:<dst>:<shard>}`:
//! - `…:stream`: the shard's entries, consumer group `dispatchers`;
//! - `…:cursor:<origin>`: highest origin block appended to this shard,
//!   advanced by the same Lua script as the append, so a watcher that
//!   re-reads a block never appends it twice;
//! - `…:attempts`: failed delivery attempts and last error per entry;
//! - `…:dead`: dead letters with reason, last error and attempts;
//! - `…:owner`: the lease of the dispatcher working the shard.
//!
//! Per origin, `{origin:<o>}:lc` and `{origin:<o>}:scanned` hold the
//! light-client state and the highest block fully routed; per destination,
//! `{dst:<d>}:workers` is the registry dispatcher workers heartbeat into and
//! `{dst:<d>}:sender:<account>` the replica sending from that account;
//! `{meta}:format` holds the storage format ([`format::STORAGE_FORMAT`]).

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Script, Value};
use switchyard_types::Domain;

pub mod dead;
pub mod entry;
pub mod format;
pub mod lane;
pub mod lease;
pub mod seen;
pub mod state;
pub mod status;
pub mod witness;

pub use dead::{DeadLetter, DeadLetters};
pub use entry::{Delivery, ENTRY_VERSION, EntryRefusal, LaneEntry, LaneId, QueueKey};
pub use format::{FormatCheck, STORAGE_FORMAT};
pub use lane::{GROUP, Lanes};
pub use lease::Leases;
pub use seen::SeenNonces;
pub use state::OriginState;
pub use status::{SENDER_INDEX_LEN, StatusOp, StatusStore};
pub use witness::{IdsAt, Witness};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Redis failed or could not be reached.
    #[error("redis {op} failed: {message}")]
    Redis {
        /// Operation.
        op: &'static str,
        /// What the client said.
        message: String,
    },
    /// An entry cannot be decoded: it was not written by a hub of this
    /// version, or was altered.
    #[error("lane entry {id} is malformed: {reason}")]
    Decode {
        /// Stream entry id.
        id: String,
        /// What is wrong (expected vs got).
        reason: String,
    },
    /// The queue key is unusable.
    #[error("queue key: {reason}")]
    Key {
        /// Why (never the key).
        reason: String,
    },
    /// The store was written by a newer hub, in a storage format this one
    /// does not read: it refuses to start rather than misread it.
    #[error(
        "{key}: the store holds storage format {found}, written by a newer hub; \
         this hub reads format {supported} and refuses to start (run a release that \
         reads format {found}, or point redis.key_prefix at another store)"
    )]
    NewerFormat {
        /// The key holding the format.
        key: String,
        /// The format found.
        found: u32,
        /// The format this hub reads and writes.
        supported: u32,
    },
    /// The recorded storage format is unusable: not a number, or older with
    /// no migration from it.
    #[error("{key}: {reason}")]
    Format {
        /// The key holding the format.
        key: String,
        /// What is wrong (expected vs got) and what to do.
        reason: String,
    },
    /// Another replica of this hub sends from the account: two senders of
    /// one account race for its nonces.
    #[error(
        "{key}: submitter {sender} of {chain} is in use by replica {holder} of this hub; \
         two replicas sending from one account race for its nonces: give each replica its \
         own submitter keys (docs/operations.md, \"Submitter keys per replica\")"
    )]
    SenderInUse {
        /// The claim's key.
        key: String,
        /// The destination chain.
        chain: String,
        /// The account.
        sender: String,
        /// The replica holding it.
        holder: String,
    },
    /// `redis.cluster_nodes` names a Redis that is not a cluster node, or
    /// `redis.url` names one that is: the hub would read and write the
    /// wrong keyspace (or get MOVED for most keys), so it refuses to start.
    #[error("{setting}: {reason}")]
    WrongTopology {
        /// The setting to change.
        setting: &'static str,
        /// What the node said and what to do.
        reason: String,
    },
    /// A dead letter that does not exist.
    #[error("dead letter {reference} not found")]
    NotFound {
        /// `shard/id` as given.
        reference: String,
    },
}

impl StoreError {
    /// Redis errors are retried; a malformed entry will not get better.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Redis { .. })
    }

    /// Bounded label for metrics.
    pub fn op(&self) -> &'static str {
        match self {
            Self::Redis { op, .. } => op,
            Self::Decode { .. } => "decode",
            Self::Key { .. } => "key",
            Self::NotFound { .. } => "not_found",
            Self::NewerFormat { .. } | Self::Format { .. } => "format",
            Self::SenderInUse { .. } => "sender_in_use",
            Self::WrongTopology { .. } => "topology",
        }
    }
}

pub(super) fn redis_err(op: &'static str) -> impl Fn(redis::RedisError) -> StoreError {
    move |e| StoreError::Redis {
        op,
        message: e.to_string(),
    }
}

/// One Redis or a Redis Cluster, behind one connection type.
#[derive(Clone)]
pub(super) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(cmd, offset, count),
            Self::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

#[derive(Clone)]
pub(super) enum Target {
    // Boxed both: with TLS the client holds its certificates.
    Single(Box<redis::Client>),
    Cluster(Box<redis::cluster::ClusterClient>),
}

/// The connection to Redis (cheap to clone; one multiplexed connection),
/// from which the handles of each concern are taken.
#[derive(Clone)]
pub struct Store {
    pub(super) target: Target,
    pub(super) conn: Conn,
    pub(super) prefix: String,
    pub(super) key: QueueKey,
    pub(super) scripts: Arc<Scripts>,
    /// `redis.wait_replicas`: replicas a lane append must reach before it
    /// counts as done, and how long to wait for them.
    pub(super) wait: Option<(u32, u64)>,
}

pub(super) struct Scripts {
    pub(super) append: Script,
    pub(super) ack: Script,
    pub(super) dead: Script,
    pub(super) fail: Script,
    pub(super) replay: Script,
    pub(super) renew: Script,
    pub(super) release: Script,
    pub(super) assign: Script,
    pub(super) resign: Script,
    pub(super) claim: Script,
    pub(super) take_back: Script,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.target {
            Target::Single(_) => "single",
            Target::Cluster(_) => "cluster",
        };
        f.debug_struct("Store")
            .field("prefix", &self.prefix)
            .field("mode", &mode)
            .finish()
    }
}

/// Where Redis is.
#[derive(Debug, Clone)]
pub enum RedisTarget {
    /// One server.
    Single(String),
    /// A cluster, by seed nodes.
    Cluster(Vec<String>),
}

/// What `rediss://` connections trust and present. Without a CA bundle
/// they trust the webpki roots; with one, that bundle only (the Redis
/// client takes one set of roots).
#[derive(Clone, Default)]
pub struct RedisTls {
    /// CA certificates (PEM).
    pub ca_pem: Option<Vec<u8>>,
    /// A client certificate and its private key (PEM), for servers that
    /// require one.
    pub client: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for RedisTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTls")
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "<set>"))
            .field("client", &self.client.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl RedisTls {
    /// The certificates as the redis client takes them; None when there is
    /// nothing beyond the defaults.
    fn certificates(&self) -> Option<redis::TlsCertificates> {
        if self.ca_pem.is_none() && self.client.is_none() {
            return None;
        }
        Some(redis::TlsCertificates {
            client_tls: self
                .client
                .as_ref()
                .map(|(cert, key)| redis::ClientTlsConfig {
                    client_cert: cert.clone(),
                    client_key: key.clone(),
                }),
            root_cert: self.ca_pem.clone(),
        })
    }
}

impl Store {
    /// Connects (the connection reconnects by itself afterwards);
    /// `rediss://` trusts the webpki roots.
    pub async fn connect(
        target: &RedisTarget,
        prefix: &str,
        key: QueueKey,
    ) -> Result<Self, StoreError> {
        Self::connect_with(target, prefix, key, &RedisTls::default()).await
    }

    /// Connects, `rediss://` as `tls` says (a private CA, a client
    /// certificate); `redis://` ignores it.
    pub async fn connect_with(
        target: &RedisTarget,
        prefix: &str,
        key: QueueKey,
        tls: &RedisTls,
    ) -> Result<Self, StoreError> {
        let certs = tls.certificates();
        let target = match target {
            RedisTarget::Single(url) => Target::Single(Box::new(
                match &certs {
                    Some(c) if url.starts_with("rediss://") => {
                        redis::Client::build_with_tls(url.as_str(), c.clone())
                    }
                    _ => redis::Client::open(url.as_str()),
                }
                .map_err(redis_err("open"))?,
            )),
            RedisTarget::Cluster(nodes) => {
                let mut b =
                    redis::cluster::ClusterClientBuilder::new(nodes.iter().map(String::as_str))
                        .connection_timeout(Duration::from_secs(3))
                        .response_timeout(Duration::from_secs(10));
                if let Some(c) = certs.filter(|_| nodes.iter().any(|n| n.starts_with("rediss://")))
                {
                    b = b.certs(c);
                }
                Target::Cluster(Box::new(b.build().map_err(redis_err("open"))?))
            }
        };
        let conn = match Self::open(&target).await {
            Err(StoreError::Redis { message, .. })
                if matches!(target, Target::Cluster(_))
                    && message.contains("cluster support disabled") =>
            {
                return Err(StoreError::WrongTopology {
                    setting: "redis.cluster_nodes",
                    reason: format!(
                        "expected Redis Cluster nodes, got a Redis with cluster support \
                         disabled (it answered: {message}); for a single Redis set redis.url \
                         and leave redis.cluster_nodes empty"
                    ),
                });
            }
            other => other?,
        };
        if let Conn::Single(c) = &conn {
            // A cluster node reached as a single Redis answers MOVED for
            // most keys: refused here with what to change.
            // A Redis that refuses INFO (an ACL without it, a proxy) is
            // not held up: the check is a convenience, not a guard.
            let info: String = redis::cmd("INFO")
                .arg("cluster")
                .query_async(&mut c.clone())
                .await
                .unwrap_or_default();
            if info.lines().any(|l| l.trim() == "cluster_enabled:1") {
                return Err(StoreError::WrongTopology {
                    setting: "redis.url",
                    reason: "expected a single Redis, got a Redis Cluster node \
                             (INFO cluster: cluster_enabled:1); list the cluster's nodes in \
                             redis.cluster_nodes instead"
                        .into(),
                });
            }
        }
        let scripts = Arc::new(Scripts {
            append: Script::new(lane::APPEND_LUA),
            ack: Script::new(lane::ACK_LUA),
            fail: Script::new(lane::FAIL_LUA),
            dead: Script::new(dead::DEAD_LUA),
            replay: Script::new(dead::REPLAY_LUA),
            renew: Script::new(lease::RENEW_LUA),
            release: Script::new(lease::RELEASE_LUA),
            assign: Script::new(state::ASSIGN_LUA),
            resign: Script::new(state::RESIGN_LUA),
            claim: Script::new(lease::CLAIM_LUA),
            take_back: Script::new(lane::TAKE_BACK_LUA),
        });
        Ok(Self {
            target,
            conn,
            prefix: prefix.to_owned(),
            key,
            scripts,
            wait: None,
        })
    }

    /// Every lane append waits until `replicas` replicas of its master hold
    /// it (Redis `WAIT`, up to `timeout_ms`), and fails (retryable) when
    /// fewer acknowledge: the origin's scanned cursor, on another slot and
    /// often another master, only moves past a block once its entries
    /// would survive their master's failover. 0 turns it off.
    #[must_use]
    pub fn with_wait(mut self, replicas: u32, timeout_ms: u64) -> Self {
        self.wait = (replicas > 0).then_some((replicas, timeout_ms));
        self
    }

    async fn open(target: &Target) -> Result<Conn, StoreError> {
        match target {
            Target::Single(client) => {
                let cfg = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(3)))
                    .set_response_timeout(Some(Duration::from_secs(10)))
                    .set_number_of_retries(2)
                    .set_max_delay(Duration::from_secs(2));
                let c = client
                    .get_connection_manager_with_config(cfg)
                    .await
                    .map_err(redis_err("connect"))?;
                Ok(Conn::Single(c))
            }
            Target::Cluster(client) => {
                let c = client
                    .get_async_connection()
                    .await
                    .map_err(redis_err("connect"))?;
                Ok(Conn::Cluster(c))
            }
        }
    }

    /// The same lanes over a connection of their own. Blocking reads
    /// (`XREADGROUP BLOCK`) hold their connection: every shard worker takes
    /// a dedicated one so it never stalls the watchers' appends.
    pub async fn dedicated(&self) -> Result<Self, StoreError> {
        let conn = Self::open(&self.target).await?;
        Ok(Self {
            conn,
            ..self.clone()
        })
    }

    pub(super) fn k(&self, lane: LaneId, what: &str) -> String {
        format!(
            "{}:{{lane:{}:{}}}:{what}",
            self.prefix, lane.dst, lane.shard
        )
    }

    /// The key of `lane`'s lease: its holder's id, what the lease calls
    /// and the lane's take-back check both read.
    pub(super) fn lease_key(&self, lane: LaneId) -> String {
        self.k(lane, "owner")
    }

    pub(super) fn lc_key(&self, origin: Domain) -> String {
        format!("{}:{{origin:{origin}}}:lc", self.prefix)
    }

    pub(super) fn beacon_key(&self, origin: Domain) -> String {
        format!("{}:{{origin:{origin}}}:beacon", self.prefix)
    }

    pub(super) fn cometbft_key(&self, origin: Domain) -> String {
        format!("{}:{{origin:{origin}}}:cometbft", self.prefix)
    }

    pub(super) fn scanned_key(&self, origin: Domain) -> String {
        format!("{}:{{origin:{origin}}}:scanned", self.prefix)
    }

    pub(super) fn workers_key(&self, dst: Domain) -> String {
        format!("{}:{{dst:{dst}}}:workers", self.prefix)
    }

    /// PING.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: String = redis::cmd("PING")
            .query_async(&mut c)
            .await
            .map_err(redis_err("ping"))?;
        Ok(())
    }

    /// The lane operations over this connection.
    pub fn lanes(&self) -> Lanes {
        Lanes::new(self.clone())
    }

    /// The dead letters over this connection.
    pub fn dead_letters(&self) -> DeadLetters {
        DeadLetters::new(self.clone())
    }

    /// Shard leases and the worker registry over this connection.
    pub fn leases(&self) -> Leases {
        Leases::new(self.clone())
    }

    /// The origins' persisted state over this connection.
    pub fn origin_state(&self) -> OriginState {
        OriginState::new(self.clone())
    }

    /// The status journal's storage over this connection.
    pub fn status(&self) -> StatusStore {
        StatusStore::new(self.clone())
    }
}

pub(super) fn field_bytes(v: Option<&Value>) -> Option<Vec<u8>> {
    match v {
        Some(Value::BulkString(b)) => Some(b.clone()),
        Some(Value::SimpleString(t)) => Some(t.clone().into_bytes()),
        _ => None,
    }
}

/// A stream id `ms-seq` as numbers, for ordering.
pub(crate) fn stream_id_key(id: &str) -> (u64, u64) {
    let (a, b) = id.split_once('-').unwrap_or((id, "0"));
    (a.parse().unwrap_or(0), b.parse().unwrap_or(0))
}

pub(super) fn first_id_ms(v: &Value) -> Option<u64> {
    // XRANGE reply: [[id, [field, value, ...]], ...]
    let Value::Array(entries) = v else {
        return None;
    };
    let Value::Array(first) = entries.first()? else {
        return None;
    };
    let id = match first.first()? {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        _ => return None,
    };
    id.split('-').next()?.parse().ok()
}
