//! `--worktree`: list a local working tree as it is, like `git status` sees it.
//!
//! Tracked files with their on-disk content (deleted ones are simply absent), plus untracked files that
//! `.gitignore` does not exclude. `.git`, ignored files, nested repositories and submodules are left out.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use gix::dir::entry::{Kind as DiskKind, Status};

use super::SourceError;
use super::export::{Entry, Kind, Origin};
use super::location::show;

pub(super) struct Listing {
    pub entries: Vec<Entry>,
    /// `HEAD`'s commit, `None` while the branch is unborn.
    pub head: Option<gix::ObjectId>,
    /// The checked-out branch's short name, or `HEAD` when detached.
    pub reference: String,
}

/// List the working tree of `repo`. Anything inside `state_dir` is left out: a state directory placed in
/// the working tree would otherwise be copied into its own `tree/`, one level deeper on every run.
pub(super) fn list(
    repo: &gix::Repository,
    display: &str,
    state_dir: &Path,
    should_interrupt: &AtomicBool,
) -> Result<Listing, SourceError> {
    let Some(workdir) = repo.workdir() else {
        return Err(SourceError::WorktreeOfBareRepository {
            repo: display.to_owned(),
        });
    };
    let read_error = |what: &str| {
        let what = what.to_owned();
        move |source| SourceError::Read {
            what,
            repo: display.to_owned(),
            source,
        }
    };
    let head = repo.head().map_err(read_error("HEAD"))?;
    let reference = match head.referent_name() {
        Some(name) => name.shorten().to_string(),
        None => "HEAD".to_owned(),
    };
    let head_id = head.id().map(|id| id.detach());

    let index = repo.index_or_empty().map_err(read_error("the index"))?;
    let options = repo
        .dirwalk_options()
        .map_err(read_error("the repository configuration"))?
        .emit_tracked(true)
        .emit_untracked(gix::dir::walk::EmissionMode::Matching)
        .emit_ignored(None)
        .emit_pruned(false)
        .emit_empty_directories(false)
        .recurse_repositories(false);
    let mut collect = gix::dir::walk::delegate::Collect::default();
    let no_patterns: [&str; 0] = [];
    let walked = repo.dirwalk(&index, no_patterns, should_interrupt, options, &mut collect);
    if should_interrupt.load(Ordering::Relaxed) {
        return Err(SourceError::Interrupted {
            repo: display.to_owned(),
        });
    }
    walked.map_err(read_error("the working tree"))?;

    let state_in_workdir = std::fs::canonicalize(state_dir)
        .ok()
        .zip(std::fs::canonicalize(workdir).ok())
        .and_then(|(state, workdir)| state.strip_prefix(workdir).ok().map(Path::to_owned));
    let mut entries = Vec::new();
    for (entry, _) in collect.into_entries_by_path() {
        if !matches!(entry.status, Status::Tracked | Status::Untracked) {
            continue;
        }
        let rela_path = Path::new(OsStr::from_bytes(&entry.rela_path));
        if state_in_workdir
            .as_deref()
            .is_some_and(|state| rela_path.starts_with(state))
        {
            continue;
        }
        let file = workdir.join(rela_path);
        let kind = match entry.disk_kind {
            Some(DiskKind::File) => {
                let meta = std::fs::metadata(&file).map_err(|source| SourceError::Io {
                    action: "inspect",
                    path: file.clone(),
                    source,
                })?;
                if meta.permissions().mode() & 0o100 != 0 {
                    Kind::Executable
                } else {
                    Kind::File
                }
            }
            Some(DiskKind::Symlink) => Kind::Symlink,
            Some(DiskKind::Repository) => {
                tracing::warn!(path = %show(entry.rela_path.as_ref()), "skipping nested repository or submodule");
                continue;
            }
            Some(DiskKind::Untrackable) => {
                tracing::warn!(path = %show(entry.rela_path.as_ref()), "skipping special file (fifo, socket or device)");
                continue;
            }
            Some(DiskKind::Directory) | None => continue,
        };
        entries.push(Entry {
            path: entry.rela_path,
            kind,
            origin: Origin::Disk(file),
        });
    }
    Ok(Listing {
        entries,
        head: head_id,
        reference,
    })
}
