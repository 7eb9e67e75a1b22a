//! Durations as people write them on a command line: `250ms`, `2s`, `5m`, `1h`, `1h30m`.

use std::time::Duration;

/// Parses `text`: one or more `<digits><unit>` parts, units `ms`, `s`, `m` and `h`, each unit
/// at most once and from the largest down. A bare number, zero, an overflow and any other
/// unit (`M`: months or minutes?) are refused with the reason.
pub fn parse(text: &str) -> Result<Duration, String> {
    if text.is_empty() {
        return Err("an empty duration".into());
    }
    let mut rest = text;
    let mut total = Duration::ZERO;
    let mut last_rank = usize::MAX;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("{text:?}: expected a number before {rest:?}"));
        }
        let (number, tail) = rest.split_at(digits);
        let unit_len = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, tail) = tail.split_at(unit_len);
        let (rank, one) = match unit {
            "h" => (3, Duration::from_secs(3600)),
            "m" => (2, Duration::from_secs(60)),
            "s" => (1, Duration::from_secs(1)),
            "ms" => (0, Duration::from_millis(1)),
            "" => return Err(format!("{text:?} has no unit: write 250ms, 2s, 5m or 1h")),
            _ => return Err(format!("{text:?}: unknown unit {unit:?} (use ms, s, m or h, in lower case)")),
        };
        if rank >= last_rank {
            return Err(format!("{text:?}: units must go from the largest down, each once (as in 1h30m)"));
        }
        last_rank = rank;
        let n: u32 = number.parse().map_err(|_| format!("{text:?} is too long"))?;
        total = one.checked_mul(n).and_then(|d| total.checked_add(d)).ok_or_else(|| format!("{text:?} is too long"))?;
        rest = tail;
    }
    if total.is_zero() {
        return Err(format!("{text:?} is zero"));
    }
    Ok(total)
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
    }

    #[test]
    fn refuses_bare_numbers_zero_overflow_and_unknown_units() {
        for bad in [
            "",
            "30",
            "0s",
            "0h0m",
            "5M",
            "1d",
            "2 s",
            "-1s",
            "1.5s",
            "s",
            "1s1h",
            "1m1m",
            "99999999999h",
            "4294967296h",
            "18446744073709551616ms",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted as {:?}", parse(bad));
        }
        assert!(parse("30").unwrap_err().contains("no unit"));
        assert!(parse("5M").unwrap_err().contains("unknown unit \"M\""));
    }
}
