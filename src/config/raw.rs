//! The serde mirror of the config file, exactly as written.
//!
//! Owns the file's shape: every table denies unknown keys so a typo cannot silently disable a
//! watchlist. Values that are checked later keep their spans. Must never apply defaults or
//! judge values; that is `validate`'s job.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

/// One config file: the main one or an included one.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    /// Only allowed in the main file.
    pub general: Option<Spanned<RawGeneral>>,
    /// `[[feeds]]` tables.
    #[serde(default)]
    pub feeds: Vec<Spanned<RawFeed>>,
    /// `[[watchlists]]` tables.
    #[serde(default)]
    pub watchlists: Vec<Spanned<RawWatchlist>>,
    /// `[notifiers.NAME]` tables.
    #[serde(default)]
    pub notifiers: BTreeMap<Spanned<String>, Spanned<RawNotifier>>,
}

/// `[general]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGeneral {
    pub database: Option<Spanned<String>>,
    pub interval: Option<Spanned<String>>,
    pub alert_on_first_fetch: Option<bool>,
    #[serde(default)]
    pub include: Vec<Spanned<String>>,
    pub timezone: Option<Spanned<String>>,
    pub concurrency: Option<Spanned<i64>>,
    pub per_host_concurrency: Option<Spanned<i64>>,
    pub user_agent: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub max_body_size: Option<Spanned<ByteSize>>,
    pub admin_notify: Option<Spanned<Vec<Spanned<String>>>>,
    pub feed_broken_after: Option<Spanned<String>>,
    pub retention: Option<Spanned<String>>,
}

/// `[[feeds]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFeed {
    pub url: Spanned<String>,
    pub name: Option<Spanned<String>>,
    pub interval: Option<Spanned<String>>,
    pub schedule: Option<Spanned<String>>,
    #[serde(default)]
    pub tags: Vec<Spanned<String>>,
    #[serde(default)]
    pub headers: RawHeaders,
    pub username: Option<Spanned<String>>,
    pub password_env: Option<Spanned<String>>,
    pub password_file: Option<Spanned<String>>,
    pub max_body_size: Option<Spanned<ByteSize>>,
    pub proxy: Option<Spanned<String>>,
    pub alert_on_first_fetch: Option<bool>,
    pub allow_insecure_redirect: Option<bool>,
}

/// `headers = { Name = value, … }`, names and values with their spans.
pub type RawHeaders = BTreeMap<Spanned<String>, Spanned<RawHeaderValue>>;

/// A header value: a string, or where to read it from.
#[derive(Debug, Clone, PartialEq)]
pub enum RawHeaderValue {
    /// `"Bearer …"`.
    Plain(String),
    /// `{ env = "VAR" }` or `{ file = "path" }`.
    From(RawSecretRef),
}

/// The table form of a header value.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSecretRef {
    pub env: Option<String>,
    pub file: Option<String>,
}

/// `[[watchlists]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWatchlist {
    pub name: Spanned<String>,
    pub terms: Spanned<Vec<Spanned<RawTerm>>>,
    #[serde(default)]
    pub require: Vec<Spanned<Vec<Spanned<RawTerm>>>>,
    #[serde(default)]
    pub exclude: Vec<Spanned<RawTerm>>,
    #[serde(default)]
    pub fields: Vec<Spanned<String>>,
    #[serde(default)]
    pub feeds: Vec<Spanned<String>>,
    #[serde(default)]
    pub notify: Vec<Spanned<String>>,
}

/// A term: a bare string, or a table with options.
#[derive(Debug, Clone, PartialEq)]
pub enum RawTerm {
    /// `"ISIS-K"`.
    Plain(String),
    /// `{ term = "ISKP", case_sensitive = true }` or `{ regex = "…" }`.
    Table(RawTermTable),
}

/// The table form of a term.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTermTable {
    pub term: Option<String>,
    pub regex: Option<String>,
    #[serde(default)]
    pub case_sensitive: bool,
    #[serde(default)]
    pub accent_sensitive: bool,
}

// Hand-written rather than `#[serde(untagged)]`: untagged enums buffer their input, which loses
// both the TOML spans and the precise "unknown field" message.
impl<'de> Deserialize<'de> for RawTerm {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TermVisitor;
        impl<'de> Visitor<'de> for TermVisitor {
            type Value = RawTerm;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a table like { term = \"…\", case_sensitive = true }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawTerm, E> {
                Ok(RawTerm::Plain(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawTerm, A::Error> {
                RawTermTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawTerm::Table)
            }
        }
        deserializer.deserialize_any(TermVisitor)
    }
}

// Hand-written for the same reason as `RawTerm`'s.
impl<'de> Deserialize<'de> for RawHeaderValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HeaderVisitor;
        impl<'de> Visitor<'de> for HeaderVisitor {
            type Value = RawHeaderValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, { env = \"VARIABLE\" } or { file = \"path\" }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawHeaderValue, E> {
                Ok(RawHeaderValue::Plain(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawHeaderValue, A::Error> {
                RawSecretRef::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawHeaderValue::From)
            }
        }
        deserializer.deserialize_any(HeaderVisitor)
    }
}

/// `[notifiers.NAME]`: one flat table; which keys apply depends on `type`, checked in `validate`.
///
/// Flat rather than an internally tagged enum because tagged enums buffer their input and lose
/// the spans that point the user at the offending line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotifier {
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    // email
    pub smtp: Option<Spanned<String>>,
    pub password_env: Option<Spanned<String>>,
    pub password_file: Option<Spanned<String>>,
    pub from: Option<Spanned<String>>,
    pub to: Option<Spanned<Vec<Spanned<String>>>>,
    // webhook and the chat types that post to a URL
    pub url: Option<Spanned<String>>,
    pub url_env: Option<Spanned<String>>,
    pub url_file: Option<Spanned<String>>,
    pub headers: Option<Spanned<RawHeaders>>,
    pub secret_env: Option<Spanned<String>>,
    pub secret_file: Option<Spanned<String>>,
    // mattermost
    pub username: Option<Spanned<String>>,
    pub channel: Option<Spanned<String>>,
    // ntfy
    pub token: Option<Spanned<String>>,
    pub token_env: Option<Spanned<String>>,
    pub token_file: Option<Spanned<String>>,
    pub priority: Option<Spanned<u8>>,
    pub tags: Option<Spanned<Vec<String>>>,
    // telegram
    pub bot_token: Option<Spanned<String>>,
    pub bot_token_env: Option<Spanned<String>>,
    pub bot_token_file: Option<Spanned<String>>,
    pub chat_id: Option<Spanned<RawChatId>>,
    pub api_url: Option<Spanned<String>>,
    // matrix
    pub homeserver: Option<Spanned<String>>,
    pub room_id: Option<Spanned<String>>,
    pub access_token: Option<Spanned<String>>,
    pub access_token_env: Option<Spanned<String>>,
    pub access_token_file: Option<Spanned<String>>,
    // stdout
    pub format: Option<Spanned<String>>,
    // all
    pub timeout: Option<Spanned<String>>,
    pub digest: Option<Spanned<String>>,
    pub max_per_hour: Option<Spanned<u32>>,
}

/// A Telegram chat id: a number (`-1001234567890`) or a public channel's `@name`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawChatId {
    /// A numeric id.
    Number(i64),
    /// `@channelname`, or a number written as a string.
    Text(String),
}

/// A size written as a number of bytes or a string such as `"10 MiB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor;
        impl Visitor<'_> for SizeVisitor {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as 10485760 or \"10 MiB\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                parse_byte_size(v).map(ByteSize).ok_or_else(|| {
                    E::custom(format!(
                        "invalid size {v:?}: write a number of bytes or e.g. \"512 KiB\", \"10 MiB\""
                    ))
                })
            }
        }
        deserializer.deserialize_any(SizeVisitor)
    }
}

/// Parses `"10 MiB"`, `"512KB"`, `"2048"`.
fn parse_byte_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_byte_size("10 MiB"), Some(10 << 20));
        assert_eq!(parse_byte_size("512KB"), Some(512_000));
        assert_eq!(parse_byte_size("2048"), Some(2048));
        assert_eq!(parse_byte_size("ten"), None);
        assert_eq!(parse_byte_size("5 parsecs"), None);
    }

    #[test]
    fn terms_accept_both_forms_and_reject_typos() {
        #[derive(Deserialize)]
        struct T {
            t: Vec<RawTerm>,
        }
        let ok: T = toml::from_str(r#"t = ["a", { term = "US", case_sensitive = true }]"#).unwrap();
        assert_eq!(ok.t[0], RawTerm::Plain("a".into()));
        let err = toml::from_str::<T>(r#"t = [{ term = "US", case_sensitve = true }]"#)
            .err()
            .unwrap();
        assert!(err.message().contains("case_sensitve"), "{err}");
    }
}
