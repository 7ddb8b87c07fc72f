//! A Prometheus server (Debian's `prometheus`, as `deploy/setup.sh`
//! installs it) scraping the test's targets, and its HTTP API.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use switchyard_localnet::procs::free_port;

use super::stack::tail;

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

/// A Prometheus server on a free loopback port, its TSDB in a temporary
/// directory; stopped when dropped.
pub(crate) struct Prometheus {
    child: Child,
    url: String,
    /// Its stderr, for failure messages.
    pub(crate) log: PathBuf,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Scrapes `targets` every second as job `job`, each series with the
    /// label `namespace` (as the Prometheus Operator adds it), and
    /// evaluates the rule file `rules` every second.
    pub(crate) async fn start(
        job: &str,
        namespace: &str,
        targets: &[String],
        rules: &Path,
    ) -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        let config = dir.path().join("prometheus.yml");
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nrule_files:\n  - '{}'\nscrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: [{}]\n        labels:\n          namespace: {namespace}\n",
                rules.display(),
                targets.join(", ")
            ),
        )
        .expect("write prometheus.yml");
        let port = free_port();
        let log = dir.path().join("prometheus.log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("prometheus runs (Debian's prometheus package: run deploy/setup.sh)");
        let p = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
            client: reqwest::Client::new(),
            _dir: dir,
        };
        let start = Instant::now();
        loop {
            let ready = p
                .client
                .get(format!("{}/-/ready", p.url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return p;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "prometheus not ready:\n{}",
                tail(&p.log)
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// GET `path` with `params`: the answer's `data`, or Prometheus' own
    /// error (`errorType: error`) and warnings.
    pub(crate) async fn api(&self, path: &str, params: &[(&str, String)]) -> Result<Value, String> {
        let r = self
            .client
            .get(format!("{}{path}", self.url))
            .query(params)
            .send()
            .await
            .map_err(|e| format!("{path}: {e}"))?;
        let body: Value = r.json().await.map_err(|e| format!("{path}: {e}"))?;
        if body["status"] != "success" {
            return Err(format!(
                "{}: {}",
                body["errorType"].as_str().unwrap_or("?"),
                body["error"].as_str().unwrap_or("?")
            ));
        }
        if let Some(w) = body["warnings"].as_array().filter(|w| !w.is_empty()) {
            return Err(format!("warnings: {w:?}"));
        }
        Ok(body["data"].clone())
    }

    pub(crate) async fn instant(&self, expr: &str) -> Result<Value, String> {
        self.api("/api/v1/query", &[("query", expr.to_owned())])
            .await
    }

    /// A range query over the last minute, 5 s apart (as a panel asks).
    pub(crate) async fn range(&self, expr: &str) -> Result<Value, String> {
        let end = now();
        self.api(
            "/api/v1/query_range",
            &[
                ("query", expr.to_owned()),
                ("start", format!("{:.3}", end - 60.0)),
                ("end", format!("{end:.3}")),
                ("step", "5".to_owned()),
            ],
        )
        .await
    }

    /// The value of a one-series instant query, 0 without a series.
    pub(crate) async fn scalar(&self, expr: &str) -> f64 {
        self.instant(expr)
            .await
            .ok()
            .and_then(|d| d["result"][0]["value"][1].as_str()?.parse().ok())
            .unwrap_or(0.0)
    }
}
