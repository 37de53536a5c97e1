//! The fake web server: hyper serving HTTP/1.1 on 127.0.0.1 from a tokio runtime of its own,
//! answering from [`Route`]s set at run time (ETags, redirects, errors, delays, trickling,
//! gzipped or bomb bodies) and recording every request, webhook POSTs included.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flate2::Compression;
use flate2::write::{DeflateEncoder, GzEncoder};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::header::{
    CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION,
};
use hyper::{HeaderMap, Method, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;

use super::{lock, wait_until};

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// One request as received by [`HttpServer`].
#[derive(Clone, Debug)]
pub struct Request {
    pub method: Method,
    pub uri: Uri,
    headers: HeaderMap,
    pub body: Bytes,
}

impl Request {
    /// The first header with this name (case-insensitive), if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }
}

/// What [`HttpServer`] answers on a path.
#[derive(Clone, Debug)]
pub struct Route {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    /// Served as `ETag`; a matching `If-None-Match` gets `304` with no body.
    etag: Option<String>,
    /// Wait before answering.
    delay: Duration,
    /// Send the body this many bytes at a time, waiting this long between them.
    trickle: Option<(usize, Duration)>,
    /// Gzip-encode the body and send `Content-Encoding: gzip`.
    gzip: bool,
}

impl Route {
    /// This status with an empty body and no extra headers.
    pub fn status(code: u16) -> Route {
        Route {
            status: StatusCode::from_u16(code).expect("a valid HTTP status"),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            etag: None,
            delay: Duration::ZERO,
            trickle: None,
            gzip: false,
        }
    }

    /// `200` with this body and `Content-Type`.
    pub fn ok(body: impl Into<Bytes>, content_type: &str) -> Route {
        let mut route = Route::status(200).with_header(CONTENT_TYPE.as_str(), content_type);
        route.body = body.into();
        route
    }

    /// `200 application/rss+xml`.
    pub fn rss(body: &str) -> Route {
        Route::ok(body.to_owned(), "application/rss+xml")
    }

    /// A redirect (`301`, `302`, ...) to `location`, relative (`/other`) or absolute.
    pub fn redirect(code: u16, location: &str) -> Route {
        Route::status(code).with_header(LOCATION.as_str(), location)
    }

    /// Serves `ETag: "etag"` and answers `304 Not Modified` without a body when the request's
    /// `If-None-Match` names it.
    pub fn with_etag(mut self, etag: &str) -> Route {
        self.etag = Some(format!("\"{etag}\""));
        self
    }

    /// Sets a response header, replacing one of the same name.
    pub fn with_header(mut self, name: &str, value: &str) -> Route {
        self.headers.insert(
            hyper::header::HeaderName::from_bytes(name.as_bytes()).expect("a valid header name"),
            value.parse().expect("a valid header value"),
        );
        self
    }

    /// Answers with this body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Route {
        self.body = body.into();
        self
    }

    /// Waits this long before answering.
    pub fn with_delay(mut self, delay: Duration) -> Route {
        self.delay = delay;
        self
    }

    /// Sends the body `bytes` at a time, `every` so often, under its full `Content-Length`.
    pub fn with_trickle(mut self, bytes: usize, every: Duration) -> Route {
        self.trickle = Some((bytes.max(1), every));
        self
    }

    /// Sends the body gzip-encoded, with `Content-Encoding: gzip`.
    pub fn gzipped(mut self) -> Route {
        self.gzip = true;
        self
    }

    fn response(&self, request: &Request) -> Response<Body> {
        let mut response = Response::new(Full::default().boxed_unsync());
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers.clone();
        if let Some(etag) = &self.etag {
            let headers = response.headers_mut();
            headers.insert(ETAG, etag.parse().expect("a valid ETag"));
            let validators = request.header(IF_NONE_MATCH.as_str()).unwrap_or_default();
            if validators.split(',').any(|v| v.trim() == etag) {
                headers.remove(CONTENT_TYPE);
                *response.status_mut() = StatusCode::NOT_MODIFIED;
                return response;
            }
        }
        let body = if self.gzip {
            response.headers_mut().insert(
                CONTENT_ENCODING,
                "gzip".parse().expect("a valid header value"),
            );
            gzip(&self.body).into()
        } else {
            self.body.clone()
        };
        *response.body_mut() = match self.trickle {
            Some((bytes, every)) => {
                // A streamed body would go out chunked: keep the length a real server sends.
                response
                    .headers_mut()
                    .insert(CONTENT_LENGTH, body.len().into());
                trickle(body, bytes, every)
            }
            None => Full::new(body).boxed_unsync(),
        };
        response
    }
}

/// A body that arrives `bytes` at a time, `every` so often.
fn trickle(body: Bytes, bytes: usize, every: Duration) -> Body {
    let chunks = futures_util::stream::unfold((body, true), move |(mut rest, first)| async move {
        if rest.is_empty() {
            return None;
        }
        if !first {
            tokio::time::sleep(every).await;
        }
        let chunk = rest.split_to(bytes.min(rest.len()));
        Some((Ok(Frame::data(chunk)), (rest, false)))
    });
    StreamBody::new(chunks).boxed_unsync()
}

#[derive(Default)]
struct Shared {
    routes: Mutex<HashMap<String, Route>>,
    /// One-off answers per path, used up in order before the path's route.
    queued: Mutex<HashMap<String, VecDeque<Route>>>,
    requests: Mutex<Vec<Request>>,
    /// Per path, a check of each request's payload, as a platform validates what it is sent.
    checks: Mutex<HashMap<String, Check>>,
    /// Per path, what the check found wrong, one entry per refused request.
    refused: Mutex<HashMap<String, Vec<String>>>,
}

/// A platform's payload check: `Err` says what the platform would refuse.
pub type Check = fn(&Request) -> Result<(), String>;

impl Shared {
    async fn answer(&self, request: hyper::Request<Incoming>) -> hyper::Result<Response<Body>> {
        let (head, body) = request.into_parts();
        let request = Request {
            method: head.method,
            uri: head.uri,
            headers: head.headers,
            body: body.collect().await?.to_bytes(),
        };
        // Recorded before any delay, so a test sees a request that is still being answered.
        lock(&self.requests).push(request.clone());
        let check = lock(&self.checks).get(request.uri.path()).copied();
        if let Some(Err(why)) = check.map(|check| check(&request)) {
            lock(&self.refused)
                .entry(request.uri.path().to_owned())
                .or_default()
                .push(why.clone());
            let mut refusal = Route::status(400).response(&request);
            *refusal.body_mut() = Full::new(Bytes::from(why)).boxed_unsync();
            return Ok(refusal);
        }
        let queued = lock(&self.queued)
            .get_mut(request.uri.path())
            .and_then(VecDeque::pop_front);
        let route = queued.or_else(|| lock(&self.routes).get(request.uri.path()).cloned());
        let route = route.unwrap_or_else(|| match request.method {
            Method::GET | Method::HEAD => Route::status(404),
            // Webhook POSTs to an unrouted path are accepted.
            _ => Route::status(200),
        });
        tokio::time::sleep(route.delay).await;
        Ok(route.response(&request))
    }
}

/// An HTTP/1.1 server on 127.0.0.1:0 serving the routes set on it and recording every request.
///
/// Routes match the request path; a query string is ignored. Unrouted `GET`/`HEAD` get
/// `404`; any other unrouted method gets `200` with an empty body. Dropping the server stops it
/// and cuts every open connection.
pub struct HttpServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// Runs the server on a thread of its own; dropping it ends every task.
    _runtime: tokio::runtime::Runtime,
}

impl HttpServer {
    pub fn start() -> HttpServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("http-fake")
            .enable_all()
            .build()
            .expect("a runtime for the HTTP fake");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind the HTTP fake");
        let addr = listener.local_addr().expect("the HTTP fake's address");
        let shared = Arc::new(Shared::default());
        runtime.spawn(serve(listener, Arc::clone(&shared)));
        HttpServer {
            addr,
            shared,
            _runtime: runtime,
        }
    }

    /// `http://127.0.0.1:PORT/path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, normalize_path(path))
    }

    /// Adds or replaces the route for `path` (takes effect for the next request).
    pub fn set(&self, path: &str, route: Route) {
        lock(&self.shared.routes).insert(normalize_path(path), route);
    }

    /// The next requests to `path` get these answers, one each in order; then its route again.
    pub fn queue(&self, path: &str, routes: impl IntoIterator<Item = Route>) {
        lock(&self.shared.queued)
            .entry(normalize_path(path))
            .or_default()
            .extend(routes);
    }

    /// Checks every later request to `path` with `check`, answering `400` with its complaint
    /// when it fails, before any route or queued answer.
    pub fn check(&self, path: &str, check: Check) {
        lock(&self.shared.checks).insert(normalize_path(path), check);
    }

    /// What the check of `path` refused, one entry per refused request.
    pub fn refused(&self, path: &str) -> Vec<String> {
        lock(&self.shared.refused)
            .get(&normalize_path(path))
            .cloned()
            .unwrap_or_default()
    }

    /// Recorded requests to `path` (whatever their query string), in arrival order.
    pub fn requests(&self, path: &str) -> Vec<Request> {
        let path = normalize_path(path);
        lock(&self.shared.requests)
            .iter()
            .filter(|r| r.uri.path() == path)
            .cloned()
            .collect()
    }

    pub fn hits(&self, path: &str) -> usize {
        self.requests(path).len()
    }

    /// Waits until `path` has at least `n` requests or `timeout` passes; returns the requests
    /// seen so far either way.
    pub fn wait_for(&self, path: &str, n: usize, timeout: Duration) -> Vec<Request> {
        wait_until(timeout, || {
            Some(self.requests(path)).filter(|r| r.len() >= n)
        })
        .unwrap_or_else(|| self.requests(path))
    }
}

async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors, say: let the test's client time out rather than spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|request| {
                let shared = Arc::clone(&shared);
                async move { shared.answer(request).await }
            });
            // Clients hanging up mid-body (bombs, trickles) are what some tests are about.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn normalize_path(path: &str) -> String {
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    }
}

/// Gzip-compresses `data`.
fn gzip(data: &[u8]) -> Vec<u8> {
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
