//! Loading and validation: TOML → [`Config`], with every problem reported as `file:line:col` plus a fix.
//!
//! The TOML is first read into a generic tree in which every key and value carries its byte span
//! (`toml::Spanned`), and that tree is then walked against the schema. Deriving serde structs would be
//! shorter, but serde stops at the first unknown key or wrong type; walking the tree lets one pass
//! report every problem in the file at once, which is what an admin fixing a config wants.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::ops::RangeInclusive;
use std::path::{Component, Path, PathBuf};

use serde::de::{self, DeserializeOwned};
use toml::Spanned;

#[path = "dahdi_map.rs"]
mod dahdi_map;

use super::pattern::NumberPattern;
use super::tree::{Item, Key, Node, Source};
use super::{
    CardKind, Config, HwMap, LineTestConfig, SimClock, SimConfig, SpanConfig, BUILTIN_FLOWS, DEFAULT_COUNTRY,
    DEFAULT_FLOWS_DIR, DEFAULT_VOICE_DIR, EMBEDDED_SIM_MAP,
};
use crate::dsp::dtmf::DtmfRxConfig;
use crate::dsp::tones::Country;
use crate::hw::sim::FarEndHangup;
use crate::hw::{Law, Role, Signalling};

/// How diagnostics and `HwMap::source` name the compiled-in hardware map.
const EMBEDDED_MAP_NAME: &str = "<embedded hw/sim.toml>";

/// telvox drives at most this many spans (a large DAHDI chassis has 8 cards × 8 spans).
const MAX_SPANS: usize = 64;
/// Channels per span: an E1 carries 30 B-channels (31 usable timeslots), a T1 24.
const CHANNELS_PER_SPAN: RangeInclusive<u32> = 1..=31;
/// One channel thread each: the machine-wide bound on threads the engine starts.
const MAX_TOTAL_CHANNELS: usize = 2048;
/// Bound on `[numbers]` entries and on one span's `numbers` list, so matching stays cheap.
const MAX_NUMBERS: usize = 1024;
/// `sun_path` holds 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH_BYTES: usize = 107;
const MAX_SPAN_NAME_CHARS: usize = 64;
/// Languages listed in an error message, so a huge voice directory cannot flood the terminal.
const MAX_LISTED_LANGUAGES: usize = 32;

/// Ring cadence when a hardware map does not say: 1 s on, 4 s off (Europe, China, Korea).
const DEFAULT_RING_ON_MS: u32 = 1000;
const DEFAULT_RING_OFF_MS: u32 = 4000;

const TOP_KEYS: &[&str] = &[
    "run_dir",
    "data_dir",
    "hw",
    "voice_dir",
    "realtime",
    "log",
    "max_call_seconds",
    "sim",
    "numbers",
    "linetest",
    "flows_dir",
    "business",
    "recording",
    "record",
    "mailboxes",
    "supervisors",
    "fax_catalog",
    "fax",
];
const BUSINESS_KEYS: &[&str] = &["db", "timezone", "pin_max_failures", "test_now"];
const SIM_KEYS: &[&str] = &["clock", "socket"];
const LINETEST_KEYS: &[&str] = &["language", "answer_after_rings", "max_digits", "timeout_ms"];
const FAX_KEYS: &[&str] = &[
    "station_id",
    "header",
    "ecm",
    "email_to",
    "email_numbers",
    "cover",
    "company",
    "max_outbound_channels",
    "retries",
    "retry_spacing_s",
    "ring_timeout_s",
    "caller_number",
    "keep_finished_days",
];
const HW_KEYS: &[&str] = &["card", "ring_on_ms", "ring_off_ms", "span"];
const SPAN_KEYS: &[&str] = &[
    "name",
    "law",
    "channels",
    "role",
    "numbers",
    "dtmf",
    "country",
    "far_end_hangup",
    "disconnect_tone",
    "signalling",
    "extensions",
    "phone_callerid",
    // Analog trunks and E&M (engine::line::trunk / em).
    "caller_id",
    "caller_id_start",
    "hangup_on_polarity",
    "answer_on_polarity",
    "ring_timeout_ms",
    "dnis_timeout_ms",
];
/// The DTMF receiver's settings in a span's `dtmf` table (see dsp::dtmf::DtmfRxConfig).
const DTMF_INT_KEYS: &[&str] = &["min_on_ms", "min_off_ms", "max_dropout_ms"];
const DTMF_FLOAT_KEYS: &[&str] = &[
    "reverse_twist_db",
    "normal_twist_db",
    "min_level_dbm0",
    "freq_tolerance_pct",
];

const MAX_CALL: IntRule = IntRule {
    range: 10..=86400,
    unit: "seconds",
    note: "",
};
const ANSWER_AFTER_RINGS: IntRule = IntRule {
    range: 0..=10,
    unit: "rings",
    note: " (0 answers as soon as the call is offered)",
};
const MAX_DIGITS: IntRule = IntRule {
    range: 1..=64,
    unit: "digits",
    note: "",
};
const TIMEOUT: IntRule = IntRule {
    range: 500..=60000,
    unit: "milliseconds",
    note: "",
};
const RING_ON: IntRule = IntRule {
    range: 200..=5000,
    unit: "milliseconds",
    note: "",
};
const RING_OFF: IntRule = IntRule {
    range: 200..=10000,
    unit: "milliseconds",
    note: "",
};
const DTMF_MS: IntRule = IntRule {
    range: 1..=1000,
    unit: "ms",
    note: "",
};

const CHANNELS: IntRule = IntRule {
    range: CHANNELS_PER_SPAN,
    unit: "channels",
    note: "",
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One finding, tied to a place in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: PathBuf,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters (not bytes), as editors count.
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Diagnostic {
            severity,
            file,
            line,
            column,
            message,
        } = self;
        write!(f, "{}:{line}:{column}: {severity}: {message}", file.display())
    }
}

/// The configuration was refused. Holds every diagnostic found, warnings included, in file order.
#[derive(Debug, thiserror::Error)]
#[error("{}", summary(.0))]
pub struct ConfigError(pub Vec<Diagnostic>);

fn summary(diagnostics: &[Diagnostic]) -> String {
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let mut out = format!("configuration has {errors} error(s)");
    for diagnostic in diagnostics {
        out.push('\n');
        out.push_str(&diagnostic.to_string());
    }
    out
}

/// Loads and validates `path`. Warnings do not stop loading and are not returned: callers that
/// show them (`telvox config check`, reload) use [`check_file`].
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    match check_file(path) {
        (Some(config), _) => Ok(config),
        (None, diagnostics) => Err(ConfigError(diagnostics)),
    }
}

/// Validates `path` and everything it names, returning all errors and warnings in file order.
/// The config is `Some` exactly when there are no errors.
pub fn check_file(path: &Path) -> (Option<Config>, Vec<Diagnostic>) {
    let source = absolute(path);
    let mut diagnostics = Diagnostics::default();
    let config = read_config(&source, &mut diagnostics);
    let mut list = diagnostics.list;
    // The main file's findings first, then the other files' (hardware map, flows) file by file;
    // each in reading order.
    list.sort_by(|a, b| {
        let key = |d: &Diagnostic| (d.file != source, d.file.clone(), d.line, d.column);
        key(a).cmp(&key(b))
    });
    let clean = !list.iter().any(|d| d.severity == Severity::Error);
    (config.filter(|_| clean), list)
}

// ---------------------------------------------------------------------------------------------------
// Sources and diagnostics

#[derive(Default)]
struct Diagnostics {
    list: Vec<Diagnostic>,
}

impl Diagnostics {
    fn error(&mut self, src: &Source, offset_bytes: usize, message: impl Into<String>) {
        self.push(Severity::Error, src, offset_bytes, message.into());
    }

    fn warning(&mut self, src: &Source, offset_bytes: usize, message: impl Into<String>) {
        self.push(Severity::Warning, src, offset_bytes, message.into());
    }

    fn push(&mut self, severity: Severity, src: &Source, offset_bytes: usize, message: String) {
        let (line, column) = src.position(offset_bytes);
        self.list.push(Diagnostic {
            severity,
            file: src.name.clone(),
            line,
            column,
            message,
        });
    }
}

// ---------------------------------------------------------------------------------------------------
// The spanned TOML tree

/// Parses a whole file into its top-level entries, or reports why it is not valid TOML.
fn parse_document(src: &Source, diags: &mut Diagnostics) -> Option<Vec<(Key, Item)>> {
    match toml::from_str::<Spanned<Node>>(&src.text) {
        Ok(document) => match document.into_inner() {
            Node::Table(entries) => Some(entries),
            _ => None,
        },
        Err(err) => {
            let offset = err.span().map_or(0, |span| span.start);
            diags.error(src, offset, syntax_message(err.message()));
            None
        }
    }
}

fn syntax_message(message: &str) -> String {
    // Datetimes and implicit (dotted) tables carry no span in the toml crate, so `Spanned` refuses
    // them with an internal-sounding message; say what the admin wrote instead.
    if message.contains("toml_private_datetime") {
        return "dates and times are not used in telvox configuration: quote the value if it is text".into();
    }
    if message.contains("spanned value") || message.contains("borrowed string") {
        return "dotted keys and dotted table names (`sim.clock = …`, `[a.b]`) are not supported: \
                write the table as [sim] on a line of its own with its keys below it"
            .into();
    }
    let lines: Vec<&str> = message.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    format!("TOML syntax: {}", lines.join("; "))
}

// ---------------------------------------------------------------------------------------------------
// Reading typed values out of a table

/// A whole-number setting: its allowed range and how messages describe it.
struct IntRule {
    range: RangeInclusive<u32>,
    unit: &'static str,
    note: &'static str,
}

impl IntRule {
    fn expected(&self) -> String {
        let (low, high) = (self.range.start(), self.range.end());
        format!(
            "a whole number of {} from {low} to {high}{}",
            self.unit, self.note
        )
    }
}

/// One TOML table being read against the schema.
struct Section<'a> {
    src: &'a Source,
    /// How messages name a key of this table: "" at the top level, "sim." in [sim].
    prefix: String,
    /// How messages name the table: "at the top level", "in [sim]".
    label: String,
    entries: &'a [(Key, Item)],
    /// Where "missing key" errors point: the table's header, or the start of the file.
    start_bytes: usize,
}

impl<'a> Section<'a> {
    fn root(src: &'a Source, entries: &'a [(Key, Item)]) -> Section<'a> {
        let (prefix, label) = (String::new(), "at the top level".to_string());
        Section {
            src,
            prefix,
            label,
            entries,
            start_bytes: 0,
        }
    }

    fn get(&self, key: &str) -> Option<&'a Item> {
        self.entries
            .iter()
            .find(|(k, _)| k.get_ref() == key)
            .map(|(_, item)| item)
    }

    fn check_keys(&self, allowed: &[&str], diags: &mut Diagnostics) {
        for (key, _) in self.entries {
            if !allowed.contains(&key.get_ref().as_str()) {
                let (name, label, expected) = (key.get_ref(), &self.label, allowed.join(", "));
                let message = format!("unknown key `{name}` {label}; expected one of: {expected}");
                diags.error(self.src, key.span().start, message);
            }
        }
    }

    fn bad_value(&self, key: &str, item: &Item, expected: &str, diags: &mut Diagnostics) {
        let shown = self.src.snippet(item.span());
        let message = format!("{}{key} = {shown}: expected {expected}", self.prefix);
        diags.error(self.src, item.span().start, message);
    }

    /// Reports a missing required key; `Some(())` when present.
    fn require(&self, key: &str, example: &str, diags: &mut Diagnostics) -> Option<()> {
        if self.get(key).is_some() {
            return Some(());
        }
        let message = format!(
            "missing `{}{key}` {}: add {key} = {example}",
            self.prefix, self.label
        );
        diags.error(self.src, self.start_bytes, message);
        None
    }

    /// A sub-table, or `None` when absent or not a table (reported).
    fn table(&self, key: &str, diags: &mut Diagnostics) -> Option<Section<'a>> {
        let item = self.get(key)?;
        let Node::Table(entries) = item.get_ref() else {
            let message =
                format!("`{key}` must be a table: write [{key}] on a line of its own, its keys below it");
            diags.error(self.src, item.span().start, message);
            return None;
        };
        let (prefix, label) = (format!("{key}."), format!("in [{key}]"));
        Some(Section {
            src: self.src,
            prefix,
            label,
            entries,
            start_bytes: item.span().start,
        })
    }

    /// A string value and its offset; `None` when absent or not a string (reported).
    fn string(&self, key: &str, expected: &str, diags: &mut Diagnostics) -> Option<(&'a str, usize)> {
        let item = self.get(key)?;
        match item.get_ref() {
            Node::Str(value) => Some((value.as_str(), item.span().start)),
            _ => {
                self.bad_value(key, item, expected, diags);
                None
            }
        }
    }

    /// A decimal or whole number; `None` when absent or not a number (reported).
    fn number(&self, key: &str, diags: &mut Diagnostics) -> Option<f64> {
        let item = self.get(key)?;
        match item.get_ref() {
            Node::Float(value) => Some(*value),
            Node::Int(value) => Some(*value as f64),
            _ => {
                self.bad_value(key, item, "a number", diags);
                None
            }
        }
    }

    fn boolean(&self, key: &str, diags: &mut Diagnostics) -> Option<bool> {
        let item = self.get(key)?;
        match item.get_ref() {
            Node::Bool(value) => Some(*value),
            _ => {
                self.bad_value(key, item, "true or false", diags);
                None
            }
        }
    }

    fn int(&self, key: &str, rule: &IntRule, diags: &mut Diagnostics) -> Option<u32> {
        let item = self.get(key)?;
        let value = match item.get_ref() {
            Node::Int(value) => u32::try_from(*value).ok().filter(|v| rule.range.contains(v)),
            _ => None,
        };
        if value.is_none() {
            self.bad_value(key, item, &rule.expected(), diags);
        }
        value
    }

    /// One of a fixed set of words, parsed with the type's own serde names (and aliases).
    fn choice<T: DeserializeOwned>(&self, key: &str, choices: &[&str], diags: &mut Diagnostics) -> Option<T> {
        let item = self.get(key)?;
        let parsed = match item.get_ref() {
            Node::Str(word) => T::deserialize(de::value::StrDeserializer::<de::value::Error>::new(word)).ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.bad_value(key, item, &quoted_alternatives(choices), diags);
        }
        parsed
    }

    /// A path, resolved against `base_dir`, and the offset of its value.
    fn path(&self, key: &str, base_dir: &Path, diags: &mut Diagnostics) -> Option<(PathBuf, usize)> {
        let (raw, offset) = self.string(key, "a path in quotes", diags)?;
        if raw.is_empty() {
            let message = format!("{}{key} is empty: give a path, or remove the key", self.prefix);
            diags.error(self.src, offset, message);
            return None;
        }
        Some((resolve(base_dir, raw), offset))
    }
}

/// `"a"`, `"a" or "b"`, `"a", "b" or "c"`.
fn quoted_alternatives(choices: &[&str]) -> String {
    let quoted: Vec<String> = choices.iter().map(|c| format!("{c:?}")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

/// `base_dir.join(raw)` without `.` components; absolute `raw` stays as written.
fn resolve(base_dir: &Path, raw: &str) -> PathBuf {
    base_dir
        .join(raw)
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

fn absolute(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    absolute
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

fn check_socket_path(src: &Source, offset: usize, what: &str, path: &Path, diags: &mut Diagnostics) {
    let len_bytes = path.as_os_str().len();
    if len_bytes > MAX_SOCKET_PATH_BYTES {
        let message = format!(
            "{what} {} is {len_bytes} bytes long, but a Unix socket path may have at most \
             {MAX_SOCKET_PATH_BYTES}: choose a shorter directory",
            path.display()
        );
        diags.error(src, offset, message);
    }
}

// ---------------------------------------------------------------------------------------------------
// telvox.toml

fn read_config(source_path: &Path, diags: &mut Diagnostics) -> Option<Config> {
    let src = read_source(source_path, diags)?;
    let entries = parse_document(&src, diags)?;
    let base_dir = source_path.parent().unwrap_or(Path::new("/"));
    let root = Section::root(&src, &entries);
    root.check_keys(TOP_KEYS, diags);

    let run_dir = required_dir(
        &root,
        "run_dir",
        base_dir,
        "\"/run/telvox\" (sockets and the pid file)",
        diags,
    );
    if let Some((dir, offset)) = &run_dir {
        check_socket_path(&src, *offset, "the control socket", &dir.join("ctl.sock"), diags);
    }
    let data_dir = required_dir(
        &root,
        "data_dir",
        base_dir,
        "\"/var/lib/telvox\" (call log and files)",
        diags,
    );
    let voice_dir = read_voice_dir(&root, base_dir, diags);
    let realtime = root.boolean("realtime", diags).unwrap_or(false);
    let log = read_log(&root, diags);
    let max_call_seconds = root.int("max_call_seconds", &MAX_CALL, diags).unwrap_or(3600);
    let sim = read_sim(&root, base_dir, run_dir.as_ref(), diags);
    let linetest = read_linetest(&root, voice_dir.as_deref(), diags);
    let flows_dir = read_flows(&root, base_dir, voice_dir.as_deref(), diags);
    let flows = flows_dir
        .as_deref()
        .map(crate::apps::ivr::flow_names)
        .unwrap_or_default();
    let numbers = read_numbers(&root, &flows, diags);
    let hw = read_hw(&root, base_dir, diags);
    let business = read_business(&root, base_dir, data_dir.as_ref().map(|d| d.0.as_path()), diags);
    if let Some(hw) = &hw {
        warn_unrouted(&src, &numbers, hw, diags);
    }
    let recording = data_dir.as_ref().map(|(dir, _)| {
        let (config, found) =
            super::recording::read(&src, dir, root.get("recording"), root.get("record"), &flows);
        diags.list.extend(found);
        config
    });
    let (mailboxes, voicemail) = read_mailboxes(&root, base_dir, voice_dir.as_deref(), diags);
    let (supervisors_file, supervisors) = read_supervisors(&root, base_dir, diags);
    if supervisors_file.is_none() {
        if let Some(dir) = &flows_dir {
            diags
                .list
                .extend(crate::apps::supervisor::config::unconfigured_reviews(dir));
        }
    }
    let has_smtp = voicemail.as_ref().is_some_and(|b| b.smtp.is_some());
    let mut fax = read_fax(&root, has_smtp, diags);
    fax.queue = read_fax_queue(&root, hw.as_ref(), diags);
    let fax_catalog = read_fax_catalog(&root, base_dir, diags);

    Some(Config {
        source: source_path.to_path_buf(),
        run_dir: run_dir?.0,
        data_dir: data_dir?.0,
        voice_dir: voice_dir?,
        realtime,
        log,
        max_call_seconds,
        sim: sim?,
        hw: hw?,
        numbers: numbers
            .into_iter()
            .map(|entry| (entry.pattern.as_str().to_owned(), entry.flow))
            .collect(),
        linetest,
        flows_dir: flows_dir?,
        business: business?,
        recording: recording?,
        mailboxes,
        voicemail,
        supervisors_file,
        supervisors,
        fax_catalog: fax_catalog?,
        fax,
    })
}

/// `mailboxes` (default mailboxes.toml beside telvox.toml when it exists), validated.
fn read_mailboxes(
    root: &Section,
    base_dir: &Path,
    voice_dir: Option<&Path>,
    diags: &mut Diagnostics,
) -> (Option<PathBuf>, Option<crate::apps::voicemail::Mailboxes>) {
    let path = match root.get("mailboxes") {
        Some(_) => match root.path("mailboxes", base_dir, diags) {
            Some((path, _)) => path,
            None => return (None, None),
        },
        None if base_dir.join("mailboxes.toml").is_file() => base_dir.join("mailboxes.toml"),
        None => return (None, None),
    };
    let voice_dir = voice_dir.filter(|d| d.is_dir());
    let (boxes, found) = crate::apps::voicemail::config::load(&path, voice_dir);
    diags.list.extend(found);
    (Some(path), boxes)
}

/// `supervisors` (default supervisors.toml beside telvox.toml when it exists), validated.
fn read_supervisors(
    root: &Section,
    base_dir: &Path,
    diags: &mut Diagnostics,
) -> (Option<PathBuf>, Option<crate::apps::supervisor::Supervisors>) {
    let path = match root.get("supervisors") {
        Some(_) => match root.path("supervisors", base_dir, diags) {
            Some((path, _)) => path,
            None => return (None, None),
        },
        None if base_dir.join("supervisors.toml").is_file() => base_dir.join("supervisors.toml"),
        None => return (None, None),
    };
    let (supervisors, found) = crate::apps::supervisor::config::load(&path);
    diags.list.extend(found);
    (Some(path), supervisors)
}

/// `[fax]`: station id and header are sent to the far machine, so printable ASCII within T.30's
/// lengths.
fn read_fax(root: &Section, has_smtp: bool, diags: &mut Diagnostics) -> super::FaxConfig {
    use crate::dsp::fax::{MAX_HEADER_CHARS, MAX_IDENT_CHARS};
    let mut config = super::FaxConfig::default();
    let Some(section) = root.table("fax", diags) else {
        return config;
    };
    section.check_keys(FAX_KEYS, diags);
    let printable =
        |text: &str, max: usize| text.len() <= max && text.bytes().all(|b| (0x20..0x7f).contains(&b));
    if let Some((id, at)) = section.string("station_id", "the station id in quotes", diags) {
        if printable(id, MAX_IDENT_CHARS) {
            config.station_id = id.to_owned();
        } else {
            let message = format!(
                "fax.station_id = {id:?}: at most {MAX_IDENT_CHARS} characters of printable ASCII \
                 (digits, +, letters, spaces), as fax machines show it"
            );
            diags.error(root.src, at, message);
        }
    }
    if let Some((header, at)) = section.string("header", "the page header line in quotes", diags) {
        if printable(header, MAX_HEADER_CHARS) {
            config.header = Some(header.to_owned()).filter(|h| !h.is_empty());
        } else {
            let message =
                format!("fax.header = {header:?}: at most {MAX_HEADER_CHARS} characters of printable ASCII");
            diags.error(root.src, at, message);
        }
    }
    if let Some(ecm) = section.boolean("ecm", diags) {
        config.ecm = ecm;
    }
    read_fax_extras(root, &section, has_smtp, &mut config, diags);
    config
}

/// `[fax]` email (`email_to`, `email_numbers`: addresses lettre accepts; needs [smtp] in
/// mailboxes.toml) and cover page (`cover`, `company`).
fn read_fax_extras(
    root: &Section,
    section: &Section,
    has_smtp: bool,
    config: &mut super::FaxConfig,
    diags: &mut Diagnostics,
) {
    let address_ok = |a: &str| a.parse::<lettre::Address>().is_ok();
    let mut first_mail_at = None;
    if let Some((to, at)) = section.string("email_to", "an email address in quotes", diags) {
        if address_ok(to) {
            config.email_to = Some(to.to_owned());
            first_mail_at = Some(at);
        } else {
            let message = format!("fax.email_to = {to:?}: not an email address (e.g. \"fax@example.com\")");
            diags.error(root.src, at, message);
        }
    }
    if let Some(item) = section.get("email_numbers") {
        match item.get_ref() {
            Node::Table(entries) => {
                for (number, value) in entries {
                    match value.get_ref() {
                        Node::Str(address) if address_ok(address) => {
                            config
                                .email_numbers
                                .push((number.get_ref().clone(), address.clone()));
                            first_mail_at.get_or_insert(value.span().start);
                        }
                        _ => {
                            let message = format!(
                                "fax.email_numbers.{}: expected an email address in quotes",
                                number.get_ref()
                            );
                            diags.error(root.src, value.span().start, message);
                        }
                    }
                }
            }
            _ => section.bad_value(
                "email_numbers",
                item,
                "a table of number = \"address\", e.g. { \"8300\" = \"sales@example.com\" }",
                diags,
            ),
        }
    }
    if let (Some(at), false) = (first_mail_at, has_smtp) {
        let message = "fax email needs an SMTP server: add [smtp] (server, port, from) to mailboxes.toml \
                       (the one voicemail uses), or remove fax.email_to / fax.email_numbers"
            .to_string();
        diags.error(root.src, at, message);
    }
    if let Some(cover) = section.boolean("cover", diags) {
        config.cover = cover;
    }
    if let Some((company, at)) = section.string("company", "the company header in quotes", diags) {
        if company.len() <= 400 && !company.chars().any(|c| c.is_control() && c != '\n') {
            config.company = Some(company.to_owned()).filter(|c| !c.is_empty());
        } else {
            let message =
                "fax.company: at most 400 characters, no control characters but line breaks".to_string();
            diags.error(root.src, at, message);
        }
    }
}

const FAX_RETRIES: IntRule = IntRule {
    range: 0..=20,
    unit: "retries",
    note: "",
};
const FAX_RETRY_SPACING: IntRule = IntRule {
    range: 1..=86400,
    unit: "seconds",
    note: " (doubled for each further retry)",
};
const FAX_RING_TIMEOUT: IntRule = IntRule {
    range: 10..=300,
    unit: "seconds",
    note: "",
};
const FAX_KEEP_FINISHED: IntRule = IntRule {
    range: 0..=3650,
    unit: "days",
    note: " (0 keeps every sent document)",
};

/// `[fax]` keys of the outbound queue. The channel limit leaves at least one trunk for callers.
fn read_fax_queue(
    root: &Section,
    hw: Option<&super::HwMap>,
    diags: &mut Diagnostics,
) -> super::FaxQueueConfig {
    let mut config = super::FaxQueueConfig::default();
    // read_fax reported a [fax] that is not a table; nothing more to say here.
    let Some(Node::Table(entries)) = root.get("fax").map(|i| i.get_ref()) else {
        return config;
    };
    let section = Section {
        src: root.src,
        prefix: "fax.".into(),
        label: "in [fax]".into(),
        entries,
        start_bytes: 0,
    };
    let trunks = hw.map_or(0, |hw| {
        hw.spans
            .iter()
            .filter(|s| s.role == crate::hw::Role::Trunk)
            .map(|s| usize::from(s.channels))
            .sum::<usize>()
    });
    if section.get("max_outbound_channels").is_some() {
        let most = trunks.saturating_sub(1).max(1);
        let rule = IntRule {
            range: 1..=u32::try_from(most).unwrap_or(u32::MAX),
            unit: "channels",
            note: " (fewer than the trunk channels: at least one stays free for callers)",
        };
        // Without a usable hardware map (reported) there is no trunk count to check against.
        if hw.is_some() {
            config.max_outbound_channels = section.int("max_outbound_channels", &rule, diags);
        }
    }
    if let Some(n) = section.int("retries", &FAX_RETRIES, diags) {
        config.retries = n;
    }
    if let Some(n) = section.int("retry_spacing_s", &FAX_RETRY_SPACING, diags) {
        config.retry_spacing_s = n;
    }
    if let Some(n) = section.int("ring_timeout_s", &FAX_RING_TIMEOUT, diags) {
        config.ring_timeout_s = n;
    }
    if let Some(n) = section.int("keep_finished_days", &FAX_KEEP_FINISHED, diags) {
        config.keep_finished_days = n;
    }
    if let Some((number, at)) = section.string("caller_number", "our fax number in quotes", diags) {
        match crate::apps::fax::queue::normalize_number(number) {
            Ok(n) => config.caller_number = Some(n),
            Err(e) => diags.error(root.src, at, format!("fax.caller_number: {e}")),
        }
    }
    config
}

/// `fax_catalog` (optional): the fax-on-demand catalog. Only its presence is checked here, so that
/// every CLI verb need not convert documents; the daemon (and `telvox config check`, which builds
/// the runtime) loads it, converting and validating every document, and refuses a bad one.
fn read_fax_catalog(root: &Section, base_dir: &Path, diags: &mut Diagnostics) -> Option<Option<PathBuf>> {
    if root.get("fax_catalog").is_none() {
        return Some(None);
    }
    let (file, offset) = root.path("fax_catalog", base_dir, diags)?;
    if !file.is_file() {
        let message = format!(
            "fax_catalog: {} is not a file: point it at a catalog.toml (see faxdocs/), or remove the key",
            file.display()
        );
        diags.error(root.src, offset, message);
    }
    Some(Some(file))
}

const PIN_MAX_FAILURES: IntRule = IntRule {
    range: 1..=20,
    unit: "failures",
    note: "",
};

/// `[business]`, defaults filled in: `db` defaults to `<data_dir>/business.db`, the time zone to UTC.
fn read_business(
    root: &Section,
    base_dir: &Path,
    data_dir: Option<&Path>,
    diags: &mut Diagnostics,
) -> Option<crate::config::BusinessConfig> {
    let mut config = crate::config::BusinessConfig {
        db: data_dir?.join("business.db"),
        timezone: chrono_tz::UTC,
        pin_max_failures: 3,
        test_now: None,
    };
    let Some(section) = root.table("business", diags) else {
        return Some(config);
    };
    section.check_keys(BUSINESS_KEYS, diags);
    if section.get("db").is_some() {
        config.db = section.path("db", base_dir, diags)?.0;
    }
    if let Some((zone, offset)) = section.string("timezone", "a time zone in quotes", diags) {
        match zone.parse::<chrono_tz::Tz>() {
            Ok(tz) => config.timezone = tz,
            Err(_) => {
                let message =
                    format!("business.timezone = {zone:?}: not an IANA time zone, e.g. \"Asia/Shanghai\"");
                diags.error(section.src, offset, message);
            }
        }
    }
    let failures = section.int("pin_max_failures", &PIN_MAX_FAILURES, diags);
    config.pin_max_failures = failures.unwrap_or(config.pin_max_failures);
    if let Some((now, offset)) = section.string("test_now", "an RFC 3339 time in quotes", diags) {
        match chrono::DateTime::parse_from_rfc3339(now) {
            Ok(now) => config.test_now = Some(now),
            Err(_) => {
                let message =
                    format!("business.test_now = {now:?}: expected e.g. \"2026-11-22T23:00:00+08:00\"");
                diags.error(section.src, offset, message);
            }
        }
    }
    Some(config)
}

/// `flows_dir` (default `flows` next to telvox.toml, else `DEFAULT_FLOWS_DIR`), with every flow's
/// diagnostics. `None` only when the key is malformed.
fn read_flows(
    root: &Section,
    base_dir: &Path,
    voice_dir: Option<&Path>,
    diags: &mut Diagnostics,
) -> Option<PathBuf> {
    let dir = match root.get("flows_dir") {
        Some(_) => {
            let (dir, offset) = root.path("flows_dir", base_dir, diags)?;
            if !dir.is_dir() {
                let message = format!(
                    "flows_dir: {} is not a directory: create it (with the flow files), or remove the key",
                    dir.display()
                );
                diags.error(root.src, offset, message);
            }
            dir
        }
        None if base_dir.join("flows").is_dir() => base_dir.join("flows"),
        None => PathBuf::from(DEFAULT_FLOWS_DIR),
    };
    // Prompts are only checked against a voice_dir that exists (a missing one is reported already).
    let voice_dir = voice_dir.filter(|d| d.is_dir());
    let registry = crate::apps::ivr::Registry::builtin();
    let (_, found) = crate::apps::ivr::load_dir(&dir, voice_dir, &registry);
    diags.list.extend(found);
    Some(dir)
}

/// Reads a file; an unreadable file is reported at its line 1, column 1.
fn read_source(path: &Path, diags: &mut Diagnostics) -> Option<Source> {
    match fs::read_to_string(path) {
        Ok(text) => Some(Source::new(path.to_path_buf(), text)),
        Err(err) => {
            let src = Source::new(path.to_path_buf(), String::new());
            diags.error(
                &src,
                0,
                format!("cannot read this file: {err}; check the path and its permissions"),
            );
            None
        }
    }
}

fn required_dir(
    root: &Section,
    key: &str,
    base_dir: &Path,
    example: &str,
    diags: &mut Diagnostics,
) -> Option<(PathBuf, usize)> {
    root.require(key, example, diags)?;
    root.path(key, base_dir, diags)
}

fn read_log(root: &Section, diags: &mut Diagnostics) -> String {
    let expected = "a log filter in quotes, e.g. \"info\" or \"telvox=debug\"";
    match root.string("log", expected, diags) {
        Some(("", offset)) => {
            diags.error(root.src, offset, format!("log is empty: expected {expected}"));
            String::new()
        }
        Some((filter, _)) => filter.to_owned(),
        None => "info".to_owned(),
    }
}

/// `voice_dir`, defaulting to `DEFAULT_VOICE_DIR`; it must exist. `None` only when malformed.
fn read_voice_dir(root: &Section, base_dir: &Path, diags: &mut Diagnostics) -> Option<PathBuf> {
    if root.get("voice_dir").is_none() {
        let dir = PathBuf::from(DEFAULT_VOICE_DIR);
        if !dir.is_dir() {
            let message = format!(
                "the default voice_dir {} does not exist: install the prompts (install.sh does), \
                 or set voice_dir = \"/path/to/voice\"",
                dir.display()
            );
            diags.error(root.src, 0, message);
        }
        return Some(dir);
    }
    let (dir, offset) = root.path("voice_dir", base_dir, diags)?;
    if !dir.is_dir() {
        let message = format!(
            "voice_dir: {} is not a directory: install the prompts (install.sh does), or point \
             voice_dir at a directory with one subdirectory per language",
            dir.display()
        );
        diags.error(root.src, offset, message);
    }
    Some(dir)
}

/// `[sim]`. `None` only when the socket cannot be known (no usable `run_dir` to default from).
fn read_sim(
    root: &Section,
    base_dir: &Path,
    run_dir: Option<&(PathBuf, usize)>,
    diags: &mut Diagnostics,
) -> Option<SimConfig> {
    let section = root.table("sim", diags);
    let Some(sim) = section else {
        let socket = run_dir?.0.join("sim.sock");
        return Some(SimConfig {
            clock: SimClock::Realtime,
            socket,
        });
    };
    sim.check_keys(SIM_KEYS, diags);
    let clock = sim
        .choice("clock", &["realtime", "lockstep"], diags)
        .unwrap_or(SimClock::Realtime);
    let socket = match sim.path("socket", base_dir, diags) {
        Some((socket, offset)) => {
            check_socket_path(root.src, offset, "sim.socket", &socket, diags);
            socket
        }
        // The default is as long as ctl.sock in the same directory, which is already checked.
        None => run_dir?.0.join("sim.sock"),
    };
    Some(SimConfig { clock, socket })
}

/// `[linetest]`, defaults filled in; the language must have a prompt set under `voice_dir`.
fn read_linetest(root: &Section, voice_dir: Option<&Path>, diags: &mut Diagnostics) -> LineTestConfig {
    let mut config = LineTestConfig::default();
    // Where a bad language is reported: its value, else the [linetest] header, else the file start.
    let mut language_at = 0;
    if let Some(section) = root.table("linetest", diags) {
        section.check_keys(LINETEST_KEYS, diags);
        language_at = section.start_bytes;
        let expected = "a language code in quotes, e.g. \"en\"";
        if let Some((language, offset)) = section.string("language", expected, diags) {
            config.language = language.to_owned();
            language_at = offset;
        }
        let rings = section.int("answer_after_rings", &ANSWER_AFTER_RINGS, diags);
        config.answer_after_rings = rings.unwrap_or(config.answer_after_rings);
        config.max_digits = section
            .int("max_digits", &MAX_DIGITS, diags)
            .unwrap_or(config.max_digits);
        config.timeout_ms = section
            .int("timeout_ms", &TIMEOUT, diags)
            .unwrap_or(config.timeout_ms);
    }
    // A missing voice_dir is reported already; listing its languages would say nothing more.
    if let Some(dir) = voice_dir.filter(|dir| dir.is_dir()) {
        check_language(root.src, &config.language, dir, language_at, diags);
    }
    config
}

fn check_language(src: &Source, language: &str, voice_dir: &Path, offset: usize, diags: &mut Diagnostics) {
    // A plain name only: `..` or `/` would reach outside voice_dir.
    let plain = !language.is_empty()
        && language
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if plain && voice_dir.join(language).is_dir() {
        return;
    }
    let found = list_languages(voice_dir);
    let fix = if found.is_empty() {
        "no language subdirectories are there: install the prompts (install.sh does)".to_owned()
    } else {
        format!("use one of the languages found there: {}", found.join(", "))
    };
    let message = format!(
        "linetest.language = {language:?}: {} has no {language:?} prompt set; {fix}",
        voice_dir.display()
    );
    diags.error(src, offset, message);
}

/// Subdirectory names of `voice_dir`, sorted, at most `MAX_LISTED_LANGUAGES`.
fn list_languages(voice_dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(voice_dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|entry| entry.path().is_dir())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    names.sort();
    names.truncate(MAX_LISTED_LANGUAGES);
    names
}

// ---------------------------------------------------------------------------------------------------
// [numbers]

/// One `[numbers]` entry that parsed, with where its key is for later warnings.
struct NumberEntry {
    pattern: NumberPattern,
    flow: String,
    key_offset: usize,
}

fn read_numbers(root: &Section, flows: &[String], diags: &mut Diagnostics) -> Vec<NumberEntry> {
    let Some(section) = root.table("numbers", diags) else {
        return Vec::new();
    };
    if section.entries.len() > MAX_NUMBERS {
        let message = format!(
            "[numbers] has {} entries, at most {MAX_NUMBERS} are allowed: cover ranges with _ patterns",
            section.entries.len()
        );
        diags.error(section.src, section.start_bytes, message);
    }
    let entries: Vec<NumberEntry> = section
        .entries
        .iter()
        .filter_map(|(key, item)| read_number_entry(&section, key, item, flows, diags))
        .collect();
    warn_duplicate_numbers(section.src, &entries, diags);
    entries
}

fn read_number_entry(
    section: &Section,
    key: &Key,
    item: &Item,
    flows: &[String],
    diags: &mut Diagnostics,
) -> Option<NumberEntry> {
    let number = key.get_ref();
    let pattern = match NumberPattern::parse(number) {
        Ok(pattern) => Some(pattern),
        Err(err) => {
            diags.error(
                section.src,
                key.span().start,
                format!("[numbers] {number:?}: {err}"),
            );
            None
        }
    };
    let flow = read_flow(section, number, item, flows, diags);
    Some(NumberEntry {
        pattern: pattern?,
        flow: flow?,
        key_offset: key.span().start,
    })
}

fn read_flow(
    section: &Section,
    number: &str,
    item: &Item,
    flow_files: &[String],
    diags: &mut Diagnostics,
) -> Option<String> {
    let known = |flow: &str| BUILTIN_FLOWS.contains(&flow) || flow_files.iter().any(|f| f == flow);
    let all: Vec<&str> = BUILTIN_FLOWS
        .iter()
        .copied()
        .chain(flow_files.iter().map(String::as_str))
        .collect();
    let flows = all.join(", ");
    let shown = section.src.snippet(item.span());
    let problem = match item.get_ref() {
        Node::Str(flow) if known(flow) => return Some(flow.clone()),
        Node::Str(_) => "no such flow",
        _ => "expected a flow name in quotes",
    };
    let message = format!("[numbers] {number:?} = {shown}: {problem}; use one of: {flows}");
    diags.error(section.src, item.span().start, message);
    None
}

/// Warns about entries that match exactly the same numbers as an earlier one (`_x.` and `_X.`).
fn warn_duplicate_numbers(src: &Source, entries: &[NumberEntry], diags: &mut Diagnostics) {
    let mut first_by_canonical: HashMap<String, &NumberEntry> = HashMap::new();
    for entry in entries {
        let Some(first) = first_by_canonical.get(&entry.pattern.canonical()) else {
            first_by_canonical.insert(entry.pattern.canonical(), entry);
            continue;
        };
        let (line, _) = src.position(first.key_offset);
        let message = format!(
            "[numbers] {:?} matches exactly the same numbers as {:?} on line {line}: only one of them can \
             ever be used; remove one",
            entry.pattern.as_str(),
            first.pattern.as_str()
        );
        diags.warning(src, entry.key_offset, message);
    }
}

/// Warns about `[numbers]` entries that no span's `numbers` can deliver.
fn warn_unrouted(src: &Source, entries: &[NumberEntry], hw: &HwMap, diags: &mut Diagnostics) {
    let routes: Vec<NumberPattern> = hw
        .spans
        .iter()
        .flat_map(|span| &span.numbers)
        .filter_map(|n| NumberPattern::parse(n).ok())
        .collect();
    for entry in entries {
        if routes.iter().any(|route| route.overlaps(&entry.pattern)) {
            continue;
        }
        let message = format!(
            "[numbers] {:?} is not routed to telvox: no span's numbers in {} match it; add it (or a \
             pattern covering it) to a [[span]]'s numbers",
            entry.pattern.as_str(),
            hw.source
        );
        diags.warning(src, entry.key_offset, message);
    }
}

// ---------------------------------------------------------------------------------------------------
// The hardware map

/// The map `hw` names (resolved against telvox.toml's directory), or the embedded sim card's.
fn read_hw(root: &Section, base_dir: &Path, diags: &mut Diagnostics) -> Option<HwMap> {
    if root.get("hw").is_none() {
        let src = Source::new(PathBuf::from(EMBEDDED_MAP_NAME), EMBEDDED_SIM_MAP.to_owned());
        return parse_hw(&src, diags);
    }
    let (path, offset) = root.path("hw", base_dir, diags)?;
    match fs::read_to_string(&path) {
        Ok(text) => parse_hw(&Source::new(path, text), diags),
        Err(err) => {
            let message = format!(
                "hw: cannot read {}: {err}; fix the path, or remove `hw` to use the embedded simulated card",
                path.display()
            );
            diags.error(root.src, offset, message);
            None
        }
    }
}

fn parse_hw(src: &Source, diags: &mut Diagnostics) -> Option<HwMap> {
    let entries = parse_document(src, diags)?;
    let root = Section::root(src, &entries);
    root.check_keys(HW_KEYS, diags);
    let card = read_card(&root, diags);
    let ring_on_ms = root
        .int("ring_on_ms", &RING_ON, diags)
        .unwrap_or(DEFAULT_RING_ON_MS);
    let ring_off_ms = root
        .int("ring_off_ms", &RING_OFF, diags)
        .unwrap_or(DEFAULT_RING_OFF_MS);
    let spans = read_spans(&root, diags);
    let source = src.name.display().to_string();
    Some(HwMap {
        source,
        card: card?,
        spans: spans?,
        ring_on_ms,
        ring_off_ms,
    })
}

fn read_card(root: &Section, diags: &mut Diagnostics) -> Option<CardKind> {
    root.require("card", "\"sim\"", diags)?;
    root.choice("card", &["sim", "dahdi"], diags)
}

fn read_spans(root: &Section, diags: &mut Diagnostics) -> Option<Vec<SpanConfig>> {
    let tables = span_tables(root, diags)?;
    if tables.len() > MAX_SPANS {
        let message = format!(
            "span #{} is one too many: telvox drives at most {MAX_SPANS} spans; remove or merge spans",
            MAX_SPANS + 1
        );
        diags.error(root.src, tables[MAX_SPANS].span().start, message);
    }
    let spans: Vec<Option<SpanConfig>> = tables
        .iter()
        .take(MAX_SPANS)
        .enumerate()
        .map(|(index, item)| read_span(root.src, index, item, diags))
        .collect();
    check_extensions_unique(root.src, tables, &spans, diags);
    // Per-span limits imply this today (64 × 31 < 2048); it stays as the engine's real bound on threads.
    let total_channels: usize = spans
        .iter()
        .flatten()
        .map(|span| usize::from(span.channels))
        .sum();
    if total_channels > MAX_TOTAL_CHANNELS {
        let message = format!(
            "the spans have {total_channels} channels in all, at most {MAX_TOTAL_CHANNELS}: remove spans"
        );
        diags.error(root.src, tables[0].span().start, message);
    }
    spans.into_iter().collect()
}

/// The `[[span]]` tables, or `None` when there are none or `span` is not a list of tables (reported).
fn span_tables<'a>(root: &Section<'a>, diags: &mut Diagnostics) -> Option<&'a [Item]> {
    let example =
        "[[span]] with name = \"E1 trunk group\", law = \"alaw\", channels = 30, role = \"trunk\", \
                   numbers = [\"_X.\"]";
    let Some(item) = root.get("span") else {
        diags.error(
            root.src,
            0,
            format!("no [[span]] in this hardware map: add at least one, e.g. {example}"),
        );
        return None;
    };
    match item.get_ref() {
        Node::Array(items)
            if !items.is_empty() && items.iter().all(|i| matches!(i.get_ref(), Node::Table(_))) =>
        {
            Some(items)
        }
        _ => {
            let message = format!("`span` must be one or more [[span]] tables, e.g. {example}");
            diags.error(root.src, item.span().start, message);
            None
        }
    }
}

fn read_span(src: &Source, index: usize, item: &Item, diags: &mut Diagnostics) -> Option<SpanConfig> {
    let Node::Table(entries) = item.get_ref() else {
        return None;
    };
    let number = index + 1;
    let (prefix, label) = (format!("span #{number} "), format!("in [[span]] #{number}"));
    let section = Section {
        src,
        prefix,
        label,
        entries,
        start_bytes: item.span().start,
    };
    section.check_keys(&[SPAN_KEYS, dahdi_map::SPAN_DAHDI_KEYS].concat(), diags);
    let name = read_span_name(&section, diags);
    let law = section
        .require("law", "\"alaw\"", diags)
        .and_then(|()| section.choice::<Law>("law", &["alaw", "ulaw"], diags));
    let channels = section
        .require("channels", "30", diags)
        .and_then(|()| section.int("channels", &CHANNELS, diags));
    let role = section
        .require("role", "\"trunk\"", diags)
        .and_then(|()| section.choice::<Role>("role", &["trunk", "extension"], diags));
    let numbers = read_span_numbers(&section, diags);
    let dtmf = law.and_then(|law| read_span_dtmf(&section, law, diags));
    let country = read_span_country(&section, diags);
    let far_end_hangup = match section.get("far_end_hangup") {
        None => Some(FarEndHangup::Signal),
        Some(_) => section.choice::<FarEndHangup>("far_end_hangup", &["signal", "tone", "polarity"], diags),
    };
    let disconnect_tone = match section.get("disconnect_tone") {
        None => Some(false),
        Some(_) => section.boolean("disconnect_tone", diags),
    };
    let signalling = match section.get("signalling") {
        None => Some(Signalling::Network),
        Some(_) => section.choice::<Signalling>("signalling", SIGNALLING_NAMES, diags),
    };
    let extensions = read_span_extensions(&section, channels, role, diags);
    let phone_callerid = read_phone_callerid(&section, diags);
    let dahdi = dahdi_map::read_span_dahdi(&section, channels, diags);
    let analog = read_span_analog(
        &section,
        numbers.as_deref().unwrap_or_default(),
        signalling,
        diags,
    );
    if numbers.as_ref().is_some_and(Vec::is_empty) && extensions.as_ref().is_some_and(Vec::is_empty) {
        let message = format!(
            "[[span]] #{number} has no numbers, so nothing routes calls to it; add numbers = [\"_X.\"] \
             or the numbers it answers"
        );
        diags.warning(src, item.span().start, message);
    }
    Some(SpanConfig {
        span: u16::try_from(number).ok()?,
        name: name?,
        law: law?,
        channels: u16::try_from(channels?).ok()?,
        role: role?,
        numbers: numbers?,
        dtmf: dtmf?,
        country: country?,
        far_end_hangup: far_end_hangup?,
        disconnect_tone: disconnect_tone?,
        signalling: signalling?,
        extensions: extensions?,
        phone_callerid: phone_callerid?,
        dahdi: dahdi?,
        analog: analog?,
    })
}

/// A span's `phone_callerid`: the FSK modem its phones are sent caller ID with.
fn read_phone_callerid(
    section: &Section,
    diags: &mut Diagnostics,
) -> Option<Option<crate::dsp::callerid::FskStandard>> {
    use crate::dsp::callerid::FskStandard;
    if section.get("phone_callerid").is_none() {
        return Some(None);
    }
    let expected = "\"v23\" (ETSI, China, most of the world) or \"bell202\" (North America)";
    let (value, offset) = section.string("phone_callerid", expected, diags)?;
    match value.to_ascii_lowercase().as_str() {
        "v23" | "v.23" => Some(Some(FskStandard::V23)),
        "bell202" | "bell 202" => Some(Some(FskStandard::Bell202)),
        _ => {
            let message = format!(
                "{}phone_callerid = \"{value}\": expected {expected}",
                section.prefix
            );
            diags.error(section.src, offset, message);
            None
        }
    }
}

/// No extension number on two spans (each span's own list is checked as it is read).
fn check_extensions_unique(
    src: &Source,
    tables: &[Item],
    spans: &[Option<SpanConfig>],
    diags: &mut Diagnostics,
) {
    let mut seen: std::collections::HashMap<&str, u16> = std::collections::HashMap::new();
    for (table, span) in tables.iter().zip(spans) {
        let Some(span) = span else { continue };
        let Node::Table(entries) = table.get_ref() else {
            continue;
        };
        let elements = entries
            .iter()
            .find(|(k, _)| k.get_ref() == "extensions")
            .and_then(|(_, item)| match item.get_ref() {
                Node::Array(elements) => Some(elements),
                _ => None,
            });
        for number in &span.extensions {
            match seen.get(number.as_str()) {
                Some(first) => {
                    let at = elements
                        .and_then(|e| {
                            e.iter()
                                .find(|i| matches!(i.get_ref(), Node::Str(t) if t == number))
                        })
                        .map_or(table.span().start, |i| i.span().start);
                    let message = format!(
                        "span #{} extensions: \"{number}\" is already an extension of span #{first}; an extension \
                         number rings one phone",
                        span.span
                    );
                    diags.error(src, at, message);
                }
                None => {
                    seen.insert(number, span.span);
                }
            }
        }
    }
}

/// A span's `extensions`: one exact number per channel from channel 1, on extension spans only,
/// no number twice.
fn read_span_extensions(
    section: &Section,
    channels: Option<u32>,
    role: Option<Role>,
    diags: &mut Diagnostics,
) -> Option<Vec<String>> {
    let Some(item) = section.get("extensions") else {
        return Some(Vec::new());
    };
    let expected = "a list of extension numbers, channel 1 first, e.g. [\"601\", \"602\"]";
    let Node::Array(elements) = item.get_ref() else {
        section.bad_value("extensions", item, expected, diags);
        return None;
    };
    if role == Some(Role::Trunk) {
        let message = format!(
            "{}extensions: only a span with role = \"extension\" has extension numbers; \
             set role = \"extension\" (and signalling = \"fxoks\") or remove `extensions`",
            section.prefix
        );
        diags.error(section.src, item.span().start, message);
        return None;
    }
    if let Some(channels) = channels.filter(|&c| elements.len() > c as usize) {
        let message = format!(
            "{}extensions: {} numbers for {channels} channels; list at most one per channel",
            section.prefix,
            elements.len()
        );
        diags.error(section.src, item.span().start, message);
        return None;
    }
    let mut out = Vec::with_capacity(elements.len());
    let mut ok = true;
    for element in elements {
        let valid = match element.get_ref() {
            Node::Str(text)
                if !text.is_empty()
                    && text.len() <= 20
                    && text.chars().all(|c| c.is_ascii_digit() || c == '*' || c == '#') =>
            {
                Some(text.clone())
            }
            _ => None,
        };
        let shown = section.src.snippet(element.span());
        match valid {
            Some(text) if out.contains(&text) => {
                let message = format!("{}extensions: {shown} is listed twice", section.prefix);
                diags.error(section.src, element.span().start, message);
                ok = false;
            }
            Some(text) => out.push(text),
            None => {
                let message = format!(
                    "{}extensions: {shown}: expected an extension number in quotes, 1 to 20 of 0-9 * #, \
                     e.g. \"601\"",
                    section.prefix
                );
                diags.error(section.src, element.span().start, message);
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

const RING_TIMEOUT: IntRule = IntRule {
    range: 1000..=60_000,
    unit: "ms",
    note: "",
};
const DNIS_TIMEOUT: IntRule = IntRule {
    range: 0..=30_000,
    unit: "ms",
    note: " (0: the far end sends no digits)",
};

/// A span's analog trunk and E&M keys (engine::line::trunk::AnalogOptions); each optional. Calls
/// on such lines are offered to the span's first exact number (analog lines carry no DNIS).
fn read_span_analog(
    section: &Section,
    numbers: &[String],
    signalling: Option<Signalling>,
    diags: &mut Diagnostics,
) -> Option<crate::engine::line::AnalogOptions> {
    use crate::engine::line::{AnalogOptions, CallerIdSignalling, CallerIdStart};
    let mut analog = AnalogOptions::default();
    let mut ok = true;
    if section.get("caller_id").is_some() {
        let choices = &["none", "bell202", "v23", "dtmf"];
        match section.choice::<CallerIdSignalling>("caller_id", choices, diags) {
            Some(v) => analog.caller_id = v,
            None => ok = false,
        }
    }
    if section.get("caller_id_start").is_some() {
        match section.choice::<CallerIdStart>("caller_id_start", &["ring", "polarity"], diags) {
            Some(v) => analog.caller_id_start = v,
            None => ok = false,
        }
    }
    for (key, field) in [
        ("hangup_on_polarity", &mut analog.hangup_on_polarity),
        ("answer_on_polarity", &mut analog.answer_on_polarity),
    ] {
        if section.get(key).is_some() {
            match section.boolean(key, diags) {
                Some(v) => *field = v,
                None => ok = false,
            }
        }
    }
    for (key, rule, field) in [
        ("ring_timeout_ms", &RING_TIMEOUT, &mut analog.ring_timeout_ms),
        ("dnis_timeout_ms", &DNIS_TIMEOUT, &mut analog.dnis_timeout_ms),
    ] {
        if section.get(key).is_some() {
            match section.int(key, rule, diags) {
                Some(v) => *field = v,
                None => ok = false,
            }
        }
    }
    let exact = numbers
        .iter()
        .find(|n| !n.starts_with('_'))
        .map(|n| crate::fixed::Number::from_str_truncating(n));
    analog.number = exact.unwrap_or_default();
    let fxo_trunk = signalling.is_some_and(|s| matches!(s, Signalling::Fxsks | Signalling::Fxsls));
    let fxo_keys = [
        "caller_id",
        "caller_id_start",
        "hangup_on_polarity",
        "answer_on_polarity",
    ];
    if signalling.is_some() && !fxo_trunk {
        for key in fxo_keys.iter().filter(|k| section.get(k).is_some()) {
            let message = format!(
                "{}{key} applies to analog trunks only (signalling = \"fxsks\" or \"fxsls\"); it is ignored here",
                section.prefix
            );
            diags.warning(section.src, section.start_bytes, message);
        }
    }
    let line_signalled = signalling.is_some_and(|s| !matches!(s, Signalling::Network));
    let is_trunk = signalling.is_some_and(|s| s.role() == Role::Trunk);
    if line_signalled && is_trunk && exact.is_none() && !numbers.is_empty() {
        let message = format!(
            "{}has no exact number in `numbers`: calls on an analog, E&M or clear line are offered to the \
             span's first exact number (the line carries none), so they would reach no flow; put the \
             line's number first, e.g. numbers = [\"8000\", ...]",
            section.prefix
        );
        diags.warning(section.src, section.start_bytes, message);
    }
    ok.then_some(analog)
}

/// The values a span's `signalling` takes (serde names of [`Signalling`]).
const SIGNALLING_NAMES: &[&str] = &[
    "network", "fxsks", "fxsls", "fxoks", "fxols", "em", "em_wink", "clear",
];

/// A span's `country`: a tone plan code (default [`DEFAULT_COUNTRY`]).
fn read_span_country(section: &Section, diags: &mut Diagnostics) -> Option<Country> {
    if section.get("country").is_none() {
        return Some(DEFAULT_COUNTRY);
    }
    let (code, offset) = section.string("country", "a tone plan code in quotes, e.g. \"cn\"", diags)?;
    match Country::from_code(code) {
        Ok(country) => Some(country),
        Err(e) => {
            diags.error(section.src, offset, format!("{}country: {e}", section.prefix));
            None
        }
    }
}

/// A span's `dtmf = { ... }` receiver settings: each key optional, defaults per Q.24; the receiver
/// itself validates the combination (e.g. a dropout bridge shorter than the minimum pause).
fn read_span_dtmf(section: &Section, law: Law, diags: &mut Diagnostics) -> Option<DtmfRxConfig> {
    let mut config = DtmfRxConfig::for_law(law);
    let Some(dtmf) = section.table("dtmf", diags) else {
        return section.get("dtmf").is_none().then_some(config);
    };
    let mut keys = DTMF_INT_KEYS.to_vec();
    keys.extend_from_slice(DTMF_FLOAT_KEYS);
    dtmf.check_keys(&keys, diags);
    let ints = [
        &mut config.min_on_ms,
        &mut config.min_off_ms,
        &mut config.max_dropout_ms,
    ];
    for (key, field) in DTMF_INT_KEYS.iter().zip(ints) {
        if let Some(value) = dtmf.int(key, &DTMF_MS, diags) {
            *field = value;
        }
    }
    let floats = [
        &mut config.reverse_twist_db,
        &mut config.normal_twist_db,
        &mut config.min_level_dbm0,
        &mut config.freq_tolerance_pct,
    ];
    for (key, field) in DTMF_FLOAT_KEYS.iter().zip(floats) {
        if let Some(value) = dtmf.number(key, diags) {
            *field = value as f32;
        }
    }
    if let Err(e) = crate::dsp::dtmf::DtmfRx::new(config) {
        let message = format!("{}dtmf: {e}", section.prefix);
        diags.error(section.src, dtmf.start_bytes, message);
        return None;
    }
    Some(config)
}

fn read_span_name(section: &Section, diags: &mut Diagnostics) -> Option<String> {
    section.require("name", "\"E1 trunk group\"", diags)?;
    let expected = format!("a name in quotes, 1 to {MAX_SPAN_NAME_CHARS} characters");
    let (name, _) = section.string("name", &expected, diags)?;
    let len_chars = name.chars().count();
    if len_chars == 0 || len_chars > MAX_SPAN_NAME_CHARS {
        let item = section.get("name")?;
        section.bad_value("name", item, &expected, diags);
        return None;
    }
    Some(name.to_owned())
}

/// A span's `numbers` (empty when absent); `None` when any entry is invalid (reported).
fn read_span_numbers(section: &Section, diags: &mut Diagnostics) -> Option<Vec<String>> {
    let Some(item) = section.get("numbers") else {
        return Some(Vec::new());
    };
    let expected = "a list of numbers or _ patterns, e.g. [\"8000\", \"_X.\"]";
    let Node::Array(elements) = item.get_ref() else {
        section.bad_value("numbers", item, expected, diags);
        return None;
    };
    if elements.len() > MAX_NUMBERS {
        section.bad_value(
            "numbers",
            item,
            &format!("at most {MAX_NUMBERS} entries; use _ patterns"),
            diags,
        );
        return None;
    }
    let numbers: Vec<Option<String>> = elements
        .iter()
        .map(|element| read_span_number(section, element, diags))
        .collect();
    numbers.into_iter().collect()
}

fn read_span_number(section: &Section, element: &Item, diags: &mut Diagnostics) -> Option<String> {
    let problem = match element.get_ref() {
        Node::Str(text) => match NumberPattern::parse(text) {
            Ok(_) => return Some(text.clone()),
            Err(err) => err.to_string(),
        },
        _ => "expected a number or pattern in quotes, e.g. \"8000\" or \"_X.\"".to_owned(),
    };
    let shown = section.src.snippet(element.span());
    diags.error(
        section.src,
        element.span().start,
        format!("{}numbers: {shown}: {problem}", section.prefix),
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPO_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/etc/telvox.toml");
    /// The three lines every test config starts with; tests' own lines start at line 4.
    const BASE: &str = "run_dir = \"run\"\ndata_dir = \"data\"\nvoice_dir = \"voice\"\n";
    /// A hardware map whose one span answers 8000-8999 only.
    const SITE_MAP: &str = "card = \"sim\"\n[[span]]\nname = \"trunks\"\nlaw = \"alaw\"\nchannels = 4\n\
                            role = \"trunk\"\nnumbers = [\"_8XXX\"]\n";

    /// A temporary site directory with prompt sets `en` and `zh`.
    struct Site {
        dir: tempfile::TempDir,
    }

    impl Site {
        fn new() -> Site {
            let dir = tempfile::tempdir().expect("tempdir");
            for language in ["en", "zh"] {
                fs::create_dir_all(dir.path().join("voice").join(language)).expect("voice dir");
            }
            // An empty flows/ next to telvox.toml, so the shipped flows (checked against this
            // site's empty prompt sets) are not picked up as the default.
            fs::create_dir_all(dir.path().join("flows")).expect("flows dir");
            Site { dir }
        }

        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.path(name);
            fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            fs::write(&path, text).expect("write");
            path
        }

        /// Writes `telvox.toml`: `BASE`, then `rest`.
        fn config(&self, rest: &str) -> PathBuf {
            self.write("telvox.toml", &format!("{BASE}{rest}"))
        }

        /// Every diagnostic for `path`, displayed with file names relative to the site.
        fn findings(&self, path: &Path) -> Vec<String> {
            let (config, diagnostics) = check_file(path);
            let has_errors = diagnostics.iter().any(|d| d.severity == Severity::Error);
            assert_eq!(
                config.is_some(),
                !has_errors,
                "Some(config) exactly when there are no errors"
            );
            diagnostics
                .into_iter()
                .map(|mut d| {
                    d.file = d
                        .file
                        .strip_prefix(self.dir.path())
                        .map(Path::to_path_buf)
                        .unwrap_or(d.file);
                    d.to_string()
                })
                .collect()
        }

        /// The findings for a config of `BASE` + `rest`.
        fn check(&self, rest: &str) -> Vec<String> {
            self.findings(&self.config(rest))
        }
    }

    fn replace_once(text: &str, from: &str, to: &str) -> String {
        assert!(text.contains(from), "etc/telvox.toml no longer contains {from:?}");
        text.replacen(from, to, 1)
    }

    #[test]
    fn repository_config_loads_clean_with_expected_values() {
        let (config, diagnostics) = check_file(Path::new(REPO_CONFIG));
        assert_eq!(
            diagnostics,
            Vec::new(),
            "etc/telvox.toml must load without findings"
        );
        let config = config.expect("config");
        assert_eq!(config.source, PathBuf::from(REPO_CONFIG));
        assert_eq!(config.run_dir, PathBuf::from("/run/telvox"));
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/telvox"));
        assert_eq!(config.voice_dir, PathBuf::from(DEFAULT_VOICE_DIR));
        assert!(!config.realtime);
        assert_eq!(config.log, "info");
        assert_eq!(config.max_call_seconds, 3600);
        assert_eq!(
            config.sim,
            SimConfig {
                clock: SimClock::Realtime,
                socket: "/run/telvox/sim.sock".into()
            }
        );
        let numbers: Vec<(&str, &str)> = config
            .numbers
            .iter()
            .map(|(n, f)| (n.as_str(), f.as_str()))
            .collect();
        assert_eq!(
            numbers,
            [
                ("8000", "main"),
                ("8200", "fax"),
                ("8500", "voicemail"),
                ("8900", "supervisor"),
                ("8999", "linetest")
            ]
        );
        assert_eq!(config.flows_dir, PathBuf::from(DEFAULT_FLOWS_DIR));
        assert_eq!(config.linetest, LineTestConfig::default());
        assert_eq!(config.hw.source, EMBEDDED_MAP_NAME);
        assert_eq!(config.total_channels(), 30);
        assert_eq!(config.ctl_socket(), PathBuf::from("/run/telvox/ctl.sock"));
    }

    #[test]
    fn copy_of_etc_with_relative_paths_resolves_into_the_copy() {
        let site = Site::new();
        let text = fs::read_to_string(REPO_CONFIG).expect("etc/telvox.toml");
        let text = replace_once(&text, "run_dir = \"/run/telvox\"", "run_dir = \"../run\"");
        let text = replace_once(&text, "data_dir = \"/var/lib/telvox\"", "data_dir = \"./data\"");
        let text = replace_once(&text, "# hw = \"hw/site.toml\"", "hw = \"hw/site.toml\"");
        let text = replace_once(
            &text,
            "# voice_dir = \"/usr/share/telvox/voice\"",
            "voice_dir = \"../voice\"",
        );
        let text = replace_once(
            &text,
            "# socket = \"/run/telvox/sim.sock\"",
            "socket = \"sim/far.sock\"",
        );
        // The flows go with the copy (without prompts in this site, the line test stands in).
        let text = replace_once(&text, "\"8000\" = \"main\"", "\"8000\" = \"linetest\"");
        let text = replace_once(&text, "\"8500\" = \"voicemail\"", "\"8500\" = \"linetest\"");
        let text = replace_once(&text, "\"8200\" = \"fax\"", "\"8200\" = \"linetest\"");
        let text = replace_once(&text, "\"8900\" = \"supervisor\"", "\"8900\" = \"linetest\"");
        fs::create_dir_all(site.path("etc/flows")).expect("flows dir");
        site.write("etc/hw/site.toml", EMBEDDED_SIM_MAP);
        let path = site.write("etc/telvox.toml", &text);

        let config = load_file(&path).expect("the copy loads");
        let root = site.dir.path();
        assert_eq!(config.source, root.join("etc/telvox.toml"));
        assert_eq!(config.run_dir, root.join("etc/../run"));
        assert_eq!(config.data_dir, root.join("etc/data"));
        assert_eq!(config.voice_dir, root.join("etc/../voice"));
        assert_eq!(config.sim.socket, root.join("etc/sim/far.sock"));
        assert_eq!(
            config.hw.source,
            root.join("etc/hw/site.toml").display().to_string()
        );
        assert!(
            config.data_dir.to_str().is_some_and(|d| !d.contains("/./")),
            "`.` components are dropped"
        );
    }

    #[test]
    fn default_sim_socket_is_in_run_dir() {
        let site = Site::new();
        let config = load_file(&site.config("")).expect("loads");
        assert_eq!(config.sim.socket, site.path("run/sim.sock"));
        assert_eq!(config.sim.clock, SimClock::Realtime);
    }

    #[test]
    fn a_span_tunes_its_dtmf_receiver_and_a_bad_combination_is_located() {
        let map = "card = \"sim\"\n[[span]]\nname = \"T1\"\nlaw = \"ulaw\"\nchannels = 24\nrole = \"trunk\"\n\
                   numbers = [\"_X.\"]\ndtmf = { min_on_ms = 50, normal_twist_db = 8.5, reverse_twist_db = 4 }\n";
        let src = Source::new(PathBuf::from("site.toml"), map.to_owned());
        let mut diags = Diagnostics::default();
        let hw = parse_hw(&src, &mut diags).expect("parses");
        assert_eq!(diags.list, Vec::new());
        let dtmf = hw.spans[0].dtmf;
        assert_eq!(
            (
                dtmf.law,
                dtmf.min_on_ms,
                dtmf.normal_twist_db,
                dtmf.reverse_twist_db
            ),
            (Law::Ulaw, 50, 8.5, 4.0)
        );
        assert_eq!(dtmf.min_off_ms, 40, "unset keys keep the Q.24 defaults");

        let bad = map.replace("min_on_ms = 50", "max_dropout_ms = 60");
        let src = Source::new(PathBuf::from("site.toml"), bad);
        let mut diags = Diagnostics::default();
        let _ = parse_hw(&src, &mut diags);
        let shown: Vec<String> = diags.list.iter().map(|d| d.to_string()).collect();
        assert_eq!(shown.len(), 1, "{shown:?}");
        assert!(
            shown[0].starts_with("site.toml:8:8: error: span #1 dtmf:"),
            "{shown:?}"
        );
        assert!(
            shown[0].contains("max_dropout_ms must be shorter than min_off_ms"),
            "{shown:?}"
        );
    }

    #[test]
    fn a_span_sets_its_tone_plan_and_disconnect_and_bad_values_are_located() {
        let map = "card = \"sim\"\n[[span]]\nname = \"T1\"\nlaw = \"ulaw\"\nchannels = 24\nrole = \"trunk\"\n\
                   numbers = [\"_X.\"]\ncountry = \"KR\"\nfar_end_hangup = \"tone\"\ndisconnect_tone = true\n";
        let src = Source::new(PathBuf::from("site.toml"), map.to_owned());
        let mut diags = Diagnostics::default();
        let hw = parse_hw(&src, &mut diags).expect("parses");
        assert_eq!(diags.list, Vec::new());
        let span = &hw.spans[0];
        assert_eq!(
            (span.country, span.far_end_hangup, span.disconnect_tone),
            (Country::Kr, FarEndHangup::Tone, true)
        );

        let bad = map
            .replace("\"KR\"", "\"fr\"")
            .replace("\"tone\"", "\"howler\"")
            .replace("= true", "= 1");
        let src = Source::new(PathBuf::from("site.toml"), bad);
        let mut diags = Diagnostics::default();
        let _ = parse_hw(&src, &mut diags);
        let shown: Vec<String> = diags.list.iter().map(|d| d.to_string()).collect();
        assert_eq!(shown.len(), 3, "{shown:?}");
        assert!(
            shown[0].starts_with("site.toml:8:11: error: span #1 country: unknown tone country 'fr'"),
            "{shown:?}"
        );
        assert!(shown[1].starts_with("site.toml:9:18: error:"), "{shown:?}");
        assert!(
            shown[1].contains("\"signal\", \"tone\" or \"polarity\""),
            "{shown:?}"
        );
        assert!(shown[2].starts_with("site.toml:10:19: error:"), "{shown:?}");
        assert!(shown[2].contains("true or false"), "{shown:?}");
    }

    #[test]
    fn an_analog_span_sets_caller_id_polarity_and_timers_and_bad_values_are_located() {
        use crate::engine::line::{CallerIdSignalling, CallerIdStart};
        let map =
            "card = \"sim\"\n[[span]]\nname = \"FXO\"\nlaw = \"alaw\"\nchannels = 4\nrole = \"trunk\"\n\
                   numbers = [\"_X.\", \"8000\"]\nsignalling = \"fxsks\"\ncaller_id = \"v23\"\n\
                   caller_id_start = \"polarity\"\nhangup_on_polarity = true\nring_timeout_ms = 6000\n";
        let src = Source::new(PathBuf::from("site.toml"), map.to_owned());
        let mut diags = Diagnostics::default();
        let hw = parse_hw(&src, &mut diags).expect("parses");
        assert_eq!(diags.list, Vec::new());
        let analog = hw.spans[0].analog;
        assert_eq!(analog.caller_id, CallerIdSignalling::V23);
        assert_eq!(analog.caller_id_start, CallerIdStart::Polarity);
        assert!(analog.hangup_on_polarity && !analog.answer_on_polarity);
        assert_eq!(analog.ring_timeout_ms, 6000);
        assert_eq!(
            analog.number.as_str(),
            "8000",
            "the first exact number is the line's"
        );

        let bad = map
            .replace("\"v23\"", "\"fsk\"")
            .replace("= 6000", "= 100")
            .replace(", \"8000\"", "");
        let src = Source::new(PathBuf::from("site.toml"), bad);
        let mut diags = Diagnostics::default();
        let _ = parse_hw(&src, &mut diags);
        let shown: Vec<String> = diags.list.iter().map(|d| d.to_string()).collect();
        assert_eq!(shown.len(), 3, "{shown:?}");
        assert!(
            shown[0].starts_with("site.toml:9:13: error: span #1 caller_id"),
            "{shown:?}"
        );
        assert!(shown[0].contains("\"bell202\""), "{shown:?}");
        assert!(
            shown[1].starts_with("site.toml:12:19: error: span #1 ring_timeout_ms"),
            "{shown:?}"
        );
        assert!(
            shown[2].contains("warning: span #1 has no exact number"),
            "{shown:?}"
        );

        let network = map.replace("signalling = \"fxsks\"\n", "");
        let src = Source::new(PathBuf::from("site.toml"), network);
        let mut diags = Diagnostics::default();
        let _ = parse_hw(&src, &mut diags);
        let shown: Vec<String> = diags.list.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            shown.len(),
            3,
            "caller_id, caller_id_start, hangup_on_polarity: {shown:?}"
        );
        assert!(
            shown[0].contains("warning: span #1 caller_id applies to analog trunks only"),
            "{shown:?}"
        );
    }

    #[test]
    fn embedded_map_is_one_span_of_30_alaw_trunks() {
        let src = Source::new(PathBuf::from(EMBEDDED_MAP_NAME), EMBEDDED_SIM_MAP.to_owned());
        let mut diags = Diagnostics::default();
        let hw = parse_hw(&src, &mut diags).expect("embedded map parses");
        assert_eq!(diags.list, Vec::new());
        let span = SpanConfig {
            span: 1,
            name: "E1 trunk group".into(),
            law: Law::Alaw,
            channels: 30,
            role: Role::Trunk,
            numbers: vec!["_X.".into()],
            dtmf: DtmfRxConfig::for_law(Law::Alaw),
            country: Country::Cn,
            far_end_hangup: FarEndHangup::Signal,
            disconnect_tone: false,
            signalling: Signalling::Network,
            extensions: Vec::new(),
            phone_callerid: None,
            dahdi: crate::hw::dahdi::options::SpanDahdi {
                place: format!("{EMBEDDED_MAP_NAME}:15:1"),
                ..Default::default()
            },
            analog: crate::engine::line::AnalogOptions::default(),
        };
        let expected = HwMap {
            source: EMBEDDED_MAP_NAME.into(),
            card: CardKind::Sim,
            spans: vec![span],
            ring_on_ms: 1000,
            ring_off_ms: 4000,
        };
        assert_eq!(hw, expected);
    }

    #[test]
    fn diagnostic_display_is_file_line_col_severity_message() {
        let mut diagnostic = Diagnostic {
            severity: Severity::Error,
            file: "/etc/telvox/telvox.toml".into(),
            line: 3,
            column: 7,
            message: "something is wrong".into(),
        };
        assert_eq!(
            diagnostic.to_string(),
            "/etc/telvox/telvox.toml:3:7: error: something is wrong"
        );
        diagnostic.severity = Severity::Warning;
        assert_eq!(
            diagnostic.to_string(),
            "/etc/telvox/telvox.toml:3:7: warning: something is wrong"
        );
    }

    #[test]
    fn syntax_error_is_located() {
        let site = Site::new();
        assert_eq!(
            site.check("log = \n"),
            ["telvox.toml:4:7: error: TOML syntax: invalid string; expected `\"`, `'`"]
        );
        assert_eq!(
            site.check("[sim\nclock = \"lockstep\"\n"),
            ["telvox.toml:4:5: error: TOML syntax: invalid table header; expected `.`, `]`"]
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let site = Site::new();
        assert_eq!(
            site.check("sim = { socket = \"µµ\", clok = 1 }\n"),
            ["telvox.toml:4:24: error: unknown key `clok` in [sim]; expected one of: clock, socket"]
        );
        assert_eq!(
            site.check("log = \"µµ\" x\n"),
            ["telvox.toml:4:12: error: TOML syntax: expected newline, `#`"]
        );
    }

    #[test]
    fn business_time_zone_failures_and_test_clock_are_checked() {
        let site = Site::new();
        let found = site.check(
            "[business]\ntimezone = \"Mars/Olympus\"\npin_max_failures = 0\ntest_now = \"yesterday\"\n",
        );
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(found[0].contains("business.timezone = \"Mars/Olympus\": not an IANA time zone"));
        assert!(found[1].contains("pin_max_failures"));
        assert!(found[2].contains("business.test_now = \"yesterday\""));
    }

    #[test]
    fn unknown_keys_name_the_table_and_the_keys_expected() {
        let site = Site::new();
        assert_eq!(
            site.check("lgo = \"info\"\n[sim]\nclok = \"lockstep\"\n[linetest]\nlanguge = \"en\"\n"),
            [
                "telvox.toml:4:1: error: unknown key `lgo` at the top level; expected one of: run_dir, \
                 data_dir, hw, voice_dir, realtime, log, max_call_seconds, sim, numbers, linetest, flows_dir, business, recording, record, mailboxes, supervisors, fax_catalog, fax",
                "telvox.toml:6:1: error: unknown key `clok` in [sim]; expected one of: clock, socket",
                "telvox.toml:8:1: error: unknown key `languge` in [linetest]; expected one of: language, \
                 answer_after_rings, max_digits, timeout_ms",
            ]
        );
    }

    #[test]
    fn bad_enum_value_lists_the_choices() {
        let site = Site::new();
        assert_eq!(
            site.check("[sim]\nclock = \"fast\"\n"),
            ["telvox.toml:5:9: error: sim.clock = \"fast\": expected \"realtime\" or \"lockstep\""]
        );
    }

    #[test]
    fn wrong_types_are_located_at_the_value() {
        let site = Site::new();
        assert_eq!(
            site.check("realtime = \"yes\"\nlog = 3\nmax_call_seconds = \"60\"\nsim = 1\n"),
            [
                "telvox.toml:4:12: error: realtime = \"yes\": expected true or false",
                "telvox.toml:5:7: error: log = 3: expected a log filter in quotes, e.g. \"info\" or \
                 \"telvox=debug\"",
                "telvox.toml:6:20: error: max_call_seconds = \"60\": expected a whole number of seconds from \
                 10 to 86400",
                "telvox.toml:7:7: error: `sim` must be a table: write [sim] on a line of its own, its keys \
                 below it",
            ]
        );
    }

    #[test]
    fn missing_run_dir_and_data_dir_point_at_the_file_start() {
        let site = Site::new();
        let path = site.write("telvox.toml", "# a comment\nvoice_dir = \"voice\"\n");
        assert_eq!(
            site.findings(&path),
            [
                "telvox.toml:1:1: error: missing `run_dir` at the top level: add run_dir = \"/run/telvox\" \
                 (sockets and the pid file)",
                "telvox.toml:1:1: error: missing `data_dir` at the top level: add data_dir = \
                 \"/var/lib/telvox\" (call log and files)",
            ]
        );
    }

    #[test]
    fn out_of_range_values_name_the_range() {
        let site = Site::new();
        let rest = "max_call_seconds = 5\n[linetest]\nanswer_after_rings = 11\nmax_digits = 0\n\
                    timeout_ms = -1\n";
        assert_eq!(
            site.check(rest),
            [
                "telvox.toml:4:20: error: max_call_seconds = 5: expected a whole number of seconds from 10 \
                 to 86400",
                "telvox.toml:6:22: error: linetest.answer_after_rings = 11: expected a whole number of rings \
                 from 0 to 10 (0 answers as soon as the call is offered)",
                "telvox.toml:7:14: error: linetest.max_digits = 0: expected a whole number of digits from 1 \
                 to 64",
                "telvox.toml:8:14: error: linetest.timeout_ms = -1: expected a whole number of milliseconds \
                 from 500 to 60000",
            ]
        );
    }

    #[test]
    fn range_bounds_are_inclusive() {
        let site = Site::new();
        let low =
            "max_call_seconds = 10\n[linetest]\nanswer_after_rings = 0\nmax_digits = 1\ntimeout_ms = 500\n";
        let config = load_file(&site.config(low)).expect("lower bounds load");
        assert_eq!(
            (config.max_call_seconds, config.linetest.answer_after_rings),
            (10, 0)
        );
        let high = "max_call_seconds = 86400\n[linetest]\nanswer_after_rings = 10\nmax_digits = 64\n\
                    timeout_ms = 60000\n";
        let config = load_file(&site.config(high)).expect("upper bounds load");
        assert_eq!(
            (config.linetest.max_digits, config.linetest.timeout_ms),
            (64, 60000)
        );
        assert!(site.check("max_call_seconds = 86401\n")[0].contains("from 10 to 86400"));
    }

    #[test]
    fn language_must_be_a_prompt_set_in_voice_dir() {
        let site = Site::new();
        let voice = site.path("voice");
        assert_eq!(
            site.check("[linetest]\nlanguage = \"fr\"\n"),
            [format!(
                "telvox.toml:5:12: error: linetest.language = \"fr\": {} has no \"fr\" prompt set; use one of \
                 the languages found there: en, zh",
                voice.display()
            )]
        );
        // A path is not a language, even when it leads to a directory.
        assert_eq!(site.check("[linetest]\nlanguage = \"../voice\"\n").len(), 1);
    }

    #[test]
    fn voice_dir_must_exist() {
        let site = Site::new();
        let path = site.write(
            "telvox.toml",
            "run_dir = \"run\"\ndata_dir = \"data\"\nvoice_dir = \"nowhere\"\n",
        );
        assert_eq!(
            site.findings(&path),
            [format!(
                "telvox.toml:3:13: error: voice_dir: {} is not a directory: install the prompts (install.sh \
                 does), or point voice_dir at a directory with one subdirectory per language",
                site.path("nowhere").display()
            )]
        );
    }

    #[test]
    fn number_keys_and_flows_are_checked() {
        let site = Site::new();
        assert_eq!(
            site.check("[numbers]\n\"12a\" = \"linetest\"\n\"8000\" = \"ivr\"\n\"_8[5-1]\" = 5\n"),
            [
                "telvox.toml:5:1: error: [numbers] \"12a\": `a` is not allowed in a number: use digits, `*`, \
                 `#` and `+`, or start a pattern with `_`",
                "telvox.toml:6:10: error: [numbers] \"8000\" = \"ivr\": no such flow; use one of: linetest",
                "telvox.toml:7:1: error: [numbers] \"_8[5-1]\": range `5-1` must run from a lower to a higher \
                 digit, e.g. 1-5",
                "telvox.toml:7:13: error: [numbers] \"_8[5-1]\" = 5: expected a flow name in quotes; use one \
                 of: linetest",
            ]
        );
    }

    #[test]
    fn flow_files_are_numbers_targets_and_their_findings_are_reported() {
        let site = Site::new();
        site.write(
            "flows/desk.toml",
            "start = \"a\"\n[a]\nhangup = true\n[b]\nnext = \"zz\"\n",
        );
        assert_eq!(
            site.check("[numbers]\n\"8000\" = \"desk\"\n\"8001\" = \"nope\"\n"),
            [
                "telvox.toml:6:10: error: [numbers] \"8001\" = \"nope\": no such flow; use one of: linetest, desk",
                "flows/desk.toml:5:8: error: [b] next: no state `zz` in this flow; states: a, b",
            ]
        );
        assert_eq!(
            site.check("flows_dir = \"elsewhere\"\n"),
            [format!(
                "telvox.toml:4:13: error: flows_dir: {} is not a directory: create it (with the flow files), or \
                 remove the key",
                site.path("elsewhere").display()
            )]
        );
    }

    #[test]
    fn equivalent_patterns_warn() {
        let site = Site::new();
        let rest = "[numbers]\n\"_X.\" = \"linetest\"\n\"_x.\" = \"linetest\"\n\"8999\" = \"linetest\"\n\
                    \"_8999\" = \"linetest\"\n";
        assert_eq!(
            site.check(rest),
            [
                "telvox.toml:6:1: warning: [numbers] \"_x.\" matches exactly the same numbers as \"_X.\" on \
                 line 5: only one of them can ever be used; remove one",
                "telvox.toml:8:1: warning: [numbers] \"_8999\" matches exactly the same numbers as \"8999\" on \
                 line 7: only one of them can ever be used; remove one",
            ]
        );
    }

    #[test]
    fn numbers_no_span_routes_warn() {
        let site = Site::new();
        site.write("site.toml", SITE_MAP);
        let rest = "hw = \"site.toml\"\n[numbers]\n\"8999\" = \"linetest\"\n\"9000\" = \"linetest\"\n\
                    \"_8X.\" = \"linetest\"\n\"_9X.\" = \"linetest\"\n";
        let site_map = site.path("site.toml");
        let unrouted = |line: usize, number: &str| {
            format!(
                "telvox.toml:{line}:1: warning: [numbers] \"{number}\" is not routed to telvox: no span's \
                 numbers in {} match it; add it (or a pattern covering it) to a [[span]]'s numbers",
                site_map.display()
            )
        };
        assert_eq!(site.check(rest), [unrouted(7, "9000"), unrouted(9, "_9X.")]);
    }

    #[test]
    fn dahdi_map_with_groups_loads_and_bad_dahdi_keys_are_located() {
        let site = Site::new();
        let map = "card = \"dahdi\"\n[[span]]\nname = \"analog\"\ndahdi_span = 2\nlaw = \"alaw\"\nchannels = 8\n\
                   role = \"trunk\"\nsignalling = \"fxsks\"\nnumbers = [\"_X.\"]\nrx_gain_db = -3.5\necho_taps = 256\n\
                   [[span.group]]\nchannels = \"5-7\"\nsignalling = \"fxoks\"\ntx_gain_db = 2\n\
                   [[span.group]]\nchannels = 8\nunused = true\n";
        site.write("site.toml", map);
        let config = load_file(&site.config("hw = \"site.toml\"\n")).expect("a DAHDI map loads");
        assert_eq!(config.hw.card, CardKind::Dahdi);
        let dahdi = &config.hw.spans[0].dahdi;
        assert_eq!(dahdi.dahdi_span, Some(2));
        assert_eq!((dahdi.options.rx_gain_db, dahdi.options.echo_taps), (-3.5, 256));
        let (signalling, options, place) = dahdi.channel(Signalling::Fxsks, 6);
        assert_eq!(
            (signalling, options.tx_gain_db, options.rx_gain_db),
            (Signalling::Fxoks, 2.0, -3.5)
        );
        assert!(place.ends_with("site.toml:12:1"), "{place}");
        assert_eq!(dahdi.channel(Signalling::Fxsks, 4).0, Signalling::Fxsks);
        assert!(dahdi.unused(8) && !dahdi.unused(7));

        let bad = "card = \"dahdi\"\n[[span]]\nname = \"a\"\nlaw = \"alaw\"\nchannels = 4\nrole = \"trunk\"\n\
                   numbers = [\"_X.\"]\ndahdi_span = 0\nbuffers = 1\nbuffer_policy = \"later\"\nrx_gain_db = 40\n\
                   [[span.group]]\nchannels = \"3-9\"\nsignalling = \"fxo\"\ncolour = 1\n";
        site.write("site.toml", bad);
        assert_eq!(
            site.check("hw = \"site.toml\"\n"),
            [
                "site.toml:8:14: error: span #1 dahdi_span = 0: expected a whole number of (DAHDI's span number) \
                 from 1 to 128",
                "site.toml:9:11: error: span #1 buffers = 1: expected a whole number of 20 ms buffers from 2 to 32",
                "site.toml:10:17: error: span #1 buffer_policy = \"later\": expected \"immediate\", \"half\" or \"full\"",
                "site.toml:11:14: error: span #1 rx_gain_db = 40: expected a gain in dB from -24 to 24",
                "site.toml:13:12: error: span #1 group #1 channels = \"3-9\": expected a channel or range of this \
                 span's channels, e.g. \"1-4\" (1 to 4)",
                "site.toml:14:14: error: span #1 group #1 signalling = \"fxo\": expected \"network\", \"fxsks\", \
                 \"fxsls\", \"fxoks\", \"fxols\", \"em\", \"em_wink\" or \"clear\"",
                "site.toml:15:1: error: unknown key `colour` in [[span]] #1 [[span.group]] #1; expected one of: \
                 channels, signalling, unused, rx_gain_db, tx_gain_db, echo_taps, buffer_policy, buffers",
            ]
        );
    }

    #[test]
    fn missing_hw_file_points_at_the_hw_key() {
        let site = Site::new();
        assert_eq!(
            site.check("hw = \"hw/none.toml\"\n"),
            [format!(
                "telvox.toml:4:6: error: hw: cannot read {}: No such file or directory (os error 2); fix the \
                 path, or remove `hw` to use the embedded simulated card",
                site.path("hw/none.toml").display()
            )]
        );
    }

    #[test]
    fn extension_numbers_are_checked_per_channel_on_extension_spans() {
        let site = Site::new();
        let map = "card = \"sim\"\n\
                   [[span]]\nname = \"a\"\nlaw = \"alaw\"\nchannels = 2\nrole = \"trunk\"\nnumbers = [\"_X.\"]\n\
                   extensions = [\"601\"]\n\
                   [[span]]\nname = \"b\"\nlaw = \"alaw\"\nchannels = 2\nrole = \"extension\"\n\
                   signalling = \"fxoks\"\nextensions = [\"601\", \"601\"]\n\
                   [[span]]\nname = \"c\"\nlaw = \"alaw\"\nchannels = 1\nrole = \"extension\"\n\
                   extensions = [\"6x\", \"602\"]\n\
                   [[span]]\nname = \"d\"\nlaw = \"alaw\"\nchannels = 2\nrole = \"extension\"\n\
                   signalling = \"fxoks\"\nextensions = [\"7x\", 5]\n";
        site.write("site.toml", map);
        let shown = site.check("hw = \"site.toml\"\n");
        assert_eq!(shown.len(), 5, "{shown:#?}");
        assert!(
            shown[0].starts_with(
                "site.toml:8:14: error: span #1 extensions: only a span with role = \"extension\""
            ),
            "{shown:?}"
        );
        assert!(
            shown[1].starts_with("site.toml:15:22: error: span #2 extensions: \"601\" is listed twice"),
            "{shown:?}"
        );
        assert!(
            shown[2].starts_with("site.toml:21:14: error: span #3 extensions: 2 numbers for 1 channels"),
            "{shown:?}"
        );
        assert!(
            shown[3].starts_with(
                "site.toml:28:15: error: span #4 extensions: \"7x\": expected an extension number"
            ),
            "{shown:?}"
        );
        assert!(
            shown[4].starts_with("site.toml:28:21: error: span #4 extensions: 5: expected"),
            "{shown:?}"
        );
        // A valid extension span: no warning for having no routed numbers.
        site.write(
            "ok.toml",
            "card = \"sim\"\n[[span]]\nname = \"b\"\nlaw = \"alaw\"\nchannels = 2\nrole = \"extension\"\n\
             signalling = \"fxoks\"\nextensions = [\"601\", \"602\"]\n",
        );
        assert_eq!(site.check("hw = \"ok.toml\"\n"), Vec::<String>::new());
        site.write(
            "modem.toml",
            "card = \"sim\"\n[[span]]\nname = \"b\"\nlaw = \"alaw\"\nchannels = 2\nrole = \"extension\"\n\
             extensions = [\"601\"]\nphone_callerid = \"dtmf\"\n",
        );
        let shown = site.check("hw = \"modem.toml\"\n");
        assert_eq!(shown.len(), 1, "{shown:?}");
        assert!(
            shown[0]
                .starts_with("modem.toml:8:18: error: span #1 phone_callerid = \"dtmf\": expected \"v23\""),
            "{shown:?}"
        );
        site.write(
            "two.toml",
            "card = \"sim\"\n[[span]]\nname = \"b\"\nlaw = \"alaw\"\nchannels = 2\nrole = \"extension\"\n\
             extensions = [\"601\"]\n[[span]]\nname = \"c\"\nlaw = \"alaw\"\nchannels = 2\nrole = \"extension\"\n\
             extensions = [\"602\", \"601\"]\n",
        );
        let shown = site.check("hw = \"two.toml\"\n");
        assert_eq!(shown.len(), 1, "{shown:?}");
        assert!(
            shown[0].starts_with(
                "two.toml:13:22: error: span #2 extensions: \"601\" is already an extension of span #1"
            ),
            "{shown:?}"
        );
    }

    #[test]
    fn hw_map_values_are_checked() {
        let site = Site::new();
        let map = "card = \"sim\"\nring_on_ms = 100\nring_off_ms = 10001\n\
                   [[span]]\nname = \"a\"\nlaw = \"alaw2\"\nchannels = 32\nrole = \"fxs\"\nnumbers = [\"8x\", 5]\n\
                   [[span]]\nname = \"b\"\nlaw = \"ulaw\"\nrole = \"extension\"\nnumbres = []\n\
                   [[span]]\nname = \"c\"\nlaw = \"ulaw\"\nchannels = 24\nrole = \"trunk\"\n";
        site.write("site.toml", map);
        assert_eq!(
            site.check("hw = \"site.toml\"\n"),
            [
                "site.toml:2:14: error: ring_on_ms = 100: expected a whole number of milliseconds from 200 to \
                 5000",
                "site.toml:3:15: error: ring_off_ms = 10001: expected a whole number of milliseconds from 200 \
                 to 10000",
                "site.toml:6:7: error: span #1 law = \"alaw2\": expected \"alaw\" or \"ulaw\"",
                "site.toml:7:12: error: span #1 channels = 32: expected a whole number of channels from 1 to 31",
                "site.toml:8:8: error: span #1 role = \"fxs\": expected \"trunk\" or \"extension\"",
                "site.toml:9:12: error: span #1 numbers: \"8x\": `x` is not allowed in a number: use digits, \
                 `*`, `#` and `+`, or start a pattern with `_`",
                "site.toml:9:18: error: span #1 numbers: 5: expected a number or pattern in quotes, e.g. \
                 \"8000\" or \"_X.\"",
                "site.toml:10:1: error: missing `span #2 channels` in [[span]] #2: add channels = 30",
                "site.toml:10:1: warning: [[span]] #2 has no numbers, so nothing routes calls to it; add \
                 numbers = [\"_X.\"] or the numbers it answers",
                "site.toml:14:1: error: unknown key `numbres` in [[span]] #2; expected one of: name, law, \
                 channels, role, numbers, dtmf, country, far_end_hangup, disconnect_tone, signalling, extensions, \
                 phone_callerid, caller_id, caller_id_start, hangup_on_polarity, answer_on_polarity, \
                 ring_timeout_ms, dnis_timeout_ms, dahdi_span, rx_gain_db, tx_gain_db, echo_taps, buffer_policy, \
                 buffers, group",
                "site.toml:15:1: warning: [[span]] #3 has no numbers, so nothing routes calls to it; add \
                 numbers = [\"_X.\"] or the numbers it answers",
            ]
        );
    }

    #[test]
    fn hw_map_needs_one_to_64_spans() {
        let site = Site::new();
        site.write("site.toml", "card = \"sim\"\n");
        assert_eq!(
            site.check("hw = \"site.toml\"\n"),
            ["site.toml:1:1: error: no [[span]] in this hardware map: add at least one, e.g. [[span]] with \
              name = \"E1 trunk group\", law = \"alaw\", channels = 30, role = \"trunk\", numbers = [\"_X.\"]"]
        );
        let span =
            "[[span]]\nname = \"s\"\nlaw = \"alaw\"\nchannels = 1\nrole = \"trunk\"\nnumbers = [\"_X.\"]\n";
        site.write(
            "site.toml",
            &format!("card = \"sim\"\n{}", span.repeat(MAX_SPANS + 1)),
        );
        let line = 2 + 6 * MAX_SPANS;
        assert_eq!(
            site.check("hw = \"site.toml\"\n"),
            [format!(
                "site.toml:{line}:1: error: span #65 is one too many: telvox drives at most 64 spans; remove \
                 or merge spans"
            )]
        );
        site.write(
            "site.toml",
            &format!("card = \"sim\"\n{}", span.repeat(MAX_SPANS)),
        );
        let config = load_file(&site.config("hw = \"site.toml\"\n")).expect("64 spans load");
        assert_eq!(config.hw.spans.len(), MAX_SPANS);
        assert_eq!(config.hw.spans[MAX_SPANS - 1].span, 64);
    }

    #[test]
    fn check_file_reports_several_errors_at_once() {
        let site = Site::new();
        site.write("site.toml", &SITE_MAP.replace("channels = 4", "channels = 0"));
        let rest = "hw = \"site.toml\"\nmax_call_seconds = 1\n[sim]\nclock = \"fast\"\n[numbers]\n\
                    \"8000\" = \"ivr\"\n";
        let path = site.config(rest);
        let (config, diagnostics) = check_file(&path);
        assert!(config.is_none());
        let places: Vec<(String, usize, usize)> = diagnostics
            .iter()
            .map(|d| {
                (
                    d.file.file_name().unwrap().to_string_lossy().into_owned(),
                    d.line,
                    d.column,
                )
            })
            .collect();
        let expected = [
            ("telvox.toml", 5, 20),
            ("telvox.toml", 7, 9),
            ("telvox.toml", 9, 10),
            ("site.toml", 5, 12),
        ];
        let expected: Vec<(String, usize, usize)> = expected
            .iter()
            .map(|&(file, line, column)| (file.to_owned(), line, column))
            .collect();
        assert_eq!(places, expected);

        let err = load_file(&path).expect_err("refused");
        assert_eq!(err.0, diagnostics);
        let shown = err.to_string();
        assert!(shown.starts_with("configuration has 4 error(s)\n"), "{shown}");
        assert_eq!(shown.lines().count(), 5);
    }

    #[test]
    fn unreadable_config_is_reported_at_its_start() {
        let site = Site::new();
        assert_eq!(
            site.findings(&site.path("missing.toml")),
            ["missing.toml:1:1: error: cannot read this file: No such file or directory (os error 2); check \
              the path and its permissions"]
        );
    }

    #[test]
    fn dotted_keys_and_datetimes_get_a_plain_message() {
        let site = Site::new();
        let dotted = site.check("sim.clock = \"lockstep\"\n");
        assert_eq!(dotted.len(), 1);
        assert!(
            dotted[0].starts_with("telvox.toml:4:5: error: dotted keys"),
            "{dotted:?}"
        );
        let datetime = site.check("log = 1979-05-27\n");
        assert_eq!(datetime.len(), 1);
        assert!(
            datetime[0].starts_with("telvox.toml:4:7: error: dates and times"),
            "{datetime:?}"
        );
    }

    #[test]
    fn socket_paths_must_fit_sun_path() {
        let site = Site::new();
        let long = format!("/{}", "s".repeat(MAX_SOCKET_PATH_BYTES));
        let findings = site.check(&format!("[sim]\nsocket = \"{long}\"\n"));
        assert_eq!(
            findings,
            [format!(
                "telvox.toml:5:10: error: sim.socket {long} is 108 bytes long, but a Unix socket path may \
                 have at most 107: choose a shorter directory"
            )]
        );
    }
}
