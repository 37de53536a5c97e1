//! Per-feed state: validators, schedule, error streak, last error, title.
//!
//! Owns the `feeds` table. Must never decide policy (when to poll, what counts as broken);
//! it records what the pipeline, the schedule and the health rules decided.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{from_ts, to_ts};
use crate::model::{FeedId, FeedUrl, PollFailure, Validators};
use crate::store::{FeedState, StoreError};

const COLUMNS: &str = "id, url, title, etag, last_modified, last_fetch_at, last_status, last_error,
    last_success_at, failing_since, consecutive_failures, next_due_at, items_seen,
    first_fetch_done, moved_to, broken_notified";

fn from_row(r: &Row<'_>) -> rusqlite::Result<FeedState> {
    let ts = |i: usize| -> rusqlite::Result<Option<DateTime<Utc>>> {
        Ok(r.get::<_, Option<i64>>(i)?.map(from_ts))
    };
    Ok(FeedState {
        id: FeedId(r.get(0)?),
        url: FeedUrl::from_string(r.get(1)?),
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
        broken_notified: r.get(15)?,
    })
}

/// The state of the feed at `url`, creating its row on first sight.
pub(super) fn state(c: &Connection, url: &FeedUrl) -> Result<FeedState, StoreError> {
    c.execute(
        "INSERT OR IGNORE INTO feeds (url) VALUES (?1)",
        [url.as_str()],
    )?;
    let sql = format!("SELECT {COLUMNS} FROM feeds WHERE url = ?1");
    Ok(c.query_row(&sql, [url.as_str()], from_row)?)
}

/// Every known feed, by URL.
pub(super) fn all(c: &Connection) -> Result<Vec<FeedState>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM feeds ORDER BY url");
    let mut stmt = c.prepare(&sql)?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The state of a feed if it was ever seen.
pub(super) fn find(c: &Connection, url: &FeedUrl) -> Result<Option<FeedState>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM feeds WHERE url = ?1");
    Ok(c.query_row(&sql, [url.as_str()], from_row).optional()?)
}

/// Records a `304 Not Modified`: a success, so any failure streak ends.
pub(super) fn record_not_modified(
    c: &Connection,
    id: FeedId,
    now: DateTime<Utc>,
    next_due: DateTime<Utc>,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE feeds SET last_fetch_at = ?2, last_status = '304', last_error = NULL,
             last_success_at = ?2, failing_since = NULL, consecutive_failures = 0,
             next_due_at = ?3
         WHERE id = ?1",
        params![id.0, to_ts(now), to_ts(next_due)],
    )?;
    Ok(())
}

/// Records a failed poll (fetch, parse or match): the streak grows by one.
pub(super) fn record_failure(
    c: &Connection,
    id: FeedId,
    failure: &PollFailure,
    now: DateTime<Utc>,
    next_due: DateTime<Utc>,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE feeds SET last_fetch_at = ?2, last_status = ?3, last_error = ?4,
             failing_since = COALESCE(failing_since, ?2),
             consecutive_failures = consecutive_failures + 1, next_due_at = ?5
         WHERE id = ?1",
        params![
            id.0,
            to_ts(now),
            failure.kind.to_string(),
            failure.message,
            to_ts(next_due)
        ],
    )?;
    Ok(())
}

/// Records a successful poll's feed state, inside the poll's commit.
pub(super) fn record_fresh(
    c: &Connection,
    poll: &crate::store::FreshPoll,
    new_items: usize,
) -> Result<(), StoreError> {
    let now = to_ts(poll.now);
    c.execute(
        "UPDATE feeds SET title = COALESCE(?2, title), etag = ?3, last_modified = ?4,
             last_fetch_at = ?5, last_status = ?6, last_error = NULL, last_success_at = ?5,
             failing_since = NULL, consecutive_failures = 0, next_due_at = ?7,
             items_seen = items_seen + ?8, moved_to = ?9,
             first_fetch_done = MAX(first_fetch_done, ?10),
             last_document_at = ?5,
             last_new_item_at = CASE WHEN ?8 > 0 THEN ?5 ELSE last_new_item_at END
         WHERE id = ?1",
        params![
            poll.feed.0,
            poll.title,
            poll.validators.etag,
            poll.validators.last_modified,
            now,
            poll.status.to_string(),
            to_ts(poll.next_due),
            new_items as i64,
            poll.moved_to,
            poll.first_fetch_complete
        ],
    )?;
    Ok(())
}

/// Remembers whether the admin now knows the feed to be broken.
pub(super) fn set_broken_notified(
    c: &Connection,
    id: FeedId,
    broken: bool,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE feeds SET broken_notified = ?2 WHERE id = ?1",
        params![id.0, broken],
    )?;
    Ok(())
}
