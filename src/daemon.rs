//! Wiring and lifecycle: the poll scheduler, the dispatcher, signals and systemd.
//!
//! Owns *when* things run: which feeds are due, how many requests are in flight (overall and
//! per host), when the outbox is drained, and an orderly stop. Must never contain pipeline
//! logic: it only calls [`Pipeline::poll_feed`] and [`Dispatcher::drain`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::{Config, FeedConfig};
use crate::fetch::Fetcher;
use crate::matcher::Matcher;
use crate::notify::{self, Dispatcher, DrainReport};
use crate::pipeline::{Pipeline, PollDone, PollReport};
use crate::store::{Store, StoreError};
use crate::systemd;

/// How long in-flight polls and sends may take to finish after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// The dispatcher looks at the outbox at least this often.
const DISPATCH_TICK: Duration = Duration::from_secs(30);
/// How often old alerts and vanished items are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(24 * 3600);
/// The scheduler wakes at least this often (to notice due feeds).
const SCHEDULE_TICK: Duration = Duration::from_secs(60);

/// Errors that stop the daemon from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The HTTP client could not be built.
    #[error(transparent)]
    Client(#[from] crate::fetch::ClientError),
    /// A watchlist could not be compiled.
    #[error("matcher: {0}")]
    Matcher(#[from] crate::matcher::MatcherError),
    /// A notifier could not be set up.
    #[error(transparent)]
    Notifier(#[from] notify::NotifyError),
    /// Another feedwatch already works on this database.
    #[error("{0}")]
    Busy(String),
}

/// The running parts, built from a config.
pub struct Daemon {
    /// The poll pipeline.
    pub pipeline: Arc<Pipeline>,
    /// The outbox dispatcher.
    pub dispatcher: Arc<Dispatcher>,
    limiter: Limiter,
    stop: CancellationToken,
    // Held for the daemon's lifetime: two processes draining one outbox would send twice.
    _lock: Option<std::fs::File>,
}

impl Daemon {
    /// Opens the database, builds clients, compiles watchlists and notifiers.
    pub fn new(config: Config) -> Result<Daemon, StartError> {
        let lock = lock_database(&config.general.database)?;
        let store = Store::open(&config.general.database)?;
        let fetcher = Fetcher::new(&config.general, &config.feeds)?;
        let matcher = Arc::new(Matcher::compile(&config.watchlist_specs())?);
        let notifiers = notify::build_all(&config)?;
        let limiter = Limiter::new(
            config.general.concurrency,
            config.general.per_host_concurrency,
        );
        let stop = CancellationToken::new();
        let config = Arc::new(config);
        Ok(Daemon {
            pipeline: Arc::new(Pipeline {
                config,
                store: store.clone(),
                fetcher,
                matcher,
            }),
            dispatcher: Arc::new(Dispatcher::new(store, notifiers, stop.clone())),
            limiter,
            stop,
            _lock: lock,
        })
    }

    /// The token that stops this daemon: polls not yet started are skipped, deliveries stop
    /// between two alerts, and [`Daemon::run`] returns.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
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
                Ok((_, Some(Ok((PollReport::Failed { .. }, _))))) => report.failed_feeds += 1,
                Ok((_, Some(Ok((PollReport::Fresh { new_items, alerts }, _))))) => {
                    report.new_items += new_items;
                    report.alerts += alerts;
                }
                Ok((_, Some(Ok((PollReport::NotModified, _))))) | Ok((_, None)) => {}
                Ok((_, Some(Err(e)))) => return Err(e),
                Err(e) => {
                    report.failed_feeds += 1;
                    error!(error = %e, "poll task crashed");
                }
            }
            report.polled += 1;
        }
        report.delivery = self.dispatcher.drain().await?;
        report.pending = self
            .pipeline
            .store
            .with(|db| db.pending_deliveries())
            .await?;
        self.prune().await?;
        Ok(report)
    }

    /// Forgets alerts and vanished items older than `general.retention`, so the database stays
    /// small over years of running.
    pub async fn prune(&self) -> Result<(), StoreError> {
        let retention = chrono::Duration::from_std(self.pipeline.config.general.retention)
            .unwrap_or(chrono::Duration::MAX);
        let Some(cutoff) = Utc::now().checked_sub_signed(retention) else {
            return Ok(());
        };
        let pruned = self.pipeline.store.with(move |db| db.prune(cutoff)).await?;
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
        let next = self.next_due_by_url().await?;
        let now = Utc::now();
        Ok(self
            .pipeline
            .config
            .feeds
            .iter()
            .filter(|f| all || next.get(f.url.as_str()).is_none_or(|t| *t <= now))
            .cloned()
            .collect())
    }

    async fn next_due_by_url(&self) -> Result<HashMap<String, DateTime<Utc>>, StoreError> {
        let states = self.pipeline.store.with(|db| db.feed_states()).await?;
        Ok(states
            .into_iter()
            .filter_map(|s| Some((s.url, s.next_due_at?)))
            .collect())
    }

    /// When each configured feed is first due in this run: its stored time (brought forward
    /// if the config now asks for a shorter interval, unless the feed is backing off from
    /// errors); never-polled feeds spread out.
    async fn initial_schedule(&self) -> Result<HashMap<String, DateTime<Utc>>, StoreError> {
        let states = self.pipeline.store.with(|db| db.feed_states()).await?;
        let stored: HashMap<String, (DateTime<Utc>, u32)> = states
            .into_iter()
            .filter_map(|s| Some((s.url, (s.next_due_at?, s.consecutive_failures))))
            .collect();
        let now = Utc::now();
        let feeds = &self.pipeline.config.feeds;
        Ok(feeds
            .iter()
            .map(|f| {
                let due = match stored.get(f.url.as_str()) {
                    Some((t, 0)) => (*t).min(f.cadence.next_regular(now, 0.0)),
                    Some((t, _)) => *t,
                    None => crate::schedule::first_poll(&f.cadence, now, feeds.len()),
                };
                (f.url.to_string(), due)
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
        let feeds = self.pipeline.config.feeds.clone();
        let mut in_flight: JoinSet<(String, Option<Result<PollDone, StoreError>>)> = JoinSet::new();
        // Which feed each task polls, so a crashed task frees its feed for the next round.
        let mut tasks: HashMap<tokio::task::Id, String> = HashMap::new();
        let mut next_prune = tokio::time::Instant::now();
        loop {
            let now = Utc::now();
            for feed in &feeds {
                let url = feed.url.as_str();
                if next_due.get(url).is_none_or(|t| *t <= now) {
                    let handle = in_flight.spawn(self.poll(feed.clone()));
                    tasks.insert(handle.id(), url.to_owned());
                    // Not due again until this poll says when.
                    next_due.insert(url.to_owned(), DateTime::<Utc>::MAX_UTC);
                }
            }
            if tokio::time::Instant::now() >= next_prune {
                if let Err(e) = self.prune().await {
                    error!(error = %e, "could not prune old alerts and items");
                }
                next_prune = tokio::time::Instant::now() + PRUNE_EVERY;
            }
            systemd::watchdog();
            let sleep_for = next_due.values().min().map_or(SCHEDULE_TICK, |t| {
                (*t - now).to_std().unwrap_or_default().min(SCHEDULE_TICK)
            });
            tokio::select! {
                () = self.stop.cancelled() => break,
                Some(joined) = in_flight.join_next_with_id() => {
                    let (id, outcome) = match joined {
                        Ok((id, (_, outcome))) => (id, outcome),
                        Err(e) => {
                            error!(error = %e, "poll task crashed");
                            (e.id(), None)
                        }
                    };
                    let Some(url) = tasks.remove(&id) else { continue };
                    let next = match outcome {
                        Some(Ok((report, next))) => {
                            if matches!(report, PollReport::Fresh { alerts, .. } if alerts > 0) {
                                wake_dispatcher.notify_one();
                            }
                            next
                        }
                        Some(Err(e)) => {
                            // The database is failing: retry the feed later rather than spin.
                            error!(feed = %url, error = %e, "could not record poll");
                            Utc::now() + chrono::Duration::seconds(60)
                        }
                        None => Utc::now() + chrono::Duration::seconds(60),
                    };
                    next_due.insert(url, next);
                },
                () = tokio::time::sleep(sleep_for.max(Duration::from_millis(200))) => {}
            }
        }
        systemd::stopping();
        info!(in_flight = in_flight.len(), "stopping");
        // Polls in hand get a moment to commit; one cut off before its commit recorded
        // nothing, so its items are simply fetched again on the next start.
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while in_flight.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            warn!("some polls did not finish in time; they will run again on the next start");
            in_flight.abort_all();
        }
        if tokio::time::timeout(SHUTDOWN_GRACE, dispatcher)
            .await
            .is_err()
        {
            warn!(
                "a delivery did not finish in time; it stays pending and is sent after the next start"
            );
        }
        Ok(())
    }

    /// Polls one feed within the concurrency limits; `None` if stopped before it began.
    fn poll(
        &self,
        feed: FeedConfig,
    ) -> impl std::future::Future<Output = (String, Option<Result<PollDone, StoreError>>)> + use<>
    {
        let pipeline = Arc::clone(&self.pipeline);
        let limiter = self.limiter.clone();
        let stop = self.stop.clone();
        async move {
            let url = feed.url.to_string();
            let host = limiter.host(&feed);
            // Semaphores are never closed, so acquiring cannot fail; permits drop at the end.
            let _host = host.acquire_owned().await;
            let _global = limiter.global.clone().acquire_owned().await;
            if stop.is_cancelled() {
                return (url, None);
            }
            let result = pipeline.poll_feed(&feed).await;
            (url, Some(result))
        }
    }
}

/// Takes an exclusive lock next to the database, so `once` from a timer and a running daemon
/// (or two overlapping timers) never drain one outbox together and send alerts twice.
fn lock_database(db: &std::path::Path) -> Result<Option<std::fs::File>, StartError> {
    if db == std::path::Path::new(":memory:") {
        return Ok(None);
    }
    let mut path = db.as_os_str().to_owned();
    path.push(".lock");
    let path = std::path::PathBuf::from(path);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(parent);
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| {
            StartError::Busy(format!("cannot create lock file {}: {e}", path.display()))
        })?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(StartError::Busy(format!(
            "another feedwatch is already running on {} (lock {}); stop it, or give this one another `database`",
            db.display(),
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(StartError::Busy(format!(
            "cannot lock {}: {e}",
            path.display()
        ))),
    }
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
}

async fn dispatch_loop(
    dispatcher: Arc<Dispatcher>,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    loop {
        if let Err(e) = dispatcher.drain().await {
            error!(error = %e, "cannot read the outbox");
        }
        let wait = match dispatcher.next_due().await {
            Ok(Some(t)) => (t - Utc::now())
                .to_std()
                .unwrap_or_default()
                .min(DISPATCH_TICK),
            _ => DISPATCH_TICK,
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = wake.notified() => {}
            () = tokio::time::sleep(wait.max(Duration::from_millis(100))) => {}
        }
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
