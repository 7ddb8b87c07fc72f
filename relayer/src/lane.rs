//! The lanes: a typed queue over Redis Streams. No Redis type leaves this
//! module.
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
//! `{dst:<d>}:workers` is the registry dispatcher workers heartbeat into.

use std::time::Duration;

use alloy_primitives::{B256, Bytes};
use hmac::{Hmac, KeyInit, Mac};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::streams::{StreamAutoClaimReply, StreamRangeReply, StreamReadReply};
use redis::{Cmd, Pipeline, RedisFuture, Script, Value};
use sha2::Sha256;
use switchyard_types::Domain;

/// Errors of the queue.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
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
    /// A dead letter that does not exist.
    #[error("dead letter {reference} not found")]
    NotFound {
        /// `shard/id` as given.
        reference: String,
    },
}

impl QueueError {
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
        }
    }
}

fn redis_err(op: &'static str) -> impl Fn(redis::RedisError) -> QueueError {
    move |e| QueueError::Redis {
        op,
        message: e.to_string(),
    }
}

/// Version of the entry encoding written in field `v`.
pub const ENTRY_VERSION: u32 = 1;

/// One shard of one destination's lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LaneId {
    /// Destination domain.
    pub dst: Domain,
    /// Shard index, below the destination's shard count.
    pub shard: u16,
}

impl std::fmt::Display for LaneId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.dst, self.shard)
    }
}

/// One lane entry: the verified messages of one origin block for one shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneEntry {
    /// Origin domain.
    pub origin: Domain,
    /// Origin block the messages were proven in.
    pub height: u64,
    /// When the light client verified them (unix ms), for latency metrics.
    pub verified_at_ms: u64,
    /// Encoded messages (Hyperlane v3 layout), in log order.
    pub messages: Vec<Bytes>,
}

impl LaneEntry {
    /// Binary body: `origin u32 | height u64 | verified_at_ms u64 | count u32 |
    /// (len u32 | message)*`, big-endian.
    pub fn encode(&self) -> Vec<u8> {
        let size = 24 + self.messages.iter().map(|m| 4 + m.len()).sum::<usize>();
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(&self.origin.to_be_bytes());
        out.extend_from_slice(&self.height.to_be_bytes());
        out.extend_from_slice(&self.verified_at_ms.to_be_bytes());
        out.extend_from_slice(&(self.messages.len() as u32).to_be_bytes());
        for m in &self.messages {
            out.extend_from_slice(&(m.len() as u32).to_be_bytes());
            out.extend_from_slice(m);
        }
        out
    }

    /// Inverse of [`LaneEntry::encode`]; `id` only labels errors.
    pub fn decode(id: &str, bytes: &[u8]) -> Result<Self, QueueError> {
        let err = |reason: String| QueueError::Decode {
            id: id.to_owned(),
            reason,
        };
        let mut r = Reader { bytes, at: 0 };
        let origin = r.u32().ok_or_else(|| err("truncated header".into()))?;
        let height = r.u64().ok_or_else(|| err("truncated header".into()))?;
        let verified_at_ms = r.u64().ok_or_else(|| err("truncated header".into()))?;
        let count = r.u32().ok_or_else(|| err("truncated header".into()))? as usize;
        // Each message needs at least 4 bytes: a count beyond that is a lie,
        // and must not make us allocate.
        if count > bytes.len() / 4 {
            return Err(err(format!(
                "count {count} exceeds what {} bytes can hold",
                bytes.len()
            )));
        }
        let mut messages = Vec::with_capacity(count);
        for i in 0..count {
            let len = r
                .u32()
                .ok_or_else(|| err(format!("message {i}: truncated length")))?
                as usize;
            let m = r.take(len).ok_or_else(|| {
                err(format!(
                    "message {i}: expected {len} bytes, got {}",
                    bytes.len() - r.at
                ))
            })?;
            messages.push(Bytes::copy_from_slice(m));
        }
        if r.at != bytes.len() {
            return Err(err(format!(
                "expected {} bytes, got {} (trailing data)",
                r.at,
                bytes.len()
            )));
        }
        Ok(Self {
            origin,
            height,
            verified_at_ms,
            messages,
        })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(u64::from_be_bytes(a))
    }
}

/// The HMAC key of lane entries. `Debug` never shows it.
#[derive(Clone)]
pub struct QueueKey(Hmac<Sha256>);

impl std::fmt::Debug for QueueKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QueueKey(<redacted>)")
    }
}

impl QueueKey {
    /// Minimum key length in bytes.
    pub const MIN_LEN: usize = 32;

    /// A key from raw bytes (at least [`QueueKey::MIN_LEN`]).
    pub fn new(key: &[u8]) -> Result<Self, QueueError> {
        if key.len() < Self::MIN_LEN {
            return Err(QueueError::Key {
                reason: format!(
                    "expected at least {} bytes, got {}",
                    Self::MIN_LEN,
                    key.len()
                ),
            });
        }
        let mac = Hmac::<Sha256>::new_from_slice(key).map_err(|e| QueueError::Key {
            reason: e.to_string(),
        })?;
        Ok(Self(mac))
    }

    /// A key from a secret's text: hex (64+ hex digits, optional 0x) is
    /// decoded, anything else is taken as raw bytes.
    pub fn from_secret(text: &str) -> Result<Self, QueueError> {
        let t = text.trim();
        let hex_part = t.strip_prefix("0x").unwrap_or(t);
        match hex::decode(hex_part) {
            Ok(bytes) if !hex_part.is_empty() => Self::new(&bytes),
            _ => Self::new(t.as_bytes()),
        }
    }

    /// The MAC of a lane entry: it binds the entry to its lane, so an entry
    /// cannot be replayed into another destination or shard.
    fn lane_mac(&self, lane: LaneId, version: &[u8], body: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.0.clone();
        mac.update(b"switchyard-lane-entry");
        mac.update(&lane.dst.to_be_bytes());
        mac.update(&lane.shard.to_be_bytes());
        mac.update(&(version.len() as u32).to_be_bytes());
        mac.update(version);
        mac.update(body);
        mac
    }

    fn tag(&self, lane: LaneId, version: &[u8], body: &[u8]) -> [u8; 32] {
        self.lane_mac(lane, version, body)
            .finalize()
            .into_bytes()
            .into()
    }

    /// Constant-time check of a lane entry's tag.
    fn verify(&self, lane: LaneId, version: &[u8], body: &[u8], tag: &[u8]) -> bool {
        self.lane_mac(lane, version, body).verify_slice(tag).is_ok()
    }

    /// The MAC of hub state stored under key `what` (distinct keys never
    /// collide, and never with lane entries).
    fn state_mac(&self, what: &str, data: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.0.clone();
        mac.update(b"switchyard-state");
        mac.update(&(what.len() as u32).to_be_bytes());
        mac.update(what.as_bytes());
        mac.update(data);
        mac
    }

    fn tag_state(&self, what: &str, data: &[u8]) -> [u8; 32] {
        self.state_mac(what, data).finalize().into_bytes().into()
    }

    fn verify_state(&self, what: &str, data: &[u8], tag: &[u8]) -> bool {
        self.state_mac(what, data).verify_slice(tag).is_ok()
    }
}

/// An entry handed to a dispatcher.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Stream entry id (to acknowledge).
    pub id: String,
    /// The decoded, authenticated entry, or why it is refused.
    pub entry: Result<LaneEntry, String>,
    /// The raw body, kept for the dead-letter stream.
    pub raw: Vec<u8>,
    /// Failed delivery attempts recorded so far.
    pub attempts: u32,
}

/// A dead letter.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeadLetter {
    /// `shard/dead-stream-id`: how the CLI and API address it.
    pub reference: String,
    /// The lane entry id it had.
    pub entry_id: String,
    /// Why it was given up.
    pub reason: String,
    /// The last delivery error recorded before it was given up.
    pub last_error: String,
    /// Attempts made.
    pub attempts: u32,
    /// Origin and height, when the body decodes.
    pub origin: Option<Domain>,
    /// Origin block.
    pub height: Option<u64>,
    /// Messages in the entry, when it decodes.
    pub messages: Option<usize>,
    /// When it was dead-lettered (unix ms, from the stream id).
    pub at_ms: u64,
}

/// The consumer group every dispatcher of a shard joins.
pub const GROUP: &str = "dispatchers";

// Append only if this origin block was not appended to this shard before, and
// advance the cursor in the same step. KEYS[1] cursor, KEYS[2] stream;
// ARGV[1] height, ARGV[2] entry version, ARGV[3] body, ARGV[4] tag.
// Returns 1 if appended, 0 if a replay.
const APPEND_LUA: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
redis.call('XADD', KEYS[2], '*', 'v', ARGV[2], 'b', ARGV[3], 'h', ARGV[4])
redis.call('SET', KEYS[1], ARGV[1])
return 1
";

// Acknowledge, delete, forget attempts. KEYS[1] stream, KEYS[2] attempts;
// ARGV group, ids...
const ACK_LUA: &str = r"
for i = 2, #ARGV do
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
  redis.call('XDEL', KEYS[1], ARGV[i])
  redis.call('HDEL', KEYS[2], ARGV[i], ARGV[i] .. ':err')
end
return #ARGV - 1
";

// Move to dead letters, copying the entry's own fields (body, version and
// tag as written: a forged entry keeps its forged tag, so replaying it does
// not make it authentic). KEYS[1] stream, KEYS[2] dead, KEYS[3] attempts;
// ARGV group, id, reason. Returns 1, or 0 if the entry is gone.
const DEAD_LUA: &str = r"
local e = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
if #e == 0 then
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
  return 0
end
local f = e[1][2]
local m = {}
for i = 1, #f, 2 do m[f[i]] = f[i + 1] end
local att = redis.call('HGET', KEYS[3], ARGV[2]) or '0'
local err = redis.call('HGET', KEYS[3], ARGV[2] .. ':err') or ''
redis.call('XADD', KEYS[2], '*', 'entry', ARGV[2], 'reason', ARGV[3], 'attempts', att,
  'last_error', err, 'b', m['b'] or '', 'h', m['h'] or '', 'v', m['v'] or '')
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2], ARGV[2] .. ':err')
return 1
";

// Record a failed attempt. KEYS[1] attempts; ARGV id, error. Returns count.
const FAIL_LUA: &str = r"
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('HSET', KEYS[1], ARGV[1] .. ':err', ARGV[2])
return n
";

// Replay a dead letter: re-append its body to the stream (a new id, so the
// consumer group picks it up) and remove it from the dead letters.
// KEYS[1] dead, KEYS[2] stream; ARGV dead id. Returns the new id or false.
const REPLAY_LUA: &str = r"
local e = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #e == 0 then return false end
local f = e[1][2]
local m = {}
for i = 1, #f, 2 do m[f[i]] = f[i + 1] end
if not m['b'] then return false end
local id = redis.call('XADD', KEYS[2], '*', 'v', m['v'] or '', 'b', m['b'], 'h', m['h'] or '')
redis.call('XDEL', KEYS[1], ARGV[1])
return id
";

// Choose once: KEYS[1] assignment; ARGV proposed member. Returns the
// recorded member.
const ASSIGN_LUA: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', 86400) then return ARGV[1] end
return redis.call('GET', KEYS[1])
";

// Lease: renew if still ours. KEYS[1] owner; ARGV owner, ttl ms.
const RENEW_LUA: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

// Lease: release if ours. KEYS[1] owner; ARGV owner.
const RELEASE_LUA: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// One Redis or a Redis Cluster, behind one connection type.
#[derive(Clone)]
enum Conn {
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
enum Target {
    // Boxed both: with TLS the client holds its certificates.
    Single(Box<redis::Client>),
    Cluster(Box<redis::cluster::ClusterClient>),
}

/// Handle to the lanes (cheap to clone; one multiplexed connection).
#[derive(Clone)]
pub struct Lanes {
    target: Target,
    conn: Conn,
    prefix: String,
    key: QueueKey,
    scripts: Scripts,
}

#[derive(Clone)]
struct Scripts {
    append: Script,
    ack: Script,
    dead: Script,
    fail: Script,
    replay: Script,
    renew: Script,
    release: Script,
    assign: Script,
}

impl std::fmt::Debug for Lanes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.target {
            Target::Single(_) => "single",
            Target::Cluster(_) => "cluster",
        };
        f.debug_struct("Lanes")
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

impl Lanes {
    /// Connects (the connection reconnects by itself afterwards);
    /// `rediss://` trusts the webpki roots.
    pub async fn connect(
        target: &RedisTarget,
        prefix: &str,
        key: QueueKey,
    ) -> Result<Self, QueueError> {
        Self::connect_with(target, prefix, key, &RedisTls::default()).await
    }

    /// Connects, `rediss://` as `tls` says (a private CA, a client
    /// certificate); `redis://` ignores it.
    pub async fn connect_with(
        target: &RedisTarget,
        prefix: &str,
        key: QueueKey,
        tls: &RedisTls,
    ) -> Result<Self, QueueError> {
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
        let conn = Self::open(&target).await?;
        let scripts = Scripts {
            append: Script::new(APPEND_LUA),
            ack: Script::new(ACK_LUA),
            dead: Script::new(DEAD_LUA),
            fail: Script::new(FAIL_LUA),
            replay: Script::new(REPLAY_LUA),
            renew: Script::new(RENEW_LUA),
            release: Script::new(RELEASE_LUA),
            assign: Script::new(ASSIGN_LUA),
        };
        Ok(Self {
            target,
            conn,
            prefix: prefix.to_owned(),
            key,
            scripts,
        })
    }

    async fn open(target: &Target) -> Result<Conn, QueueError> {
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
    pub async fn dedicated(&self) -> Result<Self, QueueError> {
        let conn = Self::open(&self.target).await?;
        Ok(Self {
            conn,
            ..self.clone()
        })
    }

    fn k(&self, lane: LaneId, what: &str) -> String {
        format!(
            "{}:{{lane:{}:{}}}:{what}",
            self.prefix, lane.dst, lane.shard
        )
    }
    fn lc_key(&self, origin: Domain) -> String {
        format!("{}:{{origin:{origin}}}:lc", self.prefix)
    }
    fn beacon_key(&self, origin: Domain) -> String {
        format!("{}:{{origin:{origin}}}:beacon", self.prefix)
    }
    fn cometbft_key(&self, origin: Domain) -> String {
        format!("{}:{{origin:{origin}}}:cometbft", self.prefix)
    }
    fn scanned_key(&self, origin: Domain) -> String {
        format!("{}:{{origin:{origin}}}:scanned", self.prefix)
    }
    fn workers_key(&self, dst: Domain) -> String {
        format!("{}:{{dst:{dst}}}:workers", self.prefix)
    }

    /// PING.
    pub async fn ping(&self) -> Result<(), QueueError> {
        let mut c = self.conn.clone();
        let _: String = redis::cmd("PING")
            .query_async(&mut c)
            .await
            .map_err(redis_err("ping"))?;
        Ok(())
    }

    /// Appends `entry` to `lane` unless origin block `entry.height` was
    /// appended to it before; returns whether it was appended.
    pub async fn append(&self, lane: LaneId, entry: &LaneEntry) -> Result<bool, QueueError> {
        let body = entry.encode();
        let version = ENTRY_VERSION.to_string();
        let tag = self.key.tag(lane, version.as_bytes(), &body);
        let mut c = self.conn.clone();
        let appended: i64 = self
            .scripts
            .append
            .key(self.k(lane, &format!("cursor:{}", entry.origin)))
            .key(self.k(lane, "stream"))
            .arg(entry.height)
            .arg(&version)
            .arg(body)
            .arg(&tag[..])
            .invoke_async(&mut c)
            .await
            .map_err(redis_err("append"))?;
        Ok(appended == 1)
    }

    /// Writes an entry exactly as given, bypassing the cursor and the HMAC:
    /// what an attacker with Redis access could do. For tests of the refusal
    /// path only.
    #[doc(hidden)]
    pub async fn write_raw(
        &self,
        lane: LaneId,
        fields: &[(&str, &[u8])],
    ) -> Result<String, QueueError> {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(self.k(lane, "stream")).arg("*");
        for (f, v) in fields {
            cmd.arg(*f).arg(*v);
        }
        let mut c = self.conn.clone();
        cmd.query_async(&mut c).await.map_err(redis_err("xadd"))
    }

    /// The member of route `group` for the messages of origin block
    /// `height`: the first caller's `proposed` member is recorded (SET NX,
    /// kept a day) and every later caller, this watcher after a restart or
    /// another replica's, gets the same answer. One decision per block means
    /// one member per message, so a message never reaches two chains.
    pub async fn assign_group_member(
        &self,
        origin: Domain,
        group: Domain,
        height: u64,
        proposed: Domain,
    ) -> Result<Domain, QueueError> {
        let mut c = self.conn.clone();
        let v: String = self
            .scripts
            .assign
            .key(format!(
                "{}:{{origin:{origin}}}:assign:{group}:{height}",
                self.prefix
            ))
            .arg(proposed)
            .invoke_async(&mut c)
            .await
            .map_err(redis_err("assign_group_member"))?;
        v.parse().map_err(|_| QueueError::Decode {
            id: format!("assignment of group {group} at {height}"),
            reason: format!("expected a domain, got {v:?}"),
        })
    }

    /// Stores `value` under `key` with a tag binding it to `key`: state the
    /// hub trusts (the light client's anchor, the routed cursor) must not be
    /// writable by whoever can write to Redis.
    async fn set_authenticated(
        &self,
        key: String,
        value: &str,
        op: &'static str,
    ) -> Result<(), QueueError> {
        let tag = hex::encode(self.key.tag_state(&key, value.as_bytes()));
        let mut c = self.conn.clone();
        redis::cmd("SET")
            .arg(&key)
            .arg(format!("{tag}:{value}"))
            .query_async(&mut c)
            .await
            .map_err(redis_err(op))
    }

    async fn get_authenticated(
        &self,
        key: String,
        op: &'static str,
    ) -> Result<Option<String>, QueueError> {
        let mut c = self.conn.clone();
        let v: Option<String> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut c)
            .await
            .map_err(redis_err(op))?;
        let Some(v) = v else { return Ok(None) };
        let refused = |reason: &str| QueueError::Decode {
            id: key.clone(),
            reason: reason.to_owned(),
        };
        let (tag, value) = v
            .split_once(':')
            .ok_or_else(|| refused("no authentication tag"))?;
        let tag = hex::decode(tag).map_err(|_| refused("authentication tag is not hex"))?;
        if !self.key.verify_state(&key, value.as_bytes(), &tag) {
            return Err(refused(
                "authentication failed: written without the queue key",
            ));
        }
        Ok(Some(value.to_owned()))
    }

    /// Highest origin block fully routed, if any.
    pub async fn scanned(&self, origin: Domain) -> Result<Option<u64>, QueueError> {
        let key = self.scanned_key(origin);
        match self.get_authenticated(key.clone(), "get_scanned").await? {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| QueueError::Decode {
                id: key,
                reason: format!("expected a block number, got {v:?}"),
            }),
        }
    }

    /// Records that every block up to `height` has been routed.
    pub async fn set_scanned(&self, origin: Domain, height: u64) -> Result<(), QueueError> {
        self.set_authenticated(self.scanned_key(origin), &height.to_string(), "set_scanned")
            .await
    }

    /// The persisted light-client state of `origin` (JSON), if any; refused
    /// if it was not written by a holder of the queue key.
    pub async fn load_lc(&self, origin: Domain) -> Result<Option<String>, QueueError> {
        self.get_authenticated(self.lc_key(origin), "load_lc").await
    }

    /// Persists the light-client state of `origin`.
    pub async fn save_lc(&self, origin: Domain, state: &str) -> Result<(), QueueError> {
        self.set_authenticated(self.lc_key(origin), state, "save_lc")
            .await
    }

    /// The persisted beacon light-client store of `origin` (hex of its
    /// snapshot), if any; refused if not written by a holder of the queue
    /// key.
    pub async fn load_beacon(&self, origin: Domain) -> Result<Option<String>, QueueError> {
        self.get_authenticated(self.beacon_key(origin), "load_beacon")
            .await
    }

    /// Persists the beacon light-client store of `origin`.
    pub async fn save_beacon(&self, origin: Domain, state: &str) -> Result<(), QueueError> {
        self.set_authenticated(self.beacon_key(origin), state, "save_beacon")
            .await
    }

    /// The persisted state of CometBFT origin `origin` (JSON: its trusted
    /// light block and the next outbox nonce), if any; refused if not
    /// written by a holder of the queue key.
    pub async fn load_cometbft(&self, origin: Domain) -> Result<Option<String>, QueueError> {
        self.get_authenticated(self.cometbft_key(origin), "load_cometbft")
            .await
    }

    /// Persists the state of CometBFT origin `origin`.
    pub async fn save_cometbft(&self, origin: Domain, state: &str) -> Result<(), QueueError> {
        self.set_authenticated(self.cometbft_key(origin), state, "save_cometbft")
            .await
    }

    /// Creates the consumer group of `lane` if missing.
    pub async fn ensure_group(&self, lane: LaneId) -> Result<(), QueueError> {
        let mut c = self.conn.clone();
        let r: redis::RedisResult<String> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(self.k(lane, "stream"))
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut c)
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            Err(e) => Err(redis_err("xgroup_create")(e)),
        }
    }

    /// Reads up to `count` entries for `consumer`: its own pending entries
    /// when `pending`, new ones otherwise, waiting up to `block` for them.
    pub async fn read(
        &self,
        lane: LaneId,
        consumer: &str,
        count: usize,
        block: Duration,
        pending: bool,
    ) -> Result<Vec<Delivery>, QueueError> {
        let mut c = self.conn.clone();
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(GROUP)
            .arg(consumer)
            .arg("COUNT")
            .arg(count);
        if !pending && !block.is_zero() {
            cmd.arg("BLOCK").arg(block.as_millis() as u64);
        }
        cmd.arg("STREAMS")
            .arg(self.k(lane, "stream"))
            .arg(if pending { "0" } else { ">" });
        let reply: Option<StreamReadReply> = cmd
            .query_async(&mut c)
            .await
            .map_err(redis_err("xreadgroup"))?;
        let ids = reply
            .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
            .unwrap_or_default();
        self.deliveries(lane, ids).await
    }

    /// Claims entries idle for at least `min_idle` on other consumers (dead,
    /// or whose lease on the shard expired).
    pub async fn reclaim(
        &self,
        lane: LaneId,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<Delivery>, QueueError> {
        let mut c = self.conn.clone();
        let mut start = "0-0".to_owned();
        let mut all = Vec::new();
        // XAUTOCLAIM pages through the pending list; bounded rounds.
        for _ in 0..64 {
            let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
                .arg(self.k(lane, "stream"))
                .arg(GROUP)
                .arg(consumer)
                .arg(min_idle.as_millis() as u64)
                .arg(&start)
                .arg("COUNT")
                .arg(count)
                .query_async(&mut c)
                .await
                .map_err(redis_err("xautoclaim"))?;
            all.extend(reply.claimed);
            if reply.next_stream_id == "0-0" || all.len() >= count {
                break;
            }
            start = reply.next_stream_id;
        }
        all.sort_by_key(|s| stream_id_key(&s.id));
        self.deliveries(lane, all).await
    }

    async fn deliveries(
        &self,
        lane: LaneId,
        ids: Vec<redis::streams::StreamId>,
    ) -> Result<Vec<Delivery>, QueueError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // Attempt counts of these entries, in one round trip.
        let mut c = self.conn.clone();
        let mut hmget = redis::cmd("HMGET");
        hmget.arg(self.k(lane, "attempts"));
        for s in &ids {
            hmget.arg(&s.id);
        }
        let attempts: Vec<Option<u32>> = hmget
            .query_async(&mut c)
            .await
            .map_err(redis_err("hmget"))?;
        Ok(ids
            .into_iter()
            .zip(attempts)
            .map(|(s, a)| {
                let mut d = self.to_delivery(lane, s);
                d.attempts = a.unwrap_or(0);
                d
            })
            .collect())
    }

    fn to_delivery(&self, lane: LaneId, s: redis::streams::StreamId) -> Delivery {
        let field = |name: &str| field_bytes(s.map.get(name));
        let raw = field("b").unwrap_or_default();
        let entry = match (field("v"), field("h")) {
            (None, _) => Err("no version field `v`".to_owned()),
            (Some(_), None) => Err("no authentication tag `h`".to_owned()),
            (Some(v), Some(tag)) => {
                if !self.key.verify(lane, &v, &raw, &tag) {
                    Err(format!(
                        "authentication failed: HMAC does not match lane {lane}"
                    ))
                } else if v != ENTRY_VERSION.to_string().as_bytes() {
                    Err(format!(
                        "entry version: expected {ENTRY_VERSION}, got {:?}",
                        String::from_utf8_lossy(&v)
                    ))
                } else {
                    LaneEntry::decode(&s.id, &raw).map_err(|e| e.to_string())
                }
            }
        };
        Delivery {
            id: s.id,
            entry,
            raw,
            attempts: 0,
        }
    }

    /// Acknowledges and removes delivered entries (so XLEN is the backlog).
    pub async fn ack(&self, lane: LaneId, ids: &[String]) -> Result<(), QueueError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut c = self.conn.clone();
        let mut inv = self.scripts.ack.key(self.k(lane, "stream"));
        inv.key(self.k(lane, "attempts")).arg(GROUP);
        for id in ids {
            inv.arg(id);
        }
        let _: i64 = inv.invoke_async(&mut c).await.map_err(redis_err("ack"))?;
        Ok(())
    }

    /// Records a failed delivery attempt of entry `id` with its error;
    /// returns the number of attempts so far (persisted: survives restarts).
    pub async fn record_failure(
        &self,
        lane: LaneId,
        id: &str,
        error: &str,
    ) -> Result<u32, QueueError> {
        let mut c = self.conn.clone();
        self.scripts
            .fail
            .key(self.k(lane, "attempts"))
            .arg(id)
            .arg(error)
            .invoke_async(&mut c)
            .await
            .map_err(redis_err("record_failure"))
    }

    /// Moves entry `id` to the dead-letter stream with `reason` (and the
    /// last recorded error and attempts), and acknowledges it, atomically.
    pub async fn dead_letter(
        &self,
        lane: LaneId,
        id: &str,
        reason: &str,
    ) -> Result<(), QueueError> {
        let mut c = self.conn.clone();
        let _: i64 = self
            .scripts
            .dead
            .key(self.k(lane, "stream"))
            .key(self.k(lane, "dead"))
            .key(self.k(lane, "attempts"))
            .arg(GROUP)
            .arg(id)
            .arg(reason)
            .invoke_async(&mut c)
            .await
            .map_err(redis_err("dead_letter"))?;
        Ok(())
    }

    /// Dead letters of every shard of `dst` (`shards` of them), oldest first.
    pub async fn dead_letters(
        &self,
        dst: Domain,
        shards: u16,
    ) -> Result<Vec<DeadLetter>, QueueError> {
        let mut out = Vec::new();
        for shard in 0..shards {
            let lane = LaneId { dst, shard };
            let mut c = self.conn.clone();
            let r: StreamRangeReply = redis::cmd("XRANGE")
                .arg(self.k(lane, "dead"))
                .arg("-")
                .arg("+")
                .query_async(&mut c)
                .await
                .map_err(redis_err("xrange"))?;
            for s in r.ids {
                out.push(dead_letter_of(lane, &s));
            }
        }
        out.sort_by_key(|d| d.at_ms);
        Ok(out)
    }

    fn parse_ref(reference: &str, dst: Domain) -> Result<(LaneId, String), QueueError> {
        let nf = || QueueError::NotFound {
            reference: reference.to_owned(),
        };
        let (shard, id) = reference.split_once('/').ok_or_else(nf)?;
        let shard: u16 = shard.parse().map_err(|_| nf())?;
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit() || c == '-') {
            return Err(nf());
        }
        Ok((LaneId { dst, shard }, id.to_owned()))
    }

    /// Puts dead letter `reference` (`shard/id`) of `dst` back into its lane;
    /// returns the new entry id. The dispatcher authenticates it again.
    pub async fn replay_dead_letter(
        &self,
        dst: Domain,
        reference: &str,
    ) -> Result<String, QueueError> {
        let (lane, id) = Self::parse_ref(reference, dst)?;
        let mut c = self.conn.clone();
        let new: Option<String> = self
            .scripts
            .replay
            .key(self.k(lane, "dead"))
            .key(self.k(lane, "stream"))
            .arg(&id)
            .invoke_async(&mut c)
            .await
            .map_err(redis_err("replay"))?;
        new.ok_or_else(|| QueueError::NotFound {
            reference: reference.to_owned(),
        })
    }

    /// One dead letter of `dst` with its entry body.
    pub async fn dead_letter_detail(
        &self,
        dst: Domain,
        reference: &str,
    ) -> Result<(DeadLetter, Vec<u8>), QueueError> {
        let (lane, id) = Self::parse_ref(reference, dst)?;
        let mut c = self.conn.clone();
        let r: StreamRangeReply = redis::cmd("XRANGE")
            .arg(self.k(lane, "dead"))
            .arg(&id)
            .arg(&id)
            .query_async(&mut c)
            .await
            .map_err(redis_err("xrange"))?;
        let s = r
            .ids
            .into_iter()
            .next()
            .ok_or_else(|| QueueError::NotFound {
                reference: reference.to_owned(),
            })?;
        Ok((
            dead_letter_of(lane, &s),
            field_bytes(s.map.get("b")).unwrap_or_default(),
        ))
    }

    /// Deletes dead letter `reference` of `dst`.
    pub async fn drop_dead_letter(&self, dst: Domain, reference: &str) -> Result<(), QueueError> {
        let (lane, id) = Self::parse_ref(reference, dst)?;
        let mut c = self.conn.clone();
        let n: i64 = redis::cmd("XDEL")
            .arg(self.k(lane, "dead"))
            .arg(&id)
            .query_async(&mut c)
            .await
            .map_err(redis_err("xdel"))?;
        if n == 0 {
            return Err(QueueError::NotFound {
                reference: reference.to_owned(),
            });
        }
        Ok(())
    }

    /// Takes the lease of `lane` for `owner` if free.
    pub async fn acquire_lease(
        &self,
        lane: LaneId,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, QueueError> {
        let mut c = self.conn.clone();
        let r: Option<String> = redis::cmd("SET")
            .arg(self.k(lane, "owner"))
            .arg(owner)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .query_async(&mut c)
            .await
            .map_err(redis_err("lease"))?;
        Ok(r.is_some())
    }

    /// Extends `owner`'s lease of `lane`; false if it is not `owner`'s any more.
    pub async fn renew_lease(
        &self,
        lane: LaneId,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, QueueError> {
        let mut c = self.conn.clone();
        let r: i64 = self
            .scripts
            .renew
            .key(self.k(lane, "owner"))
            .arg(owner)
            .arg(ttl.as_millis() as u64)
            .invoke_async(&mut c)
            .await
            .map_err(redis_err("lease"))?;
        Ok(r == 1)
    }

    /// Gives up `owner`'s lease of `lane`.
    pub async fn release_lease(&self, lane: LaneId, owner: &str) -> Result<(), QueueError> {
        let mut c = self.conn.clone();
        let _: i64 = self
            .scripts
            .release
            .key(self.k(lane, "owner"))
            .arg(owner)
            .invoke_async(&mut c)
            .await
            .map_err(redis_err("lease"))?;
        Ok(())
    }

    /// Heartbeats `worker` into `dst`'s registry at `now_ms`, forgets workers
    /// silent for `ttl`, and returns how many are alive.
    pub async fn heartbeat(
        &self,
        dst: Domain,
        worker: &str,
        now_ms: u64,
        ttl: Duration,
    ) -> Result<u64, QueueError> {
        let key = self.workers_key(dst);
        let mut c = self.conn.clone();
        let (_, _, live): (i64, i64, u64) = redis::pipe()
            .cmd("ZADD")
            .arg(&key)
            .arg(now_ms)
            .arg(worker)
            .cmd("ZREMRANGEBYSCORE")
            .arg(&key)
            .arg("-inf")
            .arg(now_ms.saturating_sub(ttl.as_millis() as u64))
            .cmd("ZCARD")
            .arg(&key)
            .query_async(&mut c)
            .await
            .map_err(redis_err("heartbeat"))?;
        Ok(live)
    }

    /// Removes `worker` from `dst`'s registry (clean shutdown).
    pub async fn leave(&self, dst: Domain, worker: &str) -> Result<(), QueueError> {
        let mut c = self.conn.clone();
        let _: i64 = redis::cmd("ZREM")
            .arg(self.workers_key(dst))
            .arg(worker)
            .query_async(&mut c)
            .await
            .map_err(redis_err("leave"))?;
        Ok(())
    }

    /// Backlog of one shard: entries not yet acknowledged, pending (read
    /// but not acknowledged), and the oldest entry's age in ms at `now_ms`.
    pub async fn shard_backlog(
        &self,
        lane: LaneId,
        now_ms: u64,
    ) -> Result<(u64, u64, u64), QueueError> {
        let key = self.k(lane, "stream");
        let mut c = self.conn.clone();
        let len: u64 = redis::cmd("XLEN")
            .arg(&key)
            .query_async(&mut c)
            .await
            .map_err(redis_err("xlen"))?;
        if len == 0 {
            return Ok((0, 0, 0));
        }
        let first: Value = redis::cmd("XRANGE")
            .arg(&key)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut c)
            .await
            .map_err(redis_err("xrange"))?;
        let pending: Value = redis::cmd("XPENDING")
            .arg(&key)
            .arg(GROUP)
            .query_async(&mut c)
            .await
            .unwrap_or(Value::Nil);
        let pending = match pending {
            Value::Array(v) => match v.first() {
                Some(Value::Int(n)) => *n as u64,
                _ => 0,
            },
            _ => 0,
        };
        let oldest_ms = first_id_ms(&first).map_or(0, |t| now_ms.saturating_sub(t));
        Ok((len, pending, oldest_ms))
    }

    /// Entries in all `shards` of `dst`: the cheap reading behind
    /// backpressure, taken several times a second.
    pub async fn backlog_len(&self, dst: Domain, shards: u16) -> Result<u64, QueueError> {
        // Concurrent on the multiplexed connection: one round trip's wait,
        // and each key in its own slot works on a cluster too.
        let lens = futures::future::try_join_all((0..shards).map(|shard| {
            let mut c = self.conn.clone();
            let key = self.k(LaneId { dst, shard }, "stream");
            async move {
                redis::cmd("XLEN")
                    .arg(&key)
                    .query_async::<u64>(&mut c)
                    .await
                    .map_err(redis_err("xlen"))
            }
        }))
        .await?;
        Ok(lens.iter().sum())
    }

    /// Entries, pending entries and the oldest entry's age (ms) across the
    /// shards of `dst`.
    pub async fn backlog(
        &self,
        dst: Domain,
        shards: u16,
        now_ms: u64,
    ) -> Result<(u64, u64, u64), QueueError> {
        let (mut len, mut pending, mut oldest) = (0, 0, 0);
        for shard in 0..shards {
            let (l, p, o) = self.shard_backlog(LaneId { dst, shard }, now_ms).await?;
            len += l;
            pending += p;
            oldest = oldest.max(o);
        }
        Ok((len, pending, oldest))
    }
}

fn field_bytes(v: Option<&Value>) -> Option<Vec<u8>> {
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

fn dead_letter_of(lane: LaneId, s: &redis::streams::StreamId) -> DeadLetter {
    let text = |name: &str| {
        field_bytes(s.map.get(name))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    let body = field_bytes(s.map.get("b")).unwrap_or_default();
    let decoded = LaneEntry::decode(&s.id, &body).ok();
    DeadLetter {
        reference: format!("{}/{}", lane.shard, s.id),
        entry_id: text("entry"),
        reason: text("reason"),
        last_error: text("last_error"),
        attempts: text("attempts").parse().unwrap_or(0),
        origin: decoded.as_ref().map(|e| e.origin),
        height: decoded.as_ref().map(|e| e.height),
        messages: decoded.as_ref().map(|e| e.messages.len()),
        at_ms: stream_id_key(&s.id).0,
    }
}

fn first_id_ms(v: &Value) -> Option<u64> {
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

/// One write of the status journal (`crate::journal`). The journal is
/// informational: nothing here is authenticated or read back by the
/// delivery path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusOp {
    /// Sets fields of message `id`'s record.
    Fields {
        /// Message id.
        id: B256,
        /// (field, value) pairs.
        fields: Vec<(&'static str, Vec<u8>)>,
    },
    /// Adds `members` to the index of a transaction hash (origin or
    /// destination). Members are opaque here: bytes that sort in list
    /// order (`crate::status_index`).
    Tx {
        /// Transaction hash.
        hash: B256,
        /// Index members of the messages in the transaction.
        members: Vec<Vec<u8>>,
    },
    /// Adds `members` to the index of their sender on `origin`, which keeps
    /// the [`SENDER_INDEX_LEN`] greatest (newest).
    Sender {
        /// Origin domain.
        origin: Domain,
        /// Sender (32 bytes).
        sender: B256,
        /// Index members of the messages.
        members: Vec<Vec<u8>>,
    },
    /// Adds `n` to the deployment-wide count of `stage` on a route.
    Count {
        /// Origin domain.
        origin: Domain,
        /// Destination domain.
        dst: Domain,
        /// Stage name.
        stage: &'static str,
        /// How many.
        n: u64,
    },
}

/// Members kept per (origin, sender) index: the newest ones.
pub const SENDER_INDEX_LEN: usize = 1000;

impl Lanes {
    fn status_key(&self, id: &B256) -> String {
        format!("{}:status:msg:{id:x}", self.prefix)
    }
    // Sorted sets; the names differ from the earlier set and list
    // (`status:tx:`, `status:sender:`) so an upgraded hub never meets a key
    // of the old type.
    fn status_tx_key(&self, hash: &B256) -> String {
        format!("{}:status:by_tx:{hash:x}", self.prefix)
    }
    fn status_sender_key(&self, origin: Domain, sender: &B256) -> String {
        format!("{}:status:by_sender:{origin}:{sender:x}", self.prefix)
    }
    fn status_counts_key(&self) -> String {
        format!("{}:status:counts", self.prefix)
    }

    /// Applies journal writes; every key written expires `ttl_secs` after
    /// its last write. Pipelined on one server; on a cluster, concurrent on
    /// the multiplexed connection so each key finds its own node. In
    /// chunks, so one call never floods the connection.
    pub async fn write_status(&self, ops: &[StatusOp], ttl_secs: u64) -> Result<(), QueueError> {
        let mut cmds: Vec<Cmd> = Vec::with_capacity(ops.len() * 3);
        for op in ops {
            let key = match op {
                StatusOp::Fields { id, fields } => {
                    if fields.is_empty() {
                        continue;
                    }
                    let key = self.status_key(id);
                    let mut c = redis::cmd("HSET");
                    c.arg(&key);
                    for (f, v) in fields {
                        c.arg(*f).arg(v.as_slice());
                    }
                    cmds.push(c);
                    key
                }
                StatusOp::Tx { hash, members } => {
                    if members.is_empty() {
                        continue;
                    }
                    let key = self.status_tx_key(hash);
                    cmds.push(zadd_lex(&key, members));
                    key
                }
                StatusOp::Sender {
                    origin,
                    sender,
                    members,
                } => {
                    if members.is_empty() {
                        continue;
                    }
                    let key = self.status_sender_key(*origin, sender);
                    cmds.push(zadd_lex(&key, members));
                    // Equal scores: ranks follow byte order, so the lowest
                    // ranks are the oldest members.
                    let mut t = redis::cmd("ZREMRANGEBYRANK");
                    t.arg(&key).arg(0).arg(-(SENDER_INDEX_LEN as i64) - 1);
                    cmds.push(t);
                    key
                }
                StatusOp::Count {
                    origin,
                    dst,
                    stage,
                    n,
                } => {
                    // Counts live as long as the deployment: no expiry.
                    let mut c = redis::cmd("HINCRBY");
                    c.arg(self.status_counts_key())
                        .arg(format!("{origin}:{dst}:{stage}"))
                        .arg(*n);
                    cmds.push(c);
                    continue;
                }
            };
            let mut e = redis::cmd("EXPIRE");
            e.arg(key).arg(ttl_secs);
            cmds.push(e);
        }
        match self.target {
            // One pipeline per chunk: a single round trip and the least
            // client work per command.
            Target::Single(_) => {
                for chunk in cmds.chunks(8192) {
                    let mut pipe = redis::pipe();
                    for c in chunk {
                        pipe.add_command(c.clone()).ignore();
                    }
                    let mut conn = self.conn.clone();
                    pipe.query_async::<()>(&mut conn)
                        .await
                        .map_err(redis_err("write_status"))?;
                }
            }
            // Keys of every slot: concurrent commands on the multiplexed
            // connection, each routed to its own node.
            Target::Cluster(_) => {
                for chunk in cmds.chunks(1024) {
                    let results = futures::future::join_all(chunk.iter().map(|c| {
                        let mut conn = self.conn.clone();
                        async move { c.query_async::<Value>(&mut conn).await }
                    }))
                    .await;
                    for r in results {
                        r.map_err(redis_err("write_status"))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The journal records of `ids` (field → value; empty for an unknown
    /// id), in the order asked.
    pub async fn status_records(
        &self,
        ids: &[B256],
    ) -> Result<Vec<std::collections::HashMap<String, Vec<u8>>>, QueueError> {
        futures::future::try_join_all(ids.iter().map(|id| {
            let mut c = self.conn.clone();
            let key = self.status_key(id);
            async move {
                redis::cmd("HGETALL")
                    .arg(&key)
                    .query_async::<std::collections::HashMap<String, Vec<u8>>>(&mut c)
                    .await
                    .map_err(redis_err("status_record"))
            }
        }))
        .await
    }

    /// Up to `limit` members of transaction `hash`'s index in byte order,
    /// from just after `after` (from the start without it).
    pub async fn status_by_tx(
        &self,
        hash: &B256,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, QueueError> {
        let mut c = self.conn.clone();
        redis::cmd("ZRANGE")
            .arg(self.status_tx_key(hash))
            .arg(lex_bound(after, b"-"))
            .arg("+")
            .arg("BYLEX")
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut c)
            .await
            .map_err(redis_err("status_by_tx"))
    }

    /// Up to `limit` members of the index of `sender` on `origin` in
    /// reverse byte order (newest first), from just before `before` (from
    /// the newest without it).
    pub async fn status_by_sender(
        &self,
        origin: Domain,
        sender: &B256,
        before: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, QueueError> {
        let mut c = self.conn.clone();
        redis::cmd("ZRANGE")
            .arg(self.status_sender_key(origin, sender))
            .arg(lex_bound(before, b"+"))
            .arg("-")
            .arg("BYLEX")
            .arg("REV")
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut c)
            .await
            .map_err(redis_err("status_by_sender"))
    }

    /// Deployment-wide stage counts: `origin:dst:stage` → count.
    pub async fn status_counts(
        &self,
    ) -> Result<std::collections::HashMap<String, u64>, QueueError> {
        let mut c = self.conn.clone();
        redis::cmd("HGETALL")
            .arg(self.status_counts_key())
            .query_async(&mut c)
            .await
            .map_err(redis_err("status_counts"))
    }
}

/// `ZADD key 0 m ...`: every member scores 0, so the set sorts its members
/// as byte strings (what the `BYLEX` reads page through).
fn zadd_lex(key: &str, members: &[Vec<u8>]) -> Cmd {
    let mut c = redis::cmd("ZADD");
    c.arg(key);
    for m in members {
        c.arg(0).arg(m.as_slice());
    }
    c
}

/// An exclusive `BYLEX` bound just past `member`, else `open` (`-` or `+`).
fn lex_bound(member: Option<&[u8]>, open: &[u8]) -> Vec<u8> {
    match member {
        Some(m) => [b"(".as_slice(), m].concat(),
        None => open.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> LaneEntry {
        LaneEntry {
            origin: 1000,
            height: 42,
            verified_at_ms: 1_700_000_000_000,
            messages: vec![
                Bytes::from_static(b"hello"),
                Bytes::new(),
                Bytes::from(vec![7u8; 300]),
            ],
        }
    }

    #[test]
    fn entry_round_trip() {
        let e = entry();
        assert_eq!(LaneEntry::decode("1-0", &e.encode()).expect("decodes"), e);
    }

    #[test]
    fn truncated_or_padded_entries_are_refused() {
        let bytes = entry().encode();
        for cut in 0..bytes.len() {
            assert!(
                LaneEntry::decode("1-0", &bytes[..cut]).is_err(),
                "cut at {cut} accepted"
            );
        }
        let mut longer = bytes;
        longer.push(0);
        let err = LaneEntry::decode("1-0", &longer).expect_err("trailing");
        assert!(err.to_string().contains("trailing"), "{err}");
    }

    #[test]
    fn absurd_count_does_not_allocate() {
        let mut bytes = entry().encode();
        bytes[20..24].copy_from_slice(&u32::MAX.to_be_bytes());
        let err = LaneEntry::decode("1-0", &bytes).expect_err("lying count");
        assert!(err.to_string().contains("exceeds"), "{err}");
    }

    #[test]
    fn tag_binds_key_lane_version_and_body() {
        let k = QueueKey::new(&[7u8; 32]).expect("key");
        let other = QueueKey::new(&[8u8; 32]).expect("key");
        let lane = LaneId {
            dst: 2000,
            shard: 1,
        };
        let body = entry().encode();
        let tag = k.tag(lane, b"1", &body);
        assert!(k.verify(lane, b"1", &body, &tag));
        assert!(!other.verify(lane, b"1", &body, &tag), "another key");
        assert!(
            !k.verify(
                LaneId {
                    dst: 2000,
                    shard: 2
                },
                b"1",
                &body,
                &tag
            ),
            "another shard"
        );
        assert!(
            !k.verify(
                LaneId {
                    dst: 3000,
                    shard: 1
                },
                b"1",
                &body,
                &tag
            ),
            "another destination"
        );
        assert!(!k.verify(lane, b"2", &body, &tag), "another version");
        let mut tampered = body;
        tampered[30] ^= 1;
        assert!(!k.verify(lane, b"1", &tampered, &tag), "another body");
    }

    #[test]
    fn short_keys_are_refused_and_hex_is_decoded() {
        assert!(QueueKey::new(&[1u8; 31]).is_err());
        assert!(QueueKey::from_secret("abcd").is_err(), "4 raw bytes");
        let hex64 = "11".repeat(32);
        let a = QueueKey::from_secret(&hex64).expect("hex key");
        let b = QueueKey::new(&[0x11u8; 32]).expect("raw");
        let lane = LaneId { dst: 1, shard: 0 };
        assert_eq!(a.tag(lane, b"1", b"x"), b.tag(lane, b"1", b"x"));
        assert!(!format!("{a:?}").contains("11"));
    }
}
