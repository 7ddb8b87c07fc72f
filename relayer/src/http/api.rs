//! The public, read-only status API (`/v1/...`), its OpenAPI document
//! (`/openapi.json`, checked in as `relayer/openapi.json`) and the explorer
//! page (`/`), whose assets are compiled into the binary.
//!
//! Every route is listed once in [`routes`]: the router is built from that
//! list and a test checks it against the OpenAPI document both ways.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use serde::{Deserialize, Serialize};
use switchyard_types::Domain;

use super::AppState;
use crate::config::{Config, TrustMode};
use switchyard_sdk::{MessageList, MessageStatus, Stage};

use crate::journal::{parse_b256, parse_sender, status_of};
use crate::status_index::{Cursor, IndexKind};
use crate::store::LaneId;
use crate::unix_ms;

/// The OpenAPI document, as checked into the repository.
pub const OPENAPI: &str = include_str!("../../openapi.json");

const INDEX_HTML: &str = include_str!("../explorer/index.html");
const APP_JS: &str = include_str!("../explorer/app.js");
const STYLE_CSS: &str = include_str!("../explorer/style.css");

/// The explorer's pages load nothing from elsewhere and run no inline code.
const CSP: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// Most messages one list answer carries, and how many it carries unless
/// asked for fewer.
const LIST_LIMIT: u32 = 100;

/// What the API needs to know of the configuration (names and lanes), and
/// its short-lived answer cache.
#[derive(Debug, Default)]
pub struct Catalog {
    /// Every origin (EVM chains and CometBFT origins): (name, domain).
    pub origins: Vec<(String, Domain)>,
    /// Every destination chain: (name, domain).
    pub destinations: Vec<(String, Domain)>,
    /// Each origin's trust mode (shown with its routes).
    pub trust: HashMap<Domain, TrustMode>,
    /// Shards per destination lane.
    pub shards: u16,
    /// The last `/v1/routes` and `/v1/lanes` answers: every open explorer
    /// page polls them, and a public page must not turn its viewers into
    /// load on Redis.
    cache: std::sync::Mutex<HashMap<&'static str, (std::time::Instant, axum::body::Bytes)>>,
}

/// How long a `/v1/routes` or `/v1/lanes` answer is reused.
const CACHE_FOR: std::time::Duration = std::time::Duration::from_secs(1);

impl Catalog {
    /// From a validated config.
    pub fn from_config(cfg: &Config) -> Self {
        Self {
            origins: cfg
                .chains
                .iter()
                .map(|c| (c.name.clone(), c.domain))
                .chain(
                    cfg.cometbft_origins
                        .iter()
                        .map(|c| (c.name.clone(), c.domain)),
                )
                .collect(),
            destinations: cfg
                .chains
                .iter()
                .map(|c| (c.name.clone(), c.domain))
                .collect(),
            trust: cfg
                .chains
                .iter()
                .map(|c| (c.domain, c.trust_mode()))
                .chain(
                    cfg.cometbft_origins
                        .iter()
                        .map(|c| (c.domain, TrustMode::Cometbft)),
                )
                .collect(),
            shards: cfg.dispatcher.lane_shards,
            cache: std::sync::Mutex::default(),
        }
    }

    /// The cached JSON answer for `key` if younger than [`CACHE_FOR`], else
    /// a fresh one from `make` (cached when it succeeded).
    async fn cached<F>(&self, key: &'static str, make: F) -> Response
    where
        F: std::future::Future<Output = Response>,
    {
        let json = |body: axum::body::Bytes| {
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        };
        if let Some((at, body)) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            && at.elapsed() < CACHE_FOR
        {
            return json(body.clone());
        }
        let fresh = make.await;
        if !fresh.status().is_success() {
            return fresh;
        }
        let Ok(body) = axum::body::to_bytes(fresh.into_body(), 16 << 20).await else {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "answer too large to serve",
            );
        };
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, (std::time::Instant::now(), body.clone()));
        json(body)
    }

    fn name(&self, d: Domain) -> Option<String> {
        self.origins
            .iter()
            .chain(&self.destinations)
            .find(|(_, x)| *x == d)
            .map(|(n, _)| n.clone())
    }
}

/// Every public route: (path in axum syntax, method, handler).
pub fn routes() -> Vec<(&'static str, &'static str, MethodRouter<AppState>)> {
    vec![
        ("/v1/messages/{id}", "get", get(message)),
        ("/v1/messages", "get", get(messages)),
        ("/v1/routes", "get", get(routes_handler)),
        ("/v1/lanes", "get", get(lanes_handler)),
        ("/openapi.json", "get", get(openapi)),
        ("/", "get", get(index)),
        ("/explorer/app.js", "get", get(app_js)),
        ("/explorer/style.css", "get", get(style_css)),
    ]
}

/// The public routes as a router.
pub fn router() -> axum::Router<AppState> {
    routes()
        .into_iter()
        .fold(axum::Router::new(), |r, (path, _, handler)| {
            r.route(path, handler)
        })
}

/// An API error: `{"error": "..."}` with a status.
fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": msg.into() })),
    )
        .into_response()
}

fn redis_unavailable(e: &crate::store::StoreError) -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("status journal unavailable: {e}"),
    )
}

async fn statuses(
    s: &AppState,
    ids: &[alloy_primitives::B256],
) -> Result<Vec<MessageStatus>, Response> {
    let records = s
        .store
        .status()
        .status_records(ids)
        .await
        .map_err(|e| redis_unavailable(&e))?;
    Ok(ids
        .iter()
        .zip(&records)
        .filter_map(|(id, r)| status_of(id, r, |d| s.catalog.name(d)))
        .collect())
}

async fn message(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    let id = match parse_b256("message id", &id) {
        Ok(id) => id,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    match statuses(&s, &[id]).await {
        Ok(mut v) => match v.pop() {
            Some(m) => axum::Json(m).into_response(),
            None => error(
                StatusCode::NOT_FOUND,
                format!(
                    "message {id} is unknown to this hub: not seen yet, or older than status.retention_secs"
                ),
            ),
        },
        Err(r) => r,
    }
}

/// Query of `GET /v1/messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// An origin or destination transaction hash.
    pub tx: Option<String>,
    /// A sender (20 or 32 bytes).
    pub sender: Option<String>,
    /// Restricts a sender search to one origin domain.
    pub origin: Option<Domain>,
    /// Messages per page, 1 to 100 (default 100).
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`: where this page starts.
    pub cursor: Option<String>,
}

async fn messages(
    State(s): State<AppState>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(q) = match q {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("query: {e}")),
    };
    let limit = q.limit.unwrap_or(LIST_LIMIT);
    if !(1..=LIST_LIMIT).contains(&limit) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("limit: expected 1 to {LIST_LIMIT}, got {limit}"),
        );
    }
    let limit = limit as usize;
    let kind = match (&q.tx, &q.sender) {
        (Some(_), None) => IndexKind::Tx,
        (None, Some(_)) => IndexKind::Sender,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "query: expected exactly one of tx=<0x 32-byte hash> or sender=<0x address>",
            );
        }
    };
    let cursor = match q.cursor.as_deref().map(|c| Cursor::parse(kind, c)) {
        None => None,
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let page = if let Some(tx) = &q.tx {
        let hash = match parse_b256("tx", tx) {
            Ok(h) => h,
            Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
        };
        crate::status_index::tx_page(&s.store.status(), &hash, cursor.as_ref(), limit).await
    } else {
        let sender = match parse_sender(q.sender.as_deref().unwrap_or_default()) {
            Ok(x) => x,
            Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
        };
        let origins: Vec<Domain> = match q.origin {
            Some(o) => vec![o],
            None => s.catalog.origins.iter().map(|(_, d)| *d).collect(),
        };
        crate::status_index::sender_page(
            &s.store.status(),
            &origins,
            &sender,
            cursor.as_ref(),
            limit,
        )
        .await
    };
    let page = match page {
        Ok(p) => p,
        Err(e) => return redis_unavailable(&e),
    };
    // In the index's order; ids whose record expired are left out, so a
    // page may be short and still have a next one.
    match statuses(&s, &page.ids).await {
        Ok(messages) => axum::Json(MessageList {
            messages,
            next_cursor: page.next.map(|c| c.encode()),
        })
        .into_response(),
        Err(r) => r,
    }
}

/// One route's deployment-wide counts.
#[derive(Debug, Serialize, Default, Clone, PartialEq, Eq)]
pub struct Totals {
    /// Appended to a lane.
    pub queued: u64,
    /// Broadcast (a message retried counts once per attempt).
    pub submitted: u64,
    /// Delivered by the destination Inbox.
    pub delivered: u64,
    /// Recipient call failed.
    pub failed: u64,
    /// Given up into dead letters.
    pub dead_lettered: u64,
}

/// One (origin, destination) pair.
#[derive(Debug, Serialize)]
pub struct RouteView {
    /// Origin chain name, if configured here.
    pub origin: Option<String>,
    /// Origin domain.
    pub origin_domain: Domain,
    /// How the origin's blocks are trusted, if configured here.
    pub origin_trust: Option<TrustMode>,
    /// Destination chain name, if configured here.
    pub destination: Option<String>,
    /// Destination domain.
    pub destination_domain: Domain,
    /// Counts since the journal began.
    pub totals: Totals,
}

/// Answer of `GET /v1/routes`.
#[derive(Debug, Serialize)]
pub struct Routes {
    /// When the counts were read (unix ms).
    pub sampled_at_ms: u64,
    /// Every configured pair, and any other pair with counts.
    pub routes: Vec<RouteView>,
}

async fn routes_handler(State(s): State<AppState>) -> Response {
    let catalog = std::sync::Arc::clone(&s.catalog);
    catalog.cached("routes", routes_answer(s)).await
}

async fn routes_answer(s: AppState) -> Response {
    let counts = match s.store.status().status_counts().await {
        Ok(c) => c,
        Err(e) => return redis_unavailable(&e),
    };
    let sampled_at_ms = unix_ms();
    let mut pairs: HashMap<(Domain, Domain), Totals> = HashMap::new();
    for (_, o) in &s.catalog.origins {
        for (_, d) in &s.catalog.destinations {
            if o != d {
                pairs.entry((*o, *d)).or_default();
            }
        }
    }
    for (k, n) in counts {
        let mut it = k.splitn(3, ':');
        let (Some(o), Some(d), Some(stage)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        let (Ok(o), Ok(d)) = (o.parse(), d.parse()) else {
            continue;
        };
        let t = pairs.entry((o, d)).or_default();
        let slot = match Stage::ALL.into_iter().find(|s| s.as_str() == stage) {
            Some(Stage::Queued) => &mut t.queued,
            Some(Stage::Submitted) => &mut t.submitted,
            Some(Stage::Delivered) => &mut t.delivered,
            Some(Stage::Failed) => &mut t.failed,
            Some(Stage::DeadLettered) => &mut t.dead_lettered,
            // Verified is not counted per route; anything else is not ours.
            Some(Stage::Verified) | None => continue,
        };
        *slot = n;
    }
    let mut routes: Vec<RouteView> = pairs
        .into_iter()
        .map(|((o, d), totals)| RouteView {
            origin: s.catalog.name(o),
            origin_domain: o,
            origin_trust: s.catalog.trust.get(&o).copied(),
            destination: s.catalog.name(d),
            destination_domain: d,
            totals,
        })
        .collect();
    routes.sort_by_key(|r| (r.origin_domain, r.destination_domain));
    axum::Json(Routes {
        sampled_at_ms,
        routes,
    })
    .into_response()
}

/// One shard's backlog.
#[derive(Debug, Serialize)]
pub struct ShardView {
    /// Shard index.
    pub shard: u16,
    /// Entries not yet acknowledged.
    pub entries: u64,
    /// Of those, read by a dispatcher and in progress.
    pub pending: u64,
    /// Age of the oldest entry, ms.
    pub oldest_age_ms: u64,
}

/// One destination's lane.
#[derive(Debug, Serialize)]
pub struct LaneView {
    /// Destination chain name.
    pub destination: String,
    /// Destination domain.
    pub domain: Domain,
    /// Entries over all shards.
    pub entries: u64,
    /// Pending over all shards.
    pub pending: u64,
    /// Oldest entry over all shards, ms.
    pub oldest_age_ms: u64,
    /// Per shard.
    pub shards: Vec<ShardView>,
}

/// Answer of `GET /v1/lanes`.
#[derive(Debug, Serialize)]
pub struct LanesView {
    /// When read (unix ms).
    pub sampled_at_ms: u64,
    /// Every destination.
    pub lanes: Vec<LaneView>,
}

async fn lanes_handler(State(s): State<AppState>) -> Response {
    let catalog = std::sync::Arc::clone(&s.catalog);
    catalog.cached("lanes", lanes_answer(s)).await
}

async fn lanes_answer(s: AppState) -> Response {
    let now = unix_ms();
    let mut lanes = Vec::new();
    for (name, dst) in &s.catalog.destinations {
        let mut view = LaneView {
            destination: name.clone(),
            domain: *dst,
            entries: 0,
            pending: 0,
            oldest_age_ms: 0,
            shards: Vec::new(),
        };
        for shard in 0..s.catalog.shards {
            let (entries, pending, oldest_age_ms) = match s
                .store
                .lanes()
                .shard_backlog(LaneId { dst: *dst, shard }, now)
                .await
            {
                Ok(b) => b,
                Err(e) => return redis_unavailable(&e),
            };
            view.entries += entries;
            view.pending += pending;
            view.oldest_age_ms = view.oldest_age_ms.max(oldest_age_ms);
            view.shards.push(ShardView {
                shard,
                entries,
                pending,
                oldest_age_ms,
            });
        }
        lanes.push(view);
    }
    axum::Json(LanesView {
        sampled_at_ms: now,
        lanes,
    })
    .into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn style_css() -> Response {
    asset("text/css; charset=utf-8", STYLE_CSS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `{id}` in axum and OpenAPI alike; the document's paths and methods.
    fn documented() -> Vec<(String, String)> {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("path item").keys() {
                if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                    out.push((path.clone(), method.clone()));
                }
            }
        }
        out.sort();
        out
    }

    async fn body_of(r: Response) -> serde_json::Value {
        let b = axum::body::to_bytes(r.into_body(), 1 << 20)
            .await
            .expect("body");
        serde_json::from_slice(&b).expect("JSON")
    }

    #[tokio::test]
    async fn polled_answers_are_reused_for_a_second_and_errors_never() {
        let c = Catalog::default();
        let answer =
            |n: u32| async move { axum::Json(serde_json::json!({ "n": n })).into_response() };
        assert_eq!(body_of(c.cached("routes", answer(1)).await).await["n"], 1);
        assert_eq!(
            body_of(c.cached("routes", answer(2)).await).await["n"],
            1,
            "within a second, the first answer"
        );
        assert_eq!(body_of(c.cached("lanes", answer(3)).await).await["n"], 3);
        let failed = c
            .cached("other", async {
                error(StatusCode::SERVICE_UNAVAILABLE, "down")
            })
            .await;
        assert_eq!(failed.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body_of(c.cached("other", answer(4)).await).await["n"], 4);
    }

    #[test]
    fn served_routes_are_exactly_the_documented_ones() {
        let mut served: Vec<(String, String)> = routes()
            .into_iter()
            .map(|(p, m, _)| (p.to_owned(), m.to_owned()))
            .collect();
        served.sort();
        assert_eq!(
            served,
            documented(),
            "routes() and relayer/openapi.json differ"
        );
    }

    #[test]
    fn the_document_is_openapi_3_with_a_schema_per_answer() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("JSON");
        assert!(
            doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
            "openapi version 3.x expected, got {}",
            doc["openapi"]
        );
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("item") {
                let ok = &op["responses"]["200"];
                assert!(ok.is_object(), "{method} {path}: no 200 response");
                assert!(
                    op["operationId"].is_string(),
                    "{method} {path}: no operationId"
                );
            }
        }
    }
}
