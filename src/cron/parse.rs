//! Reading an expression into one set of values per field, refusing on one line that names the
//! field and the fix; and writing a set back.

use std::fmt;

use super::{Cron, Set, WEEKDAY};
use crate::Error;

/// A field's name, its values, and the names it takes for them (the first for `min`).
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const FIELDS: [Field; 6] = [
    Field { name: "second", min: 0, max: 59, names: &[] },
    Field { name: "minute", min: 0, max: 59, names: &[] },
    Field { name: "hour", min: 0, max: 23, names: &[] },
    Field { name: "day-of-month", min: 1, max: 31, names: &[] },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: &["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
    },
    // 7 is Sunday too; it is folded into 0.
    Field { name: "day-of-week", min: 0, max: 7, names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"] },
];

const SHAPE: &str = "write 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first";

fn bad(why: String) -> Error {
    Error::Config(format!("cron: {why}"))
}

pub(super) fn parse(expr: &str) -> Result<Cron, Error> {
    let text = expr.trim();
    let expanded = match text.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        "@reboot" => return Err(bad("@reboot is not supported: `setup` runs at each start".into())),
        other if other.starts_with('@') => {
            let known = "@yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly";
            return Err(bad(format!("unknown {text:?}; write {known}")));
        }
        _ => text,
    };
    let words: Vec<&str> = expanded.split_whitespace().collect();
    let texts = match words.len() {
        5 => [&["0"][..], &words].concat(),
        // `0 0 1 1 * 2027`: a year last, not seconds first.
        6 if words[5].split(['-', ',', '/']).any(|w| w.len() == 4 && w.parse::<u32>().is_ok()) => {
            return Err(bad(format!("{text:?} ends in a year: a year field is not supported; {SHAPE}")));
        }
        6 => words,
        0 => return Err(bad(format!("the expression is empty; {SHAPE}"))),
        7 => return Err(bad(format!("{text:?} has 7 fields: a year field is not supported; {SHAPE}"))),
        1 => return Err(bad(format!("{text:?} has 1 field; {SHAPE}"))),
        n => return Err(bad(format!("{text:?} has {n} fields; {SHAPE}"))),
    };
    let mut fields = [Set { bits: 0, star: false }; 6];
    for (i, text) in texts.iter().enumerate() {
        fields[i] = field(&FIELDS[i], text)?;
    }
    // Sunday is 0 or 7.
    let week = &mut fields[WEEKDAY];
    week.bits = (week.bits | week.bits >> 7) & 0x7f;
    let cron = Cron { fields };
    // The calendar repeats every 400 years (146,097 days, whole weeks).
    if cron.next_day(0, 146_097).is_none() {
        return Err(bad(format!("{text:?} never fires: no date matches its day-of-month, month and day-of-week")));
    }
    Ok(cron)
}

/// One field: a list of `*`, values and ranges, each with an optional step.
fn field(f: &Field, text: &str) -> Result<Set, Error> {
    let name = f.name;
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (part, None),
        };
        if range.is_empty() || range.split('-').any(str::is_empty) {
            return Err(bad(format!("{name} {text:?}: a value is missing (or negative)")));
        }
        let (lo, hi) = if range == "*" {
            if part.len() != text.len() {
                return Err(bad(format!("{name} {text:?}: `*` cannot be part of a list")));
            }
            (f.min, f.max)
        } else if let Some((lo, hi)) = range.split_once('-') {
            let (lo, hi) = (value(f, lo)?, value(f, hi)?);
            // `fri-sun`: Sunday closes a range as 7.
            match (lo, hi) {
                (1.., 0) if f.max == 7 => (lo, 7),
                (7, ..7) if f.max == 7 => (0, hi),
                _ => (lo, hi),
            }
        } else {
            let v = value(f, range)?;
            if let Some(step) = step {
                let fix = format!("write {v}-{}/{step}", f.max);
                return Err(bad(format!("{name} {text:?}: a step needs a range or `*`; {fix}")));
            }
            (v, v)
        };
        if lo > hi {
            let top = if f.max == 7 { 6 } else { f.max };
            let part = |a: u32, b: u32| if a == b { a.to_string() } else { format!("{a}-{b}") };
            // (With a step, the values of a wrapped range depend on where the step starts.)
            let fix = match step {
                None => format!(", write {},{}", part(lo, top), part(f.min, hi)),
                Some(_) => String::new(),
            };
            return Err(bad(format!("{name} {text:?}: the range {lo}-{hi} runs backwards; ranges do not wrap{fix}")));
        }
        // (Day-of-week: 7 values, 7 being Sunday again.)
        let span = if f.max == 7 { 7 } else { f.max - f.min + 1 };
        let step = match step {
            None => 1,
            Some(s) => s.parse::<u32>().ok().filter(|n| (1..=span).contains(n)).ok_or_else(|| {
                bad(format!("{name} {text:?}: the step {s:?} must be a whole number from 1 to {span}"))
            })?,
        };
        for v in (lo..=hi).step_by(step as usize) {
            bits |= 1 << v;
        }
    }
    Ok(Set { bits, star: text.starts_with('*') })
}

/// A number or a name within the field's range.
fn value(f: &Field, word: &str) -> Result<u32, Error> {
    let name = f.name;
    // Digits only: `parse` would also take `+5`.
    if !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit()) {
        return match word.parse::<u32>().unwrap_or(u32::MAX) {
            n if (f.min..=f.max).contains(&n) => Ok(n),
            _ => Err(bad(format!("{name} {word:?} is out of range {}-{}", f.min, f.max))),
        };
    }
    let lower = word.to_ascii_lowercase();
    if let Some(i) = f.names.iter().position(|n| *n == lower) {
        return Ok(f.min + i as u32);
    }
    // `L`, `5L`, `15W`, `LW`, `5#3`, `?` (and not `april` or `wed`).
    let quartz = word.trim_end_matches(['L', 'l', 'W', 'w']);
    if word.contains(['#', '?']) || quartz.len() < word.len() && quartz.bytes().all(|b| b.is_ascii_digit()) {
        let why = "L, W, # and ? are not supported; list the values instead";
        return Err(bad(format!("{name} {word:?}: {why}")));
    }
    let names = match f.names {
        [] => String::new(),
        names => format!(" or a name ({}-{})", names[0], names[names.len() - 1]),
    };
    Err(bad(format!("{name} {word:?} is not a number{names}")))
}

/// Writes a set back: `*` or `*/N` for a field written so, else numbers and ranges.
pub(super) fn write_set(f: &mut fmt::Formatter<'_>, i: usize, set: Set) -> fmt::Result {
    let field = &FIELDS[i];
    let max = if i == WEEKDAY { 6 } else { field.max };
    let values: Vec<u32> = (field.min..=max).filter(|&v| set.has(v)).collect();
    if set.star {
        let step = match values[..] {
            [a, b, ..] => b - a,
            _ => max - field.min + 1,
        };
        return if step == 1 { f.write_str("*") } else { write!(f, "*/{step}") };
    }
    let mut first = true;
    let mut rest = &values[..];
    while let [lo, ..] = rest {
        // The longest run of consecutive values from `lo`.
        let run = rest.iter().enumerate().take_while(|&(k, v)| *v == lo + k as u32).count();
        let sep = if first { "" } else { "," };
        match run {
            1 => write!(f, "{sep}{lo}")?,
            2 => write!(f, "{sep}{lo},{}", lo + 1)?,
            n => write!(f, "{sep}{lo}-{}", lo + n as u32 - 1)?,
        }
        first = false;
        rest = &rest[run..];
    }
    Ok(())
}
