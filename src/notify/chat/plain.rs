//! Plain chat text, for platforms that take a message without markup (ntfy) or want a
//! plain-text twin of a formatted one (Matrix); fitting a message to a limit in bytes; and
//! taking a platform's secrets out of what its receiver answered.
//!
//! Owns what plain text looks like: a link written out after its text, nothing bold. Must
//! never let feed text break a line (control characters become spaces), so feed text cannot
//! fake a line of its own, never let a URL in feed text be found by a client's autolinker
//! (a zero-width space splits `://` and `www.`), and never leave a secret in text that is
//! logged.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use url::Url;

use crate::notify::compose::Markup;

/// Plain text: nothing is markup, so escaping keeps feed text on its line and unlinked.
pub struct Plain;

impl Markup for Plain {
    fn escape(text: &str) -> String {
        super::inert::unlink(&one_line(text))
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

/// Shortest start of a secret taken out on its own: a receiver's text is cut to a length
/// before it is logged, and the cut may fall inside a secret it echoes.
const SECRET_START: usize = 8;

/// `text` with each of `secrets` (as written, and percent-encoded as a URL would carry it)
/// replaced by `[redacted]`, and so is any start of one at least [`SECRET_START`] long.
pub fn redact(mut text: String, secrets: &[String]) -> String {
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        let encoded = utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string();
        for form in [secret.as_str(), encoded.as_str()] {
            text = redact_one(&text, form);
        }
    }
    text
}

fn redact_one(text: &str, secret: &str) -> String {
    let start = secret
        .char_indices()
        .map(|(i, _)| i)
        .chain([secret.len()])
        .find(|&i| i >= SECRET_START)
        .unwrap_or(secret.len());
    let probe = &secret[..start];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(probe) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        // As much of the secret as is there, ending between characters.
        let mut end = tail
            .bytes()
            .zip(secret.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        while !tail.is_char_boundary(end) {
            end -= 1;
        }
        out.push_str("[redacted]");
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_text_stays_on_its_line() {
        assert_eq!(Plain::escape("a\r\nb\u{2028}c\u{7f}d"), "a  b c d");
    }

    #[test]
    fn a_url_in_feed_text_is_not_a_link() {
        assert_eq!(
            Plain::escape("see http://x.test or WWW.y.test, ünïcode"),
            "see http:\u{200B}//x.\u{200B}test or WWW.\u{200B}y.\u{200B}test, ünïcode"
        );
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
        let secrets = ["123456789:AAHdqTcvCH1vGWJxfSeo".to_owned()];
        assert_eq!(
            redact("cut at /bot123456789:AAHdq".into(), &secrets),
            "cut at /bot[redacted]",
            "a secret cut short is taken out too"
        );
    }
}
