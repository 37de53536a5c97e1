//! Chat notifiers against loopback fakes of each platform. Each fake checks every payload
//! against the platform's documented schema and limits and answers `400` with its complaint when
//! one fails, as the platform would; the tests then read what feedwatch made of the answers.
//!
//! The one feed item is hostile: its title tries markup, mentions and links in every syntax, so
//! each platform's escaping is put to the test.

mod discord;
mod googlechat;
mod matrix;
mod mattermost;
mod ntfy;
mod slack;
mod teams;
mod telegram;

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::common::http::{Check, HttpServer, Request, Route};
use crate::common::sandbox::{RunOutput, Sandbox, run_to_exit};

/// The item's title as feedwatch reads it: mentions, markup and a link in every chat syntax,
/// which must all arrive as plain text.
pub const TITLE: &str = "ISIS-K claims @everyone <@U123> *attack* [x](http://evil.test) & co";

/// The item's link; `&` and `|` are special in several chat syntaxes.
pub const LINK: &str = "http://news.test/story?a=1&b=2";

/// A feed, a watchlist and one chat notifier `chat`, at a fake platform.
pub struct Chat {
    pub sandbox: Sandbox,
    pub http: HttpServer,
    config: PathBuf,
    /// Set in every run's environment (secrets the config names by `*_env`).
    env: Vec<(String, String)>,
}

impl Chat {
    /// `notifier` is the body of `[notifiers.chat]`; `{base}` in it stands for the fake's
    /// `http://127.0.0.1:PORT`. `path` is where the platform takes messages, checked by `check`.
    pub fn new(notifier: &str, path: &str, check: Check) -> Chat {
        let sandbox = Sandbox::new();
        let http = HttpServer::start();
        http.check(path, check);
        // Escaped twice: once for XML, once because a title is HTML.
        let title = TITLE
            .replace('&', "&amp;amp;")
            .replace('<', "&amp;lt;")
            .replace('>', "&amp;gt;");
        sandbox.write(
            "feed.xml",
            &format!(
                "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Wire &amp; Co</title>\
                 <item><guid>g1</guid><title>{title}</title><link>{}</link>\
                 <pubDate>Tue, 08 Dec 2026 08:14:00 GMT</pubDate>\
                 <description>Officials said ISIS-K carried out the attack.</description>\
                 </item></channel></rss>",
                LINK.replace('&', "&amp;")
            ),
        );
        let base = http.url("");
        let notifier = notifier.replace("{base}", base.trim_end_matches('/'));
        let config = sandbox.write(
            "config.toml",
            &format!(
                "[general]\ndatabase = \"feedwatch.db\"\nalert_on_first_fetch = true\n\
                 timezone = \"Europe/Berlin\"\n\n\
                 [[feeds]]\nurl = \"feed.xml\"\n\n\
                 [[watchlists]]\nname = \"isis-k\"\nterms = [\"ISIS-K\"]\nnotify = [\"chat\"]\n\n\
                 [notifiers.chat]\n{notifier}\ntimeout = \"5s\"\n"
            ),
        );
        Chat {
            sandbox,
            http,
            config,
            env: Vec::new(),
        }
    }

    /// This chat, with `key` set to `value` in every run's environment.
    pub fn with_env(mut self, key: &str, value: &str) -> Chat {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Runs `feedwatch ARGS`.
    pub fn run(&self, args: &[&str]) -> RunOutput {
        let mut cmd = self.sandbox.cmd(&self.config);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        run_to_exit(cmd.args(args))
    }

    /// The one alert's delivery, as `alerts --json` shows it.
    pub fn delivery(&self) -> serde_json::Value {
        let out = self.run(&["alerts", "--json"]);
        assert_eq!(out.code(), Some(0), "{}", out.stderr);
        let alerts: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
        alerts[0]["deliveries"][0].clone()
    }
}

/// The fake accepts the message feedwatch sends, with no complaint; returns it.
pub fn accepted(chat: &Chat, path: &str) -> Request {
    let out = chat.run(&["once"]);
    assert_eq!(
        chat.http.refused(path),
        Vec::<String>::new(),
        "the platform's schema refused the payload"
    );
    let requests = chat.http.requests(path);
    assert_eq!(requests.len(), 1, "one message; stderr:\n{}", out.stderr);
    assert_eq!(chat.delivery()["state"], "sent", "{}", out.stderr);
    requests.into_iter().next().expect("one request")
}

/// The platform answers `429` with its retry hint of half an hour (`limited`): the notifier waits
/// that long, not its own first backoff of 30 s, and the alert stays pending.
pub fn honours_rate_limit(chat: &Chat, path: &str, limited: Route) {
    chat.http.queue(path, [limited]);
    let before = Utc::now();
    chat.run(&["once"]);
    assert_eq!(chat.http.hits(path), 1);
    let d = chat.delivery();
    assert_eq!(d["state"], "pending", "{d}");
    let next: DateTime<Utc> = d["next_attempt_at"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("a next attempt: {d}"));
    let wait = (next - before).num_seconds();
    assert!(
        (1700..=1900).contains(&wait),
        "waits as asked (1800 s), not by its own backoff: {wait} s"
    );
    // Nothing is lost: made due again, it goes out.
    assert_eq!(chat.run(&["retry"]).code(), Some(0));
    chat.run(&["once"]);
    assert_eq!(chat.http.hits(path), 2);
    assert_eq!(chat.delivery()["state"], "sent");
}

/// The platform answers `400` to every try: the alert gets three tries in all, then is given
/// up, while a passing failure would be retried for days.
pub fn gives_up_on_400(chat: &Chat, path: &str, refusal: Route) {
    chat.http.set(path, refusal);
    for attempt in 1..=3 {
        chat.run(&["once"]);
        assert_eq!(chat.http.hits(path), attempt);
        chat.run(&["retry"]);
    }
    chat.run(&["once"]);
    assert_eq!(chat.http.hits(path), 3, "no fourth try");
    let d = chat.delivery();
    assert_eq!(d["state"], "failed", "{d}");
    assert!(
        d["last_error"].as_str().unwrap_or_default().contains("400"),
        "{d}"
    );
}

/// The body as JSON, or the reason it is not.
pub fn json(r: &Request) -> Result<serde_json::Value, String> {
    if !r
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/json"))
    {
        return Err("Content-Type must be application/json".into());
    }
    serde_json::from_slice(&r.body).map_err(|e| format!("invalid JSON: {e}"))
}

/// A string field of at most `max` characters.
pub fn text_at_most<'a>(
    v: &'a serde_json::Value,
    what: &str,
    max: usize,
) -> Result<&'a str, String> {
    let text = v
        .as_str()
        .ok_or_else(|| format!("{what} must be a string"))?;
    if text.chars().count() > max {
        return Err(format!("{what} is longer than {max} characters"));
    }
    if text.is_empty() {
        return Err(format!("{what} must not be empty"));
    }
    Ok(text)
}
