//! Text and link clean-up shared by every extraction path.
//!
//! Owns control-character stripping, plain-text rendering of feed titles, and resolution of
//! relative links. Must never drop printable text or invent links.

use std::fmt::Write;

use url::Url;

use crate::model::Item;
use crate::text::{html_to_text, is_unsafe};

/// Removes NUL and other control characters except newline and tab; they break terminals, mail
/// headers and databases downstream and never carry meaning in feed text.
pub fn strip_controls(s: &str) -> String {
    s.chars()
        .filter(|c| *c == '\n' || *c == '\t' || !c.is_control())
        .collect()
}

/// Plain text of a possibly HTML-bearing string: tags dropped, entities decoded, whitespace
/// collapsed. The same HTML reading as matching uses, so a title means the same everywhere.
pub fn plain_text(s: &str) -> String {
    let text = html_to_text(s);
    // One pass and one copy: key derivation runs this on every entry's whole body.
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
        } else if !c.is_control() {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    }
    out
}

/// The base for relative item links (after any `xml:base`, which feed-rs applies): the URL the
/// document was fetched from, as XML prescribes; without one, the feed's own absolute link.
pub fn link_base(feed_link: Option<&str>, base_url: Option<&str>) -> Option<Url> {
    base_url
        .and_then(|b| Url::parse(b.trim()).ok())
        .or_else(|| {
            feed_link
                .and_then(|l| Url::parse(l.trim()).ok())
                .filter(|u| matches!(u.scheme(), "http" | "https"))
        })
}

/// Resolves `link` against `base` when it is relative; `None` when it is unusable. A link is
/// one word on one line wherever it is shown: what parses as a URL comes out percent-encoded,
/// and text kept as it is gets its whitespace and control characters percent-encoded.
pub fn resolve(link: &str, base: Option<&Url>) -> Option<String> {
    let link = link.trim();
    if link.is_empty() {
        return None;
    }
    match Url::parse(link) {
        Ok(u) => Some(u.to_string()),
        Err(url::ParseError::RelativeUrlWithoutBase) => match base {
            Some(b) => b.join(link).ok().map(|u| u.to_string()),
            // Keep the relative link rather than lose it: it still identifies the story.
            None => Some(encode_breaks(link)),
        },
        // Not a URL at all (spaces, bad host, ...): keep the text, it still identifies the story.
        Err(_) => Some(encode_breaks(link)),
    }
}

/// `link` with whitespace and control characters percent-encoded (as UTF-8 bytes).
fn encode_breaks(link: &str) -> String {
    let mut out = String::with_capacity(link.len());
    for c in link.chars() {
        if c.is_whitespace() || is_unsafe(c) {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Cleans every text field of an item and makes its link absolute.
pub fn finish_item(item: &mut Item, link_base: Option<&Url>) {
    for field in [
        &mut item.title,
        &mut item.summary,
        &mut item.content,
        &mut item.author,
        &mut item.categories,
    ] {
        if field
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            *field = strip_controls(field);
        }
    }
    item.guid = item
        .guid
        .take()
        .map(|g| strip_controls(g.trim()))
        .filter(|g| !g.is_empty());
    item.link = item
        .link
        .take()
        .and_then(|l| resolve(&strip_controls(&l), link_base));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_drops_tags_and_decodes() {
        assert_eq!(
            plain_text("<b>Caf&eacute;</b>  &amp; a < b\0"),
            "Café & a < b"
        );
    }

    #[test]
    fn links_never_carry_a_line_break_or_control_character() {
        let forged = "/a\nINFO fake line\r\u{2028}\x1b[31m";
        let base = link_base(None, Some("https://example.org/"));
        for base in [None, base.as_ref()] {
            for link in [forged, "http://exa mple.org/a\nb"] {
                let out = resolve(link, base).expect("kept");
                assert!(
                    !out.chars().any(|c| c.is_whitespace() || is_unsafe(c)),
                    "{out}"
                );
            }
        }
        assert_eq!(
            resolve("a b\n\u{2028}é", None).as_deref(),
            Some("a%20b%0A%E2%80%A8é")
        );
    }

    #[test]
    fn relative_links_resolve_against_base_url_then_feed_link() {
        let base = link_base(Some("https://example.org/blog/"), None);
        assert_eq!(
            resolve("post/1", base.as_ref()).as_deref(),
            Some("https://example.org/blog/post/1")
        );
        let base = link_base(Some("/blog/"), Some("https://example.org/feed.xml"));
        assert_eq!(
            resolve("/a", base.as_ref()).as_deref(),
            Some("https://example.org/a")
        );
    }
}
