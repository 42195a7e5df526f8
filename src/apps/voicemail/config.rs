//! `mailboxes.toml`: the mailboxes, groups and mail settings, read with the spanned tree so every
//! problem is reported as file:line:col with the fix (like telvox.toml and the flows).
//!
//! ```toml
//! [defaults]                  # every box starts from these
//! language = "en"
//! max_messages = 100
//! max_message_s = 180
//! min_message_ms = 1000
//!
//! [[box]]
//! number = "100"
//! name = "Sales"
//! pin = "$pbkdf2-sha256$…"    # set with `telvox vm passwd 100`; a plain PIN is refused
//! email = "sales@example.com"
//!
//! [[group]]
//! number = "199"
//! members = ["100", "101"]
//! ```

use std::path::{Path, PathBuf};

use crate::config::tree::{Item, Key, Node, Source};
use crate::config::{Diagnostic, Severity};

/// Boxes (and groups) one file may define.
pub const MAX_BOXES: usize = 10_000;
/// Members of one group.
pub const MAX_GROUP_MEMBERS: usize = 256;
/// A mailboxes file larger than this is refused unread.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Longest box number.
pub const MAX_BOX_DIGITS: usize = 16;

const TOP_KEYS: &[&str] = &["defaults", "box", "group", "smtp", "notify"];
const LIMIT_KEYS: &[&str] = &[
    "language",
    "max_messages",
    "max_message_s",
    "min_message_ms",
    "silence_ms",
    "review",
    "attach_audio",
    "delete_after_email",
];
const BOX_ONLY_KEYS: &[&str] = &["number", "name", "pin", "email"];
const GROUP_KEYS: &[&str] = &["number", "name", "members"];
const SMTP_KEYS: &[&str] = &[
    "server",
    "port",
    "security",
    "credentials",
    "ca_file",
    "from",
    "subject",
    "body",
    "attach_format",
    "retry_max_s",
];
const NOTIFY_KEYS: &[&str] = &["command"];
const DEFAULTS_KEYS: &[&str] = &[
    "language",
    "max_messages",
    "max_message_s",
    "min_message_ms",
    "silence_ms",
    "review",
    "attach_audio",
    "delete_after_email",
    "pin_max_failures",
    "lockout_s",
];

/// What a box may hold and how messages are taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The language of the box's prompts on retrieval (a `voice/` set).
    pub language: String,
    pub max_messages: u32,
    pub max_message_s: u32,
    /// Shorter messages are discarded.
    pub min_message_ms: u32,
    /// Silence that ends a message; 0 = only `#` or the length limit end it.
    pub silence_ms: u32,
    /// `#` offers 1 listen, 2 save, 3 re-record.
    pub review: bool,
    pub attach_audio: bool,
    pub delete_after_email: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            language: "en".into(),
            max_messages: 100,
            max_message_s: 180,
            min_message_ms: 1000,
            silence_ms: 5000,
            review: false,
            attach_audio: true,
            delete_after_email: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mailbox {
    pub number: String,
    pub name: String,
    /// PHC PBKDF2 hash; None = no PIN set yet (retrieval refused until `telvox vm passwd`).
    pub pin_hash: Option<String>,
    pub email: Option<String>,
    pub limits: Limits,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub number: String,
    pub name: String,
    pub members: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    None,
    StartTls,
    Tls,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachFormat {
    Pcm16,
    Alaw,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Smtp {
    pub server: String,
    pub port: u16,
    pub security: Security,
    /// A file `user:password` (one line), readable by root only.
    pub credentials: Option<PathBuf>,
    /// PEM CA certificate(s) trusted for the server's certificate, besides the built-in roots.
    pub ca_file: Option<PathBuf>,
    pub from: String,
    pub subject: String,
    pub body: String,
    pub attach_format: AttachFormat,
    /// Longest wait between two tries of one mail.
    pub retry_max_s: u32,
}

pub const DEFAULT_SUBJECT: &str = "New voicemail in box ${box} from ${caller}";
pub const DEFAULT_BODY: &str = "Dear ${name},\n\nthere is a new message (${duration_s} s) in mailbox \
${box} from ${caller}, left at ${time}.\n\n-- telvox\n";

/// The whole file.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Mailboxes {
    pub path: PathBuf,
    pub boxes: Vec<Mailbox>,
    pub groups: Vec<Group>,
    pub smtp: Option<Smtp>,
    /// Run per new message with the message's fields in the environment.
    pub notify_command: Option<PathBuf>,
    /// Wrong PINs in a row before a box locks, and for how long.
    pub pin_max_failures: u32,
    pub lockout_s: u32,
}

impl Mailboxes {
    pub fn find(&self, number: &str) -> Option<&Mailbox> {
        self.boxes.iter().find(|b| b.number == number)
    }

    pub fn group(&self, number: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.number == number)
    }

    /// The boxes a message to `number` goes to: the box, or a group's members; empty if neither.
    pub fn targets(&self, number: &str) -> Vec<&Mailbox> {
        if let Some(b) = self.find(number) {
            return vec![b];
        }
        self.group(number)
            .map(|g| g.members.iter().filter_map(|m| self.find(m)).collect())
            .unwrap_or_default()
    }
}

/// Reads and validates `path`; `voice_dir` (when given) checks box languages have prompt sets.
pub fn load(path: &Path, voice_dir: Option<&Path>) -> (Option<Mailboxes>, Vec<Diagnostic>) {
    let src = match Source::read(path, MAX_FILE_BYTES, "mailboxes file") {
        Ok(src) => src,
        Err(d) => return (None, vec![d]),
    };
    let mut r = Reader {
        src: &src,
        diags: Vec::new(),
        voice_dir,
    };
    let parsed = r.read();
    let diags = r.diags;
    let clean = !diags.iter().any(|d| d.severity == Severity::Error);
    (parsed.filter(|_| clean), diags)
}

struct Reader<'a> {
    src: &'a Source,
    diags: Vec<Diagnostic>,
    voice_dir: Option<&'a Path>,
}

type Entries = [(Key, Item)];

fn get<'e>(entries: &'e Entries, key: &str) -> Option<&'e Item> {
    entries.iter().find(|(k, _)| k.get_ref() == key).map(|(_, i)| i)
}

impl Reader<'_> {
    fn error(&mut self, at: usize, message: String) {
        let d = self.src.diagnostic(Severity::Error, at, message);
        self.diags.push(d);
    }

    fn warning(&mut self, at: usize, message: String) {
        let d = self.src.diagnostic(Severity::Warning, at, message);
        self.diags.push(d);
    }

    fn bad(&mut self, what: &str, item: &Item, expected: &str) {
        let shown = self.src.snippet(item.span());
        self.error(
            item.span().start,
            format!("{what} = {shown}: expected {expected}"),
        );
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

    fn table<'i>(&mut self, what: &str, item: &'i Item) -> Option<&'i Entries> {
        match item.get_ref() {
            Node::Table(entries) => Some(entries),
            _ => {
                self.bad(what, item, "a table");
                None
            }
        }
    }

    fn string(&mut self, what: &str, item: &Item) -> Option<String> {
        match item.get_ref() {
            Node::Str(s) => Some(s.clone()),
            _ => {
                self.bad(what, item, "text in quotes");
                None
            }
        }
    }

    fn int(
        &mut self,
        what: &str,
        item: &Item,
        range: std::ops::RangeInclusive<u32>,
        unit: &str,
    ) -> Option<u32> {
        let value = match item.get_ref() {
            Node::Int(v) => u32::try_from(*v).ok().filter(|v| range.contains(v)),
            _ => None,
        };
        if value.is_none() {
            let expected = format!(
                "a whole number of {unit} from {} to {}",
                range.start(),
                range.end()
            );
            self.bad(what, item, &expected);
        }
        value
    }

    fn boolean(&mut self, what: &str, item: &Item) -> Option<bool> {
        match item.get_ref() {
            Node::Bool(b) => Some(*b),
            _ => {
                self.bad(what, item, "true or false");
                None
            }
        }
    }

    fn read(&mut self) -> Option<Mailboxes> {
        let document = match toml::from_str::<toml::Spanned<Node>>(&self.src.text) {
            Ok(d) => d.into_inner(),
            Err(err) => {
                let at = err.span().map_or(0, |s| s.start);
                let message = format!("TOML syntax: {}", err.message().trim());
                self.error(at, message);
                return None;
            }
        };
        let Node::Table(top) = document else {
            return None;
        };
        self.check_keys(&top, TOP_KEYS, "the mailboxes file");
        let mut out = Mailboxes {
            path: self.src.name.clone(),
            pin_max_failures: 3,
            lockout_s: 300,
            ..Mailboxes::default()
        };
        let mut defaults = Limits::default();
        if let Some(item) = get(&top, "defaults") {
            if let Some(entries) = self.table("defaults", item) {
                self.check_keys(entries, DEFAULTS_KEYS, "[defaults]");
                self.limits(entries, &mut defaults, "defaults.");
                if let Some(i) = get(entries, "pin_max_failures") {
                    out.pin_max_failures = self
                        .int("defaults.pin_max_failures", i, 1..=20, "failures")
                        .unwrap_or(3);
                }
                if let Some(i) = get(entries, "lockout_s") {
                    out.lockout_s = self
                        .int("defaults.lockout_s", i, 1..=86_400, "seconds")
                        .unwrap_or(300);
                }
            }
        }
        let mut seen: Vec<(String, usize)> = Vec::new();
        for item in self.array_of_tables(&top, "box") {
            if let Some(b) = self.mailbox(item, &defaults, &mut seen) {
                out.boxes.push(b);
            }
        }
        let mut group_items = Vec::new();
        for item in self.array_of_tables(&top, "group") {
            if let Some(g) = self.group(item, &mut seen) {
                group_items.push(item);
                out.groups.push(g);
            }
        }
        if out.boxes.len() + out.groups.len() > MAX_BOXES {
            self.error(0, format!("more than {MAX_BOXES} boxes and groups in one file"));
        }
        // Group members must be boxes (not groups: a message fans out one level only).
        for (group, item) in out.groups.iter().zip(group_items) {
            for member in &group.members {
                if out.find(member).is_none() {
                    let message = format!(
                        "group {}: member {member:?} is not a [[box]] in this file (groups hold boxes, \
                         not other groups)",
                        group.number
                    );
                    self.error(item.span().start, message);
                }
            }
        }
        if let Some(item) = get(&top, "smtp") {
            out.smtp = self.smtp(item);
        }
        if let Some(item) = get(&top, "notify") {
            if let Some(entries) = self.table("notify", item) {
                self.check_keys(entries, NOTIFY_KEYS, "[notify]");
                if let Some(i) = get(entries, "command") {
                    let base = self.src.name.parent().unwrap_or(Path::new("/"));
                    out.notify_command = self.string("notify.command", i).map(|c| base.join(c));
                }
            }
        }
        Some(out)
    }

    fn array_of_tables<'i>(&mut self, top: &'i Entries, key: &str) -> Vec<&'i Item> {
        let Some(item) = get(top, key) else {
            return Vec::new();
        };
        match item.get_ref() {
            Node::Array(items) => items.iter().collect(),
            _ => {
                let message = format!("`{key}` must be written as [[{key}]] tables, one per {key}");
                self.error(item.span().start, message);
                Vec::new()
            }
        }
    }

    fn number(
        &mut self,
        what: &str,
        entries: &Entries,
        item: &Item,
        seen: &mut Vec<(String, usize)>,
    ) -> Option<String> {
        let Some(n) = get(entries, "number") else {
            self.error(
                item.span().start,
                format!("{what} needs `number`, e.g. number = \"100\""),
            );
            return None;
        };
        let number = self.string(&format!("{what}.number"), n)?;
        let plain = !number.is_empty()
            && number.len() <= MAX_BOX_DIGITS
            && number.chars().all(|c| c.is_ascii_digit());
        if !plain {
            let expected = format!("1 to {MAX_BOX_DIGITS} digits in quotes, e.g. \"100\"");
            self.bad(&format!("{what}.number"), n, &expected);
            return None;
        }
        if let Some((_, first)) = seen.iter().find(|(s, _)| *s == number) {
            let (line, _) = self.src.position(*first);
            let message = format!("{what} number {number:?} is already used on line {line}");
            self.error(n.span().start, message);
            return None;
        }
        seen.push((number.clone(), n.span().start));
        Some(number)
    }

    fn limits(&mut self, entries: &Entries, limits: &mut Limits, prefix: &str) {
        for (key, item) in entries {
            let what = format!("{prefix}{}", key.get_ref());
            match key.get_ref().as_str() {
                "language" => {
                    if let Some(lang) = self.string(&what, item) {
                        self.check_language(&lang, item);
                        limits.language = lang;
                    }
                }
                "max_messages" => {
                    if let Some(v) = self.int(&what, item, 1..=10_000, "messages") {
                        limits.max_messages = v;
                    }
                }
                "max_message_s" => {
                    if let Some(v) = self.int(&what, item, 5..=600, "seconds") {
                        limits.max_message_s = v;
                    }
                }
                "min_message_ms" => {
                    if let Some(v) = self.int(&what, item, 0..=10_000, "milliseconds") {
                        limits.min_message_ms = v;
                    }
                }
                "silence_ms" => {
                    if let Some(v) = self.int(&what, item, 0..=60_000, "milliseconds (0 = off)") {
                        if v != 0 && v < 500 {
                            self.bad(&what, item, "0 (off) or 500 to 60000 milliseconds");
                        } else {
                            limits.silence_ms = v;
                        }
                    }
                }
                "review" => limits.review = self.boolean(&what, item).unwrap_or(limits.review),
                "attach_audio" => {
                    limits.attach_audio = self.boolean(&what, item).unwrap_or(limits.attach_audio)
                }
                "delete_after_email" => {
                    limits.delete_after_email = self.boolean(&what, item).unwrap_or(limits.delete_after_email)
                }
                _ => {}
            }
        }
    }

    fn check_language(&mut self, lang: &str, item: &Item) {
        let Some(voice_dir) = self.voice_dir else {
            return;
        };
        let plain = !lang.is_empty() && lang.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !plain || !voice_dir.join(lang).is_dir() {
            let message = format!(
                "language {lang:?}: {} has no such prompt set",
                voice_dir.display()
            );
            self.error(item.span().start, message);
        }
    }

    fn mailbox(
        &mut self,
        item: &Item,
        defaults: &Limits,
        seen: &mut Vec<(String, usize)>,
    ) -> Option<Mailbox> {
        let entries = self.table("[[box]]", item)?;
        let allowed: Vec<&str> = BOX_ONLY_KEYS.iter().chain(LIMIT_KEYS).copied().collect();
        self.check_keys(entries, &allowed, "[[box]]");
        let number = self.number("[[box]]", entries, item, seen)?;
        let mut limits = defaults.clone();
        self.limits(entries, &mut limits, "box.");
        let name = match get(entries, "name") {
            Some(i) => self.string("box.name", i).unwrap_or_default(),
            None => String::new(),
        };
        let email = get(entries, "email").and_then(|i| {
            let email = self.string("box.email", i)?;
            if !email.contains('@') || email.parse::<lettre::Address>().is_err() {
                self.bad("box.email", i, "an email address, e.g. \"sales@example.com\"");
                return None;
            }
            Some(email)
        });
        let pin_hash = match get(entries, "pin") {
            Some(i) => {
                let pin = self.string("box.pin", i)?;
                if !pin.starts_with("$pbkdf2-") {
                    let message = format!(
                        "box {number}: the PIN is written in plain text; PINs are stored as salted hashes: \
                         run `telvox vm passwd {number}` to set it"
                    );
                    self.error(i.span().start, message);
                    return None;
                }
                if pbkdf2::password_hash::PasswordHash::new(&pin).is_err() {
                    let message = format!(
                        "box {number}: the PIN hash is damaged: run `telvox vm passwd {number}` to set it again"
                    );
                    self.error(i.span().start, message);
                    return None;
                }
                Some(pin)
            }
            None => {
                let message = format!(
                    "box {number} has no PIN: its messages cannot be heard by phone until \
                     `telvox vm passwd {number}` sets one"
                );
                self.warning(item.span().start, message);
                None
            }
        };
        Some(Mailbox {
            number,
            name,
            pin_hash,
            email,
            limits,
        })
    }

    fn group(&mut self, item: &Item, seen: &mut Vec<(String, usize)>) -> Option<Group> {
        let entries = self.table("[[group]]", item)?;
        self.check_keys(entries, GROUP_KEYS, "[[group]]");
        let number = self.number("[[group]]", entries, item, seen)?;
        let name = match get(entries, "name") {
            Some(i) => self.string("group.name", i).unwrap_or_default(),
            None => String::new(),
        };
        let Some(members_item) = get(entries, "members") else {
            let message = format!("group {number} needs `members`, e.g. members = [\"100\", \"101\"]");
            self.error(item.span().start, message);
            return None;
        };
        let expected = format!("a list of 1 to {MAX_GROUP_MEMBERS} box numbers, e.g. [\"100\", \"101\"]");
        let members = match members_item.get_ref() {
            Node::Array(items) if !items.is_empty() && items.len() <= MAX_GROUP_MEMBERS => {
                let list: Vec<Option<String>> =
                    items.iter().map(|i| self.string("group.members", i)).collect();
                list.into_iter().collect::<Option<Vec<String>>>()?
            }
            _ => {
                self.bad("group.members", members_item, &expected);
                return None;
            }
        };
        Some(Group {
            number,
            name,
            members,
        })
    }

    fn smtp(&mut self, item: &Item) -> Option<Smtp> {
        let entries = self.table("smtp", item)?;
        self.check_keys(entries, SMTP_KEYS, "[smtp]");
        let base = self.src.name.parent().unwrap_or(Path::new("/")).to_path_buf();
        let mut smtp = Smtp {
            server: "localhost".into(),
            port: 25,
            security: Security::None,
            credentials: None,
            ca_file: None,
            from: "telvox <voicemail@localhost>".into(),
            subject: DEFAULT_SUBJECT.into(),
            body: DEFAULT_BODY.into(),
            attach_format: AttachFormat::Pcm16,
            retry_max_s: 3600,
        };
        let mut ok = true;
        for (key, value) in entries {
            let what = format!("smtp.{}", key.get_ref());
            match key.get_ref().as_str() {
                "server" => match self.string(&what, value) {
                    Some(s) => smtp.server = s,
                    None => ok = false,
                },
                "port" => match self.int(&what, value, 1..=65_535, "port") {
                    Some(p) => smtp.port = p as u16,
                    None => ok = false,
                },
                "security" => match self.string(&what, value).as_deref() {
                    Some("none") => smtp.security = Security::None,
                    Some("starttls") => smtp.security = Security::StartTls,
                    Some("tls") => smtp.security = Security::Tls,
                    _ => {
                        self.bad(&what, value, "\"none\", \"starttls\" or \"tls\"");
                        ok = false;
                    }
                },
                "credentials" => match self.string(&what, value) {
                    Some(p) => {
                        let path = base.join(p);
                        self.check_credentials(&path, value);
                        smtp.credentials = Some(path);
                    }
                    None => ok = false,
                },
                "ca_file" => match self.string(&what, value) {
                    Some(p) => {
                        let path = base.join(p);
                        match super::mail::load_ca(&path) {
                            Ok(_) => smtp.ca_file = Some(path),
                            Err(e) => {
                                self.error(value.span().start, format!("smtp.ca_file: {e}"));
                                ok = false;
                            }
                        }
                    }
                    None => ok = false,
                },
                "from" => match self.string(&what, value) {
                    Some(f) if f.parse::<lettre::message::Mailbox>().is_ok() => smtp.from = f,
                    _ => {
                        self.bad(&what, value, "a sender, e.g. \"telvox <voicemail@example.com>\"");
                        ok = false;
                    }
                },
                "subject" => match self.string(&what, value) {
                    Some(s) => smtp.subject = s,
                    None => ok = false,
                },
                "body" => match self.string(&what, value) {
                    Some(s) => smtp.body = s,
                    None => ok = false,
                },
                "attach_format" => match self.string(&what, value).as_deref() {
                    Some("pcm16") => smtp.attach_format = AttachFormat::Pcm16,
                    Some("alaw") => smtp.attach_format = AttachFormat::Alaw,
                    _ => {
                        self.bad(&what, value, "\"pcm16\" or \"alaw\"");
                        ok = false;
                    }
                },
                "retry_max_s" => match self.int(&what, value, 1..=86_400, "seconds") {
                    Some(s) => smtp.retry_max_s = s,
                    None => ok = false,
                },
                _ => {}
            }
        }
        ok.then_some(smtp)
    }

    /// The credentials file holds a password: it must be readable by its owner only.
    fn check_credentials(&mut self, path: &Path, item: &Item) {
        use std::os::unix::fs::MetadataExt;
        match std::fs::metadata(path) {
            Ok(meta) if meta.mode() & 0o077 != 0 => {
                let message = format!(
                    "smtp.credentials: {} can be read by others (mode {:o}): chmod 600 it, owned by root",
                    path.display(),
                    meta.mode() & 0o777
                );
                self.warning(item.span().start, message);
            }
            Ok(_) => {}
            Err(e) => {
                let message = format!("smtp.credentials: cannot read {}: {e}", path.display());
                self.error(item.span().start, message);
            }
        }
    }
}

/// Sets box `number`'s PIN hash in the file at `path`, keeping everything else (comments
/// included); written to a temporary name and renamed.
pub fn set_pin_hash(path: &Path, number: &str, hash: &str) -> Result<(), String> {
    set_table_pin_hash(path, "box", "number", number, hash)
}

/// Sets `pin = hash` in the `[[table]]` whose `key_field` is `key` (mailboxes.toml's boxes,
/// supervisors.toml's supervisors), keeping everything else, comments included; written to a
/// temporary name and renamed.
pub fn set_table_pin_hash(
    path: &Path,
    table: &str,
    key_field: &str,
    key: &str,
    hash: &str,
) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| format!("{}: not valid TOML: {e}", path.display()))?;
    let boxes = doc
        .get_mut(table)
        .and_then(|b| b.as_array_of_tables_mut())
        .ok_or_else(|| format!("{}: no [[{table}]] tables", path.display()))?;
    let entry = boxes
        .iter_mut()
        .find(|t| t.get(key_field).and_then(|n| n.as_str()) == Some(key))
        .ok_or_else(|| format!("{}: no [[{table}]] with {key_field} = \"{key}\"", path.display()))?;
    entry["pin"] = toml_edit::value(hash);
    let tmp = path.with_extension("toml.tmp");
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        if let Ok(meta) = std::fs::metadata(path) {
            f.set_permissions(meta.permissions())?;
        }
        f.write_all(doc.to_string().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| format!("{}: cannot write: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> (Option<Mailboxes>, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mailboxes.toml");
        std::fs::write(&path, text).unwrap();
        let (m, d) = load(&path, None);
        let lines = d
            .iter()
            .map(|d| {
                let s = d.to_string();
                s[s.find("mailboxes.toml").unwrap()..].to_owned()
            })
            .collect();
        (m, lines)
    }

    #[test]
    fn a_plain_pin_is_refused_with_the_command_that_fixes_it() {
        let (m, d) = check("[[box]]\nnumber = \"100\"\npin = \"1234\"\n");
        assert!(m.is_none());
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].starts_with("mailboxes.toml:3:7: error"), "{d:?}");
        assert!(d[0].contains("telvox vm passwd 100"), "{d:?}");
    }

    #[test]
    fn limits_inherit_defaults_and_groups_need_real_boxes() {
        let text = "[defaults]\nmax_messages = 5\nlanguage = \"zh\"\n\
                    [[box]]\nnumber = \"100\"\nmax_message_s = 30\n\
                    [[box]]\nnumber = \"101\"\nlanguage = \"ko\"\n\
                    [[group]]\nnumber = \"199\"\nmembers = [\"100\", \"101\"]\n";
        let (m, d) = check(text);
        let m = m.unwrap_or_else(|| panic!("{d:?}"));
        let b = m.find("100").unwrap();
        assert_eq!((b.limits.max_messages, b.limits.max_message_s), (5, 30));
        assert_eq!(b.limits.language, "zh");
        assert_eq!(m.find("101").unwrap().limits.language, "ko");
        let targets: Vec<&str> = m.targets("199").iter().map(|b| b.number.as_str()).collect();
        assert_eq!(targets, ["100", "101"]);
        let (m, d) = check("[[box]]\nnumber = \"100\"\n[[group]]\nnumber = \"100\"\nmembers = [\"7\"]\n");
        assert!(m.is_none());
        assert!(
            d.iter()
                .any(|l| l.contains("4:10: error") && l.contains("already used on line 2")),
            "{d:?}"
        );
    }

    #[test]
    fn bad_values_are_located() {
        let (m, d) =
            check("[[box]]\nnumber = \"1x\"\n[[box]]\nnumber = \"2\"\nmax_messages = 0\nbogus = 1\n");
        assert!(m.is_none());
        assert!(
            d.iter().any(|l| l.starts_with("mailboxes.toml:2:10: error")),
            "{d:?}"
        );
        assert!(
            d.iter().any(|l| l.starts_with("mailboxes.toml:5:16: error")),
            "{d:?}"
        );
        assert!(
            d.iter().any(|l| l.starts_with("mailboxes.toml:6:1: error")),
            "{d:?}"
        );
    }

    #[test]
    fn smtp_settings_are_checked_and_a_readable_password_file_warned_about() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cred = dir.path().join("smtp.cred");
        std::fs::write(&cred, "user:secret\n").unwrap();
        std::fs::set_permissions(&cred, std::fs::Permissions::from_mode(0o644)).unwrap();
        let path = dir.path().join("mailboxes.toml");
        let text = "[smtp]\nserver = \"mail.example.com\"\nport = 587\nsecurity = \"starttls\"\n\
                    credentials = \"smtp.cred\"\nattach_format = \"alaw\"\n";
        std::fs::write(&path, text).unwrap();
        let (m, d) = load(&path, None);
        let smtp = m.unwrap().smtp.unwrap();
        assert_eq!(
            (smtp.port, smtp.security, smtp.attach_format),
            (587, Security::StartTls, AttachFormat::Alaw)
        );
        assert_eq!(smtp.credentials.as_deref(), Some(cred.as_path()));
        assert!(
            d.iter()
                .any(|d| d.severity == Severity::Warning && d.message.contains("chmod 600")),
            "{d:?}"
        );
        std::fs::set_permissions(&cred, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load(&path, None).1.is_empty());
        std::fs::write(&path, "[smtp]\nsecurity = \"ssl\"\nfrom = \"not an address\"\n").unwrap();
        let (m, d) = load(&path, None);
        assert!(m.is_none());
        assert_eq!(d.len(), 2, "{d:?}");
    }

    #[test]
    fn ca_file_must_be_a_pem_ca_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mailboxes.toml");
        std::fs::write(dir.path().join("junk.pem"), "not a certificate\n").unwrap();
        let damaged = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        std::fs::write(dir.path().join("damaged.pem"), damaged).unwrap();
        for (file, what) in [
            ("missing.pem", "cannot read"),
            ("junk.pem", "not a PEM CA certificate"),
            ("damaged.pem", "certificate"),
        ] {
            std::fs::write(&path, format!("[smtp]\nport = 465\nca_file = \"{file}\"\n")).unwrap();
            let (m, d) = load(&path, None);
            assert!(m.is_none(), "{file}");
            let text = d.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n");
            assert!(text.contains("mailboxes.toml:3:11: error"), "{file}: {text}");
            assert!(
                text.contains("smtp.ca_file") && text.contains(what),
                "{file}: {text}"
            );
        }
        // A real CA certificate, made by openssl, is taken.
        let cert = dir.path().join("ca.pem");
        let made = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-days", "2", "-subj", "/CN=relay CA", "-keyout"])
            .arg(dir.path().join("ca.key"))
            .arg("-out")
            .arg(&cert)
            .output()
            .unwrap();
        assert!(made.status.success());
        std::fs::write(&path, "[smtp]\nsecurity = \"tls\"\nca_file = \"ca.pem\"\n").unwrap();
        let (m, d) = load(&path, None);
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(m.unwrap().smtp.unwrap().ca_file, Some(cert));
    }

    #[test]
    fn passwd_rewrites_only_that_box_and_keeps_comments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mailboxes.toml");
        std::fs::write(
            &path,
            "# sales\n[[box]]\nnumber = \"100\" # the desk\n[[box]]\nnumber = \"101\"\n",
        )
        .unwrap();
        let hash = crate::apps::ivr::business::hash_pin("2468").unwrap();
        set_pin_hash(&path, "101", &hash).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("# sales") && text.contains("# the desk"), "{text}");
        let (m, d) = load(&path, None);
        let m = m.unwrap_or_else(|| panic!("{d:?}"));
        assert!(m.find("100").unwrap().pin_hash.is_none());
        let stored = m.find("101").unwrap().pin_hash.clone().unwrap();
        assert!(crate::apps::ivr::business::pin_matches("2468", &stored));
        assert!(set_pin_hash(&path, "102", &hash).is_err());
    }
}
