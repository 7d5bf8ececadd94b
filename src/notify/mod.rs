//! Notifications: `notify "<name>" { webhook = …, on = [...] }` blocks get
//! an HTTP POST of a JSON event when a `drift` or `apply` run ends in one of
//! their events. The body is built from the report, whose secrets are
//! already redacted, and carries a Slack-compatible `text`. A notification
//! that cannot be delivered (after retries) is logged and shown in the
//! report; it never fails the run.

use std::time::Duration;

use serde_json::json;

use crate::config::{Notify, NotifyEvent, Webhook};
use crate::environment::Environment;
pub use crate::report::Delivery;
use crate::report::{Outcome, Report};

/// Attempts per webhook.
const ATTEMPTS: u32 = 3;

/// The event a finished report is, if it is one: `drift` runs say drift
/// (anything differs), in_sync or failed; `apply` runs converged, in_sync,
/// approval_required or failed. `plan` and the rest notify nobody.
pub fn event_of(report: &Report) -> Option<NotifyEvent> {
    match (report.command.as_str(), report.result) {
        (_, Outcome::Error) if matches!(report.command.as_str(), "drift" | "apply") => {
            Some(NotifyEvent::Failed)
        }
        ("drift", Outcome::Drift | Outcome::Changes) => Some(NotifyEvent::Drift),
        ("drift" | "apply", Outcome::InSync) => Some(NotifyEvent::InSync),
        ("apply", Outcome::Applied) => Some(NotifyEvent::Converged),
        ("apply", Outcome::ApprovalRequired) => Some(NotifyEvent::ApprovalRequired),
        _ => None,
    }
}

/// The JSON body of `event` for `report`.
pub fn body(event: NotifyEvent, report: &Report) -> serde_json::Value {
    let source = report.source.as_ref();
    let commit = source.and_then(|s| s.commit.clone());
    let changes: usize = report.stacks.iter().map(|s| s.changes.len()).sum::<usize>()
        + report
            .workloads
            .iter()
            .map(|w| w.changes.len())
            .sum::<usize>();
    let counts = crate::policy::count(&report.policy);
    let said = |rule| counts.get(&rule).copied().unwrap_or(0);
    let policy = if report.policy.is_empty() {
        String::new()
    } else {
        format!(
            "; policies: {} denied, {} to approve, {} warning(s)",
            said(crate::policy::Rule::Deny),
            said(crate::policy::Rule::Approve),
            said(crate::policy::Rule::Warn)
        )
    };
    let text = format!(
        "strata {}: {} — {}{} ({} change(s), {} drifted, {} destructive{policy}){}",
        report.command,
        event.as_str().replace('_', " "),
        source.map_or("", |s| s.repo.as_str()),
        commit
            .as_deref()
            .map(|c| format!(" at {}", &c[..c.len().min(12)]))
            .unwrap_or_default(),
        changes,
        report.drifted(),
        report.destructive,
        report
            .run_id
            .as_deref()
            .map(|id| format!("; run {id}"))
            .unwrap_or_default(),
    );
    json!({
        "event": event.as_str(),
        "command": report.command,
        "result": report.result,
        "run_id": report.run_id,
        "repo": source.map(|s| s.repo.clone()),
        "ref": source.map(|s| s.reference.clone()),
        "commit": commit,
        "counts": {
            "stacks": report.stacks.len(),
            "workloads": report.workloads.len(),
            "changes": changes,
            "drift": report.drifted(),
            "destructive": report.destructive,
        },
        "items": report.approvals,
        "policy": report.policy,
        "errors": report.errors,
        "text": text,
    })
}

/// Sends `report`'s event to every block that asked for it.
pub async fn send(blocks: &[Notify], report: &Report, env: &Environment) -> Vec<Delivery> {
    match event_of(report) {
        Some(event) => send_event(blocks, event, report, env).await,
        None => Vec::new(),
    }
}

/// Sends `event`, about `report`, to every block that asked for it.
pub async fn send_event(
    blocks: &[Notify],
    event: NotifyEvent,
    report: &Report,
    env: &Environment,
) -> Vec<Delivery> {
    let wanted: Vec<&Notify> = blocks.iter().filter(|n| n.on.contains(&event)).collect();
    if wanted.is_empty() {
        return Vec::new();
    }
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            return wanted
                .iter()
                .map(|n| failed(n, event, format!("cannot make an HTTP client: {e}")))
                .collect();
        }
    };
    let body = body(event, report).to_string();
    let mut out = Vec::new();
    for n in wanted {
        let url = match &n.webhook {
            Webhook::Url(url) => url.clone(),
            Webhook::Env(name) => {
                match env.get(name).and_then(|v| v.to_str()) {
                    Some(url) if !url.is_empty() => url.to_owned(),
                    _ => {
                        out.push(failed(
                        n,
                        event,
                        format!("the environment variable {name} (webhook = \"env:{name}\") is not set"),
                    ));
                        continue;
                    }
                }
            }
        };
        out.push(match post(&client, &url, &body).await {
            Ok(()) => Delivery {
                name: n.name.clone(),
                event: event.as_str(),
                delivered: true,
                error: None,
            },
            Err(e) => failed(n, event, e),
        });
    }
    for d in out.iter().filter(|d| !d.delivered) {
        tracing::warn!(notify = %d.name, error = d.error.as_deref().unwrap_or(""), "notification not delivered");
    }
    out
}

fn failed(n: &Notify, event: NotifyEvent, error: String) -> Delivery {
    Delivery {
        name: n.name.clone(),
        event: event.as_str(),
        delivered: false,
        error: Some(error),
    }
}

/// POSTs `body`, retrying failures and 5xx/429 answers with backoff. The
/// URL is never part of an error (it may hold a token).
async fn post(client: &reqwest::Client, url: &str, body: &str) -> Result<(), String> {
    let backoff = crate::retry::Backoff {
        first: Duration::from_millis(300),
        cap: Duration::from_secs(5),
    };
    // The error, and whether another attempt may help.
    let attempt = || async {
        let sent = client
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err((
                format!("the webhook answered {}", r.status()),
                r.status().is_server_error() || r.status().as_u16() == 429,
            )),
            Err(e) => Err((
                format!(
                    "the webhook could not be reached{}",
                    if e.is_timeout() { " (timeout)" } else { "" }
                ),
                true,
            )),
        }
    };
    let mut tried = 0;
    crate::retry::retry(backoff, attempt, |(_, transient), failures| {
        tried = failures;
        *transient && failures < ATTEMPTS
    })
    .await
    .map_err(|(last, transient)| {
        if transient {
            format!("{last} ({tried} attempts)")
        } else {
            last
        }
    })
}
