//! `feedwatch preview`: exactly what each notifier type would send for one feed item, kept as
//! snapshots in `tests/it/snapshots/`. A change of format shows up as a diff to review; run
//! with `UPDATE_SNAPSHOTS=1` to accept it.

use std::path::PathBuf;

use crate::common::sandbox::{Sandbox, run_to_exit};

/// One notifier of each type, by name; URLs and tokens are placeholders (nothing is sent).
const NOTIFIERS: &str = r#"
[notifiers.email]
type = "email"
smtp = "smtp://127.0.0.1:25"
from = "feedwatch <alerts@example.org>"
to = ["desk@example.org"]

[notifiers.webhook]
type = "webhook"
url = "https://hooks.example.org/feedwatch"

[notifiers.stdout]
type = "stdout"

[notifiers.slack]
type = "slack"
url = "https://hooks.slack.com/services/T0/B0/XXXXXXXXXXXXXXXXXXXXXXXX"

[notifiers.mattermost]
type = "mattermost"
url = "https://chat.example.org/hooks/xxxxxxxxxxxxxxxxxxxxxxxxxx"
username = "feedwatch"

[notifiers.discord]
type = "discord"
url = "https://discord.com/api/webhooks/1/XXXXXXXXXXXXXXXXXXXXXXXX"

[notifiers.teams]
type = "teams"
url = "https://example.logic.azure.com/workflows/1/triggers/manual/paths/invoke"

[notifiers.googlechat]
type = "googlechat"
url = "https://chat.googleapis.com/v1/spaces/AAAA/messages?key=k&token=t"

[notifiers.ntfy]
type = "ntfy"
url = "https://ntfy.example.org/desk-alerts"

[notifiers.telegram]
type = "telegram"
bot_token = "123456:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
chat_id = -1001234567890

[notifiers.matrix]
type = "matrix"
homeserver = "https://matrix.example.org"
room_id = "!room:example.org"
access_token = "syt_XXXXXXXXXXXXXXXXXXXX"
"#;

/// A story with markup-like text in its title, as feeds have.
const FEED: &str = r#"<?xml version="1.0"?>
<rss version="2.0"><channel><title>Wire &amp; Co</title>
<item><guid>g1</guid>
<title>ISIS-K claims *attack* near Kabul &amp;amp; Herat [update]</title>
<link>https://news.example.org/story?id=1&amp;ref=rss</link>
<pubDate>Tue, 08 Dec 2026 08:14:00 GMT</pubDate>
<description>Officials said the group known as ISIS-K carried out the attack on Monday.</description>
</item></channel></rss>"#;

fn snapshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/it/snapshots/preview-{name}.txt"))
}

/// What varies between runs of the same message: the sandbox's path (in the feed's URL and
/// the email footer), the alert id derived from it, and an email's date and MIME boundary.
fn stable(text: &str, sandbox: &Sandbox) -> String {
    let root = sandbox.path("");
    // Quoted-printable soft line breaks fall wherever the sandbox's path pushes them.
    let text = text.replace("\r\n", "\n").replace("=\n", "");
    let text = text.replace(root.to_string_lossy().trim_end_matches('/'), "/SANDBOX");
    let text = hex_ids(&text);
    let boundary = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("boundary=\""))
        .map(|b| b.trim_end_matches('"').to_owned());
    let text = match boundary {
        Some(b) => text.replace(&b, "BOUNDARY"),
        None => text,
    };
    text.lines()
        .map(|l| {
            if l.starts_with("Date: ") {
                "Date: DATE"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every run of exactly 20 hex digits (an alert id) as `ALERTID`.
fn hex_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_hexdigit() {
            run.push(c);
            continue;
        }
        if run.len() == 20 {
            out.push_str("ALERTID");
        } else {
            out.push_str(&run);
        }
        run.clear();
        out.push(c);
    }
    out.pop();
    out
}

#[test]
fn preview_of_each_notifier_type_matches_its_snapshot() {
    let sandbox = Sandbox::new();
    let feed = sandbox.write("feed.xml", FEED);
    let config = sandbox.write(
        "config.toml",
        &format!(
            "[general]\ndatabase = \"feedwatch.db\"\ntimezone = \"Europe/Berlin\"\n\n\
             [[feeds]]\nurl = \"feed.xml\"\nname = \"Wire\"\n\n\
             [[watchlists]]\nname = \"isis-k\"\nterms = [\"ISIS-K\"]\n{NOTIFIERS}"
        ),
    );
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let mut differ = Vec::new();
    for name in [
        "email",
        "webhook",
        "stdout",
        "slack",
        "mattermost",
        "discord",
        "teams",
        "googlechat",
        "ntfy",
        "telegram",
        "matrix",
    ] {
        let out = run_to_exit(
            sandbox
                .cmd(&config)
                .args(["preview", name, "--item"])
                .arg(&feed)
                .env("FEEDWATCH_HOST", "desk-host"),
        );
        assert_eq!(out.code(), Some(0), "preview {name}: {}", out.stderr);
        let got = stable(&out.stdout, &sandbox);
        let path = snapshot_path(name);
        if update {
            std::fs::write(&path, &got).expect("write the snapshot");
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        if got != want {
            differ.push(format!("--- {}\n{got}", path.display()));
        }
    }
    assert!(
        differ.is_empty(),
        "preview output differs from its snapshot (UPDATE_SNAPSHOTS=1 accepts it):\n{}",
        differ.join("\n")
    );
}

#[test]
fn preview_without_an_item_shows_the_test_alert_and_sends_nothing() {
    let sandbox = Sandbox::new();
    let config = sandbox.write(
        "config.toml",
        &format!("[general]\ndatabase = \"feedwatch.db\"\n{NOTIFIERS}"),
    );
    let out = run_to_exit(sandbox.cmd(&config).args(["preview", "webhook"]));
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("the webhook body");
    assert_eq!(v["watchlist"], "notify-test");
    assert!(
        !sandbox.path("feedwatch.db").exists(),
        "preview opens no database"
    );
    let out = run_to_exit(sandbox.cmd(&config).args(["preview", "nope"]));
    assert_ne!(out.code(), Some(0));
    assert!(out.stderr.contains("nope"), "{}", out.stderr);
}
