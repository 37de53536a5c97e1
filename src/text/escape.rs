//! Escaping text from outside (feeds, servers) for a terminal or a log line.
//!
//! Owns the rule of what may reach a terminal or a log raw: nothing that moves the cursor,
//! starts an escape sequence or breaks a line. Must never alter printable text, so a title
//! shown escaped still reads as the feed wrote it.

use std::borrow::Cow;
use std::fmt::{self, Write};

/// Whether `c` is shown as an escape: C0 and C1 controls, DEL, and the Unicode line and
/// paragraph separators (which some terminals and log viewers break lines at).
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// `s` displayed with every [`is_unsafe`] character written as an escape (`\n`, `\r`, `\t`,
/// else `\u{1b}`), so it stays on one line and cannot drive the terminal; use it for text from
/// outside in `tracing` fields and printed lines.
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some((at, c)) = rest.char_indices().find(|&(_, c)| is_unsafe(c)) {
            f.write_str(&rest[..at])?;
            match c {
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c => write!(f, "\\u{{{:x}}}", u32::from(c))?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

/// Serialized JSON with the characters JSON allows raw in strings but a terminal may act on
/// (DEL, C1 controls, U+2028, U+2029) written as `\uXXXX`; the JSON value is unchanged. JSON
/// serializers already escape C0 controls in strings, and the C0 whitespace outside strings
/// (pretty printing's line breaks) stays as it is.
pub fn escape_json_controls(json: &str) -> Cow<'_, str> {
    let raw_in_json = |c: char| is_unsafe(c) && u32::from(c) >= 0x7f;
    if !json.chars().any(raw_in_json) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if raw_in_json(c) {
            // Every unsafe character is in the Basic Multilingual Plane: one `\uXXXX` each.
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_separators_are_escaped_printable_text_is_not() {
        assert_eq!(
            Escaped("a\nb\r\tc\x1b[31md\u{7f}\u{9b}e\u{2028}f\u{2029}").to_string(),
            "a\\nb\\r\\tc\\u{1b}[31md\\u{7f}\\u{9b}e\\u{2028}f\\u{2029}"
        );
        let plain = "Café « ISIS–K » 中国 \\n";
        assert_eq!(Escaped(plain).to_string(), plain);
    }

    #[test]
    fn json_stays_the_same_value() {
        let value = serde_json::json!({"t": ["a\u{85}b\u{2028}c\u{7f}\n\x1b"]});
        let text = serde_json::to_string(&value).unwrap();
        let escaped = escape_json_controls(&text);
        assert!(!escaped.chars().any(is_unsafe), "{escaped}");
        let back: serde_json::Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back, value);

        let pretty = serde_json::to_string_pretty(&value).unwrap();
        let escaped = escape_json_controls(&pretty);
        assert_eq!(escaped.lines().count(), pretty.lines().count());
        assert!(
            !escaped.lines().any(|l| l.chars().any(is_unsafe)),
            "{escaped}"
        );
        let back: serde_json::Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back, value);
    }
}
