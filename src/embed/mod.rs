//! Embedding extraction: the images of a folder → one vector each, from a checkpoint's
//! network ([`embed_folder`]: penultimate layer + P(face)) or from the pixels themselves
//! ([`pixels`], the baseline).
pub mod pixels;

use std::path::PathBuf;

use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use ndarray::Array2;

use crate::backend::to_vec;
use crate::config::{ModelConfig, RunConfig};
use crate::error::{Error, Result};
use crate::image::folder::IdentityFolder;
use crate::image::prefetch::decode_ahead;
use crate::image::{ImageSpec, Skipped, push_mirrored};
use crate::model::{FaceNet, Layer};
use crate::progress;

/// Images per network call unless the user says otherwise: enough work per call for the
/// fused kernel's threads, little memory whatever the folder's size.
pub const DEFAULT_BATCH: usize = 256;

/// N×E vectors of the images that decoded, with what is known about each row.
#[derive(Debug)]
pub struct Embeddings {
    pub matrix: Array2<f32>,
    pub paths: Vec<PathBuf>,
    /// Identity index (into `names`) of each row.
    pub identity: Vec<usize>,
    pub names: Vec<String>,
    /// Whether `names` are identities ([`crate::image::folder::IdentityFolder::labelled`]).
    pub labelled: bool,
    /// P(face) of each row when the vectors come from the classifier.
    pub p_face: Option<Vec<f32>>,
    /// Files found but not embedded (unreadable images and the folder scan's reports).
    pub skipped: Vec<Skipped>,
}

impl Embeddings {
    pub fn dim(&self) -> usize {
        self.matrix.ncols()
    }
}

/// Decodes the folder batch by batch, feeding each batch through `embed_batch`, which turns
/// a flat CHW buffer of `n` images into `n` rows of width `dim` (plus optional P(face)).
/// Shared by the CNN and the pixel baseline. Decoding runs ahead of the network on
/// background threads ([`decode_ahead`]); at most a few batches of pixels are held,
/// whatever the folder's size.
pub fn embed_folder_with(
    folder: &IdentityFolder,
    spec: ImageSpec,
    batch_size: usize,
    dim: usize,
    progress: bool,
    mut embed_batch: impl FnMut(Vec<f32>, usize) -> Result<(Vec<f32>, Option<Vec<f32>>)>,
) -> Result<Embeddings> {
    let pb = progress::bar(folder.paths.len(), "embedding [{bar:30}] {pos}/{len} images ({per_sec}, {eta})", progress);
    let mut rows = Vec::with_capacity(folder.paths.len() * dim);
    let (mut paths, mut identity, mut p_face) = (Vec::new(), Vec::new(), Vec::new());
    let mut has_p = false;
    let mut skipped = folder.skipped.clone();
    let batch_size = batch_size.max(1);
    decode_ahead(&folder.paths, spec, batch_size, |b, (data, kept, bad)| {
        let chunk = &folder.paths[b * batch_size..((b + 1) * batch_size).min(folder.paths.len())];
        skipped.extend(bad);
        if !kept.is_empty() {
            let (vecs, p) = embed_batch(data, kept.len())?;
            rows.extend_from_slice(&vecs);
            if let Some(p) = p {
                has_p = true;
                p_face.extend(p);
            }
            for &k in &kept {
                paths.push(chunk[k].clone());
                identity.push(folder.identity[b * batch_size + k]);
            }
        }
        pb.inc(chunk.len() as u64);
        Ok(())
    })?;
    pb.finish_and_clear();
    if paths.is_empty() {
        return Err(Error::Data { path: folder.root.clone(), reason: "none of the images could be read".into() });
    }
    let matrix =
        Array2::from_shape_vec((paths.len(), dim), rows).map_err(|e| Error::Compute { what: "embedding matrix", reason: e.to_string() })?;
    Ok(Embeddings {
        matrix,
        paths,
        identity,
        names: folder.names.clone(),
        labelled: folder.labelled,
        p_face: has_p.then_some(p_face),
        skipped,
    })
}

/// How a face becomes its vector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Readout {
    /// Which side of the penultimate layer's ReLU.
    pub layer: Layer,
    /// Average the vector with the mirrored face's (P(face) stays the face's own).
    pub flip: bool,
}

impl Readout {
    /// How a checkpoint built from `cfg` is read unless the user says otherwise. An
    /// identity-trained network: before the ReLU (the vector its CosFace head trained on)
    /// and flip-averaged, the best reading on all three evaluation folders
    /// (docs/identity/README.md). The plain classifier: after the ReLU, as its head reads it.
    pub fn for_config(cfg: &RunConfig) -> Self {
        if cfg.identity_trained() { Readout { layer: Layer::Linear, flip: true } } else { Readout::default() }
    }
}

/// Embeds every image of `folder` with `model`, built from `config`: the penultimate layer
/// (`config.embedding_size` wide) read as `readout` says, and P(face).
pub fn embed_folder(
    model: &FaceNet,
    config: &ModelConfig,
    readout: Readout,
    folder: &IdentityFolder,
    device: &Device,
    batch_size: usize,
    progress: bool,
) -> Result<Embeddings> {
    let spec = config.image_spec();
    embed_folder_with(folder, spec, batch_size, config.embedding_size, progress, |data, n| {
        let (e, p) = embed_batch(model, spec, readout, device, data, n)?;
        Ok((e, Some(p)))
    })
}

/// `n` decoded images (flat CHW) → their vectors (n × E, row-major) and P(face).
pub fn embed_batch(
    model: &FaceNet,
    spec: ImageSpec,
    readout: Readout,
    device: &Device,
    data: Vec<f32>,
    n: usize,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let shape = [n, spec.channels, spec.size, spec.size];
    let mirrored = readout.flip.then(|| {
        let mut m = Vec::with_capacity(data.len());
        for image in data.chunks_exact(spec.len()) {
            push_mirrored(image, spec.size, &mut m);
        }
        m
    });
    let (e, logit) = model.forward_at(Tensor::from_data(TensorData::new(data, shape), device), readout.layer);
    let mut e = to_vec(e)?;
    if let Some(m) = mirrored {
        // P(face) is the face's own: the mirror needs no face head.
        let em = model.embed_at(Tensor::from_data(TensorData::new(m, shape), device), readout.layer);
        for (a, b) in e.iter_mut().zip(to_vec(em)?) {
            *a = 0.5 * (*a + b);
        }
    }
    Ok((e, to_vec(sigmoid(logit))?))
}

/// What turns faces into vectors for `match`: a checkpoint's network read as its
/// [`Readout`], or raw pixels; vectors L2-normalised or not.
pub enum Embedder {
    Network {
        model: Box<FaceNet>,
        config: ModelConfig,
        readout: Readout,
        device: Device,
        batch_size: usize,
        /// The checkpoint as the user named it.
        name: String,
        /// FNV-1a of the weight file's bytes: a gallery is matched only against the same weights.
        weights: u64,
    },
    Pixels {
        size: usize,
    },
}

impl Embedder {
    /// The vectors of every image of `folder`, normalised when `normalize` says.
    pub fn embed(&self, folder: &IdentityFolder, normalize: bool, progress: bool) -> Result<Embeddings> {
        let mut e = match self {
            Embedder::Network { model, config, readout, device, batch_size, .. } => {
                embed_folder(model, config, *readout, folder, device, *batch_size, progress)?
            }
            Embedder::Pixels { size } => pixels::pixel_embeddings(folder, *size, progress)?,
        };
        if normalize {
            e.matrix = crate::neighbors::l2_normalize(e.matrix.view());
        }
        Ok(e)
    }

    /// "cnn <checkpoint>" or "pixels SxS", as the scores name their source.
    pub fn description(&self) -> String {
        match self {
            Embedder::Network { name, .. } => format!("cnn {name}"),
            Embedder::Pixels { size } => format!("pixels {size}x{size}"),
        }
    }

    /// What two runs must share for their vectors to be compared.
    pub fn fingerprint(&self) -> String {
        match self {
            Embedder::Network { readout, weights, .. } => {
                format!("weights {weights:016x}, {:?} layer{}", readout.layer, if readout.flip { ", flip-averaged" } else { "" })
            }
            Embedder::Pixels { size } => format!("pixels {size}x{size}"),
        }
    }

    pub fn dim(&self) -> usize {
        match self {
            Embedder::Network { config, .. } => config.embedding_size,
            Embedder::Pixels { size } => size * size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Backend, device};

    #[test]
    fn flip_averaging_leaves_a_symmetric_face_alone_and_changes_an_asymmetric_one() {
        let dev = device(Backend::Flex).unwrap();
        let cfg = ModelConfig::new().with_channels(vec![4, 8]).with_embedding_size(6).with_image_size(8);
        let model = cfg.init(&dev);
        let spec = cfg.image_spec();
        // Two images: one whose rows are palindromes, one a ramp (its mirror differs).
        let symmetric: Vec<f32> = (0..64).map(|i| ((i / 8) as f32 + (3.5 - ((i % 8) as f32 - 3.5).abs())) / 12.0).collect();
        let ramp: Vec<f32> = (0..64).map(|i| (i % 8) as f32 / 8.0).collect();
        let data: Vec<f32> = symmetric.iter().chain(&ramp).copied().collect();
        for layer in [Layer::Relu, Layer::Linear] {
            let plain = Readout { layer, flip: false };
            let (e, p) = embed_batch(&model, spec, plain, &dev, data.clone(), 2).unwrap();
            let (f, q) = embed_batch(&model, spec, Readout { layer, flip: true }, &dev, data.clone(), 2).unwrap();
            assert_eq!(&e[..6], &f[..6], "{layer:?}: a symmetric face is its own mirror");
            assert_ne!(&e[6..], &f[6..], "{layer:?}: the ramp's mirror is another image");
            assert_eq!(p, q, "P(face) is the face's own");
            // Averaging is symmetric: the mirrored ramp gets the same vector.
            let mut mirrored = symmetric.clone();
            push_mirrored(&ramp, 8, &mut mirrored);
            let (g, _) = embed_batch(&model, spec, Readout { layer, flip: true }, &dev, mirrored, 2).unwrap();
            assert!(f[6..].iter().zip(&g[6..]).all(|(a, b)| (a - b).abs() < 1e-6));
        }
    }
}
