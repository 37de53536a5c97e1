//! Chat notifiers: each platform's own message format, posted over HTTP.
//!
//! Owns turning a [`Message`] into one platform request ([`Platform::request`]) and reading the
//! platform's retry hint when it asks to slow down. The text itself comes from
//! [`compose`](super::compose), written in each platform's markup. Must never put a URL or
//! token in an error or a log line (the URL often is the credential), never follow a redirect,
//! and never send feed text that could ping a channel, add a link or change the markup.

mod discord;
mod googlechat;
mod inert;
mod matrix;
mod mattermost;
mod ntfy;
mod plain;
mod slack;
mod teams;
mod telegram;

use std::time::Duration;

use reqwest::Method;
use reqwest::header::HeaderMap;
use url::Url;

use super::compose::View;
use super::http::{self, Refusal};
use super::message::Message;
use super::{DeliveryError, DeliveryErrorKind, SetupError};
use crate::config::{ChatConfig, NotifierName};

/// What a platform request carries.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatBody {
    /// A JSON document.
    Json(serde_json::Value),
    /// Plain text (ntfy).
    Text(String),
}

/// One request to a chat platform.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    /// `POST`, or `PUT` where the platform takes an idempotent transaction (Matrix).
    pub method: Method,
    /// Where it goes: a secret, never shown.
    pub url: Url,
    /// Headers beyond the content type.
    pub headers: HeaderMap,
    /// The body.
    pub body: ChatBody,
}

impl ChatRequest {
    /// A JSON `POST` to `url`.
    pub fn post_json(url: &Url, body: serde_json::Value) -> ChatRequest {
        ChatRequest {
            method: Method::POST,
            url: url.clone(),
            headers: HeaderMap::new(),
            body: ChatBody::Json(body),
        }
    }

    /// The body as it goes on the wire, pretty-printed when it is JSON; a text body comes after
    /// the headers that carry the rest of the message (ntfy's `Title`, `Click`, `Tags`…),
    /// credentials left out.
    pub fn preview(&self) -> String {
        match &self.body {
            ChatBody::Json(v) => serde_json::to_string_pretty(v).unwrap_or_default(),
            ChatBody::Text(t) => {
                let mut out = String::new();
                for (name, value) in &self.headers {
                    if !value.is_sensitive() {
                        out.push_str(&format!(
                            "{name}: {}\n",
                            String::from_utf8_lossy(value.as_bytes())
                        ));
                    }
                }
                out.push('\n');
                out.push_str(t);
                out
            }
        }
    }
}

/// One chat platform's message format and manners.
pub trait Platform: Send + Sync {
    /// The request that delivers `message`.
    fn request(&self, message: &Message, view: &View) -> ChatRequest;

    /// How long the platform asked to be left alone, read from a refusal: the `Retry-After`
    /// header unless the platform says it elsewhere.
    fn retry_hint(&self, refusal: &Refusal) -> Option<Duration> {
        refusal.retry_after_header()
    }

    /// `text` (a receiver's answer, about to be logged and stored) with every secret this
    /// platform holds outside the URL taken out: a refusal may echo the request it refused.
    fn without_secrets(&self, text: String) -> String {
        text
    }
}

/// Posts alerts to a chat platform.
pub struct ChatNotifier {
    name: NotifierName,
    type_name: &'static str,
    platform: Box<dyn Platform>,
    client: reqwest::Client,
    view: View,
}

impl ChatNotifier {
    /// A notifier for `cfg`; fails when its URL or token could not be read, so a missing
    /// secret fails at start-up.
    pub fn new(
        name: &NotifierName,
        cfg: &ChatConfig,
        timeout: Duration,
        view: View,
    ) -> Result<ChatNotifier, SetupError> {
        let type_name = cfg.notifier_type().name();
        let err = |message: String| SetupError {
            kind: type_name,
            notifier: name.clone(),
            message,
        };
        let platform = platform(name, cfg).map_err(err)?;
        let client = http::client(timeout).map_err(|e| err(e.to_string()))?;
        Ok(ChatNotifier {
            name: name.clone(),
            type_name,
            platform,
            client,
            view,
        })
    }

    /// The request that would deliver `message`, for `preview`.
    pub fn request(&self, message: &Message) -> ChatRequest {
        self.platform.request(message, &self.view)
    }

    /// Sends one message.
    pub async fn send(&self, message: &Message<'_>) -> Result<(), DeliveryError> {
        let r = self.request(message);
        // A refusal may quote the URL it was sent to, which often is the credential.
        let url_secrets = crate::config::url_secrets(&r.url);
        let mut builder = self.client.request(r.method, r.url).headers(r.headers);
        builder = match r.body {
            ChatBody::Json(v) => builder.json(&v),
            ChatBody::Text(t) => builder
                .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(t),
        };
        http::deliver(
            builder,
            |kind: DeliveryErrorKind, message: String| {
                let message = http::redact(self.platform.without_secrets(message), &url_secrets);
                DeliveryError::new(kind, self.type_name, &self.name, message)
            },
            |refusal| self.platform.retry_hint(refusal),
        )
        .await
    }
}

/// Feed text as HTML text or a double-quoted attribute value: `&`, `<`, `>` and `"` escaped,
/// the entities every HTML subset (Telegram's, Matrix's) knows.
pub(super) fn html_escape(text: &str) -> String {
    html_escape::encode_double_quoted_attribute(text).into_owned()
}

/// The platform `cfg` names, with its secrets read.
fn platform(name: &NotifierName, cfg: &ChatConfig) -> Result<Box<dyn Platform>, String> {
    let read = |e: &crate::config::MissingSecret| e.to_string();
    Ok(match cfg {
        ChatConfig::Slack { url } => {
            Box::new(slack::Slack::new(url.expose().map_err(read)?.clone()))
        }
        ChatConfig::Mattermost {
            url,
            username,
            channel,
        } => Box::new(mattermost::Mattermost::new(
            url.expose().map_err(read)?.clone(),
            username.clone(),
            channel.clone(),
        )),
        ChatConfig::Discord { url } => {
            Box::new(discord::Discord::new(url.expose().map_err(read)?.clone()))
        }
        ChatConfig::Teams { url } => {
            Box::new(teams::Teams::new(url.expose().map_err(read)?.clone()))
        }
        ChatConfig::GoogleChat { url } => Box::new(googlechat::GoogleChat::new(
            url.expose().map_err(read)?.clone(),
        )),
        ChatConfig::Ntfy {
            url,
            token,
            priority,
            tags,
        } => Box::new(ntfy::Ntfy::new(
            url.expose().map_err(read)?,
            token
                .as_ref()
                .map(|t| t.expose().map_err(read))
                .transpose()?,
            *priority,
            tags,
        )?),
        ChatConfig::Telegram {
            api_url,
            bot_token,
            chat_id,
        } => Box::new(telegram::Telegram::new(
            api_url,
            bot_token.expose().map_err(read)?,
            chat_id,
        )),
        ChatConfig::Matrix {
            homeserver,
            room_id,
            access_token,
        } => Box::new(matrix::Matrix::new(
            name,
            homeserver,
            room_id,
            access_token.expose().map_err(read)?,
        )?),
    })
}
