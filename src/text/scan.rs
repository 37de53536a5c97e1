//! Forward text scanning with memory, shared by the HTML reader and the lenient XML reader.
//!
//! Owns the one trick that keeps recovery from unterminated markup linear: a search for a
//! terminator remembers its answer, and a search for the end of a tag remembers its failures.
//! Must never scan backwards or allocate per search.

/// The first occurrence of a fixed string at or after a position, remembered: a later search
/// from a position no further than that occurrence (or from anywhere, once the string is known
/// to be absent from some position on) answers without scanning.
pub(crate) struct NextMatch {
    pattern: &'static str,
    /// The last search: where it started and what it found.
    last: Option<(usize, Option<usize>)>,
}

impl NextMatch {
    /// A memo for `pattern`.
    pub(crate) fn new(pattern: &'static str) -> Self {
        NextMatch {
            pattern,
            last: None,
        }
    }

    /// Absolute position of the first occurrence of the pattern in `s` at or after `from`
    /// (`None` also when `from` is not a character boundary).
    pub(crate) fn find(&mut self, s: &str, from: usize) -> Option<usize> {
        match self.last {
            Some((start, None)) if start <= from => return None,
            Some((start, Some(at))) if start <= from && from <= at => return Some(at),
            _ => {}
        }
        let found = s
            .get(from..)
            .and_then(|r| r.find(self.pattern))
            .map(|i| from + i);
        self.last = Some((from, found));
        found
    }
}

/// Searches for the `>` that ends a tag, remembering the ones that failed.
///
/// A tag ends at the first `>` outside quoted attribute values (`'...'` or `"..."`), counting
/// from just after its `<`: the rule of quick-xml's reader and of the HTML reader alike. A
/// search that finds no such `>` runs to the end of the text. Quote tracking is a three-state
/// machine (outside, in `'...'`, in `"..."`) in which each byte permutes the states, so two
/// searches that are in the same state at the same position agree from there on, and searches
/// in different states never meet. Each failed search is therefore followed forward as the
/// text is read: a new search from a position where a failed one is outside quotes would fail
/// the same way and is answered without scanning, and at most three failed searches ever need
/// following.
#[derive(Default)]
pub(crate) struct TagEnds {
    /// Failed searches: the position each has been followed to, and its quote there.
    failed: Vec<(usize, Option<u8>)>,
}

impl TagEnds {
    /// How many failed searches are followed; more are possible only when searches do not
    /// move forward, which costs time but never changes an answer.
    const MAX_FOLLOWED: usize = 3;

    /// Absolute position of the first `>` at or after `from` that is outside quotes, reading
    /// from `from` as outside them (as from just after a tag's `<` or name).
    pub(crate) fn find(&mut self, s: &str, from: usize) -> Option<usize> {
        if self.known_to_fail(s, from) {
            return None;
        }
        let mut quote = None;
        for (i, &b) in s.as_bytes().iter().enumerate().skip(from) {
            if quote.is_none() && b == b'>' {
                return Some(i);
            }
            quote = quote_after(quote, b);
        }
        self.failed_at(from);
        None
    }

    /// Whether the search for the end of a tag starting at `from` is known to fail, because a
    /// search that failed earlier is outside quotes there.
    pub(crate) fn known_to_fail(&mut self, s: &str, from: usize) -> bool {
        let bytes = s.as_bytes();
        let mut fails = false;
        for (at, quote) in &mut self.failed {
            if *at <= from {
                for &b in bytes.get(*at..from).unwrap_or_default() {
                    *quote = quote_after(*quote, b);
                }
                *at = from;
                fails |= quote.is_none();
            }
        }
        fails
    }

    /// Notes that the search for the end of a tag starting at `from` failed, for a reader that
    /// searches by itself and asks only [`TagEnds::known_to_fail`].
    pub(crate) fn failed_at(&mut self, from: usize) {
        if self.failed.len() < Self::MAX_FOLLOWED && !self.failed.contains(&(from, None)) {
            self.failed.push((from, None));
        }
    }
}

/// The quote state after byte `b` of a tag, given the state before it.
fn quote_after(quote: Option<u8>, b: u8) -> Option<u8> {
    match (quote, b) {
        (None, b'"' | b'\'') => Some(b),
        (Some(q), b) if q == b => None,
        _ => quote,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The end of a tag searched afresh from `from`, written out state by state.
    fn fresh_tag_end(s: &str, from: usize) -> Option<usize> {
        let (mut single, mut double) = (false, false);
        for (i, b) in s.bytes().enumerate().skip(from) {
            match b {
                b'>' if !single && !double => return Some(i),
                b'\'' if !double => single = !single,
                b'"' if !single => double = !double,
                _ => {}
            }
        }
        None
    }

    #[test]
    fn remembered_searches_give_hits_and_absences_again() {
        let s = "a-->b-->c";
        let mut m = NextMatch::new("-->");
        assert_eq!(m.find(s, 0), Some(1));
        assert_eq!(m.find(s, 1), Some(1));
        assert_eq!(m.find(s, 2), Some(5));
        assert_eq!(m.find(s, 6), None);
        assert_eq!(m.find(s, 8), None);
    }

    #[test]
    fn tag_ends_skip_quoted_values_and_agree_with_fresh_searches() {
        let mut ends = TagEnds::default();
        assert_eq!(ends.find("<a b='>' c=\">\">", 2), Some(14));
        for s in [
            "<a b='>'>",
            "<a \">\"<b \">'",
            "<a '>\"<b \">'<c>",
            "<a b=\"x<c d='>'<e f=\">\"'>",
            "'\"'\"'>'\">'\"",
            "<a \"> <b '> <c \"> <d>",
        ] {
            // Asked from positions that only move forward, as the readers ask.
            let mut ends = TagEnds::default();
            for from in 0..=s.len() {
                assert_eq!(
                    ends.find(s, from),
                    fresh_tag_end(s, from),
                    "{s:?} from {from}"
                );
            }
        }
    }

    #[test]
    fn a_failed_tag_end_search_answers_later_ones_outside_quotes() {
        let s = "<a b='c' d=\"e>";
        let mut ends = TagEnds::default();
        assert_eq!(ends.find(s, 0), None);
        // Inside 'c' the failed search says nothing.
        assert!(!ends.known_to_fail(s, 6));
        // Outside quotes again: a search from here meets the same unclosed `"`.
        assert!(ends.known_to_fail(s, 8));
        // Inside "e>" a search from here is a different one, and succeeds.
        assert_eq!(ends.find(s, 12), Some(13));
    }
}
