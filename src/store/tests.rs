//! Tests of the call log: event application, recovery, migrations, queries and the store thread.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::thread::shed;
use super::*;
use crate::engine::events::{CallEvent, Disposition, EventKind};
use crate::fixed::{DigitLog, Label, Name, Number};
use crate::hw::{CallRef, Cause, ChanId};

/// 2026-11-22T22:14:23.123Z.
const START_MS: i64 = 1_795_385_663_123;
const EPOCH_S: u64 = 1_795_385_663;
const CHAN: ChanId = ChanId { span: 1, chan: 5 };
/// Samples per second of the channel clock.
const SECOND: u64 = 8000;

fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("telvox.db");
    (dir, path)
}

fn uniqueid(seq: u64) -> String {
    format!("{EPOCH_S}.{seq}")
}

fn event(seq: u64, at_sample: u64, kind: EventKind) -> CallEvent {
    CallEvent {
        call: CallRef {
            epoch_s: EPOCH_S,
            seq,
        },
        chan: CHAN,
        at_sample,
        kind,
    }
}

fn start_at(seq: u64, start_ms: i64, src: &str) -> CallEvent {
    let kind = EventKind::CallStart {
        start_epoch_ms: start_ms,
        src: Number::from_str_truncating(src),
        dst: Number::from_str_truncating("8000"),
        name: Name::from_str_truncating("Alice"),
        flow: Label::from_str_truncating("main"),
    };
    event(seq, 0, kind)
}

fn start(seq: u64) -> CallEvent {
    start_at(seq, START_MS, "13800138000")
}

fn answer(seq: u64, at_sample: u64) -> CallEvent {
    event(seq, at_sample, EventKind::Answer)
}

fn digit(seq: u64, at_sample: u64, digit: char) -> CallEvent {
    event(seq, at_sample, EventKind::Digit { digit })
}

fn state(seq: u64, at_sample: u64, name: &str) -> CallEvent {
    event(
        seq,
        at_sample,
        EventKind::State {
            state: Label::from_str_truncating(name),
        },
    )
}

fn end(seq: u64, at_sample: u64, cause: Cause, disposition: Disposition, digits: &str) -> CallEvent {
    let digits = DigitLog::from_str_truncating(digits);
    event(
        seq,
        at_sample,
        EventKind::CallEnd {
            cause,
            disposition,
            digits,
        },
    )
}

fn hangup(seq: u64, at_sample: u64) -> CallEvent {
    end(seq, at_sample, Cause::NormalClearing, Disposition::Answered, "")
}

fn only_call(store: &Store) -> CallRecord {
    let mut calls = store.calls(&CallFilter::default()).expect("calls");
    assert_eq!(calls.len(), 1, "{calls:?}");
    calls.remove(0)
}

fn call_by_id(store: &Store, seq: u64) -> CallRecord {
    let calls = store
        .calls(&CallFilter {
            limit: MAX_CALLS_LIMIT,
            ..CallFilter::default()
        })
        .expect("calls");
    calls
        .into_iter()
        .find(|c| c.uniqueid == uniqueid(seq))
        .expect("call in log")
}

fn row_count(store: &Store, table: &str) -> i64 {
    store
        .conn
        .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| row.get(0))
        .expect("count")
}

fn user_version(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
        .expect("user_version")
}

#[test]
fn full_call_lifecycle_logs_times_duration_digits_and_path() {
    let (_dir, path) = temp_db();
    let mut store = Store::open(&path).expect("open");
    store.apply(&[start(1)]).expect("start");
    let up = only_call(&store);
    assert_eq!(
        (
            up.end.as_deref(),
            up.duration,
            up.billsec,
            up.disposition.as_deref()
        ),
        (None, None, None, None)
    );
    assert_eq!(store.open_calls().expect("open calls"), 1);

    let rest = [
        answer(1, SECOND),
        state(1, SECOND, "menu"),
        digit(1, 2 * SECOND, '1'),
        digit(1, 2 * SECOND + SECOND / 2, '#'),
        state(1, 2 * SECOND + SECOND / 2, "sales"),
        end(
            1,
            65 * SECOND + SECOND / 2,
            Cause::NormalClearing,
            Disposition::Answered,
            "1#",
        ),
    ];
    store.apply(&rest).expect("rest");

    let call = only_call(&store);
    assert_eq!(call.uniqueid, uniqueid(1));
    assert_eq!(
        (call.src.as_str(), call.dst.as_str(), call.clid.as_str()),
        ("13800138000", "8000", "Alice")
    );
    assert_eq!((call.channel.as_str(), call.flow.as_str()), ("1/5", "main"));
    assert_eq!(call.start, "2026-11-22T22:14:23.123Z");
    assert_eq!(call.answer.as_deref(), Some("2026-11-22T22:14:24.123Z"));
    assert_eq!(call.end.as_deref(), Some("2026-11-22T22:15:28.623Z"));
    // 65.5 s from start, 64.5 s from answer: both rounded down.
    assert_eq!((call.duration, call.billsec), (Some(65), Some(64)));
    assert_eq!(call.disposition.as_deref(), Some("ANSWERED"));
    assert_eq!(call.hangup_cause.as_deref(), Some("NORMAL_CLEARING"));
    assert_eq!(call.hangup_cause_code, Some(16));
    assert_eq!(call.digits, "1#");
    let path_rows = store.call_path(&uniqueid(1)).expect("path");
    assert_eq!(
        path_rows,
        vec![
            ("menu".to_string(), START_MS + 1000),
            ("sales".to_string(), START_MS + 2500)
        ]
    );
    let digit_times: Vec<(String, i64)> = store
        .conn
        .prepare("SELECT digit, at_ms FROM call_digits WHERE uniqueid = ?1 ORDER BY idx")
        .expect("prepare")
        .query_map([uniqueid(1)], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(
        digit_times,
        vec![
            ("1".to_string(), START_MS + 2000),
            ("#".to_string(), START_MS + 2500)
        ]
    );
    let answer_ms: i64 = store
        .conn
        .query_row("SELECT answer_ms FROM cdr", [], |r| r.get(0))
        .expect("answer_ms");
    assert_eq!(answer_ms, START_MS + 1000);
    assert_eq!(store.open_calls().expect("open calls"), 0);
}

#[test]
fn unanswered_call_has_null_answer_and_zero_billsec() {
    let (_dir, path) = temp_db();
    let mut store = Store::open(&path).expect("open");
    store
        .apply(&[
            start(1),
            end(1, 20 * SECOND, Cause::NoAnswer, Disposition::NoAnswer, ""),
        ])
        .expect("apply");
    let call = only_call(&store);
    assert_eq!(call.answer, None);
    assert_eq!((call.duration, call.billsec), (Some(20), Some(0)));
    assert_eq!(call.disposition.as_deref(), Some("NO ANSWER"));
    assert_eq!(
        (call.hangup_cause.as_deref(), call.hangup_cause_code),
        (Some("NO_ANSWER"), Some(19))
    );
    assert_eq!(call.digits, "");
}

#[test]
fn call_end_digits_fill_in_dropped_digit_events() {
    let (_dir, path) = temp_db();
    let mut store = Store::open(&path).expect("open");
    // Only the first key's event reached the store; the engine's log at the end has all three.
    let ending = end(1, 3 * SECOND, Cause::NormalClearing, Disposition::Answered, "123");
    store
        .apply(&[start(1), digit(1, SECOND, '1'), ending])
        .expect("apply");
    assert_eq!(call_by_id(&store, 1).digits, "123");

    // 70 keys: the engine's log keeps 64 and says it is truncated; the events have them all.
    let keys = "1234567890".repeat(7);
    let mut events = vec![start(2)];
    events.extend(keys.chars().map(|key| digit(2, SECOND, key)));
    events.push(end(
        2,
        9 * SECOND,
        Cause::NormalClearing,
        Disposition::Answered,
        &keys,
    ));
    store.apply(&events).expect("apply");
    assert_eq!(call_by_id(&store, 2).digits, keys);
}

#[test]
fn recover_interrupted_closes_open_rows_at_last_heartbeat() {
    let (_dir, path) = temp_db();
    let mut store = Store::open(&path).expect("open");
    let events = [
        start(1),
        answer(1, SECOND),
        digit(1, 2 * SECOND, '5'),
        start(2),
        hangup(2, 10 * SECOND),
        start_at(3, START_MS + 100_000, "13900139000"),
    ];
    store.apply(&events).expect("apply");
    store.heartbeat(START_MS + 30_500).expect("heartbeat");
    let closed_before = call_by_id(&store, 2);

    assert_eq!(store.recover_interrupted(START_MS + 200_000).expect("recover"), 2);

    let cut = call_by_id(&store, 1);
    assert_eq!(cut.end.as_deref(), Some("2026-11-22T22:14:53.623Z"));
    assert_eq!((cut.duration, cut.billsec), (Some(30), Some(29)));
    assert_eq!(cut.disposition.as_deref(), Some("INTERRUPTED"));
    assert_eq!((cut.hangup_cause, cut.hangup_cause_code), (None, None));
    assert_eq!(cut.digits, "5");
    // Started after the last heartbeat: nothing says it lasted, so it ends when it started.
    let late = call_by_id(&store, 3);
    assert_eq!(late.end.as_deref(), Some(late.start.as_str()));
    assert_eq!((late.duration, late.billsec), (Some(0), Some(0)));
    assert_eq!(
        call_by_id(&store, 2),
        closed_before,
        "a closed call is left alone"
    );
    assert_eq!(store.open_calls().expect("open calls"), 0);
    assert_eq!(
        store
            .recover_interrupted(START_MS + 300_000)
            .expect("recover again"),
        0
    );
}

#[test]
fn recover_interrupted_caps_a_future_heartbeat_at_now() {
    let (_dir, path) = temp_db();
    let mut store = Store::open(&path).expect("open");
    store.apply(&[start(1)]).expect("apply");
    store.heartbeat(START_MS + 1_000_000).expect("heartbeat");
    assert_eq!(store.recover_interrupted(START_MS + 5_000).expect("recover"), 1);
    assert_eq!(only_call(&store).duration, Some(5));
}

#[test]
fn recover_interrupted_without_heartbeat_ends_calls_at_start() {
    let (_dir, path) = temp_db();
    let mut store = Store::open(&path).expect("open");
    store.apply(&[start(1), answer(1, SECOND)]).expect("apply");
    assert_eq!(store.recover_interrupted(START_MS + 60_000).expect("recover"), 1);
    let call = only_call(&store);
    assert_eq!((call.duration, call.billsec), (Some(0), Some(0)));
    assert_eq!(call.disposition.as_deref(), Some("INTERRUPTED"));
}

#[test]
fn reopening_an_existing_db_is_a_noop_migration() {
    let (_dir, path) = temp_db();
    let schema = |store: &Store| -> Vec<String> {
        let mut stmt = store
            .conn
            .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
            .unwrap();
        stmt.query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let first = {
        let mut store = Store::open(&path).expect("create");
        store.apply(&[start(1), hangup(1, SECOND)]).expect("apply");
        schema(&store)
    };
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    let store = Store::open(&path).expect("reopen");
    assert_eq!(schema(&store), first);
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    assert_eq!(only_call(&store).uniqueid, uniqueid(1));
}

#[test]
fn a_db_from_a_newer_telvox_is_refused() {
    let (_dir, path) = temp_db();
    drop(Store::open(&path).expect("create"));
    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .expect("bump");
    drop(conn);

    let err = Store::open(&path).expect_err("newer schema must be refused");
    assert!(matches!(err, StoreError::SchemaTooNew { .. }), "{err:?}");
    assert!(err.to_string().contains("newer telvox"), "{err}");
    let err = Store::open_readonly(&path).expect_err("newer schema must be refused");
    assert!(matches!(err, StoreError::SchemaTooNew { .. }), "{err:?}");
    assert_eq!(
        user_version(&path),
        SCHEMA_VERSION + 1,
        "refusing must not touch the file"
    );
}

#[test]
fn readonly_open_of_a_missing_file_says_no_calls_yet_and_where() {
    let (_dir, path) = temp_db();
    let err = Store::open_readonly(&path).expect_err("missing file");
    let text = err.to_string();
    assert!(text.contains("no calls have been logged yet"), "{text}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(!path.exists(), "a reader must not create the file");
}

#[test]
fn readonly_handle_reads_while_the_writer_writes() {
    let (_dir, path) = temp_db();
    let mut writer = Store::open(&path).expect("open");
    let calls_total = 200u64;
    let writing = std::thread::spawn(move || {
        for seq in 1..=calls_total {
            writer.apply(&[start(seq), hangup(seq, SECOND)]).expect("apply");
        }
        writer
    });
    let mut reader = Store::open_readonly(&path).expect("open readonly");
    let filter = CallFilter {
        limit: MAX_CALLS_LIMIT,
        ..CallFilter::default()
    };
    let mut seen = 0;
    while !writing.is_finished() {
        let now = reader.calls(&filter).expect("read while writing").len();
        assert!(now >= seen, "rows never disappear");
        seen = now;
    }
    let _writer = writing.join().expect("writer thread");
    assert_eq!(reader.calls(&filter).expect("read").len() as u64, calls_total);
    assert!(
        reader.heartbeat(START_MS).is_err(),
        "a read-only handle cannot write"
    );
}

#[test]
fn calls_filter_by_since_caller_and_limit() {
    let (_dir, path) = temp_db();
    let mut store = Store::open(&path).expect("open");
    let srcs = ["13800138000", "13900139000", "100%_off", "1380", "555"];
    let events: Vec<CallEvent> = srcs
        .iter()
        .enumerate()
        .map(|(i, src)| start_at(i as u64 + 1, START_MS + i as i64 * 60_000, src))
        .collect();
    store.apply(&events).expect("apply");
    let ids = |filter: CallFilter| -> Vec<String> {
        store
            .calls(&filter)
            .expect("calls")
            .into_iter()
            .map(|c| c.src)
            .collect()
    };

    assert_eq!(
        ids(CallFilter::default()),
        ["555", "1380", "100%_off", "13900139000", "13800138000"]
    );
    assert_eq!(
        ids(CallFilter {
            since_ms: Some(START_MS + 120_000),
            ..CallFilter::default()
        }),
        ["555", "1380", "100%_off"]
    );
    assert_eq!(
        ids(CallFilter {
            caller: Some("138".into()),
            ..CallFilter::default()
        }),
        ["1380", "13800138000"]
    );
    assert_eq!(
        ids(CallFilter {
            limit: 2,
            ..CallFilter::default()
        }),
        ["555", "1380"]
    );
    // `%` and `_` are matched literally, not as wildcards.
    assert_eq!(
        ids(CallFilter {
            caller: Some("%".into()),
            ..CallFilter::default()
        }),
        ["100%_off"]
    );
    assert_eq!(
        ids(CallFilter {
            caller: Some("0_".into()),
            ..CallFilter::default()
        }),
        Vec::<String>::new()
    );
    let combined = CallFilter {
        since_ms: Some(START_MS + 60_000),
        caller: Some("13".into()),
        limit: 1,
    };
    assert_eq!(ids(combined), ["1380"]);
    assert_eq!(store.calls_since(START_MS + 180_000).expect("since"), 2);
}

#[test]
fn sql_in_the_caller_filter_is_harmless() {
    let (_dir, path) = temp_db();
    let mut store = Store::open(&path).expect("open");
    store.apply(&[start(1)]).expect("apply");
    let hostile = CallFilter {
        caller: Some("'; DROP TABLE cdr; --".into()),
        ..CallFilter::default()
    };
    assert!(store.calls(&hostile).expect("query").is_empty());
    assert_eq!(only_call(&store).uniqueid, uniqueid(1));
    assert_eq!(store.integrity_check().expect("check"), "ok");
}

#[test]
fn integrity_check_says_ok() {
    let (_dir, path) = temp_db();
    let mut store = Store::open(&path).expect("open");
    store
        .apply(&[start(1), state(1, 0, "menu"), hangup(1, SECOND)])
        .expect("apply");
    assert_eq!(store.integrity_check().expect("check"), "ok");
    assert_eq!(
        Store::open_readonly(&path)
            .expect("reader")
            .integrity_check()
            .expect("check"),
        "ok"
    );
}

#[test]
fn apply_is_idempotent_for_duplicated_events() {
    let (_dir, path) = temp_db();
    let mut store = Store::open(&path).expect("open");
    store
        .apply(&[start(1), start_at(1, START_MS + 5_000, "999")])
        .expect("duplicate in one batch");
    store
        .apply(&[start(1), answer(1, SECOND), answer(1, 3 * SECOND)])
        .expect("duplicate in another batch");
    store
        .apply(&[hangup(1, 10 * SECOND), hangup(1, 20 * SECOND)])
        .expect("duplicate end");
    let call = only_call(&store);
    assert_eq!(
        (call.src.as_str(), call.start.as_str()),
        ("13800138000", "2026-11-22T22:14:23.123Z")
    );
    assert_eq!(
        (call.duration, call.billsec),
        (Some(10), Some(9)),
        "first answer and first end win"
    );
    assert_eq!(row_count(&store, "cdr"), 1);
}

#[test]
fn events_for_unknown_calls_are_skipped_not_fatal() {
    let (_dir, path) = temp_db();
    let mut store = Store::open(&path).expect("open");
    let batch = [
        answer(99, SECOND),
        digit(99, SECOND, '1'),
        state(99, SECOND, "menu"),
        start(1),
        hangup(98, SECOND),
    ];
    assert_eq!(store.apply_counted(&batch).expect("apply"), 4);
    assert_eq!(only_call(&store).uniqueid, uniqueid(1));
    assert_eq!(
        row_count(&store, "call_path") + row_count(&store, "call_digits"),
        0
    );
}

#[test]
fn max_seq_and_counts_continue_across_restarts() {
    let (_dir, path) = temp_db();
    let mut store = Store::open(&path).expect("open");
    assert_eq!(store.max_seq().expect("empty"), 0);
    store
        .apply(&[start(7), start(3), hangup(3, SECOND)])
        .expect("apply");
    drop(store);
    let store = Store::open(&path).expect("reopen");
    assert_eq!(store.max_seq().expect("max"), 7);
    assert_eq!(store.open_calls().expect("open"), 1);
    assert_eq!(store.calls_since(START_MS).expect("since"), 2);
    assert_eq!(store.calls_since(START_MS + 1).expect("since"), 0);
}

#[test]
fn call_record_json_has_exactly_the_contract_fields() {
    let (_dir, path) = temp_db();
    let mut store = Store::open(&path).expect("open");
    store.apply(&[start(1)]).expect("apply");
    let json = serde_json::to_value(only_call(&store)).expect("json");
    let object = json.as_object().expect("object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = [
        "uniqueid",
        "src",
        "dst",
        "clid",
        "channel",
        "flow",
        "start",
        "answer",
        "end",
        "duration",
        "billsec",
        "disposition",
        "hangup_cause",
        "hangup_cause_code",
        "digits",
    ];
    expected.sort_unstable();
    assert_eq!(keys, expected);
    for null_while_up in [
        "answer",
        "end",
        "duration",
        "billsec",
        "disposition",
        "hangup_cause",
        "hangup_cause_code",
    ] {
        assert!(
            object[null_while_up].is_null(),
            "{null_while_up} should be null while the call is up"
        );
    }
    assert_eq!(object["digits"], "");
}

#[test]
fn store_thread_drains_every_event_before_exit() {
    let (_dir, path) = temp_db();
    let store = Store::open(&path).expect("open");
    let (tx, rx) = crossbeam::channel::unbounded();
    let handle = spawn_store_thread(store, rx, 1_000).expect("spawn");
    let calls_total = 2_000u64;
    for seq in 1..=calls_total {
        for ev in [
            start(seq),
            answer(seq, SECOND),
            digit(seq, SECOND, '9'),
            state(seq, SECOND, "menu"),
            hangup(seq, 5 * SECOND),
        ] {
            tx.send(ev).expect("send");
        }
    }
    drop(tx);
    let stats = handle.join().expect("store thread");
    assert_eq!((stats.events_received, stats.events_applied), (10_000, 10_000));
    assert_eq!(
        (stats.events_dropped, stats.events_skipped, stats.events_pending),
        (0, 0, 0)
    );

    let reader = Store::open_readonly(&path).expect("reader");
    assert_eq!(row_count(&reader, "cdr"), calls_total as i64);
    assert_eq!(row_count(&reader, "call_digits"), calls_total as i64);
    assert_eq!(row_count(&reader, "call_path"), calls_total as i64);
    assert_eq!(reader.open_calls().expect("open"), 0);
    assert!(
        reader.last_heartbeat_ms().expect("heartbeat").is_some(),
        "the thread heartbeats"
    );
}

#[test]
fn store_thread_keeps_events_and_retries_while_the_database_is_locked() {
    let (_dir, path) = temp_db();
    let store = Store::open(&path).expect("open");
    // Fail fast instead of waiting 5 s for the lock the test holds.
    store
        .conn
        .busy_timeout(Duration::from_millis(20))
        .expect("busy timeout");
    let blocker = rusqlite::Connection::open(&path).expect("blocker");
    blocker.execute_batch("BEGIN EXCLUSIVE").expect("lock");

    let counters = Arc::new(StoreCounters::default());
    let (tx, rx) = crossbeam::channel::unbounded();
    let handle = spawn_store_thread_with_counters(store, rx, 60_000, Arc::clone(&counters)).expect("spawn");
    tx.send(start(1)).expect("send");
    tx.send(hangup(1, 2 * SECOND)).expect("send");
    let deadline = Instant::now() + Duration::from_secs(10);
    while counters.write_failures.load(Ordering::Relaxed) < 2 {
        assert!(Instant::now() < deadline, "the locked write never failed");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(counters.snapshot().events_pending, 2, "failed events stay queued");

    blocker.execute_batch("COMMIT").expect("unlock");
    drop(tx);
    let stats = handle.join().expect("store thread");
    assert_eq!((stats.events_applied, stats.events_dropped), (2, 0));
    assert!(stats.events_retried >= 3, "{stats:?}");
    let reader = Store::open_readonly(&path).expect("reader");
    assert_eq!(only_call(&reader).duration, Some(2));
}

#[test]
fn shed_drops_the_oldest_digits_and_states_first() {
    let mut pending: VecDeque<CallEvent> = VecDeque::new();
    for seq in 0..6 {
        pending.push_back(start(seq));
        pending.push_back(digit(seq, SECOND, '1'));
    }
    assert_eq!(shed(&mut pending, 12), 0, "not over the limit");
    pending.push_back(state(9, SECOND, "menu"));
    // 13 events over a limit of 12: shrink to 11 (90 %), taking the two oldest digits.
    assert_eq!(shed(&mut pending, 12), 2);
    assert_eq!(pending.len(), 11);
    assert!(pending.iter().take(3).all(CallEvent::is_critical));
    assert_eq!(pending.back().map(|e| e.call.seq), Some(9));

    let mut critical: VecDeque<CallEvent> = (0..20).map(start).collect();
    assert_eq!(
        shed(&mut critical, 10),
        11,
        "only critical events left: the oldest go"
    );
    assert_eq!(critical.front().map(|e| e.call.seq), Some(11));
}
