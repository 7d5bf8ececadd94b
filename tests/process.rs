use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{Repo, Strata, stacks_hcl};

/// A stack whose plan takes a while: many resources.
fn slow_stack(count: usize) -> String {
    format!(
        "resource \"terraform_data\" \"item\" {{\n  count = {count}\n  input = \"item-${{count.index}}\"\n}}\n"
    )
}

#[test]
fn ctrl_c_stops_a_slow_plan_and_leaves_no_lock_behind() {
    let repo = Repo::new();
    repo.write("strata.hcl", &stacks_hcl(&[("big", "infra/big", &[])]))
        .write("infra/big/main.tf", &slow_stack(4000));
    repo.commit("a big stack");
    let strata = Strata::new();
    let mut child = strata
        .command(&["plan", "--repo", repo.path().to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Without a terminal, progress comes as plain lines: wait for the plan
    // step to start, then give Terraform a moment to be busy.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        seen.push_str(&line);
        if line.trim() == "big: plan" {
            break;
        }
        line.clear();
    }
    assert!(seen.contains("big: plan"), "{seen}");
    std::thread::sleep(Duration::from_secs(2));
    let sent = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    let stopped_after = sent.elapsed();
    assert_eq!(status.code(), Some(1), "{seen}{rest}");
    assert!(rest.contains("interrupted"), "{seen}{rest}");
    eprintln!("strata stopped {stopped_after:?} after SIGINT");

    // The next plan is not blocked by a lock: neither strata's nor
    // Terraform's state lock.
    repo.write("infra/big/main.tf", &slow_stack(3));
    repo.commit("a small stack");
    let run = strata.on(&repo, &["plan", "--format", "json"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.json()["stacks"][0]["summary"]["create"], 3);
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
    repo.write(
        "strata.hcl",
        &stacks_hcl(&[
            ("base", "infra/base", &[]),
            ("after-base", "infra/after", &["base"]),
            ("left", "infra/left", &[]),
            ("right", "infra/right", &[]),
        ]),
    )
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
