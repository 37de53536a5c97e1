//! One poll's single transaction: new items, edited items, the items still listed, alerts and
//! their deliveries, and the feed's state.
//!
//! Owns atomicity: a crash never leaves an alert without its deliveries, or an item marked seen
//! (or its edit recorded) whose alert was lost. Must never decide whether something alerts
//! (the pipeline's alert step did); it only enforces the identities the schema holds: one item
//! per (feed, key), one alert per (watchlist, item), one story per watchlist across feeds since
//! `stories_since`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{feeds, to_ts};
use crate::model::{FEED_NOTICE_NAME, FeedId, ItemIdentity, ItemKey, NotifierName};
use crate::store::{FeedNotice, FreshPoll, ItemEdit, NewItem, PollCounts, StoreError};

/// Item row ids of the items this commit recorded for the first time, or whose edit it
/// recorded, by key: the items that may alert.
type Alertable<'a> = HashMap<&'a ItemKey, i64>;

/// Commits a successful poll at once.
pub(super) fn fresh(c: &mut Connection, poll: &FreshPoll) -> Result<PollCounts, StoreError> {
    let tx = c.transaction()?;
    let mut alertable = insert_items(&tx, poll.feed, &poll.items, poll.now)?;
    let new_items = alertable.len();
    record_edits(&tx, poll.feed, &poll.edits, poll.now, &mut alertable)?;
    touch_present(&tx, poll.feed, &poll.present, poll.now)?;
    let alerts = insert_alerts(&tx, poll, &alertable)?;
    feeds::record_fresh(&tx, poll, new_items)?;
    tx.commit()?;
    Ok(PollCounts { new_items, alerts })
}

fn insert_items<'a>(
    tx: &Transaction<'_>,
    feed: FeedId,
    items: &'a [NewItem],
    now: DateTime<Utc>,
) -> Result<Alertable<'a>, StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO items
             (feed_id, key, guid, title, link, canonical_link, published_at, seen_at,
              last_present_at, fingerprint, quiet)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10)",
    )?;
    let mut inserted = HashMap::new();
    for item in items {
        let n = insert.execute(params![
            feed.0,
            item.identity.key.as_str(),
            item.guid,
            item.title,
            item.link,
            item.story.as_ref().map(|s| s.as_str()),
            item.published.map(to_ts),
            to_ts(now),
            item.identity.fingerprint,
            item.quiet
        ])?;
        if n == 1 {
            inserted.insert(&item.identity.key, tx.last_insert_rowid());
        }
    }
    Ok(inserted)
}

/// Records the new fingerprint and title of edited items (and that the document lists them),
/// adding to `alertable` each item whose fingerprint this very commit changed: the same edit
/// seen again, or by a commit racing this one, finds the fingerprint already recorded. An item
/// that matched when it was recorded quietly (a new feed's backlog) is never alertable.
fn record_edits<'a>(
    tx: &Transaction<'_>,
    feed: FeedId,
    edits: &'a [ItemEdit],
    now: DateTime<Utc>,
    alertable: &mut Alertable<'a>,
) -> Result<(), StoreError> {
    let mut update = tx.prepare_cached(
        "UPDATE items SET fingerprint = ?3, title = ?4, last_present_at = ?5
         WHERE feed_id = ?1 AND key = ?2 AND fingerprint IS NOT ?3
         RETURNING id, quiet",
    )?;
    for edit in edits {
        let row: Option<(i64, bool)> = update
            .query_row(
                params![
                    feed.0,
                    edit.key.as_str(),
                    edit.fingerprint,
                    edit.title,
                    to_ts(now)
                ],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((row, false)) = row {
            alertable.entry(&edit.key).or_insert(row);
        }
    }
    Ok(())
}

/// Marks the items the document still lists, for retention. At most one write per item and
/// day: enough for retention, cheap on every poll.
fn touch_present(
    tx: &Transaction<'_>,
    feed: FeedId,
    present: &[ItemIdentity],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut touch = tx.prepare_cached(
        "UPDATE items SET last_present_at = ?3
         WHERE feed_id = ?1 AND key = ?2 AND last_present_at < ?3 - 86400",
    )?;
    let mut touch_print = tx.prepare_cached(
        "UPDATE items SET last_present_at = ?3
         WHERE feed_id = ?1 AND fingerprint = ?2 AND last_present_at < ?3 - 86400",
    )?;
    let now = to_ts(now);
    for item in present {
        touch.execute(params![feed.0, item.key.as_str(), now])?;
        if let Some(print) = &item.fingerprint {
            touch_print.execute(params![feed.0, print, now])?;
        }
    }
    Ok(())
}

/// Inserts the alerts of items this commit recorded or saw edited, unless their story already
/// alerted for the watchlist through another feed lately, or the item already alerted for it
/// (one alert per (watchlist, item), an edit's update included); returns how many were created.
fn insert_alerts(
    tx: &Transaction<'_>,
    poll: &FreshPoll,
    alertable: &Alertable<'_>,
) -> Result<usize, StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO alerts
             (public_id, watchlist, item_id, feed_id, canonical_link, created_at, payload)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut syndicated = tx.prepare_cached(
        "SELECT 1 FROM alerts WHERE watchlist = ?1 AND canonical_link = ?2
             AND feed_id != ?3 AND created_at >= ?4",
    )?;
    let mut created = 0;
    for alert in &poll.alerts {
        // Only items first recorded (or whose edit was recorded) by this very commit may alert:
        // an item, or an edit, another poll already recorded had its chance then.
        let Some(&item_id) = alertable.get(&alert.item_key) else {
            continue;
        };
        if let Some(story) = &alert.story
            && syndicated.exists(params![
                alert.watchlist,
                story.as_str(),
                poll.feed.0,
                to_ts(poll.stories_since)
            ])?
        {
            continue;
        }
        let n = insert.execute(params![
            alert.id.as_str(),
            alert.watchlist,
            item_id,
            poll.feed.0,
            alert.story.as_ref().map(|s| s.as_str()),
            to_ts(poll.now),
            alert.payload
        ])?;
        if n == 1 {
            created += 1;
            insert_deliveries(tx, tx.last_insert_rowid(), &alert.notifiers, poll.now)?;
        }
    }
    Ok(created)
}

/// One pending delivery per notifier, due at once.
fn insert_deliveries(
    tx: &Transaction<'_>,
    alert_row: i64,
    notifiers: &[NotifierName],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO deliveries (alert_id, notifier, state, next_attempt_at)
         VALUES (?1, ?2, 'pending', ?3)",
    )?;
    for notifier in notifiers {
        insert.execute(params![alert_row, notifier.0, to_ts(now)])?;
    }
    Ok(())
}

/// Queues a notice about a feed's health and records that the admin knows, at once.
pub(super) fn feed_notice(
    c: &mut Connection,
    feed: FeedId,
    notice: &FeedNotice,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let tx = c.transaction()?;
    let n = tx.execute(
        "INSERT OR IGNORE INTO alerts (public_id, watchlist, item_id, feed_id, created_at, payload)
         VALUES (?1, ?2, NULL, ?3, ?4, ?5)",
        params![
            notice.id.as_str(),
            FEED_NOTICE_NAME,
            feed.0,
            to_ts(now),
            notice.payload
        ],
    )?;
    if n == 1 {
        insert_deliveries(&tx, tx.last_insert_rowid(), &notice.notifiers, now)?;
    }
    feeds::set_broken_notified(&tx, feed, notice.broken)?;
    tx.commit()?;
    Ok(())
}
