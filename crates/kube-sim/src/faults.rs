//! Fault injection: failures and latency on requests, so that clients'
//! retries and timeouts can be tested.
//!
//! A spec is rules separated by `;`, each a comma-separated list of
//! `key=value`:
//!
//! | key | meaning | default |
//! |---|---|---|
//! | `rate` | probability that a matching request fails, 0 to 1 | 1 with `next`, else 0 |
//! | `codes` | status codes to fail with, `+`-separated (e.g. `500+503+429`) | `500` |
//! | `latency` | delay added to every matching request (`20ms`, `1s`) | none |
//! | `verbs` | only these HTTP methods, `+`-separated (`get+patch`) | all |
//! | `path` | only paths starting with this | all |
//! | `next` | fail only the next N matching requests, then stop | unlimited |
//!
//! Example: `rate=0.2,codes=500+503+429,latency=20ms`. With a seed, the
//! same requests fail on every run.

use std::time::Duration;

use http::StatusCode;

use crate::status::ApiError;

/// One rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub rate: f64,
    pub codes: Vec<u16>,
    pub latency: Duration,
    pub verbs: Vec<String>,
    pub path: Option<String>,
    /// Failures left, when limited.
    pub next: Option<u64>,
}

/// Parses a spec; the error says which part is wrong.
pub fn parse(spec: &str) -> Result<Vec<Rule>, String> {
    spec.split(';')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(parse_rule)
        .collect()
}

fn parse_rule(text: &str) -> Result<Rule, String> {
    let mut rule = Rule {
        rate: 0.0,
        codes: vec![500],
        latency: Duration::ZERO,
        verbs: Vec::new(),
        path: None,
        next: None,
    };
    let mut rate_given = false;
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?} is not key=value"))?;
        match key {
            "rate" => {
                rule.rate = value
                    .parse::<f64>()
                    .ok()
                    .filter(|r| (0.0..=1.0).contains(r))
                    .ok_or_else(|| format!("rate {value:?} is not a number from 0 to 1"))?;
                rate_given = true;
            }
            "codes" => {
                rule.codes = value
                    .split('+')
                    .map(|c| {
                        c.parse::<u16>()
                            .ok()
                            .filter(|c| (400..600).contains(c))
                            .ok_or_else(|| format!("code {c:?} is not an HTTP error status"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "latency" => rule.latency = parse_duration(value)?,
            "verbs" => rule.verbs = value.split('+').map(str::to_ascii_uppercase).collect(),
            "path" => rule.path = Some(value.to_owned()),
            "next" => {
                rule.next = Some(
                    value
                        .parse()
                        .map_err(|_| format!("next {value:?} is not a count"))?,
                );
            }
            other => {
                return Err(format!(
                    "unknown fault key {other:?}; expected rate, codes, latency, verbs, path or next"
                ));
            }
        }
    }
    if rule.next.is_some() && !rate_given {
        rule.rate = 1.0;
    }
    Ok(rule)
}

/// `200ms`, `2s`, `1m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let i = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit: write e.g. 200ms or 2s"))?;
    let (number, unit) = text.split_at(i);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 200ms or 2s"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("{text:?}: the unit must be ms, s or m")),
    }
}

/// The rules in force and the random source they draw from.
#[derive(Debug)]
pub struct Faults {
    rules: Vec<Rule>,
    rng: fastrand::Rng,
}

/// What to do to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub latency: Duration,
    pub fail: Option<ApiError>,
}

impl Faults {
    pub fn new(rules: Vec<Rule>, seed: Option<u64>) -> Faults {
        Faults {
            rules,
            rng: seed.map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed),
        }
    }

    pub fn set(&mut self, rules: Vec<Rule>) {
        self.rules = rules;
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Decides the fate of a request: the summed latency of the matching
    /// rules, and the first failure drawn.
    pub fn judge(&mut self, method: &str, path: &str) -> Verdict {
        let mut verdict = Verdict {
            latency: Duration::ZERO,
            fail: None,
        };
        for rule in &mut self.rules {
            let matches = (rule.verbs.is_empty() || rule.verbs.iter().any(|v| v == method))
                && rule.path.as_deref().is_none_or(|p| path.starts_with(p))
                && rule.next != Some(0);
            if !matches {
                continue;
            }
            verdict.latency += rule.latency;
            if verdict.fail.is_none() && rule.rate > 0.0 && self.rng.f64() < rule.rate {
                let code = rule.codes[self.rng.usize(..rule.codes.len())];
                if let Some(n) = &mut rule.next {
                    *n -= 1;
                }
                verdict.fail = Some(error(code));
            }
        }
        self.rules
            .retain(|r| r.next != Some(0) || r.latency > Duration::ZERO);
        verdict
    }
}

/// The `Status` the real server sends with each code.
pub fn error(code: u16) -> ApiError {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (reason, message) = match code {
        429 => (
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later",
        ),
        500 => (
            "InternalError",
            "an error on the server (\"injected by kube-sim\") has prevented the request from succeeding",
        ),
        503 => (
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
        ),
        504 => (
            "Timeout",
            "the server was unable to return a response in the time allotted, but may still be processing the request",
        ),
        409 => (
            "Conflict",
            "the server reported a conflict (injected by kube-sim)",
        ),
        _ => ("InternalError", "injected by kube-sim"),
    };
    let mut e = ApiError::new(status, reason, message);
    if code == 429 || code == 503 {
        e.details = Some(serde_json::json!({"retryAfterSeconds": 1}));
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_errors_say_what_is_wrong() {
        let rules = parse("rate=0.2,codes=500+503+429,latency=20ms").unwrap();
        assert_eq!(rules[0].rate, 0.2);
        assert_eq!(rules[0].codes, [500, 503, 429]);
        assert_eq!(rules[0].latency, Duration::from_millis(20));
        let rules = parse("next=3,codes=503,verbs=patch,path=/api/v1; latency=1s").unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].rate, 1.0);
        assert_eq!(rules[0].verbs, ["PATCH"]);
        assert!(parse("rate=2").unwrap_err().contains("from 0 to 1"));
        assert!(
            parse("codes=200")
                .unwrap_err()
                .contains("not an HTTP error")
        );
        assert!(parse("ratio=1").unwrap_err().contains("unknown fault key"));
    }

    #[test]
    fn a_seed_makes_failures_repeat_and_next_counts_down() {
        let draw = |seed| {
            let mut f = Faults::new(parse("rate=0.5,codes=500+503").unwrap(), Some(seed));
            (0..50)
                .map(|_| f.judge("GET", "/api").fail.map(|e| e.code.as_u16()))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        let failures = draw(7).iter().filter(|f| f.is_some()).count();
        assert!((10..40).contains(&failures), "{failures}");

        let mut f = Faults::new(parse("next=2,codes=429,verbs=patch").unwrap(), None);
        assert!(f.judge("GET", "/x").fail.is_none(), "other verbs pass");
        assert_eq!(
            f.judge("PATCH", "/x").fail.unwrap().reason,
            "TooManyRequests"
        );
        assert!(f.judge("PATCH", "/x").fail.is_some());
        assert!(f.judge("PATCH", "/x").fail.is_none(), "only the next two");
        assert!(f.rules().is_empty());
    }
}
