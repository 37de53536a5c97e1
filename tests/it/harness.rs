//! Self-tests of the integration-test harness in `tests/common`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::http::{HttpServer, Route, gzip_bomb};
use crate::common::sandbox::{Sandbox, run_with_timeout};
use crate::common::smtp::{SmtpServer, dead_port};

/// A parsed HTTP response: status, lowercased headers, body.
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one response; the body by Content-Length (none for HEAD/304/204),
/// else to EOF.
fn read_response(r: &mut impl BufRead, head_request: bool) -> Resp {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        if l.trim().is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').unwrap();
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let mut resp = Resp {
        status,
        headers,
        body: Vec::new(),
    };
    if head_request || status == 304 || status == 204 {
        return resp;
    }
    match resp.header("content-length") {
        Some(n) => {
            resp.body = vec![0; n.parse().unwrap()];
            r.read_exact(&mut resp.body).unwrap();
        }
        None => {
            r.read_to_end(&mut resp.body).unwrap();
        }
    }
    resp
}

fn connect(server: &HttpServer) -> (TcpStream, BufReader<TcpStream>) {
    let s = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let r = BufReader::new(s.try_clone().unwrap());
    (s, r)
}

/// One request on a fresh connection with `Connection: close`.
fn request(server: &HttpServer, raw: &str) -> Resp {
    let (mut s, mut r) = connect(server);
    s.write_all(raw.as_bytes()).unwrap();
    read_response(&mut r, raw.starts_with("HEAD "))
}

const RSS: &str = r#"<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><title>Hello</title></item></channel></rss>"#;

#[test]
fn get_then_conditional_get_on_a_kept_alive_connection() {
    let server = HttpServer::start();
    server.set("/feed.xml", Route::rss(RSS).with_etag("v1"));
    assert!(server.url("feed.xml").ends_with("/feed.xml"));

    let (mut s, mut r) = connect(&server);
    s.write_all(b"GET /feed.xml HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let first = read_response(&mut r, false);
    assert_eq!(first.status, 200);
    assert_eq!(first.body, RSS.as_bytes());
    assert_eq!(first.header("etag"), Some("\"v1\""));
    assert_eq!(first.header("content-type"), Some("application/rss+xml"));

    // same connection: keep-alive works
    s.write_all(b"GET /feed.xml?x=1 HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"v1\"\r\nConnection: close\r\n\r\n")
        .unwrap();
    let second = read_response(&mut r, false);
    assert_eq!(second.status, 304);
    assert!(second.body.is_empty());
    assert_eq!(second.header("connection"), Some("close"));
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap(); // server closed, nothing more sent
    assert!(rest.is_empty());

    let reqs = server.requests("/feed.xml");
    assert_eq!(reqs.len(), 2);
    assert_eq!(server.hits("/feed.xml"), 2);
    assert_eq!(reqs[1].path, "/feed.xml?x=1");
    assert_eq!(reqs[1].header("If-None-Match"), Some("\"v1\""));

    // a stale validator gets the full body again
    let third = request(
        &server,
        "GET /feed.xml HTTP/1.1\r\nIf-None-Match: \"v0\"\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(third.status, 200);
    assert_eq!(third.body, RSS.as_bytes());
}

#[test]
fn unrouted_head_redirect_and_runtime_route_changes() {
    let server = HttpServer::start();
    assert_eq!(
        request(&server, "GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n").status,
        404
    );

    server.set("/old", Route::redirect(301, "/new"));
    let resp = request(&server, "GET /old HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!((resp.status, resp.header("location")), (301, Some("/new")));

    server.set("/new", Route::ok("abc", "text/plain"));
    let resp = request(&server, "HEAD /new HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-length"), Some("3"));

    server.set("/new", Route::status(503).with_header("Retry-After", "7"));
    let resp = request(&server, "GET /new HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!((resp.status, resp.header("retry-after")), (503, Some("7")));
    assert_eq!(server.hits("/new"), 2);
}

#[test]
fn trickle_and_delay_slow_the_response_down() {
    let server = HttpServer::start();
    server.set(
        "/slow",
        Route::rss("0123456789")
            .with_delay(Duration::from_millis(50))
            .with_trickle(Duration::from_millis(15)),
    );
    let started = Instant::now();
    let resp = request(&server, "GET /slow HTTP/1.1\r\nConnection: close\r\n\r\n");
    let took = started.elapsed();
    assert_eq!(resp.body, b"0123456789");
    // 50 ms delay + 9 gaps of 15 ms = 185 ms; be loose
    assert!(took >= Duration::from_millis(150), "took {took:?}");
}

#[test]
fn gzip_route_and_gzip_bomb_are_valid_gzip() {
    let server = HttpServer::start();
    server.set("/feed.gz", Route::rss(RSS).gzipped());
    let resp = request(
        &server,
        "GET /feed.gz HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(resp.header("content-encoding"), Some("gzip"));
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&resp.body[..])
        .read_to_string(&mut plain)
        .unwrap();
    assert_eq!(plain, RSS);

    // two full 1 MiB blocks plus a partial one; GzDecoder checks CRC and size
    let len = (2 << 20) + 12345;
    let bomb = gzip_bomb(len);
    assert!(bomb.len() < len / 500, "bomb is {} bytes", bomb.len());
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&bomb[..])
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out.len(), len);
    assert!(out.iter().all(|&b| b == 0));
    assert!(gzip_bomb(1 << 30).len() < 2 << 20); // 1 GiB in ~1 MiB, quickly
}

#[test]
fn posts_are_recorded_and_answered_by_route() {
    let server = HttpServer::start();
    let (mut s, mut r) = connect(&server);
    let json = r#"{"title":"Hello"}"#;
    write!(
        s,
        "POST /hook HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
        json.len()
    )
    .unwrap();
    assert_eq!(read_response(&mut r, false).status, 200);

    // chunked body, same connection, failing webhook
    server.set("/hook", Route::status(500));
    s.write_all(
        b"POST /hook HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    )
    .unwrap();
    assert_eq!(read_response(&mut r, false).status, 500);

    let reqs = server.requests("/hook");
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].body_str(), json);
    assert_eq!(reqs[0].header("content-type"), Some("application/json"));
    assert_eq!(reqs[1].body_str(), "hello world");
    assert_eq!(server.all_requests().len(), 2);
}

#[test]
fn dropping_the_server_closes_its_port() {
    let server = HttpServer::start();
    let port = server.port();
    let (_s, mut r) = connect(&server);
    drop(server);
    let mut buf = Vec::new();
    assert_eq!(r.read_to_end(&mut buf).unwrap_or(0), 0); // open connection cut
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    assert!(TcpStream::connect(("127.0.0.1", dead_port())).is_err());
}

/// Sends one SMTP command and returns the full (possibly multi-line) reply.
fn smtp(r: &mut impl BufRead, w: &mut impl Write, cmd: &str) -> String {
    if !cmd.is_empty() {
        w.write_all(cmd.as_bytes()).unwrap();
        w.write_all(b"\r\n").unwrap();
    }
    let mut reply = String::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        reply.push_str(&line);
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            return reply;
        }
    }
}

#[test]
fn smtp_raw_conversation_is_recorded_and_decoded() {
    let server = SmtpServer::start();
    assert_eq!(server.url(), format!("smtp://127.0.0.1:{}", server.port()));
    let mut w = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    w.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(w.try_clone().unwrap());

    assert!(smtp(&mut r, &mut w, "").starts_with("220"));
    let ehlo = smtp(&mut r, &mut w, "EHLO client.test");
    assert!(ehlo.starts_with("250"), "{ehlo}");
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    assert!(smtp(&mut r, &mut w, "MAIL FROM:<feedwatch@example.org>").starts_with("250"));
    assert!(smtp(&mut r, &mut w, "RCPT TO:<a@example.org>").starts_with("250"));
    assert!(smtp(&mut r, &mut w, "RCPT TO:<b@example.org>").starts_with("250"));
    assert!(smtp(&mut r, &mut w, "DATA").starts_with("354"));
    let message = "From: feedwatch <feedwatch@example.org>\r\n\
        To: a@example.org, b@example.org\r\n\
        Subject: =?utf-8?q?Caf=C3=A9?= =?utf-8?b?IG5ld3M=?=\r\n \
        for today\r\n\
        MIME-Version: 1.0\r\n\
        Content-Type: multipart/alternative;\r\n boundary=\"BOUND\"\r\n\
        \r\n\
        preamble\r\n\
        --BOUND\r\n\
        Content-Type: text/plain; charset=utf-8\r\n\
        Content-Transfer-Encoding: quoted-printable\r\n\
        \r\n\
        Caf=C3=A9 matched: a very long line that the sender soft-=\r\n\
        wrapped\r\n\
        ..dot-stuffed line\r\n\
        --BOUND\r\n\
        Content-Type: text/html; charset=utf-8\r\n\
        Content-Transfer-Encoding: base64\r\n\
        \r\n\
        PHA+Q2Fmw6k8L3A+\r\n\
        --BOUND--\r\n\
        .";
    assert!(smtp(&mut r, &mut w, message).starts_with("250"));
    assert!(smtp(&mut r, &mut w, "QUIT").starts_with("221"));

    let mails = server.wait_for(1, Duration::from_secs(2));
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.from, "feedwatch@example.org");
    assert_eq!(mail.to, ["a@example.org", "b@example.org"]);
    assert!(mail.data.contains("\r\nMIME-Version: 1.0\r\n"));
    assert_eq!(
        mail.header("subject").as_deref(),
        Some("Café news for today")
    );
    assert_eq!(
        mail.header("TO").as_deref(),
        Some("a@example.org, b@example.org")
    );
    assert_eq!(
        mail.text_body(),
        "Café matched: a very long line that the sender soft-wrapped\n.dot-stuffed line"
    );
    assert_eq!(mail.html_body(), "<p>Café</p>");
}

#[test]
fn smtp_accepts_lettre_and_can_reject() {
    use lettre::message::MultiPart;
    use lettre::{Message, SmtpTransport, Transport};

    let server = SmtpServer::start();
    let mailer = SmtpTransport::builder_dangerous("127.0.0.1")
        .port(server.port())
        .timeout(Some(Duration::from_secs(5)))
        .build();
    let text = format!("Ünïcode body, {} long\n", "x".repeat(100));
    let message = |subject: &str| {
        Message::builder()
            .from("feedwatch <feedwatch@example.org>".parse().unwrap())
            .to("ops@example.org".parse().unwrap())
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(
                text.clone(),
                "<b>Ünïcode</b>".to_string(),
            ))
            .unwrap()
    };
    mailer.send(&message("Größe — 3 new matches")).unwrap();

    let mails = server.wait_for(1, Duration::from_secs(2));
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["ops@example.org"]);
    assert_eq!(
        mails[0].header("Subject").as_deref(),
        Some("Größe — 3 new matches")
    );
    assert_eq!(mails[0].text_body(), text);
    assert_eq!(mails[0].html_body(), "<b>Ünïcode</b>");
    assert_eq!(
        mails[0]
            .header("content-type")
            .map(|c| c.starts_with("multipart/alternative")),
        Some(true)
    );

    server.set_reject(Some(451));
    assert!(mailer.send(&message("rejected")).is_err());
    server.set_reject(Some(421)); // also drops the connection
    assert!(mailer.send(&message("rejected")).is_err());
    server.set_reject(None);
    mailer.send(&message("accepted again")).unwrap();
    let mails = server.wait_for(2, Duration::from_secs(2));
    assert_eq!(mails.len(), 2);
    assert_eq!(
        mails[1].header("subject").as_deref(),
        Some("accepted again")
    );
}

/// feedwatch's own HTTP client against the server: gzip, redirects, ETags,
/// webhook POSTs, over reused connections.
#[test]
fn reqwest_client_works_against_the_server() {
    let server = HttpServer::start();
    server.set("/feed.xml", Route::rss(RSS).with_etag("abc").gzipped());
    server.set("/moved", Route::redirect(302, "/feed.xml"));
    server.set("/hook", Route::status(500));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let resp = client.get(server.url("/moved")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        // Transparently gunzipped, read the way feedwatch reads feeds.
        let body = feedwatch::fetch::read_capped(
            resp,
            1 << 20,
            &feedwatch::fetch::BodyLimits::for_timeout(Duration::from_secs(5)),
        )
        .await
        .unwrap();
        assert_eq!(body, RSS.as_bytes());
        let resp = client
            .get(server.url("/feed.xml"))
            .header("If-None-Match", "\"abc\"")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 304);
        let resp = client
            .post(server.url("/hook"))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 500);
    });
    assert_eq!(server.hits("/moved"), 1);
    assert_eq!(server.hits("/feed.xml"), 2);
    assert_eq!(server.requests("/hook")[0].body_str(), "{}");
    assert!(
        server.requests("/feed.xml")[0]
            .header("accept-encoding")
            .is_some_and(|v| v.contains("gzip"))
    );
}

#[test]
fn sandbox_command_and_timeouts() {
    let sandbox = Sandbox::new();
    let config = sandbox.write("conf/feedwatch.toml", "# empty\n");
    assert_eq!(config, sandbox.path("conf/feedwatch.toml"));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "# empty\n");

    let cmd = sandbox.cmd(&config);
    assert_eq!(cmd.get_program(), env!("CARGO_BIN_EXE_feedwatch"));
    let args: Vec<_> = cmd.get_args().collect();
    assert_eq!(args, ["--config".as_ref(), config.as_os_str()]);
    assert_eq!(cmd.get_current_dir(), Some(sandbox.dir.path()));
    let removed: Vec<_> = cmd.get_envs().filter(|(_, v)| v.is_none()).collect();
    assert!(removed.iter().any(|(k, _)| *k == "FEEDWATCH_CONFIG"));
    assert!(removed.iter().any(|(k, _)| *k == "RUST_LOG"));

    let out = run_with_timeout(
        std::process::Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
        Duration::from_secs(5),
    );
    assert_eq!(
        (out.code(), out.stdout.as_str(), out.stderr.as_str()),
        (Some(3), "out\n", "err\n")
    );

    let started = Instant::now();
    let out = run_with_timeout(
        std::process::Command::new("sleep").arg("5"),
        Duration::from_millis(100),
    );
    assert!(out.timed_out() && !out.success());
    assert!(started.elapsed() < Duration::from_secs(2));
}
