//! Email throughput: N alerts sent one after another through `EmailNotifier` to an SMTP sink
//! on 127.0.0.1 in this process, printed as mails per second. Sequential, like the dispatcher
//! delivering one notifier's outbox. `cargo bench --bench email [-- N]` (default 500).
//!
//! For comparison it also sends a small message over one bare lettre connection on a socket
//! with `TCP_NODELAY`: the floor. lettre writes a message and its final `.` in two writes, so on
//! a socket without `TCP_NODELAY` (lettre's own pool) Nagle's algorithm holds the `.` until the
//! server's delayed ACK, about 40 ms on Linux; `EmailNotifier` opens its own sockets for that.

use std::time::{Duration, Instant};

use feedwatch::config::{EmailConfig, NotifierName, Secret};
use feedwatch::notify::{EmailNotifier, test_alert};
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use lettre::{Message, message::Mailbox};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Accepts every message; answers each command at once, in one write, like a real server.
async fn sink(listener: TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(converse(stream));
    }
}

async fn converse(stream: TcpStream) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    write.write_all(b"220 sink ESMTP\r\n").await?;
    let mut line = String::new();
    let mut in_data = false;
    loop {
        line.clear();
        if read.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let reply: &[u8] = if in_data {
            if line != ".\r\n" {
                continue;
            }
            in_data = false;
            b"250 queued\r\n"
        } else {
            match line.get(..4).map(str::to_ascii_uppercase).as_deref() {
                Some("EHLO") => b"250-sink\r\n250 8BITMIME\r\n",
                Some("DATA") => {
                    in_data = true;
                    b"354 go on\r\n"
                }
                Some("QUIT") => {
                    write.write_all(b"221 bye\r\n").await?;
                    return Ok(());
                }
                _ => b"250 ok\r\n",
            }
        };
        write.write_all(reply).await?;
    }
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(500);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(sink(listener));
        let cfg = EmailConfig {
            smtp: Secret::new(format!("smtp://127.0.0.1:{port}").parse().unwrap()),
            password: None,
            from: "feedwatch <alerts@example.org>".parse().unwrap(),
            to: vec!["desk@example.org".parse().unwrap()],
        };
        let name = NotifierName("bench".into());
        let origin = feedwatch::notify::Origin {
            host: "desk-01".into(),
            config: "/etc/feedwatch/config.toml".into(),
            timezone: chrono_tz::UTC,
        };
        let notifier = EmailNotifier::new(&name, &cfg, Duration::from_secs(10), origin).unwrap();
        let alert = test_alert();
        let start = Instant::now();
        for _ in 0..n {
            notifier.send(&alert).await.unwrap();
        }
        report("EmailNotifier", n, start.elapsed());
        nodelay(port, n).await;
    });
}

/// `n` messages over one lettre connection whose socket has `TCP_NODELAY` set.
async fn nodelay(port: u16, n: usize) {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let hello = ClientId::Domain("bench.example.org".into());
    let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello)
        .await
        .unwrap();
    let from: Mailbox = "feedwatch <alerts@example.org>".parse().unwrap();
    let message = Message::builder()
        .from(from)
        .to("desk@example.org".parse().unwrap())
        .subject("[feedwatch] notify-test: Test alert from feedwatch")
        .body(String::from(
            "If you can read this, feedwatch can deliver alerts here.",
        ))
        .unwrap();
    let bytes = message.formatted();
    let start = Instant::now();
    for _ in 0..n {
        conn.send(message.envelope(), &bytes).await.unwrap();
    }
    report("lettre connection, TCP_NODELAY", n, start.elapsed());
}

fn report(what: &str, n: usize, took: Duration) {
    let secs = took.as_secs_f64();
    println!(
        "{what}: {n} mails in {secs:.2} s = {:.0} mails/s ({:.2} ms each)",
        n as f64 / secs,
        secs * 1000.0 / n as f64
    );
}
