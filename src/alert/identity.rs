//! Why an item does or doesn't alert twice: the whole dedup chain, on one page.
//!
//! An alert is one (watchlist, story). Five identities and rules, checked in this order,
//! decide whether a matched entry becomes a new alert:
//!
//! 1. **Item key** (`parse::key`, per feed). The feed's own guid/id, else the entry's link,
//!    else a hash of its plain title and body (`guid:…`, `link:…`, `hash:…`). Entries of one
//!    document that would share a key step down that chain until they differ, so distinct
//!    stories are never merged. An entry whose key this feed has listed before is not new, and
//!    only new entries can alert (but see 5): re-polls, 304s and restarts never repeat an
//!    alert.
//! 2. **Content fingerprint** (`parse::key`, per feed). A hash of the plain title and body,
//!    when they say enough to tell stories apart. An entry is also known when its fingerprint
//!    is, so a feed whose keys shift (guids reused or regenerated, links moved) does not bring
//!    its old stories back as news. Within one document, a second copy of an entry is the same
//!    entry listed twice, whether under the same key or under another key with the same link
//!    and fingerprint (one story under two guids); [`Listing::of`] keeps the first
//!    ([`copies`]).
//! 3. **Canonical story link** ([`canonical_link`], across feeds). The link with scheme and
//!    host lowercased and the fragment and tracking parameters removed. A link shared by
//!    several different entries of one document (a feed linking every item to its home page)
//!    says nothing about the story and is not used ([`story_links`]).
//! 4. **Cross-feed window** ([`STORY_WINDOW`]). A story alerted for a watchlist through one
//!    feed does not alert again for that watchlist through another feed within a week, so a
//!    story syndicated by many feeds alerts once. Within one feed the key decides alone: a
//!    live blog may list new stories under one page link.
//! 5. **Content edits** (an update). An entry whose key this feed listed before but whose
//!    fingerprint has changed (an edited headline or body, the same guid) is matched again,
//!    unless its new fingerprint is one this feed already listed. Each watchlist that now
//!    matches and never alerted on the item alerts once, marked as an update
//!    (`Alert::update`, shown as "Updated: …"); a watchlist that alerted on it, before or
//!    after an edit, or on its story through another feed (at any age), never alerts on it
//!    again, and the window of 4 holds as for a new entry.
//!    The new fingerprint is recorded, so the same edit never matches again, and an edit storm
//!    (a feed rewriting every entry on each poll) costs each (watchlist, item) one alert at
//!    most, within the per-poll cap like any alert. An entry with too little text for a
//!    fingerprint, or a `hash:` key (which changes with the text: the edit is a new entry),
//!    is never an update. A new feed's backlog is matched but does not alert; its entries
//!    that matched are recorded as such, and an edit of one never alerts (it named the
//!    watched group all along). An alert is remembered for `general.retention`: an entry still
//!    listed after that (an evergreen page) whose edit matches again alerts once more.
//!
//! The store enforces the result in the poll's one transaction: one item per (feed, key), one
//! alert per (watchlist, item), only items this commit recorded or saw edited alerting, and
//! the window check against alerts already stored. A new feed's backlog is recorded without
//! alerting ([`backlog_alerts`]), and the alert id ([`alert_id`]) is stable, so a delivery
//! repeated after a crash can be recognised by its receiver. After `general.retention` an
//! alert and the items its feed no longer lists are forgotten, so a story that comes back
//! after that alerts again.
//!
//! Owns these rules as pure functions. Must never touch the store or the network.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use url::Url;

use crate::model::{AlertId, FeedUrl, Item, ItemIdentity, ItemKey, StoryLink};
use crate::store::Unseen;

/// How long a story alerted through one feed keeps other feeds that carry it from alerting for
/// the same watchlist.
pub const STORY_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// The start of the cross-feed window for a poll at `now`.
pub fn stories_since(now: DateTime<Utc>) -> DateTime<Utc> {
    let window = chrono::Duration::from_std(STORY_WINDOW).unwrap_or(chrono::Duration::MAX);
    now.checked_sub_signed(window)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Whether the new entries of this poll may alert: a new feed's backlog is recorded, not
/// alerted (the user wants news, not history), unless the feed asks otherwise.
pub fn backlog_alerts(first_fetch_done: bool, alert_on_first_fetch: bool) -> bool {
    first_fetch_done || alert_on_first_fetch
}

/// Whether a document listing `listed` entries completes a feed's first fetch. An empty first
/// document (a maintenance page, a feed not yet filled) does not: the backlog that appears
/// later must not alert as if it were news.
pub fn completes_first_fetch(listed: usize) -> bool {
    listed > 0
}

/// A stable id for (watchlist, feed, item): repeats of the same alert share it, so a receiver
/// can drop a duplicate that an interrupted delivery sent twice.
pub fn alert_id(watchlist: &str, feed: &FeedUrl, item_key: &str) -> AlertId {
    let mut h = Sha256::new();
    for part in [watchlist, feed.as_str(), item_key] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    AlertId::new(
        h.finalize()[..10]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

/// The link used to recognise one story across feeds: scheme and host lowercased, fragment and
/// tracking parameters (`utm_*`, `fbclid`, `gclid`) removed.
pub fn canonical_link(link: &str) -> Option<StoryLink> {
    let mut url = Url::parse(link.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return Some(StoryLink::new(url.to_string()));
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
    Some(StoryLink::new(url.to_string()))
}

/// The story link of each entry of one document, where it can identify a story across feeds.
///
/// A link shared by several different entries of one document says nothing about the story,
/// so it is not used: otherwise only the first of those stories would ever alert.
pub fn story_links<'a>(
    items: impl IntoIterator<Item = &'a Item>,
) -> HashMap<&'a ItemKey, StoryLink> {
    let mut by_link: HashMap<StoryLink, Vec<&ItemKey>> = HashMap::new();
    for item in items {
        if let Some(link) = item.link.as_deref().and_then(canonical_link) {
            let keys = by_link.entry(link).or_default();
            if !keys.contains(&&item.key) {
                keys.push(&item.key);
            }
        }
    }
    by_link
        .into_iter()
        .filter_map(|(link, keys)| match keys.as_slice() {
            [key] => Some((*key, link)),
            _ => None,
        })
        .collect()
}

/// A document's entries, split by whether this feed listed them before.
#[derive(Debug, Default)]
pub struct Listing {
    /// Entries to match, each once, with its story link: those never listed before, and those
    /// listed before whose text has changed since.
    pub new: Vec<NewEntry>,
    /// Entries already known and unchanged that the document still lists (kept from
    /// retention).
    pub present: Vec<ItemIdentity>,
}

/// An entry to match: never listed before by this feed, or listed before and edited since.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// The entry.
    pub item: Item,
    /// The story it tells, when its link identifies one across feeds.
    pub story: Option<StoryLink>,
    /// `Some` when the feed listed the entry before and its text has changed since: then it
    /// alerts as an update, and only for the watchlists that never alerted on it.
    pub edit: Option<Edit>,
}

/// What is known about an edited entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Edit {
    /// The watchlists that already alerted on the entry, which never alert on it again.
    pub alerted: Vec<String>,
}

impl NewEntry {
    /// Whether `watchlist` may still alert on this entry (any may, on a new one).
    pub fn may_alert(&self, watchlist: &str) -> bool {
        self.edit
            .as_ref()
            .is_none_or(|e| !e.alerted.iter().any(|w| w == watchlist))
    }
}

impl Listing {
    /// Splits a document's `items` by the store's answer `unseen` (entries never listed
    /// before, entries edited since). A feed may list the same entry twice, under one key or
    /// (same link, same text) under two; the first copy is the one recorded ([`copies`]).
    pub fn of(items: Vec<Item>, mut unseen: Unseen) -> Listing {
        // One lookup for a known entry (the re-poll's common case); the map of edits is
        // nearly always empty.
        let news: Vec<bool> = items
            .iter()
            .map(|i| {
                unseen.new.contains(&i.key)
                    || (!unseen.edited.is_empty() && unseen.edited.contains_key(&i.key))
            })
            .collect();
        let copy = copies(&items, &news);
        let stories: HashMap<ItemKey, StoryLink> = story_links(
            items
                .iter()
                .zip(&copy)
                .filter(|(_, c)| !**c)
                .map(|(i, _)| i),
        )
        .into_iter()
        .map(|(k, l)| (k.clone(), l))
        .collect();
        let mut listing = Listing::default();
        for ((item, news), copy) in items.into_iter().zip(news).zip(copy) {
            if copy {
                continue;
            }
            if !news {
                listing.present.push(ItemIdentity {
                    key: item.key,
                    fingerprint: item.fingerprint,
                });
                continue;
            }
            let edit = unseen
                .edited
                .remove(&item.key)
                .map(|alerted| Edit { alerted });
            let story = stories.get(&item.key).cloned();
            listing.new.push(NewEntry { item, story, edit });
        }
        listing
    }

    /// How many entries the document listed (copies of one entry count once).
    pub fn listed(&self) -> usize {
        self.new.len() + self.present.len()
    }
}

/// Which entries of one document are copies of an earlier entry, among its news (`news`: never
/// listed before, or edited): the same key, or the same link and the same text (content
/// fingerprint) under another key, as a feed that lists one story under two guids does. Such a
/// copy would otherwise alert a second time. A known entry is never a copy: the store already
/// recognised its key or its text.
///
/// Entries whose text is too short for a fingerprint are copies only by key: that little text
/// cannot tell two stories apart.
pub fn copies(items: &[Item], news: &[bool]) -> Vec<bool> {
    let mut keys = HashSet::new();
    let mut texts = HashSet::new();
    items
        .iter()
        .zip(news)
        .map(|(item, &news)| {
            if !news {
                return false;
            }
            let new_key = keys.insert(&item.key);
            let new_text = match item.fingerprint.as_deref() {
                Some(print) => texts.insert((print, item.link.as_deref())),
                None => true,
            };
            !(new_key && new_text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::KeySource;

    fn item(key: &str, link: &str) -> Item {
        Item {
            key: ItemKey::new(KeySource::Guid, key),
            link: Some(link.into()),
            ..Item::default()
        }
    }

    #[test]
    fn canonical_links_drop_tracking_and_case() {
        let link = |l: &str| canonical_link(l).map(|s| s.as_str().to_owned());
        assert_eq!(
            link("HTTPS://News.Example.ORG/a/b?utm_source=x&id=3&fbclid=y#top").as_deref(),
            Some("https://news.example.org/a/b?id=3")
        );
        assert_eq!(
            link("https://example.org/story?utm_medium=rss").as_deref(),
            Some("https://example.org/story")
        );
        assert_eq!(
            link("https://example.org/story?gclid=1"),
            link("https://example.org/story#comments")
        );
        assert_eq!(link("not a url"), None);
    }

    #[test]
    fn alert_ids_are_stable_and_distinct() {
        let feed = FeedUrl::from_string("https://f".into());
        let a = alert_id("w", &feed, "guid:1");
        assert_eq!(a, alert_id("w", &feed, "guid:1"));
        assert_ne!(a, alert_id("w2", &feed, "guid:1"));
        assert_eq!(a.as_str().len(), 20);
    }

    #[test]
    fn a_link_shared_by_different_entries_is_not_a_story_identity() {
        let items = [
            item("1", "https://site.example/"),
            item("2", "https://site.example/#x"),
            item("3", "https://site.example/story?utm_source=rss"),
            item("3", "https://site.example/story"),
        ];
        let links = story_links(&items);
        assert_eq!(links.get(&items[0].key), None);
        assert_eq!(links.get(&items[1].key), None);
        assert_eq!(
            links.get(&items[2].key).map(StoryLink::as_str),
            Some("https://site.example/story")
        );
    }

    #[test]
    fn a_listing_records_each_new_entry_once_and_keeps_the_known_ones() {
        let items = vec![
            item("old", "https://x/old"),
            item("new", "https://x/new"),
            item("new", "https://x/new-copy"),
        ];
        let unseen = Unseen {
            new: HashSet::from([ItemKey::new(KeySource::Guid, "new")]),
            ..Unseen::default()
        };
        let listing = Listing::of(items, unseen);
        assert_eq!(listing.new.len(), 1);
        assert_eq!(listing.new[0].item.link.as_deref(), Some("https://x/new"));
        assert_eq!(listing.present.len(), 1);
        assert_eq!(listing.present[0].key.as_str(), "guid:old");
        assert_eq!(listing.listed(), 2);
    }

    fn printed(key: &str, link: &str, print: Option<&str>) -> Item {
        Item {
            fingerprint: print.map(str::to_owned),
            ..item(key, link)
        }
    }

    #[test]
    fn one_story_under_two_guids_is_one_entry() {
        let items = [
            printed("a", "https://x/s", Some("hash:s")),
            printed("b", "https://x/s", Some("hash:s")),
            // Same text, another link: another entry.
            printed("c", "https://x/other", Some("hash:s")),
            // Same link, other text: another entry.
            printed("d", "https://x/s", Some("hash:t")),
            // Too little text to tell: only a shared key makes a copy.
            printed("e", "https://x/short", None),
            printed("f", "https://x/short", None),
            printed("e", "https://x/short", None),
        ];
        assert_eq!(
            copies(&items, &[true; 7]),
            [false, true, false, false, false, false, true]
        );
        let known = [false, true, false, true, false, true, false];
        assert_eq!(
            copies(&items, &known),
            [false; 7],
            "a known entry is the store's to recognise, and no news is its copy"
        );
    }

    #[test]
    fn the_second_guid_of_one_story_neither_alerts_nor_spoils_its_story_link() {
        let items = vec![
            printed("a", "https://x/s", Some("hash:s")),
            printed("b", "https://x/s", Some("hash:s")),
        ];
        let unseen = Unseen {
            new: HashSet::from([
                ItemKey::new(KeySource::Guid, "a"),
                ItemKey::new(KeySource::Guid, "b"),
            ]),
            ..Unseen::default()
        };
        let listing = Listing::of(items, unseen);
        assert_eq!(listing.new.len(), 1);
        assert_eq!(listing.new[0].item.key.as_str(), "guid:a");
        assert_eq!(
            listing.new[0].story.as_ref().map(StoryLink::as_str),
            Some("https://x/s"),
            "the copy does not make the link look shared by two stories"
        );
        assert_eq!(listing.listed(), 1);
    }

    #[test]
    fn an_edited_entry_is_matched_again_for_the_watchlists_that_never_alerted() {
        let items = vec![
            printed("same", "https://x/1", Some("hash:1")),
            printed("edited", "https://x/2", Some("hash:2")),
        ];
        let unseen = Unseen {
            edited: HashMap::from([(ItemKey::new(KeySource::Guid, "edited"), vec!["w".into()])]),
            ..Unseen::default()
        };
        let listing = Listing::of(items, unseen);
        assert_eq!(listing.present.len(), 1);
        assert_eq!(listing.present[0].key.as_str(), "guid:same");
        assert_eq!(listing.new.len(), 1);
        let entry = &listing.new[0];
        assert_eq!(entry.item.key.as_str(), "guid:edited");
        assert_eq!(
            entry.edit,
            Some(Edit {
                alerted: vec!["w".into()]
            })
        );
        assert!(!entry.may_alert("w"), "w alerted on it already");
        assert!(entry.may_alert("v"));
        assert_eq!(listing.listed(), 2);
    }

    #[test]
    fn only_a_feeds_first_real_document_is_its_quiet_backlog() {
        assert!(
            !backlog_alerts(false, false),
            "a new feed's backlog is quiet"
        );
        assert!(backlog_alerts(false, true), "unless the feed asks for it");
        assert!(backlog_alerts(true, false));
        assert!(
            !completes_first_fetch(0),
            "an empty document is no first fetch"
        );
        assert!(completes_first_fetch(1));
    }

    #[test]
    fn the_story_window_is_a_week_back() {
        let now = Utc::now();
        assert_eq!(now - stories_since(now), chrono::Duration::days(7));
        assert_eq!(
            stories_since(DateTime::<Utc>::MIN_UTC),
            DateTime::<Utc>::MIN_UTC
        );
    }
}
