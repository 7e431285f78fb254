//! Embedding extraction: the images of a folder → one vector each, from a checkpoint's
//! network ([`embed_folder`]: penultimate layer + P(face)) or from the pixels themselves
//! ([`pixels`], the baseline).
pub mod pixels;

use std::path::PathBuf;

use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use ndarray::Array2;

use crate::backend::to_vec;
use crate::config::ModelConfig;
use crate::error::{Error, Result};
use crate::image::folder::IdentityFolder;
use crate::image::prefetch::decode_ahead;
use crate::image::{ImageSpec, Skipped};
use crate::model::FaceNet;
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
    Ok(Embeddings { matrix, paths, identity, names: folder.names.clone(), p_face: has_p.then_some(p_face), skipped })
}

/// Embeds every image of `folder` with `model`, built from `config`: ReLU'd penultimate
/// layer (`config.embedding_size` wide) + P(face).
pub fn embed_folder(
    model: &FaceNet,
    config: &ModelConfig,
    folder: &IdentityFolder,
    device: &Device,
    batch_size: usize,
    progress: bool,
) -> Result<Embeddings> {
    let spec = config.image_spec();
    embed_folder_with(folder, spec, batch_size, config.embedding_size, progress, |data, n| {
        let (e, p) = embed_batch(model, spec, device, data, n)?;
        Ok((e, Some(p)))
    })
}

/// `n` decoded images (flat CHW) → their embeddings (n × E, row-major) and P(face).
pub fn embed_batch(model: &FaceNet, spec: ImageSpec, device: &Device, data: Vec<f32>, n: usize) -> Result<(Vec<f32>, Vec<f32>)> {
    let x = Tensor::from_data(TensorData::new(data, [n, spec.channels, spec.size, spec.size]), device);
    let (e, logit) = model.forward_with_embedding(x);
    Ok((to_vec(e)?, to_vec(sigmoid(logit))?))
}
