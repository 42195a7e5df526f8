//! The span monitor: a thread (not a channel thread) that reads DAHDI_SPANSTAT for every mapped span
//! once a second and publishes each span's alarms and error counters for `telvox status`, and each
//! alarm change as an event line (`telvox events`).

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use super::events::alarms_from_dahdi;
use super::sys;
use crate::hw::{Alarms, HwError};

/// How often the monitor reads the spans.
const POLL_EVERY_MS: u64 = 1000;

/// One span's state, shared lock-free between the monitor and the status readers.
#[derive(Debug, Default)]
pub struct SpanSlot {
    /// The map's span number.
    pub span: u16,
    /// DAHDI's span number.
    pub dahdi_span: u16,
    pub alarms: AtomicU8,
    /// Bipolar violations, CRC-4 errors, E-bit errors, FAS errors, framing errors, coding violations,
    /// bit errors, errored seconds, IRQ misses: as DAHDI counts them (since the span started).
    pub bpv: AtomicU64,
    pub crc4: AtomicU64,
    pub ebit: AtomicU64,
    pub fas: AtomicU64,
    pub framing: AtomicU64,
    pub coding_violations: AtomicU64,
    pub bit_errors: AtomicU64,
    pub errored_seconds: AtomicU64,
    pub irq_misses: AtomicU64,
    /// Times the span went into alarm since telvox started.
    pub alarm_count: AtomicU64,
}

/// A plain copy of one [`SpanSlot`], as `telvox status` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SpanReport {
    pub span: u16,
    pub dahdi_span: u16,
    /// `ok`, or the alarms: `red,yellow`.
    pub alarms: String,
    pub bpv: u64,
    pub crc4: u64,
    pub ebit: u64,
    pub fas: u64,
    pub framing: u64,
    pub coding_violations: u64,
    pub bit_errors: u64,
    pub errored_seconds: u64,
    pub irq_misses: u64,
    pub alarm_count: u64,
}

/// Where an alarm change goes: a JSON event line for `telvox events` (set once by the daemon).
pub type AlarmSink = Box<dyn Fn(serde_json::Value) + Send + Sync>;

/// Every watched span's slot.
#[derive(Default)]
pub struct SpanHealth {
    pub slots: Vec<SpanSlot>,
    pub sink: OnceLock<AlarmSink>,
}

impl SpanHealth {
    pub fn new(watched: &[(u16, u16)]) -> SpanHealth {
        SpanHealth {
            slots: watched
                .iter()
                .map(|&(span, dahdi_span)| SpanSlot {
                    span,
                    dahdi_span,
                    ..Default::default()
                })
                .collect(),
            sink: OnceLock::new(),
        }
    }

    /// The alarms of the map's span `span` (none for spans not watched).
    pub fn alarms(&self, span: u16) -> Alarms {
        self.slots
            .iter()
            .find(|s| s.span == span)
            .map_or(Alarms::NONE, |s| Alarms(s.alarms.load(Ordering::Acquire)))
    }

    /// Records a span's alarms; on a change, counts it and sends an event line. Returns whether
    /// they changed.
    pub fn set_alarms(&self, span: u16, alarms: Alarms) -> bool {
        let Some(slot) = self.slots.iter().find(|s| s.span == span) else {
            return false;
        };
        let old = Alarms(slot.alarms.swap(alarms.0, Ordering::AcqRel));
        if old == alarms {
            return false;
        }
        if old.is_clear() {
            slot.alarm_count.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(sink) = self.sink.get() {
            sink(serde_json::json!({
                "type": "span_alarm",
                "span": span,
                "alarms": alarms.names(),
                "was": old.names(),
                "in_service": alarms.is_clear(),
            }));
        }
        true
    }

    pub fn report(&self) -> Vec<SpanReport> {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        self.slots
            .iter()
            .map(|s| SpanReport {
                span: s.span,
                dahdi_span: s.dahdi_span,
                alarms: Alarms(s.alarms.load(Ordering::Acquire)).names(),
                bpv: get(&s.bpv),
                crc4: get(&s.crc4),
                ebit: get(&s.ebit),
                fas: get(&s.fas),
                framing: get(&s.framing),
                coding_violations: get(&s.coding_violations),
                bit_errors: get(&s.bit_errors),
                errored_seconds: get(&s.errored_seconds),
                irq_misses: get(&s.irq_misses),
                alarm_count: get(&s.alarm_count),
            })
            .collect()
    }

    fn record(&self, slot: &SpanSlot, stat: &sys::SpanStat) {
        let put = |a: &AtomicU64, v: i64| a.store(v.max(0) as u64, Ordering::Relaxed);
        put(&slot.bpv, i64::from(stat.bpvcount));
        put(&slot.crc4, i64::from(stat.crc4count));
        put(&slot.ebit, i64::from(stat.ebitcount));
        put(&slot.fas, i64::from(stat.fascount));
        put(&slot.framing, i64::from(stat.fecount));
        put(&slot.coding_violations, i64::from(stat.cvcount));
        put(&slot.bit_errors, i64::from(stat.becount));
        put(&slot.errored_seconds, i64::from(stat.errsec));
        put(&slot.irq_misses, i64::from(stat.irqmisses));
        self.set_alarms(slot.span, alarms_from_dahdi(stat.alarms));
    }
}

/// The monitor thread.
pub struct SpanMonitor {
    health: Arc<SpanHealth>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SpanMonitor {
    /// Starts reading DAHDI_SPANSTAT on `ctl` for each `(map span, DAHDI span)`.
    pub fn start_dahdi(ctl: PathBuf, watched: Vec<(u16, u16)>) -> Result<SpanMonitor, HwError> {
        let health = Arc::new(SpanHealth::new(&watched));
        let stop = Arc::new(AtomicBool::new(false));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&ctl)
            .map_err(|e| HwError::Card(format!("span monitor: cannot open {}: {e}", ctl.display())))?;
        let (h, s) = (health.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("dahdi-spans".into())
            .spawn(move || {
                while !s.load(Ordering::Acquire) {
                    for slot in &h.slots {
                        match sys::spanstat(file.as_fd(), i32::from(slot.dahdi_span)) {
                            Ok(stat) => h.record(slot, &stat),
                            Err(e) => {
                                tracing::debug!("span {}: DAHDI_SPANSTAT failed: {e}", slot.span);
                            }
                        }
                    }
                    std::thread::park_timeout(Duration::from_millis(POLL_EVERY_MS));
                }
            })
            .map_err(|e| HwError::Card(format!("cannot start the span monitor: {e}")))?;
        Ok(SpanMonitor {
            health,
            stop,
            thread: Some(thread),
        })
    }

    pub fn health(&self) -> Arc<SpanHealth> {
        self.health.clone()
    }

    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn alarm_changes_are_counted_and_sent_once() {
        let health = SpanHealth::new(&[(1, 3)]);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink_seen = seen.clone();
        let _ = health
            .sink
            .set(Box::new(move |v| sink_seen.lock().unwrap().push(v)));
        assert!(health.set_alarms(1, Alarms::RED));
        assert!(!health.set_alarms(1, Alarms::RED));
        assert!(health.set_alarms(1, Alarms::RED.union(Alarms::YELLOW)));
        assert!(health.set_alarms(1, Alarms::NONE));
        assert!(!health.set_alarms(9, Alarms::RED), "an unwatched span");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0]["alarms"], "red");
        assert_eq!(seen[1]["alarms"], "red,yellow");
        assert_eq!(seen[2]["in_service"], true);
        let report = health.report();
        assert_eq!(report[0].alarm_count, 1);
        assert_eq!(report[0].alarms, "ok");
        assert_eq!(report[0].dahdi_span, 3);
    }

    #[test]
    fn spanstat_counters_land_in_the_report() {
        let health = SpanHealth::new(&[(2, 2)]);
        let stat = sys::SpanStat {
            alarms: sys::ALARM_BLUE,
            bpvcount: 7,
            crc4count: 3,
            errsec: 2,
            ..Default::default()
        };
        health.record(&health.slots[0], &stat);
        let report = &health.report()[0];
        assert_eq!((report.bpv, report.crc4, report.errored_seconds), (7, 3, 2));
        assert_eq!(report.alarms, "blue");
        assert_eq!(health.alarms(2), Alarms::BLUE);
    }
}
