//! The `feedwatch` binary: parse the command line, set up logging, run, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = feedwatch::cli::Cli::parse();
    feedwatch::logging::init(cli.verbosity());
    match feedwatch::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            let message = format!("{err:#}");
            eprintln!("feedwatch: {}", feedwatch::text::Escaped(&message));
            ExitCode::from(2)
        }
    }
}
