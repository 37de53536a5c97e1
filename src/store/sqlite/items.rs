//! Seen items: which entries of a document are new or edited, when items were new, and
//! forgetting them.
//!
//! Owns reads and deletions on the `items` table (inserts happen in [`super::commit`], in the
//! poll's one transaction). Must never decide what counts as the same item: the identities
//! (key, fingerprint) arrive computed.

use chrono::{DateTime, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{CachedStatement, Connection, params};

use super::{from_ts, to_ts};
use crate::model::{FeedId, ItemIdentity};
use crate::store::{ItemRhythm, Pruned, StoreError, Unseen};

/// Of these items, those this feed never listed before (an item is known when its key is, or
/// its fingerprint is), and the known ones whose content fingerprint has changed to one this
/// feed has not listed either, with the watchlists that already alerted on each or on its
/// story through another feed.
///
/// A known, unchanged item costs one indexed lookup, its stored fingerprint compared in place;
/// only an edited one costs more.
pub(super) fn unseen(
    c: &Connection,
    feed: FeedId,
    items: Vec<ItemIdentity>,
) -> Result<Unseen, StoreError> {
    let mut by_key =
        c.prepare_cached("SELECT id, fingerprint FROM items WHERE feed_id = ?1 AND key = ?2")?;
    let mut by_print =
        c.prepare_cached("SELECT 1 FROM items WHERE feed_id = ?1 AND fingerprint = ?2")?;
    // The watchlists that alerted on this item, or on its story through another feed (at any
    // age: an edit of a syndicated copy is no news to a watchlist that had the story).
    let mut alerted = c.prepare_cached(
        "SELECT watchlist FROM alerts WHERE item_id = ?1
         UNION
         SELECT a.watchlist FROM alerts a JOIN items i ON i.id = ?1
          WHERE i.canonical_link IS NOT NULL AND a.canonical_link = i.canonical_link
         ORDER BY 1",
    )?;
    let mut unseen = Unseen::default();
    for item in items {
        let print_known = |by_print: &mut CachedStatement<'_>| match &item.fingerprint {
            Some(p) => by_print.exists(params![feed.0, p]),
            None => Ok(false),
        };
        match stored(&mut by_key, feed, &item)? {
            Stored::Same => {}
            Stored::Absent => {
                if !print_known(&mut by_print)? {
                    unseen.new.insert(item.key);
                }
            }
            // Text another item of this feed already had is no news (stories swapped guids).
            Stored::Changed(row) => {
                if !print_known(&mut by_print)? {
                    let watchlists =
                        alerted
                            .query_map([row], |r| r.get(0))?
                            .collect::<Result<Vec<String>, _>>()?;
                    unseen.edited.insert(item.key, watchlists);
                }
            }
        }
    }
    Ok(unseen)
}

/// What the store holds under an item's key.
enum Stored {
    /// Nothing: the key is new.
    Absent,
    /// The item, with the same fingerprint (or the entry has too little text to tell).
    Same,
    /// The item (this row), with another fingerprint: its content was edited.
    Changed(i64),
}

fn stored(
    by_key: &mut CachedStatement<'_>,
    feed: FeedId,
    item: &ItemIdentity,
) -> Result<Stored, StoreError> {
    let mut rows = by_key.query(params![feed.0, item.key.as_str()])?;
    let Some(row) = rows.next()? else {
        return Ok(Stored::Absent);
    };
    let Some(print) = &item.fingerprint else {
        return Ok(Stored::Same);
    };
    // Compared in place: the hot path of a re-poll, where nearly every item is known.
    let same = matches!(row.get_ref(1)?, ValueRef::Text(t) if t == print.as_bytes());
    Ok(if same {
        Stored::Same
    } else {
        Stored::Changed(row.get(0)?)
    })
}

/// When this feed's items were first and last new, and how many arrived after the first fetch.
pub(super) fn rhythm(c: &Connection, feed: FeedId) -> Result<Option<ItemRhythm>, StoreError> {
    let row: (Option<i64>, Option<i64>, i64) = c.query_row(
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

/// Forgets what is older than `cutoff`: alerts (with their deliveries) created before it, and
/// items that no remaining alert needs and that their feed's latest document no longer lists,
/// since before it. A feed that answers 304 or fails keeps all its items: what its last
/// document listed may still be listed.
pub(super) fn prune(c: &mut Connection, cutoff: DateTime<Utc>) -> Result<Pruned, StoreError> {
    let tx = c.transaction()?;
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
