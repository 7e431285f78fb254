//! Where the default tolerance comes from. A checkpoint calibrated on held-out training
//! people carries one ([`open_set_scan`], run by `calibrate`); vectors without one (raw
//! pixels, older checkpoints) take the gallery's own ([`from_gallery`]).
use ndarray::{ArrayView2, Axis};

use super::{Params, Vote, candidates, outcome};
use crate::error::Result;
use crate::neighbors::knn;

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

/// A checkpoint's calibrated match tolerance carried to these faces, as `infer` carries
/// its clustering cuts: scaled by the median distance between all the faces of this run
/// (gallery and queries) over the held-out people's median.
pub fn scaled(calibrated: f32, held_out_median: f32, faces: ArrayView2<f32>, origin: &str) -> (f32, String) {
    let median = crate::cluster::median_pair_distance(faces);
    let t = if median > 0.0 && held_out_median > 0.0 { calibrated * median / held_out_median } else { calibrated };
    (t, format!("calibrated {calibrated} × these faces' median distance {median:.4} / {held_out_median} on {origin}"))
}

/// The index of `scan` with the best balanced score (known accuracy + unknown rejection,
/// halved): known people named and strangers turned away count alike. The first of equals.
pub fn best_balanced(scan: &[(f64, f64)]) -> usize {
    let score = |i: usize| (scan[i].0 + scan[i].1) / 2.0;
    (0..scan.len()).fold(0, |b, i| if score(i) > score(b) { i } else { b })
}

/// A tolerance from the gallery alone: every face with another of its person is matched
/// against the rest of the gallery (leave one out); its distance to its own person's
/// nearest other face is a genuine distance, its distance to the nearest face of anyone
/// else an impostor one; the tolerance is the one that best balances accepting the first
/// and rejecting the second. None when no person of the gallery has two faces.
pub fn from_gallery(points: ArrayView2<f32>, person: &[usize]) -> Option<(f32, String)> {
    let (idx, dist) = knn(points, points.nrows().saturating_sub(1));
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for (i, (idx, dist)) in idx.iter().zip(&dist).enumerate() {
        let nearest = |same: bool| idx.iter().zip(dist).find(|(j, _)| (person[**j] == person[i]) == same).map(|(_, &d)| d);
        if let Some(g) = nearest(true) {
            genuine.push(g);
            if let Some(d) = nearest(false) {
                impostor.push(d);
            }
        }
    }
    if genuine.is_empty() || impostor.is_empty() {
        return None;
    }
    let mut cuts: Vec<f32> = genuine.iter().chain(&impostor).copied().collect();
    cuts.sort_unstable_by(f32::total_cmp);
    let scan: Vec<(f64, f64)> = cuts
        .iter()
        .map(|&t| {
            let accepted = genuine.iter().filter(|&&d| d <= t).count() as f64 / genuine.len() as f64;
            let rejected = impostor.iter().filter(|&&d| d > t).count() as f64 / impostor.len() as f64;
            (accepted, rejected)
        })
        .collect();
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
