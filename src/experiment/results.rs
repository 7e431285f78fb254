//! The experiment's tables and charts: one [`ResultRow`] per run × folder × method,
//! `results.csv`, `results.md` (mean ± sd over seeds) and the charts against embedding
//! size.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ExperimentConfig;
use crate::error::Result;
use crate::evaluate::Scores;
use crate::files::Csv;
use crate::output::plot::{self, Series};
use crate::train::TrainMetrics;

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

pub fn folder_label(p: &Path) -> String {
    p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

pub fn rows_of(
    scores: &Scores,
    kind: &str,
    size: usize,
    seed: Option<u64>,
    train: Option<&TrainMetrics>,
    embed_rate: f64,
) -> Vec<ResultRow> {
    scores
        .methods
        .iter()
        .map(|m| ResultRow {
            kind: kind.into(),
            size,
            seed,
            folder: folder_label(&scores.folder),
            method: m.method.clone(),
            clusters: m.clusters,
            noise: m.noise,
            ari: m.ari.unwrap_or(f64::NAN),
            nmi: m.nmi.unwrap_or(f64::NAN),
            silhouette: m.silhouette,
            one_nn: scores.one_nn_accuracy.unwrap_or(f64::NAN),
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

fn opt(v: Option<f64>) -> String {
    v.map_or(String::new(), |x| format!("{x:.6}"))
}

/// `results.csv`: one line per row, through the one quoting CSV writer.
pub fn write_csv(path: &Path, rows: &[ResultRow]) -> Result<()> {
    let mut csv = Csv::new([
        "kind",
        "size",
        "seed",
        "folder",
        "method",
        "clusters",
        "noise",
        "ari",
        "nmi",
        "silhouette",
        "one_nn",
        "val_accuracy",
        "train_seconds",
        "train_images_per_sec",
        "embed_images_per_sec",
    ]);
    for r in rows {
        csv.row([
            r.kind.clone(),
            r.size.to_string(),
            r.seed.map_or(String::new(), |v| v.to_string()),
            r.folder.clone(),
            r.method.clone(),
            r.clusters.to_string(),
            r.noise.to_string(),
            format!("{:.6}", r.ari),
            format!("{:.6}", r.nmi),
            opt(r.silhouette),
            format!("{:.6}", r.one_nn),
            opt(r.val_accuracy),
            opt(r.train_seconds),
            opt(r.train_images_per_sec),
            format!("{:.1}", r.embed_images_per_sec),
        ]);
    }
    csv.write(path)
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
pub fn charts(exp: &ExperimentConfig, rows: &[ResultRow], out: &Path) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: &str, size: usize, seed: Option<u64>, method: &str, ari: f64) -> ResultRow {
        ResultRow {
            kind: kind.into(),
            size,
            seed,
            folder: "att, small".into(),
            method: method.into(),
            clusters: 3,
            noise: 0,
            ari,
            nmi: 0.5,
            silhouette: None,
            one_nn: 0.9,
            val_accuracy: seed.map(|_| 0.95),
            train_seconds: None,
            train_images_per_sec: None,
            embed_images_per_sec: 100.0,
        }
    }

    #[test]
    fn mean_and_sample_sd_over_seeds() {
        assert_eq!(mean_sd(&[1.0, 3.0]), (2.0, 2f64.sqrt()));
        assert_eq!(mean_sd(&[4.0]), (4.0, 0.0));
        assert!(mean_sd(&[]).0.is_nan());
        assert_eq!(cell(&[1.0, 3.0], 2), "2.00 ± 1.41");
        assert_eq!(cell(&[], 2), "-");
    }

    #[test]
    fn the_csv_has_one_line_per_row_with_quoted_folders_and_no_second_size_column() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("r.csv");
        write_csv(&p, &[row("cnn", 8, Some(1), "kmeans", 0.25), row("pixels", 16, None, "kmeans", 0.5)]).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("kind,size,seed,folder,method,clusters,") && !lines[0].contains("dim"));
        assert!(lines[2].starts_with("pixels,16,,\"att, small\",kmeans,3,0,0.500000,"), "{}", lines[2]);
    }

    #[test]
    fn markdown_groups_seeds_into_mean_and_sd_beside_the_pixels() {
        let exp: ExperimentConfig = toml::from_str(
            "name = \"x\"\nbase_config = \"b\"\nembedding_sizes = [8]\nseeds = [1, 2]\nfolders = [\"d/att, small\"]\nmethods = [\"kmeans\"]\npixel_sizes = [16]",
        )
        .unwrap();
        let rows = [row("cnn", 8, Some(1), "kmeans", 0.2), row("cnn", 8, Some(2), "kmeans", 0.4), row("pixels", 16, None, "kmeans", 0.5)];
        let md = markdown(&exp, &rows, 60.0, "flex");
        assert!(md.contains("## att, small"), "{md}");
        assert!(md.contains("| E = 8 | 0.9500 ± 0.0000 |") && md.contains(" 0.300 ± 0.141 / "), "{md}");
        assert!(md.contains("| pixels 16×16 | - |") && md.contains(" 0.500 / "), "{md}");
    }
}
