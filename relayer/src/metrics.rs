//! Prometheus metrics of the hub. Labels are bounded sets (chain names from
//! the config, fixed stage/outcome/reason vocabularies); ids, hashes and
//! heights go to logs.
//!
//! Chain labels say the chain's role: `destination` is the chain messages
//! and delivery transactions go to, in every family about delivery (lanes,
//! transactions, gas, signers); `origin` is the chain a message comes from,
//! in the families that carry both; `chain` is an origin's own state (light
//! clients, beacon slots, trust mode) or a chain in any role (RPC requests,
//! rejections). Execution and CometBFT block numbers and beacon slots are
//! different families (`switchyard_light_client_height`,
//! `switchyard_beacon_slot`): they count different things.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The `switchyard_rejections_total` reasons that mean an origin's
/// evidence is disputed (`SwitchyardOriginEvidenceDisputed`): one place, so
/// the origins that count them and the series created at 0 for them at
/// start cannot drift apart.
pub mod dispute {
    /// Endpoints disagree on the block at the confirmation depth.
    pub const ENDPOINT_DISAGREEMENT: &str = "endpoint_disagreement";
    /// The header chain holds another block than the beacon chain finalized.
    pub const NOT_FINALIZED_BY_BEACON: &str = "not_finalized_by_beacon";
    /// The header chain holds another block than the settlement chain proved.
    pub const NOT_PROVEN_BY_SETTLEMENT: &str = "not_proven_by_settlement";
    /// All of them.
    pub const ALL: [&str; 3] = [
        ENDPOINT_DISAGREEMENT,
        NOT_FINALIZED_BY_BEACON,
        NOT_PROVEN_BY_SETTLEMENT,
    ];
}

/// The `switchyard_rejections_total` reasons that mean an endpoint served
/// evidence an honest node cannot serve (`SwitchyardEvidenceRefused`): the
/// light client refused it, nothing was relayed from it. The origins count
/// them under these names (the light clients' `reason()`s); the series
/// start at 0 with the origin so the first one alerts.
pub mod refusal {
    /// EVM: a header that does not hash to the hash the endpoint claimed.
    pub const HASH_MISMATCH: &str = "hash_mismatch";
    /// EVM: receipts whose trie is not the header's receipts root (a fake
    /// receipt or log).
    pub const RECEIPTS_ROOT_MISMATCH: &str = "receipts_root_mismatch";
    /// CometBFT: a header the light client finds invalid (signatures,
    /// validator sets, links).
    pub const HEADER_INVALID: &str = "header_invalid";
    /// CometBFT: an ICS-23 proof that does not reach the verified app hash.
    pub const PROOF_INVALID: &str = "proof_invalid";
    /// CometBFT: an outbox entry that is not the message its key names.
    pub const OUTBOX_ENTRY: &str = "outbox_entry";
    /// Rollup: an L1 state root that is not the verified block's.
    pub const STATE_ROOT_MISMATCH: &str = "state_root_mismatch";
    /// Rollup: an account proof that does not verify.
    pub const ACCOUNT_PROOF: &str = "account_proof";
    /// Rollup: a storage proof that does not verify.
    pub const STORAGE_PROOF: &str = "storage_proof";
    /// Rollup (OP Stack): an output root the L2 block does not produce.
    pub const OUTPUT_ROOT: &str = "output_root";
    /// Rollup: an L2 header that does not hash to the proven block hash.
    pub const L2_HEADER_HASH: &str = "l2_header_hash";
    /// Rollup (Arbitrum): a send root that is not the assertion's.
    pub const SEND_ROOT: &str = "send_root";
    /// All of them.
    pub const ALL: [&str; 11] = [
        HASH_MISMATCH,
        RECEIPTS_ROOT_MISMATCH,
        HEADER_INVALID,
        PROOF_INVALID,
        OUTBOX_ENTRY,
        STATE_ROOT_MISMATCH,
        ACCOUNT_PROOF,
        STORAGE_PROOF,
        OUTPUT_ROOT,
        L2_HEADER_HASH,
        SEND_ROOT,
    ];
    /// A lane entry whose HMAC or payload does not check (a forged or
    /// corrupted Redis entry, or a queue key the writer did not share),
    /// counted under the destination (`SwitchyardLaneEntryRefused`).
    pub const REFUSED_ENTRY: &str = "refused_entry";
}

/// Message stages, in pipeline order.
pub mod stage {
    /// A Dispatch log seen in a verified block.
    pub const OBSERVED: &str = "observed";
    /// Decoded and consistent with its log and origin.
    pub const VERIFIED: &str = "verified";
    /// Refused (malformed log, unknown destination, ...).
    pub const REJECTED: &str = "rejected";
    /// Appended to a destination lane in Redis.
    pub const ENQUEUED: &str = "enqueued";
    /// Part of a broadcast delivery transaction.
    pub const SUBMITTED: &str = "submitted";
    /// Delivered to its recipient on the destination.
    pub const DELIVERED: &str = "delivered";
    /// Recipient call failed on the destination (recorded by the Inbox).
    pub const FAILED: &str = "failed";
    /// Moved to the dead-letter stream.
    pub const DEAD_LETTERED: &str = "dead_lettered";
}

/// All metrics of one hub process.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// `switchyard_messages_total{stage,origin,destination}`.
    pub messages: IntCounterVec,
    /// `switchyard_rejections_total{chain,reason}`: blocks or logs refused.
    pub rejections: IntCounterVec,
    /// `switchyard_stage_latency_seconds{stage}`.
    pub latency: HistogramVec,
    /// `switchyard_light_client_height{chain,kind}`: block numbers (kind:
    /// tip, confirmed, gated, scanned; finalized with a beacon anchor;
    /// settlement_verified and proven for a rollup).
    pub lc_height: IntGaugeVec,
    /// `switchyard_beacon_slot{chain,kind}`: beacon slots of a
    /// beacon-anchored origin's light client (kind: finalized, optimistic).
    pub beacon_slot: IntGaugeVec,
    /// `switchyard_light_client_updates_total{chain,outcome}`.
    pub lc_updates: IntCounterVec,
    /// `switchyard_light_client_trusted_timestamp_seconds{chain}`: Unix
    /// time of the header a beacon or CometBFT light client trusts (beacon:
    /// the start of its finalized slot; CometBFT: its trusted header's time).
    pub lc_trusted_time: IntGaugeVec,
    /// `switchyard_light_client_trusting_period_seconds{chain}`: how long
    /// after that time the trusted state can still be used (beacon:
    /// `max_checkpoint_age_secs`, past which it is not resumed; CometBFT:
    /// `trusting_period_secs`, past which nothing verifies from it).
    pub lc_trusting_period: IntGaugeVec,
    /// `switchyard_watcher_fatal{chain,watcher}`: 1 once a watcher
    /// (`origin`, `beacon`, `rollup`) stopped on an error it cannot recover
    /// from, 0 while it runs. A stopped watcher exports no height.
    pub watcher_fatal: IntGaugeVec,
    /// `switchyard_rpc_requests_total{chain,method,outcome}`.
    pub rpc: IntCounterVec,
    /// `switchyard_redis_errors_total{op}`.
    pub redis_errors: IntCounterVec,
    /// `switchyard_lane_backlog{destination}`: entries not yet acknowledged.
    pub lane_backlog: IntGaugeVec,
    /// `switchyard_lane_oldest_age_seconds{destination}`.
    pub lane_oldest_age: IntGaugeVec,
    /// `switchyard_transactions_total{destination,outcome}`.
    pub transactions: IntCounterVec,
    /// `switchyard_in_flight_transactions{destination}`.
    pub in_flight: IntGaugeVec,
    /// `switchyard_gas_used_total{destination}`.
    pub gas_used: IntCounterVec,
    /// `switchyard_lane_pending{destination}`: entries read, not acknowledged.
    pub lane_pending: IntGaugeVec,
    /// `switchyard_lane_reclaimed_total{destination}`: entries taken over
    /// from another consumer.
    pub lane_reclaimed: IntCounterVec,
    /// `switchyard_lane_retries_total{destination}`: batch retries.
    pub lane_retries: IntCounterVec,
    /// `switchyard_batch_splits_total{destination}`: batches split in two
    /// after a refused simulation or a gas estimate over the cap.
    pub lane_splits: IntCounterVec,
    /// `switchyard_lane_shards_owned{destination}`: shards this replica works.
    pub shards_owned: IntGaugeVec,
    /// `switchyard_attestation_requests_total{attester,outcome}`: a
    /// dispatcher's requests to each of its `[[attesters]]`, by what came
    /// back (`signed`, `refused`, `not_yet_verified`, `unreachable`,
    /// `invalid`: a signature that does not recover to the attester,
    /// `not_in_set`: an attester the Inbox does not count).
    pub attestation_requests: IntCounterVec,
    /// `switchyard_attestation_short_total{destination}`: batches held back
    /// because fewer attesters signed than the Inbox's threshold.
    pub attestation_short: IntCounterVec,
    /// `switchyard_attestations_total{destination,outcome}`: an attester's
    /// answers (`signed`, `refused`).
    pub attestations: IntCounterVec,
    /// `switchyard_attestation_refusals_total{reason}`: messages an
    /// attester refused to sign for, by reason.
    pub attestation_refusals: IntCounterVec,
    /// `switchyard_throttled_seconds_total{origin,destination}`: time the
    /// origin's watcher waited because the destination's lane was over its
    /// backlog limit.
    pub throttled_seconds: prometheus::CounterVec,
    /// `switchyard_signer_balance_eth{destination,signer}`: each delivery
    /// key's balance (signers are configured, so the label is bounded).
    pub signer_balance: prometheus::GaugeVec,
    /// `switchyard_signer_balance_low{destination,signer}`: 1 while the
    /// balance is under the chain's `low_balance_eth`.
    pub signer_balance_low: IntGaugeVec,
    /// `switchyard_status_updates_total{outcome}`: message updates of the
    /// status journal, by outcome: written, or dropped (buffer_full,
    /// redis_error, redis_full, shutdown). Messages are unaffected by drops; only what
    /// the status API shows lags.
    pub status_updates: IntCounterVec,
    /// `switchyard_origin_trust_mode{chain,mode}`: 1 for the mode each origin
    /// runs in (beacon, cometbft, header_chain_quorum, single_endpoint,
    /// rollup_final, rollup_min_age), so a dashboard shows what a lying
    /// endpoint could do to it.
    pub trust_mode: IntGaugeVec,
    /// `switchyard_http_rate_limited_total`: requests to the public status
    /// API refused with 429 by the per-client rate limit (no label: clients
    /// are addresses, which go to no label).
    pub http_rate_limited: prometheus::IntCounter,
    /// `switchyard_http_rate_limit_clients`: clients the rate limit tracks
    /// (bounded by `crate::ratelimit::MAX_CLIENTS`).
    pub http_rate_limit_clients: prometheus::IntGauge,
    /// `switchyard_build_info{version,rustc,target[,git_sha]} 1`: what this
    /// process is (`git_sha` when the build had the git checkout).
    pub build_info: prometheus::IntGauge,
}

fn must<T>(r: prometheus::Result<T>) -> T {
    // Metric definitions are static: a failure is a programming error caught
    // by the first test that builds Metrics.
    r.expect("static metric definition is valid and registered once")
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Builds and registers every metric in a fresh registry.
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = must(IntCounterVec::new(Opts::new(name, help), labels));
            must(registry.register(Box::new(c.clone())));
            c
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let g = must(IntGaugeVec::new(Opts::new(name, help), labels));
            must(registry.register(Box::new(g.clone())));
            g
        };
        let messages = counter(
            "switchyard_messages_total",
            "Messages by pipeline stage, origin and destination chain",
            &["stage", "origin", "destination"],
        );
        let rejections = counter(
            "switchyard_rejections_total",
            "Blocks, logs or messages refused, by chain and bounded reason",
            &["chain", "reason"],
        );
        let latency = must(HistogramVec::new(
            HistogramOpts::new(
                "switchyard_stage_latency_seconds",
                "Latency of pipeline stages (verify: block fetched to verified; enqueue: verified to in Redis; attest: verified to the attesters' threshold of signatures held, with [[attesters]]; deliver: verified to included)",
            )
            .buckets(vec![
                0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.035,
                0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ]),
            &["stage"],
        ));
        must(registry.register(Box::new(latency.clone())));
        Self {
            messages,
            rejections,
            latency,
            lc_height: gauge(
                "switchyard_light_client_height",
                "Light-client block numbers by chain and kind (tip, confirmed, gated, scanned; finalized: the execution block a beacon anchor finalized; settlement_verified and proven for a rollup)",
                &["chain", "kind"],
            ),
            beacon_slot: gauge(
                "switchyard_beacon_slot",
                "Beacon slots of a beacon-anchored origin's light client by kind (finalized, optimistic)",
                &["chain", "kind"],
            ),
            lc_updates: counter(
                "switchyard_light_client_updates_total",
                "Light-client header updates by outcome",
                &["chain", "outcome"],
            ),
            lc_trusted_time: gauge(
                "switchyard_light_client_trusted_timestamp_seconds",
                "Unix time of the header a beacon or CometBFT light client trusts (beacon: its finalized slot's start; CometBFT: its trusted header's time)",
                &["chain"],
            ),
            lc_trusting_period: gauge(
                "switchyard_light_client_trusting_period_seconds",
                "How long after its header's time a light client's trusted state stays usable (beacon: max_checkpoint_age_secs; CometBFT: trusting_period_secs)",
                &["chain"],
            ),
            watcher_fatal: gauge(
                "switchyard_watcher_fatal",
                "1 once a watcher (origin, beacon, rollup) of a chain stopped on an error it cannot recover from; 0 while it runs",
                &["chain", "watcher"],
            ),
            rpc: counter(
                "switchyard_rpc_requests_total",
                "RPC attempts by chain, method and outcome",
                &["chain", "method", "outcome"],
            ),
            redis_errors: counter(
                "switchyard_redis_errors_total",
                "Redis operations that failed, by operation",
                &["op"],
            ),
            lane_backlog: gauge(
                "switchyard_lane_backlog",
                "Entries in a destination lane not yet acknowledged",
                &["destination"],
            ),
            lane_oldest_age: gauge(
                "switchyard_lane_oldest_age_seconds",
                "Age of the oldest entry in a destination lane",
                &["destination"],
            ),
            transactions: counter(
                "switchyard_transactions_total",
                "Delivery transactions by destination chain and outcome",
                &["destination", "outcome"],
            ),
            in_flight: gauge(
                "switchyard_in_flight_transactions",
                "Delivery transactions broadcast and not yet confirmed",
                &["destination"],
            ),
            gas_used: counter(
                "switchyard_gas_used_total",
                "Gas used by delivery transactions",
                &["destination"],
            ),
            lane_pending: gauge(
                "switchyard_lane_pending",
                "Lane entries read by a dispatcher and not yet acknowledged",
                &["destination"],
            ),
            lane_reclaimed: counter(
                "switchyard_lane_reclaimed_total",
                "Lane entries taken over from another (dead or replaced) consumer",
                &["destination"],
            ),
            lane_retries: counter(
                "switchyard_lane_retries_total",
                "Delivery batches retried after a failure",
                &["destination"],
            ),
            lane_splits: counter(
                "switchyard_batch_splits_total",
                "Delivery batches split in two after a refused simulation or too much gas",
                &["destination"],
            ),
            shards_owned: gauge(
                "switchyard_lane_shards_owned",
                "Lane shards whose lease this replica holds",
                &["destination"],
            ),
            attestation_requests: counter(
                "switchyard_attestation_requests_total",
                "Attestation requests to each configured attester, by outcome",
                &["attester", "outcome"],
            ),
            attestation_short: counter(
                "switchyard_attestation_short_total",
                "Batches held back with fewer attester signatures than the Inbox's threshold",
                &["destination"],
            ),
            attestations: counter(
                "switchyard_attestations_total",
                "Attestation requests this attester answered, by outcome",
                &["destination", "outcome"],
            ),
            attestation_refusals: counter(
                "switchyard_attestation_refusals_total",
                "Messages this attester refused to sign for, by reason",
                &["reason"],
            ),
            signer_balance: {
                let g = must(prometheus::GaugeVec::new(
                    Opts::new(
                        "switchyard_signer_balance_eth",
                        "Balance of a delivery signer key, in ether",
                    ),
                    &["destination", "signer"],
                ));
                must(registry.register(Box::new(g.clone())));
                g
            },
            signer_balance_low: gauge(
                "switchyard_signer_balance_low",
                "1 while a delivery signer's balance is under the chain's low_balance_eth",
                &["destination", "signer"],
            ),
            trust_mode: gauge(
                "switchyard_origin_trust_mode",
                "1 for the trust mode each origin runs in: beacon (beacon-finalized ancestors), cometbft (light client), header_chain_quorum (endpoints agree on each block), single_endpoint (one trusted source, which could forge), rollup_final (ancestors of rollup blocks proven from the settlement chain by final proposals), rollup_min_age (the same, with proposals past a minimum age)",
                &["chain", "mode"],
            ),
            status_updates: counter(
                "switchyard_status_updates_total",
                "Message updates of the status journal by outcome: written, or dropped (buffer_full, redis_error, redis_full: Redis over the journal's share of maxmemory, shutdown); drops make the status API lag, messages are unaffected",
                &["outcome"],
            ),
            throttled_seconds: {
                let c = must(prometheus::CounterVec::new(
                    Opts::new(
                        "switchyard_throttled_seconds_total",
                        "Time an origin's watcher waited because a destination lane was over its backlog limit",
                    ),
                    &["origin", "destination"],
                ));
                must(registry.register(Box::new(c.clone())));
                c
            },
            http_rate_limited: {
                let c = must(prometheus::IntCounter::new(
                    "switchyard_http_rate_limited_total",
                    "Requests to the public status API and explorer refused (429) by the per-client rate limit",
                ));
                must(registry.register(Box::new(c.clone())));
                c
            },
            http_rate_limit_clients: {
                let g = must(prometheus::IntGauge::new(
                    "switchyard_http_rate_limit_clients",
                    "Clients (IP addresses, IPv6 by /64) the status API's rate limit tracks",
                ));
                must(registry.register(Box::new(g.clone())));
                g
            },
            build_info: {
                let mut opts = Opts::new(
                    "switchyard_build_info",
                    "Always 1; the labels say what this process is: version, rustc, target and, when the build had its git checkout, git_sha",
                )
                .const_label("version", env!("CARGO_PKG_VERSION"))
                .const_label("rustc", env!("SWITCHYARD_RUSTC_VERSION"))
                .const_label("target", env!("SWITCHYARD_TARGET"));
                if let Some(sha) = option_env!("SWITCHYARD_GIT_SHA") {
                    opts = opts.const_label("git_sha", sha);
                }
                let g = must(prometheus::IntGauge::with_opts(opts));
                g.set(1);
                must(registry.register(Box::new(g.clone())));
                g
            },
            registry,
        }
    }

    /// Creates at 0 the series of a watched origin that alert rules take
    /// `increase()` of: a counter whose first sample is already 1 shows
    /// no increase, so the first dispute or refused header of a process
    /// would never alert. (The reasons are the ones
    /// `SwitchyardOriginEvidenceDisputed` and `SwitchyardEvidenceRefused`
    /// watch: [`dispute::ALL`] and [`refusal::ALL`].)
    /// Its backpressure toward each of `destinations` starts at 0 too.
    pub fn init_origin<'a>(&self, chain: &str, destinations: impl Iterator<Item = &'a str>) {
        for outcome in ["accepted", "rejected"] {
            self.lc_updates.with_label_values(&[chain, outcome]);
        }
        for reason in dispute::ALL.iter().chain(&refusal::ALL) {
            self.rejections.with_label_values(&[chain, reason]);
        }
        for destination in destinations.filter(|d| *d != chain) {
            self.throttled_seconds
                .with_label_values(&[chain, destination]);
        }
    }

    /// Creates at 0 the series of a destination this process delivers to,
    /// from each of `origins` (see [`Metrics::init_origin`]): the stages
    /// that take a message out of its lane, the lane's retries, splits
    /// and reclaims, and its refused entries ([`refusal::REFUSED_ENTRY`]).
    pub fn init_destination<'a>(&self, destination: &str, origins: impl Iterator<Item = &'a str>) {
        for origin in origins.filter(|o| *o != destination) {
            for s in [stage::DELIVERED, stage::FAILED, stage::DEAD_LETTERED] {
                self.messages.with_label_values(&[s, origin, destination]);
            }
        }
        self.lane_retries.with_label_values(&[destination]);
        self.lane_splits.with_label_values(&[destination]);
        self.lane_reclaimed.with_label_values(&[destination]);
        self.rejections
            .with_label_values(&[destination, refusal::REFUSED_ENTRY]);
    }

    /// Every metric family this process registers, with its label names,
    /// including vectors that have no sample yet (which `/metrics` leaves
    /// out). The metrics reference of `docs/operations.md` is checked
    /// against it (`tests/it/ops.rs`).
    pub fn families(&self) -> Vec<(String, Vec<String>)> {
        use prometheus::core::Collector;
        // Destructured without `..`: a new field that is not listed here
        // does not compile.
        let Self {
            registry: _,
            messages,
            rejections,
            latency,
            lc_height,
            beacon_slot,
            lc_updates,
            lc_trusted_time,
            lc_trusting_period,
            watcher_fatal,
            rpc,
            redis_errors,
            lane_backlog,
            lane_oldest_age,
            transactions,
            in_flight,
            gas_used,
            lane_pending,
            lane_reclaimed,
            lane_retries,
            lane_splits,
            shards_owned,
            attestation_requests,
            attestation_short,
            attestations,
            attestation_refusals,
            throttled_seconds,
            signer_balance,
            signer_balance_low,
            status_updates,
            trust_mode,
            http_rate_limited,
            http_rate_limit_clients,
            build_info,
        } = self;
        let all: [&dyn Collector; 33] = [
            messages,
            rejections,
            latency,
            lc_height,
            beacon_slot,
            lc_updates,
            lc_trusted_time,
            lc_trusting_period,
            watcher_fatal,
            rpc,
            redis_errors,
            lane_backlog,
            lane_oldest_age,
            transactions,
            in_flight,
            gas_used,
            lane_pending,
            lane_reclaimed,
            lane_retries,
            lane_splits,
            shards_owned,
            attestation_requests,
            attestation_short,
            attestations,
            attestation_refusals,
            throttled_seconds,
            signer_balance,
            signer_balance_low,
            status_updates,
            trust_mode,
            http_rate_limited,
            http_rate_limit_clients,
            build_info,
        ];
        all.iter()
            .flat_map(|c| c.desc())
            .map(|d| {
                // Constant labels (build_info's) first, then the variable ones.
                let mut labels: Vec<String> = d
                    .const_label_pairs
                    .iter()
                    .map(|l| l.name().to_owned())
                    .collect();
                labels.extend(d.variable_labels.iter().cloned());
                (d.fq_name.clone(), labels)
            })
            .collect()
    }

    /// Names of every registered metric family (see [`Metrics::families`]).
    pub fn names(&self) -> Vec<String> {
        self.families().into_iter().map(|(name, _)| name).collect()
    }

    /// Adds `n` messages at `stage` for (`origin`, `destination`).
    pub fn count(&self, stage: &str, origin: &str, destination: &str, n: u64) {
        if n > 0 {
            self.messages
                .with_label_values(&[stage, origin, destination])
                .inc_by(n);
        }
    }

    /// The current value of a message counter (used by the devnet summary).
    pub fn messages_at(&self, stage: &str) -> u64 {
        let mut total = 0;
        for mf in self.registry.gather() {
            if mf.name() != "switchyard_messages_total" {
                continue;
            }
            for m in mf.get_metric() {
                if m.get_label()
                    .iter()
                    .any(|l| l.name() == "stage" && l.value() == stage)
                {
                    total += m.get_counter().get_value() as u64;
                }
            }
        }
        total
    }

    /// Cumulative bucket counts `(upper bound in seconds, count)` of
    /// `stage`'s latency histogram, `+Inf` last.
    pub fn latency_buckets(&self, stage: &str) -> Vec<(f64, u64)> {
        let h = self.latency.with_label_values(&[stage]);
        let proto = prometheus::core::Metric::metric(&h);
        let hist = proto.get_histogram();
        let mut out: Vec<(f64, u64)> = hist
            .get_bucket()
            .iter()
            .map(|b| (b.upper_bound(), b.cumulative_count()))
            .collect();
        out.push((f64::INFINITY, hist.get_sample_count()));
        out
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let encoder = TextEncoder::new();
        if let Err(e) = encoder.encode(&self.registry.gather(), &mut buf) {
            return format!("# encoding metrics failed: {e}\n");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// The `q` quantile (0..1) of the samples between two snapshots of
/// [`Metrics::latency_buckets`], in seconds, interpolated linearly inside
/// its bucket; `None` without samples.
pub fn quantile_between(before: &[(f64, u64)], after: &[(f64, u64)], q: f64) -> Option<f64> {
    let counts: Vec<(f64, u64)> = after
        .iter()
        .zip(before.iter().map(|b| b.1).chain(std::iter::repeat(0)))
        .map(|(&(le, a), b)| (le, a.saturating_sub(b)))
        .collect();
    let total = counts.last()?.1;
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut lower = (0.0, 0u64);
    for &(le, cum) in &counts {
        if cum as f64 >= rank {
            if le.is_infinite() {
                return Some(lower.0);
            }
            let inside = (cum - lower.1) as f64;
            let frac = if inside > 0.0 {
                (rank - lower.1 as f64) / inside
            } else {
                1.0
            };
            return Some(lower.0 + (le - lower.0) * frac.clamp(0.0, 1.0));
        }
        lower = (le, cum);
    }
    Some(lower.0)
}

/// Sums `switchyard_messages_total` samples with `stage` in a text exposition
/// (what a scraper sees; used by the devnet to cross-check).
pub fn sum_messages_in_text(text: &str, stage: &str) -> u64 {
    let needle = format!("stage=\"{stage}\"");
    text.lines()
        .filter(|l| l.starts_with("switchyard_messages_total{") && l.contains(&needle))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_inside_buckets_between_snapshots() {
        let m = Metrics::new();
        let h = m.latency.with_label_values(&["deliver"]);
        for _ in 0..100 {
            h.observe(0.1); // before the window
        }
        let before = m.latency_buckets("deliver");
        for i in 0..100 {
            h.observe(0.0011 + f64::from(i) * 0.00001); // 1.1 ms to 2.09 ms
        }
        let after = m.latency_buckets("deliver");
        let p50 = quantile_between(&before, &after, 0.5).expect("samples");
        assert!((0.001..=0.002).contains(&p50), "{p50}");
        let p99 = quantile_between(&before, &after, 0.99).expect("samples");
        assert!(
            p99 <= 0.003,
            "the earlier 100 ms samples are outside the window: {p99}"
        );
        assert_eq!(quantile_between(&after, &after, 0.5), None);
    }

    #[test]
    fn families_list_every_registered_metric_once() {
        let m = Metrics::new();
        let names = m.names();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert!(
            names.iter().all(|n| n.starts_with("switchyard_")),
            "{names:?}"
        );
        // Families with a sample are what a scrape shows: all of them listed.
        m.count(stage::DELIVERED, "alpha", "beta", 1);
        m.latency.with_label_values(&["deliver"]).observe(0.1);
        for mf in m.registry.gather() {
            assert!(names.iter().any(|n| n == mf.name()), "{}", mf.name());
        }
        let (_, labels) = m
            .families()
            .into_iter()
            .find(|(n, _)| n == "switchyard_messages_total")
            .expect("messages family");
        assert_eq!(labels, ["stage", "origin", "destination"]);
    }

    #[test]
    fn build_info_is_one_with_the_version() {
        let text = Metrics::new().render();
        let line = text
            .lines()
            .find(|l| l.starts_with("switchyard_build_info{"))
            .unwrap_or_else(|| panic!("{text}"));
        let version = format!("version=\"{}\"", env!("CARGO_PKG_VERSION"));
        assert!(line.contains(&version), "{line}");
        assert!(
            line.contains("rustc=\"") && line.contains("target=\""),
            "{line}"
        );
        assert!(line.ends_with(" 1"), "{line}");
    }

    #[test]
    fn the_series_alerts_take_increase_of_start_at_zero() {
        let m = Metrics::new();
        m.init_origin("alpha", ["alpha", "beta"].into_iter());
        m.init_destination("beta", ["alpha", "beta"].into_iter());
        let text = m.render();
        for line in [
            "switchyard_light_client_updates_total{chain=\"alpha\",outcome=\"rejected\"} 0",
            "switchyard_rejections_total{chain=\"alpha\",reason=\"endpoint_disagreement\"} 0",
            "switchyard_rejections_total{chain=\"alpha\",reason=\"not_finalized_by_beacon\"} 0",
            "switchyard_throttled_seconds_total{destination=\"beta\",origin=\"alpha\"} 0",
            "switchyard_messages_total{destination=\"beta\",origin=\"alpha\",stage=\"dead_lettered\"} 0",
            "switchyard_messages_total{destination=\"beta\",origin=\"alpha\",stage=\"delivered\"} 0",
            "switchyard_messages_total{destination=\"beta\",origin=\"alpha\",stage=\"failed\"} 0",
            "switchyard_lane_retries_total{destination=\"beta\"} 0",
            "switchyard_rejections_total{chain=\"alpha\",reason=\"receipts_root_mismatch\"} 0",
            "switchyard_rejections_total{chain=\"alpha\",reason=\"proof_invalid\"} 0",
            "switchyard_rejections_total{chain=\"alpha\",reason=\"output_root\"} 0",
            "switchyard_rejections_total{chain=\"beta\",reason=\"refused_entry\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        // No route from a chain to itself.
        assert!(!text.contains("origin=\"beta\""), "{text}");
        assert!(!text.contains("destination=\"alpha\""), "{text}");
    }

    /// The refusal reasons the alerts name are what the light clients
    /// (and the CometBFT watcher's mapping) really count: a renamed
    /// `reason()` would silently empty `SwitchyardEvidenceRefused`.
    #[test]
    fn refusal_reasons_are_the_light_clients_own() {
        use alloy_primitives::{Address, B256, Bytes};
        use switchyard_lc_rollup::{Layer, ProofFailure, RollupError};
        let h = B256::ZERO;
        let failure = || Box::new(ProofFailure::EmptyProof { root: h });
        let evm = [
            switchyard_lc_evm::Error::HashMismatch {
                height: 1,
                expected: h,
                got: h,
            },
            switchyard_lc_evm::Error::ReceiptsRootMismatch {
                height: 1,
                expected: h,
                got: h,
            },
        ]
        .map(|e| e.reason());
        let rollup = [
            RollupError::StateRootMismatch {
                expected: h,
                got: h,
            },
            RollupError::AccountProof {
                layer: Layer::L1,
                address: Address::ZERO,
                state_root: h,
                failure: failure(),
            },
            RollupError::StorageProof {
                layer: Layer::L2,
                address: Address::ZERO,
                slot: h,
                storage_root: h,
                failure: failure(),
            },
            RollupError::OutputRoot {
                expected: h,
                got: h,
                height: 1,
                message_passer_storage_root: h,
            },
            RollupError::L2HeaderHash {
                expected: h,
                got: h,
            },
            RollupError::SendRoot {
                height: 1,
                expected: h,
                got: Bytes::new(),
            },
        ]
        .map(|e| e.reason());
        use switchyard_lc_cometbft::Error as Lc;
        let cometbft = [
            Lc::Invalid {
                height: 1,
                reason: String::new(),
            },
            Lc::ProofInvalid {
                op: 0,
                kind: String::new(),
                claim: String::new(),
            },
            Lc::OutboxEntry {
                field: "value",
                expected: String::new(),
                got: String::new(),
            },
        ]
        .map(|e| crate::origin::cometbft::reason(&switchyard_cometbft::Error::LightClient(e)));
        let counted: Vec<&str> = evm
            .iter()
            .chain(&cometbft)
            .chain(&rollup)
            .copied()
            .collect();
        assert_eq!(counted, refusal::ALL);
    }

    #[test]
    fn render_and_parse_back() {
        let m = Metrics::new();
        m.count(stage::DELIVERED, "alpha", "beta", 7);
        m.count(stage::DELIVERED, "beta", "alpha", 5);
        m.count(stage::VERIFIED, "beta", "alpha", 1);
        let text = m.render();
        assert!(text.contains("switchyard_messages_total{destination=\"beta\",origin=\"alpha\",stage=\"delivered\"} 7"), "{text}");
        assert_eq!(sum_messages_in_text(&text, "delivered"), 12);
        assert_eq!(m.messages_at("delivered"), 12);
        assert_eq!(m.messages_at("verified"), 1);
    }
}
