//! The JSON Feed reader: JSON Feed 1.0 and 1.1, tolerant of what real feeds get wrong (an
//! `http://` version URL, ids given as numbers, `tags` given as a string, a field of the wrong
//! type).
//!
//! Owns the mapping of JSON Feed items onto [`Item`], with feed-rs's conventions (the link is
//! `url`, else `external_url`, else the first attachment; `content_text` is the summary when
//! there is HTML content; items without authors inherit the feed's). Reads the document in
//! one pass and keeps only what it uses: every value is first taken as raw JSON text (skipped
//! without being interpreted, nested or not), and only the fields of the first
//! [`ParseLimits::max_items`] items are then read, each cut to a size limit. Must never build
//! more entries than the cap, recurse on input, convert a number, or reject a feed for a
//! malformed optional field: such a field is left empty.

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::{Extracted, FeedFormat, ParseError, ParseLimits, date};
use crate::model::Item;

/// Longest id, title, link, date, author name or tag kept, in bytes: more is no real feed's.
const SHORT_BYTES: usize = 64 << 10;
/// Longest summary or content kept, in bytes.
const TEXT_BYTES: usize = 1 << 20;
/// Most authors kept per item or feed.
const MAX_AUTHORS: usize = 100;
/// Longest feed-level author list that items without their own inherit, in bytes: it is copied
/// into every such item, so it must stay small even when 10,000 items inherit it.
const INHERITED_BYTES: usize = 1 << 10;
/// Most tags kept per item.
const MAX_TAGS: usize = 1_000;

/// The top-level members used.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum FeedKey {
    Title,
    HomePageUrl,
    FeedUrl,
    Author,
    Authors,
    Items,
    #[serde(other)]
    Other,
}

/// The item members used.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum EntryField {
    Id,
    Url,
    ExternalUrl,
    Attachments,
    Title,
    Summary,
    ContentHtml,
    ContentText,
    DatePublished,
    DateModified,
    Author,
    Authors,
    Tags,
    #[serde(other)]
    Other,
}

/// Reads a JSON Feed from `doc`, keeping the first `limits.max_items` items.
pub fn extract(doc: &str, limits: &ParseLimits) -> Result<Extracted, ParseError> {
    if nests_deeper_than(doc, limits.max_depth) {
        return Err(ParseError::TooDeep(limits.max_depth));
    }
    let mut feed = Extracted {
        format: FeedFormat::Json,
        title: None,
        link: None,
        items: Vec::new(),
        total_items: 0,
    };
    let (mut home_page, mut feed_url, mut items) = (None, None, None);
    let mut authors = Authors::default();
    for_each_member(doc, |key, raw| match key {
        FeedKey::Title => feed.title = string(raw, SHORT_BYTES),
        FeedKey::HomePageUrl => home_page = string(raw, SHORT_BYTES),
        FeedKey::FeedUrl => feed_url = string(raw, SHORT_BYTES),
        FeedKey::Author => authors.author = Some(raw),
        FeedKey::Authors => authors.authors = Some(raw),
        FeedKey::Items => items = Some(raw),
        FeedKey::Other => {}
    })
    .map_err(|e| ParseError::Malformed(format!("not a JSON Feed: {e}")))?;
    let items = items.filter(|raw| raw.starts_with('[')).ok_or_else(|| {
        ParseError::Malformed("a JSON document without an `items` array".to_string())
    })?;
    // The array was read once already, so reading it again cannot fail.
    let _ = for_each_element(items, |raw| {
        if !raw.starts_with('{') {
            return;
        }
        feed.total_items += 1;
        if feed.items.len() < limits.max_items {
            feed.items.push(item(raw));
        }
    });
    let inherited = authors.names();
    let inherited = cut(&inherited, INHERITED_BYTES);
    for item in feed.items.iter_mut().filter(|i| i.author.is_empty()) {
        inherited.clone_into(&mut item.author);
    }
    feed.link = home_page.or(feed_url);
    Ok(feed)
}

fn item(raw: &str) -> Item {
    let mut item = Item::default();
    let (mut url, mut external_url, mut attachment) = (None, None, None);
    let (mut html, mut text, mut published, mut modified) = (None, None, None, None);
    let mut authors = Authors::default();
    // A member that cannot be read is left empty, like one of the wrong type.
    let _ = for_each_member(raw, |key, raw| match key {
        EntryField::Id => item.guid = id(raw),
        EntryField::Url => url = string(raw, SHORT_BYTES),
        EntryField::ExternalUrl => external_url = string(raw, SHORT_BYTES),
        EntryField::Attachments => attachment = first_attachment_url(raw),
        EntryField::Title => item.title = string(raw, SHORT_BYTES).unwrap_or_default(),
        EntryField::Summary => item.summary = string(raw, TEXT_BYTES).unwrap_or_default(),
        EntryField::ContentHtml => html = string(raw, TEXT_BYTES),
        EntryField::ContentText => text = string(raw, TEXT_BYTES),
        EntryField::DatePublished => published = string(raw, SHORT_BYTES),
        EntryField::DateModified => modified = string(raw, SHORT_BYTES),
        EntryField::Author => authors.author = Some(raw),
        EntryField::Authors => authors.authors = Some(raw),
        EntryField::Tags => item.categories = tags(raw),
        EntryField::Other => {}
    });
    item.link = url.or(external_url).or(attachment);
    // Each date on its own: a malformed `date_published` must not hide a valid `date_modified`.
    item.published = published
        .and_then(|d| date::parse_date(&d))
        .or_else(|| modified.and_then(|d| date::parse_date(&d)));
    match (html, text) {
        (Some(html), text) => {
            item.content = html.trim().to_string();
            if item.summary.is_empty() {
                item.summary = text.unwrap_or_default();
            }
        }
        (None, Some(text)) => item.content = text.trim().to_string(),
        (None, None) => {}
    }
    item.author = authors.names();
    item
}

/// The item id: a string, or a number as written (not converted, so no size of number fails).
fn id(raw: &str) -> Option<String> {
    if raw.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        return Some(cut(raw, SHORT_BYTES).to_string());
    }
    string(raw, SHORT_BYTES)
}

/// The raw `author` (JSON Feed 1.0) and `authors` (1.1) of a feed or an item.
#[derive(Default)]
struct Authors<'a> {
    author: Option<&'a str>,
    authors: Option<&'a str>,
}

impl Authors<'_> {
    /// Each name once, `author` first, joined by ", ".
    fn names(&self) -> String {
        let mut names: Vec<String> = Vec::new();
        let mut add = |author: &str| {
            if names.len() >= MAX_AUTHORS {
                return;
            }
            let mut name = None;
            let _ = for_each_member(author, |key: NameKey, raw| {
                if let NameKey::Name = key {
                    name = string(raw, SHORT_BYTES);
                }
            });
            if let Some(name) = name.map(|n| n.trim().to_string())
                && !names.contains(&name)
            {
                names.push(name);
            }
        };
        if let Some(author) = self.author {
            add(author);
        }
        if let Some(authors) = self.authors {
            let _ = for_each_element(authors, &mut add);
        }
        names.join(", ")
    }
}

/// The one member of an author used.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum NameKey {
    Name,
    #[serde(other)]
    Other,
}

/// The `url` of the first attachment.
fn first_attachment_url(raw: &str) -> Option<String> {
    let mut first = None;
    let _ = for_each_element(raw, |a| {
        if first.is_none() {
            first = Some(a);
        }
    });
    let mut url = None;
    let _ = for_each_member(first?, |key: EntryField, raw| {
        if let EntryField::Url = key {
            url = string(raw, SHORT_BYTES);
        }
    });
    url
}

/// `tags` as a list of strings (or, wrongly but commonly, one string), joined by ", ".
fn tags(raw: &str) -> String {
    if raw.starts_with('"') {
        return string(raw, SHORT_BYTES).unwrap_or_default();
    }
    let mut tags = Vec::new();
    let _ = for_each_element(raw, |t| {
        if tags.len() < MAX_TAGS
            && let Some(tag) = string(t, SHORT_BYTES)
        {
            tags.push(tag.trim().to_string());
        }
    });
    tags.join(", ")
}

/// A JSON string's text, at most `max` bytes of it; `None` for another type or a blank one.
fn string(raw: &str, max: usize) -> Option<String> {
    if !raw.starts_with('"') {
        return None;
    }
    let text = match serde_json::from_str::<&str>(raw) {
        Ok(s) => cut(s, max).to_string(),
        // Escapes must be resolved into a copy.
        Err(_) => {
            let mut s: String = serde_json::from_str(raw).ok()?;
            s.truncate(cut(&s, max).len());
            s
        }
    };
    (!text.trim().is_empty()).then_some(text)
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Calls `each` with every member of the JSON object `raw` whose key `K` knows, and its value
/// as raw JSON text. Fails when `raw` is not an object.
fn for_each_member<'a, K: Deserialize<'a>>(
    raw: &'a str,
    each: impl FnMut(K, &'a str),
) -> Result<(), serde_json::Error> {
    struct Members<K, F>(F, std::marker::PhantomData<K>);
    impl<'a, K: Deserialize<'a>, F: FnMut(K, &'a str)> Visitor<'a> for Members<K, F> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<M: MapAccess<'a>>(mut self, mut map: M) -> Result<(), M::Error> {
            while let Some(key) = map.next_key::<K>()? {
                let value: &'a RawValue = map.next_value()?;
                (self.0)(key, value.get());
            }
            Ok(())
        }
    }
    impl<'a, K: Deserialize<'a>, F: FnMut(K, &'a str)> DeserializeSeed<'a> for Members<K, F> {
        type Value = ();
        fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_map(self)
        }
    }
    let mut de = serde_json::Deserializer::from_str(raw);
    Members(each, std::marker::PhantomData).deserialize(&mut de)
}

/// Calls `each` with every element of the JSON array `raw`, as raw JSON text. Fails when `raw`
/// is not an array.
fn for_each_element<'a>(raw: &'a str, each: impl FnMut(&'a str)) -> Result<(), serde_json::Error> {
    struct Elements<F>(F);
    impl<'a, F: FnMut(&'a str)> Visitor<'a> for Elements<F> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON array")
        }
        fn visit_seq<S: SeqAccess<'a>>(mut self, mut seq: S) -> Result<(), S::Error> {
            while let Some(value) = seq.next_element::<&'a RawValue>()? {
                (self.0)(value.get());
            }
            Ok(())
        }
    }
    let mut de = serde_json::Deserializer::from_str(raw);
    de::Deserializer::deserialize_seq(&mut de, Elements(each))
}

/// Whether arrays and objects in `doc` nest deeper than `max`: one pass over the bytes, no
/// stack.
fn nests_deeper_than(doc: &str, max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in doc.as_bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(doc: &str) -> Extracted {
        extract(doc, &ParseLimits::default()).expect("read")
    }

    #[test]
    fn tolerates_old_version_url_number_ids_and_string_tags() {
        let doc = r#"{"version": "http://jsonfeed.org/version/1", "title": "T",
            "items": [{"id": 7, "title": "A", "tags": "x,y", "author": {"name": "Ann"}},
                      {"id": -1.50e3, "title": {"nested": [1]}, "tags": ["p", 3, " q "]}]}"#;
        let feed = read(doc);
        assert_eq!(feed.title.as_deref(), Some("T"));
        let (a, b) = (&feed.items[0], &feed.items[1]);
        assert_eq!(a.guid.as_deref(), Some("7"));
        assert_eq!((a.title.as_str(), a.categories.as_str()), ("A", "x,y"));
        assert_eq!(a.author, "Ann");
        assert_eq!(b.guid.as_deref(), Some("-1.50e3"));
        assert_eq!((b.title.as_str(), b.categories.as_str()), ("", "p, q"));
    }

    #[test]
    fn follows_feed_rs_conventions() {
        let doc = r#"{"title": "T", "feed_url": "https://example.org/feed.json",
            "authors": [{"name": "Desk"}, {"name": "Desk"}],
            "items": [
              {"id": "1", "content_html": " <p>x</p> ", "content_text": "x",
               "attachments": [{"url": "https://example.org/a.mp3"}],
               "date_modified": "2026-11-26T09:00:00Z"},
              {"id": "2", "external_url": "https://example.org/e", "content_text": "plain",
               "author": {"name": "Ann"}}]}"#;
        let feed = read(doc);
        assert_eq!(feed.link.as_deref(), Some("https://example.org/feed.json"));
        let (a, b) = (&feed.items[0], &feed.items[1]);
        assert_eq!((a.content.as_str(), a.summary.as_str()), ("<p>x</p>", "x"));
        assert_eq!(a.link.as_deref(), Some("https://example.org/a.mp3"));
        assert_eq!(a.author, "Desk");
        assert!(a.published.is_some());
        assert_eq!((b.content.as_str(), b.summary.as_str()), ("plain", ""));
        assert_eq!(b.link.as_deref(), Some("https://example.org/e"));
        assert_eq!(b.author, "Ann");
    }

    #[test]
    fn keeps_the_first_items_and_counts_the_rest() {
        let doc = format!(r#"{{"items": [{}, 1, []]}}"#, vec!["{}"; 50].join(","));
        let limits = ParseLimits {
            max_items: 10,
            ..ParseLimits::default()
        };
        let feed = extract(&doc, &limits).expect("read");
        assert_eq!((feed.items.len(), feed.total_items), (10, 50));
    }

    #[test]
    fn long_strings_are_cut_and_deep_nesting_refused() {
        let doc = format!(
            r#"{{"items": [{{"title": "{}é", "summary": "\u0062{}"}}]}}"#,
            "a".repeat(SHORT_BYTES - 1),
            "é".repeat(TEXT_BYTES / 2)
        );
        let item = &read(&doc).items[0];
        assert_eq!(item.title, "a".repeat(SHORT_BYTES - 1));
        assert_eq!(item.summary.len(), TEXT_BYTES - 1);
        assert!(item.summary.starts_with("bé"));

        let deep = format!(
            r#"{{"items": [{{"title": {}1{}}}]}}"#,
            "[".repeat(600),
            "]".repeat(600)
        );
        assert!(matches!(
            extract(&deep, &ParseLimits::default()),
            Err(ParseError::TooDeep(512))
        ));
        // Brackets in strings are text.
        let text = format!(r#"{{"items": [{{"title": "{}"}}]}}"#, "[".repeat(600));
        assert_eq!(read(&text).items[0].title.len(), 600);
    }

    #[test]
    fn feed_authors_inherited_by_every_item_stay_small() {
        let authors: Vec<String> = (0..MAX_AUTHORS)
            .map(|i| format!(r#"{{"name": "{i}{}"}}"#, "n".repeat(1000)))
            .collect();
        let doc = format!(
            r#"{{"authors": [{}], "items": [{}]}}"#,
            authors.join(","),
            vec!["{}"; 1000].join(",")
        );
        let feed = read(&doc);
        assert!(feed.items.iter().all(|i| i.author.len() <= INHERITED_BYTES));
        assert!(feed.items[999].author.starts_with("0nnn"));
    }

    #[test]
    fn a_document_without_items_is_malformed() {
        for doc in [
            r#"{"error": "rate limited"}"#,
            r#"[1, 2]"#,
            r#"{"items": {}}"#,
        ] {
            assert!(
                matches!(
                    extract(doc, &ParseLimits::default()),
                    Err(ParseError::Malformed(_))
                ),
                "{doc}"
            );
        }
    }
}
