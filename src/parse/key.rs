//! Item identity: the per-feed dedup key every alert decision hangs on.
//!
//! Owns the fallback chain from a feed's own identifiers to a content hash. Must never use
//! identifiers a library invented (random or unstable), and must give the same key for the same
//! bytes on every parse, or a story would alert again on every poll.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::model::{Item, ItemKey, KeySource};

/// Derives every `item.key` of one parsed document from the items' other fields.
///
/// Fallback chain, first that applies:
/// 1. `guid:<guid>` — the feed's own `<guid>` / `<id>` / `rdf:about` / JSON `id`, when the
///    document carries one (ids that feed-rs generates for entries without one are never used;
///    see `feedrs.rs`).
/// 2. `link:<link>` — the entry's absolute link.
/// 3. `hash:<h>` — `h` is the first 32 hex digits of SHA-256 over the normalized title, a NUL
///    byte, and the normalized body (content, or the summary when there is no content).
///    Normalized means plain text: tags dropped, entities decoded, whitespace collapsed, so the
///    key does not change when the same entry is read by the strict or the lenient path (which
///    differ in markup details). Deterministic, but an edited title or body yields a new key.
///
/// Some feeds give every entry the same guid (or link). Entries of one document that would
/// share a key step down the chain (guid → link → hash) until their keys differ, so distinct
/// stories are never merged into one (a missed alert); true duplicates keep one key. The price:
/// should such a feed shrink to one entry, that entry's key moves back up to its guid once.
pub fn assign_keys(items: &mut [Item]) {
    for item in items.iter_mut() {
        item.fingerprint = fingerprint(item);
    }
    let mut counts: HashMap<ItemKey, usize> = HashMap::new();
    for item in items.iter_mut() {
        item.key = derive_key(item, Step::Guid);
        *counts.entry(item.key.clone()).or_default() += 1;
    }
    for step in [Step::Link, Step::Hash] {
        let shared: Vec<usize> = (0..items.len())
            .filter(|&i| counts.get(&items[i].key).is_some_and(|&n| n > 1))
            .collect();
        if shared.is_empty() {
            return;
        }
        for &i in &shared {
            items[i].key = derive_key(&items[i], step);
        }
        counts.clear();
        for item in items.iter() {
            *counts.entry(item.key.clone()).or_default() += 1;
        }
    }
}

/// Where in the fallback chain key derivation starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Guid,
    Link,
    Hash,
}

fn derive_key(item: &Item, from: Step) -> ItemKey {
    if from <= Step::Guid
        && let Some(guid) = item.guid.as_deref().filter(|g| !g.trim().is_empty())
    {
        return ItemKey::new(KeySource::Guid, guid.trim());
    }
    if from <= Step::Link
        && let Some(link) = item.link.as_deref().filter(|l| !l.trim().is_empty())
    {
        return ItemKey::new(KeySource::Link, link.trim());
    }
    ItemKey::new(
        KeySource::Hash,
        &content_hash(&normalize(&item.title), &normalize(body_of(item))),
    )
}

/// The body a hash covers: content, or the summary when there is no content.
fn body_of(item: &Item) -> &str {
    if item.content.trim().is_empty() {
        &item.summary
    } else {
        &item.content
    }
}

/// 32 hex digits of SHA-256 over plain title, NUL, plain body.
fn content_hash(title: &str, body: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(title.as_bytes());
    hasher.update([0u8]);
    hasher.update(body.as_bytes());
    let digest = hasher.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex[..32].to_owned()
}

/// Fewer letters and digits than this in title and body together say too little to tell two
/// entries apart (an empty or "Update" entry), so such entries get no fingerprint.
const MIN_FINGERPRINT_CHARS: usize = 24;

/// The entry's content hash, when its text is distinctive enough to identify it.
fn fingerprint(item: &Item) -> Option<String> {
    let title = normalize(&item.title);
    let body = normalize(body_of(item));
    let telling = title
        .chars()
        .chain(body.chars())
        .filter(|c| c.is_alphanumeric())
        .count();
    // Stored in the form of a hash key, as every existing database holds it.
    (telling >= MIN_FINGERPRINT_CHARS)
        .then(|| ItemKey::new(KeySource::Hash, &content_hash(&title, &body)).to_string())
}

fn normalize(text: &str) -> String {
    super::text::plain_text(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(guid: Option<&str>, link: Option<&str>, title: &str) -> Item {
        Item {
            guid: guid.map(str::to_string),
            link: link.map(str::to_string),
            title: title.to_string(),
            content: "body".to_string(),
            ..Item::default()
        }
    }

    fn key(item: &Item) -> ItemKey {
        let mut items = [item.clone()];
        assign_keys(&mut items);
        items[0].key.clone()
    }

    #[test]
    fn chain_prefers_guid_then_link_then_hash() {
        let guid = key(&item(Some(" g1 "), Some("http://x/"), "t"));
        assert_eq!((guid.source(), guid.as_str()), (KeySource::Guid, "guid:g1"));
        let link = key(&item(None, Some("http://x/"), "t"));
        assert_eq!(
            (link.source(), link.as_str()),
            (KeySource::Link, "link:http://x/")
        );
        let k = key(&item(None, None, "A  title"));
        assert_eq!(k.source(), KeySource::Hash);
        assert!(
            k.as_str().starts_with("hash:") && k.as_str().len() == 5 + 32,
            "{k}"
        );
        assert_eq!(k, key(&item(Some(" "), None, " <b>A</b>&#32;title ")));
        assert_ne!(k, key(&item(None, None, "Another title")));
    }

    #[test]
    fn shared_guids_step_down_the_chain() {
        let mut items = [
            item(Some("same"), Some("http://x/1"), "one"),
            item(Some("same"), Some("http://x/2"), "two"),
            item(Some("same"), Some("http://x/2"), "three"),
            item(Some("own"), Some("http://x/2"), "four"),
            item(Some("dup"), None, "five"),
            item(Some("dup"), None, "five"),
        ];
        assign_keys(&mut items);
        let keys: Vec<&ItemKey> = items.iter().map(|i| &i.key).collect();
        assert_eq!(keys[0].as_str(), "link:http://x/1");
        assert_eq!(keys[1].source(), KeySource::Hash);
        assert_eq!(keys[2].source(), KeySource::Hash);
        assert_ne!(keys[1], keys[2]);
        assert_eq!(keys[3].as_str(), "guid:own");
        // True duplicates keep sharing one key.
        assert_eq!(keys[4].source(), KeySource::Hash);
        assert_eq!(keys[4], keys[5]);
    }
}
