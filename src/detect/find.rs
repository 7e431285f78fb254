//! Finding faces in a photo: the network slides over every level of an image pyramid
//! (as MTCNN's first stage), overlapping boxes are merged, and each box is refined by
//! re-reading it turned and scaled to one window — twice — with the same weights.
use burn::prelude::*;

use super::photo::{Mip, Plane};
use super::scenes::iou;
use super::{Detector, Face};
use crate::config::FRAMING_PER_FACE;

/// How `find_faces` searches.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Search {
    /// Smallest face width looked for, in pixels of the photo given.
    pub min_face: f32,
    /// Probability from which a refined box is a face.
    pub score: f32,
}

impl Search {
    /// The search in a copy of the photo scaled by `scale` (≤ 1, the working size): the
    /// smallest face scales with it, but not below what the network sees at its own size
    /// (a face the down-scaling made smaller than that has lost what would find it, and
    /// blowing the copy up again only costs time: 20 s a 4000 × 3000 photo).
    pub fn at_scale(self, scale: f32) -> Search {
        Search { min_face: (self.min_face * scale).max(self.min_face.min(crate::config::DEFAULT_MIN_FACE)), ..self }
    }
}

/// Pyramid levels are this much smaller than the one before: faces within ±22 % of the
/// window's framing side are taught as faces, and √2 steps put every face within ±19 %
/// of one level.
const LEVEL_STEP: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// A window is a candidate from this probability (refinement decides).
const PROPOSE_FROM: f32 = 0.5;
/// Candidates overlapping a better one this much are dropped, before and after refining.
const MERGE_PROPOSALS: f32 = 0.5;
const MERGE_FACES: f32 = 0.3;
/// At most this many candidates are refined per photo (the best first).
const MAX_CANDIDATES: usize = 400;
/// Refinement passes.
const REFINE: usize = 2;

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// Every face in `grey` (a 1-channel pyramid of the photo), best first, in its pixels.
pub fn find_faces(det: &Detector, grey: &Mip, search: Search, device: &Device) -> Vec<Face> {
    let net = &det.config.net;
    let (w, stride) = (net.window as f32, net.stride() as f32);
    let mut scale = w / (search.min_face.max(4.0) * FRAMING_PER_FACE);
    let mut candidates = Vec::new();
    loop {
        let (lw, lh) = ((grey.width() as f32 * scale).round() as usize, (grey.height() as f32 * scale).round() as usize);
        if lw < net.window || lh < net.window {
            break;
        }
        let step = 1.0 / scale;
        let mut x = Vec::with_capacity(lw * lh);
        for y in 0..lh {
            for xx in 0..lw {
                x.push(grey.sample((xx as f32 + 0.5) * step, (y as f32 + 0.5) * step, step, 0) - 0.5);
            }
        }
        let out = det.net.forward(Tensor::<4>::from_data(TensorData::new(x, [1, 1, lh, lw]), device));
        let [_, _, oh, ow] = out.dims();
        let v: Vec<f32> = out.into_data().try_to_vec::<f32>().unwrap_or_default();
        let at = |k: usize, y: usize, x: usize| v[(k * oh + y) * ow + x];
        for oy in 0..oh {
            for ox in 0..ow {
                let p = sigmoid(at(0, oy, ox));
                if p < PROPOSE_FROM {
                    continue;
                }
                let cx = (ox as f32 * stride + w / 2.0 + at(1, oy, ox) * w) * step;
                let cy = (oy as f32 * stride + w / 2.0 + at(2, oy, ox) * w) * step;
                let size = w * at(3, oy, ox).exp() * step;
                candidates.push(Face { cx, cy, size, angle: at(4, oy, ox).atan2(at(5, oy, ox)), score: p });
            }
        }
        scale *= LEVEL_STEP;
    }
    let mut faces = merge(candidates, MERGE_PROPOSALS);
    faces.truncate(MAX_CANDIDATES);
    for _ in 0..REFINE {
        faces = refine(det, grey, &faces, device);
    }
    faces.retain(|f| f.score >= search.score);
    merge(faces, MERGE_FACES)
}

/// Greedy non-maximum suppression: best first, dropping any box overlapping a kept one.
pub fn merge(mut faces: Vec<Face>, overlap: f32) -> Vec<Face> {
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Face> = Vec::new();
    for f in faces {
        if kept.iter().all(|k| iou((k.cx, k.cy, k.size), (f.cx, f.cy, f.size)) < overlap) {
            kept.push(f);
        }
    }
    kept
}

/// The window of `face` (its framing box, turned by its angle) read from `pic` at
/// `side` × `side`: the crop of [`Detector::crop`] and the refinement's input.
pub fn window_of(pic: &Mip, face: &Face, side: usize) -> Plane {
    let (sin, cos) = face.angle.sin_cos();
    let step = face.size / side as f32;
    let c = pic.channels();
    let mut out = Plane::new(side, side, c);
    for v in 0..side {
        for u in 0..side {
            let (dx, dy) = ((u as f32 + 0.5) * step - face.size / 2.0, (v as f32 + 0.5) * step - face.size / 2.0);
            let (x, y) = (face.cx + cos * dx - sin * dy, face.cy + sin * dx + cos * dy);
            for k in 0..c {
                out.data[(v * side + u) * c + k] = pic.sample(x, y, step, k);
            }
        }
    }
    out
}

/// Each face re-read as one window along its current box and turn, and moved by what
/// the network says of that window and of its mirror image, averaged (the mirror's
/// offset across and turn count with their sign changed): a second opinion on the
/// same weights for the price of one more pass over a few windows.
fn refine(det: &Detector, grey: &Mip, faces: &[Face], device: &Device) -> Vec<Face> {
    let (net, w) = (&det.net, det.config.net.window);
    let mut out = Vec::with_capacity(faces.len());
    for chunk in faces.chunks(128) {
        let mut x = Vec::with_capacity(2 * chunk.len() * w * w);
        for f in chunk {
            let win = window_of(grey, f, w);
            x.extend(win.data.iter().map(|v| v - 0.5));
            for row in win.data.chunks_exact(w) {
                x.extend(row.iter().rev().map(|v| v - 0.5));
            }
        }
        let o: Vec<f32> = net
            .forward_windows(Tensor::<4>::from_data(TensorData::new(x, [2 * chunk.len(), 1, w, w]), device))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        for (f, o) in chunk.iter().zip(o.chunks_exact(12)) {
            let (a, m) = (&o[..6], &o[6..]);
            let (sin, cos) = f.angle.sin_cos();
            let (dx, dy) = (0.5 * (a[1] - m[1]) * f.size, 0.5 * (a[2] + m[2]) * f.size);
            let turn = 0.5 * (a[4].atan2(a[5]) - m[4].atan2(m[5]));
            out.push(Face {
                cx: f.cx + cos * dx - sin * dy,
                cy: f.cy + sin * dx + cos * dy,
                size: f.size * (0.5f32 * (a[3] + m[3])).exp(),
                angle: f.angle + turn,
                score: 0.5 * (sigmoid(a[0]) + sigmoid(m[0])),
            });
        }
    }
    out
}
