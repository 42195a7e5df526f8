//! `supervisors.toml`: who may hear call recordings by phone (`recording_review`), read with the
//! spanned tree so every problem is reported as file:line:col with the fix, like mailboxes.toml.
//!
//! ```toml
//! [defaults]
//! pin_max_failures = 3        # wrong PINs in a row before the supervisor is locked out
//! lockout_s = 900             # for this long (kept in SQLite across restarts)
//!
//! [[supervisor]]
//! id = "9001"                 # what the supervisor keys in (digits)
//! name = "Li Na"
//! pin = "$pbkdf2-sha256$…"    # set with `echo 2468 | telvox sup passwd 9001`; plain PINs are refused
//! ```

use std::path::{Path, PathBuf};

use crate::config::tree::{Item, Key, Node, Source};
use crate::config::{Diagnostic, Severity};

/// Supervisors one file may define.
pub const MAX_SUPERVISORS: usize = 1000;
/// Digits of a supervisor id at most.
pub const MAX_ID_DIGITS: usize = 16;
const MAX_FILE_BYTES: u64 = 1024 * 1024;
const TOP_KEYS: &[&str] = &["defaults", "supervisor"];
const DEFAULTS_KEYS: &[&str] = &["pin_max_failures", "lockout_s"];
const SUPERVISOR_KEYS: &[&str] = &["id", "name", "pin"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Supervisor {
    pub id: String,
    pub name: String,
    /// PBKDF2 hash in PHC form; None: cannot log in until `telvox sup passwd` sets one.
    pub pin_hash: Option<String>,
}

/// The whole file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Supervisors {
    pub path: PathBuf,
    pub list: Vec<Supervisor>,
    pub pin_max_failures: u32,
    pub lockout_s: u32,
}

impl Supervisors {
    pub fn find(&self, id: &str) -> Option<&Supervisor> {
        self.list.iter().find(|s| s.id == id)
    }
}

type Entries = [(Key, Item)];

/// Warnings for flows in `flows_dir` that use `recording_review` when there is no supervisors
/// file: nobody could log in.
pub fn unconfigured_reviews(flows_dir: &Path) -> Vec<Diagnostic> {
    let Ok(entries) = std::fs::read_dir(flows_dir) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for path in entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
    {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let at = text
            .lines()
            .scan(0, |offset, line| {
                let start = *offset;
                *offset += line.len() + 1;
                Some((start, line))
            })
            .find(|(_, line)| line.trim_start().starts_with("recording_review"))
            .map(|(start, _)| start);
        if let Some(at) = at {
            let src = Source::new(path.clone(), text);
            found.push(src.diagnostic(
                Severity::Warning,
                at,
                "recording_review: there is no supervisors file, so nobody can log in: add supervisors.toml beside telvox.toml (or set supervisors = \"…\")"
                    .into(),
            ));
        }
    }
    found
}

fn get<'e>(entries: &'e Entries, key: &str) -> Option<&'e Item> {
    entries.iter().find(|(k, _)| k.get_ref() == key).map(|(_, i)| i)
}

/// Reads and validates `path`: the supervisors, or None with the errors.
pub fn load(path: &Path) -> (Option<Supervisors>, Vec<Diagnostic>) {
    let src = match Source::read(path, MAX_FILE_BYTES, "supervisors file") {
        Ok(src) => src,
        Err(d) => return (None, vec![d]),
    };
    let mut diags = Vec::new();
    let parsed = read(&src, &mut diags);
    let clean = !diags.iter().any(|d: &Diagnostic| d.severity == Severity::Error);
    (parsed.filter(|_| clean), diags)
}

fn read(src: &Source, diags: &mut Vec<Diagnostic>) -> Option<Supervisors> {
    let mut r = Reader { src, diags };
    let document = match toml::from_str::<toml::Spanned<Node>>(&src.text) {
        Ok(d) => d.into_inner(),
        Err(err) => {
            let message = format!("TOML syntax: {}", err.message().trim());
            r.error(err.span().map_or(0, |s| s.start), message);
            return None;
        }
    };
    let Node::Table(top) = document else {
        return None;
    };
    let mut out = Supervisors {
        path: src.name.clone(),
        list: Vec::new(),
        pin_max_failures: 3,
        lockout_s: 300,
    };
    r.check_keys(&top, TOP_KEYS, "the supervisors file");
    if let Some(item) = get(&top, "defaults") {
        match item.get_ref() {
            Node::Table(entries) => {
                r.check_keys(entries, DEFAULTS_KEYS, "[defaults]");
                for (key, range, slot) in [
                    ("pin_max_failures", 1..=20, &mut out.pin_max_failures),
                    ("lockout_s", 1..=86_400, &mut out.lockout_s),
                ] {
                    let Some(i) = get(entries, key) else { continue };
                    match i.get_ref() {
                        Node::Int(v) if range.contains(v) => *slot = *v as u32,
                        _ => {
                            let expected =
                                format!("a whole number from {} to {}", range.start(), range.end());
                            r.bad(&format!("defaults.{key}"), i, &expected);
                        }
                    }
                }
            }
            _ => r.bad("defaults", item, "a table"),
        }
    }
    let items: Vec<&Item> = match get(&top, "supervisor") {
        None => Vec::new(),
        Some(i) => match i.get_ref() {
            Node::Array(items) => items.iter().collect(),
            _ => {
                let message = "`supervisor` must be written as [[supervisor]] tables, one per supervisor";
                r.error(i.span().start, message.into());
                Vec::new()
            }
        },
    };
    if items.len() > MAX_SUPERVISORS {
        r.error(0, format!("more than {MAX_SUPERVISORS} supervisors in one file"));
    }
    let mut seen: Vec<(String, usize)> = Vec::new();
    for item in items {
        if let Some(s) = r.supervisor(item, &mut seen) {
            out.list.push(s);
        }
    }
    Some(out)
}

struct Reader<'a> {
    src: &'a Source,
    diags: &'a mut Vec<Diagnostic>,
}

impl Reader<'_> {
    fn error(&mut self, at: usize, message: String) {
        self.diags.push(self.src.diagnostic(Severity::Error, at, message));
    }

    fn warning(&mut self, at: usize, message: String) {
        self.diags
            .push(self.src.diagnostic(Severity::Warning, at, message));
    }

    fn bad(&mut self, what: &str, item: &Item, expected: &str) {
        let message = format!("{what} = {}: expected {expected}", self.src.snippet(item.span()));
        self.error(item.span().start, message);
    }

    fn check_keys(&mut self, entries: &Entries, allowed: &[&str], label: &str) {
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

    fn supervisor(&mut self, item: &Item, seen: &mut Vec<(String, usize)>) -> Option<Supervisor> {
        let Node::Table(entries) = item.get_ref() else {
            self.bad("supervisor", item, "a table");
            return None;
        };
        self.check_keys(entries, SUPERVISOR_KEYS, "[[supervisor]]");
        let Some(id_item) = get(entries, "id") else {
            let message = "[[supervisor]] needs `id`, e.g. id = \"9001\"";
            self.error(item.span().start, message.into());
            return None;
        };
        let id = match id_item.get_ref() {
            Node::Str(s)
                if !s.is_empty() && s.len() <= MAX_ID_DIGITS && s.chars().all(|c| c.is_ascii_digit()) =>
            {
                s.clone()
            }
            _ => {
                let expected = format!("1 to {MAX_ID_DIGITS} digits in quotes, e.g. \"9001\"");
                self.bad("supervisor.id", id_item, &expected);
                return None;
            }
        };
        if let Some((_, first)) = seen.iter().find(|(s, _)| *s == id) {
            let (line, _) = self.src.position(*first);
            let message = format!("supervisor id {id:?} is already used on line {line}");
            self.error(id_item.span().start, message);
            return None;
        }
        seen.push((id.clone(), id_item.span().start));
        let name = match get(entries, "name") {
            None => String::new(),
            Some(i) => match i.get_ref() {
                Node::Str(s) => s.clone(),
                _ => {
                    self.bad("supervisor.name", i, "text in quotes");
                    String::new()
                }
            },
        };
        let pin_hash = match get(entries, "pin") {
            None => {
                let message = format!(
                    "supervisor {id} has no PIN: cannot log in until `telvox sup passwd {id}` sets one"
                );
                self.warning(item.span().start, message);
                None
            }
            Some(i) => {
                let Node::Str(pin) = i.get_ref() else {
                    self.bad("supervisor.pin", i, "a PIN hash in quotes");
                    return None;
                };
                if !pin.starts_with("$pbkdf2-") {
                    let message = format!(
                        "supervisor {id}: the PIN is written in plain text; PINs are stored as salted \
                         hashes: run `telvox sup passwd {id}` to set it"
                    );
                    self.error(i.span().start, message);
                    return None;
                }
                if pbkdf2::password_hash::PasswordHash::new(pin).is_err() {
                    let message = format!(
                        "supervisor {id}: the PIN hash is damaged: run `telvox sup passwd {id}` to set it again"
                    );
                    self.error(i.span().start, message);
                    return None;
                }
                Some(pin.clone())
            }
        };
        Some(Supervisor { id, name, pin_hash })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> (Option<Supervisors>, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("supervisors.toml");
        std::fs::write(&path, text).unwrap();
        let (s, d) = load(&path);
        let lines = d
            .iter()
            .map(|d| {
                let s = d.to_string();
                s[s.find("supervisors.toml").unwrap()..].to_owned()
            })
            .collect();
        (s, lines)
    }

    #[test]
    fn problems_are_located_with_the_fix() {
        let (s, d) = check("[[supervisor]]\nid = \"9001\"\npin = \"1234\"\n");
        assert!(s.is_none());
        assert!(d[0].starts_with("supervisors.toml:3:7: error"), "{d:?}");
        assert!(d[0].contains("telvox sup passwd 9001"), "{d:?}");
        let (s, d) = check("[defaults]\nlockout_s = 0\n[[supervisor]]\nid = \"9x\"\n[[supervisor]]\nid = \"1\"\nbogus = 2\n[[supervisor]]\nid = \"1\"\n");
        assert!(s.is_none());
        assert!(
            d.iter().any(|l| l.starts_with("supervisors.toml:2:13: error")),
            "{d:?}"
        );
        assert!(
            d.iter().any(|l| l.starts_with("supervisors.toml:4:6: error")),
            "{d:?}"
        );
        assert!(
            d.iter()
                .any(|l| l.starts_with("supervisors.toml:7:1: error") && l.contains("bogus")),
            "{d:?}"
        );
        assert!(d.iter().any(|l| l.contains("already used on line 6")), "{d:?}");
    }

    #[test]
    fn a_good_file_loads_with_defaults() {
        let hash = crate::apps::ivr::business::hash_pin("2468").unwrap();
        let text = format!("[defaults]\npin_max_failures = 2\n[[supervisor]]\nid = \"9001\"\nname = \"Li\"\npin = \"{hash}\"\n[[supervisor]]\nid = \"9002\"\n");
        let (s, d) = check(&text);
        let s = s.unwrap_or_else(|| panic!("{d:?}"));
        assert_eq!(s.pin_max_failures, 2);
        assert_eq!(s.lockout_s, 300);
        assert_eq!(s.find("9001").unwrap().name, "Li");
        assert!(s.find("9002").unwrap().pin_hash.is_none());
        assert_eq!(d.len(), 1, "a warning for the supervisor without a PIN: {d:?}");
    }
}
