//! The extension line's per-block path allocates nothing once the line is built: a phone lifted,
//! dial tone, digits dialled, the call offered, talking, flash, on-hook, and VMWI on and off sent
//! on-hook — checked with the allocation-counter crate's counting allocator. (Ringing a phone makes
//! its caller-ID burst at call setup, which may allocate, as an offered call's app does.)

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use telvox::dsp::callerid::FskStandard;
use telvox::dsp::dtmf::DtmfRxConfig;
use telvox::dsp::dtmf_gen::{keys_to_blocks, DtmfConfig};
use telvox::dsp::tones::Country;
use telvox::engine::line::extension::{Extension, ExtensionLine};
use telvox::fixed::Number;
use telvox::hw::{
    Block, ChanEvent, ChanId, Channel, Control, HwError, Law, ReadOutcome, Role, Signalling, BLOCK_SAMPLES,
};

const LAW: Law = Law::Alaw;

/// A channel that plays a fixed script and keeps nothing.
struct Script {
    reads: Vec<(ReadOutcome, Block)>,
    next: usize,
    written: usize,
}

impl Channel for Script {
    fn id(&self) -> ChanId {
        ChanId { span: 2, chan: 1 }
    }
    fn law(&self) -> Law {
        LAW
    }
    fn role(&self) -> Role {
        Role::Extension
    }
    fn read(&mut self, block: &mut Block) -> Result<ReadOutcome, HwError> {
        let Some((outcome, audio)) = self.reads.get(self.next) else {
            return Ok(ReadOutcome::Closed);
        };
        self.next += 1;
        *block = *audio;
        Ok(*outcome)
    }
    fn write(&mut self, _block: &Block) -> Result<(), HwError> {
        self.written += 1;
        Ok(())
    }
    fn control(&mut self, _control: Control) -> Result<(), HwError> {
        Ok(())
    }
}

#[test]
fn the_per_block_path_does_not_allocate() {
    let silence = [LAW.silence_byte(); BLOCK_SAMPLES];
    let mut reads = Vec::new();
    let quiet = |reads: &mut Vec<(ReadOutcome, Block)>, n: usize| {
        reads.extend(std::iter::repeat((ReadOutcome::Audio, silence)).take(n))
    };
    quiet(&mut reads, 100); // on-hook: VMWI on is sent here
    reads.push((ReadOutcome::Event(ChanEvent::OffHook), silence));
    quiet(&mut reads, 60);
    for block in keys_to_blocks(DtmfConfig::new(LAW), "8000").unwrap() {
        reads.push((ReadOutcome::Audio, block));
    }
    quiet(&mut reads, 100);
    reads.push((ReadOutcome::Event(ChanEvent::Flash), silence));
    quiet(&mut reads, 10);
    reads.push((ReadOutcome::Event(ChanEvent::OnHook), silence));
    quiet(&mut reads, 200); // VMWI off
    let messages = Arc::new(AtomicU32::new(1));
    let line = ExtensionLine {
        number: Number::from_str_truncating("601"),
        messages: messages.clone(),
        exact_numbers: Arc::new(arc_swap::ArcSwap::from_pointee(vec![
            Number::from_str_truncating("8000"),
        ])),
        fsk: FskStandard::V23,
        dtmf: DtmfRxConfig::for_law(LAW),
        utc_offset_s: 0,
    };
    let chan = Script {
        reads,
        next: 0,
        written: 0,
    };
    // arc-swap gives a thread a node of its own on the thread's first load, once (the engine's
    // router does such a load at a channel thread's first call): this thread has had its own.
    drop(line.exact_numbers.load());
    let mut ext = Extension::new(Box::new(chan), Signalling::Fxoks, Country::Cn, line);
    let probe = allocation_counter::measure(|| drop(std::hint::black_box(Box::new(1u64))));
    assert_eq!(probe.count_total, 1, "the counting allocator is not counting");
    let mut block = silence;
    let (mut events, mut blocks) = (0, 0);
    let measured = allocation_counter::measure(|| loop {
        match ext.read(&mut block).unwrap() {
            ReadOutcome::Audio => {
                blocks += 1;
                ext.write(&silence).unwrap();
            }
            ReadOutcome::Event(ChanEvent::Offered(_)) => {
                events += 1;
                ext.control(Control::Answer {
                    call: Default::default(),
                })
                .unwrap();
                messages.store(0, Ordering::Relaxed);
            }
            ReadOutcome::Event(_) => events += 1,
            ReadOutcome::Closed => break,
            ReadOutcome::Woken => {}
        }
    });
    assert!(blocks > 450 && events >= 3, "{blocks} blocks, {events} events");
    assert_eq!(measured.count_total, 0, "allocations on the per-block path");
}
