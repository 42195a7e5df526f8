//! The spanned TOML tree that telvox's configuration files are read into: every key and value keeps
//! its byte span, so a loader walks the tree against its schema and reports every problem with
//! file:line:col in one pass, instead of stopping at the first as a derived serde struct would.
//! Used by the config loader and the IVR flow loader.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

use super::{Diagnostic, Severity};

/// Longest quotation of a bad value in a message.
const SNIPPET_MAX_CHARS: usize = 40;

pub type Key = Spanned<String>;
pub type Item = Spanned<Node>;

/// A TOML value. Datetimes are valid nowhere in telvox's files (the toml crate refuses them in a
/// spanned tree anyway); integers beyond i64 arrive as floats.
pub enum Node {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Array(Vec<Item>),
    Table(Vec<(Key, Item)>),
}

impl Node {
    /// How messages name the type of a value that was not what they expected.
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Str(_) => "a string",
            Node::Int(_) => "a number",
            Node::Float(_) => "a decimal number",
            Node::Bool(_) => "true/false",
            Node::Array(_) => "a list",
            Node::Table(_) => "a table",
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Node, E> {
        Ok(Node::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Node, E> {
        Ok(Node::Int(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Node, E> {
        // Only values beyond i64 arrive here: too large for any count telvox takes.
        Ok(Node::Float(value as f64))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Node, E> {
        Ok(Node::Float(value))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Node, E> {
        Ok(Node::Str(value.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key()? {
            entries.push((key, map.next_value()?));
        }
        Ok(Node::Table(entries))
    }
}

/// A file's text with a line index, to turn byte offsets into line and column.
pub struct Source {
    pub name: PathBuf,
    pub text: String,
    line_starts_bytes: Vec<usize>,
}

impl Source {
    pub fn new(name: PathBuf, text: String) -> Source {
        let newlines = text.match_indices('\n').map(|(offset, _)| offset + 1);
        let line_starts_bytes = std::iter::once(0).chain(newlines).collect();
        Source {
            name,
            text,
            line_starts_bytes,
        }
    }

    /// Reads a side file (mailboxes.toml, supervisors.toml …) of at most `max_bytes`; a file that
    /// cannot be read is one error diagnostic naming it and `what` it is.
    pub fn read(path: &Path, max_bytes: u64, what: &str) -> Result<Source, crate::config::Diagnostic> {
        let text = match std::fs::metadata(path) {
            Ok(meta) if meta.len() > max_bytes => Err(format!("larger than {max_bytes} bytes")),
            _ => std::fs::read_to_string(path).map_err(|e| e.to_string()),
        };
        text.map(|text| Source::new(path.to_path_buf(), text))
            .map_err(|problem| {
                Source::new(path.to_path_buf(), String::new()).diagnostic(
                    crate::config::Severity::Error,
                    0,
                    format!("cannot read the {what}: {problem}"),
                )
            })
    }

    /// 1-based line and column (in chars) of a byte offset.
    pub fn position(&self, offset_bytes: usize) -> (usize, usize) {
        let offset = offset_bytes.min(self.text.len());
        let line_index = self.line_starts_bytes.partition_point(|&start| start <= offset) - 1;
        let line_start = self.line_starts_bytes[line_index];
        let column = self.text.get(line_start..offset).map_or(0, |s| s.chars().count()) + 1;
        (line_index + 1, column)
    }

    /// The source text of a span, shortened for quoting in a message.
    pub fn snippet(&self, span: Range<usize>) -> String {
        let raw = self.text.get(span).unwrap_or("").trim();
        let first_line = raw.lines().next().unwrap_or("");
        let mut out: String = first_line.chars().take(SNIPPET_MAX_CHARS).collect();
        if out.len() < raw.len() {
            out.push('…');
        }
        out
    }

    pub fn diagnostic(&self, severity: Severity, offset_bytes: usize, message: String) -> Diagnostic {
        let (line, column) = self.position(offset_bytes);
        Diagnostic {
            severity,
            file: self.name.clone(),
            line,
            column,
            message,
        }
    }
}
