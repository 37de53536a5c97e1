//! Hostile feeds of a few megabytes, through parsing and text extraction: unterminated markup
//! repeated must cost linear time. No test here measures time; each input is large enough that
//! quadratic work would keep the test suite from finishing.

use feedwatch::parse::parse_feed;
use feedwatch::text::html_to_text;

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
