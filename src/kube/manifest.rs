//! Reading a workload's manifests: YAML and JSON files, recursively,
//! multi-document, in a deterministic order (entries sorted by name); a
//! directory with a kustomization is rendered by `kustomize build` or
//! `kubectl kustomize` instead.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::{KubeError, values};

/// File names that make a directory a kustomization.
pub(super) const KUSTOMIZATION: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// One document of one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Repository-relative file (for a kustomization: the kustomization file).
    pub file: String,
    /// 1-based document index in the file (or in the rendered output).
    pub index: usize,
    /// 1-based line where the document starts.
    pub line: usize,
    pub value: Value,
}

/// How to find `kustomize` or `kubectl`.
#[derive(Debug, Clone, Default)]
pub struct Tools {
    /// The `PATH` to search.
    pub path: Option<OsString>,
    /// `HOME`, passed to the renderer.
    pub home: Option<OsString>,
}

/// Reads every manifest under `root/dir`.
///
/// # Errors
/// Unreadable files, broken YAML or JSON (with file, document and line),
/// documents that are not objects, and kustomizations that cannot be
/// rendered.
pub fn load(root: &Path, dir: &str, tools: &Tools) -> Result<Vec<Manifest>, KubeError> {
    let (out, mut problems) = load_all(root, dir, tools)?;
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
    tools: &Tools,
) -> Result<(Vec<Manifest>, Vec<KubeError>), KubeError> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut walk = Walk {
        root,
        tools,
        out: &mut out,
        problems: &mut problems,
        ancestors: Vec::new(),
    };
    walk.dir(dir)?;
    Ok((out, problems))
}

/// A walk through a workload's directories.
struct Walk<'a> {
    root: &'a Path,
    tools: &'a Tools,
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
            let refused = super::kustomize::check(root, dir);
            if !refused.is_empty() {
                self.problems.extend(refused);
                return Ok(());
            }
            let rendered = render(full, dir, tools)?;
            let file = join(dir, file);
            match parse_yaml(&file, &rendered) {
                Ok(docs) => self.out.extend(docs),
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
            let parsed = if json {
                parse_json(&rel, &text)
            } else {
                parse_yaml(&rel, &text)
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

/// Adds `e` to `problems`, each of several on its own.
fn push(problems: &mut Vec<KubeError>, e: KubeError) {
    match e {
        KubeError::Invalid(all) => problems.extend(all),
        one => problems.push(one),
    }
}

/// One problem, or all of them.
fn one_or_all(mut problems: Vec<KubeError>) -> KubeError {
    if problems.len() == 1 {
        problems.remove(0)
    } else {
        KubeError::Invalid(problems)
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir == "." || dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// Parses a JSON file: one object, or a `List` of them.
pub fn parse_json(file: &str, text: &str) -> Result<Vec<Manifest>, KubeError> {
    let value: Value = serde_json::from_str(text).map_err(|e| KubeError::Manifest {
        file: file.to_owned(),
        index: None,
        line: Some(e.line()),
        message: format!("invalid JSON: {e}"),
    })?;
    let source = Source {
        file,
        index: 1,
        line: 1,
        doc: text,
        yaml: false,
    };
    let mut problems = Vec::new();
    let docs = documents(&source, value, &[], &mut problems)?;
    if problems.is_empty() {
        Ok(docs)
    } else {
        Err(one_or_all(problems))
    }
}

/// Parses a multi-document YAML text. Documents are split at `---` lines so
/// that errors can name the document and the line in the file.
pub fn parse_yaml(file: &str, text: &str) -> Result<Vec<Manifest>, KubeError> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, (start, doc)) in split_documents(text).into_iter().enumerate() {
        let index = i + 1;
        let value: Option<Value> = serde_saphyr::from_str(&doc).map_err(|e| {
            let (line, message) = yaml_error(&e, start);
            KubeError::Manifest {
                file: file.to_owned(),
                index: Some(index),
                line,
                message: format!("invalid YAML: {message}"),
            }
        })?;
        let Some(value) = value else { continue };
        let source = Source {
            file,
            index,
            line: start,
            doc: &doc,
            yaml: true,
        };
        out.extend(documents(&source, value, &[], &mut problems)?);
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(one_or_all(problems))
    }
}

/// Where a parsed document came from.
struct Source<'a> {
    file: &'a str,
    /// 1-based document index in the file.
    index: usize,
    /// 1-based line of the document's first line in the file.
    line: usize,
    /// The document's text.
    doc: &'a str,
    /// YAML rather than JSON: unquoted scalars explain wrong types.
    yaml: bool,
}

/// The message of a YAML error without its source excerpt, and its line
/// in the file.
fn yaml_error(e: &serde_saphyr::Error, start: usize) -> (Option<usize>, String) {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // "line L column C: message"
    let message = match first.strip_prefix("line ") {
        Some(rest) => rest
            .split_once(": ")
            .map_or(first, |(_, message)| message)
            .to_owned(),
        None => first.to_owned(),
    };
    // The parser's hints are for programmers using it; say what to do.
    let message = match message.split_once(", set DuplicateKeyPolicy") {
        Some((what, _)) => {
            format!("{what}: a key may appear once in a mapping; remove one of them")
        }
        None if message.starts_with("budget breached") => format!(
            "the document expands beyond what strata reads ({message}): an alias bomb, or nesting far deeper than any manifest; write the values out instead of repeating aliases"
        ),
        None => message,
    };
    let line = e
        .location()
        .and_then(|l| usize::try_from(l.line()).ok())
        .filter(|l| *l > 0)
        .map(|l| start + l - 1);
    (line, message)
}

/// Splits at lines that are a document marker (`---`, optionally followed
/// by a space and more), returning each document with its first line.
fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut current = String::new();
    let mut start = 1;
    for (i, line) in text.lines().enumerate() {
        let marker = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        if marker {
            // A marker on the first line opens the first document.
            if i > 0 {
                docs.push((start, std::mem::take(&mut current)));
            }
            // Content after the marker (`--- # comment`, `--- !tag`) stays.
            current.push_str(&" ".repeat(3));
            current.push_str(&line[3..]);
            current.push('\n');
            start = i + 1;
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    if !current.trim().is_empty() {
        docs.push((start, current));
    }
    docs
}

/// A parsed document: an object, or a `List` whose items are objects.
/// Values the API server would refuse (see [`values`]) go to `problems`,
/// each at its line, with what YAML made of the text.
fn documents(
    source: &Source<'_>,
    value: Value,
    at: &[String],
    problems: &mut Vec<KubeError>,
) -> Result<Vec<Manifest>, KubeError> {
    let Value::Object(map) = &value else {
        return Err(KubeError::Manifest {
            file: source.file.to_owned(),
            index: Some(source.index),
            line: Some(source.line),
            message: format!(
                "expected a Kubernetes object (a mapping with apiVersion and kind), found {}",
                type_name(&value)
            ),
        });
    };
    let is_list = map.get("kind").and_then(Value::as_str) == Some("List")
        || map
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k.ends_with("List") && map.get("items").is_some_and(Value::is_array));
    if is_list {
        let items = map
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut out = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let mut path = at.to_vec();
            path.extend(["items".to_owned(), i.to_string()]);
            out.extend(documents(source, item, &path, problems)?);
        }
        return Ok(out);
    }
    // References are checked once substituted.
    for problem in values::problems(&value, |text| text.contains("${")) {
        let mut path = at.to_vec();
        path.extend(problem.path.iter().cloned());
        let (line, raw) = match values::locate(source.doc, &path) {
            Some((line, raw)) => (source.line + line - 1, Some(raw)),
            None => (source.line, None),
        };
        problems.push(KubeError::Manifest {
            file: source.file.to_owned(),
            index: Some(source.index),
            line: Some(line),
            message: values::message(
                &value,
                &problem,
                raw.as_deref().filter(|r| !r.is_empty()),
                source.yaml,
            ),
        });
    }
    Ok(vec![Manifest {
        file: source.file.to_owned(),
        index: source.index,
        line: source.line,
        value,
    }])
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Renders a kustomization with `kustomize build`, else `kubectl
/// kustomize`, whichever is on PATH first in that order.
fn render(full: &Path, dir: &str, tools: &Tools) -> Result<String, KubeError> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let find = |name: &str| which::which_in(name, tools.path.as_ref(), &cwd).ok();
    let mut command = if let Some(kustomize) = find("kustomize") {
        let mut c = Command::new(kustomize);
        c.arg("build");
        c
    } else if let Some(kubectl) = find("kubectl") {
        let mut c = Command::new(kubectl);
        c.arg("kustomize");
        c
    } else {
        return Err(KubeError::Render {
            dir: dir.to_owned(),
            message: "neither kustomize nor kubectl is on PATH; install one of them \
                      (https://kubectl.docs.kubernetes.io/installation/)"
                .to_owned(),
        });
    };
    command.arg(full).env_clear();
    if let Some(path) = &tools.path {
        command.env("PATH", path);
    }
    if let Some(home) = &tools.home {
        command.env("HOME", home);
    }
    let output = command.output().map_err(|e| KubeError::Render {
        dir: dir.to_owned(),
        message: format!("cannot run {:?}: {e}", command.get_program()),
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(KubeError::Render {
            dir: dir.to_owned(),
            message: stderr.trim().to_owned(),
        });
    }
    String::from_utf8(output.stdout).map_err(|_| KubeError::Render {
        dir: dir.to_owned(),
        message: "the rendered output is not UTF-8".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_split_with_their_lines() {
        let text = "# a comment\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n";
        let docs = parse_yaml("x.yaml", text).expect("parses");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].value["metadata"]["name"], "a");
        assert_eq!((docs[0].index, docs[0].line), (1, 1));
        assert_eq!(docs[1].value["metadata"]["name"], "b");
        assert_eq!(docs[1].index, 3);
        assert_eq!(docs[1].line, 6);
    }

    #[test]
    fn yaml_errors_name_the_file_document_and_line() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\ndata: [1\nkind: x\n";
        let err = parse_yaml("k8s/apps/x.yaml", text).expect_err("broken");
        let message = err.to_string();
        assert!(
            message.starts_with("k8s/apps/x.yaml:7 (document 2): invalid YAML:"),
            "{message}"
        );
    }

    #[test]
    fn lists_are_expanded_and_scalars_refused() {
        let docs = parse_json(
            "l.json",
            r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}},{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"}}]}"#,
        )
        .expect("parses");
        assert_eq!(docs.len(), 2);
        let err = parse_yaml("s.yaml", "just a string\n").expect_err("scalar");
        assert!(err.to_string().contains("found a string"), "{err}");
    }
}
