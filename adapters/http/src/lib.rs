//! Outgoing HTTPS for every endpoint the hub reads (EVM JSON-RPC, beacon
//! API, CometBFT RPC), set up once:
//!
//! - [`TlsRoots`]: rustls with the webpki roots, plus the certificates of an
//!   operator's CA bundle (a private CA in front of self-hosted nodes);
//! - [`client`]: a `reqwest` client that trusts those roots and nothing else;
//! - [`read_limited`]: a response body read chunk by chunk and abandoned as
//!   soon as it passes a bound, so a lying or broken endpoint cannot make
//!   the hub buffer an unbounded answer;
//! - [`describe`]: an error with its causes (a refused certificate says
//!   `invalid peer certificate: UnknownIssuer`), endpoint URLs shortened to
//!   scheme, host and port.
//!
//! Redis over TLS uses the same CA bundle through [`TlsRoots::ca_pem`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use switchyard_types::redact;

#[cfg(feature = "testkit")]
pub mod testkit;

/// Called after every request attempt to an endpoint with (chain, method,
/// outcome), outcome one of `ok`, `error`, `timeout`: the EVM JSON-RPC
/// pool, the beacon API and the CometBFT RPC clients report through it, so
/// the relayer counts every endpoint call (`switchyard_rpc_requests_total`)
/// without the adapters knowing about Prometheus.
pub type RpcObserver = Arc<dyn Fn(&str, &'static str, &'static str) + Send + Sync>;

/// An [`RpcObserver`] bound to the chain a client serves: what the beacon
/// API and CometBFT RPC clients hold.
#[derive(Clone)]
pub struct ChainObserver {
    chain: String,
    report: RpcObserver,
}

impl ChainObserver {
    /// Reports to `report` under `chain`.
    pub fn new(chain: &str, report: RpcObserver) -> Self {
        Self {
            chain: chain.to_owned(),
            report,
        }
    }

    /// One request attempt: its `method` and `outcome`.
    pub fn report(&self, method: &'static str, outcome: &'static str) {
        (self.report)(&self.chain, method, outcome);
    }
}

impl std::fmt::Debug for ChainObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainObserver")
            .field("chain", &self.chain)
            .finish_non_exhaustive()
    }
}

/// The outcome label of a failed request: `timeout` when it timed out,
/// else `error`.
pub fn outcome_of(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() { "timeout" } else { "error" }
}

/// Errors of the HTTPS set-up and of bounded reads.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The CA bundle cannot be used.
    #[error("CA bundle {path}: {reason}")]
    CaFile {
        /// The file, as configured.
        path: String,
        /// Why it is unusable (unreadable, no certificate, bad PEM).
        reason: String,
    },
    /// The TLS or HTTP client could not be built.
    /// A certificate and key of this process (a server's, or a client's
    /// for mutual TLS) that cannot be used.
    #[error("certificate {path}: {reason}")]
    Identity { path: String, reason: String },
    #[error("building the HTTPS client: {reason}")]
    Client {
        /// What failed.
        reason: String,
    },
    /// The answer is larger than the configured bound; reading stopped there.
    #[error(
        "{endpoint}: answer over the limit of {limit} bytes (max_response_bytes), {read} bytes read when reading stopped"
    )]
    TooLarge {
        /// The endpoint, as scheme, host and port.
        endpoint: String,
        /// The bound.
        limit: usize,
        /// Bytes received (or announced by `Content-Length`) when reading stopped.
        read: usize,
    },
    /// The body could not be read to its end (reset, timeout).
    #[error("{endpoint}: reading the answer: {reason}")]
    Body {
        /// The endpoint, as scheme, host and port.
        endpoint: String,
        /// What the transport said, URLs shortened.
        reason: String,
    },
}

impl Error {
    /// Whether repeating the request may succeed: an oversized or cut answer
    /// may come out right from another endpoint or later; a bad CA bundle
    /// or client set-up never.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::TooLarge { .. } | Self::Body { .. } => true,
            Self::CaFile { .. } | Self::Client { .. } | Self::Identity { .. } => false,
        }
    }
}

/// The certificates a client trusts: the webpki roots (Mozilla's list, as
/// compiled in) and, optionally, those of a CA bundle file.
#[derive(Clone, Default)]
pub struct TlsRoots {
    ca: Option<CaBundle>,
}

#[derive(Clone)]
struct CaBundle {
    path: PathBuf,
    pem: Arc<[u8]>,
    certs: Arc<[CertificateDer<'static>]>,
}

impl std::fmt::Debug for TlsRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsRoots")
            .field("ca_file", &self.ca.as_ref().map(|c| &c.path))
            .field(
                "ca_certificates",
                &self.ca.as_ref().map_or(0, |c| c.certs.len()),
            )
            .finish()
    }
}

impl TlsRoots {
    /// The webpki roots only.
    pub fn public() -> Self {
        Self::default()
    }

    /// The webpki roots and every certificate of the PEM file at `path`,
    /// which must hold at least one.
    pub fn with_ca_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let bad = |reason: String| Error::CaFile {
            path: path.display().to_string(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("expected PEM certificates: {e}")))?;
        if certs.is_empty() {
            return Err(bad(
                "expected at least one PEM certificate (-----BEGIN CERTIFICATE-----), got none"
                    .into(),
            ));
        }
        // Each must be a usable trust anchor (a parsable X.509 certificate).
        let mut store = RootCertStore::empty();
        for (i, c) in certs.iter().enumerate() {
            store
                .add(c.clone())
                .map_err(|e| bad(format!("certificate #{i} is not a usable CA: {e}")))?;
        }
        Ok(Self {
            ca: Some(CaBundle {
                path: path.to_path_buf(),
                pem: pem.into(),
                certs: certs.into(),
            }),
        })
    }

    /// The CA bundle file, when one is configured.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca.as_ref().map(|c| c.path.as_path())
    }

    /// The CA bundle as read (PEM), for clients that take PEM (Redis).
    pub fn ca_pem(&self) -> Option<&[u8]> {
        self.ca.as_ref().map(|c| &*c.pem)
    }

    /// A rustls client configuration trusting these roots, HTTP/1.1 by ALPN.
    pub fn client_config(&self) -> Result<rustls::ClientConfig, Error> {
        self.client_config_presenting(None)
    }

    /// As [`Self::client_config`], presenting `identity` to a server that
    /// asks for a client certificate (mutual TLS).
    pub fn client_config_presenting(
        &self,
        identity: Option<&Identity>,
    ) -> Result<rustls::ClientConfig, Error> {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(ca) = &self.ca {
            for c in ca.certs.iter() {
                roots.add(c.clone()).map_err(|e| Error::CaFile {
                    path: ca.path.display().to_string(),
                    reason: e.to_string(),
                })?;
            }
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Client {
                reason: e.to_string(),
            })?
            .with_root_certificates(roots);
        let mut config = match identity {
            None => config.with_no_client_auth(),
            Some(id) => config
                .with_client_auth_cert(id.certs.to_vec(), id.key.clone_key())
                .map_err(|e| id.error(e.to_string()))?,
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// A certificate chain and its private key: what a server presents, or a
/// client asked for one (mutual TLS).
pub struct Identity {
    path: PathBuf,
    certs: Arc<[CertificateDer<'static>]>,
    key: PrivateKeyDer<'static>,
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Self {
            path: self.path.clone(),
            certs: Arc::clone(&self.certs),
            key: self.key.clone_key(),
        }
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("cert_file", &self.path)
            .field("certificates", &self.certs.len())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// The certificate chain of the PEM file at `cert_path` (leaf first)
    /// and the PEM private key `key_pem` (PKCS#8, PKCS#1 or SEC1), checked
    /// to belong together.
    pub fn from_pem(cert_path: impl AsRef<Path>, key_pem: &[u8]) -> Result<Self, Error> {
        let path = cert_path.as_ref().to_path_buf();
        let bad = |reason: String| Error::Identity {
            path: path.display().to_string(),
            reason,
        };
        let pem = std::fs::read(&path).map_err(|e| bad(format!("cannot read it: {e}")))?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("expected PEM certificates: {e}")))?;
        if certs.is_empty() {
            return Err(bad(
                "expected a PEM certificate chain (-----BEGIN CERTIFICATE-----), got none".into(),
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| {
            bad(format!(
                "its key: expected a PEM private key (PKCS#8, PKCS#1 or SEC1), got none usable: {e}"
            ))
        })?;
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        rustls::sign::CertifiedKey::from_der(certs.clone(), key.clone_key(), &provider)
            .map_err(|e| bad(format!("the key does not go with the certificate: {e}")))?;
        Ok(Self {
            path,
            certs: certs.into(),
            key,
        })
    }

    fn error(&self, reason: String) -> Error {
        Error::Identity {
            path: self.path.display().to_string(),
            reason,
        }
    }

    /// A rustls server configuration presenting this identity, HTTP/1.1 by
    /// ALPN; with `client_cas` (a PEM file of CA certificates), every
    /// client must present a certificate one of them issued (mutual TLS),
    /// and the public roots count for nothing there.
    pub fn server_config(&self, client_cas: Option<&Path>) -> Result<rustls::ServerConfig, Error> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| self.error(e.to_string()))?;
        let builder = match client_cas {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let cas = TlsRoots::with_ca_file(path)?
                    .ca
                    .map(|c| c.certs)
                    .unwrap_or_default();
                let mut roots = RootCertStore::empty();
                for c in cas.iter() {
                    roots.add(c.clone()).map_err(|e| Error::CaFile {
                        path: path.display().to_string(),
                        reason: e.to_string(),
                    })?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|e| Error::CaFile {
                    path: path.display().to_string(),
                    reason: format!("not usable to verify clients: {e}"),
                })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(self.certs.to_vec(), self.key.clone_key())
            .map_err(|e| self.error(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// A `reqwest` client trusting `roots` only and presenting `identity` to a
/// server that asks for a client certificate, every request bounded by
/// `timeout` (connection included).
pub fn client_presenting(
    timeout: Duration,
    roots: &TlsRoots,
    identity: &Identity,
) -> Result<reqwest::Client, Error> {
    build(
        reqwest::Client::builder()
            .tls_backend_preconfigured(roots.client_config_presenting(Some(identity))?)
            .timeout(timeout)
            .connect_timeout(timeout),
    )
}

/// A `reqwest` client builder trusting `roots` only, for clients that set
/// their own timeouts.
pub fn client_builder(roots: &TlsRoots) -> Result<reqwest::ClientBuilder, Error> {
    Ok(reqwest::Client::builder().tls_backend_preconfigured(roots.client_config()?))
}

/// A `reqwest` client trusting `roots` only, every request bounded by
/// `timeout` (connection included).
pub fn client(timeout: Duration, roots: &TlsRoots) -> Result<reqwest::Client, Error> {
    build(
        client_builder(roots)?
            .timeout(timeout)
            .connect_timeout(timeout),
    )
}

/// Builds `builder`, its error described.
pub fn build(builder: reqwest::ClientBuilder) -> Result<reqwest::Client, Error> {
    builder.build().map_err(|e| Error::Client {
        reason: describe(&e),
    })
}

/// Reads `resp`'s body, at most `limit` bytes: a `Content-Length` over it
/// is refused before reading, and a body without one is read chunk by chunk
/// and dropped as soon as it passes the bound. `endpoint` names the server
/// in errors (shortened to scheme, host and port here).
pub async fn read_limited(
    mut resp: reqwest::Response,
    limit: usize,
    endpoint: &str,
) -> Result<Vec<u8>, Error> {
    let too_large = |read: usize| Error::TooLarge {
        endpoint: redact::endpoint(endpoint),
        limit,
        read,
    };
    if let Some(announced) = resp.content_length()
        && announced > limit as u64
    {
        return Err(too_large(usize::try_from(announced).unwrap_or(usize::MAX)));
    }
    let mut body = Vec::with_capacity(
        resp.content_length()
            .map_or(0, |n| usize::try_from(n).unwrap_or(0))
            .min(limit),
    );
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return Err(too_large(body.len() + chunk.len()));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                return Err(Error::Body {
                    endpoint: redact::endpoint(endpoint),
                    reason: describe(&e),
                });
            }
        }
    }
}

/// `err` and its causes, `: `-separated, each URL in them shortened to
/// scheme, host and port. reqwest's own message says only "error sending
/// request"; the cause says what failed (`invalid peer certificate:
/// UnknownIssuer`, `Connection refused`).
pub fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        // Wrappers often repeat their cause's text: say it once.
        if !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    redact::urls_in(&parts.join(": "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::TestCa;

    #[test]
    fn a_ca_file_needs_a_certificate_and_errors_name_the_path() {
        let dir = std::env::temp_dir().join(format!("sy-http-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let missing = dir.join("missing.pem");
        let err = TlsRoots::with_ca_file(&missing).expect_err("missing");
        assert!(
            err.to_string().contains("missing.pem") && err.to_string().contains("cannot read"),
            "{err}"
        );
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let err = TlsRoots::with_ca_file(&empty).expect_err("no certificate");
        assert!(
            err.to_string().contains("empty.pem")
                && err.to_string().contains("at least one PEM certificate"),
            "{err}"
        );
        let good = dir.join("ca.pem");
        let ca = TestCa::new("unit");
        std::fs::write(&good, ca.pem()).expect("write");
        let roots = TlsRoots::with_ca_file(&good).expect("a CA");
        assert_eq!(roots.ca_file(), Some(good.as_path()));
        assert_eq!(roots.ca_pem().map(<[u8]>::len), Some(ca.pem().len()));
        assert!(roots.client_config().is_ok());
        assert!(!err.is_retryable());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn describe_follows_causes_and_shortens_urls() {
        #[derive(Debug, thiserror::Error)]
        #[error("error sending request for url (https://h:1/v2/KEY?k=KEY)")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::other(
            "invalid peer certificate: UnknownIssuer",
        ));
        let shown = describe(&e);
        assert_eq!(
            shown,
            "error sending request for url (https://h:1): invalid peer certificate: UnknownIssuer"
        );
    }

    #[tokio::test]
    async fn an_endless_answer_is_cut_at_the_limit() {
        use crate::testkit::serve_endless;
        use std::sync::atomic::Ordering;
        let limit = 1 << 20;
        let http = client(Duration::from_secs(10), &TlsRoots::public()).expect("client");
        // Chunked, no length: read until over the limit, then dropped.
        let (url, sent) = serve_endless(b'x', 64 * 1024, None).await;
        let resp = http.get(&url).send().await.expect("answer head");
        let err = read_limited(resp, limit, &format!("{url}/v2/KEY"))
            .await
            .expect_err("endless");
        assert!(
            matches!(err, Error::TooLarge { limit: l, read, .. } if l == limit && read > limit && read <= limit + 64 * 1024),
            "{err}"
        );
        assert!(err.is_retryable());
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("{url}: answer over the limit of {limit} bytes")),
            "{shown}"
        );
        assert!(!shown.contains("KEY"), "{shown}");
        // The server stops once the client is gone: what it managed to send
        // is the limit plus what the sockets buffer, not an ever-growing sum.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let after = sent.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(sent.load(Ordering::Relaxed), after, "still sending");
        assert!(after < 64 << 20, "{after} bytes sent");
        // An announced length over the limit is refused before reading.
        let (url, _) = serve_endless(b'x', 64 * 1024, Some(1 << 40)).await;
        let resp = http.get(&url).send().await.expect("answer head");
        let err = read_limited(resp, limit, &url)
            .await
            .expect_err("announced");
        assert!(
            matches!(err, Error::TooLarge { read, .. } if read == 1 << 40),
            "{err}"
        );
    }
}
