//! Searching an item for every term of every watchlist at once: per field, one pass of each
//! normalized form's automaton and one of the regex set.
//!
//! Owns the whole-word check on automaton hits, keeping each term's first occurrence in a field
//! its watchlist looks in, and mapping hits back to the plain text. Must never loop over plain
//! terms per item, decide whether a watchlist alerts, or panic on item text.

use super::compile::{Matcher, Term};
use super::normalize::{Form, is_whole_word};
use super::{Field, ItemText};

/// The first occurrence of one term in an item.
#[derive(Debug, Clone, Copy)]
pub(super) struct RawHit {
    /// The term's id.
    pub(super) term: usize,
    /// The field it occurs in.
    pub(super) field: Field,
    /// Start of its byte range in the field's plain text.
    pub(super) start: usize,
    /// End of its byte range in the field's plain text.
    pub(super) end: usize,
}

impl Matcher {
    /// Finds the first occurrence of every term in every field it may look in, ordered by
    /// watchlist, field and position.
    pub(super) fn scan(&self, text: &ItemText) -> Vec<RawHit> {
        let mut seen = vec![0u64; self.terms.len().div_ceil(64)];
        let mut hits = Vec::new();
        let mut record = |term: usize, field: Field, range: Option<(usize, usize)>| {
            let Some((start, end)) = range else { return };
            let Some(t) = self.terms.get(term) else {
                return;
            };
            let looks = self
                .watchlists
                .get(t.watchlist)
                .is_some_and(|w| w.looks_in(field));
            let (word, bit) = (term / 64, 1u64 << (term % 64));
            if let Some(s) = seen.get_mut(word)
                && looks
                && *s & bit == 0
            {
                *s |= bit;
                hits.push(RawHit {
                    term,
                    field,
                    start,
                    end,
                });
            }
        };
        for field in Field::ALL {
            let field_text = text.field(field);
            if field_text.plain.is_empty() {
                continue;
            }
            for searcher in &self.searchers {
                let normalized = field_text.form(searcher.form);
                let haystack = normalized.text();
                for m in searcher.automaton.find_overlapping_iter(haystack) {
                    if !is_whole_word(haystack, m.start(), m.end()) {
                        continue;
                    }
                    let Some(owners) = searcher.owners.get(m.pattern().as_usize()) else {
                        continue;
                    };
                    let range = normalized.to_plain(m.start(), m.end());
                    for &term in owners {
                        record(term, field, range);
                    }
                }
            }
            if let Some(rx) = &self.regexes {
                let normalized = field_text.form(Form::EXACT);
                let haystack = normalized.text();
                for i in rx.set.matches(haystack).iter() {
                    let (Some(regex), Some(&term)) = (rx.each.get(i), rx.terms.get(i)) else {
                        continue;
                    };
                    if let Some(m) = regex.find_iter(haystack).find(|m| !m.is_empty()) {
                        record(term, field, normalized.to_plain(m.start(), m.end()));
                    }
                }
            }
        }
        let terms = &self.terms;
        hits.sort_by_key(|h| {
            let w = terms.get(h.term).map_or(usize::MAX, |t| t.watchlist);
            (w, h.field, h.start, h.term)
        });
        hits
    }
}

/// Splits hits sorted by watchlist into one slice per watchlist.
pub(super) fn group_by_watchlist<'a>(
    hits: &'a [RawHit],
    terms: &'a [Term],
) -> impl Iterator<Item = (usize, &'a [RawHit])> + 'a {
    let watchlist = move |h: &RawHit| terms.get(h.term).map_or(usize::MAX, |t| t.watchlist);
    hits.chunk_by(move |a, b| watchlist(a) == watchlist(b))
        .filter_map(move |g| g.first().map(|h| (watchlist(h), g)))
}
