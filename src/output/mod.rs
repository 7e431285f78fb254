//! What a run leaves on disk: the vectors (`embeddings.npy`), which file each row is
//! (`index.csv`), every method's clusters (`clusters.csv`), the scores (`scores.json`),
//! the t-SNE and UMAP charts ([`plot`]) and the printed summary ([`table`]).
//!
//! A run is written whole into a hidden staging folder beside its destination and then
//! put in its place ([`crate::files::Staged`]): an earlier result survives any failure
//! or kill of a rerun, two runs into one folder are refused (a lock), and no file of an
//! earlier run is left beside new ones.
pub mod folders;
pub mod matches;
pub mod montage;
pub mod plot;
pub mod report;
pub mod table;

use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::embed::Embeddings;
use crate::error::{Error, Result};
use crate::evaluate::{self, EvalOptions, Evaluation, Scores};
use crate::files::{Claims, Csv, Replaceable, Staged, fault_point, may_replace, read_csv, read_npy, read_text, write_json, write_npy};
use crate::progress::Reporter;
use crate::project::{self, TsneParams, UmapParams};

pub const EMBEDDINGS_FILE: &str = "embeddings.npy";
pub const INDEX_FILE: &str = "index.csv";
pub const CLUSTERS_FILE: &str = "clusters.csv";
pub const SCORES_FILE: &str = "scores.json";
/// The 2-D layouts behind the charts: `row`, `tsne_x`, `tsne_y`, `umap_x`, `umap_y`.
pub const LAYOUTS_FILE: &str = "layouts.csv";

pub const MATCHES_FILE: &str = "matches.csv";
pub const SUMMARY_FILE: &str = "match.json";
pub const SWEEP_FILE: &str = "tolerance.csv";
pub const SWEEP_CHART: &str = "tolerance.png";
/// The `clusters.csv` column of a match report: each gallery face's own person, each
/// query's matched person (−1 unknown).
pub const MATCHED_COLUMN: &str = "matched";

/// One `match` run in numbers (`match.json`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MatchSummary {
    pub source: String,
    /// The checkpoint that made the vectors, when a network did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<PathBuf>,
    pub gallery: PathBuf,
    pub gallery_people: usize,
    /// The gallery's people, by the index `clusters.csv`'s matched column uses.
    pub people: Vec<String>,
    pub gallery_faces: usize,
    pub queries: PathBuf,
    pub query_faces: usize,
    pub k: usize,
    pub vote: crate::identify::Vote,
    pub tolerance: f32,
    /// Where the tolerance came from.
    pub tolerance_origin: String,
    /// Queries named as a gallery person, and those left unknown.
    pub named: usize,
    pub unknown: usize,
    /// The scores at the tolerance when the queries carry names (a name that is not in
    /// the gallery should come out unknown).
    pub scores: Option<crate::identify::Outcome>,
}

/// File stems of the charts to draw (`<stem>_<E>.png`); None draws no chart. `montage`
/// draws one picture per cluster ([`montage`]); `report` writes `report.html` ([`report`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Charts {
    pub tsne: Option<String>,
    pub umap: Option<String>,
    pub montage: bool,
    pub report: bool,
}

impl Charts {
    pub fn none() -> Self {
        Charts::default()
    }
}

/// The destination of one run, checked and locked before any work is done (a bad
/// `--out` is refused before an hour of embedding, not after).
pub struct OutDir {
    staged: Staged,
    /// Where the run's clusters are kept as folders too (`--save-clusters`), when asked.
    keep: Option<folders::ClusterFolders>,
    /// Where what is written is said (layouts, montages, the report, kept clusters).
    reporter: Reporter,
}

impl OutDir {
    /// [`OutDir::begin_claimed`] for a run that reads one input folder.
    pub fn begin(dir: &Path, input: &Path, reporter: Reporter) -> Result<Self> {
        Self::begin_claimed(dir, &Claims::new().input("-id", input), reporter)
    }

    /// Refuses a destination that is a file, lies inside or holds a path the run reads
    /// or writes elsewhere (`claims`: the next run would embed its charts as faces, or the
    /// swap would delete them) or holds files facemb did not write (replacing the folder
    /// would delete them); then locks it. What the run writes is said through `reporter`.
    pub fn begin_claimed(dir: &Path, claims: &Claims, reporter: Reporter) -> Result<Self> {
        let ours = |name: &str| RUN_FILES.contains(&name) || name.ends_with(".png");
        let hint = "a run replaces its folder whole, so choose a new or empty --out";
        may_replace("--out", dir, claims, Replaceable::Folder { ours: &ours, hint })?;
        Ok(OutDir { staged: Staged::begin("output", dir, reporter)?, keep: None, reporter })
    }

    pub fn path(&self) -> &Path {
        self.staged.target()
    }

    /// The run also keeps its clusters as folders at `keep` (checked and locked already).
    pub fn keeping(self, keep: Option<folders::ClusterFolders>) -> Self {
        OutDir { keep, ..self }
    }

    /// Writes `report.html` from the run files staged so far when `report` asks for it,
    /// then puts the folder in place.
    fn finish(self, report: bool) -> Result<()> {
        if report {
            let t = Instant::now();
            let bytes = report::write(self.staged.dir(), self.path(), self.reporter)?;
            self.reporter.note(format!(
                "report {} ({:.1} MB) in {:.1} s",
                self.path().join(report::REPORT_FILE).display(),
                bytes as f64 / 1e6,
                t.elapsed().as_secs_f64()
            ));
        }
        self.staged.commit()
    }
}

/// Every file name a run folder of `infer`, `pixels` or `match` holds (besides its charts).
const RUN_FILES: [&str; 10] = [
    EMBEDDINGS_FILE,
    INDEX_FILE,
    CLUSTERS_FILE,
    SCORES_FILE,
    LAYOUTS_FILE,
    report::REPORT_FILE,
    montage::MONTAGE_DIR,
    MATCHES_FILE,
    SUMMARY_FILE,
    SWEEP_FILE,
];

/// `base/<name>`, the default output folder of input folder `input` named `name`, unless
/// it holds the run of another input folder of the same name (two `faces` folders): then
/// `base/<name>-<hash of the input's full path>`, so that neither replaces the other.
pub fn default_dir(base: &Path, name: &str, input: &Path) -> PathBuf {
    let plain = base.join(name);
    // read_text: a named pipe there is no earlier run, and must not hang this one.
    let earlier = read_text(&plain.join(SCORES_FILE))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("folder").and_then(|f| f.as_str()).map(PathBuf::from));
    let here = input.canonicalize().unwrap_or_else(|_| input.to_path_buf());
    match earlier {
        Some(e) if e.canonicalize().unwrap_or_else(|_| e.clone()) != here => {
            let hash = crate::files::fnv1a(here.to_string_lossy().bytes());
            base.join(format!("{name}-{:08x}", hash as u32))
        }
        _ => plain,
    }
}

/// The clustering that montages and cluster folders show: the automatic grouping when it
/// ran, else the first method run.
fn kept_clustering(evaluation: &Evaluation) -> Option<&(crate::cluster::Method, Vec<i64>)> {
    evaluation.labels.iter().find(|(m, _)| *m == folders::PREFERRED).or(evaluation.labels.first())
}

/// Evaluates `emb` and writes everything to `out`: the one path that `infer`,
/// `pixels` and `experiment` share. Returns the scores ([`table::table`] formats them).
pub fn report(emb: &Embeddings, source: &str, folder: &Path, opts: &EvalOptions, charts: &Charts, out: OutDir) -> Result<Scores> {
    report_and_keep(emb, source, folder, opts, charts, out, None)
}

/// [`report`], and the clusters kept as folders when `out` keeps them
/// ([`OutDir::keeping`]); `checkpoint` is the network's, recorded in the scores.
pub fn report_and_keep(
    emb: &Embeddings,
    source: &str,
    folder: &Path,
    opts: &EvalOptions,
    charts: &Charts,
    mut out: OutDir,
    checkpoint: Option<&Path>,
) -> Result<Scores> {
    let mut evaluation = evaluate::evaluate(emb, source, folder, opts, out.reporter)?;
    evaluation.scores.checkpoint = checkpoint.map(Path::to_path_buf);
    if let Some(keep) = out.keep.take() {
        let (method, labels) =
            kept_clustering(&evaluation).ok_or_else(|| Error::Invalid("--save-clusters needs a clustering method (--methods)".into()))?;
        let dir = keep.path().to_path_buf();
        let n = keep.write(emb, *method, labels)?;
        out.reporter.note(format!("{} clusters of {} kept as folders in {}", n, method.name(), dir.display()));
    }
    write(emb, evaluation, charts, opts.params.seed, out)
}

/// Writes the vectors, index, clusters, charts and scores of one evaluation into the
/// staging folder of `out`, then puts it in place; `scores.json` comes last, so a
/// folder with it is a finished run.
pub fn write(emb: &Embeddings, evaluation: Evaluation, charts: &Charts, seed: u64, out: OutDir) -> Result<Scores> {
    let out_dir = out.staged.dir();
    write_npy(&out_dir.join(EMBEDDINGS_FILE), &emb.matrix)?;
    fault_point("output:written-vectors");

    let lossy = emb.paths.iter().filter(|p| p.to_str().is_none()).count();
    if lossy > 0 {
        out.reporter
            .warn(format!("not valid UTF-8: {}; {INDEX_FILE} holds U+FFFD in place of the bad bytes", table::count(lossy, "file path")));
    }
    let mut index = Csv::new(INDEX_COLUMNS);
    for (i, p) in emb.paths.iter().enumerate() {
        let pf = emb.p_face.as_ref().map_or(String::new(), |v| format!("{:.6}", v[i]));
        index.row([i.to_string(), p.to_string_lossy().into_owned(), emb.names[emb.identity[i]].clone(), pf]);
    }
    index.write(&out_dir.join(INDEX_FILE))?;

    let mut clusters =
        Csv::new(["row", "identity"].into_iter().map(String::from).chain(evaluation.labels.iter().map(|(m, _)| m.name().to_string())));
    for i in 0..emb.paths.len() {
        let labels = evaluation.labels.iter().map(|(_, l)| l[i].to_string());
        clusters.row([i.to_string(), emb.names[emb.identity[i]].clone()].into_iter().chain(labels));
    }
    clusters.write(&out_dir.join(CLUSTERS_FILE))?;

    let drawn = draw_charts(emb, evaluation.vectors(emb), &evaluation.scores.source, charts, seed, out_dir, out.reporter)?;
    if charts.montage
        && let Some((method, labels)) = kept_clustering(&evaluation)
    {
        let n = montage::draw(out_dir, emb, montage::Groups::Clusters(*method), labels)?;
        out.reporter.note(format!("{n} montages of {} in {}", method.name(), out.path().join(montage::MONTAGE_DIR).display()));
    }
    let mut scores = evaluation.scores;
    // The charts' final paths: where they will be once the folder is in place.
    scores.charts = drawn.iter().filter_map(|p| p.file_name()).map(|n| out.path().join(n)).collect();
    write_json(&out_dir.join(SCORES_FILE), &scores)?;
    out.finish(charts.report)?;
    Ok(scores)
}

/// A 2-D layout of the rows of a matrix.
type Projection = Box<dyn Fn(ArrayView2<f32>) -> Result<Array2<f32>>>;

/// The projections a run can draw: (name, its layout of the rows).
fn projections(seed: u64) -> [(&'static str, Projection); 2] {
    [
        ("tsne", Box::new(move |x: ArrayView2<f32>| project::tsne(x, &TsneParams { seed, ..TsneParams::default() }))),
        ("umap", Box::new(move |x: ArrayView2<f32>| project::umap(x, &UmapParams { seed, ..UmapParams::default() }))),
    ]
}

/// `(name, layout)` of the projections `wanted` (by name) that succeed; a projection that
/// fails (a folder too small) is a warning; each is said through `reporter`.
fn layouts_of(x: ArrayView2<f32>, seed: u64, wanted: &dyn Fn(&str) -> bool, reporter: Reporter) -> Vec<(String, Array2<f32>)> {
    let mut out = Vec::new();
    for (name, project) in projections(seed) {
        if !wanted(name) {
            continue;
        }
        let t = Instant::now();
        match project(x) {
            Ok(y) => {
                reporter.note(format!("{} layout of {} points in {:.1} s", chart_name(name), x.nrows(), t.elapsed().as_secs_f64()));
                out.push((name.to_string(), y));
            }
            Err(e) => reporter.warn(format!("no {} chart or layout: {e}", chart_name(name))),
        }
    }
    out
}

/// Both layouts of `x` (the report's fallback for a run drawn without charts).
pub fn project_all(x: ArrayView2<f32>, seed: u64, reporter: Reporter) -> Vec<(String, Array2<f32>)> {
    layouts_of(x, seed, &|_| true, reporter)
}

fn chart_name(projection: &str) -> &'static str {
    if projection == "tsne" { "t-SNE" } else { "UMAP" }
}

/// Writes `dir/layouts.csv`: `row`, then `<name>_x`, `<name>_y` for each layout.
pub fn write_layouts(dir: &Path, layouts: &[(String, Array2<f32>)]) -> Result<()> {
    let mut csv =
        Csv::new(std::iter::once("row".to_string()).chain(layouts.iter().flat_map(|(name, _)| [format!("{name}_x"), format!("{name}_y")])));
    let n = layouts.first().map_or(0, |l| l.1.nrows());
    for i in 0..n {
        csv.row(std::iter::once(i.to_string()).chain(layouts.iter().flat_map(|(_, y)| [y[[i, 0]].to_string(), y[[i, 1]].to_string()])));
    }
    csv.write(&dir.join(LAYOUTS_FILE))
}

/// The t-SNE and UMAP charts of `x` asked for by `charts`, and their layouts in
/// `layouts.csv`. A folder too small to project still gets its vectors, clusters and
/// scores.
fn draw_charts(
    emb: &Embeddings,
    x: ArrayView2<f32>,
    source: &str,
    charts: &Charts,
    seed: u64,
    out_dir: &Path,
    reporter: Reporter,
) -> Result<Vec<PathBuf>> {
    let dim = emb.dim();
    let stem = |name: &str| if name == "tsne" { charts.tsne.clone() } else { charts.umap.clone() };
    let layouts = layouts_of(x, seed, &|name| stem(name).is_some(), reporter);
    if !layouts.is_empty() {
        write_layouts(out_dir, &layouts)?;
    }
    let mut drawn = Vec::new();
    for (name, y) in &layouts {
        let Some(stem) = stem(name) else { continue };
        let path = out_dir.join(format!("{stem}_{dim}.png"));
        let caption = format!("{} of {source} — N = {}, E = {dim}", chart_name(name), emb.paths.len());
        plot::scatter_png(&path, y.view(), &emb.identity, &emb.names, &caption)?;
        drawn.push(path);
    }
    Ok(drawn)
}

/// The columns of `index.csv`, written by `infer` / `pixels` runs and match reports alike.
pub const INDEX_COLUMNS: [&str; 4] = ["row", "path", "identity", "p_face"];

/// What `index.csv` says of each row: its file and identity, identities numbered in
/// order of first appearance.
pub struct Index {
    pub paths: Vec<String>,
    pub identity: Vec<usize>,
    pub names: Vec<String>,
}

/// Reads `dir/index.csv` ([`INDEX_COLUMNS`]).
pub fn read_index(dir: &Path) -> Result<Index> {
    let csv = dir.join(INDEX_FILE);
    let table = read_csv(&csv)?;
    if table.header.len() != INDEX_COLUMNS.len() {
        let reason = format!("{} columns, not the {} of {}", table.header.len(), INDEX_COLUMNS.len(), INDEX_COLUMNS.join(","));
        return Err(Error::Data { path: csv, reason });
    }
    let mut index = Index { paths: Vec::new(), identity: Vec::new(), names: Vec::new() };
    let mut ids = crate::intern::Interner::new();
    for row in table.rows {
        // read_csv keeps every row as long as the header (four fields); the error cannot occur.
        let [_, path, identity, _] = <[String; 4]>::try_from(row)
            .map_err(|f| Error::Data { path: csv.clone(), reason: format!("a row of {} fields, not 4", f.len()) })?;
        index.identity.push(ids.id(&identity));
        index.paths.push(path);
    }
    index.names = ids.into_values();
    Ok(index)
}

/// Reads back what [`write`] left in `dir`: the vectors and each row's identity index.
pub fn read_embeddings(dir: &Path) -> Result<(Array2<f32>, Vec<usize>)> {
    let matrix = read_npy(&dir.join(EMBEDDINGS_FILE))?;
    let labels = read_index(dir)?.identity;
    if labels.len() != matrix.nrows() {
        let reason = format!("{} rows, but {EMBEDDINGS_FILE} has {}", labels.len(), matrix.nrows());
        return Err(Error::Data { path: dir.join(INDEX_FILE), reason });
    }
    Ok((matrix, labels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::blobs;

    #[test]
    fn a_run_folder_holds_vectors_index_clusters_scores_and_charts_that_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        let (x, identity) = blobs(40, 8, 2, 1.0, 9);
        let emb = Embeddings {
            matrix: x.clone(),
            paths: (0..40).map(|i| PathBuf::from(format!("dir,with comma/{i}.png"))).collect(),
            identity,
            names: vec!["ann".into(), "bo \"b\"".into()],
            labelled: true,
            p_face: Some(vec![0.5; 40]),
            skipped: Vec::new(),
        };
        let charts = Charts { tsne: Some("t".into()), umap: None, montage: false, report: false };
        let s = report(
            &emb,
            "test",
            Path::new("f"),
            &EvalOptions::default(),
            &charts,
            OutDir::begin(&dir, Path::new("f"), Reporter::SILENT).unwrap(),
        )
        .unwrap();
        assert_eq!(s.charts, vec![dir.as_path().join("t_8.png")]);
        assert!(dir.as_path().join("t_8.png").is_file() && !dir.as_path().join("umap_8.png").exists());
        let (back, labels) = read_embeddings(dir.as_path()).unwrap();
        assert_eq!(back, x);
        assert_eq!(labels, emb.identity, "identities read back through quoted paths and names");
        let clusters = std::fs::read_to_string(dir.as_path().join(CLUSTERS_FILE)).unwrap();
        assert!(
            clusters.starts_with("row,identity,dbscan,kmeans,chinese_whispers,average_linkage,finch,graph_linkage\n0,ann,"),
            "{clusters}"
        );
        assert_eq!(clusters.lines().count(), 41);
        let json = std::fs::read_to_string(dir.as_path().join(SCORES_FILE)).unwrap();
        assert_eq!(json, serde_json::to_string_pretty(&s).unwrap() + "\n");
        // An index that does not match the vectors is an error naming the file.
        std::fs::write(dir.as_path().join(INDEX_FILE), "row,path,identity,p_face\n0,a.png,ann,\n").unwrap();
        let e = read_embeddings(dir.as_path()).unwrap_err().to_string();
        assert!(e.contains(INDEX_FILE) && e.contains("1 rows"), "{e}");
    }
}
