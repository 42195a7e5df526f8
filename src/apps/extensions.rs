//! Analog extensions, the daemon's side: which number each extension channel answers to (the hw
//! map's `extensions`), the dial plan its phone dials into, and message waiting — one lock-free
//! counter per extension that the voicemail worker updates (off the channel threads) and the
//! extension's line state machine reads (stutter dial tone, VMWI).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::config::Config;
use crate::engine::line::extension::{default_fsk, ExtensionLine};
use crate::fixed::Number;
use crate::hw::ChanId;

/// New-message counters by extension number.
#[derive(Debug, Default)]
pub struct MwiBoard {
    boxes: HashMap<String, Arc<AtomicU32>>,
}

impl MwiBoard {
    /// One counter per extension number in the map, seeded from the voicemail index when there is
    /// one (a box with the extension's number).
    pub fn new(config: &Config) -> Self {
        let mut boxes = HashMap::new();
        for span in &config.hw.spans {
            for number in &span.extensions {
                boxes.insert(number.clone(), Arc::new(AtomicU32::new(0)));
            }
        }
        let board = Self { boxes };
        if config.voicemail.is_some() && !board.boxes.is_empty() {
            let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
            if let Ok(conn) = rusqlite::Connection::open_with_flags(config.db_path(), flags) {
                for (box_, new, _) in crate::apps::voicemail::db::new_counts(&conn).unwrap_or_default() {
                    board.update(&box_, new);
                }
            }
        }
        board
    }

    /// A box's new-message count changed (called by the voicemail worker).
    pub fn update(&self, box_: &str, new: u32) {
        if let Some(count) = self.boxes.get(box_) {
            count.store(new, Ordering::Relaxed);
        }
    }

    /// The counter of one extension number.
    pub fn counter(&self, number: &str) -> Option<Arc<AtomicU32>> {
        self.boxes.get(number).cloned()
    }

    /// What the line state machine of extension channel `chan` needs; None when its span is not
    /// an extension span.
    pub fn line_for(&self, config: &Config, chan: ChanId) -> Option<ExtensionLine> {
        let span = config.hw.spans.iter().find(|s| s.span == chan.span)?;
        if span.signalling.role() != crate::hw::Role::Extension {
            return None;
        }
        let number = span.extensions.get(usize::from(chan.chan).checked_sub(1)?);
        let exact: Vec<Number> = config
            .numbers
            .keys()
            .filter(|n| !n.starts_with('_'))
            .map(|n| Number::from_str_truncating(n))
            .collect();
        Some(ExtensionLine {
            number: number.map_or_else(Number::new, |n| Number::from_str_truncating(n)),
            messages: number
                .and_then(|n| self.counter(n))
                .unwrap_or_else(|| Arc::new(AtomicU32::new(0))),
            exact_numbers: Arc::from(exact),
            fsk: default_fsk(span.country),
            dtmf: span.dtmf,
        })
    }

    /// The channel that answers to extension `number`.
    pub fn channel_of(config: &Config, number: &str) -> Option<ChanId> {
        config.hw.spans.iter().find_map(|span| {
            let index = span.extensions.iter().position(|n| n == number)?;
            Some(ChanId {
                span: span.span,
                chan: u16::try_from(index + 1).ok()?,
            })
        })
    }
}
