//! `telvox sim call`: a far-end caller that dials, presses keys as DTMF audio when prompted, and
//! saves what it heard.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::config::Config;
use crate::dsp::dtmf_gen::{DtmfConfig, DtmfGenerator};
use crate::dsp::g711;
use crate::hw::sim::client::{run_call, CallOutcome, Party};
use crate::hw::sim::protocol::PartyOp;
use crate::hw::{Block, Law, BLOCKS_PER_SECOND, BLOCK_SAMPLES, SAMPLE_RATE_HZ};

/// Options of `telvox sim call`.
#[derive(Clone, Debug)]
pub struct SimCallOptions {
    pub number: String,
    pub from: String,
    pub keys: String,
    pub key_ms: u32,
    pub key_gap_ms: u32,
    /// Press keys this long after the answer; None = when the prompt pauses (as a person would).
    pub keys_at_ms: Option<u32>,
    pub save: Option<PathBuf>,
    pub hangup_after_s: Option<f64>,
    pub json: bool,
}

/// Mean absolute level above which a block counts as speech (about -40 dBm0).
const SPEECH_MEAN_ABS: u32 = 200;
/// Silence after speech that means "the prompt has finished, your turn": 0.6 s.
const PAUSE_BLOCKS: usize = 30;
/// Give up on a call that goes on longer than this without a hangup limit.
const MAX_CALL_BLOCKS: usize = 3600 * BLOCKS_PER_SECOND as usize;

struct Caller {
    law: Law,
    dtmf: DtmfGenerator,
    keys: String,
    keys_at_block: Option<usize>,
    hangup_at_block: Option<usize>,
    heard_speech: bool,
    silent_run: usize,
    keys_started: bool,
}

impl Caller {
    fn next_block(&mut self, blocks: usize, heard: &[u8]) -> Option<Block> {
        if self.hangup_at_block.is_some_and(|at| blocks >= at) || blocks >= MAX_CALL_BLOCKS {
            return None;
        }
        self.listen(heard);
        if !self.keys_started && self.time_to_press(blocks) {
            self.keys_started = true;
            // Keys were validated when the generator was set up.
            let _ = self.dtmf.queue(&self.keys);
        }
        let mut lin = [0i16; BLOCK_SAMPLES];
        self.dtmf.fill(&mut lin);
        let mut block = [0u8; BLOCK_SAMPLES];
        g711::encode_block(self.law, &lin, &mut block);
        Some(block)
    }

    fn listen(&mut self, heard: &[u8]) {
        let Some(last) = heard.len().checked_sub(BLOCK_SAMPLES).map(|s| &heard[s..]) else {
            return;
        };
        let sum: u32 = last
            .iter()
            .map(|&c| g711::decode(self.law, c).unsigned_abs() as u32)
            .sum();
        if sum / BLOCK_SAMPLES as u32 > SPEECH_MEAN_ABS {
            self.heard_speech = true;
            self.silent_run = 0;
        } else {
            self.silent_run += 1;
        }
    }

    fn time_to_press(&self, blocks: usize) -> bool {
        if self.keys.is_empty() {
            return false;
        }
        match self.keys_at_block {
            Some(at) => blocks >= at,
            None => self.heard_speech && self.silent_run >= PAUSE_BLOCKS,
        }
    }
}

fn ms_to_blocks(ms: f64) -> usize {
    (ms / 1000.0 * f64::from(BLOCKS_PER_SECOND)).round() as usize
}

pub fn run(config: &Config, opts: &SimCallOptions) -> Result<i32> {
    let law = config.hw.law_for(&opts.number);
    let mut dtmf_config = DtmfConfig::new(law);
    dtmf_config.on_ms = opts.key_ms;
    dtmf_config.off_ms = opts.key_gap_ms;
    let mut dtmf = DtmfGenerator::new(dtmf_config).context("DTMF settings")?;
    dtmf.queue(&opts.keys).context("--keys")?;
    dtmf.cancel();
    let mut caller = Caller {
        law,
        dtmf,
        keys: opts.keys.clone(),
        keys_at_block: opts.keys_at_ms.map(|ms| ms_to_blocks(f64::from(ms))),
        hangup_at_block: opts.hangup_after_s.map(|s| ms_to_blocks(s * 1000.0)),
        heard_speech: false,
        silent_run: 0,
        keys_started: false,
    };
    let mut party = Party::connect(&config.sim.socket)?;
    let dial = PartyOp::Dial {
        to: opts.number.clone(),
        from: Some(opts.from.clone()),
        name: None,
        span: None,
    };
    let outcome = run_call(&mut party, &dial, Duration::from_secs(30), |blocks, heard| {
        caller.next_block(blocks, heard)
    })?;
    if let Some(path) = &opts.save {
        let samples: Vec<i16> = outcome.heard.iter().map(|&c| g711::decode(law, c)).collect();
        crate::wav::write_pcm16(path, SAMPLE_RATE_HZ, &samples)
            .with_context(|| format!("saving {}", path.display()))?;
    }
    report(opts, &outcome, caller.keys_started)
}

fn report(opts: &SimCallOptions, outcome: &CallOutcome, keys_sent: bool) -> Result<i32> {
    let heard_ms = outcome.heard.len() as u64 * 1000 / u64::from(SAMPLE_RATE_HZ);
    if opts.json {
        let obj = json!({
            "answered": outcome.answered,
            "call": outcome.call_id,
            "channel": outcome.channel,
            "cause": outcome.cause,
            "hung_up_by": if outcome.cause.is_some() { "telvox" } else { "caller" },
            "heard_ms": heard_ms,
            "keys_sent": if keys_sent { opts.keys.as_str() } else { "" },
            "saved": opts.save.as_ref().map(|p| p.display().to_string()),
            "errors": outcome.errors,
        });
        println!("{obj}");
    } else if outcome.answered {
        println!(
            "call {} on channel {}: answered, heard {:.1} s, keys sent: {}, ended by {}",
            outcome.call_id.as_deref().unwrap_or("?"),
            outcome.channel.as_deref().unwrap_or("?"),
            heard_ms as f64 / 1000.0,
            if keys_sent { opts.keys.as_str() } else { "(none)" },
            outcome
                .cause
                .as_deref()
                .map_or("the caller".to_string(), |c| format!("telvox ({c})")),
        );
        if let Some(p) = &opts.save {
            println!("what the caller heard is in {}", p.display());
        }
    }
    if !outcome.answered {
        let why = outcome
            .cause
            .clone()
            .or_else(|| outcome.errors.first().cloned())
            .unwrap_or_else(|| "no answer".into());
        if !opts.json {
            eprintln!("telvox: call to {} was not answered: {why}", opts.number);
        }
        return Ok(1);
    }
    if !outcome.errors.is_empty() {
        bail!("the sim card reported: {}", outcome.errors.join("; "));
    }
    Ok(0)
}
