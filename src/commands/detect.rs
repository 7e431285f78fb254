//! `detect` and `train-detector` as library calls: photos in, faces out (aligned crops,
//! `faces.csv`, each photo with its boxes drawn).
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::backend::{self, Backend};
use crate::config::DetectorConfig;
use crate::config::{DEFAULT_FACE_SCORE, DEFAULT_MIN_FACE};
use crate::detect::photo::{Mip, Plane, read_photo, to_rgb8};
use crate::detect::{Detector, Face, FacesMode, Search, decide};
use crate::error::{Error, Result};
use crate::files::{Claims, Csv, Replaceable, Staged, may_replace};
use crate::image::Skipped;
use crate::image::folder::IdentityFolder;
use crate::image::folder::report_skipped;
use crate::progress::{self, Reporter};
use burn::prelude::Device;

pub const FACES_FILE: &str = "faces.csv";
pub const CROPS_DIR: &str = "crops";
pub const BOXES_DIR: &str = "boxes";

/// What `detect` is asked to do.
#[derive(Clone, Debug)]
pub struct DetectPhotos {
    /// A folder of photos: `ROOT/<name>/<photo>` or flat.
    pub input: PathBuf,
    pub out: PathBuf,
    pub detector: PathBuf,
    pub search: Search,
    /// Keep only each photo's subject, its most prominent face ([`Face::prominence`]:
    /// photos of one person each, as in a folder named for them); its crop keeps the
    /// photo's name, so the crops folder is laid out as the photos folder.
    pub subject: bool,
    /// Also write each photo with its boxes drawn.
    pub draw: bool,
    pub backend: Backend,
    pub reporter: Reporter,
}

/// What `detect` found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DetectSummary {
    pub photos: usize,
    pub faces: usize,
    pub without_face: usize,
    pub skipped: usize,
    pub seconds: f64,
}

/// Trains the detector of `config` into `out/<name>`; see [`crate::detect::train::train_detector`].
pub fn train_detector(config: &Path, out: &Path, resume: bool, backend: Backend, reporter: Reporter) -> Result<PathBuf> {
    let cfg = DetectorConfig::load(config)?;
    crate::detect::train::train_detector(&cfg, &backend::device(backend)?, out, resume, reporter)
}

/// Finds the faces of every photo of `s.input` and writes them to `s.out`.
pub fn detect_photos(s: &DetectPhotos) -> Result<DetectSummary> {
    let device = backend::device(s.backend)?;
    let det = Detector::open(&s.detector, &device)?;
    let folder = super::infer::scan(&s.input, false, s.reporter)?;
    let claims = Claims::new().input("-id", &s.input).input("--detector", &s.detector);
    let how = How { det: &det, search: s.search, subject: s.subject, draw: s.draw, reporter: s.reporter, device: &device };
    write_faces(&how, &folder, &s.out, &claims)
}

/// [`detect_photos`] of an already scanned `folder` into `out` (facemb's cache, for
/// `infer --faces detect`): crops and faces.csv, no drawn photos.
pub fn detect_with(
    det: &Detector,
    folder: &IdentityFolder,
    out: &Path,
    search: Search,
    subject: bool,
    reporter: Reporter,
    device: &Device,
) -> Result<DetectSummary> {
    let claims = Claims::new().input("-id", &folder.root).input("--detector", &det.dir);
    write_faces(&How { det, search, subject, draw: false, reporter, device }, folder, out, &claims)
}

/// How [`write_faces`] finds and keeps faces.
struct How<'a> {
    det: &'a Detector,
    search: Search,
    subject: bool,
    draw: bool,
    reporter: Reporter,
    device: &'a Device,
}

fn write_faces(how: &How, folder: &IdentityFolder, out: &Path, claims: &Claims) -> Result<DetectSummary> {
    let How { det, search, subject, draw, reporter, device } = *how;
    let ours = |name: &str| [FACES_FILE, CROPS_DIR, BOXES_DIR].contains(&name);
    let hint = "a run replaces its folder whole, so choose a new or empty --out";
    may_replace("--out", out, claims, Replaceable::Folder { ours: &ours, hint })?;
    let staged = Staged::begin("output", out, reporter)?;
    let started = Instant::now();
    let mut csv = Csv::new(["photo", "face", "centre_x", "centre_y", "size", "angle_degrees", "score", "crop"]);
    let mut sum = DetectSummary::default();
    let mut skipped = Vec::new();
    let pb = progress::bar(folder.paths.len(), "detect [{bar:30}] {pos}/{len} photos ({eta})", reporter.bars);
    for (path, &who) in folder.paths.iter().zip(&folder.identity) {
        pb.inc(1);
        let (photo, scale) = match read_photo(path) {
            Ok(p) => p,
            Err(reason) => {
                skipped.push(Skipped { path: path.clone(), reason });
                continue;
            }
        };
        sum.photos += 1;
        let search = search.at_scale(scale);
        let mut faces = det.faces(&photo, search, device);
        if subject {
            let (w, h) = (photo.width, photo.height);
            faces.sort_by(|a, b| b.prominence(w, h).total_cmp(&a.prominence(w, h)));
            faces.truncate(1);
        }
        if faces.is_empty() {
            sum.without_face += 1;
        }
        let sub = if folder.labelled { PathBuf::from(&folder.names[who]) } else { PathBuf::new() };
        let stem = path.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let rgb = Mip::new(photo.clone());
        for (k, f) in faces.iter().enumerate() {
            let name = if subject { format!("{stem}.jpg") } else { format!("{stem}_{k}.jpg") };
            let rel = Path::new(CROPS_DIR).join(&sub).join(name);
            save_jpeg(&Detector::crop(&rgb, f), &staged.dir().join(&rel))?;
            let o = f.scaled(1.0 / scale);
            csv.row([
                path.display().to_string(),
                k.to_string(),
                format!("{:.1}", o.cx),
                format!("{:.1}", o.cy),
                format!("{:.1}", o.size),
                format!("{:.1}", o.angle.to_degrees()),
                format!("{:.4}", o.score),
                rel.display().to_string(),
            ]);
        }
        sum.faces += faces.len();
        if draw {
            let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            save_jpeg(&drawn(&photo, &faces), &staged.dir().join(BOXES_DIR).join(&sub).join(Path::new(&file).with_extension("jpg")))?;
        }
    }
    pb.finish_and_clear();
    csv.write(&staged.dir().join(FACES_FILE))?;
    staged.commit()?;
    sum.skipped = skipped.len();
    report_skipped("detect", &skipped, reporter);
    sum.seconds = started.elapsed().as_secs_f64();
    Ok(sum)
}

/// The faces of `folder` as the identity model reads them: the folder itself when it
/// holds crops, else the aligned crops of its photos (each photo's most prominent face when
/// the folder names people — that is whom a photo in a person's folder shows — every face
/// when it is unlabelled), written by `detect` to facemb's cache.
pub fn faces_in(
    input: &Path,
    folder: IdentityFolder,
    faces: FacesMode,
    detector: &Path,
    reporter: Reporter,
    device: &Device,
) -> Result<IdentityFolder> {
    if faces == FacesMode::Crops {
        return Ok(folder);
    }
    let det = match Detector::open(detector, device) {
        Ok(d) => d,
        Err(e) if faces == FacesMode::Auto => {
            reporter.note(format!("faces: crops (no detector to check with: {e})"));
            return Ok(folder);
        }
        Err(e) => return Err(e),
    };
    let (mode, why) = match faces {
        FacesMode::Auto => decide(&det, &folder.paths, device),
        m => (m, "--faces detect".into()),
    };
    if mode == FacesMode::Crops {
        reporter.note(format!("faces: crops, read as they are ({why}; --faces detect to find faces in them)"));
        return Ok(folder);
    }
    let here = input.canonicalize().unwrap_or_else(|_| input.to_path_buf());
    let cache = crate::files::cache_dir().join("faces").join(format!("{:016x}", crate::files::fnv1a(here.to_string_lossy().bytes())));
    let subject = folder.labelled;
    reporter.note(format!(
        "faces: detect ({why}), with {}; {}",
        det.dir.display(),
        if subject {
            "each photo's most prominent face (confident, large, central) is the folder's person"
        } else {
            "every face found is one row"
        }
    ));
    let search = Search { min_face: DEFAULT_MIN_FACE, score: DEFAULT_FACE_SCORE };
    let found = detect_with(&det, &folder, &cache, search, subject, reporter, device)?;
    reporter.note(format!(
        "{} photos, {} found, {} photos without a face; crops in {}",
        found.photos,
        crate::output::table::count(found.faces, "face"),
        found.without_face,
        cache.join(CROPS_DIR).display()
    ));
    let crops = cache.join(CROPS_DIR);
    if found.faces == 0 {
        return Err(Error::Data { path: input.to_path_buf(), reason: "no face found in any photo".into() });
    }
    let f = if folder.labelled { IdentityFolder::scan(&crops)? } else { IdentityFolder::scan_unlabelled(&crops)? };
    Ok(f)
}

fn save_jpeg(p: &Plane, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    to_rgb8(p)
        .save_with_format(path, image::ImageFormat::Jpeg)
        .map_err(|e| Error::Data { path: path.into(), reason: format!("cannot write ({e})") })
}

/// `photo` with each face's turned box drawn (green, its top edge red: which way is up).
fn drawn(photo: &Plane, faces: &[Face]) -> Plane {
    let mut p = photo.clone();
    let c = p.channels;
    let mut dot = |x: f32, y: f32, colour: [f32; 3]| {
        for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            let (xx, yy) = (x as isize + dx, y as isize + dy);
            if xx >= 0 && yy >= 0 && (xx as usize) < p.width && (yy as usize) < p.height {
                let at = (yy as usize * p.width + xx as usize) * c;
                for k in 0..c {
                    p.data[at + k] = colour[k.min(2)];
                }
            }
        }
    };
    for f in faces {
        let corners = f.corners();
        for i in 0..4 {
            let (a, b) = (corners[i], corners[(i + 1) % 4]);
            let colour = if i == 0 { [1.0, 0.1, 0.1] } else { [0.1, 1.0, 0.1] };
            let n = (b.0 - a.0).hypot(b.1 - a.1).ceil().max(1.0) as usize;
            for t in 0..=n {
                let t = t as f32 / n as f32;
                dot(a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1), colour);
            }
        }
    }
    p
}
