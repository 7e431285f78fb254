//! What a run trains on, made ready before the first epoch: the face / non-face set and
//! its stratified split, and the identity people (screened, then some held out for
//! calibration), with the header lines that say so.
use burn::prelude::*;

use super::data::{FaceSet, HeldOut, IdentitySet, stratified_split};
use super::resume::DataPrint;
use super::screen;
use crate::backend::Backend;
use crate::config::{IdentityConfig, IdentityLoss, RunConfig};
use crate::error::Result;
use crate::image::folder::report_skipped;
use crate::progress::Reporter;

/// The data of a run, read and split.
pub(super) struct Prepared<'a> {
    pub set: FaceSet,
    pub train_idx: Vec<usize>,
    pub val_idx: Vec<usize>,
    /// The identity loss's settings and the people it trains on, when the run has one.
    pub people: Option<(&'a IdentityConfig, IdentitySet)>,
    /// Identity-pool people kept out of training for calibration.
    pub held_out: Vec<HeldOut>,
    /// Identity images the screen took out.
    pub screened_out: Vec<screen::Screened>,
}

impl<'a> Prepared<'a> {
    /// The identity settings and people when the identity loss is CosFace (whose class
    /// weights train beside the network, and whose epoch is a pass over the people's images).
    pub fn cosface(&self) -> Option<&(&'a IdentityConfig, IdentitySet)> {
        self.people.as_ref().filter(|(id, _)| id.loss == IdentityLoss::Cosface)
    }

    /// The print a resumed run must find again.
    pub fn print(&self) -> DataPrint {
        DataPrint::of(&self.set, self.people.as_ref().map(|(_, p)| p))
    }
}

/// Reads `cfg`'s face / non-face set (at most `max_per_class` a class) and splits it, then
/// its identity people ([`people`]); skipped files are reported.
pub(super) fn prepare<'a>(cfg: &'a RunConfig, device: &Device, reporter: Reporter) -> Result<Prepared<'a>> {
    let t = &cfg.training;
    let mut set = FaceSet::load(&cfg.data, cfg.image_spec())?;
    if t.max_per_class > 0 {
        set = set.limit_per_class(t.max_per_class);
    }
    report_skipped("training data", &set.skipped, reporter);
    let (train_idx, val_idx) = stratified_split(&set.labels, t.val_fraction, t.seed);
    let (people, held_out, screened_out) = match &cfg.identity {
        Some(id) => {
            let (p, held_out, screened_out) = people(cfg, id, device, reporter)?;
            (Some((id, p)), held_out, screened_out)
        }
        None => (None, Vec::new(), Vec::new()),
    };
    Ok(Prepared { set, train_idx, val_idx, people, held_out, screened_out })
}

/// The identity people of `id`: read, screened when `[identity.screen]` asks, then
/// `id.holdout` of them held out (seeded by the run's seed).
fn people(
    cfg: &RunConfig,
    id: &IdentityConfig,
    device: &Device,
    reporter: Reporter,
) -> Result<(IdentitySet, Vec<HeldOut>, Vec<screen::Screened>)> {
    // A margin-softmax head takes a person with one image as a class; SupCon pairs
    // two images of each person it draws.
    let min_images = if id.loss == IdentityLoss::Cosface { 1 } else { 2 };
    let mut p = IdentitySet::load(&id.folders(), cfg.image_spec(), min_images)?;
    report_skipped("identity data", &p.skipped, reporter);
    let mut screened_out = Vec::new();
    // Before the hold-out, so that calibration people are screened alike.
    if let Some(s) = &id.screen {
        screened_out = screen::screen(&mut p, s, device, reporter)?;
        reporter.progress(format!(
            "  screened by {}: {} identity images with P(face) < {} dropped",
            s.model.display(),
            screened_out.len(),
            s.below
        ));
    }
    let held_out = p.hold_out(id.holdout, cfg.training.seed);
    if held_out.len() < id.holdout {
        // Only people with a pair can be held out; with fewer, calibration after
        // training has fewer people to go on, or none at all.
        let what = match held_out.len() {
            0 => "no person in the identity data has 2 or more images: none is held out, and the checkpoint will not be calibrated".into(),
            1 => "only 1 person in the identity data has 2 or more images: 1 held out for calibration".into(),
            n => format!("only {n} people in the identity data have 2 or more images: {n} held out for calibration"),
        };
        reporter.warn(format!("[identity] holdout = {}, but {what}", id.holdout));
    }
    Ok((p, held_out, screened_out))
}

/// The lines that open a run: what it trains on, how, and who is held out.
pub(super) fn header(cfg: &RunConfig, backend: Backend, data: &Prepared) -> Vec<String> {
    let mut lines = vec![format!(
        "training {} on {} ({} train / {} validation images, {} skipped), backend {backend}, embedding {}",
        cfg.name,
        cfg.data.display(),
        data.train_idx.len(),
        data.val_idx.len(),
        data.set.skipped.len(),
        cfg.model.embedding_size
    )];
    if let Some((id, p)) = &data.people {
        let folders: Vec<String> = id.folders().iter().map(|f| f.display().to_string()).collect();
        let how = match id.loss {
            IdentityLoss::Supcon => format!("SupCon, {} people with ≥ 2 images, {} per batch", p.people.len(), id.people_per_batch),
            IdentityLoss::Cosface => format!(
                "CosFace s {} m {}, {} people, {} images, {} per batch",
                id.scale,
                id.margin,
                p.people.len(),
                p.labelled().len(),
                id.batch_size
            ),
        };
        lines.push(format!("  + identity loss on {} ({how}, weight {})", folders.join(" + "), id.weight));
        if !data.held_out.is_empty() {
            lines.push(format!("  {} people held out of training for calibration", data.held_out.len()));
        }
    }
    lines
}
