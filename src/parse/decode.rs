//! Character decoding: turns a feed's raw bytes into UTF-8 text.
//!
//! Owns the choice of encoding (byte-order mark, HTTP charset, XML declaration, detection of
//! undeclared legacy encodings) and the rewrite of the XML declaration so that downstream XML
//! readers see a document that says what it now is: UTF-8. Must never fail: bytes that are
//! invalid in the chosen encoding become U+FFFD.

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};

/// A document decoded to UTF-8, with the name of the encoding it was read in.
#[derive(Debug)]
pub struct Decoded {
    /// The document as UTF-8 text, byte-order mark removed, XML declaration rewritten.
    pub text: String,
    /// Name of the source encoding, e.g. "UTF-8" or "windows-1252".
    pub encoding: String,
    /// Whether invalid byte sequences were replaced by U+FFFD.
    pub had_errors: bool,
    /// Set when a declared charset was overridden because the bytes contradict it.
    pub mislabelled: Option<String>,
}

/// Decodes `bytes`, honouring (in order) a byte-order mark, the HTTP charset, the XML
/// declaration, and otherwise detecting the encoding from the bytes.
pub fn decode(bytes: &[u8], http_content_type: Option<&str>) -> Decoded {
    let mut decoded = decode_raw(bytes, http_content_type);
    decoded.text = rewrite_declaration(decoded.text);
    decoded
}

fn decode_raw(bytes: &[u8], http_content_type: Option<&str>) -> Decoded {
    // UTF-32 first: its little-endian BOM starts with the UTF-16LE one.
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE, 0, 0]) {
        return decode_utf32(rest, false);
    }
    if let Some(rest) = bytes.strip_prefix(&[0, 0, 0xFE, 0xFF]) {
        return decode_utf32(rest, true);
    }
    if let Some((enc, bom_len)) = Encoding::for_bom(bytes) {
        return with_encoding(enc, &bytes[bom_len..]);
    }
    // No BOM: an XML document starts with '<' (possibly after whitespace), whose byte pattern
    // reveals the code unit width.
    match bytes.get(..4) {
        Some([0, 0, 0, b]) if *b != 0 => return decode_utf32(bytes, true),
        Some([a, 0, 0, 0]) if *a != 0 => return decode_utf32(bytes, false),
        Some([0, a, 0, _]) if *a != 0 => return with_encoding(UTF_16BE, bytes),
        Some([a, 0, _, 0]) if *a != 0 => return with_encoding(UTF_16LE, bytes),
        _ => {}
    }
    // From here on the document is ASCII-compatible, so a label naming UTF-16/32 is wrong.
    let usable = |enc: &&'static Encoding| {
        *enc != UTF_16BE && *enc != UTF_16LE && *enc != encoding_rs::REPLACEMENT
    };
    let valid_utf8 = std::str::from_utf8(bytes).is_ok();
    let labels = [
        http_content_type.and_then(charset_param),
        declared_encoding(bytes),
    ];
    let mut contradicted = None;
    for label in labels.into_iter().flatten() {
        let Some(enc) = Encoding::for_label(label.trim().as_bytes()).filter(usable) else {
            continue;
        };
        // A document labelled UTF-8 that is not valid UTF-8 was most likely saved in a legacy
        // encoding by mistake (try the next label, else detection), unless it also holds valid
        // multi-byte sequences: then it is UTF-8 with a few corrupt bytes (a CMS cutting text
        // mid-character), best read as UTF-8 with U+FFFD.
        if enc == UTF_8 && !valid_utf8 {
            if has_utf8_multibyte(bytes) {
                return with_encoding(UTF_8, bytes);
            }
            contradicted.get_or_insert(label);
            continue;
        }
        // Conversely, non-ASCII text that is valid UTF-8 is almost never in a legacy single-byte
        // encoding, whatever the label says.
        if enc.is_single_byte() && valid_utf8 && !bytes.is_ascii() {
            return mislabelled(with_encoding(UTF_8, bytes), &label);
        }
        return with_encoding(enc, bytes);
    }
    if valid_utf8 {
        return with_encoding(UTF_8, bytes);
    }
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Allow);
    detector.feed(bytes, true);
    let decoded = with_encoding(detector.guess(None, chardetng::Utf8Detection::Allow), bytes);
    match contradicted {
        Some(label) => mislabelled(decoded, &label),
        None => decoded,
    }
}

fn has_utf8_multibyte(bytes: &[u8]) -> bool {
    bytes.utf8_chunks().any(|chunk| !chunk.valid().is_ascii())
}

fn mislabelled(mut decoded: Decoded, label: &str) -> Decoded {
    decoded.mislabelled = Some(format!(
        "the document says it is {label} but its bytes are not; read it as {}",
        decoded.encoding
    ));
    decoded
}

fn with_encoding(enc: &'static Encoding, bytes: &[u8]) -> Decoded {
    let (text, had_errors) = enc.decode_without_bom_handling(bytes);
    Decoded {
        text: text.into_owned(),
        encoding: enc.name().to_string(),
        had_errors,
        mislabelled: None,
    }
}

// encoding_rs has no UTF-32 (the Encoding Standard dropped it), so decode it by hand.
fn decode_utf32(bytes: &[u8], big_endian: bool) -> Decoded {
    let mut had_errors = !bytes.len().is_multiple_of(4);
    let text = bytes
        .chunks(4)
        .map(|c| {
            let arr = [
                *c.first().unwrap_or(&0),
                *c.get(1).unwrap_or(&0),
                *c.get(2).unwrap_or(&0),
                *c.get(3).unwrap_or(&0),
            ];
            let v = if big_endian {
                u32::from_be_bytes(arr)
            } else {
                u32::from_le_bytes(arr)
            };
            char::from_u32(v).unwrap_or_else(|| {
                had_errors = true;
                char::REPLACEMENT_CHARACTER
            })
        })
        .collect();
    let name = if big_endian { "UTF-32BE" } else { "UTF-32LE" };
    Decoded {
        text,
        encoding: name.to_string(),
        had_errors,
        mislabelled: None,
    }
}

/// The `charset` parameter of a Content-Type header value.
fn charset_param(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches(['"', '\'']).to_string())
    })
}

/// The `encoding` pseudo-attribute of an XML declaration at the start of an ASCII-compatible
/// document.
fn declared_encoding(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(1024)];
    let start = find(head, b"<?xml ").or_else(|| find(head, b"<?xml\t"))?;
    let end = start + find(&head[start..], b"?>")?;
    attr_in_decl(&String::from_utf8_lossy(&head[start..end]), "encoding")
}

fn attr_in_decl(decl: &str, name: &str) -> Option<String> {
    let pos = decl.find(name)?;
    let rest = decl[pos + name.len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &rest[1..];
    Some(value[..value.find(quote)?].trim().to_string())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Drops anything before the XML declaration and rewrites the declaration to say UTF-8, since
/// the text is UTF-8 now and XML readers would otherwise decode it again.
fn rewrite_declaration(text: String) -> String {
    let text = text
        .strip_prefix('\u{feff}')
        .map(str::to_string)
        .unwrap_or(text);
    // `<?xml-stylesheet` is a processing instruction, not the declaration.
    let Some(decl_start) = text
        .match_indices("<?xml")
        .map(|(i, _)| i)
        .find(|i| text[i + 5..].starts_with(char::is_whitespace))
    else {
        return text;
    };
    // Only a declaration that comes before any element counts.
    if text[..decl_start].contains(['<', '{']) {
        return text;
    }
    let Some(decl_len) = text[decl_start..].find("?>") else {
        return text;
    };
    let version = attr_in_decl(&text[decl_start..decl_start + decl_len], "version")
        .filter(|v| v == "1.0" || v == "1.1")
        .unwrap_or_else(|| "1.0".to_string());
    format!(
        "<?xml version=\"{version}\" encoding=\"UTF-8\"?>{}",
        &text[decl_start + decl_len + 2..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16be_without_bom_is_detected() {
        let src = "<?xml version=\"1.0\" encoding=\"utf-16\"?><rss/>";
        let bytes: Vec<u8> = src.encode_utf16().flat_map(u16::to_be_bytes).collect();
        let d = decode(&bytes, None);
        assert_eq!(d.encoding, "UTF-16BE");
        assert_eq!(d.text, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss/>");
    }

    #[test]
    fn undeclared_latin1_is_detected() {
        let d = decode(
            b"<rss><title>Caf\xe9 cr\xe8me br\xfbl\xe9e</title></rss>",
            None,
        );
        assert_eq!(d.encoding, "windows-1252");
        assert!(d.text.contains("Café crème brûlée"));
    }

    #[test]
    fn utf8_with_corrupt_bytes_stays_utf8() {
        let d = decode(
            "<?xml version='1.0' encoding='utf-8'?><rss>Grüße \u{2014} ".as_bytes(),
            None,
        );
        assert_eq!(d.encoding, "UTF-8");
        let mut bytes = "<?xml version='1.0' encoding='utf-8'?><rss>Grüße"
            .as_bytes()
            .to_vec();
        bytes.extend_from_slice(b" \xe2\x82 x</rss>");
        let d = decode(&bytes, None);
        assert_eq!(d.encoding, "UTF-8");
        assert!(d.had_errors && d.text.contains("Grüße \u{fffd} x"));
        let d = decode(
            b"<?xml version='1.0' encoding='utf-8'?><rss>caf\xe9</rss>",
            None,
        );
        assert_eq!(d.encoding, "windows-1252");
        assert!(d.mislabelled.is_some());
    }

    #[test]
    fn http_charset_wins_over_declaration() {
        let d = decode(
            b"<?xml version='1.0' encoding='utf-8'?><rss>\xe9</rss>",
            Some("text/xml; charset=\"ISO-8859-1\""),
        );
        assert_eq!(d.encoding, "windows-1252");
        assert!(d.text.ends_with("<rss>é</rss>"));
    }

    #[test]
    fn junk_before_declaration_is_dropped() {
        let d = decode(b"junk\n<?xml version=\"1.0\"?><rss/>", None);
        assert_eq!(d.text, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss/>");
    }
}
