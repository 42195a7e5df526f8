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
