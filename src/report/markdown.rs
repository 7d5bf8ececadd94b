//! Markdown ready to paste into an issue or a pull request: the summary
//! tables, then every item that needs approval, then each stack's and
//! workload's changes in a collapsed `<details>` block.
//!
//! [`render_within`] fits the report to a size limit (a GitHub comment
//! holds 65,536 characters): the summary and the items that need approval
//! are kept first, details as far as they fit, and a note at the end says
//! what was left out and where the full report is (see [`doc`]).

pub mod doc;

use std::fmt::Write as _;

pub use doc::{Doc, MIN_BYTES, Row};

use super::text::{summary_line, workload_applied_line, workload_summary_line};
use super::{Change, Outcome, Report, StackReport, StackStatus, WorkloadReport};

/// The order in which a cut keeps blocks: the title, the summary, what
/// needs approval, the graph, then per-resource details.
const TITLE: u8 = 0;
const SUMMARY: u8 = 1;
const APPROVAL: u8 = 2;
const GRAPH: u8 = 3;
const DETAILS: u8 = 4;

/// Closes a `<details>` block of a table.
const CLOSE_DETAILS: &str = "\n</details>\n\n";

/// Escapes text for a table cell or a list item: table pipes, line breaks,
/// and HTML, so that a value can never open or close a `<details>` block.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace('\n', "<br>")
}

/// A code span (HTML is not interpreted in one); table pipes escaped.
fn code(s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!(
            "`{}`",
            s.replace('\\', "\\\\")
                .replace('|', "\\|")
                .replace('\n', "<br>")
                .replace('`', "'")
        )
    }
}

/// A fenced code block of `text`, its fence longer than any run of
/// backticks in it, one row of `noun` per line, under `heading` when it is
/// the section's first block.
fn fenced(doc: &mut Doc, heading: &mut Option<String>, text: &str, noun: &'static str) {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest.max(2) + 1);
    let rows: Vec<Row> = text
        .lines()
        .map(|l| Row::new(format!("{l}\n"), noun))
        .collect();
    if rows.is_empty() {
        return;
    }
    let open = format!("{}{fence}\n", heading.take().unwrap_or_default());
    doc.rows(DETAILS, open, rows, &format!("{fence}\n\n"));
}

/// The whole report.
pub fn render(report: &Report) -> String {
    document(report).render()
}

/// The report in at most `max_bytes` bytes (0: no limit); see [`Doc::fit`].
pub fn render_within(report: &Report, max_bytes: usize) -> String {
    document(report).fit(max_bytes, &full_report(report))
}

/// Where the whole of a cut report is.
fn full_report(report: &Report) -> String {
    let mut out = String::new();
    if let Some(id) = &report.run_id {
        let _ = write!(
            out,
            "The full report of run `{id}` is `runs/{id}/report.json` in strata's state directory (JSON). "
        );
    }
    if report.command == "apply" {
        out.push_str(
            "Next time, write one Markdown report without a limit with `--max-bytes 0 --out FILE`.",
        );
    } else {
        out.push_str(
            "For all of it in Markdown, run the same command with `--max-bytes 0 --out FILE`.",
        );
    }
    out
}

/// The report as blocks a cut can keep or drop.
pub fn document(report: &Report) -> Doc {
    let mut doc = Doc::new();
    doc.whole(
        TITLE,
        "title",
        format!("## strata {}: {}\n\n", report.command, outcome(report)),
    );
    if let Some(source) = &report.source {
        let commit = source.commit.as_deref().unwrap_or("(no commit)");
        let tree = if source.worktree {
            " plus uncommitted changes (`--worktree`)"
        } else {
            ""
        };
        doc.whole(
            SUMMARY,
            "source line",
            format!(
                "Source: {} at {} ({}){tree}\n\n",
                code(&source.repo),
                code(&source.reference),
                code(commit)
            ),
        );
    }
    if report.destructive > 0 {
        doc.whole(
            SUMMARY,
            "warning",
            format!(
                "> [!WARNING]\n> {} destructive change(s): {}.\n\n",
                report.destructive,
                report.destructive_kinds()
            ),
        );
    }
    summary_tables(&mut doc, report);
    policies(&mut doc, report);
    approvals(&mut doc, report);
    if let Some(graph) = &report.graph {
        doc.whole(
            GRAPH,
            "graph",
            format!(
                "```mermaid\n{graph}```\n\nGreen: in sync. Yellow: changes pending from Git. Orange: drift (changed outside Git). Red: failed or not checked.\n\n"
            ),
        );
    }
    for s in &report.stacks {
        stack_section(&mut doc, s);
    }
    for w in &report.workloads {
        workload_section(&mut doc, w);
    }
    let errors = report
        .errors
        .iter()
        .map(|e| Row::new(format!("- **Error:** {}\n", cell(e)), "error(s)"))
        .collect();
    doc.rows(SUMMARY, String::new(), errors, "\n");
    doc
}

fn summary_tables(doc: &mut Doc, report: &Report) {
    let stacks = report
        .stacks
        .iter()
        .map(|s| {
            let summary = match s.status {
                StackStatus::Changes | StackStatus::InSync => {
                    summary_line(&s.summary, s.destructive(), s.outputs.len())
                }
                _ => not_run(s.skipped.as_ref(), s.error.as_ref()),
            };
            let drifted = !s.drift.is_empty();
            (s.name.as_str(), s.status, drifted, summary)
        })
        .collect();
    summary_table(doc, "Stack", "stack summary row(s)", stacks);
    let workloads = report
        .workloads
        .iter()
        .map(|w| {
            let summary = match w.status {
                StackStatus::Changes | StackStatus::InSync => {
                    workload_summary_line(&w.summary(), w.destructive(), w.unchanged)
                }
                StackStatus::Applied => workload_applied_line(&w.summary()),
                _ => not_run(w.skipped.as_ref(), w.error.as_ref()),
            };
            let drifted = w.status == StackStatus::Changes && w.changes.iter().any(|c| c.drift);
            (w.name.as_str(), w.status, drifted, summary)
        })
        .collect();
    summary_table(doc, "Workload", "workload summary row(s)", workloads);
}

/// Why a stack or workload has no plan to summarise.
fn not_run(skipped: Option<&super::Unchanged>, error: Option<&String>) -> String {
    skipped
        .map(|u| u.reason.clone())
        .or_else(|| error.cloned())
        .unwrap_or_default()
}

/// One row per (name, status, drifted, summary line).
fn summary_table(
    doc: &mut Doc,
    what: &str,
    noun: &'static str,
    rows: Vec<(&str, StackStatus, bool, String)>,
) {
    let rows = rows
        .into_iter()
        .map(|(name, s, drifted, summary)| {
            let status = if drifted { "**drift**" } else { status(s) };
            Row::new(
                format!(
                    "| {} | {status} | {} |\n",
                    code(name),
                    cell(summary.lines().next().unwrap_or_default())
                ),
                noun,
            )
        })
        .collect();
    doc.rows(
        SUMMARY,
        format!("| {what} | Status | Summary |\n|---|---|---|\n"),
        rows,
        "\n",
    );
}

/// One line of the list of what needs approval.
struct Needed<'a> {
    stack: bool,
    owner: &'a str,
    action: &'a str,
    address: String,
    destructive: bool,
    why: String,
}

/// What the policies said, denials first: kept with what needs approval.
fn policies(doc: &mut Doc, report: &Report) {
    let rows = report
        .policy
        .iter()
        .map(|f| {
            let rule = match f.rule {
                crate::policy::Rule::Deny => "⛔ **deny**",
                crate::policy::Rule::Approve => "approve",
                crate::policy::Rule::Warn => "warn",
            };
            Row::new(
                format!(
                    "| {rule} | {} | {} | {} |\n",
                    code(&f.policy),
                    code(&f.item()),
                    cell(&f.message)
                ),
                "policy message(s)",
            )
        })
        .collect();
    doc.rows(
        APPROVAL,
        format!(
            "### Policies ({})\n\n| Rule | Policy | Item | Message |\n|---|---|---|---|\n",
            report.policy.len()
        ),
        rows,
        "\n",
    );
}

/// Every item that needs (or needed) approval, as the gate lists them, and
/// every destructive change, destructive ones first.
fn approvals(doc: &mut Doc, report: &Report) {
    let mut needed: Vec<Needed> = report
        .approvals
        .iter()
        .map(|i| Needed {
            stack: i.workload.is_empty(),
            owner: i.owner(),
            action: &i.action,
            address: i.address.clone(),
            destructive: i.destructive,
            why: i.why(),
        })
        .collect();
    let listed = |needed: &[Needed], stack: bool, owner: &str, address: &str| {
        needed
            .iter()
            .any(|n| n.stack == stack && n.owner == owner && n.address == address)
    };
    for s in &report.stacks {
        for c in s.changes.iter().filter(|c| c.destructive) {
            if !listed(&needed, true, &s.name, &c.address) {
                needed.push(Needed {
                    stack: true,
                    owner: &s.name,
                    action: c.action,
                    address: c.address.clone(),
                    destructive: true,
                    why: c.reason.clone().unwrap_or_default(),
                });
            }
        }
    }
    for w in &report.workloads {
        for c in w.changes.iter().filter(|c| c.destructive) {
            let address = c.address();
            if !listed(&needed, false, &w.name, &address) {
                needed.push(Needed {
                    stack: false,
                    owner: &w.name,
                    action: c.action,
                    address,
                    destructive: true,
                    why: c.reason.clone().unwrap_or_default(),
                });
            }
        }
    }
    // Stable: in plan order within destructive and the rest.
    needed.sort_by_key(|n| !n.destructive);
    let rows = needed
        .iter()
        .map(|n| {
            Row::new(
                format!(
                    "| {} {} | {} | {} | {} | {} |\n",
                    if n.stack { "stack" } else { "workload" },
                    code(n.owner),
                    n.action,
                    code(&n.address),
                    if n.destructive { "⚠️ **yes**" } else { "" },
                    cell(&n.why)
                ),
                "item(s) needing approval",
            )
            .destructive(n.destructive)
        })
        .collect();
    let title = match report.result {
        Outcome::Changes | Outcome::ApprovalRequired | Outcome::Denied
            if !report.approvals.is_empty() =>
        {
            "Needs approval"
        }
        Outcome::Applied if !report.approvals.is_empty() => "Approved",
        _ => "Destructive changes",
    };
    doc.rows(
        APPROVAL,
        format!(
            "### {title} ({})\n\n| In | Action | Address | Destructive | Why |\n|---|---|---|---|---|\n",
            needed.len()
        ),
        rows,
        "\n",
    );
}

/// A table in a collapsed `<details>` block, under `heading` when it is the
/// section's first.
fn details(
    doc: &mut Doc,
    heading: &mut Option<String>,
    summary: String,
    header: &str,
    rows: Vec<Row>,
) {
    if rows.is_empty() {
        return;
    }
    let open = format!(
        "{}<details><summary>{summary}</summary>\n\n{header}",
        heading.take().unwrap_or_default()
    );
    doc.rows(DETAILS, open, rows, CLOSE_DETAILS);
}

/// A list (checks, objects not pruned), under `heading` when it is the
/// section's first block.
fn list(doc: &mut Doc, heading: &mut Option<String>, rows: Vec<Row>) {
    if rows.is_empty() {
        return;
    }
    doc.rows(DETAILS, heading.take().unwrap_or_default(), rows, "\n");
}

fn outcome(report: &Report) -> &'static str {
    match report.result {
        Outcome::InSync => "in sync",
        Outcome::Changes => "changes",
        Outcome::Drift => "drift",
        Outcome::Applied => "applied",
        Outcome::ApprovalRequired => "approval required",
        Outcome::Denied => "denied",
        Outcome::Error => "error",
    }
}

fn status(s: StackStatus) -> &'static str {
    match s {
        StackStatus::InSync => "in sync",
        StackStatus::Changes => "changes",
        StackStatus::Applied => "applied",
        StackStatus::Error => "**error**",
        StackStatus::Skipped | StackStatus::Unchanged => "skipped",
    }
}

const CHANGE_HEADER: &str = "| Action | Address | Destructive | Details |\n|---|---|---|---|\n";

fn stack_section(doc: &mut Doc, s: &StackReport) {
    if s.changes.is_empty() && s.drift.is_empty() && s.outputs.is_empty() && s.error.is_none() {
        return;
    }
    let mut heading = Some(format!(
        "### Stack {} ({})\n\n",
        code(&s.name),
        code(&s.path)
    ));
    if let Some(e) = &s.error {
        fenced(doc, &mut heading, e, "error line(s)");
    }
    let checks = s
        .checks
        .iter()
        .map(|c| {
            Row::new(
                format!(
                    "- check {} **{}**: {}\n",
                    code(&c.address),
                    c.status,
                    cell(&c.messages.join("; "))
                ),
                "failed check(s)",
            )
        })
        .collect();
    list(doc, &mut heading, checks);
    let n = s.changes.len();
    details(
        doc,
        &mut heading,
        format!(
            "{} resource change(s){}",
            doc::thousands(n),
            destructive_note(s.destructive())
        ),
        CHANGE_HEADER,
        change_rows(&s.changes, "resource change(s)"),
    );
    details(
        doc,
        &mut heading,
        format!(
            "{} resource(s) changed outside Terraform (drift)",
            doc::thousands(s.drift.len())
        ),
        CHANGE_HEADER,
        change_rows(&s.drift, "drifted resource(s)"),
    );
    let outputs = s
        .outputs
        .iter()
        .map(|o| {
            Row::new(
                format!(
                    "| {} | {} | {} | {} |\n",
                    code(&o.name),
                    o.action,
                    code(&o.before),
                    code(&o.after)
                ),
                "output change(s)",
            )
        })
        .collect();
    details(
        doc,
        &mut heading,
        format!("{} output change(s)", doc::thousands(s.outputs.len())),
        "| Output | Action | Before | After |\n|---|---|---|---|\n",
        outputs,
    );
}

fn destructive_note(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(", {} destructive", doc::thousands(n))
    }
}

fn workload_section(doc: &mut Doc, w: &WorkloadReport) {
    if w.changes.is_empty() && w.kept.is_empty() && w.not_ready.is_empty() && w.error.is_none() {
        return;
    }
    let mut heading = Some(match &w.context {
        Some(context) => format!(
            "### Workload {} ({}, context {})\n\n",
            code(&w.name),
            code(&w.path),
            code(context)
        ),
        None => format!("### Workload {} ({})\n\n", code(&w.name), code(&w.path)),
    });
    if let Some(e) = &w.error {
        fenced(doc, &mut heading, e, "error line(s)");
    }
    let changes = w
        .changes
        .iter()
        .map(|c| {
            let mut details = Vec::new();
            if c.drift {
                details.push("**drift**".to_owned());
            }
            if let Some(reason) = &c.reason {
                details.push(cell(reason));
            }
            if let Some(error) = &c.error {
                details.push(format!("**error:** {}", cell(error)));
            }
            for f in &c.fields {
                details.push(format!(
                    "{}: {} → {}{}",
                    code(&f.path),
                    code(&f.before),
                    code(&f.after),
                    f.manager
                        .as_deref()
                        .map(|m| format!(" (set by {})", code(m)))
                        .unwrap_or_default()
                ));
            }
            Row::new(
                format!(
                    "| {} {} | {} | {} | {} |\n",
                    code(c.glyph),
                    c.action,
                    code(&c.address()),
                    if c.destructive { "⚠️ **yes**" } else { "" },
                    details.join("<br>")
                ),
                "object change(s)",
            )
        })
        .collect();
    details(
        doc,
        &mut heading,
        format!(
            "{} object change(s){}",
            doc::thousands(w.changes.len()),
            destructive_note(w.destructive())
        ),
        "| Action | Object | Destructive | Details |\n|---|---|---|---|\n",
        changes,
    );
    let mut lines: Vec<Row> = w
        .kept
        .iter()
        .map(|k| {
            Row::new(
                format!("- not pruned: {} ({})\n", code(&k.object), cell(&k.why)),
                "object(s) not pruned",
            )
        })
        .collect();
    lines.extend(w.not_ready.iter().map(|n| {
        Row::new(
            format!("- **not ready:** {}: {}\n", code(&n.object), cell(&n.why)),
            "object(s) not ready",
        )
    }));
    list(doc, &mut heading, lines);
}

fn change_rows(changes: &[Change], noun: &'static str) -> Vec<Row> {
    changes
        .iter()
        .map(|c| {
            let mut details = Vec::new();
            if let Some(prev) = &c.previous_address {
                details.push(format!("moved from {}", code(prev)));
            }
            if let Some(id) = &c.importing {
                details.push(format!("import {}", code(id)));
            }
            if let Some(reason) = &c.reason {
                details.push(cell(reason));
            }
            for a in &c.attributes {
                details.push(format!(
                    "{}: {} → {}",
                    code(&a.path),
                    code(&a.before),
                    code(&a.after)
                ));
            }
            Row::new(
                format!(
                    "| {} {} | {} | {} | {} |\n",
                    code(c.glyph.trim()),
                    c.action,
                    code(&c.address),
                    if c.destructive { "⚠️ **yes**" } else { "" },
                    details.join("<br>")
                ),
                noun,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Attribute, Source};

    fn change(address: &str, action: &'static str, destructive: bool) -> Change {
        Change {
            address: address.to_owned(),
            action,
            destructive,
            reason: destructive.then(|| "delete_because_no_resource_config".to_owned()),
            previous_address: None,
            importing: None,
            attributes: vec![Attribute {
                path: "input".to_owned(),
                before: "\"before → ü\"".to_owned(),
                after: "\"after\"".to_owned(),
                forces_replacement: false,
            }],
            glyph: if destructive { "-" } else { "~" },
        }
    }

    /// A plan of `n` changes of which every `every`th is destructive.
    fn report(n: usize, every: usize) -> Report {
        let mut stack = StackReport::in_sync("big", "infra/big");
        stack.status = StackStatus::Changes;
        stack.changes = (0..n)
            .map(|i| {
                let destructive = i % every == 0;
                change(
                    &format!("terraform_data.item[\"é-{i}\"]"),
                    if destructive { "delete" } else { "update" },
                    destructive,
                )
            })
            .collect();
        stack.summary.update = n - n.div_ceil(every);
        stack.summary.delete = n.div_ceil(every);
        let mut report = Report::new(
            "plan",
            Some(Source {
                repo: "https://git.example.com/platform.git".to_owned(),
                reference: "main".to_owned(),
                commit: Some("0123456789abcdef".to_owned()),
                worktree: false,
            }),
            vec![stack],
        );
        report.run_id = Some("20261206-093746-5049".to_owned());
        report
    }

    /// No `<details>` left open, no code fence, every table row whole.
    #[track_caller]
    fn assert_valid(md: &str) {
        let mut open = 0i32;
        let mut fence: Option<&str> = None;
        for line in md.lines() {
            if let Some(f) = fence {
                if line == f {
                    fence = None;
                }
                continue;
            }
            if line.starts_with("```") {
                fence = Some(line.trim_end_matches(|c| c != '`'));
                continue;
            }
            open += i32::try_from(line.matches("<details>").count()).unwrap();
            open -= i32::try_from(line.matches("</details>").count()).unwrap();
            assert!(
                (0..=1).contains(&open),
                "nested or unopened details: {line}"
            );
            if line.starts_with('|') {
                assert!(line.ends_with(" |") || line.ends_with("---|"), "{line}");
            }
        }
        assert_eq!(open, 0, "a <details> left open");
        assert_eq!(fence, None, "a code fence left open");
        assert!(md.ends_with('\n'));
    }

    /// The addresses in the "Needs approval" list.
    fn listed(md: &str) -> Vec<&str> {
        md.split("### Destructive changes")
            .nth(1)
            .unwrap_or_default()
            .split("\n\n")
            .nth(1)
            .unwrap_or_default()
            .lines()
            .skip(2)
            .map(|l| l.split(" | ").nth(2).expect("an address cell"))
            .collect()
    }

    #[test]
    fn a_report_that_fits_is_whole() {
        let report = report(20, 5);
        let whole = render(&report);
        assert_eq!(render_within(&report, 65_536), whole);
        assert_eq!(render_within(&report, 0), whole);
        assert!(!whole.contains("[!NOTE]"), "{whole}");
        assert!(whole.contains("<details><summary>20 resource change(s), 4 destructive</summary>"));
        assert_eq!(listed(&whole).len(), 4, "{whole}");
        assert_valid(&whole);
    }

    #[test]
    fn no_limit_keeps_everything() {
        let report = report(5_000, 50);
        let whole = render_within(&report, 0);
        assert!(whole.len() > 65_536);
        assert_eq!(whole.matches("| `~` update |").count(), 4_900);
        assert!(!whole.contains("Left out"));
    }

    #[test]
    fn a_large_plan_keeps_the_summary_and_every_destructive_item() {
        let report = report(5_000, 50);
        let whole = render(&report);
        let md = render_within(&report, 65_536);
        assert!(md.len() <= 65_536, "{} bytes", md.len());
        assert_valid(&md);
        assert!(md.starts_with("## strata plan: changes\n\nSource: "));
        assert!(md.contains("| `big` | changes | Plan: 0 to add, 4900 to change, 100 to destroy."));
        let listed = listed(&md);
        assert_eq!(listed.len(), 100);
        for i in (0..5_000).step_by(50) {
            let address = format!("`terraform_data.item[\"é-{i}\"]`");
            assert!(listed.contains(&address.as_str()), "{address} not listed");
        }
        // Details as far as they fit, and a count of the rest that is
        // right.
        // Detail rows begin with the action's glyph; minus the summary row.
        let shown = md.matches("\n| `").count() - 1;
        let cut = 5_000 - shown;
        assert!(shown > 100, "{shown}");
        let note = md.split("> [!NOTE]\n").nth(1).expect("a note");
        let kept = md.len() - "> [!NOTE]\n".len() - note.len();
        assert_eq!(
            note,
            format!(
                "> Cut to fit `--max-bytes` 65,536: {} resource change(s) left out ({} bytes). The full report of run `20261206-093746-5049` is `runs/20261206-093746-5049/report.json` in strata's state directory (JSON). For all of it in Markdown, run the same command with `--max-bytes 0 --out FILE`.\n",
                doc::thousands(cut),
                doc::thousands(whole.len() - kept)
            )
        );
        assert!(md.contains(&format!(
            "</details>\n\n_Left out to fit: {} resource change(s) (see the note at the end)._\n\n",
            doc::thousands(cut)
        )));
    }

    /// Every limit from the smallest up: never over, always valid, the
    /// title always there; characters never outnumber bytes.
    #[test]
    fn every_limit_is_kept_at_a_clean_boundary() {
        let report = report(400, 7);
        let whole = render(&report);
        for max in (MIN_BYTES..whole.len() + 500).step_by(331) {
            let md = render_within(&report, max);
            assert!(md.len() <= max, "{} > {max}", md.len());
            assert!(md.chars().count() < md.len());
            assert!(md.starts_with("## strata plan: changes\n\n"), "{max}: {md}");
            assert_valid(&md);
            if md != whole {
                assert!(md.contains("> [!NOTE]\n> Cut to fit"), "{max}: {md}");
            }
        }
    }

    /// When not even the destructive items fit, the first ones are kept and
    /// the note says how many destructive ones were left out.
    #[test]
    fn a_cut_list_of_destructive_items_says_how_many() {
        let report = report(2_000, 1);
        let md = render_within(&report, 8_192);
        assert!(md.len() <= 8_192);
        assert_valid(&md);
        let listed = listed(&md);
        assert!(!listed.is_empty() && listed.len() < 2_000);
        assert_eq!(listed[0], "`terraform_data.item[\"é-0\"]`");
        let cut = doc::thousands(2_000 - listed.len());
        assert!(
            md.contains(&format!(
                "_Left out to fit: {cut} item(s) needing approval ({cut} destructive) (see the note at the end)._"
            )),
            "{md}"
        );
        assert!(md.contains(&format!(
            "{cut} item(s) needing approval ({cut} destructive) and 2,000 resource change(s) left out"
        )));
        assert!(!md.contains("<details>"), "no details before every item");
    }

    /// Values can neither open nor close a block.
    #[test]
    fn values_cannot_break_the_structure() {
        let mut report = report(3, 1);
        report.stacks[0].changes[0].reason = Some("</details> ``` <details>".to_owned());
        report.stacks[0].error = Some("line 1\n```\n</details>".to_owned());
        let md = render(&report);
        assert_valid(&md);
        assert!(md.contains("&lt;/details&gt; ``` &lt;details&gt;"), "{md}");
        assert!(md.contains("````\nline 1\n```\n</details>\n````\n"), "{md}");
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(doc::thousands(0), "0");
        assert_eq!(doc::thousands(999), "999");
        assert_eq!(doc::thousands(1_000), "1,000");
        assert_eq!(doc::thousands(65_536), "65,536");
        assert_eq!(doc::thousands(1_234_567), "1,234,567");
    }
}
