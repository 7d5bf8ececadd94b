//! Pause points for tests of interrupts and crashes.
//!
//! A test that must stop strata at an exact place (right before Terraform's
//! `show`, between two waves, before a prune) cannot rely on timing. With
//! `STRATA_PAUSE_AT=point[,point…]` in its environment, strata prints
//! `strata: paused at <point>` on stderr when it reaches one of those
//! points and waits there until an interrupt is asked for (at most two
//! minutes), then goes on. The test reads that line, then sends SIGINT
//! (and checks that the step never started) or SIGKILL (and checks that
//! the next run repairs everything).
//!
//! The points are `<stack or workload>/<step>`: the steps the progress
//! shows (`init`, `plan`, `show`, `apply`, `output` for a stack; `diff`,
//! `apply` for a workload), `applied` right after a stack's `terraform
//! apply` returned, and inside a workload's apply `wave-<n>`,
//! `inventory`, `prune` and `health`. Without the variable
//! this costs one lookup per step.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The environment variable that names the points.
pub const VARIABLE: &str = "STRATA_PAUSE_AT";

/// Names points where strata instead stays busy and ignores interrupts
/// (for two minutes at most), as work that never looks at them would: the
/// test of the hard stop's last resort.
pub const STUCK: &str = "STRATA_STUCK_AT";

/// How long a pause lasts at most, so that a test gone wrong still ends.
const LONGEST: Duration = Duration::from_secs(120);

fn listed(variable: &str) -> Vec<String> {
    std::env::var(variable)
        .map(|v| {
            v.split(',')
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn points() -> &'static [String] {
    static POINTS: OnceLock<Vec<String>> = OnceLock::new();
    POINTS.get_or_init(|| listed(VARIABLE))
}

fn stuck_points() -> &'static [String] {
    static POINTS: OnceLock<Vec<String>> = OnceLock::new();
    POINTS.get_or_init(|| listed(STUCK))
}

/// Pauses at `point` if the environment asks for it (see the module
/// documentation).
pub fn reached(point: &str) {
    if stuck_points().iter().any(|p| p == point) {
        eprintln!("strata: stuck at {point}");
        let until = Instant::now() + LONGEST;
        while Instant::now() < until {
            std::hint::spin_loop();
        }
        return;
    }
    if !points().iter().any(|p| p == point) {
        return;
    }
    eprintln!("strata: paused at {point}");
    crate::off_the_runtime(|| {
        let until = Instant::now() + LONGEST;
        while Instant::now() < until {
            if crate::interrupt::installed().is_some_and(crate::interrupt::Interrupt::is_requested)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
}
