//! DTMF receiver cost per sample: telvox's `DtmfRx` against spandsp's `dtmf_rx`, in the same run and
//! on the same signal — ten seconds of speech-like noise (filtered noise with a syllable-rate
//! envelope) with a key every second, fed one 20 ms block (160 samples) at a time, as the channel
//! thread does. Criterion reports throughput in samples; ns/sample = 1e9 / (samples per second).
//!
//! Run: `cargo bench --bench dtmf`. Measurement times are short so the run takes about 15 s.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use telvox::dsp::dtmf::{DtmfRx, DtmfRxConfig};
use telvox::dsp::dtmf_gen::{DtmfConfig, DtmfGenerator};
use telvox::dsp::level::dbm0_to_peak;
use telvox::hw::Law;

const BLOCK_SAMPLES: usize = 160;
const SAMPLE_RATE_HZ: usize = 8000;
const SIGNAL_SECONDS: usize = 10;
/// Blocks in a batch timed as one iteration: one second, so per-iteration overhead is negligible.
const BATCH_BLOCKS: usize = 50;

/// Speech-like noise: white noise through a one-pole low-pass (a falling spectrum, as speech has),
/// gated by a 4 Hz syllable envelope, at about -15 dBm0 while "talking".
fn speech_like_noise(samples: usize) -> Vec<f32> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut filtered = 0.0f32;
    let peak = dbm0_to_peak(Law::Alaw, -15.0);
    (0..samples)
        .map(|n| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let white = (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
            filtered = 0.8 * filtered + 0.2 * white;
            let t = n as f32 / SAMPLE_RATE_HZ as f32;
            let envelope = (std::f32::consts::TAU * 4.0 * t).sin().max(0.0);
            3.0 * peak * envelope * filtered
        })
        .collect()
}

/// The benchmark signal: speech-like noise with one 60 ms key at the start of every second.
fn signal() -> Vec<i16> {
    let samples = SIGNAL_SECONDS * SAMPLE_RATE_HZ;
    let mut keys = vec![0i16; samples];
    let mut generator = DtmfGenerator::new(DtmfConfig::new(Law::Alaw)).expect("generator");
    for second in keys.chunks_mut(SAMPLE_RATE_HZ) {
        generator.queue("5").expect("queue");
        generator.fill(second);
    }
    speech_like_noise(samples)
        .iter()
        .zip(&keys)
        .map(|(&noise, &key)| (noise + f32::from(key)).clamp(-32768.0, 32767.0) as i16)
        .collect()
}

fn bench_receivers(c: &mut Criterion) {
    let audio = signal();
    let mut group = c.benchmark_group("dtmf_rx");
    group
        .throughput(Throughput::Elements((BATCH_BLOCKS * BLOCK_SAMPLES) as u64))
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);

    let mut telvox = DtmfRx::new(DtmfRxConfig::default()).expect("telvox receiver");
    let mut batches = audio.chunks_exact(BATCH_BLOCKS * BLOCK_SAMPLES).cycle();
    group.bench_function("telvox", |b| {
        b.iter(|| {
            for block in batches.next().unwrap_or(&[]).chunks_exact(BLOCK_SAMPLES) {
                telvox.process(black_box(block));
                // Drain as the channel thread would, so the event queue never fills.
                while telvox.take_event().is_some() {}
            }
        })
    });

    let mut spandsp = telvox::dsp::spandsp::SpandspDtmfRx::new().expect("spandsp receiver");
    let mut batches = audio.chunks_exact(BATCH_BLOCKS * BLOCK_SAMPLES).cycle();
    group.bench_function("spandsp", |b| {
        b.iter(|| {
            for block in batches.next().unwrap_or(&[]).chunks_exact(BLOCK_SAMPLES) {
                spandsp.process(black_box(block));
                while spandsp.take_digit().is_some() {}
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_receivers);
criterion_main!(benches);
