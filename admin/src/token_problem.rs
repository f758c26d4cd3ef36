//! Where an admin token came from and what is wrong with it: the words of the error messages,
//! a leaf shared by `token` (which finds the problems) and `error` (which reports them).

use std::fmt;
use std::path::PathBuf;

/// The environment variable holding the token (the same name the relay reads).
pub const TOKEN_ENV: &str = "COFFER_ADMIN_TOKEN";

/// Longest accepted token, in bytes. Far above any sensible token; stops `--token-file
/// /dev/zero` or a wrong file from being read whole.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// Where a token came from (for error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenOrigin {
    /// `--token-file PATH`.
    File(PathBuf),
    /// The `COFFER_ADMIN_TOKEN` environment variable.
    Env,
    /// Made by `coffer-admin token generate`.
    Generated,
}

impl fmt::Display for TokenOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenOrigin::File(path) => write!(f, "the token file {}", path.display()),
            TokenOrigin::Env => write!(f, "{TOKEN_ENV}"),
            TokenOrigin::Generated => f.write_str("the generated token"),
        }
    }
}

/// What is wrong with a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    /// Nothing left after removing the trailing line break.
    Empty,
    /// Longer than [`MAX_TOKEN_BYTES`].
    TooLong,
    /// Not valid UTF-8.
    NotUtf8,
    /// Spaces or tabs at either end (HTTP would strip them, so such a token can never match).
    SurroundingWhitespace,
    /// Control characters (including a line break inside the token): not valid in an HTTP header.
    ControlCharacters,
}

impl fmt::Display for TokenProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenProblem::Empty => "it is empty",
            TokenProblem::TooLong => "it is longer than 4096 bytes",
            TokenProblem::NotUtf8 => "it is not valid UTF-8",
            TokenProblem::SurroundingWhitespace => "it starts or ends with spaces or tabs",
            TokenProblem::ControlCharacters => {
                "it contains control characters (only one trailing line break is removed)"
            }
        })
    }
}
