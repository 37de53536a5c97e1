//! The SQLite store: feed state, seen items, alerts and the delivery outbox.
//!
//! Owns the only connection and all SQL. Calls from async code go through [`Store::with`],
//! which runs them on the blocking pool. Must never be called while holding a transaction
//! across network I/O: every method here is a short, self-contained transaction.

mod feeds;
mod migrations;
mod outbox;

use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::Connection;

pub use feeds::{FeedId, FeedState};
pub use outbox::{
    AlertRow, DeliveryRow, DeliveryState, DueDelivery, FreshPoll, ItemRhythm, NewAlert, NewItem,
    PollCounts, Pruned,
};

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database was written by a newer feedwatch.
    #[error(
        "store: database schema version {found} is newer than this feedwatch understands ({known}); upgrade feedwatch or point `database` elsewhere"
    )]
    TooNew {
        /// Version in the file.
        found: i64,
        /// Newest version known here.
        known: i64,
    },
    /// Could not open the database file.
    #[error(
        "store: cannot open database {path}: {source} (check `general.database` and the directory's permissions)"
    )]
    Open {
        /// Database path.
        path: String,
        /// SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// A blocking task panicked or was cancelled.
    #[error("store: background task failed: {0}")]
    Task(String),
}

/// Shared handle to the database.
///
/// A std `Mutex` rather than an async one: it is only ever locked inside `spawn_blocking`, and
/// SQLite allows one writer anyway, so a single connection serialises writes without busy errors.
#[derive(Clone)]
pub struct Store {
    db: Arc<Mutex<Db>>,
}

/// The connection and the synchronous operations on it.
pub struct Db {
    conn: Connection,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `path` (`:memory:` for none).
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.display().to_string(),
            source,
        };
        let conn = if path == Path::new(":memory:") {
            Connection::open_in_memory().map_err(open_err)?
        } else {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                // A missing directory gives SQLite's vague "unable to open"; create it instead.
                let _ = std::fs::create_dir_all(parent);
            }
            Connection::open(path).map_err(open_err)?
        };
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA busy_timeout = 5000;
             PRAGMA foreign_keys = ON;",
        )?;
        let mut db = Db { conn };
        db.migrate()?;
        Ok(Store {
            db: Arc::new(Mutex::new(db)),
        })
    }

    /// Runs `f` against the database on the blocking pool.
    pub async fn with<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut Db) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave a transaction open (rusqlite rolls
            // back on drop), so the connection is still usable.
            let mut guard = db.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Runs `f` synchronously (for CLI commands outside the runtime's hot path).
    pub fn with_sync<T>(
        &self,
        f: impl FnOnce(&mut Db) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = self.db.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }
}

impl Db {
    fn migrate(&mut self) -> Result<(), StoreError> {
        let known = migrations::STEPS.len() as i64;
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > known {
            return Err(StoreError::TooNew {
                found: version,
                known,
            });
        }
        for (i, step) in migrations::STEPS.iter().enumerate().skip(version as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(step)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
            tx.commit()?;
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_newer_schemas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/feedwatch.db");
        drop(Store::open(&path).unwrap());
        // Reopening is a no-op migration.
        drop(Store::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = Store::open(&path).err().unwrap();
        assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    }
}
