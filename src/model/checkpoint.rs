//! A checkpoint is a folder: `model.bpk` (burn record), `config.json` (the exact
//! `RunConfig` that built it) and `metrics.json` (per-epoch numbers).
//!
//! It is written whole into a hidden sibling folder and put in place
//! ([`crate::files::Staged`]), so an interrupted run never leaves a half-written model
//! under the final name, an older checkpoint of the same name survives until the new
//! one is complete, and one moved aside by a run killed mid-swap is restored.
use std::path::{Path, PathBuf};

use burn::prelude::*;
use serde::Serialize;

use super::FaceNet;
use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::files::{Claims, Replaceable, Staged, atomic_write, fault_point, may_replace, read_text, recover_if_idle, write_json};

pub const MODEL_FILE: &str = "model.bpk";
pub const CONFIG_FILE: &str = "config.json";
pub const METRICS_FILE: &str = "metrics.json";
pub const CALIBRATION_FILE: &str = "calibration.json";

/// The identity model committed with the code (configs/identity.toml, docs/identity/):
/// what `infer` and `bench-infer` use when no `-m` is given. Relative to the repository
/// root, where the README's commands run. Its predecessors (identity-v5, identity-v4) are
/// no longer committed; their figures are in docs/identity/.
pub const READY_MODEL: &str = "checkpoints/identity-v6";

/// A training person kept out of training, to calibrate distances on afterwards.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct HeldOut {
    pub name: String,
    pub paths: Vec<PathBuf>,
}

/// Quantile levels of the held-out pairwise distances kept in a calibration.
pub const PAIR_QUANTILES: [f64; 7] = [0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 0.75];

/// What `calibrate` measured on held-out people: distances are between L2-normalised
/// vectors read as `layer` / `flip` say.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct Calibration {
    pub people: usize,
    pub images: usize,
    pub layer: super::Layer,
    pub flip: bool,
    /// Average-linkage cut with the best ARI on the held-out people.
    pub linkage_threshold: f32,
    /// Chinese-whispers edge threshold with the best ARI.
    pub cw_threshold: f32,
    /// DBSCAN radius (min_samples 3) with the best ARI.
    pub dbscan_eps: f32,
    /// `facemb match`'s default tolerance: the best balance of known accuracy and unknown
    /// rejection over the draws (None in calibrations made before `match` existed).
    #[serde(default)]
    pub match_tolerance: Option<f32>,
    /// Median distance between two held-out images (any two: nearly all are of different
    /// people), the mean over the calibration's draws. Kept for reading: the cuts and the
    /// match tolerance travel by a lower quantile (`cluster::SCALE_QUANTILE`).
    pub pair_median: f32,
    /// Quantiles ([`PAIR_QUANTILES`]) of all held-out pairwise distances; the
    /// `cluster::SCALE_QUANTILE` one carries the clustering cuts and the match tolerance
    /// to other folders.
    pub pair_quantiles: Vec<f32>,
    pub genuine_median: f32,
    pub impostor_median: f32,
    pub curve: Vec<CurvePoint>,
    /// PCA whitening fitted on the held-out vectors, for `infer --whiten` (None in
    /// calibrations made before it existed: `facemb calibrate` adds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whitening: Option<Whitening>,
}

/// The principal axes of L2-normalised held-out vectors: their mean, each axis's variance
/// (largest first) and the axes themselves (rows, unit length). Fitted and applied by
/// `project::whiten`.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct Whitening {
    pub mean: Vec<f32>,
    pub variances: Vec<f32>,
    pub axes: Vec<Vec<f32>>,
}

impl Calibration {
    /// The held-out distances' quantile at `level`, when it is one of [`PAIR_QUANTILES`].
    pub fn pair_quantile(&self, level: f64) -> Option<f32> {
        PAIR_QUANTILES.iter().position(|&q| q == level).and_then(|i| self.pair_quantiles.get(i).copied())
    }
}

/// One threshold of the calibration scan.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, Default, PartialEq)]
pub struct CurvePoint {
    pub threshold: f32,
    /// Share of same-person pairs closer than the threshold (true accepts).
    pub genuine_below: f64,
    /// Share of different-person pairs closer than it (false accepts).
    pub impostor_below: f64,
    /// ARI of each method at the threshold, the mean over the capped draws
    /// (`calibrate::PER_PERSON` images of each person, `calibrate::DRAWS` draws).
    pub linkage_ari: f64,
    pub cw_ari: f64,
    pub dbscan_ari: f64,
    /// `facemb match` simulated on the same draws (half the people known, one image of
    /// each a query; the other half unknown): known people named, and strangers turned
    /// away, at this tolerance. Absent from calibrations made before `match` existed.
    #[serde(default)]
    pub match_known_accuracy: f64,
    #[serde(default)]
    pub match_unknown_rejected: f64,
}

/// Saves a checkpoint to `dir` in one call: [`destination`] then [`write`].
pub fn save<M: Serialize>(dir: &Path, model: &FaceNet, config: &RunConfig, metrics: &M) -> Result<()> {
    write(destination(dir, config)?, model, config, metrics)
}

/// The files a checkpoint folder holds: what may be replaced by a new checkpoint.
const CHECKPOINT_FILES: [&str; 4] = [MODEL_FILE, CONFIG_FILE, METRICS_FILE, CALIBRATION_FILE];

/// Checks, before any training, that a checkpoint of `config` can be written to `dir`
/// (its parent is or can be made a folder; `dir` is nothing yet or a checkpoint folder,
/// and neither is, holds nor lies inside the training data or an identity pool) and
/// locks it against a second run: a run that trains for an hour and then fails at save
/// loses the hour.
pub fn destination(dir: &Path, config: &RunConfig) -> Result<Staged> {
    if dir.file_name().is_none() {
        return Err(Error::Checkpoint { path: dir.to_path_buf(), reason: "not a folder name".into() });
    }
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .map_err(|e| Error::Checkpoint { path: parent.to_path_buf(), reason: format!("cannot hold checkpoints ({e})") })?;
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Checkpoint { path: dir.to_path_buf(), reason: "exists and is not a folder".into() });
    }
    let mut claims = Claims::new().input("data", &config.data);
    for pool in config.identity.iter().flat_map(|id| id.folders()) {
        claims = claims.input("identity data", &pool);
    }
    let ours = |name: &str| CHECKPOINT_FILES.contains(&name);
    let hint = "a checkpoint replaces its folder whole, so choose another --name or --out";
    may_replace("checkpoint", dir, &claims, Replaceable::Folder { ours: &ours, hint })?;
    Staged::begin("checkpoint", dir)
}

/// Writes the weights, config and metrics into the staged folder and puts it in place.
pub fn write<M: Serialize>(dest: Staged, model: &FaceNet, config: &RunConfig, metrics: &M) -> Result<()> {
    let tmp = dest.dir();
    model.clone().save_file(tmp.join(MODEL_FILE)).map_err(|e| Error::Checkpoint { path: tmp.join(MODEL_FILE), reason: e.to_string() })?;
    fault_point("checkpoint:written-weights");
    write_json(&tmp.join(CONFIG_FILE), config)?;
    write_json(&tmp.join(METRICS_FILE), metrics)?;
    dest.commit()
}

/// Writes `cal` into the checkpoint folder `dir`, replacing any earlier calibration whole
/// (written beside it, then renamed over it).
pub fn save_calibration(dir: &Path, cal: &Calibration) -> Result<()> {
    let text = serde_json::to_string_pretty(cal).map_err(|e| Error::Invalid(e.to_string()))?;
    atomic_write(&dir.join(CALIBRATION_FILE), (text + "\n").as_bytes())
}

/// A checkpoint whose config has been read and validated, weights not yet loaded.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// The checkpoint folder.
    pub dir: PathBuf,
    /// The weight file (the one given, or `model.bpk` in the folder).
    pub model_file: PathBuf,
    pub config: RunConfig,
}

impl Checkpoint {
    /// Reads the checkpoint's `config.json`, given the folder or the model file inside it
    /// (the Python tool took a model file).
    pub fn open(path: &Path) -> Result<Self> {
        let (dir, model_file) = if path.is_file() {
            (path.parent().unwrap_or(Path::new(".")).to_path_buf(), path.to_path_buf())
        } else {
            (path.to_path_buf(), path.join(MODEL_FILE))
        };
        recover_if_idle(&dir)?;
        if !dir.exists() {
            return Err(Error::Checkpoint { path: path.to_path_buf(), reason: "does not exist".into() });
        }
        let cfg_path = dir.join(CONFIG_FILE);
        let text = read_text(&cfg_path).map_err(|e| Error::Checkpoint {
            path: cfg_path.clone(),
            reason: match e {
                Error::Io { source, .. } => format!("cannot read config ({source})"),
                Error::Data { reason, .. } => format!("cannot read config: it {reason}"),
                e => e.to_string(),
            },
        })?;
        let config: RunConfig = serde_json::from_str(&text)
            .map_err(|e| Error::Checkpoint { path: cfg_path.clone(), reason: format!("invalid config ({e})") })?;
        config.validate().map_err(|e| Error::Checkpoint { path: cfg_path, reason: e.to_string() })?;
        Ok(Checkpoint { dir, model_file, config })
    }

    /// Rebuilds the network from the config and loads the weights. A weight file that
    /// does not fit the config (edited config, mixed-up files) is an error naming the
    /// mismatched parameters, not a panic.
    /// metrics.json as training wrote it.
    pub fn metrics<M: serde::de::DeserializeOwned>(&self) -> Result<M> {
        let path = self.dir.join(METRICS_FILE);
        let text = read_text(&path)?;
        serde_json::from_str(&text).map_err(|e| Error::Checkpoint { path, reason: format!("invalid metrics ({e})") })
    }

    /// The checkpoint's calibration, when it has one.
    pub fn calibration(&self) -> Result<Option<Calibration>> {
        let path = self.dir.join(CALIBRATION_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let text = read_text(&path)?;
        serde_json::from_str(&text).map(Some).map_err(|e| Error::Checkpoint { path, reason: format!("invalid calibration ({e})") })
    }

    pub fn load_model(&self, device: &Device) -> Result<FaceNet> {
        let path = &self.model_file;
        if !path.is_file() {
            let reason = if path.exists() { "is not a regular file (a pipe or device?)" } else { "model file missing" };
            return Err(Error::Checkpoint { path: path.clone(), reason: reason.into() });
        }
        if path.extension().is_some_and(|e| e == "json") {
            return Err(Error::Checkpoint {
                path: path.clone(),
                reason: format!("is a JSON file, not weights: pass the checkpoint folder (or its {MODEL_FILE})"),
            });
        }
        self.config.model.init(device).try_load_file(path).map_err(|e| {
            let reason = match e {
                burn::store::RecordError::Validation(why) => format!("weights do not match config.json: {why}"),
                // Unreadable before any weight is compared: the file itself is damaged.
                burn::store::RecordError::Io(why) => format!("damaged or not a burn weight file ({why})"),
            };
            Error::Checkpoint { path: path.clone(), reason }
        })
    }
}

/// [`Checkpoint::open`] and [`Checkpoint::load_model`] in one call.
pub fn load(path: &Path, device: &Device) -> Result<(RunConfig, FaceNet)> {
    let ck = Checkpoint::open(path)?;
    let model = ck.load_model(device)?;
    Ok((ck.config, model))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Backend, device};
    use crate::config::{ModelConfig, TrainingConfig};

    fn tiny_config(embedding: usize) -> RunConfig {
        RunConfig {
            name: "tiny".into(),
            data: PathBuf::from("datasets/face_nonface"),
            model: ModelConfig::new().with_channels(vec![8, 16]).with_embedding_size(embedding).with_image_size(32),
            training: TrainingConfig::default(),
            identity: None,
        }
    }

    #[test]
    fn a_saved_checkpoint_opens_by_folder_or_model_file_and_loads_the_same_weights() {
        let tmp = tempfile::tempdir().unwrap();
        let dev = device(Backend::Flex).unwrap();
        let cfg = tiny_config(12);
        let model = cfg.model.init(&dev);
        let dir = tmp.path().join("ck");
        save(&dir, &model, &cfg, &serde_json::json!({"epochs": []})).unwrap();
        // With BatchNorm after every block and on the embedding, the norms' weights and
        // running statistics travel too.
        let mut normed = tiny_config(6);
        normed.model.conv_norm = true;
        normed.model.embedding_norm = true;
        let bn = normed.model.init(&dev);
        save(&tmp.path().join("bn"), &bn, &normed, &serde_json::json!({})).unwrap();
        let x = Tensor::<4>::random([3, 1, 32, 32], burn::tensor::Distribution::Default, &dev);
        let again = Checkpoint::open(&tmp.path().join("bn")).unwrap().load_model(&dev).unwrap();
        assert_eq!(bn.embed_linear(x.clone()).into_data(), again.embed_linear(x.clone()).into_data());
        assert!(
            tiny_config(6).model.init(&dev).try_load_file(tmp.path().join("bn").join(MODEL_FILE)).is_err(),
            "norms are part of the record"
        );
        for given in [dir.clone(), dir.join(MODEL_FILE)] {
            let ck = Checkpoint::open(&given).unwrap();
            assert_eq!((ck.dir.as_path(), &ck.config), (dir.as_path(), &cfg));
            let x = Tensor::<4>::ones([2, 1, 32, 32], &dev);
            let (a, b) = (model.embed(x.clone()), ck.load_model(&dev).unwrap().embed(x));
            assert_eq!(a.into_data(), b.into_data());
        }
        let metrics: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join(METRICS_FILE)).unwrap()).unwrap();
        assert_eq!(metrics["epochs"], serde_json::json!([]));
    }

    #[test]
    fn checkpoint_whose_config_does_not_match_the_weights_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let dev = device(Backend::Flex).unwrap();
        let cfg = tiny_config(12);
        let dir = tmp.path().join("ck");
        save(&dir, &cfg.model.init(&dev), &cfg, &()).unwrap();
        // Someone edits config.json: the record no longer fits the architecture.
        let mut edited = cfg.clone();
        edited.model.embedding_size = 20;
        write_json(&dir.join(CONFIG_FILE), &edited).unwrap();
        let e = load(&dir, &dev).err().unwrap().to_string();
        assert!(e.contains("model.bpk") && e.contains("embed.weight") && e.contains("12") && e.contains("20"), "{e}");
        let e = load(&tmp.path().join("nothing"), &dev).err().unwrap().to_string();
        assert!(e.contains("nothing") && e.contains("does not exist"), "{e}");
        // An invalid config is refused when opened, before any weight is read.
        edited.model.embedding_size = 0;
        write_json(&dir.join(CONFIG_FILE), &edited).unwrap();
        let e = Checkpoint::open(&dir).unwrap_err().to_string();
        assert!(e.contains("config.json") && e.contains("embedding_size"), "{e}");
        std::fs::remove_file(dir.join(CONFIG_FILE)).unwrap();
        assert!(Checkpoint::open(&dir).unwrap_err().to_string().contains("cannot read config"));
    }

    #[test]
    fn saving_over_a_checkpoint_replaces_it_whole_and_leaves_no_temporaries() {
        let tmp = tempfile::tempdir().unwrap();
        let dev = device(Backend::Flex).unwrap();
        let dir = tmp.path().join("ck");
        for e in [8, 16] {
            let cfg = tiny_config(e);
            save(&dir, &cfg.model.init(&dev), &cfg, &()).unwrap();
        }
        assert_eq!(load(&dir, &dev).unwrap().0.model.embedding_size, 16);
        // Only the checkpoint and its (empty, unlocked) lock file: no staging or old copy.
        let mut names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(names, [".ck.lock", "ck"]);
    }
}
