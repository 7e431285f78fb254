//! Faces in photos: facemb's own detector. A small fully convolutional network
//! ([`net`]) trained on faces of the training pools pasted into face-free scenes
//! ([`scenes`], [`train`]) finds every face of a photo over an image pyramid ([`find`])
//! as the framing box the identity model was trained on (the pools' LFW crop), turned by
//! the face's in-plane angle; [`Detector::crop`] cuts each face out upright in exactly
//! that framing (a similarity transform), ready for the identity model.
pub mod find;
pub mod mine;
pub mod net;
pub mod photo;
pub mod scenes;
pub mod train;

use std::path::{Path, PathBuf};

use burn::prelude::*;
use serde::{Deserialize, Serialize};

pub use crate::config::DetectorConfig;
pub use find::{Search, find_faces};
pub use net::DetectorNet;
use photo::{Mip, Plane};

use crate::error::{Error, Result};
use crate::files::{Bundled, check_regular, read_text};

pub const MODEL_FILE: &str = "model.bpk";
pub const CONFIG_FILE: &str = "detector.json";
pub const METRICS_FILE: &str = "metrics.json";

/// The detector committed with the code (`checkpoints/detector-v2`, trained by
/// configs/detector.toml): what `detect` and `infer` use when no `--detector` is given.
/// Compiled in and unpacked to the cache like the ready identity model.
pub const READY_DETECTOR: Bundled = crate::files::bundle!("checkpoints", "detector-v2"; "detector.json", "metrics.json", "model.bpk");

/// Side of the crops `detect` writes: the pools' 112 px.
pub const CROP_SIDE: usize = 112;

/// What the images of a folder are, for `infer --faces`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FacesMode {
    /// Decided per folder from a sample of its images, and printed with the reason.
    #[default]
    Auto,
    /// Photos: find and align every face first.
    Detect,
    /// Face crops already in the identity model's framing: read as they are.
    Crops,
}

/// Images [`decide`] looks at.
const DECIDE_SAMPLE: usize = 12;
/// A found face whose framing box is at most this share of the image's shorter side is a
/// face *in* a photo, not a crop that is the face.
const SMALLER_THAN_IMAGE: f32 = 0.75;

/// Whether the images `paths` are photos to detect faces in or crops: photos when at
/// least two thirds of an even sample of them hold a face clearly smaller than the image.
/// Crops otherwise — also when the detector finds nothing — so a crop folder is never
/// sent through a detector by chance. Returns the decision and its reason.
pub fn decide(det: &Detector, paths: &[PathBuf], device: &Device) -> (FacesMode, String) {
    let n = paths.len().min(DECIDE_SAMPLE);
    let (mut read, mut inside) = (0, 0);
    for i in 0..n {
        let Ok((photo, scale)) = photo::read_photo(&paths[i * paths.len() / n]) else { continue };
        read += 1;
        let search = Search { min_face: crate::config::DEFAULT_MIN_FACE, score: crate::config::DEFAULT_FACE_SCORE }.at_scale(scale);
        let side = photo.width.min(photo.height) as f32;
        inside += usize::from(det.faces(&photo, search, device).first().is_some_and(|f| f.size <= SMALLER_THAN_IMAGE * side));
    }
    let why = format!("{inside} of {read} sampled images hold a face smaller than the picture");
    if read > 0 && 3 * inside >= 2 * read { (FacesMode::Detect, why) } else { (FacesMode::Crops, why) }
}

/// One face found in a photo: the centre and side of its framing box, in the photo's
/// pixels, the box's turn (radians, clockwise on screen: the face is upright after
/// turning back by it) and the detector's probability.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct Face {
    pub cx: f32,
    pub cy: f32,
    pub size: f32,
    pub angle: f32,
    pub score: f32,
}

impl Face {
    /// The face in a copy of its photo scaled by `by`.
    pub fn scaled(self, by: f32) -> Face {
        Face { cx: self.cx * by, cy: self.cy * by, size: self.size * by, ..self }
    }

    /// How much this face looks like the subject of a `width` × `height` photo of one
    /// person: confident, large and, a little, central —
    /// logit(score) + 4 ln(size) − 10 · (distance from the centre / the photo's diagonal).
    /// A face in a corner must be e^(5/4) ≈ 3.5 times as large as a centred one of the same
    /// score to win. Measured against the nearest-to-centre rule, with the right face taken as
    /// the one at the photo's centre (LFW) or at the centre of the pasted photo (off-centre):
    /// 3 705 `lfw_identities_photos` photos with a face: 98.6 % right (centre rule 99.3 %);
    /// 120 of them pasted off-centre into 640 × 480 test scenes (`offcentre.py`): 95.8 %
    /// right, where the centre rule picks a false detection in the scene most of the time
    /// (automatic ARI 0.018). Score alone: 97.3 % / 94.2 %; size alone 98.6 % / 92.5 %.
    pub fn prominence(&self, width: usize, height: usize) -> f32 {
        let p = self.score.clamp(1e-6, 1.0 - 1e-6);
        let (w, h) = (width as f32, height as f32);
        let off_centre = (self.cx - w / 2.0).hypot(self.cy - h / 2.0) / w.hypot(h).max(1.0);
        (p / (1.0 - p)).ln() + 4.0 * self.size.max(1e-3).ln() - 10.0 * off_centre
    }

    /// The four corners of its turned box, clockwise from the top left.
    pub fn corners(&self) -> [(f32, f32); 4] {
        let (sin, cos) = self.angle.sin_cos();
        let h = self.size / 2.0;
        [(-h, -h), (h, -h), (h, h), (-h, h)].map(|(dx, dy)| (self.cx + cos * dx - sin * dy, self.cy + sin * dx + cos * dy))
    }
}

/// A detector checkpoint, loaded: its config and network.
pub struct Detector {
    pub dir: PathBuf,
    pub config: DetectorConfig,
    pub net: DetectorNet,
}

impl Detector {
    /// Reads the checkpoint folder `dir` (`detector.json` + `model.bpk`) onto `device`,
    /// with the same checks as the identity model's: each file must be a regular file,
    /// the config must validate, and the weights must fit it.
    pub fn open(dir: &Path, device: &Device) -> Result<Self> {
        let bad = |reason: String| Error::Checkpoint { path: dir.to_path_buf(), reason };
        if !dir.is_dir() {
            return Err(bad("not a detector checkpoint folder (no such folder)".into()));
        }
        let cfg_path = dir.join(CONFIG_FILE);
        check_regular(&cfg_path, false).map_err(|e| bad(format!("cannot read {CONFIG_FILE}: {e}")))?;
        let config: DetectorConfig = serde_json::from_str(&read_text(&cfg_path)?).map_err(|e| bad(format!("{CONFIG_FILE}: {e}")))?;
        config.validate().map_err(|e| bad(format!("{CONFIG_FILE}: {e}")))?;
        let model = dir.join(MODEL_FILE);
        check_regular(&model, false).map_err(|e| bad(format!("cannot read {MODEL_FILE}: {e}")))?;
        let net =
            config.net.init(device).try_load_file(&model).map_err(|e| bad(format!("{MODEL_FILE} does not fit {CONFIG_FILE}: {e}")))?;
        Ok(Detector { dir: dir.to_path_buf(), config, net })
    }

    /// Every face of `photo` (RGB or grey, any size), best first, in its pixels.
    pub fn faces(&self, photo: &Plane, search: Search, device: &Device) -> Vec<Face> {
        find_faces(self, &Mip::new(photo.grey()), search, device)
    }

    /// `face` cut out of `photo` upright in the identity model's framing, `CROP_SIDE`
    /// pixels a side, with `photo`'s channels.
    pub fn crop(photo: &Mip, face: &Face) -> Plane {
        find::window_of(photo, face, CROP_SIDE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(cx: f32, cy: f32, size: f32, score: f32) -> Face {
        Face { cx, cy, size, angle: 0.0, score }
    }

    #[test]
    fn a_photos_subject_is_its_confident_large_face_wherever_it_is() {
        // A 640 × 480 scene with the person in a corner and a small sure false face at the centre.
        let person = face(100.0, 90.0, 110.0, 0.999);
        let false_face = face(320.0, 240.0, 30.0, 0.99);
        assert!(person.prominence(640, 480) > false_face.prominence(640, 480));
        // Of two faces alike, the central one; of two at one place, the surer.
        let (centre, side) = (face(75.0, 75.0, 80.0, 0.99), face(20.0, 75.0, 80.0, 0.99));
        assert!(centre.prominence(150, 150) > side.prominence(150, 150));
        assert!(face(75.0, 75.0, 80.0, 0.999).prominence(150, 150) > centre.prominence(150, 150));
        // A score of exactly 1 or 0 stays finite.
        assert!(face(1.0, 1.0, 20.0, 1.0).prominence(10, 10).is_finite());
        assert!(face(1.0, 1.0, 20.0, 0.0).prominence(10, 10).is_finite());
    }
}
