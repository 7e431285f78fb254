//! In-memory training sets: the face / non-face folder and the identity pool, their
//! stratified split, and the batcher that turns indices into tensors.
use std::path::{Path, PathBuf};

use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::error::{Error, Result};
use crate::image::folder::{IdentityFolder, images_in};
use crate::image::prefetch::decode_all;
use crate::image::{ImageSpec, Skipped, push_mirrored};

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

/// A training person kept out of training, to calibrate distances on afterwards.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct HeldOut {
    pub name: String,
    pub paths: Vec<PathBuf>,
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
    /// Images `idx` of a flat CHW store, gathered into one buffer; `flip[i]` mirrors
    /// image i left–right (a mirrored face is still a face, of the same person, and a
    /// mirrored scene still not one).
    pub fn gather(spec: ImageSpec, store: &[f32], idx: &[usize], flip: &[bool]) -> Vec<f32> {
        let (s, d) = (spec.size, spec.len());
        let mut data = Vec::with_capacity(idx.len() * d);
        for (k, &i) in idx.iter().enumerate() {
            let img = &store[i * d..(i + 1) * d];
            if flip.get(k).copied().unwrap_or(false) {
                push_mirrored(img, s, &mut data);
            } else {
                data.extend_from_slice(img);
            }
        }
        data
    }

    /// `[B, C, S, S]` of gathered images.
    pub fn tensor(&self, spec: ImageSpec, data: Vec<f32>) -> Tensor<4> {
        let n = data.len() / spec.len().max(1);
        Tensor::from_data(TensorData::new(data, [n, spec.channels, spec.size, spec.size]), &self.device)
    }

    /// [`Batcher::gather`] as a tensor.
    pub fn images(&self, spec: ImageSpec, store: &[f32], idx: &[usize], flip: &[bool]) -> Tensor<4> {
        self.tensor(spec, Self::gather(spec, store, idx, flip))
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
    /// Folder name of each kept person.
    pub names: Vec<String>,
    /// Source file of each image row.
    pub paths: Vec<PathBuf>,
    pub skipped: Vec<Skipped>,
}

impl IdentitySet {
    /// The images of every folder in `roots`, one person per folder name across them all,
    /// keeping the people with at least `min_images` readable images. People are numbered
    /// in order of first appearance (folders in order, names sorted within each).
    pub fn load(roots: &[PathBuf], spec: ImageSpec, min_images: usize) -> Result<Self> {
        let (mut paths, mut person_of, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
        let mut ids = crate::intern::Interner::new();
        for root in roots {
            let folder = IdentityFolder::scan(root)?;
            skipped.extend(folder.skipped);
            for (p, &i) in folder.paths.into_iter().zip(&folder.identity) {
                person_of.push(ids.id(&folder.names[i]));
                paths.push(p);
            }
        }
        let (images, kept, bad) = decode_all(&paths, spec);
        skipped.extend(bad);
        let mut people = vec![Vec::new(); ids.len()];
        for (row, &i) in kept.iter().enumerate() {
            people[person_of[i]].push(row);
        }
        let paths: Vec<PathBuf> = kept.iter().map(|&i| paths[i].clone()).collect();
        let (people, names): (Vec<_>, Vec<_>) =
            people.into_iter().zip(ids.into_values()).filter(|(p, _)| p.len() >= min_images.max(1)).unzip();
        if people.len() < 2 {
            let path = roots.first().cloned().unwrap_or_default();
            return Err(Error::Data { path, reason: format!("need at least 2 people with {min_images} or more readable images each") });
        }
        Ok(IdentitySet { spec, images, people, names, paths, skipped })
    }

    /// Takes `n` people with at least two images, drawn with `seed`, out of the set: they
    /// are never trained on, so distances between their images show how the model treats
    /// people it has not seen.
    pub fn hold_out(&mut self, n: usize, seed: u64) -> Vec<HeldOut> {
        let mut candidates: Vec<usize> = (0..self.people.len()).filter(|&p| self.people[p].len() >= 2).collect();
        candidates.shuffle(&mut StdRng::seed_from_u64(seed));
        candidates.truncate(n);
        candidates.sort_unstable();
        let held: Vec<HeldOut> = candidates
            .iter()
            .map(|&p| HeldOut { name: self.names[p].clone(), paths: self.people[p].iter().map(|&r| self.paths[r].clone()).collect() })
            .collect();
        let mut k = 0;
        let keep: Vec<bool> = (0..self.people.len())
            .map(|p| {
                let out = candidates.get(k) == Some(&p);
                k += usize::from(out);
                !out
            })
            .collect();
        self.keep_people(&keep);
        held
    }

    /// Takes the image rows marked in `drop` out of their people; a person left with no
    /// image leaves the set. Rows keep their numbers (the pixels stay in `images`).
    pub fn drop_rows(&mut self, drop: &[bool]) {
        for rows in &mut self.people {
            rows.retain(|&r| !drop.get(r).copied().unwrap_or(false));
        }
        let keep: Vec<bool> = self.people.iter().map(|rows| !rows.is_empty()).collect();
        self.keep_people(&keep);
    }

    /// Keeps the people (and their names) marked in `keep`, one flag per person.
    fn keep_people(&mut self, keep: &[bool]) {
        let mut it = keep.iter();
        self.people.retain(|_| *it.next().unwrap());
        let mut it = keep.iter();
        self.names.retain(|_| *it.next().unwrap());
    }

    /// Every image of a kept person with that person's index: what a classification head
    /// trains on, one pass per epoch.
    pub fn labelled(&self) -> Vec<(usize, usize)> {
        self.people.iter().enumerate().flat_map(|(person, rows)| rows.iter().map(move |&r| (r, person))).collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::repo;

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
    fn identity_pool_keeps_people_with_two_images_and_samples_pairs() {
        let set = IdentitySet::load(&[repo("datasets/lfw_train_identities")], ImageSpec { size: 16, channels: 1 }, 2).unwrap();
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
    fn held_out_people_leave_training_whole_and_are_drawn_by_seed() {
        let spec = ImageSpec { size: 8, channels: 1 };
        let load = || IdentitySet::load(&[repo("datasets/lfw_train_identities")], spec, 1).unwrap();
        let mut set = load();
        let before = set.people.len();
        let held = set.hold_out(50, 3);
        assert_eq!((held.len(), set.people.len(), set.names.len()), (50, before - 50, before - 50));
        for h in &held {
            assert!(h.paths.len() >= 2, "{}: a held-out person needs a pair", h.name);
            assert!(!set.names.contains(&h.name), "{} is still trained on", h.name);
            assert!(h.paths.iter().all(|p| p.parent().unwrap().ends_with(&h.name)));
        }
        let trained: std::collections::HashSet<usize> = set.people.iter().flatten().copied().collect();
        let held_paths: Vec<&PathBuf> = held.iter().flat_map(|h| &h.paths).collect();
        assert!(trained.iter().all(|&r| !held_paths.contains(&&set.paths[r])), "no held-out image is trained on");
        assert_eq!(load().hold_out(50, 3), held, "same seed, same people");
        assert_ne!(load().hold_out(50, 4), held);
        assert!(load().hold_out(0, 3).is_empty());
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

    #[test]
    fn pools_join_people_by_folder_name_and_keep_singletons_when_asked() {
        let tmp = tempfile::tempdir().unwrap();
        let face = |i: u32| repo(&format!("datasets/att_faces/s01/{i:02}.png"));
        let put = |pool: &str, person: &str, n: u32| {
            let d = tmp.path().join(pool).join(person);
            std::fs::create_dir_all(&d).unwrap();
            for i in 1..=n {
                std::fs::copy(face(i), d.join(format!("{i}.png"))).unwrap();
            }
        };
        // ann is in both pools (1 + 2 images = one person of 3); bo has 1, cy 2.
        put("a", "ann", 1);
        put("a", "bo", 1);
        put("b", "ann", 2);
        put("b", "cy", 2);
        let pools = [tmp.path().join("a"), tmp.path().join("b")];
        let spec = ImageSpec { size: 8, channels: 1 };
        let all = IdentitySet::load(&pools, spec, 1).unwrap();
        let sizes: Vec<usize> = all.people.iter().map(Vec::len).collect();
        assert_eq!(sizes, [3, 1, 2], "ann (both pools), bo, cy in order of first appearance");
        assert_eq!(all.labelled().len(), 6);
        assert!(all.labelled().iter().all(|&(row, person)| all.people[person].contains(&row)));
        let pairs = IdentitySet::load(&pools, spec, 2).unwrap();
        assert_eq!(pairs.people.len(), 2, "bo has one image");
        let e = IdentitySet::load(&pools, spec, 3).err().unwrap().to_string();
        assert!(e.contains("3 or more"), "{e}");
    }

    #[test]
    fn a_training_folder_without_face_and_nonface_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let e = FaceSet::load(tmp.path(), GREY64).err().unwrap().to_string();
        assert!(e.contains("face/") && e.contains(&tmp.path().display().to_string()), "{e}");
    }
}
