//! HTML to plain text, for matching and for showing feed text to people.
//!
//! Owns tag removal, entity decoding (including feeds that escape twice) and whitespace
//! collapsing. Must never fold case, remove accents or otherwise change the words themselves:
//! its output is what snippets quote.

use std::borrow::Cow;

use super::scan::{NextMatch, TagEnds};

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

/// Inline elements whose content is never part of the word before or after it: footnote
/// marks, indices and small print (`Interpol<sup>2</sup>`, `H<sub>2</sub>O`,
/// `Reuters<small>(AFP)</small>`). Other inline elements (`b`, `i`, `span`, `a`…) can split a
/// word in two (`Jo<i>hn</i>`) and join their text without a space.
const WORD_BREAKING_ELEMENTS: [&str; 3] = ["sup", "sub", "small"];

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
    let mut markups = Markups::new(s);
    let mut text_start = 0;
    let mut pos = 0;
    while let Some(rel) = s.get(pos..).and_then(|r| r.find('<')) {
        let lt = pos + rel;
        match markups.parse(lt) {
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
                // A news photo's alt text often names who is in it: it is text of its own.
                if !closing
                    && name.eq_ignore_ascii_case("img")
                    && let Some(alt) = s.get(lt..end).and_then(alt_text)
                {
                    out.word_break();
                    out.push_raw(alt);
                    out.word_break();
                }
                if !closing
                    && SKIPPED_ELEMENTS
                        .iter()
                        .any(|e| name.eq_ignore_ascii_case(e))
                {
                    pos = markups.skip_element(end, name);
                }
                if BLOCK_ELEMENTS.iter().any(|e| name.eq_ignore_ascii_case(e)) {
                    out.line_break();
                } else if WORD_BREAKING_ELEMENTS
                    .iter()
                    .any(|e| name.eq_ignore_ascii_case(e))
                {
                    out.word_break();
                }
            }
        }
        text_start = pos;
    }
    out.push_raw(s.get(text_start..).unwrap_or(""));
    out.out
}

/// The value of the `alt` attribute in the tag `tag` (`<img … alt="…">`), if it has one.
fn alt_text(tag: &str) -> Option<&str> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower.get(from..)?.find("alt") {
        let at = from + found;
        from = at + 3;
        let preceded = lower[..at].ends_with(|c: char| c.is_ascii_whitespace());
        let rest = lower.get(at + 3..)?.trim_start();
        if !preceded || !rest.starts_with('=') {
            continue;
        }
        let value_at = tag.len() - rest.len() + 1;
        let value = tag.get(value_at..)?.trim_start();
        return match value.chars().next()? {
            q @ ('"' | '\'') => value.get(1..)?.split(q).next(),
            _ => value
                .split(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
                .next(),
        };
    }
    None
}

/// Whether `s` contains something that `strip_and_decode` would remove as markup.
fn has_tag(s: &str) -> bool {
    let mut markups = Markups::new(s);
    s.match_indices('<').any(|(i, _)| {
        matches!(
            markups.parse(i),
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

/// Reads the markup of one text, front to back.
///
/// Every `<` may start markup whose end lies anywhere further on, so searching afresh from
/// each one would cost quadratic time on text full of `<` with no end in sight (`<a<a<a...`).
/// The searches for terminators therefore remember what they found: asked from positions
/// that only move forward, as they do here, they cost linear time in total.
struct Markups<'a> {
    s: &'a str,
    comment_end: NextMatch,
    cdata_end: NextMatch,
    gt: NextMatch,
    tag_ends: TagEnds,
}

impl<'a> Markups<'a> {
    fn new(s: &'a str) -> Self {
        Markups {
            s,
            comment_end: NextMatch::new("-->"),
            cdata_end: NextMatch::new("]]>"),
            gt: NextMatch::new(">"),
            tag_ends: TagEnds::default(),
        }
    }

    /// What the `<` at `lt` starts.
    fn parse(&mut self, lt: usize) -> Markup<'a> {
        let s = self.s;
        let Some(rest) = s.get(lt + 1..) else {
            return Markup::Literal;
        };
        if rest.starts_with("!--") {
            let end = self
                .comment_end
                .find(s, lt + 4)
                .map_or(s.len(), |i| i + 3)
                .min(s.len());
            return Markup::Comment { end };
        }
        if rest.starts_with("![CDATA[") {
            let body_start = lt + 9;
            let (text, end) = match self.cdata_end.find(s, body_start) {
                Some(i) => (s.get(body_start..i).unwrap_or(""), i + 3),
                None => (s.get(body_start..).unwrap_or(""), s.len()),
            };
            return Markup::Cdata { text, end };
        }
        let bytes = rest.as_bytes();
        match bytes.first() {
            Some(b'!' | b'?') => match self.gt.find(s, lt + 1) {
                Some(i) => Markup::Comment { end: i + 1 },
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
                let attrs = lt + 1 + name_start + name_len;
                // The first `>` outside quotes; failing that (an unbalanced quote), the first one
                // at all rather than swallowing the document.
                let end = self
                    .tag_ends
                    .find(s, attrs)
                    .or_else(|| self.gt.find(s, attrs));
                match end {
                    Some(i) => Markup::Tag {
                        name,
                        closing,
                        end: i + 1,
                    },
                    None => Markup::Literal,
                }
            }
            _ => Markup::Literal,
        }
    }

    /// Position after the closing tag of element `name` whose content starts at `from`.
    fn skip_element(&mut self, from: usize, name: &str) -> usize {
        let s = self.s;
        let mut pos = from;
        while let Some(rel) = s.get(pos..).and_then(|r| r.find("</")) {
            let at = pos + rel;
            if let Markup::Tag {
                name: n,
                closing: true,
                end,
            } = self.parse(at)
                && n.eq_ignore_ascii_case(name)
            {
                return end;
            }
            pos = at + 2;
        }
        s.len()
    }
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

    /// A word boundary: the next text is a word of its own (unless a line break is pending).
    fn word_break(&mut self) {
        if self.pending.is_none() {
            self.pending = Some(' ');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::html_to_text;

    #[test]
    fn image_alt_text_is_text_of_its_own() {
        assert_eq!(
            html_to_text("Photo<img src=\"a.jpg\" alt=\"ISIS-K fighters\">taken"),
            "Photo ISIS-K fighters taken"
        );
        assert_eq!(
            html_to_text("<IMG ALT='Kabul &amp; Herat' SRC=x>"),
            "Kabul & Herat"
        );
        assert_eq!(html_to_text("<img alt=Kabul>"), "Kabul");
        assert_eq!(html_to_text("<img data-alt=\"no\" src=x>"), "");
        assert_eq!(html_to_text("<img salt=\"no\">"), "");
    }

    #[test]
    fn superscripts_subscripts_and_small_print_are_words_of_their_own() {
        assert_eq!(html_to_text("Interpol<sup>2</sup> said"), "Interpol 2 said");
        assert_eq!(html_to_text("H<sub>2</sub>O"), "H 2 O");
        assert_eq!(html_to_text("Reuters<small>(AFP)</small>"), "Reuters (AFP)");
        assert_eq!(html_to_text("<p>a</p><sup>1</sup>"), "a\n1");
    }

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

    /// About 4 MB of `unit`: with a quadratic search, each of these would take hours.
    fn hostile(unit: &str) -> String {
        unit.repeat((4 << 20) / unit.len())
    }

    #[test]
    fn unterminated_markup_stays_literal_text() {
        for unit in ["<a", "<!x", "<?x", "</", "<a <b c=\"", "<a b='", "<1<a"] {
            let input = hostile(unit);
            assert_eq!(html_to_text(&input), input, "{unit:?}");
        }
    }

    #[test]
    fn unterminated_comments_cdata_and_scripts_end_the_text() {
        assert_eq!(html_to_text(&hostile("<!--")), "");
        assert_eq!(html_to_text(&hostile("<script>x")), "");
        let input = format!("a<script>{}", hostile("</scrip"));
        assert_eq!(html_to_text(&input), "a");
        let input = hostile("<![CDATA[x");
        assert_eq!(html_to_text(&input), &input["<![CDATA[".len()..]);
    }

    #[test]
    fn unbalanced_quotes_in_many_tags() {
        // Each tag's quote-aware search fails; each tag still ends at its first `>`.
        let input = hostile("<a \">\"");
        assert_eq!(html_to_text(&input), "\"".repeat(input.len() / 6));
        let input = hostile("<a '>\"<b \">'");
        assert_eq!(html_to_text(&input), "\"'".repeat(input.len() / 12));
    }

    #[test]
    fn entity_floods_and_escaped_markup() {
        let input = hostile("&amp;");
        assert_eq!(html_to_text(&input), "&".repeat(input.len() / 5));
        let input = hostile("&lt;a");
        assert_eq!(html_to_text(&input), "<a".repeat(input.len() / 5));
        assert_eq!(html_to_text(&hostile("&lt;!--")), "");
    }
}
