//! The status journal's storage: per-message records, transaction and
//! sender indexes, and deployment-wide counts (informational: nothing here
//! is authenticated or read back by the delivery path).

use alloy_primitives::B256;
use redis::{Cmd, Value};
use switchyard_types::Domain;

use super::{Store, StoreError, Target, redis_err};

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

/// The status journal's storage (informational; see `crate::journal`).
#[derive(Debug, Clone)]
pub struct StatusStore {
    s: Store,
}

impl StatusStore {
    pub(super) fn new(s: Store) -> Self {
        Self { s }
    }

    fn status_key(&self, id: &B256) -> String {
        format!("{}:status:msg:{id:x}", self.s.prefix)
    }

    // Sorted sets; the names differ from the earlier set and list
    // (`status:tx:`, `status:sender:`) so an upgraded hub never meets a key
    // of the old type.
    fn status_tx_key(&self, hash: &B256) -> String {
        format!("{}:status:by_tx:{hash:x}", self.s.prefix)
    }

    fn status_sender_key(&self, origin: Domain, sender: &B256) -> String {
        format!("{}:status:by_sender:{origin}:{sender:x}", self.s.prefix)
    }

    fn status_counts_key(&self) -> String {
        format!("{}:status:counts", self.s.prefix)
    }

    /// Applies journal writes; every key written expires `ttl_secs` after
    /// its last write. Pipelined on one server; on a cluster, concurrent on
    /// the multiplexed connection so each key finds its own node. In
    /// chunks, so one call never floods the connection.
    pub async fn write_status(&self, ops: &[StatusOp], ttl_secs: u64) -> Result<(), StoreError> {
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
        match self.s.target {
            // One pipeline per chunk: a single round trip and the least
            // client work per command.
            Target::Single(_) => {
                for chunk in cmds.chunks(8192) {
                    let mut pipe = redis::pipe();
                    for c in chunk {
                        pipe.add_command(c.clone()).ignore();
                    }
                    let mut conn = self.s.conn.clone();
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
                        let mut conn = self.s.conn.clone();
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

    /// Redis' memory in use and its `maxmemory` in bytes (0: no limit), from
    /// `INFO memory`, on a single server; `None` on a Cluster, whose nodes
    /// each have their own.
    pub async fn memory(&self) -> Result<Option<(u64, u64)>, StoreError> {
        if !matches!(self.s.target, Target::Single(_)) {
            return Ok(None);
        }
        let mut conn = self.s.conn.clone();
        let info: String = redis::cmd("INFO")
            .arg("memory")
            .query_async(&mut conn)
            .await
            .map_err(redis_err("info_memory"))?;
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(':'))
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        Ok(field("used_memory").zip(field("maxmemory")))
    }

    /// The journal records of `ids` (field → value; empty for an unknown
    /// id), in the order asked.
    pub async fn status_records(
        &self,
        ids: &[B256],
    ) -> Result<Vec<std::collections::HashMap<String, Vec<u8>>>, StoreError> {
        futures::future::try_join_all(ids.iter().map(|id| {
            let mut c = self.s.conn.clone();
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
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut c = self.s.conn.clone();
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
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut c = self.s.conn.clone();
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
    ) -> Result<std::collections::HashMap<String, u64>, StoreError> {
        let mut c = self.s.conn.clone();
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
