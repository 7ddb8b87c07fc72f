//! Operator artefacts checked against the hub itself (promtool is on no
//! package registry this project uses):
//! - every metric and label that the alert rules (`deploy/prometheus/alerts.yml`,
//!   the same file the chart wraps in its PrometheusRule) and the Grafana
//!   dashboard use exists in the hub's registry, so renaming a metric or a
//!   label fails here;
//! - every rule has `for`, a severity, a summary, a description and a
//!   `runbook_url` whose anchor exists in `docs/operations.md`;
//! - the chart's values schema for the hub config has exactly the keys of
//!   the hub's `Config`, so the chart can express every option and no more.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;
use switchyard::config::Config;
use switchyard::metrics::Metrics;

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

// ---------------------------------------------------------------------------
// A reader for the YAML the rules file uses: block mappings and sequences,
// `|` block scalars, plain, single- and double-quoted scalars, comments.
// Anything else (flow collections, anchors, tags) is refused with its line,
// so the check cannot silently read less than Prometheus does.
// ---------------------------------------------------------------------------

struct Line {
    no: usize,
    indent: usize,
    text: String,
}

fn yaml(src: &str) -> Value {
    let raw: Vec<&str> = src.lines().collect();
    let mut lines = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        let l = raw[i];
        let t = l.trim_start();
        i += 1;
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let indent = l.len() - t.len();
        assert!(!l.contains('\t'), "line {i}: tabs");
        // A block scalar: gather its lines now, as one pre-joined value.
        if t.ends_with(": |") || t.ends_with(": |-") || t == "- |" {
            let keep_newline = !t.ends_with('-');
            let mut body = Vec::new();
            let mut inner: Option<usize> = None;
            while i < raw.len() {
                let b = raw[i];
                let bt = b.trim_start();
                if !bt.is_empty() && b.len() - bt.len() <= indent {
                    break;
                }
                if !bt.is_empty() {
                    inner.get_or_insert(b.len() - bt.len());
                }
                body.push(b);
                i += 1;
            }
            let cut = inner.unwrap_or(indent + 2);
            while body.last().is_some_and(|b| b.trim().is_empty()) {
                body.pop();
            }
            let mut s = body
                .iter()
                .map(|b| b.get(cut..).unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n");
            if keep_newline {
                s.push('\n');
            }
            let head = t.trim_end_matches('-').trim_end_matches('|').trim_end();
            lines.push(Line {
                no: i,
                indent,
                text: format!("{head} \u{0}{}", serde_json::to_string(&s).expect("string")),
            });
            continue;
        }
        lines.push(Line {
            no: i,
            indent,
            text: t.to_string(),
        });
    }
    let mut pos = 0;
    let v = yaml_block(&mut lines, &mut pos, 0);
    assert_eq!(
        pos,
        lines.len(),
        "line {}: unexpected indentation",
        lines[pos].no
    );
    v
}

fn yaml_block(lines: &mut Vec<Line>, pos: &mut usize, indent: usize) -> Value {
    let seq = lines[*pos].text.starts_with("- ") || lines[*pos].text == "-";
    if seq {
        let mut out = Vec::new();
        while *pos < lines.len()
            && lines[*pos].indent == indent
            && lines[*pos].text.starts_with("- ")
        {
            // "- key: v" opens a mapping two columns further in.
            let rest = lines[*pos].text[2..].trim_start().to_string();
            let extra = lines[*pos].text.len() - rest.len();
            if rest.contains(": ") || rest.ends_with(':') {
                lines[*pos].indent = indent + extra;
                lines[*pos].text = rest;
                out.push(yaml_block(lines, pos, indent + extra));
            } else {
                out.push(yaml_scalar(&rest, lines[*pos].no));
                *pos += 1;
            }
        }
        return Value::Array(out);
    }
    let mut map = serde_json::Map::new();
    while *pos < lines.len() && lines[*pos].indent == indent {
        let Line { no, text, .. } = &lines[*pos];
        let no = *no;
        let (key, rest) = text
            .split_once(':')
            .unwrap_or_else(|| panic!("line {no}: expected `key: value`, got {text:?}"));
        let key = key.trim().trim_matches('"').to_string();
        let rest = rest.trim().to_string();
        *pos += 1;
        let value = if let Some(json) = rest.strip_prefix('\u{0}') {
            serde_json::from_str(json).expect("pre-joined block scalar")
        } else if rest.is_empty() {
            match lines.get(*pos) {
                Some(next) if next.indent > indent => {
                    let ni = next.indent;
                    yaml_block(lines, pos, ni)
                }
                // A sequence may sit at its key's own indentation.
                Some(next) if next.indent == indent && next.text.starts_with("- ") => {
                    yaml_block(lines, pos, indent)
                }
                _ => Value::Null,
            }
        } else {
            yaml_scalar(&rest, no)
        };
        assert!(
            map.insert(key.clone(), value).is_none(),
            "line {no}: duplicate key {key}"
        );
    }
    Value::Object(map)
}

fn yaml_scalar(s: &str, no: usize) -> Value {
    if let Some(inner) = s.strip_prefix('"') {
        assert!(inner.ends_with('"'), "line {no}: unterminated string");
        return Value::String(serde_json::from_str(s).unwrap_or_else(|e| panic!("line {no}: {e}")));
    }
    if let Some(inner) = s.strip_prefix('\'') {
        let inner = inner
            .strip_suffix('\'')
            .unwrap_or_else(|| panic!("line {no}: unterminated string"));
        return Value::String(inner.replace("''", "'"));
    }
    assert!(
        !s.starts_with(['{', '[', '&', '*', '!', '|', '>', '@', '`']) && !s.contains(" #"),
        "line {no}: YAML this reader does not handle: {s:?}"
    );
    Value::String(s.to_string())
}

// ---------------------------------------------------------------------------
// PromQL: the metric names, label matchers and grouping labels of an
// expression, enough to check them against the registry.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str,
    Open(char),
    Close(char),
    Comma,
    Other,
}

fn tokens(expr: &str) -> Vec<Tok> {
    let c: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '"' || ch == '\'' || ch == '`' {
            i += 1;
            while i < c.len() && c[i] != ch {
                if c[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push(Tok::Str);
        } else if ch == '[' {
            // A range or subquery duration: not a name.
            while i < c.len() && c[i] != ']' {
                i += 1;
            }
            i += 1;
        } else if ch.is_ascii_alphabetic() || ch == '_' || ch == ':' {
            let s = i;
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_' || c[i] == ':') {
                i += 1;
            }
            out.push(Tok::Ident(c[s..i].iter().collect()));
        } else if ch.is_ascii_digit() || ch == '.' {
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '.') {
                i += 1;
            }
            out.push(Tok::Other);
        } else {
            out.push(match ch {
                '(' | '{' => Tok::Open(ch),
                ')' | '}' => Tok::Close(ch),
                ',' => Tok::Comma,
                _ => Tok::Other,
            });
            i += 1;
        }
    }
    out
}

const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
];

/// The registry: family name to label names.
fn registry() -> BTreeMap<String, BTreeSet<String>> {
    Metrics::new()
        .families()
        .into_iter()
        .map(|(n, l)| (n, l.into_iter().collect()))
        .collect()
}

/// A metric an expression names: its family and the labels it may carry.
fn resolve(reg: &BTreeMap<String, BTreeSet<String>>, name: &str) -> Option<BTreeSet<String>> {
    if let Some(l) = reg.get(name) {
        return Some(l.clone());
    }
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(l) = name.strip_suffix(suffix).and_then(|base| reg.get(base)) {
            let mut l = l.clone();
            if suffix == "_bucket" {
                l.insert("le".into());
            }
            return Some(l);
        }
    }
    None
}

/// Index of the token closing the group opened at `open`.
fn close_of(t: &[Tok], open: usize) -> usize {
    let mut depth = 0;
    for (i, x) in t.iter().enumerate().skip(open) {
        match x {
            Tok::Open(_) => depth += 1,
            Tok::Close(_) => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced parentheses")
}

/// Index of the token opening the group closed at `close`.
fn open_of(t: &[Tok], close: usize) -> usize {
    let mut depth = 0;
    for i in (0..=close).rev() {
        match t[i] {
            Tok::Close(_) => depth += 1,
            Tok::Open(_) => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced parentheses")
}

/// Switchyard metrics named in `t[range]`, with their labels.
fn metrics_in(
    reg: &BTreeMap<String, BTreeSet<String>>,
    t: &[Tok],
) -> Vec<(String, BTreeSet<String>)> {
    t.iter()
        .filter_map(|x| match x {
            Tok::Ident(n) if n.starts_with("switchyard_") => {
                resolve(reg, n).map(|l| (n.clone(), l))
            }
            _ => None,
        })
        .collect()
}

/// Problems of one expression: unknown metrics, label matchers and grouping
/// labels that the metrics they apply to do not have. Returns the labels the
/// expression's metrics carry, for checking `{{ $labels.x }}` and legends.
fn check_expr(
    reg: &BTreeMap<String, BTreeSet<String>>,
    expr: &str,
    problems: &mut Vec<String>,
) -> BTreeSet<String> {
    let t = tokens(expr);
    let mut carried = BTreeSet::new();
    let mut any = false;
    for (i, x) in t.iter().enumerate() {
        let Tok::Ident(name) = x else { continue };
        if name.starts_with("switchyard_") {
            any = true;
            let Some(labels) = resolve(reg, name) else {
                problems.push(format!("{expr:?}: no metric {name} in the hub's registry"));
                continue;
            };
            carried.extend(labels.iter().cloned());
            if t.get(i + 1) == Some(&Tok::Open('{')) {
                let end = close_of(&t, i + 1);
                let mut expect_name = true;
                for y in &t[i + 2..end] {
                    match y {
                        Tok::Ident(l) if expect_name => {
                            if !labels.contains(l) {
                                problems.push(format!(
                                    "{expr:?}: {name} has no label {l} (labels: {labels:?})"
                                ));
                            }
                            expect_name = false;
                        }
                        Tok::Comma => expect_name = true,
                        _ => {}
                    }
                }
            }
        }
        let grouping = [
            "by",
            "without",
            "on",
            "ignoring",
            "group_left",
            "group_right",
        ];
        if grouping.contains(&name.as_str()) && t.get(i + 1) == Some(&Tok::Open('(')) {
            let end = close_of(&t, i + 1);
            let labels: Vec<&String> = t[i + 2..end]
                .iter()
                .filter_map(|y| match y {
                    Tok::Ident(l) => Some(l),
                    _ => None,
                })
                .collect();
            // by/without apply to the aggregated group (after `sum by (..)`
            // or before `sum(..) by (..)`); on/ignoring to both operands.
            let scope: &[Tok] = if name == "by" || name == "without" {
                let prefix = matches!(t.get(i.wrapping_sub(1)), Some(Tok::Ident(a)) if AGGREGATIONS.contains(&a.as_str()));
                if prefix {
                    let open = end + 1;
                    &t[open..=close_of(&t, open)]
                } else {
                    let close = i - 1;
                    &t[open_of(&t, close)..=close]
                }
            } else {
                &t[..]
            };
            for (m, ml) in metrics_in(reg, scope) {
                for l in &labels {
                    if !ml.contains(*l) {
                        problems.push(format!(
                            "{expr:?}: `{name} ({l})` over {m}, which has no label {l}"
                        ));
                    }
                }
            }
        }
    }
    if !any && !expr.contains("up{") {
        problems.push(format!("{expr:?}: uses no switchyard_ metric"));
    }
    carried
}

/// `{{ $labels.x }}` (rules) or `{{x}}` (legends) in `text`.
fn templated_labels(text: &str, rule: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(s) = rest.find("{{") {
        let after = &rest[s + 2..];
        let e = after.find("}}").expect("closed template");
        let inner = after[..e].trim();
        if rule {
            if let Some(l) = inner.strip_prefix("$labels.") {
                out.push(l.split_whitespace().next().unwrap_or("").to_string());
            }
        } else {
            out.push(inner.to_string());
        }
        rest = &after[e + 2..];
    }
    out
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
            let e = after.find('"').expect("closed id");
            out.insert(after[..e].to_string());
            rest = &after[e..];
        }
    }
    out
}

fn duration_ok(s: &str) -> bool {
    let n = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &s[n.len()..];
    !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) && ["s", "m", "h", "d"].contains(&unit)
}

fn rules() -> Vec<Value> {
    let doc = yaml(&read("deploy/prometheus/alerts.yml"));
    let groups = doc["groups"].as_array().expect("groups: a list").clone();
    assert!(!groups.is_empty());
    groups
        .iter()
        .flat_map(|g| {
            assert!(g["name"].is_string(), "group without name: {g}");
            g["rules"].as_array().expect("rules: a list").clone()
        })
        .collect()
}

#[test]
fn alert_rules_use_only_metrics_and_labels_the_hub_exports() {
    let reg = registry();
    let mut problems = Vec::new();
    let rules = rules();
    let raw = read("deploy/prometheus/alerts.yml");
    assert_eq!(
        rules.len(),
        raw.matches("- alert:").count(),
        "the reader saw every rule"
    );
    for r in &rules {
        let name = r["alert"].as_str().expect("alert name");
        let expr = r["expr"].as_str().unwrap_or_else(|| panic!("{name}: expr"));
        let carried = check_expr(&reg, expr, &mut problems);
        for (k, v) in r["annotations"].as_object().into_iter().flatten() {
            for l in templated_labels(v.as_str().unwrap_or(""), true) {
                if !carried.is_empty() && !carried.contains(&l) {
                    problems.push(format!(
                        "{name}: annotation {k} uses $labels.{l}, not a label of {expr:?}"
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn alert_rules_are_complete_and_link_their_runbooks() {
    let docs = anchors(&read("docs/operations.md"));
    let mut names = BTreeSet::new();
    let mut problems = Vec::new();
    for r in rules() {
        let name = r["alert"].as_str().expect("alert name").to_string();
        if !names.insert(name.clone()) {
            problems.push(format!("{name}: defined twice"));
        }
        match r["for"].as_str() {
            Some(d) if duration_ok(d) => {}
            other => problems.push(format!(
                "{name}: `for` missing or not a duration: {other:?}"
            )),
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
    // What issue 8 asks for, by name.
    for needed in [
        "SwitchyardLaneStuck",
        "SwitchyardLightClientStale",
        "SwitchyardSignerBalanceLow",
        "SwitchyardRpcErrorRateHigh",
        "SwitchyardDeliveryErrorRateHigh",
    ] {
        if !names.contains(needed) {
            problems.push(format!("no alert {needed}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn dashboard_targets() -> Vec<(String, String, String)> {
    let d: Value =
        serde_json::from_str(&read("deploy/grafana/switchyard.json")).expect("dashboard is JSON");
    let mut out = Vec::new();
    let mut stack: Vec<Value> = d["panels"].as_array().expect("panels").clone();
    while let Some(p) = stack.pop() {
        if let Some(inner) = p["panels"].as_array() {
            stack.extend(inner.iter().cloned());
        }
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push((
                p["title"].as_str().unwrap_or("").to_string(),
                t["expr"].as_str().expect("target expr").to_string(),
                t["legendFormat"].as_str().unwrap_or("").to_string(),
            ));
        }
    }
    out
}

#[test]
fn dashboard_uses_only_metrics_and_labels_the_hub_exports() {
    let reg = registry();
    let mut problems = Vec::new();
    let targets = dashboard_targets();
    assert!(targets.len() >= 10, "{} targets", targets.len());
    for (title, expr, legend) in &targets {
        let carried = check_expr(&reg, expr, &mut problems);
        for l in templated_labels(legend, false) {
            if !carried.contains(&l) {
                problems.push(format!(
                    "panel {title:?}: legend {{{{{l}}}}} is not a label of {expr:?}"
                ));
            }
        }
    }
    // The panels issue 8 lists: throughput by stage and per route, lane
    // backlog and oldest age, stage latencies, light-client heights,
    // errors and rejections, signer balances.
    let all: String = targets
        .iter()
        .map(|t| t.1.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    for needed in [
        "sum by (stage) (rate(switchyard_messages_total",
        "sum by (origin, destination) (rate(switchyard_messages_total{stage=\"delivered\"}",
        "switchyard_lane_backlog",
        "switchyard_lane_oldest_age_seconds",
        "switchyard_stage_latency_seconds_bucket",
        "switchyard_light_client_height",
        "switchyard_rejections_total",
        "switchyard_rpc_requests_total",
        "switchyard_redis_errors_total",
        "switchyard_signer_balance_eth",
    ] {
        if !all.contains(needed) {
            problems.push(format!("no panel uses {needed}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checks_catch_a_renamed_metric_or_label() {
    let reg = registry();
    let cases = [
        "max by (destination) (switchyard_lane_backlogs) > 0",
        "max by (chain) (switchyard_lane_backlog) > 0",
        "sum(rate(switchyard_messages_total{stag=\"delivered\"}[5m]))",
        "sum(rate(switchyard_messages_total[5m])) by (route)",
        "histogram_quantile(0.9, sum by (le, phase) (rate(switchyard_stage_latency_seconds_bucket[5m])))",
        "a unless on (chain) switchyard_lane_backlog",
    ];
    for expr in cases {
        let mut problems = Vec::new();
        check_expr(&reg, expr, &mut problems);
        assert!(!problems.is_empty(), "{expr} passed the check");
    }
    let mut problems = Vec::new();
    check_expr(
        &reg,
        "histogram_quantile(0.9, sum by (le, stage) (rate(switchyard_stage_latency_seconds_bucket{stage=\"deliver\"}[5m])))",
        &mut problems,
    );
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn yaml_reader_reads_the_subset_and_refuses_the_rest() {
    let v = yaml(
        "# comment\ngroups:\n  - name: g\n    rules:\n      - alert: A\n        expr: |\n          max by (x) (m)\n            > 0\n\n        for: 5m\n        labels:\n          severity: 'warn''s'\n        annotations:\n          summary: \"{{ $labels.x }} \\\"q\\\"\"\n      - record: r\n        expr: up\n",
    );
    let expected = serde_json::json!({"groups": [{"name": "g", "rules": [
        {"alert": "A", "expr": "max by (x) (m)\n  > 0\n", "for": "5m",
         "labels": {"severity": "warn's"},
         "annotations": {"summary": "{{ $labels.x }} \"q\""}},
        {"record": "r", "expr": "up"}
    ]}]});
    assert_eq!(v, expected);
    for unsupported in ["a: {b: 1}\n", "a: [1, 2]\n", "a: &x 1\n", "a: b # c\n"] {
        assert!(
            std::panic::catch_unwind(|| yaml(unsupported)).is_err(),
            "{unsupported:?} accepted"
        );
    }
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
