//! Matches → alerts: one per (watchlist, story), with a stable id and everything a notifier
//! needs to render it.
//!
//! Owns the alert record, its identity and the canonical link used for cross-feed dedup. Must
//! never send anything or decide who receives it beyond what the watchlist says.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

use crate::matcher::{Snippet, WatchlistMatch};
use crate::model::{Field, Item};
use crate::text::html_to_text;

/// The pseudo-watchlist name of notices about feeds themselves.
pub const FEED_HEALTH: &str = "feed-health";

/// A change in a feed's health worth telling the admin about.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedHealth {
    /// Failing for longer than `general.feed_broken_after`.
    Broken {
        /// Start of the failure streak.
        since: DateTime<Utc>,
        /// Failures in a row.
        failures: u32,
        /// The last error.
        error: String,
    },
    /// Working again after a `Broken` notice.
    Recovered,
}

/// Longest title carried in an alert: a subject line, not an article (and a multi-megabyte
/// title must not make the message too big to deliver).
const TITLE_CHARS: usize = 300;
/// Longest guid or link carried in an alert.
const ID_CHARS: usize = 2048;
/// Longest summary carried in an alert; the link leads to the rest.
const SUMMARY_CHARS: usize = 600;

/// One alert, as stored in the outbox and read by every notifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable id: the same story and watchlist always give the same id.
    pub alert_id: String,
    /// Watchlist name.
    pub watchlist: String,
    /// Where the item came from.
    pub feed: AlertFeed,
    /// The item.
    pub item: AlertItem,
    /// Each distinct term that hit, once.
    pub matches: Vec<AlertMatch>,
}

/// The feed of an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertFeed {
    /// Configured name, else the feed's own title, else its URL.
    pub name: String,
    /// Feed URL.
    pub url: String,
}

/// The item of an alert, as plain text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertItem {
    /// The feed's own guid/id, else feedwatch's derived key.
    pub guid: String,
    /// Plain-text title.
    pub title: String,
    /// Link to the story.
    pub link: Option<String>,
    /// Published time.
    pub published: Option<DateTime<Utc>>,
    /// Plain-text summary, shortened.
    pub summary: String,
}

/// One matched term.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertMatch {
    /// The term as the user wrote it.
    pub term: String,
    /// Where it was found.
    pub field: Field,
    /// Text around the hit, with the hit's position.
    pub snippet: Snippet,
}

impl Alert {
    /// Builds the alert for one watchlist's match on one item.
    pub fn new(feed_name: &str, feed_url: &str, item: &Item, m: &WatchlistMatch) -> Alert {
        let matches = m
            .hits
            .iter()
            .map(|h| AlertMatch {
                term: h.term.clone(),
                field: h.field,
                snippet: h.snippet.clone(),
            })
            .collect();
        Alert {
            alert_id: alert_id(&m.name, feed_url, &item.key),
            watchlist: m.name.clone(),
            feed: AlertFeed {
                name: feed_name.to_owned(),
                url: feed_url.to_owned(),
            },
            item: AlertItem {
                guid: cut(item.guid.as_deref().unwrap_or(&item.key), ID_CHARS),
                title: cut(&one_line(&html_to_text(&item.title)), TITLE_CHARS),
                link: item.link.as_deref().map(|l| cut(l, ID_CHARS)),
                published: item.published,
                summary: shorten(&html_to_text(if item.summary.is_empty() {
                    &item.content
                } else {
                    &item.summary
                })),
            },
            matches,
        }
    }

    /// A notice to the admin that a feed has been failing for too long, or has recovered.
    pub fn feed_notice(
        feed_name: &str,
        feed_url: &str,
        health: FeedHealth,
        now: DateTime<Utc>,
    ) -> Alert {
        let (key, title, summary) = match &health {
            FeedHealth::Broken {
                since,
                failures,
                error,
            } => (
                format!("broken:{}", now.timestamp_millis()),
                format!("Feed \"{feed_name}\" is failing"),
                format!(
                    "Failing since {} ({failures} attempts in a row). Last error: {error}. \
                     Check the URL with `feedwatch inspect {feed_url}`; `feedwatch feeds` shows every feed's state.",
                    since.to_rfc3339()
                ),
            ),
            FeedHealth::Recovered => (
                format!("recovered:{}", now.timestamp_millis()),
                format!("Feed \"{feed_name}\" has recovered"),
                "The feed is being fetched and read again.".to_owned(),
            ),
        };
        let alert_id = alert_id(FEED_HEALTH, feed_url, &key);
        Alert {
            watchlist: FEED_HEALTH.to_owned(),
            feed: AlertFeed {
                name: feed_name.to_owned(),
                url: feed_url.to_owned(),
            },
            item: AlertItem {
                guid: alert_id.clone(),
                title: one_line(&title),
                link: Some(feed_url.to_owned()),
                published: Some(now),
                summary: one_line(&summary),
            },
            alert_id,
            matches: Vec::new(),
        }
    }

    /// Serializes for the outbox.
    pub fn to_payload(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads an outbox payload back.
    pub fn from_payload(payload: &str) -> Result<Alert, serde_json::Error> {
        serde_json::from_str(payload)
    }
}

/// A stable id for (watchlist, feed, item): repeats of the same alert share it, so a receiver
/// can drop a duplicate that an interrupted delivery sent twice.
pub fn alert_id(watchlist: &str, feed_url: &str, item_key: &str) -> String {
    let mut h = Sha256::new();
    for part in [watchlist, feed_url, item_key] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize()[..10]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The link used to recognise one story across feeds: scheme and host lowercased, fragment and
/// tracking parameters (`utm_*`, `fbclid`, `gclid`) removed.
pub fn canonical_link(link: &str) -> Option<String> {
    let mut url = Url::parse(link.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return Some(url.to_string());
    }
    url.set_fragment(None);
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| {
            let k = k.to_ascii_lowercase();
            !(k.starts_with("utm_") || k == "fbclid" || k == "gclid")
        })
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    Some(url.to_string())
}

/// Collapses newlines so a title stays on one line (and can never reach a mail header raw).
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// At most `max` characters of `s`, with "…" when cut.
fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((at, _)) => format!("{}…", &s[..at]),
    }
}

fn shorten(s: &str) -> String {
    let s = one_line(s);
    if s.chars().count() <= SUMMARY_CHARS {
        return s;
    }
    let cut: String = s.chars().take(SUMMARY_CHARS).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(a, _)| a);
    format!("{cut} …")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_links_drop_tracking_and_case() {
        assert_eq!(
            canonical_link("HTTPS://News.Example.ORG/a/b?utm_source=x&id=3&fbclid=y#top")
                .as_deref(),
            Some("https://news.example.org/a/b?id=3")
        );
        assert_eq!(
            canonical_link("https://example.org/story?utm_medium=rss").as_deref(),
            Some("https://example.org/story")
        );
        assert_eq!(
            canonical_link("https://example.org/story?gclid=1"),
            canonical_link("https://example.org/story#comments")
        );
        assert_eq!(canonical_link("not a url"), None);
    }

    #[test]
    fn alert_ids_are_stable_and_distinct() {
        let a = alert_id("w", "https://f", "guid:1");
        assert_eq!(a, alert_id("w", "https://f", "guid:1"));
        assert_ne!(a, alert_id("w2", "https://f", "guid:1"));
        assert_eq!(a.len(), 20);
    }

    #[test]
    fn huge_titles_are_cut() {
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("abcd", 3), "abc…");
        assert_eq!(
            cut(&"é".repeat(1_000_000), TITLE_CHARS).chars().count(),
            TITLE_CHARS + 1
        );
    }

    #[test]
    fn long_summaries_are_cut_at_a_word() {
        let s = shorten(&"word ".repeat(500));
        assert!(s.ends_with("word …"));
        assert!(s.chars().count() <= SUMMARY_CHARS + 2);
    }
}
