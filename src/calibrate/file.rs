//! What calibration leaves in a checkpoint (`calibration.json`): the cuts, the match
//! tolerance and the distance scale measured on held-out people, read back by `infer`
//! and `match`. The type and its file live with the stage that measures them.
use std::path::Path;

use crate::error::{Error, Result};
use crate::files::{read_text, write_json_atomic};
use crate::model::checkpoint::{CALIBRATION_FILE, Checkpoint};
use crate::project::whiten::Whitening;

/// Quantile levels of the held-out pairwise distances kept in a calibration. 0.9 carries
/// graph linkage's cut (`cluster::graph_linkage::GRAPH_SCALE_QUANTILE`); calibrations made
/// before it have the first seven only.
pub const PAIR_QUANTILES: [f64; 8] = [0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9];

/// What `calibrate` measured on held-out people: distances are between L2-normalised
/// vectors read as `layer` / `flip` say.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct Calibration {
    pub people: usize,
    pub images: usize,
    pub layer: crate::model::Layer,
    pub flip: bool,
    /// Average-linkage cut with the best ARI on the held-out people.
    pub linkage_threshold: f32,
    /// Chinese-whispers edge threshold with the best ARI.
    pub cw_threshold: f32,
    /// DBSCAN radius (min_samples 3) with the best ARI.
    pub dbscan_eps: f32,
    /// `facemb match`'s default tolerance: the best balance of known accuracy and unknown
    /// rejection over the draws (None in calibrations made before `match` existed).
    #[serde(default)]
    pub match_tolerance: Option<f32>,
    /// Median distance between two held-out images (any two: nearly all are of different
    /// people), the mean over the calibration's draws. Kept for reading: the cuts and the
    /// match tolerance travel by a lower quantile (`cluster::SCALE_QUANTILE`).
    pub pair_median: f32,
    /// Quantiles ([`PAIR_QUANTILES`]) of all held-out pairwise distances; the
    /// `cluster::SCALE_QUANTILE` one carries the clustering cuts and the match tolerance
    /// to other folders.
    pub pair_quantiles: Vec<f32>,
    pub genuine_median: f32,
    pub impostor_median: f32,
    pub curve: Vec<CurvePoint>,
    /// PCA whitening fitted on the held-out vectors, for `infer --whiten` (None in
    /// calibrations made before it existed: `facemb calibrate` adds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whitening: Option<Whitening>,
}

impl Calibration {
    /// The held-out distance scale every calibrated value travels to other faces by
    /// (`cluster::SCALE_QUANTILE`), for `infer`'s cuts and `match`'s tolerance alike.
    pub fn scale(&self, ck: &Checkpoint) -> Result<f32> {
        self.pair_quantile(crate::cluster::SCALE_QUANTILE).ok_or_else(|| Error::Checkpoint {
            path: super::file_of(ck),
            reason: format!(
                "no {} quantile of held-out distances; run `facemb calibrate -m {}`",
                crate::cluster::SCALE_QUANTILE,
                ck.dir.display()
            ),
        })
    }

    /// What graph linkage reads off the held-out people: their
    /// `cluster::graph_linkage::GRAPH_SCALE_QUANTILE` distance and different-person median;
    /// None for a calibration made before graph linkage (no 0.9 quantile kept).
    pub fn graph_reference(&self) -> Option<crate::cluster::GraphReference> {
        let scale = self.pair_quantile(crate::cluster::graph_linkage::GRAPH_SCALE_QUANTILE)?;
        (scale > 0.0 && self.impostor_median.is_finite()).then_some(crate::cluster::GraphReference { scale, fill: self.impostor_median })
    }

    /// One line for the user: the cuts chosen and the ARI each reached on the held-out
    /// people, and the checkpoint folder `dir` they were written to.
    pub fn summary(&self, dir: &Path) -> String {
        let best = |t: f32, ari: fn(&CurvePoint) -> f64| self.curve.iter().find(|p| p.threshold == t).map_or(f64::NAN, ari);
        format!(
            "calibrated on {} held-out people ({} images): average-linkage cut {} (ARI {:.3}), chinese whispers {} (ARI {:.3}), DBSCAN eps {} (ARI {:.3}); written to {}",
            self.people,
            self.images,
            self.linkage_threshold,
            best(self.linkage_threshold, |p| p.linkage_ari),
            self.cw_threshold,
            best(self.cw_threshold, |p| p.cw_ari),
            self.dbscan_eps,
            best(self.dbscan_eps, |p| p.dbscan_ari),
            dir.join(CALIBRATION_FILE).display()
        )
    }

    /// The held-out distances' quantile at `level`, when it is one of [`PAIR_QUANTILES`].
    pub fn pair_quantile(&self, level: f64) -> Option<f32> {
        PAIR_QUANTILES.iter().position(|&q| q == level).and_then(|i| self.pair_quantiles.get(i).copied())
    }
}

/// One threshold of the calibration scan.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, Default, PartialEq)]
pub struct CurvePoint {
    pub threshold: f32,
    /// Share of same-person pairs closer than the threshold (true accepts).
    pub genuine_below: f64,
    /// Share of different-person pairs closer than it (false accepts).
    pub impostor_below: f64,
    /// ARI of each method at the threshold, the mean over the capped draws
    /// (`calibrate::PER_PERSON` images of each person, `calibrate::DRAWS` draws).
    pub linkage_ari: f64,
    pub cw_ari: f64,
    pub dbscan_ari: f64,
    /// `facemb match` simulated on the same draws (half the people known, one image of
    /// each a query; the other half unknown): known people named, and strangers turned
    /// away, at this tolerance. Absent from calibrations made before `match` existed.
    #[serde(default)]
    pub match_known_accuracy: f64,
    #[serde(default)]
    pub match_unknown_rejected: f64,
}

/// The checkpoint's calibration, when it has one.
pub fn load(ck: &Checkpoint) -> Result<Option<Calibration>> {
    let path = ck.dir.join(CALIBRATION_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let text = read_text(&path)?;
    serde_json::from_str(&text).map(Some).map_err(|e| Error::Checkpoint { path, reason: format!("invalid calibration ({e})") })
}

/// Writes `cal` into the checkpoint folder `dir`, replacing any earlier calibration whole.
pub fn save(dir: &Path, cal: &Calibration) -> Result<()> {
    write_json_atomic(&dir.join(CALIBRATION_FILE), cal)
}

/// The whitening `infer --whiten` applies: the one fitted on the held-out people (`c`,
/// the checkpoint's calibration when it holds for the vectors being read), which holds
/// only for vectors read and normalised as theirs were.
pub fn whitening(c: Option<&Calibration>, ck: &Checkpoint) -> Result<Whitening> {
    let path = super::file_of(ck);
    let reason = match c {
        Some(c) => match &c.whitening {
            Some(w) => return Ok(w.clone()),
            None => format!("no whitening fitted (made before --whiten existed); run `facemb calibrate -m {}`", ck.dir.display()),
        },
        None if path.is_file() => "--whiten needs L2-normalised vectors read with the calibration's --layer and flip".into(),
        None => format!("--whiten needs held-out people's whitening; none calibrated (run `facemb calibrate -m {}`)", ck.dir.display()),
    };
    Err(Error::Checkpoint { path, reason })
}
