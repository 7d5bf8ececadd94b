//! Source: turn `--repo`, `--ref` and `--worktree` into a directory on disk that holds the desired state.
//!
//! Start at [`checkout`]: it takes a [`SourceSpec`] and returns a [`Snapshot`] whose `root` is where
//! configuration and stacks are read and where Terraform runs. Everything is blocking; callers in async
//! code use `spawn_blocking`. `should_interrupt` is polled during the fetch and between files of the export;
//! when it is set, [`SourceError::Interrupted`] is returned and the next run repairs whatever was left.
//!
//! # How a checkout works
//!
//! 1. `location` classifies `repo` as a local path (or `file://` URL) or a remote URL and derives the
//!    state-directory key from its canonical form, so `/x/y`, `./y` and `file:///x/y` share one cache.
//! 2. `fetch` mirrors the source's branches and tags into a bare cache, the same way for local paths and
//!    remote URLs: the first run clones, later runs fetch incrementally and drop refs deleted at the source.
//!    Local paths go through `git upload-pack` like `git clone /path` does, so `git` must be on `PATH`.
//! 3. `resolve` turns `reference` into a commit: branch, tag (peeled), full or unambiguous short commit id,
//!    or by default the source's `HEAD`.
//! 4. `export` writes that commit's tree into the persistent `tree/` directory. With `--worktree`,
//!    `worktree` lists the working tree's files instead (tracked ones as they are on disk plus untracked ones
//!    that are not ignored) and no cache is involved.
//!
//! # State directory layout
//!
//! ```text
//! <state_dir>/repos/<slug>-<hash>/   one slot per source; <slug> is the repository's name, <hash> a
//!                                    short hash of its canonical path or URL (user and password excluded)
//!     cache.git/                     bare cache: refs/heads/* and refs/tags/* mirrored from the source
//!     tree/                          the exported tree; Terraform's terraform.tfstate, .terraform/ and lock
//!                                    files live next to the exported files and survive between runs
//!     export.manifest                what strata wrote into tree/: kind, blob id, size and mtime per path
//! ```
//!
//! A local repository's commit mode and `--worktree` mode use the same slot, so they share Terraform state.
//!
//! # What the export guarantees
//!
//! Only paths in the manifest are ever deleted, and a file is only written where the exported tree has
//! one; everything else in `tree/` (Terraform state, plugin directories, files a user dropped there) is
//! preserved. Files whose blob id, size and mtime are
//! unchanged are not rewritten, so a re-checkout of the same commit writes nothing. Executable bits and
//! symlinks are reproduced. A symlink must resolve (through the export's other symlinks) to a file or
//! directory of the export: one whose target is absolute, leaves the tree, goes into `.git`, is not in the
//! repository or loops is an error ([`SourceError::LinkOutside`]), and so is a path that could escape the
//! tree ([`SourceError::UnsafePath`]); nothing is written then. Submodules are skipped with a warning. Blobs are written as committed: no Git filters (LFS smudge,
//! `eol` conversion) are applied. This module is Unix-only (modes and symlinks).

mod export;
mod fetch;
mod location;
mod manifest;
mod resolve;
mod worktree;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// What to check out: the user's `--repo`, `--ref` and `--worktree`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSpec {
    /// A local path, a `file://` URL, or a remote URL (`https://`, `ssh://`, `git@host:path`).
    pub repo: String,
    /// A branch, tag, or full or short commit id; `None` means the source's `HEAD`.
    pub reference: Option<String>,
    /// Export the local working tree as it is, uncommitted changes included.
    pub worktree: bool,
}

/// The desired state on disk, and where it came from (for reports and records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The repository as the user gave it, with any password in a URL redacted.
    pub repo: String,
    /// The ref that was asked for, the branch `HEAD` pointed to (e.g. `main`), or `HEAD` when detached.
    pub reference: String,
    /// The resolved 40-hex commit id; `None` only in worktree mode on a repository without commits.
    pub commit: Option<String>,
    /// Whether this is the working tree rather than a commit.
    pub worktree: bool,
    /// The exported tree: where configuration and stacks are read and where Terraform runs.
    pub root: PathBuf,
    /// What `repo` to check out to get this source again: the absolute path of a local repository
    /// (and project subdirectory), or the URL as given.
    pub spec: String,
    /// `Name <email>` of the committer Git's configuration names (repository, global, environment),
    /// for approval records.
    pub git_identity: Option<String>,
    /// The export directory `root` is in (the repository's top level).
    pub tree: PathBuf,
}

impl Snapshot {
    /// The Git blob id (hex) of every file of the snapshot, keyed by its
    /// path relative to [`Snapshot::root`] (`/`-separated), as recorded
    /// when it was exported: what changed-only runs compare. Files
    /// outside `root` are left out.
    ///
    /// # Errors
    /// The export's manifest cannot be read.
    pub fn file_ids(&self) -> std::io::Result<std::collections::BTreeMap<String, String>> {
        let manifest = self.tree.with_file_name("export.manifest");
        let records = manifest::load(&manifest)?.unwrap_or_default();
        let prefix = match self.root.strip_prefix(&self.tree) {
            Ok(p) if p.as_os_str().is_empty() => String::new(),
            Ok(p) => format!("{}/", p.to_string_lossy()),
            Err(_) => return Ok(std::collections::BTreeMap::new()),
        };
        Ok(records
            .into_iter()
            .filter_map(|(path, record)| {
                let path = String::from_utf8_lossy(&path).into_owned();
                let rel = path.strip_prefix(&prefix)?.to_owned();
                Some((rel, record.id.to_string()))
            })
            .collect())
    }
}

/// Why a checkout failed. Each message says what went wrong, where, and what to do next.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    #[error("repository path \"{}\" does not exist", path.display())]
    PathNotFound { path: PathBuf },

    #[error("\"{}\" is not a git repository; {hint}", path.display())]
    NotARepository {
        path: PathBuf,
        hint: String,
        #[source]
        source: gix::Error,
    },

    #[error(
        "cannot parse repository \"{repo}\"; pass a local path or an https://, ssh:// or git@host:path URL"
    )]
    InvalidUrl {
        repo: String,
        #[source]
        source: gix::Error,
    },

    #[error(
        "--worktree needs a local repository path, but {repo} is a URL; drop --worktree to use the committed tree"
    )]
    WorktreeNeedsLocalPath { repo: String },

    #[error(
        "repository {repo} is bare and has no working tree; drop --worktree to use the committed tree"
    )]
    WorktreeOfBareRepository { repo: String },

    #[error(
        "--ref \"{reference}\" cannot be combined with --worktree, which always uses the working tree as it is; drop one of them"
    )]
    RefWithWorktree { reference: String },

    #[error("unknown ref \"{reference}\" in {repo}: no branch, tag or commit by that name{known}")]
    UnknownRef {
        reference: String,
        repo: String,
        /// A short list of existing branches and tags, starting with "; ", or empty.
        known: String,
    },

    #[error(
        "short commit id \"{reference}\" is ambiguous in {repo}: it matches {}; use more characters",
        candidates.join(", ")
    )]
    AmbiguousRef {
        reference: String,
        repo: String,
        /// Each candidate as `<abbreviated id> (<summary>)`.
        candidates: Vec<String>,
    },

    #[error(
        "ref \"{reference}\" in {repo} points to a {kind}, not a commit; pass a branch, tag or commit"
    )]
    NotACommit {
        reference: String,
        repo: String,
        kind: String,
    },

    #[error(
        "directory \"{}\" does not exist in {repo} at {reference}; commit it, or pass the repository root",
        subdir.display()
    )]
    SubdirNotInCommit {
        subdir: PathBuf,
        repo: String,
        reference: String,
    },

    #[error("repository {repo} has no commits yet; commit something or use --worktree")]
    EmptyRepository { repo: String },

    #[error(
        "cannot tell which commit HEAD of {repo} is: {why}; pass --ref with a branch, tag or commit"
    )]
    NoDefaultBranch { repo: String, why: String },

    #[error("could not fetch from {repo}; {hint}")]
    Fetch {
        repo: String,
        hint: &'static str,
        #[source]
        source: gix::Error,
    },

    #[error("the git cache at \"{}\" is unusable; delete that directory and run again", path.display())]
    Cache {
        path: PathBuf,
        #[source]
        source: gix::Error,
    },

    #[error("could not read {what} in {repo}")]
    Read {
        what: String,
        repo: String,
        #[source]
        source: gix::Error,
    },

    #[error("could not {action} \"{}\"", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "path \"{path}\" in {repo} {why}; strata refuses a tree with such a path, which could write outside the exported tree: rename or remove it"
    )]
    UnsafePath {
        path: String,
        repo: String,
        why: &'static str,
    },

    #[error(
        "symlink \"{link}\" in {repo} points to \"{target}\": {why}; strata reads only what the repository holds, so a link must lead to a file or directory inside it: commit the file itself, or make the link relative to a path in the repository"
    )]
    LinkOutside {
        link: String,
        target: String,
        repo: String,
        why: String,
    },

    #[error("checkout of {repo} was interrupted; the next run picks up where it stopped")]
    Interrupted { repo: String },
}

/// Fetch (or read the working tree of) `spec.repo` and export the desired state below `state_dir`.
///
/// See the [module documentation](self) for the steps and the state directory layout.
///
/// # Errors
///
/// Every [`SourceError`] variant except `Io` describes a problem the user can fix: a missing path, a
/// directory that is not a repository, an unknown or ambiguous ref, an empty repository, an unreachable
/// remote. `Io` means the state directory could not be written. `Interrupted` is returned as soon as
/// `should_interrupt` is seen.
pub fn checkout(
    spec: &SourceSpec,
    state_dir: &Path,
    should_interrupt: &AtomicBool,
) -> Result<Snapshot, SourceError> {
    let source = location::Source::parse(&spec.repo)?;
    let slot = source.slot(state_dir);
    let tree_dir = slot.join("tree");
    let manifest = slot.join("export.manifest");
    let interrupted = || SourceError::Interrupted {
        repo: source.display.clone(),
    };
    if should_interrupt.load(Ordering::Relaxed) {
        return Err(interrupted());
    }

    if spec.worktree {
        if let Some(reference) = &spec.reference {
            return Err(SourceError::RefWithWorktree {
                reference: reference.clone(),
            });
        }
        let Some(local) = source.local_repo() else {
            return Err(SourceError::WorktreeNeedsLocalPath {
                repo: source.display.clone(),
            });
        };
        let listing = worktree::list(local, &source.display, state_dir, should_interrupt)?;
        let target = export::Target {
            tree_dir: &tree_dir,
            manifest: &manifest,
            repo: local,
            repo_display: &source.display,
        };
        export::export(&target, listing.entries, should_interrupt)?;
        tracing::info!(repo = %source.display, reference = %listing.reference, root = %tree_dir.display(), "exported working tree");
        let root = project_root(&source, &tree_dir, &listing.reference)?;
        return Ok(Snapshot {
            repo: source.display.clone(),
            reference: listing.reference,
            commit: listing.head.map(|id| id.to_string()),
            worktree: true,
            root,
            spec: source.spec(),
            git_identity: identity(local),
            tree: tree_dir.clone(),
        });
    }

    let fetched = fetch::update_cache(&slot.join("cache.git"), &source, should_interrupt)?;
    let resolved = resolve::resolve(
        &fetched.cache,
        spec.reference.as_deref(),
        &fetched.head,
        &source.display,
    )?;
    let entries = export::commit_entries(&fetched.cache, resolved.commit, &source.display)?;
    let target = export::Target {
        tree_dir: &tree_dir,
        manifest: &manifest,
        repo: &fetched.cache,
        repo_display: &source.display,
    };
    export::export(&target, entries, should_interrupt)?;
    tracing::debug!(repo = %source.display, reference = %resolved.reference, commit = %resolved.commit, root = %tree_dir.display(), "exported commit");
    let root = project_root(&source, &tree_dir, &resolved.reference)?;
    Ok(Snapshot {
        repo: source.display.clone(),
        reference: resolved.reference,
        commit: Some(resolved.commit.to_string()),
        worktree: false,
        root,
        spec: source.spec(),
        git_identity: identity(source.local_repo().unwrap_or(&fetched.cache)),
        tree: tree_dir,
    })
}

/// The committer identity (`Name <email>`) for a decision about `repo` (a
/// local path or a URL): from the local repository's configuration, else
/// from the repository around `cwd`, else none.
pub fn git_identity(repo: &str, cwd: &Path) -> Option<String> {
    if let Ok(source) = location::Source::parse(repo)
        && let Some(local) = source.local_repo()
    {
        return identity(local);
    }
    gix::discover(cwd).ok().and_then(|r| identity(&r))
}

/// The committer identity Git's configuration gives in `repo`.
fn identity(repo: &gix::Repository) -> Option<String> {
    let sig = repo.committer()?.ok()?;
    Some(format!("{} <{}>", sig.name, sig.email))
}

/// The exported tree, or the project subdirectory of it that `--repo`
/// named; that subdirectory must exist in what was exported.
fn project_root(
    source: &location::Source,
    tree_dir: &Path,
    reference: &str,
) -> Result<PathBuf, SourceError> {
    let Some(subdir) = source.subdir() else {
        return Ok(tree_dir.to_owned());
    };
    let root = tree_dir.join(subdir);
    if !root.is_dir() {
        return Err(SourceError::SubdirNotInCommit {
            subdir: subdir.to_owned(),
            repo: source.display.clone(),
            reference: reference.to_owned(),
        });
    }
    Ok(root)
}
