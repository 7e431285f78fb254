//! What a run leaves on disk: the vectors (`embeddings.npy`), which file each row is
//! (`index.csv`), every method's clusters (`clusters.csv`), the scores (`scores.json`),
//! the t-SNE and UMAP charts ([`plot`]) and the printed summary ([`table`]).
pub mod plot;
pub mod table;

use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::{Array2, ArrayView2};

use crate::embed::Embeddings;
use crate::error::{Error, Result};
use crate::evaluate::{self, EvalOptions, Evaluation, Scores};
use crate::files::{Csv, csv_fields, read_npy, write_json, write_npy};
use crate::project::{self, TsneParams, UmapParams};

pub const EMBEDDINGS_FILE: &str = "embeddings.npy";
pub const INDEX_FILE: &str = "index.csv";
pub const CLUSTERS_FILE: &str = "clusters.csv";
pub const SCORES_FILE: &str = "scores.json";

/// File stems of the charts to draw (`<stem>_<E>.png`); None draws no chart.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Charts {
    pub tsne: Option<String>,
    pub umap: Option<String>,
}

impl Charts {
    pub fn none() -> Self {
        Charts::default()
    }
}

/// Evaluates `emb` and writes everything to `out_dir`: the one path that `infer`,
/// `pixels` and `experiment` share. Returns the scores ([`table::table`] formats them).
pub fn report(emb: &Embeddings, source: &str, folder: &Path, opts: &EvalOptions, charts: &Charts, out_dir: &Path) -> Result<Scores> {
    let evaluation = evaluate::evaluate(emb, source, folder, opts)?;
    write(emb, evaluation, charts, opts.params.seed, out_dir)
}

/// Writes the vectors, index, clusters, charts and scores of one evaluation to `out_dir`.
pub fn write(emb: &Embeddings, evaluation: Evaluation, charts: &Charts, seed: u64, out_dir: &Path) -> Result<Scores> {
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    write_npy(&out_dir.join(EMBEDDINGS_FILE), &emb.matrix)?;

    let mut index = Csv::new(["row", "path", "identity", "p_face"]);
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

    let drawn = draw_charts(emb, evaluation.vectors(emb), &evaluation.scores.source, charts, seed, out_dir)?;
    let mut scores = evaluation.scores;
    scores.charts = drawn;
    write_json(&out_dir.join(SCORES_FILE), &scores)?;
    Ok(scores)
}

/// A 2-D layout of the rows of a matrix.
type Projection<'a> = &'a dyn Fn(ArrayView2<f32>) -> Result<Array2<f32>>;

/// The t-SNE and UMAP charts of `x` asked for by `charts`. A folder too small to
/// project still gets its vectors, clusters and scores: a projection that fails is a
/// warning, not an error.
fn draw_charts(emb: &Embeddings, x: ArrayView2<f32>, source: &str, charts: &Charts, seed: u64, out_dir: &Path) -> Result<Vec<PathBuf>> {
    let dim = emb.dim();
    let caption = |method: &str| format!("{method} of {source} — N = {}, E = {dim}", emb.paths.len());
    let tsne = |x: ArrayView2<f32>| project::tsne(x, &TsneParams { seed, ..TsneParams::default() });
    let umap = |x: ArrayView2<f32>| project::umap(x, &UmapParams { seed, ..UmapParams::default() });
    let projections: [(&Option<String>, &str, Projection); 2] = [(&charts.tsne, "t-SNE", &tsne), (&charts.umap, "UMAP", &umap)];
    let mut drawn = Vec::new();
    for (stem, method, project) in projections {
        let Some(stem) = stem else { continue };
        let t = Instant::now();
        match project(x) {
            Ok(y) => {
                eprintln!("{method} layout of {} points in {:.1} s", emb.paths.len(), t.elapsed().as_secs_f64());
                let path = out_dir.join(format!("{stem}_{dim}.png"));
                plot::scatter_png(&path, y.view(), &emb.identity, &emb.names, &caption(method))?;
                drawn.push(path);
            }
            Err(e) => eprintln!("warning: no {method} chart: {e}"),
        }
    }
    Ok(drawn)
}

/// Reads back what [`write`] left in `dir`: the vectors and each row's identity index,
/// identities numbered in order of first appearance.
pub fn read_embeddings(dir: &Path) -> Result<(Array2<f32>, Vec<usize>)> {
    let matrix = read_npy(&dir.join(EMBEDDINGS_FILE))?;
    let csv = dir.join(INDEX_FILE);
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
        return Err(bad(format!("{} rows, but {EMBEDDINGS_FILE} has {}", labels.len(), matrix.nrows())));
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
        let (x, identity) = blobs(40, 8, 2, 1.0, 9);
        let emb = Embeddings {
            matrix: x.clone(),
            paths: (0..40).map(|i| PathBuf::from(format!("dir,with comma/{i}.png"))).collect(),
            identity,
            names: vec!["ann".into(), "bo \"b\"".into()],
            p_face: Some(vec![0.5; 40]),
            skipped: Vec::new(),
        };
        let charts = Charts { tsne: Some("t".into()), umap: None };
        let s = report(&emb, "test", Path::new("f"), &EvalOptions::default(), &charts, tmp.path()).unwrap();
        assert_eq!(s.charts, vec![tmp.path().join("t_8.png")]);
        assert!(tmp.path().join("t_8.png").is_file() && !tmp.path().join("umap_8.png").exists());
        let (back, labels) = read_embeddings(tmp.path()).unwrap();
        assert_eq!(back, x);
        assert_eq!(labels, emb.identity, "identities read back through quoted paths and names");
        let clusters = std::fs::read_to_string(tmp.path().join(CLUSTERS_FILE)).unwrap();
        assert!(clusters.starts_with("row,identity,dbscan,kmeans,chinese_whispers,average_linkage,finch\n0,ann,"), "{clusters}");
        assert_eq!(clusters.lines().count(), 41);
        let json = std::fs::read_to_string(tmp.path().join(SCORES_FILE)).unwrap();
        assert_eq!(json, serde_json::to_string_pretty(&s).unwrap() + "\n");
        // An index that does not match the vectors is an error naming the file.
        std::fs::write(tmp.path().join(INDEX_FILE), "row,path,identity,p_face\n0,a.png,ann,\n").unwrap();
        let e = read_embeddings(tmp.path()).unwrap_err().to_string();
        assert!(e.contains(INDEX_FILE) && e.contains("1 rows"), "{e}");
    }
}
