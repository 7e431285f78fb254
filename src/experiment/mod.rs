//! Experiments: train and evaluate several embedding sizes × seeds in one command, with
//! the pixel baseline beside them, and write `results.csv`, `results.md` and charts.
//!
//! A run whose checkpoint already holds an identical config is reused, so an interrupted
//! experiment resumes where it stopped. A run's scores are also kept in the results folder
//! (`runs/<run>.json`): with them a rerun skips the run's training and evaluation, even on a
//! machine where its checkpoint is gone, so a long sweep can be carried on elsewhere with the
//! results folder alone.
mod records;
mod results;

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::Device;
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::cluster::Method;
use crate::config::{self, RunConfig};
use crate::embed::pixels::pixel_embeddings;
use crate::embed::{DEFAULT_BATCH, Embeddings, Readout, embed_folder};
use crate::error::{Error, Result};
use crate::evaluate::EvalOptions;
use crate::image::folder::IdentityFolder;
use crate::model::checkpoint;
use crate::output::{self, Charts, OutDir, plot};
use crate::progress::{self, Reporter};
use crate::project::{self, UmapParams};
use crate::train;
use records::{RunRecord, evaluation_key, finished_run, load_record};
pub use results::ResultRow;
use results::{folder_label, rows_of};

fn all_methods() -> Vec<Method> {
    Method::ALL.to_vec()
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// Names the results folder (`results/<name>`) and the checkpoints (`checkpoints/<name>`).
    pub name: String,
    /// Run config every size starts from (training data, architecture, training settings).
    pub base_config: PathBuf,
    pub embedding_sizes: Vec<usize>,
    /// One training run per seed and size: the tables show mean ± standard deviation.
    pub seeds: Vec<u64>,
    /// Clustering folders `ROOT/<identity>/<image>` to evaluate every run on.
    pub folders: Vec<PathBuf>,
    #[serde(default = "all_methods")]
    pub methods: Vec<Method>,
    /// Pixel-baseline image sizes S (S×S grey pixels); the first is the charts' dashed line.
    #[serde(default)]
    pub pixel_sizes: Vec<usize>,
    /// Overrides of the base config, for quick experiments.
    #[serde(default)]
    pub epochs: Option<usize>,
    #[serde(default)]
    pub max_per_class: Option<usize>,
    /// L2-normalise vectors before clustering.
    #[serde(default)]
    pub normalize: bool,
    /// Draw a grid of UMAP projections (first seed) per folder.
    #[serde(default = "yes")]
    pub umap_grid: bool,
}

fn yes() -> bool {
    true
}

/// Command-line changes to an experiment file: more folders, other seeds or sizes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides {
    pub folders: Vec<PathBuf>,
    pub seeds: Option<Vec<u64>>,
    pub sizes: Option<Vec<usize>>,
}

impl ExperimentConfig {
    /// Reads `path`, applies the command-line `overrides`, and validates the result once
    /// (the same rules for a value from the file or from a flag).
    pub fn load(path: &Path, overrides: &Overrides) -> Result<Self> {
        let text = crate::files::read_text(path)?;
        let mut cfg: ExperimentConfig = toml::from_str(&text).map_err(|e| crate::config::toml_error(path, &text, &e))?;
        cfg.folders.extend(overrides.folders.iter().cloned());
        if let Some(seeds) = overrides.seeds.clone().filter(|s| !s.is_empty()) {
            cfg.seeds = seeds;
        }
        if let Some(sizes) = overrides.sizes.clone().filter(|s| !s.is_empty()) {
            cfg.embedding_sizes = sizes;
        }
        cfg.validate().map_err(|reason| Error::Config {
            path: path.into(),
            reason: if overrides == &Overrides::default() { reason } else { format!("{reason} (after the command-line overrides)") },
        })?;
        Ok(cfg)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if self.embedding_sizes.is_empty() || self.embedding_sizes.contains(&0) {
            return Err("embedding_sizes must list sizes > 0".into());
        }
        if self.seeds.is_empty() {
            return Err("seeds must not be empty".into());
        }
        if self.folders.is_empty() {
            return Err("folders must name at least one clustering folder".into());
        }
        if self.pixel_sizes.contains(&0) {
            return Err("pixel_sizes must list sizes > 0".into());
        }
        if self.epochs == Some(0) {
            return Err("epochs must be > 0".into());
        }
        if self.name.is_empty() || self.name.contains(['/', '\\']) {
            return Err("name must be a plain folder name".into());
        }
        Ok(())
    }

    /// The run config of one size × seed.
    pub fn run_config(&self, base: &RunConfig, size: usize, seed: u64) -> RunConfig {
        let mut c = base.clone();
        c.name = format!("e{size}-s{seed}");
        c.model.embedding_size = size;
        c.training.seed = seed;
        if let Some(e) = self.epochs {
            c.training.epochs = e;
        }
        if let Some(m) = self.max_per_class {
            c.training.max_per_class = m;
        }
        c
    }
}

pub struct Options<'a> {
    pub backend: Backend,
    pub device: &'a Device,
    pub checkpoints: PathBuf,
    pub out: PathBuf,
    /// The experiment's bar and lines; its runs' notes and warnings (their own bars and
    /// epoch lines stay hidden under the experiment's).
    pub reporter: Reporter,
}

/// Runs the whole experiment; returns every evaluation row and the results table
/// (markdown, as `results.md` holds it).
pub fn run(exp: &ExperimentConfig, opts: &Options) -> Result<(Vec<ResultRow>, String)> {
    let base = RunConfig::load(&exp.base_config, &config::Overrides::default())?;
    let folders: Vec<IdentityFolder> = exp.folders.iter().map(|f| IdentityFolder::scan(f)).collect::<Result<_>>()?;
    let eval = EvalOptions { methods: exp.methods.clone(), normalize: exp.normalize, ..EvalOptions::default() };
    std::fs::create_dir_all(&opts.out).map_err(|e| Error::io(&opts.out, e))?;

    let runs = exp.embedding_sizes.len() * exp.seeds.len();
    let steps = runs * (1 + folders.len()) + exp.pixel_sizes.len() * folders.len();
    let pb = progress::bar(steps, "{prefix} [{bar:30}] {pos}/{len} steps, {elapsed} elapsed, ETA {eta}  {msg}", opts.reporter.bars);
    pb.set_prefix(exp.name.clone());
    let started = Instant::now();
    let mut rows = Vec::new();
    // UMAP panels for the grids: per folder, (caption, layout), and the identity of each
    // row (the same decodable files in every run, so one label vector serves all panels).
    let mut grids: Vec<Vec<(String, Array2<f32>)>> = vec![Vec::new(); folders.len()];
    let mut grid_labels: Vec<Vec<usize>> = vec![Vec::new(); folders.len()];
    let umap_panel = |emb: &Embeddings| project::umap(emb.matrix.view(), &UmapParams::default());

    let key = evaluation_key(exp, &folders);
    // Reused runs may come from another machine or backend: the table names what trained them.
    let mut backends = std::collections::BTreeSet::new();
    let runs_dir = opts.out.join("runs");
    for (r, (&size, &seed)) in exp.embedding_sizes.iter().flat_map(|s| exp.seeds.iter().map(move |d| (s, d))).enumerate() {
        let cfg = exp.run_config(&base, size, seed);
        let record_path = runs_dir.join(format!("{}.json", cfg.name));
        let grid_run = exp.umap_grid && seed == exp.seeds[0];
        if let Some(rec) = load_record(&record_path, &cfg, &key).filter(|r| !grid_run || r.umap.len() == folders.len()) {
            progress::say(
                &pb,
                opts.reporter,
                &format!("E={size:<5} seed {seed}: scores of an earlier run reused ({})", record_path.display()),
            );
            backends.insert(rec.metrics.backend.clone());
            rows.extend(rec.rows);
            for (fi, (layout, labels)) in rec.umap.into_iter().enumerate().filter(|_| grid_run) {
                let panel = Array2::from_shape_fn((layout.len(), 2), |(i, c)| layout[i][c]);
                grids[fi].push((format!("E = {size}"), panel));
                grid_labels[fi] = labels;
            }
            pb.inc(1 + folders.len() as u64);
            continue;
        }
        let dir = opts.checkpoints.join(&cfg.name);
        pb.set_message(format!("run {}/{runs}: train E={size} seed {seed}", r + 1));
        let (metrics, model, reused) = match finished_run(&dir, &cfg, opts.reporter) {
            Some(m) => (m, checkpoint::load(&dir, opts.device, opts.reporter)?.1, true),
            None => {
                let quiet = train::Options { reporter: Reporter { bars: false, ..opts.reporter }, ..train::Options::QUIET };
                let out = crate::commands::train_and_calibrate(&cfg, opts.backend, opts.device, &opts.checkpoints, quiet)?;
                (out.metrics, out.model, false)
            }
        };
        pb.inc(1);
        progress::say(
            &pb,
            opts.reporter,
            &format!(
                "E={size:<5} seed {seed}: val acc {}, {:.0} s{}",
                metrics.final_val_accuracy().map_or("-".into(), |a| format!("{a:.4}")),
                metrics.total_seconds,
                if reused { " (reused checkpoint)" } else { "" }
            ),
        );
        backends.insert(metrics.backend.clone());
        let mut record =
            RunRecord { config: cfg.clone(), evaluation: key.clone(), metrics: metrics.clone(), rows: Vec::new(), umap: Vec::new() };
        for (fi, folder) in folders.iter().enumerate() {
            pb.set_message(format!("run {}/{runs}: evaluate E={size} seed {seed} on {}", r + 1, folder_label(&folder.root)));
            let t = Instant::now();
            let emb = embed_folder(&model, &cfg.model, Readout::default(), folder, opts.device, DEFAULT_BATCH, false)?;
            let rate = emb.paths.len() as f64 / t.elapsed().as_secs_f64();
            let dir = opts.out.join("runs").join(&cfg.name).join(folder_label(&folder.root));
            let scores = output::report(
                &emb,
                &format!("cnn {}", cfg.name),
                &folder.root,
                &eval,
                &Charts::none(),
                OutDir::begin(&dir, &folder.root, opts.reporter)?,
            )?;
            record.rows.extend(rows_of(&scores, "cnn", size, Some(seed), Some(&metrics), rate));
            if grid_run {
                let panel = umap_panel(&emb)?;
                record.umap.push((panel.rows().into_iter().map(|p| [p[0], p[1]]).collect(), emb.identity.clone()));
                grids[fi].push((format!("E = {size}"), panel));
                grid_labels[fi] = emb.identity.clone();
            }
            pb.inc(1);
        }
        std::fs::create_dir_all(&runs_dir).map_err(|e| Error::io(&runs_dir, e))?;
        let json = serde_json::to_string(&record).map_err(|e| Error::Invalid(format!("run record: {e}")))?;
        std::fs::write(&record_path, json).map_err(|e| Error::io(&record_path, e))?;
        rows.extend(record.rows);
    }
    for &s in &exp.pixel_sizes {
        for (fi, folder) in folders.iter().enumerate() {
            pb.set_message(format!("pixels {s}×{s} on {}", folder_label(&folder.root)));
            let t = Instant::now();
            let emb = pixel_embeddings(folder, s, false)?;
            let rate = emb.paths.len() as f64 / t.elapsed().as_secs_f64();
            let dir = opts.out.join("runs").join(format!("pixels-{s}")).join(folder_label(&folder.root));
            let scores = output::report(
                &emb,
                &format!("pixels {s}x{s}"),
                &folder.root,
                &eval,
                &Charts::none(),
                OutDir::begin(&dir, &folder.root, opts.reporter)?,
            )?;
            rows.extend(rows_of(&scores, "pixels", s, None, None, rate));
            if exp.umap_grid && s == exp.pixel_sizes[0] {
                grids[fi].push((format!("pixels {s}×{s}"), umap_panel(&emb)?));
                grid_labels[fi] = emb.identity.clone();
            }
            pb.inc(1);
        }
    }
    pb.finish_and_clear();

    results::write_csv(&opts.out.join("results.csv"), &rows)?;
    let md = results::markdown(exp, &rows, started.elapsed().as_secs_f64(), &backends.into_iter().collect::<Vec<_>>().join(", "));
    std::fs::write(opts.out.join("results.md"), &md).map_err(|e| Error::io(opts.out.join("results.md"), e))?;
    results::charts(exp, &rows, &opts.out)?;
    for ((folder, panels), labels) in folders.iter().zip(&grids).zip(&grid_labels) {
        if !panels.is_empty() {
            let path = opts.out.join(format!("umap_grid_{}.png", folder_label(&folder.root)));
            plot::scatter_grid_png(&path, panels, labels)?;
        }
    }
    Ok((rows, md))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smoke() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/experiments/smoke.toml")
    }

    #[test]
    fn flags_extend_or_replace_the_file_and_are_checked_alike() {
        let exp = ExperimentConfig::load(&smoke(), &Overrides::default()).unwrap();
        assert_eq!((exp.embedding_sizes.as_slice(), exp.seeds.as_slice()), (&[8, 32][..], &[1, 2][..]));
        let o = Overrides { folders: vec!["x".into()], seeds: Some(vec![5]), sizes: Some(vec![4, 16]) };
        let exp = ExperimentConfig::load(&smoke(), &o).unwrap();
        assert_eq!((exp.embedding_sizes.as_slice(), exp.seeds.as_slice(), exp.folders.len()), (&[4, 16][..], &[5][..], 2));
        // `--sizes 0` is refused like `embedding_sizes = [0]` in the file, naming the file.
        let o = Overrides { sizes: Some(vec![0]), ..Overrides::default() };
        let e = ExperimentConfig::load(&smoke(), &o).unwrap_err().to_string();
        assert!(e.contains("smoke.toml") && e.contains("embedding_sizes must list sizes > 0") && e.contains("command-line"), "{e}");
    }

    #[test]
    fn bad_experiment_files_name_the_field_not_a_flag() {
        let tmp = tempfile::tempdir().unwrap();
        let base = std::fs::read_to_string(smoke()).unwrap();
        for (from, to, want) in [
            ("pixel_sizes = [16]", "pixel_sizes = [0]", "pixel_sizes must list sizes > 0"),
            ("embedding_sizes = [8, 32]", "embedding_sizes = [8, 0]", "embedding_sizes"),
            ("seeds = [1, 2]", "seeds = []", "seeds must not be empty"),
            ("epochs = 1", "epochs = 0", "epochs must be > 0"),
            ("name = \"smoke\"", "name = \"a/b\"", "plain folder name"),
        ] {
            let p = tmp.path().join("e.toml");
            assert!(base.contains(from), "{from}");
            std::fs::write(&p, base.replace(from, to)).unwrap();
            let e = ExperimentConfig::load(&p, &Overrides::default()).unwrap_err().to_string();
            assert!(e.contains("e.toml") && e.contains(want) && !e.contains("--"), "{e}");
        }
    }

    #[test]
    fn each_run_config_is_the_base_with_its_size_seed_and_quick_overrides() {
        let exp = ExperimentConfig::load(&smoke(), &Overrides::default()).unwrap();
        let base = RunConfig::default();
        let c = exp.run_config(&base, 32, 2);
        assert_eq!((c.name.as_str(), c.model.embedding_size, c.training.seed), ("e32-s2", 32, 2));
        assert_eq!((c.training.epochs, c.training.max_per_class), (1, 60));
        assert_eq!(c.model.channels, base.model.channels);
    }
}
