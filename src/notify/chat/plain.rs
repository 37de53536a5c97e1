//! Plain chat text, for platforms that take a message without markup (ntfy) or want a
//! plain-text twin of a formatted one (Matrix), and fitting a message to a limit in bytes.
//!
//! Owns what plain text looks like: a link written out after its text, nothing bold. Must
//! never let feed text break a line (control characters become spaces), so feed text cannot
//! fake a line of its own, and never let a URL in feed text be found by a client's autolinker
//! (see [`super::inert::unlink`]).

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
}
