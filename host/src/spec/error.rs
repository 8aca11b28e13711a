//! Errors in pipeline files, each pointing at file:line:column.

use std::fmt;
use std::path::PathBuf;

/// A problem in a pipeline file, with where it is and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// The pipeline file.
    pub file: PathBuf,
    /// 1-based line, 0 when the whole file is at fault.
    pub line: usize,
    /// 1-based column, 0 when the whole line or file is at fault.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl FileError {
    /// An error at a position in `file`.
    pub fn at(
        file: impl Into<PathBuf>,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Self {
        FileError {
            file: file.into(),
            line,
            column,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds what the user should do.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
            if self.column > 0 {
                write!(f, ":{}", self.column)?;
            }
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  help: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FileError {}

/// All the problems found in one or more pipeline files.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
pub struct FileErrors(pub Vec<FileError>);

impl FileErrors {
    /// Whether there is no problem.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for FileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}
