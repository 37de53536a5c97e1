//! Document sniffing: what kind of XML document this is, before any full parse.
//!
//! Owns root-element detection, HTML-page detection (with the page's advertised feed link), and
//! the text rewrites that let feed-rs accept older dialects (RSS
//! without a usable `version`, Atom 0.3). Must never build a tree, recurse on input, or resolve
//! entities.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

use super::{FeedFormat, ParseError, text};

/// The namespace of pre-standard Atom 0.3.
const ATOM03_NS: &str = "http://purl.org/atom/ns#";
/// The namespace of Atom 1.0.
const ATOM10_NS: &str = "http://www.w3.org/2005/Atom";

/// What sniffing found out about a document.
#[derive(Debug)]
pub struct Sniffed {
    /// Local name of the root element, as written (e.g. "rss", "RDF", "feed").
    pub root: String,
    /// The root start tag's text (between `<` and `>`), for attribute checks and rewrites.
    root_tag: String,
    /// Byte range of the root start tag's text within the document.
    root_span: (usize, usize),
    /// Whether the document is an HTML page rather than a feed.
    pub is_html: bool,
    /// The feed flavour as far as the root element tells.
    pub format: Option<FeedFormat>,
}

/// Finds the root element and what it says about the document.
pub fn sniff(doc: &str) -> Result<Sniffed, ParseError> {
    let (root_tag, root_span) = root_start_tag(doc)
        .ok_or_else(|| ParseError::Malformed("no root element found".to_string()))?;
    let qname = root_tag
        .split(|c: char| c.is_whitespace() || c == '/')
        .next()
        .unwrap_or_default();
    let root = qname.rsplit(':').next().unwrap_or_default().to_string();
    // Servers that lost the <html> wrapper (or error pages built from fragments) start at
    // <head> or <body>.
    let is_html = ["html", "head", "body"]
        .iter()
        .any(|h| root.eq_ignore_ascii_case(h))
        || doc[..root_span.0]
            .to_ascii_lowercase()
            .contains("<!doctype html");
    let version = attr(&root_tag, "version");
    let format = match root.to_ascii_lowercase().as_str() {
        "rss" => Some(match version.as_deref().map(str::trim) {
            Some(v) if v.starts_with("0.9") => FeedFormat::Rss0,
            _ => FeedFormat::Rss2,
        }),
        "rdf" => Some(FeedFormat::Rss1),
        "feed" if root_tag.contains(ATOM03_NS) || version.as_deref() == Some("0.3") => {
            Some(FeedFormat::Atom03)
        }
        "feed" | "entry" => Some(FeedFormat::Atom),
        "channel" => Some(FeedFormat::Cdf),
        _ => None,
    };
    Ok(Sniffed {
        root,
        root_tag,
        root_span,
        is_html,
        format,
    })
}

/// The text of the first start tag that is not a declaration, comment, PI or doctype.
fn root_start_tag(doc: &str) -> Option<(String, (usize, usize))> {
    let mut pos = 0;
    loop {
        let lt = pos + doc[pos..].find('<')?;
        let rest = &doc[lt..];
        let skip_to = if rest.starts_with("<?") {
            rest.find("?>").map(|i| i + 2)
        } else if rest.starts_with("<!--") {
            rest.find("-->").map(|i| i + 3)
        } else if rest.starts_with("<!") {
            // A doctype may carry an internal subset in brackets containing '>'.
            let gt = rest.find('>')?;
            match rest[..gt].find('[') {
                Some(b) => rest[b..].find("]>").map(|i| b + i + 2),
                None => Some(gt + 1),
            }
        } else if rest[1..].starts_with(|c: char| c.is_alphabetic() || c == '_') {
            let end = rest.find('>')?;
            return Some((rest[1..end].to_string(), (lt + 1, lt + end)));
        } else {
            Some(1)
        };
        pos = lt + skip_to?;
    }
}

/// Value of attribute `name` in a start tag's text.
fn attr(tag: &str, name: &str) -> Option<String> {
    static ATTR: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))"#).expect("valid regex")
    });
    ATTR.captures_iter(tag).find_map(|c| {
        c[1].eq_ignore_ascii_case(name).then(|| {
            c.get(2)
                .or(c.get(3))
                .or(c.get(4))
                .map_or(String::new(), |m| m.as_str().to_string())
        })
    })
}

/// The feed an HTML page advertises with `<link rel="alternate" type="application/rss+xml">`
/// (or Atom / JSON Feed), resolved against `base_url`.
pub fn alternate_feed_link(doc: &str, base_url: Option<&str>) -> Option<String> {
    static LINK: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?is)<link\b[^>]*>").expect("valid regex"));
    LINK.find_iter(doc).find_map(|m| {
        let tag = m.as_str();
        let rel = attr(tag, "rel")?.to_ascii_lowercase();
        let kind = attr(tag, "type")?.to_ascii_lowercase();
        let is_feed =
            kind.contains("rss+xml") || kind.contains("atom+xml") || kind.contains("feed+json");
        if !rel.split_whitespace().any(|r| r == "alternate") || !is_feed {
            return None;
        }
        let href = html_escape::decode_html_entities(&attr(tag, "href")?).into_owned();
        let base = base_url.and_then(|b| url::Url::parse(b).ok());
        text::resolve(&href, base.as_ref())
    })
}

/// Rewrites what feed-rs would reject or misread although the content is fine: an RSS root
/// without a version it knows, and the Atom 0.3 namespace and date elements.
pub fn prepare_for_feedrs<'a>(doc: &'a str, sniffed: &Sniffed) -> Cow<'a, str> {
    let (start, end) = sniffed.root_span;
    match sniffed.format {
        Some(FeedFormat::Rss0 | FeedFormat::Rss2) if sniffed.root == "rss" => {
            let version = attr(&sniffed.root_tag, "version");
            if matches!(version.as_deref(), Some("2.0" | "0.91" | "0.92")) {
                return Cow::Borrowed(doc);
            }
            // RSS 0.93/0.94/2.0.1 and version-less RSS are RSS 2.0 as far as extraction goes.
            static VERSION: LazyLock<Regex> = LazyLock::new(|| {
                Regex::new(r#"\sversion\s*=\s*("[^"]*"|'[^']*')"#).expect("valid regex")
            });
            let tag = VERSION.replace_all(&sniffed.root_tag, "");
            Cow::Owned(
                format!(
                    "{}{} version=\"2.0\"{}",
                    &doc[..start],
                    tag.trim_end_matches('/'),
                    if tag.ends_with('/') { "/" } else { "" }
                ) + &doc[end..],
            )
        }
        Some(FeedFormat::Atom03) => {
            static DATES: LazyLock<Regex> = LazyLock::new(|| {
                Regex::new(r"(</?)([\w.-]+:)?(issued|modified)\b").expect("valid regex")
            });
            let doc = doc.replace(ATOM03_NS, ATOM10_NS);
            let doc = DATES.replace_all(&doc, |c: &regex::Captures| {
                let new = if &c[3] == "issued" {
                    "published"
                } else {
                    "updated"
                };
                format!("{}{}{}", &c[1], c.get(2).map_or("", |m| m.as_str()), new)
            });
            Cow::Owned(doc.into_owned())
        }
        _ => Cow::Borrowed(doc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_root_after_prolog() {
        let s = sniff(
            "<?xml version='1.0'?><!-- x --><!DOCTYPE rss [<!ENTITY a 'b'>]><rss version='0.94'/>",
        )
        .expect("sniffed");
        assert_eq!(s.root, "rss");
        assert_eq!(s.format, Some(FeedFormat::Rss0));
    }

    #[test]
    fn html_page_offers_its_feed() {
        let page = r#"<!DOCTYPE html><html><head><link rel="alternate" type="application/rss+xml" href="/feed?a=1&amp;b=2"></head></html>"#;
        assert!(sniff(page).expect("sniffed").is_html);
        assert_eq!(
            alternate_feed_link(page, Some("https://example.org/blog/")).as_deref(),
            Some("https://example.org/feed?a=1&b=2")
        );
    }

    #[test]
    fn rss_version_is_rewritten() {
        let doc = "<rss version=\"2.0.1\"><channel/></rss>";
        let s = sniff(doc).expect("sniffed");
        assert_eq!(
            prepare_for_feedrs(doc, &s),
            "<rss version=\"2.0\"><channel/></rss>"
        );
    }
}
