//! `switchyard bench` in smoke mode, as CI runs it: correctness only (messages
//! delivered through the full pipeline, none twice, the summary complete and
//! well formed). No timing is asserted.

use std::process::Command;

/// Runs `switchyard bench --smoke <args>`, which must succeed; returns its
/// summary line (JSON) and its stderr (progress lines).
fn smoke(args: &[&str]) -> (serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["bench", "--smoke"])
        .args(args)
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "bench failed: {stdout}\n{stderr}");
    let report =
        serde_json::from_str(stdout.lines().last().expect("a summary line")).expect("JSON");
    (report, stderr)
}

#[test]
fn bench_smoke_delivers_through_the_full_pipeline_and_reports_every_field() {
    let (report, stderr) = smoke(&["--routes", "12", "--batch-size", "200"]);
    assert!(
        stderr.contains("[bench]"),
        "a progress line every second: {stderr}"
    );
    assert!(
        report["delivered"].as_u64().expect("delivered") > 0,
        "{report}"
    );
    assert_eq!(report["duplicates"], 0, "{report}");
    assert_eq!(report["too_old"], 0, "{report}");
    assert_eq!(report["routes"], 12);
    assert!(report["batches"].as_u64().expect("batches") > 0);
    for key in [
        "messages_per_second",
        "seconds",
        "cpu_seconds_per_million",
        "peak_rss_bytes",
        "hash_bound_messages_per_second",
        "p50_ms",
        "p99_ms",
    ] {
        assert!(
            report[key].as_f64().is_some_and(|v| v > 0.0),
            "{key} in {report}"
        );
    }
    for stage in ["verify", "enqueue", "deliver"] {
        assert!(
            report["stages"][stage]["p99_ms"].as_f64().is_some(),
            "{stage} in {report}"
        );
    }
}

#[test]
fn bench_anvil_sink_delivers_on_a_real_chain_and_reports_gas_per_message() {
    let (report, _) = smoke(&["--sink", "anvil", "--routes", "2", "--batch-size", "50"]);
    assert_eq!(report["sink"], "anvil", "{report}");
    assert!(
        report["delivered"].as_u64().expect("delivered") > 0,
        "{report}"
    );
    // Checked from the recipients' events on chain, not the hub's counters.
    assert_eq!(report["duplicates"], 0, "{report}");
    let gas = report["gas_per_message"].as_f64().expect("gas_per_message");
    // Whole transactions over messages: at least the calldata of one
    // 205-byte message, and nowhere near a per-message process() call.
    assert!((3_000.0..100_000.0).contains(&gas), "{report}");
    let per_tx = report["messages_per_transaction"]
        .as_f64()
        .expect("messages_per_transaction");
    assert!(
        per_tx > 0.0 && per_tx <= 50.0,
        "batch size bounds it: {report}"
    );
}

#[test]
fn bench_two_processes_share_one_redis_and_deliver_each_message_once() {
    let (report, stderr) = smoke(&["--processes", "2", "--batch-size", "200"]);
    assert_eq!(report["processes"], 2, "{report}");
    assert!(
        report["delivered"].as_u64().expect("delivered") > 0,
        "{report}"
    );
    // Each part keeps every nonce it delivered; the coordinator merges
    // them, so a message the two delivered would count here.
    assert_eq!(report["duplicates"], 0, "{report}");
    assert!(
        stderr.matches("[bench]").count() >= 2,
        "both parts report progress: {stderr}"
    );
}

#[test]
fn bench_refuses_flags_it_would_otherwise_ignore() {
    for (args, expected) in [
        (
            &["bench", "--smoke", "--sink", "anvil", "--processes", "2"][..],
            "apply to the null sink only",
        ),
        (
            &["bench", "--smoke", "--processes", "0"][..],
            "invalid value '0' for '--processes <PROCESSES>'",
        ),
        (
            &["bench", "--smoke", "--sink", "nul"][..],
            "[possible values: null, anvil]",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(args)
            .output()
            .expect("the binary runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: a usage error");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn bench_smoke_with_the_status_journal_writes_and_counts_it() {
    // At full load the journal drops what Redis does not absorb (counted);
    // what matters here is that it writes, counts, and costs no message.
    let (report, _) = smoke(&["--status-journal"]);
    assert_eq!(report["status_journal"], true, "{report}");
    assert!(
        report["status_written"].as_u64().is_some_and(|n| n > 0),
        "{report}"
    );
    assert!(report["status_dropped"].as_u64().is_some(), "{report}");
    assert!(report["delivered"].as_u64().is_some_and(|n| n > 0));
    assert_eq!(report["duplicates"], 0, "{report}");
    let (plain, _) = smoke(&[]);
    assert_eq!(plain["status_journal"], false);
    assert_eq!(plain["status_written"], 0, "no journal, no writes: {plain}");
}

#[test]
fn bench_smoke_with_three_attesters_delivers_what_two_of_them_signed() {
    // Each attester is a hub in role attester with its own copy of the
    // generated evidence; the null sinks count a batch only with 2
    // signatures of the 3, by increasing signer, as the Inbox does.
    let (report, stderr) = smoke(&[
        "--routes",
        "12",
        "--batch-size",
        "200",
        "--attesters",
        "3",
        "--threshold",
        "2",
    ]);
    assert!(
        report["delivered"].as_u64().expect("delivered") > 0,
        "{report}"
    );
    assert_eq!(report["duplicates"], 0, "{report}");
    assert!(
        report["stages"]["attest"]["p99_ms"].as_f64().is_some(),
        "verified to attested: {report}"
    );
    // No honest attester ever saw a message it had not verified.
    assert!(!stderr.contains("never verified"), "{stderr}");
}

#[test]
fn bench_on_a_redis_cluster_with_replicas_checks_exactly_once_across_processes() {
    let (report, stderr) = smoke(&[
        "--redis-cluster",
        "3",
        "--cluster-replicas",
        "1",
        "--processes",
        "2",
        "--wait-replicas",
        "1",
        "--batch-size",
        "200",
    ]);
    assert_eq!(report["processes"], 2, "{report}");
    assert_eq!(report["wait_replicas"], 1, "{report}");
    assert_eq!(report["redis_masters"], 3, "{report}");
    assert_eq!(report["cluster_replicas"], 1, "{report}");
    // The parts' ledgers were merged: distinct deliveries are counted
    // across processes, and a message two parts delivered would show here.
    assert_eq!(report["duplicates"], 0, "{report}");
    let delivered_total = report["delivered_total"].as_u64().expect("total");
    assert!(delivered_total > 0, "{report}");
    let parts = report["parts"].as_array().expect("parts");
    assert_eq!(parts.len(), 2, "{report}");
    for p in parts {
        assert!(
            p["messages_per_second"].as_f64().is_some_and(|v| v > 0.0),
            "{p}"
        );
        assert!(p["peak_rss_bytes"].as_u64().is_some_and(|v| v > 0), "{p}");
    }
    let nodes = report["redis_nodes"].as_array().expect("redis_nodes");
    assert_eq!(nodes.len(), 6, "3 masters, 1 replica each: {report}");
    let masters = nodes.iter().filter(|n| n["role"] == "master").count();
    let replicas = nodes.iter().filter(|n| n["role"] == "replica").count();
    assert_eq!((masters, replicas), (3, 3), "{report}");
    // Every master served lanes (slots spread over all three).
    for n in nodes.iter().filter(|n| n["role"] == "master") {
        assert!(
            n["cpu_seconds_per_million"]
                .as_f64()
                .is_some_and(|v| v > 0.0),
            "{n}"
        );
    }
    let sum: f64 = nodes
        .iter()
        .map(|n| n["cpu_seconds_per_million"].as_f64().expect("cpu"))
        .sum();
    let total = report["redis_cpu_seconds_per_million"]
        .as_f64()
        .expect("sum");
    assert!((sum - total).abs() < 1e-6, "{sum} vs {total}");
    assert!(stderr.matches("[bench]").count() >= 2, "{stderr}");
}

/// Runs `switchyard bench <args>`, which must fail; returns its stderr.
fn fails(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("bench")
        .args(args)
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{args:?} succeeded: {stderr}");
    stderr
}

#[test]
fn bench_refuses_a_wrong_or_unreachable_cluster_with_the_reason() {
    use switchyard_localnet::procs::{RedisCluster, RedisServer, free_port};

    let err = fails(&["--smoke", "--redis-cluster", "2"]);
    assert!(
        err.contains("--redis-cluster: expected at least 3 masters") && err.contains("got 2"),
        "{err}"
    );
    let err = fails(&["--smoke", "--redis-cluster", "3", "--wait-replicas", "1"]);
    assert!(
        err.contains("--wait-replicas 1: expected at most --cluster-replicas (0)"),
        "{err}"
    );
    // A plain Redis named as a cluster node.
    let plain = RedisServer::spawn(None).expect("redis-server starts");
    let err = fails(&["--smoke", "--redis-cluster-nodes", &plain.url]);
    assert!(
        err.contains("redis.cluster_nodes: expected Redis Cluster nodes")
            && err.contains("cluster support disabled"),
        "{err}"
    );
    // A cluster node named as a single Redis.
    let dir = tempfile::tempdir().expect("tmp");
    let cluster = RedisCluster::spawn(3, dir.path()).expect("cluster starts");
    let err = fails(&["--smoke", "--redis", &cluster.urls()[0]]);
    assert!(
        err.contains("redis.url: expected a single Redis, got a Redis Cluster node"),
        "{err}"
    );
    // Nothing listening at the seed: fails with the reason, not a hang.
    let nobody = format!("redis://127.0.0.1:{}", free_port());
    let err = fails(&["--smoke", "--redis-cluster-nodes", &nobody]);
    assert!(
        err.contains("--redis-cluster-nodes") && err.to_lowercase().contains("refused"),
        "{err}"
    );
}

#[test]
fn bench_on_a_given_cluster_spreads_its_lanes_over_every_master() {
    use switchyard_localnet::procs::RedisCluster;

    let dir = tempfile::tempdir().expect("tmp");
    let cluster = RedisCluster::spawn(3, dir.path()).expect("cluster starts");
    let (report, _) = smoke(&[
        "--redis-cluster-nodes",
        &cluster.urls().join(","),
        "--batch-size",
        "200",
    ]);
    assert_eq!(report["redis_masters"], 3, "{report}");
    assert_eq!(report["duplicates"], 0, "{report}");
    assert!(
        report["delivered_total"].as_u64().is_some_and(|n| n > 0),
        "{report}"
    );
    // Not started by the bench: no node CPU to report.
    assert_eq!(report["redis_nodes"], serde_json::json!([]), "{report}");
    // The run's keys (lanes, cursors, states) landed on every master.
    for i in 0..3 {
        let keys: u64 = cluster
            .cli(i, &["dbsize"])
            .expect("redis-cli")
            .trim()
            .parse()
            .expect("a count");
        assert!(keys > 0, "master {i} holds none of the run's keys");
    }
}
