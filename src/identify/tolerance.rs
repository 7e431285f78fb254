//! Where the default tolerance comes from. A checkpoint calibrated on held-out training
//! people carries one ([`open_set_scan`], run by `calibrate`); vectors without one (raw
//! pixels, older checkpoints) take the gallery's own ([`from_gallery`]).
use ndarray::{ArrayView2, Axis};

use super::{Params, RUNNER_UP_SEARCH, Vote, candidates, outcome};
use crate::error::Result;
use crate::neighbors::{knn, knn_between};

/// Known accuracy and unknown rejection at each threshold of `grid` in one simulated
/// gallery of the people of `x` (row `i` shows `person[i]`), drawn by `seed`: half the
/// people are known, one image of each (with ≥ 2) a query and the rest the gallery, and
/// every image of the other half is an unknown query. None when the draw leaves no
/// gallery or no query.
pub fn open_set_scan(x: ArrayView2<f32>, person: &[usize], grid: &[f32], seed: u64) -> Result<Option<Vec<(f64, f64)>>> {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    let mut by_person: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (row, &p) in person.iter().enumerate() {
        by_person.entry(p).or_default().push(row);
    }
    let people: Vec<Vec<usize>> = by_person.into_values().collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6d61_7463_6800 ^ seed);
    let mut order: Vec<usize> = (0..people.len()).collect();
    order.shuffle(&mut rng);
    let (known, unknown) = order.split_at(people.len() / 2);
    let (mut gallery, mut gallery_person, mut queries, mut truth) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for &p in known.iter().filter(|&&p| people[p].len() >= 2) {
        let mut rows = people[p].clone();
        rows.shuffle(&mut rng);
        queries.push(rows[0]);
        truth.push(Some(p));
        gallery_person.extend(std::iter::repeat_n(p, rows.len() - 1));
        gallery.extend_from_slice(&rows[1..]);
    }
    for &p in unknown {
        queries.extend_from_slice(&people[p]);
        truth.extend(std::iter::repeat_n(None, people[p].len()));
    }
    if gallery.is_empty() || queries.is_empty() {
        return Ok(None);
    }
    let c = candidates(
        x.select(Axis(0), &queries).view(),
        x.select(Axis(0), &gallery).view(),
        &gallery_person,
        Params::new(1, Vote::Majority)?,
    )?;
    Ok(Some(
        grid.iter()
            .map(|&t| {
                let o = outcome(&c, &truth, t);
                (o.known_accuracy, o.unknown_rejected)
            })
            .collect(),
    ))
}

/// A checkpoint's calibrated match tolerance carried to these faces as `infer` carries its
/// cuts: scaled by the `cluster::SCALE_QUANTILE` quantile of the distances between all the
/// faces of this run (gallery and queries) over the held-out people's. With the median
/// instead (identity-v5, known named / unknown turned away): LFW split 0.675 / 0.813 →
/// 0.681 / 0.780, AT&T 0.95 / 0.825 → 0.95 / 0.945, Yale 1.0 / 0.807 → 1.0 / 0.943.
pub fn scaled(calibrated: f32, held_out_scale: f32, faces: ArrayView2<f32>, origin: &str) -> (f32, String) {
    use crate::cluster::SCALE_QUANTILE;
    let scale = crate::cluster::pair_distance_quantile(faces, SCALE_QUANTILE);
    let t = if scale > 0.0 && held_out_scale > 0.0 { calibrated * scale / held_out_scale } else { calibrated };
    let pct = SCALE_QUANTILE * 100.0;
    (t, format!("calibrated {calibrated} × these faces' {pct}th-percentile distance {scale:.4} / {held_out_scale} on {origin}"))
}

/// The index of `scan` with the best balanced score (known accuracy + unknown rejection,
/// halved): known people named and strangers turned away count alike. The first of equals.
pub fn best_balanced(scan: &[(f64, f64)]) -> usize {
    let score = |i: usize| (scan[i].0 + scan[i].1) / 2.0;
    (0..scan.len()).fold(0, |b, i| if score(i) > score(b) { i } else { b })
}

/// Each gallery face with a second face of its person: the distance to that person's
/// nearest other face (genuine) and to the nearest face of anyone else (impostor).
fn leave_one_out(points: ArrayView2<f32>, person: &[usize]) -> (Vec<f32>, Vec<f32>) {
    // Exact, in O(N·k) memory (all N² distances at once would not fit a large gallery):
    // the genuine distance within each person's own faces; the impostor one among the
    // RUNNER_UP_SEARCH nearest faces, searched against everyone else only for the rare
    // face whose neighbours are all its own person's.
    let mut rows_of: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (row, &p) in person.iter().enumerate() {
        rows_of.entry(p).or_default().push(row);
    }
    let mut own = vec![None; points.nrows()];
    for rows in rows_of.values().filter(|r| r.len() >= 2) {
        let (_, d) = knn(points.select(Axis(0), rows).view(), 1);
        for (&r, d) in rows.iter().zip(d) {
            own[r] = d.first().copied();
        }
    }
    let (idx, dist) = knn(points, RUNNER_UP_SEARCH);
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for (i, g) in own.iter().enumerate().filter_map(|(i, g)| g.map(|g| (i, g))) {
        genuine.push(g);
        let near = idx[i].iter().zip(&dist[i]).find(|(j, _)| person[**j] != person[i]).map(|(_, &d)| d);
        let others: Vec<usize> = if near.is_some() { Vec::new() } else { (0..person.len()).filter(|&j| person[j] != person[i]).collect() };
        let far = || knn_between(points.select(Axis(0), &[i]).view(), points.select(Axis(0), &others).view(), 1).1[0].first().copied();
        if let Some(d) = near.or_else(far) {
            impostor.push(d);
        }
    }
    (genuine, impostor)
}

/// A tolerance from the gallery alone: every face with another of its person is matched
/// against the rest of the gallery (leave one out); its distance to its own person's
/// nearest other face is a genuine distance, its distance to the nearest face of anyone
/// else an impostor one; the tolerance is the one that best balances accepting the first
/// and rejecting the second. None when no person of the gallery has two faces.
pub fn from_gallery(points: ArrayView2<f32>, person: &[usize]) -> Option<(f32, String)> {
    let (mut genuine, mut impostor) = leave_one_out(points, person);
    if genuine.is_empty() || impostor.is_empty() {
        return None;
    }
    let mut cuts: Vec<f32> = genuine.iter().chain(&impostor).copied().collect();
    for v in [&mut cuts, &mut genuine, &mut impostor] {
        v.sort_unstable_by(f32::total_cmp);
    }
    // Sorted, so each cut's shares are two binary searches, not two passes.
    let at_most = |sorted: &[f32], t: f32| sorted.partition_point(|&d| d <= t) as f64 / sorted.len() as f64;
    let scan: Vec<(f64, f64)> = cuts.iter().map(|&t| (at_most(&genuine, t), 1.0 - at_most(&impostor, t))).collect();
    let t = cuts[best_balanced(&scan)];
    Some((t, format!("from the gallery itself: its {} faces with a second face of their person, leave one out", genuine.len())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::blobs;

    #[test]
    fn the_gallery_tolerance_lies_between_a_persons_faces_and_the_next_person() {
        // Tight people far apart: the tolerance accepts each face's own person and
        // rejects the others.
        let (x, person) = blobs(30, 8, 3, 0.05, 2);
        let (t, how) = from_gallery(x.view(), &person).unwrap();
        let (idx, dist) = knn(x.view(), 29);
        for i in 0..30 {
            let own = idx[i].iter().zip(&dist[i]).find(|(j, _)| person[**j] == person[i]).unwrap().1;
            let other = idx[i].iter().zip(&dist[i]).find(|(j, _)| person[**j] != person[i]).unwrap().1;
            assert!(*own <= t && t < *other, "{own} {t} {other}");
        }
        assert!(how.contains("30 faces"), "{how}");
        // One face a person: no genuine distance to learn from.
        assert!(from_gallery(x.view(), &(0..30).collect::<Vec<_>>()).is_none());
    }

    #[test]
    fn a_person_with_more_faces_than_the_neighbour_search_still_meets_the_next_person() {
        // 70 faces of one person (more than RUNNER_UP_SEARCH), 2 of another far away: every
        // face gets an impostor distance, so the tolerance falls between the two people.
        let (a, _) = blobs(70, 4, 1, 0.01, 5);
        let mut x = ndarray::Array2::<f32>::zeros((72, 4));
        x.slice_mut(ndarray::s![..70, ..]).assign(&a);
        x.slice_mut(ndarray::s![70.., ..]).fill(100.0);
        let person: Vec<usize> = (0..72).map(|i| usize::from(i >= 70)).collect();
        let (genuine, impostor) = leave_one_out(x.view(), &person);
        assert_eq!((genuine.len(), impostor.len()), (72, 72));
        assert!(impostor.iter().all(|&d| d > 150.0), "{impostor:?}");
        let (t, _) = from_gallery(x.view(), &person).unwrap();
        assert!(t < 50.0, "{t}");
    }

    #[test]
    fn the_open_set_scan_rejects_everyone_at_zero_and_nobody_past_every_distance() {
        let (x, person) = blobs(60, 8, 6, 0.05, 3);
        let grid = [0.0, 0.5, 100.0];
        let s = open_set_scan(x.view(), &person, &grid, 3).unwrap().unwrap();
        assert_eq!(s[0], (0.0, 1.0));
        assert_eq!(s[2].1, 0.0);
        assert_eq!(best_balanced(&s), 1, "{s:?}");
        assert_eq!(s[1], (1.0, 1.0), "separated people are all named or turned away");
    }
}
