//! The spine: one poll of one feed, fetch → parse → dedupe → match → commit to the outbox.
//!
//! Owns the order of the stages and nothing else; each step is a call into its module. Must
//! never send alerts (the dispatcher does, later) or hold a database transaction across the
//! network: the fetch happens before the single commit.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::Utc;
use tracing::{debug, info, warn};

use crate::alert::{Alert, FeedHealth, canonical_link, one_line};
use crate::config::{Config, FeedConfig};
use crate::fetch::{FetchOutcome, Fetched, Fetcher};
use crate::matcher::{ItemText, Matcher};
use crate::model::Item;
use crate::parse::{self, ParsedFeed};
use crate::schedule::{self, PollResult};
use crate::store::{FeedState, FreshPoll, NewAlert, NewItem, Store, StoreError};
use crate::text::html_to_text;

/// Everything a poll needs, built once at start-up.
pub struct Pipeline {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// The database.
    pub store: Store,
    /// The HTTP client(s).
    pub fetcher: Fetcher,
    /// All watchlists, compiled.
    pub matcher: Arc<Matcher>,
}

/// What one poll did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollReport {
    /// `304 Not Modified`.
    NotModified,
    /// New content was parsed and committed.
    Fresh {
        /// Items never seen before.
        new_items: usize,
        /// Alerts created.
        alerts: usize,
    },
    /// The fetch or parse failed; recorded on the feed.
    Failed {
        /// The error, as recorded.
        error: String,
    },
}

/// A failed fetch or parse, as recorded on the feed.
struct Failure {
    /// Short status for `feeds`: "HTTP 503", "error", "parse error".
    status: String,
    /// The full message.
    error: String,
    /// The server's requested delay.
    retry_after: Option<std::time::Duration>,
    /// HTTP 410: the feed is gone for good.
    gone: bool,
}

impl Failure {
    fn fetch(e: &crate::fetch::FetchError) -> Failure {
        Failure {
            status: e
                .status()
                .map_or_else(|| "error".to_owned(), |s| format!("HTTP {s}")),
            error: e.to_string(),
            retry_after: e.retry_after(),
            gone: e.status() == Some(410),
        }
    }

    fn other(status: &str, error: String) -> Failure {
        Failure {
            status: status.to_owned(),
            error,
            retry_after: None,
            gone: false,
        }
    }
}

/// When the feed should next be polled, alongside the report.
pub type PollDone = (PollReport, chrono::DateTime<Utc>);

impl Pipeline {
    /// Polls one feed end to end: fetch → parse → dedupe → match → commit.
    pub async fn poll_feed(&self, feed: &FeedConfig) -> Result<PollDone, StoreError> {
        let url = feed.url.to_string();
        let state = self.store.with(move |db| db.feed_state(&url)).await?;
        let mut fetched = match self.fetcher.fetch(feed, &state.validators).await {
            FetchOutcome::Fresh(f) => f,
            FetchOutcome::NotModified { min_gap } => {
                return self.not_modified(feed, &state, min_gap).await;
            }
            FetchOutcome::Failed(e) => return self.failed(feed, &state, Failure::fetch(&e)).await,
        };
        let body = std::mem::take(&mut fetched.body);
        let parsed = match parse_off_thread(body, &fetched).await {
            Ok(p) => p,
            Err(error) => {
                return self
                    .failed(feed, &state, Failure::other("parse error", error))
                    .await;
            }
        };
        for w in &parsed.warnings {
            debug!(feed = %feed.url, warning = %w, "parse warning");
        }
        let id = state.id;
        let keys: Vec<(String, Option<String>)> = parsed
            .items
            .iter()
            .map(|i| (i.key.clone(), i.fingerprint.clone()))
            .collect();
        let unseen = self.store.with(move |db| db.unseen_keys(id, &keys)).await?;
        let fresh = match self
            .match_off_thread(feed, &state, &fetched, parsed, unseen)
            .await
        {
            Ok(f) => f,
            Err(error) => {
                return self
                    .failed(feed, &state, Failure::other("match error", error))
                    .await;
            }
        };
        let next = fresh.next_due;
        let counts = self.store.with(move |db| db.commit_fresh(&fresh)).await?;
        self.report_health(feed, &state, None).await?;
        let first_fetch = !state.first_fetch_done;
        if counts.alerts > 0 || counts.new_items > 0 {
            info!(feed = %feed.url, new_items = counts.new_items, alerts = counts.alerts, first_fetch, "polled");
        }
        Ok((
            PollReport::Fresh {
                new_items: counts.new_items,
                alerts: counts.alerts,
            },
            next,
        ))
    }

    /// Matching is CPU-bound too (HTML of every new item): run it on the blocking pool.
    async fn match_off_thread(
        &self,
        feed: &FeedConfig,
        state: &FeedState,
        fetched: &Fetched,
        parsed: ParsedFeed,
        unseen: HashSet<String>,
    ) -> Result<FreshPoll, String> {
        let job = MatchJob {
            config: Arc::clone(&self.config),
            matcher: Arc::clone(&self.matcher),
            feed: feed.clone(),
            state: state.clone(),
            validators: fetched.validators.clone(),
            status: fetched.status,
            moved_to: fetched.moved_to.as_ref().map(|u| u.to_string()),
            min_gap: fetched.min_gap,
        };
        tokio::task::spawn_blocking(move || job.run(parsed, &unseen))
            .await
            .map_err(|e| format!("match: crashed on this feed's items: {e}"))
    }

    async fn not_modified(
        &self,
        feed: &FeedConfig,
        state: &FeedState,
        min_gap: Option<std::time::Duration>,
    ) -> Result<PollDone, StoreError> {
        let id = state.id;
        let now = Utc::now();
        let next = schedule::next_due(&feed.cadence, PollResult::Ok { min_gap }, now);
        self.store
            .with(move |db| db.record_not_modified(id, now, next))
            .await?;
        self.report_health(feed, state, None).await?;
        debug!(feed = %feed.url, "not modified");
        Ok((PollReport::NotModified, next))
    }

    async fn failed(
        &self,
        feed: &FeedConfig,
        state: &FeedState,
        failure: Failure,
    ) -> Result<PollDone, StoreError> {
        let id = state.id;
        let now = Utc::now();
        let failures = state.consecutive_failures.saturating_add(1);
        let Failure {
            status,
            error,
            retry_after,
            gone,
        } = failure;
        let result = if gone {
            PollResult::Gone
        } else {
            PollResult::Failed {
                failures,
                retry_after,
            }
        };
        let next = schedule::next_due(&feed.cadence, result, now);
        warn!(feed = %feed.url, failures, retry_at = %next, error = %error, "feed failed");
        let recorded = error.clone();
        self.store
            .with(move |db| db.record_failure(id, &status, &recorded, now, next))
            .await?;
        self.report_health(feed, state, Some(&error)).await?;
        Ok((PollReport::Failed { error }, next))
    }
}

impl Pipeline {
    /// Tells the admin, once, when a feed has failed for longer than `feed_broken_after`, and
    /// once when it works again. `error` is `None` after a successful poll.
    async fn report_health(
        &self,
        feed: &FeedConfig,
        state: &FeedState,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let general = &self.config.general;
        let now = Utc::now();
        let health = match error {
            None if state.broken_notified => FeedHealth::Recovered,
            None => return Ok(()),
            Some(_) if state.broken_notified || general.admin_notify.is_empty() => return Ok(()),
            Some(error) => {
                let since = state.failing_since.unwrap_or(now);
                let failing_for = (now - since).to_std().unwrap_or_default();
                if failing_for < general.feed_broken_after {
                    return Ok(());
                }
                FeedHealth::Broken {
                    since,
                    failures: state.consecutive_failures.saturating_add(1),
                    error: error.to_owned(),
                }
            }
        };
        let broken = matches!(health, FeedHealth::Broken { .. });
        let name = feed
            .name
            .clone()
            .or_else(|| state.title.clone())
            .unwrap_or_else(|| feed.url.to_string());
        let notice = Alert::feed_notice(&name, feed.url.as_str(), health, now);
        warn!(feed = %feed.url, broken, "telling the admin about the feed's health");
        let new = NewAlert {
            item_key: String::new(),
            public_id: notice.alert_id.clone(),
            watchlist: notice.watchlist.clone(),
            canonical_link: None,
            payload: notice.to_payload(),
            notifiers: general.admin_notify.iter().map(|n| n.0.clone()).collect(),
        };
        let id = state.id;
        self.store
            .with(move |db| db.enqueue_feed_notice(id, &new, broken, now))
            .await
    }
}

/// Parsing is CPU-bound and may meet a pathological document: keep it off the async workers.
async fn parse_off_thread(body: Vec<u8>, fetched: &Fetched) -> Result<ParsedFeed, String> {
    let content_type = fetched.content_type.clone();
    // Relative links resolve against where the feed lives, not where a temporary redirect
    // (a CDN, a mirror) happened to serve it from: item links and keys must not change with
    // the route. After a permanent move, the new address is where it lives.
    let base = fetched
        .moved_to
        .as_ref()
        .unwrap_or(&fetched.requested_url)
        .to_string();
    tokio::task::spawn_blocking(move || {
        parse::parse_feed(&body, content_type.as_deref(), Some(&base)).map_err(|e| e.to_string())
    })
    .await
    .unwrap_or_else(|e| Err(format!("parse: parser crashed: {e}")))
}

/// The synchronous dedupe-and-match step, with everything it needs owned.
struct MatchJob {
    config: Arc<Config>,
    matcher: Arc<Matcher>,
    feed: FeedConfig,
    state: FeedState,
    validators: crate::fetch::Validators,
    status: u16,
    moved_to: Option<String>,
    min_gap: Option<std::time::Duration>,
}

impl MatchJob {
    /// Keeps the unseen items, matches them, and prepares the single commit.
    fn run(self, parsed: ParsedFeed, unseen: &HashSet<String>) -> FreshPoll {
        let feed = &self.feed;
        let title = parsed
            .title
            .as_deref()
            .map(|t| one_line(&html_to_text(t)))
            .filter(|t| !t.is_empty());
        let feed_name = feed
            .name
            .clone()
            .or_else(|| title.clone())
            .unwrap_or_else(|| feed.url.to_string());
        // A new feed's backlog is recorded, not alerted: the user wants news, not history.
        let alerting = self.state.first_fetch_done || feed.alert_on_first_fetch;
        let scope: Vec<bool> = self
            .config
            .watchlists
            .iter()
            .map(|w| w.applies_to(feed, title.as_deref()))
            .collect();
        let story_links = story_links(&parsed.items);
        let mut items = Vec::new();
        let mut alerts = Vec::new();
        let mut present = Vec::new();
        let mut recorded = HashSet::new();
        for item in &parsed.items {
            if !unseen.contains(&item.key) {
                present.push((item.key.clone(), item.fingerprint.clone()));
                continue;
            }
            // A feed may list the same entry twice; the first copy is the one recorded.
            if !recorded.insert(item.key.as_str()) {
                continue;
            }
            let canonical = story_links.get(item.key.as_str()).cloned();
            if alerting {
                alerts.extend(self.alerts_for(&feed_name, item, &scope, canonical.as_deref()));
            }
            items.push(NewItem {
                key: item.key.clone(),
                guid: item.guid.clone(),
                title: one_line(&html_to_text(&item.title)),
                link: item.link.clone(),
                canonical_link: canonical,
                published: item.published,
                fingerprint: item.fingerprint.clone(),
            });
        }
        let now = Utc::now();
        FreshPoll {
            feed: self.state.id,
            now,
            title,
            validators: self.validators,
            status: self.status,
            moved_to: self.moved_to,
            next_due: schedule::next_due(
                &feed.cadence,
                PollResult::Ok {
                    min_gap: self.min_gap,
                },
                now,
            ),
            items,
            present,
            alerts,
        }
    }

    fn alerts_for(
        &self,
        feed_name: &str,
        item: &Item,
        scope: &[bool],
        canonical: Option<&str>,
    ) -> Vec<NewAlert> {
        let text = ItemText::from_item(item);
        self.matcher
            .match_item(&text, |i| scope.get(i).copied().unwrap_or(false))
            .into_iter()
            .filter_map(|m| {
                let watchlist = self.config.watchlists.get(m.watchlist)?;
                let alert = Alert::new(feed_name, self.feed.url.as_str(), item, &m);
                Some(NewAlert {
                    item_key: item.key.clone(),
                    public_id: alert.alert_id.clone(),
                    watchlist: m.name.clone(),
                    canonical_link: canonical.map(str::to_owned),
                    payload: alert.to_payload(),
                    notifiers: watchlist.notify.iter().map(|n| n.0.clone()).collect(),
                })
            })
            .collect()
    }
}

/// The canonical link of each item, where it can identify a story across feeds.
///
/// A link shared by several different entries of one document (a feed that links every item to
/// its home page) says nothing about the story, so it is not used: otherwise only the first of
/// those stories would ever alert.
fn story_links(items: &[Item]) -> HashMap<&str, String> {
    let mut by_link: HashMap<String, Vec<&str>> = HashMap::new();
    for item in items {
        if let Some(link) = item.link.as_deref().and_then(canonical_link) {
            let keys = by_link.entry(link).or_default();
            if !keys.contains(&item.key.as_str()) {
                keys.push(&item.key);
            }
        }
    }
    by_link
        .into_iter()
        .filter(|(_, keys)| keys.len() == 1)
        .map(|(link, keys)| (keys[0], link))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(key: &str, link: &str) -> Item {
        Item {
            key: key.into(),
            link: Some(link.into()),
            ..Item::default()
        }
    }

    #[test]
    fn a_link_shared_by_different_entries_is_not_a_story_identity() {
        let items = [
            item("guid:1", "https://site.example/"),
            item("guid:2", "https://site.example/#x"),
            item("guid:3", "https://site.example/story?utm_source=rss"),
            item("guid:3", "https://site.example/story"),
        ];
        let links = story_links(&items);
        assert_eq!(links.get("guid:1"), None);
        assert_eq!(links.get("guid:2"), None);
        assert_eq!(
            links.get("guid:3").map(String::as_str),
            Some("https://site.example/story")
        );
    }
}
