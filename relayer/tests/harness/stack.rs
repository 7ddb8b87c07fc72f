//! A test stack of real processes: anvil chains with the contracts, Redis
//! (one server, with or without AOF, or a cluster), hub processes started
//! with `switchyard run`, traffic on several channels, and a verdict read
//! from the chains' events (exactly once, channel order).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, Bytes};
use alloy::providers::Provider;
use switchyard::store::RedisTarget;
use switchyard_evm::bindings::{ARTIFACTS_DIR, TestRecipient};
use switchyard_localnet::evm::{self as devtools, ANVIL_KEYS, DevWallet};
use switchyard_localnet::procs::{Anvil, RedisCluster, RedisServer, free_port, repo_root};

use super::net::{Chains, KeyFiles, checkpoint_of};

pub(crate) const QUEUE_KEY: &str =
    "7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a";
const BODY: usize = 64;

pub(crate) enum RedisSide {
    Single {
        server: Option<RedisServer>,
        port: u16,
        aof: Option<PathBuf>,
    },
    Cluster(RedisCluster),
}

pub(crate) struct ChainInfo {
    pub(crate) domain: u32,
    pub(crate) chain_id: u64,
    pub(crate) url: String,
    pub(crate) mailbox: Address,
    pub(crate) inbox: Address,
    pub(crate) recipients: Vec<Address>,
    pub(crate) checkpoint: (u64, B256),
    pub(crate) wallet: DevWallet,
    pub(crate) from_block: u64,
}

pub(crate) struct Stack {
    pub(crate) _anvils: Vec<Anvil>,
    pub(crate) redis: RedisSide,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) chains: Vec<ChainInfo>,
    pub(crate) dispatcher: String,
    /// Extra TOML lines in every `[[chains]]` table.
    pub(crate) chain_extra: String,
    /// Extra TOML lines in `[redis]`.
    pub(crate) redis_extra: String,
    pub(crate) sent: HashMap<(u32, u32, usize), u64>,
    /// Route groups: (group domain, policy, member chain indices).
    pub(crate) groups: Vec<(u32, &'static str, Vec<usize>)>,
    /// Per chain, an RPC URL listed before the chain's own (preferred).
    pub(crate) rpc_front: HashMap<usize, String>,
    /// Chains reached through their `rpc_front` alone (its outage is the
    /// chain's).
    pub(crate) front_only: std::collections::HashSet<usize>,
}

pub(crate) struct HubProc {
    pub(crate) child: Child,
    pub(crate) http: u16,
    pub(crate) log: PathBuf,
}

impl Drop for HubProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl HubProc {
    pub(crate) fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `/readyz`: status code and body.
    pub(crate) async fn readyz(&self) -> Option<(u16, String)> {
        let r = reqwest::get(format!("http://127.0.0.1:{}/readyz", self.http))
            .await
            .ok()?;
        let code = r.status().as_u16();
        Some((code, r.text().await.ok()?))
    }

    pub(crate) async fn metrics(&self) -> Option<String> {
        let r = reqwest::get(format!("http://127.0.0.1:{}/metrics", self.http))
            .await
            .ok()?;
        r.text().await.ok()
    }
}

pub(crate) fn body(origin: u32, dest: u32, r: usize, i: u64) -> Bytes {
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
pub(crate) struct Verdict {
    /// Messages dispatched (shown in failure messages).
    #[allow(dead_code)]
    pub(crate) sent: u64,
    pub(crate) delivered: u64,
    pub(crate) duplicates: u64,
    pub(crate) lost: u64,
    pub(crate) out_of_order: u64,
    pub(crate) unexpected: u64,
    /// The first few order breaks, for the failure message: which channel,
    /// which message came after which, and in which transactions.
    pub(crate) order_breaks: Vec<String>,
}

impl Stack {
    pub(crate) async fn new(
        chains: usize,
        recipients: usize,
        redis: RedisSide,
        dispatcher: &str,
    ) -> Self {
        let domains: Vec<u32> = (0..chains).map(|i| 1000 * (i as u32 + 1)).collect();
        let net = Chains::start(51_000, &domains, 0.2).await;
        let dir = tempfile::tempdir().expect("tmp");
        let artifacts = repo_root().join(ARTIFACTS_DIR);
        let mut infos = Vec::new();
        for (i, (mut wallet, d)) in net.wallets.into_iter().zip(net.deployments).enumerate() {
            let mut rs = vec![d.recipient];
            for _ in 1..recipients {
                rs.push(
                    devtools::deploy_recipient(&mut wallet, &artifacts, d.inbox)
                        .await
                        .expect("deploy"),
                );
            }
            let (head, hash) = checkpoint_of(&wallet).await;
            infos.push(ChainInfo {
                domain: domains[i],
                chain_id: wallet.chain_id(),
                url: net.anvils[i].url.clone(),
                mailbox: d.mailbox,
                inbox: d.inbox,
                recipients: rs,
                checkpoint: (head, hash),
                wallet,
                from_block: head,
            });
        }
        KeyFiles::write_in(dir.path(), QUEUE_KEY);
        let anvils = net.anvils;
        Self {
            _anvils: anvils,
            redis,
            dir,
            chains: infos,
            dispatcher: dispatcher.to_owned(),
            chain_extra: String::new(),
            redis_extra: String::new(),
            sent: HashMap::new(),
            groups: Vec::new(),
            rpc_front: HashMap::new(),
            front_only: std::collections::HashSet::new(),
        }
    }

    pub(crate) fn redis_toml(&self) -> String {
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

    pub(crate) fn redis_target(&self) -> RedisTarget {
        match &self.redis {
            RedisSide::Single { port, .. } => {
                RedisTarget::Single(format!("redis://127.0.0.1:{port}"))
            }
            RedisSide::Cluster(c) => RedisTarget::Cluster(c.urls()),
        }
    }

    pub(crate) fn config_path(&self) -> PathBuf {
        self.config_path_for("hub", "submitter")
    }

    /// A configuration whose submitter key is the file `submitter` (every
    /// replica has a key of its own: two processes sharing one key would race
    /// for its nonces).
    pub(crate) fn config_path_for(&self, name: &str, submitter: &str) -> PathBuf {
        let d = self.dir.path();
        let mut t = format!(
            "attester_key = {{ file = \"{}\" }}\nqueue_key = {{ file = \"{}\" }}\n[redis]\n{}\nkey_prefix = \"rel\"\n{}\n[dispatcher]\n{}\n",
            d.join("attester").display(),
            d.join("queue").display(),
            self.redis_toml(),
            self.redis_extra,
            self.dispatcher,
        );
        for (i, c) in self.chains.iter().enumerate() {
            let urls = match self.rpc_front.get(&i) {
                Some(front) if self.front_only.contains(&i) => format!("\"{front}\""),
                Some(front) => format!("\"{front}\", \"{}\"", c.url),
                None => format!("\"{}\"", c.url),
            };
            t.push_str(&format!(
                "[[chains]]\nname = \"c{i}\"\ndomain = {}\nchain_id = {}\nrpc_urls = [{}]\ntrust = \"single_endpoint\"\nmailbox = \"{}\"\ninbox = \"{}\"\nconfirmations = 1\ncheckpoint = {{ number = {}, hash = \"{}\" }}\npoll_interval_ms = 100\nsubmitter_key = {{ file = \"{}\" }}\ndelivery_confirmations = 1\n",
                c.domain, c.chain_id, urls, c.mailbox, c.inbox, c.checkpoint.0, c.checkpoint.1,
                d.join(submitter).display(),
            ));
            t.push_str(&self.chain_extra);
        }
        for (domain, policy, members) in &self.groups {
            let members: Vec<String> = members
                .iter()
                .map(|m| format!("{{ chain = \"c{m}\" }}"))
                .collect();
            t.push_str(&format!(
                "[[route_groups]]\nname = \"g{domain}\"\ndomain = {domain}\npolicy = \"{policy}\"\nmembers = [{}]\n",
                members.join(", ")
            ));
        }
        let p = d.join(format!("{name}.toml"));
        std::fs::write(&p, t).expect("write config");
        p
    }

    pub(crate) fn spawn_hub(&self, name: &str) -> HubProc {
        self.spawn_with_config(name, &self.config_path())
    }

    /// A second (third, ...) replica with submitter key `ANVIL_KEYS[key]`.
    pub(crate) fn spawn_replica(&self, name: &str, key: usize) -> HubProc {
        let file = format!("submitter-{name}");
        std::fs::write(self.dir.path().join(&file), ANVIL_KEYS[key]).expect("write key");
        self.spawn_with_config(name, &self.config_path_for(name, &file))
    }

    /// A replica with submitter key `ANVIL_KEYS[key]` whose queue key ring
    /// signs with `signing` and accepts `accepted` too (hex keys, written to
    /// files of the stack's directory).
    pub(crate) fn spawn_with_queue_keys(
        &self,
        name: &str,
        key: usize,
        signing: &str,
        accepted: &[&str],
    ) -> HubProc {
        let d = self.dir.path();
        let file = format!("submitter-{name}");
        std::fs::write(d.join(&file), ANVIL_KEYS[key]).expect("write key");
        let write = |i: usize, hex: &str| {
            let p = d.join(format!("queue-{name}-{i}"));
            std::fs::write(&p, hex).expect("write queue key");
            format!("{{ file = \"{}\" }}", p.display())
        };
        let ring = format!(
            "queue_key = {}\naccepted_queue_keys = [{}]",
            write(0, signing),
            accepted
                .iter()
                .enumerate()
                .map(|(i, k)| write(i + 1, k))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let path = self.config_path_for(name, &file);
        let text = std::fs::read_to_string(&path).expect("config");
        let old = format!("queue_key = {{ file = \"{}\" }}", d.join("queue").display());
        assert!(text.contains(&old), "{text}");
        std::fs::write(&path, text.replace(&old, &ring)).expect("write config");
        self.spawn_with_config(name, &path)
    }

    /// A hub running only `role` (`watcher` or `dispatcher`), with extra
    /// environment variables (overrides).
    pub(crate) fn spawn_role(&self, name: &str, role: &str, env: &[(&str, &str)]) -> HubProc {
        self.spawn_full(name, &self.config_path(), &["--role", role], env)
    }

    fn spawn_with_config(&self, name: &str, cfg: &Path) -> HubProc {
        self.spawn_full(name, cfg, &[], &[])
    }

    pub(crate) fn spawn_full(
        &self,
        name: &str,
        cfg: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> HubProc {
        let http = free_port();
        let log = self.dir.path().join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["run", "--config"])
            .arg(cfg)
            .args(args)
            // Environment override of one key, as operators do.
            .env("SWITCHYARD__HTTP__LISTEN", format!("127.0.0.1:{http}"))
            .env("RUST_LOG", "switchyard=info")
            .env("RUST_BACKTRACE", "0")
            // The caller's variables last: they win.
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("hub starts");
        HubProc { child, http, log }
    }

    /// Dispatches `per_channel` messages on every (origin, destination,
    /// recipient) channel, in chunks, without waiting for inclusion.
    pub(crate) async fn send(&mut self, per_channel: u64) {
        let n = self.chains.len();
        let routes: Vec<(usize, usize)> = (0..n)
            .flat_map(|o| (0..n).filter(move |d| *d != o).map(move |d| (o, d)))
            .collect();
        self.send_routes(&routes, per_channel).await;
    }

    /// Dispatches `per_channel` messages on every channel of the given
    /// (origin index, destination index) routes (one per recipient of the
    /// destination), then waits for the dispatches to be included; only the
    /// origins need to be mining.
    pub(crate) async fn send_routes(&mut self, routes: &[(usize, usize)], per_channel: u64) {
        let mut pending = Vec::new();
        for &(ci, di) in routes {
            let origin = self.chains[ci].domain;
            let dest = self.chains[di].domain;
            let recipients = self.chains[di].recipients.clone();
            for (r, rcpt) in recipients.iter().enumerate() {
                let start = self.sent.get(&(origin, dest, r)).copied().unwrap_or(0);
                let mut i = start;
                while i < start + per_channel {
                    let n = 250.min(start + per_channel - i);
                    let bodies = (i..i + n).map(|k| body(origin, dest, r, k)).collect();
                    let c = &mut self.chains[ci];
                    let data = devtools::dispatch_many_calldata(dest, *rcpt, bodies);
                    let h = c
                        .wallet
                        .send(Some(c.mailbox), data, 2_000_000 + 30_000 * n)
                        .await
                        .expect("dispatch");
                    pending.push((ci, h));
                    i += n;
                }
                self.sent.insert((origin, dest, r), start + per_channel);
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

    /// Messages dispatched so far to chain `di`.
    pub(crate) fn sent_to(&self, di: usize) -> u64 {
        let dest = self.chains[di].domain;
        self.sent
            .iter()
            .filter(|((_, d, _), _)| *d == dest)
            .map(|(_, n)| n)
            .sum()
    }

    /// Messages the recipients on chain `di` have received.
    pub(crate) async fn received_on(&self, di: usize) -> u64 {
        let c = &self.chains[di];
        let mut total = 0;
        for r in &c.recipients {
            let n = TestRecipient::new(*r, c.wallet.provider().clone())
                .received()
                .call()
                .await
                .expect("received()");
            total += u64::try_from(n).expect("fits");
        }
        total
    }

    /// Kills the single Redis server and starts it again on its port a
    /// second later, from its AOF if it has one (without, its data is gone).
    pub(crate) fn restart_redis(&mut self) {
        let (port, aof) = match &mut self.redis {
            RedisSide::Single { server, port, aof } => {
                let mut s = server.take().expect("running");
                s.proc.kill();
                (*port, aof.clone())
            }
            RedisSide::Cluster(_) => unreachable!("single Redis"),
        };
        std::thread::sleep(Duration::from_secs(1));
        let restarted =
            RedisServer::spawn_on(port, aof.as_deref(), &[]).expect("redis restarts on its port");
        if let RedisSide::Single { server, .. } = &mut self.redis {
            *server = Some(restarted);
        }
    }

    /// Stops (`false`) or resumes (`true`) block production on chain `ci`.
    /// anvil's `evm_setIntervalMining` takes whole seconds (0 = off), so a
    /// resumed chain mines a block a second, not every 0.2 s as at start.
    pub(crate) async fn set_mining(&self, ci: usize, on: bool) {
        let _: serde_json::Value = self.chains[ci]
            .wallet
            .provider()
            .raw_request("evm_setIntervalMining".into(), (u64::from(on),))
            .await
            .expect("evm_setIntervalMining");
    }

    /// An integrator's SDK sender on chain `ci`'s Mailbox, signing with anvil
    /// key `key` (one the stack and the hub do not use), and its address.
    pub(crate) async fn integrator_sender(
        &self,
        ci: usize,
        key: usize,
    ) -> (
        switchyard_sdk::Sender<impl alloy::providers::Provider + Clone + use<>>,
        Address,
    ) {
        use alloy::network::EthereumWallet;
        use alloy::providers::ProviderBuilder;
        use alloy::signers::local::PrivateKeySigner;
        let key: PrivateKeySigner = ANVIL_KEYS[key].parse().expect("key");
        let address = key.address();
        let origin = ProviderBuilder::new()
            .wallet(EthereumWallet::from(key))
            .connect_http(self.chains[ci].url.parse().expect("url"));
        let sender = switchyard_sdk::Sender::connect(origin, self.chains[ci].mailbox)
            .await
            .expect("mailbox answers");
        (sender, address)
    }

    /// Sets a TestRecipient's mode on chain `ci` (0 accept, 1 revert with
    /// "TestRecipient: rejected", 2 burn gas) and waits for it to be mined.
    pub(crate) async fn set_recipient_mode(&mut self, ci: usize, recipient: Address, mode: u8) {
        use alloy::sol_types::SolCall;
        let owner = &mut self.chains[ci].wallet;
        let h = owner
            .send(
                Some(recipient),
                switchyard_evm::bindings::TestRecipient::setModeCall { mode }
                    .abi_encode()
                    .into(),
                500_000,
            )
            .await
            .expect("setMode accepted");
        owner
            .wait(h, Duration::from_secs(30))
            .await
            .expect("setMode mined");
    }

    pub(crate) fn total_sent(&self) -> u64 {
        self.sent.values().sum()
    }

    pub(crate) async fn received(&self) -> u64 {
        let mut total = 0;
        for di in 0..self.chains.len() {
            total += self.received_on(di).await;
        }
        total
    }

    pub(crate) async fn wait_all(&self, timeout: Duration) -> bool {
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
    /// Whether chain `chain` takes messages addressed to `dest`: its own
    /// domain or a route group it is a member of.
    pub(crate) fn serves(&self, chain: u32, dest: u32) -> bool {
        chain == dest
            || self.groups.iter().any(|(g, _, members)| {
                *g == dest && members.iter().any(|m| self.chains[*m].domain == chain)
            })
    }

    /// Declares route group `domain` over `members` (chain indices) with
    /// `policy`, and makes each member's Inbox accept it.
    pub(crate) async fn add_group(
        &mut self,
        domain: u32,
        policy: &'static str,
        members: Vec<usize>,
    ) {
        use alloy::sol_types::SolCall;
        for &m in &members {
            let c = &mut self.chains[m];
            let data = switchyard_evm::bindings::Inbox::setDomainAliasCall {
                domain,
                accepted: true,
            }
            .abi_encode();
            let h = c
                .wallet
                .send(Some(c.inbox), data.into(), 200_000)
                .await
                .expect("setDomainAlias");
            c.wallet
                .wait(h, Duration::from_secs(60))
                .await
                .expect("alias set");
        }
        self.groups.push((domain, policy, members));
    }

    /// Sends `per_channel` messages from chain `ci` to route group `group` on
    /// every recipient (the recipients have the same addresses on every chain).
    pub(crate) async fn send_group(&mut self, ci: usize, group: u32, per_channel: u64) {
        let origin = self.chains[ci].domain;
        let member = self
            .groups
            .iter()
            .find(|(g, _, _)| *g == group)
            .expect("declared group")
            .2[0];
        let recipients = self.chains[member].recipients.clone();
        let mut pending = Vec::new();
        for (r, rcpt) in recipients.iter().enumerate() {
            let start = self.sent.get(&(origin, group, r)).copied().unwrap_or(0);
            let bodies = (start..start + per_channel)
                .map(|k| body(origin, group, r, k))
                .collect();
            let c = &mut self.chains[ci];
            let data = devtools::dispatch_many_calldata(group, *rcpt, bodies);
            let h = c
                .wallet
                .send(Some(c.mailbox), data, 2_000_000 + 30_000 * per_channel)
                .await
                .expect("dispatch");
            pending.push(h);
            self.sent.insert((origin, group, r), start + per_channel);
        }
        for h in pending {
            self.chains[ci]
                .wallet
                .wait(h, Duration::from_secs(120))
                .await
                .expect("dispatch included");
        }
    }

    pub(crate) async fn verify(&self) -> Verdict {
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
                // A channel is (origin, sender, recipient); the recipient is
                // fixed here, and a group domain is its own destination.
                let mut last: HashMap<(u32, B256, u32), (u64, Option<B256>)> = HashMap::new();
                for ev in events {
                    match parse_body(&ev.body) {
                        Some((o, d, rr, i))
                            if o == ev.origin && self.serves(c.domain, d) && rr == r =>
                        {
                            *seen.entry((o, d, rr, i)).or_default() += 1;
                            let channel = (ev.origin, ev.sender, d);
                            if let Some((prev, prev_tx)) = last.get(&channel)
                                && *prev >= i
                            {
                                v.out_of_order += 1;
                                if v.order_breaks.len() < 8 {
                                    v.order_breaks.push(format!(
                                        "origin {o} to {d} recipient {r}: #{i} (tx {:?}) after #{prev} (tx {prev_tx:?})",
                                        ev.tx_hash
                                    ));
                                }
                            }
                            last.insert(channel, (i, ev.tx_hash));
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

pub(crate) fn single_redis(aof: bool) -> RedisSide {
    let dir = aof.then(|| tempfile::tempdir().expect("tmp").keep());
    let server = RedisServer::spawn(dir.as_deref()).expect("redis-server starts");
    let port = server.proc.port;
    RedisSide::Single {
        server: Some(server),
        port,
        aof: dir,
    }
}

/// A 3-master cluster with one replica a master (failover tests).
pub(crate) fn replicated_cluster() -> RedisSide {
    let dir = tempfile::tempdir().expect("tmp").keep();
    RedisSide::Cluster(
        RedisCluster::spawn_replicated(3, 1, &dir).expect("3 masters, 3 replicas start"),
    )
}

pub(crate) fn cluster() -> RedisSide {
    let dir = tempfile::tempdir().expect("tmp").keep();
    RedisSide::Cluster(RedisCluster::spawn(3, &dir).expect("3-master cluster starts"))
}

pub(crate) fn tail(log: &Path) -> String {
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

/// The last `n` warning and error lines of a hub's log (failure messages
/// of long runs, where the tail is only the end of the story).
pub(crate) fn warnings(log: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Sum of the samples of metric `name` whose labels include all `labels`
/// (each `key="value"`).
pub(crate) fn metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name).is_some_and(|r| r.starts_with('{'))
                && labels.iter().all(|want| l.contains(want))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>()
        // An empty sum is -0.0, which prints as "-0".
        + 0.0
}

/// Every sent message delivered once, none lost, none out of channel
/// order, nothing unexpected.
pub(crate) fn assert_exactly_once(v: &Verdict, total: u64) {
    assert_eq!(
        (
            v.delivered,
            v.duplicates,
            v.lost,
            v.out_of_order,
            v.unexpected
        ),
        (total, 0, 0, 0, 0),
        "{v:?}"
    );
}
