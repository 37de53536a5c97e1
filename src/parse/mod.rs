//! Feed parsing: turns the bytes of an RSS, Atom, RDF or JSON feed into [`Item`]s.
//!
//! Owns decoding, format detection, tolerant extraction (XML: feed-rs first, a lenient extractor
//! of our own where feed-rs fails or drops entries; JSON Feed: a reader of our own that keeps
//! only the items within the cap), link resolution and item identity. Must never
//! panic, do I/O, expand entities or fetch external resources, and must never let one bad item
//! fail the whole feed.

mod date;
mod decode;
mod feedrs;
mod json;
/// Item identity: the dedup key fallback chain.
pub mod key;
mod lenient;
mod sniff;
mod text;

use std::fmt;
use std::panic::{self, AssertUnwindSafe};

use crate::model::{FailureKind, Item, PollFailure};

/// A parsed feed.
#[derive(Debug, Clone)]
pub struct ParsedFeed {
    /// The flavour of feed the document turned out to be.
    pub format: FeedFormat,
    /// The feed's own title, as plain text.
    pub title: Option<String>,
    /// The encoding the document was read in, e.g. "UTF-8" or "windows-1252".
    pub encoding: String,
    /// Problems that were worked around (recovery used, items capped, bytes replaced, ...).
    pub warnings: Vec<String>,
    /// The entries, in document order.
    pub items: Vec<Item>,
}

/// The flavour of a feed document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum FeedFormat {
    /// RSS 0.90–0.94 (Netscape/UserLand).
    Rss0,
    /// RSS 1.0 (RDF).
    Rss1,
    /// RSS 2.0 and 2.0.1.
    Rss2,
    /// Atom 1.0.
    Atom,
    /// Atom 0.3 (pre-standard).
    Atom03,
    /// JSON Feed 1.x.
    Json,
    /// Microsoft Channel Definition Format.
    Cdf,
}

impl fmt::Display for FeedFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FeedFormat::Rss0 => "RSS 0.9x",
            FeedFormat::Rss1 => "RSS 1.0",
            FeedFormat::Rss2 => "RSS 2.0",
            FeedFormat::Atom => "Atom",
            FeedFormat::Atom03 => "Atom 0.3",
            FeedFormat::Json => "JSON Feed",
            FeedFormat::Cdf => "CDF",
        })
    }
}

/// Why a document could not be read as a feed.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The body was empty or only whitespace.
    #[error("parse: empty document; the server sent no content, check the feed URL")]
    Empty,
    /// The document is an HTML page (or other non-feed), possibly advertising its feed.
    #[error("parse: not a feed (HTML page){}", match .alternate {
        Some(url) => format!("; its feed may be at {url}"),
        None => "; point the watch at the site's RSS/Atom feed URL instead".to_string(),
    })]
    NotAFeed {
        /// The feed URL the page advertises via `<link rel="alternate">`, absolute when possible.
        alternate: Option<String>,
    },
    /// The document looked like a feed but nothing could be recovered from it.
    #[error("parse: malformed feed: {0}; check the feed with a validator")]
    Malformed(String),
    /// The document is XML, but its root element is not one any feed format uses.
    #[error(
        "parse: not a feed: the XML root element is <{0}>, not rss, RDF, feed or channel; check the feed URL"
    )]
    UnknownRoot(String),
    /// XML elements, or JSON arrays and objects, nest deeper than [`ParseLimits::max_depth`].
    #[error(
        "parse: document nests elements deeper than the depth limit of {0} (ParseLimits::max_depth); refused as hostile or broken"
    )]
    TooDeep(usize),
    /// A parser panicked; the document was skipped.
    #[error("parse: internal parser failure ({0}); please report the feed that caused it")]
    Panicked(String),
}

impl ParseError {
    /// The class of failure, as recorded on the feed.
    pub fn kind(&self) -> FailureKind {
        match self {
            ParseError::NotAFeed { .. } | ParseError::UnknownRoot(_) => FailureKind::NotAFeed,
            ParseError::Empty
            | ParseError::Malformed(_)
            | ParseError::TooDeep(_)
            | ParseError::Panicked(_) => FailureKind::Parse,
        }
    }
}

impl From<ParseError> for PollFailure {
    fn from(e: ParseError) -> PollFailure {
        PollFailure {
            kind: e.kind(),
            message: e.to_string(),
            retry_after: None,
        }
    }
}

/// Limits applied while parsing.
#[derive(Debug, Clone)]
pub struct ParseLimits {
    /// At most this many items are returned (the first ones); more add a warning.
    /// Default 10,000.
    pub max_items: usize,
    /// Documents nesting XML elements or JSON arrays and objects deeper than this are refused
    /// with [`ParseError::TooDeep`].
    /// Default 512.
    pub max_depth: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_items: 10_000,
            max_depth: 512,
        }
    }
}

/// Parses feed bytes with the default [`ParseLimits`].
pub fn parse_feed(
    bytes: &[u8],
    http_content_type: Option<&str>,
    base_url: Option<&str>,
) -> Result<ParsedFeed, ParseError> {
    parse_feed_with(bytes, http_content_type, base_url, &ParseLimits::default())
}

/// Parses feed bytes: pure and synchronous, never panics, one bad item never fails the feed.
pub fn parse_feed_with(
    bytes: &[u8],
    http_content_type: Option<&str>,
    base_url: Option<&str>,
    limits: &ParseLimits,
) -> Result<ParsedFeed, ParseError> {
    // The parsers below are not ours to audit; a panic in any of them must cost one poll of one
    // feed, not the daemon.
    panic::catch_unwind(AssertUnwindSafe(|| {
        parse_inner(bytes, http_content_type, base_url, limits)
    }))
    .unwrap_or_else(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        Err(ParseError::Panicked(msg))
    })
}

/// What one extraction path produced, before post-processing.
struct Extracted {
    format: FeedFormat,
    title: Option<String>,
    /// The feed's own link, used as the base for relative item links.
    link: Option<String>,
    items: Vec<Item>,
    /// How many entries the document holds; more than `items.len()` when the reader already
    /// stopped keeping them at the cap.
    total_items: usize,
}

fn parse_inner(
    bytes: &[u8],
    http_content_type: Option<&str>,
    base_url: Option<&str>,
    limits: &ParseLimits,
) -> Result<ParsedFeed, ParseError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::Empty);
    }
    let decoded = decode::decode(bytes, http_content_type);
    let doc = decoded.text.as_str();
    if doc.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    let mut warnings: Vec<String> = decoded.mislabelled.iter().cloned().collect();
    if decoded.had_errors {
        warnings.push(format!(
            "bytes invalid in {} were replaced by U+FFFD",
            decoded.encoding
        ));
    }

    let extracted = if doc.trim_start().starts_with('{') {
        json::extract(doc, limits)?
    } else {
        // Stray text before the first tag (a PHP notice, a blank-line BOM artefact) would make
        // every XML reader fail.
        let doc = match doc.find('<') {
            Some(i) if !doc[..i].trim().is_empty() => &doc[i..],
            _ => doc,
        };
        parse_xml(doc, base_url, limits, &mut warnings)?
    };

    let mut items = extracted.items;
    if extracted.total_items > limits.max_items {
        warnings.push(format!(
            "feed has {} items; only the first {} were kept (ParseLimits::max_items)",
            extracted.total_items, limits.max_items
        ));
        items.truncate(limits.max_items);
    }
    let link_base = text::link_base(extracted.link.as_deref(), base_url);
    for item in &mut items {
        text::finish_item(item, link_base.as_ref());
    }
    key::assign_keys(&mut items);
    Ok(ParsedFeed {
        format: extracted.format,
        title: extracted
            .title
            .map(|t| text::plain_text(&t))
            .filter(|t| !t.is_empty()),
        encoding: decoded.encoding,
        warnings,
        items,
    })
}

fn parse_xml(
    doc: &str,
    base_url: Option<&str>,
    limits: &ParseLimits,
    warnings: &mut Vec<String>,
) -> Result<Extracted, ParseError> {
    let sniffed = &sniff::sniff(doc)?;
    if sniffed.is_html {
        return Err(ParseError::NotAFeed {
            alternate: sniff::alternate_feed_link(doc, base_url),
        });
    }
    // The lenient pass runs on every document: it is the fallback when feed-rs fails, the
    // check that feed-rs kept every entry, and the source of fields feed-rs leaves empty.
    let recovered = lenient::extract(doc, limits.max_depth, limits.max_items)?;
    if recovered.total_items > limits.max_items
        || doc.len() > STRICT_MAX_BYTES
        || recovered.elements > STRICT_MAX_ELEMENTS
    {
        return lenient_reading(sniffed, recovered, None, warnings);
    }
    let prepared = sniff::prepare_for_feedrs(doc, sniffed);
    match feedrs::parse(&prepared, base_url) {
        Ok(mut strict) => {
            if recovered.total_items > strict.total_items {
                // feed-rs silently drops some entries (RSS 0.90, RSS 1.0 items without a link).
                warnings.push(format!(
                    "strict parsing kept {} of {} entries; used the lenient reading",
                    strict.total_items, recovered.total_items
                ));
                strict.items = recovered.items;
                strict.total_items = recovered.total_items;
            } else if recovered.total_items == strict.total_items {
                for (item, fallback) in strict.items.iter_mut().zip(recovered.items) {
                    fill_missing(item, fallback);
                }
            }
            if let Some(format) = sniffed.format {
                strict.format = format;
            }
            strict.title = strict
                .title
                .filter(|t| !t.trim().is_empty())
                .or(recovered.title);
            strict.link = strict.link.or(recovered.link);
            Ok(strict)
        }
        Err(e) => lenient_reading(sniffed, recovered, Some(e), warnings),
    }
}

/// feed-rs builds the whole document in memory, every entry and element, at up to ~2.5 KB per
/// element (Media RSS groups) besides copies of the text; it would also build every entry only
/// for all but the first [`ParseLimits::max_items`] to be dropped (1.5 million empty entries
/// cost it over 1 GB, even when it then fails on an error at the end). A document larger than
/// this, or with more elements than [`STRICT_MAX_ELEMENTS`], or more entries than the cap, is
/// read by the lenient reader alone, which holds only the entries kept: so any body up to
/// `max_body_size` (10 MiB) parses in bounded memory.
const STRICT_MAX_BYTES: usize = 4 << 20;
/// See [`STRICT_MAX_BYTES`]. Real feeds hold a few thousand elements.
const STRICT_MAX_ELEMENTS: usize = 20_000;

/// The lenient reading alone: feed-rs failed with `strict_error`, or was not run. An unknown
/// root element without entries is no feed.
fn lenient_reading(
    sniffed: &sniff::Sniffed,
    recovered: lenient::Recovered,
    strict_error: Option<String>,
    warnings: &mut Vec<String>,
) -> Result<Extracted, ParseError> {
    if sniffed.format.is_none() && recovered.items.is_empty() {
        return Err(ParseError::UnknownRoot(sniffed.root.clone()));
    }
    if let Some(e) = strict_error {
        warnings.push(format!(
            "strict parsing failed ({e}); entries were read leniently"
        ));
    }
    if recovered.had_errors {
        warnings.push("unreadable parts of the document were skipped".to_string());
    }
    Ok(Extracted {
        format: sniffed.format.unwrap_or(FeedFormat::Rss2),
        title: recovered.title,
        link: recovered.link,
        items: recovered.items,
        total_items: recovered.total_items,
    })
}

/// Fills the fields feed-rs left empty (it ignores `dc:title`, `media:title`, CDF attributes,
/// RDF `about` ids, ...) from the lenient reading of the same entry.
fn fill_missing(item: &mut Item, fallback: Item) {
    let fill = |slot: &mut String, value: String| {
        if slot.trim().is_empty() {
            *slot = value;
        }
    };
    fill(&mut item.title, fallback.title);
    fill(&mut item.summary, fallback.summary);
    fill(&mut item.content, fallback.content);
    fill(&mut item.author, fallback.author);
    fill(&mut item.categories, fallback.categories);
    item.guid = item.guid.take().or(fallback.guid);
    item.link = item.link.take().or(fallback.link);
    item.published = item.published.or(fallback.published);
}
