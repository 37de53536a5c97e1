//! What SQLite's failures mean for the person running feedwatch.
//!
//! Owns turning a raw SQLite error into a [`StoreError`] that names the database file and says
//! what to do: a full disk, a file size limit, a file that is not a database, a file or directory
//! that cannot be written. Must never hide the SQLite error it cannot explain: that one is
//! passed on with its code.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::ErrorCode;

use crate::model::Database;
use crate::store::StoreError;

/// Below this much free space, a write error is put down to a full disk: a write that runs out
/// of room midway leaves a few pages at most.
const NEARLY_FULL: u64 = 1 << 20;
/// A database file this close to the file size limit explains a write error.
const NEAR_LIMIT: u64 = 1 << 20;

/// The database file a store works on, for error messages and disk checks.
#[derive(Debug, Clone)]
pub(super) struct DbFile(Option<Arc<PathBuf>>);

impl DbFile {
    /// The file of `database`; none for an in-memory one.
    pub(super) fn of(database: &Database) -> DbFile {
        match database {
            Database::Memory => DbFile(None),
            Database::File(path) => DbFile(Some(Arc::new(path.clone()))),
        }
    }

    fn name(&self) -> String {
        self.0
            .as_deref()
            .map_or_else(|| "(in memory)".to_owned(), |p| p.display().to_string())
    }

    /// Ties an error from a query on this database to the file, explaining what it can.
    pub(super) fn locate(&self, e: StoreError) -> StoreError {
        let StoreError::Backend(raw) = e else {
            return e;
        };
        let path = self.name();
        let Some(sqlite) = raw.downcast_ref::<rusqlite::Error>() else {
            return StoreError::Query {
                path,
                problem: raw.to_string(),
            };
        };
        match sqlite.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => StoreError::DiskFull { path },
            Some(ErrorCode::NotADatabase) => StoreError::NotADatabase { path },
            Some(ErrorCode::ReadOnly) => StoreError::ReadOnly {
                path,
                problem: describe(sqlite),
            },
            // SQLite reports a write that found no room as a plain I/O error when it came
            // from anything but the data write itself (an fsync, the shared-memory file), or
            // when a file size limit stopped it: look at the disk to tell.
            Some(ErrorCode::SystemIoFailure) => {
                self.no_room(path).unwrap_or_else(|path| StoreError::Query {
                    path,
                    problem: describe(sqlite),
                })
            }
            _ => StoreError::Query {
                path,
                problem: describe(sqlite),
            },
        }
    }

    /// Why there was no room to write, if the file or its disk shows it; else `path` back.
    fn no_room(&self, path: String) -> Result<StoreError, String> {
        let Some(file) = self.0.as_deref() else {
            return Err(path);
        };
        if let Some(limit) = rustix::process::getrlimit(rustix::process::Resource::Fsize).current
            && largest_file(file) + NEAR_LIMIT >= limit
        {
            return Ok(StoreError::FileSizeLimit { path, limit });
        }
        let dir = file
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        match rustix::fs::statvfs(dir) {
            Ok(fs) if fs.f_bavail.saturating_mul(fs.f_frsize) < NEARLY_FULL => {
                Ok(StoreError::DiskFull { path })
            }
            _ => Err(path),
        }
    }
}

/// The size of the largest of the database's files (the database, its write-ahead log and its
/// shared-memory index).
fn largest_file(db: &Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            std::fs::metadata(PathBuf::from(name)).ok()
        })
        .map(|m| m.len())
        .max()
        .unwrap_or(0)
}

/// SQLite's own words once, with its extended code for a search.
pub(super) fn describe(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(code, message) => {
            let words = message
                .clone()
                .unwrap_or_else(|| rusqlite::ffi::code_to_str(code.extended_code).to_owned());
            format!("{words} (SQLite error {})", code.extended_code)
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::{Connection, OpenFlags};

    use super::*;
    use crate::store::Access;
    use crate::store::sqlite::SqliteStore;

    fn temp_db(dir: &tempfile::TempDir) -> (PathBuf, Database) {
        let path = dir.path().join("feedwatch.db");
        (path.clone(), Database::File(path))
    }

    #[tokio::test]
    async fn a_full_database_names_its_file_and_says_the_disk_is_full() {
        let dir = tempfile::tempdir().unwrap();
        let (path, db) = temp_db(&dir);
        let store = SqliteStore::open(&db, Access::Exclusive).unwrap();
        // SQLite's own SQLITE_FULL, as on a full disk: the file may not grow past its pages.
        let err = store
            .run(|c| {
                let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0))?;
                c.pragma_update(None, "max_page_count", pages + 1)?;
                c.execute_batch(
                    "CREATE TABLE filler (x BLOB);
                     INSERT INTO filler VALUES (zeroblob(1000000));",
                )?;
                Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::DiskFull { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("disk holding database"), "{message}");
        assert!(message.contains("is full"), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(std::error::Error::source(&err).is_none());
    }

    #[test]
    fn a_file_that_is_no_database_is_named_once_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let (path, db) = temp_db(&dir);
        std::fs::write(&path, "not a database, but a note\n".repeat(200)).unwrap();
        let err = SqliteStore::open(&db, Access::Exclusive).err().unwrap();
        assert!(matches!(err, StoreError::NotADatabase { .. }), "{err:?}");
        let message = err.to_string();
        assert_eq!(message.matches("not a").count(), 1, "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("move this one away"), "{message}");
        assert!(std::error::Error::source(&err).is_none());
    }

    #[test]
    fn a_read_only_database_names_its_file_and_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let (path, db) = temp_db(&dir);
        drop(SqliteStore::open(&db, Access::Shared).unwrap());
        // Opened read-only, as SQLite does for a file or directory it may not write.
        let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let raw = conn
            .execute("DELETE FROM feeds", [])
            .map(drop)
            .map_err(StoreError::from)
            .unwrap_err();
        let err = DbFile::of(&db).locate(raw);
        assert!(matches!(err, StoreError::ReadOnly { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert_eq!(message.matches("readonly").count(), 1, "{message}");
        assert!(message.contains("needs write access"), "{message}");
    }

    #[test]
    fn a_lock_file_that_cannot_be_created_is_named() {
        let dir = tempfile::tempdir().unwrap();
        // The database's directory is a file: nothing can be created in it.
        std::fs::write(dir.path().join("state"), "").unwrap();
        let db = Database::File(dir.path().join("state/feedwatch.db"));
        let err = SqliteStore::open(&db, Access::Exclusive).err().unwrap();
        assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("state/feedwatch.db.lock"), "{message}");
        assert!(message.contains("general.database"), "{message}");
    }

    #[test]
    fn other_failures_keep_sqlite_words_and_code_once() {
        let conn = Connection::open_in_memory().unwrap();
        let raw = conn
            .execute("SELECT * FROM nowhere", [])
            .map(drop)
            .map_err(StoreError::from)
            .unwrap_err();
        let err = DbFile::of(&Database::Memory).locate(raw);
        let message = err.to_string();
        assert!(
            message.starts_with("store: database (in memory): "),
            "{message}"
        );
        assert_eq!(message.matches("no such table").count(), 1, "{message}");
        assert!(message.contains("SQLite error 1)"), "{message}");
    }
}
