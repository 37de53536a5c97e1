//! The command line as a user meets it: `test-match`, `inspect`, `feeds`, `notify-test`.

use std::time::Duration;

use crate::common::sandbox::{Sandbox, run_to_exit, wait_timeout, with_umask};
use crate::common::smtp::{SmtpServer, closed_smtp_url};

fn sandbox_with(smtp: &str) -> (Sandbox, std::path::PathBuf) {
    let sandbox = Sandbox::new();
    sandbox.write(
        "feeds/wire.xml",
        r#"<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>
        <item><guid>1</guid><title>Currency crisis deepens</title></item>
        <item><guid>2</guid><title>Kabul: &lt;b&gt;ISIS&amp;#8209;K&lt;/b&gt; claims attack</title></item>
        </channel></rss>"#,
    );
    let config = sandbox.write(
        "config.toml",
        &format!(
            r#"[general]
database = "fw.db"

[[feeds]]
url = "feeds/wire.xml"
name = "Wire"

[[watchlists]]
name = "isis-k"
terms = ["ISIS-K", {{ term = "ISKP", case_sensitive = true }}]
exclude = ["Olympics"]

[[watchlists]]
name = "us"
terms = [{{ term = "US", case_sensitive = true }}]

[notifiers.desk]
type = "email"
smtp = "{smtp}"
from = "feedwatch <alerts@example.org>"
to = ["desk@example.org"]
timeout = "5s"
"#
        ),
    );
    (sandbox, config)
}

#[test]
fn test_match_text_shows_watchlist_term_and_snippet() {
    let (sb, cfg) = sandbox_with(&closed_smtp_url());
    let out = run_to_exit(sb.cmd(&cfg).args([
        "test-match",
        "--text",
        "Officials blame ISIS–K for the attack",
    ]));
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("watchlist isis-k"), "{}", out.stdout);
    assert!(out.stdout.contains("**ISIS–K**"), "{}", out.stdout);
    assert!(!out.stdout.contains("watchlist us"), "{}", out.stdout);

    // A decoy: exit 1, nothing printed on stdout.
    let out =
        run_to_exit(
            sb.cmd(&cfg)
                .args(["test-match", "--text", "a currency crisis; tell us"]),
        );
    assert_eq!(out.code(), Some(1), "{}", out.stdout);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
}

#[test]
fn test_match_json_and_explain_for_a_feed_file() {
    let (sb, cfg) = sandbox_with(&closed_smtp_url());
    let out =
        run_to_exit(
            sb.cmd(&cfg)
                .args(["test-match", "--json", "--explain", "feeds/wire.xml"]),
        );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON output");
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(
        items[0]["matches"].as_array().unwrap().is_empty(),
        "crisis is not ISIS"
    );
    let hit = &items[1]["matches"][0];
    assert_eq!(hit["name"], "isis-k");
    assert_eq!(hit["hits"][0]["term"], "ISIS-K");
    assert_eq!(hit["hits"][0]["field"], "title");
    let explain = items[1]["explain"].as_array().unwrap();
    assert_eq!(explain.len(), 2, "one explanation per watchlist");
    assert_eq!(explain[0]["alerted"], true);
    assert_eq!(explain[1]["alerted"], false);

    // Only one watchlist.
    let out = run_to_exit(
        sb.cmd(&cfg)
            .args(["test-match", "--watchlist", "us", "feeds/wire.xml"]),
    );
    assert_eq!(out.code(), Some(1), "{}", out.stdout);
    let out = run_to_exit(
        sb.cmd(&cfg)
            .args(["test-match", "--watchlist", "nope", "--text", "x"]),
    );
    assert_eq!(out.code(), Some(2));
    assert!(
        out.stderr.contains("no watchlist named \"nope\""),
        "{}",
        out.stderr
    );
}

#[test]
fn test_match_stores_and_sends_nothing() {
    let smtp = SmtpServer::start();
    let (sb, cfg) = sandbox_with(&smtp.url());
    let out = run_to_exit(sb.cmd(&cfg).args(["test-match", "feeds/wire.xml"]));
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(
        !sb.path("fw.db").exists(),
        "test-match must not create the database"
    );
    assert!(smtp.messages().is_empty());
}

#[test]
fn inspect_json_reports_entries_and_ids() {
    let (sb, cfg) = sandbox_with(&closed_smtp_url());
    let out = run_to_exit(sb.cmd(&cfg).args(["inspect", "--json", "feeds/wire.xml"]));
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["entries"], 2);
    assert_eq!(v["title"], "Wire");
    assert_eq!(v["items"][1]["id"], "guid:2");

    sb.write("feeds/empty.xml", "   ");
    let out = run_to_exit(sb.cmd(&cfg).args(["inspect", "--json", "feeds/empty.xml"]));
    assert_eq!(out.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert!(v["error"].as_str().unwrap().contains("empty"), "{v}");
}

#[test]
fn notify_test_sends_through_the_named_notifier() {
    let smtp = SmtpServer::start();
    let (sb, cfg) = sandbox_with(&smtp.url());
    let out = run_to_exit(sb.cmd(&cfg).args(["notify-test", "desk"]));
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let mails = smtp.wait_for(1, Duration::from_secs(5));
    assert_eq!(mails.len(), 1);
    assert!(mails[0].header("Subject").unwrap().contains("Test alert"));

    let out = run_to_exit(sb.cmd(&cfg).args(["notify-test", "nope"]));
    assert_eq!(out.code(), Some(2));
    assert!(out.stderr.contains("defined: desk"), "{}", out.stderr);

    let (sb, cfg) = sandbox_with(&closed_smtp_url());
    let out = run_to_exit(sb.cmd(&cfg).args(["notify-test", "desk"]));
    assert_eq!(out.code(), Some(1));
    assert!(out.stderr.contains("FAILED"), "{}", out.stderr);
}

#[test]
fn feeds_lists_every_configured_feed() {
    let (sb, cfg) = sandbox_with(&closed_smtp_url());
    let out = run_to_exit(sb.cmd(&cfg).arg("feeds"));
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("never fetched"), "{}", out.stdout);
    assert!(out.stderr.contains("no database at"), "{}", out.stderr);
    assert!(
        !sb.path("fw.db").exists(),
        "`feeds` must not create the database"
    );
    let out = run_to_exit(sb.cmd(&cfg).args(["once"]));
    assert!(out.success(), "{}", out.stderr);
    let out = run_to_exit(sb.cmd(&cfg).arg("feeds"));
    let row = out.stdout.lines().find(|l| l.contains("wire.xml")).unwrap();
    assert!(row.starts_with("Wire"), "{row}");
    assert!(row.contains("ok (200)"), "{row}");
    assert!(row.contains(" 2 "), "two items seen: {row}");
}

/// The permission bits of `path`.
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn database_files_are_private_whatever_the_umask() {
    let (sb, _) = sandbox_with(&closed_smtp_url());
    let cfg = sb.write(
        "private.toml",
        "[general]\ndatabase = \"state/db/fw.db\"\n\n\
         [[feeds]]\nurl = \"feeds/wire.xml\"\n\n\
         [[watchlists]]\nname = \"w\"\nterms = [\"ISIS\"]\n\n\
         [notifiers.out]\ntype = \"stdout\"\n",
    );
    let mut run = with_umask(sb.cmd(&cfg).arg("run"), "022");
    let mut child = run
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn feedwatch run");
    // The write-ahead log and shared-memory index exist while the daemon has the database open.
    let wal = sb.path("state/db/fw.db-wal");
    let shm = sb.path("state/db/fw.db-shm");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !(wal.exists() && shm.exists()) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let modes: Vec<(&str, u32, u32)> = [
        ("state", 0o700),
        ("state/db", 0o700),
        ("state/db/fw.db", 0o600),
        ("state/db/fw.db-wal", 0o600),
        ("state/db/fw.db-shm", 0o600),
        ("state/db/fw.db.lock", 0o600),
    ]
    .into_iter()
    .map(|(name, want)| (name, want, mode(&sb.path(name))))
    .collect();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    if wait_timeout(&mut child, Duration::from_secs(30)).is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    for (name, want, got) in modes {
        assert_eq!(got, want, "{name}: {got:o}");
    }
    // A file written under the same umask, for contrast: the umask alone would allow reading.
    let probe = with_umask(
        std::process::Command::new("touch")
            .arg("probe")
            .current_dir(sb.path("")),
        "022",
    )
    .status()
    .unwrap();
    assert!(probe.success());
    assert_eq!(mode(&sb.path("probe")), 0o644);
}

#[test]
fn inspect_and_test_match_read_files_under_max_body_size() {
    let (sb, _) = sandbox_with(&closed_smtp_url());
    let cfg = sb.write(
        "small.toml",
        "[general]\nmax_body_size = \"64 KiB\"\n\n\
         [[watchlists]]\nname = \"w\"\nterms = [\"ISIS\"]\n\n\
         [notifiers.out]\ntype = \"stdout\"\n",
    );
    // A gigabyte that takes no disk: reading it whole would take a gigabyte of memory.
    let big = std::fs::File::create(sb.path("big.xml")).unwrap();
    big.set_len(1 << 30).unwrap();
    drop(big);

    let out = run_to_exit(sb.cmd(&cfg).args(["inspect", "big.xml"]));
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("larger than 64 KiB"), "{}", out.stderr);
    let out = run_to_exit(sb.cmd(&cfg).args(["test-match", "big.xml"]));
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("larger than 64 KiB"), "{}", out.stderr);

    // Within the cap, files read as before.
    let out = run_to_exit(sb.cmd(&cfg).args(["test-match", "feeds/wire.xml"]));
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let out = run_to_exit(sb.cmd(&cfg).args(["inspect", "missing.xml"]));
    assert_eq!(out.code(), Some(1));
    assert!(out.stderr.contains("missing.xml"), "{}", out.stderr);
    assert_eq!(
        out.stderr.matches("No such file").count(),
        1,
        "{}",
        out.stderr
    );
}

#[test]
fn a_login_in_a_url_given_to_inspect_travels_as_a_header_and_is_never_printed() {
    let http = crate::common::http::HttpServer::start();
    http.set(
        "/members.xml",
        crate::common::http::Route::rss(
            r#"<?xml version="1.0"?><rss version="2.0"><channel><title>Members</title>
            <item><guid>1</guid><title>Inside news</title></item></channel></rss>"#,
        ),
    );
    let (sb, cfg) = sandbox_with(&closed_smtp_url());
    let url = http
        .url("/members.xml")
        .replace("http://", "http://reader:s3cret-pw@");
    let out = run_to_exit(sb.cmd(&cfg).args(["inspect", &url]));
    assert!(out.success(), "{}", out.stderr);
    assert!(out.stdout.contains("Inside news"), "{}", out.stdout);
    let sent = http.requests("/members.xml");
    // "reader:s3cret-pw" in Base64.
    assert_eq!(
        sent[0].header("authorization"),
        Some("Basic cmVhZGVyOnMzY3JldC1wdw==")
    );
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains("s3cret-pw"), "{text}");
    }
    let bad = run_to_exit(
        sb.cmd(&cfg)
            .args(["inspect", "http://reader:s3cret-pw@[bad"]),
    );
    assert!(!bad.stderr.contains("s3cret-pw"), "{}", bad.stderr);
    assert!(bad.stderr.contains("invalid URL"), "{}", bad.stderr);
}
