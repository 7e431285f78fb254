//! Datasets: the labelled face / non-face training folder, the `ROOT/<identity>/<image>`
//! clustering folder, image decoding into the model's input, and the training batcher.
use std::path::{Path, PathBuf};

use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rayon::prelude::*;

use crate::decode::Scratch;
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
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Decoded images: the flat CHW data of those that decoded, the positions (into the
/// paths given) they came from, and the files that did not decode.
pub type Decoded = (Vec<f32>, Vec<usize>, Vec<Skipped>);

/// Decodes `paths` in parallel (rayon).
///
/// Each image is decoded straight into its slot of the batch buffer: one allocation per
/// batch instead of a vector per image and a copy (the buffer is compacted only when a
/// file fails, which is rare).
pub fn decode_all(paths: &[PathBuf], spec: ImageSpec) -> Decoded {
    let d = spec.len().max(1);
    let mut data = vec![0.0; paths.len() * d];
    let results = data
        .par_chunks_mut(d)
        .zip(paths.par_iter())
        .map_init(Scratch::default, |scratch, (out, p)| scratch.load_into(p, spec, out))
        .collect();
    compact(paths, d, data, results)
}

/// The images of `paths` whose decode (`results`, in order) succeeded, packed together:
/// drops the slots (`d` values each) of the files that failed and names those files.
pub fn compact(paths: &[PathBuf], d: usize, mut data: Vec<f32>, results: Vec<std::result::Result<(), String>>) -> Decoded {
    let (mut kept, mut skipped) = (Vec::with_capacity(paths.len()), Vec::new());
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(()) => {
                if kept.len() != i {
                    data.copy_within(i * d..(i + 1) * d, kept.len() * d);
                }
                kept.push(i);
            }
            Err(reason) => skipped.push(Skipped { path: paths[i].clone(), reason }),
        }
    }
    data.truncate(kept.len() * d);
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
            return Err(Error::Data {
                path: root.to_path_buf(),
                reason: "need at least 2 people with 2 or more readable images each".into(),
            });
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
