//! Experiments: train and evaluate several embedding sizes × seeds in one command, with
//! the pixel baseline beside them, and write `results.csv`, `results.md` and charts.
//!
//! A run whose checkpoint already holds an identical config is reused, so an interrupted
//! experiment resumes where it stopped. A run's scores are also kept in the results folder
//! (`runs/<run>.json`): with them a rerun skips the run's training and evaluation, even on a
//! machine where its checkpoint is gone, so a long sweep can be carried on elsewhere with the
//! results folder alone.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::Device;
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::checkpoint::{self, METRICS_FILE};
use crate::config::RunConfig;
use crate::data::IdentityFolder;
use crate::error::{Error, Result};
use crate::inference::{Embeddings, embed_folder};
use crate::pixels::pixel_embeddings;
use crate::plot::{self, Series};
use crate::project::{self, UmapParams};
use crate::report::{self, EvalOptions, Method, Scores};
use crate::training::{self, TrainMetrics};

fn default_methods() -> Vec<Method> {
    EvalOptions::default().methods
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
    #[serde(default = "default_methods")]
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

impl ExperimentConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let cfg: ExperimentConfig = toml::from_str(&text).map_err(|e| Error::Config { path: path.into(), reason: e.to_string() })?;
        let bad = |reason: &str| Err(Error::Config { path: path.into(), reason: reason.into() });
        if cfg.embedding_sizes.is_empty() || cfg.embedding_sizes.contains(&0) {
            return bad("embedding_sizes must list sizes > 0");
        }
        if cfg.seeds.is_empty() {
            return bad("seeds must not be empty");
        }
        if cfg.folders.is_empty() {
            return bad("folders must name at least one clustering folder");
        }
        if cfg.name.is_empty() || cfg.name.contains(['/', '\\']) {
            return bad("name must be a plain folder name");
        }
        Ok(cfg)
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

/// One line of `results.csv`: one (embedding, folder, method) evaluation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ResultRow {
    /// "cnn" or "pixels".
    pub kind: String,
    /// Embedding size (cnn) or image side S (pixels).
    pub size: usize,
    pub seed: Option<u64>,
    pub folder: String,
    pub method: String,
    pub dim: usize,
    pub clusters: usize,
    pub noise: usize,
    pub ari: f64,
    pub nmi: f64,
    pub silhouette: Option<f64>,
    pub one_nn: f64,
    pub val_accuracy: Option<f64>,
    pub train_seconds: Option<f64>,
    pub train_images_per_sec: Option<f64>,
    pub embed_images_per_sec: f64,
}

pub struct Options<'a> {
    pub backend: Backend,
    pub device: &'a Device,
    pub checkpoints: PathBuf,
    pub out: PathBuf,
    pub progress: bool,
}

/// Reads a finished run back when its stored config is exactly `cfg`.
fn finished_run(dir: &Path, cfg: &RunConfig) -> Option<TrainMetrics> {
    let stored = checkpoint::load_config(dir).ok()?;
    if &stored != cfg || !dir.join(checkpoint::MODEL_FILE).is_file() {
        return None;
    }
    serde_json::from_str(&std::fs::read_to_string(dir.join(METRICS_FILE)).ok()?).ok()
}

fn folder_label(p: &Path) -> String {
    p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

fn rows_of(scores: &Scores, kind: &str, size: usize, seed: Option<u64>, train: Option<&TrainMetrics>, embed_rate: f64) -> Vec<ResultRow> {
    scores
        .methods
        .iter()
        .map(|m| ResultRow {
            kind: kind.into(),
            size,
            seed,
            folder: folder_label(&scores.folder),
            method: m.method.clone(),
            dim: scores.dim,
            clusters: m.clusters,
            noise: m.noise,
            ari: m.ari,
            nmi: m.nmi,
            silhouette: m.silhouette,
            one_nn: scores.one_nn_accuracy,
            val_accuracy: train.and_then(|t| t.final_val_accuracy()),
            train_seconds: train.map(|t| t.total_seconds),
            train_images_per_sec: train.map(|t| {
                let e = &t.epochs;
                e.iter().map(|x| x.train_images_per_sec).sum::<f64>() / e.len().max(1) as f64
            }),
            embed_images_per_sec: embed_rate,
        })
        .collect()
}

/// One finished run's contribution to the tables and the UMAP grids (`runs/<run>.json`).
#[derive(Serialize, Deserialize)]
struct RunRecord {
    config: RunConfig,
    /// What the rows were measured on: see `evaluation_key`.
    evaluation: String,
    metrics: TrainMetrics,
    rows: Vec<ResultRow>,
    /// Per folder (first seed only, when the grid is drawn): UMAP layout and row identities.
    umap: Vec<(Vec<[f32; 2]>, Vec<usize>)>,
}

/// The folders (path, identities, images), methods and normalisation the rows depend on:
/// a record counts only when these are unchanged.
fn evaluation_key(exp: &ExperimentConfig, folders: &[IdentityFolder]) -> String {
    let folders: Vec<(String, usize, usize)> =
        folders.iter().map(|f| (f.root.display().to_string(), f.names.len(), f.paths.len())).collect();
    let methods: Vec<&str> = exp.methods.iter().map(|m| m.name()).collect();
    serde_json::json!({ "folders": folders, "methods": methods, "normalize": exp.normalize, "umap_grid": exp.umap_grid }).to_string()
}

fn load_record(path: &Path, cfg: &RunConfig, key: &str) -> Option<RunRecord> {
    let rec: RunRecord = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    (&rec.config == cfg && rec.evaluation == key).then_some(rec)
}

/// A line above the progress bar (or plain, when the bar is not drawn, as in a log).
fn say(pb: &ProgressBar, show: bool, line: String) {
    if !show {
    } else if pb.is_hidden() {
        eprintln!("{line}");
    } else {
        pb.println(line);
    }
}

/// Runs the whole experiment; returns every evaluation row.
pub fn run(exp: &ExperimentConfig, opts: &Options) -> Result<Vec<ResultRow>> {
    let base = RunConfig::load(&exp.base_config)?;
    let folders: Vec<IdentityFolder> = exp.folders.iter().map(|f| IdentityFolder::scan(f)).collect::<Result<_>>()?;
    let eval = EvalOptions { methods: exp.methods.clone(), normalize: exp.normalize, tsne: None, umap: None, ..EvalOptions::default() };
    std::fs::create_dir_all(&opts.out).map_err(|e| Error::io(&opts.out, e))?;

    let runs = exp.embedding_sizes.len() * exp.seeds.len();
    let steps = runs * (1 + folders.len()) + exp.pixel_sizes.len() * folders.len();
    let pb = if opts.progress { ProgressBar::new(steps as u64) } else { ProgressBar::hidden() };
    pb.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} steps, {elapsed} elapsed, ETA {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
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
            say(&pb, opts.progress, format!("E={size:<5} seed {seed}: scores of an earlier run reused ({})", record_path.display()));
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
        let (metrics, model, reused) = match finished_run(&dir, &cfg) {
            Some(m) => (m, checkpoint::load(&dir, opts.device)?.1, true),
            None => {
                let out = training::train(&cfg, opts.backend, opts.device, &opts.checkpoints, false)?;
                (out.metrics, out.model, false)
            }
        };
        pb.inc(1);
        say(
            &pb,
            opts.progress,
            format!(
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
            let emb = embed_folder(&model, cfg.image_spec(), folder, opts.device, 256, false)?;
            let rate = emb.paths.len() as f64 / t.elapsed().as_secs_f64();
            let dir = opts.out.join("runs").join(&cfg.name).join(folder_label(&folder.root));
            let scores = report::evaluate(&emb, &format!("cnn {}", cfg.name), &folder.root, &eval, &dir)?;
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
            let scores = report::evaluate(&emb, &format!("pixels {s}x{s}"), &folder.root, &eval, &dir)?;
            rows.extend(rows_of(&scores, "pixels", s, None, None, rate));
            if exp.umap_grid && s == exp.pixel_sizes[0] {
                grids[fi].push((format!("pixels {s}×{s}"), umap_panel(&emb)?));
                grid_labels[fi] = emb.identity.clone();
            }
            pb.inc(1);
        }
    }
    pb.finish_and_clear();

    write_csv(&opts.out.join("results.csv"), &rows)?;
    let md = markdown(exp, &rows, started.elapsed().as_secs_f64(), &backends.into_iter().collect::<Vec<_>>().join(", "));
    std::fs::write(opts.out.join("results.md"), &md).map_err(|e| Error::io(opts.out.join("results.md"), e))?;
    charts(exp, &rows, &opts.out)?;
    for ((folder, panels), labels) in folders.iter().zip(&grids).zip(&grid_labels) {
        if !panels.is_empty() {
            let path = opts.out.join(format!("umap_grid_{}.png", folder_label(&folder.root)));
            plot::scatter_grid_png(&path, panels, labels)?;
        }
    }
    println!("{md}");
    println!("results in {}", opts.out.display());
    Ok(rows)
}

fn opt(v: Option<f64>) -> String {
    v.map_or(String::new(), |x| format!("{x:.6}"))
}

fn write_csv(path: &Path, rows: &[ResultRow]) -> Result<()> {
    let mut s = String::from(
        "kind,size,seed,folder,method,dim,clusters,noise,ari,nmi,silhouette,one_nn,val_accuracy,train_seconds,train_images_per_sec,embed_images_per_sec\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{:.6},{:.6},{},{:.6},{},{},{},{:.1}",
            r.kind,
            r.size,
            r.seed.map_or(String::new(), |v| v.to_string()),
            r.folder,
            r.method,
            r.dim,
            r.clusters,
            r.noise,
            r.ari,
            r.nmi,
            opt(r.silhouette),
            r.one_nn,
            opt(r.val_accuracy),
            opt(r.train_seconds),
            opt(r.train_images_per_sec),
            r.embed_images_per_sec
        );
    }
    std::fs::write(path, s).map_err(|e| Error::io(path, e))
}

/// Mean and (sample) standard deviation.
pub fn mean_sd(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, 0.0);
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let sd = if v.len() > 1 { (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt() } else { 0.0 };
    (m, sd)
}

fn cell(v: &[f64], digits: usize) -> String {
    match mean_sd(v) {
        (m, _) if m.is_nan() => "-".into(),
        (m, sd) if v.len() > 1 => format!("{m:.digits$} ± {sd:.digits$}"),
        (m, _) => format!("{m:.digits$}"),
    }
}

type Key = (String, usize, String); // kind, size, folder

/// Rows grouped by (kind, size, folder), then by method: all seeds together.
fn grouped(rows: &[ResultRow]) -> BTreeMap<Key, BTreeMap<String, Vec<&ResultRow>>> {
    let mut g: BTreeMap<Key, BTreeMap<String, Vec<&ResultRow>>> = BTreeMap::new();
    for r in rows {
        g.entry((r.kind.clone(), r.size, r.folder.clone())).or_default().entry(r.method.clone()).or_default().push(r);
    }
    g
}

pub fn markdown(exp: &ExperimentConfig, rows: &[ResultRow], seconds: f64, backends: &str) -> String {
    let g = grouped(rows);
    let methods: Vec<&str> = exp.methods.iter().map(|m| m.name()).collect();
    let mut s = format!(
        "# Experiment `{}`\n\nEmbedding sizes {:?}, seeds {:?} (mean ± sd over seeds), pixel baseline sizes {:?}; \
         trained on {}; wall time of this invocation {:.1} min (runs reused from earlier ones not counted). \
         Per method: ARI / NMI / silhouette.\n",
        exp.name,
        exp.embedding_sizes,
        exp.seeds,
        exp.pixel_sizes,
        backends,
        seconds / 60.0
    );
    let folders: Vec<String> = exp.folders.iter().map(|f| folder_label(f)).collect();
    for folder in &folders {
        let _ = write!(s, "\n## {folder}\n\n| embedding | val acc | train s | train img/s | 1-NN |");
        for m in &methods {
            let _ = write!(s, " {m} |");
        }
        let _ = write!(s, "\n|---|---|---|---|---|");
        s.push_str(&"---|".repeat(methods.len()));
        s.push('\n');
        for ((kind, size, f), by_method) in &g {
            if f != folder {
                continue;
            }
            let any: &Vec<&ResultRow> = match by_method.values().next() {
                Some(v) => v,
                None => continue,
            };
            let col = |get: &dyn Fn(&ResultRow) -> Option<f64>| -> Vec<f64> { any.iter().filter_map(|r| get(r)).collect() };
            let name = if kind == "pixels" { format!("pixels {size}×{size}") } else { format!("E = {size}") };
            let _ = write!(
                s,
                "| {name} | {} | {} | {} | {} |",
                cell(&col(&|r| r.val_accuracy), 4),
                cell(&col(&|r| r.train_seconds), 0),
                cell(&col(&|r| r.train_images_per_sec), 0),
                cell(&col(&|r| Some(r.one_nn)), 3)
            );
            for m in &methods {
                let v = by_method.get(*m).map(Vec::as_slice).unwrap_or(&[]);
                let ari: Vec<f64> = v.iter().map(|r| r.ari).collect();
                let nmi: Vec<f64> = v.iter().map(|r| r.nmi).collect();
                let sil: Vec<f64> = v.iter().filter_map(|r| r.silhouette).collect();
                let _ = write!(s, " {} / {} / {} |", cell(&ari, 3), cell(&nmi, 2), cell(&sil, 2));
            }
            s.push('\n');
        }
    }
    s
}

/// ARI per method and 1-NN against embedding size: one line per folder, the first pixel
/// size as a dashed reference, spread over seeds as error bars.
fn charts(exp: &ExperimentConfig, rows: &[ResultRow], out: &Path) -> Result<()> {
    let folders: Vec<String> = exp.folders.iter().map(|f| folder_label(f)).collect();
    let pix = exp.pixel_sizes.first().copied();
    let metric_chart = |file: String, title: String, y: &str, method: &str, get: &dyn Fn(&ResultRow) -> f64| -> Result<()> {
        let mut series = Vec::new();
        let mut dashed = Vec::new();
        for f in &folders {
            let mut points = Vec::new();
            for &size in &exp.embedding_sizes {
                let v: Vec<f64> =
                    rows.iter().filter(|r| r.kind == "cnn" && r.size == size && &r.folder == f && r.method == method).map(get).collect();
                if !v.is_empty() {
                    let (m, sd) = mean_sd(&v);
                    points.push((size as f64, m, sd));
                }
            }
            series.push(Series { name: f.clone(), points });
            if let Some(p) = pix
                && let Some(r) = rows.iter().find(|r| r.kind == "pixels" && r.size == p && &r.folder == f && r.method == method)
            {
                dashed.push((format!("pixels {p}×{p}, {f}"), get(r)));
            }
        }
        plot::line_chart_png(&out.join(file), &title, "embedding size", y, &series, &dashed, true)
    };
    for m in &exp.methods {
        let name = m.name();
        metric_chart(format!("ari_{name}.png"), format!("{name}: ARI vs embedding size"), "ARI", name, &|r| r.ari)?;
    }
    if let Some(m) = exp.methods.first() {
        metric_chart(
            "one_nn.png".into(),
            "leave-one-out 1-NN identity accuracy vs embedding size".into(),
            "1-NN accuracy",
            m.name(),
            &|r| r.one_nn,
        )?;
    }
    Ok(())
}
