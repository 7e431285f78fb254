//! FINCH (Sarfraz, Sharma, Stiefelhagen, CVPR 2019): parameter-free clustering by first
//! neighbours. Each point is linked to its nearest neighbour; the connected components are
//! the first partition; the same step on the components' means gives the next, coarser
//! one, until one cluster is left.
use ndarray::{Array2, ArrayView2};

use super::{check_columns, check_finite, relabel};
use crate::error::{Error, Result};
use crate::neighbors::knn;

/// Every FINCH partition of the rows of `x`, finest first; each is one label per row,
/// numbered in order of first appearance. Empty when `x` has fewer than 2 rows.
pub fn finch_partitions(x: ArrayView2<f32>) -> Result<Vec<Vec<i64>>> {
    check_columns(x)?;
    check_finite(x)?;
    let n = x.nrows();
    let mut parts: Vec<Vec<i64>> = Vec::new();
    let mut points = x.to_owned();
    // Row i of `points` stands for the original rows with label[r] == i.
    let mut label: Vec<usize> = (0..n).collect();
    while points.nrows() >= 2 {
        let groups = first_neighbour_components(points.view());
        let k = groups.iter().max().map_or(0, |&g| g + 1);
        if k == points.nrows() {
            break; // no merge possible (only when every point is its own first neighbour's)
        }
        label = label.iter().map(|&l| groups[l]).collect();
        parts.push(relabel(label.iter().map(|&l| Some(l))));
        if k == 1 {
            break;
        }
        let mut sums = Array2::<f32>::zeros((k, x.ncols()));
        let mut counts = vec![0f32; k];
        for (r, &l) in label.iter().enumerate() {
            sums.row_mut(l).scaled_add(1.0, &x.row(r));
            counts[l] += 1.0;
        }
        for (mut row, c) in sums.rows_mut().into_iter().zip(counts) {
            row /= c;
        }
        points = sums;
    }
    Ok(parts)
}

/// FINCH's partition number `level` (1 = finest); past the coarsest, the coarsest.
pub fn finch(x: ArrayView2<f32>, level: usize) -> Result<Vec<i64>> {
    if level == 0 {
        return Err(Error::Invalid("FINCH level must be ≥ 1".into()));
    }
    let parts = finch_partitions(x)?;
    Ok(parts.into_iter().take(level).next_back().unwrap_or_else(|| vec![0; x.nrows()]))
}

/// Components of the graph joining each row to its nearest other row, numbered 0..k−1.
fn first_neighbour_components(x: ArrayView2<f32>) -> Vec<usize> {
    let n = x.nrows();
    let (idx, _) = knn(x, 1);
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    for (i, js) in idx.iter().enumerate() {
        if let Some(&j) = js.first() {
            let (a, b) = (root(&mut parent, i), root(&mut parent, j));
            parent[a.max(b)] = a.min(b);
        }
    }
    let roots: Vec<usize> = (0..n).map(|i| root(&mut parent, i)).collect();
    relabel(roots.into_iter().map(Some)).into_iter().map(|l| l as usize).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::blobs;
    use ndarray::array;

    #[test]
    fn partitions_coarsen_level_by_level_down_to_one_cluster() {
        let (x, truth) = blobs(4 * 30, 16, 4, 1.0, 2);
        let parts = finch_partitions(x.view()).unwrap();
        let sizes: Vec<usize> = parts.iter().map(|p| p.iter().max().map_or(0, |&m| m as usize + 1)).collect();
        assert!(sizes.windows(2).all(|w| w[1] < w[0]), "{sizes:?}");
        assert_eq!(*sizes.last().unwrap(), 1);
        // First neighbours (of points, then of cluster means) never cross between far-apart
        // blobs: every level with at least as many clusters as blobs is pure.
        for (p, &k) in parts.iter().zip(&sizes).filter(|(_, k)| **k >= 4) {
            assert_eq!(crate::evaluate::metrics::purity(&truth, p), 1.0, "{k} clusters of {sizes:?}");
        }
        // Each coarser partition only merges clusters of the finer one.
        for w in parts.windows(2) {
            for i in 0..x.nrows() {
                for j in 0..x.nrows() {
                    assert!(w[0][i] != w[0][j] || w[1][i] == w[1][j]);
                }
            }
        }
    }

    #[test]
    fn first_neighbours_join_pairs_and_chains() {
        // 0–1 are each other's first neighbours, 2 → 1, and 3–4 far away pair up.
        let x = array![[0.0f32], [1.0], [2.5], [10.0], [10.5]];
        assert_eq!(finch(x.view(), 1).unwrap(), vec![0, 0, 0, 1, 1]);
        assert_eq!(finch(x.view(), 2).unwrap(), vec![0; 5]);
        assert_eq!(finch(x.view(), 9).unwrap(), vec![0; 5], "past the coarsest: the coarsest");
        assert!(matches!(finch(x.view(), 0), Err(Error::Invalid(_))));
        assert_eq!(finch(x.slice(ndarray::s![..1, ..]), 1).unwrap(), vec![0]);
    }
}
