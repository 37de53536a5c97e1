//! What the CLI shows: recent alerts with the state of each delivery.
//!
//! Owns read-only report queries. Must never write.

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::{from_ts, to_ts};
use crate::model::{AlertId, FeedUrl, NotifierName};
use crate::store::{AlertRecord, DeliveryRecord, DeliveryState, SentAs, StoreError};

fn delivery_state(s: &str) -> DeliveryState {
    match s {
        "sent" => DeliveryState::Sent,
        "failed" => DeliveryState::Failed,
        _ => DeliveryState::Pending,
    }
}

/// Alerts created since `since`, newest first, with their deliveries.
pub(super) fn alerts_since(
    c: &Connection,
    since: DateTime<Utc>,
) -> Result<Vec<AlertRecord>, StoreError> {
    let mut stmt = c.prepare(
        "SELECT a.id, a.public_id, a.watchlist, a.created_at,
                COALESCE(i.title, json_extract(a.payload, '$.item.title')), i.link, f.url
         FROM alerts a LEFT JOIN items i ON i.id = a.item_id JOIN feeds f ON f.id = a.feed_id
         WHERE a.created_at >= ?1 ORDER BY a.created_at DESC, a.id DESC",
    )?;
    let rows = stmt.query_map([to_ts(since)], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            AlertRecord {
                id: AlertId::new(r.get(1)?),
                watchlist: r.get(2)?,
                created_at: from_ts(r.get(3)?),
                title: r.get(4)?,
                link: r.get(5)?,
                feed_url: FeedUrl::from_string(r.get(6)?),
                deliveries: Vec::new(),
            },
        ))
    })?;
    let mut alerts: Vec<(i64, AlertRecord)> = rows.collect::<Result<_, _>>()?;
    let mut deliveries = c.prepare_cached(
        "SELECT notifier, state, attempts, last_error, sent_at,
                CASE state WHEN 'pending' THEN next_attempt_at END, sent_as,
                CASE state WHEN 'pending' THEN held_until END
         FROM deliveries
         WHERE alert_id = ?1 ORDER BY notifier",
    )?;
    for (id, alert) in &mut alerts {
        let rows = deliveries.query_map([*id], |r| {
            Ok(DeliveryRecord {
                notifier: NotifierName(r.get(0)?),
                state: delivery_state(&r.get::<_, String>(1)?),
                attempts: r.get(2)?,
                last_error: r.get(3)?,
                sent_at: r.get::<_, Option<i64>>(4)?.map(from_ts),
                next_attempt_at: r.get::<_, Option<i64>>(5)?.map(from_ts),
                sent_as: r
                    .get::<_, Option<String>>(6)?
                    .as_deref()
                    .and_then(SentAs::parse),
                held_until: r.get::<_, Option<i64>>(7)?.map(from_ts),
            })
        })?;
        alert.deliveries = rows.collect::<Result<_, _>>()?;
    }
    Ok(alerts.into_iter().map(|(_, a)| a).collect())
}
