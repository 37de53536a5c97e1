//! Deciding which watchlists alert on an item, from the hits `search` found.
//!
//! Owns the watchlist rules (a term hit, every require group satisfied, no exclude hit, the
//! watchlist in scope for the item's feed), the hits quoted for alerts, and the reasons in words
//! for `--explain`. Must never search item text itself, and must never let `explain` decide
//! differently from `match_item`.

use std::collections::HashMap;

use super::compile::{Matcher, Role, Watchlist};
use super::search::{RawHit, group_by_watchlist};
use super::{Explanation, Field, Hit, ItemText, Snippet, WatchlistMatch};

impl Matcher {
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
