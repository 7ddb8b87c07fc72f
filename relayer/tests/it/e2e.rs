//! The walking skeleton end to end, through the real binary: three anvil
//! chains, 300 messages on each of the six routes, every one delivered
//! exactly once with the right body at the right recipient, and the hub's
//! metrics agree with what the chains show.

use std::collections::HashMap;
use std::process::Command;

use alloy::primitives::{Address, B256};
use alloy::providers::RootProvider;
use switchyard_localnet::evm::received_events;
use switchyard_localnet::procs::{Anvil, RedisServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_chains_300_per_route_delivered_exactly_once_through_the_binary() {
    let anvils: Vec<Anvil> = (0..3)
        .map(|i| Anvil::spawn(41_000 + i, 0.2).expect("anvil starts (run deploy/setup.sh)"))
        .collect();
    let redis = RedisServer::spawn(None).expect("redis-server starts");
    let urls: Vec<String> = anvils.iter().map(|a| a.url.clone()).collect();

    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args([
            "devnet",
            "--messages",
            "300",
            "--confirmations",
            "1",
            "--timeout-secs",
            "300",
        ])
        .args(["--rpc", &urls.join(","), "--redis", &redis.url])
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "devnet failed: {}\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    let last = stdout.lines().last().expect("a summary line");
    let report: serde_json::Value = serde_json::from_str(last).expect("last line is JSON");

    // The binary's own verdict.
    let n = |k: &str| {
        report[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} in {report}"))
    };
    assert_eq!(n("chains"), 3);
    assert_eq!(n("routes"), 6);
    assert_eq!(n("sent"), 1800);
    assert_eq!(n("delivered"), 1800);
    assert_eq!(n("duplicates"), 0);
    assert_eq!(n("lost"), 0);
    assert_eq!(n("mismatched"), 0);
    assert!(report["messages_per_second"].as_f64().expect("rate") > 0.0);

    // The hub's counters, as scraped from /metrics, agree with the counts.
    let m = &report["metrics"];
    for stage in ["observed", "verified", "enqueued", "submitted", "delivered"] {
        assert_eq!(m[stage].as_u64(), Some(1800), "stage {stage} in {m}");
    }
    assert_eq!(m["rejected"].as_u64(), Some(0));
    assert_eq!(m["failed"].as_u64(), Some(0));

    // Independently of the binary: read every Received event from the
    // chains (still running: this test owns them).
    let chains = report["chain_details"].as_array().expect("chain details");
    let senders: HashMap<u64, B256> = chains
        .iter()
        .map(|c| {
            let sender: Address = c["sender"]
                .as_str()
                .expect("sender")
                .parse()
                .expect("address");
            (c["domain"].as_u64().expect("domain"), sender.into_word())
        })
        .collect();
    for c in chains {
        let domain = c["domain"].as_u64().expect("domain") as u32;
        let rpc: String = c["rpc"].as_str().expect("rpc").to_owned();
        let recipient: Address = c["recipient"]
            .as_str()
            .expect("recipient")
            .parse()
            .expect("address");
        let provider = RootProvider::new_http(rpc.parse().expect("url"));
        let events = received_events(&provider, recipient, 0)
            .await
            .expect("logs");
        assert_eq!(
            events.len(),
            600,
            "chain {domain} receives 300 from each of 2 origins"
        );
        let mut seen: HashMap<(u32, Vec<u8>), u32> = HashMap::new();
        for ev in &events {
            assert_ne!(ev.origin, domain, "no loopback traffic was sent");
            assert_eq!(
                Some(&ev.sender),
                senders.get(&u64::from(ev.origin)),
                "sender of {ev:?}"
            );
            let text = String::from_utf8_lossy(&ev.body);
            let prefix = format!("switchyard devnet {}->{} #", ev.origin, domain);
            assert!(
                text.starts_with(&prefix),
                "body {text:?} routed to {domain}"
            );
            *seen.entry((ev.origin, ev.body.to_vec())).or_default() += 1;
        }
        assert_eq!(
            seen.len(),
            600,
            "every body distinct: no duplicate delivery"
        );
        for origin in senders.keys().map(|d| *d as u32).filter(|d| *d != domain) {
            for i in 0..300 {
                let want = format!("switchyard devnet {origin}->{domain} #{i} ");
                assert!(
                    seen.keys()
                        .any(|(o, b)| *o == origin && b.starts_with(want.as_bytes())),
                    "message {i} from {origin} to {domain} missing"
                );
            }
        }
    }
}

/// `switchyard devnet --messages 0` relays steady traffic until SIGTERM, then
/// drains, prints its summary and stops every process it started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devnet_steady_mode_stops_everything_it_started_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args([
            "devnet",
            "--messages",
            "0",
            "--rate",
            "20",
            "--confirmations",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Wait for the chains and Redis to be announced, then for deliveries.
    let mut ports = Vec::new();
    let start = Instant::now();
    let mut delivering = false;
    while start.elapsed() < Duration::from_secs(60) && !delivering {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(1)) else {
            continue;
        };
        if line.contains(" chains: ") {
            // "[devnet] 2 chains: http://127.0.0.1:P1, http://127.0.0.1:P2; redis redis://127.0.0.1:P3"
            ports = line
                .split("127.0.0.1:")
                .skip(1)
                .filter_map(|rest| {
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    digits.parse::<u16>().ok()
                })
                .collect();
        }
        if line.contains("delivered ") && !line.contains("delivered 0/") {
            delivering = true;
        }
    }
    assert!(delivering, "steady traffic is delivered");
    assert_eq!(
        ports.len(),
        3,
        "two anvil ports and one redis port announced: {ports:?}"
    );
    for p in &ports {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok(),
            "port {p} open while running"
        );
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let exit = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "devnet did not stop after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().expect("stdout"), &mut out)
        .expect("read");
    let report: serde_json::Value =
        serde_json::from_str(out.lines().last().expect("summary")).expect("JSON");
    assert!(
        exit.success(),
        "everything sent before the signal was delivered: {report}"
    );
    assert_eq!(report["duplicates"], 0);
    assert_eq!(report["sent"], report["delivered"]);
    for p in &ports {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", *p)).is_err(),
            "port {p} still open: a process was left behind"
        );
    }
}

/// `switchyard devnet --redis-cluster 3 --cluster-replicas 1
/// --wait-replicas 1`: the hub on a replicated Redis Cluster, waiting for a
/// replica on every lane append, delivers every message once; too few
/// replicas for the wait is refused with the reason.
#[test]
fn devnet_on_a_replicated_redis_cluster_delivers_exactly_once() {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["devnet", "--messages", "200", "--timeout-secs", "300"])
        .args(["--redis-cluster", "3", "--cluster-replicas", "1"])
        .args(["--wait-replicas", "1"])
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "devnet failed: {stdout}\n{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("a summary line")).expect("JSON");
    for (k, v) in [
        ("sent", 400),
        ("delivered", 400),
        ("duplicates", 0),
        ("lost", 0),
    ] {
        assert_eq!(report[k], v, "{k}: {report}");
    }
    // Six nodes, listed as the devnet's Redis.
    let redis = report["redis"].as_str().expect("redis");
    assert_eq!(redis.split(',').count(), 6, "{redis}");

    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["devnet", "--messages", "1", "--redis-cluster", "3"])
        .args(["--wait-replicas", "1"])
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--wait-replicas 1: expected at most --cluster-replicas (0)"),
        "{stderr}"
    );
}
