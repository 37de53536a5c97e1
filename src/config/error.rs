//! Configuration errors, rendered as `FILE:LINE:COL: what is wrong, what to do`.
//!
//! Owns the mapping from byte spans to line and column. Must never hide which file an error is in.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Where in which file a problem was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file, as the user named it (or as the include glob found it).
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: usize,
    /// 1-based column, when known.
    pub column: usize,
}

impl Location {
    /// Location of byte `offset` in `source`, which was read from `file`.
    pub fn at(file: &Path, source: &str, offset: usize) -> Location {
        let offset = offset.min(source.len());
        let before = source.get(..offset).unwrap_or(source);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Location {
            file: file.to_path_buf(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// Everything that can be wrong with a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read config file: {source} (check the path given with --config or $FEEDWATCH_CONFIG)", file.display())]
    Read {
        /// The file that failed.
        file: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A problem at a known place in a file.
    #[error("{location}: {message}")]
    At {
        /// Where the problem is.
        location: Location,
        /// What is wrong and what to do.
        message: String,
    },
    /// Secrets the config names that could not be read, all of them, one per line.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    MissingSecrets(Vec<super::MissingSecret>),
    /// A problem with no single place (for example no feeds at all).
    #[error("{}: {message}", file.display())]
    File {
        /// The main config file.
        file: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
}

/// A span-carrying source file, used to turn spans into locations.
#[derive(Debug, Clone)]
pub struct Source {
    /// Path of the file.
    pub path: PathBuf,
    /// Its full text.
    pub text: String,
}

impl Source {
    /// An error at a byte span of this file.
    pub fn error(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError::At {
            location: Location::at(&self.path, &self.text, span.start),
            message: message.into(),
        }
    }

    /// Converts a TOML parser error, keeping its position.
    pub fn toml_error(&self, err: &toml::de::Error) -> ConfigError {
        let message = err.message().trim_end().replace('\n', " ");
        match err.span() {
            Some(span) => self.error(span, message),
            None => ConfigError::File {
                file: self.path.clone(),
                message,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_counts_lines_and_characters() {
        let src = "a = 1\nbé = \"x\"\n";
        let loc = Location::at(Path::new("c.toml"), src, src.find('"').unwrap());
        assert_eq!((loc.line, loc.column), (2, 6));
        assert_eq!(loc.to_string(), "c.toml:2:6");
    }
}
