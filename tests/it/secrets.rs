//! Secrets end to end through the real binary: credentials in feed URLs, per-feed passwords and
//! secret headers, an SMTP password sent by AUTH PLAIN, a webhook with a signing secret and a
//! token in its URL. Each reaches the one server it is meant for and nothing else: not the logs
//! at any level, not the database, not a webhook payload, not command output.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::common::http::{HttpServer, Route};
use crate::common::sandbox::{RunOutput, Sandbox, run_to_exit};
use crate::common::smtp::{Login, SmtpServer, closed_smtp_url};

const SMTP_USER: &str = "alerts@example.org";
const SMTP_PASSWORD: &str = "smtp-pa55word-of-the-desk-mailbox";
const URL_PASSWORD: &str = "url-pa55word-inside-the-feed-address";
const FEED_PASSWORD: &str = "feed-pa55word-from-the-environment";
const FEED_KEY: &str = "feed-api-key-read-from-a-file-77aa";
const HOOK_TOKEN: &str = "TOKENa1b2c3d4e5f6g7h8i9j0k1l2m3";
const HOOK_AUTH: &str = "Bearer hook-bearer-token-1a2b3c4d5e6f";
const HOOK_SECRET: &str = "whsec_c2VjcmV0cy10ZXN0LXNpZ25pbmcta2V5LTMyYnl0ZXM=";

fn rss(guid: &str, title: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Members News</title>\
         <item><guid>{guid}</guid><title>{title}</title><link>http://news.test/{guid}</link>\
         <description>Report about {title}</description></item></channel></rss>"
    )
}

/// Writes `contents` to `name` in the sandbox with this mode.
fn write_with_mode(sandbox: &Sandbox, name: &str, contents: &str, mode: u32) -> PathBuf {
    let path = sandbox.write(name, contents);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// Every form a secret could leak in: as written, percent-encoded, and base64 at each of the
/// three byte alignments it can have inside a longer encoded value (`AUTH PLAIN`, `Basic`),
/// without the edge characters that depend on the neighbouring bytes.
fn leak_forms(secret: &str) -> Vec<String> {
    let mut forms = vec![
        secret.to_owned(),
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
    ];
    for shift in 0..3 {
        let mut bytes = vec![0u8; shift];
        bytes.extend_from_slice(secret.as_bytes());
        let encoded = STANDARD.encode(&bytes);
        let start = if shift == 0 { 0 } else { 4 };
        forms.push(encoded[start..encoded.len() - 4].to_owned());
    }
    forms
}

/// Fails the test if any secret, in any of its forms, occurs in `haystack`.
fn assert_no_secret(what: &str, haystack: &[u8]) {
    let text = String::from_utf8_lossy(haystack);
    for secret in [
        SMTP_PASSWORD,
        URL_PASSWORD,
        FEED_PASSWORD,
        FEED_KEY,
        HOOK_TOKEN,
        HOOK_AUTH,
        HOOK_SECRET,
    ] {
        for form in leak_forms(secret) {
            assert!(
                !text.contains(&form),
                "{what} holds {secret:?} (as {form:?}):\n{text}"
            );
        }
    }
}

struct World {
    sandbox: Sandbox,
    http: HttpServer,
    smtp: SmtpServer,
    config: PathBuf,
}

impl World {
    fn new() -> World {
        let sandbox = Sandbox::new();
        let http = HttpServer::start();
        let smtp = SmtpServer::with_login(SMTP_USER, SMTP_PASSWORD);
        let userinfo_feed = http
            .url("/userinfo.xml")
            .replace("http://", &format!("http://reader:{URL_PASSWORD}@"));
        let smtp_url = smtp
            .url()
            .replace("smtp://", "smtp://alerts%40example.org@");
        write_with_mode(&sandbox, "feed.key", &format!("{FEED_KEY}\n"), 0o600);
        write_with_mode(&sandbox, "hook.key", &format!("{HOOK_SECRET}\n"), 0o600);
        let cfg = format!(
            r#"[general]
database = "state/feedwatch.db"
timeout = "5s"
alert_on_first_fetch = true

[[feeds]]
url = "{userinfo_feed}"

[[feeds]]
url = "{members}"
username = "member"
password_env = "FW_FEED_PASSWORD"
headers = {{ X-Api-Key = {{ file = "feed.key" }} }}

[[watchlists]]
name = "isis-k"
terms = ["ISIS-K"]

[notifiers.desk]
type = "email"
smtp = "{smtp_url}"
password_env = "FW_SMTP_PASSWORD"
from = "feedwatch <alerts@example.org>"
to = ["desk@example.org"]
timeout = "5s"

[notifiers.chat]
type = "webhook"
url = "{hook}"
headers = {{ Authorization = {{ env = "FW_HOOK_AUTH" }} }}
secret_file = "hook.key"
timeout = "5s"
"#,
            members = http.url("/members.xml"),
            hook = http.url(&format!("/hook/{HOOK_TOKEN}")),
        );
        let config = write_with_mode(&sandbox, "config.toml", &cfg, 0o600);
        World {
            sandbox,
            http,
            smtp,
            config,
        }
    }

    /// Runs `args` with every log target at trace level.
    fn run_traced(&self, args: &[&str]) -> RunOutput {
        let mut cmd: Command = self.sandbox.cmd(&self.config);
        cmd.args(args)
            .env("RUST_LOG", "trace")
            .env("FW_SMTP_PASSWORD", SMTP_PASSWORD)
            .env("FW_FEED_PASSWORD", FEED_PASSWORD)
            .env("FW_HOOK_AUTH", HOOK_AUTH);
        run_to_exit(&mut cmd)
    }
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

#[test]
fn no_secret_reaches_logs_database_payloads_or_output_even_at_trace_level() {
    let w = World::new();
    w.http.set(
        "/userinfo.xml",
        Route::rss(&rss("u1", "ISIS-K claims userinfo attack")),
    );
    w.http.set(
        "/members.xml",
        Route::rss(&rss("m1", "ISIS-K claims members attack")),
    );

    let mut outputs = Vec::new();
    for args in [&["check"][..], &["once", "--all"], &["feeds"], &["alerts"]] {
        let out = w.run_traced(args);
        assert!(out.success(), "{args:?}: {}", out.stderr);
        outputs.push((args, out));
    }
    let (_, once) = &outputs[1];
    // The log really was at trace level, lettre's own lines included.
    assert!(once.stderr.contains("TRACE"), "{}", once.stderr);

    // Each secret went where it belongs.
    assert_eq!(
        w.smtp.logins(),
        [Login {
            user: SMTP_USER.into(),
            password: SMTP_PASSWORD.into()
        }]
    );
    let userinfo = &w.http.requests("/userinfo.xml")[0];
    assert_eq!(
        userinfo.header("authorization"),
        Some(basic("reader", URL_PASSWORD).as_str())
    );
    let members = &w.http.requests("/members.xml")[0];
    assert_eq!(
        members.header("authorization"),
        Some(basic("member", FEED_PASSWORD).as_str())
    );
    assert_eq!(members.header("x-api-key"), Some(FEED_KEY));
    let mails = w.smtp.wait_for(2, Duration::from_secs(5));
    assert_eq!(mails.len(), 2, "{}", once.stderr);
    let hooks = w.http.requests(&format!("/hook/{HOOK_TOKEN}"));
    assert_eq!(hooks.len(), 2, "{}", once.stderr);
    for hook in &hooks {
        assert_eq!(hook.header("authorization"), Some(HOOK_AUTH));
        assert!(
            hook.header("webhook-signature")
                .is_some_and(|s| s.starts_with("v1,")),
        );
    }

    // The feed configured with credentials is known by its address without them.
    let clean = w.http.url("/userinfo.xml");
    let payloads: Vec<serde_json::Value> = hooks
        .iter()
        .map(|h| serde_json::from_slice(&h.body).unwrap())
        .collect();
    assert!(
        payloads.iter().any(|p| p["feed"]["url"] == clean.as_str()),
        "{payloads:?}"
    );
    assert!(
        outputs[2].1.stdout.contains(&clean),
        "{}",
        outputs[2].1.stdout
    );

    // And nowhere else.
    for (args, out) in &outputs {
        assert_no_secret(&format!("stdout of {args:?}"), out.stdout.as_bytes());
        assert_no_secret(&format!("stderr of {args:?}"), out.stderr.as_bytes());
    }
    for hook in &hooks {
        assert_no_secret("a webhook payload", &hook.body);
    }
    for mail in &mails {
        assert_no_secret("a mail", mail.raw());
    }
    let state = w.sandbox.path("state");
    let mut stored = 0;
    for entry in std::fs::read_dir(&state).unwrap() {
        let path = entry.unwrap().path();
        assert_no_secret(&path.display().to_string(), &std::fs::read(&path).unwrap());
        stored += 1;
    }
    assert!(stored >= 1, "no database in {}", state.display());
}

#[test]
fn a_webhook_refusal_that_quotes_the_request_loses_its_secrets_before_it_is_kept() {
    let w = World::new();
    w.http.set(
        "/members.xml",
        Route::rss(&rss("m1", "ISIS-K claims members attack")),
    );
    // A receiver that answers by quoting what it got, as some debug endpoints do.
    let hook = format!("/hook/{HOOK_TOKEN}");
    w.http.set(
        &hook,
        Route::status(400).with_body(format!(
            "rejected POST {hook} with Authorization: {HOOK_AUTH}"
        )),
    );
    let once = w.run_traced(&["once", "--all"]);
    assert!(!w.http.requests(&hook).is_empty(), "{}", once.stderr);
    let alerts = w.run_traced(&["alerts"]);
    assert!(
        alerts.stdout.contains("rejected POST /hook/[redacted]"),
        "the refusal is kept, without its secrets: {}",
        alerts.stdout
    );
    assert_no_secret("stderr of once", once.stderr.as_bytes());
    assert_no_secret("alerts", alerts.stdout.as_bytes());
    for entry in std::fs::read_dir(w.sandbox.path("state")).unwrap() {
        let path = entry.unwrap().path();
        assert_no_secret(&path.display().to_string(), &std::fs::read(&path).unwrap());
    }
}

/// A config whose every secret is missing, in three different ways.
fn config_missing_everything(sandbox: &Sandbox) -> PathBuf {
    let cfg = format!(
        r#"[[feeds]]
url = "https://feeds.example.org/a.xml"
headers = {{ Authorization = {{ env = "FW_TEST_UNSET_FEED_TOKEN" }} }}

[[watchlists]]
name = "w"
terms = ["x"]

[notifiers.desk]
type = "email"
smtp = "{}"
password_env = "FW_TEST_UNSET_SMTP_PASSWORD"
from = "a@example.org"
to = ["b@example.org"]

[notifiers.chat]
type = "webhook"
url = "https://hooks.example.org/hook"
secret_file = "absent.key"
"#,
        closed_smtp_url()
    );
    write_with_mode(sandbox, "config.toml", &cfg, 0o600)
}

#[test]
fn check_reports_every_missing_secret_in_one_run() {
    let sandbox = Sandbox::new();
    let config = config_missing_everything(&sandbox);
    let out = run_to_exit(sandbox.cmd(&config).arg("check"));
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    let c = config.display();
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.stderr);
    assert!(lines[0].starts_with(&format!("{c}:3:29: header Authorization of feed https://feeds.example.org/a.xml: environment variable FW_TEST_UNSET_FEED_TOKEN is not set")), "{}", out.stderr);
    assert!(lines[1].starts_with(&format!("{c}:12:16: SMTP password of notifier \"desk\": environment variable FW_TEST_UNSET_SMTP_PASSWORD is not set")), "{}", out.stderr);
    assert!(
        lines[2].starts_with(&format!(
            "{c}:19:15: signing secret of notifier \"chat\": cannot read "
        )),
        "{}",
        out.stderr
    );

    // The daemon refuses to start with the same list rather than run half-configured.
    let out = run_to_exit(sandbox.cmd(&config).arg("once"));
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 3, "{}", out.stderr);
    // Commands that only read the database do not need the secrets.
    let out = run_to_exit(sandbox.cmd(&config).arg("feeds"));
    assert!(out.success(), "{}", out.stderr);
}

#[test]
fn check_warns_about_secrets_other_users_can_read() {
    let sandbox = Sandbox::new();
    let key = write_with_mode(
        &sandbox,
        "hook.key",
        "whsec_a2V5LXdpdGgtbW9kZS0wNjQ0LWZvci1jaGVjay14eHg=\n",
        0o644,
    );
    let cfg = "[[feeds]]\nurl = \"https://u:p@feeds.example.org/a.xml\"\n\n\
               [notifiers.chat]\ntype = \"webhook\"\nurl = \"https://hooks.example.org/hook\"\n\
               secret_file = \"hook.key\"\n";
    let config = write_with_mode(&sandbox, "config.toml", cfg, 0o640);
    let out = run_to_exit(sandbox.cmd(&config).arg("check"));
    assert!(out.success(), "{}", out.stderr);
    let c = config.display();
    let k = key.display();
    assert!(out.stderr.contains(&format!(
        "warning: {c}: readable by its group (mode 0640) and holds the user name and password in the url of feed https://feeds.example.org/a.xml (at {c}:2:7)"
    )), "{}", out.stderr);
    assert!(out.stderr.contains(&format!(
        "warning: {k}: readable by its group and all other users (mode 0644) and holds the signing secret of notifier \"chat\"; run `chmod 600 {k}`"
    )), "{}", out.stderr);

    for path in [&key, &config] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let out = run_to_exit(sandbox.cmd(&config).arg("check"));
    assert!(out.success(), "{}", out.stderr);
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
}

/// `check` with `$CREDENTIALS_DIRECTORY` set as systemd sets it, or unset.
fn check_with_credentials(sandbox: &Sandbox, config: &Path, dir: Option<&Path>) -> RunOutput {
    let mut cmd = sandbox.cmd(config);
    cmd.arg("check").env_remove("CREDENTIALS_DIRECTORY");
    if let Some(dir) = dir {
        cmd.env("CREDENTIALS_DIRECTORY", dir);
    }
    run_to_exit(&mut cmd)
}

#[test]
fn relative_secret_files_come_from_systemd_credentials_when_it_provides_them() {
    let sandbox = Sandbox::new();
    let cfg = "[notifiers.chat]\ntype = \"webhook\"\nurl = \"https://hooks.example.org/hook\"\n\
               secret_file = \"hook-secret\"\n";
    let config = write_with_mode(&sandbox, "config.toml", cfg, 0o600);
    write_with_mode(
        &sandbox,
        "hook-secret",
        "whsec_a2V5LWJlc2lkZS10aGUtY29uZmlnLWZpbGUteHh4eHg=\n",
        0o600,
    );
    let credentials = sandbox.path("credentials");
    std::fs::create_dir(&credentials).unwrap();

    // From a shell: beside the config file.
    let out = check_with_credentials(&sandbox, &config, None);
    assert!(out.success(), "{}", out.stderr);

    // Under systemd: only from the credentials directory, with the unit line to add.
    let out = check_with_credentials(&sandbox, &config, Some(&credentials));
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "cannot read {}",
            credentials.join("hook-secret").display()
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("add `LoadCredential=hook-secret:/etc/feedwatch/hook-secret` to the unit"),
        "{}",
        out.stderr
    );
    write_with_mode(
        &sandbox,
        "credentials/hook-secret",
        "whsec_a2V5LWZyb20tc3lzdGVtZC1jcmVkZW50aWFscy14eHg=\n",
        0o400,
    );
    let out = check_with_credentials(&sandbox, &config, Some(&credentials));
    assert!(out.success(), "{}", out.stderr);
}

#[test]
fn feed_credentials_do_not_follow_a_redirect_to_another_origin() {
    let sandbox = Sandbox::new();
    let http = HttpServer::start();
    let other = HttpServer::start();
    http.set(
        "/private.xml",
        Route::redirect(302, &other.url("/elsewhere.xml")),
    );
    other.set("/elsewhere.xml", Route::rss(&rss("e1", "elsewhere")));
    let cfg = format!(
        "[general]\ndatabase = \"state/feedwatch.db\"\ntimeout = \"5s\"\n\n\
         [[feeds]]\nurl = \"{}\"\nusername = \"member\"\npassword_env = \"FW_FEED_PASSWORD\"\n",
        http.url("/private.xml")
    );
    let config = write_with_mode(&sandbox, "config.toml", &cfg, 0o600);
    let out = run_to_exit(
        sandbox
            .cmd(&config)
            .arg("once")
            .env("FW_FEED_PASSWORD", FEED_PASSWORD),
    );
    assert!(out.success(), "{}", out.stderr);
    assert_eq!(
        http.requests("/private.xml")[0].header("authorization"),
        Some(basic("member", FEED_PASSWORD).as_str())
    );
    let followed = other.requests("/elsewhere.xml");
    assert_eq!(followed.len(), 1, "{}", out.stderr);
    assert_eq!(
        followed[0].header("authorization"),
        None,
        "the password went to another origin"
    );
}
