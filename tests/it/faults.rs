//! The binary meeting faults a test cannot fake in process: a disk that is really full (a small
//! tmpfs in a user and mount namespace of its own), a file size limit, a file that is no
//! database, and SIGTERM while a poll and a send both hang.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::http::{HttpServer, Route};
use crate::common::sandbox::{RunOutput, Sandbox, run_to_exit, wait_timeout, wrapped};

/// A sandbox with a config on `state/feedwatch.db`, one feed file that alerts on its first fetch
/// with `items` stories, and the stdout notifier.
fn desk_with_feed(items: usize) -> (Sandbox, PathBuf) {
    let sandbox = Sandbox::new();
    let mut feed =
        String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Wire</title>");
    for i in 0..items {
        feed.push_str(&format!(
            "<item><guid>g{i}</guid><title>Story {i}: ISIS-K claims attack</title>\
             <link>http://news.test/{i}</link><description>{}</description></item>",
            "A long report on the attack and what followed. ".repeat(40)
        ));
    }
    feed.push_str("</channel></rss>");
    sandbox.write("feed.xml", &feed);
    std::fs::create_dir_all(sandbox.path("state")).unwrap();
    let config = sandbox.write(
        "config.toml",
        "[general]\ndatabase = \"state/feedwatch.db\"\nalert_on_first_fetch = true\n\n\
         [[feeds]]\nurl = \"feed.xml\"\n\n\
         [[watchlists]]\nname = \"isis-k\"\nterms = [\"ISIS-K\"]\nnotify = [\"out\"]\n\n\
         [notifiers.out]\ntype = \"stdout\"\n",
    );
    (sandbox, config)
}

/// Runs `once` with `state/` on a tmpfs of `size`, or says why it cannot.
fn once_on_a_small_disk(sandbox: &Sandbox, config: &Path, size: &str) -> Result<RunOutput, String> {
    let state = sandbox.path("state");
    let mount = format!("mount -t tmpfs -o size={size} tmpfs \"$0\"");
    let probe = Command::new("unshare")
        .args(["-rm", "sh", "-c", &mount])
        .arg(&state)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run unshare: {e}"))?;
    if !probe.status.success() {
        return Err(format!(
            "cannot mount a tmpfs in a user namespace: {}",
            String::from_utf8_lossy(&probe.stderr).trim()
        ));
    }
    let mut once = sandbox.cmd(config);
    once.args(["-q", "once"]);
    let script = format!("{mount} && shift && exec \"$@\"");
    let state = state.to_str().expect("a UTF-8 sandbox path");
    Ok(run_to_exit(&mut wrapped(
        &once,
        "unshare",
        &["-rm", "sh", "-c", &script, state, "--"],
    )))
}

#[test]
fn once_on_a_full_disk_says_so_and_names_the_database() {
    // 256 KiB fill up in the middle of the poll's commit (SQLite reports a full disk); 16 KiB
    // cannot even hold SQLite's shared-memory index (SQLite reports an I/O error).
    for size in ["256k", "16k"] {
        let (sandbox, config) = desk_with_feed(300);
        let out = match once_on_a_small_disk(&sandbox, &config, size) {
            Ok(out) => out,
            Err(why) => {
                eprintln!("skipped: {why}");
                return;
            }
        };
        assert_eq!(out.code(), Some(2), "{size}: {}", out.stderr);
        let db = sandbox.path("state/feedwatch.db").display().to_string();
        let line = out.stderr.trim();
        assert!(line.contains("the disk holding database"), "{size}: {line}");
        assert!(line.contains("is full"), "{size}: {line}");
        assert!(line.contains(&db), "{size}: {line}");
        assert!(line.contains("free space"), "{size}: {line}");
        assert!(!line.contains("disk I/O error"), "{size}: {line}");
        assert!(out.stdout.is_empty(), "nothing was sent: {}", out.stdout);
    }
}

#[test]
fn once_at_the_file_size_limit_says_so_and_names_the_database() {
    let (sandbox, config) = desk_with_feed(300);
    let mut once = sandbox.cmd(&config);
    once.args(["-q", "once"]);
    // SIGXFSZ ignored, so the write fails (EFBIG) instead of the process being killed.
    let script = "trap '' XFSZ; ulimit -f 256 || exit 97; exec \"$@\"";
    let out = run_to_exit(&mut wrapped(&once, "sh", &["-c", script, "sh"]));
    if out.code() == Some(97) {
        eprintln!(
            "skipped: cannot set a file size limit: {}",
            out.stderr.trim()
        );
        return;
    }
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    let db = sandbox.path("state/feedwatch.db").display().to_string();
    let line = out.stderr.trim();
    assert!(line.contains("file size limit of"), "{line}");
    assert!(line.contains(&db), "{line}");
    assert!(line.contains("ulimit -f"), "{line}");
    assert!(!line.contains("disk I/O error"), "{line}");
}

#[test]
fn a_file_that_is_no_database_is_reported_once() {
    let (sandbox, config) = desk_with_feed(1);
    sandbox.write("state/feedwatch.db", &"my notes\n".repeat(1000));
    let out = run_to_exit(sandbox.cmd(&config).args(["-q", "once"]));
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    let db = sandbox.path("state/feedwatch.db").display().to_string();
    let line = out.stderr.trim();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert_eq!(line.matches("not a").count(), 1, "{line}");
    assert_eq!(line.matches(&db).count(), 1, "{line}");
    assert!(line.contains("move this one away"), "{line}");
    assert!(!line.contains("Error code"), "{line}");
}

const HANG: Duration = Duration::from_secs(3600);

#[test]
fn sigterm_with_a_poll_and_a_send_both_hung_exits_0_and_keeps_the_alert() {
    let sandbox = Sandbox::new();
    let http = HttpServer::start();
    http.set(
        "/news.xml",
        Route::rss(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>News</title>\
             <item><guid>g1</guid><title>ISIS-K claims attack</title></item></channel></rss>",
        ),
    );
    http.set("/hang.xml", Route::status(200).with_delay(HANG));
    http.set("/hook", Route::status(200).with_delay(HANG));
    let config = sandbox.write(
        "config.toml",
        &format!(
            "[general]\ndatabase = \"state/feedwatch.db\"\ntimeout = \"600s\"\n\n\
             [[feeds]]\nurl = \"{news}\"\nalert_on_first_fetch = true\n\n\
             [[feeds]]\nurl = \"{hang}\"\n\n\
             [[watchlists]]\nname = \"isis-k\"\nterms = [\"ISIS-K\"]\nnotify = [\"chat\"]\n\n\
             [notifiers.chat]\ntype = \"webhook\"\nurl = \"{hook}\"\ntimeout = \"600s\"\n",
            news = http.url("/news.xml"),
            hang = http.url("/hang.xml"),
            hook = http.url("/hook"),
        ),
    );
    let mut daemon = sandbox
        .cmd(&config)
        .arg("run")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = daemon.stderr.take().unwrap();
    let log = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let polling = http.wait_for("/hang.xml", 1, Duration::from_secs(30));
    let sending = http.wait_for("/hook", 1, Duration::from_secs(30));
    assert_eq!((polling.len(), sending.len()), (1, 1), "both hang");

    let signalled = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = wait_timeout(&mut daemon, Duration::from_secs(15));
    if status.is_none() {
        let _ = daemon.kill();
        let _ = daemon.wait();
    }
    let log = log.join().unwrap();
    let status = status.unwrap_or_else(|| panic!("still running 15 s after SIGTERM:\n{log}"));
    eprintln!("stopped {:?} after SIGTERM", signalled.elapsed());
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("stopping"), "{log}");
    assert!(log.contains("some polls did not finish in time"), "{log}");
    assert!(log.contains("a delivery did not finish in time"), "{log}");

    // Nothing lost: the alert waits in the outbox, and goes out after the next start.
    let out = run_to_exit(sandbox.cmd(&config).arg("alerts"));
    assert!(out.stdout.contains("chat pending"), "{}", out.stdout);
    http.set("/hang.xml", Route::status(304));
    http.set("/hook", Route::status(200));
    let out = run_to_exit(sandbox.cmd(&config).arg("once"));
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(http.hits("/hook"), 2);
}
