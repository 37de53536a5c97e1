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
    pub key: String,
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
