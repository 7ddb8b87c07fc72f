//! The lanes: a typed queue over Redis Streams. One stream per destination;
//! one entry carries a batch of verified messages (the block's messages for
//! that destination), which is what makes high message rates cheap for Redis.
//! No Redis type leaves this module.
//!
//! Keys (prefix `sy` by default) carry hash tags so that what changes
//! atomically shares a Redis Cluster slot:
//! - `sy:{lane:<dst>}:stream`: the lane, consumer group `dispatchers`;
//! - `sy:{lane:<dst>}:cursor:<origin>`: highest origin block appended to this
//!   lane; advanced in the same Lua script as the append, so a watcher that
//!   restarts and re-reads a block never appends it twice;
//! - `sy:{lane:<dst>}:dead`: dead letters with their reason;
//! - `sy:{origin:<o>}:lc` and `sy:{origin:<o>}:scanned`: the origin's
//!   light-client state and the highest block fully routed.

use std::time::Duration;

use alloy_primitives::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::{StreamAutoClaimReply, StreamReadReply};
use redis::{AsyncCommands, Script, Value};
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

/// One lane entry: the verified messages of one origin block for one
/// destination.
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

/// An entry handed to a dispatcher.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Stream entry id (to acknowledge).
    pub id: String,
    /// The decoded entry, or why it could not be decoded.
    pub entry: Result<LaneEntry, String>,
    /// The raw body, kept for the dead-letter stream.
    pub raw: Vec<u8>,
}

/// The consumer group every dispatcher of a destination joins.
pub const GROUP: &str = "dispatchers";

// Append only if this origin block was not appended before; advance the
// cursor in the same step. KEYS[1] cursor, KEYS[2] stream; ARGV[1] height,
// ARGV[2] entry version, ARGV[3] body. Returns 1 if appended, 0 if a replay.
const APPEND_LUA: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
redis.call('XADD', KEYS[2], '*', 'v', ARGV[2], 'b', ARGV[3])
redis.call('SET', KEYS[1], ARGV[1])
return 1
";

/// Handle to the lanes (cheap to clone; one multiplexed connection).
#[derive(Clone)]
pub struct Lanes {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
    append: Script,
}

impl std::fmt::Debug for Lanes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lanes")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl Lanes {
    /// Connects (the connection manager reconnects by itself afterwards).
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, QueueError> {
        let client = redis::Client::open(url).map_err(redis_err("open"))?;
        let conn = Self::manager(&client).await?;
        Ok(Self {
            client,
            conn,
            prefix: prefix.to_owned(),
            append: Script::new(APPEND_LUA),
        })
    }

    async fn manager(client: &redis::Client) -> Result<ConnectionManager, QueueError> {
        let cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(Duration::from_secs(10)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(2));
        client
            .get_connection_manager_with_config(cfg)
            .await
            .map_err(redis_err("connect"))
    }

    /// The same lanes over a connection of its own. Blocking reads
    /// (`XREADGROUP BLOCK`) hold their connection: every dispatcher takes a
    /// dedicated one so it never stalls the watchers' appends.
    pub async fn dedicated(&self) -> Result<Self, QueueError> {
        let conn = Self::manager(&self.client).await?;
        Ok(Self {
            client: self.client.clone(),
            conn,
            prefix: self.prefix.clone(),
            append: self.append.clone(),
        })
    }

    fn stream_key(&self, dst: Domain) -> String {
        format!("{}:{{lane:{dst}}}:stream", self.prefix)
    }
    fn cursor_key(&self, dst: Domain, origin: Domain) -> String {
        format!("{}:{{lane:{dst}}}:cursor:{origin}", self.prefix)
    }
    fn dead_key(&self, dst: Domain) -> String {
        format!("{}:{{lane:{dst}}}:dead", self.prefix)
    }
    fn lc_key(&self, origin: Domain) -> String {
        format!("{}:{{origin:{origin}}}:lc", self.prefix)
    }
    fn scanned_key(&self, origin: Domain) -> String {
        format!("{}:{{origin:{origin}}}:scanned", self.prefix)
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

    /// Appends `entry` to `dst`'s lane unless origin block `entry.height` was
    /// appended before; returns whether it was appended.
    pub async fn append(&self, dst: Domain, entry: &LaneEntry) -> Result<bool, QueueError> {
        let mut c = self.conn.clone();
        let appended: i64 = self
            .append
            .key(self.cursor_key(dst, entry.origin))
            .key(self.stream_key(dst))
            .arg(entry.height)
            .arg(ENTRY_VERSION)
            .arg(entry.encode())
            .invoke_async(&mut c)
            .await
            .map_err(redis_err("append"))?;
        Ok(appended == 1)
    }

    /// Highest origin block fully routed, if any.
    pub async fn scanned(&self, origin: Domain) -> Result<Option<u64>, QueueError> {
        let mut c = self.conn.clone();
        c.get(self.scanned_key(origin))
            .await
            .map_err(redis_err("get_scanned"))
    }

    /// Records that every block up to `height` has been routed.
    pub async fn set_scanned(&self, origin: Domain, height: u64) -> Result<(), QueueError> {
        let mut c = self.conn.clone();
        c.set(self.scanned_key(origin), height)
            .await
            .map_err(redis_err("set_scanned"))
    }

    /// The persisted light-client state of `origin` (JSON), if any.
    pub async fn load_lc(&self, origin: Domain) -> Result<Option<String>, QueueError> {
        let mut c = self.conn.clone();
        c.get(self.lc_key(origin))
            .await
            .map_err(redis_err("load_lc"))
    }

    /// Persists the light-client state of `origin`.
    pub async fn save_lc(&self, origin: Domain, state: &str) -> Result<(), QueueError> {
        let mut c = self.conn.clone();
        c.set(self.lc_key(origin), state)
            .await
            .map_err(redis_err("save_lc"))
    }

    /// Creates the consumer group of `dst` if missing.
    pub async fn ensure_group(&self, dst: Domain) -> Result<(), QueueError> {
        let mut c = self.conn.clone();
        let r: redis::RedisResult<String> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(self.stream_key(dst))
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
    /// (after a restart) when `pending`, new ones otherwise, waiting up to
    /// `block` for new ones.
    pub async fn read(
        &self,
        dst: Domain,
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
        if !pending {
            cmd.arg("BLOCK").arg(block.as_millis() as u64);
        }
        cmd.arg("STREAMS")
            .arg(self.stream_key(dst))
            .arg(if pending { "0" } else { ">" });
        let reply: Option<StreamReadReply> = cmd
            .query_async(&mut c)
            .await
            .map_err(redis_err("xreadgroup"))?;
        Ok(reply
            .map(|r| {
                r.keys
                    .into_iter()
                    .flat_map(|k| k.ids)
                    .map(to_delivery)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Claims entries idle for `min_idle` on other (dead) consumers.
    pub async fn reclaim(
        &self,
        dst: Domain,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<Delivery>, QueueError> {
        let mut c = self.conn.clone();
        let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
            .arg(self.stream_key(dst))
            .arg(GROUP)
            .arg(consumer)
            .arg(min_idle.as_millis() as u64)
            .arg("0")
            .arg("COUNT")
            .arg(count)
            .query_async(&mut c)
            .await
            .map_err(redis_err("xautoclaim"))?;
        Ok(reply.claimed.into_iter().map(to_delivery).collect())
    }

    /// Acknowledges and removes delivered entries (so XLEN is the backlog).
    pub async fn ack(&self, dst: Domain, ids: &[String]) -> Result<(), QueueError> {
        if ids.is_empty() {
            return Ok(());
        }
        let key = self.stream_key(dst);
        let mut c = self.conn.clone();
        let _: Value = redis::pipe()
            .atomic()
            .cmd("XACK")
            .arg(&key)
            .arg(GROUP)
            .arg(ids)
            .cmd("XDEL")
            .arg(&key)
            .arg(ids)
            .query_async(&mut c)
            .await
            .map_err(redis_err("xack"))?;
        Ok(())
    }

    /// Moves an entry to the dead-letter stream with `reason`, then
    /// acknowledges it, in one transaction (same slot).
    pub async fn dead_letter(
        &self,
        dst: Domain,
        id: &str,
        raw: &[u8],
        reason: &str,
    ) -> Result<(), QueueError> {
        let key = self.stream_key(dst);
        let mut c = self.conn.clone();
        let _: Value = redis::pipe()
            .atomic()
            .cmd("XADD")
            .arg(self.dead_key(dst))
            .arg("*")
            .arg("entry")
            .arg(id)
            .arg("reason")
            .arg(reason)
            .arg("b")
            .arg(raw)
            .cmd("XACK")
            .arg(&key)
            .arg(GROUP)
            .arg(id)
            .cmd("XDEL")
            .arg(&key)
            .arg(id)
            .query_async(&mut c)
            .await
            .map_err(redis_err("dead_letter"))?;
        Ok(())
    }

    /// Entries in `dst`'s dead-letter stream.
    pub async fn dead_letters(&self, dst: Domain) -> Result<u64, QueueError> {
        let mut c = self.conn.clone();
        c.xlen(self.dead_key(dst)).await.map_err(redis_err("xlen"))
    }

    /// Backlog of `dst` (entries not yet acknowledged) and the age of the
    /// oldest in ms (from its stream id), at `now_ms`.
    pub async fn backlog(&self, dst: Domain, now_ms: u64) -> Result<(u64, u64), QueueError> {
        let key = self.stream_key(dst);
        let mut c = self.conn.clone();
        let (len, first): (u64, Value) = redis::pipe()
            .cmd("XLEN")
            .arg(&key)
            .cmd("XRANGE")
            .arg(&key)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut c)
            .await
            .map_err(redis_err("backlog"))?;
        let oldest_ms = first_id_ms(&first).map_or(0, |t| now_ms.saturating_sub(t));
        Ok((len, oldest_ms))
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

fn to_delivery(s: redis::streams::StreamId) -> Delivery {
    let field = |name: &str| match s.map.get(name) {
        Some(Value::BulkString(b)) => Some(b.clone()),
        Some(Value::SimpleString(t)) => Some(t.clone().into_bytes()),
        _ => None,
    };
    let raw = field("b").unwrap_or_default();
    let entry = match field("v") {
        None => Err("no version field `v`".to_owned()),
        Some(v) if v != ENTRY_VERSION.to_string().as_bytes() => Err(format!(
            "entry version: expected {ENTRY_VERSION}, got {:?}",
            String::from_utf8_lossy(&v)
        )),
        Some(_) => LaneEntry::decode(&s.id, &raw).map_err(|e| e.to_string()),
    };
    Delivery {
        id: s.id,
        entry,
        raw,
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
}
