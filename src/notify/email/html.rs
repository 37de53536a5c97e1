//! The HTML part of alert mails: one alert, or several under one heading (a digest).
//!
//! Owns the template: tables for layout (`role="presentation"`), inline styles only, at most
//! 600 px wide, so it reads the same in a phone client, webmail and Outlook. Must never put
//! feed text into the page unescaped, never make a link of anything but an `http(s)` URL, and
//! never load anything remote (no external CSS, fonts or images).

use std::borrow::Cow;
use std::fmt::Write;

use html_escape::{encode_double_quoted_attribute, encode_quoted_attribute};

use super::{local_time, safe_link};
use crate::alert::Alert;
use crate::notify::Origin;

/// The system font stack every text cell uses.
const FONT: &str =
    "font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif";
/// The page's background, around the card.
const PAGE_BG: &str = "#f2f3f5";
/// Body text colour.
const INK: &str = "#202124";
/// Secondary text colour (feed, time, footer).
const MUTED: &str = "#5f6368";

/// `s` with `&`, `<`, `>`, `"` and `'` escaped: inert in element content and in a quoted
/// attribute alike, wherever the template puts it.
fn text(s: &str) -> Cow<'_, str> {
    encode_quoted_attribute(s)
}

/// The page for one alert.
pub fn render_alert(alert: &Alert, origin: &Origin) -> String {
    page(&alert.headline(), None, (&[alert], 0), origin)
}

/// The page for several alerts under one `heading` (`3 alerts for isis-k`), each in its own
/// block, as a digest or a flood summary sends them.
/// `more` counts the alerts left out, named at the end with where to read them.
pub fn render_batch(alerts: &[&Alert], more: usize, heading: &str, origin: &Origin) -> String {
    page(heading, Some(heading), (alerts, more), origin)
}

/// The whole document: `title` for the window, an optional heading row, the alert blocks, the
/// footer.
fn page(
    title: &str,
    heading: Option<&str>,
    (alerts, more): (&[&Alert], usize),
    origin: &Origin,
) -> String {
    let mut s = String::with_capacity(4096 + 2048 * alerts.len());
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title></head>\n\
         <body style=\"margin:0;padding:0;background:{PAGE_BG};\">\n\
         <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"background:{PAGE_BG};\">\
         <tr><td align=\"center\" style=\"padding:16px 8px;\">\n\
         <!--[if mso]><table role=\"presentation\" width=\"600\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\"><tr><td><![endif]-->\n\
         <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" \
         style=\"max-width:600px;width:100%;background:#ffffff;border:1px solid #dadce0;\">\n",
        text(title)
    );
    if let Some(heading) = heading {
        let _ = writeln!(
            s,
            "<tr><td style=\"padding:18px 20px;border-bottom:2px solid {INK};{FONT};\">\
             <h1 style=\"margin:0;font-size:20px;line-height:1.3;color:{INK};\">{}</h1></td></tr>",
            text(heading)
        );
    }
    for (i, alert) in alerts.iter().enumerate() {
        alert_block(&mut s, alert, origin, i + 1 < alerts.len() || more > 0);
    }
    if more > 0 {
        let _ = writeln!(
            s,
            "<tr><td style=\"padding:16px 20px;{FONT};color:{MUTED};\">{}</td></tr>",
            text(&super::more_line(more, origin))
        );
    }
    let _ = write!(
        s,
        "<tr><td style=\"padding:14px 20px;background:#f8f9fa;border-top:1px solid #dadce0;\
         {FONT};font-size:12px;line-height:1.5;color:{MUTED};\">\
         Sent by feedwatch on <b>{}</b>. The watchlists are in <code style=\"font-size:12px;\">{}</code>.\
         </td></tr>\n</table>\n<!--[if mso]></td></tr></table><![endif]-->\n\
         </td></tr></table>\n</body></html>\n",
        text(&origin.host),
        text(&origin.config.display().to_string())
    );
    s
}

/// One alert as a table row: watchlist pill, linked headline, feed and time, what matched with
/// its snippet, the summary.
fn alert_block(s: &mut String, alert: &Alert, origin: &Origin, separated: bool) {
    let rule = if separated {
        "border-bottom:1px solid #dadce0;"
    } else {
        ""
    };
    let _ = write!(
        s,
        "<tr><td style=\"padding:20px;{rule}{FONT};color:{INK};\">\n\
         <span style=\"display:inline-block;padding:2px 10px;border-radius:10px;background:#b3261e;\
         color:#ffffff;font-size:12px;font-weight:bold;line-height:18px;\">{}</span>\n\
         <h2 style=\"margin:10px 0 6px;font-size:20px;line-height:1.3;font-weight:bold;\">",
        text(&alert.watchlist)
    );
    let headline = text(&alert.headline()).into_owned();
    match alert.item.link.as_deref().and_then(safe_link) {
        Some(url) => {
            let _ = write!(
                s,
                "<a href=\"{}\" style=\"color:#0b57d0;text-decoration:none;\">{headline}</a>",
                encode_double_quoted_attribute(url.as_str())
            );
        }
        None => s.push_str(&headline),
    }
    s.push_str("</h2>\n");
    let _ = write!(
        s,
        "<p style=\"margin:0 0 16px;font-size:13px;line-height:1.5;color:{MUTED};\">{}",
        text(&alert.feed.name)
    );
    if let Some(published) = alert.item.published {
        let (human, machine) = local_time(published, origin.timezone);
        let _ = write!(
            s,
            " &middot; <time datetime=\"{}\">{}</time>",
            encode_double_quoted_attribute(&machine),
            text(&human)
        );
    }
    s.push_str("</p>\n");
    for m in &alert.matches {
        let _ = write!(
            s,
            "<p style=\"margin:0 0 4px;font-size:13px;line-height:1.5;color:{MUTED};\">\
             matched <b style=\"color:{INK};\">{}</b> in {}</p>\n\
             <p style=\"margin:0 0 12px;padding:8px 12px;border-left:3px solid #f9ab00;\
             background:#fef7e0;font-size:15px;line-height:1.5;\">",
            text(&m.term),
            m.field
        );
        marked(s, &m.snippet);
        s.push_str("</p>\n");
    }
    if !alert.item.summary.is_empty() {
        let _ = writeln!(
            s,
            "<p style=\"margin:12px 0 0;font-size:15px;line-height:1.5;\">{}</p>",
            text(&alert.item.summary)
        );
    }
    s.push_str("</td></tr>\n");
}

/// The snippet, escaped, with the hit in a highlighted `<mark>` (styled inline: Outlook does
/// not colour `<mark>` itself).
fn marked(s: &mut String, snippet: &crate::matcher::Snippet) {
    let (before, hit, after) = snippet.parts();
    s.push_str(&text(before));
    if !hit.is_empty() {
        let _ = write!(
            s,
            "<mark style=\"background:#ffe066;color:{INK};padding:0 2px;\">{}</mark>",
            text(hit)
        );
    }
    s.push_str(&text(after));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{AlertFeed, AlertItem, AlertMatch};
    use crate::matcher::Snippet;
    use crate::model::{AlertId, Field};
    use crate::notify::test_origin;
    use chrono::TimeZone;

    fn alert(title: &str, link: Option<&str>) -> Alert {
        Alert {
            alert_id: AlertId::new("a1".into()),
            watchlist: "isis-k".into(),
            feed: AlertFeed {
                name: "Wire".into(),
                url: "https://wire.example/feed".into(),
            },
            item: AlertItem {
                guid: "g1".into(),
                title: title.into(),
                link: link.map(Into::into),
                published: Some(chrono::Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap()),
                summary: "Officials said on Thursday…".into(),
            },
            matches: vec![AlertMatch {
                term: "ISIS-K".into(),
                field: Field::Title,
                snippet: Snippet {
                    text: "Officials blame ISIS-K for the attack".into(),
                    mark_start: 16,
                    mark_end: 22,
                },
            }],
            update: false,
        }
    }

    #[test]
    fn an_alert_renders_as_a_newsroom_card() {
        let mut a = alert(
            "ISIS-K claims attack",
            Some("https://news.example/1?a=1&b=2"),
        );
        a.update = true;
        let html = render_alert(&a, &test_origin());
        for fragment in [
            "<!DOCTYPE html>",
            "<title>Updated: ISIS-K claims attack</title>",
            "role=\"presentation\"",
            "max-width:600px",
            "<!--[if mso]><table role=\"presentation\" width=\"600\"",
            "border-radius:10px;background:#b3261e;",
            ">isis-k</span>",
            "<a href=\"https://news.example/1?a=1&amp;b=2\" style=\"color:#0b57d0;text-decoration:none;\">Updated: ISIS-K claims attack</a>",
            "Wire &middot; <time datetime=\"2026-11-26T10:00:00+01:00\">Thu 26 Nov 2026 10:00 CET</time>",
            "matched <b style=\"color:#202124;\">ISIS-K</b> in title</p>",
            "Officials blame <mark style=\"background:#ffe066;color:#202124;padding:0 2px;\">ISIS-K</mark> for the attack",
            "Officials said on Thursday…</p>",
            "Sent by feedwatch on <b>desk-01</b>. The watchlists are in <code style=\"font-size:12px;\">/etc/feedwatch/config.toml</code>.",
        ] {
            assert!(html.contains(fragment), "missing {fragment:?} in\n{html}");
        }
        for forbidden in [
            "<style",
            "<link",
            "<img",
            "<script",
            "display:flex",
            "display:grid",
        ] {
            assert!(!html.contains(forbidden), "{forbidden:?} in\n{html}");
        }
        assert_eq!(
            html.matches("<h1").count(),
            0,
            "no batch heading for one alert"
        );
    }

    #[test]
    fn hostile_feed_text_comes_out_inert() {
        let mut a = alert(
            "<script>alert(1)</script>\"><img src=x onerror=alert(2)>",
            Some("javascript:alert(3)"),
        );
        a.watchlist = "<b>w</b>".into();
        a.feed.name = "Feed\" onmouseover=\"x".into();
        a.item.summary = "</p><iframe src=//evil>".into();
        a.matches[0].term = "<i>t</i>".into();
        a.matches[0].snippet = Snippet {
            text: "<svg onload=x> hit".into(),
            mark_start: 15,
            mark_end: 18,
        };
        let html = render_alert(&a, &test_origin());
        for raw in [
            "<script",
            "<img",
            "<iframe",
            "<svg",
            "<b>w</b>",
            "<i>t</i>",
            "javascript:",
            "\" onmouseover=",
        ] {
            assert!(!html.contains(raw), "{raw:?} survived in\n{html}");
        }
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x"));
        assert!(!html.contains("<a href"), "a javascript: link is no link");
        assert!(html.contains("&lt;svg onload=x&gt; <mark"), "{html}");
    }

    #[test]
    fn only_http_and_https_links_become_links() {
        for (link, href) in [
            (
                "https://news.example/a b\"c",
                Some("https://news.example/a%20b%22c"),
            ),
            ("  http://news.example/x  ", Some("http://news.example/x")),
            ("javascript:alert(1)", None),
            ("JavaScript:alert(1)", None),
            ("data:text/html,<script>x</script>", None),
            ("vbscript:x", None),
            ("file:///etc/passwd", None),
            ("//news.example/relative", None),
            ("http:///no-host", Some("http://no-host/")),
        ] {
            let html = render_alert(&alert("t", Some(link)), &test_origin());
            match href {
                Some(href) => assert!(
                    html.contains(&format!("<a href=\"{href}\"")),
                    "{link}: {html}"
                ),
                None => assert!(!html.contains("<a href"), "{link}: {html}"),
            }
        }
    }

    #[test]
    fn the_mark_sits_on_the_hit_in_multibyte_text() {
        let mut a = alert("t", None);
        let text = "Лидер «Талибана» — встреча в Кабуле";
        let start = text.find("Талибана").unwrap();
        a.matches[0].snippet = Snippet {
            text: text.into(),
            mark_start: start,
            mark_end: start + "Талибана".len(),
        };
        let html = render_alert(&a, &test_origin());
        assert!(
            html.contains(
                "Лидер «<mark style=\"background:#ffe066;color:#202124;padding:0 2px;\">Талибана</mark>» — встреча в Кабуле"
            ),
            "{html}"
        );
        // Offsets inside a character: the quote is shown whole, unmarked, never cut.
        a.matches[0].snippet.mark_start = 1;
        let html = render_alert(&a, &test_origin());
        assert!(html.contains(text) && !html.contains("<mark"), "{html}");
    }

    #[test]
    fn times_are_shown_in_the_configured_zone() {
        let a = alert("t", None);
        let mut origin = test_origin();
        for (zone, shown) in [
            (chrono_tz::UTC, "Thu 26 Nov 2026 09:00 UTC"),
            (chrono_tz::America::New_York, "Thu 26 Nov 2026 04:00 EST"),
            (chrono_tz::Asia::Kabul, "Thu 26 Nov 2026 13:30 +0430"),
        ] {
            origin.timezone = zone;
            let html = render_alert(&a, &origin);
            assert!(html.contains(&format!(">{shown}</time>")), "{zone}: {html}");
        }
    }

    #[test]
    fn a_batch_has_one_heading_and_a_block_per_alert() {
        let alerts = [
            alert("First story", Some("https://news.example/1")),
            alert("Second story", Some("https://news.example/2")),
            alert("Third <story>", None),
        ];
        let html = render_batch(
            &alerts.iter().collect::<Vec<_>>(),
            0,
            "3 alerts for isis-k",
            &test_origin(),
        );
        assert!(html.contains("<title>3 alerts for isis-k</title>"));
        assert_eq!(html.matches("<h1").count(), 1);
        assert!(html.contains(">3 alerts for isis-k</h1>"));
        assert_eq!(html.matches("<h2").count(), 3);
        assert_eq!(html.matches("Sent by feedwatch on").count(), 1);
        let first = html.find("First story").unwrap();
        let second = html.find("Second story").unwrap();
        let third = html.find("Third &lt;story&gt;").unwrap();
        assert!(first < second && second < third);
        let rendered = render_batch(&[], 0, "<x>", &test_origin());
        assert!(rendered.contains("&lt;x&gt;</h1>") && !rendered.contains("<x>"));
    }
}
