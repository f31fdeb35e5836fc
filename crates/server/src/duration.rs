//! Durations written the way operators write them: `90s`, `15m`, `1h`, `2h30m`, `1d`.

use std::time::Duration;

/// Parses a sequence of `<number><unit>` pairs (units `d`, `h`, `m`, `s`, `ms`),
/// e.g. `2h30m`. A bare number is refused: the unit is never guessed.
pub fn parse(input: &str) -> Result<Duration, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("empty duration; write it like 90s, 15m, 1h or 2h30m".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "{input:?} is not a duration; write it like 90s, 15m, 1h or 2h30m"
            ));
        }
        let number: u64 =
            rest[..digits].parse().map_err(|_| format!("{input:?}: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "d" => Duration::from_secs(86_400),
            "h" => Duration::from_secs(3_600),
            "m" => Duration::from_secs(60),
            "s" => Duration::from_secs(1),
            "ms" => Duration::from_millis(1),
            "" => return Err(format!("{input:?} has a number without a unit (d, h, m, s or ms)")),
            other => {
                return Err(format!(
                    "{input:?} has an unknown unit {other:?} (use d, h, m, s or ms)"
                ));
            }
        };
        rest = &rest[unit_len..];
        let part = u32::try_from(number)
            .ok()
            .and_then(|n| unit.checked_mul(n))
            .ok_or_else(|| format!("{input:?} is too long"))?;
        total = total.checked_add(part).ok_or_else(|| format!("{input:?} is too long"))?;
    }
    Ok(total)
}

/// Writes a duration back in the same notation (`2h30m`), for `config check` and logs.
pub fn format(d: Duration) -> String {
    let mut secs = d.as_secs();
    let millis = d.subsec_millis();
    if secs == 0 && millis == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    if millis > 0 {
        out.push_str(&format!("{millis}ms"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_forms() {
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("2h30m"), Ok(Duration::from_secs(9000)));
        assert_eq!(parse(" 1d2h3m4s "), Ok(Duration::from_secs(93_784)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
    }

    #[test]
    fn refuses_everything_else_with_a_reason() {
        for bad in
            ["", "60", "1x", "h", "1h 30m", "-5m", "1.5h", "99999999999999999999s", "4294967296d"]
        {
            let err = parse(bad).unwrap_err();
            assert!(!err.is_empty(), "{bad}");
        }
        assert!(parse("60").unwrap_err().contains("without a unit"));
    }

    #[test]
    fn formats_round_trip() {
        for s in ["90s", "1h", "2h30m", "1d2h3m4s", "250ms", "0s"] {
            let d = parse(s).unwrap();
            assert_eq!(parse(&format(d)), Ok(d), "{s}");
        }
        assert_eq!(format(Duration::from_secs(5400)), "1h30m");
    }
}
