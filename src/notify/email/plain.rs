//! The text/plain part of alert mails: the same information as the HTML part, as text.
//!
//! Owns the text layout. Must never let feed text forge the layout: titles, names and snippets
//! are one line each already (the alert record flattens them), and the hit is marked `**…**`.

use std::fmt::Write;

use super::local_time;
use crate::alert::Alert;
use crate::notify::Origin;

/// The text for one alert.
pub fn render_alert(alert: &Alert, origin: &Origin) -> String {
    let mut s = String::with_capacity(1024);
    alert_block(&mut s, alert, origin);
    footer(&mut s, origin);
    s
}

/// The text for several alerts under one `heading`, as [`super::html::render_batch`] lays
/// them out.
/// `more` counts the alerts left out, named at the end with where to read them.
pub fn render_batch(alerts: &[&Alert], more: usize, heading: &str, origin: &Origin) -> String {
    let mut s = String::with_capacity(256 + 1024 * alerts.len());
    let _ = writeln!(s, "{heading}\n{}\n", "=".repeat(heading.chars().count()));
    for (i, alert) in alerts.iter().enumerate() {
        if i > 0 {
            s.push_str("\n----\n\n");
        }
        alert_block(&mut s, alert, origin);
    }
    if more > 0 {
        let _ = writeln!(s, "\n----\n\n{}", super::more_line(more, origin));
    }
    footer(&mut s, origin);
    s
}

fn alert_block(s: &mut String, alert: &Alert, origin: &Origin) {
    let _ = writeln!(s, "[{}] {}", alert.watchlist, alert.headline());
    if let Some(link) = &alert.item.link {
        let _ = writeln!(s, "{link}");
    }
    s.push('\n');
    let _ = writeln!(s, "Feed:      {}", alert.feed.name);
    if let Some(published) = alert.item.published {
        let (human, machine) = local_time(published, origin.timezone);
        let _ = writeln!(s, "Published: {human} ({machine})");
    }
    for m in &alert.matches {
        let _ = writeln!(
            s,
            "\nmatched `{}` in {}:\n  {}",
            m.term,
            m.field,
            m.snippet.marked_text()
        );
    }
    if !alert.item.summary.is_empty() {
        let _ = writeln!(s, "\n{}", alert.item.summary);
    }
}

fn footer(s: &mut String, origin: &Origin) {
    // "-- " on its own line: mail clients know the signature starts there.
    let _ = writeln!(
        s,
        "\n-- \nSent by feedwatch on {}. The watchlists are in {}.",
        origin.host,
        origin.config.display()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::{test_alert, test_origin};
    use chrono::TimeZone;

    #[test]
    fn the_text_part_says_what_the_html_part_says() {
        let mut a = test_alert();
        a.item.link = Some("https://news.example/1".into());
        a.item.published = Some(chrono::Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap());
        a.update = true;
        let text = render_alert(&a, &test_origin());
        assert_eq!(
            text,
            "[notify-test] Updated: Test alert from feedwatch\n\
             https://news.example/1\n\n\
             Feed:      feedwatch\n\
             Published: Thu 26 Nov 2026 10:00 CET (2026-11-26T10:00:00+01:00)\n\n\
             matched `feedwatch` in title:\n  Test alert from **feedwatch**\n\n\
             If you can read this, feedwatch can deliver alerts here.\n\n\
             -- \nSent by feedwatch on desk-01. The watchlists are in /etc/feedwatch/config.toml.\n"
        );
    }

    #[test]
    fn a_batch_lists_each_alert_under_one_heading() {
        let alert = test_alert();
        let text = render_batch(
            &[&alert, &alert],
            0,
            "2 alerts for notify-test",
            &test_origin(),
        );
        assert!(
            text.starts_with(
                "2 alerts for notify-test\n========================\n\n[notify-test] "
            )
        );
        assert_eq!(text.matches("[notify-test] Test alert").count(), 2);
        assert_eq!(text.matches("\n----\n").count(), 1);
        assert_eq!(text.matches("Sent by feedwatch").count(), 1);
    }
}
