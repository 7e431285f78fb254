//! Faces in photos: facemb's own detector. A small fully convolutional network
//! ([`net`]) trained on faces of the training pools pasted into face-free scenes
//! ([`scenes`], [`train`]) finds every face of a photo over an image pyramid ([`find`])
//! as the framing box the identity model was trained on (the pools' LFW crop), turned by
//! the face's in-plane angle; [`Detector::crop`] cuts each face out upright in exactly
//! that framing (a similarity transform), ready for the identity model.
pub mod find;
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

/// The detector committed with the code (`checkpoints/detector-v1`, trained by
/// configs/detector.toml): what `detect` and `infer` use when no `--detector` is given.
/// Compiled in and unpacked to the cache like the ready identity model.
pub const READY_DETECTOR: Bundled = crate::files::bundle!("checkpoints", "detector-v1"; "detector.json", "metrics.json", "model.bpk");

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
