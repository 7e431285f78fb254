//! What makes an experiment resumable: a finished checkpoint with the same config is
//! reused, and each finished run's scores are kept in `runs/<run>.json`.
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{ExperimentConfig, ResultRow};
use crate::config::RunConfig;
use crate::image::folder::IdentityFolder;
use crate::model::checkpoint::{self, Checkpoint};
use crate::progress::Reporter;
use crate::train::TrainMetrics;

/// Reads a finished run back when its stored config is exactly `cfg`.
pub fn finished_run(dir: &Path, cfg: &RunConfig, reporter: Reporter) -> Option<TrainMetrics> {
    let stored = Checkpoint::open(dir, reporter).ok()?;
    if &stored.config != cfg || !stored.model_file.is_file() {
        return None;
    }
    serde_json::from_str(&crate::files::read_text(&dir.join(checkpoint::METRICS_FILE)).ok()?).ok()
}

/// One finished run's contribution to the tables and the UMAP grids (`runs/<run>.json`).
#[derive(Serialize, Deserialize)]
pub struct RunRecord {
    pub config: RunConfig,
    /// What the rows were measured on: see `evaluation_key`.
    pub evaluation: String,
    pub metrics: TrainMetrics,
    pub rows: Vec<ResultRow>,
    /// Per folder (first seed only, when the grid is drawn): UMAP layout and row identities.
    pub umap: Vec<(Vec<[f32; 2]>, Vec<usize>)>,
}

/// The folders (path, identities, images), methods and normalisation the rows depend on:
/// a record counts only when these are unchanged.
pub fn evaluation_key(exp: &ExperimentConfig, folders: &[IdentityFolder]) -> String {
    let folders: Vec<(String, usize, usize)> =
        folders.iter().map(|f| (f.root.display().to_string(), f.names.len(), f.paths.len())).collect();
    let methods: Vec<&str> = exp.methods.iter().map(|m| m.name()).collect();
    serde_json::json!({ "folders": folders, "methods": methods, "normalize": exp.normalize, "umap_grid": exp.umap_grid }).to_string()
}

pub fn load_record(path: &Path, cfg: &RunConfig, key: &str) -> Option<RunRecord> {
    let rec: RunRecord = serde_json::from_str(&crate::files::read_text(path).ok()?).ok()?;
    (&rec.config == cfg && rec.evaluation == key).then_some(rec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Backend, device};
    use crate::config::{ModelConfig, TrainingConfig};

    fn config(seed: u64) -> RunConfig {
        RunConfig {
            name: "e8-s1".into(),
            data: "datasets/face_nonface".into(),
            model: ModelConfig::new().with_channels(vec![4]).with_embedding_size(8).with_image_size(8),
            training: TrainingConfig { seed, ..TrainingConfig::default() },
            identity: None,
        }
    }

    fn metrics() -> TrainMetrics {
        TrainMetrics {
            backend: "flex".into(),
            train_images: 1,
            val_images: 0,
            skipped_files: 0,
            total_seconds: 1.0,
            epochs: Vec::new(),
            held_out: Vec::new(),
            screened_out: Vec::new(),
        }
    }

    #[test]
    fn a_record_counts_only_for_the_same_config_and_evaluation() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("e8-s1.json");
        let rec = RunRecord { config: config(1), evaluation: "key".into(), metrics: metrics(), rows: Vec::new(), umap: Vec::new() };
        std::fs::write(&p, serde_json::to_string(&rec).unwrap()).unwrap();
        assert!(load_record(&p, &config(1), "key").is_some());
        assert!(load_record(&p, &config(2), "key").is_none(), "another seed");
        assert!(load_record(&p, &config(1), "other folders").is_none());
        assert!(load_record(&tmp.path().join("missing.json"), &config(1), "key").is_none());
        std::fs::write(&p, "{ not json").unwrap();
        assert!(load_record(&p, &config(1), "key").is_none(), "a damaged record is not reused");
    }

    #[test]
    fn a_checkpoint_is_reused_only_when_its_config_is_identical_and_its_weights_exist() {
        let tmp = tempfile::tempdir().unwrap();
        let dev = device(Backend::Flex).unwrap();
        let dir = tmp.path().join("e8-s1");
        checkpoint::save(&dir, &config(1).model.init(&dev), &config(1), &metrics(), Reporter::SILENT).unwrap();
        assert_eq!(finished_run(&dir, &config(1), Reporter::SILENT), Some(metrics()));
        assert_eq!(finished_run(&dir, &config(2), Reporter::SILENT), None);
        std::fs::remove_file(dir.join(checkpoint::MODEL_FILE)).unwrap();
        assert_eq!(finished_run(&dir, &config(1), Reporter::SILENT), None);
    }

    #[test]
    fn the_evaluation_key_changes_with_folders_methods_and_normalisation() {
        let f = IdentityFolder::scan(&Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/att_faces")).unwrap();
        let exp: ExperimentConfig =
            toml::from_str("name = \"x\"\nbase_config = \"b\"\nembedding_sizes = [8]\nseeds = [1]\nfolders = [\"f\"]").unwrap();
        let key = evaluation_key(&exp, std::slice::from_ref(&f));
        assert!(key.contains("att_faces") && key.contains("400"), "{key}");
        let other = ExperimentConfig { normalize: true, ..exp.clone() };
        assert_ne!(evaluation_key(&other, std::slice::from_ref(&f)), key);
        let other = ExperimentConfig { methods: vec![crate::cluster::Method::Kmeans], ..exp };
        assert_ne!(evaluation_key(&other, std::slice::from_ref(&f)), key);
    }
}
