//! A fake beacon node: the three light-client endpoints of the beacon API
//! (bootstrap, updates by period, finality update) served on a loopback
//! port from whatever a test's chain data is, every request logged. The
//! hub's beacon light client verifies what it serves like a real node's.

use std::collections::BTreeMap;
use std::sync::Arc;

use alloy::primitives::B256;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::Value;

/// What a fake beacon node answers.
pub(crate) trait LightClientData: Send + Sync + 'static {
    /// The `light_client/bootstrap` answer for block `root`, if the node has
    /// one.
    fn bootstrap(&self, root: B256) -> Option<String>;
    /// The updates (each the API's `{version, data}` object) whose attested
    /// header lies in periods `start..start + count`.
    fn updates(&self, start: u64, count: u64) -> Vec<Value>;
    /// The `light_client/finality_update` answer.
    fn finality_update(&self) -> String;
    /// Records a request (`bootstrap/<root>`, `updates/<start>+<count>`,
    /// `finality_update`), for the tests that check what the hub asked.
    fn log(&self, what: String);
}

/// Serves `node` on a free loopback port; the base URL.
pub(crate) async fn serve<T: LightClientData>(node: Arc<T>) -> String {
    let app = axum::Router::new()
        .route(
            "/eth/v1/beacon/light_client/bootstrap/{root}",
            get(bootstrap::<T>),
        )
        .route("/eth/v1/beacon/light_client/updates", get(updates::<T>))
        .route(
            "/eth/v1/beacon/light_client/finality_update",
            get(finality_update::<T>),
        )
        .with_state(node);
    super::serve::router(app).await
}

async fn bootstrap<T: LightClientData>(
    State(node): State<Arc<T>>,
    Path(root): Path<String>,
) -> (StatusCode, String) {
    node.log(format!("bootstrap/{root}"));
    match root.parse::<B256>().ok().and_then(|r| node.bootstrap(r)) {
        Some(body) => (StatusCode::OK, body),
        None => (
            StatusCode::NOT_FOUND,
            r#"{"code":404,"message":"no bootstrap for that root"}"#.into(),
        ),
    }
}

async fn updates<T: LightClientData>(
    State(node): State<Arc<T>>,
    Query(q): Query<BTreeMap<String, u64>>,
) -> (StatusCode, String) {
    let (Some(&start), Some(&count)) = (q.get("start_period"), q.get("count")) else {
        return (StatusCode::BAD_REQUEST, "start_period and count".into());
    };
    node.log(format!("updates/{start}+{count}"));
    (
        StatusCode::OK,
        Value::Array(node.updates(start, count)).to_string(),
    )
}

async fn finality_update<T: LightClientData>(State(node): State<Arc<T>>) -> String {
    node.log("finality_update".into());
    node.finality_update()
}
