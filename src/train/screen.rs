//! Screening identity images with a face / non-face classifier before training
//! (`[identity.screen]`): crops that slipped past a data set's face check (about 2 % of
//! `celeba_identities` are scenery, torsos or hands) would teach the identity head that a
//! torso is somebody. identity-v5's face head gives P(face) < 0.5 to 90 of the 5 892
//! `celeba_identities` crops; in a montage of the lowest, most are not faces.
use std::path::PathBuf;

use burn::prelude::*;
use burn::tensor::activation::sigmoid;

use super::data::IdentitySet;
use crate::backend::to_vec;
use crate::config::ScreenConfig;
use crate::embed::DEFAULT_BATCH;
use crate::error::{Error, Result};
use crate::model::checkpoint::Checkpoint;
use crate::progress::{self, Reporter};

/// An identity image the screen dropped, with its P(face).
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct Screened {
    pub path: PathBuf,
    pub p_face: f32,
}

/// P(face) of every image row of `set` by the checkpoint `screen.model`, and the rows
/// below `screen.below` taken out of the set (a person left with none leaves with them).
/// The checkpoint must read images as this run does.
pub fn screen(set: &mut IdentitySet, screen: &ScreenConfig, device: &Device, reporter: Reporter) -> Result<Vec<Screened>> {
    let ck = Checkpoint::open(&screen.model, reporter)?;
    let theirs = ck.config.image_spec();
    if theirs != set.spec {
        return Err(Error::Checkpoint {
            path: screen.model.clone(),
            reason: format!(
                "the screening model reads {0}×{0} images of {1} channel(s), this run {2}×{2} of {3}",
                theirs.size, theirs.channels, set.spec.size, set.spec.channels
            ),
        });
    }
    let model = ck.load_model(device)?;
    let p_face = face_probabilities(&model, set, device, reporter.bars)?;
    let drop: Vec<bool> = p_face.iter().map(|&p| p < screen.below).collect();
    let screened = (0..drop.len()).filter(|&r| drop[r]).map(|r| Screened { path: set.paths[r].clone(), p_face: p_face[r] }).collect();
    set.drop_rows(&drop);
    Ok(screened)
}

/// sigmoid(face logit) of each image row of `set`, in batches.
fn face_probabilities(model: &crate::model::FaceNet, set: &IdentitySet, device: &Device, progress: bool) -> Result<Vec<f32>> {
    let d = set.spec.len();
    let rows = set.images.len() / d.max(1);
    let pb = progress::bar(rows, "screening [{bar:30}] {pos}/{len} identity images ({per_sec}, {eta})", progress);
    let mut out = Vec::with_capacity(rows);
    for chunk in set.images.chunks(DEFAULT_BATCH * d) {
        let n = chunk.len() / d;
        let x = Tensor::<4>::from_data(TensorData::new(chunk.to_vec(), [n, set.spec.channels, set.spec.size, set.spec.size]), device);
        out.extend(to_vec(sigmoid(model.forward(x)))?);
        pb.inc(n as u64);
    }
    pb.finish_and_clear();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::ImageSpec;
    use crate::model::checkpoint::READY_MODEL;
    use crate::synthetic::repo;

    /// Two people of five real faces each, one of whom also has five scenes filed under
    /// their name (what a bad crop looks like to the pool), and a third "person" of three
    /// scenes only; and the first five scenes' file names.
    fn pool_with_scenes() -> (tempfile::TempDir, Vec<PathBuf>) {
        let root = tempfile::tempdir().unwrap();
        let listed = |d: &str| crate::image::folder::images_in(&repo(d), &mut Vec::new()).unwrap();
        let (faces, scenes) = (listed("datasets/face_nonface/face"), listed("datasets/face_nonface/nonface"));
        for (person, files) in
            [("Anna", [&faces[..5], &scenes[..5]].concat()), ("Ben", faces[5..10].to_vec()), ("Cara", scenes[5..8].to_vec())]
        {
            let dir = root.path().join(person);
            std::fs::create_dir(&dir).unwrap();
            for f in files {
                std::fs::copy(&f, dir.join(f.file_name().unwrap())).unwrap();
            }
        }
        (root, scenes[..5].iter().map(|p| PathBuf::from(p.file_name().unwrap())).collect())
    }

    fn ready_screen() -> ScreenConfig {
        ScreenConfig { model: repo("checkpoints").join(READY_MODEL.name), below: crate::config::DEFAULT_SCREEN_BELOW }
    }

    #[test]
    fn the_ready_models_face_head_takes_scenes_out_of_an_identity_pool_and_keeps_the_faces() {
        let (root, scenes) = pool_with_scenes();
        let mut set = IdentitySet::load(&[root.path().to_path_buf()], ImageSpec { size: 64, channels: 1 }, 1).unwrap();
        assert_eq!((set.labelled().len(), set.names.len()), (18, 3));
        let device = crate::backend::device(crate::backend::Backend::default()).unwrap();
        let out = screen(&mut set, &ready_screen(), &device, Reporter::SILENT).unwrap();
        // All eight scenes go (at most one face with them); the people with faces stay,
        // the one of scenes only leaves.
        assert!((8..=9).contains(&out.len()) && out.iter().all(|s| s.p_face < 0.5), "{out:?}");
        for scene in &scenes {
            assert!(out.iter().any(|s| s.path.ends_with(PathBuf::from("Anna").join(scene))), "{scene:?} kept: {out:?}");
        }
        assert_eq!(set.labelled().len(), 18 - out.len());
        assert_eq!(set.names, ["Anna", "Ben"]);
    }

    #[test]
    fn a_screening_model_that_reads_other_images_is_refused_by_name() {
        let (root, _) = pool_with_scenes();
        let mut set = IdentitySet::load(&[root.path().to_path_buf()], ImageSpec { size: 32, channels: 1 }, 1).unwrap();
        let device = crate::backend::device(crate::backend::Backend::default()).unwrap();
        let err = screen(&mut set, &ready_screen(), &device, Reporter::SILENT).unwrap_err();
        assert!(matches!(&err, Error::Checkpoint { path, .. } if path.ends_with(READY_MODEL.name)), "{err}");
        assert_eq!(set.labelled().len(), 18);
    }
}
