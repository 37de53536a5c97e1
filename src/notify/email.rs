//! The email notifier: multipart plain text + HTML over SMTP with lettre.
//!
//! Owns the message format. Must never put feed text in a header unencoded (lettre encodes the
//! subject, and titles are flattened to one line first; a subject holding `=?` is encoded whole,
//! so feed text cannot pass for an encoded-word), and never put it in HTML unescaped. The
//! connections for `smtp://` URLs are in [`connection`].

mod connection;

use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{DeliveryError, DeliveryErrorKind, SetupError};
use crate::alert::{Alert, one_line};
use crate::config::{EmailConfig, NotifierName};

/// Sends alerts by email.
pub struct EmailNotifier {
    name: NotifierName,
    transport: Transport,
    from: Mailbox,
    to: Vec<Mailbox>,
    timeout: Duration,
}

/// `smtp://` goes over connections with `TCP_NODELAY` (see [`connection`]); `smtps://` over
/// lettre's pool, whose implicit TLS needs a socket lettre opens itself.
enum Transport {
    Nodelay(connection::Connections),
    Pool(AsyncSmtpTransport<Tokio1Executor>),
}

impl Transport {
    async fn send(&self, message: Message) -> Result<(), connection::SendError> {
        match self {
            Transport::Nodelay(c) => c.send(message.envelope(), &message.formatted()).await,
            Transport::Pool(p) => p.send(message).await.map(drop).map_err(Into::into),
        }
    }
}

const SUBJECT: HeaderName = HeaderName::new_from_ascii_str("Subject");
const AUTO_SUBMITTED: HeaderName = HeaderName::new_from_ascii_str("Auto-Submitted");
const WATCHLIST: HeaderName = HeaderName::new_from_ascii_str("X-Feedwatch-Watchlist");
const LIST_ID: HeaderName = HeaderName::new_from_ascii_str("List-Id");

impl EmailNotifier {
    /// A notifier for `cfg`; fails when its password could not be read, so a missing secret
    /// fails at start-up.
    pub fn new(
        name: &NotifierName,
        cfg: &EmailConfig,
        timeout: Duration,
    ) -> Result<EmailNotifier, SetupError> {
        let err = |message: String| SetupError {
            kind: "email",
            notifier: name.clone(),
            message,
        };
        let url = cfg.smtp.expose();
        let login = crate::model::url_login(url);
        let password = match &cfg.password {
            Some(p) => Some(p.expose().map_err(|e| err(e.to_string()))?.to_owned()),
            None => login.as_ref().and_then(|(_, p)| p.clone()),
        };
        let credentials = password.map(|p| {
            let user = login.map_or_else(String::new, |(u, _)| u);
            Credentials::new(user, p)
        });
        // The config checked the scheme and the `tls` parameter; TLS is set up here.
        let transport = if url.scheme() == "smtps" {
            let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.as_str())
                .map_err(|e| err(format!("invalid smtp URL: {e}")))?
                .timeout(Some(timeout));
            if let Some(credentials) = credentials {
                builder = builder.credentials(credentials);
            }
            Transport::Pool(builder.build())
        } else {
            connection::Connections::new(url, credentials, timeout)
                .map(Transport::Nodelay)
                .map_err(|e| err(format!("invalid smtp URL: {e}")))?
        };
        Ok(EmailNotifier {
            name: name.clone(),
            transport,
            from: cfg.from.clone(),
            to: cfg.to.clone(),
            timeout,
        })
    }

    /// Sends one alert. lettre's own timeout covers only connecting, so the whole send is
    /// bounded here as well.
    pub async fn send(&self, alert: &Alert) -> Result<(), DeliveryError> {
        let message = self.message(alert)?;
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Err(_) => Err(DeliveryError::timeout("email", &self.name, self.timeout)),
            Ok(Err(e)) => {
                let kind = classify(&e);
                let hint = match kind {
                    DeliveryErrorKind::Reject => "the server refuses this message",
                    DeliveryErrorKind::ReceiverFault => {
                        "check the notifier's server, credentials and addresses; will retry"
                    }
                    DeliveryErrorKind::Retry | DeliveryErrorKind::Unreadable => "will retry",
                };
                Err(DeliveryError::new(
                    kind,
                    "email",
                    &self.name,
                    format_args!("SMTP: {e}; {hint}"),
                )
                .with_code(status(&e)))
            }
            Ok(Ok(_)) => Ok(()),
        }
    }

    fn message(&self, alert: &Alert) -> Result<Message, DeliveryError> {
        let domain = self.from.email.domain();
        let mut b = Message::builder()
            .from(self.from.clone())
            .raw_header(subject_header(subject(alert)))
            // Derived from the alert id, so a resend after a crash is recognisably the same.
            .message_id(Some(format!("<{}.{}@{domain}>", alert.alert_id, self.name)))
            // Tells auto-responders not to answer (RFC 3834).
            .raw_header(HeaderValue::new(AUTO_SUBMITTED, "auto-generated".into()))
            .raw_header(HeaderValue::new(WATCHLIST, alert.watchlist.clone()))
            // RFC 2919, so mail rules can file each watchlist's alerts.
            .raw_header(HeaderValue::new(
                LIST_ID,
                format!("<{}.{domain}>", dns_label(&alert.watchlist)),
            ));
        for to in &self.to {
            b = b.to(to.clone());
        }
        b.multipart(MultiPart::alternative_plain_html(
            plain_body(alert),
            html_body(alert),
        ))
        .map_err(|e| {
            DeliveryError::new(
                DeliveryErrorKind::Reject,
                "email",
                &self.name,
                format_args!("cannot build message: {e}"),
            )
        })
    }
}

/// What an SMTP failure says about whom. The server rejecting this message itself (552 too
/// big, 554 content refused) is about the alert. Other permanent (5xx) replies — bad
/// credentials, an unknown sender — are the config's fault: those alerts must still go out
/// once it is fixed. Anything else (4xx, a lost connection) is passing trouble.
fn classify(e: &connection::SendError) -> DeliveryErrorKind {
    let connection::SendError::Smtp(e) = e else {
        return DeliveryErrorKind::Retry;
    };
    let code = e.status().map(u16::from);
    if e.is_permanent() && matches!(code, Some(552 | 554)) {
        DeliveryErrorKind::Reject
    } else if e.is_permanent() {
        DeliveryErrorKind::ReceiverFault
    } else {
        DeliveryErrorKind::Retry
    }
}

/// The server's reply code, if the failure was a reply.
fn status(e: &connection::SendError) -> Option<u16> {
    match e {
        connection::SendError::Smtp(e) => e.status().map(u16::from),
        _ => None,
    }
}

/// The `Subject` header. lettre encodes only words that are not ASCII, so ASCII feed text such
/// as `=?utf-8?B?…?=` would reach the reader as an encoded-word it decodes into something else;
/// a subject holding `=?` is therefore encoded whole, and reads back as the literal text.
fn subject_header(subject: String) -> HeaderValue {
    if !subject.contains("=?") {
        return HeaderValue::new(SUBJECT, subject);
    }
    let mut encoded = String::with_capacity(subject.len() * 2);
    {
        let mut w = email_encoding::headers::writer::EmailWriter::new(
            &mut encoded,
            "Subject: ".len(),
            0,
            false,
        );
        email_encoding::headers::rfc2047::encode(&subject, &mut w)
            .unwrap_or_else(|_| unreachable!("writing to a String cannot fail"));
    }
    HeaderValue::dangerous_new_pre_encoded(SUBJECT, subject, encoded)
}

/// `name` as one DNS label for `List-Id`: ASCII letters and digits lowercased, every other run
/// of characters one `-`, at most 63 bytes; `watchlist` if nothing is left.
fn dns_label(name: &str) -> String {
    let mut label = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            label.push(c.to_ascii_lowercase());
        } else if !label.is_empty() && !label.ends_with('-') {
            label.push('-');
        }
    }
    label.truncate(63);
    let label = label.trim_end_matches('-');
    if label.is_empty() {
        "watchlist".to_owned()
    } else {
        label.to_owned()
    }
}

/// `[feedwatch] <watchlist>: <headline>`, on one line.
pub fn subject(alert: &Alert) -> String {
    one_line(&format!(
        "[feedwatch] {}: {}",
        alert.watchlist,
        alert.headline()
    ))
}

/// The text/plain part.
pub fn plain_body(alert: &Alert) -> String {
    let mut s = format!("{}\n\n", alert.headline());
    if let Some(link) = &alert.item.link {
        s.push_str(&format!("Link:      {link}\n"));
    }
    s.push_str(&format!("Feed:      {}\n", alert.feed.name));
    if let Some(p) = alert.item.published {
        s.push_str(&format!("Published: {}\n", p.to_rfc3339()));
    }
    s.push_str(&format!("Watchlist: {}\n\nMatches:\n", alert.watchlist));
    for m in &alert.matches {
        s.push_str(&format!(
            "- {} (in {}): {}\n",
            m.term,
            m.field,
            m.snippet.marked_text()
        ));
    }
    if !alert.item.summary.is_empty() {
        s.push_str(&format!("\n{}\n", alert.item.summary));
    }
    s
}

/// The text/html part; every piece of feed text is escaped.
pub fn html_body(alert: &Alert) -> String {
    let e = |s: &str| html_escape::encode_text(s).into_owned();
    let title = match &alert.item.link {
        Some(link) if link.starts_with("http://") || link.starts_with("https://") => format!(
            "<a href=\"{}\">{}</a>",
            html_escape::encode_double_quoted_attribute(link),
            e(&alert.headline())
        ),
        _ => e(&alert.headline()),
    };
    let mut s = format!("<!DOCTYPE html><html><body>\n<h2>{title}</h2>\n<p>");
    s.push_str(&format!("Feed: {}<br>\n", e(&alert.feed.name)));
    if let Some(p) = alert.item.published {
        s.push_str(&format!("Published: {}<br>\n", e(&p.to_rfc3339())));
    }
    s.push_str(&format!("Watchlist: {}</p>\n<ul>\n", e(&alert.watchlist)));
    for m in &alert.matches {
        let snippet = m.snippet.marked_html();
        s.push_str(&format!(
            "<li><b>{}</b> in {}: {snippet}</li>\n",
            e(&m.term),
            m.field
        ));
    }
    s.push_str("</ul>\n");
    if !alert.item.summary.is_empty() {
        s.push_str(&format!("<p>{}</p>\n", e(&alert.item.summary)));
    }
    s.push_str("</body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::test_alert;

    #[test]
    fn a_watchlist_name_becomes_one_dns_label() {
        assert_eq!(dns_label("ISIS-K"), "isis-k");
        assert_eq!(dns_label("  Europe / Attacks!! "), "europe-attacks");
        assert_eq!(dns_label("塔利班"), "watchlist");
        assert_eq!(dns_label(&"a".repeat(70)).len(), 63);
    }

    #[test]
    fn a_subject_with_an_encoded_word_is_encoded_whole() {
        let plain = subject_header("[feedwatch] x: hello".into());
        assert_eq!(
            plain,
            HeaderValue::new(SUBJECT, "[feedwatch] x: hello".into())
        );
        let raw = "[feedwatch] x: =?utf-8?B?SGk=?= there";
        let forced = subject_header(raw.into());
        assert_ne!(forced, HeaderValue::new(SUBJECT, raw.into()));
    }

    #[test]
    fn feed_text_cannot_break_out_of_headers_or_html() {
        let mut a = test_alert();
        a.item.title = "Hello\r\nBcc: victim@example.org <script>x</script>".into();
        assert!(!subject(&a).contains('\n'));
        assert!(!subject(&a).contains('\r'));
        let html = html_body(&a);
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
    }
}
