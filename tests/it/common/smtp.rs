//! The mail server: a real SMTP server (mailin-embedded) on 127.0.0.1 that
//! records every message, and [`Mail`], which reads them with mailparse.

use std::io;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use mailparse::MailHeaderMap;

use super::{lock, wait_until};

/// One message as received by [`SmtpServer`].
#[derive(Clone, Debug)]
pub struct Mail {
    /// Envelope sender (`MAIL FROM`), without angle brackets.
    pub from: String,
    /// Envelope recipients (`RCPT TO`), without angle brackets.
    pub to: Vec<String>,
    /// The full RFC 5322 message as received (CRLF line ends, dot-unstuffed).
    pub data: String,
}

impl Mail {
    fn parsed(&self) -> mailparse::ParsedMail<'_> {
        mailparse::parse_mail(self.data.as_bytes()).expect("a readable message")
    }

    /// First header with this name (case-insensitive), unfolded, with RFC 2047
    /// encoded-words decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        self.parsed().headers.get_first_value(name)
    }

    /// The first `text/plain` part, transfer- and charset-decoded, with `\n`
    /// line ends. Empty if there is none.
    pub fn text_body(&self) -> String {
        self.body_of_type("text/plain")
    }

    /// The first `text/html` part, transfer- and charset-decoded, with `\n`
    /// line ends. Empty if there is none.
    pub fn html_body(&self) -> String {
        self.body_of_type("text/html")
    }

    fn body_of_type(&self, mimetype: &str) -> String {
        let mail = self.parsed();
        let part = mail.parts().find(|p| {
            p.ctype.mimetype == mimetype
                && p.get_content_disposition().disposition != mailparse::DispositionType::Attachment
        });
        part.map(|p| p.get_body().expect("a decodable body"))
            .unwrap_or_default()
            // SMTP carries CRLF; tests compare with Rust strings.
            .replace("\r\n", "\n")
    }
}

#[derive(Clone)]
struct SmtpRecorder {
    mails: Arc<Mutex<Vec<Mail>>>,
    reject: Arc<AtomicU16>,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

impl mailin_embedded::Handler for SmtpRecorder {
    fn mail(
        &mut self,
        _ip: std::net::IpAddr,
        _domain: &str,
        from: &str,
    ) -> mailin_embedded::Response {
        self.from = from.to_string();
        self.to.clear();
        self.data.clear();
        mailin_embedded::response::OK
    }

    fn data_start(
        &mut self,
        _domain: &str,
        from: &str,
        _is8bit: bool,
        to: &[String],
    ) -> mailin_embedded::Response {
        self.from = from.to_string();
        self.to = to.to_vec();
        self.data.clear();
        // Rejecting here rather than at the end of DATA: mailin stays in its
        // data state after an error reply to the final ".", which would make
        // the client's next command hang.
        let code = self.reject.load(Ordering::SeqCst);
        if code != 0 {
            return mailin_embedded::Response::custom(code, "rejected by test server".into());
        }
        mailin_embedded::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin_embedded::Response {
        let mail = Mail {
            from: strip_angles(&self.from),
            to: self.to.iter().map(|t| strip_angles(t)).collect(),
            data: String::from_utf8_lossy(&std::mem::take(&mut self.data)).into_owned(),
        };
        lock(&self.mails).push(mail);
        mailin_embedded::response::OK
    }
}

fn strip_angles(s: &str) -> String {
    s.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}

/// Real SMTP server (mailin-embedded) on 127.0.0.1:0 that accepts all mail
/// and records it. Plain text only: STARTTLS and AUTH are not advertised, so
/// `smtp://` URLs work. Its thread runs until the test process exits.
pub struct SmtpServer {
    port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    reject: Arc<AtomicU16>,
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind SMTP test server");
        let port = listener
            .local_addr()
            .expect("SMTP test server address")
            .port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let reject = Arc::new(AtomicU16::new(0));
        let handler = SmtpRecorder {
            mails: Arc::clone(&mails),
            reject: Arc::clone(&reject),
            from: String::new(),
            to: Vec::new(),
            data: Vec::new(),
        };
        let mut server = mailin_embedded::Server::new(handler);
        server
            .with_name("smtp.feedwatch.test")
            .with_num_threads(16)
            .with_ssl(mailin_embedded::SslConfig::None)
            .expect("SMTP test server without TLS")
            .with_tcp_listener(listener);
        thread::Builder::new()
            .name(format!("smtp-test-{port}"))
            .spawn(move || {
                let _ = server.serve();
            })
            .expect("spawn SMTP server thread");
        SmtpServer {
            port,
            mails,
            reject,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `smtp://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn messages(&self) -> Vec<Mail> {
        lock(&self.mails).clone()
    }

    /// Polls until at least `n` messages arrived or `timeout` passes; returns
    /// the messages seen so far either way.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Mail> {
        wait_until(timeout, || Some(self.messages()).filter(|m| m.len() >= n))
            .unwrap_or_else(|| self.messages())
    }

    /// `Some(code)`: answer the `DATA` command with this SMTP code (e.g. 451
    /// or 554; 421 also closes the connection) so no message is accepted or
    /// recorded; `None`: accept again.
    pub fn set_reject(&self, code: Option<u16>) {
        self.reject.store(code.unwrap_or(0), Ordering::SeqCst);
    }
}

/// A port on 127.0.0.1 where nothing listens (bound, then released), for
/// "server down" tests.
pub fn dead_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind for dead port");
    listener.local_addr().expect("dead port address").port()
}
