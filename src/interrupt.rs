//! Ctrl-C and SIGTERM, turned into a value that is passed down.
//!
//! The first signal asks for a graceful stop: running Terraform processes get
//! one SIGINT, so they finish their current step and release their state
//! lock. The second signal asks for a hard stop: children are killed. Nothing
//! below the binary reads signals itself; it receives an [`Interrupt`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

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

    /// Listens for SIGINT and SIGTERM on the current tokio runtime. Each
    /// signal escalates by one level.
    ///
    /// # Errors
    /// When the signal handlers cannot be registered.
    pub fn install() -> std::io::Result<Interrupt> {
        use tokio::signal::unix::{SignalKind, signal};
        let (trigger, interrupt) = Interrupt::new();
        let mut sigint = signal(SignalKind::interrupt())?;
        let mut sigterm = signal(SignalKind::terminate())?;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = sigint.recv() => {}
                    _ = sigterm.recv() => {}
                }
                match trigger.escalate() {
                    Level::Hard => tracing::warn!("second interrupt: stopping now"),
                    _ => tracing::warn!(
                        "interrupt received: stopping gracefully (press Ctrl-C again to stop at once)"
                    ),
                }
            }
        });
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
