//! DBSCAN through petal-clustering, labels renumbered like the other methods.
use ndarray::ArrayView2;
use petal_clustering::{Dbscan, Fit as _};

use super::{check_columns, check_finite, relabel};
use crate::error::{Error, Result};

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

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn dbscan_labels_noise_and_numbers_clusters_in_order() {
        let x = array![[100.0f32], [0.0], [0.1], [0.2], [50.0], [50.1], [50.2]];
        assert_eq!(dbscan(x.view(), 0.5, 3).expect("dbscan"), vec![-1, 0, 0, 0, 1, 1, 1]);
    }
}
