//! The linear algebra the projections share: one PCA (sklearn's randomized solver), one
//! orthonormalisation, one small symmetric eigen-solver. t-SNE starts from the first two
//! principal coordinates and runs wide inputs on the top 50, UMAP starts from the first two.
use ndarray::{Array2, ArrayView2};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Extra random directions of the range finder, as sklearn's randomized PCA.
const OVERSAMPLING: usize = 10;

/// Power iterations, as sklearn's randomized PCA: enough for the leading directions to
/// converge when the spectrum decays slowly (images, embeddings).
pub const POWER_ITERATIONS: usize = 7;

/// `x` minus its column means (in f64), in standard layout.
pub fn centred(x: ArrayView2<f32>) -> Array2<f32> {
    let n = x.nrows().max(1) as f64;
    let mean: Vec<f64> = x.columns().into_iter().map(|c| c.iter().map(|&v| f64::from(v)).sum::<f64>() / n).collect();
    let mut out = x.as_standard_layout().into_owned();
    for mut row in out.rows_mut() {
        for (v, m) in row.iter_mut().zip(&mean) {
            *v = (f64::from(*v) - m) as f32;
        }
    }
    out
}

/// The first `k` principal coordinates of the rows of `x` (N×k, largest variance first):
/// randomized subspace iteration with Rayleigh–Ritz, as sklearn's
/// `PCA(svd_solver="randomized")`. Each component's sign makes its largest loading
/// positive (sklearn's `svd_flip`), so the seed barely matters. Columns past the rank of
/// `x` are zero. Distances between rows are kept exactly within the subspace.
pub fn pca(x: ArrayView2<f32>, k: usize, power_iterations: usize, seed: u64) -> Array2<f64> {
    let x = centred(x);
    let (n, d) = x.dim();
    let mut y = Array2::zeros((n, k));
    let l = (k + OVERSAMPLING).min(d).min(n);
    if l == 0 {
        return y;
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut q = Array2::from_shape_fn((d, l), |_| rng.random::<f32>() - 0.5);
    orthonormalise(&mut q);
    for _ in 0..power_iterations {
        q = x.t().dot(&x.dot(&q));
        orthonormalise(&mut q);
    }
    let xq = x.dot(&q).mapv(f64::from);
    let (eigenvalues, eigenvectors) = symmetric_eigen(xq.t().dot(&xq));
    let mut by_variance: Vec<usize> = (0..l).collect();
    by_variance.sort_by(|&a, &b| eigenvalues[b].total_cmp(&eigenvalues[a]));
    let q = q.mapv(f64::from);
    for (c, &e) in by_variance.iter().take(k).enumerate() {
        let w = eigenvectors.column(e);
        let largest = q.dot(&w).iter().copied().max_by(|a, b| a.abs().total_cmp(&b.abs()));
        let sign = if largest.unwrap_or(0.0) < 0.0 { -1.0 } else { 1.0 };
        y.column_mut(c).assign(&(xq.dot(&w) * sign));
    }
    y
}

/// Orthonormal columns by modified Gram–Schmidt, run twice for orthogonality to working
/// precision, in f64. A column that vanishes once the earlier ones are taken out of it
/// (rank-deficient data) is set to zero: what is left of it is rounding noise, and when
/// the earlier columns already span the space that noise lives in, normalising it gives a
/// vector that cannot be orthogonal to them (it broke distance preservation for data of
/// rank 30 in 1 024 dims; test `pca_keeps_distances_of_low_rank_wide_data`).
pub fn orthonormalise(q: &mut Array2<f32>) {
    /// What is left of a column, relative to its norm before: far above f64 rounding
    /// (1e-16), far below the f32 precision of a real direction (1e-7).
    const VANISHED: f64 = 1e-10;
    let mut cols: Vec<Vec<f64>> = q.columns().into_iter().map(|c| c.iter().map(|&v| f64::from(v)).collect()).collect();
    for _ in 0..2 {
        for c in 0..cols.len() {
            let (done, rest) = cols.split_at_mut(c);
            let col = &mut rest[0];
            let before = col.iter().map(|v| v * v).sum::<f64>().sqrt();
            for prev in done.iter() {
                let dot: f64 = prev.iter().zip(col.iter()).map(|(a, b)| a * b).sum();
                for (v, p) in col.iter_mut().zip(prev) {
                    *v -= dot * p;
                }
            }
            let norm = col.iter().map(|v| v * v).sum::<f64>().sqrt();
            let scale = if norm > VANISHED * before && norm.is_finite() { 1.0 / norm } else { 0.0 };
            col.iter_mut().for_each(|v| *v *= scale);
        }
    }
    for (mut dst, src) in q.columns_mut().into_iter().zip(&cols) {
        dst.iter_mut().zip(src).for_each(|(d, &s)| *d = s as f32);
    }
}

/// Eigenvalues and eigenvectors (as columns) of a small symmetric matrix, by cyclic Jacobi.
pub fn symmetric_eigen(mut a: Array2<f64>) -> (Vec<f64>, Array2<f64>) {
    let l = a.nrows();
    let mut v = Array2::eye(l);
    for _ in 0..64 {
        let off: f64 = (0..l).flat_map(|p| (p + 1..l).map(move |q| (p, q))).map(|(p, q)| a[[p, q]].powi(2)).sum();
        let total: f64 = a.iter().map(|x| x * x).sum();
        if off <= f64::EPSILON.powi(2) * total {
            break;
        }
        for p in 0..l {
            for q in p + 1..l {
                if a[[p, q]] == 0.0 {
                    continue;
                }
                let theta = (a[[q, q]] - a[[p, p]]) / (2.0 * a[[p, q]]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for m in [&mut a, &mut v] {
                    for k in 0..l {
                        let (mkp, mkq) = (m[[k, p]], m[[k, q]]);
                        m[[k, p]] = c * mkp - s * mkq;
                        m[[k, q]] = s * mkp + c * mkq;
                    }
                }
                for k in 0..l {
                    let (apk, aqk) = (a[[p, k]], a[[q, k]]);
                    a[[p, k]] = c * apk - s * aqk;
                    a[[q, k]] = s * apk + c * aqk;
                }
            }
        }
    }
    (a.diag().to_vec(), v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::gaussian;

    #[test]
    fn pca_finds_the_directions_of_largest_variance_in_order() {
        // Variances 100, 25, 4, 1, … along the axes, the axes then rotated: the first two
        // coordinates carry sd 10 and 5, and the rest is small.
        let mut rng = StdRng::seed_from_u64(1);
        let sd = [10.0f32, 5.0, 2.0, 1.0, 0.5, 0.5];
        let raw = Array2::from_shape_fn((2000, 6), |(_, j)| sd[j] * gaussian(&mut rng));
        let mut rot = Array2::from_shape_fn((6, 6), |_| rng.random::<f32>() - 0.5);
        orthonormalise(&mut rot);
        let x = raw.dot(&rot.t());
        let y = pca(x.view(), 3, POWER_ITERATIONS, 0);
        let col_sd = |c: usize| (y.column(c).mapv(|v| v * v).sum() / 2000.0).sqrt();
        assert!((col_sd(0) - 10.0).abs() < 0.5 && (col_sd(1) - 5.0).abs() < 0.3 && (col_sd(2) - 2.0).abs() < 0.15);
        // Principal coordinates are uncorrelated.
        assert!(y.column(0).dot(&y.column(1)).abs() / 2000.0 < 1e-3 * 50.0);
    }

    #[test]
    fn pca_keeps_distances_inside_the_subspace_and_pads_past_the_rank() {
        // Rank 3 data in 40 dims: 10 components hold all of it, 7 of them zero.
        let mut rng = StdRng::seed_from_u64(2);
        let basis = Array2::from_shape_fn((3, 40), |_| gaussian(&mut rng));
        let x = Array2::from_shape_fn((60, 3), |_| gaussian(&mut rng)).dot(&basis);
        let y = pca(x.view(), 10, 2, 5);
        assert_eq!(y.dim(), (60, 10));
        for (i, j) in [(0, 1), (5, 59), (17, 33)] {
            let dx = (&x.row(i) - &x.row(j)).mapv(|v| f64::from(v * v)).sum().sqrt();
            let dy = (&y.row(i) - &y.row(j)).mapv(|v| v * v).sum().sqrt();
            assert!((dx - dy).abs() < 1e-3 * dx.max(1.0), "{dx} vs {dy}");
        }
        assert!(y.slice(ndarray::s![.., 3..]).iter().all(|v| v.abs() < 1e-3));
        assert_eq!(pca(x.slice(ndarray::s![..0, ..]), 2, 2, 0).dim(), (0, 2));
    }

    #[test]
    fn pca_keeps_distances_of_low_rank_wide_data() {
        // Rank 30 in 1 024 dims, the other coordinates exactly zero, 60 directions sought:
        // the 30 surplus ones must not come out as non-orthogonal noise.
        let (x30, _) = crate::synthetic::blobs(200, 30, 4, 1.0, 3);
        let mut x = Array2::<f32>::zeros((200, 1024));
        x.slice_mut(ndarray::s![.., ..30]).assign(&x30);
        let y = pca(x.view(), 50, 2, 0);
        for (i, j) in [(0, 1), (0, 199), (57, 130)] {
            let dx = (&x.row(i) - &x.row(j)).mapv(|v| f64::from(v * v)).sum().sqrt();
            let dy = (&y.row(i) - &y.row(j)).mapv(|v| v * v).sum().sqrt();
            assert!((dx - dy).abs() < 1e-3 * dx, "{dx} vs {dy}");
        }
    }

    #[test]
    fn orthonormalise_gives_orthonormal_columns_and_zeroes_dependent_ones() {
        let mut q = ndarray::array![[1.0f32, 2.0, 0.0], [1.0, 2.0, 1.0], [0.0, 0.0, 1.0]];
        orthonormalise(&mut q);
        let g = q.t().dot(&q);
        assert!((g[[0, 0]] - 1.0).abs() < 1e-6 && (g[[2, 2]] - 1.0).abs() < 1e-6 && g[[0, 2]].abs() < 1e-6);
        // The second column was twice the first: nothing left of it.
        assert!(q.column(1).iter().all(|&v| v == 0.0));
    }

    #[test]
    fn symmetric_eigen_reconstructs_the_matrix() {
        let a = ndarray::array![[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 1.0]];
        let (values, vectors) = symmetric_eigen(a.clone());
        let back = vectors.dot(&Array2::from_diag(&ndarray::Array1::from(values))).dot(&vectors.t());
        assert!(back.iter().zip(a.iter()).all(|(x, y)| (x - y).abs() < 1e-9));
    }
}
