//! The storage format: which layout of keys and values a Redis holds, as a
//! number in one key (`<prefix>:{meta}:format`), checked by every hub
//! process when it starts ([`Store::check_format`]).
//!
//! - No key: a fresh store, or one written before the format was recorded
//!   (hubs up to 0.2, whose layout is format 1). Either way the layout is
//!   this one: the number is written and the hub starts.
//! - The same number: the hub starts.
//! - A smaller number: the migrations from it to [`STORAGE_FORMAT`] run in
//!   order, each ending with its number written, so a migration interrupted
//!   half-way runs again from where it stopped; a number no migration
//!   starts from is refused with what to do.
//! - A larger number: the store was written by a newer hub. This one would
//!   misread its state (an older hub cannot know what a newer layout
//!   means), so it refuses to start, naming both numbers; the error is not
//!   retryable (`switchyard run` exits with code 8).
//!
//! One key in its own hash tag: on a Redis Cluster it lives in one slot,
//! and the compare-and-set of a migration is one script on that key.

use redis::Script;

use super::{Store, StoreError, redis_err};

/// The storage format this hub reads and writes. Bump it with every
/// change of key layout or value encoding a previous hub would misread,
/// add the migration from the previous number to [`MIGRATIONS`], and say
/// so in CHANGELOG.md.
pub const STORAGE_FORMAT: u32 = 1;

/// A migration from format `from` to `from + 1`.
#[derive(Debug)]
pub struct Migration {
    /// The format it starts from.
    pub from: u32,
    /// What it changes (logged when it runs).
    pub what: &'static str,
    /// Rewrites the store. It must be idempotent: a hub stopped between it
    /// and the number's update runs it again, and two hubs starting
    /// together may both run it.
    pub run: MigrationFn,
}

/// The body of a [`Migration`].
pub type MigrationFn =
    for<'a> fn(&'a Store) -> futures::future::BoxFuture<'a, Result<(), StoreError>>;

/// The migrations, by their starting format. Format 1 is the first
/// recorded one (the layout hubs up to 0.2 wrote without a number), so
/// there is none yet; a store with a number no entry here starts from is
/// refused with [`StoreError::Format`].
pub const MIGRATIONS: &[Migration] = &[];

/// What [`Store::check_format`] found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatCheck {
    /// The store had no format: [`STORAGE_FORMAT`] was written.
    Initialized,
    /// The store was at [`STORAGE_FORMAT`] already.
    Current,
    /// The store was at `from` and was migrated to [`STORAGE_FORMAT`].
    Migrated {
        /// The format found.
        from: u32,
    },
}

/// Sets the key to ARGV[2] only if it holds ARGV[1] ("" for no key):
/// two hubs starting together cannot both migrate, nor overwrite a newer
/// number written in between.
const SET_IF_LUA: &str = r"
local cur = redis.call('GET', KEYS[1])
if (cur == false and ARGV[1] == '') or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
";

impl Store {
    /// The key holding the storage format.
    pub fn format_key(&self) -> String {
        format!("{}:{{meta}}:format", self.prefix)
    }

    /// The storage format recorded in Redis, if any.
    pub async fn stored_format(&self) -> Result<Option<u32>, StoreError> {
        let key = self.format_key();
        let mut c = self.conn.clone();
        let raw: Option<String> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut c)
            .await
            .map_err(redis_err("format"))?;
        raw.map(|v| {
            v.parse::<u32>().map_err(|_| StoreError::Format {
                key: key.clone(),
                reason: format!(
                    "expected a storage format number (this hub writes {STORAGE_FORMAT}), got {v:?}"
                ),
            })
        })
        .transpose()
    }

    /// Checks the storage format at start: writes [`STORAGE_FORMAT`] on a
    /// fresh store, migrates an older one, refuses a newer one (see the
    /// module documentation).
    pub async fn check_format(&self) -> Result<FormatCheck, StoreError> {
        self.check_format_against(STORAGE_FORMAT, MIGRATIONS).await
    }

    /// [`Store::check_format`] for a hub of format `current` with
    /// `migrations`.
    async fn check_format_against(
        &self,
        current: u32,
        migrations: &[Migration],
    ) -> Result<FormatCheck, StoreError> {
        let key = self.format_key();
        let found = self.stored_format().await?;
        match found {
            None => {
                if !self.set_format_if(None, current).await? {
                    // Another hub wrote it in between: check what it wrote.
                    return Box::pin(self.check_format_against(current, migrations)).await;
                }
                Ok(FormatCheck::Initialized)
            }
            Some(v) if v == current => Ok(FormatCheck::Current),
            Some(v) if v > current => Err(StoreError::NewerFormat {
                key,
                found: v,
                supported: current,
            }),
            Some(from) => {
                let mut at = from;
                while at < current {
                    let Some(m) = migrations.iter().find(|m| m.from == at) else {
                        return Err(StoreError::Format {
                            key,
                            reason: format!(
                                "the store is at storage format {at} and this hub reads {current}; \
                                 no migration starts from {at}: run a hub release that reads format {at} \
                                 until its lanes are empty, then delete the prefix's keys and start this one"
                            ),
                        });
                    };
                    tracing::info!(from = at, to = at + 1, what = m.what, "migrating the store");
                    (m.run)(self).await?;
                    if !self.set_format_if(Some(at), at + 1).await? {
                        // Another hub migrated it: start over from what it wrote.
                        return Box::pin(self.check_format_against(current, migrations)).await;
                    }
                    at += 1;
                }
                Ok(FormatCheck::Migrated { from })
            }
        }
    }

    /// For tools that read and change the store without being a hub
    /// (`switchyard dlq`): the store must be at [`STORAGE_FORMAT`] or have
    /// no number yet; nothing is written or migrated.
    pub async fn require_format(&self) -> Result<(), StoreError> {
        match self.stored_format().await? {
            None => Ok(()),
            Some(v) if v == STORAGE_FORMAT => Ok(()),
            Some(v) if v > STORAGE_FORMAT => Err(StoreError::NewerFormat {
                key: self.format_key(),
                found: v,
                supported: STORAGE_FORMAT,
            }),
            Some(v) => Err(StoreError::Format {
                key: self.format_key(),
                reason: format!(
                    "expected storage format {STORAGE_FORMAT}, got {v}: start a hub of this \
                     version once to migrate the store, then run this command again"
                ),
            }),
        }
    }

    /// Writes `to` if the key holds `from` (None: no key); whether it did.
    async fn set_format_if(&self, from: Option<u32>, to: u32) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let done: i64 = Script::new(SET_IF_LUA)
            .key(self.format_key())
            .arg(from.map(|f| f.to_string()).unwrap_or_default())
            .arg(to)
            .invoke_async(&mut c)
            .await
            .map_err(redis_err("format"))?;
        Ok(done == 1)
    }
}

#[cfg(test)]
mod tests {
    use switchyard_localnet::procs::RedisServer;

    use super::*;
    use crate::store::{QueueKey, RedisTarget};

    async fn store(redis: &RedisServer, prefix: &str) -> Store {
        Store::connect(
            &RedisTarget::Single(redis.url.clone()),
            prefix,
            QueueKey::from_secret(&"k".repeat(32)).expect("key"),
        )
        .await
        .expect("connects")
    }

    async fn set(s: &Store, v: &str) {
        let mut c = s.conn.clone();
        let _: () = redis::cmd("SET")
            .arg(s.format_key())
            .arg(v)
            .query_async(&mut c)
            .await
            .expect("set");
    }

    /// A format bump without its changelog entry, or a chart release
    /// without its section, fails here.
    #[test]
    fn the_changelog_names_the_storage_format_and_the_chart_version() {
        let log = include_str!("../../../CHANGELOG.md");
        assert!(
            log.contains(&format!(
                "(`<prefix>:{{meta}}:format`, format {STORAGE_FORMAT})"
            )),
            "CHANGELOG.md does not name storage format {STORAGE_FORMAT}"
        );
        let chart = include_str!("../../../helm/switchyard/Chart.yaml");
        let version = chart
            .lines()
            .find_map(|l| l.strip_prefix("version:"))
            .expect("Chart.yaml has a version")
            .trim();
        assert!(
            log.contains(&format!("Chart {version}, hub ")),
            "CHANGELOG.md has no section for chart {version}"
        );
        let hub = include_str!("../../../Cargo.toml");
        let hub = hub
            .lines()
            .find_map(|l| l.strip_prefix("version = "))
            .expect("the workspace has a version")
            .trim_matches('"');
        assert!(
            log.contains(&format!("hub {hub}")),
            "CHANGELOG.md does not name hub {hub}"
        );
    }

    #[tokio::test]
    async fn a_fresh_store_gets_the_format_and_a_second_start_finds_it() {
        let redis = RedisServer::spawn(None).expect("redis-server");
        let s = store(&redis, "sy").await;
        assert_eq!(s.format_key(), "sy:{meta}:format");
        assert_eq!(s.stored_format().await.expect("get"), None);
        // A tool accepts a store without a number and writes none.
        s.require_format().await.expect("no number yet");
        assert_eq!(s.stored_format().await.expect("get"), None);
        assert_eq!(
            s.check_format().await.expect("check"),
            FormatCheck::Initialized
        );
        assert_eq!(s.stored_format().await.expect("get"), Some(STORAGE_FORMAT));
        assert_eq!(s.check_format().await.expect("check"), FormatCheck::Current);
        // Another prefix is another store.
        let other = store(&redis, "other").await;
        assert_eq!(other.stored_format().await.expect("get"), None);
    }

    #[tokio::test]
    async fn a_newer_format_is_refused_naming_both_and_left_alone() {
        let redis = RedisServer::spawn(None).expect("redis-server");
        let s = store(&redis, "sy").await;
        set(&s, &(STORAGE_FORMAT + 1).to_string()).await;
        let err = s.check_format().await.expect_err("refused");
        assert!(!err.is_retryable());
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("format {}", STORAGE_FORMAT + 1))
                && msg.contains(&format!("reads format {STORAGE_FORMAT}"))
                && msg.contains("sy:{meta}:format"),
            "{msg}"
        );
        assert_eq!(
            s.stored_format().await.expect("get"),
            Some(STORAGE_FORMAT + 1)
        );
        let err = s.require_format().await.expect_err("newer");
        assert!(matches!(err, StoreError::NewerFormat { .. }), "{err}");
    }

    #[tokio::test]
    async fn an_unknown_older_or_malformed_format_is_refused_with_what_to_do() {
        let redis = RedisServer::spawn(None).expect("redis-server");
        let s = store(&redis, "sy").await;
        set(&s, "0").await;
        let err = s.check_format().await.expect_err("no migration from 0");
        assert!(!err.is_retryable());
        assert!(
            err.to_string().contains("no migration starts from 0"),
            "{err}"
        );
        let err = s.require_format().await.expect_err("older");
        assert!(
            err.to_string().contains("start a hub of this version once"),
            "{err}"
        );
        set(&s, "one").await;
        let err = s.check_format().await.expect_err("malformed");
        assert!(err.to_string().contains("got \"one\""), "{err}");
    }

    /// A test migration: copies `sy:old` into `sy:{meta}:new` (idempotent).
    fn copy_old(s: &Store) -> futures::future::BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let mut c = s.conn.clone();
            let v: Option<String> = redis::cmd("GET")
                .arg("sy:old")
                .query_async(&mut c)
                .await
                .map_err(redis_err("test"))?;
            if let Some(v) = v {
                let _: () = redis::cmd("SET")
                    .arg("sy:{meta}:new")
                    .arg(v)
                    .query_async(&mut c)
                    .await
                    .map_err(redis_err("test"))?;
            }
            Ok(())
        })
    }

    #[tokio::test]
    async fn an_older_store_is_migrated_step_by_step_and_recorded() {
        let redis = RedisServer::spawn(None).expect("redis-server");
        let s = store(&redis, "sy").await;
        let migrations = [
            Migration {
                from: 1,
                what: "copy old",
                run: copy_old,
            },
            Migration {
                from: 2,
                what: "nothing",
                run: |_| Box::pin(async { Ok(()) }),
            },
        ];
        set(&s, "1").await;
        let mut c = s.conn.clone();
        let _: () = redis::cmd("SET")
            .arg("sy:old")
            .arg("state")
            .query_async(&mut c)
            .await
            .expect("set");
        assert_eq!(
            s.check_format_against(3, &migrations)
                .await
                .expect("migrates"),
            FormatCheck::Migrated { from: 1 }
        );
        assert_eq!(s.stored_format().await.expect("get"), Some(3));
        let moved: Option<String> = redis::cmd("GET")
            .arg("sy:{meta}:new")
            .query_async(&mut c)
            .await
            .expect("get");
        assert_eq!(moved.as_deref(), Some("state"));
        // Done once: the next start finds its own format.
        assert_eq!(
            s.check_format_against(3, &migrations).await.expect("check"),
            FormatCheck::Current
        );
        // A gap in the chain of migrations is refused where it is.
        set(&s, "1").await;
        let err = s
            .check_format_against(4, &migrations)
            .await
            .expect_err("no migration from 3");
        assert!(
            err.to_string().contains("no migration starts from 3"),
            "{err}"
        );
        assert_eq!(s.stored_format().await.expect("get"), Some(3));
    }

    #[tokio::test]
    async fn the_compare_and_set_does_not_overwrite_another_hubs_number() {
        let redis = RedisServer::spawn(None).expect("redis-server");
        let s = store(&redis, "sy").await;
        set(&s, "7").await;
        assert!(!s.set_format_if(None, 1).await.expect("cas"));
        assert!(!s.set_format_if(Some(6), 7).await.expect("cas"));
        assert!(s.set_format_if(Some(7), 8).await.expect("cas"));
        assert_eq!(s.stored_format().await.expect("get"), Some(8));
    }
}
