//! The DAHDI keys of a hardware map's `[[span]]` (a child of `load`, sharing its `Section` walker):
//! `dahdi_span`, `rx_gain_db`, `tx_gain_db`, `echo_taps`, `buffer_policy`, `buffers`, and
//! `[[span.group]]` tables giving a range of the span's channels their own signalling and settings
//! (a mixed analog card: FXO trunks and FXS extensions on one span).

use super::*;
use crate::hw::dahdi::options::{
    BufferPolicy, ChanGroup, ChanOptions, SpanDahdi, BUFFERS_RANGE, ECHO_TAPS_RANGE, GAIN_DB_RANGE,
};

pub(super) const SPAN_DAHDI_KEYS: &[&str] = &[
    "dahdi_span",
    "rx_gain_db",
    "tx_gain_db",
    "echo_taps",
    "buffer_policy",
    "buffers",
    "group",
];
const GROUP_KEYS: &[&str] = &[
    "channels",
    "signalling",
    "unused",
    "rx_gain_db",
    "tx_gain_db",
    "echo_taps",
    "buffer_policy",
    "buffers",
];

fn place(src: &Source, offset: usize) -> String {
    let (line, col) = src.position(offset);
    format!("{}:{line}:{col}", src.name.display())
}

fn int_in(
    section: &Section,
    key: &str,
    range: &RangeInclusive<i64>,
    unit: &str,
    diags: &mut Diagnostics,
) -> Option<i64> {
    let item = section.get(key)?;
    match item.get_ref() {
        Node::Int(v) if range.contains(v) => Some(*v),
        _ => {
            let expected = format!(
                "a whole number of {unit} from {} to {}",
                range.start(),
                range.end()
            );
            section.bad_value(key, item, &expected, diags);
            None
        }
    }
}

/// Gains, echo canceller and buffers, each defaulting to `base`. `None` when any is invalid.
fn read_options(section: &Section, base: ChanOptions, diags: &mut Diagnostics) -> Option<ChanOptions> {
    let mut options = base;
    let mut ok = true;
    for (key, slot) in [
        ("rx_gain_db", &mut options.rx_gain_db),
        ("tx_gain_db", &mut options.tx_gain_db),
    ] {
        if let Some(item) = section.get(key) {
            let value = match item.get_ref() {
                Node::Float(v) => Some(*v),
                Node::Int(v) => Some(*v as f64),
                _ => None,
            };
            match value.filter(|v| GAIN_DB_RANGE.contains(v)) {
                Some(v) => *slot = v as f32,
                None => {
                    let expected = format!(
                        "a gain in dB from {} to {}",
                        GAIN_DB_RANGE.start(),
                        GAIN_DB_RANGE.end()
                    );
                    section.bad_value(key, item, &expected, diags);
                    ok = false;
                }
            }
        }
    }
    if section.get("echo_taps").is_some() {
        match int_in(
            section,
            "echo_taps",
            &ECHO_TAPS_RANGE,
            "taps (8 per ms; 0 = off)",
            diags,
        ) {
            Some(v) => options.echo_taps = v as u32,
            None => ok = false,
        }
    }
    if section.get("buffers").is_some() {
        match int_in(section, "buffers", &BUFFERS_RANGE, "20 ms buffers", diags) {
            Some(v) => options.buffers = v as u8,
            None => ok = false,
        }
    }
    if let Some(item) = section.get("buffer_policy") {
        match item.get_ref() {
            Node::Str(word) if BufferPolicy::parse(word).is_some() => {
                options.buffer_policy = BufferPolicy::parse(word).unwrap_or_default();
            }
            _ => {
                section.bad_value(
                    "buffer_policy",
                    item,
                    &quoted_alternatives(BufferPolicy::NAMES),
                    diags,
                );
                ok = false;
            }
        }
    }
    ok.then_some(options)
}

/// A group's `channels`: `3`, `"3"` or `"1-4"`, within the span's `channels`.
fn read_range(section: &Section, span_channels: Option<u32>, diags: &mut Diagnostics) -> Option<(u16, u16)> {
    section.require("channels", "\"1-4\"", diags)?;
    let item = section.get("channels")?;
    let parsed = match item.get_ref() {
        Node::Int(v) => u16::try_from(*v).ok().map(|v| (v, v)),
        Node::Str(text) => {
            let mut parts = text.splitn(2, '-').map(|p| p.trim().parse::<u16>().ok());
            match (parts.next().flatten(), parts.next()) {
                (Some(first), None) => Some((first, first)),
                (Some(first), Some(Some(last))) => Some((first, last)),
                _ => None,
            }
        }
        _ => None,
    };
    let max = span_channels.unwrap_or(31);
    match parsed {
        Some((first, last)) if first >= 1 && first <= last && u32::from(last) <= max => Some((first, last)),
        _ => {
            let expected = format!("a channel or range of this span's channels, e.g. \"1-4\" (1 to {max})");
            section.bad_value("channels", item, &expected, diags);
            None
        }
    }
}

pub(super) fn read_span_dahdi(
    section: &Section,
    span_channels: Option<u32>,
    diags: &mut Diagnostics,
) -> Option<SpanDahdi> {
    let mut ok = true;
    let dahdi_span = match section.get("dahdi_span") {
        None => None,
        Some(_) => match int_in(section, "dahdi_span", &(1..=128), "(DAHDI's span number)", diags) {
            Some(v) => Some(v as u16),
            None => {
                ok = false;
                None
            }
        },
    };
    let options = read_options(section, ChanOptions::default(), diags);
    ok &= options.is_some();
    let options = options.unwrap_or_default();
    let mut groups = Vec::new();
    if let Some(item) = section.get("group") {
        let tables = match item.get_ref() {
            Node::Array(items) if items.iter().all(|i| matches!(i.get_ref(), Node::Table(_))) => {
                items.as_slice()
            }
            _ => {
                let message = format!(
                    "{}group must be [[span.group]] tables, e.g. channels = \"1-4\", signalling = \"fxsks\"",
                    section.prefix
                );
                diags.error(section.src, item.span().start, message);
                return None;
            }
        };
        for (index, table) in tables.iter().enumerate() {
            let Node::Table(entries) = table.get_ref() else {
                continue;
            };
            let group = Section {
                src: section.src,
                prefix: format!("{}group #{} ", section.prefix, index + 1),
                label: format!("{} [[span.group]] #{}", section.label, index + 1),
                entries,
                start_bytes: table.span().start,
            };
            group.check_keys(GROUP_KEYS, diags);
            let range = read_range(&group, span_channels, diags);
            let unused = match group.get("unused") {
                None => Some(false),
                Some(_) => group.boolean("unused", diags),
            };
            let signalling = if unused == Some(true) && group.get("signalling").is_none() {
                Some(Signalling::Network)
            } else {
                group
                    .require("signalling", "\"fxsks\" (or unused = true)", diags)
                    .and_then(|()| group.choice::<Signalling>("signalling", SIGNALLING_NAMES, diags))
            };
            let group_options = read_options(&group, options, diags);
            match (range, signalling, group_options, unused) {
                (Some((first, last)), Some(signalling), Some(options), Some(unused)) => {
                    groups.push(ChanGroup {
                        first,
                        last,
                        signalling,
                        options,
                        unused,
                        place: place(section.src, table.span().start),
                    })
                }
                _ => ok = false,
            }
        }
    }
    ok.then(|| SpanDahdi {
        dahdi_span,
        options,
        groups,
        place: place(section.src, section.start_bytes),
    })
}
