//! Raw config → validated `Config`: defaults, durations, cron, URLs, names, includes.
//!
//! Owns every rule about what a valid config is. Must never let a value through unchecked: each
//! error names the file, line and column of the value at fault and says what to write instead.

mod notifier;

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono_tz::Tz;
use lettre::message::Mailbox;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use toml::Spanned;
use url::Url;

use super::error::{ConfigError, Source};
use super::raw::{
    RawFeed, RawFile, RawGeneral, RawHeaderValue, RawHeaders, RawNotifier, RawSecretRef, RawTerm,
    RawWatchlist,
};
use super::secrets::{self, SecretInventory};
use super::*;
use crate::matcher::{TermPattern, TermSpec};
use crate::model::Field;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(15 * 60);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_MAX_BODY: u64 = 10 << 20;
const DEFAULT_CONCURRENCY: usize = 16;
const DEFAULT_PER_HOST: usize = 2;
const DEFAULT_BROKEN_AFTER: Duration = Duration::from_secs(24 * 3600);
const DEFAULT_RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);
const DAY: u64 = 24 * 3600;
/// Allowed ranges. Polling more often than every 10s is impolite and never needed for news;
/// a retention under a week could forget items a slow feed still lists (they would alert
/// again). Upper bounds keep every date computed from a setting within the calendar.
const INTERVAL: (Duration, Duration) = (Duration::from_secs(10), Duration::from_secs(7 * DAY));
const TIMEOUT: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(600));
const BROKEN_AFTER: (Duration, Duration) = (Duration::from_secs(60), Duration::from_secs(90 * DAY));
const RETENTION: (Duration, Duration) = (
    Duration::from_secs(7 * DAY),
    Duration::from_secs(3650 * DAY),
);

pub(super) fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    load_text(text, path)
}

pub(super) fn load_text(text: String, path: &Path) -> Result<Config, ConfigError> {
    let main = Source {
        path: path.to_path_buf(),
        text,
    };
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let raw: RawFile = toml::from_str(&main.text).map_err(|e| main.toml_error(&e))?;
    let general_raw = raw.general.as_ref().map(|g| g.get_ref());
    let default_general = RawGeneral::default();
    let general = general(&main, general_raw.unwrap_or(&default_general), &dir)?;

    let includes: Vec<Spanned<String>> = general_raw.map(|g| g.include.clone()).unwrap_or_default();
    let admin_notify: Vec<Spanned<String>> = general_raw
        .and_then(|g| g.admin_notify.as_ref())
        .map(|a| a.get_ref().clone())
        .unwrap_or_default();
    let mut files = vec![(main.clone(), raw)];
    for pattern in &includes {
        for included in expand_include(&main, pattern, &dir)? {
            let text = std::fs::read_to_string(&included).map_err(|source| ConfigError::Read {
                file: included.clone(),
                source,
            })?;
            let source = Source {
                path: included,
                text,
            };
            let raw: RawFile = toml::from_str(&source.text).map_err(|e| source.toml_error(&e))?;
            if let Some(g) = &raw.general {
                return Err(source.error(
                    g.span(),
                    "[general] is only allowed in the main config file; move it there",
                ));
            }
            files.push((source, raw));
        }
    }

    let mut builder = Builder {
        general,
        dir,
        feeds: Vec::new(),
        feed_urls: HashSet::new(),
        watchlists: Vec::new(),
        raw_watchlists: Vec::new(),
        notifiers: BTreeMap::new(),
        admin_notify,
        warnings: Vec::new(),
        secrets: SecretInventory::default(),
    };
    for (source, raw) in &files {
        for feed in &raw.feeds {
            builder.feed(source, feed)?;
        }
        for (name, notifier) in &raw.notifiers {
            builder.notifier(source, name, notifier)?;
        }
    }
    for (source, raw) in &files {
        for watchlist in &raw.watchlists {
            builder.watchlist(source, watchlist)?;
        }
    }
    builder.finish(&main)
}

struct Builder<'a> {
    general: General,
    dir: PathBuf,
    feeds: Vec<FeedConfig>,
    feed_urls: HashSet<String>,
    watchlists: Vec<WatchlistConfig>,
    raw_watchlists: Vec<(&'a Source, &'a Spanned<RawWatchlist>)>,
    notifiers: BTreeMap<NotifierName, NotifierConfig>,
    admin_notify: Vec<Spanned<String>>,
    warnings: Vec<String>,
    secrets: SecretInventory,
}

impl<'a> Builder<'a> {
    fn feed(&mut self, src: &Source, raw: &Spanned<RawFeed>) -> Result<(), ConfigError> {
        let f = raw.get_ref();
        let written = feed_url(src, &f.url, &self.dir)?;
        // The user name and password go into `Authorization`; the URL without them is the
        // feed's identity, in the store, the logs and every alert.
        let url = crate::model::without_userinfo(&written);
        if !self.feed_urls.insert(url.to_string()) {
            return Err(src.error(
                f.url.span(),
                format!("feed {url} is listed twice; remove one of the entries"),
            ));
        }
        let owner = format!("feed {url}");
        let mut headers = header_map(src, &self.dir, &f.headers, &owner, &mut self.secrets)?;
        if let Some(auth) = self.feed_auth(src, f, &written, &owner)? {
            headers.insert(AUTHORIZATION, auth);
        }
        let proxy = f
            .proxy
            .as_ref()
            .map(|p| {
                Url::parse(p.get_ref()).map_err(|e| {
                    src.error(
                        p.span(),
                        format!("invalid proxy URL: {e}; write e.g. \"http://proxy:3128\""),
                    )
                })
            })
            .transpose()?;
        let name = match &f.name {
            Some(n) if n.get_ref().trim().is_empty() => {
                return Err(src.error(n.span(), "feed name is empty; remove `name` or fill it in"));
            }
            n => n.as_ref().map(|n| n.get_ref().trim().to_owned()),
        };
        self.feeds.push(FeedConfig {
            url,
            name,
            cadence: cadence(src, f, &self.general)?,
            tags: f.tags.iter().map(|t| t.get_ref().clone()).collect(),
            headers,
            max_body_size: f
                .max_body_size
                .as_ref()
                .map_or(self.general.max_body_size, |s| s.get_ref().0),
            proxy,
            alert_on_first_fetch: f
                .alert_on_first_fetch
                .unwrap_or(self.general.alert_on_first_fetch),
            allow_insecure_redirect: f.allow_insecure_redirect.unwrap_or(false),
        });
        Ok(())
    }

    /// The feed's HTTP Basic credentials as an `Authorization` value: `username` with
    /// `password_env` or `password_file`, or the user name and password written in its URL.
    /// `None` without credentials, or when the password could not be read (recorded as
    /// missing).
    fn feed_auth(
        &mut self,
        src: &Source,
        f: &RawFeed,
        written: &Url,
        owner: &str,
    ) -> Result<Option<HeaderValue>, ConfigError> {
        let Some(username) = feed_username(src, f, written)? else {
            return Ok(None);
        };
        let password = if f.username.is_none() {
            let at = Location::at(&src.path, &src.text, f.url.span().start);
            let what = format!("user name and password in the url of {owner}");
            self.secrets.inline(at, what);
            crate::model::url_login(written).and_then(|(_, p)| p)
        } else {
            let read = read_secret(
                src,
                &self.dir,
                (&f.password_env, &f.password_file),
                "password",
                format!("password of {owner}"),
                &mut self.secrets,
            )?;
            match read.as_ref().map(SecretValue::expose) {
                Some(Err(_)) => return Ok(None),
                Some(Ok(p)) => Some(p.to_owned()),
                None => None,
            }
        };
        Ok(Some(secrets::basic_auth(&username, password.as_deref())))
    }

    fn notifier(
        &mut self,
        src: &Source,
        name: &Spanned<String>,
        raw: &Spanned<RawNotifier>,
    ) -> Result<(), ConfigError> {
        let key = NotifierName(name.get_ref().clone());
        if self.notifiers.contains_key(&key) {
            return Err(src.error(
                name.span(),
                format!("notifier {:?} is defined twice; rename one", key.0),
            ));
        }
        let config = notifier::build(
            src,
            &self.dir,
            key.clone(),
            raw,
            self.general.timezone,
            &mut self.secrets,
        )?;
        self.notifiers.insert(key, config);
        Ok(())
    }

    fn watchlist(
        &mut self,
        src: &'a Source,
        raw: &'a Spanned<RawWatchlist>,
    ) -> Result<(), ConfigError> {
        let w = raw.get_ref();
        let name = self.watchlist_name(src, raw)?;
        if w.terms.get_ref().is_empty() {
            return Err(src.error(
                w.terms.span(),
                format!("watchlist {name:?} has no terms; list at least one"),
            ));
        }
        let terms = terms_of(src, w.terms.get_ref())?;
        let require = require_groups(src, &w.require)?;
        let exclude = terms_of(src, &w.exclude)?;
        let fields = fields_of(src, &w.fields)?;
        let feeds = self.feed_selectors(src, &w.feeds)?;
        let notify = self.notify_list(src, name, &w.notify)?;
        self.watchlists.push(WatchlistConfig {
            spec: WatchlistSpec {
                name: name.to_owned(),
                terms,
                require,
                exclude,
                fields,
            },
            feeds,
            notify,
        });
        Ok(())
    }

    /// The watchlist's trimmed name, once it is known to be usable and unique.
    fn watchlist_name(
        &mut self,
        src: &'a Source,
        raw: &'a Spanned<RawWatchlist>,
    ) -> Result<&'a str, ConfigError> {
        let at = raw.get_ref().name.span();
        let name = raw.get_ref().name.get_ref().trim();
        if name.is_empty() {
            return Err(src.error(at, "watchlist name is empty"));
        }
        if name == crate::model::FEED_NOTICE_NAME {
            return Err(src.error(
                at,
                format!("{name:?} is reserved for notices about broken feeds; choose another name"),
            ));
        }
        if let Some((prev_src, prev)) = self
            .raw_watchlists
            .iter()
            .find(|(_, p)| p.get_ref().name.get_ref().trim() == name)
        {
            let first = Location::at(
                &prev_src.path,
                &prev_src.text,
                prev.get_ref().name.span().start,
            );
            return Err(src.error(
                at,
                format!("watchlist {name:?} is already defined at {first}; watchlist names must be unique"),
            ));
        }
        self.raw_watchlists.push((src, raw));
        Ok(name)
    }

    /// `feeds = [...]`: tags must exist; a name no feed is configured with only warns, since
    /// it may be a feed's own title, known only once fetched.
    fn feed_selectors(
        &mut self,
        src: &Source,
        raw: &[Spanned<String>],
    ) -> Result<Vec<FeedSelector>, ConfigError> {
        let mut feeds = Vec::new();
        for sel in raw {
            let text = sel.get_ref().trim();
            match text.strip_prefix("tag:") {
                Some(tag) => {
                    let tag = tag.trim();
                    if !self.feeds.iter().any(|f| f.tags.iter().any(|t| t == tag)) {
                        return Err(src.error(
                            sel.span(),
                            format!("no feed has the tag {tag:?}, so this selector matches nothing; check the spelling"),
                        ));
                    }
                    feeds.push(FeedSelector::Tag(tag.to_owned()));
                }
                None => {
                    let at = Location::at(&src.path, &src.text, sel.span().start);
                    let text = &self.selector_name(at.clone(), text);
                    let known = self
                        .feeds
                        .iter()
                        .any(|f| f.name.as_deref() == Some(text) || f.url.as_str() == text);
                    if !known {
                        self.warnings.push(format!(
                            "{at}: no configured feed is named {text:?}; it will only match a feed whose own title is {text:?}"
                        ));
                    }
                    feeds.push(FeedSelector::Name(text.to_owned()));
                }
            }
        }
        Ok(feeds)
    }

    /// A feed selector naming a feed by a URL with a user name and password names it by the
    /// URL without them, as the feed itself is known.
    fn selector_name(&mut self, at: Location, text: &str) -> String {
        match Url::parse(text) {
            Ok(url) if !url.username().is_empty() || url.password().is_some() => {
                let clean = crate::model::without_userinfo(&url).to_string();
                let what = format!("user name and password in a feed selector naming {clean}");
                self.secrets.inline(at, what);
                clean
            }
            _ => text.to_owned(),
        }
    }

    /// `notify = [...]`, each defined, without repeats; empty means every notifier.
    fn notify_list(
        &self,
        src: &Source,
        watchlist: &str,
        raw: &[Spanned<String>],
    ) -> Result<Vec<NotifierName>, ConfigError> {
        let mut notify = Vec::new();
        for n in raw {
            let key = NotifierName(n.get_ref().clone());
            if !self.notifiers.contains_key(&key) {
                let known: Vec<&str> = self.notifiers.keys().map(|k| k.0.as_str()).collect();
                return Err(src.error(
                    n.span(),
                    format!(
                        "watchlist {watchlist:?} notifies {:?}, which is not defined; defined notifiers: {}",
                        key.0,
                        if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                    ),
                ));
            }
            if !notify.contains(&key) {
                notify.push(key);
            }
        }
        if notify.is_empty() {
            notify = self.notifiers.keys().cloned().collect();
        }
        Ok(notify)
    }

    fn finish(self, main: &Source) -> Result<Config, ConfigError> {
        if !self.watchlists.is_empty() && self.notifiers.is_empty() {
            return Err(ConfigError::File {
                file: main.path.clone(),
                message: "watchlists are defined but no notifier is: add e.g. [notifiers.console] with type = \"stdout\"".into(),
            });
        }
        for admin in &self.admin_notify {
            if !self
                .notifiers
                .contains_key(&NotifierName(admin.get_ref().clone()))
            {
                return Err(main.error(
                    admin.span(),
                    format!(
                        "admin_notify names notifier {:?}, which is not defined",
                        admin.get_ref()
                    ),
                ));
            }
        }
        let mut secrets = self.secrets;
        // Reported in file order, whatever order the notifiers were visited in.
        secrets.missing.sort_by(|a, b| {
            let (a, b) = (&a.location, &b.location);
            (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column))
        });
        Ok(Config {
            path: std::path::absolute(&main.path).unwrap_or_else(|_| main.path.clone()),
            general: self.general,
            feeds: self.feeds,
            watchlists: self.watchlists,
            notifiers: self.notifiers,
            warnings: self.warnings,
            secrets,
        })
    }
}

/// The user name of a feed's credentials, from `username` or its URL, once the credentials are
/// known to be given once, completely, and to an http(s) feed without its own `Authorization`.
fn feed_username(src: &Source, f: &RawFeed, written: &Url) -> Result<Option<String>, ConfigError> {
    let in_url = !written.username().is_empty() || written.password().is_some();
    let password_key = f.password_env.as_ref().or(f.password_file.as_ref());
    let username = match (&f.username, in_url) {
        (Some(u), true) => {
            return Err(src.error(
                u.span(),
                "the feed's url already has a user name; give the credentials once: take them out of `url` and keep the password in `password_env` or `password_file`",
            ));
        }
        (Some(u), false) if u.get_ref().is_empty() => {
            return Err(src.error(u.span(), "`username` is empty; fill it in or remove it"));
        }
        (Some(u), false) => u.get_ref().clone(),
        (None, true) => crate::model::url_login(written).map_or_else(String::new, |(u, _)| u),
        (None, false) => match password_key {
            Some(p) => return Err(src.error(p.span(), "a password needs `username` too")),
            None => return Ok(None),
        },
    };
    if let Some(p) = password_key.filter(|_| written.password().is_some()) {
        return Err(src.error(
            p.span(),
            "the feed's url already has a password; take it out of `url`",
        ));
    }
    if !matches!(written.scheme(), "http" | "https") {
        let span = f.username.as_ref().map_or(f.url.span(), Spanned::span);
        return Err(src.error(
            span,
            "a user name and password only apply to http:// and https:// feeds",
        ));
    }
    let authorization = f
        .headers
        .keys()
        .find(|h| h.get_ref().eq_ignore_ascii_case("authorization"));
    if let Some(h) = authorization {
        return Err(src.error(
            h.span(),
            "the feed has a user name and an `Authorization` header; keep one of them",
        ));
    }
    Ok(Some(username))
}

/// When a feed is polled: `interval`, `schedule`, or the general interval.
fn cadence(src: &Source, f: &RawFeed, general: &General) -> Result<Cadence, ConfigError> {
    match (&f.interval, &f.schedule) {
        (Some(i), Some(_)) => Err(src.error(
            i.span(),
            "a feed takes either `interval` or `schedule`, not both",
        )),
        (Some(i), None) => Ok(Cadence::Every(duration(src, i, "interval", INTERVAL)?)),
        (None, Some(s)) => Cadence::cron(s.get_ref(), general.timezone)
            .map_err(|e| src.error(s.span(), format!("invalid schedule: {e}"))),
        (None, None) => Ok(Cadence::Every(general.interval)),
    }
}

/// `<key>_env` or `<key>_file`, at most one of them, read now: `None` when neither is set.
fn read_secret(
    src: &Source,
    dir: &Path,
    fields: (&Option<Spanned<String>>, &Option<Spanned<String>>),
    key: &str,
    what: String,
    secrets: &mut SecretInventory,
) -> Result<Option<SecretValue>, ConfigError> {
    Ok(secret_source(src, dir, fields, key)?.map(|(source, at)| secrets.read(at, what, &source)))
}

/// Where `<key>_env` or `<key>_file` (at most one of them) says to read a secret from, and
/// where the config says so: `None` when neither is set.
fn secret_source(
    src: &Source,
    dir: &Path,
    (env, file): (&Option<Spanned<String>>, &Option<Spanned<String>>),
    key: &str,
) -> Result<Option<(SecretSource, Location)>, ConfigError> {
    let (source, span) = match (env, file) {
        (Some(e), Some(_)) => {
            return Err(src.error(
                e.span(),
                format!("use either `{key}_env` or `{key}_file`, not both"),
            ));
        }
        (Some(e), None) => (SecretSource::Env(e.get_ref().clone()), e.span()),
        (None, Some(f)) => (SecretSource::file(f.get_ref(), dir), f.span()),
        (None, None) => return Ok(None),
    };
    Ok(Some((
        source,
        Location::at(&src.path, &src.text, span.start),
    )))
}

/// `{ env = "VAR" }` or `{ file = "path" }`: exactly one of them.
fn secret_ref(
    src: &Source,
    span: Range<usize>,
    r: &RawSecretRef,
    dir: &Path,
) -> Result<SecretSource, ConfigError> {
    match (&r.env, &r.file) {
        (Some(var), None) => Ok(SecretSource::Env(var.clone())),
        (None, Some(file)) => Ok(SecretSource::file(file, dir)),
        _ => Err(src.error(
            span,
            "a header value is a string, { env = \"VARIABLE\" } or { file = \"path\" }: give exactly one of `env` and `file`",
        )),
    }
}

/// `require = [[...], ...]`: every group must have a term, or it could never match.
fn require_groups(
    src: &Source,
    raw: &[Spanned<Vec<Spanned<RawTerm>>>],
) -> Result<Vec<Vec<TermSpec>>, ConfigError> {
    raw.iter()
        .map(|group| {
            if group.get_ref().is_empty() {
                Err(src.error(
                    group.span(),
                    "an empty `require` group can never match; remove it",
                ))
            } else {
                terms_of(src, group.get_ref())
            }
        })
        .collect()
}

/// `fields = [...]`, without repeats.
fn fields_of(src: &Source, raw: &[Spanned<String>]) -> Result<Vec<Field>, ConfigError> {
    let mut fields = Vec::new();
    for f in raw {
        let field = Field::parse(f.get_ref()).ok_or_else(|| {
            src.error(
                f.span(),
                format!(
                    "unknown field {:?}; use title, summary, content, author or categories",
                    f.get_ref()
                ),
            )
        })?;
        if !fields.contains(&field) {
            fields.push(field);
        }
    }
    Ok(fields)
}

fn terms_of(src: &Source, raw: &[Spanned<RawTerm>]) -> Result<Vec<TermSpec>, ConfigError> {
    raw.iter().map(|t| term(src, t)).collect()
}

fn term(src: &Source, raw: &Spanned<RawTerm>) -> Result<TermSpec, ConfigError> {
    let spec = match raw.get_ref() {
        RawTerm::Plain(s) => TermSpec::phrase(s),
        RawTerm::Table(t) => {
            let pattern = match (&t.term, &t.regex) {
                (Some(p), None) => TermPattern::Phrase(p.clone()),
                (None, Some(r)) => {
                    if let Err(e) = regex::Regex::new(r) {
                        let detail = e
                            .to_string()
                            .split_whitespace()
                            .collect::<Vec<_>>()
                            .join(" ");
                        return Err(src.error(raw.span(), format!("invalid regex: {detail}")));
                    }
                    TermPattern::Regex(r.clone())
                }
                _ => {
                    return Err(src.error(
                        raw.span(),
                        "a term table needs exactly one of `term` or `regex`",
                    ));
                }
            };
            TermSpec {
                pattern,
                case_sensitive: t.case_sensitive,
                accent_sensitive: t.accent_sensitive,
            }
        }
    };
    if let TermPattern::Phrase(p) = &spec.pattern
        && !p.chars().any(char::is_alphanumeric)
    {
        return Err(src.error(
            raw.span(),
            format!("term {p:?} has no letters or digits and would match nothing; remove it"),
        ));
    }
    Ok(spec)
}

fn general(src: &Source, g: &RawGeneral, dir: &Path) -> Result<General, ConfigError> {
    let interval = duration_or(src, &g.interval, "interval", INTERVAL, DEFAULT_INTERVAL)?;
    let timezone = timezone(src, &g.timezone)?;
    let user_agent = user_agent(src, &g.user_agent)?;
    let concurrency = count(src, &g.concurrency, "concurrency", DEFAULT_CONCURRENCY)?;
    let per_host_concurrency = count(
        src,
        &g.per_host_concurrency,
        "per_host_concurrency",
        DEFAULT_PER_HOST,
    )?;
    let admin_notify = g.admin_notify.as_ref().map_or_else(Vec::new, |a| {
        a.get_ref()
            .iter()
            .map(|n| NotifierName(n.get_ref().clone()))
            .collect()
    });
    Ok(General {
        database: database(&g.database, dir),
        interval,
        alert_on_first_fetch: g.alert_on_first_fetch.unwrap_or(false),
        timezone,
        concurrency,
        per_host_concurrency,
        user_agent,
        timeout: duration_or(src, &g.timeout, "timeout", TIMEOUT, DEFAULT_TIMEOUT)?,
        max_body_size: g
            .max_body_size
            .as_ref()
            .map_or(DEFAULT_MAX_BODY, |s| s.get_ref().0),
        admin_notify,
        feed_broken_after: duration_or(
            src,
            &g.feed_broken_after,
            "feed_broken_after",
            BROKEN_AFTER,
            DEFAULT_BROKEN_AFTER,
        )?,
        retention: duration_or(src, &g.retention, "retention", RETENTION, DEFAULT_RETENTION)?,
    })
}

/// `database`, relative to the config file; by default in systemd's `StateDirectory=`.
fn database(raw: &Option<Spanned<String>>, dir: &Path) -> Database {
    match raw {
        Some(d) if d.get_ref() == ":memory:" => Database::Memory,
        Some(d) => Database::File(dir.join(d.get_ref())),
        None => Database::File(
            std::env::var_os("STATE_DIRECTORY")
                .and_then(|s| std::env::split_paths(&s).next())
                .map_or_else(|| PathBuf::from("feedwatch.db"), |d| d.join("feedwatch.db")),
        ),
    }
}

fn timezone(src: &Source, raw: &Option<Spanned<String>>) -> Result<Tz, ConfigError> {
    let Some(tz) = raw else {
        return Ok(Tz::UTC);
    };
    Tz::from_str(tz.get_ref()).map_err(|_| {
        src.error(
            tz.span(),
            format!(
                "unknown time zone {:?}; use an IANA name such as \"Europe/Berlin\" or \"UTC\"",
                tz.get_ref()
            ),
        )
    })
}

fn user_agent(src: &Source, raw: &Option<Spanned<String>>) -> Result<String, ConfigError> {
    match raw {
        Some(ua) if HeaderValue::from_str(ua.get_ref()).is_err() => {
            Err(src.error(ua.span(), "user_agent must be visible ASCII"))
        }
        Some(ua) => Ok(ua.get_ref().clone()),
        None => Ok(default_user_agent()),
    }
}

/// A count of requests in flight: at least one, and few enough to be a sane setting.
fn count(
    src: &Source,
    raw: &Option<Spanned<i64>>,
    key: &str,
    default: usize,
) -> Result<usize, ConfigError> {
    match raw {
        None => Ok(default),
        Some(n) => match usize::try_from(*n.get_ref()) {
            Ok(n) if (1..=1024).contains(&n) => Ok(n),
            _ => Err(src.error(n.span(), format!("`{key}` must be between 1 and 1024"))),
        },
    }
}

/// The User-Agent sent when none is configured: names feedwatch and its version.
pub fn default_user_agent() -> String {
    format!(
        "feedwatch/{} (+https://crates.io/crates/feedwatch)",
        env!("CARGO_PKG_VERSION")
    )
}

fn duration(
    src: &Source,
    raw: &Spanned<String>,
    key: &str,
    (min, max): (Duration, Duration),
) -> Result<Duration, ConfigError> {
    let d = humantime::parse_duration(raw.get_ref()).map_err(|e| {
        src.error(
            raw.span(),
            format!("invalid duration for `{key}` ({e}); write e.g. \"90s\", \"15m\" or \"1h\""),
        )
    })?;
    if d < min || d > max {
        return Err(src.error(
            raw.span(),
            format!(
                "`{key}` must be between {} and {}",
                humantime::format_duration(min),
                humantime::format_duration(max)
            ),
        ));
    }
    Ok(d)
}

/// An optional duration setting: checked against its range when given, else `default`.
fn duration_or(
    src: &Source,
    raw: &Option<Spanned<String>>,
    key: &str,
    range: (Duration, Duration),
    default: Duration,
) -> Result<Duration, ConfigError> {
    raw.as_ref()
        .map_or(Ok(default), |d| duration(src, d, key, range))
}

fn mailbox(src: &Source, raw: &Spanned<String>) -> Result<Mailbox, ConfigError> {
    Mailbox::from_str(raw.get_ref()).map_err(|e| {
        src.error(
            raw.span(),
            format!(
                "invalid email address {:?}: {e}; write e.g. \"feedwatch <alerts@example.org>\"",
                raw.get_ref()
            ),
        )
    })
}

/// Configured request headers as sent, values from the environment or files read now. Values
/// are marked sensitive because they often carry credentials: `Debug` then never prints them,
/// and HTTP/2 never adds them to its header cache. A value that cannot be read is left out
/// and recorded as missing.
fn header_map(
    src: &Source,
    dir: &Path,
    raw: &RawHeaders,
    owner: &str,
    secrets: &mut SecretInventory,
) -> Result<HeaderMap, ConfigError> {
    const INVALID: &str = "names are tokens, values are visible ASCII";
    let mut map = HeaderMap::new();
    for (name, value) in raw {
        let invalid = |span: Range<usize>| {
            src.error(
                span,
                format!("invalid HTTP header {:?}: {INVALID}", name.get_ref()),
            )
        };
        let key =
            HeaderName::from_bytes(name.get_ref().as_bytes()).map_err(|_| invalid(name.span()))?;
        let what = format!("header {} of {owner}", name.get_ref());
        let at = Location::at(&src.path, &src.text, value.span().start);
        let mut header = match value.get_ref() {
            RawHeaderValue::Plain(text) => {
                if secrets::is_credential_header(name.get_ref()) {
                    secrets.inline(at, what);
                }
                HeaderValue::from_str(text).map_err(|_| invalid(value.span()))?
            }
            RawHeaderValue::From(r) => {
                let source = secret_ref(src, value.span(), r, dir)?;
                let read = secrets.read_as(at, what, &source, |text| {
                    HeaderValue::from_str(&text).map_err(|_| {
                        format!("the value read is not a valid HTTP header value ({INVALID})")
                    })
                });
                match read {
                    Ok(header) => header,
                    Err(_) => continue,
                }
            }
        };
        header.set_sensitive(true);
        // Names differing only in case name one header: the later entry wins.
        map.insert(key, header);
    }
    Ok(map)
}

/// A feed location: an http(s) or file URL, or a path (relative to the config file).
fn feed_url(src: &Source, raw: &Spanned<String>, dir: &Path) -> Result<Url, ConfigError> {
    let s = raw.get_ref().trim();
    let bad = |why: &str| {
        src.error(
            raw.span(),
            format!("invalid feed url {:?}: {why}; write \"https://…\", \"file:///abs/path.xml\" or a path relative to this file", secrets::redact_userinfo(s)),
        )
    };
    match Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(u),
        Ok(u) if u.scheme() == "file" => Ok(u),
        // A Windows-style drive letter parses as a scheme; anything else with a scheme is unknown.
        Ok(u) if u.scheme().len() > 1 => Err(bad(&format!("unsupported scheme {:?}", u.scheme()))),
        Ok(_) | Err(url::ParseError::RelativeUrlWithoutBase) => {
            let path = dir.join(s);
            let abs = std::path::absolute(&path).map_err(|e| bad(&e.to_string()))?;
            Url::from_file_path(&abs).map_err(|()| bad("not a usable file path"))
        }
        Err(e) => Err(bad(&e.to_string())),
    }
}

fn expand_include(
    src: &Source,
    pattern: &Spanned<String>,
    dir: &Path,
) -> Result<Vec<PathBuf>, ConfigError> {
    let full = dir.join(pattern.get_ref());
    let full_str = full.to_string_lossy();
    let is_glob = pattern.get_ref().contains(['*', '?', '[']);
    let paths = glob::glob(&full_str)
        .map_err(|e| src.error(pattern.span(), format!("invalid include pattern: {e}")))?;
    let mut found: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
    found.sort();
    if found.is_empty() && !is_glob {
        return Err(src.error(
            pattern.span(),
            format!("included file {} does not exist", full.display()),
        ));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads config text as if from `t.toml`.
    pub(super) fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_str_at(text, Path::new("t.toml"))
    }

    const TYPED: &str = r#"
[[feeds]]
url = "https://example.org/rss.xml"
headers = { Authorization = "Bearer feed-token", Accept = "application/rss+xml" }

[notifiers.desk]
type = "email"
smtp = "smtp://alerts%40example.org@mail.example.org:587?tls=required"
from = "feedwatch <alerts@example.org>"
to = ["desk@example.org", "Duty Officer <duty@example.org>"]

[notifiers.chat]
type = "webhook"
url = "https://hooks.example.org/services/hook-token"
headers = { "X-Api-Key" = "hook-key" }
"#;

    #[test]
    fn headers_mailboxes_and_urls_come_out_typed() {
        let config = load(TYPED).unwrap();
        let feed = &config.feeds[0];
        assert_eq!(feed.headers["authorization"], "Bearer feed-token");
        assert_eq!(feed.headers["accept"], "application/rss+xml");
        let NotifierKind::Email(email) = &config.notifiers[&NotifierName("desk".into())].kind
        else {
            panic!("desk is an email notifier");
        };
        assert_eq!(email.smtp.expose().username(), "alerts%40example.org");
        assert_eq!(email.from.email.to_string(), "alerts@example.org");
        assert_eq!(email.to[1].name.as_deref(), Some("Duty Officer"));
        let NotifierKind::Webhook(hook) = &config.notifiers[&NotifierName("chat".into())].kind
        else {
            panic!("chat is a webhook notifier");
        };
        assert_eq!(hook.url.expose().unwrap().path(), "/services/hook-token");
        assert_eq!(hook.headers["x-api-key"], "hook-key");
    }

    /// The error that loading `text` must fail with.
    pub(super) fn error(text: &str) -> String {
        match load(text) {
            Ok(_) => panic!("should fail:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_notifier_defined_again_in_an_include_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("main.toml");
        std::fs::write(
            &main,
            "[general]\ninclude = [\"more.toml\"]\n\n[notifiers.desk]\ntype = \"stdout\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("more.toml"),
            "[notifiers.desk]\ntype = \"stdout\"\n",
        )
        .unwrap();
        let err = Config::load(&main).unwrap_err().to_string();
        assert!(
            err.ends_with("more.toml:1:12: notifier \"desk\" is defined twice; rename one"),
            "{err}"
        );
    }

    #[test]
    fn debug_output_hides_header_values_and_urls_with_tokens() {
        let debug = format!("{:?}", load(TYPED).unwrap());
        for secret in ["feed-token", "hook-token", "hook-key"] {
            assert!(
                !debug.contains(secret),
                "{secret} leaked into Debug: {debug}"
            );
        }
    }

    /// A config at `dir/t.toml` (so relative secret files resolve in `dir`).
    fn load_in(dir: &Path, text: &str) -> Result<Config, ConfigError> {
        Config::from_str_at(text, &dir.join("t.toml"))
    }

    #[test]
    fn userinfo_leaves_the_feed_url_for_an_authorization_header() {
        let config =
            load("[[feeds]]\nurl = \"https://reader:open%20sesame@example.org/members.xml\"\n")
                .unwrap();
        let feed = &config.feeds[0];
        assert_eq!(feed.url.as_str(), "https://example.org/members.xml");
        assert_eq!(
            feed.headers["authorization"],
            secrets::basic_auth("reader", Some("open sesame"))
        );
        assert!(feed.headers["authorization"].is_sensitive());
        assert_eq!(config.secrets.inline.len(), 1);
        assert_eq!(config.secrets.inline[0].location.to_string(), "t.toml:2:7");
        assert!(!format!("{config:?}").contains("open"));
        // The identity has no credentials, so the feed is found by either form.
        let with = Url::parse("https://x:y@example.org/members.xml").unwrap();
        assert!(config.feed_by_url(&with).is_some());
    }

    #[test]
    fn username_and_password_file_make_basic_auth() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("feed.pass"), "s3cret\n").unwrap();
        let text = "[[feeds]]\nurl = \"https://example.org/f.xml\"\nusername = \"desk\"\npassword_file = \"feed.pass\"\n";
        let config = load_in(dir.path(), text).unwrap();
        assert_eq!(
            config.feeds[0].headers["authorization"],
            secrets::basic_auth("desk", Some("s3cret"))
        );
        assert!(config.secrets.missing.is_empty());
        assert_eq!(config.secrets.files[0].0, dir.path().join("feed.pass"));
    }

    #[test]
    fn credentials_are_given_once_and_only_to_http_feeds() {
        let cases = [
            (
                "url = \"https://u:p@example.org/f\"\nusername = \"u\"\n",
                "t.toml:3:12: the feed's url already has a user name",
            ),
            (
                "url = \"https://u:p@example.org/f\"\npassword_env = \"P\"\n",
                "t.toml:3:16: the feed's url already has a password",
            ),
            (
                "url = \"https://example.org/f\"\npassword_env = \"P\"\n",
                "t.toml:3:16: a password needs `username` too",
            ),
            (
                "url = \"/srv/f.xml\"\nusername = \"u\"\n",
                "t.toml:3:12: a user name and password only apply to http:// and https:// feeds",
            ),
            (
                "url = \"https://example.org/f\"\nusername = \"u\"\nheaders = { Authorization = \"Bearer x\" }\n",
                "t.toml:4:13: the feed has a user name and an `Authorization` header",
            ),
        ];
        for (feed, expect) in cases {
            let err = error(&format!("[[feeds]]\n{feed}"));
            assert!(err.starts_with(expect), "{err}\n  expected: {expect}");
        }
    }

    #[test]
    fn a_bad_feed_url_is_quoted_without_its_credentials() {
        let err = error("[[feeds]]\nurl = \"https://user:hunter2@exa mple.org/f\"\n");
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("\"https://***@exa mple.org/f\""), "{err}");
    }

    #[test]
    fn header_values_come_from_files_and_every_missing_secret_is_listed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key"), "k3y\n").unwrap();
        let text = r#"
[[feeds]]
url = "https://example.org/f.xml"
headers = { X-Api-Key = { file = "key" }, Cookie = { env = "FEEDWATCH_TEST_NEVER_SET_A" } }

[notifiers.desk]
type = "email"
smtp = "smtp://alerts@127.0.0.1:25"
password_file = "missing.pass"
from = "a@example.org"
to = ["b@example.org"]

[notifiers.chat]
type = "webhook"
url = "https://example.org/hook"
secret_env = "FEEDWATCH_TEST_NEVER_SET_B"
"#;
        let config = load_in(dir.path(), text).unwrap();
        assert_eq!(config.feeds[0].headers["x-api-key"], "k3y");
        assert!(config.feeds[0].headers["x-api-key"].is_sensitive());
        assert!(!config.feeds[0].headers.contains_key("cookie"));
        let err = config.require_secrets().unwrap_err().to_string();
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 3, "{err}");
        let t = dir.path().join("t.toml");
        let t = t.display();
        assert!(lines[0].starts_with(&format!("{t}:4:52: header Cookie of feed https://example.org/f.xml: environment variable FEEDWATCH_TEST_NEVER_SET_A is not set")), "{err}");
        assert!(
            lines[1].starts_with(&format!(
                "{t}:9:17: SMTP password of notifier \"desk\": cannot read "
            )),
            "{err}"
        );
        assert!(lines[2].starts_with(&format!("{t}:16:14: signing secret of notifier \"chat\": environment variable FEEDWATCH_TEST_NEVER_SET_B is not set")), "{err}");
    }

    #[test]
    fn a_header_value_table_names_exactly_one_source() {
        for value in ["{ env = \"A\", file = \"b\" }", "{}"] {
            let err = error(&format!(
                "[[feeds]]\nurl = \"https://example.org/f\"\nheaders = {{ X-Key = {value} }}\n"
            ));
            assert!(
                err.starts_with("t.toml:3:21: a header value is a string, { env = \"VARIABLE\" } or { file = \"path\" }"),
                "{err}"
            );
        }
        let err = error(
            "[[feeds]]\nurl = \"https://example.org/f\"\nheaders = { X-Key = { vault = \"a\" } }\n",
        );
        assert!(err.contains("unknown field `vault`"), "{err}");
    }

    #[test]
    fn a_header_value_that_cannot_be_sent_is_a_missing_secret() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad"), "tab\there\u{7f}\n").unwrap();
        let text = "[[feeds]]\nurl = \"https://example.org/f\"\nheaders = { X-Key = { file = \"bad\" } }\n";
        let config = load_in(dir.path(), text).unwrap();
        let missing = &config.secrets.missing[0];
        assert_eq!(missing.what, "header X-Key of feed https://example.org/f");
        assert!(
            missing
                .problem
                .starts_with("the value read is not a valid HTTP header value")
        );
        assert!(!missing.to_string().contains("tab"), "{missing}");
    }

    #[test]
    fn inline_secrets_are_recorded_where_they_are_written() {
        let text = r#"
[[feeds]]
url = "https://example.org/f.xml"
headers = { Authorization = "Bearer abc", Accept = "application/rss+xml" }

[[watchlists]]
name = "w"
terms = ["x"]
feeds = ["https://u:p@example.org/f.xml"]

[notifiers.chat]
type = "webhook"
url = "https://hooks.example.org/services/T0000/B0000/abcdefABCDEF012345"
headers = { X-Team = "desk" }
"#;
        let config = load(text).unwrap();
        let found: Vec<String> = config
            .secrets
            .inline
            .iter()
            .map(|s| format!("{}: {}", s.location, s.what))
            .collect();
        assert_eq!(
            found,
            [
                "t.toml:4:29: header Authorization of feed https://example.org/f.xml",
                "t.toml:13:7: token in the url of notifier \"chat\"",
                "t.toml:9:10: user name and password in a feed selector naming https://example.org/f.xml",
            ]
        );
        // The selector still names the feed, by its URL without the credentials.
        assert!(config.watchlists[0].applies_to(&config.feeds[0], None));
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    }
}
