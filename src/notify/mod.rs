//! Notifiers and the dispatcher that drains the outbox through them.
//!
//! Owns delivery: every notifier has the same shape (`send` one [`Message`], bounded by its
//! timeout), and the [`Dispatcher`] marks each delivery sent, or failed with its error and a
//! retry time. Must never hold a database transaction while sending, never drop a delivery
//! silently (a delivery is pending until it is sent or has failed for longer than
//! [`GIVE_UP_AFTER`]), and never send an alert again because the record of its send could not
//! be written.
//!
//! How a notifier's due deliveries go out is its [`Pace`], decided by pure functions
//! (`plan_flood`, `digest_release`) while the I/O stays in the drain:
//!
//! - **Digest** (`digest = "<cron>"`): a delivery is released once a digest time has passed
//!   since its alert was created; until then it is *held* in the store until that time. Every
//!   released due delivery goes out in one message, and all are recorded sent in one write
//!   after the send succeeded. A hold is a time stored beside the retry time, never in its
//!   place, so the outbox's earliest due time (what the daemon sleeps until) is exact, and a
//!   digest whose time passed while feedwatch was stopped is simply due at the next start.
//!   Holds are decided from the config in force: every process lifts them all before its first
//!   drain and decides them again, so editing or removing a notifier's `digest` takes effect
//!   at the next start without losing or re-sending anything. The dispatcher keeps no state of
//!   its own that a restart could lose.
//! - **Capped** (`max_per_hour = N`): at most N alerts go one by one in a rolling hour; the
//!   rest are folded into one summary an hour, and what still does not fit is held until the
//!   window allows a single or a new summary. The window is counted from the store, which
//!   records how each delivery went out (single, summary, digest), so a restart keeps it.
//! - **Instant**: each alert as it comes.
//!
//! A batch (digest or summary) is one message: if it fails, its deliveries are retried
//! together and back off as for passing trouble (a refused batch says more about the receiver
//! than about each alert in it). A crash between the send and its record sends those alerts
//! once more after the restart, as it would a single alert; the batch's id (derived from the
//! alerts it holds) is the same only if no new alert joins it in between, so a receiver cannot
//! always recognise the repeat.
//!
//! Feed-health notices go to `general.admin_notify` like any alert, so a notifier with a
//! `digest` holds them until its digest time and `max_per_hour` counts them.

pub mod chat;
pub mod compose;
mod email;
pub mod http;
pub mod message;
mod stdout;
mod webhook;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::alert::Alert;
use crate::clock::SharedClock;
use crate::config::{Config, NotifierConfig, NotifierKind, NotifierName};
use crate::schedule::Cadence;
use crate::store::{DeliveryId, DueDelivery, SentAs, SentWindow, SharedStore, StoreError};
use crate::text::Escaped;

pub use chat::ChatNotifier;
pub use compose::View;
pub use email::{EmailNotifier, html, plain};
pub use message::{Batch, BatchKind, Message};
pub use stdout::StdoutNotifier;
pub use webhook::{WebhookNotifier, WebhookPayload};

/// A delivery still failing after this long is given up (and shown as failed by `alerts`).
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(3 * 24 * 3600);
/// First retry delay; doubles per attempt.
const FIRST_RETRY: Duration = Duration::from_secs(30);
/// Longest delay between two attempts, so a server back after an outage gets mail soon; also
/// the longest `Retry-After` honoured.
const MAX_RETRY: Duration = Duration::from_secs(30 * 60);
/// Shortest `Retry-After` honoured, so a receiver answering `Retry-After: 0` is not hammered.
const MIN_ASKED_RETRY: Duration = Duration::from_secs(1);
/// Attempts in all an alert that the receiver rejects gets before it is given up.
const REJECTED_ATTEMPTS: u32 = 3;
/// Different alerts rejected the same way in a row, in one drain, that are taken to be the
/// receiver's fault (or its config's) rather than the alerts'.
const RECEIVER_FAULT_STREAK: u32 = 3;
/// Deliveries read per batch.
const BATCH: usize = 64;
/// Most alerts one digest or summary carries, so a feed listing ten thousand matching items
/// still makes messages a receiver accepts; the rest go in the next one.
const MAX_BATCH_ALERTS: usize = 1000;
/// The window `max_per_hour` counts in.
const HOUR: chrono::Duration = chrono::Duration::hours(1);

/// A notifier could not be set up from its config.
#[derive(Debug, thiserror::Error)]
#[error("{kind} {notifier}: {message}")]
pub struct SetupError {
    /// Notifier type.
    pub kind: &'static str,
    /// Notifier name.
    pub notifier: NotifierName,
    /// What went wrong and what to check.
    pub message: String,
}

/// What a failed delivery says about whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryErrorKind {
    /// Passing trouble (a timeout, a server error, a lost connection): retry later.
    Retry,
    /// The receiver refuses this very alert (too big, content refused): retrying it is
    /// pointless, and the notifier's other alerts still go out.
    Reject,
    /// The receiver or its config is at fault (bad credentials, wrong URL, unknown sender):
    /// every alert fails the same way until it is fixed, then they all go out.
    ReceiverFault,
    /// The stored alert cannot be read back: it can never be sent, to any receiver.
    Unreadable,
}

/// Why one delivery failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    /// Whom the failure is about, which decides the retry.
    pub kind: DeliveryErrorKind,
    /// What went wrong, naming the notifier (`email desk: …`).
    pub message: String,
    /// The receiver's answer (HTTP status, SMTP reply code), if it gave one: alerts rejected
    /// with the same code are rejected the same way.
    pub code: Option<u16>,
    /// How long the receiver asked to be left alone (`Retry-After`), if it said.
    pub retry_after: Option<Duration>,
}

impl DeliveryError {
    /// A failure of notifier `name` of type `kind_name`.
    pub fn new(
        kind: DeliveryErrorKind,
        kind_name: &str,
        name: &NotifierName,
        message: impl fmt::Display,
    ) -> DeliveryError {
        DeliveryError {
            kind,
            message: format!("{kind_name} {name}: {message}"),
            code: None,
            retry_after: None,
        }
    }

    /// This error, with the receiver's answer code.
    pub fn with_code(mut self, code: Option<u16>) -> DeliveryError {
        self.code = code;
        self
    }

    /// This error, with the receiver's `Retry-After` if it sent one.
    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> DeliveryError {
        self.retry_after = retry_after;
        self
    }

    /// The send did not finish within the notifier's timeout.
    pub fn timeout(kind_name: &str, name: &NotifierName, timeout: Duration) -> DeliveryError {
        DeliveryError::new(
            DeliveryErrorKind::Retry,
            kind_name,
            name,
            format_args!(
                "no answer within {}; will retry",
                humantime::format_duration(timeout)
            ),
        )
    }
}

/// Where alerts are sent from and how their times are shown, for notifiers that tell the
/// reader (the email footer names the host and the config file holding the watchlists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// This machine's host name.
    pub host: String,
    /// The main config file.
    pub config: PathBuf,
    /// The zone times are shown in (`general.timezone`).
    pub timezone: Tz,
}

impl Origin {
    /// The origin of alerts sent under `config`, on this machine.
    pub fn of(config: &Config) -> Origin {
        Origin {
            host: this_host(),
            config: config.path.clone(),
            timezone: config.general.timezone,
        }
    }
}

/// The name alerts say they were sent from: `$FEEDWATCH_HOST` when set (a container's host
/// name is a random id), else this machine's host name, else `unknown host`.
fn this_host() -> String {
    std::env::var("FEEDWATCH_HOST")
        .ok()
        .or_else(|| {
            hostname::get()
                .ok()
                .map(|h| h.to_string_lossy().into_owned())
        })
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown host".to_owned())
}

/// One configured notifier, ready to send.
pub struct Notifier {
    channel: Channel,
    pace: Pace,
}

/// Where a notifier sends.
enum Channel {
    Email(EmailNotifier),
    Webhook(WebhookNotifier),
    Stdout(StdoutNotifier),
    Chat(ChatNotifier),
}

/// How a notifier's alerts go out.
#[derive(Clone)]
pub enum Pace {
    /// Each as it comes; with a cap, at most that many one by one in a rolling hour, the rest
    /// folded into one summary an hour.
    Instant {
        /// `max_per_hour`.
        cap: Option<u32>,
    },
    /// Held, and sent together when the schedule comes round (`max_per_hour` does not apply:
    /// the digest is the fold).
    Digest(Cadence),
}

impl Notifier {
    /// Builds a notifier from its config, sending from `origin`.
    pub fn new(cfg: &NotifierConfig, origin: &Origin) -> Result<Notifier, SetupError> {
        let channel = match &cfg.kind {
            NotifierKind::Email(e) => Channel::Email(EmailNotifier::new(
                &cfg.name,
                e,
                cfg.timeout,
                origin.clone(),
            )?),
            NotifierKind::Webhook(w) => {
                Channel::Webhook(WebhookNotifier::new(&cfg.name, w, cfg.timeout)?)
            }
            NotifierKind::Stdout(f) => Channel::Stdout(StdoutNotifier::new(&cfg.name, *f)),
            NotifierKind::Chat(c) => {
                let view = View {
                    tz: origin.timezone,
                };
                Channel::Chat(ChatNotifier::new(&cfg.name, c, cfg.timeout, view)?)
            }
        };
        let pace = match &cfg.digest {
            Some(cadence) => Pace::Digest(cadence.clone()),
            None => Pace::Instant {
                cap: cfg.max_per_hour,
            },
        };
        Ok(Notifier { channel, pace })
    }

    /// Sends one message, within the notifier's timeout.
    pub async fn send(&self, message: &Message<'_>) -> Result<(), DeliveryError> {
        match (&self.channel, message) {
            (Channel::Email(n), Message::Alert(alert)) => n.send(alert).await,
            (Channel::Email(n), Message::Batch(batch)) => n.send_batch(batch).await,
            (Channel::Webhook(n), _) => n.send(message).await,
            (Channel::Stdout(n), _) => n.send(message),
            (Channel::Chat(n), _) => n.send(message).await,
        }
    }

    /// Exactly what [`send`](Self::send) would send for `message`, without sending it: the
    /// MIME message of an email, the body of a webhook or chat message, the lines stdout prints.
    pub fn preview(&self, message: &Message<'_>) -> Result<String, DeliveryError> {
        Ok(match &self.channel {
            Channel::Email(n) => n.preview(message)?,
            Channel::Webhook(n) => n.preview(message),
            Channel::Stdout(n) => n.render(message),
            Channel::Chat(n) => n.request(message).preview(),
        })
    }
}

/// Builds every configured notifier.
pub fn build_all(config: &Config) -> Result<BTreeMap<NotifierName, Notifier>, SetupError> {
    let origin = Origin::of(config);
    config
        .notifiers
        .iter()
        .map(|(name, cfg)| Ok((name.clone(), Notifier::new(cfg, &origin)?)))
        .collect()
}

/// What one drain of the outbox did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Deliveries sent.
    pub sent: usize,
    /// Attempts that failed and will be retried.
    pub retrying: usize,
    /// Deliveries given up.
    pub given_up: usize,
}

/// Drains due deliveries from the outbox through the notifiers.
pub struct Dispatcher {
    store: SharedStore,
    notifiers: BTreeMap<NotifierName, Notifier>,
    clock: SharedClock,
    /// Cancelled at shutdown: the send in hand finishes, no new one starts.
    stop: CancellationToken,
    /// Deliveries sent whose record as sent could not be written (the disk is full, say), with
    /// when and how they were sent. Still pending in the store, so they must never be sent
    /// again: the records are written before anything else is sent.
    unrecorded: Mutex<HashMap<DeliveryId, (DateTime<Utc>, SentAs)>>,
    /// Whether the holds an earlier process decided were lifted, to be decided again under
    /// this config.
    holds_released: AtomicBool,
}

impl Dispatcher {
    /// A dispatcher over these notifiers.
    pub fn new(
        store: SharedStore,
        notifiers: BTreeMap<NotifierName, Notifier>,
        clock: SharedClock,
        stop: CancellationToken,
    ) -> Dispatcher {
        Dispatcher {
            store,
            notifiers,
            clock,
            stop,
            unrecorded: Mutex::default(),
            holds_released: AtomicBool::new(false),
        }
    }

    /// How many sent alerts are not yet recorded as sent: a process that ends now sends them
    /// again after its next start.
    pub fn unrecorded_sends(&self) -> usize {
        self.unrecorded().len()
    }

    fn unrecorded(&self) -> MutexGuard<'_, HashMap<DeliveryId, (DateTime<Utc>, SentAs)>> {
        self.unrecorded.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether sending must stop: at shutdown, or while a send is not recorded (the store
    /// cannot write, and each send it cannot record would be sent again after a restart).
    fn halted(&self) -> bool {
        self.stop.is_cancelled() || !self.unrecorded().is_empty()
    }

    /// Sends every delivery due now; failed ones are rescheduled, not retried in this call.
    ///
    /// Notifiers are drained side by side, so a mail server that hangs until its timeout never
    /// holds back the webhook; within one notifier, alerts go out oldest first. Sends that could
    /// not be recorded are recorded first; until they are, nothing is sent. Every store error is
    /// logged where it happens, saying what could not be read or written.
    pub async fn drain(&self) -> Result<DrainReport, StoreError> {
        self.record_earlier_sends().await?;
        if !self.holds_released.load(Ordering::SeqCst) {
            let released = logged(
                self.store.release_holds().await,
                "cannot lift the holds of digests and hourly caps",
            )?;
            self.holds_released.store(true, Ordering::SeqCst);
            if released > 0 {
                info!(
                    deliveries = released,
                    "held deliveries are decided again under this config"
                );
            }
        }
        let started = self.clock.now();
        let notifiers = logged(
            self.store.due_notifiers(started).await,
            "cannot read the outbox",
        )?;
        let results = futures_util::future::join_all(
            notifiers
                .into_iter()
                .map(|n| self.drain_notifier(n, started)),
        )
        .await;
        let mut report = DrainReport::default();
        for r in results {
            let r = r?;
            report.sent += r.sent;
            report.retrying += r.retrying;
            report.given_up += r.given_up;
        }
        Ok(report)
    }

    async fn drain_notifier(
        &self,
        notifier: NotifierName,
        started: DateTime<Utc>,
    ) -> Result<DrainReport, StoreError> {
        let mut report = DrainReport::default();
        let mut streak = RejectionStreak::default();
        // A notifier since removed from the config sends one by one, and fails, kept pending.
        let pace = self
            .notifiers
            .get(&notifier)
            .map_or(Pace::Instant { cap: None }, |n| n.pace.clone());
        let limit = match pace {
            Pace::Instant { cap: None } => BATCH,
            Pace::Instant { cap: Some(_) } | Pace::Digest(_) => MAX_BATCH_ALERTS,
        };
        // Each round sends, postpones or holds every delivery it read, so none is read twice.
        loop {
            let due = logged(
                self.store.due_deliveries(&notifier, started, limit).await,
                "cannot read the outbox",
            )?;
            if due.is_empty() || self.halted() {
                return Ok(report);
            }
            let now = self.clock.now();
            let go_on = match &pace {
                Pace::Digest(cadence) => {
                    self.drain_digest(&notifier, cadence, due, now, &mut report)
                        .await?
                }
                Pace::Instant { cap } => {
                    let window = match cap {
                        Some(_) => logged(
                            self.store.sent_window(&notifier, now - HOUR).await,
                            "cannot read what the notifier sent in the last hour",
                        )?,
                        None => SentWindow::default(),
                    };
                    let plan = plan_flood(*cap, &window, due.len(), now);
                    self.follow(&notifier, plan, due, &mut streak, &mut report)
                        .await?
                }
            };
            if !go_on {
                return Ok(report);
            }
        }
    }

    /// Sends a digest of the due deliveries a digest time released, and holds the others until
    /// theirs; false when the notifier must wait.
    async fn drain_digest(
        &self,
        notifier: &NotifierName,
        cadence: &Cadence,
        due: Vec<DueDelivery>,
        now: DateTime<Utc>,
        report: &mut DrainReport,
    ) -> Result<bool, StoreError> {
        let mut released = Vec::new();
        let mut held: BTreeMap<DateTime<Utc>, Vec<DeliveryId>> = BTreeMap::new();
        // Alerts of one poll share their creation time: one schedule look-up for them all.
        let mut last: Option<(DateTime<Utc>, Option<DateTime<Utc>>)> = None;
        for d in due {
            let until = match last {
                Some((created, until)) if created == d.created_at => until,
                _ => digest_release(cadence, d.created_at, now),
            };
            last = Some((d.created_at, until));
            match until {
                Some(until) => held.entry(until).or_default().push(d.id),
                None => released.push(d),
            }
        }
        for (until, ids) in held {
            logged(
                self.store.hold(&ids, until).await,
                "cannot hold deliveries for the digest",
            )?;
        }
        if released.is_empty() {
            return Ok(true);
        }
        self.send_batch(notifier, BatchKind::Digest, released, report)
            .await
    }

    /// Carries out a plan for a capped (or uncapped) notifier's due deliveries, oldest first;
    /// false when the notifier must wait.
    async fn follow(
        &self,
        notifier: &NotifierName,
        plan: FloodPlan,
        mut due: Vec<DueDelivery>,
        streak: &mut RejectionStreak,
        report: &mut DrainReport,
    ) -> Result<bool, StoreError> {
        let mut rest = due.split_off(plan.singles.min(due.len()));
        let held = rest.split_off(plan.summary.min(rest.len()));
        for delivery in due {
            if self.halted() {
                return Ok(false);
            }
            if !self
                .send_single(notifier, &delivery, streak, report)
                .await?
            {
                return Ok(false);
            }
        }
        if !rest.is_empty() {
            if self.halted() {
                return Ok(false);
            }
            info!(notifier = %notifier, alerts = rest.len(), "max_per_hour reached: the alerts beyond it go in one summary");
            if !self
                .send_batch(notifier, BatchKind::Summary, rest, report)
                .await?
            {
                return Ok(false);
            }
        }
        if let (Some(until), false) = (plan.hold_until, held.is_empty()) {
            let ids: Vec<DeliveryId> = held.iter().map(|d| d.id).collect();
            logged(
                self.store.hold(&ids, until).await,
                "cannot hold deliveries beyond max_per_hour",
            )?;
            info!(notifier = %notifier, alerts = ids.len(), until = %until, "max_per_hour reached: alerts wait for the window");
        }
        Ok(true)
    }

    /// Sends one delivery as a message of its own and records what became of it; false when
    /// the notifier is failing and its other alerts wait.
    async fn send_single(
        &self,
        notifier: &NotifierName,
        delivery: &DueDelivery,
        streak: &mut RejectionStreak,
        report: &mut DrainReport,
    ) -> Result<bool, StoreError> {
        let result = match read_alert(delivery) {
            Ok(alert) => self.send(notifier, &Message::Alert(&alert)).await,
            Err(e) => Err(e),
        };
        let now = self.clock.now();
        let verdict = judge(result.as_ref().err(), delivery, streak, now);
        let rejected = result
            .as_ref()
            .is_err_and(|e| e.kind == DeliveryErrorKind::Reject);
        if rejected && matches!(verdict, Verdict::Failing { retry_at: Some(_) }) {
            warn!(notifier = %notifier, "{RECEIVER_FAULT_STREAK} alerts in a row were rejected the same way: taken as the receiver's fault, so its alerts wait for the retry");
        }
        self.record(delivery, result.err(), verdict, report).await?;
        match verdict {
            Verdict::Failing { retry_at: Some(at) } => {
                // Its other alerts wait for the same retry rather than each spending a
                // timeout on a server that is down.
                logged(
                    self.store.postpone_notifier(notifier, at).await,
                    "cannot postpone a failing notifier's deliveries",
                )?;
                Ok(false)
            }
            // Sent, rejected or given up: the next alert goes at once.
            Verdict::Sent | Verdict::Failing { retry_at: None } | Verdict::Rejected { .. } => {
                Ok(true)
            }
        }
    }

    /// Sends deliveries as one message of `kind` and records them all at once; false when the
    /// notifier is failing and its other alerts wait. A stored alert that cannot be read is
    /// given up on its own, and the others go without it.
    async fn send_batch(
        &self,
        notifier: &NotifierName,
        kind: BatchKind,
        deliveries: Vec<DueDelivery>,
        report: &mut DrainReport,
    ) -> Result<bool, StoreError> {
        let mut alerts = Vec::with_capacity(deliveries.len());
        let mut carried = Vec::with_capacity(deliveries.len());
        for d in deliveries {
            match read_alert(&d) {
                Ok(alert) => {
                    alerts.push(alert);
                    carried.push(d);
                }
                Err(e) => {
                    report.given_up += 1;
                    warn!(notifier = %notifier, error = %Escaped(&e.message), "delivery failed; giving up on this alert");
                    logged(
                        self.store.mark_attempt_failed(d.id, &e.message, None).await,
                        "cannot record a failed delivery attempt",
                    )?;
                }
            }
        }
        if carried.is_empty() {
            return Ok(true);
        }
        let batch = Batch {
            kind,
            alerts: &alerts,
        };
        let result = self.send(notifier, &Message::Batch(batch)).await;
        let now = self.clock.now();
        let ids: Vec<DeliveryId> = carried.iter().map(|d| d.id).collect();
        let error = match result {
            Ok(()) => {
                let sent_as = match kind {
                    BatchKind::Digest => SentAs::Digest,
                    BatchKind::Summary => SentAs::Summary,
                };
                report.sent += ids.len();
                let recorded = self.store.mark_sent(&ids, sent_as, now).await;
                if let Err(e) = &recorded {
                    self.unrecorded()
                        .extend(ids.iter().map(|id| (*id, (now, sent_as))));
                    error!(notifier = %notifier, alerts = ids.len(), error = %e, "{} sent, but cannot record it as sent; it is not sent again, and nothing more is sent until the record is written", batch.heading());
                }
                return recorded.map(|()| true);
            }
            Err(error) => error,
        };
        let failed: Vec<(DeliveryId, Option<DateTime<Utc>>)> = carried
            .iter()
            .map(|d| (d.id, batch_retry(&error, d, now)))
            .collect();
        let retrying = failed.iter().filter(|(_, at)| at.is_some()).count();
        report.retrying += retrying;
        report.given_up += failed.len() - retrying;
        warn!(notifier = %notifier, alerts = failed.len(), given_up = failed.len() - retrying, error = %Escaped(&error.message), "{} failed; its alerts are retried together", batch.heading());
        logged(
            self.store.mark_batch_failed(&failed, &error.message).await,
            "cannot record a failed delivery attempt",
        )?;
        let failing = error.kind != DeliveryErrorKind::Unreadable;
        match failed.iter().filter_map(|(_, at)| *at).min() {
            Some(at) if failing => {
                logged(
                    self.store.postpone_notifier(notifier, at).await,
                    "cannot postpone a failing notifier's deliveries",
                )?;
                Ok(false)
            }
            _ => Ok(true),
        }
    }

    /// Keeps trying, until `deadline`, to write the records of sends that could not be recorded
    /// when they happened (a process about to exit forgets them); returns how many are still
    /// unrecorded.
    pub async fn settle(&self, deadline: tokio::time::Instant) -> usize {
        let mut wait = Duration::from_millis(100);
        while self.unrecorded_sends() > 0 && self.record_earlier_sends().await.is_err() {
            if tokio::time::Instant::now() + wait > deadline {
                break;
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(1));
        }
        self.unrecorded_sends()
    }

    /// Writes the records of sends that could not be recorded when they happened.
    async fn record_earlier_sends(&self) -> Result<(), StoreError> {
        let unrecorded: Vec<(DeliveryId, (DateTime<Utc>, SentAs))> = self
            .unrecorded()
            .iter()
            .map(|(id, how)| (*id, *how))
            .collect();
        for (id, (sent_at, sent_as)) in unrecorded {
            logged(
                self.store.mark_sent(&[id], sent_as, sent_at).await,
                "still cannot record an alert as sent; nothing more is sent until it is",
            )?;
            self.unrecorded().remove(&id);
            info!(delivery = id.0, "recorded an earlier send");
        }
        Ok(())
    }

    /// How long until the next pending delivery is due, if any is pending.
    pub async fn until_next_due(&self) -> Result<Option<Duration>, StoreError> {
        let next = logged(
            self.store.next_delivery_at().await,
            "cannot read the outbox",
        )?;
        let now = self.clock.now();
        Ok(next.map(|t| (t - now).to_std().unwrap_or_default()))
    }

    /// Sends one message through `notifier`.
    async fn send(
        &self,
        notifier: &NotifierName,
        message: &Message<'_>,
    ) -> Result<(), DeliveryError> {
        let Some(n) = self.notifiers.get(notifier) else {
            // Kept pending, not dropped: a renamed notifier may come back in the config.
            return Err(DeliveryError {
                kind: DeliveryErrorKind::ReceiverFault,
                message: format!(
                    "notifier {:?} is not in the config; kept pending",
                    notifier.0
                ),
                code: None,
                retry_after: None,
            });
        };
        n.send(message).await
    }

    /// Records what became of one delivery.
    async fn record(
        &self,
        d: &DueDelivery,
        error: Option<DeliveryError>,
        verdict: Verdict,
        report: &mut DrainReport,
    ) -> Result<(), StoreError> {
        let (Some(error), Verdict::Rejected { retry_at } | Verdict::Failing { retry_at }) =
            (error, verdict)
        else {
            report.sent += 1;
            let sent_at = self.clock.now();
            let recorded = self.store.mark_sent(&[d.id], SentAs::Single, sent_at).await;
            if let Err(e) = &recorded {
                // Kept, so the alert is not sent again while the record waits for the store.
                self.unrecorded().insert(d.id, (sent_at, SentAs::Single));
                error!(notifier = %d.notifier, delivery = d.id.0, error = %e, "alert sent, but cannot record it as sent; it is not sent again, and nothing more is sent until the record is written");
            }
            return recorded;
        };
        match retry_at {
            Some(at) => {
                report.retrying += 1;
                warn!(notifier = %d.notifier, attempts = d.attempts + 1, retry_at = %at, error = %Escaped(&error.message), "delivery failed; will retry");
            }
            None => {
                report.given_up += 1;
                warn!(notifier = %d.notifier, error = %Escaped(&error.message), kind = ?error.kind, "delivery failed; giving up on this alert");
            }
        }
        logged(
            self.store
                .mark_attempt_failed(d.id, &error.message, retry_at)
                .await,
            "cannot record a failed delivery attempt",
        )
    }
}

/// The stored alert a delivery carries.
fn read_alert(d: &DueDelivery) -> Result<Alert, DeliveryError> {
    Alert::from_payload(&d.payload).map_err(|e| DeliveryError {
        kind: DeliveryErrorKind::Unreadable,
        message: format!("stored alert is unreadable: {e}"),
        code: None,
        retry_after: None,
    })
}

/// What to do with a capped notifier's due deliveries now, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FloodPlan {
    /// The first this many go one by one.
    singles: usize,
    /// The next this many are folded into one summary.
    summary: usize,
    /// The rest are held until then; `None` when there is no rest.
    hold_until: Option<DateTime<Utc>>,
}

/// Plans `due` deliveries under an hourly `cap`, given what the notifier sent in the last hour:
/// singles while the rolling hour has room for them, the rest in one summary unless one went
/// out within the hour, and what is left held until the window has room for a single or a
/// summary. So any hour sees at most `cap` singles and one summary.
fn plan_flood(cap: Option<u32>, window: &SentWindow, due: usize, now: DateTime<Utc>) -> FloodPlan {
    let Some(cap) = cap else {
        return FloodPlan {
            singles: due,
            summary: 0,
            hold_until: None,
        };
    };
    let cap = cap as usize;
    let singles = cap.saturating_sub(window.singles.len()).min(due);
    let rest = due - singles;
    if rest == 0 {
        return FloodPlan {
            singles,
            summary: 0,
            hold_until: None,
        };
    }
    // With this round's singles the hour is full: a single fits again once the oldest of the
    // last `cap` singles is an hour old.
    let sent = window.singles.len() + singles;
    let single_slot = window
        .singles
        .get(sent.saturating_sub(cap))
        .map_or(now + HOUR, |t| *t + HOUR);
    let (summary, next_summary) = match window.last_summary {
        Some(t) if t + HOUR > now => (0, t + HOUR),
        _ => (rest.min(MAX_BATCH_ALERTS), now + HOUR),
    };
    FloodPlan {
        singles,
        summary,
        hold_until: (rest > summary).then(|| {
            // Never now or earlier, or the drain would read the same deliveries again.
            single_slot
                .min(next_summary)
                .max(now + chrono::Duration::seconds(1))
        }),
    }
}

/// Until when a digest notifier holds an alert created at `created`: the first digest time
/// after it, or `None` once that has passed.
fn digest_release(
    cadence: &Cadence,
    created: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let fire = cadence.next_regular(created, 0.0);
    (fire > now).then_some(fire)
}

/// When to retry a delivery whose batch failed with `error`, or `None` to give it up. A
/// refused batch is not taken as the fault of each alert in it (a wrong chat id refuses a
/// digest of hundreds the same way): its alerts back off as for passing trouble, and are given
/// up only when they are too old.
fn batch_retry(
    error: &DeliveryError,
    d: &DueDelivery,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    match error.kind {
        DeliveryErrorKind::Unreadable => None,
        DeliveryErrorKind::Reject | DeliveryErrorKind::Retry | DeliveryErrorKind::ReceiverFault => {
            retry_time(d, now, error.retry_after)
        }
    }
}

/// Logs a store error with what could not be read or written, and passes it on.
fn logged<T>(result: Result<T, StoreError>, what: &str) -> Result<T, StoreError> {
    result.inspect_err(|e| error!(error = %e, "{what}"))
}

/// What to do after one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Sent.
    Sent,
    /// This alert was rejected: retry it at `retry_at` (or give up), while the notifier's other
    /// alerts go ahead.
    Rejected {
        /// The next try, `None` to give up.
        retry_at: Option<DateTime<Utc>>,
    },
    /// The notifier is failing: this alert and the notifier's others wait until `retry_at`
    /// (or this one is given up, once it is too old).
    Failing {
        /// The next try, `None` to give up.
        retry_at: Option<DateTime<Utc>>,
    },
}

/// Rejections in a row within one drain of a notifier: each of a different alert, since a drain
/// tries each due alert once.
#[derive(Debug, Default)]
struct RejectionStreak {
    /// The receiver's code for the rejections in the streak.
    code: Option<u16>,
    /// How many alerts it rejected that way.
    alerts: u32,
}

impl RejectionStreak {
    /// Counts one more rejection with `code`; true once [`RECEIVER_FAULT_STREAK`] different
    /// alerts in a row were rejected the same way.
    fn blames_receiver(&mut self, code: Option<u16>) -> bool {
        if self.alerts == 0 || self.code != code {
            *self = RejectionStreak { code, alerts: 0 };
        }
        self.alerts += 1;
        self.alerts >= RECEIVER_FAULT_STREAK
    }
}

/// Decides what one attempt's outcome means. A rejected alert is about that alert: it has three
/// tries in all, and the next alert goes at once. Only when several different alerts in a row
/// are rejected the same way is it taken as the receiver's fault (or its config's), so the
/// notifier's alerts wait rather than each using up its tries.
fn judge(
    error: Option<&DeliveryError>,
    d: &DueDelivery,
    streak: &mut RejectionStreak,
    now: DateTime<Utc>,
) -> Verdict {
    let Some(error) = error else {
        *streak = RejectionStreak::default();
        return Verdict::Sent;
    };
    match error.kind {
        // It can never become readable, and says nothing about the receiver.
        DeliveryErrorKind::Unreadable => Verdict::Rejected { retry_at: None },
        DeliveryErrorKind::Reject if !streak.blames_receiver(error.code) => Verdict::Rejected {
            // Further tries half an hour apart, without holding back the others.
            retry_at: (d.attempts + 1 < REJECTED_ATTEMPTS)
                .then(|| now + chrono::Duration::minutes(30)),
        },
        DeliveryErrorKind::Reject | DeliveryErrorKind::Retry | DeliveryErrorKind::ReceiverFault => {
            Verdict::Failing {
                retry_at: retry_time(d, now, error.retry_after),
            }
        }
    }
}

/// When to retry a failed delivery, or `None` to give up: when the receiver `asked` (within
/// [`MIN_ASKED_RETRY`] and [`MAX_RETRY`]), else after a delay doubling per attempt.
fn retry_time(
    d: &DueDelivery,
    now: DateTime<Utc>,
    asked: Option<Duration>,
) -> Option<DateTime<Utc>> {
    let age = (now - d.created_at).to_std().unwrap_or_default();
    if age >= GIVE_UP_AFTER {
        return None;
    }
    let delay = match asked {
        Some(asked) => asked.clamp(MIN_ASKED_RETRY, MAX_RETRY),
        None => FIRST_RETRY
            .saturating_mul(1 << d.attempts.min(16))
            .min(MAX_RETRY),
    };
    Some(now + chrono::Duration::from_std(delay).unwrap_or_default())
}

/// The alert `notify-test` sends.
pub fn test_alert() -> Alert {
    use crate::alert::{AlertFeed, AlertItem, AlertMatch};
    use crate::matcher::Snippet;
    Alert {
        alert_id: crate::model::AlertId::new("test".into()),
        watchlist: "notify-test".into(),
        feed: AlertFeed {
            name: "feedwatch".into(),
            url: "about:feedwatch".into(),
        },
        item: AlertItem {
            guid: "test".into(),
            title: "Test alert from feedwatch".into(),
            link: None,
            published: Some(Utc::now()),
            summary: "If you can read this, feedwatch can deliver alerts here.".into(),
        },
        matches: vec![AlertMatch {
            term: "feedwatch".into(),
            field: crate::model::Field::Title,
            snippet: Snippet {
                text: "Test alert from feedwatch".into(),
                mark_start: 16,
                mark_end: 25,
            },
        }],
        update: false,
    }
}

/// An origin for tests: host `desk-01`, `/etc/feedwatch/config.toml`, Europe/Berlin.
#[cfg(test)]
pub(crate) fn test_origin() -> Origin {
    Origin {
        host: "desk-01".into(),
        config: "/etc/feedwatch/config.toml".into(),
        timezone: chrono_tz::Europe::Berlin,
    }
}

/// `n` copies of [`test_alert`], each with its own id, for tests of batches.
#[cfg(test)]
pub fn test_alerts(n: usize) -> Vec<Alert> {
    (0..n)
        .map(|i| {
            let mut a = test_alert();
            a.alert_id = crate::model::AlertId::new(format!("{i}"));
            a
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_then_cap_then_give_up() {
        let now = Utc::now();
        let wait = |attempts| {
            (retry_time(&delivery(attempts, 0, now), now, None).unwrap() - now).num_seconds()
        };
        assert_eq!(wait(0), 30);
        assert_eq!(wait(1), 60);
        assert_eq!(wait(10), MAX_RETRY.as_secs() as i64);
        assert_eq!(retry_time(&delivery(3, 80, now), now, None), None);
    }

    #[test]
    fn a_receiver_says_when_to_retry_within_bounds() {
        let now = Utc::now();
        let wait = |attempts, secs| {
            let asked = Some(Duration::from_secs(secs));
            (retry_time(&delivery(attempts, 0, now), now, asked).unwrap() - now).num_seconds()
        };
        assert_eq!(wait(0, 40), 40, "later than the first backoff");
        assert_eq!(wait(6, 40), 40, "sooner than the backoff by now");
        assert_eq!(wait(0, 0), 1, "never at once");
        assert_eq!(wait(0, 86_400), MAX_RETRY.as_secs() as i64, "capped");
        let old = delivery(0, 80, now);
        assert_eq!(retry_time(&old, now, Some(Duration::from_secs(40))), None);
    }

    fn delivery(attempts: u32, age_h: i64, now: DateTime<Utc>) -> DueDelivery {
        DueDelivery {
            id: crate::store::DeliveryId(1),
            notifier: NotifierName("n".into()),
            attempts,
            created_at: now - chrono::Duration::hours(age_h),
            payload: String::new(),
        }
    }

    fn error(kind: DeliveryErrorKind, code: u16) -> DeliveryError {
        DeliveryError {
            kind,
            message: "x".into(),
            code: Some(code),
            retry_after: None,
        }
    }

    #[test]
    fn a_rejection_is_about_the_alert_and_three_tries_are_all_it_gets() {
        let now = Utc::now();
        let reject = error(DeliveryErrorKind::Reject, 422);
        let half_hour = Some(now + chrono::Duration::minutes(30));
        let fresh = || RejectionStreak::default();
        assert_eq!(
            judge(None, &delivery(0, 0, now), &mut fresh(), now),
            Verdict::Sent
        );
        assert_eq!(
            judge(Some(&reject), &delivery(0, 0, now), &mut fresh(), now),
            Verdict::Rejected {
                retry_at: half_hour
            }
        );
        assert_eq!(
            judge(Some(&reject), &delivery(2, 0, now), &mut fresh(), now),
            Verdict::Rejected { retry_at: None },
            "the third try is the last"
        );
        let backoff = Verdict::Failing {
            retry_at: Some(now + chrono::Duration::seconds(30)),
        };
        for kind in [DeliveryErrorKind::Retry, DeliveryErrorKind::ReceiverFault] {
            assert_eq!(
                judge(
                    Some(&error(kind, 503)),
                    &delivery(0, 0, now),
                    &mut fresh(),
                    now
                ),
                backoff
            );
        }
    }

    #[test]
    fn only_three_alerts_in_a_row_rejected_alike_blame_the_receiver() {
        let now = Utc::now();
        let d = delivery(0, 0, now);
        let half_hour = Verdict::Rejected {
            retry_at: Some(now + chrono::Duration::minutes(30)),
        };
        let backoff = Verdict::Failing {
            retry_at: Some(now + chrono::Duration::seconds(30)),
        };
        let mut streak = RejectionStreak::default();
        let mut judge_code = |code| {
            let e = error(DeliveryErrorKind::Reject, code);
            judge(Some(&e), &d, &mut streak, now)
        };
        assert_eq!(judge_code(422), half_hour);
        assert_eq!(
            judge_code(422),
            half_hour,
            "two in a row are still the alerts'"
        );
        assert_eq!(judge_code(400), half_hour, "a different answer starts anew");
        assert_eq!(judge_code(400), half_hour);
        assert_eq!(judge_code(400), backoff, "three alike are the receiver's");

        let mut streak = RejectionStreak::default();
        let reject = error(DeliveryErrorKind::Reject, 422);
        judge(Some(&reject), &d, &mut streak, now);
        judge(Some(&reject), &d, &mut streak, now);
        assert_eq!(judge(None, &d, &mut streak, now), Verdict::Sent);
        assert_eq!(
            judge(Some(&reject), &d, &mut streak, now),
            half_hour,
            "a success ends the streak"
        );
    }

    #[test]
    fn an_unreadable_alert_is_given_up_at_once_and_blames_nobody() {
        let now = Utc::now();
        let d = delivery(0, 0, now);
        let unreadable = DeliveryError {
            kind: DeliveryErrorKind::Unreadable,
            message: "x".into(),
            code: None,
            retry_after: None,
        };
        let mut streak = RejectionStreak::default();
        let reject = error(DeliveryErrorKind::Reject, 422);
        judge(Some(&reject), &d, &mut streak, now);
        judge(Some(&reject), &d, &mut streak, now);
        assert_eq!(
            judge(Some(&unreadable), &d, &mut streak, now),
            Verdict::Rejected { retry_at: None }
        );
        assert_eq!(streak.alerts, 2, "not counted as a rejection");
    }

    fn minutes_ago(now: DateTime<Utc>, m: &[i64]) -> Vec<DateTime<Utc>> {
        m.iter()
            .map(|m| now - chrono::Duration::minutes(*m))
            .collect()
    }

    #[test]
    fn without_a_cap_everything_goes_one_by_one() {
        let now = Utc::now();
        let plan = plan_flood(None, &SentWindow::default(), 500, now);
        assert_eq!(
            plan,
            FloodPlan {
                singles: 500,
                summary: 0,
                hold_until: None
            }
        );
    }

    #[test]
    fn a_burst_beyond_the_cap_gives_the_cap_in_singles_and_one_summary() {
        let now = Utc::now();
        let plan = plan_flood(Some(5), &SentWindow::default(), 50, now);
        assert_eq!(
            plan,
            FloodPlan {
                singles: 5,
                summary: 45,
                hold_until: None
            }
        );
        let quiet = plan_flood(Some(5), &SentWindow::default(), 3, now);
        assert_eq!(quiet.singles, 3);
        assert_eq!((quiet.summary, quiet.hold_until), (0, None));
    }

    #[test]
    fn after_a_summary_the_rest_waits_for_a_single_slot_or_the_next_summary() {
        let now = Utc::now();
        // Five singles 50, 40 … 10 minutes ago and a summary 30 minutes ago: the hour is full.
        let window = SentWindow {
            singles: minutes_ago(now, &[50, 40, 30, 20, 10]),
            last_summary: Some(now - chrono::Duration::minutes(30)),
        };
        let plan = plan_flood(Some(5), &window, 7, now);
        assert_eq!(
            plan,
            FloodPlan {
                singles: 0,
                summary: 0,
                hold_until: Some(now + chrono::Duration::minutes(10)),
            },
            "the single of 50 minutes ago leaves the hour first"
        );
        // Three singles left room for two; the summary is 55 minutes old.
        let window = SentWindow {
            singles: minutes_ago(now, &[30, 20, 10]),
            last_summary: Some(now - chrono::Duration::minutes(55)),
        };
        let plan = plan_flood(Some(5), &window, 7, now);
        assert_eq!(
            plan,
            FloodPlan {
                singles: 2,
                summary: 0,
                hold_until: Some(now + chrono::Duration::minutes(5)),
            },
            "the next summary is due before a single fits again"
        );
    }

    #[test]
    fn an_hour_without_a_summary_folds_the_rest_and_caps_its_size() {
        let now = Utc::now();
        let window = SentWindow {
            singles: minutes_ago(now, &[59, 58, 57, 56, 55]),
            last_summary: Some(now - chrono::Duration::minutes(61)),
        };
        let plan = plan_flood(Some(5), &window, 10_000, now);
        assert_eq!(plan.singles, 0);
        assert_eq!(plan.summary, MAX_BATCH_ALERTS);
        assert_eq!(
            plan.hold_until,
            Some(now + chrono::Duration::minutes(1)),
            "the rest waits for the single of 59 minutes ago to leave the hour"
        );
        // A cap lowered below what the hour already sent: still nothing one by one.
        let plan = plan_flood(Some(2), &window, 3, now);
        assert_eq!((plan.singles, plan.summary, plan.hold_until), (0, 3, None));
    }

    #[test]
    fn a_digest_holds_an_alert_until_the_first_digest_time_after_it() {
        let tz: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
        let cadence = Cadence::cron("0 8 * * 1-5", tz).unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        // Friday evening in Berlin: held until Monday 08:00 (07:00 UTC in winter).
        let created = at("2026-12-04T18:00:00Z");
        assert_eq!(
            digest_release(&cadence, created, at("2026-12-05T12:00:00Z")),
            Some(at("2026-12-07T07:00:00Z"))
        );
        assert_eq!(
            digest_release(&cadence, created, at("2026-12-07T07:00:00Z")),
            None,
            "released at the digest time"
        );
        assert_eq!(
            digest_release(&cadence, created, at("2026-12-09T10:00:00Z")),
            None,
            "a digest time missed while stopped has passed all the same"
        );
    }

    #[test]
    fn a_failed_batch_retries_each_alert_by_the_usual_rules() {
        let now = Utc::now();
        let down = error(DeliveryErrorKind::Retry, 503);
        assert_eq!(
            batch_retry(&down, &delivery(0, 0, now), now),
            Some(now + chrono::Duration::seconds(30))
        );
        assert_eq!(batch_retry(&down, &delivery(0, 80, now), now), None);
        let refused = error(DeliveryErrorKind::Reject, 400);
        assert_eq!(
            batch_retry(&refused, &delivery(2, 0, now), now),
            Some(now + chrono::Duration::seconds(120)),
            "a refused batch is not three strikes for each alert in it"
        );
        assert_eq!(batch_retry(&refused, &delivery(2, 80, now), now), None);
    }

    #[test]
    fn test_alert_marks_its_term() {
        assert_eq!(
            test_alert().matches[0].snippet.marked_text(),
            "Test alert from **feedwatch**"
        );
    }
}
