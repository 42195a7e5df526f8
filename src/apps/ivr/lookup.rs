//! Actions served by the business database: `lookup` (a parameterised query, the first row into
//! variables) and `verify_pin` (a stored salted hash against the digits entered, with lockout).
//! Both hand a [`Job`] to the lookup threads (see [`super::business`]) and poll for the reply on
//! the call timer: nothing here blocks the channel thread.

use std::time::{Duration, Instant};

use crate::engine::app::CallCx;

use super::action::{Action, ActionKind, IvrCall, ParseCx, Step};
use super::business::{Job, Outcome, Params, Reply, Sql, Work, MAX_PARAMS, POLL_MS};
use super::flow::{Flow, StateId};
use super::tree::{Item, Node};
use super::vars::{Template, Value};

pub(super) const KINDS: &[ActionKind] = &[
    ActionKind {
        key: "lookup",
        parse: Lookup::parse,
    },
    ActionKind {
        key: "verify_pin",
        parse: VerifyPin::parse,
    },
];

/// How long a lookup may take before it ends with `error`, and the allowed range.
const DEFAULT_TIMEOUT_MS: u64 = 3000;
const TIMEOUT_MS: std::ops::RangeInclusive<i64> = 100..=30_000;
/// Longest query text.
const MAX_QUERY_CHARS: usize = 1000;

const FOUND: &str = "found";
const NOT_FOUND: &str = "not_found";
const ERROR: &str = "error";
const OK: &str = "ok";
const FAIL: &str = "fail";
const LOCKED: &str = "locked";

/// What `lookup` and `verify_pin` share: the query, its bound parameters and the timeout.
#[derive(Debug)]
struct Query {
    sql: Sql,
    params: Vec<Template>,
    timeout_ms: u64,
}

impl Query {
    /// `query`, `params` and `timeout_ms` from an action's table.
    fn parse(entries: &[(super::tree::Key, Item)], item: &Item, cx: &mut ParseCx) -> Option<Query> {
        let sql = cx.field(entries, "query", item).and_then(|q| Self::sql(q, cx));
        let params = match find(entries, "params") {
            Some(list) => Self::params(list, cx),
            None => Some(Vec::new()),
        };
        let timeout_ms = match find(entries, "timeout_ms") {
            Some(value) => cx.int(value, TIMEOUT_MS, "milliseconds")?.unsigned_abs(),
            None => DEFAULT_TIMEOUT_MS,
        };
        let (sql, params) = (sql?, params?);
        let placeholders = sql.matches('?').count();
        if placeholders != params.len() {
            let message = format!(
                "{}: the query has {placeholders} `?` placeholder(s) but {} parameter(s): every value \
                 is bound to a `?`, never written into the SQL",
                cx.what,
                params.len()
            );
            cx.error(item.span().start, message);
            return None;
        }
        Some(Query {
            sql: sql.into(),
            params,
            timeout_ms,
        })
    }

    fn sql<'i>(item: &'i Item, cx: &mut ParseCx) -> Option<&'i str> {
        let sql = cx.string(item, "an SQL SELECT in quotes")?;
        let select = sql
            .trim_start()
            .get(..6)
            .is_some_and(|w| w.eq_ignore_ascii_case("select"));
        // `${…}` in SQL would be splicing: values go in `params`.
        if !select || sql.contains("${") || sql.chars().count() > MAX_QUERY_CHARS {
            cx.bad(
                item,
                &format!(
                    "one SELECT of at most {MAX_QUERY_CHARS} characters, values as `?` bound from params"
                ),
            );
            return None;
        }
        Some(sql)
    }

    fn params(item: &Item, cx: &mut ParseCx) -> Option<Vec<Template>> {
        let Node::Array(items) = item.get_ref() else {
            cx.bad(item, "a list of values, e.g. [\"${caller}\"]");
            return None;
        };
        if items.len() > MAX_PARAMS {
            cx.bad(item, &format!("at most {MAX_PARAMS} parameters"));
            return None;
        }
        let parsed: Vec<Option<Template>> = items.iter().map(|i| cx.template(i)).collect();
        parsed.into_iter().collect()
    }

    /// Hands the job to the lookup threads; false when it could not be queued.
    fn submit(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx, work: Work) -> bool {
        let Some(business) = flow.business() else {
            return false;
        };
        let mut params: Params = [Value::new(); MAX_PARAMS];
        for (slot, template) in params.iter_mut().zip(&self.params) {
            *slot = template.render(&call.vars);
        }
        call.lookup_seq = call.lookup_seq.wrapping_add(1);
        call.lookup_started = Instant::now();
        let job = Job {
            slot: call.replies.clone(),
            seq: call.lookup_seq,
            work,
            params,
            param_count: self.params.len(),
        };
        if !business.submit(job) {
            return false;
        }
        cx.set_timer_ms(POLL_MS);
        true
    }

    /// The reply if it has come; `Err(())` when the wait timed out; re-arms the poll otherwise.
    ///
    /// The timeout is counted in polls of the call's sample clock (what the caller experiences) and
    /// must also have passed on the wall clock: the lockstep sim runs calls faster than real time,
    /// and a lookup that real time would allow must not time out there.
    fn poll(&self, call: &mut IvrCall, cx: &mut CallCx) -> Result<Option<Reply>, ()> {
        if let Some(reply) = call.replies.take(call.lookup_seq) {
            return Ok(Some(reply));
        }
        call.scratch.attempts = call.scratch.attempts.saturating_add(1);
        let call_time = u64::from(call.scratch.attempts) * POLL_MS >= self.timeout_ms;
        let wall_time = call.lookup_started.elapsed() >= Duration::from_millis(self.timeout_ms);
        if call_time && wall_time {
            return Err(());
        }
        cx.set_timer_ms(POLL_MS);
        Ok(None)
    }
}

fn find<'i>(entries: &'i [(super::tree::Key, Item)], key: &str) -> Option<&'i Item> {
    entries.iter().find(|(k, _)| k.get_ref() == key).map(|(_, i)| i)
}

/// Records an outcome in the call path (`lookup:found`), so "how many callers were not found" is
/// a query on `call_path`, then finishes with it.
fn finish(cx: &mut CallCx, label: &'static str, outcome: &'static str) -> Step {
    cx.enter_state(label);
    Step::Done(outcome)
}

/// A key pressed while waiting for the database is kept for the next `collect` or `menu`.
fn keep_key(call: &mut IvrCall, digit: char) -> Step {
    call.type_ahead.push(digit);
    Step::Wait
}

// ---------------------------------------------------------------------------------------------------
// lookup

/// `lookup = { query = "SELECT name, balance FROM customers WHERE phone = ?", params =
/// ["${caller}"], into = "cust", timeout_ms = 3000 }`: the first row's columns become `cust.name`,
/// `cust.balance`; outcomes `found`, `not_found`, `error` (no database, bad SQL, timeout).
#[derive(Debug)]
struct Lookup {
    query: Query,
    into: String,
}

impl Lookup {
    fn parse(item: &Item, cx: &mut ParseCx) -> Option<Box<dyn Action>> {
        let example = "{ query = \"SELECT name FROM customers WHERE phone = ?\", \
                       params = [\"${caller}\"], into = \"cust\" }";
        let entries = cx.table(item, &["query", "params", "into", "timeout_ms"], example)?;
        let query = Query::parse(entries, item, cx);
        let into_item = cx.field(entries, "into", item)?;
        let into = cx
            .string(into_item, "a variable prefix in quotes, e.g. \"cust\"")?
            .to_owned();
        if !cx.sets_var(&into, into_item.span().start) || into.contains('.') {
            return None;
        }
        Some(Box::new(Lookup { query: query?, into }))
    }

    fn finish(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx, reply: Option<Reply>) -> Step {
        match reply.map(|r| (r.outcome, r)) {
            Some((Outcome::Found, reply)) => {
                for (column, value) in reply.columns() {
                    let mut name = super::vars::VarName::from_str_truncating(&self.into);
                    name.push('.');
                    for c in column.as_str().chars() {
                        name.push(c);
                    }
                    call.set_var(flow, name.as_str(), value.as_str());
                }
                finish(cx, "lookup:found", FOUND)
            }
            Some((Outcome::NotFound, _)) => finish(cx, "lookup:not_found", NOT_FOUND),
            _ => finish(cx, "lookup:error", ERROR),
        }
    }
}

impl Action for Lookup {
    fn enter(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        let work = Work::Query {
            sql: self.query.sql.clone(),
        };
        if self.query.submit(flow, call, cx, work) {
            Step::Wait
        } else {
            self.finish(flow, call, cx, None)
        }
    }

    fn on_digit(&self, _flow: &Flow, call: &mut IvrCall, _cx: &mut CallCx, digit: char) -> Step {
        keep_key(call, digit)
    }

    fn on_timer(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        match self.query.poll(call, cx) {
            Ok(None) => Step::Wait,
            Ok(Some(reply)) => self.finish(flow, call, cx, Some(reply)),
            Err(()) => self.finish(flow, call, cx, None),
        }
    }

    fn waits(&self) -> bool {
        true
    }

    fn outcomes(&self) -> &'static [&'static str] {
        &[FOUND, NOT_FOUND, ERROR]
    }

    fn links(&self) -> Vec<StateId> {
        Vec::new()
    }
}

// ---------------------------------------------------------------------------------------------------
// verify_pin

/// `verify_pin = { query = "SELECT pin_hash FROM accounts WHERE account = ?", params =
/// ["${account}"], pin = "${pin}", account = "${account}" }`: the query's first column is a PHC
/// PBKDF2 hash (`telvox pin hash`); the hash never enters the call's variables. Outcomes `ok`,
/// `fail`, `locked` (after `[business] pin_max_failures` wrong PINs in a row for the account,
/// counted in the call log's `pin_failures` table), `error`.
#[derive(Debug)]
struct VerifyPin {
    query: Query,
    pin: Template,
    account: Template,
}

impl VerifyPin {
    fn parse(item: &Item, cx: &mut ParseCx) -> Option<Box<dyn Action>> {
        let example = "{ query = \"SELECT pin_hash FROM accounts WHERE account = ?\", params = \
                       [\"${account}\"], pin = \"${pin}\", account = \"${account}\" }";
        let keys = ["query", "params", "pin", "account", "timeout_ms"];
        let entries = cx.table(item, &keys, example)?;
        let query = Query::parse(entries, item, cx);
        let pin = cx.field(entries, "pin", item).and_then(|p| cx.template(p));
        let account = cx.field(entries, "account", item).and_then(|a| cx.template(a));
        Some(Box::new(VerifyPin {
            query: query?,
            pin: pin?,
            account: account?,
        }))
    }

    fn finish(cx: &mut CallCx, reply: Option<Reply>) -> Step {
        match reply.map(|r| r.outcome) {
            Some(Outcome::PinOk) => finish(cx, "verify_pin:ok", OK),
            Some(Outcome::PinFail) => finish(cx, "verify_pin:fail", FAIL),
            Some(Outcome::PinLocked) => finish(cx, "verify_pin:locked", LOCKED),
            _ => finish(cx, "verify_pin:error", ERROR),
        }
    }
}

impl Action for VerifyPin {
    fn enter(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        let work = Work::VerifyPin {
            sql: self.query.sql.clone(),
            account: self.account.render(&call.vars),
            pin: self.pin.render(&call.vars),
        };
        if self.query.submit(flow, call, cx, work) {
            Step::Wait
        } else {
            Self::finish(cx, None)
        }
    }

    fn on_digit(&self, _flow: &Flow, call: &mut IvrCall, _cx: &mut CallCx, digit: char) -> Step {
        keep_key(call, digit)
    }

    fn on_timer(&self, _flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        match self.query.poll(call, cx) {
            Ok(None) => Step::Wait,
            Ok(Some(reply)) => Self::finish(cx, Some(reply)),
            Err(()) => Self::finish(cx, None),
        }
    }

    fn waits(&self) -> bool {
        true
    }

    fn outcomes(&self) -> &'static [&'static str] {
        &[OK, FAIL, LOCKED, ERROR]
    }

    fn links(&self) -> Vec<StateId> {
        Vec::new()
    }
}
