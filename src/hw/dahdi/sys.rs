//! The DAHDI user ABI: the header's structs (bindgen, build.rs), its ioctls (nix's macros) and safe
//! wrappers around each. All of telvox's DAHDI `unsafe` lives in this file; every block says why it is
//! sound. The numbers are the header's (dahdi/user.h); `tests::abi_matches_the_header` checks each
//! request code and struct size against a C shim compiled against that header.

mod bindings {
    #![allow(non_camel_case_types, non_snake_case, non_upper_case_globals, dead_code)]
    #![allow(clippy::all, unsafe_op_in_unsafe_fn)]
    include!(concat!(env!("OUT_DIR"), "/dahdi_sys.rs"));
}

pub use bindings::{
    dahdi_bufferinfo, dahdi_dialoperation, dahdi_echocanparam, dahdi_echocanparams, dahdi_gains,
    dahdi_params, dahdi_spaninfo,
};

use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::raw::{c_char, c_int};

use nix::errno::Errno;

/// `DAHDI_CODE`: the ioctl type byte of every DAHDI request.
pub const DAHDI_CODE: u8 = 0xDA;
/// `ELAST`: the errno a read or write returns when a signalling event is pending.
pub const ELAST: i32 = 500;

// Request numbers (the second argument of _IOW/_IOR/_IOWR in dahdi/user.h).
pub const NR_SET_BLOCKSIZE: u8 = 1;
pub const NR_FLUSH: u8 = 3;
pub const NR_PARAMS: u8 = 5;
pub const NR_HOOK: u8 = 7;
pub const NR_GETEVENT: u8 = 8;
pub const NR_SPANSTAT: u8 = 10;
pub const NR_GAINS: u8 = 16;
pub const NR_BUFINFO: u8 = 27;
pub const NR_DIAL: u8 = 31;
pub const NR_ECHOCANCEL: u8 = 33;
pub const NR_SPECIFY: u8 = 38;
pub const NR_BITS: u8 = 43;
pub const NR_BUFFER_EVENTS: u8 = 105;

// Events (DAHDI_EVENT_*).
pub const EVENT_NONE: i32 = 0;
pub const EVENT_ONHOOK: i32 = 1;
pub const EVENT_RINGOFFHOOK: i32 = 2;
pub const EVENT_WINKFLASH: i32 = 3;
pub const EVENT_ALARM: i32 = 4;
pub const EVENT_NOALARM: i32 = 5;
pub const EVENT_DIALCOMPLETE: i32 = 9;
pub const EVENT_RINGERON: i32 = 10;
pub const EVENT_RINGEROFF: i32 = 11;
pub const EVENT_HOOKCOMPLETE: i32 = 12;
pub const EVENT_BITSCHANGED: i32 = 13;
pub const EVENT_POLARITY: i32 = 17;
pub const EVENT_RINGBEGIN: i32 = 18;
pub const EVENT_REMOVED: i32 = 20;
pub const EVENT_READ_OVERRUN: i32 = 29;
pub const EVENT_WRITE_UNDERRUN: i32 = 30;

// DAHDI_HOOK operations.
pub const HOOK_ONHOOK: i32 = 0;
pub const HOOK_OFFHOOK: i32 = 1;
pub const HOOK_WINK: i32 = 2;
pub const HOOK_FLASH: i32 = 3;
pub const HOOK_START: i32 = 4;
pub const HOOK_RING: i32 = 5;
pub const HOOK_RINGOFF: i32 = 6;

// Signalling types (dahdi_params.sigtype).
pub const SIG_NONE: i32 = 0;
pub const SIG_FXSLS: i32 = 0x2001;
pub const SIG_FXSGS: i32 = 0x2002;
pub const SIG_FXSKS: i32 = 0x2004;
pub const SIG_FXOLS: i32 = 0x1008;
pub const SIG_FXOGS: i32 = 0x1010;
pub const SIG_FXOKS: i32 = 0x1020;
pub const SIG_EM: i32 = 0x40;
pub const SIG_CLEAR: i32 = 0x80;
pub const SIG_HDLCFCS: i32 = 0x380;
pub const SIG_CAS: i32 = 0x8000;
pub const SIG_EM_E1: i32 = 0x20000;

// Alarm bits (dahdi_spaninfo.alarms, dahdi_params.chan_alarms).
pub const ALARM_LOOPBACK: i32 = 1 << 1;
pub const ALARM_YELLOW: i32 = 1 << 2;
pub const ALARM_RED: i32 = 1 << 3;
pub const ALARM_BLUE: i32 = 1 << 4;
pub const ALARM_NOTOPEN: i32 = 1 << 5;

pub const LAW_MULAW: i32 = 1;
pub const LAW_ALAW: i32 = 2;

pub const POLICY_IMMEDIATE: i32 = 0;
pub const POLICY_WHEN_FULL: i32 = 1;
pub const POLICY_HALF_FULL: i32 = 2;

pub const DIAL_OP_REPLACE: i32 = 2;
pub const FLUSH_BOTH: i32 = 3;

/// Echo-canceller parameters the driver may take after the header; telvox sends none.
pub const MAX_ECHOCAN_PARAMS: usize = 8;

nix::ioctl_write_ptr!(ioc_set_blocksize, DAHDI_CODE, NR_SET_BLOCKSIZE, c_int);
nix::ioctl_write_ptr!(ioc_flush, DAHDI_CODE, NR_FLUSH, c_int);
nix::ioctl_readwrite!(ioc_get_params, DAHDI_CODE, NR_PARAMS, dahdi_params);
nix::ioctl_write_ptr!(ioc_hook, DAHDI_CODE, NR_HOOK, c_int);
nix::ioctl_read!(ioc_getevent, DAHDI_CODE, NR_GETEVENT, c_int);
nix::ioctl_readwrite!(ioc_spanstat, DAHDI_CODE, NR_SPANSTAT, dahdi_spaninfo);
nix::ioctl_write_ptr!(ioc_setgains, DAHDI_CODE, NR_GAINS, dahdi_gains);
nix::ioctl_write_ptr!(ioc_set_bufinfo, DAHDI_CODE, NR_BUFINFO, dahdi_bufferinfo);
nix::ioctl_write_ptr!(ioc_dial, DAHDI_CODE, NR_DIAL, dahdi_dialoperation);
nix::ioctl_write_ptr!(
    ioc_echocancel_params,
    DAHDI_CODE,
    NR_ECHOCANCEL,
    dahdi_echocanparams
);
nix::ioctl_write_ptr!(ioc_specify, DAHDI_CODE, NR_SPECIFY, c_int);
nix::ioctl_write_ptr!(ioc_settxbits, DAHDI_CODE, NR_BITS, c_int);
nix::ioctl_read!(ioc_getrxbits, DAHDI_CODE, NR_BITS, c_int);
nix::ioctl_write_ptr!(ioc_buffer_events, DAHDI_CODE, NR_BUFFER_EVENTS, c_int);

/// The request codes telvox issues, as nix computes them: (header name, code, argument size).
pub fn requests() -> [(&'static str, u64, usize); 14] {
    use std::mem::size_of;
    let int = size_of::<c_int>();
    [
        (
            "DAHDI_SPECIFY",
            nix::request_code_write!(DAHDI_CODE, NR_SPECIFY, int) as u64,
            int,
        ),
        (
            "DAHDI_SET_BLOCKSIZE",
            nix::request_code_write!(DAHDI_CODE, NR_SET_BLOCKSIZE, int) as u64,
            int,
        ),
        (
            "DAHDI_GET_PARAMS",
            nix::request_code_readwrite!(DAHDI_CODE, NR_PARAMS, size_of::<dahdi_params>()) as u64,
            size_of::<dahdi_params>(),
        ),
        (
            "DAHDI_SET_BUFINFO",
            nix::request_code_write!(DAHDI_CODE, NR_BUFINFO, size_of::<dahdi_bufferinfo>()) as u64,
            size_of::<dahdi_bufferinfo>(),
        ),
        (
            "DAHDI_GETEVENT",
            nix::request_code_read!(DAHDI_CODE, NR_GETEVENT, int) as u64,
            int,
        ),
        (
            "DAHDI_HOOK",
            nix::request_code_write!(DAHDI_CODE, NR_HOOK, int) as u64,
            int,
        ),
        (
            "DAHDI_DIAL",
            nix::request_code_write!(DAHDI_CODE, NR_DIAL, size_of::<dahdi_dialoperation>()) as u64,
            size_of::<dahdi_dialoperation>(),
        ),
        (
            "DAHDI_SETTXBITS",
            nix::request_code_write!(DAHDI_CODE, NR_BITS, int) as u64,
            int,
        ),
        (
            "DAHDI_GETRXBITS",
            nix::request_code_read!(DAHDI_CODE, NR_BITS, int) as u64,
            int,
        ),
        (
            "DAHDI_SETGAINS",
            nix::request_code_write!(DAHDI_CODE, NR_GAINS, size_of::<dahdi_gains>()) as u64,
            size_of::<dahdi_gains>(),
        ),
        (
            "DAHDI_ECHOCANCEL_PARAMS",
            nix::request_code_write!(DAHDI_CODE, NR_ECHOCANCEL, size_of::<dahdi_echocanparams>()) as u64,
            size_of::<dahdi_echocanparams>(),
        ),
        (
            "DAHDI_SPANSTAT",
            nix::request_code_readwrite!(DAHDI_CODE, NR_SPANSTAT, size_of::<dahdi_spaninfo>()) as u64,
            size_of::<dahdi_spaninfo>(),
        ),
        (
            "DAHDI_FLUSH",
            nix::request_code_write!(DAHDI_CODE, NR_FLUSH, int) as u64,
            int,
        ),
        (
            "DAHDI_BUFFER_EVENTS",
            nix::request_code_write!(DAHDI_CODE, NR_BUFFER_EVENTS, int) as u64,
            int,
        ),
    ]
}

/// A C `char` array as text, up to its first NUL (lossy: drivers write ASCII).
pub fn c_text(chars: &[c_char]) -> String {
    let bytes: Vec<u8> = chars.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// DAHDI_SPECIFY: binds an fd opened on /dev/dahdi/channel to channel `channo`.
pub fn specify(fd: BorrowedFd, channo: i32) -> nix::Result<()> {
    // SAFETY: the fd is open for the borrow's lifetime; the pointer is to a live c_int the driver
    // only reads (_IOW, sizeof(int)).
    unsafe { ioc_specify(fd.as_raw_fd(), &channo) }.map(drop)
}

/// DAHDI_SET_BLOCKSIZE: bytes per read/write block.
pub fn set_blocksize(fd: BorrowedFd, bytes: i32) -> nix::Result<()> {
    // SAFETY: as in `specify`: a live c_int the driver only reads.
    unsafe { ioc_set_blocksize(fd.as_raw_fd(), &bytes) }.map(drop)
}

/// DAHDI_FLUSH with DAHDI_FLUSH_BOTH: drops queued read and write buffers.
pub fn flush(fd: BorrowedFd) -> nix::Result<()> {
    let what = FLUSH_BOTH;
    // SAFETY: as in `specify`: a live c_int the driver only reads.
    unsafe { ioc_flush(fd.as_raw_fd(), &what) }.map(drop)
}

/// DAHDI_BUFFER_EVENTS: with `on`, the driver queues DAHDI_EVENT_WRITE_UNDERRUN once per transmit
/// underrun (and READ_OVERRUN), so telvox can count them.
pub fn buffer_events(fd: BorrowedFd, on: bool) -> nix::Result<()> {
    let value = c_int::from(on);
    // SAFETY: a live c_int the driver only reads.
    unsafe { ioc_buffer_events(fd.as_raw_fd(), &value) }.map(drop)
}

/// DAHDI_GET_PARAMS for `channo` (0 = the channel this fd is bound to).
pub fn get_params(fd: BorrowedFd, channo: i32) -> nix::Result<dahdi_params> {
    let mut params = dahdi_params {
        channo,
        ..Default::default()
    };
    // SAFETY: `params` is a properly sized and aligned dahdi_params (bindgen from the header, size
    // checked by the ABI test) that lives across the call; the driver reads channo and fills it.
    unsafe { ioc_get_params(fd.as_raw_fd(), &mut params) }?;
    Ok(params)
}

/// DAHDI_SET_BUFINFO: buffer policy and count, `bufsize` bytes each.
pub fn set_bufinfo(fd: BorrowedFd, policy: i32, numbufs: i32, bufsize: i32) -> nix::Result<()> {
    let info = dahdi_bufferinfo {
        txbufpolicy: policy,
        rxbufpolicy: POLICY_IMMEDIATE,
        numbufs,
        bufsize,
        ..Default::default()
    };
    // SAFETY: a live, header-sized dahdi_bufferinfo the driver only reads.
    unsafe { ioc_set_bufinfo(fd.as_raw_fd(), &info) }.map(drop)
}

/// DAHDI_GETEVENT: the next pending event (EVENT_NONE when none).
pub fn get_event(fd: BorrowedFd) -> nix::Result<i32> {
    let mut event: c_int = 0;
    // SAFETY: a live c_int the driver writes (_IOR, sizeof(int)).
    unsafe { ioc_getevent(fd.as_raw_fd(), &mut event) }?;
    Ok(event)
}

/// DAHDI_HOOK with one of the HOOK_* operations. On a non-blocking fd RING/START/WINK/FLASH
/// return EINPROGRESS: accepted, HOOKCOMPLETE follows (the caller decides).
pub fn hook(fd: BorrowedFd, op: i32) -> nix::Result<()> {
    // SAFETY: a live c_int the driver only reads.
    unsafe { ioc_hook(fd.as_raw_fd(), &op) }.map(drop)
}

/// DAHDI_SETTXBITS: the transmitted CAS ABCD bits (low nibble).
pub fn set_txbits(fd: BorrowedFd, bits: i32) -> nix::Result<()> {
    // SAFETY: a live c_int the driver only reads.
    unsafe { ioc_settxbits(fd.as_raw_fd(), &bits) }.map(drop)
}

/// DAHDI_GETRXBITS: the received CAS bits, unmasked (the caller masks to the nibble).
pub fn get_rxbits(fd: BorrowedFd) -> nix::Result<i32> {
    let mut bits: c_int = 0;
    // SAFETY: a live c_int the driver writes.
    unsafe { ioc_getrxbits(fd.as_raw_fd(), &mut bits) }?;
    Ok(bits)
}

/// A DAHDI_DIAL request, allocated once per channel so dialling on the channel thread allocates
/// nothing.
pub struct DialRequest(Box<dahdi_dialoperation>);

impl Default for DialRequest {
    fn default() -> Self {
        Self::new()
    }
}

impl DialRequest {
    pub fn new() -> Self {
        DialRequest(Box::default())
    }

    /// Fills the dial string: `T` (DTMF) or `P` (pulse), then `digits`, cut to what the driver takes.
    pub fn set(&mut self, pulse: bool, digits: &[u8]) {
        let op = &mut *self.0;
        op.op = DIAL_OP_REPLACE;
        op.dialstr.fill(0);
        op.dialstr[0] = if pulse { b'P' } else { b'T' } as c_char;
        let room = op.dialstr.len() - 2; // the prefix and the terminating NUL
        for (slot, &digit) in op.dialstr[1..].iter_mut().zip(digits.iter().take(room)) {
            *slot = digit as c_char;
        }
    }

    /// The dial string as the driver will see it.
    pub fn text(&self) -> String {
        c_text(&self.0.dialstr)
    }

    /// DAHDI_DIAL.
    pub fn send(&self, fd: BorrowedFd) -> nix::Result<()> {
        // SAFETY: a live, header-sized dahdi_dialoperation with a NUL-terminated dialstr (`set`
        // keeps the last byte 0), which the driver only reads.
        unsafe { ioc_dial(fd.as_raw_fd(), &*self.0) }.map(drop)
    }
}

/// DAHDI_SETGAINS tables for the channel the fd is bound to (chan 0 = this channel).
pub struct Gains(Box<dahdi_gains>);

impl Gains {
    /// Tables mapping every G.711 code to its code after `rx`/`tx` gain (already computed).
    pub fn new(rxgain: &[u8; 256], txgain: &[u8; 256]) -> Self {
        let mut gains: Box<dahdi_gains> = Box::default();
        gains.chan = 0;
        gains.rxgain.copy_from_slice(rxgain);
        gains.txgain.copy_from_slice(txgain);
        Gains(gains)
    }

    pub fn send(&self, fd: BorrowedFd) -> nix::Result<()> {
        // SAFETY: a live, header-sized dahdi_gains the driver only reads.
        unsafe { ioc_setgains(fd.as_raw_fd(), &*self.0) }.map(drop)
    }
}

/// The header of DAHDI_ECHOCANCEL_PARAMS followed by room for its parameter array, as the driver
/// reads it (it copies `param_count` entries from just after the header).
#[repr(C)]
#[derive(Default)]
struct EchoCanRequest {
    header: dahdi_echocanparams,
    params: [dahdi_echocanparam; MAX_ECHOCAN_PARAMS],
}

/// DAHDI_ECHOCANCEL_PARAMS: `taps` = 0 turns the channel's echo canceller off; otherwise on with
/// that tail (8 taps per millisecond), no extra parameters.
pub fn echocancel(fd: BorrowedFd, taps: u32) -> nix::Result<()> {
    let request = EchoCanRequest {
        header: dahdi_echocanparams {
            tap_length: taps,
            param_count: 0,
            ..Default::default()
        },
        ..Default::default()
    };
    // SAFETY: `request` starts with a dahdi_echocanparams (repr(C), first field) and is followed by
    // MAX_ECHOCAN_PARAMS parameter slots, more than the param_count (0) the driver reads after it;
    // it lives across the call and the driver only reads it.
    unsafe { ioc_echocancel_params(fd.as_raw_fd(), &request.header) }.map(drop)
}

/// What DAHDI_SPANSTAT reports about one span, copied out of the packed struct.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpanStat {
    pub spanno: i32,
    pub name: String,
    pub desc: String,
    pub alarms: i32,
    pub bpvcount: i32,
    pub crc4count: i32,
    pub ebitcount: i32,
    pub fascount: i32,
    pub fecount: u32,
    pub cvcount: u32,
    pub becount: u32,
    pub errsec: u32,
    pub irqmisses: i32,
    pub numchans: i32,
    pub totalchans: i32,
    pub totalspans: i32,
    pub lineconfig: i32,
    pub spantype: String,
    pub manufacturer: String,
    pub devicetype: String,
}

/// DAHDI_SPANSTAT for span `spanno` (1-based), on any DAHDI fd (usually /dev/dahdi/ctl).
pub fn spanstat(fd: BorrowedFd, spanno: i32) -> nix::Result<SpanStat> {
    let mut info = dahdi_spaninfo {
        spanno,
        ..Default::default()
    };
    // SAFETY: `info` is a header-sized dahdi_spaninfo (checked by the ABI test) living across the
    // call; the driver reads spanno and fills the struct.
    unsafe { ioc_spanstat(fd.as_raw_fd(), &mut info) }?;
    // Fields of a packed struct are copied out by value, never referenced in place.
    let (name, desc, spantype) = (info.name, info.desc, info.spantype);
    let (manufacturer, devicetype) = (info.manufacturer, info.devicetype);
    Ok(SpanStat {
        spanno: info.spanno,
        name: c_text(&name),
        desc: c_text(&desc),
        alarms: info.alarms,
        bpvcount: info.bpvcount,
        crc4count: info.crc4count,
        ebitcount: info.ebitcount,
        fascount: info.fascount,
        fecount: info.fecount,
        cvcount: info.cvcount,
        becount: info.becount,
        errsec: info.errsec,
        irqmisses: info.irqmisses,
        numchans: info.numchans,
        totalchans: info.totalchans,
        totalspans: info.totalspans,
        lineconfig: info.lineconfig,
        spantype: c_text(&spantype),
        manufacturer: c_text(&manufacturer),
        devicetype: c_text(&devicetype),
    })
}

/// Whether a failed read/write on a channel was DAHDI's ELAST (an event is pending). nix knows no
/// errno 500: it reports it as `UnknownErrno` (0), so the raw errno the call left is what tells.
/// Call it right after the failed call, before anything else can set errno.
pub fn is_elast(err: Errno) -> bool {
    err as i32 == ELAST || (err == Errno::UnknownErrno && Errno::last_raw() == ELAST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elast_is_recognised_although_nix_has_no_name_for_it() {
        // What nix hands back for a read() that failed with errno 500.
        Errno::set_raw(ELAST);
        let err = Errno::last();
        assert_eq!(err, Errno::UnknownErrno);
        assert!(is_elast(err));
        Errno::set_raw(libc::EAGAIN);
        assert!(!is_elast(Errno::last()));
    }

    extern "C" {
        fn telvox_dahdi_request(which: c_int) -> std::os::raw::c_ulong;
        fn telvox_dahdi_sizeof(which: c_int) -> std::os::raw::c_ulong;
        fn telvox_dahdi_const(which: c_int) -> std::os::raw::c_long;
    }

    fn header_request(which: i32) -> u64 {
        // SAFETY: a pure C function of an int (src/hw/dahdi/shim.c), no pointers.
        #[allow(clippy::useless_conversion)] // c_ulong is u32 on 32-bit targets
        u64::from(unsafe { telvox_dahdi_request(which) })
    }

    fn header_sizeof(which: i32) -> usize {
        // SAFETY: as above.
        unsafe { telvox_dahdi_sizeof(which) as usize }
    }

    fn header_const(which: i32) -> i64 {
        // SAFETY: as above.
        #[allow(clippy::useless_conversion)] // c_long is i32 on 32-bit targets
        i64::from(unsafe { telvox_dahdi_const(which) })
    }

    #[test]
    fn abi_matches_the_header() {
        for (which, (name, code, _)) in requests().iter().enumerate() {
            assert_eq!(
                *code,
                header_request(which as i32),
                "{name}: nix's request code vs the header's"
            );
        }
        use std::mem::size_of;
        let sizes = [
            ("struct dahdi_params", size_of::<dahdi_params>()),
            ("struct dahdi_bufferinfo", size_of::<dahdi_bufferinfo>()),
            ("struct dahdi_gains", size_of::<dahdi_gains>()),
            ("struct dahdi_spaninfo", size_of::<dahdi_spaninfo>()),
            ("struct dahdi_echocanparams", size_of::<dahdi_echocanparams>()),
            ("struct dahdi_echocanparam", size_of::<dahdi_echocanparam>()),
            ("struct dahdi_dialoperation", size_of::<dahdi_dialoperation>()),
        ];
        for (which, (name, size)) in sizes.iter().enumerate() {
            assert_eq!(*size, header_sizeof(which as i32), "sizeof({name})");
        }
        // The echo-canceller request's parameters follow the header without padding.
        assert_eq!(
            std::mem::offset_of!(EchoCanRequest, params),
            size_of::<dahdi_echocanparams>()
        );
    }

    #[test]
    fn constants_match_the_header() {
        let ours: [i64; 46] = [
            EVENT_ONHOOK,
            EVENT_RINGOFFHOOK,
            EVENT_WINKFLASH,
            EVENT_ALARM,
            EVENT_NOALARM,
            EVENT_DIALCOMPLETE,
            EVENT_RINGERON,
            EVENT_RINGEROFF,
            EVENT_HOOKCOMPLETE,
            EVENT_BITSCHANGED,
            EVENT_POLARITY,
            EVENT_RINGBEGIN,
            HOOK_ONHOOK,
            HOOK_OFFHOOK,
            HOOK_WINK,
            HOOK_FLASH,
            HOOK_START,
            HOOK_RING,
            HOOK_RINGOFF,
            SIG_FXSLS,
            SIG_FXSKS,
            SIG_FXOLS,
            SIG_FXOKS,
            SIG_EM,
            SIG_CLEAR,
            SIG_CAS,
            ALARM_LOOPBACK,
            ALARM_YELLOW,
            ALARM_RED,
            ALARM_BLUE,
            ALARM_NOTOPEN,
            LAW_MULAW,
            LAW_ALAW,
            POLICY_IMMEDIATE,
            POLICY_WHEN_FULL,
            POLICY_HALF_FULL,
            DIAL_OP_REPLACE,
            ELAST,
            SIG_FXSGS,
            SIG_FXOGS,
            SIG_HDLCFCS,
            FLUSH_BOTH,
            SIG_EM_E1,
            EVENT_REMOVED,
            EVENT_READ_OVERRUN,
            EVENT_WRITE_UNDERRUN,
        ]
        .map(i64::from);
        for (which, value) in ours.iter().enumerate() {
            assert_eq!(
                *value,
                header_const(which as i32),
                "constant #{which} (see shim.c)"
            );
        }
    }

    /// The values NOTES.md recorded from the real header on x86_64, so a header that drifted (or a
    /// shim that lies) is caught too.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn request_codes_are_the_known_x86_64_values() {
        let known: &[(&str, u64)] = &[
            ("DAHDI_SPECIFY", 0x4004da26),
            ("DAHDI_SET_BLOCKSIZE", 0x4004da01),
            ("DAHDI_GET_PARAMS", 0xc088da05),
            ("DAHDI_SET_BUFINFO", 0x4018da1b),
            ("DAHDI_GETEVENT", 0x8004da08),
            ("DAHDI_SETTXBITS", 0x4004da2b),
            ("DAHDI_GETRXBITS", 0x8004da2b),
        ];
        let ours = requests();
        for (name, code) in known {
            let found = ours.iter().find(|(n, _, _)| n == name).expect(name);
            assert_eq!(found.1, *code, "{name}");
        }
        assert_eq!(std::mem::size_of::<dahdi_params>(), 136);
    }

    #[test]
    fn dial_string_is_prefixed_and_bounded() {
        let mut dial = DialRequest::new();
        dial.set(false, b"1234");
        assert_eq!(dial.text(), "T1234");
        dial.set(true, b"9");
        assert_eq!(dial.text(), "P9");
        dial.set(false, &[b'5'; 400]);
        assert_eq!(dial.text().len(), 255);
    }
}
