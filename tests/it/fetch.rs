//! Polling misbehaving servers: conditional GET, rate limits, backoff and recovery, trickles,
//! bombs, redirect loops, pages that are not feeds, wrong charsets, hostile neighbours.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::common::http::{HttpServer, Route, gzip_bomb};
use crate::common::sandbox::{RunOutput, Sandbox, run_to_exit};

fn rss(title: &str, guid: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel><title>T</title>\
         <item><guid>{guid}</guid><title>{title}</title><link>http://news.test/{guid}</link></item>\
         </channel></rss>"
    )
}

struct Poller {
    sandbox: Sandbox,
    http: HttpServer,
    config: PathBuf,
}

impl Poller {
    /// Feeds at `paths` (with extra TOML lines each), a watchlist for "Zürich" and "ISIS-K",
    /// alerts on stdout as JSON, alerting from the first fetch.
    fn new(feeds: &[(&str, &str)]) -> Poller {
        let sandbox = Sandbox::new();
        let http = HttpServer::start();
        let mut cfg = String::from(
            "[general]\ndatabase = \"fw.db\"\ninterval = \"10m\"\ntimeout = \"8s\"\nalert_on_first_fetch = true\n\n",
        );
        for (path, extra) in feeds {
            cfg.push_str(&format!(
                "[[feeds]]\nurl = \"{}\"\n{extra}\n\n",
                http.url(path)
            ));
        }
        cfg.push_str(
            "[[watchlists]]\nname = \"w\"\nterms = [\"Zürich\", \"ISIS-K\"]\n\n\
             [notifiers.out]\ntype = \"stdout\"\nformat = \"json\"\n",
        );
        let config = sandbox.write("config.toml", &cfg);
        Poller {
            sandbox,
            http,
            config,
        }
    }

    fn once(&self) -> RunOutput {
        run_to_exit(self.sandbox.cmd(&self.config).args(["once", "--all"]))
    }

    /// (last_status, last_error, consecutive_failures, seconds until next poll, moved_to)
    fn state(&self, path: &str) -> (String, Option<String>, i64, i64, Option<String>) {
        let db = rusqlite::Connection::open(self.sandbox.path("fw.db")).unwrap();
        db.query_row(
            "SELECT last_status, last_error, consecutive_failures, next_due_at - strftime('%s','now'), moved_to
             FROM feeds WHERE url = ?1",
            [self.http.url(path)],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap()
    }

    fn alerts(out: &RunOutput) -> Vec<serde_json::Value> {
        out.stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("stdout alert is JSON"))
            .collect()
    }
}

#[test]
fn not_modified_costs_no_body_and_is_recorded() {
    let p = Poller::new(&[("/f.xml", "")]);
    p.http.set(
        "/f.xml",
        Route::rss(&rss("ISIS-K news", "1")).with_etag("abc"),
    );
    assert_eq!(Poller::alerts(&p.once()).len(), 1);
    let out = p.once();
    assert!(out.success(), "{}", out.stderr);
    assert_eq!(Poller::alerts(&out).len(), 0);
    let reqs = p.http.requests("/f.xml");
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].header("if-none-match"), Some("\"abc\""));
    let (status, error, failures, _, _) = p.state("/f.xml");
    assert_eq!((status.as_str(), error, failures), ("304", None, 0));
}

#[test]
fn rate_limited_feed_honours_retry_after() {
    let p = Poller::new(&[("/f.xml", "")]);
    p.http.set(
        "/f.xml",
        Route::status(429).with_header("Retry-After", "7200"),
    );
    let out = p.once();
    assert!(out.success(), "{}", out.stderr);
    let (status, error, failures, next, _) = p.state("/f.xml");
    assert_eq!(status, "HTTP 429");
    assert!(error.unwrap().contains("429"));
    assert_eq!(failures, 1);
    assert!(
        (7100..=7300).contains(&next),
        "next poll in {next}s, expected about 7200"
    );
}

#[test]
fn server_errors_back_off_and_recover() {
    let p = Poller::new(&[("/f.xml", "")]);
    p.http.set("/f.xml", Route::status(500));
    p.once();
    let (_, _, failures, first, _) = p.state("/f.xml");
    assert_eq!(failures, 1);
    p.once();
    let (_, _, failures, second, _) = p.state("/f.xml");
    assert_eq!(failures, 2);
    // 10m interval: first retry in 10m ±20%, the second in 20m ±20%.
    assert!((470..=730).contains(&first), "first backoff {first}s");
    assert!((950..=1450).contains(&second), "second backoff {second}s");

    p.http
        .set("/f.xml", Route::rss(&rss("ISIS-K recovers", "2")));
    let out = p.once();
    assert_eq!(Poller::alerts(&out).len(), 1, "{}", out.stderr);
    let (status, error, failures, next, _) = p.state("/f.xml");
    assert_eq!((status.as_str(), error, failures), ("200", None, 0));
    assert!(next <= 600, "back on the regular interval, got {next}s");
}

#[test]
fn a_trickling_server_is_cut_off() {
    let p = Poller::new(&[("/slow.xml", "")]);
    let body = rss("ISIS-K", "1") + &" ".repeat(20_000);
    p.http.set(
        "/slow.xml",
        Route::rss(&body).with_trickle(4, Duration::from_millis(200)),
    );
    let started = Instant::now();
    let out = p.once();
    assert!(out.success(), "{}", out.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    let (status, error, failures, _, _) = p.state("/slow.xml");
    assert_eq!((status.as_str(), failures), ("timeout", 1));
    let error = error.unwrap();
    assert!(
        error.contains("B/s") || error.contains("timed out") || error.contains("timeout"),
        "{error}"
    );
}

#[test]
fn a_gzip_encoded_feed_is_asked_for_and_decoded() {
    let p = Poller::new(&[("/f.xml", "")]);
    p.http
        .set("/f.xml", Route::rss(&rss("ISIS-K news", "1")).gzipped());
    let out = p.once();
    let alerts = Poller::alerts(&out);
    assert_eq!(alerts.len(), 1, "{}", out.stderr);
    assert_eq!(alerts[0]["item"]["title"], "ISIS-K news");
    let accept = p.http.requests("/f.xml")[0]
        .header("accept-encoding")
        .map(str::to_owned);
    assert!(
        accept.as_deref().is_some_and(|v| v.contains("gzip")),
        "{accept:?}"
    );
    let (status, error, failures, _, _) = p.state("/f.xml");
    assert_eq!((status.as_str(), error, failures), ("200", None, 0));
}

#[test]
fn a_gzip_bomb_is_capped_while_streaming() {
    let p = Poller::new(&[("/bomb.xml", "max_body_size = \"1 MiB\"")]);
    let route = Route::ok(gzip_bomb(512 << 20), "application/rss+xml")
        .with_header("Content-Encoding", "gzip");
    p.http.set("/bomb.xml", route);
    let out = p.once();
    assert!(out.success(), "{}", out.stderr);
    let (status, error, _, _, _) = p.state("/bomb.xml");
    assert_eq!(status, "too large");
    let error = error.unwrap();
    assert!(error.contains("larger than 1 MiB"), "{error}");
}

#[test]
fn redirect_loops_fail_and_permanent_moves_are_shown() {
    let p = Poller::new(&[("/loop-a", ""), ("/old.xml", "")]);
    p.http.set("/loop-a", Route::redirect(302, "/loop-b"));
    p.http.set("/loop-b", Route::redirect(302, "/loop-a"));
    p.http.set("/old.xml", Route::redirect(301, "/new.xml"));
    p.http
        .set("/new.xml", Route::rss(&rss("ISIS-K moved", "1")));
    let out = p.once();
    assert_eq!(Poller::alerts(&out).len(), 1, "{}", out.stderr);
    let (status, error, _, _, _) = p.state("/loop-a");
    assert_eq!(status, "redirect error");
    assert!(error.unwrap().contains("too many redirects"));
    let (_, _, _, _, moved) = p.state("/old.xml");
    assert_eq!(moved.as_deref(), Some(p.http.url("/new.xml").as_str()));
    let feeds = run_to_exit(p.sandbox.cmd(&p.config).arg("feeds"));
    assert!(
        feeds.stdout.contains("permanently moved to"),
        "{}",
        feeds.stdout
    );
}

#[test]
fn an_html_page_is_not_a_feed() {
    let p = Poller::new(&[("/page", "")]);
    let page = "<!DOCTYPE html><html><head><title>News</title>\
                <link rel=\"alternate\" type=\"application/rss+xml\" href=\"/rss.xml\"></head>\
                <body><p>ISIS-K</p></body></html>";
    p.http
        .set("/page", Route::ok(page, "text/html; charset=utf-8"));
    let out = p.once();
    assert_eq!(Poller::alerts(&out).len(), 0, "a web page is not a feed");
    let (status, error, _, _, _) = p.state("/page");
    assert_eq!(status, "not a feed");
    let error = error.unwrap();
    assert!(error.contains("not a feed"), "{error}");
    assert!(
        error.contains(&p.http.url("/rss.xml")),
        "the page's own feed is suggested: {error}"
    );
}

#[test]
fn a_wrong_charset_header_does_not_garble_the_text() {
    let p = Poller::new(&[("/f.xml", "")]);
    // UTF-8 with a byte-order mark, served with a Latin-1 label: the BOM is authoritative.
    let mut body = vec![0xEF, 0xBB, 0xBF];
    body.extend_from_slice(rss("Cyberattack hits Zürich hospital", "1").as_bytes());
    p.http.set(
        "/f.xml",
        Route::ok(body, "application/rss+xml; charset=iso-8859-1"),
    );
    let out = p.once();
    let alerts = Poller::alerts(&out);
    assert_eq!(alerts.len(), 1, "{}", out.stderr);
    assert_eq!(
        alerts[0]["item"]["title"],
        "Cyberattack hits Zürich hospital"
    );
}

#[test]
fn hostile_feeds_do_not_stop_a_good_one() {
    let p = Poller::new(&[
        ("/bomb.xml", ""),
        ("/deep.xml", ""),
        ("/garbage", ""),
        ("/good.xml", ""),
    ]);
    let laughs = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">\
        <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\
        <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\
        <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">]>\
        <rss version=\"2.0\"><channel><title>&lol4;</title><item><title>&lol4;</title><guid>b</guid></item></channel></rss>";
    p.http.set("/bomb.xml", Route::rss(laughs));
    let deep = format!(
        "<rss version=\"2.0\"><channel>{}</channel></rss>",
        "<a>".repeat(100_000)
    );
    p.http.set("/deep.xml", Route::rss(&deep));
    p.http.set(
        "/garbage",
        Route::ok(
            vec![0xFF, 0xFE, 0x00, 0xD8, 0x3C, 0x00, 0xFF],
            "application/rss+xml",
        ),
    );
    p.http.set(
        "/good.xml",
        Route::rss(&rss("ISIS-K in the good feed", "1")),
    );
    let out = p.once();
    assert!(out.success(), "{}", out.stderr);
    let alerts = Poller::alerts(&out);
    assert_eq!(alerts.len(), 1, "{}", out.stdout);
    assert_eq!(alerts[0]["item"]["title"], "ISIS-K in the good feed");
    assert!(
        !out.stdout.contains("lollol") && !out.stderr.contains("lollol"),
        "entities expanded"
    );
    let (status, error, _, _, _) = p.state("/deep.xml");
    assert!(error.is_some(), "100,000 nested elements are an error");
    assert_eq!(status, "parse error");
}

#[test]
fn requests_name_feedwatch_and_send_configured_headers() {
    let p = Poller::new(&[("/f.xml", "headers = { Authorization = \"Bearer t0ken\" }")]);
    p.http.set("/f.xml", Route::rss(&rss("x", "1")));
    p.once();
    let req = &p.http.requests("/f.xml")[0];
    assert!(
        req.header("user-agent").unwrap().starts_with("feedwatch/"),
        "{:?}",
        req.header("user-agent")
    );
    assert_eq!(req.header("authorization"), Some("Bearer t0ken"));
}

#[test]
fn credentials_do_not_follow_a_redirect_to_another_origin() {
    let p = Poller::new(&[(
        "/private.xml",
        "headers = { Authorization = \"Bearer SECRET\" }",
    )]);
    let other = HttpServer::start();
    other.set("/elsewhere.xml", Route::rss(&rss("ISIS-K abroad", "1")));
    p.http.set(
        "/private.xml",
        Route::redirect(302, &other.url("/elsewhere.xml")),
    );
    let out = p.once();
    assert_eq!(Poller::alerts(&out).len(), 1, "{}", out.stderr);
    assert_eq!(
        p.http.requests("/private.xml")[0].header("authorization"),
        Some("Bearer SECRET")
    );
    let req = &other.requests("/elsewhere.xml")[0];
    assert_eq!(
        req.header("authorization"),
        None,
        "the token leaked to another origin"
    );
}
