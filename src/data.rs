//! Datasets: the labelled face / non-face training folder, the `ROOT/<identity>/<image>`
//! clustering folder, image decoding into the model's input, and the training batcher.
use std::path::{Path, PathBuf};

use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rayon::prelude::*;

use crate::error::{Error, Result};

/// File extensions treated as images; anything else in an identity folder is reported.
const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "bmp", "gif", "tif", "tiff", "pgm", "ppm", "pnm", "webp"];

/// How an image becomes a network input: `channels` × `size` × `size`, values in [0, 1].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageSpec {
    pub size: usize,
    /// 1 = grey luminance, 3 = RGB.
    pub channels: usize,
}

impl ImageSpec {
    pub fn len(&self) -> usize {
        self.channels * self.size * self.size
    }
}

/// A file that was not used, and why (shown to the user, counted in summaries).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

pub fn is_image_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Decodes one image file of any size / colour type into a CHW vector.
///
/// Images are stretched to a square rather than cropped: face crops are near-square and
/// cropping would cut chins or foreheads off non-square ones (AT&T is 92×112).
///
/// The pixels are those of the straightforward path (`image` decode → `to_luma8`, i.e.
/// Rec. 709 weights → triangle resize), which every checkpoint so far was trained on; the
/// test `fast_decode_matches_the_image_crate_path` holds this to within one grey level.
/// It is reached by a cheaper road because at ~1 000 img/s of network the old one was a
/// sixth of `infer`'s CPU (0.40 of ~2.4 ms/img on LFW): JPEGs go straight to zune-jpeg (the
/// decoder `image` wraps, minus a second header parse and a `DynamicImage`), luminance
/// is one integer pass, and `fast_image_resize`'s SIMD convolution replaces `image`'s
/// generic f32 resampler (0.20 ms → 0.025 ms for 112² → 64²).
pub fn load_image(path: &Path, spec: ImageSpec) -> std::result::Result<Vec<f32>, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    if bytes.is_empty() {
        return Err("empty file (0 bytes)".into());
    }
    let px = decode_pixels(&bytes, spec.channels)?;
    let px = px.resized(spec.size as u32)?;
    let (plane, c) = (spec.size * spec.size, spec.channels);
    let scale = 1.0 / 255.0;
    let mut out = vec![0.0; c * plane];
    // Interleaved u8 → planar (CHW) f32.
    for (i, p) in px.data.chunks_exact(c).enumerate() {
        for (ch, &v) in p.iter().enumerate() {
            out[ch * plane + i] = v as f32 * scale;
        }
    }
    Ok(out)
}

/// Interleaved 8-bit pixels with 1 (grey) or 3 (RGB) channels.
struct Pixels {
    width: u32,
    height: u32,
    channels: usize,
    data: Vec<u8>,
}

impl Pixels {
    fn resized(self, side: u32) -> std::result::Result<Pixels, String> {
        use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer, images::Image};
        if (self.width, self.height) == (side, side) {
            return Ok(self);
        }
        let kind = if self.channels == 1 { PixelType::U8 } else { PixelType::U8x3 };
        let fail = |e: &dyn std::fmt::Display| format!("cannot resize ({e})");
        let src = Image::from_vec_u8(self.width, self.height, self.data, kind).map_err(|e| fail(&e))?;
        let mut dst = Image::new(side, side, kind);
        // Bilinear here is the same triangle kernel, widened by the scale factor, as
        // `image`'s FilterType::Triangle.
        let opts = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
        Resizer::new().resize(&src, &mut dst, &opts).map_err(|e| fail(&e))?;
        Ok(Pixels { width: side, height: side, channels: self.channels, data: dst.into_vec() })
    }
}

/// Decodes to `channels` (1 or 3) interleaved channels.
fn decode_pixels(bytes: &[u8], channels: usize) -> std::result::Result<Pixels, String> {
    if let Some(px) = decode_jpeg(bytes, channels) {
        return px;
    }
    let img = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .decode()
        .map_err(|e| format!("not a readable image ({e})"))?;
    let (width, height) = (img.width(), img.height());
    let data = if channels == 1 { img.to_luma8().into_raw() } else { img.to_rgb8().into_raw() };
    Ok(Pixels { width, height, channels, data })
}

/// zune-jpeg with `image`'s own options, for the JPEGs it stores as grey or YCbCr (nearly
/// all); None hands the file (not a JPEG, or CMYK / with alpha) to the `image` path.
fn decode_jpeg(bytes: &[u8], channels: usize) -> Option<std::result::Result<Pixels, String>> {
    use zune_jpeg::zune_core::{bytestream::ZCursor, colorspace::ColorSpace, options::DecoderOptions};
    if !bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return None;
    }
    let opts = DecoderOptions::default().set_strict_mode(false).set_max_width(usize::MAX).set_max_height(usize::MAX);
    let mut dec = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), opts);
    let fail = |e: zune_jpeg::errors::DecodeErrors| format!("not a readable image (JPEG: {e:?})");
    if let Err(e) = dec.decode_headers() {
        return Some(Err(fail(e)));
    }
    let out = match dec.input_colorspace()? {
        ColorSpace::Luma => ColorSpace::Luma,
        ColorSpace::YCbCr | ColorSpace::RGB => ColorSpace::RGB,
        _ => return None,
    };
    dec.set_options(dec.options().jpeg_set_out_colorspace(out));
    let (w, h) = dec.dimensions()?;
    let data = match dec.decode() {
        Ok(d) => d,
        Err(e) => return Some(Err(fail(e))),
    };
    let have = if out == ColorSpace::Luma { 1 } else { 3 };
    let data = match (have, channels) {
        (3, 1) => data.chunks_exact(3).map(|p| luma709(p[0], p[1], p[2])).collect(),
        (1, 3) => data.iter().flat_map(|&v| [v, v, v]).collect(),
        _ => data,
    };
    Some(Ok(Pixels { width: w as u32, height: h as u32, channels, data }))
}

/// `image`'s `to_luma8` (0.25.10: Rec. 709 weights in f32, rounded) in integers, so that
/// JPEGs decoded here give the grey levels the checkpoints were trained on (they can
/// differ only where f32 rounding meets an exact half).
fn luma709(r: u8, g: u8, b: u8) -> u8 {
    ((2126 * r as u32 + 7152 * g as u32 + 722 * b as u32 + 5000) / 10000) as u8
}

/// Decodes `paths` in parallel. Returns the flat CHW data of the images that decoded, the
/// positions (into `paths`) they came from, and the files that did not.
pub fn decode_all(paths: &[PathBuf], spec: ImageSpec) -> (Vec<f32>, Vec<usize>, Vec<Skipped>) {
    let decoded: Vec<_> = paths.par_iter().map(|p| load_image(p, spec)).collect();
    let mut data = Vec::with_capacity(paths.len() * spec.len());
    let (mut kept, mut skipped) = (Vec::new(), Vec::new());
    for (i, r) in decoded.into_iter().enumerate() {
        match r {
            Ok(v) => {
                data.extend_from_slice(&v);
                kept.push(i);
            }
            Err(reason) => skipped.push(Skipped { path: paths[i].clone(), reason }),
        }
    }
    (data, kept, skipped)
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut out: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        // Hidden files (.DS_Store, editor swap files) are never data.
        .filter(|p| !p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')))
        .collect();
    out.sort();
    Ok(out)
}

/// Image files directly inside `dir`; everything else there is reported as skipped.
fn images_in(dir: &Path, skipped: &mut Vec<Skipped>) -> Result<Vec<PathBuf>> {
    let mut images = Vec::new();
    for p in read_dir_sorted(dir)? {
        if p.is_dir() {
            skipped.push(Skipped { path: p, reason: "nested folder ignored (only one level of sub-folders is read)".into() });
        } else if is_image_path(&p) {
            images.push(p);
        } else {
            skipped.push(Skipped { path: p, reason: "not an image file (by extension)".into() });
        }
    }
    Ok(images)
}

/// In-memory face / non-face training set (label 1 = face).
pub struct FaceSet {
    pub spec: ImageSpec,
    pub images: Vec<f32>,
    pub labels: Vec<u8>,
    pub paths: Vec<PathBuf>,
    pub skipped: Vec<Skipped>,
}

impl FaceSet {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Reads `root/face/*` and `root/nonface/*`.
    pub fn load(root: &Path, spec: ImageSpec) -> Result<Self> {
        let mut paths = Vec::new();
        let mut labels = Vec::new();
        let mut skipped = Vec::new();
        for (sub, label) in [("face", 1u8), ("nonface", 0u8)] {
            let dir = root.join(sub);
            if !dir.is_dir() {
                return Err(Error::Data {
                    path: root.to_path_buf(),
                    reason: format!("expected sub-folders face/ and nonface/, but {sub}/ is missing"),
                });
            }
            let found = images_in(&dir, &mut skipped)?;
            labels.extend(std::iter::repeat_n(label, found.len()));
            paths.extend(found);
        }
        let (images, kept, bad) = decode_all(&paths, spec);
        skipped.extend(bad);
        let labels: Vec<u8> = kept.iter().map(|&i| labels[i]).collect();
        let paths: Vec<PathBuf> = kept.iter().map(|&i| paths[i].clone()).collect();
        for (label, name) in [(1, "face"), (0, "nonface")] {
            if !labels.contains(&label) {
                return Err(Error::Data { path: root.join(name), reason: "no readable images".into() });
            }
        }
        Ok(FaceSet { spec, images, labels, paths, skipped })
    }

    /// Keeps at most `n` images of each class (the first ones in path order): small runs
    /// for tests and quick experiments.
    pub fn limit_per_class(mut self, n: usize) -> Self {
        let mut seen = [0usize; 2];
        let keep: Vec<usize> = (0..self.len())
            .filter(|&i| {
                let c = &mut seen[self.labels[i] as usize];
                *c += 1;
                *c <= n
            })
            .collect();
        let d = self.spec.len();
        self.images = keep.iter().flat_map(|&i| self.images[i * d..(i + 1) * d].iter().copied()).collect();
        self.labels = keep.iter().map(|&i| self.labels[i]).collect();
        self.paths = keep.iter().map(|&i| self.paths[i].clone()).collect();
        self
    }

    pub fn image(&self, i: usize) -> &[f32] {
        let d = self.spec.len();
        &self.images[i * d..(i + 1) * d]
    }
}

/// Train / validation indices, stratified by label so both classes keep their share,
/// shuffled with `seed`. At least one image of each class stays in training.
pub fn stratified_split(labels: &[u8], val_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for class in [0u8, 1] {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        idx.shuffle(&mut rng);
        let n_val = ((idx.len() as f64 * val_fraction).round() as usize).min(idx.len().saturating_sub(1));
        val.extend_from_slice(&idx[..n_val]);
        train.extend_from_slice(&idx[n_val..]);
    }
    train.sort_unstable();
    val.sort_unstable();
    (train, val)
}

/// Builds `[B, C, S, S]` image tensors and `[B]` label tensors from set indices.
pub struct Batcher {
    pub device: Device,
}

impl Batcher {
    /// Images `idx` of a flat CHW store; `flip[i]` mirrors image i left–right (the
    /// augmentation: a mirrored face is still a face, of the same person, and a mirrored
    /// scene still not one).
    pub fn images(&self, spec: ImageSpec, store: &[f32], idx: &[usize], flip: &[bool]) -> Tensor<4> {
        let (s, d) = (spec.size, spec.len());
        let mut data = Vec::with_capacity(idx.len() * d);
        for (k, &i) in idx.iter().enumerate() {
            let img = &store[i * d..(i + 1) * d];
            if flip.get(k).copied().unwrap_or(false) {
                for row in img.chunks_exact(s) {
                    data.extend(row.iter().rev());
                }
            } else {
                data.extend_from_slice(img);
            }
        }
        Tensor::from_data(TensorData::new(data, [idx.len(), spec.channels, s, s]), &self.device)
    }

    pub fn batch(&self, set: &FaceSet, idx: &[usize], flip: &[bool]) -> (Tensor<4>, Tensor<1, Int>) {
        let images = self.images(set.spec, &set.images, idx, flip);
        let labels: Vec<i64> = idx.iter().map(|&i| set.labels[i] as i64).collect();
        let labels = Tensor::from_data(TensorData::new(labels, [idx.len()]), &self.device);
        (images, labels)
    }
}

/// In-memory identity-labelled training pool (`ROOT/<identity>/<image>`), for teaching
/// the embedding to tell people apart. Only people with ≥ 2 readable images are kept:
/// a batch needs two images of each person it draws.
pub struct IdentitySet {
    pub spec: ImageSpec,
    pub images: Vec<f32>,
    /// Image indices of each kept person.
    pub people: Vec<Vec<usize>>,
    pub skipped: Vec<Skipped>,
}

impl IdentitySet {
    pub fn load(root: &Path, spec: ImageSpec) -> Result<Self> {
        let folder = IdentityFolder::scan(root)?;
        let (images, kept, bad) = decode_all(&folder.paths, spec);
        let mut skipped = folder.skipped;
        skipped.extend(bad);
        let mut people = vec![Vec::new(); folder.names.len()];
        for (row, &i) in kept.iter().enumerate() {
            people[folder.identity[i]].push(row);
        }
        people.retain(|p| p.len() >= 2);
        if people.len() < 2 {
            return Err(Error::Data { path: root.to_path_buf(), reason: "need at least 2 people with 2 or more readable images each".into() });
        }
        Ok(IdentitySet { spec, images, people, skipped })
    }

    /// `p` distinct people × 2 images each (image indices and person labels), at random.
    pub fn sample(&self, p: usize, rng: &mut impl rand::Rng) -> (Vec<usize>, Vec<usize>) {
        let chosen = rand::seq::index::sample(rng, self.people.len(), p.min(self.people.len()));
        let (mut idx, mut labels) = (Vec::new(), Vec::new());
        for (label, person) in chosen.into_iter().enumerate() {
            let pair = rand::seq::index::sample(rng, self.people[person].len(), 2);
            for k in pair {
                idx.push(self.people[person][k]);
                labels.push(label);
            }
        }
        (idx, labels)
    }
}

/// A clustering folder `ROOT/<identity>/<image>`: image paths with their identity.
#[derive(Debug)]
pub struct IdentityFolder {
    pub root: PathBuf,
    pub paths: Vec<PathBuf>,
    /// Index into `names` for every path.
    pub identity: Vec<usize>,
    pub names: Vec<String>,
    /// Files and folders that were found but not used (top-level files, nested folders,
    /// non-images), reported to the user.
    pub skipped: Vec<Skipped>,
}

impl IdentityFolder {
    /// Scans (does not decode) the folder. Exactly one level of sub-folders: each
    /// sub-folder is an identity; files at the top level and deeper folders are reported.
    pub fn scan(root: &Path) -> Result<Self> {
        if !root.is_dir() {
            return Err(Error::Data { path: root.to_path_buf(), reason: "not a folder (expected ROOT/<identity>/<image>)".into() });
        }
        let (mut paths, mut identity, mut names, mut skipped) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for entry in read_dir_sorted(root)? {
            if !entry.is_dir() {
                skipped.push(Skipped { path: entry, reason: TOP_LEVEL.into() });
                continue;
            }
            let images = images_in(&entry, &mut skipped)?;
            if images.is_empty() {
                skipped.push(Skipped { path: entry, reason: "identity folder without images".into() });
                continue;
            }
            let id = names.len();
            names.push(entry.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
            identity.extend(std::iter::repeat_n(id, images.len()));
            paths.extend(images);
        }
        if paths.is_empty() {
            return Err(Error::Data {
                path: root.to_path_buf(),
                reason: "no images found: expected ROOT/<identity>/<image> with one level of sub-folders".into(),
            });
        }
        Ok(IdentityFolder { root: root.to_path_buf(), paths, identity, names, skipped })
    }
}

const TOP_LEVEL: &str = "top-level file ignored (identities are sub-folders)";

/// Prints skipped files (the first few in full, then a count), one line each. Top-level
/// files (a SOURCE.md, an index CSV) are expected beside identity folders: one note names them.
pub fn report_skipped(what: &str, skipped: &[Skipped]) {
    const SHOWN: usize = 10;
    let (top, rest): (Vec<&Skipped>, Vec<&Skipped>) = skipped.iter().partition(|s| s.reason == TOP_LEVEL);
    if let Some(first) = top.first() {
        let dir = first.path.parent().map_or_else(String::new, |p| p.display().to_string());
        let names: Vec<String> = top.iter().filter_map(|s| s.path.file_name()).map(|n| n.to_string_lossy().into_owned()).collect();
        eprintln!("note: {dir}: not read, identities are sub-folders: {}", names.join(", "));
    }
    for s in rest.iter().take(SHOWN) {
        eprintln!("warning: {}: {}", s.path.display(), s.reason);
    }
    if rest.len() > SHOWN {
        eprintln!("warning: … and {} more skipped in {what}", rest.len() - SHOWN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(p: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
    }

    const GREY64: ImageSpec = ImageSpec { size: 64, channels: 1 };

    #[test]
    fn face_nonface_loads_both_classes() {
        let set = FaceSet::load(&repo("datasets/face_nonface"), GREY64).unwrap();
        assert_eq!(set.len(), 3200);
        assert_eq!(set.labels.iter().filter(|&&l| l == 1).count(), 1600);
        assert!(set.skipped.is_empty(), "{:?}", set.skipped.first());
        assert_eq!(set.images.len(), 3200 * 64 * 64);
        assert!(set.images.iter().all(|v| (0.0..=1.0).contains(v)));
        let small = set.limit_per_class(10);
        assert_eq!((small.len(), small.labels.iter().filter(|&&l| l == 0).count()), (20, 10));
    }

    #[test]
    fn att_faces_has_40_identities_of_10_and_reports_top_level_files() {
        let f = IdentityFolder::scan(&repo("datasets/att_faces")).unwrap();
        assert_eq!((f.names.len(), f.paths.len()), (40, 400));
        assert_eq!(f.names[0], "s01");
        assert!((0..40).all(|id| f.identity.iter().filter(|&&i| i == id).count() == 10));
        // SOURCE.md sits at the top level: reported, not used.
        assert!(f.skipped.iter().any(|s| s.path.ends_with("SOURCE.md") && s.reason.contains("top-level")));
    }

    #[test]
    fn shared_sets_load_when_present() {
        // CI clones beside ../shared; a checkout without it has nothing to check here.
        let shared = repo("../shared/datasets");
        if !shared.is_dir() {
            eprintln!("../shared/datasets absent: skipped");
            return;
        }
        let yale = IdentityFolder::scan(&shared.join("yale_faces")).unwrap();
        assert_eq!((yale.names.len(), yale.paths.len()), (15, 164));
        let lfw = IdentityFolder::scan(&shared.join("lfw_identities")).unwrap();
        assert_eq!((lfw.names.len(), lfw.paths.len()), (320, 3711));
    }

    #[test]
    fn identity_pool_keeps_people_with_two_images_and_samples_pairs() {
        let set = IdentitySet::load(&repo("datasets/lfw_train_identities"), ImageSpec { size: 16, channels: 1 }).unwrap();
        assert_eq!(set.people.len(), 1257);
        assert_eq!(set.images.len(), 3179 * 16 * 16);
        let mut rng = StdRng::seed_from_u64(1);
        let (idx, labels) = set.sample(32, &mut rng);
        assert_eq!((idx.len(), labels.len()), (64, 64));
        for pair in idx.chunks(2).zip(labels.chunks(2)) {
            let (i, l) = pair;
            assert_ne!(i[0], i[1]);
            assert_eq!(l[0], l[1]);
            assert!(set.people.iter().any(|p| p.contains(&i[0]) && p.contains(&i[1])));
        }
    }

    /// The straightforward decode that `load_image` replaced (and that the committed
    /// checkpoints were trained through): `image` decode → `to_luma8` / `to_rgb8` →
    /// `image`'s triangle resize.
    fn load_image_reference(path: &Path, spec: ImageSpec) -> Vec<f32> {
        let img = image::open(path).unwrap();
        let (s, filter) = (spec.size as u32, image::imageops::FilterType::Triangle);
        let raw = if spec.channels == 1 {
            image::imageops::resize(&img.to_luma8(), s, s, filter).into_raw()
        } else {
            image::imageops::resize(&img.to_rgb8(), s, s, filter).into_raw()
        };
        let plane = spec.size * spec.size;
        let mut out = vec![0.0; raw.len()];
        for (i, v) in raw.iter().enumerate() {
            out[(i % spec.channels) * plane + i / spec.channels] = *v as f32 / 255.0;
        }
        out
    }

    #[test]
    fn fast_decode_matches_the_image_crate_path() {
        // JPEG (LFW, YCbCr 4:2:0 as nearly all photos), grey PNG (AT&T, 92×112 so it is
        // resized), RGB PNG already at 64² (face_nonface), in grey and RGB, and at a size
        // that upsamples.
        let mut files: Vec<PathBuf> = std::fs::read_dir(repo("datasets/lfw_train_identities")).unwrap()
            .take(40)
            .flat_map(|d| read_dir_sorted(&d.unwrap().path()).unwrap())
            .collect();
        let jpegs = files.len();
        files.extend(read_dir_sorted(&repo("datasets/att_faces/s01")).unwrap());
        files.extend(read_dir_sorted(&repo("datasets/face_nonface/face")).unwrap().into_iter().take(10));
        assert!(jpegs > 60, "{jpegs}");
        for spec in [GREY64, ImageSpec { size: 64, channels: 3 }, ImageSpec { size: 150, channels: 1 }] {
            let (mut worst, mut sum, mut n) = (0f32, 0f64, 0usize);
            for f in &files {
                let (fast, slow) = (load_image(f, spec).unwrap(), load_image_reference(f, spec));
                assert_eq!(fast.len(), slow.len());
                for (a, b) in fast.iter().zip(&slow) {
                    let d = (a - b).abs() * 255.0;
                    worst = worst.max(d);
                    sum += d as f64;
                    n += 1;
                }
            }
            // fast_image_resize works in fixed point, `image` in f32: measured 0.14 grey
            // levels apart on average (0.16 upsampling), at most 1 (2 upsampling); a
            // truncating luminance alone moves the mean to 0.44.
            assert!(worst <= 2.0 + 1e-3, "{spec:?}: a pixel differs by {worst} grey levels");
            assert!(sum / (n as f64) < 0.25, "{spec:?}: mean difference {} grey levels", sum / n as f64);
        }
    }

    #[test]
    fn any_size_and_colour_becomes_the_model_input() {
        let att = repo("datasets/att_faces/s01/01.png"); // 92×112 grey
        let face = std::fs::read_dir(repo("datasets/face_nonface/face")).unwrap().next().unwrap().unwrap().path(); // 64×64 RGB
        for p in [att, face] {
            assert_eq!(load_image(&p, ImageSpec { size: 32, channels: 1 }).unwrap().len(), 32 * 32);
            let rgb = load_image(&p, ImageSpec { size: 20, channels: 3 }).unwrap();
            assert_eq!(rgb.len(), 3 * 20 * 20);
        }
    }

    #[test]
    fn bad_files_are_skipped_with_their_reason() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let good = repo("datasets/att_faces/s01/01.png");
        let a = root.join("alice");
        std::fs::create_dir_all(a.join("deeper")).unwrap();
        std::fs::copy(&good, a.join("ok.png")).unwrap();
        std::fs::write(a.join("zero.png"), b"").unwrap();
        let bytes = std::fs::read(&good).unwrap();
        std::fs::write(a.join("truncated.png"), &bytes[..bytes.len() / 3]).unwrap();
        std::fs::write(a.join("fake.jpg"), b"this is not a jpeg").unwrap();
        std::fs::write(a.join("notes.txt"), b"hello").unwrap();
        std::fs::copy(&good, a.join("deeper/hidden.png")).unwrap();
        std::fs::write(root.join("README.txt"), b"top").unwrap();
        std::fs::create_dir(root.join("empty_person")).unwrap();

        let f = IdentityFolder::scan(root).unwrap();
        assert_eq!(f.names, vec!["alice"]);
        assert_eq!(f.paths.len(), 4, "ok, zero, truncated and fake are image-named");
        let reason = |name: &str| f.skipped.iter().find(|s| s.path.ends_with(name)).map(|s| s.reason.clone());
        assert!(reason("notes.txt").unwrap().contains("not an image"));
        assert!(reason("deeper").unwrap().contains("nested"));
        assert!(reason("README.txt").unwrap().contains("top-level"));
        assert!(reason("empty_person").unwrap().contains("without images"));

        let (data, kept, bad) = decode_all(&f.paths, GREY64);
        assert_eq!(kept.len(), 1);
        assert_eq!(data.len(), 64 * 64);
        let why = |name: &str| bad.iter().find(|s| s.path.ends_with(name)).unwrap().reason.clone();
        assert!(why("zero.png").contains("0 bytes"));
        assert!(why("truncated.png").contains("not a readable image"));
        assert!(why("fake.jpg").contains("not a readable image"));
    }

    #[test]
    fn empty_or_missing_folders_are_errors_naming_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let e = IdentityFolder::scan(tmp.path()).unwrap_err().to_string();
        assert!(e.contains(&tmp.path().display().to_string()) && e.contains("no images"), "{e}");
        let e = FaceSet::load(tmp.path(), GREY64).err().unwrap().to_string();
        assert!(e.contains("face/"), "{e}");
    }

    #[test]
    fn split_is_stratified_disjoint_and_seeded() {
        let labels: Vec<u8> = (0..100).map(|i| u8::from(i < 30)).collect();
        let (tr, va) = stratified_split(&labels, 0.2, 7);
        assert_eq!((tr.len(), va.len()), (80, 20));
        assert_eq!(va.iter().filter(|&&i| labels[i] == 1).count(), 6);
        assert!(tr.iter().all(|i| !va.contains(i)));
        assert_eq!(stratified_split(&labels, 0.2, 7), (tr.clone(), va.clone()));
        assert_ne!(stratified_split(&labels, 0.2, 8).1, va);
    }
}
