//! The spanned TOML tree a flow file is read into, and positions for diagnostics.
//!
//! The tree itself is the config loader's (`config::tree`); this adds what is particular to flow
//! files: how a whole file is parsed and how TOML syntax errors are explained.

use toml::Spanned;

use crate::config::{Diagnostic, Severity};

pub use crate::config::tree::{Item, Key, Node, Source};

/// Parses a whole file into its top-level entries, or the diagnostic saying why it is not TOML.
pub fn parse_document(src: &Source) -> Result<Vec<(Key, Item)>, Diagnostic> {
    match toml::from_str::<Spanned<Node>>(&src.text) {
        Ok(document) => match document.into_inner() {
            Node::Table(entries) => Ok(entries),
            _ => Err(src.diagnostic(Severity::Error, 0, "a flow file must be a TOML table".into())),
        },
        Err(err) => {
            let offset = err.span().map_or(0, |span| span.start);
            Err(src.diagnostic(Severity::Error, offset, syntax_message(err.message())))
        }
    }
}

fn syntax_message(message: &str) -> String {
    // Datetimes and dotted tables carry no span in the toml crate, so `Spanned` refuses them with
    // an internal-sounding message; say what the admin wrote instead.
    if message.contains("toml_private_datetime") {
        return "dates and times are not used in flows: quote the value if it is text".into();
    }
    if message.contains("spanned value") || message.contains("borrowed string") {
        return "dotted keys and dotted table names (`a.b = …`, `[a.b]`) are not supported in flows: \
                write each state as a [NAME] table and use inline tables inside it"
            .into();
    }
    let lines: Vec<&str> = message.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    format!("TOML syntax: {}", lines.join("; "))
}
