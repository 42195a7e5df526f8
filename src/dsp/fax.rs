//! A safe T.30 fax session over spandsp's audio fax engine (`fax_state_t`: V.21 control, V.17,
//! V.29 and V.27ter image modems, T.4/T.6 coding, ECM). With `spandsp.rs`, the only `unsafe` code in
//! `dsp`.
//!
//! A [`FaxSession`] sends a TIFF-F file or receives into one. The channel thread feeds it the
//! caller's audio ([`FaxSession::rx`]) and takes the audio to send ([`FaxSession::tx`]), one block
//! at a time; spandsp's T.30 timers count those samples, so lockstep and realtime behave the same.
//!
//! spandsp reports progress through C callbacks (phase B, D and E). They land in a [`Shared`]
//! record that is heap-allocated once, never moves, and outlives the spandsp state (it is freed in
//! `Drop` only after the state is), so a callback never sees moved or freed memory. Each callback
//! only writes a [`FaxEvent`] into a fixed ring the caller drains with [`FaxSession::poll_event`];
//! when the ring is full the event is dropped and counted. Nothing here allocates per block.
//!
//! One limit of spandsp itself, not of this wrapper: its T.4 layer reads the document page by page
//! with libtiff when a page starts (send), and writes each received page when it ends (receive),
//! growing its page buffer with `realloc` while rows arrive. That file I/O happens inside `rx`/`tx`
//! at page boundaries, on whatever thread drives the session.

use std::ffi::{c_int, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;

use spandsp_sys as sys;

/// Longest slice handed to spandsp at once; longer input is processed in pieces of this size.
pub const BLOCK_SAMPLES: usize = 160;

/// Events buffered between two drains. A session produces a handful per page, so this is many
/// pages' worth even for a caller that drains only once a second.
pub const EVENT_CAPACITY: usize = 64;

/// spandsp copies file names into fixed 256-byte buffers (255 bytes and a NUL).
pub const MAX_PATH_BYTES: usize = 255;

/// T.30 station identifiers (TSI/CSI) are at most 20 characters.
pub const MAX_IDENT_CHARS: usize = 20;

/// spandsp's page header line holds at most 50 characters.
pub const MAX_HEADER_CHARS: usize = 50;

/// Errors creating a fax session. None can arise once the session runs: the transfer's own
/// failures are reported as a [`FaxResult`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FaxError {
    #[error("spandsp could not create its fax state (out of memory)")]
    Init,
    #[error("fax file path {path} is {len} bytes long; spandsp takes at most {MAX_PATH_BYTES}")]
    PathTooLong { path: PathBuf, len: usize },
    #[error("fax file path {path} is not valid UTF-8 without NUL bytes")]
    BadPath { path: PathBuf },
    #[error("fax document {path} cannot be read: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("fax station id {ident:?} is invalid: at most {MAX_IDENT_CHARS} printable ASCII characters")]
    BadIdent { ident: String },
    #[error("fax header line {header:?} is invalid: at most {MAX_HEADER_CHARS} printable ASCII characters")]
    BadHeader { header: String },
    #[error("no image modem enabled: enable at least one of V.17, V.29, V.27ter")]
    NoModem,
    #[error("no compression enabled: enable at least one of MH, MR, MMR")]
    NoCompression,
}

/// What the session does with the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaxJob {
    /// Send this TIFF-F file (every page).
    Send(PathBuf),
    /// Receive into this TIFF file (created by spandsp when the first page starts).
    Receive(PathBuf),
}

/// Image modems offered (T.30 negotiates the fastest both ends have, falling back on failed training).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Modems {
    pub v17: bool,
    pub v29: bool,
    pub v27ter: bool,
}

impl Modems {
    pub const ALL: Modems = Modems {
        v17: true,
        v29: true,
        v27ter: true,
    };

    fn bits(self) -> c_int {
        let mut bits = 0;
        if self.v17 {
            bits |= sys::T30_SUPPORT_V17 as c_int;
        }
        if self.v29 {
            bits |= sys::T30_SUPPORT_V29 as c_int;
        }
        if self.v27ter {
            bits |= sys::T30_SUPPORT_V27TER as c_int;
        }
        bits
    }
}

/// The image modem a session trained on (from the DCS frame: T.30 Table 2, bits 11-14).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Modem {
    V17,
    V29,
    V27ter,
}

impl Modem {
    pub fn name(self) -> &'static str {
        match self {
            Modem::V17 => "V.17",
            Modem::V29 => "V.29",
            Modem::V27ter => "V.27ter",
        }
    }

    /// The modem a DCS frame (address, control, FCF, FIF...) selects; None for other frames.
    pub fn from_dcs(frame: &[u8]) -> Option<Modem> {
        const DCS: u8 = 0x82;
        let (&fcf, &fif_9_16) = (frame.get(2)?, frame.get(4)?);
        if fcf & 0xFE != DCS {
            return None;
        }
        // Bits 11..=14 of the FIF are bits 2..=5 of its second byte; bit 14 set: V.17, else
        // bit 11 set: V.29, else V.27ter.
        Some(if fif_9_16 & 0x20 != 0 {
            Modem::V17
        } else if fif_9_16 & 0x04 != 0 {
            Modem::V29
        } else {
            Modem::V27ter
        })
    }
}

/// Image codings offered: MH (T.4 1-D), MR (T.4 2-D), MMR (T.6, only used with ECM).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compressions {
    pub mh: bool,
    pub mr: bool,
    pub mmr: bool,
}

impl Compressions {
    pub const ALL: Compressions = Compressions {
        mh: true,
        mr: true,
        mmr: true,
    };

    fn bits(self) -> c_int {
        let mut bits = 0;
        if self.mh {
            bits |= sys::t4_image_compression_t_T4_COMPRESSION_T4_1D as c_int;
        }
        if self.mr {
            bits |= sys::t4_image_compression_t_T4_COMPRESSION_T4_2D as c_int;
        }
        if self.mmr {
            bits |= sys::t4_image_compression_t_T4_COMPRESSION_T6 as c_int;
        }
        bits
    }
}

/// How a session presents itself and what it offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaxOptions {
    /// This station's id (TSI when sending, CSI when receiving).
    pub local_ident: String,
    /// The header line printed at the top of each sent page; None sends no header.
    pub header: Option<String>,
    /// Error correction mode (T.30 Annex A).
    pub ecm: bool,
    pub modems: Modems,
    pub compressions: Compressions,
    /// True when this end placed the call (sends CNG, waits for the answerer's DIS).
    pub calling_party: bool,
}

impl Default for FaxOptions {
    fn default() -> Self {
        Self {
            local_ident: String::new(),
            header: None,
            ecm: true,
            modems: Modems::ALL,
            compressions: Compressions::ALL,
            calling_party: false,
        }
    }
}

/// A T.30 completion code (spandsp's `t30_err_e`), `0` = success.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaxResult {
    code: i32,
}

impl FaxResult {
    const OK: i32 = sys::t30_err_e::T30_ERR_OK as i32;
    const CALL_DROPPED: i32 = sys::t30_err_e::T30_ERR_CALLDROPPED as i32;

    pub fn code(self) -> i32 {
        self.code
    }

    pub fn is_ok(self) -> bool {
        self.code == Self::OK
    }

    /// The call ended (hung up or cut) before the fax procedure did.
    pub fn is_call_dropped(self) -> bool {
        self.code == Self::CALL_DROPPED
    }

    /// spandsp's description of the code ("OK", "The call dropped prematurely", ...).
    pub fn text(self) -> &'static str {
        // SAFETY: t30_completion_code_to_str accepts any int (unknown codes map to a fixed
        // string) and returns a pointer to a static, NUL-terminated string literal, never NULL,
        // which lives (unmodified) for the whole program: 'static is its real lifetime.
        let text = unsafe { CStr::from_ptr(sys::t30_completion_code_to_str(self.code)) };
        text.to_str().unwrap_or("(non-UTF-8 completion text)")
    }
}

impl std::fmt::Display for FaxResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.text(), self.code)
    }
}

/// What the session reports as it goes. `Copy`, so the event ring needs no allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaxEvent {
    /// Phase B: capabilities exchanged (`frame` is the T.30 frame type: DIS, DTC or DCS).
    PhaseB { frame: u8 },
    /// Phase D: a post-page message or response (`frame`: MPS, EOP, MCF, RTN, ...).
    PhaseD { frame: u8 },
    /// Page `page` (from 1) has been sent and confirmed by the far end.
    PageSent { page: u32 },
    /// Page `page` (from 1) has been received and written.
    PageReceived { page: u32 },
    /// Phase E: the session is over.
    Finished { result: FaxResult },
}

/// A transfer's figures (spandsp's `t30_stats_t`, in plain units).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaxStats {
    pub bit_rate: u32,
    pub ecm: bool,
    pub pages_sent: u32,
    pub pages_received: u32,
    /// Pages in the file being sent (None when unknown, or when receiving).
    pub pages_in_file: Option<u32>,
    pub width_px: u32,
    pub length_px: u32,
    pub x_resolution_ppm: u32,
    pub y_resolution_ppm: u32,
    /// spandsp's T4_COMPRESSION_* bit of the coding on the line.
    pub compression: u32,
    pub bad_rows: u32,
    pub status: i32,
}

impl FaxStats {
    /// The line coding by name: "MH", "MR", "MMR" or "" before phase B.
    pub fn compression_name(&self) -> &'static str {
        match self.compression {
            c if c == sys::t4_image_compression_t_T4_COMPRESSION_T4_1D => "MH",
            c if c == sys::t4_image_compression_t_T4_COMPRESSION_T4_2D => "MR",
            c if c == sys::t4_image_compression_t_T4_COMPRESSION_T6 => "MMR",
            0 => "",
            _ => "other",
        }
    }

    /// True for fine (7.7 lines/mm, 196 dpi) vertical resolution.
    pub fn is_fine(&self) -> bool {
        self.y_resolution_ppm >= sys::t4_image_y_resolution_t_T4_Y_RESOLUTION_FINE
    }
}

/// A received document's fate, read once the session is over (see [`FaxSession::finish`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaxOutcome {
    pub result: FaxResult,
    pub stats: FaxStats,
    /// Pages in the received file (complete pages, plus the kept part of a cut page); for a send
    /// session, the pages confirmed by the far end.
    pub pages: u32,
    /// The file holds less than the sender meant to send: the call was cut or a page was truncated.
    pub partial: bool,
}

/// State the callbacks write: allocated once, address-stable, freed after spandsp's state.
struct Shared {
    t30: *mut sys::t30_state_t,
    events: [Option<FaxEvent>; EVENT_CAPACITY],
    head: usize,
    len: usize,
    dropped_events: u32,
    pages_sent_seen: u32,
    pages_received_seen: u32,
    result: Option<FaxResult>,
    remote_ident: [u8; MAX_IDENT_CHARS],
    remote_ident_len: usize,
    /// The image modem of the latest DCS frame (either direction), once one has passed.
    modem: Option<Modem>,
}

impl Shared {
    fn push(&mut self, event: FaxEvent) {
        if self.len == EVENT_CAPACITY {
            self.dropped_events = self.dropped_events.saturating_add(1);
            return;
        }
        let slot = (self.head + self.len) % EVENT_CAPACITY;
        if let Some(entry) = self.events.get_mut(slot) {
            *entry = Some(event);
            self.len += 1;
        }
    }

    fn pop(&mut self) -> Option<FaxEvent> {
        if self.len == 0 {
            return None;
        }
        let event = self.events.get_mut(self.head).and_then(Option::take);
        self.head = (self.head + 1) % EVENT_CAPACITY;
        self.len -= 1;
        event
    }

    /// Emits page events for pages counted by spandsp since the last look.
    fn note_pages(&mut self) {
        let stats = read_stats(self.t30);
        while self.pages_sent_seen < stats.pages_sent {
            self.pages_sent_seen += 1;
            self.push(FaxEvent::PageSent {
                page: self.pages_sent_seen,
            });
        }
        while self.pages_received_seen < stats.pages_received {
            self.pages_received_seen += 1;
            self.push(FaxEvent::PageReceived {
                page: self.pages_received_seen,
            });
        }
    }

    fn note_remote_ident(&mut self) {
        // SAFETY: `t30` points into the live fax state (callbacks run only while it exists);
        // t30_get_rx_ident returns a pointer to the NUL-terminated ident buffer inside that state
        // (21 bytes, always terminated), valid until the state is modified; it is copied at once.
        let ident = unsafe { CStr::from_ptr(sys::t30_get_rx_ident(self.t30)) }.to_bytes();
        let len = ident.len().min(MAX_IDENT_CHARS);
        self.remote_ident[..len].copy_from_slice(&ident[..len]);
        self.remote_ident_len = len;
    }
}

fn read_stats(t30: *mut sys::t30_state_t) -> FaxStats {
    // SAFETY: t30_stats_t is a plain C struct of ints, so all-zero is a valid value.
    let mut raw: sys::t30_stats_t = unsafe { std::mem::zeroed() };
    // SAFETY: `t30` is the live T.30 state inside the session's fax state (callers guarantee it);
    // spandsp only writes the struct it is given, which is a valid, exclusive local.
    unsafe { sys::t30_get_transfer_statistics(t30, &mut raw) };
    let non_negative = |v: c_int| u32::try_from(v).unwrap_or(0);
    FaxStats {
        bit_rate: non_negative(raw.bit_rate),
        ecm: raw.error_correcting_mode != 0,
        pages_sent: non_negative(raw.pages_tx),
        pages_received: non_negative(raw.pages_rx),
        pages_in_file: u32::try_from(raw.pages_in_file).ok(),
        width_px: non_negative(raw.width),
        length_px: non_negative(raw.length),
        x_resolution_ppm: non_negative(raw.x_resolution),
        y_resolution_ppm: non_negative(raw.y_resolution),
        compression: non_negative(raw.compression),
        bad_rows: non_negative(raw.bad_rows),
        status: raw.current_status,
    }
}

/// Phase B callback. Runs inside `fax_rx`/`fax_tx` on the thread driving the session.
unsafe extern "C" fn on_phase_b(user_data: *mut c_void, frame: c_int) -> c_int {
    // SAFETY: user_data is the session's `Shared`, registered in `new`; it is freed only after the
    // spandsp state in `Drop`, and the session is exclusively borrowed (&mut) for the FFI call
    // that runs this callback, so no other reference to `Shared` exists during it.
    let shared = unsafe { &mut *user_data.cast::<Shared>() };
    shared.note_remote_ident();
    shared.push(FaxEvent::PhaseB { frame: frame as u8 });
    sys::t30_err_e::T30_ERR_OK as c_int
}

/// Every T.30 frame sent or received: only a DCS is looked at (for the modem it selects).
unsafe extern "C" fn on_frame(user_data: *mut c_void, _incoming: bool, msg: *const u8, len: c_int) {
    if msg.is_null() || len <= 0 {
        return;
    }
    // SAFETY: as in on_phase_b for user_data; spandsp passes the frame it holds, `len` bytes at
    // `msg`, valid for the duration of the call (only read here, not kept).
    let (shared, frame) = unsafe {
        (
            &mut *user_data.cast::<Shared>(),
            std::slice::from_raw_parts(msg, len as usize),
        )
    };
    if let Some(modem) = Modem::from_dcs(frame) {
        shared.modem = Some(modem);
    }
}

/// Phase D callback (after each page).
unsafe extern "C" fn on_phase_d(user_data: *mut c_void, frame: c_int) -> c_int {
    // SAFETY: as in on_phase_b.
    let shared = unsafe { &mut *user_data.cast::<Shared>() };
    shared.push(FaxEvent::PhaseD { frame: frame as u8 });
    shared.note_pages();
    sys::t30_err_e::T30_ERR_OK as c_int
}

/// Phase E callback (the end).
unsafe extern "C" fn on_phase_e(user_data: *mut c_void, completion_code: c_int) {
    // SAFETY: as in on_phase_b.
    let shared = unsafe { &mut *user_data.cast::<Shared>() };
    shared.note_pages();
    let result = FaxResult {
        code: completion_code,
    };
    shared.result = Some(result);
    shared.push(FaxEvent::Finished { result });
}

/// One fax call, either direction. Create at call setup; feed with [`rx`](Self::rx) and
/// [`tx`](Self::tx) every block; drain [`poll_event`](Self::poll_event); end with
/// [`finish`](Self::finish) (or just drop it).
pub struct FaxSession {
    state: NonNull<sys::fax_state_t>,
    t30: NonNull<sys::t30_state_t>,
    /// From Box::into_raw in `new`; freed in Drop after `state`.
    shared: NonNull<Shared>,
    /// fax_rx modifies its input in place (DC removal), so the caller's block is copied here.
    scratch: [i16; BLOCK_SAMPLES],
    receiving: bool,
    path: PathBuf,
    outcome: Option<FaxOutcome>,
}

// SAFETY: the session exclusively owns its spandsp state and its `Shared` record (the raw pointers
// are not aliased outside it; callbacks run only inside its own &mut methods, on the calling
// thread). spandsp's fax engine keeps no thread-affine or thread-local state, and libtiff handles
// may be used from any one thread at a time. So moving the session between threads is sound. It is
// not Sync: every method that touches the state takes &mut self.
unsafe impl Send for FaxSession {}

fn printable_ascii(text: &str, max_chars: usize) -> bool {
    text.len() <= max_chars && text.bytes().all(|b| (0x20..0x7f).contains(&b))
}

fn c_path(path: &Path) -> Result<CString, FaxError> {
    let text = path.to_str().ok_or_else(|| FaxError::BadPath {
        path: path.to_path_buf(),
    })?;
    if text.len() > MAX_PATH_BYTES {
        return Err(FaxError::PathTooLong {
            path: path.to_path_buf(),
            len: text.len(),
        });
    }
    CString::new(text).map_err(|_| FaxError::BadPath {
        path: path.to_path_buf(),
    })
}

impl FaxSession {
    /// Creates a session (allocates; call at call setup, not per block). A send session checks
    /// that its file can be opened now; the file's contents are read by spandsp as pages go.
    pub fn new(job: FaxJob, options: &FaxOptions) -> Result<Self, FaxError> {
        if !printable_ascii(&options.local_ident, MAX_IDENT_CHARS) {
            return Err(FaxError::BadIdent {
                ident: options.local_ident.clone(),
            });
        }
        let header = match &options.header {
            Some(h) if !printable_ascii(h, MAX_HEADER_CHARS) => {
                return Err(FaxError::BadHeader { header: h.clone() })
            }
            Some(h) => Some(CString::new(h.as_str()).map_err(|_| FaxError::BadHeader { header: h.clone() })?),
            None => None,
        };
        let ident = CString::new(options.local_ident.as_str()).map_err(|_| FaxError::BadIdent {
            ident: options.local_ident.clone(),
        })?;
        let modems = options.modems.bits();
        if modems == 0 {
            return Err(FaxError::NoModem);
        }
        let compressions = options.compressions.bits();
        if compressions == 0 {
            return Err(FaxError::NoCompression);
        }
        let (receiving, path) = match &job {
            FaxJob::Send(path) => (false, path.clone()),
            FaxJob::Receive(path) => (true, path.clone()),
        };
        let file = c_path(&path)?;
        if !receiving {
            std::fs::File::open(&path).map_err(|e| FaxError::Unreadable {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        }

        let shared = Box::new(Shared {
            t30: std::ptr::null_mut(),
            events: [None; EVENT_CAPACITY],
            head: 0,
            len: 0,
            dropped_events: 0,
            pages_sent_seen: 0,
            pages_received_seen: 0,
            result: None,
            remote_ident: [0; MAX_IDENT_CHARS],
            remote_ident_len: 0,
            modem: None,
        });
        // Owned through the raw pointer from here on; freed in Drop (or below on failure).
        let shared = NonNull::from(Box::leak(shared));

        // SAFETY: a NULL state asks spandsp to allocate and initialise a fresh fax context.
        let raw = unsafe { sys::fax_init(std::ptr::null_mut(), options.calling_party) };
        let Some(state) = NonNull::new(raw) else {
            // SAFETY: `shared` came from Box::leak just above and nothing else refers to it.
            drop(unsafe { Box::from_raw(shared.as_ptr()) });
            return Err(FaxError::Init);
        };
        // SAFETY: `state` is the live context just created; the T.30 state is embedded in it, so
        // the returned pointer is non-NULL and lives exactly as long as `state`.
        let t30_raw = unsafe { sys::fax_get_t30_state(state.as_ptr()) };
        // From here on, `session` owns everything: an early return drops it, freeing both.
        let session = Self {
            state,
            t30: NonNull::new(t30_raw).unwrap_or_else(|| {
                unreachable!("fax_get_t30_state returns the embedded, non-NULL T.30 state")
            }),
            shared,
            scratch: [0; BLOCK_SAMPLES],
            receiving,
            path,
            outcome: None,
        };
        let t30 = session.t30.as_ptr();
        let user_data = session.shared.as_ptr().cast::<c_void>();
        // SAFETY: `shared` is exclusively owned by the session and not otherwise borrowed now.
        unsafe { (*session.shared.as_ptr()).t30 = t30 };
        // SAFETY: `state`/`t30` are live and exclusively owned. The strings are NUL-terminated
        // and spandsp copies them into its own fixed buffers (ident 21 bytes, header 51, file
        // names 256: lengths checked above), keeping no pointer to them. The callbacks are
        // `extern "C"` functions of the declared signatures; their user data is `shared`, which
        // outlives the state (Drop frees the state first). The bit sets are spandsp's constants.
        unsafe {
            sys::fax_set_transmit_on_idle(state.as_ptr(), 1);
            sys::fax_set_tep_mode(state.as_ptr(), 0);
            sys::t30_set_tx_ident(t30, ident.as_ptr());
            if let Some(header) = &header {
                sys::t30_set_tx_page_header_info(t30, header.as_ptr());
            }
            sys::t30_set_ecm_capability(t30, options.ecm);
            sys::t30_set_supported_modems(t30, modems);
            sys::t30_set_supported_compressions(t30, compressions);
            if receiving {
                // Keep what arrived of a cut page (marked partial) instead of discarding it.
                sys::t30_set_receive_recovery(t30, 1);
                sys::t30_set_supported_output_compressions(
                    t30,
                    sys::t4_image_compression_t_T4_COMPRESSION_T4_2D as c_int,
                );
                sys::t30_set_rx_file(t30, file.as_ptr(), -1);
            } else {
                sys::t30_set_tx_file(t30, file.as_ptr(), -1, -1);
            }
            sys::t30_set_phase_b_handler(t30, Some(on_phase_b), user_data);
            sys::t30_set_phase_d_handler(t30, Some(on_phase_d), user_data);
            sys::t30_set_phase_e_handler(t30, Some(on_phase_e), user_data);
            sys::t30_set_real_time_frame_handler(t30, Some(on_frame), user_data);
        }
        Ok(session)
    }

    /// Feeds received audio (linear, 8 kHz). Any length; processed in [`BLOCK_SAMPLES`] pieces.
    pub fn rx(&mut self, samples: &[i16]) {
        for chunk in samples.chunks(BLOCK_SAMPLES) {
            let scratch = &mut self.scratch[..chunk.len()];
            scratch.copy_from_slice(chunk);
            // SAFETY: `state` is live and exclusively ours (&mut self); spandsp reads and rewrites
            // exactly `len` samples of `scratch`, which holds that many; len <= 160 fits c_int.
            // Callbacks it runs touch only `shared`, which no Rust reference aliases during this.
            unsafe {
                sys::fax_rx(self.state.as_ptr(), scratch.as_mut_ptr(), scratch.len() as c_int);
            }
        }
    }

    /// Fills `out` with the audio to send (silence when there is nothing to send).
    pub fn tx(&mut self, out: &mut [i16]) {
        for chunk in out.chunks_mut(BLOCK_SAMPLES) {
            // SAFETY: `state` is live and exclusive; with transmit-on-idle set, spandsp writes
            // exactly `len` samples into `chunk` (zero-filling what it has no signal for), never
            // more; len <= 160 fits c_int. Callbacks touch only `shared`, as in `rx`.
            unsafe {
                sys::fax_tx(self.state.as_ptr(), chunk.as_mut_ptr(), chunk.len() as c_int);
            }
        }
    }

    /// The oldest event not yet taken.
    pub fn poll_event(&mut self) -> Option<FaxEvent> {
        self.shared_mut().pop()
    }

    /// Events lost because the ring was full when they happened.
    pub fn dropped_events(&self) -> u32 {
        self.shared().dropped_events
    }

    /// True until phase E (the far end disconnected, the procedure ended or failed).
    pub fn is_active(&self) -> bool {
        self.shared().result.is_none()
    }

    /// Phase E's result, once the session is over.
    pub fn result(&self) -> Option<FaxResult> {
        self.shared().result
    }

    /// The far end's station id (CSI or TSI), empty until phase B.
    pub fn remote_ident(&self) -> &str {
        let shared = self.shared();
        std::str::from_utf8(&shared.remote_ident[..shared.remote_ident_len]).unwrap_or("")
    }

    /// The image modem trained on (from the DCS frame), None before one was exchanged.
    pub fn modem(&self) -> Option<Modem> {
        self.shared().modem
    }

    /// The transfer's figures so far.
    pub fn stats(&mut self) -> FaxStats {
        read_stats(self.t30.as_ptr())
    }

    pub fn is_receiving(&self) -> bool {
        self.receiving
    }

    /// The document file (sent or being received).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Ends the session (the call is over, whatever state T.30 is in) and reports what became of
    /// the document. A session still active ends with "call dropped". The received file is
    /// closed, holding every page received (a cut page's received rows are kept, marked partial).
    /// Idempotent: later calls return the same outcome.
    pub fn finish(&mut self) -> FaxOutcome {
        if let Some(outcome) = self.outcome {
            return outcome;
        }
        let t30 = self.t30.as_ptr();
        if self.is_active() {
            // SAFETY: live, exclusive state; t30_terminate tidies up (closing the file) and runs
            // the phase E callback, which writes only `shared`.
            unsafe { sys::t30_terminate(t30) };
        }
        // Phase E normally reports this; a session that never got that far still needs a result.
        let result = self.shared().result.unwrap_or(FaxResult {
            code: FaxResult::CALL_DROPPED,
        });
        let stats = self.stats();
        let outcome = if self.receiving {
            // SAFETY: live, exclusive state. Finalising closes the output (if still open) and
            // runs no callback; afterwards the recovery inventory is read (by index within the
            // count spandsp reports, into a valid local struct).
            let (pages, partial) = unsafe {
                sys::t30_receive_finalize(t30);
                let count = sys::t30_receive_page_count(t30).max(0);
                let mut any_partial = sys::t30_receive_missing_tail(t30) != 0;
                for index in 0..count {
                    let mut page: sys::t4_rx_recovery_page_t = std::mem::zeroed();
                    if sys::t30_receive_page(t30, index, &mut page) == 0 && page.partial != 0 {
                        any_partial = true;
                    }
                }
                (u32::try_from(count).unwrap_or(0), any_partial)
            };
            FaxOutcome {
                result,
                stats,
                pages,
                partial: partial || !result.is_ok(),
            }
        } else {
            FaxOutcome {
                result,
                stats,
                pages: stats.pages_sent,
                partial: !result.is_ok(),
            }
        };
        self.outcome = Some(outcome);
        outcome
    }

    fn shared(&self) -> &Shared {
        // SAFETY: `shared` is live for the session's lifetime and only written by callbacks,
        // which run inside &mut self methods; under &self no callback can run.
        unsafe { self.shared.as_ref() }
    }

    fn shared_mut(&mut self) -> &mut Shared {
        // SAFETY: as in `shared`, and &mut self excludes every other access.
        unsafe { self.shared.as_mut() }
    }
}

impl Drop for FaxSession {
    fn drop(&mut self) {
        // SAFETY: `state` came from fax_init(NULL, ..) (spandsp allocated it) and is freed once,
        // here. fax_free releases T.30 (closing any open TIFF, without callbacks) before freeing.
        // The handlers are cleared first so that nothing can call back during the release.
        // `shared` is freed only afterwards: it came from Box::leak in `new`, is freed exactly
        // once, and nothing refers to it any more.
        unsafe {
            let t30 = self.t30.as_ptr();
            sys::t30_set_phase_b_handler(t30, None, std::ptr::null_mut());
            sys::t30_set_phase_d_handler(t30, None, std::ptr::null_mut());
            sys::t30_set_phase_e_handler(t30, None, std::ptr::null_mut());
            sys::t30_set_real_time_frame_handler(t30, None, std::ptr::null_mut());
            sys::fax_free(self.state.as_ptr());
            drop(Box::from_raw(self.shared.as_ptr()));
        }
    }
}

impl std::fmt::Debug for FaxSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaxSession")
            .field("receiving", &self.receiving)
            .field("path", &self.path)
            .field("result", &self.result())
            .finish_non_exhaustive()
    }
}
