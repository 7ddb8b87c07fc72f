//! Reading a configuration before serde sees it: the TOML file as a tree,
//! the `SWITCHYARD__` environment overrides laid over it (list values and
//! entries of lists included), endpoint URLs given by reference
//! (`{ env = "NAME" }`, `{ file = "/path" }`) resolved in place, and hex
//! values checked with a message that says what was expected. What is left
//! is turned into the `config` crate's value tree, whose deserializer the
//! rest of the loader uses.

use std::fmt::Write as _;

use super::{ConfigError, SecretRef, cfg_err};

/// Prefix of the environment overrides (`SWITCHYARD__REDIS__URL`).
pub(super) const ENV_PREFIX: &str = "SWITCHYARD__";

/// Keys whose value is a list, so that an override of one given as a
/// string is read as a list (comma-separated, or a JSON array).
const LIST_KEYS: &[&str] = &[
    "rpc_urls",
    "urls",
    "cluster_nodes",
    "extra_submitter_keys",
    "members",
    "forks",
];

/// Where an endpoint URL was read from by reference: its config path and
/// the reference (never the value), for `config check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedRef {
    /// Dotted path of the URL (`chains[0].rpc_urls[1]`).
    pub path: String,
    /// `env NAME` or `file /path`.
    pub source: String,
}

/// What loading found besides the configuration, for `config check`.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Endpoint URLs read by reference.
    pub refs: Vec<ResolvedRef>,
    /// Keys given under a former name (still read).
    pub warnings: Vec<ConfigError>,
}

/// Former key names still read (serde aliases), by list and key: each use
/// draws a warning naming the current key.
const FORMER_NAMES: &[(&str, &str, &str)] = &[(
    "chains",
    "fee_bump_percent",
    "replacement_fee_percent (the same meaning: the replacement's fees in percent of the replaced transaction's, 125 = +25%)",
)];

/// Warnings for keys given under a former name.
pub(super) fn former_names(root: &toml::Table) -> Vec<ConfigError> {
    let mut out = Vec::new();
    for (list, old, new) in FORMER_NAMES {
        let Some(toml::Value::Array(entries)) = root.get(*list) else {
            continue;
        };
        for (i, e) in entries.iter().enumerate() {
            if e.get(old).is_some() {
                out.push(cfg_err(
                    format!("{list}[{i}].{old}"),
                    format!("expected {new}, got the former name {old}"),
                ));
            }
        }
    }
    out
}

/// Lays the `SWITCHYARD__` variables of `vars` over `root`. A name's parts
/// after the prefix are keys (lower-cased) or, under a list, the index of
/// an entry the file has: `SWITCHYARD__CHAINS__0__RPC_URLS`. A list value
/// is a JSON array (`["https://a", {"env": "B"}]`) or comma-separated
/// strings.
pub(super) fn apply_env(
    root: &mut toml::Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(n, _)| n.starts_with(ENV_PREFIX))
        .collect();
    // A stable order whatever the environment's: a variable for a whole
    // list before those of its entries.
    vars.sort();
    for (name, value) in vars {
        apply_one(root, &name, &value)?;
    }
    Ok(())
}

fn apply_one(root: &mut toml::Table, name: &str, value: &str) -> Result<(), ConfigError> {
    let at = || format!("environment variable {name}");
    let parts: Vec<String> = name[ENV_PREFIX.len()..]
        .split("__")
        .map(str::to_ascii_lowercase)
        .collect();
    if parts.iter().any(String::is_empty) {
        return Err(cfg_err(
            at(),
            "expected SWITCHYARD__SECTION__KEY with one key between each `__`, got an empty part",
        ));
    }
    let (last, inner) = parts.split_last().expect("split yields at least one part");
    let mut path = String::new();
    let mut here: &mut toml::Value = {
        let first = &parts[0];
        if inner.is_empty() {
            let old = root.get(first);
            let v = env_value(old, first, value).map_err(|e| cfg_err(at(), e))?;
            root.insert(first.clone(), v);
            return Ok(());
        }
        path.push_str(first);
        root.entry(first.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
    };
    // The last part is set below, from its container.
    for part in inner.iter().skip(1) {
        here = step(here, part, &mut path).map_err(|e| cfg_err(at(), e))?;
    }
    match here {
        toml::Value::Table(t) => {
            let v = env_value(t.get(last.as_str()), last, value).map_err(|e| cfg_err(at(), e))?;
            t.insert(last.clone(), v);
        }
        toml::Value::Array(items) => {
            let i = index(last, items.len(), &path).map_err(|e| cfg_err(at(), e))?;
            let v = env_value(Some(&items[i]), last, value).map_err(|e| cfg_err(at(), e))?;
            items[i] = v;
        }
        _ => {
            return Err(cfg_err(
                at(),
                format!("expected {path} to be a table or a list, got a single value"),
            ));
        }
    }
    Ok(())
}

/// The child `part` of `here` (a table's key, created when missing, or a
/// list's entry, which must exist).
fn step<'a>(
    here: &'a mut toml::Value,
    part: &str,
    path: &mut String,
) -> Result<&'a mut toml::Value, String> {
    match here {
        toml::Value::Table(t) => {
            if part.bytes().all(|b| b.is_ascii_digit()) && !t.contains_key(part) {
                return Err(format!(
                    "expected {path} to be a list in the file (an index such as {part} selects an entry the file has), got {}",
                    if t.is_empty() { "none" } else { "a table" }
                ));
            }
            let _ = write!(path, ".{part}");
            Ok(t.entry(part.to_owned())
                .or_insert_with(|| toml::Value::Table(toml::Table::new())))
        }
        toml::Value::Array(items) => {
            let i = index(part, items.len(), path)?;
            let _ = write!(path, "[{i}]");
            Ok(&mut items[i])
        }
        _ => Err(format!(
            "expected {path} to be a table or a list, got a single value"
        )),
    }
}

fn index(part: &str, len: usize, path: &str) -> Result<usize, String> {
    match part.parse::<usize>() {
        Ok(i) if i < len => Ok(i),
        Ok(i) => Err(format!(
            "expected an index below {len} ({path} has {len} entries in the file; an override changes an entry, add new ones to the file), got {i}"
        )),
        Err(_) => Err(format!(
            "expected an index of {path} (0..{len}), got {part:?}"
        )),
    }
}

/// The value of an override of `key` whose file value is `old`: a list
/// where a list belongs, else of the file value's type (a string stays a
/// string), else a boolean, integer or float when it reads as one.
fn env_value(old: Option<&toml::Value>, key: &str, raw: &str) -> Result<toml::Value, String> {
    let is_list =
        matches!(old, Some(toml::Value::Array(_))) || (old.is_none() && LIST_KEYS.contains(&key));
    if is_list {
        return env_list(raw);
    }
    if matches!(old, Some(toml::Value::Table(_))) || raw.trim_start().starts_with('{') {
        let json: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| format!("expected a JSON object such as {{\"env\": \"NAME\"}}, got one that does not parse ({e})"))?;
        return json_to_toml(&json);
    }
    if matches!(old, Some(toml::Value::String(_))) {
        return Ok(toml::Value::String(raw.to_owned()));
    }
    Ok(match raw {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => {
            if let Ok(i) = raw.parse::<i64>() {
                toml::Value::Integer(i)
            } else if raw.bytes().any(|b| b.is_ascii_digit())
                && let Ok(f) = raw.parse::<f64>()
            {
                toml::Value::Float(f)
            } else {
                toml::Value::String(raw.to_owned())
            }
        }
    })
}

fn env_list(raw: &str) -> Result<toml::Value, String> {
    let t = raw.trim();
    if t.starts_with('[') {
        let json: serde_json::Value = serde_json::from_str(t).map_err(|e| {
            format!("expected a JSON array such as [\"https://a\", {{\"env\": \"B\"}}], got one that does not parse ({e})")
        })?;
        return json_to_toml(&json);
    }
    let items: Vec<&str> = t.split(',').map(str::trim).collect();
    if t.is_empty() || items.iter().any(|s| s.is_empty()) {
        return Err(format!(
            "expected a comma-separated list of values or a JSON array, got {} items with an empty one",
            items.len()
        ));
    }
    Ok(toml::Value::Array(
        items
            .into_iter()
            .map(|s| toml::Value::String(s.to_owned()))
            .collect(),
    ))
}

fn json_to_toml(v: &serde_json::Value) -> Result<toml::Value, String> {
    use serde_json::Value as J;
    Ok(match v {
        J::Null => return Err("expected values, got null".into()),
        J::Bool(b) => toml::Value::Boolean(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => toml::Value::String(s.clone()),
        J::Array(a) => toml::Value::Array(a.iter().map(json_to_toml).collect::<Result<_, _>>()?),
        J::Object(o) => toml::Value::Table(
            o.iter()
                .map(|(k, v)| Ok((k.clone(), json_to_toml(v)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

/// Replaces every endpoint URL given as `{ env = "NAME" }` or
/// `{ file = "/path" }` by the URL it names; returns where each came from.
pub(super) fn resolve_endpoints(root: &mut toml::Table) -> Result<Vec<ResolvedRef>, ConfigError> {
    let mut found = Vec::new();
    if let Some(toml::Value::Table(redis)) = root.get_mut("redis") {
        if let Some(v) = redis.get_mut("url") {
            resolve_one(v, "redis.url", &mut found)?;
        }
        each(redis, "cluster_nodes", "redis.cluster_nodes", &mut found)?;
    }
    if let Some(toml::Value::Array(entries)) = root.get_mut("attesters") {
        for (i, entry) in entries.iter_mut().enumerate() {
            if let toml::Value::Table(entry) = entry
                && let Some(v) = entry.get_mut("url")
            {
                resolve_one(v, &format!("attesters[{i}].url"), &mut found)?;
            }
        }
    }
    for list in ["chains", "cometbft_origins"] {
        let Some(toml::Value::Array(entries)) = root.get_mut(list) else {
            continue;
        };
        for (i, entry) in entries.iter_mut().enumerate() {
            let toml::Value::Table(entry) = entry else {
                continue;
            };
            each(
                entry,
                "rpc_urls",
                &format!("{list}[{i}].rpc_urls"),
                &mut found,
            )?;
            if let Some(toml::Value::Table(b)) = entry.get_mut("beacon") {
                each(b, "urls", &format!("{list}[{i}].beacon.urls"), &mut found)?;
            }
        }
    }
    Ok(found)
}

/// Resolves each entry of the list `table[key]` (at `path`).
fn each(
    table: &mut toml::Table,
    key: &str,
    path: &str,
    found: &mut Vec<ResolvedRef>,
) -> Result<(), ConfigError> {
    if let Some(toml::Value::Array(items)) = table.get_mut(key) {
        for (k, v) in items.iter_mut().enumerate() {
            resolve_one(v, &format!("{path}[{k}]"), found)?;
        }
    }
    Ok(())
}

fn resolve_one(
    v: &mut toml::Value,
    path: &str,
    found: &mut Vec<ResolvedRef>,
) -> Result<(), ConfigError> {
    let toml::Value::Table(t) = v else {
        return Ok(());
    };
    let shape = || {
        cfg_err(
            path,
            format!(
                "expected a URL, {{ env = \"NAME\" }} or {{ file = \"/path\" }}, got a table with keys {:?}",
                t.keys().collect::<Vec<_>>()
            ),
        )
    };
    let text = |k: &str| match t.get(k) {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(shape()),
    };
    if t.keys().any(|k| k != "env" && k != "file") {
        return Err(shape());
    }
    let r = SecretRef {
        env: text("env")?,
        file: text("file")?.map(Into::into),
    };
    let url = r.resolve(path)?;
    let source = match (&r.env, &r.file) {
        (Some(e), _) => format!("env {e}"),
        (_, Some(f)) => format!("file {}", f.display()),
        _ => unreachable!("resolve() accepts exactly one source"),
    };
    found.push(ResolvedRef {
        path: path.to_owned(),
        source,
    });
    *v = toml::Value::String(url.expose().to_owned());
    Ok(())
}

/// Fixed-size hex values and their size in bytes. CometBFT's
/// `trusted_hash` is not here: CometBFT prints hashes without `0x`.
const HEX_KEYS: &[(&str, usize)] = &[
    ("mailbox", 20),
    ("inbox", 20),
    ("hash", 32),
    ("trusted_root", 32),
    ("genesis_validators_root", 32),
    ("version", 4),
    ("dispute_game_factory", 20),
    ("l2_output_oracle", 20),
    ("anchor_state_registry", 20),
    ("rollup", 20),
];

/// Checks every hex value of [`HEX_KEYS`] in the tree: `0x` and exactly
/// twice its size in hex digits, said as expected against got.
pub(super) fn check_hex(path: &str, v: &toml::Value) -> Result<(), ConfigError> {
    match v {
        toml::Value::Table(t) => t.iter().try_for_each(|(k, x)| {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            if let (Some((_, n)), toml::Value::String(s)) =
                (HEX_KEYS.iter().find(|(name, _)| name == k), x)
            {
                return hex_value(s, *n).map_err(|e| cfg_err(p, e));
            }
            check_hex(&p, x)
        }),
        toml::Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, x)| check_hex(&format!("{path}[{i}]"), x)),
        _ => Ok(()),
    }
}

/// `s` as `n` bytes of `0x`-prefixed hex, or what is wrong with it.
pub(crate) fn hex_value(s: &str, n: usize) -> Result<(), String> {
    let expected = format!("expected {n} bytes as 0x + {} hex digits", 2 * n);
    let Some(digits) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) else {
        return Err(format!("{expected}, got no 0x prefix"));
    };
    if let Some((at, c)) = digits.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(format!(
            "{expected}, got the non-hex character {c:?} at digit {}",
            at + 1
        ));
    }
    if digits.len() != 2 * n {
        return Err(format!("{expected}, got {} hex digits", digits.len()));
    }
    Ok(())
}

/// The `config` crate's value tree of a TOML tree (its deserializer
/// converts as the hub has always read its configuration).
pub(super) fn to_config_value(v: toml::Value) -> config::Value {
    use config::ValueKind as K;
    let kind = match v {
        toml::Value::String(s) => K::String(s),
        toml::Value::Integer(i) => K::I64(i),
        toml::Value::Float(f) => K::Float(f),
        toml::Value::Boolean(b) => K::Boolean(b),
        toml::Value::Datetime(d) => K::String(d.to_string()),
        toml::Value::Array(a) => K::Array(a.into_iter().map(to_config_value).collect()),
        toml::Value::Table(t) => K::Table(
            t.into_iter()
                .map(|(k, v)| (k, to_config_value(v)))
                .collect(),
        ),
    };
    config::Value::new(None, kind)
}

/// A serde path with its dots: `chains[0].beacon.trusted_root`.
pub(super) fn dotted(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for s in path.iter() {
        match s {
            Segment::Seq { index } => {
                let _ = write!(out, "[{index}]");
            }
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push('?');
            }
        }
    }
    if out.is_empty() { "<root>".into() } else { out }
}

/// The values of the configuration's enums, by type name, for messages
/// that say what is allowed.
fn enum_values(name: &str) -> Option<Vec<String>> {
    use schemars::JsonSchema;
    fn values<T: JsonSchema>() -> Vec<String> {
        let s = schemars::SchemaGenerator::default().into_root_schema_for::<T>();
        let v = s.to_value();
        let direct = v.get("enum").and_then(|e| e.as_array()).map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        });
        direct.unwrap_or_else(|| {
            v.get("oneOf")
                .and_then(|o| o.as_array())
                .map(|alts| {
                    alts.iter()
                        .filter_map(|a| a.get("const").and_then(|c| c.as_str()).map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        })
    }
    Some(match name {
        "Role" => values::<super::Role>(),
        "RoutePolicy" => values::<super::RoutePolicy>(),
        "HeaderTrust" => values::<super::HeaderTrust>(),
        "LogFormat" => values::<super::LogFormat>(),
        _ => return None,
    })
}

/// A deserialization message made plain: an unknown enum value names the
/// allowed ones.
pub(super) fn plain_reason(mut reason: String) -> String {
    // The `config` crate appends its own spelling of the path
    // (`for key `chains[0]beacon.x``): the error carries the dotted one.
    if let Some(at) = reason.rfind(" for key `") {
        reason.truncate(at);
    }
    const MARK: &str = " does not have variant constructor ";
    if let Some(rest) = reason.strip_prefix("enum ")
        && let Some((name, got)) = rest.split_once(MARK)
        && let Some(allowed) = enum_values(name)
    {
        return format!("expected one of {}, got {got:?}", allowed.join(", "));
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> toml::Table {
        text.parse().expect("toml")
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn list_overrides_read_comma_separated_or_json_and_index_entries() {
        let mut t = tree(
            "[redis]\nurl = \"redis://a\"\n[[chains]]\nname = \"a\"\nrpc_urls = [\"http://x\"]\nchain_id = 1\n",
        );
        apply_env(
            &mut t,
            env(&[
                (
                    "SWITCHYARD__CHAINS__0__RPC_URLS",
                    "https://p/1, https://q/2",
                ),
                (
                    "SWITCHYARD__REDIS__CLUSTER_NODES",
                    r#"["redis://n1", {"env": "N2"}]"#,
                ),
                ("SWITCHYARD__CHAINS__0__CHAIN_ID", "5"),
                ("SWITCHYARD__CHAINS__0__NAME", "7"),
                ("OTHER", "x"),
            ]),
        )
        .expect("applies");
        let c = &t["chains"][0];
        assert_eq!(
            c["rpc_urls"],
            toml::Value::Array(vec!["https://p/1".into(), "https://q/2".into()])
        );
        assert_eq!(c["chain_id"], toml::Value::Integer(5));
        assert_eq!(c["name"], toml::Value::String("7".into()), "stays a string");
        assert_eq!(t["redis"]["cluster_nodes"][1]["env"], "N2".into());
    }

    #[test]
    fn overrides_that_cannot_apply_say_how_instead() {
        for (name, value, says) in [
            (
                "SWITCHYARD__CHAINS__3__RPC_URLS",
                "https://x",
                "expected an index below 1 (chains has 1 entries in the file; an override changes an entry, add new ones to the file), got 3",
            ),
            (
                "SWITCHYARD__ROUTE_GROUPS__0__NAME",
                "g",
                "expected route_groups to be a list in the file",
            ),
            (
                "SWITCHYARD__CHAINS__0__RPC_URLS",
                "https://x,,https://y",
                "expected a comma-separated list of values or a JSON array, got 3 items with an empty one",
            ),
            (
                "SWITCHYARD__CHAINS__0__RPC_URLS",
                "[\"a\"",
                "expected a JSON array",
            ),
            ("SWITCHYARD__CHAINS____X", "1", "got an empty part"),
        ] {
            let mut t = tree("[[chains]]\nname = \"a\"\nrpc_urls = [\"http://x\"]\n");
            let err = apply_env(&mut t, env(&[(name, value)])).expect_err(name);
            assert_eq!(err.path, format!("environment variable {name}"));
            assert!(err.reason.contains(says), "{name}: {err}");
        }
    }

    #[test]
    fn endpoint_references_resolve_and_name_their_source_not_the_value() {
        let dir = tempfile::tempdir().expect("dir");
        let f = dir.path().join("url");
        std::fs::write(&f, "https://rpc.example/v2/SECRET\n").expect("write");
        let text = format!(
            "[redis]\nurl = {{ file = {f:?} }}\n[[chains]]\nrpc_urls = [\"http://plain\", {{ file = {f:?} }}]\n[chains.beacon]\nurls = [{{ env = \"SY_TEST_UNSET_BEACON_URL\" }}]\n"
        );
        let mut t = tree(&text);
        let err = resolve_endpoints(&mut t).expect_err("unset variable");
        assert_eq!(err.path, "chains[0].beacon.urls[0]");
        assert_eq!(
            err.reason,
            "environment variable SY_TEST_UNSET_BEACON_URL is not set"
        );
        let mut t = tree(&text);
        t["chains"][0]["beacon"]["urls"] = toml::Value::Array(vec![]);
        let found = resolve_endpoints(&mut t).expect("resolves");
        assert_eq!(t["redis"]["url"], "https://rpc.example/v2/SECRET".into());
        assert_eq!(
            t["chains"][0]["rpc_urls"][1],
            "https://rpc.example/v2/SECRET".into()
        );
        assert_eq!(
            found.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(),
            ["redis.url", "chains[0].rpc_urls[1]"]
        );
        assert!(found.iter().all(|r| !format!("{r:?}").contains("SECRET")));
        let mut bad = tree("[redis]\nurl = { env = \"A\", path = \"b\" }\n");
        let err = resolve_endpoints(&mut bad).expect_err("odd table");
        assert_eq!(err.path, "redis.url");
        assert!(
            err.reason.starts_with(
                "expected a URL, { env = \"NAME\" } or { file = \"/path\" }, got a table with keys"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_former_key_name_draws_a_warning_naming_the_current_one() {
        let t = tree("[[chains]]\nname = \"a\"\n[[chains]]\nfee_bump_percent = 150\n");
        let w = former_names(&t);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].path, "chains[1].fee_bump_percent");
        assert!(
            w[0].reason
                .starts_with("expected replacement_fee_percent (the same meaning")
                && w[0]
                    .reason
                    .ends_with("got the former name fee_bump_percent"),
            "{}",
            w[0]
        );
        assert!(former_names(&tree("[[chains]]\nreplacement_fee_percent = 150\n")).is_empty());
    }

    #[test]
    fn hex_values_need_0x_and_their_length() {
        assert_eq!(
            hex_value(&format!("0x{}", "a".repeat(63)), 32),
            Err("expected 32 bytes as 0x + 64 hex digits, got 63 hex digits".into())
        );
        assert_eq!(
            hex_value(&"a".repeat(40), 20),
            Err("expected 20 bytes as 0x + 40 hex digits, got no 0x prefix".into())
        );
        assert_eq!(
            hex_value("0x1000003g", 4),
            Err(
                "expected 4 bytes as 0x + 8 hex digits, got the non-hex character 'g' at digit 8"
                    .into()
            )
        );
        assert_eq!(hex_value("0x10000038", 4), Ok(()));
    }
}
