//! Notifiers and the dispatcher that drains the outbox through them.
//!
//! Owns delivery: every notifier has the same shape (`send` one alert, bounded by its timeout),
//! and the [`Dispatcher`] marks each delivery sent, or failed with its error and a retry time.
//! Must never hold a database transaction while sending, and never drop a delivery silently: a
//! delivery is pending until it is sent or has failed for longer than [`GIVE_UP_AFTER`].

mod email;
mod stdout;
mod webhook;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::alert::Alert;
use crate::config::{Config, NotifierConfig, NotifierKind, NotifierName};
use crate::store::{DueDelivery, Store, StoreError};

pub use email::EmailNotifier;
pub use stdout::StdoutNotifier;
pub use webhook::{WebhookNotifier, WebhookPayload};

/// A delivery still failing after this long is given up (and shown as failed by `alerts`).
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(3 * 24 * 3600);
/// First retry delay; doubles per attempt.
const FIRST_RETRY: Duration = Duration::from_secs(30);
/// Longest delay between two attempts, so a server back after an outage gets mail soon.
const MAX_RETRY: Duration = Duration::from_secs(30 * 60);
/// Attempts an alert that the receiver rejects gets before it is given up.
const REJECTED_ATTEMPTS: u32 = 3;
/// Deliveries read per batch.
const BATCH: usize = 64;

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// Building or sending the email failed.
    #[error("email {notifier}: {message}")]
    Email {
        /// Notifier name.
        notifier: String,
        /// What went wrong and what to check.
        message: String,
        /// Whether this alert can never be delivered this way (retrying cannot help).
        permanent: bool,
    },
    /// The webhook call failed.
    #[error("webhook {notifier}: {message}")]
    Webhook {
        /// Notifier name.
        notifier: String,
        /// What went wrong.
        message: String,
        /// Whether this alert can never be delivered this way (retrying cannot help).
        permanent: bool,
    },
    /// Writing to stdout failed.
    #[error("stdout {notifier}: {message}")]
    Stdout {
        /// Notifier name.
        notifier: String,
        /// What went wrong.
        message: String,
    },
    /// The send did not finish in time.
    #[error("{kind} {notifier}: no answer within {}; will retry", humantime::format_duration(*timeout))]
    Timeout {
        /// Notifier type.
        kind: &'static str,
        /// Notifier name.
        notifier: String,
        /// The limit.
        timeout: Duration,
    },
}

impl NotifyError {
    /// Whether the failure is about this alert itself (rejected content), so retrying it is
    /// pointless. Server trouble, timeouts and misconfiguration (bad password, wrong URL) are
    /// not: once fixed, the alert still goes out.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            NotifyError::Email {
                permanent: true,
                ..
            } | NotifyError::Webhook {
                permanent: true,
                ..
            }
        )
    }
}

/// One configured notifier, ready to send.
pub enum Notifier {
    /// SMTP email.
    Email(EmailNotifier),
    /// JSON POST.
    Webhook(WebhookNotifier),
    /// Standard output.
    Stdout(StdoutNotifier),
}

impl Notifier {
    /// Builds a notifier from its config.
    pub fn new(cfg: &NotifierConfig) -> Result<Notifier, NotifyError> {
        Ok(match &cfg.kind {
            NotifierKind::Email(e) => {
                Notifier::Email(EmailNotifier::new(&cfg.name, e, cfg.timeout)?)
            }
            NotifierKind::Webhook(w) => {
                Notifier::Webhook(WebhookNotifier::new(&cfg.name, w, cfg.timeout)?)
            }
            NotifierKind::Stdout(f) => Notifier::Stdout(StdoutNotifier::new(&cfg.name, *f)),
        })
    }

    /// Sends one alert, within the notifier's timeout.
    pub async fn send(&self, alert: &Alert) -> Result<(), NotifyError> {
        match self {
            Notifier::Email(n) => n.send(alert).await,
            Notifier::Webhook(n) => n.send(alert).await,
            Notifier::Stdout(n) => n.send(alert),
        }
    }
}

/// Builds every configured notifier.
pub fn build_all(config: &Config) -> Result<BTreeMap<NotifierName, Notifier>, NotifyError> {
    config
        .notifiers
        .iter()
        .map(|(name, cfg)| Ok((name.clone(), Notifier::new(cfg)?)))
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
    store: Store,
    notifiers: BTreeMap<NotifierName, Notifier>,
    /// Cancelled at shutdown: the send in hand finishes, no new one starts.
    stop: CancellationToken,
}

impl Dispatcher {
    /// A dispatcher over these notifiers.
    pub fn new(
        store: Store,
        notifiers: BTreeMap<NotifierName, Notifier>,
        stop: CancellationToken,
    ) -> Dispatcher {
        Dispatcher {
            store,
            notifiers,
            stop,
        }
    }

    /// Sends every delivery due now; failed ones are rescheduled, not retried in this call.
    ///
    /// Notifiers are drained side by side, so a mail server that hangs until its timeout never
    /// holds back the webhook; within one notifier, alerts go out oldest first.
    pub async fn drain(&self) -> Result<DrainReport, StoreError> {
        let started = Utc::now();
        let notifiers = self.store.with(move |db| db.due_notifiers(started)).await?;
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
        notifier: String,
        started: DateTime<Utc>,
    ) -> Result<DrainReport, StoreError> {
        let mut report = DrainReport::default();
        loop {
            let name = notifier.clone();
            let due = self
                .store
                .with(move |db| db.due_deliveries(&name, started, BATCH))
                .await?;
            if due.is_empty() {
                return Ok(report);
            }
            let mut rejected_in_a_row = 0;
            for delivery in due {
                if self.stop.is_cancelled() {
                    return Ok(report);
                }
                // One rejected alert is about that alert; several in a row are about the
                // receiver (or its config), and must not use up every alert's attempts.
                let fault = rejected_in_a_row > 0;
                match self.deliver(delivery, fault, &mut report).await? {
                    Delivered::Sent => rejected_in_a_row = 0,
                    Delivered::Rejected => rejected_in_a_row += 1,
                    Delivered::Failing(retry_at) => {
                        // Its other alerts wait for the same retry rather than each spending
                        // a timeout on a server that is down.
                        let name = notifier.clone();
                        self.store
                            .with(move |db| db.postpone_notifier(&name, retry_at))
                            .await?;
                        return Ok(report);
                    }
                }
            }
        }
    }

    /// When the next pending delivery is due, if any.
    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.store.with(|db| db.next_delivery_at()).await
    }

    /// Sends one delivery and records the outcome. `fault`: treat a rejection as the
    /// receiver's fault (retry with the others) rather than this alert's.
    async fn deliver(
        &self,
        d: DueDelivery,
        fault: bool,
        report: &mut DrainReport,
    ) -> Result<Delivered, StoreError> {
        // (message, permanent)
        let result = match (
            self.notifiers.get(&NotifierName(d.notifier.clone())),
            Alert::from_payload(&d.payload),
        ) {
            // Kept pending, not dropped: a renamed notifier may come back in the config.
            (None, _) => Err((
                format!(
                    "notifier {:?} is not in the config; kept pending",
                    d.notifier
                ),
                false,
            )),
            (_, Err(e)) => Err((format!("stored alert is unreadable: {e}"), true)),
            (Some(n), Ok(alert)) => n
                .send(&alert)
                .await
                .map_err(|e| (e.to_string(), e.is_permanent())),
        };
        let now = Utc::now();
        match result {
            Ok(()) => {
                report.sent += 1;
                self.store.with(move |db| db.mark_sent(d.id, now)).await?;
                Ok(Delivered::Sent)
            }
            Err((error, permanent)) => {
                let rejected = permanent && !fault;
                let retry_at = if rejected {
                    // A rejected alert gets a few more chances, half an hour apart, without
                    // holding back the others.
                    (d.attempts + 1 < REJECTED_ATTEMPTS)
                        .then(|| now + chrono::Duration::minutes(30))
                } else {
                    retry_time(&d, now)
                };
                match retry_at {
                    Some(at) => {
                        report.retrying += 1;
                        warn!(notifier = %d.notifier, attempts = d.attempts + 1, retry_at = %at, error = %error, "delivery failed; will retry");
                    }
                    None => {
                        report.given_up += 1;
                        warn!(notifier = %d.notifier, error = %error, permanent, "delivery failed; giving up on this alert");
                    }
                }
                self.store
                    .with(move |db| db.mark_attempt_failed(d.id, &error, retry_at))
                    .await?;
                Ok(match retry_at {
                    Some(at) if !rejected => Delivered::Failing(at),
                    _ => Delivered::Rejected,
                })
            }
        }
    }
}

/// How one delivery went.
enum Delivered {
    /// Sent and recorded.
    Sent,
    /// This alert was rejected (or given up); the notifier itself may be fine.
    Rejected,
    /// The notifier is failing; retry at this time.
    Failing(DateTime<Utc>),
}

/// When to retry a failed delivery, or `None` to give up.
fn retry_time(d: &DueDelivery, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let age = (now - d.created_at).to_std().unwrap_or_default();
    if age >= GIVE_UP_AFTER {
        return None;
    }
    let delay = FIRST_RETRY
        .saturating_mul(1 << d.attempts.min(16))
        .min(MAX_RETRY);
    Some(now + chrono::Duration::from_std(delay).unwrap_or_default())
}

/// The alert `notify-test` sends.
pub fn test_alert() -> Alert {
    use crate::alert::{AlertFeed, AlertItem, AlertMatch};
    use crate::matcher::Snippet;
    Alert {
        alert_id: "test".into(),
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_then_cap_then_give_up() {
        let now = Utc::now();
        let d = |attempts, age_h: i64| DueDelivery {
            id: 1,
            notifier: "n".into(),
            attempts,
            created_at: now - chrono::Duration::hours(age_h),
            payload: String::new(),
        };
        let wait = |attempts| (retry_time(&d(attempts, 0), now).unwrap() - now).num_seconds();
        assert_eq!(wait(0), 30);
        assert_eq!(wait(1), 60);
        assert_eq!(wait(10), MAX_RETRY.as_secs() as i64);
        assert_eq!(retry_time(&d(3, 80), now), None);
    }

    #[test]
    fn test_alert_marks_its_term() {
        assert_eq!(
            test_alert().matches[0].snippet.marked_text(),
            "Test alert from **feedwatch**"
        );
    }
}
