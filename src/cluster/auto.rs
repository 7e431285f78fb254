//! Data-derived defaults for DBSCAN's radius and chinese whispers' edge threshold: a
//! scan of DBSCAN radii over quantiles of the k-distance, scored without labels.
use std::collections::HashMap;

use ndarray::ArrayView2;

use super::GRAPH_NEIGHBOURS;
use crate::neighbors::{knn, row_distance};

/// Quantile levels of the k-distance tried by the radius scan: 5%, 10%, …, 95%.
const SCAN_LEVELS: std::ops::RangeInclusive<u32> = 1..=19;
const SCAN_STEP: f64 = 0.05;

/// `min_samples` whose scan radius becomes chinese whispers' threshold (see
/// [`auto_cw_threshold`]).
const CW_SCAN_MIN_SAMPLES: usize = 5;

/// Linear-interpolation quantile (numpy's default) of sorted, non-empty values.
pub(crate) fn quantile(sorted: &[f32], q: f64) -> f32 {
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
pub(crate) fn sig(v: f32) -> String {
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

/// Pairs sampled for [`pair_distance_quantile`]: a quantile of 200 000 distances is within
/// about 0.3 % of the exact one, and costs milliseconds where all pairs of 20 000 rows
/// would cost seconds.
const SCALE_PAIRS: usize = 200_000;

/// The quantile of a folder's pairwise distances that carries a calibrated cut to it (cut ×
/// folder quantile / held-out quantile).
///
/// Why a scale at all: a folder shot in one studio (one camera, light and pose) packs
/// different people closer together than photos from the wild do, so a fixed cut merges
/// studio people. Why the 10 % quantile rather than the median: the cuts sit in the lower
/// tail of the distances (identity-v5's 1.10 lies near the held-out 3–4 % quantile), and a scale
/// read nearer the cut follows how close the nearest other people come. Average-linkage
/// ARI at the calibrated cut, median → 10 % quantile, on identity-v5 seeds 42 / 7 and v4
/// seeds 42 / 3: AT&T 0.705 / 0.688 / 0.731 / 0.753 → 0.828 / 0.792 / 0.763 / 0.846, Yale
/// 0.748 / 0.736 / 0.720 / 0.719 → 0.830 / 0.804 / 0.818 / 0.701, LFW 0.661 / 0.670 /
/// 0.559 / 0.519 → 0.669 / 0.679 / 0.564 / 0.522 (docs/identity/README.md). Lower still
/// (2–5 %) the quantile reaches same-person pairs, whose share is 1 / (number of people):
/// 7 % of Yale's 15 people's pairs, and the cut then splits people.
pub const SCALE_QUANTILE: f64 = 0.1;

/// The `q` quantile (0–1) of the distances between two different rows of `x` (all pairs
/// when there are at most [`SCALE_PAIRS`], else that many drawn with a fixed seed); 0
/// below 2 rows.
pub fn pair_distance_quantile(x: ArrayView2<f32>, q: f64) -> f32 {
    use rand::{Rng, SeedableRng};
    let n = x.nrows();
    if n < 2 {
        return 0.0;
    }
    let dist = |i: usize, j: usize| row_distance(x, i, j);
    let mut d: Vec<f32> = if n * (n - 1) / 2 <= SCALE_PAIRS {
        (0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j))).map(|(i, j)| dist(i, j)).collect()
    } else {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x6d65_6469_616e);
        (0..SCALE_PAIRS)
            .map(|_| {
                let i = rng.random_range(0..n);
                let j = (i + rng.random_range(1..n)) % n;
                dist(i, j)
            })
            .collect()
    };
    let at = ((d.len() as f64 * q.clamp(0.0, 1.0)) as usize).min(d.len() - 1);
    *d.select_nth_unstable_by(at, f32::total_cmp).1
}

/// The median distance between two different rows of `x` (see [`pair_distance_quantile`]):
/// the scale of the uncalibrated linkage cut, and what `calibrate` reports.
pub fn median_pair_distance(x: ArrayView2<f32>) -> f32 {
    pair_distance_quantile(x, 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{chinese_whispers, dbscan};
    use crate::evaluate::metrics::adjusted_rand_index;
    use crate::synthetic::{blobs, gaussian};
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};

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
            let mut centre: Vec<f32> = (0..dim).map(|_| gaussian(&mut rng)).collect();
            unit(&mut centre);
            let spread = sigma * rng.random_range(0.5..1.5) / (dim as f32).sqrt();
            for _ in 0..m {
                let mut p: Vec<f32> = centre.iter().map(|&c| c + spread * gaussian(&mut rng)).collect();
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
            let (x, truth) = {
                let (x, t) = blobs(nb * 40, 32, nb, 1.0, 7);
                (x * scale, t)
            };
            let (eps, how) = auto_eps(x.view(), min_samples);
            let labels = dbscan(x.view(), eps, min_samples).expect("dbscan");
            let ari = adjusted_rand_index(&truth, &labels);
            assert!(ari >= 0.95, "{nb} blobs ×{scale}, min_samples {min_samples}: ARI {ari}, {how}");
            assert!(how.starts_with("eps = ") && how.contains("percentile"), "{how}");
        }
    }

    #[test]
    fn auto_eps_scales_with_the_data() {
        let (x, _) = blobs(4 * 30, 16, 4, 1.0, 3);
        let (e1, _) = auto_eps(x.view(), 3);
        let (e2, _) = auto_eps((&x * 0.01).view(), 3);
        assert!((e2 / e1 - 0.01).abs() < 1e-4, "{e1} vs {e2}");
    }

    #[test]
    fn chinese_whispers_auto_threshold_recovers_blobs_at_any_scale() {
        for (nb, scale) in [(3, 1.0), (5, 1.0), (4, 0.01)] {
            let (x, truth) = {
                let (x, t) = blobs(nb * 40, 32, nb, 1.0, 5);
                (x * scale, t)
            };
            let (t, how) = auto_cw_threshold(x.view());
            let labels = chinese_whispers(x.view(), t, 0).expect("cw");
            let ari = adjusted_rand_index(&truth, &labels);
            assert!(ari >= 0.95, "{nb} blobs ×{scale}: ARI {ari}, {how}");
        }
    }
}
