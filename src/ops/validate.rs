//! `strata validate`: static checks only — strata.hcl, the syntax of every
//! Terraform file of every stack, and that every path exists. No plan, no
//! cluster, no Terraform process.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Environment, Error, SourceOptions, checkout};
use crate::config;
use crate::interrupt::Interrupt;
use crate::report::Source;

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
    pub problems: Vec<Problem>,
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
    for stack in &config.stacks {
        let files = terraform_files(&snapshot.root, &stack.path)?;
        for file in &files {
            if let Some(p) = check_file(&snapshot.root, file)? {
                problems.push(p);
            }
        }
        stacks.push(CheckedStack {
            name: stack.name.clone(),
            path: stack.path.clone(),
            files: files.len(),
        });
    }
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
        workloads: config
            .workloads
            .iter()
            .map(|w| CheckedWorkload {
                name: w.name.clone(),
                path: w.path.clone(),
            })
            .collect(),
        problems,
    })
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
            let _ = writeln!(out, "{}:{}:{}: {}", p.file, p.line, p.column, p.message);
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
            "{}: {} stack(s) ({}), {} workload(s) ({}); {} Terraform file(s) checked; configuration from {}.",
            if self.valid { "Valid" } else { "Invalid" },
            self.stacks.len(),
            names(self.stacks.iter().map(|s| s.name.as_str()).collect()),
            self.workloads.len(),
            names(self.workloads.iter().map(|w| w.name.as_str()).collect()),
            files,
            self.config,
        );
        out
    }

    pub fn render_markdown(&self) -> String {
        use std::fmt::Write as _;
        let mut out = format!(
            "## strata validate: {}\n\n",
            if self.valid { "valid" } else { "invalid" }
        );
        if !self.problems.is_empty() {
            out.push_str("| File | Line | Problem |\n|---|---|---|\n");
            for p in &self.problems {
                let _ = writeln!(
                    out,
                    "| `{}` | {}:{} | {} |",
                    p.file,
                    p.line,
                    p.column,
                    p.message.replace('|', "\\|").replace('\n', "<br>")
                );
            }
            out.push('\n');
        }
        out.push_str("| Kind | Name | Path |\n|---|---|---|\n");
        for s in &self.stacks {
            let _ = writeln!(out, "| stack | `{}` | `{}` |", s.name, s.path);
        }
        for w in &self.workloads {
            let _ = writeln!(out, "| workload | `{}` | `{}` |", w.name, w.path);
        }
        out
    }
}
