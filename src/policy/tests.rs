use serde_json::json;

use super::*;

fn policy(path: &str) -> config::Policy {
    config::Policy {
        name: "guardrails".into(),
        path: path.into(),
        namespaces: vec!["main".into()],
        rego_v0: false,
        input: config::PolicyInput::Run,
        line: 1,
    }
}

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    dir
}

fn evaluate(files: &[(&str, &str)], input: &Value) -> Vec<Finding> {
    let dir = tree(files);
    let policies = load(dir.path(), &[policy("policy")]).unwrap();
    policies.evaluate_json(input).unwrap()
}

#[test]
fn rego_v1_rules_give_deny_warn_and_approve_findings() {
    let rego = r#"package main

deny contains msg if {
    some s in input.stacks
    some rc in s.resource_changes
    "delete" in rc.change.actions
    msg := sprintf("%s deletes %s", [s.name, rc.address])
}

warn contains {"msg": "big", "stack": s.name} if {
    some s in input.stacks
    count(s.resource_changes) > 1
}

approve_iam contains {"msg": "IAM changes need a person", "stack": s.name, "address": rc.address} if {
    some s in input.stacks
    some rc in s.resource_changes
    startswith(rc.type, "aws_iam")
}

test_ignored if true
"#;
    let input = json!({"stacks": [{"name": "net", "resource_changes": [
        {"address": "aws_iam_role.ci", "type": "aws_iam_role", "change": {"actions": ["update"]}},
        {"address": "aws_s3_bucket.b", "type": "aws_s3_bucket", "change": {"actions": ["delete"]}}
    ]}]});
    let found = evaluate(&[("policy/main.rego", rego)], &input);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert_eq!(found[0].rule, Rule::Deny);
    assert_eq!(found[0].message, "net deletes aws_s3_bucket.b");
    assert_eq!(found[0].item(), "");
    assert_eq!(found[1].rule, Rule::Approve);
    assert_eq!(found[1].item(), "stack net: aws_iam_role.ci");
    assert_eq!(
        found[1].to_string(),
        "policy guardrails: stack net: aws_iam_role.ci: IAM changes need a person"
    );
    assert_eq!(found[2].rule, Rule::Warn);
    assert_eq!(found[2].stack.as_deref(), Some("net"));
}

#[test]
fn a_boolean_rule_is_one_message_and_a_false_one_none() {
    let rego = "package main\n\ndeny_everything if input.x == 1\n\nwarn_never := false\n";
    let found = evaluate(&[("policy/p.rego", rego)], &json!({"x": 1}));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].message, "deny_everything");
    assert!(evaluate(&[("policy/p.rego", rego)], &json!({"x": 2})).is_empty());
}

#[test]
fn data_files_are_nested_by_their_folder() {
    let rego = "package main\n\ndeny contains msg if {\n  some r in data.iam.forbidden\n  r == input.role\n  msg := sprintf(\"role %s is forbidden (limit %d)\", [r, data.limits.max])\n}\n";
    let files = [
        ("policy/main.rego", rego),
        ("policy/iam/roles.json", r#"{"forbidden": ["admin"]}"#),
        ("policy/limits.yaml", "limits:\n  max: 3\n"),
        ("policy/README.md", "not read"),
    ];
    let found = evaluate(&files, &json!({"role": "admin"}));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].message, "role admin is forbidden (limit 3)");
}

#[test]
fn broken_rego_names_its_file_and_line() {
    let dir = tree(&[(
        "policy/sub/bad.rego",
        "package main\n\ndeny contains msg if {\n  msg := \"x\"\n",
    )]);
    let errors = load(dir.path(), &[policy("policy")]).unwrap_err();
    let text = errors[0].to_string();
    assert_eq!(
        text,
        "policy/sub/bad.rego:5:1: expecting `}` while parsing query (policy \"guardrails\")"
    );
}

#[test]
fn an_unknown_function_is_a_compile_error() {
    let dir = tree(&[(
        "policy/p.rego",
        "package main\n\ndeny contains msg if {\n  msg := no_such_function(input.x)\n}\n",
    )]);
    let errors = load(dir.path(), &[policy("policy")]).unwrap_err();
    let text = errors[0].to_string();
    assert_eq!(
        text,
        "policy/p.rego:4:26: could not find function no_such_function (policy \"guardrails\")"
    );
}

#[test]
fn a_missing_package_or_an_empty_folder_is_an_error() {
    let dir = tree(&[(
        "policy/p.rego",
        "package other\n\ndeny contains 1 if false\n",
    )]);
    let errors = load(dir.path(), &[policy("policy")]).unwrap_err();
    assert!(
        errors[0].to_string().contains("package main"),
        "{}",
        errors[0]
    );
    let dir = tree(&[("policy/data.json", "{}")]);
    let errors = load(dir.path(), &[policy("policy")]).unwrap_err();
    assert!(
        errors[0].to_string().contains("no .rego file"),
        "{}",
        errors[0]
    );
}

#[test]
fn a_rule_that_is_not_a_set_of_messages_is_an_error() {
    let dir = tree(&[("policy/p.rego", "package main\n\ndeny := \"no\"\n")]);
    let policies = load(dir.path(), &[policy("policy")]).unwrap();
    let error = policies.evaluate_json(&json!({})).unwrap_err().to_string();
    assert!(
        error.contains("deny in package main is a string"),
        "{error}"
    );
}

#[test]
fn sensitive_values_and_their_copies_are_redacted_in_resource_changes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plan.json");
    let plan = json!({"format_version": "1.2", "resource_changes": [
        {"address": "x.a", "change": {"actions": ["update"],
            "before": {"password": "hunter22", "tags": {"k": "v"}},
            "after": {"password": "swordfish", "tags": {"k": "v"}},
            "before_sensitive": {"password": true}, "after_sensitive": {"password": true}}},
        {"address": "x.b", "change": {"actions": ["create"], "before": null,
            "after": {"copy": "swordfish", "url": "db://u:swordfish@h"}, "after_sensitive": {}}}
    ]});
    std::fs::write(&file, plan.to_string()).unwrap();
    let changes = input::resource_changes(&file, &std::collections::BTreeSet::new()).unwrap();
    let text = serde_json::to_string(&changes).unwrap();
    assert!(
        !text.contains("swordfish") && !text.contains("hunter22"),
        "{text}"
    );
    assert_eq!(changes[0]["change"]["after"]["tags"]["k"], "v");
    assert_eq!(
        changes[1]["change"]["after"]["copy"],
        crate::kube::diff::REDACTED
    );
}

#[test]
fn rego_v0_rules_are_refused_with_the_reason() {
    let dir = tree(&[(
        "policy/p.rego",
        "package main\n\ndeny[msg] {\n  msg := 1\n}\n",
    )]);
    let errors = load(dir.path(), &[policy("policy")]).unwrap_err();
    assert_eq!(
        errors[0].to_string(),
        "policy/p.rego:3:11: `if` keyword is required before rule body; this is Rego v1 (OPA 1.0) syntax: write `deny contains msg if { ... }`, or set rego_version = \"v0\" on the policy (policy \"guardrails\")"
    );
    let v0 = config::Policy {
        rego_v0: true,
        ..policy("policy")
    };
    let policies = load(dir.path(), &[v0]).unwrap();
    let found = policies.evaluate_json(&json!({})).unwrap();
    assert_eq!(found[0].message, "1");
}

#[test]
fn every_rule_counts_however_it_is_written() {
    // conftest's example: `violation` is a complete rule holding an array,
    // in a package spread over files that each define `name`.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/policy/conftest-kubernetes");
    let policies = load(&dir, &[policy("policy")]).unwrap();
    let manifest = std::fs::read_to_string(dir.join("manifests/deployment.yaml")).unwrap();
    let deployment: Value = serde_saphyr::from_str(&manifest).unwrap();
    let found = policies.evaluate_json(&deployment).unwrap();
    let messages: Vec<(Rule, &str)> = found.iter().map(|f| (f.rule, f.message.as_str())).collect();
    assert_eq!(
        messages,
        [
            (
                Rule::Deny,
                "Containers must not run as root in Deployment hello-kubernetes"
            ),
            (
                Rule::Deny,
                "Deployment hello-kubernetes must provide app/release labels for pod selectors"
            ),
            (
                Rule::Deny,
                "Found deployment hello-kubernetes but deployments are not allowed"
            ),
            (
                Rule::Deny,
                "hello-kubernetes must include Kubernetes recommended labels: https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/#labels"
            ),
        ]
    );
}
