//! Chat text from alerts: the same lines for every chat platform (the headline as a link, the
//! watchlist, feed and published time, each snippet with its hit marked), written in each
//! platform's own markup and fitted to its length limit.
//!
//! Owns what a chat message says and how it is cut to fit. Must never let feed text through
//! unescaped (every platform's [`Markup::escape`] makes it inert), never link anything but an
//! `http(s)` URL, and never cut a message mid-alert: what does not fit is counted, not dropped.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use url::Url;

use super::message::Batch;
use crate::alert::{Alert, AlertMatch};

/// A chat platform's markup. Links and emphasis default to CommonMark's, which Discord,
/// Mattermost and Teams share.
pub trait Markup {
    /// Feed text made inert: it can add no markup, link or mention.
    fn escape(text: &str) -> String;

    /// `text` (already escaped) as a link to `url` (always `http` or `https`).
    fn link(url: &Url, text: &str) -> String {
        // Parentheses could end the URL early.
        let url = url.as_str().replace('(', "%28").replace(')', "%29");
        format!("[{text}]({url})")
    }

    /// `text` (already escaped) in bold.
    fn bold(text: &str) -> String {
        format!("**{text}**")
    }

    /// A snippet's hit (already escaped), highlighted.
    fn hit(text: &str) -> String {
        Self::bold(text)
    }
}

/// What every rendering of an alert needs besides the alert.
#[derive(Debug, Clone, Copy)]
pub struct View {
    /// The zone times are shown in (`general.timezone`).
    pub tz: Tz,
}

impl View {
    /// A time as people read it, in the configured zone: `8 Dec 2026 09:14 CET`.
    pub fn time(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.tz)
            .format("%-d %b %Y %H:%M %Z")
            .to_string()
    }
}

/// The alert's link, if it is a web link: anything else (`javascript:`, `data:`) is never
/// made clickable.
pub fn web_link(alert: &Alert) -> Option<Url> {
    let url = Url::parse(alert.item.link.as_deref()?).ok()?;
    matches!(url.scheme(), "http" | "https").then_some(url)
}

/// The length a platform counts: UTF-16 code units, which is what Telegram counts and never
/// less than the characters Slack, Discord and Teams count.
pub fn measure(text: &str) -> usize {
    text.encode_utf16().count()
}

/// The headline in bold, linked to the story when it has a web link.
pub fn title<M: Markup>(alert: &Alert) -> String {
    let text = M::escape(&alert.headline());
    M::bold(&match web_link(alert) {
        Some(url) => M::link(&url, &text),
        None => text,
    })
}

/// [`title`], without its link when the linked line would take more than half of `max` (a
/// link can be 2,048 characters): a line cut to fit would cut through its markup, and the
/// platform would refuse the message.
fn title_within<M: Markup>(alert: &Alert, max: usize) -> String {
    let linked = title::<M>(alert);
    if measure(&linked) <= max / 2 {
        return linked;
    }
    M::bold(&M::escape(&alert.headline()))
}

/// Longest feed name shown: a feed's own title can be any length, and the line it is on must
/// never need cutting (a cut could fall inside an escape).
const FEED_NAME_CHARS: usize = 200;

/// `watchlist · feed · published`, escaped.
pub fn source<M: Markup>(alert: &Alert, view: &View) -> String {
    let mut line = format!(
        "{} · {}",
        M::escape(&alert.watchlist),
        M::escape(&cut(&alert.feed.name, FEED_NAME_CHARS))
    );
    if let Some(p) = alert.item.published {
        line.push_str(" · ");
        line.push_str(&view.time(p));
    }
    line
}

/// One line per matched term: `ISIS-K (title): …the quote with the hit marked…`.
pub fn snippets<M: Markup>(alert: &Alert) -> Vec<String> {
    alert.matches.iter().map(snippet::<M>).collect()
}

fn snippet<M: Markup>(m: &AlertMatch) -> String {
    let (before, hit, after) = m.snippet.parts();
    format!(
        "{} ({}): {}{}{}",
        M::escape(&m.term),
        m.field,
        M::escape(before),
        M::hit(&M::escape(hit)),
        M::escape(after)
    )
}

/// One alert as chat text of at most `max` (see [`measure`]): title, source, then as many
/// snippet lines as fit, and a count of those that do not.
pub fn alert_text<M: Markup>(alert: &Alert, view: &View, max: usize) -> String {
    // Title and source as one line, so that only matches are ever counted as left out.
    let head = format!(
        "{}\n{}",
        title_within::<M>(alert, max),
        source::<M>(alert, view)
    );
    fit_matches::<M>(std::iter::once(head).chain(snippets::<M>(alert)), max)
}

/// The title and as many snippet lines as fit in `max`, for platforms that show the source
/// apart.
pub fn highlights<M: Markup>(alert: &Alert, max: usize) -> String {
    fit_matches::<M>(
        std::iter::once(title::<M>(alert)).chain(snippets::<M>(alert)),
        max,
    )
}

fn fit_matches<M: Markup>(lines: impl Iterator<Item = String>, max: usize) -> String {
    fit(lines, max, |n| {
        M::escape(&format!(
            "… and {n} more {}",
            if n == 1 { "match" } else { "matches" }
        ))
    })
}

/// A batch as chat text of at most `max`: its heading, then each watchlist's alerts, newest
/// first, each with its source and first snippet. Alerts that do not fit are counted at the
/// end, with where to read them all.
pub fn batch_text<M: Markup>(batch: &Batch, view: &View, max: usize) -> String {
    let mut blocks = vec![M::bold(&M::escape(&batch.heading()))];
    for (watchlist, alerts) in batch.by_watchlist() {
        let group = M::bold(&M::escape(watchlist));
        for (i, a) in alerts.into_iter().enumerate() {
            let mut block = if i == 0 {
                format!("\n{group}\n")
            } else {
                String::new()
            };
            block.push_str(&format!(
                "• {}\n  {}",
                title_within::<M>(a, max),
                source::<M>(a, view)
            ));
            if let Some(first) = a.matches.first() {
                block.push_str("\n  ");
                block.push_str(&snippet::<M>(first));
            }
            blocks.push(block);
        }
    }
    fit(blocks.into_iter(), max, |n| {
        M::escape(&format!(
            "… and {n} more {}: `feedwatch alerts` lists them all",
            if n == 1 { "alert" } else { "alerts" }
        ))
    })
}

/// The lines joined by newlines, as many as fit in `max` with room left for `more(n)`, which
/// counts the `n` left out. The first line is always kept, cut at a character if it alone is
/// too long.
fn fit(lines: impl Iterator<Item = String>, max: usize, more: impl Fn(usize) -> String) -> String {
    let lines: Vec<String> = lines.collect();
    let total: usize = lines.iter().map(|l| measure(l) + 1).sum();
    if total.saturating_sub(1) <= max {
        return lines.join("\n");
    }
    let mut out = String::new();
    let mut kept = 0;
    for line in &lines {
        let rest = lines.len() - kept - 1;
        let reserve = if rest > 0 {
            measure(&more(rest)) + 1
        } else {
            0
        };
        let sep = usize::from(kept > 0);
        if measure(&out) + sep + measure(line) + reserve > max {
            break;
        }
        if kept > 0 {
            out.push('\n');
        }
        out.push_str(line);
        kept += 1;
    }
    if kept == 0 {
        out = cut(
            &lines[0],
            max.saturating_sub(measure(&more(lines.len())) + 1),
        );
        kept = 1;
    }
    let left = lines.len() - kept;
    if left > 0 {
        out.push('\n');
        out.push_str(&more(left));
    }
    out
}

/// `text` cut to at most `max` (see [`measure`]) at a character boundary.
pub fn cut(text: &str, max: usize) -> String {
    let mut used = 0;
    text.chars()
        .take_while(|c| {
            used += c.len_utf16();
            used <= max
        })
        .collect()
}

/// For tests: `text` shows some, not all, of a batch of `total` alerts (each on a `• ` line,
/// ended by a newline or `<br>`), and its last line counts the rest and says where to read
/// them; returns how many it shows.
#[cfg(test)]
pub fn assert_counts_the_rest(text: &str, total: usize) -> usize {
    let shown = text.matches("• ").count();
    assert!(
        shown > 0 && shown < total,
        "{shown} of {total} shown: {text}"
    );
    // Lines end in a newline, or in `<br>` in HTML bodies.
    let last = text.rsplit(['\n']).next().unwrap_or_default();
    let last = last.rsplit("<br>").next().unwrap_or_default();
    assert!(
        last.starts_with(&format!("… and {} more alerts", total - shown))
            && last.contains("feedwatch alerts"),
        "{last}"
    );
    shown
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::message::BatchKind;
    use crate::notify::test_alert;

    /// A markup that shows where each rule applied.
    struct Tagged;
    impl Markup for Tagged {
        fn escape(text: &str) -> String {
            text.replace('<', "&lt;")
        }
        fn link(url: &Url, text: &str) -> String {
            format!("[{text}]({url})")
        }
        fn bold(text: &str) -> String {
            format!("*{text}*")
        }
        fn hit(text: &str) -> String {
            format!("_{text}_")
        }
    }

    fn view() -> View {
        View {
            tz: chrono_tz::Europe::Berlin,
        }
    }

    #[test]
    fn an_alert_reads_title_source_then_snippets() {
        let mut a = test_alert();
        a.item.link = Some("https://example.org/story".into());
        a.item.published = Some("2026-12-08T08:14:00Z".parse().unwrap());
        assert_eq!(
            alert_text::<Tagged>(&a, &view(), 1000),
            "*[Test alert from feedwatch](https://example.org/story)*\n\
             notify-test · feedwatch · 8 Dec 2026 09:14 CET\n\
             feedwatch (title): Test alert from _feedwatch_"
        );
    }

    #[test]
    fn only_web_links_are_linked_and_feed_text_is_escaped() {
        let mut a = test_alert();
        a.item.link = Some("javascript:alert(1)".into());
        a.item.title = "<b>x".into();
        assert_eq!(title::<Tagged>(&a), "*&lt;b>x*");
        a.update = true;
        assert_eq!(title::<Tagged>(&a), "*Updated: &lt;b>x*");
    }

    #[test]
    fn what_does_not_fit_is_counted_never_cut_mid_line() {
        let lines = ["aaaa", "bbbb", "cccc", "dddd"].map(String::from);
        let more = |n: usize| format!("+{n}");
        assert_eq!(
            fit(lines.clone().into_iter(), 100, more),
            "aaaa\nbbbb\ncccc\ndddd"
        );
        assert_eq!(fit(lines.clone().into_iter(), 12, more), "aaaa\nbbbb\n+2");
        assert_eq!(
            fit(lines.clone().into_iter(), 6, more),
            "aaa\n+3",
            "a first line too long alone is cut"
        );
    }

    #[test]
    fn a_long_batch_ends_with_a_count_and_a_pointer_and_stays_within_the_limit() {
        let alerts: Vec<Alert> = crate::notify::test_alerts(200);
        let batch = Batch {
            kind: BatchKind::Digest,
            alerts: &alerts,
        };
        let text = batch_text::<Tagged>(&batch, &view(), 3000);
        assert!(measure(&text) <= 3000, "{}", measure(&text));
        assert!(text.starts_with("*Digest: 200 alerts*\n\n*notify-test*\n• "));
        assert_counts_the_rest(&text, 200);
        assert!(
            text.ends_with("alerts: `feedwatch alerts` lists them all"),
            "{text}"
        );
    }

    #[test]
    fn a_link_too_long_for_the_message_is_dropped_not_cut() {
        let mut a = test_alert();
        a.item.link = Some(format!("https://example.org/{}", "x".repeat(2000)));
        let text = alert_text::<Tagged>(&a, &view(), 1000);
        assert!(measure(&text) <= 1000, "{}", measure(&text));
        assert!(
            text.starts_with("*Test alert from feedwatch*\n"),
            "the title stays whole: {text}"
        );
        assert!(!text.contains("example.org"), "{text}");
    }

    #[test]
    fn cutting_counts_utf16_units() {
        assert_eq!(cut("a😀b", 2), "a");
        assert_eq!(cut("a😀b", 3), "a😀");
    }
}
