//! Random changes to identity training images, drawn per image from the run's seeded
//! random stream: a small rotation, zoom and shift (one bilinear affine warp),
//! brightness / contrast / gamma, random erasing, for RGB greyscale, and a low-resolution
//! copy. With 1–4 images of most people, a margin-softmax head otherwise learns the few
//! photos by heart.
use rand::Rng;

use crate::config::AugmentConfig;
use crate::image::ImageSpec;

/// Changes one CHW `image` (values in [0, 1]) in place.
pub fn apply(cfg: &AugmentConfig, image: &mut [f32], spec: ImageSpec, rng: &mut impl Rng) {
    let mut draw = |range: f64| if range > 0.0 { rng.random_range(-range..=range) } else { 0.0 };
    let (angle, zoom, dx, dy) = (draw(cfg.rotation).to_radians(), 1.0 + draw(cfg.scale), draw(cfg.shift), draw(cfg.shift));
    let (bright, contrast, gamma) = (draw(cfg.brightness), 1.0 + draw(cfg.contrast), 1.0 + draw(cfg.gamma));
    if angle != 0.0 || zoom != 1.0 || dx != 0.0 || dy != 0.0 {
        warp(image, spec, angle, zoom, dx, dy);
    }
    if spec.channels == 3 && cfg.greyscale > 0.0 && rng.random_bool(cfg.greyscale) {
        greyscale(image, spec);
    }
    let mean = image.iter().map(|&v| f64::from(v)).sum::<f64>() / image.len().max(1) as f64;
    if bright != 0.0 || contrast != 1.0 || gamma != 1.0 {
        for v in image.iter_mut() {
            let x = ((f64::from(*v) - mean) * contrast + mean + bright).clamp(0.0, 1.0);
            *v = x.powf(gamma) as f32;
        }
    }
    if cfg.erase > 0.0 && rng.random_bool(cfg.erase) {
        let s = spec.size;
        let area = rng.random_range(0.02..0.2) * (s * s) as f64;
        let aspect = rng.random_range(0.5f64..2.0);
        let h = ((area * aspect).sqrt().round() as usize).clamp(1, s);
        let w = ((area / aspect).sqrt().round() as usize).clamp(1, s);
        let (top, left) = (rng.random_range(0..=s - h), rng.random_range(0..=s - w));
        for plane in image.chunks_exact_mut(s * s) {
            for row in top..top + h {
                plane[row * s + left..row * s + left + w].fill(mean as f32);
            }
        }
    }
    // Drawn last, and only when on, so that a config without it draws the same random
    // stream as before it existed and its checkpoints retrain to the same weights.
    if cfg.low_res > 0.0 && rng.random_bool(cfg.low_res) {
        let side = (rng.random_range(0.25..=1.0) * spec.size as f64).round().max(1.0) as u32;
        low_res(image, spec, side);
    }
}

/// Shrinks each plane to `side` pixels a side and enlarges it back, both with the triangle
/// filter (which, shrinking, averages over each new pixel's footprint, as a sensor does):
/// what a face `side` pixels wide still shows.
fn low_res(image: &mut [f32], spec: ImageSpec, side: u32) {
    use ::image::imageops::{FilterType, resize};
    let s = spec.size as u32;
    for plane in image.chunks_exact_mut(spec.size * spec.size) {
        let full = ::image::ImageBuffer::<::image::Luma<f32>, _>::from_raw(s, s, plane.to_vec()).expect("a plane holds size² values");
        let back = resize(&resize(&full, side, side, FilterType::Triangle), s, s, FilterType::Triangle);
        plane.copy_from_slice(back.as_raw());
    }
}

/// Rotates by `angle` (radians) and zooms by `zoom` about the centre, then shifts by
/// (`dx`, `dy`) sides, sampling bilinearly; outside the image, the nearest edge pixel.
fn warp(image: &mut [f32], spec: ImageSpec, angle: f64, zoom: f64, dx: f64, dy: f64) {
    let s = spec.size;
    let c = (s as f64 - 1.0) / 2.0;
    // Output pixel (x, y) reads the input at R(−angle)·((x, y) − centre − shift) / zoom + centre.
    let (sin, cos) = (-angle).sin_cos();
    let (sx, sy) = (dx * s as f64, dy * s as f64);
    let src: Vec<f32> = image.to_vec();
    for (plane, out) in src.chunks_exact(s * s).zip(image.chunks_exact_mut(s * s)) {
        let at = |x: isize, y: isize| plane[(y.clamp(0, s as isize - 1) as usize) * s + x.clamp(0, s as isize - 1) as usize];
        for y in 0..s {
            for x in 0..s {
                let (u, v) = ((x as f64 - c - sx) / zoom, (y as f64 - c - sy) / zoom);
                let (u, v) = (cos * u - sin * v + c, sin * u + cos * v + c);
                let (x0, y0) = (u.floor(), v.floor());
                let (fx, fy) = ((u - x0) as f32, (v - y0) as f32);
                let (x0, y0) = (x0 as isize, y0 as isize);
                let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
                let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
                out[y * s + x] = top * (1.0 - fy) + bottom * fy;
            }
        }
    }
}

/// Rec. 709 luminance into all three planes of an RGB image.
fn greyscale(image: &mut [f32], spec: ImageSpec) {
    let plane = spec.size * spec.size;
    for i in 0..plane {
        let y = 0.2126 * image[i] + 0.7152 * image[plane + i] + 0.0722 * image[2 * plane + i];
        image[i] = y;
        image[plane + i] = y;
        image[2 * plane + i] = y;
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    const SPEC: ImageSpec = ImageSpec { size: 16, channels: 1 };

    /// Every change turned off.
    fn off() -> AugmentConfig {
        AugmentConfig {
            rotation: 0.0,
            scale: 0.0,
            shift: 0.0,
            brightness: 0.0,
            contrast: 0.0,
            gamma: 0.0,
            erase: 0.0,
            greyscale: 0.0,
            low_res: 0.0,
        }
    }

    fn face() -> Vec<f32> {
        (0..256).map(|i| ((i % 16) as f32 * 0.04 + (i / 16) as f32 * 0.02).min(1.0)).collect()
    }

    #[test]
    fn augmentation_is_seeded_keeps_shape_and_range_and_changes_the_image() {
        let cfg = AugmentConfig::default();
        let run = |seed: u64| {
            let mut img = face();
            apply(&cfg, &mut img, SPEC, &mut StdRng::seed_from_u64(seed));
            img
        };
        let (a, b, c) = (run(1), run(1), run(2));
        assert_eq!(a, b, "same seed, same image");
        assert_ne!(a, c);
        assert_ne!(a, face());
        assert!(a.len() == 256 && a.iter().all(|v| (0.0..=1.0).contains(v)), "{a:?}");
        let rgb = ImageSpec { size: 16, channels: 3 };
        let mut img: Vec<f32> = face().into_iter().chain(vec![0.0; 256]).chain(vec![1.0; 256]).collect();
        apply(&AugmentConfig { greyscale: 1.0, ..AugmentConfig::default() }, &mut img, rgb, &mut StdRng::seed_from_u64(3));
        assert_eq!(img.len(), 768);
        assert_eq!(img[..256], img[256..512], "greyscale makes the planes equal");
    }

    #[test]
    fn all_off_is_the_identity_and_each_change_does_what_it_says() {
        let off = off();
        let mut img = face();
        apply(&off, &mut img, SPEC, &mut StdRng::seed_from_u64(1));
        assert_eq!(img, face());
        // A shift of a whole pixel moves the ramp by one column.
        let mut shifted = face();
        warp(&mut shifted, SPEC, 0.0, 1.0, 1.0 / 16.0, 0.0);
        assert!((shifted[5] - face()[4]).abs() < 1e-6 && (shifted[0] - face()[0]).abs() < 1e-6);
        // A quarter turn of a ramp along x gives a ramp along y.
        let mut turned = face();
        warp(&mut turned, SPEC, std::f64::consts::FRAC_PI_2, 1.0, 0.0, 0.0);
        let col = |img: &[f32], x: usize| (0..16).map(|y| img[y * 16 + x]).collect::<Vec<_>>();
        assert!(col(&turned, 3).windows(2).all(|w| (w[0] - w[1]).abs() > 0.01), "varies down a column after turning");
        // Erasing always (chance 1) leaves a flat rectangle of the mean.
        let mut erased = face();
        apply(&AugmentConfig { erase: 1.0, ..off.clone() }, &mut erased, SPEC, &mut StdRng::seed_from_u64(4));
        let mean = face().iter().sum::<f32>() / 256.0;
        assert!(erased.iter().filter(|&&v| (v - mean).abs() < 1e-6).count() >= 5);
        assert!(AugmentConfig { erase: 1.5, ..off.clone() }.validate().is_err());
        assert!(AugmentConfig { low_res: -0.1, ..off.clone() }.validate().is_err());
        assert!(AugmentConfig { rotation: -1.0, ..off }.validate().is_err());
    }

    #[test]
    fn low_res_blurs_fine_detail_and_keeps_coarse_shape() {
        // A one-pixel checkerboard on a left-to-right ramp: shrinking wipes the checks out
        // (neighbours differ by ±0.2 before, far less after) but keeps the ramp.
        let img: Vec<f32> = (0..256).map(|i| 0.3 + (i % 16) as f32 * 0.02 + if (i % 16 + i / 16) % 2 == 0 { 0.1 } else { -0.1 }).collect();
        let step = |img: &[f32]| (1..15).map(|x| (img[8 * 16 + x] - img[8 * 16 + x + 1]).abs()).sum::<f32>() / 14.0;
        let mut small = img.clone();
        low_res(&mut small, SPEC, 4);
        assert!(step(&img) > 0.15 && step(&small) < 0.05, "{} → {}", step(&img), step(&small));
        assert!(small[8 * 16 + 13] > small[8 * 16 + 2] + 0.1, "the ramp survives: {small:?}");
        assert!(small.iter().all(|v| (0.1..=0.7).contains(v)), "no overshoot: {small:?}");
        let mut same = img.clone();
        low_res(&mut same, SPEC, 16);
        assert!(same.iter().zip(&img).all(|(a, b)| (a - b).abs() < 1e-5), "full size is the identity");
        // Through `apply`: chance 1 always blurs; chance 0 draws nothing, so the rest of a
        // seeded stream is as it was.
        let off = off();
        let mut rng = StdRng::seed_from_u64(5);
        let mut always = img.clone();
        apply(&AugmentConfig { low_res: 1.0, ..off.clone() }, &mut always, SPEC, &mut rng);
        assert!(step(&always) < step(&img), "{} vs {}", step(&always), step(&img));
        let (mut a, mut b) = (StdRng::seed_from_u64(6), StdRng::seed_from_u64(6));
        apply(&off, &mut img.clone(), SPEC, &mut a);
        assert_eq!(a.random::<u64>(), b.random::<u64>(), "low_res 0 draws nothing");
    }
}
