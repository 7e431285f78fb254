//! Training loop of the face / non-face classifier: Adam on BCE-with-logits, stratified
//! held-out validation, flip augmentation, one summary line per epoch.
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::nn::loss::BinaryCrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::checkpoint;
use crate::config::RunConfig;
use crate::data::{Batcher, FaceSet, IdentitySet, report_skipped, stratified_split};
use crate::error::{Error, Result};
use crate::model::FaceNet;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub train_loss: f64,
    /// Mean supervised-contrastive loss of the identity batches, when trained with one.
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

fn epoch_bar(batches: usize, epoch: usize, epochs: usize, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(batches as u64);
    pb.set_style(
        ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} batches {msg} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_prefix(format!("{epoch}/{epochs}"));
    pb
}

/// Loss sum and correct count of `logits` against 0/1 `labels`.
fn batch_stats(logits: &[f32], labels: &[u8]) -> (f64, usize) {
    let mut loss = 0.0;
    let mut correct = 0;
    for (&z, &y) in logits.iter().zip(labels) {
        let z = z as f64;
        // Stable BCE with logits: max(z,0) − z·y + ln(1 + e^−|z|).
        loss += z.max(0.0) - z * y as f64 + (-z.abs()).exp().ln_1p();
        correct += usize::from((z > 0.0) == (y == 1));
    }
    (loss, correct)
}

/// Supervised contrastive loss (Khosla et al. 2020) of embeddings `z` `[B, E]` whose rows
/// carry person `labels`: for each row, the mean log-probability of picking a same-person
/// row among all other rows, by softmax over cosine similarity / `temperature`.
pub fn supcon_loss(z: Tensor<2>, labels: &[usize], temperature: f64) -> Tensor<1> {
    let device = z.device();
    let b = labels.len();
    let norm = z.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-6);
    let z = z / norm;
    let sim = z.clone().matmul(z.transpose()).div_scalar(temperature);
    // A row is never its own candidate.
    let eye = Tensor::<2>::eye(b, &device).equal_elem(1.0);
    let log_prob = log_softmax(sim.mask_fill(eye, -1e9), 1);
    let mut pos = vec![0.0f32; b * b];
    let mut n_pos = vec![0.0f32; b];
    for i in 0..b {
        for j in 0..b {
            if i != j && labels[i] == labels[j] {
                pos[i * b + j] = 1.0;
                n_pos[i] += 1.0;
            }
        }
    }
    let pos = Tensor::<2>::from_data(TensorData::new(pos, [b, b]), &device);
    let n_pos = Tensor::<2>::from_data(TensorData::new(n_pos.iter().map(|&v| v.max(1.0)).collect::<Vec<_>>(), [b, 1]), &device);
    let per_row: Tensor<2> = (log_prob * pos).sum_dim(1) / n_pos;
    per_row.mean().neg()
}

/// Mean loss and accuracy of `model` over `idx` (no autodiff, batch 256).
pub fn evaluate(model: &FaceNet, set: &FaceSet, idx: &[usize], device: &Device) -> Result<(f64, f64)> {
    let batcher = Batcher { device: device.clone() };
    let (mut loss, mut correct) = (0.0, 0usize);
    for chunk in idx.chunks(256) {
        let (x, _) = batcher.batch(set, chunk, &[]);
        let logits = to_vec(model.forward(x))?;
        let labels: Vec<u8> = chunk.iter().map(|&i| set.labels[i]).collect();
        let (l, c) = batch_stats(&logits, &labels);
        loss += l;
        correct += c;
    }
    let n = idx.len().max(1) as f64;
    Ok((loss / n, correct as f64 / n))
}

pub fn to_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data().try_to_vec::<f32>().map_err(|e| Error::Compute { what: "reading tensor", reason: format!("{e:?}") })
}

/// Trains `cfg` on `device` and writes the checkpoint to `checkpoint_root/<cfg.name>`.
/// `progress` shows bars and one line per epoch; without it the run is silent.
pub fn train(cfg: &RunConfig, backend: Backend, device: &Device, checkpoint_root: &Path, progress: bool) -> Result<TrainOutcome> {
    cfg.validate()?;
    let t = &cfg.training;
    let started = Instant::now();
    let mut set = FaceSet::load(&cfg.data, cfg.image_spec())?;
    if t.max_per_class > 0 {
        set = set.limit_per_class(t.max_per_class);
    }
    report_skipped("training data", &set.skipped);
    let (train_idx, val_idx) = stratified_split(&set.labels, t.val_fraction, t.seed);
    let people = match &cfg.identity {
        Some(id) => {
            let p = IdentitySet::load(&id.data, cfg.image_spec())?;
            report_skipped("identity data", &p.skipped);
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
        say(format!(
            "  + identity loss on {} ({} people with ≥ 2 images, {} per batch, weight {})",
            id.data.display(),
            p.people.len(),
            id.people_per_batch,
            id.weight
        ));
    }

    device.seed(t.seed);
    let ad = device.clone().autodiff();
    let mut model = cfg.model.init(&ad)?;
    let mut optim = AdamConfig::new().init();
    let loss_fn = BinaryCrossEntropyLossConfig::new().with_logits(true).init(&ad);
    let batcher = Batcher { device: ad.clone() };
    let mut rng = StdRng::seed_from_u64(t.seed ^ 0x9e37_79b9_7f4a_7c15);
    let mut order = train_idx.clone();
    let mut epochs = Vec::with_capacity(t.epochs);

    for epoch in 1..=t.epochs {
        order.shuffle(&mut rng);
        let epoch_start = Instant::now();
        let pb = epoch_bar(order.len().div_ceil(t.batch_size), epoch, t.epochs, progress);
        let (mut loss_sum, mut correct, mut seen) = (0.0, 0usize, 0usize);
        let (mut id_loss_sum, mut id_batches, mut id_images) = (0.0, 0usize, 0usize);
        for chunk in order.chunks(t.batch_size) {
            let flips: Vec<bool> = chunk.iter().map(|_| t.augment_flip && rng.random_bool(0.5)).collect();
            let (x, y) = batcher.batch(&set, chunk, &flips);
            let logits = model.forward(x);
            let mut loss = loss_fn.forward(logits.clone(), y);
            if let Some((id, p)) = &people {
                let (idx, labels) = p.sample(id.people_per_batch, &mut rng);
                let flips: Vec<bool> = idx.iter().map(|_| t.augment_flip && rng.random_bool(0.5)).collect();
                let z = model.embed(batcher.images(p.spec, &p.images, &idx, &flips));
                let l = supcon_loss(z, &labels, id.temperature);
                id_loss_sum += f64::from(l.clone().into_scalar::<f32>());
                id_batches += 1;
                id_images += idx.len();
                loss = loss + l.mul_scalar(id.weight);
            }
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(t.learning_rate, model, grads);

            let labels: Vec<u8> = chunk.iter().map(|&i| set.labels[i]).collect();
            let (l, c) = batch_stats(&to_vec(logits)?, &labels);
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
            let (l, a) = evaluate(&model.valid(), &set, &val_idx, device)?;
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
    }

    let metrics = TrainMetrics {
        backend: backend.to_string(),
        train_images: train_idx.len(),
        val_images: val_idx.len(),
        skipped_files: set.skipped.len(),
        total_seconds: started.elapsed().as_secs_f64(),
        epochs,
    };
    let model = model.valid();
    let dir = checkpoint_root.join(&cfg.name);
    checkpoint::save(&dir, &model, cfg, &metrics)?;
    say(format!("checkpoint written to {} ({:.1} s in all)", dir.display(), metrics.total_seconds));
    Ok(TrainOutcome { checkpoint: dir, metrics, model })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::device;
    use crate::data::{IdentityFolder, ImageSpec};
    use crate::inference::embed_folder;
    use crate::model::ModelConfig;

    fn tiny_config(embedding: usize) -> RunConfig {
        RunConfig {
            name: "tiny".into(),
            data: Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/face_nonface"),
            model: ModelConfig::new().with_channels(vec![8, 16]).with_embedding_size(embedding).with_image_size(32),
            training: crate::config::TrainingConfig { epochs: 1, max_per_class: 48, batch_size: 16, ..Default::default() },
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
        let spec = ImageSpec { size: 32, channels: 1 };
        let mut per_backend = Vec::new();
        for backend in [Backend::Flex, Backend::Ndarray] {
            let dev = device(backend).unwrap();
            let root = tmp.path().join(backend.to_string());
            let out = train(&tiny_config(12), backend, &dev, &root, false).unwrap();
            assert_eq!(out.metrics.epochs.len(), 1);
            assert_eq!(out.metrics.train_images + out.metrics.val_images, 96);
            assert!(out.metrics.epochs[0].train_loss.is_finite());
            let before = embed_folder(&out.model, spec, &folder, &dev, 7, false).unwrap();
            let (cfg, reloaded) = checkpoint::load(&out.checkpoint, &dev).unwrap();
            assert_eq!(cfg, tiny_config(12));
            let after = embed_folder(&reloaded, spec, &folder, &dev, 64, false).unwrap();
            assert_eq!(before.matrix.dim(), (20, 12));
            assert!(max_abs_diff(&before.matrix, &after.matrix) < 1e-5, "reload changed the embeddings");
            assert!(before.matrix.iter().any(|&v| v > 0.0), "all-zero embedding");
            per_backend.push((out.checkpoint, after.matrix));
        }
        // The flex checkpoint loaded on ndarray and vice versa.
        for (i, (ck, own)) in per_backend.iter().enumerate() {
            let other = device([Backend::Ndarray, Backend::Flex][i]).unwrap();
            let (_, m) = checkpoint::load(ck, &other).unwrap();
            let e = embed_folder(&m, spec, &folder, &other, 64, false).unwrap();
            assert!(max_abs_diff(own, &e.matrix) < 1e-3, "backends disagree");
        }
    }

    /// The GPU half of the cross-backend check; runs with `--features gpu` on a machine
    /// with an adapter (`scripts/gpu_check.sh`).
    #[cfg(feature = "gpu")]
    #[test]
    fn a_flex_checkpoint_gives_the_same_embeddings_on_wgpu_and_trains_there() {
        let tmp = tempfile::tempdir().unwrap();
        let folder = att_two_people();
        let spec = ImageSpec { size: 32, channels: 1 };
        let cpu = device(Backend::Flex).unwrap();
        let gpu = device(Backend::Wgpu).expect("a GPU adapter");
        let out = train(&tiny_config(12), Backend::Flex, &cpu, tmp.path(), false).unwrap();
        let on_cpu = embed_folder(&out.model, spec, &folder, &cpu, 64, false).unwrap();
        let (_, m) = checkpoint::load(&out.checkpoint, &gpu).unwrap();
        let on_gpu = embed_folder(&m, spec, &folder, &gpu, 64, false).unwrap();
        assert!(max_abs_diff(&on_cpu.matrix, &on_gpu.matrix) < 1e-3, "flex and wgpu disagree");
        let g = train(&tiny_config(12), Backend::Wgpu, &gpu, &tmp.path().join("g"), false).unwrap();
        assert!(g.metrics.epochs[0].train_loss.is_finite());
        let (_, back) = checkpoint::load(&g.checkpoint, &cpu).unwrap();
        let a = embed_folder(&g.model, spec, &folder, &gpu, 64, false).unwrap();
        let b = embed_folder(&back, spec, &folder, &cpu, 64, false).unwrap();
        assert!(max_abs_diff(&a.matrix, &b.matrix) < 1e-3, "wgpu checkpoint differs on flex");
    }

    #[test]
    fn supcon_loss_matches_the_hand_computed_value() {
        let dev = device(Backend::Flex).unwrap();
        // Two people, two identical unit vectors each, the people orthogonal; τ = 1.
        // Every row: positive similarity 1, two negatives at 0 → loss = ln(e + 2) − 1.
        let z = Tensor::<2>::from_data(TensorData::new(vec![2.0f32, 0.0, 3.0, 0.0, 0.0, 1.0, 0.0, 5.0], [4, 2]), &dev);
        let l: f32 = supcon_loss(z.clone(), &[0, 0, 1, 1], 1.0).into_scalar();
        let expected = (std::f32::consts::E + 2.0).ln() - 1.0;
        assert!((l - expected).abs() < 1e-4, "{l} vs {expected}");
        // Labels that pair the wrong rows must cost more.
        let wrong: f32 = supcon_loss(z, &[0, 1, 0, 1], 1.0).into_scalar();
        assert!(wrong > l + 0.5, "{wrong}");
    }

    #[test]
    fn checkpoint_whose_config_does_not_match_the_weights_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let dev = device(Backend::Flex).unwrap();
        let cfg = tiny_config(12);
        let model = cfg.model.init(&dev).unwrap();
        let dir = tmp.path().join("ck");
        checkpoint::save(&dir, &model, &cfg, &()).unwrap();
        // Someone edits config.json: the record no longer fits the architecture.
        let mut edited = cfg.clone();
        edited.model.embedding_size = 20;
        checkpoint::write_json(&dir.join(checkpoint::CONFIG_FILE), &edited).unwrap();
        let e = checkpoint::load(&dir, &dev).err().unwrap().to_string();
        assert!(e.contains("model.bpk") && e.contains("embed.weight") && e.contains("12") && e.contains("20"), "{e}");
        let e = checkpoint::load(&tmp.path().join("nothing"), &dev).err().unwrap().to_string();
        assert!(e.contains("nothing") && e.contains("does not exist"), "{e}");
    }

    #[test]
    fn saving_over_a_checkpoint_replaces_it_whole_and_leaves_no_temporaries() {
        let tmp = tempfile::tempdir().unwrap();
        let dev = device(Backend::Flex).unwrap();
        let dir = tmp.path().join("ck");
        for e in [8, 16] {
            let cfg = tiny_config(e);
            checkpoint::save(&dir, &cfg.model.init(&dev).unwrap(), &cfg, &()).unwrap();
        }
        assert_eq!(checkpoint::load(&dir, &dev).unwrap().0.model.embedding_size, 16);
        let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("ck")]);
    }
}
