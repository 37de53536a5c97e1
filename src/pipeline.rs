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

use crate::alert::{self, FeedRef, Listing, MatchedEntry, NewEntry, PollAlerts};
use crate::clock::SharedClock;
use crate::config::{Config, FeedConfig};
use crate::fetch::{FetchOutcome, Fetched, Fetcher};
use crate::health::{self, HealthRules};
use crate::matcher::{ItemText, Matcher};
use crate::model::{FailureKind, FeedUrl, Item, PollFailure};
use crate::parse::{self, ParsedFeed};
use crate::schedule::{self, PollResult};
use crate::store::{FeedState, FreshPoll, SharedStore, StoreError};
use crate::text::Escaped;

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

/// Why reading a fetched document stopped: the feed failed (recorded on it), or the store did.
enum Stop {
    Failed(PollFailure),
    Store(StoreError),
}

impl From<PollFailure> for Stop {
    fn from(f: PollFailure) -> Stop {
        Stop::Failed(f)
    }
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Stop {
        Stop::Store(e)
    }
}

impl Pipeline {
    /// Polls one feed end to end: fetch, read the document into one commit, commit, health.
    pub async fn poll_feed(&self, feed: &FeedConfig) -> Result<PollDone, StoreError> {
        let state = self.store.feed_state(&FeedUrl::new(&feed.url)).await?;
        let fetched = match self.fetcher.fetch(feed, &state.validators).await {
            FetchOutcome::Fresh(f) => f,
            FetchOutcome::NotModified { min_gap } => {
                return self.not_modified(feed, &state, min_gap).await;
            }
            FetchOutcome::Failed(e) => return self.failed(feed, &state, e.into()).await,
        };
        let poll = match self.read(feed, &state, *fetched).await {
            Ok(poll) => poll,
            Err(Stop::Failed(failure)) => return self.failed(feed, &state, failure).await,
            Err(Stop::Store(e)) => return Err(e),
        };
        let next_due = poll.next_due;
        let edited = poll.edits.len();
        let counts = self.store.commit_fresh(poll).await?;
        self.report_health(feed, &state, None).await?;
        if counts.alerts > 0 || counts.new_items > 0 || edited > 0 {
            info!(feed = %feed.url, new_items = counts.new_items, edited, alerts = counts.alerts, first_fetch = !state.first_fetch_done, "polled");
        }
        let report = PollReport::Fresh {
            new_items: counts.new_items,
            alerts: counts.alerts,
        };
        Ok(PollDone { report, next_due })
    }

    /// parse → unseen (new or edited) → match → build alerts: a fetched document becomes one
    /// commit. The CPU-bound steps (XML, HTML and Unicode work on every entry) run on the
    /// blocking pool, never on the async workers.
    async fn read(
        &self,
        feed: &FeedConfig,
        state: &FeedState,
        mut fetched: Fetched,
    ) -> Result<FreshPoll, Stop> {
        let parsed = parse_off_thread(&mut fetched).await?;
        let identities = parsed.items.iter().map(Item::identity).collect();
        let unseen = self.store.unseen(state.id, identities).await?;
        let title = parsed
            .title
            .as_deref()
            .map(alert::plain_title)
            .filter(|t| !t.is_empty());
        let items = parsed.items;
        let matching = self.matching(feed, state, title.as_deref());
        let backlog = !matching.may_alert;
        // One trip to the blocking pool for the three steps that read every entry.
        let (present, listed, matched, alerts) =
            off_thread("match", FailureKind::Match, move || {
                let listing = Listing::of(items, unseen);
                let listed = listing.listed();
                let matched = matching.entries(listing.new);
                let alerts = matching.alerts(&matched);
                (listing.present, listed, matched, alerts)
            })
            .await?;
        if alerts.dropped > 0 {
            warn!(
                feed = %feed.url,
                kept = alerts.alerts.len(),
                dropped = alerts.dropped,
                "too many alerts from one poll of this feed: only the first {} are sent; the entries beyond are recorded as seen and will not alert",
                alert::MAX_ALERTS_PER_POLL
            );
        }
        let records = alert::records(matched, backlog);
        let now = self.clock.now();
        let ok = PollResult::Ok {
            min_gap: fetched.min_gap,
        };
        Ok(FreshPoll {
            feed: state.id,
            now,
            title,
            validators: std::mem::take(&mut fetched.validators),
            status: fetched.status,
            moved_to: fetched.moved_to.as_ref().map(|u| u.to_string()),
            next_due: schedule::next_due(&feed.cadence, ok, now),
            items: records.items,
            present,
            edits: records.edits,
            alerts: alerts.alerts,
            first_fetch_complete: alert::completes_first_fetch(listed),
            stories_since: alert::stories_since(now),
        })
    }

    /// Everything matching and alert building need, owned, for the blocking pool.
    fn matching(&self, feed: &FeedConfig, state: &FeedState, title: Option<&str>) -> Matching {
        let may_alert = alert::backlog_alerts(state.first_fetch_done, feed.alert_on_first_fetch);
        Matching {
            matcher: Arc::clone(&self.matcher),
            config: Arc::clone(&self.config),
            scope: self
                .config
                .watchlists
                .iter()
                .map(|w| w.applies_to(feed, title))
                .collect(),
            may_alert,
            name: feed.display_name(title),
            url: state.url.clone(),
        }
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
        warn!(feed = %feed.url, failures, retry_at = %next_due, error = %Escaped(&failure.message), "feed failed");
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

/// The match and alert steps of one poll, with what they need owned.
struct Matching {
    matcher: Arc<Matcher>,
    config: Arc<Config>,
    /// Which watchlists apply to this feed.
    scope: Vec<bool>,
    may_alert: bool,
    name: String,
    url: FeedUrl,
}

impl Matching {
    /// Matches the new and edited entries; a backlog's too, so that the entries it would have
    /// alerted on are recorded as such (an edit of one is no news).
    fn entries(&self, entries: Vec<NewEntry>) -> Vec<MatchedEntry> {
        let applies = |i: usize| self.scope.get(i).copied().unwrap_or(false);
        entries
            .into_iter()
            .map(|entry| {
                let text = ItemText::from_item(&entry.item);
                let matches = self.matcher.match_item(&text, applies);
                MatchedEntry::matched(entry, &text, matches)
            })
            .collect()
    }

    /// The alerts of the matched entries, within the per-poll cap; none for a backlog that may
    /// not alert.
    fn alerts(&self, matched: &[MatchedEntry]) -> PollAlerts {
        if !self.may_alert {
            return PollAlerts::default();
        }
        let feed = FeedRef {
            name: &self.name,
            url: &self.url,
        };
        alert::build(feed, matched, &self.config.watchlists)
    }
}

/// Runs one CPU-bound step of `stage` on the blocking pool; a crash there fails the poll as
/// `kind`.
async fn off_thread<T: Send + 'static>(
    stage: &'static str,
    kind: FailureKind,
    step: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PollFailure> {
    tokio::task::spawn_blocking(step)
        .await
        .map_err(|e| PollFailure {
            kind,
            message: format!("{stage}: crashed on this feed: {e}"),
            retry_after: None,
        })
}

/// Parsing may meet a pathological document: it runs off the async workers like every
/// CPU-bound step.
async fn parse_off_thread(fetched: &mut Fetched) -> Result<ParsedFeed, PollFailure> {
    let body = std::mem::take(&mut fetched.body);
    let content_type = fetched.content_type.clone();
    let base = fetched.base_url().to_string();
    let parsed = off_thread("parse", FailureKind::Parse, move || {
        parse::parse_feed(&body, content_type.as_deref(), Some(&base))
    })
    .await??;
    for w in &parsed.warnings {
        debug!(feed = %fetched.requested_url, warning = %Escaped(w), "parse warning");
    }
    Ok(parsed)
}
