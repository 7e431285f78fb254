//! `infer` and `pixels`: a folder's faces turned into vectors (by a checkpoint, or raw
//! pixels), clustered, scored, charted and written to a run folder.
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::backend::{self, Backend};
use crate::calibrate;
use crate::cluster;
use crate::detect::FacesMode;
use crate::embed::pixels::pixel_embeddings;
use crate::embed::{Readout, embed_folder};
use crate::error::{Error, Result};
use crate::evaluate::{EvalOptions, Scores};
use crate::files::Claims;
use crate::image::folder::{IdentityFolder, report_skipped};
use crate::model::Layer;
use crate::model::checkpoint::Checkpoint;
use crate::output::folders::ClusterFolders;
use crate::output::{self, Charts, OutDir};
use crate::progress::Reporter;
use crate::project::whiten;

/// Where a run's files go and what is drawn besides the vectors and scores.
#[derive(Clone, Debug, Default)]
pub struct Outputs {
    /// The run folder; None: [`output::default_dir`] under `results/<what>/`.
    pub out: Option<PathBuf>,
    pub charts: Charts,
    /// Keep the clusters as folders there (`--save-clusters`).
    pub save_clusters: Option<PathBuf>,
    /// Hard-link the kept images instead of copying.
    pub link: bool,
    /// Replace cluster folders facemb wrote there earlier.
    pub force: bool,
}

impl Outputs {
    /// The run folder of input `input` embedded by `what` (a checkpoint or pixel size name).
    pub fn dir(&self, what: &str, input: &Path) -> PathBuf {
        self.out.clone().unwrap_or_else(|| output::default_dir(&PathBuf::from("results").join(what), &folder_name(input), input))
    }

    /// The run folder `out` and the `--save-clusters` destination (when asked for), each
    /// checked against everything else the run reads (`inputs`, by flag) and writes, and
    /// locked, before any work.
    pub fn begin(&self, out: &Path, inputs: &[(&'static str, &Path)], reporter: Reporter) -> Result<OutDir> {
        let mut claims = inputs.iter().fold(Claims::new(), |c, (flag, p)| c.input(flag, p)).output("--out", out);
        if let Some(keep) = &self.save_clusters {
            claims = claims.output("--save-clusters", keep);
        }
        let keep = self.save_clusters.as_deref().map(|d| ClusterFolders::begin(d, &claims, self.link, self.force, reporter)).transpose()?;
        Ok(OutDir::begin_claimed(out, &claims, reporter)?.keeping(keep))
    }
}

/// How a folder is read and scored.
#[derive(Clone, Debug, Default)]
pub struct Evaluation {
    pub options: EvalOptions,
    /// L2-normalise before clustering: Some(given), or None for the embedder's default
    /// (on for identity-trained checkpoints, off for pixels); `options.normalize` is set from it.
    pub normalize: Option<bool>,
    /// Read every image below the folder as one unlabelled set.
    pub unlabelled: bool,
}

impl Evaluation {
    fn options(&self, default_normalize: bool) -> EvalOptions {
        EvalOptions { normalize: self.normalize.unwrap_or(default_normalize), ..self.options.clone() }
    }
}

/// `facemb infer`: a folder embedded by a checkpoint.
#[derive(Clone, Debug)]
pub struct Infer {
    pub input: PathBuf,
    /// Checkpoint folder, or the model file inside it.
    pub model: PathBuf,
    /// The embedding size the caller expects; an error when the checkpoint's differs.
    pub embedding_size: Option<usize>,
    /// Which side of the embedding's ReLU to read [default: the checkpoint's].
    pub layer: Option<Layer>,
    /// Average with the mirror image [default: on for identity-trained checkpoints].
    pub flip: Option<bool>,
    /// PCA-whiten with the held-out people's whitening.
    pub whiten: bool,
    pub evaluation: Evaluation,
    pub outputs: Outputs,
    pub backend: Backend,
    pub batch_size: usize,
    /// Photos or crops (`--faces`), and the detector for photos.
    pub faces: FacesMode,
    pub detector: PathBuf,
    pub reporter: Reporter,
}

/// A finished run: its scores and where its folder is.
pub struct Finished {
    pub scores: Scores,
    pub dir: PathBuf,
}

/// The checkpoint `model` names (the ready model is a folder by now: the command line
/// unpacked it, [`crate::files::Bundled`]).
pub fn open_model(model: &Path, reporter: Reporter) -> Result<Checkpoint> {
    Checkpoint::open(model, reporter)
}

/// The clustering defaults of `ck`'s calibration `c`, each carried to a folder by the
/// held-out distance scale.
fn calibrated_cuts(ck: &Checkpoint, c: &calibrate::Calibration) -> Result<cluster::Calibrated> {
    Ok(cluster::Calibrated {
        eps: c.dbscan_eps,
        cw_threshold: c.cw_threshold,
        link_threshold: c.linkage_threshold,
        pair_scale: c.scale(ck)?,
        graph: c.graph_reference(),
        origin: format!("{} held-out training people of {}", c.people, ck.dir.display()),
    })
}

/// The labelled folder of face crops `input` embedded by the checkpoint `model` as `infer`
/// embeds it with default flags (the checkpoint's readout, L2-normalised for an
/// identity-trained one), and the clustering parameters `infer` would use on it (its
/// calibrated cuts): what `bench-albums` clusters album by album.
pub fn embed_as_infer(
    model: &Path,
    input: &Path,
    backend: Backend,
    batch_size: usize,
    reporter: Reporter,
) -> Result<(crate::embed::Embeddings, cluster::Params)> {
    let ck = open_model(model, reporter)?;
    let readout = Readout::for_config(&ck.config);
    let normalize = ck.config.identity_trained();
    let mut params = cluster::Params::default();
    if let Some(c) = calibrate::load(&ck)?.filter(|c| normalize && c.layer == readout.layer && c.flip == readout.flip) {
        params.calibrated = Some(calibrated_cuts(&ck, &c)?);
    }
    let device = backend::device(backend)?;
    let net = ck.load_model(&device)?;
    let folder = IdentityFolder::scan(input)?;
    report_skipped(&input.display().to_string(), &folder.skipped, reporter);
    let mut emb = embed_folder(&net, &ck.config.model, readout, &folder, &device, batch_size, reporter.bars)?;
    if normalize {
        emb.matrix = crate::neighbors::l2_normalize(emb.matrix.view());
    }
    Ok((emb, params))
}

/// Embeds, clusters, scores, charts and writes the folder `job.input` ([`Infer`]).
pub fn infer(job: &Infer) -> Result<Finished> {
    let ck = open_model(&job.model, job.reporter)?;
    let mut opts = job.evaluation.options(ck.config.identity_trained());
    let default = Readout::for_config(&ck.config);
    let readout = Readout { layer: job.layer.unwrap_or(default.layer), flip: job.flip.unwrap_or(default.flip) };
    // The calibrated cuts and whitening hold for the vectors they were measured on:
    // normalised, read the same way (and, for the cuts, not whitened).
    let calibration = calibrate::load(&ck)?.filter(|c| opts.normalize && c.layer == readout.layer && c.flip == readout.flip);
    let whitening = if job.whiten { Some(calibrate::whitening(calibration.as_ref(), &ck)?) } else { None };
    if let Some(c) = calibration.filter(|_| whitening.is_none()) {
        opts.params.calibrated = Some(calibrated_cuts(&ck, &c)?);
    }
    let model_cfg = &ck.config.model;
    if let Some(e) = job.embedding_size.filter(|&e| e != model_cfg.embedding_size) {
        return Err(Error::Checkpoint {
            path: job.model.clone(),
            reason: format!("--embedding-size {e} does not match the checkpoint's embedding size {}", model_cfg.embedding_size),
        });
    }
    let device = backend::device(job.backend)?;
    let model = ck.load_model(&device)?;
    let out_dir = job.outputs.dir(&folder_name(&ck.dir), &job.input);
    let out = job.outputs.begin(&out_dir, &[("-id", &job.input), ("-m", &ck.dir)], job.reporter)?;
    let folder = scan(&job.input, job.evaluation.unlabelled, job.reporter)?;
    let folder = super::detect::faces_in(&job.input, folder, job.faces, &job.detector, job.reporter, &device)?;
    let started = Instant::now();
    let mut emb = embed_folder(&model, model_cfg, readout, &folder, &device, job.batch_size, job.reporter.bars)?;
    let secs = started.elapsed().as_secs_f64();
    job.reporter.note(format!(
        "embedded {} images in {secs:.1} s ({:.0} img/s, decoding included)",
        emb.paths.len(),
        emb.paths.len() as f64 / secs
    ));
    if let Some(w) = &whitening {
        emb.matrix = whiten::apply(w, emb.matrix.view(), whiten::SHRINK)?;
        job.reporter.note(format!(
            "whitened along {} axes fitted on {}'s held-out people; clustering cuts derived from this folder",
            w.axes.len(),
            ck.dir.display()
        ));
    }
    report_skipped("embedding", &emb.skipped[folder.skipped.len()..], job.reporter);
    let source = format!("cnn {}{}", ck.dir.display(), if whitening.is_some() { ", whitened" } else { "" });
    let scores = output::report_and_keep(&emb, &source, &job.input, &opts, &job.outputs.charts, out, Some(&ck.dir))?;
    Ok(Finished { scores, dir: out_dir })
}

/// `facemb pixels`: a folder's raw S×S grey pixels through the same evaluation.
#[derive(Clone, Debug)]
pub struct Pixels {
    pub input: PathBuf,
    /// S, the side the images are shrunk to.
    pub size: usize,
    pub evaluation: Evaluation,
    pub outputs: Outputs,
    pub reporter: Reporter,
}

/// The pixel baseline of the folder `job.input` ([`Pixels`]).
pub fn pixels(job: &Pixels) -> Result<Finished> {
    check_pixel_size(job.size)?;
    let opts = job.evaluation.options(false);
    let out_dir = job.outputs.dir(&format!("pixels-{}", job.size), &job.input);
    let out = job.outputs.begin(&out_dir, &[("-id", &job.input)], job.reporter)?;
    let folder = scan(&job.input, job.evaluation.unlabelled, job.reporter)?;
    let emb = pixel_embeddings(&folder, job.size, job.reporter.bars)?;
    report_skipped("embedding", &emb.skipped[folder.skipped.len()..], job.reporter);
    let source = format!("pixels {0}x{0}", job.size);
    let scores = output::report_and_keep(&emb, &source, &job.input, &opts, &job.outputs.charts, out, None)?;
    Ok(Finished { scores, dir: out_dir })
}

/// Refuses a pixel side that is 0 or larger than any image facemb reads.
pub fn check_pixel_size(size: usize) -> Result<()> {
    if size == 0 || size > crate::config::MAX_IMAGE_SIZE {
        return Err(Error::Invalid(format!("--image-size must be in 1..={}, got {size}", crate::config::MAX_IMAGE_SIZE)));
    }
    Ok(())
}

/// The folder `dir` scanned as identity folders (or, flat or with `unlabelled`, as one
/// unlabelled set), its skipped files reported through `reporter`.
pub fn scan(dir: &Path, unlabelled: bool, reporter: Reporter) -> Result<IdentityFolder> {
    let folder = if unlabelled { IdentityFolder::scan_unlabelled(dir)? } else { IdentityFolder::scan_any(dir, reporter)? };
    report_skipped(&dir.display().to_string(), &folder.skipped, reporter);
    Ok(folder)
}

/// The last component of `p` after resolving it (`.` names the current folder).
pub fn folder_name(p: &Path) -> String {
    p.canonicalize().ok().and_then(|c| c.file_name().map(|n| n.to_string_lossy().into_owned())).unwrap_or_else(|| "folder".into())
}
