//! Errors for bad input: every one names the file, the line and what was expected.

use std::fmt;

/// A problem with a history file or with the arguments that describe how to read it.
///
/// `line` is 1-based; 0 means the problem is not tied to one line (an empty file, an unknown
/// model). The message says what was expected and what was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InputError {
    /// The file name as the user gave it (`-` for standard input).
    pub file: String,
    /// 1-based line number, or 0 when the error concerns the whole input.
    pub line: usize,
    /// What was expected, and what was found instead.
    pub message: String,
}

impl InputError {
    /// An error at `line` (1-based) of `file`.
    pub fn new(file: impl Into<String>, line: usize, message: impl Into<String>) -> Self {
        InputError {
            file: file.into(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        } else {
            write!(f, "{}: {}", self.file, self.message)
        }
    }
}

/// A problem with the options of a check, found before any file is read (an option that does
/// not apply to the checker, an unknown consistency model); the message says what was
/// expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct UsageError {
    /// What was expected, and what was found instead.
    pub message: String,
}

impl UsageError {
    /// A usage error saying `message`.
    pub fn new(message: impl Into<String>) -> Self {
        UsageError {
            message: message.into(),
        }
    }
}

/// What a model expected of an operation (or of `--initial`) and what it found: the
/// linearizability checker turns it into an [`InputError`] at the operation's line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShapeError(pub String);

impl From<String> for ShapeError {
    fn from(message: String) -> Self {
        ShapeError(message)
    }
}

impl From<&str> for ShapeError {
    fn from(message: &str) -> Self {
        ShapeError(message.to_string())
    }
}

/// `ShapeError(format!(…))`.
macro_rules! shape {
    ($($arg:tt)*) => {
        $crate::error::ShapeError(format!($($arg)*))
    };
}
pub(crate) use shape;
