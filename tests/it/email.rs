//! The email notifier in-process against the loopback SMTP server: the headers mail rules
//! filter on, and a subject whose feed text looks like an encoded-word.

use std::time::Duration;

use feedwatch::config::{EmailConfig, NotifierName, Secret};
use feedwatch::notify::{EmailNotifier, test_alert};

use crate::common::smtp::{Mail, SmtpServer};

/// Sends `alert` once through a notifier named `desk` from `alerts@example.org`.
fn send(smtp: &SmtpServer, alert: &feedwatch::alert::Alert) -> Mail {
    let cfg = EmailConfig {
        smtp: Secret::new(smtp.url().parse().unwrap()),
        password: None,
        from: "feedwatch <alerts@example.org>".parse().unwrap(),
        to: vec!["desk@example.org".parse().unwrap()],
    };
    // lettre's pool starts a task when the transport is built and stops it when dropped.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let name = NotifierName("desk".into());
        let notifier = EmailNotifier::new(&name, &cfg, Duration::from_secs(10)).unwrap();
        notifier.send(alert).await.unwrap();
    });
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
