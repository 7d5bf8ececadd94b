//! Static checks of a kustomization before it is rendered: every local
//! reference it makes (resources, bases, components, patches, generator
//! files, ...) must resolve inside the repository, and none may be remote.
//!
//! kustomize's own load restrictor keeps *files* under the kustomization's
//! directory, but lets *directories* through wherever they are
//! (`resources: [../../../etc]`, or an absolute path), and fetches remote
//! bases (`https://…`, `github.com/…`) at render time. Both would make the
//! run depend on something that is not in the commit: what was reviewed and
//! approved would not be what is applied. So the kustomization, and
//! recursively every local kustomization it references, is read here first,
//! and each reference that resolves (after following symlinks) outside the
//! repository, is remote, or does not exist is a problem naming the file,
//! the line, the field and the entry. kustomize runs only when there is
//! none.

use std::collections::{BTreeSet, HashSet};
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use std::time::Duration;

use crate::interrupt::Interrupt;
use crate::process::Process;

use super::KubeError;

/// What a reference may name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Names {
    /// A file.
    File,
    /// A directory (a kustomization, checked in turn).
    Kustomization,
    /// A file, or a directory holding a kustomization.
    Either,
    /// A directory that is not a kustomization (helm's chart home).
    Directory,
}

/// Checks the kustomization in `root/dir` (named `file`) and the local
/// kustomizations it references: every problem found, and what it reads.
pub(super) fn check(root: &Path, dir: &str) -> Checked {
    let Ok(root) = root.canonicalize() else {
        return Checked::default();
    };
    let mut checker = Checker {
        root,
        seen: HashSet::new(),
        checked: Checked::default(),
    };
    if let Ok(start) = checker.root.join(dir).canonicalize() {
        checker.visit(&start);
    }
    checker.checked.root = checker.root;
    checker.checked
}

/// What checking a kustomization found.
#[derive(Debug, Default)]
pub(super) struct Checked {
    pub(super) problems: Vec<KubeError>,
    /// The repository root, canonical.
    root: PathBuf,
    /// Every kustomization directory it reads (canonical).
    dirs: Vec<PathBuf>,
    /// Every file it references (canonical), with the format sops would
    /// read it in.
    files: Vec<(PathBuf, crate::sops::Format)>,
}

struct Checker {
    /// The repository (project) root, canonical.
    root: PathBuf,
    /// Kustomization directories already checked (canonical).
    seen: HashSet<PathBuf>,
    checked: Checked,
}

impl Checker {
    /// `path` relative to the root, for messages.
    fn shown(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .map_or_else(|_| path.display().to_string(), |p| p.display().to_string())
    }

    fn visit(&mut self, dir: &Path) {
        if !self.seen.insert(dir.to_owned()) {
            return;
        }
        // A directory without a kustomization is kustomize's to report.
        let Some(name) = KUSTOMIZATION.iter().find(|f| dir.join(f).is_file()) else {
            return;
        };
        self.checked.dirs.push(dir.to_owned());
        let path = dir.join(name);
        let file = self.shown(&path);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                self.checked.problems.push(KubeError::manifest(
                    &file,
                    None,
                    format!("cannot read the kustomization: {e}"),
                ));
                return;
            }
        };
        let value: Value = match super::document::parse_yaml(&file, &text) {
            Ok(docs) if docs.len() == 1 => docs.into_iter().next().map(|m| m.value),
            Ok(docs) if docs.is_empty() => None,
            Ok(_) => {
                self.checked.problems.push(KubeError::manifest(
                    &file,
                    None,
                    "a kustomization must be a single YAML document",
                ));
                return;
            }
            Err(e) => {
                self.checked.problems.push(e);
                return;
            }
        }
        .unwrap_or(Value::Null);
        let mut refs: Vec<(String, String, Names)> = Vec::new();
        let mut add = |field: &str, v: &Value, names: Names| {
            if let Some(s) = v.as_str() {
                refs.push((field.to_owned(), s.to_owned(), names));
            }
        };
        let list = |key: &str| value[key].as_array().cloned().unwrap_or_default();
        for r in list("resources") {
            add("resources", &r, Names::Either);
        }
        for r in list("bases") {
            add("bases", &r, Names::Kustomization);
        }
        for r in list("components") {
            add("components", &r, Names::Kustomization);
        }
        for key in ["crds", "configurations"] {
            for r in list(key) {
                add(key, &r, Names::File);
            }
        }
        // Plugin configurations: file names, or kustomization directories
        // (objects inline are not references).
        for key in ["generators", "transformers", "validators"] {
            for r in list(key) {
                if r.as_str().is_some_and(|s| !s.contains('\n')) {
                    add(key, &r, Names::Either);
                }
            }
        }
        for r in list("patchesStrategicMerge") {
            // An inline patch is YAML, not a file name.
            if r.as_str()
                .is_some_and(|s| !s.contains('\n') && !s.contains(": "))
            {
                add("patchesStrategicMerge", &r, Names::File);
            }
        }
        for key in ["patches", "patchesJson6902", "replacements"] {
            for r in list(key) {
                add(&format!("{key}[].path"), &r["path"], Names::File);
            }
        }
        for key in ["configMapGenerator", "secretGenerator"] {
            for g in list(key) {
                for f in g["files"].as_array().into_iter().flatten() {
                    // `key=path` or `path`.
                    if let Some(s) = f.as_str() {
                        let path = s.split_once('=').map_or(s, |(_, p)| p);
                        add(&format!("{key}[].files"), &Value::from(path), Names::File);
                    }
                }
                for e in g["envs"].as_array().into_iter().flatten() {
                    add(&format!("{key}[].envs"), e, Names::File);
                }
                add(&format!("{key}[].env"), &g["env"], Names::File);
            }
        }
        add("openapi.path", &value["openapi"]["path"], Names::File);
        add(
            "helmGlobals.chartHome",
            &value["helmGlobals"]["chartHome"],
            Names::Directory,
        );
        add(
            "helmGlobals.configHome",
            &value["helmGlobals"]["configHome"],
            Names::Directory,
        );
        for c in list("helmCharts") {
            add("helmCharts[].valuesFile", &c["valuesFile"], Names::File);
            for f in c["additionalValuesFiles"].as_array().into_iter().flatten() {
                add("helmCharts[].additionalValuesFiles", f, Names::File);
            }
        }
        for (field, entry, names) in refs {
            self.reference(dir, &file, &text, &field, &entry, names);
        }
    }

    /// Checks one reference of the kustomization `file` in `dir`.
    fn reference(
        &mut self,
        dir: &Path,
        file: &str,
        text: &str,
        field: &str,
        entry: &str,
        names: Names,
    ) {
        let problem = |message: String| KubeError::Manifest {
            file: file.to_owned(),
            index: None,
            line: line_of(text, field, entry),
            message,
        };
        if entry.trim().is_empty() {
            self.checked
                .problems
                .push(problem(format!("{field} has an empty entry; remove it")));
            return;
        }
        let path = dir.join(entry);
        match path.canonicalize() {
            Ok(full) if !full.starts_with(&self.root) => {
                self.checked.problems.push(problem(outside(field, entry)));
            }
            Ok(full) => {
                if full.is_dir() && matches!(names, Names::Kustomization | Names::Either) {
                    self.visit(&full);
                } else if full.is_file() {
                    // An env file is dotenv whatever its name, as in Flux.
                    let format = match crate::sops::Format::of_path(entry) {
                        crate::sops::Format::Binary
                            if field.ends_with(".envs") || field.ends_with(".env") =>
                        {
                            crate::sops::Format::Dotenv
                        }
                        other => other,
                    };
                    self.checked.files.push((full, format));
                }
            }
            Err(_) if is_remote(entry) => {
                self.checked.problems.push(problem(format!(
                    "{field} entry {entry:?} is a remote reference; strata renders only what the commit holds, so that what was reviewed is what is applied: vendor it into the repository (for example with `kustomize localize`) and reference the local copy"
                )));
            }
            Err(_) if Path::new(entry).is_absolute() || leaves(&self.root, dir, entry) => {
                self.checked.problems.push(problem(outside(field, entry)));
            }
            Err(_) => {
                self.checked.problems.push(problem(format!(
                    "{field} entry {entry:?} does not exist (looked for {}); check the spelling and that it is committed",
                    self.shown(&lexical(&path))
                )));
            }
        }
    }
}

fn outside(field: &str, entry: &str) -> String {
    format!(
        "{field} entry {entry:?} is outside the repository; kustomize would read it from the machine strata runs on, not from the commit: move what it needs into the repository and reference it with a relative path"
    )
}

/// Whether `entry` (relative to `dir`) climbs out of `root`, lexically.
fn leaves(root: &Path, dir: &Path, entry: &str) -> bool {
    !lexical(&dir.join(entry)).starts_with(root)
}

/// `path` with `.` and `..` resolved without the file system.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Whether a kustomization entry names a remote resource the way kustomize
/// recognizes one: a URL, `git@host:…`, or `host.tld/org/repo…`.
fn is_remote(entry: &str) -> bool {
    if entry.contains("://") || entry.starts_with("git@") || entry.starts_with("git::") {
        return true;
    }
    let first = entry.split('/').next().unwrap_or_default();
    entry.contains('/') && first.contains('.') && first != "." && first != ".."
}

/// The line of `entry` in the kustomization text: the first line holding it
/// after the line of its field (the field's last dotted part), else the
/// first line holding it.
fn line_of(text: &str, field: &str, entry: &str) -> Option<usize> {
    let key = field
        .split('.')
        .next()
        .unwrap_or(field)
        .trim_end_matches("[]");
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim_start().starts_with(&format!("{key}:")))
        .unwrap_or(0);
    lines
        .iter()
        .enumerate()
        .skip(start)
        .chain(lines.iter().enumerate())
        .find(|(_, l)| l.contains(entry))
        .map(|(i, _)| i + 1)
}

/// How to find `kustomize` or `kubectl`.
#[derive(Debug, Clone, Default)]
pub struct Tools {
    /// The `PATH` to search.
    pub path: Option<OsString>,
    /// `HOME`, passed to the renderer.
    pub home: Option<OsString>,
    /// Stops the renderer; `None`: the process's own, if installed.
    pub interrupt: Option<Interrupt>,
    /// The age identities that decrypt SOPS files.
    pub keys: crate::sops::Keys,
}

/// How long rendering one kustomization may take.
const RENDER_TIMEOUT: Duration = Duration::from_secs(120);

/// File names that make a directory a kustomization.
pub const KUSTOMIZATION: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Renders the kustomization in `full` (checked into `checked`): in
/// place, or, when a file it reads is SOPS-encrypted, from a private
/// temporary copy (mode 0700, removed when rendered) of what it reads, in
/// which those files are decrypted, as Flux does before its build. Returns
/// the rendered text and every value decrypted.
pub(super) fn render(
    full: &Path,
    dir: &str,
    checked: &Checked,
    tools: &Tools,
) -> Result<(String, BTreeSet<String>), KubeError> {
    let shown = |path: &Path| {
        path.strip_prefix(&checked.root)
            .map_or_else(|_| path.display().to_string(), |p| p.display().to_string())
    };
    let mut plain: Vec<(&Path, Vec<u8>)> = Vec::new();
    let mut secrets = BTreeSet::new();
    for (file, format) in &checked.files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let decrypted = crate::sops::decrypt(&text, *format, &tools.keys)
            .and_then(|d| d.map(|d| Ok((d.plaintext()?, d))).transpose())
            .map_err(|e| KubeError::manifest(&shown(file), None, e.to_string()))?;
        if let Some((text, d)) = decrypted {
            secrets.extend(d.secrets().iter().cloned());
            plain.push((file, text));
        }
    }
    if plain.is_empty() {
        return Ok((build(full, dir, tools)?, secrets));
    }
    let copy_error = |e: std::io::Error| KubeError::Render {
        dir: dir.to_owned(),
        message: format!("copying the kustomization to decrypt its SOPS files: {e}"),
    };
    let copy = tempfile::Builder::new()
        .prefix("strata-sops-")
        .tempdir()
        .map_err(copy_error)?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(copy.path(), std::fs::Permissions::from_mode(0o700))
            .map_err(copy_error)?;
    }
    let inside = |path: &Path| {
        copy.path()
            .join(path.strip_prefix(&checked.root).unwrap_or(path))
    };
    for dir in &checked.dirs {
        copy_tree(dir, &inside(dir)).map_err(copy_error)?;
    }
    for (file, _) in &checked.files {
        let to = inside(file);
        if !to.exists() {
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(copy_error)?;
            }
            std::fs::copy(file, &to).map_err(copy_error)?;
        }
    }
    for (file, text) in plain {
        let to = inside(file);
        // Never through a link the repository put there.
        let _ = std::fs::remove_file(&to);
        write_private(&to, &text).map_err(copy_error)?;
    }
    let canonical = full.canonicalize().map_err(copy_error)?;
    build(&inside(&canonical), dir, tools)
        .map(|rendered| (rendered, secrets.clone()))
        .map_err(|e| match e {
            KubeError::Render { dir, message } => KubeError::Render {
                dir,
                message: super::diff::scrub(&message, &secrets),
            },
            other => other,
        })
}

/// A file only its owner reads.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?
        .write_all(bytes)
}

/// Copies the directory `from` to `to`, links as links.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if target.exists() || entry.file_name() == ".git" {
            continue;
        }
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&source)?, &target)?;
        } else if kind.is_dir() {
            copy_tree(&source, &target)?;
        } else {
            std::fs::copy(&source, &target)?;
        }
    }
    Ok(())
}

/// Renders a kustomization with `kustomize build`, else `kubectl
/// kustomize`, whichever is on PATH first in that order.
pub(super) fn build(full: &Path, dir: &str, tools: &Tools) -> Result<String, KubeError> {
    let render_error = |message: String| KubeError::Render {
        dir: dir.to_owned(),
        message,
    };
    let find = |name: &str| which::which_in(name, tools.path.as_ref(), full).ok();
    let command = if let Some(kustomize) = find("kustomize") {
        Process::new(kustomize).arg("build")
    } else if let Some(kubectl) = find("kubectl") {
        Process::new(kubectl).arg("kustomize")
    } else {
        return Err(render_error(
            "neither kustomize nor kubectl is on PATH; install one of them \
             (https://kubectl.docs.kubernetes.io/installation/)"
                .to_owned(),
        ));
    };
    // Run in the kustomization's own directory, whatever strata's is.
    let env = [("PATH", &tools.path), ("HOME", &tools.home)]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (OsString::from(k), v.clone())));
    let command = command.arg(".").cwd(full).envs(env).timeout(RENDER_TIMEOUT);
    let interrupt = tools
        .interrupt
        .clone()
        .unwrap_or_else(crate::interrupt::never);
    // Called from blocking code (the manifest walk): the child is run on
    // the runtime, off its worker threads.
    let output = crate::off_the_runtime(|| match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.block_on(command.run(&interrupt)),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| crate::process::ProcessError::Spawn {
                program: command.display(),
                source: e,
            })?
            .block_on(command.run(&interrupt)),
    })
    .map_err(|e| render_error(crate::error_line(&e)))?;
    if output.interrupted {
        return Err(render_error("interrupted".to_owned()));
    }
    if output.timed_out {
        return Err(render_error(format!(
            "rendering took longer than {}s and was stopped",
            RENDER_TIMEOUT.as_secs()
        )));
    }
    if !output.status.success() {
        return Err(render_error(output.stderr.trim().to_owned()));
    }
    String::from_utf8(output.stdout)
        .map_err(|_| render_error("the rendered output is not UTF-8".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_references_are_recognized() {
        for remote in [
            "https://github.com/kubernetes-sigs/kustomize//examples/multibases?ref=v1.0.6",
            "github.com/kubernetes-sigs/kustomize/examples/multibases",
            "git@github.com:org/repo.git",
            "ssh://git@example.com/org/repo",
        ] {
            assert!(is_remote(remote), "{remote}");
        }
        for local in [
            "../base",
            "./base",
            "base",
            "deployment.yaml",
            "../../x.y/z",
        ] {
            assert!(!is_remote(local), "{local}");
        }
    }

    #[test]
    fn references_are_checked_recursively() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.env"), "x=1").unwrap();
        let root = tempfile::tempdir().unwrap();
        let write = |path: &str, text: &str| {
            let full = root.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, text).unwrap();
        };
        write(
            "k8s/app/kustomization.yaml",
            "resources:\n  - ../base\n  - cm.yaml\n  - https://example.com/x.yaml\npatches:\n  - path: missing.yaml\n",
        );
        write("k8s/app/cm.yaml", "");
        write(
            "k8s/base/kustomization.yaml",
            &format!(
                "resources:\n  - ../../..\nconfigMapGenerator:\n  - name: x\n    envs:\n      - {}\n",
                outside.path().join("secret.env").display()
            ),
        );
        let problems: Vec<String> = check(root.path(), "k8s/app")
            .problems
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(problems.len(), 4, "{problems:#?}");
        for expected in [
            "k8s/app/kustomization.yaml:4: resources entry \"https://example.com/x.yaml\" is a remote reference",
            "k8s/app/kustomization.yaml:6: patches[].path entry \"missing.yaml\" does not exist (looked for k8s/app/missing.yaml)",
            "k8s/base/kustomization.yaml:2: resources entry \"../../..\" is outside the repository",
            "k8s/base/kustomization.yaml:6: configMapGenerator[].envs entry",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(expected)),
                "{expected}: {problems:#?}"
            );
        }
    }
}
