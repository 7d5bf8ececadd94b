//! The top-level reader: walks the plan object member by member, reads the
//! members a classification needs, and skips the rest unparsed.
//!
//! Arrays are read one element at a time and each element is converted
//! right away, so only the kept [`ResourceChange`]s stay in memory.

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::Path;

use super::raw::{
    OutputChangeBody, RawChange, RawCheck, RawImporting, RawOutputValue, RawResourceChange,
    ResourceChangeBody,
};
use super::scan::{self, Scanner};
use super::{Action, FailedCheck, OutputChange, Plan, PlanError, ResourceChange, diff};

/// Top-level members only a plan has: seeing one tells a plan from state
/// JSON, which also has `format_version`.
const PLAN_MEMBERS: &[&str] = &[
    "planned_values",
    "resource_changes",
    "resource_drift",
    "output_changes",
    "prior_state",
    "configuration",
    "relevant_attributes",
    "deferred_changes",
    "applyable",
    "complete",
    "errored",
];

const HINT: &str = "pass the output of `terraform show -json <planfile>`";

pub(super) fn parse<R: Read>(reader: R, path: Option<&Path>) -> Result<Plan, PlanError> {
    parse_with_chunk(reader, path, scan::CHUNK)
}

/// [`parse`] with a given read size; tests use tiny ones to cut every piece
/// at a chunk end.
pub(super) fn parse_with_chunk<R: Read>(
    reader: R,
    path: Option<&Path>,
    chunk: usize,
) -> Result<Plan, PlanError> {
    let mut scanner = Scanner::new(reader, path, chunk);
    match scanner.skip_ws()? {
        Some(b'{') => scanner.bump(),
        Some(_) => return Err(not_an_object(&mut scanner)),
        None => {
            return Err(PlanError::NotAPlan {
                reason: format!("the input is empty; {HINT}"),
            });
        }
    }
    let mut reading = Reading::default();
    let mut first = true;
    while let Some(key) = scanner.next_key(&mut first)? {
        reading.member(&key, &mut scanner)?;
    }
    scanner.finish()?;
    reading.finish()
}

/// Explains a top-level value that is not an object, or reports the syntax
/// error if it is not JSON at all.
fn not_an_object<R: Read>(scanner: &mut Scanner<R>) -> PlanError {
    let start = match scanner.lookahead(4) {
        Ok(start) => start,
        Err(e) => return e,
    };
    let reason = match start {
        // Saved plan files are zip archives.
        [b'P', b'K', 3, 4] => format!("this is a binary plan file; {HINT}"),
        [b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n', ..] => {
            format!("the top-level JSON value is not an object; {HINT}")
        }
        _ => return scanner.error_here("expected value"),
    };
    PlanError::NotAPlan { reason }
}

/// What has been read so far.
#[derive(Default)]
struct Reading {
    format_version: Option<String>,
    terraform_version: Option<String>,
    changes: Vec<ResourceChange>,
    unchanged: usize,
    drift: Vec<ResourceChange>,
    /// Converted at the end: their sensitivity may come from
    /// `prior_state`, which follows `output_changes`.
    outputs: Vec<(String, RawChange)>,
    /// Output sensitivity from `planned_values` and `prior_state`, the only
    /// record of it in format 0.1.
    output_sensitive: HashMap<String, bool>,
    errored: bool,
    failed_checks: Vec<FailedCheck>,
    /// Values marked sensitive anywhere, to catch unmarked copies of them.
    secrets: BTreeSet<String>,
    seen_plan_member: bool,
    seen_state_values: bool,
    seen_state_file_member: bool,
}

impl Reading {
    fn member<R: Read>(&mut self, key: &str, scanner: &mut Scanner<R>) -> Result<(), PlanError> {
        if PLAN_MEMBERS.contains(&key) {
            self.seen_plan_member = true;
        }
        match key {
            "format_version" => {
                let version: String = scanner.parse()?;
                check_format(&version)?;
                self.format_version = Some(version);
            }
            "terraform_version" => self.terraform_version = scanner.parse()?,
            "resource_changes" => self.resource_changes(scanner, false)?,
            "resource_drift" => self.resource_changes(scanner, true)?,
            "output_changes" => self.output_changes(scanner)?,
            "errored" => self.errored = scanner.parse::<Option<bool>>()?.unwrap_or(false),
            "checks" => self.checks(scanner)?,
            "planned_values" => self.output_sensitivity(scanner, &["outputs"])?,
            "prior_state" => self.output_sensitivity(scanner, &["values", "outputs"])?,
            _ => {
                match key {
                    "values" => self.seen_state_values = true,
                    "lineage" | "serial" => self.seen_state_file_member = true,
                    _ => {}
                }
                scanner.skip_value()?;
            }
        }
        Ok(())
    }

    fn resource_changes<R: Read>(
        &mut self,
        scanner: &mut Scanner<R>,
        drift: bool,
    ) -> Result<(), PlanError> {
        if !scanner.begin_array_or_null()? {
            return Ok(());
        }
        let mut first = true;
        while scanner.next_element(&mut first)? {
            let (raw, bytes) = scanner.parse_with_bytes::<RawResourceChange>()?;
            if diff::has_sensitive_marks(&raw.change.0) {
                diff::sensitive_values(bytes, &mut self.secrets)?;
            }
            match (resource_change(raw, bytes)?, drift) {
                (Some(change), false) => self.changes.push(change),
                (Some(change), true) => self.drift.push(change),
                (None, false) => self.unchanged += 1,
                (None, true) => {}
            }
        }
        Ok(())
    }

    fn output_changes<R: Read>(&mut self, scanner: &mut Scanner<R>) -> Result<(), PlanError> {
        if !scanner.begin_object_or_null()? {
            return Ok(());
        }
        let mut first = true;
        while let Some(name) = scanner.next_key(&mut first)? {
            let OutputChangeBody(change) = scanner.parse()?;
            self.outputs.push((name, change));
        }
        Ok(())
    }

    fn checks<R: Read>(&mut self, scanner: &mut Scanner<R>) -> Result<(), PlanError> {
        if !scanner.begin_array_or_null()? {
            return Ok(());
        }
        let mut first = true;
        while scanner.next_element(&mut first)? {
            let check: RawCheck = scanner.parse()?;
            if check.status != "fail" && check.status != "error" {
                continue;
            }
            let address = check.address.to_display;
            let mut messages = Vec::new();
            for instance in check.instances.unwrap_or_default() {
                for problem in instance.problems.unwrap_or_default() {
                    messages.push(if instance.address.to_display == address {
                        problem.message
                    } else {
                        format!("{}: {}", instance.address.to_display, problem.message)
                    });
                }
            }
            self.failed_checks.push(FailedCheck {
                address,
                status: check.status,
                messages,
            });
        }
        Ok(())
    }

    /// Descends `path` (object members) and records the sensitivity of each
    /// output in the outputs map found there; skips everything else.
    fn output_sensitivity<R: Read>(
        &mut self,
        scanner: &mut Scanner<R>,
        path: &[&str],
    ) -> Result<(), PlanError> {
        if !scanner.begin_object_or_null()? {
            return Ok(());
        }
        let mut first = true;
        while let Some(key) = scanner.next_key(&mut first)? {
            match path {
                [last] if key == *last => self.output_values(scanner)?,
                [next, rest @ ..] if key == *next => self.output_sensitivity(scanner, rest)?,
                _ => scanner.skip_value()?,
            }
        }
        Ok(())
    }

    fn output_values<R: Read>(&mut self, scanner: &mut Scanner<R>) -> Result<(), PlanError> {
        if !scanner.begin_object_or_null()? {
            return Ok(());
        }
        let mut first = true;
        while let Some(name) = scanner.next_key(&mut first)? {
            let output: RawOutputValue = scanner.parse()?;
            *self.output_sensitive.entry(name).or_default() |= output.sensitive;
        }
        Ok(())
    }

    fn finish(self) -> Result<Plan, PlanError> {
        let Some(format_version) = self.format_version else {
            let reason = if self.seen_state_file_member {
                format!("this looks like a Terraform state file; {HINT}")
            } else {
                format!("there is no format_version member; {HINT}")
            };
            return Err(PlanError::NotAPlan { reason });
        };
        if !self.seen_plan_member {
            let reason = if self.seen_state_values {
                format!("this is Terraform state JSON; {HINT}")
            } else {
                format!(
                    "none of a plan's members (planned_values, resource_changes, ...) is present; {HINT}"
                )
            };
            return Err(PlanError::NotAPlan { reason });
        }
        let mut secrets = self.secrets;
        let mut outputs = Vec::with_capacity(self.outputs.len());
        for (name, change) in self.outputs {
            if let Some(output) = output_change(name, &change, &self.output_sensitive)? {
                if output.sensitive {
                    diff::output_secrets(&change, &mut secrets);
                }
                outputs.push(output);
            }
        }
        outputs.sort_by(|a, b| a.name.cmp(&b.name));
        let mut changes = self.changes;
        let mut drift = self.drift;
        if !secrets.is_empty() {
            for change in changes.iter_mut().chain(drift.iter_mut()) {
                for attribute in &mut change.attributes {
                    diff::redact(&mut attribute.before, &secrets);
                    diff::redact(&mut attribute.after, &secrets);
                }
            }
            for output in &mut outputs {
                diff::redact(&mut output.before, &secrets);
                diff::redact(&mut output.after, &secrets);
            }
        }
        Ok(Plan {
            format_version,
            terraform_version: self.terraform_version,
            changes,
            unchanged: self.unchanged,
            drift,
            outputs,
            errored: self.errored,
            failed_checks: self.failed_checks,
        })
    }
}

/// Refuses format versions whose major version is not 0 or 1: a new major
/// version may change meanings, not just add members.
fn check_format(version: &str) -> Result<(), PlanError> {
    let major = version
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    match major {
        Some(0 | 1) => Ok(()),
        _ => Err(PlanError::UnsupportedFormat {
            version: version.to_owned(),
        }),
    }
}

fn unknown_actions(address: String, change: &RawChange) -> PlanError {
    PlanError::UnknownActions {
        address,
        actions: change.actions.clone().unwrap_or_default(),
    }
}

/// Converts one resource change, read from `element`; `None` for a plain
/// no-op.
fn resource_change(
    raw: RawResourceChange,
    element: &[u8],
) -> Result<Option<ResourceChange>, PlanError> {
    let ResourceChangeBody(change) = raw.change;
    let Some(action) = change.actions.as_deref().and_then(Action::from_actions) else {
        return Err(unknown_actions(raw.address, &change));
    };
    let importing = change.importing.as_ref().map(importing_text);
    if action == Action::NoOp && raw.previous_address.is_none() && importing.is_none() {
        return Ok(None);
    }
    let attributes = if action.has_attribute_diff() {
        diff::attribute_changes(element, &change.replace_paths)?
    } else {
        Vec::new()
    };
    Ok(Some(ResourceChange {
        address: raw.address,
        previous_address: raw.previous_address,
        module_address: raw.module_address,
        mode: raw.mode,
        resource_type: raw.resource_type,
        name: raw.name,
        deposed: raw.deposed,
        action,
        action_reason: raw.action_reason,
        replace_paths: change
            .replace_paths
            .iter()
            .map(|p| diff::render_path(p))
            .collect(),
        importing,
        attributes,
    }))
}

/// The import ID, else the identity as compact JSON.
fn importing_text(importing: &RawImporting) -> String {
    if let Some(id) = importing.id.as_deref().filter(|id| !id.is_empty()) {
        return id.to_owned();
    }
    match &importing.identity {
        Some(identity) if !identity.is_null() => identity.to_string(),
        _ if importing.unknown => "(known after apply)".to_owned(),
        _ => String::new(),
    }
}

/// Converts one output change; `None` for a no-op.
fn output_change(
    name: String,
    change: &RawChange,
    known_sensitive: &HashMap<String, bool>,
) -> Result<Option<OutputChange>, PlanError> {
    let Some(action) = change.actions.as_deref().and_then(Action::from_actions) else {
        return Err(unknown_actions(format!("output.{name}"), change));
    };
    if action == Action::NoOp {
        return Ok(None);
    }
    let marks_recorded = change.before_sensitive.is_some() || change.after_sensitive.is_some();
    // Without marks (format 0.1) and without a record elsewhere, nothing
    // says the output is safe to show.
    let sensitive = diff::has_sensitive_marks(change)
        || match known_sensitive.get(&name) {
            Some(known) => *known,
            None => !marks_recorded,
        };
    let (before, after) = diff::render_output(change, sensitive);
    Ok(Some(OutputChange {
        name,
        action,
        sensitive,
        before,
        after,
    }))
}
