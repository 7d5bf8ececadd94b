//! Health: when an applied object has done what it was asked. Rollouts of
//! Deployments, StatefulSets and DaemonSets, Job completion, CRDs
//! Established, and otherwise a `Ready` condition if the object has one.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::client::{CONCURRENCY, Cluster, bounded, retry};
use super::set::Object;

/// How much of the work an object has done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Ready,
    /// Not yet, and why.
    Progressing(String),
    /// Will not get there by waiting, and why.
    Failed(String),
}

/// The health of a live object of kind `group/kind`.
pub fn check(group: &str, kind: &str, live: &Value) -> Health {
    let status = &live["status"];
    let generation = live["metadata"]["generation"].as_i64();
    let observed = status["observedGeneration"].as_i64();
    let stale = matches!((generation, observed), (Some(g), o) if o.is_none_or(|o| o < g));
    let int = |field: &str| status[field].as_i64().unwrap_or(0);
    match (group, kind) {
        ("apps", "Deployment") => {
            // The status is about an older spec until the controller has
            // observed this one: its conditions do not count yet.
            if stale {
                return Health::Progressing("the rollout has not been observed yet".to_owned());
            }
            if let Some(c) = condition(live, "Progressing")
                && c["reason"] == "ProgressDeadlineExceeded"
            {
                return Health::Failed(describe(c));
            }
            let want = live["spec"]["replicas"].as_i64().unwrap_or(1);
            let (updated, available) = (int("updatedReplicas"), int("availableReplicas"));
            if updated < want || available < want || int("replicas") > want {
                let why = condition(live, "Available")
                    .filter(|c| c["status"] != "True")
                    .map(describe)
                    .unwrap_or_default();
                return Health::Progressing(format!(
                    "{available} of {want} replicas available, {updated} updated{}",
                    if why.is_empty() {
                        String::new()
                    } else {
                        format!(" ({why})")
                    }
                ));
            }
            Health::Ready
        }
        ("apps", "StatefulSet") => {
            if stale {
                return Health::Progressing("the rollout has not been observed yet".to_owned());
            }
            let want = live["spec"]["replicas"].as_i64().unwrap_or(1);
            let ready = int("readyReplicas");
            if ready < want {
                return Health::Progressing(format!("{ready} of {want} replicas ready"));
            }
            if status["updateRevision"] != status["currentRevision"]
                && int("updatedReplicas") < want
            {
                return Health::Progressing("the rolling update is not finished".to_owned());
            }
            Health::Ready
        }
        ("apps", "DaemonSet") => {
            if stale {
                return Health::Progressing("the rollout has not been observed yet".to_owned());
            }
            let want = int("desiredNumberScheduled");
            let (ready, updated) = (int("numberReady"), int("updatedNumberScheduled"));
            if ready < want || updated < want {
                return Health::Progressing(format!(
                    "{ready} of {want} pods ready, {updated} updated"
                ));
            }
            Health::Ready
        }
        ("batch", "Job") => {
            if let Some(c) = condition(live, "Failed").filter(|c| c["status"] == "True") {
                return Health::Failed(describe(c));
            }
            if condition(live, "Complete").is_some_and(|c| c["status"] == "True") {
                return Health::Ready;
            }
            Health::Progressing(format!(
                "{} active, {} succeeded",
                int("active"),
                int("succeeded")
            ))
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            match condition(live, "Established") {
                Some(c) if c["status"] == "True" => Health::Ready,
                Some(c) => Health::Progressing(describe(c)),
                None => Health::Progressing("not Established yet".to_owned()),
            }
        }
        _ => match condition(live, "Ready") {
            Some(c) if c["status"] == "True" => Health::Ready,
            Some(c) => Health::Progressing(describe(c)),
            None => Health::Ready,
        },
    }
}

fn condition<'a>(live: &'a Value, kind: &str) -> Option<&'a Value> {
    live["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

/// `Available=False: MinimumReplicasUnavailable: Deployment does not have…`
fn describe(c: &Value) -> String {
    let mut text = format!(
        "{}={}",
        c["type"].as_str().unwrap_or("?"),
        c["status"].as_str().unwrap_or("?")
    );
    for field in ["reason", "message"] {
        if let Some(s) = c[field].as_str().filter(|s| !s.is_empty()) {
            text.push_str(": ");
            text.push_str(s);
        }
    }
    text
}

async fn health_of(cluster: &Cluster, o: &Object) -> Health {
    let api = cluster.api(&o.resource, &o.id.namespace);
    match retry(|| api.get_opt(&o.id.name)).await {
        Ok(Some(live)) => {
            let live = serde_json::to_value(&live).unwrap_or_default();
            check(&o.id.group, &o.id.kind, &live)
        }
        Ok(None) => Health::Progressing("it does not exist".to_owned()),
        Err(e) => Health::Progressing(format!("cannot read it: {}", super::client::describe(&e))),
    }
}

/// Waits until every object is ready, one fails, or `timeout` passes.
/// Returns the objects that are not ready, with why.
pub async fn wait(
    cluster: &Cluster,
    objects: &[&Object],
    timeout: Duration,
    stop: impl Fn() -> bool,
) -> Vec<(String, String)> {
    let deadline = Instant::now() + timeout;
    let mut pending: Vec<&Object> = objects.to_vec();
    let mut last: Vec<(String, String)> = Vec::new();
    let mut delay = Duration::from_millis(100);
    loop {
        let futures: Vec<_> = pending.iter().map(|o| health_of(cluster, o)).collect();
        let checks: Vec<(&Object, Health)> = pending
            .iter()
            .copied()
            .zip(bounded(futures, CONCURRENCY).await)
            .collect();
        let mut still = Vec::new();
        last.clear();
        let mut failed = Vec::new();
        for (o, health) in checks {
            match health {
                Health::Ready => {}
                Health::Progressing(why) => {
                    last.push((o.id.address(), why));
                    still.push(o);
                }
                Health::Failed(why) => failed.push((o.id.address(), why)),
            }
        }
        if !failed.is_empty() {
            failed.extend(last);
            failed.sort();
            return failed;
        }
        if still.is_empty() {
            return Vec::new();
        }
        if Instant::now() >= deadline || stop() {
            last.sort();
            return last;
        }
        pending = still;
        tokio::time::sleep(delay.min(deadline.saturating_duration_since(Instant::now()))).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn deployments_are_ready_when_rolled_out() {
        let mut d = json!({
            "metadata": {"generation": 2},
            "spec": {"replicas": 2},
            "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}
        });
        assert!(matches!(
            check("apps", "Deployment", &d),
            Health::Progressing(_)
        ));
        d["status"]["observedGeneration"] = json!(2);
        assert_eq!(check("apps", "Deployment", &d), Health::Ready);
        d["status"]["availableReplicas"] = json!(0);
        d["status"]["conditions"] = json!([{"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability."}]);
        let Health::Progressing(why) = check("apps", "Deployment", &d) else {
            panic!("not ready")
        };
        assert_eq!(
            why,
            "0 of 2 replicas available, 2 updated (Available=False: MinimumReplicasUnavailable: Deployment does not have minimum availability.)"
        );
    }

    #[test]
    fn jobs_crds_and_ready_conditions() {
        let job = json!({"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}});
        assert!(matches!(check("batch", "Job", &job), Health::Failed(_)));
        let crd = json!({"status": {"conditions": [{"type": "Established", "status": "True"}]}});
        assert_eq!(
            check("apiextensions.k8s.io", "CustomResourceDefinition", &crd),
            Health::Ready
        );
        let other = json!({"status": {"conditions": [{"type": "Ready", "status": "False", "message": "waiting"}]}});
        assert_eq!(
            check("example.com", "Thing", &other),
            Health::Progressing("Ready=False: waiting".to_owned())
        );
        assert_eq!(check("", "ConfigMap", &json!({})), Health::Ready);
    }
}
