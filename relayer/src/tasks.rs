//! Task helpers every long-running task of the hub shares (origins,
//! dispatch, monitors): backoff, a sleep that ends on shutdown, a start that
//! retries what is retryable and reports what is fatal, and the pacing of a
//! watcher's rounds. It imports only the error and health types, so every
//! stage can import it without pulling in another stage.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::error::HubError;
use crate::health::Health;
use crate::unix_ms;

/// Exponential backoff: 200 ms doubling to 10 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200u64.saturating_mul(1 << attempt.min(6))).min(Duration::from_secs(10))
}

/// Starts a task's state with `init`, as every watcher does: a retryable
/// error (an endpoint or Redis down) is logged and retried with backoff; a
/// fatal one (a wrong checkpoint, a forged state) is reported on `/readyz`
/// under `name` and ends the task. `None` means end the task (a fatal error,
/// or shutdown while waiting). `what` names the task in the logs.
pub async fn start_or_give_up<T, F, Fut>(
    what: &str,
    name: &str,
    health: &Health,
    shutdown: &CancellationToken,
    mut init: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, HubError>>,
{
    let mut attempt = 0u32;
    loop {
        match init().await {
            Ok(v) => return Some(v),
            Err(e) if e.is_retryable() => {
                attempt += 1;
                warn!(err = %e, attempt, "{what} init failed, retrying");
                if sleep_or_shutdown(backoff(attempt), shutdown).await {
                    return None;
                }
            }
            Err(e) => {
                tracing::error!(err = %e, "{what} cannot start");
                health.set_fatal(name, e.to_string());
                return None;
            }
        }
    }
}

/// Paces a watcher's rounds after one ended with `outcome` (`Ok(busy)`):
/// a success records liveness on `/readyz` under `name` and waits `poll`
/// unless there is more to do right away; a failure is logged (`what`) and
/// backed off, longer with each failure in a row (`failures`). Returns true
/// on shutdown.
pub async fn pace_round(
    outcome: Result<bool, HubError>,
    failures: &mut u32,
    what: &str,
    name: &str,
    health: &Health,
    poll: Duration,
    shutdown: &CancellationToken,
) -> bool {
    match outcome {
        Ok(busy) => {
            *failures = 0;
            health.watcher_ok(name, unix_ms());
            !busy && sleep_or_shutdown(poll, shutdown).await
        }
        Err(e) => {
            *failures += 1;
            warn!(err = %e, attempt = *failures, "{what} failed, retrying");
            sleep_or_shutdown(backoff(*failures), shutdown).await
        }
    }
}

/// Sleeps `d` unless shutdown comes first; returns true on shutdown.
pub async fn sleep_or_shutdown(d: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => true,
        _ = tokio::time::sleep(d) => false,
    }
}
