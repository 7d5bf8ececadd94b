//! serde shapes of the plan pieces the reader keeps, as Terraform writes
//! them. Fields not named here are skipped by serde without being built.
//!
//! The one hand-written visitor is for `change`: its before/after values are
//! most of a plan's bytes. A resource's values are always skipped with
//! `IgnoredAny` here; the few updates and replaces are diffed afterwards from
//! the element's bytes (see `diff`), which is much cheaper than building
//! value trees. An output's values are kept unless it is a no-op: Terraform
//! writes `actions` first, so no-op values are skipped; if another producer
//! puts the values first, they are kept and dropped once the action is
//! known.
//!
//! Resource changes are mostly not read by serde at all:
//! [`RawResourceChange::read_checked`] goes straight to the members it
//! needs, found by the scanner, and hands anything unusual to serde, so the
//! results (errors included) are serde's.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use super::scan::{Cursor, KeyAt, Text};
use super::{Action, Mode};

/// One element of `resource_changes` or `resource_drift`.
#[derive(Debug, Deserialize)]
pub(super) struct RawResourceChange {
    pub address: String,
    #[serde(default)]
    pub previous_address: Option<String>,
    #[serde(default)]
    pub module_address: Option<String>,
    pub mode: Mode,
    #[serde(rename = "type")]
    pub resource_type: String,
    pub name: String,
    #[serde(default)]
    pub deposed: Option<String>,
    #[serde(default)]
    pub action_reason: Option<String>,
    pub change: ResourceChangeBody,
}

/// What [`RawResourceChange::read_checked`] found.
#[allow(
    clippy::large_enum_variant,
    reason = "returned once and taken apart at once; a box would cost an allocation"
)]
pub(super) enum Quick {
    /// A plain no-op, which leaves nothing to keep; whether its sensitivity
    /// marks mark anything.
    NoOp {
        marked: bool,
    },
    Change(RawResourceChange),
}

impl RawResourceChange {
    /// Reads one resource change from the bytes of a JSON value whose syntax
    /// has already been checked, much faster than serde: `keys` says where
    /// the keys of the value's objects are, down to depth 2 (see
    /// [`Scanner::skip_piece_noting_keys`](super::scan::Scanner)), so the
    /// bulk (the before and after values) is never looked at, and nothing
    /// is allocated for a plain no-op. `None` when anything is unusual
    /// (escaped keys, missing or repeated fields, unexpected types, numbers
    /// in sensitivity marks, deep nesting, ...); serde must read those
    /// bytes, and finds the error if there is one. Otherwise the result is
    /// what serde would read.
    pub(super) fn read_checked(bytes: &[u8], keys: &[KeyAt]) -> Option<Quick> {
        let mut c = Cursor { bytes, pos: 0 };
        c.eat(b'{')?;
        let mut address = None;
        let mut previous_address = None;
        let mut module_address = None;
        let mut mode = None;
        let mut resource_type = None;
        let mut name = None;
        let mut deposed = None;
        let mut action_reason = None;
        let mut change = None;
        for (n, key) in keys.iter().enumerate() {
            if key.depth != 1 {
                continue;
            }
            c.pos = key.at;
            match c.key()? {
                b"address" => once(&mut address, c.text()?)?,
                b"previous_address" => once(&mut previous_address, c.optional_text()?)?,
                b"module_address" => once(&mut module_address, c.optional_text()?)?,
                b"mode" => {
                    let value = match c.text()? {
                        Text::Plain("managed") => Mode::Managed,
                        Text::Plain("data") => Mode::Data,
                        _ => return None,
                    };
                    once(&mut mode, value)?;
                }
                b"type" => once(&mut resource_type, c.text()?)?,
                b"name" => once(&mut name, c.text()?)?,
                b"deposed" => once(&mut deposed, c.optional_text()?)?,
                b"action_reason" => once(&mut action_reason, c.optional_text()?)?,
                b"change" => {
                    // Its members' keys follow, up to the next member.
                    let members = keys[n + 1..].iter().take_while(|k| k.depth == 2);
                    once(&mut change, read_change(&mut c, members)?)?;
                }
                _ => {}
            }
        }
        let (address, mode, resource_type, name, change) =
            (address?, mode?, resource_type?, name?, change?);
        let previous_address = previous_address.flatten();
        let no_op = change.actions.as_deref().and_then(Action::from_actions) == Some(Action::NoOp);
        if no_op && previous_address.is_none() && change.importing.is_none() {
            return Some(Quick::NoOp {
                marked: change.marked,
            });
        }
        // `None` if it fails, `Some(None)` for no string.
        let string = |text: Option<Text<'_>>| match text {
            Some(text) => text.into_string().map(Some),
            None => Some(None),
        };
        Some(Quick::Change(RawResourceChange {
            address: address.into_string()?,
            previous_address: string(previous_address)?,
            module_address: string(module_address.flatten())?,
            mode,
            resource_type: resource_type.into_string()?,
            name: name.into_string()?,
            deposed: string(deposed.flatten())?,
            action_reason: string(action_reason.flatten())?,
            change: ResourceChangeBody(change),
        }))
    }
}

/// A resource's `change` (at the cursor), as [`ChangeVisitor`] reads it
/// when it keeps no values; `keys` are its keys.
fn read_change<'k>(c: &mut Cursor<'_>, keys: impl Iterator<Item = &'k KeyAt>) -> Option<RawChange> {
    c.eat(b'{')?;
    let mut change = RawChange::default();
    for key in keys {
        c.pos = key.at;
        match c.key()? {
            b"actions" => {
                let mut actions = Vec::new();
                c.eat(b'[')?;
                let mut more = c.first(b']')?;
                while more {
                    actions.push(c.text()?.into_string()?);
                    more = c.next(b']')?;
                }
                change.actions = Some(actions);
            }
            b"replace_paths" => {
                let paths: Option<Vec<Vec<PathStep>>> =
                    serde_json::from_slice(c.shallow_value()?).ok()?;
                change.replace_paths = paths.unwrap_or_default();
            }
            b"importing" => {
                change.importing = serde_json::from_slice(c.shallow_value()?).ok()?;
            }
            b"before_sensitive" | b"after_sensitive" => change.marked |= c.any_true()?,
            _ => {}
        }
    }
    Some(change)
}

/// Sets a field once; `None` if it is repeated, which serde refuses.
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value);
    Some(())
}

/// A resource's `change`, without its values.
#[derive(Debug)]
pub(super) struct ResourceChangeBody(pub RawChange);

/// One value of `output_changes`, with values kept unless it is a no-op.
pub(super) struct OutputChangeBody(pub RawChange);

/// The `change` object shared by resources and outputs.
///
/// A value field is `None` when it was absent or skipped, and
/// `Some(Value::Null)` when it was JSON `null`; the difference matters for
/// the sensitivity marks, whose absence means "not recorded".
#[derive(Debug, Default)]
pub(super) struct RawChange {
    pub actions: Option<Vec<String>>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub after_unknown: Option<Value>,
    pub before_sensitive: Option<Value>,
    pub after_sensitive: Option<Value>,
    pub replace_paths: Vec<Vec<PathStep>>,
    pub importing: Option<RawImporting>,
    /// Whether a sensitivity mark marks anything, recorded even where the
    /// marks themselves are not kept (resource changes).
    pub marked: bool,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawImporting {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub identity: Option<Value>,
    #[serde(default)]
    pub unknown: bool,
}

/// One step of a `replace_paths` path: an attribute name or map key, or a
/// list index.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum PathStep {
    Key(String),
    Index(u64),
}

/// Read through `Value`, so it works whatever serde_json features
/// (`arbitrary_precision`) the final build enables; paths are tiny.
impl<'de> Deserialize<'de> for PathStep {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        match &value {
            Value::String(key) => return Ok(PathStep::Key(key.clone())),
            Value::Number(n) => {
                if let Some(index) = n.as_u64() {
                    return Ok(PathStep::Index(index));
                }
            }
            _ => {}
        }
        Err(de::Error::invalid_value(
            de::Unexpected::Other(&value.to_string()),
            &"a path step (string or list index)",
        ))
    }
}

/// Which changes keep their before/after values.
#[derive(Clone, Copy)]
enum Keep {
    Never,
    UnlessNoOp,
}

impl Keep {
    fn wants(self, action: Option<Action>) -> bool {
        match (self, action) {
            (Keep::Never, _) => false,
            // Unknown yet (or unknown to us): keep, decide later.
            (Keep::UnlessNoOp, None) => true,
            (Keep::UnlessNoOp, Some(action)) => action != Action::NoOp,
        }
    }
}

impl<'de> Deserialize<'de> for ResourceChangeBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_map(ChangeVisitor(Keep::Never))
            .map(ResourceChangeBody)
    }
}

impl<'de> Deserialize<'de> for OutputChangeBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_map(ChangeVisitor(Keep::UnlessNoOp))
            .map(OutputChangeBody)
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum ChangeField {
    Actions,
    Before,
    After,
    AfterUnknown,
    BeforeSensitive,
    AfterSensitive,
    ReplacePaths,
    Importing,
    #[serde(other)]
    Other,
}

struct ChangeVisitor(Keep);

impl<'de> Visitor<'de> for ChangeVisitor {
    type Value = RawChange;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a change object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawChange, A::Error> {
        let keep = self.0;
        let mut change = RawChange::default();
        let mut action = None;
        while let Some(field) = map.next_key::<ChangeField>()? {
            let wanted = keep.wants(action);
            let slot = match field {
                ChangeField::Actions => {
                    let actions: Vec<String> = map.next_value()?;
                    action = Action::from_actions(&actions);
                    change.actions = Some(actions);
                    continue;
                }
                ChangeField::ReplacePaths => {
                    let paths: Option<Vec<Vec<PathStep>>> = map.next_value()?;
                    change.replace_paths = paths.unwrap_or_default();
                    continue;
                }
                ChangeField::Importing => {
                    change.importing = map.next_value()?;
                    continue;
                }
                ChangeField::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                ChangeField::Before => &mut change.before,
                ChangeField::After => &mut change.after,
                ChangeField::AfterUnknown => &mut change.after_unknown,
                // Whether a change holds secrets is needed even where values
                // are skipped: redaction looks for copies of them elsewhere.
                // Read without building the marks when they are not kept.
                ChangeField::BeforeSensitive | ChangeField::AfterSensitive if !wanted => {
                    let AnyTrue(marked) = map.next_value()?;
                    change.marked |= marked;
                    continue;
                }
                ChangeField::BeforeSensitive => &mut change.before_sensitive,
                ChangeField::AfterSensitive => &mut change.after_sensitive,
            };
            if wanted {
                *slot = Some(map.next_value::<Value>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if !keep.wants(action) {
            change.before = None;
            change.after = None;
            change.after_unknown = None;
            change.before_sensitive = None;
            change.after_sensitive = None;
        }
        Ok(change)
    }
}

/// One element of `checks`.
#[derive(Deserialize)]
pub(super) struct RawCheck {
    pub address: RawCheckAddress,
    pub status: String,
    #[serde(default)]
    pub instances: Option<Vec<RawCheckInstance>>,
}

#[derive(Deserialize)]
pub(super) struct RawCheckAddress {
    pub to_display: String,
}

#[derive(Deserialize)]
pub(super) struct RawCheckInstance {
    pub address: RawCheckAddress,
    #[serde(default)]
    pub problems: Option<Vec<RawProblem>>,
}

#[derive(Deserialize)]
pub(super) struct RawProblem {
    pub message: String,
}

/// An output in `planned_values` or `prior_state`; only its sensitivity is
/// read.
#[derive(Deserialize)]
pub(super) struct RawOutputValue {
    #[serde(default)]
    pub sensitive: bool,
}

/// Whether a JSON value (a sensitivity mark) contains `true` anywhere,
/// found without building the value.
struct AnyTrue(bool);

impl<'de> Deserialize<'de> for AnyTrue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AnyTrueVisitor)
    }
}

struct AnyTrueVisitor;

impl<'de> Visitor<'de> for AnyTrueVisitor {
    type Value = AnyTrue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sensitivity mark")
    }

    fn visit_bool<E>(self, v: bool) -> Result<AnyTrue, E> {
        Ok(AnyTrue(v))
    }

    fn visit_i64<E>(self, _: i64) -> Result<AnyTrue, E> {
        Ok(AnyTrue(false))
    }

    fn visit_u64<E>(self, _: u64) -> Result<AnyTrue, E> {
        Ok(AnyTrue(false))
    }

    fn visit_f64<E>(self, _: f64) -> Result<AnyTrue, E> {
        Ok(AnyTrue(false))
    }

    fn visit_str<E>(self, _: &str) -> Result<AnyTrue, E> {
        Ok(AnyTrue(false))
    }

    fn visit_unit<E>(self) -> Result<AnyTrue, E> {
        Ok(AnyTrue(false))
    }

    fn visit_none<E>(self) -> Result<AnyTrue, E> {
        Ok(AnyTrue(false))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<AnyTrue, D::Error> {
        AnyTrue::deserialize(deserializer)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<AnyTrue, A::Error> {
        let mut any = false;
        while let Some(AnyTrue(marked)) = seq.next_element()? {
            any |= marked;
        }
        Ok(AnyTrue(any))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnyTrue, A::Error> {
        let mut any = false;
        while map.next_key::<IgnoredAny>()?.is_some() {
            let AnyTrue(marked) = map.next_value()?;
            any |= marked;
        }
        Ok(AnyTrue(any))
    }
}
