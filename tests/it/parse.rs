//! Feed parsing against real-world fixtures (copied from the feed corpus) and hostile inputs
//! generated inline.

use std::path::Path;
use std::time::{Duration, Instant};

use feedwatch::parse::{FeedFormat, ParseError, ParseLimits, parse_feed, parse_feed_with};

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/feeds")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// (file, format, encoding, entries, first title)
const EXPECTED: &[(&str, FeedFormat, &str, usize, &str)] = &[
    (
        "codehollow__Rss20CodeHollowCom.xml",
        FeedFormat::Rss2,
        "UTF-8",
        10,
        "Export Azure RateCard data to CSV with C# and Billing API",
    ),
    (
        "codehollow__AtomVergeAllPosts.xml",
        FeedFormat::Atom,
        "UTF-8",
        10,
        "This is the new Hulu experience with live TV",
    ),
    (
        "feedparser__wellformed__atom__entry_title.xml",
        FeedFormat::Atom03,
        "UTF-8",
        1,
        "Example Atom",
    ),
    (
        "feedrs__rss1__rss_1.0_spec_1.xml",
        FeedFormat::Rss1,
        "UTF-8",
        2,
        "Processing Inclusions with XSLT",
    ),
    (
        "rsparser__inessential.json",
        FeedFormat::Json,
        "UTF-8",
        20,
        "James Dempsey and the Breakpoints Benefit App Camp for Girls",
    ),
    // Old JSON Feed version URL (http://) that feed-rs rejects.
    (
        "rsparser__pxlnv.json",
        FeedFormat::Json,
        "UTF-8",
        20,
        "Uber Lost $4.5 Billion in 2017",
    ),
    (
        "simplepie__feed-utf16be.xml",
        FeedFormat::Rss2,
        "UTF-16BE",
        1,
        "Test feed title 1",
    ),
    // Undeclared windows-1252, no RSS version.
    (
        "rssparserjs__uolNoticias.rss",
        FeedFormat::Rss2,
        "windows-1252",
        15,
        "Ibope: Bolsonaro perde de Haddad, Ciro e Alckmin em simulações de 2º turno",
    ),
    // Undeclared `&nbsp;` entities.
    (
        "feedrs__rss2__rss_2.0_dbengines.xml",
        FeedFormat::Rss2,
        "UTF-8",
        1,
        "Snowflake is the DBMS of the Year 2022, defending the title from last year",
    ),
    // Text before the XML declaration, RDF items.
    (
        "feedjira__HREFConsideredHarmful.xml",
        FeedFormat::Rss1,
        "UTF-8",
        10,
        "Chrome, V8 and Strongtalk",
    ),
    // UTF-32BE without a byte-order mark; RSS without a channel.
    (
        "feedparser__encoding__utf-32be-autodetect.xml",
        FeedFormat::Rss2,
        "UTF-32BE",
        0,
        "",
    ),
];

#[test]
fn fixtures_parse_as_expected() {
    // Each fixture is read by name, so a missing one fails here rather than being skipped.
    for (file, format, encoding, entries, title) in EXPECTED {
        let feed = parse_feed(&fixture(file), None, None).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(feed.format, *format, "{file}");
        assert_eq!(feed.encoding, *encoding, "{file}");
        assert_eq!(feed.items.len(), *entries, "{file}");
        if let Some(first) = feed.items.first() {
            let plain = first.title.replace("&nbsp;", " ");
            assert_eq!(
                plain.split_whitespace().collect::<Vec<_>>().join(" "),
                *title,
                "{file}"
            );
        }
        for item in &feed.items {
            assert!(!item.key.as_str().is_empty(), "{file}: item without key");
        }
    }
}

#[test]
fn keys_prefer_the_feeds_own_guid() {
    let feed =
        parse_feed(&fixture("codehollow__Rss20CodeHollowCom.xml"), None, None).expect("parsed");
    let first = &feed.items[0];
    assert_eq!(
        first.link.as_deref(),
        Some("https://codehollow.com/2016/12/export-azure-ratecard-data-csv-csharp-billing-api/")
    );
    let guid = first.guid.as_deref().expect("guid");
    assert_eq!(first.key.as_str(), format!("guid:{guid}"));
}

#[test]
fn html_page_is_not_a_feed_and_names_its_feed() {
    let err = parse_feed(
        &fixture("rsparser__DaringFireball.html"),
        Some("text/html; charset=utf-8"),
        Some("https://daringfireball.net/"),
    )
    .expect_err("HTML is not a feed");
    match &err {
        ParseError::NotAFeed { alternate } => assert_eq!(
            alternate.as_deref(),
            Some("https://daringfireball.net/feeds/main")
        ),
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().starts_with("parse: not a feed"));
}

#[test]
fn truncated_feed_keeps_every_complete_item() {
    let bytes = fixture("codehollow__Rss20CodeHollowCom.xml");
    let full = parse_feed(&bytes, None, None).expect("parsed");
    let cut = &bytes[..bytes.len() / 2];
    let feed = parse_feed(cut, None, None).expect("recovered");
    assert!(!feed.items.is_empty() && feed.items.len() < full.items.len());
    assert!(!feed.warnings.is_empty());
    for (a, b) in feed.items.iter().zip(&full.items) {
        assert_eq!(a.key, b.key);
        assert_eq!(a.title, b.title);
    }
}

#[test]
fn empty_and_whitespace_bodies_are_empty() {
    for body in [&b""[..], b"  \r\n\t ", b"\xef\xbb\xbf \n"] {
        assert!(matches!(
            parse_feed(body, None, None),
            Err(ParseError::Empty)
        ));
    }
}

#[test]
fn entity_bombs_and_external_entities_are_never_expanded() {
    let mut dtd = String::from("<!ENTITY lol0 \"lol\">");
    for i in 1..10 {
        let refs = format!("&lol{};", i - 1).repeat(10);
        dtd.push_str(&format!("<!ENTITY lol{i} \"{refs}\">"));
    }
    let doc = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE rss [{dtd}\
         <!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\
         <rss version=\"2.0\"><channel><title>t</title>\
         <item><title>&lol9;</title><description>&xxe;</description></item>\
         </channel></rss>"
    );
    let start = Instant::now();
    let feed = parse_feed(doc.as_bytes(), None, None).expect("parsed");
    assert!(start.elapsed() < Duration::from_secs(5));
    let item = &feed.items[0];
    assert!(
        item.title.len() < 100,
        "entity expanded: {} bytes",
        item.title.len()
    );
    assert!(!item.summary.contains("root:"));
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let doc = format!(
        "<rss version=\"2.0\"><channel><item><title>deep</title><x>{}</x></item></channel></rss>",
        "<a>".repeat(100_000)
    );
    let err = parse_feed(doc.as_bytes(), None, None).expect_err("too deep");
    assert!(matches!(err, ParseError::TooDeep(_)), "{err}");
}

fn items_without_ids(n: usize) -> String {
    let items: String = (0..n)
        .map(|i| {
            format!("<item><title>Story {i}</title><description>Body {i}</description></item>")
        })
        .collect();
    format!("<rss version=\"2.0\"><channel><title>t</title>{items}</channel></rss>")
}

#[test]
fn keys_are_deterministic_without_guid_or_link() {
    let doc = items_without_ids(3);
    let first = parse_feed(doc.as_bytes(), None, None).expect("parsed");
    let second = parse_feed(doc.as_bytes(), None, None).expect("parsed");
    let keys: Vec<&str> = first.items.iter().map(|i| i.key.as_str()).collect();
    let again: Vec<&str> = second.items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, again);
    assert!(keys.iter().all(|k| k.starts_with("hash:") && k.len() == 37));
    assert_ne!(keys[0], keys[1]);
    assert!(
        first
            .items
            .iter()
            .all(|i| i.guid.is_none() && i.link.is_none())
    );

    // Same for Atom and JSON Feed entries without ids.
    let atom = "<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry><title>A</title></entry></feed>";
    let json = r#"{"version": "https://jsonfeed.org/version/1.1", "items": [{"title": "A"}]}"#;
    for doc in [atom, json] {
        let a = parse_feed(doc.as_bytes(), None, None).expect("parsed");
        let b = parse_feed(doc.as_bytes(), None, None).expect("parsed");
        assert!(
            a.items[0].key.as_str().starts_with("hash:"),
            "{}",
            a.items[0].key
        );
        assert_eq!(a.items[0].key, b.items[0].key);
    }
}

#[test]
fn item_cap_keeps_the_first_items_with_a_warning() {
    let doc = items_without_ids(50);
    let limits = ParseLimits {
        max_items: 10,
        ..ParseLimits::default()
    };
    let feed = parse_feed_with(doc.as_bytes(), None, None, &limits).expect("parsed");
    assert_eq!(feed.items.len(), 10);
    assert_eq!(feed.items[0].title, "Story 0");
    assert!(feed.warnings.iter().any(|w| w.contains("max_items")));
}

#[test]
fn control_characters_are_stripped_and_links_made_absolute() {
    let doc = "<rss version=\"2.0\"><channel><link>https://example.org/news/</link>\
        <item><title>a&#1;b\u{7}c\nd</title><link>story/1</link>\
        <author>x</author><category>c1</category><category>c2</category></item></channel></rss>";
    // Relative links resolve against the document's URL ...
    let feed = parse_feed(
        doc.as_bytes(),
        None,
        Some("https://example.org/feeds/all.xml"),
    )
    .expect("parsed");
    let item = &feed.items[0];
    assert_eq!(item.title, "abc\nd");
    assert_eq!(
        item.link.as_deref(),
        Some("https://example.org/feeds/story/1")
    );
    assert_eq!(item.key.as_str(), "link:https://example.org/feeds/story/1");
    assert_eq!(item.categories, "c1, c2");
    // ... or, without a usable one, against the feed's own link.
    for base in [None, Some("not a url")] {
        let feed = parse_feed(doc.as_bytes(), None, base).expect("parsed");
        assert_eq!(
            feed.items[0].link.as_deref(),
            Some("https://example.org/news/story/1")
        );
        assert!(feed.warnings.is_empty(), "{:?}", feed.warnings);
    }
}

#[test]
fn one_odd_element_does_not_sink_the_feed() {
    let doc = r#"<feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/">
        <entry><id>1</id><title type="base64">SGVsbG8=</title><media:description/></entry>
        <entry><id>2</id><title type="application/xhtml+xml"><div>Two</div></title></entry>
        <entry><id>3</id><title type="">Three</title></entry></feed>"#;
    let feed = parse_feed(doc.as_bytes(), None, None).expect("parsed");
    let titles: Vec<&str> = feed.items.iter().map(|i| i.title.as_str()).collect();
    assert_eq!(titles, ["Hello", "<div>Two</div>", "Three"]);
    assert_eq!(feed.items[0].key.as_str(), "guid:1");
}

#[test]
fn nesting_up_to_the_limit_parses_on_a_small_stack() {
    // Worker threads run with small stacks; a recursive consumer would overflow here.
    let depth = ParseLimits::default().max_depth - 8;
    let doc = format!(
        "<rss version=\"2.0\"><channel><item><title>deep</title><description>{}x{}</description></item></channel></rss>",
        "<b>".repeat(depth),
        "</b>".repeat(depth)
    );
    let worker = std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || parse_feed(doc.as_bytes(), None, None).map(|f| f.items.len()))
        .expect("thread");
    let parsed = worker.join().expect("parser thread finished");
    assert_eq!(parsed.expect("parsed"), 1);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_crash_the_parser(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096)
    ) {
        let result = parse_feed(&bytes, None, None);
        proptest::prop_assert!(!matches!(result, Err(ParseError::Panicked(_))), "{:?}", result);
    }

    #[test]
    fn mangled_feeds_never_crash_the_parser(
        cut in 0usize..20_000,
        at in 0usize..20_000,
        junk in "[<>&;!\\[\\]\"'/=a-z?# -]{0,16}",
    ) {
        let mut bytes = fixture("codehollow__AtomVergeAllPosts.xml");
        bytes.truncate(cut.max(1));
        let at = at.min(bytes.len());
        bytes.splice(at..at, junk.bytes());
        let result = parse_feed(&bytes, None, None);
        proptest::prop_assert!(!matches!(result, Err(ParseError::Panicked(_))), "{:?}", result);
        if let Ok(feed) = result {
            for item in &feed.items {
                proptest::prop_assert!(!item.key.as_str().is_empty());
                proptest::prop_assert!(!item.title.contains('\0'));
            }
        }
    }
}

#[test]
fn a_document_past_the_strict_parsers_budget_reads_the_same_entries() {
    // Large documents (over 4 MiB or 20,000 elements) are read by the lenient reader alone;
    // their entries must come out as a small document's do, keys first.
    let entry = |i: usize| {
        format!(
            "<item><guid isPermaLink=\"false\">g{i}</guid><title>Story &amp; {i}</title>\
             <link>/s/{i}</link><description>&lt;p&gt;Body {i}&lt;/p&gt;</description>\
             <category>a</category><category>b</category><dc:creator>Ann</dc:creator>\
             <pubDate>Thu, 26 Nov 2026 09:00:00 GMT</pubDate></item>"
        )
    };
    let doc = |n: usize| {
        format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\" \
             xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><channel><title>T</title>\
             <link>https://example.org/</link>{}</channel></rss>",
            (0..n).map(entry).collect::<String>()
        )
    };
    let base = Some("https://example.org/feed.xml");
    let small = parse_feed(doc(100).as_bytes(), None, base).expect("small");
    let large = parse_feed(doc(3_000).as_bytes(), None, base).expect("large");
    assert_eq!(large.items.len(), 3_000);
    assert_eq!(
        (small.format, large.format),
        (FeedFormat::Rss2, FeedFormat::Rss2)
    );
    assert_eq!(small.title, large.title);
    assert_eq!(small.warnings, large.warnings);
    for (a, b) in small.items.iter().zip(&large.items) {
        assert_eq!(a.key, b.key);
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(
            (&a.title, &a.link, a.published),
            (&b.title, &b.link, b.published)
        );
        assert_eq!(
            (&a.summary, &a.author, &a.categories),
            (&b.summary, &b.author, &b.categories)
        );
    }
}
