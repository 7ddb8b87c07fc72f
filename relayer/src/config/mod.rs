//! The hub's configuration: one TOML file, overridable by environment
//! variables `SWITCHYARD__<SECTION>__<KEY>` (for example
//! `SWITCHYARD__REDIS__URL`). Unknown keys and out-of-range values are refused
//! with their path. Secrets are never in the file: it names an environment
//! variable or a mounted file that holds them.
//!
//! May import: the store's TLS and target types, `input`. Every other
//! module may import it; it never imports a stage.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy_primitives::{Address, B256};
use serde::{Deserialize, Serialize};

pub mod beacon;
pub mod check;
mod load;
pub mod rollup;
pub mod schema;

pub use load::{Loaded, ResolvedRef};
pub use rollup::RollupConfig;

/// Refuses keys that are not `[a-z0-9_]+` before the `config` crate sees
/// them: it reads keys as paths (`a.b`, `a[3]`), and a quoted TOML key such
/// as `"x[-11984684]"` made it grow an array by millions of entries until
/// the process ran out of memory (found by the `config_toml` fuzz target).
/// Every key of the hub's configuration is snake_case.
fn refuse_odd_keys(text: &str, origin: &str) -> Result<(), ConfigError> {
    let table = text
        .parse::<toml::Table>()
        .map_err(|e| cfg_err(origin, e.to_string()))?;
    check_keys("", &toml::Value::Table(table))
}

fn check_keys(path: &str, v: &toml::Value) -> Result<(), ConfigError> {
    match v {
        toml::Value::Table(t) => t.iter().try_for_each(|(k, x)| {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            let ok = !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !ok {
                return Err(cfg_err(
                    p,
                    format!("expected a key of [a-z0-9_], got {k:?}"),
                ));
            }
            check_keys(&p, x)
        }),
        toml::Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, x)| check_keys(&format!("{path}[{i}]"), x)),
        _ => Ok(()),
    }
}

/// Refuses `value` (at `path`) outside `range`, saying both.
fn in_range<T: Copy + PartialOrd + std::fmt::Display>(
    path: impl Into<String>,
    value: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<(), ConfigError> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(cfg_err(
            path,
            format!("expected {}..={}, got {value}", range.start(), range.end()),
        ))
    }
}

/// Chain and origin names: `[a-z0-9_-]{1,32}` (they appear in metric labels
/// and logs).
fn check_name(path: String, name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_' || ch == '-');
    if ok {
        Ok(())
    } else {
        Err(cfg_err(
            path,
            format!("expected [a-z0-9_-]{{1,32}}, got {name:?}"),
        ))
    }
}

/// Refuses `value` (at `path`) when an entry of `list` (the config's list
/// `list_name`, whose field `field` is read by `get`) already has it.
fn unique<T, V: PartialEq + std::fmt::Debug>(
    path: String,
    value: &V,
    list_name: &str,
    field: &str,
    list: &[T],
    get: impl Fn(&T) -> &V,
) -> Result<(), ConfigError> {
    match list.iter().position(|o| get(o) == value) {
        Some(j) => Err(cfg_err(
            path,
            format!("duplicate of {list_name}[{j}].{field} {value:?}"),
        )),
        None => Ok(()),
    }
}

/// A configuration that cannot be used, with the path of the offending value.
#[derive(Debug, thiserror::Error)]
#[error("config {path}: {reason}")]
pub struct ConfigError {
    /// Dotted path of the value (`chains[1].rpc_urls`), or the file.
    pub path: String,
    /// What is wrong, with expected and got where it applies.
    pub reason: String,
}

fn cfg_err(path: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        path: path.into(),
        reason: reason.into(),
    }
}

/// The whole hub configuration.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// What this process runs: `all` (default), `watcher` (origin light
    /// clients routing into the lanes) or `dispatcher` (lane consumers that
    /// attest and submit). `switchyard run --role` overrides it.
    #[serde(default)]
    pub role: Role,
    /// Redis connection.
    pub redis: RedisConfig,
    /// TLS of every outgoing connection (endpoints and Redis).
    #[serde(default)]
    pub tls: TlsConfig,
    /// HTTP listener (metrics, health, API).
    #[serde(default)]
    pub http: HttpConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// The key batch attestations are signed with: the hub's own when it
    /// signs alone (no `[[attesters]]`), an attester's in role `attester`.
    /// A hub whose dispatchers collect signatures from `[[attesters]]`
    /// needs none.
    #[serde(default)]
    pub attester_key: Option<SecretRef>,
    /// The HMAC key that authenticates lane entries: only processes holding
    /// it can write an entry a dispatcher will sign (Redis is not trusted).
    /// At least 32 bytes. It signs; `accepted_queue_keys` only verify.
    /// Required in every role but `attester`, which must not hold it.
    #[serde(default)]
    pub queue_key: Option<SecretRef>,
    /// Keys a rotation accepts besides `queue_key` (entries and state they
    /// signed still verify; state is signed again with `queue_key` when
    /// read). Rotate with no downtime: add the new key here on every
    /// process, then make it `queue_key` with the old one here, then drop
    /// the old one (docs/operations.md, "Keys and secrets").
    #[serde(default)]
    pub accepted_queue_keys: Vec<SecretRef>,
    /// Bearer token of the admin API (`/admin/...`); without it the admin
    /// API refuses every request.
    #[serde(default)]
    pub admin_token: Option<SecretRef>,
    /// Admin tokens accepted besides `admin_token` (a rotation: add the new
    /// one here, hand it out, make it `admin_token`, drop the old).
    #[serde(default)]
    pub accepted_admin_tokens: Vec<SecretRef>,
    /// Delivery batching.
    #[serde(default)]
    pub dispatcher: DispatcherConfig,
    /// Independent attesters the dispatchers collect batch signatures from
    /// (`switchyard run --role attester` processes, each verifying with its
    /// own light clients). Each destination's Inbox says which of them count
    /// and how many are needed. Without any, the hub signs alone with
    /// `attester_key` (an Inbox of threshold 1).
    #[serde(default)]
    pub attesters: Vec<AttesterEndpoint>,
    /// What a process of role `attester` serves: who may ask it, and how
    /// long it remembers what it verified.
    #[serde(default)]
    pub attestation: AttestationConfig,
    /// The message status journal behind `/v1/messages` and the explorer.
    #[serde(default)]
    pub status: StatusConfig,
    /// Every chain the hub follows or delivers to.
    pub chains: Vec<ChainConfig>,
    /// Logical destination domains served by several chains.
    #[serde(default)]
    pub route_groups: Vec<RouteGroupConfig>,
    /// CometBFT (Cosmos SDK) chains the hub relays messages *from*: origins
    /// only, so they carry no EVM destination fields. Their messages go to
    /// the `chains` (or route groups) they name.
    #[serde(default)]
    pub cometbft_origins: Vec<CometbftOriginConfig>,
}

/// A CometBFT origin: its RPC endpoints and the light client's trust
/// parameters. Messages are read from its `switchyard` outbox store
/// (`docs/cometbft-outbox.md`) and proven against headers the light client
/// verified.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CometbftOriginConfig {
    /// Short name used in metrics labels and logs (`[a-z0-9_-]{1,32}`).
    #[schemars(regex(pattern = schema::NAME_PATTERN))]
    pub name: String,
    /// The chain's Switchyard domain (the `origin` of its messages).
    pub domain: u32,
    /// CometBFT RPC endpoints (`http://host:26657`), in order of preference;
    /// each a URL, `{ env = "NAME" }` or `{ file = "/path" }`.
    #[schemars(schema_with = "schema::http_urls")]
    pub rpc_urls: Vec<String>,
    /// Height of the trusted header (weak subjectivity), used on the first
    /// start and when the persisted state has outlived the trusting period.
    #[schemars(range(min = 1))]
    pub trusted_height: u64,
    /// Hash of that header: 64 hex digits (CometBFT prints it in upper
    /// case), optionally `0x`-prefixed.
    #[schemars(regex(pattern = "^(0x)?[0-9a-fA-F]{64}$"))]
    pub trusted_hash: String,
    /// How long a verified header may be used to verify newer ones; below
    /// the chain's unbonding period (commonly two thirds of it).
    #[schemars(range(min = 60, max = 365 * 24 * 3600))]
    pub trusting_period_secs: u64,
    /// `n/d` between 1/3 and 1 (CometBFT's default: `1/3`).
    #[schemars(regex(pattern = "^[0-9]+/[0-9]+$"))]
    #[serde(default = "default_trust_threshold")]
    pub trust_threshold: String,
    /// Allowed lead of a header's time over this host's clock.
    #[schemars(range(max = 600))]
    #[serde(default = "default_clock_drift")]
    pub clock_drift_secs: u64,
    /// Pause between rounds (new header, outbox walk), in ms.
    #[schemars(range(min = 100, max = 600_000))]
    #[serde(default = "default_cometbft_poll")]
    pub poll_interval_ms: u64,
    /// Timeout of one RPC request, in ms.
    #[schemars(range(min = 100, max = 120_000))]
    #[serde(default = "default_rpc_timeout")]
    pub rpc_timeout_ms: u64,
    /// The bound of one RPC answer, in bytes (64 KiB to 1 GiB): a longer
    /// one is dropped as it arrives and the endpoint counts as failed.
    #[schemars(range(min = *MAX_RESPONSE_RANGE.start(), max = *MAX_RESPONSE_RANGE.end()))]
    #[serde(default = "default_cometbft_max_response")]
    pub max_response_bytes: usize,
}

fn default_cometbft_max_response() -> usize {
    switchyard_cometbft::DEFAULT_MAX_RESPONSE_BYTES
}

/// Bounds of every `max_response_bytes`.
const MAX_RESPONSE_RANGE: std::ops::RangeInclusive<usize> = 64 * 1024..=1 << 30;

fn default_trust_threshold() -> String {
    "1/3".to_owned()
}
fn default_clock_drift() -> u64 {
    10
}
fn default_cometbft_poll() -> u64 {
    1000
}

impl CometbftOriginConfig {
    /// The trusted header hash (validated: 32 bytes of hex).
    pub fn trusted_hash(&self) -> Result<switchyard_lc_cometbft::Hash, crate::input::InputError> {
        let hex = self
            .trusted_hash
            .strip_prefix("0x")
            .unwrap_or(&self.trusted_hash);
        let wrong = || {
            crate::input::InputError::new(
                "trusted_hash",
                "32 bytes of hex (64 hex digits)",
                &self.trusted_hash,
            )
        };
        let bytes = hex::decode(hex).map_err(|_| wrong())?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| wrong())?;
        Ok(switchyard_lc_cometbft::Hash::Sha256(bytes))
    }
}

/// The part of the hub a process runs. Roles scale separately: watchers
/// with the number of origins, dispatchers with delivery load. Several
/// replicas of either role run side by side (cursor compare-and-set for
/// watchers, shard leases for dispatchers).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Watchers and dispatchers in one process.
    #[default]
    All,
    /// Origin watchers only: light clients, proofs, routing into lanes. Needs
    /// no attester or submitter key.
    Watcher,
    /// Dispatchers only: lane consumers, attestation, submission, signer
    /// balances.
    Dispatcher,
    /// An independent attester: follows the origins with its own light
    /// clients, keeps the ids of the messages it verified in its own store,
    /// and signs a batch root for a dispatcher only when it verified every
    /// message of the batch itself (`POST /v1/attest`). Holds no queue key
    /// and never touches the hub's Redis.
    Attester,
}

impl Role {
    /// Whether this role follows origins (an attester does, for itself).
    pub fn watches(self) -> bool {
        matches!(self, Role::All | Role::Watcher | Role::Attester)
    }

    /// Whether this role writes the hub's lanes (follows origins for the
    /// hub, not for itself).
    pub fn routes(self) -> bool {
        matches!(self, Role::All | Role::Watcher)
    }

    /// Whether this role delivers.
    pub fn dispatches(self) -> bool {
        matches!(self, Role::All | Role::Dispatcher)
    }
}

/// How a route group picks the member chain of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoutePolicy {
    /// The member whose lane has the smallest backlog, decided per origin
    /// block and persisted, so a re-read block goes where it went before.
    LeastBacklog,
    /// Members in proportion to their weights, by message id.
    Weighted,
    /// Members in turn, by message nonce.
    RoundRobin,
    /// One member per sender (weighted): keeps each channel on one chain,
    /// hence in order.
    StickySender,
}

/// A member of a route group.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupMember {
    /// A configured chain's name.
    #[schemars(regex(pattern = schema::NAME_PATTERN))]
    pub chain: String,
    /// Relative weight (Weighted and StickySender), 1..=1000.
    #[schemars(range(min = 1, max = 1000))]
    #[serde(default = "default_weight")]
    pub weight: u32,
}

fn default_weight() -> u32 {
    1
}

/// One logical destination domain backed by several chains. Each member's
/// Inbox must accept the group domain (`Inbox.setDomainAlias`).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteGroupConfig {
    /// Name for logs and metrics (`[a-z0-9_-]{1,32}`).
    #[schemars(regex(pattern = schema::NAME_PATTERN))]
    pub name: String,
    /// The logical domain messages are addressed to.
    pub domain: u32,
    /// How a member is picked.
    pub policy: RoutePolicy,
    /// Member chains.
    #[schemars(length(min = 1))]
    pub members: Vec<GroupMember>,
}

/// Redis connection.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://host:port[/db]` (or `rediss://`), `{ env = "NAME" }` or
    /// `{ file = "/path" }`.
    #[schemars(schema_with = "schema::redis_url")]
    pub url: String,
    /// Prefix of every key, so several hubs can share one Redis.
    #[schemars(regex(pattern = "^[^{} ]+$"))]
    #[serde(default = "default_prefix")]
    pub key_prefix: String,
    /// Redis Cluster seed nodes (`redis://host:port`, `{ env = "NAME" }` or
    /// `{ file = "/path" }` each); when set, the hub talks to the cluster
    /// and `url` is ignored.
    #[schemars(schema_with = "schema::redis_urls")]
    #[serde(default)]
    pub cluster_nodes: Vec<String>,
    /// Replicas every lane append must reach (Redis `WAIT`) before the hub
    /// moves its origin cursor past it. With 1 and one replica per master,
    /// a master killed before replicating cannot take a verified message
    /// with it when its replica is promoted (docs/exactly-once.md). 0: off.
    #[serde(default)]
    #[schemars(range(max = 16))]
    pub wait_replicas: u32,
    /// How long one `WAIT` may take before the append is retried.
    #[serde(default = "default_wait_timeout_ms")]
    #[schemars(range(min = 10, max = 60_000))]
    pub wait_timeout_ms: u64,
}

fn default_prefix() -> String {
    "sy".into()
}

fn default_wait_timeout_ms() -> u64 {
    1000
}

/// TLS of outgoing connections. Every `https://` endpoint (JSON-RPC, beacon
/// API, CometBFT RPC) and `rediss://` Redis is reached over rustls; the
/// public roots are the webpki list (Mozilla's) compiled into the binary.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// A PEM file of CA certificates for servers behind a private CA:
    /// trusted in addition to the public roots by every HTTPS client, and
    /// as the only roots of `rediss://` connections (the Redis client takes
    /// one set of roots: a Redis with a public certificate then needs its
    /// CA in this file too).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// A client certificate (PEM) presented to Redis, for servers that
    /// require one (`tls-auth-clients yes`); with `redis_client_key`.
    #[serde(default)]
    pub redis_client_cert_file: Option<PathBuf>,
    /// The private key (PEM) of `redis_client_cert_file`.
    #[serde(default)]
    pub redis_client_key: Option<SecretRef>,
}

impl TlsConfig {
    /// The roots HTTPS clients trust: the public ones and `ca_file`'s.
    pub fn roots(&self) -> Result<switchyard_http::TlsRoots, ConfigError> {
        match &self.ca_file {
            None => Ok(switchyard_http::TlsRoots::public()),
            Some(f) => switchyard_http::TlsRoots::with_ca_file(f)
                .map_err(|e| cfg_err("tls.ca_file", e.to_string())),
        }
    }

    /// What `rediss://` connections trust and present (the key is read
    /// here: call where the secret is meant to be read).
    pub fn redis(&self) -> Result<crate::store::RedisTls, ConfigError> {
        let ca_pem = self.roots()?.ca_pem().map(<[u8]>::to_vec);
        let client = match (&self.redis_client_cert_file, &self.redis_client_key) {
            (Some(cert), Some(key)) => {
                let cert = std::fs::read(cert).map_err(|e| {
                    cfg_err(
                        "tls.redis_client_cert_file",
                        format!("cannot read {}: {e}", cert.display()),
                    )
                })?;
                let key = key.resolve("tls.redis_client_key")?;
                Some((cert, key.expose().as_bytes().to_vec()))
            }
            _ => None,
        };
        Ok(crate::store::RedisTls { ca_pem, client })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for (path, file) in [
            ("tls.ca_file", &self.ca_file),
            ("tls.redis_client_cert_file", &self.redis_client_cert_file),
        ] {
            if file.as_ref().is_some_and(|f| f.as_os_str().is_empty()) {
                return Err(cfg_err(
                    path,
                    "expected the path of a PEM file, got an empty string (leave the key out for none)",
                ));
            }
        }
        self.roots()?;
        pair(
            ("tls.redis_client_cert_file", &self.redis_client_cert_file),
            ("tls.redis_client_key", &self.redis_client_key),
        )?;
        match &self.redis_client_cert_file {
            // A certificate file like a CA file: at least one PEM certificate.
            Some(cert) => switchyard_http::TlsRoots::with_ca_file(cert)
                .map(drop)
                .map_err(|e| cfg_err("tls.redis_client_cert_file", e.to_string())),
            None => Ok(()),
        }
    }
}

/// HTTP listener.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address to bind; port 0 picks a free one.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Serves the admin API (`/admin/...`) on this address only, apart from
    /// `listen` (which then answers 404 there), so it can stay off a public
    /// Service: e.g. `127.0.0.1:9091`. Without it the admin API shares
    /// `listen`.
    #[serde(default)]
    pub admin_listen: Option<SocketAddr>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9464))
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            admin_listen: None,
        }
    }
}

/// The message status journal: each message's stages, origin block and
/// transaction, destination transaction and failure, kept in Redis for the
/// status API and the explorer. Written off the delivery path through a
/// bounded queue: when Redis cannot keep up, status updates are dropped
/// (and counted in `switchyard_status_updates_total`), never messages.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusConfig {
    /// Keep a journal at all.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// How long a message's record is kept after its last change, in
    /// seconds. Each message costs about 650 bytes of Redis memory
    /// (measured with 128-byte bodies, BENCHMARKS.md), so the journal holds
    /// about `rate × retention × 650` bytes.
    #[schemars(range(min = 60, max = 90 * 86_400))]
    #[serde(default = "default_status_retention")]
    pub retention_secs: u64,
    /// Message updates (one per message and stage) buffered in the process
    /// before further ones are dropped; bounds the journal's memory in the
    /// process (about 200 bytes each plus the message body).
    #[schemars(range(min = 1_000, max = 10_000_000))]
    #[serde(default = "default_status_buffer")]
    pub buffer: usize,
    /// Requests per second each client (IP address; IPv6 by /64) may make
    /// to the public status API and explorer, after a burst of
    /// `rate_limit_burst`; beyond it the hub answers 429 with
    /// `Retry-After`. 0 turns the limit off. `/metrics`, `/healthz`,
    /// `/readyz` and the admin API are never limited.
    #[schemars(range(max = 100_000))]
    #[serde(default = "default_rate_limit")]
    pub rate_limit_per_sec: u32,
    /// Requests a client may make at once before `rate_limit_per_sec`
    /// applies.
    #[schemars(range(min = 1, max = 100_000))]
    #[serde(default = "default_rate_limit_burst")]
    pub rate_limit_burst: u32,
}

fn default_rate_limit() -> u32 {
    20
}

fn default_rate_limit_burst() -> u32 {
    50
}

fn default_true() -> bool {
    true
}

fn default_status_retention() -> u64 {
    86_400
}

fn default_status_buffer() -> usize {
    100_000
}

impl Default for StatusConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            retention_secs: default_status_retention(),
            buffer: default_status_buffer(),
            rate_limit_per_sec: default_rate_limit(),
            rate_limit_burst: default_rate_limit_burst(),
        }
    }
}

/// Log output.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Text or JSON.
    #[serde(default)]
    pub format: LogFormat,
    /// `tracing` filter, e.g. `info` or `switchyard=debug,info`.
    #[serde(default = "default_level")]
    pub level: String,
}

fn default_level() -> String {
    "info".into()
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: default_level(),
        }
    }
}

/// Where a secret comes from: exactly one of `env` or `file`.
#[derive(Clone, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [{"required": ["env"]}, {"required": ["file"]}]))]
pub struct SecretRef {
    /// Name of an environment variable holding it.
    #[serde(default)]
    pub env: Option<String>,
    /// Path of a file holding it (a mounted Kubernetes Secret).
    #[serde(default)]
    pub file: Option<PathBuf>,
}

impl std::fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Only where the secret is, never what it is.
        f.debug_struct("SecretRef")
            .field("env", &self.env)
            .field("file", &self.file)
            .finish()
    }
}

/// A resolved secret. `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// The secret's text (trimmed).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl SecretRef {
    /// A reference to a file.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self {
            env: None,
            file: Some(path.into()),
        }
    }

    fn check(&self, path: &str) -> Result<(), ConfigError> {
        match (&self.env, &self.file) {
            (Some(e), None) if e.is_empty() => Err(cfg_err(
                path,
                "expected the name of an environment variable in `env`, got an empty string",
            )),
            (None, Some(f)) if f.as_os_str().is_empty() => Err(cfg_err(
                path,
                "expected a file path in `file`, got an empty string",
            )),
            (Some(_), None) | (None, Some(_)) => Ok(()),
            (None, None) => Err(cfg_err(
                path,
                "expected one of `env` or `file`, got neither",
            )),
            (Some(_), Some(_)) => Err(cfg_err(path, "expected one of `env` or `file`, got both")),
        }
    }

    /// Reads the secret. Errors name the variable or file, never the value.
    pub fn resolve(&self, path: &str) -> Result<Secret, ConfigError> {
        self.check(path)?;
        let raw = if let Some(var) = &self.env {
            std::env::var(var)
                .map_err(|_| cfg_err(path, format!("environment variable {var} is not set")))?
        } else if let Some(file) = &self.file {
            std::fs::read_to_string(file)
                .map_err(|e| cfg_err(path, format!("cannot read {}: {e}", file.display())))?
        } else {
            unreachable!("check() accepts exactly one source")
        };
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(cfg_err(path, "secret is empty"));
        }
        Ok(Secret(trimmed.to_owned()))
    }
}

/// Delivery batching and concurrency, per destination.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DispatcherConfig {
    /// Most messages in one `deliver` transaction.
    #[schemars(range(min = 1, max = 2000))]
    #[serde(default = "default_batch")]
    pub max_batch_messages: usize,
    /// Most bytes of encoded messages in one `deliver` transaction (nodes
    /// refuse transactions over 128 KiB).
    #[schemars(range(min = 1024, max = 1024 * 1024))]
    #[serde(default = "default_max_batch_bytes")]
    pub max_batch_bytes: usize,
    /// Longest a partial batch waits for more messages, in ms.
    #[schemars(range(max = 60_000))]
    #[serde(default = "default_wait")]
    pub max_wait_ms: u64,
    /// Transactions in flight per shard pipeline (a destination has
    /// `lane_shards` of them). 1 gives strict channel order even when a
    /// transaction reverts on chain after a successful simulation.
    #[schemars(range(min = 1, max = 64))]
    #[serde(default = "default_in_flight")]
    pub max_in_flight: usize,
    /// Attempts before a batch goes to the dead-letter stream. A failure
    /// that only says the destination could not be reached (an RPC error, a
    /// timeout) spends none: an outage is waited out, up to
    /// `max_entry_age_ms`.
    #[schemars(range(min = 1))]
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Lane shards per destination. Messages of one channel (origin, sender,
    /// recipient) always go to the same shard, and a shard is worked by one
    /// dispatcher at a time, which keeps each channel in nonce order.
    /// Changing it reassigns channels: drain the lanes first.
    #[schemars(range(min = 1, max = 1024))]
    #[serde(default = "default_shards")]
    pub lane_shards: u16,
    /// Dispatcher workers per destination in this replica; all replicas'
    /// workers share the shards through leases.
    #[schemars(range(min = 1, max = 64))]
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// A shard lease not renewed for this long is taken over, in ms; the new
    /// holder then claims (XAUTOCLAIM) every entry the previous one left
    /// pending. This is the idle timeout after which a dead consumer's
    /// entries are reclaimed.
    #[schemars(range(min = 500, max = 600_000))]
    #[serde(default = "default_lease")]
    pub lease_ttl_ms: u64,
    /// Backpressure: when a destination's lane holds more entries than this,
    /// the watchers feeding it wait instead of appending.
    #[schemars(range(min = 1))]
    #[serde(default = "default_backlog")]
    pub max_backlog_entries: u64,
    /// First retry delay of a failed batch, doubled per attempt with jitter, in ms.
    #[schemars(range(min = 1, max = 600_000))]
    #[serde(default = "default_retry_base")]
    pub retry_base_ms: u64,
    /// An entry older than this is dead-lettered instead of retried, in ms.
    /// The default, 7 days, outlasts a long destination outage (a chain
    /// halt, a provider down over a weekend): the lane holds the entries,
    /// bounded by `max_backlog_entries`, and delivers them when the chain
    /// is back, instead of dead-lettering everything queued meanwhile.
    #[schemars(range(min = 1))]
    #[serde(default = "default_max_age")]
    pub max_entry_age_ms: u64,
    /// A lane whose oldest entry is older than this is stuck: `/readyz`
    /// says so. Entries leave a lane within seconds when deliveries work
    /// (the backlog limit bounds the queue), so an old head means nothing
    /// is being delivered from it. In ms.
    #[schemars(range(min = 10_000, max = 86_400_000))]
    #[serde(default = "default_stuck_after")]
    pub stuck_after_ms: u64,
    /// How long a dispatcher waits for the `[[attesters]]` answers to one
    /// batch, in ms; an attester slower than this counts as unreachable for
    /// that batch, which is asked again later.
    #[schemars(range(min = 100, max = 60_000))]
    #[serde(default = "default_attestation_timeout")]
    pub attestation_timeout_ms: u64,
}

fn default_batch() -> usize {
    200
}
fn default_wait() -> u64 {
    50
}
fn default_in_flight() -> usize {
    8
}
fn default_attempts() -> u32 {
    8
}
fn default_shards() -> u16 {
    4
}
fn default_workers() -> usize {
    2
}
fn default_lease() -> u64 {
    5_000
}
fn default_backlog() -> u64 {
    10_000
}
fn default_retry_base() -> u64 {
    200
}
fn default_max_age() -> u64 {
    7 * 86_400_000
}
fn default_stuck_after() -> u64 {
    300_000
}
fn default_attestation_timeout() -> u64 {
    2_000
}

/// An attester the dispatchers ask for signatures.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttesterEndpoint {
    /// Short name (metrics label, logs): `[a-z0-9_-]{1,32}`.
    #[schemars(regex(pattern = schema::NAME_PATTERN))]
    pub name: String,
    /// Base URL of the attester's HTTP listener (`https://host:9090`); a
    /// URL, `{ env = "NAME" }` or `{ file = "/path" }`.
    #[schemars(schema_with = "schema::http_url")]
    pub url: String,
    /// The bearer token this hub presents (one of the attester's
    /// `attestation.tokens`).
    pub token: SecretRef,
    /// A client certificate chain (PEM, leaf first) presented to an
    /// attester (or its Ingress) that requires one: mutual TLS, with
    /// `client_key`.
    #[serde(default)]
    pub client_cert_file: Option<PathBuf>,
    /// The private key (PEM) of `client_cert_file`.
    #[serde(default)]
    pub client_key: Option<SecretRef>,
}

/// What an attester (role `attester`) serves.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttestationConfig {
    /// Bearer tokens accepted on `POST /v1/attest`, one per dispatcher
    /// operator (each compared in full); required in role `attester`.
    #[serde(default)]
    pub tokens: Vec<SecretRef>,
    /// How long the id of a verified message is kept, in seconds: a batch
    /// asked about later is refused as unknown. Keep it above the hub's
    /// `dispatcher.max_entry_age_ms`.
    #[schemars(range(min = 60))]
    #[serde(default = "default_window")]
    pub window_secs: u64,
    /// Most messages in one attestation request (a bigger one is refused).
    #[schemars(range(min = 1, max = 10_000))]
    #[serde(default = "default_max_attest_messages")]
    pub max_messages: usize,
    /// Serves `POST /v1/attest` on this address only, apart from
    /// `http.listen` (which then answers 404 there and keeps `/metrics`,
    /// `/healthz` and `/readyz` in plain HTTP for probes and Prometheus).
    /// Required for `tls_cert_file`.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// The certificate chain (PEM, leaf first) `listen` serves HTTPS with,
    /// with `tls_key`.
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// The private key (PEM) of `tls_cert_file`.
    #[serde(default)]
    pub tls_key: Option<SecretRef>,
    /// A PEM file of the CA certificates that issue dispatchers' client
    /// certificates: `listen` then completes a TLS handshake only with a
    /// client presenting one (mutual TLS), before any bearer token is read.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
}

impl AttestationConfig {
    /// What `listen` serves: its certificate and key and whether clients
    /// must present a certificate (the key is read here: call where the
    /// secret is meant to be read). None without `tls_cert_file`.
    pub fn server_tls(&self) -> Result<Option<rustls::ServerConfig>, ConfigError> {
        let (Some(cert), Some(key)) = (&self.tls_cert_file, &self.tls_key) else {
            return Ok(None);
        };
        let key = key.resolve("attestation.tls_key")?;
        let identity = switchyard_http::Identity::from_pem(cert, key.expose().as_bytes())
            .map_err(|e| cfg_err("attestation.tls_cert_file", e.to_string()))?;
        identity
            .server_config(self.client_ca_file.as_deref())
            .map(Some)
            .map_err(|e| cfg_err("attestation.client_ca_file", e.to_string()))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        pair(
            ("attestation.tls_cert_file", &self.tls_cert_file),
            ("attestation.tls_key", &self.tls_key),
        )?;
        if self.tls_cert_file.is_some() && self.listen.is_none() {
            return Err(cfg_err(
                "attestation.listen",
                "expected an address with tls_cert_file (HTTPS is served on that listener only, apart from http.listen), got none",
            ));
        }
        if self.client_ca_file.is_some() && self.tls_cert_file.is_none() {
            return Err(cfg_err(
                "attestation.client_ca_file",
                "expected tls_cert_file and tls_key with it (client certificates are asked for in a TLS handshake), got none",
            ));
        }
        if let Some(f) = &self.client_ca_file {
            switchyard_http::TlsRoots::with_ca_file(f)
                .map(drop)
                .map_err(|e| cfg_err("attestation.client_ca_file", e.to_string()))?;
        }
        Ok(())
    }
}

/// A certificate file and its key (TLS to Redis, to attesters, an
/// attester's listener): both or neither, the file a path.
fn pair(
    (cert_path, cert): (&str, &Option<PathBuf>),
    (key_path, key): (&str, &Option<SecretRef>),
) -> Result<(), ConfigError> {
    match (cert, key) {
        (None, None) => Ok(()),
        (Some(f), Some(k)) => {
            if f.as_os_str().is_empty() {
                return Err(cfg_err(
                    cert_path,
                    "expected the path of a PEM file, got an empty string (leave the key out for none)",
                ));
            }
            k.check(key_path)
        }
        (Some(_), None) => Err(cfg_err(
            key_path,
            format!("expected a private key with {cert_path}, got none"),
        )),
        (None, Some(_)) => Err(cfg_err(
            cert_path,
            format!("expected a certificate with {key_path}, got none"),
        )),
    }
}

impl Default for AttestationConfig {
    fn default() -> Self {
        Self {
            tokens: Vec::new(),
            window_secs: default_window(),
            max_messages: default_max_attest_messages(),
            listen: None,
            tls_cert_file: None,
            tls_key: None,
            client_ca_file: None,
        }
    }
}

fn default_window() -> u64 {
    7 * 86_400 + 86_400
}
fn default_max_attest_messages() -> usize {
    2_000
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        Self {
            max_batch_messages: default_batch(),
            max_batch_bytes: default_max_batch_bytes(),
            max_wait_ms: default_wait(),
            max_in_flight: default_in_flight(),
            max_attempts: default_attempts(),
            lane_shards: default_shards(),
            workers: default_workers(),
            lease_ttl_ms: default_lease(),
            max_backlog_entries: default_backlog(),
            retry_base_ms: default_retry_base(),
            max_entry_age_ms: default_max_age(),
            stuck_after_ms: default_stuck_after(),
            attestation_timeout_ms: default_attestation_timeout(),
        }
    }
}

/// A trusted starting point of a light client (weak subjectivity).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CheckpointConfig {
    /// Block number.
    pub number: u64,
    /// Block hash the operator trusts.
    #[schemars(schema_with = "schema::hex::<32>")]
    pub hash: B256,
}

/// One chain.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// Short name used in metrics labels and logs (`[a-z0-9_-]{1,32}`).
    #[schemars(regex(pattern = schema::NAME_PATTERN))]
    pub name: String,
    /// Message domain id.
    pub domain: u32,
    /// EIP-155 chain id.
    #[schemars(range(min = 1))]
    pub chain_id: u64,
    /// JSON-RPC endpoints, in order of preference; each a URL,
    /// `{ env = "NAME" }` or `{ file = "/path" }` (URLs with API keys are
    /// secrets).
    #[schemars(schema_with = "schema::http_urls")]
    pub rpc_urls: Vec<String>,
    /// Mailbox contract (messages from this chain).
    #[schemars(schema_with = "schema::hex::<20>")]
    pub mailbox: Address,
    /// Inbox contract (messages to this chain). With `submitter_key` it
    /// makes the chain a destination; an origin-only chain leaves both out
    /// (messages addressed to it are then rejected as to an unknown
    /// destination).
    #[schemars(schema_with = "schema::hex::<20>")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbox: Option<Address>,
    /// Header-chain light client: blocks below the verified tip before a
    /// block's messages are relayed.
    #[schemars(range(max = 1024))]
    #[serde(default = "default_confirmations")]
    pub confirmations: u64,
    /// Trusted checkpoint; required on the first start (afterwards the
    /// persisted light-client state is resumed).
    #[serde(default)]
    pub checkpoint: Option<CheckpointConfig>,
    /// Head polling interval, in ms.
    #[schemars(range(min = 10, max = 60_000))]
    #[serde(default = "default_poll")]
    pub poll_interval_ms: u64,
    /// Timeout of one RPC call, in ms.
    #[schemars(range(min = 100, max = 120_000))]
    #[serde(default = "default_rpc_timeout")]
    pub rpc_timeout_ms: u64,
    /// The bound of one JSON-RPC answer, in bytes (64 KiB to 1 GiB; the
    /// default 64 MiB holds `eth_getBlockReceipts` of a full block): a
    /// longer one is dropped as it arrives and the call fails over.
    #[schemars(range(min = *MAX_RESPONSE_RANGE.start(), max = *MAX_RESPONSE_RANGE.end()))]
    #[serde(default = "default_evm_max_response")]
    pub max_response_bytes: usize,
    /// Key of the account that pays for deliveries to this chain; required
    /// with `inbox`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitter_key: Option<SecretRef>,
    /// More delivery keys, used in parallel with `submitter_key` (each has
    /// its own nonce sequence; batches go to the least busy).
    #[serde(default)]
    pub extra_submitter_keys: Vec<SecretRef>,
    /// Below this balance (ether) a signer is reported low
    /// (`switchyard_signer_balance_low` and a warning).
    #[schemars(range(min = 0.0))]
    #[serde(default = "default_low_balance")]
    pub low_balance_eth: f64,
    /// Blocks on top of a delivery before its batch is acknowledged (and
    /// its entries leave the lane). A reorg deeper than this after the
    /// acknowledgement loses the batch, so the default (64, two Ethereum
    /// epochs: finality) waits for finality on Ethereum; a chain with a
    /// shorter finality depth may lower it (docs/operations.md).
    #[schemars(range(max = 1024))]
    #[serde(default = "default_delivery_confirmations")]
    pub delivery_confirmations: u64,
    /// Ceiling of `maxFeePerGas`, in gwei.
    #[schemars(range(min = 1))]
    #[serde(default = "default_max_fee")]
    pub max_fee_gwei: u64,
    /// A delivery not mined after this long is replaced (same nonce) with
    /// fees raised to `replacement_fee_percent`, up to `max_fee_gwei`.
    #[schemars(range(min = 500, max = 3_600_000))]
    #[serde(default = "default_replace_after")]
    pub replace_after_ms: u64,
    /// The fees of a replacement as a percentage of the replaced
    /// transaction's, 110 to 300: the default 125 means +25% (not +125%);
    /// nodes refuse a replacement under 110 (+10%). Formerly
    /// `fee_bump_percent`, still read under that name with the same meaning.
    #[schemars(range(min = 110, max = 300))]
    #[serde(default = "default_fee_bump", alias = "fee_bump_percent")]
    pub replacement_fee_percent: u64,
    /// Most gas one delivery transaction may use (estimate with margin); a
    /// batch over it is split in two.
    #[schemars(range(min = 200_000, max = 100_000_000))]
    #[serde(default = "default_max_batch_gas")]
    pub max_batch_gas: u64,
    /// Ethereum origins: follow the beacon chain's sync committees and route
    /// only ancestors of beacon-finalized blocks (instead of trusting
    /// `confirmations` of depth alone).
    #[serde(default)]
    pub beacon: Option<BeaconConfig>,
    /// Without `beacon`: how blocks of this origin are trusted. `quorum`
    /// (the default) routes a block only when `min_agreeing_endpoints` of
    /// `rpc_urls` return the same hash for it at the confirmation depth;
    /// `single_endpoint` trusts `rpc_urls` as one source, which can then
    /// forge messages (an explicit choice, for development chains).
    #[serde(default)]
    pub trust: HeaderTrust,
    /// Endpoints that must agree on a block's hash before it is routed
    /// (`trust = "quorum"` only; at least 2, at most the number of
    /// `rpc_urls`; default 2).
    #[schemars(range(min = 2))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_agreeing_endpoints: Option<usize>,
    /// Allows header-chain mode on a public Ethereum network (mainnet,
    /// Sepolia, Holesky, Hoodi), where `[chains.beacon]` gives proofs
    /// instead of endpoint agreement. Off by default.
    #[serde(default)]
    pub allow_header_chain_on_public_network: bool,
    /// Rollup origins: prove this chain's blocks from the chain it settles
    /// on (OP Stack output roots), and route only their ancestors; the
    /// chain's own `rpc_urls` are then trusted for liveness only.
    #[serde(default)]
    pub rollup: Option<RollupConfig>,
}

/// How a header-chain origin (no beacon anchor) trusts its endpoints.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum HeaderTrust {
    /// A quorum of independent endpoints must agree on each routed block.
    #[default]
    Quorum,
    /// One endpoint is trusted: it can forge messages. Development chains only.
    SingleEndpoint,
}

/// The trust mode of an origin, as exported (`switchyard_origin_trust_mode`,
/// `/v1/routes`, the explorer): what a lying endpoint could do to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TrustMode {
    /// Ancestors of beacon-finalized blocks (sync-committee signatures).
    Beacon,
    /// CometBFT light-client verification.
    Cometbft,
    /// Header chain, a quorum of endpoints agreeing on each block.
    HeaderChainQuorum,
    /// Header chain from one trusted source.
    SingleEndpoint,
    /// A rollup: ancestors of L2 blocks proven from the settlement chain's
    /// verified state by final proposals only (resolved dispute games past
    /// the finality delay, outputs past the finalization period).
    RollupFinal,
    /// A rollup, by explicit choice: proposals not final yet are accepted
    /// past a minimum age; a challenger may still show one wrong.
    RollupMinAge,
}

impl TrustMode {
    /// Every mode, for metrics (bounded label values).
    pub const ALL: [TrustMode; 6] = [
        TrustMode::Beacon,
        TrustMode::Cometbft,
        TrustMode::HeaderChainQuorum,
        TrustMode::SingleEndpoint,
        TrustMode::RollupFinal,
        TrustMode::RollupMinAge,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            TrustMode::Beacon => "beacon",
            TrustMode::Cometbft => "cometbft",
            TrustMode::HeaderChainQuorum => "header_chain_quorum",
            TrustMode::SingleEndpoint => "single_endpoint",
            TrustMode::RollupFinal => "rollup_final",
            TrustMode::RollupMinAge => "rollup_min_age",
        }
    }
}

/// EIP-155 chain ids of public Ethereum networks, where header-chain mode
/// is refused without an explicit override: the beacon light client proves
/// their blocks, endpoint agreement only counts votes.
pub const PUBLIC_ETHEREUM_CHAIN_IDS: &[(u64, &str)] = &[
    (1, "Ethereum mainnet"),
    (11_155_111, "Sepolia"),
    (17_000, "Holesky"),
    (560_048, "Hoodi"),
];

/// The beacon light client of an Ethereum origin.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BeaconConfig {
    /// Beacon API endpoints, tried in turn; each a URL, `{ env = "NAME" }`
    /// or `{ file = "/path" }`.
    #[schemars(schema_with = "schema::http_urls")]
    pub urls: Vec<String>,
    /// `mainnet`, `sepolia` or `holesky`: fork schedule, genesis validators
    /// root, genesis time; or `custom`, a devnet described in `custom`.
    #[schemars(schema_with = "schema::beacon_network")]
    pub network: String,
    /// With `network = "custom"`: the devnet's consensus parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<CustomNetwork>,
    /// A finalized beacon block root you trust (weak subjectivity), used on
    /// first start and whenever the persisted state is too old.
    #[schemars(schema_with = "schema::hex::<32>")]
    pub trusted_root: B256,
    /// Oldest checkpoint or persisted state the light client starts from,
    /// in seconds (default two weeks, inside the weak-subjectivity period).
    #[schemars(range(min = 3600, max = 30 * 24 * 3600))]
    #[serde(default = "default_max_checkpoint_age")]
    pub max_checkpoint_age_secs: u64,
    /// Pause between rounds, in ms (a slot is 12 s).
    #[schemars(range(min = 1000, max = 600_000))]
    #[serde(default = "default_beacon_poll")]
    pub poll_interval_ms: u64,
    /// Timeout of one beacon API request, in ms.
    #[schemars(range(min = 100, max = 120_000))]
    #[serde(default = "default_rpc_timeout")]
    pub timeout_ms: u64,
    /// The bound of one beacon API answer, in bytes (64 KiB to 1 GiB).
    #[schemars(range(min = *MAX_RESPONSE_RANGE.start(), max = *MAX_RESPONSE_RANGE.end()))]
    #[serde(default = "default_beacon_max_response")]
    pub max_response_bytes: usize,
}

fn default_beacon_max_response() -> usize {
    switchyard_beacon::DEFAULT_MAX_RESPONSE_BYTES
}

/// A devnet's consensus parameters (`network = "custom"`), as its
/// consensus-spec `config.yaml` and genesis state give them (Kurtosis'
/// ethereum-package, for instance, prints both).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomNetwork {
    /// `PRESET_BASE`: `mainnet` or `minimal`.
    #[schemars(schema_with = "schema::beacon_preset")]
    pub preset: String,
    /// The genesis state's `genesis_validators_root`, part of every
    /// signing domain.
    #[schemars(schema_with = "schema::hex::<32>")]
    pub genesis_validators_root: B256,
    /// The genesis state's `genesis_time`, in Unix seconds.
    pub genesis_time: u64,
    /// `SECONDS_PER_SLOT`.
    #[schemars(range(min = 1, max = 60))]
    #[serde(default = "default_seconds_per_slot")]
    pub seconds_per_slot: u64,
    /// The fork schedule: every fork from `phase0` in order, each with its
    /// `*_FORK_VERSION` and `*_FORK_EPOCH`, up to the last scheduled one
    /// (leave out the forks at `FAR_FUTURE_EPOCH`).
    #[schemars(schema_with = "schema::beacon_forks")]
    pub forks: Vec<CustomFork>,
}

/// One fork of a custom network's schedule.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomFork {
    /// `phase0`, `altair`, `bellatrix`, `capella`, `deneb`, `electra` or `fulu`.
    #[schemars(schema_with = "schema::beacon_fork")]
    pub fork: String,
    /// The fork version, 4 bytes (`"0x10000038"`).
    #[schemars(schema_with = "schema::hex::<4>")]
    pub version: alloy_primitives::FixedBytes<4>,
    /// The epoch the fork activates at.
    pub epoch: u64,
}

fn default_seconds_per_slot() -> u64 {
    12
}

fn default_max_checkpoint_age() -> u64 {
    14 * 24 * 3600
}
fn default_beacon_poll() -> u64 {
    12_000
}

fn default_confirmations() -> u64 {
    2
}
fn default_poll() -> u64 {
    500
}
fn default_rpc_timeout() -> u64 {
    10_000
}
fn default_delivery_confirmations() -> u64 {
    64
}
fn default_max_fee() -> u64 {
    500
}
fn default_low_balance() -> f64 {
    0.1
}
fn default_replace_after() -> u64 {
    30_000
}
fn default_fee_bump() -> u64 {
    125
}
fn default_max_batch_gas() -> u64 {
    15_000_000
}
fn default_max_batch_bytes() -> usize {
    96 * 1024
}

impl ChainConfig {
    /// Poll interval.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    /// How this origin's blocks are trusted.
    pub fn trust_mode(&self) -> TrustMode {
        if let Some(r) = &self.rollup {
            return r.trust_mode();
        }
        match (&self.beacon, self.trust) {
            (Some(_), _) => TrustMode::Beacon,
            (None, HeaderTrust::Quorum) => TrustMode::HeaderChainQuorum,
            (None, HeaderTrust::SingleEndpoint) => TrustMode::SingleEndpoint,
        }
    }

    /// Endpoints that must agree on a block before it is routed: 1 when
    /// routing needs no agreement (a beacon anchor, or one trusted source).
    pub fn quorum(&self) -> usize {
        match self.trust_mode() {
            TrustMode::HeaderChainQuorum => self.min_agreeing(),
            _ => 1,
        }
    }

    fn min_agreeing(&self) -> usize {
        self.min_agreeing_endpoints.unwrap_or(DEFAULT_MIN_AGREEING)
    }

    /// Whether messages are delivered to this chain: it has an Inbox
    /// (validation requires a submitter key with it).
    pub fn is_destination(&self) -> bool {
        self.inbox.is_some()
    }
}

const DEFAULT_MIN_AGREEING: usize = 2;

fn default_evm_max_response() -> usize {
    switchyard_evm::rpc::DEFAULT_MAX_RESPONSE_BYTES
}

impl ChainConfig {
    /// The trust settings of `chains[i]`: a quorum needs that many distinct
    /// endpoints, and a public Ethereum network needs its beacon anchor.
    fn validate_trust(&self, i: usize) -> Result<(), ConfigError> {
        let p = |k: &str| format!("chains[{i}].{k}");
        let mode = self.trust_mode();
        if self.min_agreeing_endpoints.is_some() && mode != TrustMode::HeaderChainQuorum {
            return Err(cfg_err(
                p("min_agreeing_endpoints"),
                format!(
                    "expected only with trust = \"quorum\" and neither [chains.beacon] nor [chains.rollup], got it on a chain trusted as {}: remove the key",
                    mode.as_str()
                ),
            ));
        }
        if self.rollup.is_some() {
            if self.beacon.is_some() {
                return Err(cfg_err(
                    p("beacon"),
                    "expected either [chains.beacon] or [chains.rollup], got both: a rollup's blocks are proven from the chain it settles on",
                ));
            }
            // Its endpoints are trusted for liveness only.
            return Ok(());
        }
        if self.beacon.is_some() {
            return Ok(());
        }
        if let Some((_, network)) = PUBLIC_ETHEREUM_CHAIN_IDS
            .iter()
            .find(|(id, _)| *id == self.chain_id)
            && !self.allow_header_chain_on_public_network
        {
            return Err(cfg_err(
                p("beacon"),
                format!(
                    "chain_id {} is {network}: expected a [chains.beacon] section (the beacon light client proves its blocks); header-chain mode on a public network only counts endpoint votes, set allow_header_chain_on_public_network = true to accept that",
                    self.chain_id
                ),
            ));
        }
        if self.trust == HeaderTrust::SingleEndpoint {
            return Ok(());
        }
        let n = self.rpc_urls.len();
        let quorum = self.min_agreeing();
        if !(2..=n.max(2)).contains(&quorum) {
            return Err(cfg_err(
                p("min_agreeing_endpoints"),
                format!(
                    "expected 2..={} (the number of rpc_urls), got {quorum}",
                    n.max(2),
                ),
            ));
        }
        if n < quorum {
            return Err(cfg_err(
                p("rpc_urls"),
                format!(
                    "trust = \"quorum\" needs at least min_agreeing_endpoints = {quorum} independent endpoints, got {n}: add endpoints of other providers, or set trust = \"single_endpoint\" to trust one source (it can then forge messages)",
                ),
            ));
        }
        for (k, u) in self.rpc_urls.iter().enumerate() {
            if self.rpc_urls[..k].contains(u) {
                return Err(cfg_err(
                    format!("chains[{i}].rpc_urls[{k}]"),
                    "expected distinct endpoints for a quorum, got a URL listed twice",
                ));
            }
        }
        Ok(())
    }
}

/// Keys whose values are floats; a float anywhere else is refused.
const FLOAT_KEYS: &[&str] = &["low_balance_eth"];

/// Keys whose values are booleans; a boolean anywhere else is refused.
const BOOL_KEYS: &[&str] = &[
    "enabled",
    "allow_header_chain_on_public_network",
    "accept_anchor_state",
    "legacy_factory_layout",
];

/// The `config` crate converts loosely where serde would refuse: a float
/// given for an integer is rounded and saturated (`chain_id = 1.5` reads as
/// 2, `chain_id = 37e37` as `u64::MAX`), and a boolean reads as 0 or 1 or
/// `"true"`. No integer or string field wants that, so a float outside
/// [`FLOAT_KEYS`] and a boolean outside [`BOOL_KEYS`] are refused
/// with their path before serde sees them. Found by the `config_toml` fuzz
/// target (`chain_id = 37e37` was accepted as 18446744073709551615).
fn refuse_loose_types(path: &str, key: &str, v: &config::Value) -> Result<(), ConfigError> {
    match &v.kind {
        config::ValueKind::Float(f) if !FLOAT_KEYS.contains(&key) => Err(cfg_err(
            path,
            format!("expected an integer or a string, got the float {f}"),
        )),
        config::ValueKind::Boolean(b) if !BOOL_KEYS.contains(&key) => Err(cfg_err(
            path,
            format!("expected a number or a string, got the boolean {b}"),
        )),
        config::ValueKind::Table(table) => table
            .iter()
            .try_for_each(|(k, v)| refuse_loose_types(&format!("{path}.{k}"), k, v)),
        config::ValueKind::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| refuse_loose_types(&format!("{path}[{i}]"), key, v)),
        _ => Ok(()),
    }
}

impl Config {
    /// Loads `path` (TOML) with environment overrides, then validates.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::load_resolved(path).map(|(c, _)| c)
    }

    /// [`Config::load`], and where each endpoint URL given by reference was
    /// read from (for `config check`; never the value).
    pub fn load_resolved(path: &Path) -> Result<(Self, Loaded), ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| cfg_err(&file, e.to_string()))?;
        let mut vars = Vec::new();
        for (name, value) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if !name.starts_with(load::ENV_PREFIX) {
                continue;
            }
            if !name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                return Err(cfg_err(
                    format!("environment variable {name}"),
                    "expected a name of [A-Z0-9_] (SWITCHYARD__SECTION__KEY)",
                ));
            }
            let Some(value) = value.to_str() else {
                return Err(cfg_err(
                    format!("environment variable {name}"),
                    "expected a UTF-8 value, got other bytes",
                ));
            };
            vars.push((name.into_owned(), value.to_owned()));
        }
        Self::parse(&text, &file, vars)
    }

    /// Parses TOML text without environment overrides (tests, `config check`).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Self::parse(text, "<toml>", Vec::new()).map(|(c, _)| c)
    }

    /// Parses `text` (from `origin`), lays the overrides `vars` over it,
    /// resolves endpoint references, then deserializes and validates.
    fn parse(
        text: &str,
        origin: &str,
        vars: Vec<(String, String)>,
    ) -> Result<(Self, Loaded), ConfigError> {
        refuse_odd_keys(text, origin)?;
        let mut tree = text
            .parse::<toml::Table>()
            .map_err(|e| cfg_err(origin, e.to_string()))?;
        load::apply_env(&mut tree, vars)?;
        let refs = load::resolve_endpoints(&mut tree)?;
        let warnings = load::former_names(&tree);
        let tree = toml::Value::Table(tree);
        check_keys("", &tree)?;
        load::check_hex("", &tree)?;
        Ok((
            Self::from_value(load::to_config_value(tree))?,
            Loaded { refs, warnings },
        ))
    }

    fn from_value(value: config::Value) -> Result<Self, ConfigError> {
        if let config::ValueKind::Table(t) = &value.kind {
            for (key, v) in t {
                refuse_loose_types(key, key, v)?;
            }
        }
        // serde_path_to_error gives "unknown field `x`" its path.
        let cfg: Self = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = load::dotted(e.path());
            cfg_err(path, load::plain_reason(e.into_inner().to_string()))
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Which keys the role needs, and which it must not hold: an attester
    /// signs with `attester_key` and must not hold the queue key (the hub's
    /// lanes are not its input); every other role needs the queue key; a
    /// hub signs with `attester_key` unless its `[[attesters]]` sign.
    fn validate_keys(&self) -> Result<(), ConfigError> {
        if let Some(k) = &self.attester_key {
            k.check("attester_key")?;
        }
        if let Some(k) = &self.queue_key {
            k.check("queue_key")?;
        }
        let attester = self.role == Role::Attester;
        if attester {
            if self.queue_key.is_some() || !self.accepted_queue_keys.is_empty() {
                return Err(cfg_err(
                    "queue_key",
                    "expected none in role attester: an attester verifies messages with its own light clients and must not hold the key that writes the hub's lanes; got one",
                ));
            }
            if self.attester_key.is_none() {
                return Err(cfg_err(
                    "attester_key",
                    "expected the key this attester signs with in role attester, got none",
                ));
            }
            if self.attestation.tokens.is_empty() {
                return Err(cfg_err(
                    "attestation.tokens",
                    "expected at least one bearer token in role attester (one per dispatcher operator), got none",
                ));
            }
            if !self.attesters.is_empty() {
                return Err(cfg_err(
                    "attesters",
                    "expected none in role attester (an attester asks no other attester), got some",
                ));
            }
        } else if self.queue_key.is_none() {
            return Err(cfg_err(
                "queue_key",
                format!(
                    "expected the lane HMAC key in role {:?}, got none",
                    self.role
                ),
            ));
        }
        if self.role.dispatches() && self.attesters.is_empty() && self.attester_key.is_none() {
            return Err(cfg_err(
                "attester_key",
                "expected the key this hub signs batches with, or [[attesters]] that sign them, got neither",
            ));
        }
        for (i, t) in self.attestation.tokens.iter().enumerate() {
            t.check(&format!("attestation.tokens[{i}]"))?;
        }
        in_range(
            "attestation.window_secs",
            self.attestation.window_secs,
            60..=u64::MAX,
        )?;
        in_range(
            "attestation.max_messages",
            self.attestation.max_messages,
            1..=10_000,
        )?;
        in_range(
            "dispatcher.attestation_timeout_ms",
            self.dispatcher.attestation_timeout_ms,
            100..=60_000,
        )?;
        for (i, a) in self.attesters.iter().enumerate() {
            let p = |k: &str| format!("attesters[{i}].{k}");
            check_name(p("name"), &a.name)?;
            unique(
                p("name"),
                &a.name,
                "attesters",
                "name",
                &self.attesters[..i],
                |o| &o.name,
            )?;
            if !a.url.starts_with("http://") && !a.url.starts_with("https://") {
                return Err(cfg_err(
                    p("url"),
                    format!(
                        "expected http:// or https://, got {:?}",
                        switchyard_types::redact::endpoint(&a.url)
                    ),
                ));
            }
            a.token.check(&p("token"))?;
            pair(
                (&p("client_cert_file"), &a.client_cert_file),
                (&p("client_key"), &a.client_key),
            )?;
            if a.client_cert_file.is_some() && !a.url.starts_with("https://") {
                return Err(cfg_err(
                    p("url"),
                    "expected https:// with client_cert_file (a client certificate is presented in a TLS handshake), got http://",
                ));
            }
        }
        if !attester
            && (self.attestation.listen.is_some() || self.attestation.tls_cert_file.is_some())
        {
            return Err(cfg_err(
                "attestation.listen",
                format!(
                    "expected none in role {:?} (only an attester serves POST /v1/attest), got one",
                    self.role
                ),
            ));
        }
        self.attestation.validate()?;
        Ok(())
    }

    /// Range and consistency checks serde cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.redis.url.starts_with("redis://") && !self.redis.url.starts_with("rediss://") {
            return Err(cfg_err(
                "redis.url",
                format!("expected redis:// or rediss://, got {:?}", self.redis.url),
            ));
        }
        if self.redis.key_prefix.is_empty() || self.redis.key_prefix.contains(['{', '}', ' ']) {
            return Err(cfg_err(
                "redis.key_prefix",
                "expected a non-empty prefix without braces or spaces",
            ));
        }
        self.tls.validate()?;
        self.validate_keys()?;
        for (i, k) in self.accepted_queue_keys.iter().enumerate() {
            k.check(&format!("accepted_queue_keys[{i}]"))?;
        }
        if let Some(t) = &self.admin_token {
            t.check("admin_token")?;
        }
        for (i, t) in self.accepted_admin_tokens.iter().enumerate() {
            t.check(&format!("accepted_admin_tokens[{i}]"))?;
        }
        if self.admin_token.is_none() && !self.accepted_admin_tokens.is_empty() {
            return Err(cfg_err(
                "accepted_admin_tokens",
                "expected admin_token too: accepted tokens extend the admin token, got none",
            ));
        }
        in_range(
            "redis.wait_replicas",
            u64::from(self.redis.wait_replicas),
            0..=16,
        )?;
        in_range(
            "redis.wait_timeout_ms",
            self.redis.wait_timeout_ms,
            10..=60_000,
        )?;
        for (i, n) in self.redis.cluster_nodes.iter().enumerate() {
            if !n.starts_with("redis://") && !n.starts_with("rediss://") {
                return Err(cfg_err(
                    format!("redis.cluster_nodes[{i}]"),
                    format!("expected redis:// or rediss://, got {n:?}"),
                ));
            }
        }
        let d = &self.dispatcher;
        in_range(
            "dispatcher.max_batch_bytes",
            d.max_batch_bytes,
            1024..=1024 * 1024,
        )?;
        in_range(
            "dispatcher.stuck_after_ms",
            d.stuck_after_ms,
            10_000..=86_400_000,
        )?;
        in_range(
            "dispatcher.max_batch_messages",
            d.max_batch_messages,
            1..=2000,
        )?;
        in_range("dispatcher.max_in_flight", d.max_in_flight, 1..=64)?;
        if d.max_wait_ms > 60_000 {
            return Err(cfg_err(
                "dispatcher.max_wait_ms",
                format!("expected at most 60000, got {}", d.max_wait_ms),
            ));
        }
        in_range("dispatcher.lane_shards", d.lane_shards, 1..=1024)?;
        in_range("dispatcher.workers", d.workers, 1..=64)?;
        in_range(
            "status.retention_secs",
            self.status.retention_secs,
            60..=90 * 86_400,
        )?;
        in_range("status.buffer", self.status.buffer, 1_000..=10_000_000)?;
        in_range(
            "status.rate_limit_per_sec",
            self.status.rate_limit_per_sec,
            0..=100_000,
        )?;
        in_range(
            "status.rate_limit_burst",
            self.status.rate_limit_burst,
            1..=100_000,
        )?;
        if self.http.admin_listen == Some(self.http.listen) && self.http.listen.port() != 0 {
            return Err(cfg_err(
                "http.admin_listen",
                format!(
                    "expected an address other than http.listen, got the same {}",
                    self.http.listen
                ),
            ));
        }
        in_range("dispatcher.lease_ttl_ms", d.lease_ttl_ms, 500..=600_000)?;
        if d.max_backlog_entries == 0 {
            return Err(cfg_err(
                "dispatcher.max_backlog_entries",
                "expected at least 1, got 0",
            ));
        }
        in_range("dispatcher.retry_base_ms", d.retry_base_ms, 1..=600_000)?;
        if d.max_attempts == 0 {
            return Err(cfg_err(
                "dispatcher.max_attempts",
                "expected at least 1, got 0",
            ));
        }
        if self.chains.is_empty() {
            return Err(cfg_err("chains", "expected at least one chain, got none"));
        }
        if d.max_entry_age_ms == 0 {
            return Err(cfg_err(
                "dispatcher.max_entry_age_ms",
                "expected at least 1, got 0",
            ));
        }
        for (i, c) in self.chains.iter().enumerate() {
            let p = |k: &str| format!("chains[{i}].{k}");
            check_name(p("name"), &c.name)?;
            if c.chain_id == 0 {
                return Err(cfg_err(
                    p("chain_id"),
                    "expected an EIP-155 chain id of at least 1, got 0",
                ));
            }
            unique(
                p("name"),
                &c.name,
                "chains",
                "name",
                &self.chains[..i],
                |o| &o.name,
            )?;
            unique(
                p("domain"),
                &c.domain,
                "chains",
                "domain",
                &self.chains[..i],
                |o| &o.domain,
            )?;
            if c.rpc_urls.is_empty() {
                return Err(cfg_err(
                    p("rpc_urls"),
                    "expected at least one URL, got none",
                ));
            }
            if let Some(b) = &c.beacon {
                if b.urls.is_empty() {
                    return Err(cfg_err(
                        p("beacon.urls"),
                        "expected at least one URL, got none",
                    ));
                }
                if let Some(u) = b
                    .urls
                    .iter()
                    .find(|u| !u.starts_with("http://") && !u.starts_with("https://"))
                {
                    return Err(cfg_err(
                        p("beacon.urls"),
                        format!(
                            "expected http:// or https:// URLs, got {:?}",
                            switchyard_types::redact::endpoint(u)
                        ),
                    ));
                }
                beacon::Network::from_config(b, &p("beacon"))?;
                if !(3600..=30 * 24 * 3600).contains(&b.max_checkpoint_age_secs) {
                    return Err(cfg_err(
                        p("beacon.max_checkpoint_age_secs"),
                        format!(
                            "expected 3600..=2592000 (the weak-subjectivity period is about two weeks), got {}",
                            b.max_checkpoint_age_secs
                        ),
                    ));
                }
                in_range(
                    p("beacon.poll_interval_ms"),
                    b.poll_interval_ms,
                    1000..=600_000,
                )?;
                in_range(p("beacon.timeout_ms"), b.timeout_ms, 100..=120_000)?;
                in_range(
                    p("beacon.max_response_bytes"),
                    b.max_response_bytes,
                    MAX_RESPONSE_RANGE,
                )?;
            }
            for (k, u) in c.rpc_urls.iter().enumerate() {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return Err(cfg_err(
                        format!("chains[{i}].rpc_urls[{k}]"),
                        "expected an http:// or https:// URL",
                    ));
                }
            }
            c.validate_trust(i)?;
            if let Some(r) = &c.rollup {
                let chains: Vec<(&str, bool)> = self
                    .chains
                    .iter()
                    .map(|o| (o.name.as_str(), o.rollup.is_some()))
                    .collect();
                r.check(&p("rollup"), &c.name, &chains)?;
            }
            if c.confirmations > 1024 {
                return Err(cfg_err(
                    p("confirmations"),
                    format!("expected at most 1024, got {}", c.confirmations),
                ));
            }
            in_range(p("poll_interval_ms"), c.poll_interval_ms, 10..=60_000)?;
            in_range(p("rpc_timeout_ms"), c.rpc_timeout_ms, 100..=120_000)?;
            in_range(
                p("max_response_bytes"),
                c.max_response_bytes,
                MAX_RESPONSE_RANGE,
            )?;
            if c.max_fee_gwei == 0 {
                return Err(cfg_err(p("max_fee_gwei"), "expected at least 1, got 0"));
            }
            in_range(p("replace_after_ms"), c.replace_after_ms, 500..=3_600_000)?;
            in_range(p("max_batch_gas"), c.max_batch_gas, 200_000..=100_000_000)?;
            if !(110..=300).contains(&c.replacement_fee_percent) {
                return Err(cfg_err(
                    p("replacement_fee_percent"),
                    format!(
                        "expected 110..=300, the replacement's fees in percent of the replaced transaction's (125 = +25%; nodes refuse under 110), got {}",
                        c.replacement_fee_percent
                    ),
                ));
            }
            if c.delivery_confirmations > 1024 {
                return Err(cfg_err(
                    p("delivery_confirmations"),
                    format!("expected at most 1024, got {}", c.delivery_confirmations),
                ));
            }
            match (&c.inbox, &c.submitter_key) {
                // An attester signs for the destination and sends nothing.
                (Some(_), None) if self.role != Role::Attester => {
                    return Err(cfg_err(
                        p("submitter_key"),
                        "expected a submitter key with inbox (the chain is a destination: its deliveries need a paying account), got none",
                    ));
                }
                (None, _) if !c.extra_submitter_keys.is_empty() => {
                    return Err(cfg_err(
                        p("extra_submitter_keys"),
                        "expected none on a chain without inbox (an origin only, never a destination), got some: set inbox, or remove the keys",
                    ));
                }
                _ => {}
            }
            if let Some(key) = &c.submitter_key {
                key.check(&p("submitter_key"))?;
            }
            for (k, key) in c.extra_submitter_keys.iter().enumerate() {
                key.check(&p(&format!("extra_submitter_keys[{k}]")))?;
            }
            if !(c.low_balance_eth.is_finite() && c.low_balance_eth >= 0.0) {
                return Err(cfg_err(
                    p("low_balance_eth"),
                    format!("expected a finite number >= 0, got {}", c.low_balance_eth),
                ));
            }
        }
        self.validate_cometbft_origins()?;
        for (i, g) in self.route_groups.iter().enumerate() {
            let p = |k: &str| format!("route_groups[{i}].{k}");
            check_name(p("name"), &g.name)?;
            if let Some(j) = self.chains.iter().position(|c| c.domain == g.domain) {
                return Err(cfg_err(
                    p("domain"),
                    format!("{} is chains[{j}]'s own domain", g.domain),
                ));
            }
            if let Some(j) = self.route_groups[..i]
                .iter()
                .position(|o| o.domain == g.domain || o.name == g.name)
            {
                return Err(cfg_err(
                    p("domain"),
                    format!("duplicate of route_groups[{j}]"),
                ));
            }
            if g.members.is_empty() {
                return Err(cfg_err(
                    p("members"),
                    "expected at least one member, got none",
                ));
            }
            for (k, m) in g.members.iter().enumerate() {
                let Some(c) = self.chain_by_name(&m.chain) else {
                    return Err(cfg_err(
                        format!("route_groups[{i}].members[{k}].chain"),
                        format!(
                            "expected the name of one of chains ({}), got {:?}",
                            self.chains
                                .iter()
                                .map(|c| c.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                            m.chain
                        ),
                    ));
                };
                if !c.is_destination() {
                    return Err(cfg_err(
                        format!("route_groups[{i}].members[{k}].chain"),
                        format!(
                            "expected a destination chain (with inbox and submitter_key), got {:?}, an origin only: give it inbox and submitter_key, or leave it out of the group",
                            m.chain
                        ),
                    ));
                }
                in_range(
                    format!("route_groups[{i}].members[{k}].weight"),
                    m.weight,
                    1..=1000,
                )?;
                if g.members[..k].iter().any(|o| o.chain == m.chain) {
                    return Err(cfg_err(
                        format!("route_groups[{i}].members[{k}].chain"),
                        "listed twice",
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_cometbft_origins(&self) -> Result<(), ConfigError> {
        for (i, c) in self.cometbft_origins.iter().enumerate() {
            let p = |k: &str| format!("cometbft_origins[{i}].{k}");
            let earlier = &self.cometbft_origins[..i];
            check_name(p("name"), &c.name)?;
            unique(p("name"), &c.name, "chains", "name", &self.chains, |o| {
                &o.name
            })?;
            unique(
                p("name"),
                &c.name,
                "cometbft_origins",
                "name",
                earlier,
                |o| &o.name,
            )?;
            unique(
                p("domain"),
                &c.domain,
                "chains",
                "domain",
                &self.chains,
                |o| &o.domain,
            )?;
            unique(
                p("domain"),
                &c.domain,
                "route_groups",
                "domain",
                &self.route_groups,
                |g| &g.domain,
            )?;
            unique(
                p("domain"),
                &c.domain,
                "cometbft_origins",
                "domain",
                earlier,
                |o| &o.domain,
            )?;
            if c.rpc_urls.is_empty() {
                return Err(cfg_err(
                    p("rpc_urls"),
                    "expected at least one URL, got none",
                ));
            }
            for (k, u) in c.rpc_urls.iter().enumerate() {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return Err(cfg_err(
                        format!("cometbft_origins[{i}].rpc_urls[{k}]"),
                        format!(
                            "expected an http:// or https:// URL, got {:?}",
                            switchyard_types::redact::endpoint(u)
                        ),
                    ));
                }
            }
            if c.trusted_height == 0 {
                return Err(cfg_err(p("trusted_height"), "expected at least 1, got 0"));
            }
            if let Err(e) = c.trusted_hash() {
                return Err(cfg_err(
                    p("trusted_hash"),
                    format!("expected {}, got {}", e.expected, e.got),
                ));
            }
            if !(60..=365 * 24 * 3600).contains(&c.trusting_period_secs) {
                return Err(cfg_err(
                    p("trusting_period_secs"),
                    format!(
                        "expected 60..=31536000 (below the chain's unbonding period), got {}",
                        c.trusting_period_secs
                    ),
                ));
            }
            if let Err(e) = switchyard_lc_cometbft::parse_trust_threshold(&c.trust_threshold) {
                return Err(cfg_err(p("trust_threshold"), e.to_string()));
            }
            if c.clock_drift_secs > 600 {
                return Err(cfg_err(
                    p("clock_drift_secs"),
                    format!("expected 0..=600, got {}", c.clock_drift_secs),
                ));
            }
            in_range(p("poll_interval_ms"), c.poll_interval_ms, 100..=600_000)?;
            in_range(p("rpc_timeout_ms"), c.rpc_timeout_ms, 100..=120_000)?;
            in_range(
                p("max_response_bytes"),
                c.max_response_bytes,
                MAX_RESPONSE_RANGE,
            )?;
        }
        Ok(())
    }

    /// The chain named `name`.
    pub fn chain_by_name(&self, name: &str) -> Option<&ChainConfig> {
        self.chains.iter().find(|c| c.name == name)
    }

    /// The chain with `domain`.
    pub fn chain_by_domain(&self, domain: u32) -> Option<&ChainConfig> {
        self.chains.iter().find(|c| c.domain == domain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> String {
        r#"
attester_key = { env = "SY_ATTESTER" }
queue_key = { env = "SY_QUEUE_KEY" }
[redis]
url = "redis://127.0.0.1:6379"
[[chains]]
name = "alpha"
domain = 1000
chain_id = 31337
rpc_urls = ["http://127.0.0.1:8545", "http://127.0.0.1:8546"]
mailbox = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
inbox = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
submitter_key = { file = "/run/secrets/alpha" }
checkpoint = { number = 0, hash = "0x0000000000000000000000000000000000000000000000000000000000000001" }
"#
        .to_owned()
    }

    #[test]
    fn header_chain_mode_needs_a_quorum_or_an_explicit_single_endpoint() {
        let c = Config::from_toml(&sample()).expect("two endpoints, the default quorum of 2");
        assert_eq!(c.chains[0].trust_mode(), TrustMode::HeaderChainQuorum);
        assert_eq!(c.chains[0].quorum(), 2);
        let one = sample().replace(", \"http://127.0.0.1:8546\"", "");
        let err = Config::from_toml(&one).expect_err("one endpoint, no explicit trust");
        assert_eq!(err.path, "chains[0].rpc_urls", "{err}");
        assert!(
            err.reason.contains("min_agreeing_endpoints = 2") && err.reason.contains("got 1"),
            "{err}"
        );
        let single = one.replace(
            "chain_id = 31337",
            "chain_id = 31337\ntrust = \"single_endpoint\"",
        );
        let c = Config::from_toml(&single).expect("single endpoint by explicit choice");
        assert_eq!(c.chains[0].trust_mode(), TrustMode::SingleEndpoint);
        assert_eq!(c.chains[0].quorum(), 1);
        let twice = sample().replace("8546", "8545");
        let err = Config::from_toml(&twice).expect_err("the same endpoint twice");
        assert_eq!(err.path, "chains[0].rpc_urls[1]", "{err}");
        let three = sample().replace(
            "chain_id = 31337",
            "chain_id = 31337\nmin_agreeing_endpoints = 3",
        );
        let err = Config::from_toml(&three).expect_err("a quorum larger than the endpoints");
        assert_eq!(err.path, "chains[0].min_agreeing_endpoints", "{err}");
        assert!(
            err.reason.contains("expected 2..=2") && err.reason.contains("got 3"),
            "{err}"
        );
        let typo = sample().replace("chain_id = 31337", "chain_id = 31337\ntrust = \"relaxed\"");
        assert!(Config::from_toml(&typo).is_err(), "an unknown trust mode");
    }

    #[test]
    fn public_ethereum_networks_refuse_header_chain_mode_without_an_override() {
        for (id, name) in PUBLIC_ETHEREUM_CHAIN_IDS {
            let text = sample().replace("chain_id = 31337", &format!("chain_id = {id}"));
            let err = Config::from_toml(&text).expect_err(name);
            assert_eq!(err.path, "chains[0].beacon", "{err}");
            assert!(err.reason.contains(name), "{err}");
            let allowed = text.replace(
                &format!("chain_id = {id}"),
                &format!("chain_id = {id}\nallow_header_chain_on_public_network = true"),
            );
            Config::from_toml(&allowed).expect("the override is explicit");
        }
    }

    /// Regression (fuzz target `config_toml`, out of memory): a quoted key
    /// the `config` crate would read as a path with an array index.
    #[test]
    fn keys_that_read_as_paths_are_refused_before_parsing() {
        let err = Config::from_toml("[\"6[-11984684]\"]\n").expect_err("odd key");
        assert_eq!(err.path, "6[-11984684]");
        let text = sample().replace("chain_id = 31337", "chain_id = 31337\n\"a.b\" = 1");
        let err = Config::from_toml(&text).expect_err("dotted key");
        assert_eq!(err.path, "chains[0].a.b", "{err}");
        assert!(err.reason.contains("[a-z0-9_]"), "{err}");
    }

    /// Regression (fuzz target `config_toml`): the `config` crate rounded a
    /// float into an integer field and saturated it (`37e37` became
    /// `u64::MAX`); floats outside float fields and booleans are refused.
    #[test]
    fn floats_and_booleans_for_integers_are_refused_with_the_path() {
        for (value, got) in [
            ("1.5", "float 1.5"),
            ("37e37", "float"),
            ("true", "boolean true"),
        ] {
            let text = sample().replace("chain_id = 31337", &format!("chain_id = {value}"));
            let err = Config::from_toml(&text).expect_err(value);
            assert_eq!(err.path, "chains[0].chain_id", "{err}");
            assert!(err.reason.contains(got), "{err}");
        }
        let text = sample().replace("[redis]", "dispatcher = { max_wait_ms = 2.0 }\n[redis]");
        let err = Config::from_toml(&text).expect_err("float wait");
        assert_eq!(err.path, "dispatcher.max_wait_ms", "{err}");
        let text = sample().replace(
            "chain_id = 31337",
            "chain_id = 31337\nlow_balance_eth = 0.5",
        );
        let c = Config::from_toml(&text).expect("a float where a float belongs");
        assert_eq!(c.chains[0].low_balance_eth, 0.5);
    }

    #[test]
    fn shipped_example_config_is_valid() {
        let c = Config::from_toml(include_str!("../../../deploy/hub.example.toml"))
            .expect("deploy/hub.example.toml must stay valid");
        assert_eq!(c.chains.len(), 2);
        assert!(c.admin_token.is_some());
    }

    #[test]
    fn sample_parses_with_defaults() {
        let c = Config::from_toml(&sample()).expect("valid");
        assert_eq!(c.chains[0].confirmations, 2);
        assert_eq!(c.dispatcher.max_batch_messages, 200);
        assert_eq!(c.redis.key_prefix, "sy");
    }

    #[test]
    fn unknown_key_is_refused_with_its_path() {
        let text = sample().replace("chain_id = 31337", "chain_id = 31337\nconfirmation = 3");
        let err = Config::from_toml(&text).expect_err("unknown key");
        assert!(
            err.path.starts_with("chains[0]") || err.path.starts_with("chains.0"),
            "{err}"
        );
        assert!(err.reason.contains("confirmation"), "{err}");
    }

    #[test]
    fn out_of_range_value_is_refused_with_path_and_bounds() {
        let text = sample().replace("chain_id = 31337", "chain_id = 31337\npoll_interval_ms = 5");
        let err = Config::from_toml(&text).expect_err("too small");
        assert_eq!(err.path, "chains[0].poll_interval_ms");
        assert!(err.reason.contains("got 5"), "{err}");
    }

    #[test]
    fn delivery_knobs_parse_and_are_range_checked_with_their_path() {
        let text = sample().replace(
            "chain_id = 31337",
            "chain_id = 31337\nextra_submitter_keys = [{ env = \"K2\" }, { file = \"/k3\" }]\nlow_balance_eth = 0.5\nreplace_after_ms = 2000\nfee_bump_percent = 150",
        );
        let c = Config::from_toml(&text).expect("valid");
        assert_eq!(c.chains[0].extra_submitter_keys.len(), 2);
        assert!((c.chains[0].low_balance_eth - 0.5).abs() < 1e-12);
        assert_eq!(
            (
                c.chains[0].replace_after_ms,
                c.chains[0].replacement_fee_percent
            ),
            (2000, 150)
        );
        let defaults = Config::from_toml(&sample()).expect("valid");
        assert_eq!(defaults.chains[0].replacement_fee_percent, 125);
        for (from, to, path) in [
            (
                "fee_bump_percent = 150",
                "fee_bump_percent = 105",
                "chains[0].replacement_fee_percent",
            ),
            (
                "replace_after_ms = 2000",
                "replace_after_ms = 10",
                "chains[0].replace_after_ms",
            ),
            (
                "low_balance_eth = 0.5",
                "low_balance_eth = -1.0",
                "chains[0].low_balance_eth",
            ),
            (
                "{ file = \"/k3\" }",
                "{ }",
                "chains[0].extra_submitter_keys[1]",
            ),
        ] {
            let err = Config::from_toml(&text.replace(from, to)).expect_err(to);
            assert_eq!(err.path, path, "{err}");
        }
    }

    #[test]
    fn secret_ref_needs_exactly_one_source_and_never_prints_the_value() {
        let text = sample().replace(r#"{ env = "SY_ATTESTER" }"#, "{}");
        let err = Config::from_toml(&text).expect_err("no source");
        assert_eq!(err.path, "attester_key");
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("k");
        std::fs::write(&f, "  super-secret-value\n").expect("write");
        let s = SecretRef::file(&f).resolve("x").expect("reads");
        assert_eq!(s.expose(), "super-secret-value");
        assert!(!format!("{s:?}").contains("super"));
    }

    #[test]
    fn a_beacon_anchor_parses_with_defaults_and_is_range_checked() {
        let beacon = "[chains.beacon]\nurls = [\"http://127.0.0.1:5052\"]\nnetwork = \"mainnet\"\ntrusted_root = \"0x5afc212a7924789b2bc86acad3ab3a6ffb1f6e97253ea50bee7f4f51422c9275\"\n";
        // A sub-table must follow its chain's own keys: insert it before
        // the next chain.
        let base = sample();
        let first = base.find("[[chains]]").expect("a chain");
        let end = base[first + 1..]
            .find("[[chains]]")
            .map_or(base.len(), |e| first + 1 + e);
        let text = format!("{}{beacon}{}", &base[..end], &base[end..]);
        let c = Config::from_toml(&text).expect("valid");
        let b = c.chains[0].beacon.as_ref().expect("beacon");
        assert_eq!(b.max_checkpoint_age_secs, 14 * 24 * 3600);
        assert_eq!(b.poll_interval_ms, 12_000);
        for (from, to, path) in [
            (
                "network = \"mainnet\"",
                "network = \"goerli\"",
                "chains[0].beacon.network",
            ),
            (
                "\"http://127.0.0.1:5052\"",
                "\"ftp://x\"",
                "chains[0].beacon.urls",
            ),
            (
                "network = \"mainnet\"",
                "network = \"mainnet\"\nmax_checkpoint_age_secs = 99999999",
                "chains[0].beacon.max_checkpoint_age_secs",
            ),
        ] {
            let err = Config::from_toml(&text.replace(from, to)).expect_err(to);
            assert_eq!(err.path, path, "{err}");
        }
        let err = Config::from_toml(
            &text.replace("network = \"mainnet\"", "network = \"mainnet\"\nbogus = 1"),
        )
        .expect_err("unknown key");
        assert!(err.to_string().contains("bogus"), "{err}");
    }

    #[test]
    fn a_custom_beacon_network_is_read_from_config_and_checked_key_by_key() {
        let forks = [
            "phase0",
            "altair",
            "bellatrix",
            "capella",
            "deneb",
            "electra",
        ]
        .iter()
        .enumerate()
        .map(|(i, f)| {
            format!(
                "{{ fork = \"{f}\", version = \"0x0{i}000038\", epoch = {} }}",
                i * 10
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
        let beacon = format!(
            "[chains.beacon]\nurls = [\"http://127.0.0.1:5052\"]\nnetwork = \"custom\"\ntrusted_root = \"0x5afc212a7924789b2bc86acad3ab3a6ffb1f6e97253ea50bee7f4f51422c9275\"\n[chains.beacon.custom]\npreset = \"minimal\"\ngenesis_validators_root = \"0x{}\"\ngenesis_time = 1700000000\nseconds_per_slot = 6\nforks = [{forks}]\n",
            "ab".repeat(32)
        );
        let base = sample();
        let first = base.find("[[chains]]").expect("a chain");
        let end = base[first + 1..]
            .find("[[chains]]")
            .map_or(base.len(), |e| first + 1 + e);
        let text = format!("{}{beacon}{}", &base[..end], &base[end..]);
        let c = Config::from_toml(&text).expect("valid");
        let b = c.chains[0].beacon.as_ref().expect("beacon");
        let n = beacon::Network::from_config(b, "x").expect("custom network");
        assert_eq!(n.spec.preset, switchyard_lc_beacon::Preset::MINIMAL);
        assert_eq!(
            n.spec.fork_at_epoch(50),
            switchyard_lc_beacon::Fork::Electra
        );
        assert_eq!(n.spec.fork_at_epoch(49), switchyard_lc_beacon::Fork::Deneb);
        assert_eq!(n.spec.fork_version_at_epoch(35), [3, 0, 0, 0x38]);
        assert_eq!((n.genesis_time, n.seconds_per_slot), (1_700_000_000, 6));
        assert_eq!(n.slots(3600), 600);
        for (from, to, path) in [
            (
                "preset = \"minimal\"",
                "preset = \"gnosis\"",
                "custom.preset",
            ),
            (
                "seconds_per_slot = 6",
                "seconds_per_slot = 0",
                "custom.seconds_per_slot",
            ),
            ("\"altair\"", "\"capella\"", "custom.forks[1].fork"),
            ("epoch = 0 }", "epoch = 1 }", "custom.forks[0].epoch"),
            ("epoch = 20 }", "epoch = 5 }", "custom.forks[2].epoch"),
            ("0x04000038", "0x03000038", "custom.forks[4].version"),
            (", { fork = \"capella\"", "] #", "custom.forks"),
            ("network = \"custom\"", "network = \"mainnet\"", "custom"),
            ("network = \"custom\"", "network = \"kurtosis\"", "network"),
        ] {
            let bad = text.replace(from, to);
            assert_ne!(bad, text, "{from}");
            let err = Config::from_toml(&bad).expect_err(to);
            assert_eq!(err.path, format!("chains[0].beacon.{path}"), "{err}");
        }
        // A custom network needs its table.
        let end_of_beacon = text.find("[chains.beacon.custom]").expect("custom table");
        let next = text[end_of_beacon..]
            .find("[[chains]]")
            .map_or(text.len(), |e| end_of_beacon + e);
        let bare = format!("{}{}", &text[..end_of_beacon], &text[next..]);
        let err = Config::from_toml(&bare).expect_err("no custom table");
        assert_eq!(err.path, "chains[0].beacon.custom", "{err}");
    }

    #[test]
    fn a_cometbft_origin_needs_no_evm_fields_and_is_range_checked() {
        let hash = "6F1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F9";
        let text = format!(
            "{}[[cometbft_origins]]\nname = \"cosmos\"\ndomain = 7000\nrpc_urls = [\"http://127.0.0.1:26657\"]\ntrusted_height = 5\ntrusted_hash = \"{hash}\"\ntrusting_period_secs = 1209600\n",
            sample()
        );
        let c = Config::from_toml(&text).expect("valid");
        let o = &c.cometbft_origins[0];
        assert_eq!(
            (
                o.trust_threshold.as_str(),
                o.clock_drift_secs,
                o.poll_interval_ms
            ),
            ("1/3", 10, 1000)
        );
        assert_eq!(
            o.trusted_hash().expect("hash").to_string(),
            hash,
            "upper-case hex, as CometBFT prints it"
        );
        let with_0x = text.replace(hash, &format!("0x{}", hash.to_lowercase()));
        assert!(Config::from_toml(&with_0x).is_ok());
        for (from, to, path) in [
            (
                "domain = 7000",
                "domain = 1000",
                "cometbft_origins[0].domain",
            ),
            (
                "name = \"cosmos\"",
                "name = \"alpha\"",
                "cometbft_origins[0].name",
            ),
            (
                "name = \"cosmos\"",
                "name = \"Cosmos\"",
                "cometbft_origins[0].name",
            ),
            (
                "\"http://127.0.0.1:26657\"",
                "\"tcp://x\"",
                "cometbft_origins[0].rpc_urls[0]",
            ),
            (
                "rpc_urls = [\"http://127.0.0.1:26657\"]",
                "rpc_urls = []",
                "cometbft_origins[0].rpc_urls",
            ),
            (
                "trusted_height = 5",
                "trusted_height = 0",
                "cometbft_origins[0].trusted_height",
            ),
            (hash, &hash[2..], "cometbft_origins[0].trusted_hash"),
            (hash, "not hex", "cometbft_origins[0].trusted_hash"),
            (
                "trusting_period_secs = 1209600",
                "trusting_period_secs = 10",
                "cometbft_origins[0].trusting_period_secs",
            ),
            (
                "trusting_period_secs = 1209600",
                "trusting_period_secs = 1209600\ntrust_threshold = \"1/4\"",
                "cometbft_origins[0].trust_threshold",
            ),
            (
                "trusting_period_secs = 1209600",
                "trusting_period_secs = 1209600\nclock_drift_secs = 601",
                "cometbft_origins[0].clock_drift_secs",
            ),
            (
                "trusting_period_secs = 1209600",
                "trusting_period_secs = 1209600\npoll_interval_ms = 99",
                "cometbft_origins[0].poll_interval_ms",
            ),
            (
                "trusting_period_secs = 1209600",
                "trusting_period_secs = 1209600\nrpc_timeout_ms = 120001",
                "cometbft_origins[0].rpc_timeout_ms",
            ),
        ] {
            let err = Config::from_toml(&text.replace(from, to)).expect_err(to);
            assert_eq!(err.path, path, "{to}: {err}");
        }
        let err = Config::from_toml(&text.replace(
            "trusted_height = 5",
            "trusted_height = 5\nmailbox = \"0x5FbDB2315678afecb367f032d93F642f64180aa3\"",
        ))
        .expect_err("an EVM key is unknown here");
        assert!(err.to_string().contains("mailbox"), "{err}");
    }

    #[test]
    fn rate_limit_and_admin_listen_parse_and_are_checked() {
        let c = Config::from_toml(&sample()).expect("valid");
        assert_eq!(
            (c.status.rate_limit_per_sec, c.status.rate_limit_burst),
            (20, 50)
        );
        assert_eq!(c.http.admin_listen, None);
        let with = |tables: &str| format!("{}{tables}", sample());
        let c = Config::from_toml(&with(
            "[status]\nrate_limit_per_sec = 0\nrate_limit_burst = 1\n[http]\nlisten = \"0.0.0.0:9464\"\nadmin_listen = \"127.0.0.1:9091\"\n",
        ))
        .expect("limit off, admin apart");
        assert_eq!(c.status.rate_limit_per_sec, 0);
        assert_eq!(
            c.http.admin_listen,
            Some(SocketAddr::from(([127, 0, 0, 1], 9091)))
        );
        for (tables, path) in [
            (
                "[status]\nrate_limit_burst = 0\n",
                "status.rate_limit_burst",
            ),
            (
                "[status]\nrate_limit_per_sec = 100001\n",
                "status.rate_limit_per_sec",
            ),
            (
                "[http]\nlisten = \"127.0.0.1:9464\"\nadmin_listen = \"127.0.0.1:9464\"\n",
                "http.admin_listen",
            ),
        ] {
            let err = Config::from_toml(&with(tables)).expect_err(tables);
            assert_eq!(err.path, path, "{err}");
            assert!(err.reason.contains("got"), "{err}");
        }
    }

    #[test]
    fn role_and_stuck_bound_parse_and_are_checked() {
        let c = Config::from_toml(&sample()).expect("valid");
        assert_eq!(c.role, Role::All);
        assert_eq!(c.dispatcher.stuck_after_ms, 300_000);
        let c = Config::from_toml(&format!("role = \"watcher\"\n{}", sample())).expect("valid");
        assert!(c.role.watches() && !c.role.dispatches());
        let err = Config::from_toml(&format!("role = \"relay\"\n{}", sample()))
            .expect_err("unknown role");
        assert!(err.reason.contains("relay"), "{err}");
        let text = format!("{}\n[dispatcher]\nstuck_after_ms = 5\n", sample());
        let err = Config::from_toml(&text).expect_err("too small");
        assert_eq!(err.path, "dispatcher.stuck_after_ms");
        assert!(err.reason.contains("got 5"), "{err}");
    }

    #[test]
    fn route_group_members_must_exist_and_weights_be_in_range() {
        let ok = sample()
            + "[[route_groups]]\nname = \"g\"\ndomain = 9000\npolicy = \"round_robin\"\nmembers = [{ chain = \"alpha\", weight = 2 }]\n";
        let c = Config::from_toml(&ok).expect("valid");
        assert_eq!(c.route_groups[0].policy, RoutePolicy::RoundRobin);
        let err = Config::from_toml(&ok.replace("chain = \"alpha\"", "chain = \"nope\""))
            .expect_err("unknown");
        assert_eq!(err.path, "route_groups[0].members[0].chain");
        let err = Config::from_toml(&ok.replace("weight = 2", "weight = 0")).expect_err("weight");
        assert_eq!(err.path, "route_groups[0].members[0].weight");
        let err = Config::from_toml(&ok.replace("round_robin", "fastest")).expect_err("policy");
        assert!(err.reason.contains("fastest"), "{err}");
        let err = Config::from_toml(&ok.replace("domain = 9000", "domain = 1000"))
            .expect_err("own domain");
        assert_eq!(err.path, "route_groups[0].domain");
    }

    #[test]
    fn tls_files_are_checked_with_their_path_and_tls_urls_pass() {
        let dir = tempfile::tempdir().expect("dir");
        let with_tls = |table: &str| {
            sample()
                .replace(
                    "redis://127.0.0.1:6379",
                    "rediss://:pw@redis.example:6380/0",
                )
                .replace("http://127.0.0.1:854", "https://rpc.example/v2/key")
                .replace("[[chains]]", &format!("[tls]\n{table}\n[[chains]]"))
        };
        let c = Config::from_toml(&with_tls("")).expect("https:// and rediss:// URLs");
        assert!(c.tls.ca_file.is_none());
        assert!(c.tls.roots().expect("public roots").ca_file().is_none());
        assert_eq!(
            c.chains[0].max_response_bytes,
            switchyard_evm::rpc::DEFAULT_MAX_RESPONSE_BYTES
        );

        let missing = dir.path().join("missing.pem");
        let err = Config::from_toml(&with_tls(&format!("ca_file = {:?}", missing)))
            .expect_err("missing CA file");
        assert_eq!(err.path, "tls.ca_file", "{err}");
        assert!(err.reason.contains("missing.pem"), "{err}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").expect("write");
        let err = Config::from_toml(&with_tls(&format!("ca_file = {:?}", empty)))
            .expect_err("no certificate");
        assert_eq!(err.path, "tls.ca_file", "{err}");
        assert!(
            err.reason.contains("empty.pem") && err.reason.contains("at least one PEM certificate"),
            "{err}"
        );

        let ca = switchyard_http::testkit::TestCa::new("config");
        let ca_file = ca.write(dir.path(), "ca.pem");
        let c = Config::from_toml(&with_tls(&format!("ca_file = {:?}", ca_file))).expect("a CA");
        let roots = c.tls.roots().expect("roots");
        assert_eq!(roots.ca_file(), Some(ca_file.as_path()));
        let redis = c.tls.redis().expect("redis TLS");
        assert_eq!(redis.ca_pem, Some(ca.pem().into_bytes()));
        assert!(redis.client.is_none());

        // A client certificate needs its key, and the key a certificate.
        let (cert, key) = ca.issue("hub").write(dir.path(), "hub");
        let err = Config::from_toml(&with_tls(&format!("redis_client_cert_file = {cert:?}")))
            .expect_err("no key");
        assert_eq!(err.path, "tls.redis_client_key", "{err}");
        let err = Config::from_toml(&with_tls(&format!(
            "redis_client_key = {{ file = {key:?} }}"
        )))
        .expect_err("no certificate");
        assert_eq!(err.path, "tls.redis_client_cert_file", "{err}");
        let c = Config::from_toml(&with_tls(&format!(
            "redis_client_cert_file = {cert:?}\nredis_client_key = {{ file = {key:?} }}"
        )))
        .expect("mutual TLS");
        let (got_cert, got_key) = c.tls.redis().expect("redis TLS").client.expect("client");
        assert!(String::from_utf8_lossy(&got_cert).contains("BEGIN CERTIFICATE"));
        assert!(String::from_utf8_lossy(&got_key).contains("PRIVATE KEY"));
        assert!(!format!("{:?}", c.tls.redis().expect("tls")).contains("PRIVATE"));

        let small = sample().replace("rpc_urls = [", "max_response_bytes = 1024\nrpc_urls = [");
        let err = Config::from_toml(&small).expect_err("too small a bound");
        assert_eq!(err.path, "chains[0].max_response_bytes", "{err}");
    }

    #[test]
    fn duplicate_domain_is_refused() {
        let mut text = sample();
        let second = text[text.find("[[chains]]").expect("has chains")..].replace("alpha", "beta");
        text.push_str(&second);
        let err = Config::from_toml(&text).expect_err("dup");
        assert_eq!(err.path, "chains[1].domain");
    }

    #[test]
    fn each_role_holds_the_keys_it_uses_and_an_attester_no_queue_key() {
        let attester = |s: &str| format!("role = \"attester\"\n{s}");
        let tokens = "[attestation]\ntokens = [{ env = \"T\" }]\n";
        // An attester: its signing key and tokens, no queue key, and its
        // destinations need no submitter key.
        let ok = attester(&sample())
            .replace("queue_key = { env = \"SY_QUEUE_KEY\" }\n", "")
            .replace("submitter_key = { file = \"/run/secrets/alpha\" }\n", "")
            + tokens;
        let c = Config::from_toml(&ok).expect("an attester");
        assert_eq!(c.role, Role::Attester);
        for (text, path, says) in [
            (
                attester(&sample()) + tokens,
                "queue_key",
                "must not hold the key",
            ),
            (
                ok.replace("attester_key = { env = \"SY_ATTESTER\" }\n", ""),
                "attester_key",
                "the key this attester signs with",
            ),
            (
                ok.replace(tokens, ""),
                "attestation.tokens",
                "at least one bearer token",
            ),
            (
                ok.clone()
                    + "[[attesters]]\nname = \"a\"\nurl = \"http://x\"\ntoken = { env = \"T\" }\n",
                "attesters",
                "asks no other attester",
            ),
            (
                sample().replace("queue_key = { env = \"SY_QUEUE_KEY\" }\n", ""),
                "queue_key",
                "lane HMAC key",
            ),
            (
                sample().replace("attester_key = { env = \"SY_ATTESTER\" }\n", ""),
                "attester_key",
                "or [[attesters]] that sign them",
            ),
        ] {
            let err = Config::from_toml(&text).expect_err(path);
            assert_eq!(err.path, path, "{err}");
            assert!(err.reason.contains(says), "{err}");
        }
        // A hub whose attesters sign needs no attester key of its own; their
        // names are unique and their URLs HTTP(S).
        let remote = |name: &str, url: &str| {
            format!(
                "[[attesters]]\nname = \"{name}\"\nurl = \"{url}\"\ntoken = {{ env = \"T\" }}\n"
            )
        };
        let hub = sample().replace("attester_key = { env = \"SY_ATTESTER\" }\n", "")
            + &remote("a", "https://a.example:9090")
            + &remote("b", "http://b:9090");
        let c = Config::from_toml(&hub).expect("a hub signed by attesters");
        assert_eq!(c.attesters.len(), 2);
        let err = Config::from_toml(&(hub.clone() + &remote("a", "http://c:1"))).expect_err("dup");
        assert_eq!(err.path, "attesters[2].name", "{err}");
        let err = Config::from_toml(&(hub + &remote("c", "ftp://c:1"))).expect_err("scheme");
        assert_eq!(err.path, "attesters[2].url", "{err}");
        assert!(err.reason.contains("expected http:// or https://"), "{err}");
    }

    #[test]
    fn mutual_tls_settings_come_in_pairs_and_where_they_are_used() {
        let dir = tempfile::tempdir().expect("dir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, switchyard_http::testkit::TestCa::new("c").pem()).expect("write");
        let attester = sample()
            .replace("queue_key = { env = \"SY_QUEUE_KEY\" }\n", "")
            .replace("submitter_key = { file = \"/run/secrets/alpha\" }\n", "");
        let attester = |tls: &str| {
            format!(
                "role = \"attester\"\n{attester}[attestation]\ntokens = [{{ env = \"T\" }}]\n{tls}"
            )
        };
        let full = format!(
            "listen = \"0.0.0.0:9443\"\ntls_cert_file = \"/tls/crt\"\ntls_key = {{ file = \"/tls/key\" }}\nclient_ca_file = \"{}\"\n",
            ca.display()
        );
        let c = Config::from_toml(&attester(&full)).expect("an attester over mutual TLS");
        assert_eq!(c.attestation.listen.map(|a| a.port()), Some(9443));
        Config::from_toml(&attester("listen = \"0.0.0.0:9443\"\n")).expect("apart, in plain HTTP");
        let remote = |extra: &str, url: &str| {
            sample().replace("attester_key = { env = \"SY_ATTESTER\" }\n", "")
                + &format!(
                    "[[attesters]]\nname = \"a\"\nurl = \"{url}\"\ntoken = {{ env = \"T\" }}\n{extra}"
                )
        };
        let pair = "client_cert_file = \"/c/crt\"\nclient_key = { file = \"/c/key\" }\n";
        Config::from_toml(&remote(pair, "https://a:9443")).expect("a client certificate");
        for (text, path, says) in [
            (
                attester(&full.replace("tls_key = { file = \"/tls/key\" }\n", "")),
                "attestation.tls_key",
                "expected a private key with attestation.tls_cert_file",
            ),
            (
                attester(&full.replace("listen = \"0.0.0.0:9443\"\n", "")),
                "attestation.listen",
                "HTTPS is served on that listener only",
            ),
            (
                attester(&format!("client_ca_file = \"{}\"\n", ca.display())),
                "attestation.client_ca_file",
                "expected tls_cert_file and tls_key with it",
            ),
            (
                attester(&full.replace(&ca.display().to_string(), "/nowhere/ca.pem")),
                "attestation.client_ca_file",
                "/nowhere/ca.pem",
            ),
            (
                sample() + "[attestation]\nlisten = \"0.0.0.0:9443\"\n",
                "attestation.listen",
                "only an attester serves POST /v1/attest",
            ),
            (
                remote("client_key = { file = \"/c/key\" }\n", "https://a:9443"),
                "attesters[0].client_cert_file",
                "expected a certificate with attesters[0].client_key",
            ),
            (
                remote(pair, "http://a:9464"),
                "attesters[0].url",
                "expected https:// with client_cert_file",
            ),
        ] {
            let err = Config::from_toml(&text).expect_err(path);
            assert_eq!(err.path, path, "{err}");
            assert!(err.reason.contains(says), "{path}: {err}");
        }
    }
}
