//! The plan JSON reader against plain serde_json, differentially.
//!
//! strata reads plan JSON with a hand-written streaming scanner: it decides
//! the approval gate and the redaction of sensitive values, so it has to
//! agree with a real JSON parser on every input:
//! - input serde_json rejects, strata rejects too, at the same line and
//!   column;
//! - input serde_json accepts and strata reads as a plan, strata classifies
//!   exactly as the JSON says: the same resource changes, in order, with
//!   the same actions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use strata::terraform::plan::{Action, PlanError, parse_slice};

fuzz_target!(|data: &[u8]| {
    let ours = parse_slice(data);
    let reference = serde_json::from_slice::<Value>(data);
    match (&ours, &reference) {
        (Ok(_), Err(e)) if !beyond_serde_limits(e) => {
            panic!("strata read a plan from invalid JSON ({e})")
        }
        (
            Err(PlanError::Json {
                line,
                column,
                message,
            }),
            Err(e),
        ) if (e.is_syntax() || e.is_eof()) && !beyond_serde_limits(e) => {
            // strata reads the plan's shape as it goes, so it may stop
            // earlier, at a value of the wrong type (as a typed serde
            // reader would); it must never read past a syntax error.
            let ours = (*line, *column);
            let mut theirs = (e.line() as u64, e.column() as u64);
            // serde_json's own typed reading, which strata defers to inside
            // a resource change, places a control character in a value it
            // ignores one byte before its untyped reading does (its
            // `ignore_str` reports before stepping over the character; for
            // a newline that is the line before).
            if message.starts_with("control character")
                && one_byte_before(data, theirs) == Some(ours)
            {
                theirs = ours;
            }
            assert!(
                ours <= theirs,
                "strata read past {e}: it stopped at {ours:?} ({message})"
            );
            if ours < theirs {
                assert!(
                    is_shape_error(message),
                    "an earlier syntax error than serde_json's {e}: {ours:?} {message}"
                );
            }
        }
        (Ok(plan), Ok(json)) => {
            let expected = classify(json);
            let found: Vec<(String, Action)> = plan
                .changes
                .iter()
                .map(|c| (c.address.clone(), c.action))
                .collect();
            assert_eq!(found, expected.changes, "different resource changes");
            assert_eq!(plan.unchanged, expected.unchanged, "different no-op count");
        }
        _ => {}
    }
});

/// serde_json's position (line, column: bytes since the line's start) of
/// the byte before the one at `at`.
fn one_byte_before(data: &[u8], at: (u64, u64)) -> Option<(u64, u64)> {
    let starts: Vec<usize> = std::iter::once(0)
        .chain(
            data.iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .collect();
    let line = usize::try_from(at.0).ok()?.checked_sub(1)?;
    let index = starts.get(line)? + usize::try_from(at.1).ok()?;
    let before = index.checked_sub(1)?;
    let line_of = starts.iter().rposition(|s| *s <= before)?;
    Some(((line_of + 1) as u64, (before - starts[line_of]) as u64))
}

/// A message about the plan's shape (a value of the wrong type, a missing
/// field), which serde_json's untyped reading cannot give: serde's typed
/// messages and the scanner's own for a member that is not an object or
/// array.
fn is_shape_error(message: &str) -> bool {
    if message == "expected an object or null" || message == "expected an array or null" {
        return true;
    }
    [
        "invalid type",
        "missing field",
        "invalid value",
        "invalid length",
        "duplicate field",
        "unknown variant",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// serde_json stops at 128 levels of nesting; strata's scanner has no such
/// limit of its own. Those inputs say nothing about either.
fn beyond_serde_limits(e: &serde_json::Error) -> bool {
    e.to_string().contains("recursion limit exceeded")
}

struct Expected {
    changes: Vec<(String, Action)>,
    unchanged: usize,
}

/// What the plan says, read from the parsed JSON the plain way.
fn classify(json: &Value) -> Expected {
    let mut changes = Vec::new();
    let mut unchanged = 0;
    for rc in json["resource_changes"].as_array().into_iter().flatten() {
        let actions: Vec<&str> = rc["change"]["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let Some(action) = Action::from_actions(&actions) else {
            continue;
        };
        let moved = rc["previous_address"].is_string();
        let imported = !rc["change"]["importing"].is_null();
        if action == Action::NoOp && !moved && !imported {
            unchanged += 1;
            continue;
        }
        let address = rc["address"].as_str().unwrap_or_default().to_owned();
        changes.push((address, action));
    }
    Expected { changes, unchanged }
}
