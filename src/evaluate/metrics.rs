//! Scores of a labelling against the identity folders (ARI, NMI, purity), of the geometry
//! (silhouette), and of the embedding itself (leave-one-out 1-NN accuracy).
//!
//! Noise (any negative label) is scored as singleton clusters, one per noise point.
//! sklearn would treat −1 as one more cluster, which rewards lumping every doubtful face
//! into a single "noise cluster"; singletons are the honest reading of "not clustered".
//! Singletons do flatter purity (each is trivially pure), so read purity with the noise
//! count beside it.
//!
//! Labels and identities must have one entry per row; a length mismatch is a caller bug
//! and panics.
use std::collections::HashMap;

use ndarray::ArrayView2;
use rayon::prelude::*;

use crate::neighbors::knn;

/// Contingency table of two labellings with noise split into singletons.
struct Contingency {
    n: usize,
    /// Non-zero cells (class index, cluster index, count).
    cells: Vec<(usize, usize, u64)>,
    /// Row sums (true classes) and column sums (clusters, noise singletons included).
    classes: Vec<u64>,
    clusters: Vec<u64>,
}

impl Contingency {
    fn new(truth: &[usize], pred: &[i64]) -> Self {
        assert_eq!(truth.len(), pred.len(), "one identity and one cluster label per row");
        let mut class_ix: HashMap<usize, usize> = HashMap::new();
        let mut cluster_ix: HashMap<i64, usize> = HashMap::new();
        let mut classes: Vec<u64> = Vec::new();
        let mut clusters: Vec<u64> = Vec::new();
        let mut cells: HashMap<(usize, usize), u64> = HashMap::new();
        for (&t, &p) in truth.iter().zip(pred) {
            let i = *class_ix.entry(t).or_insert_with(|| {
                classes.push(0);
                classes.len() - 1
            });
            let mut new_column = || {
                clusters.push(0);
                clusters.len() - 1
            };
            // Each noise row opens a column of its own.
            let j = if p < 0 { new_column() } else { *cluster_ix.entry(p).or_insert_with(new_column) };
            classes[i] += 1;
            clusters[j] += 1;
            *cells.entry((i, j)).or_default() += 1;
        }
        Contingency {
            n: truth.len(),
            // Sorted so float sums over cells come out bit-identical run to run.
            cells: {
                let mut v: Vec<_> = cells.into_iter().map(|((i, j), c)| (i, j, c)).collect();
                v.sort_unstable();
                v
            },
            classes,
            clusters,
        }
    }
}

fn pairs(c: u64) -> i128 {
    let c = i128::from(c);
    c * (c - 1) / 2
}

/// Adjusted Rand index (Hubert & Arabie), as sklearn's `adjusted_rand_score`: 1 for
/// identical partitions, about 0 for chance agreement. Noise points are scored as
/// singleton clusters (sklearn would treat −1 as one cluster).
pub fn adjusted_rand_index(truth: &[usize], pred: &[i64]) -> f64 {
    let c = Contingency::new(truth, pred);
    // Pair counts in exact integers: the products below overflow i64 at about 10⁵ rows.
    let together_both: i128 = c.cells.iter().map(|&(_, _, v)| pairs(v)).sum();
    let together_truth: i128 = c.classes.iter().map(|&v| pairs(v)).sum();
    let together_pred: i128 = c.clusters.iter().map(|&v| pairs(v)).sum();
    let total = pairs(c.n as u64);
    let tp = together_both;
    let fn_ = together_truth - together_both;
    let fp = together_pred - together_both;
    let tn = total - together_truth - together_pred + together_both;
    // No disagreeing pair at all (this covers n < 2, all-one-cluster on both sides and
    // all-singletons on both sides, where the formula below is 0/0).
    if fn_ == 0 && fp == 0 {
        return 1.0;
    }
    let num = 2 * (tp * tn - fn_ * fp);
    let den = (tp + fn_) * (fn_ + tn) + (tp + fp) * (fp + tn);
    num as f64 / den as f64
}

fn entropy(counts: &[u64], n: f64) -> f64 {
    counts.iter().filter(|&&c| c > 0).map(|&c| c as f64 / n).map(|p| -p * p.ln()).sum()
}

/// Normalised mutual information with arithmetic-mean normalisation, as sklearn's
/// `normalized_mutual_info_score` default: MI / ((H(truth) + H(pred)) / 2). Noise points
/// are scored as singleton clusters.
pub fn normalized_mutual_info(truth: &[usize], pred: &[i64]) -> f64 {
    let c = Contingency::new(truth, pred);
    // Neither labelling splits the data (or there is no data): a perfect match, as sklearn.
    if c.classes.len() <= 1 && c.clusters.len() <= 1 {
        return 1.0;
    }
    let n = c.n as f64;
    let mi: f64 = c
        .cells
        .iter()
        .map(|&(i, j, nij)| {
            let nij = nij as f64;
            nij / n * (n * nij / (c.classes[i] as f64 * c.clusters[j] as f64)).ln()
        })
        .sum::<f64>()
        // Rounding can leave independent labellings a hair below 0.
        .max(0.0);
    if mi == 0.0 {
        return 0.0;
    }
    let norm = ((entropy(&c.classes, n) + entropy(&c.clusters, n)) / 2.0).max(f64::EPSILON);
    mi / norm
}

/// Fraction of rows whose cluster's majority identity is their own. Noise points are
/// singleton clusters and so always count as pure. 1 for no rows.
pub fn purity(truth: &[usize], pred: &[i64]) -> f64 {
    assert_eq!(truth.len(), pred.len(), "one identity and one cluster label per row");
    if truth.is_empty() {
        return 1.0;
    }
    let mut cells: HashMap<(i64, usize), usize> = HashMap::new();
    let mut noise = 0usize;
    for (&t, &p) in truth.iter().zip(pred) {
        if p < 0 {
            noise += 1;
        } else {
            *cells.entry((p, t)).or_default() += 1;
        }
    }
    let mut majority: HashMap<i64, usize> = HashMap::new();
    for (&(p, _), &c) in &cells {
        let m = majority.entry(p).or_default();
        *m = (*m).max(c);
    }
    (majority.values().sum::<usize>() + noise) as f64 / truth.len() as f64
}

/// Mean silhouette (euclidean) over the non-noise rows, using only non-noise rows as
/// neighbours, as sklearn's `silhouette_score` on that subset (a row alone in its cluster
/// scores 0). None when fewer than 2 clusters or no non-noise rows. O(N²·D) time, rows in
/// parallel, O(N·clusters) extra memory at most per thread and no N×N matrix.
pub fn silhouette(x: ArrayView2<f32>, pred: &[i64]) -> Option<f64> {
    assert_eq!(x.nrows(), pred.len(), "one cluster label per row");
    let kept: Vec<usize> = (0..pred.len()).filter(|&i| pred[i] >= 0).collect();
    let mut ids = crate::intern::Interner::new();
    let cluster: Vec<usize> = kept.iter().map(|&i| ids.id(&pred[i])).collect();
    let n_clusters = ids.len();
    if n_clusters < 2 {
        return None;
    }
    let mut size = vec![0usize; n_clusters];
    cluster.iter().for_each(|&c| size[c] += 1);
    // Contiguous copy of the kept rows so the inner loop runs over plain slices.
    let d = x.ncols();
    let rows: Vec<f32> = kept.iter().flat_map(|&i| x.row(i).to_vec()).collect();
    let row = |i: usize| &rows[i * d..(i + 1) * d];
    let per_row: Vec<f64> = (0..kept.len())
        .into_par_iter()
        .map(|i| {
            let own = cluster[i];
            if size[own] == 1 {
                return 0.0;
            }
            let mut sums = vec![0.0f64; n_clusters];
            let ri = row(i);
            for (j, &cj) in cluster.iter().enumerate() {
                if j != i {
                    let d2: f32 = ri.iter().zip(row(j)).map(|(a, b)| (a - b) * (a - b)).sum();
                    sums[cj] += f64::from(d2.sqrt());
                }
            }
            let a = sums[own] / (size[own] - 1) as f64;
            let b = (0..n_clusters).filter(|&c| c != own).map(|c| sums[c] / size[c] as f64).fold(f64::INFINITY, f64::min);
            let m = a.max(b);
            if m > 0.0 { (b - a) / m } else { 0.0 }
        })
        .collect();
    // Summed in row order, not rayon's split order, so the score is reproducible.
    let total: f64 = per_row.iter().sum();
    let mean = total / kept.len() as f64;
    mean.is_finite().then_some(mean)
}

/// Rows above which [`silhouette_sampled`] scores a seeded random subset, as sklearn's
/// `silhouette_score(sample_size=…)` does: the exact score is O(N²·D), an hour at 100 000.
pub const SILHOUETTE_MAX_ROWS: usize = 10_000;

/// [`silhouette`] on all rows up to [`SILHOUETTE_MAX_ROWS`], else on that many rows drawn
/// without replacement (seeded), which estimates the mean to about ±0.01.
pub fn silhouette_sampled(x: ArrayView2<f32>, pred: &[i64], seed: u64) -> Option<f64> {
    if x.nrows() <= SILHOUETTE_MAX_ROWS {
        return silhouette(x, pred);
    }
    use rand::SeedableRng;
    use rand::seq::index::sample;
    let mut rows = sample(&mut rand::rngs::StdRng::seed_from_u64(seed), x.nrows(), SILHOUETTE_MAX_ROWS).into_vec();
    rows.sort_unstable();
    let sub = x.select(ndarray::Axis(0), &rows);
    let labels: Vec<i64> = rows.iter().map(|&i| pred[i]).collect();
    silhouette(sub.view(), &labels)
}

/// Leave-one-out 1-NN identity accuracy: the fraction of rows whose nearest other row
/// (euclidean; ties to the lower row index) has the same identity. NaN when no identity
/// has two rows (fewer than 2 rows included): then no row has a match to find, and 0
/// would read as "every face matched wrongly".
pub fn one_nn_accuracy(x: ArrayView2<f32>, truth: &[usize]) -> f64 {
    assert_eq!(x.nrows(), truth.len(), "one identity per row");
    let mut seen = std::collections::HashSet::new();
    if truth.iter().all(|t| seen.insert(*t)) {
        return f64::NAN;
    }
    let (idx, _) = knn(x, 1);
    let hits = idx.iter().enumerate().filter(|(i, nn)| nn.first().is_some_and(|&j| truth[j] == truth[*i])).count();
    hits as f64 / truth.len() as f64
}

/// (number of clusters excluding noise, number of noise points); any negative label is noise.
pub fn cluster_counts(pred: &[i64]) -> (usize, usize) {
    let mut seen = std::collections::HashSet::new();
    let mut noise = 0;
    for &p in pred {
        if p < 0 {
            noise += 1;
        } else {
            seen.insert(p);
        }
    }
    (seen.len(), noise)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    // Values from sklearn 1.9.1 adjusted_rand_score / normalized_mutual_info_score; the
    // pred vectors with −1 were given to sklearn with each −1 replaced by a fresh label.
    const SKLEARN: &[(&[usize], &[i64], f64, f64)] = &[
        (&[0, 0, 1, 1], &[0, 0, 1, 2], 0.5714285714285714, 0.7999999999999999),
        (&[0, 0, 0, 1, 1, 1], &[0, 0, 1, 1, 2, 2], 0.24242424242424243, 0.5158037429793889),
        (&[0, 0, 0, 1, 1, 1], &[0, 0, -1, 1, 1, -1], 0.375, 0.6853314789615865),
        (&[0, 0, 1, 1], &[0, 0, 0, 0], 0.0, 0.0),
        (&[0, 0, 1, 1], &[0, 1, 2, 3], 0.0, 0.6666666666666666),
        (
            &[0, 1, 2, 0, 1, 2, 0, 1, 2, 3, 3, 3, 4, 4, 0, 1],
            &[5, 5, 2, 0, 1, 2, 0, 0, 2, 3, 3, 1, 4, 4, 4, 1],
            0.3348891481913652,
            0.6770448945637032,
        ),
    ];

    #[test]
    fn ari_and_nmi_match_sklearn() {
        for &(t, p, ari, nmi) in SKLEARN {
            assert!(close(adjusted_rand_index(t, p), ari), "ARI {t:?} {p:?}: {} vs {ari}", adjusted_rand_index(t, p));
            assert!(close(normalized_mutual_info(t, p), nmi), "NMI {t:?} {p:?}: {} vs {nmi}", normalized_mutual_info(t, p));
        }
    }

    #[test]
    fn identical_and_renamed_labellings_score_one() {
        let t = [0usize, 0, 1, 1, 2, 2, 3, 3];
        let same = [0i64, 0, 1, 1, 2, 2, 3, 3];
        let renamed = [7i64, 7, 2, 2, 9, 9, 0, 0];
        for p in [&same, &renamed] {
            assert_eq!(adjusted_rand_index(&t, p), 1.0);
            assert!(close(normalized_mutual_info(&t, p), 1.0));
            assert_eq!(purity(&t, p), 1.0);
        }
    }

    #[test]
    fn degenerate_labellings_give_numbers_not_nan() {
        let one = [0usize; 5];
        assert_eq!(adjusted_rand_index(&one, &[3; 5]), 1.0);
        assert_eq!(normalized_mutual_info(&one, &[3; 5]), 1.0);
        // All singletons on both sides, via noise on one.
        let distinct = [0usize, 1, 2, 3];
        assert_eq!(adjusted_rand_index(&distinct, &[-1; 4]), 1.0);
        assert!(close(normalized_mutual_info(&distinct, &[-1; 4]), 1.0));
        // One cluster against all singletons: no shared information.
        assert_eq!(adjusted_rand_index(&one[..4], &[-1; 4]), 0.0);
        assert_eq!(normalized_mutual_info(&one[..4], &[-1; 4]), 0.0);
        for f in [adjusted_rand_index, normalized_mutual_info, purity] {
            assert!(f(&[], &[]).is_finite() && f(&[1], &[0]).is_finite() && f(&[1], &[-1]).is_finite());
        }
    }

    #[test]
    fn purity_counts_majorities_and_noise_as_singletons() {
        // Cluster 0 = {a,a,b}: 2; cluster 1 = {b,b,a,c}: 2; one noise point: 1 → 5/8.
        let t = [0usize, 0, 1, 1, 1, 0, 2, 2];
        let p = [0i64, 0, 0, 1, 1, 1, 1, -1];
        assert!(close(purity(&t, &p), 5.0 / 8.0));
        assert!(close(purity(&[0, 1, 2, 3], &[0, 0, 0, 0]), 0.25));
    }

    #[test]
    fn silhouette_matches_sklearn() {
        // Values from sklearn 1.9.1 silhouette_score.
        let x = array![[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [5.0, 5.0], [5.0, 6.0], [6.0, 5.0], [10.0, 0.0]];
        let s = silhouette(x.view(), &[0, 0, 0, 1, 1, 1, 1]).expect("2 clusters");
        assert!((s - 0.6438483120696906).abs() < 1e-6, "{s}");
        let s = silhouette(x.view(), &[0, 0, 1, 1, 2, 2, 2]).expect("3 clusters");
        assert!((s - 0.02775324371721822).abs() < 1e-6, "{s}");
        // Noise rows are left out, as sklearn on the first six rows.
        let s = silhouette(x.view(), &[0, 0, 0, 1, 1, 1, -1]).expect("2 clusters");
        assert!((s - 0.8398163312586742).abs() < 1e-6, "{s}");
        // A singleton cluster scores 0 for its row.
        let x1 = array![[0.0f32], [1.0], [4.0], [5.0], [9.0]];
        let s = silhouette(x1.view(), &[0, 0, 1, 1, 2]).expect("3 clusters");
        assert!((s - 0.5912698412698413).abs() < 1e-6, "{s}");
    }

    #[test]
    fn silhouette_is_none_without_two_clusters() {
        let x = array![[0.0f32], [1.0], [2.0]];
        assert_eq!(silhouette(x.view(), &[0, 0, 0]), None);
        assert_eq!(silhouette(x.view(), &[-1, -1, -1]), None);
        assert_eq!(silhouette(x.view(), &[0, -1, -1]), None);
        assert_eq!(silhouette(x.view(), &[0, 1, 2]), Some(0.0));
    }

    #[test]
    fn one_nn_accuracy_counts_nearest_other_rows() {
        // Rows 1 and 2 are each other's nearest but of different identities; the rest match.
        let x = array![[0.0f32], [1.0], [1.6], [5.0], [5.5]];
        assert!(close(one_nn_accuracy(x.view(), &[0, 0, 1, 1, 1]), 0.6));
        assert!(one_nn_accuracy(x.slice(ndarray::s![..1, ..]), &[0]).is_nan());
        assert!(one_nn_accuracy(x.view(), &[0, 1, 2, 3, 4]).is_nan(), "no identity with two rows: undefined, not 0");
    }

    #[test]
    fn cluster_counts_separates_noise() {
        assert_eq!(cluster_counts(&[0, 0, 3, -1, 3, 7, -1]), (3, 2));
        assert_eq!(cluster_counts(&[]), (0, 0));
    }
}
