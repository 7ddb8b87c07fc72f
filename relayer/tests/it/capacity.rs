//! Redis memory per backlog entry, for the capacity plan
//! (docs/operations.md, "Capacity plan"): lane entries appended through the
//! hub's own store into a real redis-server, measured with `MEMORY USAGE`.
//! Printed for the plan; bounded so that a change that bloats the entry
//! format fails here.

use alloy_primitives::{B256, Bytes};
use switchyard::store::{LaneEntry, LaneId, QueueKey, RedisTarget, Store};
use switchyard_localnet::procs::RedisServer;
use switchyard_types::Message;

fn message(nonce: u32, body: usize) -> Bytes {
    Message {
        version: 3,
        nonce,
        origin: 1000,
        sender: B256::repeat_byte(1),
        destination: 2000,
        recipient: B256::repeat_byte(2),
        body: vec![0xab; body].into(),
    }
    .encode()
    .into()
}

#[tokio::test]
async fn redis_memory_per_backlog_entry_and_message() {
    let redis = RedisServer::spawn(None).expect("redis-server starts");
    let store = Store::connect(
        &RedisTarget::Single(redis.url.clone()),
        "cap",
        QueueKey::new(&[7u8; 32]).expect("key"),
    )
    .await
    .expect("connect");
    let lanes = store.lanes();
    let client = redis::Client::open(redis.url.as_str()).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let body = 128;
    let encoded = message(0, body).len();
    let entries = 500u64;
    for (shard, per_entry) in [(0u16, 1usize), (1, 10), (2, 100), (3, 1000)] {
        let lane = LaneId { dst: 2000, shard };
        lanes.ensure_group(lane).await.expect("group");
        let mut nonce = 0u32;
        for height in 1..=entries {
            let messages = (0..per_entry)
                .map(|_| {
                    nonce += 1;
                    message(nonce, body)
                })
                .collect();
            let entry = LaneEntry {
                origin: 1000,
                height,
                verified_at_ms: 1,
                messages,
            };
            assert!(lanes.append(lane, &entry).await.expect("append"));
        }
        let key = format!("cap:{{lane:2000:{shard}}}:stream");
        let bytes: u64 = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(&key)
            .arg("SAMPLES")
            .arg(0)
            .query_async(&mut conn)
            .await
            .expect("MEMORY USAGE");
        let per_entry_bytes = bytes as f64 / entries as f64;
        let per_message = per_entry_bytes / per_entry as f64;
        eprintln!(
            "[capacity] {per_entry} messages of {encoded} bytes ({body}-byte body) an entry: \
             {per_entry_bytes:.0} bytes an entry, {per_message:.0} bytes a message"
        );
        // The entry is the messages plus a fixed header, field names, the
        // HMAC tag and the stream's own overhead: within 2× the messages
        // plus 1 KiB an entry.
        assert!(
            per_entry_bytes < 2.0 * (per_entry * encoded) as f64 + 1024.0,
            "{per_entry_bytes} bytes an entry of {per_entry} messages of {encoded} bytes"
        );
        assert!(
            per_entry_bytes >= (per_entry * encoded) as f64,
            "the messages are in the entry: {per_entry_bytes}"
        );
    }
}
