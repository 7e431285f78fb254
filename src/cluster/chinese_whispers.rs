//! Chinese whispers, the graph clustering dlib uses for faces.
use ndarray::ArrayView2;
use rand::SeedableRng;
use rand::seq::SliceRandom;

use super::{GRAPH_NEIGHBOURS, check_columns, check_finite, relabel};
use crate::error::{Error, Result};
use crate::neighbors::knn;

/// Passes over all nodes in chinese whispers, as dlib does.
const CW_PASSES: usize = 100;

/// Chinese whispers (Biemann 2006, as in dlib's face clustering): nodes joined by an
/// unweighted edge when closer than `threshold`; every node starts in its own cluster and,
/// visited in a seeded random order for up to 100 passes, takes the label most common
/// among its neighbours. Ties keep the current label if it is among the best, else the
/// smallest, so a run is deterministic for a seed. Isolated nodes are singleton clusters.
pub fn chinese_whispers(x: ArrayView2<f32>, threshold: f32, seed: u64) -> Result<Vec<i64>> {
    check_columns(x)?;
    check_finite(x)?;
    if !(threshold.is_finite() && threshold >= 0.0) {
        return Err(Error::Invalid(format!("chinese whispers threshold must be a non-negative number, got {threshold}")));
    }
    let n = x.nrows();
    let (idx, dist) = knn(x, GRAPH_NEIGHBOURS);
    let mut adj: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, (js, ds)) in idx.iter().zip(&dist).enumerate() {
        for (&j, &dij) in js.iter().zip(ds) {
            if dij < threshold {
                adj[i].push(j);
                adj[j].push(i);
            }
        }
    }
    for a in &mut adj {
        a.sort_unstable();
        a.dedup();
    }

    let mut label: Vec<usize> = (0..n).collect();
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    // Votes per label, reset after each node through `touched`, so a visit costs its degree.
    let mut votes = vec![0u32; n];
    let mut touched: Vec<usize> = Vec::new();
    for _ in 0..CW_PASSES {
        order.shuffle(&mut rng);
        let mut changed = false;
        for &i in &order {
            if adj[i].is_empty() {
                continue;
            }
            for &j in &adj[i] {
                let l = label[j];
                if votes[l] == 0 {
                    touched.push(l);
                }
                votes[l] += 1;
            }
            let top = touched.iter().map(|&l| votes[l]).max().unwrap_or(0);
            let best = if votes[label[i]] == top {
                label[i]
            } else {
                touched.iter().copied().filter(|&l| votes[l] == top).min().unwrap_or(label[i])
            };
            for &l in &touched {
                votes[l] = 0;
            }
            touched.clear();
            if best != label[i] {
                label[i] = best;
                changed = true;
            }
        }
        // The update is a deterministic function of the neighbours' labels, so a pass with
        // no change is a fixed point and further passes would change nothing.
        if !changed {
            break;
        }
    }
    Ok(relabel(label.into_iter().map(Some)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn chinese_whispers_joins_close_groups_and_keeps_isolated_points_alone() {
        let x = array![[10.0f32, 0.0], [0.0, 0.0], [0.5, 0.0], [0.0, 0.5], [5.0, 5.0], [5.5, 5.0], [5.0, 5.5],];
        let labels = chinese_whispers(x.view(), 1.0, 3).expect("cw");
        assert_eq!(labels, vec![0, 1, 1, 1, 2, 2, 2]);
        // Threshold 0 leaves no edges: every point its own cluster.
        assert_eq!(chinese_whispers(x.view(), 0.0, 3).expect("cw"), vec![0, 1, 2, 3, 4, 5, 6]);
    }
}
