//! The lenient reader: extracts entries from any RSS/RDF/Atom/CDF dialect, well-formed or not.
//!
//! Owns recovery from what strict XML rejects: undeclared entities, bare `&`, mismatched or
//! stray end tags, unclosed CDATA, stray `<`, truncation (every *complete* entry is kept), plus
//! dialects feed-rs does not read (RSS 0.90, userland namespaces, Atom 0.3, CDF, RSS without a
//! `<channel>`), with links resolved against `xml:base`. Must never recurse on input, resolve
//! DTD entities or fetch anything; nesting is tracked on an explicit stack bounded by the depth
//! limit.

use std::collections::HashMap;

use base64::Engine;
use quick_xml::Reader;
use quick_xml::escape::{minimal_escape, resolve_html5_entity, resolve_xml_entity};
use quick_xml::events::{BytesRef, BytesStart, Event};
use url::Url;

use super::{ParseError, date};
use crate::model::Item;
use crate::text::{NextMatch, TagEnds};

/// What the lenient reader recovered from a document.
#[derive(Debug, Default)]
pub struct Recovered {
    /// The feed's title.
    pub title: Option<String>,
    /// The feed's own link.
    pub link: Option<String>,
    /// The first `max_items` complete entries, in document order (keys not yet assigned).
    pub items: Vec<Item>,
    /// How many complete entries the document holds, kept or not.
    pub total_items: usize,
    /// Whether parts of the document had to be skipped as unreadable.
    pub had_errors: bool,
    /// How many elements the document holds: what a reader building them all would build.
    pub elements: usize,
}

/// Extracts the feed title, link and the first `max_items` entries from `doc`.
pub fn extract(doc: &str, max_depth: usize, max_items: usize) -> Result<Recovered, ParseError> {
    let mut state = State {
        max_depth,
        max_items,
        ..State::default()
    };
    let mut offset = 0;
    // Each syntax error restarts the reader just past the offending byte. An unterminated
    // construct (`<![CDATA[`, `<!--`, `<?`, `<tag` without `]]>`, `-->`, `?>`, `>`) costs the
    // reader a scan to the end of the document, so a document full of them would take
    // quadratic time: markup that is known not to end is recognised before the reader scans
    // for it, and handled as the syntax error the reader would have reported.
    let mut unterminated = Unterminated::new(doc);
    while offset < doc.len() {
        let mut reader = Reader::from_str(&doc[offset..]);
        let config = reader.config_mut();
        config.check_end_names = false;
        config.allow_unmatched_ends = true;
        config.allow_dangling_amp = true;
        let mut last_ill_formed = None;
        loop {
            // Where the next event starts: markup when the byte there is `<`.
            let next = offset + usize::try_from(reader.buffer_position()).unwrap_or(0);
            if doc.as_bytes().get(next) == Some(&b'<') && unterminated.cannot_end(next) {
                state.out.had_errors = true;
                offset = keep_as_text(&mut state, doc, next);
                break;
            }
            let event = reader.read_event();
            // quick-xml skips past ill-formed markup and goes on; should it ever fail twice at
            // the same place, handle it like a syntax error so the loop always moves forward.
            let stalled = matches!(event, Err(quick_xml::Error::IllFormed(_)))
                && last_ill_formed.replace(reader.buffer_position())
                    == Some(reader.buffer_position());
            match event {
                Ok(Event::Eof) => {
                    offset = doc.len();
                    break;
                }
                Ok(event) => state.event(event)?,
                Err(quick_xml::Error::IllFormed(_)) if !stalled => state.out.had_errors = true,
                Err(e) => {
                    state.out.had_errors = true;
                    let bad = offset + usize::try_from(reader.error_position()).unwrap_or(0);
                    if matches!(e, quick_xml::Error::Syntax(_)) {
                        unterminated.failed(bad);
                    }
                    offset = keep_as_text(&mut state, doc, bad);
                    break;
                }
            }
        }
    }
    Ok(state.out)
}

/// Keeps the character at `bad`, where reading failed, as text (a stray `<` in a title is
/// content); returns the position after it, where reading resumes.
fn keep_as_text(state: &mut State, doc: &str, bad: usize) -> usize {
    let mut next = bad + 1;
    while next < doc.len() && !doc.is_char_boundary(next) {
        next += 1;
    }
    state.text(doc.get(bad..next).unwrap_or_default(), false);
    next
}

/// Tells, without a scan to the end of the document, whether the reader would fail to find
/// the end of the markup starting at a `<`, by the rules quick-xml reads markup with.
///
/// The reader looks for `]]>` after `<![`, `-->` after `<!-`, `?>` after `<?`, and for
/// the first `>` outside quotes after `<` and anything else (DOCTYPEs aside). Searches are
/// asked from positions that only move forward, so remembering the last answer of each
/// makes them linear in total.
struct Unterminated<'a> {
    doc: &'a str,
    cdata_end: NextMatch,
    comment_end: NextMatch,
    pi_end: NextMatch,
    gt: NextMatch,
    /// Tag-end searches that failed (see [`TagEnds`]).
    tag_ends: TagEnds,
    /// How many DOCTYPE declarations failed to end.
    doctype_failures: usize,
}

impl<'a> Unterminated<'a> {
    /// After this many DOCTYPEs without an end, a further one is not searched for: its
    /// internal subset has its own quoting and nesting, too intricate to predict, and a
    /// document has one DOCTYPE at most.
    const MAX_DOCTYPE_FAILURES: usize = 2;

    fn new(doc: &'a str) -> Self {
        Unterminated {
            doc,
            cdata_end: NextMatch::new("]]>"),
            comment_end: NextMatch::new("-->"),
            pi_end: NextMatch::new("?>"),
            gt: NextMatch::new(">"),
            tag_ends: TagEnds::default(),
            doctype_failures: 0,
        }
    }

    /// Whether reading the markup at `lt` (a `<`) would fail with a syntax error there.
    fn cannot_end(&mut self, lt: usize) -> bool {
        let doc = self.doc;
        let rest = doc.as_bytes().get(lt..).unwrap_or_default();
        match rest.get(1) {
            // A lone `<` at the end: the reader fails at once.
            None => false,
            Some(b'!') => match rest.get(2) {
                // Anything but a CDATA section ending in `]]>` fails.
                Some(b'[') => {
                    !rest.starts_with(b"<![CDATA[") || self.cdata_end.find(doc, lt + 9).is_none()
                }
                // Anything but a comment ending in `-->` (not `<!-->` or `<!--->`) fails.
                Some(b'-') => {
                    !rest.starts_with(b"<!--") || self.comment_end.find(doc, lt + 4).is_none()
                }
                // Anything but `<!DOCTYPE` (in any case) fails once its end is found.
                Some(b'D' | b'd') => {
                    !rest
                        .get(..9)
                        .is_some_and(|d| d.eq_ignore_ascii_case(b"<!DOCTYPE"))
                        || self.doctype_failures >= Self::MAX_DOCTYPE_FAILURES
                        || self.gt.find(doc, lt).is_none()
                }
                // An unknown kind: the reader fails at once.
                _ => false,
            },
            Some(b'?') => self.pi_end.find(doc, lt + 1).is_none(),
            Some(_) => self.gt.find(doc, lt).is_none() || self.tag_ends.known_to_fail(doc, lt),
        }
    }

    /// Notes that reading failed at `bad`.
    fn failed(&mut self, bad: usize) {
        let rest = self.doc.as_bytes().get(bad..).unwrap_or_default();
        match (rest.first(), rest.get(1), rest.get(2)) {
            (Some(b'<'), Some(b'!'), Some(b'D' | b'd')) => self.doctype_failures += 1,
            (Some(b'<'), Some(b), _) if !matches!(b, b'!' | b'?') => self.tag_ends.failed_at(bad),
            _ => {}
        }
    }
}

/// Which item field a captured element feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Title,
    /// Title fallbacks (`dc:title`, `media:title`) used only when there is no `<title>`.
    AltTitle,
    Link,
    Guid,
    /// Publication dates (`pubDate`, `published`, `dc:date`, ...).
    Published,
    /// Modification dates, used only when there is no publication date.
    Updated,
    Summary,
    /// Summary fallback (`media:description`) used only when there is no description.
    AltSummary,
    Content,
    Author,
    Category,
    FeedTitle,
    FeedLink,
}

/// An element whose content is being collected.
#[derive(Debug)]
struct Capture {
    target: Target,
    /// Stack depth of the captured element itself.
    depth: usize,
    buf: String,
    /// The content is base64 (Atom `type="application/octet-stream"`, Atom 0.3 `mode`).
    base64: bool,
    /// Name of the child element of an author construct being read, if any; only its `<name>`
    /// counts as the author.
    author_child: Option<String>,
}

impl Capture {
    /// Starts capturing the content of an element feeding `target` at stack depth `depth`.
    fn new(target: Target, depth: usize, attrs: &Attributes) -> Capture {
        Capture {
            target,
            depth,
            buf: String::new(),
            base64: content_is_base64(attrs),
            author_child: None,
        }
    }

    /// Notes an element opened inside the captured one: markup inside a captured element is
    /// content (XHTML titles, inline HTML), except in an author construct, where it says which
    /// part of the author is being read.
    fn open_child(&mut self, name: &str, e: &BytesStart<'_>, empty: bool) {
        if self.target == Target::Author {
            if !empty {
                self.author_child = Some(name.to_owned());
            }
        } else {
            self.buf.push('<');
            self.buf.push_str(e);
            self.buf.push_str(if empty { "/>" } else { ">" });
        }
    }
}

/// Whether an element's content is base64: Atom 0.3 says so in `mode`, Atom 1.0 by a `type`
/// that is neither text nor XML.
fn content_is_base64(attrs: &Attributes) -> bool {
    let kind = attrs
        .get("type")
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    attrs
        .get("mode")
        .is_some_and(|m| m.eq_ignore_ascii_case("base64"))
        || (!kind.is_empty()
            && !matches!(kind.as_str(), "text" | "html" | "xhtml")
            && !kind.starts_with("text/")
            && !kind.ends_with("+xml")
            && !kind.ends_with("/xml"))
}

/// An element's attributes: names as written, values with entities resolved.
struct Attributes(Vec<(String, String)>);

impl Attributes {
    fn read(e: &BytesStart<'_>) -> Attributes {
        let attrs = e
            .html_attributes()
            .with_checks(false)
            .filter_map(Result::ok)
            .map(|a| {
                let key = a.key.as_ref().to_string();
                let raw = a.value.to_string();
                let value = quick_xml::escape::unescape_with(&raw, resolve_entity)
                    .map(|v| v.into_owned())
                    .unwrap_or(raw);
                (key, value)
            })
            .collect();
        Attributes(attrs)
    }

    /// The value of the attribute named `key` in any letter case.
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// An entry being read.
#[derive(Debug, Default)]
struct Entry {
    depth: usize,
    item: Item,
    alt_title: Option<String>,
    alt_summary: Option<String>,
    updated: Option<chrono::DateTime<chrono::Utc>>,
    permalink_guid: bool,
    authors: Vec<String>,
    categories: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    max_depth: usize,
    max_items: usize,
    /// Canonical names of the open elements.
    stack: Vec<String>,
    /// Namespace prefix as written → canonical prefix (see [`canonical_prefix`]).
    prefixes: HashMap<String, String>,
    entry: Option<Entry>,
    capture: Option<Capture>,
    /// `xml:base` in effect: (stack depth of the declaring element, resolved base).
    bases: Vec<(usize, Url)>,
    out: Recovered,
}

impl State {
    fn event(&mut self, event: Event<'_>) -> Result<(), ParseError> {
        match event {
            Event::Start(e) => self.start(&e, false)?,
            Event::Empty(e) => {
                let child_of_capture = self.capture.is_some();
                self.start(&e, true)?;
                if child_of_capture {
                    // Already written as `<x/>`; only the stack entry remains to undo.
                    self.stack.pop();
                } else {
                    self.end_at(self.stack.len());
                }
            }
            Event::End(e) => {
                let name = self.canonical(e.name().as_ref());
                // A stray end tag closes whatever it matches; if nothing, it is ignored.
                if let Some(i) = self.stack.iter().rposition(|n| *n == name) {
                    while self.stack.len() > i {
                        self.end_at(self.stack.len());
                    }
                }
            }
            Event::Text(t) => self.text(&t.xml10_content(), false),
            Event::CData(t) => self.text(&t.xml10_content(), false),
            Event::GeneralRef(r) => self.reference(&r),
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Eof => {}
        }
        Ok(())
    }

    /// Opens an element: pushes it on the stack and starts whatever it begins (an entry, a
    /// captured field, a base for links).
    fn start(&mut self, e: &BytesStart<'_>, empty: bool) -> Result<(), ParseError> {
        if self.stack.len() >= self.max_depth {
            return Err(ParseError::TooDeep(self.max_depth));
        }
        self.out.elements += 1;
        let attrs = Attributes::read(e);
        // An element's own namespace declarations already apply to its name.
        self.declare_prefixes(&attrs);
        let name = self.canonical(e.name().as_ref());
        if let Some(cap) = self.capture.as_mut() {
            cap.open_child(&name, e, empty);
            self.stack.push(name);
            return Ok(());
        }
        let opens_entry = self.entry.is_none() && matches!(name.as_str(), "item" | "entry");
        self.stack.push(name);
        let depth = self.stack.len();
        if let Some(base) = attrs.get("xml:base")
            && let Ok(url) = Url::parse(&self.resolve(base))
        {
            self.bases.push((depth, url));
        }
        if opens_entry {
            self.entry = Some(self.new_entry(depth, &attrs));
            return Ok(());
        }
        let Some(target) = self.target(depth) else {
            return Ok(());
        };
        if !self.read_from_attributes(target, &attrs) && !empty {
            self.capture = Some(Capture::new(target, depth, &attrs));
        }
        Ok(())
    }

    /// Records the namespace prefixes an element declares.
    fn declare_prefixes(&mut self, attrs: &Attributes) {
        for (key, value) in &attrs.0 {
            if let Some(prefix) = key.strip_prefix("xmlns:") {
                self.prefixes
                    .insert(prefix.to_string(), canonical_prefix(value, prefix));
            }
        }
    }

    /// An entry opened at stack depth `depth`.
    fn new_entry(&self, depth: usize, attrs: &Attributes) -> Entry {
        let mut entry = Entry {
            depth,
            ..Entry::default()
        };
        // RDF identifies items by rdf:about; CDF puts link and date in attributes.
        entry.item.guid = attrs.get("rdf:about").map(str::to_string);
        entry.item.link = attrs.get("href").map(|h| self.resolve(h));
        entry.item.published = attrs.get("lastmod").and_then(date::parse_date);
        entry
    }

    /// What the element just opened at stack depth `depth` feeds, by where it stands: a field
    /// of the entry being read, or the feed's own title or link.
    fn target(&self, depth: usize) -> Option<Target> {
        let name = self.stack[depth - 1].as_str();
        match &self.entry {
            Some(entry) if depth == entry.depth + 1 => item_target(name),
            // Atom author names and Media RSS groups nest one level further.
            Some(entry) if depth == entry.depth + 2 => match self.stack[depth - 2].as_str() {
                "author" | "contributor" if name == "name" => Some(Target::Author),
                "media:group" if name.starts_with("media:") => item_target(name),
                _ => None,
            },
            Some(_) => None,
            None if self.stack.len() >= 2 => {
                let parent = &self.stack[depth - 2];
                let feed_level = matches!(parent.as_str(), "channel" | "feed")
                    || (depth == 2 && parent != "image" && parent != "textinput");
                match name {
                    "title" if feed_level && self.out.title.is_none() => Some(Target::FeedTitle),
                    "link" if feed_level && self.out.link.is_none() => Some(Target::FeedLink),
                    _ => None,
                }
            }
            None => None,
        }
    }

    /// Reads what the element just opened, feeding `target`, says in its attributes; true when
    /// that is all it says (Atom links and categories, content kept elsewhere), so its content
    /// is not captured.
    fn read_from_attributes(&mut self, target: Target, attrs: &Attributes) -> bool {
        match target {
            Target::Link | Target::FeedLink if attrs.get("href").is_some() => {
                let rel = attrs.get("rel").unwrap_or("alternate").trim();
                if rel == "alternate" {
                    let href = self.resolve(attrs.get("href").unwrap_or_default());
                    match (target, self.entry.as_mut()) {
                        (Target::Link, Some(entry)) if entry.item.link.is_none() => {
                            entry.item.link = Some(href);
                        }
                        (Target::FeedLink, _) if self.out.link.is_none() => {
                            self.out.link = Some(href);
                        }
                        _ => {}
                    }
                }
                true
            }
            // Enclosures, comments, related pages: not the story's link.
            Target::Link | Target::FeedLink => {
                attrs.get("rel").is_some_and(|r| r.trim() != "alternate")
            }
            Target::Category => match (attrs.get("term"), self.entry.as_mut()) {
                (Some(term), Some(entry)) => {
                    if !term.trim().is_empty() {
                        entry.categories.push(term.trim().to_string());
                    }
                    true
                }
                _ => false,
            },
            Target::Guid => {
                if let Some(entry) = self.entry.as_mut() {
                    entry.permalink_guid = self.stack.last().is_some_and(|n| n == "guid")
                        && !attrs
                            .get("ispermalink")
                            .is_some_and(|v| v.eq_ignore_ascii_case("false"));
                }
                false
            }
            Target::Content | Target::Summary => attrs.get("src").is_some(),
            _ => false,
        }
    }

    /// Closes the element at stack depth `depth` (the innermost open one).
    fn end_at(&mut self, depth: usize) {
        if let Some(name) = self.stack.pop() {
            self.close(depth, &name);
        }
        // After closing: the element's own xml:base applies to its content, links included.
        self.bases.retain(|(d, _)| *d < depth);
    }

    fn close(&mut self, depth: usize, name: &str) {
        if let Some(cap) = self.capture.as_mut() {
            if depth > cap.depth {
                if cap.target == Target::Author {
                    cap.author_child = None;
                } else {
                    cap.buf.push_str("</");
                    cap.buf.push_str(name);
                    cap.buf.push('>');
                }
                return;
            }
            if depth == cap.depth {
                if let Some(cap) = self.capture.take() {
                    self.finish_capture(cap);
                }
                return;
            }
        }
        if self.entry.as_ref().is_some_and(|e| e.depth == depth)
            && let Some(entry) = self.entry.take()
        {
            // Entries past the cap are counted, not kept, so huge feeds stay cheap.
            self.out.total_items += 1;
            if self.out.items.len() < self.max_items {
                self.out.items.push(finish_entry(entry));
            }
        }
    }

    fn text(&mut self, text: &str, escaped: bool) {
        let Some(cap) = self.capture.as_mut() else {
            return;
        };
        if cap.target == Target::Author
            && cap
                .author_child
                .as_deref()
                .is_some_and(|child| child != "name")
        {
            return;
        }
        let in_markup = self.stack.len() > cap.depth && cap.target != Target::Author;
        if in_markup && !escaped {
            cap.buf.push_str(&minimal_escape(text));
        } else {
            cap.buf.push_str(text);
        }
    }

    fn reference(&mut self, r: &BytesRef<'_>) {
        let name = r.to_string();
        let resolved = match r.resolve_char_ref() {
            Ok(Some(c)) => Some(c.to_string()),
            _ => resolve_entity(&name).map(str::to_string),
        };
        match resolved {
            Some(text) => self.text(&text, false),
            // Unknown entity: keep it as written so nothing is lost.
            None => self.text(&format!("&{name};"), true),
        }
    }

    fn finish_capture(&mut self, cap: Capture) {
        let mut value = cap.buf;
        if cap.base64 {
            let compact: String = value.split_whitespace().collect();
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(compact) {
                value = String::from_utf8_lossy(&bytes).into_owned();
            }
        }
        let value = match cap.target {
            Target::Link | Target::FeedLink => self.resolve(&value),
            _ => value.trim().to_string(),
        };
        if cap.target == Target::FeedTitle {
            self.out.title = Some(value);
            return;
        }
        if cap.target == Target::FeedLink {
            self.out.link = Some(value).filter(|v| !v.is_empty());
            return;
        }
        let Some(entry) = self.entry.as_mut() else {
            return;
        };
        let item = &mut entry.item;
        let set = |slot: &mut String, v: String| {
            if slot.is_empty() {
                *slot = v;
            }
        };
        match cap.target {
            Target::Title => set(&mut item.title, value),
            Target::AltTitle => {
                entry.alt_title.get_or_insert(value);
            }
            Target::Link if item.link.is_none() && !value.is_empty() => item.link = Some(value),
            Target::Guid => {
                if item.guid.is_none() && !value.is_empty() {
                    item.guid = Some(value);
                } else {
                    entry.permalink_guid = false;
                }
            }
            Target::Published if item.published.is_none() => {
                item.published = date::parse_date(&value);
            }
            Target::Updated if entry.updated.is_none() => entry.updated = date::parse_date(&value),
            Target::AltSummary => {
                entry.alt_summary.get_or_insert(value);
            }
            Target::Summary => set(&mut item.summary, value),
            Target::Content => set(&mut item.content, value),
            Target::Author if !value.is_empty() => entry.authors.push(value),
            Target::Category if !value.is_empty() => entry.categories.push(value),
            _ => {}
        }
    }

    /// Resolves a link against the `xml:base` in effect, if any.
    fn resolve(&self, link: &str) -> String {
        let link = link.trim();
        match self.bases.last() {
            Some((_, base))
                if matches!(
                    Url::parse(link),
                    Err(url::ParseError::RelativeUrlWithoutBase)
                ) =>
            {
                base.join(link)
                    .map_or_else(|_| link.to_string(), String::from)
            }
            _ => link.to_string(),
        }
    }

    /// The canonical name of an element: lowercased, with a well-known namespace prefix replaced
    /// by its conventional one and the feed's own namespaces dropped.
    fn canonical(&self, qname: &str) -> String {
        let qname = qname.to_ascii_lowercase();
        match qname.split_once(':') {
            Some((prefix, local)) => match self.prefixes.get(prefix).map(String::as_str) {
                Some("") => local.to_string(),
                Some(canon) => format!("{canon}:{local}"),
                None => qname,
            },
            None => qname,
        }
    }
}

/// The field a direct child of an entry feeds, by canonical name.
fn item_target(name: &str) -> Option<Target> {
    Some(match name {
        "title" => Target::Title,
        "dc:title" | "media:title" => Target::AltTitle,
        "link" => Target::Link,
        "guid" | "id" => Target::Guid,
        "pubdate" | "published" | "issued" | "dc:date" | "created" | "dcterms:issued"
        | "dcterms:created" => Target::Published,
        "updated" | "modified" | "dcterms:modified" => Target::Updated,
        "media:description" => Target::AltSummary,
        "description" | "summary" | "abstract" | "dc:description" | "itunes:summary" => {
            Target::Summary
        }
        "content:encoded" | "content" | "xhtml:body" | "body" | "fullitem" => Target::Content,
        "author" | "dc:creator" | "creator" | "itunes:author" | "dc:author" => Target::Author,
        "category" | "dc:subject" => Target::Category,
        _ => return None,
    })
}

/// Resolves a named entity: the five XML ones, then HTML's (feeds use `&nbsp;` and friends
/// without declaring them).
fn resolve_entity(name: &str) -> Option<&'static str> {
    resolve_xml_entity(name).or_else(|| resolve_html5_entity(name))
}

/// Maps a namespace URI to the prefix this module uses for it; the feed formats' own
/// namespaces map to "" so their elements read like unprefixed ones.
fn canonical_prefix(uri: &str, written: &str) -> String {
    let uri = uri.trim().trim_end_matches(['/', '#']).to_ascii_lowercase();
    let canon = match uri.as_str() {
        "http://www.w3.org/2005/atom"
        | "http://purl.org/atom/ns"
        | "http://purl.org/rss/1.0"
        | "http://my.netscape.com/rdf/simple/0.9"
        | "http://backend.userland.com/rss2"
        | "http://backend.userland.com/rss"
        | "http://blogs.law.harvard.edu/tech/rss" => "",
        "http://purl.org/dc/elements/1.1" => "dc",
        "http://purl.org/dc/terms" => "dcterms",
        "http://purl.org/rss/1.0/modules/content" => "content",
        "http://search.yahoo.com/mrss" => "media",
        "http://www.w3.org/1999/02/22-rdf-syntax-ns" => "rdf",
        "http://www.itunes.com/dtds/podcast-1.0.dtd" => "itunes",
        "http://www.w3.org/1999/xhtml" => "xhtml",
        _ => return written.to_ascii_lowercase(),
    };
    canon.to_string()
}

fn finish_entry(mut entry: Entry) -> Item {
    let item = &mut entry.item;
    if item.title.is_empty() {
        item.title = entry.alt_title.unwrap_or_default();
    }
    if item.summary.is_empty() {
        item.summary = entry.alt_summary.unwrap_or_default();
    }
    item.published = item.published.or(entry.updated);
    // RSS 2.0: a guid is the permalink unless it says otherwise.
    if item.link.is_none() && entry.permalink_guid {
        item.link = item
            .guid
            .clone()
            .filter(|g| g.starts_with("http://") || g.starts_with("https://"));
    }
    item.author = entry.authors.join(", ");
    item.categories = entry.categories.join(", ");
    entry.item
}

#[cfg(test)]
mod tests {
    use super::*;

    fn titles(doc: &str) -> Vec<String> {
        extract(doc, 100, 100)
            .expect("extracted")
            .items
            .into_iter()
            .map(|i| i.title)
            .collect()
    }

    #[test]
    fn recovers_from_entities_bare_ampersands_and_truncation() {
        let doc = "<rss><channel><title>T</title>\
            <item><title>A&nbsp;&rsquo; & B</title><guid>1</guid></item>\
            <item><title>C</title></item>\
            <item><title>trunc";
        assert_eq!(titles(doc), vec!["A\u{a0}\u{2019} & B", "C"]);
    }

    #[test]
    fn reads_atom03_with_authors_and_base64() {
        let doc = r#"<feed version="0.3" xmlns="http://purl.org/atom/ns#"><title>F</title>
            <entry><title mode="base64">SGk=</title><author><name>Ann</name><email>a@b</email></author>
            <link rel="alternate" href="http://x/1"/><issued>2004-01-02T03:04:05Z</issued></entry></feed>"#;
        let r = extract(doc, 100, 100).expect("extracted");
        assert_eq!(r.title.as_deref(), Some("F"));
        let item = &r.items[0];
        assert_eq!(item.title, "Hi");
        assert_eq!(item.author, "Ann");
        assert_eq!(item.link.as_deref(), Some("http://x/1"));
        assert!(item.published.is_some());
    }

    #[test]
    fn links_resolve_against_xml_base() {
        let doc = r#"<feed xml:base="http://example.org/blog/"><entry xml:base="2024/">
            <link href="post.html"/></entry><entry><link href="/about"/></entry>
            <entry><link href="https://other.example/x"/></entry></feed>"#;
        let links: Vec<Option<String>> = extract(doc, 100, 100)
            .expect("extracted")
            .items
            .into_iter()
            .map(|i| i.link)
            .collect();
        assert_eq!(
            links,
            [
                Some("http://example.org/blog/2024/post.html".to_string()),
                Some("http://example.org/about".to_string()),
                Some("https://other.example/x".to_string()),
            ]
        );
    }

    #[test]
    fn keeps_xhtml_markup_escaped_inside_titles() {
        let doc = r#"<feed><entry><title type="xhtml"><div>a &lt;b&gt; <i>c</i></div></title></entry></feed>"#;
        assert_eq!(titles(doc), vec!["<div>a &lt;b> <i>c</i></div>"]);
    }

    /// About 4 MB of `unit`: with a reader that rescans to the end at each one, each of these
    /// documents would take many minutes.
    fn hostile(unit: &str) -> String {
        unit.repeat((4 << 20) / unit.len())
    }

    #[test]
    fn unterminated_markup_in_a_title_is_kept_as_text() {
        for unit in [
            "<!--",
            "<![CDATA[x",
            "<![x",
            "<?x",
            "<!x",
            "&",
            "&amp",
            "&#",
            "<!-x",
        ] {
            let junk = hostile(unit);
            let doc = format!(
                "<rss><channel><item><title>x</title></item><item><title>{junk}</title></item>\
                 <item><title>y</title></item></channel></rss>"
            );
            assert_eq!(titles(&doc), ["x", junk.as_str(), "y"], "{unit:?}");
        }
    }

    #[test]
    fn unterminated_tags_and_doctypes_cost_the_items_around_them_nothing() {
        for unit in [
            "<",
            "<a",
            "</",
            "<a b=\"",
            "<a b='\"",
            "<!DOCTYPE",
            "<!DOCTYPE [",
            "<!d",
        ] {
            let doc = format!(
                "<rss><channel><item><title>x</title></item><item><title>{}</title></item>\
                 <item><title>y</title></item></channel></rss>",
                hostile(unit)
            );
            let titles = titles(&doc);
            assert_eq!(titles.len(), 3, "{unit:?}");
            assert_eq!(
                (titles[0].as_str(), titles[2].as_str()),
                ("x", "y"),
                "{unit:?}"
            );
        }
    }

    #[test]
    fn every_item_survives_repeated_unterminated_markup() {
        for junk in ["<![CDATA[b", "<!--b", "<?b", "<![b", "<!-b", "<!b"] {
            let unit = format!("<item><title>a{junk}</title></item>");
            let doc = format!("<rss><channel>{}", hostile(&unit));
            let r = extract(&doc, 100, 10).expect("extracted");
            assert!(r.had_errors, "{junk:?}");
            assert_eq!(r.total_items, (4 << 20) / unit.len(), "{junk:?}");
            assert_eq!(r.items[9].title, format!("a{junk}"), "{junk:?}");
        }
    }

    #[test]
    fn refuses_deep_nesting_without_recursion() {
        let doc = "<a>".repeat(100_000);
        assert!(matches!(
            extract(&doc, 512, 100),
            Err(ParseError::TooDeep(512))
        ));
    }
}
