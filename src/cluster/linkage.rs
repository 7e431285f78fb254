//! Average-linkage agglomerative clustering cut at a distance: the method whose cut a
//! checkpoint calibrates on people it never trained on (see `calibrate`).
use ndarray::ArrayView2;

use super::{check_columns, check_finite, relabel};
use crate::error::{Error, Result};
use crate::neighbors::row_distance;

/// The merges of average-linkage clustering of the rows of `x` (Euclidean distance), in
/// order of rising distance: `(a, b, distance)` where cluster ids below `n` are rows and
/// `n + i` is the cluster made by merge `i`. Memory is n²/2 distances (55 MB at 3 711 rows,
/// 20 GB at 100 000): refused above `cluster::MEMORY_BUDGET` ([`Error::TooLarge`]).
pub fn dendrogram(x: ArrayView2<f32>) -> Result<Vec<(usize, usize, f32)>> {
    check_columns(x)?;
    check_finite(x)?;
    let n = x.nrows();
    super::check_budget(super::Method::Linkage, n, (n as u64 * n.saturating_sub(1) as u64 / 2) * 4)?;
    let mut condensed = Vec::with_capacity(n * n.saturating_sub(1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            condensed.push(row_distance(x, i, j));
        }
    }
    if n < 2 {
        return Ok(Vec::new());
    }
    let tree = kodama::linkage(&mut condensed, n, kodama::Method::Average);
    Ok(tree.steps().iter().map(|s| (s.cluster1, s.cluster2, s.dissimilarity)).collect())
}

/// Labels of the `n` rows after applying every merge of `merges` closer than `threshold`.
pub fn cut(merges: &[(usize, usize, f32)], n: usize, threshold: f32) -> Vec<i64> {
    let mut parent: Vec<usize> = (0..n + merges.len()).collect();
    for (i, &(a, b, d)) in merges.iter().enumerate() {
        // Merge distances only rise, so the first one at or past the cut ends the walk.
        if d >= threshold {
            break;
        }
        parent[a] = n + i;
        parent[b] = n + i;
    }
    let root = |mut i: usize| {
        while parent[i] != i {
            i = parent[i];
        }
        i
    };
    relabel((0..n).map(|i| Some(root(i))))
}

/// Average-linkage clusters of the rows of `x`: groups whose mean pairwise distance is
/// below `threshold`.
pub fn average_linkage(x: ArrayView2<f32>, threshold: f32) -> Result<Vec<i64>> {
    if !(threshold.is_finite() && threshold > 0.0) {
        return Err(Error::Invalid(format!("linkage threshold must be a positive number, got {threshold}")));
    }
    Ok(cut(&dendrogram(x)?, x.nrows(), threshold))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::metrics::adjusted_rand_index;
    use crate::synthetic::blobs;
    use ndarray::array;

    #[test]
    fn a_cut_between_the_within_and_between_group_distances_recovers_the_groups() {
        let (x, truth) = blobs(4 * 20, 16, 4, 0.5, 5);
        assert_eq!(adjusted_rand_index(&truth, &average_linkage(x.view(), 4.0).unwrap()), 1.0);
        // Far above every distance: one cluster; below every distance: singletons.
        assert_eq!(average_linkage(x.view(), 1e6).unwrap(), vec![0; 80]);
        assert_eq!(average_linkage(x.view(), 1e-6).unwrap(), (0..80).collect::<Vec<i64>>());
    }

    #[test]
    fn average_linkage_uses_the_mean_distance_not_the_nearest_pair() {
        // 0 and 1 merge at 1; 3 sits 1.5 from 1 but (2.5 + 1.5) / 2 = 2 from the pair on
        // average, so a cut at 1.8 keeps it apart, where single linkage would not.
        let x = array![[0.0f32], [1.0], [2.5]];
        assert_eq!(average_linkage(x.view(), 1.8).unwrap(), vec![0, 0, 1]);
        assert_eq!(average_linkage(x.view(), 2.1).unwrap(), vec![0, 0, 0]);
    }

    #[test]
    fn bad_thresholds_and_inputs_are_errors() {
        let x = array![[0.0f32], [1.0]];
        assert!(matches!(average_linkage(x.view(), 0.0), Err(Error::Invalid(_))));
        assert!(matches!(average_linkage(x.view(), f32::NAN), Err(Error::Invalid(_))));
        let bad = array![[0.0f32], [f32::NAN]];
        assert!(matches!(average_linkage(bad.view(), 1.0), Err(Error::Invalid(_))));
        assert_eq!(average_linkage(x.slice(ndarray::s![..1, ..]), 1.0).unwrap(), vec![0]);
    }
}
