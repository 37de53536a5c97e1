//! Stories that change: an item the feed listed before, whose text is edited (same guid), is
//! matched again; each watchlist that now matches and never alerted on it alerts once, as an
//! update ("Updated: …" in mail and text, `"update": true` in JSON). Through the real binary,
//! a feed served over loopback, a real SMTP server, a webhook endpoint and the stdout notifier.

use crate::common::http::{HttpServer, Route};
use crate::common::sandbox::{RunOutput, Sandbox, run_to_exit};
use crate::common::smtp::SmtpServer;

/// One entry of a served RSS document.
#[derive(Clone, Copy)]
struct Entry<'a> {
    guid: &'a str,
    title: &'a str,
    link: &'a str,
    body: &'a str,
}

fn entry<'a>(guid: &'a str, title: &'a str, body: &'a str) -> Entry<'a> {
    Entry {
        guid,
        title,
        link: "",
        body,
    }
}

fn rss(entries: &[Entry<'_>]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Loopback News</title>\
         <link>http://news.test/</link>",
    );
    for e in entries {
        let link = if e.link.is_empty() {
            format!("http://news.test/{}", e.guid)
        } else {
            e.link.to_owned()
        };
        s.push_str(&format!(
            "<item><guid>{}</guid><title>{}</title><link>{link}</link>\
             <pubDate>Thu, 26 Nov 2026 09:00:00 GMT</pubDate>\
             <description>{}</description></item>",
            e.guid, e.title, e.body
        ));
    }
    s.push_str("</channel></rss>");
    s
}

/// A quiet story that stays in every document, so no document is ever an empty backlog.
const FILLER: Entry<'static> = Entry {
    guid: "filler",
    title: "Kabul weather: a dry and sunny week ahead",
    link: "",
    body: "Forecasters expect clear skies over the capital until Friday.",
};

struct World {
    sandbox: Sandbox,
    http: HttpServer,
    smtp: SmtpServer,
    config: std::path::PathBuf,
    /// Alerts delivered so far: mails, webhook POSTs, stdout text.
    mails: usize,
    hooks: usize,
}

/// What one pass delivered.
struct Pass {
    subjects: Vec<String>,
    mail_bodies: Vec<String>,
    hooks: Vec<serde_json::Value>,
    stdout: String,
}

impl World {
    fn new() -> World {
        let sandbox = Sandbox::new();
        let http = HttpServer::start();
        let smtp = SmtpServer::start();
        let cfg = format!(
            r#"[general]
database = "state/feedwatch.db"
interval = "10s"
timeout = "5s"

[[feeds]]
url = "{feed}"
name = "Loopback"

[[watchlists]]
name = "isis-k"
terms = ["ISIS-K"]

[[watchlists]]
name = "taliban"
terms = ["Taliban"]

[notifiers.desk]
type = "email"
smtp = "{smtp}"
from = "feedwatch <alerts@example.org>"
to = ["desk@example.org"]
timeout = "5s"

[notifiers.chat]
type = "webhook"
url = "{hook}"
timeout = "5s"

[notifiers.console]
type = "stdout"
format = "text"
"#,
            feed = http.url("/feed.xml"),
            smtp = smtp.url(),
            hook = http.url("/hook"),
        );
        let config = sandbox.write("config.toml", &cfg);
        World {
            sandbox,
            http,
            smtp,
            config,
            mails: 0,
            hooks: 0,
        }
    }

    fn serve(&self, entries: &[Entry<'_>]) {
        self.http.set("/feed.xml", Route::rss(&rss(entries)));
    }

    /// Serves `entries`, runs one pass over every feed and returns what it delivered.
    fn poll(&mut self, entries: &[Entry<'_>]) -> Pass {
        self.serve(entries);
        let out: RunOutput = run_to_exit(self.sandbox.cmd(&self.config).args(["once", "--all"]));
        assert!(out.success(), "{}", out.stderr);
        // `once` delivers before it exits, and both servers record a message before answering.
        let mails = self.smtp.messages();
        let requests = self.http.requests("/hook");
        let pass = Pass {
            subjects: mails[self.mails..]
                .iter()
                .map(|m| m.header("Subject").unwrap_or_default())
                .collect(),
            mail_bodies: mails[self.mails..].iter().map(|m| m.text_body()).collect(),
            hooks: requests[self.hooks..]
                .iter()
                .map(|r| serde_json::from_slice(&r.body).expect("webhook body is JSON"))
                .collect(),
            stdout: out.stdout,
        };
        self.mails = mails.len();
        self.hooks = requests.len();
        assert_eq!(
            pass.subjects.len(),
            pass.hooks.len(),
            "every alert goes to email and webhook alike"
        );
        pass
    }
}

/// The payload's shape, as the README documents it: `update` always present, a boolean.
fn check_payload(hook: &serde_json::Value) {
    let keys: Vec<&str> = hook
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["alert_id", "feed", "item", "matches", "update", "watchlist"]
    );
    assert!(hook["update"].is_boolean(), "{hook}");
    assert!(hook["item"]["title"].is_string(), "{hook}");
    assert!(hook["alert_id"].is_string(), "{hook}");
}

#[test]
fn an_edited_headline_that_newly_names_a_watched_group_alerts_once_as_an_update() {
    let mut w = World::new();
    let blast = entry(
        "g1",
        "Blast at Kabul airport kills dozens",
        "Officials say the death toll is rising.",
    );
    let rain = entry(
        "g2",
        "Heavy rain floods roads in Herat",
        "Several districts are cut off.",
    );
    let backlog = w.poll(&[blast, rain, FILLER]);
    assert!(backlog.hooks.is_empty(), "a backlog does not alert");

    // The headline is edited to name a watched group; another story is edited, still
    // matching nothing.
    let claimed = Entry {
        title: "UPDATE: ISIS-K claims blast at Kabul airport",
        ..blast
    };
    let rain_edited = Entry {
        body: "Several districts are cut off; schools are closed.",
        ..rain
    };
    let pass = w.poll(&[claimed, rain_edited, FILLER]);
    assert_eq!(
        pass.subjects,
        ["[feedwatch] isis-k: Updated: UPDATE: ISIS-K claims blast at Kabul airport"]
    );
    assert!(
        pass.mail_bodies[0]
            .starts_with("[isis-k] Updated: UPDATE: ISIS-K claims blast at Kabul airport\n"),
        "{}",
        pass.mail_bodies[0]
    );
    assert_eq!(
        pass.hooks.len(),
        1,
        "the edit that matches nothing is quiet"
    );
    let hook = &pass.hooks[0];
    check_payload(hook);
    assert_eq!(hook["update"], true);
    assert_eq!(hook["watchlist"], "isis-k");
    assert_eq!(hook["item"]["guid"], "g1");
    assert_eq!(
        hook["item"]["title"], "UPDATE: ISIS-K claims blast at Kabul airport",
        "the title itself is the feed's; the mark is in `update`"
    );
    assert_eq!(hook["matches"][0]["term"], "ISIS-K");
    assert!(
        pass.stdout
            .contains("[isis-k] Updated: UPDATE: ISIS-K claims blast at Kabul airport\n"),
        "{}",
        pass.stdout
    );

    // The same document again: nothing.
    let again = w.poll(&[claimed, rain_edited, FILLER]);
    assert!(again.hooks.is_empty(), "{:?}", again.subjects);
    assert!(again.stdout.is_empty(), "{}", again.stdout);

    // Edited once more, still naming the group: the watchlist had its alert.
    let toll = Entry {
        title: "UPDATE 2: ISIS-K claims blast at Kabul airport, toll rises",
        ..claimed
    };
    let more = w.poll(&[toll, rain_edited, FILLER]);
    assert!(more.hooks.is_empty(), "{:?}", more.subjects);
    assert!(more.stdout.is_empty(), "{}", more.stdout);

    // Back to an earlier text: no news either.
    let back = w.poll(&[claimed, rain_edited, FILLER]);
    assert!(back.hooks.is_empty(), "{:?}", back.subjects);
}

#[test]
fn a_story_that_alerted_does_not_alert_again_when_edited_but_another_watchlist_may() {
    let mut w = World::new();
    w.poll(&[FILLER]);
    let story = entry(
        "g7",
        "Officials blame ISIS-K for border attack",
        "Two posts were overrun overnight.",
    );
    let first = w.poll(&[story, FILLER]);
    assert_eq!(
        first.subjects,
        ["[feedwatch] isis-k: Officials blame ISIS-K for border attack"],
        "a new story is no update"
    );
    check_payload(&first.hooks[0]);
    assert_eq!(first.hooks[0]["update"], false);
    assert!(
        first
            .stdout
            .contains("[isis-k] Officials blame ISIS-K for border attack\n"),
        "{}",
        first.stdout
    );

    // Edited, still naming ISIS-K: isis-k alerted on it already.
    let edited = Entry {
        title: "Officials blame ISIS-K for deadly border attack",
        ..story
    };
    let pass = w.poll(&[edited, FILLER]);
    assert!(pass.hooks.is_empty(), "{:?}", pass.subjects);

    // Edited to name the Taliban too: only that watchlist alerts, once, as an update.
    let both = Entry {
        body: "Two posts were overrun overnight; the Taliban deny any part in it.",
        ..edited
    };
    let pass = w.poll(&[both, FILLER]);
    assert_eq!(
        pass.subjects,
        ["[feedwatch] taliban: Updated: Officials blame ISIS-K for deadly border attack"]
    );
    assert_eq!(pass.hooks[0]["watchlist"], "taliban");
    assert_eq!(pass.hooks[0]["update"], true);
    assert_ne!(
        pass.hooks[0]["alert_id"], first.hooks[0]["alert_id"],
        "another watchlist, another alert"
    );
}

#[test]
fn one_story_under_two_guids_in_one_document_alerts_once() {
    let mut w = World::new();
    w.poll(&[FILLER]);
    let story = Entry {
        guid: "urn:story:41",
        title: "ISIS-K cell arrested in Peshawar",
        link: "http://news.test/peshawar-arrests",
        body: "Police say four suspects were detained.",
    };
    let copy = Entry {
        guid: "urn:story:41-amp",
        ..story
    };
    let pass = w.poll(&[story, copy, FILLER]);
    assert_eq!(
        pass.subjects,
        ["[feedwatch] isis-k: ISIS-K cell arrested in Peshawar"]
    );
    assert_eq!(pass.hooks[0]["item"]["guid"], "urn:story:41");
    let again = w.poll(&[story, copy, FILLER]);
    assert!(again.hooks.is_empty(), "{:?}", again.subjects);
}

#[test]
fn a_feed_rewriting_every_entry_on_each_poll_alerts_once_per_watchlist_and_story() {
    let mut w = World::new();
    let guids = ["s1", "s2", "s3"];
    let titles: Vec<String> = guids
        .iter()
        .map(|g| format!("Border crossing {g} reopens"))
        .collect();
    let quiet: Vec<Entry<'_>> = guids
        .iter()
        .zip(&titles)
        .map(|(g, t)| entry(g, t, "Trucks are moving again."))
        .collect();
    w.poll(&quiet);

    let mut delivered = Vec::new();
    for round in 0..3 {
        let bodies: Vec<String> = guids
            .iter()
            .map(|g| format!("ISIS-K named in report {g}, revision {round}."))
            .collect();
        let storm: Vec<Entry<'_>> = quiet
            .iter()
            .zip(&bodies)
            .map(|(e, b)| Entry { body: b, ..*e })
            .collect();
        let pass = w.poll(&storm);
        delivered.push(pass.hooks.len());
        assert!(pass.hooks.iter().all(|h| h["update"] == true));
    }
    assert_eq!(delivered, [3, 0, 0], "one update per (watchlist, story)");
}

#[test]
fn an_edit_of_a_backlog_story_that_already_named_the_group_stays_quiet() {
    let mut w = World::new();
    let old = entry(
        "b1",
        "ISIS-K claims attack in Jalalabad",
        "The group said it was behind the blast.",
    );
    let other = entry("b2", "Border crossing reopens", "Trucks are moving again.");
    let first = w.poll(&[old, other, FILLER]);
    assert!(first.hooks.is_empty(), "a new feed's backlog stays quiet");

    // The backlog story is edited, as wire stories are all day: it named the group all
    // along, so the edit is no news. The other one newly names it: that is news.
    let old_edited = Entry {
        body: "The group said it was behind the blast; the death toll rose to 12.",
        ..old
    };
    let other_edited = Entry {
        title: "Border crossing reopens after ISIS-K threat",
        ..other
    };
    let pass = w.poll(&[old_edited, other_edited, FILLER]);
    let guids: Vec<&str> = pass
        .hooks
        .iter()
        .map(|h| h["item"]["guid"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(guids, ["b2"], "{:?}", pass.subjects);
    assert_eq!(pass.hooks[0]["update"], true);
}
