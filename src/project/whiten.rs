//! PCA whitening of embeddings (`infer --whiten`): fitted by `calibrate` on the held-out
//! training people's L2-normalised vectors and stored in the checkpoint's calibration,
//! applied to a folder's vectors before they are normalised again and clustered.
//!
//! Off by default because it hurt: on identity-v5's vectors, whitening fitted on its 200
//! held-out people (2 482 images) took LFW 1-NN from 0.815 to 0.713 in full, 0.756 with a
//! shrinkage of 0.1 and 0.794 with 1.0, and k-means ARI from 0.435 to 0.288 / 0.332 /
//! 0.382; fitted on the 16 421 trained-on `celeba_more_identities` images instead it was
//! no better (0.704 / 0.744 / 0.785). The CosFace vectors already spread identities over
//! the sphere; whitening raises the weak axes, where mostly one person's variation lives.
use ndarray::{Array2, ArrayView2, Axis};

use super::linalg::symmetric_eigen;
use crate::error::{Error, Result};
use crate::neighbors::l2_normalize;

/// The principal axes of L2-normalised held-out vectors: their mean, each axis's variance
/// (largest first) and the axes themselves (rows, unit length). Fitted and applied by
/// `project::whiten`.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct Whitening {
    pub mean: Vec<f32>,
    pub variances: Vec<f32>,
    pub axes: Vec<Vec<f32>>,
}

/// Each axis is divided by √(its variance + SHRINK × the mean variance), so weak axes
/// are raised less than in full whitening (SHRINK = 0); 1.0 hurt least of 0, 0.1 and 1.0.
pub const SHRINK: f32 = 1.0;

/// The principal axes of the rows of `x`, L2-normalised first (as every calibrated
/// distance is).
pub fn fit(x: ArrayView2<f32>) -> Result<Whitening> {
    let (n, d) = x.dim();
    if n < 2 || d == 0 {
        return Err(Error::Invalid(format!("whitening needs at least 2 vectors of at least 1 value, got {n} of {d}")));
    }
    let x = l2_normalize(x).mapv(f64::from);
    let mean = x.mean_axis(Axis(0)).expect("n ≥ 2 rows");
    let centred = &x - &mean;
    let covariance = centred.t().dot(&centred) / (n - 1) as f64;
    let (values, vectors) = symmetric_eigen(covariance);
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    Ok(Whitening {
        mean: mean.iter().map(|&m| m as f32).collect(),
        // Rounding can leave the null directions of rank-deficient data slightly negative.
        variances: order.iter().map(|&i| values[i].max(0.0) as f32).collect(),
        axes: order.iter().map(|&i| vectors.column(i).iter().map(|&v| v as f32).collect()).collect(),
    })
}

/// The rows of `x`, L2-normalised, centred on the fitted mean and expressed along the
/// fitted axes, each divided by √(variance + `shrink` × mean variance).
pub fn apply(w: &Whitening, x: ArrayView2<f32>, shrink: f32) -> Result<Array2<f32>> {
    let d = w.mean.len();
    if x.ncols() != d || w.axes.len() != w.variances.len() || w.axes.iter().any(|a| a.len() != d) {
        return Err(Error::Invalid(format!(
            "the whitening was fitted on vectors of {d} values ({} axes), these have {}",
            w.axes.len(),
            x.ncols()
        )));
    }
    let mean_variance = w.variances.iter().sum::<f32>() / w.variances.len().max(1) as f32;
    let axes = Array2::from_shape_fn((d, w.axes.len()), |(r, c)| {
        w.axes[c][r] / (w.variances[c] + shrink * mean_variance).sqrt().max(f32::MIN_POSITIVE)
    });
    let mean = ndarray::ArrayView1::from(&w.mean[..]);
    Ok((l2_normalize(x) - mean).dot(&axes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::blobs;

    /// Sample covariance of the rows of `z`.
    fn covariance(z: &Array2<f32>) -> Array2<f32> {
        let c = z - &z.mean_axis(Axis(0)).unwrap();
        c.t().dot(&c) / (z.nrows() - 1) as f32
    }

    #[test]
    fn full_whitening_gives_the_fitted_vectors_unit_variance_along_every_axis() {
        let (x, _) = blobs(300, 6, 4, 0.3, 2);
        let w = fit(x.view()).unwrap();
        assert!(w.variances.windows(2).all(|v| v[0] >= v[1]), "{:?}", w.variances);
        let c = covariance(&apply(&w, x.view(), 0.0).unwrap());
        for ((r, k), v) in c.indexed_iter() {
            let want = if r == k { 1.0 } else { 0.0 };
            assert!((v - want).abs() < 1e-3, "covariance[{r}][{k}] = {v}");
        }
    }

    #[test]
    fn shrinkage_raises_the_weak_axes_less_than_the_strong_ones() {
        // With shrinkage each axis keeps variance v / (v + s·mean): the strongest axis ends
        // nearer 1 than the weakest, where full whitening would make them equal.
        let (x, _) = blobs(300, 6, 4, 0.3, 2);
        let w = fit(x.view()).unwrap();
        let c = covariance(&apply(&w, x.view(), SHRINK).unwrap());
        let (first, last) = (c[[0, 0]], c[[5, 5]]);
        assert!(first < 1.0 && last < first, "{first} {last}");
    }

    #[test]
    fn vectors_of_another_width_are_refused() {
        let (x, _) = blobs(20, 4, 2, 0.1, 1);
        let w = fit(x.view()).unwrap();
        let (y, _) = blobs(20, 5, 2, 0.1, 1);
        assert!(matches!(apply(&w, y.view(), SHRINK), Err(Error::Invalid(_))));
        assert!(matches!(fit(x.slice(ndarray::s![..1, ..])), Err(Error::Invalid(_))));
    }
}
