use crate::support::{Repo, Strata, stacks_hcl};

/// A stack of `items` new resources, 50 disks whose `generation` forces a
/// replace, and 50 - `retired` old resources (the rest are deleted).
fn big_stack(items: usize, generation: u32, retired: usize) -> String {
    format!(
        r#"resource "terraform_data" "item" {{
  count = {items}
  input = "item-${{count.index}}"
}}

resource "terraform_data" "disk" {{
  count            = 50
  input            = "disk-${{count.index}}"
  triggers_replace = ["{generation}"]
}}

resource "terraform_data" "old" {{
  count = {}
  input = "old-${{count.index}}"
}}
"#,
        50 - retired
    )
}

/// A repository whose stack `big` was applied with 50 disks and 50 old
/// resources, and whose new commit plans `items` creates, 50 replaces and
/// 50 deletes.
fn applied_then_changed(strata: &Strata, items: usize) -> Repo {
    let repo = Repo::new();
    repo.write("strata.hcl", &stacks_hcl(&[("big", "infra/big", &[])]))
        .write("infra/big/main.tf", &big_stack(0, 1, 0));
    repo.commit("disks and old resources");
    let applied = strata.on(&repo, &["apply", "--auto-approve", "-q"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    repo.write("infra/big/main.tf", &big_stack(items, 2, 50));
    repo.commit("many items, new disks, no old resources");
    repo
}

/// The 100 destructive addresses of [`applied_then_changed`].
fn destructive() -> Vec<String> {
    (0..50)
        .flat_map(|i| {
            [
                format!("terraform_data.disk[{i}]"),
                format!("terraform_data.old[{i}]"),
            ]
        })
        .collect()
}

/// The rows of the list of what needs approval.
fn needs_approval(md: &str) -> Vec<&str> {
    let section = md
        .split("### Needs approval (100)\n\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no list of what needs approval: {md}"));
    section
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .lines()
        .skip(2)
        .collect()
}

/// Balanced `<details>` and code fences, every table row whole.
#[track_caller]
fn assert_clean(md: &str) {
    assert_eq!(
        md.matches("<details>").count(),
        md.matches("</details>").count(),
        "{md}"
    );
    assert_eq!(md.matches("```").count() % 2, 0, "{md}");
    for line in md.lines().filter(|l| l.starts_with('|')) {
        assert!(line.ends_with(" |") || line.ends_with("---|"), "{line}");
    }
}

/// The rows of the resource tables: each begins with Terraform's glyph.
fn detail_rows(md: &str) -> usize {
    md.lines()
        .filter(|l| l.starts_with("| `+` ") || l.starts_with("| `-` ") || l.starts_with("| `-/+` "))
        .count()
}

/// The real Terraform plans 5,000 changes (100 of them destructive); the
/// Markdown report fits one GitHub comment, keeps the summary and every
/// destructive item, and says exactly how much was left out and where the
/// rest is.
#[test]
fn a_plan_of_5000_resources_fits_one_comment_with_every_destructive_item() {
    let strata = Strata::new();
    let repo = applied_then_changed(&strata, 4_900);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plan.md");
    let out = file.to_str().unwrap();
    let run = strata.on(&repo, &["plan", "--format", "markdown", "--out", out]);
    assert_eq!(run.code, 2, "{run:?}");
    let md = std::fs::read_to_string(&file).unwrap();
    assert!(md.len() <= 65_536, "{} bytes", md.len());
    assert!(md.chars().count() <= 65_536);
    assert_clean(&md);

    // The summary first.
    assert!(
        md.starts_with("## strata plan: changes\n\nSource: "),
        "{md}"
    );
    assert!(
        md.contains("| `big` | changes | Plan: 4900 to add, 0 to change, 50 to replace, 50 to destroy. 100 destructive. |"),
        "{md}"
    );
    // Every destructive item, with why.
    let listed = needs_approval(&md);
    assert_eq!(listed.len(), 100, "{md}");
    for address in destructive() {
        assert!(
            listed
                .iter()
                .any(|row| row.contains(&format!("| `{address}` | ⚠️ **yes** |"))),
            "{address} is not listed: {md}"
        );
    }
    assert!(listed.iter().any(|row| row.contains(
        "| replace | `terraform_data.disk[7]` | ⚠️ **yes** | replace_because_cannot_update"
    )));

    // Details as far as they fit, in a collapsed block.
    assert!(md.contains("<details><summary>5,000 resource change(s), 100 destructive</summary>"));
    let shown = detail_rows(&md);
    assert!((100..5_000).contains(&shown), "{shown} rows");
    let cut = 5_000 - shown;

    // The cut line, with numbers checked against the whole report.
    let whole = strata.on(&repo, &["plan", "--format", "markdown", "--max-bytes", "0"]);
    assert_eq!(whole.code, 2, "{whole:?}");
    assert_eq!(detail_rows(&whole.stdout), 5_000);
    assert!(!whole.stdout.contains("[!NOTE]"));
    let (kept, note) = md.split_once("> [!NOTE]\n").expect("a note about the cut");
    let id = note
        .split("The full report of run `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .expect("the run id");
    assert!(
        strata
            .state
            .path()
            .join("runs")
            .join(id)
            .join("report.json")
            .is_file(),
        "the note names a run with a report: {note}"
    );
    let bytes = whole.stdout.len() as i64 - kept.len() as i64;
    let said = |bytes: i64| {
        format!(
            "> Cut to fit `--max-bytes` 65,536: {} resource change(s) left out ({} bytes).",
            thousands(cut as i64),
            thousands(bytes)
        )
    };
    // The whole report of the same commit (another run, but run ids have
    // one length): what the comment lacks of it is what the note says.
    assert!(
        note.starts_with(&said(bytes)),
        "{note}\nexpected: {}",
        said(bytes)
    );
    assert!(kept.contains(&format!(
        "</details>\n\n_Left out to fit: {} resource change(s) (see the note at the end)._\n\n",
        thousands(cut as i64)
    )));
    assert!(note.contains("`--max-bytes 0 --out FILE`"), "{note}");
    eprintln!(
        "5,000 resources: {} bytes whole, {} bytes in the comment, {shown} detail rows kept",
        whole.stdout.len(),
        md.len()
    );
}

fn thousands(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// `--max-bytes` as docs/commands.md says: a small limit cuts even the
/// list of destructive items and says how many were left out; 0 is no
/// limit; a limit too small for the note is refused; text is never cut.
#[test]
fn max_bytes_cuts_to_any_limit_and_0_is_no_limit() {
    let strata = Strata::new();
    let repo = applied_then_changed(&strata, 200);
    let plan = |extra: &[&str]| {
        let mut args = vec!["plan", "--format", "markdown"];
        args.extend(extra);
        let run = strata.on(&repo, &args);
        assert_eq!(run.code, 2, "{run:?}");
        run.stdout
    };

    let small = plan(&["--max-bytes", "4096"]);
    assert!(small.len() <= 4096, "{} bytes", small.len());
    assert_clean(&small);
    assert!(small.contains("| `big` | changes | Plan: 200 to add, 0 to change, 50 to replace, 50 to destroy. 100 destructive. |"));
    let listed = needs_approval(&small);
    assert!(!listed.is_empty() && listed.len() < 100, "{small}");
    let missing = 100 - listed.len();
    assert!(
        small.contains(&format!(
            "_Left out to fit: {missing} item(s) needing approval ({missing} destructive) (see the note at the end)._"
        )),
        "{small}"
    );
    assert!(
        small.contains(&format!(
            ": {missing} item(s) needing approval ({missing} destructive) and 300 resource change(s) left out ("
        )),
        "{small}"
    );
    assert!(!small.contains("<details>"), "{small}");

    let whole = plan(&["--max-bytes", "0"]);
    assert_eq!(needs_approval(&whole).len(), 100);
    assert_eq!(detail_rows(&whole), 300);
    assert!(!whole.contains("Left out"), "{whole}");
    assert_eq!(plan(&["--max-bytes", "10000000"]), whole);

    let refused = strata.on(
        &repo,
        &["plan", "--format", "markdown", "--max-bytes", "100"],
    );
    assert_ne!(refused.code, 0, "{refused:?}");
    assert_ne!(refused.code, 2, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("\"100\" is not 0 (no limit) or a number of bytes of at least 1024"),
        "{refused:?}"
    );

    let text = strata.on(&repo, &["plan", "--max-bytes", "1024"]);
    assert_eq!(text.code, 2, "{text:?}");
    assert!(text.stdout.len() > 4096, "text is never cut: {text:?}");
}
