//! Forward text scanning with memory, shared by the HTML reader and the lenient XML reader.
//!
//! Owns the one trick that keeps recovery from unterminated markup linear: a search for a
//! terminator remembers its answer. Must never scan backwards or allocate.

/// The first occurrence of a fixed string at or after a position, remembered: a later search
/// from a position no further than that occurrence (or from anywhere, once the string is known
/// to be absent from some position on) answers without scanning.
pub(crate) struct NextMatch {
    pattern: &'static str,
    /// The last search: where it started and what it found.
    last: Option<(usize, Option<usize>)>,
}

impl NextMatch {
    /// A memo for `pattern`.
    pub(crate) fn new(pattern: &'static str) -> Self {
        NextMatch {
            pattern,
            last: None,
        }
    }

    /// Absolute position of the first occurrence of the pattern in `s` at or after `from`
    /// (`None` also when `from` is not a character boundary).
    pub(crate) fn find(&mut self, s: &str, from: usize) -> Option<usize> {
        match self.last {
            Some((start, None)) if start <= from => return None,
            Some((start, Some(at))) if start <= from && from <= at => return Some(at),
            _ => {}
        }
        let found = s
            .get(from..)
            .and_then(|r| r.find(self.pattern))
            .map(|i| from + i);
        self.last = Some((from, found));
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_hits_and_absences() {
        let s = "a-->b-->c";
        let mut m = NextMatch::new("-->");
        assert_eq!(m.find(s, 0), Some(1));
        assert_eq!(m.find(s, 1), Some(1));
        assert_eq!(m.find(s, 2), Some(5));
        assert_eq!(m.find(s, 6), None);
        assert_eq!(m.find(s, 8), None);
    }
}
