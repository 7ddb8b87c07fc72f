//! The beacon API client of Switchyard: the light-client endpoints
//! (`bootstrap`, `updates`, `finality_update`) of one or more beacon nodes,
//! JSON over HTTP(S), with failover (the endpoint that answered last is
//! asked first) and every answer bounded in size.
//!
//! Nothing here is trusted: the answers are decoded into the pure beacon
//! light client's types, which verify them (sync-committee signatures,
//! branches) before anything is applied. An endpoint can delay the hub, not
//! mislead it. Errors name the request and, per endpoint, what went wrong,
//! with URLs shortened to scheme, host and port (they carry API keys).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use alloy_primitives::B256;
use switchyard_lc_beacon::{
    ChainSpec, LightClientBootstrap, LightClientFinalityUpdate, LightClientUpdate, json,
};

/// The default bound of one beacon API answer: 128 light-client updates
/// (each with a next sync committee of 512 public keys) run to about 10 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 << 20;

/// Most of an error answer read and quoted.
const ERROR_BODY_BYTES: usize = 4096;

/// Errors of the beacon API client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BeaconError {
    /// The client cannot be built as configured (no endpoint, TLS set-up).
    #[error("beacon API client: {reason}")]
    Config {
        /// What is wrong (expected vs got).
        reason: String,
    },
    /// No endpoint answered `what` with a usable body.
    #[error("beacon API: {what}: {reason}")]
    Unavailable {
        /// The request.
        what: String,
        /// What went wrong, per endpoint.
        reason: String,
    },
    /// An answer does not decode as the light client's type.
    #[error("beacon API: decoding {what}: {source}")]
    Decode {
        /// The request.
        what: String,
        /// The decoder's verdict.
        #[source]
        source: switchyard_lc_beacon::Error,
    },
}

impl BeaconError {
    /// Whether asking again may succeed: an endpoint down, or another (or a
    /// later) answer well-formed; a client that cannot be built will not
    /// get better.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::Config { .. })
    }
}

/// Beacon API client: the light-client endpoints, JSON, with failover
/// across endpoints (the one that answered last is asked first).
#[derive(Debug)]
pub struct BeaconApi {
    urls: Vec<String>,
    client: reqwest::Client,
    preferred: AtomicUsize,
    preset: switchyard_lc_beacon::Preset,
    max_response_bytes: usize,
    observer: Option<switchyard_http::ChainObserver>,
}

impl BeaconApi {
    /// A client of `urls` (tried in turn), each request bounded by
    /// `timeout`, trusting the webpki roots, answers bounded by
    /// [`DEFAULT_MAX_RESPONSE_BYTES`].
    pub fn new(urls: &[String], timeout: Duration, spec: &ChainSpec) -> Result<Self, BeaconError> {
        Self::with_http(
            urls,
            timeout,
            spec,
            &switchyard_http::TlsRoots::public(),
            DEFAULT_MAX_RESPONSE_BYTES,
        )
    }

    /// As [`BeaconApi::new`], trusting `roots` (an operator's CA bundle)
    /// and reading at most `max_response_bytes` of an answer.
    pub fn with_http(
        urls: &[String],
        timeout: Duration,
        spec: &ChainSpec,
        roots: &switchyard_http::TlsRoots,
        max_response_bytes: usize,
    ) -> Result<Self, BeaconError> {
        if urls.is_empty() {
            return Err(BeaconError::Config {
                reason: "expected at least one beacon API URL, got none".into(),
            });
        }
        let client = switchyard_http::client(timeout, roots).map_err(|e| BeaconError::Config {
            reason: format!("building the HTTP client: {e}"),
        })?;
        Ok(Self {
            urls: urls
                .iter()
                .map(|u| u.trim_end_matches('/').to_owned())
                .collect(),
            client,
            preferred: AtomicUsize::new(0),
            preset: spec.preset,
            max_response_bytes,
            observer: None,
        })
    }

    /// Reports every request attempt to `observer` as (`chain`, method,
    /// outcome): the method is the light-client endpoint
    /// (`light_client_bootstrap`, `light_client_updates`,
    /// `light_client_finality_update`); the outcome `ok` (a success status
    /// and the whole body read), `timeout`, or `error` (anything else: a
    /// refused connection, an error status, an answer over the bound).
    pub fn with_observer(mut self, chain: &str, observer: switchyard_http::RpcObserver) -> Self {
        self.observer = Some(switchyard_http::ChainObserver::new(chain, observer));
        self
    }

    fn observe(&self, method: &'static str, outcome: &'static str) {
        if let Some(o) = &self.observer {
            o.report(method, outcome);
        }
    }

    /// GETs `path` from the preferred endpoint, then the others; the body of
    /// the first 200 answer. Each attempt is reported as `method`.
    async fn get(&self, method: &'static str, path: &str) -> Result<String, BeaconError> {
        let first = self.preferred.load(Ordering::Relaxed);
        let mut errors = Vec::new();
        for k in 0..self.urls.len() {
            let i = (first + k) % self.urls.len();
            let url = format!("{}{path}", self.urls[i]);
            // What errors show: URLs carry API keys.
            let shown = format!(
                "{}{path}",
                switchyard_types::redact::endpoint(&self.urls[i])
            );
            let answer = self
                .client
                .get(&url)
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await;
            match answer {
                Ok(r) if r.status().is_success() => {
                    let body =
                        switchyard_http::read_limited(r, self.max_response_bytes, &self.urls[i])
                            .await
                            .map_err(|e| e.to_string())
                            .and_then(|b| {
                                String::from_utf8(b).map_err(|e| format!("expected UTF-8: {e}"))
                            });
                    match body {
                        Ok(body) => {
                            self.observe(method, "ok");
                            self.preferred.store(i, Ordering::Relaxed);
                            return Ok(body);
                        }
                        Err(e) => {
                            self.observe(method, "error");
                            errors.push(format!("{shown}: reading the body: {e}"));
                        }
                    }
                }
                Ok(r) => {
                    self.observe(method, "error");
                    let status = r.status();
                    let body = switchyard_http::read_limited(r, ERROR_BODY_BYTES, &self.urls[i])
                        .await
                        .unwrap_or_default();
                    errors.push(format!(
                        "{shown}: HTTP {status}: {}",
                        String::from_utf8_lossy(&body)
                            .chars()
                            .take(200)
                            .collect::<String>()
                    ));
                }
                // With its causes: "invalid peer certificate: UnknownIssuer".
                Err(e) => {
                    self.observe(method, switchyard_http::outcome_of(&e));
                    errors.push(format!("{shown}: {}", switchyard_http::describe(&e)));
                }
            }
        }
        Err(BeaconError::Unavailable {
            what: format!("GET {path}"),
            reason: errors.join("; "),
        })
    }

    fn decoded<T>(path: &str, r: switchyard_lc_beacon::Result<T>) -> Result<T, BeaconError> {
        r.map_err(|source| BeaconError::Decode {
            what: format!("GET {path}"),
            source,
        })
    }

    /// `light_client/bootstrap/{root}`.
    pub async fn bootstrap(&self, root: B256) -> Result<LightClientBootstrap, BeaconError> {
        let path = format!("/eth/v1/beacon/light_client/bootstrap/{root}");
        let body = self.get("light_client_bootstrap", &path).await?;
        Self::decoded(&path, json::bootstrap_from_json(&body))
    }

    /// `light_client/updates?start_period&count`.
    pub async fn updates(
        &self,
        start: u64,
        count: u64,
    ) -> Result<Vec<LightClientUpdate>, BeaconError> {
        let path =
            format!("/eth/v1/beacon/light_client/updates?start_period={start}&count={count}");
        let body = self.get("light_client_updates", &path).await?;
        Self::decoded(&path, json::updates_from_json(&body, &self.preset))
    }

    /// `light_client/finality_update`.
    pub async fn finality_update(&self) -> Result<LightClientFinalityUpdate, BeaconError> {
        let path = "/eth/v1/beacon/light_client/finality_update";
        let body = self.get("light_client_finality_update", path).await?;
        Self::decoded(path, json::finality_update_from_json(&body, &self.preset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_endpoint_is_a_configuration_error_and_not_retried() {
        let e = BeaconApi::new(&[], Duration::from_secs(1), &ChainSpec::mainnet())
            .expect_err("no urls");
        assert!(!e.is_retryable(), "{e}");
        assert!(e.to_string().contains("expected at least one"), "{e}");
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_retryable_and_named_without_its_path() {
        // A port nothing listens on (bound, then closed).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("port");
        let api = BeaconApi::new(
            &[format!("http://127.0.0.1:{port}/v1/SECRET-KEY")],
            Duration::from_secs(2),
            &ChainSpec::mainnet(),
        )
        .expect("client");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = std::sync::Arc::clone(&seen);
        let api = api.with_observer(
            "eth",
            std::sync::Arc::new(
                move |chain: &str, method: &'static str, outcome: &'static str| {
                    log.lock()
                        .expect("no panic under the lock")
                        .push(format!("{chain} {method} {outcome}"));
                },
            ),
        );
        let e = api.finality_update().await.expect_err("nothing listens");
        assert!(e.is_retryable(), "{e}");
        assert_eq!(
            *seen.lock().expect("no panic under the lock"),
            ["eth light_client_finality_update error"],
            "the failed attempt is reported"
        );
        let text = e.to_string();
        assert!(text.contains("127.0.0.1"), "{text}");
        assert!(!text.contains("SECRET-KEY"), "the key leaked: {text}");
    }
}
