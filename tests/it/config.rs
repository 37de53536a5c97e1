//! Config fixtures: every valid file loads, every invalid one fails with its expected
//! `FILE:LINE:COL: message`, and config.example.toml and the demo always load.

use std::path::{Path, PathBuf};
use std::process::Command;

use feedwatch::config::Config;

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    // A glob that silently matches nothing would make these tests vacuous.
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    files
}

#[test]
fn valid_fixtures_load() {
    for path in fixtures("valid") {
        if let Err(e) = Config::load(&path) {
            panic!("{} should load: {e}", path.display());
        }
    }
}

#[test]
fn includes_contribute_feeds_and_watchlists() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config/valid/with-include.toml");
    let config = Config::load(&path).unwrap();
    assert_eq!(config.feeds.len(), 1);
    assert_eq!(config.watchlists[0].name(), "from-include");
    assert!(config.watchlists[0].applies_to(&config.feeds[0], None));
}

#[test]
fn invalid_fixtures_fail_with_their_position_and_message() {
    for path in fixtures("invalid") {
        let text = std::fs::read_to_string(&path).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} lacks an `# expect:` first line", path.display()));
        let err = match Config::load(&path) {
            Ok(_) => panic!("{} should fail", path.display()),
            Err(e) => e.to_string(),
        };
        // A fixture's own included files sit in a folder named after it (`x.toml`, `x/`);
        // an error in one of them starts with that file's name instead.
        let own_includes = path.with_extension("").join("");
        assert!(
            err.starts_with(&path.display().to_string())
                || err.starts_with(&own_includes.display().to_string()),
            "{}: the error must start with the file name: {err}",
            path.display()
        );
        assert!(
            err.contains(expect),
            "{}:\n  expected: {expect}\n  got:      {err}",
            path.display()
        );
    }
}

#[test]
fn example_config_and_demo_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = Config::load(&root.join("config.example.toml")).unwrap();
    assert!(example.feeds.len() >= 3);
    assert!(example.watchlists.iter().any(|w| w.spec.terms.len() >= 3));
    let kinds: Vec<&str> = example
        .notifiers
        .values()
        .map(|n| n.kind.type_name())
        .collect();
    for kind in ["email", "webhook", "stdout"] {
        assert!(
            kinds.contains(&kind),
            "config.example.toml lacks a {kind} notifier"
        );
    }
    let demo = Config::load(&root.join("examples/demo.toml")).unwrap();
    for feed in &demo.feeds {
        let path = feed.url.to_file_path().unwrap();
        assert!(path.exists(), "demo feed {} is missing", path.display());
    }
}

/// Runs `feedwatch check` on an invalid fixture; its exit code and stderr.
fn check_invalid(fixture: &str) -> (Option<i32>, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config/invalid")
        .join(fixture);
    let out = Command::new(env!("CARGO_BIN_EXE_feedwatch"))
        .args(["--config"])
        .arg(&path)
        .arg("check")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), stderr)
}

#[test]
fn check_exits_2_with_the_line_of_a_bad_duration() {
    let (code, stderr) = check_invalid("bad-duration.toml");
    assert_eq!(code, Some(2));
    assert!(stderr.contains("bad-duration.toml:6:12:"), "{stderr}");
}

#[test]
fn check_exits_2_when_an_smtp_password_would_travel_in_clear() {
    let (code, stderr) = check_invalid("smtp-password-in-clear.toml");
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("smtp-password-in-clear.toml:10:8:"),
        "{stderr}"
    );
    assert!(stderr.contains("`?tls=required`"), "{stderr}");
    assert!(stderr.contains("`smtps://`"), "{stderr}");
}

#[test]
fn check_prints_a_summary_for_a_good_config() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_feedwatch"))
        .arg("--config")
        .arg(&path)
        .arg("check")
        .env("FEEDWATCH_SMTP_PASSWORD", "x")
        .env(
            "FEEDWATCH_WEBHOOK_SECRET",
            "whsec_ZXhhbXBsZS1jb25maWctY2hlY2sta2V5LTMyYnl0ZXM=",
        )
        .env("FEEDWATCH_MEMBERS_PASSWORD", "z")
        .env("FEEDWATCH_MEMBERS_KEY", "k")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("4 feeds, 3 watchlists"), "{stdout}");
}

#[test]
fn secrets_are_masked_in_debug_output() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = Config::load(&root.join("config.example.toml")).unwrap();
    let debug = format!("{example:?}");
    assert!(
        !debug.contains("hooks.example.org/services"),
        "webhook URL leaked into Debug"
    );
}

#[test]
fn check_reads_the_secrets_the_daemon_will_need() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_feedwatch"))
        .arg("--config")
        .arg(&path)
        .arg("check")
        .env_remove("FEEDWATCH_SMTP_PASSWORD")
        .env(
            "FEEDWATCH_WEBHOOK_SECRET",
            "whsec_ZXhhbXBsZS1jb25maWctY2hlY2sta2V5LTMyYnl0ZXM=",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("desk") && stderr.contains("FEEDWATCH_SMTP_PASSWORD"),
        "{stderr}"
    );
}
