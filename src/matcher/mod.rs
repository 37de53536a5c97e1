//! Matching engine: decides which watchlists an item alerts, and why.
//!
//! Owns the watch-term model (`TermSpec`, `WatchlistSpec`), turning item fields into matchable
//! text once per item (`ItemText`), the compiled `Matcher`, and the hits with snippets that
//! alerts quote. Must never do I/O, keep state between items, or know about feeds, dedup or
//! notifiers: feed scoping comes in as the `applies` predicate.
//!
//! The `Matcher` is built in `compile`, finds an item's hits in `search` and judges them in
//! `decide`; `normalize` makes the comparable forms of text and `snippet` the quotes.

mod compile;
mod decide;
mod normalize;
mod search;
mod snippet;

use std::sync::OnceLock;

use serde::Serialize;

pub use crate::model::Field;
pub use compile::Matcher;
pub use snippet::Snippet;

use crate::text::html_to_text;
use normalize::{Form, Normalized};

/// One watch term as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct TermSpec {
    /// What to look for.
    pub pattern: TermPattern,
    /// Match letter case exactly (still NFKC, whole-word and separator-tolerant).
    pub case_sensitive: bool,
    /// Match accents exactly instead of ignoring diacritics.
    pub accent_sensitive: bool,
}

/// The text of a watch term.
#[derive(Debug, Clone, PartialEq)]
pub enum TermPattern {
    /// A word or phrase, matched as whole words, ignoring case, accents and separator style.
    Phrase(String),
    /// A `regex` crate pattern, run over each field's NFKC text with invisible characters
    /// removed, quotes unified and every run of whitespace, hyphens and dashes turned into one
    /// space; case and accents are kept (add `(?i)` for case-insensitive), and no whole-word
    /// check is added (use `\b`). `case_sensitive` and `accent_sensitive` do not apply.
    Regex(String),
}

impl TermSpec {
    /// A case- and accent-insensitive phrase term.
    pub fn phrase(s: &str) -> Self {
        TermSpec {
            pattern: TermPattern::Phrase(s.to_owned()),
            case_sensitive: false,
            accent_sensitive: false,
        }
    }

    /// The text as the user wrote it.
    pub fn label(&self) -> &str {
        match &self.pattern {
            TermPattern::Phrase(s) | TermPattern::Regex(s) => s,
        }
    }
}

/// One watchlist's matching rules (feed scoping and notifiers are handled elsewhere).
#[derive(Debug, Clone, PartialEq)]
pub struct WatchlistSpec {
    /// The watchlist's name, used in alerts and error messages.
    pub name: String,
    /// Any one of these hitting makes the item a candidate.
    pub terms: Vec<TermSpec>,
    /// Each group must also have a hit (an AND of ORs).
    pub require: Vec<Vec<TermSpec>>,
    /// Any hit here suppresses the alert.
    pub exclude: Vec<TermSpec>,
    /// The fields that terms, require and exclude look in; empty means all fields.
    pub fields: Vec<Field>,
}

/// Why a set of watchlists cannot be compiled.
#[derive(Debug, thiserror::Error)]
pub enum MatcherError {
    /// A watchlist without terms could never alert.
    #[error("watchlist {watchlist:?} has no terms; add at least one term")]
    NoTerms {
        /// The watchlist's name.
        watchlist: String,
    },
    /// A require group without terms could never be satisfied.
    #[error(
        "watchlist {watchlist:?}: require group {group} is empty; list at least one term in it or remove it"
    )]
    EmptyRequireGroup {
        /// The watchlist's name.
        watchlist: String,
        /// The group's number, counting from 1.
        group: usize,
    },
    /// A term that normalizes to nothing would match everywhere or nowhere.
    #[error(
        "watchlist {watchlist:?}: term {term:?} has nothing to match once spaces, dashes and invisible characters are ignored; remove it or give it letters"
    )]
    EmptyTerm {
        /// The watchlist's name.
        watchlist: String,
        /// The term as written.
        term: String,
    },
    /// A regex term does not parse.
    #[error(
        "watchlist {watchlist:?}: regex {pattern:?} is invalid; fix it (syntax of the Rust regex crate): {message}"
    )]
    InvalidRegex {
        /// The watchlist's name.
        watchlist: String,
        /// The regex as written.
        pattern: String,
        /// The parser's explanation.
        message: String,
    },
    /// A regex term that matches the empty string would alert on every item.
    #[error(
        "watchlist {watchlist:?}: regex {pattern:?} matches empty text and so every item; make it require at least one character"
    )]
    RegexMatchesEmpty {
        /// The watchlist's name.
        watchlist: String,
        /// The regex as written.
        pattern: String,
    },
    /// A regex term compiles to more than the size limit.
    #[error(
        "watchlist {watchlist:?}: regex {pattern:?} is too big once compiled (limit {limit} bytes); simplify it or split it into several terms"
    )]
    RegexTooBig {
        /// The watchlist's name.
        watchlist: String,
        /// The regex as written.
        pattern: String,
        /// The size limit in bytes.
        limit: usize,
    },
    /// All terms together are too many or too long for one automaton.
    #[error(
        "the watch terms are too many or too long to compile together ({message}); remove or shorten some terms"
    )]
    TooBig {
        /// What the automaton builder reported.
        message: String,
    },
}

/// A watchlist that alerts on an item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WatchlistMatch {
    /// Index of the watchlist in the slice given to `Matcher::compile`.
    pub watchlist: usize,
    /// The watchlist's name.
    pub name: String,
    /// Each distinct term (of `terms` and `require`) that hit, once, at its first occurrence,
    /// in field then position order.
    pub hits: Vec<Hit>,
}

/// One term found in one field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// The term's label, as the user wrote it.
    pub term: String,
    /// The field it was found in.
    pub field: Field,
    /// A quote of the plain text around it.
    pub snippet: Snippet,
}

/// A watchlist's decision on an item, with the reasons, for `test-match --explain`.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The watchlist's name.
    pub watchlist: String,
    /// Whether it alerts.
    pub alerted: bool,
    /// A sentence saying which term hit where, which require group failed, which exclude hit,
    /// or that the watchlist is not in scope.
    pub reason: String,
    /// Every term (terms, require and exclude) that hit, once each.
    pub hits: Vec<Hit>,
}

/// One field of an item: its plain text and the normalized forms built from it on demand.
#[derive(Debug, Default)]
struct FieldText {
    plain: String,
    forms: [OnceLock<Normalized>; Form::COUNT],
}

impl FieldText {
    fn form(&self, form: Form) -> &Normalized {
        // Index is always in range: `Form::index` is below `Form::COUNT` by construction.
        let cell = &self.forms[form.index()];
        cell.get_or_init(|| Normalized::new(&self.plain, form))
    }
}

/// An item's fields converted once (HTML→text→normalized), reusable for all watchlists.
///
/// The default (case- and accent-folded) form is built the first time it is needed; the other
/// forms only if some term needs them.
#[derive(Debug, Default)]
pub struct ItemText {
    fields: [FieldText; Field::ALL.len()],
}

impl ItemText {
    /// Converts every field of a feed item.
    pub fn from_item(item: &crate::model::Item) -> ItemText {
        let mut text = ItemText::default();
        for field in Field::ALL {
            text.fields[field as usize].plain = html_to_text(item.field(field));
        }
        text
    }

    /// Converts raw (possibly HTML) field text; a field given twice is joined with ", ", and a
    /// field not given is empty.
    pub fn from_fields(fields: &[(Field, &str)]) -> ItemText {
        let mut text = ItemText::default();
        for &(field, raw) in fields {
            let plain = html_to_text(raw);
            let slot = &mut text.fields[field as usize].plain;
            if slot.is_empty() {
                *slot = plain;
            } else if !plain.is_empty() {
                slot.push_str(", ");
                slot.push_str(&plain);
            }
        }
        text
    }

    /// Plain text after HTML stripping (before folding), what snippets quote.
    pub fn plain(&self, f: Field) -> &str {
        &self.field(f).plain
    }

    /// The case- and accent-folded text that plain terms are matched in, for `--explain`.
    pub fn normalized(&self, f: Field) -> &str {
        self.field(f).form(Form::DEFAULT).text()
    }

    fn field(&self, f: Field) -> &FieldText {
        // `Field` has exactly `Field::ALL.len()` variants, so the index is in range.
        &self.fields[f as usize]
    }
}
