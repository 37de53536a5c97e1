//! `feedwatch retry`: pending deliveries made due now, and `alerts` showing when each pending
//! delivery is next tried and why.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::common::http::{HttpServer, Route};
use crate::common::sandbox::{Sandbox, run_to_exit};

/// A sandbox whose one feed file alerts on its first fetch, to the stdout notifier `out` and,
/// `with_chat`, to a webhook `chat` at `/hook` of `http`.
fn desk(http: &HttpServer, with_chat: bool) -> (Sandbox, PathBuf) {
    let sandbox = Sandbox::new();
    sandbox.write(
        "feed.xml",
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Wire</title>\
         <item><guid>g1</guid><title>ISIS-K claims attack</title>\
         <link>http://news.test/1</link></item></channel></rss>",
    );
    let config = write_config(&sandbox, http, with_chat);
    (sandbox, config)
}

/// The config of [`desk`]: `chat` is defined only `with_chat`.
fn write_config(sandbox: &Sandbox, http: &HttpServer, with_chat: bool) -> PathBuf {
    let (notify, chat) = if with_chat {
        (
            "[\"chat\", \"out\"]",
            format!(
                "[notifiers.chat]\ntype = \"webhook\"\nurl = \"{}\"\n",
                http.url("/hook")
            ),
        )
    } else {
        ("[\"out\"]", String::new())
    };
    sandbox.write(
        "config.toml",
        &format!(
            "[general]\ndatabase = \"feedwatch.db\"\nalert_on_first_fetch = true\n\n\
             [[feeds]]\nurl = \"feed.xml\"\n\n\
             [[watchlists]]\nname = \"isis-k\"\nterms = [\"ISIS-K\"]\nnotify = {notify}\n\n\
             [notifiers.out]\ntype = \"stdout\"\n\n{chat}"
        ),
    )
}

/// What `alerts --json` prints, parsed.
fn alerts_json(sandbox: &Sandbox, config: &Path) -> serde_json::Value {
    let out = run_to_exit(sandbox.cmd(config).args(["alerts", "--json"]));
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    serde_json::from_str(&out.stdout).expect("one JSON document")
}

/// The `chat` delivery of the first alert in `alerts`, if any.
fn chat_of(alerts: &serde_json::Value) -> Option<&serde_json::Value> {
    alerts[0]["deliveries"]
        .as_array()?
        .iter()
        .find(|d| d["notifier"] == "chat")
}

/// The `chat` delivery of the one alert, as `alerts --json` prints it.
fn chat_delivery(sandbox: &Sandbox, config: &Path) -> serde_json::Value {
    let alerts = alerts_json(sandbox, config);
    assert_eq!(alerts.as_array().map(Vec::len), Some(1), "{alerts}");
    assert_eq!(alerts[0]["watchlist"], "isis-k");
    assert_eq!(alerts[0]["title"], "ISIS-K claims attack");
    assert_eq!(alerts[0]["link"], "http://news.test/1");
    assert!(alerts[0]["created_at"].is_string() && alerts[0]["id"].is_string());
    chat_of(&alerts).cloned().expect("a chat delivery")
}

#[test]
fn a_delivery_backing_off_goes_out_on_the_next_once_after_retry() {
    let http = HttpServer::start();
    http.set(
        "/hook",
        Route::status(503).with_header("retry-after", "3600"),
    );
    let (sandbox, config) = desk(&http, true);
    run_to_exit(sandbox.cmd(&config).arg("once"));
    assert_eq!(http.hits("/hook"), 1);

    let out = run_to_exit(sandbox.cmd(&config).arg("alerts"));
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("chat pending"))
        .unwrap_or_else(|| panic!("no pending chat delivery:\n{}", out.stdout));
    assert!(line.contains("next try") && line.contains("(in "), "{line}");
    assert!(
        line.contains("after 1 attempts") && line.contains("503"),
        "{line}"
    );
    let chat = chat_delivery(&sandbox, &config);
    assert_eq!(chat["state"], "pending");
    assert_eq!(chat["attempts"], 1);
    assert!(chat["next_attempt_at"].is_string(), "{chat}");
    assert!(chat["sent_at"].is_null(), "{chat}");
    assert!(
        chat["last_error"].as_str().unwrap().contains("503"),
        "{chat}"
    );

    // The receiver asked for an hour: another pass leaves it alone.
    run_to_exit(sandbox.cmd(&config).arg("once"));
    assert_eq!(http.hits("/hook"), 1);

    http.set("/hook", Route::status(200));
    let out = run_to_exit(sandbox.cmd(&config).arg("retry"));
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("due now: 1"), "{}", out.stdout);
    run_to_exit(sandbox.cmd(&config).arg("once"));
    assert_eq!(http.hits("/hook"), 2);
    let chat = chat_delivery(&sandbox, &config);
    assert_eq!(chat["state"], "sent");
    assert!(chat["sent_at"].is_string(), "{chat}");
    assert!(chat["next_attempt_at"].is_null(), "{chat}");
}

#[test]
fn retry_names_the_notifiers_it_knows_including_removed_ones_with_pending_deliveries() {
    let http = HttpServer::start();
    http.set("/hook", Route::status(503));
    let (sandbox, config) = desk(&http, true);
    // Before any database exists, the name is checked against the config alone.
    let out = run_to_exit(sandbox.cmd(&config).args(["retry", "--notifier", "nope"]));
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("defined: chat, out"), "{}", out.stderr);
    run_to_exit(sandbox.cmd(&config).arg("once"));

    let out = run_to_exit(sandbox.cmd(&config).args(["retry", "--notifier", "nope"]));
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("\"nope\""), "{}", out.stderr);
    assert!(out.stderr.contains("defined: chat, out"), "{}", out.stderr);

    // `chat` leaves the config with a delivery still pending: it can still be named.
    let config = write_config(&sandbox, &http, false);
    let out = run_to_exit(sandbox.cmd(&config).args(["retry", "--notifier", "nope"]));
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("no longer defined: chat"),
        "{}",
        out.stderr
    );
    let out = run_to_exit(sandbox.cmd(&config).args(["retry", "--notifier", "chat"]));
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("due now: 1"), "{}", out.stdout);
}

#[test]
fn a_running_daemon_sends_what_retry_made_due_before_its_dispatch_tick() {
    let http = HttpServer::start();
    http.set(
        "/hook",
        Route::status(503).with_header("retry-after", "3600"),
    );
    let (sandbox, config) = desk(&http, true);
    let mut daemon = sandbox
        .cmd(&config)
        .args(["-q", "run"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The failed attempt is recorded (an hour's wait) before `retry` runs, or it would undo it.
    let recorded = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        chat_of(&alerts_json(&sandbox, &config)).is_some_and(|d| d["attempts"] == 1)
    });
    http.set("/hook", Route::status(200));
    let out = run_to_exit(sandbox.cmd(&config).arg("retry"));
    // Well within the dispatcher's 30 s tick, so only a dispatcher that noticed sends it.
    let sent = http.wait_for("/hook", 2, Duration::from_secs(15));
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert!(recorded, "the first attempt was never recorded");
    assert!(out.stdout.contains("due now: 1"), "{}", out.stdout);
    assert_eq!(sent.len(), 2, "the retried delivery was not sent");
}
