//! Notification: an email per new message, sent from a persistent queue (`vm_mail_queue` in the
//! call log) by one mailer thread per runtime, with retries and exponential backoff: an SMTP
//! server that is down delays mail, never loses it. Rows are claimed with a lease, so the mailers
//! of an old and a new runtime (during a reload) never send the same mail twice.
//! Also the per-message command hook.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crossbeam::channel::{bounded, RecvTimeoutError, Sender};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Message as Email, SmtpTransport, Transport};
use rusqlite::{params, Connection};

use super::config::{AttachFormat, Mailbox, Mailboxes, Security, Smtp};
use super::db;
use super::service::Paths;

/// How often the mailer looks at the queue.
const POLL: Duration = Duration::from_millis(500);
/// A claimed mail is someone else's for this long.
const LEASE_MS: i64 = 120_000;
/// First retry after this; doubling up to `retry_max_s`.
const FIRST_RETRY_MS: i64 = 1000;
/// Mails sent per pass.
const BATCH: i64 = 16;
/// SMTP conversation timeout.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);
/// Hook commands running at once at most.
const MAX_HOOKS: usize = 16;

static HOOKS_RUNNING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Dropping it stops the mailer thread (after the mail in hand).
#[derive(Debug)]
pub struct MailerHandle {
    _stop: Sender<()>,
}

/// Set by the daemon: only it sends mail (`telvox config check` builds a runtime too).
static SENDING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Lets runtimes built from now on in this process send mail.
pub fn enable_sending() {
    SENDING.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Whether this process sends mail (the daemon), as opposed to `telvox config check`.
pub fn sending_enabled() -> bool {
    SENDING.load(std::sync::atomic::Ordering::SeqCst)
}

/// The wait before the next try of a mail that failed `attempts` times (doubling from 1 s up to
/// `retry_max_s`). Shared with the fax mail queue.
pub fn backoff_ms(attempts: i64, retry_max_s: u32) -> i64 {
    (FIRST_RETRY_MS << attempts.clamp(0, 20)).min(i64::from(retry_max_s) * 1000)
}

/// Sends one message through `smtp` (TLS, AUTH as configured); the error explains TLS and AUTH
/// failures. Shared with the fax mail queue.
pub fn deliver(smtp: &Smtp, email: &Email) -> Result<(), String> {
    transport(smtp)?
        .send(email)
        .map(|_| ())
        .map_err(|e| explain(smtp, &e))
}

pub fn start(boxes: Arc<Mailboxes>, paths: Paths) -> std::io::Result<Option<MailerHandle>> {
    let Some(smtp) = boxes.smtp.clone() else {
        return Ok(None);
    };
    if !sending_enabled() {
        return Ok(None);
    }
    let (stop, stopped) = bounded::<()>(1);
    std::thread::Builder::new()
        .name("vm-mailer".into())
        .spawn(move || {
            let mut conn: Option<Connection> = None;
            loop {
                match stopped.recv_timeout(POLL) {
                    Err(RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                if conn.is_none() {
                    conn = db::open(&paths.db).ok();
                }
                let Some(c) = conn.as_ref() else { continue };
                if let Err(e) = pass(c, &boxes, &smtp, &paths) {
                    tracing::warn!("voicemail mail queue: {e}");
                    conn = None;
                }
            }
        })?;
    Ok(Some(MailerHandle { _stop: stop }))
}

struct Due {
    id: i64,
    message_id: i64,
    box_: String,
    to: String,
    attempts: i64,
}

/// Sends what is due.
fn pass(conn: &Connection, boxes: &Mailboxes, smtp: &Smtp, paths: &Paths) -> rusqlite::Result<()> {
    let now = db::now_ms();
    let due: Vec<Due> = {
        let mut stmt = conn.prepare_cached(
            "SELECT id, message_id, box, to_addr, attempts FROM vm_mail_queue
             WHERE sent_ms IS NULL AND next_try_ms <= ?1 AND lease_ms <= ?1 ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![now, BATCH], |r| {
            Ok(Due {
                id: r.get(0)?,
                message_id: r.get(1)?,
                box_: r.get(2)?,
                to: r.get(3)?,
                attempts: r.get(4)?,
            })
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for d in due {
        let claimed = conn.execute(
            "UPDATE vm_mail_queue SET lease_ms = ?2 WHERE id = ?1 AND lease_ms <= ?3 AND sent_ms IS NULL",
            params![d.id, now + LEASE_MS, now],
        )?;
        if claimed != 1 {
            continue;
        }
        let Some(message) = db::message(conn, d.message_id)? else {
            // Deleted before it was mailed: nothing to send.
            conn.execute("DELETE FROM vm_mail_queue WHERE id = ?1", [d.id])?;
            continue;
        };
        let mailbox = boxes.find(&d.box_);
        match send(smtp, paths, mailbox, &message, &d.to) {
            Ok(()) => {
                conn.execute(
                    "UPDATE vm_mail_queue SET sent_ms = ?2, attempts = attempts + 1, lease_ms = 0 WHERE id = ?1",
                    params![d.id, db::now_ms()],
                )?;
                tracing::info!("voicemail: message {} mailed to {}", message.id, d.to);
                if mailbox.is_some_and(|b| b.limits.delete_after_email) {
                    db::delete(conn, &paths.data_dir, message.id)?;
                }
            }
            Err(e) => {
                let backoff = backoff_ms(d.attempts, smtp.retry_max_s);
                conn.execute(
                    "UPDATE vm_mail_queue SET attempts = attempts + 1, next_try_ms = ?2, lease_ms = 0,
                     last_error = ?3 WHERE id = ?1",
                    params![d.id, db::now_ms() + backoff, e],
                )?;
                tracing::warn!(
                    "voicemail: mail for message {} to {} failed (try {}), retrying in {} ms: {e}",
                    message.id,
                    d.to,
                    d.attempts + 1,
                    backoff
                );
            }
        }
    }
    Ok(())
}

/// Fills `${name}` variables of a template.
pub fn render(template: &str, vars: &[(&str, String)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in vars {
        out = out.replace(&format!("${{{name}}}"), value);
    }
    out
}

fn vars(paths: &Paths, mailbox: Option<&Mailbox>, m: &db::Message) -> Vec<(&'static str, String)> {
    let time = chrono::DateTime::from_timestamp_millis(m.at_ms)
        .map(|t| {
            t.with_timezone(&paths.timezone)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default();
    vec![
        ("box", m.box_.clone()),
        ("name", mailbox.map(|b| b.name.clone()).unwrap_or_default()),
        (
            "caller",
            if m.caller.is_empty() {
                "unknown".into()
            } else {
                m.caller.clone()
            },
        ),
        ("time", time),
        ("duration_s", ((m.duration_ms + 500) / 1000).to_string()),
        ("id", m.id.to_string()),
    ]
}

fn send(
    smtp: &Smtp,
    paths: &Paths,
    mailbox: Option<&Mailbox>,
    m: &db::Message,
    to: &str,
) -> Result<(), String> {
    let vars = vars(paths, mailbox, m);
    let subject = render(&smtp.subject, &vars);
    let body = render(&smtp.body, &vars);
    let builder = Email::builder()
        .from(smtp.from.parse().map_err(|e| format!("from: {e}"))?)
        .to(to.parse().map_err(|e| format!("to {to}: {e}"))?)
        .subject(subject)
        .header(lettre::message::header::MessageId::from(format!(
            "<vm-{}-{}@telvox>",
            m.id, m.at_ms
        )));
    let text = SinglePart::builder().header(ContentType::TEXT_PLAIN).body(body);
    let attach = mailbox.map_or(true, |b| b.limits.attach_audio);
    let email = if attach {
        let path = db::box_dir(&paths.data_dir, &m.box_).join(&m.file);
        let pcm = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let wav = match smtp.attach_format {
            AttachFormat::Pcm16 => pcm,
            AttachFormat::Alaw => pcm16_wav_to_alaw(&pcm),
        };
        let name = format!("voicemail-{}-{}.wav", m.box_, m.id);
        let part = Attachment::new(name).body(wav, ContentType::parse("audio/wav").expect("a valid type"));
        builder.multipart(MultiPart::mixed().singlepart(text).singlepart(part))
    } else {
        builder.singlepart(text)
    }
    .map_err(|e| e.to_string())?;
    deliver(smtp, &email)
}

/// The SMTP error, with a hint at the setting to look at for TLS and AUTH failures.
fn explain(smtp: &Smtp, e: &lettre::transport::smtp::Error) -> String {
    let text = e.to_string();
    let lower = text.to_lowercase();
    if smtp.security != Security::None && (e.is_tls() || lower.contains("certificate")) {
        format!(
            "TLS with {}:{} failed: {text} (is the server's certificate for \"{}\" and signed by a \
             CA in smtp.ca_file or the built-in roots?)",
            smtp.server, smtp.port, smtp.server
        )
    } else if e.status().is_some_and(|c| c.to_string() == "535") {
        format!(
            "SMTP authentication refused by {}:{}: {text} (check the user:password in smtp.credentials)",
            smtp.server, smtp.port
        )
    } else {
        text
    }
}

fn transport(smtp: &Smtp) -> Result<SmtpTransport, String> {
    let tls = || tls_parameters(&smtp.server, smtp.ca_file.as_deref());
    let mut b = SmtpTransport::builder_dangerous(&smtp.server)
        .port(smtp.port)
        .timeout(Some(SMTP_TIMEOUT));
    b = match smtp.security {
        Security::None => b.tls(Tls::None),
        Security::StartTls => b.tls(Tls::Required(tls()?)),
        Security::Tls => b.tls(Tls::Wrapper(tls()?)),
    };
    if let Some(path) = &smtp.credentials {
        b = b.credentials(read_credentials(path)?);
    }
    Ok(b.build())
}

/// TLS settings for `server`: the built-in (Mozilla) roots, plus the certificates of `ca_file`.
fn tls_parameters(server: &str, ca_file: Option<&Path>) -> Result<TlsParameters, String> {
    let mut b = TlsParameters::builder(server.to_owned());
    if let Some(path) = ca_file {
        b = b.add_root_certificate(load_ca(path)?);
    }
    b.build_rustls().map_err(|e| format!("TLS settings: {e}"))
}

/// The PEM CA certificate(s) of `smtp.ca_file`, checked (rustls accepts them as roots).
pub fn load_ca(path: &Path) -> Result<Certificate, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let not_pem = || {
        format!(
            "{}: not a PEM CA certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        )
    };
    if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
        return Err(not_pem());
    }
    let cert = Certificate::from_pem(&pem).map_err(|_| not_pem())?;
    // Adding it to a root store parses it: a damaged certificate is refused here, not at send time.
    TlsParameters::builder("localhost".into())
        .add_root_certificate(cert.clone())
        .build_rustls()
        .map_err(|e| format!("{}: unusable CA certificate: {e}", path.display()))?;
    Ok(cert)
}

/// `user:password` (the first line); warns when others may read the file.
fn read_credentials(path: &Path) -> Result<Credentials, String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.mode() & 0o077 != 0 {
        tracing::warn!(
            "voicemail: SMTP credentials {} can be read by others: chmod 600 it",
            path.display()
        );
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let line = text.lines().next().unwrap_or("");
    let (user, pass) = line
        .split_once(':')
        .ok_or_else(|| format!("{}: expected one line user:password", path.display()))?;
    Ok(Credentials::new(user.to_owned(), pass.to_owned()))
}

/// A PCM16 WAV (as telvox writes them) re-encoded as an A-law WAV (format tag 6), half the size.
pub fn pcm16_wav_to_alaw(pcm: &[u8]) -> Vec<u8> {
    let samples = pcm.get(44..).unwrap_or(&[]);
    let data: Vec<u8> = samples
        .chunks_exact(2)
        .map(|s| crate::dsp::g711::encode(crate::hw::Law::Alaw, i16::from_le_bytes([s[0], s[1]])))
        .collect();
    let n = data.len() as u32;
    let mut out = Vec::with_capacity(58 + data.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(50 + n).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&18u32.to_le_bytes());
    out.extend_from_slice(&6u16.to_le_bytes()); // A-law
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&8u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(b"fact");
    out.extend_from_slice(&4u32.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&data);
    out
}

/// Runs `[notify] command` for a new message with its fields in the environment
/// (TELVOX_VM_BOX, _ID, _CALLER, _TIME_MS, _DURATION_MS, _FILE, _NAME, _EMAIL); never waits for it.
pub fn run_hook(
    boxes: &Mailboxes,
    b: &Mailbox,
    id: i64,
    caller: &str,
    at_ms: i64,
    duration_ms: i64,
    file: &Path,
) {
    let Some(command) = boxes.notify_command.clone() else {
        return;
    };
    if HOOKS_RUNNING.load(std::sync::atomic::Ordering::Relaxed) >= MAX_HOOKS {
        tracing::warn!("voicemail: {MAX_HOOKS} notify commands still running: not starting another");
        return;
    }
    let spawned = std::process::Command::new(&command)
        .env("TELVOX_VM_BOX", &b.number)
        .env("TELVOX_VM_ID", id.to_string())
        .env("TELVOX_VM_CALLER", caller)
        .env("TELVOX_VM_TIME_MS", at_ms.to_string())
        .env("TELVOX_VM_DURATION_MS", duration_ms.to_string())
        .env("TELVOX_VM_FILE", file)
        .env("TELVOX_VM_NAME", &b.name)
        .env("TELVOX_VM_EMAIL", b.email.as_deref().unwrap_or(""))
        .stdin(std::process::Stdio::null())
        .spawn();
    match spawned {
        Ok(mut child) => {
            HOOKS_RUNNING.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let reaper = std::thread::Builder::new().name("vm-hook".into()).spawn(move || {
                let status = child.wait();
                HOOKS_RUNNING.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                if let Ok(status) = status {
                    if !status.success() {
                        tracing::warn!(
                            "voicemail: notify command {} exited with {status}",
                            command.display()
                        );
                    }
                }
            });
            if reaper.is_err() {
                HOOKS_RUNNING.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        Err(e) => tracing::warn!("voicemail: cannot run notify command {}: {e}", command.display()),
    }
}

/// For `telvox vm` and tests: where a box's message file is.
pub fn message_path(data_dir: &Path, m: &db::Message) -> PathBuf {
    db::box_dir(data_dir, &m.box_).join(&m.file)
}

#[allow(dead_code)]
fn flush(out: &mut impl Write) {
    let _ = out.flush();
}
