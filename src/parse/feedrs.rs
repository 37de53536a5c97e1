//! The strict path: feed-rs on an already decoded (UTF-8) document.
//!
//! Owns the feed-rs configuration and the mapping of its model onto [`Item`]. Must never pass
//! on an id that feed-rs invented (it makes up random UUIDs or link+title hashes for entries
//! without one), and must never let a feed-rs panic escape (the caller catches it too).

use std::panic::{self, AssertUnwindSafe};

use feed_rs::model::{Entry, Feed, FeedType, Link};

use super::{Extracted, FeedFormat};
use crate::model::{Item, ItemKey};

/// Parses `doc` with feed-rs; the error is a readable cause.
pub(super) fn parse(doc: &str, base_url: Option<&str>) -> Result<Extracted, String> {
    let parser = feed_rs::parser::Builder::new()
        // feed-rs fails the whole document on a base it cannot parse; ours is only a hint.
        .base_uri(base_url.filter(|u| url::Url::parse(u).is_ok()))
        // An empty id makes feed-rs leave it empty instead of inventing one, so "no guid" stays
        // visible and key derivation can fall back deterministically.
        .id_generator(|_, _, _| String::new())
        .sanitize_content(false)
        .build();
    let feed = panic::catch_unwind(AssertUnwindSafe(|| parser.parse(doc.as_bytes())))
        .map_err(|_| "the strict XML parser crashed on this document".to_string())?
        .map_err(|e| e.to_string())?;
    Ok(convert(feed))
}

fn convert(feed: Feed) -> Extracted {
    let format = match feed.feed_type {
        FeedType::Atom => FeedFormat::Atom,
        FeedType::JSON => FeedFormat::Json,
        FeedType::RSS0 => FeedFormat::Rss0,
        FeedType::RSS1 => FeedFormat::Rss1,
        FeedType::RSS2 => FeedFormat::Rss2,
    };
    Extracted {
        format,
        title: feed.title.map(|t| t.content),
        link: best_link(&feed.links),
        total_items: feed.entries.len(),
        items: feed.entries.into_iter().map(convert_entry).collect(),
    }
}

fn convert_entry(entry: Entry) -> Item {
    let summary = entry
        .summary
        .map(|t| t.content)
        .or_else(|| {
            // Media RSS feeds (YouTube, podcasts) carry the description only there.
            entry
                .media
                .iter()
                .find_map(|m| m.description.as_ref().map(|d| d.content.clone()))
        })
        .unwrap_or_default();
    Item {
        key: ItemKey::default(),
        guid: Some(entry.id).filter(|id| !id.trim().is_empty()),
        title: entry.title.map(|t| t.content).unwrap_or_default(),
        link: best_link(&entry.links),
        published: entry.published.or(entry.updated),
        summary,
        content: entry.content.and_then(|c| c.body).unwrap_or_default(),
        author: entry
            .authors
            .iter()
            .filter_map(|p| p.name.as_deref().map(str::trim).filter(|n| !n.is_empty()))
            .collect::<Vec<_>>()
            .join(", "),
        categories: entry
            .categories
            .iter()
            .map(|c| c.label.as_deref().unwrap_or(&c.term).trim())
            .filter(|c| !c.is_empty())
            .collect::<Vec<_>>()
            .join(", "),
        fingerprint: None,
    }
}

/// The story link: the first alternate (or unqualified) link. Enclosures, `related` and `via`
/// links point elsewhere, so they are not the story's link (as in feedparser).
fn best_link(links: &[Link]) -> Option<String> {
    links
        .iter()
        .find(|l| {
            matches!(
                l.rel.as_deref().map(str::trim),
                None | Some("" | "alternate")
            )
        })
        .map(|l| l.href.clone())
        .filter(|h| !h.trim().is_empty())
}
