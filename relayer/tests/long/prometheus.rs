//! A real Prometheus (Debian's `prometheus`, as `deploy/setup.sh` installs
//! it) scraping a real hub with traffic, and every expression operators
//! will run against it evaluated through Prometheus' HTTP API:
//!
//! - every target of every dashboard panel (`deploy/grafana/switchyard.json`,
//!   the same file as the chart's `files/dashboard.json`), with Grafana's
//!   variables substituted as Grafana does: a range query that answers a
//!   matrix whose series carry exactly the labels the panel's legend
//!   shows; each of `$job`, `$instance` and `$namespace` filters it (a value
//!   that matches nothing empties it); the variables' own `label_values`
//!   queries list the test's job, instance and namespace;
//! - every alert of `deploy/prometheus/alerts.yml`, loaded by that
//!   Prometheus as a rule file: every rule evaluates without error on live
//!   data; each alert's expression answers a vector, and the vectors it
//!   compares (listed in [`ALERTS`], each as written in the rule) answer
//!   series with the labels its annotations use; every rule has a severity,
//!   a summary, a description and a `runbook_url` whose anchor is a heading
//!   of `docs/operations.md`.
//!
//! The hub's traffic makes every family the expressions read appear: good
//! messages both ways, messages to a route group whose member refuses them
//! (simulation reverts, retries, splits, dead letters), a preferred RPC
//! endpoint that does not answer (RPC errors), a Redis restart (Redis
//! errors), a signer threshold above every balance. What needs a beacon
//! origin (beacon slots) may be empty, and says why ([`MAY_BE_EMPTY`]).
//!
//! Then the checks are shown to bite: broken copies of a dashboard target,
//! an alert, the chart's dashboard and the docs must each be refused, with
//! Prometheus' own message where Prometheus refuses.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use switchyard::metrics::Metrics;

use crate::harness::prometheus::Prometheus;
use crate::harness::stack::{Stack, metric, single_redis, tail};

const DISPATCH: &str = "lane_shards = 1\nworkers = 1\nlease_ttl_ms = 1000\nmax_batch_messages = 50\nmax_attempts = 3\nretry_base_ms = 50";

/// The scrape job: `SwitchyardTargetDown` selects `job=~".*switchyard.*"`.
const JOB: &str = "switchyard";
/// A label the Prometheus Operator adds; here from the scrape config.
const NAMESPACE: &str = "switchyard-test";
/// What Grafana puts for `$__rate_interval` at a 15 s data-source interval.
const RATE_INTERVAL: &str = "1m";

/// Per alert: the vectors its expression compares, each exactly as written
/// in the rule (whitespace aside), and the labels their series carry. A
/// changed rule fails here until this list follows it.
const ALERTS: &[(&str, &[&str], &[&str])] = &[
    (
        "SwitchyardLaneStuck",
        &[
            "max by (destination) (switchyard_lane_backlog)",
            r#"sum by (destination) (increase(switchyard_messages_total{stage=~"delivered|failed|dead_lettered"}[5m]))"#,
        ],
        &["destination"],
    ),
    (
        "SwitchyardLaneOldestEntryOld",
        &["max by (destination) (switchyard_lane_oldest_age_seconds)"],
        &["destination"],
    ),
    (
        "SwitchyardMessagesDeadLettered",
        &[
            r#"sum by (destination) (increase(switchyard_messages_total{stage="dead_lettered"}[15m]))"#,
        ],
        &["destination"],
    ),
    (
        "SwitchyardDeliveryErrorRateHigh",
        &[
            r#"sum by (destination) (rate(switchyard_transactions_total{outcome!~"included|replaced"}[10m]))"#,
            "sum by (destination) (rate(switchyard_transactions_total[10m]))",
        ],
        &["destination"],
    ),
    (
        "SwitchyardSignerBalanceLow",
        &["max by (destination, signer) (switchyard_signer_balance_low)"],
        &["destination", "signer"],
    ),
    (
        "SwitchyardLaneEntryRefused",
        &[r#"sum by (chain) (increase(switchyard_rejections_total{reason="refused_entry"}[15m]))"#],
        &["chain"],
    ),
    (
        "SwitchyardAttestationShort",
        &["sum by (destination) (increase(switchyard_attestation_short_total[5m]))"],
        &["destination"],
    ),
    (
        "SwitchyardAttesterUnreachable",
        &[
            r#"sum by (attester) (rate(switchyard_attestation_requests_total{outcome=~"unreachable|invalid"}[10m]))"#,
            "sum by (attester) (rate(switchyard_attestation_requests_total[10m]))",
        ],
        &["attester"],
    ),
    (
        "SwitchyardAttesterRefusedUnknownMessage",
        &[
            r#"sum by (attester, job, instance) (increase(switchyard_attestation_refusals_total{reason="unknown_message"}[5m]))"#,
        ],
        &["job", "instance"],
    ),
    (
        "SwitchyardAttesterNotInSet",
        &[
            r#"sum by (attester) (increase(switchyard_attestation_requests_total{outcome="not_in_set"}[10m]))"#,
        ],
        &["attester"],
    ),
    (
        "SwitchyardLightClientStale",
        &[r#"max by (chain) (changes(switchyard_light_client_height{kind="tip"}[15m]))"#],
        &["chain"],
    ),
    (
        "SwitchyardLightClientRejectingHeaders",
        &[
            r#"sum by (chain) (increase(switchyard_light_client_updates_total{outcome="rejected"}[10m]))"#,
        ],
        &["chain"],
    ),
    (
        "SwitchyardOriginEvidenceDisputed",
        &[
            r#"sum by (chain, reason) (increase(switchyard_rejections_total{reason=~"endpoint_disagreement|not_finalized_by_beacon|not_proven_by_settlement"}[15m]))"#,
        ],
        &["chain", "reason"],
    ),
    (
        "SwitchyardEvidenceRefused",
        &[
            r#"sum by (chain, reason) (increase(switchyard_rejections_total{reason=~"hash_mismatch|receipts_root_mismatch|header_invalid|proof_invalid|outbox_entry|state_root_mismatch|account_proof|storage_proof|output_root|l2_header_hash|send_root"}[15m]))"#,
        ],
        &["chain", "reason"],
    ),
    (
        "SwitchyardWatcherFatal",
        &["max by (chain, watcher) (max_over_time(switchyard_watcher_fatal[10m]))"],
        &["chain", "watcher"],
    ),
    (
        "SwitchyardTrustExpiring",
        &[
            "max by (chain) (switchyard_light_client_trusted_timestamp_seconds + switchyard_light_client_trusting_period_seconds)",
            "max by (chain) (switchyard_light_client_trusting_period_seconds)",
        ],
        &["chain"],
    ),
    (
        "SwitchyardNoWatcher",
        &[r#"switchyard_light_client_height{kind="tip"}"#],
        &["__name__", "chain", "kind", "instance", "job", "namespace"],
    ),
    (
        "SwitchyardRpcErrorRateHigh",
        &[
            r#"sum by (chain) (rate(switchyard_rpc_requests_total{outcome!="ok"}[5m]))"#,
            "sum by (chain) (rate(switchyard_rpc_requests_total[5m]))",
        ],
        &["chain"],
    ),
    (
        "SwitchyardRedisErrors",
        &["sum by (op) (rate(switchyard_redis_errors_total[5m]))"],
        &["op"],
    ),
    (
        "SwitchyardTargetDown",
        &[r#"up{job=~".*switchyard.*"}"#],
        &["__name__", "instance", "job", "namespace"],
    ),
];

/// Alerts whose compared vectors may answer no series in this run, and why
/// (the expression must still evaluate, and its families be the hub's).
const ALERTS_MAY_BE_EMPTY: &[(&str, &str)] = &[
    (
        "SwitchyardTrustExpiring",
        "no beacon-anchored or CometBFT origin in this stack (tests/it/beacon.rs and tests/it/cometbft.rs set the families)",
    ),
    (
        "SwitchyardAttestationShort",
        "the hub signs alone here, no [[attesters]] (tests/it/attesters.rs sets the family)",
    ),
    (
        "SwitchyardAttesterUnreachable",
        "the hub signs alone here, no [[attesters]] (tests/it/attesters.rs sets the family)",
    ),
    (
        "SwitchyardAttesterRefusedUnknownMessage",
        "no attester process (role attester) in this stack (tests/it/attesters.rs sets the family)",
    ),
    (
        "SwitchyardAttesterNotInSet",
        "the hub signs alone here, no [[attesters]] (tests/it/attesters.rs sets the family)",
    ),
];

/// Dashboard targets that may answer no series in this run, and why (the
/// query must still answer a matrix, and its families must be the hub's).
const MAY_BE_EMPTY: &[(&str, &str)] = &[
    (
        "switchyard_beacon_slot",
        "no beacon-anchored origin in this stack (tests/it/beacon_anchor.rs sets the family)",
    ),
    (
        "switchyard_attestation_",
        "the hub signs alone here: no [[attesters]], no attester process (tests/it/attesters.rs sets the families)",
    ),
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("relayer/ sits in the repository root")
        .to_path_buf()
}

fn read(rel: &str) -> String {
    let p = repo().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// What Grafana substitutes for the dashboard's variables.
#[derive(Clone)]
struct Vars {
    job: String,
    instance: String,
    namespace: String,
}

impl Vars {
    /// As Grafana writes one selected value into a regex matcher: regex
    /// metacharacters escaped, the backslash doubled inside the string.
    fn selected(instance: &str) -> Self {
        Self {
            job: JOB.to_owned(),
            instance: instance.replace('.', "\\\\."),
            namespace: NAMESPACE.to_owned(),
        }
    }

    fn apply(&self, expr: &str) -> String {
        expr.replace("$__rate_interval", RATE_INTERVAL)
            .replace("$namespace", &self.namespace)
            .replace("$instance", &self.instance)
            .replace("$job", &self.job)
    }
}

/// One query of a dashboard panel.
#[derive(Clone, Debug)]
struct Target {
    panel: String,
    expr: String,
    legend: String,
}

fn dashboard_targets(d: &Value) -> Vec<Target> {
    let mut out = Vec::new();
    let mut stack: Vec<Value> = d["panels"].as_array().cloned().unwrap_or_default();
    while let Some(p) = stack.pop() {
        if let Some(inner) = p["panels"].as_array() {
            stack.extend(inner.iter().cloned());
        }
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push(Target {
                panel: p["title"].as_str().unwrap_or("").to_owned(),
                expr: t["expr"].as_str().unwrap_or("").to_owned(),
                legend: t["legendFormat"].as_str().unwrap_or("").to_owned(),
            });
        }
    }
    out
}

/// The `{{label}}`s of a legend, or `$labels.label`s of an annotation.
fn templated(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(s) = rest.find("{{") {
        let after = &rest[s + 2..];
        let Some(e) = after.find("}}") else { break };
        let inner = after[..e].trim();
        if let Some(l) = inner.strip_prefix(prefix) {
            let l: String = l
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.insert(l);
        }
        rest = &after[e + 2..];
    }
    out
}

fn label_set(series: &Value) -> BTreeSet<String> {
    series["metric"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// The hub's metric families named in `expr` (a `switchyard_` word, less a
/// histogram suffix), and those that are not.
fn unknown_families(expr: &str) -> Vec<String> {
    let known: BTreeSet<String> = Metrics::new().names().into_iter().collect();
    let mut out = Vec::new();
    for (i, _) in expr.match_indices("switchyard_") {
        let word: String = expr[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| word.strip_suffix(s).filter(|b| known.contains(*b)))
            .unwrap_or(&word);
        if !known.contains(base) {
            out.push(word);
        }
    }
    out
}

/// Problems of one dashboard target on live data.
async fn check_target(p: &Prometheus, vars: &Vars, t: &Target) -> Vec<String> {
    let at = format!("panel {:?}, {:?}", t.panel, t.expr);
    let expr = vars.apply(&t.expr);
    if expr.contains('$') {
        return vec![format!("{at}: a variable Grafana would not substitute")];
    }
    let data = match p.range(&expr).await {
        Ok(d) => d,
        Err(e) => return vec![format!("{at}: Prometheus refused it: {e}")],
    };
    if data["resultType"] != "matrix" {
        return vec![format!(
            "{at}: a {} instead of a matrix",
            data["resultType"]
        )];
    }
    let series = data["result"].as_array().cloned().unwrap_or_default();
    let mut problems = Vec::new();
    if series.is_empty() {
        match MAY_BE_EMPTY.iter().find(|(m, _)| t.expr.contains(m)) {
            Some((_, why)) => {
                let unknown = unknown_families(&t.expr);
                if !unknown.is_empty() {
                    problems.push(format!("{at}: not families of the hub: {unknown:?}"));
                } else {
                    eprintln!("empty, as it may be ({why}): {at}");
                }
            }
            None => problems.push(format!("{at}: no series")),
        }
        return problems;
    }
    let legend = templated(&t.legend, "");
    for s in &series {
        let labels = label_set(s);
        if labels != legend {
            problems.push(format!(
                "{at}: a series with labels {labels:?}, the legend {:?} shows {legend:?}",
                t.legend
            ));
            break;
        }
    }
    // Each variable filters the query: a value that matches nothing
    // leaves nothing.
    for (var, other) in [
        (
            "$job",
            Vars {
                job: "no-such-job".into(),
                ..vars.clone()
            },
        ),
        (
            "$instance",
            Vars {
                instance: "no-such-instance".into(),
                ..vars.clone()
            },
        ),
        (
            "$namespace",
            Vars {
                namespace: "no-such-namespace".into(),
                ..vars.clone()
            },
        ),
    ] {
        match p.range(&other.apply(&t.expr)).await {
            Ok(d) if d["result"].as_array().is_some_and(|r| r.is_empty()) => {}
            Ok(_) => problems.push(format!("{at}: {var} does not filter it")),
            Err(e) => problems.push(format!("{at}: with another {var}: {e}")),
        }
    }
    problems
}

/// Problems of the dashboard's query variables: each `label_values(..)`
/// lists the value of this test's scrape.
async fn check_variables(p: &Prometheus, d: &Value, vars: &Vars, hub: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut names = BTreeSet::new();
    for v in d["templating"]["list"].as_array().into_iter().flatten() {
        if v["type"] != "query" {
            continue;
        }
        let name = v["name"].as_str().unwrap_or("").to_owned();
        names.insert(name.clone());
        let def = v["definition"].as_str().unwrap_or("");
        let Some((selector, label)) = def
            .strip_prefix("label_values(")
            .and_then(|r| r.strip_suffix(')'))
            .and_then(|r| r.rsplit_once(','))
        else {
            problems.push(format!(
                "variable {name}: {def:?} is not label_values(selector, label)"
            ));
            continue;
        };
        let label = label.trim();
        let values = p
            .api(
                &format!("/api/v1/label/{label}/values"),
                &[("match[]", vars.apply(selector.trim()))],
            )
            .await;
        let want = match label {
            "job" => JOB,
            "instance" => hub,
            "namespace" => NAMESPACE,
            other => {
                problems.push(format!("variable {name}: unexpected label {other}"));
                continue;
            }
        };
        match values {
            Ok(v) if v.as_array().is_some_and(|a| a.iter().any(|x| x == want)) => {}
            Ok(v) => problems.push(format!("variable {name}: {def:?} lists {v}, not {want}")),
            Err(e) => problems.push(format!("variable {name}: {def:?}: {e}")),
        }
        if v["includeAll"] != true || v["allValue"] != ".*" {
            problems.push(format!(
                "variable {name}: \"All\" must match every value (.*)"
            ));
        }
    }
    for needed in ["job", "instance", "namespace"] {
        if !names.contains(needed) {
            problems.push(format!("no dashboard variable {needed}"));
        }
    }
    problems
}

/// A rule's text in the rules file: from its `- alert: <name>` line to the
/// next rule or group, whitespace collapsed.
fn rule_text(file: &str, name: &str) -> Option<String> {
    let start = file.find(&format!("- alert: {name}\n"))?;
    let rest = &file[start + 2..];
    let end = ["\n      - alert:", "\n      - record:", "\n  - name:"]
        .iter()
        .filter_map(|m| rest.find(m))
        .min()
        .unwrap_or(rest.len());
    Some(collapse(&rest[..end]))
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Problems of one alert, on live data: its expression answers a vector;
/// the vectors it compares are in its text and answer series with `labels`;
/// its annotations use only those labels.
async fn check_alert(
    p: &Prometheus,
    text: &str,
    rule: &Value,
    watched: &[&str],
    labels: &[&str],
) -> Vec<String> {
    let name = rule["name"].as_str().unwrap_or("?");
    let mut problems = Vec::new();
    let expr = rule["query"].as_str().unwrap_or("");
    match p.instant(expr).await {
        Ok(d) if d["resultType"] == "vector" => {}
        Ok(d) => problems.push(format!("{name}: a {} instead of a vector", d["resultType"])),
        Err(e) => problems.push(format!("{name}: Prometheus refused {expr:?}: {e}")),
    }
    let want: BTreeSet<String> = labels.iter().map(|l| (*l).to_owned()).collect();
    for w in watched {
        if !text.contains(&collapse(w)) {
            problems.push(format!(
                "{name}: {w:?} is not in the rule any more (update ALERTS)"
            ));
            continue;
        }
        match p.instant(w).await {
            Ok(d) => {
                let series = d["result"].as_array().cloned().unwrap_or_default();
                if series.is_empty() {
                    match ALERTS_MAY_BE_EMPTY.iter().find(|(a, _)| *a == name) {
                        Some((_, why)) if unknown_families(w).is_empty() => {
                            eprintln!("empty, as it may be ({why}): {name}: {w:?}");
                        }
                        Some(_) => problems.push(format!(
                            "{name}: not families of the hub: {:?}",
                            unknown_families(w)
                        )),
                        None => problems.push(format!("{name}: {w:?} has no series")),
                    }
                }
                for s in series {
                    let got = label_set(&s);
                    if got != want {
                        problems.push(format!("{name}: {w:?} has labels {got:?}, not {want:?}"));
                        break;
                    }
                }
            }
            Err(e) => problems.push(format!("{name}: Prometheus refused {w:?}: {e}")),
        }
    }
    for (k, v) in rule["annotations"].as_object().into_iter().flatten() {
        for l in templated(v.as_str().unwrap_or(""), "$labels.") {
            if !want.contains(&l) {
                problems.push(format!(
                    "{name}: annotation {k} uses $labels.{l}, which its series do not carry"
                ));
            }
        }
    }
    problems
}

/// GitHub's heading anchors of a Markdown file, plus explicit `<a id="..">`.
fn anchors(md: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut fenced = false;
    for line in md.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        if fenced {
            continue;
        }
        if let Some(h) = line.strip_prefix('#') {
            let text = h.trim_start_matches('#').trim();
            let slug: String = text
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
                .map(|c| if c == ' ' { '-' } else { c })
                .collect();
            out.insert(slug);
        }
        let mut rest = line;
        while let Some(s) = rest.find("<a id=\"") {
            let after = &rest[s + 7..];
            let Some(e) = after.find('"') else { break };
            out.insert(after[..e].to_string());
            rest = &after[e..];
        }
    }
    out
}

/// Problems of the alerting rules as Prometheus loaded them: evaluated
/// without error; a severity, summary, description, and a runbook link to
/// a heading of `docs/operations.md`; what issue 8 asked for, by name.
fn check_rules(rules: &[Value], docs: &BTreeSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut names = BTreeSet::new();
    for r in rules {
        let name = r["name"].as_str().unwrap_or("?").to_owned();
        if !names.insert(name.clone()) {
            problems.push(format!("{name}: defined twice"));
        }
        if r["health"] != "ok" || r["lastError"].as_str().is_some_and(|e| !e.is_empty()) {
            problems.push(format!(
                "{name}: health {}, last error {}",
                r["health"], r["lastError"]
            ));
        }
        match r["labels"]["severity"].as_str() {
            Some("critical" | "warning" | "info") => {}
            other => problems.push(format!("{name}: severity {other:?}")),
        }
        for a in ["summary", "description"] {
            if r["annotations"][a]
                .as_str()
                .is_none_or(|s| s.trim().is_empty())
            {
                problems.push(format!("{name}: no {a}"));
            }
        }
        match r["annotations"]["runbook_url"]
            .as_str()
            .and_then(|u| u.strip_prefix("docs/operations.md#"))
        {
            Some(anchor) if docs.contains(anchor) => {}
            Some(anchor) => problems.push(format!(
                "{name}: runbook anchor #{anchor} is not a heading of docs/operations.md"
            )),
            None => problems.push(format!(
                "{name}: runbook_url must be docs/operations.md#<anchor>"
            )),
        }
    }
    for needed in [
        "SwitchyardLaneStuck",
        "SwitchyardLightClientStale",
        "SwitchyardSignerBalanceLow",
        "SwitchyardRpcErrorRateHigh",
        "SwitchyardDeliveryErrorRateHigh",
        // Issue 20: rejections by reason, fatal watchers, trust expiry.
        "SwitchyardEvidenceRefused",
        "SwitchyardLaneEntryRefused",
        "SwitchyardWatcherFatal",
        "SwitchyardTrustExpiring",
    ] {
        if !names.contains(needed) {
            problems.push(format!("no alert {needed}"));
        }
    }
    problems
}

/// The chart ships the dashboard operators import: one file, byte for byte.
fn same_dashboard(grafana: &[u8], chart: &[u8]) -> Vec<String> {
    if grafana == chart {
        Vec::new()
    } else {
        vec![format!(
            "deploy/grafana/switchyard.json ({} bytes) and helm/switchyard/files/dashboard.json ({} bytes) differ",
            grafana.len(),
            chart.len()
        )]
    }
}

async fn alerting_rules(p: &Prometheus) -> Vec<Value> {
    let data = p
        .api("/api/v1/rules", &[("type", "alert".to_owned())])
        .await
        .expect("rules API");
    data["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_evaluates_every_dashboard_and_alert_expression_on_a_live_hub() {
    let grafana_path = repo().join("deploy/grafana/switchyard.json");
    let chart_path = repo().join("helm/switchyard/files/dashboard.json");
    let grafana = std::fs::read(&grafana_path).expect("dashboard");
    let chart = std::fs::read(&chart_path).expect("chart's dashboard");
    let mut problems = same_dashboard(&grafana, &chart);
    let dashboard: Value = serde_json::from_slice(&grafana).expect("dashboard is JSON");
    let alerts_path = repo().join("deploy/prometheus/alerts.yml");
    let alerts_text = read("deploy/prometheus/alerts.yml");
    let docs = anchors(&read("docs/operations.md"));

    let (a, b) = (0, 1);
    let mut stack = Stack::new(2, 2, single_redis(true), DISPATCH).await;
    // Chain a's preferred endpoint does not answer (nothing listens on
    // port 9): RPC errors, while the hub fails over to the real node.
    stack.rpc_front.insert(a, "http://127.0.0.1:9".into());
    // Every signer is under this: the balance families and the alert's.
    stack.chain_extra = "low_balance_eth = 1000000\n".into();
    // Route group 9000 is served by b, whose Inbox was never told to accept
    // it: those messages revert in simulation, are retried, split and
    // dead-lettered.
    stack.groups.push((9000, "round_robin", vec![b]));
    let hub = stack.spawn_hub("hub");
    let instance = format!("127.0.0.1:{}", hub.http);
    let prom = Prometheus::start(
        JOB,
        NAMESPACE,
        std::slice::from_ref(&instance),
        &alerts_path,
    )
    .await;
    let started = Instant::now();

    stack.send(10).await;
    // 3 to each of b's 2 recipients through the group.
    stack.send_group(a, 9000, 3).await;
    let bad = 6.0;
    // Redis goes away for a second: the hub counts its errors and goes on.
    stack.restart_redis();
    stack.send(5).await;
    let good = stack.sent_to(a) + stack.sent_to(b);

    // Everything settled in the hub, and in Prometheus.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let text = hub.metrics().await.unwrap_or_default();
        let received = stack.received_on(a).await + stack.received_on(b).await;
        let dead = metric(
            &text,
            "switchyard_messages_total",
            &["stage=\"dead_lettered\""],
        );
        let scrapes = prom
            .scalar(&format!("count_over_time(up{{job=\"{JOB}\"}}[5m])"))
            .await;
        let redis_errors = prom.scalar("sum(switchyard_redis_errors_total)").await;
        let rpc_errors = prom
            .scalar("sum(switchyard_rpc_requests_total{outcome!=\"ok\"})")
            .await;
        let prom_dead = prom
            .scalar("sum(switchyard_messages_total{stage=\"dead_lettered\"})")
            .await;
        if received >= good
            && dead >= bad
            && prom_dead >= bad
            && scrapes >= 30.0
            && redis_errors > 0.0
            && rpc_errors > 0.0
        {
            eprintln!(
                "settled after {:.0?}: {received} of {good} delivered, {dead} dead-lettered, {scrapes} scrapes, {redis_errors} Redis and {rpc_errors} RPC errors",
                started.elapsed()
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not settled: received {received} of {good}, dead-lettered {dead} (Prometheus {prom_dead}) of {bad}, {scrapes} scrapes, {redis_errors} Redis and {rpc_errors} RPC errors\nhub:\n{}\nprometheus:\n{}",
            tail(&hub.log),
            tail(&prom.log)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let build = prom.instant("switchyard_build_info").await;
    eprintln!("switchyard_build_info: {build:?}");

    // --- the dashboard -----------------------------------------------------
    let vars = Vars::selected(&instance);
    let targets = dashboard_targets(&dashboard);
    assert!(targets.len() >= 30, "{} targets", targets.len());
    for t in &targets {
        problems.extend(check_target(&prom, &vars, t).await);
    }
    problems.extend(check_variables(&prom, &dashboard, &vars, &instance).await);
    let panels_using = |m: &str| targets.iter().any(|t| t.expr.contains(m));
    for needed in [
        "switchyard_origin_trust_mode",
        "switchyard_beacon_slot",
        "switchyard_build_info",
    ] {
        if !panels_using(needed) {
            problems.push(format!("no panel shows {needed}"));
        }
    }
    if targets
        .iter()
        .any(|t| t.expr.contains("[1m]") || t.expr.contains("[5m]"))
    {
        problems.push("a panel rate with a fixed window instead of $__rate_interval".into());
    }

    // --- the alerts --------------------------------------------------------
    let rules = alerting_rules(&prom).await;
    problems.extend(check_rules(&rules, &docs));
    let listed: BTreeSet<&str> = ALERTS.iter().map(|a| a.0).collect();
    let loaded: BTreeSet<&str> = rules.iter().filter_map(|r| r["name"].as_str()).collect();
    if listed != loaded {
        problems.push(format!(
            "alerts loaded {loaded:?}, listed in ALERTS {listed:?}"
        ));
    }
    let by_name: BTreeMap<&str, &Value> = rules
        .iter()
        .filter_map(|r| Some((r["name"].as_str()?, r)))
        .collect();
    for (name, watched, labels) in ALERTS {
        let (Some(rule), Some(text)) = (by_name.get(name), rule_text(&alerts_text, name)) else {
            continue;
        };
        problems.extend(check_alert(&prom, &text, rule, watched, labels).await);
    }
    assert!(
        problems.is_empty(),
        "{}\nprometheus:\n{}",
        problems.join("\n"),
        tail(&prom.log)
    );
    eprintln!(
        "{} dashboard targets and {} alerts evaluated on live data",
        targets.len(),
        rules.len()
    );

    // --- the checks bite -----------------------------------------------------
    let first = |m: &str| {
        targets
            .iter()
            .find(|t| t.expr.contains(m))
            .cloned()
            .unwrap_or_else(|| panic!("a target with {m}"))
    };
    let delivered = first("switchyard_messages_total");
    let broken = |expr: String, legend: &str| Target {
        expr,
        legend: legend.to_owned(),
        ..delivered.clone()
    };
    let mut bites: Vec<(&str, Vec<String>)> = Vec::new();
    for (what, t) in [
        (
            "a metric name with a typo",
            broken(
                delivered.expr.replace("switchyard_messages_total", "switchyard_message_total"),
                &delivered.legend,
            ),
        ),
        (
            "a malformed expression",
            broken(format!("sum(({}", delivered.expr), &delivered.legend),
        ),
        (
            "a legend label the series do not carry",
            broken(
                "sum by (stage) (rate(switchyard_messages_total{job=~\"$job\", instance=~\"$instance\", namespace=~\"$namespace\"}[$__rate_interval]))".into(),
                "{{destination}}",
            ),
        ),
        (
            "a query without the job matcher",
            broken(
                "sum by (stage) (rate(switchyard_messages_total{instance=~\"$instance\", namespace=~\"$namespace\"}[$__rate_interval]))".into(),
                "{{stage}}",
            ),
        ),
        (
            "a many-to-many match, an error only data shows",
            broken(
                "switchyard_messages_total{job=~\"$job\", instance=~\"$instance\", namespace=~\"$namespace\"} / ignoring (stage) switchyard_messages_total".into(),
                "",
            ),
        ),
        (
            "an unknown variable",
            broken(delivered.expr.replace("$job", "$cluster"), &delivered.legend),
        ),
    ] {
        bites.push((what, check_target(&prom, &vars, &t).await));
    }
    let mut no_instance = dashboard.clone();
    no_instance["templating"]["list"]
        .as_array_mut()
        .expect("variables")
        .retain(|v| v["name"] != "instance");
    bites.push((
        "a dashboard without the instance variable",
        check_variables(&prom, &no_instance, &vars, &instance).await,
    ));
    let mut chart_copy = chart.clone();
    chart_copy.extend_from_slice(b" ");
    bites.push((
        "a chart dashboard that differs",
        same_dashboard(&grafana, &chart_copy),
    ));
    let mut undocumented = docs.clone();
    undocumented.remove("switchyardlanestuck");
    bites.push((
        "a runbook anchor missing from the docs",
        check_rules(&rules, &undocumented),
    ));
    let stuck = by_name["SwitchyardLaneStuck"];
    let stuck_text = rule_text(&alerts_text, "SwitchyardLaneStuck").expect("rule text");
    bites.push((
        "an alert whose compared vector has a label typo",
        check_alert(
            &prom,
            &stuck_text.replace("max by (destination)", "max by (destinaton)"),
            stuck,
            &["max by (destinaton) (switchyard_lane_backlog)"],
            &["destination"],
        )
        .await,
    ));
    bites.push((
        "a rule changed without ALERTS",
        check_alert(
            &prom,
            &stuck_text.replace("switchyard_lane_backlog", "switchyard_lane_pending"),
            stuck,
            ALERTS[0].1,
            ALERTS[0].2,
        )
        .await,
    ));
    let mut wrong_label = stuck.clone();
    wrong_label["annotations"]["summary"] = "Lane to {{ $labels.chain }} is stuck".into();
    bites.push((
        "an annotation using a label the alert does not carry",
        check_alert(&prom, &stuck_text, &wrong_label, ALERTS[0].1, ALERTS[0].2).await,
    ));
    let mut failed = Vec::new();
    for (what, found) in &bites {
        match found.first() {
            Some(p) => eprintln!("refused, {what}: {p}"),
            None => failed.push(*what),
        }
    }
    assert!(failed.is_empty(), "accepted: {failed:?}");
}
