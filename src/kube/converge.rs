//! Diffing and converging one workload.
//!
//! [`plan`] compares every object with the cluster through a server-side
//! dry-run apply and lists what [`apply`] would do: create, update (with
//! the fields), recreate, prune. [`apply`] then applies the changes wave by
//! wave with server-side apply, records the inventory, prunes, and waits
//! for health. Nothing is written by [`plan`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kube::api::{
    DeleteParams, DynamicObject, Patch, PatchParams, Preconditions, ValidationDirective,
};
use serde_json::Value;

use super::client::{
    CONCURRENCY, Cluster, Resource, bounded, describe, retry, status, webhook_unavailable,
};
use super::diff::{self, FieldChange};
use super::health;
use super::inventory::{self, Entry, Inventory};
use super::ownership;
use super::set::{Object, ObjectSet};
use super::{FIELD_MANAGER, KubeError, ObjectId, PRUNE_ANNOTATION, RECREATE_ANNOTATION};

/// A workload's settings, from `strata.hcl` and the flags.
#[derive(Debug, Clone)]
pub struct Settings {
    pub name: String,
    pub prune: bool,
    pub wait: bool,
    pub timeout: Duration,
    /// Take over fields another manager applied.
    pub force_conflicts: bool,
    /// JSON pointers of fields left to others (`ignore_fields`).
    pub ignore: Vec<String>,
}

/// What applying does to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    /// Delete and create again: a field cannot change in place.
    Recreate,
    /// Delete: strata applied it and it left Git.
    Prune,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Recreate => "recreate",
            Action::Prune => "prune",
        }
    }

    pub fn destructive(self) -> bool {
        matches!(self, Action::Recreate | Action::Prune)
    }

    pub fn glyph(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Recreate => "-/+",
            Action::Prune => "-",
        }
    }
}

/// One object that differs.
#[derive(Debug, Clone)]
pub struct Change {
    pub id: ObjectId,
    pub api_version: String,
    pub action: Action,
    /// The live object was changed outside strata (Git did not change).
    pub drift: bool,
    pub fields: Vec<FieldChange>,
    /// Why it is destructive, or anything else a person should know.
    pub reason: Option<String>,
    /// The object cannot be applied as it is (shown in the plan, fails
    /// the workload).
    pub error: Option<String>,
    /// Apply with `force`: the fields were taken by an imperative edit.
    pub force: bool,
    /// The live object's uid.
    pub uid: Option<String>,
    /// Index in the set's objects; `None` for a prune.
    pub object: Option<usize>,
    /// For a prune: the inventory entry it deletes.
    pub entry: Option<Entry>,
    /// What is applied when it is not the manifest as written: without
    /// the fields left to others that another manager has (see
    /// [`ownership::leave_to_others`]).
    pub config: Option<Value>,
    /// Fields a person set with kubectl that Git lacks are taken over
    /// before the apply, so that it removes them; these are the rules of
    /// fields left to others, which are not (see [`ownership::takeover`]).
    pub take_over: Option<Vec<String>>,
    /// The live object as read, for policies (`None` for a create).
    pub live: Option<Value>,
}

/// What identifies a live object's version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Live {
    pub uid: String,
    pub resource_version: String,
    /// Only strata's server-side apply ever wrote it (status written by
    /// controllers aside): nobody else created or edited it.
    pub only_strata: bool,
}

impl Live {
    fn of(object: &Value) -> Live {
        let text = |field: &str| {
            object["metadata"][field]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        Live {
            uid: text("uid"),
            resource_version: text("resourceVersion"),
            only_strata: only_strata(&object["metadata"]["managedFields"]),
        }
    }
}

fn managed_only_by_strata(object: &DynamicObject) -> bool {
    only_strata(&serde_json::to_value(&object.metadata.managed_fields).unwrap_or_default())
}

/// Whether `managedFields` holds only strata's applies (entries for a
/// subresource such as `status`, which controllers write, aside).
fn only_strata(managed: &Value) -> bool {
    let entries: Vec<&Value> = managed
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["subresource"].as_str().is_none_or(str::is_empty))
        .collect();
    !entries.is_empty()
        && entries
            .iter()
            .all(|e| e["manager"] == FIELD_MANAGER && e["operation"] == "Apply")
}

/// The diff of one workload.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub set: ObjectSet,
    pub inventory: Option<Inventory>,
    pub changes: Vec<Change>,
    /// Objects already as Git says.
    pub unchanged: BTreeMap<ObjectId, Live>,
    /// Inventory objects that left Git but are kept, and why.
    pub kept: Vec<(ObjectId, String)>,
    /// Inventory objects that left Git and are already gone.
    pub gone: Vec<ObjectId>,
}

impl Plan {
    /// Every object of the workload would be pruned: nothing strata
    /// applied before is still in Git, and something is left to delete (a
    /// mistyped path, even one that points at other manifests, must not
    /// wipe a cluster).
    pub fn empty_prune(&self) -> bool {
        let ids = self.set.ids();
        let still = self
            .inventory
            .as_ref()
            .is_some_and(|inv| inv.objects.iter().any(|e| ids.contains(&e.id)));
        !still && self.changes.iter().any(|c| c.action == Action::Prune)
    }

    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    pub fn errors(&self) -> Vec<String> {
        self.changes
            .iter()
            .filter_map(|c| c.error.as_ref().map(|e| format!("{}: {e}", c.id)))
            .collect()
    }
}

fn params(force: bool, dry_run: bool) -> PatchParams {
    PatchParams {
        dry_run,
        force,
        field_manager: Some(FIELD_MANAGER.to_owned()),
        field_validation: Some(ValidationDirective::Strict),
    }
}

/// What the server said about one object, without secrets.
fn api_message(e: &kube::Error, object: &Object) -> String {
    let text = describe(e);
    diff::scrub(&text, &object.used.secrets)
}

/// Diffs the workload against the cluster. Nothing is written.
///
/// # Errors
/// The inventory cannot be read. Problems with single objects are in the
/// plan's changes.
pub async fn plan(
    cluster: &Cluster,
    settings: &Settings,
    set: ObjectSet,
) -> Result<Plan, KubeError> {
    let inventory = inventory::read(cluster, &settings.name).await?;
    let listed = list_live(cluster, &set).await?;
    let entries: BTreeMap<&ObjectId, &Entry> = inventory
        .iter()
        .flat_map(|inv| inv.objects.iter().map(|e| (&e.id, e)))
        .collect();
    let futures: Vec<_> = set
        .objects
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let known = listed
                .get(&(
                    o.resource.api.api_version.clone(),
                    o.resource.api.kind.clone(),
                    o.id.namespace.clone(),
                ))
                .map(|objects| objects.get(&o.id.name).cloned());
            plan_object(cluster, settings, o, i, entries.get(&o.id).copied(), known)
        })
        .collect();
    let results = bounded(futures, CONCURRENCY).await;
    let mut plan = Plan {
        inventory,
        ..Plan::default()
    };
    for (i, (result, uid)) in results.into_iter().enumerate() {
        let o = &set.objects[i];
        match result {
            Ok(Some(change)) => plan.changes.push(change),
            Ok(None) => {
                plan.unchanged.insert(o.id.clone(), uid.unwrap_or_default());
            }
            Err(e) => return Err(e),
        }
    }
    if settings.prune
        && let Some(inv) = &plan.inventory
    {
        let ids = set.ids();
        let leaving: Vec<&Entry> = inv
            .objects
            .iter()
            .filter(|e| !ids.contains(&e.id))
            .collect();
        for entry in leaving {
            match plan_prune(cluster, entry).await? {
                PruneDecision::Delete(uid, live) => plan.changes.push(Change {
                    id: entry.id.clone(),
                    api_version: entry.api_version.clone(),
                    action: Action::Prune,
                    drift: false,
                    fields: Vec::new(),
                    reason: Some("no longer in Git".to_owned()),
                    error: None,
                    force: false,
                    uid: Some(uid),
                    object: None,
                    entry: Some(entry.clone()),
                    config: None,
                    take_over: None,
                    live: Some(live),
                }),
                PruneDecision::Keep(why) => plan.kept.push((entry.id.clone(), why)),
                PruneDecision::Gone => plan.gone.push(entry.id.clone()),
            }
        }
    }
    plan.set = set;
    Ok(plan)
}

/// Groups of at least this many objects of one kind in one namespace are
/// read with one LIST instead of a GET each.
const LIST_FROM: usize = 4;

/// Live objects by (apiVersion, kind, namespace), then name, for the groups
/// read with a LIST.
type Listed = BTreeMap<(String, String, String), BTreeMap<String, Value>>;

async fn list_live(cluster: &Cluster, set: &ObjectSet) -> Result<Listed, KubeError> {
    let mut groups: BTreeMap<(String, String, String), (&Object, usize)> = BTreeMap::new();
    for o in &set.objects {
        let api = &o.resource.api;
        if cluster
            .resource(&api.group, &api.version, &api.kind)
            .is_none()
        {
            continue;
        }
        groups
            .entry((
                api.api_version.clone(),
                api.kind.clone(),
                o.id.namespace.clone(),
            ))
            .or_insert((o, 0))
            .1 += 1;
    }
    let wanted: Vec<_> = groups
        .into_iter()
        .filter(|(_, (_, n))| *n >= LIST_FROM)
        .collect();
    let futures: Vec<_> = wanted
        .iter()
        .map(|(_, (o, _))| async move {
            let api = cluster.api(&o.resource, &o.id.namespace);
            let params = kube::api::ListParams::default();
            retry(|| api.list(&params)).await
        })
        .collect();
    let mut out = Listed::new();
    for ((key, (o, _)), result) in wanted.iter().zip(bounded(futures, CONCURRENCY).await) {
        let list = result.map_err(|e| KubeError::Object {
            object: format!("{} in {:?}", o.id.kind, o.id.namespace),
            message: describe(&e),
        })?;
        let objects = list
            .items
            .into_iter()
            .filter_map(|item| {
                let name = item.metadata.name.clone()?;
                let mut value = serde_json::to_value(item).ok()?;
                // Items of a list carry no type; the object has one.
                value["apiVersion"] = Value::String(o.resource.api.api_version.clone());
                value["kind"] = Value::String(o.resource.api.kind.clone());
                Some((name, value))
            })
            .collect();
        out.insert(key.clone(), objects);
    }
    Ok(out)
}

/// The change one object needs (`None`: in sync) and its live version.
async fn plan_object(
    cluster: &Cluster,
    settings: &Settings,
    o: &Object,
    index: usize,
    entry: Option<&Entry>,
    known: Option<Option<Value>>,
) -> (Result<Option<Change>, KubeError>, Option<Live>) {
    let change = |action: Action| Change {
        id: o.id.clone(),
        api_version: o.api_version.clone(),
        action,
        drift: false,
        fields: Vec::new(),
        reason: None,
        error: None,
        force: settings.force_conflicts,
        uid: None,
        object: Some(index),
        entry: None,
        config: None,
        take_over: None,
        live: None,
    };
    // A kind defined by a CRD of this workload that the cluster does not
    // serve yet: it can only be created, after its CRD.
    if cluster
        .resource(&o.id.group, o.resource.api.version.as_str(), &o.id.kind)
        .is_none()
    {
        let mut c = change(Action::Create);
        c.reason = Some("its CustomResourceDefinition is created first".to_owned());
        return (Ok(Some(c)), None);
    }
    let api = cluster.api(&o.resource, &o.id.namespace);
    let live = match known {
        Some(live) => live,
        None => match retry(|| api.get_opt(&o.id.name)).await {
            Ok(live) => live.map(|l| serde_json::to_value(l).unwrap_or_default()),
            Err(e) => {
                return (
                    Err(KubeError::Object {
                        object: o.id.address(),
                        message: api_message(&e, o),
                    }),
                    None,
                );
            }
        },
    };
    let uid = live.as_ref().map(Live::of);
    let unchanged_in_git = entry
        .is_some_and(|e| !e.hash.is_empty() && e.hash == inventory::hash(&o.value, o.sensitive));
    // Neither Git nor the object changed since strata applied (or last
    // checked) it: applying again would change nothing.
    if let (Some(e), Some(l)) = (entry, &uid)
        && unchanged_in_git
        && !e.resource_version.is_empty()
        && e.resource_version == l.resource_version
        && e.uid == l.uid
    {
        return (Ok(None), uid);
    }
    let ignore = ownership::ignore_rules(&settings.ignore, &o.value);
    let config = match &live {
        Some(live) => ownership::leave_to_others(&o.value, live, &ignore),
        None => o.value.clone(),
    };
    let mut force = settings.force_conflicts;
    let mut drift_by_edit = false;
    let mut attempt = dry_run(&api, o, &config, force).await;
    if let Err(e) = &attempt
        && let Some(managers) = conflict_managers(e)
        && !force
        && live
            .as_ref()
            .is_some_and(|l| managers.iter().all(|m| by_hand(l, m)))
    {
        // Fields strata applied were changed by a person with kubectl
        // (edit, patch, scale): that is drift, and Git wins. A
        // controller's are not: that conflict is the user's to settle.
        force = true;
        drift_by_edit = true;
        attempt = dry_run(&api, o, &config, true).await;
    }
    let result = match attempt {
        Ok(result) => result,
        Err(e) => {
            let mut c = change(if live.is_some() {
                Action::Update
            } else {
                Action::Create
            });
            c.uid = uid.as_ref().map(|l| l.uid.clone());
            c.live.clone_from(&live);
            let code = status(&e).map_or(0, |s| s.code);
            if live.is_none() && code == 404 {
                // Its namespace is created by this workload.
                c.reason = Some("its namespace is created first".to_owned());
            } else if o.used.unknown {
                c.reason = Some(format!(
                    "uses Terraform outputs known only after apply ({})",
                    api_message(&e, o)
                ));
            } else if is_immutable(&e) {
                let message = api_message(&e, o);
                if o.annotation(RECREATE_ANNOTATION) == Some("allowed") {
                    c.action = Action::Recreate;
                    c.reason = Some(format!("a field cannot change in place: {message}"));
                } else {
                    c.error = Some(format!(
                        "{message}; to let strata delete and re-create it, annotate it {RECREATE_ANNOTATION}: allowed"
                    ));
                }
            } else if webhook_unavailable(&e) {
                // Not an error of the object: the apply waits for the
                // webhook (within the workload's timeout), and it may be
                // this very workload that brings the webhook up.
                c.reason = Some(format!(
                    "not dry-run: {}; applied once the webhook answers",
                    api_message(&e, o)
                ));
            } else if let Some(managers) = conflict_managers(&e) {
                c.error = Some(format!(
                    "{}; another field manager ({}) owns these fields: change them in Git to agree, leave them to it (ignore_fields on the workload, or the object's strata.dev/ignore-fields annotation), or take them over with --force-conflicts (or force_conflicts = true on the workload)",
                    api_message(&e, o),
                    managers.join(", ")
                ));
            } else {
                c.error = Some(api_message(&e, o));
            }
            return (Ok(Some(c)), uid);
        }
    };
    let result = serde_json::to_value(result).unwrap_or_default();
    let Some(live) = live else {
        return (Ok(Some(change(Action::Create))), None);
    };
    // What a person set with kubectl and Git lacks: the apply takes it
    // over and so removes it.
    let mut foreign = ownership::foreign(&result, &o.value, &ignore);
    if !foreign.is_empty() {
        // Ask the server what their removal leaves: it sets defaults
        // (which an object created with kubectl owns) again.
        let patch = ownership::removal_patch(&result, &foreign);
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            dry_run: true,
            ..PatchParams::default()
        };
        let patch = Patch::Merge(&patch);
        if let Ok(left) = retry(|| api.patch(&o.id.name, &params, &patch)).await {
            let left = serde_json::to_value(left).unwrap_or_default();
            foreign.retain(|f| left.pointer(&f.pointer) != result.pointer(&f.pointer));
        }
    }
    let after = diff::normalize(&ownership::without(&result, &foreign));
    let before = diff::normalize(&live);
    if before == after {
        return (Ok(None), uid);
    }
    let mut c = change(Action::Update);
    c.fields = diff::fields(&before, &after, o.hide());
    let owners = ownership::owners(&live);
    for f in &mut c.fields {
        f.manager = owners
            .iter()
            .find(|(path, _)| related(path, &f.path))
            .map(|(_, manager)| manager.clone());
    }
    c.uid = uid.as_ref().map(|l| l.uid.clone());
    c.force = force;
    c.drift = drift_by_edit || unchanged_in_git || !foreign.is_empty();
    if c.drift {
        let mut by: Vec<&str> = c
            .fields
            .iter()
            .filter_map(|f| f.manager.as_deref())
            .collect();
        by.sort_unstable();
        by.dedup();
        c.reason = Some(if by.is_empty() {
            "changed outside strata".to_owned()
        } else {
            format!("changed outside strata by {}", by.join(", "))
        });
    }
    if !foreign.is_empty() {
        c.take_over = Some(ignore);
    }
    if config != o.value {
        c.config = Some(config);
    }
    c.live = Some(live);
    (Ok(Some(c)), uid)
}

/// Whether two displayed field paths are the same field or one is inside
/// the other (`spec.template.spec.containers[0].env` and
/// `spec.template.spec.containers[0].env[0].name`).
fn related(a: &str, b: &str) -> bool {
    let inside = |outer: &str, inner: &str| {
        inner
            .strip_prefix(outer)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
    };
    inside(a, b) || inside(b, a)
}

async fn dry_run(
    api: &kube::Api<DynamicObject>,
    o: &Object,
    config: &Value,
    force: bool,
) -> Result<DynamicObject, kube::Error> {
    let params = params(force, true);
    let patch = Patch::Apply(config);
    retry(|| api.patch(&o.id.name, &params, &patch)).await
}

/// The managers named by a server-side apply conflict.
fn conflict_managers(e: &kube::Error) -> Option<Vec<String>> {
    let s = status(e)?;
    if s.code != 409 {
        return None;
    }
    let mut managers = BTreeSet::new();
    let causes = s
        .details
        .as_ref()
        .map(|d| d.causes.as_slice())
        .unwrap_or(&[]);
    for cause in causes {
        if let Some(name) = cause.message.split('"').nth(1) {
            managers.insert(name.to_owned());
        }
    }
    if managers.is_empty() {
        // "Apply failed with 1 conflict: conflict with \"x\" using v1: .data.a"
        for part in s.message.split("conflict with \"").skip(1) {
            if let Some(name) = part.split('"').next() {
                managers.insert(name.to_owned());
            }
        }
    }
    (!managers.is_empty()).then(|| managers.into_iter().collect())
}

/// Whether everything `manager` wrote to the object a person wrote with
/// kubectl (see [`ownership::imperative`]).
fn by_hand(live: &Value, manager: &str) -> bool {
    let entries: Vec<&Value> = live["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["manager"] == manager)
        .collect();
    !entries.is_empty() && entries.iter().all(|e| ownership::imperative(e))
}

fn is_immutable(e: &kube::Error) -> bool {
    status(e).is_some_and(|s| {
        s.code == 422
            && (s.message.contains("immutable")
                || s.details
                    .as_ref()
                    .is_some_and(|d| d.causes.iter().any(|c| c.message.contains("immutable"))))
    })
}

enum PruneDecision {
    /// The uid to delete, and the object as read.
    Delete(String, Value),
    Keep(String),
    Gone,
}

async fn plan_prune(cluster: &Cluster, entry: &Entry) -> Result<PruneDecision, KubeError> {
    let (group, version) = super::split_api_version(&entry.api_version);
    let Some(resource) = cluster
        .resource(group, version, &entry.id.kind)
        .or_else(|| cluster.resource_any_version(group, &entry.id.kind))
    else {
        // The kind is gone from the cluster (its CRD was removed), and
        // with it every object of it.
        return Ok(PruneDecision::Gone);
    };
    let api = cluster.api(resource, &entry.id.namespace);
    let live = retry(|| api.get_opt(&entry.id.name))
        .await
        .map_err(|e| KubeError::Object {
            object: entry.id.address(),
            message: describe(&e),
        })?;
    let Some(live) = live else {
        return Ok(PruneDecision::Gone);
    };
    match why_keep(&live, entry) {
        Some(why) => Ok(PruneDecision::Keep(why)),
        // The very object seen: an intended entry has no uid of its own.
        None => Ok(PruneDecision::Delete(
            live.metadata
                .uid
                .clone()
                .unwrap_or_else(|| entry.uid.clone()),
            serde_json::to_value(&live).unwrap_or_default(),
        )),
    }
}

/// Why a live object in the inventory must not be pruned, if it must not.
fn why_keep(live: &DynamicObject, entry: &Entry) -> Option<String> {
    // An entry with no uid: strata was creating it when it stopped. It is
    // strata's only if nobody but strata's apply ever wrote it.
    let intended = entry.uid.is_empty() && managed_only_by_strata(live);
    if !intended && live.metadata.uid.as_deref() != Some(entry.uid.as_str()) {
        return Some(
            "it was deleted and created again outside strata, so it is not the object strata applied"
                .to_owned(),
        );
    }
    if !entry.created {
        return Some(
            "it existed before strata applied it, and strata never deletes what it did not create"
                .to_owned(),
        );
    }
    if entry.id.group.is_empty()
        && entry.id.kind == "Namespace"
        && entry.id.name == super::inventory::NAMESPACE
    {
        return Some("it holds strata's inventories, so strata never deletes it".to_owned());
    }
    let annotations = live.metadata.annotations.as_ref();
    if annotations
        .and_then(|a| a.get(PRUNE_ANNOTATION))
        .is_some_and(|v| v == "disabled")
    {
        return Some(format!("annotated {PRUNE_ANNOTATION}: disabled"));
    }
    None
}

/// What converging a workload did.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// Each change with its result: `None` done, `Some(error)` failed.
    pub results: Vec<(Change, Option<String>)>,
    /// Objects not ready when the wait ended, and why.
    pub not_ready: Vec<(String, String)>,
    /// Failures that are not about one object (the inventory).
    pub errors: Vec<String>,
}

impl Applied {
    pub fn failed(&self) -> bool {
        !self.errors.is_empty()
            || !self.not_ready.is_empty()
            || self.results.iter().any(|(_, e)| e.is_some())
    }
}

/// What an object not written because of a stop reports.
const NOT_STARTED: &str = "not started: interrupted";

/// Converges the workload as planned: waves in order (objects of a wave
/// concurrently), the inventory, prunes (namespaces last), health.
/// `stop` is polled between steps (an interrupt).
pub async fn apply(
    cluster: &Cluster,
    settings: &Settings,
    plan: Plan,
    commit: Option<&str>,
    stop: impl Fn() -> bool,
) -> Applied {
    let mut applied = Applied::default();
    let deadline = Instant::now() + settings.timeout;
    let mut uids: BTreeMap<ObjectId, Live> = plan.unchanged.clone();
    let mut failed_wave = None;
    let by_object: BTreeMap<usize, &Change> = plan
        .changes
        .iter()
        .filter_map(|c| c.object.map(|i| (i, c)))
        .collect();
    for (wave, indices) in plan.set.waves() {
        crate::failpoint::reached(&format!("{}/wave-{wave}", settings.name));
        if stop() {
            // The inventory is still written below: what was applied so far
            // must stay prunable.
            applied.errors.push("interrupted".to_owned());
            break;
        }
        let objects: Vec<&Object> = indices.iter().map(|&i| &plan.set.objects[i]).collect();
        let todo: Vec<(&Object, &Change)> = indices
            .iter()
            .filter_map(|i| by_object.get(i).map(|c| (&plan.set.objects[*i], *c)))
            .collect();
        // Write-ahead: the inventory says what this wave is about to
        // create before it does, so that a crash in the middle leaves
        // those objects strata's to prune later.
        let creating: Vec<&Object> = todo
            .iter()
            .filter(|(_, c)| matches!(c.action, Action::Create | Action::Recreate))
            .map(|(o, _)| *o)
            .collect();
        if failed_wave.is_none() && !creating.is_empty() {
            let mut ahead = inventory_with(&plan, &uids, commit, settings, true);
            intent(&mut ahead, &creating);
            if let Err(e) = inventory::write(cluster, &ahead).await {
                applied.errors.push(e.to_string());
                failed_wave = Some(wave);
            }
        }
        if let Some(at) = failed_wave {
            for (_, change) in todo {
                applied
                    .results
                    .push((change.clone(), Some(format!("skipped: wave {at} failed"))));
            }
            continue;
        }
        // Each write checks for a stop as it starts: after an interrupt,
        // only the writes already sent finish.
        let futures: Vec<_> = todo
            .iter()
            .map(|(o, change)| async {
                if stop() {
                    return Err(NOT_STARTED.to_owned());
                }
                apply_object(cluster, o, change, (deadline, settings.timeout), &stop).await
            })
            .collect();
        let outcomes = bounded(futures, CONCURRENCY).await;
        let results: Vec<(Change, Result<Live, String>)> = todo
            .iter()
            .map(|(_, c)| (*c).clone())
            .zip(outcomes)
            .collect();
        let mut wave_failed = false;
        for (change, result) in results {
            match result {
                Ok(uid) => {
                    uids.insert(change.id.clone(), uid);
                    applied.results.push((change, None));
                }
                Err(e) => {
                    wave_failed = true;
                    applied.results.push((change, Some(e)));
                }
            }
        }
        if wave_failed {
            failed_wave = Some(wave);
            continue;
        }
        // Custom resources need their CRDs Established before a later
        // wave applies them.
        let crds: Vec<&Object> = objects
            .iter()
            .copied()
            .filter(|o| {
                o.id.group == "apiextensions.k8s.io" && o.id.kind == "CustomResourceDefinition"
            })
            .collect();
        if !crds.is_empty() {
            let not_ready = health::wait(cluster, &crds, settings.timeout, &stop).await;
            if !not_ready.is_empty() {
                applied.not_ready.extend(not_ready);
                failed_wave = Some(wave);
            }
        }
    }
    if failed_wave.is_some() || stop() {
        // Nothing is pruned after a failure; the inventory keeps what was
        // there and adds what was applied.
        let inv = inventory_with(&plan, &uids, commit, settings, true);
        if let Err(e) = inventory::write(cluster, &inv).await {
            applied.errors.push(e.to_string());
        }
        return applied;
    }
    // Record everything, the objects about to be pruned included, before
    // deleting anything: a prune cut short is finished by the next run.
    crate::failpoint::reached(&format!("{}/inventory", settings.name));
    let before_prune = inventory_with(&plan, &uids, commit, settings, true);
    if let Err(e) = inventory::write(cluster, &before_prune).await {
        applied.errors.push(e.to_string());
        return applied;
    }
    let prunes: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Prune)
        .collect();
    if !prunes.is_empty() {
        crate::failpoint::reached(&format!("{}/prune", settings.name));
    }
    let mut prune_failed = BTreeSet::new();
    // Namespaces last: deleting one deletes everything in it.
    for namespaces in [false, true] {
        let batch: Vec<&Change> = prunes
            .iter()
            .copied()
            .filter(|c| (c.id.group.is_empty() && c.id.kind == "Namespace") == namespaces)
            .collect();
        let futures: Vec<_> = batch
            .iter()
            .map(|c| async {
                if stop() {
                    return Err(NOT_STARTED.to_owned());
                }
                prune_object(cluster, c).await
            })
            .collect();
        let outcomes = bounded(futures, CONCURRENCY).await;
        let results: Vec<(Change, Option<String>)> = batch
            .iter()
            .map(|c| (*c).clone())
            .zip(outcomes.into_iter().map(Result::err))
            .collect();
        for (change, error) in results {
            if error.is_some() {
                prune_failed.insert(change.id.clone());
            }
            applied.results.push((change, error));
        }
    }
    let mut after = inventory_with(&plan, &uids, commit, settings, false);
    after.objects.extend(
        before_prune
            .objects
            .into_iter()
            .filter(|e| prune_failed.contains(&e.id)),
    );
    if let Err(e) = inventory::write(cluster, &after).await {
        applied.errors.push(e.to_string());
    }
    crate::failpoint::reached(&format!("{}/health", settings.name));
    if settings.wait && !stop() {
        let all: Vec<&Object> = plan.set.objects.iter().collect();
        applied.not_ready = health::wait(cluster, &all, settings.timeout, &stop).await;
    }
    applied
}

/// The inventory after applying: every object of the set that has a uid,
/// plus (with `keep_leaving`) the prunes still to do, plus the objects
/// kept when prune is off.
fn inventory_with(
    plan: &Plan,
    uids: &BTreeMap<ObjectId, Live>,
    commit: Option<&str>,
    settings: &Settings,
    keep_leaving: bool,
) -> Inventory {
    let old: BTreeMap<&ObjectId, &Entry> = plan
        .inventory
        .iter()
        .flat_map(|inv| inv.objects.iter().map(|e| (&e.id, e)))
        .collect();
    let actions: BTreeMap<&ObjectId, Action> =
        plan.changes.iter().map(|c| (&c.id, c.action)).collect();
    let old_entry = |id: &ObjectId| old.get(id).copied();
    let mut objects: Vec<Entry> = plan
        .set
        .objects
        .iter()
        .filter_map(|o| {
            let Some(live) = uids.get(&o.id).filter(|l| !l.uid.is_empty()) else {
                // Not applied this time (a failed or skipped wave): what
                // strata knew of it stays.
                return old_entry(&o.id).cloned();
            };
            // Whether strata's own apply created it: only then may a
            // prune delete it.
            // An entry with no uid is one strata was creating when it
            // stopped (see `intent`): the object is its own if only
            // strata's apply ever wrote it.
            let created = match actions.get(&o.id).copied() {
                Some(Action::Create | Action::Recreate) => true,
                _ => old_entry(&o.id).is_some_and(|e| {
                    e.created && (e.uid == live.uid || (e.uid.is_empty() && live.only_strata))
                }),
            };
            Some(Entry {
                id: o.id.clone(),
                api_version: o.api_version.clone(),
                uid: live.uid.clone(),
                hash: inventory::hash(&o.value, o.sensitive),
                resource_version: live.resource_version.clone(),
                created,
            })
        })
        .collect();
    let ids = plan.set.ids();
    if let Some(inventory) = &plan.inventory {
        for e in &inventory.objects {
            if ids.contains(&e.id) {
                continue;
            }
            let pruning = actions.get(&e.id) == Some(&Action::Prune);
            // Without prune, strata still remembers what it applied, so
            // that turning prune on later cleans up.
            if (pruning && keep_leaving) || !settings.prune {
                objects.push(e.clone());
            }
        }
    }
    Inventory {
        version: 1,
        workload: settings.name.clone(),
        commit: commit.map(ToOwned::to_owned),
        objects,
    }
}

/// Adds an entry with no uid for each object about to be created that the
/// inventory does not hold yet.
fn intent(inventory: &mut Inventory, creating: &[&Object]) {
    for o in creating {
        if inventory.entry(&o.id).is_none() {
            inventory.objects.push(Entry {
                id: o.id.clone(),
                api_version: o.api_version.clone(),
                uid: String::new(),
                hash: String::new(),
                resource_version: String::new(),
                created: true,
            });
        }
    }
}

/// Applies one object; returns its uid and resourceVersion. A write an
/// admission webhook could not admit because it is not up yet is tried
/// again until `deadline` (the workload's timeout) or a stop.
async fn apply_object(
    cluster: &Cluster,
    o: &Object,
    change: &Change,
    (deadline, timeout): (Instant, Duration),
    stop: &impl Fn() -> bool,
) -> Result<Live, String> {
    if o.used.unknown {
        return Err(
            "not applied: it uses Terraform outputs that are not known yet (their stack was not applied)"
                .to_owned(),
        );
    }
    let api = cluster.api(&o.resource, &o.id.namespace);
    if change.action == Action::Recreate {
        delete(&api, &o.id.name, change.uid.clone())
            .await
            .map_err(|e| api_message(&e, o))?;
        wait_gone(&api, &o.id.name).await?;
    }
    if let Some(ignore) = &change.take_over {
        take_over(&api, o, ignore)
            .await
            .map_err(|e| format!("{}; nothing was applied", api_message(&e, o)))?;
    }
    let params = params(change.force, false);
    let patch = Patch::Apply(change.config.as_ref().unwrap_or(&o.value));
    let backoff = crate::retry::Backoff {
        first: Duration::from_millis(500),
        cap: Duration::from_secs(5),
    };
    let mut said = false;
    let result = crate::retry::retry(
        backoff,
        || retry(|| api.patch(&o.id.name, &params, &patch)),
        |e, _| {
            let again = webhook_unavailable(e) && Instant::now() < deadline && !stop();
            if again && !said {
                said = true;
                tracing::warn!(
                    object = %o.id,
                    "waiting for an admission webhook that is not ready (up to the workload's timeout, {}): {}",
                    crate::config::format_duration(timeout),
                    api_message(e, o)
                );
            }
            again
        },
    )
    .await;
    match result {
        Ok(obj) => Ok(Live {
            only_strata: managed_only_by_strata(&obj),
            uid: obj.metadata.uid.unwrap_or_default(),
            resource_version: obj.metadata.resource_version.unwrap_or_default(),
        }),
        Err(e) => {
            let mut message = api_message(&e, o);
            if webhook_unavailable(&e) && !stop() {
                message = format!(
                    "{message}; the webhook was not ready within the workload's timeout ({}): fix its Deployment, or raise the workload's timeout",
                    crate::config::format_duration(timeout)
                );
            }
            if let Some(managers) = conflict_managers(&e) {
                message = format!(
                    "{message}; field manager {} owns these fields (use --force-conflicts to take them over)",
                    managers.join(", ")
                );
            }
            Err(message)
        }
    }
}

/// Makes the fields a person set with kubectl strata's own (see
/// [`ownership::takeover`]), by rewriting `managedFields` with a merge
/// patch that carries the resourceVersion it read, so that it holds only
/// if the object did not change meanwhile; tried again on a fresh read if
/// it did.
async fn take_over(
    api: &kube::Api<DynamicObject>,
    o: &Object,
    ignore: &[String],
) -> Result<(), kube::Error> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let Some(live) = retry(|| api.get_opt(&o.id.name)).await? else {
            return Ok(());
        };
        let live = serde_json::to_value(live).unwrap_or_default();
        let Some(managed) = ownership::takeover(&live, &o.api_version, ignore) else {
            return Ok(());
        };
        let patch = serde_json::json!({"metadata": {
            "resourceVersion": live["metadata"]["resourceVersion"],
            "managedFields": managed,
        }});
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        let patch = Patch::Merge(&patch);
        match retry(|| api.patch(&o.id.name, &params, &patch)).await {
            Ok(_) => return Ok(()),
            // Changed meanwhile.
            Err(e) if attempts < 3 && status(&e).is_some_and(|s| s.code == 409) => {}
            Err(e) => return Err(e),
        }
    }
}

async fn delete(
    api: &kube::Api<DynamicObject>,
    name: &str,
    uid: Option<String>,
) -> Result<(), kube::Error> {
    let params = DeleteParams {
        preconditions: uid.map(|uid| Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        propagation_policy: Some(kube::api::PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    match retry(|| api.delete(name, &params)).await {
        Ok(_) => Ok(()),
        Err(e) if status(&e).is_some_and(|s| s.code == 404) => Ok(()),
        Err(e) => Err(e),
    }
}

async fn wait_gone(api: &kube::Api<DynamicObject>, name: &str) -> Result<(), String> {
    for _ in 0..300 {
        match retry(|| api.get_opt(name)).await {
            Ok(None) => return Ok(()),
            Ok(Some(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => return Err(describe(&e)),
        }
    }
    Err("it was deleted for re-creation but is still there after 30s (finalizers?)".to_owned())
}

async fn prune_object(cluster: &Cluster, change: &Change) -> Result<(), String> {
    let (group, version) = super::split_api_version(&change.api_version);
    let resource: Resource = cluster
        .resource(group, version, &change.id.kind)
        .or_else(|| cluster.resource_any_version(group, &change.id.kind))
        .cloned()
        .ok_or_else(|| "the cluster no longer serves its kind".to_owned())?;
    let api = cluster.api(&resource, &change.id.namespace);
    // Read again right before deleting: the annotation or the object may
    // have changed since the plan (while a person was deciding).
    let live = retry(|| api.get_opt(&change.id.name))
        .await
        .map_err(|e| describe(&e))?;
    let Some(live) = live else {
        return Ok(());
    };
    if let Some(entry) = &change.entry
        && let Some(why) = why_keep(&live, entry)
    {
        return Err(format!("not pruned: {why}"));
    }
    delete(&api, &change.id.name, change.uid.clone())
        .await
        .map_err(|e| match status(&e) {
            Some(s) if s.code == 409 => {
                "it was replaced by another object of the same name, which strata did not apply; not deleted".to_owned()
            }
            _ => describe(&e),
        })
}
