//! The delivery outbox: which deliveries are due, and what became of each attempt.
//!
//! Owns the `deliveries` table after a commit created its rows. Must never send anything or
//! decide retry times: the dispatcher reads due rows, sends outside any transaction, and
//! records the outcome it decided.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::{from_ts, to_ts};
use crate::model::NotifierName;
use crate::store::{DeliveryId, DueDelivery, SentAs, SentWindow, StoreError};

/// Notifiers with deliveries due at `now` (neither waiting for a retry nor held).
pub(super) fn due_notifiers(
    c: &Connection,
    now: DateTime<Utc>,
) -> Result<Vec<NotifierName>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT DISTINCT notifier FROM deliveries
         WHERE state = 'pending' AND next_attempt_at <= ?1
             AND (held_until IS NULL OR held_until <= ?1)
         ORDER BY notifier",
    )?;
    let rows = stmt.query_map([to_ts(now)], |r| r.get(0).map(NotifierName))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One notifier's pending deliveries due at `now`, oldest first.
pub(super) fn due_deliveries(
    c: &Connection,
    notifier: &NotifierName,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<DueDelivery>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT d.id, d.notifier, d.attempts, a.created_at, a.payload
         FROM deliveries d JOIN alerts a ON a.id = d.alert_id
         WHERE d.state = 'pending' AND d.notifier = ?1 AND d.next_attempt_at <= ?2
             AND (d.held_until IS NULL OR d.held_until <= ?2)
         ORDER BY d.next_attempt_at, d.id LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![notifier.0, to_ts(now), limit as i64], |r| {
        Ok(DueDelivery {
            id: DeliveryId(r.get(0)?),
            notifier: NotifierName(r.get(1)?),
            attempts: r.get(2)?,
            created_at: from_ts(r.get(3)?),
            payload: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Holds back a notifier's other due deliveries until `until` (attempts unchanged): when its
/// server is down, one failed attempt per round is enough.
pub(super) fn postpone_notifier(
    c: &Connection,
    notifier: &NotifierName,
    until: DateTime<Utc>,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE deliveries SET next_attempt_at = ?2
         WHERE state = 'pending' AND notifier = ?1 AND next_attempt_at < ?2",
        params![notifier.0, to_ts(until)],
    )?;
    Ok(())
}

/// Makes pending deliveries (all, or one notifier's) due at `now` at the latest; how many.
/// Deliveries held for a digest or by an hourly cap stay held: a retry is about failures.
pub(super) fn retry_now(
    c: &Connection,
    notifier: Option<&NotifierName>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let n = c.execute(
        "UPDATE deliveries SET next_attempt_at = MIN(next_attempt_at, ?2)
         WHERE state = 'pending' AND (?1 IS NULL OR notifier = ?1)
             AND (held_until IS NULL OR held_until <= ?2)",
        params![notifier.map(|n| n.0.as_str()), to_ts(now)],
    )?;
    Ok(n)
}

/// Notifiers with pending deliveries, by name.
pub(super) fn pending_notifiers(c: &Connection) -> Result<Vec<NotifierName>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT DISTINCT notifier FROM deliveries WHERE state = 'pending' ORDER BY notifier",
    )?;
    let names = stmt
        .query_map([], |r| Ok(NotifierName(r.get(0)?)))?
        .collect::<Result<_, _>>()?;
    Ok(names)
}

/// How many deliveries are pending.
pub(super) fn pending(c: &Connection) -> Result<usize, StoreError> {
    let n: i64 = c.query_row(
        "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'",
        [],
        |r| r.get(0),
    )?;
    Ok(n.max(0) as usize)
}

/// The earliest time a pending delivery becomes due (retry time and hold both past), if any.
pub(super) fn next_at(c: &Connection) -> Result<Option<DateTime<Utc>>, StoreError> {
    let t: Option<i64> = c.query_row(
        "SELECT MIN(MAX(next_attempt_at, COALESCE(held_until, next_attempt_at)))
         FROM deliveries WHERE state = 'pending'",
        [],
        |r| r.get(0),
    )?;
    Ok(t.map(from_ts))
}

/// Marks deliveries sent `sent_as`, in one transaction.
pub(super) fn mark_sent(
    c: &mut Connection,
    ids: &[DeliveryId],
    sent_as: SentAs,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let tx = c.transaction()?;
    {
        let mut update = tx.prepare_cached(
            "UPDATE deliveries SET state = 'sent', attempts = attempts + 1, sent_at = ?2,
                 sent_as = ?3, last_error = NULL, held_until = NULL
             WHERE id = ?1",
        )?;
        for id in ids {
            update.execute(params![id.0, to_ts(now), sent_as.as_str()])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Records one failed attempt of each delivery a batch carried, in one transaction.
pub(super) fn mark_batch_failed(
    c: &mut Connection,
    failed: &[(DeliveryId, Option<DateTime<Utc>>)],
    error: &str,
) -> Result<(), StoreError> {
    let tx = c.transaction()?;
    for (id, retry_at) in failed {
        mark_attempt_failed(&tx, *id, error, *retry_at)?;
    }
    tx.commit()?;
    Ok(())
}

/// Holds pending deliveries back until `until`, in one transaction.
pub(super) fn hold(
    c: &mut Connection,
    ids: &[DeliveryId],
    until: DateTime<Utc>,
) -> Result<(), StoreError> {
    let tx = c.transaction()?;
    {
        let mut update = tx.prepare_cached(
            "UPDATE deliveries SET held_until = ?2 WHERE id = ?1 AND state = 'pending'",
        )?;
        for id in ids {
            update.execute(params![id.0, to_ts(until)])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Lifts every hold; how many there were.
pub(super) fn release_holds(c: &Connection) -> Result<usize, StoreError> {
    Ok(c.execute(
        "UPDATE deliveries SET held_until = NULL
         WHERE state = 'pending' AND held_until IS NOT NULL",
        [],
    )?)
}

/// What `notifier` sent after `since`: when each single went out, and the latest summary.
/// Deliveries sent before `sent_as` was recorded count as singles.
pub(super) fn sent_window(
    c: &Connection,
    notifier: &NotifierName,
    since: DateTime<Utc>,
) -> Result<SentWindow, StoreError> {
    let mut singles = c.prepare_cached(
        "SELECT sent_at FROM deliveries
         WHERE state = 'sent' AND notifier = ?1 AND sent_at > ?2
             AND COALESCE(sent_as, 'single') = 'single'
         ORDER BY sent_at",
    )?;
    let singles = singles
        .query_map(params![notifier.0, to_ts(since)], |r| r.get(0).map(from_ts))?
        .collect::<Result<_, _>>()?;
    let last_summary: Option<i64> = c.query_row(
        "SELECT MAX(sent_at) FROM deliveries
         WHERE state = 'sent' AND notifier = ?1 AND sent_at > ?2 AND sent_as = 'summary'",
        params![notifier.0, to_ts(since)],
        |r| r.get(0),
    )?;
    Ok(SentWindow {
        singles,
        last_summary: last_summary.map(from_ts),
    })
}

/// How many pending deliveries are held past `now`.
pub(super) fn held(c: &Connection, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let n: i64 = c.query_row(
        "SELECT COUNT(*) FROM deliveries WHERE state = 'pending' AND held_until > ?1",
        [to_ts(now)],
        |r| r.get(0),
    )?;
    Ok(n.max(0) as usize)
}

/// Records a failed attempt: retried at `retry_at`, or given up when it is `None`.
pub(super) fn mark_attempt_failed(
    c: &Connection,
    id: DeliveryId,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    let (state, next) = match retry_at {
        Some(t) => ("pending", Some(to_ts(t))),
        None => ("failed", None),
    };
    c.execute(
        "UPDATE deliveries SET state = ?2, attempts = attempts + 1, last_error = ?3,
             next_attempt_at = COALESCE(?4, next_attempt_at)
         WHERE id = ?1",
        params![id.0, state, error, next],
    )?;
    Ok(())
}
