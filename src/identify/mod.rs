//! Known / unknown: faces matched against a gallery of people the user already knows
//! (`facemb match`). Each query takes the person its k nearest gallery faces vote for,
//! that person's nearest face distance, and the nearest other person as runner-up; it is
//! **unknown** when that distance exceeds a tolerance. [`tolerance`] says where the
//! default tolerance comes from; [`gallery`] saves a gallery for reuse.
pub mod gallery;
pub mod tolerance;

use std::collections::HashMap;

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::neighbors::knn_between;

pub use gallery::{Gallery, Source};

/// Neighbours looked at beyond the k that vote, so that the nearest face of a person
/// other than the winner (the runner-up) is almost always among them.
pub(crate) const RUNNER_UP_SEARCH: usize = 64;

/// How the k nearest gallery faces elect a person.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Vote {
    /// One vote per face; a tie goes to the person whose nearest face is nearer.
    #[default]
    Majority,
    /// Each face votes 1 / distance, so that near faces count more.
    Distance,
}

/// A query's nearest people before any tolerance is applied.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// Gallery person the vote elected.
    pub person: usize,
    /// Distance to that person's nearest gallery face.
    pub distance: f32,
    /// Nearest other person and the distance to their nearest face (None when the
    /// gallery holds one person, or none was among the faces searched).
    pub runner_up: Option<(usize, f32)>,
}

impl Candidate {
    /// The person, or None (unknown) when the distance exceeds `tolerance`.
    pub fn decide(&self, tolerance: f32) -> Option<usize> {
        (self.distance <= tolerance).then_some(self.person)
    }
}

/// Checked matching parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    pub k: usize,
    pub vote: Vote,
}

impl Params {
    pub fn new(k: usize, vote: Vote) -> Result<Self> {
        if k == 0 {
            return Err(Error::Invalid("--neighbours must be ≥ 1".into()));
        }
        Ok(Params { k, vote })
    }
}

/// The candidate of every row of `queries` against the gallery vectors `points`, whose
/// row `i` shows person `person[i]`.
pub fn candidates(queries: ArrayView2<f32>, points: ArrayView2<f32>, person: &[usize], params: Params) -> Result<Vec<Candidate>> {
    if points.nrows() == 0 {
        return Err(Error::Invalid("the gallery holds no face".into()));
    }
    if queries.ncols() != points.ncols() {
        return Err(Error::Invalid(format!(
            "the queries' vectors have {} values and the gallery's {}: they come from different embeddings",
            queries.ncols(),
            points.ncols()
        )));
    }
    let (idx, dist) = knn_between(queries, points, params.k.max(RUNNER_UP_SEARCH));
    Ok(idx.iter().zip(&dist).map(|(idx, dist)| elect(idx, dist, person, params)).collect())
}

/// One query's candidate from its neighbours (sorted by distance).
fn elect(idx: &[usize], dist: &[f32], person: &[usize], params: Params) -> Candidate {
    // Per person among the k voters: (votes, nearest distance).
    let mut tally: HashMap<usize, (f64, f32)> = HashMap::new();
    for (&i, &d) in idx.iter().zip(dist).take(params.k) {
        let w = match params.vote {
            Vote::Majority => 1.0,
            Vote::Distance => 1.0 / (d as f64).max(1e-6),
        };
        let e = tally.entry(person[i]).or_insert((0.0, d));
        e.0 += w;
        e.1 = e.1.min(d);
    }
    let (&winner, _) = tally
        .iter()
        .max_by(|a, b| a.1.0.total_cmp(&b.1.0).then(b.1.1.total_cmp(&a.1.1)).then(b.0.cmp(a.0)))
        .expect("k ≥ 1 and a non-empty gallery give at least one voter");
    let nearest = |want: &dyn Fn(usize) -> bool| idx.iter().zip(dist).find(|(i, _)| want(person[**i])).map(|(&i, &d)| (person[i], d));
    let distance = nearest(&|p| p == winner).map_or(f32::INFINITY, |(_, d)| d);
    Candidate { person: winner, distance, runner_up: nearest(&|p| p != winner) }
}

/// How a set of decisions scores against the truth, for queries that carry a name:
/// `truth[q]` is the gallery person query `q` shows, None for a person not in the gallery.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub tolerance: f32,
    pub known_queries: usize,
    pub unknown_queries: usize,
    /// Known queries named correctly (and not rejected) ÷ known queries.
    #[serde(with = "crate::files::nan_as_null")]
    pub known_accuracy: f64,
    /// Known queries named as someone else ÷ known queries.
    #[serde(with = "crate::files::nan_as_null")]
    pub known_misnamed: f64,
    /// Known queries rejected as unknown ÷ known queries (false unknowns).
    #[serde(with = "crate::files::nan_as_null")]
    pub false_unknown: f64,
    /// Unknown queries rejected ÷ unknown queries (true unknowns).
    #[serde(with = "crate::files::nan_as_null")]
    pub unknown_rejected: f64,
}

/// The scores of `candidates` at `tolerance` against `truth`.
pub fn outcome(candidates: &[Candidate], truth: &[Option<usize>], tolerance: f32) -> Outcome {
    let mut o = Outcome { tolerance, ..Outcome::default() };
    let (mut right, mut wrong, mut rejected, mut true_unknown) = (0usize, 0usize, 0usize, 0usize);
    for (c, t) in candidates.iter().zip(truth) {
        match (t, c.decide(tolerance)) {
            (Some(t), Some(p)) if *t == p => right += 1,
            (Some(_), Some(_)) => wrong += 1,
            (Some(_), None) => rejected += 1,
            (None, None) => true_unknown += 1,
            (None, Some(_)) => {}
        }
        if t.is_some() { o.known_queries += 1 } else { o.unknown_queries += 1 }
    }
    let share = |a: usize, b: usize| if b == 0 { f64::NAN } else { a as f64 / b as f64 };
    o.known_accuracy = share(right, o.known_queries);
    o.known_misnamed = share(wrong, o.known_queries);
    o.false_unknown = share(rejected, o.known_queries);
    o.unknown_rejected = share(true_unknown, o.unknown_queries);
    o
}

/// [`outcome`] at each tolerance of `grid`.
pub fn sweep(candidates: &[Candidate], truth: &[Option<usize>], grid: &[f32]) -> Vec<Outcome> {
    grid.iter().map(|&t| outcome(candidates, truth, t)).collect()
}

/// 60 tolerances from 0 to a little past the largest candidate distance: the sweep's x axis.
pub fn tolerance_grid(candidates: &[Candidate]) -> Vec<f32> {
    let top = candidates.iter().map(|c| c.distance).filter(|d| d.is_finite()).fold(0.0f32, f32::max).max(1e-3) * 1.05;
    (0..=60).map(|i| top * i as f32 / 60.0).collect()
}

/// The known / unknown split `bench-cluster` times `match` on (written as CSV by
/// `facemb bench-split`, [`crate::bench::write_match_split`], for `scripts/match_split.sh`
/// and `scripts/peer_match.py`, which use it instead of making their own): identities in
/// order of first appearance, the first half known with their last
/// row a query and the rest the gallery, every row of the other half an unknown query.
/// Returns (gallery rows, queries rows, the known identity of each query or None).
pub fn match_split(labels: &[usize]) -> (Vec<usize>, Vec<usize>, Vec<Option<usize>>) {
    let mut order: Vec<usize> = Vec::new();
    let mut rows: std::collections::HashMap<usize, Vec<usize>> = Default::default();
    for (r, &l) in labels.iter().enumerate() {
        rows.entry(l).or_insert_with(|| {
            order.push(l);
            Vec::new()
        });
        rows.get_mut(&l).expect("inserted above").push(r);
    }
    let (mut gallery, mut queries, mut truth) = (Vec::new(), Vec::new(), Vec::new());
    for (i, l) in order.iter().enumerate() {
        let r = &rows[l];
        if i < order.len() / 2 {
            if let Some((last, rest)) = r.split_last().filter(|(_, rest)| !rest.is_empty()) {
                gallery.extend_from_slice(rest);
                queries.push(*last);
                truth.push(Some(*l));
            }
        } else {
            queries.extend_from_slice(r);
            truth.extend(std::iter::repeat_n(None, r.len()));
        }
    }
    (gallery, queries, truth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_match_split_keeps_one_query_of_each_known_person_and_every_row_of_the_rest() {
        // People 7, 3, 5, 9 in order of first appearance; 3 has one row only.
        let labels = [7, 7, 3, 7, 5, 5, 9, 5];
        let (gallery, queries, truth) = match_split(&labels);
        assert_eq!(gallery, vec![0, 1], "7's rows but its last; 3 has no second row to keep");
        assert_eq!(queries, vec![3, 4, 5, 7, 6]);
        assert_eq!(truth, vec![Some(7), None, None, None, None]);
    }
    use ndarray::array;

    fn cand(person: usize, distance: f32) -> Candidate {
        Candidate { person, distance, runner_up: None }
    }

    #[test]
    fn the_nearest_person_wins_with_its_distance_and_the_next_person_is_runner_up() {
        // Gallery: person 0 at x = 0 and 0.1, person 1 at x = 1, person 2 at x = 3.
        let g = array![[0.0f32], [0.1], [1.0], [3.0]];
        let person = [0, 0, 1, 2];
        let q = array![[0.2f32], [0.9], [2.6]];
        let c = candidates(q.view(), g.view(), &person, Params::new(1, Vote::Majority).unwrap()).unwrap();
        assert_eq!((c[0].person, c[1].person, c[2].person), (0, 1, 2));
        assert!((c[0].distance - 0.1).abs() < 1e-6);
        assert_eq!(c[0].runner_up.map(|r| r.0), Some(1));
        assert!((c[0].runner_up.unwrap().1 - 0.8).abs() < 1e-6);
        assert_eq!(c[2].runner_up.map(|r| r.0), Some(1));
        // Tolerance 0.3: the third query (0.4 from person 2) is unknown.
        assert_eq!(c.iter().map(|c| c.decide(0.3)).collect::<Vec<_>>(), vec![Some(0), Some(1), None]);
    }

    #[test]
    fn a_majority_of_k_outvotes_one_nearer_face_and_distance_votes_can_reverse_it() {
        // Person 1 has one face at 0.5; person 0 has two at 1.0 and 1.1.
        let g = array![[0.5f32], [1.0], [1.1]];
        let person = [1, 0, 0];
        let q = array![[0.0f32]];
        let run = |k, vote| candidates(q.view(), g.view(), &person, Params::new(k, vote).unwrap()).unwrap()[0].clone();
        assert_eq!(run(1, Vote::Majority).person, 1);
        let c = run(3, Vote::Majority);
        assert_eq!((c.person, c.distance), (0, 1.0), "two votes beat one; the winner's own nearest distance");
        assert_eq!(c.runner_up, Some((1, 0.5)));
        // 1/0.5 = 2 > 1/1.0 + 1/1.1 ≈ 1.91.
        assert_eq!(run(3, Vote::Distance).person, 1);
    }

    #[test]
    fn outcomes_count_right_wrong_and_rejected_queries() {
        let c = [cand(0, 0.2), cand(1, 0.5), cand(0, 0.9), cand(1, 0.3), cand(0, 0.8)];
        let truth = [Some(0), Some(0), Some(1), None, None];
        let o = outcome(&c, &truth, 0.6);
        assert_eq!((o.known_queries, o.unknown_queries), (3, 2));
        assert!((o.known_accuracy - 1.0 / 3.0).abs() < 1e-12); // query 0
        assert!((o.known_misnamed - 1.0 / 3.0).abs() < 1e-12); // query 1
        assert!((o.false_unknown - 1.0 / 3.0).abs() < 1e-12); // query 2 (0.9 > 0.6)
        assert_eq!(o.unknown_rejected, 0.5); // query 4 rejected, query 3 accepted
        let s = sweep(&c, &truth, &tolerance_grid(&c));
        assert_eq!(s.first().unwrap().unknown_rejected, 1.0, "tolerance 0 rejects everyone");
        assert_eq!(s.last().unwrap().unknown_rejected, 0.0, "past every distance nobody is unknown");
    }

    #[test]
    fn an_empty_gallery_or_a_width_mismatch_is_an_error() {
        let q = array![[0.0f32, 1.0]];
        let p = Params::new(1, Vote::Majority).unwrap();
        assert!(candidates(q.view(), ndarray::Array2::<f32>::zeros((0, 2)).view(), &[], p).is_err());
        let e = candidates(q.view(), array![[0.0f32]].view(), &[0], p).unwrap_err().to_string();
        assert!(e.contains("2 values") && e.contains("gallery's 1"), "{e}");
        assert!(Params::new(0, Vote::Majority).is_err());
    }
}
