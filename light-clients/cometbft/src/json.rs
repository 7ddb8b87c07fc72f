//! Operator-facing JSON: CometBFT RPC results (`/commit`, `/validators`,
//! with or without the JSON-RPC envelope) and tendermint-rs LightBlock
//! JSON (the light-client vectors' and the persisted trusted state's
//! format). Errors say what was read, where in it, and expected vs got.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use tendermint::block::signed_header::SignedHeader;
use tendermint::validator::{Info, Set};
use tendermint::{account, node};
use tendermint_light_client_verifier::types::LightBlock;

use crate::error::{Error, Result};

fn parse_value(what: &'static str, json: &str) -> Result<serde_json::Value> {
    let value = serde_json::from_str(json)
        .map_err(|e| Error::decode(what, format!("line {} column {}", e.line(), e.column()), e))?;
    refuse_panicking_base64(what, &value, &mut String::new())?;
    Ok(value)
}

/// Whether subtle-encoding's base64 decoder, which tendermint decodes keys
/// and signatures with, would panic on `s` or decode it wrongly. It reads
/// 4-character groups while more than 4 characters remain (invalid
/// characters only set an error flag), then the last group up to its first
/// `=`:
/// - a last group that *starts* with `=` (`"="`, `"AAAA=A"`, `"A?AA="`)
///   underflows an index (`i - 1` with `i == 0`): a panic, in release
///   builds too;
/// - an `=` inside the last group (`"AB=C"`) makes the decoded length
///   differ from the buffer sized by `decoded_len` (which counts only
///   trailing `=`): a `debug_assert` panic, and in release the value comes
///   back with trailing zero bytes.
///
/// Neither is valid base64. Strings without `=`, and correctly padded
/// base64, are never flagged; no hash, number, time or chain id of these
/// results has an `=` in its last four characters other than as padding.
fn base64_misdecodes(s: &str) -> bool {
    let b = s.as_bytes();
    let len = b.len();
    if len == 0 {
        return false;
    }
    // `decoded_len`: trailing `=` after the first character are padding.
    let pad = b[1..].iter().rev().take_while(|c| **c == b'=').count();
    let expected = (len - pad) * 3 / 4;
    // `decode_to_slice`: full groups, then the last one up to its first `=`.
    let tail = (len - 1) % 4 + 1;
    let Some(first_pad) = b[len - tail..]
        .iter()
        .position(|c| *c == b'=')
        .or(Some(tail))
        .filter(|i| *i > 0)
    else {
        return true;
    };
    expected != 3 * ((len - tail) / 4) + first_pad - 1
}

/// Refuses, with its path, any string of the input that would panic
/// tendermint's base64 decoding (see [`base64_misdecodes`]), before serde
/// hands it over: an RPC endpoint or a file must not be able to crash the
/// hub. Found by the `cometbft_json` fuzz target.
fn refuse_panicking_base64(
    what: &'static str,
    v: &serde_json::Value,
    path: &mut String,
) -> Result<()> {
    match v {
        serde_json::Value::String(s) if base64_misdecodes(s) => Err(Error::decode(
            what,
            if path.is_empty() {
                ".".to_owned()
            } else {
                path.clone()
            },
            format!("expected base64, got {s:?} (`=` inside its last group)"),
        )),
        serde_json::Value::Array(items) => items.iter().enumerate().try_for_each(|(i, item)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let r = refuse_panicking_base64(what, item, path);
            path.truncate(len);
            r
        }),
        serde_json::Value::Object(map) => map.iter().try_for_each(|(k, item)| {
            let len = path.len();
            path.push('.');
            path.push_str(k);
            let r = refuse_panicking_base64(what, item, path);
            path.truncate(len);
            r
        }),
        _ => Ok(()),
    }
}

fn from_value<T: DeserializeOwned>(what: &'static str, value: serde_json::Value) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        Error::decode(what, path, e.into_inner())
    })
}

/// Strips the JSON-RPC envelope when there is one: `result` is returned,
/// an `error` member becomes the error.
fn unwrap_envelope(what: &'static str, value: serde_json::Value) -> Result<serde_json::Value> {
    let serde_json::Value::Object(mut map) = value else {
        return Err(Error::decode(
            what,
            ".",
            format!("expected a JSON object, got {}", kind_of(&value)),
        ));
    };
    if !map.contains_key("jsonrpc") {
        return Ok(serde_json::Value::Object(map));
    }
    if let Some(err) = map.remove("error") {
        return Err(Error::decode(
            what,
            ".error",
            format!("the node answered with an error: {err}"),
        ));
    }
    map.remove("result")
        .ok_or_else(|| Error::decode(what, ".", "JSON-RPC envelope without `result` or `error`"))
}

fn kind_of(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Parses an RPC result, enveloped or not.
pub fn rpc_result<T: DeserializeOwned>(what: &'static str, json: &str) -> Result<T> {
    let value = unwrap_envelope(what, parse_value(what, json)?)?;
    from_value(what, value)
}

/// The `/commit` result.
#[derive(Debug, Clone, Deserialize)]
pub struct CommitResult {
    /// Header and commit.
    pub signed_header: SignedHeader,
    /// Whether the commit is the canonical one (false for the latest
    /// height, whose commit may still gain signatures).
    #[serde(default)]
    pub canonical: bool,
}

/// One page of the `/validators` result.
#[derive(Debug, Clone, Deserialize)]
pub struct ValidatorsPage {
    /// Height the set is for.
    #[serde(with = "tendermint::serializers::from_str")]
    pub block_height: u64,
    /// Validators on this page.
    pub validators: Vec<Info>,
    /// Validators on this page.
    #[serde(with = "tendermint::serializers::from_str")]
    pub count: u64,
    /// Validators in the whole set.
    #[serde(with = "tendermint::serializers::from_str")]
    pub total: u64,
}

/// Parses a `/commit` result (enveloped or not).
pub fn commit_from_rpc(json: &str) -> Result<CommitResult> {
    rpc_result("/commit result", json)
}

/// Parses one `/validators` page (enveloped or not).
pub fn validators_from_rpc(json: &str) -> Result<ValidatorsPage> {
    rpc_result("/validators result", json)
}

/// One block as an operator may hand it over: tendermint-rs LightBlock
/// JSON, or an RPC bundle `{"commit": <'/commit' result>, "validators":
/// <'/validators' result, or an array of its pages>, "next_validators":
/// <same, optional>}` (each result with or without the JSON-RPC envelope).
pub fn light_block_auto(json: &str) -> Result<LightBlock> {
    block_from_value(parse_value("light block", json)?, "")
}

/// One block or a JSON array of blocks, each as [`light_block_auto`]
/// reads it.
pub fn light_blocks_auto(json: &str) -> Result<Vec<LightBlock>> {
    match parse_value("light blocks", json)? {
        serde_json::Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| block_from_value(v, &format!("[{i}]")))
            .collect(),
        other => Ok(vec![block_from_value(other, "")?]),
    }
}

fn at(prefix: &str, e: Error) -> Error {
    match e {
        Error::Decode { what, path, reason } if !prefix.is_empty() => Error::Decode {
            what,
            path: match path.trim_start_matches('.') {
                "" => prefix.to_owned(),
                rest if rest.starts_with('[') => format!("{prefix}{rest}"),
                rest => format!("{prefix}.{rest}"),
            },
            reason,
        },
        other => other,
    }
}

fn pages_from_value(what: &'static str, v: serde_json::Value) -> Result<Vec<ValidatorsPage>> {
    let items = match v {
        serde_json::Value::Array(items) => items,
        other => vec![other],
    };
    items
        .into_iter()
        .map(|p| from_value(what, unwrap_envelope(what, p)?))
        .collect()
}

fn block_from_value(v: serde_json::Value, prefix: &str) -> Result<LightBlock> {
    let serde_json::Value::Object(mut map) = v else {
        return Err(at(
            prefix,
            Error::decode(
                "light block",
                ".",
                format!("expected a JSON object, got {}", kind_of(&v)),
            ),
        ));
    };
    if map.contains_key("signed_header") {
        return from_value("LightBlock", serde_json::Value::Object(map)).map_err(|e| at(prefix, e));
    }
    let (Some(commit), Some(vals)) = (map.remove("commit"), map.remove("validators")) else {
        return Err(at(
            prefix,
            Error::decode(
                "light block",
                ".",
                "expected tendermint-rs LightBlock JSON (`signed_header`, `validator_set`, ...) or an RPC bundle (`commit`, `validators`, optional `next_validators`)",
            ),
        ));
    };
    let build = || -> Result<LightBlock> {
        let commit: CommitResult =
            from_value("/commit result", unwrap_envelope("/commit result", commit)?)
                .map_err(|e| at(".commit", e))?;
        let vals =
            pages_from_value("/validators result", vals).map_err(|e| at(".validators", e))?;
        let next = map
            .remove("next_validators")
            .map(|n| pages_from_value("next /validators result", n))
            .transpose()
            .map_err(|e| at(".next_validators", e))?;
        light_block_from_parts(commit, &vals, next.as_deref())
    };
    build().map_err(|e| at(prefix, e))
}

/// Parses tendermint-rs LightBlock JSON (`signed_header`, `validator_set`,
/// `next_validator_set`, `provider`).
pub fn light_block_from_json(json: &str) -> Result<LightBlock> {
    let value = parse_value("LightBlock", json)?;
    from_value("LightBlock", value)
}

/// A validator set from RPC entries, checked the way the protobuf decoder
/// would: every address is the hash of its key (the tally counts power by
/// address), and the total power is within CometBFT's bound.
pub fn validator_set(what: &'static str, validators: Vec<Info>) -> Result<Set> {
    let mut total: u64 = 0;
    for (i, v) in validators.iter().enumerate() {
        let derived = account::Id::from(v.pub_key);
        if derived != v.address {
            return Err(Error::decode(
                what,
                format!(".validators[{i}].address"),
                format!("expected {derived} (the key's address), got {}", v.address),
            ));
        }
        total = total.saturating_add(v.power());
    }
    if total > Set::MAX_TOTAL_VOTING_POWER {
        return Err(Error::decode(
            what,
            ".validators",
            format!(
                "expected total voting power at most {}, got {total}",
                Set::MAX_TOTAL_VOTING_POWER
            ),
        ));
    }
    Ok(Set::without_proposer(validators))
}

fn whole_set(what: &'static str, height: u64, pages: &[ValidatorsPage]) -> Result<Set> {
    let mut all = Vec::new();
    let total = pages.first().map_or(0, |p| p.total);
    for (i, page) in pages.iter().enumerate() {
        if page.block_height != height {
            return Err(Error::decode(
                what,
                format!("page {i}: .block_height"),
                format!("expected {height}, got {}", page.block_height),
            ));
        }
        if page.total != total || page.count != page.validators.len() as u64 {
            return Err(Error::decode(
                what,
                format!("page {i}"),
                format!(
                    "inconsistent page: total {} (first page {total}), count {} for {} entries",
                    page.total,
                    page.count,
                    page.validators.len()
                ),
            ));
        }
        all.extend(page.validators.iter().cloned());
    }
    if all.len() as u64 != total {
        return Err(Error::decode(
            what,
            ".",
            format!(
                "expected all {total} validators, got {} (fetch every page with per_page up to 100)",
                all.len()
            ),
        ));
    }
    validator_set(what, all)
}

/// A LightBlock from RPC results: the `/commit` at height `h`, every page
/// of `/validators?height=h`, and of `/validators?height=h+1` when the
/// header changes the set. Without the next set, the header must say the
/// set does not change (`next_validators_hash == validators_hash`).
pub fn light_block_from_parts(
    commit: CommitResult,
    validators: &[ValidatorsPage],
    next_validators: Option<&[ValidatorsPage]>,
) -> Result<LightBlock> {
    let header = &commit.signed_header.header;
    let height = header.height.value();
    let vals = whole_set("/validators result", height, validators)?;
    let next = match next_validators {
        Some(pages) => whole_set("next /validators result", height + 1, pages)?,
        None if header.next_validators_hash == header.validators_hash => vals.clone(),
        None => {
            return Err(Error::decode(
                "next validator set",
                ".",
                format!(
                    "header {height} changes the validator set (validators_hash {}, next_validators_hash {}): pass /validators?height={}",
                    header.validators_hash,
                    header.next_validators_hash,
                    height + 1
                ),
            ));
        }
    };
    Ok(LightBlock::new(
        commit.signed_header,
        vals,
        next,
        node::Id::new([0; 20]),
    ))
}

/// A LightBlock from RPC JSON texts (each enveloped or not): `/commit`,
/// one `/validators` result, and optionally the next height's.
pub fn light_block_from_rpc(
    commit: &str,
    validators: &str,
    next_validators: Option<&str>,
) -> Result<LightBlock> {
    let commit = commit_from_rpc(commit)?;
    let vals = [validators_from_rpc(validators)?];
    let next = next_validators.map(validators_from_rpc).transpose()?;
    light_block_from_parts(commit, &vals, next.as_ref().map(std::slice::from_ref))
}

/// The `/commit` result CometBFT serves for `block` (for test servers and
/// for exporting a block to operators' tools).
pub fn commit_to_rpc(block: &LightBlock) -> serde_json::Value {
    serde_json::json!({
        "signed_header": block.signed_header,
        "canonical": true,
    })
}

/// Page `page` (1-based) of the `/validators` result CometBFT serves for
/// `set` at `height`, `per_page` entries a page.
pub fn validators_to_rpc(
    height: u64,
    set: &Set,
    page: usize,
    per_page: usize,
) -> serde_json::Value {
    let all = set.validators();
    let per_page = per_page.max(1);
    let start = page
        .saturating_sub(1)
        .saturating_mul(per_page)
        .min(all.len());
    let end = (start + per_page).min(all.len());
    let entries: Vec<serde_json::Value> = all[start..end]
        .iter()
        .map(|v| {
            serde_json::json!({
                "address": v.address,
                "pub_key": v.pub_key,
                "voting_power": v.power.to_string(),
                "proposer_priority": v.proposer_priority.value().to_string(),
            })
        })
        .collect();
    serde_json::json!({
        "block_height": height.to_string(),
        "validators": entries,
        "count": (end - start).to_string(),
        "total": all.len().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_that_subtle_encoding_misdecodes_is_spotted() {
        for bad in [
            "=",
            "==",
            "====",
            "AAAA=",
            "AAAA=AAA",
            "AAAAAAAA=A",
            "A?AA=",
            "ab c=?",
            "=AAA=",
            "AB=C",
            "AAAAA=B",
        ] {
            assert!(base64_misdecodes(bad), "{bad}");
        }
        for fine in [
            "",
            "AAAA",
            "AA==",
            "AAA=",
            "AAAAAA==",
            "cosmoshub-4",
            "a=b c",
            "0x12",
            "AAAAA",
            "AAA",
        ] {
            assert!(!base64_misdecodes(fine), "{fine}");
        }
    }

    /// Regression (fuzz target `cometbft_json`): a validator key or a
    /// signature `"="` panicked inside subtle-encoding (index underflow);
    /// every reader now answers a decode error with the path.
    #[test]
    fn a_base64_value_starting_with_padding_is_an_error_not_a_panic() {
        let page = r#"{"jsonrpc":"2.0","id":1,"result":{"block_height":"5","validators":[
            {"address":"0000000000000000000000000000000000000000",
             "pub_key":{"type":"tendermint/PubKeyEd25519","value":"="},
             "voting_power":"1","proposer_priority":"0"}],"count":"1","total":"1"}}"#;
        let err = validators_from_rpc(page).expect_err("refused");
        let Error::Decode { path, reason, .. } = &err else {
            panic!("expected a decode error, got {err}");
        };
        assert_eq!(path, ".result.validators[0].pub_key.value");
        assert!(reason.contains("base64"), "{reason}");
        let block = r#"{"signed_header":{"header":{},"commit":{"signatures":[
            {"block_id_flag":2,"validator_address":"00","timestamp":"2020-01-01T00:00:00Z",
             "signature":"AAAA=A"}]}},"validator_set":{},"next_validator_set":{}}"#;
        assert!(light_block_from_json(block).is_err());
        assert!(light_block_auto(block).is_err());
        assert!(light_blocks_auto(&format!("[{block}]")).is_err());
        assert!(
            commit_from_rpc(r#"{"signed_header":{"commit":{"signatures":[{"signature":"="}]}}}"#)
                .is_err()
        );
    }
}
