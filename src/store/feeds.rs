//! Per-feed state: validators, schedule, error streak, last error, title.
//!
//! Owns the `feeds` table. Must never decide policy (when to poll, what counts as broken);
//! it records what the pipeline and schedule decided.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::{Db, StoreError, from_ts, to_ts};
use crate::fetch::Validators;

/// Row id of a feed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FeedId(pub i64);

/// Everything remembered about one feed.
#[derive(Debug, Clone, Default)]
pub struct FeedState {
    /// Row id.
    pub id: FeedId,
    /// Feed URL (the identity).
    pub url: String,
    /// The feed's own title, from its last good parse.
    pub title: Option<String>,
    /// Validators for the next conditional GET.
    pub validators: Validators,
    /// Last attempt.
    pub last_fetch_at: Option<DateTime<Utc>>,
    /// "200", "304", "HTTP 503", or the error's short form.
    pub last_status: Option<String>,
    /// Last error message, cleared on success.
    pub last_error: Option<String>,
    /// Last success.
    pub last_success_at: Option<DateTime<Utc>>,
    /// Start of the current failure streak.
    pub failing_since: Option<DateTime<Utc>>,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// When the next poll is due.
    pub next_due_at: Option<DateTime<Utc>>,
    /// Distinct items recorded.
    pub items_seen: u64,
    /// Whether a first successful fetch has been recorded (its backlog does not alert).
    pub first_fetch_done: bool,
    /// New location after permanent redirects.
    pub moved_to: Option<String>,
    /// When an item was last new.
    pub last_new_item_at: Option<DateTime<Utc>>,
    /// Whether the admin has been told that this feed is broken.
    pub broken_notified: bool,
}

impl FeedState {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<FeedState> {
        let ts = |i: usize| -> rusqlite::Result<Option<DateTime<Utc>>> {
            Ok(r.get::<_, Option<i64>>(i)?.map(from_ts))
        };
        Ok(FeedState {
            id: FeedId(r.get(0)?),
            url: r.get(1)?,
            title: r.get(2)?,
            validators: Validators {
                etag: r.get(3)?,
                last_modified: r.get(4)?,
            },
            last_fetch_at: ts(5)?,
            last_status: r.get(6)?,
            last_error: r.get(7)?,
            last_success_at: ts(8)?,
            failing_since: ts(9)?,
            consecutive_failures: r.get(10)?,
            next_due_at: ts(11)?,
            items_seen: r.get::<_, i64>(12)?.max(0) as u64,
            first_fetch_done: r.get(13)?,
            moved_to: r.get(14)?,
            last_new_item_at: ts(15)?,
            broken_notified: r.get(16)?,
        })
    }
}

const COLUMNS: &str = "id, url, title, etag, last_modified, last_fetch_at, last_status, last_error,
    last_success_at, failing_since, consecutive_failures, next_due_at, items_seen,
    first_fetch_done, moved_to, last_new_item_at, broken_notified";

impl Db {
    /// The state of the feed at `url`, creating its row on first sight.
    pub fn feed_state(&mut self, url: &str) -> Result<FeedState, StoreError> {
        self.conn
            .execute("INSERT OR IGNORE INTO feeds (url) VALUES (?1)", [url])?;
        let sql = format!("SELECT {COLUMNS} FROM feeds WHERE url = ?1");
        Ok(self.conn.query_row(&sql, [url], FeedState::from_row)?)
    }

    /// Every known feed, by URL.
    pub fn feed_states(&mut self) -> Result<Vec<FeedState>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM feeds ORDER BY url");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([], FeedState::from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The state of a feed if it was ever seen.
    pub fn find_feed(&mut self, url: &str) -> Result<Option<FeedState>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM feeds WHERE url = ?1");
        Ok(self
            .conn
            .query_row(&sql, [url], FeedState::from_row)
            .optional()?)
    }

    /// Records a `304 Not Modified`.
    pub fn record_not_modified(
        &mut self,
        id: FeedId,
        now: DateTime<Utc>,
        next_due: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE feeds SET last_fetch_at = ?2, last_status = '304', last_error = NULL,
                 last_success_at = ?2, failing_since = NULL, consecutive_failures = 0,
                 next_due_at = ?3
             WHERE id = ?1",
            params![id.0, to_ts(now), to_ts(next_due)],
        )?;
        Ok(())
    }

    /// Records a failed poll (fetch or parse) and returns the new failure streak.
    pub fn record_failure(
        &mut self,
        id: FeedId,
        status: &str,
        error: &str,
        now: DateTime<Utc>,
        next_due: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE feeds SET last_fetch_at = ?2, last_status = ?3, last_error = ?4,
                 failing_since = COALESCE(failing_since, ?2),
                 consecutive_failures = consecutive_failures + 1, next_due_at = ?5
             WHERE id = ?1",
            params![id.0, to_ts(now), status, error, to_ts(next_due)],
        )?;
        Ok(())
    }
}
