//! `strata apply`, `approve`, `runs` without a terminal: the gate's
//! decisions, saved runs applied exactly, stale runs refused, failures,
//! Ctrl-C and concurrent runs. The prompt itself is in `prompt.rs`.

use std::io::Read;

use crate::support::{Repo, Strata, read_until, sha256sum, stacks_hcl};

/// One stack: `disk` is replaced when `generation` changes, `server` is
/// updated in place when `size` changes.
pub fn app_stack(generation: u32, size: &str) -> String {
    format!(
        r#"
resource "terraform_data" "disk" {{
  input            = "data"
  triggers_replace = ["{generation}"]
}}

resource "terraform_data" "server" {{
  input = "{size}"
}}

output "generation" {{
  value = terraform_data.disk.triggers_replace[0]
}}
"#
    )
}

/// A repository with the `app` stack and `extra_hcl` appended to strata.hcl.
pub fn app_repo(extra_hcl: &str) -> Repo {
    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        &format!("{}{extra_hcl}", stacks_hcl(&[("app", "infra/app", &[])])),
    )
    .write("infra/app/main.tf", &app_stack(1, "small"));
    repo.commit("app");
    repo
}

pub fn change_app(repo: &Repo, generation: u32, size: &str) {
    repo.write("infra/app/main.tf", &app_stack(generation, size));
    repo.commit(&format!("generation {generation}, size {size}"));
}

/// Applies the first commit (creates; approved in advance in case a
/// protected address is among them).
pub fn applied(repo: &Repo) -> Strata {
    let strata = Strata::new();
    let run = strata.on(repo, &["apply", "--auto-approve"]);
    assert_eq!(run.code, 0, "{run:?}");
    strata
}

/// What the next plan would do to `address`, or "none".
#[track_caller]
pub fn planned_action(strata: &Strata, repo: &Repo, address: &str) -> String {
    let run = strata.on(repo, &["plan", "--format", "json"]);
    assert!(run.code == 0 || run.code == 2, "{run:?}");
    run.json()["stacks"][0]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["address"] == address)
        .map(|c| c["action"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| "none".to_owned())
}

fn run_id(report: &serde_json::Value) -> String {
    report["run_id"].as_str().expect("a run id").to_owned()
}

#[test]
fn without_a_terminal_a_replace_waits_for_approve_then_apply_run() {
    let repo = app_repo("");
    let strata = applied(&repo);
    change_app(&repo, 2, "small");

    let run = strata.on(&repo, &["apply", "--format", "json"]);
    assert_eq!(run.code, 3, "{run:?}");
    let report = run.json();
    assert_eq!(report["result"], "approval_required");
    let id = run_id(&report);
    let approvals = report["approvals"].as_array().expect("approvals");
    assert_eq!(approvals.len(), 1, "{report:#}");
    assert_eq!(approvals[0]["address"], "terraform_data.disk");
    assert_eq!(approvals[0]["action"], "replace");
    assert_eq!(
        approvals[0]["reason"],
        "replace_because_cannot_update (because of triggers_replace)"
    );
    assert!(
        run.stderr.contains(&format!("strata approve {id}"))
            && run.stderr.contains(&format!("strata apply --run {id}")),
        "{run:?}"
    );
    // Nothing changed.
    assert_eq!(
        planned_action(&strata, &repo, "terraform_data.disk"),
        "replace"
    );

    let listed = strata.run(&["runs"]);
    assert_eq!(listed.code, 0, "{listed:?}");
    assert!(listed.stdout.contains(&id), "{listed:?}");
    assert!(listed.stdout.contains("approval_required"), "{listed:?}");

    let saved_hash = sha256sum(&strata.plan_file(&id, "app"));
    assert_eq!(
        strata.run_record(&id)["stacks"][0]["plan_sha256"],
        saved_hash.as_str()
    );

    let approve = strata.run(&["approve", &id]);
    assert_eq!(approve.code, 0, "{approve:?}");
    assert!(approve.stdout.contains("Approved run"), "{approve:?}");
    let again = strata.run(&["approve", &id]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("already approved"), "{again:?}");

    let apply = strata.run(&["apply", "--run", &id, "--format", "json"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    let applied = apply.json();
    assert_eq!(applied["result"], "applied");
    assert_eq!(applied["stacks"][0]["status"], "applied");
    assert_eq!(applied["source"]["ref"], "main");
    assert_eq!(
        planned_action(&strata, &repo, "terraform_data.disk"),
        "none"
    );

    // Applied runs are not applied twice, nor approved.
    let twice = strata.run(&["apply", "--run", &id]);
    assert_eq!(twice.code, 1, "{twice:?}");
    assert!(twice.stderr.contains("already applied"), "{twice:?}");
    let late = strata.run(&["approve", &id]);
    assert_eq!(late.code, 1, "{late:?}");

    // One decision, naming the hash of the plan file that was applied.
    let audit = strata.audit();
    assert_eq!(audit.len(), 1, "{audit:#?}");
    assert_eq!(audit[0]["decision"], "approved");
    assert_eq!(audit[0]["by"], "approve_command");
    assert_eq!(audit[0]["run_id"], id.as_str());
    assert_eq!(
        audit[0]["commit"],
        repo.git(&["rev-parse", "HEAD"]).as_str()
    );
    assert_eq!(audit[0]["plans"][0]["stack"], "app");
    assert_eq!(audit[0]["plans"][0]["sha256"], saved_hash.as_str());
    assert!(!audit[0]["user"].as_str().unwrap().is_empty());
    assert_eq!(audit[0]["git_identity"], "Strata Test <test@strata.dev>");

    let json = strata.run(&["runs", &id, "--format", "json"]).json();
    assert_eq!(json["runs"][0]["id"], id.as_str());
    assert_eq!(json["runs"][0]["status"], "applied");
    assert_eq!(json["decisions"].as_array().unwrap().len(), 1);
    assert_eq!(
        json["decisions"][0]["plans"][0]["sha256"],
        saved_hash.as_str()
    );

    // The same commit again: nothing to do, exit 0.
    let idle = strata.on(&repo, &["apply"]);
    assert_eq!(idle.code, 0, "{idle:?}");
    assert!(idle.stdout.contains("No changes."), "{idle:?}");
}

#[test]
fn plan_save_then_apply_run_applies_exactly_the_saved_plan() {
    let repo = app_repo("");
    let strata = applied(&repo);
    change_app(&repo, 2, "small");
    let saved = strata.on(&repo, &["plan", "--save", "--format", "json"]);
    assert_eq!(saved.code, 2, "{saved:?}");
    let id = run_id(&saved.json());
    assert!(
        saved.stderr.contains(&format!("strata approve {id}")),
        "{saved:?}"
    );
    assert_eq!(strata.run_record(&id)["status"], "approval_required");

    // The branch moves on; the saved run still applies generation 2.
    change_app(&repo, 3, "small");
    assert_eq!(strata.run(&["approve", &id]).code, 0);
    let apply = strata.run(&["apply", "--run", &id]);
    assert_eq!(apply.code, 0, "{apply:?}");
    // Terraform's state, read by Terraform itself, says generation 2.
    let outputs = strata.terraform("infra/app", &["output", "-json"]);
    let outputs: serde_json::Value = serde_json::from_slice(&outputs.stdout).unwrap();
    assert_eq!(outputs["generation"]["value"], "2");
    // What is left is the branch's newer commit.
    assert_eq!(
        planned_action(&strata, &repo, "terraform_data.disk"),
        "replace"
    );

    // A plan without --save keeps no plan files and cannot be approved.
    let unsaved = strata.on(&repo, &["plan", "--format", "json"]);
    let unsaved_id = run_id(&unsaved.json());
    assert!(!strata.plan_file(&unsaved_id, "app").exists());
    let refused = strata.run(&["approve", &unsaved_id]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("without --save"), "{refused:?}");
}

#[test]
fn auto_approve_applies_and_is_recorded() {
    let repo = app_repo("");
    let strata = applied(&repo);
    change_app(&repo, 2, "small");
    let run = strata.on(&repo, &["apply", "--auto-approve", "--format", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["result"], "applied");
    assert_eq!(
        planned_action(&strata, &repo, "terraform_data.disk"),
        "none"
    );
    let audit = strata.audit();
    assert_eq!(audit.len(), 1, "{audit:#?}");
    assert_eq!(audit[0]["decision"], "auto_approved");
    assert_eq!(audit[0]["by"], "flag");
}

#[test]
fn the_allow_policy_approves_destructive_changes_but_not_protected_ones() {
    let repo = app_repo("approval {\n  destructive = \"allow\"\n}\n");
    let strata = applied(&repo);
    change_app(&repo, 2, "small");
    let run = strata.on(&repo, &["apply"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(strata.audit()[0]["by"], "policy");

    repo.write(
        "strata.hcl",
        &format!(
            "{}approval {{\n  destructive = \"allow\"\n  protect = [\"terraform_data.disk\"]\n}}\n",
            stacks_hcl(&[("app", "infra/app", &[])])
        ),
    );
    change_app(&repo, 3, "small");
    let run = strata.on(&repo, &["apply"]);
    assert_eq!(run.code, 3, "{run:?}");
}

#[test]
fn the_deny_policy_refuses_even_with_auto_approve() {
    let repo = app_repo("approval {\n  destructive = \"deny\"\n}\n");
    let strata = applied(&repo);
    change_app(&repo, 2, "small");
    let run = strata.on(&repo, &["apply", "--auto-approve", "--format", "json"]);
    assert_eq!(run.code, 3, "{run:?}");
    let report = run.json();
    assert_eq!(report["result"], "denied");
    assert!(
        report["message"].as_str().unwrap().contains("deny"),
        "{report:#}"
    );
    assert_eq!(
        planned_action(&strata, &repo, "terraform_data.disk"),
        "replace"
    );
    let audit = strata.audit();
    assert_eq!(audit[0]["decision"], "denied");
    assert_eq!(audit[0]["by"], "policy");
    // A denied run cannot be approved afterwards.
    let id = run_id(&report);
    let approve = strata.run(&["approve", &id]);
    assert_eq!(approve.code, 1, "{approve:?}");

    // A saved plan with destructive changes cannot be applied under `deny`.
    let saved = strata.on(&repo, &["plan", "--save", "--format", "json"]);
    assert_eq!(saved.code, 2, "{saved:?}");
    assert!(saved.stderr.contains("cannot be applied"), "{saved:?}");
    assert_eq!(
        strata.run_record(&run_id(&saved.json()))["status"],
        "denied"
    );

    // Updates are not destructive: they go through under `deny`.
    change_app(&repo, 1, "large");
    let run = strata.on(&repo, &["apply"]);
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn a_protected_address_needs_approval_for_a_plain_update() {
    let repo = app_repo("approval {\n  protect = [\"terraform_data.serv*\"]\n}\n");
    let strata = applied(&repo);
    change_app(&repo, 1, "large");
    let run = strata.on(&repo, &["apply", "--format", "json"]);
    assert_eq!(run.code, 3, "{run:?}");
    let report = run.json();
    let item = &report["approvals"][0];
    assert_eq!(item["address"], "terraform_data.server");
    assert_eq!(item["action"], "update");
    assert_eq!(item["destructive"], false);
    assert_eq!(item["protected_by"], "terraform_data.serv*");
    assert_eq!(
        planned_action(&strata, &repo, "terraform_data.server"),
        "update"
    );

    let text = strata.on(&repo, &["plan"]);
    assert!(
        text.stdout.contains(
            "app  update  terraform_data.server  protected by pattern \"terraform_data.serv*\""
        ),
        "{text:?}"
    );
}

#[test]
fn a_saved_plan_changed_on_disk_is_refused_as_stale() {
    let repo = app_repo("");
    let strata = applied(&repo);
    change_app(&repo, 2, "small");
    let saved = strata.on(&repo, &["plan", "--save", "--format", "json"]);
    let id = run_id(&saved.json());
    let file = strata.plan_file(&id, "app");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.push(0);
    std::fs::write(&file, bytes).unwrap();

    let apply = strata.run(&["apply", "--run", &id, "--auto-approve"]);
    assert_eq!(apply.code, 1, "{apply:?}");
    assert!(apply.stderr.contains("stale"), "{apply:?}");
    assert!(apply.stderr.contains("changed on disk"), "{apply:?}");
    assert!(apply.stderr.contains("re-plan"), "{apply:?}");
    assert_eq!(strata.run_record(&id)["status"], "stale");
    assert_eq!(
        planned_action(&strata, &repo, "terraform_data.disk"),
        "replace"
    );
}

#[test]
fn a_run_made_stale_by_another_apply_is_refused() {
    let repo = app_repo("");
    let strata = applied(&repo);
    change_app(&repo, 2, "small");
    let first = run_id(
        &strata
            .on(&repo, &["plan", "--save", "--format", "json"])
            .json(),
    );
    let second = run_id(
        &strata
            .on(&repo, &["plan", "--save", "--format", "json"])
            .json(),
    );
    assert_eq!(strata.run(&["approve", &second]).code, 0);

    // Another apply by strata changes the stack: the first run is stale.
    let other = strata.on(&repo, &["apply", "--auto-approve"]);
    assert_eq!(other.code, 0, "{other:?}");
    let approve = strata.run(&["approve", &first]);
    assert_eq!(approve.code, 1, "{approve:?}");
    assert!(approve.stderr.contains("stale"), "{approve:?}");
    assert!(approve.stderr.contains("re-plan"), "{approve:?}");
    let apply = strata.run(&["apply", "--run", &second]);
    assert_eq!(apply.code, 1, "{apply:?}");
    assert!(apply.stderr.contains("stale"), "{apply:?}");

    // Terraform's own check: the state changed outside strata after the
    // run was approved.
    change_app(&repo, 3, "small");
    let third = run_id(
        &strata
            .on(&repo, &["plan", "--save", "--format", "json"])
            .json(),
    );
    assert_eq!(strata.run(&["approve", &third]).code, 0);
    strata.terraform("infra/app", &["apply", "-auto-approve", "-input=false"]);
    let apply = strata.run(&["apply", "--run", &third]);
    assert_eq!(apply.code, 1, "{apply:?}");
    assert!(
        apply.stdout.contains("stale") && apply.stdout.contains("re-plan with strata plan"),
        "{apply:?}"
    );
    assert_eq!(strata.run_record(&third)["status"], "stale");
}

#[test]
fn a_failing_stack_skips_its_dependents_and_the_others_finish() {
    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        &stacks_hcl(&[
            ("broken", "infra/broken", &[]),
            ("after-broken", "infra/after", &["broken"]),
            ("fine", "infra/fine", &[]),
        ]),
    )
    .write(
        "infra/broken/main.tf",
        r#"
resource "terraform_data" "fails" {
  provisioner "local-exec" {
    command = "echo provisioning failed on purpose >&2; exit 1"
  }
}
"#,
    )
    .write(
        "infra/after/main.tf",
        "resource \"terraform_data\" \"after\" {}\n",
    )
    .write(
        "infra/fine/main.tf",
        "resource \"terraform_data\" \"fine\" {}\n",
    );
    repo.commit("three stacks");
    let strata = Strata::new();
    let run = strata.on(&repo, &["apply", "--format", "json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let report = run.json();
    assert_eq!(report["result"], "error");
    let stack = |name: &str| {
        report["stacks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(stack("fine")["status"], "applied");
    assert_eq!(stack("broken")["status"], "error");
    let error = stack("broken")["error"].as_str().unwrap().to_owned();
    assert!(error.contains("provisioning failed on purpose"), "{error}");
    assert_eq!(stack("after-broken")["status"], "skipped");
    assert!(
        stack("after-broken")["error"]
            .as_str()
            .unwrap()
            .contains("broken failed"),
        "{report:#}"
    );
    let id = run_id(&report);
    assert_eq!(strata.run_record(&id)["status"], "failed");
}

/// A stack whose apply takes `seconds`.
pub(crate) fn slow_repo(seconds: u32) -> Repo {
    let repo = Repo::new();
    repo.write("strata.hcl", &stacks_hcl(&[("slow", "infra/slow", &[])]))
        .write(
            "infra/slow/main.tf",
            &format!(
                r#"
resource "terraform_data" "slow" {{
  provisioner "local-exec" {{
    command = "sleep {seconds}"
  }}
}}
"#
            ),
        );
    repo.commit("slow");
    repo
}

#[test]
fn ctrl_c_during_apply_releases_the_lock_and_marks_the_run_interrupted() {
    let repo = slow_repo(60);
    let strata = Strata::new();
    let mut child = strata.spawn(&repo, &["apply", "--format", "json"]);
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    read_until(&mut stderr, "slow: apply");
    // Interrupt in the middle of the apply: while its provisioner runs.
    crate::support::wait_for_descendant(child.id(), "sleep 60");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(1), "{rest}");
    assert!(rest.contains("interrupted"), "{rest}");

    let runs = strata.run(&["runs", "--format", "json"]).json();
    assert_eq!(runs["runs"][0]["status"], "interrupted", "{runs:#}");
    // Neither strata's lock nor Terraform's state lock is left behind: the
    // next plan works and shows what remains.
    let plan = strata.on(&repo, &["plan", "--format", "json"]);
    assert_eq!(plan.code, 2, "{plan:?}");
    let action = plan.json()["stacks"][0]["changes"][0]["action"].clone();
    assert!(action == "create" || action == "replace", "{plan:?}");
}

#[test]
fn a_second_apply_on_the_same_state_fails_clearly_or_waits() {
    let repo = slow_repo(6);
    let strata = Strata::new();
    let mut first = strata.spawn(&repo, &["apply"]);
    let mut stderr = std::io::BufReader::new(first.stderr.take().unwrap());
    read_until(&mut stderr, "slow: apply");

    let busy = strata.on(&repo, &["apply"]);
    assert_eq!(busy.code, 1, "{busy:?}");
    assert!(
        busy.stderr
            .contains("another strata run is using the state directory")
            && busy.stderr.contains("running `strata apply`")
            && busy.stderr.contains("--lock-timeout"),
        "{busy:?}"
    );

    let waited = strata.on(&repo, &["apply", "--lock-timeout", "2m"]);
    assert_eq!(waited.code, 0, "{waited:?}");
    assert!(waited.stderr.contains("waiting up to 2m"), "{waited:?}");
    assert!(waited.stdout.contains("No changes."), "{waited:?}");
    assert_eq!(first.wait().unwrap().code(), Some(0));

    let runs = strata.run(&["runs", "--format", "json"]).json();
    let statuses: Vec<&str> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["applied", "applied"], "{runs:#}");
}

#[test]
fn unknown_runs_are_refused_with_the_recent_ones() {
    let repo = app_repo("");
    let strata = Strata::new();
    let run = strata.run(&["approve", "20990101-000000-abcd"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("no run \"20990101-000000-abcd\""),
        "{run:?}"
    );
    assert!(run.stderr.contains("strata plan --save"), "{run:?}");
    let planned = strata.on(&repo, &["plan", "--save", "--format", "json"]);
    let id = run_id(&planned.json());
    let run = strata.run(&["apply", "--run", "nonsense"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains(&id), "{run:?}");
    let run = strata.run(&["apply", "--run", &id, "--ref", "main"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("--ref cannot be combined with --run"),
        "{run:?}"
    );
}

/// `app` reads `net`'s output through its local state, and is replaced when
/// it changes.
pub(crate) fn chained_repo() -> Repo {
    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        &stacks_hcl(&[("net", "infra/net", &[]), ("app", "infra/app", &["net"])]),
    )
    .write("infra/net/main.tf", &net_stack(1))
    .write(
        "infra/app/main.tf",
        r#"
data "terraform_remote_state" "net" {
  count   = fileexists("${path.module}/../net/terraform.tfstate") ? 1 : 0
  backend = "local"
  config  = { path = "${path.module}/../net/terraform.tfstate" }
}

resource "terraform_data" "app" {
  input            = "app"
  triggers_replace = [try(data.terraform_remote_state.net[0].outputs.generation, "none")]
}
"#,
    );
    repo.commit("net and app");
    repo
}

pub(crate) fn net_stack(generation: u32) -> String {
    format!(
        "resource \"terraform_data\" \"net\" {{\n  input = \"{generation}\"\n}}\n\noutput \"generation\" {{\n  value = terraform_data.net.output\n}}\n"
    )
}

#[test]
fn dependents_are_planned_again_after_their_dependency_is_applied() {
    let repo = chained_repo();
    let strata = Strata::new();
    // First apply: app's saved plan was made before net existed; it is
    // planned again after net is applied, and everything converges at once.
    let first = strata.on(&repo, &["apply", "--format", "json"]);
    assert_eq!(first.code, 0, "{first:?}");
    let report = first.json();
    assert_eq!(report["stacks"][1]["name"], "app");
    assert_eq!(report["stacks"][1]["status"], "applied");
    assert_eq!(report["stacks"][1]["replanned_after"], "net");
    let again = strata.on(&repo, &["plan"]);
    assert_eq!(again.code, 0, "converged in one apply: {again:?}");

    // net changes: app must now be replaced, which nobody approved. net is
    // applied; app is not, and says why.
    repo.write("infra/net/main.tf", &net_stack(2));
    repo.commit("net generation 2");
    let run = strata.on(&repo, &["apply", "--format", "json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let report = run.json();
    assert_eq!(report["stacks"][0]["status"], "applied", "{report:#}");
    assert_eq!(report["stacks"][1]["status"], "error", "{report:#}");
    let error = report["stacks"][1]["error"].as_str().unwrap();
    assert!(
        error.contains("now needs approval for: replace terraform_data.app"),
        "{error}"
    );
    assert!(!run.stderr.contains("strata approve"), "{run:?}");

    // The next apply shows app's replace and waits for approval.
    let next = strata.on(&repo, &["apply", "--format", "json"]);
    assert_eq!(next.code, 3, "{next:?}");
    assert_eq!(next.json()["approvals"][0]["address"], "terraform_data.app");
}

#[test]
fn a_later_apply_of_a_dependency_makes_a_saved_run_stale() {
    let repo = chained_repo();
    let strata = Strata::new();
    assert_eq!(strata.on(&repo, &["apply"]).code, 0);
    // A saved run that changes only app (its input).
    repo.write(
        "infra/app/main.tf",
        &std::fs::read_to_string(repo.path().join("infra/app/main.tf"))
            .unwrap()
            .replace("input            = \"app\"", "input            = \"app-2\""),
    );
    repo.commit("app input");
    let saved = strata.on(&repo, &["plan", "--save", "--format", "json"]);
    let id = run_id(&saved.json());
    assert_eq!(strata.run_record(&id)["status"], "planned");
    // Then net alone is changed and applied: app's saved plan read old
    // outputs.
    repo.write("infra/net/main.tf", &net_stack(2));
    repo.commit("net generation 2");
    assert_eq!(strata.on(&repo, &["apply", "--stack", "net"]).code, 0);
    let apply = strata.run(&["apply", "--run", &id]);
    assert_eq!(apply.code, 1, "{apply:?}");
    assert!(
        apply.stderr.contains("stale") && apply.stderr.contains("applied stack net"),
        "{apply:?}"
    );
}
