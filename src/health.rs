//! Feed health: when a failing feed counts as broken, and when to tell the admin.
//!
//! Owns the broken/recovered state machine: one notice when a feed has failed for longer than
//! `general.feed_broken_after`, one when it works again (through a 200 or a 304), never one per
//! poll. Must never store or send anything: it decides, from the feed's remembered state and
//! this poll's outcome, which notice (if any) is due.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::PollFailure;
use crate::store::FeedState;

/// A change in a feed's health worth telling the admin about.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedHealth {
    /// Failing for longer than `general.feed_broken_after`.
    Broken {
        /// Start of the failure streak.
        since: DateTime<Utc>,
        /// Failures in a row, this one included.
        failures: u32,
        /// The last error.
        error: String,
    },
    /// Working again after a `Broken` notice.
    Recovered,
}

/// The settings the state machine follows.
#[derive(Debug, Clone, Copy)]
pub struct HealthRules {
    /// How long a feed must fail before it counts as broken.
    pub broken_after: Duration,
    /// Whether anybody is to be told (`general.admin_notify` is not empty).
    pub anyone_listening: bool,
}

/// The notice due after a poll of a feed in `state` that ended in `failure` (`None`: it
/// worked), if any.
///
/// States: *fine* → (failing longer than `broken_after`) → *broken, told* → (a poll works) →
/// *fine*. A feed that recovers before it counts as broken causes no notice, and a broken
/// feed is reported once however long it stays broken.
pub fn change(
    state: &FeedState,
    failure: Option<&PollFailure>,
    now: DateTime<Utc>,
    rules: HealthRules,
) -> Option<FeedHealth> {
    match failure {
        None if state.broken_notified => Some(FeedHealth::Recovered),
        None => None,
        Some(_) if state.broken_notified || !rules.anyone_listening => None,
        Some(failure) => {
            let since = state.failing_since.unwrap_or(now);
            let failing_for = (now - since).to_std().unwrap_or_default();
            (failing_for >= rules.broken_after).then(|| FeedHealth::Broken {
                since,
                failures: state.consecutive_failures.saturating_add(1),
                error: failure.message.clone(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FailureKind;

    const RULES: HealthRules = HealthRules {
        broken_after: Duration::from_secs(3600),
        anyone_listening: true,
    };

    fn failure() -> PollFailure {
        PollFailure {
            kind: FailureKind::HttpStatus(503),
            message: "fetch: HTTP 503".into(),
            retry_after: None,
        }
    }

    fn failing_for(minutes: i64, now: DateTime<Utc>) -> FeedState {
        FeedState {
            failing_since: Some(now - chrono::Duration::minutes(minutes)),
            consecutive_failures: 4,
            ..FeedState::default()
        }
    }

    #[test]
    fn a_feed_is_broken_once_it_has_failed_for_long_enough() {
        let now = Utc::now();
        assert_eq!(
            change(&failing_for(59, now), Some(&failure()), now, RULES),
            None
        );
        assert_eq!(
            change(&failing_for(60, now), Some(&failure()), now, RULES),
            Some(FeedHealth::Broken {
                since: now - chrono::Duration::minutes(60),
                failures: 5,
                error: "fetch: HTTP 503".into(),
            })
        );
    }

    #[test]
    fn a_broken_feed_is_reported_once_and_its_recovery_once() {
        let now = Utc::now();
        let told = FeedState {
            broken_notified: true,
            ..failing_for(600, now)
        };
        assert_eq!(change(&told, Some(&failure()), now, RULES), None);
        assert_eq!(change(&told, None, now, RULES), Some(FeedHealth::Recovered));
        assert_eq!(change(&FeedState::default(), None, now, RULES), None);
    }

    #[test]
    fn nobody_listening_means_no_broken_notice() {
        let now = Utc::now();
        let rules = HealthRules {
            anyone_listening: false,
            ..RULES
        };
        assert_eq!(
            change(&failing_for(600, now), Some(&failure()), now, rules),
            None
        );
    }

    #[test]
    fn a_first_failure_starts_its_streak_now() {
        let now = Utc::now();
        let instant = HealthRules {
            broken_after: Duration::ZERO,
            ..RULES
        };
        let fresh = FeedState::default();
        assert!(matches!(
            change(&fresh, Some(&failure()), now, instant),
            Some(FeedHealth::Broken { since, failures: 1, .. }) if since == now
        ));
    }
}
