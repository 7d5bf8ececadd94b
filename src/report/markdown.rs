//! Markdown ready to paste into an issue or a pull request: an overview
//! table, then a table per stack, destructive items flagged.

use std::fmt::Write as _;

use super::text::{summary_line, workload_applied_line, workload_summary_line};
use super::{Change, Report, StackReport, StackStatus, WorkloadReport};

/// Escapes a value for a table cell.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('\n', "<br>")
}

fn code(s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!("`{}`", cell(s).replace('`', "'"))
    }
}

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## strata {}: {}", report.command, outcome(report));
    out.push('\n');
    if let Some(source) = &report.source {
        let commit = source.commit.as_deref().unwrap_or("(no commit)");
        let tree = if source.worktree {
            " plus uncommitted changes (`--worktree`)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "Source: {} at {} ({}){tree}\n",
            code(&source.repo),
            code(&source.reference),
            code(commit)
        );
    }
    if report.destructive > 0 {
        let _ = writeln!(
            out,
            "> [!WARNING]\n> {} destructive change(s): {}.\n",
            report.destructive,
            report.destructive_kinds()
        );
    }
    out.push_str("| Stack | Status | Summary |\n|---|---|---|\n");
    for s in &report.stacks {
        let summary = match s.status {
            StackStatus::Changes | StackStatus::InSync => {
                summary_line(&s.summary, s.destructive(), s.outputs.len())
            }
            _ => s
                .skipped
                .as_ref()
                .map(|u| u.reason.clone())
                .or_else(|| s.error.clone())
                .unwrap_or_default(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            code(&s.name),
            if s.drift.is_empty() {
                status(s.status)
            } else {
                "**drift**"
            },
            cell(summary.lines().next().unwrap_or_default())
        );
    }
    if !report.workloads.is_empty() {
        out.push_str("\n| Workload | Status | Summary |\n|---|---|---|\n");
        for w in &report.workloads {
            let summary = match w.status {
                StackStatus::Changes | StackStatus::InSync => {
                    workload_summary_line(&w.summary(), w.destructive(), w.unchanged)
                }
                StackStatus::Applied => workload_applied_line(&w.summary()),
                _ => w
                    .skipped
                    .as_ref()
                    .map(|u| u.reason.clone())
                    .or_else(|| w.error.clone())
                    .unwrap_or_default(),
            };
            let drifted = w.status == StackStatus::Changes && w.changes.iter().any(|c| c.drift);
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                code(&w.name),
                if drifted {
                    "**drift**"
                } else {
                    status(w.status)
                },
                cell(summary.lines().next().unwrap_or_default())
            );
        }
    }
    out.push('\n');
    if let Some(graph) = &report.graph {
        let _ = writeln!(
            out,
            "```mermaid\n{graph}```\n\nGreen: in sync. Yellow: changes pending from Git. Orange: drift (changed outside Git). Red: failed or not checked.\n"
        );
    }
    for s in &report.stacks {
        stack_section(&mut out, s);
    }
    for w in &report.workloads {
        workload_section(&mut out, w);
    }
    for e in &report.errors {
        let _ = writeln!(out, "**Error:** {}\n", cell(e));
    }
    out
}

fn outcome(report: &Report) -> &'static str {
    match report.result {
        super::Outcome::InSync => "in sync",
        super::Outcome::Changes => "changes",
        super::Outcome::Drift => "drift",
        super::Outcome::Applied => "applied",
        super::Outcome::ApprovalRequired => "approval required",
        super::Outcome::Denied => "denied",
        super::Outcome::Error => "error",
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

fn stack_section(out: &mut String, s: &StackReport) {
    if s.changes.is_empty() && s.drift.is_empty() && s.outputs.is_empty() && s.error.is_none() {
        return;
    }
    let _ = writeln!(out, "### Stack {} ({})\n", code(&s.name), code(&s.path));
    if let Some(e) = &s.error {
        let _ = writeln!(out, "```\n{e}\n```\n");
    }
    for c in &s.checks {
        let _ = writeln!(
            out,
            "- check {} **{}**: {}",
            code(&c.address),
            c.status,
            cell(&c.messages.join("; "))
        );
    }
    if !s.checks.is_empty() {
        out.push('\n');
    }
    if !s.changes.is_empty() {
        table(out, &s.changes);
    }
    if !s.drift.is_empty() {
        out.push_str("Changed outside Terraform (drift):\n\n");
        table(out, &s.drift);
    }
    if !s.outputs.is_empty() {
        out.push_str("| Output | Action | Before | After |\n|---|---|---|---|\n");
        for o in &s.outputs {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                code(&o.name),
                o.action,
                code(&o.before),
                code(&o.after)
            );
        }
        out.push('\n');
    }
}

fn workload_section(out: &mut String, w: &WorkloadReport) {
    if w.changes.is_empty() && w.kept.is_empty() && w.not_ready.is_empty() && w.error.is_none() {
        return;
    }
    match &w.context {
        Some(context) => {
            let _ = writeln!(
                out,
                "### Workload {} ({}, context {})\n",
                code(&w.name),
                code(&w.path),
                code(context)
            );
        }
        None => {
            let _ = writeln!(out, "### Workload {} ({})\n", code(&w.name), code(&w.path));
        }
    }
    if let Some(e) = &w.error {
        let _ = writeln!(out, "```\n{e}\n```\n");
    }
    if !w.changes.is_empty() {
        out.push_str("| Action | Object | Destructive | Details |\n|---|---|---|---|\n");
        for c in &w.changes {
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
            let _ = writeln!(
                out,
                "| {} {} | {} | {} | {} |",
                code(c.glyph),
                c.action,
                code(&c.address()),
                if c.destructive { "⚠️ **yes**" } else { "" },
                details.join("<br>")
            );
        }
        out.push('\n');
    }
    for k in &w.kept {
        let _ = writeln!(out, "- not pruned: {} ({})", code(&k.object), cell(&k.why));
    }
    for n in &w.not_ready {
        let _ = writeln!(
            out,
            "- **not ready:** {}: {}",
            code(&n.object),
            cell(&n.why)
        );
    }
    if !w.kept.is_empty() || !w.not_ready.is_empty() {
        out.push('\n');
    }
}

fn table(out: &mut String, changes: &[Change]) {
    out.push_str("| Action | Address | Destructive | Details |\n|---|---|---|---|\n");
    for c in changes {
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
        let _ = writeln!(
            out,
            "| {} {} | {} | {} | {} |",
            code(c.glyph.trim()),
            c.action,
            code(&c.address),
            if c.destructive { "⚠️ **yes**" } else { "" },
            details.join("<br>")
        );
    }
    out.push('\n');
}
