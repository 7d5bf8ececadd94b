//! The flows of `kubectl.rs`, from Rust through kube-rs (the client strata
//! uses), over TLS with the kubeconfig the emulator writes.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, PropagationPolicy, WatchEvent,
    WatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use kube_sim::{KubeSim, Options};
use serde_json::json;

async fn client(sim: &KubeSim) -> Client {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&path).unwrap();
    let kubeconfig = Kubeconfig::read_from(&path).unwrap();
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

async fn start() -> (KubeSim, Client) {
    // kube-rs and the emulator link rustls with more than one crypto
    // provider: say which one the process uses.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let sim = KubeSim::start(Options {
        tls: true,
        token: Some("kube-rs".to_owned()),
        ready_after: Duration::from_millis(100),
        ..Options::default()
    })
    .await
    .unwrap();
    let client = client(&sim).await;
    (sim, client)
}

fn deployment(image: &str, replicas: i32) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image, "ports": [{"containerPort": 80}]}]},
            },
        },
    })
}

#[tokio::test]
async fn apply_wait_conflict_watch_and_delete_through_kube_rs() {
    let (sim, client) = start().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}});
    namespaces
        .patch("shop", &PatchParams::apply("strata"), &Patch::Apply(&ns))
        .await
        .unwrap();

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "shop");
    let strict = PatchParams::apply("strata").validation_strict();
    let applied = deployments
        .patch("web", &strict, &Patch::Apply(deployment("nginx:1", 2)))
        .await
        .unwrap();
    let managed = applied.metadata.managed_fields.expect("managedFields");
    assert_eq!(managed[0].manager.as_deref(), Some("strata"));
    assert_eq!(managed[0].operation.as_deref(), Some("Apply"));

    // The simulated controller completes the rollout.
    let mut available = false;
    for _ in 0..100 {
        let d = deployments.get("web").await.unwrap();
        let status = d.status.unwrap_or_default();
        if status.observed_generation == d.metadata.generation
            && status.available_replicas == Some(2)
        {
            available = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(available, "the deployment never became available");

    // Another manager changing replicas conflicts, naming strata.
    let other = PatchParams::apply("autoscaler");
    let err = deployments
        .patch(
            "web",
            &other,
            &Patch::Apply(json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "shop"},
                "spec": {"replicas": 5},
            })),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("not an API error: {err:?}")
    };
    assert_eq!(status.code, 409);
    assert_eq!(status.reason, "Conflict");
    assert!(
        status.message.contains("conflict with \"strata\"")
            && status.message.contains(".spec.replicas"),
        "{}",
        status.message
    );

    // Forced, it takes the field over.
    let forced = deployments
        .patch(
            "web",
            &other.clone().force(),
            &Patch::Apply(json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "shop"},
                "spec": {"replicas": 5},
            })),
        )
        .await
        .unwrap();
    assert_eq!(forced.spec.replicas, Some(5));

    // An unknown field is refused under strict validation.
    let mut typo = deployment("nginx:1", 2);
    typo["spec"]["replicaz"] = json!(3);
    let err = deployments
        .patch("web", &strict, &Patch::Apply(typo))
        .await
        .unwrap_err();
    assert!(err.to_string().contains(".spec.replicaz"), "{err}");

    // Watch sees a change made after it started.
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    let list = configmaps.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.unwrap();
    let mut stream = Box::pin(
        configmaps
            .watch(&WatchParams::default().timeout(5), &rv)
            .await
            .unwrap(),
    );
    let cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "settings", "labels": {"tier": "web"}}, "data": {"a": "1"}}),
    )
    .unwrap();
    configmaps
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    use futures_util::StreamExt as _;
    let event = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("an event in time")
        .expect("the stream is open")
        .unwrap();
    match event {
        WatchEvent::Added(o) => assert_eq!(o.metadata.name.as_deref(), Some("settings")),
        other => panic!("unexpected event {other:?}"),
    }
    let selected = configmaps
        .list(&ListParams::default().labels("tier in (web,api)"))
        .await
        .unwrap();
    assert_eq!(selected.items.len(), 1);

    // Deleting the namespace takes everything; it passes through
    // Terminating.
    let dp = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Foreground),
        ..DeleteParams::default()
    };
    namespaces.delete("shop", &dp).await.unwrap();
    let terminating = namespaces.get("shop").await.unwrap();
    assert_eq!(
        terminating.status.and_then(|s| s.phase).as_deref(),
        Some("Terminating")
    );
    let mut gone = false;
    for _ in 0..100 {
        if namespaces.get_opt("shop").await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "the namespace never went");
    assert!(deployments.get_opt("web").await.unwrap().is_none());
    sim.stop().await;
}

#[tokio::test]
async fn a_crd_serves_its_custom_resources_through_kube_rs() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};

    let (sim, client) = start().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.strata.dev"},
        "spec": {
            "group": "example.strata.dev",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {"type": "object", "properties": {
                            "size": {"type": "integer"},
                            "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                                      "items": {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}},
                        }},
                        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    },
                }},
            }],
        },
    });
    crds.patch(
        "widgets.example.strata.dev",
        &PatchParams::apply("strata"),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap();
    let established = crds.get("widgets.example.strata.dev").await.unwrap();
    let conditions = established.status.unwrap().conditions.unwrap();
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True"),
        "{conditions:?}"
    );

    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.strata.dev", "v1", "Widget"),
        "widgets",
    );
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &resource);
    let widget = |ports: serde_json::Value| {
        json!({
            "apiVersion": "example.strata.dev/v1", "kind": "Widget",
            "metadata": {"name": "w1", "namespace": "default"},
            "spec": {"size": 3, "ports": ports},
        })
    };
    let strict = PatchParams::apply("strata").validation_strict();
    widgets
        .patch(
            "w1",
            &strict,
            &Patch::Apply(widget(json!([{"name": "http", "port": 80}]))),
        )
        .await
        .unwrap();
    // Another manager adds an item to the map-list: merged by key, not replaced.
    let merged = widgets
        .patch(
            "w1",
            &PatchParams::apply("sidecar"),
            &Patch::Apply(json!({
                "apiVersion": "example.strata.dev/v1", "kind": "Widget",
                "metadata": {"name": "w1", "namespace": "default"},
                "spec": {"ports": [{"name": "metrics", "port": 9090}]},
            })),
        )
        .await
        .unwrap();
    let ports = merged.data["spec"]["ports"].as_array().unwrap().clone();
    assert_eq!(ports.len(), 2, "{ports:?}");
    let listed = widgets.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);

    let mut typo = widget(json!([]));
    typo["spec"]["sizee"] = json!(1);
    let err = widgets
        .patch("w1", &strict, &Patch::Apply(typo))
        .await
        .unwrap_err();
    assert!(err.to_string().contains(".spec.sizee"), "{err}");

    widgets
        .delete("w1", &DeleteParams::default())
        .await
        .unwrap();
    crds.delete("widgets.example.strata.dev", &DeleteParams::default())
        .await
        .unwrap();
    let err = widgets.list(&ListParams::default()).await.unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("not an API error: {err:?}")
    };
    assert_eq!(status.code, 404);
    sim.stop().await;
}

#[tokio::test]
async fn lists_page_with_limit_and_continue_through_kube_rs() {
    let (sim, client) = start().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "paged"}});
    namespaces
        .patch("paged", &PatchParams::apply("strata"), &Patch::Apply(&ns))
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "paged");
    for i in 0..23 {
        let name = format!("cm-{i:02}");
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
        cms.patch(&name, &PatchParams::apply("strata"), &Patch::Apply(&cm))
            .await
            .unwrap();
    }
    let mut names = Vec::new();
    let mut params = ListParams::default().limit(10);
    let mut pages = 0;
    let mut remaining = Vec::new();
    loop {
        let page = cms.list(&params).await.unwrap();
        pages += 1;
        names.extend(
            page.items
                .iter()
                .map(|cm| cm.metadata.name.clone().unwrap()),
        );
        remaining.push(page.metadata.remaining_item_count);
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(remaining, [Some(13), Some(3), None]);
    let expected: Vec<String> = (0..23).map(|i| format!("cm-{i:02}")).collect();
    assert_eq!(names, expected);

    // A token that does not decode is the real server's 400.
    let error = cms
        .list(&ListParams::default().limit(5).continue_token("garbage"))
        .await
        .unwrap_err();
    match error {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 400);
            assert!(
                status.message.starts_with("invalid continue token"),
                "{}",
                status.message
            );
        }
        other => panic!("{other}"),
    }
    sim.stop().await;
}
