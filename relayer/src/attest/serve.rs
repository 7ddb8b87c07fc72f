//! The attester's side: the signing rule and `POST /v1/attest`.
//!
//! The rule, whatever the caller sends: the root is computed here, from the
//! messages themselves or from the ids that name them, and signed only when
//! the destination (chain id and Inbox) is configured and every message
//! comes from an origin this attester follows, was recorded by this
//! attester's own light clients at the height named, and is addressed (as
//! recorded, and as sent when sent whole) to a domain that destination
//! serves. Anything else is refused with the reason, message by message,
//! and counted.

use std::collections::HashMap;
use std::sync::Arc;

use alloy_primitives::{Address, B256, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use switchyard_evm::attest::Attester;
use switchyard_types::{Domain, Message, batch_root};
use tracing::{debug, warn};

use super::{AttestAnswer, AttestRequest, Recorded, Refusal, RefusalReason, Verified};
use crate::config::{Config, Role};
use crate::metrics::Metrics;

/// Largest request body: `max_messages` messages of up to 64 KiB, hex.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// A destination this attester signs for.
#[derive(Debug, Clone)]
struct Destination {
    name: String,
    /// Its domain and the route-group domains it serves.
    domains: Vec<Domain>,
}

/// What the attestation handler needs.
#[derive(Debug)]
pub struct AttestService {
    attester: Attester,
    verified: Verified,
    tokens: Vec<Arc<str>>,
    /// (chain id, Inbox) → destination.
    destinations: HashMap<(u64, Address), Destination>,
    /// Origins followed.
    origins: Vec<Domain>,
    max_messages: usize,
    metrics: Metrics,
}

/// A request the handler cannot take: status and message.
#[derive(Debug, PartialEq, Eq)]
pub struct BadRequest {
    /// HTTP status.
    pub status: u16,
    /// What is wrong, expected against got.
    pub message: String,
}

impl AttestService {
    /// The service of an attester configured by `cfg` (role `attester`),
    /// signing with `attester` over what `verified` holds; `tokens` are
    /// the accepted bearer tokens (resolved).
    pub fn new(
        cfg: &Config,
        attester: Attester,
        verified: Verified,
        tokens: Vec<Arc<str>>,
        metrics: Metrics,
    ) -> Self {
        debug_assert_eq!(cfg.role, Role::Attester);
        let mut destinations = HashMap::new();
        for c in &cfg.chains {
            let Some(inbox) = c.inbox else { continue };
            let mut domains = vec![c.domain];
            for g in &cfg.route_groups {
                if g.members.iter().any(|m| m.chain == c.name) {
                    domains.push(g.domain);
                }
            }
            destinations.insert(
                (c.chain_id, inbox),
                Destination {
                    name: c.name.clone(),
                    domains,
                },
            );
        }
        let origins = cfg
            .chains
            .iter()
            .map(|c| c.domain)
            .chain(cfg.cometbft_origins.iter().map(|c| c.domain))
            .collect();
        for r in RefusalReason::ALL {
            metrics
                .attestation_refusals
                .with_label_values(&[r.as_str()]);
        }
        for d in destinations.values() {
            for outcome in ["signed", "refused"] {
                metrics.attestations.with_label_values(&[&d.name, outcome]);
            }
        }
        Self {
            attester,
            verified,
            tokens,
            destinations,
            origins,
            max_messages: cfg.attestation.max_messages,
            metrics,
        }
    }

    /// The signer's address.
    pub fn address(&self) -> Address {
        self.attester.address()
    }

    /// Applies the signing rule to `req`.
    pub async fn attest(&self, req: &AttestRequest) -> Result<AttestAnswer, BadRequest> {
        let n = req.messages.len() + req.ids.len();
        if !req.messages.is_empty() && !req.ids.is_empty() {
            return Err(BadRequest {
                status: 400,
                message: format!(
                    "expected the batch as messages or as ids, got {} messages and {} ids",
                    req.messages.len(),
                    req.ids.len()
                ),
            });
        }
        if n == 0 || n > self.max_messages {
            return Err(BadRequest {
                status: 413,
                message: format!(
                    "messages: expected 1 to {} per request, got {n}",
                    self.max_messages
                ),
            });
        }
        // By id, the root is over what the caller named (an id this
        // attester did not record is refused below); by message, over the
        // messages' own ids.
        let ids: Vec<B256> = if req.ids.is_empty() {
            req.messages
                .iter()
                .map(|m| switchyard_types::id_of_encoded(&m.message))
                .collect()
        } else {
            req.ids.iter().map(|i| i.id).collect()
        };
        let root = batch_root(&ids);
        let answer = |refusals: Vec<Refusal>| AttestAnswer {
            signer: self.attester.address(),
            root,
            signature: None,
            refusals,
        };
        let Some(dest) = self.destinations.get(&(req.chain_id, req.inbox)) else {
            self.count("unknown", &[RefusalReason::UnknownDestination]);
            return Ok(answer(vec![Refusal {
                index: None,
                reason: RefusalReason::UnknownDestination,
                detail: format!(
                    "chain id {} with Inbox {}: expected one of this attester's destinations ({})",
                    req.chain_id,
                    req.inbox,
                    self.destinations
                        .iter()
                        .map(|((id, inbox), d)| format!("{} = {id}/{inbox}", d.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }]));
        };
        let mut refusals = Vec::new();
        let wrong_destination = |i: usize, domain: Domain, whose: &str| Refusal {
            index: Some(i),
            reason: RefusalReason::WrongDestination,
            detail: format!(
                "{whose} destination domain {domain}: expected one {} serves ({:?})",
                dest.name, dest.domains
            ),
        };
        // Messages to look up, by origin: (index, id, claimed height).
        let mut by_origin: HashMap<Domain, Vec<(usize, B256, u64)>> = HashMap::new();
        let mut look_up = |i: usize, origin: Domain, height: u64, refusals: &mut Vec<Refusal>| {
            if self.origins.contains(&origin) {
                by_origin
                    .entry(origin)
                    .or_default()
                    .push((i, ids[i], height));
            } else {
                refusals.push(Refusal {
                    index: Some(i),
                    reason: RefusalReason::UnknownOrigin,
                    detail: format!(
                        "origin domain {origin}: expected one this attester follows ({:?})",
                        self.origins
                    ),
                });
            }
        };
        for (i, item) in req.messages.iter().enumerate() {
            let m = match Message::decode(&item.message).and_then(|m| {
                m.check_version()?;
                Ok(m)
            }) {
                Ok(m) => m,
                Err(e) => {
                    refusals.push(Refusal {
                        index: Some(i),
                        reason: RefusalReason::Malformed,
                        detail: e.to_string(),
                    });
                    continue;
                }
            };
            if !dest.domains.contains(&m.destination) {
                refusals.push(wrong_destination(i, m.destination, "the message's"));
                continue;
            }
            look_up(i, m.origin, item.height, &mut refusals);
        }
        for (i, item) in req.ids.iter().enumerate() {
            look_up(i, item.origin, item.height, &mut refusals);
        }
        for (origin, items) in by_origin {
            let wanted: Vec<(B256, u64)> = items.iter().map(|(_, id, h)| (*id, *h)).collect();
            // Read before the lookup: a message recorded between the two
            // would otherwise look unknown at a height already passed (the
            // record is written before the height moves, never after).
            let reached = match self.verified.passed(origin).await {
                Ok(r) => r,
                Err(e) => {
                    warn!(err = %e, "origin cursor read failed");
                    return Err(BadRequest {
                        status: 503,
                        message: format!("the attester's store failed: {e}"),
                    });
                }
            };
            let found = match self.verified.lookup(origin, &wanted).await {
                Ok(f) => f,
                Err(e) => {
                    // Not knowing is not a refusal: the dispatcher asks
                    // again later.
                    warn!(err = %e, "verified-message lookup failed");
                    return Err(BadRequest {
                        status: 503,
                        message: format!("the attester's store failed: {e}"),
                    });
                }
            };
            for ((i, id, claimed), recorded) in items.into_iter().zip(found) {
                match recorded {
                    // What this attester recorded of the message, not what
                    // the caller says: an id names no destination itself.
                    Recorded::To(d) if !dest.domains.contains(&d) => {
                        refusals.push(wrong_destination(i, d, "the recorded"));
                        continue;
                    }
                    // A record of the earlier form names none: a message
                    // sent whole was checked above, and the Inbox checks
                    // every message's destination itself.
                    Recorded::To(_) | Recorded::Unaddressed => continue,
                    Recorded::No => {}
                }
                let (reason, detail) = match reached {
                    Some(h) if claimed <= h => (
                        RefusalReason::UnknownMessage,
                        format!(
                            "message {id} of origin {origin}: not among the messages this attester verified (its light client passed height {claimed}, at {h})"
                        ),
                    ),
                    _ => (
                        RefusalReason::NotYetVerified,
                        format!(
                            "message {id} of origin {origin} at height {claimed}: this attester's light client is at {}",
                            reached.map_or("no height yet".to_owned(), |h| h.to_string())
                        ),
                    ),
                };
                if reason == RefusalReason::UnknownMessage {
                    // What the person on call needs to check the origin
                    // chain (a forgery, or a window or checkpoint issue).
                    warn!(msg_id = %id, origin, height = claimed, passed = ?reached, "refused to sign a message this attester never verified");
                }
                refusals.push(Refusal {
                    index: Some(i),
                    reason,
                    detail,
                });
            }
        }
        if !refusals.is_empty() {
            refusals.sort_by_key(|r| r.index);
            let reasons: Vec<RefusalReason> = refusals.iter().map(|r| r.reason).collect();
            self.count(&dest.name, &reasons);
            debug!(destination = %dest.name, refused = refusals.len(), messages = n, "attestation refused");
            return Ok(answer(refusals));
        }
        let sig = self
            .attester
            .sign_batch(req.chain_id, req.inbox, root)
            .map_err(|e| BadRequest {
                status: 500,
                message: format!("signing failed: {e}"),
            })?;
        self.metrics
            .attestations
            .with_label_values(&[&dest.name, "signed"])
            .inc();
        Ok(AttestAnswer {
            signature: Some(Bytes::copy_from_slice(&sig)),
            ..answer(Vec::new())
        })
    }

    fn count(&self, destination: &str, reasons: &[RefusalReason]) {
        self.metrics
            .attestations
            .with_label_values(&[destination, "refused"])
            .inc();
        for r in reasons {
            self.metrics
                .attestation_refusals
                .with_label_values(&[r.as_str()])
                .inc();
        }
    }
}

/// The attestation route, behind the bearer-token check.
pub fn router<S: Clone + Send + Sync + 'static>(service: Arc<AttestService>) -> axum::Router<S> {
    axum::Router::new()
        .route(super::PATH, axum::routing::post(handle))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(service)
}

async fn handle(
    State(s): State<Arc<AttestService>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let error = |status: StatusCode, message: String| {
        (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
    };
    if !crate::http::bearer_matches(&headers, &s.tokens) {
        return error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token".into(),
        );
    }
    let binary = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let v = v.trim();
            v.eq_ignore_ascii_case(super::BINARY) || v.eq_ignore_ascii_case(super::BINARY_MESSAGES)
        });
    let parsed = if binary {
        super::decode_request(&body, s.max_messages).map_err(|e| {
            let status = match e {
                super::DecodeError::TooMany { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                super::DecodeError::Malformed(_) | super::DecodeError::MalformedMessages(_) => {
                    StatusCode::BAD_REQUEST
                }
            };
            (status, e.to_string())
        })
    } else {
        serde_json::from_slice::<AttestRequest>(&body)
            .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))
    };
    let req = match parsed {
        Ok(r) => r,
        Err((status, e)) if binary => return error(status, e),
        Err((_, e)) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "request body: expected JSON {{chain_id, inbox, messages: [{{height, message}}]}} or {{chain_id, inbox, ids: [{{origin, height, id}}]}} (or Content-Type {}), got {} bytes that do not parse: {e}",
                    super::BINARY,
                    body.len()
                ),
            );
        }
    };
    match s.attest(&req).await {
        Ok(answer) => axum::Json(answer).into_response(),
        Err(bad) => error(
            StatusCode::from_u16(bad.status).unwrap_or(StatusCode::BAD_REQUEST),
            bad.message,
        ),
    }
}
