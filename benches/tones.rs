//! Call-progress tone cost per sample: the detector on each plan (the North American plan analyses
//! the most frequencies), and the generator.
//!
//! Every benchmark processes one 20 ms block (160 samples), the unit the channel thread works in;
//! criterion's throughput line gives elements (samples) per second, and time / 160 is ns per sample.
//! Measurement times are short so the whole run stays around half a minute on a shared machine.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use telvox::dsp::tones::{tone, Country, ProgressDetector, ToneGenerator, ToneKind};
use telvox::hw::{Law, BLOCK_SAMPLES};

fn configure(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group
        .throughput(Throughput::Elements(BLOCK_SAMPLES as u64))
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
}

/// Six seconds of a plan's busy tone with a little deterministic noise, so the detector does the
/// full work (classification, segmentation, cadence matching) on every block.
fn busy_audio(country: Country) -> Vec<i16> {
    let mut generator = ToneGenerator::new(Law::Alaw, tone(country, ToneKind::Busy)).expect("valid spec");
    let mut audio = vec![0i16; 300 * BLOCK_SAMPLES];
    generator.fill(&mut audio);
    let mut state = 0x2545_F491u32;
    for sample in &mut audio {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        *sample = sample.saturating_add((state % 64) as i16 - 32);
    }
    audio
}

fn bench_detector(c: &mut Criterion) {
    let mut group = c.benchmark_group("progress_detector");
    configure(&mut group);
    for country in Country::ALL {
        let audio = busy_audio(country);
        let mut detector = ProgressDetector::new(country);
        let mut blocks = audio.chunks_exact(BLOCK_SAMPLES).cycle();
        group.bench_function(country.code(), |b| {
            b.iter(|| {
                detector.process(black_box(blocks.next().unwrap_or(&[])));
                // Re-arm after each report, so matching keeps running as it would on a live call.
                if detector.take_event().is_some() {
                    detector.reset();
                }
            })
        });
    }
    group.finish();
}

fn bench_generator(c: &mut Criterion) {
    let mut group = c.benchmark_group("tone_generator");
    configure(&mut group);
    // Dual-frequency dial tone: both oscillators run on every sample.
    let mut generator = ToneGenerator::new(Law::Alaw, tone(Country::Us, ToneKind::Dial)).expect("valid spec");
    let mut out = [0i16; BLOCK_SAMPLES];
    group.bench_function("us_dial", |b| b.iter(|| generator.fill(black_box(&mut out))));
    group.finish();
}

criterion_group!(benches, bench_detector, bench_generator);
criterion_main!(benches);
