//! Run configuration: data, not constants. Read from TOML (`configs/*.toml`) or JSON,
//! overridden by command-line flags, then validated once ([`RunConfig::load`]); stored
//! as `config.json` in every checkpoint so `infer` can rebuild the same network. Every
//! default lives here.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::image::ImageSpec;

/// Everything needed to rebuild the architecture: a checkpoint stores this, and `infer`
/// builds the network from it before loading the weights.
/// Bounds that keep a typo from allocating the machine away before any check can speak:
/// far above anything this tool trains, far below what would exhaust memory.
pub const MAX_WIDTH: usize = 65_536;
pub const MAX_IMAGE_SIZE: usize = 1024;
pub const MAX_EPOCHS: usize = 100_000;
pub const MAX_BATCH: usize = 65_536;
/// Adam above this diverges on any network here; `inf` or `1e6` are typos.
pub const MAX_LEARNING_RATE: f64 = 1.0;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Output channels of each conv block (3×3 conv, ReLU, 2×2 max-pool).
    pub channels: Vec<usize>,
    /// Width of the penultimate fully connected layer: the embedding.
    pub embedding_size: usize,
    /// Images are resized to `image_size`×`image_size`.
    pub image_size: usize,
    /// 1 = grey (luminance), 3 = RGB.
    pub in_channels: usize,
    /// BatchNorm on the embedding, before its ReLU: a normalised-softmax identity head
    /// (CosFace) needs it to learn in a few epochs. Off in the face/non-face default and in
    /// every checkpoint written before it existed.
    #[serde(default)]
    pub embedding_norm: bool,
    /// BatchNorm after each conv block (its ReLU and pool): what lets a deeper identity
    /// network train at all under a margin softmax (run 3, docs/identity/).
    #[serde(default)]
    pub conv_norm: bool,
    /// A residual unit after each conv block (at its pooled size): two 3×3 convolutions
    /// with BatchNorm, ReLU between them, added to the block's output. Off in every
    /// checkpoint written before it existed.
    #[serde(default)]
    pub residual: bool,
}

impl Default for ModelConfig {
    /// The network of `configs/default.toml`.
    fn default() -> Self {
        ModelConfig {
            channels: vec![32, 64, 128],
            embedding_size: 128,
            image_size: 64,
            in_channels: 1,
            embedding_norm: false,
            conv_norm: false,
            residual: false,
        }
    }
}

impl ModelConfig {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_channels(self, channels: Vec<usize>) -> Self {
        ModelConfig { channels, ..self }
    }

    pub fn with_embedding_size(self, embedding_size: usize) -> Self {
        ModelConfig { embedding_size, ..self }
    }

    pub fn with_image_size(self, image_size: usize) -> Self {
        ModelConfig { image_size, ..self }
    }
}

impl ModelConfig {
    /// Rejects configs that cannot build a network, before any weight is allocated.
    pub fn validate(&self) -> Result<()> {
        let bad = |r: String| Err(Error::Invalid(format!("model config: {r}")));
        if self.channels.is_empty() || self.channels.contains(&0) {
            return bad(format!("channels must be non-empty and > 0, got {:?}", self.channels));
        }
        if self.embedding_size == 0 || self.embedding_size > MAX_WIDTH {
            return bad(format!("embedding_size must be in 1..={MAX_WIDTH}, got {}", self.embedding_size));
        }
        if self.channels.iter().any(|&c| c > MAX_WIDTH) || self.image_size > MAX_IMAGE_SIZE {
            return bad(format!("channels must be ≤ {MAX_WIDTH} and image_size ≤ {MAX_IMAGE_SIZE}"));
        }
        if !matches!(self.in_channels, 1 | 3) {
            return bad(format!("in_channels must be 1 (grey) or 3 (RGB), got {}", self.in_channels));
        }
        if self.feature_side() == 0 {
            return bad(format!("image_size {} is too small for {} pooling blocks", self.image_size, self.channels.len()));
        }
        Ok(())
    }

    /// Side of the feature map after the conv blocks (each halves it).
    pub fn feature_side(&self) -> usize {
        self.image_size >> self.channels.len()
    }

    pub fn image_spec(&self) -> ImageSpec {
        ImageSpec { size: self.image_size, channels: self.in_channels }
    }
}

/// How strong each change may be; 0 (or false) turns one off. Defaults are the usual
/// face-recognition ranges (and the PyTorch reference recipe's).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentConfig {
    /// Largest rotation, degrees either way.
    pub rotation: f64,
    /// Largest zoom, as a fraction either way (0.1: 90–110 %).
    pub scale: f64,
    /// Largest shift, as a fraction of the side either way.
    pub shift: f64,
    /// Largest brightness change, added (pixel values are in [0, 1]).
    pub brightness: f64,
    /// Largest contrast change, as a factor around the image mean (0.2: ×0.8–×1.2).
    pub contrast: f64,
    /// Largest gamma change (0.2: exponent 0.8–1.2).
    pub gamma: f64,
    /// Chance of erasing one rectangle (2–20 % of the image) to the image mean.
    pub erase: f64,
    /// Chance of turning an RGB image grey.
    pub greyscale: f64,
    /// Chance of a low-resolution copy: shrunk to 25–100 % of its side (area-averaged)
    /// and enlarged back, as a distant face or a poor camera gives. Off by default so that
    /// the checkpoints trained before it (which lack the field) read as they were trained.
    pub low_res: f64,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        AugmentConfig {
            rotation: 10.0,
            scale: 0.1,
            shift: 0.08,
            brightness: 0.2,
            contrast: 0.2,
            gamma: 0.2,
            erase: 0.25,
            greyscale: 0.1,
            low_res: 0.0,
        }
    }
}

impl AugmentConfig {
    /// Ranges must be non-negative numbers, chances in [0, 1], the warp bounded.
    pub fn validate(&self) -> Result<(), String> {
        let ranges = [self.rotation, self.scale, self.shift, self.brightness, self.contrast, self.gamma];
        if ranges.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
            return Err("augment: ranges must be numbers ≥ 0".into());
        }
        if ![self.erase, self.greyscale, self.low_res].iter().all(|p| (0.0..=1.0).contains(p)) {
            return Err("augment: erase, greyscale and low_res are chances in [0, 1]".into());
        }
        if self.scale >= 1.0 || self.contrast >= 1.0 || self.gamma >= 1.0 || self.rotation > 180.0 {
            return Err("augment: scale, contrast and gamma must be < 1 and rotation ≤ 180".into());
        }
        Ok(())
    }
}

/// The identity objective on the embedding.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum IdentityLoss {
    /// Supervised contrastive loss (Khosla et al. 2020) on the embedding after its ReLU,
    /// over batches of `people_per_batch` people × 2 images.
    #[default]
    Supcon,
    /// CosFace (Wang et al. 2018): a normalised margin softmax over every training
    /// identity, on the embedding before its ReLU (a ReLU would confine it to the positive
    /// orthant). Scales with identities: a person with one image is still a class.
    Cosface,
}

/// Optional second objective: teach the embedding to separate people, not only faces
/// from non-faces (the classifier alone clusters identities worse than raw pixels do).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// Folder `ROOT/<identity>/<image>`.
    pub data: PathBuf,
    /// More identity folders, pooled with `data`: one folder name is one person across
    /// all of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<PathBuf>,
    #[serde(default)]
    pub loss: IdentityLoss,
    /// Weight of the identity loss next to the face/non-face loss.
    pub weight: f64,
    /// SupCon: softmax temperature.
    #[serde(default = "default_temperature")]
    pub temperature: f64,
    /// SupCon: people per identity batch, two images each (people with ≥ 2 images).
    #[serde(default = "default_people_per_batch")]
    pub people_per_batch: usize,
    /// CosFace: scale s of the cosine logits.
    #[serde(default = "default_scale")]
    pub scale: f64,
    /// CosFace: margin m taken off the true class's cosine.
    #[serde(default = "default_margin")]
    pub margin: f64,
    /// CosFace: identity images per batch; an epoch is one pass over every identity image
    /// (the face/non-face batches cycle beside them).
    #[serde(default = "default_identity_batch")]
    pub batch_size: usize,
    /// Random changes to each identity image (`[identity.augment]`; absent: flips only,
    /// as `training.augment_flip` says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augment: Option<AugmentConfig>,
    /// People (with ≥ 2 images) kept out of training to calibrate the distance threshold
    /// on; listed in the checkpoint's metrics.json.
    #[serde(default)]
    pub holdout: usize,
    /// Drop identity images a face / non-face classifier doubts before training
    /// (`[identity.screen]`); the dropped ones are listed in the checkpoint's metrics.json.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screen: Option<ScreenConfig>,
}

/// P(face) below which `[identity.screen]` drops an identity image: the face head's own
/// decision boundary.
pub const DEFAULT_SCREEN_BELOW: f32 = 0.5;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScreenConfig {
    /// Checkpoint whose face head judges each image; it must read images as this run does.
    pub model: PathBuf,
    /// Images with P(face) below this are dropped.
    #[serde(default = "default_screen_below")]
    pub below: f32,
}

fn default_screen_below() -> f32 {
    DEFAULT_SCREEN_BELOW
}

fn default_temperature() -> f64 {
    0.1
}

fn default_people_per_batch() -> usize {
    32
}

/// CosFace's published s and m (also what the PyTorch reference recipe uses).
fn default_scale() -> f64 {
    30.0
}

fn default_margin() -> f64 {
    0.35
}

fn default_identity_batch() -> usize {
    128
}

impl IdentityConfig {
    /// Every identity folder: `data`, then `pools`.
    pub fn folders(&self) -> Vec<PathBuf> {
        std::iter::once(self.data.clone()).chain(self.pools.iter().cloned()).collect()
    }

    fn validate(&self) -> Result<()> {
        let bad = |r: &str| Err(Error::Invalid(format!("identity: {r}")));
        if !(self.weight.is_finite() && self.weight >= 0.0) {
            return bad("weight must be a number ≥ 0");
        }
        if let Some(a) = &self.augment {
            a.validate().map_err(Error::Invalid)?;
        }
        if self.screen.as_ref().is_some_and(|s| !(s.below > 0.0 && s.below < 1.0)) {
            return bad("screen.below must be a probability in (0, 1)");
        }
        match self.loss {
            IdentityLoss::Supcon if !(self.temperature > 0.0 && self.people_per_batch >= 2) => {
                bad("supcon needs temperature > 0 and people_per_batch ≥ 2")
            }
            IdentityLoss::Cosface
                if !(self.scale.is_finite() && self.scale > 0.0 && (0.0..1.0).contains(&self.margin) && self.batch_size >= 2) =>
            {
                bad("cosface needs scale > 0, margin in [0, 1) and batch_size ≥ 2")
            }
            _ => Ok(()),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainingConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// Share of each class held out for validation.
    pub val_fraction: f64,
    /// Random left–right flips of training images.
    pub augment_flip: bool,
    /// Seeds weight init, the split, shuffling and augmentation.
    pub seed: u64,
    /// Use at most this many images per class (0 = all); for quick runs.
    #[serde(default)]
    pub max_per_class: usize,
    #[serde(default)]
    pub lr_schedule: LrSchedule,
}

/// How the learning rate moves over a run.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    /// `learning_rate` throughout.
    #[default]
    Constant,
    /// Half a cosine from `learning_rate` at the first step down to 1 % of it at the last.
    Cosine,
}

impl LrSchedule {
    /// The rate at step `step` of `steps` (0-based) for base rate `lr`.
    pub fn rate(self, lr: f64, step: usize, steps: usize) -> f64 {
        match self {
            LrSchedule::Constant => lr,
            LrSchedule::Cosine => {
                let t = step as f64 / steps.saturating_sub(1).max(1) as f64;
                lr * (0.01 + 0.99 * 0.5 * (1.0 + (std::f64::consts::PI * t.min(1.0)).cos()))
            }
        }
    }
}

impl Default for TrainingConfig {
    fn default() -> Self {
        TrainingConfig {
            epochs: 12,
            batch_size: 64,
            learning_rate: 1e-3,
            val_fraction: 0.2,
            augment_flip: true,
            seed: 42,
            max_per_class: 0,
            lr_schedule: LrSchedule::Constant,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Checkpoint folder name under the checkpoint directory.
    pub name: String,
    /// Training folder with `face/` and `nonface/`.
    pub data: PathBuf,
    pub model: ModelConfig,
    pub training: TrainingConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityConfig>,
}

/// Command-line values that replace the file's (`facemb train` flags); None keeps the
/// file's value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides {
    pub embedding_size: Option<usize>,
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub learning_rate: Option<f64>,
    pub seed: Option<u64>,
    pub data: Option<PathBuf>,
    pub max_per_class: Option<usize>,
    pub name: Option<String>,
}

impl Overrides {
    fn is_empty(&self) -> bool {
        self == &Overrides::default()
    }
}

impl RunConfig {
    /// Reads `path`, applies `overrides`, and validates the result once: a file value
    /// that a flag replaces is never checked, and a bad flag value is an error naming it.
    pub fn load(path: &Path, overrides: &Overrides) -> Result<Self> {
        let mut cfg = Self::parse(path)?;
        cfg.apply(overrides);
        cfg.validate().and_then(|()| cfg.check_folders()).map_err(|e| Error::Config {
            path: path.into(),
            reason: if overrides.is_empty() { e.to_string() } else { format!("{e} (after the command-line overrides)") },
        })?;
        Ok(cfg)
    }

    /// The file as written, not validated.
    fn parse(path: &Path) -> Result<Self> {
        let text = crate::files::read_text(path)?;
        let cfg: RunConfig = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(|e| Error::Config { path: path.into(), reason: e.to_string() })?
        } else {
            toml::from_str(&text).map_err(|e| toml_error(path, &text, &e))?
        };
        Ok(cfg)
    }

    fn apply(&mut self, o: &Overrides) {
        let t = &mut self.training;
        o.embedding_size.inspect(|&v| self.model.embedding_size = v);
        o.epochs.inspect(|&v| t.epochs = v);
        o.batch_size.inspect(|&v| t.batch_size = v);
        o.learning_rate.inspect(|&v| t.learning_rate = v);
        o.seed.inspect(|&v| t.seed = v);
        o.max_per_class.inspect(|&v| t.max_per_class = v);
        if let Some(d) = &o.data {
            self.data = d.clone();
        }
        if let Some(n) = &o.name {
            self.name = n.clone();
        }
    }

    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        let t = &self.training;
        if t.epochs == 0 || t.batch_size == 0 {
            return Err(Error::Invalid("training: epochs and batch_size must be > 0".into()));
        }
        if !(0.0..1.0).contains(&t.val_fraction) {
            return Err(Error::Invalid(format!("training: val_fraction must be in [0, 1), got {}", t.val_fraction)));
        }
        if !(t.learning_rate > 0.0 && t.learning_rate <= MAX_LEARNING_RATE) {
            return Err(Error::Invalid(format!("training: learning_rate must be > 0 and ≤ {MAX_LEARNING_RATE}, got {}", t.learning_rate)));
        }
        if t.epochs > MAX_EPOCHS || t.batch_size > MAX_BATCH {
            return Err(Error::Invalid(format!("training: epochs must be ≤ {MAX_EPOCHS} and batch_size ≤ {MAX_BATCH}")));
        }
        if let Some(id) = &self.identity {
            id.validate()?;
        }
        if self.name.is_empty() || self.name == "." || self.name == ".." || self.name.contains(['/', '\\']) {
            return Err(Error::Invalid(format!("name must be a plain folder name, got {:?}", self.name)));
        }
        Ok(())
    }

    /// Refuses a folder named twice among `data` and the identity folders, by where it
    /// leads (`a`, `./a` and a link to it are one folder): a pool listed twice counts every
    /// image twice (and cuts calibration short), and the face / non-face folder read as a
    /// pool takes `face/` and `nonface/` for two people. Not part of [`RunConfig::validate`]:
    /// a checkpoint's config names folders as they were when it trained, not data to read.
    fn check_folders(&self) -> Result<()> {
        let Some(id) = &self.identity else { return Ok(()) };
        // A folder that cannot be resolved (missing) stays as written: loading it says so.
        let real = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let folders = id.folders();
        let data = real(&self.data);
        for (i, f) in folders.iter().enumerate() {
            let here = real(f);
            if here == data {
                return Err(Error::Invalid(format!(
                    "identity folder {} is the face / non-face folder {} (its face/ and nonface/ would train as two people)",
                    f.display(),
                    self.data.display()
                )));
            }
            if let Some(first) = folders[..i].iter().find(|g| real(g) == here) {
                return Err(Error::Invalid(format!(
                    "identity folder {} is listed twice ({} and {} are the same folder; every image would count twice)",
                    f.display(),
                    first.display(),
                    f.display()
                )));
            }
        }
        Ok(())
    }

    pub fn image_spec(&self) -> ImageSpec {
        self.model.image_spec()
    }

    /// Trained with a margin-softmax identity head: its embedding is meant to be read as
    /// a direction (before the ReLU, L2-normalised), not as the classifier's features.
    pub fn identity_trained(&self) -> bool {
        self.identity.as_ref().is_some_and(|i| i.loss == IdentityLoss::Cosface)
    }
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            name: "default".into(),
            data: PathBuf::from("datasets/face_nonface"),
            model: ModelConfig::new(),
            training: TrainingConfig::default(),
            identity: Some(IdentityConfig {
                data: PathBuf::from("datasets/lfw_train_identities"),
                pools: Vec::new(),
                loss: IdentityLoss::Supcon,
                weight: 1.0,
                temperature: 0.1,
                people_per_batch: 32,
                scale: default_scale(),
                margin: default_margin(),
                batch_size: default_identity_batch(),
                augment: None,
                holdout: 0,
                screen: None,
            }),
        }
    }
}

/// A TOML error on one line: "line N: message" (the `toml` crate's own text spans
/// several lines, with a drawing of the source).
pub fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> Error {
    let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    let message = e.message().trim().replace('\n', " ");
    let reason = match line {
        Some(l) => format!("line {l}: {message}"),
        None => message,
    };
    Error::Config { path: path.into(), reason }
}

/// The smallest face `detect` looks for, in pixels of face width (the framing box is
/// [`FRAMING_PER_FACE`] × that): dlib's HOG detector stops near 40 px, MTCNN's default 20.
pub const DEFAULT_MIN_FACE: f32 = 20.0;
/// Framing box side (the LFW crop of the training pools, 150 of the 250 px LFW photo)
/// per face width (about 100 px of it): what `--min-face` converts with.
pub const FRAMING_PER_FACE: f32 = 1.5;
/// A box is a face when the detector's probability is at least this. Chosen for the ready
/// detector-v2 on 100 test pictures of *training*-pool faces (`bench-detect --faces
/// lfw_train_identities --seed 2 --pictures 100`): precision 0.70 / 0.81 / 0.92 and recall
/// 0.76 / 0.76 / 0.74 at 0.3 / 0.5 / 0.8 (detector-v1 at its 0.95: 0.39 and 0.80). Mining
/// made the network sure of what it calls a face; at 0.95 detector-v2 loses the face of
/// 5.3 % of ordinary portrait photos (lfw_identities_photos), at 0.5 of 0.3 %.
pub const DEFAULT_FACE_SCORE: f32 = 0.5;

/// facemb's face detector (`facemb train-detector -c configs/detector.toml`): a small
/// fully convolutional network that, for every `window` × `window` grey window (stride
/// 2^(blocks − 1)) of every level of an image pyramid, says face or not and where the
/// face's framing box is and how it is turned. Trained on faces pasted into face-free
/// scenes (`crate::detect::scenes`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DetectorConfig {
    /// Checkpoint folder name.
    pub name: String,
    /// Face-free photos the faces are pasted into; one in five (by a hash of the file
    /// name) is kept for testing.
    pub scenes: PathBuf,
    /// Identity folders whose faces are pasted: training pools only, never the people a
    /// detector is tested on.
    pub faces: Vec<PathBuf>,
    /// At most this many faces are read, spread evenly over the folders' files.
    pub max_faces: usize,
    pub net: DetectorNetConfig,
    pub steps: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub seed: u64,
    /// Steps between saves of the resume state (and a line of progress).
    pub save_every: usize,
    /// A fine-tune of a trained detector on its own false detections (absent: trained
    /// from scratch on the compositor's windows alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mining: Option<MiningConfig>,
}

/// Hard negatives (`crate::detect::mine`): the detector `from` searches `pictures`
/// pieces of the training scenes, which hold no face, so everything it finds there is a
/// false detection; the run starts from `from`'s weights and draws `share` of every batch
/// from those windows.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MiningConfig {
    pub from: PathBuf,
    pub pictures: usize,
    pub share: f64,
}

/// The detector network: 3 × 3 valid convolutions with ReLU (each but the last followed
/// by a 2 × 2 max-pool), a convolution over what is left of the window to `head`
/// channels, and a 1 × 1 convolution to the six outputs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DetectorNetConfig {
    pub window: usize,
    pub channels: Vec<usize>,
    pub head: usize,
}

impl DetectorNetConfig {
    /// Side of the feature map a window leaves before the head (its kernel size).
    pub fn head_kernel(&self) -> usize {
        let mut side = self.window as isize;
        for i in 0..self.channels.len() {
            side -= 2;
            if i + 1 < self.channels.len() {
                side /= 2;
            }
        }
        side.max(0) as usize
    }

    /// Pixels between neighbouring windows when the network slides over an image.
    pub fn stride(&self) -> usize {
        1 << self.channels.len().saturating_sub(1)
    }
}

impl DetectorConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text = crate::files::read_text(path)?;
        let cfg: DetectorConfig = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(|e| Error::Config { path: path.into(), reason: e.to_string() })?
        } else {
            toml::from_str(&text).map_err(|e| Error::Config { path: path.into(), reason: e.to_string() })?
        };
        cfg.validate().map_err(|reason| Error::Config { path: path.into(), reason })?;
        Ok(cfg)
    }

    pub fn validate(&self) -> std::result::Result<(), String> {
        let n = &self.net;
        if n.channels.is_empty() || n.channels.iter().chain([&n.head]).any(|&c| c == 0 || c > MAX_WIDTH) {
            return Err(format!("net: channels and head must be in 1..={MAX_WIDTH}"));
        }
        if !(8..=MAX_IMAGE_SIZE).contains(&n.window) || n.head_kernel() == 0 {
            return Err(format!("net: window {} is too small for {} blocks", n.window, n.channels.len()));
        }
        if self.faces.is_empty() || self.max_faces == 0 {
            return Err("faces: at least one identity folder and max_faces ≥ 1".into());
        }
        if self.steps == 0 || self.steps > 10_000_000 || self.batch_size == 0 || self.batch_size > MAX_BATCH || self.save_every == 0 {
            return Err("steps, batch_size and save_every must be ≥ 1".into());
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= MAX_LEARNING_RATE) {
            return Err(format!("learning_rate must be in (0, {MAX_LEARNING_RATE}]"));
        }
        if let Some(m) = &self.mining {
            if m.pictures == 0 || m.pictures > 100_000 {
                return Err("mining.pictures must be in 1..=100000".into());
            }
            if !(m.share > 0.0 && m.share < 1.0) {
                return Err("mining.share must be between 0 and 1 (a share of each batch)".into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_toml() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/default.toml")
    }

    #[test]
    fn default_toml_is_the_documented_default() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/default.toml");
        let cfg = RunConfig::load(&p, &Overrides::default()).unwrap();
        assert_eq!(cfg, RunConfig::default());
        assert_eq!(cfg.model.channels, vec![32, 64, 128]);
        assert_eq!(cfg.image_spec(), ImageSpec { size: 64, channels: 1 });
    }

    #[test]
    fn a_checkpoint_config_from_before_embedding_norm_still_reads() {
        let old = r#"{"channels":[8,16],"embedding_size":12,"image_size":32,"in_channels":1}"#;
        let m: ModelConfig = serde_json::from_str(old).unwrap();
        assert_eq!(m, ModelConfig::new().with_channels(vec![8, 16]).with_embedding_size(12).with_image_size(32));
        assert!(
            serde_json::from_str::<ModelConfig>(r#"{"channels":[8],"embedding_size":1,"image_size":8,"in_channels":1,"x":1}"#).is_err()
        );
    }

    #[test]
    fn the_detector_configs_read_and_a_mining_share_outside_zero_to_one_is_refused() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let v2 = DetectorConfig::load(&root.join("configs/detector.toml")).unwrap();
        let m = v2.mining.as_ref().expect("the ready detector is a mined fine-tune");
        assert_eq!(m.from, Path::new("checkpoints/detector-v1"));
        // A checkpoint written before mining existed still reads, as not mined.
        let v1 = DetectorConfig::load(&root.join("checkpoints/detector-v1/detector.json")).unwrap();
        assert_eq!(v1.mining, None);
        assert_eq!(v1.net, v2.net);
        let tmp = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(root.join("configs/detector.toml")).unwrap();
        for bad in ["share = 1.0", "share = 0.0", "share = -0.1"] {
            let p = tmp.path().join("d.toml");
            std::fs::write(&p, text.replace("share = 0.25", bad)).unwrap();
            let e = DetectorConfig::load(&p).unwrap_err().to_string();
            assert!(e.contains("d.toml") && e.contains("mining.share"), "{bad}: {e}");
        }
    }

    #[test]
    fn bad_configs_name_the_file_and_the_problem() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("c.toml");
        let base = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/default.toml")).unwrap();
        std::fs::write(&p, base.replace("embedding_size = 128", "embedding_size = 128\nembeding = 3")).unwrap();
        let e = RunConfig::load(&p, &Overrides::default()).unwrap_err().to_string();
        assert!(e.contains("c.toml") && e.contains("embeding"), "{e}");
        std::fs::write(&p, base.replace("image_size = 64", "image_size = 4")).unwrap();
        let e = RunConfig::load(&p, &Overrides::default()).unwrap_err().to_string();
        assert!(e.contains("too small"), "{e}");
    }

    #[test]
    fn flags_replace_file_values_before_the_one_validation() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("c.toml");
        let base = std::fs::read_to_string(default_toml()).unwrap();
        // A file value that a flag replaces is never judged…
        std::fs::write(&p, base.replace("embedding_size = 128", "embedding_size = 0")).unwrap();
        assert!(RunConfig::load(&p, &Overrides::default()).unwrap_err().to_string().contains("embedding_size"));
        let o = Overrides { embedding_size: Some(24), epochs: Some(2), name: Some("x".into()), ..Overrides::default() };
        let cfg = RunConfig::load(&p, &o).unwrap();
        assert_eq!((cfg.model.embedding_size, cfg.training.epochs, cfg.name.as_str()), (24, 2, "x"));
        // …and a bad flag is judged after it is applied, naming the file it overrides.
        let o = Overrides { learning_rate: Some(-1.0), ..Overrides::default() };
        let e = RunConfig::load(&default_toml(), &o).unwrap_err().to_string();
        assert!(e.contains("learning_rate") && e.contains("default.toml") && e.contains("command-line"), "{e}");
        for (lr, shown) in [(f64::INFINITY, "inf"), (1e6, "1000000"), (f64::NAN, "NaN")] {
            let o = Overrides { learning_rate: Some(lr), ..Overrides::default() };
            let e = RunConfig::load(&default_toml(), &o).unwrap_err().to_string();
            assert!(e.contains("learning_rate") && e.contains(shown), "{e}");
        }
        for (o, word) in [
            (Overrides { embedding_size: Some(4_000_000_000), ..Overrides::default() }, "embedding_size"),
            (Overrides { epochs: Some(1_000_000), ..Overrides::default() }, "epochs"),
        ] {
            assert!(RunConfig::load(&default_toml(), &o).unwrap_err().to_string().contains(word), "{word}");
        }
        let o = Overrides { name: Some("a/b".into()), ..Overrides::default() };
        assert!(RunConfig::load(&default_toml(), &o).unwrap_err().to_string().contains("plain folder name"));
        for name in [".", ".."] {
            let o = Overrides { name: Some(name.into()), ..Overrides::default() };
            assert!(RunConfig::load(&default_toml(), &o).unwrap_err().to_string().contains("plain folder name"), "{name}");
        }
    }

    #[test]
    fn the_identity_config_reads_and_is_identity_trained() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/archive");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("identity") && n.ends_with(".toml"))
            .collect();
        names.sort();
        assert!(names.len() >= 6, "{names:?}");
        for name in &names {
            let cfg = RunConfig::load(&dir.join(name), &Overrides::default()).unwrap();
            assert!(cfg.identity_trained(), "{name}");
            assert_eq!(cfg.model.residual, name == "identity_residual.toml", "{name}");
        }
        assert!(!RunConfig::default().identity_trained(), "SupCon reads the classifier's features");
    }

    #[test]
    fn a_screen_threshold_must_be_a_probability() {
        let base = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/identity.toml")).unwrap();
        let with = |below: &str| {
            let tmp = tempfile::tempdir().unwrap();
            let p = tmp.path().join("c.toml");
            std::fs::write(&p, format!("{base}\n[identity.screen]\nmodel = \"checkpoints/identity-v6\"\n{below}")).unwrap();
            RunConfig::load(&p, &Overrides::default())
        };
        let cfg = with("").unwrap();
        assert_eq!(cfg.identity.unwrap().screen.map(|s| s.below), Some(DEFAULT_SCREEN_BELOW));
        for bad in ["below = 0.0", "below = 1.5", "below = nan"] {
            let e = with(bad).unwrap_err().to_string();
            assert!(e.contains("screen.below"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_cosine_schedule_falls_from_the_rate_to_one_percent_of_it() {
        let lr = 0.002;
        let rates: Vec<f64> = (0..100).map(|s| LrSchedule::Cosine.rate(lr, s, 100)).collect();
        assert!((rates[0] - lr).abs() < 1e-12 && (rates[99] - 0.01 * lr).abs() < 1e-12, "{} {}", rates[0], rates[99]);
        assert!(rates.windows(2).all(|w| w[1] < w[0]));
        assert!((rates[50] - lr * 0.5).abs() < 0.02 * lr, "half-way is about half: {}", rates[50]);
        assert!((0..100).all(|s| LrSchedule::Constant.rate(lr, s, 100) == lr));
        assert_eq!(LrSchedule::Cosine.rate(lr, 0, 1), lr, "a one-step run uses the rate");
    }
}
