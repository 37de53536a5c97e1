//! SMTP connections for `smtp://` URLs, on sockets with `TCP_NODELAY`, kept open for reuse.
//!
//! lettre's own pool connects without `TCP_NODELAY`, and lettre writes a message and its final
//! `.` in two writes, so Nagle's algorithm held every message's end until the server's delayed
//! ACK: 44 ms a mail on loopback, 23 mails/s. Here lettre still speaks SMTP, STARTTLS and AUTH
//! over a socket this module opens. Must never reuse a connection whose last send failed or was
//! cut off (it is dropped instead), nor send a login before STARTTLS when the URL requires it.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::net::TcpStream;
use url::Url;

/// Why a send over a connection of this module failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The TCP connection could not be made.
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    /// Connecting took longer than the notifier's timeout.
    #[error("cannot connect: timed out")]
    ConnectTimeout,
    /// The server refused, or the session broke.
    #[error("{0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
}

/// How to reach one server, read once from its `smtp://` URL.
struct Server {
    host: String,
    port: u16,
    /// STARTTLS parameters, and whether a server without STARTTLS is refused.
    starttls: Option<(TlsParameters, bool)>,
    hello: ClientId,
    credentials: Option<Credentials>,
    timeout: Duration,
}

/// Idle connections to one server. Each send takes one (or opens one) and gives it back only
/// after a clean send, so concurrent sends each get their own.
pub struct Connections {
    server: Server,
    idle: Mutex<Vec<AsyncSmtpConnection>>,
}

impl Connections {
    /// Connections for an `smtp://` URL. `tls` is `required`, `opportunistic`, or anything
    /// else (absent, `none`) for plain text; the config checked it. Fails when TLS cannot be
    /// set up for the host.
    pub fn new(
        url: &Url,
        credentials: Option<Credentials>,
        timeout: Duration,
    ) -> Result<Connections, lettre::transport::smtp::Error> {
        let host = match url.host() {
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => url.host_str().unwrap_or_default().to_owned(),
        };
        let tls = url.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v);
        let required = tls.as_deref() == Some("required");
        let starttls = match tls.as_deref() {
            Some("required" | "opportunistic") => {
                Some((TlsParameters::new(host.clone())?, required))
            }
            _ => None,
        };
        // As lettre reads a URL: TLS ports default to submission, plain text to 25, and a path
        // names this host in EHLO.
        let port = url
            .port()
            .unwrap_or(if starttls.is_some() { 587 } else { 25 });
        let path = url.path().trim_matches('/');
        let hello = if path.is_empty() {
            ClientId::default()
        } else {
            ClientId::Domain(path.to_owned())
        };
        let server = Server {
            host,
            port,
            starttls,
            hello,
            credentials,
            timeout,
        };
        Ok(Connections {
            server,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Sends one message, over an idle connection that still answers or a new one.
    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<(), SendError> {
        let mut conn = match self.reuse().await {
            Some(conn) => conn,
            None => self.server.connect().await?,
        };
        conn.send(envelope, message).await?;
        self.idle_list().push(conn);
        Ok(())
    }

    /// An idle connection that answers a NOOP; those that do not are dropped.
    async fn reuse(&self) -> Option<AsyncSmtpConnection> {
        loop {
            let mut conn = self.idle_list().pop()?;
            if conn.test_connected().await {
                return Some(conn);
            }
        }
    }

    fn idle_list(&self) -> std::sync::MutexGuard<'_, Vec<AsyncSmtpConnection>> {
        // The list is valid whatever a panicking holder was doing: it only pushes and pops.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Server {
    /// A new session: TCP with `TCP_NODELAY`, EHLO, STARTTLS as the URL asks, then the login.
    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let connecting = TcpStream::connect((self.host.as_str(), self.port));
        let stream = tokio::time::timeout(self.timeout, connecting)
            .await
            .map_err(|_| SendError::ConnectTimeout)?
            .map_err(SendError::Connect)?;
        stream.set_nodelay(true).map_err(SendError::Connect)?;
        let mut conn =
            AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello).await?;
        if let Some((params, required)) = &self.starttls
            && (*required || conn.can_starttls())
        {
            // Fails when the server offers no STARTTLS, before any login is sent.
            conn.starttls(params.clone(), &self.hello).await?;
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await?;
        }
        Ok(conn)
    }
}
