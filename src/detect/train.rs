//! Training the detector: windows drawn from the scene compositor, BCE on face / not and
//! a squared error on the box and turn, Adam with a cosine rate. Every window is drawn
//! from a generator seeded by (seed, step, index), so a resumed run draws exactly what an
//! uninterrupted one would: the resume state is the weights, Adam's moments and a step.
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::relu;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::Detector;
use super::mine::{draw_mined, mine};
use super::photo::Plane;
use super::scenes::{FaceBank, SceneBank, Target, draw_window, spoil};
use super::{CONFIG_FILE, DetectorNet, METRICS_FILE, MODEL_FILE};
use crate::config::{DetectorConfig, LrSchedule};
use crate::error::{Error, Result};
use crate::files::{Claims, Replaceable, Staged, may_replace, read_text, write_json, write_json_atomic};
use crate::progress::Reporter;

/// Weight of the box terms (centre, log side) against the turn's sine and cosine: the
/// box's errors are a tenth of a window, the turn's a tenth of a radian, so unweighted
/// the box would barely be taught.
const BOX_WEIGHT: f32 = 20.0;

/// Windows a validation draws (from the test scenes).
const VALIDATION_WINDOWS: usize = 4096;

/// One line of the training log.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Progress {
    pub step: usize,
    pub face_loss: f64,
    pub box_loss: f64,
    pub seconds: f64,
}

/// What the detection windows of the test scenes say about the network.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct Validation {
    /// Share of windows taught face or not that it calls right (at probability 0.5).
    pub accuracy: f64,
    /// Share of face windows it calls faces, and of non-face windows it calls not.
    pub recall: f64,
    pub specificity: f64,
    /// Mean absolute error of the box centre and side (in windows) and of the turn
    /// (degrees) on windows with a box.
    pub centre_error: f64,
    pub size_error: f64,
    pub angle_error_degrees: f64,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct DetectorMetrics {
    pub progress: Vec<Progress>,
    pub validation: Option<Validation>,
    pub faces: usize,
    pub train_scenes: usize,
    pub test_scenes: usize,
}

#[derive(Serialize, Deserialize)]
struct ResumeState {
    config: DetectorConfig,
    step: usize,
    progress: Vec<Progress>,
}

const RESUME_STATE: &str = "state.json";
const RESUME_WEIGHTS: &str = "net.bpk";
const RESUME_OPTIMIZER: &str = "optimizer.bpk";

fn resume_dir(checkpoint: &Path) -> PathBuf {
    checkpoint.with_file_name(format!(".{}.resume", checkpoint.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()))
}

/// The generator of window `index` of `step`.
fn window_rng(seed: u64, step: usize, index: usize) -> StdRng {
    let mut z = seed ^ (step as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (index as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    StdRng::seed_from_u64(z ^ (z >> 31))
}

/// Hard negatives mined for a run and the share of each batch drawn from them.
#[derive(Clone, Copy)]
pub struct Negatives<'a> {
    pub windows: &'a [Plane],
    pub share: f64,
}

impl Negatives<'_> {
    pub const NONE: Negatives<'static> = Negatives { windows: &[], share: 0.0 };
}

/// `count` windows of `step` as the network's input `[B, 1, W, W]` (pixels − 0.5) and
/// their targets: the compositor's, and the last `share` of them mined negatives,
/// spoilt like the rest.
pub fn windows(
    faces: &FaceBank,
    scenes: &SceneBank,
    mined: Negatives,
    window: usize,
    seed: u64,
    step: usize,
    count: usize,
) -> (Vec<f32>, Vec<Target>) {
    let fresh = if mined.windows.is_empty() { count } else { count - (count as f64 * mined.share).round() as usize };
    let drawn: Vec<_> = (0..count)
        .into_par_iter()
        .map(|i| {
            let mut rng = window_rng(seed, step, i);
            if i < fresh {
                return draw_window(faces, scenes, window, &mut rng);
            }
            let mut p = draw_mined(mined.windows, &mut rng);
            spoil(&mut p, &mut rng);
            (p, Target { label: 0.0, reg: [0.0; 5], boxed: false })
        })
        .collect();
    let mut x = Vec::with_capacity(count * window * window);
    let mut t = Vec::with_capacity(count);
    for (p, target) in drawn {
        x.extend(p.data.iter().map(|v| v - 0.5));
        t.push(target);
    }
    (x, t)
}

/// Loss of outputs `[B, 6]` against `targets`: (face BCE, box error), each a mean over
/// the windows that teach it.
fn losses(out: Tensor<2>, targets: &[Target], device: &Device) -> (Tensor<1>, Tensor<1>) {
    let b = targets.len();
    let col = |v: Vec<f32>, n: usize| Tensor::<2>::from_data(TensorData::new(v, [b, n]), device);
    let taught: Vec<f32> = targets.iter().map(|t| f32::from(t.label >= 0.0)).collect();
    let y: Vec<f32> = targets.iter().map(|t| t.label.max(0.0)).collect();
    let boxed: Vec<f32> = targets.iter().map(|t| f32::from(t.boxed)).collect();
    let reg: Vec<f32> = targets.iter().flat_map(|t| t.reg).collect();
    let (n_taught, n_boxed) = (taught.iter().sum::<f32>().max(1.0), boxed.iter().sum::<f32>().max(1.0));
    let z = out.clone().narrow(1, 0, 1);
    // Stable BCE with logits: max(z, 0) − z·y + ln(1 + e^−|z|).
    let bce = relu(z.clone()) - z.clone() * col(y, 1) + z.abs().neg().exp().log1p();
    let face = (bce * col(taught, 1)).sum().div_scalar(n_taught);
    let weights = Tensor::<2>::from_data(TensorData::new(vec![BOX_WEIGHT, BOX_WEIGHT, BOX_WEIGHT, 1.0, 1.0], [1, 5]), device);
    let d = out.narrow(1, 1, 5) - col(reg, 5);
    let boxes = (d.powi_scalar(2) * weights * col(boxed, 1)).sum().div_scalar(n_boxed);
    (face, boxes)
}

/// Scores `net` on windows of the test scenes.
pub fn validate(net: &DetectorNet, faces: &FaceBank, scenes: &SceneBank, window: usize, seed: u64, device: &Device) -> Validation {
    let (mut right, mut taught, mut faces_called, mut face_n, mut not_called, mut not_n) = (0, 0, 0, 0, 0, 0);
    let (mut centre, mut size, mut angle, mut boxed) = (0.0, 0.0, 0.0, 0);
    for chunk in 0..VALIDATION_WINDOWS / 512 {
        let (x, targets) = windows(faces, scenes, Negatives::NONE, window, seed ^ 0x5eed, usize::MAX - chunk, 512);
        let input = Tensor::<4>::from_data(TensorData::new(x, [512, 1, window, window]), device);
        let out: Vec<f32> = net.forward_windows(input).into_data().try_to_vec::<f32>().unwrap_or_default();
        for (o, t) in out.chunks_exact(6).zip(&targets) {
            let face = o[0] > 0.0;
            if t.label >= 0.0 {
                taught += 1;
                right += usize::from(face == (t.label == 1.0));
                if t.label == 1.0 {
                    face_n += 1;
                    faces_called += usize::from(face);
                } else {
                    not_n += 1;
                    not_called += usize::from(!face);
                }
            }
            if t.boxed {
                boxed += 1;
                centre += f64::from((o[1] - t.reg[0]).hypot(o[2] - t.reg[1]));
                size += f64::from((o[3] - t.reg[2]).abs());
                let d = o[4].atan2(o[5]) - t.reg[3].atan2(t.reg[4]);
                angle += f64::from(d.sin().atan2(d.cos()).abs().to_degrees());
            }
        }
    }
    let share = |a: usize, b: usize| a as f64 / b.max(1) as f64;
    let mean = |s: f64| s / boxed.max(1) as f64;
    Validation {
        accuracy: share(right, taught),
        recall: share(faces_called, face_n),
        specificity: share(not_called, not_n),
        centre_error: mean(centre),
        size_error: mean(size),
        angle_error_degrees: mean(angle),
    }
}

/// Checks that a detector checkpoint can be written to `dir` (never over its scenes or
/// faces, nor a folder of other files) and locks it.
fn destination(dir: &Path, cfg: &DetectorConfig, rep: Reporter) -> Result<Staged> {
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .map_err(|e| Error::Checkpoint { path: parent.to_path_buf(), reason: format!("cannot hold checkpoints ({e})") })?;
    let mut claims = Claims::new().input("scenes", &cfg.scenes);
    if let Some(m) = &cfg.mining {
        claims = claims.input("mining.from", &m.from);
    }
    for f in &cfg.faces {
        claims = claims.input("faces", f);
    }
    let ours = |name: &str| [MODEL_FILE, CONFIG_FILE, METRICS_FILE].contains(&name);
    let hint = "a checkpoint replaces its folder whole, so choose another --out";
    may_replace("checkpoint", dir, &claims, Replaceable::Folder { ours: &ours, hint })?;
    Staged::begin("checkpoint", dir, rep)
}

/// Trains the detector `cfg` on `device` into `out/<cfg.name>`; with `resume`, goes on
/// from the last saved step of an interrupted run of the same config. Returns the
/// checkpoint folder.
pub fn train_detector(cfg: &DetectorConfig, device: &Device, out: &Path, resume: bool, rep: Reporter) -> Result<PathBuf> {
    let dir = out.join(&cfg.name);
    let dest = destination(&dir, cfg, rep)?;
    let resume_at = resume_dir(&dir);
    let state: Option<ResumeState> = if resume && resume_at.join(RESUME_STATE).is_file() {
        let s: ResumeState = serde_json::from_str(&read_text(&resume_at.join(RESUME_STATE))?)
            .map_err(|e| Error::Checkpoint { path: resume_at.clone(), reason: format!("resume state: {e}") })?;
        if &s.config != cfg {
            return Err(Error::Checkpoint {
                path: resume_at,
                reason: "the interrupted run had another config; start afresh without --resume".into(),
            });
        }
        Some(s)
    } else {
        None
    };
    let faces = FaceBank::load(&cfg.faces, cfg.max_faces)?;
    let train_scenes = SceneBank::load(&cfg.scenes, false)?;
    let test_scenes = SceneBank::load(&cfg.scenes, true)?;
    rep.note(format!(
        "detector {}: {} faces pasted into {} training scenes ({} kept for testing), {} windows of {} px per step",
        cfg.name,
        faces.faces.len(),
        train_scenes.scenes.len(),
        test_scenes.scenes.len(),
        cfg.batch_size,
        cfg.net.window
    ));
    device.seed(cfg.seed);
    let ad = device.clone().autodiff();
    let mut net = cfg.net.init(&ad);
    let mut mined = Vec::new();
    if let Some(m) = &cfg.mining {
        let from = Detector::open(&m.from, device)?;
        if from.config.net != cfg.net {
            return Err(Error::Config {
                path: m.from.join(CONFIG_FILE),
                reason: format!("mining.from's [net] is not this run's {:?}", cfg.net),
            });
        }
        let salt = cfg.seed ^ 0x6d69_6e65;
        mined = mine(&from, &train_scenes, cfg.net.window, m.pictures, |i| window_rng(salt, usize::MAX / 2, i), device, rep);
        rep.note(format!(
            "mined {} false detections' windows (with their jittered copies) from {} training-scene pictures",
            mined.len(),
            m.pictures
        ));
        let w = m.from.join(MODEL_FILE);
        net = net.try_load_file(&w).map_err(|e| Error::Checkpoint { path: w, reason: e.to_string() })?;
    }
    let negatives = Negatives { windows: &mined, share: cfg.mining.as_ref().map_or(0.0, |m| m.share) };
    let mut optim = AdamConfig::new().init();
    let (mut start, mut progress) = (0, Vec::new());
    if let Some(s) = state {
        let w = resume_at.join(RESUME_WEIGHTS);
        net = net.try_load_file(&w).map_err(|e| Error::Checkpoint { path: w, reason: format!("resume weights: {e}") })?;
        let o = resume_at.join(RESUME_OPTIMIZER);
        optim = optim.load(&o).map_err(|e| Error::Checkpoint { path: o, reason: format!("optimiser state: {e}") })?;
        (start, progress) = (s.step, s.progress);
        rep.note(format!("resuming after step {start} of {}", cfg.steps));
    }
    let (w, b) = (cfg.net.window, cfg.batch_size);
    let began = Instant::now();
    let before = progress.last().map_or(0.0, |p: &Progress| p.seconds);
    let (mut face_sum, mut box_sum, mut n) = (0.0, 0.0, 0);
    for step in start..cfg.steps {
        let (x, targets) = windows(&faces, &train_scenes, negatives, w, cfg.seed, step, b);
        let input = Tensor::<4>::from_data(TensorData::new(x, [b, 1, w, w]), &ad);
        let (face, boxes) = losses(net.forward_windows(input), &targets, &ad);
        let (fl, bl) = (f64::from(face.clone().into_scalar::<f32>()), f64::from(boxes.clone().into_scalar::<f32>()));
        if !(fl.is_finite() && bl.is_finite()) {
            return Err(Error::Diverged { epoch: 1, batch: step + 1, what: "detector", value: fl + bl });
        }
        let loss = face + boxes;
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(LrSchedule::Cosine.rate(cfg.learning_rate, step, cfg.steps), net, grads);
        (face_sum, box_sum, n) = (face_sum + fl, box_sum + bl, n + 1);
        if (step + 1) % cfg.save_every == 0 || step + 1 == cfg.steps {
            let line = Progress {
                step: step + 1,
                face_loss: face_sum / n as f64,
                box_loss: box_sum / n as f64,
                seconds: before + began.elapsed().as_secs_f64(),
            };
            rep.note(format!(
                "step {}/{}: face loss {:.4}, box loss {:.4}, {:.0} s",
                line.step, cfg.steps, line.face_loss, line.box_loss, line.seconds
            ));
            progress.push(line);
            (face_sum, box_sum, n) = (0.0, 0.0, 0);
            save_resume(&resume_at, &net, &optim, ResumeState { config: cfg.clone(), step: step + 1, progress: progress.clone() })?;
        }
    }
    let tmp = dest.dir().to_path_buf();
    net.clone().save_file(tmp.join(MODEL_FILE)).map_err(|e| Error::Checkpoint { path: tmp.join(MODEL_FILE), reason: e.to_string() })?;
    let valid = cfg
        .net
        .init(device)
        .try_load_file(tmp.join(MODEL_FILE))
        .map_err(|e| Error::Checkpoint { path: tmp.join(MODEL_FILE), reason: e.to_string() })?;
    let v = validate(&valid, &faces, &test_scenes, w, cfg.seed, device);
    rep.note(format!(
        "test scenes: accuracy {:.3} (faces {:.3}, not faces {:.3}); box centre off by {:.3} windows, size by {:.3} (log), turn by {:.1}°",
        v.accuracy, v.recall, v.specificity, v.centre_error, v.size_error, v.angle_error_degrees
    ));
    let metrics = DetectorMetrics {
        progress,
        validation: Some(v),
        faces: faces.faces.len(),
        train_scenes: train_scenes.scenes.len(),
        test_scenes: test_scenes.scenes.len(),
    };
    write_json(&tmp.join(CONFIG_FILE), cfg)?;
    write_json(&tmp.join(METRICS_FILE), &metrics)?;
    dest.commit()?;
    let _ = std::fs::remove_dir_all(&resume_at);
    Ok(dir)
}

fn save_resume(at: &Path, net: &DetectorNet, optim: &ModuleOptimizer, state: ResumeState) -> Result<()> {
    std::fs::create_dir_all(at).map_err(|e| Error::io(at, e))?;
    // Weights and moments first, the step last: a kill between them leaves a state that
    // points at the previous save's step with newer weights, which only repeats steps.
    let w = at.join(RESUME_WEIGHTS);
    net.clone().save_file(w.clone()).map_err(|e| Error::Checkpoint { path: w.clone(), reason: e.to_string() })?;
    let o = at.join(RESUME_OPTIMIZER);
    optim.save(&o).map_err(|e| Error::Checkpoint { path: o.clone(), reason: e.to_string() })?;
    write_json_atomic(&at.join(RESUME_STATE), &state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mined_share_of_a_batch_is_taught_not_a_face_and_the_draw_repeats() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets");
        let faces = FaceBank::load(&[root.join("photos_sample")], 4).unwrap();
        let scenes = SceneBank::load(&root.join("scenes_sample"), true).unwrap();
        let mined = vec![Plane { width: 8, height: 8, channels: 1, data: (0..64).map(|v| v as f32 / 64.0).collect() }];
        let negatives = Negatives { windows: &mined, share: 0.25 };
        let (x, t) = windows(&faces, &scenes, negatives, 8, 1, 0, 8);
        assert_eq!((x.len(), t.len()), (8 * 64, 8));
        assert!(t[6..].iter().all(|t| t.label == 0.0 && !t.boxed), "the last quarter is mined: {t:?}");
        assert_eq!(windows(&faces, &scenes, negatives, 8, 1, 0, 8), (x.clone(), t.clone()), "a resumed run draws the same");
        let (_, plain) = windows(&faces, &scenes, Negatives::NONE, 8, 1, 0, 8);
        assert_eq!(plain[..6], t[..6], "the compositor's windows are the ones an unmined run draws");
    }
}
