//! Shared vocabulary of the pipeline: small named types that cross stage boundaries.
//!
//! Owns plain data only. Must never do I/O or hold behaviour that belongs to a stage.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An item field that watchlists can look in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    /// The item's title.
    Title,
    /// The summary or description.
    Summary,
    /// The full content body.
    Content,
    /// Author names.
    Author,
    /// Categories and tags.
    Categories,
}

impl Field {
    /// Every field, in the order they are shown.
    pub const ALL: [Field; 5] = [
        Field::Title,
        Field::Summary,
        Field::Content,
        Field::Author,
        Field::Categories,
    ];

    /// The lowercase name used in config files and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Title => "title",
            Field::Summary => "summary",
            Field::Content => "content",
            Field::Author => "author",
            Field::Categories => "categories",
        }
    }

    /// Parses a config name such as `"title"`.
    pub fn parse(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a feed, as the rest of the pipeline sees it.
///
/// Text fields hold the feed's raw (possibly HTML) text; matching normalizes them itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Item {
    /// Per-feed identity used for dedup (see `parse::key`).
    pub key: ItemKey,
    /// The feed's own guid/id, when it has one.
    pub guid: Option<String>,
    /// Title as published (may contain markup).
    pub title: String,
    /// Link to the story, absolute when the feed allowed it.
    pub link: Option<String>,
    /// Published (or else updated) time.
    pub published: Option<DateTime<Utc>>,
    /// Summary or description (may contain markup).
    pub summary: String,
    /// Full content (may contain markup).
    pub content: String,
    /// Author names, joined by ", ".
    pub author: String,
    /// Category labels, joined by ", ".
    pub categories: String,
    /// Hash of the plain title and body, when they say enough to tell stories apart: a second
    /// identity, so an entry whose key shifts (a feed reusing guids, a link that moves) is
    /// still recognised.
    pub fingerprint: Option<String>,
}

impl Item {
    /// Its key and fingerprint, the identities dedup goes by.
    pub fn identity(&self) -> ItemIdentity {
        ItemIdentity {
            key: self.key.clone(),
            fingerprint: self.fingerprint.clone(),
        }
    }

    /// The raw text of one field.
    pub fn field(&self, field: Field) -> &str {
        match field {
            Field::Title => &self.title,
            Field::Summary => &self.summary,
            Field::Content => &self.content,
            Field::Author => &self.author,
            Field::Categories => &self.categories,
        }
    }
}

/// The two identities of an entry: its key and its content fingerprint (see
/// `alert::identity` for how dedup uses them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemIdentity {
    /// Per-feed dedup key.
    pub key: ItemKey,
    /// Content hash, the second identity.
    pub fingerprint: Option<String>,
}

/// The address a feed is polled at, as configured: the feed's identity in the store and in
/// alert ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FeedUrl(String);

impl FeedUrl {
    /// The identity of the feed configured at `url`.
    /// A user name and password in `url` are no part of it: a feed's identity is stored,
    /// logged and sent in every alert, so it never carries a credential.
    pub fn new(url: &url::Url) -> FeedUrl {
        FeedUrl(without_userinfo(url).to_string())
    }

    /// Wraps an address read back from storage or given on the command line.
    pub fn from_string(url: String) -> FeedUrl {
        FeedUrl(url)
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FeedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `url` without its user name and password.
pub fn without_userinfo(url: &url::Url) -> url::Url {
    let mut clean = url.clone();
    // Only URLs that cannot have userinfo (`file:`, `mailto:`) refuse; they have none.
    let _ = clean.set_username("");
    let _ = clean.set_password(None);
    clean
}

/// The user name and password written in `url`, percent-decoded (`%40` is `@`); `None`
/// when it has neither.
pub fn url_login(url: &url::Url) -> Option<(String, Option<String>)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let written = !url.username().is_empty() || url.password().is_some();
    written.then(|| (decode(url.username()), url.password().map(decode)))
}

/// Row id of a feed in the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FeedId(pub i64);

/// Which of an entry's identifiers its [`ItemKey`] was derived from (see `parse::key`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum KeySource {
    /// The feed's own guid / id.
    Guid,
    /// The entry's link.
    Link,
    /// A hash of the entry's plain title and body.
    #[default]
    Hash,
}

impl KeySource {
    fn prefix(self) -> &'static str {
        match self {
            KeySource::Guid => "guid",
            KeySource::Link => "link",
            KeySource::Hash => "hash",
        }
    }
}

/// The per-feed dedup identity of an entry: which identifier it came from, and its text as
/// stored (`guid:…`, `link:…` or `hash:…`, the form every existing database holds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ItemKey {
    source: KeySource,
    text: String,
}

impl ItemKey {
    /// The key for identifier `id` taken from `source`.
    pub fn new(source: KeySource, id: &str) -> ItemKey {
        ItemKey {
            source,
            text: format!("{}:{id}", source.prefix()),
        }
    }

    /// Which identifier the key came from.
    pub fn source(&self) -> KeySource {
        self.source
    }

    /// The key as stored and shown.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for ItemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The link that identifies one story across feeds (see `alert::canonical_link`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoryLink(String);

impl StoryLink {
    /// Wraps a link already made canonical.
    pub fn new(canonical: String) -> StoryLink {
        StoryLink(canonical)
    }

    /// The link as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The stable public id of an alert, also the webhook's `alert_id` and part of the email
/// `Message-ID`, so a receiver can drop a repeat.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AlertId(String);

impl AlertId {
    /// Wraps an id.
    pub fn new(id: String) -> AlertId {
        AlertId(id)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AlertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name of a notifier (`[notifiers.NAME]`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NotifierName(pub String);

impl fmt::Display for NotifierName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Cache validators remembered between polls of one feed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    /// The `ETag` header, sent back as `If-None-Match`.
    pub etag: Option<String>,
    /// The `Last-Modified` header, sent back as `If-Modified-Since`.
    pub last_modified: Option<String>,
}

/// Why a poll failed, as the stage that failed classified it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The server answered with this non-success status.
    HttpStatus(u16),
    /// No answer, or a body too slow to arrive, in time.
    Timeout,
    /// The host name could not be resolved.
    Dns,
    /// The TLS handshake or certificate check failed.
    Tls,
    /// The connection failed or broke (refused, reset, protocol error).
    Connection,
    /// Too many redirects, a loop, or a redirect without a usable `Location`.
    Redirects,
    /// The body was larger than the feed's cap.
    TooLarge,
    /// A local feed file could not be read, or the URL scheme is not supported.
    Unreadable,
    /// The document is not a feed (an HTML page, another XML format).
    NotAFeed,
    /// The document looked like a feed but could not be read.
    Parse,
    /// Matching the feed's items failed.
    Match,
}

impl FailureKind {
    /// Whether the feed is gone for good (HTTP 410).
    pub fn is_gone(self) -> bool {
        self == FailureKind::HttpStatus(410)
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureKind::HttpStatus(code) => write!(f, "HTTP {code}"),
            FailureKind::Timeout => f.write_str("timeout"),
            FailureKind::Dns => f.write_str("dns error"),
            FailureKind::Tls => f.write_str("tls error"),
            FailureKind::Connection => f.write_str("connection error"),
            FailureKind::Redirects => f.write_str("redirect error"),
            FailureKind::TooLarge => f.write_str("too large"),
            FailureKind::Unreadable => f.write_str("unreadable"),
            FailureKind::NotAFeed => f.write_str("not a feed"),
            FailureKind::Parse => f.write_str("parse error"),
            FailureKind::Match => f.write_str("match error"),
        }
    }
}

/// A failed poll: what kind of failure, the full message, and the server's requested delay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollFailure {
    /// The class of failure.
    pub kind: FailureKind,
    /// The full message, naming the stage (`fetch: …`, `parse: …`) and what to do.
    pub message: String,
    /// `Retry-After`, when the server sent one.
    pub retry_after: Option<std::time::Duration>,
}

/// Where the store keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file.
    File(std::path::PathBuf),
    /// An in-memory database that lives as long as the store that opened it (the demo).
    Memory,
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::File(path) => write!(f, "{}", path.display()),
            Database::Memory => f.write_str(":memory:"),
        }
    }
}

/// The name that notices about a feed's own health (broken, recovered) carry where an alert
/// carries its watchlist's name; reserved, so no watchlist can take it.
pub const FEED_NOTICE_NAME: &str = "feed-health";

#[cfg(test)]
mod url_tests {
    use super::*;

    #[test]
    fn a_login_in_a_url_is_decoded_and_left_out_of_the_identity() {
        let url = url::Url::parse("https://me%40home:p%3Ass@host.example/feed").unwrap();
        assert_eq!(
            url_login(&url),
            Some(("me@home".to_owned(), Some("p:ss".to_owned())))
        );
        assert_eq!(FeedUrl::new(&url).as_str(), "https://host.example/feed");
        let none = url::Url::parse("https://host.example/feed").unwrap();
        assert_eq!(url_login(&none), None);
    }
}
