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

/// One line for the user above `pb` (plain on stderr when the bar is hidden, as in a
/// log); nothing when `show` is false.
pub fn say(pb: &ProgressBar, show: bool, line: &str) {
    if !show {
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
