//! `strata.hcl` text -> [`Config`], checking structure and types.
//!
//! hcl-edit's parser is used instead of `hcl::parse` because it keeps byte
//! spans, which become the `file:line:column` of every error. This pass
//! checks everything visible in the file alone; [`super::validate`] then
//! checks what needs the whole file or the repository tree (paths,
//! dependencies, cycles), using the [`Positions`] recorded here.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use hcl::edit::Span;
use hcl::edit::structure::{Attribute, Block, Body, Structure};

use super::error::{ConfigError, Location};
use super::literal::{self, Literal};
use super::model::{
    Approval, Config, DEFAULT_POLICY_NAMESPACE, Destructive, Node, Notify, NotifyEvent, ObjectRef,
    Origin, Outputs, Policy, PolicyInput, Stack, TerraformSettings, Webhook, Workload,
};
use super::{FILE_NAME, duration, names, path};

const BLOCK_TYPES: [&str; 7] = [
    "terraform",
    "stack",
    "workload",
    "outputs",
    "approval",
    "notify",
    "policy",
];
const TERRAFORM_ATTRS: &[&str] = &["binary", "parallelism", "lock_timeout"];
const STACK_ATTRS: &[&str] = &[
    "path",
    "var_files",
    "vars",
    "backend_config",
    "backend_config_files",
    "workspace",
    "depends_on",
];
const WORKLOAD_ATTRS: &[&str] = &[
    "path",
    "namespace",
    "depends_on",
    "prune",
    "wait",
    "timeout",
    "force_conflicts",
    "exclude",
    "context",
    "ignore_fields",
];
const OUTPUTS_ATTRS: &[&str] = &["config_map", "secret", "context"];
const APPROVAL_ATTRS: &[&str] = &["destructive", "protect", "ask_always"];
const NOTIFY_ATTRS: &[&str] = &["webhook", "on"];
const POLICY_ATTRS: &[&str] = &["path", "namespaces", "rego_version", "input"];

/// Where things were written, for errors found after parsing.
#[derive(Debug, Default)]
pub(super) struct Positions {
    /// Parallel to `Config::stacks`.
    pub(super) stacks: Vec<NodePositions>,
    /// Parallel to `Config::workloads`.
    pub(super) workloads: Vec<NodePositions>,
    /// The label of each `outputs` block, parallel to `Config::outputs`.
    pub(super) outputs: Vec<Location>,
    /// The `path` of each `policy` block, parallel to `Config::policies`.
    pub(super) policies: Vec<Location>,
}

#[derive(Debug)]
pub(super) struct NodePositions {
    pub(super) path: Location,
    /// Parallel to `Stack::var_files` (empty for workloads).
    pub(super) var_files: Vec<Location>,
    /// Parallel to `Stack::backend_config_files` (empty for workloads).
    pub(super) backend_config_files: Vec<Location>,
    /// Parallel to `depends_on`.
    pub(super) depends_on: Vec<Location>,
}

/// How deep brackets may nest in HCL that strata parses. The parser's
/// time grows exponentially with some nestings (a 1 KB file found by
/// fuzzing took minutes); real configurations stay far below this.
pub(crate) const MAX_NESTING: usize = 32;

/// Where `text` first nests brackets (`{`, `[`, `(`) more than
/// [`MAX_NESTING`] deep, as a 1-based line and column; quoted strings and
/// comments aside.
pub(crate) fn too_deep(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let (mut depth, mut line, mut line_start, mut i) = (0usize, 1, 0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                line += 1;
                line_start = i + 1;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                continue;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    if bytes[i] == b'\n' {
                        line += 1;
                        line_start = i + 1;
                    }
                    i += 1;
                }
                i += 2;
                continue;
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some((line, text[line_start..i].chars().count() + 1));
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Parses `text` as `strata.hcl`.
pub(super) fn parse(text: &str) -> Result<(Config, Positions), ConfigError> {
    let source = Source::new(text);
    if let Some((line, column)) = too_deep(text) {
        return Err(ConfigError::Syntax {
            at: Location {
                file: FILE_NAME.to_owned(),
                line,
                column: Some(column),
            },
            message: format!(
                "brackets nest more than {MAX_NESTING} levels deep here; strata.hcl never needs that many: close the brackets"
            ),
        });
    }
    let body = hcl::edit::parser::parse_body(text).map_err(|err| syntax_error(&err))?;
    Parser {
        source: &source,
        config: Config {
            origin: Origin::File,
            terraform: TerraformSettings::default(),
            stacks: Vec::new(),
            workloads: Vec::new(),
            outputs: Vec::new(),
            approval: Approval::default(),
            notify: Vec::new(),
            policies: Vec::new(),
        },
        positions: Positions::default(),
        seen: Seen::default(),
    }
    .run(&body)
}

fn syntax_error(err: &hcl::edit::parser::Error) -> ConfigError {
    let location = err.location();
    let at = Location {
        file: FILE_NAME.to_owned(),
        line: location.line(),
        column: Some(location.column()),
    };
    // The parser itself rejects a repeated attribute; give that its own,
    // plainer message.
    if err.message().contains("redefined attribute") {
        let attribute = err.line().split('=').next().unwrap_or_default().trim();
        return ConfigError::DuplicateAttribute {
            at,
            attribute: attribute.to_owned(),
        };
    }
    ConfigError::Syntax {
        at,
        message: err.message().to_owned(),
    }
}

/// Byte offsets -> line and column.
pub(super) struct Source<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Source<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Source { text, line_starts }
    }

    pub(super) fn at(&self, span: Option<Range<usize>>) -> Location {
        let Some(span) = span else {
            // Only nodes built in code lack spans; everything parsed has one.
            return Location {
                file: FILE_NAME.to_owned(),
                line: 1,
                column: None,
            };
        };
        let offset = span.start.min(self.text.len());
        let line_index = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let line_start = self.line_starts[line_index];
        let column = self
            .text
            .get(line_start..offset)
            .map_or(offset - line_start, |prefix| prefix.chars().count())
            + 1;
        Location {
            file: FILE_NAME.to_owned(),
            line: line_index + 1,
            column: Some(column),
        }
    }
}

/// First occurrence of each name, for duplicate errors.
#[derive(Default)]
struct Seen {
    terraform: Option<usize>,
    approval: Option<usize>,
    /// Stacks and workloads share one namespace.
    nodes: HashMap<String, (Node, usize)>,
    outputs: HashMap<String, usize>,
    notify: HashMap<String, usize>,
    policies: HashMap<String, usize>,
}

struct Parser<'s> {
    source: &'s Source<'s>,
    config: Config,
    positions: Positions,
    seen: Seen,
}

impl Parser<'_> {
    fn run(mut self, body: &Body) -> Result<(Config, Positions), ConfigError> {
        for structure in body.iter() {
            match structure {
                Structure::Attribute(attr) => {
                    return Err(ConfigError::TopLevelAttribute {
                        at: self.source.at(attr.span()),
                        attribute: attr.key.to_string(),
                    });
                }
                Structure::Block(block) => self.block(block)?,
            }
        }
        Ok((self.config, self.positions))
    }

    fn block(&mut self, block: &Block) -> Result<(), ConfigError> {
        let at = self.source.at(block.ident.span());
        match block.ident.as_str() {
            "terraform" => {
                no_labels(
                    block,
                    "terraform",
                    at.clone(),
                    "terraform { parallelism = 4 }",
                )?;
                check_singleton(&mut self.seen.terraform, "terraform block", &at)?;
                self.config.terraform = self.terraform(block)?;
            }
            "approval" => {
                no_labels(
                    block,
                    "approval",
                    at.clone(),
                    "approval { destructive = \"prompt\" }",
                )?;
                check_singleton(&mut self.seen.approval, "approval block", &at)?;
                self.config.approval = self.approval(block)?;
            }
            "stack" => {
                let name = self.node_name(block, "stack", "stack \"network\" { ... }", at.line)?;
                self.stack(block, name, at.line)?;
            }
            "workload" => {
                let name =
                    self.node_name(block, "workload", "workload \"apps\" { ... }", at.line)?;
                self.workload(block, name, at.line)?;
            }
            "outputs" => {
                let (stack, label_at) = one_label(
                    self.source,
                    block,
                    "outputs",
                    at.clone(),
                    "outputs \"database\" { ... }",
                )?;
                if let Some(first) = self.seen.outputs.insert(stack.clone(), at.line) {
                    return Err(ConfigError::DuplicateBlock {
                        at,
                        what: format!("outputs {stack:?}"),
                        first_line: first,
                        advice: "merge them into one block",
                    });
                }
                let outputs = self.outputs(block, stack, at.line)?;
                self.config.outputs.push(outputs);
                self.positions.outputs.push(label_at);
            }
            "notify" => {
                let (name, label_at) = one_label(
                    self.source,
                    block,
                    "notify",
                    at.clone(),
                    "notify \"ops\" { ... }",
                )?;
                if name.trim().is_empty() {
                    return Err(ConfigError::InvalidValue {
                        at: label_at,
                        attribute: "name".into(),
                        block: "notify block".into(),
                        value: format!("{name:?}"),
                        expected: "a non-empty name, e.g. notify \"ops\"".into(),
                    });
                }
                if let Some(first) = self.seen.notify.insert(name.clone(), at.line) {
                    return Err(ConfigError::DuplicateBlock {
                        at,
                        what: format!("notify {name:?}"),
                        first_line: first,
                        advice: "rename or remove one",
                    });
                }
                let notify = self.notify(block, name, at.line)?;
                self.config.notify.push(notify);
            }
            "policy" => {
                let (name, label_at) = one_label(
                    self.source,
                    block,
                    "policy",
                    at.clone(),
                    "policy \"guardrails\" { path = \"policy\" }",
                )?;
                if !names::is_valid(&name) {
                    return Err(ConfigError::InvalidValue {
                        at: label_at,
                        attribute: "name".into(),
                        block: "policy block".into(),
                        value: format!("{name:?}"),
                        expected:
                            "lowercase letters, digits, '-' and '_', e.g. policy \"guardrails\""
                                .into(),
                    });
                }
                if let Some(first) = self.seen.policies.insert(name.clone(), at.line) {
                    return Err(ConfigError::DuplicateBlock {
                        at,
                        what: format!("policy {name:?}"),
                        first_line: first,
                        advice: "rename or remove one",
                    });
                }
                let (policy, path_at) = self.policy(block, name, at.line)?;
                self.config.policies.push(policy);
                self.positions.policies.push(path_at);
            }
            other => {
                return Err(ConfigError::UnknownBlock {
                    at,
                    found: other.to_owned(),
                    hint: names::did_you_mean(other, BLOCK_TYPES),
                });
            }
        }
        Ok(())
    }

    /// The label of a stack or workload block, checked for validity and uniqueness.
    fn node_name(
        &mut self,
        block: &Block,
        kind: &'static str,
        example: &'static str,
        line: usize,
    ) -> Result<String, ConfigError> {
        let at = self.source.at(block.ident.span());
        let (name, label_at) = one_label(self.source, block, kind, at.clone(), example)?;
        if !names::is_valid(&name) {
            return Err(ConfigError::InvalidName {
                at: label_at,
                kind,
                name,
            });
        }
        let node = match kind {
            "stack" => Node::Stack(name.clone()),
            _ => Node::Workload(name.clone()),
        };
        if let Some((first, first_line)) = self.seen.nodes.get(&name) {
            return Err(if first.kind() == kind {
                ConfigError::DuplicateBlock {
                    at,
                    what: node.to_string(),
                    first_line: *first_line,
                    advice: "rename or remove one",
                }
            } else {
                ConfigError::NameClash {
                    at,
                    first: first.clone(),
                    first_line: *first_line,
                    second: node,
                }
            });
        }
        self.seen.nodes.insert(name.clone(), (node, line));
        Ok(name)
    }

    fn terraform(&self, block: &Block) -> Result<TerraformSettings, ConfigError> {
        let attrs = Attrs::new(
            self.source,
            block,
            "terraform block".into(),
            TERRAFORM_ATTRS,
        )?;
        let mut settings = TerraformSettings::default();
        if let Some((binary, at)) = attrs.string("binary")? {
            if binary.trim().is_empty() {
                return Err(attrs.invalid(
                    at,
                    "binary",
                    &binary,
                    "\"terraform\", \"tofu\" or a path to one",
                ));
            }
            settings.binary = Some(binary);
        }
        if let Some(parallelism) = attrs.count("parallelism")? {
            settings.parallelism = parallelism;
        }
        if let Some((lock_timeout, _)) = attrs.duration("lock_timeout")? {
            settings.lock_timeout = lock_timeout;
        }
        Ok(settings)
    }

    fn approval(&self, block: &Block) -> Result<Approval, ConfigError> {
        let attrs = Attrs::new(self.source, block, "approval block".into(), APPROVAL_ATTRS)?;
        let mut approval = Approval::default();
        if let Some((value, at)) = attrs.string("destructive")? {
            approval.destructive = Destructive::ALL
                .into_iter()
                .find(|choice| choice.as_str() == value)
                .ok_or_else(|| {
                    let choices = Destructive::ALL.map(Destructive::as_str);
                    let expected = format!(
                        "one of: prompt, deny, allow{}",
                        names::did_you_mean(&value, choices)
                    );
                    attrs.invalid(at, "destructive", &value, &expected)
                })?;
        }
        for (pattern, at) in attrs.string_list("protect")?.unwrap_or_default() {
            if pattern.trim().is_empty() {
                return Err(attrs.invalid(
                    at,
                    "protect pattern",
                    &pattern,
                    "an address pattern such as \"module.db.*\" or \"Namespace/*\"",
                ));
            }
            approval.protect.push(pattern);
        }
        if let Some(ask_always) = attrs.bool("ask_always")? {
            approval.ask_always = ask_always;
        }
        Ok(approval)
    }

    fn stack(&mut self, block: &Block, name: String, line: usize) -> Result<(), ConfigError> {
        let attrs = Attrs::new(self.source, block, format!("stack {name:?}"), STACK_ATTRS)?;
        let (path, path_at) = attrs.path(Node::Stack(name.clone()), "path = \"infra/network\"")?;
        let (var_files, var_file_positions) = attrs
            .string_list("var_files")?
            .unwrap_or_default()
            .into_iter()
            .unzip();
        let vars = attrs.object_with_refs("vars")?.unwrap_or_default();
        let backend_config = attrs.object("backend_config")?.unwrap_or_default();
        let (backend_config_files, backend_file_positions) = attrs
            .string_list("backend_config_files")?
            .unwrap_or_default()
            .into_iter()
            .unzip();
        let workspace = attrs.string("workspace")?.map(|(w, _)| w);
        let (mut depends_on, mut depends_positions) = attrs.depends_on()?;
        // A stack whose vars use another's outputs depends on it.
        if let Some(vars_at) = attrs.attrs.get("vars").map(|a| attrs.value_at(a)) {
            let value = serde_json::Value::Object(vars.clone().into_iter().collect());
            for (stack, _) in super::refs::references(&value) {
                if !depends_on.contains(&stack) {
                    depends_on.push(stack);
                    depends_positions.push(vars_at.clone());
                }
            }
        }
        self.config.stacks.push(Stack {
            name,
            path,
            var_files,
            vars,
            backend_config,
            backend_config_files,
            workspace,
            depends_on,
            line,
        });
        self.positions.stacks.push(NodePositions {
            path: path_at,
            var_files: var_file_positions,
            backend_config_files: backend_file_positions,
            depends_on: depends_positions,
        });
        Ok(())
    }

    fn workload(&mut self, block: &Block, name: String, line: usize) -> Result<(), ConfigError> {
        let attrs = Attrs::new(
            self.source,
            block,
            format!("workload {name:?}"),
            WORKLOAD_ATTRS,
        )?;
        let (path, path_at) = attrs.path(Node::Workload(name.clone()), "path = \"k8s/apps\"")?;
        let mut workload = Workload::new(name, path);
        workload.line = line;
        if let Some((namespace, at)) = attrs.string("namespace")? {
            if !is_dns_label(&namespace) {
                return Err(attrs.invalid(
                    at,
                    "namespace",
                    &namespace,
                    "a Kubernetes namespace name (lowercase letters, digits and '-', at most 63 characters)",
                ));
            }
            workload.namespace = Some(namespace);
        }
        let (depends_on, depends_positions) = attrs.depends_on()?;
        workload.depends_on = depends_on;
        workload.prune = attrs.bool("prune")?.unwrap_or(workload.prune);
        workload.wait = attrs.bool("wait")?.unwrap_or(workload.wait);
        workload.force_conflicts = attrs
            .bool("force_conflicts")?
            .unwrap_or(workload.force_conflicts);
        workload.context = attrs.string("context")?.map(|(c, _)| c);
        workload.exclude = attrs
            .string_list("exclude")?
            .unwrap_or_default()
            .into_iter()
            .map(|(glob, _)| glob)
            .collect();
        for (pointer, at) in attrs.string_list("ignore_fields")?.unwrap_or_default() {
            if !pointer.starts_with('/') || pointer.len() < 2 {
                return Err(attrs.invalid(
                    at,
                    "ignore_fields",
                    &pointer,
                    "a JSON pointer to a field, such as \"/spec/replicas\" or \"/metadata/annotations/example.com~1note\" (~1 stands for /)",
                ));
            }
            workload.ignore_fields.push(pointer);
        }
        if let Some((text, at)) = attrs.duration("timeout")? {
            let timeout = duration::parse(&text).unwrap_or_default();
            if timeout.is_zero() {
                return Err(attrs.invalid(
                    at,
                    "timeout",
                    &text,
                    "a duration greater than zero; to skip waiting set wait = false",
                ));
            }
            workload.timeout = timeout;
        }
        self.config.workloads.push(workload);
        self.positions.workloads.push(NodePositions {
            path: path_at,
            var_files: Vec::new(),
            backend_config_files: Vec::new(),
            depends_on: depends_positions,
        });
        Ok(())
    }

    fn outputs(&self, block: &Block, stack: String, line: usize) -> Result<Outputs, ConfigError> {
        let attrs = Attrs::new(
            self.source,
            block,
            format!("outputs {stack:?}"),
            OUTPUTS_ATTRS,
        )?;
        let config_map = attrs.object_ref("config_map")?;
        let secret = attrs.object_ref("secret")?;
        if config_map.is_none() && secret.is_none() {
            return Err(ConfigError::MissingAttribute {
                at: self.source.at(block.ident.span()),
                attribute: "config_map or secret",
                block: format!("outputs {stack:?}"),
                example: "config_map = \"apps/database-outputs\"",
            });
        }
        Ok(Outputs {
            stack,
            config_map,
            secret,
            context: attrs.string("context")?.map(|(c, _)| c),
            line,
        })
    }

    fn policy(
        &self,
        block: &Block,
        name: String,
        line: usize,
    ) -> Result<(Policy, Location), ConfigError> {
        let what = format!("policy {name:?}");
        let attrs = Attrs::new(self.source, block, what.clone(), POLICY_ATTRS)?;
        let Some((raw, path_at)) = attrs.string("path")? else {
            return Err(ConfigError::MissingAttribute {
                at: self.source.at(block.ident.span()),
                attribute: "path",
                block: what,
                example: "path = \"policy\"",
            });
        };
        let Some(path) = path::normalize(&raw) else {
            return Err(ConfigError::PolicyPath {
                at: path_at,
                policy: name,
                path: raw,
                problem: "leads outside the repository; name a folder inside it",
            });
        };
        let mut namespaces = Vec::new();
        for (namespace, at) in attrs.string_list("namespaces")?.unwrap_or_default() {
            let valid = !namespace.is_empty()
                && namespace.split('.').all(|part| {
                    part.chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                        && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
            if !valid {
                return Err(attrs.invalid(
                    at,
                    "namespaces",
                    &namespace,
                    "a Rego package name such as \"main\" or \"terraform.iam\"",
                ));
            }
            if !namespaces.contains(&namespace) {
                namespaces.push(namespace);
            }
        }
        if namespaces.is_empty() {
            namespaces.push(DEFAULT_POLICY_NAMESPACE.to_owned());
        }
        let rego_v0 = match attrs.string("rego_version")? {
            None => false,
            Some((version, at)) => match version.as_str() {
                "v1" => false,
                "v0" => true,
                _ => {
                    return Err(attrs.invalid(
                        at,
                        "rego_version",
                        &version,
                        "\"v1\" (the default: OPA 1.0 syntax, `deny contains msg if { ... }`) or \"v0\" (`deny[msg] { ... }`)",
                    ));
                }
            },
        };
        let input = match attrs.string("input")? {
            None => PolicyInput::default(),
            Some((text, at)) => PolicyInput::ALL
                .into_iter()
                .find(|i| i.as_str() == text)
                .ok_or_else(|| {
                    attrs.invalid(
                        at,
                        "input",
                        &text,
                        "\"run\" (one document of both layers), \"terraform\" (each stack's plan, as conftest sees a plan's JSON) or \"kubernetes\" (each object, as conftest sees a manifest)",
                    )
                })?,
        };
        Ok((
            Policy {
                name,
                path,
                namespaces,
                rego_v0,
                input,
                line,
            },
            path_at,
        ))
    }

    fn notify(&self, block: &Block, name: String, line: usize) -> Result<Notify, ConfigError> {
        let attrs = Attrs::new(self.source, block, format!("notify {name:?}"), NOTIFY_ATTRS)?;
        let Some((url, at)) = attrs.string("webhook")? else {
            return Err(ConfigError::MissingAttribute {
                at: self.source.at(block.ident.span()),
                attribute: "webhook",
                block: format!("notify {name:?}"),
                example: "webhook = \"env:STRATA_WEBHOOK\"",
            });
        };
        let webhook = parse_webhook(&url).ok_or_else(|| {
            attrs.invalid(
                at,
                "webhook",
                &url,
                "an http:// or https:// URL, or env:NAME with the name of an environment variable holding the URL (e.g. env:STRATA_WEBHOOK)",
            )
        })?;
        let on = match attrs.string_list("on")? {
            None => NotifyEvent::ALL.to_vec(),
            Some(events) => {
                let mut on = Vec::new();
                for (event, at) in events {
                    let parsed = NotifyEvent::ALL
                        .into_iter()
                        .find(|known| known.as_str() == event)
                        .ok_or_else(|| {
                            let known = NotifyEvent::ALL.map(NotifyEvent::as_str);
                            let expected = format!(
                                "one of: {}{}",
                                known.join(", "),
                                names::did_you_mean(&event, known)
                            );
                            attrs.invalid(at, "event", &event, &expected)
                        })?;
                    if !on.contains(&parsed) {
                        on.push(parsed);
                    }
                }
                on
            }
        };
        Ok(Notify {
            name,
            webhook,
            on,
            line,
        })
    }
}

fn check_singleton(
    first: &mut Option<usize>,
    what: &str,
    at: &Location,
) -> Result<(), ConfigError> {
    if let Some(first_line) = *first {
        return Err(ConfigError::DuplicateBlock {
            at: at.clone(),
            what: what.to_owned(),
            first_line,
            advice: "merge them into one",
        });
    }
    *first = Some(at.line);
    Ok(())
}

fn no_labels(
    block: &Block,
    block_type: &'static str,
    at: Location,
    example: &'static str,
) -> Result<(), ConfigError> {
    if block.labels.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Labels {
            at,
            block_type,
            expected: "no labels",
            found: block.labels.len(),
            example,
        })
    }
}

/// The single label of a named block, with its location.
fn one_label(
    source: &Source<'_>,
    block: &Block,
    block_type: &'static str,
    at: Location,
    example: &'static str,
) -> Result<(String, Location), ConfigError> {
    match block.labels.as_slice() {
        [label] => Ok((label.as_str().to_owned(), source.at(label.span()))),
        labels => Err(ConfigError::Labels {
            at,
            block_type,
            expected: "exactly one label (its name)",
            found: labels.len(),
            example,
        }),
    }
}

fn parse_webhook(text: &str) -> Option<Webhook> {
    if let Some(name) = text.strip_prefix("env:") {
        let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        return valid.then(|| Webhook::Env(name.to_owned()));
    }
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))?;
    let host_present = rest
        .split(['/', '?', '#'])
        .next()
        .is_some_and(|h| !h.is_empty());
    let no_space = !text.chars().any(char::is_whitespace);
    (host_present && no_space).then(|| Webhook::Url(text.to_owned()))
}

/// RFC 1123 label: Kubernetes namespace names.
fn is_dns_label(name: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !name.is_empty()
        && name.len() <= 63
        && name.starts_with(alnum)
        && name.ends_with(alnum)
        && name.chars().all(|c| alnum(c) || c == '-')
}

/// RFC 1123 subdomain: names of ConfigMaps and Secrets.
fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(is_dns_label)
}

/// The attributes of one block, with typed accessors that turn every
/// mismatch into an error pointing at the value.
struct Attrs<'a, 's> {
    source: &'s Source<'s>,
    /// `stack "network"`, `terraform block`, ... for messages.
    block: String,
    /// The block's identifier, for errors about what is missing.
    block_at: Location,
    attrs: HashMap<&'a str, &'a Attribute>,
}

impl<'a, 's> Attrs<'a, 's> {
    /// Collects the attributes of `block`, rejecting nested blocks and
    /// attributes not in `allowed`.
    fn new(
        source: &'s Source<'s>,
        block: &'a Block,
        what: String,
        allowed: &[&str],
    ) -> Result<Self, ConfigError> {
        let mut attrs = HashMap::new();
        for structure in block.body.iter() {
            match structure {
                Structure::Block(nested) => {
                    let found = nested.ident.as_str();
                    // `vars { ... }` is a common slip for `vars = { ... }`.
                    let hint = if allowed.contains(&found) {
                        format!(" (did you mean `{found} = {{ ... }}`?)")
                    } else {
                        String::new()
                    };
                    return Err(ConfigError::NestedBlock {
                        at: source.at(nested.ident.span()),
                        found: found.to_owned(),
                        block: what,
                        hint,
                    });
                }
                Structure::Attribute(attr) => {
                    let key = attr.key.as_str();
                    if !allowed.contains(&key) {
                        return Err(ConfigError::UnknownAttribute {
                            at: source.at(attr.key.span()),
                            attribute: key.to_owned(),
                            block: what,
                            expected: allowed.join(", "),
                            hint: names::did_you_mean(key, allowed.iter().copied()),
                        });
                    }
                    attrs.insert(key, attr);
                }
            }
        }
        Ok(Attrs {
            source,
            block: what,
            block_at: source.at(block.ident.span()),
            attrs,
        })
    }

    fn value_at(&self, attr: &Attribute) -> Location {
        self.source.at(attr.value.span())
    }

    fn literal(
        &self,
        name: &str,
        expr: &'a hcl::edit::expr::Expression,
    ) -> Result<Literal<'a>, ConfigError> {
        literal::literal(expr).map_err(|err| self.not_literal(name, err))
    }

    fn not_literal(&self, name: &str, err: literal::NotLiteral) -> ConfigError {
        ConfigError::NotLiteral {
            at: self.source.at(err.span),
            attribute: name.to_owned(),
            block: self.block.clone(),
            found: err.found,
        }
    }

    fn wrong_type(
        &self,
        at: Location,
        name: &str,
        expected: &'static str,
        found: &Literal<'_>,
    ) -> ConfigError {
        ConfigError::WrongType {
            at,
            attribute: name.to_owned(),
            block: self.block.clone(),
            expected,
            found: found.type_name(),
        }
    }

    fn invalid(&self, at: Location, name: &str, value: &str, expected: &str) -> ConfigError {
        ConfigError::InvalidValue {
            at,
            attribute: name.to_owned(),
            block: self.block.clone(),
            value: format!("{value:?}"),
            expected: expected.to_owned(),
        }
    }

    fn string(&self, name: &str) -> Result<Option<(String, Location)>, ConfigError> {
        let Some(attr) = self.attrs.get(name) else {
            return Ok(None);
        };
        let at = self.value_at(attr);
        match self.literal(name, &attr.value)? {
            Literal::String(text) => Ok(Some((text, at))),
            other => Err(self.wrong_type(at, name, "a string", &other)),
        }
    }

    fn bool(&self, name: &str) -> Result<Option<bool>, ConfigError> {
        let Some(attr) = self.attrs.get(name) else {
            return Ok(None);
        };
        match self.literal(name, &attr.value)? {
            Literal::Bool(value) => Ok(Some(value)),
            other => Err(self.wrong_type(self.value_at(attr), name, "true or false", &other)),
        }
    }

    /// A whole number of at least 1.
    fn count(&self, name: &str) -> Result<Option<usize>, ConfigError> {
        const EXPECTED: &str = "a whole number of at least 1";
        let Some(attr) = self.attrs.get(name) else {
            return Ok(None);
        };
        let at = self.value_at(attr);
        match self.literal(name, &attr.value)? {
            Literal::Number(number) => number
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| *n >= 1)
                .map(Some)
                .ok_or_else(|| ConfigError::InvalidValue {
                    at,
                    attribute: name.to_owned(),
                    block: self.block.clone(),
                    value: number.to_string(),
                    expected: EXPECTED.to_owned(),
                }),
            other => Err(self.wrong_type(at, name, EXPECTED, &other)),
        }
    }

    /// A duration string, returned as written (validated).
    fn duration(&self, name: &str) -> Result<Option<(String, Location)>, ConfigError> {
        let Some(attr) = self.attrs.get(name) else {
            return Ok(None);
        };
        let at = self.value_at(attr);
        match self.literal(name, &attr.value)? {
            Literal::String(text) if duration::parse(&text).is_some() => Ok(Some((text, at))),
            Literal::String(text) => Err(self.invalid(at, name, &text, duration::EXPECTED)),
            other => Err(self.wrong_type(at, name, "a duration string such as \"5m\"", &other)),
        }
    }

    /// A list of strings, each with its location.
    fn string_list(&self, name: &str) -> Result<Option<Vec<(String, Location)>>, ConfigError> {
        let Some(attr) = self.attrs.get(name) else {
            return Ok(None);
        };
        let array = match self.literal(name, &attr.value)? {
            Literal::Array(array) => array,
            other => {
                return Err(self.wrong_type(
                    self.value_at(attr),
                    name,
                    "a list of strings",
                    &other,
                ));
            }
        };
        let mut items = Vec::new();
        for (index, element) in array.iter().enumerate() {
            let element_name = format!("{name}[{index}]");
            let at = self.source.at(element.span());
            match self.literal(&element_name, element)? {
                Literal::String(text) => items.push((text, at)),
                other => return Err(self.wrong_type(at, &element_name, "a string", &other)),
            }
        }
        Ok(Some(items))
    }

    fn object(
        &self,
        name: &str,
    ) -> Result<Option<BTreeMap<String, serde_json::Value>>, ConfigError> {
        self.object_of(name, false)
    }

    /// An object whose strings may reference stack outputs (`vars`).
    fn object_with_refs(
        &self,
        name: &str,
    ) -> Result<Option<BTreeMap<String, serde_json::Value>>, ConfigError> {
        self.object_of(name, true)
    }

    fn object_of(
        &self,
        name: &str,
        refs: bool,
    ) -> Result<Option<BTreeMap<String, serde_json::Value>>, ConfigError> {
        let Some(attr) = self.attrs.get(name) else {
            return Ok(None);
        };
        let object = match self.literal(name, &attr.value)? {
            Literal::Object(object) => object,
            other => {
                return Err(self.wrong_type(
                    self.value_at(attr),
                    name,
                    "an object such as { region = \"eu-west-1\" }",
                    &other,
                ));
            }
        };
        let mut map = BTreeMap::new();
        for (key, value) in object.iter() {
            let key = literal::object_key(key).map_err(|err| self.not_literal(name, err))?;
            let value = if refs {
                literal::to_json_with_refs(value.expr())
            } else {
                literal::to_json(value.expr())
            }
            .map_err(|err| self.not_literal(&format!("{name}.{key}"), err))?;
            map.insert(key, value);
        }
        Ok(Some(map))
    }

    /// The required `path`, normalized.
    fn path(&self, owner: Node, example: &'static str) -> Result<(String, Location), ConfigError> {
        let Some((raw, at)) = self.string("path")? else {
            return Err(ConfigError::MissingAttribute {
                at: self.block_at.clone(),
                attribute: "path",
                block: self.block.clone(),
                example,
            });
        };
        match path::normalize(&raw) {
            Some(normalized) => Ok((normalized, at)),
            None => Err(ConfigError::PathOutsideRepo {
                at,
                field: "path",
                owner,
                path: raw,
            }),
        }
    }

    /// `depends_on`, rejecting an entry listed twice.
    fn depends_on(&self) -> Result<(Vec<String>, Vec<Location>), ConfigError> {
        let mut names: Vec<String> = Vec::new();
        let mut positions = Vec::new();
        for (name, at) in self.string_list("depends_on")?.unwrap_or_default() {
            if names.contains(&name) {
                return Err(self.invalid(
                    at,
                    "depends_on entry",
                    &name,
                    "each name listed once; remove the repeat",
                ));
            }
            names.push(name);
            positions.push(at);
        }
        Ok((names, positions))
    }

    fn object_ref(&self, name: &str) -> Result<Option<ObjectRef>, ConfigError> {
        let Some((text, at)) = self.string(name)? else {
            return Ok(None);
        };
        match text.split_once('/') {
            Some((namespace, object)) if is_dns_label(namespace) && is_dns_subdomain(object) => {
                Ok(Some(ObjectRef {
                    namespace: namespace.to_owned(),
                    name: object.to_owned(),
                }))
            }
            _ => Err(self.invalid(
                at,
                name,
                &text,
                "\"namespace/name\", e.g. \"apps/database-outputs\", using lowercase letters, digits, '-' (and '.' in the name)",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn parse_err(text: &str) -> ConfigError {
        match parse(text) {
            Ok(_) => panic!("expected an error for:\n{text}"),
            Err(err) => err,
        }
    }

    fn message(text: &str) -> String {
        parse_err(text).to_string()
    }

    #[test]
    fn ignore_fields_are_json_pointers_and_outputs_may_name_a_context() {
        let (config, _) = parse(
            "workload \"apps\" {\n  path = \"k8s\"\n  ignore_fields = [\"/spec/replicas\"]\n}\noutputs \"db\" {\n  secret = \"apps/db\"\n  context = \"prod\"\n}\n",
        )
        .expect("parses");
        assert_eq!(config.workloads[0].ignore_fields, ["/spec/replicas"]);
        assert_eq!(config.outputs[0].context.as_deref(), Some("prod"));
        let message = message(
            "workload \"apps\" {\n  path = \"k8s\"\n  ignore_fields = [\"spec.replicas\"]\n}\n",
        );
        assert!(
            message.starts_with("strata.hcl:3:20: ") && message.contains("a JSON pointer"),
            "{message}"
        );
    }

    #[test]
    fn policy_blocks_name_a_folder_their_packages_and_rego_version() {
        let (config, positions) = parse(
            "policy \"guardrails\" {\n  path = \"./policy/\"\n}\npolicy \"iam\" {\n  path = \"iam\"\n  namespaces = [\"terraform.iam\", \"main\"]\n  rego_version = \"v0\"\n}\n",
        )
        .expect("parses");
        assert_eq!(config.policies[0].path, "policy");
        assert_eq!(config.policies[0].namespaces, ["main"]);
        assert!(!config.policies[0].rego_v0);
        assert_eq!(config.policies[1].namespaces, ["terraform.iam", "main"]);
        assert!(config.policies[1].rego_v0);
        assert_eq!(positions.policies[1].line, 5);
        for (text, wanted) in [
            ("policy \"p\" {\n}\n", "strata.hcl:1:1: "),
            (
                "policy \"p\" {\n  path = \"../x\"\n}\n",
                "leads outside the repository",
            ),
            ("policy \"P Q\" {\n  path = \"x\"\n}\n", "lowercase letters"),
            (
                "policy \"p\" {\n  path = \"x\"\n  namespaces = [\"a-b\"]\n}\n",
                "a Rego package name",
            ),
            (
                "policy \"p\" {\n  path = \"x\"\n  rego_version = \"v2\"\n}\n",
                "\"v0\"",
            ),
            (
                "policy \"p\" {\n  path = \"x\"\n}\npolicy \"p\" {\n  path = \"y\"\n}\n",
                "duplicate policy \"p\"",
            ),
            (
                "policy \"p\" {\n  paht = \"x\"\n}\n",
                "expected one of: path, namespaces, rego_version",
            ),
        ] {
            let message = message(text);
            assert!(message.contains(wanted), "{text}: {message}");
        }
    }

    #[test]
    fn parses_the_design_example() {
        let (config, positions) = parse(super::super::tests::DOCS_EXAMPLE).expect("parses");
        assert_eq!(config.terraform.binary.as_deref(), Some("terraform"));
        assert_eq!(config.terraform.parallelism, 4);
        assert_eq!(config.terraform.lock_timeout, "5m");
        assert_eq!(config.stacks.len(), 2);
        let network = &config.stacks[0];
        assert_eq!(network.name, "network");
        assert_eq!(network.path, "infra/network");
        assert_eq!(network.var_files, ["prod.tfvars"]);
        assert_eq!(network.vars["region"], serde_json::json!("eu-west-1"));
        assert_eq!(network.line, 6);
        assert_eq!(config.stacks[1].depends_on, ["network"]);
        assert_eq!(positions.stacks[1].depends_on[0].line, 14);
        let apps = &config.workloads[0];
        assert_eq!(apps.namespace.as_deref(), Some("apps"));
        assert_eq!(apps.timeout, Duration::from_secs(300));
        assert!(apps.prune && apps.wait && !apps.force_conflicts);
        assert_eq!(
            config.outputs[0].secret,
            Some(ObjectRef {
                namespace: "apps".into(),
                name: "database-secrets".into()
            })
        );
        assert_eq!(config.approval.destructive, Destructive::Prompt);
        assert_eq!(config.approval.protect, ["module.db.*", "Namespace/*"]);
        assert_eq!(
            config.notify[0].webhook,
            Webhook::Url("https://hooks.example.com/T000".into())
        );
        assert_eq!(config.notify[0].on.len(), 4);
    }

    #[test]
    fn defaults_apply_when_attributes_are_absent() {
        let (config, _) = parse(
            "workload \"w\" {\n  path = \"k8s/w\"\n}\nnotify \"n\" {\n  webhook = \"env:HOOK\"\n}\n",
        )
        .expect("parses");
        assert_eq!(config.terraform, TerraformSettings::default());
        assert_eq!(
            config.workloads[0],
            Workload {
                line: 1,
                ..Workload::new("w", "k8s/w")
            }
        );
        assert_eq!(config.notify[0].on, NotifyEvent::ALL);
        assert_eq!(config.notify[0].webhook, Webhook::Env("HOOK".into()));
    }

    #[test]
    fn paths_are_normalized() {
        let (config, _) = parse("stack \"a\" {\n  path = \"./infra//a/\"\n}\n").expect("parses");
        assert_eq!(config.stacks[0].path, "infra/a");
    }

    #[test]
    fn brackets_nested_too_deep_are_refused_before_parsing() {
        // Found by fuzzing (scripts/fuzz.sh, strata_hcl): the parser took
        // minutes on a kilobyte of such lines.
        let text = "lelicm = rrr_r%rtor[({\n  parrrqrrr%rrrrrgesrr%rtor[({\n".repeat(12);
        let err = parse_err(&text);
        assert!(
            matches!(&err, ConfigError::Syntax { at, message } if at.line == 11 && message.contains("nest more than 32")),
            "{err:?}"
        );
        // Brackets in strings and comments do not count.
        let fine = format!(
            "# {}\nstack \"a\" {{\n  path = \"{}\"\n}}\n",
            "(".repeat(40),
            "[".repeat(40)
        );
        assert_eq!(too_deep(&fine), None);
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let err = parse_err("stack \"a\" {\n  path = \n}\n");
        assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("strata.hcl:2:10: HCL syntax error: "),
            "{err}"
        );
    }

    #[test]
    fn unknown_block_type() {
        assert_eq!(
            message("\n\nstak \"a\" {}\n"),
            "strata.hcl:3:1: unknown block type \"stak\"; expected one of: terraform, stack, workload, outputs, approval, notify, policy (did you mean \"stack\"?)"
        );
    }

    #[test]
    fn unknown_attribute_suggests_the_closest() {
        let text = "stack \"network\" {\n  pth = \"infra/network\"\n}\n";
        assert_eq!(
            message(text),
            "strata.hcl:2:3: unknown attribute \"pth\" in stack \"network\"; expected one of: path, var_files, vars, backend_config, backend_config_files, workspace, depends_on (did you mean \"path\"?)"
        );
        let err = parse_err("approval {\n  destructiv = \"deny\"\n}\n");
        assert!(matches!(err, ConfigError::UnknownAttribute { .. }));
        let err = parse_err("terraform {\n  parallelism = 2\n  versions = 1\n}\n");
        assert!(
            err.to_string()
                .starts_with("strata.hcl:3:3: unknown attribute \"versions\" in terraform block")
        );
    }

    #[test]
    fn nested_and_top_level_mistakes() {
        let err = parse_err("stack \"a\" {\n  path = \"x\"\n  vars {\n    a = 1\n  }\n}\n");
        assert_eq!(
            err.to_string(),
            "strata.hcl:3:3: unexpected block \"vars\" inside stack \"a\"; stack \"a\" takes only attributes (did you mean `vars = { ... }`?)"
        );
        let err = parse_err("parallelism = 4\n");
        assert!(
            matches!(err, ConfigError::TopLevelAttribute { .. }),
            "{err:?}"
        );
        assert!(err.to_string().starts_with(
            "strata.hcl:1:1: attribute \"parallelism\" is not allowed at the top level"
        ));
    }

    #[test]
    fn wrong_value_types() {
        assert_eq!(
            message("terraform {\n  parallelism = \"four\"\n}\n"),
            "strata.hcl:2:17: parallelism in terraform block must be a whole number of at least 1, not a string"
        );
        assert_eq!(
            message("terraform {\n  parallelism = 0\n}\n"),
            "strata.hcl:2:17: invalid parallelism 0 in terraform block; expected a whole number of at least 1"
        );
        let err = parse_err("workload \"w\" {\n  path = \"k\"\n  prune = \"yes\"\n}\n");
        assert!(
            err.to_string()
                .contains("prune in workload \"w\" must be true or false, not a string"),
            "{err}"
        );
        let err = parse_err("stack \"a\" {\n  path = \"x\"\n  depends_on = \"b\"\n}\n");
        assert!(
            err.to_string()
                .contains("depends_on in stack \"a\" must be a list of strings, not a string")
        );
        let err = parse_err("stack \"a\" {\n  path = \"x\"\n  depends_on = [\"b\", 2]\n}\n");
        assert!(
            err.to_string().starts_with(
                "strata.hcl:3:22: depends_on[1] in stack \"a\" must be a string, not a number"
            ),
            "{err}"
        );
        let err = parse_err("stack \"a\" {\n  path = \"x\"\n  vars = [1]\n}\n");
        assert!(
            matches!(err, ConfigError::WrongType { expected, .. } if expected.starts_with("an object"))
        );
        let err = parse_err("workload \"w\" {\n  path = 3\n}\n");
        assert!(matches!(err, ConfigError::WrongType { .. }));
    }

    #[test]
    fn expressions_are_rejected_with_their_line() {
        let err = parse_err(
            "stack \"a\" {\n  path = \"x\"\n  vars = {\n    region = var.region\n  }\n}\n",
        );
        assert_eq!(
            err.to_string(),
            "strata.hcl:4:14: vars.region in stack \"a\" is a reference; strata.hcl takes only literal values (strings, numbers, bools, lists, objects), so write the value out"
        );
        let err = parse_err("terraform {\n  binary = lower(\"TOFU\")\n}\n");
        assert!(
            matches!(
                err,
                ConfigError::NotLiteral {
                    found: "a function call",
                    ..
                }
            ),
            "{err:?}"
        );
        let err = parse_err("stack \"a\" {\n  path = \"infra/${name}\"\n}\n");
        assert!(
            matches!(err, ConfigError::NotLiteral { ref at, .. } if at.line == 2),
            "{err:?}"
        );
    }

    #[test]
    fn label_counts() {
        assert_eq!(
            message("stack {\n  path = \"x\"\n}\n"),
            "strata.hcl:1:1: a stack block takes exactly one label (its name), found 0; write it like stack \"network\" { ... }"
        );
        let err = parse_err("stack \"a\" \"b\" {\n  path = \"x\"\n}\n");
        assert!(matches!(err, ConfigError::Labels { found: 2, .. }));
        let err = parse_err("terraform \"x\" {}\n");
        assert!(matches!(
            err,
            ConfigError::Labels {
                expected: "no labels",
                ..
            }
        ));
        let err = parse_err("outputs {\n  secret = \"a/b\"\n}\n");
        assert!(matches!(
            err,
            ConfigError::Labels {
                block_type: "outputs",
                ..
            }
        ));
    }

    #[test]
    fn duplicates_say_where_the_first_is() {
        let text = "stack \"a\" {\n  path = \"x\"\n}\n\nstack \"a\" {\n  path = \"y\"\n}\n";
        assert_eq!(
            message(text),
            "strata.hcl:5:1: duplicate stack \"a\"; the first one is at line 1; rename or remove one"
        );
        let err =
            parse_err("workload \"w\" {\n  path = \"x\"\n}\nworkload \"w\" {\n  path = \"x\"\n}\n");
        assert!(matches!(
            err,
            ConfigError::DuplicateBlock { first_line: 1, .. }
        ));
        let err = parse_err(
            "notify \"n\" {\n  webhook = \"env:A\"\n}\nnotify \"n\" {\n  webhook = \"env:B\"\n}\n",
        );
        assert!(
            matches!(err, ConfigError::DuplicateBlock { ref what, .. } if what == "notify \"n\"")
        );
        let err = parse_err(
            "outputs \"s\" {\n  secret = \"a/b\"\n}\noutputs \"s\" {\n  secret = \"a/c\"\n}\n",
        );
        assert!(matches!(
            err,
            ConfigError::DuplicateBlock { first_line: 1, .. }
        ));
        assert_eq!(
            message("terraform {}\napproval {}\nterraform {}\n"),
            "strata.hcl:3:1: duplicate terraform block; the first one is at line 1; merge them into one"
        );
        let err = parse_err("approval {}\napproval {}\n");
        assert!(matches!(err, ConfigError::DuplicateBlock { ref at, .. } if at.line == 2));
    }

    #[test]
    fn duplicate_attribute() {
        let err = parse_err("stack \"a\" {\n  path = \"x\"\n  path = \"y\"\n}\n");
        assert!(
            matches!(err, ConfigError::DuplicateAttribute { ref attribute, .. } if attribute == "path"),
            "{err:?}"
        );
        assert!(err.to_string().starts_with("strata.hcl:3:"), "{err}");
    }

    #[test]
    fn names_shared_by_a_stack_and_a_workload_clash() {
        let err =
            parse_err("stack \"x\" {\n  path = \"a\"\n}\nworkload \"x\" {\n  path = \"b\"\n}\n");
        assert_eq!(
            err.to_string(),
            "strata.hcl:4:1: workload \"x\" has the same name as stack \"x\" at line 1; names must be unique across stacks and workloads because depends_on refers to them by name, so rename one"
        );
    }

    #[test]
    fn invalid_names() {
        assert_eq!(
            message("stack \"Network\" {\n  path = \"x\"\n}\n"),
            "strata.hcl:1:7: stack name \"Network\" is not valid; use 1 to 63 lowercase letters, digits, '-' and '_', starting and ending with a letter or digit (names are used in file names and Kubernetes labels)"
        );
        for bad in ["-a", "a b", "a.b", ""] {
            let err = parse_err(&format!("workload \"{bad}\" {{\n  path = \"x\"\n}}\n"));
            assert!(
                matches!(
                    err,
                    ConfigError::InvalidName {
                        kind: "workload",
                        ..
                    }
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn missing_path_and_escaping_path() {
        let err = parse_err("stack \"a\" {\n  vars = {}\n}\n");
        assert!(matches!(
            err,
            ConfigError::MissingAttribute {
                attribute: "path",
                ..
            }
        ));
        let err = parse_err("stack \"a\" {\n  path = \"../elsewhere\"\n}\n");
        assert_eq!(
            err.to_string(),
            "strata.hcl:2:10: path \"../elsewhere\" of stack \"a\" is outside the repository; paths are relative to the repository root (var and backend config files to the stack's path) and may not leave it"
        );
        let err = parse_err("workload \"w\" {\n  path = \"/etc\"\n}\n");
        assert!(matches!(err, ConfigError::PathOutsideRepo { .. }));
    }

    #[test]
    fn approval_destructive_must_be_known() {
        assert_eq!(
            message("approval {\n  destructive = \"alow\"\n}\n"),
            "strata.hcl:2:17: invalid destructive \"alow\" in approval block; expected one of: prompt, deny, allow (did you mean \"allow\"?)"
        );
        let (config, _) = parse("approval {\n  destructive = \"deny\"\n}\n").expect("parses");
        assert_eq!(config.approval.destructive, Destructive::Deny);
        assert!(!config.approval.ask_always);
    }

    #[test]
    fn approval_ask_always_is_a_bool() {
        let (config, _) = parse("approval {\n  ask_always = true\n}\n").expect("parses");
        assert!(config.approval.ask_always);
        let err = message("approval {\n  ask_always = \"yes\"\n}\n");
        assert!(err.starts_with("strata.hcl:2:"), "{err}");
        assert!(err.contains("ask_always"), "{err}");
    }

    #[test]
    fn notify_events_and_webhooks() {
        let err =
            parse_err("notify \"n\" {\n  webhook = \"env:H\"\n  on = [\"drift\", \"fialed\"]\n}\n");
        assert_eq!(
            err.to_string(),
            "strata.hcl:3:18: invalid event \"fialed\" in notify \"n\"; expected one of: drift, in_sync, converged, failed, approval_required (did you mean \"failed\"?)"
        );
        for bad in ["env:", "env:1X", "ftp://x", "hooks.example.com", "https://"] {
            let err = parse_err(&format!("notify \"n\" {{\n  webhook = \"{bad}\"\n}}\n"));
            assert!(
                matches!(err, ConfigError::InvalidValue { ref attribute, .. } if attribute == "webhook"),
                "{bad}"
            );
        }
        let err = parse_err("notify \"n\" {\n  on = [\"drift\"]\n}\n");
        assert!(matches!(
            err,
            ConfigError::MissingAttribute {
                attribute: "webhook",
                ..
            }
        ));
        let (config, _) =
            parse("notify \"n\" {\n  webhook = \"env:H\"\n  on = [\"failed\", \"drift\", \"failed\"]\n}\n").expect("parses");
        assert_eq!(
            config.notify[0].on,
            [NotifyEvent::Failed, NotifyEvent::Drift]
        );
    }

    #[test]
    fn outputs_refs() {
        for bad in ["apps", "apps/", "/x", "Apps/x", "a/b/c", "apps/Bad_Name"] {
            let err = parse_err(&format!("outputs \"s\" {{\n  config_map = \"{bad}\"\n}}\n"));
            assert!(
                matches!(err, ConfigError::InvalidValue { ref attribute, .. } if attribute == "config_map"),
                "{bad}: {err:?}"
            );
        }
        let err = parse_err("outputs \"s\" {}\n");
        assert!(
            err.to_string()
                .contains("outputs \"s\" has no config_map or secret attribute"),
            "{err}"
        );
    }

    #[test]
    fn workload_values() {
        let (config, _) = parse(
            "workload \"w\" {\n  path = \"k\"\n  timeout = \"1h30m\"\n  prune = false\n  force_conflicts = true\n}\n",
        )
        .expect("parses");
        let w = &config.workloads[0];
        assert_eq!(w.timeout, Duration::from_secs(5400));
        assert!(!w.prune && w.force_conflicts);
        let err = parse_err("workload \"w\" {\n  path = \"k\"\n  timeout = \"5 minutes\"\n}\n");
        assert!(
            err.to_string()
                .contains("expected a duration such as \"30s\""),
            "{err}"
        );
        let err = parse_err("workload \"w\" {\n  path = \"k\"\n  timeout = \"0s\"\n}\n");
        assert!(err.to_string().contains("set wait = false"), "{err}");
        let err = parse_err("workload \"w\" {\n  path = \"k\"\n  timeout = 300\n}\n");
        assert!(matches!(err, ConfigError::WrongType { .. }));
        let err = parse_err("workload \"w\" {\n  path = \"k\"\n  namespace = \"Apps\"\n}\n");
        assert!(
            matches!(err, ConfigError::InvalidValue { ref attribute, .. } if attribute == "namespace")
        );
        let err = parse_err("terraform {\n  lock_timeout = \"forever\"\n}\n");
        assert!(
            matches!(err, ConfigError::InvalidValue { ref attribute, .. } if attribute == "lock_timeout")
        );
    }

    #[test]
    fn repeated_dependency_is_rejected() {
        let err = parse_err("stack \"a\" {\n  path = \"x\"\n  depends_on = [\"b\", \"b\"]\n}\n");
        assert!(
            err.to_string()
                .starts_with("strata.hcl:3:22: invalid depends_on entry \"b\""),
            "{err}"
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let source = Source::new("# é\nab\n");
        let at = source.at(Some(4..5));
        assert_eq!((at.line, at.column), (1, Some(4)));
        let at = source.at(Some(6..7));
        assert_eq!((at.line, at.column), (2, Some(2)));
    }
}
