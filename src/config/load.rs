//! Loading and validation.
use std::path::Path;
use super::Config;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity { Error, Warning }

/// One finding, tied to a place in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: std::path::PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration has {} error(s)", .0.len())]
pub struct ConfigError(pub Vec<Diagnostic>);

pub fn load_file(_path: &Path) -> Result<Config, ConfigError> { todo!() }
pub fn check_file(_path: &Path) -> (Option<Config>, Vec<Diagnostic>) { todo!() }
