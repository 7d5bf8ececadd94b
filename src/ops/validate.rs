//! `strata validate`: static checks only — strata.hcl, the syntax of every
//! Terraform file of every stack, every workload's manifests (they parse,
//! name their apiVersion, kind and name, appear once, and reference only
//! stacks that exist), and that every path exists. No plan, no cluster, no
//! Terraform process.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Environment, Error, SourceOptions, checkout};
use crate::config;
use crate::interrupt::Interrupt;
use crate::report::Source;
use crate::report::markdown::{Doc, Row};

#[derive(Debug, Clone)]
pub struct ValidateOptions {
    pub source: SourceOptions,
    pub env: Environment,
}

/// What `validate` found. Invalid configuration is an `Err`; syntax
/// problems in Terraform files are listed here, all of them at once.
#[derive(Debug, Clone, Serialize)]
pub struct ValidateReport {
    pub version: u32,
    pub command: &'static str,
    pub source: Source,
    pub valid: bool,
    /// "strata.hcl", or "discovered" when the layout was discovered.
    pub config: String,
    pub stacks: Vec<CheckedStack>,
    pub workloads: Vec<CheckedWorkload>,
    /// The policies, each compiled.
    pub policies: Vec<CheckedPolicy>,
    pub problems: Vec<Problem>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckedPolicy {
    pub name: String,
    pub path: String,
    /// Whether it compiled: its problems are in `problems` if not.
    pub compiled: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckedStack {
    pub name: String,
    pub path: String,
    pub files: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckedWorkload {
    pub name: String,
    pub path: String,
    /// How many objects its manifests hold.
    pub objects: usize,
}

/// A problem at a place in a file of the repository.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// # Errors
/// Source, state directory and configuration errors.
pub async fn validate(
    opts: &ValidateOptions,
    ui: &crate::ui::Ui,
    interrupt: &Interrupt,
) -> Result<ValidateReport, Error> {
    let (_state, snapshot) = checkout(&opts.source, &opts.env, "validate", ui, interrupt).await?;
    let config = config::load(&snapshot.root)?;
    let mut problems = Vec::new();
    let mut stacks = Vec::new();
    let keys = crate::sops::Keys::from_env(&opts.env);
    for stack in &config.stacks {
        let files = terraform_files(&snapshot.root, &stack.path)?;
        for file in &files {
            if let Some(p) = check_file(&snapshot.root, file)? {
                problems.push(p);
            }
        }
        // Var files encrypted with SOPS decrypt, with a MAC that matches.
        for var_file in stack.var_file_paths() {
            let text = std::fs::read_to_string(snapshot.root.join(&var_file)).unwrap_or_default();
            let format = crate::sops::Format::of_path(&var_file);
            if let Err(e) = crate::sops::decrypt(&text, format, &keys) {
                problems.push(Problem {
                    file: var_file,
                    line: 0,
                    column: 0,
                    message: e.to_string(),
                });
            }
        }
        stacks.push(CheckedStack {
            name: stack.name.clone(),
            path: stack.path.clone(),
            files: files.len(),
        });
    }
    let tools = super::workloads::tools(&opts.env);
    let stack_names: Vec<&str> = config.stacks.iter().map(|s| s.name.as_str()).collect();
    let mut workloads = Vec::new();
    let mut loaded = Vec::new();
    for w in &config.workloads {
        let objects =
            match crate::kube::manifest::load_all(&snapshot.root, &w.path, &w.exclude, &tools) {
                Ok((manifests, broken)) => {
                    problems.extend(broken.iter().map(|e| kube_problem(e, &w.path)));
                    problems.extend(manifest_problems(
                        &manifests,
                        w.namespace.as_deref(),
                        &stack_names,
                    ));
                    let count = manifests.len();
                    loaded.push((w, manifests));
                    count
                }
                Err(e) => {
                    problems.push(kube_problem(&e, &w.path));
                    0
                }
            };
        workloads.push(CheckedWorkload {
            name: w.name.clone(),
            path: w.path.clone(),
            objects,
        });
    }
    problems.extend(claimed_twice(&loaded));
    let errors = crate::policy::load(&snapshot.root, &config.policies)
        .err()
        .unwrap_or_default();
    problems.extend(errors.iter().map(|e| policy_problem(e, &config)));
    let policies = (config.policies.iter())
        .map(|p| CheckedPolicy {
            name: p.name.clone(),
            path: p.path.clone(),
            compiled: !errors
                .iter()
                .any(|e| e.policy().is_none_or(|name| name == p.name)),
        })
        .collect();
    Ok(ValidateReport {
        version: crate::report::VERSION,
        command: "validate",
        source: (&snapshot).into(),
        valid: problems.is_empty(),
        config: match config.origin {
            config::Origin::File => config::FILE_NAME.to_owned(),
            config::Origin::Discovered => "discovered".to_owned(),
        },
        stacks,
        workloads,
        policies,
        problems,
    })
}

/// Where a policy's problem is: the Rego or data file and line, or the
/// policy's block in strata.hcl.
fn policy_problem(error: &crate::policy::PolicyError, config: &config::Config) -> Problem {
    use crate::policy::PolicyError as E;
    match error {
        E::Compile {
            policy,
            file,
            line,
            column,
            message,
        } => Problem {
            file: file.clone(),
            line: *line,
            column: *column,
            message: format!("{message} (policy {policy:?})"),
        },
        E::Data {
            policy,
            file,
            message,
        } => Problem {
            file: file.clone(),
            line: 0,
            column: 0,
            message: format!("{message} (policy {policy:?})"),
        },
        other => {
            let line = match other {
                E::Empty { policy, .. } | E::NoPackage { policy, .. } => config
                    .policies
                    .iter()
                    .find(|p| &p.name == policy)
                    .map_or(0, |p| p.line),
                _ => 0,
            };
            Problem {
                file: config::FILE_NAME.to_owned(),
                line,
                column: 0,
                message: other.to_string(),
            }
        }
    }
}

/// Static problems of one workload's manifests.
fn manifest_problems(
    manifests: &[crate::kube::Manifest],
    namespace: Option<&str>,
    stacks: &[&str],
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut seen = std::collections::BTreeMap::new();
    for m in manifests {
        let at = |message: String| Problem {
            file: m.file.clone(),
            line: m.line,
            column: 0,
            message: format!("document {}: {message}", m.index),
        };
        if let Some(message) = crate::kube::set::unusable(&m.value) {
            problems.push(at(message));
            continue;
        }
        for (stack, output) in crate::kube::substitute::references(&m.value) {
            if !stacks.contains(&stack.as_str()) {
                problems.push(at(format!(
                    "${{stack.{stack}.{output}}}: there is no stack {stack:?}"
                )));
            }
        }
        let v = &m.value;
        let (group, _) = crate::kube::split_api_version(v["apiVersion"].as_str().unwrap_or(""));
        if let Err(message) = crate::kube::set::wave_of(v, group, v["kind"].as_str().unwrap_or(""))
        {
            problems.push(at(message));
        }
        let key = (
            group.to_owned(),
            v["kind"].as_str().unwrap_or("").to_owned(),
            v["metadata"]["namespace"]
                .as_str()
                .or(namespace)
                .unwrap_or("")
                .to_owned(),
            v["metadata"]["name"].as_str().unwrap_or("").to_owned(),
        );
        let here = format!("{} (document {})", m.file, m.index);
        if let Some(first) = seen.insert(key.clone(), here) {
            problems.push(at(format!(
                "{} {:?} is defined twice; first in {first}",
                key.1, key.3
            )));
        }
    }
    problems
}

/// The key an object is known by without a cluster: group, kind,
/// namespace (as written, else the workload's; none for kinds known to be
/// cluster-scoped, or defined cluster-scoped by a CRD of the repository)
/// and name.
type Key = (String, String, String, String);

fn object_key(
    v: &serde_json::Value,
    namespace: Option<&str>,
    cluster_scoped: &std::collections::BTreeSet<(String, String)>,
) -> Key {
    let (group, _) = crate::kube::split_api_version(v["apiVersion"].as_str().unwrap_or(""));
    let kind = v["kind"].as_str().unwrap_or("");
    let scoped = crate::kube::set::is_cluster_scoped(group, kind)
        || cluster_scoped.contains(&(group.to_owned(), kind.to_owned()));
    let namespace = if scoped {
        ""
    } else {
        v["metadata"]["namespace"]
            .as_str()
            .or(namespace)
            .unwrap_or("")
    };
    (
        group.to_owned(),
        kind.to_owned(),
        namespace.to_owned(),
        v["metadata"]["name"].as_str().unwrap_or("").to_owned(),
    )
}

/// Objects defined by two workloads (which `plan` refuses): each is named
/// at its definition in the later workload, with the first one's place.
fn claimed_twice(loaded: &[(&config::Workload, Vec<crate::kube::Manifest>)]) -> Vec<Problem> {
    let cluster_scoped: std::collections::BTreeSet<(String, String)> = loaded
        .iter()
        .flat_map(|(_, manifests)| manifests)
        .filter(|m| m.value["kind"] == "CustomResourceDefinition")
        .filter(|m| m.value["spec"]["scope"] == "Cluster")
        .filter_map(|m| {
            let spec = &m.value["spec"];
            Some((
                spec["group"].as_str()?.to_owned(),
                spec["names"]["kind"].as_str()?.to_owned(),
            ))
        })
        .collect();
    // Per context: workloads on different clusters may define the same
    // object.
    let mut first: std::collections::BTreeMap<(Option<&str>, Key), (&str, String)> =
        std::collections::BTreeMap::new();
    let mut problems = Vec::new();
    for (w, manifests) in loaded {
        for m in manifests {
            if crate::kube::set::unusable(&m.value).is_some() {
                continue;
            }
            let key = object_key(&m.value, w.namespace.as_deref(), &cluster_scoped);
            let here = format!("{} (document {})", m.file, m.index);
            match first.get(&(w.context.as_deref(), key.clone())) {
                Some((other, there)) if *other != w.name => {
                    let id = crate::kube::ObjectId {
                        group: key.0.clone(),
                        kind: key.1.clone(),
                        namespace: key.2.clone(),
                        name: key.3.clone(),
                    };
                    problems.push(Problem {
                        file: m.file.clone(),
                        line: m.line,
                        column: 0,
                        message: format!(
                            "document {}: {id} is also defined by workload {other:?} in {there}; an object belongs to one workload: remove one of the two definitions",
                            m.index
                        ),
                    });
                }
                Some(_) => {}
                None => {
                    first.insert((w.context.as_deref(), key), (w.name.as_str(), here));
                }
            }
        }
    }
    problems
}

fn kube_problem(e: &crate::kube::KubeError, dir: &str) -> Problem {
    match e {
        crate::kube::KubeError::Manifest {
            file,
            index,
            line,
            message,
        } => Problem {
            file: file.clone(),
            line: line.unwrap_or(0),
            column: 0,
            message: match index {
                Some(i) => format!("document {i}: {message}"),
                None => message.clone(),
            },
        },
        other => Problem {
            file: dir.to_owned(),
            line: 0,
            column: 0,
            message: other.to_string(),
        },
    }
}

/// The `*.tf` and `*.tf.json` files of a stack, sorted.
fn terraform_files(root: &Path, stack: &str) -> Result<Vec<PathBuf>, Error> {
    let dir = root.join(stack);
    let entries = std::fs::read_dir(&dir).map_err(|source| Error::Io {
        what: "cannot read",
        path: dir.clone(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            p.is_file() && (name.ends_with(".tf") || name.ends_with(".tf.json"))
        })
        .collect();
    files.sort();
    Ok(files)
}

fn check_file(root: &Path, file: &Path) -> Result<Option<Problem>, Error> {
    let text = std::fs::read_to_string(file).map_err(|source| Error::Io {
        what: "cannot read",
        path: file.to_owned(),
        source,
    })?;
    let shown = file
        .strip_prefix(root)
        .unwrap_or(file)
        .display()
        .to_string();
    if file.to_string_lossy().ends_with(".json") {
        return Ok(serde_json::from_str::<serde_json::Value>(&text)
            .err()
            .map(|e| Problem {
                file: shown,
                line: e.line(),
                column: e.column(),
                message: format!("invalid JSON: {e}"),
            }));
    }
    if let Some((line, column)) = crate::config::too_deep(&text) {
        // The parser could take minutes on it (and Terraform's own crashes
        // on much deeper nesting).
        return Ok(Some(Problem {
            file: shown,
            line,
            column,
            message: format!(
                "brackets nest more than {} levels deep here; no configuration needs that many: close the brackets",
                crate::config::MAX_NESTING
            ),
        }));
    }
    Ok(hcl::edit::parser::parse_body(&text).err().map(|e| Problem {
        file: shown,
        line: e.location().line(),
        column: e.location().column(),
        message: e.message().to_owned(),
    }))
}

impl ValidateReport {
    pub fn render_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        for p in &self.problems {
            // A position only where one is known: `file:line:column:`,
            // `file:line:`, or `file:`.
            let _ = match (p.line, p.column) {
                (0, _) => writeln!(out, "{}: {}", p.file, p.message),
                (line, 0) => writeln!(out, "{}:{line}: {}", p.file, p.message),
                (line, column) => writeln!(out, "{}:{line}:{column}: {}", p.file, p.message),
            };
        }
        let names = |v: Vec<&str>| {
            if v.is_empty() {
                "none".to_owned()
            } else {
                v.join(", ")
            }
        };
        let files: usize = self.stacks.iter().map(|s| s.files).sum();
        let _ = writeln!(
            out,
            "{}: {} stack(s) ({}), {} workload(s) ({}); {} Terraform file(s) and {} Kubernetes object(s) checked; configuration from {}.",
            if self.valid { "Valid" } else { "Invalid" },
            self.stacks.len(),
            names(self.stacks.iter().map(|s| s.name.as_str()).collect()),
            self.workloads.len(),
            names(self.workloads.iter().map(|w| w.name.as_str()).collect()),
            files,
            self.workloads.iter().map(|w| w.objects).sum::<usize>(),
            self.config,
        );
        let (compiled, broken): (Vec<&CheckedPolicy>, Vec<&CheckedPolicy>) =
            self.policies.iter().partition(|p| p.compiled);
        let plural = |n: usize| if n == 1 { "policy" } else { "policies" };
        if broken.is_empty() && !compiled.is_empty() {
            let _ = writeln!(
                out,
                "{} {} compiled ({}).",
                compiled.len(),
                plural(compiled.len()),
                names(compiled.iter().map(|p| p.name.as_str()).collect()),
            );
        } else if !broken.is_empty() {
            let _ = writeln!(
                out,
                "{} of {} {} compiled; {} did not (see above).",
                compiled.len(),
                self.policies.len(),
                plural(self.policies.len()),
                names(broken.iter().map(|p| p.name.as_str()).collect()),
            );
        }
        out
    }

    /// Problems first: a cut keeps them before the list of stacks and
    /// workloads.
    pub fn render_markdown(&self) -> Doc {
        let mut doc = Doc::new();
        doc.whole(
            0,
            "title",
            format!(
                "## strata validate: {}\n\n",
                if self.valid { "valid" } else { "invalid" }
            ),
        );
        let problems = self
            .problems
            .iter()
            .map(|p| {
                Row::new(
                    format!(
                        "| `{}` | {}:{} | {} |\n",
                        p.file,
                        p.line,
                        p.column,
                        p.message.replace('|', "\\|").replace('\n', "<br>")
                    ),
                    "problem(s)",
                )
            })
            .collect();
        doc.rows(
            1,
            "| File | Line | Problem |\n|---|---|---|\n".to_owned(),
            problems,
            "\n",
        );
        let items = self
            .stacks
            .iter()
            .map(|s| {
                Row::new(
                    format!("| stack | `{}` | `{}` |\n", s.name, s.path),
                    "stack(s)",
                )
            })
            .chain(self.workloads.iter().map(|w| {
                Row::new(
                    format!("| workload | `{}` | `{}` |\n", w.name, w.path),
                    "workload(s)",
                )
            }))
            .collect();
        doc.rows(
            2,
            "| Kind | Name | Path |\n|---|---|---|\n".to_owned(),
            items,
            "\n",
        );
        doc
    }
}
