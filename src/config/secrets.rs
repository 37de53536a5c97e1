//! Secrets the config names: where each is read from, reading them once at load, and which
//! files expose them to other users.
//!
//! Owns [`Secret`] (a value `Debug` never prints), [`SecretSource`] and the rule for relative
//! secret files (systemd's `$CREDENTIALS_DIRECTORY` when it is set, else beside the config
//! file), URL userinfo, and the permission audit `check` runs. Must never put a secret's value
//! in an error, a warning or `Debug` output: messages name the variable, the file or the
//! config location instead.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use reqwest::header::HeaderValue;
use url::Url;

use super::error::Location;

/// The prefix of a Standard Webhooks signing secret.
const SIGNING_KEY_PREFIX: &str = "whsec_";
/// Shortest signing key accepted, in bytes: the Standard Webhooks spec asks for 24 to 64
/// random bytes (192 to 512 bits); a shorter key is guessable, and receivers' libraries refuse
/// one outside that range.
const SIGNING_KEY_MIN: usize = 24;
/// Longest signing key accepted, in bytes (see [`SIGNING_KEY_MIN`]).
const SIGNING_KEY_MAX: usize = 64;
/// What to write as a signing secret, for messages.
const WRITE_SIGNING_KEY: &str = "write `whsec_` followed by the base64 of 24 to 64 random bytes, \
     e.g. the output of `echo \"whsec_$(head -c 32 /dev/urandom | base64)\"`";

/// The HMAC key of a webhook's Standard Webhooks signing secret: the bytes the base64 after
/// `whsec_` stands for. `Debug` never prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey(Secret<Vec<u8>>);

impl SigningKey {
    /// The key of `text`, a secret written `whsec_<base64>` whose key is 24 to 64 bytes long
    /// (the Standard Webhooks range); the error says what is wrong and what to write,
    /// never quoting the value.
    pub fn parse(text: &str) -> Result<SigningKey, String> {
        use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
        // Padding optional: secrets are often copied without their trailing `=`.
        const LENIENT: GeneralPurpose = GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
        );
        let Some(encoded) = text.trim().strip_prefix(SIGNING_KEY_PREFIX) else {
            return Err(format!(
                "not a Standard Webhooks secret (no `{SIGNING_KEY_PREFIX}` prefix); {WRITE_SIGNING_KEY}"
            ));
        };
        let key = LENIENT.decode(encoded).map_err(|_| {
            format!(
                "the part after `{SIGNING_KEY_PREFIX}` is not valid base64; {WRITE_SIGNING_KEY}"
            )
        })?;
        if !(SIGNING_KEY_MIN..=SIGNING_KEY_MAX).contains(&key.len()) {
            return Err(format!(
                "the key is {} bytes long; {WRITE_SIGNING_KEY}",
                key.len()
            ));
        }
        Ok(SigningKey(Secret::new(key)))
    }

    /// The key's bytes, for computing a signature (never for logging).
    pub fn expose(&self) -> &[u8] {
        self.0.expose()
    }
}

/// A value that may hold a credential (a URL with a token, a password); `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Secret<T> {
        Secret(value)
    }

    /// The value itself, for use (never for logging).
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where a secret (a password, a signing key, a header value) is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable.
    Env(String),
    /// A file (its first line), named by an absolute path or relative to the config file.
    File(PathBuf),
    /// A file name relative to systemd's `$CREDENTIALS_DIRECTORY` (`LoadCredential=`), which
    /// is where relative secret files are read from when systemd sets that variable.
    Credential {
        /// The name as written, which is the credential's name in the unit.
        name: String,
        /// `$CREDENTIALS_DIRECTORY/name`.
        path: PathBuf,
    },
}

/// The environment variable systemd points at a unit's credentials.
const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

impl SecretSource {
    /// The source for a `*_file` setting written as `raw` in a config file in `dir`: absolute
    /// paths as written; relative ones in `$CREDENTIALS_DIRECTORY` when systemd set it, else
    /// beside the config file.
    pub fn file(raw: &str, dir: &Path) -> SecretSource {
        let written = Path::new(raw);
        if written.is_absolute() {
            return SecretSource::File(written.to_path_buf());
        }
        match std::env::var_os(CREDENTIALS_DIRECTORY).filter(|d| !d.is_empty()) {
            Some(credentials) => SecretSource::Credential {
                name: raw.to_owned(),
                path: Path::new(&credentials).join(written),
            },
            None => SecretSource::File(dir.join(written)),
        }
    }

    /// The file this secret is read from, if it is read from one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            SecretSource::Env(_) => None,
            SecretSource::File(path) | SecretSource::Credential { path, .. } => Some(path),
        }
    }

    /// Reads the secret now: the variable's value, or the file's first line. An empty value
    /// counts as missing: it is almost always a placeholder left unfilled.
    pub fn read(&self) -> Result<String, String> {
        let value = self.read_possibly_empty()?;
        if value.is_empty() {
            return Err(self.empty());
        }
        Ok(value)
    }

    /// The value as [`read`](Self::read) finds it, empty or not.
    fn read_possibly_empty(&self) -> Result<String, String> {
        Ok(match self {
            SecretSource::Env(var) => std::env::var(var).map_err(|_| {
                format!("environment variable {var} is not set; set it in the service's environment (e.g. /etc/feedwatch/env) or in the shell that runs feedwatch")
            })?,
            SecretSource::File(path) => first_line(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
            SecretSource::Credential { name, path } => first_line(path).map_err(|e| {
                format!(
                    "cannot read {}: {e}; relative secret files are read from ${CREDENTIALS_DIRECTORY} when systemd sets it: add `LoadCredential={name}:/etc/feedwatch/{name}` to the unit",
                    path.display()
                )
            })?,
        })
    }

    /// Why an empty value is refused: `environment variable X is empty`, `FILE is empty`.
    fn empty(&self) -> String {
        match self {
            SecretSource::Env(var) => format!("environment variable {var} is empty"),
            _ => format!(
                "{} is empty",
                self.path().unwrap_or(Path::new("")).display()
            ),
        }
    }
}

fn first_line(path: &Path) -> std::io::Result<String> {
    let text = std::fs::read_to_string(path)?;
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

/// A secret as read when the config was loaded: its value, or why it could not be read.
#[derive(Debug, Clone)]
pub struct SecretValue(Result<Secret<String>, MissingSecret>);

impl SecretValue {
    /// A secret written into the config itself.
    pub fn given(value: String) -> SecretValue {
        SecretValue(Ok(Secret::new(value)))
    }

    /// The value, for use (never for logging), or what is missing.
    pub fn expose(&self) -> Result<&str, &MissingSecret> {
        self.0.as_ref().map(|s| s.expose().as_str())
    }
}

/// A URL that holds a credential (a chat webhook's token), as read when the config was loaded:
/// the parsed URL, or why it could not be read or used.
#[derive(Debug, Clone)]
pub struct SecretUrl(Result<Secret<Url>, MissingSecret>);

impl SecretUrl {
    /// A URL written into the config itself.
    pub fn given(url: Url) -> SecretUrl {
        SecretUrl(Ok(Secret::new(url)))
    }

    /// The URL, for use (never for logging), or what is missing.
    pub fn expose(&self) -> Result<&Url, &MissingSecret> {
        self.0.as_ref().map(Secret::expose)
    }
}

/// A secret the config names that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {what}: {problem}")]
pub struct MissingSecret {
    /// Where the config names it.
    pub location: Location,
    /// Whose secret it is (`SMTP password of notifier "desk"`).
    pub what: String,
    /// Why it could not be read, and what to do.
    pub problem: String,
}

/// A secret written into a config file itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineSecret {
    /// Where.
    pub location: Location,
    /// Whose secret it is.
    pub what: String,
}

/// Every secret the config names, as found while loading it: what could not be read, what is
/// written into a config file, and which files secrets come from.
#[derive(Debug, Clone, Default)]
pub struct SecretInventory {
    /// Secrets that could not be read; empty when the config is ready to run.
    pub missing: Vec<MissingSecret>,
    /// Secrets written into a config file.
    pub inline: Vec<InlineSecret>,
    /// Files secrets are read from, with whose secret each holds.
    pub files: Vec<(PathBuf, String)>,
}

impl SecretInventory {
    /// Reads the secret `what`, named at `location`, recording a failure to read it.
    pub(super) fn read(
        &mut self,
        location: Location,
        what: String,
        source: &SecretSource,
    ) -> SecretValue {
        SecretValue(self.read_as(location, what, source, |s| Ok(Secret::new(s))))
    }

    /// Reads the secret `what` as [`read`](Self::read) does, and converts it; a value
    /// `convert` refuses is recorded as missing, with its reason.
    pub(super) fn read_as<T>(
        &mut self,
        location: Location,
        what: String,
        source: &SecretSource,
        convert: impl FnOnce(String) -> Result<T, String>,
    ) -> Result<T, MissingSecret> {
        let read = source.read().and_then(convert);
        self.record(location, what, source, read)
    }

    /// Reads a webhook's Standard Webhooks signing secret (`whsec_` and base64) as its key; a
    /// value that is empty or not of that form is recorded as missing, with what to write.
    pub(super) fn read_signing_key(
        &mut self,
        location: Location,
        what: String,
        source: &SecretSource,
    ) -> Result<SigningKey, MissingSecret> {
        let read = source.read_possibly_empty().and_then(|text| {
            if text.is_empty() {
                Err(format!("{}; {WRITE_SIGNING_KEY}", source.empty()))
            } else {
                SigningKey::parse(&text)
            }
        });
        self.record(location, what, source, read)
    }

    /// Notes the file a secret comes from, and a secret that could not be read.
    fn record<T>(
        &mut self,
        location: Location,
        what: String,
        source: &SecretSource,
        read: Result<T, String>,
    ) -> Result<T, MissingSecret> {
        if let Some(path) = source.path() {
            self.files.push((path.to_path_buf(), what.clone()));
        }
        let value = read.map_err(|problem| MissingSecret {
            location,
            what,
            problem,
        });
        if let Err(missing) = &value {
            self.missing.push(missing.clone());
        }
        value
    }

    /// Reads the URL `what`, named at `location`, checking it with `parse`; a value that cannot
    /// be read or is refused is recorded as missing, with its reason.
    pub(super) fn read_url(
        &mut self,
        location: Location,
        what: String,
        source: &SecretSource,
        parse: impl FnOnce(&str) -> Result<Url, String>,
    ) -> SecretUrl {
        SecretUrl(self.read_as(location, what, source, |s| parse(s.trim()).map(Secret::new)))
    }

    /// Records a secret written into a config file.
    pub(super) fn inline(&mut self, location: Location, what: String) {
        self.inline.push(InlineSecret { location, what });
    }

    /// Config files holding a secret, and secret files, that users other than the owner can
    /// read, one warning each (reads the files' modes).
    pub fn exposed(&self) -> Vec<Exposure> {
        let mut seen: Vec<&Path> = Vec::new();
        let inline = self
            .inline
            .iter()
            .map(|s| (s.location.file.as_path(), &s.what, Some(&s.location)));
        let files = self.files.iter().map(|(p, what)| (p.as_path(), what, None));
        let mut found = Vec::new();
        for (file, what, location) in inline.chain(files) {
            if seen.contains(&file) {
                continue;
            }
            seen.push(file);
            let Ok(meta) = std::fs::metadata(file) else {
                continue;
            };
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o044 != 0 {
                found.push(Exposure {
                    file: file.to_path_buf(),
                    mode,
                    what: what.clone(),
                    location: location.cloned(),
                });
            }
        }
        found
    }
}

/// A file with a secret in it that its group or other users can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    /// The file.
    pub file: PathBuf,
    /// Its permission bits.
    pub mode: u32,
    /// The first secret it holds.
    pub what: String,
    /// Where in the file, for a config file.
    pub location: Option<Location>,
}

impl fmt::Display for Exposure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = match (self.mode & 0o040 != 0, self.mode & 0o004 != 0) {
            (true, true) => "its group and all other users",
            (true, false) => "its group",
            _ => "all other users",
        };
        write!(
            f,
            "{}: readable by {who} (mode {:04o}) and holds the {}",
            self.file.display(),
            self.mode,
            self.what
        )?;
        match &self.location {
            Some(at) => write!(
                f,
                " (at {at}); move the secret out of the config (its `*_env` or `*_file` key, or `{{ env = \"…\" }}` / `{{ file = \"…\" }}` for a header) or make the file unreadable to others"
            ),
            None => write!(f, "; run `chmod 600 {}`", self.file.display()),
        }
    }
}

/// `text` with anything between `scheme://` and an `@` in the authority replaced by `***`,
/// for quoting a URL that did not parse in an error.
pub fn redact_userinfo(text: &str) -> String {
    let Some(start) = text.find("://").map(|i| i + 3) else {
        return text.to_owned();
    };
    let authority_end = text[start..]
        .find(['/', '?', '#'])
        .map_or(text.len(), |i| start + i);
    match text[start..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &text[..start], &text[start + at..]),
        None => text.to_owned(),
    }
}

/// `Authorization: Basic …` for these credentials (RFC 7617), marked sensitive.
pub fn basic_auth(username: &str, password: Option<&str>) -> HeaderValue {
    let pair = format!("{username}:{}", password.unwrap_or_default());
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
        .unwrap_or_else(|_| unreachable!("base64 is visible ASCII"));
    value.set_sensitive(true);
    value
}

/// Whether a header with this name usually carries a credential, so an inline value of it
/// counts as a secret written into the config.
pub fn is_credential_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "cookie"
        || [
            "auth",
            "token",
            "key",
            "secret",
            "pass",
            "session",
            "signature",
            "credential",
        ]
        .iter()
        .any(|word| name.contains(word))
}

/// Whether a webhook URL carries a token: userinfo, or a path segment or query value of 16 or
/// more characters that mixes letters and digits (how Slack, Discord and Teams hooks look).
pub fn url_has_token(url: &Url) -> bool {
    !url.username().is_empty() || !url_secrets(url).is_empty()
}

/// The parts of `url` that look like a credential: its password, and path segments and query
/// values long enough and mixed enough to be a token (`/services/T0/B0/XXXX…`, `?token=…`).
pub fn url_secrets(url: &Url) -> Vec<String> {
    let tokenish = |s: &str| {
        s.len() >= 16
            && s.chars().any(|c| c.is_ascii_digit())
            && s.chars().any(|c| c.is_ascii_alphabetic())
    };
    let mut secrets: Vec<String> = url.password().map(str::to_owned).into_iter().collect();
    secrets.extend(
        url.path_segments()
            .into_iter()
            .flatten()
            .filter(|s| tokenish(s))
            .map(str::to_owned),
    );
    secrets.extend(
        url.query_pairs()
            .filter(|(_, v)| tokenish(v))
            .map(|(_, v)| v.into_owned()),
    );
    secrets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_s_tokens_are_its_secrets() {
        let url = Url::parse(
            "https://u:pw@hooks.example.org/services/T0/abcdef0123456789xyz?key=k1&token=AIzaSyDdI0hCZtE6vySjMm",
        )
        .unwrap();
        assert_eq!(
            url_secrets(&url),
            ["pw", "abcdef0123456789xyz", "AIzaSyDdI0hCZtE6vySjMm"].map(String::from),
            "short values such as key=k1 are no credential, and would blank ordinary words"
        );
        assert!(url_has_token(&url));
        assert!(!url_has_token(
            &Url::parse("https://example.org/hook?x=1").unwrap()
        ));
    }
    use crate::model::without_userinfo;

    #[test]
    fn userinfo_is_removed_and_redacted() {
        let url = Url::parse("https://user:p%40ss@example.org:8443/feed?x=1").unwrap();
        assert_eq!(
            without_userinfo(&url).as_str(),
            "https://example.org:8443/feed?x=1"
        );
        assert_eq!(
            redact_userinfo("https://user:pa ss@exa mple/feed@x"),
            "https://***@exa mple/feed@x"
        );
        assert_eq!(
            redact_userinfo("https://example.org/a@b"),
            "https://example.org/a@b"
        );
        assert_eq!(redact_userinfo("feeds/local.xml"), "feeds/local.xml");
    }

    #[test]
    fn basic_auth_is_the_rfc_7617_form_and_sensitive() {
        // RFC 7617's example: Aladdin / open sesame.
        let value = basic_auth("Aladdin", Some("open sesame"));
        assert_eq!(value, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(value.is_sensitive());
        assert_eq!(basic_auth("token", None), "Basic dG9rZW46");
    }

    #[test]
    fn credential_headers_and_token_urls_are_recognised() {
        for name in ["Authorization", "X-Api-Key", "Cookie", "X-Auth-Token"] {
            assert!(is_credential_header(name), "{name}");
        }
        for name in ["Accept", "X-Team", "User-Agent"] {
            assert!(!is_credential_header(name), "{name}");
        }
        let token = |u: &str| url_has_token(&Url::parse(u).unwrap());
        assert!(token(
            "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX1234"
        ));
        assert!(token("https://hooks.example.org/hook?key=abcdef0123456789"));
        assert!(token("https://bot:x@hooks.example.org/hook"));
        assert!(!token("https://alerts.internal/feedwatch/desk"));
        assert!(!token("https://alerts.internal/hook?channel=security-desk"));
    }

    #[test]
    fn secrets_are_read_from_the_first_line_and_never_empty() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "hunter2\nignored\n").unwrap();
        std::fs::write(dir.path().join("blank"), "\n").unwrap();
        assert_eq!(
            SecretSource::File(dir.path().join("pw")).read().unwrap(),
            "hunter2"
        );
        let blank = SecretSource::File(dir.path().join("blank")).read();
        assert!(blank.unwrap_err().ends_with("blank is empty"));
        let gone = SecretSource::File(dir.path().join("gone"))
            .read()
            .unwrap_err();
        assert!(gone.starts_with("cannot read "), "{gone}");
        let unset = SecretSource::Env("FEEDWATCH_TEST_NEVER_SET_ANYWHERE".into())
            .read()
            .unwrap_err();
        assert!(
            unset.starts_with("environment variable FEEDWATCH_TEST_NEVER_SET_ANYWHERE is not set")
        );
    }

    #[test]
    fn signing_keys_are_whsec_and_base64_of_24_to_64_bytes() {
        let encoded = |n: usize| base64::engine::general_purpose::STANDARD.encode(vec![7u8; n]);
        for n in [SIGNING_KEY_MIN, 32, SIGNING_KEY_MAX] {
            let key = SigningKey::parse(&format!("whsec_{}", encoded(n))).unwrap();
            assert_eq!(key.expose(), vec![7u8; n]);
        }
        let unpadded = format!("whsec_{}", encoded(32).trim_end_matches('='));
        assert_eq!(SigningKey::parse(&unpadded).unwrap().expose(), [7u8; 32]);
        for (text, problem) in [
            (
                format!("whsec_{}", encoded(SIGNING_KEY_MIN - 1)),
                "23 bytes",
            ),
            (
                format!("whsec_{}", encoded(SIGNING_KEY_MAX + 1)),
                "65 bytes",
            ),
            (encoded(32), "no `whsec_` prefix"),
            ("whsec_s3cr3t!!".into(), "not valid base64"),
        ] {
            let err = SigningKey::parse(&text).unwrap_err();
            assert!(err.contains(problem), "{text}: {err}");
            assert!(err.contains("write `whsec_`"), "{err}");
            assert!(!err.contains(&text), "the value is never quoted: {err}");
        }
        let key = SigningKey::parse(&format!("whsec_{}", encoded(32))).unwrap();
        assert_eq!(format!("{key:?}"), "SigningKey(Secret(***))");
    }

    #[test]
    fn world_readable_secret_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        let closed = dir.path().join("closed");
        for (path, mode) in [(&open, 0o644), (&closed, 0o600)] {
            std::fs::write(path, "x\n").unwrap();
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let mut inventory = SecretInventory::default();
        for path in [&open, &closed] {
            inventory
                .files
                .push((path.clone(), "signing secret".into()));
        }
        let found = inventory.exposed();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].file, open);
        assert_eq!(
            found[0].to_string(),
            format!(
                "{0}: readable by its group and all other users (mode 0644) and holds the signing secret; run `chmod 600 {0}`",
                open.display()
            )
        );
    }
}
