//! Snippets: a short quote of an item's plain text around a hit, for alerts and `--explain`.
//!
//! Owns cutting the quote at word boundaries and rendering the marked hit. Must never normalize
//! or otherwise alter the quoted words: people must recognise the text they read in the feed.

use serde::{Deserialize, Serialize};

/// Roughly how many characters a snippet quotes, hit included.
const SNIPPET_CHARS: usize = 160;

/// Marks the place where a snippet was cut from a longer text.
const ELLIPSIS: &str = "…";

/// A quote of plain text around a hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snippet {
    /// The quoted text.
    pub text: String,
    /// Byte offset in `text` where the hit starts.
    pub mark_start: usize,
    /// Byte offset in `text` where the hit ends.
    pub mark_end: usize,
}

impl Snippet {
    /// Cuts a snippet of `plain` around the hit at byte range `start..end`.
    pub(crate) fn around(plain: &str, start: usize, end: usize) -> Snippet {
        let (Some(before), Some(hit), Some(after)) =
            (plain.get(..start), plain.get(start..end), plain.get(end..))
        else {
            return Snippet {
                text: String::new(),
                mark_start: 0,
                mark_end: 0,
            };
        };
        let budget = SNIPPET_CHARS.saturating_sub(hit.chars().count());
        let before_avail = before.chars().rev().take(budget).count();
        let after_avail = after.chars().take(budget).count();
        // Share the budget evenly, giving what one side cannot use to the other.
        let mut before_take = (budget / 2).min(before_avail);
        let after_take = (budget - before_take).min(after_avail);
        before_take = (budget - after_take).min(before_avail);

        let lead = cut_lead(before, before_take);
        let tail = cut_tail(after, after_take);
        let prefix = if lead.len() < before.len() {
            ELLIPSIS
        } else {
            ""
        };
        let suffix = if tail.len() < after.len() {
            ELLIPSIS
        } else {
            ""
        };

        let mut text =
            String::with_capacity(prefix.len() + lead.len() + hit.len() + tail.len() + 3);
        text.push_str(prefix);
        text.push_str(lead);
        let mark_start = text.len();
        text.push_str(hit);
        let mark_end = text.len();
        text.push_str(tail);
        text.push_str(suffix);
        // Line breaks from block elements read as spaces in a one-line quote; same byte length,
        // so the mark stays in place.
        let text = text.replace('\n', " ");
        Snippet {
            text,
            mark_start,
            mark_end,
        }
    }

    /// The snippet with the hit wrapped in `**`.
    pub fn marked_text(&self) -> String {
        let (before, hit, after) = self.parts();
        format!("{before}**{hit}**{after}")
    }

    /// The snippet HTML-escaped, with the hit in `<mark>`.
    pub fn marked_html(&self) -> String {
        let (before, hit, after) = self.parts();
        format!(
            "{}<mark>{}</mark>{}",
            html_escape::encode_text(before),
            html_escape::encode_text(hit),
            html_escape::encode_text(after)
        )
    }

    /// The text before the hit, the hit, and the text after it; all of it before, with no
    /// hit, when the offsets do not fall on character boundaries.
    pub fn parts(&self) -> (&str, &str, &str) {
        match (
            self.text.get(..self.mark_start),
            self.text.get(self.mark_start..self.mark_end),
            self.text.get(self.mark_end..),
        ) {
            (Some(b), Some(h), Some(a)) => (b, h, a),
            _ => (self.text.as_str(), "", ""),
        }
    }
}

/// The last `chars` characters of `before`, starting at a word boundary when cut.
fn cut_lead(before: &str, chars: usize) -> &str {
    let start = match before.char_indices().rev().take(chars).last() {
        Some((i, _)) if chars > 0 => i,
        _ => before.len(),
    };
    if start == 0 {
        return before;
    }
    let lead = &before[start..];
    // Only cut mid-word if there is no space to cut at; a word is kept whole or dropped.
    let starts_mid_word = before[..start]
        .chars()
        .next_back()
        .is_some_and(|c| !c.is_whitespace());
    if starts_mid_word && let Some(ws) = lead.find(char::is_whitespace) {
        return lead[ws..].trim_start();
    }
    lead.trim_start()
}

/// The first `chars` characters of `after`, ending at a word boundary when cut.
fn cut_tail(after: &str, chars: usize) -> &str {
    let end = after
        .char_indices()
        .nth(chars)
        .map_or(after.len(), |(i, _)| i);
    if end == after.len() {
        return after;
    }
    let tail = &after[..end];
    let ends_mid_word = after[end..]
        .chars()
        .next()
        .is_some_and(|c| !c.is_whitespace());
    if ends_mid_word && let Some(ws) = tail.rfind(char::is_whitespace) {
        return tail[..ws].trim_end();
    }
    tail.trim_end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_quoted_whole() {
        let s = Snippet::around("Strike near Kabul today", 12, 17);
        assert_eq!(s.marked_text(), "Strike near **Kabul** today");
    }

    #[test]
    fn long_text_is_cut_at_words() {
        let words = "word ".repeat(100);
        let plain = format!("{words}Kabul {words}");
        let start = words.len();
        let s = Snippet::around(&plain, start, start + 5);
        assert!(s.text.starts_with('…') && s.text.ends_with('…'));
        assert_eq!(&s.text[s.mark_start..s.mark_end], "Kabul");
        assert!(s.text.chars().count() <= SNIPPET_CHARS + 2);
        assert!(!s.text.contains("wor…") && !s.text.contains("…ord"));
    }

    #[test]
    fn html_is_escaped() {
        let s = Snippet::around("a<b & Kabul", 6, 11);
        assert_eq!(s.marked_html(), "a&lt;b &amp; <mark>Kabul</mark>");
    }
}
