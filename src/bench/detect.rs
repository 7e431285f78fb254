//! The detection benchmark: test pictures made from the *test* scenes and faces of
//! evaluation people (never seen in training), the detector run on them, and average
//! precision at IoU 0.5 with recall by face size — for facemb's detector and for any
//! peer whose boxes (as framing boxes) are given in the same CSV.
use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::config::FRAMING_PER_FACE;
use crate::detect::photo::{Mip, read_photo, to_rgb8};
use crate::detect::scenes::{FaceBank, SceneBank, compose, iou};
use crate::detect::{Detector, Face, Search};
use crate::error::{Error, Result};
use crate::files::{Csv, read_csv};

pub const TRUTH_FILE: &str = "truth.csv";
pub const DETECTIONS_FILE: &str = "detections.csv";
pub const PICTURES_DIR: &str = "pictures";

/// Face widths (pixels) that recall is reported by: below the first, between, above the last.
pub const SIZE_BANDS: [f32; 2] = [40.0, 80.0];

/// The figures of one detector on the test pictures.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DetectionScores {
    pub pictures: usize,
    pub faces: usize,
    pub detections: usize,
    /// Average precision at IoU 0.5 (all-point interpolation, as PASCAL VOC 2010+).
    pub average_precision: f64,
    /// Recall and precision of the boxes the detector keeps (all of them).
    pub recall: f64,
    pub precision: f64,
    /// Recall of faces narrower than 40 px, 40–80 px, wider.
    pub recall_by_width: [f64; 3],
}

/// Makes `count` test pictures of `width` × `height` in `out/pictures/` with their faces
/// in `out/truth.csv` (deterministic in `seed`): faces of `faces` (identity folders of
/// evaluation people) on the test scenes of `scenes`.
pub fn make_pictures(faces: &Path, scenes: &Path, count: usize, width: usize, height: usize, seed: u64, out: &Path) -> Result<()> {
    let bank = FaceBank::load(&[faces.to_path_buf()], 2000)?;
    let scenes = SceneBank::load(scenes, true)?;
    let dir = out.join(PICTURES_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let mut truth = Csv::new(["picture", "centre_x", "centre_y", "size", "angle_degrees"]);
    let mut rng = StdRng::seed_from_u64(seed);
    for i in 0..count {
        let scene = &scenes.scenes[i % scenes.scenes.len()];
        let (pic, placed) = compose(&bank, scene, width, height, &mut rng);
        let name = format!("{i:04}.png");
        to_rgb8(&pic).save(dir.join(&name)).map_err(|e| Error::Data { path: dir.join(&name), reason: e.to_string() })?;
        for f in placed {
            truth.row([
                name.clone(),
                format!("{:.2}", f.cx),
                format!("{:.2}", f.cy),
                format!("{:.2}", f.size),
                format!("{:.2}", f.angle.to_degrees()),
            ]);
        }
    }
    truth.write(&out.join(TRUTH_FILE))
}

/// Runs `det` on every picture of `out/pictures/`, writes `out/detections.csv`, and
/// returns the seconds per picture.
pub fn run_detector(det: &Detector, search: Search, out: &Path, device: &burn::prelude::Device) -> Result<f64> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(out.join(PICTURES_DIR))
        .map_err(|e| Error::io(out.join(PICTURES_DIR), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    names.sort();
    let mut csv = Csv::new(["picture", "centre_x", "centre_y", "size", "angle_degrees", "score"]);
    let started = Instant::now();
    for p in &names {
        let (photo, scale) = read_photo(p).map_err(|r| Error::Data { path: p.clone(), reason: r.to_string() })?;
        let search = search.at_scale(scale);
        for f in det.faces(&photo, search, device) {
            let f = f.scaled(1.0 / scale);
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            csv.row([
                name,
                format!("{:.2}", f.cx),
                format!("{:.2}", f.cy),
                format!("{:.2}", f.size),
                format!("{:.2}", f.angle.to_degrees()),
                format!("{:.4}", f.score),
            ]);
        }
    }
    let per = started.elapsed().as_secs_f64() / names.len().max(1) as f64;
    csv.write(&out.join(DETECTIONS_FILE))?;
    Ok(per)
}

fn boxes(path: &Path, scored: bool) -> Result<Vec<(String, Face)>> {
    let t = read_csv(path)?;
    let col = |name: &str| {
        t.header.iter().position(|h| h == name).ok_or_else(|| Error::Data { path: path.into(), reason: format!("no column {name}") })
    };
    let (pic, cx, cy, size) = (col("picture")?, col("centre_x")?, col("centre_y")?, col("size")?);
    let score = if scored { Some(col("score")?) } else { None };
    t.rows
        .iter()
        .map(|r| {
            let num =
                |i: usize| r[i].parse::<f32>().map_err(|_| Error::Data { path: path.into(), reason: format!("not a number: {}", r[i]) });
            Ok((
                r[pic].clone(),
                Face { cx: num(cx)?, cy: num(cy)?, size: num(size)?, angle: 0.0, score: score.map(num).transpose()?.unwrap_or(1.0) },
            ))
        })
        .collect()
}

/// Scores the detections CSV `found` against `out/truth.csv`.
pub fn score(out: &Path, found: &Path) -> Result<DetectionScores> {
    let truth = boxes(&out.join(TRUTH_FILE), false)?;
    let mut det = boxes(found, true)?;
    let pictures = std::fs::read_dir(out.join(PICTURES_DIR)).map_err(|e| Error::io(out.join(PICTURES_DIR), e))?.count();
    det.sort_by(|a, b| b.1.score.total_cmp(&a.1.score));
    let mut taken = vec![false; truth.len()];
    let mut hits = Vec::with_capacity(det.len());
    for (pic, d) in &det {
        let best = truth
            .iter()
            .enumerate()
            .filter(|(i, (p, _))| p == pic && !taken[*i])
            .map(|(i, (_, t))| (i, iou((t.cx, t.cy, t.size), (d.cx, d.cy, d.size))))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let hit = best.filter(|b| b.1 >= 0.5).map(|b| b.0);
        if let Some(i) = hit {
            taken[i] = true;
        }
        hits.push(hit.is_some());
    }
    // All-point interpolated average precision.
    let (mut tp, mut points) = (0usize, Vec::with_capacity(hits.len()));
    for (k, &h) in hits.iter().enumerate() {
        tp += usize::from(h);
        points.push((tp as f64 / truth.len().max(1) as f64, tp as f64 / (k + 1) as f64));
    }
    let mut ap = 0.0;
    let mut prev_recall = 0.0;
    for k in 0..points.len() {
        let best_precision = points[k..].iter().map(|p| p.1).fold(0.0, f64::max);
        ap += (points[k].0 - prev_recall) * best_precision;
        prev_recall = points[k].0;
    }
    let mut by = [(0usize, 0usize); 3];
    for (i, (_, t)) in truth.iter().enumerate() {
        let width = t.size / FRAMING_PER_FACE;
        let band = SIZE_BANDS.iter().filter(|&&b| width >= b).count();
        by[band].1 += 1;
        by[band].0 += usize::from(taken[i]);
    }
    Ok(DetectionScores {
        pictures,
        faces: truth.len(),
        detections: det.len(),
        average_precision: ap,
        recall: tp as f64 / truth.len().max(1) as f64,
        precision: tp as f64 / det.len().max(1) as f64,
        recall_by_width: by.map(|(a, n)| if n == 0 { f64::NAN } else { a as f64 / n as f64 }),
    })
}

/// Seconds per photo of `det` on a `width` × `height` picture (the mean of `repeat`
/// runs after one warm-up), made of a test scene.
pub fn photo_speed(
    det: &Detector,
    search: Search,
    scene: &Mip,
    width: usize,
    height: usize,
    repeat: usize,
    device: &burn::prelude::Device,
) -> f64 {
    let mut rng = StdRng::seed_from_u64(7);
    let pic = crate::detect::scenes::background(scene, width, height, &mut rng);
    det.faces(&pic, search, device);
    let t = Instant::now();
    for _ in 0..repeat {
        det.faces(&pic, search, device);
    }
    t.elapsed().as_secs_f64() / repeat.max(1) as f64
}

/// The detection benchmark's settings (`facemb bench-detect`).
#[derive(Clone, Debug)]
pub struct DetectBench {
    /// The benchmark's folder: pictures/, truth.csv, detections.csv.
    pub out: PathBuf,
    /// Identity folders of people the detector never saw.
    pub faces: PathBuf,
    /// Scenes, of which the test fifth is used.
    pub scenes: PathBuf,
    pub pictures: usize,
    pub width: usize,
    pub height: usize,
    pub seed: u64,
    pub detector: PathBuf,
    pub search: Search,
    /// Also time photos/s at three sizes.
    pub speed: bool,
    /// Other detectors' boxes on the same pictures.
    pub peers: Vec<PathBuf>,
    pub backend: crate::backend::Backend,
}

/// Each detector's scores by name, and facemb's photos/s by picture size.
pub struct DetectBenchResult {
    pub scores: Vec<(String, DetectionScores)>,
    pub speeds: Vec<((usize, usize), f64)>,
}

/// The benchmark as one call: makes the pictures, runs the detector on them, and scores
/// it and each peer's CSV.
pub fn run(b: &DetectBench) -> Result<DetectBenchResult> {
    let device = crate::backend::device(b.backend)?;
    let det = Detector::open(&b.detector, &device)?;
    make_pictures(&b.faces, &b.scenes, b.pictures, b.width, b.height, b.seed, &b.out)?;
    let per = run_detector(&det, b.search, &b.out, &device)?;
    let mut runs = vec![(format!("facemb ({:.0} ms/photo)", per * 1000.0), score(&b.out, &b.out.join(DETECTIONS_FILE))?)];
    for p in &b.peers {
        runs.push((p.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), score(&b.out, p)?));
    }
    let scene = &SceneBank::load(&b.scenes, true)?.scenes[0];
    let sizes: &[(usize, usize, usize)] = if b.speed { &[(150, 150, 20), (640, 480, 5), (4000, 3000, 2)] } else { &[] };
    let speeds = sizes.iter().map(|&(w, h, n)| ((w, h), 1.0 / photo_speed(&det, b.search, scene, w, h, n, &device))).collect();
    Ok(DetectBenchResult { scores: runs, speeds })
}
