//! The line-test flow: the diagnostic every installation keeps on a number (8999 by default).
//! Answer after N rings → "welcome" → "please enter" → collect up to `max_digits` keys ending with #
//! or a timeout → "you entered" + the keys said back (or "we did not receive your entry") →
//! "goodbye" → hang up. Keys barge in on the opening prompts.

use std::sync::Arc;

use crate::engine::app::{App, CallCx};
use crate::fixed::{FixedStr, Label};
use crate::hw::Cause;
use crate::voice::{Prompt, PromptSet};

/// The flow's settings, fixed when the call is offered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineTestSettings {
    pub answer_after_rings: u32,
    pub max_digits: u32,
    pub timeout_ms: u32,
}

/// The prompts the flow plays, looked up once per prompt set.
#[derive(Clone)]
pub struct LineTestPrompts {
    welcome: Arc<Prompt>,
    please_enter: Arc<Prompt>,
    you_entered: Arc<Prompt>,
    goodbye: Arc<Prompt>,
    timeout: Arc<Prompt>,
    /// digit-0..9, star, pound, A-D have no prompt (said as nothing).
    digits: [Arc<Prompt>; 10],
    star: Arc<Prompt>,
    pound: Arc<Prompt>,
}

impl LineTestPrompts {
    /// Resolves every prompt the flow needs; Err names the first missing one.
    pub fn from_set(set: &PromptSet) -> Result<Self, String> {
        let get = |name: &str| {
            set.get(name)
                .cloned()
                .ok_or_else(|| format!("prompt \"{name}\" missing from the {} set", set.language()))
        };
        let digit = |d: usize| get(&format!("digit-{d}"));
        Ok(Self {
            welcome: get("welcome")?,
            please_enter: get("please-enter")?,
            you_entered: get("you-entered")?,
            goodbye: get("goodbye")?,
            timeout: get("timeout")?,
            digits: [
                digit(0)?,
                digit(1)?,
                digit(2)?,
                digit(3)?,
                digit(4)?,
                digit(5)?,
                digit(6)?,
                digit(7)?,
                digit(8)?,
                digit(9)?,
            ],
            star: get("star")?,
            pound: get("pound")?,
        })
    }

    fn for_key(&self, key: char) -> Option<&Arc<Prompt>> {
        match key {
            '0'..='9' => self.digits.get(key as usize - '0' as usize),
            '*' => Some(&self.star),
            '#' => Some(&self.pound),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Ringing,
    Welcome,
    Collect,
    SayBack,
    Goodbye,
}

/// Keys collected in this flow (the engine's call log keeps every key separately).
type Collected = FixedStr<64>;

pub struct LineTest {
    settings: LineTestSettings,
    prompts: LineTestPrompts,
    step: Step,
    collected: Collected,
}

impl LineTest {
    pub const FLOW: &'static str = "linetest";

    pub fn new(settings: LineTestSettings, prompts: LineTestPrompts) -> Self {
        Self {
            settings,
            prompts,
            step: Step::Ringing,
            collected: Collected::new(),
        }
    }

    fn enter(&mut self, cx: &mut CallCx, step: Step) {
        self.step = step;
        let name = match step {
            Step::Ringing => "ringing",
            Step::Welcome => "welcome",
            Step::Collect => "collect",
            Step::SayBack => "sayback",
            Step::Goodbye => "goodbye",
        };
        cx.enter_state(name);
    }

    fn start_collecting(&mut self, cx: &mut CallCx) {
        if self.step != Step::Collect {
            self.enter(cx, Step::Collect);
        }
        cx.set_timer_ms(u64::from(self.settings.timeout_ms));
    }

    /// Says the keys back (or that none came), then goodbye.
    fn finish_collecting(&mut self, cx: &mut CallCx) {
        cx.cancel_timer();
        cx.stop_playback();
        cx.set_barge_in(false);
        self.enter(cx, Step::SayBack);
        if self.collected.is_empty() {
            cx.play(&self.prompts.timeout);
        } else {
            cx.play(&self.prompts.you_entered);
            for key in self.collected.as_str().chars() {
                if let Some(prompt) = self.prompts.for_key(key) {
                    cx.play(prompt);
                }
            }
        }
    }

    fn say_goodbye(&mut self, cx: &mut CallCx) {
        self.enter(cx, Step::Goodbye);
        cx.play(&self.prompts.goodbye);
    }
}

impl App for LineTest {
    fn flow(&self) -> Label {
        Label::from_str_truncating(Self::FLOW)
    }

    fn on_offered(&mut self, cx: &mut CallCx) {
        self.enter(cx, Step::Ringing);
        if self.settings.answer_after_rings == 0 {
            cx.answer();
        }
    }

    fn on_ring(&mut self, cx: &mut CallCx, rings: u32) {
        if rings >= self.settings.answer_after_rings {
            cx.answer();
        }
    }

    fn on_answered(&mut self, cx: &mut CallCx) {
        self.enter(cx, Step::Welcome);
        cx.set_barge_in(true);
        cx.play(&self.prompts.welcome);
        cx.play(&self.prompts.please_enter);
    }

    fn on_digit(&mut self, cx: &mut CallCx, digit: char) {
        if !matches!(self.step, Step::Welcome | Step::Collect) {
            return;
        }
        if digit == '#' {
            return self.finish_collecting(cx);
        }
        self.collected.push(digit);
        if self.collected.len() as u32 >= self.settings.max_digits {
            return self.finish_collecting(cx);
        }
        self.start_collecting(cx);
    }

    fn on_prompts_done(&mut self, cx: &mut CallCx) {
        match self.step {
            Step::Welcome => self.start_collecting(cx),
            Step::SayBack => self.say_goodbye(cx),
            Step::Goodbye => cx.hangup(Cause::NormalClearing),
            Step::Ringing | Step::Collect => {}
        }
    }

    fn on_timer(&mut self, cx: &mut CallCx) {
        if self.step == Step::Collect {
            self.finish_collecting(cx);
        }
    }
}
