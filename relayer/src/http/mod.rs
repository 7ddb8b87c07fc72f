//! The hub's HTTP surface: `/metrics`, `/healthz` (the process answers and
//! no task ended fatally), `/readyz` (Redis reachable, light clients
//! fresh), the public status API and explorer page ([`api`], under a
//! per-client rate limit), and the admin API `/admin/dlq/...`, which
//! refuses every request without the configured bearer token and is served
//! either with the rest or on its own address (`http.admin_listen`).
//!
//! May import: the store, health, metrics, the rate limiter, the admin
//! operations, the journal's read side. Nothing imports it but the hub.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub mod api;
pub mod tls;

use crate::admin::{Admin, AdminError};
use crate::health::Health;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::store::{Store, StoreError};
use crate::unix_ms;

/// What the HTTP handlers need.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Metrics to render.
    pub metrics: Metrics,
    /// Readiness inputs.
    pub health: Arc<Health>,
    /// Redis: its check, the status records and the lanes' backlog.
    pub store: Store,
    /// Dead-letter operations.
    pub admin: Admin,
    /// Admin bearer tokens (`admin_token`, then `accepted_admin_tokens`):
    /// any of them is accepted; none disables the admin API.
    pub admin_tokens: Vec<Arc<str>>,
    /// Chain names and lanes, for the status API.
    pub catalog: Arc<api::Catalog>,
    /// The status API's per-client rate limit.
    pub rate_limit: Arc<RateLimiter>,
    /// In an attester: the attestation API (`POST /v1/attest`).
    pub attest: Option<Arc<crate::attest::AttestService>>,
}

/// Everything on one router, the admin API included (also used by tests
/// without a socket, where no client address is known and nothing is rate
/// limited).
pub fn router(state: AppState) -> Router {
    public_router(state.clone()).merge(admin_router(state))
}

/// `/metrics`, `/healthz`, `/readyz`, and the status API and explorer
/// under the rate limit; no admin route.
pub fn public_router(state: AppState) -> Router {
    let api = api::router().route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        rate_limit,
    ));
    let router = Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(api);
    // The attestation API has its own bearer tokens and no rate limit: its
    // callers are the configured dispatchers.
    let router = match &state.attest {
        Some(service) => router.merge(crate::attest::serve::router(Arc::clone(service))),
        None => router,
    };
    router.with_state(state)
}

/// The admin API alone.
pub fn admin_router(state: AppState) -> Router {
    // Every admin route sits behind the bearer-token check, so no handler
    // can forget it.
    Router::new()
        .route("/admin/dlq/{chain}", get(dlq_list))
        .route(
            "/admin/dlq/{chain}/{shard}/{id}",
            get(dlq_show).delete(dlq_drop),
        )
        .route("/admin/dlq/{chain}/{shard}/{id}/replay", post(dlq_replay))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_token,
        ))
        .with_state(state)
}

async fn require_token(
    State(s): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match authorize(&s, request.headers()) {
        Some(refusal) => refusal,
        None => next.run(request).await,
    }
}

/// Takes a token of the client's bucket, or answers 429 with `Retry-After`.
/// The client is the peer address of the connection: a header such as
/// `X-Forwarded-For` is the client's to write, so it is not trusted.
async fn rate_limit(
    State(s): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(ip) = peer
        && let Err(wait) = s.rate_limit.check(ip, Instant::now())
    {
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        let mut r = json_error(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("too many requests from this client: retry after {secs} s"),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        return r;
    }
    next.run(request).await
}

async fn serve_one(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await
}

/// Serves the attestation API alone on `listener` (an attester's
/// `attestation.listen`), over TLS with `tls`, until `shutdown`.
pub async fn serve_attest(
    listener: TcpListener,
    tls: Option<rustls::ServerConfig>,
    service: Arc<crate::attest::AttestService>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let router: Router = crate::attest::serve::router(service);
    let stop = async move { shutdown.cancelled().await };
    match tls {
        None => {
            axum::serve(listener, router)
                .with_graceful_shutdown(stop)
                .await
        }
        Some(config) => {
            axum::serve(tls::TlsListener::new(listener, config), router)
                .with_graceful_shutdown(stop)
                .await
        }
    }
}

/// Serves everything, the admin API included, on `listener` until
/// `shutdown`.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    serve_one(listener, router(state), shutdown).await
}

/// Serves the admin API on `admin` only and the rest on `public`, until
/// `shutdown`; the first to fail stops both.
pub async fn serve_apart(
    public: TcpListener,
    admin: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    tokio::try_join!(
        serve_one(public, public_router(state.clone()), shutdown.clone()),
        serve_one(admin, admin_router(state), shutdown),
    )
    .map(|_| ())
}

async fn metrics_handler(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        s.metrics.render(),
    )
}

/// 200 while the process serves and every task runs; 503 with the reasons
/// once a task ended fatally or unexpectedly, so the orchestrator restarts
/// the process (a watcher that gave up does not come back by itself).
async fn healthz(State(s): State<AppState>) -> impl IntoResponse {
    let problems = s.health.liveness_problems();
    if problems.is_empty() {
        (StatusCode::OK, "ok\n".to_owned())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not live:\n{}\n", problems.join("\n")),
        )
    }
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    let mut problems = s.health.problems(unix_ms());
    match tokio::time::timeout(Duration::from_secs(1), s.store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => problems.push(format!("redis: {e}")),
        Err(_) => problems.push("redis: no answer within 1 s".into()),
    }
    if problems.is_empty() {
        (StatusCode::OK, "ready\n".to_owned())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready:\n{}\n", problems.join("\n")),
        )
    }
}

fn json_error(status: StatusCode, msg: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": msg }))).into_response()
}

/// Whether `headers` carry `Authorization: Bearer <t>` with `t` one of
/// `tokens` (never an empty one). Every token is compared in full,
/// whichever matches: the time taken says neither which, nor how much of
/// one, matched.
pub(crate) fn bearer_matches(headers: &HeaderMap, tokens: &[Arc<str>]) -> bool {
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let a = given.as_bytes();
    let matched = tokens.iter().fold(false, |any, token| {
        let b = token.as_bytes();
        let diff = a
            .iter()
            .zip(b.iter())
            .fold(u8::from(a.len() != b.len()), |acc, (x, y)| acc | (x ^ y));
        any | (diff == 0)
    });
    matched && !a.is_empty()
}

/// Checks `Authorization: Bearer <token>` in constant time; `Some` is the
/// refusal to send.
fn authorize(s: &AppState, headers: &HeaderMap) -> Option<Response> {
    if s.admin_tokens.is_empty() {
        return Some(json_error(
            StatusCode::FORBIDDEN,
            "admin API disabled: configure admin_token",
        ));
    }
    if bearer_matches(headers, &s.admin_tokens) {
        None
    } else {
        Some(json_error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token",
        ))
    }
}

fn admin_error(e: &AdminError) -> Response {
    match e {
        AdminError::UnknownChain { .. } | AdminError::Queue(StoreError::NotFound { .. }) => {
            json_error(StatusCode::NOT_FOUND, &e.to_string())
        }
        AdminError::Queue(_) => json_error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

async fn dlq_list(State(s): State<AppState>, Path(chain): Path<String>) -> Response {
    match s.admin.list(&chain).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => admin_error(&e),
    }
}

type LetterPath = Path<(String, String, String)>;

async fn dlq_show(State(s): State<AppState>, Path((chain, shard, id)): LetterPath) -> Response {
    match s.admin.show(&chain, &format!("{shard}/{id}")).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => admin_error(&e),
    }
}

async fn dlq_replay(State(s): State<AppState>, Path((chain, shard, id)): LetterPath) -> Response {
    match s.admin.replay(&chain, &format!("{shard}/{id}")).await {
        Ok(new_id) => axum::Json(serde_json::json!({ "replayed_as": new_id })).into_response(),
        Err(e) => admin_error(&e),
    }
}

async fn dlq_drop(State(s): State<AppState>, Path((chain, shard, id)): LetterPath) -> Response {
    match s.admin.drop(&chain, &format!("{shard}/{id}")).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => admin_error(&e),
    }
}
