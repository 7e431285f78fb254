//! Hard negatives: what a trained detector wrongly finds in face-free training scenes,
//! kept as windows to teach it "not a face" in a fine-tune. The compositor's plain-scene
//! windows are mostly easy (sky, walls), so detector-v1 learnt them and still called
//! ~6 small patches per 640 × 480 test scene a face (precision 0.39 on the detection test);
//! MTCNN's and Viola–Jones's cascades get their precision the same way.
use burn::prelude::*;
use rand::Rng;
use rand::rngs::StdRng;

use super::find::{Search, find_faces, window_of};
use super::photo::{Mip, Plane};
use super::scenes::{SceneBank, background};
use super::{Detector, Face};
use crate::progress::{self, Reporter};

/// Side of a mined picture: the detection test's and the off-centre photos' size.
const PICTURE: (usize, usize) = (640, 480);

/// A refined box from this probability is kept: detector-v1's own default was 0.95, so the
/// near misses below it are taught too (and 0.5 became detector-v2's default).
const MINE_FROM: f32 = 0.5;

/// Each false detection is kept as it was found and this many times moved by up to a
/// tenth of its side and scaled by up to ±10 %: the network sees a false face at every
/// pyramid offset, not only where the search happened to refine it.
const JITTERED: usize = 2;

/// Windows (grey, `window` × `window`, values 0–1) of everything `det` finds in
/// `pictures` face-free pieces of `scenes`; picture `i` is drawn by `rng_of(i)`, so a
/// resumed run mines the same windows.
pub fn mine(
    det: &Detector,
    scenes: &SceneBank,
    window: usize,
    pictures: usize,
    rng_of: impl Fn(usize) -> StdRng,
    device: &Device,
    rep: Reporter,
) -> Vec<Plane> {
    let search = Search { min_face: crate::config::DEFAULT_MIN_FACE, score: MINE_FROM };
    let pb = progress::bar(pictures, "mine [{bar:30}] {pos}/{len} scene pictures ({eta})", rep.bars);
    let mut out = Vec::new();
    for i in 0..pictures {
        pb.inc(1);
        let mut rng = rng_of(i);
        let scene = &scenes.scenes[rng.random_range(0..scenes.scenes.len())];
        let pic = Mip::new(background(scene, PICTURE.0, PICTURE.1, &mut rng));
        for f in find_faces(det, &pic, search, device) {
            out.push(window_of(&pic, &f, window));
            for _ in 0..JITTERED {
                let moved = Face {
                    cx: f.cx + rng.random_range(-0.1..0.1) * f.size,
                    cy: f.cy + rng.random_range(-0.1..0.1) * f.size,
                    size: f.size * rng.random_range(-0.1f32..0.1).exp(),
                    ..f
                };
                out.push(window_of(&pic, &moved, window));
            }
        }
    }
    pb.finish_and_clear();
    out
}

/// Mined window `rng` picks, mirrored half the time: a training window taught "not a face".
pub fn draw_mined(mined: &[Plane], rng: &mut StdRng) -> Plane {
    let mut p = mined[rng.random_range(0..mined.len())].clone();
    if rng.random_bool(0.5) {
        let w = p.width;
        p.data.chunks_exact_mut(w).for_each(<[f32]>::reverse);
    }
    p
}
