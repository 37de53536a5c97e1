//! Wiring and lifecycle: the poll scheduler, the dispatcher and systemd.
//!
//! Owns *when* things run: which feeds are due, how many requests are in flight (overall and
//! per host), when the outbox is drained, and an orderly stop when the stop token is cancelled
//! (the CLI turns signals into that). Must never contain pipeline logic: it only calls
//! [`Pipeline::poll_feed`] and [`Dispatcher::drain`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, Semaphore};
use tokio::task::{JoinError, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::clock::{SharedClock, SystemClock};
use crate::config::{Config, FeedConfig};
use crate::fetch::Fetcher;
use crate::matcher::Matcher;
use crate::model::FeedUrl;
use crate::notify::{self, Dispatcher, DrainReport};
use crate::pipeline::{Pipeline, PollDone, PollReport};
use crate::store::{self, Access, StoreError};
use crate::systemd;

/// How long in-flight polls and sends together may take to finish after the stop: one
/// deadline for both, so a stop never takes longer than this.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// The dispatcher looks at the outbox at least this often.
const DISPATCH_TICK: Duration = Duration::from_secs(30);
/// While it waits, the dispatcher re-reads the outbox's earliest due time this often (one
/// indexed query): `feedwatch retry`, another process, may have made deliveries due now.
const OUTBOX_PEEK: Duration = Duration::from_secs(2);
/// After a store error, the dispatcher waits this long before it tries again, doubling per
/// error in a row up to [`STORE_RETRY_MAX`]: a full disk is not freed in milliseconds.
const STORE_RETRY_FIRST: Duration = Duration::from_secs(1);
/// The longest wait after store errors.
const STORE_RETRY_MAX: Duration = Duration::from_secs(60);
/// How often old alerts and vanished items are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(24 * 3600);
/// The scheduler wakes at least this often (to notice due feeds).
const SCHEDULE_TICK: Duration = Duration::from_secs(60);
/// After a poll whose outcome could not be recorded, the feed waits this long.
const RECORD_RETRY: chrono::Duration = chrono::Duration::seconds(60);

/// Errors that stop the daemon from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened, or another feedwatch works on it.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The HTTP client could not be built.
    #[error(transparent)]
    Client(#[from] crate::fetch::ClientError),
    /// A watchlist could not be compiled (the message names the watchlist).
    #[error(transparent)]
    Matcher(#[from] crate::matcher::MatcherError),
    /// A notifier could not be set up.
    #[error(transparent)]
    Notifier(#[from] notify::SetupError),
}

/// The running parts, built from a config.
pub struct Daemon {
    /// The poll pipeline.
    pub pipeline: Arc<Pipeline>,
    /// The outbox dispatcher.
    pub dispatcher: Arc<Dispatcher>,
    limiter: Limiter,
    stop: CancellationToken,
}

/// Polls in flight, and which feed each polls, so a crashed task frees its feed.
type Polls = (
    JoinSet<Option<Result<PollDone, StoreError>>>,
    HashMap<tokio::task::Id, FeedUrl>,
);

impl Daemon {
    /// Opens the database, builds clients, compiles watchlists and notifiers.
    pub fn new(config: Config) -> Result<Daemon, StartError> {
        Daemon::with_clock(config, Arc::new(SystemClock))
    }

    /// [`Daemon::new`] with the time taken from `clock`.
    pub fn with_clock(config: Config, clock: SharedClock) -> Result<Daemon, StartError> {
        let store = store::open(&config.general.database, Access::Exclusive)?;
        let fetcher = Fetcher::new(&config.general, &config.feeds)?;
        let matcher = Arc::new(Matcher::compile(&config.watchlist_specs())?);
        let notifiers = notify::build_all(&config)?;
        let limiter = Limiter::new(
            config.general.concurrency,
            config.general.per_host_concurrency,
        );
        let stop = CancellationToken::new();
        let dispatcher = Dispatcher::new(store.clone(), notifiers, clock.clone(), stop.clone());
        Ok(Daemon {
            pipeline: Arc::new(Pipeline {
                config: Arc::new(config),
                store,
                fetcher,
                matcher,
                clock,
            }),
            dispatcher: Arc::new(dispatcher),
            limiter,
            stop,
        })
    }

    /// The token that stops this daemon: polls not yet started are skipped, deliveries stop
    /// between two alerts, and [`Daemon::run`] returns.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    fn now(&self) -> DateTime<Utc> {
        self.pipeline.clock.now()
    }

    /// One pass: poll the given feeds (bounded concurrency), then deliver everything due.
    pub async fn once(&self, feeds: Vec<FeedConfig>) -> Result<OnceReport, StoreError> {
        let mut report = OnceReport::default();
        let mut set = JoinSet::new();
        for feed in feeds {
            set.spawn(self.poll(feed));
        }
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(Some(Ok(done))) => report.count(&done.report),
                Ok(None) => {}
                Ok(Some(Err(e))) => return Err(e),
                Err(e) => {
                    report.failed_feeds += 1;
                    error!(error = %e, "poll task crashed");
                }
            }
            report.polled += 1;
        }
        report.delivery = match self.dispatcher.drain().await {
            Ok(delivery) => delivery,
            Err(e) => {
                self.dispatcher
                    .settle(Instant::now() + SHUTDOWN_GRACE)
                    .await;
                warn_unrecorded(&self.dispatcher);
                return Err(e);
            }
        };
        let pending = self.pipeline.store.pending_deliveries().await?;
        report.held = self.pipeline.store.held_deliveries(self.now()).await?;
        report.pending = pending.saturating_sub(report.held);
        self.prune().await?;
        Ok(report)
    }

    /// Forgets alerts and vanished items older than `general.retention`, so the database stays
    /// small over years of running.
    pub async fn prune(&self) -> Result<(), StoreError> {
        let retention = chrono::Duration::from_std(self.pipeline.config.general.retention)
            .unwrap_or(chrono::Duration::MAX);
        let Some(cutoff) = self.now().checked_sub_signed(retention) else {
            return Ok(());
        };
        let pruned = self.pipeline.store.prune(cutoff).await?;
        if pruned.alerts + pruned.items > 0 {
            info!(
                alerts = pruned.alerts,
                items = pruned.items,
                "forgot old alerts and items"
            );
        }
        Ok(())
    }

    /// Feeds due now (never polled, or past their time), or all of them.
    pub async fn due_feeds(&self, all: bool) -> Result<Vec<FeedConfig>, StoreError> {
        let states = self.pipeline.store.feed_states().await?;
        let next: HashMap<FeedUrl, DateTime<Utc>> = states
            .into_iter()
            .filter_map(|s| Some((s.url, s.next_due_at?)))
            .collect();
        let now = self.now();
        Ok(self
            .pipeline
            .config
            .feeds
            .iter()
            .filter(|f| all || next.get(&FeedUrl::new(&f.url)).is_none_or(|t| *t <= now))
            .cloned()
            .collect())
    }

    /// When each configured feed is first due in this run: its stored time (brought forward
    /// if the config now asks for a shorter interval, unless the feed is backing off from
    /// errors); never-polled feeds spread out.
    async fn initial_schedule(&self) -> Result<HashMap<FeedUrl, DateTime<Utc>>, StoreError> {
        let states = self.pipeline.store.feed_states().await?;
        let stored: HashMap<FeedUrl, (DateTime<Utc>, u32)> = states
            .into_iter()
            .filter_map(|s| Some((s.url, (s.next_due_at?, s.consecutive_failures))))
            .collect();
        let now = self.now();
        let feeds = &self.pipeline.config.feeds;
        Ok(feeds
            .iter()
            .map(|f| {
                let url = FeedUrl::new(&f.url);
                let due = match stored.get(&url) {
                    Some((t, 0)) => (*t).min(f.cadence.next_regular(now, 0.0)),
                    Some((t, _)) => *t,
                    None => crate::schedule::first_poll(&f.cadence, now, feeds.len()),
                };
                (url, due)
            })
            .collect())
    }

    /// Runs until the stop token is cancelled; then lets work in hand finish (bounded).
    pub async fn run(self) -> Result<(), StoreError> {
        let mut next_due = self.initial_schedule().await?;
        let wake_dispatcher = Arc::new(Notify::new());
        let dispatcher = tokio::spawn(dispatch_loop(
            self.dispatcher.clone(),
            wake_dispatcher.clone(),
            self.stop.clone(),
        ));
        systemd::ready();
        info!(
            feeds = self.pipeline.config.feeds.len(),
            watchlists = self.pipeline.config.watchlists.len(),
            "feedwatch running"
        );
        let mut polls: Polls = (JoinSet::new(), HashMap::new());
        let mut next_prune = Instant::now();
        loop {
            self.start_due_polls(&mut next_due, &mut polls);
            if Instant::now() >= next_prune {
                if let Err(e) = self.prune().await {
                    error!(error = %e, "could not prune old alerts and items");
                }
                next_prune = Instant::now() + PRUNE_EVERY;
            }
            systemd::watchdog();
            let now = self.now();
            let sleep_for = next_due.values().min().map_or(SCHEDULE_TICK, |t| {
                (*t - now).to_std().unwrap_or_default().min(SCHEDULE_TICK)
            });
            tokio::select! {
                () = self.stop.cancelled() => break,
                Some(joined) = polls.0.join_next_with_id() => {
                    if let Some((url, next)) = self.poll_finished(joined, &mut polls.1, &wake_dispatcher) {
                        next_due.insert(url, next);
                    }
                },
                () = tokio::time::sleep(sleep_for.max(Duration::from_millis(200))) => {}
            }
        }
        shut_down(polls.0, dispatcher, &self.dispatcher).await;
        Ok(())
    }

    /// Starts a poll of every feed that is due; a feed in flight is not due again until its
    /// poll says when.
    fn start_due_polls(&self, next_due: &mut HashMap<FeedUrl, DateTime<Utc>>, polls: &mut Polls) {
        let now = self.now();
        for feed in &self.pipeline.config.feeds {
            let url = FeedUrl::new(&feed.url);
            if next_due.get(&url).is_none_or(|t| *t <= now) {
                let handle = polls.0.spawn(self.poll(feed.clone()));
                polls.1.insert(handle.id(), url.clone());
                next_due.insert(url, DateTime::<Utc>::MAX_UTC);
            }
        }
    }

    /// Takes in a finished poll: which feed it was and when that feed is next due.
    fn poll_finished(
        &self,
        joined: Result<(tokio::task::Id, Option<Result<PollDone, StoreError>>), JoinError>,
        tasks: &mut HashMap<tokio::task::Id, FeedUrl>,
        wake_dispatcher: &Notify,
    ) -> Option<(FeedUrl, DateTime<Utc>)> {
        let (id, outcome) = match joined {
            Ok((id, outcome)) => (id, outcome),
            Err(e) => {
                error!(error = %e, "poll task crashed");
                (e.id(), None)
            }
        };
        let url = tasks.remove(&id)?;
        let next = match outcome {
            Some(Ok(done)) => {
                if matches!(done.report, PollReport::Fresh { alerts, .. } if alerts > 0) {
                    wake_dispatcher.notify_one();
                }
                done.next_due
            }
            Some(Err(e)) => {
                // The database is failing: retry the feed later rather than spin.
                error!(feed = %url, error = %e, "could not record poll");
                self.now() + RECORD_RETRY
            }
            None => self.now() + RECORD_RETRY,
        };
        Some((url, next))
    }

    /// Polls one feed within the concurrency limits; `None` if stopped before it began.
    fn poll(
        &self,
        feed: FeedConfig,
    ) -> impl std::future::Future<Output = Option<Result<PollDone, StoreError>>> + use<> {
        let pipeline = Arc::clone(&self.pipeline);
        let limiter = self.limiter.clone();
        let stop = self.stop.clone();
        async move {
            let host = limiter.host(&feed);
            // Semaphores are never closed, so acquiring cannot fail; permits drop at the end.
            let _host = host.acquire_owned().await;
            let _global = limiter.global.clone().acquire_owned().await;
            if stop.is_cancelled() {
                return None;
            }
            Some(pipeline.poll_feed(&feed).await)
        }
    }
}

/// Warns about alerts that were sent but could not be recorded as sent: the dispatcher keeps
/// them from being sent twice only while this process runs.
fn warn_unrecorded(dispatcher: &Dispatcher) {
    let unrecorded = dispatcher.unrecorded_sends();
    if unrecorded > 0 {
        warn!(
            alerts = unrecorded,
            "alerts were sent but could not be recorded as sent; they are sent again after the next start"
        );
    }
}

/// After the stop: polls in hand get a moment to commit, and the send in hand to finish, within
/// one shared deadline. A poll cut off before its commit recorded nothing, so its items are
/// simply fetched again on the next start; an unfinished send stays pending, and a finished
/// one whose record could not be written gets the rest of the deadline to be recorded.
async fn shut_down(
    mut polls: JoinSet<Option<Result<PollDone, StoreError>>>,
    dispatch_loop: tokio::task::JoinHandle<()>,
    dispatcher: &Dispatcher,
) {
    systemd::stopping();
    info!(in_flight = polls.len(), "stopping");
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    let drained = tokio::time::timeout_at(deadline, async {
        while polls.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!("some polls did not finish in time; they will run again on the next start");
        polls.abort_all();
    }
    if tokio::time::timeout_at(deadline, dispatch_loop)
        .await
        .is_err()
    {
        warn!(
            "a delivery did not finish in time; it stays pending and is sent after the next start"
        );
    }
    dispatcher.settle(deadline).await;
    warn_unrecorded(dispatcher);
}

/// What `once` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OnceReport {
    /// Feeds polled.
    pub polled: usize,
    /// Feeds that failed.
    pub failed_feeds: usize,
    /// Items seen for the first time.
    pub new_items: usize,
    /// Alerts created.
    pub alerts: usize,
    /// What delivery did.
    pub delivery: DrainReport,
    /// Deliveries still pending afterwards (failed now, or waiting for their retry time).
    pub pending: usize,
    /// Deliveries held afterwards for a digest or by `max_per_hour`: waiting, not failing.
    pub held: usize,
}

impl OnceReport {
    fn count(&mut self, poll: &PollReport) {
        match poll {
            PollReport::Failed => self.failed_feeds += 1,
            PollReport::Fresh { new_items, alerts } => {
                self.new_items += new_items;
                self.alerts += alerts;
            }
            PollReport::NotModified => {}
        }
    }
}

/// Drains the outbox whenever a delivery falls due (made due sooner by another process too, see
/// [`sleep_until_due`]) or a poll brings alerts, and at least every [`DISPATCH_TICK`]; after
/// store errors, backs off (see [`StoreRetry`]).
async fn dispatch_loop(
    dispatcher: Arc<Dispatcher>,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let mut store_retry = StoreRetry::default();
    loop {
        // No peeking at a store that just failed: each failure would be logged again.
        let (wait, peek) = match drain_once(&dispatcher).await {
            Ok(wait) => {
                store_retry = StoreRetry::default();
                (wait.max(Duration::from_millis(100)), true)
            }
            Err(()) => {
                let wait = store_retry.next();
                // The error itself was logged where it happened.
                warn!(
                    retry_in = %humantime::format_duration(wait),
                    "delivery paused after a store error"
                );
                (wait, false)
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = wake.notified() => {}
            () = sleep_until_due(&dispatcher, wait), if peek => {}
            () = tokio::time::sleep(wait), if !peek => {}
        }
    }
}

/// Sleeps `wait`, or less once the outbox's earliest due time moves well before its end (looked
/// at every [`OUTBOX_PEEK`]), so deliveries `feedwatch retry` made due go out within seconds.
async fn sleep_until_due(dispatcher: &Dispatcher, wait: Duration) {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        tokio::time::sleep(left.min(OUTBOX_PEEK)).await;
        let left = deadline.saturating_duration_since(Instant::now());
        let sooner = match dispatcher.until_next_due().await {
            Ok(next) => next.is_some_and(|next| next + OUTBOX_PEEK < left),
            // The next drain meets the error again, and backs off.
            Err(_) => true,
        };
        if sooner {
            return;
        }
    }
}

/// One drain, then how long until the next delivery is due; `Err` after a store error.
async fn drain_once(dispatcher: &Dispatcher) -> Result<Duration, ()> {
    dispatcher.drain().await.map_err(drop)?;
    let next = dispatcher.until_next_due().await.map_err(drop)?;
    Ok(next.map_or(DISPATCH_TICK, |wait| wait.min(DISPATCH_TICK)))
}

/// Waits after store errors in a row: [`STORE_RETRY_FIRST`], doubling up to
/// [`STORE_RETRY_MAX`].
#[derive(Debug, Default)]
struct StoreRetry {
    errors: u32,
}

impl StoreRetry {
    /// The wait after one more error.
    fn next(&mut self) -> Duration {
        let wait = STORE_RETRY_FIRST
            .saturating_mul(1 << self.errors.min(16))
            .min(STORE_RETRY_MAX);
        self.errors = self.errors.saturating_add(1);
        wait
    }
}

/// Bounds requests in flight: overall, and per host so one site never sees more than a few.
#[derive(Clone)]
struct Limiter {
    global: Arc<Semaphore>,
    per_host: usize,
    hosts: Arc<std::sync::Mutex<HashMap<String, Arc<Semaphore>>>>,
}

impl Limiter {
    fn new(global: usize, per_host: usize) -> Limiter {
        Limiter {
            global: Arc::new(Semaphore::new(global)),
            per_host,
            hosts: Arc::default(),
        }
    }

    fn host(&self, feed: &FeedConfig) -> Arc<Semaphore> {
        let host = feed.url.host_str().unwrap_or("").to_ascii_lowercase();
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        hosts
            .entry(host)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_back_off_from_a_second_to_a_minute() {
        let mut retry = StoreRetry::default();
        let waits: Vec<u64> = (0..9).map(|_| retry.next().as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
