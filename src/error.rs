//! The one error type of the library. `main.rs` prints it on one line and exits non-zero
//! (a [`Error::Usage`] as clap formats it, with clap's exit code); nothing in the
//! pipeline panics on bad input.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A copy that failed: the destination is named first (a full disk is the
    /// destination's problem, not the source image's).
    #[error("{to}: cannot copy {from} there: {source}")]
    Copy {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Data { path: PathBuf, reason: String },
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    #[error("{0}")]
    Invalid(String),
    #[error("{what}: {reason}")]
    Compute { what: &'static str, reason: String },
    /// An output folder this run may not write (a file, inside the input, holding
    /// someone else's files).
    #[error("{flag} {path}: {reason}")]
    Output { flag: &'static str, path: PathBuf, reason: String },
    #[error("chart {path}: {reason}")]
    Plot { path: PathBuf, reason: String },
    /// Training produced a non-finite loss: it stops there and writes no checkpoint.
    #[error("training diverged at epoch {epoch}, batch {batch}: {what} loss is {value}; no checkpoint written (try a lower learning rate)")]
    Diverged { epoch: usize, batch: usize, what: &'static str, value: f64 },
    /// Another run holds the lock on a folder this run would write.
    #[error("{path}: another facemb run is writing it (lock {lock} is held); wait for it or choose another destination")]
    Busy { path: PathBuf, lock: PathBuf },
    /// A clustering whose working memory on this many rows passes the budget
    /// (`cluster::MEMORY_BUDGET`): full average linkage's n²/2 distances, the radius scan's
    /// neighbour lists.
    #[error("{method} on {n} faces would need {} of memory, over the {} budget; use the automatic grouping (--methods {instead}), which needs no N×N matrix", gb(.needs), gb(.budget))]
    TooLarge { method: &'static str, n: usize, needs: u64, budget: u64, instead: String },
    /// `--help`, `--version` or a mistake in the command line, as clap reports it.
    #[error("{0}")]
    Usage(clap::Error),
}

/// Bytes as gigabytes with one decimal.
fn gb(bytes: &u64) -> String {
    format!("{:.1} GB", *bytes as f64 / 1e9)
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}
