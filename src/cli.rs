//! The command line: `run`, `once`, `check`, `test-match`, `inspect`, `feeds`, `alerts`,
//! `retry`, `notify-test`.
//!
//! Owns argument parsing, human and JSON output, and exit codes (0 ok, 1 "nothing matched" or
//! "something failed but was recorded", 2 usage or config error). Must never contain pipeline
//! logic; each command calls the same code the daemon runs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, DEFAULT_PATH, NotifierName};
use crate::daemon::Daemon;
use crate::fetch::{FetchOutcome, Fetcher};
use crate::matcher::{ItemText, Matcher, WatchlistMatch};
use crate::model::{FeedUrl, Field, Item, Validators};
use crate::parse::{self, ParsedFeed};
use crate::store::{self, Access, AlertRecord, DeliveryRecord, SentAs, SharedStore};
use crate::text::{Escaped, escape_json_controls, html_to_text};

/// `println!` for a line that may carry text from outside (feeds, servers, the database):
/// control characters and line separators are escaped, so the line stays one line and cannot
/// drive the terminal.
macro_rules! outln {
    ($($arg:tt)*) => {
        println!("{}", Escaped(&format!($($arg)*)))
    };
}

/// `eprintln!` with the escaping of [`outln!`].
macro_rules! errln {
    ($($arg:tt)*) => {
        eprintln!("{}", Escaped(&format!($($arg)*)))
    };
}

/// Serialized JSON on stdout, with what a terminal could act on (and JSON allows raw) escaped.
fn print_json(json: &str) {
    println!("{}", escape_json_controls(json));
}

/// Watches RSS, Atom and JSON feeds for the names on your watchlists.
#[derive(Debug, Parser)]
#[command(name = "feedwatch", version, about)]
pub struct Cli {
    /// Config file [default: $FEEDWATCH_CONFIG, else /etc/feedwatch/config.toml]
    #[arg(long, short = 'c', global = true, env = "FEEDWATCH_CONFIG")]
    pub config: Option<PathBuf>,
    /// More log output (-v debug, -vv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Less log output (-q warnings only, -qq errors only).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub quiet: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// `-v` count minus `-q` count.
    pub fn verbosity(&self) -> i8 {
        (self.verbose.min(8) as i8) - (self.quiet.min(8) as i8)
    }

    fn config_path(&self) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH))
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: poll every feed on its schedule and deliver alerts until SIGTERM/SIGINT.
    Run,
    /// One pass: fetch due feeds, match, deliver pending alerts, exit.
    Once {
        /// Fetch every feed, not only those due.
        #[arg(long)]
        all: bool,
    },
    /// Validate the config and watchlists and print a summary (exit 2 on error).
    Check,
    /// Show which watchlists would alert on a text, a file or a feed URL; stores and sends nothing.
    TestMatch(TestMatchArgs),
    /// Fetch or read one feed and show what feedwatch sees in it.
    Inspect {
        /// A feed file or URL.
        source: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// One line per feed: last fetch, status or error, items seen, next due.
    Feeds,
    /// Recent alerts and their delivery state per notifier.
    Alerts {
        /// How far back (e.g. 24h, 7d).
        #[arg(long, default_value = "7d")]
        since: String,
        /// Print one JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Make pending deliveries due now (a running daemon sends them within seconds).
    Retry {
        /// Only this notifier's deliveries.
        #[arg(long)]
        notifier: Option<String>,
    },
    /// Send a test alert through one notifier and report the result.
    NotifyTest {
        /// The notifier's name (`[notifiers.NAME]`).
        notifier: String,
    },
    /// Print exactly what one notifier would send, without sending: the MIME message of an
    /// email, the body of a webhook or chat message.
    Preview {
        /// The notifier's name (`[notifiers.NAME]`).
        notifier: String,
        /// Render the first alert this feed file (or URL) raises, instead of a test alert.
        #[arg(long, value_name = "FEED_FILE")]
        item: Option<String>,
    },
}

impl Command {
    /// Whether the command sends or fetches, and so needs every secret the config names.
    /// `check` reports missing secrets itself, beside its other findings.
    fn needs_secrets(&self) -> bool {
        match self {
            Command::Run | Command::Once { .. } | Command::NotifyTest { .. } => true,
            Command::TestMatch(args) => args
                .source
                .as_deref()
                .is_some_and(|s| s.starts_with("http://") || s.starts_with("https://")),
            Command::Check
            | Command::Inspect { .. }
            | Command::Feeds
            | Command::Alerts { .. }
            | Command::Retry { .. }
            | Command::Preview { .. } => false,
        }
    }
}

/// Arguments of `test-match`.
#[derive(Debug, Args)]
pub struct TestMatchArgs {
    /// Match this text instead of a file or URL.
    #[arg(long, conflicts_with = "source")]
    pub text: Option<String>,
    /// A feed or HTML/text file, or a feed URL.
    #[arg(required_unless_present = "text")]
    pub source: Option<String>,
    /// Only this watchlist.
    #[arg(long)]
    pub watchlist: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Show the normalized text and why each watchlist did or did not alert.
    #[arg(long)]
    pub explain: bool,
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let path = cli.config_path();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    if let Command::Inspect { source, json } = cli.command {
        // The config is optional here: it only lends its HTTP settings when it exists.
        let config = Config::load(&path).ok();
        return runtime.block_on(inspect(config.as_ref(), &source, json));
    }
    let Some(config) = load(&path) else {
        return Ok(ExitCode::from(2));
    };
    if cli.command.needs_secrets()
        && let Err(e) = config.require_secrets()
    {
        eprintln!("{e}");
        return Ok(ExitCode::from(2));
    }
    match cli.command {
        Command::Inspect { .. } => unreachable!("inspect returned above"),
        Command::Check => Ok(check(&path, &config, &runtime)),
        Command::Run => {
            let code = runtime.block_on(run_daemon(config));
            // A parse or lookup still running on the blocking pool must not hold up the exit.
            runtime.shutdown_timeout(Duration::from_millis(500));
            code
        }
        Command::Once { all } => runtime.block_on(once(config, all)),
        Command::TestMatch(args) => runtime.block_on(test_match(&config, &args)),
        Command::Feeds => runtime.block_on(feeds(&config)),
        Command::Alerts { since, json } => runtime.block_on(alerts(&config, &since, json)),
        Command::Retry { notifier } => runtime.block_on(retry(&config, notifier.as_deref())),
        Command::NotifyTest { notifier } => runtime.block_on(notify_test(config, &notifier)),
        Command::Preview { notifier, item } => {
            runtime.block_on(preview(&config, &notifier, item.as_deref()))
        }
    }
}

/// Loads the config, printing `FILE:LINE:COL: message` on failure and logging its warnings.
fn load(path: &Path) -> Option<Config> {
    match Config::load(path) {
        Ok(c) => {
            for w in &c.warnings {
                tracing::warn!("{}", Escaped(w));
            }
            Some(c)
        }
        Err(e) => {
            errln!("{e}");
            None
        }
    }
}

fn check(path: &Path, config: &Config, runtime: &tokio::runtime::Runtime) -> ExitCode {
    for exposed in config.secrets.exposed() {
        eprintln!("warning: {exposed}");
    }
    // Every secret that cannot be read, in one run, before anything stops at the first.
    if let Err(e) = config.require_secrets() {
        eprintln!("{e}");
        return ExitCode::from(2);
    }
    // The daemon's own constructors: SMTP URLs usable, TLS set up.
    if let Err(e) = runtime.block_on(async { crate::notify::build_all(config).map(drop) }) {
        errln!("{}: {e}", path.display());
        return ExitCode::from(2);
    }
    let matcher = match Matcher::compile(&config.watchlist_specs()) {
        Ok(m) => m,
        Err(e) => {
            errln!("{}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    outln!("{}: ok", path.display());
    outln!(
        "  {} feeds, {} watchlists, {} terms, {} notifiers ({})",
        config.feeds.len(),
        config.watchlists.len(),
        matcher.term_count(),
        config.notifiers.len(),
        config
            .notifiers
            .values()
            .map(|n| format!("{}: {}", n.name, n.kind.type_name()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    outln!("  database: {}", config.general.database);
    for w in &config.watchlists {
        let scope = if w.feeds.is_empty() {
            "all feeds".to_owned()
        } else {
            format!("{} feed selectors", w.feeds.len())
        };
        let notify: Vec<&str> = w.notify.iter().map(|n| n.0.as_str()).collect();
        outln!(
            "  watchlist {:?}: {} terms, {scope}, notifies {}",
            w.name(),
            w.spec.terms.len(),
            notify.join(", ")
        );
    }
    ExitCode::SUCCESS
}

async fn run_daemon(config: Config) -> Result<ExitCode> {
    let daemon = Daemon::new(config)?;
    spawn_signal_handler(daemon.stop_token())?;
    daemon.run().await?;
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM or SIGINT starts an orderly stop; a second one ends the process at once (alerts not
/// yet delivered stay in the outbox and go out after the next start).
fn spawn_signal_handler(shutdown: CancellationToken) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    tokio::spawn(async move {
        for round in 0..2 {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = int.recv() => tracing::info!("SIGINT received"),
            }
            if round == 0 {
                shutdown.cancel();
            } else {
                tracing::warn!("second signal: stopping now");
                std::process::exit(130);
            }
        }
    });
    Ok(())
}

async fn once(config: Config, all: bool) -> Result<ExitCode> {
    let daemon = Daemon::new(config)?;
    let feeds = daemon.due_feeds(all).await?;
    let report = daemon.once(feeds).await?;
    tracing::info!(
        polled = report.polled,
        failed_feeds = report.failed_feeds,
        new_items = report.new_items,
        alerts = report.alerts,
        sent = report.delivery.sent,
        retrying = report.delivery.retrying,
        "pass complete"
    );
    let d = report.delivery;
    if d.given_up > 0 {
        errln!(
            "feedwatch: {} deliveries were given up (rejected, or failing for 3 days); see `feedwatch alerts`",
            d.given_up
        );
    }
    if report.pending > 0 {
        errln!(
            "feedwatch: {} deliveries are still pending and will be retried; see `feedwatch alerts`",
            report.pending
        );
    }
    if report.held > 0 {
        // Not a failure: they wait for their digest time, or for max_per_hour's window.
        errln!(
            "feedwatch: {} deliveries are held for a digest or by max_per_hour; a later pass after their time sends them",
            report.held
        );
    }
    if d.given_up > 0 || report.pending > 0 {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

async fn notify_test(config: Config, name: &str) -> Result<ExitCode> {
    let key = known_notifier(&config, None, name).await?;
    // Only the notifier: no database, no lock, so this works beside a running daemon.
    let origin = crate::notify::Origin::of(&config);
    let notifier = crate::notify::Notifier::new(&config.notifiers[&key], &origin)?;
    let alert = crate::notify::test_alert();
    match notifier.send(&crate::notify::Message::Alert(&alert)).await {
        Ok(()) => {
            errln!("notifier {name}: test alert sent");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            errln!("notifier {name}: FAILED: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// Prints what notifier `name` would send for the first alert `item` raises (else the test
/// alert), without sending it.
async fn preview(config: &Config, name: &str, item: Option<&str>) -> Result<ExitCode> {
    let key = known_notifier(config, None, name).await?;
    let origin = crate::notify::Origin::of(config);
    let notifier = crate::notify::Notifier::new(&config.notifiers[&key], &origin)?;
    let alert = match item {
        Some(source) => first_alert(config, source).await?,
        None => crate::notify::test_alert(),
    };
    let rendered = notifier.preview(&crate::notify::Message::Alert(&alert))?;
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    // The exact bytes: feed text in them is escaped for the notifier's syntax already, and an
    // email's headers are encoded.
    out.write_all(rendered.as_bytes())?;
    if !rendered.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The alert the first matching item of a feed file or URL raises.
async fn first_alert(config: &Config, source: &str) -> Result<crate::alert::Alert> {
    let matcher = Matcher::compile(&config.watchlist_specs())?;
    let (body, ct, base) = read_source(source, Some(config)).await?;
    let feed = parse::parse_feed(&body, ct.as_deref(), Some(&base))
        .with_context(|| format!("{source} is not a feed"))?;
    let url = crate::model::FeedUrl::new(&url::Url::parse(&base)?);
    let feed_name = config.feed_by_url(&url::Url::parse(&base)?).map_or_else(
        || feed.title.clone().unwrap_or_else(|| base.clone()),
        |f| f.display_name(feed.title.as_deref()).to_owned(),
    );
    feed.items
        .iter()
        .find_map(|item| {
            let matches = matcher.match_item(&ItemText::from_item(item), |_| true);
            matches
                .first()
                .map(|m| crate::alert::Alert::new(&feed_name, &url, item, m))
        })
        .with_context(|| format!("no watchlist matches an item of {source}"))
}

/// Reads a feed from a URL or a path, exactly as a poll would: with the same caps on size (a
/// file is read as a `file://` feed), from the configured feed's settings when it is one.
async fn read_source(
    source: &str,
    config: Option<&Config>,
) -> Result<(Vec<u8>, Option<String>, String)> {
    let url = if source.starts_with("http://") || source.starts_with("https://") {
        url::Url::parse(source)
            .with_context(|| format!("invalid URL {:?}", crate::config::redact_userinfo(source)))?
    } else {
        let path = source.strip_prefix("file://").unwrap_or(source);
        std::path::absolute(path)
            .ok()
            .and_then(|p| url::Url::from_file_path(p).ok())
            .with_context(|| format!("cannot read {path:?}: not a usable file path"))?
    };
    let general = match config {
        Some(c) => c.general.clone(),
        None => Config::from_str_at("", Path::new("inline.toml"))?.general,
    };
    let feed = config
        .and_then(|c| c.feed_by_url(&url).cloned())
        .unwrap_or_else(|| crate::config::FeedConfig {
            // As for a configured feed: a login in the URL travels as a header, never in the
            // URL that messages quote.
            url: crate::model::without_userinfo(&url),
            name: None,
            cadence: crate::schedule::Cadence::Every(general.interval),
            tags: Vec::new(),
            headers: url_login(&url),
            max_body_size: general.max_body_size,
            proxy: None,
            alert_on_first_fetch: false,
            allow_insecure_redirect: false,
        });
    let fetcher = Fetcher::new(&general, std::slice::from_ref(&feed))?;
    match fetcher.fetch(&feed, &Validators::default()).await {
        FetchOutcome::Fresh(f) => Ok((f.body, f.content_type, f.final_url.to_string())),
        FetchOutcome::NotModified { .. } => {
            bail!("fetch: server answered 304 to an unconditional request")
        }
        // The message already names the cause; the error chain would repeat it.
        FetchOutcome::Failed(e) => Err(anyhow::anyhow!("{e}")),
    }
}

/// The `Authorization` header for a user name and password written in `url`, if any.
fn url_login(url: &url::Url) -> reqwest::header::HeaderMap {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some((user, password)) = crate::model::url_login(url) {
        headers.insert(
            reqwest::header::AUTHORIZATION,
            crate::config::basic_auth(&user, password.as_deref()),
        );
    }
    headers
}

async fn inspect(config: Option<&Config>, source: &str, json: bool) -> Result<ExitCode> {
    let parsed = match read_source(source, config).await {
        Ok((body, ct, base)) => {
            parse::parse_feed(&body, ct.as_deref(), Some(&base)).map_err(anyhow::Error::from)
        }
        Err(e) => Err(e),
    };
    match (parsed, json) {
        (Ok(feed), true) => {
            print_json(&inspect_json(&feed).to_string());
            Ok(ExitCode::SUCCESS)
        }
        (Ok(feed), false) => {
            print_inspect(&feed);
            Ok(ExitCode::SUCCESS)
        }
        (Err(e), true) => {
            print_json(&serde_json::json!({"ok": false, "error": format!("{e:#}")}).to_string());
            Ok(ExitCode::from(1))
        }
        (Err(e), false) => {
            errln!("feedwatch: {e:#}");
            Ok(ExitCode::from(1))
        }
    }
}

fn inspect_json(feed: &ParsedFeed) -> serde_json::Value {
    let items: Vec<serde_json::Value> = feed
        .items
        .iter()
        .map(|i| {
            serde_json::json!({
                "id": i.key.as_str(),
                // As the feed has it: text-typed titles may legitimately contain "<" (matching
                // and the text output show the plain text).
                "title": i.title,
                "link": i.link,
                "published": i.published.map(|p| p.to_rfc3339()),
            })
        })
        .collect();
    serde_json::json!({
        "ok": true,
        "format": feed.format.to_string(),
        "title": feed.title,
        "encoding": feed.encoding,
        "warnings": feed.warnings,
        "entries": feed.items.len(),
        "items": items,
    })
}

fn print_inspect(feed: &ParsedFeed) {
    outln!("format:   {}", feed.format);
    outln!("title:    {}", feed.title.as_deref().unwrap_or("(none)"));
    outln!("encoding: {}", feed.encoding);
    for w in &feed.warnings {
        outln!("warning:  {w}");
    }
    outln!("entries:  {}", feed.items.len());
    for item in &feed.items {
        let text = ItemText::from_item(item);
        println!();
        outln!("- id:        {}", item.key);
        outln!("  title:     {}", text.plain(Field::Title));
        outln!("  link:      {}", item.link.as_deref().unwrap_or("(none)"));
        outln!(
            "  published: {}",
            item.published
                .map_or_else(|| "(none)".to_owned(), |p| p.to_rfc3339())
        );
        for field in [
            Field::Summary,
            Field::Content,
            Field::Author,
            Field::Categories,
        ] {
            let t = text.plain(field);
            if !t.is_empty() {
                let short: String = t.chars().take(300).collect();
                let more = if t.chars().count() > 300 { " …" } else { "" };
                outln!("  {field}: {}{more}", short.replace('\n', " ⏎ "));
            }
        }
    }
}

async fn test_match(config: &Config, args: &TestMatchArgs) -> Result<ExitCode> {
    let matcher = Matcher::compile(&config.watchlist_specs())?;
    let only = match &args.watchlist {
        Some(name) => Some(
            config
                .watchlists
                .iter()
                .position(|w| w.name() == name)
                .with_context(|| format!("no watchlist named {name:?}"))?,
        ),
        None => None,
    };
    let items: Vec<Item> = match (&args.text, &args.source) {
        (Some(text), _) => vec![Item {
            title: text.clone(),
            ..Item::default()
        }],
        (None, Some(source)) => {
            let (body, ct, base) = read_source(source, Some(config)).await?;
            match parse::parse_feed(&body, ct.as_deref(), Some(&base)) {
                Ok(feed) => feed.items,
                // Not a feed: match the document itself (an article page, a text file).
                Err(_) => vec![Item {
                    content: String::from_utf8_lossy(&body).into_owned(),
                    ..Item::default()
                }],
            }
        }
        (None, None) => bail!("give --text TEXT, a file or a URL"),
    };
    let applies = |i: usize| only.is_none_or(|o| o == i);
    let mut any = false;
    let mut out = Vec::new();
    for item in &items {
        let text = ItemText::from_item(item);
        let matches = matcher.match_item(&text, applies);
        any |= !matches.is_empty();
        if args.json {
            out.push(serde_json::json!({
                "title": html_to_text(&item.title),
                "link": item.link,
                "matches": matches,
                "explain": args.explain.then(|| matcher.explain(&text, applies)),
            }));
            continue;
        }
        if args.explain {
            print_explain(item, &text, &matcher, &applies);
        } else if !matches.is_empty() {
            print_matches(item, &matches);
        }
    }
    if args.json {
        print_json(&serde_json::to_string_pretty(&out)?);
    } else if !any && !args.explain {
        errln!("no watchlist matched ({} items checked)", items.len());
    }
    Ok(if any {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_matches(item: &Item, matches: &[WatchlistMatch]) {
    let title = html_to_text(&item.title);
    outln!(
        "{}",
        if title.is_empty() {
            "(untitled)"
        } else {
            title.as_str()
        }
    );
    for m in matches {
        outln!("  watchlist {}:", m.name);
        for h in &m.hits {
            outln!("    {} in {}: {}", h.term, h.field, h.snippet.marked_text());
        }
    }
}

fn print_explain(item: &Item, text: &ItemText, matcher: &Matcher, applies: &dyn Fn(usize) -> bool) {
    outln!("item: {}", html_to_text(&item.title));
    for field in Field::ALL {
        let n = text.normalized(field);
        if !n.is_empty() {
            outln!("  normalized {field}: {n}");
        }
    }
    for e in matcher.explain(text, applies) {
        let verdict = if e.alerted { "ALERT" } else { "no alert" };
        outln!("  watchlist {}: {verdict}: {}", e.watchlist, e.reason);
    }
}

/// Opens the database for a read-only command, if it exists: these commands must not create
/// an empty database at a mistyped path and then report that nothing was ever fetched.
fn existing_store(config: &Config) -> Result<Option<SharedStore>> {
    let database = &config.general.database;
    if !store::exists(database) {
        errln!(
            "feedwatch: no database at {database} yet: nothing has been fetched (is `general.database` right?)"
        );
        return Ok(None);
    }
    Ok(Some(store::open(database, Access::Shared)?))
}

async fn feeds(config: &Config) -> Result<ExitCode> {
    let store = existing_store(config)?;
    let now = Utc::now();
    outln!(
        "{:<32} {:<10} {:<28} {:>6} {:<10} URL",
        "FEED",
        "LAST",
        "STATUS",
        "ITEMS",
        "NEXT"
    );
    for feed in &config.feeds {
        let url = FeedUrl::new(&feed.url);
        let state = match &store {
            Some(store) => store.find_feed(&url).await?.unwrap_or_default(),
            None => Default::default(),
        };
        let name = feed.display_name(state.title.as_deref());
        let status = match (&state.last_error, &state.last_status) {
            (Some(err), Some(kind)) => {
                format!("FAILING x{} ({kind}): {err}", state.consecutive_failures)
            }
            (Some(err), None) => format!("FAILING x{}: {err}", state.consecutive_failures),
            (None, Some(s)) => format!("ok ({s})"),
            (None, None) => "never fetched".into(),
        };
        outln!(
            "{:<32} {:<10} {:<28} {:>6} {:<10} {url}",
            truncate(&name, 32),
            ago(state.last_fetch_at, now),
            status,
            state.items_seen,
            until(state.next_due_at, now),
        );
        let rhythm = match &store {
            Some(store) if state.last_success_at.is_some() => store.item_rhythm(state.id).await?,
            _ => None,
        };
        if let Some(quiet) = rhythm.and_then(|r| {
            crate::schedule::silent_for(r.first_seen, r.last_new, r.new_since_first, now)
        }) {
            outln!(
                "  ↳ silent: nothing new for {}; has the site moved its feed?",
                short(quiet)
            );
        }
        if let Some(moved) = &state.moved_to {
            outln!("  ↳ permanently moved to {moved}: update the feed's url");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn alerts(config: &Config, since: &str, json: bool) -> Result<ExitCode> {
    let span = humantime::parse_duration(since)
        .with_context(|| format!("invalid --since {since:?}; write e.g. 24h or 7d"))?;
    let Some(store) = existing_store(config)? else {
        if json {
            print_json("[]");
        }
        return Ok(ExitCode::SUCCESS);
    };
    let since_t = chrono::Duration::from_std(span)
        .ok()
        .and_then(|d| Utc::now().checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let rows = store.alerts_since(since_t).await?;
    if json {
        let out: Vec<serde_json::Value> = rows.iter().map(alert_json).collect();
        print_json(&serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        outln!("no alerts in the last {}", humantime::format_duration(span));
    }
    let now = Utc::now();
    for a in rows {
        outln!(
            "{}  {}  [{}] {}",
            a.created_at.format("%Y-%m-%d %H:%M"),
            a.id,
            a.watchlist,
            a.title
        );
        if let Some(link) = &a.link {
            outln!("    {link}");
        }
        for d in &a.deliveries {
            outln!(
                "    {} {} {}",
                d.notifier,
                d.state.as_str(),
                delivery_detail(d, now)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What `alerts` says after a delivery's state: when it was sent, or, while pending, when it is
/// next tried and why the last attempt failed.
fn delivery_detail(d: &DeliveryRecord, now: DateTime<Utc>) -> String {
    let time = |t: &DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S").to_string();
    if let (None, Some(held)) = (&d.sent_at, &d.held_until)
        && *held > now
        && d.next_attempt_at.is_none_or(|next| next <= *held)
    {
        return format!("held until {} ({})", time(held), until(Some(*held), now));
    }
    match (&d.sent_at, &d.next_attempt_at, &d.last_error) {
        (Some(t), _, _) => match d.sent_as {
            Some(SentAs::Summary) => format!("at {} (sent in a summary)", time(t)),
            Some(SentAs::Digest) => format!("at {} (sent in a digest)", time(t)),
            Some(SentAs::Single) | None => format!("at {}", time(t)),
        },
        (None, Some(next), error) => {
            let when = if *next <= now {
                "due now".to_owned()
            } else {
                format!("next try {} ({})", time(next), until(Some(*next), now))
            };
            match error {
                Some(e) => format!("{when}; after {} attempts: {e}", d.attempts),
                None => when,
            }
        }
        (None, None, Some(e)) => format!("after {} attempts: {e}", d.attempts),
        (None, None, None) => String::new(),
    }
}

/// One alert of `alerts --json`: times in RFC 3339, absent values as `null`.
fn alert_json(a: &AlertRecord) -> serde_json::Value {
    let deliveries: Vec<serde_json::Value> = a
        .deliveries
        .iter()
        .map(|d| {
            serde_json::json!({
                "notifier": d.notifier.0,
                "state": d.state.as_str(),
                "attempts": d.attempts,
                "last_error": d.last_error,
                "sent_at": d.sent_at.map(|t| t.to_rfc3339()),
                "next_attempt_at": d.next_attempt_at.map(|t| t.to_rfc3339()),
                "sent_as": d.sent_as.map(SentAs::as_str),
                "held_until": d.held_until.map(|t| t.to_rfc3339()),
            })
        })
        .collect();
    serde_json::json!({
        "id": a.id.to_string(),
        "watchlist": a.watchlist,
        "created_at": a.created_at.to_rfc3339(),
        "title": a.title,
        "link": a.link,
        "feed_url": a.feed_url.to_string(),
        "deliveries": deliveries,
    })
}

/// Makes pending deliveries due now, in one short write that waits out a running daemon's.
async fn retry(config: &Config, notifier: Option<&str>) -> Result<ExitCode> {
    let store = existing_store(config)?;
    let notifier = match notifier {
        None => None,
        Some(name) => Some(known_notifier(config, store.as_ref(), name).await?),
    };
    let Some(store) = store else {
        return Ok(ExitCode::SUCCESS);
    };
    let n = store.retry_now(notifier.as_ref(), Utc::now()).await?;
    let whose = notifier.map_or(String::new(), |n| format!(" of notifier {n}"));
    outln!("pending deliveries{whose} due now: {n}");
    Ok(ExitCode::SUCCESS)
}

/// `name` as a notifier the config defines or, given a `store`, one it still holds pending
/// deliveries for (since removed from the config); otherwise an error listing both.
async fn known_notifier(
    config: &Config,
    store: Option<&SharedStore>,
    name: &str,
) -> Result<NotifierName> {
    let key = NotifierName(name.to_owned());
    if config.notifiers.contains_key(&key) {
        return Ok(key);
    }
    let pending = match store {
        Some(store) => store.pending_notifiers().await?,
        None => Vec::new(),
    };
    if pending.contains(&key) {
        return Ok(key);
    }
    let known: Vec<&str> = config.notifiers.keys().map(|k| k.0.as_str()).collect();
    let removed: Vec<&str> = pending
        .iter()
        .map(|k| k.0.as_str())
        .filter(|k| !known.contains(k))
        .collect();
    let mut list = known.join(", ");
    if !removed.is_empty() {
        list.push_str(&format!(
            "; with pending deliveries but no longer defined: {}",
            removed.join(", ")
        ));
    }
    bail!("no notifier named {name:?}; defined: {list}");
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

fn ago(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    t.map_or_else(
        || "never".into(),
        |t| format!("{} ago", short((now - t).to_std().unwrap_or_default())),
    )
}

fn until(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match t {
        None => "now".into(),
        Some(t) if t <= now => "now".into(),
        Some(t) => format!("in {}", short((t - now).to_std().unwrap_or_default())),
    }
}

fn short(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}
