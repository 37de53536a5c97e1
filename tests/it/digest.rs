//! Digests and `max_per_hour`: held alerts go out as one message at the digest time (also one
//! that passed while feedwatch was stopped), and a burst beyond the hourly cap becomes a few
//! single messages and one summary, counted from the store across restarts.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use feedwatch::clock::ManualClock;
use feedwatch::config::Config;
use feedwatch::daemon::Daemon;
use feedwatch::store::{DeliveryState, SentAs};

use crate::common::http::{HttpServer, Request, Route};
use crate::common::sandbox::{Sandbox, run_to_exit};

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// An RSS document whose items are all about ISIS-K: `(guid, title)`.
fn rss(items: &[(String, String)]) -> String {
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

/// `n` matching items, numbered from `from`.
fn stories(from: usize, n: usize) -> Vec<(String, String)> {
    (from..from + n)
        .map(|i| (format!("g{i}"), format!("ISIS-K story {i}")))
        .collect()
}

/// A webhook call's body, checked against the documented shape: a batch carries `kind`, `id`,
/// `heading` and `alerts`, each alert the fields of a single alert's call.
fn body(r: &Request) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("a JSON body");
    let check_alert = |a: &serde_json::Value| {
        assert!(a["alert_id"].is_string(), "{a}");
        assert_eq!(a["watchlist"], "isis-k", "{a}");
        assert!(
            a["item"]["title"].is_string() && a["feed"]["url"].is_string(),
            "{a}"
        );
        assert!(
            a["matches"].as_array().is_some_and(|m| !m.is_empty()),
            "{a}"
        );
    };
    if v.get("kind").is_some() {
        assert!(
            v["kind"] == "digest" || v["kind"] == "summary",
            "unknown kind: {v}"
        );
        assert!(v["id"].is_string() && v["heading"].is_string(), "{v}");
        v["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .for_each(check_alert);
    } else {
        check_alert(&v);
    }
    v
}

/// One feed at `/feed.xml` of a loopback server, a watchlist for ISIS-K whose alerts go to the
/// webhook `hook` at `/hook` sending a digest at 08:00 UTC, a database in a temporary
/// directory and a clock that moves only when told.
struct Desk {
    dir: tempfile::TempDir,
    http: HttpServer,
    clock: ManualClock,
    runtime: tokio::runtime::Runtime,
}

impl Desk {
    fn new(start: &str) -> Desk {
        Desk {
            dir: tempfile::tempdir().unwrap(),
            http: HttpServer::start(),
            clock: ManualClock::new(at(start)),
            runtime: tokio::runtime::Runtime::new().unwrap(),
        }
    }

    fn daemon(&self) -> Daemon {
        let text = format!(
            "[general]\ndatabase = \"feedwatch.db\"\ntimezone = \"UTC\"\n\
             alert_on_first_fetch = true\n\n\
             [[feeds]]\nurl = \"{feed}\"\nname = \"Loopback\"\n\n\
             [[watchlists]]\nname = \"isis-k\"\nterms = [\"ISIS-K\"]\nnotify = [\"hook\"]\n\n\
             [notifiers.hook]\ntype = \"webhook\"\nurl = \"{hook}\"\ntimeout = \"5s\"\n\
             digest = \"0 8 * * *\"\n",
            feed = self.http.url("/feed.xml"),
            hook = self.http.url("/hook"),
        );
        let config = Config::from_str_at(&text, &self.dir.path().join("config.toml")).unwrap();
        Daemon::with_clock(config, Arc::new(self.clock.clone())).unwrap()
    }

    /// One `once --all` pass, after the feed lists `items`.
    fn pass(&self, daemon: &Daemon, items: &[(String, String)]) {
        self.http.set("/feed.xml", Route::rss(&rss(items)));
        self.runtime.block_on(async {
            let feeds = daemon.due_feeds(true).await.unwrap();
            daemon.once(feeds).await.unwrap();
        });
    }

    /// How each delivery stands, oldest alert first.
    fn deliveries(&self, daemon: &Daemon) -> Vec<(DeliveryState, Option<SentAs>)> {
        let alerts = self
            .runtime
            .block_on(daemon.pipeline.store.alerts_since(DateTime::<Utc>::MIN_UTC))
            .unwrap();
        alerts
            .iter()
            .rev()
            .flat_map(|a| &a.deliveries)
            .map(|d| (d.state, d.sent_as))
            .collect()
    }

    /// When the daemon would next wake to deliver.
    fn until_next_due(&self, daemon: &Daemon) -> Option<Duration> {
        self.runtime
            .block_on(daemon.dispatcher.until_next_due())
            .unwrap()
    }
}

fn at(t: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(t).unwrap().to_utc()
}

#[test]
fn a_digest_holds_alerts_and_sends_them_all_as_one_message_at_its_time() {
    let desk = Desk::new("2026-12-07T06:00:00Z");
    let _rt = desk.runtime.enter();
    let daemon = desk.daemon();
    let three = stories(1, 3);
    desk.pass(&daemon, &three);
    assert_eq!(desk.http.hits("/hook"), 0, "held for the digest");
    assert_eq!(
        desk.deliveries(&daemon),
        [(DeliveryState::Pending, None); 3]
    );
    assert_eq!(
        desk.until_next_due(&daemon),
        Some(2 * HOUR),
        "the daemon wakes at the digest time"
    );

    desk.clock.advance(2 * HOUR - MINUTE);
    desk.pass(&daemon, &three);
    assert_eq!(desk.http.hits("/hook"), 0, "07:59 is not yet the time");

    desk.clock.advance(MINUTE);
    desk.pass(&daemon, &three);
    let calls = desk.http.requests("/hook");
    assert_eq!(calls.len(), 1, "one message for all three");
    let digest = body(&calls[0]);
    assert_eq!(digest["kind"], "digest");
    assert_eq!(digest["heading"], "Digest: 3 alerts");
    let mut titles: Vec<&str> = digest["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["item"]["title"].as_str().unwrap())
        .collect();
    titles.sort_unstable();
    assert_eq!(
        titles,
        ["ISIS-K story 1", "ISIS-K story 2", "ISIS-K story 3"]
    );
    assert_eq!(
        desk.deliveries(&daemon),
        [(DeliveryState::Sent, Some(SentAs::Digest)); 3]
    );
    assert_eq!(desk.until_next_due(&daemon), None, "nothing is held");

    // A day later nothing is held, so nothing is sent.
    desk.clock.advance(24 * HOUR);
    desk.pass(&daemon, &three);
    assert_eq!(desk.http.hits("/hook"), 1);
}

#[test]
fn a_digest_time_passed_while_stopped_is_sent_at_the_next_start() {
    let desk = Desk::new("2026-12-07T09:00:00Z");
    let _rt = desk.runtime.enter();
    let daemon = desk.daemon();
    let two = stories(1, 2);
    desk.pass(&daemon, &two);
    assert_eq!(desk.http.hits("/hook"), 0);
    assert_eq!(desk.until_next_due(&daemon), Some(23 * HOUR));
    drop(daemon);

    // Stopped through the next morning's digest time.
    desk.clock.advance(26 * HOUR);
    let daemon = desk.daemon();
    desk.pass(&daemon, &two);
    let calls = desk.http.requests("/hook");
    assert_eq!(calls.len(), 1);
    let digest = body(&calls[0]);
    assert_eq!(digest["heading"], "Digest: 2 alerts");
    assert_eq!(
        desk.deliveries(&daemon),
        [(DeliveryState::Sent, Some(SentAs::Digest)); 2]
    );
}

#[test]
fn a_failed_digest_is_retried_whole_and_sent_once() {
    let desk = Desk::new("2026-12-07T07:00:00Z");
    let _rt = desk.runtime.enter();
    let daemon = desk.daemon();
    let two = stories(1, 2);
    desk.pass(&daemon, &two);
    desk.http.set("/hook", Route::status(503));
    desk.clock.advance(HOUR);
    desk.pass(&daemon, &two);
    assert_eq!(
        desk.http.hits("/hook"),
        1,
        "one attempt for the whole digest"
    );
    assert_eq!(
        desk.deliveries(&daemon),
        [(DeliveryState::Pending, None); 2]
    );
    // An alert arriving meanwhile waits for tomorrow's digest.
    let three = stories(1, 3);
    desk.http.set("/hook", Route::status(200));
    desk.clock.advance(MINUTE);
    desk.pass(&daemon, &three);
    let calls = desk.http.requests("/hook");
    assert_eq!(calls.len(), 2);
    assert_eq!(body(&calls[1])["heading"], "Digest: 2 alerts");
    let states = desk.deliveries(&daemon);
    assert_eq!(
        states[..2],
        [(DeliveryState::Sent, Some(SentAs::Digest)); 2]
    );
    assert_eq!(states[2], (DeliveryState::Pending, None));
}

/// A sandbox whose feed file lists `items`, with a webhook `hook` at `/hook` of `http` capped
/// at 5 messages an hour, and `extra` notifier settings for it.
fn capped_desk(http: &HttpServer, items: &[(String, String)], extra: &str) -> (Sandbox, PathBuf) {
    let sandbox = Sandbox::new();
    sandbox.write("feed.xml", &rss(items));
    let config = sandbox.write(
        "config.toml",
        &format!(
            "[general]\ndatabase = \"feedwatch.db\"\nalert_on_first_fetch = true\n\n\
             [[feeds]]\nurl = \"feed.xml\"\n\n\
             [[watchlists]]\nname = \"isis-k\"\nterms = [\"ISIS-K\"]\nnotify = [\"hook\"]\n\n\
             [notifiers.hook]\ntype = \"webhook\"\nurl = \"{}\"\n{extra}\n",
            http.url("/hook")
        ),
    );
    (sandbox, config)
}

/// What `alerts --json` prints, parsed.
fn alerts_json(sandbox: &Sandbox, config: &Path) -> Vec<serde_json::Value> {
    let out = run_to_exit(sandbox.cmd(config).args(["alerts", "--json"]));
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    serde_json::from_str(&out.stdout).expect("a JSON array")
}

/// How many of the alerts' `hook` deliveries are in `state`, sent as `sent_as`.
fn count(alerts: &[serde_json::Value], state: &str, sent_as: Option<&str>) -> usize {
    alerts
        .iter()
        .flat_map(|a| a["deliveries"].as_array().unwrap())
        .filter(|d| d["state"] == state && d["sent_as"].as_str() == sent_as)
        .count()
}

#[test]
fn a_burst_beyond_max_per_hour_is_five_messages_and_one_summary() {
    let http = HttpServer::start();
    let (sandbox, config) = capped_desk(&http, &stories(1, 50), "max_per_hour = 5");
    let out = run_to_exit(sandbox.cmd(&config).arg("once"));
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let calls = http.requests("/hook");
    assert_eq!(calls.len(), 6, "5 single alerts and 1 summary");
    let bodies: Vec<serde_json::Value> = calls.iter().map(body).collect();
    assert!(bodies[..5].iter().all(|b| b.get("kind").is_none()));
    assert_eq!(bodies[5]["kind"], "summary");
    assert_eq!(bodies[5]["heading"], "45 more alerts for isis-k");
    assert_eq!(bodies[5]["alerts"].as_array().map(Vec::len), Some(45));

    let alerts = alerts_json(&sandbox, &config);
    assert_eq!(alerts.len(), 50);
    assert_eq!(count(&alerts, "sent", Some("single")), 5);
    assert_eq!(count(&alerts, "sent", Some("summary")), 45);
    let text = run_to_exit(sandbox.cmd(&config).arg("alerts")).stdout;
    assert_eq!(text.matches("(sent in a summary)").count(), 45, "{text}");

    // Ten more within the hour, after a restart: the hour is full, so they wait.
    sandbox.write("feed.xml", &rss(&stories(1, 60)));
    let out = run_to_exit(sandbox.cmd(&config).args(["once", "--all"]));
    assert_eq!(out.code(), Some(0), "held is not failing: {}", out.stderr);
    assert!(
        out.stderr.contains("10 deliveries are held"),
        "{}",
        out.stderr
    );
    assert_eq!(http.hits("/hook"), 6, "the window survived the restart");
    let alerts = alerts_json(&sandbox, &config);
    let held: Vec<&serde_json::Value> = alerts
        .iter()
        .flat_map(|a| a["deliveries"].as_array().unwrap())
        .filter(|d| d["state"] == "pending")
        .collect();
    assert_eq!(held.len(), 10);
    assert!(held.iter().all(|d| d["held_until"].is_string()), "{held:?}");
    let text = run_to_exit(sandbox.cmd(&config).arg("alerts")).stdout;
    assert_eq!(
        text.matches("hook pending held until").count(),
        10,
        "{text}"
    );
}

#[test]
fn a_digest_from_once_waits_and_goes_at_the_first_pass_after_its_time() {
    let http = HttpServer::start();
    // A schedule far off: the first pass holds the alerts.
    let (sandbox, config) = capped_desk(&http, &stories(1, 4), "digest = \"0 0 1 1 *\"");
    let out = run_to_exit(sandbox.cmd(&config).arg("once"));
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(http.hits("/hook"), 0);
    let alerts = alerts_json(&sandbox, &config);
    assert_eq!(count(&alerts, "pending", None), 4);

    // The schedule edited to every second: a digest time has passed since the alerts were
    // created, so the next start sends them, as one message.
    capped_desk_config(&sandbox, &http, "digest = \"* * * * * *\"");
    std::thread::sleep(Duration::from_millis(1100));
    let out = run_to_exit(sandbox.cmd(&config).arg("once"));
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let calls = http.requests("/hook");
    assert_eq!(calls.len(), 1);
    let digest = body(&calls[0]);
    assert_eq!(digest["heading"], "Digest: 4 alerts");
    let alerts = alerts_json(&sandbox, &config);
    assert_eq!(count(&alerts, "sent", Some("digest")), 4);
    let text = run_to_exit(sandbox.cmd(&config).arg("alerts")).stdout;
    assert_eq!(text.matches("(sent in a digest)").count(), 4, "{text}");

    // Nothing held: nothing sent.
    std::thread::sleep(Duration::from_millis(1100));
    run_to_exit(sandbox.cmd(&config).arg("once"));
    assert_eq!(http.hits("/hook"), 1);
}

/// Rewrites the config of [`capped_desk`] with other notifier settings.
fn capped_desk_config(sandbox: &Sandbox, http: &HttpServer, extra: &str) {
    sandbox.write(
        "config.toml",
        &format!(
            "[general]\ndatabase = \"feedwatch.db\"\nalert_on_first_fetch = true\n\n\
             [[feeds]]\nurl = \"feed.xml\"\n\n\
             [[watchlists]]\nname = \"isis-k\"\nterms = [\"ISIS-K\"]\nnotify = [\"hook\"]\n\n\
             [notifiers.hook]\ntype = \"webhook\"\nurl = \"{}\"\n{extra}\n",
            http.url("/hook")
        ),
    );
}

#[test]
fn thousands_of_matching_items_never_become_thousands_of_posts() {
    // One poll of a feed alerts for at most 100 items; 21 feeds of 100 make 2,100 alerts.
    let http = HttpServer::start();
    let (sandbox, config) = capped_desk(&http, &[], "max_per_hour = 5");
    let mut feeds = String::new();
    for f in 0..21 {
        sandbox.write(&format!("feed{f}.xml"), &rss(&stories(f * 100, 100)));
        feeds.push_str(&format!("[[feeds]]\nurl = \"feed{f}.xml\"\n\n"));
    }
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("[[feeds]]\nurl = \"feed.xml\"\n\n", &feeds),
    )
    .unwrap();
    let out = run_to_exit(sandbox.cmd(&config).arg("once"));
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let calls = http.requests("/hook");
    assert_eq!(calls.len(), 6, "5 single alerts and 1 summary");
    let summary = body(&calls[5]);
    assert_eq!(summary["kind"], "summary");
    // A summary carries at most a thousand alerts; the rest wait for the next hour's.
    assert_eq!(summary["alerts"].as_array().map(Vec::len), Some(995));
    assert!(
        out.stderr.contains("1100 deliveries are held"),
        "{}",
        out.stderr
    );
}
