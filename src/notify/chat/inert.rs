//! Making feed text inert in chat markups that have no escape for everything they parse:
//! backslash escapes for markdown, and a zero-width space where a platform would otherwise
//! find a mention, a channel, a hashtag or a bare URL to link.
//!
//! Owns only these character rewrites. Must never drop or reorder a visible character: what a
//! reader sees is the feed's text.

/// U+200B ZERO WIDTH SPACE: invisible, and enough to stop a platform recognising `@all`,
/// `http://…` or `<users/all>` as anything but text.
pub const ZWSP: char = '\u{200B}';

/// `text` with a backslash before each character in `backslashed`, a [`ZWSP`] after each in
/// `broken`, and bare URLs (`scheme://`, `www.`) broken so no platform links them.
pub fn inert(text: &str, backslashed: &str, broken: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    for c in text.chars() {
        if backslashed.contains(c) {
            out.push('\\');
        }
        out.push(c);
        if broken.contains(c) {
            out.push(ZWSP);
        }
    }
    unlink(&out)
}

/// `text` with every `://` and `www.` split by a [`ZWSP`], and every dot between a letter or
/// digit and a letter followed by one, so no autolinker reads a URL or a bare domain
/// (`evil-bank.com/login`) in it.
pub fn unlink(text: &str) -> String {
    if !text.contains("://") && !text.contains('.') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut prev: Option<char> = None;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("://") {
            out.push(':');
            out.push(ZWSP);
            prev = Some(':');
            rest = &rest[1..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
        let next = rest.chars().next();
        if c == '.'
            && prev.is_some_and(char::is_alphanumeric)
            && next.is_some_and(|n| n.is_ascii_alphabetic())
        {
            out.push(ZWSP);
        }
        prev = Some(c);
    }
    out
}

/// `text` with each of `chars` replaced by its look-alike (`*` `_` `~` `` ` `` `<` `>` `[`
/// `]` as `∗` `＿` `∼` `ˋ` `‹` `›` `［` `］`), for syntaxes with no escape character: the
/// reader sees the same text, and the platform finds no markup in it.
pub fn lookalikes(text: &str, chars: &str) -> String {
    text.chars()
        .map(|c| {
            if !chars.contains(c) {
                return c;
            }
            match c {
                '*' => '∗',
                '_' => '＿',
                '~' => '∼',
                '`' => 'ˋ',
                '<' => '‹',
                '>' => '›',
                '[' => '［',
                ']' => '］',
                other => other,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_escaped_and_links_and_mentions_broken() {
        assert_eq!(
            inert("*a* @all see http://x.test or WWW.y.test", "*", "@"),
            "\\*a\\* @\u{200B}all see http:\u{200B}//x.\u{200B}test or WWW.\u{200B}y.\u{200B}test"
        );
        assert_eq!(inert("plain ünïcode", "*", "@"), "plain ünïcode");
    }
}
