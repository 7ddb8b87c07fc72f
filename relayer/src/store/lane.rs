//! The lane operations: append once per (lane, origin block), read through
//! the consumer group, acknowledge, record failed attempts, measure the
//! backlog.

use std::time::Duration;

use redis::Value;
use redis::streams::{StreamAutoClaimReply, StreamReadReply};
use switchyard_types::Domain;

use super::entry::{Delivery, ENTRY_VERSION, EntryRefusal, LaneEntry, LaneId};
use super::{Store, StoreError, field_bytes, first_id_ms, redis_err, stream_id_key};

/// The consumer group every dispatcher of a shard joins.
pub const GROUP: &str = "dispatchers";

// Append only if this origin block was not appended to this shard before, and
// advance the cursor in the same step. KEYS[1] cursor, KEYS[2] stream;
// ARGV[1] height, ARGV[2] entry version, ARGV[3] body, ARGV[4] tag, ARGV[5]
// '1' when a WAIT follows (redis.wait_replicas). Returns 1 if appended, 0 if
// a replay.
//
// A replay followed by a WAIT writes the cursor back unchanged. WAIT waits
// for the replication offset of this connection's last write; after a lost
// reply and a reconnect, the retry's connection has written nothing, and a
// replay that wrote nothing would leave that mark before the entry it found,
// so the WAIT would confirm an entry the replicas may not have yet. Redis
// 7.0 moves the mark after any command, reads too; later versions only
// after a command that propagated something. The rewrite moves it to the
// node's present offset, past the entry, on either.
pub(super) const APPEND_LUA: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(cur) >= tonumber(ARGV[1]) then
  if ARGV[5] == '1' then redis.call('SET', KEYS[1], cur) end
  return 0
end
redis.call('XADD', KEYS[2], '*', 'v', ARGV[2], 'b', ARGV[3], 'h', ARGV[4])
redis.call('SET', KEYS[1], ARGV[1])
return 1
";

// Acknowledge, delete, forget attempts. KEYS[1] stream, KEYS[2] attempts;
// ARGV group, ids...
pub(super) const ACK_LUA: &str = r"
for i = 2, #ARGV do
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
  redis.call('XDEL', KEYS[1], ARGV[i])
  redis.call('HDEL', KEYS[2], ARGV[i], ARGV[i] .. ':err')
end
return #ARGV - 1
";

// Take back entries another reader took out of the lane (a holder that had
// lost its lease and did not know yet), only while the lease is ours.
// KEYS[1] lease owner, KEYS[2] stream; ARGV group, consumer, ids...
// Returns the entries, or false when the lease is not ours.
pub(super) const TAKE_BACK_LUA: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[2] then return false end
return redis.call('XCLAIM', KEYS[2], ARGV[1], ARGV[2], 0, unpack(ARGV, 3))
";

// Record a failed attempt. KEYS[1] attempts; ARGV id, error. Returns count.
pub(super) const FAIL_LUA: &str = r"
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('HSET', KEYS[1], ARGV[1] .. ':err', ARGV[2])
return n
";

/// The lane operations: append (once per origin block and shard), read
/// through the consumer group, acknowledge, record failures, measure the
/// backlog.
#[derive(Debug, Clone)]
pub struct Lanes {
    s: Store,
}

impl Lanes {
    pub(super) fn new(s: Store) -> Self {
        Self { s }
    }

    /// Appends `entry` to `lane` unless origin block `entry.height` was
    /// appended to it before; returns whether it was appended.
    pub async fn append(&self, lane: LaneId, entry: &LaneEntry) -> Result<bool, StoreError> {
        let body = entry.encode();
        let version = ENTRY_VERSION.to_string();
        let tag = self.s.key.tag(lane, version.as_bytes(), &body);
        let mut c = self.s.conn.clone();
        let cursor = self.s.k(lane, &format!("cursor:{}", entry.origin));
        let stream = self.s.k(lane, "stream");
        let Some((want, timeout_ms)) = self.s.wait else {
            let appended: i64 = self
                .s
                .scripts
                .append
                .key(cursor)
                .key(&stream)
                .arg(entry.height)
                .arg(&version)
                .arg(body)
                .arg(&tag[..])
                .invoke_async(&mut c)
                .await
                .map_err(redis_err("append"))?;
            return Ok(appended == 1);
        };
        // `redis.wait_replicas`: the append and its WAIT go out as one
        // pipeline, so they reach one node on one connection, and a retry
        // (redis-rs resends a pipeline whose connection broke, to whichever
        // master holds the slot by then) runs the append again before its
        // WAIT. Sent separately, a WAIT retried onto a promoted replica
        // would confirm none of an append its dead master took along.
        // WAIT has no key: the cluster routes the pipeline by the script's.
        // The WAIT counts whether or not this call appended: a retry after
        // a short WAIT finds the entry there and must still see it
        // replicated.
        let mut pipe = redis::pipe();
        pipe.cmd("EVALSHA")
            .arg(self.s.scripts.append.get_hash())
            .arg(2)
            .arg(&cursor)
            .arg(&stream)
            .arg(entry.height)
            .arg(&version)
            .arg(&body)
            .arg(&tag[..])
            .arg("1")
            .cmd("WAIT")
            .arg(want)
            .arg(timeout_ms);
        let sent: redis::RedisResult<(i64, i64)> = pipe.query_async(&mut c).await;
        let (appended, replicas) = match sent {
            // A node that never ran the script (a promoted replica: script
            // caches are not replicated) learns it, and the pair is sent
            // again; the WAIT that went with the refused EVALSHA counted
            // nothing of ours.
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                self.s
                    .scripts
                    .append
                    .load_async(&mut c)
                    .await
                    .map_err(redis_err("append"))?;
                pipe.query_async(&mut c).await
            }
            other => other,
        }
        .map_err(redis_err("append"))?;
        if replicas < i64::from(want) {
            return Err(StoreError::Redis {
                op: "wait",
                message: format!(
                    "the append to {stream} reached {replicas} of {want} replicas within \
                     {timeout_ms} ms (redis.wait_replicas); retried, the cursor stays behind it"
                ),
            });
        }
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
    ) -> Result<String, StoreError> {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(self.s.k(lane, "stream")).arg("*");
        for (f, v) in fields {
            cmd.arg(*f).arg(*v);
        }
        let mut c = self.s.conn.clone();
        cmd.query_async(&mut c).await.map_err(redis_err("xadd"))
    }

    /// Creates the consumer group of `lane` if missing.
    pub async fn ensure_group(&self, lane: LaneId) -> Result<(), StoreError> {
        let mut c = self.s.conn.clone();
        let r: redis::RedisResult<String> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(self.s.k(lane, "stream"))
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
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut c = self.s.conn.clone();
        let cmd = self.xreadgroup(lane, consumer, count, block, pending);
        let reply: Option<StreamReadReply> = cmd
            .query_async(&mut c)
            .await
            .map_err(redis_err("xreadgroup"))?;
        let ids = reply
            .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
            .unwrap_or_default();
        self.deliveries(lane, ids).await
    }

    /// `XREADGROUP` for `consumer`: its own pending entries when `pending`,
    /// new ones (waiting up to `block`) otherwise.
    fn xreadgroup(
        &self,
        lane: LaneId,
        consumer: &str,
        count: usize,
        block: Duration,
        pending: bool,
    ) -> redis::Cmd {
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
            .arg(self.s.k(lane, "stream"))
            .arg(if pending { "0" } else { ">" });
        cmd
    }

    /// Reads up to `count` new entries for `consumer` (`XREADGROUP >`,
    /// waiting up to `block`), and, in the same round trip, the ids of
    /// entries pending in the group after `after` (the highest id this
    /// consumer has taken so far) that this read did not return: entries
    /// another reader took out of the lane after `after` and before these
    /// (a holder that lost its lease and read once more before it knew).
    /// Delivered after later ones, they would break channel order; the
    /// caller takes them back first ([`Lanes::take_back`]).
    pub async fn read_new(
        &self,
        lane: LaneId,
        consumer: &str,
        count: usize,
        block: Duration,
        after: &str,
    ) -> Result<(Vec<Delivery>, Vec<String>), StoreError> {
        let mut c = self.s.conn.clone();
        let stream = self.s.k(lane, "stream");
        let mut pipe = redis::pipe();
        pipe.add_command(self.xreadgroup(lane, consumer, count, block, false));
        // Pending after `after`: this read's entries, then any taken by
        // another reader; twice the read's size finds up to `count` of them.
        pipe.cmd("XPENDING")
            .arg(&stream)
            .arg(GROUP)
            .arg(format!("({after}"))
            .arg("+")
            .arg(count * 2);
        // XPENDING's extended form: (id, consumer, idle ms, deliveries).
        type Pending = Vec<(String, String, u64, u64)>;
        let (reply, pending): (Option<StreamReadReply>, Pending) =
            pipe.query_async(&mut c)
                .await
                .map_err(redis_err("xreadgroup"))?;
        let ids: Vec<redis::streams::StreamId> = reply
            .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
            .unwrap_or_default();
        let first = ids.first().map(|s| stream_id_key(&s.id));
        let taken: Vec<String> = pending
            .into_iter()
            .map(|(id, ..)| id)
            .filter(|id| first.is_none_or(|f| stream_id_key(id) < f))
            .collect();
        Ok((self.deliveries(lane, ids).await?, taken))
    }

    /// Claims entries `ids` for `consumer` if it holds `lane`'s lease (in
    /// one script, so a holder that lost it takes nothing); None when it
    /// does not.
    pub async fn take_back(
        &self,
        lane: LaneId,
        consumer: &str,
        ids: &[String],
    ) -> Result<Option<Vec<Delivery>>, StoreError> {
        let mut c = self.s.conn.clone();
        let mut inv = self.s.scripts.take_back.key(self.s.lease_key(lane));
        inv.key(self.s.k(lane, "stream")).arg(GROUP).arg(consumer);
        for id in ids {
            inv.arg(id);
        }
        let reply: Option<redis::streams::StreamClaimReply> = inv
            .invoke_async(&mut c)
            .await
            .map_err(redis_err("xclaim"))?;
        let Some(mut claimed) = reply else {
            return Ok(None);
        };
        claimed.ids.sort_by_key(|s| stream_id_key(&s.id));
        Ok(Some(self.deliveries(lane, claimed.ids).await?))
    }

    /// Claims entries idle for at least `min_idle` on other consumers (dead,
    /// or whose lease on the shard expired).
    pub async fn reclaim(
        &self,
        lane: LaneId,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut c = self.s.conn.clone();
        let mut start = "0-0".to_owned();
        let mut all = Vec::new();
        // XAUTOCLAIM pages through the pending list; bounded rounds.
        for _ in 0..64 {
            let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
                .arg(self.s.k(lane, "stream"))
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
    ) -> Result<Vec<Delivery>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // Attempt counts of these entries, in one round trip.
        let mut c = self.s.conn.clone();
        let mut hmget = redis::cmd("HMGET");
        hmget.arg(self.s.k(lane, "attempts"));
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
            (None, _) => Err(EntryRefusal::NoVersion),
            (Some(_), None) => Err(EntryRefusal::NoTag),
            (Some(v), Some(tag)) => {
                if !self.s.key.verify(lane, &v, &raw, &tag) {
                    Err(EntryRefusal::Unauthenticated { lane })
                } else if v != ENTRY_VERSION.to_string().as_bytes() {
                    Err(EntryRefusal::Version {
                        expected: ENTRY_VERSION,
                        got: String::from_utf8_lossy(&v).into_owned(),
                    })
                } else {
                    LaneEntry::decode(&s.id, &raw).map_err(|e| EntryRefusal::Body {
                        reason: e.to_string(),
                    })
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
    pub async fn ack(&self, lane: LaneId, ids: &[String]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut c = self.s.conn.clone();
        let mut inv = self.s.scripts.ack.key(self.s.k(lane, "stream"));
        inv.key(self.s.k(lane, "attempts")).arg(GROUP);
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
    ) -> Result<u32, StoreError> {
        let mut c = self.s.conn.clone();
        self.s
            .scripts
            .fail
            .key(self.s.k(lane, "attempts"))
            .arg(id)
            .arg(error)
            .invoke_async(&mut c)
            .await
            .map_err(redis_err("record_failure"))
    }

    /// Backlog of one shard: entries not yet acknowledged, pending (read
    /// but not acknowledged), and the oldest entry's age in ms at `now_ms`.
    pub async fn shard_backlog(
        &self,
        lane: LaneId,
        now_ms: u64,
    ) -> Result<(u64, u64, u64), StoreError> {
        let key = self.s.k(lane, "stream");
        let mut c = self.s.conn.clone();
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
    pub async fn backlog_len(&self, dst: Domain, shards: u16) -> Result<u64, StoreError> {
        // Concurrent on the multiplexed connection: one round trip's wait,
        // and each key in its own slot works on a cluster too.
        let lens = futures::future::try_join_all((0..shards).map(|shard| {
            let mut c = self.s.conn.clone();
            let key = self.s.k(LaneId { dst, shard }, "stream");
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
    ) -> Result<(u64, u64, u64), StoreError> {
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
