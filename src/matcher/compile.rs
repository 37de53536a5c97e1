//! Compiling watchlists into a [`Matcher`]: every plain term in one Aho-Corasick automaton per
//! normalized form, every regex term in one set, and each watchlist's rules (the role of each
//! term, require groups, the fields it looks in).
//!
//! Owns validating terms (empty, invalid, too big), sharing one automaton pattern between terms
//! that normalize alike, and the size limits. Must never look at item text: what is compiled
//! here is searched in `search` and judged in `decide`.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use aho_corasick::{AhoCorasick, MatchKind};
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use super::normalize::{Form, is_arabic_script, normalize};
use super::{Field, MatcherError, TermPattern, TermSpec, WatchlistSpec};

/// Compiled size limit for one regex term.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Lazy DFA cache limit for one regex term.
const REGEX_DFA_LIMIT: usize = 2 << 20;
/// Compiled size limit for the set of all regex terms, used to find which ones match.
const REGEX_SET_SIZE_LIMIT: usize = 16 << 20;

/// What a term does for its watchlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// One of `terms`: makes the item a candidate.
    Trigger,
    /// Member of the `require` group with this index.
    Require(usize),
    /// One of `exclude`: suppresses the alert.
    Exclude,
}

/// One term of one watchlist.
#[derive(Debug)]
pub(super) struct Term {
    /// The term as the user wrote it.
    pub(super) label: String,
    /// Index of its watchlist.
    pub(super) watchlist: usize,
    /// What it does for its watchlist.
    pub(super) role: Role,
}

/// One watchlist's compiled rules.
#[derive(Debug)]
pub(super) struct Watchlist {
    /// The watchlist's name, for matches and explanations.
    pub(super) name: String,
    /// Bit `field as usize` is set for each field the watchlist looks in.
    fields: u32,
    /// Term ids of each require group, for explanations.
    pub(super) require: Vec<Vec<usize>>,
}

impl Watchlist {
    /// Whether the watchlist's terms count in `field`.
    pub(super) fn looks_in(&self, field: Field) -> bool {
        self.fields & field_bit(field) != 0
    }
}

/// The bit of `field` in `Watchlist::fields`.
fn field_bit(field: Field) -> u32 {
    1u32.checked_shl(field as u32).unwrap_or(0)
}

/// All plain terms that are matched in one normalized form.
#[derive(Debug)]
pub(super) struct FormSearcher {
    /// The form both the patterns and the searched text are in.
    pub(super) form: Form,
    /// One pattern per distinct normalized term text.
    pub(super) automaton: AhoCorasick,
    /// For each automaton pattern, the terms whose normalized text it is.
    pub(super) owners: Vec<Vec<usize>>,
}

/// All regex terms.
#[derive(Debug)]
pub(super) struct RegexTerms {
    /// Tells in one pass which regexes match a field.
    pub(super) set: RegexSet,
    /// The same regexes one by one, to locate a match.
    pub(super) each: Vec<Regex>,
    /// Term id of each regex.
    pub(super) terms: Vec<usize>,
}

/// All watchlists compiled once, shared by every item (`Send + Sync`).
#[derive(Debug)]
pub struct Matcher {
    /// In the order of the slice given to `compile`.
    pub(super) watchlists: Vec<Watchlist>,
    /// Every term of every watchlist; a term's id is its index here.
    pub(super) terms: Vec<Term>,
    /// One per form that some plain term is matched in.
    pub(super) searchers: Vec<FormSearcher>,
    /// The regex terms, if there are any.
    pub(super) regexes: Option<RegexTerms>,
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
    /// Adds one term of watchlist number `watchlist` and returns its id.
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
                for key in phrase_keys(key) {
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
                    if let Some(owners) = self.owners[f].get_mut(pattern)
                        && !owners.contains(&id)
                    {
                        owners.push(id);
                    }
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

    /// Adds watchlist number `w`'s terms, require groups and excludes, and returns its rules.
    fn add_watchlist(&mut self, w: usize, spec: &WatchlistSpec) -> Result<Watchlist, MatcherError> {
        let name = spec.name.as_str();
        if spec.terms.is_empty() {
            return Err(MatcherError::NoTerms {
                watchlist: name.to_owned(),
            });
        }
        for term in &spec.terms {
            self.add(term, w, name, Role::Trigger)?;
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
                .map(|t| self.add(t, w, name, Role::Require(g)))
                .collect::<Result<Vec<_>, _>>()?;
            require.push(ids);
        }
        for term in &spec.exclude {
            self.add(term, w, name, Role::Exclude)?;
        }
        Ok(Watchlist {
            name: name.to_owned(),
            fields: field_mask(&spec.fields),
            require,
        })
    }

    /// One automaton for each form that some plain term is matched in.
    fn searchers(&mut self) -> Result<Vec<FormSearcher>, MatcherError> {
        let mut searchers = Vec::new();
        for form in [
            Form::DEFAULT,
            Form::new(true, false),
            Form::new(false, true),
            Form::EXACT,
        ] {
            let f = form.index();
            if self.patterns[f].is_empty() {
                continue;
            }
            // Standard semantics with overlapping search: every occurrence of every pattern is
            // reported, so a longer term never hides a shorter one (or the other way round)
            // when the whole-word check rejects one of them.
            let automaton = AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(&self.patterns[f])
                .map_err(|e| MatcherError::TooBig {
                    message: e.to_string(),
                })?;
            searchers.push(FormSearcher {
                form,
                automaton,
                owners: std::mem::take(&mut self.owners[f]),
            });
        }
        Ok(searchers)
    }

    /// The regex terms, with the set that tells in one pass which of them match; `None` when
    /// there are none.
    fn regex_terms(&mut self) -> Result<Option<RegexTerms>, MatcherError> {
        if self.regex_patterns.is_empty() {
            return Ok(None);
        }
        let set = RegexSetBuilder::new(&self.regex_patterns)
            .size_limit(REGEX_SET_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SET_SIZE_LIMIT)
            .build()
            .map_err(|e| MatcherError::TooBig {
                message: format!("regex terms together: {e}"),
            })?;
        Ok(Some(RegexTerms {
            set,
            each: std::mem::take(&mut self.regex_each),
            terms: std::mem::take(&mut self.regex_terms),
        }))
    }
}

/// The fields a watchlist looks in, as bits: all of them when it lists none.
fn field_mask(fields: &[Field]) -> u32 {
    let fields: &[Field] = if fields.is_empty() {
        &Field::ALL
    } else {
        fields
    };
    fields.iter().fold(0, |m, &f| m | field_bit(f))
}

/// Compiles one regex term, refusing one that would match every item.
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
            compiled.push(c.add_watchlist(w, spec)?);
        }
        let searchers = c.searchers()?;
        let regexes = c.regex_terms()?;
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
}

/// The keys a normalized phrase is searched under: itself and, when a space in it joins two
/// Arabic-script letters, the same without those spaces. Persian writes a compound with a space,
/// with a zero-width non-joiner (invisible, so removed) or solid, and all three are one name.
fn phrase_keys(key: String) -> Vec<String> {
    let chars: Vec<char> = key.chars().collect();
    let joined: String = chars
        .iter()
        .enumerate()
        .filter(|&(i, &c)| {
            !(c == ' '
                && i > 0
                && chars.get(i - 1).copied().is_some_and(is_arabic_script)
                && chars.get(i + 1).copied().is_some_and(is_arabic_script))
        })
        .map(|(_, &c)| c)
        .collect();
    if joined == key {
        vec![key]
    } else {
        vec![key, joined]
    }
}
