//! Plain chat text, for platforms that take a message without markup (ntfy) or want a
//! plain-text twin of a formatted one (Matrix); fitting a message to a limit in bytes; and
//! taking a platform's secrets out of what its receiver answered.
//!
//! Owns what plain text looks like: a link written out after its text, nothing bold. Must
//! never let feed text break a line (control characters become spaces), so feed text cannot
//! fake a line of its own, and never leave a secret in text that is logged.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use url::Url;

use crate::notify::compose::Markup;

/// Plain text: nothing is markup, so escaping only keeps feed text on its line.
pub struct Plain;

impl Markup for Plain {
    fn escape(text: &str) -> String {
        one_line(text)
    }

    fn link(url: &Url, text: &str) -> String {
        format!("{text} ({url})")
    }

    fn bold(text: &str) -> String {
        text.to_owned()
    }

    fn hit(text: &str) -> String {
        format!("*{text}*")
    }
}

/// `text` with every control character and line or paragraph separator made a space.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// `render(max)` for the largest `max`, starting at `start`, whose result `bytes` says is at
/// most `limit`: text fitted to a length in UTF-16 units (see
/// [`measure`](crate::notify::compose::measure)) can still be longer in bytes, up to three
/// times, so the length is lowered in proportion until the bytes fit.
pub fn within_bytes<T>(
    start: usize,
    limit: usize,
    render: impl Fn(usize) -> T,
    bytes: impl Fn(&T) -> usize,
) -> T {
    let mut max = start;
    loop {
        let out = render(max);
        let size = bytes(&out);
        if size <= limit || max == 0 {
            return out;
        }
        // In proportion, and always lower, so the loop ends.
        max = (max.saturating_mul(limit) / size).min(max - 1);
    }
}

/// `text` with each of `secrets` (as written, and percent-encoded as a URL would carry it)
/// replaced by `[redacted]`.
pub fn redact(mut text: String, secrets: &[String]) -> String {
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        let encoded = utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string();
        for form in [secret.as_str(), encoded.as_str()] {
            if text.contains(form) {
                text = text.replace(form, "[redacted]");
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_text_stays_on_its_line() {
        assert_eq!(Plain::escape("a\r\nb\u{2028}c\u{7f}d"), "a  b c d");
    }

    #[test]
    fn fitting_bytes_lowers_the_length_until_it_fits() {
        // Three bytes per character: the first try at 100 characters is 300 bytes.
        let text = |max: usize| "€".repeat(max);
        let out = within_bytes(100, 100, text, String::len);
        assert_eq!(out.chars().count(), 33);
    }

    #[test]
    fn secrets_are_taken_out_as_written_and_as_a_url_carries_them() {
        let secrets = ["123:abc".to_owned()];
        assert_eq!(
            redact("no /bot123:abc/ or /bot123%3Aabc/".into(), &secrets),
            "no /bot[redacted]/ or /bot[redacted]/"
        );
    }
}
