//! Scores of a matrix of vectors against its folder labels: each clustering method's
//! partition (ARI, NMI, purity, silhouette, from [`metrics`]) and the vectors' own
//! leave-one-out 1-NN accuracy. Computes only: [`crate::output`] writes what it returns.
pub mod metrics;

use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::cluster::{self, Method};
use crate::embed::Embeddings;
use crate::error::Result;
use crate::neighbors::l2_normalize;
use crate::progress::Reporter;

/// How to evaluate: which methods, with which clustering parameters, on which vectors.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalOptions {
    pub methods: Vec<Method>,
    /// The methods' parameters; its seed also seeds the projections of the charts.
    pub params: cluster::Params,
    /// L2-normalise the vectors before clustering and projecting.
    pub normalize: bool,
    /// The user named the methods (`--methods`): one whose memory on this folder passes
    /// `cluster::MEMORY_BUDGET` is an error. Otherwise (the default list) it is skipped
    /// with a note, so that the defaults run on any folder size.
    pub methods_named: bool,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions { methods: Method::ALL.to_vec(), params: cluster::Params::default(), normalize: false, methods_named: false }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MethodScores {
    pub method: String,
    /// The parameters used, and how they were chosen.
    pub params: String,
    pub clusters: usize,
    pub noise: usize,
    /// Scores against the folder names: None on an unlabelled folder (written as null).
    pub ari: Option<f64>,
    pub nmi: Option<f64>,
    pub purity: Option<f64>,
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
    /// Leave-one-out 1-NN identity accuracy of the vectors themselves: None on an
    /// unlabelled folder, or where no identity has two images to find each other.
    pub one_nn_accuracy: Option<f64>,
    pub methods: Vec<MethodScores>,
    /// The charts drawn of these vectors (filled in by `output`).
    pub charts: Vec<PathBuf>,
    /// Whether the folder's names are identities (files written before this field:
    /// taken as labelled, and the report checks for the one unlabelled name).
    #[serde(default = "labelled_by_default")]
    pub labelled: bool,
    /// The checkpoint folder that made the vectors, when a network did (the report shows
    /// its config).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<PathBuf>,
}

fn labelled_by_default() -> bool {
    true
}

impl Scores {
    pub fn method(&self, m: Method) -> Option<&MethodScores> {
        self.methods.iter().find(|s| s.method == m.name())
    }
}

/// What [`evaluate`] found: the scores, each method's labels (in the order of
/// `EvalOptions::methods`) and the normalised vectors when those were clustered.
#[derive(Debug)]
pub struct Evaluation {
    pub scores: Scores,
    pub labels: Vec<(Method, Vec<i64>)>,
    pub normalized: Option<Array2<f32>>,
}

impl Evaluation {
    /// The vectors that were clustered (and that charts should project).
    pub fn vectors<'a>(&'a self, emb: &'a Embeddings) -> ArrayView2<'a, f32> {
        self.normalized.as_ref().map_or(emb.matrix.view(), |a| a.view())
    }
}

/// Clusters `emb` with every method of `opts` and scores the clusters and the vectors
/// against the identity of each row. `source` and `folder` only label the scores; a
/// method left out is a note through `reporter`.
pub fn evaluate(emb: &Embeddings, source: &str, folder: &Path, opts: &EvalOptions, reporter: Reporter) -> Result<Evaluation> {
    let normalized: Option<Array2<f32>> = opts.normalize.then(|| l2_normalize(emb.matrix.view()));
    let x = normalized.as_ref().map_or(emb.matrix.view(), |a| a.view());
    let truth = &emb.identity;
    let mut methods = Vec::new();
    let mut labels = Vec::new();
    // Without identities there is nothing to score against, and no count of people for
    // k-means to take as its k.
    let label_score = |v: f64| Some(v).filter(|v| emb.labelled && !v.is_nan());
    for &m in &opts.methods {
        if !emb.labelled && m == cluster::Method::Kmeans && opts.params.k.is_none() {
            reporter.note("note: k-means skipped: an unlabelled folder gives it no k (pass --clusters)");
            continue;
        }
        let t = Instant::now();
        let (pred, params) = match cluster::run(m, x, &opts.params, emb.names.len()) {
            Err(e @ crate::error::Error::TooLarge { .. }) if !opts.methods_named => {
                reporter.note(format!("note: {} skipped: {e}", m.name()));
                continue;
            }
            r => r?,
        };
        let seconds = t.elapsed().as_secs_f64();
        let (clusters, noise) = metrics::cluster_counts(&pred);
        methods.push(MethodScores {
            method: m.name().into(),
            params,
            clusters,
            noise,
            ari: label_score(metrics::adjusted_rand_index(truth, &pred)),
            nmi: label_score(metrics::normalized_mutual_info(truth, &pred)),
            purity: label_score(metrics::purity(truth, &pred)),
            silhouette: metrics::silhouette_sampled(x, &pred, opts.params.seed),
            seconds,
        });
        labels.push((m, pred));
    }
    let scores = Scores {
        source: source.into(),
        folder: folder.to_path_buf(),
        images: emb.paths.len(),
        identities: emb.names.len(),
        dim: emb.dim(),
        skipped_files: emb.skipped.len(),
        normalized: opts.normalize,
        one_nn_accuracy: label_score(metrics::one_nn_accuracy(x, truth)),
        methods,
        charts: Vec::new(),
        labelled: emb.labelled,
        checkpoint: None,
    };
    Ok(Evaluation { scores, labels, normalized })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::blobs;

    fn embeddings(x: Array2<f32>, identity: Vec<usize>) -> Embeddings {
        let n = x.nrows();
        let ids = identity.iter().max().map_or(0, |m| m + 1);
        Embeddings {
            matrix: x,
            paths: (0..n).map(|i| PathBuf::from(format!("{i}.png"))).collect(),
            identity,
            labelled: true,
            names: (0..ids).map(|i| format!("person {i}")).collect(),
            p_face: None,
            skipped: Vec::new(),
        }
    }

    #[test]
    fn separated_identities_score_perfectly_with_every_method() {
        let (x, truth) = blobs(90, 16, 3, 1.0, 4);
        let emb = embeddings(x, truth);
        let ev = evaluate(&emb, "blobs", Path::new("f"), &EvalOptions::default(), Reporter::SILENT).unwrap();
        let s = &ev.scores;
        assert_eq!((s.images, s.identities, s.dim, s.one_nn_accuracy), (90, 3, 16, Some(1.0)));
        assert_eq!(
            s.methods.iter().map(|m| m.method.as_str()).collect::<Vec<_>>(),
            ["dbscan", "kmeans", "chinese_whispers", "average_linkage", "finch", "graph_linkage"]
        );
        // k-means with the true k is exact; the data-derived radii may leave an outermost
        // point alone (a singleton), which costs a little ARI but no purity.
        assert_eq!(s.method(Method::Kmeans).map(|m| (m.ari, m.clusters)), Some((Some(1.0), 3)));
        for m in &s.methods {
            assert!(m.ari.unwrap() >= 0.9 && m.purity == Some(1.0) && m.silhouette.unwrap() > 0.5, "{m:?}");
        }
        assert_eq!(ev.labels.len(), 6);
        assert_eq!(ev.labels[1].0, Method::Kmeans);
        assert!(ev.normalized.is_none() && !s.normalized);
        assert_eq!(ev.vectors(&emb), emb.matrix.view());
    }

    #[test]
    fn normalising_clusters_directions_not_lengths() {
        // Two directions, each at two very different lengths: raw k-means splits by
        // length, normalised vectors are two points.
        let mut rows = Vec::new();
        for (i, len) in [1.0f32, 1.0, 50.0, 50.0, 1.0, 1.0, 50.0, 50.0].iter().enumerate() {
            rows.extend(if i < 4 { [*len, 0.0] } else { [0.0, *len] });
        }
        let x = Array2::from_shape_vec((8, 2), rows).unwrap();
        let emb = embeddings(x, vec![0, 0, 0, 0, 1, 1, 1, 1]);
        let opts = EvalOptions { methods: vec![Method::Kmeans], ..EvalOptions::default() };
        let raw = evaluate(&emb, "raw", Path::new("f"), &opts, Reporter::SILENT).unwrap();
        let unit = evaluate(&emb, "unit", Path::new("f"), &EvalOptions { normalize: true, ..opts }, Reporter::SILENT).unwrap();
        assert!(raw.scores.methods[0].ari.unwrap() < 1.0);
        assert_eq!(unit.scores.methods[0].ari, Some(1.0));
        assert!(unit.scores.normalized && (unit.vectors(&emb)[[2, 0]] - 1.0).abs() < 1e-6);
    }
}
