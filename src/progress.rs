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
