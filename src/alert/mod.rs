//! Matches → alerts: one per (watchlist, story), with a stable id and everything a notifier
//! needs to render it.
//!
//! Owns the alert record, the rules of alert identity ([`identity`]: why an item does or
//! doesn't alert twice), and building this poll's new items, alerts and feed notices for the
//! store. Must never send anything or decide who receives it beyond what the watchlist (or
//! `general.admin_notify`) says.

pub mod identity;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::WatchlistConfig;
use crate::health::FeedHealth;
use crate::matcher::{ItemText, Snippet, WatchlistMatch};
use crate::model::{AlertId, FEED_NOTICE_NAME, FeedUrl, Field, Item, ItemIdentity, NotifierName};
use crate::store::{FeedNotice, ItemEdit, NewAlert, NewItem};
use crate::text::{html_to_text, is_unsafe};

pub use identity::{
    Edit, Listing, NewEntry, STORY_WINDOW, alert_id, backlog_alerts, canonical_link,
    completes_first_fetch, copies, stories_since, story_links,
};

/// Longest title carried in an alert: a subject line, not an article (and a multi-megabyte
/// title must not make the message too big to deliver).
const TITLE_CHARS: usize = 300;
/// Longest guid or link carried in an alert.
const ID_CHARS: usize = 2048;
/// Longest summary carried in an alert; the link leads to the rest.
const SUMMARY_CHARS: usize = 600;
/// Most alerts one poll of one feed creates (counted before cross-feed dedup). A feed that
/// floods (taken over, or re-publishing its archive under new ids) costs its readers this
/// many alerts per poll at most; the entries beyond are recorded as seen and never alert for
/// that text (an edit of it may, once per watchlist, as an update: see [`identity`]).
pub const MAX_ALERTS_PER_POLL: usize = 100;

/// One alert, as stored in the outbox and read by every notifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable id: the same story and watchlist always give the same id.
    pub alert_id: AlertId,
    /// Watchlist name.
    pub watchlist: String,
    /// Where the item came from.
    pub feed: AlertFeed,
    /// The item.
    pub item: AlertItem,
    /// Each distinct term that hit, once.
    pub matches: Vec<AlertMatch>,
    /// The story was seen before and its edited text newly matches this watchlist.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub update: bool,
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
    pub fn new(feed_name: &str, feed_url: &FeedUrl, item: &Item, m: &WatchlistMatch) -> Alert {
        let matches = m
            .hits
            .iter()
            .map(|h| AlertMatch {
                term: h.term.clone(),
                field: h.field,
                snippet: blank_controls(h.snippet.clone()),
            })
            .collect();
        Alert {
            alert_id: alert_id(&m.name, feed_url, item.key.as_str()),
            watchlist: m.name.clone(),
            feed: AlertFeed {
                name: feed_name.to_owned(),
                url: feed_url.to_string(),
            },
            item: AlertItem {
                guid: cut(item.guid.as_deref().unwrap_or(item.key.as_str()), ID_CHARS),
                title: match one_line_upto(&html_to_text(&item.title), TITLE_CHARS) {
                    (title, true) => title + "…",
                    (title, false) => title,
                },
                link: item.link.as_deref().map(|l| cut(l, ID_CHARS)),
                published: item.published,
                summary: shorten(&html_to_text(if item.summary.is_empty() {
                    &item.content
                } else {
                    &item.summary
                })),
            },
            matches,
            update: false,
        }
    }

    /// The title as every notifier shows it: `Updated: …` for an edited story.
    pub fn headline(&self) -> std::borrow::Cow<'_, str> {
        if self.update {
            format!("Updated: {}", self.item.title).into()
        } else {
            self.item.title.as_str().into()
        }
    }

    /// A notice to the admin that a feed has been failing for too long, or has recovered.
    pub fn feed_notice(
        feed_name: &str,
        feed_url: &FeedUrl,
        health: &FeedHealth,
        now: DateTime<Utc>,
    ) -> Alert {
        let (key, title, summary) = match health {
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
        let alert_id = alert_id(FEED_NOTICE_NAME, feed_url, &key);
        Alert {
            watchlist: FEED_NOTICE_NAME.to_owned(),
            feed: AlertFeed {
                name: feed_name.to_owned(),
                url: feed_url.to_string(),
            },
            item: AlertItem {
                guid: alert_id.to_string(),
                title: one_line(&title),
                link: Some(feed_url.to_string()),
                published: Some(now),
                summary: one_line(&summary),
            },
            alert_id,
            matches: Vec::new(),
            update: false,
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

/// The feed a poll read, as its alerts name it.
#[derive(Debug, Clone, Copy)]
pub struct FeedRef<'a> {
    /// Display name (see `FeedConfig::display_name`).
    pub name: &'a str,
    /// The feed's identity.
    pub url: &'a FeedUrl,
}

/// A new or edited entry with its plain title and what matched it: the input to this poll's
/// alerts.
#[derive(Debug, Clone)]
pub struct MatchedEntry {
    /// The entry and its story.
    pub entry: NewEntry,
    /// Its title as plain text on one line, as recorded.
    pub title: String,
    /// The watchlists that matched it.
    pub matches: Vec<WatchlistMatch>,
}

impl MatchedEntry {
    /// `entry` with what matched it in `text`, whose plain title is the one [`plain_title`]
    /// would make: read once for matching, not again for the record.
    pub fn matched(entry: NewEntry, text: &ItemText, matches: Vec<WatchlistMatch>) -> MatchedEntry {
        MatchedEntry {
            title: one_line(text.plain(Field::Title)),
            entry,
            matches,
        }
    }
}

/// A title as recorded and shown: plain text on one line, with markup and entities (even
/// double-escaped ones) resolved.
pub fn plain_title(raw: &str) -> String {
    one_line(&html_to_text(raw))
}

/// The alerts of one poll of one feed, within [`MAX_ALERTS_PER_POLL`].
#[derive(Debug, Default)]
pub struct PollAlerts {
    /// The alerts kept: the first ones, in document order.
    pub alerts: Vec<NewAlert>,
    /// How many more the entries called for; their entries are still recorded as seen (or
    /// their edit recorded), so that text never alerts later.
    pub dropped: usize,
}

/// The alerts of this poll's new and edited entries: one per matching watchlist, to its
/// notifiers, at most [`MAX_ALERTS_PER_POLL`] (the first ones, in document order). An edited
/// entry alerts as an update, and only for the watchlists that never alerted on it.
pub fn build(
    feed: FeedRef<'_>,
    entries: &[MatchedEntry],
    watchlists: &[WatchlistConfig],
) -> PollAlerts {
    let mut out = PollAlerts::default();
    for e in entries {
        for m in &e.matches {
            let Some(watchlist) = watchlists.get(m.watchlist) else {
                continue;
            };
            if !e.entry.may_alert(&m.name) {
                continue;
            }
            if out.alerts.len() == MAX_ALERTS_PER_POLL {
                out.dropped += 1;
                continue;
            }
            let mut alert = Alert::new(feed.name, feed.url, &e.entry.item, m);
            alert.update = e.entry.edit.is_some();
            out.alerts.push(NewAlert {
                item_key: e.entry.item.key.clone(),
                id: alert.alert_id.clone(),
                watchlist: m.name.clone(),
                story: e.entry.story.clone(),
                payload: alert.to_payload(),
                notifiers: watchlist.notify.clone(),
            });
        }
    }
    out
}

/// What this poll records of its new and edited entries.
#[derive(Debug, Default)]
pub struct Records {
    /// The entries never listed before.
    pub items: Vec<NewItem>,
    /// The edited entries' new fingerprint and title.
    pub edits: Vec<ItemEdit>,
}

/// The records of this poll's new and edited entries.
pub fn records(entries: Vec<MatchedEntry>, backlog: bool) -> Records {
    let mut out = Records::default();
    for e in entries {
        let quiet = backlog && !e.matches.is_empty();
        let item = e.entry.item;
        if e.entry.edit.is_some() {
            // The store only calls an entry edited when it has a fingerprint.
            if let Some(fingerprint) = item.fingerprint {
                out.edits.push(ItemEdit {
                    key: item.key,
                    fingerprint,
                    title: e.title,
                });
            }
            continue;
        }
        out.items.push(NewItem {
            identity: ItemIdentity {
                key: item.key,
                fingerprint: item.fingerprint,
            },
            guid: item.guid,
            title: e.title,
            link: item.link,
            story: e.entry.story,
            published: item.published,
            quiet,
        });
    }
    out
}

/// The notice telling `admins` about a change in a feed's health.
pub fn feed_notice(
    feed: FeedRef<'_>,
    health: &FeedHealth,
    now: DateTime<Utc>,
    admins: &[NotifierName],
) -> FeedNotice {
    let notice = Alert::feed_notice(feed.name, feed.url, health, now);
    FeedNotice {
        id: notice.alert_id.clone(),
        payload: notice.to_payload(),
        notifiers: admins.to_vec(),
        broken: matches!(health, FeedHealth::Broken { .. }),
    }
}

/// Collapses newlines and other control characters into single spaces, so a title stays on
/// one line (and can never reach a mail header raw) and cannot drive a terminal.
pub fn one_line(s: &str) -> String {
    one_line_upto(s, usize::MAX).0
}

/// The first `max` characters of [`one_line`]`(s)`, and whether there were more; reads no
/// further than it needs to (a feed's field may be megabytes long).
fn one_line_upto(s: &str, max: usize) -> (String, bool) {
    let mut out = String::new();
    let (mut chars, mut space) = (0, false);
    for c in s.chars() {
        if c.is_whitespace() || is_unsafe(c) {
            space = !out.is_empty();
            continue;
        }
        for c in [' ', c].into_iter().skip(usize::from(!space)) {
            if chars == max {
                return (out, true);
            }
            out.push(c);
            chars += 1;
        }
        space = false;
    }
    (out, false)
}

/// The snippet with every control character and line separator blanked, byte for byte so the
/// mark stays in place: entities such as `&#x9b;` decode to C1 controls, which would drive a
/// terminal or a mail reader showing the alert.
fn blank_controls(mut snippet: Snippet) -> Snippet {
    if snippet.text.chars().any(is_unsafe) {
        let mut text = String::with_capacity(snippet.text.len());
        for c in snippet.text.chars() {
            if is_unsafe(c) {
                text.extend(std::iter::repeat_n(' ', c.len_utf8()));
            } else {
                text.push(c);
            }
        }
        snippet.text = text;
    }
    snippet
}

/// At most `max` characters of `s`, with "…" when cut.
fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((at, _)) => format!("{}…", &s[..at]),
    }
}

fn shorten(s: &str) -> String {
    let (cut, more) = one_line_upto(s, SUMMARY_CHARS);
    if !more {
        return cut;
    }
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(a, _)| a);
    format!("{cut} …")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_titles_are_cut() {
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("abcd", 3), "abc…");
        assert_eq!(
            cut(&"é".repeat(1_000_000), TITLE_CHARS).chars().count(),
            TITLE_CHARS + 1
        );
    }

    /// Watchlists "a" and "b".
    fn two_watchlists() -> crate::config::Config {
        crate::config::Config::from_str_at(
            "[[watchlists]]\nname = \"a\"\nterms = [\"x\"]\n\n\
             [[watchlists]]\nname = \"b\"\nterms = [\"y\"]\n\n\
             [notifiers.out]\ntype = \"stdout\"\n",
            std::path::Path::new("t.toml"),
        )
        .expect("config")
    }

    fn feed_url() -> FeedUrl {
        FeedUrl::new(&url::Url::parse("https://example.org/feed").unwrap())
    }

    /// Entry number `i` (guid `i`, fingerprint `hash:i`), matched by both watchlists of
    /// `config`, new or an `edit`.
    fn matching_both(config: &crate::config::Config, i: usize, edit: Option<Edit>) -> MatchedEntry {
        let item = Item {
            key: crate::model::ItemKey::new(crate::model::KeySource::Guid, &i.to_string()),
            title: format!("story {i}"),
            fingerprint: Some(format!("hash:{i}")),
            ..Item::default()
        };
        let matches = (0..2)
            .map(|w| WatchlistMatch {
                watchlist: w,
                name: config.watchlists[w].name().to_owned(),
                hits: Vec::new(),
            })
            .collect();
        let text = ItemText::from_item(&item);
        let entry = NewEntry {
            item,
            story: None,
            edit,
        };
        MatchedEntry::matched(entry, &text, matches)
    }

    #[test]
    fn a_flood_from_one_poll_is_capped_in_document_order() {
        let config = two_watchlists();
        let entry = |i: usize| matching_both(&config, i, None);
        let url = feed_url();
        let feed = FeedRef {
            name: "F",
            url: &url,
        };
        let few: Vec<MatchedEntry> = (0..MAX_ALERTS_PER_POLL / 2).map(entry).collect();
        let built = build(feed, &few, &config.watchlists);
        assert_eq!(
            (built.alerts.len(), built.dropped),
            (MAX_ALERTS_PER_POLL, 0)
        );

        let many: Vec<MatchedEntry> = (0..MAX_ALERTS_PER_POLL).map(entry).collect();
        let built = build(feed, &many, &config.watchlists);
        assert_eq!(
            (built.alerts.len(), built.dropped),
            (MAX_ALERTS_PER_POLL, MAX_ALERTS_PER_POLL)
        );
        let last = &built.alerts[MAX_ALERTS_PER_POLL - 1];
        let expected = (MAX_ALERTS_PER_POLL / 2 - 1).to_string();
        assert_eq!(
            (last.item_key.as_str(), last.watchlist.as_str()),
            (format!("guid:{expected}").as_str(), "b")
        );
    }

    #[test]
    fn an_edit_alerts_as_an_update_only_where_it_never_alerted_and_within_the_cap() {
        let config = two_watchlists();
        // An edit storm: every entry edited, every one matching both watchlists, and "a"
        // alerted on each of them before.
        let edited = |i: usize| {
            let edit = Edit {
                alerted: vec!["a".into()],
            };
            matching_both(&config, i, Some(edit))
        };
        let url = feed_url();
        let feed = FeedRef {
            name: "F",
            url: &url,
        };
        let storm: Vec<MatchedEntry> = (0..MAX_ALERTS_PER_POLL + 5).map(edited).collect();
        let built = build(feed, &storm, &config.watchlists);
        assert_eq!(
            (built.alerts.len(), built.dropped),
            (MAX_ALERTS_PER_POLL, 5),
            "the alerted watchlist takes no room under the cap"
        );
        assert!(built.alerts.iter().all(|a| a.watchlist == "b"));
        let alert = Alert::from_payload(&built.alerts[0].payload).unwrap();
        assert!(alert.update);
        assert_eq!(alert.headline(), "Updated: story 0");

        let recorded = records(storm, false);
        assert!(recorded.items.is_empty(), "an edit is no new item");
        assert_eq!(recorded.edits.len(), MAX_ALERTS_PER_POLL + 5);
        assert_eq!(recorded.edits[0].fingerprint, "hash:0");
    }

    #[test]
    fn snippets_carry_no_control_character_and_keep_their_mark() {
        let text = "a\u{9b}2J \u{7f}ISIS\x1b b\u{2028}".to_string();
        let start = text.find("ISIS").unwrap();
        let snippet = Snippet {
            mark_start: start,
            mark_end: start + 4,
            text,
        };
        let clean = blank_controls(snippet);
        assert!(!clean.text.chars().any(is_unsafe), "{:?}", clean.text);
        assert_eq!(clean.marked_text(), "a  2J  **ISIS**  b   ");
    }

    #[test]
    fn one_line_upto_gives_a_prefix_of_the_whole_line() {
        for s in ["a b", " a  b\nc ", "ab cd\u{7f}ef ", "\x1b", "é é é"] {
            let whole = s
                .split(|c: char| c.is_whitespace() || is_unsafe(c))
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            assert_eq!(one_line(s), whole);
            for max in 0..8 {
                let prefix: String = whole.chars().take(max).collect();
                let more = whole.chars().count() > max;
                assert_eq!(one_line_upto(s, max), (prefix, more), "{s:?} {max}");
            }
        }
    }

    #[test]
    fn one_line_leaves_no_control_character() {
        assert_eq!(
            one_line(" a\r\nb\x1b[31m\u{2028}c\u{85}d\u{7f} "),
            "a b [31m c d"
        );
    }

    #[test]
    fn long_summaries_are_cut_at_a_word() {
        let s = shorten(&"word ".repeat(500));
        assert!(s.ends_with("word …"));
        assert!(s.chars().count() <= SUMMARY_CHARS + 2);
    }
}
