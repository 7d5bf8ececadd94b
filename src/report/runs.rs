//! `strata runs`: a table of runs, then what waits for approval.

use std::fmt::Write as _;

use super::markdown::{Doc, Row};
use crate::approval::Item;
use crate::runs::{Run, RunStatus, RunsReport};
use crate::ui::{Ui, style};

pub use super::text::items_text;

fn commit(run: &Run) -> String {
    let c = run.source.commit.as_deref().unwrap_or("(none)");
    let mut short = c[..c.len().min(12)].to_owned();
    if run.source.worktree {
        short.push('+');
    }
    short
}

fn changes(run: &Run) -> String {
    let stacks = run.stacks.iter().filter(|s| s.changes).count();
    format!("{stacks}/{} stacks", run.stacks.len())
}

fn status_style(status: RunStatus) -> anstyle::Style {
    match status {
        RunStatus::Applied => style::CREATE,
        RunStatus::ApprovalRequired | RunStatus::Approved | RunStatus::Applying => style::UPDATE,
        RunStatus::Planned => anstyle::Style::new(),
        _ => style::ERROR,
    }
}

/// The human table.
pub fn text(report: &RunsReport, color: bool) -> String {
    let mut out = String::new();
    if report.runs.is_empty() {
        out.push_str("No runs yet. `strata plan --save` or `strata apply` creates one.\n");
        return out;
    }
    let rows: Vec<[String; 6]> = report
        .runs
        .iter()
        .map(|r| {
            [
                r.id.clone(),
                r.created.strftime("%Y-%m-%d %H:%M:%SZ").to_string(),
                r.command.clone(),
                commit(r),
                r.status.as_str().to_owned(),
                changes(r),
            ]
        })
        .collect();
    let header = ["RUN", "CREATED", "COMMAND", "COMMIT", "STATUS", "CHANGES"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: [&str; 6], status: Option<RunStatus>| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let padded = format!("{cell:w$}");
            let painted = match (i, status) {
                (4, Some(s)) => Ui::paint(color, status_style(s), &padded),
                _ => padded,
            };
            let _ = write!(l, "{painted}  ");
        }
        l.trim_end().to_owned()
    };
    let _ = writeln!(
        out,
        "{}",
        Ui::paint(color, style::BOLD, &line(header, None))
    );
    for (row, run) in rows.iter().zip(&report.runs) {
        let cells = [row[0].as_str(), &row[1], &row[2], &row[3], &row[4], &row[5]];
        let _ = writeln!(out, "{}", line(cells, Some(run.status)));
    }
    for run in &report.runs {
        let show_items = report.runs.len() == 1 || run.status.is_pending();
        if !show_items {
            continue;
        }
        out.push('\n');
        let _ = writeln!(
            out,
            "{} {} ({}, {} at {})",
            Ui::paint(color, style::BOLD, "Run"),
            run.id,
            run.status.as_str(),
            run.source.repo,
            run.source.reference
        );
        out.push_str(&items_text(&run.items, color));
        if let Some(note) = &run.note {
            let _ = writeln!(out, "  note: {note}");
        }
        match run.status {
            RunStatus::ApprovalRequired => {
                let _ = writeln!(
                    out,
                    "  approve and apply with:\n    strata approve {}\n    strata apply --run {}",
                    run.id, run.id
                );
            }
            RunStatus::Approved => {
                if let Some(d) = &run.approval {
                    let _ = writeln!(out, "  approved by {} at {}", d.user, d.time);
                }
                let _ = writeln!(out, "  apply with:\n    strata apply --run {}", run.id);
            }
            _ => {}
        }
    }
    out
}

/// A Markdown table, for pasting into an issue; a cut keeps the newest
/// runs.
pub fn markdown(report: &RunsReport) -> Doc {
    let rows = report
        .runs
        .iter()
        .map(|run| {
            Row::new(
                format!(
                    "| `{}` | {} | {} | `{}` | {} | {} | {} |\n",
                    run.id,
                    run.created.strftime("%Y-%m-%d %H:%M:%SZ"),
                    run.command,
                    commit(run),
                    run.status.as_str(),
                    changes(run),
                    items_cell(&run.items)
                ),
                "run(s)",
            )
        })
        .collect();
    let mut doc = Doc::new();
    doc.rows(
        0,
        "| run | created | command | commit | status | changes | needs approval |\n|---|---|---|---|---|---|---|\n".to_owned(),
        rows,
        "\n",
    );
    doc
}

fn items_cell(items: &[Item]) -> String {
    if items.is_empty() {
        return "–".to_owned();
    }
    items
        .iter()
        .map(|i| format!("{} `{}` ({})", i.action, i.address, i.owner()))
        .collect::<Vec<_>>()
        .join("<br>")
}
