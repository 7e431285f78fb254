//! A checkpoint is a folder: `model.bpk` (burn record), `config.json` (the exact
//! `RunConfig` that built it) and `metrics.json` (per-epoch numbers).
//!
//! It is written whole into a temporary sibling folder and renamed into place, so an
//! interrupted run never leaves a half-written model under the final name, and an older
//! checkpoint of the same name survives until the new one is complete.
use std::path::{Path, PathBuf};

use burn::prelude::*;
use serde::Serialize;

use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::model::FaceNet;

pub const MODEL_FILE: &str = "model.bpk";
pub const CONFIG_FILE: &str = "config.json";
pub const METRICS_FILE: &str = "metrics.json";

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Invalid(e.to_string()))?;
    std::fs::write(path, text + "\n").map_err(|e| Error::io(path, e))
}

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

/// Where the checkpoint folder is, given either the folder or the model file inside it
/// (the Python tool took a model file).
pub fn resolve_dir(path: &Path) -> PathBuf {
    if path.is_file() { path.parent().unwrap_or(Path::new(".")).to_path_buf() } else { path.to_path_buf() }
}

pub fn load_config(path: &Path) -> Result<RunConfig> {
    let dir = resolve_dir(path);
    let cfg_path = dir.join(CONFIG_FILE);
    if !dir.exists() {
        return Err(Error::Checkpoint { path: path.to_path_buf(), reason: "does not exist".into() });
    }
    let text = std::fs::read_to_string(&cfg_path)
        .map_err(|e| Error::Checkpoint { path: cfg_path.clone(), reason: format!("cannot read config ({e})") })?;
    let cfg: RunConfig =
        serde_json::from_str(&text).map_err(|e| Error::Checkpoint { path: cfg_path.clone(), reason: format!("invalid config ({e})") })?;
    cfg.validate().map_err(|e| Error::Checkpoint { path: cfg_path, reason: e.to_string() })?;
    Ok(cfg)
}

/// Rebuilds the network from the checkpoint's config and loads its weights. A weight file
/// that does not fit the config (edited config, mixed-up files) is an error naming the
/// mismatched parameters, not a panic.
pub fn load(path: &Path, device: &Device) -> Result<(RunConfig, FaceNet)> {
    let cfg = load_config(path)?;
    let model_path = if path.is_file() { path.to_path_buf() } else { path.join(MODEL_FILE) };
    if !model_path.is_file() {
        return Err(Error::Checkpoint { path: model_path, reason: "model file missing".into() });
    }
    let model = cfg
        .model
        .init(device)?
        .try_load_file(&model_path)
        .map_err(|e| Error::Checkpoint { path: model_path, reason: format!("weights do not match config.json: {e}") })?;
    Ok((cfg, model))
}
