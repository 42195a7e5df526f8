//! `telvox fax send|list|show|cancel`: the outbound fax queue (`apps::fax::queue`).
//!
//! The CLI writes the queue in the call log database itself (SQLite, WAL), so a job can be queued
//! with the daemon down and is never lost; then it pokes the daemon over the control socket so the
//! dispatcher looks at once (it also reads the queue every second by itself).

use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};
use chrono::{Local, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use serde_json::json;

use crate::apps::fax::queue::{self, Job, NewJob};
use crate::config::Config;
use crate::dsp::fax::MAX_HEADER_CHARS;

/// What `telvox fax send` was given.
#[derive(Debug, Clone)]
pub struct SendArgs {
    /// NUMBER FILE..., or only FILE... with `to_list`.
    pub args: Vec<String>,
    pub to_list: Option<PathBuf>,
    pub at: Option<String>,
    pub header: Option<String>,
    pub json: bool,
}

/// Parses `--at`: `YYYY-MM-DD HH:MM` (local time) or `HH:MM` (its next occurrence, local time).
pub fn parse_at(text: &str, now: chrono::DateTime<Local>) -> Result<i64> {
    let text = text.trim();
    let local = |naive: NaiveDateTime| {
        Local
            .from_local_datetime(&naive)
            .earliest()
            .ok_or_else(|| anyhow!("--at {text:?}: that local time does not exist (a clock change)"))
    };
    for format in ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(local(naive)?.timestamp_millis());
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let naive = date.and_time(NaiveTime::MIN);
        return Ok(local(naive)?.timestamp_millis());
    }
    if let Ok(time) = NaiveTime::parse_from_str(text, "%H:%M") {
        let today = now.date_naive().and_time(time);
        let mut at = local(today)?;
        if at <= now {
            at = local(today + chrono::Duration::days(1))?;
        }
        return Ok(at.timestamp_millis());
    }
    bail!("--at {text:?}: expected \"YYYY-MM-DD HH:MM\" or \"HH:MM\" (local time)")
}

fn check_header(header: &str) -> Result<()> {
    let printable = header.bytes().all(|b| (0x20..0x7f).contains(&b));
    if !printable || header.chars().count() > MAX_HEADER_CHARS {
        bail!("--header {header:?}: at most {MAX_HEADER_CHARS} characters of printable ASCII");
    }
    Ok(())
}

/// Asks a running daemon to look at the queue now; false when none answers (the job waits).
fn poke(config: &Config) -> bool {
    crate::ctl::client::request(&config.ctl_socket(), "fax_poke").is_ok()
}

/// `telvox fax send`: validates and converts the files, queues one job per number.
pub fn send(config: &Config, args: &SendArgs) -> Result<i32> {
    let (numbers, files): (Vec<String>, Vec<PathBuf>) = match &args.to_list {
        Some(list) => (
            queue::read_number_list(list).map_err(|e| anyhow!(e))?,
            args.args.iter().map(PathBuf::from).collect(),
        ),
        None => {
            let Some((number, files)) = args.args.split_first() else {
                bail!("give the fax number and the file(s) to send: telvox fax send NUMBER FILE...");
            };
            let number = queue::normalize_number(number).map_err(|e| anyhow!(e))?;
            (vec![number], files.iter().map(PathBuf::from).collect())
        }
    };
    if files.is_empty() {
        bail!("no file to send: telvox fax send NUMBER FILE... (TIFF-F, PDF or PostScript)");
    }
    if let Some(header) = &args.header {
        check_header(header)?;
    }
    let not_before_ms = match &args.at {
        Some(at) => parse_at(at, Local::now())?,
        None => queue::now_ms(),
    };
    let out_dir = queue::out_dir(&config.data_dir);
    let prepared = queue::prepare(&out_dir, &files).map_err(|e| anyhow!(e))?;
    let mut conn = queue::open(&config.db_path()).map_err(|e| anyhow!(e))?;
    let job = NewJob {
        header: args.header.clone(),
        not_before_ms,
        source: "cli".into(),
        ..Default::default()
    };
    let ids = queue::enqueue(&mut conn, &out_dir, &prepared, &numbers, &job).map_err(|e| anyhow!(e))?;
    let poked = poke(config);
    if args.json {
        let jobs: Vec<_> = ids
            .iter()
            .zip(&numbers)
            .map(|(id, number)| json!({"id": id, "number": number}))
            .collect();
        println!(
            "{}",
            json!({"jobs": jobs, "pages": prepared.pages, "not_before_ms": not_before_ms, "daemon": poked})
        );
    } else {
        for (id, number) in ids.iter().zip(&numbers) {
            println!("fax job {id}: {} page(s) to {number}, queued", prepared.pages);
        }
        if !poked {
            eprintln!("telvox: the daemon is not running: the job(s) go out when it starts");
        }
    }
    Ok(0)
}

/// `telvox fax list`: every job, newest first.
pub fn list(config: &Config, json: bool) -> Result<i32> {
    let conn = queue::open(&config.db_path()).map_err(|e| anyhow!(e))?;
    let jobs = queue::list(&conn)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&jobs)?);
        return Ok(0);
    }
    println!(
        "{:>5}  {:<9}  {:<16} {:>5} {:>8}  {:<19}  last result",
        "id", "state", "number", "pages", "attempts", "next attempt"
    );
    for job in &jobs {
        let next = if job.state == "queued" {
            super::local_time_ms(job.next_attempt_ms.max(job.not_before_ms))
        } else {
            "-".into()
        };
        println!(
            "{:>5}  {:<9}  {:<16} {:>5} {:>8}  {:<19}  {}",
            job.id,
            job.state,
            job.number,
            job.pages,
            job.attempts,
            next,
            job.last_result.as_deref().unwrap_or("-")
        );
    }
    Ok(0)
}

fn print_job(job: &Job) {
    println!("fax job {}", job.id);
    println!("  number:        {}", job.number);
    println!("  state:         {}", job.state);
    println!("  pages:         {} ({} sent)", job.pages, job.pages_sent);
    println!("  files:         {}", job.files.join(", "));
    let removed = match document_removed(job) {
        true => " (removed: [fax] keep_finished_days)",
        false => "",
    };
    println!("  document:      {}{removed}", job.document);
    println!(
        "  header:        {}",
        job.header.as_deref().unwrap_or("(the [fax] header)")
    );
    println!("  source:        {}", job.source);
    if job.source == "faxback" {
        println!("  asked by:      {} on call {}", job.caller, job.uniqueid);
    }
    println!("  queued:        {}", super::local_time_ms(job.created_ms));
    println!("  not before:    {}", super::local_time_ms(job.not_before_ms));
    println!("  attempts:      {}", job.attempts);
    if job.state == "queued" {
        println!(
            "  next attempt:  {}",
            super::local_time_ms(job.next_attempt_ms.max(job.not_before_ms))
        );
    }
    println!("  last result:   {}", job.last_result.as_deref().unwrap_or("-"));
    println!("  last cause:    {}", job.last_cause.as_deref().unwrap_or("-"));
    println!("  last call:     {}", job.last_call.as_deref().unwrap_or("-"));
}

/// `telvox fax show ID`: exit 1 when there is no such job.
pub fn show(config: &Config, id: i64, json: bool) -> Result<i32> {
    let conn = queue::open(&config.db_path()).map_err(|e| anyhow!(e))?;
    let Some(job) = queue::get(&conn, id)? else {
        eprintln!("telvox: no fax job {id}");
        return Ok(1);
    };
    if json {
        let mut value = serde_json::to_value(&job)?;
        value["document_removed"] = json!(document_removed(&job));
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print_job(&job);
    }
    Ok(0)
}

/// A finished job whose files `[fax] keep_finished_days` has removed.
fn document_removed(job: &Job) -> bool {
    !matches!(job.state.as_str(), "queued" | "sending") && !std::path::Path::new(&job.document).exists()
}

/// `telvox fax cancel ID`: exit 1 when there is no such job or it is finished.
pub fn cancel(config: &Config, id: i64) -> Result<i32> {
    let conn = queue::open(&config.db_path()).map_err(|e| anyhow!(e))?;
    match queue::cancel(&conn, id) {
        Ok(job) => {
            println!("fax job {id} to {}: cancelled", job.number);
            poke(config);
            Ok(0)
        }
        Err(e) => {
            eprintln!("telvox: {e}");
            Ok(1)
        }
    }
}

/// The directory a job's document was copied to (for tests and admins).
pub fn job_dir(config: &Config, id: i64) -> PathBuf {
    queue::out_dir(&config.data_dir).join(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_takes_a_date_and_time_or_the_next_occurrence_of_a_time() {
        let now = Local.with_ymd_and_hms(2026, 11, 23, 10, 30, 0).unwrap();
        let at = parse_at("2026-12-01 08:15", now).unwrap();
        assert_eq!(
            at,
            Local
                .with_ymd_and_hms(2026, 12, 1, 8, 15, 0)
                .unwrap()
                .timestamp_millis()
        );
        let later_today = parse_at("11:00", now).unwrap();
        assert_eq!(
            later_today,
            Local
                .with_ymd_and_hms(2026, 11, 23, 11, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
        let tomorrow = parse_at("09:00", now).unwrap();
        assert_eq!(
            tomorrow,
            Local
                .with_ymd_and_hms(2026, 11, 24, 9, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
        assert!(parse_at("tomorrow", now)
            .unwrap_err()
            .to_string()
            .contains("HH:MM"));
    }
}
