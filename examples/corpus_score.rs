//! Measures feed parsing against a directory of feed files.
//!
//! Prints one JSON line per file (`{"file", "ok", "entries", "first_title"}` plus diagnostics
//! `first_link`, `first_key`, `format`, `encoding`, `warnings`; or `{"file", "ok": false,
//! "error"}`), the input `score.py` of the feed corpus expects:
//!
//! ```text
//! cargo run --release --example corpus_score -- /work/shared/corpus/feeds > results.jsonl
//! python3 /work/shared/corpus/score.py results.jsonl --failures 50
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use feedwatch::parse::parse_feed;
use serde_json::json;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: corpus_score FEED_DIR > results.jsonl");
        return ExitCode::from(2);
    };
    let entries = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) => {
            eprintln!("corpus_score: cannot read directory {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    for path in paths {
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let line = match std::fs::read(&path) {
            Err(e) => json!({"file": file, "ok": false, "error": format!("cannot read file: {e}")}),
            Ok(bytes) => match parse_feed(&bytes, None, None) {
                Ok(feed) => json!({
                    "file": file,
                    "ok": true,
                    "entries": feed.items.len(),
                    "first_title": feed.items.first().map(|i| i.title.clone()),
                    "first_link": feed.items.first().and_then(|i| i.link.clone()),
                    "first_key": feed.items.first().map(|i| i.key.clone()),
                    "format": feed.format.to_string(),
                    "encoding": feed.encoding,
                    "warnings": feed.warnings,
                }),
                Err(e) => json!({"file": file, "ok": false, "error": e.to_string()}),
            },
        };
        println!("{line}");
    }
    ExitCode::SUCCESS
}
