//! Clustering: DBSCAN (petal-clustering), k-means, chinese whispers, average linkage,
//! FINCH and k-NN graph average linkage (the automatic grouping, [`Method::AUTOMATIC`]),
//! one module each, plus the data-derived defaults for DBSCAN's radius and chinese
//! whispers' edge threshold ([`auto`]). [`run`] runs one [`Method`] with [`Params`].
//!
//! Every function takes rows as points and returns one label per row, numbered 0..C−1 in
//! order of first appearance so that runs compare cell by cell; DBSCAN marks noise −1.
//! Nothing here assumes an absolute scale: the defaults are read off the data's own
//! neighbour distances, so multiplying the embeddings by a constant multiplies the defaults
//! by the same constant and leaves the labels unchanged.
mod auto;
mod chinese_whispers;
mod dbscan;
pub mod finch;
pub mod graph_linkage;
mod kmeans;
pub mod linkage;

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

pub(crate) use auto::quantile;
use auto::sig;
pub use auto::{SCALE_QUANTILE, auto_cw_threshold, auto_eps, median_pair_distance, pair_distance_quantile};
pub use chinese_whispers::chinese_whispers;
pub use dbscan::dbscan;
pub use kmeans::{kmeans, kmeans_restarts};

use crate::error::{Error, Result};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Dbscan,
    Kmeans,
    /// Chinese whispers (the graph clustering dlib uses for faces).
    Cw,
    /// Average-linkage agglomerative clustering cut at a distance.
    Linkage,
    /// FINCH's second partition (first-neighbour graphs, no parameter).
    Finch,
    /// Average linkage on the 10-nearest-neighbour graph (the automatic grouping: no N×N
    /// matrix, and a cut that holds from an album to a big folder).
    Graph,
}

impl Method {
    /// Every method, in the order tables list them: the default of `--methods`.
    pub const ALL: [Method; 6] = [Method::Dbscan, Method::Kmeans, Method::Cw, Method::Linkage, Method::Finch, Method::Graph];

    /// The automatic grouping: what cluster folders, montages and the report show, and what
    /// `bench-albums` scores. k-NN graph average linkage replaced full average linkage at
    /// the 10 %-scaled cut (issue 32): albums of 2–12 people from lfw_identities / att_faces /
    /// yale_faces mean ARI 0.374 / 0.593 / 0.460 → 0.844 / 0.766 / 0.765 (Python prototype,
    /// docs/grouping/README.md §3), with O(N·k) memory instead of n²/2 distances.
    pub const AUTOMATIC: Method = Method::Graph;

    pub fn name(self) -> &'static str {
        match self {
            Method::Dbscan => "dbscan",
            Method::Kmeans => "kmeans",
            Method::Cw => "chinese_whispers",
            Method::Linkage => "average_linkage",
            Method::Finch => "finch",
            Method::Graph => "graph_linkage",
        }
    }
}

/// DBSCAN's `min_samples` unless the user gives one: the smallest group it calls a
/// cluster, three photos of one person.
pub const DEFAULT_MIN_SAMPLES: usize = 3;

/// Average linkage's cut as a share of the folder's median pairwise distance when no
/// calibration says otherwise (raw pixels, networks trained without held-out people).
/// Measured, like a checkpoint's calibration, on training people only: raw pixels of the
/// 200 people identity-v3 held out scored their best average-linkage ARI at 0.70 of the
/// median (scan 0.30–1.00 in steps of 0.05); the calibrated networks' own shares are
/// about 0.6.
pub const UNCALIBRATED_LINK_SHARE: f32 = 0.7;

/// FINCH's partition that `--methods finch` reports: the second, the one the brief's
/// reference measurements quote (the first keeps most people in several pieces, the third
/// merges people).
pub const FINCH_LEVEL: usize = 2;

/// What the methods take; None = derived from the data (and said how, in the returned
/// description).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// DBSCAN radius.
    pub eps: Option<f32>,
    pub min_samples: usize,
    /// k-means k; the number of identities when absent.
    pub k: Option<usize>,
    /// Chinese-whispers edge threshold.
    pub cw_threshold: Option<f32>,
    /// Average-linkage cut.
    pub link_threshold: Option<f32>,
    /// Cuts calibrated for the vectors' model, used where the user gives none.
    pub calibrated: Option<Calibrated>,
    /// Seed of k-means and chinese whispers.
    pub seed: u64,
}

/// Cuts measured on people the model never trained on (`calibrate`), for L2-normalised
/// vectors of that model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibrated {
    pub eps: f32,
    pub cw_threshold: f32,
    pub link_threshold: f32,
    /// The [`SCALE_QUANTILE`] quantile of the distances between held-out images: each cut
    /// is carried to a folder by the folder's same quantile over it.
    pub pair_scale: f32,
    /// The held-out people's [`graph_linkage::GRAPH_SCALE_QUANTILE`] distance and their
    /// different-person median (the graph's fill), which carry the graph cut to a folder;
    /// None for calibrations made before the graph existed (the uncalibrated shares apply).
    pub graph: Option<GraphReference>,
    /// Where they came from, for the printed description.
    pub origin: String,
}

/// What graph linkage reads off held-out people: distances in their units.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GraphReference {
    /// The [`graph_linkage::GRAPH_SCALE_QUANTILE`] quantile of all held-out pair distances
    /// (identity-v6: 1.4666).
    pub scale: f32,
    /// The median different-person distance (identity-v6: 1.3534): what a pair that is not
    /// a k-NN edge counts as.
    pub fill: f32,
}

/// Memory a clustering may take for its own working data: above it, full average linkage
/// (n²/2 distances) and the DBSCAN / chinese-whispers radius scan (100 neighbours a row)
/// are refused, or skipped when only the default `--methods` named them. 2 GB: what a
/// laptop has free beside the images' vectors; full average linkage reaches it at 31 623
/// faces.
pub const MEMORY_BUDGET: u64 = 2_000_000_000;

/// Bytes of [`GRAPH_NEIGHBOURS`] neighbours (index and distance) for each of `n` rows, what
/// the radius scan and chinese whispers' graph hold: 1.2 kB a row, the budget at 1.6 M rows.
fn neighbour_lists_bytes(n: usize) -> u64 {
    n as u64 * (GRAPH_NEIGHBOURS * (std::mem::size_of::<usize>() + std::mem::size_of::<f32>()) + 2 * 24) as u64
}

/// Refuses `method` on `n` rows when the `needs` bytes it would allocate pass
/// [`MEMORY_BUDGET`].
pub(crate) fn check_budget(method: Method, n: usize, needs: u64) -> Result<()> {
    if needs > MEMORY_BUDGET {
        let instead = clap::ValueEnum::to_possible_value(&Method::AUTOMATIC).map_or_else(String::new, |v| v.get_name().to_string());
        return Err(Error::TooLarge { method: method.name(), n, needs, budget: MEMORY_BUDGET, instead });
    }
    Ok(())
}

impl Default for Params {
    fn default() -> Self {
        Params { eps: None, min_samples: DEFAULT_MIN_SAMPLES, k: None, cw_threshold: None, link_threshold: None, calibrated: None, seed: 0 }
    }
}

/// Clusters the rows of `x` with `method`: one label per row (−1 = noise) and a
/// description of the parameters used and how they were chosen. `identities` is
/// k-means' k when `params.k` is absent.
pub fn run(method: Method, x: ArrayView2<f32>, params: &Params, identities: usize) -> Result<(Vec<i64>, String)> {
    let cal = params.calibrated.as_ref();
    // A calibrated value carried to this folder: scaled by its distance quantile over the
    // held-out people's (see `SCALE_QUANTILE`).
    let calibrated = |name: &str, t: f32, c: &Calibrated| {
        let scale = pair_distance_quantile(x, SCALE_QUANTILE);
        if scale.is_nan() || scale <= 0.0 {
            // Identical faces (or one): no scale to carry the value by, so it is used as calibrated.
            let how = format!(
                "{name} = {} (calibrated on {}, not scaled: this folder's {}th-percentile distance is 0)",
                sig(t),
                c.origin,
                SCALE_QUANTILE * 100.0
            );
            return (t, how);
        }
        let scaled = t * scale / c.pair_scale;
        (
            scaled,
            format!(
                "{name} = {} (calibrated {t} × this folder's {}th-percentile distance {scale:.4} / {} on {})",
                sig(scaled),
                SCALE_QUANTILE * 100.0,
                c.pair_scale,
                c.origin
            ),
        )
    };
    match method {
        Method::Dbscan => {
            let (eps, how) = match (params.eps, cal) {
                (Some(e), _) => (e, format!("eps = {e} (given)")),
                (None, Some(c)) => calibrated("eps", c.eps, c),
                (None, None) => {
                    check_budget(Method::Dbscan, x.nrows(), neighbour_lists_bytes(x.nrows()))?;
                    auto_eps(x, params.min_samples)
                }
            };
            Ok((dbscan(x, eps, params.min_samples)?, format!("{how}, min_samples = {}", params.min_samples)))
        }
        Method::Kmeans => {
            let n = x.nrows();
            let (k, how) = match params.k {
                Some(k) if k > n => (n, format!("--clusters {k} is more than the {n} images")),
                Some(k) => (k, "given".into()),
                None => (identities.min(n), "number of identity folders".into()),
            };
            Ok((kmeans(x, k, params.seed)?, format!("k = {k} ({how})")))
        }
        Method::Cw => {
            // Its graph holds the same neighbour lists as the radius scan.
            check_budget(Method::Cw, x.nrows(), neighbour_lists_bytes(x.nrows()))?;
            let (t, how) = match (params.cw_threshold, cal) {
                (Some(t), _) => (t, format!("threshold = {t} (given)")),
                (None, Some(c)) => calibrated("threshold", c.cw_threshold, c),
                (None, None) => auto_cw_threshold(x),
            };
            Ok((chinese_whispers(x, t, params.seed)?, how))
        }
        Method::Linkage => {
            let (t, how) = match (params.link_threshold, cal) {
                (Some(t), _) => (t, format!("threshold = {t} (given)")),
                (None, Some(c)) => calibrated("threshold", c.link_threshold, c),
                (None, None) => {
                    let median = median_pair_distance(x);
                    // All rows equal (median 0): any positive cut joins them.
                    let t = if median > 0.0 { UNCALIBRATED_LINK_SHARE * median } else { 1.0 };
                    let how = format!(
                        "threshold = {} = {UNCALIBRATED_LINK_SHARE} × this folder's median distance {median:.4} (the share for uncalibrated vectors)",
                        sig(t)
                    );
                    (t, how)
                }
            };
            Ok((linkage::average_linkage(x, t)?, how))
        }
        Method::Finch => Ok((finch::finch(x, FINCH_LEVEL)?, format!("partition {FINCH_LEVEL} (no parameter)"))),
        Method::Graph => {
            let (cut, fill, how) = graph_cut(x, params.link_threshold, cal);
            Ok((graph_linkage::graph_average_linkage(x, graph_linkage::GRAPH_K, cut, fill)?, how))
        }
    }
}

/// Graph linkage's cut and fill for the rows of `x` and how they were chosen: the
/// calibrated [`graph_linkage::GRAPH_CUT`] and held-out fill carried to the folder by its
/// [`graph_linkage::GRAPH_SCALE_QUANTILE`] distance, or shares of that distance for
/// uncalibrated vectors; a `given` cut replaces the derived one (the fill stays).
fn graph_cut(x: ArrayView2<f32>, given: Option<f32>, cal: Option<&Calibrated>) -> (f32, f32, String) {
    use graph_linkage::{GRAPH_CUT, GRAPH_K, GRAPH_SCALE_QUANTILE, UNCALIBRATED_CUT_SHARE, UNCALIBRATED_FILL_SHARE};
    let q = pair_distance_quantile(x, GRAPH_SCALE_QUANTILE);
    let pct = GRAPH_SCALE_QUANTILE * 100.0;
    let (cut, fill, how) = match (cal, cal.and_then(|c| c.graph)) {
        (Some(c), Some(g)) => {
            // Identical faces (or one): no scale to carry the values by; used as calibrated.
            let (s, by) = if q > 0.0 {
                (q / g.scale, format!("× this folder's {pct}th-percentile distance {q:.4} / {} on {}", g.scale, c.origin))
            } else {
                (1.0, format!("on {}, not scaled: this folder's {pct}th-percentile distance is 0", c.origin))
            };
            let (cut, fill) = (GRAPH_CUT * s, g.fill * s);
            let how = format!(
                "cut = {} (calibrated {GRAPH_CUT} {by}), non-neighbours count as {} (held-out different-person median {} × the same scale)",
                sig(cut),
                sig(fill),
                g.fill
            );
            (cut, fill, how)
        }
        (cal, _) => {
            let why = if cal.is_some() {
                "the calibration predates graph linkage (run `facemb calibrate`), so the shares for uncalibrated vectors"
            } else {
                "the shares for uncalibrated vectors"
            };
            if q > 0.0 {
                let (cut, fill) = (UNCALIBRATED_CUT_SHARE * q, UNCALIBRATED_FILL_SHARE * q);
                let how = format!(
                    "cut = {} = {UNCALIBRATED_CUT_SHARE} × this folder's {pct}th-percentile distance {q:.4}, non-neighbours count as {} = {UNCALIBRATED_FILL_SHARE} × it ({why})",
                    sig(cut),
                    sig(fill)
                );
                (cut, fill, how)
            } else {
                // All rows equal (or one): any positive cut joins them.
                (1.0, 1.0, format!("cut = 1, non-neighbours count as 1 (this folder's {pct}th-percentile distance is 0)"))
            }
        }
    };
    match given {
        Some(t) => (t, fill, format!("cut = {t} (given), non-neighbours count as {}; {GRAPH_K}-NN graph", sig(fill))),
        None => (cut, fill, format!("{how}; {GRAPH_K}-NN graph")),
    }
}
/// Neighbours per point in chinese whispers' graph and in the radius scan. Faces of one
/// person rarely number more than this in the sets this tool scores; past it, a point's
/// farther edges are dropped, which only thins edges inside an already dense group.
pub(crate) const GRAPH_NEIGHBOURS: usize = 100;

pub(crate) fn check_finite(x: ArrayView2<f32>) -> Result<()> {
    if x.iter().all(|v| v.is_finite()) { Ok(()) } else { Err(Error::Invalid("embeddings contain NaN or infinite values".into())) }
}

pub(crate) fn check_columns(x: ArrayView2<f32>) -> Result<()> {
    if x.nrows() > 0 && x.ncols() == 0 {
        return Err(Error::Invalid("embeddings have no columns".into()));
    }
    Ok(())
}

/// Renumbers labels 0..C−1 in order of first appearance; negative labels stay −1.
pub(crate) fn relabel<T: Copy + Eq + std::hash::Hash>(raw: impl IntoIterator<Item = Option<T>>) -> Vec<i64> {
    let mut ids = crate::intern::Interner::new();
    raw.into_iter().map(|l| l.map_or(-1, |l| ids.id(&l) as i64)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::blobs;
    use ndarray::{Array2, array};

    #[test]
    fn results_are_deterministic_for_a_seed() {
        let (x, _) = blobs(4 * 25, 8, 4, 2.0, 9);
        let (t, _) = auto_cw_threshold(x.view());
        assert_eq!(chinese_whispers(x.view(), t, 42).expect("cw"), chinese_whispers(x.view(), t, 42).expect("cw"));
        assert_eq!(kmeans(x.view(), 4, 42).expect("km"), kmeans(x.view(), 4, 42).expect("km"));
        // The scan's tie rule compares float scores; hash order must not tip it.
        let first = auto_eps(x.view(), 3);
        assert!((0..5).all(|_| auto_eps(x.view(), 3) == first));
    }

    #[test]
    fn tiny_and_degenerate_inputs_do_not_panic() {
        let empty = Array2::<f32>::zeros((0, 4));
        assert_eq!(dbscan(empty.view(), 1.0, 3).expect("dbscan"), Vec::<i64>::new());
        assert_eq!(kmeans(empty.view(), 1, 0).expect("kmeans"), Vec::<i64>::new());
        assert_eq!(chinese_whispers(empty.view(), 1.0, 0).expect("cw"), Vec::<i64>::new());
        let (e, _) = auto_eps(empty.view(), 3);
        let (t, _) = auto_cw_threshold(empty.view());
        assert!(e > 0.0 && t > 0.0);

        let three = array![[0.0f32], [1.0], [2.0]];
        let (e, how) = auto_eps(three.view(), 5);
        assert!(e > 0.0 && how.contains("every point is noise"), "{how}");
        assert_eq!(dbscan(three.view(), e, 5).expect("dbscan"), vec![-1; 3]);

        let one = array![[1.0f32, 2.0]];
        let (e, _) = auto_eps(one.view(), 3);
        assert_eq!(dbscan(one.view(), e, 3).expect("dbscan"), vec![-1]);
        assert_eq!(dbscan(one.view(), e, 1).expect("dbscan"), vec![0]);
        assert_eq!(kmeans(one.view(), 1, 0).expect("kmeans"), vec![0]);
        assert_eq!(chinese_whispers(one.view(), 1.0, 0).expect("cw"), vec![0]);

        // All rows identical: the derived radius must still be positive and join them.
        let same = Array2::<f32>::ones((6, 3));
        let (e, _) = auto_eps(same.view(), 3);
        assert!(e > 0.0);
        assert_eq!(dbscan(same.view(), e, 3).expect("dbscan"), vec![0; 6]);
        assert_eq!(kmeans(same.view(), 2, 0).expect("kmeans").len(), 6);

        let bad = array![[0.0f32, f32::NAN], [1.0, 1.0]];
        assert!(matches!(dbscan(bad.view(), 1.0, 2), Err(Error::Invalid(_))));
        assert!(matches!(kmeans(bad.view(), 1, 0), Err(Error::Invalid(_))));
        assert!(matches!(chinese_whispers(bad.view(), 1.0, 0), Err(Error::Invalid(_))));
        assert!(matches!(dbscan(same.view(), 0.0, 2), Err(Error::Invalid(_))));
        assert!(matches!(chinese_whispers(same.view(), f32::NAN, 0), Err(Error::Invalid(_))));
        let no_columns = Array2::<f32>::zeros((3, 0));
        assert!(matches!(dbscan(no_columns.view(), 1.0, 2), Err(Error::Invalid(_))));
    }

    #[test]
    fn run_says_how_each_parameter_was_chosen() {
        let (x, truth) = blobs(120, 16, 4, 1.0, 3);
        let given = Params { eps: Some(9.0), k: Some(4), cw_threshold: Some(9.0), link_threshold: Some(9.0), ..Params::default() };
        for (m, word) in [
            (Method::Dbscan, "eps = 9 (given)"),
            (Method::Kmeans, "k = 4 (given)"),
            (Method::Cw, "threshold = 9 (given)"),
            (Method::Linkage, "threshold = 9 (given)"),
        ] {
            let (labels, how) = run(m, x.view(), &given, 99).unwrap();
            assert!(how.starts_with(word), "{how}");
            assert_eq!(crate::evaluate::metrics::adjusted_rand_index(&truth, &labels), 1.0, "{m:?}");
        }
        let (_, how) = run(Method::Kmeans, x.view(), &Params::default(), 4).unwrap();
        assert_eq!(how, "k = 4 (number of identity folders)");
        let (_, how) = run(Method::Dbscan, x.view(), &Params::default(), 4).unwrap();
        assert!(how.contains("percentile") && how.ends_with("min_samples = 3"), "{how}");
        // Graph linkage takes the same cut; its fill (a share of the 90th-percentile
        // distance) stays, far above this cut, so only densely linked groups join.
        let (_, how) = run(Method::Graph, x.view(), &given, 4).unwrap();
        assert!(how.starts_with("cut = 9 (given), non-neighbours count as "), "{how}");
        let (labels, how) = run(Method::Graph, x.view(), &Params::default(), 4).unwrap();
        assert!(how.contains("0.859 × this folder's 90th-percentile distance"), "{how}");
        assert_eq!(crate::evaluate::metrics::adjusted_rand_index(&truth, &labels), 1.0, "{how}");
        let (labels, how) = run(Method::Linkage, x.view(), &Params::default(), 4).unwrap();
        assert!(how.contains("0.7 × this folder's median distance") && how.contains("uncalibrated"), "{how}");
        assert_eq!(crate::evaluate::metrics::adjusted_rand_index(&truth, &labels), 1.0);
        // k above the number of points is clamped, not an error.
        let (_, how) = run(Method::Kmeans, x.slice(ndarray::s![..3, ..]), &Params::default(), 4).unwrap();
        assert_eq!(how, "k = 3 (number of identity folders)");
    }

    #[test]
    fn the_linkage_cut_follows_the_folders_spread() {
        // The same people, one folder twice as tightly packed: the derived cut halves and
        // the clusters stay the same, calibrated or not.
        let (x, truth) = blobs(5 * 16, 16, 5, 1.5, 8);
        // Five blobs: a fifth of all pairs are same-blob, so the 10 % distance quantile is a
        // same-blob distance (≈ 8.5); 5 × 8.5 / 2 cuts between blobs.
        let cal = Calibrated { eps: 1.0, cw_threshold: 1.0, link_threshold: 5.0, pair_scale: 2.0, graph: None, origin: "test".into() };
        for calibrated in [None, Some(cal)] {
            let p = Params { calibrated, ..Params::default() };
            let (wide, how) = run(Method::Linkage, x.view(), &p, 5).unwrap();
            let (tight, _) = run(Method::Linkage, (&x * 0.5).view(), &p, 5).unwrap();
            assert_eq!(wide, tight, "{how}");
            assert_eq!(crate::evaluate::metrics::adjusted_rand_index(&truth, &wide), 1.0, "{how}");
        }
    }

    #[test]
    fn the_graph_cut_follows_the_folders_spread_and_says_where_it_came_from() {
        // As for full linkage: the folder twice as tightly packed gets half the cut and
        // fill, and the same clusters, with a calibration, with an old one that has no
        // graph reference, and with none.
        let (x, truth) = blobs(5 * 16, 16, 5, 1.5, 8);
        let cal = |graph| Calibrated { eps: 1.0, cw_threshold: 1.0, link_threshold: 5.0, pair_scale: 2.0, graph, origin: "test".into() };
        let reference = GraphReference { scale: 2.0, fill: 1.9 };
        for (calibrated, says) in [
            (Some(cal(Some(reference))), "(calibrated 1.26 × this folder's 90th-percentile distance"),
            (Some(cal(None)), "the calibration predates graph linkage"),
            (None, "(the shares for uncalibrated vectors)"),
        ] {
            let p = Params { calibrated, ..Params::default() };
            let (wide, how) = run(Method::Graph, x.view(), &p, 5).unwrap();
            let (tight, tight_how) = run(Method::Graph, (&x * 0.5).view(), &p, 5).unwrap();
            assert_eq!(wide, tight, "{how} / {tight_how}");
            assert_eq!(crate::evaluate::metrics::adjusted_rand_index(&truth, &wide), 1.0, "{how}");
            assert!(how.contains(says) && how.ends_with("; 10-NN graph"), "{how}");
        }
    }

    #[test]
    fn full_linkage_past_the_memory_budget_is_refused_when_named_and_skipped_by_default() {
        // 32 000 rows: n²/2 distances are 2.05 GB, just over the 2 GB budget; refused
        // before anything is allocated.
        let n = 32_000;
        let x = Array2::from_shape_fn((n, 1), |(i, _)| (i % 2) as f32 * 10.0);
        let e = linkage::average_linkage(x.view(), 1.0).unwrap_err();
        assert!(matches!(e, Error::TooLarge { n: 32_000, .. }), "{e}");
        let said = e.to_string();
        assert!(
            said.starts_with("average_linkage on 32000 faces would need 2.0 GB of memory, over the 2.0 GB budget")
                && said.contains("--methods graph"),
            "{said}"
        );
        let emb = crate::embed::Embeddings {
            matrix: x,
            paths: (0..n).map(|i| format!("{i}.png").into()).collect(),
            identity: (0..n).map(|i| i % 2).collect(),
            labelled: true,
            names: vec!["a".into(), "b".into()],
            p_face: None,
            skipped: Vec::new(),
        };
        let opts = |named| crate::evaluate::EvalOptions {
            methods: vec![Method::Linkage, Method::Kmeans],
            methods_named: named,
            ..Default::default()
        };
        let quiet = crate::progress::Reporter::SILENT;
        let ev = crate::evaluate::evaluate(&emb, "t", std::path::Path::new("f"), &opts(false), quiet).unwrap();
        assert_eq!(ev.scores.methods.iter().map(|m| m.method.as_str()).collect::<Vec<_>>(), ["kmeans"]);
        let named = crate::evaluate::evaluate(&emb, "t", std::path::Path::new("f"), &opts(true), quiet);
        assert!(matches!(named, Err(Error::TooLarge { .. })));
    }

    #[test]
    fn the_sampled_median_distance_is_close_to_the_exact_one() {
        let (x, _) = blobs(1200, 8, 6, 2.0, 3);
        let mut all: Vec<f32> = Vec::new();
        for i in 0..x.nrows() {
            for j in i + 1..x.nrows() {
                all.push(crate::neighbors::row_distance(x.view(), i, j));
            }
        }
        all.sort_unstable_by(f32::total_cmp);
        let exact = all[all.len() / 2];
        let sampled = median_pair_distance(x.view());
        assert!((sampled / exact - 1.0).abs() < 0.01, "{sampled} vs {exact}");
        let small = x.slice(ndarray::s![..100, ..]);
        assert_eq!(median_pair_distance(small), median_pair_distance(small), "seeded");
        assert_eq!(median_pair_distance(x.slice(ndarray::s![..1, ..])), 0.0);
    }
}
