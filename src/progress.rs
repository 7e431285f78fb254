//! The one progress-bar helper: training epochs, embedding and experiment steps all draw
//! their bars here, hidden when the user asked for quiet (`--quiet`) or in the library's
//! silent calls.
use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` steps drawn with `template` (indicatif's syntax), or a hidden one.
pub fn bar(len: usize, template: &str, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len as u64);
    pb.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> "));
    pb
}

/// A line of progress for the user above `pb` (plain on stderr when the bar is hidden, as
/// in a log); nothing unless `reporter` shows progress ([`Reporter::progress`]).
pub fn say(pb: &ProgressBar, reporter: Reporter, line: &str) {
    if !reporter.shows_progress() {
    } else if pb.is_hidden() {
        eprintln!("{line}");
    } else {
        pb.println(line);
    }
}

/// Where a library call's progress and messages go: the command line hands each call one
/// (bars unless `--quiet`, messages always), a Rust caller may hand [`Reporter::SILENT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reporter {
    /// Draw progress bars.
    pub bars: bool,
    /// Print notes and warnings (on standard error).
    pub messages: bool,
}

impl Reporter {
    pub const SILENT: Reporter = Reporter { bars: false, messages: false };

    /// The command line's: bars unless `quiet`, messages always.
    pub fn cli(quiet: bool) -> Self {
        Reporter { bars: !quiet, messages: true }
    }

    /// Whether progress is shown: bars, and the lines that go with them.
    pub fn shows_progress(&self) -> bool {
        self.bars && self.messages
    }

    /// A line of progress (a run's header, an epoch's summary): shown with the bars, left
    /// out with them (`--quiet`), unlike notes and warnings.
    pub fn progress(&self, line: impl std::fmt::Display) {
        if self.shows_progress() {
            eprintln!("{line}");
        }
    }

    /// A line for the user.
    pub fn note(&self, line: impl std::fmt::Display) {
        if self.messages {
            eprintln!("{line}");
        }
    }

    /// A line for the user that something was not as expected.
    pub fn warn(&self, line: impl std::fmt::Display) {
        if self.messages {
            eprintln!("warning: {line}");
        }
    }
}
