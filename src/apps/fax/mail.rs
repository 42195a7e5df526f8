//! Email of received faxes (issue 5 item 5): `[fax] email_to` (and per called number,
//! `[fax] email_numbers`) gets the PDF of each received fax as an attachment.
//!
//! The queue is the received fax's own row in `fax_sessions` (`mail_to`, `mail_next_ms`,
//! `mail_attempts`, `mail_lease_ms`, `mail_sent_ms`, `mail_error`), written by the filing thread
//! after the PDF exists, so a crash or an SMTP server that is down delays mail, never loses it.
//! Sending reuses voicemail's SMTP machinery (`[smtp]` in mailboxes.toml, TLS/AUTH, the same
//! backoff): one mailer thread per runtime, rows claimed with a lease so the mailers of an old and
//! a new runtime (during a reload) never send the same fax twice.

use std::path::PathBuf;
use std::time::Duration;

use crossbeam::channel::{bounded, Receiver, RecvTimeoutError, Sender};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, MultiPart, SinglePart};
use lettre::Message as Email;
use rusqlite::{params, Connection};

use crate::apps::voicemail::config::Smtp;
use crate::apps::voicemail::mail::{backoff_ms, deliver, sending_enabled};

/// How often the mailer looks at the queue when nobody wakes it.
const POLL: Duration = Duration::from_millis(500);
/// A claimed mail is this mailer's for this long.
const LEASE_MS: i64 = 120_000;
/// Mails sent per pass.
const BATCH: i64 = 16;
/// Largest PDF attached (a 100-page fine fax as tiff2pdf writes it is a few MB).
const MAX_PDF_BYTES: u64 = 32 << 20;

/// Where received faxes are mailed, and through which server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaxMail {
    /// `[fax] email_to`: the default address (empty: only numbers in `by_number` are mailed).
    pub to: String,
    /// `[fax] email_numbers`: called number → address, overriding `to`.
    pub by_number: Vec<(String, String)>,
    /// voicemail's `[smtp]` (mailboxes.toml).
    pub smtp: Smtp,
}

impl FaxMail {
    /// The address for a fax that came in on `called` (empty: not mailed).
    pub fn address_for(&self, called: &str) -> &str {
        self.by_number
            .iter()
            .find(|(number, _)| number == called)
            .map_or(self.to.as_str(), |(_, address)| address.as_str())
    }
}

/// The mailer thread; dropping the handle stops it (after the mail in hand).
#[derive(Debug)]
pub struct Mailer {
    wake: Sender<()>,
}

impl Mailer {
    /// Starts the thread (None-equivalent when this process does not send mail: see
    /// `voicemail::mail::enable_sending`; the handle then does nothing).
    pub fn start(db: PathBuf, mail: FaxMail) -> std::io::Result<Mailer> {
        let (wake, woken) = bounded::<()>(1);
        if sending_enabled() {
            std::thread::Builder::new()
                .name("fax-mailer".into())
                .spawn(move || run(&db, &mail, &woken))?;
        }
        Ok(Mailer { wake })
    }

    /// Asks for a pass now (a row was just queued).
    pub fn wake(&self) {
        let _ = self.wake.try_send(());
    }
}

fn run(db: &std::path::Path, mail: &FaxMail, woken: &Receiver<()>) {
    let mut conn: Option<Connection> = None;
    loop {
        match woken.recv_timeout(POLL) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if conn.is_none() {
            conn = super::record::open(db).ok();
        }
        let Some(c) = conn.as_ref() else { continue };
        if let Err(e) = pass(c, mail) {
            tracing::warn!("fax mail queue: {e}");
            conn = None;
        }
    }
}

struct Due {
    id: i64,
    to: String,
    attempts: i64,
    pdf: String,
    remote_id: String,
    remote_number: String,
    pages: u32,
    partial: bool,
    start: String,
    uniqueid: String,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Sends what is due.
fn pass(conn: &Connection, mail: &FaxMail) -> rusqlite::Result<()> {
    let now = now_ms();
    let due: Vec<Due> = {
        let mut stmt = conn.prepare_cached(
            "SELECT id, mail_to, mail_attempts, pdf, remote_id, remote_number, pages, partial, start, \
             uniqueid FROM fax_sessions WHERE mail_sent_ms IS NULL AND mail_to != '' \
             AND mail_next_ms <= ?1 AND mail_lease_ms <= ?1 ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![now, BATCH], |r| {
            Ok(Due {
                id: r.get(0)?,
                to: r.get(1)?,
                attempts: r.get(2)?,
                pdf: r.get(3)?,
                remote_id: r.get(4)?,
                remote_number: r.get(5)?,
                pages: r.get(6)?,
                partial: r.get(7)?,
                start: r.get(8)?,
                uniqueid: r.get(9)?,
            })
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for d in due {
        let claimed = conn.execute(
            "UPDATE fax_sessions SET mail_lease_ms = ?2 WHERE id = ?1 AND mail_lease_ms <= ?3 \
             AND mail_sent_ms IS NULL",
            params![d.id, now + LEASE_MS, now],
        )?;
        if claimed != 1 {
            continue;
        }
        match send(&mail.smtp, &d) {
            Ok(()) => {
                conn.execute(
                    "UPDATE fax_sessions SET mail_sent_ms = ?2, mail_attempts = mail_attempts + 1, \
                     mail_lease_ms = 0, mail_error = '' WHERE id = ?1",
                    params![d.id, now_ms()],
                )?;
                tracing::info!("fax: {} mailed to {}", d.pdf, d.to);
            }
            Err(e) => {
                let backoff = backoff_ms(d.attempts, mail.smtp.retry_max_s);
                conn.execute(
                    "UPDATE fax_sessions SET mail_attempts = mail_attempts + 1, mail_next_ms = ?2, \
                     mail_lease_ms = 0, mail_error = ?3 WHERE id = ?1",
                    params![d.id, now_ms() + backoff, e],
                )?;
                tracing::warn!(
                    "fax: mail of {} to {} failed (try {}), retrying in {backoff} ms: {e}",
                    d.pdf,
                    d.to,
                    d.attempts + 1
                );
            }
        }
    }
    Ok(())
}

fn send(smtp: &Smtp, d: &Due) -> Result<(), String> {
    let from = if d.remote_id.is_empty() {
        if d.remote_number.is_empty() {
            "unknown".to_owned()
        } else {
            d.remote_number.clone()
        }
    } else {
        d.remote_id.clone()
    };
    let partial = if d.partial { " (partial)" } else { "" };
    let subject = format!("Fax from {from}: {} page(s){partial}", d.pages);
    let body = format!(
        "A fax was received at {}.\n\nFrom: {from} (caller {})\nPages: {}{partial}\nCall: {}\n\nThe fax \
         is attached as a PDF.\n\n-- telvox\n",
        d.start,
        if d.remote_number.is_empty() {
            "unknown"
        } else {
            d.remote_number.as_str()
        },
        d.pages,
        d.uniqueid
    );
    let path = PathBuf::from(&d.pdf);
    let size = std::fs::metadata(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    if size > MAX_PDF_BYTES {
        return Err(format!(
            "{}: {size} bytes, more than the {MAX_PDF_BYTES} bytes attached at most",
            path.display()
        ));
    }
    let pdf = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("fax.pdf")
        .to_owned();
    let email = Email::builder()
        .from(smtp.from.parse().map_err(|e| format!("from: {e}"))?)
        .to(d.to.parse().map_err(|e| format!("to {}: {e}", d.to))?)
        .subject(subject)
        .header(lettre::message::header::MessageId::from(format!(
            "<fax-{}-{}@telvox>",
            d.id, d.uniqueid
        )))
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(body))
                .singlepart(Attachment::new(name).body(
                    pdf,
                    ContentType::parse("application/pdf").map_err(|e| e.to_string())?,
                )),
        )
        .map_err(|e| e.to_string())?;
    deliver(smtp, &email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_of_its_own_overrides_the_default_address() {
        let mail = FaxMail {
            to: "office@example.com".into(),
            by_number: vec![("8300".into(), "sales@example.com".into())],
            smtp: Smtp {
                server: "localhost".into(),
                port: 25,
                security: crate::apps::voicemail::config::Security::None,
                credentials: None,
                ca_file: None,
                from: "telvox <fax@localhost>".into(),
                subject: String::new(),
                body: String::new(),
                attach_format: crate::apps::voicemail::config::AttachFormat::Pcm16,
                retry_max_s: 60,
            },
        };
        assert_eq!(mail.address_for("8300"), "sales@example.com");
        assert_eq!(mail.address_for("8301"), "office@example.com");
    }
}
