//! All terminal I/O goes through [`Ui`]: whether colour is on, whether
//! stderr is a terminal (live progress) or not (plain lines), and verbosity.
//! Keeping it in one object is what lets a run without a TTY behave
//! predictably and lets tests drive the binary through a real pty.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use anstyle::{AnsiColor, Style};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::interrupt::{Interrupt, Level};

/// The user's colour choice (`--no-color`, `NO_COLOR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Never,
}

/// Terminal capabilities and preferences for one run.
#[derive(Debug, Clone)]
pub struct Ui {
    color: ColorChoice,
    stdout_tty: bool,
    stderr_tty: bool,
    stdin_tty: bool,
    quiet: bool,
}

/// What a person answered at a prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Exactly the word asked for.
    Yes,
    /// Anything else, as typed (trimmed).
    No(String),
    /// Input ended (Ctrl-D, a closed stdin).
    Eof,
    /// Ctrl-C at the prompt.
    Interrupted,
}

impl Answer {
    /// How the answer is described in records and messages.
    pub fn describe(&self) -> String {
        match self {
            Answer::Yes => "yes".to_owned(),
            Answer::No(text) if text.is_empty() => "an empty answer".to_owned(),
            Answer::No(text) => format!("{text:?}"),
            Answer::Eof => "end of input".to_owned(),
            Answer::Interrupted => "Ctrl-C".to_owned(),
        }
    }
}

/// Styles used across renderers, so the palette lives in one place.
pub mod style {
    use super::*;
    pub const CREATE: Style = AnsiColor::Green.on_default();
    pub const UPDATE: Style = AnsiColor::Yellow.on_default();
    pub const DESTROY: Style = AnsiColor::Red.on_default().bold();
    pub const NOTE: Style = AnsiColor::Cyan.on_default();
    pub const DIM: Style = Style::new().dimmed();
    pub const BOLD: Style = Style::new().bold();
    pub const ERROR: Style = AnsiColor::Red.on_default().bold();
    pub const HINT: Style = AnsiColor::Cyan.on_default().bold();
}

impl Ui {
    pub fn new(color: ColorChoice, quiet: bool) -> Ui {
        Ui {
            color,
            stdout_tty: std::io::stdout().is_terminal(),
            stderr_tty: std::io::stderr().is_terminal(),
            stdin_tty: std::io::stdin().is_terminal(),
            quiet,
        }
    }

    /// A Ui that never colours and never shows live progress.
    pub fn plain() -> Ui {
        Ui {
            color: ColorChoice::Never,
            stdout_tty: false,
            stderr_tty: false,
            stdin_tty: false,
            quiet: true,
        }
    }

    /// Whether a report written to stdout should be coloured.
    pub fn color_stdout(&self) -> bool {
        self.color == ColorChoice::Auto && self.stdout_tty
    }

    pub fn color_stderr(&self) -> bool {
        self.color == ColorChoice::Auto && self.stderr_tty
    }

    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// Paints `text` with `style` when `on`.
    pub fn paint(on: bool, style: Style, text: &str) -> String {
        if on {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_owned()
        }
    }

    /// Prints an error with its causes and hints to stderr.
    pub fn error(&self, message: &str, causes: &[String], hints: &[String]) {
        let c = self.color_stderr();
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{} {message}", Ui::paint(c, style::ERROR, "error:"));
        if !causes.is_empty() {
            let _ = writeln!(err, "Caused by:");
            for cause in causes {
                for (i, line) in cause.lines().enumerate() {
                    let lead = if i == 0 { "  " } else { "    " };
                    let _ = writeln!(err, "{lead}{line}");
                }
            }
        }
        for hint in hints {
            let _ = writeln!(err, "{} {hint}", Ui::paint(c, style::HINT, "hint:"));
        }
    }

    /// A status line for humans on stderr (suppressed by `-q`).
    pub fn status(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    /// A message a person must act on (the commands that approve a run),
    /// on stderr even with `-q`.
    pub fn notice(&self, text: &str) {
        eprintln!("{text}");
    }

    /// Whether a person can be asked: stdin and stderr are terminals.
    pub fn can_prompt(&self) -> bool {
        self.stdin_tty && self.stderr_tty
    }

    /// Shows `text` on stderr and reads one line from stdin. Only exactly
    /// `word` is [`Answer::Yes`]; Ctrl-C ends the wait at once.
    pub async fn confirm(&self, text: &str, word: &str, interrupt: &Interrupt) -> Answer {
        {
            let mut err = std::io::stderr().lock();
            // Live progress leaves the cursor at the end of its last line.
            let _ = write!(err, "\n{text}");
            let _ = err.flush();
        }
        // A plain thread, not spawn_blocking: a read that never returns
        // must not keep the runtime (and so the process) alive after Ctrl-C.
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let read = std::io::stdin().lock().read_line(&mut line);
            let _ = tx.send(read.map(|n| (n, line)));
        });
        let answer = tokio::select! {
            read = rx => match read {
                Ok(Ok((0, _))) | Ok(Err(_)) | Err(_) => Answer::Eof,
                Ok(Ok((_, line))) => {
                    let line = line.trim();
                    if line == word {
                        Answer::Yes
                    } else {
                        Answer::No(line.to_owned())
                    }
                }
            },
            () = interrupt.reached(Level::Graceful) => Answer::Interrupted,
        };
        if matches!(answer, Answer::Eof | Answer::Interrupted) {
            // The cursor is still on the prompt line.
            eprintln!();
        }
        answer
    }

    /// Progress for a set of named tasks: spinners on a terminal, plain
    /// lines otherwise, nothing with `-q`.
    pub fn progress(&self) -> Progress {
        let live = self.stderr_tty && !self.quiet;
        let multi = MultiProgress::with_draw_target(if live {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        Progress {
            multi,
            live,
            quiet: self.quiet,
        }
    }
}

/// Live progress of concurrent tasks (stacks being planned).
#[derive(Debug, Clone)]
pub struct Progress {
    multi: MultiProgress,
    live: bool,
    quiet: bool,
}

/// One task's line in a [`Progress`].
#[derive(Debug, Clone)]
pub struct Task {
    bar: ProgressBar,
    name: String,
    live: bool,
    quiet: bool,
}

impl Progress {
    pub fn task(&self, name: &str) -> Task {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix:.bold} {msg} {elapsed:.dim}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(name.to_owned());
        if self.live {
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        Task {
            bar,
            name: name.to_owned(),
            live: self.live,
            quiet: self.quiet,
        }
    }
}

impl Task {
    /// The task moved on to a new step ("init", "plan").
    pub fn step(&self, what: &str) {
        crate::failpoint::reached(&format!("{}/{what}", self.name));
        if self.live {
            self.bar.set_message(what.to_owned());
        } else if !self.quiet {
            eprintln!("{}: {what}", self.name);
        }
    }

    /// The task is done; `outcome` stays on screen (or is printed).
    pub fn finish(&self, outcome: &str) {
        if self.live {
            self.bar.set_style(
                ProgressStyle::with_template("  {prefix:.bold} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            self.bar.finish_with_message(outcome.to_owned());
        } else if !self.quiet {
            eprintln!("{}: {outcome}", self.name);
        }
    }
}
