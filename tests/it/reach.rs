//! Where a fetch may connect, run in this process against the loopback fake: names resolve
//! through a stub (never a real resolver), and redirects towards link-local or metadata
//! addresses are sent through the fake acting as a proxy, so even a policy that failed to stop
//! them would only ever reach 127.0.0.1.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use feedwatch::config::{Config, FeedConfig};
use feedwatch::fetch::{FetchError, FetchOutcome, Fetcher};
use feedwatch::model::{FailureKind, Validators};

use crate::common::http::{HttpServer, Route};

const RSS: &str = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>T</title>\
                   <item><guid>1</guid><title>x</title></item></channel></rss>";

/// The config holding one `[[feeds]]` table of `lines`.
fn config(lines: &str) -> Config {
    let text = format!("[[feeds]]\n{lines}\n\n[notifiers.out]\ntype = \"stdout\"\n");
    Config::from_str_at(&text, Path::new("reach.toml")).unwrap()
}

/// Fetches the config's one feed with `fetcher`.
fn fetch(fetcher: &Fetcher, feed: &FeedConfig) -> FetchOutcome {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(fetcher.fetch(feed, &Validators::default()))
}

#[test]
fn names_resolve_through_the_injected_lookup() {
    let http = HttpServer::start();
    http.set("/f.xml", Route::rss(RSS));
    let port = url::Url::parse(&http.url("/")).unwrap().port().unwrap();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let lookup = {
        let asked = Arc::clone(&asked);
        move |host: &str| -> io::Result<Vec<SocketAddr>> {
            asked.lock().unwrap().push(host.to_owned());
            match host {
                "feed.invalid" => Ok(vec!["127.0.0.1:0".parse().unwrap()]),
                _ => Err(io::Error::new(io::ErrorKind::NotFound, "not in the stub")),
            }
        }
    };
    let config = config(&format!("url = \"http://feed.invalid:{port}/f.xml\""));
    let fetcher = Fetcher::with_lookup(&config.general, &config.feeds, Arc::new(lookup)).unwrap();
    match fetch(&fetcher, &config.feeds[0]) {
        FetchOutcome::Fresh(f) => assert_eq!(f.body, RSS.as_bytes()),
        other => panic!("expected the feed, got {other:?}"),
    }
    assert_eq!(*asked.lock().unwrap(), ["feed.invalid"]);
    assert_eq!(http.hits("/f.xml"), 1);
}

#[test]
fn redirects_to_link_local_and_metadata_literals_are_refused_before_any_request() {
    let proxy = HttpServer::start();
    let no_names = |host: &str| -> io::Result<Vec<SocketAddr>> {
        panic!("nothing here should resolve a name, asked for {host}")
    };
    for (location, addr, class) in [
        (
            "http://169.254.169.254/latest/meta-data/",
            "169.254.169.254",
            "cloud metadata service",
        ),
        (
            "http://[fd00:ec2::254]/latest/meta-data/",
            "fd00:ec2::254",
            "cloud metadata service",
        ),
        (
            "http://[::ffff:169.254.169.254]/latest/meta-data/",
            "::ffff:169.254.169.254",
            "cloud metadata service",
        ),
        (
            "http://[fe80::1]/latest/meta-data/",
            "fe80::1",
            "link-local address",
        ),
    ] {
        proxy.set("/f.xml", Route::redirect(302, location));
        // Port 1 has no listener: only the proxy can answer for this URL.
        let config = config(&format!(
            "url = \"http://127.0.0.1:1/f.xml\"\nproxy = \"{}\"",
            proxy.url("/").trim_end_matches('/')
        ));
        let fetcher =
            Fetcher::with_lookup(&config.general, &config.feeds, Arc::new(no_names)).unwrap();
        let FetchOutcome::Failed(err) = fetch(&fetcher, &config.feeds[0]) else {
            panic!("the redirect to {location} was followed");
        };
        assert!(
            matches!(&err, FetchError::BlockedRedirect { addr: a, .. } if a.to_string() == addr),
            "{err:?}"
        );
        assert_eq!(err.kind(), FailureKind::Redirects);
        assert_eq!(
            err.to_string(),
            format!(
                "fetch: refusing the redirect from http://127.0.0.1:1/f.xml to {}: \
                 {addr} is a {class}, which a feed may reach only when its configured URL is on one",
                // As the URL parser writes it: `[::ffff:a9fe:a9fe]` for the mapped address.
                url::Url::parse(location).unwrap()
            )
        );
        assert_eq!(
            proxy.hits("/latest/meta-data/"),
            0,
            "{location} was requested"
        );
    }
    assert_eq!(proxy.hits("/f.xml"), 4);
}

#[test]
fn a_redirect_to_an_ordinary_literal_is_followed() {
    let proxy = HttpServer::start();
    proxy.set("/f.xml", Route::redirect(301, "http://10.1.2.3/moved.xml"));
    proxy.set("/moved.xml", Route::rss(RSS));
    let config = config(&format!(
        "url = \"http://127.0.0.1:1/f.xml\"\nproxy = \"{}\"",
        proxy.url("/").trim_end_matches('/')
    ));
    let fetcher = Fetcher::new(&config.general, &config.feeds).unwrap();
    match fetch(&fetcher, &config.feeds[0]) {
        FetchOutcome::Fresh(f) => {
            assert_eq!(f.final_url.as_str(), "http://10.1.2.3/moved.xml");
        }
        other => panic!("expected the moved feed, got {other:?}"),
    }
    assert_eq!(proxy.hits("/moved.xml"), 1);
}
