//! Proves the spandsp FFI wrappers (src/dsp/spandsp.rs, src/dsp/fax.rs) are memory-clean: this binary re-runs its own
//! ignored workload test under valgrind and requires no invalid access, no uninitialised read and
//! no definite leak.

mod fax_pair;

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use telvox::dsp::dtmf_gen::{DtmfConfig, DtmfGenerator};
use telvox::dsp::g711;
use telvox::dsp::spandsp::{reference_g711_decode, reference_g711_encode, ReferenceG711, SpandspDtmfRx};
use telvox::hw::Law;

/// The test valgrind runs; it must match the function name below (`--exact`).
const WORKLOAD_TEST: &str = "ffi_workload_under_valgrind";

/// A deliberately leaking test, to prove the harness really catches a lost spandsp allocation.
const LEAK_CANARY_TEST: &str = "ffi_leak_canary";

/// Exit status valgrind uses when it found errors, distinct from a test failure (101).
const VALGRIND_ERROR_EXIT_CODE: i32 = 97;

/// Receivers created in the workload: enough to expose a per-instance leak or double free,
/// few enough to finish in seconds under valgrind's ~50x slowdown.
const RECEIVERS: usize = 100;

const BLOCK_SAMPLES: usize = 160;

fn find_valgrind() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("valgrind"))
        .find(|candidate| candidate.is_file())
}

/// Runs one test of this binary under valgrind; returns (exit code, stdout, stderr).
fn run_under_valgrind(test_name: &str) -> (Option<i32>, String, String) {
    let Some(valgrind) = find_valgrind() else {
        panic!("valgrind is not installed (not found on PATH): run ./install.sh, which installs it");
    };
    let this_test_binary = std::env::current_exe().expect("path of this test binary");
    let started = Instant::now();
    let output = Command::new(&valgrind)
        .arg(format!("--error-exitcode={VALGRIND_ERROR_EXIT_CODE}"))
        .args(["--leak-check=full", "--errors-for-leak-kinds=definite"])
        .arg(format!(
            "--suppressions={}/tests/valgrind-spandsp.supp",
            env!("CARGO_MANIFEST_DIR")
        ))
        .arg(&this_test_binary)
        .args(["--exact", test_name, "--include-ignored", "--test-threads=1"])
        .output()
        .expect("start valgrind");
    eprintln!(
        "valgrind run of {test_name} took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stdout, stderr)
}

#[test]
fn valgrind_finds_no_ffi_errors() {
    let (code, stdout, stderr) = run_under_valgrind(WORKLOAD_TEST);
    assert_eq!(
        code,
        Some(0),
        "valgrind reported errors ({VALGRIND_ERROR_EXIT_CODE} = memory errors or leaks)\n\
         --- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    );
    // Guard against a renamed workload: a filter matching nothing would also exit 0.
    assert!(
        stdout.contains("1 passed"),
        "the workload test did not run under valgrind:\n{stdout}"
    );
}

#[test]
fn valgrind_catches_a_leaked_receiver() {
    let (code, stdout, stderr) = run_under_valgrind(LEAK_CANARY_TEST);
    assert_eq!(
        code,
        Some(VALGRIND_ERROR_EXIT_CODE),
        "a leaked spandsp receiver went unnoticed\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    );
    assert!(stderr.contains("definitely lost"), "{stderr}");
}

#[test]
#[ignore = "run under valgrind by valgrind_catches_a_leaked_receiver; leaks on purpose"]
fn ffi_leak_canary() {
    for _ in 0..4 {
        std::mem::forget(SpandspDtmfRx::new().expect("dtmf rx"));
    }
}

#[test]
#[ignore = "run under valgrind by valgrind_finds_no_ffi_errors"]
fn ffi_workload_under_valgrind() {
    let keys = "0123456789*#ABCD";
    let audio = dtmf_audio(keys);
    for index in 0..RECEIVERS {
        let mut rx = SpandspDtmfRx::new().expect("dtmf rx");
        // Odd-sized pieces so spandsp's internal block boundary falls everywhere.
        for piece in audio.chunks(97 + index % 64) {
            rx.process(piece);
        }
        let detected: String = std::iter::from_fn(|| rx.take_digit()).collect();
        assert_eq!(detected, keys, "receiver {index}");
    }
    receiver_moves_between_threads(&audio, keys);
    reference_g711_matches_tables();
    for law in [Law::Alaw, Law::Ulaw] {
        for _ in 0..RECEIVERS {
            drop(ReferenceG711::new(law).expect("g711"));
        }
    }
    mapped_prompts_read_cleanly();
    fax_sessions_run_cleanly();
    dahdi_ioctls_pass_defined_memory();
}

/// The DAHDI ioctl wrappers (src/hw/dahdi/sys.rs) without a driver: every request goes to an fd that
/// is not a DAHDI device and fails (ENOTTY), but valgrind checks each call's argument against the
/// size and direction encoded in its request number: memory the driver would read must be
/// addressable and initialised, memory it would write addressable. (The real driver's run is
/// tests/dahdi-vm's.)
fn dahdi_ioctls_pass_defined_memory() {
    use std::os::fd::AsFd;
    use telvox::hw::dahdi::sys;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .expect("/dev/null");
    let fd = file.as_fd();
    let not_dahdi = |result: Result<(), nix::Error>| assert_eq!(result, Err(nix::Error::ENOTTY));
    not_dahdi(sys::specify(fd, 1));
    not_dahdi(sys::set_blocksize(fd, 160));
    not_dahdi(sys::set_bufinfo(fd, sys::POLICY_IMMEDIATE, 4, 160));
    not_dahdi(sys::get_params(fd, 1).map(drop));
    not_dahdi(sys::get_event(fd).map(drop));
    not_dahdi(sys::hook(fd, sys::HOOK_OFFHOOK));
    not_dahdi(sys::set_txbits(fd, 0xf));
    not_dahdi(sys::get_rxbits(fd).map(drop));
    not_dahdi(sys::flush(fd));
    not_dahdi(sys::buffer_events(fd, true));
    not_dahdi(sys::echocancel(fd, 128));
    not_dahdi(sys::spanstat(fd, 1).map(drop));
    let mut dial = sys::DialRequest::new();
    dial.set(false, b"1234#");
    not_dahdi(dial.send(fd));
    let flat: [u8; 256] = std::array::from_fn(|i| i as u8);
    not_dahdi(sys::Gains::new(&flat, &flat).send(fd));
}

/// The T.30 wrapper: a whole 2-page transfer, one cut off mid-document (terminated from outside,
/// callbacks still firing), a session dropped mid-call without `finish`, one never started, and one
/// whose document is missing. Short pages keep valgrind's run to seconds.
fn fax_sessions_run_cleanly() {
    use telvox::dsp::fax::{FaxJob, FaxSession};
    let dir = tempfile::Builder::new()
        .prefix("fax-valgrind-")
        .tempdir()
        .expect("tmp");
    let doc = dir.path().join("doc.tif");
    fax_pair::make_document(&doc, 2, 400);
    let sender = fax_pair::options("VALGRIND TX", true);
    let receiver = fax_pair::options("VALGRIND RX", false);
    let received = dir.path().join("whole.tif");
    let run = fax_pair::run_pair(
        &doc,
        &received,
        &sender,
        &receiver,
        Some(Law::Alaw),
        20_000,
        |_, _| false,
    );
    assert!(run.receiver.result.is_ok(), "{}", run.receiver.result);
    assert_eq!(run.receiver.pages, 2);
    assert_eq!(fax_pair::bitmaps(&received), fax_pair::bitmaps(&doc));

    let cut = dir.path().join("cut.tif");
    let cut_at = run.blocks * 2 / 3;
    let run = fax_pair::run_pair(&doc, &cut, &sender, &receiver, Some(Law::Alaw), 20_000, |_, b| {
        b >= cut_at
    });
    assert!(run.receiver.result.is_call_dropped(), "{}", run.receiver.result);
    assert!(run.receiver.partial);

    let mut tx = FaxSession::new(FaxJob::Send(doc.clone()), &sender).expect("tx");
    let mut rx = FaxSession::new(FaxJob::Receive(dir.path().join("dropped.tif")), &receiver).expect("rx");
    let (mut a, mut b) = ([0i16; 160], [0i16; 160]);
    for _ in 0..400 {
        tx.tx(&mut a);
        rx.tx(&mut b);
        rx.rx(&a);
        tx.rx(&b);
    }
    assert!(rx.is_active(), "still mid-transfer when dropped");
    drop((tx, rx));
    drop(FaxSession::new(FaxJob::Receive(dir.path().join("never.tif")), &receiver).expect("idle"));
    assert!(FaxSession::new(FaxJob::Send(dir.path().join("missing.tif")), &sender).is_err());
}

/// The other `unsafe` outside spandsp: memmap2's map of the prompt files. Every prompt is read
/// end to end, at odd offsets and past its end, from several threads, then unmapped.
fn mapped_prompts_read_cleanly() {
    let voice_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("voice");
    let voice = std::sync::Arc::new(telvox::voice::Voice::load(&voice_dir).expect("prompts"));
    let readers: Vec<_> = (0..3)
        .map(|t| {
            let voice = voice.clone();
            std::thread::spawn(move || {
                let mut out = [0i16; 97];
                let mut total = 0usize;
                for language in voice.languages() {
                    let set = voice.set(language).expect("set");
                    for name in set.names() {
                        let prompt = set.get(name).expect("prompt");
                        let mut offset = t;
                        loop {
                            let got = prompt.read_linear(offset, &mut out);
                            if got == 0 {
                                break;
                            }
                            total += got;
                            offset += got;
                        }
                        assert_eq!(prompt.read_linear(prompt.len_samples() + 5, &mut out), 0);
                    }
                }
                total
            })
        })
        .collect();
    for r in readers {
        assert!(r.join().expect("reader") > 0);
    }
}

fn dtmf_audio(keys: &str) -> Vec<i16> {
    let mut generator = DtmfGenerator::new(DtmfConfig::new(Law::Alaw)).expect("generator");
    generator.queue(keys).expect("queue");
    let mut audio = Vec::new();
    let mut block = [0i16; BLOCK_SAMPLES];
    // Keys plus a few blocks of trailing silence for the receiver to confirm the last key.
    let mut trailing_blocks = 4;
    while trailing_blocks > 0 {
        if !generator.fill(&mut block) {
            trailing_blocks -= 1;
        }
        audio.extend_from_slice(&block);
    }
    audio
}

fn receiver_moves_between_threads(audio: &[i16], keys: &str) {
    let mut rx = SpandspDtmfRx::new().expect("dtmf rx");
    let (first, second) = audio.split_at(audio.len() / 2);
    rx.process(first);
    let second = second.to_vec();
    let mut rx = std::thread::spawn(move || {
        rx.process(&second);
        rx
    })
    .join()
    .expect("thread");
    let detected: String = std::iter::from_fn(|| rx.take_digit()).collect();
    assert_eq!(detected, keys);
}

fn reference_g711_matches_tables() {
    let samples: Vec<i16> = (i16::MIN..=i16::MAX).collect();
    let codes: Vec<u8> = (0..=u8::MAX).collect();
    for law in [Law::Alaw, Law::Ulaw] {
        let encoded = reference_g711_encode(law, &samples).expect("encode");
        assert!(samples
            .iter()
            .zip(&encoded)
            .all(|(&s, &c)| g711::encode(law, s) == c));
        let decoded = reference_g711_decode(law, &codes).expect("decode");
        assert!(codes
            .iter()
            .zip(&decoded)
            .all(|(&c, &s)| g711::decode(law, c) == s));
    }
}
