//! The Redis lanes against a real redis-server: the promises the hub builds
//! on (an origin block is appended once, entries stay pending until
//! acknowledged, a dead consumer's entries are reclaimed, a forged entry is
//! refused, dead letters keep their reason).

use std::time::Duration;

use alloy::primitives::Bytes;
use redis::AsyncCommands;
use switchyard::lane::{LaneEntry, Lanes};
use switchyard::procs::RedisServer;

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

async fn lanes() -> (RedisServer, Lanes) {
    let server = RedisServer::spawn(None).expect("redis-server starts (run deploy/setup.sh)");
    let lanes = Lanes::connect(&server.url, "t").await.expect("connects");
    (server, lanes)
}

#[tokio::test]
async fn append_is_exactly_once_per_origin_block_and_lane() {
    let (_server, lanes) = lanes().await;
    assert!(
        lanes
            .append(2000, &entry(1000, 5, 3))
            .await
            .expect("append")
    );
    // A watcher restarted after appending re-reads block 5: no second entry.
    assert!(
        !lanes
            .append(2000, &entry(1000, 5, 3))
            .await
            .expect("replay")
    );
    assert!(!lanes.append(2000, &entry(1000, 4, 3)).await.expect("older"));
    assert!(lanes.append(2000, &entry(1000, 6, 1)).await.expect("next"));
    // Cursors are per (origin, lane): another origin or lane is independent.
    assert!(
        lanes
            .append(2000, &entry(3000, 5, 1))
            .await
            .expect("other origin")
    );
    assert!(
        lanes
            .append(3000, &entry(1000, 5, 1))
            .await
            .expect("other lane")
    );
    let (backlog, _) = lanes.backlog(2000, u64::MAX / 2).await.expect("backlog");
    assert_eq!(backlog, 3);
}

#[tokio::test]
async fn entries_stay_pending_until_acknowledged_and_survive_a_consumer_restart() {
    let (_server, lanes) = lanes().await;
    lanes.ensure_group(2000).await.expect("group");
    lanes
        .ensure_group(2000)
        .await
        .expect("group creation is idempotent");
    for h in 1..=3 {
        lanes
            .append(2000, &entry(1000, h, 2))
            .await
            .expect("append");
    }
    let first = lanes
        .read(2000, "a", 10, Duration::from_millis(100), false)
        .await
        .expect("read");
    assert_eq!(first.len(), 3);
    assert_eq!(
        first[0].entry.as_ref().expect("decodes"),
        &entry(1000, 1, 2)
    );
    // Nothing new for anyone.
    assert!(
        lanes
            .read(2000, "b", 10, Duration::from_millis(50), false)
            .await
            .expect("read")
            .is_empty()
    );
    // "a" restarts: its pending entries come back, in order.
    let pending = lanes
        .read(2000, "a", 10, Duration::ZERO, true)
        .await
        .expect("pending");
    let ids: Vec<_> = pending.iter().map(|d| d.id.clone()).collect();
    assert_eq!(ids, first.iter().map(|d| d.id.clone()).collect::<Vec<_>>());
    lanes.ack(2000, &ids[..2]).await.expect("ack");
    let pending = lanes
        .read(2000, "a", 10, Duration::ZERO, true)
        .await
        .expect("pending");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, ids[2]);
    let (backlog, _) = lanes.backlog(2000, u64::MAX / 2).await.expect("backlog");
    assert_eq!(backlog, 1, "acknowledged entries leave the stream");
}

#[tokio::test]
async fn a_dead_consumers_entries_are_reclaimed_after_the_idle_timeout() {
    let (_server, lanes) = lanes().await;
    lanes.ensure_group(2000).await.expect("group");
    lanes
        .append(2000, &entry(1000, 1, 1))
        .await
        .expect("append");
    let taken = lanes
        .read(2000, "dead", 10, Duration::from_millis(100), false)
        .await
        .expect("read");
    assert_eq!(taken.len(), 1);
    let early = lanes
        .reclaim(2000, "alive", Duration::from_secs(60), 10)
        .await
        .expect("reclaim");
    assert!(early.is_empty(), "not idle long enough yet");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let got = lanes
        .reclaim(2000, "alive", Duration::from_millis(100), 10)
        .await
        .expect("reclaim");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, taken[0].id);
    assert_eq!(got[0].entry.as_ref().expect("decodes"), &entry(1000, 1, 1));
}

#[tokio::test]
async fn forged_entry_written_into_a_lane_is_refused_and_dead_lettered_with_its_reason() {
    let (server, lanes) = lanes().await;
    lanes.ensure_group(2000).await.expect("group");
    let client = redis::Client::open(server.url.as_str()).expect("client");
    let mut raw = client
        .get_multiplexed_async_connection()
        .await
        .expect("conn");
    let key = "t:{lane:2000}:stream";
    let _: String = raw
        .xadd(
            key,
            "*",
            &[("v", "1".as_bytes()), ("b", b"\x00\x01garbage")],
        )
        .await
        .expect("xadd");
    let _: String = raw
        .xadd(
            key,
            "*",
            &[
                ("v", "9".as_bytes()),
                ("b", &entry(1000, 1, 1).encode()[..]),
            ],
        )
        .await
        .expect("xadd");
    let _: String = raw.xadd(key, "*", &[("x", "y")]).await.expect("xadd");
    let got = lanes
        .read(2000, "a", 10, Duration::from_millis(100), false)
        .await
        .expect("read");
    assert_eq!(got.len(), 3);
    let errs: Vec<String> = got
        .iter()
        .map(|d| d.entry.clone().expect_err("refused"))
        .collect();
    assert!(errs[0].contains("truncated"), "{}", errs[0]);
    assert!(errs[1].contains("expected 1, got \"9\""), "{}", errs[1]);
    assert!(errs[2].contains("no version"), "{}", errs[2]);
    for d in &got {
        lanes
            .dead_letter(2000, &d.id, &d.raw, d.entry.as_ref().expect_err("refused"))
            .await
            .expect("dlq");
    }
    assert_eq!(lanes.dead_letters(2000).await.expect("xlen"), 3);
    let (backlog, _) = lanes.backlog(2000, u64::MAX / 2).await.expect("backlog");
    assert_eq!(backlog, 0);
    let dead: redis::streams::StreamRangeReply =
        raw.xrange_all("t:{lane:2000}:dead").await.expect("xrange");
    let reason: String = dead.ids[1].get("reason").expect("reason kept");
    assert!(reason.contains("expected 1"), "{reason}");
    let entry_id: String = dead.ids[1].get("entry").expect("entry id kept");
    assert_eq!(entry_id, got[1].id);
}

#[tokio::test]
async fn backlog_reports_the_oldest_entrys_age() {
    let (_server, lanes) = lanes().await;
    lanes
        .append(2000, &entry(1000, 1, 1))
        .await
        .expect("append");
    let now = switchyard::unix_ms();
    let (len, age) = lanes.backlog(2000, now + 5_000).await.expect("backlog");
    assert_eq!(len, 1);
    assert!((4_000..=6_000).contains(&age), "age {age} ms");
    let (len, age) = lanes.backlog(3000, now).await.expect("empty lane");
    assert_eq!((len, age), (0, 0));
}
