//! The hub's HTTP surface: `/metrics`, `/healthz` (the process answers and
//! no task ended fatally),
//! `/readyz` (Redis reachable, light clients fresh), the public status API
//! and explorer page (`crate::api`), and the admin API `/admin/dlq/...`,
//! which refuses every request without the configured bearer token.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::admin::{Admin, AdminError};
use crate::health::Health;
use crate::lane::{Lanes, QueueError};
use crate::metrics::Metrics;
use crate::unix_ms;

/// What the HTTP handlers need.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Metrics to render.
    pub metrics: Metrics,
    /// Readiness inputs.
    pub health: Arc<Health>,
    /// For the Redis check.
    pub lanes: Lanes,
    /// Dead-letter operations.
    pub admin: Admin,
    /// Admin bearer token; `None` disables the admin API.
    pub admin_token: Option<Arc<str>>,
    /// Chain names and lanes, for the status API.
    pub catalog: Arc<crate::api::Catalog>,
}

/// The router (also used by tests without a socket).
pub fn router(state: AppState) -> Router {
    // Every admin route sits behind the bearer-token check, so no handler
    // can forget it.
    let admin = Router::new()
        .route("/admin/dlq/{chain}", get(dlq_list))
        .route(
            "/admin/dlq/{chain}/{shard}/{id}",
            get(dlq_show).delete(dlq_drop),
        )
        .route("/admin/dlq/{chain}/{shard}/{id}/replay", post(dlq_replay))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_token,
        ));
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(crate::api::router())
        .merge(admin)
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

/// Serves until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
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
    match tokio::time::timeout(Duration::from_secs(1), s.lanes.ping()).await {
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

/// Checks `Authorization: Bearer <token>` in constant time; `Some` is the
/// refusal to send.
fn authorize(s: &AppState, headers: &HeaderMap) -> Option<Response> {
    let Some(token) = &s.admin_token else {
        return Some(json_error(
            StatusCode::FORBIDDEN,
            "admin API disabled: configure admin_token",
        ));
    };
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let (a, b) = (given.as_bytes(), token.as_bytes());
    let diff = a
        .iter()
        .zip(b.iter())
        .fold(u8::from(a.len() != b.len()), |acc, (x, y)| acc | (x ^ y));
    if diff == 0 && !a.is_empty() {
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
        AdminError::UnknownChain { .. } | AdminError::Queue(QueueError::NotFound { .. }) => {
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
