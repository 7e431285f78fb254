//! 2-D projections of embeddings for the charts: t-SNE and UMAP.
//!
//! t-SNE is our Barnes-Hut implementation ([`crate::tsne`]): linfa-tsne's took 8–11× as
//! long for the same trustworthiness (4.05 s vs 0.47 s at 1 000×128, 55.6 s vs 5.1 s at
//! 5 000, measured side by side on this 2-core machine, 2026-11-23). UMAP takes its fuzzy simplicial set
//! (smooth k-NN distances, fuzzy union) from umap-rs, fed with our exact k-NN graph, and
//! runs the layout SGD here: umap-rs' own optimiser draws negative samples from an
//! unseedable thread RNG on several threads at once, so no two runs would agree.
pub mod tsne;

use std::panic::{AssertUnwindSafe, catch_unwind};

use ndarray::{Array2, ArrayView2, Axis};
use rand::rngs::{SmallRng, StdRng};
use rand::{Rng, SeedableRng};
use umap_rs::{GraphParams, ManifoldParams, OptimizationParams, Umap, UmapConfig};

use crate::error::{Error, Result};
use crate::neighbors::knn;
use crate::tsne::{TsneOptions, bh_tsne};

#[derive(Debug, Clone, PartialEq)]
pub struct TsneParams {
    pub perplexity: f64,
    pub iterations: usize,
    pub seed: u64,
}

impl Default for TsneParams {
    fn default() -> Self {
        Self { perplexity: 30.0, iterations: 1000, seed: 0 }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct UmapParams {
    pub n_neighbors: usize,
    pub min_dist: f32,
    pub epochs: usize,
    pub seed: u64,
}

impl Default for UmapParams {
    fn default() -> Self {
        Self { n_neighbors: 15, min_dist: 0.1, epochs: 200, seed: 0 }
    }
}

/// t-SNE of the rows of `x` to N×2 (sklearn's Barnes-Hut t-SNE: PCA start, early
/// exaggeration, learning rate N/48). The perplexity is lowered to (N−1)/3 for small N,
/// since every point needs 3·perplexity neighbours.
pub fn tsne(x: ArrayView2<f32>, p: &TsneParams) -> Result<Array2<f32>> {
    const WHAT: &str = "t-SNE";
    let fail = |reason: String| Error::Compute { what: WHAT, reason };
    check_input(x, WHAT, 4)?;
    if !(p.perplexity.is_finite() && p.perplexity > 0.0) {
        return Err(fail(format!("perplexity must be positive, got {}", p.perplexity)));
    }
    if x.rows().into_iter().all(|r| r == x.row(0)) {
        return Err(fail("all rows are identical".into()));
    }
    // Wide inputs (raw pixels: 256–4096 dims) run on their top principal subspace, as
    // sklearn's and openTSNE's documentation advise: the k-NN search then costs 50 dims
    // per pair instead of thousands, and the neighbourhoods barely change.
    let reduced = (x.ncols() > TSNE_MAX_DIMS).then(|| principal_subspace(x, TSNE_MAX_DIMS, p.seed));
    let x = reduced.as_ref().map_or(x, |r| r.view());
    let options = TsneOptions { perplexity: p.perplexity, iterations: p.iterations, seed: p.seed, ..TsneOptions::default() };
    check_output(bh_tsne(x, &options), WHAT)
}

/// Input width above which t-SNE works on the principal subspace of this many dims.
const TSNE_MAX_DIMS: usize = 50;

/// Rows of `x` expressed in an orthonormal basis of its top-`k` principal subspace
/// (randomised range finder with two power iterations, Halko et al. 2011), so distances
/// within that subspace are kept exactly. The basis is not rotated to the principal axes:
/// t-SNE only sees distances.
fn principal_subspace(x: ArrayView2<f32>, k: usize, seed: u64) -> Array2<f32> {
    let (n, d) = x.dim();
    let l = k.min(n).min(d);
    let mean = x.mean_axis(Axis(0)).unwrap_or_else(|| ndarray::Array1::zeros(d));
    let xc = &x - &mean;
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let omega = Array2::from_shape_fn((d, l), |_| rng.random_range(-1.0f32..1.0));
    let mut q = orthonormal_columns(xc.dot(&omega));
    for _ in 0..2 {
        q = orthonormal_columns(xc.dot(&xc.t().dot(&q)));
    }
    // Coordinates of each row's projection, in an orthonormal basis of the subspace:
    // X ≈ Q·B with B = QᵀX, and QB·(QB)ᵀ = Q·(BBᵀ)·Qᵀ = (QL)(QL)ᵀ for BBᵀ = LLᵀ.
    let b = q.t().dot(&xc);
    let l_factor = cholesky_lower(&b.dot(&b.t()));
    q.dot(&l_factor)
}

/// Modified Gram–Schmidt, twice for stability; a column with nothing left becomes zero.
fn orthonormal_columns(mut a: Array2<f32>) -> Array2<f32> {
    for _pass in 0..2 {
        for j in 0..a.ncols() {
            for i in 0..j {
                let proj = a.column(i).dot(&a.column(j));
                let ci = a.column(i).to_owned();
                a.column_mut(j).scaled_add(-proj, &ci);
            }
            let norm = a.column(j).dot(&a.column(j)).sqrt();
            let mut cj = a.column_mut(j);
            if norm > 1e-12 {
                cj /= norm;
            } else {
                cj.fill(0.0);
            }
        }
    }
    a
}

/// Lower Cholesky factor of a symmetric positive semi-definite matrix; pivots that vanish
/// (rank deficiency) give zero columns instead of NaN.
fn cholesky_lower(g: &Array2<f32>) -> Array2<f32> {
    let m = g.nrows();
    let mut l = Array2::<f64>::zeros((m, m));
    let scale = (0..m).map(|i| f64::from(g[[i, i]])).fold(0.0, f64::max).max(f64::MIN_POSITIVE);
    for j in 0..m {
        let diag = f64::from(g[[j, j]]) - (0..j).map(|k| l[[j, k]] * l[[j, k]]).sum::<f64>();
        if diag <= 1e-10 * scale {
            continue;
        }
        let ljj = diag.sqrt();
        l[[j, j]] = ljj;
        for i in j + 1..m {
            let s = f64::from(g[[i, j]]) - (0..j).map(|k| l[[i, k]] * l[[j, k]]).sum::<f64>();
            l[[i, j]] = s / ljj;
        }
    }
    l.mapv(|v| v as f32)
}

/// UMAP of the rows of `x` to N×2 (euclidean input metric). `n_neighbors` counts the
/// point itself, as in umap-learn, and is lowered to N−1 for small N. The layout starts
/// from the rows' first two principal components (initialisation only) and is
/// deterministic for a given seed.
pub fn umap(x: ArrayView2<f32>, p: &UmapParams) -> Result<Array2<f32>> {
    const WHAT: &str = "UMAP";
    let fail = |reason: String| Error::Compute { what: WHAT, reason };
    check_input(x, WHAT, 3)?;
    if p.n_neighbors < 2 {
        return Err(fail(format!("n_neighbors must be at least 2, got {}", p.n_neighbors)));
    }
    if !(0.0..=SPREAD).contains(&p.min_dist) {
        return Err(fail(format!("min_dist must be in [0, {SPREAD}], got {}", p.min_dist)));
    }
    if p.epochs == 0 {
        return Err(fail("epochs must be at least 1".into()));
    }
    let n = x.nrows();
    let k = p.n_neighbors.min(n - 1);

    // umap-learn's graph convention, which umap-rs follows: column 0 is the point itself
    // at distance 0, and the sigma search skips it.
    let (nn_idx, nn_dist) = knn(x, k - 1);
    let mut indices = Array2::<u32>::zeros((n, k));
    let mut dists = Array2::<f32>::zeros((n, k));
    for i in 0..n {
        indices[[i, 0]] = to_u32(i)?;
        for (j, (&nb, &dist)) in nn_idx[i].iter().zip(&nn_dist[i]).enumerate() {
            indices[[i, j + 1]] = to_u32(nb)?;
            dists[[i, j + 1]] = dist;
        }
    }

    let (a, b) = fit_ab(SPREAD, p.min_dist);
    let config = UmapConfig {
        n_components: 2,
        manifold: ManifoldParams { min_dist: p.min_dist, spread: SPREAD, a: Some(a), b: Some(b) },
        graph: GraphParams { n_neighbors: k, ..GraphParams::default() },
        optimization: OptimizationParams { n_epochs: Some(p.epochs), ..Default::default() },
    };
    let manifold = catch_unwind(AssertUnwindSafe(|| Umap::new(config).learn_manifold(x, indices.view(), dists.view())))
        .map_err(|panic| fail(format!("umap-rs panicked: {}", panic_message(&*panic))))?;

    // umap-learn drops edges too weak to be sampled even once in the whole run.
    let graph = manifold.graph();
    let max_w = graph.data().iter().copied().fold(0.0f32, f32::max);
    let threshold = max_w / if p.epochs > 10 { p.epochs } else { 200 } as f32;
    let mut edges = Vec::new();
    for (head, row) in graph.outer_iterator().enumerate() {
        for (tail, &w) in row.iter() {
            if w >= threshold && w > 0.0 {
                edges.push(Edge { head, tail, epochs_per_sample: f64::from(max_w / w) });
            }
        }
    }

    let mut rng = StdRng::seed_from_u64(p.seed);
    let mut layout = pca_init(x, &mut rng);
    optimize_layout(&mut layout, &edges, p.epochs, a, b, &mut rng);

    let out = Array2::from_shape_fn((n, 2), |(i, c)| layout[i][c]);
    check_output(out, WHAT)
}

/// umap-learn's default `spread`: the scale of the curve that `min_dist` is measured on.
const SPREAD: f32 = 1.0;

/// Every positive edge sampled is matched by this many random repulsions (umap-learn's
/// `negative_sample_rate`).
const NEGATIVE_SAMPLE_RATE: f64 = 5.0;

struct Edge {
    head: usize,
    tail: usize,
    epochs_per_sample: f64,
}

/// How many vertex ranges the layout SGD runs in parallel. Fixed, not the thread count,
/// so that a seed gives the same layout on every machine; 8 keeps 2–8 cores busy.
const SGD_PARTITIONS: usize = 8;

/// How often per epoch the ranges exchange positions. Once per epoch cost 0.006 of
/// trustworthiness on LFW vectors (0.891 vs the serial loop's 0.897, mean of 3 seeds);
/// 4 times gives 0.899 at the same speed.
const SGD_SYNCS_PER_EPOCH: usize = 4;

/// One vertex range's share of the SGD: its edges (those whose head it owns), their
/// sampling clocks, its random stream, and the moves it owes to other ranges' vertices.
struct SgdPart {
    vertices: std::ops::Range<usize>,
    edges: std::ops::Range<usize>,
    next_sample: Vec<f64>,
    next_negative: Vec<f64>,
    rng: SmallRng,
    owed: Vec<(usize, [f32; 2])>,
}

/// umap-learn's `optimize_layout_euclidean` (γ = 1, α₀ = 1): strong edges are sampled
/// every epoch, weak ones proportionally less often, and each sample pulls both ends
/// together and pushes the head away from a few random points.
///
/// umap-learn runs it single-threaded, or multi-threaded with racing writes (so no two
/// runs agree). Here the vertices are cut into `SGD_PARTITIONS` ranges that run in
/// parallel, deterministically: a range moves its own vertices at once, as the serial
/// loop does, but sees the others' as they were at the last exchange, and the pulls it
/// owes their vertices are applied, in range order, at the next one (`SGD_SYNCS_PER_EPOCH`
/// times an epoch). umap-learn's parallel mode lives with staler, racing reads. At 5 000
/// blobs the trustworthiness stays 0.955 and UMAP takes 1.2 s instead of 2.0 s on 2 cores.
fn optimize_layout(y: &mut [[f32; 2]], edges: &[Edge], epochs: usize, a: f32, b: f32, rng: &mut StdRng) {
    use rayon::prelude::*;
    let n = y.len();
    debug_assert!(edges.windows(2).all(|w| w[0].head <= w[1].head), "edges grouped by head");
    // Negative samples are most of the random draws: xoshiro generators seeded from `rng`
    // (as umap-learn uses its own tau_rand) keep the run deterministic at a fraction of
    // ChaCha's cost.
    let seed: u64 = rng.random();
    let parts_n = SGD_PARTITIONS.min(n).max(1);
    let mut parts: Vec<SgdPart> = (0..parts_n)
        .map(|p| {
            let vertices = p * n / parts_n..(p + 1) * n / parts_n;
            let first = edges.partition_point(|e| e.head < vertices.start);
            let last = edges.partition_point(|e| e.head < vertices.end);
            let mine = &edges[first..last];
            SgdPart {
                vertices,
                edges: first..last,
                next_sample: mine.iter().map(|e| e.epochs_per_sample).collect(),
                next_negative: mine.iter().map(|e| e.epochs_per_sample / NEGATIVE_SAMPLE_RATE).collect(),
                rng: SmallRng::seed_from_u64(seed ^ (p as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
                owed: Vec::new(),
            }
        })
        .collect();
    let mut last_exchange = y.to_vec();

    let syncs = SGD_SYNCS_PER_EPOCH;
    for epoch in 0..epochs {
        let alpha = 1.0 - epoch as f32 / epochs as f32;
        let now = epoch as f64;
        for sync in 0..syncs {
            let frozen = &last_exchange;
            let mut ranges: Vec<&mut [[f32; 2]]> = Vec::with_capacity(parts_n);
            let mut rest = &mut *y;
            for part in &parts {
                let (mine, tail) = rest.split_at_mut(part.vertices.len());
                ranges.push(mine);
                rest = tail;
            }
            parts.par_iter_mut().zip(ranges).for_each(|(part, mine)| {
                let len = part.edges.len();
                let slice = sync * len / syncs..(sync + 1) * len / syncs;
                sgd_slice(part, mine, frozen, edges, slice, now, alpha, a, b);
            });
            for part in &mut parts {
                for (k, d) in part.owed.drain(..) {
                    y[k][0] += d[0];
                    y[k][1] += d[1];
                }
            }
            last_exchange.copy_from_slice(y);
        }
    }
}

/// One vertex range's `slice` of its edges (indices into `part.edges`) in one epoch, up to
/// the next exchange;
/// `mine` holds the positions of `part.vertices`, `frozen` everyone's at the last exchange.
#[allow(clippy::too_many_arguments)]
fn sgd_slice(
    part: &mut SgdPart,
    mine: &mut [[f32; 2]],
    frozen: &[[f32; 2]],
    edges: &[Edge],
    slice: std::ops::Range<usize>,
    now: f64,
    alpha: f32,
    a: f32,
    b: f32,
) {
    let n = frozen.len();
    let lo = part.vertices.start;
    let len = mine.len();
    let own = |k: usize| k.wrapping_sub(lo) < len;
    // The optimised gradients explode at zero distance; umap-learn clips every component.
    let clip = |g: f32| g.clamp(-4.0, 4.0);
    for e in slice {
        let edge = &edges[part.edges.start + e];
        if part.next_sample[e] > now {
            continue;
        }
        let (j, k) = (edge.head - lo, edge.tail);
        let yk = if own(k) { mine[k - lo] } else { frozen[k] };
        let d2 = dist2(mine[j], yk);
        let attract = if d2 > 0.0 {
            // d²^(b−1) = d²^b / d²: one power instead of two.
            let pb = d2.powf(b);
            -2.0 * a * b * (pb / d2) / (a * pb + 1.0)
        } else {
            0.0
        };
        let step = [0, 1].map(|c| clip(attract * (mine[j][c] - yk[c])) * alpha);
        mine[j][0] += step[0];
        mine[j][1] += step[1];
        if own(k) {
            mine[k - lo][0] -= step[0];
            mine[k - lo][1] -= step[1];
        } else {
            part.owed.push((k, [-step[0], -step[1]]));
        }
        part.next_sample[e] += edge.epochs_per_sample;

        let per_negative = edge.epochs_per_sample / NEGATIVE_SAMPLE_RATE;
        let negatives = ((now - part.next_negative[e]) / per_negative).max(0.0) as usize;
        for _ in 0..negatives {
            let k = part.rng.random_range(0..n);
            if k == edge.head {
                continue;
            }
            let yk = if own(k) { mine[k - lo] } else { frozen[k] };
            let d2 = dist2(mine[j], yk);
            if d2 <= 0.0 {
                continue;
            }
            let repel = 2.0 * b / ((0.001 + d2) * (a * d2.powf(b) + 1.0));
            let step = [0, 1].map(|c| clip(repel * (mine[j][c] - yk[c])) * alpha);
            mine[j][0] += step[0];
            mine[j][1] += step[1];
        }
        part.next_negative[e] += negatives as f64 * per_negative;
    }
}

fn dist2(p: [f32; 2], q: [f32; 2]) -> f32 {
    (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)
}

/// First two principal components by power iteration, scaled to [0, 10] like umap-learn's
/// initial layouts, plus a little noise so that duplicate rows do not start (and, with
/// zero gradient, stay) on top of each other.
fn pca_init(x: ArrayView2<f32>, rng: &mut StdRng) -> Vec<[f32; 2]> {
    let n = x.nrows();
    let mean = x.mean_axis(Axis(0)).unwrap_or_else(|| ndarray::Array1::zeros(x.ncols()));
    let xc = &x - &mean;
    let mut components: Vec<ndarray::Array1<f32>> = Vec::with_capacity(2);
    let mut scores = Vec::with_capacity(2);
    // Power iteration on the D×D scatter matrix (one GEMM) rather than on X twice per
    // step: at 5 000×128 the two mat-vecs per step took 0.47 s of a 2.2 s UMAP.
    let scatter = xc.t().dot(&xc);
    for _ in 0..2 {
        let mut v = ndarray::Array1::from_shape_fn(xc.ncols(), |_| rng.random_range(-1.0..1.0));
        for _ in 0..100 {
            let mut w = scatter.dot(&v);
            for c in &components {
                let along = w.dot(c);
                w.scaled_add(-along, c);
            }
            let norm = w.dot(&w).sqrt();
            if norm <= 1e-12 {
                break; // no variance left in this direction: keep the random one
            }
            v = w / norm;
        }
        scores.push(xc.dot(&v));
        components.push(v);
    }

    let mut y: Vec<[f32; 2]> = (0..n).map(|i| [scores[0][i], scores[1][i]]).collect();
    for c in 0..2 {
        let (lo, hi) = y.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), p| (lo.min(p[c]), hi.max(p[c])));
        let scale = if hi > lo { 10.0 / (hi - lo) } else { 0.0 };
        for p in &mut y {
            p[c] = (p[c] - lo) * scale + rng.random_range(-1e-3..1e-3);
        }
    }
    y
}

/// Least-squares fit of the layout's similarity curve 1 / (1 + a·d^(2b)) to the offset
/// exponential that `min_dist` and `spread` describe, by Levenberg–Marquardt like
/// umap-learn's `curve_fit`. umap-rs has its own fit, but its fixed-step gradient descent
/// stays near its starting point for min_dist far from 0.1.
fn fit_ab(spread: f32, min_dist: f32) -> (f32, f32) {
    let (spread, min_dist) = (f64::from(spread), f64::from(min_dist));
    let xs: Vec<f64> = (0..300).map(|i| 3.0 * spread * i as f64 / 299.0).collect();
    let target = |x: f64| {
        if x < min_dist { 1.0 } else { (-(x - min_dist) / spread).exp() }
    };
    let sse = |a: f64, b: f64| -> f64 { xs.iter().map(|&x| (1.0 / (1.0 + a * x.powf(2.0 * b)) - target(x)).powi(2)).sum() };

    let (mut a, mut b, mut lambda) = (1.0f64, 1.0f64, 1e-3);
    let mut cost = sse(a, b);
    for _ in 0..200 {
        // Normal equations JᵀJ·δ = −Jᵀr for the two parameters.
        let (mut jaa, mut jab, mut jbb, mut ga, mut gb) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for &x in &xs {
            if x <= 0.0 {
                continue; // f(0) = 1 whatever a and b are
            }
            let p = x.powf(2.0 * b);
            let f = 1.0 / (1.0 + a * p);
            let r = f - target(x);
            let da = -p * f * f;
            let db = -2.0 * a * p * x.ln() * f * f;
            jaa += da * da;
            jab += da * db;
            jbb += db * db;
            ga += da * r;
            gb += db * r;
        }
        let (haa, hbb) = (jaa * (1.0 + lambda), jbb * (1.0 + lambda));
        let det = haa * hbb - jab * jab;
        if !det.is_normal() {
            break;
        }
        let step_a = -(hbb * ga - jab * gb) / det;
        let step_b = -(haa * gb - jab * ga) / det;
        let (na, nb) = (a + step_a, b + step_b);
        let new_cost = if na > 0.0 && nb > 0.0 { sse(na, nb) } else { f64::INFINITY };
        if new_cost < cost {
            let converged = cost - new_cost < 1e-12 * cost.max(1e-12);
            (a, b, cost) = (na, nb, new_cost);
            lambda = (lambda / 10.0).max(1e-12);
            if converged {
                break;
            }
        } else {
            lambda *= 10.0;
            if lambda > 1e12 {
                break;
            }
        }
    }
    (a as f32, b as f32)
}

fn check_input(x: ArrayView2<f32>, what: &'static str, min_rows: usize) -> Result<()> {
    let (n, d) = x.dim();
    let reason = if n < min_rows {
        format!("needs at least {min_rows} points, got {n}")
    } else if d == 0 {
        "embeddings have no columns".to_string()
    } else if let Some(i) = x.axis_iter(Axis(0)).position(|r| r.iter().any(|v| !v.is_finite())) {
        format!("row {i} has a non-finite value")
    } else {
        return Ok(());
    };
    Err(Error::Compute { what, reason })
}

/// Degenerate inputs (all rows identical, say) end in NaN rather than in an error.
fn check_output(y: Array2<f32>, what: &'static str) -> Result<Array2<f32>> {
    if y.iter().all(|v| v.is_finite()) {
        Ok(y)
    } else {
        Err(Error::Compute { what, reason: "the layout diverged to non-finite coordinates (are all rows identical?)".into() })
    }
}

fn to_u32(i: usize) -> Result<u32> {
    u32::try_from(i).map_err(|_| Error::Compute { what: "UMAP", reason: format!("{i} points exceed umap-rs' u32 indices") })
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `blobs` well-separated Gaussian clusters of `per` points in `dim` dimensions.
    fn blobs(blobs: usize, per: usize, dim: usize, seed: u64) -> (Array2<f32>, Vec<usize>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let centres: Vec<Vec<f32>> = (0..blobs).map(|_| (0..dim).map(|_| rng.random_range(-10.0..10.0)).collect()).collect();
        let mut x = Array2::zeros((blobs * per, dim));
        let mut labels = Vec::with_capacity(blobs * per);
        for (i, mut row) in x.axis_iter_mut(Axis(0)).enumerate() {
            let blob = i / per;
            for (v, c) in row.iter_mut().zip(&centres[blob]) {
                *v = c + gaussian(&mut rng);
            }
            labels.push(blob);
        }
        (x, labels)
    }

    /// Box–Muller: rand 0.9 has no normal distribution without rand_distr.
    fn gaussian(rng: &mut StdRng) -> f32 {
        let u: f32 = rng.random_range(f32::EPSILON..1.0);
        let v: f32 = rng.random();
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }

    /// Share of points whose nearest other point in the 2-D layout has their label.
    fn nn_agreement(y: &Array2<f32>, labels: &[usize]) -> f64 {
        let (idx, _) = knn(y.view(), 1);
        let hits = idx.iter().enumerate().filter(|(i, nb)| labels[nb[0]] == labels[*i]).count();
        hits as f64 / labels.len() as f64
    }

    fn assert_good_layout(y: &Array2<f32>, labels: &[usize]) {
        assert_eq!(y.dim(), (labels.len(), 2));
        assert!(y.iter().all(|v| v.is_finite()));
        let agreement = nn_agreement(y, labels);
        assert!(agreement >= 0.95, "1-NN label agreement {agreement}");
    }

    #[test]
    fn tsne_keeps_blobs_apart() {
        let (x, labels) = blobs(4, 50, 32, 1);
        let y = tsne(x.view(), &TsneParams::default()).expect("t-SNE");
        assert_good_layout(&y, &labels);
    }

    #[test]
    fn wide_inputs_are_reduced_keeping_distances_and_tsne_survives_them() {
        // 4 blobs in 1024 dims whose spread lies in 30 dims: the 50-dim subspace holds all
        // of it, so pairwise distances survive exactly (up to f32 rounding).
        let (x30, labels) = blobs(4, 50, 30, 3);
        let mut x = Array2::<f32>::zeros((200, 1024));
        x.slice_mut(ndarray::s![.., ..30]).assign(&x30);
        let z = principal_subspace(x.view(), 50, 0);
        assert_eq!(z.dim(), (200, 50));
        for (i, j) in [(0, 1), (0, 199), (57, 130)] {
            let dx = (&x.row(i) - &x.row(j)).mapv(|v| v * v).sum().sqrt();
            let dz = (&z.row(i) - &z.row(j)).mapv(|v| v * v).sum().sqrt();
            assert!((dx - dz).abs() < 1e-3 * dx.max(1.0), "{dx} vs {dz}");
        }
        let y = tsne(x.view(), &TsneParams::default()).expect("t-SNE on 1024 dims");
        assert_good_layout(&y, &labels);
    }

    #[test]
    fn umap_keeps_blobs_apart() {
        let (x, labels) = blobs(4, 50, 32, 2);
        let y = umap(x.view(), &UmapParams::default()).expect("UMAP");
        assert_good_layout(&y, &labels);
    }

    #[test]
    fn projections_are_reproducible_for_a_seed() {
        let (x, _) = blobs(3, 30, 16, 3);
        let u = UmapParams { epochs: 50, ..UmapParams::default() };
        assert_eq!(umap(x.view(), &u).unwrap(), umap(x.view(), &u).unwrap());
        let other_seed = UmapParams { seed: 1, ..u.clone() };
        assert_ne!(umap(x.view(), &u).unwrap(), umap(x.view(), &other_seed).unwrap());

        let t = TsneParams { iterations: 300, ..TsneParams::default() };
        assert_eq!(tsne(x.view(), &t).unwrap(), tsne(x.view(), &t).unwrap());
        let other_seed = TsneParams { seed: 1, ..t.clone() };
        assert_ne!(tsne(x.view(), &t).unwrap(), tsne(x.view(), &other_seed).unwrap());
    }

    #[test]
    fn umap_layout_does_not_depend_on_the_thread_count() {
        // The SGD runs its vertex ranges in parallel: the result must still be a function
        // of the seed alone, on 1 core or many.
        let (x, _) = blobs(3, 40, 16, 5);
        let u = UmapParams { epochs: 60, ..UmapParams::default() };
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| umap(x.view(), &u).unwrap())
        };
        let one = on(1);
        assert_eq!(one, on(3));
        assert_eq!(one, on(8));
    }

    #[test]
    fn tiny_inputs_give_a_layout_or_an_error_not_a_panic() {
        let (x, _) = blobs(1, 5, 8, 4);
        let y = tsne(x.view(), &TsneParams::default()).expect("t-SNE on 5 points");
        assert_eq!(y.dim(), (5, 2));
        let y = umap(x.view(), &UmapParams::default()).expect("UMAP on 5 points");
        assert_eq!(y.dim(), (5, 2));

        let four = x.slice(ndarray::s![..4, ..]);
        assert_eq!(tsne(four, &TsneParams::default()).expect("t-SNE on 4 points").dim(), (4, 2));
        let three = x.slice(ndarray::s![..3, ..]);
        assert_eq!(umap(three, &UmapParams::default()).expect("UMAP on 3 points").dim(), (3, 2));
        let two = x.slice(ndarray::s![..2, ..]);
        assert!(matches!(tsne(two, &TsneParams::default()), Err(Error::Compute { .. })));
        assert!(matches!(umap(two, &UmapParams::default()), Err(Error::Compute { .. })));
    }

    #[test]
    fn bad_input_is_an_error() {
        let (mut x, _) = blobs(2, 10, 4, 5);
        x[[3, 1]] = f32::NAN;
        assert!(tsne(x.view(), &TsneParams::default()).is_err());
        assert!(umap(x.view(), &UmapParams::default()).is_err());
        let same = Array2::<f32>::ones((20, 4));
        assert!(tsne(same.view(), &TsneParams::default()).is_err());
        if let Ok(y) = umap(same.view(), &UmapParams::default()) {
            assert!(y.iter().all(|v| v.is_finite()));
        }
        let bad = UmapParams { min_dist: 2.0, ..UmapParams::default() };
        assert!(umap(x.view(), &bad).is_err());
    }

    #[test]
    fn curve_fit_matches_umap_learn() {
        // umap-learn's find_ab_params(1.0, 0.1) gives a ≈ 1.577, b ≈ 0.895.
        let (a, b) = fit_ab(1.0, 0.1);
        assert!((a - 1.577).abs() < 0.01 && (b - 0.895).abs() < 0.01, "a={a} b={b}");
    }

    /// By hand: `cargo test --release -- --ignored --nocapture time_`
    #[test]
    #[ignore]
    fn time_projections_1000x128() {
        let (x, labels) = blobs(10, 100, 128, 6);
        let out = std::env::temp_dir();
        let names: Vec<String> = (0..10).map(|i| format!("blob {i}")).collect();
        let t = std::time::Instant::now();
        let y = tsne(x.view(), &TsneParams::default()).unwrap();
        println!("t-SNE 1000x128: {:?}, 1-NN agreement {}", t.elapsed(), nn_agreement(&y, &labels));
        crate::plot::scatter_png(&out.join("facemb-tsne.png"), y.view(), &labels, &names, "t-SNE").unwrap();
        let t = std::time::Instant::now();
        let y = umap(x.view(), &UmapParams::default()).unwrap();
        println!("UMAP 1000x128: {:?}, 1-NN agreement {}", t.elapsed(), nn_agreement(&y, &labels));
        crate::plot::scatter_png(&out.join("facemb-umap.png"), y.view(), &labels, &names, "UMAP").unwrap();
    }
}
