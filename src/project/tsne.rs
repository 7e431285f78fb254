//! Barnes-Hut t-SNE (van der Maaten 2014), following scikit-learn's
//! `TSNE(method="barnes_hut", init="pca", learning_rate="auto")` step by step so that maps
//! are of the same quality, and sklearn's `trustworthiness` to measure that quality.
//!
//! Determinism: every parallel step computes each row's (each point's) result on its own and
//! every sum across rows runs serially in a fixed order, so the output depends on the input
//! and the seed only, never on the number of threads or on their scheduling.
//!
//! Speed: the points are renumbered once, in the tree order of the initial map, so that
//! neighbours in P sit close in memory. Per iteration, the quadtree is rebuilt from a
//! Morton-code sort into flat arrays in depth-first order; the repulsion walks the tree once
//! per group of 16 points that are consecutive in that order, then runs the force loop over
//! the group as SIMD lanes in f32 (coordinates relative to the group, sums into f64); the
//! attraction over the rows of the sparse P runs on other threads while the serial tree build
//! runs.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use ndarray::{Array2, ArrayView2, Axis, s};

use rayon::prelude::*;

use super::linalg::{POWER_ITERATIONS, centred, pca};
use super::{TsneParams, check_input, check_output};
use crate::error::{Error, Result};
use crate::neighbors::knn;

#[derive(Debug, Clone, PartialEq)]
pub struct TsneOptions {
    /// Effective number of neighbours; lowered to (N − 1)/3 when N is too small for it.
    pub perplexity: f64,
    pub iterations: usize,
    /// Barnes-Hut accuracy: a cell is summarised by its centre of mass when its width is below
    /// `theta` times its distance. 0 computes the exact repulsion (O(N²) per iteration).
    pub theta: f64,
    /// Seeds the random start of the PCA that initialises the map. The PCA finds nearly the
    /// same axes from any start, so other seeds give similar maps, not independent ones.
    pub seed: u64,
}

impl Default for TsneOptions {
    fn default() -> Self {
        Self { perplexity: 30.0, iterations: 1000, theta: 0.5, seed: 0 }
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
    let reduced = (x.ncols() > TSNE_MAX_DIMS).then(|| pca(x, TSNE_MAX_DIMS, SUBSPACE_POWER_ITERATIONS, p.seed).mapv(|v| v as f32));
    let x = reduced.as_ref().map_or(x, |r| r.view());
    let options = TsneOptions { perplexity: p.perplexity, iterations: p.iterations, seed: p.seed, ..TsneOptions::default() };
    check_output(bh_tsne(x, &options), WHAT)
}

/// Input width above which t-SNE works on the principal subspace of this many dims.
const TSNE_MAX_DIMS: usize = 50;

/// Two power iterations suffice for the 50-dim subspace (Halko et al. 2011): t-SNE only
/// needs its distances, not converged principal axes.
const SUBSPACE_POWER_ITERATIONS: usize = 2;

/// The first two principal coordinates of `x`: t-SNE's initial map (sklearn's
/// `init="pca"`).
fn pca_2d(x: ArrayView2<f32>, seed: u64) -> Vec<[f64; 2]> {
    pca(x, 2, POWER_ITERATIONS, seed).rows().into_iter().map(|r| [r[0], r[1]]).collect()
}

const EARLY_EXAGGERATION: f64 = 12.0;
const EXAGGERATION_ITERATIONS: usize = 250;
const EARLY_MOMENTUM: f64 = 0.5;
const LATE_MOMENTUM: f64 = 0.8;
const MIN_GAIN: f64 = 0.01;
const PERPLEXITY_TOLERANCE: f64 = 1e-5;
const PERPLEXITY_STEPS: usize = 100;
/// sklearn's `init="pca"` scales the initial map so that its first column has this std.
const INIT_STD: f64 = 1e-4;
/// Deeper cells than this (2⁻³² of the map's extent) hold points that are, for the forces,
/// at one place; the limit also stops the subdivision of exact duplicates.
const MAX_TREE_DEPTH: usize = 32;
/// Cells per side at `MAX_TREE_DEPTH`.
const GRID: f64 = (1u64 << MAX_TREE_DEPTH) as f64;
/// Size (in f32/f64 elements) of the distance blocks computed at once per thread.
const DISTANCE_BLOCK_ELEMENTS: usize = 1 << 20;

/// t-SNE of the rows of `x` (N×D, any D ≥ 1) to N×2.
///
/// Edge cases, none of which panics: N = 0 gives a 0×2 array; if all rows are identical
/// (N = 1 included) every point maps to the origin; N = 2 or 3 returns the centred PCA
/// coordinates (which for so few points keep all distances exactly), since no perplexity
/// is left to calibrate; D = 1 gives a map whose second column is zero.
///
/// # Panics
/// If `perplexity` is not a positive finite number or `theta` is negative or NaN.
pub fn bh_tsne(x: ArrayView2<f32>, opt: &TsneOptions) -> Array2<f32> {
    assert!(opt.perplexity.is_finite() && opt.perplexity > 0.0, "perplexity must be positive and finite, got {}", opt.perplexity);
    assert!(opt.theta >= 0.0, "theta must be ≥ 0, got {}", opt.theta);
    let n = x.nrows();
    if x.rows().into_iter().all(|r| r == x.row(0)) {
        return Array2::zeros((n, 2));
    }
    let x = centred(x);
    if n < 4 {
        return to_array(&pca_2d(x.view(), opt.seed));
    }
    let mut y0 = pca_2d(x.view(), opt.seed);
    let std = column_std(&y0, 0);
    let scale = if std > 0.0 { INIT_STD / std } else { 0.0 };
    for yi in &mut y0 {
        yi[0] *= scale;
        yi[1] *= scale;
    }
    // Work on the points in the tree order of the initial map: neighbours in P, close in the
    // map from the start, then lie close in memory as well.
    let mut tree = QuadTree::default();
    tree.build(&y0);
    let order: Vec<usize> = tree.order.iter().map(|&i| i as usize).collect();
    let x = x.select(Axis(0), &order);
    let mut y: Vec<[f64; 2]> = order.iter().map(|&i| y0[i]).collect();
    let perplexity = opt.perplexity.min((n - 1) as f64 / 3.0);
    let k = (n - 1).min((3.0 * perplexity) as usize + 1);
    let p = joint_probabilities(x.view(), perplexity, k);
    optimise(&mut y, &p, opt);
    let mut out = Array2::zeros((n, 2));
    for (&i, yi) in order.iter().zip(&y) {
        out[[i, 0]] = yi[0] as f32;
        out[[i, 1]] = yi[1] as f32;
    }
    out
}

fn column_std(y: &[[f64; 2]], c: usize) -> f64 {
    let n = y.len() as f64;
    let mean = y.iter().map(|p| p[c]).sum::<f64>() / n;
    (y.iter().map(|p| (p[c] - mean).powi(2)).sum::<f64>() / n).sqrt()
}

fn to_array(y: &[[f64; 2]]) -> Array2<f32> {
    Array2::from_shape_fn((y.len(), 2), |(i, c)| y[i][c] as f32)
}

/// Symmetric joint probabilities in compressed sparse rows.
struct Csr {
    indptr: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f64>,
}

/// sklearn's `_joint_probabilities_nn`: Gaussian conditionals over the k nearest neighbours,
/// calibrated to the perplexity, then P = (P + Pᵀ) / sum.
fn joint_probabilities(x: ArrayView2<f32>, perplexity: f64, k: usize) -> Csr {
    let (neighbours, sq_dists) = nearest_neighbours(x, k);
    let mut conditional = vec![0.0; sq_dists.len()];
    conditional.par_chunks_mut(k).zip(sq_dists.par_chunks(k)).for_each(|(p, d)| conditional_row(d, perplexity, p));
    symmetrise(x.nrows(), k, &neighbours, &conditional)
}

/// Candidate neighbour: ordered by distance, ties to the lower index.
#[derive(Clone, Copy, PartialEq)]
struct Candidate {
    d: f64,
    j: u32,
}

impl Eq for Candidate {}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.d.total_cmp(&other.d).then(self.j.cmp(&other.j))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The `k` smallest candidates, ascending; the same whatever the order they come in.
fn k_smallest(candidates: impl Iterator<Item = Candidate>, k: usize) -> Vec<Candidate> {
    let mut heap = BinaryHeap::with_capacity(k + 1);
    for c in candidates {
        if heap.len() < k {
            heap.push(c);
        } else if let Some(mut worst) = heap.peek_mut()
            && c < *worst
        {
            *worst = c;
        }
    }
    heap.into_sorted_vec()
}

/// Rows per block so that a block of squared distances to all N points stays near
/// `DISTANCE_BLOCK_ELEMENTS`.
fn block_rows(n: usize) -> usize {
    (DISTANCE_BLOCK_ELEMENTS / n.max(1)).clamp(1, 256)
}

/// Exact k nearest neighbours of every row (self excluded), as flat N×k arrays of indices and
/// squared distances, each row sorted by distance. The candidates are the project's blocked
/// k-NN ([`knn`], f32 matrix products); the chosen ones are measured again in f64, since the
/// product form loses digits for close pairs.
fn nearest_neighbours(x: ArrayView2<f32>, k: usize) -> (Vec<u32>, Vec<f64>) {
    let row = |i: usize| x.row(i).to_slice().expect("rows in standard layout");
    let (found, _) = knn(x, k);
    let rows: Vec<Vec<Candidate>> = found
        .par_iter()
        .enumerate()
        .map(|(i, js)| {
            let mut exact: Vec<Candidate> = js.iter().map(|&j| Candidate { d: squared_distance(row(i), row(j)), j: j as u32 }).collect();
            exact.sort_unstable();
            exact
        })
        .collect();
    rows.into_iter().flatten().map(|c| (c.j, c.d)).unzip()
}

fn squared_distance(a: &[f32], b: &[f32]) -> f64 {
    // Four running sums, since one would wait on each addition in turn.
    let mut sums = [0.0f64; 4];
    let (a4, b4) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail = a4.remainder().iter().zip(b4.remainder());
    for (a, b) in a4.zip(b4) {
        for l in 0..4 {
            sums[l] += (f64::from(a[l]) - f64::from(b[l])).powi(2);
        }
    }
    for (&a, &b) in tail {
        sums[0] += (f64::from(a) - f64::from(b)).powi(2);
    }
    sums.iter().sum()
}

/// sklearn's `_binary_search_perplexity` for one row: the Gaussian precision β whose
/// conditional distribution over the neighbours (squared distances `d`, ascending) has
/// entropy ln(perplexity). Distances are taken relative to the nearest, which leaves P
/// unchanged but keeps exp() from underflowing to an all-zero row.
fn conditional_row(d: &[f64], perplexity: f64, p: &mut [f64]) {
    let target = perplexity.ln();
    let d0 = d[0];
    let (mut beta, mut beta_min, mut beta_max) = (1.0f64, f64::NEG_INFINITY, f64::INFINITY);
    let mut sum = 1.0;
    for _ in 0..PERPLEXITY_STEPS {
        sum = 0.0;
        let mut weighted = 0.0;
        for (pj, &dj) in p.iter_mut().zip(d) {
            *pj = (-(dj - d0) * beta).exp();
            sum += *pj;
            weighted += (dj - d0) * *pj;
        }
        let entropy = sum.ln() + beta * weighted / sum;
        let excess = entropy - target;
        if excess.abs() <= PERPLEXITY_TOLERANCE {
            break;
        }
        if excess > 0.0 {
            beta_min = beta;
            beta = if beta_max.is_infinite() { beta * 2.0 } else { (beta + beta_max) / 2.0 };
        } else {
            beta_max = beta;
            beta = if beta_min.is_infinite() { beta / 2.0 } else { (beta + beta_min) / 2.0 };
        }
    }
    for pj in p {
        *pj /= sum;
    }
}

/// (P + Pᵀ) / sum(P + Pᵀ) for the row-wise k-neighbour conditionals `p`.
fn symmetrise(n: usize, k: usize, neighbours: &[u32], p: &[f64]) -> Csr {
    // Pᵀ in CSR.
    let mut t_ptr = vec![0usize; n + 1];
    for &j in neighbours {
        t_ptr[j as usize + 1] += 1;
    }
    for i in 0..n {
        t_ptr[i + 1] += t_ptr[i];
    }
    let mut fill = t_ptr.clone();
    let mut t_cols = vec![0u32; neighbours.len()];
    let mut t_vals = vec![0.0; neighbours.len()];
    for (e, (&j, &v)) in neighbours.iter().zip(p).enumerate() {
        let slot = &mut fill[j as usize];
        t_cols[*slot] = (e / k) as u32;
        t_vals[*slot] = v;
        *slot += 1;
    }

    let mut indptr = Vec::with_capacity(n + 1);
    let mut indices = Vec::with_capacity(2 * neighbours.len());
    let mut values = Vec::with_capacity(2 * neighbours.len());
    indptr.push(0);
    let mut row: Vec<(u32, f64)> = Vec::new();
    for i in 0..n {
        row.clear();
        row.extend(neighbours[i * k..(i + 1) * k].iter().copied().zip(p[i * k..(i + 1) * k].iter().copied()));
        row.extend((t_ptr[i]..t_ptr[i + 1]).map(|e| (t_cols[e], t_vals[e])));
        // Stable, so pᵢⱼ + pⱼᵢ always adds in the same order.
        row.sort_by_key(|e| e.0);
        for &(j, v) in &row {
            if indices.len() > indptr[i] && indices.last() == Some(&j) {
                *values.last_mut().expect("an entry was pushed") += v;
            } else {
                indices.push(j);
                values.push(v);
            }
        }
        indptr.push(indices.len());
    }
    let total: f64 = values.iter().sum();
    let total = total.max(f64::EPSILON);
    for v in &mut values {
        *v /= total;
    }
    Csr { indptr, indices, values }
}

/// sklearn's `_gradient_descent` on the KL divergence, in its two phases (early exaggeration
/// with momentum 0.5, then momentum 0.8), each starting with fresh updates and gains as
/// sklearn's restart of the optimiser does. sklearn's early stops (no lower KL divergence for
/// 300 iterations, gradient norm below 1e-7) are left out: every run takes all `iterations`.
fn optimise(y: &mut [[f64; 2]], p: &Csr, opt: &TsneOptions) {
    let n = y.len();
    let learning_rate = (n as f64 / EARLY_EXAGGERATION / 4.0).max(50.0);
    let mut workspace = Gradient::default();
    let mut grad = vec![[0.0; 2]; n];
    let mut update = vec![[0.0f64; 2]; n];
    let mut gains = vec![[1.0f64; 2]; n];
    for it in 0..opt.iterations {
        if it == EXAGGERATION_ITERATIONS {
            update.fill([0.0; 2]);
            gains.fill([1.0; 2]);
        }
        let (exaggeration, momentum) =
            if it < EXAGGERATION_ITERATIONS { (EARLY_EXAGGERATION, EARLY_MOMENTUM) } else { (1.0, LATE_MOMENTUM) };
        workspace.compute(y, p, exaggeration, opt.theta, &mut grad);
        for (((yi, g), u), gain) in y.iter_mut().zip(&grad).zip(&mut update).zip(&mut gains) {
            for a in 0..2 {
                gain[a] = if u[a] * g[a] < 0.0 { gain[a] + 0.2 } else { gain[a] * 0.8 }.max(MIN_GAIN);
                u[a] = momentum * u[a] - learning_rate * gain[a] * g[a];
                yi[a] += u[a];
            }
        }
    }
}

/// Buffers of the gradient, kept across iterations so that the loop does not allocate.
#[derive(Default)]
struct Gradient {
    tree: QuadTree,
    attraction: Vec<[f64; 2]>,
    /// Per group of `GROUP_SIZE` consecutive points of the tree order, per point: repulsive
    /// force times Z, and the point's share of Z.
    repulsion: Vec<[[f64; 3]; GROUP_SIZE]>,
}

impl Gradient {
    /// KL gradient 4·(exaggeration·Σⱼ pᵢⱼ qᵢⱼZ (yᵢ − yⱼ) − Σⱼ (qᵢⱼZ)² (yᵢ − yⱼ) / Z).
    fn compute(&mut self, y: &[[f64; 2]], p: &Csr, exaggeration: f64, theta: f64, grad: &mut [[f64; 2]]) {
        let Self { tree, attraction, repulsion } = self;
        attraction.resize(y.len(), [0.0; 2]);
        // The tree build is serial; the attraction keeps the other threads busy meanwhile.
        rayon::join(|| tree.build(y), || attract(y, p, attraction));
        let theta2 = theta * theta;
        (0..y.len().div_ceil(GROUP_SIZE))
            .into_par_iter()
            .map_init(Bodies::default, |bodies, g| {
                let group = g * GROUP_SIZE..((g + 1) * GROUP_SIZE).min(y.len());
                tree.group_repulsion(y, group, theta2, bodies)
            })
            .collect_into_vec(repulsion);
        // The zip drops the unused lanes of the last group, the only one that is not full.
        let per_point = || repulsion.iter().flatten().zip(&tree.order);
        let z: f64 = per_point().map(|(r, _)| r[2]).sum();
        for (r, &i) in per_point() {
            let a = attraction[i as usize];
            grad[i as usize] = [4.0 * (exaggeration * a[0] - r[0] / z), 4.0 * (exaggeration * a[1] - r[1] / z)];
        }
    }
}

fn attract(y: &[[f64; 2]], p: &Csr, out: &mut [[f64; 2]]) {
    out.par_iter_mut().enumerate().with_min_len(256).for_each(|(i, f)| {
        let yi = y[i];
        let mut acc = [0.0; 2];
        for e in p.indptr[i]..p.indptr[i + 1] {
            let yj = y[p.indices[e] as usize];
            let (dx, dy) = (yi[0] - yj[0], yi[1] - yj[1]);
            let w = p.values[e] / (1.0 + dx * dx + dy * dy);
            acc[0] += w * dx;
            acc[1] += w * dy;
        }
        *f = acc;
    });
}

/// Points that share one walk of the tree. They are consecutive in the tree order, hence
/// close together, and the force loop runs over them as SIMD lanes.
const GROUP_SIZE: usize = 16;
/// Bodies summed in f32 before the partial sums go into f64.
const F32_BLOCK: usize = 256;

/// Quadtree in flat arrays, nodes in depth-first pre-order so that skipping a subtree is a
/// jump to `next` and opening a node is a step to the following node. The points of every
/// subtree are contiguous in `order`, so runs of `order` are compact groups of points.
#[derive(Default)]
struct QuadTree {
    nodes: Vec<Node>,
    order: Vec<u32>,
    /// (Morton code, point) sorted, the tree order.
    codes: Vec<(u64, u32)>,
}

#[derive(Clone, Copy)]
struct Node {
    centre_of_mass: [f64; 2],
    /// Square of the cell's larger side.
    width2: f64,
    /// Points of the subtree: `order[start..start + count]`.
    start: u32,
    count: u32,
    /// Index of the first node after this subtree; `next == index + 1` marks a leaf.
    next: u32,
}

/// Bodies that act on a group, relative to the group's centre so that f32 keeps the digits
/// of the near ones.
#[derive(Default)]
struct Bodies {
    x: Vec<f32>,
    y: Vec<f32>,
    mass: Vec<f32>,
}

impl QuadTree {
    /// Sorts the points by Morton code on a 2³² × 2³² grid over their bounding box, which
    /// lists every quadtree cell's points contiguously in depth-first order, then builds the
    /// nodes over that order.
    fn build(&mut self, y: &[[f64; 2]]) {
        self.nodes.clear();
        self.order.clear();
        if y.is_empty() {
            return;
        }
        let (lo, hi) = bounding_box(y.iter().copied());
        let cells = |a: usize| {
            if hi[a] > lo[a] { GRID / (hi[a] - lo[a]) } else { 0.0 }
        };
        let scale = [cells(0), cells(1)];
        let grid = |p: [f64; 2], a: usize| ((p[a] - lo[a]) * scale[a]).min(GRID - 1.0) as u32;
        self.codes.clear();
        self.codes.extend(y.iter().enumerate().map(|(i, &p)| (interleave(grid(p, 0), grid(p, 1)), i as u32)));
        self.codes.sort_unstable();
        self.order.extend(self.codes.iter().map(|&(_, i)| i));
        let width2 = [(hi[0] - lo[0]).powi(2), (hi[1] - lo[1]).powi(2)];
        self.subdivide(y, 0, y.len(), width2, 0);
    }

    /// Adds the node of the cell at `depth` holding `order[start..end]` and, below it, its
    /// subtree. `width2` are the squared sides of the cell.
    fn subdivide(&mut self, y: &[[f64; 2]], start: usize, end: usize, width2: [f64; 2], depth: usize) -> usize {
        let me = self.nodes.len();
        self.nodes.push(Node {
            centre_of_mass: [0.0; 2],
            width2: width2[0].max(width2[1]),
            start: start as u32,
            count: (end - start) as u32,
            next: 0,
        });
        let mut com = [0.0; 2];
        if end - start == 1 || depth == MAX_TREE_DEPTH {
            for &i in &self.order[start..end] {
                com[0] += y[i as usize][0];
                com[1] += y[i as usize][1];
            }
        } else {
            let shift = 2 * (MAX_TREE_DEPTH - 1 - depth);
            let quadrant = |c: u64| (c >> shift) & 3;
            let child_width2 = [width2[0] / 4.0, width2[1] / 4.0];
            let mut s = start;
            while s < end {
                let q = quadrant(self.codes[s].0);
                let e = s + self.codes[s..end].partition_point(|&(c, _)| quadrant(c) == q);
                let child = self.subdivide(y, s, e, child_width2, depth + 1);
                let c = &self.nodes[child];
                com[0] += c.centre_of_mass[0] * c.count as f64;
                com[1] += c.centre_of_mass[1] * c.count as f64;
                s = e;
            }
        }
        let count = (end - start) as f64;
        let next = self.nodes.len() as u32;
        let node = &mut self.nodes[me];
        node.centre_of_mass = [com[0] / count, com[1] / count];
        node.next = next;
        me
    }

    /// Repulsion on each point of `group` (a range of `order`), times Z, and its share of Z:
    /// Σⱼ (qᵢⱼZ)²(yᵢ − yⱼ) and Σⱼ qᵢⱼZ over j ≠ i. One walk serves the whole group: a cell is
    /// taken as one body when it is narrower than θ times its distance to the group's
    /// bounding box, hence to every point of the group (at least as accurate as the per-point
    /// test), and holds none of the group's points.
    fn group_repulsion(&self, y: &[[f64; 2]], group: std::ops::Range<usize>, theta2: f64, bodies: &mut Bodies) -> [[f64; 3]; GROUP_SIZE] {
        let points = &self.order[group.clone()];
        let (lo, hi) = bounding_box(points.iter().map(|&i| y[i as usize]));
        let centre = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
        let relative = |p: [f64; 2]| [(p[0] - centre[0]) as f32, (p[1] - centre[1]) as f32];
        bodies.x.clear();
        bodies.y.clear();
        bodies.mass.clear();
        let mut idx = 0;
        while idx < self.nodes.len() {
            let node = &self.nodes[idx];
            let leaf = node.next as usize == idx + 1;
            let c = node.centre_of_mass;
            let gap = |a: usize| (lo[a] - c[a]).max(c[a] - hi[a]).max(0.0);
            let (gx, gy) = (gap(0), gap(1));
            let far = node.width2 < theta2 * (gx * gx + gy * gy);
            let foreign = node.start as usize >= group.end || (node.start + node.count) as usize <= group.start;
            if leaf || (far && foreign) {
                let [bx, by] = relative(c);
                bodies.x.push(bx);
                bodies.y.push(by);
                bodies.mass.push(node.count as f32);
                idx = node.next as usize;
            } else {
                idx += 1;
            }
        }

        // Lanes past the group's end compute on a dummy point and are dropped.
        let (mut px, mut py) = ([0.0f32; GROUP_SIZE], [0.0f32; GROUP_SIZE]);
        for (l, &i) in points.iter().enumerate() {
            [px[l], py[l]] = relative(y[i as usize]);
        }
        let mut sums = [[0.0f64; 3]; GROUP_SIZE];
        let blocks = bodies.x.chunks(F32_BLOCK).zip(bodies.y.chunks(F32_BLOCK)).zip(bodies.mass.chunks(F32_BLOCK));
        for ((bx, by), bm) in blocks {
            let (mut fx, mut fy, mut z) = ([0.0f32; GROUP_SIZE], [0.0f32; GROUP_SIZE], [0.0f32; GROUP_SIZE]);
            for ((&bx, &by), &bm) in bx.iter().zip(by).zip(bm) {
                for l in 0..GROUP_SIZE {
                    let (dx, dy) = (px[l] - bx, py[l] - by);
                    let q = 1.0 / (1.0 + dx * dx + dy * dy);
                    let w = bm * q;
                    z[l] += w;
                    fx[l] += w * q * dx;
                    fy[l] += w * q * dy;
                }
            }
            for l in 0..GROUP_SIZE {
                sums[l][0] += f64::from(fx[l]);
                sums[l][1] += f64::from(fy[l]);
                sums[l][2] += f64::from(z[l]);
            }
        }
        // Each point's own leaf is among the bodies, at distance 0: it added exactly 1 to Z.
        for s in &mut sums {
            s[2] -= 1.0;
        }
        sums
    }
}

fn bounding_box(points: impl Iterator<Item = [f64; 2]>) -> ([f64; 2], [f64; 2]) {
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for p in points {
        for a in 0..2 {
            lo[a] = lo[a].min(p[a]);
            hi[a] = hi[a].max(p[a]);
        }
    }
    (lo, hi)
}

/// Morton code: the bits of `x` and `y` interleaved, x's first.
fn interleave(x: u32, y: u32) -> u64 {
    let spread = |v: u32| {
        let mut v = u64::from(v);
        v = (v | v << 16) & 0x0000_ffff_0000_ffff;
        v = (v | v << 8) & 0x00ff_00ff_00ff_00ff;
        v = (v | v << 4) & 0x0f0f_0f0f_0f0f_0f0f;
        v = (v | v << 2) & 0x3333_3333_3333_3333;
        (v | v << 1) & 0x5555_5555_5555_5555
    };
    spread(x) << 1 | spread(y)
}

/// sklearn's `trustworthiness(x, y, n_neighbors=k)` with Euclidean distances: 1 minus a
/// normalised sum, over each point's k nearest neighbours in `y`, of how far beyond k they
/// rank among its neighbours in `x`. Ties rank by index (sklearn's order among ties is
/// arbitrary). O(N²·(D + k)) time, O(N) memory per block of rows.
///
/// None unless `y` has a row per row of `x` and 1 ≤ k < N/2 (where sklearn raises).
pub fn trustworthiness(x: ArrayView2<f32>, y: ArrayView2<f32>, k: usize) -> Option<f64> {
    let n = x.nrows();
    if n != y.nrows() || k == 0 || 2 * k >= n {
        return None;
    }
    let (x, y) = (centred(x).mapv(f64::from), centred(y).mapv(f64::from));
    let (x_sq, y_sq) = (row_norms(&x), row_norms(&y));
    let block = block_rows(n);
    let penalty: u64 = (0..n.div_ceil(block))
        .into_par_iter()
        .map(|b| {
            let rows = b * block..((b + 1) * block).min(n);
            let dx = block_sq_dists(&x, &x_sq, rows.clone());
            let dy = block_sq_dists(&y, &y_sq, rows.clone());
            let mut penalty = 0;
            for (r, i) in rows.enumerate() {
                let (dx, dy) = (dx.row(r), dy.row(r));
                let others = (0..n).filter(|&j| j != i).map(|j| Candidate { d: dy[j], j: j as u32 });
                for c in k_smallest(others, k) {
                    let key = Candidate { d: dx[c.j as usize], j: c.j };
                    let closer = dx.iter().enumerate().filter(|&(l, &d)| l != i && Candidate { d, j: l as u32 } < key).count();
                    penalty += (closer + 1).saturating_sub(k) as u64;
                }
            }
            penalty
        })
        .sum();
    let (n, k) = (n as f64, k as f64);
    Some(1.0 - penalty as f64 * 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0)))
}

fn row_norms(x: &Array2<f64>) -> Vec<f64> {
    x.rows().into_iter().map(|r| r.dot(&r)).collect()
}

fn block_sq_dists(x: &Array2<f64>, sq: &[f64], rows: std::ops::Range<usize>) -> Array2<f64> {
    let mut d = x.slice(s![rows.clone(), ..]).dot(&x.t());
    for (mut row, i) in d.axis_iter_mut(Axis(0)).zip(rows) {
        for (v, &sj) in row.iter_mut().zip(sq) {
            *v = sq[i] + sj - 2.0 * *v;
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::synthetic::gaussian;

    fn random(n: usize, d: usize, seed: u64) -> Array2<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        Array2::from_shape_fn((n, d), |_| gaussian(&mut rng))
    }

    fn blobs(n: usize, d: usize, centres: usize, seed: u64) -> Array2<f32> {
        crate::synthetic::blobs(n, d, centres, 1.0, seed).0
    }

    fn dense_p(p: &Csr) -> Vec<Vec<f64>> {
        let n = p.indptr.len() - 1;
        let mut dense = vec![vec![0.0; n]; n];
        for (i, row) in dense.iter_mut().enumerate() {
            for e in p.indptr[i]..p.indptr[i + 1] {
                row[p.indices[e] as usize] = p.values[e];
            }
        }
        dense
    }

    fn exact_gradient(y: &[[f64; 2]], p: &Csr) -> Vec<[f64; 2]> {
        let n = y.len();
        let dense = dense_p(p);
        let w = |i: usize, j: usize| 1.0 / (1.0 + (y[i][0] - y[j][0]).powi(2) + (y[i][1] - y[j][1]).powi(2));
        let z: f64 = (0..n).flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j))).map(|(i, j)| w(i, j)).sum();
        (0..n)
            .map(|i| {
                let mut g = [0.0; 2];
                for j in (0..n).filter(|&j| j != i) {
                    let m = 4.0 * (dense[i][j] - w(i, j) / z) * w(i, j);
                    g[0] += m * (y[i][0] - y[j][0]);
                    g[1] += m * (y[i][1] - y[j][1]);
                }
                g
            })
            .collect()
    }

    #[test]
    fn exact_barnes_hut_gradient_matches_the_dense_one() {
        let x = centred(random(50, 5, 1).view());
        let p = joint_probabilities(x.view(), 10.0, 31);
        let dense = dense_p(&p);
        assert!((dense.iter().flatten().sum::<f64>() - 1.0).abs() < 1e-12);
        for (i, row) in dense.iter().enumerate() {
            assert_eq!(row[i], 0.0);
            assert!(row.iter().enumerate().all(|(j, &v)| v == dense[j][i]));
        }
        let y: Vec<[f64; 2]> = random(50, 2, 2).rows().into_iter().map(|r| [f64::from(r[0]), f64::from(r[1])]).collect();
        let mut grad = vec![[0.0; 2]; 50];
        Gradient::default().compute(&y, &p, 1.0, 0.0, &mut grad);
        let exact = exact_gradient(&y, &p);
        let scale = exact.iter().flatten().fold(0.0f64, |m, g| m.max(g.abs()));
        for (a, b) in grad.iter().flatten().zip(exact.iter().flatten()) {
            assert!((a - b).abs() <= 1e-6 * scale, "{a} vs {b}");
        }
        // θ = 0.5 stays close to the exact gradient.
        Gradient::default().compute(&y, &p, 1.0, 0.5, &mut grad);
        let err = grad.iter().flatten().zip(exact.iter().flatten()).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(err < 0.05 * scale, "θ = 0.5 error {err} against scale {scale}");
    }

    #[test]
    fn perplexity_calibration_hits_its_entropy() {
        let d: Vec<f64> = (0..91).map(|j| 50.0 + j as f64 * 0.7).collect();
        let mut p = vec![0.0; 91];
        conditional_row(&d, 30.0, &mut p);
        let entropy: f64 = -p.iter().filter(|&&v| v > 0.0).map(|v| v * v.ln()).sum::<f64>();
        assert!((entropy - 30f64.ln()).abs() < 1e-4, "entropy {entropy}");
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    fn dense_trustworthiness(x: ArrayView2<f32>, y: ArrayView2<f32>, k: usize) -> f64 {
        let n = x.nrows();
        let dist = |m: ArrayView2<f32>| -> Vec<Vec<f64>> {
            (0..n)
                .map(|i| {
                    (0..n)
                        .map(|j| {
                            if i == j {
                                f64::INFINITY
                            } else {
                                squared_distance(m.row(i).to_slice().unwrap(), m.row(j).to_slice().unwrap())
                            }
                        })
                        .collect()
                })
                .collect()
        };
        let (dx, dy) = (dist(x), dist(y));
        let mut t = 0.0;
        for i in 0..n {
            let mut by_x: Vec<usize> = (0..n).collect();
            by_x.sort_by(|&a, &b| dx[i][a].total_cmp(&dx[i][b]).then(a.cmp(&b)));
            let mut rank = vec![0usize; n];
            for (r, &j) in by_x.iter().enumerate() {
                rank[j] = r + 1;
            }
            let mut by_y: Vec<usize> = (0..n).collect();
            by_y.sort_by(|&a, &b| dy[i][a].total_cmp(&dy[i][b]).then(a.cmp(&b)));
            for &j in &by_y[..k] {
                t += rank[j].saturating_sub(k) as f64;
            }
        }
        let (n, k) = (n as f64, k as f64);
        1.0 - t * 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0))
    }

    #[test]
    fn trustworthiness_matches_the_dense_definition() {
        let x = random(120, 7, 3);
        let y = random(120, 2, 4);
        let y_near = &x.slice(s![.., ..2]) + &(random(120, 2, 5) * 0.3);
        for k in [1, 5, 10, 59] {
            for y in [y.view(), y_near.view()] {
                let (fast, dense) = (trustworthiness(x.view(), y, k).expect("valid k"), dense_trustworthiness(x.view(), y, k));
                assert!((fast - dense).abs() < 1e-12, "k = {k}: {fast} vs {dense}");
            }
        }
        assert_eq!(trustworthiness(x.view(), x.view(), 10), Some(1.0));
    }

    #[test]
    fn blobs_stay_apart_and_trustworthy() {
        let x = blobs(300, 32, 10, 7);
        let y = bh_tsne(x.view(), &TsneOptions::default());
        let same_blob = (0..300)
            .filter(|&i| {
                let nearest = (0..300)
                    .filter(|&j| j != i)
                    .min_by(|&a, &b| {
                        let d = |j: usize| (y[[i, 0]] - y[[j, 0]]).powi(2) + (y[[i, 1]] - y[[j, 1]]).powi(2);
                        d(a).total_cmp(&d(b))
                    })
                    .unwrap();
                nearest % 10 == i % 10
            })
            .count();
        let t = trustworthiness(x.view(), y.view(), 10).expect("valid k");
        assert!(same_blob >= 285, "{same_blob}/300 nearest neighbours in the same blob (trustworthiness {t:.4})");
        assert!(t > 0.9, "trustworthiness {t} ({same_blob}/300 nearest neighbours in the same blob)");
    }

    #[test]
    fn same_seed_same_map_on_any_thread_count() {
        let x = blobs(400, 16, 5, 11);
        let opt = TsneOptions { seed: 3, ..TsneOptions::default() };
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| bh_tsne(x.view(), &opt))
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(3));
        assert_eq!(one, bh_tsne(x.view(), &opt));
    }

    #[test]
    fn degenerate_inputs_give_finite_maps() {
        let opt = TsneOptions { iterations: 300, ..TsneOptions::default() };
        for n in 0..=5 {
            let y = bh_tsne(random(n, 3, n as u64).view(), &opt);
            assert_eq!(y.dim(), (n, 2));
            assert!(y.iter().all(|v| v.is_finite()), "N = {n}: {y:?}");
        }
        // Up to three points the map is an exact isometry.
        let x = random(3, 6, 9);
        let y = bh_tsne(x.view(), &opt);
        for (i, j) in [(0, 1), (0, 2), (1, 2)] {
            let (dx, dy) = (
                squared_distance(x.row(i).to_slice().unwrap(), x.row(j).to_slice().unwrap()),
                squared_distance(y.row(i).to_slice().unwrap(), y.row(j).to_slice().unwrap()),
            );
            assert!((dx - dy).abs() < 1e-4 * dx, "{dx} vs {dy}");
        }
        let same = Array2::from_elem((20, 4), 1.5f32);
        assert_eq!(bh_tsne(same.view(), &opt), Array2::<f32>::zeros((20, 2)));

        let mut half = random(40, 4, 12);
        for i in 20..40 {
            let first = half.row(0).to_owned();
            half.row_mut(i).assign(&first);
        }
        let y = bh_tsne(half.view(), &opt);
        assert!(y.iter().all(|v| v.is_finite()));

        let line = random(60, 1, 13);
        let y = bh_tsne(line.view(), &opt);
        assert!(y.iter().all(|v| v.is_finite()));
        assert!(y.column(0).iter().any(|&v| v != 0.0));
        assert!(y.column(1).iter().all(|&v| v == 0.0));
    }

    #[test]
    fn trustworthiness_matches_sklearn() {
        // sklearn 1.9.1: trustworthiness(x, y, n_neighbors=3) and (x, x[:, :2], 2).
        let x = ndarray::Array2::from_shape_fn((12, 3), |(i, c)| {
            let i = i as f32;
            [i.sin(), (1.7 * i).cos(), i / 5.0][c]
        });
        let y = ndarray::Array2::from_shape_fn((12, 2), |(i, c)| {
            let i = i as f32;
            [(0.9 * i).cos(), (2.3 * i).sin()][c]
        });
        assert!((trustworthiness(x.view(), y.view(), 3).expect("valid k") - 0.6031746031746033).abs() < 1e-9);
        let first_two = x.slice(ndarray::s![.., ..2]);
        assert!((trustworthiness(x.view(), first_two, 2).expect("valid k") - 0.9117647058823529).abs() < 1e-9);
        assert_eq!(trustworthiness(x.view(), x.view(), 3), Some(1.0));
        assert_eq!(trustworthiness(x.view(), y.view(), 6), None, "k must stay below N/2");
    }
}
