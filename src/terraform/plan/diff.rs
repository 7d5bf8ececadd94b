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
//!
//! Values are handled as the bytes of the plan JSON (validated when the
//! resource change was read), not as parsed trees: most attributes of an
//! update are unchanged, and equal bytes are equal values, so only the
//! changed ones are looked at more closely. Differing bytes may still be
//! equal values (spacing, escapes); those are parsed and compared. Only the
//! small marks, and values that are partly marked, become `Value`s.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use serde_json::Value;

use super::raw::{PathStep, RawChange};
use super::scan::{Cursor, KeyAt, Scanner, serde_message};
use super::{AttributeChange, PlanError, Rendered};

/// The mark used for a side whose sensitivity Terraform did not record
/// (plan format 0.1): everything is treated as sensitive.
static ALL: Value = Value::Bool(true);

/// The bytes of one JSON value.
type Raw<'a> = &'a [u8];

/// One side of a change at some path: the value and its marks.
#[derive(Clone, Copy)]
struct Side<'a> {
    raw: Option<Raw<'a>>,
    sensitive: Option<&'a Value>,
    unknown: Option<&'a Value>,
}

/// A value's members, for going into it.
enum Shape<'a> {
    Object(BTreeMap<Cow<'a, str>, Raw<'a>>),
    Array(Vec<Raw<'a>>),
    Other,
}

/// A step into a value while diffing, borrowing its key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step<'a> {
    Key(&'a str),
    Index(u64),
}

impl Step<'_> {
    fn to_path_step(self) -> PathStep {
        match self {
            Step::Key(key) => PathStep::Key(key.to_owned()),
            Step::Index(index) => PathStep::Index(index),
        }
    }
}

impl<'a> Side<'a> {
    fn child(&self, shape: &Shape<'a>, step: Step<'_>) -> Side<'a> {
        let raw = match (shape, step) {
            (Shape::Object(members), Step::Key(key)) => members.get(key).copied(),
            (Shape::Array(items), Step::Index(i)) => {
                usize::try_from(i).ok().and_then(|i| items.get(i)).copied()
            }
            _ => None,
        };
        Side {
            raw,
            sensitive: child_mark(self.sensitive, step),
            unknown: child_mark(self.unknown, step),
        }
    }

    /// Wholly sensitive or unknown: one opaque item, or its keys would leak.
    fn opaque(&self) -> bool {
        is_all(self.sensitive) || is_all(self.unknown)
    }

    /// The value as it may be shown. A sensitive null is shown as absent:
    /// that it is unset is no secret. Unmarked values are shown from their
    /// bytes; only partly marked ones are parsed.
    fn render(&self) -> Result<Rendered, PlanError> {
        let Some(raw) = non_null(self.raw) else {
            return Ok(render_value(None, self.sensitive, self.unknown));
        };
        if is_all(self.sensitive) {
            return Ok(Rendered::Sensitive);
        }
        if is_all(self.unknown) {
            return Ok(Rendered::Unknown);
        }
        if !any(self.sensitive)
            && !any(self.unknown)
            && let Some(text) = compact(raw)
        {
            return Ok(Rendered::Value(text));
        }
        let value = parse_value(raw)?;
        Ok(render_value(Some(&value), self.sensitive, self.unknown))
    }
}

/// A value as it may be shown. A sensitive null is shown as absent: that
/// it is unset is no secret.
fn render_value(
    value: Option<&Value>,
    sensitive: Option<&Value>,
    unknown: Option<&Value>,
) -> Rendered {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        // Even whether a sensitive value is known is not shown: Terraform
        // says "(sensitive value)" there too.
        return if any(unknown) && is_all(sensitive) {
            Rendered::Sensitive
        } else if any(unknown) {
            Rendered::Unknown
        } else {
            Rendered::Absent
        };
    };
    if is_all(sensitive) {
        Rendered::Sensitive
    } else if is_all(unknown) {
        Rendered::Unknown
    } else if any(sensitive) || any(unknown) {
        let mut text = String::new();
        write_masked(&mut text, value, sensitive, unknown);
        Rendered::Value(text)
    } else {
        Rendered::Value(value.to_string())
    }
}

/// Adds every value Terraform marked sensitive in one resource change
/// (`element`, the bytes of a `resource_changes` entry) to `secrets`, as
/// the strings they would be shown as.
///
/// Marks follow values, not copies of them: a provider may return a secret
/// again in an unmarked attribute (Terraform's own `terraform_data` does,
/// in `output`). Knowing the secret values lets [`redact`] catch those.
pub(super) fn sensitive_values(
    element: &[u8],
    secrets: &mut BTreeSet<String>,
) -> Result<(), PlanError> {
    let value = parse_value(element)?;
    let change = &value["change"];
    for (side, mark) in [("before", "before_sensitive"), ("after", "after_sensitive")] {
        collect_marked(&change[side], change.get(mark), secrets);
    }
    Ok(())
}

/// Adds the leaves of a sensitive output's values to `secrets`.
pub(super) fn output_secrets(change: &RawChange, secrets: &mut BTreeSet<String>) {
    for value in [&change.before, &change.after].into_iter().flatten() {
        collect_marked(value, Some(&ALL), secrets);
    }
}

fn collect_marked(value: &Value, mark: Option<&Value>, secrets: &mut BTreeSet<String>) {
    match (value, mark) {
        (_, Some(Value::Bool(true))) => collect_leaves(value, secrets),
        (Value::Object(members), Some(Value::Object(marks))) => {
            for (key, member) in members {
                collect_marked(member, marks.get(key), secrets);
            }
        }
        (Value::Array(items), Some(Value::Array(marks))) => {
            for (item, mark) in items.iter().zip(marks) {
                collect_marked(item, Some(mark), secrets);
            }
        }
        _ => {}
    }
}

fn collect_leaves(value: &Value, secrets: &mut BTreeSet<String>) {
    match value {
        Value::Null => {}
        Value::String(s) => {
            secrets.insert(s.clone());
        }
        Value::Bool(_) | Value::Number(_) => {
            secrets.insert(value.to_string());
        }
        Value::Array(items) => items.iter().for_each(|v| collect_leaves(v, secrets)),
        Value::Object(members) => members.values().for_each(|v| collect_leaves(v, secrets)),
    }
}

/// Secrets shorter than this are only matched as a whole value: finding
/// "on" or "1" inside other values would hide half the plan.
const MIN_CONTAINED_SECRET: usize = 4;

/// Replaces a shown value that contains a known secret by
/// `(sensitive value)`.
pub(super) fn redact(rendered: &mut Rendered, secrets: &BTreeSet<String>) {
    let Rendered::Value(text) = rendered else {
        return;
    };
    let leaks = secrets.iter().any(|secret| {
        // Values are shown as compact JSON, so strings appear escaped.
        let quoted = Value::String(secret.clone()).to_string();
        let escaped = &quoted[1..quoted.len() - 1];
        if secret.chars().count() >= MIN_CONTAINED_SECRET {
            text.contains(escaped) || text.contains(secret.as_str())
        } else {
            *text == quoted || *text == *secret
        }
    });
    if leaks {
        *rendered = Rendered::Sensitive;
    }
}

/// Whether either sensitivity mark of a change marks anything.
pub(super) fn has_sensitive_marks(change: &RawChange) -> bool {
    change.marked || any(change.before_sensitive.as_ref()) || any(change.after_sensitive.as_ref())
}

/// The before and after of an output. A sensitive output shows no part of
/// its value.
pub(super) fn render_output(change: &RawChange, sensitive: bool) -> (Rendered, Rendered) {
    let mark = sensitive.then_some(&ALL);
    (
        render_value(change.before.as_ref(), mark, None),
        render_value(change.after.as_ref(), mark, change.after_unknown.as_ref()),
    )
}

/// The changed attributes of an update or replace, read from the bytes of
/// its `resource_changes` element.
///
/// `keys`, where the scanner found the element's keys, makes this faster.
pub(super) fn attribute_changes(
    element: &[u8],
    keys: Option<&[KeyAt]>,
    replace_paths: &[Vec<PathStep>],
) -> Result<Vec<AttributeChange>, PlanError> {
    let quick = keys.and_then(|keys| ChangeParts::read_indexed(element, keys));
    let parts = match quick {
        Some(parts) => parts,
        None => ChangeParts::read(element)?,
    };
    let before = Side {
        raw: None,
        sensitive: Some(parts.before_sensitive.as_ref().unwrap_or(&ALL)),
        unknown: None,
    };
    let after = Side {
        raw: None,
        sensitive: Some(parts.after_sensitive.as_ref().unwrap_or(&ALL)),
        unknown: parts.after_unknown.as_ref(),
    };
    // Resource values are objects; nothing else can be itemized.
    let (Shape::Object(_), Shape::Object(_)) = (&parts.before, &parts.after) else {
        return Ok(Vec::new());
    };
    let mut changes = Vec::new();
    for step in member_steps(&parts.before, &parts.after, after.unknown) {
        let b = before.child(&parts.before, step);
        let a = after.child(&parts.after, step);
        push_changes(&mut changes, step, &b, &a, replace_paths)?;
    }
    Ok(changes)
}

/// What attribute diffs need of a change: the members of `before` and
/// `after`, and the (small) marks as values.
struct ChangeParts<'a> {
    before: Shape<'a>,
    after: Shape<'a>,
    after_unknown: Option<Value>,
    before_sensitive: Option<Value>,
    after_sensitive: Option<Value>,
}

impl<'a> ChangeParts<'a> {
    fn empty() -> Self {
        ChangeParts {
            before: Shape::Other,
            after: Shape::Other,
            after_unknown: None,
            before_sensitive: None,
            after_sensitive: None,
        }
    }

    fn read(element: &'a [u8]) -> Result<Self, PlanError> {
        let mut parts = ChangeParts::empty();
        let mut scanner = Scanner::over(element);
        let scanner = &mut scanner;
        if !scanner.begin_object_or_null()? {
            return Ok(parts);
        }
        let mut first = true;
        while let Some(key) = scanner.next_key(&mut first)? {
            if key != "change" || scanner.skip_ws()? != Some(b'{') {
                scanner.skip_value()?;
                continue;
            }
            scanner.bump();
            let mut first = true;
            while let Some(key) = scanner.next_key(&mut first)? {
                match key.as_str() {
                    "before" => parts.before = read_shape(scanner, element)?,
                    "after" => parts.after = read_shape(scanner, element)?,
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

impl<'a> ChangeParts<'a> {
    /// [`ChangeParts::read`] from an element whose keys are known (down to
    /// depth 2) and whose syntax is checked, without scanning the rest.
    /// `None` for anything unusual, such as escaped keys or marks serde
    /// refuses; [`ChangeParts::read`] handles those, or reports the error.
    fn read_indexed(element: &'a [u8], keys: &[KeyAt]) -> Option<Self> {
        let mut parts = ChangeParts::empty();
        let mut c = Cursor {
            bytes: element,
            pos: 0,
        };
        c.eat(b'{')?;
        for (n, key) in keys.iter().enumerate() {
            if key.depth != 1 {
                continue;
            }
            c.pos = key.at;
            if c.key()? != b"change" || c.peek()? != b'{' {
                continue;
            }
            for member in keys[n + 1..].iter().take_while(|k| k.depth == 2) {
                c.pos = member.at;
                match c.key()? {
                    b"before" => parts.before = quick_shape(c.value()?)?,
                    b"after" => parts.after = quick_shape(c.value()?)?,
                    b"after_unknown" => parts.after_unknown = Some(quick_mark(&mut c, false)?),
                    b"before_sensitive" => parts.before_sensitive = Some(quick_mark(&mut c, true)?),
                    b"after_sensitive" => parts.after_sensitive = Some(quick_mark(&mut c, true)?),
                    _ => {}
                }
            }
        }
        Some(parts)
    }
}

/// A mark at the cursor, as serde reads it, or `None` if serde would not.
///
/// Building marks is most of the work of a diff, and most sensitivity marks
/// mark nothing (`{"tags":{},"ports":[false]}`), which the diff treats
/// exactly like `false`: it only looks for `true` in them, never at their
/// keys (unlike the keys of the unknown mark, which it lists). So such marks
/// become `false` without being built, when `sensitivity` says they are
/// sensitivity marks.
fn quick_mark(c: &mut Cursor<'_>, sensitivity: bool) -> Option<Value> {
    c.peek()?;
    let start = c.pos;
    if sensitivity && c.any_true() == Some(false) {
        return Some(Value::Bool(false));
    }
    c.pos = start;
    match c.value()? {
        b"{}" => Some(Value::Object(serde_json::Map::new())),
        b"false" => Some(Value::Bool(false)),
        value => serde_json::from_slice(value).ok(),
    }
}

/// [`shape`] of checked bytes, without checking them again; `None` for
/// keys that are escaped or not UTF-8.
fn quick_shape(raw: Raw<'_>) -> Option<Shape<'_>> {
    let mut c = Cursor { bytes: raw, pos: 0 };
    match c.peek() {
        Some(b'{') => {
            c.pos += 1;
            let mut members = BTreeMap::new();
            let mut more = c.first(b'}')?;
            while more {
                let key = std::str::from_utf8(c.key()?).ok()?;
                members.insert(Cow::Borrowed(key), c.value()?);
                more = c.next(b'}')?;
            }
            Some(Shape::Object(members))
        }
        Some(b'[') => {
            c.pos += 1;
            let mut items = Vec::new();
            let mut more = c.first(b']')?;
            while more {
                items.push(c.value()?);
                more = c.next(b']')?;
            }
            Some(Shape::Array(items))
        }
        _ => Some(Shape::Other),
    }
}

/// Reads the value at the scanner as a [`Shape`] of `bytes`, the bytes the
/// scanner was made [`over`](Scanner::over).
fn read_shape<'a>(scanner: &mut Scanner<&[u8]>, bytes: &'a [u8]) -> Result<Shape<'a>, PlanError> {
    let mut first = true;
    match scanner.skip_ws()? {
        Some(b'{') => {
            scanner.bump();
            let mut members = BTreeMap::new();
            while let Some(key) = scanner.next_key(&mut first)? {
                let span = scanner.skip_value_span()?;
                members.insert(Cow::Owned(key), &bytes[span]);
            }
            Ok(Shape::Object(members))
        }
        Some(b'[') => {
            scanner.bump();
            let mut items = Vec::new();
            while scanner.next_element(&mut first)? {
                let span = scanner.skip_value_span()?;
                items.push(&bytes[span]);
            }
            Ok(Shape::Array(items))
        }
        _ => {
            scanner.skip_value()?;
            Ok(Shape::Other)
        }
    }
}

fn shape(raw: Option<Raw<'_>>) -> Result<Shape<'_>, PlanError> {
    match raw {
        Some(raw) if matches!(raw.first(), Some(b'{' | b'[')) => match quick_shape(raw) {
            Some(shape) => Ok(shape),
            None => read_shape(&mut Scanner::over(raw), raw),
        },
        _ => Ok(Shape::Other),
    }
}

/// Parses a value the element parse has already validated, so an error
/// (and its position, relative to the value) is all but impossible.
fn parse_value(raw: Raw<'_>) -> Result<Value, PlanError> {
    serde_json::from_slice(raw).map_err(|e| PlanError::Json {
        line: e.line() as u64,
        column: e.column() as u64,
        message: serde_message(&e),
    })
}

/// Adds the changes of one top-level attribute: its members' changes when
/// it can be split, else the attribute as a whole.
fn push_changes(
    changes: &mut Vec<AttributeChange>,
    step: Step<'_>,
    before: &Side<'_>,
    after: &Side<'_>,
    replace_paths: &[Vec<PathStep>],
) -> Result<(), PlanError> {
    if !differs(before, after)? {
        return Ok(());
    }
    let count = changes.len();
    if !before.opaque() && !after.opaque() {
        let (b_shape, a_shape) = (shape(before.raw)?, shape(after.raw)?);
        let splittable = match (&b_shape, &a_shape) {
            (Shape::Object(_), Shape::Object(_)) => true,
            (Shape::Array(b), Shape::Array(a)) => b.len() == a.len(),
            _ => false,
        };
        if splittable {
            for sub in member_steps(&b_shape, &a_shape, after.unknown) {
                let (b, a) = (before.child(&b_shape, sub), after.child(&a_shape, sub));
                if differs(&b, &a)? {
                    changes.push(attribute(&[step, sub], &b, &a, replace_paths)?);
                }
            }
        }
    }
    // A difference only visible at this level, e.g. in sensitivity.
    if changes.len() == count {
        changes.push(attribute(&[step], before, after, replace_paths)?);
    }
    Ok(())
}

fn attribute(
    path: &[Step<'_>],
    before: &Side<'_>,
    after: &Side<'_>,
    replace_paths: &[Vec<PathStep>],
) -> Result<AttributeChange, PlanError> {
    let path: Vec<PathStep> = path.iter().map(|s| s.to_path_step()).collect();
    Ok(AttributeChange {
        path: render_path(&path),
        before: before.render()?,
        after: after.render()?,
        forces_replacement: replace_paths
            .iter()
            .any(|p| p.starts_with(&path) || path.starts_with(p)),
    })
}

/// Whether the two sides differ in value, knownness or sensitivity.
fn differs(before: &Side<'_>, after: &Side<'_>) -> Result<bool, PlanError> {
    if any(after.unknown) || !same_marks(before.sensitive, after.sensitive) {
        return Ok(true);
    }
    Ok(match (non_null(before.raw), non_null(after.raw)) {
        (None, None) => false,
        (Some(b), Some(a)) => b != a && parse_value(b)? != parse_value(a)?,
        _ => true,
    })
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

fn non_null(raw: Option<Raw<'_>>) -> Option<Raw<'_>> {
    raw.filter(|raw| *raw != b"null")
}

/// The member steps of either side, or of the unknown mark, sorted.
fn member_steps<'s>(
    before: &'s Shape<'_>,
    after: &'s Shape<'_>,
    unknown: Option<&'s Value>,
) -> BTreeSet<Step<'s>> {
    let mut steps = BTreeSet::new();
    for shape in [before, after] {
        match shape {
            Shape::Object(members) => steps.extend(members.keys().map(|k| Step::Key(k))),
            Shape::Array(items) => steps.extend((0..items.len() as u64).map(Step::Index)),
            Shape::Other => {}
        }
    }
    if let Some(Value::Object(marks)) = unknown {
        steps.extend(marks.keys().map(|k| Step::Key(k)));
    }
    steps
}

/// A mark's part for a member: a wholly marked value marks every member.
fn child_mark<'a>(mark: Option<&'a Value>, step: Step<'_>) -> Option<&'a Value> {
    match (mark?, step) {
        (all @ Value::Bool(true), _) => Some(all),
        (Value::Object(marks), Step::Key(key)) => marks.get(key),
        (Value::Array(marks), Step::Index(i)) => marks.get(usize::try_from(i).ok()?),
        _ => None,
    }
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

/// Compact JSON text of a value's bytes: whitespace between tokens dropped,
/// and escapes of printable ASCII (Terraform writes `<`, `>` and `&` as
/// `\u003c` and so on) written as the character, as serde_json would.
/// `None` if the bytes are not UTF-8; parsing them reports that.
fn compact(raw: Raw<'_>) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut in_string = false;
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        i += 1;
        if !in_string {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => {}
                b'"' => {
                    in_string = true;
                    out.push(b);
                }
                _ => out.push(b),
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = false;
                out.push(b);
            }
            // The escaped byte is taken with the backslash, so that `\\`
            // followed by `u0041` stays as it is.
            b'\\' => match raw.get(i..)? {
                [b'u', b'0', b'0', hi, lo, ..] => match printable(*hi, *lo) {
                    Some(c) => {
                        if matches!(c, b'"' | b'\\') {
                            out.push(b'\\');
                        }
                        out.push(c);
                        i += 5;
                    }
                    None => {
                        out.extend(b"\\u");
                        i += 1;
                    }
                },
                [b'/', ..] => {
                    out.push(b'/');
                    i += 1;
                }
                [next, ..] => {
                    out.extend([b'\\', *next]);
                    i += 1;
                }
                [] => return None,
            },
            _ => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}

/// The printable ASCII character with the hex digits `hi` `lo`, if it is
/// one.
fn printable(hi: u8, lo: u8) -> Option<u8> {
    let hex = |d: u8| (d as char).to_digit(16);
    let c = u8::try_from(hex(hi)? * 16 + hex(lo)?).ok()?;
    matches!(c, 0x20..=0x7e).then_some(c)
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
                let _ = write!(out, "{}:", Value::String(key.clone()));
                let step = Step::Key(key);
                let member = map.get(key).unwrap_or(&Value::Null);
                write_masked(
                    out,
                    member,
                    child_mark(sensitive, step),
                    child_mark(unknown, step),
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
                let step = Step::Index(i as u64);
                write_masked(
                    out,
                    item,
                    child_mark(sensitive, step),
                    child_mark(unknown, step),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_text_matches_serde_json() {
        for (raw, expected) in [
            (
                &b"{ \"a\" : [1, 2],\n \"b\": \"x y\" }"[..],
                r#"{"a":[1,2],"b":"x y"}"#,
            ),
            (br#""a \u003cb\u003e \u0026 c""#, r#""a <b> & c""#),
            (
                br#""quote \u0022 and backslash \u005c""#,
                r#""quote \" and backslash \\""#,
            ),
            (br#""\\u0041 stays""#, r#""\\u0041 stays""#),
            (br#""\/ \n \u00e9""#, r#""/ \n é""#),
        ] {
            let text = compact(raw).expect("UTF-8");
            let reparsed: Value = serde_json::from_str(&text).expect("valid JSON");
            let original: Value = serde_json::from_slice(raw).expect("valid JSON");
            assert_eq!(reparsed, original, "{text}");
            if raw != br#""\/ \n \u00e9""# {
                assert_eq!(text, expected);
            }
        }
        assert_eq!(compact(b"\"\xff\""), None);
    }
}
