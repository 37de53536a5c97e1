//! The schema, as an append-only list of steps keyed by `PRAGMA user_version`.
//!
//! Owns the database layout. Must never edit a step that has shipped: add a new one instead, so
//! every existing database upgrades the same way.

use rusqlite::Connection;

use crate::store::StoreError;

/// Step N (1-based) brings a database from `user_version` N-1 to N.
const STEPS: &[&str] = &[
    // 1: feeds, their items, alerts and the delivery outbox.
    "
    CREATE TABLE feeds (
        id                   INTEGER PRIMARY KEY,
        url                  TEXT NOT NULL UNIQUE,
        title                TEXT,
        etag                 TEXT,
        last_modified        TEXT,
        last_fetch_at        INTEGER,
        last_status          TEXT,
        last_error           TEXT,
        last_success_at      INTEGER,
        failing_since        INTEGER,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        next_due_at          INTEGER,
        items_seen           INTEGER NOT NULL DEFAULT 0,
        first_fetch_done     INTEGER NOT NULL DEFAULT 0,
        moved_to             TEXT,
        last_new_item_at     INTEGER,
        -- Last time a document (not a 304) was read: items absent from it have vanished.
        last_document_at     INTEGER,
        broken_notified      INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE items (
        id             INTEGER PRIMARY KEY,
        feed_id        INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
        key            TEXT NOT NULL,
        guid           TEXT,
        title          TEXT NOT NULL,
        link           TEXT,
        canonical_link TEXT,
        published_at   INTEGER,
        seen_at        INTEGER NOT NULL,
        -- Last poll (to the day) whose document still listed the item; items long gone from
        -- their feed are forgotten after general.retention.
        last_present_at INTEGER NOT NULL,
        -- Second identity (hash of plain title and body), for entries whose key shifts.
        fingerprint    TEXT,
        UNIQUE (feed_id, key)
    );
    CREATE INDEX items_fingerprint ON items (feed_id, fingerprint) WHERE fingerprint IS NOT NULL;
    CREATE TABLE alerts (
        id             INTEGER PRIMARY KEY,
        public_id      TEXT NOT NULL UNIQUE,
        watchlist      TEXT NOT NULL,
        -- NULL for notices about a feed itself (broken, recovered), which have no item.
        item_id        INTEGER REFERENCES items(id) ON DELETE CASCADE,
        feed_id        INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
        canonical_link TEXT,
        created_at     INTEGER NOT NULL,
        payload        TEXT NOT NULL,
        UNIQUE (watchlist, item_id)
    );
    -- Finds the same story alerted through another feed (see commit.rs).
    CREATE INDEX alerts_story ON alerts (watchlist, canonical_link)
        WHERE canonical_link IS NOT NULL;
    CREATE INDEX alerts_created ON alerts (created_at);
    CREATE TABLE deliveries (
        id              INTEGER PRIMARY KEY,
        alert_id        INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
        notifier        TEXT NOT NULL,
        state           TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        last_error      TEXT,
        sent_at         INTEGER,
        UNIQUE (alert_id, notifier)
    );
    CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
    ",
    // 2: how each delivery went out (one by one, folded into an hourly summary, or in a
    // digest), so `max_per_hour` counts from the store and a restart keeps the window; and
    // how long a delivery is held for its digest or by that cap.
    "
    ALTER TABLE deliveries ADD COLUMN sent_as TEXT
        CHECK (sent_as IN ('single', 'summary', 'digest'));
    ALTER TABLE deliveries ADD COLUMN held_until INTEGER;
    UPDATE deliveries SET sent_as = 'single' WHERE state = 'sent';
    CREATE INDEX deliveries_sent ON deliveries (notifier, sent_at) WHERE state = 'sent';
    ",
    // 3: entries that matched a watchlist but were recorded without alerting (a new feed's
    // backlog). Such an entry named a watched group all along, so an edit of it is recorded
    // but never alerts as an update.
    "
    ALTER TABLE items ADD COLUMN quiet INTEGER NOT NULL DEFAULT 0;
    ",
];

/// Brings the schema up to date, one step per transaction.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let known = STEPS.len() as i64;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > known {
        return Err(StoreError::TooNew {
            found: version,
            known,
        });
    }
    for (i, step) in STEPS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Database;
    use crate::store::Access;
    use crate::store::sqlite::SqliteStore;

    #[test]
    fn migrates_once_and_refuses_newer_schemas() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::File(dir.path().join("state/feedwatch.db"));
        drop(SqliteStore::open(&db, Access::Shared).unwrap());
        // Reopening is a no-op migration.
        drop(SqliteStore::open(&db, Access::Shared).unwrap());
        let Database::File(path) = &db else {
            unreachable!()
        };
        let conn = Connection::open(path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = SqliteStore::open(&db, Access::Shared).err().unwrap();
        assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    }

    #[test]
    fn a_second_exclusive_opener_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::File(dir.path().join("feedwatch.db"));
        let first = SqliteStore::open(&db, Access::Exclusive).unwrap();
        let err = SqliteStore::open(&db, Access::Exclusive).err().unwrap();
        assert!(matches!(err, StoreError::Busy(_)), "{err}");
        // Readers are welcome beside it.
        drop(SqliteStore::open(&db, Access::Shared).unwrap());
        drop(first);
        drop(SqliteStore::open(&db, Access::Exclusive).unwrap());
    }
}
