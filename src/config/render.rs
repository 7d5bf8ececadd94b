//! [`Config`] -> `strata.hcl` text, for `strata init`.
//!
//! The output is meant to be read and edited by people: a short header,
//! aligned `=`, defaults shown as comments where leaving them out is the
//! normal case. Parsing the output yields the same configuration (apart from
//! `origin` and line numbers), which the round-trip tests check.

use std::fmt::Write;

use serde_json::Value;

use super::duration;
use super::model::{Config, NotifyEvent, TerraformSettings, Webhook};

const HEADER: &str = "\
# strata.hcl: what strata converges from this repository.
#
# Stacks are Terraform root modules, workloads are Kubernetes manifests
# (plain YAML/JSON or a kustomization). Paths are relative to the repository
# root; values must be literals. Check changes with `strata validate`.
";

/// Renders `config` as `strata.hcl` text.
pub fn render(config: &Config) -> String {
    let mut out = String::from(HEADER);
    render_terraform(&mut out, &config.terraform);

    for stack in &config.stacks {
        let mut block = Block::new(format!("stack {}", quote(&stack.name)));
        block.attr("path", quote(&stack.path));
        if !stack.var_files.is_empty() {
            block.attr("var_files", string_list(&stack.var_files));
        }
        if !stack.vars.is_empty() {
            let mut vars = String::from("{\n");
            let width = stack.vars.keys().map(|k| key(k).len()).max().unwrap_or(0);
            for (name, value) in &stack.vars {
                let _ = writeln!(
                    vars,
                    "    {:width$} = {}",
                    key(name),
                    value_text(value, quote_with_refs)
                );
            }
            vars.push_str("  }");
            block.attr("vars", vars);
        }
        if !stack.backend_config.is_empty() {
            let value = Value::Object(stack.backend_config.clone().into_iter().collect());
            block.attr("backend_config", value_text(&value, quote));
        }
        if !stack.backend_config_files.is_empty() {
            block.attr(
                "backend_config_files",
                string_list(&stack.backend_config_files),
            );
        }
        if let Some(workspace) = &stack.workspace {
            block.attr("workspace", quote(workspace));
        }
        if !stack.depends_on.is_empty() {
            block.attr("depends_on", string_list(&stack.depends_on));
        }
        block.write(&mut out);
    }

    for workload in &config.workloads {
        let mut block = Block::new(format!("workload {}", quote(&workload.name)));
        block.attr("path", quote(&workload.path));
        if let Some(namespace) = &workload.namespace {
            block.attr("namespace", quote(namespace));
        }
        if !workload.depends_on.is_empty() {
            block.attr("depends_on", string_list(&workload.depends_on));
        }
        // Shown even at their defaults: they are the knobs people look for.
        block.attr("prune", workload.prune.to_string());
        block.attr("wait", workload.wait.to_string());
        block.attr("timeout", quote(&duration::format(workload.timeout)));
        if let Some(context) = &workload.context {
            block.attr("context", quote(context));
        }
        if !workload.exclude.is_empty() {
            block.attr("exclude", string_list(&workload.exclude));
        }
        if !workload.ignore_fields.is_empty() {
            block.attr("ignore_fields", string_list(&workload.ignore_fields));
        }
        if workload.force_conflicts {
            block.attr("force_conflicts", "true".into());
        }
        block.write(&mut out);
    }

    for outputs in &config.outputs {
        let mut block = Block::new(format!("outputs {}", quote(&outputs.stack)));
        if let Some(config_map) = &outputs.config_map {
            block.attr("config_map", quote(&config_map.to_string()));
        }
        if let Some(context) = &outputs.context {
            block.attr("context", quote(context));
        }
        if let Some(secret) = &outputs.secret {
            block.attr("secret", quote(&secret.to_string()));
        }
        block.write(&mut out);
    }

    let mut approval = Block::new("approval".into());
    approval.intro =
        Some("Destructive changes (delete, replace, prune, recreate): prompt | deny | allow.");
    approval.attr("destructive", quote(config.approval.destructive.as_str()));
    if config.approval.protect.is_empty() {
        approval.commented("protect", "[\"module.db.*\", \"Namespace/*\"]".into());
        approval.note("any change here needs approval");
    } else {
        approval.attr("protect", string_list(&config.approval.protect));
    }
    if config.approval.ask_always {
        approval.attr("ask_always", "true".into());
    }
    approval.write(&mut out);

    for policy in &config.policies {
        let mut block = Block::new(format!("policy {}", quote(&policy.name)));
        block.attr("path", quote(&policy.path));
        if policy.namespaces != [super::model::DEFAULT_POLICY_NAMESPACE] {
            block.attr("namespaces", string_list(&policy.namespaces));
        }
        if policy.rego_v0 {
            block.attr("rego_version", quote("v0"));
        }
        if policy.input != super::model::PolicyInput::default() {
            block.attr("input", quote(policy.input.as_str()));
        }
        block.write(&mut out);
    }
    for notify in &config.notify {
        let mut block = Block::new(format!("notify {}", quote(&notify.name)));
        let webhook = match &notify.webhook {
            Webhook::Url(url) => url.clone(),
            Webhook::Env(name) => format!("env:{name}"),
        };
        block.attr("webhook", quote(&webhook));
        let on: Vec<String> = notify
            .on
            .iter()
            .map(|e| NotifyEvent::as_str(*e).to_owned())
            .collect();
        block.attr("on", string_list(&on));
        block.write(&mut out);
    }
    out
}

fn render_terraform(out: &mut String, settings: &TerraformSettings) {
    let defaults = TerraformSettings::default();
    let mut block = Block::new("terraform".into());
    match &settings.binary {
        Some(binary) => block.attr("binary", quote(binary)),
        None => {
            block.commented("binary", quote("terraform"));
            block.note("default: the first of terraform, tofu on PATH");
        }
    }
    // The default depends on the machine; the file shows an example.
    if settings.parallelism == defaults.parallelism {
        block.commented("parallelism", "4".to_owned());
        block.note("stacks at once; default: the machine's CPUs");
    } else {
        block.attr("parallelism", settings.parallelism.to_string());
        block.note("stacks planned at once");
    }
    let lock_timeout = quote(&settings.lock_timeout);
    if settings.lock_timeout == defaults.lock_timeout {
        block.commented("lock_timeout", lock_timeout);
    } else {
        block.attr("lock_timeout", lock_timeout);
    }
    block.note("how long to wait for a Terraform state lock");
    block.write(out);
}

/// One block's lines, written with `=` and trailing comments aligned.
struct Block {
    header: String,
    /// A comment line above the block.
    intro: Option<&'static str>,
    lines: Vec<Line>,
}

struct Line {
    key: &'static str,
    value: String,
    /// Shown as a comment: a default the user may uncomment.
    commented: bool,
    note: Option<&'static str>,
}

impl Block {
    fn new(header: String) -> Self {
        Block {
            header,
            intro: None,
            lines: Vec::new(),
        }
    }

    fn attr(&mut self, key: &'static str, value: String) {
        self.push(key, value, false);
    }

    fn commented(&mut self, key: &'static str, value: String) {
        self.push(key, value, true);
    }

    fn push(&mut self, key: &'static str, value: String, commented: bool) {
        self.lines.push(Line {
            key,
            value,
            commented,
            note: None,
        });
    }

    /// A trailing comment on the last line.
    fn note(&mut self, note: &'static str) {
        if let Some(line) = self.lines.last_mut() {
            line.note = Some(note);
        }
    }

    fn write(&self, out: &mut String) {
        let lhs = |line: &Line| {
            let prefix = if line.commented { "# " } else { "" };
            format!("{prefix}{}", line.key)
        };
        let key_width = self.lines.iter().map(|l| lhs(l).len()).max().unwrap_or(0);
        let assignments: Vec<String> = self
            .lines
            .iter()
            .map(|line| format!("{:key_width$} = {}", lhs(line), line.value))
            .collect();
        // Align notes only across single-line values; a multi-line object
        // would push them far to the right.
        let note_width = assignments
            .iter()
            .filter(|a| !a.contains('\n'))
            .map(|a| a.chars().count())
            .max()
            .unwrap_or(0);
        out.push('\n');
        if let Some(intro) = self.intro {
            let _ = writeln!(out, "# {intro}");
        }
        let _ = writeln!(out, "{} {{", self.header);
        for (line, assignment) in self.lines.iter().zip(&assignments) {
            match line.note {
                Some(note) => {
                    let _ = writeln!(out, "  {assignment:note_width$}  # {note}");
                }
                None => {
                    let _ = writeln!(out, "  {assignment}");
                }
            }
        }
        out.push_str("}\n");
    }
}

fn string_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| quote(item)).collect();
    format!("[{}]", quoted.join(", "))
}

/// A JSON value as an inline HCL literal, its strings written by `quote`.
fn value_text(value: &Value, quote: fn(&str) -> String) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(|v| value_text(v, quote)).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) if map.is_empty() => "{}".into(),
        Value::Object(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{} = {}", key(k), value_text(v, quote)))
                .collect();
            format!("{{ {} }}", items.join(", "))
        }
    }
}

/// An object key: bare when it is an identifier, quoted otherwise. Keywords
/// are quoted so they cannot be read back as literals.
fn key(name: &str) -> String {
    let is_ident = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let keyword = matches!(name, "true" | "false" | "null" | "for" | "in" | "if");
    if is_ident && !keyword {
        name.to_owned()
    } else {
        quote(name)
    }
}

/// A `vars` string: its references to stack outputs (`${stack.…}`) are
/// written as the HCL interpolations they were read from, and their
/// literal form (`$${stack.`) as `$${stack.`; everything else as [`quote`]
/// writes it (see `literal::to_json_with_refs`).
fn quote_with_refs(text: &str) -> String {
    let inner = |s: &str| {
        let q = quote(s);
        q[1..q.len() - 1].to_owned()
    };
    let mut out = String::from("\"");
    let mut rest = text;
    while let Some(at) = rest.find("${stack.") {
        let escaped = rest[..at].ends_with('$');
        let before = if escaped {
            &rest[..at - 1]
        } else {
            &rest[..at]
        };
        out.push_str(&inner(before));
        out.push_str(if escaped { "$${stack." } else { "${stack." });
        rest = &rest[at + "${stack.".len()..];
    }
    out.push_str(&inner(rest));
    out.push('"');
    out
}

/// An HCL quoted string, escaping what HCL would otherwise interpret,
/// including template sequences (`${` and `%{`).
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::super::model::{Destructive, Workload};
    use super::super::tests::{DOCS_EXAMPLE, DOCS_TREE, tree, without_positions};
    use super::super::{discover, parse_str};
    use super::*;

    #[test]
    fn design_example_round_trips() {
        let root = tree(DOCS_TREE);
        let config = parse_str(DOCS_EXAMPLE, root.path()).expect("parses");
        let text = render(&config);
        let again = parse_str(&text, root.path()).unwrap_or_else(|err| panic!("{err}\n{text}"));
        assert_eq!(without_positions(again.clone()), without_positions(config));
        // Rendering is a fixed point, line numbers included.
        assert_eq!(render(&again), text);
        assert_eq!(
            parse_str(&render(&again), root.path()).expect("parses"),
            again
        );
    }

    #[test]
    fn unusual_values_round_trip() {
        let root = tree(&[
            "infra/a b/main.tf",
            "infra/a b/x \"q\".tfvars",
            "k8s/w/a.yaml",
        ]);
        let mut config = parse_str(
            "stack \"a\" {\n  path = \"infra/a b\"\n  var_files = [\"x \\\"q\\\".tfvars\"]\n}\nworkload \"w\" {\n  path = \"k8s/w\"\n}\n",
            root.path(),
        )
        .expect("parses");
        config.stacks[0].vars = serde_json::from_value(serde_json::json!({
            "template": "${not.interpolated} %{x} $ % \\ \"quoted\"\n\ttab\u{1}",
            "nested": {"list": [1, -2, 1.5, true, null], "with space": {}, "null": "k"},
            "unicode": "grüße",
            "empty": [],
        }))
        .expect("map");
        config.terraform = TerraformSettings {
            binary: Some("/usr/local/bin/tofu".into()),
            parallelism: 9,
            lock_timeout: "1h30m".into(),
        };
        config.approval.destructive = Destructive::Allow;
        config.approval.protect = vec!["module.db.*".into()];
        config.workloads[0] = Workload {
            namespace: Some("apps".into()),
            prune: false,
            wait: false,
            timeout: std::time::Duration::from_secs(90),
            force_conflicts: true,
            depends_on: vec!["a".into()],
            ..config.workloads[0].clone()
        };
        let text = render(&config);
        let again = parse_str(&text, root.path()).unwrap_or_else(|err| panic!("{err}\n{text}"));
        assert_eq!(without_positions(again), without_positions(config));
    }

    #[test]
    fn discovered_config_renders_to_a_valid_file() {
        let root = tree(&["infra/network/main.tf", "k8s/apps/a.yaml"]);
        let config = discover(root.path()).expect("discovers");
        let text = render(&config);
        assert!(text.starts_with("# strata.hcl"));
        assert!(
            text.contains(
                "\n  # parallelism  = 4            # stacks at once; default: the machine's CPUs\n"
            ),
            "{text}"
        );
        let order: Vec<usize> = [
            "\nterraform {",
            "\nstack \"network\"",
            "\nworkload \"apps\"",
            "\napproval {",
        ]
        .iter()
        .map(|needle| {
            text.find(needle)
                .unwrap_or_else(|| panic!("{needle} in\n{text}"))
        })
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
        let parsed = parse_str(&text, root.path()).expect("parses");
        assert_eq!(without_positions(parsed), without_positions(config));
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(quote("${x} %{y} $z"), "\"$${x} %%{y} $z\"");
        assert_eq!(
            quote_with_refs("the ${stack.b.name}, not $${stack.b.name}; ${x}"),
            "\"the ${stack.b.name}, not $${stack.b.name}; $${x}\""
        );
        assert_eq!(key("region"), "region");
        assert_eq!(key("with space"), "\"with space\"");
        assert_eq!(key("null"), "\"null\"");
    }
}
