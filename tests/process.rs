use std::io::BufReader;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{Repo, Strata, read_until, stacks_hcl, wait_for_descendant};

/// A stack whose plan takes a while: many resources.
fn slow_stack(count: usize) -> String {
    format!(
        "resource \"terraform_data\" \"item\" {{\n  count = {count}\n  input = \"item-${{count.index}}\"\n}}\n"
    )
}

/// Starts `strata plan` on a big stack and waits until Terraform is busy
/// planning it.
fn start_big_plan(
    strata: &Strata,
    repo: &Repo,
) -> (std::process::Child, BufReader<std::process::ChildStderr>) {
    let mut child = strata
        .command(&["plan", "--repo", repo.path().to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Without a terminal, progress comes as plain lines: wait for the plan
    // step to start, then for Terraform's `plan` process to be running.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    read_until(&mut stderr, "big: plan");
    wait_for_descendant(child.id(), "plan");
    (child, stderr)
}

fn interrupt(child: &std::process::Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
}

/// Waits for the child; returns its exit code and the rest of stderr.
fn finish(
    mut child: std::process::Child,
    mut stderr: BufReader<std::process::ChildStderr>,
) -> (Option<i32>, String) {
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    (child.wait().unwrap().code(), rest)
}

fn big_repo() -> Repo {
    let repo = Repo::new();
    repo.write("strata.hcl", &stacks_hcl(&[("big", "infra/big", &[])]))
        .write("infra/big/main.tf", &slow_stack(4000));
    repo.commit("a big stack");
    repo
}

/// The next plan is not blocked by a lock: neither strata's nor
/// Terraform's state lock.
#[track_caller]
fn next_plan_runs(strata: &Strata, repo: &Repo) {
    repo.write("infra/big/main.tf", &slow_stack(3));
    repo.commit("a small stack");
    let run = strata.on(repo, &["plan", "--format", "json"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.json()["stacks"][0]["summary"]["create"], 3);
}

#[test]
fn ctrl_c_stops_a_slow_plan_and_leaves_no_lock_behind() {
    let repo = big_repo();
    let strata = Strata::new();
    let (child, stderr) = start_big_plan(&strata, &repo);
    let sent = Instant::now();
    interrupt(&child);
    let (code, rest) = finish(child, stderr);
    eprintln!("strata stopped {:?} after SIGINT", sent.elapsed());
    assert_eq!(code, Some(1), "{rest}");
    assert!(
        rest.contains("interrupt received: stopping gracefully"),
        "{rest}"
    );
    assert!(rest.contains("big: failed"), "{rest}");
    assert!(rest.contains("error: interrupted"), "{rest}");
    next_plan_runs(&strata, &repo);
}

#[test]
fn a_second_ctrl_c_stops_at_once() {
    let repo = big_repo();
    let strata = Strata::new();
    let (child, stderr) = start_big_plan(&strata, &repo);
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(200));
    interrupt(&child);
    let (code, rest) = finish(child, stderr);
    assert_eq!(code, Some(1), "{rest}");
    // Terraform sometimes stops within the 200 ms between the signals, and
    // signals that arrive together may be delivered as one; either way the
    // run ends as interrupted.
    assert!(rest.contains("error: interrupted"), "{rest}");
    next_plan_runs(&strata, &repo);
}

/// Progress lines in the order they were printed.
fn progress_lines(stderr: &str) -> Vec<String> {
    stderr.lines().map(|l| l.trim().to_owned()).collect()
}

fn position(lines: &[String], wanted: impl Fn(&str) -> bool, what: &str) -> usize {
    lines
        .iter()
        .position(|l| wanted(l))
        .unwrap_or_else(|| panic!("no line for {what} in {lines:#?}"))
}

#[test]
fn dependencies_are_planned_first_and_independent_stacks_overlap() {
    let repo = Repo::new();
    // Four at once, whatever the machine has (the default is its CPU
    // count): base, left and right are all ready at the start.
    let hcl = format!(
        "terraform {{\n  parallelism = 4\n}}\n{}",
        stacks_hcl(&[
            ("base", "infra/base", &[]),
            ("after-base", "infra/after", &["base"]),
            ("left", "infra/left", &[]),
            ("right", "infra/right", &[]),
        ])
    );
    repo.write("strata.hcl", &hcl)
        .write("infra/base/main.tf", &slow_stack(5))
        .write("infra/after/main.tf", &slow_stack(5))
        // Big enough that each plan lasts a few seconds, so that two
        // independent plans are necessarily in flight together.
        .write("infra/left/main.tf", &slow_stack(400))
        .write("infra/right/main.tf", &slow_stack(400));
    repo.commit("four stacks");
    let run = Strata::new().on(&repo, &["plan"]);
    assert_eq!(run.code, 2, "{run:?}");
    let lines = progress_lines(&run.stderr);
    let finished = |name: &'static str| move |l: &str| l.starts_with(&format!("{name}: Plan:"));

    let base_done = position(&lines, finished("base"), "base finished");
    let after_start = position(&lines, |l| l == "after-base: init", "after-base started");
    assert!(
        base_done < after_start,
        "after-base started before base finished: {lines:#?}"
    );

    let left_plan = position(&lines, |l| l == "left: plan", "left planning");
    let right_plan = position(&lines, |l| l == "right: plan", "right planning");
    let first_done = position(&lines, finished("left"), "left finished").min(position(
        &lines,
        finished("right"),
        "right finished",
    ));
    assert!(
        left_plan < first_done && right_plan < first_done,
        "left and right did not overlap: {lines:#?}"
    );
}
