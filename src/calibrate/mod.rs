//! Calibration: how far apart a checkpoint puts faces of one person and of two, measured
//! on training people it never trained on (`[identity] holdout`), and the clustering cuts
//! that serve those people best. `train` runs it at the end and stores the result in the
//! checkpoint (`calibration.json`); `infer` reads its cuts as the clustering defaults
//! instead of guessing from the folder alone, and `match` its tolerance.
mod file;

use std::path::PathBuf;

use burn::prelude::*;
use ndarray::ArrayView2;

use crate::cluster::{DEFAULT_MIN_SAMPLES, chinese_whispers, dbscan, linkage, median_pair_distance, quantile};
use crate::config::ModelConfig;
use crate::embed::{Readout, embed_folder};
use crate::error::{Error, Result};
use crate::evaluate::metrics::adjusted_rand_index;
use crate::identify::tolerance::{best_balanced, open_set_scan};
use crate::image::folder::IdentityFolder;
use crate::model::FaceNet;
use crate::model::checkpoint::{CALIBRATION_FILE, Checkpoint};
use crate::neighbors::{l2_normalize, row_distance};
pub use crate::train::data::HeldOut;
pub use file::{Calibration, CurvePoint, PAIR_QUANTILES, load, save, whitening};

/// Thresholds tried, in L2-normalised distance (0 = same direction, 2 = opposite): 0.02 to
/// 1.4 in steps of 0.02 (a division, so that each prints as written).
const GRID: std::ops::RangeInclusive<u32> = 1..=70;
const GRID_PER_UNIT: f32 = 50.0;

/// Images of one person in each calibration draw, and how many draws the ARI curves
/// average. ARI counts pairs, so a held-out person with 300 images (a glint pool) outweighs
/// a hundred people with 3, and the best cut of one full held-out set swung from 1.06 to
/// 1.14 between two training seeds. Capping each person at 10 images (about a studio
/// sitting, or an average LFW person) and averaging 10 draws gave best cuts of 0.80 and
/// 0.78 of the median distance on those two seeds (docs/identity/README.md).
pub const PER_PERSON: usize = 10;
pub const DRAWS: u64 = 10;

/// Calibrates on the rows of `x` (one per held-out image, L2-normalised here) labelled by
/// person: for each threshold of the grid, the share of same-person and of
/// different-person pairs closer than it (over all rows) and the ARI of average linkage,
/// chinese whispers and DBSCAN at it (the mean over [`DRAWS`] draws of at most
/// [`PER_PERSON`] images per person); the best of each becomes its default.
pub fn calibrate(x: ArrayView2<f32>, person: &[usize], readout: Readout) -> Result<Calibration> {
    let people = person.iter().copied().collect::<std::collections::HashSet<_>>().len();
    if people < 2 || x.nrows() != person.len() {
        return Err(Error::Invalid(format!("calibration needs at least 2 held-out people, got {people}")));
    }
    let x = l2_normalize(x);
    let n = x.nrows();
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for i in 0..n {
        for j in i + 1..n {
            let d = row_distance(x.view(), i, j);
            if person[i] == person[j] { genuine.push(d) } else { impostor.push(d) }
        }
    }
    let mut all: Vec<f32> = genuine.iter().chain(&impostor).copied().collect();
    for v in [&mut genuine, &mut impostor, &mut all] {
        v.sort_unstable_by(f32::total_cmp);
    }
    let below = |sorted: &[f32], t: f32| sorted.partition_point(|&d| d < t) as f64 / sorted.len().max(1) as f64;
    let mut curve: Vec<CurvePoint> = GRID
        .map(|g| {
            let t = g as f32 / GRID_PER_UNIT;
            CurvePoint { threshold: t, genuine_below: below(&genuine, t), impostor_below: below(&impostor, t), ..CurvePoint::default() }
        })
        .collect();
    let mut pair_median = 0.0;
    let mut matched = 0;
    for draw in 0..DRAWS {
        let rows = capped_draw(person, PER_PERSON, draw);
        let xs = x.select(ndarray::Axis(0), &rows);
        let ps: Vec<usize> = rows.iter().map(|&r| person[r]).collect();
        let merges = linkage::dendrogram(xs.view())?;
        for p in &mut curve {
            let t = p.threshold;
            p.linkage_ari += adjusted_rand_index(&ps, &linkage::cut(&merges, rows.len(), t));
            p.cw_ari += adjusted_rand_index(&ps, &chinese_whispers(xs.view(), t, 0)?);
            p.dbscan_ari += adjusted_rand_index(&ps, &dbscan(xs.view(), t, DEFAULT_MIN_SAMPLES)?);
        }
        let grid: Vec<f32> = curve.iter().map(|p| p.threshold).collect();
        if let Some(scan) = open_set_scan(xs.view(), &ps, &grid, draw)? {
            for (p, (known, rejected)) in curve.iter_mut().zip(scan) {
                p.match_known_accuracy += known;
                p.match_unknown_rejected += rejected;
            }
            matched += 1;
        }
        // The same estimate infer takes of a folder, on folders shaped like the draws.
        pair_median += median_pair_distance(xs.view()) / DRAWS as f32;
    }
    // Sums divided once, so that a perfect score in every draw stays exactly 1.
    for p in &mut curve {
        p.linkage_ari /= DRAWS as f64;
        p.cw_ari /= DRAWS as f64;
        p.dbscan_ari /= DRAWS as f64;
        p.match_known_accuracy /= matched.max(1) as f64;
        p.match_unknown_rejected /= matched.max(1) as f64;
    }
    let scan: Vec<(f64, f64)> = curve.iter().map(|p| (p.match_known_accuracy, p.match_unknown_rejected)).collect();
    let best = |score: fn(&CurvePoint) -> f64| curve.iter().fold(&curve[0], |b, p| if score(p) > score(b) { p } else { b }).threshold;
    Ok(Calibration {
        people,
        images: n,
        layer: readout.layer,
        flip: readout.flip,
        linkage_threshold: best(|p| p.linkage_ari),
        cw_threshold: best(|p| p.cw_ari),
        dbscan_eps: best(|p| p.dbscan_ari),
        match_tolerance: (matched > 0).then(|| curve[best_balanced(&scan)].threshold),
        pair_median,
        pair_quantiles: PAIR_QUANTILES.iter().map(|&q| quantile_or_nan(&all, q)).collect(),
        genuine_median: quantile_or_nan(&genuine, 0.5),
        impostor_median: quantile_or_nan(&impostor, 0.5),
        curve,
        whitening: Some(crate::project::whiten::fit(x.view())?),
    })
}

/// Rows of one draw: up to `cap` images of each person, chosen by `draw`, in row order.
fn capped_draw(person: &[usize], cap: usize, draw: u64) -> Vec<usize> {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    let mut by_person: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (row, &p) in person.iter().enumerate() {
        by_person.entry(p).or_default().push(row);
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(draw);
    let mut rows: Vec<usize> = by_person
        .into_values()
        .flat_map(|mut r| {
            r.shuffle(&mut rng);
            r.truncate(cap);
            r
        })
        .collect();
    rows.sort_unstable();
    rows
}

/// [`quantile`] of sorted values, NaN when there are none (a held-out set whose people
/// all have one image has no same-person pair).
fn quantile_or_nan(sorted: &[f32], q: f64) -> f32 {
    if sorted.is_empty() { f32::NAN } else { quantile(sorted, q) }
}

/// Embeds the held-out people's images with `model` read as `readout` and calibrates on them.
pub fn calibrate_model(
    model: &FaceNet,
    config: &ModelConfig,
    readout: Readout,
    held: &[HeldOut],
    device: &Device,
    progress: bool,
) -> Result<Calibration> {
    let mut folder = IdentityFolder {
        root: held.first().and_then(|h| h.paths.first()).and_then(|p| p.parent()).map(PathBuf::from).unwrap_or_default(),
        paths: Vec::new(),
        identity: Vec::new(),
        names: Vec::new(),
        labelled: true,
        skipped: Vec::new(),
    };
    for (i, h) in held.iter().enumerate() {
        folder.names.push(h.name.clone());
        folder.paths.extend(h.paths.iter().cloned());
        folder.identity.extend(std::iter::repeat_n(i, h.paths.len()));
    }
    let e = embed_folder(model, config, readout, &folder, device, crate::embed::DEFAULT_BATCH, progress)?;
    calibrate(e.matrix.view(), &e.identity, readout)
}

/// Calibrates `model` (the network of `ck`) on its held-out people `held` and stores the
/// result in the checkpoint (`calibration.json`).
pub fn calibrate_checkpoint(ck: &Checkpoint, model: &FaceNet, held: &[HeldOut], device: &Device, progress: bool) -> Result<Calibration> {
    let readout = Readout::for_config(&ck.config);
    let cal = calibrate_model(model, &ck.config.model, readout, held, device, progress)?;
    save(&ck.dir, &cal)?;
    Ok(cal)
}

/// The held-out people a checkpoint's training kept out (`metrics.json`), refused when
/// there are none to calibrate on.
pub fn held_out_people(ck: &Checkpoint) -> Result<Vec<HeldOut>> {
    let metrics: crate::train::TrainMetrics = ck.metrics()?;
    if metrics.held_out.is_empty() {
        return Err(Error::Checkpoint {
            path: ck.dir.join(crate::model::checkpoint::METRICS_FILE),
            reason: "no held-out people to calibrate on (train with [identity] holdout > 0)".into(),
        });
    }
    Ok(metrics.held_out)
}

/// The calibration file of `ck`, named in errors about it.
fn file_of(ck: &Checkpoint) -> PathBuf {
    ck.dir.join(CALIBRATION_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Layer;
    use crate::synthetic::blobs;

    #[test]
    fn the_calibrated_cuts_separate_two_synthetic_identities() {
        // Two tight people far apart on the unit sphere: every method's best cut lies
        // between the within-person and between-person distances and recovers them.
        let (x, truth) = blobs(2 * 12, 8, 2, 0.02, 4);
        let c = calibrate(x.view(), &truth, Readout { layer: Layer::Linear, flip: true }).unwrap();
        assert_eq!((c.people, c.images, c.flip), (2, 24, true));
        assert!(c.genuine_median < c.linkage_threshold && c.linkage_threshold < c.impostor_median, "{c:?}");
        let at = |t: f32| c.curve.iter().find(|p| p.threshold == t).unwrap();
        for t in [c.linkage_threshold, c.cw_threshold, c.dbscan_eps] {
            assert!(c.genuine_median < t && t < c.impostor_median, "{t}");
        }
        assert_eq!(at(c.linkage_threshold).linkage_ari, 1.0);
        assert_eq!(at(c.cw_threshold).cw_ari, 1.0);
        let p = at(c.linkage_threshold);
        assert_eq!((p.genuine_below, p.impostor_below), (1.0, 0.0));
        assert!(c.pair_quantiles.windows(2).all(|w| w[0] <= w[1]));
        let w = c.whitening.as_ref().unwrap();
        assert_eq!((w.mean.len(), w.axes.len()), (8, 8));
        // The simulated galleries' best tolerance names the known person and turns the
        // other away.
        let m = c.match_tolerance.unwrap();
        assert!(c.genuine_median < m && m < c.impostor_median, "{m}");
        assert_eq!((at(m).match_known_accuracy, at(m).match_unknown_rejected), (1.0, 1.0));
    }

    #[test]
    fn a_draw_caps_every_person_and_depends_only_on_its_number() {
        let person: Vec<usize> = (0..40).map(|i| if i < 30 { 0 } else { 1 + i % 2 }).collect();
        let a = capped_draw(&person, 4, 3);
        let count = |p: usize| a.iter().filter(|&&r| person[r] == p).count();
        assert_eq!((count(0), count(1), count(2)), (4, 4, 4));
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(a, capped_draw(&person, 4, 3));
        assert_ne!(a, capped_draw(&person, 4, 4));
    }

    #[test]
    fn one_person_is_not_enough_to_calibrate() {
        let (x, _) = blobs(10, 4, 1, 0.1, 1);
        assert!(matches!(calibrate(x.view(), &[0; 10], Readout::default()), Err(Error::Invalid(_))));
    }
}
