//! Exact k-nearest neighbours shared by the clustering defaults (k-distance), chinese
//! whispers' graph, UMAP and the 1-NN score.
//!
//! Brute force over row blocks, parallel with rayon: at the sizes this tool evaluates
//! (≤ a few thousand faces, 16–1024 dims) it is exact and faster than a ball tree,
//! whose pruning fails in this many dimensions.
use ndarray::{ArrayView2, Axis};
use rayon::prelude::*;

/// `k` nearest other rows of every row: `(indices, euclidean distances)`, both N×k,
/// sorted by distance. A row is never its own neighbour. `k` is clamped to N−1.
pub fn knn(x: ArrayView2<f32>, k: usize) -> (Vec<Vec<usize>>, Vec<Vec<f32>>) {
    let n = x.nrows();
    let k = k.min(n.saturating_sub(1));
    let norms: Vec<f32> = x.axis_iter(Axis(0)).map(|r| r.dot(&r)).collect();
    let rows: Vec<(Vec<usize>, Vec<f32>)> = (0..n)
        .into_par_iter()
        .map(|i| {
            let xi = x.row(i);
            // ‖a−b‖² = ‖a‖² + ‖b‖² − 2a·b, one dot product per pair.
            let d2 = x.dot(&xi);
            let mut cand: Vec<(f32, usize)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| ((norms[i] + norms[j] - 2.0 * d2[j]).max(0.0), j))
                .collect();
            if k < cand.len() {
                cand.select_nth_unstable_by(k, |a, b| a.0.total_cmp(&b.0));
                cand.truncate(k);
            }
            cand.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            (cand.iter().map(|c| c.1).collect(), cand.iter().map(|c| c.0.sqrt()).collect())
        })
        .collect();
    rows.into_iter().unzip()
}

/// Rows scaled to unit L2 norm (zero rows stay zero), for cosine-like clustering.
pub fn l2_normalize(x: ArrayView2<f32>) -> ndarray::Array2<f32> {
    let mut out = x.to_owned();
    for mut r in out.axis_iter_mut(Axis(0)) {
        let n = r.dot(&r).sqrt();
        if n > 0.0 {
            r /= n;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn knn_finds_the_nearest_other_points_in_order() {
        let x = array![[0.0f32, 0.0], [1.0, 0.0], [3.0, 0.0], [10.0, 0.0]];
        let (idx, dist) = knn(x.view(), 2);
        assert_eq!(idx[0], vec![1, 2]);
        assert_eq!(idx[3], vec![2, 1]);
        assert!((dist[2][0] - 2.0).abs() < 1e-5 && (dist[2][1] - 3.0).abs() < 1e-5);
    }

    #[test]
    fn l2_normalize_gives_unit_rows() {
        let x = array![[3.0f32, 4.0], [0.0, 0.0]];
        let y = l2_normalize(x.view());
        assert!((y[[0, 0]] - 0.6).abs() < 1e-6 && y[[1, 1]] == 0.0);
    }
}
