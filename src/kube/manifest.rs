//! Reading a workload's manifests: YAML and JSON files, recursively,
//! multi-document, in a deterministic order (entries sorted by name); a
//! directory with a kustomization is rendered by `kustomize build` or
//! `kubectl kustomize` instead.

use std::path::{Path, PathBuf};

use super::KubeError;
pub use super::document::{Manifest, parse_decrypted, parse_json, parse_yaml};
pub use super::kustomize::Tools;
use super::kustomize::{self, KUSTOMIZATION};

/// Reads every manifest under `root/dir`.
///
/// # Errors
/// Unreadable files, broken YAML or JSON (with file, document and line),
/// documents that are not objects, and kustomizations that cannot be
/// rendered.
pub fn load(
    root: &Path,
    dir: &str,
    exclude: &[String],
    tools: &Tools,
) -> Result<Vec<Manifest>, KubeError> {
    let (out, mut problems) = load_all(root, dir, exclude, tools)?;
    match problems.len() {
        0 => Ok(out),
        1 => Err(problems.remove(0)),
        _ => Err(KubeError::Invalid(problems)),
    }
}

/// Like [`load`], but returns what could be read along with every file
/// that could not (for `strata validate`, which reports everything).
///
/// # Errors
/// A directory that cannot be read, a kustomization that cannot be
/// rendered.
pub fn load_all(
    root: &Path,
    dir: &str,
    exclude: &[String],
    tools: &Tools,
) -> Result<(Vec<Manifest>, Vec<KubeError>), KubeError> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut globs: Vec<String> = exclude.to_vec();
    if let Ok(text) = std::fs::read_to_string(root.join(dir).join(IGNORE_FILE)) {
        globs.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(ToOwned::to_owned),
        );
    }
    let mut walk = Walk {
        root,
        tools,
        top: dir.to_owned(),
        exclude: globs
            .iter()
            .map(|g| wildmatch::WildMatch::new(g.trim_end_matches('/')))
            .zip(globs.iter().map(|g| g.contains('/')))
            .collect(),
        out: &mut out,
        problems: &mut problems,
        ancestors: Vec::new(),
    };
    walk.dir(dir)?;
    Ok((out, problems))
}

/// A workload's list of paths that are not manifests, beside `exclude` in
/// strata.hcl: one glob per line, `#` comments, as Flux's `.sourceignore`.
pub const IGNORE_FILE: &str = ".strataignore";

/// A walk through a workload's directories.
struct Walk<'a> {
    root: &'a Path,
    tools: &'a Tools,
    /// The workload's directory.
    top: String,
    /// Globs of what is not read, relative to `top`: one with a `/` is
    /// matched against the path, one without against the name.
    exclude: Vec<(wildmatch::WildMatch, bool)>,
    out: &'a mut Vec<Manifest>,
    problems: &'a mut Vec<KubeError>,
    /// The directories being read, canonical: a symlink back to one of
    /// them would make the walk go round for ever.
    ancestors: Vec<PathBuf>,
}

impl Walk<'_> {
    /// Reads `dir` into `out`; files that cannot be parsed go to `problems`
    /// (every one is reported), a directory that cannot be read stops.
    fn dir(&mut self, dir: &str) -> Result<(), KubeError> {
        let full = self.root.join(dir);
        let canonical = full.canonicalize().map_err(|e| {
            KubeError::manifest(dir, None, format!("cannot read the directory: {e}"))
        })?;
        if let Some(ancestor) = self.ancestors.iter().find(|a| **a == canonical) {
            let shown = self.root.canonicalize().ok().and_then(|root| {
                ancestor
                    .strip_prefix(root)
                    .ok()
                    .map(|p| p.display().to_string())
            });
            self.problems.push(KubeError::manifest(
                dir,
                None,
                format!(
                    "is a symlink back to {}, a directory that holds it, so its manifests would be read over and over; remove the link",
                    shown.map_or_else(|| "a parent directory".to_owned(), |s| format!("{s:?}"))
                ),
            ));
            return Ok(());
        }
        self.ancestors.push(canonical);
        let result = self.read(dir, &full);
        self.ancestors.pop();
        result
    }

    fn read(&mut self, dir: &str, full: &Path) -> Result<(), KubeError> {
        let (root, tools) = (self.root, self.tools);
        if let Some(file) = KUSTOMIZATION.iter().find(|f| full.join(f).is_file()) {
            // Nothing outside the repository, nothing remote: checked before
            // kustomize reads anything.
            let checked = kustomize::check(root, dir);
            if !checked.problems.is_empty() {
                self.problems.extend(checked.problems);
                return Ok(());
            }
            let (rendered, secrets) = match kustomize::render(full, dir, &checked, tools) {
                Ok(rendered) => rendered,
                // A SOPS file that does not decrypt is the file's problem.
                Err(e @ KubeError::Manifest { .. }) => {
                    self.problems.push(e);
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            let file = join(dir, file);
            match parse_yaml(&file, &rendered) {
                Ok(mut docs) => {
                    for doc in &mut docs {
                        if holds_any(&doc.value, &secrets) {
                            doc.secrets.clone_from(&secrets);
                        }
                    }
                    self.out.extend(docs);
                }
                Err(e) => push(self.problems, e),
            }
            return Ok(());
        }
        let mut entries: Vec<(String, PathBuf)> = std::fs::read_dir(full)
            .map_err(|e| KubeError::manifest(dir, None, format!("cannot read the directory: {e}")))?
            .filter_map(Result::ok)
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .filter(|(name, _)| !name.starts_with('.'))
            .collect();
        entries.sort();
        for (name, path) in entries {
            let rel = join(dir, &name);
            if self.excluded(&rel, &name) {
                continue;
            }
            if path.is_dir() {
                self.dir(&rel)?;
                continue;
            }
            let lower = name.to_ascii_lowercase();
            let json = lower.ends_with(".json");
            if !(json || lower.ends_with(".yaml") || lower.ends_with(".yml")) {
                continue;
            }
            let Some(text) = self.read_file(&rel, &path)? else {
                continue;
            };
            let format = if json {
                crate::sops::Format::Json
            } else {
                crate::sops::Format::Yaml
            };
            let parsed = match crate::sops::decrypt(&text, format, &tools.keys) {
                Ok(Some(plain)) => parse_decrypted(&rel, plain.values(), plain.secrets()),
                Ok(None) if json => parse_json(&rel, &text),
                Ok(None) => parse_yaml(&rel, &text),
                Err(e) => Err(KubeError::manifest(&rel, None, e.to_string())),
            };
            match parsed {
                Ok(docs) => self.out.extend(docs),
                Err(e) => push(self.problems, e),
            }
        }
        Ok(())
    }
}

impl Walk<'_> {
    /// Whether `rel` (named `name`) is excluded by the workload.
    fn excluded(&self, rel: &str, name: &str) -> bool {
        let within = rel
            .strip_prefix(self.top.as_str())
            .map_or(rel, |r| r.trim_start_matches('/'));
        self.exclude.iter().any(|(glob, by_path)| {
            if *by_path {
                glob.matches(within)
            } else {
                glob.matches(name)
            }
        })
    }

    /// The text of a manifest file; `None` (with a problem) when it is too
    /// large to be manifests or is not text.
    fn read_file(&mut self, rel: &str, path: &Path) -> Result<Option<String>, KubeError> {
        let cannot = |e: std::io::Error| {
            KubeError::manifest(rel, None, format!("cannot read the file: {e}"))
        };
        let size = std::fs::metadata(path).map_err(cannot)?.len();
        if size > MAX_FILE_BYTES {
            self.problems.push(KubeError::manifest(
                rel,
                None,
                format!(
                    "is {} MiB, larger than the {} MiB strata reads from one manifest file (the API server takes objects of at most 1.5 MiB); split it, or move what is not a manifest out of the workload's directory",
                    size / (1024 * 1024),
                    MAX_FILE_BYTES / (1024 * 1024)
                ),
            ));
            return Ok(None);
        }
        let bytes = std::fs::read(path).map_err(cannot)?;
        match String::from_utf8(bytes) {
            Ok(text) => Ok(Some(text)),
            Err(e) => {
                let offset = e.utf8_error().valid_up_to();
                self.problems.push(KubeError::manifest(
                    rel,
                    None,
                    format!(
                        "is not UTF-8 text (byte {offset} is not; a binary file?): manifests are YAML or JSON text; remove it, or rename it so that its name does not end in .yaml, .yml or .json"
                    ),
                ));
                Ok(None)
            }
        }
    }
}

/// The largest manifest file strata reads: far more than any set of
/// objects needs (one object is at most 1.5 MiB), far less than would
/// take minutes and gigabytes to parse.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Whether a string in `value` is, or holds, one of `secrets` (a value
/// decrypted for a kustomize generator: the object it made is secret).
fn holds_any(value: &serde_json::Value, secrets: &std::collections::BTreeSet<String>) -> bool {
    match value {
        serde_json::Value::String(s) => secrets
            .iter()
            .any(|secret| s == secret || (secret.len() >= 4 && s.contains(secret.as_str()))),
        serde_json::Value::Array(items) => items.iter().any(|v| holds_any(v, secrets)),
        serde_json::Value::Object(map) => map.values().any(|v| holds_any(v, secrets)),
        _ => false,
    }
}

/// Adds `e` to `problems`, each of several on its own.
fn push(problems: &mut Vec<KubeError>, e: KubeError) {
    match e {
        KubeError::Invalid(all) => problems.extend(all),
        one => problems.push(one),
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir == "." || dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}
