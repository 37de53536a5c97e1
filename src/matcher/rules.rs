//! The compiled matcher: all watch terms in shared automata, and the watchlist rules (terms,
//! require, exclude, fields) evaluated over the hits.
//!
//! Owns compiling `WatchlistSpec`s, scanning an `ItemText` once for every term of every
//! watchlist, and the alert decision with its explanation. Must never loop over plain terms per
//! item (they all go through one Aho-Corasick automaton per normalized form), and must never
//! panic on item text.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use aho_corasick::{AhoCorasick, MatchKind};
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use super::normalize::{Form, is_whole_word, normalize};
use super::{
    Explanation, Field, Hit, ItemText, MatcherError, Snippet, TermPattern, TermSpec,
    WatchlistMatch, WatchlistSpec,
};

/// Compiled size limit for one regex term.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Lazy DFA cache limit for one regex term.
const REGEX_DFA_LIMIT: usize = 2 << 20;
/// Compiled size limit for the set of all regex terms, used to find which ones match.
const REGEX_SET_SIZE_LIMIT: usize = 16 << 20;

/// What a term does for its watchlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// One of `terms`: makes the item a candidate.
    Trigger,
    /// Member of the `require` group with this index.
    Require(usize),
    /// One of `exclude`: suppresses the alert.
    Exclude,
}

/// One term of one watchlist.
#[derive(Debug)]
struct Term {
    label: String,
    watchlist: usize,
    role: Role,
}

/// One watchlist's compiled rules.
#[derive(Debug)]
struct Watchlist {
    name: String,
    /// Bit `field as usize` is set for each field the watchlist looks in.
    fields: u32,
    /// Term ids of each require group, for explanations.
    require: Vec<Vec<usize>>,
}

impl Watchlist {
    fn looks_in(&self, field: Field) -> bool {
        self.fields & field_bit(field) != 0
    }
}

fn field_bit(field: Field) -> u32 {
    1u32.checked_shl(field as u32).unwrap_or(0)
}

/// All plain terms that are matched in one normalized form.
#[derive(Debug)]
struct FormSearcher {
    form: Form,
    automaton: AhoCorasick,
    /// For each automaton pattern, the terms whose normalized text it is.
    owners: Vec<Vec<usize>>,
}

/// All regex terms.
#[derive(Debug)]
struct RegexTerms {
    /// Tells in one pass which regexes match a field.
    set: RegexSet,
    /// The same regexes one by one, to locate a match.
    each: Vec<Regex>,
    /// Term id of each regex.
    terms: Vec<usize>,
}

/// The first occurrence of one term in an item.
#[derive(Debug, Clone, Copy)]
struct RawHit {
    term: usize,
    field: Field,
    /// Byte range in the field's plain text.
    start: usize,
    end: usize,
}

/// All watchlists compiled once, shared by every item (`Send + Sync`).
#[derive(Debug)]
pub struct Matcher {
    watchlists: Vec<Watchlist>,
    terms: Vec<Term>,
    searchers: Vec<FormSearcher>,
    regexes: Option<RegexTerms>,
}

/// Collects terms during compilation.
#[derive(Default)]
struct Compiler {
    terms: Vec<Term>,
    /// Per form: automaton patterns, their owners, and an index to deduplicate them.
    patterns: [Vec<String>; Form::COUNT],
    owners: [Vec<Vec<usize>>; Form::COUNT],
    seen: [HashMap<String, usize>; Form::COUNT],
    regex_patterns: Vec<String>,
    regex_each: Vec<Regex>,
    regex_terms: Vec<usize>,
}

impl Compiler {
    fn add(
        &mut self,
        spec: &TermSpec,
        watchlist: usize,
        name: &str,
        role: Role,
    ) -> Result<usize, MatcherError> {
        let id = self.terms.len();
        match &spec.pattern {
            TermPattern::Phrase(phrase) => {
                let form = Form::new(spec.case_sensitive, spec.accent_sensitive);
                let key = normalize(phrase, form);
                if key.is_empty() {
                    return Err(MatcherError::EmptyTerm {
                        watchlist: name.to_owned(),
                        term: phrase.clone(),
                    });
                }
                let f = form.index();
                let pattern = match self.seen[f].entry(key) {
                    Entry::Occupied(e) => *e.get(),
                    Entry::Vacant(e) => {
                        let p = self.patterns[f].len();
                        self.patterns[f].push(e.key().clone());
                        self.owners[f].push(Vec::new());
                        e.insert(p);
                        p
                    }
                };
                if let Some(owners) = self.owners[f].get_mut(pattern) {
                    owners.push(id);
                }
            }
            TermPattern::Regex(pattern) => {
                let regex = build_regex(pattern, name)?;
                self.regex_patterns.push(pattern.clone());
                self.regex_each.push(regex);
                self.regex_terms.push(id);
            }
        }
        self.terms.push(Term {
            label: spec.label().to_owned(),
            watchlist,
            role,
        });
        Ok(id)
    }
}

fn build_regex(pattern: &str, watchlist: &str) -> Result<Regex, MatcherError> {
    let regex = RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_DFA_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(limit) => MatcherError::RegexTooBig {
                watchlist: watchlist.to_owned(),
                pattern: pattern.to_owned(),
                limit,
            },
            other => MatcherError::InvalidRegex {
                watchlist: watchlist.to_owned(),
                pattern: pattern.to_owned(),
                message: other.to_string(),
            },
        })?;
    if regex.is_match("") {
        return Err(MatcherError::RegexMatchesEmpty {
            watchlist: watchlist.to_owned(),
            pattern: pattern.to_owned(),
        });
    }
    Ok(regex)
}

impl Matcher {
    /// Compiles every term of every watchlist; fails on the first unusable term.
    pub fn compile(watchlists: &[WatchlistSpec]) -> Result<Matcher, MatcherError> {
        let mut c = Compiler::default();
        let mut compiled = Vec::with_capacity(watchlists.len());
        for (w, spec) in watchlists.iter().enumerate() {
            let name = spec.name.as_str();
            if spec.terms.is_empty() {
                return Err(MatcherError::NoTerms {
                    watchlist: name.to_owned(),
                });
            }
            for term in &spec.terms {
                c.add(term, w, name, Role::Trigger)?;
            }
            let mut require = Vec::with_capacity(spec.require.len());
            for (g, group) in spec.require.iter().enumerate() {
                if group.is_empty() {
                    return Err(MatcherError::EmptyRequireGroup {
                        watchlist: name.to_owned(),
                        group: g + 1,
                    });
                }
                let ids = group
                    .iter()
                    .map(|t| c.add(t, w, name, Role::Require(g)))
                    .collect::<Result<Vec<_>, _>>()?;
                require.push(ids);
            }
            for term in &spec.exclude {
                c.add(term, w, name, Role::Exclude)?;
            }
            let fields = if spec.fields.is_empty() {
                Field::ALL.iter().fold(0, |m, &f| m | field_bit(f))
            } else {
                spec.fields.iter().fold(0, |m, &f| m | field_bit(f))
            };
            compiled.push(Watchlist {
                name: name.to_owned(),
                fields,
                require,
            });
        }

        let mut searchers = Vec::new();
        for form in [
            Form::DEFAULT,
            Form::new(true, false),
            Form::new(false, true),
            Form::EXACT,
        ] {
            let f = form.index();
            if c.patterns[f].is_empty() {
                continue;
            }
            // Standard semantics with overlapping search: every occurrence of every pattern is
            // reported, so a longer term never hides a shorter one (or the other way round)
            // when the whole-word check rejects one of them.
            let automaton = AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(&c.patterns[f])
                .map_err(|e| MatcherError::TooBig {
                    message: e.to_string(),
                })?;
            searchers.push(FormSearcher {
                form,
                automaton,
                owners: std::mem::take(&mut c.owners[f]),
            });
        }

        let regexes = if c.regex_patterns.is_empty() {
            None
        } else {
            let set = RegexSetBuilder::new(&c.regex_patterns)
                .size_limit(REGEX_SET_SIZE_LIMIT)
                .dfa_size_limit(REGEX_SET_SIZE_LIMIT)
                .build()
                .map_err(|e| MatcherError::TooBig {
                    message: format!("regex terms together: {e}"),
                })?;
            Some(RegexTerms {
                set,
                each: c.regex_each,
                terms: c.regex_terms,
            })
        };

        Ok(Matcher {
            watchlists: compiled,
            terms: c.terms,
            searchers,
            regexes,
        })
    }

    /// How many watchlists were compiled.
    pub fn watchlist_count(&self) -> usize {
        self.watchlists.len()
    }

    /// How many terms were compiled, counting terms, require and exclude.
    pub fn term_count(&self) -> usize {
        self.terms.len()
    }

    /// Approximate heap bytes held by the term automata (regexes not counted: the regex crate
    /// does not report its size).
    pub fn memory_usage(&self) -> usize {
        let automata: usize = self
            .searchers
            .iter()
            .map(|s| {
                s.automaton.memory_usage()
                    + s.owners
                        .iter()
                        .map(|o| o.capacity() * 8 + 24)
                        .sum::<usize>()
            })
            .sum();
        let terms: usize = self.terms.iter().map(|t| t.label.capacity() + 48).sum();
        automata + terms
    }

    /// Match one item; `applies(i)` says whether watchlist i (index into the compile slice)
    /// applies to this item's feed.
    pub fn match_item(
        &self,
        text: &ItemText,
        applies: impl Fn(usize) -> bool,
    ) -> Vec<WatchlistMatch> {
        let hits = self.scan(text);
        let mut out = Vec::new();
        for (w, group) in group_by_watchlist(&hits, &self.terms) {
            let Some(watchlist) = self.watchlists.get(w) else {
                continue;
            };
            if self.decide(watchlist, group) != Decision::Alert || !applies(w) {
                continue;
            }
            let hits = self.hits(text, group, |role| role != Role::Exclude);
            out.push(WatchlistMatch {
                watchlist: w,
                name: watchlist.name.clone(),
                hits,
            });
        }
        out
    }

    /// Same decision, with the reasons, for `test-match --explain`.
    pub fn explain(&self, text: &ItemText, applies: impl Fn(usize) -> bool) -> Vec<Explanation> {
        let hits = self.scan(text);
        let groups: HashMap<usize, &[RawHit]> = group_by_watchlist(&hits, &self.terms).collect();
        self.watchlists
            .iter()
            .enumerate()
            .map(|(w, watchlist)| {
                let group = groups.get(&w).copied().unwrap_or(&[]);
                let hits = self.hits(text, group, |_| true);
                if !applies(w) {
                    return Explanation {
                        watchlist: watchlist.name.clone(),
                        alerted: false,
                        reason: "not in scope: this watchlist does not apply to the item's feed"
                            .to_owned(),
                        hits,
                    };
                }
                let decision = self.decide(watchlist, group);
                Explanation {
                    watchlist: watchlist.name.clone(),
                    alerted: decision == Decision::Alert,
                    reason: self.reason(watchlist, group, decision),
                    hits,
                }
            })
            .collect()
    }

    /// Finds the first occurrence of every term in every field it may look in, ordered by
    /// watchlist, field and position.
    fn scan(&self, text: &ItemText) -> Vec<RawHit> {
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

    fn decide(&self, watchlist: &Watchlist, hits: &[RawHit]) -> Decision {
        let role = |h: &RawHit| self.terms.get(h.term).map(|t| t.role);
        if !hits.iter().any(|h| role(h) == Some(Role::Trigger)) {
            return Decision::NoTerm;
        }
        for g in 0..watchlist.require.len() {
            if !hits.iter().any(|h| role(h) == Some(Role::Require(g))) {
                return Decision::MissingRequire(g);
            }
        }
        match hits.iter().find(|h| role(h) == Some(Role::Exclude)) {
            Some(h) => Decision::Excluded(h.term),
            None => Decision::Alert,
        }
    }

    /// Hits with snippets, one per distinct label, in field and position order.
    fn hits(&self, text: &ItemText, raw: &[RawHit], keep: impl Fn(Role) -> bool) -> Vec<Hit> {
        let mut out: Vec<Hit> = Vec::new();
        for h in raw {
            let Some(term) = self.terms.get(h.term) else {
                continue;
            };
            if !keep(term.role) || out.iter().any(|o| o.term == term.label) {
                continue;
            }
            out.push(Hit {
                term: term.label.clone(),
                field: h.field,
                snippet: Snippet::around(text.plain(h.field), h.start, h.end),
            });
        }
        out
    }

    fn reason(&self, watchlist: &Watchlist, hits: &[RawHit], decision: Decision) -> String {
        let label = |id: usize| self.terms.get(id).map_or("?", |t| t.label.as_str());
        let found = |role: Role| -> Vec<String> {
            let mut seen: Vec<&str> = Vec::new();
            hits.iter()
                .filter(|h| self.terms.get(h.term).is_some_and(|t| t.role == role))
                .filter_map(|h| {
                    let l = label(h.term);
                    if seen.contains(&l) {
                        return None;
                    }
                    seen.push(l);
                    Some(format!("{l:?} ({})", h.field))
                })
                .collect()
        };
        let triggers = found(Role::Trigger).join(", ");
        match decision {
            Decision::Alert => {
                let mut s = format!("alerts: term hit: {triggers}");
                for g in 0..watchlist.require.len() {
                    s.push_str(&format!(
                        "; require group {} satisfied by {}",
                        g + 1,
                        found(Role::Require(g)).join(", ")
                    ));
                }
                s
            }
            Decision::NoTerm => {
                let scope = Field::ALL
                    .iter()
                    .filter(|&&f| watchlist.looks_in(f))
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("no alert: none of the terms hit (looked in {scope})")
            }
            Decision::MissingRequire(g) => {
                let members = watchlist
                    .require
                    .get(g)
                    .map(|ids| {
                        ids.iter()
                            .map(|&id| format!("{:?}", label(id)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                format!(
                    "no alert: term hit: {triggers}; but require group {} (one of {members}) had no hit",
                    g + 1
                )
            }
            Decision::Excluded(term) => {
                let field = hits
                    .iter()
                    .find(|h| h.term == term)
                    .map_or("?", |h| h.field.as_str());
                format!(
                    "no alert: term hit: {triggers}; but exclude term {:?} hit in {field}",
                    label(term)
                )
            }
        }
    }
}

/// The outcome for one watchlist in scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Alert,
    NoTerm,
    MissingRequire(usize),
    Excluded(usize),
}

/// Splits hits sorted by watchlist into one slice per watchlist.
fn group_by_watchlist<'a>(
    hits: &'a [RawHit],
    terms: &'a [Term],
) -> impl Iterator<Item = (usize, &'a [RawHit])> + 'a {
    let watchlist = move |h: &RawHit| terms.get(h.term).map_or(usize::MAX, |t| t.watchlist);
    hits.chunk_by(move |a, b| watchlist(a) == watchlist(b))
        .filter_map(move |g| g.first().map(|h| (watchlist(h), g)))
}
