//! Training of the face / non-face classifier: Adam on BCE-with-logits, stratified
//! held-out validation, flip augmentation, an optional identity loss on the embedding,
//! one summary line per epoch. The sets and batcher are in [`data`], the losses and the
//! optimiser step in [`loss`].
pub mod augment;
pub mod data;
mod epoch;
pub mod loss;
mod prepare;
mod resume;
pub mod screen;

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, to_vec};
use crate::config::RunConfig;
use crate::error::Result;
use crate::files::Staged;
use crate::model::FaceNet;
use crate::model::checkpoint;
use crate::progress::Reporter;
use data::{Batcher, FaceSet, HeldOut};
use epoch::Run;
use loss::{CosFaceHead, bce_stats};
use prepare::{header, prepare};

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
    /// Progress bars and one line per epoch when it shows progress; notes and warnings
    /// when it prints messages ([`Reporter::SILENT`]: neither).
    pub reporter: Reporter,
}

impl Options {
    /// Replace, start afresh, say nothing: tests.
    pub const QUIET: Options = Options { replace: Replace::Always, resume: false, reporter: Reporter::SILENT };
}

/// Where a new run goes when the existing checkpoint at `dir` validated better, or None
/// when the new one may replace it.
fn kept_existing(dir: &Path, new_accuracy: Option<f64>, reporter: Reporter) -> Option<(PathBuf, f64)> {
    let old = checkpoint::Checkpoint::open(dir, reporter).ok()?.metrics::<TrainMetrics>().ok()?.final_val_accuracy()?;
    let beside = dir.with_file_name(format!("{}.new", dir.file_name()?.to_string_lossy()));
    (new_accuracy? < old).then_some((beside, old))
}

/// Trains `cfg` (validated: [`RunConfig::load`] does it once) on `device` and writes the checkpoint to `checkpoint_root/<cfg.name>`.
/// Progress and messages go through `opts.reporter`.
pub fn train(cfg: &RunConfig, backend: Backend, device: &Device, checkpoint_root: &Path, opts: Options) -> Result<TrainOutcome> {
    let started = Instant::now();
    let reporter = opts.reporter;
    let destination = checkpoint::destination(&checkpoint_root.join(&cfg.name), cfg, reporter)?;
    let resume_at = resume::resume_dir(destination.target());
    // Read before any data: a --resume with nothing to resume is refused at once.
    let resumed = if opts.resume { Some(resume::read(cfg, destination.target(), &resume_at, reporter)?) } else { None };
    let data = prepare(cfg, device, reporter)?;
    header(cfg, backend, &data).into_iter().for_each(|line| reporter.progress(line));
    let (mut model, mut run) = Run::start(cfg, &data, device);
    if let Some(state) = resumed {
        model = run.resume(model, state, &data, &resume_at)?;
        reporter.progress(format!("resuming after epoch {} of {}", run.epochs.len(), cfg.training.epochs));
    }
    for epoch in run.epochs.len() + 1..=cfg.training.epochs {
        let (stepped, m) = run.epoch(model, epoch, cfg, &data, reporter)?;
        model = stepped;
        reporter.progress(epoch_line(&m, cfg.training.epochs));
        run.epochs.push(m);
        run.save(&model, cfg, &resume_at, run.seconds_before + started.elapsed().as_secs_f64(), reporter)?;
    }
    let metrics = TrainMetrics {
        backend: backend.to_string(),
        train_images: data.train_idx.len(),
        val_images: data.val_idx.len(),
        skipped_files: data.set.skipped.len(),
        total_seconds: run.seconds_before + started.elapsed().as_secs_f64(),
        epochs: run.epochs,
        held_out: data.held_out,
        screened_out: data.screened_out,
    };
    let model = model.net.valid();
    let dir = write_checkpoint(destination, checkpoint_root, &model, cfg, &metrics, opts)?;
    let _ = std::fs::remove_dir_all(&resume_at);
    reporter.progress(format!("checkpoint written to {} ({:.1} s in all)", dir.display(), metrics.total_seconds));
    Ok(TrainOutcome { checkpoint: dir, metrics, model })
}

/// An epoch's line: its losses, accuracies and speed.
fn epoch_line(m: &EpochMetrics, epochs: usize) -> String {
    format!(
        "epoch {:>3}/{epochs}: loss {:.4}{}  train acc {:.4}  val acc {}  {:.0} img/s  {:.1} s",
        m.epoch,
        m.train_loss,
        m.identity_loss.map_or(String::new(), |l| format!("  identity loss {l:.4}")),
        m.train_accuracy,
        m.val_accuracy.map_or("-".into(), |a| format!("{a:.4}")),
        m.train_images_per_sec,
        m.seconds
    )
}

/// Writes the finished run into `destination` (`checkpoint_root/<cfg.name>`), or beside
/// it as `<name>.new` when `opts.replace` keeps a checkpoint there that validated better
/// (a warning); returns where it went.
fn write_checkpoint(
    destination: Staged,
    checkpoint_root: &Path,
    model: &FaceNet,
    cfg: &RunConfig,
    metrics: &TrainMetrics,
    opts: Options,
) -> Result<PathBuf> {
    let dir = checkpoint_root.join(&cfg.name);
    match kept_existing(&dir, metrics.final_val_accuracy(), opts.reporter).filter(|_| opts.replace == Replace::IfNotWorse) {
        Some((beside, old)) => {
            drop(destination);
            opts.reporter.warn(format!(
                "kept {} (validation accuracy {old:.4}, above this run's {:.4}); this run is in {} (--overwrite replaces)",
                dir.display(),
                metrics.final_val_accuracy().unwrap_or(f64::NAN),
                beside.display()
            ));
            checkpoint::save(&beside, model, cfg, metrics, opts.reporter)?;
            Ok(beside)
        }
        None => {
            checkpoint::write(destination, model, cfg, metrics)?;
            Ok(dir)
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    // The generator StdRng wraps, with serde: its state goes into the resume state.
    use rand_chacha::ChaCha12Rng as StdRng;

    use super::*;
    use crate::config::IdentityLoss;
    use crate::error::Error;

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
            let (cfg, reloaded) = checkpoint::load(&out.checkpoint, &dev, Reporter::SILENT).unwrap();
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
            let (_, m) = checkpoint::load(ck, &other, Reporter::SILENT).unwrap();
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
        let (saved, reloaded) = checkpoint::load(&out.checkpoint, &dev, Reporter::SILENT).unwrap();
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
        let (saved, _) = checkpoint::load(&out.checkpoint, &dev, Reporter::SILENT).unwrap();
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
        let (_, m) = checkpoint::load(&out.checkpoint, &gpu, Reporter::SILENT).unwrap();
        let on_gpu = embed_folder(&m, &cfg_model, Readout::default(), &folder, &gpu, 64, false).unwrap();
        assert!(max_abs_diff(&on_cpu.matrix, &on_gpu.matrix) < 1e-3, "flex and wgpu disagree");
        let g = train(&tiny_config(12), Backend::Wgpu, &gpu, &tmp.path().join("g"), Options::QUIET).unwrap();
        assert!(g.metrics.epochs[0].train_loss.is_finite());
        let (_, back) = checkpoint::load(&g.checkpoint, &cpu, Reporter::SILENT).unwrap();
        let a = embed_folder(&g.model, &cfg_model, Readout::default(), &folder, &gpu, 64, false).unwrap();
        let b = embed_folder(&back, &cfg_model, Readout::default(), &folder, &cpu, 64, false).unwrap();
        assert!(max_abs_diff(&a.matrix, &b.matrix) < 1e-3, "wgpu checkpoint differs on flex");
    }
}
