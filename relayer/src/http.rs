//! The hub's HTTP surface: `/metrics`, `/healthz` (the process answers),
//! `/readyz` (Redis reachable, light clients fresh).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::health::Health;
use crate::lane::Lanes;
use crate::metrics::Metrics;
use crate::unix_ms;

#[derive(Clone)]
struct AppState {
    metrics: Metrics,
    health: Arc<Health>,
    lanes: Lanes,
}

/// Serves until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    metrics: Metrics,
    health: Arc<Health>,
    lanes: Lanes,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(AppState {
            metrics,
            health,
            lanes,
        });
    axum::serve(listener, app)
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
