//! Standard Webhooks signing, checked the way a receiver would: the README's own Python
//! verification recipe runs on a request feedwatch really sent, and malformed secrets are
//! config errors at their place in the file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::common::http::{HttpServer, Request, Route};
use crate::common::sandbox::{Sandbox, run_to_exit};

const SECRET: &str = "whsec_c2lnbmluZy10ZXN0LXNlY3JldC1rZXktMzJieXRlcw==";

/// The Python code block between the README's verification markers.
fn readme_recipe() -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme
        .find("<!-- verify-webhook:start -->")
        .expect("README has the verify-webhook:start marker");
    let end = readme
        .find("<!-- verify-webhook:end -->")
        .expect("README has the verify-webhook:end marker");
    let block = &readme[start..end];
    let code = block
        .split_once("```python\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(code, _)| code)
        .expect("a ```python block between the markers");
    code.to_owned()
}

/// Runs the README's `verify` on a request; true when it accepts it.
fn python_verifies(secret: &str, headers: &[(&str, &str)], body: &[u8]) -> bool {
    let harness = format!(
        "{}\nimport json, sys\nreq = json.load(sys.stdin)\n\
         ok = verify(req['secret'], req['headers'], base64.b64decode(req['body']))\n\
         print('verified' if ok else 'refused')\n",
        readme_recipe()
    );
    let input = serde_json::json!({
        "secret": secret,
        "headers": headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), serde_json::json!(value)))
            .collect::<serde_json::Map<_, _>>(),
        "body": STANDARD.encode(body),
    });
    let mut child = match Command::new("python3")
        .args(["-c", &harness])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => panic!(
            "this test runs the README's webhook verification recipe with python3, which could not be started ({e}); install Python 3.9 or later"
        ),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the README recipe failed to run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    match stdout.trim() {
        "verified" => true,
        "refused" => false,
        other => panic!("unexpected output from the recipe: {other:?}"),
    }
}

/// A sandbox whose one feed alerts on its first fetch to webhook `chat` at `/hook`, with
/// `secret_file = "hook.key"` holding `secret` when one is given.
fn desk(http: &HttpServer, secret: Option<&str>) -> (Sandbox, PathBuf) {
    let sandbox = Sandbox::new();
    sandbox.write(
        "feed.xml",
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Wire</title>\
         <item><guid>g1</guid><title>ISIS-K claims attack</title>\
         <link>http://news.test/1</link></item></channel></rss>",
    );
    let secret_line = match secret {
        Some(secret) => {
            sandbox.write("hook.key", &format!("{secret}\n"));
            "secret_file = \"hook.key\"\n"
        }
        None => "",
    };
    let config = sandbox.write(
        "config.toml",
        &format!(
            "[general]\ndatabase = \"feedwatch.db\"\nalert_on_first_fetch = true\n\n\
             [[feeds]]\nurl = \"feed.xml\"\n\n\
             [[watchlists]]\nname = \"isis-k\"\nterms = [\"ISIS-K\"]\n\n\
             [notifiers.chat]\ntype = \"webhook\"\nurl = \"{}\"\n{secret_line}",
            http.url("/hook")
        ),
    );
    (sandbox, config)
}

/// The one webhook request of a `once` run.
fn one_request(secret: Option<&str>) -> Request {
    let http = HttpServer::start();
    http.set("/hook", Route::status(204));
    let (sandbox, config) = desk(&http, secret);
    let out = run_to_exit(sandbox.cmd(&config).arg("once"));
    assert!(out.success(), "{}", out.stderr);
    let requests = http.requests("/hook");
    assert_eq!(requests.len(), 1, "{}", out.stderr);
    requests.into_iter().next().unwrap()
}

fn headers(req: &Request) -> Vec<(&'static str, &str)> {
    ["webhook-id", "webhook-timestamp", "webhook-signature"]
        .into_iter()
        .map(|name| (name, req.header(name).unwrap_or_default()))
        .collect()
}

#[test]
fn the_readme_recipe_verifies_a_real_request_and_refuses_a_tampered_one() {
    let req = one_request(Some(SECRET));
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(req.header("webhook-id"), body["alert_id"].as_str());
    let signature = req.header("webhook-signature").unwrap_or_default();
    assert!(signature.starts_with("v1,"), "{signature}");
    assert_eq!(req.header("x-feedwatch-signature"), None);

    let headers = headers(&req);
    assert!(python_verifies(SECRET, &headers, &req.body));

    let mut tampered = req.body.to_vec();
    let at = tampered.iter().position(|b| *b == b'K').unwrap();
    tampered[at] = b'X';
    assert!(
        !python_verifies(SECRET, &headers, &tampered),
        "tampered body"
    );

    let other_secret = "whsec_b3RoZXItc2VjcmV0LW9mLXRoZS1zYW1lLWxlbmd0aC0zMg==";
    assert!(
        !python_verifies(other_secret, &headers, &req.body),
        "another secret"
    );

    let mut moved = headers.clone();
    let later = (req
        .header("webhook-timestamp")
        .unwrap()
        .parse::<i64>()
        .unwrap()
        + 1)
    .to_string();
    moved[1].1 = &later;
    assert!(
        !python_verifies(SECRET, &moved, &req.body),
        "a changed timestamp"
    );
}

#[test]
fn without_a_secret_the_request_has_an_id_and_timestamp_but_no_signature() {
    let req = one_request(None);
    assert!(req.header("webhook-id").is_some_and(|id| !id.is_empty()));
    assert!(
        req.header("webhook-timestamp")
            .is_some_and(|t| t.parse::<i64>().is_ok())
    );
    assert_eq!(req.header("webhook-signature"), None);
}

#[test]
fn an_empty_or_malformed_secret_is_a_config_error_at_its_key() {
    let http = HttpServer::start();
    for (secret, problem) in [
        ("", "is empty; write `whsec_`"),
        ("hunter2-plain-shared-secret", "no `whsec_` prefix"),
        ("whsec_not*base64!", "is not valid base64"),
        ("whsec_c2hvcnQta2V5", "the key is 9 bytes long"),
    ] {
        let (sandbox, config) = desk(&http, Some(secret));
        let out = run_to_exit(sandbox.cmd(&config).arg("check"));
        assert_eq!(out.code(), Some(2), "{secret:?}: {}", out.stderr);
        let expected = format!(
            "{}:15:15: signing secret of notifier \"chat\": ",
            config.display()
        );
        // The secret file's mode draws a warning line too; the error is its own line.
        let error = out
            .stderr
            .lines()
            .find(|line| line.starts_with(&expected))
            .unwrap_or_else(|| panic!("{secret:?}: {}", out.stderr));
        assert!(error.contains(problem), "{secret:?}: {error}");
        assert!(
            error.contains("write `whsec_` followed by the base64 of 24 to 64 random bytes"),
            "{error}"
        );
        if !secret.is_empty() {
            assert!(!out.stderr.contains(secret), "{}", out.stderr);
        }
        let out = run_to_exit(sandbox.cmd(&config).arg("once"));
        assert_eq!(
            out.code(),
            Some(2),
            "the daemon refuses it too: {}",
            out.stderr
        );
        assert_eq!(http.hits("/hook"), 0);
    }
}
