//! Tests of the plan reader against real Terraform plan JSON
//! (`tests/fixtures/plan-json`) and small hand-written plans for cases the
//! fixtures lack.

use std::path::{Path, PathBuf};

use super::read::parse_with_chunk;
use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/plan-json");
const INVALID: &str = "terraform-json/invalid__plan.json";

fn fixture_path(name: &str) -> PathBuf {
    Path::new(FIXTURES).join(name)
}

fn fixture(name: &str) -> Plan {
    parse_file(&fixture_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn all_fixtures() -> Vec<String> {
    let mut names = Vec::new();
    for dir in std::fs::read_dir(FIXTURES).expect("fixture directory") {
        let dir = dir.expect("fixture directory entry").path();
        if !dir.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&dir).expect("fixture subdirectory") {
            let file = file.expect("fixture file").path();
            if file.extension().is_some_and(|e| e == "json") {
                let relative = file.strip_prefix(FIXTURES).expect("under FIXTURES");
                names.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    names.sort();
    names
}

fn change<'a>(plan: &'a Plan, address: &str) -> &'a ResourceChange {
    plan.changes
        .iter()
        .find(|c| c.address == address)
        .unwrap_or_else(|| panic!("no change for {address} in {:#?}", plan.changes))
}

fn attribute<'a>(change: &'a ResourceChange, path: &str) -> &'a AttributeChange {
    change
        .attributes
        .iter()
        .find(|a| a.path == path)
        .unwrap_or_else(|| panic!("no attribute {path} in {:#?}", change.attributes))
}

fn value(json: &str) -> Rendered {
    Rendered::Value(json.to_owned())
}

fn json_error(result: Result<Plan, PlanError>) -> (u64, u64, String) {
    match result {
        Err(PlanError::Json {
            line,
            column,
            message,
        }) => (line, column, message),
        other => panic!("expected a JSON error, got {other:?}"),
    }
}

#[test]
fn every_fixture_parses() {
    let names = all_fixtures();
    assert!(names.len() >= 46, "fixtures missing: {names:?}");
    for name in names.iter().filter(|n| *n != INVALID) {
        let plan = fixture(name);
        assert!(plan.format_version.starts_with(['0', '1']), "{name}");
    }
}

#[test]
fn invalid_json_reports_line_and_column() {
    let (line, column, message) = json_error(parse_file(&fixture_path(INVALID)));
    assert_eq!((line, column), (676, 29), "{message}");
    assert_eq!(message, "trailing characters");
    let shown = json_error(parse_slice(
        b"{\"format_version\": \"1.0\",\n  \"errored\": tru }",
    ))
    .2;
    assert_eq!(shown, "expected ident");
}

#[test]
fn every_chunk_size_gives_the_same_plan() {
    for name in all_fixtures().iter().filter(|n| *n != INVALID) {
        let bytes = std::fs::read(fixture_path(name)).expect("fixture");
        let whole = parse_slice(&bytes).expect("fixture parses");
        for chunk in [1, 7, 64, 1000] {
            let plan = parse_with_chunk(&bytes[..], None, chunk)
                .unwrap_or_else(|e| panic!("{name} with chunk {chunk}: {e}"));
            assert_eq!(plan, whole, "{name} with chunk {chunk}");
        }
    }
    let bytes = std::fs::read(fixture_path(INVALID)).expect("fixture");
    for chunk in [1, 7, 64] {
        let error = json_error(parse_with_chunk(&bytes[..], None, chunk));
        assert_eq!((error.0, error.1), (676, 29));
    }
}

/// Every way of reading: on the calling thread, with resource changes
/// converted on a worker thread (batches of one byte make one batch per
/// resource change), and with the input read ahead on another thread.
fn every_way(bytes: &[u8]) -> Vec<(String, Result<Plan, PlanError>)> {
    let mut results = vec![("slice".to_owned(), parse_slice(bytes))];
    for (chunk, batch) in [(1 << 20, 1), (7, 1), (64, 300), (1, 1 << 20)] {
        let result = read::parse_with_sizes(bytes, None, chunk, batch);
        results.push((format!("chunk {chunk}, batch {batch}"), result));
    }
    for (chunk, batch) in [(1 << 20, 1), (61, 1), (1000, 1 << 20)] {
        let result = read::parse_read_ahead(bytes, None, chunk, batch);
        results.push((format!("read ahead, chunk {chunk}, batch {batch}"), result));
    }
    results
}

#[test]
fn threads_give_the_same_plan() {
    for name in all_fixtures() {
        let bytes = std::fs::read(fixture_path(&name)).expect("fixture");
        let mut results = every_way(&bytes).into_iter();
        let (_, whole) = results.next().expect("results");
        let whole = format!("{whole:?}");
        for (how, result) in results {
            assert_eq!(format!("{result:?}"), whole, "{name}, {how}");
        }
    }
}

#[test]
fn threads_report_the_first_error() {
    let change = |address: &str, actions: &str| {
        format!(
            r#"{{"address":"{address}","mode":"managed","type":"t","name":"n",
            "change":{{"actions":{actions},"before":{{"a":1}},"after":{{"a":2}}}}}}"#
        )
    };
    let plan = |changes: &[String], tail: &str| {
        format!(
            "{{\"format_version\":\"1.2\",\n\"resource_changes\":[{}{tail}",
            changes.join(",\n")
        )
    };
    let good: Vec<String> = (0..20)
        .map(|i| change(&format!("t.{i}"), r#"["update"]"#))
        .collect();
    let mut cases = Vec::new();
    // An unknown action, then a syntax error later on.
    let mut changes = good.clone();
    changes[5] = change("t.bad", r#"["teleport"]"#);
    cases.push(plan(&changes, "],\n\"errored\": tru}"));
    // A missing field, then an unknown action.
    let mut changes = good.clone();
    changes[3] = r#"{"address":"t.x","mode":"managed","type":"t"}"#.to_owned();
    changes[9] = change("t.bad", r#"["teleport"]"#);
    cases.push(plan(&changes, "]}"));
    // A syntax error inside a resource change.
    let mut changes = good.clone();
    changes[12] = change("t.x", r#"["update"]"#).replace(r#""a":2"#, r#""a":2,"#);
    cases.push(plan(&changes, "]}"));
    // Truncated in the middle of a resource change.
    let whole = plan(&good, "]}");
    cases.push(whole[..whole.len() / 2].to_owned());
    // Invalid UTF-8 in an address, which only serde checks.
    let mut bytes = plan(&good, "]}").into_bytes();
    let at = bytes
        .windows(5)
        .position(|w| w == b"t.17\"")
        .expect("address");
    bytes[at + 1] = 0xff;
    let mut inputs: Vec<Vec<u8>> = cases.into_iter().map(String::into_bytes).collect();
    inputs.push(bytes);
    // What the reader read before it had threads.
    let expected = [
        r#"Err(UnknownActions { address: "t.bad", actions: ["teleport"] })"#,
        r#"Err(Json { line: 8, column: 45, message: "missing field `name`" })"#,
        r#"Err(Json { line: 27, column: 76, message: "key must be a string" })"#,
        r#"Err(Json { line: 21, column: 61, message: "EOF while parsing a string" })"#,
        r#"Err(Json { line: 36, column: 14, message: "invalid unicode code point" })"#,
    ];
    assert_eq!(inputs.len(), expected.len());
    for (input, expected) in inputs.iter().zip(expected) {
        for (how, result) in every_way(input) {
            assert_eq!(format!("{result:?}"), expected, "{how}");
        }
    }
}

#[test]
fn requires_replace_is_destructive_with_reason_and_paths() {
    let plan = fixture("terraform-show-json/requires-replace__output.json");
    let c = change(&plan, "test_instance.test");
    assert_eq!(c.action, Action::DeleteThenCreate);
    assert!(c.destructive());
    assert_eq!(
        c.action_reason.as_deref(),
        Some("replace_because_cannot_update")
    );
    assert_eq!(c.replace_paths, ["ami"]);
    assert_eq!(
        c.reason().as_deref(),
        Some("replace_because_cannot_update (because of ami)")
    );
    let ami = attribute(c, "ami");
    assert_eq!(
        (&ami.before, &ami.after),
        (&value("\"bar\""), &value("\"force-replace\""))
    );
    assert!(ami.forces_replacement);
    let id = attribute(c, "id");
    assert_eq!(
        (&id.before, &id.after),
        (&value("\"placeholder\""), &Rendered::Unknown)
    );
    assert!(!id.forces_replacement);
    assert_eq!(plan.destructive_count(), 1);
    assert_eq!(plan.summary().replace, 1);
}

#[test]
fn basic_delete_and_its_update() {
    let plan = fixture("terraform-show-json/basic-delete__output.json");
    let deleted = change(&plan, "test_instance.test-delete");
    assert_eq!(deleted.action, Action::Delete);
    assert_eq!(
        deleted.reason().as_deref(),
        Some("delete_because_no_resource_config")
    );
    assert!(deleted.attributes.is_empty(), "deletes keep no values");
    let updated = change(&plan, "test_instance.test");
    assert_eq!(updated.action, Action::Update);
    assert_eq!(updated.reason(), None);
    assert_eq!(updated.attributes.len(), 1, "{:?}", updated.attributes);
    let ami = attribute(updated, "ami");
    assert_eq!(
        (&ami.before, &ami.after),
        (&value("\"foo\""), &value("\"bar\""))
    );
    assert_eq!(plan.destructive_count(), 1);
    assert_eq!(
        plan.summary(),
        Summary {
            update: 1,
            delete: 1,
            ..Summary::default()
        }
    );
    assert_eq!(plan.outputs.len(), 1);
    assert_eq!(plan.outputs[0].after, value("\"bar\""));
}

#[test]
fn basic_update_fixture_is_all_no_op() {
    // Despite its name, Terraform's basic-update fixture plans nothing.
    let plan = fixture("terraform-show-json/basic-update__output.json");
    assert!(plan.changes.is_empty());
    assert_eq!(plan.unchanged, 1);
    assert!(plan.outputs.is_empty(), "no-op outputs are left out");
    assert!(!plan.has_changes());
}

#[test]
fn drift_is_reported_apart_from_changes() {
    let plan = fixture("terraform-show-json/drift__output.json");
    assert!(plan.has_drift());
    assert_eq!(plan.drift.len(), 1);
    let drifted = &plan.drift[0];
    assert_eq!(drifted.address, "test_instance.should_refresh");
    assert_eq!(drifted.action, Action::Update);
    let ami = attribute(drifted, "ami");
    assert_eq!(
        (&ami.before, &ami.after),
        (&value("\"refresh-me\""), &value("\"refreshed\""))
    );
    assert_eq!(plan.summary().update, 2);
}

#[test]
fn moves_are_flagged_and_counted() {
    let plan = fixture("terraform-show-json/moved__output.json");
    let moved = change(&plan, "test_instance.baz");
    assert!(moved.is_move());
    assert_eq!(moved.previous_address.as_deref(), Some("test_instance.foo"));
    assert_eq!(plan.summary().r#move, 1);

    let plan = fixture("terraform-show-json/moved-drift__output.json");
    assert!(change(&plan, "test_instance.should_refresh_with_move").is_move());
    assert!(plan.drift[0].is_move());

    // A no-op that moves is still worth showing.
    let plan = fixture("terraform-show-json/multi-resource-update__output.json");
    assert!(change(&plan, "test_instance.test[0]").is_move());
    assert_eq!(plan.unchanged, 0);
    assert_eq!(
        plan.summary(),
        Summary {
            create: 1,
            r#move: 1,
            ..Summary::default()
        }
    );
}

#[test]
fn moved_block_no_op_is_kept() {
    let plan = fixture("terraform-json/moved_block__plan.json");
    let moved = change(&plan, "random_id.test2");
    assert_eq!(moved.action, Action::NoOp);
    assert_eq!(moved.previous_address.as_deref(), Some("random_id.test"));
    assert!(!moved.destructive());
    assert!(plan.has_changes());
    assert_eq!(plan.summary().r#move, 1);
    assert_eq!(plan.destructive_count(), 0);
}

#[test]
fn sensitive_values_never_leak() {
    let plan = fixture("terraform-show-json/sensitive-values__output.json");
    let output = &plan.outputs[0];
    assert_eq!(output.name, "test");
    assert!(output.sensitive);
    assert_eq!(output.after, Rendered::Sensitive);
    assert_eq!(output.before, Rendered::Absent);
    let shown = format!(
        "{plan:?} {}",
        serde_json::to_string(&plan).expect("serializes")
    );
    assert!(!shown.contains("boop"), "secret leaked: {shown}");
}

#[test]
fn sensitive_outputs_of_old_formats_are_withheld() {
    // Format 0.1 records output sensitivity only in planned_values.
    let plan = fixture("terraform-json/basic__plan.json");
    let foo = plan.outputs.iter().find(|o| o.name == "foo").expect("foo");
    assert!(foo.sensitive);
    assert_eq!(foo.after, Rendered::Sensitive);
    let string = plan
        .outputs
        .iter()
        .find(|o| o.name == "string")
        .expect("string");
    assert!(!string.sensitive);
    assert_eq!(string.after, value("\"foo\""));

    let plan = fixture("terraform-json/110_sensitive_values__plan.json");
    let foo = plan.outputs.iter().find(|o| o.name == "foo").expect("foo");
    assert_eq!((foo.sensitive, &foo.after), (true, &Rendered::Sensitive));
}

#[test]
fn sensitive_attribute_parts_are_masked() {
    let json = br#"{"format_version":"1.2","planned_values":{},"resource_changes":[{
        "address":"aws_db_instance.main","mode":"managed","type":"aws_db_instance","name":"main",
        "change":{"actions":["update"],
          "before":{"password":"old-secret-1","tags":{"Name":"db","Token":"tok-secret-2"},"port":5432,"blob":{"k":"blob-secret-3"}},
          "after":{"password":"new-secret-4","tags":{"Name":"db2","Token":"tok-secret-5"},"port":5433,"blob":{"k":"blob-secret-6"}},
          "after_unknown":{},
          "before_sensitive":{"password":true,"tags":{"Token":true},"blob":true},
          "after_sensitive":{"password":true,"tags":{"Token":true},"blob":true}}}]}"#;
    let plan = parse_slice(json).expect("parses");
    let shown = format!("{plan:?}");
    for secret in [
        "secret-1", "secret-2", "secret-3", "secret-4", "secret-5", "secret-6",
    ] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
    let c = change(&plan, "aws_db_instance.main");
    let paths: Vec<_> = c.attributes.iter().map(|a| a.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "blob",
            "password",
            "port",
            "tags[\"Name\"]",
            "tags[\"Token\"]"
        ]
    );
    let password = attribute(c, "password");
    assert_eq!(
        (&password.before, &password.after),
        (&Rendered::Sensitive, &Rendered::Sensitive)
    );
    let name = attribute(c, "tags[\"Name\"]");
    assert_eq!(
        (&name.before, &name.after),
        (&value("\"db\""), &value("\"db2\""))
    );
    assert_eq!(attribute(c, "blob").after, Rendered::Sensitive);
    assert_eq!(attribute(c, "port").after, value("5433"));
}

/// Real Terraform 1.15 output: `terraform_data` copies its sensitive
/// `input` into `output` without marking the copy. The values Terraform
/// did mark are known, so the unmarked copy is caught too.
#[test]
fn unmarked_copies_of_sensitive_values_are_redacted() {
    let json = br#"{"format_version":"1.2","planned_values":{},"resource_changes":[{
        "address":"terraform_data.db","mode":"managed","type":"terraform_data","name":"db",
        "change":{"actions":["update"],
          "before":{"id":"d6","input":{"password":"s3cr3t-one","user":"admin"},"output":{"password":"s3cr3t-one","user":"admin"},"triggers_replace":null},
          "after":{"id":"d6","input":{"password":"s3cr3t-two","user":"admin"},"triggers_replace":null},
          "after_unknown":{"output":true},
          "before_sensitive":{"input":{"password":true},"output":{}},
          "after_sensitive":{"input":{"password":true},"output":{}}}},
        {"address":"terraform_data.other","mode":"managed","type":"terraform_data","name":"other",
        "change":{"actions":["update"],
          "before":{"input":"on","note":"uses s3cr3t-two inside"},"after":{"input":"off","note":"x"},
          "after_unknown":{},"before_sensitive":{},"after_sensitive":{}}}],
      "output_changes":{"pw":{"actions":["create"],"before":null,"after":null,
          "after_unknown":true,"before_sensitive":false,"after_sensitive":true}}}"#;
    let plan = parse_slice(json).expect("parses");
    let shown = format!("{plan:?}");
    assert!(!shown.contains("s3cr3t"), "a secret leaked: {shown}");
    let db = change(&plan, "terraform_data.db");
    assert_eq!(attribute(db, "output").before, Rendered::Sensitive);
    assert_eq!(attribute(db, "output").after, Rendered::Unknown);
    let other = change(&plan, "terraform_data.other");
    assert_eq!(attribute(other, "note").before, Rendered::Sensitive);
    assert_eq!(attribute(other, "note").after, value("\"x\""));
    // A short, common value is not hunted for inside other values.
    assert_eq!(attribute(other, "input").before, value("\"on\""));
    // Whether a sensitive output is known is not shown either.
    assert_eq!(plan.outputs[0].after, Rendered::Sensitive);
}

#[test]
fn partially_sensitive_values_render_placeholders() {
    let json = br#"{"format_version":"1.2","planned_values":{},"resource_changes":[{
        "address":"x.y","mode":"managed","type":"x","name":"y",
        "change":{"actions":["update"],
          "before":{"cfg":[{"user":"u","pass":"hidden-1"}]},
          "after":{"cfg":[{"user":"u","pass":"hidden-2"},{"user":"v","pass":"hidden-3"}]},
          "after_unknown":{"cfg":[{},{"id":true}]},
          "before_sensitive":{"cfg":[{"pass":true}]},
          "after_sensitive":{"cfg":[{"pass":true},{"pass":true}]}}}]}"#;
    let plan = parse_slice(json).expect("parses");
    let cfg = attribute(change(&plan, "x.y"), "cfg");
    assert_eq!(
        cfg.before,
        value(r#"[{"pass":(sensitive value),"user":"u"}]"#)
    );
    assert_eq!(
        cfg.after,
        value(
            r#"[{"pass":(sensitive value),"user":"u"},{"id":(known after apply),"pass":(sensitive value),"user":"v"}]"#
        )
    );
    assert!(!format!("{plan:?}").contains("hidden"));
}

#[test]
fn old_formats_without_marks_hide_attribute_values() {
    let plan = fixture("terraform-json/config_resource_depends_on__plan.json");
    let c = change(&plan, "null_resource.bar");
    assert_eq!(c.action, Action::DeleteThenCreate);
    // Without marks everything counts as sensitive, and a sensitive value
    // does not even show whether it is known.
    let id = attribute(c, "id");
    assert_eq!(
        (&id.before, &id.after),
        (&Rendered::Sensitive, &Rendered::Sensitive)
    );
    let triggers = attribute(c, "triggers");
    assert_eq!(
        (&triggers.before, &triggers.after),
        (&Rendered::Sensitive, &Rendered::Absent)
    );
    assert_eq!(plan.unchanged, 1);
}

#[test]
fn errored_plan() {
    let plan = fixture("terraform-show-json/plan-error__output.json");
    assert!(plan.errored);
    assert!(plan.changes.is_empty());
    assert!(!fixture("terraform-show-json/basic-create__output.json").errored);
}

#[test]
fn failed_checks_carry_their_messages() {
    let plan = fixture("terraform-show-json/conditions__output-refresh-only.json");
    assert_eq!(
        plan.failed_checks,
        [
            FailedCheck {
                address: "test_instance.bar".into(),
                status: "fail".into(),
                messages: vec!["Resource ID is unacceptably short (9 characters).".into()],
            },
            FailedCheck {
                address: "test_instance.foo".into(),
                status: "fail".into(),
                messages: vec!["Invalid AMI ID: must start with \"ami-\".".into()],
            },
        ]
    );
    assert!(plan.changes.is_empty(), "resource_changes is null");
    assert!(
        fixture("terraform-json/has_checks__plan.json")
            .failed_checks
            .is_empty()
    );
}

#[test]
fn failed_instance_messages_name_the_instance() {
    let json = br#"{"format_version":"1.2","planned_values":{},"checks":[{
        "address":{"kind":"resource","to_display":"aws_instance.web"},"status":"error",
        "instances":[{"address":{"to_display":"aws_instance.web[1]"},"status":"error",
                      "problems":[{"message":"boom"}]}]}]}"#;
    let plan = parse_slice(json).expect("parses");
    assert_eq!(
        plan.failed_checks[0].messages,
        ["aws_instance.web[1]: boom"]
    );
}

#[test]
fn action_reason_tainted() {
    let plan = fixture("terraform-json/action_reason__plan.json");
    let c = change(&plan, "null_resource.example");
    assert_eq!(c.action, Action::DeleteThenCreate);
    assert_eq!(c.reason().as_deref(), Some("replace_because_tainted"));
    assert!(c.replace_paths.is_empty());
    assert_eq!(attribute(c, "id").after, Rendered::Unknown);
    assert_eq!(c.attributes.len(), 1, "unchanged triggers are not listed");
}

#[test]
fn import_by_identity() {
    let plan = fixture("terraform-json/identity__plan.json");
    let c = change(&plan, "corner_user_identity.user");
    assert!(c.is_import());
    assert_eq!(c.importing.as_deref(), Some(r#"{"email":"a@example.com"}"#));
    assert_eq!(attribute(c, "age").before, Rendered::Absent);
    assert_eq!(attribute(c, "age").after, value("999"));
    assert_eq!(
        plan.summary(),
        Summary {
            update: 1,
            import: 1,
            ..Summary::default()
        }
    );
}

#[test]
fn import_by_id_as_a_no_op_is_kept() {
    let json = br#"{"format_version":"1.2","planned_values":{},"resource_changes":[{
        "address":"aws_s3_bucket.logs","mode":"managed","type":"aws_s3_bucket","name":"logs",
        "change":{"actions":["no-op"],"before":{},"after":{},"importing":{"id":"logs-bucket"}}}]}"#;
    let plan = parse_slice(json).expect("parses");
    assert_eq!(
        change(&plan, "aws_s3_bucket.logs").importing.as_deref(),
        Some("logs-bucket")
    );
    assert_eq!(plan.summary().import, 1);
    assert_eq!(plan.unchanged, 0);
}

#[test]
fn format_0_1_plans() {
    let plan = fixture("terraform-json/basic__plan.json");
    assert_eq!(plan.format_version, "0.1");
    assert_eq!(plan.terraform_version.as_deref(), Some("0.12.11"));
    let read = change(&plan, "data.null_data_source.baz");
    assert_eq!((read.action, read.mode), (Action::Read, Mode::Data));
    let c = change(&plan, "module.foo.null_resource.aliased");
    assert_eq!(c.module_address.as_deref(), Some("module.foo"));
    assert_eq!(
        (c.resource_type.as_str(), c.name.as_str()),
        ("null_resource", "aliased")
    );
    assert_eq!(
        plan.summary(),
        Summary {
            create: 7,
            ..Summary::default()
        }
    );
    let unknown = plan
        .outputs
        .iter()
        .find(|o| o.name == "interpolated")
        .expect("output");
    assert_eq!(unknown.after, Rendered::Unknown);
    assert!(
        fixture("terraform-json/no_changes__plan.json")
            .changes
            .is_empty()
    );
}

#[test]
fn unknown_parts_of_outputs() {
    let plan = fixture("terraform-show-json/unknown-output__output.json");
    let by_name = |name: &str| {
        plan.outputs
            .iter()
            .find(|o| o.name == name)
            .unwrap_or_else(|| panic!("{name}"))
            .after
            .to_string()
    };
    assert_eq!(by_name("bar"), r#"["hello",(known after apply),"world"]"#);
    assert_eq!(
        by_name("baz"),
        r#"{"greeting":"hello","subject":"world","time":(known after apply)}"#
    );
    assert_eq!(by_name("foo"), r#""hello""#);
}

#[test]
fn summary_counts_every_kind() {
    let entry = |address: &str, actions: &str, extra: &str| {
        format!(
            r#"{{"address":"{address}","mode":"managed","type":"t","name":"n",{extra}
                "change":{{"actions":{actions},"before":{{}},"after":{{}}}}}}"#
        )
    };
    let changes = [
        entry("t.create", r#"["create"]"#, ""),
        entry(
            "t.update",
            r#"["update"]"#,
            r#""previous_address":"t.old","#,
        ),
        entry("t.delete", r#"["delete"]"#, ""),
        entry("t.dc", r#"["delete","create"]"#, ""),
        entry("t.cd", r#"["create","delete"]"#, ""),
        entry("t.cf", r#"["create","forget"]"#, ""),
        entry("t.forget", r#"["forget"]"#, ""),
        entry("t.read", r#"["read"]"#, ""),
        entry("t.noop", r#"["no-op"]"#, ""),
    ]
    .join(",");
    let json = format!(
        r#"{{"format_version":"1.2","planned_values":{{}},"resource_changes":[{changes}]}}"#
    );
    let plan = parse_slice(json.as_bytes()).expect("parses");
    assert_eq!(
        plan.summary(),
        Summary {
            create: 1,
            update: 1,
            delete: 1,
            replace: 3,
            forget: 1,
            import: 0,
            r#move: 1,
        }
    );
    assert_eq!(plan.destructive_count(), 5);
    assert_eq!(plan.unchanged, 1);
    assert_eq!(change(&plan, "t.cf").action, Action::CreateThenForget);
    let summary = serde_json::to_value(plan.summary()).expect("serializes");
    assert_eq!(summary["move"], 1);
}

#[test]
fn actions_table() {
    let table = [
        (&["no-op"][..], Action::NoOp, "no-op", "", false),
        (&["read"], Action::Read, "read", "<=", false),
        (&["create"], Action::Create, "create", "+", false),
        (&["update"], Action::Update, "update", "~", false),
        (
            &["delete", "create"],
            Action::DeleteThenCreate,
            "replace",
            "-/+",
            true,
        ),
        (
            &["create", "delete"],
            Action::CreateThenDelete,
            "replace",
            "+/-",
            true,
        ),
        (
            &["create", "forget"],
            Action::CreateThenForget,
            "replace",
            "+/.",
            true,
        ),
        (&["delete"], Action::Delete, "delete", "-", true),
        (&["forget"], Action::Forget, "forget", ".", true),
    ];
    for (actions, action, name, glyph, destructive) in table {
        assert_eq!(Action::from_actions(actions), Some(action));
        assert_eq!((action.as_str(), action.glyph()), (name, glyph));
        assert_eq!(action.is_destructive(), destructive, "{action:?}");
    }
    for bad in [
        &[][..],
        &["delete", "delete"],
        &["bogus"],
        &["create", "delete", "create"],
    ] {
        assert_eq!(Action::from_actions(bad), None);
    }
}

#[test]
fn unknown_actions_name_the_address() {
    let json = br#"{"format_version":"1.2","planned_values":{},"resource_changes":[{
        "address":"t.x","mode":"managed","type":"t","name":"x",
        "change":{"actions":["teleport"],"before":{},"after":{}}}]}"#;
    match parse_slice(json) {
        Err(PlanError::UnknownActions { address, actions }) => {
            assert_eq!(
                (address.as_str(), actions),
                ("t.x", vec!["teleport".to_owned()])
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn values_before_actions_are_still_classified() {
    let json = br#"{"format_version":"1.2","planned_values":{},"resource_changes":[
        {"address":"t.u","mode":"managed","type":"t","name":"u",
         "change":{"before":{"a":1},"after":{"a":2},"after_unknown":{},"before_sensitive":{},"after_sensitive":{},"actions":["update"]}},
        {"address":"t.c","mode":"managed","type":"t","name":"c",
         "change":{"before":null,"after":{"a":2},"actions":["create"]}}]}"#;
    let plan = parse_slice(json).expect("parses");
    let a = attribute(change(&plan, "t.u"), "a");
    assert_eq!((&a.before, &a.after), (&value("1"), &value("2")));
    assert!(change(&plan, "t.c").attributes.is_empty());

    let json = br#"{"format_version":"1.2","planned_values":{},"output_changes":{
        "new":{"before":null,"after":"x","after_unknown":false,"before_sensitive":false,
               "after_sensitive":false,"actions":["create"]},
        "same":{"before":"y","after":"y","after_unknown":false,"before_sensitive":false,
                "after_sensitive":false,"actions":["no-op"]}}}"#;
    let plan = parse_slice(json).expect("parses");
    assert_eq!(plan.outputs.len(), 1);
    assert_eq!(
        (plan.outputs[0].name.as_str(), &plan.outputs[0].after),
        ("new", &value("\"x\""))
    );
}

#[test]
fn paths_render_like_terraform() {
    use super::raw::PathStep::{Index, Key};
    let render = |steps: &[raw::PathStep]| diff::render_path(steps);
    assert_eq!(
        render(&[Key("triggers_replace".into())]),
        "triggers_replace"
    );
    assert_eq!(
        render(&[Key("tags".into()), Key("Name".into())]),
        r#"tags["Name"]"#
    );
    assert_eq!(
        render(&[Key("ebs".into()), Index(0), Key("size".into())]),
        "ebs[0].size"
    );
    assert_eq!(
        render(&[Key("m".into()), Key("a b\"".into())]),
        r#"m["a b\""]"#
    );
    let json = br#"{"format_version":"1.2","planned_values":{},"resource_changes":[{
        "address":"t.x","mode":"managed","type":"t","name":"x",
        "change":{"actions":["create","delete"],"before":{},"after":{},
                  "replace_paths":[["tags","Name"],["ebs",0,"size"]]}}]}"#;
    let plan = parse_slice(json).expect("parses");
    let c = change(&plan, "t.x");
    assert_eq!(c.replace_paths, [r#"tags["Name"]"#, "ebs[0].size"]);
    assert_eq!(
        c.reason().as_deref(),
        Some(r#"because of tags["Name"], ebs[0].size"#)
    );
}

#[test]
fn nested_changes_go_one_level_deep() {
    let json = br#"{"format_version":"1.2","planned_values":{},"resource_changes":[{
        "address":"t.x","mode":"managed","type":"t","name":"x",
        "change":{"actions":["update"],
          "before":{"input":{"size":1,"deep":{"a":1}},"ports":[80,443],"list":[1]},
          "after":{"input":{"size":2,"deep":{"a":2}},"ports":[80,8443],"list":[1,2]},
          "after_unknown":{"output":true},"before_sensitive":{},"after_sensitive":{},
          "replace_paths":[["input","size"]]}}]}"#;
    let plan = parse_slice(json).expect("parses");
    let c = change(&plan, "t.x");
    let shown: Vec<_> = c
        .attributes
        .iter()
        .map(|a| {
            format!(
                "{}: {} -> {}{}",
                a.path,
                a.before,
                a.after,
                if a.forces_replacement { " !" } else { "" }
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            r#"input.deep: {"a":1} -> {"a":2}"#,
            "input.size: 1 -> 2 !",
            "list: [1] -> [1,2]",
            "output: null -> (known after apply)",
            "ports[1]: 443 -> 8443",
        ]
    );
}

#[test]
fn inputs_that_are_not_plans() {
    let not_a_plan = |input: &[u8], expected: &str| match parse_slice(input) {
        Err(PlanError::NotAPlan { reason }) => {
            assert!(reason.contains(expected), "{reason:?} lacks {expected:?}");
            assert!(reason.contains("terraform show -json"), "{reason:?}");
        }
        other => panic!("unexpected {other:?}"),
    };
    not_a_plan(
        br#"{"format_version":"1.0","terraform_version":"1.15.5","values":{}}"#,
        "state JSON",
    );
    not_a_plan(
        br#"{"version":4,"serial":3,"lineage":"x","resources":[]}"#,
        "state file",
    );
    not_a_plan(br#"{"hello":"world"}"#, "no format_version");
    not_a_plan(b"[1,2]", "not an object");
    not_a_plan(b"PK\x03\x04rest-of-a-zip", "binary plan file");
    not_a_plan(b"  \n", "empty");
    assert!(matches!(
        parse_slice(b"\x00garbage"),
        Err(PlanError::Json { .. })
    ));
}

#[test]
fn unsupported_format_version() {
    match parse_slice(br#"{"format_version":"2.0","planned_values":{}}"#) {
        Err(PlanError::UnsupportedFormat { version }) => assert_eq!(version, "2.0"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(parse_slice(br#"{"format_version":"1.9","planned_values":{}}"#).is_ok());
}

#[test]
fn truncated_and_malformed_input() {
    let (line, _, message) = json_error(parse_slice(
        b"{\"format_version\":\"1.2\",\n\"planned_values\":{\"a\":[1,",
    ));
    assert_eq!((line, message.as_str()), (2, "EOF while parsing a value"));
    let (_, _, message) = json_error(parse_slice(
        br#"{"format_version":"1.2","resource_changes":[{"address":"a"}]}"#,
    ));
    assert!(message.starts_with("missing field"), "{message}");
    let (line, column, _) = json_error(parse_slice(
        b"{\"format_version\":\"1.2\",\n  \"resource_changes\": {}}",
    ));
    assert_eq!((line, column), (2, 23));
}

/// The error strata gives for `text`, checked to be where serde_json puts
/// it.
#[track_caller]
fn error_where_serde_says(text: &[u8]) -> (u64, u64, String) {
    let (line, column, message) = json_error(parse_slice(text));
    let serde = serde_json::from_slice::<serde_json::Value>(text).expect_err("invalid");
    assert_eq!(
        (line, column),
        (serde.line() as u64, serde.column() as u64),
        "{message}"
    );
    (line, column, message)
}

/// Found by fuzzing (scripts/fuzz.sh, plan_json): a raw newline inside a
/// string in a skipped part of the plan. Reported where serde_json reports
/// it, and other control characters where they are.
#[test]
fn control_characters_in_strings_are_positioned_like_serde_json() {
    for (text, position) in [
        (
            &b"{\"format_version\":\"1.2\",\n\"planned_values\":{\"a\":\"x\ny\"}}"[..],
            (3, 0),
        ),
        (
            &b"{\"format_version\":\"1.2\",\n\"planned_values\":{\"a\":\"x\ty\"}}"[..],
            (2, 25),
        ),
        // Not UTF-8, then a newline, in one string: serde_json reports the
        // newline (found by fuzzing).
        (
            &b"{\"format_version\":\"1.2\",\n\"planned_values\":{\"a\":\"\x8d\x9e,\ny\"}}"[..],
            (3, 0),
        ),
    ] {
        let (line, column, message) = error_where_serde_says(text);
        assert_eq!((line, column), position, "{message}");
        assert!(message.starts_with("control character"), "{message}");
    }
}

/// Found by fuzzing (scripts/fuzz.sh, plan_json): a string that is not
/// UTF-8 in a part of the plan that is skipped was accepted; serde_json
/// refuses it, at the bad byte, and so does strata now, cut by a buffer
/// refill or not.
#[test]
fn strings_that_are_not_utf8_are_refused_like_serde_json() {
    let mut long = b"{\"format_version\":\"1.2\",\"planned_values\":{\"k\":\"".to_vec();
    long.extend(std::iter::repeat_n(b'a', 200_000));
    long.extend("é\\n".as_bytes());
    long.extend(b"\xe0x\"}}");
    for text in [
        &b"{\"format_version\":\"1.2\",\"planned_values\":{\"a\xe0b\":1}}"[..],
        &b"{\"format_version\":\"1.2\",\"planned_values\":{\"a\":\"\\n\xff\"}}"[..],
        // In a value read by serde's typed reading, which ignores it
        // (found by fuzzing).
        &b"{\"format_version\":\"1.2\",\"planned_values\":{\"outputs\":{\"o\":{\"sensitive\":false,\"value\":{\"id\":\"42\xc8\xd7\"}}}}}"[..],
        // Not UTF-8 in a string that closes, then a syntax error that
        // serde's typed reading reports first (found by fuzzing).
        &b"{\"format_version\":\"1.2\",\"planned_values\":{\"outputs\":{\"o\":{\"sensitive\":false,\n\"type\":\"string\xf1\xff   \"value\":1}}}}"[..],
        // A key in a part skipped the fast way.
        &b"{\"format_version\":\"1.2\",\"configuration\":{\"p\":{\"n\":\"b\"},\"ro\x91\x8be\":{}}}"
            [..],
        &b"{\"format_version\":\"1.2\",\"configuration\":{\"p\":[\"\xc3\"]}}"[..],
        // In a resource change, where a typed serde read ignores the member.
        &b"{\"format_version\":\"1.2\",\"resource_changes\":[{\"address\":\"a.b\",\"mode\":\"managed\",\"type\":\"a\",\"name\":\"b\",\"change\":{\"actions\":[\"update\"],\"before\":{},\"after\":{},\"bef\x90\x8dsensitive\":{}}}]}"[..],
        &long[..],
    ] {
        let (line, column, message) = error_where_serde_says(text);
        assert_eq!(message, "invalid unicode code point");
        // The same read from a file, in chunks.
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), text).expect("write");
        let (in_file, column_in_file, _) = json_error(parse_file(file.path()));
        assert_eq!((in_file, column_in_file), (line, column));
    }
    // Valid UTF-8 across a refill is fine.
    let mut fine = b"{\"format_version\":\"1.2\",\"planned_values\":{\"k\":\"".to_vec();
    fine.extend(std::iter::repeat_n(b'a', 65_535));
    fine.extend("ééé\\n€\"}}".as_bytes());
    assert!(parse_slice(&fine).is_ok());
}

/// Found by fuzzing: a literal cut by a newline (`t` then `ru`) is placed
/// where serde_json places it, at the start of the next line.
#[test]
fn a_literal_cut_by_a_newline_is_positioned_like_serde_json() {
    let (_, _, message) =
        error_where_serde_says(b"{\"format_version\":\"1.2\",\n\"applyable\": t\nrue}");
    assert_eq!(message, "expected ident");
    let (_, _, message) =
        error_where_serde_says(b"{\"format_version\":\"1.2\",\n\"applyable\": tx}");
    assert_eq!(message, "expected ident");
}

#[test]
fn io_errors_name_the_file() {
    let path = Path::new("/nonexistent/plan.json");
    let error = parse_file(path).expect_err("missing file");
    assert!(matches!(&error, PlanError::Io { path: Some(p), .. } if p == path));
    assert_eq!(
        error.to_string(),
        "cannot read plan JSON from /nonexistent/plan.json"
    );
}

#[test]
fn rendered_display() {
    assert_eq!(Rendered::Absent.to_string(), "null");
    assert_eq!(Rendered::Sensitive.to_string(), "(sensitive value)");
    assert_eq!(Rendered::Unknown.to_string(), "(known after apply)");
    assert_eq!(value("[1]").to_string(), "[1]");
}

/// The quick reading of resource changes either gives up or reads what
/// serde reads, on shapes that are unusual or wrong.
#[test]
fn quick_reading_agrees_with_serde() {
    let base = r#"{"address":"t.x","mode":"managed","type":"t","name":"x","provider_name":"p",
        "change":{"actions":["update"],"before":{"a":1},"after":{"a":2},"after_unknown":{},
        "before_sensitive":{"a":false},"after_sensitive":{"b":[false,{"c":true}]}}}"#;
    let replace = |from: &str, to: &str| base.replacen(from, to, 1).into_bytes();
    let mut cases = vec![
        base.as_bytes().to_vec(),
        replace(r#""t.x""#, r#""t.x[\"k\"]""#),
        replace(r#""t.x""#, r#""t.\u0078\/y""#),
        replace(r#""t.x""#, r#""t.\ud800""#),
        replace(r#""address""#, r#""addr\u0065ss""#),
        replace(r#""mode":"managed","#, r#""mode":"managed","mode":"data","#),
        replace(r#""mode":"managed","#, ""),
        replace(r#""managed""#, r#""resource""#),
        replace(r#""managed""#, r#"{"managed":null}"#),
        replace(r#""name":"x""#, r#""name":null"#),
        replace(r#""provider_name":"p""#, r#""previous_address":"t.w""#),
        replace(
            r#""provider_name":"p""#,
            r#""previous_address":null,"deposed":"d""#,
        ),
        replace(r#""provider_name":"p""#, r#""previous_address":7"#),
        replace(r#"["update"]"#, r#"["no-op"]"#),
        replace(r#"["update"]"#, "null"),
        replace(r#"["update"]"#, "[1]"),
        replace(r#"["update"]"#, "[]"),
        replace(
            r#"["update"]"#,
            r#"["delete","create"],"replace_paths":[["a",0]]"#,
        ),
        replace(r#"["update"]"#, r#"["update"],"replace_paths":[[true]]"#),
        replace(r#"["update"]"#, r#"["no-op"],"importing":{"id":"i-1"}"#),
        replace(r#"["update"]"#, r#"["no-op"],"importing":null"#),
        replace(r#"["update"]"#, r#"["update"],"actions":["no-op"]"#),
        replace(r#"{"a":false}"#, "1e999"),
        replace(r#"{"a":false}"#, "[1]"),
        replace(r#"{"a":false}"#, r#"{"\u00e9":true}"#),
        replace(r#"{"a":false}"#, r#"{"é":true}"#),
        replace(
            r#"{"a":false}"#,
            &format!("{}true{}", "[".repeat(40), "]".repeat(40)),
        ),
        replace(
            r#"{"a":false}"#,
            &format!("{}true{}", "[".repeat(130), "]".repeat(130)),
        ),
        replace(r#""change":{"#, r#""change":{"change":1,"#),
        replace(
            r#""provider_name":"p","#,
            r#""change":{"actions":["create"]},"#,
        ),
        b"[1,2]".to_vec(),
        br#"{"address":"t.x","mode":"managed","type":"t","name":"x","change":[]}"#.to_vec(),
        br#"{ "address" : "t.x" , "mode" : "data" , "type" : "t" , "name" : "x" ,
            "change" : { "actions" : [ "read" ] , "before_sensitive" : true } }"#
            .to_vec(),
    ];
    let mut bad_key = base.as_bytes().to_vec();
    bad_key.splice(1..1, *b"\"k\xff\":0,");
    cases.push(bad_key);
    let mut bad_text = base.as_bytes().to_vec();
    let at = bad_text
        .windows(3)
        .position(|w| w == b"t.x")
        .expect("address");
    bad_text[at + 1] = 0xff;
    cases.push(bad_text);
    let mut quick_count = 0;
    for case in &cases {
        let mut scanner = scan::Scanner::over(case);
        scanner.begin_piece().expect("value");
        let mut keys = Vec::new();
        if scanner.skip_piece_noting_keys(&mut keys).is_err() {
            continue;
        }
        let serde = serde_json::from_slice::<raw::RawResourceChange>(case);
        let shown = String::from_utf8_lossy(case);
        match raw::RawResourceChange::read_checked(case, &keys) {
            None => {}
            Some(raw::Quick::Change(quick)) => {
                quick_count += 1;
                let serde = serde.unwrap_or_else(|e| panic!("{shown}: serde fails: {e}"));
                assert_eq!(format!("{quick:?}"), format!("{serde:?}"), "{shown}");
            }
            Some(raw::Quick::NoOp { marked }) => {
                quick_count += 1;
                let serde = serde.unwrap_or_else(|e| panic!("{shown}: serde fails: {e}"));
                let change = &serde.change.0;
                assert_eq!(change.actions.as_deref(), Some(&["no-op".to_owned()][..]));
                assert!(serde.previous_address.is_none() && change.importing.is_none());
                assert_eq!(marked, change.marked, "{shown}");
            }
        }
    }
    assert!(quick_count > 10, "the quick reading gave up too often");
}

/// Attribute diffs read through the scanner's key index agree with those
/// read the careful way, marks and errors included.
#[test]
fn quick_diffs_agree_with_careful_ones() {
    let element = |before: &str, after: &str, marks: &str| {
        format!(
            r#"{{"address":"t.x","mode":"managed","type":"t","name":"x",
            "change":{{"actions":["update"],"before":{before},"after":{after}{marks}}}}}"#
        )
    };
    let values = (
        r#"{"a":1,"s":"x","m":{"k":"v","n":[1,2]},"l":[1,2]}"#,
        r#"{"a":2,"s":"x","m":{"k":"w","n":[1,3]},"l":[1,2,3],"new":true}"#,
    );
    let marks = [
        r#","after_unknown":{},"before_sensitive":{},"after_sensitive":{}"#,
        r#","after_unknown":false,"before_sensitive":false,"after_sensitive":false"#,
        "",
        r#","before_sensitive":{}"#,
        r#","after_unknown":{"x":false,"m":{"k":true}},"before_sensitive":{"x":true},"after_sensitive":{}"#,
        r#","after_unknown":{"new":true},"before_sensitive":{"m":{"n":[false,true]}},"after_sensitive":{"m":{"n":[false,false]}}"#,
        r#","after_unknown":{},"before_sensitive":{"m":{}},"after_sensitive":{"m":{"k":true}}"#,
        r#","after_unknown":{},"before_sensitive":{"a":true},"after_sensitive":true"#,
        r#","after_unknown":{},"before_sensitive":{"l":[false,false]},"after_sensitive":{"l":[]}"#,
        r#","after_unknown":{"l":[false,false,true]},"before_sensitive":{"s":{"deep":{"er":{}}}},"after_sensitive":{"s":false}"#,
        r#","after_unknown":{},"before_sensitive":{"a":1e999},"after_sensitive":{}"#,
        r#","after_unknown":{"a":1e999},"before_sensitive":{},"after_sensitive":{}"#,
        r#","after_unknown":{},"before_sensitive":{"\u00e9":false},"after_sensitive":{"é":false}"#,
        r#","before_sensitive":{},"after_sensitive":{},"before_sensitive":{"a":true}"#,
    ];
    let mut cases = Vec::new();
    for mark in marks {
        cases.push(element(values.0, values.1, mark).into_bytes());
        cases.push(element(values.1, values.0, mark).into_bytes());
        cases.push(element("null", values.1, mark).into_bytes());
        cases.push(
            element(
                r#"{"\u0061":1,"b":{"c":1}}"#,
                r#"{"a":2,"b":{"c":2}}"#,
                mark,
            )
            .into_bytes(),
        );
    }
    let mut bad_key = element(r#"{"a":1}"#, r#"{"a":2}"#, marks[0]).into_bytes();
    let at = bad_key
        .windows(5)
        .position(|w| w == br#"{"a":"#)
        .expect("key");
    bad_key[at + 2] = 0xff;
    // A key that is not UTF-8 is refused while skipping, as serde refuses
    // it; there is no diff to compare.
    let mut scanner = scan::Scanner::over(&bad_key);
    scanner.begin_piece().expect("value");
    assert!(scanner.skip_piece_noting_keys(&mut Vec::new()).is_err());
    assert!(serde_json::from_slice::<serde_json::Value>(&bad_key).is_err());
    let paths = [vec![raw::PathStep::Key("m".to_owned())]];
    for case in &cases {
        let mut scanner = scan::Scanner::over(case);
        scanner.begin_piece().expect("value");
        let mut keys = Vec::new();
        scanner
            .skip_piece_noting_keys(&mut keys)
            .expect("valid JSON");
        let quick = diff::attribute_changes(case, Some(&keys), &paths);
        let careful = diff::attribute_changes(case, None, &paths);
        assert_eq!(
            format!("{quick:?}"),
            format!("{careful:?}"),
            "{}",
            String::from_utf8_lossy(case)
        );
    }
}
