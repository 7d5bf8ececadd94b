//! The human report: Terraform's glyphs per stack, attribute-level
//! before → after for updates, destructive items marked, a summary line per
//! stack and a total.

use std::fmt::Write as _;

use anstyle::Style;

use super::{
    Change, ObjectChange, Outcome, OutputItem, Report, StackReport, StackStatus, Unchanged,
    WorkloadReport, WorkloadSummary,
};
use crate::approval::Item;
use crate::terraform::plan::Summary;
use crate::ui::{Ui, style};

pub fn render(report: &Report, color: bool) -> String {
    let p = |s: Style, t: &str| Ui::paint(color, s, t);
    let mut out = String::new();
    if let Some(source) = &report.source {
        let commit = source
            .commit
            .as_deref()
            .map(|c| &c[..c.len().min(12)])
            .unwrap_or("(no commit)");
        let tree = if source.worktree {
            " + uncommitted changes (--worktree)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{} {} at {} ({commit}){tree}",
            p(style::DIM, "Source:"),
            source.repo,
            source.reference
        );
        out.push('\n');
    }
    // What a changed-only run left alone is one line each; a blank line
    // closes a run of them, as it does every other section.
    let mut alone = false;
    let mut close = |out: &mut String, skipped: bool| {
        if alone && !skipped {
            out.push('\n');
        }
        alone = skipped;
    };
    for stack in &report.stacks {
        close(&mut out, stack.skipped.is_some());
        stack_section(&mut out, stack, color, report.compact);
    }
    for workload in &report.workloads {
        close(&mut out, workload.skipped.is_some());
        workload_section(&mut out, workload, color, report.compact);
    }
    close(&mut out, false);
    out.push_str(&findings_text(&report.policy, color));
    if matches!(
        report.result,
        Outcome::Changes | Outcome::ApprovalRequired | Outcome::Denied
    ) && !report.approvals.is_empty()
        && !report.compact
    {
        out.push_str(&items_text(&report.approvals, color));
    }
    total(&mut out, report, color);
    out
}

/// The items that need approval, one per line: stack, action, address and
/// why.
pub fn items_text(items: &[Item], color: bool) -> String {
    let p = |s: Style, t: &str| Ui::paint(color, s, t);
    let mut out = String::new();
    if items.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "{}",
        p(style::BOLD, &format!("Needs approval ({}):", items.len()))
    );
    let stack_width = items.iter().map(|i| i.owner().len()).max().unwrap_or(0);
    let action_width = items.iter().map(|i| i.action.len()).max().unwrap_or(0);
    for item in items {
        let st = if item.destructive {
            style::DESTROY
        } else {
            style::UPDATE
        };
        let _ = writeln!(
            out,
            "  {:stack_width$}  {}  {}  {}",
            item.owner(),
            p(st, &format!("{:action_width$}", item.action)),
            item.address,
            p(style::DIM, &item.why())
        );
    }
    out.push('\n');
    out
}

/// What the policies said, one line per message: denials, approvals,
/// warnings.
pub fn findings_text(findings: &[crate::policy::Finding], color: bool) -> String {
    let p = |s: Style, t: &str| Ui::paint(color, s, t);
    let mut out = String::new();
    if findings.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "{}",
        p(style::BOLD, &format!("Policies ({}):", findings.len()))
    );
    for f in findings {
        let rule = f.rule.as_str();
        let st = match f.rule {
            crate::policy::Rule::Deny => style::DESTROY,
            crate::policy::Rule::Approve | crate::policy::Rule::Warn => style::UPDATE,
        };
        let item = f.item();
        let _ = writeln!(
            out,
            "  {}  {}{}{}",
            p(st, &format!("{rule:7}")),
            f.policy,
            if item.is_empty() {
                String::new()
            } else {
                format!("  {item}")
            },
            p(style::DIM, &format!("  {}", f.message))
        );
    }
    out.push('\n');
    out
}

/// What a person sees before being asked: the plan, what needs approval,
/// and the question, Terraform-style.
pub fn prompt(preview: &Report, color: bool) -> String {
    let p = |s: Style, t: &str| Ui::paint(color, s, t);
    let mut out = render(preview, color);
    out.push('\n');
    let _ = writeln!(
        out,
        "{}",
        p(style::BOLD, "Do you want to apply these changes?")
    );
    let _ = writeln!(
        out,
        "  strata will apply exactly the plans shown above{}.",
        preview
            .run_id
            .as_deref()
            .map(|id| format!(" (run {id})"))
            .unwrap_or_default()
    );
    let _ = writeln!(out, "  Only 'yes' will be accepted to approve.");
    let _ = write!(out, "\n  {} ", p(style::BOLD, "Enter a value:"));
    out
}

fn action_style(change_action: &str, destructive: bool) -> Style {
    if destructive {
        return style::DESTROY;
    }
    match change_action {
        "create" | "import" => style::CREATE,
        "update" | "move" => style::UPDATE,
        "read" => style::NOTE,
        _ => Style::new(),
    }
}

/// The one line of a stack or workload a changed-only run left alone.
fn unchanged_line(out: &mut String, header: &str, why: &Unchanged, color: bool) {
    let p = |s: Style, t: &str| Ui::paint(color, s, t);
    let _ = writeln!(
        out,
        "{header}  {}",
        p(style::DIM, &format!("skipped: {}", why.reason))
    );
}

fn stack_section(out: &mut String, stack: &StackReport, color: bool, compact: bool) {
    let p = |s: Style, t: &str| Ui::paint(color, s, t);
    let header = format!(
        "{} {}",
        p(style::BOLD, &format!("Stack {}", stack.name)),
        p(style::DIM, &format!("({})", stack.path))
    );
    if let Some(why) = &stack.skipped {
        return unchanged_line(out, &header, why, color);
    }
    let _ = writeln!(out, "{header}");
    if let Some(after) = &stack.replanned_after {
        let _ = writeln!(
            out,
            "  {}",
            p(
                style::NOTE,
                &format!("planned again after {after} was applied (its inputs may have changed)")
            )
        );
    }
    if let Some(upstream) = &stack.waiting_for {
        let _ = writeln!(
            out,
            "  {}",
            p(
                style::NOTE,
                &format!(
                    "planned once {upstream} is applied: its vars use outputs known only then"
                )
            )
        );
    }
    if let Some(error) = &stack.error {
        let label = match stack.status {
            StackStatus::Skipped => p(style::UPDATE, "skipped"),
            StackStatus::Applied => p(style::UPDATE, "warning"),
            _ => p(style::ERROR, "error"),
        };
        let mut lines = error.lines();
        let first = lines.next().unwrap_or_default();
        let _ = writeln!(out, "  {label}: {first}");
        for line in lines {
            let _ = writeln!(out, "    {line}");
        }
    }
    for check in &stack.checks {
        let _ = writeln!(
            out,
            "  {} {} {}",
            p(style::ERROR, "!"),
            check.address,
            p(style::ERROR, &format!("check {}", check.status))
        );
        for m in &check.messages {
            let _ = writeln!(out, "      {m}");
        }
    }
    if compact {
        let line = match stack.status {
            StackStatus::Applied => applied_line(&stack.summary),
            StackStatus::InSync | StackStatus::Changes => {
                summary_line(&stack.summary, stack.destructive(), stack.outputs.len())
            }
            _ => return out.push('\n'),
        };
        let _ = writeln!(out, "  {}\n", p(style::BOLD, &line));
        return;
    }
    for change in &stack.changes {
        change_line(out, change, color);
    }
    if !stack.drift.is_empty() {
        let _ = writeln!(
            out,
            "\n  {}",
            p(style::NOTE, "Changed outside Terraform (drift):")
        );
        for change in &stack.drift {
            change_line(out, change, color);
        }
    }
    if !stack.outputs.is_empty() {
        let _ = writeln!(out, "\n  {}", p(style::DIM, "Outputs:"));
        for output in &stack.outputs {
            output_line(out, output, color);
        }
    }
    if matches!(stack.status, StackStatus::Changes | StackStatus::InSync) {
        let line = summary_line(&stack.summary, stack.destructive(), stack.outputs.len());
        let _ = writeln!(out, "\n  {}", p(style::BOLD, &line));
    } else if stack.status == StackStatus::Applied {
        let _ = writeln!(
            out,
            "\n  {}",
            p(style::CREATE, &applied_line(&stack.summary))
        );
    }
    out.push('\n');
}

fn workload_section(out: &mut String, w: &WorkloadReport, color: bool, compact: bool) {
    let p = |s: Style, t: &str| Ui::paint(color, s, t);
    let header = format!(
        "{} {}",
        p(style::BOLD, &format!("Workload {}", w.name)),
        p(
            style::DIM,
            &match &w.context {
                Some(context) => format!("({}, context {context})", w.path),
                None => format!("({})", w.path),
            }
        )
    );
    if let Some(why) = &w.skipped {
        return unchanged_line(out, &header, why, color);
    }
    let _ = writeln!(out, "{header}");
    if let Some(error) = &w.error {
        let label = match w.status {
            StackStatus::Skipped => p(style::UPDATE, "skipped"),
            _ => p(style::ERROR, "error"),
        };
        let mut lines = error.lines();
        let _ = writeln!(out, "  {label}: {}", lines.next().unwrap_or_default());
        for line in lines {
            let _ = writeln!(out, "    {line}");
        }
    }
    let summary = w.summary();
    if compact && w.changes.iter().all(|c| c.error.is_none()) {
        let line = if w.status == StackStatus::Applied {
            workload_applied_line(&summary)
        } else {
            workload_summary_line(&summary, w.destructive(), w.unchanged)
        };
        let _ = writeln!(out, "  {}\n", p(style::BOLD, &line));
        return;
    }
    for c in &w.changes {
        object_line(out, c, color);
    }
    for kept in &w.kept {
        let _ = writeln!(
            out,
            "  {} {}  {}",
            p(style::NOTE, "  ="),
            kept.object,
            p(style::DIM, &format!("not pruned: {}", kept.why))
        );
    }
    if !w.not_ready.is_empty() {
        let _ = writeln!(out, "\n  {}", p(style::ERROR, "Not ready:"));
        for n in &w.not_ready {
            let _ = writeln!(out, "    {}: {}", n.object, n.why);
        }
    }
    let line = match w.status {
        StackStatus::Applied => Some(p(style::CREATE, &workload_applied_line(&summary))),
        StackStatus::Changes | StackStatus::InSync => Some(p(
            style::BOLD,
            &workload_summary_line(&summary, w.destructive(), w.unchanged),
        )),
        _ => None,
    };
    if let Some(line) = line {
        let _ = writeln!(out, "\n  {line}");
    }
    out.push('\n');
}

fn object_line(out: &mut String, c: &ObjectChange, color: bool) {
    let p = |s: Style, t: &str| Ui::paint(color, s, t);
    let st = if c.error.is_some() {
        style::ERROR
    } else {
        action_style(c.action, c.destructive)
    };
    let mut line = format!("  {} {}", p(st, &format!("{:>3}", c.glyph)), c.address());
    let mut notes = Vec::new();
    if c.destructive {
        notes.push(c.action.to_owned());
    }
    if c.drift {
        notes.push("drift".to_owned());
    }
    if let Some(reason) = &c.reason {
        notes.push(reason.clone());
    }
    if !notes.is_empty() {
        let _ = write!(line, "  {}", p(style::DIM, &notes.join("; ")));
    }
    if c.destructive {
        let _ = write!(line, "  {}", p(style::DESTROY, "DESTRUCTIVE"));
    }
    let _ = writeln!(out, "{}", line.trim_end());
    if let Some(error) = &c.error {
        let _ = writeln!(out, "          {} {error}", p(style::ERROR, "error:"));
    }
    for f in &c.fields {
        let by = f
            .manager
            .as_deref()
            .map(|m| format!("  {}", p(style::DIM, &format!("(set by {m})"))))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "          {} {}: {} {} {}{by}",
            p(style::UPDATE, "~"),
            f.path,
            f.before,
            p(style::DIM, "→"),
            f.after
        );
    }
}

/// "Plan: 2 to create, 1 to update, 0 to prune. 3 unchanged."
pub fn workload_summary_line(s: &WorkloadSummary, destructive: usize, unchanged: usize) -> String {
    if s.create + s.update + s.prune + s.recreate == 0 {
        return format!("No changes ({unchanged} object(s) in sync).");
    }
    let mut parts = vec![
        format!("{} to create", s.create),
        format!("{} to update", s.update),
    ];
    if s.recreate > 0 {
        parts.push(format!("{} to recreate", s.recreate));
    }
    parts.push(format!("{} to prune", s.prune));
    let mut line = format!("Plan: {}.", parts.join(", "));
    if destructive > 0 {
        let _ = write!(line, " {destructive} destructive.");
    }
    let _ = write!(line, " {unchanged} unchanged.");
    line
}

/// "Applied: 2 created, 1 updated, 0 pruned."
pub fn workload_applied_line(s: &WorkloadSummary) -> String {
    let mut parts = vec![
        format!("{} created", s.create),
        format!("{} updated", s.update),
    ];
    if s.recreate > 0 {
        parts.push(format!("{} recreated", s.recreate));
    }
    parts.push(format!("{} pruned", s.prune));
    format!("Applied: {}.", parts.join(", "))
}

fn change_line(out: &mut String, c: &Change, color: bool) {
    let p = |s: Style, t: &str| Ui::paint(color, s, t);
    let st = action_style(c.action, c.destructive);
    let glyph = match c.action {
        "move" => "->",
        "import" => "<-",
        _ => c.glyph,
    };
    let mut line = format!("  {} {}", p(st, &format!("{glyph:>3}")), c.address);
    let mut notes = Vec::new();
    // The glyph already says create, update, move and import; spell out
    // the actions whose glyph is easy to misread.
    if !matches!(c.action, "create" | "update" | "move" | "import") {
        notes.push(c.action.to_owned());
    }
    if let Some(prev) = &c.previous_address {
        notes.push(format!("moved from {prev}"));
    }
    if let Some(id) = &c.importing {
        notes.push(format!("import {id}"));
    }
    if let Some(reason) = &c.reason {
        notes.push(reason.clone());
    }
    let _ = write!(line, "  {}", p(style::DIM, &notes.join("; ")));
    if c.destructive {
        let _ = write!(line, "  {}", p(style::DESTROY, "DESTRUCTIVE"));
    }
    let _ = writeln!(out, "{}", line.trim_end());
    for a in &c.attributes {
        let forces = if a.forces_replacement {
            p(style::DESTROY, "  # forces replacement")
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "          {} {}: {} {} {}{forces}",
            p(style::UPDATE, "~"),
            a.path,
            a.before,
            p(style::DIM, "→"),
            a.after
        );
    }
}

fn output_line(out: &mut String, o: &OutputItem, color: bool) {
    let p = |s: Style, t: &str| Ui::paint(color, s, t);
    let st = action_style(o.action, false);
    let value = match o.action {
        "create" => o.after.clone(),
        "delete" => o.before.clone(),
        _ => format!("{} {} {}", o.before, p(style::DIM, "→"), o.after),
    };
    let _ = writeln!(
        out,
        "  {} {} = {value}",
        p(st, &format!("{:>3}", o.glyph)),
        o.name
    );
}

/// "Applied: 2 added, 1 changed, 0 destroyed.", like Terraform's
/// "Apply complete!" line.
pub fn applied_line(s: &Summary) -> String {
    let mut parts = vec![
        format!("{} added", s.create),
        format!("{} changed", s.update),
    ];
    if s.replace > 0 {
        parts.push(format!("{} replaced", s.replace));
    }
    parts.push(format!("{} destroyed", s.delete));
    for (n, what) in [
        (s.forget, "forgotten"),
        (s.import, "imported"),
        (s.r#move, "moved"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    format!("Applied: {}.", parts.join(", "))
}

/// "2 to add, 1 to change, 0 to destroy", extended with strata's other
/// actions when present.
pub fn summary_line(s: &Summary, destructive: usize, outputs: usize) -> String {
    let total = s.create + s.update + s.delete + s.replace + s.forget + s.import + s.r#move;
    if total == 0 {
        return if outputs > 0 {
            format!("Only output changes ({outputs}).")
        } else {
            "No changes.".to_owned()
        };
    }
    let mut parts = vec![
        format!("{} to add", s.create),
        format!("{} to change", s.update),
    ];
    if s.replace > 0 {
        parts.push(format!("{} to replace", s.replace));
    }
    parts.push(format!("{} to destroy", s.delete));
    for (n, what) in [
        (s.forget, "to forget"),
        (s.import, "to import"),
        (s.r#move, "to move"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    let mut line = format!("Plan: {}.", parts.join(", "));
    if destructive > 0 {
        let _ = write!(line, " {destructive} destructive.");
    }
    line
}

fn total(out: &mut String, report: &Report, color: bool) {
    let p = |s: Style, t: &str| Ui::paint(color, s, t);
    let n = report.stacks.len();
    let with_changes = report
        .stacks
        .iter()
        .filter(|s| s.status == StackStatus::Changes)
        .count();
    let failed = report
        .stacks
        .iter()
        .filter(|s| s.status == StackStatus::Error)
        .count();
    let skipped = report
        .stacks
        .iter()
        .filter(|s| s.status == StackStatus::Skipped)
        .count();
    let mut sum = Summary::default();
    for s in &report.stacks {
        sum += s.summary;
    }
    let applied = report
        .stacks
        .iter()
        .filter(|s| s.status == StackStatus::Applied)
        .count();
    let mut line = String::new();
    if n > 0 || report.workloads.is_empty() {
        let stacks = if n == 1 { "stack" } else { "stacks" };
        line = if report.command == "apply" && applied > 0 {
            format!("Total: {n} {stacks}, {applied} applied")
        } else {
            format!("Total: {n} {stacks}, {with_changes} with changes")
        };
        if failed > 0 {
            let _ = write!(line, ", {failed} failed");
        }
        if skipped > 0 {
            let _ = write!(line, ", {skipped} skipped");
        }
        let unchanged = report
            .stacks
            .iter()
            .filter(|s| s.status == StackStatus::Unchanged)
            .count();
        if unchanged > 0 {
            let _ = write!(line, ", {unchanged} skipped as unchanged");
        }
        let outputs = report.stacks.iter().map(|s| s.outputs.len()).sum();
        if report.command == "apply" && applied > 0 {
            let mut done = Summary::default();
            for s in report
                .stacks
                .iter()
                .filter(|s| s.status == StackStatus::Applied)
            {
                done += s.summary;
            }
            let _ = write!(
                line,
                ". {}",
                applied_line(&done).trim_start_matches("Applied: ")
            );
        } else {
            let _ = write!(
                line,
                ". {}",
                summary_line(&sum, 0, outputs).trim_start_matches("Plan: ")
            );
        }
    }
    if !report.workloads.is_empty() {
        let w = report.workloads.len();
        let changed = report
            .workloads
            .iter()
            .filter(|w| matches!(w.status, StackStatus::Changes | StackStatus::Applied))
            .count();
        let failed = report
            .workloads
            .iter()
            .filter(|w| matches!(w.status, StackStatus::Error | StackStatus::Skipped))
            .count();
        let verb = if report.command == "apply" {
            "changed"
        } else {
            "with changes"
        };
        if line.is_empty() {
            line.push_str("Total:");
        }
        let _ = write!(
            line,
            " {w} {}, {changed} {verb}",
            if w == 1 { "workload" } else { "workloads" }
        );
        if failed > 0 {
            let _ = write!(line, ", {failed} failed");
        }
        let unchanged = report
            .workloads
            .iter()
            .filter(|w| w.status == StackStatus::Unchanged)
            .count();
        if unchanged > 0 {
            let _ = write!(line, ", {unchanged} skipped as unchanged");
        }
        line.push('.');
    }
    let _ = writeln!(out, "{}", p(style::BOLD, &line));
    if report.command == "drift" {
        let drifted = report.drifted();
        let pending = report.stacks.iter().map(|s| s.changes.len()).sum::<usize>()
            + report
                .workloads
                .iter()
                .flat_map(|w| &w.changes)
                .filter(|c| !c.drift)
                .count();
        let _ = writeln!(
            out,
            "{}",
            p(
                if drifted > 0 {
                    style::DESTROY
                } else {
                    style::BOLD
                },
                &format!(
                    "Drift: {drifted} changed outside Git (resources outside Terraform, objects outside strata); {pending} pending change(s) from Git."
                )
            )
        );
    }
    if report.destructive > 0 && report.result != Outcome::Applied {
        let _ = writeln!(
            out,
            "{}",
            p(
                style::DESTROY,
                &format!(
                    "{} destructive change(s): {}.",
                    report.destructive,
                    report.destructive_kinds()
                )
            )
        );
    }
    for e in &report.errors {
        let _ = writeln!(out, "{} {e}", p(style::ERROR, "error:"));
    }
    for n in &report.notifications {
        match &n.error {
            None => {
                let _ = writeln!(
                    out,
                    "{}",
                    p(style::DIM, &format!("Notified {} ({}).", n.name, n.event))
                );
            }
            Some(e) => {
                let _ = writeln!(
                    out,
                    "{} {} ({}) was not notified: {e}",
                    p(style::UPDATE, "warning:"),
                    n.name,
                    n.event
                );
            }
        }
    }
    let held = (!report.held.is_empty()).then(|| {
        format!(
            "{} {} not applied, the rest was",
            if report.held.len() == 1 {
                "workload"
            } else {
                "workloads"
            },
            report.held.join(", ")
        )
    });
    match report.result {
        Outcome::ApprovalRequired => {
            let _ = writeln!(
                out,
                "{} {}.",
                p(style::UPDATE, "Approval required:"),
                held.as_deref().unwrap_or("nothing was applied")
            );
        }
        Outcome::Denied => {
            let why = report.message.as_deref().unwrap_or("refused");
            let _ = writeln!(
                out,
                "{} {why}; {}.",
                p(style::DESTROY, "Denied:"),
                held.as_deref().unwrap_or("nothing was applied")
            );
        }
        _ => {}
    }
}
