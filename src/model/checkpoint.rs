//! A checkpoint is a folder: `model.bpk` (burn record), `config.json` (the exact
//! `RunConfig` that built it) and `metrics.json` (per-epoch numbers).
//!
//! It is written whole into a temporary sibling folder and renamed into place, so an
//! interrupted run never leaves a half-written model under the final name, and an older
//! checkpoint of the same name survives until the new one is complete.
use std::path::{Path, PathBuf};

use burn::prelude::*;
use serde::Serialize;

use super::FaceNet;
use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::files::write_json;

pub const MODEL_FILE: &str = "model.bpk";
pub const CONFIG_FILE: &str = "config.json";
pub const METRICS_FILE: &str = "metrics.json";

pub fn save<M: Serialize>(dir: &Path, model: &FaceNet, config: &RunConfig, metrics: &M) -> Result<()> {
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let name = dir.file_name().ok_or_else(|| Error::Invalid(format!("bad checkpoint path {}", dir.display())))?;
    let tmp = parent.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    model.clone().save_file(tmp.join(MODEL_FILE)).map_err(|e| Error::Checkpoint { path: tmp.join(MODEL_FILE), reason: e.to_string() })?;
    write_json(&tmp.join(CONFIG_FILE), config)?;
    write_json(&tmp.join(METRICS_FILE), metrics)?;
    // Move the previous checkpoint aside only once the new one is complete.
    let old = parent.join(format!(".{}.old-{}", name.to_string_lossy(), std::process::id()));
    if dir.exists() {
        std::fs::rename(dir, &old).map_err(|e| Error::io(dir, e))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| Error::io(dir, e))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
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
        if !dir.exists() {
            return Err(Error::Checkpoint { path: path.to_path_buf(), reason: "does not exist".into() });
        }
        let cfg_path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&cfg_path)
            .map_err(|e| Error::Checkpoint { path: cfg_path.clone(), reason: format!("cannot read config ({e})") })?;
        let config: RunConfig = serde_json::from_str(&text)
            .map_err(|e| Error::Checkpoint { path: cfg_path.clone(), reason: format!("invalid config ({e})") })?;
        config.validate().map_err(|e| Error::Checkpoint { path: cfg_path, reason: e.to_string() })?;
        Ok(Checkpoint { dir, model_file, config })
    }

    /// Rebuilds the network from the config and loads the weights. A weight file that
    /// does not fit the config (edited config, mixed-up files) is an error naming the
    /// mismatched parameters, not a panic.
    pub fn load_model(&self, device: &Device) -> Result<FaceNet> {
        let path = &self.model_file;
        if !path.is_file() {
            return Err(Error::Checkpoint { path: path.clone(), reason: "model file missing".into() });
        }
        self.config
            .model
            .init(device)
            .try_load_file(path)
            .map_err(|e| Error::Checkpoint { path: path.clone(), reason: format!("weights do not match config.json: {e}") })
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
        let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("ck")]);
    }
}
