//! DBSCAN (petal-clustering), k-means and chinese whispers (both here), plus the
//! data-derived defaults for DBSCAN's radius and chinese whispers' edge threshold.
//!
//! Every function takes rows as points and returns one label per row, numbered 0..C−1 in
//! order of first appearance so that runs compare cell by cell; DBSCAN marks noise −1.
//! Nothing here assumes an absolute scale: the defaults are read off the data's own
//! neighbour distances, so multiplying the embeddings by a constant multiplies the defaults
//! by the same constant and leaves the labels unchanged.
use std::collections::HashMap;

use ndarray::{Array2, ArrayView2, Axis, s};
use petal_clustering::{Dbscan, Fit as _};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::neighbors::knn;

/// Neighbours per point in chinese whispers' graph and in the radius scan. Faces of one
/// person rarely number more than this in the sets this tool scores; past it, a point's
/// farther edges are dropped, which only thins edges inside an already dense group.
const GRAPH_NEIGHBOURS: usize = 100;

/// Passes over all nodes in chinese whispers, as dlib does.
const CW_PASSES: usize = 100;

/// Quantile levels of the k-distance tried by the radius scan: 5%, 10%, …, 95%.
const SCAN_LEVELS: std::ops::RangeInclusive<u32> = 1..=19;
const SCAN_STEP: f64 = 0.05;

/// `min_samples` whose scan radius becomes chinese whispers' threshold (see
/// [`auto_cw_threshold`]).
const CW_SCAN_MIN_SAMPLES: usize = 5;

fn check_finite(x: ArrayView2<f32>) -> Result<()> {
    if x.iter().all(|v| v.is_finite()) { Ok(()) } else { Err(Error::Invalid("embeddings contain NaN or infinite values".into())) }
}

fn check_columns(x: ArrayView2<f32>) -> Result<()> {
    if x.nrows() > 0 && x.ncols() == 0 {
        return Err(Error::Invalid("embeddings have no columns".into()));
    }
    Ok(())
}

/// Renumbers labels 0..C−1 in order of first appearance; negative labels stay −1.
fn relabel<T: Copy + Eq + std::hash::Hash>(raw: impl IntoIterator<Item = Option<T>>) -> Vec<i64> {
    let mut ids: HashMap<T, i64> = HashMap::new();
    raw.into_iter()
        .map(|l| match l {
            None => -1,
            Some(l) => {
                let next = ids.len() as i64;
                *ids.entry(l).or_insert(next)
            }
        })
        .collect()
}

/// DBSCAN with euclidean distance; label −1 = noise. A point is core when at least
/// `min_samples` points (itself included) lie strictly closer than `eps`.
pub fn dbscan(x: ArrayView2<f32>, eps: f32, min_samples: usize) -> Result<Vec<i64>> {
    check_columns(x)?;
    check_finite(x)?;
    if !(eps.is_finite() && eps > 0.0) {
        return Err(Error::Invalid(format!("DBSCAN eps must be a positive number, got {eps}")));
    }
    let n = x.nrows();
    if n == 0 {
        return Ok(Vec::new());
    }
    // petal's ball tree wants contiguous rows; a view from a slice or transpose may not be.
    let rows = x.as_standard_layout();
    // `..default()` supplies petal's euclidean metric without a petal-neighbors dependency.
    let (clusters, _noise) = Dbscan::<f32, _> { eps, min_samples, ..Dbscan::default() }.fit(&rows, None);
    let mut raw: Vec<Option<usize>> = vec![None; n];
    for (cid, members) in &clusters {
        for &i in members {
            raw[i] = Some(*cid);
        }
    }
    Ok(relabel(raw))
}

/// Seeded k-means restarts (best inertia kept): 10 while N·k·D ≤ 1e8, then fewer so that
/// restarts × N·k·D stays near 1e9, at least one; a Lloyd pass costs N·k·D, so large
/// inputs with many identities are not run ten times over.
const KMEANS_WORK: f64 = 1e9;
const KMEANS_MAX_RUNS: usize = 10;

/// k-means++ seeding (Arthur & Vassilvitskii) in O(N·k·D): each new centre updates the
/// nearest-centre distances once. linfa's own seeding recomputes them against every
/// centre, O(N·k²·D), which is minutes at k in the hundreds.
fn kmeans_plus_plus(data: &[f64], d: usize, k: usize, rng: &mut impl Rng) -> Vec<f64> {
    let n = data.len() / d;
    let mut centres: Vec<f64> = Vec::with_capacity(k * d);
    let mut nearest = vec![f64::INFINITY; n];
    let mut next = rng.random_range(0..n);
    for c in 0..k {
        centres.extend_from_slice(&data[next * d..(next + 1) * d]);
        let centre = &centres[c * d..];
        nearest.par_iter_mut().zip(data.par_chunks(d)).for_each(|(m, row)| {
            let d2: f64 = row.iter().zip(centre).map(|(a, b)| (a - b) * (a - b)).sum();
            *m = m.min(d2);
        });
        let total: f64 = nearest.iter().sum();
        next = if total > 0.0 {
            // Draw proportional to squared distance to the nearest centre so far.
            let mut r = rng.random::<f64>() * total;
            nearest
                .iter()
                .position(|&m| {
                    r -= m;
                    r < 0.0
                })
                // Rounding can leave r ≥ 0 after the last row; take the last one with weight.
                .unwrap_or_else(|| nearest.iter().rposition(|&m| m > 0.0).unwrap_or(0))
        } else {
            // Every point sits on a centre (duplicates); extra centres cannot matter.
            rng.random_range(0..n)
        };
    }
    centres
}

/// k-means (Lloyd, k-means++ seeding, best inertia of up to 10 seeded restarts).
pub fn kmeans(x: ArrayView2<f32>, k: usize, seed: u64) -> Result<Vec<i64>> {
    kmeans_restarts(x, k, seed, KMEANS_MAX_RUNS)
}

/// [`kmeans`] with at most `max_runs` restarts (1 = sklearn's `n_init="auto"` with
/// k-means++, which the benchmark compares against like for like).
pub fn kmeans_restarts(x: ArrayView2<f32>, k: usize, seed: u64, max_runs: usize) -> Result<Vec<i64>> {
    check_columns(x)?;
    check_finite(x)?;
    let (n, d) = x.dim();
    if n == 0 {
        return Ok(Vec::new());
    }
    if k == 0 || k > n {
        return Err(Error::Invalid(format!("k-means needs 1 ≤ k ≤ number of points ({n}), got k = {k}")));
    }
    // Centred and scaled to unit RMS radius: the stopping rule below then means the same
    // at any embedding scale, and the GEMM distance expansion works on values near 1.
    let mut mean = vec![0.0f64; d];
    for row in x.rows() {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += f64::from(v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut centred: Vec<f64> = Vec::with_capacity(n * d);
    for row in x.rows() {
        centred.extend(row.iter().zip(&mean).map(|(&v, m)| f64::from(v) - m));
    }
    let rms = (centred.iter().map(|v| v * v).sum::<f64>() / n as f64).sqrt();
    if rms > 0.0 {
        centred.iter_mut().for_each(|v| *v /= rms);
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let runs = ((KMEANS_WORK / (n as f64 * k as f64 * d as f64)) as usize).clamp(1, max_runs.max(1));
    let seeds: Vec<Vec<f64>> = (0..runs).map(|_| kmeans_plus_plus(&centred, d, k, &mut rng)).collect();
    let data = Array2::from_shape_vec((n, d), centred.iter().map(|&v| v as f32).collect())
        .map_err(|e| Error::Compute { what: "k-means", reason: e.to_string() })?;
    // sklearn's rule: stop when the centres moved, in total squared distance, less than
    // 1e-4 × the mean per-feature variance (here 1/d after scaling).
    let tol = 1e-4 / d as f64;
    let mut best: Option<(f64, Vec<usize>)> = None;
    for init in seeds {
        let init = Array2::from_shape_fn((k, d), |(c, j)| init[c * d + j] as f32);
        let (labels, inertia) = lloyd(data.view(), init, KMEANS_MAX_ITER, tol);
        if best.as_ref().is_none_or(|(b, _)| inertia < *b) {
            best = Some((inertia, labels));
        }
    }
    let (_, labels) = best.ok_or_else(|| Error::Compute { what: "k-means", reason: "no run finished".into() })?;
    Ok(relabel(labels.into_iter().map(Some)))
}

const KMEANS_MAX_ITER: usize = 300;

/// Rows per assignment block: one block's N×k distance slab stays small at any N.
const KMEANS_BLOCK: usize = 1024;

/// Lloyd iterations from `centres` (k×d). Each point goes to its nearest centre through
/// ‖x‖² − 2·x·c + ‖c‖², one GEMM per block of rows (run in parallel); centres are then
/// the f64 means of their points (an emptied cluster keeps its centre). Returns the labels
/// and the inertia (sum of squared distances to the assigned centres).
///
/// Replaces linfa-clustering 0.8's Lloyd, which computes every point–centre distance
/// one by one in f64: measured on this 2-core machine, a single run at 3 711 × 128 with
/// k = 320 took 0.67 s there, and 100 000 × 128 at k = 320 spent minutes in its
/// `sq_l2_dist` (numbers for this version in BENCHMARKS.md).
fn lloyd(x: ArrayView2<f32>, mut centres: Array2<f32>, max_iter: usize, tol: f64) -> (Vec<usize>, f64) {
    let (n, d) = x.dim();
    let k = centres.nrows();
    let x_norms: Vec<f32> = x.rows().into_iter().map(|r| r.dot(&r)).collect();
    let mut labels = vec![usize::MAX; n];
    let mut inertia = f64::INFINITY;
    for _ in 0..max_iter {
        let c_norms: Vec<f32> = centres.rows().into_iter().map(|r| r.dot(&r)).collect();
        let ct = centres.t();
        let assigned: Vec<(usize, f32)> = (0..n.div_ceil(KMEANS_BLOCK))
            .into_par_iter()
            .flat_map_iter(|b| {
                let lo = b * KMEANS_BLOCK;
                let dots = x.slice(s![lo..(lo + KMEANS_BLOCK).min(n), ..]).dot(&ct);
                dots.outer_iter()
                    .zip(&x_norms[lo..])
                    .map(|(row, &xn)| {
                        let mut best = (0usize, f32::INFINITY);
                        for (c, (&dot, &cn)) in row.iter().zip(&c_norms).enumerate() {
                            let dist = xn - 2.0 * dot + cn;
                            if dist < best.1 {
                                best = (c, dist);
                            }
                        }
                        (best.0, best.1.max(0.0))
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        inertia = assigned.iter().map(|&(_, dist)| f64::from(dist)).sum();
        let changed = assigned.iter().zip(&labels).any(|(&(c, _), &l)| c != l);
        labels.iter_mut().zip(&assigned).for_each(|(l, &(c, _))| *l = c);
        if !changed {
            break;
        }
        let mut sums = vec![0.0f64; k * d];
        let mut counts = vec![0usize; k];
        for (row, &c) in x.rows().into_iter().zip(&labels) {
            counts[c] += 1;
            for (acc, &v) in sums[c * d..(c + 1) * d].iter_mut().zip(row) {
                *acc += f64::from(v);
            }
        }
        let mut shift = 0.0f64;
        for (c, mut centre) in centres.axis_iter_mut(Axis(0)).enumerate() {
            if counts[c] == 0 {
                continue;
            }
            for (j, v) in centre.iter_mut().enumerate() {
                let new = (sums[c * d + j] / counts[c] as f64) as f32;
                shift += f64::from(new - *v).powi(2);
                *v = new;
            }
        }
        if shift <= tol {
            // The last assignment matches these centres to within the tolerance.
            break;
        }
    }
    (labels, inertia)
}

/// Chinese whispers (Biemann 2006, as in dlib's face clustering): nodes joined by an
/// unweighted edge when closer than `threshold`; every node starts in its own cluster and,
/// visited in a seeded random order for up to 100 passes, takes the label most common
/// among its neighbours. Ties keep the current label if it is among the best, else the
/// smallest, so a run is deterministic for a seed. Isolated nodes are singleton clusters.
pub fn chinese_whispers(x: ArrayView2<f32>, threshold: f32, seed: u64) -> Result<Vec<i64>> {
    check_columns(x)?;
    check_finite(x)?;
    if !(threshold.is_finite() && threshold >= 0.0) {
        return Err(Error::Invalid(format!("chinese whispers threshold must be a non-negative number, got {threshold}")));
    }
    let n = x.nrows();
    let (idx, dist) = knn(x, GRAPH_NEIGHBOURS);
    let mut adj: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, (js, ds)) in idx.iter().zip(&dist).enumerate() {
        for (&j, &dij) in js.iter().zip(ds) {
            if dij < threshold {
                adj[i].push(j);
                adj[j].push(i);
            }
        }
    }
    for a in &mut adj {
        a.sort_unstable();
        a.dedup();
    }

    let mut label: Vec<usize> = (0..n).collect();
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    // Votes per label, reset after each node through `touched`, so a visit costs its degree.
    let mut votes = vec![0u32; n];
    let mut touched: Vec<usize> = Vec::new();
    for _ in 0..CW_PASSES {
        order.shuffle(&mut rng);
        let mut changed = false;
        for &i in &order {
            if adj[i].is_empty() {
                continue;
            }
            for &j in &adj[i] {
                let l = label[j];
                if votes[l] == 0 {
                    touched.push(l);
                }
                votes[l] += 1;
            }
            let top = touched.iter().map(|&l| votes[l]).max().unwrap_or(0);
            let best = if votes[label[i]] == top {
                label[i]
            } else {
                touched.iter().copied().filter(|&l| votes[l] == top).min().unwrap_or(label[i])
            };
            for &l in &touched {
                votes[l] = 0;
            }
            touched.clear();
            if best != label[i] {
                label[i] = best;
                changed = true;
            }
        }
        // The update is a deterministic function of the neighbours' labels, so a pass with
        // no change is a fixed point and further passes would change nothing.
        if !changed {
            break;
        }
    }
    Ok(relabel(label.into_iter().map(Some)))
}

/// Linear-interpolation quantile (numpy's default) of sorted, non-empty values.
fn quantile(sorted: &[f32], q: f64) -> f32 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let w = (pos - lo as f64) as f32;
    sorted[lo] + (sorted[hi] - sorted[lo]) * w
}

/// Union-find root with path halving.
fn root(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// Cluster sizes and noise count of DBSCAN at radius `eps`, computed from the neighbour
/// lists instead of a fresh range search so the scan can try many radii cheaply. Exact
/// while no point has more than `idx[i].len()` neighbours inside `eps`; past that only a
/// dense point's farthest edges are missed, and those rarely decide a cluster.
fn dbscan_sizes(idx: &[Vec<usize>], dist: &[Vec<f32>], others: usize, eps: f32) -> (Vec<usize>, usize) {
    let n = idx.len();
    // Core: at least `others` other points strictly inside eps (petal counts the point itself).
    let core: Vec<bool> = dist.iter().map(|d| others == 0 || d.get(others - 1).is_some_and(|&dk| dk < eps)).collect();
    let mut parent: Vec<usize> = (0..n).collect();
    for i in (0..n).filter(|&i| core[i]) {
        for (&j, &d) in idx[i].iter().zip(&dist[i]) {
            if d >= eps {
                break;
            }
            if core[j] {
                let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                if a != b {
                    parent[a.max(b)] = a.min(b);
                }
            }
        }
    }
    let mut sizes: HashMap<usize, usize> = HashMap::new();
    let mut noise = 0;
    for i in 0..n {
        let anchor = if core[i] {
            Some(i)
        } else {
            // A border point joins its nearest core neighbour's cluster.
            idx[i].iter().zip(&dist[i]).take_while(|(_, d)| **d < eps).map(|(&j, _)| j).find(|&j| core[j])
        };
        match anchor {
            Some(a) => *sizes.entry(root(&mut parent, a)).or_default() += 1,
            None => noise += 1,
        }
    }
    // Sorted so the score's float sum does not depend on hash order: equal partitions at
    // neighbouring radii must score exactly equal for the tie rule in the scan.
    let mut sizes: Vec<usize> = sizes.into_values().collect();
    sizes.sort_unstable();
    (sizes, noise)
}

/// Clustered fraction × effective number of clusters (exp of the size entropy of the
/// clustered points) = roughly "clustered points ÷ typical cluster size". It falls when a
/// radius leaves most points as noise and when clusters chain into one giant cluster.
fn scan_score(sizes: &[usize], noise: usize) -> f64 {
    let clustered: usize = sizes.iter().sum();
    if clustered == 0 {
        return 0.0;
    }
    let c = clustered as f64;
    let entropy: f64 = sizes.iter().map(|&s| s as f64 / c).map(|p| -p * p.ln()).sum();
    c / (c + noise as f64) * entropy.exp()
}

struct Scan {
    eps: f32,
    level: f64,
    others: usize,
}

/// The radius scan behind both defaults; None when there are too few points to measure.
fn scan_radius(x: ArrayView2<f32>, min_samples: usize) -> Option<Scan> {
    let n = x.nrows();
    if n < 2 || x.ncols() == 0 || x.iter().any(|v| !v.is_finite()) {
        return None;
    }
    // The k-distance is to the (min_samples − 1)-th other point, because that is exactly
    // DBSCAN's core test: quantile level q of it is the radius at which a fraction q of
    // the points are core. (min_samples ≤ 1 makes every point core; use the 1-NN then.)
    let others = min_samples.saturating_sub(1).clamp(1, n - 1);
    let (idx, dist) = knn(x, GRAPH_NEIGHBOURS.max(others));
    let mut kdist: Vec<f32> = dist.iter().map(|d| d[others - 1]).collect();
    kdist.sort_by(f32::total_cmp);
    // Exact duplicates make low quantiles 0; the smallest positive float still lets
    // duplicates (distance 0) join while separating everything else.
    let positive = |e: f32| if e > 0.0 { e } else { f32::MIN_POSITIVE };
    let mut best: Option<(f64, Scan)> = None;
    for step in SCAN_LEVELS {
        let level = f64::from(step) * SCAN_STEP;
        // A hair above the quantile so the point sitting at it passes petal's strict `<`.
        let eps = positive(quantile(&kdist, level) * (1.0 + 1e-5));
        let (sizes, noise) = dbscan_sizes(&idx, &dist, min_samples.saturating_sub(1), eps);
        let score = scan_score(&sizes, noise);
        // `>=`: on a plateau the larger radius wins, leaving fewer points as noise.
        if best.as_ref().is_none_or(|(s, _)| score >= *s) {
            best = Some((score, Scan { eps, level, others }));
        }
    }
    best.map(|(_, s)| s)
}

/// Four significant digits, whatever the scale.
fn sig(v: f32) -> String {
    if v == 0.0 || !v.is_finite() {
        return v.to_string();
    }
    let digits = (3 - v.abs().log10().floor() as i32).max(0) as usize;
    format!("{v:.digits$}")
}

fn ordinal(k: usize) -> String {
    let suffix = match (k % 10, k % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{k}{suffix}")
}

/// Data-derived DBSCAN radius and how it was chosen.
///
/// Why not a fixed quantile of the k-distance (the usual heuristic): on separated blobs
/// only a high quantile (≈90%) avoids shedding blob edges as noise, while on face
/// embeddings, where identities overlap, any radius above the typical same-person
/// k-distance chains identities into one giant cluster; on simulated face sets the best
/// quantile ran from 10% to 95% with how hard the set was. So the scan tries 5%, 10%, …,
/// 95% of the distance to the (min_samples − 1)-th neighbour and keeps the radius whose
/// clustering maximises clustered fraction × effective number of clusters: noise pulls it
/// down at small radii, chaining pulls it down at large ones. Everything is measured in
/// the data's own distances, so it is scale-free. On simulated sets it picked the best
/// quantile of the grid, or one step off, in all high-dimensional cases; in low dimensions
/// (≤ 8) it can prefer dense fragments of a Gaussian blob to the whole blob.
pub fn auto_eps(x: ArrayView2<f32>, min_samples: usize) -> (f32, String) {
    let Some(s) = scan_radius(x, min_samples) else {
        return (1.0, "eps = 1 (fewer than 2 usable points: any radius gives the same result)".into());
    };
    let pct = (s.level * 100.0).round();
    let what = format!("{pct}th percentile of the distance to the {} neighbour", ordinal(s.others));
    let how = if min_samples > x.nrows() {
        format!("{what}; with fewer points than min_samples every point is noise whatever eps")
    } else if min_samples <= 1 {
        format!("{what}; every point is core at min_samples ≤ 1; {SCAN_RULE}")
    } else {
        format!("{what}, so {pct}% of points are core; {SCAN_RULE}")
    };
    (s.eps, format!("eps = {} ({how})", sig(s.eps)))
}

const SCAN_RULE: &str = "percentile chosen in 5–95% to maximise clustered fraction × effective number of clusters";

/// Data-derived chinese-whispers edge threshold and how it was chosen.
///
/// Why the DBSCAN radius scan (with min_samples 5): the threshold has the same job as
/// DBSCAN's radius, joining same-identity neighbours without bridging identities, and
/// chinese whispers' majority vote tolerates a few bridges but not a graph where most
/// neighbours cross identities: on simulated face sets it collapsed to one cluster at
/// 1.25× the scanned radius, and a fixed rule such as √(median 1-NN × median pairwise
/// distance) collapsed on the harder sets, while the scanned radius stayed within a few
/// ARI points of the best threshold. min_samples 5 rather than 3 because the smaller
/// radius of 3 leaves the graph of a loose blob too sparse and splits it.
pub fn auto_cw_threshold(x: ArrayView2<f32>) -> (f32, String) {
    match scan_radius(x, CW_SCAN_MIN_SAMPLES) {
        None => (1.0, "threshold = 1 (fewer than 2 usable points: any threshold gives the same result)".into()),
        Some(s) => {
            let pct = (s.level * 100.0).round();
            (
                s.eps,
                format!(
                    "threshold = {} (DBSCAN radius scan with min_samples {CW_SCAN_MIN_SAMPLES}: {pct}th \
                     percentile of the distance to the {} neighbour)",
                    sig(s.eps),
                    ordinal(s.others)
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::adjusted_rand_index;
    use ndarray::array;

    /// Standard normal by Box–Muller: rand 0.9 has no normal distribution without rand_distr.
    fn gauss(rng: &mut impl Rng) -> f32 {
        let u: f32 = 1.0 - rng.random::<f32>();
        let v: f32 = rng.random();
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }

    /// `blobs` Gaussian blobs of `per` points in `dim` dimensions, std 1, centres on
    /// scaled axes so every pair of centres is `sep` apart; rows then multiplied by `scale`.
    fn blobs(blobs: usize, per: usize, dim: usize, sep: f32, scale: f32, seed: u64) -> (Array2<f32>, Vec<usize>) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut x = Array2::zeros((blobs * per, dim));
        let mut truth = Vec::new();
        for b in 0..blobs {
            for p in 0..per {
                let mut row = x.row_mut(b * per + p);
                row.iter_mut().for_each(|v| *v = gauss(&mut rng));
                row[b] += sep / std::f32::consts::SQRT_2;
                row *= scale;
                truth.push(b);
            }
        }
        (x, truth)
    }

    /// Face-like embeddings: `ids` identities of 2–29 unit vectors each, scattered around a
    /// random unit centre with a per-identity spread near `sigma` (σ ≈ 1 makes identities
    /// overlap: some nearest neighbours belong to another person), then renormalised.
    fn overlapping_identities(ids: usize, dim: usize, sigma: f32, seed: u64) -> (Array2<f32>, Vec<usize>) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let unit = |v: &mut Vec<f32>| {
            let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
            v.iter_mut().for_each(|a| *a /= n);
        };
        let (mut rows, mut truth) = (Vec::new(), Vec::new());
        for id in 0..ids {
            let m = rng.random_range(2..30);
            let mut centre: Vec<f32> = (0..dim).map(|_| gauss(&mut rng)).collect();
            unit(&mut centre);
            let spread = sigma * rng.random_range(0.5..1.5) / (dim as f32).sqrt();
            for _ in 0..m {
                let mut p: Vec<f32> = centre.iter().map(|&c| c + spread * gauss(&mut rng)).collect();
                unit(&mut p);
                rows.extend(p);
                truth.push(id);
            }
        }
        (Array2::from_shape_vec((truth.len(), dim), rows).expect("rows × dim"), truth)
    }

    #[test]
    fn auto_defaults_do_not_chain_overlapping_identities() {
        // The failure the scan exists to avoid: a radius that joins most same-person pairs
        // also bridges people, and DBSCAN (or the graph) chains everyone into one cluster.
        // ARI floors are a little under what the scan reaches (0.89/0.89 and 0.64/0.71);
        // a fixed high quantile scores ≈ 0 on the harder set.
        for (sigma, db_floor, cw_floor) in [(0.9, 0.85, 0.85), (1.2, 0.55, 0.65)] {
            let (x, truth) = overlapping_identities(100, 64, sigma, 0);
            let (eps, how) = auto_eps(x.view(), 3);
            let db = dbscan(x.view(), eps, 3).expect("dbscan");
            let (t, cw_how) = auto_cw_threshold(x.view());
            let cw = chinese_whispers(x.view(), t, 0).expect("cw");
            for (labels, floor, how) in [(&db, db_floor, &how), (&cw, cw_floor, &cw_how)] {
                let ari = adjusted_rand_index(&truth, labels);
                let largest = (0..labels.len() as i64).map(|c| labels.iter().filter(|&&l| l == c).count()).max();
                assert!(ari >= floor, "σ {sigma}: ARI {ari} < {floor}, {how}");
                assert!(largest.unwrap_or(0) * 20 < labels.len(), "σ {sigma}: a giant cluster, {how}");
            }
        }
    }

    #[test]
    fn dbscan_auto_eps_recovers_blobs_at_any_scale() {
        for (nb, scale, min_samples) in [(3, 1.0, 3), (5, 1.0, 3), (4, 1.0, 5), (5, 0.01, 3), (3, 0.01, 5)] {
            let (x, truth) = blobs(nb, 40, 32, 20.0, scale, 7);
            let (eps, how) = auto_eps(x.view(), min_samples);
            let labels = dbscan(x.view(), eps, min_samples).expect("dbscan");
            let ari = adjusted_rand_index(&truth, &labels);
            assert!(ari >= 0.95, "{nb} blobs ×{scale}, min_samples {min_samples}: ARI {ari}, {how}");
            assert!(how.starts_with("eps = ") && how.contains("percentile"), "{how}");
        }
    }

    #[test]
    fn auto_eps_scales_with_the_data() {
        let (x, _) = blobs(4, 30, 16, 20.0, 1.0, 3);
        let (e1, _) = auto_eps(x.view(), 3);
        let (e2, _) = auto_eps((&x * 0.01).view(), 3);
        assert!((e2 / e1 - 0.01).abs() < 1e-4, "{e1} vs {e2}");
    }

    #[test]
    fn kmeans_recovers_blobs_at_any_scale() {
        for (nb, scale) in [(3, 1.0), (5, 1.0), (4, 0.01)] {
            let (x, truth) = blobs(nb, 40, 32, 20.0, scale, 11);
            let labels = kmeans(x.view(), nb, 0).expect("kmeans");
            let ari = adjusted_rand_index(&truth, &labels);
            assert!(ari >= 0.95, "{nb} blobs ×{scale}: ARI {ari}");
        }
    }

    #[test]
    fn chinese_whispers_auto_threshold_recovers_blobs_at_any_scale() {
        for (nb, scale) in [(3, 1.0), (5, 1.0), (4, 0.01)] {
            let (x, truth) = blobs(nb, 40, 32, 20.0, scale, 5);
            let (t, how) = auto_cw_threshold(x.view());
            let labels = chinese_whispers(x.view(), t, 0).expect("cw");
            let ari = adjusted_rand_index(&truth, &labels);
            assert!(ari >= 0.95, "{nb} blobs ×{scale}: ARI {ari}, {how}");
        }
    }

    /// The straightforward Lloyd: every point–centre distance summed directly in f64.
    fn plain_lloyd(x: &Array2<f32>, init: &Array2<f32>, iters: usize) -> Vec<usize> {
        let mut centres = init.mapv(f64::from);
        let mut labels = vec![0; x.nrows()];
        for _ in 0..iters {
            for (i, row) in x.rows().into_iter().enumerate() {
                let dist = |c: usize| row.iter().zip(centres.row(c)).map(|(&a, &b)| (f64::from(a) - b).powi(2)).sum::<f64>();
                labels[i] = (0..centres.nrows()).min_by(|&a, &b| dist(a).total_cmp(&dist(b))).unwrap();
            }
            for c in 0..centres.nrows() {
                let members: Vec<usize> = (0..x.nrows()).filter(|&i| labels[i] == c).collect();
                if !members.is_empty() {
                    for j in 0..x.ncols() {
                        centres[[c, j]] = members.iter().map(|&i| f64::from(x[[i, j]])).sum::<f64>() / members.len() as f64;
                    }
                }
            }
        }
        labels
    }

    #[test]
    fn gemm_lloyd_matches_the_plain_version_across_block_edges() {
        // Overlapping blobs, so assignments keep changing for a while; N spans 3 blocks.
        let (x, _) = blobs(7, 400, 16, 2.5, 1.0, 11);
        let n = x.nrows();
        assert!(n > 2 * KMEANS_BLOCK && n % KMEANS_BLOCK != 0);
        let data: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let init = kmeans_plus_plus(&data, 16, 7, &mut rng);
        let init = Array2::from_shape_fn((7, 16), |(c, j)| init[c * 16 + j] as f32);
        let (ours, inertia) = lloyd(x.view(), init.clone(), 300, 0.0);
        let plain = plain_lloyd(&x, &init, 300);
        assert_eq!(ours, plain);
        let direct: f64 = (0..n)
            .map(|i| {
                let members: Vec<usize> = (0..n).filter(|&m| ours[m] == ours[i]).collect();
                (0..16)
                    .map(|j| {
                        let mean = members.iter().map(|&m| f64::from(x[[m, j]])).sum::<f64>() / members.len() as f64;
                        (f64::from(x[[i, j]]) - mean).powi(2)
                    })
                    .sum::<f64>()
            })
            .sum();
        assert!((inertia - direct).abs() <= 1e-3 * direct, "inertia {inertia} vs {direct}");
    }

    #[test]
    fn kmeans_rejects_k_zero_and_k_above_n() {
        let x = array![[0.0f32, 0.0], [1.0, 1.0], [2.0, 2.0]];
        assert!(matches!(kmeans(x.view(), 4, 0), Err(Error::Invalid(_))));
        assert!(matches!(kmeans(x.view(), 0, 0), Err(Error::Invalid(_))));
        assert_eq!(kmeans(x.view(), 3, 0).expect("k = n").len(), 3);
    }

    #[test]
    fn chinese_whispers_joins_close_groups_and_keeps_isolated_points_alone() {
        let x = array![[10.0f32, 0.0], [0.0, 0.0], [0.5, 0.0], [0.0, 0.5], [5.0, 5.0], [5.5, 5.0], [5.0, 5.5],];
        let labels = chinese_whispers(x.view(), 1.0, 3).expect("cw");
        assert_eq!(labels, vec![0, 1, 1, 1, 2, 2, 2]);
        // Threshold 0 leaves no edges: every point its own cluster.
        assert_eq!(chinese_whispers(x.view(), 0.0, 3).expect("cw"), vec![0, 1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn results_are_deterministic_for_a_seed() {
        let (x, _) = blobs(4, 25, 8, 6.0, 1.0, 9);
        let (t, _) = auto_cw_threshold(x.view());
        assert_eq!(chinese_whispers(x.view(), t, 42).expect("cw"), chinese_whispers(x.view(), t, 42).expect("cw"));
        assert_eq!(kmeans(x.view(), 4, 42).expect("km"), kmeans(x.view(), 4, 42).expect("km"));
        // The scan's tie rule compares float scores; hash order must not tip it.
        let first = auto_eps(x.view(), 3);
        assert!((0..5).all(|_| auto_eps(x.view(), 3) == first));
    }

    #[test]
    fn dbscan_labels_noise_and_numbers_clusters_in_order() {
        let x = array![[100.0f32], [0.0], [0.1], [0.2], [50.0], [50.1], [50.2]];
        assert_eq!(dbscan(x.view(), 0.5, 3).expect("dbscan"), vec![-1, 0, 0, 0, 1, 1, 1]);
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
}
