//! `match`: the faces of a folder named after a gallery of known people, or unknown.
//! Picks the tolerance, builds (or reads) and saves the gallery, maps the queries' folder
//! names to gallery people for the scores, and writes the run folder.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::infer::{check_pixel_size, folder_name, open_model, scan};
use crate::backend::{self, Backend};
use crate::calibrate;
use crate::detect::FacesMode;
use crate::embed::{Embedder, Embeddings, Readout};
use crate::error::{Error, Result};
use crate::files::Claims;
use crate::identify::{self, Gallery, Source, Vote, tolerance};
use crate::image::folder::{IdentityFolder, report_skipped};
use crate::output::MatchSummary;
use crate::output::matches::{self, MatchRun};
use crate::output::{self, OutDir};
use crate::progress::Reporter;

/// `facemb match`.
#[derive(Clone, Debug)]
pub struct Match {
    /// Known people: a folder ROOT/<name>/<image>, or a gallery file.
    pub gallery: PathBuf,
    /// Faces to name (their folder names, when they have them, only score the result).
    pub query: PathBuf,
    pub model: PathBuf,
    /// Match raw S×S pixels instead of the model's vectors.
    pub pixels: Option<usize>,
    pub k: usize,
    pub vote: Vote,
    /// Distance beyond which a face is unknown [default: calibrated, else from the gallery].
    pub tolerance: Option<f32>,
    pub save_gallery: Option<PathBuf>,
    /// Replace a saved gallery of other people or another model.
    pub force: bool,
    pub unlabelled: bool,
    pub out: Option<PathBuf>,
    pub montage: bool,
    pub report: bool,
    pub batch_size: usize,
    /// Photos or crops (`--faces`), for the gallery folder and the queries alike, and the
    /// detector for photos.
    pub faces: FacesMode,
    pub detector: PathBuf,
    pub backend: Backend,
    pub reporter: Reporter,
}

/// A calibrated tolerance: its value, the held-out distance scale it travels by, and
/// where it came from.
type CalibratedTolerance = (f32, f32, String);

/// The embedder `job` asks for, whether its vectors are compared normalised, the
/// checkpoint's calibrated tolerance when it has one that holds for them, and the
/// checkpoint folder when a network embeds.
fn embedder(job: &Match) -> Result<(Embedder, bool, Option<CalibratedTolerance>, Option<PathBuf>)> {
    if let Some(size) = job.pixels {
        check_pixel_size(size)?;
        return Ok((Embedder::Pixels { size }, false, None, None));
    }
    let ck = open_model(&job.model, job.reporter)?;
    let readout = Readout::for_config(&ck.config);
    let normalize = ck.config.identity_trained();
    let calibration = calibrate::load(&ck)?.filter(|c| normalize && c.layer == readout.layer && c.flip == readout.flip);
    let calibrated = match calibration {
        Some(c) => match c.match_tolerance {
            Some(t) => Some((t, c.scale(&ck)?, format!("{} held-out training people of {}", c.people, ck.dir.display()))),
            None => None,
        },
        None => None,
    };
    crate::files::check_regular(&ck.model_file, false)?;
    let bytes = std::fs::read(&ck.model_file).map_err(|e| Error::io(&ck.model_file, e))?;
    let device = backend::device(job.backend)?;
    let model = Box::new(ck.load_model(&device)?);
    let name = ck.dir.display().to_string();
    let (config, weights) = (ck.config.model.clone(), crate::files::fnv1a(bytes));
    let embedder = Embedder::Network { model, config, readout, device, batch_size: job.batch_size, name, weights };
    Ok((embedder, normalize, calibrated, Some(ck.dir)))
}

/// The gallery `job` names: a saved file (made the same way as `source`), or a folder
/// of known people embedded now.
fn gallery(job: &Match, embedder: &Embedder, source: &Source, normalize: bool) -> Result<Gallery> {
    if job.gallery.is_file() {
        let g = Gallery::load(&job.gallery)?;
        g.source.check(source, &job.gallery)?;
        return Ok(g);
    }
    let folder = faces(job, &job.gallery, false)?;
    if !folder.labelled {
        return Err(Error::Data {
            path: job.gallery.clone(),
            reason: "a gallery needs one sub-folder per known person (ROOT/<name>/<image>)".into(),
        });
    }
    let emb = embedder.embed(&folder, normalize, job.reporter.bars)?;
    report_skipped("gallery", &emb.skipped[folder.skipped.len()..], job.reporter);
    let (g, missing) = Gallery::from_embeddings(&emb, source.clone());
    for name in missing {
        job.reporter.warn(format!("gallery person {name} has no usable image; left out"));
    }
    Ok(g)
}

/// The faces of the folder `dir`: its images, or the faces found in its photos
/// (`--faces`, as `infer` reads them).
fn faces(job: &Match, dir: &Path, unlabelled: bool) -> Result<IdentityFolder> {
    let folder = scan(dir, unlabelled, job.reporter)?;
    let device = backend::device(job.backend)?;
    super::detect::faces_in(dir, folder, job.faces, &job.detector, job.reporter, &device)
}

/// Takes the gallery's own faces out of the queries (`-q` is the gallery, or holds some
/// of its files): each would match itself at distance 0 and score a perfect, meaningless
/// result. Says how many; refuses when nothing is left to match.
fn leave_out_gallery_faces(folder: &mut IdentityFolder, gallery: &Gallery, query: &Path, reporter: Reporter) -> Result<()> {
    let same = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let known: std::collections::HashSet<PathBuf> = gallery.paths.iter().map(|p| same(p)).collect();
    let keep: Vec<bool> = folder.paths.iter().map(|p| !known.contains(&same(p))).collect();
    let dropped = keep.iter().filter(|k| !**k).count();
    if dropped == 0 {
        return Ok(());
    }
    if dropped == keep.len() {
        return Err(Error::Data {
            path: query.to_path_buf(),
            reason: "every query face is a gallery face (-q is the gallery): nothing to match; give faces the gallery does not hold".into(),
        });
    }
    reporter.note(format!(
        "note: {}: {} of the queries are gallery faces themselves (they would match at distance 0); left out of the matching and the scores",
        query.display(),
        output::table::count(dropped, "face")
    ));
    let mut k = keep.iter();
    folder.paths.retain(|_| *k.next().unwrap_or(&true));
    let mut k = keep.iter();
    folder.identity.retain(|_| *k.next().unwrap_or(&true));
    Ok(())
}

/// The gallery person each query shows (None: not in the gallery), when the queries
/// carry names.
fn truth(queries: &Embeddings, gallery: &Gallery) -> Option<Vec<Option<usize>>> {
    let index: HashMap<&str, usize> = gallery.names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    queries.labelled.then(|| queries.identity.iter().map(|&i| index.get(queries.names[i].as_str()).copied()).collect())
}

/// Names the faces of `job.query` after the gallery ([`Match`]) and writes the run
/// folder; returns its summary and where it is.
pub fn match_faces(job: &Match) -> Result<(MatchSummary, PathBuf)> {
    let params = identify::Params::new(job.k, job.vote)?;
    if let Some(t) = job.tolerance.filter(|t| !(t.is_finite() && *t >= 0.0)) {
        return Err(Error::Invalid(format!("--tolerance {t}: must be a finite number ≥ 0")));
    }
    let (embedder, normalize, calibrated, checkpoint) = embedder(job)?;
    let source =
        Source { description: embedder.description(), fingerprint: embedder.fingerprint(), dim: embedder.dim(), normalized: normalize };
    let out_dir = job.out.clone().unwrap_or_else(|| output::default_dir(Path::new("results/match"), &folder_name(&job.query), &job.query));
    let mut claims = Claims::new().input("-q", &job.query).input("-g", &job.gallery).output("--out", &out_dir);
    if job.pixels.is_none() {
        claims = claims.input("-m", &job.model);
    }
    if let Some(file) = &job.save_gallery {
        claims = claims.output("--save-gallery", file);
        Gallery::check_destination(file, &claims)?;
    }
    let out = OutDir::begin_claimed(&out_dir, &claims, job.reporter)?;
    let gallery = gallery(job, &embedder, &source, normalize)?;
    if let Some(file) = &job.save_gallery {
        gallery.save(file, job.force)?;
        job.reporter.note(format!("gallery of {} people saved to {}", gallery.names.len(), file.display()));
    }
    let mut folder = faces(job, &job.query, job.unlabelled)?;
    leave_out_gallery_faces(&mut folder, &gallery, &job.query, job.reporter)?;
    let queries = embedder.embed(&folder, normalize, job.reporter.bars)?;
    report_skipped("queries", &queries.skipped[folder.skipped.len()..], job.reporter);
    let candidates = identify::candidates(queries.matrix.view(), gallery.vectors.view(), &gallery.person, params)?;
    let (tolerance, origin) = match (job.tolerance, calibrated) {
        (Some(t), _) => (t, "given".to_string()),
        (None, Some((t, scale, origin))) => {
            let all = ndarray::concatenate(ndarray::Axis(0), &[gallery.vectors.view(), queries.matrix.view()])
                .map_err(|e| Error::Compute { what: "gallery and queries", reason: e.to_string() })?;
            tolerance::scaled(t, scale, all.view(), &origin)
        }
        (None, None) => tolerance::from_gallery(gallery.vectors.view(), &gallery.person)
            .ok_or_else(|| Error::Invalid("no gallery person has two faces to learn a tolerance from: pass --tolerance".into()))?,
    };
    job.reporter.note(format!("tolerance {tolerance:.4} ({origin})"));
    let summary = MatchSummary {
        source: source.description.clone(),
        checkpoint,
        gallery: job.gallery.clone(),
        gallery_people: gallery.names.len(),
        people: gallery.names.clone(),
        gallery_faces: gallery.person.len(),
        queries: job.query.clone(),
        query_faces: queries.paths.len(),
        k: params.k,
        vote: params.vote,
        tolerance,
        tolerance_origin: origin,
        named: 0,
        unknown: 0,
        scores: None,
    };
    let truth = truth(&queries, &gallery);
    let run = MatchRun {
        queries: &queries,
        gallery: &gallery,
        candidates: &candidates,
        tolerance,
        truth: truth.as_deref(),
        params,
        montage: job.montage,
        report: job.report,
    };
    Ok((matches::write(&run, summary, out)?, out_dir))
}
