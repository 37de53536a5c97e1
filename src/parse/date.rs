//! Feed date parsing for the lenient reader: RFC 822/2822 (RSS), RFC 3339 / W3C-DTF (Atom,
//! Dublin Core) and the common sloppy variants of both.
//!
//! Owns only string-to-time conversion. Must never guess a date from a string it does not
//! understand: unknown formats give `None`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Parses a feed timestamp; times without a zone are taken as UTC.
pub fn parse_date(raw: &str) -> Option<DateTime<Utc>> {
    let s = raw.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = DateTime::parse_from_rfc2822(s) {
        return Some(d.with_timezone(&Utc));
    }
    // RFC 822 with a named zone chrono does not know, or a weekday that does not match.
    let without_weekday = s.split_once(',').map_or(s, |(_, rest)| rest.trim());
    for fmt in ["%d %b %Y %H:%M:%S %z", "%d %b %Y %H:%M %z"] {
        if let Ok(d) = DateTime::parse_from_str(without_weekday, fmt) {
            return Some(d.with_timezone(&Utc));
        }
    }
    let no_zone = without_weekday
        .trim_end_matches(|c: char| c.is_ascii_alphabetic())
        .trim();
    for fmt in [
        "%d %b %Y %H:%M:%S",
        "%d %b %Y %H:%M",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(no_zone, fmt) {
            return Some(Utc.from_utc_datetime(&d));
        }
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%.f%z"] {
        if let Ok(d) = DateTime::parse_from_str(s, fmt) {
            return Some(d.with_timezone(&Utc));
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| Utc.from_utc_datetime(&d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_feed_dates() {
        let want = Utc.with_ymd_and_hms(2004, 1, 2, 3, 4, 5).single();
        assert_eq!(parse_date("Fri, 02 Jan 2004 03:04:05 GMT"), want);
        assert_eq!(parse_date("Mon, 02 Jan 2004 03:04:05 +0000"), want);
        assert_eq!(parse_date("2004-01-02T03:04:05Z"), want);
        assert_eq!(parse_date("2004-01-02T04:04:05+01:00"), want);
        assert_eq!(parse_date("2004-01-02 03:04:05"), want);
        assert!(parse_date("2004-01-02").is_some());
        assert_eq!(parse_date("someday"), None);
    }
}
