//! The DAHDI card: what the driver has (spans, channels, sigtypes), the hardware map checked against
//! it, and the channels opened for the engine.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::chan::{ChanSetup, DahdiChannel};
use super::events;
use super::sys;
use crate::config::HwMap;
use crate::hw::{CardCounters, ChanId, Channel, HwError, SpanInfo};

/// Where DAHDI's device nodes live.
pub const DEFAULT_DEV_DIR: &str = "/dev/dahdi";
/// DAHDI numbers at most this many channels (DAHDI_MAX_CHANNELS).
const MAX_CHANNO: i32 = 1024;
/// And at most this many spans (DAHDI_MAX_SPANS).
const MAX_SPANNO: i32 = 128;

/// One channel as the driver has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriverChan {
    /// Global channel number.
    pub channo: i32,
    /// Position in its span, 1-based.
    pub chanpos: u16,
    pub sigtype: i32,
    pub name: String,
    /// DAHDI_LAW_MULAW / DAHDI_LAW_ALAW; 0 when not known (read from /proc/dahdi).
    pub curlaw: i32,
}

/// One span as the driver has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriverSpan {
    pub spanno: u16,
    pub name: String,
    pub desc: String,
    pub alarms: i32,
    /// `E1`, `T1`, `J1`, `FXS`, `FXO`, `DYN`… when the driver says.
    pub spantype: String,
    pub channels: Vec<DriverChan>,
}

/// Reads spans (DAHDI_SPANSTAT) and channels (DAHDI_GET_PARAMS) through `<dev_dir>/ctl`.
pub fn inventory(dev_dir: &Path) -> Result<Vec<DriverSpan>, HwError> {
    let ctl_path = dev_dir.join("ctl");
    let ctl = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&ctl_path)
        .map_err(|e| {
            HwError::Card(format!(
                "cannot open {}: {e}; is the DAHDI driver loaded (modprobe dahdi + your card's driver, then \
                 dahdi_cfg), and may this user open it (group dialout or root)?",
                ctl_path.display()
            ))
        })?;
    let fd = ctl.as_fd();
    let mut spans = Vec::new();
    let mut total_spans = MAX_SPANNO;
    let mut spanno = 1;
    while spanno <= total_spans {
        match sys::spanstat(fd, spanno) {
            Ok(stat) => {
                if stat.totalspans > 0 {
                    total_spans = total_spans.min(stat.totalspans.max(spanno));
                }
                spans.push(DriverSpan {
                    spanno: spanno as u16,
                    name: stat.name,
                    desc: stat.desc,
                    alarms: stat.alarms,
                    spantype: stat.spantype,
                    channels: Vec::new(),
                });
            }
            Err(_) if spans.is_empty() && spanno > 8 => break,
            Err(_) => {}
        }
        spanno += 1;
    }
    let expected: usize = spans.len();
    let mut misses = 0;
    for channo in 1..=MAX_CHANNO {
        let Ok(params) = sys::get_params(fd, channo) else {
            misses += 1;
            // Channels are numbered without gaps span after span; a long run of misses is the end.
            if misses > 64 {
                break;
            }
            continue;
        };
        misses = 0;
        let Some(span) = spans.iter_mut().find(|s| i32::from(s.spanno) == params.spanno) else {
            continue;
        };
        span.channels.push(DriverChan {
            channo: params.channo,
            chanpos: params.chanpos as u16,
            sigtype: params.sigtype,
            name: sys::c_text(&params.name),
            curlaw: params.curlaw,
        });
    }
    if expected == 0 {
        return Err(HwError::Card(format!(
            "DAHDI has no spans ({} answered but lists none): load your card's driver and run dahdi_cfg",
            ctl_path.display()
        )));
    }
    Ok(spans)
}

/// Checks the map against what the driver has and resolves every mapped channel to its DAHDI
/// channel number and settings. Every problem is listed, each naming the map's place and DAHDI's view.
pub fn check_map(hw: &HwMap, driver: &[DriverSpan]) -> Result<Vec<ChanSetup>, Vec<String>> {
    let mut problems = Vec::new();
    let mut setups = Vec::new();
    let have: Vec<String> = driver.iter().map(|s| s.spanno.to_string()).collect();
    for span in &hw.spans {
        let dahdi = &span.dahdi;
        let spanno = dahdi.dahdi_span.unwrap_or(span.span);
        let Some(found) = driver.iter().find(|d| d.spanno == spanno) else {
            problems.push(format!(
                "{}: span #{} ({:?}) is DAHDI span {spanno}, which the driver does not have (it has span(s) {}); \
                 set dahdi_span, or configure the span in /etc/dahdi/system.conf and run dahdi_cfg",
                dahdi.place,
                span.span,
                span.name,
                if have.is_empty() { "none".to_string() } else { have.join(", ") }
            ));
            continue;
        };
        for chan in 1..=span.channels {
            if dahdi.unused(chan) {
                continue;
            }
            let (signalling, options, place) = dahdi.channel(span.signalling, chan);
            let id = ChanId {
                span: span.span,
                chan,
            };
            let Some(dchan) = found.channels.iter().find(|c| c.chanpos == chan) else {
                problems.push(format!(
                    "{place}: channel {id}: DAHDI span {spanno} ({}) has only {} channel(s); lower channels to {}",
                    found.name,
                    found.channels.len(),
                    found.channels.len()
                ));
                break;
            };
            if !events::sigtype_fits(signalling, dchan.sigtype) {
                let what = match signalling.role() {
                    crate::hw::Role::Trunk if signalling == crate::hw::Signalling::Clear => "a clear channel",
                    crate::hw::Role::Trunk => match signalling {
                        crate::hw::Signalling::Fxsks | crate::hw::Signalling::Fxsls => "an analog trunk",
                        crate::hw::Signalling::EmImmediate | crate::hw::Signalling::EmWink => "an E&M trunk",
                        _ => "a trunk",
                    },
                    crate::hw::Role::Extension => "an analog extension",
                };
                problems.push(format!(
                    "{place}: channel {id} is {what} ({}) in the map, but DAHDI has channel {} ({}) as {}: \
                     make the map's signalling match /etc/dahdi/system.conf (or change system.conf and run \
                     dahdi_cfg)",
                    signalling.dahdi_keyword(),
                    dchan.channo,
                    dchan.name,
                    events::sigtype_name(dchan.sigtype)
                ));
                continue;
            }
            setups.push(ChanSetup {
                id,
                channo: dchan.channo,
                signalling,
                options,
            });
        }
    }
    if problems.is_empty() {
        Ok(setups)
    } else {
        Err(problems)
    }
}

/// For `telvox config check`: a DAHDI map compared with the driver on this machine, when there is
/// one (None: not a DAHDI map, or no driver here to ask, so only the offline checks apply).
pub fn check_against_driver(hw: &HwMap) -> Option<Vec<String>> {
    if hw.card != crate::config::CardKind::Dahdi {
        return None;
    }
    let dev = dev_dir();
    if !dev.join("ctl").exists() {
        return None;
    }
    let driver = inventory(&dev).map_err(|e| vec![e.to_string()]);
    driver.and_then(|driver| check_map(hw, &driver)).err()
}

/// The running DAHDI card: its channels until the engine takes them, and the flag that ends them.
pub struct DahdiCard {
    spans: Vec<SpanInfo>,
    channels: Vec<Box<dyn Channel>>,
    counters: Arc<CardCounters>,
    closing: Arc<AtomicBool>,
    monitor: Option<super::monitor::SpanMonitor>,
}

impl DahdiCard {
    /// Checks `hw` against the driver under `dev_dir` and opens every mapped channel.
    pub fn start(hw: &HwMap, dev_dir: &Path) -> Result<DahdiCard, HwError> {
        let driver = inventory(dev_dir)?;
        let setups = check_map(hw, &driver).map_err(|problems| {
            HwError::Card(format!(
                "the hardware map {} does not match the DAHDI driver:\n{}",
                hw.source,
                problems.join("\n")
            ))
        })?;
        let counters = Arc::new(CardCounters::default());
        let closing = Arc::new(AtomicBool::new(false));
        let device = dev_dir.join("channel");
        let mut channels: Vec<Box<dyn Channel>> = Vec::with_capacity(setups.len());
        for setup in &setups {
            let chan = DahdiChannel::open(&device, setup, closing.clone(), counters.clone())?;
            let mapped = hw.spans.iter().find(|s| s.span == setup.id.span).map(|s| s.law);
            if mapped.is_some_and(|law| law != chan.law()) && setup.id.chan == 1 {
                tracing::warn!(
                    "span {}: the map says {} but DAHDI runs the span in {}: telvox uses DAHDI's law; fix \
                     `law` in {}",
                    setup.id.span,
                    mapped.map_or("?", |l| l.name()),
                    chan.law().name(),
                    hw.source
                );
            }
            channels.push(Box::new(chan));
        }
        let spans = hw
            .spans
            .iter()
            .map(|s| SpanInfo {
                span: s.span,
                name: s.name.clone(),
                law: s.law,
                channels: s.channels,
                role: s.role,
            })
            .collect();
        let watched: Vec<(u16, u16)> = hw
            .spans
            .iter()
            .map(|s| (s.span, s.dahdi.dahdi_span.unwrap_or(s.span)))
            .collect();
        let monitor = super::monitor::SpanMonitor::start_dahdi(dev_dir.join("ctl"), watched)?;
        tracing::info!(
            "DAHDI: {} channel(s) open on {} span(s) ({})",
            channels.len(),
            hw.spans.len(),
            dev_dir.display()
        );
        Ok(DahdiCard {
            spans,
            channels,
            counters,
            closing,
            monitor: Some(monitor),
        })
    }

    pub fn spans(&self) -> &[SpanInfo] {
        &self.spans
    }

    pub fn counters(&self) -> Arc<CardCounters> {
        self.counters.clone()
    }

    pub fn take_channels(&mut self) -> Vec<Box<dyn Channel>> {
        std::mem::take(&mut self.channels)
    }

    /// The span monitor's shared view (alarms and counters per span).
    pub fn span_health(&self) -> Option<Arc<super::monitor::SpanHealth>> {
        self.monitor.as_ref().map(|m| m.health())
    }

    /// Ends every channel thread's `read` (within one poll timeout) and stops the span monitor.
    pub fn shutdown(&mut self) {
        self.closing.store(true, Ordering::Release);
        if let Some(monitor) = self.monitor.take() {
            monitor.stop();
        }
    }
}

/// The device directory: `/dev/dahdi`, or `TELVOX_DAHDI_DEV` (for a test rig with its own nodes).
pub fn dev_dir() -> PathBuf {
    std::env::var_os("TELVOX_DAHDI_DEV").map_or_else(|| PathBuf::from(DEFAULT_DEV_DIR), PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::dahdi::scan::parse_proc_span;

    /// The dvm loop's span 1 as /proc/dahdi shows it (fxsks 1-4, fxsls 5-6, e&m 7-8, clear 9-20).
    fn driver() -> Vec<DriverSpan> {
        let mut text = String::from("Span 1: DYN/loc/1:0 \"Dynamic 'loc' span at '1:0'\" (MASTER)\n\n");
        for chan in 1..=24 {
            let sig = match chan {
                1..=4 => "FXSKS",
                5..=6 => "FXSLS",
                7..=8 => "E&M",
                9..=20 => "Clear",
                21..=23 => "CAS",
                _ => "HDLCFCS",
            };
            text.push_str(&format!("\t{chan:4} DYN/loc/1:0/{chan} {sig}\n"));
        }
        let mut span2 = parse_proc_span(&text.replace("Span 1:", "Span 2:")).unwrap();
        for (i, c) in span2.channels.iter_mut().enumerate() {
            c.channo = 25 + i as i32;
        }
        vec![parse_proc_span(&text).unwrap(), span2]
    }

    fn map(text: &str) -> HwMap {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("site.toml"), text).unwrap();
        std::fs::write(
            dir.path().join("telvox.toml"),
            "run_dir = \"run\"\ndata_dir = \"data\"\nhw = \"site.toml\"\n",
        )
        .unwrap();
        let (config, diags) = crate::config::check_file(&dir.path().join("telvox.toml"));
        config.unwrap_or_else(|| panic!("{diags:?}")).hw
    }

    const HEAD: &str = "card = \"dahdi\"\n[[span]]\nname = \"loop\"\nlaw = \"alaw\"\nrole = \"trunk\"\nnumbers = [\"_X.\"]\n";

    #[test]
    fn a_matching_map_resolves_every_channel() {
        let hw = map(&format!(
            "{HEAD}channels = 20\nsignalling = \"fxsks\"\ndahdi_span = 2\n\
             [[span.group]]\nchannels = \"5-6\"\nsignalling = \"fxsls\"\n\
             [[span.group]]\nchannels = \"7-8\"\nsignalling = \"em_wink\"\n\
             [[span.group]]\nchannels = \"9-20\"\nsignalling = \"clear\"\necho_taps = 0\n"
        ));
        let setups = check_map(&hw, &driver()).expect("matches");
        assert_eq!(setups.len(), 20);
        assert_eq!(setups[0].channo, 25, "DAHDI span 2's first channel");
        assert_eq!(setups[6].signalling, crate::hw::Signalling::EmWink);
        assert_eq!(setups[19].options.echo_taps, 0);
        assert_eq!(setups[0].options.echo_taps, 128);
    }

    #[test]
    fn a_trunk_on_an_fxoks_channel_is_an_error_naming_both() {
        let mut driver = driver();
        driver[0].channels[2].sigtype = sys::SIG_FXOKS;
        let hw = map(&format!("{HEAD}channels = 4\nsignalling = \"fxsks\"\n"));
        let problems = check_map(&hw, &driver).expect_err("channel 3 is fxoks");
        assert_eq!(problems.len(), 1, "{problems:?}");
        let p = &problems[0];
        assert!(
            p.contains("site.toml:2:1: channel 1/3 is an analog trunk (fxsks) in the map"),
            "{p}"
        );
        assert!(p.contains("DAHDI has channel 3 (DYN/loc/1:0/3) as fxoks"), "{p}");
    }

    #[test]
    fn missing_spans_and_channels_are_reported() {
        let hw = map(&format!(
            "{HEAD}channels = 24\nsignalling = \"clear\"\ndahdi_span = 7\n"
        ));
        let problems = check_map(&hw, &driver()).expect_err("no span 7");
        assert!(problems[0].contains("is DAHDI span 7, which the driver does not have (it has span(s) 1, 2)"));
        // Channel 24 is a D-channel: refused unless the map leaves it alone.
        let hw = map(&format!("{HEAD}channels = 24\nsignalling = \"clear\"\n[[span.group]]\nchannels = \"1-8\"\nunused = true\n"));
        let problems = check_map(&hw, &driver()).expect_err("24 is hdlcfcs");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0]
            .contains("channel 1/24 is a clear channel (clear) in the map, but DAHDI has channel 24"));
        assert!(problems[0].contains("as hdlcfcs (dchan)"));
        let hw = map(&format!("{HEAD}channels = 24\nsignalling = \"clear\"\n[[span.group]]\nchannels = \"1-8\"\nunused = true\n[[span.group]]\nchannels = 24\nunused = true\n"));
        assert_eq!(check_map(&hw, &driver()).expect("fits").len(), 15);
    }
}
