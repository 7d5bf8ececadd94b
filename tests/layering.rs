//! The module graph of `src/` has no cycles: data flows one way (source →
//! config → plan → gate → apply → converge → report), and a module that
//! needs another's type takes it from below, never from above.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module is a top-level one (`runs`) or one level below (`ops/apply`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.truncate(2);
    parts.join("/")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The modules a file's code (not its comments or tests) names, as
/// `crate::a::b` or `super::b`.
fn references(module: &str, text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut out = BTreeSet::new();
    let parent = module.split('/').next().unwrap_or_default();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (prefix, base) in [("crate::", None), ("super::", Some(parent))] {
            for (at, _) in line.match_indices(prefix) {
                let path: Vec<&str> = line[at + prefix.len()..]
                    .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .next()
                    .unwrap_or_default()
                    .split("::")
                    .filter(|p| !p.is_empty())
                    .collect();
                let name = match (base, path.as_slice()) {
                    (None, [a, b, ..]) => format!("{a}/{b}"),
                    (None, [a]) => (*a).to_owned(),
                    (Some(base), [a, ..]) if module.contains('/') => format!("{base}/{a}"),
                    _ => continue,
                };
                out.insert(name);
            }
        }
    }
    out
}

#[test]
fn the_modules_of_src_import_each_other_without_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let module = module_of(&src, file);
        let text = std::fs::read_to_string(file).expect("read");
        graph
            .entry(module.clone())
            .or_default()
            .extend(references(&module, &text));
    }
    let known: BTreeSet<String> = graph.keys().cloned().collect();
    // `a/b` that is not a module of its own is part of `a`.
    let resolve = |name: &str| -> Option<String> {
        if known.contains(name) {
            return Some(name.to_owned());
        }
        let top = name.split('/').next().unwrap_or_default();
        known.contains(top).then(|| top.to_owned())
    };
    let edges: BTreeMap<String, BTreeSet<String>> = graph
        .iter()
        .map(|(m, refs)| {
            let to = refs
                .iter()
                .filter_map(|r| resolve(r))
                .filter(|r| r != m)
                .collect();
            (m.clone(), to)
        })
        .collect();
    // Depth-first search for a back edge.
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == m) {
            let mut cycle = path[at..].to_vec();
            cycle.push(m.to_owned());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_owned());
        for next in edges.get(m).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(m.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for m in edges.keys() {
        if let Some(cycle) = visit(m, &edges, &mut Vec::new(), &mut done) {
            panic!("an import cycle: {}", cycle.join(" -> "));
        }
    }
    // The check sees the modules it should.
    for m in ["ops/apply", "ops/stacks", "runs", "kube/converge", "report"] {
        assert!(edges.contains_key(m), "{m} not found among {known:?}");
    }
    assert!(
        edges["ops/apply"].contains("runs"),
        "{:?}",
        edges["ops/apply"]
    );
}
