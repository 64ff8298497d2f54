//! How the quickstart talks: a progress bar per step (drawn only when stdout is a
//! terminal, so a log or a pipe gets plain lines), narration lines, and the table of
//! step timings at the end.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The narrator of the whole run: numbers the steps and keeps their timings.
pub struct Narrator {
    total: usize,
    done: Vec<(String, Duration)>,
    interactive: bool,
}

/// One step under way, with its progress bar.
pub struct Step {
    title: String,
    started: Instant,
    bar: ProgressBar,
}

impl Narrator {
    pub fn new(total: usize) -> Narrator {
        Narrator {
            total,
            done: Vec::new(),
            interactive: std::io::stdout().is_terminal(),
        }
    }

    /// Starts the next step; `len` is what its bar counts up to.
    pub fn step(&self, title: &str, len: u64) -> Step {
        let n = self.done.len() + 1;
        let heading = format!("[{n}/{}] {title}", self.total);
        println!("\n{heading}");
        // The bar goes to stderr so stdout stays a clean narration; it is drawn only
        // when stdout is a terminal too (a piped run gets no escape codes at all).
        let target = if self.interactive {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(len), target);
        bar.set_style(
            ProgressStyle::with_template("      [{bar:40.cyan/blue}] {pos:>5}/{len:5} {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(100));
        Step {
            title: title.to_owned(),
            started: Instant::now(),
            bar,
        }
    }

    /// Ends `step`, printing its outcome and keeping its time for the summary.
    pub fn finish(&mut self, step: Step, outcome: &str) {
        let took = step.started.elapsed();
        step.bar.finish_and_clear();
        println!("      done in {:.2} s: {outcome}", took.as_secs_f64());
        self.done.push((step.title, took));
    }

    /// The table of step timings.
    pub fn summary(&self) {
        let width = self.done.iter().map(|(t, _)| t.len()).max().unwrap_or(4);
        println!("\n{:<3} {:<width$}  {:>9}", "#", "step", "seconds");
        println!("{}", "-".repeat(width + 16));
        for (i, (title, took)) in self.done.iter().enumerate() {
            println!(
                "{:<3} {:<width$}  {:>9.2}",
                i + 1,
                title,
                took.as_secs_f64()
            );
        }
        let total: Duration = self.done.iter().map(|(_, d)| *d).sum();
        println!("{}", "-".repeat(width + 16));
        println!(
            "{:<3} {:<width$}  {:>9.2}",
            "",
            "total",
            total.as_secs_f64()
        );
    }
}

impl Step {
    /// Moves the bar to `pos` with `message` beside it.
    pub fn progress(&self, pos: u64, message: impl Into<std::borrow::Cow<'static, str>>) {
        self.bar.set_position(pos);
        self.bar.set_message(message);
    }

    /// Prints a narration line above the bar (and plainly when the bar is hidden).
    pub fn say(&self, line: impl AsRef<str>) {
        let line = line.as_ref();
        self.bar.suspend(|| println!("      {line}"));
    }
}
