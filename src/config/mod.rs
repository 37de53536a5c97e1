//! Configuration: the validated, typed `Config` and `load(path)`.
//!
//! Owns reading TOML (the main file and its includes) and turning it into typed values with
//! defaults applied, and reading the secrets the config names (see `secrets`). Must never start
//! I/O other than reading config and secret files, and never accept a value it does not
//! understand: every mistake is reported as `FILE:LINE:COL: message`.

mod error;
mod raw;
mod secrets;
mod validate;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono_tz::Tz;
use lettre::message::Mailbox;
use reqwest::header::HeaderMap;
use url::Url;

use crate::matcher::WatchlistSpec;
use crate::schedule::Cadence;

pub use crate::model::{Database, NotifierName};
pub use error::{ConfigError, Location};
pub use secrets::{
    Exposure, InlineSecret, MissingSecret, Secret, SecretInventory, SecretSource, SecretUrl,
    SecretValue, SigningKey,
};
pub use secrets::{basic_auth, redact_userinfo, url_secrets};
pub use validate::default_user_agent;

/// The default config path when neither `--config` nor `$FEEDWATCH_CONFIG` is given.
pub const DEFAULT_PATH: &str = "/etc/feedwatch/config.toml";

/// A fully validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The main config file, absolute when it could be made so: where the watchlists live.
    pub path: std::path::PathBuf,
    /// `[general]`, with defaults applied.
    pub general: General,
    /// Feeds in file order (main file first, then includes in sorted order).
    pub feeds: Vec<FeedConfig>,
    /// Watchlists in file order.
    pub watchlists: Vec<WatchlistConfig>,
    /// Notifiers by name.
    pub notifiers: BTreeMap<NotifierName, NotifierConfig>,
    /// Things that are valid but probably not what was meant, with their location.
    pub warnings: Vec<String>,
    /// Every secret the config names: read at load, and any that could not be read.
    pub secrets: SecretInventory,
}

/// Daemon-wide settings.
#[derive(Debug, Clone)]
pub struct General {
    /// Where the store keeps its data.
    pub database: Database,
    /// Default poll interval.
    pub interval: Duration,
    /// Whether a newly added feed's existing items alert.
    pub alert_on_first_fetch: bool,
    /// Time zone for cron schedules.
    pub timezone: Tz,
    /// Requests in flight at once, over all hosts.
    pub concurrency: usize,
    /// Requests in flight at once to one host.
    pub per_host_concurrency: usize,
    /// The User-Agent header sent to feeds.
    pub user_agent: String,
    /// Total time allowed for one feed request.
    pub timeout: Duration,
    /// Default cap on a feed body after decompression.
    pub max_body_size: u64,
    /// Notifiers told when a feed breaks or recovers (empty: nobody).
    pub admin_notify: Vec<NotifierName>,
    /// How long a feed must fail before it counts as broken.
    pub feed_broken_after: Duration,
    /// How long alerts, and items gone from their feed, are remembered.
    pub retention: Duration,
}

/// One `[[feeds]]` entry.
#[derive(Debug, Clone)]
pub struct FeedConfig {
    /// Where to fetch it: `http(s)://` or `file://`, never with a user name or password (those
    /// are taken out at load and sent as `Authorization`). Also the feed's identity.
    pub url: Url,
    /// The configured name, if any (else the feed's own title is shown).
    pub name: Option<String>,
    /// When to poll it.
    pub cadence: Cadence,
    /// Free-form tags for watchlist scoping.
    pub tags: Vec<String>,
    /// Extra request headers, sent to the feed's own origin only (values marked sensitive),
    /// with `Authorization: Basic …` when the feed has a user name.
    pub headers: HeaderMap,
    /// Cap on the decompressed body.
    pub max_body_size: u64,
    /// Optional proxy URL for this feed.
    pub proxy: Option<Url>,
    /// Whether this feed's first fetch alerts.
    pub alert_on_first_fetch: bool,
    /// Whether a redirect from `https://` to `http://` is followed (else it fails the fetch).
    pub allow_insecure_redirect: bool,
}

impl FeedConfig {
    /// The name to show for this feed: the configured name, else the feed's own title (a
    /// blank one counts as none), else its URL.
    pub fn display_name(&self, feed_title: Option<&str>) -> String {
        match (&self.name, feed_title.filter(|t| !t.trim().is_empty())) {
            (Some(name), _) => name.clone(),
            (None, Some(title)) => title.to_owned(),
            (None, None) => self.url.to_string(),
        }
    }
}

/// Which feeds a watchlist looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedSelector {
    /// `tag:NAME`.
    Tag(String),
    /// A feed's configured name, its own title, or its URL.
    Name(String),
}

/// One `[[watchlists]]` entry.
#[derive(Debug, Clone)]
pub struct WatchlistConfig {
    /// Matching rules, compiled into the matcher.
    pub spec: WatchlistSpec,
    /// Scope; empty means every feed.
    pub feeds: Vec<FeedSelector>,
    /// Notifiers that receive its alerts (already resolved: never empty unless no notifiers exist).
    pub notify: Vec<NotifierName>,
}

impl WatchlistConfig {
    /// The watchlist's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Whether this watchlist applies to a feed with these names and tags.
    pub fn applies_to(&self, feed: &FeedConfig, feed_title: Option<&str>) -> bool {
        self.feeds.is_empty()
            || self.feeds.iter().any(|sel| match sel {
                FeedSelector::Tag(tag) => feed.tags.iter().any(|t| t == tag),
                FeedSelector::Name(name) => {
                    feed.name.as_deref() == Some(name.as_str())
                        || feed_title == Some(name.as_str())
                        || feed.url.as_str() == name
                }
            })
    }
}

/// One notifier.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    /// Its name.
    pub name: NotifierName,
    /// How long one delivery may take.
    pub timeout: Duration,
    /// When held alerts go out as one digest; `None` sends each alert as it comes.
    pub digest: Option<Cadence>,
    /// Most alerts sent one by one in a rolling hour; the rest are folded into one summary an
    /// hour. `None` for no cap.
    pub max_per_hour: Option<u32>,
    /// What kind it is.
    pub kind: NotifierKind,
}

/// The kinds of notifier.
#[derive(Debug, Clone)]
pub enum NotifierKind {
    /// SMTP email.
    Email(EmailConfig),
    /// JSON POST.
    Webhook(WebhookConfig),
    /// Print to standard output.
    Stdout(StdoutFormat),
    /// A chat platform's own message format.
    Chat(ChatConfig),
}

impl NotifierKind {
    /// The type of this notifier.
    pub fn notifier_type(&self) -> NotifierType {
        match self {
            NotifierKind::Email(_) => NotifierType::Email,
            NotifierKind::Webhook(_) => NotifierType::Webhook,
            NotifierKind::Stdout(_) => NotifierType::Stdout,
            NotifierKind::Chat(c) => c.notifier_type(),
        }
    }

    /// The name written in `type = "…"`.
    pub fn type_name(&self) -> &'static str {
        self.notifier_type().name()
    }
}

/// The notifier types, as written in `type = "…"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifierType {
    /// `type = "email"`.
    Email,
    /// `type = "webhook"`.
    Webhook,
    /// `type = "stdout"`.
    Stdout,
    /// `type = "slack"`.
    Slack,
    /// `type = "mattermost"`.
    Mattermost,
    /// `type = "discord"`.
    Discord,
    /// `type = "teams"`.
    Teams,
    /// `type = "googlechat"`.
    GoogleChat,
    /// `type = "ntfy"`.
    Ntfy,
    /// `type = "telegram"`.
    Telegram,
    /// `type = "matrix"`.
    Matrix,
}

impl NotifierType {
    /// Every type, in the order error messages list them.
    pub const ALL: [NotifierType; 11] = [
        NotifierType::Email,
        NotifierType::Webhook,
        NotifierType::Stdout,
        NotifierType::Slack,
        NotifierType::Mattermost,
        NotifierType::Discord,
        NotifierType::Teams,
        NotifierType::GoogleChat,
        NotifierType::Ntfy,
        NotifierType::Telegram,
        NotifierType::Matrix,
    ];

    /// The name written in `type = "…"`.
    pub fn name(self) -> &'static str {
        match self {
            NotifierType::Email => "email",
            NotifierType::Webhook => "webhook",
            NotifierType::Stdout => "stdout",
            NotifierType::Slack => "slack",
            NotifierType::Mattermost => "mattermost",
            NotifierType::Discord => "discord",
            NotifierType::Teams => "teams",
            NotifierType::GoogleChat => "googlechat",
            NotifierType::Ntfy => "ntfy",
            NotifierType::Telegram => "telegram",
            NotifierType::Matrix => "matrix",
        }
    }

    /// Whether people read this type's messages in a chat, where a flood buries the channel:
    /// such notifiers get a default `max_per_hour`.
    pub fn is_chat(self) -> bool {
        match self {
            NotifierType::Email | NotifierType::Webhook | NotifierType::Stdout => false,
            NotifierType::Slack
            | NotifierType::Mattermost
            | NotifierType::Discord
            | NotifierType::Teams
            | NotifierType::GoogleChat
            | NotifierType::Ntfy
            | NotifierType::Telegram
            | NotifierType::Matrix => true,
        }
    }

    /// The type written as `name`, if there is one.
    pub fn from_name(name: &str) -> Option<NotifierType> {
        NotifierType::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// Email settings.
#[derive(Debug, Clone)]
pub struct EmailConfig {
    /// lettre SMTP URL, `smtp://` or `smtps://` (user in the URL, password kept apart).
    pub smtp: Secret<Url>,
    /// The password, read at load, if one is configured.
    pub password: Option<SecretValue>,
    /// From mailbox.
    pub from: Mailbox,
    /// Recipients (at least one).
    pub to: Vec<Mailbox>,
}

/// Webhook settings.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Target URL, `http://` or `https://` (may carry a token, so masked in `Debug`).
    pub url: SecretUrl,
    /// Extra headers (values marked sensitive).
    pub headers: HeaderMap,
    /// Standard Webhooks signing key, read at load, if the receiver checks signatures.
    pub secret: Option<Result<SigningKey, MissingSecret>>,
}

/// A chat platform and where its messages go. URLs and tokens are secrets: they often are the
/// only credential.
#[derive(Debug, Clone)]
pub enum ChatConfig {
    /// Slack incoming webhook.
    Slack {
        /// The webhook URL (holds its token).
        url: SecretUrl,
    },
    /// Mattermost incoming webhook (Slack-compatible).
    Mattermost {
        /// The webhook URL (holds its token).
        url: SecretUrl,
        /// Shown as the sender, when the server allows overriding it.
        username: Option<String>,
        /// Channel to post in instead of the webhook's own.
        channel: Option<String>,
    },
    /// Discord webhook.
    Discord {
        /// The webhook URL (holds its token).
        url: SecretUrl,
    },
    /// Microsoft Teams Workflows (Power Automate) webhook.
    Teams {
        /// The workflow's URL (holds its signature).
        url: SecretUrl,
    },
    /// Google Chat space webhook.
    GoogleChat {
        /// The webhook URL (holds its key and token).
        url: SecretUrl,
    },
    /// ntfy topic.
    Ntfy {
        /// The topic URL, `https://ntfy.sh/TOPIC` (the topic name may be the only secret).
        url: SecretUrl,
        /// Access token, sent as `Authorization: Bearer`.
        token: Option<SecretValue>,
        /// Message priority, 1 (min) to 5 (max).
        priority: u8,
        /// Extra tags (emoji short codes show as emoji).
        tags: Vec<String>,
    },
    /// Telegram bot.
    Telegram {
        /// Bot API base URL (the public API unless set).
        api_url: Url,
        /// The bot's token.
        bot_token: SecretValue,
        /// The chat, group or channel to post in.
        chat_id: String,
    },
    /// Matrix room.
    Matrix {
        /// The homeserver's base URL.
        homeserver: Url,
        /// The room id (`!abc:example.org`).
        room_id: String,
        /// The sending account's access token.
        access_token: SecretValue,
    },
}

impl ChatConfig {
    /// The type of this notifier.
    pub fn notifier_type(&self) -> NotifierType {
        match self {
            ChatConfig::Slack { .. } => NotifierType::Slack,
            ChatConfig::Mattermost { .. } => NotifierType::Mattermost,
            ChatConfig::Discord { .. } => NotifierType::Discord,
            ChatConfig::Teams { .. } => NotifierType::Teams,
            ChatConfig::GoogleChat { .. } => NotifierType::GoogleChat,
            ChatConfig::Ntfy { .. } => NotifierType::Ntfy,
            ChatConfig::Telegram { .. } => NotifierType::Telegram,
            ChatConfig::Matrix { .. } => NotifierType::Matrix,
        }
    }
}

/// How the stdout notifier prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdoutFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (the webhook payload).
    Json,
}

impl Config {
    /// Reads, parses and validates `path` and its includes.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        validate::load(path)
    }

    /// Parses config text held in memory (tests, built-in defaults) as if read from `path`:
    /// errors name `path`, and includes resolve against its directory.
    pub fn from_str_at(text: &str, path: &Path) -> Result<Config, ConfigError> {
        validate::load_text(text.to_owned(), path)
    }

    /// The watchlist specs in order, for compiling the matcher.
    pub fn watchlist_specs(&self) -> Vec<WatchlistSpec> {
        self.watchlists.iter().map(|w| w.spec.clone()).collect()
    }

    /// Looks a feed up by its URL (a user name and password in `url` are ignored).
    pub fn feed_by_url(&self, url: &Url) -> Option<&FeedConfig> {
        let url = crate::model::without_userinfo(url);
        self.feeds.iter().find(|f| f.url == url)
    }

    /// Ok when every secret the config names could be read; else all that could not, each
    /// with its `FILE:LINE:COL`.
    pub fn require_secrets(&self) -> Result<(), ConfigError> {
        if self.secrets.missing.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::MissingSecrets(self.secrets.missing.clone()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(name: Option<&str>) -> FeedConfig {
        FeedConfig {
            url: Url::parse("https://example.org/rss.xml").unwrap(),
            name: name.map(str::to_owned),
            cadence: Cadence::Every(Duration::from_secs(900)),
            tags: Vec::new(),
            headers: HeaderMap::new(),
            max_body_size: 1 << 20,
            proxy: None,
            alert_on_first_fetch: false,
            allow_insecure_redirect: false,
        }
    }

    #[test]
    fn display_name_prefers_the_configured_name() {
        assert_eq!(feed(Some("Desk")).display_name(Some("Own Title")), "Desk");
        assert_eq!(feed(Some("Desk")).display_name(None), "Desk");
    }

    #[test]
    fn display_name_falls_back_to_the_feed_title() {
        assert_eq!(feed(None).display_name(Some("Own Title")), "Own Title");
    }

    #[test]
    fn display_name_falls_back_to_the_url() {
        assert_eq!(feed(None).display_name(None), "https://example.org/rss.xml");
        assert_eq!(
            feed(None).display_name(Some("  ")),
            "https://example.org/rss.xml"
        );
    }
}
