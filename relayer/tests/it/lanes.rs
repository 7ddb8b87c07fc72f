//! The Redis lanes against a real redis-server: the promises the hub builds
//! on (an origin block is appended once per shard, entries stay pending until
//! acknowledged, a dead consumer's entries are reclaimed, a forged or moved
//! entry is refused, attempts persist, dead letters keep their reason and can
//! be replayed, one lease holder per shard).

use std::time::Duration;

use alloy::primitives::Bytes;
use switchyard::store::{LaneEntry, LaneId, Lanes, QueueKey, RedisTarget, Store};
use switchyard_localnet::procs::RedisServer;

const A: LaneId = LaneId {
    dst: 2000,
    shard: 0,
};
const B: LaneId = LaneId {
    dst: 2000,
    shard: 1,
};

fn entry(origin: u32, height: u64, n: usize) -> LaneEntry {
    LaneEntry {
        origin,
        height,
        verified_at_ms: 1,
        messages: (0..n)
            .map(|i| Bytes::from(format!("m{height}-{i}").into_bytes()))
            .collect(),
    }
}

fn key() -> QueueKey {
    QueueKey::new(&[42u8; 32]).expect("key")
}

async fn lanes() -> (RedisServer, Store, Lanes) {
    let server = RedisServer::spawn(None).expect("redis-server starts (run deploy/setup.sh)");
    let store = Store::connect(&RedisTarget::Single(server.url.clone()), "t", key())
        .await
        .expect("connects");
    let lanes = store.lanes();
    (server, store, lanes)
}

#[tokio::test]
async fn append_is_exactly_once_per_origin_block_and_shard() {
    let (_server, _store, lanes) = lanes().await;
    assert!(lanes.append(A, &entry(1000, 5, 3)).await.expect("append"));
    // A watcher restarted after appending re-reads block 5: no second entry.
    assert!(!lanes.append(A, &entry(1000, 5, 3)).await.expect("replay"));
    assert!(!lanes.append(A, &entry(1000, 4, 3)).await.expect("older"));
    assert!(lanes.append(A, &entry(1000, 6, 1)).await.expect("next"));
    // Cursors are per (origin, shard): another origin or shard is independent.
    assert!(
        lanes
            .append(A, &entry(3000, 5, 1))
            .await
            .expect("other origin")
    );
    assert!(
        lanes
            .append(B, &entry(1000, 5, 1))
            .await
            .expect("other shard")
    );
    let (backlog, _, _) = lanes.backlog(2000, 2, u64::MAX / 2).await.expect("backlog");
    assert_eq!(backlog, 4);
}

#[tokio::test]
async fn entries_stay_pending_until_acknowledged_and_survive_a_consumer_restart() {
    let (_server, _store, lanes) = lanes().await;
    lanes.ensure_group(A).await.expect("group");
    lanes
        .ensure_group(A)
        .await
        .expect("group creation is idempotent");
    for h in 1..=3 {
        lanes.append(A, &entry(1000, h, 2)).await.expect("append");
    }
    let first = lanes
        .read(A, "a", 10, Duration::from_millis(100), false)
        .await
        .expect("read");
    assert_eq!(first.len(), 3);
    assert_eq!(
        first[0].entry.as_ref().expect("authentic"),
        &entry(1000, 1, 2)
    );
    assert!(
        lanes
            .read(A, "b", 10, Duration::from_millis(50), false)
            .await
            .expect("read")
            .is_empty()
    );
    // "a" restarts: its pending entries come back, in order.
    let pending = lanes
        .read(A, "a", 10, Duration::ZERO, true)
        .await
        .expect("pending");
    let ids: Vec<_> = pending.iter().map(|d| d.id.clone()).collect();
    assert_eq!(ids, first.iter().map(|d| d.id.clone()).collect::<Vec<_>>());
    let (_, pending_n, _) = lanes.shard_backlog(A, u64::MAX / 2).await.expect("backlog");
    assert_eq!(pending_n, 3);
    lanes.ack(A, &ids[..2]).await.expect("ack");
    let pending = lanes
        .read(A, "a", 10, Duration::ZERO, true)
        .await
        .expect("pending");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, ids[2]);
    let (backlog, _, _) = lanes.shard_backlog(A, u64::MAX / 2).await.expect("backlog");
    assert_eq!(backlog, 1, "acknowledged entries leave the stream");
}

#[tokio::test]
async fn a_dead_consumers_entries_are_reclaimed_in_order() {
    let (_server, _store, lanes) = lanes().await;
    lanes.ensure_group(A).await.expect("group");
    for h in 1..=3 {
        lanes.append(A, &entry(1000, h, 1)).await.expect("append");
    }
    let taken = lanes
        .read(A, "dead", 10, Duration::from_millis(100), false)
        .await
        .expect("read");
    assert_eq!(taken.len(), 3);
    let early = lanes
        .reclaim(A, "alive", Duration::from_secs(60), 10)
        .await
        .expect("reclaim");
    assert!(early.is_empty(), "not idle long enough yet");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let got = lanes
        .reclaim(A, "alive", Duration::from_millis(100), 10)
        .await
        .expect("reclaim");
    let got_ids: Vec<_> = got.iter().map(|d| d.id.clone()).collect();
    assert_eq!(
        got_ids,
        taken.iter().map(|d| d.id.clone()).collect::<Vec<_>>()
    );
    // Now "alive" owns them: they come back as its pending entries.
    assert_eq!(
        lanes
            .read(A, "alive", 10, Duration::ZERO, true)
            .await
            .expect("pending")
            .len(),
        3
    );
}

#[tokio::test]
async fn forged_entry_is_refused_and_dead_lettered_with_its_reason() {
    let (server, store, lanes) = lanes().await;
    lanes.ensure_group(A).await.expect("group");
    let good = entry(1000, 1, 1).encode();
    // Well-formed but written without the key: what an attacker with Redis
    // access can do.
    lanes
        .write_raw(A, &[("v", b"1"), ("b", &good), ("h", &[0u8; 32])])
        .await
        .expect("xadd");
    lanes
        .write_raw(A, &[("v", b"1"), ("b", &good)])
        .await
        .expect("xadd");
    lanes.write_raw(A, &[("x", b"y")]).await.expect("xadd");
    // An authentic entry of shard B copied into shard A: the tag binds the
    // lane, so it is refused too.
    lanes.append(B, &entry(1000, 1, 1)).await.expect("append");
    lanes.ensure_group(B).await.expect("group");
    let from_b = lanes
        .read(B, "x", 1, Duration::from_millis(50), false)
        .await
        .expect("read");
    let tag_b = {
        let client = redis::Client::open(server.url.as_str()).expect("client");
        let mut c = client
            .get_multiplexed_async_connection()
            .await
            .expect("conn");
        let r: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg("t:{lane:2000:1}:stream")
            .arg("-")
            .arg("+")
            .query_async(&mut c)
            .await
            .expect("xrange");
        let h: Vec<u8> = r.ids[0].get("h").expect("tag");
        h
    };
    lanes
        .write_raw(A, &[("v", b"1"), ("b", &from_b[0].raw), ("h", &tag_b)])
        .await
        .expect("xadd");

    let got = lanes
        .read(A, "a", 10, Duration::from_millis(100), false)
        .await
        .expect("read");
    assert_eq!(got.len(), 4);
    let errs: Vec<String> = got
        .iter()
        .map(|d| d.entry.clone().expect_err("refused").to_string())
        .collect();
    assert!(errs[0].contains("authentication failed"), "{}", errs[0]);
    assert!(errs[1].contains("no authentication tag"), "{}", errs[1]);
    assert!(errs[2].contains("no version"), "{}", errs[2]);
    assert!(errs[3].contains("authentication failed"), "{}", errs[3]);
    for d in &got {
        let reason = d.entry.as_ref().expect_err("refused").to_string();
        store
            .dead_letters()
            .dead_letter(A, &d.id, &reason)
            .await
            .expect("dlq");
    }
    let dead = store
        .dead_letters()
        .dead_letters(2000, 2)
        .await
        .expect("list");
    assert_eq!(dead.len(), 4);
    assert!(
        dead[0].reason.contains("authentication failed"),
        "{:?}",
        dead[0]
    );
    assert_eq!(dead[0].entry_id, got[0].id);
    let (backlog, _, _) = lanes.shard_backlog(A, u64::MAX / 2).await.expect("backlog");
    assert_eq!(backlog, 0);
    // A forged entry replayed from the dead letters is refused again: its
    // tag is not recomputed on replay.
    store
        .dead_letters()
        .replay_dead_letter(2000, &dead[0].reference)
        .await
        .expect("replay");
    let again = lanes
        .read(A, "a", 10, Duration::from_millis(100), false)
        .await
        .expect("read");
    assert_eq!(again.len(), 1);
    assert!(again[0].entry.is_err(), "a replayed forgery stays refused");
}

#[tokio::test]
async fn attempts_persist_and_dead_letters_can_be_replayed_or_dropped() {
    let (_server, store, lanes) = lanes().await;
    lanes.ensure_group(A).await.expect("group");
    lanes.append(A, &entry(1000, 1, 2)).await.expect("append");
    lanes.append(A, &entry(1000, 2, 2)).await.expect("append");
    let got = lanes
        .read(A, "a", 10, Duration::from_millis(100), false)
        .await
        .expect("read");
    assert_eq!(got[0].attempts, 0);
    assert_eq!(
        lanes
            .record_failure(A, &got[0].id, "rpc timeout")
            .await
            .expect("fail"),
        1
    );
    assert_eq!(
        lanes
            .record_failure(A, &got[0].id, "reverted")
            .await
            .expect("fail"),
        2
    );
    // A restarted consumer sees the persisted count.
    let pending = lanes
        .read(A, "a", 10, Duration::ZERO, true)
        .await
        .expect("pending");
    assert_eq!(pending[0].attempts, 2);
    assert_eq!(pending[1].attempts, 0);

    store
        .dead_letters()
        .dead_letter(A, &got[0].id, "max_attempts reached")
        .await
        .expect("dlq");
    store
        .dead_letters()
        .dead_letter(A, &got[1].id, "not retryable")
        .await
        .expect("dlq");
    let dead = store
        .dead_letters()
        .dead_letters(2000, 1)
        .await
        .expect("list");
    assert_eq!(dead.len(), 2);
    assert_eq!(dead[0].attempts, 2);
    assert_eq!(dead[0].origin, Some(1000));
    assert_eq!(dead[0].height, Some(1));
    assert_eq!(dead[0].messages, Some(2));
    assert_eq!(dead[0].reason, "max_attempts reached");
    assert_eq!(
        dead[0].last_error, "reverted",
        "the last recorded error is kept"
    );

    // Replay: back in the lane as an authentic entry, once.
    store
        .dead_letters()
        .replay_dead_letter(2000, &dead[0].reference)
        .await
        .expect("replay");
    let replayed = lanes
        .read(A, "a", 10, Duration::from_millis(100), false)
        .await
        .expect("read");
    assert_eq!(replayed.len(), 1);
    assert_eq!(
        replayed[0].entry.as_ref().expect("authentic"),
        &entry(1000, 1, 2)
    );
    assert!(
        store
            .dead_letters()
            .replay_dead_letter(2000, &dead[0].reference)
            .await
            .is_err(),
        "replayed once"
    );
    // Drop.
    store
        .dead_letters()
        .drop_dead_letter(2000, &dead[1].reference)
        .await
        .expect("drop");
    assert!(
        store
            .dead_letters()
            .dead_letters(2000, 1)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        store
            .dead_letters()
            .drop_dead_letter(2000, "0/1-1")
            .await
            .is_err()
    );
    assert!(
        store
            .dead_letters()
            .drop_dead_letter(2000, "not-a-ref")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn one_lease_holder_per_shard_and_expired_leases_are_taken_over() {
    let (_server, store, _lanes) = lanes().await;
    let ttl = Duration::from_millis(300);
    assert!(
        store
            .leases()
            .acquire_lease(A, "w1", ttl)
            .await
            .expect("lease")
    );
    assert!(
        !store
            .leases()
            .acquire_lease(A, "w2", ttl)
            .await
            .expect("lease"),
        "held by w1"
    );
    assert!(
        store
            .leases()
            .renew_lease(A, "w1", ttl)
            .await
            .expect("renew")
    );
    assert!(
        !store
            .leases()
            .renew_lease(A, "w2", ttl)
            .await
            .expect("renew"),
        "not w2's"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        store
            .leases()
            .acquire_lease(A, "w2", ttl)
            .await
            .expect("lease"),
        "expired"
    );
    assert!(
        !store
            .leases()
            .renew_lease(A, "w1", ttl)
            .await
            .expect("renew"),
        "w1 lost it"
    );
    store
        .leases()
        .release_lease(A, "w1")
        .await
        .expect("release");
    assert!(
        !store
            .leases()
            .acquire_lease(A, "w3", ttl)
            .await
            .expect("lease"),
        "w1 cannot release w2's"
    );
    store
        .leases()
        .release_lease(A, "w2")
        .await
        .expect("release");
    assert!(
        store
            .leases()
            .acquire_lease(A, "w3", ttl)
            .await
            .expect("lease")
    );

    let now = switchyard::unix_ms();
    assert_eq!(
        store
            .leases()
            .heartbeat(2000, "w1", now, ttl)
            .await
            .expect("hb"),
        1
    );
    assert_eq!(
        store
            .leases()
            .heartbeat(2000, "w2", now, ttl)
            .await
            .expect("hb"),
        2
    );
    assert_eq!(
        store
            .leases()
            .heartbeat(2000, "w2", now + 1000, ttl)
            .await
            .expect("hb"),
        1,
        "w1 is silent"
    );
    store.leases().leave(2000, "w2").await.expect("leave");
    assert_eq!(
        store
            .leases()
            .heartbeat(2000, "w3", now + 1000, ttl)
            .await
            .expect("hb"),
        1
    );
}

#[tokio::test]
async fn backlog_reports_the_oldest_entrys_age() {
    let (_server, _store, lanes) = lanes().await;
    lanes.append(A, &entry(1000, 1, 1)).await.expect("append");
    let now = switchyard::unix_ms();
    let (len, _, age) = lanes.backlog(2000, 4, now + 5_000).await.expect("backlog");
    assert_eq!(len, 1);
    assert!((4_000..=6_000).contains(&age), "age {age} ms");
    let (len, _, age) = lanes.backlog(3000, 4, now).await.expect("empty lane");
    assert_eq!((len, age), (0, 0));
}

#[tokio::test]
async fn light_client_state_and_cursor_written_without_the_key_are_refused() {
    let (server, store, _lanes) = lanes().await;
    assert_eq!(
        store.origin_state().load_lc(1000).await.expect("empty"),
        None
    );
    store
        .origin_state()
        .save_lc(1000, r#"{"tip":5}"#)
        .await
        .expect("save");
    assert_eq!(
        store
            .origin_state()
            .load_lc(1000)
            .await
            .expect("load")
            .as_deref(),
        Some(r#"{"tip":5}"#)
    );
    store
        .origin_state()
        .set_scanned(1000, 42)
        .await
        .expect("save");
    assert_eq!(
        store.origin_state().scanned(1000).await.expect("load"),
        Some(42)
    );

    // Someone with write access to Redis but not the key: a forged anchor
    // (which would make a lying RPC's blocks look verified) or a cursor
    // raised to skip messages.
    let client = redis::Client::open(server.url.as_str()).expect("client");
    let mut c = client
        .get_multiplexed_async_connection()
        .await
        .expect("conn");
    let stored: String = redis::cmd("GET")
        .arg("t:{origin:1000}:lc")
        .query_async(&mut c)
        .await
        .expect("get");
    let (tag, _) = stored.split_once(':').expect("tagged");
    let _: () = redis::cmd("SET")
        .arg("t:{origin:1000}:lc")
        .arg(format!("{tag}:{{\"tip\":6}}"))
        .query_async(&mut c)
        .await
        .expect("set");
    let err = store
        .origin_state()
        .load_lc(1000)
        .await
        .expect_err("forged state");
    assert!(err.to_string().contains("authentication failed"), "{err}");
    assert!(!err.is_retryable());
    let _: () = redis::cmd("SET")
        .arg("t:{origin:1000}:scanned")
        .arg("99999")
        .query_async(&mut c)
        .await
        .expect("set");
    let err = store
        .origin_state()
        .scanned(1000)
        .await
        .expect_err("untagged cursor");
    assert!(err.to_string().contains("no authentication tag"), "{err}");
    // The same state under another key (origin) is refused too.
    let other = format!("{tag}:{{\"tip\":5}}");
    let _: () = redis::cmd("SET")
        .arg("t:{origin:2000}:lc")
        .arg(other)
        .query_async(&mut c)
        .await
        .expect("set");
    assert!(
        store.origin_state().load_lc(2000).await.is_err(),
        "tag bound to its key"
    );
}

/// `redis.wait_replicas` counts an append as done only once a replica holds
/// it, and that includes the retry of an append whose reply was lost: the
/// retry finds the entry already on the master (a replay) and must still
/// wait for the replica to have it. WAIT counts up to the connection's last
/// write; a replay that wrote nothing would be confirmed at once, by a
/// replica that never received the entry (`APPEND_LUA` rewrites the cursor
/// on a replay for this; Redis 7.0, run here, also moves the mark after a
/// read, later versions do not). Here the replica is frozen (SIGSTOP)
/// after an entry reached the master alone, as a lost reply leaves it.
#[tokio::test]
async fn wait_replicas_confirms_a_replayed_append_only_once_a_replica_holds_it() {
    use switchyard_localnet::procs::free_port;
    let dir = tempfile::tempdir().expect("tmp");
    let dir_arg = |name: &str| {
        let d = dir.path().join(name);
        std::fs::create_dir_all(&d).expect("dir");
        d.to_string_lossy().into_owned()
    };
    let (m_dir, r_dir) = (dir_arg("master"), dir_arg("replica"));
    let master = RedisServer::spawn_on(free_port(), None, &["--dir", &m_dir]).expect("master");
    let mport = master.proc.port.to_string();
    let replica = RedisServer::spawn_on(
        free_port(),
        None,
        &["--dir", &r_dir, "--replicaof", "127.0.0.1", &mport],
    )
    .expect("replica");
    let rclient = redis::Client::open(replica.url.as_str()).expect("url");
    let mut rc = rclient
        .get_multiplexed_async_connection()
        .await
        .expect("replica connection");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut rc)
            .await
            .expect("info");
        if info.contains("master_link_status:up") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "replica never synced: {info}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let target = RedisTarget::Single(master.url.clone());
    let plain = Store::connect(&target, "t", key())
        .await
        .expect("connects")
        .lanes();
    let first = Store::connect(&target, "t", key())
        .await
        .expect("connects")
        .with_wait(1, 300)
        .lanes();
    assert!(
        first
            .append(A, &entry(1000, 1, 1))
            .await
            .expect("replicated")
    );

    let signal = |sig: &str| {
        let ok = std::process::Command::new("kill")
            .args([sig, &replica.proc.pid().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill {sig}");
    };
    signal("-STOP");
    // Block 2 reaches the master only: the first attempt, whose reply (and
    // WAIT) was lost with its connection.
    assert!(
        plain
            .append(A, &entry(1000, 2, 1))
            .await
            .expect("master only")
    );
    // The retry comes on a new connection, which has written nothing yet:
    // WAIT alone would count the frozen replica at once.
    let waiting = Store::connect(&target, "t", key())
        .await
        .expect("connects")
        .with_wait(1, 300)
        .lanes();
    let replay = waiting.append(A, &entry(1000, 2, 1)).await;
    // A new append is not confirmed either.
    let fresh = waiting.append(A, &entry(1000, 3, 1)).await;
    signal("-CONT");
    let err = replay.expect_err("a replay the replica does not hold is not confirmed");
    assert_eq!(err.op(), "wait", "{err}");
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().contains("reached 0 of 1 replicas"), "{err}");
    assert_eq!(fresh.expect_err("not replicated").op(), "wait");

    // The replica is back: the retries are confirmed, as replays, and the
    // replica holds every entry.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    for h in [2, 3] {
        loop {
            match waiting.append(A, &entry(1000, h, 1)).await {
                Ok(appended) => {
                    assert!(!appended, "block {h} was on the master already");
                    break;
                }
                Err(e) => {
                    assert_eq!(e.op(), "wait", "{e}");
                    assert!(std::time::Instant::now() < deadline, "never confirmed: {e}");
                }
            }
        }
    }
    let len: u64 = redis::cmd("XLEN")
        .arg("t:{lane:2000:0}:stream")
        .query_async(&mut rc)
        .await
        .expect("xlen");
    assert_eq!(len, 3);
}

/// A holder that lost its lease and reads once more before it knows takes
/// entries out of the lane that the new holder's reads never return. The
/// new holder's next read names them (pending after everything it took,
/// before what it just read), and it takes them back, in order, ahead of
/// the newer entries; the stale reader cannot, because the lease is not
/// its own.
#[tokio::test]
async fn entries_a_stale_holder_read_are_named_by_the_next_read_and_taken_back_in_order() {
    let (_server, store, lanes) = lanes().await;
    lanes.ensure_group(A).await.expect("group");
    let ttl = Duration::from_secs(30);
    assert!(
        store
            .leases()
            .acquire_lease(A, "w1", ttl)
            .await
            .expect("lease")
    );
    for h in 1..=4 {
        lanes.append(A, &entry(1000, h, 1)).await.expect("append");
    }
    let height = |d: &switchyard::store::Delivery| d.entry.as_ref().expect("valid").height;
    let (first, taken) = lanes
        .read_new(A, "w1", 1, Duration::ZERO, "0-0")
        .await
        .expect("read");
    assert_eq!(first.iter().map(height).collect::<Vec<_>>(), [1]);
    assert!(taken.is_empty(), "{taken:?}");
    // The stale holder reads blocks 2 and 3.
    let stolen = lanes
        .read(A, "w0", 2, Duration::ZERO, false)
        .await
        .expect("stale read");
    assert_eq!(stolen.iter().map(height).collect::<Vec<_>>(), [2, 3]);
    let (next, taken) = lanes
        .read_new(A, "w1", 10, Duration::ZERO, &first[0].id)
        .await
        .expect("read");
    assert_eq!(next.iter().map(height).collect::<Vec<_>>(), [4]);
    assert_eq!(taken, [stolen[0].id.clone(), stolen[1].id.clone()]);
    assert!(
        lanes
            .take_back(A, "w0", &taken)
            .await
            .expect("script")
            .is_none(),
        "the stale reader does not hold the lease"
    );
    let back = lanes
        .take_back(A, "w1", &taken)
        .await
        .expect("script")
        .expect("the holder takes them");
    assert_eq!(back.iter().map(height).collect::<Vec<_>>(), [2, 3]);
    // Idle: a read that returns nothing still names what another took.
    lanes.append(A, &entry(1000, 5, 1)).await.expect("append");
    let late = lanes
        .read(A, "w0", 1, Duration::ZERO, false)
        .await
        .expect("stale read");
    let (none, taken) = lanes
        .read_new(A, "w1", 10, Duration::ZERO, &next[0].id)
        .await
        .expect("read");
    assert!(none.is_empty());
    assert_eq!(taken, [late[0].id.clone()]);
}
