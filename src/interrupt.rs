//! Ctrl-C and SIGTERM, turned into a value that is passed down.
//!
//! The first signal asks for a graceful stop: running Terraform processes get
//! one SIGINT, so they finish their current step and release their state
//! lock. The second signal asks for a hard stop: children are killed. Nothing
//! below the binary reads signals itself; it receives an [`Interrupt`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::watch;

/// How long a hard stop may take before the process ends regardless.
const HARD_STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// After a hard stop: if the process is still alive after
/// [`HARD_STOP_GRACE`] (busy in work that does not look at the interrupt,
/// such as a parser), `on_stuck` runs (it kills the children) and the
/// process exits 1. The next run repairs what is left, as after a crash.
fn watchdog(on_stuck: fn()) {
    let spawned = std::thread::Builder::new()
        .name("strata-hard-stop".to_owned())
        .spawn(move || {
            std::thread::sleep(HARD_STOP_GRACE);
            on_stuck();
            eprintln!(
                "error: interrupted: strata did not stop within {} s of the second interrupt; exiting",
                HARD_STOP_GRACE.as_secs()
            );
            std::process::exit(1);
        });
    if let Err(e) = spawned {
        tracing::error!("cannot watch the hard stop: {e}");
    }
}

/// The process's own interrupt, once [`Interrupt::install`] ran.
static INSTALLED: OnceLock<Interrupt> = OnceLock::new();

/// The interrupt the signal handler feeds, if one was installed (the
/// binary installs it first thing; library callers may not).
pub fn installed() -> Option<&'static Interrupt> {
    INSTALLED.get()
}

/// An interrupt that never fires, for work started where no interrupt was
/// passed down (a library caller that installed none).
pub fn never() -> Interrupt {
    static NEVER: OnceLock<(Trigger, Interrupt)> = OnceLock::new();
    NEVER.get_or_init(Interrupt::new).1.clone()
}

/// How far a stop has been asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    None,
    Graceful,
    Hard,
}

/// A cloneable view of the stop requests. Cheap to clone; pass it down.
#[derive(Clone, Debug)]
pub struct Interrupt {
    rx: watch::Receiver<Level>,
    flag: Arc<AtomicBool>,
}

/// The sending half, held by whatever listens for signals.
#[derive(Debug)]
pub struct Trigger {
    tx: watch::Sender<Level>,
    flag: Arc<AtomicBool>,
}

impl Trigger {
    /// Raises the level by one step: none → graceful → hard.
    pub fn escalate(&self) -> Level {
        let mut now = Level::None;
        self.tx.send_modify(|level| {
            *level = match *level {
                Level::None => Level::Graceful,
                _ => Level::Hard,
            };
            now = *level;
        });
        self.flag.store(true, Ordering::SeqCst);
        now
    }
}

impl Interrupt {
    /// A connected pair.
    pub fn new() -> (Trigger, Interrupt) {
        let (tx, rx) = watch::channel(Level::None);
        let flag = Arc::new(AtomicBool::new(false));
        (
            Trigger {
                tx,
                flag: flag.clone(),
            },
            Interrupt { rx, flag },
        )
    }

    /// Listens for SIGINT and SIGTERM on a thread of its own. Each signal
    /// escalates by one level and is acknowledged on stderr at once.
    ///
    /// After a second signal, `on_stuck` runs and the process exits if it
    /// has not ended within a grace period.
    ///
    /// Call it first, before any other thread exists (the async runtime's
    /// included): the two signals are blocked in the calling thread, every
    /// thread started later inherits that mask, and the listening thread
    /// takes them with `sigwait`. So no signal is ever handled by a
    /// thread that is busy, blocked in a system call, or waiting for the
    /// runtime to poll it; the acknowledgement does not depend on the
    /// runtime at all. Children get an empty mask (the standard library
    /// resets it before `exec`).
    ///
    /// # Errors
    /// When the mask cannot be set or the thread cannot be started.
    pub fn install(on_stuck: fn()) -> std::io::Result<Interrupt> {
        use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
        let (trigger, interrupt) = Interrupt::new();
        let _ = INSTALLED.set(interrupt.clone());
        let mut set = SigSet::empty();
        set.add(Signal::SIGINT);
        set.add(Signal::SIGTERM);
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None).map_err(std::io::Error::from)?;
        std::thread::Builder::new()
            .name("strata-signals".to_owned())
            .spawn(move || {
                loop {
                    let signal = match set.wait() {
                        Ok(signal) => signal,
                        Err(e) => {
                            tracing::error!("cannot wait for signals: {e}");
                            return;
                        }
                    };
                    let name = match signal {
                        Signal::SIGTERM => "SIGTERM",
                        _ => "interrupt",
                    };
                    match trigger.escalate() {
                        Level::Hard => {
                            tracing::warn!("second {name}: stopping now");
                            watchdog(on_stuck);
                        }
                        _ => tracing::warn!(
                            "{name} received: stopping gracefully; nothing new starts (press Ctrl-C again to stop at once)"
                        ),
                    }
                }
            })?;
        Ok(interrupt)
    }

    pub fn level(&self) -> Level {
        *self.rx.borrow()
    }

    pub fn is_requested(&self) -> bool {
        self.level() > Level::None
    }

    /// The flag gix's blocking operations poll.
    pub fn flag(&self) -> &AtomicBool {
        &self.flag
    }

    /// Resolves once the level is at least `level`. Cancel-safe.
    pub async fn reached(&self, level: Level) {
        let mut rx = self.rx.clone();
        // An error means every trigger is gone, so the level can never rise.
        if rx.wait_for(|now| *now >= level).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
