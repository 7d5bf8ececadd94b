//! `strata graph`: the dependency graph of stacks and workloads, with the
//! Terraform outputs that flow into manifests, as Mermaid or DOT. Static:
//! no Terraform, no cluster.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Environment, Error, SourceOptions, checkout};
use crate::config::{self, Config};
use crate::interrupt::Interrupt;

#[derive(Debug, Clone)]
pub struct GraphOptions {
    pub source: SourceOptions,
    pub env: Environment,
}

/// A node: a stack, a workload, or the objects an `outputs` block writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    pub name: String,
    /// The directory; for outputs, the objects written.
    pub path: String,
    pub kind: NodeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Stack,
    Workload,
    /// A stack's outputs published into the cluster.
    Outputs,
}

/// The graph: nodes in config order, edges from a dependency to what
/// depends on it, labelled with the outputs that flow along them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Graph {
    pub nodes: Vec<Node>,
    /// (from, to) → output names.
    pub edges: BTreeMap<(String, String), Vec<String>>,
}

/// # Errors
/// Source, state directory and configuration errors.
pub async fn graph(
    opts: &GraphOptions,
    ui: &crate::ui::Ui,
    interrupt: &Interrupt,
) -> Result<Graph, Error> {
    let (_state, snapshot) = checkout(&opts.source, &opts.env, "graph", ui, interrupt).await?;
    let config = config::load(&snapshot.root)?;
    let tools = super::workloads::tools(&opts.env);
    Ok(of(
        &config,
        &super::publish::layout(&config, &snapshot.root, &tools),
    ))
}

/// Adds a node per `outputs` block: from its stack to the workloads that
/// wait for the objects (their carrier and whatever depends on it).
fn add_outputs(g: &mut Graph, config: &Config, layout: &super::publish::Layout) {
    let id_of = |g: &Graph, kind: NodeKind, name: &str| {
        g.nodes
            .iter()
            .find(|n| n.kind == kind && n.name == name)
            .map(|n| n.id.clone())
    };
    for (i, block) in config.outputs.iter().enumerate() {
        let id = format!("o{i}");
        let objects: Vec<String> = [("ConfigMap", &block.config_map), ("Secret", &block.secret)]
            .into_iter()
            .filter_map(|(kind, o)| o.as_ref().map(|o| format!("{kind} {o}")))
            .collect();
        g.nodes.push(Node {
            id: id.clone(),
            name: format!("{} outputs", block.stack),
            path: objects.join(", "),
            kind: NodeKind::Outputs,
        });
        if let Some(stack) = id_of(g, NodeKind::Stack, &block.stack) {
            g.edges.entry((stack, id.clone())).or_default();
        }
        let carriers: Vec<&str> = layout
            .published
            .iter()
            .filter(|p| p.stack == block.stack)
            .map(|p| p.carrier.as_str())
            .collect();
        for w in &layout.workloads {
            let waits = carriers.contains(&w.name.as_str())
                || w.depends_on.iter().any(|d| carriers.contains(&d.as_str()));
            if let Some(to) = id_of(g, NodeKind::Workload, &w.name).filter(|_| waits) {
                g.edges.entry((id.clone(), to)).or_default();
            }
        }
    }
}

/// The graph of `config` as `layout` (which read the manifests) lays it
/// out.
pub(crate) fn of(config: &Config, layout: &super::publish::Layout) -> Graph {
    let mut g = build(config, &layout.references);
    add_outputs(&mut g, config, layout);
    g
}

/// The graph of `config`, given the `(stack, output)` references of each
/// workload's manifests.
pub fn build(config: &Config, refs: &BTreeMap<String, Vec<(String, String)>>) -> Graph {
    // Ids by position: names may hold `-` and `_`, which Mermaid ids
    // cannot all take.
    let ids: BTreeMap<(bool, &str), String> = config
        .stacks
        .iter()
        .enumerate()
        .map(|(i, s)| ((false, s.name.as_str()), format!("s{i}")))
        .chain(
            config
                .workloads
                .iter()
                .enumerate()
                .map(|(i, w)| ((true, w.name.as_str()), format!("w{i}"))),
        )
        .collect();
    let id = |workload: bool, name: &str| ids.get(&(workload, name)).cloned().unwrap_or_default();
    let mut g = Graph::default();
    for s in &config.stacks {
        g.nodes.push(Node {
            id: id(false, &s.name),
            name: s.name.clone(),
            path: s.path.clone(),
            kind: NodeKind::Stack,
        });
        for d in &s.depends_on {
            g.edges
                .entry((id(false, d), id(false, &s.name)))
                .or_default();
        }
    }
    for w in &config.workloads {
        g.nodes.push(Node {
            id: id(true, &w.name),
            name: w.name.clone(),
            // The cluster, when the workload names its context.
            path: match &w.context {
                Some(context) => format!("{} on {context}", w.path),
                None => w.path.clone(),
            },
            kind: NodeKind::Workload,
        });
        for d in &w.depends_on {
            let is_workload = config.workload(d).is_some();
            g.edges
                .entry((id(is_workload, d), id(true, &w.name)))
                .or_default();
        }
        for (stack, output) in refs.get(&w.name).into_iter().flatten() {
            if config.stack(stack).is_none() {
                continue;
            }
            let outputs = g
                .edges
                .entry((id(false, stack), id(true, &w.name)))
                .or_default();
            if !outputs.contains(output) {
                outputs.push(output.clone());
            }
        }
    }
    g
}

impl Graph {
    /// Mermaid `flowchart LR`: stacks as boxes, workloads as parallelograms.
    pub fn mermaid(&self) -> String {
        self.mermaid_with(|_| None)
    }

    /// The Mermaid graph with each node coloured by what `state` says of
    /// it: `in_sync`, `changes`, `drift` or `failed` (`None`: uncoloured).
    pub fn mermaid_with(&self, state: impl Fn(&Node) -> Option<&'static str>) -> String {
        let mut out = String::from("flowchart LR\n");
        for n in &self.nodes {
            let label = format!("{}<br/><small>{}</small>", n.name, n.path);
            match n.kind {
                NodeKind::Workload => {
                    let _ = writeln!(out, "    {}[/\"{label}\"/]", n.id);
                }
                NodeKind::Stack => {
                    let _ = writeln!(out, "    {}[\"{label}\"]", n.id);
                }
                NodeKind::Outputs => {
                    let _ = writeln!(out, "    {}([\"{label}\"])", n.id);
                }
            }
        }
        for ((from, to), outputs) in &self.edges {
            if outputs.is_empty() {
                let _ = writeln!(out, "    {from} --> {to}");
            } else {
                let _ = writeln!(out, "    {from} -- \"{}\" --> {to}", outputs.join(", "));
            }
        }
        let mut classes: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for n in &self.nodes {
            if let Some(class) = state(n) {
                classes.entry(class).or_default().push(&n.id);
            }
        }
        for (class, ids) in &classes {
            let style = match *class {
                "in_sync" => "fill:#d4f7d4,stroke:#2e7d32",
                "changes" => "fill:#fff4c2,stroke:#b58900",
                "drift" => "fill:#ffd8b0,stroke:#d9480f,stroke-width:3px",
                _ => "fill:#ffc9c9,stroke:#c92a2a,stroke-width:3px",
            };
            let _ = writeln!(out, "    classDef {class} {style}");
            let _ = writeln!(out, "    class {} {class}", ids.join(","));
        }
        out
    }

    /// Graphviz DOT.
    pub fn dot(&self) -> String {
        let mut out = String::from("digraph strata {\n    rankdir=LR;\n");
        for n in &self.nodes {
            let shape = match n.kind {
                NodeKind::Workload => "parallelogram",
                NodeKind::Stack => "box",
                NodeKind::Outputs => "note",
            };
            let _ = writeln!(
                out,
                "    {} [label=\"{}\\n{}\", shape={shape}];",
                n.id, n.name, n.path
            );
        }
        for ((from, to), outputs) in &self.edges {
            if outputs.is_empty() {
                let _ = writeln!(out, "    {from} -> {to};");
            } else {
                let _ = writeln!(
                    out,
                    "    {from} -> {to} [label=\"{}\"];",
                    outputs.join(", ")
                );
            }
        }
        out.push_str("}\n");
        out
    }
}
