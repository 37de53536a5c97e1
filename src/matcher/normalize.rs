//! Text normalization for matching: turns plain text into the comparable forms that terms are
//! searched in, and maps positions in those forms back to the plain text.
//!
//! Owns the character classes the matcher relies on (separators, invisible characters, word
//! characters, scripts written without spaces) and the whole-word check. Must never look at
//! HTML (that is `crate::text`'s job) and must never decide whether a watchlist alerts.
//!
//! Every form is built the same way for watch terms and for item text, so a term matches exactly
//! when its normalized text occurs in the item's normalized text:
//! 1. NFKC over each character and what composes with it (full-width letters, ligatures, NBSP
//!    and the like become their plain equivalents; half-width voiced katakana and decomposed
//!    Hangul compose);
//! 2. invisible characters (soft hyphen, zero-width characters, bidi marks, BOM, Arabic tatweel,
//!    variation selectors) are removed;
//! 3. typographic apostrophes and quotes, transliteration marks, the backtick and Hebrew
//!    geresh and gershayim become ASCII `'` and `"`;
//! 4. every run of whitespace, hyphens, dashes and underscores becomes one ASCII space;
//! 5. unless the term is case-sensitive, full Unicode case folding (`ß` → `ss`);
//! 6. unless the term is accent-sensitive, NFD and removal of diacritical marks, and letters
//!    without a decomposition folded to their base (`ł` → `l`, `ı` → `i`).

use std::collections::HashMap;

use caseless::Caseless;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Which comparable form of a text a term is searched in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Form {
    /// Fold case (case-insensitive terms).
    fold_case: bool,
    /// Remove diacritics (accent-insensitive terms).
    strip_accents: bool,
}

impl Form {
    /// The default form: case and accents ignored.
    pub(crate) const DEFAULT: Form = Form::new(false, false);
    /// Case and accents kept; regex terms run in this form.
    pub(crate) const EXACT: Form = Form::new(true, true);
    /// How many distinct forms exist.
    pub(crate) const COUNT: usize = 4;

    /// The form for a term with the given sensitivity flags.
    pub(crate) const fn new(case_sensitive: bool, accent_sensitive: bool) -> Form {
        Form {
            fold_case: !case_sensitive,
            strip_accents: !accent_sensitive,
        }
    }

    /// A dense index in `0..Form::COUNT`, for per-form tables.
    pub(crate) fn index(self) -> usize {
        usize::from(!self.fold_case) | (usize::from(!self.strip_accents) << 1)
    }
}

/// One stretch of normalized text and where it came from in the plain text.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    /// Byte offset in the normalized text where this chunk starts.
    out: usize,
    /// Byte offset in the plain text where the source of this chunk starts.
    plain: usize,
    /// Length in bytes of the source in the plain text.
    plain_len: usize,
    /// Source and output are byte-for-byte aligned (ASCII copied or lowercased), so offsets
    /// inside the chunk map by simple addition.
    linear: bool,
}

/// A text in one comparable form, with a map back to the plain text it was made from.
#[derive(Debug, Clone, Default)]
pub(crate) struct Normalized {
    text: String,
    chunks: Vec<Chunk>,
}

impl Normalized {
    /// Normalizes `plain` into `form`.
    pub(crate) fn new(plain: &str, form: Form) -> Normalized {
        let mut b = Builder::with_capacity(plain.len());
        let mut clusters = ClusterForms::new(form);
        let bytes = plain.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let byte = bytes[i];
            if let Some(len) = soft_hyphen_break(plain, i) {
                i += len;
                continue;
            }
            if is_ascii_separator(byte) {
                b.extend_separator(i, i + 1, byte == b' ');
                i += 1;
                continue;
            }
            let run_end = ascii_run_end(bytes, i);
            if let Some(run) = plain.get(i..run_end).filter(|r| !r.is_empty()) {
                b.push_ascii_run(run, i, form.fold_case);
                i = run_end;
                continue;
            }
            let Some(cluster) = plain.get(i..).map(first_cluster) else {
                break;
            };
            if cluster.chars().next().is_some_and(ends_a_word) {
                b.extend_separator(i, i, false);
            }
            b.push_cluster(clusters.normalize(cluster), i, i + cluster.len());
            i += cluster.len();
        }
        // A trailing separator separates nothing either and is dropped (never flushed), so
        // terms need no trimming.
        Normalized {
            text: b.out,
            chunks: b.chunks,
        }
    }

    /// The normalized text.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// Maps a byte range of the normalized text to the byte range of plain text it came from.
    pub(crate) fn to_plain(&self, start: usize, end: usize) -> Option<(usize, usize)> {
        if end <= start {
            return None;
        }
        let first = self.chunk_at(start)?;
        let last = self.chunk_at(end - 1)?;
        let plain_start = if first.linear {
            first.plain + (start - first.out)
        } else {
            first.plain
        };
        let plain_end = if last.linear {
            last.plain + (end - last.out)
        } else {
            last.plain + last.plain_len
        };
        Some((plain_start, plain_end.max(plain_start)))
    }

    fn chunk_at(&self, pos: usize) -> Option<&Chunk> {
        let idx = self.chunks.partition_point(|c| c.out <= pos);
        self.chunks.get(idx.checked_sub(1)?)
    }
}

/// Accumulates normalized output and its chunk map.
struct Builder {
    out: String,
    chunks: Vec<Chunk>,
    /// Plain range of a separator run not yet written, and whether it is one ASCII space.
    sep: Option<(usize, usize, bool)>,
    /// The next non-separator output must start a new chunk.
    need_chunk: bool,
}

impl Builder {
    /// An empty builder for the normalized form of `len` bytes of plain text.
    fn with_capacity(len: usize) -> Builder {
        Builder {
            out: String::with_capacity(len),
            chunks: Vec::with_capacity(16),
            sep: None,
            need_chunk: true,
        }
    }

    fn extend_separator(&mut self, start: usize, end: usize, ascii_space: bool) {
        self.sep = Some(match self.sep {
            Some((s, _, _)) => (s, end, false),
            None => (start, end, ascii_space),
        });
    }

    fn flush_separator(&mut self) {
        // A separator at the very start of the text separates nothing.
        if self.out.is_empty() {
            self.sep = None;
        }
        if let Some((s, e, ascii_space)) = self.sep.take() {
            // A lone ASCII space maps to itself: keep it in the surrounding linear chunk, which
            // keeps the map small for ordinary prose.
            if ascii_space {
                self.append_linear(" ", s, false);
                return;
            }
            self.chunks.push(Chunk {
                out: self.out.len(),
                plain: s,
                plain_len: e - s,
                linear: false,
            });
            self.out.push(' ');
            self.need_chunk = true;
        }
    }

    fn push_ascii_run(&mut self, run: &str, plain: usize, fold_case: bool) {
        self.flush_separator();
        self.append_linear(run, plain, fold_case);
    }

    /// Appends ASCII text that maps byte for byte to `plain..plain + run.len()`.
    fn append_linear(&mut self, run: &str, plain: usize, fold_case: bool) {
        let out = self.out.len();
        match self.chunks.last_mut() {
            Some(last)
                if !self.need_chunk
                    && last.linear
                    && last.plain + last.plain_len == plain
                    && last.out + last.plain_len == out =>
            {
                last.plain_len += run.len();
            }
            _ => self.chunks.push(Chunk {
                out,
                plain,
                plain_len: run.len(),
                linear: true,
            }),
        }
        self.need_chunk = false;
        self.out.push_str(run);
        if fold_case && let Some(added) = self.out.get_mut(out..) {
            added.make_ascii_lowercase();
        }
    }

    /// Appends the normalized form of the cluster at `plain..plain_end`: every character of it
    /// maps to the whole cluster.
    fn push_cluster(&mut self, normalized: &str, plain: usize, plain_end: usize) {
        self.need_chunk = true;
        for c in normalized.chars() {
            if is_separator(c) {
                self.extend_separator(plain, plain_end, false);
            } else {
                self.push_char(c, plain, plain_end - plain);
            }
        }
    }

    fn push_char(&mut self, c: char, plain: usize, plain_len: usize) {
        self.flush_separator();
        if self.need_chunk {
            self.chunks.push(Chunk {
                out: self.out.len(),
                plain,
                plain_len,
                linear: false,
            });
            // Further output of the same cluster belongs to this chunk; the caller resets
            // `need_chunk` when the cluster ends.
            self.need_chunk = false;
        }
        self.out.push(c);
    }
}

/// The length of a line-end hyphenation at `at` (`-`, the line break and the next line's
/// indent), when it splits a word: a letter before it and a lower-case letter after it
/// ("Inter-\npol" is "Interpol"). A hyphen before a capital ("Al-\nShabaab") or on one line
/// stays a separator.
fn soft_hyphen_break(plain: &str, at: usize) -> Option<usize> {
    let rest = plain.get(at..)?.strip_prefix('-')?;
    let after = rest
        .strip_prefix("\r\n")
        .or_else(|| rest.strip_prefix('\n'))?;
    let next = after.trim_start_matches([' ', '\t']);
    let letter_before = plain.get(..at)?.chars().next_back()?.is_alphabetic();
    let lower_after = next.chars().next()?.is_lowercase();
    (letter_before && lower_after).then(|| plain.len() - at - next.len())
}

/// Where the ASCII fast path starting at `start` ends: a run of ASCII bytes that are not
/// separators is copied (and lowercased) at once, lone spaces between words included since they
/// map to themselves. The run is empty when `start` begins no such run.
fn ascii_run_end(bytes: &[u8], start: usize) -> usize {
    let mut end = start;
    loop {
        match bytes.get(end) {
            Some(&c) if is_ascii_word_byte(c) => end += 1,
            Some(b' ')
                if end > start && bytes.get(end + 1).is_some_and(|&n| is_ascii_word_byte(n)) =>
            {
                end += 1
            }
            _ => break,
        }
    }
    // The last ASCII character joins the cluster path when a combining mark may follow.
    if end > start && bytes.get(end).is_some_and(|c| !c.is_ascii()) {
        end -= 1;
    }
    end
}

/// The first cluster of `s`: its first character and what composes with it under NFKC
/// (see [`joins`]), so that composition and mark removal see the whole unit.
fn first_cluster(s: &str) -> &str {
    let mut chars = s.char_indices();
    let mut end = s.len();
    if let Some((_, first)) = chars.next() {
        end = first.len_utf8();
        let mut prev = first;
        for (off, c) in chars {
            if !joins(prev, c) {
                break;
            }
            end = off + c.len_utf8();
            prev = c;
        }
    }
    s.get(..end).unwrap_or(s)
}

/// Whether `c` composes with the character before it: a combining mark; a half-width
/// katakana voiced or semi-voiced mark (`ﾋﾞ` is `ビ`); a Hangul vowel or final jamo after a
/// leading jamo, a vowel or a syllable (decomposed Hangul recomposes into syllables).
fn joins(prev: char, c: char) -> bool {
    let hangul = |p: char| matches!(p, '\u{1100}'..='\u{11FF}' | '\u{AC00}'..='\u{D7A3}');
    is_combining_mark(c)
        || matches!(c, '\u{FF9E}' | '\u{FF9F}')
        || (matches!(c, '\u{1160}'..='\u{11FF}') && hangul(prev))
}

/// Normalized forms of the clusters of one text.
struct ClusterForms {
    form: Form,
    /// Lone characters repeat a lot (accented letters, typographic punctuation); normalizing
    /// each distinct one once per text keeps the cluster path cheap.
    cache: HashMap<char, String>,
    /// The form of the last cluster of several characters.
    scratch: String,
}

impl ClusterForms {
    fn new(form: Form) -> ClusterForms {
        ClusterForms {
            form,
            cache: HashMap::new(),
            scratch: String::new(),
        }
    }

    /// The normalized form of `cluster`.
    fn normalize(&mut self, cluster: &str) -> &str {
        let form = self.form;
        match cluster.chars().next() {
            Some(c) if c.len_utf8() == cluster.len() => self
                .cache
                .entry(c)
                .or_insert_with(|| {
                    let mut n = String::new();
                    normalize_cluster(cluster, form, &mut n);
                    n
                })
                .as_str(),
            _ => {
                self.scratch.clear();
                normalize_cluster(cluster, form, &mut self.scratch);
                self.scratch.as_str()
            }
        }
    }
}

/// ASCII whitespace (as `char::is_whitespace` sees it, vertical tab included), a hyphen or an
/// underscore.
fn is_ascii_separator(b: u8) -> bool {
    matches!(b, b'\t'..=b'\r' | b' ' | b'-' | b'_')
}

/// An ASCII byte that is not a separator and normalizes to itself (or its lowercase): not the
/// backtick, which becomes an apostrophe on the cluster path.
fn is_ascii_word_byte(b: u8) -> bool {
    b.is_ascii() && !is_ascii_separator(b) && b != b'`'
}

/// Normalizes one cluster (a character and its combining marks) into `out`.
fn normalize_cluster(cluster: &str, form: Form, out: &mut String) {
    let base = cluster
        .chars()
        .nfkc()
        .filter(|&c| !is_invisible(c))
        .map(unify_punctuation);
    match (form.fold_case, form.strip_accents) {
        (true, true) => out.extend(
            base.default_case_fold()
                .nfd()
                .filter(|&c| !is_diacritic(c))
                .map(strip_stroke)
                .nfc(),
        ),
        (true, false) => out.extend(base.default_case_fold().nfc()),
        (false, true) => out.extend(
            base.nfd()
                .filter(|&c| !is_diacritic(c))
                .map(strip_stroke)
                .nfc(),
        ),
        (false, false) => out.extend(base),
    }
}

/// Normalizes a whole string into `form` without keeping the position map (used for terms).
pub(crate) fn normalize(s: &str, form: Form) -> String {
    Normalized::new(s, form).text
}

/// Characters that carry no letter and only affect rendering; removed before matching.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' // soft hyphen
            | '\u{0640}' // Arabic tatweel (kashida), a stretching mark
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}' // zero-width space/joiners, LRM, RLM
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2060}'..='\u{2064}' // word joiner and invisible operators
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{FE00}'..='\u{FE0F}' // variation selectors (emoji or text style: ✈️)
            | '\u{E0100}'..='\u{E01EF}' // variation selectors supplement
            | '\u{FEFF}' // BOM / zero-width no-break space
    )
}

/// Typographic apostrophes and quotes become their ASCII forms; so do the transliteration
/// marks for ayin and hamza (`ʿAsaʾib`), the backtick, and Hebrew geresh and gershayim (the
/// Hebrew forms of `'` and `"`, as in acronyms).
fn unify_punctuation(c: char) -> char {
    match c {
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{02BC}'
        | '\u{02BE}' | '\u{02BF}' | '`' | '\u{05F3}' => '\'',
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' | '\u{05F4}' => '"',
        c => c,
    }
}

/// Whitespace, hyphens, dashes and underscores (hashtags and handles: `boko_haram`): any
/// run of them is one separator.
pub(crate) fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | '_' | '\u{058A}' // Armenian hyphen
                | '\u{05BE}' // Hebrew maqaf
                | '\u{1806}'
                | '\u{2010}'
                ..='\u{2015}' // hyphen, non-breaking hyphen, figure/en/em dash, bar
                | '\u{2212}' // minus sign
                | '\u{2E17}'
                | '\u{2E1A}'
                | '\u{2E3A}'
                | '\u{2E3B}'
                | '\u{301C}'
                | '\u{3030}'
                | '\u{30A0}'
                | '\u{FE31}'
                | '\u{FE32}'
                | '\u{FE58}'
                | '\u{FE63}'
                | '\u{FF0D}'
        )
}

/// Diacritical marks removed for accent-insensitive matching.
///
/// Deliberately not every combining mark: vowel signs of Indic, Thai and similar scripts are
/// letters in all but encoding, and dropping them would make unrelated words equal.
fn is_diacritic(c: char) -> bool {
    matches!(
        c,
        '\u{0300}'..='\u{036F}' // combining diacritical marks (Latin, Greek, Cyrillic)
            | '\u{0483}'..='\u{0489}' // Cyrillic combining marks
            | '\u{0591}'..='\u{05BD}' // Hebrew cantillation and points
            | '\u{05BF}'
            | '\u{05C1}'
            | '\u{05C2}'
            | '\u{05C4}'
            | '\u{05C5}'
            | '\u{05C7}'
            | '\u{0610}'..='\u{061A}' // Arabic honorifics and small marks
            | '\u{064B}'..='\u{065F}' // Arabic harakat
            | '\u{0670}'
            | '\u{06D6}'..='\u{06DC}'
            | '\u{06DF}'..='\u{06E4}'
            | '\u{06E7}'
            | '\u{06E8}'
            | '\u{06EA}'..='\u{06ED}'
            | '\u{1AB0}'..='\u{1AFF}'
            | '\u{1DC0}'..='\u{1DFF}'
            | '\u{20D0}'..='\u{20FF}'
            | '\u{FE20}'..='\u{FE2F}'
    )
}

/// Letters whose diacritic is part of the glyph and so survives NFD (Polish ł, Danish ø,
/// Croatian đ, Maltese ħ, Turkish ı): mapped to their base letter for accent-insensitive
/// matching. So are Arabic-script letter variants ("Arabic-script folding"): the Persian and
/// Urdu kāf and yā' and the alif maqṣūra fold to the Arabic forms, tā' marbūṭa (always at the
/// end of a word) to hā', and alif waṣla to alif; hamza carriers already lose their hamza as
/// a mark under NFD.
fn strip_stroke(c: char) -> char {
    match c {
        '\u{06A9}' => '\u{0643}',              // ک → ك
        '\u{06CC}' | '\u{0649}' => '\u{064A}', // ی, ى → ي
        '\u{0629}' => '\u{0647}',              // ة → ه
        '\u{0671}' => '\u{0627}',              // ٱ → ا
        'ł' => 'l',
        'Ł' => 'L',
        'ø' => 'o',
        'Ø' => 'O',
        'đ' => 'd',
        'Đ' => 'D',
        'ħ' => 'h',
        'Ħ' => 'H',
        'ŧ' => 't',
        'Ŧ' => 'T',
        // Turkish dotless i, as the dotted capital İ already folds to i.
        'ı' => 'i',
        c => c,
    }
}

/// Superscripts, subscripts and the trade and service marks: NFKC makes them letters and
/// digits (`¹` → `1`, `™` → `TM`), which would glue them onto the word they follow
/// ("Interpol¹" → "interpol1"), so a separator goes before them.
fn ends_a_word(c: char) -> bool {
    matches!(
        c,
        '\u{00B2}' | '\u{00B3}' | '\u{00B9}' | '\u{2070}'..='\u{209F}' | '\u{2120}' | '\u{2122}'
    )
}

/// A character that makes up words, for the whole-word check.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || is_combining_mark(c)
}

/// Letters of the Arabic script (Arabic, Persian, Urdu, Pashto…), presentation forms included.
pub(crate) fn is_arabic_script(c: char) -> bool {
    matches!(
        c,
        '\u{0620}'..='\u{064A}'
            | '\u{066E}'..='\u{06D3}'
            | '\u{06D5}'
            | '\u{06FA}'..='\u{06FC}'
            | '\u{0750}'..='\u{077F}'
            | '\u{08A0}'..='\u{08FF}'
            | '\u{FB50}'..='\u{FDFF}'
            | '\u{FE70}'..='\u{FEFF}'
    )
}

/// Scripts where a term is found as a substring: those written without spaces between words,
/// and Korean, which spaces words but attaches particles to names ("서울에서", in Seoul), so a
/// whole-word rule would miss most mentions.
pub(crate) fn is_unspaced(c: char) -> bool {
    matches!(
        c,
        '\u{0E00}'..='\u{0EFF}' // Thai, Lao
            | '\u{1000}'..='\u{109F}' // Myanmar
            | '\u{1100}'..='\u{11FF}' // Hangul jamo
            | '\u{3130}'..='\u{318F}' // Hangul compatibility jamo
            | '\u{A960}'..='\u{A97F}' // Hangul jamo extended-A
            | '\u{AC00}'..='\u{D7FF}' // Hangul syllables, jamo extended-B
            | '\u{1780}'..='\u{17FF}' // Khmer
            | '\u{19E0}'..='\u{19FF}' // Khmer symbols
            | '\u{2E80}'..='\u{2FDF}' // CJK radicals, Kangxi radicals
            | '\u{3005}'..='\u{3007}'
            | '\u{3021}'..='\u{3029}'
            | '\u{3038}'..='\u{303B}'
            | '\u{3040}'..='\u{30FF}' // Hiragana, Katakana
            | '\u{31F0}'..='\u{31FF}' // Katakana phonetic extensions
            | '\u{3400}'..='\u{4DBF}' // CJK extension A
            | '\u{4E00}'..='\u{9FFF}' // CJK unified ideographs
            | '\u{A9E0}'..='\u{A9FF}' // Myanmar extended-B
            | '\u{AA60}'..='\u{AA7F}' // Myanmar extended-A
            | '\u{F900}'..='\u{FAFF}' // CJK compatibility ideographs
            | '\u{FF66}'..='\u{FF9F}' // half-width Katakana
            | '\u{20000}'..='\u{3FFFF}' // CJK extensions B and later
    )
}

/// Whether `text[start..end]` stands as whole words: no word character continues it on either
/// side, except where one side of the edge is in a script written without spaces.
pub(crate) fn is_whole_word(text: &str, start: usize, end: usize) -> bool {
    let (Some(before), Some(hit), Some(after)) =
        (text.get(..start), text.get(start..end), text.get(end..))
    else {
        return false;
    };
    edge_ok(last_base(before), hit.chars().next())
        && edge_ok(after.chars().next(), hit.chars().next_back())
}

/// The last character of `before` as the whole-word check sees it: combining marks count as
/// the character they sit on, so a mark after a symbol (`✈⃝`) does not make the next letter
/// part of a word.
fn last_base(before: &str) -> Option<char> {
    let mut mark = None;
    for c in before.chars().rev() {
        if !is_combining_mark(c) {
            return Some(c);
        }
        mark.get_or_insert(c);
    }
    mark
}

fn edge_ok(outside: Option<char>, inside: Option<char>) -> bool {
    match (outside, inside) {
        (Some(o), Some(i)) => {
            !(is_word_char(o) && is_word_char(i)) || is_unspaced(o) || is_unspaced(i)
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        normalize(s, Form::DEFAULT)
    }

    #[test]
    fn folds_case_accents_and_width() {
        assert_eq!(norm("Zürich"), "zurich");
        assert_eq!(norm("Zu\u{0308}rich"), "zurich");
        assert_eq!(norm("ＩＳＩＳ"), "isis");
        assert_eq!(norm("STRASSE"), norm("straße"));
        assert_eq!(norm("Inter\u{00AD}pol"), "interpol");
    }

    #[test]
    fn transliteration_marks_and_hebrew_quotes_are_ascii_quotes() {
        assert_eq!(norm("\u{02BF}Asa\u{02BE}ib"), "'asa'ib");
        assert_eq!(norm("`Asa`ib"), "'asa'ib");
        assert_eq!(
            norm("\u{05E6}\u{05D4}\u{05F4}\u{05DC}"),
            "\u{05E6}\u{05D4}\"\u{05DC}"
        );
        assert_eq!(norm("\u{05D2}\u{05F3}"), "\u{05D2}'");
    }

    #[test]
    fn arabic_script_variants_fold_unless_accents_count() {
        // Persian spelling (ک, ی) and Arabic spelling (ك, ي) of one name.
        assert_eq!(
            norm("\u{06A9}\u{0631}\u{062F}\u{06CC}"),
            norm("\u{0643}\u{0631}\u{062F}\u{064A}")
        );
        assert_eq!(
            norm("\u{0645}\u{0648}\u{0633}\u{0649}"),
            norm("\u{0645}\u{0648}\u{0633}\u{064A}")
        );
        // Tā' marbūṭa and hā' at the end of a word; hamza carriers and alif waṣla.
        assert_eq!(
            norm("\u{062D}\u{0645}\u{0627}\u{0633}\u{0629}"),
            norm("\u{062D}\u{0645}\u{0627}\u{0633}\u{0647}")
        );
        for alif in ['\u{0623}', '\u{0625}', '\u{0622}', '\u{0671}'] {
            assert_eq!(
                norm(&format!("{alif}\u{0645}\u{064A}\u{0631}")),
                norm("\u{0627}\u{0645}\u{064A}\u{0631}")
            );
        }
        assert_eq!(
            norm("\u{0645}\u{0624}\u{062A}\u{0645}\u{0631}"),
            norm("\u{0645}\u{0648}\u{062A}\u{0645}\u{0631}")
        );
        assert_eq!(
            norm("\u{0647}\u{064A}\u{0626}\u{0629}"),
            norm("\u{0647}\u{064A}\u{064A}\u{0647}")
        );
        let kept = Form::new(false, true);
        assert_ne!(normalize("\u{06A9}", kept), normalize("\u{0643}", kept));
    }

    #[test]
    fn dotless_and_dotted_i_fold_alike() {
        assert_eq!(norm("Kırşehir"), "kirsehir");
        assert_eq!(norm("Ağrı'da"), "agri'da");
        assert_eq!(norm("İSTANBUL"), "istanbul");
        assert_eq!(normalize("Kırşehir", Form::new(false, true)), "kırşehir");
    }

    #[test]
    fn separators_collapse_to_one_space() {
        assert_eq!(norm("boko_haram"), "boko haram");
        assert_eq!(
            norm("#\u{0628}\u{0648}\u{06A9}\u{0648}_\u{062D}\u{0631}\u{0627}\u{0645}"),
            "#\u{0628}\u{0648}\u{0643}\u{0648} \u{062D}\u{0631}\u{0627}\u{0645}"
        );
        assert_eq!(norm("ISIS\u{2013}K"), "isis k");
        assert_eq!(norm("John \u{00A0}\n Kirby"), "john kirby");
        assert_eq!(norm("a - b"), "a b");
        assert_eq!(norm(" -a- "), "a");
    }

    #[test]
    fn keeps_accents_and_case_when_asked() {
        assert_eq!(
            normalize("Zu\u{0308}rich", Form::new(false, true)),
            "zürich"
        );
        assert_eq!(normalize("Zürich", Form::new(true, false)), "Zurich");
        assert_eq!(normalize("O’Brien", Form::EXACT), "O'Brien");
    }

    #[test]
    fn maps_back_to_plain() {
        let plain = "Da Zürich\u{00A0}\u{00A0}Ost!";
        let n = Normalized::new(plain, Form::DEFAULT);
        assert_eq!(n.text(), "da zurich ost!");
        let s = n.text().find("zurich ost").unwrap_or(0);
        let (ps, pe) = n.to_plain(s, s + "zurich ost".len()).unwrap_or((0, 0));
        assert_eq!(&plain[ps..pe], "Zürich\u{00A0}\u{00A0}Ost");
    }

    #[test]
    fn a_word_hyphenated_at_a_line_end_is_one_word() {
        assert_eq!(norm("Inter-\npol said"), "interpol said");
        assert_eq!(norm("Inter-\r\n   pol"), "interpol");
        assert_eq!(
            norm("Al-\nShabaab"),
            "al shabaab",
            "a capital starts a word"
        );
        assert_eq!(norm("ISIS-K"), "isis k", "a hyphen on one line separates");
        assert_eq!(norm("2024-\nnow"), "2024 now", "only between letters");
        let text = "Inter-\npol said";
        let n = Normalized::new(text, Form::DEFAULT);
        assert_eq!(n.text(), "interpol said");
    }

    #[test]
    fn nfkc_composes_across_a_sequence() {
        assert_eq!(
            norm("\u{FF8B}\u{FF9E}\u{FF99}"),
            norm("\u{30D3}\u{30EB}"),
            "ﾋﾞﾙ is ビル"
        );
        assert_eq!(norm("\u{FF8E}\u{FF9F}"), norm("\u{30DD}"), "ﾎﾟ is ポ");
        assert_eq!(
            norm("\u{1112}\u{1161}\u{11AB}"),
            norm("\u{D55C}"),
            "jamo are 한"
        );
        assert_eq!(
            norm("\u{1109}\u{1165}\u{110B}\u{116E}\u{11AF}"),
            norm("\u{C11C}\u{C6B8}"),
            "서울"
        );
    }

    #[test]
    fn superscripts_and_trade_marks_end_a_word() {
        assert_eq!(norm("Interpol\u{00B9} said"), "interpol 1 said");
        assert_eq!(norm("Acme\u{2122} Corp"), "acme tm corp");
        assert_eq!(norm("x\u{2082}"), "x 2");
        let text = "Interpol\u{00B9}";
        let n = Normalized::new(text, Form::DEFAULT);
        assert_eq!(n.text(), "interpol 1");
        assert!(is_whole_word(n.text(), 0, 8));
    }

    #[test]
    fn whole_word_edges() {
        let emoji = norm("\u{2708}\u{FE0F}Kabul");
        assert_eq!(emoji, "\u{2708}kabul", "a variation selector is invisible");
        assert!(is_whole_word(&emoji, emoji.len() - 5, emoji.len()));
        let marked = "\u{2708}\u{20DD}kabul";
        assert!(is_whole_word(marked, marked.len() - 5, marked.len()));
        let accented = "e\u{0301}kabul";
        assert!(!is_whole_word(accented, accented.len() - 5, accented.len()));
        assert!(!is_whole_word("crisis", 2, 6));
        assert!(is_whole_word("isis's men", 0, 4));
        assert!(is_whole_word("在isis的", 3, 7));
    }
}
