//! CometBFT RPC client over several endpoints: each request goes to the
//! healthiest endpoint first; an endpoint that errors or times out is
//! demoted for a while and tried only after the healthy ones.

use std::sync::Mutex;
use std::time::{Duration, Instant};
use switchyard_http::TlsRoots;
use switchyard_types::redact;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use switchyard_lc_cometbft::LightBlock;
use switchyard_lc_cometbft::json::{self, CommitResult, ValidatorsPage};
use switchyard_lc_cometbft::proof::ProofOp;

use crate::error::{Error, Result};

/// CometBFT's largest `/validators` page.
pub const MAX_PER_PAGE: usize = 100;

/// The largest validator set accepted (Cosmos chains run a few hundred).
pub const MAX_VALIDATORS: u64 = 10_000;

/// The default bound of one answer: a page of 100 validators or a commit
/// is tens of KiB, an ABCI proof a few; 16 MiB leaves room for big sets.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 16 << 20;

/// How a transport error that timed out begins (what the observer's
/// `timeout` outcome is told by).
const TIMED_OUT: &str = "timed out after";

/// Endpoints and limits.
#[derive(Debug, Clone)]
pub struct RpcConfig {
    /// Base URLs (`http://host:26657`), in order of preference.
    pub endpoints: Vec<String>,
    /// Per-request timeout, connection included.
    pub timeout: Duration,
    /// How long a failed endpoint stays behind the healthy ones.
    pub demote_for: Duration,
    /// Validators per page (at most [`MAX_PER_PAGE`]).
    pub per_page: usize,
    /// The certificates trusted for `https://` endpoints.
    pub roots: TlsRoots,
    /// The bound of one answer, in bytes: a longer one is dropped as it
    /// arrives and the endpoint counts as failed.
    pub max_response_bytes: usize,
}

impl RpcConfig {
    /// Defaults: 10 s timeout, 30 s demotion, 100 validators a page, the
    /// webpki roots, answers up to [`DEFAULT_MAX_RESPONSE_BYTES`].
    pub fn new(endpoints: Vec<String>) -> Self {
        Self {
            endpoints,
            timeout: Duration::from_secs(10),
            demote_for: Duration::from_secs(30),
            per_page: MAX_PER_PAGE,
            roots: TlsRoots::public(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

#[derive(Debug, Clone)]
struct Health {
    demoted_until: Option<Instant>,
    failures: u64,
}

/// The `/status` fields the watcher uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// The node's chain id (`node_info.network`).
    pub chain_id: String,
    /// Its latest block height.
    pub latest_block_height: u64,
    /// Whether it is still syncing.
    pub catching_up: bool,
}

/// An `abci_query` answer with its proof.
#[derive(Debug, Clone)]
pub struct AbciProof {
    /// The key queried.
    pub key: Vec<u8>,
    /// The value stored (empty when absent).
    pub value: Vec<u8>,
    /// The state height the answer is for (proven by header `height + 1`).
    pub height: u64,
    /// Proof ops, innermost first.
    pub ops: Vec<ProofOp>,
}

/// RPC client with failover.
#[derive(Debug)]
pub struct RpcClient {
    http: reqwest::Client,
    config: RpcConfig,
    health: Mutex<Vec<Health>>,
    observer: Option<switchyard_http::ChainObserver>,
}

#[derive(Deserialize)]
struct RawStatus {
    node_info: RawNodeInfo,
    sync_info: RawSyncInfo,
}

#[derive(Deserialize)]
struct RawNodeInfo {
    network: String,
}

#[derive(Deserialize)]
struct RawSyncInfo {
    #[serde(with = "tendermint::serializers::from_str")]
    latest_block_height: u64,
    #[serde(default)]
    catching_up: bool,
}

#[derive(Deserialize)]
struct RawAbciQuery {
    response: RawAbciResponse,
}

#[derive(Deserialize)]
struct RawAbciResponse {
    #[serde(default)]
    code: u32,
    #[serde(default)]
    log: String,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    value: Option<String>,
    #[serde(rename = "proofOps", alias = "proof_ops", default)]
    proof_ops: Option<RawProofOps>,
    #[serde(with = "tendermint::serializers::from_str")]
    height: u64,
}

#[derive(Deserialize)]
struct RawProofOps {
    ops: Vec<RawProofOp>,
}

#[derive(Deserialize)]
struct RawProofOp {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    key: Option<String>,
    data: String,
}

fn b64(what: &'static str, s: Option<&str>) -> Result<Vec<u8>> {
    B64.decode(s.unwrap_or_default()).map_err(|e| {
        Error::LightClient(switchyard_lc_cometbft::Error::Decode {
            what,
            path: ".".into(),
            reason: format!("expected base64: {e}"),
        })
    })
}

impl RpcClient {
    /// A client over `config.endpoints`.
    pub fn new(config: RpcConfig) -> Result<Self> {
        if config.endpoints.is_empty() {
            return Err(Error::Config("no CometBFT RPC endpoint".into()));
        }
        if config.per_page == 0 || config.per_page > MAX_PER_PAGE {
            return Err(Error::Config(format!(
                "per_page {} outside 1..={MAX_PER_PAGE}",
                config.per_page
            )));
        }
        let http = switchyard_http::client(config.timeout, &config.roots)
            .map_err(|e| Error::Config(e.to_string()))?;
        let health = vec![
            Health {
                demoted_until: None,
                failures: 0,
            };
            config.endpoints.len()
        ];
        Ok(Self {
            http,
            config,
            health: Mutex::new(health),
            observer: None,
        })
    }

    /// Reports every request attempt to `observer` as (`chain`, method,
    /// outcome): the method is the RPC route (`status`, `commit`,
    /// `validators`, `abci_query`); the outcome `ok` (an answer that
    /// parsed), `timeout`, or `error` (a refused connection, an error
    /// status, an answer over the bound or that does not parse).
    pub fn with_observer(mut self, chain: &str, observer: switchyard_http::RpcObserver) -> Self {
        self.observer = Some(switchyard_http::ChainObserver::new(chain, observer));
        self
    }

    fn observe(&self, path: &str, outcome: &'static str) {
        let Some(o) = &self.observer else { return };
        // Bounded labels: the routes this client calls, by name.
        let method = match path {
            "/status" => "status",
            "/commit" => "commit",
            "/validators" => "validators",
            "/abci_query" => "abci_query",
            _ => "other",
        };
        o.report(method, outcome);
    }

    /// Endpoint indices in the order to try them now: healthy ones in
    /// configured order, then demoted ones, soonest back first.
    fn order(&self) -> Vec<usize> {
        let now = Instant::now();
        let health = self
            .health
            .lock()
            .expect("health lock is never poisoned: no panics under it");
        let mut idx: Vec<usize> = (0..health.len()).collect();
        idx.sort_by_key(|&i| match health[i].demoted_until {
            Some(until) if until > now => (1, Some(until)),
            _ => (0, None),
        });
        idx
    }

    fn record(&self, i: usize, ok: bool) {
        let mut health = self
            .health
            .lock()
            .expect("health lock is never poisoned: no panics under it");
        let h = &mut health[i];
        if ok {
            h.demoted_until = None;
            h.failures = 0;
        } else {
            h.failures += 1;
            h.demoted_until = Some(Instant::now() + self.config.demote_for);
        }
    }

    /// How many requests failed on each endpoint since its last success.
    pub fn failures(&self) -> Vec<u64> {
        let health = self
            .health
            .lock()
            .expect("health lock is never poisoned: no panics under it");
        health.iter().map(|h| h.failures).collect()
    }

    async fn get_once(&self, i: usize, path: &str, query: &[(&str, String)]) -> Result<String> {
        let base = self.config.endpoints[i].trim_end_matches('/');
        // URLs carry API keys: errors name the endpoint by scheme and host.
        let shown = redact::endpoint(base);
        let err_transport = |e: reqwest::Error| Error::Transport {
            endpoint: shown.clone(),
            path: path.to_owned(),
            reason: if e.is_timeout() {
                format!("{TIMED_OUT} {:?}", self.config.timeout)
            } else {
                // With its causes: "invalid peer certificate: UnknownIssuer".
                switchyard_http::describe(&e)
            },
        };
        let resp = self
            .http
            .get(format!("{base}{path}"))
            .query(query)
            .send()
            .await
            .map_err(err_transport)?;
        let status = resp.status();
        if !status.is_success() {
            return Err(Error::Status {
                endpoint: shown,
                path: path.to_owned(),
                status: status.as_u16(),
            });
        }
        let body = switchyard_http::read_limited(resp, self.config.max_response_bytes, base)
            .await
            .map_err(|e| Error::Transport {
                endpoint: shown.clone(),
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        String::from_utf8(body).map_err(|e| Error::Transport {
            endpoint: shown,
            path: path.to_owned(),
            reason: format!("expected UTF-8 JSON: {e}"),
        })
    }

    /// GETs `path` and parses its result (enveloped or not) with `parse`,
    /// failing over across endpoints (or only from `pin`): a transport
    /// error, a bad status or an unreadable answer demotes the endpoint and
    /// tries the next.
    async fn call<T>(
        &self,
        pin: Option<usize>,
        path: &str,
        query: &[(&str, String)],
        parse: impl Fn(&str) -> switchyard_lc_cometbft::Result<T>,
    ) -> Result<T> {
        let mut attempts = Vec::new();
        let order = match pin {
            Some(i) => vec![i],
            None => self.order(),
        };
        for i in order {
            let result = match self.get_once(i, path, query).await {
                Ok(text) => parse(&text).map_err(|source| Error::Decode {
                    endpoint: redact::endpoint(&self.config.endpoints[i]),
                    path: path.to_owned(),
                    source,
                }),
                Err(e) => Err(e),
            };
            self.observe(
                path,
                match &result {
                    Ok(_) => "ok",
                    Err(Error::Transport { reason, .. }) if reason.starts_with(TIMED_OUT) => {
                        "timeout"
                    }
                    Err(_) => "error",
                },
            );
            match result {
                Ok(v) => {
                    self.record(i, true);
                    return Ok(v);
                }
                Err(e) => {
                    tracing::debug!(endpoint = %redact::endpoint(&self.config.endpoints[i]), err = %e, "CometBFT RPC endpoint failed, demoted");
                    self.record(i, false);
                    attempts.push(e.to_string());
                }
            }
        }
        Err(Error::AllEndpointsFailed { attempts })
    }

    async fn call_json<T: DeserializeOwned>(
        &self,
        what: &'static str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T> {
        self.call(None, path, query, |text| json::rpc_result(what, text))
            .await
    }

    /// `/status`.
    pub async fn status(&self) -> Result<NodeStatus> {
        let raw: RawStatus = self.call_json("/status result", "/status", &[]).await?;
        Ok(NodeStatus {
            chain_id: raw.node_info.network,
            latest_block_height: raw.sync_info.latest_block_height,
            catching_up: raw.sync_info.catching_up,
        })
    }

    /// `/commit?height=`.
    pub async fn commit(&self, height: u64) -> Result<CommitResult> {
        self.commit_at(None, height).await
    }

    async fn commit_at(&self, pin: Option<usize>, height: u64) -> Result<CommitResult> {
        self.call(
            pin,
            "/commit",
            &[("height", height.to_string())],
            json::commit_from_rpc,
        )
        .await
    }

    /// Every page of `/validators?height=` (`per_page` from the config).
    pub async fn validators(&self, height: u64) -> Result<Vec<ValidatorsPage>> {
        self.validators_at(None, height).await
    }

    async fn validators_at(&self, pin: Option<usize>, height: u64) -> Result<Vec<ValidatorsPage>> {
        let per_page = self.config.per_page;
        let query = |page: u64| {
            [
                ("height", height.to_string()),
                ("page", page.to_string()),
                ("per_page", per_page.to_string()),
            ]
        };
        let first = self
            .call(pin, "/validators", &query(1), json::validators_from_rpc)
            .await?;
        // The first page's total bounds the walk, so a node cannot keep
        // it paging; a total that changes between pages is caught when the
        // pages are joined.
        if first.total > MAX_VALIDATORS {
            return Err(Error::Decode {
                endpoint: "(validators)".into(),
                path: "/validators".into(),
                source: switchyard_lc_cometbft::Error::Decode {
                    what: "/validators result",
                    path: ".total".into(),
                    reason: format!("expected at most {MAX_VALIDATORS}, got {}", first.total),
                },
            });
        }
        let pages_needed = first.total.div_ceil(per_page as u64).max(1);
        let mut pages = vec![first];
        for page in 2..=pages_needed {
            let p = self
                .call(pin, "/validators", &query(page), json::validators_from_rpc)
                .await?;
            pages.push(p);
        }
        Ok(pages)
    }

    /// The number of configured endpoints.
    pub fn endpoint_count(&self) -> usize {
        self.config.endpoints.len()
    }

    /// The light block at `height`: its commit, its validators and, when
    /// the header changes the set, the next height's validators.
    pub async fn light_block(&self, height: u64) -> Result<LightBlock> {
        self.light_block_at(None, height).await
    }

    /// [`RpcClient::light_block`] from endpoint `endpoint` alone (no
    /// failover), to get a second opinion when a block does not verify.
    pub async fn light_block_from(&self, endpoint: usize, height: u64) -> Result<LightBlock> {
        if endpoint >= self.config.endpoints.len() {
            return Err(Error::Config(format!("no endpoint {endpoint}")));
        }
        self.light_block_at(Some(endpoint), height).await
    }

    async fn light_block_at(&self, pin: Option<usize>, height: u64) -> Result<LightBlock> {
        let commit = self.commit_at(pin, height).await?;
        let header = &commit.signed_header.header;
        let changes = header.next_validators_hash != header.validators_hash;
        let got = header.height.value();
        if got != height {
            return Err(Error::LightClient(
                switchyard_lc_cometbft::Error::UnexpectedHeight {
                    expected: height,
                    got,
                },
            ));
        }
        let vals = self.validators_at(pin, height).await?;
        let next = if changes {
            Some(self.validators_at(pin, height + 1).await?)
        } else {
            None
        };
        Ok(json::light_block_from_parts(
            commit,
            &vals,
            next.as_deref(),
        )?)
    }

    /// `/abci_query` with `prove=true` for `data` under `path` (for a
    /// store key: `/store/<store>/key`) at state height `height`.
    pub async fn abci_query(&self, path: &str, data: &[u8], height: u64) -> Result<AbciProof> {
        self.abci_query_at(None, path, data, height).await
    }

    /// [`RpcClient::abci_query`] from endpoint `endpoint` alone (no
    /// failover), to get a second opinion when an answer does not verify.
    pub async fn abci_query_from(
        &self,
        endpoint: usize,
        path: &str,
        data: &[u8],
        height: u64,
    ) -> Result<AbciProof> {
        if endpoint >= self.config.endpoints.len() {
            return Err(Error::Config(format!("no endpoint {endpoint}")));
        }
        self.abci_query_at(Some(endpoint), path, data, height).await
    }

    async fn abci_query_at(
        &self,
        pin: Option<usize>,
        path: &str,
        data: &[u8],
        height: u64,
    ) -> Result<AbciProof> {
        let raw: RawAbciQuery = self
            .call(
                pin,
                "/abci_query",
                &[
                    ("path", format!("\"{path}\"")),
                    ("data", format!("0x{}", hex::encode(data))),
                    ("height", height.to_string()),
                    ("prove", "true".to_owned()),
                ],
                |text| json::rpc_result("/abci_query result", text),
            )
            .await?;
        let r = raw.response;
        if r.code != 0 {
            return Err(Error::Query {
                path: path.to_owned(),
                height,
                code: r.code,
                log: r.log,
            });
        }
        let ops = r
            .proof_ops
            .map(|p| p.ops)
            .unwrap_or_default()
            .into_iter()
            .map(|op| {
                let key = b64("proof op key", op.key.as_deref())?;
                let data = b64("proof op data", Some(&op.data))?;
                Ok(ProofOp::decode(&op.kind, &key, &data)?)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(AbciProof {
            key: b64("abci_query key", r.key.as_deref())?,
            value: b64("abci_query value", r.value.as_deref())?,
            height: r.height,
            ops,
        })
    }
}
