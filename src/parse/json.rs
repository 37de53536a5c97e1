//! The lenient JSON Feed reader, used where feed-rs rejects a JSON feed for a detail (an
//! `http://` version URL, `tags` given as a string, a field of the wrong type).
//!
//! Owns the mapping of JSON Feed 1.0/1.1 items onto [`Item`] from an untyped JSON value. Must
//! never reject a feed for a malformed optional field: such a field is simply left empty.

use serde_json::Value;

use super::{Extracted, FeedFormat, date};
use crate::model::Item;

/// Reads a JSON Feed from `doc`; `None` when it is not JSON or has no `items` array.
pub fn extract(doc: &str) -> Option<Extracted> {
    let feed: Value = serde_json::from_str(doc).ok()?;
    let items = feed.get("items")?.as_array()?;
    Some(Extracted {
        format: FeedFormat::Json,
        title: string(&feed, "title"),
        link: string(&feed, "home_page_url"),
        items: items.iter().map(item).collect(),
        total_items: items.len(),
    })
}

fn item(v: &Value) -> Item {
    let authors: Vec<String> = v
        .get("authors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(v.get("author"))
        .filter_map(|a| string(a, "name"))
        .collect();
    let tags: Vec<String> = match v.get("tags") {
        Some(Value::Array(tags)) => tags
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(tags)) => vec![tags.clone()],
        _ => Vec::new(),
    };
    Item {
        guid: match v.get("id") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        },
        title: string(v, "title").unwrap_or_default(),
        link: string(v, "url").or_else(|| string(v, "external_url")),
        published: string(v, "date_published")
            .or_else(|| string(v, "date_modified"))
            .and_then(|d| date::parse_date(&d)),
        summary: string(v, "summary").unwrap_or_default(),
        content: string(v, "content_html")
            .or_else(|| string(v, "content_text"))
            .unwrap_or_default(),
        author: authors.join(", "),
        categories: tags.join(", "),
        ..Item::default()
    }
}

fn string(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .filter(|s| !s.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerates_old_version_url_and_string_tags() {
        let doc = r#"{"version": "http://jsonfeed.org/version/1", "title": "T",
            "items": [{"id": 7, "title": "A", "tags": "x,y", "author": {"name": "Ann"}}]}"#;
        let feed = extract(doc).expect("read");
        assert_eq!(feed.title.as_deref(), Some("T"));
        let item = &feed.items[0];
        assert_eq!(item.guid.as_deref(), Some("7"));
        assert_eq!(
            (item.title.as_str(), item.categories.as_str()),
            ("A", "x,y")
        );
        assert_eq!(item.author, "Ann");
    }
}
