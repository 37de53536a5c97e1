//! Fetching feed bytes: conditional GET over reqwest, or a local file.
//!
//! Owns HTTP: validators, redirects, timeouts, body caps, server timing hints, and where a
//! fetch may connect ([`policy`]). Returns an explicit [`FetchOutcome`]. Must never parse feeds,
//! touch the database, or read an unbounded body: every byte read counts against the feed's cap.

mod limits;
pub mod policy;
pub mod resolve;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap, HeaderValue};
use url::Url;

use crate::config::{FeedConfig, General};
use crate::model::{FailureKind, PollFailure, Validators};

pub use limits::{BodyLimits, read_capped};
use policy::{AddressClass, Reach, Refusal};
use resolve::{BlockedAddress, Lookup, PolicyResolver, SystemLookup};

/// How many redirects one fetch follows before giving up.
const MAX_REDIRECTS: usize = 5;

/// A successfully fetched body.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The body after decompression.
    pub body: Vec<u8>,
    /// `Content-Type`, for the charset.
    pub content_type: Option<String>,
    /// Validators to store for the next poll.
    pub validators: Validators,
    /// HTTP status (200 for files).
    pub status: u16,
    /// The URL the body came from after redirects.
    pub final_url: Url,
    /// The feed's configured URL.
    pub requested_url: Url,
    /// Set when every redirect on the way was permanent: the feed has moved.
    pub moved_to: Option<Url>,
    /// The server's `max-age`/`Expires` hint.
    pub min_gap: Option<Duration>,
}

impl Fetched {
    /// The address relative links in the body resolve against: where the feed lives, not
    /// where a temporary redirect (a CDN, a mirror) happened to serve it from, so item links
    /// and keys do not change with the route. After a permanent move, the new address.
    pub fn base_url(&self) -> &Url {
        self.moved_to.as_ref().unwrap_or(&self.requested_url)
    }
}

/// The result of one fetch.
#[derive(Debug)]
pub enum FetchOutcome {
    /// New content.
    Fresh(Box<Fetched>),
    /// `304 Not Modified`: nothing to parse.
    NotModified {
        /// The server's `max-age`/`Expires` hint.
        min_gap: Option<Duration>,
    },
    /// The fetch failed; the feed's error is recorded and it is retried later.
    Failed(FetchError),
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Non-success HTTP status.
    #[error("fetch: HTTP {status}{}", retry_after.map(|d| format!(" (server asks to retry after {})", humantime::format_duration(d))).unwrap_or_default())]
    Status {
        /// The status code.
        status: StatusCode,
        /// `Retry-After`, if sent.
        retry_after: Option<Duration>,
    },
    /// Too many redirects or a redirect loop.
    #[error("fetch: too many redirects (more than {MAX_REDIRECTS}); last location {0}")]
    Redirects(String),
    /// A redirect without a usable Location.
    #[error("fetch: redirect without a valid Location header")]
    BadRedirect,
    /// A redirect from `https://` to `http://`, and the feed does not allow them.
    #[error(
        "fetch: refusing the redirect from {from} to {to}: it drops HTTPS; set `allow_insecure_redirect = true` on this feed if the plain-HTTP address is expected"
    )]
    InsecureRedirect {
        /// Where the redirect came from.
        from: Url,
        /// Where it led.
        to: Url,
    },
    /// A redirect to a link-local or cloud metadata address.
    #[error(
        "fetch: refusing the redirect from {from} to {to}: {addr} is a {class}, which a feed may reach only when its configured URL is on one"
    )]
    BlockedRedirect {
        /// Where the redirect came from.
        from: Url,
        /// Where it led.
        to: Url,
        /// The address in `to`.
        addr: IpAddr,
        /// What kind of address it is.
        class: AddressClass,
    },
    /// A host name resolved only to link-local or cloud metadata addresses.
    #[error(
        "fetch: not connecting for {url}: {blocked}; a feed may reach such addresses only when its configured URL is one (an address, not a name)"
    )]
    BlockedAddress {
        /// The URL being fetched.
        url: String,
        /// The name and what it resolved to.
        blocked: BlockedAddress,
    },
    /// Body larger than the cap.
    #[error("fetch: body larger than {} after decompression; raise `max_body_size` for this feed if it is genuine", limits::format_size(*.0))]
    TooLarge(u64),
    /// Timed out or too slow.
    #[error("fetch: {0}")]
    Timeout(String),
    /// The host name could not be resolved.
    #[error("fetch: {0}; check the feed's host name")]
    Dns(String),
    /// The TLS handshake or the certificate check failed.
    #[error("fetch: {0}; check the site's certificate, or use http:// if it has none")]
    Tls(String),
    /// Network or protocol error.
    #[error("fetch: {0}")]
    Transport(String),
    /// Local file unreadable.
    #[error("fetch: cannot read {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The feed's URL scheme is not supported.
    #[error("fetch: unsupported URL scheme {0:?}")]
    Scheme(String),
}

impl FetchError {
    /// The server's requested delay, if it gave one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The class of failure, as recorded on the feed.
    pub fn kind(&self) -> FailureKind {
        match self {
            FetchError::Status { status, .. } => FailureKind::HttpStatus(status.as_u16()),
            FetchError::Redirects(_)
            | FetchError::BadRedirect
            | FetchError::InsecureRedirect { .. }
            | FetchError::BlockedRedirect { .. } => FailureKind::Redirects,
            FetchError::BlockedAddress { .. } => FailureKind::Connection,
            FetchError::TooLarge(_) => FailureKind::TooLarge,
            FetchError::Timeout(_) => FailureKind::Timeout,
            FetchError::Dns(_) => FailureKind::Dns,
            FetchError::Tls(_) => FailureKind::Tls,
            FetchError::Transport(_) => FailureKind::Connection,
            FetchError::File { .. } | FetchError::Scheme(_) => FailureKind::Unreadable,
        }
    }
}

impl From<FetchError> for PollFailure {
    fn from(e: FetchError) -> PollFailure {
        PollFailure {
            kind: e.kind(),
            retry_after: e.retry_after(),
            message: e.to_string(),
        }
    }
}

/// Fetches feeds; holds one HTTP client per distinct proxy and class of configured host.
#[derive(Clone)]
pub struct Fetcher {
    /// Direct, for feeds configured on a name or an ordinary address.
    default: reqwest::Client,
    /// Every other combination the feeds use.
    others: HashMap<ClientKey, reqwest::Client>,
    limits: BodyLimits,
}

/// What a client is built for: the proxy it goes through, and the class of its feeds'
/// configured host, by which its resolver admits addresses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    proxy: Option<Url>,
    configured: AddressClass,
}

impl ClientKey {
    const DEFAULT: ClientKey = ClientKey {
        proxy: None,
        configured: AddressClass::Ordinary,
    };

    fn of(feed: &FeedConfig) -> ClientKey {
        ClientKey {
            proxy: feed.proxy.clone(),
            configured: AddressClass::of_url_host(&feed.url),
        }
    }
}

/// A client could not be built (bad proxy, TLS setup).
#[derive(Debug, thiserror::Error)]
// The proxy is named without its user name and password: a proxy login is a secret too.
#[error("fetch: cannot build HTTP client{}: {source}", proxy.as_ref().map(|p| format!(" for proxy {}", crate::model::without_userinfo(p))).unwrap_or_default())]
pub struct ClientError {
    proxy: Option<Url>,
    #[source]
    source: reqwest::Error,
}

impl Fetcher {
    /// Builds clients for the general settings and every proxy the feeds use, resolving names
    /// with the system resolver.
    pub fn new(general: &General, feeds: &[FeedConfig]) -> Result<Fetcher, ClientError> {
        Fetcher::with_lookup(general, feeds, Arc::new(SystemLookup))
    }

    /// Like [`Fetcher::new`], resolving names with `lookup` (a stub, in tests). Whatever it
    /// answers still goes through the address policy.
    pub fn with_lookup(
        general: &General,
        feeds: &[FeedConfig],
        lookup: Arc<dyn Lookup>,
    ) -> Result<Fetcher, ClientError> {
        let build = |key: &ClientKey| build_client(general, key, Arc::clone(&lookup));
        let mut others = HashMap::new();
        for key in feeds.iter().map(ClientKey::of) {
            if key != ClientKey::DEFAULT && !others.contains_key(&key) {
                let client = build(&key)?;
                others.insert(key, client);
            }
        }
        Ok(Fetcher {
            default: build(&ClientKey::DEFAULT)?,
            others,
            limits: BodyLimits::for_timeout(general.timeout),
        })
    }

    /// Fetches one feed, conditionally when validators are known.
    pub async fn fetch(&self, feed: &FeedConfig, validators: &Validators) -> FetchOutcome {
        match feed.url.scheme() {
            "file" => self.fetch_file(feed).await,
            "http" | "https" => self.fetch_http(feed, validators).await,
            other => FetchOutcome::Failed(FetchError::Scheme(other.to_owned())),
        }
    }

    async fn fetch_file(&self, feed: &FeedConfig) -> FetchOutcome {
        let path = match feed.url.to_file_path() {
            Ok(p) => p,
            Err(()) => return FetchOutcome::Failed(FetchError::Scheme("file".into())),
        };
        let file_err = |source| FetchError::File {
            path: path.display().to_string(),
            source,
        };
        let file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) => return FetchOutcome::Failed(file_err(e)),
        };
        match limits::read_file_capped(file, feed.max_body_size).await {
            Ok(body) => FetchOutcome::Fresh(Box::new(Fetched {
                body,
                content_type: None,
                validators: Validators::default(),
                status: 200,
                final_url: feed.url.clone(),
                requested_url: feed.url.clone(),
                moved_to: None,
                min_gap: None,
            })),
            Err(limits::ReadError::TooLarge(cap)) => {
                FetchOutcome::Failed(FetchError::TooLarge(cap))
            }
            Err(limits::ReadError::Io(e)) => FetchOutcome::Failed(file_err(e)),
            Err(e) => FetchOutcome::Failed(FetchError::Transport(e.to_string())),
        }
    }

    async fn fetch_http(&self, feed: &FeedConfig, validators: &Validators) -> FetchOutcome {
        let headers = RequestHeaders::new(feed, validators);
        let arrived = match follow_redirects(self.client_for(feed), feed, &headers).await {
            Ok(arrived) => arrived,
            Err(e) => return FetchOutcome::Failed(e),
        };
        let now = Utc::now();
        let min_gap = cache_lifetime(arrived.response.headers(), now);
        if let Some(outcome) = without_body(&arrived.response, min_gap, now) {
            return outcome;
        }
        self.read_body(feed, arrived, min_gap).await
    }

    /// The client for the feed's proxy and configured host, or the direct one (whose resolver
    /// admits the fewest addresses) for a feed this fetcher was not built with.
    fn client_for(&self, feed: &FeedConfig) -> &reqwest::Client {
        self.others
            .get(&ClientKey::of(feed))
            .unwrap_or(&self.default)
    }

    /// Reads a successful response's body, within the feed's cap and the throughput limits.
    async fn read_body(
        &self,
        feed: &FeedConfig,
        arrived: Arrived,
        min_gap: Option<Duration>,
    ) -> FetchOutcome {
        let response = arrived.response;
        let header_str = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header_str(header::CONTENT_TYPE);
        let validators = Validators {
            etag: header_str(header::ETAG),
            last_modified: header_str(header::LAST_MODIFIED),
        };
        let status = response.status().as_u16();
        let final_url = response.url().clone();
        match read_capped(response, feed.max_body_size, &self.limits).await {
            Ok(body) => FetchOutcome::Fresh(Box::new(Fetched {
                body,
                content_type,
                validators,
                status,
                moved_to: arrived.moved.then(|| final_url.clone()),
                final_url,
                requested_url: feed.url.clone(),
                min_gap,
            })),
            Err(limits::ReadError::TooLarge(cap)) => {
                FetchOutcome::Failed(FetchError::TooLarge(cap))
            }
            Err(limits::ReadError::TooSlow(why)) => FetchOutcome::Failed(FetchError::Timeout(why)),
            Err(limits::ReadError::Http(e)) => FetchOutcome::Failed(transport_error(&e)),
            Err(limits::ReadError::Io(e)) => {
                FetchOutcome::Failed(FetchError::Transport(e.to_string()))
            }
        }
    }
}

/// A client for `key`: its proxy, and a resolver that applies the address policy.
fn build_client(
    general: &General,
    key: &ClientKey,
    lookup: Arc<dyn Lookup>,
) -> Result<reqwest::Client, ClientError> {
    let mut b = reqwest::Client::builder()
        .user_agent(general.user_agent.clone())
        .connect_timeout(Duration::from_secs(10).min(general.timeout))
        .timeout(general.timeout)
        // Redirects are followed by hand to spot permanent moves and loops, and to check each
        // hop against the policy.
        .redirect(reqwest::redirect::Policy::none())
        // Checked as the connection is made, so DNS cannot change its answer in between.
        .dns_resolver(PolicyResolver::new(lookup, key.configured));
    if let Some(p) = &key.proxy {
        let proxy = reqwest::Proxy::all(p.as_str()).map_err(|source| ClientError {
            proxy: Some(p.clone()),
            source,
        })?;
        b = b.proxy(proxy);
    }
    b.build().map_err(|source| ClientError {
        proxy: key.proxy.clone(),
        source,
    })
}

/// The headers of one fetch. Configured headers (often credentials) and validators are meant
/// for the feed's own origin; a redirect elsewhere gets only the public ones.
struct RequestHeaders {
    public: HeaderMap,
    own: HeaderMap,
}

impl RequestHeaders {
    fn new(feed: &FeedConfig, validators: &Validators) -> RequestHeaders {
        let mut public = HeaderMap::new();
        public.insert(
            header::ACCEPT,
            HeaderValue::from_static(
                "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5",
            ),
        );
        let mut own = public.clone();
        // Replaces, not appends: a configured `Accept` overrides the default one.
        own.extend(feed.headers.clone());
        // Validators were stored from an earlier response; one that is no longer a valid
        // header value only costs an unconditional fetch.
        let validator =
            |v: &Option<String>| v.as_deref().and_then(|v| HeaderValue::from_str(v).ok());
        if let Some(etag) = validator(&validators.etag) {
            own.insert(header::IF_NONE_MATCH, etag);
        }
        if let Some(lm) = validator(&validators.last_modified) {
            own.insert(header::IF_MODIFIED_SINCE, lm);
        }
        RequestHeaders { public, own }
    }

    /// The headers for a request to `url` while fetching `feed`.
    fn for_url(&self, url: &Url, feed: &FeedConfig) -> &HeaderMap {
        if url.origin() == feed.url.origin() {
            &self.own
        } else {
            &self.public
        }
    }
}

/// The response the redirects led to.
struct Arrived {
    response: reqwest::Response,
    /// Whether at least one redirect was followed and all were permanent: the feed has moved.
    moved: bool,
}

/// Requests the feed, following up to [`MAX_REDIRECTS`] redirects by hand so that permanent
/// moves and loops are seen.
async fn follow_redirects(
    client: &reqwest::Client,
    feed: &FeedConfig,
    headers: &RequestHeaders,
) -> Result<Arrived, FetchError> {
    let reach = Reach::of(feed);
    let mut url = feed.url.clone();
    let mut all_permanent = true;
    let mut hops = 0;
    loop {
        let response = client
            .get(url.clone())
            .headers(headers.for_url(&url, feed).clone())
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status();
        if !status.is_redirection() || status == StatusCode::NOT_MODIFIED {
            return Ok(Arrived {
                response,
                moved: hops > 0 && all_permanent,
            });
        }
        hops += 1;
        let next = response
            .headers()
            .get(header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| url.join(l).ok())
            .ok_or(FetchError::BadRedirect)?;
        if hops > MAX_REDIRECTS {
            return Err(FetchError::Redirects(next.to_string()));
        }
        policy::check_redirect(&url, &next, reach).map_err(|why| refused(&url, &next, why))?;
        all_permanent &= matches!(
            status,
            StatusCode::MOVED_PERMANENTLY | StatusCode::PERMANENT_REDIRECT
        );
        url = next;
    }
}

/// The outcome of a response with no body worth reading (`304`, or an error status); `None`
/// for a success.
fn without_body(
    response: &reqwest::Response,
    min_gap: Option<Duration>,
    now: DateTime<Utc>,
) -> Option<FetchOutcome> {
    let status = response.status();
    if status == StatusCode::NOT_MODIFIED {
        return Some(FetchOutcome::NotModified { min_gap });
    }
    if status.is_success() {
        return None;
    }
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, now));
    Some(FetchOutcome::Failed(FetchError::Status {
        status,
        retry_after,
    }))
}

/// The error for a redirect [`policy::check_redirect`] refused.
fn refused(from: &Url, to: &Url, why: Refusal) -> FetchError {
    let (from, to) = (from.clone(), to.clone());
    match why {
        Refusal::Downgrade => FetchError::InsecureRedirect { from, to },
        Refusal::Address(addr, class) => FetchError::BlockedRedirect {
            from,
            to,
            addr,
            class,
        },
    }
}

fn transport_error(e: &reqwest::Error) -> FetchError {
    // The full source chain says what actually happened (DNS, refused, TLS …).
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(blocked) = s.downcast_ref::<BlockedAddress>() {
            return FetchError::BlockedAddress {
                url: e.url().map_or_else(String::new, Url::to_string),
                blocked: blocked.clone(),
            };
        }
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_timeout() {
        FetchError::Timeout(msg)
    } else {
        classify_transport(msg)
    }
}

/// Tells DNS and TLS failures from other network trouble. reqwest exposes neither as a
/// predicate, so this reads the markers its connector (hyper-util) and rustls put in the
/// messages of the source chain.
fn classify_transport(msg: String) -> FetchError {
    let lower = msg.to_ascii_lowercase();
    if lower.contains("dns error") || lower.contains("failed to lookup address") {
        FetchError::Dns(msg)
    } else if [
        "certificate",
        "tls handshake",
        "invalid peer",
        "received fatal alert",
    ]
    .iter()
    .any(|m| lower.contains(m))
    {
        FetchError::Tls(msg)
    } else {
        FetchError::Transport(msg)
    }
}

/// `Retry-After`: delta-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = DateTime::parse_from_rfc2822(value).ok()?;
    (when.with_timezone(&Utc) - now).to_std().ok()
}

/// The server's freshness lifetime: `Cache-Control: max-age`, else `Expires`.
pub fn cache_lifetime(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    if let Some(cc) = headers
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
    {
        for directive in cc.split(',') {
            let directive = directive.trim();
            if let Some(v) = directive.strip_prefix("max-age=") {
                return v
                    .trim_matches('"')
                    .parse::<u64>()
                    .ok()
                    .map(Duration::from_secs);
            }
        }
    }
    let expires = headers.get(header::EXPIRES)?.to_str().ok()?;
    let when = DateTime::parse_from_rfc2822(expires).ok()?;
    (when.with_timezone(&Utc) - now).to_std().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 2026 00:10:00 GMT", now),
            Some(Duration::from_secs(600))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn transport_failures_are_told_apart() {
        let kind = |m: &str| classify_transport(m.to_owned()).kind();
        assert_eq!(
            kind(
                "error sending request: client error (Connect): dns error: failed to lookup address information: Name or service not known"
            ),
            FailureKind::Dns
        );
        assert_eq!(
            kind(
                "error sending request: client error (Connect): invalid peer certificate: UnknownIssuer"
            ),
            FailureKind::Tls
        );
        assert_eq!(
            kind(
                "error sending request: client error (Connect): tcp connect error: Connection refused (os error 111)"
            ),
            FailureKind::Connection
        );
    }

    /// A resolver that refuses every name as the policy refuses a metadata address, and never
    /// hands the client an address to connect to.
    struct RefusesAll;

    impl reqwest::dns::Resolve for RefusesAll {
        fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
            let metadata = std::net::SocketAddr::from(([169, 254, 169, 254], 0));
            let verdict = resolve::admit(name.as_str(), vec![metadata], AddressClass::Ordinary);
            Box::pin(async move {
                Err(match verdict {
                    Err(blocked) => blocked.into(),
                    Ok(_) => "the policy admitted a metadata address".into(),
                })
            })
        }
    }

    #[tokio::test]
    async fn a_name_the_resolver_refuses_is_reported_as_blocked() {
        let client = reqwest::Client::builder()
            .dns_resolver(RefusesAll)
            .build()
            .unwrap();
        let e = client
            .get("http://metadata.invalid/latest/")
            .send()
            .await
            .unwrap_err();
        let err = transport_error(&e);
        assert_eq!(err.kind(), FailureKind::Connection);
        assert_eq!(
            err.to_string(),
            "fetch: not connecting for http://metadata.invalid/latest/: metadata.invalid resolves \
             only to 169.254.169.254 (cloud metadata service); a feed may reach such addresses \
             only when its configured URL is one (an address, not a name)"
        );
    }

    #[test]
    fn a_refused_redirect_names_both_urls() {
        let from = Url::parse("https://news.example/rss").unwrap();
        let to = Url::parse("http://news.example/rss").unwrap();
        let err = refused(&from, &to, Refusal::Downgrade);
        assert_eq!(err.kind(), FailureKind::Redirects);
        assert_eq!(
            err.to_string(),
            "fetch: refusing the redirect from https://news.example/rss to http://news.example/rss: \
             it drops HTTPS; set `allow_insecure_redirect = true` on this feed if the plain-HTTP \
             address is expected"
        );
    }

    #[test]
    fn max_age_wins_over_expires() {
        let now = Utc::now();
        let mut h = HeaderMap::new();
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=900"),
        );
        h.insert(
            header::EXPIRES,
            HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"),
        );
        assert_eq!(cache_lifetime(&h, now), Some(Duration::from_secs(900)));
    }
}
