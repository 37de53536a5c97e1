//! Hours of retries, backoff and feed health in a moment: the daemon's own pipeline and
//! dispatcher run in this process against the loopback servers, with a clock the test moves.
//! Nothing waits for real time and nothing rewrites the database.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use feedwatch::clock::ManualClock;
use feedwatch::config::Config;
use feedwatch::daemon::{Daemon, OnceReport};
use feedwatch::notify::{self, Dispatcher};
use feedwatch::store::{self, Access, DeliveryState, Store};
use tokio_util::sync::CancellationToken;

use crate::common::http::{HttpServer, Route};
use crate::common::smtp::{SmtpServer, closed_smtp_url};
use crate::common::store::FlakyStore;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

fn rss(items: &[(&str, &str)]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Loopback News</title>",
    );
    for (guid, title) in items {
        s.push_str(&format!(
            "<item><guid>{guid}</guid><title>{title}</title>\
             <link>http://news.test/{guid}</link></item>"
        ));
    }
    s.push_str("</channel></rss>");
    s
}

const BACKLOG: (&str, &str) = ("g1", "Kabul market reopens after ISIS-K attack last year");
const FRESH: (&str, &str) = ("g2", "Officials blame ISIS-K for border attack");
const SECOND: (&str, &str) = ("g3", "Second ISIS-K story");

/// One feed at `/feed.xml`, a watchlist for ISIS-K, the loopback servers, a database in a
/// temporary directory and a clock that moves only when told.
struct Desk {
    dir: tempfile::TempDir,
    http: HttpServer,
    smtp: SmtpServer,
    clock: ManualClock,
    runtime: tokio::runtime::Runtime,
}

impl Desk {
    fn new() -> Desk {
        Desk {
            dir: tempfile::tempdir().unwrap(),
            http: HttpServer::start(),
            smtp: SmtpServer::start(),
            clock: ManualClock::new(Utc::now()),
            runtime: tokio::runtime::Runtime::new().unwrap(),
        }
    }

    /// The config: the notifiers `chat` (webhook at `/hook`), `ops` (webhook at `/ops`, for
    /// feed-health notices only) and, with an SMTP URL, `desk` (email).
    fn config(&self, desk: Option<&str>) -> Config {
        let mut text = format!(
            "[general]\ndatabase = \"feedwatch.db\"\ntimeout = \"5s\"\n\
             admin_notify = [\"ops\"]\nfeed_broken_after = \"1h\"\n\n\
             [[feeds]]\nurl = \"{feed}\"\nname = \"Loopback\"\n\n\
             [[watchlists]]\nname = \"isis-k\"\nterms = [\"ISIS-K\"]\nnotify = [{notify}]\n\n\
             [notifiers.chat]\ntype = \"webhook\"\nurl = \"{hook}\"\ntimeout = \"5s\"\n\n\
             [notifiers.ops]\ntype = \"webhook\"\nurl = \"{ops}\"\ntimeout = \"5s\"\n\n",
            feed = self.http.url("/feed.xml"),
            hook = self.http.url("/hook"),
            ops = self.http.url("/ops"),
            notify = if desk.is_some() {
                "\"desk\", \"chat\""
            } else {
                "\"chat\""
            },
        );
        if let Some(smtp) = desk {
            text.push_str(&format!(
                "[notifiers.desk]\ntype = \"email\"\nsmtp = \"{smtp}\"\n\
                 from = \"feedwatch <alerts@example.org>\"\nto = [\"desk@example.org\"]\n\
                 timeout = \"5s\"\n"
            ));
        }
        Config::from_str_at(&text, &self.dir.path().join("config.toml")).unwrap()
    }

    /// A daemon on the desk's database, with `desk` (email) at this SMTP URL if any.
    fn daemon(&self, desk: Option<&str>) -> Daemon {
        let config = self.config(desk);
        Daemon::with_clock(config, Arc::new(self.clock.clone())).unwrap()
    }

    /// One `once --all` pass.
    fn pass(&self, daemon: &Daemon) -> OnceReport {
        self.runtime.block_on(async {
            let feeds = daemon.due_feeds(true).await.unwrap();
            daemon.once(feeds).await.unwrap()
        })
    }

    /// The state and attempts of each alert's delivery to `notifier`, oldest alert first.
    fn deliveries(&self, daemon: &Daemon, notifier: &str) -> Vec<(DeliveryState, u32)> {
        self.deliveries_in(&*daemon.pipeline.store, notifier)
    }

    /// A dispatcher for the desk's notifiers (no `desk`) over its database, whose store fails
    /// to record the first `failures` sends, as on a full disk.
    fn flaky_dispatcher(&self, failures: usize) -> (Arc<FlakyStore>, Dispatcher) {
        let config = self.config(None);
        let real = store::open(&config.general.database, Access::Exclusive).unwrap();
        let flaky = FlakyStore::new(real, failures);
        let dispatcher = Dispatcher::new(
            flaky.clone(),
            notify::build_all(&config).unwrap(),
            Arc::new(self.clock.clone()),
            CancellationToken::new(),
        );
        (flaky, dispatcher)
    }

    /// [`Desk::deliveries`] as `store` has them.
    fn deliveries_in(&self, store: &dyn Store, notifier: &str) -> Vec<(DeliveryState, u32)> {
        let alerts = self
            .runtime
            .block_on(store.alerts_since(chrono::DateTime::<Utc>::MIN_UTC))
            .unwrap();
        alerts
            .iter()
            .rev()
            .flat_map(|a| &a.deliveries)
            .filter(|d| d.notifier.0 == notifier)
            .map(|d| (d.state, d.attempts))
            .collect()
    }

    /// Titles of the feed-health notices the admin's webhook received.
    fn notices(&self) -> Vec<String> {
        self.http
            .requests("/ops")
            .iter()
            .map(|r| {
                let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                // Receivers tell notices from alerts by this name.
                assert_eq!(v["watchlist"], "feed-health", "{v}");
                v["item"]["title"].as_str().unwrap_or_default().to_owned()
            })
            .collect()
    }

    /// The feed lists the backlog, then `items` as news.
    fn news(&self, daemon: &Daemon, items: &[(&str, &str)]) -> OnceReport {
        self.http.set("/feed.xml", Route::rss(&rss(&[BACKLOG])));
        self.pass(daemon);
        let mut listed = items.to_vec();
        listed.push(BACKLOG);
        self.http.set("/feed.xml", Route::rss(&rss(&listed)));
        self.pass(daemon)
    }
}

use DeliveryState::{Failed, Pending, Sent};

#[test]
fn the_admin_hears_once_when_a_feed_breaks_and_once_when_it_recovers() {
    let desk = Desk::new();
    // lettre's connection pool hands its last task to tokio when a daemon is dropped.
    let _rt = desk.runtime.enter();
    let daemon = desk.daemon(None);
    desk.http.set("/feed.xml", Route::status(503));
    desk.pass(&daemon);
    assert!(
        desk.notices().is_empty(),
        "one failure is not a broken feed"
    );
    desk.clock.advance(59 * MINUTE);
    desk.pass(&daemon);
    assert!(desk.notices().is_empty(), "not yet failing for an hour");

    desk.clock.advance(MINUTE);
    desk.pass(&daemon);
    let notices = desk.notices();
    assert_eq!(notices, ["Feed \"Loopback\" is failing"]);
    let body = String::from_utf8_lossy(&desk.http.requests("/ops")[0].body).into_owned();
    assert!(body.contains("503"), "the notice carries the error: {body}");
    desk.clock.advance(HOUR);
    desk.pass(&daemon);
    assert_eq!(desk.notices().len(), 1, "never one notice per poll");

    desk.http.set("/feed.xml", Route::rss(&rss(&[BACKLOG])));
    desk.pass(&daemon);
    desk.pass(&daemon);
    assert_eq!(
        desk.notices()[1..],
        ["Feed \"Loopback\" has recovered"],
        "one recovery notice"
    );
}

#[test]
fn recovery_through_a_304_is_reported_and_rearms_the_broken_notice() {
    let desk = Desk::new();
    // lettre's connection pool hands its last task to tokio when a daemon is dropped.
    let _rt = desk.runtime.enter();
    let daemon = desk.daemon(None);
    let good = Route::rss(&rss(&[BACKLOG])).with_etag("e1");
    desk.http.set("/feed.xml", good.clone());
    desk.pass(&daemon);
    for round in 1..=2 {
        desk.http.set("/feed.xml", Route::status(503));
        desk.pass(&daemon);
        desk.clock.advance(2 * HOUR);
        desk.pass(&daemon);
        assert_eq!(desk.notices().len(), 2 * round - 1, "round {round}: broken");
        // The server is back and the document unchanged: a 304 is a recovery too.
        desk.http.set("/feed.xml", good.clone());
        desk.pass(&daemon);
        let notices = desk.notices();
        assert_eq!(notices.len(), 2 * round, "round {round}: recovered");
        assert!(notices[2 * round - 1].contains("has recovered"));
        let states = desk
            .runtime
            .block_on(daemon.pipeline.store.feed_states())
            .unwrap();
        assert_eq!(states[0].last_status.as_deref(), Some("304"));
    }
}

#[test]
fn mail_server_down_keeps_the_alert_pending_until_it_is_back() {
    let desk = Desk::new();
    // lettre's connection pool hands its last task to tokio when a daemon is dropped.
    let _rt = desk.runtime.enter();
    let down = closed_smtp_url();
    let daemon = desk.daemon(Some(&down));
    let report = desk.news(&daemon, &[FRESH]);
    assert_eq!((report.alerts, report.pending), (1, 1));
    assert_eq!(desk.http.hits("/hook"), 1, "the webhook is not held back");
    assert_eq!(desk.deliveries(&daemon, "desk"), [(Pending, 1)]);
    // Not due again until the retry time.
    desk.clock.advance(Duration::from_secs(20));
    desk.pass(&daemon);
    assert_eq!(desk.deliveries(&daemon, "desk"), [(Pending, 1)]);
    drop(daemon);

    // The server is back (at another address, as after a config fix); the alert goes out at
    // its retry time, once.
    let daemon = desk.daemon(Some(&desk.smtp.url()));
    desk.clock.advance(Duration::from_secs(10));
    let report = desk.pass(&daemon);
    assert_eq!((report.delivery.sent, report.pending), (1, 0));
    assert_eq!(desk.smtp.messages().len(), 1);
    assert_eq!(desk.deliveries(&daemon, "desk"), [(Sent, 2)]);
    assert_eq!(desk.http.hits("/hook"), 1, "the webhook is not sent twice");
}

#[test]
fn rejected_alerts_get_three_tries_and_a_down_receiver_costs_one_try_per_round() {
    let desk = Desk::new();
    // lettre's connection pool hands its last task to tokio when a daemon is dropped.
    let _rt = desk.runtime.enter();
    let daemon = desk.daemon(Some(&desk.smtp.url()));
    // The receiver is down: one attempt, the other alert waits for the same retry.
    desk.http.set("/hook", Route::status(503));
    desk.news(&daemon, &[FRESH, SECOND]);
    assert_eq!(desk.http.hits("/hook"), 1, "one attempt per round");
    assert_eq!(
        desk.deliveries(&daemon, "chat"),
        [(Pending, 1), (Pending, 0)]
    );

    // The receiver rejects the payloads themselves. Each rejection is about that alert: it
    // gets its next try half an hour later, and the alert behind it goes at once.
    desk.http.set("/hook", Route::status(422));
    desk.clock.advance(31 * MINUTE);
    desk.pass(&daemon);
    assert_eq!(
        desk.deliveries(&daemon, "chat"),
        [(Pending, 2), (Pending, 1)]
    );
    // Rejected again and again, each is given up after its third try in all (the first
    // alert's try while the receiver was down counts too).
    let mut rounds = Vec::new();
    for _ in 0..3 {
        desk.clock.advance(31 * MINUTE);
        desk.pass(&daemon);
        rounds.push(desk.deliveries(&daemon, "chat"));
    }
    assert_eq!(
        rounds,
        [
            [(Failed, 3), (Pending, 2)],
            [(Failed, 3), (Failed, 3)],
            [(Failed, 3), (Failed, 3)],
        ]
    );
    assert_eq!(desk.http.hits("/hook"), 6, "three tries each, no more");
    assert_eq!(desk.smtp.messages().len(), 2, "email is unaffected");
}

/// The titles the webhook at `/hook` received, from request `from` on.
fn hook_titles(desk: &Desk, from: usize) -> Vec<String> {
    desk.http.requests("/hook")[from..]
        .iter()
        .map(|r| {
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            v["item"]["title"].as_str().unwrap_or_default().to_owned()
        })
        .collect()
}

const THIRD: (&str, &str) = ("g4", "Third ISIS-K story");
const FOURTH: (&str, &str) = ("g5", "Fourth ISIS-K story");

#[test]
fn two_rejected_alerts_in_a_row_do_not_hold_back_a_good_one() {
    let desk = Desk::new();
    // lettre's connection pool hands its last task to tokio when a daemon is dropped.
    let _rt = desk.runtime.enter();
    let daemon = desk.daemon(None);
    // The first two alerts are refused, the third is fine.
    desk.http
        .queue("/hook", [Route::status(422), Route::status(422)]);
    let report = desk.news(&daemon, &[FRESH, SECOND, THIRD]);
    assert_eq!(report.alerts, 3);
    assert_eq!(
        desk.http.hits("/hook"),
        3,
        "all three tried in the same drain"
    );
    assert_eq!(report.delivery.sent, 1, "the good alert went out at once");
    let mut states = desk.deliveries(&daemon, "chat");
    states.sort_by_key(|(state, _)| *state == Sent);
    assert_eq!(states, [(Pending, 1), (Pending, 1), (Sent, 1)]);
}

#[test]
fn three_alerts_in_a_row_rejected_alike_hold_the_notifier_briefly() {
    let desk = Desk::new();
    // lettre's connection pool hands its last task to tokio when a daemon is dropped.
    let _rt = desk.runtime.enter();
    let daemon = desk.daemon(None);
    // Different answers are about the alerts: each next alert is tried at once.
    desk.http.queue(
        "/hook",
        [Route::status(422), Route::status(400), Route::status(413)],
    );
    let report = desk.news(&daemon, &[FRESH, SECOND, THIRD, FOURTH]);
    assert_eq!(
        desk.http.hits("/hook"),
        4,
        "all four tried in the same drain"
    );
    assert_eq!(report.delivery.sent, 1);
    drop(daemon);

    // Three different alerts refused the same way point at the receiver: the notifier's
    // other alerts wait for the retry instead of each using up a try.
    let desk = Desk::new();
    let _rt = desk.runtime.enter();
    let daemon = desk.daemon(None);
    desk.http.queue("/hook", vec![Route::status(400); 3]);
    desk.news(&daemon, &[FRESH, SECOND, THIRD, FOURTH]);
    assert_eq!(desk.http.hits("/hook"), 3, "the fourth waits");
    let pending: Vec<u32> = desk
        .deliveries(&daemon, "chat")
        .iter()
        .map(|(state, attempts)| {
            assert_eq!(*state, Pending);
            *attempts
        })
        .collect();
    assert_eq!(pending.iter().sum::<u32>(), 3);
    // The receiver is fine again: after the retry delay the held alerts go out.
    desk.clock.advance(MINUTE);
    let report = desk.pass(&daemon);
    assert_eq!(report.delivery.sent, 2, "the third and the fourth");
    assert_eq!(desk.http.hits("/hook"), 5);
}

#[test]
fn smtp_552_and_554_refuse_the_message_and_other_refusals_the_config() {
    for (code, outcome) in [(552, Failed), (554, Failed), (550, Pending)] {
        let desk = Desk::new();
        // lettre's connection pool hands its last task to tokio when a daemon is dropped.
        let _rt = desk.runtime.enter();
        let daemon = desk.daemon(Some(&desk.smtp.url()));
        desk.smtp.reject_with(Some(code));
        desk.news(&daemon, &[FRESH]);
        assert_eq!(desk.http.hits("/hook"), 1, "{code}: the webhook goes out");
        assert_eq!(desk.deliveries(&daemon, "desk"), [(Pending, 1)], "{code}");
        for _ in 0..2 {
            desk.clock.advance(31 * MINUTE);
            desk.pass(&daemon);
        }
        // 552 and 554 refuse this message: three tries, then it is given up. Any other
        // refusal is the server's or the config's, and the alert waits for a fix.
        assert_eq!(
            desk.deliveries(&daemon, "desk"),
            [(outcome, 3)],
            "SMTP {code}"
        );
        assert!(desk.smtp.messages().is_empty());
    }
}

#[test]
fn an_alert_for_a_removed_notifier_waits_until_the_notifier_returns() {
    let desk = Desk::new();
    // lettre's connection pool hands its last task to tokio when a daemon is dropped.
    let _rt = desk.runtime.enter();
    let down = closed_smtp_url();
    let daemon = desk.daemon(Some(&down));
    desk.news(&daemon, &[FRESH]);
    assert_eq!(desk.deliveries(&daemon, "desk"), [(Pending, 1)]);
    drop(daemon);

    // `desk` is taken out of the config: its alert is kept, not dropped or given up.
    let daemon = desk.daemon(None);
    for _ in 0..3 {
        desk.clock.advance(HOUR);
        let report = desk.pass(&daemon);
        assert_eq!(report.delivery.given_up, 0);
    }
    assert!(matches!(desk.deliveries(&daemon, "desk")[..], [(Pending, n)] if n > 1));
    drop(daemon);

    // It comes back (under the same name, with a working server): the alert goes out.
    let daemon = desk.daemon(Some(&desk.smtp.url()));
    desk.clock.advance(HOUR);
    desk.pass(&daemon);
    assert_eq!(desk.smtp.messages().len(), 1);
    assert!(matches!(desk.deliveries(&daemon, "desk")[..], [(Sent, _)]));
}

#[test]
fn an_alert_sent_whose_record_cannot_be_written_is_never_sent_again() {
    let desk = Desk::new();
    // lettre's connection pool hands its last task to tokio when a daemon is dropped.
    let _rt = desk.runtime.enter();
    let daemon = desk.daemon(None);
    // The receiver is down when the alerts arrive: both wait in the outbox.
    desk.http.set("/hook", Route::status(503));
    desk.news(&daemon, &[FRESH, SECOND]);
    assert_eq!(desk.http.hits("/hook"), 1);
    drop(daemon);

    // The receiver is back, but the database cannot record a send the first three times it is
    // asked, as on a full disk.
    desk.http.set("/hook", Route::status(200));
    let (flaky, dispatcher) = desk.flaky_dispatcher(3);
    desk.clock.advance(MINUTE);
    let drains: Vec<Option<usize>> = (0..5)
        .map(|_| {
            desk.runtime
                .block_on(dispatcher.drain())
                .ok()
                .map(|r| r.sent)
        })
        .collect();
    // The first alert is sent and its record fails; the record is retried before anything
    // else is sent, and once it is written the second alert goes out.
    assert_eq!(drains, [None, None, None, Some(1), Some(0)]);
    assert_eq!(dispatcher.unrecorded_sends(), 0);
    assert_eq!(flaky.mark_sent_calls(), 5);
    assert_eq!(
        hook_titles(&desk, 1),
        [FRESH.1, SECOND.1],
        "each alert exactly once"
    );
    assert_eq!(desk.deliveries_in(&*flaky, "chat"), [(Sent, 2), (Sent, 1)]);
}

#[test]
fn a_send_not_yet_recorded_is_recorded_before_the_process_gives_up() {
    let desk = Desk::new();
    let _rt = desk.runtime.enter();
    let daemon = desk.daemon(None);
    desk.http.set("/hook", Route::status(503));
    desk.news(&daemon, &[FRESH]);
    drop(daemon);

    // The record of the send fails twice, as a disk being cleared up would; a process about
    // to exit keeps trying for a while rather than leave the alert to be sent again.
    desk.http.set("/hook", Route::status(200));
    let (flaky, dispatcher) = desk.flaky_dispatcher(2);
    desk.clock.advance(MINUTE);
    assert!(desk.runtime.block_on(dispatcher.drain()).is_err());
    assert_eq!(dispatcher.unrecorded_sends(), 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    assert_eq!(desk.runtime.block_on(dispatcher.settle(deadline)), 0);
    assert_eq!(desk.deliveries_in(&*flaky, "chat"), [(Sent, 2)]);
    assert_eq!(desk.http.hits("/hook"), 2, "one failed try, one send");
}

#[test]
fn a_webhook_retry_after_sets_the_next_try() {
    let desk = Desk::new();
    // lettre's connection pool hands its last task to tokio when a daemon is dropped.
    let _rt = desk.runtime.enter();
    let daemon = desk.daemon(None);
    // In seconds: later than the first backoff of 30 s.
    desk.http
        .set("/hook", Route::status(429).with_header("Retry-After", "40"));
    desk.news(&daemon, &[FRESH]);
    assert_eq!(desk.http.hits("/hook"), 1);
    desk.http.set("/hook", Route::status(200));
    desk.clock.advance(Duration::from_secs(39));
    desk.pass(&daemon);
    assert_eq!(desk.http.hits("/hook"), 1, "not due at +39 s");
    desk.clock.advance(Duration::from_secs(1));
    desk.pass(&daemon);
    assert_eq!(desk.http.hits("/hook"), 2, "due at +40 s");
    assert_eq!(desk.deliveries(&daemon, "chat"), [(Sent, 2)]);

    // As a date, ten minutes ahead: the notifier's other alerts wait for it too.
    let at = Utc::now() + chrono::Duration::minutes(10);
    let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    desk.http.set(
        "/hook",
        Route::status(503).with_header("Retry-After", &date),
    );
    let mut listed = vec![SECOND, THIRD, FRESH, BACKLOG];
    desk.http.set("/feed.xml", Route::rss(&rss(&listed)));
    desk.pass(&daemon);
    assert_eq!(desk.http.hits("/hook"), 3, "one try, the other alert waits");
    desk.http.set("/hook", Route::status(200));
    desk.clock.advance(5 * MINUTE);
    desk.pass(&daemon);
    assert_eq!(desk.http.hits("/hook"), 3, "not due after 5 minutes");
    desk.clock.advance(5 * MINUTE + Duration::from_secs(1));
    desk.pass(&daemon);
    assert_eq!(desk.http.hits("/hook"), 5, "both due after 10 minutes");

    // Asking for a day is capped at half an hour.
    desk.http.set(
        "/hook",
        Route::status(503).with_header("Retry-After", "86400"),
    );
    listed.insert(0, FOURTH);
    desk.http.set("/feed.xml", Route::rss(&rss(&listed)));
    desk.pass(&daemon);
    assert_eq!(desk.http.hits("/hook"), 6);
    desk.http.set("/hook", Route::status(200));
    desk.clock.advance(30 * MINUTE);
    desk.pass(&daemon);
    assert_eq!(desk.http.hits("/hook"), 7, "due after 30 minutes");
}
