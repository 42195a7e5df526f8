//! The `telvox` command-line verbs other than the daemon itself.

pub mod bench;
pub mod fax;
pub mod faxq;
pub mod hw;
pub mod rec;
pub mod simcall;

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use crate::config::{self, Config, Severity};
use crate::store::{CallFilter, Store};

/// Loads the config a CLI verb needs (to find sockets and files); errors name file:line:col.
pub fn load_config(path: &Path) -> Result<Config> {
    config::load_file(path).map_err(|e| {
        anyhow!(
            "{}\n(fix the configuration, then try again)",
            crate::daemon::format_diagnostics(&e.0)
        )
    })
}

/// `telvox config check [F]`: every error and warning, then a verdict. Exit 0 clean, 1 errors.
pub fn config_check(path: &Path) -> i32 {
    let (config, diagnostics) = config::check_file(path);
    for d in &diagnostics {
        println!("{d}");
    }
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diagnostics.len() - errors;
    let Some(config) = config else {
        println!(
            "{}: {errors} error(s), {warnings} warning(s): not usable",
            path.display()
        );
        return 1;
    };
    if let Some(problems) = crate::hw::dahdi::card::check_against_driver(&config.hw) {
        for problem in &problems {
            println!("{problem}");
        }
        println!(
            "{}: the map does not match the DAHDI driver here: not usable",
            path.display()
        );
        return 1;
    }
    match crate::daemon::Runtime::build(config) {
        Ok(rt) => {
            println!(
                "{}: OK ({warnings} warning(s)); {} channel(s) on {} span(s), {} number(s), prompts in {}",
                path.display(),
                rt.config.total_channels(),
                rt.config.hw.spans.len(),
                rt.config.numbers.len(),
                rt.config.voice_dir.display()
            );
            0
        }
        Err(e) => {
            println!("{}: {e:#}", path.display());
            1
        }
    }
}

pub fn print_status(data: &Value, json: bool) {
    if json {
        println!("{data}");
        return;
    }
    let get = |path: &str| data.pointer(path).cloned().unwrap_or(Value::Null);
    println!(
        "telvox {} (pid {}), up {} s, config {}",
        get("/version").as_str().unwrap_or("?"),
        get("/pid"),
        get("/uptime_s"),
        get("/config").as_str().unwrap_or("?")
    );
    println!(
        "sim clock {}, {} reload(s)",
        get("/clock").as_str().unwrap_or("?"),
        get("/reloads")
    );
    if let Some(spans) = data.get("spans").and_then(Value::as_array) {
        for s in spans {
            println!(
                "  span {}: {} — {} {} channel(s), {}",
                s["span"],
                s["name"].as_str().unwrap_or(""),
                s["channels"],
                s["role"].as_str().unwrap_or(""),
                s["law"].as_str().unwrap_or("")
            );
        }
    }
    for s in data
        .get("span_health")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        println!(
            "  span {} alarms: {}; bipolar violations {}, CRC-4 errors {}, E-bit errors {}, FAS errors {}, \
             framing errors {}, coding violations {}, errored seconds {}, alarms since start {}",
            s["span"],
            s["alarms"].as_str().unwrap_or("?"),
            s["bpv"],
            s["crc4"],
            s["ebit"],
            s["fas"],
            s["framing"],
            s["coding_violations"],
            s["errored_seconds"],
            s["alarm_count"]
        );
    }
    println!(
        "channels: {} total, {} idle, {} ringing, {} up, {} down, {} alarm",
        get("/channels/total"),
        get("/channels/idle"),
        get("/channels/ringing"),
        get("/channels/up"),
        get("/channels/down"),
        get("/channels/alarm")
    );
    println!(
        "calls: {} today, {} since start",
        get("/calls_today"),
        get("/calls_since_start")
    );
    println!(
        "blocks: {} late, {} dropped, {} underruns; {} missed ticks; {} congested calls; {} dropped events",
        get("/counters/late_blocks"),
        get("/counters/dropped_blocks"),
        get("/counters/underruns"),
        get("/counters/missed_ticks"),
        get("/counters/congestion"),
        get("/counters/dropped_events")
    );
    if let Some(rec) = data.get("recording").filter(|r| r.is_object()) {
        println!(
            "recording: {} active, {} finished, {} failed, {} dropped blocks, {} refused (disk low), {} MB free{}",
            rec["active"],
            rec["finished"],
            rec["failed"],
            rec["dropped_blocks"],
            rec["refused_low_disk"],
            rec["free_mb"],
            if rec["low_disk_alarm"] == true { " — ALARM: below min_free_mb, new calls are not recorded" } else { "" }
        );
    }
    if let Some(boxes) = data.pointer("/voicemail/boxes").and_then(Value::as_array) {
        let waiting: Vec<String> = boxes
            .iter()
            .map(|b| format!("{} ({} new)", b["box"].as_str().unwrap_or("?"), b["new"]))
            .collect();
        println!(
            "voicemail: {}",
            if waiting.is_empty() {
                "no messages".into()
            } else {
                waiting.join(", ")
            }
        );
    }
}

pub fn print_channels(data: &Value, json: bool) {
    if json {
        println!("{data}");
        return;
    }
    println!("{:<8} {:<8} {:<24} {:>6}", "CHANNEL", "STATE", "CALL", "CALLS");
    for c in data.as_array().into_iter().flatten() {
        println!(
            "{:<8} {:<8} {:<24} {:>6}",
            c["channel"].as_str().unwrap_or(""),
            c["state"].as_str().unwrap_or(""),
            c["uniqueid"].as_str().unwrap_or("-"),
            c["calls"]
        );
    }
}

/// Parses `--since`: `today`, a relative age (`90s`, `30m`, `2h`, `7d`), a date (`2026-11-22`) or a
/// local date and time (`2026-11-22 08:30[:00]`). Returns epoch ms.
pub fn parse_since(text: &str) -> Result<i64> {
    use chrono::{Local, NaiveDate, NaiveDateTime, TimeZone};
    let text = text.trim();
    let now = Local::now();
    if text == "today" {
        let midnight = now
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .ok_or_else(|| anyhow!("no midnight today"))?;
        return local_ms(midnight);
    }
    if let Some(unit) = text.chars().last().filter(|c| "smhd".contains(*c)) {
        if let Ok(n) = text[..text.len() - 1].parse::<i64>() {
            let secs = n * match unit {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                _ => 86_400,
            };
            return Ok(now.timestamp_millis() - secs * 1000);
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return local_ms(date.and_hms_opt(0, 0, 0).ok_or_else(|| anyhow!("bad date"))?);
    }
    for format in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return local_ms(t);
        }
    }
    fn local_ms(t: chrono::NaiveDateTime) -> Result<i64> {
        Local
            .from_local_datetime(&t)
            .earliest()
            .map(|t| t.timestamp_millis())
            .ok_or_else(|| anyhow!("that local time does not exist"))
    }
    bail!("--since \"{text}\": expected today, an age like 30m / 2h / 7d, a date like 2026-11-22, or 2026-11-22 08:30")
}

/// A stored time (epoch ms) as a person reads it in a table: local time, to the second, the same
/// form `--since`, `--from` and `--to` read. JSON keeps the log's ISO-8601 UTC.
pub fn local_time_ms(epoch_ms: i64) -> String {
    use chrono::{Local, TimeZone};
    Local
        .timestamp_millis_opt(epoch_ms)
        .single()
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// [`local_time_ms`] for a time stored as ISO-8601 text (the call log's columns); text that does
/// not parse is shown as it is.
pub fn local_time_iso(iso: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(iso)
        .map(|t| local_time_ms(t.timestamp_millis()))
        .unwrap_or_else(|_| iso.to_string())
}

/// `telvox calls`: reads the call log directly (works with the daemon stopped). `with_path` adds each
/// call's path through its flow: a `path` array of `{state, at_ms}` in JSON, an indented line in text.
pub fn calls(config: &Config, filter: &CallFilter, with_path: bool, json: bool) -> Result<()> {
    let store = Store::open_readonly(&config.db_path())?;
    let rows = store.calls(filter).context("reading the call log")?;
    let paths = match with_path {
        true => rows
            .iter()
            .map(|r| store.call_path(&r.uniqueid))
            .collect::<Result<Vec<_>, _>>()?,
        false => Vec::new(),
    };
    if json {
        let mut out = serde_json::to_value(&rows)?;
        for (row, path) in out.as_array_mut().into_iter().flatten().zip(&paths) {
            let steps: Vec<Value> = path
                .iter()
                .map(|(state, at_ms)| serde_json::json!({"state": state, "at_ms": at_ms}))
                .collect();
            row["path"] = Value::Array(steps);
        }
        println!("{out}");
        return Ok(());
    }
    println!(
        "{:<20} {:<24} {:<14} {:<8} {:<6} {:>5} {:>5} {:<12} DIGITS",
        "UNIQUEID", "START", "SRC", "DST", "CHAN", "DUR", "BILL", "DISPOSITION"
    );
    for (i, r) in rows.iter().enumerate() {
        println!(
            "{:<20} {:<24} {:<14} {:<8} {:<6} {:>5} {:>5} {:<12} {}",
            r.uniqueid,
            local_time_iso(&r.start),
            r.src,
            r.dst,
            r.channel,
            r.duration.map_or("-".into(), |d| d.to_string()),
            r.billsec.map_or("-".into(), |d| d.to_string()),
            r.disposition.as_deref().unwrap_or("(up)"),
            r.digits
        );
        if let Some(path) = paths.get(i) {
            let states: Vec<&str> = path.iter().map(|(state, _)| state.as_str()).collect();
            println!("    path: {}", states.join(" → "));
        }
    }
    Ok(())
}

/// `telvox pin hash`: reads a PIN (digits) from stdin and prints its PBKDF2 hash; 0 on success.
pub fn pin_hash() -> Result<i32> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the PIN from stdin")?;
    let pin = line.trim();
    // Keys a phone can send, so an admin's typo is caught here rather than as a PIN no caller can enter.
    if pin.is_empty() || pin.len() > 16 || !pin.chars().all(|c| c.is_ascii_digit()) {
        bail!("a PIN is 1 to 16 digits");
    }
    let hash = crate::apps::ivr::business::hash_pin(pin).map_err(|e| anyhow!("hashing the PIN: {e}"))?;
    println!("{hash}");
    Ok(0)
}

/// `telvox flow show|dot NAME`: prints a flow of the config's flows_dir; 1 when it has errors.
pub fn flow(path: &Path, name: &str, dot: bool) -> Result<i32> {
    use crate::apps::ivr::{load_dir, outline, Registry};
    let config = load_config(path)?;
    let (flows, diags) = load_dir(&config.flows_dir, Some(&config.voice_dir), &Registry::builtin());
    let Some(flow) = flows.iter().find(|f| f.name == name) else {
        // A flow with errors is not loaded: show why, or which flows there are.
        let file = config.flows_dir.join(format!("{name}.toml"));
        let mine: Vec<String> = diags
            .iter()
            .filter(|d| d.file == file)
            .map(|d| d.to_string())
            .collect();
        if !mine.is_empty() {
            eprintln!("{}", mine.join("\n"));
            return Ok(1);
        }
        let names: Vec<&str> = flows.iter().map(|f| f.name.as_str()).collect();
        bail!(
            "no flow {name:?} in {}; flows: {}",
            config.flows_dir.display(),
            names.join(", ")
        );
    };
    print!(
        "{}",
        if dot {
            outline::dot(flow)
        } else {
            outline::show(flow)
        }
    );
    Ok(0)
}

/// `telvox dsp conformance`: the Q.24 table for telvox's receiver and spandsp's, and optionally the
/// talk-off counts. Exit 0 when telvox passes every row (spandsp is shown for comparison only).
pub fn dsp_conformance(talkoff_cache: Option<&Path>) -> Result<i32> {
    use crate::dsp::conformance;
    let scores = conformance::score_all()?;
    conformance::print_table(&scores);
    let telvox_passes = scores
        .first()
        .is_some_and(|s| s.rows.iter().all(|r| r.all_passed()));
    if let Some(cache) = talkoff_cache {
        let corpus = conformance::talkoff_corpus(cache).map_err(|e| anyhow!("talk-off corpus: {e}"))?;
        let telvox = conformance::score_talkoff("telvox", &corpus, || {
            crate::dsp::dtmf::DtmfRx::new(crate::dsp::dtmf::DtmfRxConfig::default())
        })?;
        let spandsp =
            conformance::score_talkoff("spandsp", &corpus, crate::dsp::spandsp::SpandspDtmfRx::new)?;
        println!("{}", conformance::render_talkoff(&[telvox, spandsp]));
    }
    Ok(if telvox_passes { 0 } else { 1 })
}
