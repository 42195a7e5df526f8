//! End-to-end tests of scripted IVR flows: a real daemon on the lockstep sim card, a caller that
//! reacts to the prompts it hears (exact A-law match), and the call path from the database.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use telvox::apps::ivr::{parse_text, Registry};
use telvox::apps::say::{say_money, Language};
use telvox::hw::sim::client::{run_call, CallOutcome};
use telvox::hw::{Block, BLOCK_SAMPLES};

/// Upper bound on one scripted call (10 minutes of audio): a stuck flow fails instead of hanging.
const MAX_CALL_BLOCKS: usize = 30_000;

/// A prompt in a language: ("en", "main-menu").
type Heard<'a> = (&'a str, &'a str);

/// What the caller does: after hearing `after` completely, press `keys` ("" = stay silent).
struct Cue<'a> {
    after: Heard<'a>,
    keys: &'a str,
}

fn cue<'a>(lang: &'a str, prompt: &'a str, keys: &'a str) -> Cue<'a> {
    Cue {
        after: (lang, prompt),
        keys,
    }
}

/// Calls `number` and follows the cues in order; the caller never hangs up first (the flow must).
fn scripted_call(daemon: &TestDaemon, number: &str, cues: &[Cue]) -> CallOutcome {
    scripted_call_from(daemon, number, UNKNOWN_CALLER, cues)
}

/// [`scripted_call`] from a given caller number.
fn scripted_call_from(daemon: &TestDaemon, number: &str, from: &str, cues: &[Cue]) -> CallOutcome {
    let mut party = daemon.party();
    let audio: Vec<Vec<u8>> = cues.iter().map(|c| prompt_alaw(c.after.0, c.after.1)).collect();
    let (mut next_cue, mut cursor) = (0usize, 0usize);
    let mut keys: Vec<Block> = Vec::new();
    let outcome = run_call(
        &mut party,
        &dial(number, from),
        Duration::from_secs(20),
        |blocks, heard| {
            if blocks > MAX_CALL_BLOCKS {
                return None;
            }
            if keys.is_empty() && next_cue < cues.len() {
                let needle = &audio[next_cue];
                let from = cursor.max(heard.len().saturating_sub(needle.len() + 2 * BLOCK_SAMPLES));
                if let Some(at) = find(heard, needle, from) {
                    cursor = at + needle.len();
                    keys = key_blocks(cues[next_cue].keys);
                    keys.reverse();
                    next_cue += 1;
                }
            }
            Some(keys.pop().unwrap_or_else(silence))
        },
    )
    .expect("call");
    assert_eq!(
        next_cue,
        cues.len(),
        "every cue was heard ({} bytes heard, cause {:?})",
        outcome.heard.len(),
        outcome.cause
    );
    outcome
}

/// Asserts the prompts were heard in this order (each an exact A-law match).
fn assert_heard(heard: &[u8], prompts: &[Heard]) {
    let mut from = 0;
    for (lang, name) in prompts {
        let audio = prompt_alaw(lang, name);
        let at = find(heard, &audio, from)
            .unwrap_or_else(|| panic!("{lang}/{name} not heard after offset {from} of {}", heard.len()));
        from = at + audio.len();
    }
}

fn assert_path(daemon: &TestDaemon, outcome: &CallOutcome, expected: &[&str]) {
    let path = daemon.call_path(outcome.call_id.as_deref().expect("call id"));
    assert_eq!(path, expected, "call path");
    assert_eq!(
        outcome.cause.as_deref(),
        Some("NORMAL_CLEARING"),
        "telvox hung up"
    );
}

/// A caller number the demo business database does not know, and one it does (account 123456).
const UNKNOWN_CALLER: &str = "13800138000";
const KNOWN_CALLER: &str = "13900139000";
/// Monday 10:00 in Shanghai (the shipped time zone): the hotline is open.
const OPEN_NOW: &str = "2026-11-23T10:00:00+08:00";
/// Sunday 23:00 in Shanghai: closed.
const CLOSED_NOW: &str = "2026-11-22T23:00:00+08:00";

/// The shipped config with the clock `hours` reads frozen at `now` and the demo business database
/// (etc/business.sql, as install.sh makes it) in its data_dir.
fn hotline(now: &str) -> TestDaemon {
    prepare_hotline(now).launch()
}

fn prepare_hotline(now: &str) -> TestDaemon {
    let daemon = TestDaemon::prepare(|c| {
        assert!(c.contains("[business]\n"), "the shipped config has [business]");
        c.replace("[business]\n", &format!("[business]\ntest_now = \"{now}\"\n"))
    });
    let data = daemon.dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let sql = std::fs::read_to_string(Path::new(REPO).join("etc/business.sql")).unwrap();
    let db = rusqlite::Connection::open(data.join("business.db")).expect("business.db");
    db.execute_batch(&sql).expect("etc/business.sql");
    daemon
}

/// The demo account 123456's balance (etc/business.sql), said as money in `lang`.
fn said_balance(lang: &str) -> Vec<String> {
    say_money(Language::from_code(lang).unwrap(), 120_550)
}

#[test]
fn english_balance_unknown_caller_enters_account_and_pin_and_hears_the_balance() {
    let daemon = hotline(OPEN_NOW);
    let outcome = scripted_call(
        &daemon,
        "8000",
        &[
            cue("zh", "choose-language", "2"),
            cue("en", "main-menu", "1"),
            cue("en", "enter-account", "123456#"),
            cue("en", "enter-pin", "4321#"),
            cue("en", "balance-is", ""),
            cue("en", "main-menu", ""),
        ],
    );
    let mut expected = vec![
        ("zh", "choose-language"),
        ("en", "hotline-welcome"),
        ("en", "main-menu"),
    ];
    expected.extend([("en", "enter-account"), ("en", "enter-pin"), ("en", "balance-is")]);
    let money = said_balance("en");
    expected.extend(money.iter().map(|d| ("en", d.as_str())));
    expected.extend([("en", "main-menu"), ("en", "timeout"), ("en", "goodbye")]);
    assert_heard(&outcome.heard, &expected);
    let mut path = vec![
        "choose_language",
        "english",
        "hours",
        "welcome",
        "main_menu",
        "balance",
    ];
    path.extend([
        "lookup:not_found",
        "ask_account",
        "ask_pin",
        "check_pin",
        "verify_pin:ok",
    ]);
    path.extend([
        "fetch_balance",
        "lookup:found",
        "say_balance",
        "main_menu",
        "goodbye",
    ]);
    assert_path(&daemon, &outcome, &path);
}

#[test]
fn a_known_caller_skips_the_account_number() {
    let daemon = hotline(OPEN_NOW);
    let outcome = scripted_call_from(
        &daemon,
        "8000",
        KNOWN_CALLER,
        &[
            cue("zh", "choose-language", "1"),
            cue("zh", "main-menu", "1"),
            cue("zh", "enter-pin", "4321#"),
            cue("zh", "balance-is", ""),
        ],
    );
    let mut expected = vec![("zh", "main-menu"), ("zh", "enter-pin"), ("zh", "balance-is")];
    let money = said_balance("zh");
    expected.extend(money.iter().map(|d| ("zh", d.as_str())));
    expected.extend([("zh", "main-menu"), ("zh", "goodbye")]);
    assert_heard(&outcome.heard, &expected);
    let mut path = vec![
        "choose_language",
        "mandarin",
        "hours",
        "welcome",
        "main_menu",
        "balance",
    ];
    path.extend([
        "lookup:found",
        "known_caller",
        "ask_pin",
        "check_pin",
        "verify_pin:ok",
    ]);
    path.extend([
        "fetch_balance",
        "lookup:found",
        "say_balance",
        "main_menu",
        "goodbye",
    ]);
    assert_path(&daemon, &outcome, &path);
}

/// Rows of the call log's pin_failures table.
fn pin_failures(daemon: &TestDaemon, account: &str) -> Option<i64> {
    let db = rusqlite::Connection::open(daemon.db_path()).expect("open the call log");
    db.query_row(
        "SELECT failures FROM pin_failures WHERE account = ?1",
        [account],
        |r| r.get(0),
    )
    .ok()
}

#[test]
fn wrong_pins_lock_the_account_and_the_lock_survives_a_restart() {
    let mut daemon = hotline(OPEN_NOW);
    let wrong = |lang| {
        [
            cue("zh", "choose-language", "2"),
            cue(lang, "main-menu", "1"),
            cue(lang, "enter-account", "654321#"),
            cue(lang, "enter-pin", "0000#"),
            cue(lang, "wrong-pin", ""),
            cue(lang, "enter-pin", "9999#"),
            cue(lang, "wrong-pin", ""),
            cue(lang, "enter-pin", "1234#"),
            cue(lang, "account-locked", ""),
        ]
    };
    let outcome = scripted_call(&daemon, "8000", &wrong("en"));
    let round = [("en", "enter-pin"), ("en", "wrong-pin")];
    let mut expected: Vec<Heard> = round.iter().cycle().take(4).copied().collect();
    expected.extend([("en", "enter-pin"), ("en", "account-locked"), ("en", "goodbye")]);
    assert_heard(&outcome.heard, &expected);
    let mut path = vec![
        "choose_language",
        "english",
        "hours",
        "welcome",
        "main_menu",
        "balance",
    ];
    path.extend(["lookup:not_found", "ask_account", "ask_pin"]);
    for _ in 0..2 {
        path.extend(["check_pin", "verify_pin:fail", "wrong_pin", "ask_pin"]);
    }
    path.extend(["check_pin", "verify_pin:locked", "locked", "goodbye"]);
    assert_path(&daemon, &outcome, &path);
    assert_eq!(pin_failures(&daemon, "654321"), Some(3));

    // The right PIN after a restart is still refused: the count is in the call log.
    daemon.stop();
    daemon.relaunch();
    let outcome = scripted_call(
        &daemon,
        "8000",
        &[
            cue("zh", "choose-language", "2"),
            cue("en", "main-menu", "1"),
            cue("en", "enter-account", "654321#"),
            cue("en", "enter-pin", "1111#"),
            cue("en", "account-locked", ""),
        ],
    );
    let path = daemon.call_path(outcome.call_id.as_deref().unwrap());
    assert!(path.contains(&"verify_pin:locked".to_string()), "{path:?}");
    assert!(!path.contains(&"say_balance".to_string()), "{path:?}");
}

#[test]
fn a_right_pin_resets_the_failure_count() {
    let daemon = hotline(OPEN_NOW);
    let outcome = scripted_call(
        &daemon,
        "8000",
        &[
            cue("zh", "choose-language", "2"),
            cue("en", "main-menu", "1"),
            cue("en", "enter-account", "654321#"),
            cue("en", "enter-pin", "0000#"),
            cue("en", "wrong-pin", ""),
            cue("en", "enter-pin", "1111#"),
            cue("en", "balance-is", ""),
        ],
    );
    let mut expected = vec![("en", "wrong-pin"), ("en", "enter-pin"), ("en", "balance-is")];
    let money = say_money(Language::En, 705);
    expected.extend(money.iter().map(|d| ("en", d.as_str())));
    assert_heard(&outcome.heard, &expected);
    assert_eq!(
        pin_failures(&daemon, "654321"),
        None,
        "a right PIN clears the count"
    );
}

#[test]
fn closed_hours_play_the_closed_message_and_hang_up() {
    let daemon = hotline(CLOSED_NOW);
    let outcome = scripted_call(
        &daemon,
        "8000",
        &[cue("zh", "choose-language", "2"), cue("en", "office-closed", "")],
    );
    assert_heard(
        &outcome.heard,
        &[("zh", "choose-language"), ("en", "office-closed")],
    );
    let welcome = prompt_alaw("en", "hotline-welcome");
    assert!(
        find(&outcome.heard, &welcome, 0).is_none(),
        "no welcome when closed"
    );
    assert_path(
        &daemon,
        &outcome,
        &["choose_language", "english", "hours", "closed"],
    );
}

#[test]
fn a_holiday_is_closed_even_in_opening_hours() {
    // 2026-10-01 (National Day) is a Thursday, 10:00 in Shanghai: open hours, but a holiday.
    let daemon = hotline("2026-10-01T10:00:00+08:00");
    let outcome = scripted_call(
        &daemon,
        "8000",
        &[cue("zh", "choose-language", "1"), cue("zh", "office-closed", "")],
    );
    assert_path(
        &daemon,
        &outcome,
        &["choose_language", "mandarin", "hours", "closed"],
    );
}

#[test]
fn a_query_parameter_with_sql_in_it_is_bound_not_spliced() {
    let flow = "start = \"a\"\nlanguage = \"en\"\n[a]\n\
                set = { who = \"'; DROP TABLE customers; --\" }\n\
                lookup = { query = \"SELECT name FROM customers WHERE phone = ?\", params = [\"${who}\"], into = \"cust\" }\n\
                on = { found = \"b\", not_found = \"b\", error = \"b\" }\n\
                [b]\nplay = { prompts = [\"goodbye\"], barge_in = false }\nhangup = true\n";
    let daemon = daemon_with_flows(&[("inject", flow)], &[("8102", "inject")]);
    let outcome = scripted_call(&daemon, "8102", &[cue("en", "goodbye", "")]);
    assert_path(&daemon, &outcome, &["a", "lookup:not_found", "b"]);
    let db = rusqlite::Connection::open(daemon.dir.path().join("data/business.db")).unwrap();
    let rows: i64 = db
        .query_row("SELECT count(*) FROM customers", [], |r| r.get(0))
        .expect("the customers table still exists");
    assert_eq!(rows, 1);
}

#[test]
fn a_lookup_without_a_database_ends_with_error() {
    let flow = "start = \"a\"\nlanguage = \"en\"\n[a]\n\
                lookup = { query = \"SELECT name FROM customers WHERE phone = ?\", params = [\"${caller}\"], into = \"cust\" }\n\
                on = { found = \"b\", not_found = \"b\", error = \"b\" }\n\
                [b]\nplay = { prompts = [\"goodbye\"], barge_in = false }\nhangup = true\n";
    let daemon = daemon_with_flows(&[("nodb", flow)], &[("8103", "nodb")]);
    std::fs::remove_file(daemon.dir.path().join("data/business.db")).unwrap();
    let outcome = scripted_call(&daemon, "8103", &[cue("en", "goodbye", "")]);
    assert_path(&daemon, &outcome, &["a", "lookup:error", "b"]);
}

#[test]
fn lookup_verify_pin_and_hours_are_validated_at_load() {
    let text = "start = \"a\"\n[a]\n\
                lookup = { query = \"SELECT a FROM t WHERE x = ? AND y = ?\", params = [\"${caller}\"], into = \"c\" }\n\
                on = { found = \"b\", not_found = \"b\", error = \"b\" }\n\
                [b]\nlookup = { query = \"DELETE FROM t WHERE x = '${caller}'\", into = \"c\" }\nnext = \"c\"\n\
                [c]\nhours = { mon = \"18:00-09:00\", funday = \"closed\", holidays = [\"2026-13-01\"] }\nnext = \"d\"\n\
                [d]\nverify_pin = { query = \"SELECT h FROM t WHERE a = ?\", params = [\"${caller}\"] }\n\
                on = { ok = \"a\", fail = \"a\", locked = \"a\", error = \"a\", maybe = \"a\" }\n";
    let found = check(text);
    let has = |needle: &str| found.iter().any(|d| d.contains(needle));
    assert!(
        has("t.toml:3:10: error: [a] lookup: the query has 2 `?` placeholder(s) but 1 parameter(s)"),
        "{found:#?}"
    );
    assert!(
        has("t.toml:6:20: error: [b] lookup = \"DELETE FROM"),
        "{found:#?}"
    );
    assert!(
        has("t.toml:9:17: error: [c] hours = \"18:00-09:00\""),
        "{found:#?}"
    );
    assert!(
        has("t.toml:9:32: error: unknown key `funday` in [c] hours"),
        "{found:#?}"
    );
    assert!(has("[c] hours = \"2026-13-01\": expected a date"), "{found:#?}");
    assert!(
        has("t.toml:12:14: error: [d] verify_pin needs `pin`"),
        "{found:#?}"
    );
    assert!(has("[d] verify_pin needs `account`"), "{found:#?}");
    assert_eq!(found.len(), 7, "{found:#?}");
    let text = "start = \"a\"\n[a]\n\
                verify_pin = { query = \"SELECT h FROM t WHERE a = ?\", params = [\"${caller}\"], pin = \"${digits}\", account = \"${caller}\" }\n\
                on = { ok = \"a\", fail = \"a\", locked = \"a\", error = \"a\", maybe = \"a\" }\n";
    let found = check(text);
    assert!(
        found.iter().any(|d| d.contains("maybe")),
        "an outcome verify_pin does not have: {found:#?}"
    );
}

#[test]
fn lookup_results_count_as_set_variables() {
    let text = "start = \"a\"\nlanguage = \"en\"\n[a]\n\
                lookup = { query = \"SELECT name FROM customers WHERE phone = ?\", params = [\"${caller}\"], into = \"cust\" }\n\
                on = { found = \"b\", not_found = \"b\", error = \"b\" }\n\
                [b]\nsay = { value = \"${cust.balance}\", as = \"money\" }\nnext = \"c\"\n\
                [c]\nsay = { value = \"${other.x}\", as = \"money\" }\nhangup = true\n";
    let found = check(text);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].contains("variable `other.x` is used but never set"),
        "{found:#?}"
    );
}

#[test]
fn mandarin_menu_operator_is_a_placeholder_and_can_be_chosen_again() {
    let daemon = hotline(OPEN_NOW);
    let outcome = scripted_call(
        &daemon,
        "8000",
        &[
            cue("zh", "choose-language", "1"),
            cue("zh", "main-menu", "0"),
            cue("zh", "coming-soon", ""),
            cue("zh", "main-menu", "0"),
            cue("zh", "coming-soon", ""),
        ],
    );
    // Option 2 (fax on demand) is in tests/fax_sim.rs, option 3 (leave a message) in
    // tests/voicemail.rs.
    let soon = [("zh", "main-menu"), ("zh", "coming-soon")];
    let mut expected = vec![("zh", "choose-language"), ("zh", "hotline-welcome")];
    expected.extend(soon.iter().cycle().take(4));
    expected.extend([("zh", "main-menu"), ("zh", "goodbye")]);
    assert_heard(&outcome.heard, &expected);
    let mut path = vec![
        "choose_language",
        "mandarin",
        "hours",
        "welcome",
        "main_menu",
        "operator",
        "main_menu",
    ];
    path.extend(["operator", "main_menu", "goodbye"]);
    assert_path(&daemon, &outcome, &path);
}

#[test]
fn invalid_key_then_valid_key() {
    let daemon = hotline(OPEN_NOW);
    let outcome = scripted_call(
        &daemon,
        "8000",
        &[
            cue("zh", "choose-language", "2"),
            cue("en", "main-menu", "7"),
            cue("en", "invalid", ""),
            cue("en", "main-menu", "0"),
            cue("en", "coming-soon", ""),
        ],
    );
    assert_heard(
        &outcome.heard,
        &[
            ("en", "main-menu"),
            ("en", "invalid"),
            ("en", "main-menu"),
            ("en", "coming-soon"),
            ("en", "main-menu"),
            ("en", "goodbye"),
        ],
    );
    let path = [
        "choose_language",
        "english",
        "hours",
        "welcome",
        "main_menu",
        "operator",
        "main_menu",
        "goodbye",
    ];
    assert_path(&daemon, &outcome, &path);
}

#[test]
fn no_input_is_retried_then_the_fallback_says_goodbye() {
    let daemon = hotline(OPEN_NOW);
    let outcome = scripted_call(&daemon, "8000", &[cue("zh", "choose-language", "2")]);
    let mut expected = vec![("en", "hotline-welcome")];
    for _ in 0..3 {
        expected.extend([("en", "main-menu"), ("en", "timeout")]);
    }
    expected.push(("en", "goodbye"));
    assert_heard(&outcome.heard, &expected);
    // The main menu waits its 5 s timeout after each play; three tries.
    let menu_at = find(&outcome.heard, &prompt_alaw("en", "main-menu"), 0).unwrap();
    let timeout_at = find(&outcome.heard, &prompt_alaw("en", "timeout"), menu_at).unwrap();
    let waited_s = (timeout_at - menu_at - prompt_alaw("en", "main-menu").len()) as f64 / 8000.0;
    assert!((4.9..=5.1).contains(&waited_s), "waited {waited_s:.2} s");
    assert_path(
        &daemon,
        &outcome,
        &[
            "choose_language",
            "english",
            "hours",
            "welcome",
            "main_menu",
            "goodbye",
        ],
    );
}

#[test]
fn silence_at_the_language_menu_falls_back_to_mandarin() {
    let daemon = hotline(OPEN_NOW);
    let outcome = scripted_call(
        &daemon,
        "8000",
        &[cue("zh", "hotline-welcome", ""), cue("zh", "main-menu", "9")],
    );
    let mut expected = vec![("zh", "choose-language"), ("zh", "timeout")];
    expected.extend([
        ("zh", "choose-language"),
        ("zh", "timeout"),
        ("zh", "hotline-welcome"),
    ]);
    expected.extend([("zh", "main-menu"), ("zh", "invalid"), ("zh", "goodbye")]);
    assert_heard(&outcome.heard, &expected);
    assert_path(
        &daemon,
        &outcome,
        &[
            "choose_language",
            "mandarin",
            "hours",
            "welcome",
            "main_menu",
            "goodbye",
        ],
    );
}

#[test]
fn a_key_during_the_welcome_barges_in_and_picks_the_menu_option() {
    let daemon = hotline(OPEN_NOW);
    let outcome = {
        let mut party = daemon.party();
        let keys = key_blocks("2");
        let choose = prompt_alaw("zh", "choose-language").len().div_ceil(BLOCK_SAMPLES);
        // Key 2 picks English, then key 0 during the welcome (10 blocks in) picks "operator".
        let second = key_blocks("0");
        run_call(&mut party, &dial("8000", "1"), Duration::from_secs(20), |b, _| {
            let first_at = 50 + choose + 5;
            let second_at = first_at + keys.len() + 10;
            if b > MAX_CALL_BLOCKS {
                return None;
            }
            let k = b.checked_sub(first_at).and_then(|i| keys.get(i).copied());
            let k = k.or_else(|| b.checked_sub(second_at).and_then(|i| second.get(i).copied()));
            Some(k.unwrap_or_else(silence))
        })
        .unwrap()
    };
    let welcome = prompt_alaw("en", "hotline-welcome");
    assert!(
        find(&outcome.heard, &welcome, 0).is_none(),
        "the welcome was cut short by the key"
    );
    assert_heard(
        &outcome.heard,
        &[("en", "coming-soon"), ("en", "main-menu"), ("en", "goodbye")],
    );
    assert_path(
        &daemon,
        &outcome,
        &[
            "choose_language",
            "english",
            "hours",
            "welcome",
            "main_menu",
            "operator",
            "main_menu",
            "goodbye",
        ],
    );
}

#[test]
fn account_entry_too_short_is_invalid_then_retried() {
    let daemon = hotline(OPEN_NOW);
    let outcome = scripted_call(
        &daemon,
        "8000",
        &[
            cue("zh", "choose-language", "2"),
            cue("en", "main-menu", "1"),
            cue("en", "enter-account", "12#"),
            cue("en", "invalid", ""),
            cue("en", "enter-account", "123456#"),
            cue("en", "enter-pin", "4321#"),
            cue("en", "balance-is", ""),
        ],
    );
    let expected = [
        ("en", "enter-account"),
        ("en", "invalid"),
        ("en", "enter-account"),
        ("en", "enter-pin"),
        ("en", "balance-is"),
    ];
    assert_heard(&outcome.heard, &expected);
    let path = [
        "main_menu",
        "balance",
        "lookup:not_found",
        "ask_account",
        "ask_pin",
        "check_pin",
    ];
    let got = daemon.call_path(outcome.call_id.as_deref().unwrap());
    assert_eq!(&got[4..4 + path.len()], path);
}

#[test]
fn an_account_not_on_file_fails_the_pin_like_a_wrong_one() {
    let daemon = hotline(OPEN_NOW);
    let outcome = scripted_call(
        &daemon,
        "8000",
        &[
            cue("zh", "choose-language", "2"),
            cue("en", "main-menu", "1"),
            cue("en", "enter-account", "999999#"),
            cue("en", "enter-pin", "4321#"),
            cue("en", "wrong-pin", ""),
        ],
    );
    let path = daemon.call_path(outcome.call_id.as_deref().unwrap());
    assert!(path.contains(&"verify_pin:fail".to_string()), "{path:?}");
}

// ---------------------------------------------------------------------------------------------------
// The transition guard

/// A daemon with extra flow files in its own flows/ (next to its telvox.toml) and numbers for them.
fn daemon_with_flows(flows: &[(&str, &str)], numbers: &[(&str, &str)]) -> TestDaemon {
    let daemon = prepare_hotline(OPEN_NOW);
    let config = std::fs::read_to_string(&daemon.config).unwrap();
    let extra: String = numbers
        .iter()
        .map(|(n, f)| format!("\"{n}\" = \"{f}\"\n"))
        .collect();
    let config = config.replace("[numbers]\n", &format!("[numbers]\n{extra}"));
    std::fs::write(&daemon.config, config).unwrap();
    let dir = daemon.dir.path().join("flows");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(Path::new(REPO).join("etc/flows/main.toml"), dir.join("main.toml")).unwrap();
    for (name, text) in flows {
        std::fs::write(dir.join(format!("{name}.toml")), text).unwrap();
    }
    daemon.launch()
}

#[test]
fn a_flow_that_loops_through_prompts_is_stopped_at_max_transitions() {
    let flow = "start = \"again\"\nlanguage = \"en\"\nmax_transitions = 5\n[again]\nplay = [\"star\"]\nnext = \"again\"\n";
    let daemon = daemon_with_flows(&[("loop", flow)], &[("8100", "loop")]);
    let outcome = scripted_call(&daemon, "8100", &[]);
    assert_heard(&outcome.heard, &[("en", "star"); 5]);
    let star = prompt_alaw("en", "star");
    let mut count = 0;
    let mut from = 0;
    while let Some(at) = find(&outcome.heard, &star, from) {
        count += 1;
        from = at + star.len();
    }
    assert_eq!(count, 5, "nothing more is played after the limit");
    assert_path(
        &daemon,
        &outcome,
        &["again", "again", "again", "again", "again", "transition_limit"],
    );
}

#[test]
fn a_flow_with_a_busy_loop_is_refused_by_config_check() {
    let daemon = TestDaemon::prepare(|c| c);
    let dir = daemon.dir.path().join("flows");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(Path::new(REPO).join("etc/flows/main.toml"), dir.join("main.toml")).unwrap();
    let flow = "start = \"a\"\n[a]\nset = { n = \"${n} + 1\" }\nnext = \"b\"\n[b]\nbranch = [ { if = \"${n} > 3\", goto = \"a\" }, { goto = \"a\" } ]\n";
    std::fs::write(dir.join("spin.toml"), flow).unwrap();
    let out = daemon.cli(&["config", "check", daemon.config.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    let spin = dir.join("spin.toml");
    let expected = format!(
        "{}:2:2: error: states a -> b -> a can loop forever without waiting for the caller",
        spin.display()
    );
    assert!(text.contains(&expected), "{text}");
}

// ---------------------------------------------------------------------------------------------------
// The loader: every finding with its exact file:line:col

/// Every diagnostic for a flow text named `t.toml`, checked against the repository's prompts.
fn check(text: &str) -> Vec<String> {
    let voice = Path::new(REPO).join("voice");
    let (flow, diags) = parse_text("t", Path::new("t.toml"), text, Some(&voice), &Registry::builtin());
    let errors = diags
        .iter()
        .any(|d| d.severity == telvox::config::Severity::Error);
    assert_eq!(flow.is_some(), !errors, "a flow exactly when there are no errors");
    diags.iter().map(|d| d.to_string()).collect()
}

#[test]
fn the_shipped_flow_loads_without_findings() {
    let text = std::fs::read_to_string(Path::new(REPO).join("etc/flows/main.toml")).unwrap();
    assert_eq!(check(&text), Vec::<String>::new());
}

#[test]
fn unknown_states_are_located_wherever_they_are_named() {
    let text = "start = \"a\"\n\
                [a]\n\
                menu = { prompts = [\"main-menu\"], options = { \"1\" = \"nowhere\" }, fallback = \"lost\" }\n\
                [b]\n\
                collect = { prompts = [\"enter-account\"], max = 4 }\n\
                on = { complete = \"gone\", fail = \"a\" }\n\
                [c]\n\
                branch = [ { if = \"${digits} == 1\", goto = \"void\" }, { goto = \"a\" } ]\n\
                next = \"missing\"\n";
    let states = "states: a, b, c";
    assert_eq!(
        check(text),
        [
            format!("t.toml:3:53: error: [a] menu: no state `nowhere` in this flow; {states}"),
            format!("t.toml:3:77: error: [a] menu: no state `lost` in this flow; {states}"),
            format!("t.toml:6:19: error: [b] on: no state `gone` in this flow; {states}"),
            format!("t.toml:8:44: error: [c] branch: no state `void` in this flow; {states}"),
            format!("t.toml:9:8: error: [c] next: no state `missing` in this flow; {states}"),
        ]
    );
}

#[test]
fn unknown_actions_keys_and_settings_are_errors() {
    let text = "start = \"a\"\nlangauge = \"en\"\n[a]\nplya = [\"goodbye\"]\n\
                play = { prompts = [\"goodbye\"], bargein = false }\nhangup = true\n";
    let actions = "play, say, collect, menu, set, branch, goto, hangup, lookup, verify_pin, hours, call, return, record, record_call, tone, voicemail_leave, voicemail_check, recording_review, fax_receive, fax_send, fax_document, next, on";
    assert_eq!(
        check(text),
        [
            "t.toml:2:1: error: unknown setting `langauge`; expected one of: start, language, languages, \
             max_transitions, answer_after_rings, fax_detect (states are [NAME] tables)"
                .to_string(),
            format!("t.toml:4:1: error: unknown action or key `plya` in [a]; expected one of: {actions}"),
            "t.toml:5:33: error: unknown key `bargein` in [a] play; expected one of: prompts, barge_in"
                .into(),
        ]
    );
}

#[test]
fn missing_prompts_name_the_languages_without_a_file() {
    let voice = Path::new(REPO).join("voice");
    let text = "start = \"a\"\nlanguages = [\"en\", \"zh\"]\n[a]\nplay = [\"goodbye\", \"say-thousand\", \"nope\"]\n\
                next = \"b\"\n[b]\nplay = \"menu-${language}\"\nhangup = true\n";
    let d = voice.display();
    assert_eq!(
        check(text),
        [
            format!(
                "t.toml:4:20: error: [a] play: prompt `say-thousand` has no file in {d} for language(s) zh: \
                 record it or add it to voice/generate.sh"
            ),
            format!(
                "t.toml:4:36: error: [a] play: prompt `nope` has no file in {d} for language(s) en, zh: record \
                 it or add it to voice/generate.sh"
            ),
            format!("t.toml:7:8: error: [b] play: prompt `menu-en` (for language en) has no file in {d}"),
            format!("t.toml:7:8: error: [b] play: prompt `menu-zh` (for language zh) has no file in {d}"),
        ]
    );
}

#[test]
fn unset_variables_and_unreachable_states_are_warnings() {
    let text = "start = \"a\"\n[a]\nsay = { value = \"${balance}\", as = \"money\" }\nnext = \"end\"\n\
                [island]\nplay = [\"goodbye\"]\nnext = \"end\"\n[end]\nhangup = true\n";
    assert_eq!(
        check(text),
        [
            "t.toml:3:17: warning: variable `balance` is used but never set in this flow: it will be empty",
            "t.toml:5:2: warning: state `island` is never reached from start: remove it or link to it",
        ]
    );
}

#[test]
fn a_cycle_of_states_that_never_wait_is_an_error_but_a_waiting_loop_is_fine() {
    let busy =
        "start = \"a\"\n[a]\nset = { n = \"${n} + 1\" }\nbranch = [ { if = \"${n} > 3\", goto = \"a\" } ]\n\
                next = \"a\"\n";
    assert_eq!(
        check(busy),
        ["t.toml:2:2: error: states a -> a can loop forever without waiting for the caller: add a play, collect \
          or menu to the loop, or a way out"]
    );
    let waiting = "start = \"a\"\n[a]\nset = { n = \"${n} + 1\" }\nbranch = [ { if = \"${n} > 3\", goto = \"end\" } ]\n\
                   next = \"b\"\n[b]\nplay = [\"star\"]\nnext = \"a\"\n[end]\nhangup = true\n";
    assert_eq!(check(waiting), Vec::<String>::new());
}

#[test]
fn states_must_say_where_every_outcome_goes_and_start_must_exist() {
    let text = "[a]\ncollect = { prompts = [\"enter-account\"], max = 4 }\non = { complete = \"a\", done = \"a\" }\n\
                [b]\n";
    assert_eq!(
        check(text),
        [
            "t.toml:1:1: error: missing `start`: add start = \"NAME\" (the first state) at the top",
            "t.toml:1:2: error: [a] can finish with `fail` but has no `next` or `on.fail`: say where the call goes",
            "t.toml:1:2: error: [a] on.done: no action here finishes with `done`; outcomes: complete, fail",
            "t.toml:4:2: error: [b] does nothing and has no `next`: add an action or next = \"STATE\"",
        ]
    );
    assert_eq!(
        check("start = \"x\"\n[a]\nhangup = true\n"),
        ["t.toml:1:9: error: start = \"x\": no such state; states: a"]
    );
}

#[test]
fn values_are_type_and_range_checked() {
    let text = "start = \"a\"\nmax_transitions = 0\n[a]\n\
                collect = { prompts = [\"enter-account\"], min = 5, max = 99, terminator = \"x\", into = \"9x\" }\n\
                on = { complete = \"a\", fail = \"a\" }\nset = { language = \"fr\", n = [1] }\n";
    assert_eq!(
        check(text),
        [
            "t.toml:2:19: error: max_transitions = 0: expected a whole number of state entries from 1 to 100000",
            "t.toml:4:57: error: [a] collect = 99: expected a whole number of digits from 1 to 64",
            "t.toml:4:74: error: [a] collect = \"x\": expected one key (\"#\", \"*\") or \"\" for none",
            "t.toml:4:86: error: [a] collect: `9x` is not a variable name: use letters, digits and _, at most 32 \
             bytes",
            "t.toml:6:20: error: [a] set: language \"fr\" is not one of this flow's languages (en): add it to \
             `languages`",
            "t.toml:6:30: error: [a] set = [1]: expected text or a sum in quotes, e.g. \"${tries} + 1\"",
        ]
    );
}

#[test]
fn syntax_errors_and_dotted_tables_are_located() {
    assert_eq!(
        check("start = \n"),
        ["t.toml:1:9: error: TOML syntax: invalid string; expected `\"`, `'`"]
    );
    let dotted = check("start = \"a\"\n[state.a]\nhangup = true\n");
    assert_eq!(dotted.len(), 1);
    assert!(
        dotted[0].starts_with("t.toml:2:8: error: dotted keys"),
        "{dotted:?}"
    );
}

// ---------------------------------------------------------------------------------------------------
// Property: whatever the text, the loader returns findings or a flow, never panics

#[test]
fn random_and_mutated_flows_never_panic() {
    let example = std::fs::read_to_string(Path::new(REPO).join("etc/flows/main.toml")).unwrap();
    let voice = Path::new(REPO).join("voice");
    let registry = Registry::builtin();
    let seed = 20261123;
    let mut rng = Rng::new(seed);
    let tokens = [
        "[",
        "]",
        "{",
        "}",
        "=",
        "\"",
        "\n",
        "${",
        "}",
        "#",
        "menu",
        "play",
        "next",
        "on",
        "goto",
        "set",
        "branch",
        "collect",
        "say",
        "hangup",
        "true",
        "-1",
        "99999999999999999999",
        "\"a\"",
        "[a]",
        ",",
        "options",
        "fallback",
        "\"1\"",
        "start",
        "'",
        "\\",
        "é",
        "\u{0}",
        ".",
        "[[x]]",
    ];
    for case in 0..3000 {
        let text = match case % 3 {
            0 => mutate_bytes(&example, &mut rng),
            1 => mutate_lines(&example, &mut rng),
            _ => (0..rng.below(60))
                .map(|_| tokens[rng.below(tokens.len() as u64) as usize])
                .collect(),
        };
        let (flow, diags) = parse_text("fuzz", Path::new("fuzz.toml"), &text, Some(&voice), &registry);
        let errors = diags
            .iter()
            .any(|d| d.severity == telvox::config::Severity::Error);
        assert_eq!(
            flow.is_some(),
            !errors,
            "seed {seed} case {case}: a flow exactly when no errors\n{text}"
        );
        for d in &diags {
            assert!(d.line >= 1 && d.column >= 1, "seed {seed} case {case}: {d}");
        }
    }
}

/// The text with a few random bytes deleted, duplicated or replaced (kept valid UTF-8 by lossy
/// conversion, as a file read would require).
fn mutate_bytes(text: &str, rng: &mut Rng) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(bytes.len() as u64) as usize;
        match rng.below(3) {
            0 => {
                bytes.remove(at);
            }
            1 => bytes.insert(at, bytes[at]),
            _ => bytes[at] = b"\"[]{}=#\n,x1$"[rng.below(12) as usize],
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The text with random lines deleted, duplicated or swapped.
fn mutate_lines(text: &str, rng: &mut Rng) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(lines.len() as u64) as usize;
        match rng.below(3) {
            0 => {
                lines.remove(at);
            }
            1 => lines.insert(at, lines[at]),
            _ => {
                let other = rng.below(lines.len() as u64) as usize;
                lines.swap(at, other);
            }
        }
    }
    lines.join("\n")
}

#[test]
fn a_menu_that_falls_back_to_itself_is_stopped_at_max_transitions() {
    let flow = "start = \"ask\"\nmax_transitions = 3\n[ask]\nmenu = { prompts = [\"please-enter\"], \
                options = { \"1\" = \"bye\" }, timeout_ms = 500, retries = 0, no_input = [\"timeout\"], \
                fallback = \"ask\" }\n[bye]\nhangup = true\n";
    let daemon = daemon_with_flows(&[("again", flow)], &[("8101", "again")]);
    let outcome = scripted_call(&daemon, "8101", &[]);
    let round = [("en", "please-enter"), ("en", "timeout")];
    let expected: Vec<Heard> = round.iter().cycle().take(6).copied().collect();
    assert_heard(&outcome.heard, &expected);
    assert_path(&daemon, &outcome, &["ask", "ask", "ask", "transition_limit"]);
}

#[test]
fn reload_gives_new_calls_the_new_flow() {
    let before = "start = \"a\"\n[a]\nplay = [\"star\"]\nhangup = true\n";
    let daemon = daemon_with_flows(&[("swap", before)], &[("8102", "swap")]);
    let first = scripted_call(&daemon, "8102", &[]);
    assert_heard(&first.heard, &[("en", "star")]);
    let after = "start = \"b\"\n[b]\nplay = [\"pound\"]\nhangup = true\n";
    std::fs::write(daemon.dir.path().join("flows/swap.toml"), after).unwrap();
    let out = daemon.cli(&["reload"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let second = scripted_call(&daemon, "8102", &[]);
    assert_heard(&second.heard, &[("en", "pound")]);
    assert!(find(&second.heard, &prompt_alaw("en", "star"), 0).is_none());
    assert_path(&daemon, &second, &["b"]);
}

/// A verb added from outside the interpreter, as later features (lookup, record, …) will be.
#[derive(Debug)]
struct Jump(telvox::apps::ivr::StateId);

impl telvox::apps::ivr::Action for Jump {
    fn enter(
        &self,
        _flow: &telvox::apps::ivr::Flow,
        _call: &mut telvox::apps::ivr::IvrCall,
        _cx: &mut telvox::engine::app::CallCx,
    ) -> telvox::apps::ivr::Step {
        telvox::apps::ivr::Step::Goto(self.0)
    }

    fn waits(&self) -> bool {
        false
    }

    fn outcomes(&self) -> &'static [&'static str] {
        &[]
    }

    fn links(&self) -> Vec<telvox::apps::ivr::StateId> {
        vec![self.0]
    }
}

fn parse_jump(
    item: &telvox::apps::ivr::tree::Item,
    cx: &mut telvox::apps::ivr::ParseCx,
) -> Option<Box<dyn telvox::apps::ivr::Action>> {
    Some(Box::new(Jump(cx.state(item)?)))
}

#[test]
fn actions_are_registered_not_matched() {
    let mut registry = Registry::builtin();
    registry.register(telvox::apps::ivr::ActionKind {
        key: "jump",
        parse: parse_jump,
    });
    let text = "start = \"a\"\n[a]\njump = \"b\"\n[b]\njump = \"a\"\n";
    let (flow, diags) = parse_text("t", Path::new("t.toml"), text, None, &registry);
    assert!(flow.is_none());
    let shown: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        shown,
        ["t.toml:2:2: error: states a -> b -> a can loop forever without waiting for the caller: add a play, \
          collect or menu to the loop, or a way out"],
        "the new verb takes part in validation like the built-in ones"
    );
    let (flow, _) = parse_text(
        "t",
        Path::new("t.toml"),
        "start = \"a\"\n[a]\njump = \"b\"\n[b]\nhangup = true\n",
        None,
        &registry,
    );
    assert_eq!(flow.expect("valid").states[0].actions.len(), 1);
    let (_, diags) = parse_text(
        "t",
        Path::new("t.toml"),
        "start = \"a\"\n[a]\njump = \"a\"\n",
        None,
        &Registry::builtin(),
    );
    assert!(
        diags[0]
            .message
            .starts_with("unknown action or key `jump` in [a]"),
        "{diags:?}"
    );
}

#[test]
fn required_action_keys_are_reported_at_the_table() {
    let text = "start = \"a\"\n[a]\nmenu = { prompts = [\"main-menu\"] }\n";
    assert_eq!(
        check(text),
        [
            "t.toml:3:8: error: [a] menu needs `options`",
            "t.toml:3:8: error: [a] menu needs `fallback`",
        ]
    );
}

#[test]
fn twenty_concurrent_callers_each_follow_their_own_path() {
    let daemon = hotline(OPEN_NOW);
    let outcomes: Vec<(usize, CallOutcome)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let daemon = &daemon;
                scope.spawn(move || {
                    let (lang_key, lang) = if i % 2 == 0 { ("1", "zh") } else { ("2", "en") };
                    let option = "0";
                    let cues = [
                        cue("zh", "choose-language", lang_key),
                        cue(lang, "main-menu", option),
                        cue(lang, "coming-soon", ""),
                    ];
                    (i, scripted_call(daemon, "8000", &cues))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, outcome) in &outcomes {
        let (lang, language_state) = if i % 2 == 0 {
            ("zh", "mandarin")
        } else {
            ("en", "english")
        };
        let option_state = "operator";
        assert_heard(
            &outcome.heard,
            &[(lang, "coming-soon"), (lang, "main-menu"), (lang, "goodbye")],
        );
        let mut path = vec![
            "choose_language",
            language_state,
            "hours",
            "welcome",
            "main_menu",
            option_state,
        ];
        path.extend(["main_menu", "goodbye"]);
        assert_path(&daemon, outcome, &path);
    }
}

// ---------------------------------------------------------------------------------------------------
// Sub-flows: call / return

#[test]
fn a_sub_flow_returns_to_the_action_after_its_call() {
    let flow = "start = \"a\"\nlanguage = \"en\"\n\
                [a]\ncall = \"sub\"\nnext = \"b\"\n\
                [b]\ncall = \"sub\"\nplay = { prompts = [\"goodbye\"], barge_in = false }\nhangup = true\n\
                [sub]\nplay = [\"star\"]\nreturn = true\n";
    let daemon = daemon_with_flows(&[("subs", flow)], &[("8104", "subs")]);
    let outcome = scripted_call(&daemon, "8104", &[cue("en", "goodbye", "")]);
    assert_heard(
        &outcome.heard,
        &[("en", "star"), ("en", "star"), ("en", "goodbye")],
    );
    assert_path(&daemon, &outcome, &["a", "sub", "b", "sub"]);
}

#[test]
fn recursive_or_too_deep_calls_are_refused_at_load() {
    let text = "start = \"a\"\n[a]\ncall = \"s1\"\nhangup = true\n[s1]\ncall = \"s1\"\nreturn = true\n";
    let found = check(text);
    assert!(
        found
            .iter()
            .any(|d| d.contains("error: sub-flow `s1` can call itself")),
        "{found:#?}"
    );
    let mut text = String::from("start = \"s0\"\n");
    for i in 0..10 {
        text.push_str(&format!("[s{i}]\ncall = \"s{}\"\nreturn = true\n", i + 1));
    }
    text.push_str("[s10]\nreturn = true\n");
    let found = check(&text);
    assert!(
        found
            .iter()
            .any(|d| d.contains("is called more than 8 calls deep")),
        "{found:#?}"
    );
    let fine = "start = \"a\"\n[a]\ncall = \"s1\"\nhangup = true\n[s1]\ncall = \"s2\"\nreturn = true\n\
                [s2]\nreturn = true\n";
    assert_eq!(check(fine), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------------
// telvox flow show | dot

fn telvox(args: &[&str]) -> std::process::Output {
    let config = Path::new(REPO).join("etc/telvox.toml");
    std::process::Command::new(env!("CARGO_BIN_EXE_telvox"))
        .arg("--config")
        .arg(&config)
        .args(args)
        .output()
        .expect("run telvox")
}

#[test]
fn flow_show_prints_every_state_with_its_actions_and_exits() {
    let out = telvox(&["flow", "show", "main"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("flow main ("), "{text}");
    for needle in [
        "\n[check_pin]\n  verify_pin = { query = \"SELECT pin_hash FROM accounts WHERE account = ?\"",
        "  on locked -> locked\n",
        "\n[mandarin]\n  set = { language = \"zh\" }\n  next -> hours\n",
    ] {
        assert!(text.contains(needle), "{needle:?} in:\n{text}");
    }
    let missing = telvox(&["flow", "show", "nosuch"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no flow \"nosuch\""));
}

#[test]
fn flow_dot_is_a_digraph_graphviz_accepts() {
    let out = telvox(&["flow", "dot", "main"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("digraph \"main\" {"), "{text}");
    assert!(
        text.contains("\"check_pin\" -> \"locked\" [label=\"locked\"];"),
        "{text}"
    );
    // Graphviz is optional on a build machine (install.sh installs it); check the syntax when present.
    let Ok(mut dot) = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        eprintln!("graphviz `dot` not installed: syntax not checked");
        return;
    };
    use std::io::Write;
    dot.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let result = dot.wait_with_output().unwrap();
    assert!(
        result.status.success(),
        "dot: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(String::from_utf8_lossy(&result.stdout).contains("<svg"));
}

// ---------------------------------------------------------------------------------------------------
// record

const RECORD_FLOW: &str = "start = \"r\"\nlanguage = \"en\"\n\
    [r]\nplay = { prompts = [\"please-enter\"], barge_in = false }\n\
    record = { into = \"msg\", max_ms = 8000, silence_ms = 1500 }\nnext = \"bye\"\n\
    [bye]\nplay = { prompts = [\"goodbye\"], barge_in = false }\nhangup = true\n";

/// The finished recordings of a daemon (no `.part` left behind), waiting for the recorder thread.
fn recordings(daemon: &TestDaemon, count: usize) -> Vec<std::path::PathBuf> {
    let dir = daemon.dir.path().join("data/recordings");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut found: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        found.sort();
        let done = found.iter().all(|p| p.extension().is_some_and(|e| e == "wav"));
        if (found.len() >= count && done) || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn record_keeps_the_callers_audio_until_the_pound_key() {
    let daemon = daemon_with_flows(&[("rec", RECORD_FLOW)], &[("8105", "rec")]);
    let outcome = scripted_call(&daemon, "8105", &[cue("en", "please-enter", "1234567#")]);
    assert_heard(&outcome.heard, &[("en", "please-enter"), ("en", "goodbye")]);
    assert_path(&daemon, &outcome, &["r", "bye"]);
    let files = recordings(&daemon, 1);
    assert_eq!(files.len(), 1, "{files:?}");
    let wav = std::fs::read(&files[0]).unwrap();
    assert_eq!(&wav[..4], b"RIFF");
    let data_bytes = u32::from_le_bytes(wav[40..44].try_into().unwrap()) as usize;
    assert_eq!(data_bytes, wav.len() - 44, "the header is finished");
    // The keys' tones (7 x 60 ms + gaps) are in it, and not much more: it ended at #.
    assert!((6_000..40_000).contains(&data_bytes), "{data_bytes} bytes");
    let loud = wav[44..]
        .chunks_exact(2)
        .filter(|s| i16::from_le_bytes([s[0], s[1]]).unsigned_abs() > 3000)
        .count();
    assert!(
        loud > 1000,
        "the caller's tones were recorded ({loud} loud samples)"
    );
    if let Ok(out) = std::process::Command::new("soxi")
        .arg("-r")
        .arg(&files[0])
        .output()
    {
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "8000",
            "sox opens it"
        );
    }
}

#[test]
fn record_ends_on_silence() {
    let daemon = daemon_with_flows(&[("rec", RECORD_FLOW)], &[("8105", "rec")]);
    let outcome = scripted_call(&daemon, "8105", &[cue("en", "please-enter", "")]);
    assert_path(&daemon, &outcome, &["r", "bye"]);
    let files = recordings(&daemon, 1);
    assert_eq!(files.len(), 1, "{files:?}");
    let data_bytes = std::fs::metadata(&files[0]).unwrap().len() - 44;
    // Exactly 1.5 s of silence (24,000 bytes of PCM16): silence is counted in the call's own
    // samples, so a slow recorder thread cannot make it longer.
    assert_eq!(data_bytes, 24_000);
}

#[test]
fn pin_hash_reads_stdin_and_prints_a_hash_verify_pin_accepts() {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_telvox"))
        .args(["pin", "hash"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run telvox pin hash");
    child.stdin.take().unwrap().write_all(b"2468\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).unwrap();
    assert!(hash.starts_with("$pbkdf2-sha256$"), "{hash}");
    assert!(telvox::apps::ivr::business::pin_matches("2468", hash.trim()));
    assert!(!telvox::apps::ivr::business::pin_matches("2469", hash.trim()));
}

#[test]
fn a_loop_through_a_call_is_busy_only_if_the_sub_flow_never_waits() {
    let waiting =
        "start = \"a\"\n[a]\ncall = \"sub\"\nnext = \"a\"\n[sub]\nplay = [\"star\"]\nreturn = true\n";
    assert_eq!(check(waiting), Vec::<String>::new());
    let spinning =
        "start = \"a\"\n[a]\ncall = \"sub\"\nnext = \"a\"\n[sub]\nset = { x = 1 }\nreturn = true\n";
    let found = check(spinning);
    assert!(
        found
            .iter()
            .any(|d| d.contains("error: states a -> a can loop forever")),
        "{found:#?}"
    );
}
