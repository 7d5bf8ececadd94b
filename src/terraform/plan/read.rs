//! The top-level reader: walks the plan object member by member, reads the
//! members a classification needs, and skips the rest unparsed.
//!
//! Arrays are read one element at a time. Resource changes are checked and
//! set aside in batches, which are converted (on a worker thread when there
//! are many) while the scanner reads on; only the kept [`ResourceChange`]s
//! and a few batches stay in memory.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TrySendError};
use std::thread::{self, JoinHandle};

use super::raw::{
    OutputChangeBody, Quick, RawChange, RawCheck, RawImporting, RawOutputValue, RawResourceChange,
    ResourceChangeBody,
};
use super::scan::{self, Feed, KeyAt, Origin, Scanner};
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

/// Bytes of resource changes converted together, on the worker thread once
/// there is more than one batch of them.
const BATCH: usize = 128 << 10;

pub(super) fn parse<R: Read>(reader: R, path: Option<&Path>) -> Result<Plan, PlanError> {
    parse_with_sizes(reader, path, scan::CHUNK, BATCH)
}

/// [`parse`] with a given read size; tests use tiny ones to cut every piece
/// at a chunk end.
#[cfg(test)]
pub(super) fn parse_with_chunk<R: Read>(
    reader: R,
    path: Option<&Path>,
    chunk: usize,
) -> Result<Plan, PlanError> {
    parse_with_sizes(reader, path, chunk, BATCH)
}

/// [`parse`] with a given read size and resource change batch size; tests
/// use tiny batches to send every resource change to the worker thread.
pub(super) fn parse_with_sizes<R: Read>(
    reader: R,
    path: Option<&Path>,
    chunk: usize,
    batch: usize,
) -> Result<Plan, PlanError> {
    parse_scanner(Scanner::new(reader, path, chunk), batch)
}

/// How many chunks may be read ahead.
const AHEAD: usize = 2;

/// Room before each chunk read ahead for the bytes still needed from the
/// chunk before: enough for nearly all resource changes.
const HEAD: usize = 64 << 10;

/// Parses a plan file, reading it on another thread.
///
/// Why a thread: copying the file from the page cache (the `read` calls)
/// is a good part of the scanning thread's time, and the other core is idle
/// while the scanner skips `planned_values`, which comes before the first
/// resource change. So a reading thread stays a few chunks ahead until then,
/// and the scanner takes over the chunks it reads as its buffer, without
/// copying them. From the first resource change on, the worker thread keeps
/// the other core busy, so the reading thread hands the file back and the
/// scanner reads on by itself (measured: reading ahead all along gains half
/// as much). About 5% of the wall time of a large plan.
///
/// Only for regular files, whose reads always end; a large plan is worth a
/// thread, a small one is read directly.
pub(super) fn parse_file(file: File, path: &Path) -> Result<Plan, PlanError> {
    let large = file
        .metadata()
        .is_ok_and(|m| m.is_file() && m.len() > 2 * scan::CHUNK as u64);
    if large && spare_core() {
        parse_read_ahead(file, Some(path), scan::CHUNK, BATCH)
    } else {
        parse(file, Some(path))
    }
}

/// [`parse_with_sizes`], reading on another thread.
pub(super) fn parse_read_ahead<R: Read + Send>(
    reader: R,
    path: Option<&Path>,
    chunk: usize,
    batch: usize,
) -> Result<Plan, PlanError> {
    let size = chunk.max(1);
    let head = HEAD.min(size);
    thread::scope(|scope| {
        let (hand_over, handed) = mpsc::sync_channel::<R>(1);
        let (hand_back, handed_back) = mpsc::sync_channel::<R>(1);
        let (chunks, received) = mpsc::sync_channel(AHEAD);
        let (give_back, given_back) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let started = thread::Builder::new()
            .name("plan-read-ahead".to_owned())
            .spawn_scoped(scope, move || {
                let Ok(reader) = handed.recv() else { return };
                let back = scan::read_ahead(reader, head, size, chunks, &given_back, &stopped);
                if let Some(reader) = back {
                    let _ = hand_back.send(reader);
                }
            });
        if started.is_err() {
            return parse_with_sizes(reader, path, chunk, batch);
        }
        if let Err(mpsc::SendError(reader)) = hand_over.send(reader) {
            return parse_with_sizes(reader, path, chunk, batch);
        }
        let feed = Feed {
            chunks: received,
            give_back,
            head,
            size,
            stop,
            handed_back,
        };
        // Dropping the scanner when done stops the reading thread, so the
        // scope can end.
        parse_scanner(Scanner::fed(feed, path), batch)
    })
}

fn parse_scanner<R: Read>(mut scanner: Scanner<R>, batch: usize) -> Result<Plan, PlanError> {
    let mut reading = Reading {
        resources: Resources::new(batch),
        ..Reading::default()
    };
    let walked = walk(&mut scanner, &mut reading);
    drop(scanner);
    // Resource changes come before whatever stopped the walk, so their
    // errors come first, as if they had been converted on the spot.
    let collected = std::mem::take(&mut reading.resources).finish()?;
    walked?;
    reading.finish(collected)
}

fn walk<R: Read>(scanner: &mut Scanner<R>, reading: &mut Reading) -> Result<(), PlanError> {
    match scanner.skip_ws()? {
        Some(b'{') => scanner.bump(),
        Some(_) => return Err(not_an_object(scanner)),
        None => {
            return Err(PlanError::NotAPlan {
                reason: format!("the input is empty; {HINT}"),
            });
        }
    }
    let mut first = true;
    while let Some(key) = scanner.next_key(&mut first)? {
        reading.member(&key, scanner)?;
    }
    scanner.finish()
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
    /// Resource changes and drift, converted on the way.
    resources: Resources,
    /// Converted at the end: their sensitivity may come from
    /// `prior_state`, which follows `output_changes`.
    outputs: Vec<(String, RawChange)>,
    /// Output sensitivity from `planned_values` and `prior_state`, the only
    /// record of it in format 0.1.
    output_sensitive: HashMap<String, bool>,
    errored: bool,
    failed_checks: Vec<FailedCheck>,
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
        // From here on, converting resource changes keeps the other core
        // busy.
        scanner.stop_reading_ahead();
        let mut first = true;
        while scanner.next_element(&mut first)? {
            // The scanner finds where the element ends, checks its syntax
            // and notes its keys; its members are read later from its
            // bytes, maybe on the worker thread.
            let origin = scanner.begin_piece()?;
            let keys = &mut self.resources.batch.keys;
            let noted = keys.len();
            let skipped = scanner.skip_piece_noting_keys(keys);
            let indexed = skipped.is_ok();
            if let Err(e) = skipped {
                // A string that is not UTF-8 is refused where it is (a typed
                // serde read lets some through, in members it ignores).
                if super::scan::is_invalid_utf8(&e) {
                    return Err(e);
                }
                // Let serde find the error, exactly as if it had read the
                // element straight away.
                keys.truncate(noted);
                scanner.rewind_piece();
                scanner.parse::<RawResourceChange>()?;
            }
            let pushed = self.resources.push(scanner.piece(), origin, drift, indexed);
            scanner.end_piece();
            pushed?;
        }
        self.resources.flush(false)
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

    fn finish(self, collected: Collected) -> Result<Plan, PlanError> {
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
        let Collected {
            changes,
            unchanged,
            drift,
            mut secrets,
        } = collected;
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
        let mut plan = Plan {
            format_version,
            terraform_version: self.terraform_version,
            changes,
            unchanged,
            drift,
            outputs,
            errored: self.errored,
            failed_checks: self.failed_checks,
        };
        plan.redact(&secrets);
        Ok(plan)
    }
}

/// What resource changes and drift come to.
#[derive(Default)]
struct Collected {
    changes: Vec<ResourceChange>,
    unchanged: usize,
    drift: Vec<ResourceChange>,
    /// Values marked sensitive anywhere, to catch unmarked copies of them.
    secrets: BTreeSet<String>,
}

impl Collected {
    fn append(&mut self, mut other: Collected) {
        self.changes.append(&mut other.changes);
        self.unchanged += other.unchanged;
        self.drift.append(&mut other.drift);
        self.secrets.append(&mut other.secrets);
    }

    /// Converts the resource changes of `batch`, in order.
    fn convert(&mut self, batch: &Batch) -> Result<(), PlanError> {
        let mut start = 0;
        let mut keys_start = 0;
        for element in &batch.elements {
            let bytes = &batch.bytes[start..element.end];
            start = element.end;
            let keys = &batch.keys[keys_start..element.keys_end];
            keys_start = element.keys_end;
            let keys = element.indexed.then_some(keys);
            let quick = keys.and_then(|keys| RawResourceChange::read_checked(bytes, keys));
            let raw = match quick {
                Some(Quick::Change(raw)) => raw,
                Some(Quick::NoOp { marked }) => {
                    if marked {
                        diff::sensitive_values(bytes, &mut self.secrets)?;
                    }
                    if !element.drift {
                        self.unchanged += 1;
                    }
                    continue;
                }
                None => parse_element(bytes, element.origin)?,
            };
            if diff::has_sensitive_marks(&raw.change.0) {
                diff::sensitive_values(bytes, &mut self.secrets)?;
            }
            match (resource_change(raw, bytes, keys)?, element.drift) {
                (Some(change), false) => self.changes.push(change),
                (Some(change), true) => self.drift.push(change),
                (None, false) => self.unchanged += 1,
                (None, true) => {}
            }
        }
        Ok(())
    }
}

/// Reads one resource change from its bytes with serde, the way
/// [`Scanner::parse`] would have read it from the input: errors have the
/// same positions.
fn parse_element(bytes: &[u8], origin: Origin) -> Result<RawResourceChange, PlanError> {
    let mut stream = serde_json::Deserializer::from_slice(bytes).into_iter();
    match stream.next() {
        Some(Ok(raw)) => Ok(raw),
        Some(Err(e)) => Err(scan::relocate(&e, origin)),
        None => Err(PlanError::Json {
            line: origin.line,
            column: origin.column + 1,
            message: "EOF while parsing a value".to_owned(),
        }),
    }
}

/// Resource changes waiting to be converted: their bytes, one after the
/// other.
#[derive(Default)]
struct Batch {
    /// Where the batch is in the order of all batches.
    seq: u64,
    bytes: Vec<u8>,
    /// Where the keys of each element are, down to depth 2, as offsets
    /// from the element's start.
    keys: Vec<KeyAt>,
    elements: Vec<Element>,
}

struct Element {
    /// End of the element in [`Batch::bytes`]; it starts where the one
    /// before ends.
    end: usize,
    /// End of its keys in [`Batch::keys`], likewise.
    keys_end: usize,
    /// Whether the scanner checked the element and noted its keys; if
    /// not, only serde may read it.
    indexed: bool,
    origin: Origin,
    drift: bool,
}

impl Batch {
    fn clear(&mut self) {
        self.bytes.clear();
        self.keys.clear();
        self.elements.clear();
    }
}

// Why a thread: converting resource changes (reading their members, then
// the attribute diffs and the secrets) costs about as much CPU time as
// scanning them, and machines have two or more cores. So the scanning
// thread hands resource changes over in batches to one worker thread, which
// converts them while the scanner reads on; when the worker falls behind
// (its queue is full), the scanning thread converts the next batch itself
// rather than wait. Both cores stay busy through the resource changes.
//
// Memory stays bounded: at most `QUEUE` batches wait, and the worker hands
// emptied batches back for reuse (fresh ones would mean fresh pages, and
// page faults, for every batch). Small plans, less than one batch of
// resource changes, are converted on the calling thread without starting
// one. Results are the same either way, errors included: batches are
// numbered and the worker puts their results in order; each thread stops at
// its first error; a batch only goes to the worker after all batches before
// it, so an error the worker finds comes before anything the scanning thread
// found since.

/// Whether another thread can run alongside this one; with a single core
/// the helper threads would only take turns with it.
fn spare_core() -> bool {
    thread::available_parallelism().is_ok_and(|n| n.get() > 1)
}

/// Full batches that may wait for the worker.
const QUEUE: usize = 4;

/// Resource changes on their way to being converted, on this thread or the
/// worker's.
#[derive(Default)]
struct Resources {
    batch: Batch,
    /// Bytes that make a full batch.
    batch_size: usize,
    /// The number of the next batch.
    seq: u64,
    worker: Option<Worker>,
    /// There is no worker thread to be had; convert here.
    single: bool,
    /// Converted here before the worker started, or all of them.
    collected: Collected,
    /// A batch converted here, for reuse.
    spare: Option<Batch>,
}

struct Worker {
    batches: SyncSender<Batch>,
    /// What batches converted here while the worker runs came to, for the
    /// worker to put in order.
    converted: Sender<Collected>,
    /// Batches converted and cleared, for reuse.
    emptied: Receiver<Batch>,
    thread: JoinHandle<Result<Collected, PlanError>>,
}

impl Resources {
    fn new(batch_size: usize) -> Self {
        Resources {
            batch_size,
            ..Resources::default()
        }
    }

    /// Adds the bytes of one resource change; converts the batch, or hands
    /// it over, when it is full.
    fn push(
        &mut self,
        bytes: &[u8],
        origin: Origin,
        drift: bool,
        indexed: bool,
    ) -> Result<(), PlanError> {
        self.batch.bytes.extend_from_slice(bytes);
        self.batch.elements.push(Element {
            end: self.batch.bytes.len(),
            keys_end: self.batch.keys.len(),
            indexed,
            origin,
            drift,
        });
        if self.batch.bytes.len() >= self.batch_size {
            self.flush(true)?;
        }
        Ok(())
    }

    /// Converts the resource changes pushed so far, or hands them to the
    /// worker; a full batch starts the worker.
    fn flush(&mut self, full: bool) -> Result<(), PlanError> {
        if self.batch.elements.is_empty() {
            return Ok(());
        }
        if self.worker.is_none() && full && !self.single {
            self.single = !spare_core();
            if !self.single {
                self.worker = Worker::start(self.seq, &mut self.collected);
                self.single = self.worker.is_none();
            }
        }
        let next = self
            .spare
            .take()
            .or_else(|| self.worker.as_ref()?.emptied.try_recv().ok())
            .unwrap_or_default();
        let mut batch = std::mem::replace(&mut self.batch, next);
        batch.seq = self.seq;
        self.seq += 1;
        if let Some(worker) = &self.worker {
            match worker.batches.try_send(batch) {
                Ok(()) => return Ok(()),
                // The worker is behind: convert this one here.
                Err(TrySendError::Full(full)) => {
                    let mut collected = Collected::default();
                    let converted = collected.convert(&full);
                    // If the worker stopped at an error, that error wins.
                    let _ = worker.converted.send(collected);
                    self.recycle(full);
                    return converted;
                }
                Err(TrySendError::Disconnected(stopped)) => {
                    // The worker stopped at an error.
                    self.join()?;
                    batch = stopped;
                }
            }
        }
        let converted = self.collected.convert(&batch);
        self.recycle(batch);
        converted
    }

    fn recycle(&mut self, mut batch: Batch) {
        batch.clear();
        self.spare = Some(batch);
    }

    /// Waits for the worker to convert all it was sent.
    fn join(&mut self) -> Result<(), PlanError> {
        let Some(worker) = self.worker.take() else {
            return Ok(());
        };
        drop(worker.batches);
        drop(worker.converted);
        match worker.thread.join() {
            Ok(collected) => {
                // The worker started with what had been converted here.
                self.collected = collected?;
                Ok(())
            }
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Everything converted, in order, or the first error. The worker is
    /// joined either way.
    fn finish(mut self) -> Result<Collected, PlanError> {
        let flushed = self.flush(false);
        // The worker's batches come before the last one.
        self.join()?;
        flushed?;
        Ok(self.collected)
    }
}

impl Worker {
    /// Starts the worker thread, which takes over `collected` and goes on
    /// from batch `seq`; `None` if the system refuses a thread.
    fn start(seq: u64, collected: &mut Collected) -> Option<Worker> {
        let (batches, received) = mpsc::sync_channel::<Batch>(QUEUE);
        let (converted, converted_here) = mpsc::channel::<Collected>();
        let (give_back, emptied) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("plan-resources".to_owned())
            .spawn(move || {
                // What was converted before comes first.
                let collected = converted_here.recv().unwrap_or_default();
                convert_all(seq, collected, &received, &converted_here, &give_back)
            })
            .ok()?;
        // Handed over once the thread runs, so that it is not lost if the
        // thread cannot be started.
        let _ = converted.send(std::mem::take(collected));
        Some(Worker {
            batches,
            converted,
            emptied,
            thread,
        })
    }
}

/// The worker thread: converts batches until the sender hangs up, or until
/// the first error, which drops the receiver and so stops the sender. Puts
/// what the batches it was not sent came to (`converted_here`) in order.
fn convert_all(
    mut seq: u64,
    mut collected: Collected,
    batches: &Receiver<Batch>,
    converted_here: &Receiver<Collected>,
    give_back: &Sender<Batch>,
) -> Result<Collected, PlanError> {
    for mut batch in batches {
        // The batches skipped were converted before this one was sent.
        while seq < batch.seq {
            if let Ok(other) = converted_here.recv() {
                collected.append(other);
            }
            seq += 1;
        }
        collected.convert(&batch)?;
        seq += 1;
        batch.clear();
        // The scanner may be done and gone.
        let _ = give_back.send(batch);
    }
    for other in converted_here {
        collected.append(other);
    }
    Ok(collected)
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
    keys: Option<&[KeyAt]>,
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
        diff::attribute_changes(element, keys, &change.replace_paths)?
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
