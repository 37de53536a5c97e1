//! `[notifiers.NAME]` → `NotifierConfig`: the type, the keys each type takes, one builder per type.
//!
//! Owns which key belongs to which notifier type, in one table. Must never ignore a key meant
//! for another type, nor guess a type: the type is parsed once and every match on it is
//! exhaustive.

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;
use url::Url;

use super::{TIMEOUT, duration_or, header_map, mailbox, read_secret, secret_source};
use crate::config::error::{ConfigError, Location, Source};
use crate::config::raw::{RawChatId, RawNotifier};
use crate::config::secrets::{self, SecretInventory};
use crate::config::{
    ChatConfig, EmailConfig, MissingSecret, NotifierConfig, NotifierKind, NotifierName,
    NotifierType, Secret, SecretSource, SecretUrl, SecretValue, SigningKey, StdoutFormat,
    WebhookConfig,
};
use crate::schedule::Cadence;
use chrono_tz::Tz;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a key's value is in a raw notifier table, if the key is there.
type Locate = fn(&RawNotifier) -> Option<Range<usize>>;

use NotifierType::{
    Discord, Email, GoogleChat, Matrix, Mattermost, Ntfy, Slack, Stdout, Teams, Telegram, Webhook,
};

/// The types that post to a URL given as `url`, `url_env` or `url_file`.
const POSTS_TO_URL: &[NotifierType] =
    &[Webhook, Slack, Mattermost, Discord, Teams, GoogleChat, Ntfy];

/// Every key besides those all types take (`type`, `timeout`, `digest`, `max_per_hour`): the
/// types it applies to, and where to find it. Misplaced keys are reported in this order.
#[rustfmt::skip]
const KEYS: [(&str, &[NotifierType], Locate); 29] = [
    ("smtp",              &[Email],        |n| span(&n.smtp)),
    ("password_env",      &[Email],        |n| span(&n.password_env)),
    ("password_file",     &[Email],        |n| span(&n.password_file)),
    ("from",              &[Email],        |n| span(&n.from)),
    ("to",                &[Email],        |n| span(&n.to)),
    ("url",               POSTS_TO_URL,    |n| span(&n.url)),
    ("url_env",           POSTS_TO_URL,    |n| span(&n.url_env)),
    ("url_file",          POSTS_TO_URL,    |n| span(&n.url_file)),
    ("headers",           &[Webhook],      |n| span(&n.headers)),
    ("format",            &[Stdout],       |n| span(&n.format)),
    ("secret_env",        &[Webhook],      |n| span(&n.secret_env)),
    ("secret_file",       &[Webhook],      |n| span(&n.secret_file)),
    ("username",          &[Mattermost],   |n| span(&n.username)),
    ("channel",           &[Mattermost],   |n| span(&n.channel)),
    ("token",             &[Ntfy],         |n| span(&n.token)),
    ("token_env",         &[Ntfy],         |n| span(&n.token_env)),
    ("token_file",        &[Ntfy],         |n| span(&n.token_file)),
    ("priority",          &[Ntfy],         |n| span(&n.priority)),
    ("tags",              &[Ntfy],         |n| span(&n.tags)),
    ("bot_token",         &[Telegram],     |n| span(&n.bot_token)),
    ("bot_token_env",     &[Telegram],     |n| span(&n.bot_token_env)),
    ("bot_token_file",    &[Telegram],     |n| span(&n.bot_token_file)),
    ("chat_id",           &[Telegram],     |n| span(&n.chat_id)),
    ("api_url",           &[Telegram],     |n| span(&n.api_url)),
    ("homeserver",        &[Matrix],       |n| span(&n.homeserver)),
    ("room_id",           &[Matrix],       |n| span(&n.room_id)),
    ("access_token",      &[Matrix],       |n| span(&n.access_token)),
    ("access_token_env",  &[Matrix],       |n| span(&n.access_token_env)),
    ("access_token_file", &[Matrix],       |n| span(&n.access_token_file)),
];

/// A token's keys: `<key>` inline, `<key>_env` and `<key>_file`.
type TokenKeys<'a> = (
    &'a Option<Spanned<String>>,
    &'a Option<Spanned<String>>,
    &'a Option<Spanned<String>>,
);

/// Alerts a chat notifier sends one by one in an hour unless `max_per_hour` says otherwise;
/// beyond it, one summary an hour. A channel that gets more is no longer read.
pub const CHAT_MAX_PER_HOUR: u32 = 20;

/// The public Telegram Bot API.
const TELEGRAM_API: &str = "https://api.telegram.org";

fn span<T>(value: &Option<Spanned<T>>) -> Option<Range<usize>> {
    value.as_ref().map(Spanned::span)
}

/// One `[notifiers.NAME]` table whose type is known.
struct Table<'a> {
    src: &'a Source,
    /// Directory that relative secret files resolve against.
    dir: &'a Path,
    name: &'a NotifierName,
    ty: NotifierType,
    raw: &'a Spanned<RawNotifier>,
}

/// Validates one notifier table into its typed config, reading its secrets.
pub(super) fn build(
    src: &Source,
    dir: &Path,
    name: NotifierName,
    raw: &Spanned<RawNotifier>,
    timezone: Tz,
    secrets: &mut SecretInventory,
) -> Result<NotifierConfig, ConfigError> {
    let n = raw.get_ref();
    let ty = notifier_type(src, &n.kind)?;
    reject_foreign_keys(src, n, ty)?;
    let table = Table {
        src,
        dir,
        name: &name,
        ty,
        raw,
    };
    let kind = match ty {
        Email => NotifierKind::Email(email(&table, secrets)?),
        Webhook => NotifierKind::Webhook(webhook(&table, secrets)?),
        Stdout => NotifierKind::Stdout(stdout_format(&table)?),
        Slack => NotifierKind::Chat(ChatConfig::Slack {
            url: table.endpoint(secrets)?,
        }),
        Mattermost => NotifierKind::Chat(ChatConfig::Mattermost {
            url: table.endpoint(secrets)?,
            username: n.username.as_ref().map(|u| u.get_ref().clone()),
            channel: n.channel.as_ref().map(|c| c.get_ref().clone()),
        }),
        Discord => NotifierKind::Chat(ChatConfig::Discord {
            url: table.endpoint(secrets)?,
        }),
        Teams => NotifierKind::Chat(ChatConfig::Teams {
            url: table.endpoint(secrets)?,
        }),
        GoogleChat => NotifierKind::Chat(ChatConfig::GoogleChat {
            url: table.endpoint(secrets)?,
        }),
        Ntfy => NotifierKind::Chat(ntfy(&table, secrets)?),
        Telegram => NotifierKind::Chat(telegram(&table, secrets)?),
        Matrix => NotifierKind::Chat(matrix(&table, secrets)?),
    };
    let digest = n
        .digest
        .as_ref()
        .map(|d| {
            Cadence::cron(d.get_ref(), timezone)
                .map_err(|e| src.error(d.span(), format!("invalid digest schedule: {e}")))
        })
        .transpose()?;
    let max_per_hour = match &n.max_per_hour {
        Some(m) if *m.get_ref() == 0 => {
            return Err(src.error(
                m.span(),
                "`max_per_hour = 0` would never send anything; give at least 1, or remove it for the default",
            ));
        }
        Some(m) => Some(*m.get_ref()),
        None => ty.is_chat().then_some(CHAT_MAX_PER_HOUR),
    };
    Ok(NotifierConfig {
        name,
        timeout: duration_or(src, &n.timeout, "timeout", TIMEOUT, DEFAULT_TIMEOUT)?,
        digest,
        max_per_hour,
        kind,
    })
}

fn notifier_type(src: &Source, raw: &Spanned<String>) -> Result<NotifierType, ConfigError> {
    NotifierType::from_name(raw.get_ref()).ok_or_else(|| {
        let [rest @ .., last] = NotifierType::ALL.map(|t| format!("{:?}", t.name()));
        src.error(
            raw.span(),
            format!(
                "unknown notifier type {:?}; use {} or {last}",
                raw.get_ref(),
                rest.join(", ")
            ),
        )
    })
}

/// Keys that belong to another type are errors, not silently ignored settings.
fn reject_foreign_keys(src: &Source, n: &RawNotifier, ty: NotifierType) -> Result<(), ConfigError> {
    for (key, owners, locate) in KEYS {
        if let Some(at) = locate(n)
            && !owners.contains(&ty)
        {
            return Err(src.error(
                at,
                format!(
                    "`{key}` does not apply to notifiers of type {:?}; remove it",
                    ty.name()
                ),
            ));
        }
    }
    Ok(())
}

impl Table<'_> {
    /// Whose secret one of this notifier's is: `SMTP password of notifier "desk"`.
    fn secret_of(&self, what: &str) -> String {
        format!("{what} of notifier {:?}", self.name.0)
    }

    /// This notifier's `<key>_env` or `<key>_file`, read now; `what` names the secret in
    /// messages.
    fn secret(
        &self,
        fields: (&Option<Spanned<String>>, &Option<Spanned<String>>),
        (key, what): (&str, &str),
        secrets: &mut SecretInventory,
    ) -> Result<Option<SecretValue>, ConfigError> {
        read_secret(
            self.src,
            self.dir,
            fields,
            key,
            self.secret_of(what),
            secrets,
        )
    }

    /// Where a value of this table is.
    fn at(&self, span: Range<usize>) -> Location {
        Location::at(&self.src.path, &self.src.text, span.start)
    }

    /// A key this type cannot do without; its absence is blamed on the whole table.
    fn required<'v, T>(
        &self,
        key: &str,
        value: &'v Option<Spanned<T>>,
    ) -> Result<&'v Spanned<T>, ConfigError> {
        value.as_ref().ok_or_else(|| {
            self.src.error(
                self.raw.span(),
                format!(
                    "notifier {:?} ({}) needs `{key}`",
                    self.name.0,
                    self.ty.name()
                ),
            )
        })
    }
}

fn email(t: &Table, secrets: &mut SecretInventory) -> Result<EmailConfig, ConfigError> {
    let (src, n) = (t.src, t.raw.get_ref());
    let smtp = t.required("smtp", &n.smtp)?;
    let url = smtp_url(src, smtp)?;
    let has_source = n.password_env.is_some() || n.password_file.is_some();
    if has_source && url.password().is_some() {
        return Err(src.error(
            smtp.span(),
            "the SMTP URL already has a password; keep secrets out of the config and use only `password_env` or `password_file`",
        ));
    }
    if url.password().is_some() {
        secrets.inline(t.at(smtp.span()), t.secret_of("password in the SMTP URL"));
    }
    let password = t.secret(
        (&n.password_env, &n.password_file),
        ("password", "SMTP password"),
        secrets,
    )?;
    let tls = smtp_tls(src, smtp, &url)?;
    if (has_source || url.password().is_some()) && !tls.protects_login(&url) {
        return Err(src.error(
            smtp.span(),
            "the SMTP password would travel unencrypted to a server that is not on this machine; \
             add `?tls=required` (STARTTLS) to the URL or use `smtps://` (implicit TLS)",
        ));
    }
    let from = mailbox(src, t.required("from", &n.from)?)?;
    let to = t.required("to", &n.to)?;
    if to.get_ref().is_empty() {
        return Err(src.error(to.span(), "`to` is empty; list at least one address"));
    }
    let to = to
        .get_ref()
        .iter()
        .map(|addr| mailbox(src, addr))
        .collect::<Result<_, _>>()?;
    Ok(EmailConfig {
        smtp: Secret::new(url),
        password,
        from,
        to,
    })
}

fn smtp_url(src: &Source, smtp: &Spanned<String>) -> Result<Url, ConfigError> {
    let url = Url::parse(smtp.get_ref()).map_err(|e| {
        src.error(
            smtp.span(),
            format!(
                "invalid SMTP URL: {e}; write e.g. \"smtp://mail.example.org:587?tls=required\""
            ),
        )
    })?;
    if !matches!(url.scheme(), "smtp" | "smtps") {
        return Err(src.error(smtp.span(), "SMTP URL must start with smtp:// or smtps://"));
    }
    Ok(url)
}

/// What an SMTP URL's scheme and `tls` parameter ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SmtpTls {
    /// `smtps://`: TLS from the first byte.
    Implicit,
    /// `?tls=required`: STARTTLS, and no mail without it.
    Required,
    /// `?tls=opportunistic`: STARTTLS if offered, plain text otherwise (a downgrade is silent).
    Opportunistic,
    /// No `tls` parameter, or `?tls=none`: plain text.
    Plain,
}

impl SmtpTls {
    /// Whether a login sent this way cannot be read on the network: encryption that cannot be
    /// stripped, or a server on this machine. Decided from the literal host, with no lookup.
    fn protects_login(self, url: &Url) -> bool {
        matches!(self, SmtpTls::Implicit | SmtpTls::Required) || is_loopback(url)
    }
}

/// `localhost`, or an IP literal in 127.0.0.0/8 or `::1`. `smtp:` is not one of the URL
/// standard's special schemes, so an IPv4 host arrives as text and is parsed here, strictly.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost")
                || d.parse::<std::net::Ipv4Addr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn smtp_tls(src: &Source, smtp: &Spanned<String>, url: &Url) -> Result<SmtpTls, ConfigError> {
    let tls = url.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v);
    match (url.scheme() == "smtps", tls.as_deref()) {
        (true, None) => Ok(SmtpTls::Implicit),
        (false, Some("required")) => Ok(SmtpTls::Required),
        (false, Some("opportunistic")) => Ok(SmtpTls::Opportunistic),
        (false, None | Some("none")) => Ok(SmtpTls::Plain),
        (true, Some(_)) => Err(src.error(
            smtp.span(),
            "`smtps://` always uses TLS; remove the `tls` parameter",
        )),
        (false, Some(other)) => Err(src.error(
            smtp.span(),
            format!("unknown SMTP `tls={other}`; use \"required\", \"opportunistic\" or \"none\""),
        )),
    }
}

fn webhook(t: &Table, secrets: &mut SecretInventory) -> Result<WebhookConfig, ConfigError> {
    let (src, n) = (t.src, t.raw.get_ref());
    let url = t.endpoint(secrets)?;
    let owner = format!("notifier {:?}", t.name.0);
    let headers = match &n.headers {
        Some(h) => header_map(src, t.dir, h.get_ref(), &owner, secrets)?,
        None => Default::default(),
    };
    let secret = signing_key(t, secrets)?;
    Ok(WebhookConfig {
        url,
        headers,
        secret,
    })
}

impl Table<'_> {
    /// This notifier's URL: exactly one of `url`, `url_env` and `url_file`. An `http(s)` URL
    /// written inline that holds a token is recorded as a secret in the config.
    fn endpoint(&self, secrets: &mut SecretInventory) -> Result<SecretUrl, ConfigError> {
        let n = self.raw.get_ref();
        let what = self.secret_of("url");
        match (&n.url, &n.url_env, &n.url_file) {
            (Some(url), None, None) => {
                let parsed = http_url(url.get_ref()).map_err(|e| self.src.error(url.span(), e))?;
                // An ntfy topic's name is its only secret, however plain it looks.
                if self.ty == Ntfy {
                    secrets.inline(self.at(url.span()), self.secret_of("topic in the url"));
                } else if secrets::url_has_token(&parsed) {
                    secrets.inline(self.at(url.span()), self.secret_of("token in the url"));
                }
                Ok(SecretUrl::given(parsed))
            }
            (None, Some(env), None) => Ok(secrets.read_url(
                self.at(env.span()),
                what,
                &SecretSource::Env(env.get_ref().clone()),
                http_url,
            )),
            (None, None, Some(file)) => Ok(secrets.read_url(
                self.at(file.span()),
                what,
                &SecretSource::file(file.get_ref(), self.dir),
                http_url,
            )),
            (None, None, None) => Err(self.src.error(
                self.raw.span(),
                format!(
                    "notifier {:?} ({}) needs `url`, `url_env` or `url_file`",
                    self.name.0,
                    self.ty.name()
                ),
            )),
            (first, second, _) => {
                let at = [first, second]
                    .into_iter()
                    .flatten()
                    .nth(1)
                    .map_or(self.raw.span(), Spanned::span);
                Err(self.src.error(
                    at,
                    "give the URL once: `url`, `url_env` or `url_file`, not several",
                ))
            }
        }
    }

    /// A token written inline as `<key>`, or read from `<key>_env` / `<key>_file`: at most one.
    fn token(
        &self,
        (key, what): (&str, &str),
        (inline, env, file): TokenKeys<'_>,
        secrets: &mut SecretInventory,
    ) -> Result<Option<SecretValue>, ConfigError> {
        let from_source = self.secret((env, file), (key, what), secrets)?;
        match (inline, from_source) {
            (Some(value), Some(_)) => Err(self.src.error(
                value.span(),
                format!("give `{key}` once: inline, `{key}_env` or `{key}_file`, not several"),
            )),
            (Some(value), None) if value.get_ref().trim().is_empty() => Err(self.src.error(
                value.span(),
                format!("`{key}` is empty; give the token, or remove the key"),
            )),
            (Some(value), None) => {
                secrets.inline(self.at(value.span()), self.secret_of(what));
                Ok(Some(SecretValue::given(value.get_ref().trim().to_owned())))
            }
            (None, read) => Ok(read),
        }
    }

    /// A required token: see [`token`](Self::token).
    fn required_token(
        &self,
        (key, what): (&str, &str),
        fields: TokenKeys<'_>,
        secrets: &mut SecretInventory,
    ) -> Result<SecretValue, ConfigError> {
        self.token((key, what), fields, secrets)?.ok_or_else(|| {
            self.src.error(
                self.raw.span(),
                format!(
                    "notifier {:?} ({}) needs `{key}`, `{key}_env` or `{key}_file`",
                    self.name.0,
                    self.ty.name()
                ),
            )
        })
    }

    /// A required `http(s)` base URL with no token in it.
    fn base_url(&self, key: &str, value: &Spanned<String>) -> Result<Url, ConfigError> {
        let url = http_url(value.get_ref()).map_err(|e| self.src.error(value.span(), e))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(self.src.error(
                value.span(),
                format!("`{key}` must not hold a user name or password"),
            ));
        }
        Ok(url)
    }
}

/// An `http://` or `https://` URL, or what is wrong with it.
fn http_url(text: &str) -> Result<Url, String> {
    match Url::parse(text.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(u),
        Ok(_) => Err("the URL must start with http:// or https://".to_owned()),
        Err(e) => Err(format!("invalid URL: {e}")),
    }
}

fn ntfy(t: &Table, secrets: &mut SecretInventory) -> Result<ChatConfig, ConfigError> {
    let n = t.raw.get_ref();
    let priority = match &n.priority {
        Some(p) if !(1..=5).contains(p.get_ref()) => {
            return Err(t.src.error(
                p.span(),
                "ntfy `priority` is 1 (min) to 5 (max); 3 is the default",
            ));
        }
        Some(p) => *p.get_ref(),
        None => 3,
    };
    Ok(ChatConfig::Ntfy {
        url: t.endpoint(secrets)?,
        token: t.token(
            ("token", "access token"),
            (&n.token, &n.token_env, &n.token_file),
            secrets,
        )?,
        priority,
        tags: n
            .tags
            .as_ref()
            .map(|v| v.get_ref().clone())
            .unwrap_or_default(),
    })
}

fn telegram(t: &Table, secrets: &mut SecretInventory) -> Result<ChatConfig, ConfigError> {
    let n = t.raw.get_ref();
    let chat_id = match &t.required("chat_id", &n.chat_id)?.get_ref() {
        RawChatId::Number(id) => id.to_string(),
        RawChatId::Text(id) => id.trim().to_owned(),
    };
    if chat_id.is_empty() {
        return Err(t.src.error(
            span(&n.chat_id).unwrap_or(t.raw.span()),
            "`chat_id` is empty; give the chat's number or a channel's @name",
        ));
    }
    let api_url = match &n.api_url {
        Some(u) => t.base_url("api_url", u)?,
        None => Url::parse(TELEGRAM_API).unwrap_or_else(|_| unreachable!("a valid constant")),
    };
    Ok(ChatConfig::Telegram {
        api_url,
        bot_token: t.required_token(
            ("bot_token", "bot token"),
            (&n.bot_token, &n.bot_token_env, &n.bot_token_file),
            secrets,
        )?,
        chat_id,
    })
}

fn matrix(t: &Table, secrets: &mut SecretInventory) -> Result<ChatConfig, ConfigError> {
    let n = t.raw.get_ref();
    let homeserver = t.base_url("homeserver", t.required("homeserver", &n.homeserver)?)?;
    let room = t.required("room_id", &n.room_id)?;
    let room_id = room.get_ref().trim().to_owned();
    // Messages are sent to a room id; an alias would need a lookup on every start and is
    // refused by the send endpoint, so it is refused here, with where to find the id.
    if !room_id.starts_with('!') || !room_id.contains(':') {
        return Err(t.src.error(
            room.span(),
            "`room_id` is a room id such as \"!abc123:example.org\", not an alias \"#room:server\" (Room settings → Advanced → Internal room ID)",
        ));
    }
    Ok(ChatConfig::Matrix {
        homeserver,
        room_id,
        access_token: t.required_token(
            ("access_token", "access token"),
            (&n.access_token, &n.access_token_env, &n.access_token_file),
            secrets,
        )?,
    })
}

/// The webhook's `secret_env` or `secret_file`, read now as a Standard Webhooks signing key.
fn signing_key(
    t: &Table,
    secrets: &mut SecretInventory,
) -> Result<Option<Result<SigningKey, MissingSecret>>, ConfigError> {
    let n = t.raw.get_ref();
    let source = secret_source(t.src, t.dir, (&n.secret_env, &n.secret_file), "secret")?;
    Ok(source
        .map(|(source, at)| secrets.read_signing_key(at, t.secret_of("signing secret"), &source)))
}

fn stdout_format(t: &Table) -> Result<StdoutFormat, ConfigError> {
    let Some(format) = &t.raw.get_ref().format else {
        return Ok(StdoutFormat::Text);
    };
    match format.get_ref().as_str() {
        "text" => Ok(StdoutFormat::Text),
        "json" => Ok(StdoutFormat::Json),
        other => Err(t.src.error(
            format.span(),
            format!("unknown format {other:?}; use \"text\" or \"json\""),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate::tests::{error, load};

    /// A complete, valid table of each type.
    fn table(ty: NotifierType) -> &'static str {
        match ty {
            NotifierType::Email => {
                "smtp = \"smtp://127.0.0.1:25\"\nfrom = \"a@example.org\"\nto = [\"b@example.org\"]\n"
            }
            NotifierType::Webhook => "url = \"https://example.org/hook\"\n",
            NotifierType::Stdout => "format = \"json\"\n",
            NotifierType::Slack
            | NotifierType::Mattermost
            | NotifierType::Discord
            | NotifierType::Teams
            | NotifierType::GoogleChat
            | NotifierType::Ntfy => "url = \"https://chat.example.org/hook\"\n",
            NotifierType::Telegram => "bot_token_env = \"HOME\"\nchat_id = -100123\n",
            NotifierType::Matrix => {
                "homeserver = \"https://matrix.example.org\"\nroom_id = \"!r:example.org\"\naccess_token_env = \"HOME\"\n"
            }
        }
    }

    #[test]
    fn the_key_table_covers_every_notifier_key() {
        // serde lists every field it knows when it meets one it does not.
        let err =
            toml::from_str::<RawNotifier>("type = \"stdout\"\nno_such_key = 1\n").unwrap_err();
        let mut known: Vec<&str> = err.message().split('`').skip(3).step_by(2).collect();
        known.sort_unstable();
        let mut table: Vec<&str> = KEYS.iter().map(|(key, _, _)| *key).collect();
        table.extend(["type", "timeout", "digest", "max_per_hour"]);
        table.sort_unstable();
        assert_eq!(known, table, "{}", err.message());
    }

    #[test]
    fn every_type_parses_back_from_its_name() {
        for ty in NotifierType::ALL {
            assert_eq!(NotifierType::from_name(ty.name()), Some(ty));
        }
    }

    #[test]
    fn an_unknown_type_lists_the_valid_ones() {
        let err = error("[notifiers.x]\ntype = \"sms\"\n");
        assert_eq!(
            err,
            "t.toml:2:8: unknown notifier type \"sms\"; use \"email\", \"webhook\", \"stdout\", \"slack\", \"mattermost\", \"discord\", \"teams\", \"googlechat\", \"ntfy\", \"telegram\" or \"matrix\""
        );
    }

    #[test]
    fn every_key_of_another_type_is_rejected_where_it_stands() {
        for ty in NotifierType::ALL {
            for (key, _, _) in KEYS.iter().filter(|(_, owners, _)| !owners.contains(&ty)) {
                // A value of the shape the key takes, so that only its type is wrong.
                let value = match *key {
                    "to" | "tags" => "[\"b@example.org\"]",
                    "priority" => "3",
                    "headers" => "{ X-A = \"b\" }",
                    _ => "\"x\"",
                };
                let text = format!(
                    "[notifiers.x]\ntype = \"{}\"\n{}{key} = {value}\n",
                    ty.name(),
                    table(ty)
                );
                let expect = format!(
                    "t.toml:{}:{}: `{key}` does not apply to notifiers of type {:?}; remove it",
                    text.lines().count(),
                    key.len() + 4,
                    ty.name()
                );
                assert_eq!(error(&text), expect);
            }
        }
    }

    #[test]
    fn a_complete_table_of_each_type_builds_that_type() {
        for ty in NotifierType::ALL {
            let text = format!("[notifiers.x]\ntype = \"{}\"\n{}", ty.name(), table(ty));
            let config = load(&text).unwrap();
            let built = &config.notifiers[&NotifierName("x".into())];
            assert_eq!(built.kind.notifier_type(), ty);
            assert_eq!(built.timeout, DEFAULT_TIMEOUT);
        }
    }

    #[test]
    fn a_missing_key_names_the_notifier_and_what_it_needs() {
        let err = error("[notifiers.chat]\ntype = \"webhook\"\n");
        assert_eq!(
            err,
            "t.toml:1:1: notifier \"chat\" (webhook) needs `url`, `url_env` or `url_file`"
        );
    }

    fn with_password(url: &str) -> String {
        format!(
            "[notifiers.desk]\ntype = \"email\"\nsmtp = \"{url}\"\npassword_env = \"HOME\"\n\
             from = \"a@example.org\"\nto = [\"b@example.org\"]\n"
        )
    }

    #[test]
    fn a_password_to_a_remote_server_needs_tls_that_cannot_be_stripped() {
        for url in [
            "smtp://u@mail.example.org:587",
            "smtp://u@mail.example.org:587?tls=opportunistic",
            "smtp://u@mail.example.org:25?tls=none",
            "smtp://u@10.0.0.5:25",
            "smtp://u@[fd00::1]:25",
            "smtp://u@127.1:25",
        ] {
            let err = error(&with_password(url));
            assert!(
                err.starts_with("t.toml:3:8: the SMTP password would travel"),
                "{url}: {err}"
            );
            assert!(
                err.contains("`?tls=required`") && err.contains("`smtps://`"),
                "{err}"
            );
        }
        let inline = error(
            "[notifiers.d]\ntype = \"email\"\nsmtp = \"smtp://u:pw@mail.example.org\"\n\
             from = \"a@example.org\"\nto = [\"b@example.org\"]\n",
        );
        assert!(inline.contains("would travel unencrypted"), "{inline}");
    }

    #[test]
    fn a_password_may_travel_over_tls_or_to_this_machine() {
        for url in [
            "smtp://u@mail.example.org:587?tls=required",
            "smtps://u@mail.example.org",
            "smtp://u@127.0.0.1:25",
            "smtp://u@127.8.9.10:25?tls=none",
            "smtp://u@[::1]:25?tls=none",
            "smtp://u@LOCALHOST:25?tls=opportunistic",
        ] {
            assert!(load(&with_password(url)).is_ok(), "{url}");
        }
        // Without a password, plain text to anywhere stays the user's choice.
        let text =
            with_password("smtp://mail.example.org:25").replace("password_env = \"HOME\"\n", "");
        assert!(load(&text).is_ok());
    }

    #[test]
    fn the_tls_parameter_takes_known_values_only() {
        assert_eq!(
            error(&with_password("smtp://127.0.0.1?tls=yes")),
            "t.toml:3:8: unknown SMTP `tls=yes`; use \"required\", \"opportunistic\" or \"none\""
        );
        assert_eq!(
            error(&with_password("smtps://mail.example.org?tls=none")),
            "t.toml:3:8: `smtps://` always uses TLS; remove the `tls` parameter"
        );
    }

    #[test]
    fn a_matrix_room_is_given_by_its_id_not_an_alias() {
        let text = "[notifiers.m]\ntype = \"matrix\"\nhomeserver = \"https://m.example.org\"\n\
                    room_id = \"#desk:example.org\"\naccess_token_env = \"HOME\"\n";
        let err = error(text);
        assert!(
            err.starts_with("t.toml:4:11: `room_id` is a room id") && err.contains("not an alias"),
            "{err}"
        );
        assert!(load(&text.replace("#desk", "!desk")).is_ok());
    }

    #[test]
    fn an_unknown_stdout_format_is_an_error() {
        let err = error("[notifiers.c]\ntype = \"stdout\"\nformat = \"yaml\"\n");
        assert_eq!(
            err,
            "t.toml:3:10: unknown format \"yaml\"; use \"text\" or \"json\""
        );
    }
}
