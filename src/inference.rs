//! Embedding extraction: images of a clustering folder → penultimate-layer vectors.
use std::path::PathBuf;

use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::Array2;

use crate::data::{IdentityFolder, ImageSpec, Skipped, decode_all};
use crate::error::{Error, Result};
use crate::model::FaceNet;
use crate::training::to_vec;

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

pub fn progress_bar(len: usize, what: &str, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len as u64);
    pb.set_style(
        ProgressStyle::with_template(&format!("{what} [{{bar:30}}] {{pos}}/{{len}} images ({{per_sec}}, {{eta}})"))
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb
}

/// Decodes the folder batch by batch, feeding each batch through `embed_batch`, which turns
/// a flat CHW buffer of `n` images into `n` rows of width `dim` (plus optional P(face)).
/// Shared by the CNN and the pixel baseline. Decoding runs on its own thread (each batch
/// decoded in parallel) one batch ahead of the network, so the two overlap; only two
/// batches of pixels are ever held, whatever the folder's size.
pub fn embed_folder_with(
    folder: &IdentityFolder,
    spec: ImageSpec,
    batch_size: usize,
    dim: usize,
    progress: bool,
    mut embed_batch: impl FnMut(Vec<f32>, usize) -> Result<(Vec<f32>, Option<Vec<f32>>)>,
) -> Result<Embeddings> {
    let pb = progress_bar(folder.paths.len(), "embedding", progress);
    let mut rows = Vec::with_capacity(folder.paths.len() * dim);
    let (mut paths, mut identity, mut p_face) = (Vec::new(), Vec::new(), Vec::new());
    let mut has_p = false;
    let mut skipped = folder.skipped.clone();
    let batch_size = batch_size.max(1);
    std::thread::scope(|scope| -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        scope.spawn(move || {
            for (b, chunk) in folder.paths.chunks(batch_size).enumerate() {
                // A closed channel means the consumer stopped on an error: stop too.
                if tx.send((b, chunk, decode_all(chunk, spec))).is_err() {
                    break;
                }
            }
        });
        for (b, chunk, (data, kept, bad)) in rx {
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
        }
        Ok(())
    })?;
    pb.finish_and_clear();
    if paths.is_empty() {
        return Err(Error::Data { path: folder.root.clone(), reason: "none of the images could be read".into() });
    }
    let matrix = Array2::from_shape_vec((paths.len(), dim), rows)
        .map_err(|e| Error::Compute { what: "embedding matrix", reason: e.to_string() })?;
    Ok(Embeddings { matrix, paths, identity, names: folder.names.clone(), p_face: has_p.then_some(p_face), skipped })
}

/// Embeds every image of `folder` with the network: ReLU'd penultimate layer + P(face).
pub fn embed_folder(model: &FaceNet, spec: ImageSpec, folder: &IdentityFolder, device: &Device, batch_size: usize, progress: bool) -> Result<Embeddings> {
    let dim = model_dim(model, spec, device)?;
    embed_folder_with(folder, spec, batch_size, dim, progress, |data, n| {
        let x = Tensor::from_data(TensorData::new(data, [n, spec.channels, spec.size, spec.size]), device);
        let (e, logit) = model.forward_with_embedding(x);
        Ok((to_vec(e)?, Some(to_vec(sigmoid(logit))?)))
    })
}

/// Embedding width, read off the network itself rather than trusted from a flag.
fn model_dim(model: &FaceNet, spec: ImageSpec, device: &Device) -> Result<usize> {
    let x = Tensor::<4>::zeros([1, spec.channels, spec.size, spec.size], device);
    Ok(model.embed(x).dims()[1])
}
