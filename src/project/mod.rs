//! 2-D projections of embeddings for the charts: t-SNE and UMAP, one module each, on
//! the linear algebra of [`linalg`]; [`trustworthiness`] measures a layout.
//!
//! t-SNE is our Barnes-Hut implementation ([`tsne`]): linfa-tsne's took 8–11× as
//! long for the same trustworthiness (4.05 s vs 0.47 s at 1 000×128, 55.6 s vs 5.1 s at
//! 5 000, measured side by side on this 2-core machine, 2026-11-23). UMAP takes its fuzzy simplicial set
//! (smooth k-NN distances, fuzzy union) from umap-rs, fed with our exact k-NN graph, and
//! runs the layout SGD here: umap-rs' own optimiser draws negative samples from an
//! unseedable thread RNG on several threads at once, so no two runs would agree.
//! [`whiten`] is the optional PCA whitening `infer --whiten` applies before clustering.
pub mod linalg;
mod tsne;
mod umap;
pub mod whiten;

use ndarray::{Array2, ArrayView2, Axis};

pub use tsne::{trustworthiness, tsne};
pub use umap::umap;

use crate::error::{Error, Result};

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
    use crate::neighbors::knn;

    /// `blobs` well-separated Gaussian clusters of `per` points in `dim` dimensions.
    fn blobs(blobs: usize, per: usize, dim: usize, seed: u64) -> (Array2<f32>, Vec<usize>) {
        crate::synthetic::blobs(blobs * per, dim, blobs, 1.0, seed)
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
        let z = linalg::pca(x.view(), 50, 2, 0).mapv(|v| v as f32);
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
        // t-SNE refuses identical rows; UMAP lays them out (repulsion spreads the points
        // from the noise of its start), finite, which the chart can still draw.
        let y = umap(same.view(), &UmapParams::default()).expect("UMAP of identical rows");
        assert!(y.dim() == (20, 2) && y.iter().all(|v| v.is_finite()));
        let bad = UmapParams { min_dist: 2.0, ..UmapParams::default() };
        assert!(umap(x.view(), &bad).is_err());
    }
}
