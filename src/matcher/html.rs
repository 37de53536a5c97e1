//! HTML to plain text, for matching and for showing feed text to people.
//!
//! Owns tag removal, entity decoding (including feeds that escape twice) and whitespace
//! collapsing. Must never fold case, remove accents or otherwise change the words themselves:
//! its output is what snippets quote.

use std::borrow::Cow;

/// How many rounds of entity decoding to apply: feeds escape twice (`&amp;eacute;`), and
/// sometimes three times, but never meaningfully more.
const MAX_DECODE_ROUNDS: usize = 3;

/// Elements whose content is not text at all.
const SKIPPED_ELEMENTS: [&str; 5] = ["script", "style", "template", "noscript", "svg"];

/// Elements that start a new line of text.
const BLOCK_ELEMENTS: [&str; 38] = [
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "caption",
    "dd",
    "details",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "td",
    "th",
    "tr",
    "ul",
    "title",
    "body",
];

/// HTML → plain text: tags removed, `<script>`/`<style>`/comments dropped, block elements and
/// `<br>` become "\n", named and numeric entities decoded (also when escaped twice), whitespace
/// runs collapsed.
pub fn html_to_text(s: &str) -> String {
    let text = strip_and_decode(s);
    // A feed that escaped its markup once more than it should ("&lt;b&gt;John&lt;/b&gt;") has
    // markup again after decoding; strip it so the words come together.
    if !s.contains('<') && has_tag(&text) {
        strip_and_decode(&text)
    } else {
        text
    }
}

fn strip_and_decode(s: &str) -> String {
    let mut out = TextOut {
        out: String::with_capacity(s.len()),
        pending: None,
    };
    let mut text_start = 0;
    let mut pos = 0;
    while let Some(rel) = s.get(pos..).and_then(|r| r.find('<')) {
        let lt = pos + rel;
        match parse_markup(s, lt) {
            Markup::Literal => {
                pos = lt + 1;
                continue;
            }
            Markup::Comment { end } => {
                out.push_raw(s.get(text_start..lt).unwrap_or(""));
                pos = end;
            }
            Markup::Cdata { text, end } => {
                out.push_raw(s.get(text_start..lt).unwrap_or(""));
                // CDATA content is literal text: no entities to decode.
                out.push_text(text);
                pos = end;
            }
            Markup::Tag { name, closing, end } => {
                out.push_raw(s.get(text_start..lt).unwrap_or(""));
                pos = end;
                if !closing
                    && SKIPPED_ELEMENTS
                        .iter()
                        .any(|e| name.eq_ignore_ascii_case(e))
                {
                    pos = skip_element(s, end, name);
                }
                if BLOCK_ELEMENTS.iter().any(|e| name.eq_ignore_ascii_case(e)) {
                    out.line_break();
                }
            }
        }
        text_start = pos;
    }
    out.push_raw(s.get(text_start..).unwrap_or(""));
    out.out
}

/// Whether `s` contains something that `strip_and_decode` would remove as markup.
fn has_tag(s: &str) -> bool {
    s.match_indices('<').any(|(i, _)| {
        matches!(
            parse_markup(s, i),
            Markup::Tag { .. } | Markup::Comment { .. }
        )
    })
}

/// What a `<` at some position starts.
enum Markup<'a> {
    /// Not markup: a literal `<`.
    Literal,
    /// A comment, declaration or processing instruction, ending before `end`.
    Comment { end: usize },
    /// A CDATA section whose text is `text`, ending before `end`.
    Cdata { text: &'a str, end: usize },
    /// An element tag, ending before `end`.
    Tag {
        name: &'a str,
        closing: bool,
        end: usize,
    },
}

fn parse_markup(s: &str, lt: usize) -> Markup<'_> {
    let Some(rest) = s.get(lt + 1..) else {
        return Markup::Literal;
    };
    if let Some(body) = rest.strip_prefix("!--") {
        let end = body
            .find("-->")
            .map_or(s.len(), |i| lt + 4 + i + 3)
            .min(s.len());
        return Markup::Comment { end };
    }
    if let Some(body) = rest.strip_prefix("![CDATA[") {
        let (text, end) = match body.find("]]>") {
            Some(i) => (&body[..i], lt + 9 + i + 3),
            None => (body, s.len()),
        };
        return Markup::Cdata { text, end };
    }
    let bytes = rest.as_bytes();
    match bytes.first() {
        Some(b'!' | b'?') => match rest.find('>') {
            Some(i) => Markup::Comment {
                end: lt + 1 + i + 1,
            },
            None => Markup::Literal,
        },
        Some(b) if b.is_ascii_alphabetic() || *b == b'/' => {
            let closing = *b == b'/';
            let name_start = usize::from(closing);
            let name_len = bytes[name_start..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric())
                .count();
            if name_len == 0 {
                return Markup::Literal;
            }
            let name = &rest[name_start..name_start + name_len];
            match find_tag_end(&rest[name_start + name_len..]) {
                Some(i) => Markup::Tag {
                    name,
                    closing,
                    end: lt + 1 + name_start + name_len + i + 1,
                },
                None => Markup::Literal,
            }
        }
        _ => Markup::Literal,
    }
}

/// Position of the `>` that ends a tag, skipping quoted attribute values.
fn find_tag_end(attrs: &str) -> Option<usize> {
    let mut quote = None;
    for (i, b) in attrs.bytes().enumerate() {
        match (quote, b) {
            (None, b'>') => return Some(i),
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), b) if q == b => quote = None,
            _ => {}
        }
    }
    // An unbalanced quote: fall back to the first '>' rather than swallowing the document.
    attrs.find('>')
}

/// Position after the closing tag of element `name` whose content starts at `from`.
fn skip_element(s: &str, from: usize, name: &str) -> usize {
    let mut pos = from;
    while let Some(rel) = s.get(pos..).and_then(|r| r.find("</")) {
        let at = pos + rel;
        if let Markup::Tag {
            name: n,
            closing: true,
            end,
        } = parse_markup(s, at)
            && n.eq_ignore_ascii_case(name)
        {
            return end;
        }
        pos = at + 2;
    }
    s.len()
}

/// Decodes character references, repeatedly for text that was escaped more than once.
fn decode_entities(s: &str) -> Cow<'_, str> {
    let mut text = Cow::Borrowed(s);
    for _ in 0..MAX_DECODE_ROUNDS {
        if !text.contains('&') {
            break;
        }
        match html_escape::decode_html_entities(text.as_ref()) {
            Cow::Borrowed(_) => break,
            Cow::Owned(decoded) => text = Cow::Owned(decoded),
        }
    }
    text
}

/// Plain text being built: entities decoded and whitespace runs collapsed as text arrives,
/// to "\n" when the run contains a line break, else to one space; none at either end.
struct TextOut {
    out: String,
    /// Whitespace seen since the last text, written only when more text follows.
    pending: Option<char>,
}

impl TextOut {
    /// Appends a stretch of HTML text (between tags), decoding its entities.
    fn push_raw(&mut self, raw: &str) {
        if raw.contains('&') {
            self.push_text(&decode_entities(raw));
        } else {
            self.push_text(raw);
        }
    }

    /// Appends decoded text, collapsing whitespace.
    fn push_text(&mut self, text: &str) {
        let bytes = text.as_bytes();
        // Start of the current stretch of non-whitespace, copied in one piece when it ends.
        let mut word_start = None;
        let mut i = 0;
        loop {
            // Only these bytes can start a whitespace character; skip the others in bulk.
            let next = bytes
                .get(i..)
                .and_then(|r| {
                    r.iter()
                        .position(|&b| b <= b' ' || matches!(b, 0xC2 | 0xE1..=0xE3))
                })
                .map_or(bytes.len(), |p| i + p);
            if next > i {
                self.start_word(&mut word_start, i);
            }
            i = next;
            let Some(c) = text.get(i..).and_then(|r| r.chars().next()) else {
                break;
            };
            if !c.is_whitespace() {
                self.start_word(&mut word_start, i);
                i += c.len_utf8();
                continue;
            }
            if let Some(w) = word_start.take() {
                self.out.push_str(text.get(w..i).unwrap_or(""));
            }
            let brk = matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}');
            self.pending = match self.pending {
                Some('\n') => Some('\n'),
                _ if brk => Some('\n'),
                _ => Some(' '),
            };
            i += c.len_utf8();
        }
        if let Some(w) = word_start {
            self.out.push_str(text.get(w..).unwrap_or(""));
        }
    }

    /// Notes that text starts at `at`, writing the pending whitespace before it.
    fn start_word(&mut self, word_start: &mut Option<usize>, at: usize) {
        if word_start.is_none() {
            if let Some(p) = self.pending.take()
                && !self.out.is_empty()
            {
                self.out.push(p);
            }
            *word_start = Some(at);
        }
    }

    /// A block boundary: the next text starts on a new line.
    fn line_break(&mut self) {
        self.pending = Some('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::html_to_text;

    #[test]
    fn strips_tags_and_keeps_words_together() {
        assert_eq!(html_to_text("<b>John</b> Kirby"), "John Kirby");
        assert_eq!(html_to_text("Jo<i>hn</i>"), "John");
        assert_eq!(html_to_text("<p>One</p><p>Two</p>"), "One\nTwo");
        assert_eq!(html_to_text("a<br/>b"), "a\nb");
    }

    #[test]
    fn drops_scripts_styles_and_comments() {
        let html =
            "x<script type=\"a\">if (a<b) alert('<p>')</script><style>p{}</style><!-- c -->y";
        assert_eq!(html_to_text(html), "xy");
    }

    #[test]
    fn decodes_entities_also_double_escaped() {
        assert_eq!(html_to_text("Caf&eacute; &amp; bar"), "Café & bar");
        assert_eq!(html_to_text("Caf&amp;eacute;"), "Café");
        assert_eq!(html_to_text("AT&amp;amp;T"), "AT&T");
        assert_eq!(html_to_text("&#x4E2D;&#22269;"), "中国");
        assert_eq!(html_to_text("a&nbsp;b"), "a b");
    }

    #[test]
    fn literal_angle_brackets_stay() {
        assert_eq!(html_to_text("a < b and c > d"), "a < b and c > d");
        assert_eq!(html_to_text("x <3 y"), "x <3 y");
    }

    #[test]
    fn escaped_markup_is_stripped() {
        assert_eq!(html_to_text("&lt;b&gt;John&lt;/b&gt; Kirby"), "John Kirby");
    }
}
