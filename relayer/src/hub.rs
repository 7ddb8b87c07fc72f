//! Assembles the hub from a configuration: one watcher per origin (EVM
//! chains and CometBFT origins), one dispatcher per destination, the backlog
//! monitor, the status journal and the HTTP server; runs until shutdown.
//!
//! There is one way to wire a hub, [`HubBuilder`]. What varies is where an
//! EVM origin's evidence comes from and where a destination's batches go:
//! a [`Wiring`]. `switchyard run` and `devnet` use [`ConfigWiring`] (the
//! configured endpoints and submitter keys); `bench` injects its generated
//! sources and verifying sinks through the same builder, so it measures the
//! hub's own code paths.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use switchyard_evm::attest::Attester;
use switchyard_evm::rpc::{HttpOptions, RpcObserver, RpcPolicy, RpcPool};
use switchyard_evm::source::EvmSource;
use switchyard_evm::submitter::{EvmSubmitter, Signers, SubmitterConfig};
use switchyard_lc_evm::BlockRef;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::backlog::BacklogMonitor;
use crate::backlog::BacklogView;
use crate::balance::BalanceMonitor;
use crate::chain::{BatchSink, HeaderSource};
use crate::config::{ChainConfig, Config, Role};
use crate::dispatch::{DestSpec, Dispatcher, Signing};
use crate::error::HubError;
use crate::health::Health;
use crate::journal::Journal;
use crate::metrics::Metrics;
use crate::origin::evm::{OriginSpec, Watcher};
use crate::route::{RouteStage, Router};
use crate::store::{QueueKey, RedisTarget, Store};
use crate::tasks::backoff;

/// A started hub.
#[derive(Debug)]
pub struct Hub {
    /// Where the HTTP server listens.
    pub addr: SocketAddr,
    /// Where the admin API listens, when apart (`http.admin_listen`).
    pub admin_addr: Option<SocketAddr>,
    /// The hub's metrics (the same registry `/metrics` serves).
    pub metrics: Metrics,
    tasks: JoinSet<()>,
}

impl Hub {
    /// Validates the config, resolves secrets, connects Redis (retrying until
    /// `shutdown`), binds the HTTP listener and starts every task, wired to
    /// the configured endpoints and keys ([`ConfigWiring`]).
    pub async fn start(cfg: Config, shutdown: CancellationToken) -> Result<Self, HubError> {
        HubBuilder::new(cfg).start(ConfigWiring, shutdown).await
    }

    /// Waits for every task to finish (after shutdown was signalled).
    pub async fn join(mut self) {
        while let Some(r) = self.tasks.join_next().await {
            if let Err(e) = r {
                error!(err = %e, "hub task panicked");
            }
        }
    }
}

/// A side task a [`Wiring`] needs run next to a dispatcher (a balance
/// monitor), with the name `/healthz` reports it by.
pub type SideTask = (String, Pin<Box<dyn Future<Output = ()> + Send>>);

/// Where an EVM origin's evidence comes from and where a destination's
/// batches go: the parts of a hub that touch chains. Everything between
/// (light clients, route stage, lanes, dispatch) is the same whatever the
/// wiring.
pub trait Wiring {
    /// What origin watchers read.
    type Source: HeaderSource;
    /// What dispatchers submit to.
    type Sink: BatchSink + std::fmt::Debug;

    /// The source of EVM origin `chains[i]` (`pool` reaches its configured
    /// endpoints); `None` when this process does not watch it.
    fn source(
        &mut self,
        i: usize,
        chain: &ChainConfig,
        pool: &RpcPool,
    ) -> Result<Option<Self::Source>, HubError>;

    /// Adjusts an origin's watcher settings (derived from its configuration).
    fn tune(&self, _spec: &mut OriginSpec) {}

    /// The sink of destination `chains[i]`; `None` when this process does
    /// not deliver to it. Tasks it needs run beside it go to `side`.
    fn sink(
        &mut self,
        i: usize,
        chain: &ChainConfig,
        pool: &RpcPool,
        metrics: &Metrics,
        shutdown: &CancellationToken,
        side: &mut Vec<SideTask>,
    ) -> Result<Option<Arc<Self::Sink>>, HubError>;
}

/// The configured chains: origins read through their endpoints, batches
/// submitted with the configured submitter keys (each destination's
/// signers with a balance monitor).
#[derive(Debug, Clone, Copy, Default)]
pub struct ConfigWiring;

impl Wiring for ConfigWiring {
    type Source = EvmSource;
    type Sink = Signers;

    fn source(
        &mut self,
        _i: usize,
        _chain: &ChainConfig,
        pool: &RpcPool,
    ) -> Result<Option<EvmSource>, HubError> {
        Ok(Some(EvmSource::new(pool.clone())))
    }

    fn sink(
        &mut self,
        i: usize,
        c: &ChainConfig,
        pool: &RpcPool,
        metrics: &Metrics,
        shutdown: &CancellationToken,
        side: &mut Vec<SideTask>,
    ) -> Result<Option<Arc<Signers>>, HubError> {
        let (Some(inbox), Some(submitter_key)) = (c.inbox, &c.submitter_key) else {
            // An origin only.
            return Ok(None);
        };
        let sub_cfg = SubmitterConfig {
            confirmations: c.delivery_confirmations,
            receipt_timeout: receipt_timeout(c.delivery_confirmations),
            max_fee_per_gas: u128::from(c.max_fee_gwei) * 1_000_000_000,
            replace_after: Duration::from_millis(c.replace_after_ms),
            fee_bump_percent: c.replacement_fee_percent,
            max_gas_per_tx: c.max_batch_gas,
            ..SubmitterConfig::new(c.chain_id, inbox)
        };
        let mut keys = vec![(format!("chains[{i}].submitter_key"), submitter_key)];
        for (k, r) in c.extra_submitter_keys.iter().enumerate() {
            keys.push((format!("chains[{i}].extra_submitter_keys[{k}]"), r));
        }
        let mut subs = Vec::new();
        for (key_path, r) in keys {
            let key = r.resolve(&key_path)?;
            subs.push(EvmSubmitter::new(
                pool.clone(),
                key.expose(),
                &key_path,
                sub_cfg.clone(),
            )?);
        }
        let signers = Arc::new(Signers::new(
            subs,
            &format!("chains[{i}] submitter_key and extra_submitter_keys"),
        )?);
        side.push((
            format!("balance monitor {}", c.name),
            Box::pin(
                BalanceMonitor::new(
                    &c.name,
                    Arc::clone(&signers),
                    metrics.clone(),
                    c.low_balance_eth,
                    BALANCE_EVERY,
                )
                .run(shutdown.child_token()),
            ),
        ));
        Ok(Some(signers))
    }
}

/// Builds a hub from a configuration and a [`Wiring`]; secrets come from
/// the configuration unless given here.
#[derive(Debug)]
pub struct HubBuilder {
    cfg: Config,
    queue_key: Option<QueueKey>,
    attester: Option<Attester>,
    replica: Option<String>,
}

impl HubBuilder {
    /// A hub of `cfg`.
    pub fn new(cfg: Config) -> Self {
        Self {
            cfg,
            queue_key: None,
            attester: None,
            replica: None,
        }
    }

    /// Uses `key` instead of resolving `queue_key`.
    pub fn queue_key(mut self, key: QueueKey) -> Self {
        self.queue_key = Some(key);
        self
    }

    /// Uses `attester` instead of resolving `attester_key`.
    pub fn attester(mut self, attester: Attester) -> Self {
        self.attester = Some(attester);
        self
    }

    /// Names this replica's dispatcher workers `name` (default: host and
    /// process id).
    pub fn replica(mut self, name: impl Into<String>) -> Self {
        self.replica = Some(name.into());
        self
    }

    /// Validates the config, resolves secrets, connects Redis (retrying
    /// until `shutdown`), binds the HTTP listener and starts every task.
    pub async fn start<W: Wiring>(
        self,
        mut wiring: W,
        shutdown: CancellationToken,
    ) -> Result<Hub, HubError> {
        let HubBuilder {
            cfg,
            queue_key,
            attester,
            replica,
        } = self;
        cfg.validate()?;
        let role = cfg.role;
        // A watcher-only process never signs, nor does a hub whose
        // [[attesters]] sign: it does not read the key, so it need not be
        // mounted where it runs.
        let signs = role == Role::Attester || (role.dispatches() && cfg.attesters.is_empty());
        let attester = match (attester, &cfg.attester_key) {
            (Some(a), _) => Some(a),
            (None, Some(k)) if signs => Some(Attester::from_hex(
                k.resolve("attester_key")?.expose(),
                "attester_key",
            )?),
            (None, None) if signs => {
                return Err(crate::config::ConfigError {
                    path: "attester_key".into(),
                    reason: format!("expected a signing key in role {role:?}, got none"),
                }
                .into());
            }
            (None, _) => None,
        };
        let queue_key = match (queue_key, &attester) {
            (Some(k), _) => k,
            // An attester holds no queue key: its own store is
            // authenticated with a key derived from its signing key, so
            // whoever writes its Redis cannot make it sign.
            (None, Some(a)) if role == Role::Attester => QueueKey::new(&a.derive_key("store"))?,
            (None, _) => queue_key_ring(&cfg)?,
        };
        let target = if cfg.redis.cluster_nodes.is_empty() {
            RedisTarget::Single(cfg.redis.url.clone())
        } else {
            RedisTarget::Cluster(cfg.redis.cluster_nodes.clone())
        };
        // TLS: the roots every endpoint client trusts, what rediss:// uses.
        let roots = cfg.tls.roots()?;
        let redis_tls = cfg.tls.redis()?;
        let metrics = Metrics::new();
        let health = Arc::new(Health::with_metrics(&metrics));

        let mut attempt = 0;
        let store = loop {
            match Store::connect_with(
                &target,
                &cfg.redis.key_prefix,
                queue_key.clone(),
                &redis_tls,
            )
            .await
            {
                // A store written by a newer hub is refused before any task
                // reads it; a fresh one gets this hub's storage format.
                Ok(l) => match l.check_format().await {
                    Ok(found) => {
                        tracing::info!(
                            format = crate::store::STORAGE_FORMAT,
                            ?found,
                            "storage format checked"
                        );
                        break l.with_wait(cfg.redis.wait_replicas, cfg.redis.wait_timeout_ms);
                    }
                    Err(e) if !e.is_retryable() => return Err(e.into()),
                    Err(e) => {
                        attempt += 1;
                        metrics.redis_errors.with_label_values(&[e.op()]).inc();
                        tracing::warn!(err = %e, attempt, "storage format unreadable, retrying");
                        tokio::select! {
                            _ = shutdown.cancelled() => return Err(e.into()),
                            _ = tokio::time::sleep(backoff(attempt)) => {}
                        }
                    }
                },
                // A wrong topology (cluster vs single) will not get better.
                Err(e) if !e.is_retryable() => return Err(e.into()),
                Err(e) => {
                    attempt += 1;
                    metrics.redis_errors.with_label_values(&["connect"]).inc();
                    tracing::warn!(err = %e, attempt, "redis unreachable, retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return Err(e.into()),
                        _ = tokio::time::sleep(backoff(attempt)) => {}
                    }
                }
            }
        };

        let listener = TcpListener::bind(cfg.http.listen)
            .await
            .map_err(|e| HubError::Io {
                what: format!("binding http listener {}", cfg.http.listen),
                source: e,
            })?;
        let addr = listener.local_addr().map_err(|e| HubError::Io {
            what: "http listener address".into(),
            source: e,
        })?;
        let admin_listener = match cfg.http.admin_listen {
            None => None,
            Some(at) => Some(TcpListener::bind(at).await.map_err(|e| HubError::Io {
                what: format!("binding the admin listener {at}"),
                source: e,
            })?),
        };
        let admin_addr = match &admin_listener {
            None => None,
            Some(l) => Some(l.local_addr().map_err(|e| HubError::Io {
                what: "admin listener address".into(),
                source: e,
            })?),
        };

        let router = Arc::new(Router::from_config(&cfg));
        // Chain names and lanes, for the status API; the dispatchers' metric
        // labels take the origins' names from the same list.
        let catalog = Arc::new(crate::http::api::Catalog::from_config(&cfg));
        for (name, domain) in &catalog.origins {
            if let Some(mode) = catalog.trust.get(domain) {
                for m in crate::config::TrustMode::ALL {
                    metrics
                        .trust_mode
                        .with_label_values(&[name, m.as_str()])
                        .set(i64::from(m == *mode));
                }
            }
        }
        let origin_names: Arc<HashMap<u32, String>> = Arc::new(
            catalog
                .origins
                .iter()
                .map(|(name, domain)| (*domain, name.clone()))
                .collect(),
        );
        // The counters alert rules take increase() of, at 0 from the start.
        let destinations = || catalog.destinations.iter().map(|(n, _)| n.as_str());
        if role.watches() {
            for (name, _) in &catalog.origins {
                metrics.init_origin(name, destinations());
            }
        }
        if role.dispatches() {
            for destination in destinations() {
                metrics
                    .init_destination(destination, catalog.origins.iter().map(|(n, _)| n.as_str()));
            }
        }
        let observer = rpc_observer(&metrics);
        let replica = replica.unwrap_or_else(|| format!("{}-{}", hostname(), std::process::id()));
        let backlog = Arc::new(BacklogView::default());

        let mut tasks = Tasks {
            set: JoinSet::new(),
            health: Arc::clone(&health),
            shutdown: shutdown.clone(),
        };
        let (journal, writer) = Journal::start(&cfg.status, &store, &metrics).await?;
        if let Some(w) = writer {
            tasks.spawn("status journal", w.run(shutdown.child_token()));
        }
        // An attester records what its light clients verified, in its own
        // store, instead of routing into lanes.
        let verified = (role == Role::Attester).then(|| {
            crate::attest::Verified::new(
                store.witness(cfg.attestation.window_secs),
                store.origin_state(),
            )
        });
        // Every origin hands its verified batches to a route stage of its own
        // over the same lanes, routing table, backlog view and journal.
        let route_stage = |name: &str, domain| {
            let stage = RouteStage::new(
                name,
                domain,
                store.lanes(),
                store.origin_state(),
                Arc::clone(&router),
                Arc::clone(&backlog),
                metrics.clone(),
                cfg.dispatcher.max_backlog_entries,
            )
            .with_journal(journal.clone());
            match &verified {
                Some(v) => stage.witnessing(v.clone()),
                None => stage,
            }
        };
        // The dispatchers' attester client, when [[attesters]] sign.
        let collector = if role.dispatches() && !cfg.attesters.is_empty() {
            Some(Arc::new(crate::attest::Collector::from_config(
                &cfg,
                &roots,
                metrics.clone(),
            )?))
        } else {
            None
        };
        // Every chain's endpoints, built first: a rollup origin reads the
        // chain it settles on through that chain's pool.
        let pools = cfg
            .chains
            .iter()
            .map(|c| {
                let policy = RpcPolicy {
                    timeout: Duration::from_millis(c.rpc_timeout_ms),
                    ..RpcPolicy::default()
                };
                let http = HttpOptions {
                    roots: roots.clone(),
                    max_response_bytes: c.max_response_bytes,
                };
                Ok(RpcPool::with_http(&c.name, &c.rpc_urls, policy, &http)?
                    .with_observer(observer.clone()))
            })
            .collect::<Result<Vec<_>, HubError>>()?;
        // The gated blocks of each chain a rollup settles on, from its
        // watcher to the rollups' provers.
        let mut settlement = Settlements::of(&cfg);
        for (i, c) in cfg.chains.iter().enumerate() {
            let pool = pools[i].clone();
            let source = if role.watches() {
                wiring.source(i, c, &pool)?
            } else {
                None
            };
            if let Some(source) = source {
                let mut spec = OriginSpec {
                    name: c.name.clone(),
                    domain: c.domain,
                    mailbox: c.mailbox,
                    confirmations: c.confirmations,
                    checkpoint: c.checkpoint.map(|cp| BlockRef {
                        number: cp.number,
                        hash: cp.hash,
                    }),
                    poll: c.poll_interval(),
                    header_lead: crate::origin::evm::header_lead(c.confirmations),
                    quorum: c.quorum(),
                };
                wiring.tune(&mut spec);
                health.register_watcher(&c.name, (c.poll_interval_ms * 20).max(60_000));
                let route = route_stage(&c.name, c.domain);
                let watcher = Watcher::new(
                    spec,
                    source,
                    store.origin_state(),
                    route,
                    metrics.clone(),
                    Arc::clone(&health),
                );
                let watcher = match settlement.publisher(&c.name) {
                    Some(tx) => watcher.publishing_verified(tx),
                    None => watcher,
                };
                let watcher = match (&c.beacon, &c.rollup) {
                    (Some(b), _) => {
                        let (beacon, anchor) =
                            beacon_watcher(c, b, &pool, &roots, &store, &metrics, &health)?;
                        let name = format!("beacon watcher {}", c.name);
                        tasks.spawn(name, beacon.run(shutdown.child_token()));
                        watcher.with_anchor(anchor)
                    }
                    (None, Some(r)) => {
                        let (prover, proven) =
                            rollup_prover(i, c, r, &cfg, &pools, &settlement, &metrics, &health)?;
                        let name = format!("rollup prover {}", c.name);
                        tasks.spawn(name, prover.run(shutdown.child_token()));
                        watcher.with_rollup_anchor(proven)
                    }
                    (None, None) => watcher,
                };
                tasks.spawn(
                    format!("watcher {}", c.name),
                    watcher.run(shutdown.child_token()),
                );
            }
            if !role.dispatches() {
                continue;
            }
            let Some(inbox) = c.inbox else {
                // An origin only: nothing is delivered to it (and it gets
                // no destination's metric series).
                continue;
            };
            let signing = match (&collector, &attester) {
                (Some(col), _) => {
                    // At 0 from the start: the first short batch alerts.
                    metrics.attestation_short.with_label_values(&[&c.name]);
                    Signing::Attesters(Arc::clone(col))
                }
                (None, Some(a)) => Signing::Local(a.clone()),
                (None, None) => continue,
            };
            let mut side = Vec::new();
            let Some(sink) = wiring.sink(i, c, &pool, &metrics, &shutdown, &mut side)? else {
                continue;
            };
            for (name, task) in side {
                tasks.spawn(name, task);
            }
            // One replica per sending account, or they race for its nonces.
            let claims = crate::dispatch::claims::SenderClaims::claim(
                store.leases(),
                c.domain,
                &c.name,
                &sink.senders(),
                &replica,
                Duration::from_millis(cfg.dispatcher.lease_ttl_ms),
            )
            .await?;
            let dispatcher = Dispatcher::new(
                DestSpec {
                    name: c.name.clone(),
                    domain: c.domain,
                    chain_id: c.chain_id,
                    inbox,
                    group_domains: router.groups_of(c.domain),
                },
                store.clone(),
                sink,
                signing,
                metrics.clone(),
                cfg.dispatcher.clone(),
                replica.clone(),
                Arc::clone(&origin_names),
            )
            .with_journal(journal.clone())
            .with_health(Arc::clone(&health));
            let stop = shutdown.child_token();
            tasks.spawn(
                format!("dispatcher {}", c.name),
                claims.guard(
                    dispatcher.run(stop.clone()),
                    stop,
                    Arc::clone(&health),
                    metrics.clone(),
                ),
            );
        }
        if role.watches() {
            for (i, c) in cfg.cometbft_origins.iter().enumerate() {
                let route = route_stage(&c.name, c.domain);
                let watcher = cometbft_watcher(i, c, &cfg, &store, route, &metrics, &health)?;
                tasks.spawn(
                    format!("watcher {}", c.name),
                    watcher.run(shutdown.child_token()),
                );
            }
        }
        // An attester has no lanes to watch.
        if role != Role::Attester {
            let monitor = BacklogMonitor::new(
                store.dedicated().await?.lanes(),
                metrics.clone(),
                cfg.chains
                    .iter()
                    .map(|c| (c.domain, c.name.clone()))
                    .collect(),
                cfg.dispatcher.lane_shards,
                Arc::clone(&backlog),
            )
            .with_health(Arc::clone(&health), cfg.dispatcher.stuck_after_ms);
            tasks.spawn("backlog monitor", monitor.run(shutdown.child_token()));
        }
        let attest = match (&verified, &attester) {
            (Some(v), Some(a)) => {
                let mut tokens: Vec<Arc<str>> = Vec::new();
                for (i, r) in cfg.attestation.tokens.iter().enumerate() {
                    let path = format!("attestation.tokens[{i}]");
                    tokens.push(Arc::from(r.resolve(&path)?.expose()));
                }
                Some(Arc::new(crate::attest::AttestService::new(
                    &cfg,
                    a.clone(),
                    v.clone(),
                    tokens,
                    metrics.clone(),
                )))
            }
            _ => None,
        };
        // With `attestation.listen`, the attestation API is served there
        // alone (over TLS when configured) and not on `http.listen`.
        let (attest, attest_apart) = match (cfg.attestation.listen, attest) {
            (Some(at), Some(service)) => {
                let tls = cfg.attestation.server_tls()?;
                let listener = TcpListener::bind(at).await.map_err(|e| HubError::Io {
                    what: format!("binding the attestation listener {at}"),
                    source: e,
                })?;
                let bound = listener.local_addr().map_err(|e| HubError::Io {
                    what: "attestation listener address".into(),
                    source: e,
                })?;
                info!(
                    addr = %bound,
                    tls = tls.is_some(),
                    client_certificates = cfg.attestation.client_ca_file.is_some(),
                    "attestation API listening"
                );
                (None, Some((listener, tls, service)))
            }
            (_, attest) => (attest, None),
        };
        if let Some((listener, tls, service)) = attest_apart {
            let stop = shutdown.child_token();
            tasks.spawn("attestation server", async move {
                if let Err(e) = crate::http::serve_attest(listener, tls, service, stop).await {
                    error!(err = %e, "attestation server stopped");
                }
            });
        }
        let mut admin_tokens: Vec<Arc<str>> = Vec::new();
        if let Some(r) = &cfg.admin_token {
            admin_tokens.push(Arc::from(r.resolve("admin_token")?.expose()));
            for (i, r) in cfg.accepted_admin_tokens.iter().enumerate() {
                let path = format!("accepted_admin_tokens[{i}]");
                admin_tokens.push(Arc::from(r.resolve(&path)?.expose()));
            }
        }
        let state = crate::http::AppState {
            metrics: metrics.clone(),
            health: Arc::clone(&health),
            store: store.clone(),
            admin: crate::admin::Admin::new(store.dead_letters(), &cfg),
            admin_tokens,
            catalog,
            rate_limit: Arc::new(crate::ratelimit::RateLimiter::new(
                cfg.status.rate_limit_per_sec,
                cfg.status.rate_limit_burst,
                metrics.clone(),
            )),
            attest,
        };
        let http_stop = shutdown.child_token();
        tasks.spawn("http server", async move {
            let served = match admin_listener {
                None => crate::http::serve(listener, state, http_stop).await,
                Some(admin) => crate::http::serve_apart(listener, admin, state, http_stop).await,
            };
            if let Err(e) = served {
                error!(err = %e, "http server stopped");
            }
        });
        info!(
            %addr,
            admin = ?admin_addr,
            ?role,
            chains = cfg.chains.len(),
            attester = %attester.as_ref().map(|a| a.address().to_string()).unwrap_or_default(),
            "hub started"
        );
        Ok(Hub {
            addr,
            admin_addr,
            metrics,
            tasks: tasks.set,
        })
    }
}

/// The hub's tasks, each with a name: one that ends before shutdown
/// (returns or panics) is reported on `/healthz`, which then answers 503 so
/// the orchestrator restarts the process; nothing in the process would
/// start the task again.
struct Tasks {
    set: JoinSet<()>,
    health: Arc<Health>,
    shutdown: CancellationToken,
}

impl Tasks {
    fn spawn<F>(&mut self, name: impl Into<String>, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let watch = EndWatch {
            name: name.into(),
            health: Arc::clone(&self.health),
            shutdown: self.shutdown.clone(),
            returned: false,
        };
        self.set.spawn(async move {
            // Moved in whole (a field alone would be captured otherwise), so
            // it is dropped when the task ends, however it ends.
            let mut watch = watch;
            task.await;
            watch.returned = true;
        });
    }
}

/// Reports its task's end when dropped: it returned, or it unwound from a
/// panic (the drop runs during the unwinding). Neither counts after
/// shutdown, nor an abort (the hub itself is being dropped).
struct EndWatch {
    name: String,
    health: Arc<Health>,
    shutdown: CancellationToken,
    returned: bool,
}

impl Drop for EndWatch {
    fn drop(&mut self) {
        if self.shutdown.is_cancelled() {
            return;
        }
        let how = if self.returned {
            "ended before shutdown"
        } else if std::thread::panicking() {
            "panicked"
        } else {
            return;
        };
        error!(task = %self.name, "hub task {how}; /healthz now fails so the process is restarted");
        self.health.task_ended(&self.name, how.to_owned());
    }
}

/// The channels that carry a settlement chain's gated blocks to the
/// provers of the rollups settling on it.
struct Settlements {
    senders: HashMap<String, tokio::sync::watch::Sender<Option<BlockRef>>>,
    receivers: HashMap<String, tokio::sync::watch::Receiver<Option<BlockRef>>>,
}

impl Settlements {
    /// A channel for every chain some `[chains.rollup]` settles on.
    fn of(cfg: &Config) -> Self {
        let mut senders = HashMap::new();
        let mut receivers = HashMap::new();
        for r in cfg.chains.iter().filter_map(|c| c.rollup.as_ref()) {
            if !senders.contains_key(&r.settles_on) {
                let (tx, rx) = tokio::sync::watch::channel(None);
                senders.insert(r.settles_on.clone(), tx);
                receivers.insert(r.settles_on.clone(), rx);
            }
        }
        Self { senders, receivers }
    }

    /// The sender for `chain`'s watcher, if a rollup settles on it.
    fn publisher(&mut self, chain: &str) -> Option<tokio::sync::watch::Sender<Option<BlockRef>>> {
        self.senders.remove(chain)
    }

    /// The receiver of `chain`'s gated blocks.
    fn subscribe(&self, chain: &str) -> Option<tokio::sync::watch::Receiver<Option<BlockRef>>> {
        self.receivers.get(chain).cloned()
    }
}

/// The prover of rollup origin `c` (`chains[i]`, settling on `r.settles_on`),
/// and the receiver of the L2 blocks it proves.
#[allow(clippy::too_many_arguments)]
fn rollup_prover(
    i: usize,
    c: &ChainConfig,
    r: &crate::config::RollupConfig,
    cfg: &Config,
    pools: &[RpcPool],
    settlement: &Settlements,
    metrics: &Metrics,
    health: &Arc<Health>,
) -> Result<
    (
        crate::origin::rollup::RollupProver,
        tokio::sync::watch::Receiver<Option<BlockRef>>,
    ),
    HubError,
> {
    use crate::origin::rollup::{RollupProver, RollupSpec};
    let path = format!("chains[{i}].rollup");
    let target = r.target(&path)?;
    let missing = |what: &str| crate::config::ConfigError {
        path: format!("{path}.settles_on"),
        reason: format!("{what} {:?}", r.settles_on),
    };
    let l1 = cfg
        .chains
        .iter()
        .position(|o| o.name == r.settles_on)
        .ok_or_else(|| missing("no configured chain named"))?;
    let verified = settlement
        .subscribe(&r.settles_on)
        .ok_or_else(|| missing("no watcher publishes the blocks of"))?;
    health.register_watcher(
        &RollupProver::health_name(&c.name),
        (r.poll_interval_ms * 20).max(60_000),
    );
    Ok(RollupProver::new(
        RollupSpec {
            name: c.name.clone(),
            settles_on: r.settles_on.clone(),
            target,
            policy: r.policy(),
            poll: Duration::from_millis(r.poll_interval_ms),
            max_candidates: r.max_candidates,
        },
        EvmSource::new(pools[l1].clone()),
        EvmSource::new(pools[i].clone()),
        verified,
        metrics.clone(),
        Arc::clone(health),
    ))
}

/// The queue key ring of `cfg`: `queue_key` signs, it and
/// `accepted_queue_keys` verify.
pub fn queue_key_ring(cfg: &Config) -> Result<QueueKey, crate::config::ConfigError> {
    let one = |path: String, r: &crate::config::SecretRef| {
        QueueKey::from_secret(r.resolve(&path)?.expose()).map_err(|e| crate::config::ConfigError {
            path,
            reason: e.to_string(),
        })
    };
    let mut accepted = Vec::new();
    for (i, r) in cfg.accepted_queue_keys.iter().enumerate() {
        accepted.push(one(format!("accepted_queue_keys[{i}]"), r)?);
    }
    let Some(signing) = &cfg.queue_key else {
        return Err(crate::config::ConfigError {
            path: "queue_key".into(),
            reason: format!(
                "expected the lane HMAC key in role {:?}, got none",
                cfg.role
            ),
        });
    };
    Ok(one("queue_key".into(), signing)?.accepting(accepted))
}

/// The beacon light client of origin `c`, and the receiver of the
/// finalized execution blocks it anchors.
fn beacon_watcher(
    c: &crate::config::ChainConfig,
    b: &crate::config::BeaconConfig,
    pool: &RpcPool,
    roots: &switchyard_http::TlsRoots,
    store: &Store,
    metrics: &Metrics,
    health: &Arc<Health>,
) -> Result<
    (
        crate::origin::beacon::BeaconWatcher,
        tokio::sync::watch::Receiver<Option<BlockRef>>,
    ),
    HubError,
> {
    use crate::config::beacon::Network;
    use crate::origin::beacon::{BeaconSpec, BeaconWatcher};
    use switchyard_beacon::BeaconApi;
    // Validated with the configuration; built-in or custom.
    let network = Network::from_config(b, &format!("chain {}: beacon", c.name))?;
    let spec = network.spec.clone();
    let api = BeaconApi::with_http(
        &b.urls,
        Duration::from_millis(b.timeout_ms),
        &spec,
        roots,
        b.max_response_bytes,
    )
    .map_err(|e| crate::config::ConfigError {
        path: format!("chain {}: beacon.urls", c.name),
        reason: e.to_string(),
    })?;
    let api = api.with_observer(&c.name, rpc_observer(metrics));
    let poll = Duration::from_millis(b.poll_interval_ms);
    // Finality advances every epoch (6.4 min); a round every `poll`.
    health.register_watcher(
        &format!("{}:beacon", c.name),
        (b.poll_interval_ms * 20).max(15 * 60_000),
    );
    Ok(BeaconWatcher::new(
        BeaconSpec {
            name: c.name.clone(),
            domain: c.domain,
            spec,
            trusted_root: b.trusted_root,
            max_checkpoint_age_slots: network.slots(b.max_checkpoint_age_secs),
            poll,
            clock: network.clock(),
            genesis_time: network.genesis_time,
            seconds_per_slot: network.seconds_per_slot,
        },
        api,
        EvmSource::new(pool.clone()),
        store.origin_state(),
        metrics.clone(),
        Arc::clone(health),
    ))
}

/// The watcher of CometBFT origin `c` (`cometbft_origins[i]`).
fn cometbft_watcher(
    i: usize,
    c: &crate::config::CometbftOriginConfig,
    cfg: &Config,
    store: &Store,
    route: RouteStage,
    metrics: &Metrics,
    health: &Arc<Health>,
) -> Result<crate::origin::cometbft::CometbftWatcher, HubError> {
    use crate::origin::cometbft::{CometbftSpec, CometbftWatcher};
    let p = |k: &str| format!("cometbft_origins[{i}].{k}");
    let bad = |k: &str, reason: String| crate::config::ConfigError { path: p(k), reason };
    let trusted_hash = c.trusted_hash().map_err(|e| {
        bad(
            "trusted_hash",
            format!("expected {}, got {}", e.expected, e.got),
        )
    })?;
    let client =
        switchyard_lc_cometbft::LightClient::from_config(&switchyard_lc_cometbft::Config {
            trust_threshold: c.trust_threshold.clone(),
            trusting_period_secs: c.trusting_period_secs,
            clock_drift_secs: c.clock_drift_secs,
            signatures: switchyard_lc_cometbft::SignatureBackend::Batch,
        })
        .map_err(|e| bad("trust_threshold", e.to_string()))?;
    let rpc = switchyard_cometbft::RpcClient::new(switchyard_cometbft::RpcConfig {
        timeout: Duration::from_millis(c.rpc_timeout_ms),
        roots: cfg.tls.roots()?,
        max_response_bytes: c.max_response_bytes,
        ..switchyard_cometbft::RpcConfig::new(c.rpc_urls.clone())
    })
    .map_err(|e| bad("rpc_urls", e.to_string()))?
    .with_observer(&c.name, rpc_observer(metrics));
    health.register_watcher(&c.name, (c.poll_interval_ms * 20).max(60_000));
    Ok(CometbftWatcher::new(
        CometbftSpec {
            name: c.name.clone(),
            domain: c.domain,
            trusted_height: c.trusted_height,
            trusted_hash,
            poll: Duration::from_millis(c.poll_interval_ms),
        },
        rpc,
        client,
        store.origin_state(),
        route,
        metrics.clone(),
        Arc::clone(health),
    ))
}

/// Counts every endpoint call (EVM JSON-RPC, beacon API, CometBFT RPC) in
/// `switchyard_rpc_requests_total`.
fn rpc_observer(metrics: &Metrics) -> RpcObserver {
    let m = metrics.clone();
    Arc::new(
        move |chain: &str, method: &'static str, outcome: &'static str| {
            m.rpc.with_label_values(&[chain, method, outcome]).inc();
        },
    )
}

/// How often each delivery signer's balance is read.
const BALANCE_EVERY: Duration = Duration::from_secs(30);

/// How long a delivery's confirmation is waited for before the batch is
/// retried: two minutes for inclusion, and 15 s a block of the required
/// depth (Ethereum's 12 s slots with a margin; faster chains finish early),
/// so the default depth of finality is waited out instead of sending the
/// batch again while it is still confirming.
fn receipt_timeout(confirmations: u64) -> Duration {
    Duration::from_secs(120).saturating_add(
        Duration::from_secs(15).saturating_mul(u32::try_from(confirmations).unwrap_or(u32::MAX)),
    )
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "hub".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_that_ends_or_panics_before_shutdown_fails_liveness() {
        let health = Arc::new(Health::default());
        let shutdown = CancellationToken::new();
        let mut tasks = Tasks {
            set: JoinSet::new(),
            health: Arc::clone(&health),
            shutdown: shutdown.clone(),
        };
        tasks.spawn("quits", async {});
        tasks.spawn("panics", async { panic!("a bug") });
        let s = shutdown.clone();
        tasks.spawn("runs", async move { s.cancelled().await });
        for _ in 0..2 {
            tasks.set.join_next().await;
        }
        assert_eq!(
            health.liveness_problems(),
            vec!["task panics: panicked", "task quits: ended before shutdown"]
        );
        shutdown.cancel();
        tasks.set.join_next().await;
        assert_eq!(
            health.liveness_problems().len(),
            2,
            "ending after shutdown is what tasks do"
        );
    }
}
