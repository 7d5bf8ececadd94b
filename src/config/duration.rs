//! Durations as written in `strata.hcl`: `"30s"`, `"5m"`, `"1h"`, `"1h30m"`.
//!
//! A small subset of Go's duration syntax (which Terraform's `-lock-timeout`
//! uses), so one spelling works for every timeout in the file.

use std::time::Duration;

/// What error messages show as the accepted form.
pub(crate) const EXPECTED: &str = "a duration such as \"30s\", \"5m\", \"1h\" or \"1h30m\"";

/// Parses `<n>h`, `<n>m`, `<n>s` parts in that order, each at most once.
pub(crate) fn parse(text: &str) -> Option<Duration> {
    const UNITS: [(char, u64); 3] = [('h', 3600), ('m', 60), ('s', 1)];
    let mut rest = text;
    let mut next_unit = 0;
    let mut seconds: u64 = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return None;
        }
        let value: u64 = rest[..digits].parse().ok()?;
        let unit = rest[digits..].chars().next()?;
        let index = UNITS[next_unit..].iter().position(|(u, _)| *u == unit)? + next_unit;
        seconds = seconds.checked_add(value.checked_mul(UNITS[index].1)?)?;
        next_unit = index + 1;
        rest = &rest[digits + unit.len_utf8()..];
    }
    Some(Duration::from_secs(seconds))
}

/// The shortest spelling [`parse`] reads back to the same whole seconds.
pub(crate) fn format(duration: Duration) -> String {
    let total = duration.as_secs();
    if total == 0 {
        return "0s".to_owned();
    }
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    let mut out = String::new();
    for (value, unit) in [(h, 'h'), (m, 'm'), (s, 's')] {
        if value > 0 {
            out.push_str(&value.to_string());
            out.push(unit);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(parse("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse("1h0m5s"), Some(Duration::from_secs(3605)));
        assert_eq!(parse("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse("0s"), Some(Duration::ZERO));
    }

    #[test]
    fn rejects_other_forms() {
        for bad in [
            "", "5", "m", "5x", "30m1h", "5m5m", "1.5h", "-5m", " 5m", "5 m",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn format_round_trips() {
        for secs in [0, 1, 59, 60, 90, 300, 3600, 5400, 3605, 86400] {
            let duration = Duration::from_secs(secs);
            assert_eq!(parse(&format(duration)), Some(duration));
        }
        assert_eq!(format(Duration::from_secs(5400)), "1h30m");
    }
}
