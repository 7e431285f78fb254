//! Pictures with faces at known places, made by facemb: faces of the training pools
//! (whose 112 px crop *is* the framing box the identity model reads, so the box is known
//! by construction) pasted into face-free scenes with soft elliptical edges, turned,
//! scaled, dimmed, blurred, noised and partly covered. Training draws single windows
//! ([`draw_window`]); the detection test draws whole pictures ([`compose`]) of other
//! people on other scenes with the same [`paste`].
use std::path::{Path, PathBuf};

use rand::Rng;
use rand::rngs::StdRng;
use rayon::prelude::*;

use super::photo::{Mip, Plane};
use crate::error::{Error, Result};
use crate::files::fnv1a;
use crate::image::is_image_path;

/// Side of a pool crop: the framing box's side in the face's own pixels.
pub const FACE_SIDE: f32 = 112.0;

/// One face placed in a picture: the centre and side of its framing box in the picture's
/// pixels, its turn (radians, clockwise on screen), and how it is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placed {
    pub cx: f32,
    pub cy: f32,
    pub size: f32,
    pub angle: f32,
    pub face: usize,
    pub flip: bool,
    /// The soft ellipse's half-axes, as shares of the framing side.
    pub ellipse: (f32, f32),
    /// Brightness of the face against its scene.
    pub gain: f32,
}

/// The faces that are pasted, grey, as pyramids; `names` is the person of each.
pub struct FaceBank {
    pub faces: Vec<Mip>,
    pub names: Vec<String>,
}

/// Face-free scenes, grey, as pyramids.
pub struct SceneBank {
    pub scenes: Vec<Mip>,
    pub paths: Vec<PathBuf>,
}

/// Whether a scene (by its file name) belongs to the test share: one in five, by a hash
/// that does not change when files are added or removed.
pub fn is_test_scene(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    fnv1a(name.bytes()).is_multiple_of(5)
}

fn grey_mip(path: &Path) -> Result<Mip> {
    let img = image::open(path).map_err(|e| Error::Data { path: path.into(), reason: format!("cannot read the image ({e})") })?;
    let g = img.to_luma8();
    let data = g.as_raw().iter().map(|&v| f32::from(v) / 255.0).collect();
    Ok(Mip::new(Plane { width: g.width() as usize, height: g.height() as usize, channels: 1, data }))
}

fn images_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_image_path(p))
        .collect();
    out.sort();
    Ok(out)
}

impl SceneBank {
    /// The scenes of `dir` on the `test` side of the split.
    pub fn load(dir: &Path, test: bool) -> Result<Self> {
        let paths: Vec<PathBuf> = images_in(dir)?.into_iter().filter(|p| is_test_scene(p) == test).collect();
        if paths.is_empty() {
            return Err(Error::Data { path: dir.into(), reason: "no scene images (jpg / png) on this side of the split".into() });
        }
        let scenes = paths.par_iter().map(|p| grey_mip(p)).collect::<Result<Vec<_>>>()?;
        Ok(SceneBank { scenes, paths })
    }
}

impl FaceBank {
    /// At most `max` faces from the identity folders `roots` (`ROOT/<person>/<image>`),
    /// spread evenly over their files in name order.
    pub fn load(roots: &[PathBuf], max: usize) -> Result<Self> {
        let mut all = Vec::new();
        for root in roots {
            let mut people: Vec<PathBuf> = std::fs::read_dir(root)
                .map_err(|e| Error::io(root, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect();
            people.sort();
            for person in people {
                let name = person.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                all.extend(images_in(&person)?.into_iter().map(|p| (name.clone(), p)));
            }
        }
        if all.is_empty() {
            return Err(Error::Invalid(format!(
                "no face images in {}",
                roots.iter().map(|r| r.display().to_string()).collect::<Vec<_>>().join(", ")
            )));
        }
        let n = all.len().min(max);
        let picked: Vec<&(String, PathBuf)> = (0..n).map(|i| &all[i * all.len() / n]).collect();
        let faces = picked.par_iter().map(|(_, p)| grey_mip(p)).collect::<Result<Vec<_>>>()?;
        Ok(FaceBank { faces, names: picked.iter().map(|(n, _)| n.clone()).collect() })
    }
}

/// Draws `face` into `into` at `at` (coordinates of `into`), blended through its soft
/// ellipse: the one paste of both training windows and test pictures.
pub fn paste(into: &mut Plane, face: &Mip, at: &Placed) {
    let (sin, cos) = at.angle.sin_cos();
    let per = FACE_SIDE / at.size; // face pixels per picture pixel
    let half = at.size * std::f32::consts::FRAC_1_SQRT_2;
    let (x0, x1) = (((at.cx - half).floor().max(0.0)) as usize, ((at.cx + half).ceil().max(0.0) as usize).min(into.width));
    let (y0, y1) = (((at.cy - half).floor().max(0.0)) as usize, ((at.cy + half).ceil().max(0.0) as usize).min(into.height));
    let (ax, ay) = (at.ellipse.0 * FACE_SIDE, at.ellipse.1 * FACE_SIDE);
    let c = into.channels;
    for y in y0..y1 {
        for x in x0..x1 {
            let (dx, dy) = (x as f32 + 0.5 - at.cx, y as f32 + 0.5 - at.cy);
            // Picture → face: turn back by the angle, then scale.
            let (u, v) = ((cos * dx + sin * dy) * per, (-sin * dx + cos * dy) * per);
            let e = ((u / ax).powi(2) + ((v - 0.03 * FACE_SIDE) / ay).powi(2)).sqrt();
            if e >= 1.0 {
                continue;
            }
            let alpha = smooth((1.0 - e) / 0.3);
            let u = if at.flip { -u } else { u };
            let value = face.sample(u + FACE_SIDE / 2.0, v + FACE_SIDE / 2.0, per, 0) * at.gain;
            for k in 0..c {
                let p = &mut into.data[(y * into.width + x) * c + k];
                *p += alpha * (value - *p);
            }
        }
    }
}

fn smooth(t: f32) -> f32 {
    let t = t.clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// A `w` × `h` grey piece of `scene`: a random square-ish region of it, resampled.
pub fn background(scene: &Mip, w: usize, h: usize, rng: &mut StdRng) -> Plane {
    let (sw, sh) = (scene.width() as f32, scene.height() as f32);
    // Scene pixels per output pixel: from a small part of the scene blown up a little to
    // the whole scene squeezed in.
    let most = (sw / w as f32).min(sh / h as f32);
    let step = (rng.random_range(0.35f32.ln()..most.max(0.36).ln())).exp();
    let (rw, rh) = (step * w as f32, step * h as f32);
    let (ox, oy) = (rng.random_range(0.0..(sw - rw).max(0.0) + 1e-3), rng.random_range(0.0..(sh - rh).max(0.0) + 1e-3));
    let mut out = Plane::new(w, h, 1);
    for y in 0..h {
        for x in 0..w {
            out.data[y * w + x] = scene.sample(ox + (x as f32 + 0.5) * step, oy + (y as f32 + 0.5) * step, step, 0);
        }
    }
    out
}

/// A random face drawing at `(cx, cy)` of side `size`, turned up to ±30°.
pub fn placement(faces: usize, cx: f32, cy: f32, size: f32, rng: &mut StdRng) -> Placed {
    Placed {
        cx,
        cy,
        size,
        angle: rng.random_range(-30f32..30.0).to_radians(),
        face: rng.random_range(0..faces),
        flip: rng.random_bool(0.5),
        ellipse: (rng.random_range(0.36..0.46), rng.random_range(0.44..0.52)),
        gain: rng.random_range(0.8..1.2),
    }
}

/// Brightness, contrast, blur, noise and one covering rectangle: the ways a photo differs
/// from the pool crops.
pub fn spoil(p: &mut Plane, rng: &mut StdRng) {
    if rng.random_bool(0.3) {
        blur(p);
    }
    let (gain, shift) = (rng.random_range(0.6f32..1.3), rng.random_range(-0.15f32..0.15));
    let gamma = rng.random_range(0.7f32..1.4);
    let noise = if rng.random_bool(0.5) { rng.random_range(0.0f32..0.05) } else { 0.0 };
    for v in &mut p.data {
        let n = if noise > 0.0 { noise * (rng.random::<f32>() + rng.random::<f32>() + rng.random::<f32>() - 1.5) } else { 0.0 };
        *v = ((*v * gain + shift).clamp(0.0, 1.0).powf(gamma) + n).clamp(0.0, 1.0);
    }
    if rng.random_bool(0.15) {
        let (w, h) = (p.width, p.height);
        let (rw, rh) = (rng.random_range(w / 6..w / 2 + 1), rng.random_range(h / 6..h / 2 + 1));
        let (x0, y0) = (rng.random_range(0..w - rw + 1), rng.random_range(0..h - rh + 1));
        let fill = rng.random::<f32>();
        for y in y0..y0 + rh {
            for x in x0..x0 + rw {
                p.data[y * w + x] = fill;
            }
        }
    }
}

fn blur(p: &mut Plane) {
    let (w, h) = (p.width, p.height);
    let src = p.data.clone();
    for y in 0..h {
        for x in 0..w {
            let mut s = 0.0;
            for (dy, dx) in [(-1i32, 0i32), (1, 0), (0, -1), (0, 1)] {
                let (yy, xx) = ((y as i32 + dy).clamp(0, h as i32 - 1) as usize, (x as i32 + dx).clamp(0, w as i32 - 1) as usize);
                s += src[yy * w + xx];
            }
            p.data[y * w + x] = 0.5 * src[y * w + x] + 0.125 * s;
        }
    }
}

/// Overlap (intersection over union) of two axis-aligned squares given by centre and side.
pub fn iou(a: (f32, f32, f32), b: (f32, f32, f32)) -> f32 {
    let overlap = |ca: f32, sa: f32, cb: f32, sb: f32| ((ca + sa / 2.0).min(cb + sb / 2.0) - (ca - sa / 2.0).max(cb - sb / 2.0)).max(0.0);
    let inter = overlap(a.0, a.2, b.0, b.2) * overlap(a.1, a.2, b.1, b.2);
    inter / (a.2 * a.2 + b.2 * b.2 - inter)
}

/// What a training window should say: face (1), not (0) or either (−1: neither is
/// taught), and — when `boxed` — where the best-overlapping face's box is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Target {
    pub label: f32,
    /// Centre offset x, y (in windows), log side (in windows), sine and cosine of the turn.
    pub reg: [f32; 5],
    pub boxed: bool,
}

/// A window is a face from this overlap with a face's box, not one below
/// [`NOT_FACE_BELOW`]; between the two it is not taught either way. A box is taught from
/// [`BOX_FROM`] (MTCNN's part faces).
pub const FACE_FROM: f32 = 0.6;
pub const NOT_FACE_BELOW: f32 = 0.3;
pub const BOX_FROM: f32 = 0.4;

/// The target of a `window`-sided window that shows `faces` (window coordinates).
pub fn target(window: f32, faces: &[Placed]) -> Target {
    let me = (window / 2.0, window / 2.0, window);
    let best = faces.iter().map(|f| (iou(me, (f.cx, f.cy, f.size)), f)).max_by(|a, b| a.0.total_cmp(&b.0));
    let Some((overlap, f)) = best else { return Target { label: 0.0, reg: [0.0; 5], boxed: false } };
    let label = if overlap >= FACE_FROM {
        1.0
    } else if overlap < NOT_FACE_BELOW {
        0.0
    } else {
        -1.0
    };
    let reg = [(f.cx - me.0) / window, (f.cy - me.1) / window, (f.size / window).ln(), f.angle.sin(), f.angle.cos()];
    Target { label, reg, boxed: overlap >= BOX_FROM }
}

/// One training window of side `window`: a piece of a scene with none, one or two faces
/// in it, spoilt, and its target. Positives, boxes of part faces, faces of the wrong size
/// and plain scene each about a quarter.
pub fn draw_window(faces: &FaceBank, scenes: &SceneBank, window: usize, rng: &mut StdRng) -> (Plane, Target) {
    let w = window as f32;
    let scene = &scenes.scenes[rng.random_range(0..scenes.scenes.len())];
    let mut p = background(scene, window, window, rng);
    let mut placed = Vec::new();
    let (log_size, shift) = match rng.random_range(0..4) {
        0 => (rng.random_range(-0.22f32..0.22), 0.12),
        1 => (rng.random_range(-0.5f32..0.5), 0.4),
        2 => (if rng.random_bool(0.5) { rng.random_range(0.45f32..1.4) } else { -rng.random_range(0.45f32..1.2) }, 0.3),
        _ => (0.0, -1.0),
    };
    if shift >= 0.0 {
        let size = w * log_size.exp();
        let (cx, cy) = (w / 2.0 + rng.random_range(-shift..=shift) * size, w / 2.0 + rng.random_range(-shift..=shift) * size);
        placed.push(placement(faces.faces.len(), cx, cy, size, rng));
    }
    if rng.random_bool(0.2) {
        let size = w * rng.random_range(-1.0f32..0.6).exp();
        let (cx, cy) = (rng.random_range(-0.3 * w..1.3 * w), rng.random_range(-0.3 * w..1.3 * w));
        placed.push(placement(faces.faces.len(), cx, cy, size, rng));
    }
    for f in &placed {
        paste(&mut p, &faces.faces[f.face], f);
    }
    spoil(&mut p, rng);
    (p, target(w, &placed))
}

/// A `w` × `h` test picture: `scene` with 0–8 faces of 20 px face width (a framing side
/// of 30) up to most of the picture, turned up to ±30°, not overlapping much.
pub fn compose(faces: &FaceBank, scene: &Mip, w: usize, h: usize, rng: &mut StdRng) -> (Plane, Vec<Placed>) {
    let mut p = background(scene, w, h, rng);
    let mut placed: Vec<Placed> = Vec::new();
    let count = rng.random_range(0..=8);
    let largest = (w.min(h) as f32 * 0.9).max(31.0);
    for _ in 0..count * 4 {
        if placed.len() == count {
            break;
        }
        let size = rng.random_range(30f32.ln()..largest.ln()).exp();
        let (cx, cy) = (rng.random_range(0.0..w as f32), rng.random_range(0.0..h as f32));
        let f = placement(faces.faces.len(), cx, cy, size, rng);
        if placed
            .iter()
            .all(|g| iou((g.cx, g.cy, g.size), (cx, cy, size)) < 0.1 && (g.cx - cx).hypot(g.cy - cy) > 0.5 * (g.size + size) * 0.6)
        {
            placed.push(f);
        }
    }
    for f in &placed {
        paste(&mut p, &faces.faces[f.face], f);
    }
    spoil(&mut p, rng);
    (p, placed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_window_centred_on_a_face_of_its_size_is_a_face_and_a_distant_one_is_not() {
        let f = |cx: f32, cy: f32, size: f32| Placed { cx, cy, size, angle: 0.3, face: 0, flip: false, ellipse: (0.4, 0.5), gain: 1.0 };
        let t = target(32.0, &[f(17.0, 16.0, 32.0)]);
        assert_eq!(t.label, 1.0);
        assert!(t.boxed && (t.reg[0] - 1.0 / 32.0).abs() < 1e-6 && t.reg[2].abs() < 1e-6 && (t.reg[3] - 0.3f32.sin()).abs() < 1e-6);
        assert_eq!(target(32.0, &[f(70.0, 16.0, 32.0)]).label, 0.0);
        // A face half the window's side: overlap 0.25, not a face at this scale.
        assert_eq!(target(32.0, &[f(16.0, 16.0, 16.0)]).label, 0.0);
        assert_eq!(target(32.0, &[]).label, 0.0);
        assert!((iou((0.0, 0.0, 2.0), (1.0, 0.0, 2.0)) - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn a_pasted_face_changes_the_picture_inside_its_ellipse_only() {
        let mut face = Plane::new(112, 112, 1);
        face.data.iter_mut().for_each(|v| *v = 1.0);
        let face = Mip::new(face);
        let mut pic = Plane::new(100, 100, 1);
        let at = Placed { cx: 50.0, cy: 50.0, size: 40.0, angle: 0.5, face: 0, flip: false, ellipse: (0.4, 0.5), gain: 1.0 };
        paste(&mut pic, &face, &at);
        assert!(pic.data[50 * 100 + 50] > 0.99, "the centre is the face");
        assert_eq!(pic.data[50 * 100 + 75], 0.0, "outside the framing box nothing changes");
        assert_eq!(pic.data[5 * 100 + 5], 0.0);
        let mut rng = StdRng::seed_from_u64(1);
        let mut p = pic.clone();
        spoil(&mut p, &mut rng);
        assert!(p.data.iter().all(|v| (0.0..=1.0).contains(v)));
    }
}
