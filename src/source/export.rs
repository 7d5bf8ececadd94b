//! Write a list of files (from a commit's tree or from the working tree) into the persistent `tree/`.
//!
//! The export touches only paths recorded in the [manifest](super::manifest): those gone from the new list
//! are deleted (and directories left empty by that are removed), new and changed ones are written, and
//! everything else under `tree/` is left alone. Before changing anything, a manifest covering both the old
//! and the new paths is stored, with changing paths marked as in progress; an interrupted or crashed export
//! thus never leaves a file the next run does not know it may replace or delete.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::io::{self, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::UNIX_EPOCH;

use gix::ObjectId;
use gix::bstr::{BStr, BString, ByteSlice};

use super::SourceError;
use super::location::show;
pub(super) use super::manifest::Kind;
use super::manifest::{self, Manifest, Record};

/// Where a file's content comes from.
pub(super) enum Origin {
    /// A blob in the repository's object database.
    Blob(ObjectId),
    /// A file or symlink in the working tree.
    Disk(PathBuf),
}

/// One file to export.
pub(super) struct Entry {
    /// Relative to the tree root, `/`-separated.
    pub path: BString,
    pub kind: Kind,
    pub origin: Origin,
}

/// Where to export to, and where blobs and messages come from.
pub(super) struct Target<'a> {
    pub tree_dir: &'a Path,
    pub manifest: &'a Path,
    pub repo: &'a gix::Repository,
    pub repo_display: &'a str,
}

/// List the files of `commit`'s tree. Submodules are skipped with a warning: their content is not in this
/// repository, and Terraform modules are better referenced by source address than vendored that way.
pub(super) fn commit_entries(
    repo: &gix::Repository,
    commit: ObjectId,
    display: &str,
) -> Result<Vec<Entry>, SourceError> {
    let read_error = |source| SourceError::Read {
        what: format!("the tree of commit {commit}"),
        repo: display.to_owned(),
        source,
    };
    let tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree())
        .map_err(read_error)?;
    let mut recorder = gix::traverse::tree::Recorder::default();
    tree.traverse()
        .breadthfirst(&mut recorder)
        .map_err(read_error)?;
    let mut entries = Vec::with_capacity(recorder.records.len());
    for record in recorder.records {
        let kind = match record.mode.kind() {
            gix::object::tree::EntryKind::Tree => continue,
            gix::object::tree::EntryKind::Blob => Kind::File,
            gix::object::tree::EntryKind::BlobExecutable => Kind::Executable,
            gix::object::tree::EntryKind::Link => Kind::Symlink,
            gix::object::tree::EntryKind::Commit => {
                tracing::warn!(path = %show(record.filepath.as_ref()), "skipping submodule: its files are not part of this repository");
                continue;
            }
        };
        entries.push(Entry {
            path: record.filepath,
            kind,
            origin: Origin::Blob(record.oid),
        });
    }
    Ok(entries)
}

/// An entry ready to be compared with the manifest.
struct Planned {
    kind: Kind,
    id: ObjectId,
    origin: Origin,
    /// A symlink's target, already read for validation.
    link_target: Option<Vec<u8>>,
}

/// Export `entries` into `target.tree_dir`, writing only what changed since the last export.
pub(super) fn export(
    target: &Target<'_>,
    entries: Vec<Entry>,
    should_interrupt: &AtomicBool,
) -> Result<(), SourceError> {
    let io_error = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| SourceError::Io {
            action,
            path,
            source,
        }
    };
    let interrupted = || SourceError::Interrupted {
        repo: target.repo_display.to_owned(),
    };
    std::fs::create_dir_all(target.tree_dir)
        .map_err(io_error("create the tree directory", target.tree_dir))?;

    let previous = match manifest::load(target.manifest) {
        Ok(previous) => previous,
        Err(err) => {
            // Without it we cannot know which files are ours, so nothing gets deleted this time; all
            // exported files are rewritten and a fresh manifest takes over from here.
            tracing::warn!(manifest = %target.manifest.display(), error = %err, "ignoring unreadable export manifest");
            None
        }
    };
    let had_manifest = previous.is_some();
    let old = previous.unwrap_or_default();

    let mut planned = BTreeMap::new();
    for entry in entries {
        if should_interrupt.load(Ordering::Relaxed) {
            return Err(interrupted());
        }
        let (path, plan) = plan(target, entry)?;
        planned.insert(path, plan);
    }
    check_links(target, &planned)?;

    let deletions: Vec<BString> = old
        .keys()
        .filter(|p| !planned.contains_key(*p))
        .cloned()
        .collect();
    let writes: Vec<&BString> = planned
        .iter()
        .filter(|(path, plan)| {
            !is_up_to_date(target.tree_dir, path.as_bstr(), plan, old.get(*path))
        })
        .map(|(path, _)| path)
        .collect();
    if deletions.is_empty() && writes.is_empty() && had_manifest {
        tracing::debug!(files = planned.len(), "exported tree already up to date");
        return Ok(());
    }

    // The intent: every path we may touch, with those about to change marked as in progress.
    let mut intent = old.clone();
    for path in &writes {
        let plan = &planned[*path];
        intent.insert(
            (*path).clone(),
            Record {
                kind: plan.kind,
                id: ObjectId::null(plan.id.kind()),
                size: 0,
                mtime_ns: 0,
            },
        );
    }
    manifest::store(target.manifest, &intent)
        .map_err(io_error("write the export manifest", target.manifest))?;

    for path in &deletions {
        if should_interrupt.load(Ordering::Relaxed) {
            return Err(interrupted());
        }
        delete(target.tree_dir, path.as_bstr())?;
    }

    let mut done: Manifest = old
        .into_iter()
        .filter(|(path, _)| planned.contains_key(path))
        .collect();
    let mut checked_dirs = HashSet::new();
    for path in &writes {
        if should_interrupt.load(Ordering::Relaxed) {
            return Err(interrupted());
        }
        let plan = &planned[*path];
        let record = write(target, path.as_bstr(), plan, &mut checked_dirs)?;
        done.insert((*path).clone(), record);
    }
    manifest::store(target.manifest, &done)
        .map_err(io_error("write the export manifest", target.manifest))?;
    tracing::debug!(
        written = writes.len(),
        deleted = deletions.len(),
        unchanged = planned.len() - writes.len(),
        "exported tree updated"
    );
    Ok(())
}

/// Validate `entry`'s path and learn its blob id (and a symlink's target).
fn plan(target: &Target<'_>, entry: Entry) -> Result<(BString, Planned), SourceError> {
    if let Err(why) = check_path(entry.path.as_ref()) {
        return Err(SourceError::UnsafePath {
            path: show(entry.path.as_ref()),
            repo: target.repo_display.to_owned(),
            why,
        });
    }
    let read_error = |source| SourceError::Read {
        what: format!("\"{}\"", show(entry.path.as_ref())),
        repo: target.repo_display.to_owned(),
        source,
    };
    let (id, link_target) = match (&entry.origin, entry.kind) {
        (Origin::Blob(id), Kind::Symlink) => {
            let blob = target.repo.find_blob(*id).map_err(read_error)?;
            (*id, Some(blob.data.clone()))
        }
        (Origin::Blob(id), _) => (*id, None),
        (Origin::Disk(file), kind) => {
            let bytes = if kind == Kind::Symlink {
                std::fs::read_link(file).map(|t| t.into_os_string().into_vec())
            } else {
                std::fs::read(file)
            }
            .map_err(|source| SourceError::Io {
                action: "read",
                path: file.clone(),
                source,
            })?;
            let id =
                gix::objs::compute_hash(target.repo.object_hash(), gix::object::Kind::Blob, &bytes)
                    .map_err(read_error)?;
            (id, (kind == Kind::Symlink).then_some(bytes))
        }
    };
    let planned = Planned {
        kind: entry.kind,
        id,
        origin: entry.origin,
        link_target,
    };
    Ok((entry.path, planned))
}

/// Reject paths that are not plain relative paths inside the tree (a crafted tree can hold any name).
fn check_path(path: &BStr) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("empty path");
    }
    for component in path.split(|&b| b == b'/') {
        match component {
            b"" => return Err("empty path component"),
            b"." | b".." => return Err("relative path component"),
            c if c.eq_ignore_ascii_case(b".git") => return Err("names a .git directory"),
            c if c.contains(&0) => return Err("NUL byte in path"),
            _ => {}
        }
    }
    Ok(())
}

/// Every symlink must resolve, through the other symlinks of the same export, to a file or directory the
/// export writes: a link that leaves the tree (absolute, or too many `..`), goes through `.git`, points at
/// something the repository does not hold (which on disk could be Terraform's state or plugin directory,
/// or a link Terraform made), or loops is refused, naming the link and its target. Nothing is written
/// before this check passes.
fn check_links(
    target: &Target<'_>,
    planned: &BTreeMap<BString, Planned>,
) -> Result<(), SourceError> {
    let links: BTreeMap<&[u8], &[u8]> = planned
        .iter()
        .filter_map(|(path, plan)| Some((path.as_slice(), plan.link_target.as_deref()?)))
        .collect();
    if links.is_empty() {
        return Ok(());
    }
    let tree = VirtualTree::new(planned.keys().map(|p| p.as_slice()), links);
    for (&link, &link_target) in &tree.links {
        if let Err(why) = tree.check(link) {
            return Err(SourceError::LinkOutside {
                link: show(link.as_bstr()),
                target: show(link_target.as_bstr()),
                repo: target.repo_display.to_owned(),
                why,
            });
        }
    }
    Ok(())
}

/// The paths an export writes, to resolve symlinks the way the file system will once they are written.
struct VirtualTree<'a> {
    files: HashSet<&'a [u8]>,
    dirs: HashSet<&'a [u8]>,
    links: BTreeMap<&'a [u8], &'a [u8]>,
}

/// How many symlinks one resolution may follow, as Linux allows.
const MAX_LINK_HOPS: usize = 40;

impl<'a> VirtualTree<'a> {
    fn new(paths: impl Iterator<Item = &'a [u8]>, links: BTreeMap<&'a [u8], &'a [u8]>) -> Self {
        let mut files = HashSet::new();
        let mut dirs = HashSet::new();
        for path in paths {
            for (i, &b) in path.iter().enumerate() {
                if b == b'/' {
                    dirs.insert(&path[..i]);
                }
            }
            if !links.contains_key(path) {
                files.insert(path);
            }
        }
        VirtualTree { files, dirs, links }
    }

    /// Where `link` leads, or why it is refused.
    fn check(&self, link: &[u8]) -> Result<(), String> {
        let mut hops = 0;
        self.resolve(link, &mut hops).map(|_| ())
    }

    /// The path (components from the tree root) that `link` resolves to.
    fn resolve(&self, link: &'a [u8], hops: &mut usize) -> Result<Vec<&'a [u8]>, String> {
        *hops += 1;
        if *hops > MAX_LINK_HOPS {
            return Err("it is part of a symlink loop".to_owned());
        }
        let target = self.links[link];
        if target.is_empty() || target.contains(&0) {
            return Err("the target is empty or not a valid path".to_owned());
        }
        if target.starts_with(b"/") {
            return Err("the target is an absolute path, outside the repository".to_owned());
        }
        let mut at: Vec<&[u8]> = link.split(|&b| b == b'/').collect();
        at.pop();
        let parts: Vec<&[u8]> = target
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
            .collect();
        for (i, &part) in parts.iter().enumerate() {
            if part == b".." {
                if at.pop().is_none() {
                    return Err("the target leaves the repository".to_owned());
                }
                continue;
            }
            if part.eq_ignore_ascii_case(b".git") {
                return Err("the target goes into a .git directory".to_owned());
            }
            at.push(part);
            let path = at.join(&b'/');
            if let Some((&key, _)) = self.links.get_key_value(path.as_slice()) {
                at = self.resolve(key, hops)?;
            } else if self.dirs.contains(path.as_slice()) {
            } else if self.files.contains(path.as_slice()) {
                if i + 1 < parts.len() {
                    return Err(format!(
                        "\"{}\" is a file, not a directory",
                        show(path.as_bstr())
                    ));
                }
            } else {
                return Err(format!(
                    "\"{}\" is not in the repository",
                    show(path.as_bstr())
                ));
            }
        }
        Ok(at)
    }
}

fn absolute(tree_dir: &Path, path: &BStr) -> PathBuf {
    tree_dir.join(OsStr::from_bytes(path))
}

/// Whether the file in the tree is still exactly what the last export wrote for this content.
fn is_up_to_date(tree_dir: &Path, path: &BStr, plan: &Planned, old: Option<&Record>) -> bool {
    let Some(old) = old else { return false };
    if old.kind != plan.kind || old.id != plan.id {
        return false;
    }
    let Ok(meta) = std::fs::symlink_metadata(absolute(tree_dir, path)) else {
        return false;
    };
    let kind_matches = match plan.kind {
        Kind::Symlink => meta.file_type().is_symlink(),
        Kind::File => meta.is_file() && meta.permissions().mode() & 0o100 == 0,
        Kind::Executable => meta.is_file() && meta.permissions().mode() & 0o100 != 0,
    };
    kind_matches && meta.len() == old.size && mtime_ns(&meta) == old.mtime_ns
}

fn mtime_ns(meta: &std::fs::Metadata) -> u128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}

/// Delete a file strata wrote earlier, then the directories that became empty because of it.
fn delete(tree_dir: &Path, path: &BStr) -> Result<(), SourceError> {
    let file = absolute(tree_dir, path);
    // Only what we wrote is deleted: a parent that became a symlink means this is not that file any more.
    if has_symlinked_parent(tree_dir, &file) {
        return Ok(());
    }
    match std::fs::symlink_metadata(&file) {
        Ok(meta) if !meta.is_dir() => {
            std::fs::remove_file(&file).map_err(|source| SourceError::Io {
                action: "delete",
                path: file.clone(),
                source,
            })?;
        }
        // Replaced by a directory (or already gone): not ours to remove.
        Ok(_) => return Ok(()),
        Err(_) => {}
    }
    let mut dir = file.parent();
    while let Some(d) = dir.filter(|d| *d != tree_dir && d.starts_with(tree_dir)) {
        // Fails on the first directory that still holds something, like Terraform state: that is the point.
        if std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    Ok(())
}

fn has_symlinked_parent(tree_dir: &Path, file: &Path) -> bool {
    let mut dir = file.parent();
    while let Some(d) = dir.filter(|d| *d != tree_dir) {
        if std::fs::symlink_metadata(d).is_ok_and(|m| m.file_type().is_symlink()) {
            return true;
        }
        dir = d.parent();
    }
    false
}

/// Write one entry through a temporary file and a rename, so readers never see half a file and a
/// symlink in the way is replaced rather than followed.
fn write(
    target: &Target<'_>,
    path: &BStr,
    plan: &Planned,
    checked_dirs: &mut HashSet<PathBuf>,
) -> Result<Record, SourceError> {
    let dest = absolute(target.tree_dir, path);
    ensure_parent_dirs(target.tree_dir, &dest, checked_dirs)?;
    let content = match (&plan.link_target, &plan.origin) {
        (Some(link), _) => link.clone(),
        (None, Origin::Blob(id)) => {
            let mut blob = target
                .repo
                .find_blob(*id)
                .map_err(|source| SourceError::Read {
                    what: format!("\"{}\"", show(path)),
                    repo: target.repo_display.to_owned(),
                    source,
                })?;
            blob.take_data()
        }
        (None, Origin::Disk(file)) => std::fs::read(file).map_err(|source| SourceError::Io {
            action: "read",
            path: file.clone(),
            source,
        })?,
    };
    write_atomically(&dest, plan.kind, &content).map_err(|source| SourceError::Io {
        action: "write",
        path: dest.clone(),
        source,
    })?;
    let meta = std::fs::symlink_metadata(&dest).map_err(|source| SourceError::Io {
        action: "inspect",
        path: dest.clone(),
        source,
    })?;
    Ok(Record {
        kind: plan.kind,
        id: plan.id,
        size: meta.len(),
        mtime_ns: mtime_ns(&meta),
    })
}

/// Create the directories leading to `dest`, refusing to go through symlinks or files: writing through a
/// symlink that something else placed in the tree could write outside of it.
fn ensure_parent_dirs(
    tree_dir: &Path,
    dest: &Path,
    checked: &mut HashSet<PathBuf>,
) -> Result<(), SourceError> {
    let Some(parent) = dest.parent() else {
        return Ok(());
    };
    let Ok(relative) = parent.strip_prefix(tree_dir) else {
        return Ok(());
    };
    let mut dir = tree_dir.to_owned();
    for component in relative.components() {
        dir.push(component);
        if checked.contains(&dir) {
            continue;
        }
        match std::fs::symlink_metadata(&dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(SourceError::Io {
                    action: "create directory",
                    path: dir,
                    source: io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        "a file or symlink that is not part of the repository is in the way; move it away",
                    ),
                });
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                std::fs::create_dir(&dir).map_err(|source| SourceError::Io {
                    action: "create directory",
                    path: dir.clone(),
                    source,
                })?;
            }
            Err(source) => {
                return Err(SourceError::Io {
                    action: "inspect",
                    path: dir,
                    source,
                });
            }
        }
        checked.insert(dir.clone());
    }
    Ok(())
}

fn write_atomically(dest: &Path, kind: Kind, content: &[u8]) -> io::Result<()> {
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(dest.file_name().unwrap_or_default());
    tmp_name.push(".strata-tmp");
    let tmp = dest.with_file_name(tmp_name);
    // A leftover from an interrupted run; `create_new` below must not meet (or follow) it.
    match std::fs::remove_file(&tmp) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
        _ => {}
    }
    let written = match kind {
        Kind::Symlink => std::os::unix::fs::symlink(OsStr::from_bytes(content), &tmp),
        Kind::File | Kind::Executable => {
            // Like git: 0666 or 0777, narrowed by the umask.
            let mode = if kind == Kind::Executable {
                0o777
            } else {
                0o666
            };
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&tmp)
                .and_then(|mut file| file.write_all(content))
        }
    };
    let result = written.and_then(|()| std::fs::rename(&tmp, dest));
    if result.is_err() {
        std::fs::remove_file(&tmp).ok();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_must_stay_relative() {
        assert!(check_path("a/b.tf".into()).is_ok());
        for bad in [
            "",
            "../x",
            "a/../../x",
            "a//b",
            ".git/config",
            "a/.GIT/x",
            "./a",
        ] {
            assert!(check_path(bad.into()).is_err(), "{bad}");
        }
    }

    fn links(entries: &[(&str, Option<&str>)]) -> Vec<Result<(), String>> {
        let links: BTreeMap<&[u8], &[u8]> = entries
            .iter()
            .filter_map(|(p, t)| Some((p.as_bytes(), (*t)?.as_bytes())))
            .collect();
        let tree = VirtualTree::new(entries.iter().map(|(p, _)| p.as_bytes()), links);
        entries
            .iter()
            .filter(|(_, t)| t.is_some())
            .map(|(p, _)| tree.check(p.as_bytes()))
            .collect()
    }

    #[test]
    fn symlinks_must_stay_inside() {
        let ok = |entries: &[(&str, Option<&str>)]| {
            for r in links(entries) {
                assert!(r.is_ok(), "{entries:?}: {r:?}");
            }
        };
        let bad = |entries: &[(&str, Option<&str>)], why: &str| {
            let all = links(entries);
            assert!(
                all.iter()
                    .any(|r| r.as_ref().is_err_and(|e| e.contains(why))),
                "{entries:?}: {all:?}"
            );
        };
        ok(&[("a/link", Some("../b/c")), ("b/c", None)]);
        ok(&[("a/b/link", Some("../../x")), ("x", None)]);
        ok(&[("link", Some("modules/net")), ("modules/net/main.tf", None)]);
        ok(&[("a/link", Some("./b/../c")), ("a/b/f", None), ("a/c", None)]);
        // Through another link.
        ok(&[
            ("k8s/app/cm.yaml", Some("../shared/cm.yaml")),
            ("k8s/shared", Some("../common")),
            ("common/cm.yaml", None),
        ]);
        bad(&[("link", Some("../x"))], "leaves the repository");
        bad(&[("a/link", Some("/etc/passwd"))], "absolute");
        bad(&[("link", Some(""))], "empty");
        bad(&[("link", Some(".git/config"))], ".git");
        bad(
            &[("a/link", Some("../missing.yaml"))],
            "\"missing.yaml\" is not in",
        );
        // `s/..` is where `s` leads, not `a`: here the root's parent.
        bad(
            &[("a/s", Some("..")), ("a/link", Some("s/../x")), ("x", None)],
            "leaves the repository",
        );
        bad(&[("a", Some("b")), ("b", Some("a"))], "loop");
        bad(&[("a", Some("a/x"))], "loop");
        // A file is not a directory.
        bad(&[("link", Some("f/x")), ("f", None)], "\"f\" is a file");
    }
}
