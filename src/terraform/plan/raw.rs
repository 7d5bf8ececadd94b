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

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use super::{Action, Mode};

/// One element of `resource_changes` or `resource_drift`.
#[derive(Deserialize)]
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

/// A resource's `change`, without its values.
pub(super) struct ResourceChangeBody(pub RawChange);

/// One value of `output_changes`, with values kept unless it is a no-op.
pub(super) struct OutputChangeBody(pub RawChange);

/// The `change` object shared by resources and outputs.
///
/// A value field is `None` when it was absent or skipped, and
/// `Some(Value::Null)` when it was JSON `null`; the difference matters for
/// the sensitivity marks, whose absence means "not recorded".
#[derive(Default)]
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

#[derive(Deserialize)]
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
