//! The dependency graph of stacks and workloads.
//!
//! Edges come from `depends_on`. A stack's entries name stacks; a
//! workload's name stacks or workloads, which is unambiguous because the two
//! share one namespace (see [`super::parse`]). Unknown names are ignored here;
//! validation rejects them before a [`Config`] is handed out.

use std::collections::{BTreeSet, HashMap};

use super::model::{Config, Node};

/// Nodes with their resolved direct dependencies, in configuration order.
struct Graph {
    nodes: Vec<Node>,
    index: HashMap<Node, usize>,
    /// `deps[i]`: indices node `i` depends on, in `depends_on` order.
    deps: Vec<Vec<usize>>,
}

impl Graph {
    fn new(config: &Config) -> Self {
        let nodes = config.nodes();
        let index: HashMap<Node, usize> = nodes
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, n)| (n, i))
            .collect();
        let deps = nodes
            .iter()
            .map(|node| {
                config
                    .dependencies(node)
                    .iter()
                    .filter_map(|dep| index.get(dep).copied())
                    .collect()
            })
            .collect();
        Graph { nodes, index, deps }
    }
}

impl Config {
    /// The direct dependencies of `node`, resolved to stacks or workloads.
    pub fn dependencies(&self, node: &Node) -> Vec<Node> {
        match node {
            Node::Stack(name) => self.stack(name).map_or_else(Vec::new, |stack| {
                stack
                    .depends_on
                    .iter()
                    .filter(|dep| self.stack(dep).is_some())
                    .map(|dep| Node::Stack(dep.clone()))
                    .collect()
            }),
            Node::Workload(name) => self.workload(name).map_or_else(Vec::new, |workload| {
                workload
                    .depends_on
                    .iter()
                    .filter_map(|dep| {
                        if self.stack(dep).is_some() {
                            Some(Node::Stack(dep.clone()))
                        } else if self.workload(dep).is_some() {
                            Some(Node::Workload(dep.clone()))
                        } else {
                            None
                        }
                    })
                    .collect()
            }),
        }
    }

    /// Stacks and workloads in dependency order as layers: every node's
    /// dependencies are in earlier layers, and nodes in one layer are
    /// independent of each other. Within a layer, stacks come first, each
    /// kind in configuration order, so the result is deterministic.
    ///
    /// A validated config has no cycles; should one be built by hand anyway,
    /// the nodes on or behind it form a final layer rather than vanishing.
    pub fn layers(&self) -> Vec<Vec<Node>> {
        let graph = Graph::new(self);
        let mut layer_of: Vec<Option<usize>> = vec![None; graph.nodes.len()];
        let mut layers: Vec<Vec<Node>> = Vec::new();
        loop {
            let current = layers.len();
            let ready: Vec<usize> = (0..graph.nodes.len())
                .filter(|&i| {
                    layer_of[i].is_none()
                        && graph.deps[i]
                            .iter()
                            .all(|&d| layer_of[d].is_some_and(|l| l < current))
                })
                .collect();
            if ready.is_empty() {
                break;
            }
            for &i in &ready {
                layer_of[i] = Some(current);
            }
            layers.push(ready.into_iter().map(|i| graph.nodes[i].clone()).collect());
        }
        let stuck: Vec<Node> = (0..graph.nodes.len())
            .filter(|&i| layer_of[i].is_none())
            .map(|i| graph.nodes[i].clone())
            .collect();
        if !stuck.is_empty() {
            layers.push(stuck);
        }
        layers
    }

    /// All transitive dependents of `node` (what must be skipped when it
    /// fails), stacks first, each in configuration order. Empty for a node
    /// that is not in the configuration.
    pub fn dependents(&self, node: &Node) -> Vec<Node> {
        let graph = Graph::new(self);
        let Some(&start) = graph.index.get(node) else {
            return Vec::new();
        };
        let mut found = BTreeSet::new();
        let mut queue = vec![start];
        while let Some(current) = queue.pop() {
            for (i, deps) in graph.deps.iter().enumerate() {
                if deps.contains(&current) && i != start && found.insert(i) {
                    queue.push(i);
                }
            }
        }
        found.into_iter().map(|i| graph.nodes[i].clone()).collect()
    }
}

/// A dependency cycle, if any: the nodes along it, starting and ending with
/// the same node. Searches from nodes in configuration order, so the
/// reported cycle is stable.
pub(super) fn find_cycle(config: &Config) -> Option<Vec<Node>> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        OnPath,
        Done,
    }

    fn visit(
        graph: &Graph,
        node: usize,
        state: &mut [State],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        state[node] = State::OnPath;
        path.push(node);
        for &dep in &graph.deps[node] {
            match state[dep] {
                State::OnPath => {
                    let start = path.iter().position(|&n| n == dep).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(dep);
                    return Some(cycle);
                }
                State::New => {
                    if let Some(cycle) = visit(graph, dep, state, path) {
                        return Some(cycle);
                    }
                }
                State::Done => {}
            }
        }
        path.pop();
        state[node] = State::Done;
        None
    }

    let graph = Graph::new(config);
    let mut state = vec![State::New; graph.nodes.len()];
    for start in 0..graph.nodes.len() {
        if state[start] == State::New {
            let mut path = Vec::new();
            if let Some(cycle) = visit(&graph, start, &mut state, &mut path) {
                return Some(cycle.into_iter().map(|i| graph.nodes[i].clone()).collect());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::model::{Stack, Workload};
    use super::super::tests::empty_config;
    use super::*;

    fn stack(name: &str, deps: &[&str]) -> Stack {
        Stack {
            name: name.into(),
            path: format!("infra/{name}"),
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
            ..Stack::default()
        }
    }

    fn workload(name: &str, deps: &[&str]) -> Workload {
        Workload {
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
            ..Workload::new(name, format!("k8s/{name}"))
        }
    }

    fn s(name: &str) -> Node {
        Node::Stack(name.into())
    }

    fn w(name: &str) -> Node {
        Node::Workload(name.into())
    }

    /// network <- database <- apps <- web; monitoring alone; platform <- apps
    fn sample() -> Config {
        let mut config = empty_config();
        config.stacks = vec![
            stack("network", &[]),
            stack("database", &["network"]),
            stack("dns", &[]),
        ];
        config.workloads = vec![
            workload("web", &["apps"]),
            workload("apps", &["database", "platform"]),
            workload("platform", &[]),
            workload("monitoring", &["network"]),
        ];
        config
    }

    #[test]
    fn layers_respect_dependencies() {
        let layers = sample().layers();
        assert_eq!(
            layers,
            vec![
                vec![s("network"), s("dns"), w("platform")],
                vec![s("database"), w("monitoring")],
                vec![w("apps")],
                vec![w("web")],
            ]
        );
    }

    #[test]
    fn layers_of_an_empty_config() {
        assert!(empty_config().layers().is_empty());
    }

    #[test]
    fn dependents_are_transitive() {
        let config = sample();
        assert_eq!(
            config.dependents(&s("network")),
            vec![s("database"), w("web"), w("apps"), w("monitoring")]
        );
        assert_eq!(config.dependents(&w("platform")), vec![w("web"), w("apps")]);
        assert!(config.dependents(&w("web")).is_empty());
        assert!(config.dependents(&s("nope")).is_empty());
    }

    #[test]
    fn workload_dependencies_resolve_to_stacks_or_workloads() {
        let config = sample();
        assert_eq!(
            config.dependencies(&w("apps")),
            vec![s("database"), w("platform")]
        );
    }

    #[test]
    fn finds_a_cycle_and_names_it_whole() {
        let mut config = sample();
        assert_eq!(find_cycle(&config), None);
        config.stacks = vec![stack("a", &["b"]), stack("b", &["c"]), stack("c", &["a"])];
        assert_eq!(
            find_cycle(&config),
            Some(vec![s("a"), s("b"), s("c"), s("a")])
        );
        // Cycles never reach into layers() silently.
        let layers = config.layers();
        assert_eq!(layers.last().map(Vec::len), Some(3));
    }

    #[test]
    fn finds_a_cycle_through_workloads() {
        let mut config = empty_config();
        config.stacks = vec![stack("base", &[])];
        config.workloads = vec![workload("x", &["base", "y"]), workload("y", &["x"])];
        assert_eq!(find_cycle(&config), Some(vec![w("x"), w("y"), w("x")]));
    }
}
