//! What `facemb match` leaves: `matches.csv` (one row per query), `match.json` (the
//! tolerance, where it came from, and the scores when the queries carry names),
//! `tolerance.csv` and `tolerance.png` (the sweep), and montages per matched person.

use super::montage::{self, Groups};
use super::plot::{Series, line_chart_png};
use super::{MATCHED_COLUMN, MATCHES_FILE, MatchSummary, OutDir, SUMMARY_FILE, SWEEP_CHART, SWEEP_FILE};
use crate::embed::Embeddings;
use crate::error::Result;
use crate::files::{Csv, write_json, write_npy};
use crate::identify::{Candidate, Gallery, Outcome, Params, outcome, sweep, tolerance_grid};

/// What to write besides the summary.
pub struct MatchRun<'a> {
    pub queries: &'a Embeddings,
    pub gallery: &'a Gallery,
    pub candidates: &'a [Candidate],
    pub tolerance: f32,
    /// The gallery person each query shows (None: not in the gallery), when queries carry names.
    pub truth: Option<&'a [Option<usize>]>,
    pub params: Params,
    pub montage: bool,
    /// Also write `report.html` (with the vectors, index, matched column and layouts it is built from).
    pub report: bool,
}

/// Writes the run into `out` and puts it in place; returns the summary (whose `scores`
/// and counts it fills in).
pub fn write(run: &MatchRun, mut summary: MatchSummary, out: OutDir) -> Result<MatchSummary> {
    let dir = out.staged.dir();
    let t = run.tolerance;
    let name = |p: Option<usize>| p.map_or("unknown".to_string(), |p| run.gallery.names[p].clone());
    let mut csv = Csv::new(["query", "identity", "predicted", "distance", "nearest", "runner_up", "runner_up_distance"]);
    for (i, c) in run.candidates.iter().enumerate() {
        let identity = if run.queries.labelled { run.queries.names[run.queries.identity[i]].clone() } else { String::new() };
        let (ru, rd) = c.runner_up.map_or((String::new(), String::new()), |(p, d)| (run.gallery.names[p].clone(), format!("{d:.6}")));
        csv.row([
            run.queries.paths[i].to_string_lossy().into_owned(),
            identity,
            name(c.decide(t)),
            format!("{:.6}", c.distance),
            run.gallery.names[c.person].clone(),
            ru,
            rd,
        ]);
    }
    csv.write(&dir.join(MATCHES_FILE))?;
    summary.named = run.candidates.iter().filter(|c| c.decide(t).is_some()).count();
    summary.unknown = run.candidates.len() - summary.named;
    summary.k = run.params.k;
    summary.vote = run.params.vote;

    if let Some(truth) = run.truth {
        let grid = tolerance_grid(run.candidates);
        let points = sweep(run.candidates, truth, &grid);
        let mut csv = Csv::new(["tolerance", "known_accuracy", "known_misnamed", "false_unknown", "unknown_rejected"]);
        for o in &points {
            csv.row(
                [o.tolerance, o.known_accuracy as f32, o.known_misnamed as f32, o.false_unknown as f32, o.unknown_rejected as f32]
                    .map(|v| if v.is_nan() { String::new() } else { format!("{v:.6}") }),
            );
        }
        csv.write(&dir.join(SWEEP_FILE))?;
        let line = |name: &str, f: fn(&Outcome) -> f64| Series {
            name: name.into(),
            points: points.iter().map(|o| (o.tolerance as f64, f(o), 0.0)).collect(),
        };
        let scores = outcome(run.candidates, truth, t);
        // The chosen tolerance as a vertical line from 0 to 1.
        let chosen = Series { name: format!("chosen tolerance {t:.3}"), points: vec![(t as f64, 0.0, 0.0), (t as f64, 1.0, 0.0)] };
        let series = [
            line("known people named correctly", |o| o.known_accuracy),
            line("unknown people turned away", |o| o.unknown_rejected),
            chosen,
        ];
        if let Err(e) = line_chart_png(
            &dir.join(SWEEP_CHART),
            &format!("known / unknown against the tolerance ({}, chosen {t:.3})", summary.source),
            "tolerance (distance)",
            "share of queries",
            &series,
            &[],
            false,
        ) {
            out.reporter.warn(format!("no tolerance chart: {e}"));
        }
        summary.scores = Some(scores);
    }
    if run.montage {
        let labels: Vec<i64> = run.candidates.iter().map(|c| c.decide(t).map_or(-1, |p| p as i64)).collect();
        let n = montage::draw(dir, run.queries, Groups::People(&run.gallery.names), &labels)?;
        out.reporter.note(format!("{n} montages in {}", out.path().join(montage::MONTAGE_DIR).display()));
    }
    write_json(&dir.join(SUMMARY_FILE), &summary)?;
    if run.report {
        write_report_inputs(run, dir, out.reporter)?;
    }
    out.finish(run.report)?;
    Ok(summary)
}

/// The files a report is built from, for the gallery's faces then the queries: the
/// vectors, which file each row is, the person each shows or was matched to, and the
/// t-SNE / UMAP layouts of all of them together.
fn write_report_inputs(run: &MatchRun, dir: &std::path::Path, reporter: crate::progress::Reporter) -> Result<()> {
    let (g, q) = (run.gallery, run.queries);
    let all = ndarray::concatenate(ndarray::Axis(0), &[g.vectors.view(), q.matrix.view()])
        .map_err(|e| crate::error::Error::Compute { what: "gallery and queries", reason: e.to_string() })?;
    write_npy(&dir.join(super::EMBEDDINGS_FILE), &all)?;
    let mut index = Csv::new(super::INDEX_COLUMNS);
    let mut matched = Csv::new(["row", "identity", MATCHED_COLUMN]);
    for (i, (path, &p)) in g.paths.iter().zip(&g.person).enumerate() {
        index.row([i.to_string(), path.to_string_lossy().into_owned(), g.names[p].clone(), String::new()]);
        matched.row([i.to_string(), g.names[p].clone(), p.to_string()]);
    }
    let t = run.tolerance;
    for (j, c) in run.candidates.iter().enumerate() {
        let (row, name) = (g.paths.len() + j, if q.labelled { q.names[q.identity[j]].clone() } else { String::new() });
        index.row([row.to_string(), q.paths[j].to_string_lossy().into_owned(), name.clone(), String::new()]);
        matched.row([row.to_string(), name, c.decide(t).map_or(-1, |p| p as i64).to_string()]);
    }
    index.write(&dir.join(super::INDEX_FILE))?;
    matched.write(&dir.join(super::CLUSTERS_FILE))?;
    let layouts = super::project_all(all.view(), 0, reporter);
    if !layouts.is_empty() {
        super::write_layouts(dir, &layouts)?;
    }
    Ok(())
}
