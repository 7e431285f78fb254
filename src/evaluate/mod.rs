//! One evaluation path for any N×E matrix (CNN embeddings or the pixel baseline): write
//! the vectors, cluster them, score the clusters against the folder labels, project to
//! 2-D and chart. `infer`, `pixels` and `experiment` all go through `evaluate`.
pub mod metrics;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::checkpoint::write_json;
use crate::cluster;
use crate::error::{Error, Result};
use crate::inference::Embeddings;
use crate::neighbors::l2_normalize;
use crate::plot;
use crate::project::{self, TsneParams, UmapParams};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Dbscan,
    Kmeans,
    /// Chinese whispers (the graph clustering dlib uses for faces).
    Cw,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Dbscan => "dbscan",
            Method::Kmeans => "kmeans",
            Method::Cw => "chinese_whispers",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EvalOptions {
    pub methods: Vec<Method>,
    /// DBSCAN radius; derived from the data when absent.
    pub eps: Option<f32>,
    pub min_samples: usize,
    /// k-means k; the number of identity folders when absent.
    pub k: Option<usize>,
    /// Chinese-whispers edge threshold; derived from the data when absent.
    pub cw_threshold: Option<f32>,
    /// L2-normalise the vectors before clustering and projecting.
    pub normalize: bool,
    pub seed: u64,
    /// File stem of the t-SNE chart (`<stem>_<E>.png`); no chart when None.
    pub tsne: Option<String>,
    /// File stem of the UMAP chart (`<stem>_<E>.png`); no chart when None.
    pub umap: Option<String>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            methods: vec![Method::Dbscan, Method::Kmeans, Method::Cw],
            eps: None,
            min_samples: 3,
            k: None,
            cw_threshold: None,
            normalize: false,
            seed: 0,
            tsne: Some("tsne".into()),
            umap: Some("umap".into()),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MethodScores {
    pub method: String,
    /// The parameters used, and how they were chosen.
    pub params: String,
    pub clusters: usize,
    pub noise: usize,
    pub ari: f64,
    pub nmi: f64,
    pub purity: f64,
    pub silhouette: Option<f64>,
    pub seconds: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Scores {
    /// What produced the vectors, e.g. "cnn checkpoints/default" or "pixels 64x64".
    pub source: String,
    pub folder: PathBuf,
    pub images: usize,
    pub identities: usize,
    pub dim: usize,
    pub skipped_files: usize,
    pub normalized: bool,
    /// Leave-one-out 1-NN identity accuracy of the vectors themselves.
    pub one_nn_accuracy: f64,
    pub methods: Vec<MethodScores>,
    pub charts: Vec<PathBuf>,
}

impl Scores {
    pub fn method(&self, m: Method) -> Option<&MethodScores> {
        self.methods.iter().find(|s| s.method == m.name())
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

/// Clusters with one method, returning labels and a description of the parameters.
fn run_method(m: Method, x: ArrayView2<f32>, opts: &EvalOptions, n_identities: usize) -> Result<(Vec<i64>, String)> {
    match m {
        Method::Dbscan => {
            let (eps, how) = match opts.eps {
                Some(e) => (e, format!("eps = {e} (given)")),
                None => cluster::auto_eps(x, opts.min_samples),
            };
            Ok((cluster::dbscan(x, eps, opts.min_samples)?, format!("{how}, min_samples = {}", opts.min_samples)))
        }
        Method::Kmeans => {
            let (k, how) = match opts.k {
                Some(k) => (k, "given"),
                None => (n_identities, "number of identity folders"),
            };
            let k = k.min(x.nrows());
            Ok((cluster::kmeans(x, k, opts.seed)?, format!("k = {k} ({how})")))
        }
        Method::Cw => {
            let (t, how) = match opts.cw_threshold {
                Some(t) => (t, format!("threshold = {t} (given)")),
                None => cluster::auto_cw_threshold(x),
            };
            Ok((cluster::chinese_whispers(x, t, opts.seed)?, how))
        }
    }
}

/// Reads back what [`evaluate`] wrote to `dir`: the vectors (embeddings.npy) and each
/// row's identity index (index.csv), identities numbered in order of first appearance.
pub fn read_embeddings(dir: &Path) -> Result<(Array2<f32>, Vec<usize>)> {
    let npy = dir.join("embeddings.npy");
    let matrix: Array2<f32> = ndarray_npy::read_npy(&npy).map_err(|e| Error::Data { path: npy.clone(), reason: e.to_string() })?;
    let csv = dir.join("index.csv");
    let text = std::fs::read_to_string(&csv).map_err(|e| Error::io(&csv, e))?;
    let bad = |reason: String| Error::Data { path: csv.clone(), reason };
    let mut ids = std::collections::HashMap::new();
    let mut labels = Vec::new();
    for (line_no, line) in text.lines().enumerate().skip(1) {
        // row,path,identity,p_face: the identity is the second field from the right
        // (a quoted path may itself hold commas).
        let identity = csv_fields(line).into_iter().rev().nth(1).ok_or_else(|| bad(format!("line {}: too few fields", line_no + 1)))?;
        let next = ids.len();
        labels.push(*ids.entry(identity).or_insert(next));
    }
    if labels.len() != matrix.nrows() {
        return Err(bad(format!("{} rows, but embeddings.npy has {}", labels.len(), matrix.nrows())));
    }
    Ok((matrix, labels))
}

/// Fields of one CSV line as [`csv_field`] writes them (quotes doubled inside quotes).
fn csv_fields(line: &str) -> Vec<String> {
    let (mut fields, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

/// Writes embeddings.npy, index.csv, clusters.csv, scores.json and the charts to
/// `out_dir`, and returns the scores ([`table`] formats them).
pub fn evaluate(emb: &Embeddings, source: &str, folder: &Path, opts: &EvalOptions, out_dir: &Path) -> Result<Scores> {
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    let npy = out_dir.join("embeddings.npy");
    ndarray_npy::write_npy(&npy, &emb.matrix).map_err(|e| Error::Data { path: npy.clone(), reason: e.to_string() })?;

    let mut index = String::from("row,path,identity,p_face\n");
    for (i, p) in emb.paths.iter().enumerate() {
        let pf = emb.p_face.as_ref().map_or(String::new(), |v| format!("{:.6}", v[i]));
        let _ = writeln!(index, "{i},{},{},{pf}", csv_field(&p.to_string_lossy()), csv_field(&emb.names[emb.identity[i]]));
    }
    write_text(&out_dir.join("index.csv"), &index)?;

    let normalized: Option<Array2<f32>> = opts.normalize.then(|| l2_normalize(emb.matrix.view()));
    let x = normalized.as_ref().map_or(emb.matrix.view(), |a| a.view());
    let truth = &emb.identity;
    let n_ids = emb.names.len();

    let mut methods = Vec::new();
    let mut columns: Vec<(String, Vec<i64>)> = Vec::new();
    for &m in &opts.methods {
        let t = Instant::now();
        let (labels, params) = run_method(m, x, opts, n_ids)?;
        let seconds = t.elapsed().as_secs_f64();
        let (clusters, noise) = metrics::cluster_counts(&labels);
        methods.push(MethodScores {
            method: m.name().into(),
            params,
            clusters,
            noise,
            ari: metrics::adjusted_rand_index(truth, &labels),
            nmi: metrics::normalized_mutual_info(truth, &labels),
            purity: metrics::purity(truth, &labels),
            silhouette: metrics::silhouette_sampled(x, &labels, opts.seed),
            seconds,
        });
        columns.push((m.name().into(), labels));
    }
    let mut csv = String::from("row,identity");
    for (name, _) in &columns {
        let _ = write!(csv, ",{name}");
    }
    csv.push('\n');
    for i in 0..emb.paths.len() {
        let _ = write!(csv, "{i},{}", csv_field(&emb.names[truth[i]]));
        for (_, labels) in &columns {
            let _ = write!(csv, ",{}", labels[i]);
        }
        csv.push('\n');
    }
    write_text(&out_dir.join("clusters.csv"), &csv)?;

    let dim = emb.dim();
    let mut charts = Vec::new();
    let caption = |method: &str| format!("{method} of {source} — N = {}, E = {dim}", emb.paths.len());
    let tsne = |x: ArrayView2<f32>| project::tsne(x, &TsneParams { seed: opts.seed, ..TsneParams::default() });
    let umap = |x: ArrayView2<f32>| project::umap(x, &UmapParams { seed: opts.seed, ..UmapParams::default() });
    let projections: [(&Option<String>, &str, &dyn Fn(ArrayView2<f32>) -> Result<Array2<f32>>); 2] =
        [(&opts.tsne, "t-SNE", &tsne), (&opts.umap, "UMAP", &umap)];
    for (stem, method, project) in projections {
        let Some(stem) = stem else { continue };
        // A folder too small to project still gets its vectors, clusters and scores.
        let t = Instant::now();
        match project(x) {
            Ok(y) => {
                eprintln!("{method} layout of {} points in {:.1} s", emb.paths.len(), t.elapsed().as_secs_f64());
                let path = out_dir.join(format!("{stem}_{dim}.png"));
                plot::scatter_png(&path, y.view(), truth, &emb.names, &caption(method))?;
                charts.push(path);
            }
            Err(e) => eprintln!("warning: no {method} chart: {e}"),
        }
    }

    let scores = Scores {
        source: source.into(),
        folder: folder.to_path_buf(),
        images: emb.paths.len(),
        identities: n_ids,
        dim,
        skipped_files: emb.skipped.len(),
        normalized: opts.normalize,
        one_nn_accuracy: metrics::one_nn_accuracy(x, truth),
        methods,
        charts,
    };
    write_json(&out_dir.join("scores.json"), &scores)?;
    Ok(scores)
}

/// The printed summary: one row per clustering method.
pub fn table(s: &Scores) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} on {}: {} images, {} identities, E = {}{}{}",
        s.source,
        s.folder.display(),
        s.images,
        s.identities,
        s.dim,
        if s.normalized { ", L2-normalised" } else { "" },
        if s.skipped_files > 0 { format!(", {} files skipped", s.skipped_files) } else { String::new() }
    );
    let _ = writeln!(
        out,
        "{:<17} {:>8} {:>6} {:>6} {:>6} {:>6} {:>10}  params",
        "method", "clusters", "noise", "ARI", "NMI", "purity", "silhouette"
    );
    for m in &s.methods {
        let _ = writeln!(
            out,
            "{:<17} {:>8} {:>6} {:>6.3} {:>6.3} {:>6.3} {:>10}  {}",
            m.method,
            m.clusters,
            m.noise,
            m.ari,
            m.nmi,
            m.purity,
            m.silhouette.map_or("-".into(), |v| format!("{v:.3}")),
            m.params
        );
    }
    let _ = write!(out, "leave-one-out 1-NN identity accuracy: {:.3}", s.one_nn_accuracy);
    out
}
