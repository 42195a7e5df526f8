//! `telvox hw scan`: what DAHDI has (through its ioctls, or the text of /proc/dahdi), written as a
//! proposed hardware map for an admin to check and keep.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::card::{DriverChan, DriverSpan};
use super::events::{signalling_for, sigtype_from_proc, sigtype_name};
use super::sys;
use crate::hw::Signalling;

/// Parses one /proc/dahdi/<span> file: its `Span N: NAME "DESC" …` header line and one line per
/// channel, `CHANNO NAME [SIGTYPE] [(In use)] [alarms…]`.
pub fn parse_proc_span(text: &str) -> Option<DriverSpan> {
    let mut lines = text.lines();
    let header = lines.find(|l| l.trim_start().starts_with("Span "))?;
    let rest = header.trim_start().strip_prefix("Span ")?;
    let (number, rest) = rest.split_once(':')?;
    let spanno: u16 = number.trim().parse().ok()?;
    let rest = rest.trim_start();
    let (name, after_name) = rest.split_once(' ').unwrap_or((rest, ""));
    let desc = after_name
        .split('"')
        .nth(1)
        .map(str::to_owned)
        .unwrap_or_default();
    let tail = after_name.rsplit('"').next().unwrap_or("");
    let alarms = ["RED", "YELLOW", "BLUE", "LOOP", "NOTOPEN"]
        .iter()
        .zip([
            sys::ALARM_RED,
            sys::ALARM_YELLOW,
            sys::ALARM_BLUE,
            sys::ALARM_LOOPBACK,
            sys::ALARM_NOTOPEN,
        ])
        .filter(|(word, _)| tail.split_whitespace().any(|t| t.starts_with(*word)))
        .fold(0, |all, (_, bit)| all | bit);
    let spantype = ["E1", "T1", "J1", "FXS", "FXO", "BRI"]
        .iter()
        .find(|t| {
            tail.split_whitespace()
                .any(|w| w.trim_matches(|c| c == '(' || c == ')') == **t)
        })
        .map_or_else(String::new, |t| (*t).to_owned());
    let mut channels = Vec::new();
    for line in lines {
        let mut words = line.split_whitespace();
        let Some(channo) = words.next().and_then(|w| w.parse::<i32>().ok()) else {
            continue;
        };
        let Some(chan_name) = words.next() else {
            continue;
        };
        let sigtype = words.next().and_then(sigtype_from_proc).unwrap_or(sys::SIG_NONE);
        channels.push(DriverChan {
            channo,
            chanpos: channels.len() as u16 + 1,
            sigtype,
            name: chan_name.to_owned(),
            curlaw: 0,
        });
    }
    Some(DriverSpan {
        spanno,
        name: name.to_owned(),
        desc,
        alarms,
        spantype,
        channels,
    })
}

/// Every span in a /proc/dahdi directory, by span number.
pub fn from_proc(dir: &Path) -> Result<Vec<DriverSpan>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut spans = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let is_span = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.parse::<u16>().is_ok());
        if !is_span {
            continue;
        }
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if let Some(span) = parse_proc_span(&text) {
            spans.push(span);
        }
    }
    spans.sort_by_key(|s| s.spanno);
    if spans.is_empty() {
        return Err(format!("{} lists no DAHDI spans", dir.display()));
    }
    Ok(spans)
}

/// What `telvox hw scan` read.
pub enum ScanSource {
    /// DAHDI's ioctls on `<dir>/ctl`.
    Driver(PathBuf),
    /// A /proc/dahdi directory (or a copy of one).
    Proc(PathBuf),
}

pub fn scan(source: &ScanSource) -> Result<(Vec<DriverSpan>, String), String> {
    match source {
        ScanSource::Driver(dir) => super::card::inventory(dir)
            .map(|spans| (spans, format!("{}/ctl", dir.display())))
            .map_err(|e| e.to_string()),
        ScanSource::Proc(dir) => from_proc(dir).map(|spans| (spans, dir.display().to_string())),
    }
}

/// A run of channels with the same signalling (None = not driven by telvox).
struct Run {
    first: u16,
    last: u16,
    signalling: Option<Signalling>,
    sigtype: i32,
}

fn runs(channels: &[DriverChan]) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for chan in channels {
        let signalling = signalling_for(chan.sigtype);
        match runs.last_mut() {
            Some(run) if run.signalling == signalling && run.last + 1 == chan.chanpos => {
                run.last = chan.chanpos
            }
            _ => runs.push(Run {
                first: chan.chanpos,
                last: chan.chanpos,
                signalling,
                sigtype: chan.sigtype,
            }),
        }
    }
    runs
}

fn range(first: u16, last: u16) -> String {
    if first == last {
        format!("{first}")
    } else {
        format!("{first}-{last}")
    }
}

/// The proposed map: one `[[span]]` per DAHDI span with channels telvox can drive; a mixed span's
/// minority signalling and the channels telvox does not drive (D-channels, unconfigured) as
/// `[[span.group]]`s.
pub fn propose_map(spans: &[DriverSpan], source: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# A hardware map proposed by `telvox hw scan` from {source}.\n\
         # Check every span before use: the names, the law, which channels are trunks and which are\n\
         # extensions (the signalling is what /etc/dahdi/system.conf configured), and `numbers`.\n\
         # See hw/README.md for every key.\n\ncard = \"dahdi\""
    );
    for span in spans {
        let runs = runs(&span.channels);
        // Trailing channels telvox does not drive are left out of the span.
        let Some(last_driven) = runs.iter().rev().find(|r| r.signalling.is_some()) else {
            let _ = writeln!(
                out,
                "\n# DAHDI span {} ({} \"{}\"): no channel telvox drives (unconfigured or D-channels only)",
                span.spanno, span.name, span.desc
            );
            continue;
        };
        let channels = last_driven.last;
        let mut counts: Vec<(Signalling, u16)> = Vec::new();
        for run in runs.iter().filter(|r| r.last <= channels) {
            if let Some(s) = run.signalling {
                let n = run.last - run.first + 1;
                match counts.iter_mut().find(|(c, _)| *c == s) {
                    Some(entry) => entry.1 += n,
                    None => counts.push((s, n)),
                }
            }
        }
        let main = counts
            .iter()
            .max_by_key(|(_, n)| *n)
            .map_or(Signalling::Clear, |(s, _)| *s);
        let ulaw = span.channels.iter().any(|c| c.curlaw == sys::LAW_MULAW)
            || matches!(span.spantype.as_str(), "T1" | "J1");
        let name: String = if span.desc.is_empty() {
            &span.name
        } else {
            &span.desc
        }
        .chars()
        .take(64)
        .collect();
        let kind = if span.spantype.is_empty() {
            String::new()
        } else {
            format!(", {}", span.spantype)
        };
        let _ = writeln!(
            out,
            "\n# DAHDI span {}: {}{kind}, {} channel(s){}\n[[span]]\nname = {:?}\ndahdi_span = {}\nlaw = \"{}\"\n\
             channels = {channels}\nrole = \"{}\"\nsignalling = \"{}\"{}\nnumbers = [\"_X.\"]",
            span.spanno,
            span.name,
            span.channels.len(),
            if span.alarms != 0 { " (in alarm when scanned)" } else { "" },
            if name.is_empty() { format!("DAHDI span {}", span.spanno) } else { name },
            span.spanno,
            if ulaw { "ulaw" } else { "alaw" },
            serde_plain(main.role()),
            serde_signalling(main),
            hint(main),
        );
        for run in runs.iter().filter(|r| r.first <= channels) {
            match run.signalling {
                Some(s) if s == main => {}
                Some(s) => {
                    let _ = writeln!(
                        out,
                        "[[span.group]]\nchannels = \"{}\"\nsignalling = \"{}\"{}",
                        range(run.first, run.last),
                        serde_signalling(s),
                        hint(s)
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "[[span.group]]  # DAHDI has these as {}: telvox leaves them alone\nchannels = \"{}\"\nunused = true",
                        sigtype_name(run.sigtype),
                        range(run.first, run.last)
                    );
                }
            }
        }
    }
    out
}

/// What the driver cannot tell: DAHDI's `e&m` is both immediate and wink start.
fn hint(s: Signalling) -> &'static str {
    match s {
        Signalling::EmImmediate => "  # or \"em_wink\" for wink start (DAHDI's e&m is both)",
        _ => "",
    }
}

fn serde_plain(role: crate::hw::Role) -> &'static str {
    match role {
        crate::hw::Role::Trunk => "trunk",
        crate::hw::Role::Extension => "extension",
    }
}

/// The map's word for a signalling (serde name of [`Signalling`]).
fn serde_signalling(s: Signalling) -> &'static str {
    match s {
        Signalling::Network => "network",
        Signalling::Fxsks => "fxsks",
        Signalling::Fxsls => "fxsls",
        Signalling::Fxoks => "fxoks",
        Signalling::Fxols => "fxols",
        Signalling::EmImmediate => "em",
        Signalling::EmWink => "em_wink",
        Signalling::Clear => "clear",
    }
}

/// Writes `text` to `path` through a temporary name and a rename.
pub fn write_map(path: &Path, text: &str) -> std::io::Result<()> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp"));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPAN1: &str = "Span 1: DYN/loc/1:0 \"Dynamic 'loc' span at '1:0'\" (MASTER) \n\n\
        \t   1 DYN/loc/1:0/1 FXSKS (In use) \n\
        \t   2 DYN/loc/1:0/2 FXSKS \n\
        \t   3 DYN/loc/1:0/3 FXSLS \n\
        \t   4 DYN/loc/1:0/4 E&M \n\
        \t   5 DYN/loc/1:0/5 Clear \n\
        \t   6 DYN/loc/1:0/6 HDLCFCS \n";

    #[test]
    fn proc_span_parses() {
        let span = parse_proc_span(SPAN1).expect("parses");
        assert_eq!((span.spanno, span.name.as_str()), (1, "DYN/loc/1:0"));
        assert_eq!(span.desc, "Dynamic 'loc' span at '1:0'");
        let sig: Vec<i32> = span.channels.iter().map(|c| c.sigtype).collect();
        assert_eq!(
            sig,
            [
                sys::SIG_FXSKS,
                sys::SIG_FXSKS,
                sys::SIG_FXSLS,
                sys::SIG_EM,
                sys::SIG_CLEAR,
                sys::SIG_HDLCFCS
            ]
        );
        assert_eq!(span.channels[3].chanpos, 4);
        let red = parse_proc_span("Span 2: WCT1/0 \"T1 card\" B8ZS/ESF RED\n\n\t  25 WCT1/0/1 \n").unwrap();
        assert_eq!(red.alarms, sys::ALARM_RED);
        assert_eq!(red.channels[0].sigtype, sys::SIG_NONE);
    }

    #[test]
    fn proposal_groups_minorities_and_drops_trailing_dchans() {
        let span = parse_proc_span(SPAN1).unwrap();
        let map = propose_map(&[span], "fixture");
        assert!(
            map.contains("channels = 5\nrole = \"trunk\"\nsignalling = \"fxsks\""),
            "{map}"
        );
        assert!(
            map.contains("[[span.group]]\nchannels = \"3\"\nsignalling = \"fxsls\""),
            "{map}"
        );
        assert!(map.contains("channels = \"4\"\nsignalling = \"em\""), "{map}");
        assert!(
            !map.contains("unused"),
            "the trailing D-channel is left out: {map}"
        );
    }
}
