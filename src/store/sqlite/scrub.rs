//! Credentials that older feedwatch versions stored: a feed configured as
//! `https://user:password@host/feed` was stored, and quoted in its alerts, with the password.
//!
//! Owns removing them at every open, so an upgraded database holds no password however it was
//! written. Must never change a feed's history: the row keeps its id, items and alerts, and
//! only the address text changes.

use rusqlite::{Connection, OptionalExtension, params};
use url::Url;

use crate::model::FeedUrl;
use crate::store::StoreError;

/// Rewrites every stored feed address that carries a user name or password, and the alerts
/// that quote it. A feed already polled under its clean address since the upgrade keeps that
/// row; the old one, then only history, is removed with its items and alerts.
pub(super) fn feed_credentials(c: &mut Connection) -> Result<(), StoreError> {
    let tx = c.transaction()?;
    let stored: Vec<(i64, String)> = tx
        .prepare("SELECT id, url FROM feeds WHERE url LIKE '%@%'")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (id, written) in stored {
        let Ok(url) = Url::parse(&written) else {
            continue;
        };
        let clean = FeedUrl::new(&url);
        if clean.as_str() == written {
            continue;
        }
        let taken: Option<i64> = tx
            .query_row(
                "SELECT id FROM feeds WHERE url = ?1",
                [clean.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        if taken.is_some() {
            tx.execute("DELETE FROM feeds WHERE id = ?1", [id])?;
            continue;
        }
        tx.execute(
            "UPDATE feeds SET url = ?2 WHERE id = ?1",
            params![id, clean.as_str()],
        )?;
        // Alerts quote the address as serialized, verbatim (feed.url, and a notice's link
        // and advice), so replacing the text reaches every copy.
        tx.execute(
            "UPDATE alerts SET payload = replace(payload, ?2, ?3) WHERE feed_id = ?1",
            params![id, written, clean.as_str()],
        )?;
    }
    tx.commit()?;
    Ok(())
}
