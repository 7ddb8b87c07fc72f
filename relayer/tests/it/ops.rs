//! Operator artefacts checked against the hub itself:
//! - a live hub's `/metrics`, after traffic, passes `promtool check metrics`
//!   (Prometheus' own linter: counters end in `_total`, base units, help
//!   text, snake_case), and the linter refuses what breaks those rules;
//! - the metrics reference in `docs/operations.md` lists exactly the hub's
//!   metric families with their labels;
//! - the chart's values schema for the hub config has exactly the keys of
//!   the hub's `Config`, so the chart can express every option and no more.
//!
//! The alert rules are checked and unit-tested by promtool
//! (`deploy/promtool-test.sh`); a real Prometheus scraping a hub evaluates
//! every alert and dashboard expression (`tests/long/prometheus.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use switchyard::config::Config;
use switchyard::metrics::Metrics;

use crate::harness::stack::{Stack, single_redis, tail};

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

/// `promtool check metrics` on an exposition: `Err` with promtool's own
/// words when it finds a problem.
fn promtool_check_metrics(exposition: &str) -> Result<(), String> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (Debian's prometheus package: run deploy/setup.sh)");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(exposition.as_bytes())
        .expect("promtool reads the exposition");
    let out = child.wait_with_output().expect("promtool ends");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && said.trim().is_empty() {
        Ok(())
    } else {
        Err(format!("promtool check metrics ({}):\n{said}", out.status))
    }
}

/// Family names in an exposition (its `# TYPE` lines).
fn exposed_families(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_hubs_metrics_pass_promtool_check_metrics() {
    let mut stack = Stack::new(2, 1, single_redis(false), "").await;
    // A high threshold: the balance monitor flags every signer, so its
    // families are in the exposition too.
    stack.chain_extra = "low_balance_eth = 1000000\n".into();
    let hub = stack.spawn_hub("hub");
    stack.send(5).await;
    assert!(
        stack.wait_all(Duration::from_secs(90)).await,
        "not delivered: {:?}\n{}",
        stack.verify().await,
        tail(&hub.log)
    );
    // What this run exercises; the rest (beacon slots, Redis errors)
    // needs events this stack does not have. The balance monitor and the
    // backlog report run on their own clocks: wait for them.
    let needed = [
        "switchyard_build_info",
        "switchyard_messages_total",
        "switchyard_stage_latency_seconds",
        "switchyard_light_client_height",
        "switchyard_origin_trust_mode",
        "switchyard_transactions_total",
        "switchyard_signer_balance_eth",
        "switchyard_lane_backlog",
        "switchyard_rejections_total",
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let (text, exposed) = loop {
        let text = hub.metrics().await.expect("/metrics answers");
        let exposed = exposed_families(&text);
        if needed.iter().all(|n| exposed.contains(*n)) {
            break (text, exposed);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not exposed: {:?}\n{text}",
            needed
                .iter()
                .filter(|n| !exposed.contains(**n))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    if let Err(problems) = promtool_check_metrics(&text) {
        panic!("{problems}\n--- exposition ---\n{text}");
    }
    let registered: BTreeSet<String> = Metrics::new().names().into_iter().collect();
    let unknown: Vec<&String> = exposed.difference(&registered).collect();
    assert!(unknown.is_empty(), "exposed, not registered: {unknown:?}");
    eprintln!(
        "promtool check metrics: {} of {} registered families exposed and clean; not exposed in this run: {:?}",
        exposed.len(),
        registered.len(),
        registered.difference(&exposed).collect::<Vec<_>>()
    );
}

#[test]
fn promtool_check_metrics_refuses_what_breaks_the_conventions() {
    let good = "# HELP switchyard_x_total A counter.\n# TYPE switchyard_x_total counter\nswitchyard_x_total{destination=\"a\"} 1\n";
    promtool_check_metrics(good).expect("a clean exposition passes");
    for (bad, says) in [
        (
            "# HELP switchyard_deliveries A counter.\n# TYPE switchyard_deliveries counter\nswitchyard_deliveries 1\n",
            "_total",
        ),
        (
            "# HELP switchyard_wait_milliseconds A gauge.\n# TYPE switchyard_wait_milliseconds gauge\nswitchyard_wait_milliseconds 3\n",
            "base unit",
        ),
        (
            "# TYPE switchyard_up gauge\nswitchyard_up 1\n",
            "no help text",
        ),
        ("switchyard_x{ 1\n", "parsing error"),
    ] {
        match promtool_check_metrics(bad) {
            Ok(()) => panic!("promtool accepted {bad:?}"),
            Err(e) => assert!(e.contains(says), "{bad:?}: {e}"),
        }
    }
}

/// The rows of the table under `### Metrics reference` in
/// `docs/operations.md`: `| \`name\` | type | \`label\`, ... | what |`.
fn documented_families(md: &str) -> BTreeMap<String, BTreeSet<String>> {
    let section = md
        .split_once("\n### Metrics reference\n")
        .expect("a Metrics reference section")
        .1;
    let section = section.split("\n#").next().unwrap_or(section);
    let mut out = BTreeMap::new();
    for line in section.lines() {
        let Some(row) = line.strip_prefix("| `switchyard_") else {
            continue;
        };
        let cells: Vec<&str> = row.split(" | ").collect();
        let name = format!("switchyard_{}", cells[0].trim_end_matches('`'));
        let labels: BTreeSet<String> = cells
            .get(2)
            .unwrap_or(&"")
            .split(',')
            .map(|l| l.trim().trim_end_matches('?').trim_matches('`').to_owned())
            .filter(|l| !l.is_empty() && l != "—")
            .collect();
        assert!(
            out.insert(name.clone(), labels).is_none(),
            "{name} documented twice"
        );
    }
    out
}

#[test]
fn the_metrics_reference_lists_every_family_with_its_labels() {
    let docs = documented_families(&read("docs/operations.md"));
    let mut registry: BTreeMap<String, BTreeSet<String>> = Metrics::new()
        .families()
        .into_iter()
        .map(|(n, l)| (n, l.into_iter().collect()))
        .collect();
    // git_sha is there only when the build had its git checkout.
    if let Some(l) = registry.get_mut("switchyard_build_info") {
        l.insert("git_sha".into());
    }
    assert_eq!(docs, registry, "docs/operations.md, Metrics reference");
    // The check bites: a renamed label and a missing family are differences.
    let mut renamed = docs.clone();
    if let Some(l) = renamed.get_mut("switchyard_transactions_total") {
        l.remove("destination");
        l.insert("chain".into());
    }
    assert_ne!(renamed, registry);
    let mut missing = docs;
    missing.remove("switchyard_beacon_slot");
    assert_ne!(missing, registry);
}

/// The chart's schema for `config` has exactly the hub's own keys, less
/// what the chart sets itself (Redis, HTTP, role, secret references).
#[test]
fn chart_schema_matches_the_hub_config() {
    let schema: Value =
        serde_json::from_str(&read("helm/switchyard/values.schema.json")).expect("schema JSON");
    let cfg = Config::from_toml(&read("deploy/hub.example.toml")).expect("example config");
    let v = serde_json::to_value(&cfg).expect("config serializes");
    let keys = |v: &Value| -> BTreeSet<String> {
        v.as_object().expect("object").keys().cloned().collect()
    };
    let props = |path: &[&str]| -> BTreeSet<String> {
        let mut s = &schema;
        for p in path {
            s = &s[*p];
        }
        keys(&s["properties"])
    };
    let chart_set: BTreeSet<String> = [
        "role",
        "redis",
        "http",
        "attester_key",
        "queue_key",
        "admin_token",
        "attesters",
    ]
    .map(String::from)
    .into();
    let config = ["properties", "config"];
    let top: BTreeSet<String> = props(&config).union(&chart_set).cloned().collect();
    assert_eq!(top, keys(&v), "top-level config keys");
    assert_eq!(
        props(&["properties", "config", "properties", "dispatcher"]),
        keys(&v["dispatcher"]),
        "dispatcher keys"
    );
    assert_eq!(
        props(&["properties", "config", "properties", "log"]),
        keys(&v["log"]),
        "log keys"
    );
    assert_eq!(
        props(&["properties", "config", "properties", "status"]),
        keys(&v["status"]),
        "status keys"
    );
    let mut chain = keys(&v["chains"][0]);
    chain.remove("submitter_key");
    chain.remove("extra_submitter_keys");
    assert_eq!(
        props(&["properties", "config", "properties", "chains", "items"]),
        chain,
        "chain keys (less the secret references)"
    );
}

/// The reasons an alert's `switchyard_rejections_total{reason=~"..."}`
/// matcher names, in the rule `alert` of the alert rules.
fn alert_reasons(rules: &str, alert: &str) -> BTreeSet<String> {
    let start = rules
        .find(&format!("- alert: {alert}\n"))
        .unwrap_or_else(|| panic!("no alert {alert}"));
    let rule = &rules[start..];
    let rule = &rule[..rule[2..].find("- alert:").map_or(rule.len(), |e| e + 2)];
    let key = "switchyard_rejections_total{reason=~\"";
    let at = rule.find(key).unwrap_or_else(|| panic!("{alert}: {rule}")) + key.len();
    let end = rule[at..].find('"').expect("closing quote");
    rule[at..at + end].split('|').map(str::to_owned).collect()
}

/// The alerts on rejections name exactly the reasons the hub counts under
/// them, and the hub creates those series at 0 (so the first one alerts).
#[test]
fn the_rejection_alerts_name_the_reasons_the_hub_counts() {
    use switchyard::metrics::{dispute, refusal};
    let rules = read("deploy/prometheus/alerts.yml");
    let set = |r: &[&str]| -> BTreeSet<String> { r.iter().map(|s| (*s).to_owned()).collect() };
    assert_eq!(
        alert_reasons(&rules, "SwitchyardEvidenceRefused"),
        set(&refusal::ALL)
    );
    assert_eq!(
        alert_reasons(&rules, "SwitchyardOriginEvidenceDisputed"),
        set(&dispute::ALL)
    );
    // The check bites: a reason dropped from the rule is a difference.
    let dropped = rules.replace("|send_root", "");
    assert_ne!(
        alert_reasons(&dropped, "SwitchyardEvidenceRefused"),
        set(&refusal::ALL)
    );
    let m = Metrics::new();
    m.init_origin("alpha", ["beta"].into_iter());
    m.init_destination("beta", ["alpha"].into_iter());
    let text = m.render();
    for reason in refusal::ALL.iter().chain(&dispute::ALL) {
        let line = format!("switchyard_rejections_total{{chain=\"alpha\",reason=\"{reason}\"}} 0");
        assert!(text.lines().any(|l| l == line), "{line}");
    }
    assert!(
        text.lines()
            .any(|l| l == "switchyard_rejections_total{chain=\"beta\",reason=\"refused_entry\"} 0"),
        "{text}"
    );
}

/// Redis durability is stated the same way everywhere: the settings the
/// exactly-once argument needs, and that a Cluster failover can lose
/// messages (not only duplicate them).
#[test]
fn redis_durability_and_failover_risk_are_stated_consistently() {
    for doc in [
        "docs/operations.md",
        "docs/exactly-once.md",
        "docs/security.md",
    ] {
        let text = read(doc);
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat.contains("appendfsync always"),
            "{doc}: appendfsync always"
        );
        assert!(
            flat.to_lowercase().contains("lose messages"),
            "{doc}: that a Cluster failover can lose messages"
        );
        assert!(
            !flat.contains("can only duplicate"),
            "{doc}: says a failover can only duplicate"
        );
    }
    let ops = read("docs/operations.md");
    for needed in [
        "## Redis: durability and backups",
        "cluster-replica-no-failover yes",
        "BGSAVE",
        "outcome=\"redis_full\"",
    ] {
        assert!(ops.contains(needed), "docs/operations.md: {needed}");
    }
    // The prerequisites point there.
    let install = ops
        .split_once("## Install with Helm")
        .and_then(|(_, r)| r.split_once("\n### "))
        .map(|(i, _)| i)
        .expect("an install section");
    assert!(
        install.contains("appendfsync always"),
        "the prerequisites name appendfsync always"
    );
}
