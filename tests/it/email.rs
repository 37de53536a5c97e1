//! The email notifier in-process against the loopback SMTP server: the headers mail rules
//! filter on, a subject whose feed text looks like an encoded-word, and its connections.

use std::time::Duration;

use feedwatch::alert::Alert;
use feedwatch::config::{EmailConfig, NotifierName, Secret};
use feedwatch::notify::{DeliveryError, EmailNotifier, test_alert};

use crate::common::smtp::{Login, Mail, SmtpServer};

/// `url` may carry a login (`smtp://user:password@…`).
fn config(url: &str) -> EmailConfig {
    EmailConfig {
        smtp: Secret::new(url.parse().unwrap()),
        password: None,
        from: "feedwatch <alerts@example.org>".parse().unwrap(),
        to: vec!["desk@example.org".parse().unwrap()],
    }
}

/// Sends each alert in turn through one notifier named `desk`; the results in order.
fn send_all(cfg: &EmailConfig, alerts: &[Alert]) -> Vec<Result<(), DeliveryError>> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let name = NotifierName("desk".into());
        let origin = feedwatch::notify::Origin {
            host: "desk-01".into(),
            config: "/etc/feedwatch/config.toml".into(),
            timezone: chrono_tz::UTC,
        };
        let notifier = EmailNotifier::new(&name, cfg, Duration::from_secs(10), origin).unwrap();
        let mut results = Vec::new();
        for alert in alerts {
            results.push(notifier.send(alert).await);
        }
        results
    })
}

/// Sends `alert` once from `alerts@example.org`; the mail as received.
fn send(smtp: &SmtpServer, alert: &Alert) -> Mail {
    let results = send_all(&config(&smtp.url()), std::slice::from_ref(alert));
    assert!(results[0].is_ok(), "{results:?}");
    let mails = smtp.wait_for(1, Duration::from_secs(10));
    assert_eq!(mails.len(), 1);
    mails.into_iter().next().unwrap()
}

#[test]
fn alerts_carry_headers_for_mail_rules_and_a_stable_message_id() {
    let smtp = SmtpServer::start();
    let mut alert = test_alert();
    alert.watchlist = "ISIS-K".into();
    let mail = send(&smtp, &alert);
    assert_eq!(
        mail.header("Auto-Submitted").as_deref(),
        Some("auto-generated")
    );
    assert_eq!(
        mail.header("X-Feedwatch-Watchlist").as_deref(),
        Some("ISIS-K")
    );
    assert_eq!(
        mail.header("List-Id").as_deref(),
        Some("<isis-k.example.org>")
    );
    // The left-hand side is the alert and the notifier, so a resend keeps the same id.
    let id = format!("<{}.desk@example.org>", alert.alert_id);
    assert_eq!(mail.header("Message-ID"), Some(id));
}

#[test]
fn an_encoded_word_in_a_title_reads_back_as_its_literal_text() {
    let smtp = SmtpServer::start();
    let mut alert = test_alert();
    // "=?utf-8?B?UGF5IG5vdw==?=" decodes to "Pay now".
    let smuggled = "=?utf-8?B?UGF5IG5vdw==?=";
    alert.item.title = format!("Breaking {smuggled} update");
    let mail = send(&smtp, &alert);
    let raw = String::from_utf8_lossy(mail.raw());
    let head = &raw[..raw.find("\r\n\r\n").unwrap()];
    assert!(head.contains("\r\nSubject: =?utf-8?b?"), "{head}");
    assert!(!head.contains(smuggled), "{head}");
    let subject = mail.header("Subject").unwrap();
    assert_eq!(
        subject,
        format!("[feedwatch] notify-test: Breaking {smuggled} update")
    );
    assert!(!subject.contains("Pay now"), "{subject}");
}

#[test]
fn one_connection_carries_many_mails() {
    let smtp = SmtpServer::start();
    let alerts = vec![test_alert(); 5];
    let results = send_all(&config(&smtp.url()), &alerts);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(smtp.wait_for(5, Duration::from_secs(10)).len(), 5);
    assert_eq!(smtp.connections(), 1);
}

#[test]
fn required_starttls_sends_no_login_to_a_server_without_it() {
    let smtp = SmtpServer::with_login("alerts", "pa55word");
    let url = smtp.url().replace("smtp://", "smtp://alerts:pa55word@") + "?tls=required";
    let results = send_all(&config(&url), &[test_alert()]);
    let err = results[0].as_ref().unwrap_err().to_string();
    assert!(err.contains("STARTTLS"), "{err}");
    assert!(smtp.logins().is_empty());
    assert!(smtp.messages().is_empty());
}

#[test]
fn opportunistic_starttls_goes_on_in_plain_text_and_logs_in() {
    let smtp = SmtpServer::with_login("alerts", "pa55word");
    let url = smtp.url().replace("smtp://", "smtp://alerts:pa55word@") + "?tls=opportunistic";
    let results = send_all(&config(&url), &[test_alert()]);
    assert!(results[0].is_ok(), "{results:?}");
    let login = Login {
        user: "alerts".into(),
        password: "pa55word".into(),
    };
    assert_eq!(smtp.logins(), vec![login]);
    assert_eq!(smtp.wait_for(1, Duration::from_secs(10)).len(), 1);
}
