//! Durations as people write them on a command line: `250ms`, `2s`, `5m`, `1h`, `1h30m`.

use std::time::Duration;

/// The units, largest first, each with its length in milliseconds.
const UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)];

/// What is wrong with a duration, and what to write instead when that can be worked out.
type Problem = (String, Option<String>);

/// Parses `text`: one or more `<digits><unit>` parts, units `ms`, `s`, `m` and `h`, each unit
/// at most once and from the largest down. Anything else is refused with what is wrong, and
/// with what to write instead when that is clear: `"1.5s": decimals are not accepted, write
/// 1500ms`; `"5 min": no spaces, write 5m`.
pub fn parse(text: &str) -> Result<Duration, String> {
    match read(text) {
        Ok(0) => Err(format!("{text:?}: the duration is zero, write 250ms, 2s, 5m or 1h")),
        Ok(ms) => Ok(Duration::from_millis(ms)),
        Err((why, Some(instead))) => Err(format!("{text:?}: {why}, write {instead}")),
        Err((why, None)) => Err(format!("{text:?}: {why}")),
    }
}

/// `text` in milliseconds, or what is wrong with it.
fn read(text: &str) -> Result<u64, Problem> {
    let examples = || Some("250ms, 2s, 5m or 1h".to_string());
    if text.is_empty() {
        return Err(("empty".into(), examples()));
    }
    if text.starts_with('-') {
        return Err(("a duration cannot be negative".into(), None));
    }
    if let Some(rest) = text.strip_prefix('+') {
        return Err(("no sign".into(), instead(rest)));
    }
    if text.contains(char::is_whitespace) {
        let joined: String = text.split_whitespace().collect();
        return Err(("no spaces".into(), instead(&joined).or_else(examples)));
    }
    let (mut rest, mut total, mut last, mut disordered) = (text, 0u64, usize::MAX, false);
    while !rest.is_empty() {
        let (number, tail) = rest.split_at(rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len()));
        let (unit, tail) = tail.split_at(tail.find(|c: char| !c.is_alphabetic()).unwrap_or(tail.len()));
        // `text` with this part replaced by `part`, and whatever else is wrong with it fixed.
        let done = &text[..text.len() - rest.len()];
        let with = |part: String| instead(&format!("{done}{part}{tail}"));
        match (number, unit) {
            (_, "") if !tail.is_empty() || number.is_empty() => {
                let at = if number.is_empty() { rest } else { tail };
                return Err((format!("unexpected {:?}", at.chars().next().unwrap_or_default()), None));
            }
            ("", _) => return Err((format!("a number must come before {unit:?}"), None)),
            // Alone: seconds, or any unit; after a unit, the next smaller one.
            (_, "") if done.is_empty() && number.contains('.') => {
                let seconds = with(format!("{number}s")).map(|fixed| format!("{fixed} for {number} seconds"));
                return Err(("no unit".into(), seconds));
            }
            (_, "") if done.is_empty() => {
                return Err(("no unit".into(), Some(format!("{number}s (or {number}ms, {number}m, {number}h)"))));
            }
            (_, "") => {
                let next = UNITS.get(last + 1).and_then(|(next, _)| with(format!("{number}{next}")));
                return Err((format!("no unit after {number}"), next));
            }
            _ => {}
        }
        let Some(rank) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(match known(unit) {
                Some(Known::Unit(short)) => (format!("unknown unit {unit:?}"), with(format!("{number}{short}"))),
                Some(Known::Days) => {
                    (format!("unknown unit {unit:?}"), millis(number, 86_400_000).and_then(|ms| with(form(ms))))
                }
                None => (format!("unknown unit {unit:?} (use ms, s, m or h)"), None),
            });
        };
        if number.contains('.') {
            return Err(match millis(number, UNITS[rank].1) {
                _ if number.matches('.').count() > 1 || number == "." => (format!("{number:?} is not a number"), None),
                Some(ms) => ("decimals are not accepted".into(), with(form(ms))),
                None => ("decimals are not accepted, and durations are whole milliseconds".into(), None),
            });
        }
        let part = number.parse::<u64>().ok().and_then(|n| n.checked_mul(UNITS[rank].1));
        total = part.and_then(|p| total.checked_add(p)).ok_or(("too long".to_string(), None))?;
        disordered |= rank <= last && last != usize::MAX;
        (last, rest) = (rank, tail);
    }
    if disordered {
        let why = "units must go from the largest down, each once";
        return Err((why.into(), Some(compound(total))));
    }
    Ok(total)
}

/// What to write instead of `text`: itself if it is right, else the fix its problem suggests.
fn instead(text: &str) -> Option<String> {
    match read(text) {
        Ok(_) => Some(text.to_string()),
        Err((_, fixed)) => fixed,
    }
}

/// A unit that is not one of ours, but whose meaning is clear.
enum Known {
    /// The same unit, spelt otherwise: `min`, `sec`, `hours`, `S`.
    Unit(&'static str),
    /// Days, written in hours.
    Days,
}

fn known(unit: &str) -> Option<Known> {
    Some(match unit.to_lowercase().as_str() {
        "h" | "hr" | "hrs" | "hour" | "hours" => Known::Unit("h"),
        "m" | "min" | "mins" | "minute" | "minutes" => Known::Unit("m"),
        "s" | "sec" | "secs" | "second" | "seconds" => Known::Unit("s"),
        "ms" | "msec" | "msecs" | "millisecond" | "milliseconds" => Known::Unit("ms"),
        "d" | "day" | "days" => Known::Days,
        _ => return None,
    })
}

/// `number` (digits with at most one decimal point) times `unit` milliseconds, if that is a
/// whole number of milliseconds.
fn millis(number: &str, unit: u64) -> Option<u64> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if fraction.len() > 18 {
        return None;
    }
    let scale = 10u128.pow(fraction.len() as u32);
    let digits: u128 = format!("{whole}{fraction}").parse().ok()?;
    let ms = digits.checked_mul(u128::from(unit))?;
    (ms % scale == 0).then(|| u64::try_from(ms / scale).ok()).flatten()
}

/// `ms` in the largest unit that divides it: `1500ms`, `90s`, `90m`.
fn form(ms: u64) -> String {
    let (name, len) = UNITS.iter().find(|(_, len)| ms.is_multiple_of(*len)).unwrap_or(&UNITS[3]);
    format!("{}{name}", ms / len)
}

/// `ms` as parts from the largest unit down: `1h30m`, `1m1s`.
fn compound(mut ms: u64) -> String {
    let mut text = String::new();
    for (name, len) in UNITS {
        if ms >= len {
            text += &format!("{}{name}", ms / len);
            ms %= len;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_units_and_their_sums() {
        let ms = Duration::from_millis;
        for (text, want) in [("250ms", ms(250)), ("2s", ms(2000)), ("5m", ms(300_000)), ("1h", ms(3_600_000))] {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
        assert_eq!(parse("1h30m"), Ok(ms(5_400_000)));
        assert_eq!(parse("1m30s500ms"), Ok(ms(90_500)));
        assert_eq!(parse("007s"), Ok(ms(7000)));
    }

    #[test]
    fn every_refusal_says_what_is_wrong_and_what_to_write() {
        for (bad, said) in [
            ("", r#""": empty, write 250ms, 2s, 5m or 1h"#),
            ("1.5s", r#""1.5s": decimals are not accepted, write 1500ms"#),
            ("0.25s", r#""0.25s": decimals are not accepted, write 250ms"#),
            ("1.5m", r#""1.5m": decimals are not accepted, write 90s"#),
            ("2.5h", r#""2.5h": decimals are not accepted, write 150m"#),
            ("1h0.5m", r#""1h0.5m": decimals are not accepted, write 1h30s"#),
            (".5s", r#"".5s": decimals are not accepted, write 500ms"#),
            ("0.5ms", r#""0.5ms": decimals are not accepted, and durations are whole milliseconds"#),
            ("1.2.3s", r#""1.2.3s": "1.2.3" is not a number"#),
            (".s", r#"".s": "." is not a number"#),
            ("5 min", r#""5 min": no spaces, write 5m"#),
            ("2 s", r#""2 s": no spaces, write 2s"#),
            ("1h 30m", r#""1h 30m": no spaces, write 1h30m"#),
            (" 5m", r#"" 5m": no spaces, write 5m"#),
            ("1.5 s", r#""1.5 s": no spaces, write 1500ms"#),
            ("5 furlongs", r#""5 furlongs": no spaces, write 250ms, 2s, 5m or 1h"#),
            ("30", r#""30": no unit, write 30s (or 30ms, 30m, 30h)"#),
            ("1.5", r#""1.5": no unit, write 1500ms for 1.5 seconds"#),
            ("1ms30", r#""1ms30": no unit after 30"#),
            ("1h30", r#""1h30": no unit after 30, write 1h30m"#),
            ("1m30", r#""1m30": no unit after 30, write 1m30s"#),
            ("5min", r#""5min": unknown unit "min", write 5m"#),
            ("10sec", r#""10sec": unknown unit "sec", write 10s"#),
            ("2hours", r#""2hours": unknown unit "hours", write 2h"#),
            ("1.5min", r#""1.5min": unknown unit "min", write 90s"#),
            ("5M", r#""5M": unknown unit "M", write 5m"#),
            ("2S", r#""2S": unknown unit "S", write 2s"#),
            ("1d", r#""1d": unknown unit "d", write 24h"#),
            ("1.5days", r#""1.5days": unknown unit "days", write 36h"#),
            ("5x", r#""5x": unknown unit "x" (use ms, s, m or h)"#),
            ("5µs", r#""5µs": unknown unit "µs" (use ms, s, m or h)"#),
            ("s", r#""s": a number must come before "s""#),
            ("1hms", r#""1hms": unknown unit "hms" (use ms, s, m or h)"#),
            ("-1s", r#""-1s": a duration cannot be negative"#),
            ("+1s", r#""+1s": no sign, write 1s"#),
            ("5m!", r#""5m!": unexpected '!'"#),
            ("1,5s", r#""1,5s": unexpected ','"#),
            ("1s1h", r#""1s1h": units must go from the largest down, each once, write 1h1s"#),
            ("1m1m", r#""1m1m": units must go from the largest down, each once, write 2m"#),
            ("0s", r#""0s": the duration is zero, write 250ms, 2s, 5m or 1h"#),
            ("0h0m", r#""0h0m": the duration is zero, write 250ms, 2s, 5m or 1h"#),
            ("99999999999999999999h", r#""99999999999999999999h": too long"#),
            ("9999999999999999h", r#""9999999999999999h": too long"#),
            ("18446744073709551616ms", r#""18446744073709551616ms": too long"#),
        ] {
            assert_eq!(parse(bad), Err(said.to_string()), "{bad:?}");
        }
    }
}
