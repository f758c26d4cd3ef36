//! Why a configuration was refused: one error type for the file, the environment and the
//! checks, so `coffer-relay` and `coffer-admin config check` print the same sentences.

use std::path::PathBuf;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// TOML text (not read from a file) is not valid for this schema.
    #[error("{message}")]
    Toml {
        /// The parser's explanation (line, column, key).
        message: String,
    },
    /// The file is not valid TOML for this schema.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's explanation (line, column, key).
        message: String,
    },
    /// An environment variable has a value that does not parse.
    #[error("environment variable {name} has an invalid value: expected {expected}")]
    Env {
        /// The variable.
        name: String,
        /// What it should hold.
        expected: &'static str,
    },
    /// A value is out of range or settings contradict each other.
    #[error("invalid setting {key}: {message}")]
    Invalid {
        /// The setting.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}
