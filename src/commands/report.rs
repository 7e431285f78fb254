//! `report`: `report.html` for a finished run folder of `infer`, `pixels` or `match`.
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::output;

/// Writes `run/report.html` from the run's own files; returns its path and size in bytes.
pub fn report(run: &Path) -> Result<(PathBuf, usize)> {
    let summary = run.join(output::matches::SUMMARY_FILE);
    let finished = run.join(output::SCORES_FILE).is_file() || (summary.is_file() && run.join(output::INDEX_FILE).is_file());
    if !finished {
        return Err(Error::Data {
            path: run.to_path_buf(),
            reason: format!(
                "not a finished run folder of infer or pixels (no {}), nor of match --report (no {})",
                output::SCORES_FILE,
                output::matches::SUMMARY_FILE
            ),
        });
    }
    let _lock = crate::files::Lock::acquire(run)?;
    let bytes = output::report::write(run, run)?;
    Ok((run.join(output::report::REPORT_FILE), bytes))
}
