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
use crate::files::{Bundled, Claims, Replaceable, Staged, fault_point, may_replace, read_text, recover_if_idle, write_json};
use crate::progress::Reporter;

pub const MODEL_FILE: &str = "model.bpk";
pub const CONFIG_FILE: &str = "config.json";
pub const METRICS_FILE: &str = "metrics.json";
/// Written beside the weights by calibration (`crate::calibrate`), which owns its contents.
pub const CALIBRATION_FILE: &str = "calibration.json";

/// The identity model committed with the code (`checkpoints/identity-v6`, trained by
/// configs/identity.toml; docs/identity/): what `infer`, `match` and `bench-infer` use when
/// no `-m` is given. Compiled into the binary and unpacked to the cache on first use
/// ([`Bundled::unpack`]), so an installed facemb finds it from any folder. Its
/// predecessors (identity-v5, identity-v4) are no longer committed; their figures are in
/// docs/identity/.
pub const READY_MODEL: Bundled =
    crate::files::bundle!("checkpoints", "identity-v6"; "config.json", "calibration.json", "metrics.json", "model.bpk");

/// Saves a checkpoint to `dir` in one call: [`destination`] then [`write`].
pub fn save<M: Serialize>(dir: &Path, model: &FaceNet, config: &RunConfig, metrics: &M, reporter: Reporter) -> Result<()> {
    write(destination(dir, config, reporter)?, model, config, metrics)
}

/// The files a checkpoint folder holds: what may be replaced by a new checkpoint.
const CHECKPOINT_FILES: [&str; 4] = [MODEL_FILE, CONFIG_FILE, METRICS_FILE, CALIBRATION_FILE];

/// Checks, before any training, that a checkpoint of `config` can be written to `dir`
/// (its parent is or can be made a folder; `dir` is nothing yet or a checkpoint folder,
/// and neither is, holds nor lies inside the training data or an identity pool) and
/// locks it against a second run: a run that trains for an hour and then fails at save
/// loses the hour.
pub fn destination(dir: &Path, config: &RunConfig, reporter: Reporter) -> Result<Staged> {
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
    Staged::begin("checkpoint", dir, reporter)
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
    pub fn open(path: &Path, reporter: Reporter) -> Result<Self> {
        let (dir, model_file) = if path.is_file() {
            (path.parent().unwrap_or(Path::new(".")).to_path_buf(), path.to_path_buf())
        } else {
            (path.to_path_buf(), path.join(MODEL_FILE))
        };
        recover_if_idle(&dir, reporter)?;
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
pub fn load(path: &Path, device: &Device, reporter: Reporter) -> Result<(RunConfig, FaceNet)> {
    let ck = Checkpoint::open(path, reporter)?;
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
        save(&dir, &model, &cfg, &serde_json::json!({"epochs": []}), Reporter::SILENT).unwrap();
        // With BatchNorm after every block and on the embedding, the norms' weights and
        // running statistics travel too.
        let mut normed = tiny_config(6);
        normed.model.conv_norm = true;
        normed.model.embedding_norm = true;
        let bn = normed.model.init(&dev);
        save(&tmp.path().join("bn"), &bn, &normed, &serde_json::json!({}), Reporter::SILENT).unwrap();
        let x = Tensor::<4>::random([3, 1, 32, 32], burn::tensor::Distribution::Default, &dev);
        let again = Checkpoint::open(&tmp.path().join("bn"), Reporter::SILENT).unwrap().load_model(&dev).unwrap();
        assert_eq!(bn.embed_linear(x.clone()).into_data(), again.embed_linear(x.clone()).into_data());
        assert!(
            tiny_config(6).model.init(&dev).try_load_file(tmp.path().join("bn").join(MODEL_FILE)).is_err(),
            "norms are part of the record"
        );
        for given in [dir.clone(), dir.join(MODEL_FILE)] {
            let ck = Checkpoint::open(&given, Reporter::SILENT).unwrap();
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
        save(&dir, &cfg.model.init(&dev), &cfg, &(), Reporter::SILENT).unwrap();
        // Someone edits config.json: the record no longer fits the architecture.
        let mut edited = cfg.clone();
        edited.model.embedding_size = 20;
        write_json(&dir.join(CONFIG_FILE), &edited).unwrap();
        let e = load(&dir, &dev, Reporter::SILENT).err().unwrap().to_string();
        assert!(e.contains("model.bpk") && e.contains("embed.weight") && e.contains("12") && e.contains("20"), "{e}");
        let e = load(&tmp.path().join("nothing"), &dev, Reporter::SILENT).err().unwrap().to_string();
        assert!(e.contains("nothing") && e.contains("does not exist"), "{e}");
        // An invalid config is refused when opened, before any weight is read.
        edited.model.embedding_size = 0;
        write_json(&dir.join(CONFIG_FILE), &edited).unwrap();
        let e = Checkpoint::open(&dir, Reporter::SILENT).unwrap_err().to_string();
        assert!(e.contains("config.json") && e.contains("embedding_size"), "{e}");
        std::fs::remove_file(dir.join(CONFIG_FILE)).unwrap();
        assert!(Checkpoint::open(&dir, Reporter::SILENT).unwrap_err().to_string().contains("cannot read config"));
    }

    #[test]
    fn saving_over_a_checkpoint_replaces_it_whole_and_leaves_no_temporaries() {
        let tmp = tempfile::tempdir().unwrap();
        let dev = device(Backend::Flex).unwrap();
        let dir = tmp.path().join("ck");
        for e in [8, 16] {
            let cfg = tiny_config(e);
            save(&dir, &cfg.model.init(&dev), &cfg, &(), Reporter::SILENT).unwrap();
        }
        assert_eq!(load(&dir, &dev, Reporter::SILENT).unwrap().0.model.embedding_size, 16);
        // Only the checkpoint and its (empty, unlocked) lock file: no staging or old copy.
        let mut names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(names, [".ck.lock", "ck"]);
    }
}
