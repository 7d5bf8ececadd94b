//! Attribute diffs of updates and replaces, rendered without secrets.
//!
//! Terraform gives whole before/after objects plus three "mark" structures
//! that mirror them: `after_unknown`, `before_sensitive` and
//! `after_sensitive`. A mark is `true` for a wholly marked value, or an
//! object/array whose members mark parts of it; anything else means
//! unmarked. A sensitive mark always wins: such a value, or any part of it,
//! is never turned into text.
//!
//! Diffs list changed top-level attributes, going one level deeper when both
//! sides are objects or same-length lists, so a one-tag change shows as
//! `tags["Name"]` rather than as two whole maps. Paths are sorted.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::ops::Range;

use serde_json::Value;

use super::raw::{PathStep, RawChange};
use super::scan::Scanner;
use super::{AttributeChange, PlanError, Rendered};

/// The mark used for a side whose sensitivity Terraform did not record
/// (plan format 0.1): everything is treated as sensitive.
static ALL: Value = Value::Bool(true);

/// One side of a change at some path: the value and its marks.
#[derive(Clone, Copy)]
struct Side<'a> {
    value: Option<&'a Value>,
    sensitive: Option<&'a Value>,
    unknown: Option<&'a Value>,
}

impl<'a> Side<'a> {
    fn child(&self, step: &PathStep) -> Side<'a> {
        Side {
            value: child(self.value, step),
            sensitive: child_mark(self.sensitive, step),
            unknown: child_mark(self.unknown, step),
        }
    }

    /// The value as it may be shown. A sensitive null is shown as absent:
    /// that it is unset is no secret.
    fn render(&self) -> Rendered {
        let Some(value) = non_null(self.value) else {
            return if any(self.unknown) {
                Rendered::Unknown
            } else {
                Rendered::Absent
            };
        };
        if is_all(self.sensitive) {
            Rendered::Sensitive
        } else if is_all(self.unknown) {
            Rendered::Unknown
        } else if any(self.sensitive) || any(self.unknown) {
            let mut text = String::new();
            write_masked(&mut text, value, self.sensitive, self.unknown);
            Rendered::Value(text)
        } else {
            Rendered::Value(value.to_string())
        }
    }
}

/// Whether either sensitivity mark of a change marks anything.
pub(super) fn has_sensitive_marks(change: &RawChange) -> bool {
    any(change.before_sensitive.as_ref()) || any(change.after_sensitive.as_ref())
}

/// The before and after of an output. A sensitive output shows no part of
/// its value.
pub(super) fn render_output(change: &RawChange, sensitive: bool) -> (Rendered, Rendered) {
    let mark = sensitive.then_some(&ALL);
    let before = Side {
        value: change.before.as_ref(),
        sensitive: mark,
        unknown: None,
    };
    let after = Side {
        value: change.after.as_ref(),
        sensitive: mark,
        unknown: change.after_unknown.as_ref(),
    };
    (before.render(), after.render())
}

/// The changed attributes of an update or replace, read from the bytes of
/// its `resource_changes` element.
///
/// Most attributes of an update do not change, so values are not parsed
/// up front: the top-level members of `before` and `after` are located, and
/// only members whose bytes differ (or whose marks say unknown or changed
/// sensitivity) are parsed and compared as values. Equal bytes are equal
/// values; differing bytes may still be equal values (spacing, escapes),
/// which the value comparison then finds.
pub(super) fn attribute_changes(
    element: &[u8],
    replace_paths: &[Vec<PathStep>],
) -> Result<Vec<AttributeChange>, PlanError> {
    let mut scanner = Scanner::over(element);
    let parts = ChangeParts::read(&mut scanner)?;
    let (Some(before), Some(after)) = (&parts.before, &parts.after) else {
        // Resource values are objects; nothing else can be itemized.
        return Ok(Vec::new());
    };
    let before_sensitive = Some(parts.before_sensitive.as_ref().unwrap_or(&ALL));
    let after_sensitive = Some(parts.after_sensitive.as_ref().unwrap_or(&ALL));
    let after_unknown = parts.after_unknown.as_ref();

    let mut keys: BTreeSet<&str> = before
        .keys()
        .chain(after.keys())
        .map(String::as_str)
        .collect();
    if let Some(Value::Object(marks)) = after_unknown {
        keys.extend(marks.keys().map(String::as_str));
    }
    let mut changes = Vec::new();
    for key in keys {
        let step = PathStep::Key(key.to_owned());
        let raw_before = before.get(key).map(|span| scanner.bytes(span.clone()));
        let raw_after = after.get(key).map(|span| scanner.bytes(span.clone()));
        let sensitive = (
            child_mark(before_sensitive, &step),
            child_mark(after_sensitive, &step),
        );
        let unknown = child_mark(after_unknown, &step);
        if raw_before.is_some()
            && raw_before == raw_after
            && !any(unknown)
            && same_marks(sensitive.0, sensitive.1)
        {
            continue;
        }
        let value_before = raw_before.map(parse_value).transpose()?;
        let value_after = raw_after.map(parse_value).transpose()?;
        let b = Side {
            value: value_before.as_ref(),
            sensitive: sensitive.0,
            unknown: None,
        };
        let a = Side {
            value: value_after.as_ref(),
            sensitive: sensitive.1,
            unknown,
        };
        push_changes(&mut changes, step, &b, &a, replace_paths);
    }
    Ok(changes)
}

/// The parts of a change that attribute diffs need: where the top-level
/// members of `before` and `after` are, and the (small) marks as values.
#[derive(Default)]
struct ChangeParts {
    before: Option<BTreeMap<String, Range<usize>>>,
    after: Option<BTreeMap<String, Range<usize>>>,
    after_unknown: Option<Value>,
    before_sensitive: Option<Value>,
    after_sensitive: Option<Value>,
}

impl ChangeParts {
    fn read(scanner: &mut Scanner<&[u8]>) -> Result<Self, PlanError> {
        let mut parts = ChangeParts::default();
        let mut first = true;
        if !scanner.begin_object_or_null()? {
            return Ok(parts);
        }
        while let Some(key) = scanner.next_key(&mut first)? {
            if key != "change" || scanner.skip_ws()? != Some(b'{') {
                scanner.skip_value()?;
                continue;
            }
            scanner.bump();
            let mut first = true;
            while let Some(key) = scanner.next_key(&mut first)? {
                match key.as_str() {
                    "before" => parts.before = members(scanner)?,
                    "after" => parts.after = members(scanner)?,
                    "after_unknown" => parts.after_unknown = Some(scanner.parse()?),
                    "before_sensitive" => parts.before_sensitive = Some(scanner.parse()?),
                    "after_sensitive" => parts.after_sensitive = Some(scanner.parse()?),
                    _ => scanner.skip_value()?,
                }
            }
        }
        Ok(parts)
    }
}

/// Where each member of an object value is; `None` if it is not an object.
fn members(
    scanner: &mut Scanner<&[u8]>,
) -> Result<Option<BTreeMap<String, Range<usize>>>, PlanError> {
    if scanner.skip_ws()? != Some(b'{') {
        scanner.skip_value()?;
        return Ok(None);
    }
    scanner.bump();
    let mut spans = BTreeMap::new();
    let mut first = true;
    while let Some(key) = scanner.next_key(&mut first)? {
        let span = scanner.skip_value_span()?;
        spans.insert(key, span);
    }
    Ok(Some(spans))
}

/// Parses an attribute value the element parse has already validated.
fn parse_value(bytes: &[u8]) -> Result<Value, PlanError> {
    Scanner::over(bytes).parse()
}

/// Adds the changes of one top-level attribute: its members' changes when
/// it can be split, else the attribute as a whole.
fn push_changes(
    changes: &mut Vec<AttributeChange>,
    step: PathStep,
    before: &Side<'_>,
    after: &Side<'_>,
    replace_paths: &[Vec<PathStep>],
) {
    if !differs(before, after) {
        return;
    }
    let mut path = vec![step];
    let count = changes.len();
    if splittable(before, after) {
        for sub in member_steps(before, after) {
            let (b, a) = (before.child(&sub), after.child(&sub));
            if differs(&b, &a) {
                path.push(sub);
                changes.push(attribute(&path, &b, &a, replace_paths));
                path.pop();
            }
        }
    }
    // A difference only visible at this level, e.g. in sensitivity.
    if changes.len() == count {
        changes.push(attribute(&path, before, after, replace_paths));
    }
}

fn attribute(
    path: &[PathStep],
    before: &Side<'_>,
    after: &Side<'_>,
    replace_paths: &[Vec<PathStep>],
) -> AttributeChange {
    AttributeChange {
        path: render_path(path),
        before: before.render(),
        after: after.render(),
        forces_replacement: replace_paths
            .iter()
            .any(|p| p.starts_with(path) || path.starts_with(p)),
    }
}

/// Whether the two sides differ in value, knownness or sensitivity.
fn differs(before: &Side<'_>, after: &Side<'_>) -> bool {
    any(after.unknown)
        || !same_marks(before.sensitive, after.sensitive)
        || non_null(before.value) != non_null(after.value)
}

/// Whether two marks mark the same parts; `false`, `{}` and a missing mark
/// all mark nothing.
fn same_marks(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        _ if !any(a) && !any(b) => true,
        (Some(Value::Bool(true)), Some(Value::Bool(true))) => true,
        (Some(Value::Object(x)), Some(Value::Object(y))) => x
            .keys()
            .chain(y.keys())
            .all(|k| same_marks(x.get(k), y.get(k))),
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            (0..x.len().max(y.len())).all(|i| same_marks(x.get(i), y.get(i)))
        }
        _ => false,
    }
}

fn non_null(value: Option<&Value>) -> Option<&Value> {
    value.filter(|v| !v.is_null())
}

/// Only plain structures are split: a wholly sensitive or unknown value
/// must stay one opaque item, or its keys would leak.
fn splittable(before: &Side<'_>, after: &Side<'_>) -> bool {
    let opaque = |s: &Side<'_>| is_all(s.sensitive) || is_all(s.unknown);
    if opaque(before) || opaque(after) {
        return false;
    }
    match (before.value, after.value) {
        (Some(Value::Object(_)), Some(Value::Object(_))) => true,
        (Some(Value::Array(b)), Some(Value::Array(a))) => b.len() == a.len(),
        _ => false,
    }
}

/// The member steps of either side's value or unknown mark, sorted.
fn member_steps(before: &Side<'_>, after: &Side<'_>) -> BTreeSet<PathStep> {
    let mut steps = BTreeSet::new();
    for value in [before.value, after.value, after.unknown]
        .into_iter()
        .flatten()
    {
        match value {
            Value::Object(map) => steps.extend(map.keys().map(|k| PathStep::Key(k.clone()))),
            Value::Array(items) => steps.extend((0..items.len() as u64).map(PathStep::Index)),
            _ => {}
        }
    }
    steps
}

fn child<'a>(value: Option<&'a Value>, step: &PathStep) -> Option<&'a Value> {
    match (value?, step) {
        (Value::Object(map), PathStep::Key(key)) => map.get(key),
        (Value::Array(items), PathStep::Index(i)) => items.get(usize::try_from(*i).ok()?),
        _ => None,
    }
}

/// A mark's part for a member: a wholly marked value marks every member.
fn child_mark<'a>(mark: Option<&'a Value>, step: &PathStep) -> Option<&'a Value> {
    if is_all(mark) {
        return mark;
    }
    child(mark, step)
}

fn is_all(mark: Option<&Value>) -> bool {
    matches!(mark, Some(Value::Bool(true)))
}

/// Whether a mark marks anything at all.
fn any(mark: Option<&Value>) -> bool {
    match mark {
        Some(Value::Bool(b)) => *b,
        Some(Value::Object(map)) => map.values().any(|m| any(Some(m))),
        Some(Value::Array(items)) => items.iter().any(|m| any(Some(m))),
        _ => false,
    }
}

/// Compact JSON of `value`, with marked parts replaced by bare
/// placeholders. Unknown members absent from the value are listed too.
fn write_masked(
    out: &mut String,
    value: &Value,
    sensitive: Option<&Value>,
    unknown: Option<&Value>,
) {
    if is_all(sensitive) {
        out.push_str("(sensitive value)");
        return;
    }
    if is_all(unknown) {
        out.push_str("(known after apply)");
        return;
    }
    match value {
        Value::Object(map) => {
            let mut keys: BTreeSet<&String> = map.keys().collect();
            if let Some(Value::Object(marks)) = unknown {
                keys.extend(
                    marks
                        .iter()
                        .filter(|(_, m)| is_all(Some(m)))
                        .map(|(k, _)| k),
                );
            }
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                let step = PathStep::Key(key.clone());
                let member = map.get(key).unwrap_or(&Value::Null);
                write_masked(
                    out,
                    member,
                    child_mark(sensitive, &step),
                    child_mark(unknown, &step),
                );
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let step = PathStep::Index(i as u64);
                write_masked(
                    out,
                    item,
                    child_mark(sensitive, &step),
                    child_mark(unknown, &step),
                );
            }
            out.push(']');
        }
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

/// Renders a path like Terraform: `tags["Name"]`, `ebs[0].size`.
///
/// The JSON does not say whether a string step is an attribute or a map
/// key. Provider schemas only allow lowercase identifiers as attribute
/// names, so those become `.name` and every other key `["Key"]`.
pub(super) fn render_path(steps: &[PathStep]) -> String {
    let mut out = String::new();
    for (i, step) in steps.iter().enumerate() {
        match step {
            PathStep::Key(key) if i == 0 => out.push_str(key),
            PathStep::Key(key) if is_attribute_name(key) => {
                out.push('.');
                out.push_str(key);
            }
            PathStep::Key(key) => {
                let _ = write!(out, "[{}]", Value::String(key.clone()));
            }
            PathStep::Index(index) => {
                let _ = write!(out, "[{index}]");
            }
        }
    }
    out
}

fn is_attribute_name(key: &str) -> bool {
    let mut bytes = key.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}
