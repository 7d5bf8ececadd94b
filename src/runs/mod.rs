//! Runs: what one `plan` or `apply` decided and did, kept in the state
//! directory so that a person can approve it later and `apply --run` can
//! apply exactly what was approved.
//!
//! ```text
//! <state>/runs/<id>/run.json                the record (status, source, stacks, items, approval)
//! <state>/runs/<id>/report.json             the last report of the run
//! <state>/runs/<id>/stacks/<stack>/tfplan   the binary plan (kept for saved runs only)
//! <state>/runs/<id>/stacks/<stack>/plan.json  terraform show -json of it
//! <state>/runs/lock                          held while a record is read-modified-written
//! <state>/audit.log                          one JSON line per approval decision
//! ```
//!
//! Run ids sort by time: `20261126-142501-3fa9` (UTC date, time, four
//! random hex digits). Records are replaced atomically (write, then rename),
//! and updates hold `runs/lock`, so `strata approve` can record an approval
//! while another command works.
//!
//! Plan files hold secrets in clear text, as Terraform writes them: run
//! directories are created with mode 0700, and plans are deleted once a
//! run is over. Stack outputs are never copied here: they are read from
//! Terraform's state each time they are needed.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::approval::{AutoBy, Item};
use crate::config::Approval;

mod converged;
mod lifecycle;
mod saved;
mod who;

pub use converged::{Converged, ConvergedStore, Layer};
pub use saved::{check_appliable, check_fresh};
pub use who::Who;

/// How many finished runs are kept; older ones are removed when a new run
/// starts. Runs still waiting for approval are always kept.
pub const KEEP_FINISHED: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("no run {id:?} in {}{}", dir.display(), recent_hint(.recent))]
    Unknown {
        id: String,
        dir: PathBuf,
        recent: Vec<String>,
    },
    #[error("cannot {what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("run record {} is damaged", path.display())]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A move the run lifecycle does not have (see [`lifecycle`]).
    #[error("run {id} is {}, so it cannot become {}", .from.as_str().replace('_', " "), .to.as_str().replace('_', " "))]
    IllegalMove {
        id: String,
        from: RunStatus,
        to: RunStatus,
    },
    /// A saved run that cannot be approved or applied as asked, and what
    /// to do instead.
    #[error("{message}")]
    Refused { message: String, hint: String },
}

fn recent_hint(recent: &[String]) -> String {
    if recent.is_empty() {
        "; there are no runs yet (strata plan --save creates one)".to_owned()
    } else {
        format!("; recent runs: {} (see strata runs)", recent.join(", "))
    }
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Planned; nothing in it needs approval (or it was not saved).
    Planned,
    /// Saved, waiting for `strata approve`.
    ApprovalRequired,
    /// Approved; `strata apply --run` applies it.
    Approved,
    /// An apply is (or was, if the process died) in progress.
    Applying,
    /// Every stack with changes was applied (or there were none).
    Applied,
    /// Planning or applying failed.
    Failed,
    /// Refused at the prompt, or by `approval.destructive = "deny"`.
    Denied,
    /// The world changed since the plan; it can no longer be applied.
    Stale,
    /// Ctrl-C during the apply.
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Planned => "planned",
            RunStatus::ApprovalRequired => "approval_required",
            RunStatus::Approved => "approved",
            RunStatus::Applying => "applying",
            RunStatus::Applied => "applied",
            RunStatus::Failed => "failed",
            RunStatus::Denied => "denied",
            RunStatus::Stale => "stale",
            RunStatus::Interrupted => "interrupted",
        }
    }

    /// Whether the run may still be applied.
    pub fn is_pending(self) -> bool {
        matches!(self, RunStatus::ApprovalRequired | RunStatus::Approved)
    }
}

/// Where the run's desired state came from, enough to check it out again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSource {
    /// What to pass as `--repo` to get the same source: an absolute path
    /// or the URL.
    pub spec: String,
    /// The repository as shown in reports.
    pub repo: String,
    #[serde(rename = "ref")]
    pub reference: String,
    pub commit: Option<String>,
    pub worktree: bool,
}

/// One stack of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackRun {
    pub name: String,
    pub path: String,
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// The plan has changes (the plan file is kept only then).
    pub changes: bool,
    /// The binary plan's sha256, when it is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_sha256: Option<String>,
    /// The sha256 of the plan made again after a stack it depends on was
    /// applied in this run; that plan is the one applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replan_sha256: Option<String>,
    /// When its plan was applied by this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<Timestamp>,
    /// The fingerprint of its inputs as planned (see `--changed`);
    /// `None` when they could not all be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<String>,
}

/// An approval decision: one line of the audit log, and the approval a run
/// carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub time: Timestamp,
    pub run_id: String,
    pub decision: DecisionKind,
    pub by: DecidedBy,
    /// The operating-system user.
    pub user: String,
    /// `Name <email>` from Git's configuration, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_identity: Option<String>,
    pub commit: Option<String>,
    /// The plan files decided on, by stack.
    pub plans: Vec<PlanHash>,
    /// How many items needed approval.
    pub items: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    Approved,
    AutoApproved,
    Refused,
    Denied,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecidedBy {
    /// A person answered the prompt.
    Prompt,
    /// `strata approve RUN`.
    ApproveCommand,
    /// `--auto-approve`.
    Flag,
    /// `approval.destructive` in strata.hcl.
    Policy,
    /// The run's approval covers everything that needs approval in a stack's
    /// new plan, made after a stack it depends on was applied.
    EarlierApproval,
}

impl From<AutoBy> for DecidedBy {
    fn from(by: AutoBy) -> DecidedBy {
        match by {
            AutoBy::Flag => DecidedBy::Flag,
            AutoBy::Policy => DecidedBy::Policy,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanHash {
    pub stack: String,
    pub sha256: String,
}

/// The record of one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    pub id: String,
    /// `plan` or `apply`.
    pub command: String,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub status: RunStatus,
    /// The plan files are kept, so the run can be approved and applied.
    pub saved: bool,
    pub source: RunSource,
    /// The approval policy of the run's commit.
    pub policy: Approval,
    pub stacks: Vec<StackRun>,
    /// The workloads of the run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workloads: Vec<WorkloadRun>,
    /// What needs approval.
    pub items: Vec<Item>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Decision>,
    /// Why the run ended as it did (an error, a refusal, staleness).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Run {
    /// The plan hashes of the stacks that have plans.
    pub fn plan_hashes(&self) -> Vec<PlanHash> {
        self.stacks
            .iter()
            .filter_map(|s| {
                s.plan_sha256.as_ref().map(|h| PlanHash {
                    stack: s.name.clone(),
                    sha256: h.clone(),
                })
            })
            .collect()
    }

    /// Whether any stack or workload has changes.
    pub fn has_changes(&self) -> bool {
        self.stacks.iter().any(|s| s.changes) || self.workloads.iter().any(|w| w.changes)
    }
}

/// One workload of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadRun {
    pub name: String,
    pub path: String,
    pub depends_on: Vec<String>,
    /// Its diff had changes when the run was planned.
    pub changes: bool,
    /// The fingerprint of its inputs as planned (see `--changed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<String>,
}

/// What `strata runs` shows: runs, newest first, and the decisions of the
/// audit log, oldest first.
#[derive(Debug, Clone, Serialize)]
pub struct RunsReport {
    pub runs: Vec<Run>,
    pub decisions: Vec<Decision>,
}

/// The runs of one state directory.
#[derive(Debug, Clone)]
pub struct Runs {
    dir: PathBuf,
    audit: PathBuf,
}

impl Runs {
    pub fn at(state_root: &Path) -> Runs {
        Runs {
            dir: state_root.join("runs"),
            audit: state_root.join("audit.log"),
        }
    }

    /// The records of what each stack and workload last converged with,
    /// in the same state directory.
    pub fn converged(&self) -> ConvergedStore {
        ConvergedStore::at(self.dir.parent().unwrap_or(Path::new(".")))
    }

    /// Removes the copies of stack outputs that strata 0.1 kept
    /// (`<state>/outputs/` and each run's `outputs/`): outputs are now read
    /// from Terraform's state, and those files held sensitive values.
    fn remove_output_copies(&self) {
        let mut dirs = vec![self.dir.with_file_name("outputs")];
        if let Ok(entries) = fs::read_dir(&self.dir) {
            dirs.extend(
                entries
                    .filter_map(Result::ok)
                    // Run directories only: `runs/lock` is a file.
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path().join("outputs")),
            );
        }
        for dir in dirs {
            match fs::remove_dir_all(&dir) {
                Ok(()) => {
                    tracing::info!(path = %dir.display(), "removed an old copy of stack outputs")
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!("cannot remove {}: {e}", dir.display()),
            }
        }
    }

    /// A new, time-ordered run id.
    pub fn new_id() -> String {
        let now = Timestamp::now();
        format!(
            "{}-{:04x}",
            now.strftime("%Y%m%d-%H%M%S"),
            fastrand::u16(..)
        )
    }

    /// The directory of run `id`.
    pub fn dir_of(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    pub fn plan_file(&self, id: &str, stack: &str) -> PathBuf {
        self.dir_of(id).join("stacks").join(stack).join("tfplan")
    }

    pub fn plan_json(&self, id: &str, stack: &str) -> PathBuf {
        self.dir_of(id).join("stacks").join(stack).join("plan.json")
    }

    pub fn audit_log(&self) -> &Path {
        &self.audit
    }

    /// Creates the run's directory (mode 0700) and first record, and
    /// removes the oldest finished runs beyond [`KEEP_FINISHED`].
    ///
    /// # Errors
    /// I/O errors.
    pub fn create(&self, run: &Run) -> Result<(), RunError> {
        let dir = self.dir_of(&run.id);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir.join("stacks"))
            .map_err(io("create", &dir))?;
        self.write(run)?;
        self.trim(&run.id);
        Ok(())
    }

    /// Reads run `id`.
    ///
    /// # Errors
    /// [`RunError::Unknown`] for an id that is not a run here; I/O and
    /// damaged records.
    pub fn load(&self, id: &str) -> Result<Run, RunError> {
        let path = self.dir_of(id).join("run.json");
        if !valid_id(id) || !path.exists() {
            let mut recent = self.ids().unwrap_or_default();
            recent.reverse();
            recent.truncate(5);
            return Err(RunError::Unknown {
                id: id.to_owned(),
                dir: self.dir.clone(),
                recent,
            });
        }
        let bytes = fs::read(&path).map_err(io("read", &path))?;
        serde_json::from_slice(&bytes).map_err(|source| RunError::Corrupt { path, source })
    }

    /// Writes the record, replacing the previous one atomically.
    ///
    /// # Errors
    /// I/O errors.
    pub fn write(&self, run: &Run) -> Result<(), RunError> {
        write_json(&self.dir_of(&run.id).join("run.json"), run)
    }

    /// Writes another file of the run (`report.json`, outputs), atomically
    /// and readable by the owner only.
    ///
    /// # Errors
    /// I/O errors.
    pub fn write_file(&self, id: &str, name: &str, bytes: &[u8]) -> Result<(), RunError> {
        let path = self.dir_of(id).join(name);
        if let Some(parent) = path.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(io("create", parent))?;
        }
        write_atomic(&path, bytes)
    }

    /// Reads, changes and writes run `id` while holding `runs/lock`, so
    /// that two commands never lose each other's update.
    ///
    /// # Errors
    /// Whatever `change` returns, and I/O errors.
    pub fn update<T, E>(
        &self,
        id: &str,
        change: impl FnOnce(&mut Run) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<RunError>,
    {
        let _lock = self.lock()?;
        let mut run = self.load(id)?;
        let value = change(&mut run)?;
        run.updated = Timestamp::now();
        self.write(&run)?;
        Ok(value)
    }

    fn lock(&self) -> Result<File, RunError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(io("create", &self.dir))?;
        let path = self.dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io("open", &path))?;
        file.lock().map_err(io("lock", &path))?;
        Ok(file)
    }

    /// Run ids, oldest first.
    fn ids(&self) -> Result<Vec<String>, RunError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("read", &self.dir)(e)),
        };
        let mut ids: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| valid_id(name))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Every readable run, oldest first. Damaged records are skipped with a
    /// warning.
    ///
    /// # Errors
    /// When the runs directory cannot be read.
    pub fn list(&self) -> Result<Vec<Run>, RunError> {
        let mut runs = Vec::new();
        for id in self.ids()? {
            match self.load(&id) {
                Ok(run) => runs.push(run),
                Err(RunError::Unknown { .. }) => {}
                Err(e) => tracing::warn!("skipping run {id}: {}", crate::error_chain(&e)),
            }
        }
        Ok(runs)
    }

    /// Marks runs left `applying` by a process that died (killed, power
    /// lost) as `interrupted`. Only call it holding the state directory's
    /// lock: then no other process can be applying. Also removes the
    /// output copies older versions kept.
    pub fn recover_abandoned(&self) {
        self.remove_output_copies();
        let Ok(runs) = self.list() else { return };
        for run in runs.iter().filter(|r| r.status == RunStatus::Applying) {
            let result = self.update(&run.id, |r| {
                r.finish(
                    RunStatus::Interrupted,
                    Some("the strata process applying it ended before it finished; `strata plan` shows the state now".to_owned()),
                )
            });
            match result {
                Ok(()) => tracing::warn!("run {} was left applying; marked interrupted", run.id),
                Err(e) => {
                    tracing::warn!("cannot update run {}: {}", run.id, crate::error_chain(&e))
                }
            }
        }
    }

    /// Deletes a run's binary plans and plan JSON (an unsaved plan, a
    /// finished run): they hold secrets and may be large.
    pub fn drop_plans(&self, id: &str) {
        let stacks = self.dir_of(id).join("stacks");
        if let Err(e) = fs::remove_dir_all(&stacks)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("cannot remove {}: {e}", stacks.display());
        }
    }

    fn trim(&self, keep: &str) {
        let Ok(runs) = self.list() else { return };
        let finished: Vec<&Run> = runs
            .iter()
            // Saved runs that can still be applied are kept.
            .filter(|r| {
                r.id != keep
                    && !r.status.is_pending()
                    && !(r.saved && r.status == RunStatus::Planned)
            })
            .collect();
        // The new run counts as one of those kept.
        let excess = (finished.len() + 1).saturating_sub(KEEP_FINISHED);
        for run in finished.into_iter().take(excess) {
            let dir = self.dir_of(&run.id);
            if let Err(e) = fs::remove_dir_all(&dir) {
                tracing::warn!("cannot remove old run {}: {e}", dir.display());
            }
        }
    }

    /// Appends a decision to the audit log, as one JSON line.
    ///
    /// # Errors
    /// I/O errors.
    pub fn record(&self, decision: &Decision) -> Result<(), RunError> {
        let mut line = serde_json::to_vec(decision).map_err(|e| RunError::Io {
            what: "write",
            path: self.audit.clone(),
            source: e.into(),
        })?;
        line.push(b'\n');
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.audit)
            .map_err(io("open", &self.audit))?;
        // One write of one line: appends of this size are not interleaved.
        file.write_all(&line).map_err(io("write", &self.audit))
    }

    /// Every decision in the audit log, oldest first.
    ///
    /// # Errors
    /// I/O errors; a damaged line is an error naming its line number.
    pub fn decisions(&self) -> Result<Vec<Decision>, RunError> {
        let file = match File::open(&self.audit) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("read", &self.audit)(e)),
        };
        let mut out = Vec::new();
        for line in BufReader::new(file).lines() {
            let line = line.map_err(io("read", &self.audit))?;
            if line.trim().is_empty() {
                continue;
            }
            out.push(
                serde_json::from_str(&line).map_err(|source| RunError::Corrupt {
                    path: self.audit.clone(),
                    source,
                })?,
            );
        }
        Ok(out)
    }
}

/// A run id is `YYYYMMDD-HHMMSS-xxxx`; anything else (a path, `..`) is not.
pub fn valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 15 => *c == b'-',
            16..=19 => c.is_ascii_hexdigit(),
            _ => c.is_ascii_digit(),
        })
}

/// The sha256 of a file, as lowercase hex.
///
/// # Errors
/// I/O errors.
pub fn sha256_file(path: &Path) -> Result<String, RunError> {
    let mut file = File::open(path).map_err(io("read", path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(io("read", path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Writes `value` as pretty JSON, atomically (see [`write_atomic`]).
fn write_json(path: &Path, value: &impl Serialize) -> Result<(), RunError> {
    let mut json = serde_json::to_vec_pretty(value).map_err(|e| RunError::Io {
        what: "write",
        path: path.to_owned(),
        source: e.into(),
    })?;
    json.push(b'\n');
    write_atomic(path, &json)
}

/// Writes `bytes` to a new private (0600) temporary file beside `path` and
/// renames it over `path`: readers see the old or the new file, never a
/// part, and two writers never share a temporary file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RunError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(io("write", path))?;
    file.write_all(bytes).map_err(io("write", path))?;
    file.as_file().sync_all().map_err(io("write", path))?;
    file.persist(path).map_err(|e| io("write", path)(e.error))?;
    Ok(())
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RunError {
    let path = path.to_owned();
    move |source| RunError::Io { what, path, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, status: RunStatus) -> Run {
        Run {
            id: id.to_owned(),
            command: "plan".to_owned(),
            created: Timestamp::now(),
            updated: Timestamp::now(),
            status,
            saved: true,
            source: RunSource {
                spec: "/repo".to_owned(),
                repo: "/repo".to_owned(),
                reference: "main".to_owned(),
                commit: Some("a".repeat(40)),
                worktree: false,
            },
            policy: Approval::default(),
            stacks: Vec::new(),
            workloads: Vec::new(),
            items: Vec::new(),
            approval: None,
            note: None,
        }
    }

    #[test]
    fn ids_are_valid_and_sort_by_time() {
        let id = Runs::new_id();
        assert!(valid_id(&id), "{id}");
        assert!(!valid_id("../../etc"));
        assert!(!valid_id("20261126-142501-3fa"));
        assert!(valid_id("20261126-142501-3fa9"));
    }

    #[test]
    fn records_round_trip_and_unknown_ids_list_recent_runs() {
        let dir = tempfile::tempdir().unwrap();
        let runs = Runs::at(dir.path());
        let r = run("20261126-142501-3fa9", RunStatus::ApprovalRequired);
        runs.create(&r).unwrap();
        let loaded = runs.load(&r.id).unwrap();
        assert_eq!(loaded.status, RunStatus::ApprovalRequired);
        runs.update(&r.id, |run| {
            run.status = RunStatus::Approved;
            Ok::<_, RunError>(())
        })
        .unwrap();
        assert_eq!(runs.load(&r.id).unwrap().status, RunStatus::Approved);
        let err = runs.load("20261126-000000-0000").unwrap_err().to_string();
        assert!(err.contains("recent runs: 20261126-142501-3fa9"), "{err}");
        let mode = fs::metadata(runs.dir_of(&r.id)).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.permissions().mode() & 0o777, 0o700);
    }

    #[test]
    fn old_finished_runs_are_trimmed_but_pending_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let runs = Runs::at(dir.path());
        runs.create(&run("20200101-000000-0000", RunStatus::ApprovalRequired))
            .unwrap();
        for i in 0..KEEP_FINISHED + 3 {
            runs.create(&run(&format!("20210101-{i:06}-0000"), RunStatus::Applied))
                .unwrap();
        }
        let left = runs.list().unwrap();
        assert_eq!(left.len(), KEEP_FINISHED + 1);
        assert_eq!(left[0].id, "20200101-000000-0000");
        assert_eq!(left[1].id, "20210101-000003-0000");
    }

    #[test]
    fn runs_left_applying_are_marked_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let runs = Runs::at(dir.path());
        runs.create(&run("20261126-142501-3fa9", RunStatus::Applying))
            .unwrap();
        runs.create(&run("20261126-142502-3fa9", RunStatus::Applied))
            .unwrap();
        runs.recover_abandoned();
        let list = runs.list().unwrap();
        assert_eq!(list[0].status, RunStatus::Interrupted);
        assert_eq!(list[1].status, RunStatus::Applied);
    }

    #[test]
    fn the_audit_log_appends_one_line_per_decision() {
        let dir = tempfile::tempdir().unwrap();
        let runs = Runs::at(dir.path());
        for kind in [DecisionKind::Refused, DecisionKind::Approved] {
            runs.record(&Decision {
                time: Timestamp::now(),
                run_id: "20261126-142501-3fa9".to_owned(),
                decision: kind,
                by: DecidedBy::Prompt,
                user: "alice".to_owned(),
                git_identity: None,
                commit: None,
                plans: vec![PlanHash {
                    stack: "db".to_owned(),
                    sha256: "0".repeat(64),
                }],
                items: 1,
            })
            .unwrap();
        }
        let text = fs::read_to_string(runs.audit_log()).unwrap();
        assert_eq!(text.lines().count(), 2);
        let decisions = runs.decisions().unwrap();
        assert_eq!(decisions[1].decision, DecisionKind::Approved);
    }
}
