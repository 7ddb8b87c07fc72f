//! `switchyard bench`: the throughput benchmark of the hub (issue 4).
//!
//! - [`OriginGenerator`]: the load generator. It produces origin evidence
//!   exactly as an RPC would serve it (Prague-layout headers linked by parent
//!   hash, typed receipts whose Mailbox `Dispatch` logs carry Hyperlane v3
//!   messages, blooms and roots computed the consensus way), deterministic
//!   from a seed, so the hub verifies it with no shortcut: header linking,
//!   receipts root, log extraction, message ids.
//! - [`thread_cpu_time`]: the CPU time of the calling thread, so a caller
//!   running a generator on its own thread can report the generator's cost
//!   separately from the hub's.

mod r#gen;
mod run;
mod sink;
mod source;

pub use r#gen::{
    DestinationSpec, GenConfig, GenError, GeneratedBlock, OriginGenerator, OriginSpec, RouteSpec,
};
pub use run::{BenchArgs, BenchReport, PartReport, RedisNodeReport, SinkKind, parse_part, run};
pub use sink::{LedgerMerge, LedgerWords, NullSink, merge_ledgers};
pub use source::GeneratorSource;

use std::time::Duration;

/// CPU time consumed so far by the calling thread (user and system), or
/// `None` where the platform does not report it.
///
/// Read from `/proc/thread-self/schedstat` (nanoseconds on the CPU), falling
/// back to `/proc/thread-self/stat` (`utime + stime`, in the kernel's fixed
/// 100 Hz `USER_HZ` ticks). The difference of two readings on one thread is
/// that thread's cost in between, whatever else the machine runs.
pub fn thread_cpu_time() -> Option<Duration> {
    if let Ok(s) = std::fs::read_to_string("/proc/thread-self/schedstat")
        && let Some(ns) = s.split_whitespace().next().and_then(|v| v.parse().ok())
    {
        return Some(Duration::from_nanos(ns));
    }
    stat_cpu("/proc/thread-self/stat")
}

/// User plus system CPU time from a `/proc/.../stat` file (`utime` and
/// `stime`, fields 14 and 15, in the kernel's fixed 100 Hz `USER_HZ` ticks).
pub(crate) fn stat_cpu(path: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the parenthesised command name (which may hold spaces).
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_cpu_time_is_reported_and_monotonic() {
        let a = thread_cpu_time().expect("Linux reports thread CPU time");
        let mut x = 0u64;
        for i in 0..1_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        let b = thread_cpu_time().expect("Linux reports thread CPU time");
        assert!(b >= a, "{b:?} < {a:?}");
    }
}
