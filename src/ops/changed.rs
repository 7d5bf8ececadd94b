//! Changed-only runs (`plan --changed`, `apply --changed`, and `watch` on
//! a new commit): which stacks and workloads a commit affects.
//!
//! Every run fingerprints the inputs of what it plans, and an apply
//! records the fingerprint of each stack and workload it leaves applied or
//! in sync (see [`crate::runs::ConvergedStore`]). A changed-only run plans
//! only those whose fingerprint differs from that record, or that have
//! none; the rest are reported as skipped, "unchanged since <commit>".
//!
//! A stack's inputs are the files under its path and under the local
//! modules it calls (recursively), its var and backend configuration
//! files, its block in `strata.hcl`, the `terraform` settings, and the
//! fingerprints of the stacks it depends on. The last makes everything
//! downstream of a changed stack changed too, and a stack applied alone
//! (`--stack`) changes what depends on it until that is applied in turn.
//!
//! A workload's inputs are its manifests as rendered (kustomize included),
//! its block, its cluster, the objects it carries for `outputs` blocks,
//! and the fingerprints of the stacks whose outputs it uses or that it
//! depends on. Outputs are not read: a stack whose inputs did not change
//! since it was applied has the outputs it had then.
//!
//! What a fingerprint cannot see (a `TF_VAR_` variable, a provider's own
//! drift, a `kubectl edit`) is what `drift`, and `watch`'s resync, are
//! for: they always plan everything.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::publish::Layout;
use crate::config::{Config, Stack};
use crate::report::{Report, StackReport, StackStatus, WorkloadReport};
use crate::runs::{Converged, ConvergedStore, Layer, Run};
use crate::terraform::init::Requirements;

/// Bumped when what a fingerprint covers changes: every record then
/// differs, and the next changed-only run plans everything once.
const VERSION: &str = "strata-inputs 1";

/// Blob ids by path relative to the project root (see
/// [`crate::source::Snapshot::file_ids`]).
pub(crate) type Files = BTreeMap<String, String>;

/// Fingerprints by name; `None` where the inputs could not all be read
/// (then it is always planned).
pub(crate) type Fingerprints = BTreeMap<String, Option<String>>;

/// The fingerprint of every stack of `config`, read from the tree at
/// `root` whose files are `files`.
pub(crate) fn stacks(config: &Config, root: &Path, files: &Files) -> Fingerprints {
    let mut memo = Fingerprints::new();
    let canonical_root = root.canonicalize().ok();
    for stack in &config.stacks {
        stack_fingerprint(
            config,
            (root, canonical_root.as_deref()),
            files,
            &stack.name,
            &mut memo,
            &mut Vec::new(),
        );
    }
    memo
}

fn stack_fingerprint(
    config: &Config,
    root: (&Path, Option<&Path>),
    files: &Files,
    name: &str,
    memo: &mut Fingerprints,
    visiting: &mut Vec<String>,
) -> Option<String> {
    if let Some(known) = memo.get(name) {
        return known.clone();
    }
    // A cycle or an unknown dependency is the configuration's error.
    let stack = config.stack(name)?;
    if visiting.iter().any(|v| v == name) {
        return None;
    }
    visiting.push(name.to_owned());
    let mut deps: Vec<&String> = stack.depends_on.iter().collect();
    deps.sort();
    let mut upstream = String::new();
    let mut known = true;
    for dep in deps {
        match stack_fingerprint(config, root, files, dep, memo, visiting) {
            Some(fp) => {
                let _ = writeln!(upstream, "after {dep} {fp}");
            }
            None => known = false,
        }
    }
    visiting.pop();
    let fingerprint = known
        .then(|| own_inputs(config, root, files, stack))
        .flatten()
        .map(|own| digest(&format!("{own}{upstream}")));
    memo.insert(name.to_owned(), fingerprint.clone());
    fingerprint
}

/// A stack's own inputs, as text: its block, the `terraform` settings,
/// and every file it reads.
fn own_inputs(
    config: &Config,
    (root, canonical_root): (&Path, Option<&Path>),
    files: &Files,
    stack: &Stack,
) -> Option<String> {
    let mut text = String::new();
    let _ = writeln!(text, "{VERSION}");
    let _ = writeln!(text, "stack {}", block(stack)?);
    let _ = writeln!(
        text,
        "terraform {}",
        serde_json::to_string(&config.terraform).ok()?
    );
    let requirements = Requirements::read(&root.join(&stack.path));
    if requirements.unreadable {
        return None;
    }
    let mut dirs = BTreeSet::from([normalized(&stack.path)]);
    for dir in &requirements.local_dirs {
        // A local module outside the repository is read from wherever it
        // is on this machine: nothing to compare.
        let rel = dir.strip_prefix(canonical_root?).ok()?;
        dirs.insert(normalized(&rel.to_string_lossy()));
    }
    // Another environment's var files beside its own (`prod.tfvars` for
    // `net-prod`, in a path `net-staging` shares) are not its input.
    let mine: BTreeSet<String> = stack
        .var_file_paths()
        .into_iter()
        .chain(stack.backend_config_file_paths())
        .collect();
    let theirs: BTreeSet<String> = config
        .stacks
        .iter()
        .filter(|s| s.name != stack.name && s.path == stack.path)
        .flat_map(|s| {
            s.var_file_paths()
                .into_iter()
                .chain(s.backend_config_file_paths())
        })
        .filter(|p| !mine.contains(p))
        .collect();
    for dir in &dirs {
        for (path, id) in under(files, dir).filter(|(p, _)| !theirs.contains(*p)) {
            let _ = writeln!(text, "file {path} {id}");
        }
    }
    for path in &mine {
        let id = files.get(path).map_or("missing", String::as_str);
        let _ = writeln!(text, "config file {path} {id}");
    }
    Some(text)
}

/// The fingerprint of every workload of `layout` (configured ones and
/// `outputs` carriers), given the stacks' fingerprints and the run's
/// default context.
pub(crate) fn workloads(
    layout: &Layout,
    stacks: &Fingerprints,
    context: Option<&str>,
) -> Fingerprints {
    layout
        .workloads
        .iter()
        .map(|w| {
            let fingerprint = (|| {
                let mut text = String::new();
                let _ = writeln!(text, "{VERSION}");
                let _ = writeln!(text, "workload {}", block(w)?);
                let _ = writeln!(
                    text,
                    "context {}",
                    w.context.as_deref().or(context).unwrap_or("")
                );
                if !Layout::is_own_carrier(w) {
                    let _ = writeln!(text, "rendered {}", layout.rendered.get(&w.name)?);
                }
                for p in layout.published.iter().filter(|p| p.carrier == w.name) {
                    let _ = writeln!(
                        text,
                        "publishes {} {}/{} {}",
                        p.stack, p.object.namespace, p.object.name, p.sensitive
                    );
                }
                for stack in super::workloads::stacks_needed(layout, w) {
                    // Workloads it depends on only order it.
                    if let Some(fp) = stacks.get(&stack) {
                        let _ = writeln!(text, "stack {stack} {}", fp.as_ref()?);
                    }
                }
                Some(digest(&text))
            })();
            (w.name.clone(), fingerprint)
        })
        .collect()
}

/// `items` without those whose inputs are still the ones they last
/// converged with, each of which is handed to `skip` with that record.
pub(crate) fn keep_changed<T>(
    items: Vec<T>,
    (store, layer, fingerprints): (&ConvergedStore, Layer, &Fingerprints),
    name: impl Fn(&T) -> &str,
    mut skip: impl FnMut(&T, &Converged),
) -> Vec<T> {
    items
        .into_iter()
        .filter(|item| {
            let name = name(item);
            let unchanged = fingerprints
                .get(name)
                .and_then(Option::as_ref)
                .and_then(|current| {
                    store
                        .get(layer, name)
                        .filter(|record| &record.inputs == current)
                });
            if let Some(since) = &unchanged {
                skip(item, since);
            }
            unchanged.is_none()
        })
        .collect()
}

/// What a changed-only run left alone, for its reports.
#[derive(Debug, Clone, Default)]
pub(crate) struct Skipped {
    pub stacks: Vec<StackReport>,
    pub workloads: Vec<WorkloadReport>,
}

impl Skipped {
    /// `report` with what was left alone among what was run, in
    /// configuration order.
    pub fn merge_into(&self, mut report: Report, config: &Config, layout: &Layout) -> Report {
        if self.stacks.is_empty() && self.workloads.is_empty() {
            return report;
        }
        report.stacks.extend(self.stacks.iter().cloned());
        report
            .stacks
            .sort_by_key(|s| config.stacks.iter().position(|c| c.name == s.name));
        report.workloads.extend(self.workloads.iter().cloned());
        report
            .workloads
            .sort_by_key(|w| layout.workloads.iter().position(|c| c.name == w.name));
        report
    }
}

/// Records, after an apply, the inputs each stack and workload that the
/// report shows applied or in sync converged with. A record that cannot
/// be written only means it is planned again next time.
pub(crate) fn record(store: &ConvergedStore, run: &Run, report: &Report) {
    if run.command != "apply" {
        return;
    }
    let converged =
        |status: StackStatus| matches!(status, StackStatus::Applied | StackStatus::InSync);
    let now = jiff::Timestamp::now();
    let put = |layer: Layer, name: &str, inputs: &Option<String>| {
        let Some(inputs) = inputs else { return };
        let record = Converged {
            inputs: inputs.clone(),
            commit: run.source.commit.clone(),
            run: run.id.clone(),
            at: now,
        };
        if let Err(e) = store.put(layer, name, &record) {
            tracing::warn!(name, error = %crate::error_chain(&e), "cannot record what it converged with; the next --changed run plans it again");
        }
    };
    for s in report.stacks.iter().filter(|s| converged(s.status)) {
        if let Some(planned) = run.stacks.iter().find(|r| r.name == s.name) {
            put(Layer::Stack, &s.name, &planned.inputs);
        }
    }
    for w in report.workloads.iter().filter(|w| converged(w.status)) {
        if let Some(planned) = run.workloads.iter().find(|r| r.name == w.name) {
            put(Layer::Workload, &w.name, &planned.inputs);
        }
    }
}

/// A configuration block as JSON, without its line in `strata.hcl`
/// (moving a block is not changing it).
fn block(value: &impl serde::Serialize) -> Option<String> {
    let mut json = serde_json::to_value(value).ok()?;
    if let Some(object) = json.as_object_mut() {
        object.remove("line");
    }
    Some(json.to_string())
}

/// A repository-relative directory without `./` or a trailing `/`; empty
/// for the root.
fn normalized(dir: &str) -> String {
    let trimmed = dir.trim_end_matches('/');
    let trimmed = trimmed.strip_prefix("./").unwrap_or(trimmed);
    if trimmed == "." {
        String::new()
    } else {
        trimmed.to_owned()
    }
}

/// The files under `dir` (every file for the root).
fn under<'a>(files: &'a Files, dir: &str) -> impl Iterator<Item = (&'a String, &'a String)> {
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    files
        .range(prefix.clone()..)
        .take_while(move |(path, _)| path.starts_with(&prefix))
}

fn digest(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(entries: &[(&str, &str)]) -> Files {
        entries
            .iter()
            .map(|(p, id)| ((*p).to_owned(), (*id).to_owned()))
            .collect()
    }

    fn config(dir: &Path, hcl: &str, tree: &[(&str, &str)]) -> Config {
        for (path, text) in tree {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        std::fs::write(dir.join("strata.hcl"), hcl).unwrap();
        crate::config::load(dir).unwrap()
    }

    const HCL: &str = r#"
stack "net" {
  path = "stacks/net"
}
stack "app" {
  path       = "stacks/app"
  depends_on = ["net"]
}
stack "other" {
  path = "stacks/other"
}
"#;

    fn tree() -> Vec<(&'static str, &'static str)> {
        vec![
            ("stacks/net/main.tf", "output \"id\" { value = 1 }\n"),
            (
                "stacks/app/main.tf",
                "module \"m\" {\n  source = \"../../modules/m\"\n}\n",
            ),
            ("modules/m/main.tf", "output \"x\" { value = 2 }\n"),
            ("stacks/other/main.tf", "output \"y\" { value = 3 }\n"),
        ]
    }

    fn ids() -> Vec<(&'static str, &'static str)> {
        vec![
            ("stacks/net/main.tf", "n1"),
            ("stacks/app/main.tf", "a1"),
            ("modules/m/main.tf", "m1"),
            ("stacks/other/main.tf", "o1"),
            ("stacks/network/main.tf", "x1"),
            ("README.md", "r1"),
        ]
    }

    #[test]
    fn a_change_reaches_its_stack_its_callers_and_their_dependents_only() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), HCL, &tree());
        let before = stacks(&config, dir.path(), &files(&ids()));
        assert!(before.values().all(Option::is_some));

        let changed = |path: &str| {
            let mut moved = ids();
            for entry in &mut moved {
                if entry.0 == path {
                    entry.1 = "changed";
                }
            }
            let after = stacks(&config, dir.path(), &files(&moved));
            let mut differ: Vec<String> = after
                .iter()
                .filter(|(name, fp)| before[*name] != **fp)
                .map(|(name, _)| name.clone())
                .collect();
            differ.sort_unstable();
            differ
        };
        assert_eq!(changed("stacks/net/main.tf"), ["app", "net"]);
        assert_eq!(changed("modules/m/main.tf"), ["app"]);
        assert_eq!(changed("stacks/other/main.tf"), ["other"]);
        // A sibling directory whose name starts the same is not under it.
        assert_eq!(changed("stacks/network/main.tf"), Vec::<String>::new());
        assert_eq!(changed("README.md"), Vec::<String>::new());
    }

    #[test]
    fn a_block_moved_in_strata_hcl_is_not_changed_but_an_edited_one_is() {
        let dir = tempfile::tempdir().unwrap();
        let before = stacks(
            &config(dir.path(), HCL, &tree()),
            dir.path(),
            &files(&ids()),
        );
        let moved = format!("\n\n# a comment\n{HCL}");
        let after = stacks(
            &config(dir.path(), &moved, &tree()),
            dir.path(),
            &files(&ids()),
        );
        assert_eq!(before, after);
        let edited = HCL.replace(
            "path = \"stacks/other\"",
            "path = \"stacks/other\"\n  vars = { x = 1 }",
        );
        let after = stacks(
            &config(dir.path(), &edited, &tree()),
            dir.path(),
            &files(&ids()),
        );
        assert_eq!(before["net"], after["net"]);
        assert_ne!(before["other"], after["other"]);
    }

    #[test]
    fn one_environments_var_file_is_not_anothers_input() {
        let dir = tempfile::tempdir().unwrap();
        let hcl = "stack \"net-staging\" {\n  path = \"infra/net\"\n  var_files = [\"staging.tfvars\"]\n}\nstack \"net-prod\" {\n  path = \"infra/net\"\n  var_files = [\"prod.tfvars\"]\n}\n";
        let tree = [
            ("infra/net/main.tf", "variable \"env\" {}\n"),
            ("infra/net/staging.tfvars", "env = \"staging\"\n"),
            ("infra/net/prod.tfvars", "env = \"prod\"\n"),
        ];
        let config = config(dir.path(), hcl, &tree);
        let ids = |prod: &str| {
            files(&[
                ("infra/net/main.tf", "t1"),
                ("infra/net/staging.tfvars", "s1"),
                ("infra/net/prod.tfvars", prod),
            ])
        };
        let before = stacks(&config, dir.path(), &ids("p1"));
        let after = stacks(&config, dir.path(), &ids("p2"));
        assert_eq!(before["net-staging"], after["net-staging"]);
        assert_ne!(before["net-prod"], after["net-prod"]);
    }

    #[test]
    fn unreadable_terraform_is_never_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let mut broken = tree();
        broken[3] = ("stacks/other/main.tf", "output \"y\" {");
        let fps = stacks(
            &config(dir.path(), HCL, &broken),
            dir.path(),
            &files(&ids()),
        );
        assert_eq!(fps["other"], None);
        assert!(fps["net"].is_some());
    }
}
