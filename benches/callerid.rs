//! Caller ID cost per sample: the FSK receiver on a live burst and on an idle line (what every
//! ringing line pays while it listens), and the DTMF CLIP digit collector.
//!
//! Every benchmark processes one 20 ms block (160 samples), the unit the channel thread works in;
//! criterion's throughput line reads directly as samples per second (divide 1e9 by it for ns per
//! sample). Measurement times are short so the run stays around ten seconds on a shared machine.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use telvox::dsp::callerid::{encode_fsk, CallTime, CallerId, DtmfClipRx, Format, FskCallerIdRx, FskStandard};
use telvox::hw::Law;

const BLOCK_SAMPLES: usize = 160;

/// A full MDMF burst (seizure, mark, date, number, name) followed by a second of silence, so
/// the benchmark cycles through every receiver state in proportion to a real call.
fn burst(standard: FskStandard) -> Vec<i16> {
    let caller_id = CallerId {
        number: Some("4155551234".into()),
        name: Some("TELVOX BENCH".into()),
        datetime: CallTime::new(3, 14, 15, 9),
        ..CallerId::default()
    };
    let mut audio = encode_fsk(&caller_id, standard, Format::Mdmf, Law::Ulaw).expect("encode");
    audio.resize(audio.len().next_multiple_of(BLOCK_SAMPLES), 0);
    audio
}

fn bench_fsk_rx(c: &mut Criterion) {
    let mut group = c.benchmark_group("callerid_fsk_rx");
    group
        .throughput(Throughput::Elements(BLOCK_SAMPLES as u64))
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    for standard in [FskStandard::Bell202, FskStandard::V23] {
        let audio = burst(standard);
        let mut rx = FskCallerIdRx::new(standard);
        let mut blocks = audio.chunks_exact(BLOCK_SAMPLES).cycle();
        let name = if standard == FskStandard::Bell202 {
            "bell202"
        } else {
            "v23"
        };
        group.bench_function(format!("{name}/burst"), |b| {
            b.iter(|| {
                rx.process(black_box(blocks.next().expect("cycle")));
                black_box(rx.take())
            })
        });
    }
    let silence = [0i16; BLOCK_SAMPLES];
    let mut rx = FskCallerIdRx::new(FskStandard::Bell202);
    group.bench_function("bell202/idle_line", |b| {
        b.iter(|| rx.process(black_box(&silence)))
    });
    group.finish();
}

fn bench_dtmf_clip_rx(c: &mut Criterion) {
    let mut group = c.benchmark_group("callerid_dtmf_clip_rx");
    group
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(30);
    let mut rx = DtmfClipRx::new();
    group.bench_function("sequence_of_13_digits", |b| {
        b.iter(|| {
            for digit in black_box("A8613912345678C").chars() {
                black_box(rx.push_digit(digit));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_fsk_rx, bench_dtmf_clip_rx);
criterion_main!(benches);
