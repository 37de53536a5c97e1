//! End to end through the real binary: feeds served over loopback HTTP, alerts received by a
//! real SMTP server and a webhook endpoint.

use std::process::Command;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::common::http::{HttpServer, Route};
use crate::common::sandbox::{RunOutput, Sandbox, run_to_exit, wait_timeout};
use crate::common::smtp::{SmtpServer, closed_smtp_url};

const HOOK_SECRET: &str = "whsec_cGlwZWxpbmUtdGVzdC1zaWduaW5nLWtleS0zMmJ5dGU=";

fn rss(items: &[(&str, &str, &str)]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Loopback News</title><link>http://news.test/</link>",
    );
    for (guid, title, link) in items {
        s.push_str(&format!(
            "<item><guid>{guid}</guid><title>{title}</title><link>{link}</link>\
             <pubDate>Thu, 26 Nov 2026 09:00:00 GMT</pubDate>\
             <description>Report about {title}</description></item>"
        ));
    }
    s.push_str("</channel></rss>");
    s
}

const BACKLOG: (&str, &str, &str) = (
    "g1",
    "Kabul market reopens after ISIS-K attack last year",
    "http://news.test/1",
);
const FRESH: (&str, &str, &str) = (
    "g2",
    "Officials blame ISIS-K for border attack",
    "http://news.test/2?utm_source=rss",
);

struct World {
    sandbox: Sandbox,
    http: HttpServer,
    smtp: SmtpServer,
    config: std::path::PathBuf,
}

impl World {
    /// A config with the given feed paths, an email and a webhook notifier.
    fn new(feeds: &[&str], smtp_url: Option<String>) -> World {
        let sandbox = Sandbox::new();
        let http = HttpServer::start();
        let smtp = SmtpServer::start();
        let smtp_url = smtp_url.unwrap_or_else(|| smtp.url());
        let mut cfg = String::from(
            "[general]\ndatabase = \"state/feedwatch.db\"\ninterval = \"10s\"\ntimeout = \"5s\"\n\n",
        );
        for (i, f) in feeds.iter().enumerate() {
            cfg.push_str(&format!(
                "[[feeds]]\nurl = \"{}\"\nname = \"Feed {i}\"\n\n",
                http.url(f)
            ));
        }
        cfg.push_str(&format!(
            r#"[[watchlists]]
name = "isis-k"
terms = ["ISIS-K", "Islamic State Khorasan"]

[notifiers.desk]
type = "email"
smtp = "{smtp_url}"
from = "feedwatch <alerts@example.org>"
to = ["desk@example.org"]
timeout = "5s"

[notifiers.chat]
type = "webhook"
url = "{}"
timeout = "5s"
secret_env = "FW_HOOK_SECRET"
"#,
            http.url("/hook")
        ));
        let config = sandbox.write("config.toml", &cfg);
        World {
            sandbox,
            http,
            smtp,
            config,
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.sandbox.cmd(&self.config);
        c.args(args).env("FW_HOOK_SECRET", HOOK_SECRET);
        c
    }

    /// Runs the binary with `args`, failing the test if it hangs.
    fn run(&self, args: &[&str]) -> RunOutput {
        run_to_exit(&mut self.cmd(args))
    }

    fn once(&self) -> RunOutput {
        self.run(&["once"])
    }

    /// A pass over every feed, due or not.
    fn once_all(&self) -> RunOutput {
        self.run(&["once", "--all"])
    }

    /// Titles of the items the webhook received, in order.
    fn hook_titles(&self) -> Vec<String> {
        self.hooks()
            .iter()
            .map(|h| h["item"]["title"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    fn hooks(&self) -> Vec<serde_json::Value> {
        self.http
            .requests("/hook")
            .iter()
            .map(|r| serde_json::from_slice(&r.body).expect("webhook body is JSON"))
            .collect()
    }
}

#[test]
fn new_item_alerts_once_by_email_and_webhook_and_backlog_stays_quiet() {
    let w = World::new(&["/feed.xml"], None);
    w.http
        .set("/feed.xml", Route::rss(&rss(&[BACKLOG])).with_etag("v1"));

    // First pass: the backlog is recorded, not alerted.
    let out = w.once();
    assert!(out.success(), "{}", out.stderr);
    assert_eq!(w.smtp.messages().len(), 0, "backlog must not alert");
    assert_eq!(w.hooks().len(), 0, "backlog must not alert");

    // A new item naming a watched term.
    w.http.set(
        "/feed.xml",
        Route::rss(&rss(&[FRESH, BACKLOG])).with_etag("v2"),
    );
    let out = w.once_all();
    assert!(out.success(), "{}", out.stderr);

    let mails = w.smtp.wait_for(1, Duration::from_secs(5));
    assert_eq!(mails.len(), 1, "exactly one email");
    let mail = &mails[0];
    assert_eq!(mail.to, vec!["desk@example.org".to_string()]);
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("[feedwatch] isis-k: Officials blame ISIS-K for border attack")
    );
    let text = mail.text_body();
    assert!(text.contains("http://news.test/2?utm_source=rss"), "{text}");
    assert!(text.contains("Feed 0"), "{text}");
    assert!(text.contains("2026-11-26T09:00:00"), "{text}");
    assert!(text.contains("**ISIS-K**"), "{text}");
    let config = w.sandbox.path("config.toml");
    let footer = format!(
        "Sent by feedwatch on {}. The watchlists are in {}.",
        host(),
        config.display()
    );
    assert!(text.contains(&footer), "{text}");
    let html = mail.html_body();
    assert!(html.contains(">ISIS-K</mark> for border attack"), "{html}");
    assert!(
        html.contains(
            "<a href=\"http://news.test/2?utm_source=rss\" style=\"color:#0b57d0;text-decoration:none;\">Officials blame ISIS-K for border attack</a>"
        ),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            "<code style=\"font-size:12px;\">{}</code>",
            config.display()
        )),
        "{html}"
    );

    let hooks = w.hooks();
    assert_eq!(hooks.len(), 1, "exactly one webhook POST");
    let req = &w.http.requests("/hook")[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.header("content-type"), Some("application/json"));
    // The receiver can check the body's origin (Standard Webhooks): HMAC-SHA256 under the
    // decoded secret over "{id}.{timestamp}.{body}".
    let h = &hooks[0];
    let id = req.header("webhook-id").unwrap();
    assert_eq!(id, h["alert_id"].as_str().unwrap());
    let timestamp = req.header("webhook-timestamp").unwrap();
    assert!(
        timestamp.parse::<i64>().is_ok_and(|t| t > 1_700_000_000),
        "{timestamp}"
    );
    let key = STANDARD
        .decode(HOOK_SECRET.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::KeyInit>::new_from_slice(&key).unwrap();
    hmac::Mac::update(&mut mac, format!("{id}.{timestamp}.").as_bytes());
    hmac::Mac::update(&mut mac, &req.body);
    let expected = STANDARD.encode(hmac::Mac::finalize(mac).into_bytes());
    assert_eq!(
        req.header("webhook-signature"),
        Some(format!("v1,{expected}").as_str())
    );
    assert_eq!(
        req.header("x-feedwatch-signature"),
        None,
        "the old header is gone"
    );
    let keys: Vec<&str> = h.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["alert_id", "feed", "item", "matches", "update", "watchlist"]
    );
    assert_eq!(h["update"], false, "a new story is no update");
    assert_eq!(h["watchlist"], "isis-k");
    assert_eq!(h["feed"]["name"], "Feed 0");
    assert_eq!(h["feed"]["url"], w.http.url("/feed.xml"));
    assert_eq!(h["item"]["guid"], "g2");
    assert_eq!(
        h["item"]["title"],
        "Officials blame ISIS-K for border attack"
    );
    assert_eq!(h["item"]["link"], "http://news.test/2?utm_source=rss");
    assert_eq!(h["item"]["published"], "2026-11-26T09:00:00+00:00");
    assert!(
        h["item"]["summary"]
            .as_str()
            .unwrap()
            .contains("Report about")
    );
    assert!(h["alert_id"].as_str().is_some_and(|s| !s.is_empty()));
    let matches = h["matches"].as_array().unwrap();
    assert!(!matches.is_empty());
    assert_eq!(matches[0]["term"], "ISIS-K");
    assert_eq!(matches[0]["field"], "title");
    assert!(matches[0]["snippet"].as_str().unwrap().contains("ISIS-K"));
    let terms: Vec<&str> = matches
        .iter()
        .map(|m| m["term"].as_str().unwrap())
        .collect();
    let mut dedup = terms.clone();
    dedup.dedup();
    assert_eq!(terms, dedup, "each term listed once");

    // The conditional GET: the second request carried the first ETag.
    let reqs = w.http.requests("/feed.xml");
    assert_eq!(reqs[1].header("if-none-match"), Some("\"v1\""));

    // Another pass, and another after a 304: nothing new.
    let out = w.once_all();
    assert!(out.success(), "{}", out.stderr);
    assert_eq!(
        w.http
            .requests("/feed.xml")
            .last()
            .unwrap()
            .header("if-none-match"),
        Some("\"v2\"")
    );
    w.http.set(
        "/feed.xml",
        Route::rss(&rss(&[FRESH, BACKLOG])).with_header("ETag", "\"v3\""),
    );
    let out = w.once_all();
    assert!(out.success(), "{}", out.stderr);
    assert_eq!(w.smtp.messages().len(), 1, "re-polls never re-alert");
    assert_eq!(w.hooks().len(), 1, "re-polls never re-alert");

    // `alerts` shows it delivered to both notifiers.
    let out = w.run(&["alerts"]);
    assert!(out.success(), "{}", out.stderr);
    assert!(
        out.stdout.contains("Officials blame ISIS-K"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("desk sent"), "{}", out.stdout);
    assert!(out.stdout.contains("chat sent"), "{}", out.stdout);
}

#[test]
fn the_same_story_in_two_feeds_alerts_once() {
    let w = World::new(&["/a.xml", "/b.xml"], None);
    w.http.set("/a.xml", Route::rss(&rss(&[BACKLOG])));
    w.http.set(
        "/b.xml",
        Route::rss(&rss(&[("b-1", "Other news", "http://news.test/other")])),
    );
    assert!(w.once().success());

    // Both feeds carry the story, with different guids and tracking parameters.
    w.http.set(
        "/a.xml",
        Route::rss(&rss(&[(
            "a-9",
            "ISIS-K claims attack",
            "http://NEWS.test/story?utm_medium=rss#top",
        )])),
    );
    w.http.set(
        "/b.xml",
        Route::rss(&rss(&[(
            "b-9",
            "ISIS-K claims attack (wire)",
            "http://news.test/story?fbclid=xyz",
        )])),
    );
    let out = w.once_all();
    assert!(out.success(), "{}", out.stderr);
    assert_eq!(w.smtp.wait_for(1, Duration::from_secs(5)).len(), 1);
    assert_eq!(w.hooks().len(), 1, "one alert per story and watchlist");
}

#[test]
fn a_broken_feed_does_not_stop_a_good_one_and_feeds_shows_the_error() {
    let w = World::new(&["/good.xml", "/broken.xml"], None);
    w.http.set("/good.xml", Route::rss(&rss(&[BACKLOG])));
    w.http.set("/broken.xml", Route::status(500));
    assert!(w.once().success());

    w.http.set("/good.xml", Route::rss(&rss(&[FRESH, BACKLOG])));
    let out = w.once_all();
    assert!(
        out.success(),
        "a failing feed is reported, not fatal: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("broken.xml"),
        "the failing feed is named: {}",
        out.stderr
    );
    assert_eq!(w.smtp.wait_for(1, Duration::from_secs(5)).len(), 1);
    assert_eq!(w.hooks().len(), 1);

    let out = w.run(&["feeds"]);
    assert!(out.success(), "{}", out.stderr);
    let broken = out
        .stdout
        .lines()
        .find(|l| l.contains("broken.xml"))
        .expect("broken feed listed");
    assert!(
        broken.contains("FAILING") && broken.contains("500"),
        "{}",
        out.stdout
    );
    let good = out
        .stdout
        .lines()
        .find(|l| l.contains("good.xml"))
        .expect("good feed listed");
    assert!(good.contains("ok (200)"), "{}", out.stdout);
}

#[test]
fn a_delivery_still_pending_makes_once_exit_1_and_shows_in_alerts() {
    let w = World::new(&["/feed.xml"], Some(closed_smtp_url()));
    w.http.set("/feed.xml", Route::rss(&rss(&[BACKLOG])));
    assert!(w.once().success());
    w.http.set("/feed.xml", Route::rss(&rss(&[FRESH, BACKLOG])));
    let out = w.once_all();
    assert_eq!(
        out.code(),
        Some(1),
        "an undelivered alert is reported: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("1 deliveries are still pending"),
        "{}",
        out.stderr
    );
    assert_eq!(
        w.hooks().len(),
        1,
        "the webhook is not held back by the mail server"
    );
    let out = w.run(&["alerts"]);
    assert!(out.stdout.contains("desk pending"), "{}", out.stdout);
    assert!(out.stdout.contains("chat sent"), "{}", out.stdout);
}

#[test]
fn sigterm_during_run_exits_0_and_loses_nothing() {
    let w = World::new(&["/feed.xml"], Some(closed_smtp_url()));
    w.http.set("/feed.xml", Route::rss(&rss(&[BACKLOG])));
    assert!(w.once().success());
    w.http.set("/feed.xml", Route::rss(&rss(&[FRESH, BACKLOG])));
    // A slow webhook: SIGTERM arrives while the daemon is in the middle of delivering.
    w.http.set(
        "/hook",
        Route::status(200).with_delay(Duration::from_millis(1500)),
    );

    let mut child = w
        .cmd(&["run"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the poll to fetch the new item and the delivery to begin.
    let started = w.http.wait_for("/hook", 1, Duration::from_secs(30));
    assert_eq!(started.len(), 1, "the daemon should start delivering");
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status =
        wait_timeout(&mut child, Duration::from_secs(15)).expect("exits within seconds of SIGTERM");
    assert_eq!(status.code(), Some(0));

    // Nothing lost: the alert is recorded, and what was not delivered is still pending.
    let db = rusqlite::Connection::open(w.sandbox.path("state/feedwatch.db")).unwrap();
    let alerts: i64 = db
        .query_row("SELECT COUNT(*) FROM alerts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(alerts, 1);
    let pending_mail: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM deliveries WHERE notifier = 'desk' AND state = 'pending'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(pending_mail, 1, "the undelivered email stays in the outbox");
    let chat: String = db
        .query_row(
            "SELECT state FROM deliveries WHERE notifier = 'chat'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    // SIGTERM lets the send in hand finish: the slow webhook answers well within the daemon's
    // shutdown grace, so it is recorded as sent, never left to be sent twice.
    assert_eq!(chat, "sent", "the webhook delivery under way at SIGTERM");
}

#[test]
fn a_second_instance_on_the_same_database_is_refused() {
    let w = World::new(&["/feed.xml"], None);
    w.http.set("/feed.xml", Route::rss(&rss(&[BACKLOG])));
    let mut daemon = w
        .cmd(&["run"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert_eq!(
        w.http
            .wait_for("/feed.xml", 1, Duration::from_secs(30))
            .len(),
        1,
        "daemon started"
    );
    let out = w.once();
    // A test alert needs no database: it works beside the daemon.
    let test = w.run(&["notify-test", "chat"]);
    let _ = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    wait_timeout(&mut daemon, Duration::from_secs(15)).expect("daemon exits");
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("another feedwatch is already running"),
        "{}",
        out.stderr
    );
    assert_eq!(test.code(), Some(0), "{}", test.stderr);
    // Once the daemon is gone, `once` works again.
    assert!(w.once().success());
}

#[test]
fn a_live_blog_listing_new_stories_under_one_page_alerts_for_each() {
    let w = World::new(&["/live.xml"], None);
    w.http.set("/live.xml", Route::rss(&rss(&[BACKLOG])));
    assert!(w.once().success());
    w.http.set(
        "/live.xml",
        Route::rss(&rss(&[(
            "p1",
            "ISIS-K claims the attack",
            "http://news.test/live#p1",
        )])),
    );
    assert!(w.once_all().success());
    w.http.set(
        "/live.xml",
        Route::rss(&rss(&[(
            "p2",
            "ISIS-K leader reported killed",
            "http://news.test/live#p2",
        )])),
    );
    assert!(w.once_all().success());
    let titles = w.hook_titles();
    assert_eq!(
        titles,
        ["ISIS-K claims the attack", "ISIS-K leader reported killed"]
    );
}

#[test]
fn a_feed_reusing_one_guid_neither_hides_new_stories_nor_repeats_old_ones() {
    let w = World::new(&["/same-guid.xml"], None);
    let old = (
        "http://news.test/",
        "ISIS-K: market news from Kabul and the provinces",
        "http://news.test/a",
    );
    let new = (
        "http://news.test/",
        "ISIS-K attack reported in Kabul province",
        "http://news.test/b",
    );
    w.http.set("/same-guid.xml", Route::rss(&rss(&[old])));
    assert!(w.once().success());
    w.http.set("/same-guid.xml", Route::rss(&rss(&[new, old])));
    assert!(w.once_all().success());
    assert!(w.once_all().success());
    let titles = w.hook_titles();
    assert_eq!(titles, ["ISIS-K attack reported in Kabul province"]);
}

#[test]
fn an_empty_first_document_does_not_make_the_backlog_news() {
    let w = World::new(&["/feed.xml"], None);
    w.http.set("/feed.xml", Route::rss(&rss(&[])));
    assert!(w.once().success());
    // The real feed appears: its existing items are the backlog, not news.
    w.http.set(
        "/feed.xml",
        Route::rss(&rss(&[
            BACKLOG,
            ("g7", "Old ISIS-K report", "http://news.test/7"),
        ])),
    );
    assert!(w.once_all().success());
    assert_eq!(
        w.hooks().len(),
        0,
        "backlog after an empty first fetch must not alert"
    );
    w.http.set("/feed.xml", Route::rss(&rss(&[FRESH, BACKLOG])));
    assert!(w.once_all().success());
    assert_eq!(w.hooks().len(), 1);
}

#[test]
fn a_flood_from_one_feed_alerts_at_most_the_cap_and_the_rest_never() {
    let w = World::new(&["/feed.xml"], None);
    w.http.set("/feed.xml", Route::rss(&rss(&[BACKLOG])));
    assert!(w.once().success());

    let flood: Vec<(String, String, String)> = (0..150)
        .map(|i| {
            (
                format!("flood-{i}"),
                format!("ISIS-K claim number {i}"),
                format!("http://news.test/flood/{i}"),
            )
        })
        .collect();
    let mut items: Vec<(&str, &str, &str)> = flood
        .iter()
        .map(|(g, t, l)| (g.as_str(), t.as_str(), l.as_str()))
        .collect();
    items.push(BACKLOG);
    w.http.set("/feed.xml", Route::rss(&rss(&items)));
    let out = run_to_exit(w.cmd(&["once", "--all"]).env("NO_COLOR", "1"));
    assert!(out.success(), "{}", out.stderr);
    let cap = feedwatch::alert::MAX_ALERTS_PER_POLL;
    assert_eq!(cap, 100, "the documented limit");
    let titles = w.hook_titles();
    assert_eq!(titles.len(), cap, "{}", out.stderr);
    // The first entries of the document are the ones that alert.
    for i in 0..cap {
        assert!(titles.contains(&format!("ISIS-K claim number {i}")), "{i}");
    }
    assert_eq!(w.smtp.wait_for(cap, Duration::from_secs(30)).len(), cap);
    let warning = out
        .stderr
        .lines()
        .find(|l| l.contains("too many alerts"))
        .unwrap_or_else(|| panic!("no warning: {}", out.stderr));
    assert!(warning.contains(&w.http.url("/feed.xml")), "{warning}");
    assert!(warning.contains("dropped=50"), "{warning}");

    // The entries beyond the cap were recorded as seen: they never alert.
    let out = w.once_all();
    assert!(out.success(), "{}", out.stderr);
    assert_eq!(w.hooks().len(), cap);
    assert!(!out.stderr.contains("too many alerts"), "{}", out.stderr);
}

/// This machine's host name, as the kernel reports it.
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .expect("the host name")
}
