//! `switchyard status <id>`: a message's journey from a hub's status API.

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::Value;

use std::process::ExitCode;

use super::exit::Exit;
use crate::input::InputError;
use crate::journal::parse_b256;

/// Why the question could not be asked: nothing is known of the message
/// (exit status [`Exit::Usage`] for a malformed id, [`Exit::Unavailable`]
/// for a hub that cannot be asked).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatusCliError {
    /// A malformed id or hash.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The hub could not be asked, or answered with an error or something
    /// that is not the status API's.
    #[error("GET {url}: {reason}")]
    Hub {
        /// The request.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The HTTP client cannot be built.
    #[error("http client: {0}")]
    Client(String),
    /// The answer cannot be written out.
    #[error("writing the answer: {0}")]
    Write(#[from] std::io::Error),
}

fn hub_err(url: &str, reason: impl std::fmt::Display) -> StatusCliError {
    StatusCliError::Hub {
        url: url.to_owned(),
        reason: reason.to_string(),
    }
}

/// A message by id, or the messages of a transaction.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// Message id.
    Id(String),
    /// An origin (dispatch) or destination (delivery) transaction hash.
    Tx(String),
}

/// What to ask.
#[derive(Debug, Clone)]
pub struct StatusArgs {
    /// Hub base URL, e.g. `http://127.0.0.1:9464`.
    pub hub: String,
    /// What to look up.
    pub query: Lookup,
    /// Wait up to this long for a final stage (delivered, failed,
    /// dead-lettered); an unknown message is waited for too.
    pub wait: Option<Duration>,
    /// Print the API's JSON instead of the table.
    pub json: bool,
}

fn is_final(status: &str) -> bool {
    matches!(status, "delivered" | "failed" | "dead_lettered")
}

/// Runs the command; returns the exit status ([`Exit::Ok`] found, or
/// delivered with a wait; [`Exit::No`] failed or dead-lettered;
/// [`Exit::NotFound`] unknown to the hub; [`Exit::Timeout`] the wait ran
/// out), or an error to print (bad id, hub unreachable).
pub async fn run(args: &StatusArgs, out: &mut impl Write) -> Result<Exit, StatusCliError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| StatusCliError::Client(e.to_string()))?;
    let deadline = args.wait.map(|w| Instant::now() + w);
    let (what, messages) = loop {
        let (what, found) = match &args.query {
            Lookup::Id(id) => {
                parse_b256("message id", id)?;
                let found = fetch_status(&client, &args.hub, id).await?;
                (
                    format!("message {id}"),
                    found.into_iter().collect::<Vec<_>>(),
                )
            }
            Lookup::Tx(tx) => {
                parse_b256("transaction hash", tx)?;
                (
                    format!("transaction {tx}"),
                    fetch_by_tx(&client, &args.hub, tx).await?,
                )
            }
        };
        let all_final = !found.is_empty()
            && found
                .iter()
                .all(|v| is_final(v["status"].as_str().unwrap_or("")));
        if !all_final && deadline.is_some_and(|d| Instant::now() < d) {
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        }
        break (what, found);
    };
    if messages.is_empty() {
        writeln!(
            out,
            "{what}: no message known to the hub at {} (not seen yet, or older than its status.retention_secs)",
            args.hub
        )?;
        return Ok(if args.wait.is_some() {
            Exit::Timeout
        } else {
            Exit::NotFound
        });
    }
    for (i, v) in messages.iter().enumerate() {
        if args.json {
            writeln!(out, "{v}")?;
        } else {
            if i > 0 {
                writeln!(out)?;
            }
            write!(out, "{}", render(v))?;
        }
    }
    let statuses: Vec<&str> = messages
        .iter()
        .map(|v| v["status"].as_str().unwrap_or(""))
        .collect();
    Ok(
        if statuses
            .iter()
            .any(|s| matches!(*s, "failed" | "dead_lettered"))
        {
            Exit::No
        } else if args.wait.is_some() && !statuses.iter().all(|s| is_final(s)) {
            Exit::Timeout
        } else {
            Exit::Ok
        },
    )
}

/// `GET url`: the status and the JSON answer; an error names the URL.
async fn get_json(
    client: &reqwest::Client,
    url: &str,
) -> Result<(reqwest::StatusCode, Value), StatusCliError> {
    let r = client.get(url).send().await.map_err(|e| hub_err(url, e))?;
    let status = r.status();
    let body = r
        .json()
        .await
        .map_err(|e| hub_err(url, format!("answer is not JSON: {e}")))?;
    Ok((status, body))
}

fn refused(url: &str, status: reqwest::StatusCode, body: &Value) -> StatusCliError {
    hub_err(
        url,
        format!("{status}: {}", body["error"].as_str().unwrap_or("")),
    )
}

/// `GET /v1/messages/{id}`; `None` when the hub does not know the message.
async fn fetch_status(
    client: &reqwest::Client,
    base: &str,
    id: &str,
) -> Result<Option<Value>, StatusCliError> {
    let url = format!("{}/v1/messages/{id}", base.trim_end_matches('/'));
    match get_json(client, &url).await? {
        (s, body) if s.is_success() => Ok(Some(body)),
        (reqwest::StatusCode::NOT_FOUND, _) => Ok(None),
        (s, body) => Err(refused(&url, s, &body)),
    }
}

/// Most pages of one list followed: a transaction's messages fit in far
/// fewer; more means a hub that never ends the list.
const MAX_PAGES: usize = 1000;

/// The messages of transaction `tx` (`GET /v1/messages?tx=`), every page.
async fn fetch_by_tx(
    client: &reqwest::Client,
    base: &str,
    tx: &str,
) -> Result<Vec<Value>, StatusCliError> {
    let first = format!("{}/v1/messages?tx={tx}", base.trim_end_matches('/'));
    let mut all = Vec::new();
    let mut url = first.clone();
    for _ in 0..MAX_PAGES {
        let body = match get_json(client, &url).await? {
            (s, body) if s.is_success() => body,
            (s, body) => return Err(refused(&url, s, &body)),
        };
        all.extend(body["messages"].as_array().cloned().unwrap_or_default());
        match body["next_cursor"].as_str() {
            Some(next) => {
                let next_url = format!("{first}&cursor={next}");
                if next_url == url {
                    return Err(hub_err(&url, "the hub answered its own cursor again"));
                }
                url = next_url;
            }
            None => return Ok(all),
        }
    }
    Err(hub_err(
        &first,
        format!("the list did not end within {MAX_PAGES} pages"),
    ))
}

/// The human form of a `MessageStatus` JSON.
pub fn render(v: &Value) -> String {
    let s = |x: &Value| match x {
        Value::Null => "-".to_owned(),
        Value::String(t) => t.clone(),
        other => other.to_string(),
    };
    let mut o = String::new();
    o += &format!("message      {}\n", s(&v["id"]));
    o += &format!("status       {}\n", s(&v["status"]));
    let m = &v["message"];
    if m.is_object() {
        o += &format!(
            "nonce        {}   sender {}   recipient {}\n",
            s(&m["nonce"]),
            s(&m["sender"]),
            s(&m["recipient"])
        );
    }
    let or = &v["origin"];
    o += &format!(
        "origin       {} (domain {})  block {}  tx {}\n",
        s(&or["chain"]),
        s(&or["domain"]),
        s(&or["block"]),
        s(&or["tx_hash"])
    );
    let d = &v["destination"];
    o += &format!(
        "destination  {} (domain {})  lane {}  tx {}  block {}\n",
        s(&d["chain"]),
        s(&d["domain"]),
        s(&d["lane"]),
        s(&d["tx_hash"]),
        s(&d["block"])
    );
    if !v["failure"].is_null() {
        o += &format!("failure      {}\n", s(&v["failure"]));
    }
    if !v["last_error"].is_null() {
        o += &format!("last error   {}\n", s(&v["last_error"]));
    }
    o += "stages\n";
    let stages = v["stages"].as_array().cloned().unwrap_or_default();
    let first = stages
        .first()
        .and_then(|x| x["at_ms"].as_u64())
        .unwrap_or(0);
    for st in &stages {
        let at = st["at_ms"].as_u64().unwrap_or(0);
        o += &format!(
            "  {:<14} {}  +{} ms\n",
            s(&st["stage"]),
            rfc3339_ms(at),
            at.saturating_sub(first)
        );
    }
    o
}

/// Unix milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn rfc3339_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days to civil date (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_iso() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339_ms(1_795_960_800_000), "2026-11-29T14:00:00.000Z");
    }

    #[test]
    fn the_table_names_every_stage_and_the_destination_tx() {
        let v = serde_json::json!({
            "id": "0xaa", "status": "delivered", "message": null,
            "origin": {"domain": 1, "chain": "alpha", "block": 5, "tx_hash": null},
            "destination": {"domain": 2, "chain": "beta", "lane": "2/0", "tx_hash": "0xbb", "block": 9},
            "failure": null, "last_error": null,
            "stages": [{"stage": "verified", "at_ms": 1000}, {"stage": "delivered", "at_ms": 1450}]
        });
        let t = render(&v);
        assert!(t.contains("status       delivered"), "{t}");
        assert!(t.contains("tx 0xbb  block 9"), "{t}");
        assert!(
            t.contains("delivered      1970-01-01T00:00:01.450Z  +450 ms"),
            "{t}"
        );
    }
}

#[derive(clap::Args, Debug)]
pub struct StatusCli {
    /// Message id (0x and 64 hex digits).
    #[arg(required_unless_present = "tx", conflicts_with = "tx")]
    pub id: Option<String>,
    /// The messages of this origin (dispatch) or destination (delivery)
    /// transaction instead.
    #[arg(long)]
    pub tx: Option<String>,
    /// The hub's HTTP address.
    #[arg(long, env = "SWITCHYARD_HUB", default_value = "http://127.0.0.1:9464")]
    pub hub: String,
    /// Wait up to this many seconds for the message to be delivered (or
    /// to fail); exit 6 if it is not final by then.
    #[arg(long = "wait-secs", alias = "wait", value_name = "SECS")]
    pub wait_secs: Option<u64>,
    /// Print the API's JSON answer.
    #[arg(long)]
    pub json: bool,
}

/// Runs `switchyard status`.
pub async fn command(args: StatusCli) -> anyhow::Result<ExitCode> {
    let StatusCli {
        id,
        tx,
        hub,
        wait_secs,
        json,
    } = args;
    use Lookup;
    let query = match (id, tx) {
        (Some(id), _) => Lookup::Id(id),
        (None, Some(tx)) => Lookup::Tx(tx),
        // clap requires one of them.
        (None, None) => anyhow::bail!("give a message id or --tx"),
    };
    let args = StatusArgs {
        hub,
        query,
        wait: wait_secs.map(std::time::Duration::from_secs),
        json,
    };
    let code = run(&args, &mut std::io::stdout().lock()).await?;
    Ok(code.into())
}
