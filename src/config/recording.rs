//! Call-recording settings: `[recording]` (where, how much disk to keep free, the on-demand format)
//! and the `[[record]]` rules (which calls are recorded, in which format, kept how long), read from
//! the spanned tree so every problem is reported with file:line:col.
//!
//! ```toml
//! [recording]
//! min_free_mb = 500            # below this much free disk no new recording starts (an alarm)
//! on_demand_format = "stereo"  # `record_call start` / `telvox record CALLID start`
//!
//! [[record]]
//! name = "sales"               # optional; retention is per rule
//! called = ["_8XXX"]           # any of: all = true, called = [...], caller = [...], flow = [...]
//! format = "stereo"            # "alaw" | "pcm16" | "stereo" (caller left, telvox right)
//! max_age_days = 90
//! max_total_mb = 10000
//! ```
//! A call is recorded by the first rule whose conditions all hold.

use std::path::{Path, PathBuf};

use super::pattern::NumberPattern;
use super::tree::{Item, Key, Node, Source};
use super::{Diagnostic, Severity};
use crate::engine::tap::RecordFormat;

pub const RECORDING_KEYS: &[&str] = &["min_free_mb", "on_demand_format", "ring_ms", "test_throttle_ms"];
pub const RULE_KEYS: &[&str] = &[
    "name",
    "all",
    "called",
    "caller",
    "flow",
    "format",
    "max_age_days",
    "max_total_mb",
];
/// Rules at most: each is matched against every offered call.
pub const MAX_RULES: usize = 64;
/// Patterns per list at most.
const MAX_PATTERNS: usize = 256;

/// `[recording]` and the `[[record]]` rules.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordingConfig {
    /// `<data_dir>/recordings`.
    pub dir: PathBuf,
    pub rules: Vec<RecordRule>,
    /// Free space (MB) below which no new recording starts and an alarm is raised.
    pub min_free_mb: u64,
    pub on_demand_format: RecordFormat,
    /// How much audio a recording's ring holds (the recorder may fall this far behind).
    pub ring_ms: u32,
    /// Tests only: the recorder sleeps this long after each block it writes (makes rings overflow).
    pub test_throttle_ms: u32,
}

impl RecordingConfig {
    pub fn new(data_dir: &Path) -> RecordingConfig {
        RecordingConfig {
            dir: data_dir.join("recordings"),
            rules: Vec::new(),
            min_free_mb: 500,
            on_demand_format: RecordFormat::Stereo,
            ring_ms: 4000,
            test_throttle_ms: 0,
        }
    }

    /// The first rule recording a call to `called` from `caller` in `flow`.
    pub fn rule_for(&self, called: &str, caller: &str, flow: &str) -> Option<&RecordRule> {
        self.rules.iter().find(|r| r.matches(called, caller, flow))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct RecordRule {
    pub name: String,
    pub all: bool,
    pub called: Vec<NumberPattern>,
    pub caller: Vec<NumberPattern>,
    pub flow: Vec<String>,
    pub format: RecordFormat,
    pub max_age_days: Option<u32>,
    pub max_total_mb: Option<f64>,
}

impl RecordRule {
    pub fn matches(&self, called: &str, caller: &str, flow: &str) -> bool {
        let any = |list: &[NumberPattern], n: &str| list.is_empty() || list.iter().any(|p| p.matches(n));
        any(&self.called, called)
            && any(&self.caller, caller)
            && (self.flow.is_empty() || self.flow.iter().any(|f| f == flow))
    }
}

struct Reader<'a> {
    src: &'a Source,
    diags: Vec<Diagnostic>,
}

impl Reader<'_> {
    fn error(&mut self, at: usize, message: String) {
        self.diags.push(self.src.diagnostic(Severity::Error, at, message));
    }

    fn bad(&mut self, what: &str, item: &Item, expected: &str) {
        let message = format!("{what} = {}: expected {expected}", self.src.snippet(item.span()));
        self.error(item.span().start, message);
    }

    fn check_keys(&mut self, entries: &[(Key, Item)], allowed: &[&str], label: &str) {
        for (key, _) in entries {
            if !allowed.contains(&key.get_ref().as_str()) {
                let message = format!(
                    "unknown key `{}` in {label}; expected one of: {}",
                    key.get_ref(),
                    allowed.join(", ")
                );
                self.error(key.span().start, message);
            }
        }
    }

    fn int(&mut self, what: &str, item: &Item, low: i64, high: i64, unit: &str) -> Option<i64> {
        match item.get_ref() {
            Node::Int(v) if (low..=high).contains(v) => Some(*v),
            _ => {
                self.bad(
                    what,
                    item,
                    &format!("a whole number of {unit} from {low} to {high}"),
                );
                None
            }
        }
    }

    fn format(&mut self, what: &str, item: &Item) -> Option<RecordFormat> {
        let parsed = match item.get_ref() {
            Node::Str(s) => RecordFormat::parse(s),
            _ => None,
        };
        if parsed.is_none() {
            self.bad(what, item, "\"alaw\", \"pcm16\" or \"stereo\"");
        }
        parsed
    }

    fn strings<'i>(&mut self, what: &str, item: &'i Item, example: &str) -> Option<Vec<(&'i str, usize)>> {
        let list = match item.get_ref() {
            Node::Str(s) => vec![(s.as_str(), item.span().start)],
            Node::Array(items) if !items.is_empty() && items.len() <= MAX_PATTERNS => {
                let mut out = Vec::new();
                for i in items {
                    match i.get_ref() {
                        Node::Str(s) => out.push((s.as_str(), i.span().start)),
                        _ => {
                            self.bad(what, i, &format!("text in quotes, e.g. {example}"));
                            return None;
                        }
                    }
                }
                out
            }
            _ => {
                let expected = format!("a list of 1 to {MAX_PATTERNS} entries in quotes, e.g. [{example}]");
                self.bad(what, item, &expected);
                return None;
            }
        };
        Some(list)
    }

    fn patterns(&mut self, what: &str, item: &Item) -> Option<Vec<NumberPattern>> {
        let mut out = Vec::new();
        for (text, at) in self.strings(what, item, "\"_8XXX\"")? {
            match NumberPattern::parse(text) {
                Ok(p) => out.push(p),
                Err(e) => {
                    self.error(at, format!("{what}: {e}"));
                    return None;
                }
            }
        }
        Some(out)
    }
}

/// Reads `[recording]` (`section`) and `[[record]]` (`rules`) of telvox.toml; `flows` are the
/// flow names a rule's `flow` may name.
pub fn read(
    src: &Source,
    data_dir: &Path,
    section: Option<&Item>,
    rules: Option<&Item>,
    flows: &[String],
) -> (RecordingConfig, Vec<Diagnostic>) {
    let mut config = RecordingConfig::new(data_dir);
    let mut r = Reader {
        src,
        diags: Vec::new(),
    };
    if let Some(item) = section {
        match item.get_ref() {
            Node::Table(entries) => read_section(&mut r, entries, &mut config),
            _ => r.error(
                item.span().start,
                "`recording` must be a table: write [recording] on a line of its own".into(),
            ),
        }
    }
    if let Some(item) = rules {
        match item.get_ref() {
            Node::Array(items)
                if items.len() <= MAX_RULES
                    && items.iter().all(|i| matches!(i.get_ref(), Node::Table(_))) =>
            {
                for (index, item) in items.iter().enumerate() {
                    if let Some(rule) = read_rule(&mut r, index + 1, item, flows) {
                        config.rules.push(rule);
                    }
                }
            }
            _ => r.error(
                item.span().start,
                format!(
                    "`record` must be 1 to {MAX_RULES} [[record]] tables, e.g. [[record]] with all = true, \
                     format = \"stereo\""
                ),
            ),
        }
    }
    (config, r.diags)
}

fn read_section(r: &mut Reader, entries: &[(Key, Item)], config: &mut RecordingConfig) {
    r.check_keys(entries, RECORDING_KEYS, "[recording]");
    for (key, item) in entries {
        let what = format!("recording.{}", key.get_ref());
        match key.get_ref().as_str() {
            "min_free_mb" => {
                if let Some(v) = r.int(&what, item, 0, 10_000_000, "megabytes") {
                    config.min_free_mb = v.unsigned_abs();
                }
            }
            "on_demand_format" => {
                if let Some(f) = r.format(&what, item) {
                    config.on_demand_format = f;
                }
            }
            "ring_ms" => {
                if let Some(v) = r.int(&what, item, 200, 60_000, "milliseconds") {
                    config.ring_ms = v.unsigned_abs() as u32;
                }
            }
            "test_throttle_ms" => {
                if let Some(v) = r.int(&what, item, 0, 1000, "milliseconds") {
                    config.test_throttle_ms = v.unsigned_abs() as u32;
                }
            }
            _ => {}
        }
    }
}

fn read_rule(r: &mut Reader, number: usize, item: &Item, flows: &[String]) -> Option<RecordRule> {
    let Node::Table(entries) = item.get_ref() else {
        return None;
    };
    let label = format!("[[record]] #{number}");
    r.check_keys(entries, RULE_KEYS, &label);
    let errors_before = r.diags.len();
    let mut rule = RecordRule {
        name: format!("record-{number}"),
        all: false,
        called: Vec::new(),
        caller: Vec::new(),
        flow: Vec::new(),
        format: RecordFormat::Stereo,
        max_age_days: None,
        max_total_mb: None,
    };
    let mut conditions = 0;
    for (key, value) in entries {
        let what = format!("record #{number} {}", key.get_ref());
        match key.get_ref().as_str() {
            "name" => match value.get_ref() {
                Node::Str(s) if !s.is_empty() && s.len() <= 64 => rule.name = s.clone(),
                _ => r.bad(&what, value, "a name of 1 to 64 bytes in quotes"),
            },
            "all" => match value.get_ref() {
                Node::Bool(b) => {
                    rule.all = *b;
                    conditions += usize::from(*b);
                }
                _ => r.bad(&what, value, "true or false"),
            },
            "called" => {
                rule.called = r.patterns(&what, value).unwrap_or_default();
                conditions += 1;
            }
            "caller" => {
                rule.caller = r.patterns(&what, value).unwrap_or_default();
                conditions += 1;
            }
            "flow" => {
                conditions += 1;
                for (name, at) in r.strings(&what, value, "\"main\"").unwrap_or_default() {
                    if !flows.iter().any(|f| f == name) && !super::BUILTIN_FLOWS.contains(&name) {
                        let message = format!("{what}: no flow `{name}`; flows: {}", flows.join(", "));
                        r.error(at, message);
                    }
                    rule.flow.push(name.to_owned());
                }
            }
            "format" => {
                if let Some(f) = r.format(&what, value) {
                    rule.format = f;
                }
            }
            "max_age_days" => {
                if let Some(v) = r.int(&what, value, 1, 36_500, "days") {
                    rule.max_age_days = Some(v as u32);
                }
            }
            "max_total_mb" => match value.get_ref() {
                Node::Int(v) if *v > 0 => rule.max_total_mb = Some(*v as f64),
                Node::Float(v) if *v > 0.0 && v.is_finite() => rule.max_total_mb = Some(*v),
                _ => r.bad(&what, value, "a number of megabytes above 0, e.g. 10000 or 0.5"),
            },
            _ => {}
        }
    }
    if conditions == 0 {
        r.error(
            item.span().start,
            format!(
                "{label} records nothing: add all = true, or called = [...], caller = [...] or flow = [...]"
            ),
        );
    }
    (r.diags.len() == errors_before).then_some(rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (RecordingConfig, Vec<String>) {
        let src = Source::new(PathBuf::from("t.toml"), text.to_string());
        let tree: toml::Spanned<Node> = toml::from_str(text).unwrap();
        let Node::Table(entries) = tree.get_ref() else {
            panic!("a table")
        };
        let get = |key: &str| entries.iter().find(|(k, _)| k.get_ref() == key).map(|(_, i)| i);
        let flows = ["main".to_string()];
        let (config, diags) = read(&src, Path::new("/d"), get("recording"), get("record"), &flows);
        (config, diags.iter().map(|d| d.to_string()).collect())
    }

    #[test]
    fn the_first_rule_whose_conditions_all_hold_records_the_call() {
        let (config, diags) = parse(
            "[recording]\nmin_free_mb = 10\n\
             [[record]]\nname = \"vip\"\ncaller = [\"_138.\"]\ncalled = [\"8000\"]\nformat = \"pcm16\"\n\
             [[record]]\nname = \"main\"\nflow = \"main\"\nformat = \"alaw\"\nmax_total_mb = 0.5\n\
             [[record]]\nname = \"rest\"\nall = true\n",
        );
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(config.dir, Path::new("/d/recordings"));
        assert_eq!(config.min_free_mb, 10);
        let rule = |called, caller, flow| {
            config
                .rule_for(called, caller, flow)
                .map(|r| (r.name.as_str(), r.format))
        };
        assert_eq!(
            rule("8000", "13800138000", "main"),
            Some(("vip", RecordFormat::Pcm16))
        );
        assert_eq!(
            rule("8001", "13800138000", "main"),
            Some(("main", RecordFormat::Alaw))
        );
        assert_eq!(
            rule("8999", "555", "linetest"),
            Some(("rest", RecordFormat::Stereo))
        );
        assert_eq!(config.rules[1].max_total_mb, Some(0.5));
    }

    #[test]
    fn without_rules_nothing_is_recorded_and_a_rule_without_conditions_is_refused() {
        let (config, diags) = parse("");
        assert!(diags.is_empty() && config.rules.is_empty());
        assert!(config.rule_for("8000", "1", "main").is_none());
        let (config, diags) = parse("[[record]]\nformat = \"stereo\"\n");
        assert!(config.rules.is_empty());
        assert_eq!(
            diags,
            ["t.toml:1:1: error: [[record]] #1 records nothing: add all = true, or called = [...], caller = [...] or flow = [...]"]
        );
    }
}
