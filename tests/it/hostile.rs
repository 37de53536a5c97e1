//! Hostile feeds: unterminated markup repeated must cost linear time; bodies up to
//! `max_body_size` of any shape must cost bounded memory; text made to forge log lines or
//! drive a terminal must reach neither. No test here measures time; each input is large enough
//! that quadratic work would keep the test suite from finishing.

use feedwatch::parse::{ParseError, parse_feed};
use feedwatch::text::{html_to_text, is_unsafe};
use nix::sys::resource::{UsageWho, getrusage};

use crate::common::http::{HttpServer, Route};
use crate::common::sandbox::{Sandbox, run_to_exit};
use crate::common::smtp::SmtpServer;

/// About 4 MB of `unit`.
fn hostile(unit: &str) -> String {
    unit.repeat((4 << 20) / unit.len())
}

/// An RSS feed of three items whose middle one has `title` (raw XML) as its title.
fn feed_around(title: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>\
         <item><title>first</title><guid>1</guid></item>\
         <item><title>{title}</title><guid>2</guid></item>\
         <item><title>last</title><guid>3</guid></item></channel></rss>"
    )
}

fn titles(doc: &str) -> Vec<String> {
    parse_feed(doc.as_bytes(), None, None)
        .expect("parsed")
        .items
        .into_iter()
        .map(|i| i.title)
        .collect()
}

#[test]
fn markup_in_a_title_that_never_ends_is_text() {
    for unit in ["<a", "<!x", "<!--", "<script", "</", "<a b=\""] {
        let junk = hostile(unit);
        let titles = titles(&feed_around(&format!("<![CDATA[{junk}]]>")));
        assert_eq!(titles.len(), 3, "{unit:?}");
        assert_eq!((titles[0].as_str(), titles[2].as_str()), ("first", "last"));
        let expected = if unit == "<!--" { "" } else { junk.as_str() };
        assert_eq!(html_to_text(&titles[1]), expected, "{unit:?}");
    }
}

#[test]
fn unterminated_xml_markup_keeps_the_items_after_it() {
    for unit in ["<![CDATA[x", "<!--x", "<?x", "<!x", "&", "&amp"] {
        let junk = hostile(unit);
        let titles = titles(&feed_around(&junk));
        assert_eq!(titles.len(), 3, "{unit:?}");
        assert_eq!((titles[0].as_str(), titles[2].as_str()), ("first", "last"));
        assert_eq!(titles[1], junk, "{unit:?}");
    }
}

#[test]
fn escaped_markup_floods() {
    let junk = hostile("&lt;a");
    assert_eq!(html_to_text(&junk), "<a".repeat(junk.len() / 5));
    let junk = hostile("&amp;lt;!--");
    assert_eq!(html_to_text(&junk), "");
}

/// The largest body a feed may have by default (`general.max_body_size`), less a little.
const BODY: usize = (10 << 20) - 64;

const JSON_HEAD: &str =
    r#"{"version": "https://jsonfeed.org/version/1.1", "title": "T", "items": ["#;

/// A JSON Feed of `n` empty items filling `BODY`, and `n`.
fn json_of_tiny_items() -> (String, usize) {
    let n = (BODY - JSON_HEAD.len() - 2) / 3;
    let mut doc = String::with_capacity(BODY);
    doc.push_str(JSON_HEAD);
    doc.push_str("{}");
    for _ in 1..n {
        doc.push_str(",{}");
    }
    doc.push_str("]}");
    (doc, n)
}

/// Arrays nested five million deep in an item's title.
fn json_nested_deep() -> String {
    let depth = (BODY - JSON_HEAD.len()) / 2 - 16;
    format!(
        "{JSON_HEAD}{{\"title\": {}{}}}]}}",
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

/// One item whose title is a single string of almost `BODY` bytes.
fn json_huge_string() -> String {
    let len = BODY - JSON_HEAD.len() - 32;
    format!(
        "{JSON_HEAD}{{\"id\": \"1\", \"title\": \"{}\"}}]}}",
        "a".repeat(len)
    )
}

/// Numbers of a million digits where an id, a title and a date go.
fn json_huge_numbers() -> String {
    let digits = "9".repeat(1_000_000);
    format!(
        "{JSON_HEAD}{{\"id\": {digits}, \"title\": \"first\"}}, \
         {{\"id\": \"2\", \"title\": -{digits}.5e{digits}, \"date_published\": {digits}}}]}}"
    )
}

/// RSS of 10,000 entries filling `BODY` with Media RSS groups, the elements the strict parser
/// spends most on (2.5 KB each).
fn xml_media_groups() -> String {
    let head = "<?xml version=\"1.0\"?><rss version=\"2.0\" \
                xmlns:media=\"http://search.yahoo.com/mrss/\"><channel><title>t</title>";
    let group = "<media:group><media:content url=\"x\"/></media:group>";
    let per_item = (BODY - head.len() - 64) / 10_000;
    let groups = group.repeat((per_item - 40) / group.len());
    let mut doc = String::with_capacity(BODY);
    doc.push_str(head);
    for i in 0..10_000 {
        doc.push_str(&format!("<item><guid>{i}</guid>{groups}</item>"));
    }
    doc.push_str("</channel></rss>");
    doc
}

/// RSS of one entry whose description fills `BODY`.
fn xml_huge_description() -> String {
    let head = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>\
                <item><guid>1</guid><title>ISIS-K</title><description>";
    let tail = "</description></item></channel></rss>";
    let words = "word ".repeat((BODY - head.len() - tail.len()) / 5);
    format!("{head}{words}{tail}")
}

/// An XML feed filling `BODY` with empty entries: `<item/>` in RSS, `<entry/>` in Atom.
fn xml_of_tiny_items(atom: bool) -> (String, usize) {
    let (head, unit, tail) = if atom {
        (
            "<?xml version=\"1.0\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"><title>t</title>",
            "<entry/>",
            "</feed>",
        )
    } else {
        (
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>",
            "<item/>",
            "</channel></rss>",
        )
    };
    let n = (BODY - head.len() - tail.len()) / unit.len();
    (format!("{head}{}{tail}", unit.repeat(n)), n)
}

fn capped_warning(n: usize) -> String {
    format!("feed has {n} items; only the first 10000 were kept")
}

#[test]
fn hostile_json_feeds_give_clear_outcomes() {
    let (doc, n) = json_of_tiny_items();
    let feed = parse_feed(doc.as_bytes(), None, None).expect("tiny items");
    assert_eq!(feed.items.len(), 10_000);
    assert!(
        feed.warnings.iter().any(|w| w.contains(&capped_warning(n))),
        "{:?}",
        feed.warnings
    );

    let err = parse_feed(json_nested_deep().as_bytes(), None, None).expect_err("too deep");
    assert!(matches!(err, ParseError::TooDeep(512)), "{err}");
    assert!(err.to_string().contains("depth limit of 512"), "{err}");

    let feed = parse_feed(json_huge_string().as_bytes(), None, None).expect("huge string");
    assert_eq!(feed.items.len(), 1);
    assert_eq!(feed.items[0].title.len(), 64 << 10, "cut to 64 KiB");

    let feed = parse_feed(json_huge_numbers().as_bytes(), None, None).expect("huge numbers");
    let (first, second) = (&feed.items[0], &feed.items[1]);
    let guid = first.guid.as_deref().unwrap_or_default();
    assert!(
        guid.starts_with("999") && guid.len() == 64 << 10,
        "{}",
        guid.len()
    );
    assert_eq!(first.title, "first");
    assert_eq!(second.guid.as_deref(), Some("2"));
    assert_eq!((second.title.as_str(), second.published), ("", None));
}

/// A JSON Feed filling `BODY` with distinct items that all name a watched term.
fn json_of_matching_items() -> String {
    let mut doc = String::with_capacity(BODY);
    doc.push_str(JSON_HEAD);
    let mut i = 0;
    while doc.len() < BODY - 64 {
        if i > 0 {
            doc.push(',');
        }
        doc.push_str(&format!(r#"{{"id": {i}, "title": "ISIS-K {i}"}}"#));
        i += 1;
    }
    doc.push_str("]}");
    doc
}

/// The largest peak resident set, in MiB, of the children this process has waited for.
fn children_peak_mib() -> i64 {
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    // Linux reports kibibytes.
    usage.max_rss() / 1024
}

/// Set in the copy of this test binary that measures memory.
const MEASURING: &str = "FEEDWATCH_TEST_MEASURING";

/// Makes one hostile body, and the entries `inspect` finds in it (`None`: it refuses the
/// document as too deep; the flood is only polled).
type Shape = fn() -> (String, Option<usize>);

/// The bodies `inspect_and_a_poll_stay_under_100_mb_whatever_the_body` reads, by file name.
fn shapes() -> [(&'static str, Shape); 9] {
    [
        ("tiny.json", || {
            let (doc, n) = json_of_tiny_items();
            (doc, Some(n))
        }),
        ("deep.json", || (json_nested_deep(), None)),
        ("string.json", || (json_huge_string(), Some(1))),
        ("numbers.json", || (json_huge_numbers(), Some(2))),
        ("tiny.rss", || {
            let (doc, n) = xml_of_tiny_items(false);
            (doc, Some(n))
        }),
        ("tiny.atom", || {
            let (doc, n) = xml_of_tiny_items(true);
            (doc, Some(n))
        }),
        ("media.rss", || (xml_media_groups(), Some(10_000))),
        ("description.rss", || (xml_huge_description(), Some(1))),
        ("flood.json", || (json_of_matching_items(), None)),
    ]
}

#[test]
fn inspect_and_a_poll_stay_under_100_mb_whatever_the_body() {
    // The peak the kernel reports for a child includes its parent's at the moment the child
    // started (until `exec`, the memory was the parent's), and this test process, running
    // every other test too, grows large. So a fresh copy of it, running only this test and
    // writing one body at a time, starts the runs it measures.
    if std::env::var_os(MEASURING).is_none() {
        let name = "hostile::inspect_and_a_poll_stay_under_100_mb_whatever_the_body";
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", name, "--nocapture", "--test-threads=1"])
            .env(MEASURING, "1")
            .output()
            .expect("run this test alone");
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains("1 passed"), "{stdout}");
        return;
    }
    let sb = Sandbox::new();
    let mut expected = Vec::new();
    for (name, make) in shapes() {
        let (body, entries) = make();
        assert!(body.len() <= 10 << 20, "{name} is within max_body_size");
        expected.push((name, entries, sb.write(name, &body)));
    }
    let cfg = sb.write(
        "config.toml",
        &format!(
            "[general]\ndatabase = \"fw.db\"\n\n\
             [[feeds]]\nurl = \"file://{}\"\nalert_on_first_fetch = true\n\n\
             [[feeds]]\nurl = \"file://{}\"\nalert_on_first_fetch = true\n\n\
             [[watchlists]]\nname = \"w\"\nterms = [\"ISIS-K\"]\n\n\
             [notifiers.out]\ntype = \"stdout\"\n",
            expected[8].2.display(),
            expected[4].2.display()
        ),
    );
    // Every child starts with at most this process's own peak, well below what is asserted.
    // (`getrusage` would report the peak of the process that started this one.)
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let own: i64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        .expect("VmHWM")
        / 1024;
    assert!(
        own < 50,
        "this process is too large to measure with: {own} MiB"
    );
    for (name, entries, _) in &expected[..8] {
        let out = run_to_exit(sb.cmd(&cfg).args(["inspect", "--json", name]));
        let v: serde_json::Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{name}: {e}: {}", out.stderr));
        match entries {
            Some(n) => {
                assert_eq!(v["ok"], true, "{name}: {v}");
                assert_eq!(v["entries"], (*n).min(10_000), "{name}");
                if *n > 10_000 {
                    let warnings = v["warnings"].to_string();
                    assert!(warnings.contains(&capped_warning(*n)), "{name}: {warnings}");
                }
            }
            None => {
                let error = v["error"].as_str().unwrap_or_default();
                assert!(error.contains("depth limit"), "{name}: {v}");
            }
        }
        eprintln!("inspect {name}: peak so far {} MiB", children_peak_mib());
    }
    // A poll reads, dedups, matches and records the flood and the RSS feed, alerting at most
    // the cap.
    let out = run_to_exit(sb.cmd(&cfg).args(["once", "--all"]));
    assert!(out.success(), "{}", out.stderr);
    assert_eq!(out.stdout.matches("[w] ISIS-K").count(), 100);
    let peak = children_peak_mib();
    eprintln!("once: peak so far {peak} MiB");
    assert!(peak <= 100, "a child reached {peak} MiB");
}

/// Text a feed crafts to forge a log line, colour a terminal and break a line where terminals
/// and log viewers do.
const FORGED: &str = "\n2026-01-01T00:00:00Z  INFO fake line\r\x1b[31mred\u{2028}sep\u{2029}";

/// Fails when `text` (one command's stdout or stderr) holds a raw control character other
/// than the line ends feedwatch writes, or a line that starts as the forged one.
fn assert_clean(what: &str, text: &str) {
    for line in text.split('\n') {
        assert!(
            !line.chars().any(is_unsafe),
            "{what}: raw control character in {line:?}"
        );
        assert!(
            !line
                .trim_start()
                .starts_with("2026-01-01T00:00:00Z  INFO fake"),
            "{what}: forged line {line:?}"
        );
    }
}

#[test]
fn feed_text_forges_no_line_and_drives_no_terminal() {
    let http = HttpServer::start();
    let smtp = SmtpServer::start();
    http.set(
        "/feed.xml",
        Route::rss(&format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Wire{FORGED}</title>\
             <item><guid>1</guid><title>ISIS-K claims{FORGED}</title>\
             <link>/story{FORGED}</link><description>Report on ISIS-K{FORGED}</description></item>\
             <item><guid>2</guid><title>ISIS-K again &amp;#27;[31m</title>\
             <link>http://bad host/{FORGED}</link></item></channel></rss>"
        )),
    );
    http.set(
        "/page.html",
        Route::ok(
            format!(
                "<!DOCTYPE html><html><head><link rel=\"alternate\" \
                 type=\"application/rss+xml\" href=\"http://bad host/feed{FORGED}\"></head></html>"
            ),
            "text/html",
        ),
    );
    // The root element's name is quoted in the error.
    http.set("/odd.xml", Route::rss("<odd\x1b[31mred\u{9b}2J/>"));
    let sb = Sandbox::new();
    let cfg = sb.write(
        "config.toml",
        &format!(
            "[general]\ndatabase = \"fw.db\"\ntimeout = \"5s\"\n\n\
             [[feeds]]\nurl = \"{}\"\nalert_on_first_fetch = true\n\n\
             [[feeds]]\nurl = \"{}\"\n\n[[feeds]]\nurl = \"{}\"\n\n\
             [[watchlists]]\nname = \"isis-k\"\nterms = [\"ISIS-K\"]\n\n\
             [notifiers.out]\ntype = \"stdout\"\n\n\
             [notifiers.desk]\ntype = \"email\"\nsmtp = \"{}\"\n\
             from = \"feedwatch <alerts@example.org>\"\nto = [\"desk@example.org\"]\n\
             timeout = \"5s\"\n",
            http.url("/feed.xml"),
            http.url("/page.html"),
            http.url("/odd.xml"),
            smtp.url()
        ),
    );
    let run = |args: &[&str]| run_to_exit(sb.cmd(&cfg).args(args).env("NO_COLOR", "1"));

    let out = run(&["once"]);
    assert!(out.success(), "{}", out.stderr);
    assert_eq!(
        out.stdout.matches("[isis-k] ISIS-K").count(),
        2,
        "{}",
        out.stdout
    );
    // The failures were logged, with the feed's text escaped rather than dropped.
    assert_eq!(
        out.stderr.matches("feed failed").count(),
        2,
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("\\u{1b}[31mred"), "{}", out.stderr);
    assert_clean("once stdout", &out.stdout);
    assert_clean("once stderr", &out.stderr);

    let mails = smtp.wait_for(2, std::time::Duration::from_secs(10));
    assert_eq!(mails.len(), 2);
    for mail in &mails {
        assert_clean("mail", &mail.text_body().replace('\r', ""));
    }

    let feed = http.url("/feed.xml");
    let commands: [&[&str]; 9] = [
        &["feeds"],
        &["alerts"],
        &["inspect", &feed],
        &["inspect", "--json", &feed],
        &["inspect", &http.url("/page.html")],
        &["inspect", &http.url("/odd.xml")],
        &["test-match", &feed],
        &["test-match", "--explain", &feed],
        &["test-match", "--json", "--explain", &feed],
    ];
    for args in commands {
        let out = run(args);
        assert!(!out.stdout.is_empty() || !out.stderr.is_empty(), "{args:?}");
        assert_clean(&format!("{args:?} stdout"), &out.stdout);
        assert_clean(&format!("{args:?} stderr"), &out.stderr);
    }
}
