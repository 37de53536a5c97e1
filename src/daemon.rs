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
}

/// The running parts, built from a config.
pub struct Daemon {
    /// The poll pipeline.
    pub pipeline: Arc<Pipeline>,
    /// The outbox dispatcher.
    pub dispatcher: Arc<Dispatcher>,
    limiter: Limiter,
}

impl Daemon {
    /// Opens the database, builds clients, compiles watchlists and notifiers.
    pub fn new(config: Config) -> Result<Daemon, StartError> {
        let store = Store::open(&config.general.database)?;
        let fetcher = Fetcher::new(&config.general, &config.feeds)?;
        let matcher = Arc::new(Matcher::compile(&config.watchlist_specs())?);
        let notifiers = notify::build_all(&config)?;
        let limiter = Limiter::new(
            config.general.concurrency,
            config.general.per_host_concurrency,
        );
        let config = Arc::new(config);
        Ok(Daemon {
            pipeline: Arc::new(Pipeline {
                config,
                store: store.clone(),
                fetcher,
                matcher,
            }),
            dispatcher: Arc::new(Dispatcher::new(store, notifiers)),
            limiter,
        })
    }

    /// One pass: poll the given feeds (bounded concurrency), then deliver everything due.
    pub async fn once(&self, feeds: Vec<FeedConfig>) -> Result<OnceReport, StoreError> {
        let mut report = OnceReport::default();
        let mut set = JoinSet::new();
        for feed in feeds {
            set.spawn(poll_limited(
                self.pipeline.clone(),
                self.limiter.clone(),
                feed,
            ));
        }
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok((_, Ok((PollReport::Failed { .. }, _)))) => report.failed_feeds += 1,
                Ok((_, Ok((PollReport::Fresh { alerts, .. }, _)))) => report.alerts += alerts,
                Ok((_, Ok((PollReport::NotModified, _)))) => {}
                Ok((_, Err(e))) => return Err(e),
                Err(e) => error!(error = %e, "poll task crashed"),
            }
            report.polled += 1;
        }
        report.delivery = self.dispatcher.drain().await?;
        self.prune().await?;
        Ok(report)
    }

    /// Forgets alerts and vanished items older than `general.retention`, so the database stays
    /// small over years of running.
    pub async fn prune(&self) -> Result<(), StoreError> {
        let retention = chrono::Duration::from_std(self.pipeline.config.general.retention)
            .unwrap_or(chrono::Duration::MAX);
        let cutoff = Utc::now() - retention;
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

    /// Runs until `shutdown` is cancelled; then lets work in hand finish (bounded) and returns.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), StoreError> {
        let mut next_due = self.next_due_by_url().await?;
        let now = Utc::now();
        let count = self.pipeline.config.feeds.len();
        for feed in &self.pipeline.config.feeds {
            next_due
                .entry(feed.url.to_string())
                .or_insert_with(|| crate::schedule::first_poll(&feed.cadence, now, count));
        }
        let wake_dispatcher = Arc::new(Notify::new());
        let dispatcher = tokio::spawn(dispatch_loop(
            self.dispatcher.clone(),
            wake_dispatcher.clone(),
            shutdown.clone(),
        ));
        systemd::ready();
        info!(
            feeds = self.pipeline.config.feeds.len(),
            watchlists = self.pipeline.config.watchlists.len(),
            "feedwatch running"
        );
        let feeds = self.pipeline.config.feeds.clone();
        let mut in_flight: JoinSet<(String, Result<PollDone, StoreError>)> = JoinSet::new();
        let mut next_prune = tokio::time::Instant::now();
        let mut busy: std::collections::HashSet<String> = std::collections::HashSet::new();
        loop {
            let now = Utc::now();
            for feed in &feeds {
                let url = feed.url.as_str();
                let due = next_due.get(url).is_none_or(|t| *t <= now);
                if due && busy.insert(url.to_owned()) {
                    in_flight.spawn(poll_limited(
                        self.pipeline.clone(),
                        self.limiter.clone(),
                        feed.clone(),
                    ));
                }
            }
            if tokio::time::Instant::now() >= next_prune {
                if let Err(e) = self.prune().await {
                    error!(error = %e, "could not prune old alerts and items");
                }
                next_prune = tokio::time::Instant::now() + PRUNE_EVERY;
            }
            systemd::watchdog();
            let sleep_for = feeds
                .iter()
                .filter(|f| !busy.contains(f.url.as_str()))
                .filter_map(|f| next_due.get(f.url.as_str()))
                .min()
                .map_or(SCHEDULE_TICK, |t| {
                    (*t - now).to_std().unwrap_or_default().min(SCHEDULE_TICK)
                });
            tokio::select! {
                () = shutdown.cancelled() => break,
                Some(joined) = in_flight.join_next() => match joined {
                    Ok((url, result)) => {
                        busy.remove(&url);
                        match result {
                            Ok((report, next)) => {
                                next_due.insert(url, next);
                                if matches!(report, PollReport::Fresh { alerts, .. } if alerts > 0) {
                                    wake_dispatcher.notify_one();
                                }
                            }
                            Err(e) => {
                                // The database is failing: retry the feed later rather than spin.
                                error!(feed = %url, error = %e, "could not record poll");
                                next_due.insert(url, Utc::now() + chrono::Duration::seconds(60));
                            }
                        }
                    }
                    Err(e) => error!(error = %e, "poll task crashed"),
                },
                () = tokio::time::sleep(sleep_for.max(Duration::from_millis(200))) => {}
            }
        }
        systemd::stopping();
        info!(in_flight = in_flight.len(), "stopping");
        // Polls in hand get a moment to commit; anything cut off was not recorded and will be
        // fetched again next time, so nothing is lost.
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
                "a delivery did not finish in time; it stays pending and is retried on the next start"
            );
        }
        Ok(())
    }
}

/// What `once` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OnceReport {
    /// Feeds polled.
    pub polled: usize,
    /// Feeds that failed.
    pub failed_feeds: usize,
    /// Alerts created.
    pub alerts: usize,
    /// What delivery did.
    pub delivery: DrainReport,
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

async fn poll_limited(
    pipeline: Arc<Pipeline>,
    limiter: Limiter,
    feed: FeedConfig,
) -> (String, Result<PollDone, StoreError>) {
    let url = feed.url.to_string();
    let host = limiter.host(&feed);
    // Semaphores are never closed, so acquiring cannot fail; the permits drop at the end.
    let _host = host.acquire_owned().await;
    let _global = limiter.global.clone().acquire_owned().await;
    let result = pipeline.poll_feed(&feed).await;
    (url, result)
}
