//! Seen items, alerts and the delivery outbox.
//!
//! Owns dedup and the outbox. New items, their alerts and one pending delivery per notifier are
//! written in one transaction, so a crash never leaves an alert without its deliveries or an
//! item marked seen whose alert was lost. Must never send anything: delivery reads this table
//! later, outside any transaction.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{Db, FeedId, StoreError, from_ts, to_ts};
use crate::fetch::Validators;

/// How long a story alerted through one feed keeps other feeds that carry it from alerting
/// again. Only across feeds: within one feed, items are told apart by their keys, and a live
/// blog may list new stories under one page link.
const SYNDICATION_WINDOW_SECS: i64 = 7 * 24 * 3600;

/// An item not seen before, to record.
#[derive(Debug, Clone)]
pub struct NewItem {
    /// Per-feed dedup key.
    pub key: String,
    /// The feed's own guid, if any.
    pub guid: Option<String>,
    /// Plain-text title.
    pub title: String,
    /// Link as published.
    pub link: Option<String>,
    /// Link with tracking parameters and fragment removed, for cross-feed dedup.
    pub canonical_link: Option<String>,
    /// Published time.
    pub published: Option<DateTime<Utc>>,
    /// Content hash, the item's second identity.
    pub fingerprint: Option<String>,
}

/// An alert to create with the item it is about.
#[derive(Debug, Clone)]
pub struct NewAlert {
    /// Key of the item (in this poll's `items`).
    pub item_key: String,
    /// Stable public id (also the webhook's `alert_id`).
    pub public_id: String,
    /// Watchlist name.
    pub watchlist: String,
    /// Canonical link for cross-feed dedup.
    pub canonical_link: Option<String>,
    /// Serialized alert, as notifiers will read it.
    pub payload: String,
    /// Notifiers that get a delivery.
    pub notifiers: Vec<String>,
}

/// The result of a successful fetch and parse, to commit at once.
#[derive(Debug, Clone)]
pub struct FreshPoll {
    /// The feed.
    pub feed: FeedId,
    /// When the poll finished.
    pub now: DateTime<Utc>,
    /// The feed's own title.
    pub title: Option<String>,
    /// Validators to send next time.
    pub validators: Validators,
    /// HTTP status.
    pub status: u16,
    /// New location after permanent redirects.
    pub moved_to: Option<String>,
    /// Next poll.
    pub next_due: DateTime<Utc>,
    /// Items not seen before (a superset is fine: seen ones are ignored).
    pub items: Vec<NewItem>,
    /// Items already known (key, fingerprint) that the document still lists.
    pub present: Vec<(String, Option<String>)>,
    /// Alerts for those items.
    pub alerts: Vec<NewAlert>,
}

/// What a commit changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollCounts {
    /// Items recorded for the first time.
    pub new_items: usize,
    /// Alerts created (after cross-feed dedup).
    pub alerts: usize,
}

/// Delivery states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not yet delivered; retried until it is, or until it expires.
    Pending,
    /// Delivered.
    Sent,
    /// Given up.
    Failed,
}

impl DeliveryState {
    fn parse(s: &str) -> DeliveryState {
        match s {
            "sent" => DeliveryState::Sent,
            "failed" => DeliveryState::Failed,
            _ => DeliveryState::Pending,
        }
    }

    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Sent => "sent",
            DeliveryState::Failed => "failed",
        }
    }
}

/// A delivery that is due now.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    /// Row id.
    pub id: i64,
    /// Notifier name.
    pub notifier: String,
    /// Attempts so far.
    pub attempts: u32,
    /// When the alert was created.
    pub created_at: DateTime<Utc>,
    /// The alert, serialized.
    pub payload: String,
}

/// What a prune removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Alerts deleted (with their deliveries).
    pub alerts: usize,
    /// Items forgotten.
    pub items: usize,
}

/// How often a feed brings new items.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ItemRhythm {
    /// First item recorded (the first fetch).
    pub first_seen: DateTime<Utc>,
    /// Last time an item was new.
    pub last_new: DateTime<Utc>,
    /// Items that arrived after the first fetch.
    pub new_since_first: u64,
}

/// One delivery's state, for `feedwatch alerts`.
#[derive(Debug, Clone)]
pub struct DeliveryRow {
    /// Notifier name.
    pub notifier: String,
    /// State.
    pub state: DeliveryState,
    /// Attempts so far.
    pub attempts: u32,
    /// Last error.
    pub last_error: Option<String>,
    /// When it was sent.
    pub sent_at: Option<DateTime<Utc>>,
}

/// One alert with its deliveries, for `feedwatch alerts`.
#[derive(Debug, Clone)]
pub struct AlertRow {
    /// Public id.
    pub public_id: String,
    /// Watchlist.
    pub watchlist: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Item title.
    pub title: String,
    /// Item link.
    pub link: Option<String>,
    /// Feed URL.
    pub feed_url: String,
    /// Deliveries by notifier.
    pub deliveries: Vec<DeliveryRow>,
}

impl Db {
    /// Of these items (key and fingerprint), the keys of those this feed never listed before.
    ///
    /// An item is known when its key is, or its fingerprint is: a feed whose keys shift (guids
    /// that become shared, links that move) must not re-alert old stories.
    pub fn unseen_keys(
        &mut self,
        feed: FeedId,
        items: &[(String, Option<String>)],
    ) -> Result<HashSet<String>, StoreError> {
        let mut by_key = self
            .conn
            .prepare_cached("SELECT 1 FROM items WHERE feed_id = ?1 AND key = ?2")?;
        let mut by_print = self
            .conn
            .prepare_cached("SELECT 1 FROM items WHERE feed_id = ?1 AND fingerprint = ?2")?;
        let mut unseen = HashSet::new();
        for (key, print) in items {
            let known = by_key.exists(params![feed.0, key])?
                || match print {
                    Some(p) => by_print.exists(params![feed.0, p])?,
                    None => false,
                };
            if !known {
                unseen.insert(key.clone());
            }
        }
        Ok(unseen)
    }

    /// Commits a successful poll: feed state, new items, alerts and their deliveries, at once.
    pub fn commit_fresh(&mut self, poll: &FreshPoll) -> Result<PollCounts, StoreError> {
        let tx = self.conn.transaction()?;
        let now = to_ts(poll.now);
        let mut counts = PollCounts::default();
        let mut inserted: HashMap<&str, i64> = HashMap::new();
        {
            let mut insert_item = tx.prepare_cached(
                "INSERT OR IGNORE INTO items
                     (feed_id, key, guid, title, link, canonical_link, published_at, seen_at,
                      last_present_at, fingerprint)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)",
            )?;
            for item in &poll.items {
                let n = insert_item.execute(params![
                    poll.feed.0,
                    item.key,
                    item.guid,
                    item.title,
                    item.link,
                    item.canonical_link,
                    item.published.map(to_ts),
                    now,
                    item.fingerprint
                ])?;
                if n == 1 {
                    inserted.insert(&item.key, tx.last_insert_rowid());
                }
            }
            counts.new_items = inserted.len();
            // At most one write per item and day: enough for retention, cheap on every poll.
            let mut touch = tx.prepare_cached(
                "UPDATE items SET last_present_at = ?3
                 WHERE feed_id = ?1 AND key = ?2 AND last_present_at < ?3 - 86400",
            )?;
            let mut touch_print = tx.prepare_cached(
                "UPDATE items SET last_present_at = ?3
                 WHERE feed_id = ?1 AND fingerprint = ?2 AND last_present_at < ?3 - 86400",
            )?;
            for (key, print) in &poll.present {
                touch.execute(params![poll.feed.0, key, now])?;
                if let Some(print) = print {
                    touch_print.execute(params![poll.feed.0, print, now])?;
                }
            }
            let mut insert_alert = tx.prepare_cached(
                "INSERT OR IGNORE INTO alerts
                     (public_id, watchlist, item_id, feed_id, canonical_link, created_at, payload)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            let mut insert_delivery = tx.prepare_cached(
                "INSERT OR IGNORE INTO deliveries (alert_id, notifier, state, next_attempt_at)
                 VALUES (?1, ?2, 'pending', ?3)",
            )?;
            // The same story, alerted for this watchlist through another feed lately.
            let mut syndicated = tx.prepare_cached(
                "SELECT 1 FROM alerts WHERE watchlist = ?1 AND canonical_link = ?2
                     AND feed_id != ?3 AND created_at >= ?4",
            )?;
            for alert in &poll.alerts {
                // Only items first recorded by this very commit may alert: an item another
                // poll already recorded had its chance then.
                let Some(&item_id) = inserted.get(alert.item_key.as_str()) else {
                    continue;
                };
                if let Some(link) = &alert.canonical_link
                    && syndicated.exists(params![
                        alert.watchlist,
                        link,
                        poll.feed.0,
                        now - SYNDICATION_WINDOW_SECS
                    ])?
                {
                    continue;
                }
                let n = insert_alert.execute(params![
                    alert.public_id,
                    alert.watchlist,
                    item_id,
                    poll.feed.0,
                    alert.canonical_link,
                    now,
                    alert.payload
                ])?;
                if n == 0 {
                    continue;
                }
                counts.alerts += 1;
                let alert_id = tx.last_insert_rowid();
                for notifier in &alert.notifiers {
                    insert_delivery.execute(params![alert_id, notifier, now])?;
                }
            }
        }
        tx.execute(
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
                counts.new_items as i64,
                poll.moved_to,
                // An empty first document (a maintenance page, a feed not yet filled) does not
                // count: the backlog that appears later must not alert as if it were news.
                !poll.items.is_empty() || !poll.present.is_empty()
            ],
        )?;
        tx.commit()?;
        Ok(counts)
    }

    /// Queues a notice about a feed itself (broken or recovered) and remembers that the admin
    /// now knows the feed's state, in one transaction so the notice is sent exactly once.
    pub fn enqueue_feed_notice(
        &mut self,
        feed: FeedId,
        notice: &NewAlert,
        broken: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        let n = tx.execute(
            "INSERT OR IGNORE INTO alerts (public_id, watchlist, item_id, feed_id, created_at, payload)
             VALUES (?1, ?2, NULL, ?3, ?4, ?5)",
            params![notice.public_id, notice.watchlist, feed.0, to_ts(now), notice.payload],
        )?;
        if n == 1 {
            let alert_id = tx.last_insert_rowid();
            for notifier in &notice.notifiers {
                tx.execute(
                    "INSERT OR IGNORE INTO deliveries (alert_id, notifier, state, next_attempt_at)
                     VALUES (?1, ?2, 'pending', ?3)",
                    params![alert_id, notifier, to_ts(now)],
                )?;
            }
        }
        tx.execute(
            "UPDATE feeds SET broken_notified = ?2 WHERE id = ?1",
            params![feed.0, broken],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// When this feed's items were first and last new, and how many arrived after the first
    /// fetch: the feed's usual rhythm, for spotting feeds that went silent.
    pub fn item_rhythm(&mut self, feed: FeedId) -> Result<Option<ItemRhythm>, StoreError> {
        let row: (Option<i64>, Option<i64>, i64) = self.conn.query_row(
            "SELECT MIN(seen_at), MAX(seen_at),
                    COUNT(*) FILTER (WHERE seen_at > (SELECT MIN(seen_at) FROM items WHERE feed_id = ?1))
             FROM items WHERE feed_id = ?1",
            [feed.0],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        Ok(match row {
            (Some(first), Some(last), later) => Some(ItemRhythm {
                first_seen: from_ts(first),
                last_new: from_ts(last),
                new_since_first: later.max(0) as u64,
            }),
            _ => None,
        })
    }

    /// Forgets what is older than `cutoff`: alerts (with their deliveries) created before it,
    /// and items that no remaining alert needs and that their feed's latest document no longer
    /// lists, since before it. A feed that answers 304 or fails keeps all its items: what its
    /// last document listed may still be listed.
    pub fn prune(&mut self, cutoff: DateTime<Utc>) -> Result<Pruned, StoreError> {
        let tx = self.conn.transaction()?;
        let cutoff = to_ts(cutoff);
        let alerts = tx.execute("DELETE FROM alerts WHERE created_at < ?1", [cutoff])?;
        let items = tx.execute(
            "DELETE FROM items WHERE last_present_at < ?1
                 AND last_present_at < (SELECT f.last_document_at - 2 * 86400 FROM feeds f
                                        WHERE f.id = items.feed_id)
                 AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.item_id = items.id)",
            [cutoff],
        )?;
        tx.commit()?;
        Ok(Pruned { alerts, items })
    }

    /// Notifiers with deliveries due at `now`.
    pub fn due_notifiers(&mut self, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT DISTINCT notifier FROM deliveries
             WHERE state = 'pending' AND next_attempt_at <= ?1 ORDER BY notifier",
        )?;
        let rows = stmt.query_map([to_ts(now)], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One notifier's pending deliveries due at `now`, oldest first.
    pub fn due_deliveries(
        &mut self,
        notifier: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT d.id, d.notifier, d.attempts, a.created_at, a.payload
             FROM deliveries d JOIN alerts a ON a.id = d.alert_id
             WHERE d.state = 'pending' AND d.notifier = ?1 AND d.next_attempt_at <= ?2
             ORDER BY d.next_attempt_at, d.id LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![notifier, to_ts(now), limit as i64], |r| {
            Ok(DueDelivery {
                id: r.get(0)?,
                notifier: r.get(1)?,
                attempts: r.get(2)?,
                created_at: from_ts(r.get(3)?),
                payload: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Holds back a notifier's other due deliveries until `until` (attempts unchanged): when
    /// its server is down, one failed attempt per round is enough.
    pub fn postpone_notifier(
        &mut self,
        notifier: &str,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE deliveries SET next_attempt_at = ?2
             WHERE state = 'pending' AND notifier = ?1 AND next_attempt_at < ?2",
            params![notifier, to_ts(until)],
        )?;
        Ok(())
    }

    /// How many deliveries are pending.
    pub fn pending_deliveries(&mut self) -> Result<usize, StoreError> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )?;
        Ok(n.max(0) as usize)
    }

    /// The earliest time a pending delivery becomes due, if any.
    pub fn next_delivery_at(&mut self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let t: Option<i64> = self.conn.query_row(
            "SELECT MIN(next_attempt_at) FROM deliveries WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )?;
        Ok(t.map(from_ts))
    }

    /// Marks a delivery sent.
    pub fn mark_sent(&mut self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE deliveries SET state = 'sent', attempts = attempts + 1, sent_at = ?2,
                 last_error = NULL
             WHERE id = ?1",
            params![id, to_ts(now)],
        )?;
        Ok(())
    }

    /// Records a failed attempt: retried at `retry_at`, or given up when it is `None`.
    pub fn mark_attempt_failed(
        &mut self,
        id: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let (state, next) = match retry_at {
            Some(t) => ("pending", Some(to_ts(t))),
            None => ("failed", None),
        };
        self.conn.execute(
            "UPDATE deliveries SET state = ?2, attempts = attempts + 1, last_error = ?3,
                 next_attempt_at = COALESCE(?4, next_attempt_at)
             WHERE id = ?1",
            params![id, state, error, next],
        )?;
        Ok(())
    }

    /// Alerts created since `since`, newest first, with their deliveries.
    pub fn alerts_since(&mut self, since: DateTime<Utc>) -> Result<Vec<AlertRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT a.id, a.public_id, a.watchlist, a.created_at,
                    COALESCE(i.title, json_extract(a.payload, '$.item.title')), i.link, f.url
             FROM alerts a LEFT JOIN items i ON i.id = a.item_id JOIN feeds f ON f.id = a.feed_id
             WHERE a.created_at >= ?1 ORDER BY a.created_at DESC, a.id DESC",
        )?;
        let rows = stmt.query_map([to_ts(since)], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                AlertRow {
                    public_id: r.get(1)?,
                    watchlist: r.get(2)?,
                    created_at: from_ts(r.get(3)?),
                    title: r.get(4)?,
                    link: r.get(5)?,
                    feed_url: r.get(6)?,
                    deliveries: Vec::new(),
                },
            ))
        })?;
        let mut alerts: Vec<(i64, AlertRow)> = rows.collect::<Result<_, _>>()?;
        let mut deliveries = self.conn.prepare_cached(
            "SELECT notifier, state, attempts, last_error, sent_at FROM deliveries
             WHERE alert_id = ?1 ORDER BY notifier",
        )?;
        for (id, alert) in &mut alerts {
            let rows = deliveries.query_map([*id], |r| {
                Ok(DeliveryRow {
                    notifier: r.get(0)?,
                    state: DeliveryState::parse(&r.get::<_, String>(1)?),
                    attempts: r.get(2)?,
                    last_error: r.get(3)?,
                    sent_at: r.get::<_, Option<i64>>(4)?.map(from_ts),
                })
            })?;
            alert.deliveries = rows.collect::<Result<_, _>>()?;
        }
        Ok(alerts.into_iter().map(|(_, a)| a).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn item(key: &str, link: &str) -> NewItem {
        NewItem {
            key: key.into(),
            guid: None,
            title: key.into(),
            link: Some(link.into()),
            canonical_link: Some(link.into()),
            published: None,
            fingerprint: None,
        }
    }

    fn alert(key: &str, link: &str) -> NewAlert {
        NewAlert {
            item_key: key.into(),
            public_id: format!("id-{key}"),
            watchlist: "w".into(),
            canonical_link: Some(link.into()),
            payload: "{}".into(),
            notifiers: vec!["mail".into(), "hook".into()],
        }
    }

    fn poll(db: &mut Db, feed: &str, items: &[(&str, &str)]) -> PollCounts {
        let id = db.feed_state(feed).unwrap().id;
        db.commit_fresh(&FreshPoll {
            feed: id,
            now: Utc::now(),
            title: None,
            validators: Validators::default(),
            status: 200,
            moved_to: None,
            next_due: Utc::now(),
            items: items.iter().map(|(k, l)| item(k, l)).collect(),
            present: items.iter().map(|(k, _)| (k.to_string(), None)).collect(),
            alerts: items.iter().map(|(k, l)| alert(k, l)).collect(),
        })
        .unwrap()
    }

    #[test]
    fn items_and_stories_alert_once() {
        let store = Store::open(std::path::Path::new(":memory:")).unwrap();
        store
            .with_sync(|db| {
                assert_eq!(
                    poll(db, "a", &[("1", "https://x/1")]),
                    PollCounts {
                        new_items: 1,
                        alerts: 1
                    }
                );
                // Re-poll: nothing new.
                assert_eq!(
                    poll(db, "a", &[("1", "https://x/1")]),
                    PollCounts::default()
                );
                // The same story from another feed: a new item, no new alert.
                assert_eq!(
                    poll(db, "b", &[("9", "https://x/1")]),
                    PollCounts {
                        new_items: 1,
                        alerts: 0
                    }
                );
                let id = db.feed_state("a").unwrap().id;
                let unseen = db
                    .unseen_keys(id, &[("1".into(), None), ("2".into(), None)])
                    .unwrap();
                assert_eq!(unseen, HashSet::from(["2".to_string()]));
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_failing_notifier_is_postponed_without_touching_the_others() {
        let store = Store::open(std::path::Path::new(":memory:")).unwrap();
        store
            .with_sync(|db| {
                poll(db, "a", &[("1", "https://x/1"), ("2", "https://x/2")]);
                let now = Utc::now();
                assert_eq!(db.due_notifiers(now).unwrap(), ["hook", "mail"]);
                let mail = db.due_deliveries("mail", now, 10).unwrap();
                assert_eq!(mail.len(), 2);
                let later = now + chrono::Duration::minutes(5);
                db.mark_attempt_failed(mail[0].id, "refused", Some(later))
                    .unwrap();
                db.postpone_notifier("mail", later).unwrap();
                assert!(db.due_deliveries("mail", now, 10).unwrap().is_empty());
                assert_eq!(db.due_deliveries("hook", now, 10).unwrap().len(), 2);
                let due_later = db.due_deliveries("mail", later, 10).unwrap();
                assert_eq!(due_later.len(), 2);
                assert_eq!(
                    due_later.iter().map(|d| d.attempts).sum::<u32>(),
                    1,
                    "postponing is not an attempt"
                );
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn pruning_forgets_old_alerts_and_vanished_items_only() {
        let store = Store::open(std::path::Path::new(":memory:")).unwrap();
        store
            .with_sync(|db| {
                poll(db, "a", &[("1", "https://x/1"), ("2", "https://x/2")]);
                // Item 1 vanished from the feed long ago; item 2 is still listed.
                db.conn.execute(
                    "UPDATE items SET last_present_at = 0, seen_at = 0 WHERE key = '1'",
                    [],
                )?;
                db.conn.execute("UPDATE alerts SET created_at = 0", [])?;
                let cutoff = Utc::now() - chrono::Duration::days(90);
                assert_eq!(
                    db.prune(cutoff)?,
                    Pruned {
                        alerts: 2,
                        items: 1
                    }
                );
                let id = db.feed_state("a")?.id;
                let unseen = db.unseen_keys(id, &[("1".into(), None), ("2".into(), None)])?;
                assert_eq!(unseen, HashSet::from(["1".to_string()]));
                let deliveries: i64 =
                    db.conn
                        .query_row("SELECT COUNT(*) FROM deliveries", [], |r| r.get(0))?;
                assert_eq!(deliveries, 0, "deliveries go with their alerts");
                // A feed whose last document is old (it has answered 304 or failed since) keeps
                // everything that document listed, however old.
                db.conn
                    .execute("UPDATE items SET last_present_at = 0", [])?;
                db.conn
                    .execute("UPDATE feeds SET last_document_at = 86400", [])?;
                assert_eq!(db.prune(cutoff)?, Pruned::default());
                Ok(())
            })
            .unwrap();
    }
}
