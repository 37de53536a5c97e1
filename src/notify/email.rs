//! The email notifier: multipart plain text + HTML over SMTP with lettre.
//!
//! Owns the message: headers here, the HTML template in [`html`], the text part in `plain`.
//! Must never put feed text in a header unencoded (lettre encodes the subject, and titles are
//! flattened to one line first; a subject holding `=?` is encoded whole, so feed text cannot
//! pass for an encoded-word), and never put it in HTML unescaped. The connections for
//! `smtp://` URLs are in [`connection`].

mod connection;
pub mod html;
pub mod plain;

use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{Batch, DeliveryError, DeliveryErrorKind, Origin, SetupError};
use crate::alert::{Alert, one_line};
use crate::config::{EmailConfig, NotifierName};

/// Sends alerts by email.
pub struct EmailNotifier {
    name: NotifierName,
    transport: Transport,
    from: Mailbox,
    to: Vec<Mailbox>,
    timeout: Duration,
    origin: Origin,
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
    /// A notifier for `cfg` whose mails say they come from `origin`; fails when its password
    /// could not be read, so a missing secret fails at start-up.
    pub fn new(
        name: &NotifierName,
        cfg: &EmailConfig,
        timeout: Duration,
        origin: Origin,
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
            origin,
        })
    }

    /// Sends one alert.
    pub async fn send(&self, alert: &Alert) -> Result<(), DeliveryError> {
        let message = self.message(alert)?;
        self.deliver(message).await
    }

    /// Sends several alerts (a digest, or a summary) as one mail.
    pub async fn send_batch(&self, batch: &Batch<'_>) -> Result<(), DeliveryError> {
        let message = self.batch_message(batch)?;
        self.deliver(message).await
    }

    /// Hands one mail to the server. lettre's own timeout covers only connecting, so the
    /// whole send is bounded here as well.
    async fn deliver(&self, message: Message) -> Result<(), DeliveryError> {
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

    /// The mail as it would go on the wire, for `preview`.
    pub fn preview(&self, message: &super::Message<'_>) -> Result<String, DeliveryError> {
        let mail = match message {
            super::Message::Alert(alert) => self.message(alert)?,
            super::Message::Batch(batch) => self.batch_message(batch)?,
        };
        Ok(String::from_utf8_lossy(&mail.formatted()).into_owned())
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
            plain_body(alert, &self.origin),
            html_body(alert, &self.origin),
        ))
        .map_err(|e| self.unbuildable(e))
    }

    fn batch_message(&self, batch: &Batch<'_>) -> Result<Message, DeliveryError> {
        let domain = self.from.email.domain();
        let rendered = render_batch(batch, &self.origin);
        let id = super::Message::Batch(*batch).id();
        let mut b = Message::builder()
            .from(self.from.clone())
            .raw_header(subject_header(rendered.subject))
            // Derived from the alerts it holds, so a resend after a crash is recognisably the same.
            .message_id(Some(format!("<{id}.{}@{domain}>", self.name)))
            .raw_header(HeaderValue::new(AUTO_SUBMITTED, "auto-generated".into()));
        // Filing headers only when the whole batch is about one watchlist.
        if let [(watchlist, _)] = batch.by_watchlist().as_slice() {
            b = b
                .raw_header(HeaderValue::new(WATCHLIST, (*watchlist).to_owned()))
                .raw_header(HeaderValue::new(
                    LIST_ID,
                    format!("<{}.{domain}>", dns_label(watchlist)),
                ));
        }
        for to in &self.to {
            b = b.to(to.clone());
        }
        b.multipart(MultiPart::alternative_plain_html(
            rendered.plain,
            rendered.html,
        ))
        .map_err(|e| self.unbuildable(e))
    }

    fn unbuildable(&self, e: lettre::error::Error) -> DeliveryError {
        DeliveryError::new(
            DeliveryErrorKind::Reject,
            "email",
            &self.name,
            format_args!("cannot build message: {e}"),
        )
    }
}

/// One mail's subject and parts.
pub struct RenderedMail {
    /// The subject, on one line.
    pub subject: String,
    /// The text/plain part.
    pub plain: String,
    /// The text/html part.
    pub html: String,
}

/// Most alerts one batch mail shows: about 100 KB of HTML, where Gmail starts clipping a
/// message; a longer digest names how many more there are and where to read them.
pub const MAIL_BATCH_SHOWN: usize = 50;

/// A batch as one mail: the heading as subject, then the alerts grouped by watchlist, newest
/// first, each as a single alert's mail shows it, at most [`MAIL_BATCH_SHOWN`] of them.
pub fn render_batch(batch: &Batch<'_>, origin: &Origin) -> RenderedMail {
    let heading = batch.heading();
    let alerts: Vec<&Alert> = batch
        .by_watchlist()
        .into_iter()
        .flat_map(|(_, alerts)| alerts)
        .take(MAIL_BATCH_SHOWN)
        .collect();
    let more = batch.alerts.len().saturating_sub(alerts.len());
    RenderedMail {
        subject: one_line(&format!("[feedwatch] {heading}")),
        plain: plain::render_batch(&alerts, more, &heading, origin),
        html: html::render_batch(&alerts, more, &heading, origin),
    }
}

/// The line that ends a batch mail showing only some of its alerts.
fn more_line(more: usize, origin: &Origin) -> String {
    format!(
        "… and {more} more {}: `feedwatch alerts` on {} lists them all.",
        if more == 1 { "alert" } else { "alerts" },
        origin.host
    )
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
pub fn plain_body(alert: &Alert, origin: &Origin) -> String {
    plain::render_alert(alert, origin)
}

/// The text/html part; every piece of feed text is escaped.
pub fn html_body(alert: &Alert, origin: &Origin) -> String {
    html::render_alert(alert, origin)
}

/// The story's link if it is one a reader may safely follow: `http` or `https` with a host,
/// as the URL parser writes it back (so no quote or space survives raw).
fn safe_link(link: &str) -> Option<url::Url> {
    url::Url::parse(link.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

/// `published` in the reader's zone, for people (`Thu 26 Nov 2026 10:00 CET`) and as
/// RFC 3339 with the zone's offset (`2026-11-26T10:00:00+01:00`).
fn local_time(published: DateTime<Utc>, timezone: Tz) -> (String, String) {
    let local = published.with_timezone(&timezone);
    (
        local.format("%a %-d %b %Y %H:%M %Z").to_string(),
        local.to_rfc3339(),
    )
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
    fn the_subject_shows_the_headline() {
        let mut a = test_alert();
        assert_eq!(
            subject(&a),
            "[feedwatch] notify-test: Test alert from feedwatch"
        );
        a.update = true;
        assert_eq!(
            subject(&a),
            "[feedwatch] notify-test: Updated: Test alert from feedwatch"
        );
    }

    #[test]
    fn feed_text_cannot_break_out_of_headers_or_html() {
        let mut a = test_alert();
        a.item.title = "Hello\r\nBcc: victim@example.org <script>x</script>".into();
        assert!(!subject(&a).contains('\n'));
        assert!(!subject(&a).contains('\r'));
        let html = html_body(&a, &crate::notify::test_origin());
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
    }

    #[test]
    fn a_batch_is_one_mail_by_watchlist_newest_first_with_feed_text_escaped() {
        let mut old = test_alert();
        old.watchlist = "isis-k".into();
        old.item.title = "Older <script>x</script>".into();
        old.item.published = Some(chrono::Utc::now() - chrono::Duration::hours(2));
        let mut new = old.clone();
        new.item.title = "Newer\r\nBcc: victim@example.org".into();
        new.item.published = Some(chrono::Utc::now());
        let mut other = test_alert();
        other.watchlist = "aaa".into();
        let alerts = [old, new, other];
        let batch = Batch {
            kind: crate::notify::BatchKind::Digest,
            alerts: &alerts,
        };
        let mail = render_batch(&batch, &crate::notify::test_origin());
        assert_eq!(mail.subject, "[feedwatch] Digest: 3 alerts");
        let order: Vec<usize> = ["[aaa] ", "[isis-k] Newer", "[isis-k] Older"]
            .iter()
            .map(|s| {
                mail.plain
                    .find(s)
                    .unwrap_or_else(|| panic!("{s}: {}", mail.plain))
            })
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{}", mail.plain);
        assert!(!mail.html.contains("<script>"), "{}", mail.html);
        assert!(mail.html.contains("&lt;script&gt;"), "{}", mail.html);
    }

    #[test]
    fn a_long_batch_mail_shows_the_first_alerts_and_counts_the_rest() {
        let alerts = crate::notify::test_alerts(MAIL_BATCH_SHOWN + 7);
        let batch = Batch {
            kind: crate::notify::BatchKind::Digest,
            alerts: &alerts,
        };
        let origin = crate::notify::test_origin();
        let mail = render_batch(&batch, &origin);
        let end = format!(
            "… and 7 more alerts: `feedwatch alerts` on {} lists them all.",
            origin.host
        );
        assert!(mail.plain.contains(&end), "{}", mail.plain);
        assert_eq!(
            mail.plain.matches("[notify-test] ").count(),
            MAIL_BATCH_SHOWN
        );
        assert!(mail.html.contains("… and 7 more alerts"), "{}", mail.html);
        assert_eq!(
            mail.subject,
            format!("[feedwatch] Digest: {} alerts", MAIL_BATCH_SHOWN + 7)
        );
    }
}
