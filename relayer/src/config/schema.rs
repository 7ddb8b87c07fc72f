//! The configuration's JSON Schema, derived from its types with schemars:
//! serde's own attributes (`deny_unknown_fields`, `default`, `rename_all`)
//! give the keys, types and required ones, and the `#[schemars(...)]`
//! attributes next to the fields give the ranges and patterns
//! [`Config::validate`] enforces. `switchyard config schema` prints it (for
//! an editor's TOML support), and the Helm chart's
//! `helm/switchyard/values.schema.json` holds its `config` part, checked
//! against it by this module's tests. After changing a Config type:
//!
//! ```text
//! SWITCHYARD_UPDATE_SCHEMA=1 cargo test -p switchyard --lib config::schema
//! ```
//!
//! What a schema cannot say (a name unique across chains, a quorum no
//! larger than the endpoints) stays with [`Config::validate`] alone.

use schemars::generate::SchemaSettings;
use schemars::{Schema, SchemaGenerator, json_schema};
use serde_json::Value;

use super::{Config, beacon};

/// Names of chains and origins (they are metric labels): what
/// `check_name` accepts.
pub(crate) const NAME_PATTERN: &str = "^[a-z0-9_-]{1,32}$";

/// An endpoint URL as the hub checks it (JSON-RPC, beacon API, CometBFT RPC).
pub(crate) const HTTP_URL_PATTERN: &str = "^https?://";

/// A Redis URL as the hub checks it.
pub(crate) const REDIS_URL_PATTERN: &str = "^rediss?://";

/// The top-level keys the chart writes itself (from its own values and the
/// mounted Secret): they are not in its `config` value.
pub const CHART_SETS: &[&str] = &[
    "role",
    "redis",
    "http",
    "attester_key",
    "queue_key",
    "admin_token",
    "attesters",
];

/// The keys of the `[attestation]` table the chart writes itself (an
/// attester's accepted tokens, from its Secret; its HTTPS listener, from
/// `attesterDefaults.tls`).
pub const CHART_SETS_ATTESTATION: &[&str] = &[
    "tokens",
    "listen",
    "tls_cert_file",
    "tls_key",
    "client_ca_file",
];

/// The keys of a `[[chains]]` entry the chart writes itself (the signer
/// keys, from `secrets.submitterKeys`).
pub const CHART_SETS_PER_CHAIN: &[&str] = &["submitter_key", "extra_submitter_keys"];

/// The schema of the hub's TOML configuration (draft-07, every subschema
/// inlined: the chart embeds it under one property, where references
/// to definitions would resolve against the chart's own root).
pub fn hub() -> Value {
    let mut v = SchemaSettings::draft07()
        .with(|s| s.inline_subschemas = true)
        .into_generator()
        .into_root_schema_for::<Config>()
        .to_value();
    tidy(&mut v);
    v
}

/// What schemars leaves for a reader or a validator to work out: the
/// maximum of an unsigned integer narrower than 64 bits (serde refuses
/// more), an enum of unit variants as `enum` (a validator then names the
/// values it expects) with the variants' docs in the description, and
/// doc comments' line breaks inside a paragraph.
fn tidy(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(d)) = o.get_mut("description") {
                *d = unwrap_lines(d);
            }
            let max = match o.get("format").and_then(Value::as_str) {
                Some("uint8") => Some(u64::from(u8::MAX)),
                Some("uint16") => Some(u64::from(u16::MAX)),
                Some("uint32") => Some(u64::from(u32::MAX)),
                _ => None,
            };
            if let Some(max) = max {
                o.entry("maximum").or_insert(max.into());
            }
            let consts: Option<Vec<(Value, Option<String>)>> =
                o.get("oneOf").and_then(Value::as_array).and_then(|alts| {
                    alts.iter()
                        .map(|a| {
                            let c = a.get("const").filter(|c| c.is_string())?.clone();
                            let doc = a.get("description").and_then(Value::as_str);
                            Some((c, doc.map(unwrap_lines)))
                        })
                        .collect()
                });
            if let Some(consts) = consts {
                o.remove("oneOf");
                let docs: Vec<String> = consts
                    .iter()
                    .filter_map(|(c, d)| Some(format!("{}: {}", c.as_str()?, d.as_deref()?)))
                    .collect();
                if !docs.is_empty() {
                    let head = o
                        .get("description")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    let all = head.into_iter().chain(docs).collect::<Vec<_>>().join("\n");
                    o.insert("description".into(), all.into());
                }
                o.insert("type".into(), "string".into());
                o.insert("enum".into(), consts.into_iter().map(|(c, _)| c).collect());
            }
            o.values_mut().for_each(tidy);
        }
        Value::Array(a) => a.iter_mut().for_each(tidy),
        _ => {}
    }
}

/// The schema of the chart's `config` value: [`hub`] without what the
/// chart writes itself ([`CHART_SETS`], [`CHART_SETS_PER_CHAIN`]).
pub fn chart_config() -> Value {
    let mut v = hub();
    if let Some(o) = v.as_object_mut() {
        o.remove("$schema");
        o.remove("title");
        o.insert(
            "description".into(),
            format!(
                "The hub's TOML configuration (relayer/src/config), generated from its types by relayer/src/config/schema.rs, without what the chart sets: {}, chains[].{}, and attestation.{}",
                CHART_SETS.join(", "),
                CHART_SETS_PER_CHAIN.join(", chains[]."),
                CHART_SETS_ATTESTATION.join(", attestation.")
            )
            .into(),
        );
    }
    drop_keys(&mut v, CHART_SETS);
    drop_keys(
        &mut v["properties"]["chains"]["items"],
        CHART_SETS_PER_CHAIN,
    );
    drop_keys(&mut v["properties"]["attestation"], CHART_SETS_ATTESTATION);
    v
}

/// A doc comment's paragraphs without the line breaks inside them.
fn unwrap_lines(doc: &str) -> String {
    doc.split("\n\n")
        .map(|para| {
            para.split('\n')
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Removes `keys` from an object schema's properties and required list.
fn drop_keys(schema: &mut Value, keys: &[&str]) {
    if let Some(p) = schema["properties"].as_object_mut() {
        p.retain(|k, _| !keys.contains(&k.as_str()));
    }
    // get_mut, not indexing: indexing a missing key would insert a null.
    if let Some(r) = schema.get_mut("required").and_then(Value::as_array_mut) {
        r.retain(|k| !k.as_str().is_some_and(|k| keys.contains(&k)));
    }
}

/// Fixed-size bytes (`Address`, `B256`, `FixedBytes<4>`) as the loader
/// takes them: `0x` and `2N` hex digits.
pub(crate) fn hex<const N: usize>(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "pattern": format!("^0x[0-9a-fA-F]{{{}}}$", 2 * N),
    })
}

/// An endpoint URL matching `pattern`, or a reference to a secret holding
/// it (`{ env = "NAME" }`, `{ file = "/path" }`).
fn url_or_ref(g: &mut SchemaGenerator, pattern: &str) -> Schema {
    let secret = g.subschema_for::<super::SecretRef>();
    json_schema!({
        "anyOf": [{ "type": "string", "pattern": pattern }, secret],
    })
}

/// A list of at least one HTTP endpoint, each a URL or a secret reference.
pub(crate) fn http_urls(g: &mut SchemaGenerator) -> Schema {
    let item = url_or_ref(g, HTTP_URL_PATTERN);
    json_schema!({ "type": "array", "minItems": 1, "items": item })
}

/// One HTTP(S) URL or a secret reference.
pub(crate) fn http_url(g: &mut SchemaGenerator) -> Schema {
    url_or_ref(g, HTTP_URL_PATTERN)
}

/// The Redis URL or a secret reference.
pub(crate) fn redis_url(g: &mut SchemaGenerator) -> Schema {
    url_or_ref(g, REDIS_URL_PATTERN)
}

/// Redis Cluster nodes, each a URL or a secret reference.
pub(crate) fn redis_urls(g: &mut SchemaGenerator) -> Schema {
    let item = url_or_ref(g, REDIS_URL_PATTERN);
    json_schema!({ "type": "array", "items": item })
}

/// `[chains.beacon] network`: a built-in network, or `custom`.
pub(crate) fn beacon_network(_: &mut SchemaGenerator) -> Schema {
    let mut names: Vec<&str> = beacon::built_in_networks().collect();
    names.push("custom");
    json_schema!({ "type": "string", "enum": names })
}

/// `[chains.beacon.custom] preset`: the presets the light client has.
pub(crate) fn beacon_preset(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<&str> = ["mainnet", "minimal"]
        .into_iter()
        .filter(|n| switchyard_lc_beacon::Preset::by_name(n).is_some())
        .collect();
    json_schema!({ "type": "string", "enum": names })
}

/// `[chains.beacon.custom] forks`: every fork from phase0 in order, at
/// least up to Capella, at most every fork the light client knows.
pub(crate) fn beacon_forks(g: &mut SchemaGenerator) -> Schema {
    use switchyard_lc_beacon::Fork;
    let capella = Fork::ALL
        .iter()
        .position(|f| *f == Fork::Capella)
        .expect("Fork::ALL lists Capella");
    let mut s = g.subschema_for::<Vec<super::CustomFork>>();
    s.insert("minItems".into(), (capella + 1).into());
    s.insert("maxItems".into(), Fork::ALL.len().into());
    s
}

/// `[chains.beacon.custom] forks[].fork`: a fork name.
pub(crate) fn beacon_fork(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<&str> = switchyard_lc_beacon::Fork::ALL
        .iter()
        .map(|f| f.name())
        .collect();
    json_schema!({ "type": "string", "enum": names })
}

/// `[chains.rollup] kind`: the rollup families an origin follows (the
/// light client knows Arbitrum too, but `RollupConfig::check` refuses
/// it as an origin).
pub(crate) fn rollup_kind(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "enum": [switchyard_lc_rollup::RollupKind::OpStack.name()],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUES_SCHEMA: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../helm/switchyard/values.schema.json"
    );
    const UPDATE: &str = "SWITCHYARD_UPDATE_SCHEMA=1 cargo test -p switchyard --lib config::schema";

    /// The byte range of the value of the chart schema's
    /// `properties.config` in `text` (the file keeps its own layout; only
    /// that value is rewritten).
    fn config_span(text: &str) -> std::ops::Range<usize> {
        let b = text.as_bytes();
        let skip_ws = |mut j: usize| {
            while b[j].is_ascii_whitespace() {
                j += 1;
            }
            j
        };
        // The keys that opened the containers around `i`; a key is a
        // string followed by a colon.
        let mut path: Vec<String> = Vec::new();
        let mut key = String::new();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'"' => {
                    let start = i + 1;
                    i = end_of_string(b, i);
                    let after = skip_ws(i + 1);
                    if b[after] == b':' {
                        key = text[start..i].to_owned();
                        if key == "config" && path == ["", "properties"] {
                            let open = skip_ws(after + 1);
                            return open..close_of(text, open);
                        }
                    }
                }
                b'{' | b'[' => path.push(std::mem::take(&mut key)),
                b'}' | b']' => {
                    path.pop();
                }
                _ => {}
            }
            i += 1;
        }
        panic!("no properties.config in {VALUES_SCHEMA}");
    }

    /// The index of the quote closing the string opened at `i`.
    fn end_of_string(b: &[u8], mut i: usize) -> usize {
        i += 1;
        while b[i] != b'"' {
            i += if b[i] == b'\\' { 2 } else { 1 };
        }
        i
    }

    /// The index after the bracket closing the one at `open`.
    fn close_of(text: &str, open: usize) -> usize {
        let b = text.as_bytes();
        let (mut depth, mut i) = (0usize, open);
        loop {
            match b[i] {
                b'"' => i = end_of_string(b, i),
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }

    #[test]
    fn the_charts_config_schema_is_the_one_generated_from_the_config_types() {
        let text = std::fs::read_to_string(VALUES_SCHEMA).expect("values.schema.json");
        let span = config_span(&text);
        let generated = chart_config();
        let pretty = serde_json::to_string_pretty(&generated)
            .expect("a schema serializes")
            .replace('\n', "\n    ");
        if std::env::var_os("SWITCHYARD_UPDATE_SCHEMA").is_some() {
            let updated = format!("{}{pretty}{}", &text[..span.start], &text[span.end..]);
            std::fs::write(VALUES_SCHEMA, updated).expect("write values.schema.json");
            return;
        }
        let checked_in: Value = serde_json::from_str(&text[span]).unwrap_or_else(|e| {
            panic!("properties.config of {VALUES_SCHEMA} is not JSON ({e}); regenerate: {UPDATE}")
        });
        let mut differences = Vec::new();
        differ("", &checked_in, &generated, &mut differences);
        assert!(
            differences.is_empty(),
            "{VALUES_SCHEMA}: properties.config differs from the schema of the Config types at\n  {}\nregenerate it with\n  {UPDATE}",
            differences.join("\n  ")
        );
    }

    /// The JSON pointers (under `at`) where `a` and `b` differ, the first
    /// 20.
    fn differ(at: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
        if out.len() >= 20 || a == b {
            return;
        }
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                    let (u, v) = (x.get(k), y.get(k));
                    match (u, v) {
                        (Some(u), Some(v)) => differ(&format!("{at}/{k}"), u, v, out),
                        (Some(_), None) => out.push(format!("{at}/{k}: checked in only")),
                        _ => out.push(format!("{at}/{k}: generated only")),
                    }
                }
            }
            _ => out.push(format!("{at}: checked in {a}, generated {b}")),
        }
    }

    #[test]
    fn the_splice_finds_the_top_level_config_only() {
        let text = r#"{"definitions": {"config": {"a": 1}}, "properties": {"x": {"properties": {"config": 2}}, "config": {"type": "object", "s": "}{\"" }, "y": 3}}"#;
        let span = config_span(text);
        assert_eq!(&text[span], r#"{"type": "object", "s": "}{\"" }"#);
    }

    fn validator() -> jsonschema::Validator {
        jsonschema::draft7::new(&hub()).expect("the generated schema is valid draft-07")
    }

    /// A configuration as JSON, the way the chart's values carry it.
    fn sample() -> Value {
        serde_json::json!({
            "attester_key": {"env": "SY_ATTESTER"},
            "queue_key": {"file": "/run/secrets/queue"},
            "redis": {"url": "redis://127.0.0.1:6379"},
            "dispatcher": {"lane_shards": 8},
            "status": {"retention_secs": 3600},
            "chains": [{
                "name": "alpha",
                "domain": 1000,
                "chain_id": 31337,
                "rpc_urls": ["http://127.0.0.1:8545", "https://rpc.example/v2/key"],
                "mailbox": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
                "inbox": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
                "submitter_key": {"file": "/run/secrets/alpha"},
                "beacon": {
                    "urls": ["http://127.0.0.1:5052"],
                    "network": "sepolia",
                    "trusted_root": format!("0x{}", "ab".repeat(32)),
                },
            }],
            "cometbft_origins": [{
                "name": "cosmos", "domain": 7000, "rpc_urls": ["http://127.0.0.1:26657"],
                "trusted_height": 5, "trusted_hash": "AB".repeat(32), "trusting_period_secs": 1_209_600,
            }],
        })
    }

    /// What the hub makes of a configuration: serde's reading (the types,
    /// unknown keys) and [`Config::validate`].
    fn hub_accepts(v: &Value) -> Result<Config, Box<dyn std::error::Error>> {
        let c: Config = serde_json::from_value(v.clone())?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn the_schema_accepts_what_the_hub_accepts_and_refuses_by_path_what_it_refuses() {
        let v = validator();
        let ok = sample();
        hub_accepts(&ok).expect("the hub accepts the sample");
        let errors: Vec<String> = v.iter_errors(&ok).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}");
        for (pointer, bad, where_) in [
            (
                "/dispatcher/lane_shards",
                serde_json::json!(0),
                "/dispatcher/lane_shards",
            ),
            ("/dispatcher/batch", serde_json::json!(10), "/dispatcher"),
            (
                "/chains/0/name",
                serde_json::json!("Alpha"),
                "/chains/0/name",
            ),
            (
                "/chains/0/rpc_urls/1",
                serde_json::json!("ws://x"),
                "/chains/0/rpc_urls/1",
            ),
            (
                "/chains/0/mailbox",
                serde_json::json!("0x5FbD"),
                "/chains/0/mailbox",
            ),
            (
                "/chains/0/replacement_fee_percent",
                serde_json::json!(105),
                "/chains/0/replacement_fee_percent",
            ),
            (
                "/chains/0/beacon/network",
                serde_json::json!("goerli"),
                "/chains/0/beacon/network",
            ),
            (
                "/chains/0/trust",
                serde_json::json!("relaxed"),
                "/chains/0/trust",
            ),
            ("/queue_key", serde_json::json!({}), "/queue_key"),
            (
                "/cometbft_origins/0/trusting_period_secs",
                serde_json::json!(10),
                "/cometbft_origins/0/trusting_period_secs",
            ),
            (
                "/status/retention_secs",
                serde_json::json!(10),
                "/status/retention_secs",
            ),
        ] {
            let mut bad_cfg = ok.clone();
            let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
            match bad_cfg.pointer_mut(parent).expect(parent) {
                Value::Object(o) => {
                    o.insert(key.to_owned(), bad.clone());
                }
                Value::Array(a) => a[key.parse::<usize>().expect("an index")] = bad.clone(),
                _ => panic!("{parent} holds no value"),
            }
            assert!(
                hub_accepts(&bad_cfg).is_err(),
                "the hub accepts {pointer} = {bad}: the case shows nothing"
            );
            let paths: Vec<String> = v
                .iter_errors(&bad_cfg)
                .map(|e| e.instance_path().to_string())
                .collect();
            assert!(
                paths.iter().any(|p| p == where_),
                "{pointer} = {bad}: expected an error at {where_}, got {paths:?}"
            );
        }
    }

    #[test]
    fn the_chart_part_leaves_out_what_the_chart_writes() {
        let c = chart_config();
        for k in CHART_SETS {
            assert!(c["properties"].get(*k).is_none(), "{k}");
        }
        let chain = &c["properties"]["chains"]["items"];
        for k in CHART_SETS_PER_CHAIN {
            assert!(chain["properties"].get(*k).is_none(), "{k}");
            assert!(
                !chain["required"]
                    .as_array()
                    .expect("required")
                    .contains(&Value::from(*k))
            );
        }
        assert!(chain["properties"].get("mailbox").is_some());
        assert_eq!(c["additionalProperties"], false);
        assert!(c.get("$schema").is_none());
    }
}
