//! The spine: one poll of one feed, fetch → parse → unseen → match → build alerts → commit →
//! health.
//!
//! Owns the order of the stages and nothing else; each step is a call into the module that
//! owns its rules. Must never send alerts (the dispatcher does, later) or hold a database
//! transaction across the network: the fetch happens before the single commit.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{debug, info, warn};

use crate::alert::{self, FeedRef, Listing, MatchedEntry, NewEntry};
use crate::clock::SharedClock;
use crate::config::{Config, FeedConfig};
use crate::fetch::{FetchOutcome, Fetched, Fetcher};
use crate::health::{self, HealthRules};
use crate::matcher::{ItemText, Matcher};
use crate::model::{FailureKind, FeedUrl, Item, PollFailure};
use crate::parse::{self, ParsedFeed};
use crate::schedule::{self, PollResult};
use crate::store::{FeedState, FreshPoll, SharedStore, StoreError};
use crate::text::html_to_text;

/// Everything a poll needs, built once at start-up.
pub struct Pipeline {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// The database.
    pub store: SharedStore,
    /// The HTTP client(s).
    pub fetcher: Fetcher,
    /// All watchlists, compiled.
    pub matcher: Arc<Matcher>,
    /// Where "now" comes from.
    pub clock: SharedClock,
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
    /// The fetch, parse or match failed; recorded on the feed.
    Failed,
}

/// What one poll did, and when the feed should next be polled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollDone {
    /// What happened.
    pub report: PollReport,
    /// The next poll.
    pub next_due: DateTime<Utc>,
}

impl Pipeline {
    /// Polls one feed end to end.
    pub async fn poll_feed(&self, feed: &FeedConfig) -> Result<PollDone, StoreError> {
        let url = FeedUrl::new(&feed.url);
        let state = self.store.feed_state(&url).await?;
        let mut fetched = match self.fetcher.fetch(feed, &state.validators).await {
            FetchOutcome::Fresh(f) => f,
            FetchOutcome::NotModified { min_gap } => {
                return self.not_modified(feed, &state, min_gap).await;
            }
            FetchOutcome::Failed(e) => return self.failed(feed, &state, e.into()).await,
        };
        let parsed = match parse_off_thread(&mut fetched).await {
            Ok(p) => p,
            Err(failure) => return self.failed(feed, &state, failure).await,
        };
        let identities = parsed.items.iter().map(Item::identity).collect();
        let unseen = self.store.unseen(state.id, identities).await?;
        let title = parsed.title.clone();
        let listing = Listing::of(parsed.items, &unseen);
        let may_alert = alert::backlog_alerts(state.first_fetch_done, feed.alert_on_first_fetch);
        let matched = match self
            .match_off_thread(feed, title.as_deref(), listing.new, may_alert)
            .await
        {
            Ok(m) => m,
            Err(failure) => return self.failed(feed, &state, failure).await,
        };
        let name = feed.display_name(title.as_deref());
        let alerts = alert::build(
            FeedRef {
                name: &name,
                url: &url,
            },
            &matched,
            &self.config.watchlists,
        );
        let now = self.clock.now();
        let next_due = schedule::next_due(
            &feed.cadence,
            PollResult::Ok {
                min_gap: fetched.min_gap,
            },
            now,
        );
        let poll = FreshPoll {
            feed: state.id,
            now,
            first_fetch_complete: alert::completes_first_fetch(
                matched.len() + listing.present.len(),
            ),
            items: alert::new_items(matched),
            present: listing.present,
            alerts,
            stories_since: alert::stories_since(now),
            title,
            validators: std::mem::take(&mut fetched.validators),
            status: fetched.status,
            moved_to: fetched.moved_to.as_ref().map(|u| u.to_string()),
            next_due,
        };
        let counts = self.store.commit_fresh(poll).await?;
        self.report_health(feed, &state, None).await?;
        if counts.alerts > 0 || counts.new_items > 0 {
            info!(feed = %feed.url, new_items = counts.new_items, alerts = counts.alerts, first_fetch = !state.first_fetch_done, "polled");
        }
        let report = PollReport::Fresh {
            new_items: counts.new_items,
            alerts: counts.alerts,
        };
        Ok(PollDone { report, next_due })
    }

    /// Matching is CPU-bound (HTML and Unicode work on every new item): it runs on the
    /// blocking pool. The entries of a backlog that may not alert are not matched at all.
    async fn match_off_thread(
        &self,
        feed: &FeedConfig,
        title: Option<&str>,
        entries: Vec<NewEntry>,
        may_alert: bool,
    ) -> Result<Vec<MatchedEntry>, PollFailure> {
        let matcher = Arc::clone(&self.matcher);
        let scope: Vec<bool> = self
            .config
            .watchlists
            .iter()
            .map(|w| w.applies_to(feed, title))
            .collect();
        tokio::task::spawn_blocking(move || {
            if !may_alert {
                // Only the title is recorded: no other field is worth reading.
                return entries
                    .into_iter()
                    .map(|entry| MatchedEntry {
                        title: alert::one_line(&html_to_text(&entry.item.title)),
                        entry,
                        matches: Vec::new(),
                    })
                    .collect();
            }
            entries
                .into_iter()
                .map(|entry| {
                    let text = ItemText::from_item(&entry.item);
                    let matches =
                        matcher.match_item(&text, |i| scope.get(i).copied().unwrap_or(false));
                    MatchedEntry {
                        title: alert::one_line(text.plain(crate::model::Field::Title)),
                        entry,
                        matches,
                    }
                })
                .collect()
        })
        .await
        .map_err(|e| PollFailure {
            kind: FailureKind::Match,
            message: format!("match: crashed on this feed's items: {e}"),
            retry_after: None,
        })
    }

    async fn not_modified(
        &self,
        feed: &FeedConfig,
        state: &FeedState,
        min_gap: Option<Duration>,
    ) -> Result<PollDone, StoreError> {
        let now = self.clock.now();
        let next_due = schedule::next_due(&feed.cadence, PollResult::Ok { min_gap }, now);
        self.store
            .record_not_modified(state.id, now, next_due)
            .await?;
        self.report_health(feed, state, None).await?;
        debug!(feed = %feed.url, "not modified");
        Ok(PollDone {
            report: PollReport::NotModified,
            next_due,
        })
    }

    async fn failed(
        &self,
        feed: &FeedConfig,
        state: &FeedState,
        failure: PollFailure,
    ) -> Result<PollDone, StoreError> {
        let now = self.clock.now();
        let failures = state.consecutive_failures.saturating_add(1);
        let next_due =
            schedule::next_due(&feed.cadence, PollResult::failed(&failure, failures), now);
        warn!(feed = %feed.url, failures, retry_at = %next_due, error = %failure.message, "feed failed");
        self.store
            .record_failure(state.id, &failure, now, next_due)
            .await?;
        self.report_health(feed, state, Some(&failure)).await?;
        Ok(PollDone {
            report: PollReport::Failed,
            next_due,
        })
    }

    /// Queues the feed-health notice this poll calls for, if any.
    async fn report_health(
        &self,
        feed: &FeedConfig,
        state: &FeedState,
        failure: Option<&PollFailure>,
    ) -> Result<(), StoreError> {
        let general = &self.config.general;
        let rules = HealthRules {
            broken_after: general.feed_broken_after,
            anyone_listening: !general.admin_notify.is_empty(),
        };
        let now = self.clock.now();
        let Some(change) = health::change(state, failure, now, rules) else {
            return Ok(());
        };
        let name = feed.display_name(state.title.as_deref());
        let notice = alert::feed_notice(
            FeedRef {
                name: &name,
                url: &state.url,
            },
            &change,
            now,
            &general.admin_notify,
        );
        warn!(feed = %feed.url, broken = notice.broken, "telling the admin about the feed's health");
        self.store.enqueue_feed_notice(state.id, notice, now).await
    }
}

/// Parsing is CPU-bound and may meet a pathological document: keep it off the async workers.
async fn parse_off_thread(fetched: &mut Fetched) -> Result<ParsedFeed, PollFailure> {
    let body = std::mem::take(&mut fetched.body);
    let content_type = fetched.content_type.clone();
    let base = fetched.base_url().to_string();
    let parsed = tokio::task::spawn_blocking(move || {
        parse::parse_feed(&body, content_type.as_deref(), Some(&base))
    })
    .await;
    match parsed {
        Ok(Ok(p)) => {
            for w in &p.warnings {
                debug!(feed = %fetched.requested_url, warning = %w, "parse warning");
            }
            Ok(p)
        }
        Ok(Err(e)) => Err(e.into()),
        Err(e) => Err(PollFailure {
            kind: FailureKind::Parse,
            message: format!("parse: parser crashed: {e}"),
            retry_after: None,
        }),
    }
}
