//! DSP cost per sample: telvox's G.711 tables against spandsp's G.711 in the same run, spandsp's
//! DTMF receiver, and telvox's DTMF generator.
//!
//! Every benchmark processes one 20 ms block (160 samples), the unit the channel thread works in;
//! divide the reported time by 160 for ns per sample (criterion also prints the throughput).
//! Measurement times are short so the whole run stays around half a minute on a shared machine.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use telvox::dsp::dtmf_gen::{DtmfConfig, DtmfGenerator};
use telvox::dsp::g711;
use telvox::dsp::spandsp::{ReferenceG711, SpandspDtmfRx};
use telvox::hw::Law;

const BLOCK_SAMPLES: usize = 160;

/// A block that exercises every segment: a sweep over the whole 16-bit range.
fn sweep_block() -> [i16; BLOCK_SAMPLES] {
    std::array::from_fn(|i| (i as i32 * 409 - 32_000) as i16)
}

fn configure(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group
        .throughput(Throughput::Elements(BLOCK_SAMPLES as u64))
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
}

fn bench_g711(c: &mut Criterion) {
    let mut group = c.benchmark_group("g711");
    configure(&mut group);
    let samples = sweep_block();
    for law in [Law::Alaw, Law::Ulaw] {
        let reference = ReferenceG711::new(law).expect("spandsp g711");
        let mut codes = [0u8; BLOCK_SAMPLES];
        g711::encode_block(law, &samples, &mut codes);
        let mut out_codes = [0u8; BLOCK_SAMPLES];
        let mut out_samples = [0i16; BLOCK_SAMPLES];
        let name = law.name();

        group.bench_function(format!("encode_{name}/telvox"), |b| {
            b.iter(|| g711::encode_block(law, black_box(&samples), &mut out_codes))
        });
        group.bench_function(format!("encode_{name}/spandsp"), |b| {
            b.iter(|| reference.encode(black_box(&samples), &mut out_codes))
        });
        group.bench_function(format!("decode_{name}/telvox"), |b| {
            b.iter(|| g711::decode_block(law, black_box(&codes), &mut out_samples))
        });
        group.bench_function(format!("decode_{name}/spandsp"), |b| {
            b.iter(|| reference.decode(black_box(&codes), &mut out_samples))
        });
    }
    group.finish();
}

/// One second of keys as spandsp would hear them: tones, gaps, and everything in between.
fn dtmf_audio() -> Vec<i16> {
    let mut generator = DtmfGenerator::new(DtmfConfig::new(Law::Alaw)).expect("generator");
    generator.queue("0123456789").expect("queue");
    let mut audio = vec![0i16; 50 * BLOCK_SAMPLES];
    generator.fill(&mut audio);
    audio
}

fn bench_dtmf(c: &mut Criterion) {
    let mut group = c.benchmark_group("dtmf");
    configure(&mut group);

    let audio = dtmf_audio();
    let mut rx = SpandspDtmfRx::new().expect("spandsp dtmf rx");
    let mut blocks = audio.chunks_exact(BLOCK_SAMPLES).cycle();
    group.bench_function("rx/spandsp", |b| {
        b.iter(|| {
            rx.process(black_box(blocks.next().unwrap_or(&[])));
            // Drain so the receiver's digit buffer never fills and changes the work done.
            while rx.take_digit().is_some() {}
        })
    });

    // One long tone, re-queued when it ends, so every measured sample is a generated tone sample.
    let config = DtmfConfig {
        on_ms: 10_000,
        off_ms: 0,
        ..DtmfConfig::new(Law::Alaw)
    };
    let mut generator = DtmfGenerator::new(config).expect("generator");
    let mut out = [0i16; BLOCK_SAMPLES];
    group.bench_function("generator/telvox", |b| {
        b.iter(|| {
            if generator.is_idle() {
                generator.queue("5").expect("queue");
            }
            generator.fill(black_box(&mut out))
        })
    });
    group.finish();
}

criterion_group!(benches, bench_g711, bench_dtmf);
criterion_main!(benches);
