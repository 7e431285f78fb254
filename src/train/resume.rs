//! What `train --resume` continues from: the state saved after each finished epoch (the
//! draws, the epochs so far, a print of the data), read back and checked against the
//! data found now before any saved weight is loaded.
use std::path::{Path, PathBuf};

// The generator StdRng wraps, with serde: its state goes into the resume state.
use rand_chacha::ChaCha12Rng as StdRng;
use serde::{Deserialize, Serialize};

use super::EpochMetrics;
use super::data::{FaceSet, IdentitySet};
use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::progress::Reporter;

/// Everything a run needs to continue after its last finished epoch, besides the weights
/// (`trainee.bpk`: the network and any CosFace head) and Adam's state (`optimizer.bpk`),
/// kept in `.<name>.resume/` beside the checkpoint until the run finishes.
#[derive(Serialize, Deserialize)]
pub(super) struct ResumeState {
    pub config: RunConfig,
    pub epochs: Vec<EpochMetrics>,
    pub rng: StdRng,
    pub order: Vec<usize>,
    pub labelled: Vec<(usize, usize)>,
    pub face_cursor: usize,
    /// Wall seconds the run had taken when this was saved, so that a resumed run's
    /// `total_seconds` counts the time before the interruption too (states saved before
    /// this field: 0, the time since resuming only).
    #[serde(default)]
    pub seconds: f64,
    /// The data the saved indices point into (states saved before this field: None, and
    /// only their indices are checked against the data found now).
    #[serde(default)]
    pub data: Option<DataPrint>,
}

/// What a run trains on, as a resumed run must find it again: the saved order, batches
/// and CosFace classes are indices into these images, so one file more or less shifts
/// every index after it (out of range: a panic; within it: silently other images).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub(super) struct DataPrint {
    /// Images read: the face / non-face set and every identity image.
    images: usize,
    /// FNV-1a of the face / non-face paths with their labels, the identity paths, and
    /// each trained person's name and image rows (after screening and hold-out), in order.
    digest: u64,
}

impl DataPrint {
    pub fn of(set: &FaceSet, people: Option<&IdentitySet>) -> Self {
        // NUL ends each path and name: no path holds one.
        let mut bytes = Vec::new();
        fn path(bytes: &mut Vec<u8>, p: &Path) {
            bytes.extend_from_slice(p.as_os_str().as_encoded_bytes());
            bytes.push(0);
        }
        for (p, &label) in set.paths.iter().zip(&set.labels) {
            bytes.push(label);
            path(&mut bytes, p);
        }
        let mut images = set.len();
        if let Some(id) = people {
            bytes.extend_from_slice(b"identity\0");
            id.paths.iter().for_each(|p| path(&mut bytes, p));
            images += id.paths.len();
            for (name, rows) in id.names.iter().zip(&id.people) {
                path(&mut bytes, Path::new(name));
                rows.iter().for_each(|&r| bytes.extend_from_slice(&(r as u64).to_le_bytes()));
            }
        }
        DataPrint { images, digest: crate::files::fnv1a(bytes) }
    }
}

/// Refuses to resume `state` on data other than it was saved on, before any saved weight
/// is loaded (a person fewer is a CosFace head of another shape). `train_idx` and
/// `labelled` are the fresh run's, of which the saved `order` and `labelled` are shuffles.
pub(super) fn check_resumable(
    state: &ResumeState,
    now: DataPrint,
    train_idx: &[usize],
    labelled: &[(usize, usize)],
    path: &Path,
) -> Result<()> {
    let fits = match state.data {
        Some(then) => then == now,
        // Saved before the digest: the saved indices must at least be the fresh run's.
        None => {
            let mut order = state.order.clone();
            order.sort_unstable();
            let (mut saved, mut fresh) = (state.labelled.clone(), labelled.to_vec());
            saved.sort_unstable();
            fresh.sort_unstable();
            order == train_idx && saved == fresh
        }
    };
    if fits {
        return Ok(());
    }
    let counts = match state.data {
        Some(then) if then.images != now.images => format!(" ({} images then, {} now)", then.images, now.images),
        Some(then) => format!(" ({} images then and now, but not the same ones)", then.images),
        None => String::new(),
    };
    Err(Error::Checkpoint {
        path: path.to_path_buf(),
        reason: format!("the training data changed since the interrupted run{counts}; start afresh without --resume"),
    })
}

pub(super) const RESUME_STATE: &str = "state.json";
pub(super) const RESUME_WEIGHTS: &str = "trainee.bpk";
pub(super) const RESUME_OPTIMIZER: &str = "optimizer.bpk";

/// `.<name>.resume/` beside the checkpoint `checkpoint`.
pub(super) fn resume_dir(checkpoint: &Path) -> PathBuf {
    checkpoint.with_file_name(format!(".{}.resume", checkpoint.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()))
}

/// The resume state of the interrupted run of `cfg` whose checkpoint goes to `checkpoint`,
/// kept in `dir`: refused when there is none, it is damaged, or it was saved by a run of
/// another config.
pub(super) fn read(cfg: &RunConfig, checkpoint: &Path, dir: &Path, reporter: Reporter) -> Result<ResumeState> {
    // A kill while the state was being replaced left it aside: put it back first.
    crate::files::recover_if_idle(dir, reporter)?;
    let path = dir.join(RESUME_STATE);
    let text = std::fs::read_to_string(&path).map_err(|_| Error::Checkpoint {
        path: checkpoint.to_path_buf(),
        reason: "no interrupted run to resume (no finished epoch was saved)".into(),
    })?;
    let state: ResumeState =
        serde_json::from_str(&text).map_err(|e| Error::Checkpoint { path: path.clone(), reason: format!("damaged resume state ({e})") })?;
    if state.config != *cfg {
        return Err(Error::Checkpoint { path, reason: "the interrupted run had another config; resume it with the same flags".into() });
    }
    Ok(state)
}
