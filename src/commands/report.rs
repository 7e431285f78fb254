//! `report`: `report.html` for a finished run folder of `infer`, `pixels` or `match`.
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::output;
use crate::progress::Reporter;

/// Writes `run/report.html` from the run's own files (a layout it has to draw is said
/// through `reporter`); returns its path and size in bytes.
pub fn report(run: &Path, reporter: Reporter) -> Result<(PathBuf, usize)> {
    // exists(), not is_file(): a pipe or folder in a run file's place is an error naming
    // it (the report reads every file as a regular one), not "no such file".
    let (scores, summary, index) = (run.join(output::SCORES_FILE), run.join(output::SUMMARY_FILE), run.join(output::INDEX_FILE));
    let not_a_run = |reason: String| Err(Error::Data { path: run.to_path_buf(), reason });
    if !scores.exists() && summary.exists() && !index.exists() {
        return not_a_run(format!("a match run written without --report keeps no {}; rerun match with --report", output::INDEX_FILE));
    }
    if !scores.exists() && !summary.exists() {
        return not_a_run(format!(
            "not a finished run folder of infer or pixels (no {}), nor of match --report (no {})",
            output::SCORES_FILE,
            output::SUMMARY_FILE
        ));
    }
    let _lock = crate::files::Lock::acquire(run)?;
    let bytes = output::report::write(run, run, reporter)?;
    Ok((run.join(output::report::REPORT_FILE), bytes))
}
