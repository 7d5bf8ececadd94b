//! The approval prompt, driven through a real pseudo-terminal (tmux) as a
//! person would: only `yes` approves; anything else, end of input and
//! Ctrl-C refuse and change nothing.

use crate::apply::{app_repo, applied, change_app, planned_action};
use crate::support::Terminal;

/// Run ids, commit ids and Terraform's random ids differ on every run.
fn normalize(screen: &str) -> String {
    screen
        .lines()
        .map(|line| {
            line.split(' ')
                .map(|word| {
                    let bare = word.trim_matches(|c: char| "\"().,".contains(c));
                    let is_hex = |s: &str| s.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
                    if bare.len() == 20 && strata_run_id(bare) {
                        word.replace(bare, "<run>")
                    } else if bare.len() == 12 && is_hex(bare) {
                        word.replace(bare, "<commit>")
                    } else if bare.len() == 36 && is_hex(bare) {
                        word.replace(bare, "<uuid>")
                    } else {
                        word.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn strata_run_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20 && b[8] == b'-' && b[15] == b'-'
}

/// The prompt as a person sees it, from the source line to the question.
const PROMPT: &str = r#"Source: <repo> at main (<commit>)

Stack app (infra/app)
  -/+ terraform_data.disk  replace; replace_because_cannot_update (because of triggers_replace)  DESTRUCTIVE
          ~ id: "<uuid>" → (known after apply)
          ~ output: "data" → (known after apply)
          ~ triggers_replace[0]: "1" → "2"  # forces replacement
    ~ terraform_data.server
          ~ input: "small" → "large"
          ~ output: "small" → (known after apply)

  Outputs:
    ~ generation = "1" → "2"

  Plan: 0 to add, 1 to change, 1 to replace, 0 to destroy. 1 destructive.

Needs approval (1):
  app  replace  terraform_data.disk  replace_because_cannot_update (because of triggers_replace)

Total: 1 stack, 1 with changes. 0 to add, 1 to change, 1 to replace, 0 to destroy.
1 destructive change(s): delete, replace or forget.

Do you want to apply these changes?
  strata will apply exactly the plans shown above (run <run>).
  Only 'yes' will be accepted to approve.

  Enter a value:"#;

#[test]
fn the_prompt_lists_each_destructive_item_and_yes_applies() {
    let repo = app_repo("");
    let strata = applied(&repo);
    change_app(&repo, 2, "large");
    let terminal = Terminal::start(&strata, &repo, &["apply"]);
    let screen = terminal.wait_for("Enter a value:");
    let start = screen.find("Source:").expect("the report is on screen");
    let shown = normalize(&screen[start..]).replace(&repo.path().display().to_string(), "<repo>");
    assert_eq!(shown, PROMPT, "\n--- screen\n{screen}");

    terminal.keys(&["yes", "Enter"]);
    let (code, screen) = terminal.exit_code();
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains("Applied: 0 added, 1 changed, 1 replaced, 0 destroyed."),
        "{screen}"
    );
    assert_eq!(
        planned_action(&strata, &repo, "terraform_data.disk"),
        "none"
    );
    let audit = strata.audit();
    assert_eq!(audit.len(), 1, "{audit:#?}");
    assert_eq!(audit[0]["decision"], "approved");
    assert_eq!(audit[0]["by"], "prompt");
}

#[test]
fn no_y_end_of_input_and_ctrl_c_each_refuse_and_change_nothing() {
    let repo = app_repo("");
    let strata = applied(&repo);
    change_app(&repo, 2, "small");
    let answers: [(&[&str], &str); 4] = [
        (&["no", "Enter"], "refused at the prompt: \"no\""),
        (&["y", "Enter"], "refused at the prompt: \"y\""),
        (&["C-d"], "refused at the prompt: end of input"),
        (&["C-c"], "refused at the prompt: Ctrl-C"),
    ];
    for (keys, said) in answers {
        let terminal = Terminal::start(&strata, &repo, &["apply"]);
        terminal.wait_for("Enter a value:");
        terminal.keys(keys);
        let (code, screen) = terminal.exit_code();
        assert_eq!(code, 3, "{keys:?}:\n{screen}");
        assert!(screen.contains(said), "{keys:?}:\n{screen}");
        assert!(
            screen.contains("nothing was applied"),
            "{keys:?}:\n{screen}"
        );
        assert_eq!(
            planned_action(&strata, &repo, "terraform_data.disk"),
            "replace",
            "{keys:?}"
        );
    }
    let audit = strata.audit();
    assert_eq!(audit.len(), 4, "{audit:#?}");
    assert!(
        audit.iter().all(|d| d["decision"] == "refused"),
        "{audit:#?}"
    );
}

#[test]
fn the_deny_policy_refuses_without_asking() {
    let repo = app_repo("approval {\n  destructive = \"deny\"\n}\n");
    let strata = applied(&repo);
    change_app(&repo, 2, "small");
    let terminal = Terminal::start(&strata, &repo, &["apply"]);
    let (code, screen) = terminal.exit_code();
    assert_eq!(code, 3, "{screen}");
    assert!(!screen.contains("Enter a value:"), "{screen}");
    assert!(
        screen.contains("Denied: approval.destructive = \"deny\" in strata.hcl refuses destructive changes; nothing was applied."),
        "{screen}"
    );
}

#[test]
fn ask_always_asks_for_a_plain_create() {
    let repo = app_repo("");
    let strata = applied(&repo);
    change_app(&repo, 1, "large");
    let terminal = Terminal::start(&strata, &repo, &["apply", "--ask-always"]);
    let screen = terminal.wait_for("Enter a value:");
    assert!(
        screen.contains("app  update  terraform_data.server  approval.ask_always is set"),
        "{screen}"
    );
    terminal.keys(&["yes", "Enter"]);
    let (code, screen) = terminal.exit_code();
    assert_eq!(code, 0, "{screen}");
}
