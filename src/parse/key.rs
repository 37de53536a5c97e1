//! Item identity: the per-feed dedup key every alert decision hangs on.
//!
//! Owns the fallback chain from a feed's own identifiers to a content hash. Must never use
//! identifiers a library invented (random or unstable), and must give the same key for the same
//! bytes on every parse, or a story would alert again on every poll.

use sha2::{Digest, Sha256};

use crate::model::Item;

/// Derives `item.key` from the item's other fields.
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
pub fn assign_key(item: &mut Item) {
    item.key = derive_key(item);
}

fn derive_key(item: &Item) -> String {
    if let Some(guid) = item.guid.as_deref().filter(|g| !g.trim().is_empty()) {
        return format!("guid:{}", guid.trim());
    }
    if let Some(link) = item.link.as_deref().filter(|l| !l.trim().is_empty()) {
        return format!("link:{}", link.trim());
    }
    let body = if item.content.trim().is_empty() {
        &item.summary
    } else {
        &item.content
    };
    let mut hasher = Sha256::new();
    hasher.update(normalize(&item.title).as_bytes());
    hasher.update([0u8]);
    hasher.update(normalize(body).as_bytes());
    let digest = hasher.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("hash:{}", &hex[..32])
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

    #[test]
    fn chain_prefers_guid_then_link_then_hash() {
        assert_eq!(
            derive_key(&item(Some(" g1 "), Some("http://x/"), "t")),
            "guid:g1"
        );
        assert_eq!(
            derive_key(&item(None, Some("http://x/"), "t")),
            "link:http://x/"
        );
        let k = derive_key(&item(None, None, "A  title"));
        assert!(k.starts_with("hash:") && k.len() == 5 + 32, "{k}");
        assert_eq!(
            k,
            derive_key(&item(Some(" "), None, " <b>A</b>&#32;title "))
        );
        assert_ne!(k, derive_key(&item(None, None, "Another title")));
    }
}
