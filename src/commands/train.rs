//! `train` and `calibrate`: a checkpoint trained, then calibrated on the people its
//! training held out, so that every caller (the command line, `experiment`, a Rust
//! program) gets a calibrated checkpoint from one call.
use std::path::{Path, PathBuf};

use burn::prelude::Device;

use crate::backend::{self, Backend};
use crate::calibrate::{self, Calibration};
use crate::config::RunConfig;
use crate::error::Result;
use crate::model::FaceNet;
use crate::model::checkpoint::Checkpoint;
use crate::progress::Reporter;
use crate::train::{self, TrainMetrics};

/// A finished training run: where its checkpoint is, its numbers, and its calibration
/// when it held people out.
pub struct Trained {
    pub checkpoint: PathBuf,
    pub metrics: TrainMetrics,
    /// The trained network, ready for inference on the device it was trained on.
    pub model: FaceNet,
    pub calibration: Option<Calibration>,
}

/// Trains `cfg` on `backend` into `out/<cfg.name>` ([`train::train`]) and, when the run
/// held people out, calibrates the checkpoint on them.
pub fn train_and_calibrate(cfg: &RunConfig, backend: Backend, device: &Device, out: &Path, opts: train::Options) -> Result<Trained> {
    let outcome = train::train(cfg, backend, device, out, opts)?;
    let calibration = if outcome.metrics.held_out.is_empty() {
        None
    } else {
        let ck = Checkpoint::open(&outcome.checkpoint, opts.reporter)?;
        Some(calibrate::calibrate_checkpoint(&ck, &outcome.model, &outcome.metrics.held_out, device, opts.reporter.bars)?)
    };
    Ok(Trained { checkpoint: outcome.checkpoint, metrics: outcome.metrics, model: outcome.model, calibration })
}

/// Calibrates the checkpoint `model` again on its held-out people (`facemb calibrate`).
pub fn calibrate(model: &Path, backend: Backend, reporter: Reporter) -> Result<(Checkpoint, Calibration)> {
    let ck = Checkpoint::open(model, reporter)?;
    let held = calibrate::held_out_people(&ck)?;
    let device = backend::device(backend)?;
    let net = ck.load_model(&device)?;
    let cal = calibrate::calibrate_checkpoint(&ck, &net, &held, &device, reporter.bars)?;
    Ok((ck, cal))
}
