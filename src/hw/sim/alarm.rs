//! The sim's span alarms: a far-end party puts a span into alarm (`{"op":"alarm","span":1,
//! "alarms":["red"]}`) or clears it (`"alarms":[]`), as a line fault would on a real E1/T1. The card
//! records it in the span health `telvox status` shows and tells every channel of the span.

use crate::hw::Alarms;

/// Parses alarm names (`red`, `yellow`, `blue`, `loopback`, `notopen`; any case). Empty = clear.
pub fn parse(names: &[String]) -> Result<Alarms, String> {
    names.iter().try_fold(Alarms::NONE, |all, name| {
        let alarm = match name.to_ascii_lowercase().as_str() {
            "red" => Alarms::RED,
            "yellow" => Alarms::YELLOW,
            "blue" => Alarms::BLUE,
            "loopback" => Alarms::LOOPBACK,
            "notopen" => Alarms::NOT_OPEN,
            other => {
                return Err(format!(
                "alarm: unknown alarm {other:?}: use red, yellow, blue, loopback or notopen (none = clear)"
            ))
            }
        };
        Ok(all.union(alarm))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_unknown_ones_are_refused() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(parse(&names(&[])), Ok(Alarms::NONE));
        assert_eq!(
            parse(&names(&["RED", "yellow"])),
            Ok(Alarms::RED.union(Alarms::YELLOW))
        );
        assert!(parse(&names(&["green"]))
            .unwrap_err()
            .contains("unknown alarm \"green\""));
    }
}
