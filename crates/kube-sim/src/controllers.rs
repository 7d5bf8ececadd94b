//! Simulated controllers, so that clients can wait for readiness:
//! Deployments, StatefulSets, DaemonSets and ReplicaSets report a completed
//! rollout, and Jobs complete, `ready_after` after each new generation. An
//! object annotated `kube-sim/never-ready: "true"` is observed but never
//! becomes ready; once the annotation goes, it rolls out `ready_after`
//! later. The ServiceAccount controller's part: every namespace has a
//! ServiceAccount `default`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::meta;
use crate::store::{EventType, Key, State};

pub const NEVER_READY: &str = "kube-sim/never-ready";

const WORKLOADS: &[(&str, &str)] = &[
    ("apps", "deployments"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("apps", "replicasets"),
    ("batch", "jobs"),
];

/// The controllers' memory: when each object's current generation was
/// first seen.
#[derive(Debug)]
pub struct Controllers {
    ready_after: Duration,
    seen: HashMap<(Key, i64), Instant>,
}

impl Controllers {
    pub fn new(ready_after: Duration) -> Controllers {
        Controllers {
            ready_after,
            seen: HashMap::new(),
        }
    }

    /// One pass: namespaces Terminating for `ready_after` are emptied and
    /// removed; namespaces get their `default` ServiceAccount; workloads
    /// roll out.
    pub fn run(&mut self, state: &mut State) {
        let now = Instant::now();
        let terminating: Vec<Key> = state
            .list("", "namespaces", None)
            .filter(|(_, o)| o["metadata"].get("deletionTimestamp").is_some())
            .map(|(k, _)| k.clone())
            .collect();
        let ripe: Vec<String> = terminating
            .iter()
            .filter(|k| {
                let first = *self.seen.entry(((*k).clone(), -1)).or_insert(now);
                now.duration_since(first) >= self.ready_after
            })
            .map(|k| k.name.clone())
            .collect();
        if !ripe.is_empty() {
            crate::api::finish_namespaces(state, &ripe);
        }
        default_service_accounts(state);
        let mut updates = Vec::new();
        for (group, plural) in WORKLOADS {
            for (key, object) in state.list(group, plural, None) {
                let generation = object["metadata"]["generation"].as_i64().unwrap_or(1);
                if object["metadata"].get("deletionTimestamp").is_some() {
                    continue;
                }
                let never = object["metadata"]["annotations"][NEVER_READY] == "true";
                if settled(plural, object, generation, never) {
                    continue;
                }
                let first = *self.seen.entry((key.clone(), generation)).or_insert(now);
                if never || now.duration_since(first) >= self.ready_after {
                    let mut updated = object.clone();
                    updated["status"] = status(plural, object, generation, never);
                    updates.push((key.clone(), updated));
                }
            }
        }
        for (key, object) in updates {
            self.seen.retain(|(k, _), _| *k != key);
            state.put(key, object, EventType::Modified);
        }
    }
}

/// Whether the status already reports the rollout of this generation as
/// the annotation has it: ready, or (never-ready) not. A completed Job
/// stays complete.
fn settled(plural: &str, object: &Value, generation: i64, never: bool) -> bool {
    let status = &object["status"];
    if plural == "jobs" {
        return status.get("completionTime").is_some()
            || (never && status.get("startTime").is_some());
    }
    if status["observedGeneration"].as_i64() != Some(generation) {
        return false;
    }
    let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
    let ready = if never { 0 } else { replicas };
    match plural {
        "deployments" => {
            let available = status["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "Available")
                .map(|c| c["status"] == "True");
            status["availableReplicas"].as_i64() == Some(ready) && available == Some(!never)
        }
        "daemonsets" => status["numberReady"].as_i64() == Some(i64::from(!never)),
        _ => status["readyReplicas"].as_i64() == Some(ready),
    }
}

/// The ServiceAccount `default` of every namespace that is not being
/// deleted, created where it is missing (also when it was deleted), as the
/// real ServiceAccount controller does.
pub fn default_service_accounts(state: &mut State) {
    let missing: Vec<String> = state
        .list("", "namespaces", None)
        .filter(|(_, ns)| ns["metadata"].get("deletionTimestamp").is_none())
        .filter(|(k, _)| {
            state
                .get(&Key {
                    group: String::new(),
                    plural: "serviceaccounts".to_owned(),
                    namespace: k.name.clone(),
                    name: "default".to_owned(),
                })
                .is_none()
        })
        .map(|(k, _)| k.name.clone())
        .collect();
    if missing.is_empty() {
        return;
    }
    let Some(kind) = state.kind("", "v1", "serviceaccounts").cloned() else {
        return;
    };
    let opts = crate::api::WriteOptions {
        default_manager: "kube-controller-manager".to_owned(),
        ..crate::api::WriteOptions::default()
    };
    for namespace in missing {
        let object = json!({"metadata": {"name": "default"}});
        let _ = crate::api::create(state, &kind, &namespace, object, &opts);
    }
}

fn condition(kind: &str, status: bool, reason: &str, message: &str) -> Value {
    let now = meta::now();
    json!({
        "type": kind,
        "status": if status { "True" } else { "False" },
        "lastUpdateTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    })
}

/// A Job's condition: Job conditions have `lastProbeTime`, not the
/// `lastUpdateTime` of workloads' (a field the schema lacks would show as a
/// difference to every server-side dry run).
fn job_condition(kind: &str, reason: &str, message: &str) -> Value {
    let now = meta::now();
    json!({
        "type": kind,
        "status": "True",
        "lastProbeTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    })
}

fn status(plural: &str, object: &Value, generation: i64, never: bool) -> Value {
    let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
    let ready = if never { 0 } else { replicas };
    let name = object["metadata"]["name"].as_str().unwrap_or("");
    match plural {
        "deployments" => json!({
            "observedGeneration": generation,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": replicas - ready,
            "conditions": [
                if never {
                    condition("Available", false, "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
                } else {
                    condition("Available", true, "MinimumReplicasAvailable", "Deployment has minimum availability.")
                },
                condition("Progressing", true, "NewReplicaSetAvailable", &format!("ReplicaSet \"{name}\" has successfully progressed.")),
            ],
        }),
        "statefulsets" => json!({
            "observedGeneration": generation,
            "replicas": replicas,
            "currentReplicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "currentRevision": format!("{name}-{generation}"),
            "updateRevision": format!("{name}-{generation}"),
            "collisionCount": 0,
        }),
        "daemonsets" => json!({
            "observedGeneration": generation,
            "desiredNumberScheduled": 1,
            "currentNumberScheduled": 1,
            "updatedNumberScheduled": 1,
            "numberReady": if never { 0 } else { 1 },
            "numberAvailable": if never { 0 } else { 1 },
            "numberMisscheduled": 0,
        }),
        "replicasets" => json!({
            "observedGeneration": generation,
            "replicas": replicas,
            "fullyLabeledReplicas": replicas,
            "readyReplicas": ready,
            "availableReplicas": ready,
        }),
        _ => {
            let now = meta::now();
            if never {
                json!({"startTime": now, "active": 1, "ready": 0})
            } else {
                let completions = object["spec"]["completions"].as_i64().unwrap_or(1);
                json!({
                    "startTime": now,
                    "completionTime": now,
                    "succeeded": completions,
                    "ready": 0,
                    "terminating": 0,
                    "uncountedTerminatedPods": {},
                    "conditions": [
                        job_condition("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods"),
                        job_condition("Complete", "CompletionsReached", "Reached expected number of succeeded pods"),
                    ],
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{self, WriteOptions};
    use crate::kinds::builtin;
    use tokio::sync::broadcast;

    #[test]
    fn deployments_become_available_and_never_ready_ones_do_not() {
        let (tx, _) = broadcast::channel(64);
        let mut state = State::new(builtin(), tx);
        crate::server::bootstrap(&mut state);
        let deploy = state
            .kinds
            .iter()
            .find(|k| k.kind == "Deployment")
            .unwrap()
            .clone();
        let opts = WriteOptions::default();
        for (name, annotations) in [("web", json!({})), ("stuck", json!({NEVER_READY: "true"}))] {
            api::create(&mut state, &deploy, "default", json!({"metadata": {"name": name, "annotations": annotations}, "spec": {"replicas": 2, "selector": {}}}), &opts).unwrap();
        }
        let mut controllers = Controllers::new(Duration::ZERO);
        controllers.run(&mut state);
        let web = api::get(&state, &deploy, "default", "web").unwrap();
        assert_eq!(web["status"]["availableReplicas"], 2);
        assert_eq!(web["status"]["conditions"][0]["status"], "True");
        let stuck = api::get(&state, &deploy, "default", "stuck").unwrap();
        assert_eq!(stuck["status"]["availableReplicas"], 0);
        assert_eq!(stuck["status"]["conditions"][0]["status"], "False");

        // A Job completes, with conditions as the schema has them.
        let job = state.kind("batch", "v1", "jobs").cloned().unwrap();
        let done = json!({"metadata": {"name": "done"}, "spec": {"template": {}}});
        api::create(&mut state, &job, "default", done, &opts).unwrap();
        controllers.run(&mut state);
        let done = api::get(&state, &job, "default", "done").unwrap();
        let complete = &done["status"]["conditions"][1];
        assert_eq!(complete["type"], "Complete");
        assert!(
            complete.get("lastProbeTime").is_some() && complete.get("lastUpdateTime").is_none()
        );

        // Settled: nothing more is written, never-ready or not.
        let never = json!({"metadata": {"name": "stuck", "annotations": {NEVER_READY: "true"}}, "spec": {"template": {}}});
        api::create(&mut state, &job, "default", never, &opts).unwrap();
        controllers.run(&mut state);
        let rv = state.rv();
        controllers.run(&mut state);
        assert_eq!(state.rv(), rv);

        // Without the annotation, it rolls out (no new generation).
        let mut freed = stuck.clone();
        freed["metadata"]["annotations"] = json!({});
        api::update(
            &mut state, &deploy, "default", "stuck", None, freed, true, &opts,
        )
        .unwrap();
        controllers.run(&mut state);
        let stuck = api::get(&state, &deploy, "default", "stuck").unwrap();
        assert_eq!(stuck["metadata"]["generation"], 1);
        assert_eq!(stuck["status"]["availableReplicas"], 2);
        assert_eq!(stuck["status"]["conditions"][0]["status"], "True");
    }

    #[test]
    fn every_namespace_gets_a_default_service_account() {
        let (tx, _) = broadcast::channel(64);
        let mut state = State::new(builtin(), tx);
        crate::server::bootstrap(&mut state);
        let sa = state.kind("", "v1", "serviceaccounts").cloned().unwrap();
        let ns = state.kind("", "v1", "namespaces").cloned().unwrap();
        for namespace in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            api::get(&state, &sa, namespace, "default").unwrap();
        }
        let opts = WriteOptions::default();
        api::create(
            &mut state,
            &ns,
            "",
            json!({"metadata": {"name": "x"}}),
            &opts,
        )
        .unwrap();
        assert!(api::get(&state, &sa, "x", "default").is_err());
        let mut controllers = Controllers::new(Duration::from_secs(60));
        controllers.run(&mut state);
        api::get(&state, &sa, "x", "default").unwrap();
        let rv = state.rv();
        controllers.run(&mut state);
        assert_eq!(state.rv(), rv);
        // Not in a namespace being deleted.
        api::delete(
            &mut state,
            &sa,
            "x",
            "default",
            api::Propagation::Background,
            &opts,
        )
        .unwrap();
        api::delete(
            &mut state,
            &ns,
            "",
            "x",
            api::Propagation::Background,
            &opts,
        )
        .unwrap();
        controllers.run(&mut state);
        assert!(api::get(&state, &sa, "x", "default").is_err());
    }
}
