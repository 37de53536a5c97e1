//! When each feed is next due: interval with jitter, crontab schedules, error backoff and
//! server-requested delays (Retry-After, max-age).
//!
//! Owns time arithmetic only. Must never do I/O; callers pass "now" in, so every rule here is
//! testable without a clock.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use rand::Rng;

use crate::model::PollFailure;

/// Longest wait between two polls of a failing feed.
pub const MAX_BACKOFF: Duration = Duration::from_secs(24 * 3600);
/// Upper bound on a server's own request to be polled less often (max-age, Retry-After).
pub const MAX_SERVER_DELAY: Duration = Duration::from_secs(6 * 3600);

/// How often a feed is polled.
#[derive(Clone)]
pub enum Cadence {
    /// A fixed interval, spread with jitter.
    Every(Duration),
    /// A crontab schedule in a time zone.
    Cron {
        /// The parsed expression.
        cron: Box<Cron>,
        /// The zone its fields are read in.
        tz: Tz,
    },
}

impl fmt::Debug for Cadence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cadence::Every(d) => write!(f, "every {}", humantime::format_duration(*d)),
            Cadence::Cron { cron, tz } => write!(f, "cron {:?} in {tz}", cron.pattern.to_string()),
        }
    }
}

/// A cron expression that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}; write crontab syntax such as \"*/15 * * * *\" or \"0 7 * * 1-5\"")]
pub struct CronError(String);

impl Cadence {
    /// Parses standard crontab syntax (5 fields, or 6 with leading seconds; Sunday is 0 or 7).
    ///
    /// croner rather than the `cron` crate: `cron` numbers weekdays from 1 = Sunday (so `1-5`
    /// would mean Sunday–Thursday) and fires twice or not at all around DST changes.
    pub fn cron(expr: &str, tz: Tz) -> Result<Cadence, CronError> {
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(expr.trim())
            .map_err(|e| CronError(e.to_string()))?;
        Ok(Cadence::Cron {
            cron: Box::new(cron),
            tz,
        })
    }

    /// The typical gap between polls, used for backoff and "silent feed" judgements.
    pub fn typical_gap(&self, now: DateTime<Utc>) -> Duration {
        match self {
            Cadence::Every(d) => *d,
            Cadence::Cron { .. } => {
                let first = self.next_regular(now, 0.0);
                let second = self.next_regular(first, 0.0);
                (second - first)
                    .to_std()
                    .unwrap_or(Duration::from_secs(3600))
            }
        }
    }

    /// The next regular poll after `now`. `jitter` in [0, 1) spreads interval feeds over the
    /// last tenth of their interval so hundreds of feeds never fire in the same second; cron
    /// schedules fire when the user said.
    pub fn next_regular(&self, now: DateTime<Utc>, jitter: f64) -> DateTime<Utc> {
        match self {
            Cadence::Every(d) => {
                let spread = d.mul_f64(0.1 * jitter.clamp(0.0, 1.0));
                after(now, d.saturating_sub(spread))
            }
            Cadence::Cron { cron, tz } => {
                let local = now.with_timezone(tz);
                cron.find_next_occurrence(&local, false)
                    .map(|t| t.with_timezone(&Utc))
                    // An expression that never fires again (e.g. a past date) polls daily.
                    .unwrap_or(after(now, MAX_BACKOFF))
            }
        }
    }
}

/// What happened on the last poll, as far as timing is concerned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PollResult {
    /// Fetched (new content or 304); `min_gap` is the server's max-age/Expires hint, if any.
    Ok {
        /// Lower bound the server asked for.
        min_gap: Option<Duration>,
    },
    /// The feed is gone for good (HTTP 410): still polled, but only daily, in case it returns.
    Gone,
    /// Failed for the `failures`-th time in a row; `retry_after` if the server said so.
    Failed {
        /// Consecutive failures including this one (≥ 1).
        failures: u32,
        /// Server's Retry-After, if given.
        retry_after: Option<Duration>,
    },
}

impl PollResult {
    /// The timing of a poll that failed for the `failures`-th time in a row: a feed that is
    /// gone (HTTP 410) is polled daily, any other failure backs off.
    pub fn failed(failure: &PollFailure, failures: u32) -> PollResult {
        if failure.kind.is_gone() {
            PollResult::Gone
        } else {
            PollResult::Failed {
                failures,
                retry_after: failure.retry_after,
            }
        }
    }
}

/// When to poll next after a poll that ended at `now`.
pub fn next_due(cadence: &Cadence, result: PollResult, now: DateTime<Utc>) -> DateTime<Utc> {
    let jitter: f64 = rand::rng().random();
    next_due_with(cadence, result, now, jitter)
}

/// When a feed never polled before should first be polled by the daemon, when `feeds` feeds
/// start together: spread about 50 ms apart (at most over half a minute, or the feed's interval
/// if shorter), so a start with hundreds of feeds is not a burst and a handful start at once.
pub fn first_poll(cadence: &Cadence, now: DateTime<Utc>, feeds: usize) -> DateTime<Utc> {
    let spread = Duration::from_millis(50).saturating_mul(u32::try_from(feeds).unwrap_or(u32::MAX));
    let window = cadence
        .typical_gap(now)
        .min(Duration::from_secs(30))
        .min(spread);
    after(now, window.mul_f64(rand::rng().random()))
}

/// [`next_due`] with the random jitter supplied, for tests.
pub fn next_due_with(
    cadence: &Cadence,
    result: PollResult,
    now: DateTime<Utc>,
    jitter: f64,
) -> DateTime<Utc> {
    let regular = cadence.next_regular(now, jitter);
    match result {
        PollResult::Ok { min_gap: None } => regular,
        PollResult::Ok { min_gap: Some(gap) } => regular.max(after(now, gap.min(MAX_SERVER_DELAY))),
        PollResult::Gone => after(now, MAX_BACKOFF),
        PollResult::Failed {
            failures,
            retry_after,
        } => {
            let base = cadence.typical_gap(now).max(Duration::from_secs(60));
            let exp = failures.saturating_sub(1).min(16);
            // ±20% so feeds on one failing host do not retry in lock-step; the cap applies last.
            let backoff = base
                .saturating_mul(1 << exp)
                .mul_f64(0.8 + 0.4 * jitter.clamp(0.0, 1.0))
                .min(MAX_BACKOFF);
            let wait = match retry_after {
                Some(r) => backoff.max(r.min(MAX_BACKOFF)),
                None => backoff,
            };
            after(now, wait)
        }
    }
}

/// A feed is silent when it has brought nothing new for far longer than usual (ten times its
/// average gap between new items, and at least a week; a month for a feed with no history):
/// often a site that moved its feed without a redirect.
pub fn silent_for(
    first_seen: DateTime<Utc>,
    last_new: DateTime<Utc>,
    new_since_first: u64,
    now: DateTime<Utc>,
) -> Option<Duration> {
    const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);
    let quiet = (now - last_new).to_std().ok()?;
    let usual = if new_since_first == 0 {
        WEEK * 4
    } else {
        let span = (last_new - first_seen).to_std().unwrap_or_default();
        (span / new_since_first.min(u64::from(u32::MAX)) as u32 * 10).max(WEEK)
    };
    (quiet > usual).then_some(quiet)
}

/// `t + d`, saturating at the end of the calendar instead of panicking.
fn after(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn interval_jitter_stays_within_last_tenth() {
        let c = Cadence::Every(Duration::from_secs(600));
        let now = utc("2026-01-01T00:00:00Z");
        assert_eq!(c.next_regular(now, 0.0), utc("2026-01-01T00:10:00Z"));
        assert_eq!(
            c.next_regular(now, 0.999_999).timestamp(),
            now.timestamp() + 540
        );
    }

    #[test]
    fn weekdays_follow_crontab_numbering() {
        // 2026-11-27 is a Friday; 1-5 means Monday to Friday, so the next run after Friday
        // 08:00 is Monday 07:00 — not Saturday as the `cron` crate's numbering would give.
        let c = Cadence::cron("0 7 * * 1-5", Tz::UTC).unwrap();
        assert_eq!(
            c.next_regular(utc("2026-11-27T08:00:00Z"), 0.0),
            utc("2026-11-30T07:00:00Z")
        );
        let sunday = Cadence::cron("0 7 * * 0", Tz::UTC).unwrap();
        let seven = Cadence::cron("0 7 * * 7", Tz::UTC).unwrap();
        let now = utc("2026-11-27T08:00:00Z");
        assert_eq!(sunday.next_regular(now, 0.0), utc("2026-11-29T07:00:00Z"));
        assert_eq!(seven.next_regular(now, 0.0), utc("2026-11-29T07:00:00Z"));
    }

    #[test]
    fn daily_job_fires_once_when_clocks_go_back() {
        // Europe/Berlin leaves DST on 2026-10-25 at 03:00 → 02:00; 02:30 happens twice.
        let tz = chrono_tz::Europe::Berlin;
        let c = Cadence::cron("30 2 * * *", tz).unwrap();
        let start = tz
            .with_ymd_and_hms(2026, 10, 24, 12, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        let first = c.next_regular(start, 0.0);
        let second = c.next_regular(first, 0.0);
        assert_eq!(
            first.with_timezone(&tz).format("%d %H:%M").to_string(),
            "25 02:30"
        );
        assert_eq!(
            second.with_timezone(&tz).format("%d %H:%M").to_string(),
            "26 02:30"
        );
    }

    #[test]
    fn daily_job_is_not_skipped_when_clocks_go_forward() {
        // Europe/Berlin enters DST on 2026-03-29: 02:00 → 03:00, so 02:30 does not exist.
        let tz = chrono_tz::Europe::Berlin;
        let c = Cadence::cron("30 2 * * *", tz).unwrap();
        let start = tz
            .with_ymd_and_hms(2026, 3, 28, 12, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        let next = c.next_regular(start, 0.0);
        let day = next.with_timezone(&tz).format("%d").to_string();
        assert_eq!(
            day, "29",
            "the job must still run on the day of the change, got {next}"
        );
        let after = c.next_regular(next, 0.0);
        assert_eq!(
            after.with_timezone(&tz).format("%d %H:%M").to_string(),
            "30 02:30"
        );
    }

    #[test]
    fn half_hourly_schedule_never_steps_backwards_across_dst() {
        let tz = chrono_tz::Europe::Berlin;
        let c = Cadence::cron("*/30 * * * *", tz).unwrap();
        let mut t = tz
            .with_ymd_and_hms(2026, 10, 24, 22, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        for _ in 0..20 {
            let next = c.next_regular(t, 0.0);
            assert!(next > t, "{next} is not after {t}");
            assert!((next - t).num_minutes() <= 30);
            t = next;
        }
    }

    #[test]
    fn silence_is_judged_against_the_feeds_own_rhythm() {
        let now = utc("2026-06-01T00:00:00Z");
        let days = |n: i64| now - chrono::Duration::days(n);
        // A daily feed (30 new items over 30 days) quiet for 12 days: silent.
        assert!(silent_for(days(42), days(12), 30, now).is_some());
        // The same feed quiet for 3 days: not yet.
        assert!(silent_for(days(33), days(3), 30, now).is_none());
        // A monthly feed quiet for 12 days: normal.
        assert!(silent_for(days(400), days(12), 12, now).is_none());
        // Nothing new since it was added 40 days ago: silent.
        assert!(silent_for(days(40), days(40), 0, now).is_some());
    }

    #[test]
    fn bad_cron_is_an_error() {
        assert!(Cadence::cron("61 * * * *", Tz::UTC).is_err());
        assert!(Cadence::cron("every day", Tz::UTC).is_err());
    }

    #[test]
    fn failures_back_off_exponentially_up_to_a_day() {
        let c = Cadence::Every(Duration::from_secs(900));
        let now = utc("2026-01-01T00:00:00Z");
        let wait = |failures| {
            let r = PollResult::Failed {
                failures,
                retry_after: None,
            };
            (next_due_with(&c, r, now, 0.5) - now).num_seconds()
        };
        assert_eq!(wait(1), 900);
        assert_eq!(wait(2), 1800);
        assert_eq!(wait(3), 3600);
        assert_eq!(wait(30), 24 * 3600);
        let r = PollResult::Failed {
            failures: 30,
            retry_after: None,
        };
        assert_eq!(
            (next_due_with(&c, r, now, 0.999) - now).num_seconds(),
            24 * 3600,
            "cap after jitter"
        );
    }

    #[test]
    fn gone_feeds_are_polled_daily_not_dropped() {
        let c = Cadence::Every(Duration::from_secs(300));
        let now = utc("2026-01-01T00:00:00Z");
        assert_eq!(
            (next_due_with(&c, PollResult::Gone, now, 0.5) - now).num_hours(),
            24
        );
    }

    #[test]
    fn a_410_is_gone_and_other_failures_back_off() {
        let failure = |code| PollFailure {
            kind: crate::model::FailureKind::HttpStatus(code),
            message: String::new(),
            retry_after: Some(Duration::from_secs(40)),
        };
        assert_eq!(PollResult::failed(&failure(410), 3), PollResult::Gone);
        assert_eq!(
            PollResult::failed(&failure(503), 3),
            PollResult::Failed {
                failures: 3,
                retry_after: Some(Duration::from_secs(40))
            }
        );
    }

    #[test]
    fn first_polls_are_spread_over_half_a_minute() {
        let c = Cadence::Every(Duration::from_secs(900));
        let now = utc("2026-01-01T00:00:00Z");
        let times: std::collections::HashSet<_> =
            (0..50).map(|_| first_poll(&c, now, 1000)).collect();
        assert!(
            times
                .iter()
                .all(|t| *t >= now && (*t - now).num_seconds() <= 30)
        );
        assert!(
            times.len() > 1,
            "first polls are not all at the same instant"
        );
    }

    #[test]
    fn retry_after_and_max_age_are_lower_bounds() {
        let c = Cadence::Every(Duration::from_secs(300));
        let now = utc("2026-01-01T00:00:00Z");
        let r = PollResult::Failed {
            failures: 1,
            retry_after: Some(Duration::from_secs(7200)),
        };
        assert_eq!((next_due_with(&c, r, now, 0.5) - now).num_seconds(), 7200);
        let ok = PollResult::Ok {
            min_gap: Some(Duration::from_secs(1200)),
        };
        assert_eq!((next_due_with(&c, ok, now, 0.0) - now).num_seconds(), 1200);
        let huge = PollResult::Ok {
            min_gap: Some(Duration::from_secs(90 * 24 * 3600)),
        };
        assert_eq!(
            (next_due_with(&c, huge, now, 0.0) - now).num_seconds(),
            MAX_SERVER_DELAY.as_secs() as i64
        );
    }
}
