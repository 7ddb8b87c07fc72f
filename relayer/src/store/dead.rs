//! Dead letters: entries given up, kept per shard with the reason, the last
//! error and the attempts; listed, shown, replayed or dropped by operators.

use redis::streams::StreamRangeReply;
use switchyard_types::Domain;

use super::entry::{LaneEntry, LaneId};
use super::lane::GROUP;
use super::{Store, StoreError, field_bytes, redis_err, stream_id_key};

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

// Move to dead letters, copying the entry's own fields (body, version and
// tag as written: a forged entry keeps its forged tag, so replaying it does
// not make it authentic). KEYS[1] stream, KEYS[2] dead, KEYS[3] attempts;
// ARGV group, id, reason. Returns 1, or 0 if the entry is gone.
pub(super) const DEAD_LUA: &str = r"
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

// Replay a dead letter: re-append its body to the stream (a new id, so the
// consumer group picks it up) and remove it from the dead letters.
// KEYS[1] dead, KEYS[2] stream; ARGV dead id. Returns the new id or false.
pub(super) const REPLAY_LUA: &str = r"
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

/// The dead-letter streams of every shard.
#[derive(Debug, Clone)]
pub struct DeadLetters {
    s: Store,
}

impl DeadLetters {
    pub(super) fn new(s: Store) -> Self {
        Self { s }
    }

    /// Moves entry `id` to the dead-letter stream with `reason` (and the
    /// last recorded error and attempts), and acknowledges it, atomically.
    pub async fn dead_letter(
        &self,
        lane: LaneId,
        id: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        let mut c = self.s.conn.clone();
        let _: i64 = self
            .s
            .scripts
            .dead
            .key(self.s.k(lane, "stream"))
            .key(self.s.k(lane, "dead"))
            .key(self.s.k(lane, "attempts"))
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
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let mut out = Vec::new();
        for shard in 0..shards {
            let lane = LaneId { dst, shard };
            let mut c = self.s.conn.clone();
            let r: StreamRangeReply = redis::cmd("XRANGE")
                .arg(self.s.k(lane, "dead"))
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

    fn parse_ref(reference: &str, dst: Domain) -> Result<(LaneId, String), StoreError> {
        let nf = || StoreError::NotFound {
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
    ) -> Result<String, StoreError> {
        let (lane, id) = Self::parse_ref(reference, dst)?;
        let mut c = self.s.conn.clone();
        let new: Option<String> = self
            .s
            .scripts
            .replay
            .key(self.s.k(lane, "dead"))
            .key(self.s.k(lane, "stream"))
            .arg(&id)
            .invoke_async(&mut c)
            .await
            .map_err(redis_err("replay"))?;
        new.ok_or_else(|| StoreError::NotFound {
            reference: reference.to_owned(),
        })
    }

    /// One dead letter of `dst` with its entry body.
    pub async fn dead_letter_detail(
        &self,
        dst: Domain,
        reference: &str,
    ) -> Result<(DeadLetter, Vec<u8>), StoreError> {
        let (lane, id) = Self::parse_ref(reference, dst)?;
        let mut c = self.s.conn.clone();
        let r: StreamRangeReply = redis::cmd("XRANGE")
            .arg(self.s.k(lane, "dead"))
            .arg(&id)
            .arg(&id)
            .query_async(&mut c)
            .await
            .map_err(redis_err("xrange"))?;
        let s = r
            .ids
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::NotFound {
                reference: reference.to_owned(),
            })?;
        Ok((
            dead_letter_of(lane, &s),
            field_bytes(s.map.get("b")).unwrap_or_default(),
        ))
    }

    /// Deletes dead letter `reference` of `dst`.
    pub async fn drop_dead_letter(&self, dst: Domain, reference: &str) -> Result<(), StoreError> {
        let (lane, id) = Self::parse_ref(reference, dst)?;
        let mut c = self.s.conn.clone();
        let n: i64 = redis::cmd("XDEL")
            .arg(self.s.k(lane, "dead"))
            .arg(&id)
            .query_async(&mut c)
            .await
            .map_err(redis_err("xdel"))?;
        if n == 0 {
            return Err(StoreError::NotFound {
                reference: reference.to_owned(),
            });
        }
        Ok(())
    }
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
