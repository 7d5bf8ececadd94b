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

use std::collections::HashSet;
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
/// kustomizations it references; every problem found.
pub(super) fn check(root: &Path, dir: &str) -> Vec<KubeError> {
    let Ok(root) = root.canonicalize() else {
        return Vec::new();
    };
    let mut checker = Checker {
        root,
        seen: HashSet::new(),
        problems: Vec::new(),
    };
    if let Ok(start) = checker.root.join(dir).canonicalize() {
        checker.visit(&start);
    }
    checker.problems
}

struct Checker {
    /// The repository (project) root, canonical.
    root: PathBuf,
    /// Kustomization directories already checked (canonical).
    seen: HashSet<PathBuf>,
    problems: Vec<KubeError>,
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
        let path = dir.join(name);
        let file = self.shown(&path);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                self.problems.push(KubeError::manifest(
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
                self.problems.push(KubeError::manifest(
                    &file,
                    None,
                    "a kustomization must be a single YAML document",
                ));
                return;
            }
            Err(e) => {
                self.problems.push(e);
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
            self.problems
                .push(problem(format!("{field} has an empty entry; remove it")));
            return;
        }
        let path = dir.join(entry);
        match path.canonicalize() {
            Ok(full) if !full.starts_with(&self.root) => {
                self.problems.push(problem(outside(field, entry)));
            }
            Ok(full) => {
                if full.is_dir() && matches!(names, Names::Kustomization | Names::Either) {
                    self.visit(&full);
                }
            }
            Err(_) if is_remote(entry) => {
                self.problems.push(problem(format!(
                    "{field} entry {entry:?} is a remote reference; strata renders only what the commit holds, so that what was reviewed is what is applied: vendor it into the repository (for example with `kustomize localize`) and reference the local copy"
                )));
            }
            Err(_) if Path::new(entry).is_absolute() || leaves(&self.root, dir, entry) => {
                self.problems.push(problem(outside(field, entry)));
            }
            Err(_) => {
                self.problems.push(problem(format!(
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
}

/// How long rendering one kustomization may take.
const RENDER_TIMEOUT: Duration = Duration::from_secs(120);

/// File names that make a directory a kustomization.
pub const KUSTOMIZATION: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

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
