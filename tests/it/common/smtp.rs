//! The mail server: a real SMTP server (mailin's protocol engine over a socket) on 127.0.0.1
//! that records every message and every login, and [`Mail`], which reads them with mailparse.

use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
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

    /// The message as received, every header and part still encoded.
    pub fn raw(&self) -> &[u8] {
        &self.data
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

/// A successful `AUTH PLAIN`: the user name and password the client sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Login {
    pub user: String,
    pub password: String,
}

#[derive(Clone)]
struct Recorder {
    mails: Arc<Mutex<Vec<Mail>>>,
    /// The reply code to refuse every message with after its data, or 0 to accept.
    reject: Arc<AtomicU16>,
    /// The only credentials `AUTH PLAIN` accepts, when the server asks for a login.
    account: Option<Login>,
    logins: Arc<Mutex<Vec<Login>>>,
    to: Vec<String>,
    data: Vec<u8>,
}

impl mailin::Handler for Recorder {
    fn auth_plain(
        &mut self,
        _authorization_id: &str,
        user: &str,
        password: &str,
    ) -> mailin::Response {
        let login = Login {
            user: user.to_owned(),
            password: password.to_owned(),
        };
        if self.account.as_ref() != Some(&login) {
            return mailin::response::INVALID_CREDENTIALS;
        }
        lock(&self.logins).push(login);
        mailin::response::AUTH_OK
    }

    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        to: &[String],
    ) -> mailin::Response {
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
        mailin::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin::Response {
        let code = self.reject.load(Ordering::SeqCst);
        if code != 0 {
            let mut refusal = mailin::Response::custom(code, "refused by the test server".into());
            // After refusing a message a real server is ready for the next one, but mailin
            // stays in its DATA state; hanging up keeps the client from talking into it.
            refusal.action = mailin::Action::Close;
            return refusal;
        }
        let mail = Mail {
            to: std::mem::take(&mut self.to),
            data: std::mem::take(&mut self.data),
        };
        lock(&self.mails).push(mail);
        mailin::response::OK
    }
}

/// A real SMTP server on 127.0.0.1:0 that accepts all mail and records it. Plain text only:
/// STARTTLS is not advertised, so `smtp://` URLs work; AUTH only by [`SmtpServer::with_login`].
/// Its threads run until the test process exits.
pub struct SmtpServer {
    port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    reject: Arc<AtomicU16>,
    logins: Arc<Mutex<Vec<Login>>>,
    connections: Arc<AtomicUsize>,
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        SmtpServer::serve(None)
    }

    /// A server that requires `AUTH PLAIN` with exactly these credentials before any mail
    /// (offered over plain text: the test talks to itself over loopback).
    pub fn with_login(user: &str, password: &str) -> SmtpServer {
        SmtpServer::serve(Some(Login {
            user: user.to_owned(),
            password: password.to_owned(),
        }))
    }

    fn serve(account: Option<Login>) -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the SMTP server");
        let port = listener
            .local_addr()
            .expect("the SMTP server's address")
            .port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let reject = Arc::new(AtomicU16::new(0));
        let logins = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::clone(&connections);
        let mut session = mailin::SessionBuilder::new("smtp.feedwatch.test");
        if account.is_some() {
            session
                .enable_auth(mailin::AuthMechanism::Plain)
                .insecure_enable_plaintext_auth();
        }
        let recorder = Recorder {
            mails: Arc::clone(&mails),
            reject: Arc::clone(&reject),
            account,
            logins: Arc::clone(&logins),
            to: Vec::new(),
            data: Vec::new(),
        };
        thread::Builder::new()
            .name(format!("smtp-{port}"))
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let (session, recorder) = (session.clone(), recorder.clone());
                    thread::spawn(move || converse(stream, &session, recorder));
                }
            })
            .expect("spawn the SMTP server");
        SmtpServer {
            port,
            mails,
            reject,
            logins,
            connections,
        }
    }

    /// How many connections the server has accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// The logins the server accepted, in order.
    pub fn logins(&self) -> Vec<Login> {
        lock(&self.logins).clone()
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

/// One SMTP session on `stream`, line by line through mailin, until either side hangs up.
fn converse(stream: TcpStream, builder: &mailin::SessionBuilder, recorder: Recorder) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let Ok(reader) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(reader);
    let mut writer = BufWriter::new(stream);
    let mut session = builder.build(IpAddr::from([127, 0, 0, 1]), recorder);
    let reply = |writer: &mut BufWriter<TcpStream>, res: &mailin::Response| {
        res.write_to(writer).and_then(|()| writer.flush())
    };
    if reply(&mut writer, &session.greeting()).is_err() {
        return;
    }
    let mut line = Vec::new();
    loop {
        line.clear();
        if !matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
            return;
        }
        let res = session.process(&line);
        let sent = match res.action {
            mailin::Action::NoReply => Ok(()),
            _ => reply(&mut writer, &res),
        };
        if sent.is_err()
            || matches!(
                res.action,
                mailin::Action::Close | mailin::Action::UpgradeTls
            )
        {
            return;
        }
    }
}

/// An `smtp://` URL where nothing listens: a port on 127.0.0.1 bound, then released. For a mail
/// server that is down, and for configs that must name one but never deliver.
pub fn closed_smtp_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind for a closed port");
    let port = listener.local_addr().expect("the closed port").port();
    format!("smtp://127.0.0.1:{port}")
}
