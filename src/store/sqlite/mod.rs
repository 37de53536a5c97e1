//! The SQLite implementation of [`Store`]: one connection, used only on the blocking pool.
//!
//! Owns the connection, the schema and all SQL, split by what it is about: [`feeds`] (per-feed
//! state), [`items`] (what was seen), [`commit`] (one poll's single transaction), [`outbox`]
//! (deliveries), [`reports`] (what the CLI shows) and [`errors`] (what a failure means, naming
//! the file). Must never run on an async worker thread or hold a transaction across an
//! `.await`.

mod commit;
mod errors;
mod feeds;
mod items;
mod migrations;
mod outbox;
mod reports;
mod scrub;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use rusqlite::Connection;

use super::records::{
    AlertRecord, DeliveryId, DueDelivery, FeedNotice, FeedState, FreshPoll, ItemRhythm, PollCounts,
    Pruned, SentAs, SentWindow, Unseen,
};
use super::{Access, Store, StoreError};
use crate::model::{Database, FeedId, FeedUrl, ItemIdentity, NotifierName, PollFailure};
use errors::DbFile;

/// The SQLite store.
///
/// A std `Mutex` rather than an async one: it is only ever locked inside `spawn_blocking`, and
/// SQLite allows one writer anyway, so a single connection serialises writes without busy errors.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// Named in every error.
    file: DbFile,
    // Held while the store lives: two processes draining one outbox would send twice.
    _lock: Option<Arc<File>>,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database; with [`Access::Exclusive`], first
    /// takes the lock beside it.
    pub fn open(database: &Database, access: Access) -> Result<SqliteStore, StoreError> {
        let file = DbFile::of(database);
        let (mut conn, lock) = match database {
            Database::Memory => (
                Connection::open_in_memory().map_err(open_error("(in memory)"))?,
                None,
            ),
            Database::File(path) => {
                create_private_dir(path);
                let lock = match access {
                    Access::Exclusive => Some(Arc::new(lock_database(path)?)),
                    Access::Shared => None,
                };
                create_private_file(path)?;
                let conn =
                    Connection::open(path).map_err(open_error(&path.display().to_string()))?;
                (conn, lock)
            }
        };
        prepare(&mut conn).map_err(|e| file.locate(e))?;
        if let Database::File(path) = database {
            make_private(path);
        }
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            file,
            _lock: lock,
        })
    }

    /// Runs `f` against the connection on the blocking pool.
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave a transaction open (rusqlite rolls
            // back on drop), so the connection is still usable.
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            // Checked here, on the blocking pool: explaining a write error may look at the disk.
            f(&mut guard).map_err(|e| file.locate(e))
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }
}

/// Sets the connection up and brings the schema up to date: the first reads and writes, so a
/// file that is no database or cannot be written shows here.
fn prepare(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA busy_timeout = 5000;
         PRAGMA foreign_keys = ON;",
    )?;
    migrations::migrate(conn)?;
    scrub::feed_credentials(conn)
}

fn open_error(path: &str) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError::Open {
        path: path.to_owned(),
        problem: errors::describe(&e),
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Backend(Box::new(e))
    }
}

/// Creates what is missing of the database's directory, mode 0700. The database holds what is
/// watched and every delivery error, which is nobody else's business whatever umask cron or a
/// shell gave the process. A directory that cannot be created is reported by the first file
/// that cannot be made in it (the lock file, else the database), which names the file.
fn create_private_dir(db: &Path) {
    use std::os::unix::fs::DirBuilderExt;
    if let Some(parent) = db.parent().filter(|p| !p.as_os_str().is_empty()) {
        // A missing directory would give SQLite's vague "unable to open"; create it instead.
        let _ = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent);
    }
}

/// Creates the database file, mode 0600, before SQLite does: SQLite would create it 0644 under
/// the usual umask, and gives its `-wal` and `-shm` files the database's own mode. A database
/// an older feedwatch created readable by others is made private once it opens as one (see
/// [`make_private`]).
fn create_private_file(db: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(db)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Open {
            path: db.display().to_string(),
            problem: e.to_string(),
        }),
    }
}

/// Takes group and other access away from the database and its `-wal`, `-shm` and lock files,
/// where this process may: they hold feed state, alert text and what was sent where.
fn make_private(db: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for suffix in ["", "-wal", "-shm", ".lock"] {
        let mut path = db.as_os_str().to_owned();
        path.push(suffix);
        let path = PathBuf::from(path);
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0
            && std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o700))
                .is_ok()
        {
            tracing::warn!(file = %path.display(), was = format_args!("{:o}", mode & 0o777), "made the database file private (mode 600)");
        }
    }
}

/// Takes an exclusive lock next to the database, so `once` from a timer and a running daemon
/// (or two overlapping timers) never drain one outbox together and send alerts twice.
fn lock_database(db: &Path) -> Result<File, StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut path = db.as_os_str().to_owned();
    path.push(".lock");
    let path = PathBuf::from(path);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| StoreError::Open {
            path: path.display().to_string(),
            problem: e.to_string(),
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Busy(format!(
            "another feedwatch is already running on {} (lock {}); stop it, or give this one another `database`",
            db.display(),
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Busy(format!(
            "cannot lock {}: {e}",
            path.display()
        ))),
    }
}

/// Seconds since the epoch, as stored.
fn to_ts(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

/// Stored seconds back to a time.
fn from_ts(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(s, 0).single().unwrap_or_default()
}

#[async_trait]
impl Store for SqliteStore {
    async fn feed_state(&self, url: &FeedUrl) -> Result<FeedState, StoreError> {
        let url = url.clone();
        self.run(move |c| feeds::state(c, &url)).await
    }

    async fn find_feed(&self, url: &FeedUrl) -> Result<Option<FeedState>, StoreError> {
        let url = url.clone();
        self.run(move |c| feeds::find(c, &url)).await
    }

    async fn feed_states(&self) -> Result<Vec<FeedState>, StoreError> {
        self.run(|c| feeds::all(c)).await
    }

    async fn unseen(&self, feed: FeedId, items: Vec<ItemIdentity>) -> Result<Unseen, StoreError> {
        self.run(move |c| items::unseen(c, feed, items)).await
    }

    async fn commit_fresh(&self, poll: FreshPoll) -> Result<PollCounts, StoreError> {
        self.run(move |c| commit::fresh(c, &poll)).await
    }

    async fn record_not_modified(
        &self,
        feed: FeedId,
        now: DateTime<Utc>,
        next_due: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.run(move |c| feeds::record_not_modified(c, feed, now, next_due))
            .await
    }

    async fn record_failure(
        &self,
        feed: FeedId,
        failure: &PollFailure,
        now: DateTime<Utc>,
        next_due: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let failure = failure.clone();
        self.run(move |c| feeds::record_failure(c, feed, &failure, now, next_due))
            .await
    }

    async fn enqueue_feed_notice(
        &self,
        feed: FeedId,
        notice: FeedNotice,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.run(move |c| commit::feed_notice(c, feed, &notice, now))
            .await
    }

    async fn item_rhythm(&self, feed: FeedId) -> Result<Option<ItemRhythm>, StoreError> {
        self.run(move |c| items::rhythm(c, feed)).await
    }

    async fn prune(&self, cutoff: DateTime<Utc>) -> Result<Pruned, StoreError> {
        self.run(move |c| items::prune(c, cutoff)).await
    }

    async fn due_notifiers(&self, now: DateTime<Utc>) -> Result<Vec<NotifierName>, StoreError> {
        self.run(move |c| outbox::due_notifiers(c, now)).await
    }

    async fn due_deliveries(
        &self,
        notifier: &NotifierName,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let notifier = notifier.clone();
        self.run(move |c| outbox::due_deliveries(c, &notifier, now, limit))
            .await
    }

    async fn postpone_notifier(
        &self,
        notifier: &NotifierName,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let notifier = notifier.clone();
        self.run(move |c| outbox::postpone_notifier(c, &notifier, until))
            .await
    }

    async fn mark_sent(
        &self,
        ids: &[DeliveryId],
        sent_as: SentAs,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let ids = ids.to_vec();
        self.run(move |c| outbox::mark_sent(c, &ids, sent_as, now))
            .await
    }

    async fn mark_batch_failed(
        &self,
        failed: &[(DeliveryId, Option<DateTime<Utc>>)],
        error: &str,
    ) -> Result<(), StoreError> {
        let (failed, error) = (failed.to_vec(), error.to_owned());
        self.run(move |c| outbox::mark_batch_failed(c, &failed, &error))
            .await
    }

    async fn hold(&self, ids: &[DeliveryId], until: DateTime<Utc>) -> Result<(), StoreError> {
        let ids = ids.to_vec();
        self.run(move |c| outbox::hold(c, &ids, until)).await
    }

    async fn release_holds(&self) -> Result<usize, StoreError> {
        self.run(|c| outbox::release_holds(c)).await
    }

    async fn sent_window(
        &self,
        notifier: &NotifierName,
        since: DateTime<Utc>,
    ) -> Result<SentWindow, StoreError> {
        let notifier = notifier.clone();
        self.run(move |c| outbox::sent_window(c, &notifier, since))
            .await
    }

    async fn held_deliveries(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        self.run(move |c| outbox::held(c, now)).await
    }

    async fn mark_attempt_failed(
        &self,
        id: DeliveryId,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let error = error.to_owned();
        self.run(move |c| outbox::mark_attempt_failed(c, id, &error, retry_at))
            .await
    }

    async fn retry_now(
        &self,
        notifier: Option<&NotifierName>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let notifier = notifier.cloned();
        self.run(move |c| outbox::retry_now(c, notifier.as_ref(), now))
            .await
    }

    async fn pending_notifiers(&self) -> Result<Vec<NotifierName>, StoreError> {
        self.run(|c| outbox::pending_notifiers(c)).await
    }

    async fn pending_deliveries(&self) -> Result<usize, StoreError> {
        self.run(|c| outbox::pending(c)).await
    }

    async fn next_delivery_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.run(|c| outbox::next_at(c)).await
    }

    async fn alerts_since(&self, since: DateTime<Utc>) -> Result<Vec<AlertRecord>, StoreError> {
        self.run(move |c| reports::alerts_since(c, since)).await
    }
}

#[cfg(test)]
mod tests;
