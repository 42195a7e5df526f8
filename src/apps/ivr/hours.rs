//! `hours`: open or closed now, by opening hours per weekday and holiday dates, in the time zone
//! of `[business] timezone`.

use chrono::{Datelike, NaiveDate, NaiveTime, Timelike};

use crate::engine::app::CallCx;

use super::action::{Action, ActionKind, IvrCall, ParseCx, Step};
use super::flow::{Flow, StateId};
use super::tree::{Item, Node};

pub(super) const KINDS: &[ActionKind] = &[ActionKind {
    key: "hours",
    parse: Hours::parse,
}];

const OPEN: &str = "open";
const CLOSED: &str = "closed";
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
/// Opening periods in one day, and holiday dates.
const MAX_PERIODS: usize = 4;
const MAX_HOLIDAYS: usize = 366;

/// Minutes since midnight, `[from, to)`.
type Period = (u32, u32);

/// `hours = { mon = "09:00-18:00", sat = "09:00-12:00,13:00-17:00", holidays = ["2026-12-25"] }`:
/// a day not listed, or `"closed"`, is closed all day; outcomes `open`, `closed`.
#[derive(Debug)]
struct Hours {
    /// Monday first.
    days: [Vec<Period>; 7],
    holidays: Vec<NaiveDate>,
}

impl Hours {
    fn parse(item: &Item, cx: &mut ParseCx) -> Option<Box<dyn Action>> {
        let mut allowed = DAYS.to_vec();
        allowed.push("holidays");
        let entries = cx.table(
            item,
            &allowed,
            "{ mon = \"09:00-18:00\", holidays = [\"2026-12-25\"] }",
        )?;
        let mut hours = Hours {
            days: Default::default(),
            holidays: Vec::new(),
        };
        let mut ok = true;
        for (key, value) in entries {
            let key = key.get_ref().as_str();
            let parsed = match DAYS.iter().position(|d| *d == key) {
                Some(day) => Self::periods(value, cx).map(|p| hours.days[day] = p),
                None if key == "holidays" => Self::holidays(value, cx).map(|h| hours.holidays = h),
                None => None,
            };
            ok &= parsed.is_some();
        }
        ok.then(|| Box::new(hours) as Box<dyn Action>)
    }

    fn periods(item: &Item, cx: &mut ParseCx) -> Option<Vec<Period>> {
        let expected = "\"HH:MM-HH:MM\" (several joined by commas) or \"closed\"";
        let text = cx.string(item, expected)?;
        if text == CLOSED {
            return Some(Vec::new());
        }
        let periods: Option<Vec<Period>> = text.split(',').map(|p| parse_period(p.trim())).collect();
        match periods {
            Some(periods) if periods.len() <= MAX_PERIODS => Some(periods),
            _ => {
                cx.bad(
                    item,
                    &format!("{expected}, at most {MAX_PERIODS} periods, each from < to"),
                );
                None
            }
        }
    }

    fn holidays(item: &Item, cx: &mut ParseCx) -> Option<Vec<NaiveDate>> {
        let expected = "a list of dates, e.g. [\"2026-12-25\"]";
        let Node::Array(items) = item.get_ref() else {
            cx.bad(item, expected);
            return None;
        };
        if items.len() > MAX_HOLIDAYS {
            cx.bad(item, &format!("at most {MAX_HOLIDAYS} dates"));
            return None;
        }
        let mut dates = Vec::new();
        for date in items {
            let parsed = match date.get_ref() {
                Node::Str(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d").ok(),
                _ => None,
            };
            match parsed {
                Some(parsed) => dates.push(parsed),
                None => cx.bad(date, "a date YYYY-MM-DD in quotes"),
            }
        }
        (dates.len() == items.len()).then_some(dates)
    }

    /// Whether the business is open at this local date and time.
    fn is_open(&self, date: NaiveDate, time: NaiveTime) -> bool {
        if self.holidays.contains(&date) {
            return false;
        }
        let minute = time.hour() * 60 + time.minute();
        let day = &self.days[date.weekday().num_days_from_monday() as usize];
        day.iter().any(|(from, to)| (*from..*to).contains(&minute))
    }
}

/// `HH:MM-HH:MM` (24:00 allowed as an end) as minutes since midnight.
fn parse_period(text: &str) -> Option<Period> {
    let (from, to) = text.split_once('-')?;
    let (from, to) = (parse_minute(from.trim())?, parse_minute(to.trim())?);
    (from < to).then_some((from, to))
}

fn parse_minute(text: &str) -> Option<u32> {
    let (hours, minutes) = text.split_once(':')?;
    let (hours, minutes): (u32, u32) = (hours.parse().ok()?, minutes.parse().ok()?);
    let minute = hours * 60 + minutes;
    (minutes < 60 && minute <= 24 * 60).then_some(minute)
}

impl Action for Hours {
    fn enter(&self, flow: &Flow, _call: &mut IvrCall, _cx: &mut CallCx) -> Step {
        // Without a business (a flow checked outside the daemon) the clock is UTC.
        let (date, time) = match flow.business() {
            Some(business) => {
                let now = business.now();
                (now.date_naive(), now.time())
            }
            None => {
                let now = chrono::Utc::now();
                (now.date_naive(), now.time())
            }
        };
        Step::Done(if self.is_open(date, time) { OPEN } else { CLOSED })
    }

    fn waits(&self) -> bool {
        false
    }

    fn outcomes(&self) -> &'static [&'static str] {
        &[OPEN, CLOSED]
    }

    fn links(&self) -> Vec<StateId> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Weekday;

    fn day_name(day: Weekday) -> &'static str {
        DAYS[day.num_days_from_monday() as usize]
    }

    #[test]
    fn periods_and_holidays_decide_open() {
        let mut hours = Hours {
            days: Default::default(),
            holidays: vec![NaiveDate::from_ymd_opt(2026, 12, 25).unwrap()],
        };
        hours.days[4] = vec![
            parse_period("09:00-12:00").unwrap(),
            parse_period("13:00-24:00").unwrap(),
        ];
        let friday = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        assert_eq!(day_name(friday.weekday()), "fri");
        let at = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert!(hours.is_open(friday, at(9, 0)));
        assert!(!hours.is_open(friday, at(12, 0)));
        assert!(hours.is_open(friday, at(23, 59)));
        assert!(!hours.is_open(friday.succ_opt().unwrap(), at(10, 0)));
        let christmas = NaiveDate::from_ymd_opt(2026, 12, 25).unwrap();
        assert!(!hours.is_open(christmas, at(10, 0)));
        assert_eq!(parse_period("18:00-09:00"), None);
        assert_eq!(parse_period("9:60-10:00"), None);
    }
}
