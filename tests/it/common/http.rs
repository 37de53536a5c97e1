//! The fake web server: an HTTP/1.1 server on 127.0.0.1 that serves feeds from
//! [`Route`]s set at run time (ETags, redirects, errors, slow, gzipped or
//! bomb bodies) and records every request, webhook POSTs included.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use flate2::Compression;
use flate2::write::{DeflateEncoder, GzEncoder};

use super::{lock, wait_until};

/// Socket read/write timeout of server-side connections, so a stuck client
/// cannot pin a server thread forever.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request head (request line + headers) the HTTP server accepts.
const MAX_HEAD: usize = 64 * 1024;

/// One request as received by [`HttpServer`].
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// The request target as sent, including any query string.
    pub path: String,
    /// Header names are lowercased; values are trimmed; order is preserved.
    pub headers: Vec<(String, String)>,
    /// Body, de-chunked if it was sent with `Transfer-Encoding: chunked`.
    pub body: Vec<u8>,
}

impl Request {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What [`HttpServer`] answers on a path.
#[derive(Clone, Debug)]
pub struct Route {
    pub status: u16,
    /// Sent as given. If they include `Content-Length` or `Transfer-Encoding`,
    /// the server adds no length of its own and closes the connection after
    /// the response (handy for lying-length tests).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Served as `ETag`; a matching `If-None-Match` gets `304` with no body.
    pub etag: Option<String>,
    /// Sleep before sending the status line and headers.
    pub delay: Duration,
    /// Sleep between body bytes; the body is then written one byte per write.
    pub trickle: Option<Duration>,
    /// Gzip-encode the body and send `Content-Encoding: gzip`.
    pub gzip: bool,
}

impl Route {
    /// `200` with this body and `Content-Type`.
    pub fn ok(body: impl Into<Vec<u8>>, content_type: &str) -> Route {
        Route::status(200)
            .with_body(body)
            .with_header("Content-Type", content_type)
    }

    /// `200 application/rss+xml`.
    pub fn rss(body: &str) -> Route {
        Route::ok(body, "application/rss+xml")
    }

    /// This status with an empty body and no extra headers.
    pub fn status(code: u16) -> Route {
        Route {
            status: code,
            headers: Vec::new(),
            body: Vec::new(),
            etag: None,
            delay: Duration::ZERO,
            trickle: None,
            gzip: false,
        }
    }

    /// A redirect (`301`, `302`, `307`, `308`, ...) to `location`, which may be
    /// relative (`/other`) or absolute.
    pub fn redirect(code: u16, location: &str) -> Route {
        Route::status(code).with_header("Location", location)
    }

    /// Serves `ETag: etag` (quoted if not already) and answers `304 Not
    /// Modified` without a body when the request's `If-None-Match` matches.
    pub fn with_etag(mut self, etag: &str) -> Route {
        self.etag = Some(etag.to_string());
        self
    }

    /// Sets a response header, replacing one of the same name (case-insensitive).
    pub fn with_header(mut self, k: &str, v: &str) -> Route {
        self.headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case(k));
        self.headers.push((k.to_string(), v.to_string()));
        self
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Route {
        self.body = body.into();
        self
    }

    pub fn with_delay(mut self, d: Duration) -> Route {
        self.delay = d;
        self
    }

    pub fn with_trickle(mut self, per_byte: Duration) -> Route {
        self.trickle = Some(per_byte);
        self
    }

    pub fn gzipped(mut self) -> Route {
        self.gzip = true;
        self
    }

    fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(name))
    }
}

#[derive(Default)]
struct HttpShared {
    routes: Mutex<HashMap<String, Route>>,
    requests: Mutex<Vec<Request>>,
    /// Open connections, so dropping the server can cut them.
    conns: Mutex<HashMap<u64, TcpStream>>,
    stop: AtomicBool,
}

/// Real HTTP/1.1 server on 127.0.0.1:0, one thread per connection, serving
/// configured routes and recording every request.
///
/// Routes match the request target exactly, or its path without the query
/// string. Unrouted `GET`/`HEAD` get `404`; any other unrouted method (webhook
/// `POST`s) gets `200` with an empty body. Connections are kept alive unless
/// the client asks otherwise. Dropping the server stops accepting and shuts
/// down open connections.
pub struct HttpServer {
    addr: SocketAddr,
    shared: Arc<HttpShared>,
    accept: Option<JoinHandle<()>>,
}

impl HttpServer {
    pub fn start() -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind HTTP test server");
        let addr = listener.local_addr().expect("HTTP test server address");
        let shared = Arc::new(HttpShared::default());
        let accept = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("http-test-{}", addr.port()))
                .spawn(move || http_accept_loop(listener, shared))
                .expect("spawn HTTP accept thread")
        };
        HttpServer {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:PORT/path` (a missing leading `/` is added).
    pub fn url(&self, path: &str) -> String {
        let slash = if path.starts_with('/') { "" } else { "/" };
        format!("http://{}{slash}{path}", self.addr)
    }

    /// Adds or replaces the route for `path` (takes effect for the next request).
    pub fn set(&self, path: &str, route: Route) {
        lock(&self.shared.routes).insert(normalize_path(path), route);
    }

    /// Recorded requests to `path` (exact target, or path ignoring the query
    /// string), in arrival order.
    pub fn requests(&self, path: &str) -> Vec<Request> {
        let path = normalize_path(path);
        lock(&self.shared.requests)
            .iter()
            .filter(|r| target_matches(&r.path, &path))
            .cloned()
            .collect()
    }

    pub fn hits(&self, path: &str) -> usize {
        self.requests(path).len()
    }

    /// Polls until `path` has at least `n` hits or `timeout` passes; returns
    /// the requests seen so far either way.
    pub fn wait_for(&self, path: &str, n: usize, timeout: Duration) -> Vec<Request> {
        wait_until(timeout, || {
            Some(self.requests(path)).filter(|r| r.len() >= n)
        })
        .unwrap_or_else(|| self.requests(path))
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag; only then join, so the
        // join cannot hang if the wake-up connection failed.
        if TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok()
            && let Some(handle) = self.accept.take()
        {
            let _ = handle.join();
        }
        for (_, conn) in lock(&self.shared.conns).drain() {
            let _ = conn.shutdown(Shutdown::Both);
        }
    }
}

fn normalize_path(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}

fn target_matches(target: &str, path: &str) -> bool {
    target == path || target.split('?').next() == Some(path)
}

fn http_accept_loop(listener: TcpListener, shared: Arc<HttpShared>) {
    let mut next_id = 0u64;
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let stream = match conn {
            Ok(s) => s,
            Err(_) => {
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        next_id += 1;
        let id = next_id;
        if let Ok(clone) = stream.try_clone() {
            lock(&shared.conns).insert(id, clone);
        }
        let shared = Arc::clone(&shared);
        let spawned = thread::Builder::new()
            .name(format!("http-test-conn-{id}"))
            .spawn(move || {
                let _ = http_serve_conn(stream, &shared);
                lock(&shared.conns).remove(&id);
            });
        if spawned.is_err() {
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Serves requests on one connection until EOF, error, or a close.
fn http_serve_conn(stream: TcpStream, shared: &HttpShared) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        let Some(head) = read_head(&mut reader)? else {
            return Ok(());
        };
        let Some((method, target, version, headers)) = parse_head(&head) else {
            writer.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
            return Ok(());
        };
        let find = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.to_ascii_lowercase())
        };
        if find("expect").is_some_and(|v| v == "100-continue") {
            writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let body = if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            read_chunked(&mut reader)?
        } else if let Some(len) = find("content-length") {
            let len: usize = len
                .trim()
                .parse()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad Content-Length"))?;
            let mut body = vec![0; len];
            reader.read_exact(&mut body)?;
            body
        } else {
            Vec::new()
        };
        let connection = find("connection").unwrap_or_default();
        let keep_alive = if version == "HTTP/1.0" {
            connection.contains("keep-alive")
        } else {
            !connection.contains("close")
        };

        let request = Request {
            method,
            path: target,
            headers,
            body,
        };
        lock(&shared.requests).push(request.clone());

        let route = {
            let routes = lock(&shared.routes);
            routes
                .get(&request.path)
                .or_else(|| routes.get(request.path.split('?').next().unwrap_or("")))
                .cloned()
        };
        let route = route.unwrap_or_else(|| match request.method.as_str() {
            "GET" | "HEAD" => Route::status(404),
            _ => Route::status(200),
        });
        let close = write_response(&mut writer, &request, &route, keep_alive)?;
        if close {
            let _ = writer.flush();
            let _ = writer.shutdown(Shutdown::Write);
            return Ok(());
        }
    }
}

/// Reads a request head up to the blank line. `None` on EOF before any byte.
fn read_head(reader: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = reader.take(MAX_HEAD as u64).read_until(b'\n', &mut line)?;
        if n == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        let blank = line == b"\r\n" || line == b"\n";
        if blank && head.is_empty() {
            continue; // stray CRLF between requests is allowed
        }
        if blank {
            return Ok(Some(String::from_utf8_lossy(&head).into_owned()));
        }
        head.extend_from_slice(&line);
        if head.len() > MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "head too large"));
        }
    }
}

type Head = (String, String, String, Vec<(String, String)>);

fn parse_head(head: &str) -> Option<Head> {
    let mut lines = head.lines();
    let mut parts = lines.next()?.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let version = parts.next().unwrap_or("HTTP/1.0").to_string();
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            // obsolete line folding
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
            continue;
        }
        let (k, v) = line.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    Some((method, target, version, headers))
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let bad = |msg: &str| io::Error::new(io::ErrorKind::InvalidData, msg.to_string());
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| bad("bad chunk size"))?;
        if size == 0 {
            // trailers, up to the blank line
            loop {
                let mut t = String::new();
                if reader.read_line(&mut t)? == 0 || t.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = String::new();
        reader.read_line(&mut crlf)?;
    }
}

fn quote_etag(etag: &str) -> String {
    if etag.starts_with('"') || etag.starts_with("W/") {
        etag.to_string()
    } else {
        format!("\"{etag}\"")
    }
}

fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let ours = strip(etag);
    if_none_match
        .split(',')
        .any(|t| t.trim() == "*" || strip(t) == ours)
}

fn reason(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        410 => "Gone",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// Writes the response; returns whether the connection must be closed.
fn write_response(
    w: &mut TcpStream,
    req: &Request,
    route: &Route,
    keep_alive: bool,
) -> io::Result<bool> {
    if !route.delay.is_zero() {
        thread::sleep(route.delay);
    }
    let etag = route.etag.as_deref().map(quote_etag);
    let not_modified = matches!(
        (&etag, req.header("if-none-match")),
        (Some(tag), Some(inm)) if etag_matches(inm, tag)
    );
    let status = if not_modified { 304 } else { route.status };
    let bodiless_status = status == 204 || status == 304 || (100..200).contains(&status);
    let user_framing = route.has_header("content-length") || route.has_header("transfer-encoding");
    let close = !keep_alive
        || user_framing
        || route
            .headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close"));

    let body = if bodiless_status {
        Vec::new()
    } else if route.gzip {
        gzip(&route.body)
    } else {
        route.body.clone()
    };

    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in &route.headers {
        if not_modified
            && ["content-type", "content-length", "transfer-encoding"]
                .iter()
                .any(|h| k.eq_ignore_ascii_case(h))
        {
            continue;
        }
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(tag) = &etag {
        head.push_str(&format!("ETag: {tag}\r\n"));
    }
    if route.gzip && !bodiless_status {
        head.push_str("Content-Encoding: gzip\r\n");
    }
    if !user_framing && !bodiless_status {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    if close && !route.has_header("connection") {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;

    if req.method != "HEAD" && !body.is_empty() {
        match route.trickle {
            Some(per_byte) => {
                for (i, byte) in body.iter().enumerate() {
                    if i > 0 {
                        thread::sleep(per_byte);
                    }
                    w.write_all(std::slice::from_ref(byte))?;
                    w.flush()?;
                }
            }
            None => w.write_all(&body)?,
        }
    }
    w.flush()?;
    Ok(close)
}

/// Gzip-compresses `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(data).expect("gzip into Vec");
    enc.finish().expect("gzip into Vec")
}

/// A valid gzip stream that inflates to `decompressed_len` zero bytes while
/// staying about 1000x smaller on the wire. Built fast (even in debug builds)
/// by repeating one independently compressed, sync-flushed 1 MiB deflate
/// block, so a 1 GiB bomb costs roughly 1 MiB and no 1 GiB compression run.
pub fn gzip_bomb(decompressed_len: usize) -> Vec<u8> {
    const CHUNK: usize = 1 << 20;
    let zeros = vec![0u8; CHUNK.min(decompressed_len)];
    // Raw deflate of `len` zeros ending byte-aligned in a non-final block;
    // back-references stay inside the block, so copies can be concatenated.
    let block = |len: usize| -> Vec<u8> {
        let mut enc = DeflateEncoder::new(Vec::new(), Compression::best());
        enc.write_all(&zeros[..len]).expect("deflate into Vec");
        enc.flush().expect("deflate into Vec");
        enc.get_ref().clone()
    };
    let (full, rest) = (decompressed_len / CHUNK, decompressed_len % CHUNK);
    let mut crc = flate2::Crc::new();
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]; // gzip header, no flags
    if full > 0 {
        let b = block(CHUNK);
        let mut chunk_crc = flate2::Crc::new();
        chunk_crc.update(&zeros);
        out.reserve(b.len() * full + 32);
        for _ in 0..full {
            out.extend_from_slice(&b);
            crc.combine(&chunk_crc); // no need to hash every repeated chunk
        }
    }
    if rest > 0 {
        out.extend_from_slice(&block(rest));
        crc.update(&zeros[..rest]);
    }
    out.extend_from_slice(&[0x03, 0x00]); // empty final fixed-Huffman block
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(decompressed_len as u32).to_le_bytes()); // ISIZE is mod 2^32
    out
}
