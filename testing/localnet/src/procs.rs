//! Local processes the devnet and the tests start: anvil chains and
//! redis-server, on free loopback ports. Each is killed when its handle drops,
//! so a panic or an early return never leaves a process behind.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Errors starting a local process.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcError {
    /// The program is not installed where we look.
    #[error("{program} not found (looked in {looked}); run deploy/setup.sh")]
    NotFound {
        /// Program name.
        program: &'static str,
        /// Where we looked.
        looked: String,
    },
    /// It could not be started or did not become ready.
    #[error("{program} on port {port}: {reason}")]
    Start {
        /// Program name.
        program: &'static str,
        /// Its port.
        port: u16,
        /// What happened.
        reason: String,
    },
}

/// The repository root: `SWITCHYARD_ROOT`, else the source checkout this
/// binary was built from, else the current directory.
pub fn repo_root() -> PathBuf {
    if let Some(r) = std::env::var_os("SWITCHYARD_ROOT") {
        return PathBuf::from(r);
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if built.join("deploy/setup.sh").exists() {
        return built.canonicalize().unwrap_or(built);
    }
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
}

/// Finds a tool: `$SWITCHYARD_<NAME>` , then `.tools/bin/<name>` in the
/// repository, then `PATH`.
pub fn find_tool(program: &'static str) -> Result<PathBuf, ProcError> {
    let var = format!(
        "SWITCHYARD_{}",
        program.to_ascii_uppercase().replace('-', "_")
    );
    if let Some(p) = std::env::var_os(&var) {
        return Ok(PathBuf::from(p));
    }
    let local = repo_root().join(".tools/bin").join(program);
    if local.exists() {
        return Ok(local);
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let p = dir.join(program);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(ProcError::NotFound {
        program,
        looked: format!("${var}, {}, PATH", local.display()),
    })
}

/// A free loopback TCP port (bound then released; the window for a race is
/// small and the start-up check catches it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn wait_for_port(
    program: &'static str,
    port: u16,
    child: &mut Child,
    timeout: Duration,
) -> Result<(), ProcError> {
    let start = Instant::now();
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(ProcError::Start {
                program,
                port,
                reason: format!("exited with {status}"),
            });
        }
        if start.elapsed() > timeout {
            return Err(ProcError::Start {
                program,
                port,
                reason: format!("not listening after {timeout:?}"),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child process killed on drop.
#[derive(Debug)]
pub struct Managed {
    child: Child,
    /// Program name.
    pub program: &'static str,
    /// Its port.
    pub port: u16,
}

impl Managed {
    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills it now (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Managed {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An anvil chain.
#[derive(Debug)]
pub struct Anvil {
    /// The process.
    pub proc: Managed,
    /// Its JSON-RPC URL.
    pub url: String,
    /// Its chain id.
    pub chain_id: u64,
    /// Its own `HOME`: anvil writes the states it pages out of memory under
    /// `$HOME/.foundry/anvil/tmp` and removes them only when it exits
    /// cleanly, so a chain killed with SIGKILL (as every one here is) would
    /// leave gigabytes behind for good. Removed on drop.
    home: PathBuf,
}

impl Drop for Anvil {
    fn drop(&mut self) {
        self.proc.kill();
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

impl Anvil {
    /// Starts anvil with `chain_id`, mining a block every `block_time` seconds.
    pub fn spawn(chain_id: u64, block_time: f64) -> Result<Self, ProcError> {
        let bin = find_tool("anvil")?;
        let mut last = None;
        for _ in 0..3 {
            let port = free_port();
            let home = std::env::temp_dir().join(format!(
                "switchyard-anvil-{}-{port}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0)
            ));
            std::fs::create_dir_all(&home).map_err(|e| ProcError::Start {
                program: "anvil",
                port,
                reason: format!("creating its home {}: {e}", home.display()),
            })?;
            let mut child = Command::new(&bin)
                .env("HOME", &home)
                .args([
                    "--port",
                    &port.to_string(),
                    "--chain-id",
                    &chain_id.to_string(),
                ])
                .args([
                    "--block-time",
                    &block_time.to_string(),
                    "--hardfork",
                    "prague",
                ])
                .args(["--host", "127.0.0.1", "--silent", "--no-request-size-limit"])
                .args(["--gas-limit", "60000000"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| ProcError::Start {
                    program: "anvil",
                    port,
                    reason: e.to_string(),
                })?;
            match wait_for_port("anvil", port, &mut child, Duration::from_secs(20)) {
                Ok(()) => {
                    return Ok(Self {
                        proc: Managed {
                            child,
                            program: "anvil",
                            port,
                        },
                        url: format!("http://127.0.0.1:{port}"),
                        chain_id,
                        home,
                    });
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let _ = std::fs::remove_dir_all(&home);
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or(ProcError::Start {
            program: "anvil",
            port: 0,
            reason: "no attempt".into(),
        }))
    }
}

/// A redis-server without persistence (or with AOF in `dir`).
#[derive(Debug)]
pub struct RedisServer {
    /// The process.
    pub proc: Managed,
    /// `redis://127.0.0.1:<port>`.
    pub url: String,
    _dir: Option<PathBuf>,
}

impl RedisServer {
    /// Starts redis-server on a free port; `aof_dir` turns on the append-only
    /// file there (durability tests).
    pub fn spawn(aof_dir: Option<&Path>) -> Result<Self, ProcError> {
        let mut last = None;
        for _ in 0..3 {
            match Self::spawn_on(free_port(), aof_dir, &[]) {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(ProcError::Start {
            program: "redis-server",
            port: 0,
            reason: "no attempt".into(),
        }))
    }

    /// Starts redis-server on `port` (a restart reuses the port and, with
    /// `aof_dir`, the data), with `extra` arguments.
    pub fn spawn_on(port: u16, aof_dir: Option<&Path>, extra: &[&str]) -> Result<Self, ProcError> {
        let bin = find_tool("redis-server")?;
        let mut cmd = Command::new(&bin);
        cmd.args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ]);
        match aof_dir {
            Some(dir) => {
                cmd.args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
                    .arg(dir);
            }
            None => {
                cmd.args(["--appendonly", "no"]);
            }
        }
        cmd.args(extra);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| ProcError::Start {
                program: "redis-server",
                port,
                reason: e.to_string(),
            })?;
        if let Err(e) = wait_for_port("redis-server", port, &mut child, Duration::from_secs(10)) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        Ok(Self {
            proc: Managed {
                child,
                program: "redis-server",
                port,
            },
            url: format!("redis://127.0.0.1:{port}"),
            _dir: aof_dir.map(Path::to_path_buf),
        })
    }
}

/// The TLS files of a redis-server started with [`RedisServer::spawn_tls`].
#[derive(Debug, Clone)]
pub struct RedisTlsFiles {
    /// The server's certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// The CA of client certificates (PEM); redis-server wants one even
    /// when clients need none.
    pub ca: PathBuf,
    /// Whether clients must present a certificate (`tls-auth-clients`).
    pub auth_clients: bool,
}

impl RedisTlsFiles {
    /// redis-server's TLS arguments for `port` (the plain port is closed).
    fn server_args(&self, port: u16) -> Vec<String> {
        let mut args: Vec<String> = ["--port", "0", "--tls-port"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        args.push(port.to_string());
        for (flag, path) in [
            ("--tls-cert-file", &self.cert),
            ("--tls-key-file", &self.key),
            ("--tls-ca-cert-file", &self.ca),
        ] {
            args.push(flag.to_owned());
            args.push(path.to_string_lossy().into_owned());
        }
        args.push("--tls-auth-clients".to_owned());
        args.push(if self.auth_clients { "yes" } else { "no" }.to_owned());
        args
    }

    /// redis-cli's TLS arguments (it checks the server against the CA).
    fn cli_args(&self) -> Vec<String> {
        let mut args = vec![
            "--tls".to_owned(),
            "--cacert".to_owned(),
            self.ca.to_string_lossy().into_owned(),
        ];
        if self.auth_clients {
            args.extend([
                "--cert".to_owned(),
                self.cert.to_string_lossy().into_owned(),
                "--key".to_owned(),
                self.key.to_string_lossy().into_owned(),
            ]);
        }
        args
    }
}

impl RedisServer {
    /// Starts redis-server serving TLS only, on a free port; its `url` is
    /// `rediss://127.0.0.1:<port>`.
    pub fn spawn_tls(tls: &RedisTlsFiles) -> Result<Self, ProcError> {
        let mut last = None;
        for _ in 0..3 {
            match Self::spawn_tls_with(free_port(), tls, &[]) {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(ProcError::Start {
            program: "redis-server",
            port: 0,
            reason: "no attempt".into(),
        }))
    }

    fn spawn_tls_with(port: u16, tls: &RedisTlsFiles, extra: &[&str]) -> Result<Self, ProcError> {
        let mut args = tls.server_args(port);
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut s = Self::spawn_on(port, None, &args)?;
        s.url = format!("rediss://127.0.0.1:{port}");
        Ok(s)
    }
}

/// A Redis Cluster of `n` masters on loopback, without replicas.
#[derive(Debug)]
pub struct RedisCluster {
    /// Every node: the masters as created first, then the replicas (roles
    /// change with a failover: ask [`RedisCluster::role`]).
    pub nodes: Vec<RedisServer>,
    /// `redis-cli`'s TLS arguments (empty without TLS).
    tls: Vec<String>,
    /// Each node's cluster arguments (for [`RedisCluster::restart`]).
    args: Vec<Vec<String>>,
    _dir: PathBuf,
}

impl RedisCluster {
    /// Starts `n` (at least 3) cluster-enabled servers and joins them with
    /// `redis-cli --cluster create`; their files live under `dir`.
    pub fn spawn(n: usize, dir: &Path) -> Result<Self, ProcError> {
        Self::spawn_with(n, 0, dir, None)
    }

    /// Starts `masters` (at least 3) masters with `replicas` replicas each
    /// (`redis-cli --cluster create --cluster-replicas`). Returns once the
    /// cluster is ok and every replica is in sync with its master, so a
    /// failover right after start finds data to promote.
    pub fn spawn_replicated(
        masters: usize,
        replicas: usize,
        dir: &Path,
    ) -> Result<Self, ProcError> {
        Self::spawn_with(masters, replicas, dir, None)
    }

    /// As [`RedisCluster::spawn`], every node (and the cluster bus) over
    /// TLS only; the seed URLs are `rediss://`.
    pub fn spawn_tls(n: usize, dir: &Path, tls: &RedisTlsFiles) -> Result<Self, ProcError> {
        Self::spawn_with(n, 0, dir, Some(tls))
    }

    fn spawn_with(
        masters: usize,
        replicas: usize,
        dir: &Path,
        tls: Option<&RedisTlsFiles>,
    ) -> Result<Self, ProcError> {
        let cli = find_tool("redis-cli")?;
        let cli_tls = tls.map(RedisTlsFiles::cli_args).unwrap_or_default();
        let mut nodes = Vec::new();
        let mut args: Vec<Vec<String>> = Vec::new();
        for i in 0..masters * (1 + replicas) {
            let port = free_port();
            let node_dir = dir.join(format!("node{i}"));
            std::fs::create_dir_all(&node_dir).map_err(|e| ProcError::Start {
                program: "redis-server",
                port,
                reason: format!("creating {}: {e}", node_dir.display()),
            })?;
            let conf = node_dir.join("nodes.conf");
            let conf = conf.to_string_lossy().into_owned();
            let node_dir_arg = node_dir.to_string_lossy().into_owned();
            let cluster = vec![
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                &conf,
                "--cluster-node-timeout",
                "2000",
                // Replication's RDB transfer and any dump land here, not
                // in the caller's working directory.
                "--dir",
                &node_dir_arg,
            ];
            args.push(cluster.iter().map(|a| (*a).to_owned()).collect());
            nodes.push(match tls {
                None => RedisServer::spawn_on(port, None, &cluster)?,
                Some(tls) => {
                    let mut args = cluster.clone();
                    args.extend(["--tls-cluster", "yes", "--tls-replication", "yes"]);
                    RedisServer::spawn_tls_with(port, tls, &args)?
                }
            });
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.proc.port))
            .collect();
        let out = Command::new(&cli)
            .args(&cli_tls)
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| ProcError::Start {
                program: "redis-cli",
                port: 0,
                reason: e.to_string(),
            })?;
        if !out.status.success() {
            return Err(ProcError::Start {
                program: "redis-cli",
                port: 0,
                reason: format!(
                    "cluster create failed: {}",
                    String::from_utf8_lossy(&out.stdout)
                ),
            });
        }
        let cluster = Self {
            nodes,
            tls: cli_tls,
            args,
            _dir: dir.to_path_buf(),
        };
        // Wait until every node reports the cluster as ok, and every
        // replica's link to its master is up.
        let start = Instant::now();
        loop {
            let ok = (0..cluster.nodes.len()).all(|i| {
                let ask = |args: &[&str]| cluster.cli(i, args).unwrap_or_default();
                let repl = ask(&["info", "replication"]);
                ask(&["cluster", "info"]).contains("cluster_state:ok")
                    && (repl.contains("role:master") || repl.contains("master_link_status:up"))
            });
            if ok {
                return Ok(cluster);
            }
            if start.elapsed() > Duration::from_secs(30) {
                return Err(ProcError::Start {
                    program: "redis-cli",
                    port: 0,
                    reason: "cluster not ok (or a replica not in sync) after 30 s".into(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills node `i` with SIGKILL (a crashed master: what it had not
    /// replicated is gone).
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].proc.kill();
    }

    /// Starts node `i` again on its port with its cluster configuration
    /// file, so it rejoins with its identity (a failed-over master comes
    /// back as a replica of its successor) and resyncs; no data of its own.
    pub fn restart(&mut self, i: usize) -> Result<(), ProcError> {
        let port = self.nodes[i].proc.port;
        self.nodes[i].proc.kill();
        if !self.tls.is_empty() {
            return Err(ProcError::Start {
                program: "redis-server",
                port,
                reason: "restarting a TLS cluster node is not supported".into(),
            });
        }
        let args: Vec<&str> = self.args[i].iter().map(String::as_str).collect();
        self.nodes[i] = RedisServer::spawn_on(port, None, &args)?;
        Ok(())
    }

    /// Runs `redis-cli` against node `i` and returns its output (an error
    /// reply comes back as text, like `redis-cli` prints it).
    pub fn cli(&self, i: usize, args: &[&str]) -> Result<String, ProcError> {
        let port = self.nodes[i].proc.port;
        let out = Command::new(find_tool("redis-cli")?)
            .args(&self.tls)
            .args(["-p", &port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| ProcError::Start {
                program: "redis-cli",
                port,
                reason: e.to_string(),
            })?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Node `i`'s role now ("master" or "slave", from `ROLE`), or `None`
    /// when it does not answer (killed).
    pub fn role(&self, i: usize) -> Option<String> {
        let out = self.cli(i, &["role"]).ok()?;
        let first = out.lines().next()?.trim();
        (first == "master" || first == "slave").then(|| first.to_owned())
    }

    /// Seed node URLs.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.url.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use alloy::providers::{Provider, RootProvider};

    use super::Anvil;

    /// Anvil pages old states out to `$HOME/.foundry/anvil/tmp` and leaves
    /// them there when killed: each chain has a home of its own, removed
    /// with it (a SIGKILL'd chain used to leave gigabytes behind).
    #[tokio::test]
    async fn a_killed_chain_leaves_no_paged_out_state_behind() {
        let anvil = Anvil::spawn(31_999, 3600.0).expect("anvil starts (run deploy/setup.sh)");
        let home = anvil.home.clone();
        let provider: RootProvider = RootProvider::new_http(anvil.url.parse().expect("url"));
        for _ in 0..3 {
            let _: () = provider
                .raw_request("anvil_mine".into(), ("0x400",))
                .await
                .expect("anvil_mine");
        }
        let paged = home.join(".foundry/anvil/tmp");
        let states = std::fs::read_dir(&paged).map(|d| d.count()).unwrap_or(0);
        assert!(
            states > 0,
            "anvil paged states out under its own home {}",
            paged.display()
        );
        drop(anvil);
        assert!(!home.exists(), "{} removed with the chain", home.display());
    }
}
