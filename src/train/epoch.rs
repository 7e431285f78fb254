//! A run between its epochs, and one epoch of steps: the optimiser, the seeded draws
//! (data order, flips, identity batches, augmentation, in one generator whose order of
//! draws every checkpoint trained so far depends on), and the state `--resume` saves.
use std::path::Path;
use std::time::Instant;

use burn::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
// The generator StdRng wraps, with serde: its state goes into the resume state.
use rand_chacha::ChaCha12Rng as StdRng;

use super::data::Batcher;
use super::loss::{CosFaceHead, FaceStep, bce_stats, supcon_loss};
use super::prepare::Prepared;
use super::resume::{self, DataPrint, RESUME_OPTIMIZER, RESUME_STATE, RESUME_WEIGHTS, ResumeState};
use super::{EpochMetrics, Trainee, augment, validate};
use crate::backend::to_vec;
use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::files::{Staged, fault_point, write_json};
use crate::progress::{self, Reporter};

/// A run between epochs: Adam, the batcher, where the draws stand (the generator, the
/// face / non-face order, CosFace's order of identity images and the face batches'
/// place beside it), and the epochs finished so far. The network itself passes through
/// each epoch by value ([`Run::epoch`]).
pub(super) struct Run {
    /// The device validation runs on (training runs on its autodiff twin).
    device: Device,
    step: FaceStep,
    batcher: Batcher,
    rng: StdRng,
    order: Vec<usize>,
    /// With CosFace an epoch is one pass over these (image, person) rows; the face /
    /// non-face batches cycle through `order` beside them, reshuffled at each wrap.
    labelled: Vec<(usize, usize)>,
    face_cursor: usize,
    /// The data's print, saved with the state.
    print: DataPrint,
    pub epochs: Vec<EpochMetrics>,
    /// Wall seconds the run had taken before it was resumed.
    pub seconds_before: f64,
}

/// The sums an epoch's summary is made of.
#[derive(Default)]
struct Tally {
    loss: f64,
    correct: usize,
    seen: usize,
    id_loss: f64,
    id_batches: usize,
    id_images: usize,
}

impl Run {
    /// A fresh run of `cfg` on `data`: the device seeded, the network (and CosFace head)
    /// initialised on its autodiff twin, the generator seeded.
    pub fn start(cfg: &RunConfig, data: &Prepared, device: &Device) -> (Trainee, Run) {
        let t = &cfg.training;
        device.seed(t.seed);
        let ad = device.clone().autodiff();
        // CosFace's class weights train beside the network and are dropped at the end.
        let cosface = data.cosface();
        let model = Trainee {
            net: cfg.model.init(&ad),
            head: cosface.map(|(_, p)| CosFaceHead::new(p.people.len(), cfg.model.embedding_size, &ad)),
        };
        let step = FaceStep::new(&ad);
        let batcher = Batcher { device: ad.clone() };
        let rng = StdRng::seed_from_u64(t.seed ^ 0x9e37_79b9_7f4a_7c15);
        let order = data.train_idx.clone();
        let labelled = cosface.map(|(_, p)| p.labelled()).unwrap_or_default();
        let run = Run {
            device: device.clone(),
            step,
            batcher,
            rng,
            face_cursor: order.len(),
            order,
            labelled,
            print: data.print(),
            epochs: Vec::with_capacity(t.epochs),
            seconds_before: 0.0,
        };
        (model, run)
    }

    /// Continues from `state` (read from `dir`): checked against `data` first, then the
    /// saved weights, Adam's state and the draws take the fresh run's place.
    pub fn resume(&mut self, model: Trainee, state: ResumeState, data: &Prepared, dir: &Path) -> Result<Trainee> {
        resume::check_resumable(&state, self.print, &data.train_idx, &self.labelled, &dir.join(RESUME_STATE))?;
        let weights = dir.join(RESUME_WEIGHTS);
        let model =
            model.try_load_file(&weights).map_err(|e| Error::Checkpoint { path: weights, reason: format!("resume weights: {e}") })?;
        self.step.load_state(&dir.join(RESUME_OPTIMIZER))?;
        (self.rng, self.order, self.labelled, self.face_cursor, self.epochs, self.seconds_before) =
            (state.rng, state.order, state.labelled, state.face_cursor, state.epochs, state.seconds);
        Ok(model)
    }

    /// Trains epoch `epoch` (from 1) of `cfg` on `data`; returns the model after its last
    /// step and its summary (validated on the held-out images). A non-finite loss stops it.
    pub fn epoch(
        &mut self,
        mut model: Trainee,
        epoch: usize,
        cfg: &RunConfig,
        data: &Prepared,
        reporter: Reporter,
    ) -> Result<(Trainee, EpochMetrics)> {
        let t = &cfg.training;
        let steps = match data.cosface() {
            Some((id, _)) => {
                self.labelled.shuffle(&mut self.rng);
                self.labelled.len().div_ceil(id.batch_size)
            }
            None => {
                self.order.shuffle(&mut self.rng);
                self.order.len().div_ceil(t.batch_size)
            }
        };
        let epoch_start = Instant::now();
        let pb = progress::bar(steps, "epoch {prefix} [{bar:30}] {pos}/{len} batches {msg} ({eta})", reporter.bars);
        pb.set_prefix(format!("{epoch}/{}", t.epochs));
        let mut sum = Tally::default();
        for s in 0..steps {
            let chunk = self.face_batch(s, data.cosface().is_some(), t.batch_size);
            let lr = t.lr_schedule.rate(t.learning_rate, (epoch - 1) * steps + s, t.epochs * steps);
            let (stepped, logits, identity) = self.step(model, &chunk, lr, s, cfg, data);
            model = stepped;
            let last_id_loss = identity.map_or(0.0, |(l, _)| l);
            if let Some((l, images)) = identity {
                (sum.id_loss, sum.id_batches, sum.id_images) = (sum.id_loss + l, sum.id_batches + 1, sum.id_images + images);
            }
            let labels: Vec<u8> = chunk.iter().map(|&i| data.set.labels[i]).collect();
            let (l, c) = bce_stats(&to_vec(logits)?, &labels);
            // A non-finite loss poisons every weight at the next step: stop before a
            // checkpoint of NaNs can replace a good one.
            for (what, value) in [("face / non-face", l), ("identity", last_id_loss)] {
                if !value.is_finite() {
                    return Err(Error::Diverged { epoch, batch: s + 1, what, value });
                }
            }
            (sum.loss, sum.correct, sum.seen) = (sum.loss + l, sum.correct + c, sum.seen + chunk.len());
            pb.set_message(format!("loss {:.4} acc {:.3}", sum.loss / sum.seen as f64, sum.correct as f64 / sum.seen as f64));
            pb.inc(1);
        }
        let train_secs = epoch_start.elapsed().as_secs_f64();
        pb.finish_and_clear();
        let (val_loss, val_accuracy) = if data.val_idx.is_empty() {
            (None, None)
        } else {
            let (l, a) = validate(&model.net.valid(), &data.set, &data.val_idx, &self.device)?;
            (Some(l), Some(a))
        };
        let m = EpochMetrics {
            epoch,
            train_loss: sum.loss / sum.seen.max(1) as f64,
            identity_loss: (sum.id_batches > 0).then(|| sum.id_loss / sum.id_batches as f64),
            train_accuracy: sum.correct as f64 / sum.seen.max(1) as f64,
            val_loss,
            val_accuracy,
            train_images_per_sec: (sum.seen + sum.id_images) as f64 / train_secs,
            seconds: epoch_start.elapsed().as_secs_f64(),
        };
        Ok((model, m))
    }

    /// The face / non-face rows of step `s`: with CosFace the next `batch` of the order,
    /// reshuffled when it runs out; else slice `s` of this epoch's order.
    fn face_batch(&mut self, s: usize, cosface: bool, batch: usize) -> Vec<usize> {
        if !cosface {
            return self.order[s * batch..((s + 1) * batch).min(self.order.len())].to_vec();
        }
        if self.face_cursor + batch > self.order.len() {
            self.order.shuffle(&mut self.rng);
            self.face_cursor = 0;
        }
        let c = self.order[self.face_cursor..(self.face_cursor + batch).min(self.order.len())].to_vec();
        self.face_cursor += batch;
        c
    }

    /// One Adam step on the face rows `chunk` (each mirrored at random) and, with an
    /// identity loss, identity batch `s` (CosFace: the next slice of this epoch's pass;
    /// SupCon: people × 2 at random). Returns the stepped model, the face logits, and the
    /// identity loss with the number of identity images.
    fn step(
        &mut self,
        model: Trainee,
        chunk: &[usize],
        lr: f64,
        s: usize,
        cfg: &RunConfig,
        data: &Prepared,
    ) -> (Trainee, Tensor<1>, Option<(f64, usize)>) {
        let flip = cfg.training.augment_flip;
        let flips: Vec<bool> = chunk.iter().map(|_| flip && self.rng.random_bool(0.5)).collect();
        let (x, y) = self.batcher.batch(&data.set, chunk, &flips);
        let Run { step, batcher, rng, labelled, .. } = self;
        let mut identity = None;
        let (stepped, logits) = step.run(model, y, lr, |m| {
            let Some((id, p)) = data.people.as_ref() else { return (m.net.forward(x), None) };
            let (idx, labels): (Vec<usize>, Vec<usize>) = match &m.head {
                Some(_) => labelled[s * id.batch_size..((s + 1) * id.batch_size).min(labelled.len())].iter().copied().unzip(),
                None => p.sample(id.people_per_batch, &mut *rng),
            };
            let flips: Vec<bool> = idx.iter().map(|_| flip && rng.random_bool(0.5)).collect();
            let mut pixels = Batcher::gather(p.spec, &p.images, &idx, &flips);
            if let Some(a) = &id.augment {
                pixels.chunks_exact_mut(p.spec.len()).for_each(|img| augment::apply(a, img, p.spec, &mut *rng));
            }
            let images = batcher.tensor(p.spec, pixels);
            let (logits, l) = match &m.head {
                Some(head) => {
                    // Face and identity images in one pass: BatchNorm layers then see
                    // (and keep running statistics of) one mix, not two alternating ones.
                    let faces = x.dims()[0];
                    let z = m.net.embed_linear(Tensor::cat(vec![x, images], 0));
                    let all = z.dims()[0];
                    (
                        m.net.face_logit(z.clone().narrow(0, 0, faces)),
                        head.loss(z.narrow(0, faces, all - faces), &labels, id.scale, id.margin),
                    )
                }
                None => (m.net.forward(x), supcon_loss(m.net.embed(images), &labels, id.temperature)),
            };
            identity = Some((f64::from(l.clone().into_scalar::<f32>()), idx.len()));
            (logits, Some(l.mul_scalar(id.weight)))
        });
        (stepped, logits, identity)
    }

    /// Saves what an interrupted run resumes from into `dir`, replaced whole: `model`,
    /// Adam's state, and the draws and epochs so far (`seconds`: the run's wall time).
    pub fn save(&self, model: &Trainee, cfg: &RunConfig, dir: &Path, seconds: f64, reporter: Reporter) -> Result<()> {
        let state = ResumeState {
            config: cfg.clone(),
            epochs: self.epochs.clone(),
            rng: self.rng.clone(),
            order: self.order.clone(),
            labelled: self.labelled.clone(),
            face_cursor: self.face_cursor,
            seconds,
            data: Some(self.print),
        };
        let staged = Staged::begin("resume", dir, reporter)?;
        model
            .clone()
            .save_file(staged.dir().join(RESUME_WEIGHTS))
            .map_err(|e| Error::Checkpoint { path: dir.to_path_buf(), reason: e.to_string() })?;
        self.step.save_state(&staged.dir().join(RESUME_OPTIMIZER))?;
        write_json(&staged.dir().join(RESUME_STATE), &state)?;
        staged.commit()?;
        fault_point("resume:saved");
        Ok(())
    }
}
