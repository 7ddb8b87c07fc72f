//! The dispatcher's side: collecting a batch's signatures from the
//! configured attesters.
//!
//! Every attester is asked in parallel, each within the timeout. A
//! signature counts only when it recovers (as the Inbox's ecrecover does)
//! to the address the attester answered with and that address is one of the
//! Inbox's attesters now (read from the chain, cached briefly, re-read when
//! an unknown signer shows up or a submission says the set changed). Once
//! the threshold is held, that many signatures go out ordered by signer
//! address. Short of it: a batch that cannot get there any more (more
//! attesters refused it for good than the set can spare) is
//! [`EvmError::AttestationRefused`], split by the pipeline until the
//! refused message stands alone and is dead-lettered; otherwise
//! [`EvmError::BelowThreshold`], retried later without spending attempts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, Bytes, keccak256};
use switchyard_evm::EvmError;
use switchyard_evm::attest::{batch_digest, recover_signer};
use switchyard_types::Domain;
use tracing::{debug, warn};

use super::{AttestAnswer, PATH};
use crate::chain::BatchSink;
use crate::config::ConfigError;
use crate::metrics::Metrics;

/// How long an Inbox's attester set is trusted before it is read again.
const SET_TTL: Duration = Duration::from_secs(10);

/// Largest answer read from an attester.
const MAX_ANSWER: usize = 64 * 1024;

/// Every `outcome` of `switchyard_attestation_requests_total` (series
/// created at 0).
pub const OUTCOMES: [&str; 6] = [
    "signed",
    "refused",
    "not_yet_verified",
    "unreachable",
    "invalid",
    "not_in_set",
];

/// How long an attester that did not sign is asked after the others.
const SET_ASIDE: Duration = Duration::from_secs(30);

/// How long one probe of the attesters answers for every destination.
const PROBE_FRESH: Duration = Duration::from_secs(5);

/// Each attester's name, with why it does not answer (none when it does).
type Probed = Vec<(String, Option<String>)>;

/// One configured attester.
#[derive(Clone)]
struct Remote {
    name: String,
    url: String,
    token: String,
    /// Its own client when it presents a client certificate (mutual TLS);
    /// the shared one otherwise.
    client: Option<reqwest::Client>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("name", &self.name)
            .field("url", &switchyard_types::redact::endpoint(&self.url))
            .finish_non_exhaustive()
    }
}

/// What one attester said about one batch.
#[derive(Debug)]
enum Said {
    /// A signature from an address.
    Signed(Address, Bytes),
    /// Refusals; `final` when asking again cannot change them.
    Refused { last: bool, text: String },
    /// No answer (down, slow, an error status).
    Unreachable(String),
    /// An answer that cannot count: a body that does not parse, a
    /// signature that does not recover to the signer it names.
    Invalid(String),
}

/// An Inbox's attester set as last read.
#[derive(Debug, Clone)]
struct SetView {
    at: Instant,
    threshold: u64,
    members: HashMap<Address, bool>,
}

/// The dispatcher's attester client, shared by a destination's pipelines.
#[derive(Debug)]
pub struct Collector {
    client: reqwest::Client,
    remotes: Vec<Remote>,
    metrics: Metrics,
    /// Per (chain id, Inbox), the set last read.
    sets: Mutex<HashMap<(u64, Address), SetView>>,
    /// Per attester, when it last failed to give a signature that counts
    /// (unreachable, an invalid answer, not verified yet, not in the set):
    /// asked after the others for [`SET_ASIDE`].
    failed_at: Mutex<Vec<Option<Instant>>>,
    /// Turns the order attesters are asked in, batch after batch, so each
    /// signs its share.
    turn: std::sync::atomic::AtomicUsize,
    /// How long the first attesters asked may take before the others are
    /// asked too.
    hedge_after: Duration,
    /// The last probe and when: every destination's watcher asks, the
    /// attesters are the same for all of them.
    probed: tokio::sync::Mutex<Option<(Instant, Probed)>>,
}

impl Collector {
    /// A client of `cfg.attesters` (tokens resolved here), each request
    /// bounded by `dispatcher.attestation_timeout_ms`.
    pub fn from_config(
        cfg: &crate::config::Config,
        roots: &switchyard_http::TlsRoots,
        metrics: Metrics,
    ) -> Result<Self, ConfigError> {
        let timeout = Duration::from_millis(cfg.dispatcher.attestation_timeout_ms);
        let client = switchyard_http::client(timeout, roots).map_err(|e| ConfigError {
            path: "attesters".into(),
            reason: format!("building the HTTP client: {e}"),
        })?;
        let mut remotes = Vec::new();
        for (i, a) in cfg.attesters.iter().enumerate() {
            let token = a.token.resolve(&format!("attesters[{i}].token"))?;
            let client = match (&a.client_cert_file, &a.client_key) {
                (Some(cert), Some(key)) => {
                    let key = key.resolve(&format!("attesters[{i}].client_key"))?;
                    let identity =
                        switchyard_http::Identity::from_pem(cert, key.expose().as_bytes())
                            .map_err(|e| ConfigError {
                                path: format!("attesters[{i}].client_cert_file"),
                                reason: e.to_string(),
                            })?;
                    Some(
                        switchyard_http::client_presenting(timeout, roots, &identity).map_err(
                            |e| ConfigError {
                                path: format!("attesters[{i}].client_cert_file"),
                                reason: format!("building the HTTP client: {e}"),
                            },
                        )?,
                    )
                }
                _ => None,
            };
            remotes.push(Remote {
                name: a.name.clone(),
                url: format!("{}{PATH}", a.url.trim_end_matches('/')),
                token: token.expose().to_owned(),
                client,
            });
            for outcome in OUTCOMES {
                metrics
                    .attestation_requests
                    .with_label_values(&[&a.name, outcome]);
            }
        }
        Ok(Self {
            client,
            failed_at: Mutex::new(vec![None; remotes.len()]),
            remotes,
            metrics,
            sets: Mutex::default(),
            turn: std::sync::atomic::AtomicUsize::new(0),
            hedge_after: timeout / 4,
            probed: tokio::sync::Mutex::new(None),
        })
    }

    /// Forgets the set of (`chain_id`, `inbox`): the next batch reads it
    /// from the chain (a submission refused for its signers).
    pub fn forget_set(&self, chain_id: u64, inbox: Address) {
        let mut sets = self.sets.lock().unwrap_or_else(|p| p.into_inner());
        sets.remove(&(chain_id, inbox));
    }

    /// The Inbox's threshold and which of `signers` it counts, from the
    /// cache while fresh and covering them, else from `sink`.
    async fn set_of<K: BatchSink>(
        &self,
        sink: &K,
        chain_id: u64,
        inbox: Address,
        signers: &[Address],
    ) -> Result<(u64, Vec<bool>), EvmError> {
        {
            let sets = self.sets.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(v) = sets.get(&(chain_id, inbox))
                && v.at.elapsed() < SET_TTL
                && signers.iter().all(|s| v.members.contains_key(s))
            {
                return Ok((v.threshold, signers.iter().map(|s| v.members[s]).collect()));
            }
        }
        let (threshold, enabled) = sink.attester_set(signers).await?;
        let mut sets = self.sets.lock().unwrap_or_else(|p| p.into_inner());
        sets.insert(
            (chain_id, inbox),
            SetView {
                at: Instant::now(),
                threshold,
                members: signers
                    .iter()
                    .copied()
                    .zip(enabled.iter().copied())
                    .collect(),
            },
        );
        Ok((threshold, enabled))
    }

    /// The signatures for the messages `ids` (of `origins`, verified at
    /// `heights`, one each in batch order, whose root is `root`) to the
    /// Inbox `inbox` on `chain_id`, as `deliver` takes them.
    #[allow(clippy::too_many_arguments)]
    pub async fn collect<K: BatchSink>(
        &self,
        sink: &K,
        chain_id: u64,
        inbox: Address,
        ids: &[B256],
        origins: &[Domain],
        heights: &[u64],
        root: B256,
    ) -> Result<Vec<Bytes>, EvmError> {
        // Encoded once and shared by every attester's request, by id: an
        // attester needs nothing else of a message it recorded itself, and
        // hashing every message again would cost each attester about as
        // much as verifying the batch did.
        let body =
            axum::body::Bytes::from(super::encode_ids(chain_id, inbox, origins, heights, ids));
        let digest = batch_digest(chain_id, inbox, root);
        // As many attesters as the threshold last read asks for, those that
        // signed lately first and in turn (each signs its share), and one
        // more for each answer that gives no signature the Inbox counts;
        // the rest too once the first are slower than `hedge_after`.
        // Without a fresh reading of the set, every attester at once. The
        // answers are taken as they come, and once the signatures in hand
        // make the threshold, the slower ones are not waited for (one
        // attester slow to answer does not slow every batch down to the
        // timeout). Asking only the threshold spares each attester a third
        // of the requests in a 2-of-3 set.
        let order = self.order();
        let first = self
            .fresh_threshold(chain_id, inbox)
            .map_or(order.len(), |t| (t as usize).clamp(1, order.len()));
        let ask = |i: usize| {
            let body = body.clone();
            async move { (i, self.ask(&self.remotes[i], body, root, digest).await) }
        };
        let mut asked: futures::stream::FuturesUnordered<_> =
            order[..first].iter().map(|&i| ask(i)).collect();
        let mut next = first;
        let hedge = tokio::time::sleep(self.hedge_after);
        tokio::pin!(hedge);
        let mut said: Vec<(usize, Said)> = Vec::with_capacity(self.remotes.len());
        loop {
            tokio::select! {
                got = futures::StreamExt::next(&mut asked) => {
                    let Some((i, s)) = got else {
                        // Every answer in, still short (a signer the set
                        // does not list yet): the rest, if any are left.
                        if next == order.len() {
                            break;
                        }
                        for &i in &order[next..] {
                            asked.push(ask(i));
                        }
                        next = order.len();
                        continue;
                    };
                    let counts = self.counts(chain_id, inbox, &s);
                    self.note(i, &s, counts);
                    said.push((i, s));
                    if counts && self.enough_cached(chain_id, inbox, &said) {
                        break;
                    }
                    if !counts && next < order.len() {
                        asked.push(ask(order[next]));
                        next += 1;
                    }
                }
                () = &mut hedge, if next < order.len() => {
                    for &i in &order[next..] {
                        asked.push(ask(i));
                    }
                    next = order.len();
                }
            }
        }
        drop(asked);

        // Signatures by recovered address (one per address).
        let mut signed: Vec<(Address, Bytes, usize)> = Vec::new();
        let mut final_refusals = Vec::new();
        let mut waiting = Vec::new();
        for (i, s) in said {
            let r = &self.remotes[i];
            match s {
                Said::Signed(addr, sig) => {
                    if signed.iter().all(|(a, _, _)| *a != addr) {
                        signed.push((addr, sig, i));
                    }
                }
                Said::Refused { last: true, text } => {
                    self.outcome(&r.name, "refused");
                    final_refusals.push(format!("{}: {text}", r.name));
                }
                Said::Refused { last: false, text } => {
                    self.outcome(&r.name, "not_yet_verified");
                    waiting.push(format!("{}: {text}", r.name));
                }
                Said::Unreachable(why) => {
                    self.outcome(&r.name, "unreachable");
                    waiting.push(format!("{}: unreachable: {why}", r.name));
                }
                Said::Invalid(why) => {
                    self.outcome(&r.name, "invalid");
                    waiting.push(format!("{}: invalid answer: {why}", r.name));
                }
            }
        }
        let addrs: Vec<Address> = signed.iter().map(|(a, _, _)| *a).collect();
        let (threshold, enabled) = self.set_of(sink, chain_id, inbox, &addrs).await?;
        let mut valid: Vec<(Address, Bytes)> = Vec::new();
        let mut outside = 0;
        for ((addr, sig, i), on) in signed.into_iter().zip(enabled) {
            let name = self.remotes[i].name.as_str();
            if on {
                self.outcome(name, "signed");
                valid.push((addr, sig));
            } else {
                outside += 1;
                // Its signatures cannot help while the set stays as read.
                self.set_aside(i);
                self.outcome(name, "not_in_set");
                waiting.push(format!(
                    "{name}: signer {addr} is not one of the Inbox's attesters"
                ));
            }
        }
        let need = usize::try_from(threshold).unwrap_or(usize::MAX);
        if valid.len() >= need && need > 0 {
            valid.sort_by_key(|(a, _)| *a);
            valid.truncate(need);
            debug!(signatures = need, "batch attested");
            return Ok(valid.into_iter().map(|(_, s)| s).collect());
        }
        // Short. Final refusals rule the batch out when the attesters left
        // could not make up the threshold even if all of them signed (one
        // the Inbox does not count cannot help).
        let could = self.remotes.len() - final_refusals.len() - outside;
        if could < need {
            return Err(EvmError::AttestationRefused {
                refusals: final_refusals.join("; "),
            });
        }
        let mut detail = waiting;
        detail.extend(final_refusals);
        Err(EvmError::BelowThreshold {
            got: valid.len(),
            threshold,
            detail: detail.join("; "),
        })
    }

    /// Whether each attester answers and takes this hub's token, asked an
    /// empty request (answered 413 by an attester that read it; nothing is
    /// signed): the name of each, with why not when it does not. What
    /// `/readyz` says of a destination before any batch is asked about.
    pub async fn probe(&self) -> Probed {
        // Held while asking: a destination's watcher that comes meanwhile
        // takes these answers instead of asking again.
        let mut last = self.probed.lock().await;
        if let Some((at, answers)) = &*last
            && at.elapsed() < PROBE_FRESH
        {
            return answers.clone();
        }
        let body = serde_json::json!({ "chain_id": 0, "inbox": Address::ZERO, "messages": [] })
            .to_string();
        let asked = self.remotes.iter().map(|r| {
            let body = body.clone();
            async move {
                let sent = self.post(r, "application/json", body).send().await;
                let why = match sent {
                    Ok(resp) if resp.status() == reqwest::StatusCode::PAYLOAD_TOO_LARGE => None,
                    Ok(resp) if resp.status() == reqwest::StatusCode::UNAUTHORIZED => {
                        Some("refuses this hub's token (HTTP 401)".to_owned())
                    }
                    Ok(resp) => Some(format!(
                        "answered HTTP {} where an attester answers 413",
                        resp.status()
                    )),
                    Err(e) => Some(format!(
                        "unreachable: {}",
                        switchyard_types::redact::urls_in(&e.to_string())
                    )),
                };
                (r.name.clone(), why)
            }
        });
        let answers = futures::future::join_all(asked).await;
        *last = Some((Instant::now(), answers.clone()));
        answers
    }

    /// The threshold of the Inbox `inbox` on `chain_id` (cached as for
    /// batches).
    pub async fn threshold<K: BatchSink>(
        &self,
        sink: &K,
        chain_id: u64,
        inbox: Address,
    ) -> Result<u64, EvmError> {
        self.set_of(sink, chain_id, inbox, &[])
            .await
            .map(|(t, _)| t)
    }

    /// The order to ask attesters in: those that did not fail lately
    /// first, each group starting one further than the last batch.
    fn order(&self) -> Vec<usize> {
        let n = self.remotes.len();
        let start = self.turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % n.max(1);
        let failed = self.failed_at.lock().unwrap_or_else(|p| p.into_inner());
        let mut order: Vec<usize> = (0..n).map(|k| (start + k) % n).collect();
        order.sort_by_key(|&i| failed[i].is_some_and(|t| t.elapsed() < SET_ASIDE));
        order
    }

    /// The threshold of the set last read for (`chain_id`, `inbox`), while
    /// that reading is fresh.
    fn fresh_threshold(&self, chain_id: u64, inbox: Address) -> Option<u64> {
        let sets = self.sets.lock().unwrap_or_else(|p| p.into_inner());
        sets.get(&(chain_id, inbox))
            .filter(|v| v.at.elapsed() < SET_TTL && v.threshold > 0)
            .map(|v| v.threshold)
    }

    /// Whether `s` is a signature the Inbox counts, as far as the set last
    /// read tells (a signer it does not know yet may count: the set is read
    /// again for it).
    fn counts(&self, chain_id: u64, inbox: Address, s: &Said) -> bool {
        let Said::Signed(a, _) = s else {
            return false;
        };
        let sets = self.sets.lock().unwrap_or_else(|p| p.into_inner());
        sets.get(&(chain_id, inbox))
            .is_none_or(|v| v.members.get(a).copied().unwrap_or(true))
    }

    /// Remembers whether attester `i` gave a signature that counts. A final
    /// refusal is an attester doing its job (the batch is wrong), not one
    /// to set aside.
    fn note(&self, i: usize, s: &Said, counts: bool) {
        if counts {
            let mut failed = self.failed_at.lock().unwrap_or_else(|p| p.into_inner());
            failed[i] = None;
        } else if !matches!(s, Said::Refused { last: true, .. }) {
            self.set_aside(i);
        }
    }

    /// Asks attester `i` after the others for [`SET_ASIDE`].
    fn set_aside(&self, i: usize) {
        let mut failed = self.failed_at.lock().unwrap_or_else(|p| p.into_inner());
        failed[i] = Some(Instant::now());
    }

    /// Whether the signatures in `said` already make the threshold of the
    /// set last read for (`chain_id`, `inbox`), while that reading is
    /// fresh: then the other answers need not be waited for.
    fn enough_cached(&self, chain_id: u64, inbox: Address, said: &[(usize, Said)]) -> bool {
        let sets = self.sets.lock().unwrap_or_else(|p| p.into_inner());
        let Some(v) = sets.get(&(chain_id, inbox)) else {
            return false;
        };
        if v.at.elapsed() >= SET_TTL {
            return false;
        }
        let mut members: Vec<Address> = said
            .iter()
            .filter_map(|(_, s)| match s {
                Said::Signed(a, _) if v.members.get(a) == Some(&true) => Some(*a),
                _ => None,
            })
            .collect();
        members.sort_unstable();
        members.dedup();
        members.len() as u64 >= v.threshold && v.threshold > 0
    }

    fn outcome(&self, attester: &str, outcome: &str) {
        self.metrics
            .attestation_requests
            .with_label_values(&[attester, outcome])
            .inc();
    }

    /// A request to `r`'s attestation API: its client (its own when it
    /// presents a certificate), its token.
    fn post(
        &self,
        r: &Remote,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::RequestBuilder {
        r.client
            .as_ref()
            .unwrap_or(&self.client)
            .post(&r.url)
            .bearer_auth(&r.token)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
    }

    /// Asks `r`; a signature is kept only when it is over `digest` and
    /// recovers to the signer the answer names.
    async fn ask(&self, r: &Remote, body: axum::body::Bytes, root: B256, digest: B256) -> Said {
        let sent = self.post(r, super::BINARY, body).send().await;
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) => {
                return Said::Unreachable(switchyard_types::redact::urls_in(&e.to_string()));
            }
        };
        let status = resp.status();
        let bytes = match read_bounded(resp, MAX_ANSWER).await {
            Ok(b) => b,
            Err(why) => return Said::Unreachable(why),
        };
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
            warn!(attester = %r.name, %status, body = %text, "attester answered with an error");
            return Said::Unreachable(format!("HTTP {status}: {text}"));
        }
        let answer: AttestAnswer = match serde_json::from_slice(&bytes) {
            Ok(a) => a,
            Err(e) => {
                return Said::Invalid(format!("answer does not parse: {e}"));
            }
        };
        if let Some(sig) = answer.signature {
            match recover_signer(digest, &sig) {
                Ok(addr) if addr == answer.signer && answer.root == root => {
                    return Said::Signed(addr, sig);
                }
                Ok(addr) => {
                    warn!(attester = %r.name, claimed = %answer.signer, recovered = %addr, "attester signature discarded: not the signer it names, or another root");
                    return Said::Invalid(format!(
                        "signature recovers to {addr} over root {root}, the answer names {} over {}",
                        answer.signer, answer.root
                    ));
                }
                Err(e) => {
                    warn!(attester = %r.name, err = %e, "attester signature discarded");
                    return Said::Invalid(format!("signature unusable: {e}"));
                }
            }
        }
        if answer.refusals.is_empty() {
            return Said::Invalid("an answer with neither a signature nor refusals".into());
        }
        let last = answer.refusals.iter().any(|f| f.reason.is_final());
        let text = answer
            .refusals
            .iter()
            .take(8)
            .map(|f| match f.index {
                Some(i) => format!("#{i} {}: {}", f.reason.as_str(), f.detail),
                None => format!("{}: {}", f.reason.as_str(), f.detail),
            })
            .collect::<Vec<_>>()
            .join(", ");
        Said::Refused { last, text }
    }
}

/// The body of `resp`, refused past `max` bytes.
async fn read_bounded(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if out.len() + chunk.len() > max {
                    return Err(format!("answer over {max} bytes"));
                }
                out.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(out),
            Err(e) => return Err(switchyard_types::redact::urls_in(&e.to_string())),
        }
    }
}

/// Whether a simulation revert says the signatures did not satisfy the
/// Inbox (its set or threshold changed since it was read): the batch is not
/// at fault, the set is read again.
pub fn is_signature_revert(e: &EvmError) -> bool {
    let EvmError::SimulationReverted { reason } = e else {
        return false;
    };
    [
        "NotAttester(address)",
        "BelowThreshold(uint256,uint256)",
        "SignersNotSorted(address,address)",
    ]
    .iter()
    .any(|sig| reason.contains(&hex::encode(&keccak256(sig.as_bytes())[..4])))
}
