//! The mail server: a real SMTP server (mailin-embedded) on 127.0.0.1 that records every
//! message, and [`Mail`], which reads them with mailparse.

use std::io;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use mailparse::{DispositionType, MailHeaderMap, ParsedMail};

use super::{lock, wait_until};

/// One message as received by [`SmtpServer`].
#[derive(Clone, Debug)]
pub struct Mail {
    /// Envelope recipients (`RCPT TO`), without angle brackets.
    pub to: Vec<String>,
    /// The message as received (CRLF line ends, dot-unstuffed).
    data: Vec<u8>,
}

impl Mail {
    fn parsed(&self) -> ParsedMail<'_> {
        mailparse::parse_mail(&self.data).expect("a readable message")
    }

    /// The first header with this name (case-insensitive), unfolded, with RFC 2047
    /// encoded-words decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        self.parsed().headers.get_first_value(name)
    }

    /// The first `text/plain` part, decoded, with `\n` line ends; empty if there is none.
    pub fn text_body(&self) -> String {
        self.body_of_type("text/plain")
    }

    /// The first `text/html` part, decoded, with `\n` line ends; empty if there is none.
    pub fn html_body(&self) -> String {
        self.body_of_type("text/html")
    }

    fn body_of_type(&self, mimetype: &str) -> String {
        let mail = self.parsed();
        let part = mail.parts().find(|p| {
            p.ctype.mimetype == mimetype
                && p.get_content_disposition().disposition != DispositionType::Attachment
        });
        part.map(|p| p.get_body().expect("a decodable body"))
            .unwrap_or_default()
            // SMTP carries CRLF; tests compare with Rust strings.
            .replace("\r\n", "\n")
    }
}

#[derive(Clone)]
struct Recorder {
    mails: Arc<Mutex<Vec<Mail>>>,
    /// The reply code to refuse every message with after its data, or 0 to accept.
    reject: Arc<AtomicU16>,
    to: Vec<String>,
    data: Vec<u8>,
}

impl mailin_embedded::Handler for Recorder {
    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        to: &[String],
    ) -> mailin_embedded::Response {
        self.to = to
            .iter()
            .map(|t| {
                t.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
            .collect();
        self.data.clear();
        mailin_embedded::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin_embedded::Response {
        let code = self.reject.load(Ordering::SeqCst);
        if code != 0 {
            let mut refusal =
                mailin_embedded::Response::custom(code, "refused by the test server".into());
            // After refusing a message a real server is ready for the next one, but mailin
            // stays in its DATA state; hanging up keeps the client from talking into it.
            refusal.action = mailin_embedded::Action::Close;
            return refusal;
        }
        let mail = Mail {
            to: std::mem::take(&mut self.to),
            data: std::mem::take(&mut self.data),
        };
        lock(&self.mails).push(mail);
        mailin_embedded::response::OK
    }
}

/// A real SMTP server on 127.0.0.1:0 that accepts all mail and records it. Plain text only:
/// STARTTLS and AUTH are not advertised, so `smtp://` URLs work. Its thread runs until the test
/// process exits.
pub struct SmtpServer {
    port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    reject: Arc<AtomicU16>,
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the SMTP server");
        let port = listener
            .local_addr()
            .expect("the SMTP server's address")
            .port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let reject = Arc::new(AtomicU16::new(0));
        let recorder = Recorder {
            mails: Arc::clone(&mails),
            reject: Arc::clone(&reject),
            to: Vec::new(),
            data: Vec::new(),
        };
        let mut server = mailin_embedded::Server::new(recorder);
        server
            .with_name("smtp.feedwatch.test")
            .with_num_threads(16)
            .with_ssl(mailin_embedded::SslConfig::None)
            .expect("an SMTP server without TLS")
            .with_tcp_listener(listener);
        thread::Builder::new()
            .name(format!("smtp-{port}"))
            .spawn(move || {
                let _ = server.serve();
            })
            .expect("spawn the SMTP server");
        SmtpServer {
            port,
            mails,
            reject,
        }
    }

    /// From now on, answers every message's data with `code` (e.g. 552), or accepts again with
    /// `None`.
    pub fn reject_with(&self, code: Option<u16>) {
        self.reject.store(code.unwrap_or(0), Ordering::SeqCst);
    }

    /// `smtp://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn messages(&self) -> Vec<Mail> {
        lock(&self.mails).clone()
    }

    /// Waits until at least `n` messages arrived or `timeout` passes; returns the messages seen
    /// so far either way.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Mail> {
        wait_until(timeout, || Some(self.messages()).filter(|m| m.len() >= n))
            .unwrap_or_else(|| self.messages())
    }
}

/// An `smtp://` URL where nothing listens: a port on 127.0.0.1 bound, then released. For a mail
/// server that is down, and for configs that must name one but never deliver.
pub fn closed_smtp_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind for a closed port");
    let port = listener.local_addr().expect("the closed port").port();
    format!("smtp://127.0.0.1:{port}")
}
