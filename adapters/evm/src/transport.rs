//! The JSON-RPC transport of every provider the pool builds: alloy's
//! reqwest transport (`alloy-transport-http`'s `Http<reqwest::Client>`)
//! with two changes. The client is ours (rustls, the webpki roots and the
//! operator's CA bundle), and the answer is read chunk by chunk under a
//! size bound instead of all at once: a JSON-RPC endpoint that answers
//! without end makes the call fail, retryably, once the bound is passed.
//!
//! Errors name the endpoint by scheme, host and port only; alloy's own
//! transport also logs the whole URL in a span, which this one does not.

use std::task;
use std::time::Duration;

use alloy::providers::RootProvider;
use alloy::rpc::client::RpcClient;
use alloy::rpc::json_rpc::{RequestPacket, ResponsePacket};
use alloy::transports::{TransportError, TransportErrorKind, TransportFut, TransportResult};
use switchyard_http::TlsRoots;
use switchyard_types::redact;

use crate::EvmError;

/// The default bound of one JSON-RPC answer: `eth_getBlockReceipts` of a
/// full block runs to tens of MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 << 20;

/// Most of an unreadable or error answer quoted in an error.
const QUOTE_BYTES: usize = 512;

/// How a pool reaches its endpoints.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// The certificates trusted for `https://` endpoints.
    pub roots: TlsRoots,
    /// The bound of one answer, in bytes.
    pub max_response_bytes: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            roots: TlsRoots::public(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// A JSON-RPC-over-HTTP(S) transport with a bounded answer.
#[derive(Clone, Debug)]
pub struct BoundedHttp {
    client: reqwest::Client,
    url: reqwest::Url,
    max_response_bytes: usize,
}

impl BoundedHttp {
    /// A transport to `url` over `client`.
    pub fn new(client: reqwest::Client, url: reqwest::Url, max_response_bytes: usize) -> Self {
        Self {
            client,
            url,
            max_response_bytes,
        }
    }

    async fn request(self, req: RequestPacket) -> TransportResult<ResponsePacket> {
        let shown = redact::endpoint(self.url.as_str());
        let resp = self
            .client
            .post(self.url.clone())
            .json(&req)
            .headers(req.headers())
            .send()
            .await
            .map_err(|e| TransportErrorKind::custom_str(&switchyard_http::describe(&e)))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
            .map(Duration::from_secs);
        let body = switchyard_http::read_limited(resp, self.max_response_bytes, &shown)
            .await
            .map_err(TransportErrorKind::custom)?;
        if !status.is_success() {
            // A JSON-RPC error object is an answer, whatever the status.
            if let Ok(packet) = serde_json::from_slice::<ResponsePacket>(&body)
                && packet.is_error()
            {
                return Ok(packet);
            }
            return Err(TransportErrorKind::http_error_with_retry_after(
                status.as_u16(),
                quote(&body),
                retry_after,
            ));
        }
        serde_json::from_slice(&body).map_err(|err| TransportError::deser_err(err, quote(&body)))
    }
}

/// The start of `body`, for an error message (an answer may be megabytes).
fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(QUOTE_BYTES)]);
    if body.len() > QUOTE_BYTES {
        format!("{text}... ({} bytes)", body.len())
    } else {
        text.into_owned()
    }
}

impl tower::Service<RequestPacket> for BoundedHttp {
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, _cx: &mut task::Context<'_>) -> task::Poll<Result<(), Self::Error>> {
        // reqwest has no back-pressure of its own: always ready.
        task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: RequestPacket) -> Self::Future {
        Box::pin(self.clone().request(req))
    }
}

/// A provider of `url` over `client` (whose timeout bounds each call),
/// answers bounded by `max_response_bytes`. `what` names the URL in a parse
/// error (never the URL itself: it may carry a key).
pub fn provider(
    client: &reqwest::Client,
    url: &str,
    max_response_bytes: usize,
    what: &str,
) -> Result<RootProvider, EvmError> {
    let parsed: reqwest::Url = url.parse().map_err(|e| EvmError::Malformed {
        what: "rpc url",
        reason: format!("{what}: {e}"),
    })?;
    let is_local = parsed
        .host_str()
        .is_some_and(|h| h == "localhost" || h == "127.0.0.1" || h == "::1" || h == "[::1]");
    let transport = BoundedHttp::new(client.clone(), parsed, max_response_bytes);
    Ok(RootProvider::new(RpcClient::new(transport, is_local)))
}
