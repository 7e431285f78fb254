//! Training of the face / non-face classifier: Adam on BCE-with-logits, stratified
//! held-out validation, flip augmentation, an optional identity loss on the embedding,
//! one summary line per epoch. The sets and batcher are in [`data`], the losses and the
//! optimiser step in [`loss`].
pub mod augment;
pub mod data;
pub mod loss;
pub mod screen;

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
// The generator StdRng wraps, with serde: its state goes into the resume state.
use rand_chacha::ChaCha12Rng as StdRng;
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, to_vec};
use crate::config::{IdentityLoss, RunConfig};
use crate::error::{Error, Result};
use crate::files::{Staged, fault_point, write_json};
use crate::image::folder::report_skipped;
use crate::model::FaceNet;
use crate::model::checkpoint;
use crate::progress;
use data::{Batcher, FaceSet, HeldOut, IdentitySet, stratified_split};
use loss::{CosFaceHead, FaceStep, bce_stats, supcon_loss};

/// What the optimiser updates: the network, and CosFace's class weights when it trains
/// with them.
#[derive(Module, Debug)]
struct Trainee {
    net: FaceNet,
    head: Option<CosFaceHead>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub train_loss: f64,
    /// Mean identity loss (SupCon or CosFace) of the identity batches, when trained with one.
    #[serde(default)]
    pub identity_loss: Option<f64>,
    pub train_accuracy: f64,
    pub val_loss: Option<f64>,
    pub val_accuracy: Option<f64>,
    /// Training images per second (forward + backward + optimiser step), identity
    /// batches included.
    pub train_images_per_sec: f64,
    pub seconds: f64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TrainMetrics {
    pub backend: String,
    pub train_images: usize,
    pub val_images: usize,
    pub skipped_files: usize,
    pub total_seconds: f64,
    pub epochs: Vec<EpochMetrics>,
    /// Identity-pool people kept out of training ([`crate::config::IdentityConfig::holdout`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_out: Vec<HeldOut>,
    /// Identity images `[identity.screen]` took out before training, with their P(face).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub screened_out: Vec<screen::Screened>,
}

impl TrainMetrics {
    pub fn final_val_accuracy(&self) -> Option<f64> {
        self.epochs.last().and_then(|e| e.val_accuracy)
    }
}

pub struct TrainOutcome {
    pub checkpoint: PathBuf,
    pub metrics: TrainMetrics,
    pub model: FaceNet,
}

/// Mean validation loss and accuracy of `model` over `idx` (no autodiff, batch 256).
pub fn validate(model: &FaceNet, set: &FaceSet, idx: &[usize], device: &Device) -> Result<(f64, f64)> {
    let batcher = Batcher { device: device.clone() };
    let (mut loss, mut correct) = (0.0, 0usize);
    for chunk in idx.chunks(256) {
        let (x, _) = batcher.batch(set, chunk, &[]);
        let logits = to_vec(model.forward(x))?;
        let labels: Vec<u8> = chunk.iter().map(|&i| set.labels[i]).collect();
        let (l, c) = bce_stats(&logits, &labels);
        loss += l;
        correct += c;
    }
    let n = idx.len().max(1) as f64;
    Ok((loss / n, correct as f64 / n))
}

/// What to do when a checkpoint of the same name exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replace {
    /// Replace it only when the new run's validation accuracy is at least its own; a
    /// worse run is written beside it as `<name>.new` (a finished checkpoint is not lost
    /// to an unlucky rerun).
    IfNotWorse,
    Always,
}

/// How [`train`] treats what is already on disk, and whether it talks.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub replace: Replace,
    /// Continue an interrupted run of the same name and config from its last finished
    /// epoch (its resume state), instead of starting afresh.
    pub resume: bool,
    /// Progress bars and one line per epoch; without it the run is silent.
    pub progress: bool,
}

impl Options {
    /// Replace, start afresh, say nothing: tests and experiments.
    pub const QUIET: Options = Options { replace: Replace::Always, resume: false, progress: false };
}

/// Everything a run needs to continue after its last finished epoch, besides the weights
/// (`trainee.bpk`: the network and any CosFace head) and Adam's state (`optimizer.bpk`),
/// kept in `.<name>.resume/` beside the checkpoint until the run finishes.
#[derive(Serialize, Deserialize)]
struct ResumeState {
    config: RunConfig,
    epochs: Vec<EpochMetrics>,
    rng: StdRng,
    order: Vec<usize>,
    labelled: Vec<(usize, usize)>,
    face_cursor: usize,
    /// Wall seconds the run had taken when this was saved, so that a resumed run's
    /// `total_seconds` counts the time before the interruption too (states saved before
    /// this field: 0, the time since resuming only).
    #[serde(default)]
    seconds: f64,
    /// The data the saved indices point into (states saved before this field: None, and
    /// only their indices are checked against the data found now).
    #[serde(default)]
    data: Option<DataPrint>,
}

/// What a run trains on, as a resumed run must find it again: the saved order, batches
/// and CosFace classes are indices into these images, so one file more or less shifts
/// every index after it (out of range: a panic; within it: silently other images).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
struct DataPrint {
    /// Images read: the face / non-face set and every identity image.
    images: usize,
    /// FNV-1a of the face / non-face paths with their labels, the identity paths, and
    /// each trained person's name and image rows (after screening and hold-out), in order.
    digest: u64,
}

impl DataPrint {
    fn of(set: &FaceSet, people: Option<&IdentitySet>) -> Self {
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
fn check_resumable(state: &ResumeState, now: DataPrint, train_idx: &[usize], labelled: &[(usize, usize)], path: &Path) -> Result<()> {
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

const RESUME_STATE: &str = "state.json";
const RESUME_WEIGHTS: &str = "trainee.bpk";
const RESUME_OPTIMIZER: &str = "optimizer.bpk";

fn resume_dir(checkpoint: &Path) -> PathBuf {
    checkpoint.with_file_name(format!(".{}.resume", checkpoint.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()))
}

/// Where a new run goes when the existing checkpoint at `dir` validated better, or None
/// when the new one may replace it.
fn kept_existing(dir: &Path, new_accuracy: Option<f64>) -> Option<(PathBuf, f64)> {
    let old = checkpoint::Checkpoint::open(dir).ok()?.metrics::<TrainMetrics>().ok()?.final_val_accuracy()?;
    let beside = dir.with_file_name(format!("{}.new", dir.file_name()?.to_string_lossy()));
    (new_accuracy? < old).then_some((beside, old))
}

/// Trains `cfg` (validated: [`RunConfig::load`] does it once) on `device` and writes the checkpoint to `checkpoint_root/<cfg.name>`.
/// `progress` shows bars and one line per epoch; without it the run is silent.
pub fn train(cfg: &RunConfig, backend: Backend, device: &Device, checkpoint_root: &Path, opts: Options) -> Result<TrainOutcome> {
    let (replace, progress) = (opts.replace, opts.progress);
    let t = &cfg.training;
    let started = Instant::now();
    let destination = checkpoint::destination(&checkpoint_root.join(&cfg.name), cfg)?;
    let resume_at = resume_dir(destination.target());
    // Read before any data: a --resume with nothing to resume is refused at once.
    let resumed: Option<ResumeState> = if opts.resume {
        // A kill while the state was being replaced left it aside: put it back first.
        crate::files::recover_if_idle(&resume_at)?;
        let path = resume_at.join(RESUME_STATE);
        let text = std::fs::read_to_string(&path).map_err(|_| Error::Checkpoint {
            path: destination.target().to_path_buf(),
            reason: "no interrupted run to resume (no finished epoch was saved)".into(),
        })?;
        let state: ResumeState = serde_json::from_str(&text)
            .map_err(|e| Error::Checkpoint { path: path.clone(), reason: format!("damaged resume state ({e})") })?;
        if state.config != *cfg {
            return Err(Error::Checkpoint { path, reason: "the interrupted run had another config; resume it with the same flags".into() });
        }
        Some(state)
    } else {
        None
    };
    let mut set = FaceSet::load(&cfg.data, cfg.image_spec())?;
    if t.max_per_class > 0 {
        set = set.limit_per_class(t.max_per_class);
    }
    report_skipped("training data", &set.skipped);
    let (train_idx, val_idx) = stratified_split(&set.labels, t.val_fraction, t.seed);
    let (mut held_out, mut screened_out) = (Vec::new(), Vec::new());
    let people = match &cfg.identity {
        Some(id) => {
            // A margin-softmax head takes a person with one image as a class; SupCon pairs
            // two images of each person it draws.
            let min_images = if id.loss == IdentityLoss::Cosface { 1 } else { 2 };
            let mut p = IdentitySet::load(&id.folders(), cfg.image_spec(), min_images)?;
            report_skipped("identity data", &p.skipped);
            // Before the hold-out, so that calibration people are screened alike.
            if let Some(s) = &id.screen {
                screened_out = screen::screen(&mut p, s, device, progress)?;
                if progress {
                    eprintln!(
                        "  screened by {}: {} identity images with P(face) < {} dropped",
                        s.model.display(),
                        screened_out.len(),
                        s.below
                    );
                }
            }
            held_out = p.hold_out(id.holdout, t.seed);
            if held_out.len() < id.holdout {
                // Only people with a pair can be held out; with fewer, calibration after
                // training has fewer people to go on, or none at all.
                let what = match held_out.len() {
                    0 => "no person in the identity data has 2 or more images: none is held out, and the checkpoint will not be calibrated"
                        .into(),
                    1 => "only 1 person in the identity data has 2 or more images: 1 held out for calibration".into(),
                    n => format!("only {n} people in the identity data have 2 or more images: {n} held out for calibration"),
                };
                eprintln!("warning: [identity] holdout = {}, but {what}", id.holdout);
            }
            Some((id, p))
        }
        None => None,
    };
    let say = |line: String| {
        if progress {
            eprintln!("{line}");
        }
    };
    say(format!(
        "training {} on {} ({} train / {} validation images, {} skipped), backend {backend}, embedding {}",
        cfg.name,
        cfg.data.display(),
        train_idx.len(),
        val_idx.len(),
        set.skipped.len(),
        cfg.model.embedding_size
    ));
    if let Some((id, p)) = &people {
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
        say(format!("  + identity loss on {} ({how}, weight {})", folders.join(" + "), id.weight));
        if !held_out.is_empty() {
            say(format!("  {} people held out of training for calibration", held_out.len()));
        }
    }

    device.seed(t.seed);
    let ad = device.clone().autodiff();
    // CosFace's class weights train beside the network and are dropped at the end.
    let cosface = people.as_ref().filter(|(id, _)| id.loss == IdentityLoss::Cosface);
    let mut model =
        Trainee { net: cfg.model.init(&ad), head: cosface.map(|(_, p)| CosFaceHead::new(p.people.len(), cfg.model.embedding_size, &ad)) };
    let mut step = FaceStep::new(&ad);
    let batcher = Batcher { device: ad.clone() };
    let mut rng = StdRng::seed_from_u64(t.seed ^ 0x9e37_79b9_7f4a_7c15);
    let mut order = train_idx.clone();
    let mut epochs = Vec::with_capacity(t.epochs);
    // With CosFace an epoch is one pass over the identity images; the face / non-face
    // batches cycle through `order` beside them, reshuffled at each wrap.
    let mut labelled = cosface.map(|(_, p)| p.labelled()).unwrap_or_default();
    let mut face_cursor = order.len();
    let mut seconds_before = 0.0;
    let data = DataPrint::of(&set, people.as_ref().map(|(_, p)| p));
    if let Some(state) = &resumed {
        check_resumable(state, data, &train_idx, &labelled, &resume_at.join(RESUME_STATE))?;
    }
    if let Some(state) = resumed {
        let weights = resume_at.join(RESUME_WEIGHTS);
        model = model.try_load_file(&weights).map_err(|e| Error::Checkpoint { path: weights, reason: format!("resume weights: {e}") })?;
        step.load_state(&resume_at.join(RESUME_OPTIMIZER))?;
        (rng, order, labelled, face_cursor, epochs, seconds_before) =
            (state.rng, state.order, state.labelled, state.face_cursor, state.epochs, state.seconds);
        say(format!("resuming after epoch {} of {}", epochs.len(), t.epochs));
    }

    for epoch in epochs.len() + 1..=t.epochs {
        let steps = match cosface {
            Some((id, _)) => {
                labelled.shuffle(&mut rng);
                labelled.len().div_ceil(id.batch_size)
            }
            None => {
                order.shuffle(&mut rng);
                order.len().div_ceil(t.batch_size)
            }
        };
        let epoch_start = Instant::now();
        let pb = progress::bar(steps, "epoch {prefix} [{bar:30}] {pos}/{len} batches {msg} ({eta})", progress);
        pb.set_prefix(format!("{epoch}/{}", t.epochs));
        let (mut loss_sum, mut correct, mut seen) = (0.0, 0usize, 0usize);
        let (mut id_loss_sum, mut id_batches, mut id_images) = (0.0, 0usize, 0usize);
        for s in 0..steps {
            let chunk: Vec<usize> = if cosface.is_some() {
                if face_cursor + t.batch_size > order.len() {
                    order.shuffle(&mut rng);
                    face_cursor = 0;
                }
                let c = order[face_cursor..(face_cursor + t.batch_size).min(order.len())].to_vec();
                face_cursor += t.batch_size;
                c
            } else {
                order[s * t.batch_size..((s + 1) * t.batch_size).min(order.len())].to_vec()
            };
            let flips: Vec<bool> = chunk.iter().map(|_| t.augment_flip && rng.random_bool(0.5)).collect();
            let (x, y) = batcher.batch(&set, &chunk, &flips);
            let lr = t.lr_schedule.rate(t.learning_rate, (epoch - 1) * steps + s, t.epochs * steps);
            let mut last_id_loss = 0.0;
            let (stepped, logits) = step.run(model, y, lr, |m| {
                let Some((id, p)) = people.as_ref() else { return (m.net.forward(x), None) };
                // CosFace: the next slice of this epoch's pass; SupCon: people × 2 at random.
                let (idx, labels): (Vec<usize>, Vec<usize>) = match &m.head {
                    Some(_) => labelled[s * id.batch_size..((s + 1) * id.batch_size).min(labelled.len())].iter().copied().unzip(),
                    None => p.sample(id.people_per_batch, &mut rng),
                };
                let flips: Vec<bool> = idx.iter().map(|_| t.augment_flip && rng.random_bool(0.5)).collect();
                let mut data = Batcher::gather(p.spec, &p.images, &idx, &flips);
                if let Some(a) = &id.augment {
                    data.chunks_exact_mut(p.spec.len()).for_each(|img| augment::apply(a, img, p.spec, &mut rng));
                }
                let images = batcher.tensor(p.spec, data);
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
                last_id_loss = f64::from(l.clone().into_scalar::<f32>());
                id_loss_sum += last_id_loss;
                id_batches += 1;
                id_images += idx.len();
                (logits, Some(l.mul_scalar(id.weight)))
            });
            model = stepped;

            let labels: Vec<u8> = chunk.iter().map(|&i| set.labels[i]).collect();
            let (l, c) = bce_stats(&to_vec(logits)?, &labels);
            // A non-finite loss poisons every weight at the next step: stop before a
            // checkpoint of NaNs can replace a good one.
            for (what, value) in [("face / non-face", l), ("identity", last_id_loss)] {
                if !value.is_finite() {
                    return Err(Error::Diverged { epoch, batch: s + 1, what, value });
                }
            }
            loss_sum += l;
            correct += c;
            seen += chunk.len();
            pb.set_message(format!("loss {:.4} acc {:.3}", loss_sum / seen as f64, correct as f64 / seen as f64));
            pb.inc(1);
        }
        let train_secs = epoch_start.elapsed().as_secs_f64();
        pb.finish_and_clear();
        let (val_loss, val_accuracy) = if val_idx.is_empty() {
            (None, None)
        } else {
            let (l, a) = validate(&model.net.valid(), &set, &val_idx, device)?;
            (Some(l), Some(a))
        };
        let m = EpochMetrics {
            epoch,
            train_loss: loss_sum / seen.max(1) as f64,
            identity_loss: (id_batches > 0).then(|| id_loss_sum / id_batches as f64),
            train_accuracy: correct as f64 / seen.max(1) as f64,
            val_loss,
            val_accuracy,
            train_images_per_sec: (seen + id_images) as f64 / train_secs,
            seconds: epoch_start.elapsed().as_secs_f64(),
        };
        say(format!(
            "epoch {epoch:>3}/{}: loss {:.4}{}  train acc {:.4}  val acc {}  {:.0} img/s  {:.1} s",
            t.epochs,
            m.train_loss,
            m.identity_loss.map_or(String::new(), |l| format!("  identity loss {l:.4}")),
            m.train_accuracy,
            m.val_accuracy.map_or("-".into(), |a| format!("{a:.4}")),
            m.train_images_per_sec,
            m.seconds
        ));
        epochs.push(m);
        // What an interrupted run resumes from, replaced whole after each epoch.
        let state = ResumeState {
            config: cfg.clone(),
            epochs: epochs.clone(),
            rng: rng.clone(),
            order: order.clone(),
            labelled: labelled.clone(),
            face_cursor,
            seconds: seconds_before + started.elapsed().as_secs_f64(),
            data: Some(data),
        };
        let staged = Staged::begin("resume", &resume_at)?;
        model
            .clone()
            .save_file(staged.dir().join(RESUME_WEIGHTS))
            .map_err(|e| Error::Checkpoint { path: resume_at.clone(), reason: e.to_string() })?;
        step.save_state(&staged.dir().join(RESUME_OPTIMIZER))?;
        write_json(&staged.dir().join(RESUME_STATE), &state)?;
        staged.commit()?;
        fault_point("resume:saved");
    }

    let metrics = TrainMetrics {
        backend: backend.to_string(),
        train_images: train_idx.len(),
        val_images: val_idx.len(),
        skipped_files: set.skipped.len(),
        total_seconds: seconds_before + started.elapsed().as_secs_f64(),
        epochs,
        held_out,
        screened_out,
    };
    let model = model.net.valid();
    let mut dir = checkpoint_root.join(&cfg.name);
    match kept_existing(&dir, metrics.final_val_accuracy()).filter(|_| replace == Replace::IfNotWorse) {
        Some((beside, old)) => {
            drop(destination);
            eprintln!(
                "warning: kept {} (validation accuracy {old:.4}, above this run's {:.4}); this run is in {} (--overwrite replaces)",
                dir.display(),
                metrics.final_val_accuracy().unwrap_or(f64::NAN),
                beside.display()
            );
            checkpoint::save(&beside, &model, cfg, &metrics)?;
            dir = beside;
        }
        None => checkpoint::write(destination, &model, cfg, &metrics)?,
    }
    let _ = std::fs::remove_dir_all(&resume_at);
    say(format!("checkpoint written to {} ({:.1} s in all)", dir.display(), metrics.total_seconds));
    Ok(TrainOutcome { checkpoint: dir, metrics, model })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resumable_generator_draws_what_std_rng_drew() {
        // Checkpoints trained before resume existed (the ready model) used rand's StdRng;
        // its ChaCha12 core, seeded the same way, keeps their data order and augmentation.
        let (mut a, mut b) = (rand::rngs::StdRng::seed_from_u64(42), StdRng::seed_from_u64(42));
        assert!((0..100).all(|_| a.random::<u64>() == b.random::<u64>()));
    }
    use crate::backend::device;
    use crate::config::{ModelConfig, TrainingConfig};
    use crate::embed::{Readout, embed_folder};
    use crate::image::folder::IdentityFolder;

    fn tiny_config(embedding: usize) -> RunConfig {
        RunConfig {
            name: "tiny".into(),
            data: Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/face_nonface"),
            model: ModelConfig::new().with_channels(vec![8, 16]).with_embedding_size(embedding).with_image_size(32),
            training: TrainingConfig { epochs: 1, max_per_class: 48, batch_size: 16, ..Default::default() },
            identity: None,
        }
    }

    fn att_two_people() -> IdentityFolder {
        let mut f = IdentityFolder::scan(&Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/att_faces")).unwrap();
        let keep = f.identity.iter().take_while(|&&i| i < 2).count();
        f.paths.truncate(keep);
        f.identity.truncate(keep);
        f
    }

    fn max_abs_diff(a: &ndarray::Array2<f32>, b: &ndarray::Array2<f32>) -> f32 {
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    /// Train one epoch on each CPU backend, reload the checkpoint into a fresh network, and
    /// check the embeddings are the ones the trained network gives — and that a checkpoint
    /// from one backend gives the same embeddings on the other.
    #[test]
    fn tiny_train_saves_and_reloads_to_identical_embeddings_on_both_cpu_backends() {
        let tmp = tempfile::tempdir().unwrap();
        let folder = att_two_people();
        let cfg_model = tiny_config(12).model;
        let mut per_backend = Vec::new();
        for backend in [Backend::Flex, Backend::Ndarray] {
            let dev = device(backend).unwrap();
            let root = tmp.path().join(backend.to_string());
            let out = train(&tiny_config(12), backend, &dev, &root, Options::QUIET).unwrap();
            assert_eq!(out.metrics.epochs.len(), 1);
            assert_eq!(out.metrics.train_images + out.metrics.val_images, 96);
            assert!(out.metrics.epochs[0].train_loss.is_finite());
            let before = embed_folder(&out.model, &cfg_model, Readout::default(), &folder, &dev, 7, false).unwrap();
            let (cfg, reloaded) = checkpoint::load(&out.checkpoint, &dev).unwrap();
            assert_eq!(cfg, tiny_config(12));
            let after = embed_folder(&reloaded, &cfg_model, Readout::default(), &folder, &dev, 64, false).unwrap();
            assert_eq!(before.matrix.dim(), (20, 12));
            assert!(max_abs_diff(&before.matrix, &after.matrix) < 1e-5, "reload changed the embeddings");
            assert!(before.matrix.iter().any(|&v| v > 0.0), "all-zero embedding");
            per_backend.push((out.checkpoint, after.matrix));
        }
        // The flex checkpoint loaded on ndarray and vice versa.
        for (i, (ck, own)) in per_backend.iter().enumerate() {
            let other = device([Backend::Ndarray, Backend::Flex][i]).unwrap();
            let (_, m) = checkpoint::load(ck, &other).unwrap();
            let e = embed_folder(&m, &cfg_model, Readout::default(), &folder, &other, 64, false).unwrap();
            assert!(max_abs_diff(own, &e.matrix) < 1e-3, "backends disagree");
        }
    }

    #[test]
    fn a_network_with_residual_units_learns_and_reloads_to_the_same_embeddings() {
        let tmp = tempfile::tempdir().unwrap();
        let mut cfg = tiny_config(12);
        (cfg.model.residual, cfg.model.conv_norm, cfg.training.epochs) = (true, true, 3);
        let dev = device(Backend::Flex).unwrap();
        let out = train(&cfg, Backend::Flex, &dev, tmp.path(), Options::QUIET).unwrap();
        let losses: Vec<f64> = out.metrics.epochs.iter().map(|e| e.train_loss).collect();
        assert!(losses.iter().all(|l| l.is_finite()) && losses[2] < losses[0], "{losses:?}");
        let folder = att_two_people();
        let before = embed_folder(&out.model, &cfg.model, Readout::default(), &folder, &dev, 7, false).unwrap();
        let (saved, reloaded) = checkpoint::load(&out.checkpoint, &dev).unwrap();
        assert!(saved.model.residual);
        let after = embed_folder(&reloaded, &cfg.model, Readout::default(), &folder, &dev, 64, false).unwrap();
        assert!(max_abs_diff(&before.matrix, &after.matrix) < 1e-5, "reload changed the embeddings");
    }

    #[test]
    fn cosface_training_learns_identities_and_saves_only_the_network() {
        let tmp = tempfile::tempdir().unwrap();
        let mut cfg = tiny_config(12);
        cfg.training.epochs = 2;
        cfg.identity = Some(crate::config::IdentityConfig {
            data: Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/lfw_train_identities"),
            pools: Vec::new(),
            loss: IdentityLoss::Cosface,
            weight: 1.0,
            temperature: 0.1,
            people_per_batch: 32,
            scale: 30.0,
            margin: 0.35,
            batch_size: 128,
            augment: Some(crate::config::AugmentConfig::default()),
            holdout: 0,
            screen: None,
        });
        let dev = device(Backend::Flex).unwrap();
        let out = train(&cfg, Backend::Flex, &dev, tmp.path(), Options::QUIET).unwrap();
        let losses: Vec<f64> = out.metrics.epochs.iter().map(|e| e.identity_loss.expect("identity loss")).collect();
        assert!(losses.iter().all(|l| l.is_finite()) && losses[1] < losses[0], "{losses:?}");
        // An epoch is one pass over the 3 179 identity images (25 batches of 128), the
        // face / non-face batches of 16 cycling beside them.
        let per_epoch = out.metrics.epochs[0].train_images_per_sec * out.metrics.epochs[0].seconds;
        assert!(per_epoch > 3179.0, "{per_epoch}");
        // The checkpoint is the plain network: it loads into a fresh FaceNet.
        let (saved, _) = checkpoint::load(&out.checkpoint, &dev).unwrap();
        assert_eq!(saved.identity.map(|i| i.loss), Some(IdentityLoss::Cosface));
    }

    #[test]
    fn a_run_whose_loss_turns_non_finite_stops_and_keeps_the_old_checkpoint() {
        let tmp = tempfile::tempdir().unwrap();
        let dev = device(Backend::Flex).unwrap();
        let good = train(&tiny_config(12), Backend::Flex, &dev, tmp.path(), Options::QUIET).unwrap();
        let before = std::fs::read(good.checkpoint.join(checkpoint::MODEL_FILE)).unwrap();
        // An identity weight near f32's largest overflows the summed loss whenever the
        // identity loss exceeds about 1.1 (CosFace starts near 19, whatever the initial
        // weights, which other tests running at once may shift through the shared seed).
        let mut cfg = tiny_config(12);
        cfg.identity = Some(crate::config::IdentityConfig { weight: 3e38, ..RunConfig::default().identity.unwrap() });
        cfg.identity.as_mut().unwrap().data = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/lfw_train_identities");
        let e = train(&cfg, Backend::Flex, &dev, tmp.path(), Options::QUIET).err().expect("diverges");
        assert!(matches!(e, Error::Diverged { epoch: 1, .. }), "{e}");
        assert!(e.to_string().contains("no checkpoint written"), "{e}");
        assert_eq!(std::fs::read(good.checkpoint.join(checkpoint::MODEL_FILE)).unwrap(), before, "the good checkpoint is untouched");
    }

    /// The GPU half of the cross-backend check; runs with `--features gpu` on a machine
    /// with an adapter (`scripts/gpu_check.sh`).
    #[cfg(feature = "gpu")]
    #[test]
    fn a_flex_checkpoint_gives_the_same_embeddings_on_wgpu_and_trains_there() {
        let tmp = tempfile::tempdir().unwrap();
        let folder = att_two_people();
        let cfg_model = tiny_config(12).model;
        let cpu = device(Backend::Flex).unwrap();
        let gpu = device(Backend::Wgpu).expect("a GPU adapter");
        let out = train(&tiny_config(12), Backend::Flex, &cpu, tmp.path(), Options::QUIET).unwrap();
        let on_cpu = embed_folder(&out.model, &cfg_model, Readout::default(), &folder, &cpu, 64, false).unwrap();
        let (_, m) = checkpoint::load(&out.checkpoint, &gpu).unwrap();
        let on_gpu = embed_folder(&m, &cfg_model, Readout::default(), &folder, &gpu, 64, false).unwrap();
        assert!(max_abs_diff(&on_cpu.matrix, &on_gpu.matrix) < 1e-3, "flex and wgpu disagree");
        let g = train(&tiny_config(12), Backend::Wgpu, &gpu, &tmp.path().join("g"), Options::QUIET).unwrap();
        assert!(g.metrics.epochs[0].train_loss.is_finite());
        let (_, back) = checkpoint::load(&g.checkpoint, &cpu).unwrap();
        let a = embed_folder(&g.model, &cfg_model, Readout::default(), &folder, &gpu, 64, false).unwrap();
        let b = embed_folder(&back, &cfg_model, Readout::default(), &folder, &cpu, 64, false).unwrap();
        assert!(max_abs_diff(&a.matrix, &b.matrix) < 1e-3, "wgpu checkpoint differs on flex");
    }
}
