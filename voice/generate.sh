#!/usr/bin/env bash
# Generate telvox's default prompt sets (voice/en, voice/zh) with espeak-ng and sox.
#
# Output per prompt: 8000 Hz, mono, A-law WAV (format tag 6), leading/trailing
# silence trimmed to ~30 ms, peak-normalised to -6 dBFS. Each language also gets
# a manifest, voice/<lang>/prompts.txt, with one `name<TAB>text` line per prompt.
#
# Re-runnable: every prompt is rebuilt in a scratch directory and only then moved
# into place, so an interrupted run never leaves a half-written WAV behind.
# Deterministic: espeak-ng output is a pure function of text, voice and speed for
# a given espeak-ng version; sox runs with -R (fixed seeds) and -D (no dither).
#
# Usage: voice/generate.sh            (run from anywhere)
set -euo pipefail

# The prompts live next to this script, whatever the caller's working directory.
VOICE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Telephony prompts are spoken a little slower than espeak-ng's default of 175
# words per minute so that they survive an 8 kHz A-law line. Mandarin keeps the
# default: its syllables are already long and the prompts must stay under 6 s.
EN_VOICE="en-us"
EN_SPEED_WPM=150
ZH_VOICE="cmn"
ZH_SPEED_WPM=175

# Silence trimming: audio counts as silence below this level. 0.5% (-46 dBFS)
# is above espeak-ng's noise floor and below its quietest consonants.
SILENCE_THRESHOLD="0.5%"
# A burst must last this long to count as speech, so clicks are not kept.
SILENCE_MIN_S="0.02"
# Silence kept (padded) at each end, so the first phoneme is not clipped when a
# prompt is started right after a tone or another prompt.
EDGE_PAD_S="0.03"
# Peak level: -6 dBFS leaves head-room for the mixer and matches tone levels.
PEAK_DBFS="-6"

die() {
    echo "generate.sh: $*" >&2
    exit 1
}

need_tools() {
    command -v espeak-ng >/dev/null || die "espeak-ng not found — install it: apt-get install espeak-ng"
    command -v sox >/dev/null || die "sox not found — install it: apt-get install sox"
    # espeak-ng lists voices with their language code in the second column.
    espeak-ng --voices | awk '{print $2}' | grep -qx "$ZH_VOICE" \
        || die "espeak-ng has no '$ZH_VOICE' (Mandarin) voice — install espeak-ng-data"
}

# One `name<TAB>text` line per prompt; the order is the manifest's order.
prompts_en() {
    printf '%s\t%s\n' \
        welcome "Welcome to the telvox line test." \
        please-enter "Please enter some digits, then press the pound key." \
        you-entered "You entered" \
        digit-0 "zero" \
        digit-1 "one" \
        digit-2 "two" \
        digit-3 "three" \
        digit-4 "four" \
        digit-5 "five" \
        digit-6 "six" \
        digit-7 "seven" \
        digit-8 "eight" \
        digit-9 "nine" \
        star "star" \
        pound "pound" \
        goodbye "Goodbye." \
        invalid "That entry is not valid." \
        timeout "We did not receive your entry."
}

prompts_zh() {
    printf '%s\t%s\n' \
        welcome "欢迎使用 telvox 线路测试。" \
        please-enter "请输入几位数字，然后按井号键。" \
        you-entered "您输入的是" \
        digit-0 "零" \
        digit-1 "一" \
        digit-2 "二" \
        digit-3 "三" \
        digit-4 "四" \
        digit-5 "五" \
        digit-6 "六" \
        digit-7 "七" \
        digit-8 "八" \
        digit-9 "九" \
        star "星号" \
        pound "井号" \
        goodbye "再见。" \
        invalid "输入无效。" \
        timeout "我们没有收到您的输入。"
}

# render VOICE SPEED TEXT OUT: speak TEXT and convert it to a telvox prompt.
render() {
    local voice="$1" speed_wpm="$2" text="$3" out="$4"
    local raw="$out.raw.wav"
    espeak-ng -v "$voice" -s "$speed_wpm" -w "$raw" -- "$text"
    # Effects in order: trim the front, trim the back (reverse, trim, reverse),
    # lower the level 3 dB so the resampler's filter overshoot cannot clip
    # espeak-ng's near-full-scale peaks, resample after trimming (less work),
    # normalise after resampling (the filter changes the peak), then pad so the
    # pad stays digital zero.
    sox -R -D "$raw" -r 8000 -c 1 -e a-law -b 8 -t wav "$out" \
        silence 1 "$SILENCE_MIN_S" "$SILENCE_THRESHOLD" \
        reverse silence 1 "$SILENCE_MIN_S" "$SILENCE_THRESHOLD" reverse \
        gain -3 rate -h 8000 \
        norm "$PEAK_DBFS" \
        pad "$EDGE_PAD_S" "$EDGE_PAD_S"
    rm -f "$raw"
}

# generate_lang LANG VOICE SPEED LISTFN: build voice/LANG from the list LISTFN prints.
generate_lang() {
    local lang="$1" voice="$2" speed_wpm="$3" list_fn="$4"
    local dest="$VOICE_DIR/$lang"
    local scratch="$SCRATCH_DIR/$lang"
    mkdir -p "$scratch"

    local name text
    while IFS=$'\t' read -r name text; do
        render "$voice" "$speed_wpm" "$text" "$scratch/$name.wav"
    done < <("$list_fn")
    "$list_fn" >"$scratch/prompts.txt"

    # Move into place only after every prompt rendered. Files in $dest that are
    # not generated prompts (a site's own recordings) are left alone.
    mkdir -p "$dest"
    mv -f "$scratch"/*.wav "$scratch/prompts.txt" "$dest/"
    echo "voice/$lang: $("$list_fn" | wc -l) prompts"
}

main() {
    need_tools
    # Scratch space on the same filesystem as voice/, so the final mv is a
    # rename; removed however the script exits.
    SCRATCH_DIR="$(mktemp -d "$VOICE_DIR/.generate.XXXXXX")"
    trap 'rm -rf "$SCRATCH_DIR"' EXIT
    generate_lang en "$EN_VOICE" "$EN_SPEED_WPM" prompts_en
    generate_lang zh "$ZH_VOICE" "$ZH_SPEED_WPM" prompts_zh
}

main "$@"
