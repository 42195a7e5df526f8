//! Two fax sessions back to back in one process (shared by tests/fax.rs and tests/ffi_valgrind.rs):
//! a document made with ghostscript, a sender and a receiver wired tx → rx both ways, optionally
//! through a G.711 round trip, stepped 160 samples at a time like a channel thread.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use telvox::dsp::fax::{FaxEvent, FaxJob, FaxOptions, FaxOutcome, FaxSession};
use telvox::dsp::g711;
use telvox::hw::Law;

pub const BLOCK: usize = 160;

/// Writes a `pages`-page TIFF-F (MH, 204×196 dpi, 1728 px wide, `rows` rows a page) with a line
/// of text and a box on each page, rendered by ghostscript.
pub fn make_document(path: &Path, pages: u32, rows: u32) {
    let ps = path.with_extension("ps");
    let mut text = String::from("%!PS\n/Helvetica findfont 20 scalefont setfont\n");
    for page in 1..=pages {
        text.push_str(&format!(
            "newpath 20 20 moveto 180 20 lineto 180 {h} lineto 20 {h} lineto closepath 3 setlinewidth stroke\n\
             40 {t} moveto (telvox fax test page {page} of {pages}) show showpage\n",
            h = rows * 72 / 196 - 20,
            t = rows * 72 / 196 / 2,
        ));
    }
    std::fs::write(&ps, text).expect("write ps");
    let status = Command::new("gs")
        .args([
            "-q",
            "-dNOPAUSE",
            "-dBATCH",
            "-dSAFER",
            "-sDEVICE=tiffg3",
            "-r204x196",
        ])
        .arg(format!("-g1728x{rows}"))
        .arg("-dFIXEDMEDIA")
        .arg(format!("-sOutputFile={}", path.display()))
        .arg(&ps)
        .status()
        .expect("run gs (ghostscript: install.sh installs it)");
    assert!(status.success(), "gs failed");
}

pub struct PairRun {
    pub sender: FaxOutcome,
    pub receiver: FaxOutcome,
    pub sender_events: Vec<FaxEvent>,
    pub receiver_events: Vec<FaxEvent>,
    pub blocks: u64,
}

pub fn options(ident: &str, calling: bool) -> FaxOptions {
    FaxOptions {
        local_ident: ident.into(),
        calling_party: calling,
        ..FaxOptions::default()
    }
}

/// Runs a transfer until both sessions end, `max_blocks` pass, or `cut` says to stop (it sees the
/// receiver's events so far and the blocks run); then both sessions are finished (a cut ends them as a hangup would).
pub fn run_pair(
    document: &Path,
    received: &Path,
    sender_options: &FaxOptions,
    receiver_options: &FaxOptions,
    law: Option<Law>,
    max_blocks: u64,
    cut: impl FnMut(&[FaxEvent], u64) -> bool,
) -> PairRun {
    run_pair_noisy(
        document,
        received,
        sender_options,
        receiver_options,
        law,
        None,
        max_blocks,
        cut,
    )
}

/// White Gaussian noise at a level (dBm0, RMS), deterministic from a seed.
pub struct Noise {
    state: u64,
    rms: f64,
    spare: Option<f64>,
}

impl Noise {
    pub fn new(level_dbm0: f32, law: Law, seed: u64) -> Noise {
        // A sine at this level has RMS peak/√2; noise at the same level has the same RMS.
        let peak = f64::from(telvox::dsp::level::dbm0_to_peak(law, level_dbm0));
        Noise {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            rms: peak / std::f64::consts::SQRT_2,
            spare: None,
        }
    }

    fn uniform(&mut self) -> f64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let bits = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        (bits as f64 + 0.5) / (1u64 << 53) as f64
    }

    pub fn sample(&mut self) -> f64 {
        if let Some(spare) = self.spare.take() {
            return spare * self.rms;
        }
        // Box-Muller.
        let (u, v) = (self.uniform(), self.uniform());
        let r = (-2.0 * u.ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * v;
        self.spare = Some(r * theta.sin());
        r * theta.cos() * self.rms
    }

    pub fn add_to(&mut self, block: &mut [i16]) {
        for s in block {
            *s = (f64::from(*s) + self.sample()).round().clamp(-32768.0, 32767.0) as i16;
        }
    }
}

/// [`run_pair`] with white noise added to both directions of the line (before G.711).
#[allow(clippy::too_many_arguments)]
pub fn run_pair_noisy(
    document: &Path,
    received: &Path,
    sender_options: &FaxOptions,
    receiver_options: &FaxOptions,
    law: Option<Law>,
    noise_dbm0: Option<f32>,
    max_blocks: u64,
    mut cut: impl FnMut(&[FaxEvent], u64) -> bool,
) -> PairRun {
    let mut noise = noise_dbm0.map(|level| {
        (
            Noise::new(level, law.unwrap_or(Law::Alaw), 1),
            Noise::new(level, law.unwrap_or(Law::Alaw), 2),
        )
    });
    let mut sender = FaxSession::new(FaxJob::Send(document.to_path_buf()), sender_options).expect("sender");
    let mut receiver =
        FaxSession::new(FaxJob::Receive(received.to_path_buf()), receiver_options).expect("receiver");
    let mut a_to_b = [0i16; BLOCK];
    let mut b_to_a = [0i16; BLOCK];
    let mut sender_events = Vec::new();
    let mut receiver_events = Vec::new();
    let mut blocks = 0;
    while blocks < max_blocks && (sender.is_active() || receiver.is_active()) {
        sender.tx(&mut a_to_b);
        receiver.tx(&mut b_to_a);
        if let Some((forward, backward)) = noise.as_mut() {
            forward.add_to(&mut a_to_b);
            backward.add_to(&mut b_to_a);
        }
        if let Some(law) = law {
            for s in a_to_b.iter_mut().chain(b_to_a.iter_mut()) {
                *s = g711::decode(law, g711::encode(law, *s));
            }
        }
        receiver.rx(&a_to_b);
        sender.rx(&b_to_a);
        sender_events.extend(std::iter::from_fn(|| sender.poll_event()));
        receiver_events.extend(std::iter::from_fn(|| receiver.poll_event()));
        blocks += 1;
        if cut(&receiver_events, blocks) {
            break;
        }
    }
    PairRun {
        sender: sender.finish(),
        receiver: receiver.finish(),
        sender_events,
        receiver_events,
        blocks,
    }
}

/// Pages in a TIFF as libtiff's tiffinfo counts them.
pub fn tiffinfo_pages(path: &Path) -> usize {
    let out = Command::new("tiffinfo")
        .arg(path)
        .output()
        .expect("run tiffinfo (libtiff-tools: install.sh installs it)");
    assert!(out.status.success(), "tiffinfo failed on {}", path.display());
    String::from_utf8_lossy(&out.stdout)
        .matches("TIFF Directory at offset")
        .count()
}

/// Every page's pixels (1 = black, rows packed MSB first), via `tiffcp -c none` and a minimal
/// reader of its uncompressed strips: independent of the library's TIFF code.
pub fn bitmaps(path: &Path) -> Vec<Vec<u8>> {
    let plain = path.with_extension("plain.tif");
    let status = Command::new("tiffcp")
        .args(["-c", "none"])
        .arg(path)
        .arg(&plain)
        .status()
        .expect("run tiffcp (libtiff-tools)");
    assert!(status.success(), "tiffcp failed on {}", path.display());
    let bytes = std::fs::read(&plain).expect("read plain tiff");
    std::fs::remove_file(&plain).ok();
    assert_eq!(&bytes[..4], b"II*\0", "tiffcp writes little-endian TIFF");
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    let values = |entry: usize| -> Vec<u32> {
        let (ty, count) = (u16_at(entry + 2), u32_at(entry + 4) as usize);
        let size = if ty == 3 { 2 } else { 4 };
        let base = if size * count <= 4 {
            entry + 8
        } else {
            u32_at(entry + 8) as usize
        };
        (0..count)
            .map(|i| {
                if ty == 3 {
                    u32::from(u16_at(base + 2 * i))
                } else {
                    u32_at(base + 4 * i)
                }
            })
            .collect()
    };
    let mut pages = Vec::new();
    let mut ifd = u32_at(4) as usize;
    while ifd != 0 {
        let count = usize::from(u16_at(ifd));
        let (mut offsets, mut lengths, mut lsb_first, mut white_is_one) = (vec![], vec![], false, false);
        for i in 0..count {
            let entry = ifd + 2 + 12 * i;
            match u16_at(entry) {
                273 => offsets = values(entry),
                279 => lengths = values(entry),
                266 => lsb_first = values(entry)[0] == 2,
                262 => white_is_one = values(entry)[0] == 1,
                _ => {}
            }
        }
        let mut page: Vec<u8> = offsets
            .iter()
            .zip(&lengths)
            .flat_map(|(&o, &l)| bytes[o as usize..(o + l) as usize].iter().copied())
            .collect();
        for b in &mut page {
            if lsb_first {
                *b = b.reverse_bits();
            }
            if white_is_one {
                *b = !*b;
            }
        }
        pages.push(page);
        ifd = u32_at(ifd + 2 + 12 * count) as usize;
    }
    pages
}

/// A fax machine on the sim card's far end: dials `number` and sends `document` (an fax machine's
/// "send" button after dialling), in lockstep: one block sent for every block heard. With
/// `cut_after_page = Some((page, blocks))` it hangs up `blocks` blocks after the far end confirmed
/// `page`. Returns the call and the machine's fax outcome.
pub fn fax_machine_send(
    socket: &Path,
    number: &str,
    document: &Path,
    cut_after_page: Option<(u32, usize)>,
) -> (telvox::hw::sim::client::CallOutcome, FaxOutcome) {
    let (call, fax, _) = fax_machine_send_ident(socket, number, document, cut_after_page);
    (call, fax)
}

/// [`fax_machine_send`], also returning the station id telvox gave (its CSI).
pub fn fax_machine_send_ident(
    socket: &Path,
    number: &str,
    document: &Path,
    cut_after_page: Option<(u32, usize)>,
) -> (telvox::hw::sim::client::CallOutcome, FaxOutcome, String) {
    use telvox::hw::sim::client::{run_call, Party};
    use telvox::hw::sim::protocol::PartyOp;
    let mut party = Party::connect(socket).expect("connect to the sim card");
    let mut session = FaxSession::new(
        FaxJob::Send(document.to_path_buf()),
        &options("FAR END SENDER", true),
    )
    .expect("far-end fax session");
    let law = Law::Alaw;
    let dial = PartyOp::Dial {
        to: number.into(),
        from: Some("13800138000".into()),
        name: None,
        span: None,
    };
    let mut lin = [0i16; BLOCK];
    let mut ended_at = None;
    let mut page_confirmed_at = None;
    let outcome = run_call(
        &mut party,
        &dial,
        std::time::Duration::from_secs(30),
        |blocks_heard, heard| {
            if blocks_heard > 0 && heard.len() >= BLOCK {
                for (s, &c) in lin.iter_mut().zip(&heard[heard.len() - BLOCK..]) {
                    *s = g711::decode(law, c);
                }
                session.rx(&lin);
            }
            while let Some(event) = session.poll_event() {
                if let (FaxEvent::PageSent { page }, Some((cut_page, _))) = (event, cut_after_page) {
                    if page == cut_page {
                        page_confirmed_at = Some(blocks_heard);
                    }
                }
            }
            if let (Some(at), Some((_, extra))) = (page_confirmed_at, cut_after_page) {
                if blocks_heard >= at + extra {
                    return None;
                }
            }
            // After the session ends, linger briefly (the far end hangs up by itself), then hang up.
            if !session.is_active() {
                let at = *ended_at.get_or_insert(blocks_heard);
                if blocks_heard > at + 100 {
                    return None;
                }
            }
            session.tx(&mut lin);
            let mut block = [0u8; BLOCK];
            for (c, &s) in block.iter_mut().zip(&lin) {
                *c = g711::encode(law, s);
            }
            Some(block)
        },
    )
    .expect("fax call");
    let fax = session.finish();
    let ident = session.remote_ident().to_owned();
    (outcome, fax, ident)
}

/// A fax machine that calls `number`, presses `keys` (each `(block, keys)`: DTMF from that block
/// on), then at `start_at_block` presses Start to receive (answering terminal) into `received`.
/// Hangs up shortly after its session ends (or after `max_blocks`).
pub fn fax_machine_receive(
    socket: &Path,
    number: &str,
    keys: &[(usize, &str)],
    start_at_block: usize,
    received: &Path,
    max_blocks: usize,
) -> (telvox::hw::sim::client::CallOutcome, FaxOutcome) {
    use telvox::dsp::dtmf_gen::{keys_to_blocks, DtmfConfig};
    use telvox::hw::sim::client::{run_call, Party};
    use telvox::hw::sim::protocol::PartyOp;
    let law = Law::Alaw;
    let mut party = Party::connect(socket).expect("connect to the sim card");
    let mut session = FaxSession::new(
        FaxJob::Receive(received.to_path_buf()),
        &options("FAR END RECEIVER", false),
    )
    .expect("far-end fax session");
    let mut pressed: Vec<(usize, Vec<[u8; BLOCK]>)> = keys
        .iter()
        .map(|&(at, k)| (at, keys_to_blocks(DtmfConfig::new(law), k).expect("keys")))
        .collect();
    pressed.sort_by_key(|(at, _)| *at);
    let dial = PartyOp::Dial {
        to: number.into(),
        from: Some("13800138000".into()),
        name: None,
        span: None,
    };
    let mut lin = [0i16; BLOCK];
    let mut ended_at = None;
    let silence = [g711::encode(law, 0); BLOCK];
    let outcome = run_call(
        &mut party,
        &dial,
        std::time::Duration::from_secs(30),
        |blocks_heard, heard| {
            if blocks_heard >= max_blocks {
                return None;
            }
            if blocks_heard < start_at_block {
                // Before Start: the keys, else silence.
                for (at, blocks) in &pressed {
                    if blocks_heard >= *at && blocks_heard < at + blocks.len() {
                        return Some(blocks[blocks_heard - at]);
                    }
                }
                return Some(silence);
            }
            if heard.len() >= BLOCK {
                for (s, &c) in lin.iter_mut().zip(&heard[heard.len() - BLOCK..]) {
                    *s = g711::decode(law, c);
                }
                session.rx(&lin);
            }
            if !session.is_active() {
                let at = *ended_at.get_or_insert(blocks_heard);
                if blocks_heard > at + 100 {
                    return None;
                }
            }
            session.tx(&mut lin);
            let mut block = [0u8; BLOCK];
            for (c, &s) in block.iter_mut().zip(&lin) {
                *c = g711::encode(law, s);
            }
            Some(block)
        },
    )
    .expect("fax call");
    let fax = session.finish();
    (outcome, fax)
}
