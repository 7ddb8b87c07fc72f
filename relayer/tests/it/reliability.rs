//! The lanes' promises under faults, with the hub as a real separate process
//! (`switchyard run`), real anvil chains and real redis-server processes:
//! - `exactly_once`: the hub is killed with SIGKILL at random points ten
//!   times during a 20,000-message run and restarted each time; every
//!   message is delivered exactly once, in channel order;
//! - `replicas`: two hub processes with three dispatcher workers each share
//!   the lanes and both do part of the work;
//! - `forged_entry`: an entry written straight into a lane is refused;
//! - `redis_restart`: Redis (AOF on) killed and restarted mid-run: nothing lost;
//! - `redis_cluster`: the same against a 3-master Redis Cluster.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, Bytes};
use alloy::providers::Provider;
use rand::Rng;
use switchyard::lane::{LaneEntry, LaneId, Lanes, QueueKey, RedisTarget};
use switchyard::metrics::sum_messages_in_text;
use switchyard::procs::{Anvil, RedisCluster, RedisServer, free_port, repo_root};
use switchyard_evm::bindings::{ARTIFACTS_DIR, TestRecipient};
use switchyard_evm::devtools::{self, ANVIL_KEYS, DevWallet};
use switchyard_types::Message;

const QUEUE_KEY: &str = "7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a";
const BODY: usize = 64;

enum RedisSide {
    Single {
        server: Option<RedisServer>,
        port: u16,
        aof: Option<PathBuf>,
    },
    Cluster(RedisCluster),
}

struct ChainInfo {
    domain: u32,
    chain_id: u64,
    url: String,
    mailbox: Address,
    inbox: Address,
    recipients: Vec<Address>,
    checkpoint: (u64, B256),
    wallet: DevWallet,
    from_block: u64,
}

struct Stack {
    _anvils: Vec<Anvil>,
    redis: RedisSide,
    dir: tempfile::TempDir,
    chains: Vec<ChainInfo>,
    dispatcher: String,
    sent: HashMap<(u32, u32, usize), u64>,
}

struct HubProc {
    child: Child,
    http: u16,
    log: PathBuf,
}

impl Drop for HubProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl HubProc {
    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn metrics(&self) -> Option<String> {
        let r = reqwest::get(format!("http://127.0.0.1:{}/metrics", self.http))
            .await
            .ok()?;
        r.text().await.ok()
    }
}

fn body(origin: u32, dest: u32, r: usize, i: u64) -> Bytes {
    let mut s = format!("sy {origin}->{dest} r{r} #{i} ").into_bytes();
    s.resize(BODY, b'.');
    Bytes::from(s)
}

fn parse_body(b: &[u8]) -> Option<(u32, u32, usize, u64)> {
    let t = std::str::from_utf8(b).ok()?;
    let mut it = t.split_whitespace();
    if it.next()? != "sy" {
        return None;
    }
    let (o, d) = it.next()?.split_once("->")?;
    let r = it.next()?.strip_prefix('r')?.parse().ok()?;
    let i = it.next()?.strip_prefix('#')?.parse().ok()?;
    let parsed = (o.parse().ok()?, d.parse().ok()?, r, i);
    (body(parsed.0, parsed.1, parsed.2, parsed.3).as_ref() == b).then_some(parsed)
}

#[derive(Debug, Default)]
struct Verdict {
    /// Messages dispatched (shown in failure messages).
    #[allow(dead_code)]
    sent: u64,
    delivered: u64,
    duplicates: u64,
    lost: u64,
    out_of_order: u64,
    unexpected: u64,
}

impl Stack {
    async fn new(chains: usize, recipients: usize, redis: RedisSide, dispatcher: &str) -> Self {
        let anvils: Vec<Anvil> = (0..chains)
            .map(|i| {
                Anvil::spawn(51_000 + i as u64, 0.2).expect("anvil starts (run deploy/setup.sh)")
            })
            .collect();
        let dir = tempfile::tempdir().expect("tmp");
        let artifacts = repo_root().join(ARTIFACTS_DIR);
        let attester = switchyard_evm::attest::Attester::from_hex(ANVIL_KEYS[1], "t")
            .expect("key")
            .address();
        let mut infos = Vec::new();
        for (i, a) in anvils.iter().enumerate() {
            let mut wallet = DevWallet::connect(&a.url, ANVIL_KEYS[0])
                .await
                .expect("wallet");
            let domain = 1000 * (i as u32 + 1);
            let d =
                devtools::deploy_all(&mut wallet, &artifacts, domain, vec![attester], 1, 500_000)
                    .await
                    .expect("deploy");
            let mut rs = vec![d.recipient];
            for _ in 1..recipients {
                rs.push(
                    devtools::deploy_recipient(&mut wallet, &artifacts, d.inbox)
                        .await
                        .expect("deploy"),
                );
            }
            let head = wallet.provider().get_block_number().await.expect("head");
            let block = wallet
                .provider()
                .get_block_by_number(head.into())
                .await
                .expect("block")
                .expect("exists");
            infos.push(ChainInfo {
                domain,
                chain_id: wallet.chain_id(),
                url: a.url.clone(),
                mailbox: d.mailbox,
                inbox: d.inbox,
                recipients: rs,
                checkpoint: (head, block.header.hash),
                wallet,
                from_block: head,
            });
        }
        for (name, value) in [
            ("attester", ANVIL_KEYS[1]),
            ("submitter", ANVIL_KEYS[2]),
            ("queue", QUEUE_KEY),
        ] {
            std::fs::write(dir.path().join(name), value).expect("write key");
        }
        Self {
            _anvils: anvils,
            redis,
            dir,
            chains: infos,
            dispatcher: dispatcher.to_owned(),
            sent: HashMap::new(),
        }
    }

    fn redis_toml(&self) -> String {
        match &self.redis {
            RedisSide::Single { port, .. } => format!("url = \"redis://127.0.0.1:{port}\""),
            RedisSide::Cluster(c) => format!(
                "url = \"redis://unused:1\"\ncluster_nodes = [{}]",
                c.urls()
                    .iter()
                    .map(|u| format!("\"{u}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    fn redis_target(&self) -> RedisTarget {
        match &self.redis {
            RedisSide::Single { port, .. } => {
                RedisTarget::Single(format!("redis://127.0.0.1:{port}"))
            }
            RedisSide::Cluster(c) => RedisTarget::Cluster(c.urls()),
        }
    }

    fn config_path(&self) -> PathBuf {
        let d = self.dir.path();
        let mut t = format!(
            "attester_key = {{ file = \"{}\" }}\nqueue_key = {{ file = \"{}\" }}\n[redis]\n{}\nkey_prefix = \"rel\"\n[dispatcher]\n{}\n",
            d.join("attester").display(),
            d.join("queue").display(),
            self.redis_toml(),
            self.dispatcher,
        );
        for (i, c) in self.chains.iter().enumerate() {
            t.push_str(&format!(
                "[[chains]]\nname = \"c{i}\"\ndomain = {}\nchain_id = {}\nrpc_urls = [\"{}\"]\nmailbox = \"{}\"\ninbox = \"{}\"\nconfirmations = 1\ncheckpoint = {{ number = {}, hash = \"{}\" }}\npoll_interval_ms = 100\nsubmitter_key = {{ file = \"{}\" }}\ndelivery_confirmations = 1\n",
                c.domain, c.chain_id, c.url, c.mailbox, c.inbox, c.checkpoint.0, c.checkpoint.1,
                d.join("submitter").display(),
            ));
        }
        let p = d.join("hub.toml");
        std::fs::write(&p, t).expect("write config");
        p
    }

    fn spawn_hub(&self, name: &str) -> HubProc {
        let cfg = self.config_path();
        let http = free_port();
        let log = self.dir.path().join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["run", "--config"])
            .arg(&cfg)
            // Environment override of one key, as operators do.
            .env("SWITCHYARD__HTTP__LISTEN", format!("127.0.0.1:{http}"))
            .env("RUST_LOG", "switchyard=info")
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("hub starts");
        HubProc { child, http, log }
    }

    /// Dispatches `per_channel` messages on every (origin, destination,
    /// recipient) channel, in chunks, without waiting for inclusion.
    async fn send(&mut self, per_channel: u64) {
        let targets: Vec<(u32, Vec<Address>)> = self
            .chains
            .iter()
            .map(|c| (c.domain, c.recipients.clone()))
            .collect();
        let mut pending = Vec::new();
        for ci in 0..self.chains.len() {
            let origin = self.chains[ci].domain;
            for (dest, recipients) in &targets {
                if *dest == origin {
                    continue;
                }
                for (r, rcpt) in recipients.iter().enumerate() {
                    let start = self.sent.get(&(origin, *dest, r)).copied().unwrap_or(0);
                    let mut i = start;
                    while i < start + per_channel {
                        let n = 250.min(start + per_channel - i);
                        let bodies = (i..i + n).map(|k| body(origin, *dest, r, k)).collect();
                        let c = &mut self.chains[ci];
                        let data = devtools::dispatch_many_calldata(*dest, *rcpt, bodies);
                        let h = c
                            .wallet
                            .send(Some(c.mailbox), data, 2_000_000 + 30_000 * n)
                            .await
                            .expect("dispatch");
                        pending.push((ci, h));
                        i += n;
                    }
                    self.sent.insert((origin, *dest, r), start + per_channel);
                }
            }
        }
        for (ci, h) in pending {
            self.chains[ci]
                .wallet
                .wait(h, Duration::from_secs(120))
                .await
                .expect("dispatch included");
        }
    }

    fn total_sent(&self) -> u64 {
        self.sent.values().sum()
    }

    async fn received(&self) -> u64 {
        let mut total = 0;
        for c in &self.chains {
            for r in &c.recipients {
                let n = TestRecipient::new(*r, c.wallet.provider().clone())
                    .received()
                    .call()
                    .await
                    .expect("received()");
                total += u64::try_from(n).expect("fits");
            }
        }
        total
    }

    async fn wait_all(&self, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.received().await >= self.total_sent() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        false
    }

    /// Reads every Received event and checks exactly-once and channel order.
    async fn verify(&self) -> Verdict {
        let mut v = Verdict {
            sent: self.total_sent(),
            ..Verdict::default()
        };
        let mut seen: HashMap<(u32, u32, usize, u64), u32> = HashMap::new();
        for c in &self.chains {
            for (r, rcpt) in c.recipients.iter().enumerate() {
                let events = devtools::received_events(c.wallet.provider(), *rcpt, c.from_block)
                    .await
                    .expect("logs");
                let mut last: HashMap<(u32, B256), u64> = HashMap::new();
                for ev in events {
                    match parse_body(&ev.body) {
                        Some((o, d, rr, i)) if o == ev.origin && d == c.domain && rr == r => {
                            *seen.entry((o, d, rr, i)).or_default() += 1;
                            let channel = (ev.origin, ev.sender);
                            if let Some(prev) = last.get(&channel)
                                && *prev >= i
                            {
                                v.out_of_order += 1;
                            }
                            last.insert(channel, i);
                        }
                        _ => v.unexpected += 1,
                    }
                }
            }
        }
        v.delivered = seen.len() as u64;
        v.duplicates = seen.values().map(|n| u64::from(n - 1)).sum();
        for ((o, d, r), n) in &self.sent {
            for i in 0..*n {
                if !seen.contains_key(&(*o, *d, *r, i)) {
                    v.lost += 1;
                }
            }
        }
        v
    }
}

fn single_redis(aof: bool) -> RedisSide {
    let dir = aof.then(|| tempfile::tempdir().expect("tmp").keep());
    let server = RedisServer::spawn(dir.as_deref()).expect("redis-server starts");
    let port = server.proc.port;
    RedisSide::Single {
        server: Some(server),
        port,
        aof: dir,
    }
}

fn cluster() -> RedisSide {
    let dir = tempfile::tempdir().expect("tmp").keep();
    RedisSide::Cluster(RedisCluster::spawn(3, &dir).expect("3-master cluster starts"))
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .rev()
        .take(30)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n")
}

const DISPATCH: &str = "lane_shards = 4\nworkers = 2\nlease_ttl_ms = 1000\nmax_batch_messages = 250\nretry_base_ms = 100";

async fn killed_ten_times(redis: RedisSide) {
    let mut stack = Stack::new(2, 2, redis, DISPATCH).await;
    let mut hub = stack.spawn_hub("hub0");
    // 2 routes × 2 recipients × 5,000 = 20,000 messages.
    stack.send(5_000).await;
    assert_eq!(stack.total_sent(), 20_000);
    for k in 1..=10 {
        let wait = rand::rng().random_range(300..1500);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        hub.kill9();
        hub = stack.spawn_hub(&format!("hub{k}"));
    }
    let done = stack.wait_all(Duration::from_secs(240)).await;
    let v = stack.verify().await;
    assert!(
        done,
        "not all delivered: {v:?}\nlast hub log:\n{}",
        tail(&hub.log)
    );
    assert_eq!(v.delivered, 20_000, "{v:?}");
    assert_eq!(v.duplicates, 0, "{v:?}");
    assert_eq!(v.lost, 0, "{v:?}");
    assert_eq!(v.out_of_order, 0, "channel order broken: {v:?}");
    assert_eq!(v.unexpected, 0, "{v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_in_channel_order_when_the_hub_is_killed_ten_times() {
    killed_ten_times(single_redis(false)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_exactly_once_when_the_hub_is_killed_ten_times() {
    killed_ten_times(cluster()).await;
}

async fn two_replicas(redis: RedisSide) {
    let mut stack = Stack::new(
        2,
        3,
        redis,
        "lane_shards = 8\nworkers = 3\nlease_ttl_ms = 1000\nmax_batch_messages = 100",
    )
    .await;
    let a = stack.spawn_hub("a");
    let b = stack.spawn_hub("b");
    // Let both replicas join and split the shards before traffic.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let owned = |text: &str| -> u64 {
        text.lines()
            .filter(|l| l.starts_with("switchyard_lane_shards_owned{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .map(|v| v as u64)
            .sum()
    };
    let (ma, mb) = (
        a.metrics().await.expect("a serves"),
        b.metrics().await.expect("b serves"),
    );
    // 2 destinations × 8 shards, split between the replicas.
    assert_eq!(
        owned(&ma) + owned(&mb),
        16,
        "a: {}, b: {}",
        owned(&ma),
        owned(&mb)
    );
    assert!(
        owned(&ma) >= 4 && owned(&mb) >= 4,
        "a: {}, b: {}",
        owned(&ma),
        owned(&mb)
    );
    // 2 routes × 3 recipients × 1,000 = 6,000 messages.
    stack.send(1_000).await;
    let done = stack.wait_all(Duration::from_secs(120)).await;
    let v = stack.verify().await;
    assert!(done, "{v:?}\n{}", tail(&a.log));
    assert_eq!(
        (v.delivered, v.duplicates, v.lost, v.out_of_order),
        (6_000, 0, 0, 0),
        "{v:?}"
    );
    // Both replicas delivered part of it; together exactly the total.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let da = sum_messages_in_text(&a.metrics().await.unwrap_or_default(), "delivered");
        let db = sum_messages_in_text(&b.metrics().await.unwrap_or_default(), "delivered");
        if da + db == 6_000 || Instant::now() > deadline {
            assert_eq!(da + db, 6_000, "a {da} + b {db}");
            assert!(da > 0 && db > 0, "both replicas work: a {da}, b {db}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_two_hubs_with_three_workers_each_split_the_work() {
    two_replicas(single_redis(false)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_replicas_two_hubs_with_three_workers_each_split_the_work() {
    two_replicas(cluster()).await;
}

async fn forged(redis: RedisSide) {
    let mut stack = Stack::new(2, 1, redis, DISPATCH).await;
    let hub = stack.spawn_hub("hub");
    stack.send(50).await;
    assert!(
        stack.wait_all(Duration::from_secs(60)).await,
        "{}",
        tail(&hub.log)
    );
    // A well-formed entry for a real recipient, written without the queue
    // key (wrong key) and one without any tag, into every shard.
    let (dest_domain, dest_inbox, dest_recipient) = (
        stack.chains[1].domain,
        stack.chains[1].inbox,
        stack.chains[1].recipients[0],
    );
    let dest_provider = stack.chains[1].wallet.provider().clone();
    let forged_msg = Message {
        version: 3,
        nonce: 999_999,
        origin: stack.chains[0].domain,
        sender: stack.chains[0].wallet.address().into_word(),
        destination: dest_domain,
        recipient: dest_recipient.into_word(),
        body: body(stack.chains[0].domain, dest_domain, 0, 999_999),
    };
    let entry = LaneEntry {
        origin: forged_msg.origin,
        height: 1,
        verified_at_ms: 1,
        messages: vec![forged_msg.encode().into()],
    };
    let attacker = Lanes::connect(
        &stack.redis_target(),
        "rel",
        QueueKey::new(&[1u8; 32]).expect("key"),
    )
    .await
    .expect("connect");
    for shard in 0..4 {
        let lane = LaneId {
            dst: dest_domain,
            shard,
        };
        let raw = entry.encode();
        attacker
            .write_raw(lane, &[("v", b"1"), ("b", &raw), ("h", &[9u8; 32])])
            .await
            .expect("xadd");
        attacker
            .write_raw(lane, &[("v", b"1"), ("b", &raw)])
            .await
            .expect("xadd");
    }
    // Real traffic keeps flowing around the forgeries.
    stack.send(50).await;
    assert!(
        stack.wait_all(Duration::from_secs(60)).await,
        "{}",
        tail(&hub.log)
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let v = stack.verify().await;
    assert_eq!(
        (v.delivered, v.duplicates, v.lost, v.unexpected),
        (200, 0, 0, 0),
        "forged message delivered? {v:?}"
    );
    let inbox = switchyard_evm::bindings::Inbox::new(dest_inbox, dest_provider);
    assert!(
        !inbox
            .isProcessed(forged_msg.origin, 999_999)
            .call()
            .await
            .expect("call"),
        "forged nonce processed"
    );
    let real = Lanes::connect(
        &stack.redis_target(),
        "rel",
        QueueKey::from_secret(QUEUE_KEY).expect("key"),
    )
    .await
    .expect("connect");
    let dead = real.dead_letters(dest_domain, 4).await.expect("list");
    assert_eq!(dead.len(), 8, "every forgery moved aside: {dead:?}");
    assert!(
        dead.iter().all(|d| d.reason.contains("authentication")),
        "{dead:?}"
    );
    let text = hub.metrics().await.expect("metrics");
    let refused: f64 = text
        .lines()
        .filter(|l| l.starts_with("switchyard_rejections_total{") && l.contains("refused_entry"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(refused as u64, 8, "counted once each");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_entry_in_a_running_hub_is_refused_never_delivered() {
    forged(single_redis(false)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_forged_entry_is_refused_never_delivered() {
    forged(cluster()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_with_aof_mid_run_loses_nothing() {
    let mut stack = Stack::new(2, 2, single_redis(true), DISPATCH).await;
    let hub = stack.spawn_hub("hub");
    stack.send(2_500).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (port, aof) = match &mut stack.redis {
        RedisSide::Single { server, port, aof } => {
            let mut s = server.take().expect("running");
            s.proc.kill();
            (*port, aof.clone())
        }
        RedisSide::Cluster(_) => unreachable!("single"),
    };
    let before = stack.received().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let restarted =
        RedisServer::spawn_on(port, aof.as_deref(), &[]).expect("redis restarts on its port");
    if let RedisSide::Single { server, .. } = &mut stack.redis {
        *server = Some(restarted);
    }
    let done = stack.wait_all(Duration::from_secs(180)).await;
    let v = stack.verify().await;
    assert!(
        before < 10_000,
        "the restart happened mid-run ({before} delivered before)"
    );
    assert!(done, "{v:?}\n{}", tail(&hub.log));
    assert_eq!(
        (
            v.delivered,
            v.duplicates,
            v.lost,
            v.out_of_order,
            v.unexpected
        ),
        (10_000, 0, 0, 0, 0),
        "{v:?}"
    );
}
