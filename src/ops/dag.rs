//! Running tasks in dependency order: every node starts as soon as all its
//! dependencies have succeeded, at most `parallelism` at once. A failed node
//! marks everything downstream as skipped; unrelated nodes carry on.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use tokio::task::JoinSet;

/// How one node ended.
#[derive(Debug)]
pub enum NodeResult<T> {
    Done(T),
    /// The node ran and failed; the value is still reported.
    Failed(T),
    /// Not run: `because` names the dependency that failed or was skipped.
    Skipped {
        because: String,
    },
}

/// A node: its name and the names of the nodes it depends on. Dependencies
/// that are not among the nodes (filtered out by `--stack`) count as met.
pub struct Node {
    pub name: String,
    pub depends_on: Vec<String>,
}

/// Runs `run(name)` for every node in dependency order. `run` returns
/// `Ok(value)` on success and `Err(value)` on failure. `stop()` is checked
/// before each start: once it says true, nothing new starts and the
/// remaining nodes are skipped.
pub async fn run<T, F, Fut>(
    nodes: Vec<Node>,
    parallelism: usize,
    stop: impl Fn() -> bool,
    run: F,
) -> BTreeMap<String, NodeResult<T>>
where
    T: Send + 'static,
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<T, T>> + Send + 'static,
{
    let names: BTreeSet<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let mut waiting: Vec<Node> = nodes
        .into_iter()
        .map(|mut n| {
            n.depends_on.retain(|d| names.contains(d));
            n
        })
        .collect();
    let mut results: BTreeMap<String, NodeResult<T>> = BTreeMap::new();
    let mut running = JoinSet::new();
    let parallelism = parallelism.max(1);

    loop {
        // Skip what can no longer run, then start what is ready.
        let mut i = 0;
        while i < waiting.len() {
            let node = &waiting[i];
            let blocked = node.depends_on.iter().find(|d| {
                matches!(
                    results.get(*d),
                    Some(NodeResult::Failed(_) | NodeResult::Skipped { .. })
                )
            });
            if let Some(dep) = blocked {
                let because = match results.get(dep) {
                    Some(NodeResult::Failed(_)) => format!("{dep} failed"),
                    _ => format!("{dep} was skipped"),
                };
                let node = waiting.remove(i);
                results.insert(node.name, NodeResult::Skipped { because });
                i = 0;
                continue;
            }
            let ready = node
                .depends_on
                .iter()
                .all(|d| matches!(results.get(d), Some(NodeResult::Done(_))));
            if ready && running.len() < parallelism {
                if stop() {
                    break;
                }
                let node = waiting.remove(i);
                let fut = run(node.name.clone());
                running.spawn(async move { (node.name, fut.await) });
                continue;
            }
            i += 1;
        }
        if stop() && running.is_empty() {
            for node in waiting.drain(..) {
                results.insert(
                    node.name,
                    NodeResult::Skipped {
                        because: "interrupted".to_owned(),
                    },
                );
            }
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        match joined {
            Ok((name, Ok(value))) => {
                results.insert(name, NodeResult::Done(value));
            }
            Ok((name, Err(value))) => {
                results.insert(name, NodeResult::Failed(value));
            }
            // A panicking task is a bug; surface it rather than hang.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    // Cycles are rejected by config validation; anything left is a bug.
    debug_assert!(waiting.is_empty(), "unscheduled nodes: {}", waiting.len());
    results
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    fn node(name: &str, deps: &[&str]) -> Node {
        Node {
            name: name.to_owned(),
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[tokio::test]
    async fn dependencies_run_first_and_failures_skip_dependents() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let nodes = vec![
            node("app", &["db"]),
            node("db", &["net"]),
            node("net", &[]),
            node("bad", &[]),
            node("after-bad", &["bad"]),
            node("after-after", &["after-bad"]),
            node("filtered-dep", &["not-selected"]),
        ];
        let l = log.clone();
        let results = run(
            nodes,
            2,
            || false,
            move |name| {
                let l = l.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    l.lock().unwrap().push(name.clone());
                    if name == "bad" { Err(name) } else { Ok(name) }
                }
            },
        )
        .await;
        let order = log.lock().unwrap().clone();
        let pos = |n: &str| order.iter().position(|x| x == n).unwrap();
        assert!(
            pos("net") < pos("db") && pos("db") < pos("app"),
            "{order:?}"
        );
        assert!(matches!(results["bad"], NodeResult::Failed(_)));
        assert!(
            matches!(&results["after-bad"], NodeResult::Skipped { because } if because == "bad failed")
        );
        assert!(
            matches!(&results["after-after"], NodeResult::Skipped { because } if because == "after-bad was skipped")
        );
        assert!(matches!(results["filtered-dep"], NodeResult::Done(_)));
        assert_eq!(results.len(), 7);
    }

    #[tokio::test]
    async fn stop_skips_what_has_not_started() {
        let results = run(
            vec![node("a", &[]), node("b", &["a"])],
            1,
            || true,
            |n| async move { Ok::<_, String>(n) },
        )
        .await;
        assert!(matches!(results["a"], NodeResult::Skipped { .. }));
        assert!(matches!(results["b"], NodeResult::Skipped { .. }));
    }
}
