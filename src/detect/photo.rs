//! A photo as the detector reads it: decoded once (EXIF orientation applied, bounded to a
//! working size), kept as float planes with a pyramid of halvings so that any box, at
//! any size, is sampled from the level whose pixels match it (bilinear on a level no
//! more than 2× finer than the output: no aliasing when a 600 px face becomes 32 px).
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageReader};

use crate::image::SkipReason;

/// Photos are read at most this many pixels on their longer side: a 4000 × 3000 camera
/// picture is detected at 1600 × 1200 (faces ≥ 20 px there are ≥ 50 px in the original).
pub const WORKING_SIDE: u32 = 1600;
/// Files larger than this are not decoded (a corrupt or hostile header could ask for
/// gigabytes); counted as skipped.
pub const MAX_PHOTO_PIXELS: u64 = 100_000_000;

/// `channels` interleaved float planes in [0, 1], row-major.
#[derive(Clone, Debug)]
pub struct Plane {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub data: Vec<f32>,
}

impl Plane {
    pub fn new(width: usize, height: usize, channels: usize) -> Self {
        Plane { width, height, channels, data: vec![0.0; width * height * channels] }
    }

    /// Luminance (ITU-R 601, as `image`'s `to_luma8` and the identity model's input).
    pub fn grey(&self) -> Plane {
        if self.channels == 1 {
            return self.clone();
        }
        let data = self.data.chunks_exact(self.channels).map(|p| 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]).collect();
        Plane { width: self.width, height: self.height, channels: 1, data }
    }

    /// Half the size in each direction, each pixel the mean of its 2 × 2 (an odd last
    /// row or column is dropped).
    pub fn halve(&self) -> Plane {
        let (w, h, c) = (self.width / 2, self.height / 2, self.channels);
        let mut out = Plane::new(w.max(1), h.max(1), c);
        for y in 0..h {
            for x in 0..w {
                for k in 0..c {
                    let at = |yy: usize, xx: usize| self.data[(yy * self.width + xx) * c + k];
                    out.data[(y * w + x) * c + k] =
                        0.25 * (at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1));
                }
            }
        }
        out
    }

    /// Bilinear value of channel `k` at (x, y) in pixel units (pixel centres at +0.5),
    /// borders replicated.
    #[inline]
    pub fn bilinear(&self, x: f32, y: f32, k: usize) -> f32 {
        let fx = (x - 0.5).clamp(0.0, (self.width - 1) as f32);
        let fy = (y - 0.5).clamp(0.0, (self.height - 1) as f32);
        let (x0, y0) = (fx as usize, fy as usize);
        let (x1, y1) = ((x0 + 1).min(self.width - 1), (y0 + 1).min(self.height - 1));
        let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
        let c = self.channels;
        let p = |xx: usize, yy: usize| self.data[(yy * self.width + xx) * c + k];
        let top = p(x0, y0) + ax * (p(x1, y0) - p(x0, y0));
        let bottom = p(x0, y1) + ax * (p(x1, y1) - p(x0, y1));
        top + ay * (bottom - top)
    }
}

/// A plane and its successive halvings, down to a few pixels.
#[derive(Clone, Debug)]
pub struct Mip {
    pub levels: Vec<Plane>,
}

impl Mip {
    pub fn new(base: Plane) -> Self {
        let mut levels = vec![base];
        while let Some(last) = levels.last().filter(|p| p.width >= 8 && p.height >= 8) {
            let next = last.halve();
            levels.push(next);
        }
        Mip { levels }
    }

    pub fn width(&self) -> usize {
        self.levels[0].width
    }

    pub fn height(&self) -> usize {
        self.levels[0].height
    }

    pub fn channels(&self) -> usize {
        self.levels[0].channels
    }

    /// The level for reading with `step` base pixels between output pixels: the coarsest
    /// whose pixels are no larger than the step.
    #[inline]
    pub fn level(&self, step: f32) -> (usize, &Plane) {
        let l = if step > 1.0 { (step.log2().floor() as usize).min(self.levels.len() - 1) } else { 0 };
        (l, &self.levels[l])
    }

    /// Channel `k` at base coordinates (x, y), read from the level that suits `step`.
    #[inline]
    pub fn sample(&self, x: f32, y: f32, step: f32, k: usize) -> f32 {
        let (l, p) = self.level(step);
        let f = (1u32 << l) as f32;
        p.bilinear(x / f, y / f, k)
    }
}

/// An image file decoded upright (its EXIF orientation applied) as RGB floats, scaled
/// down to at most [`WORKING_SIDE`] on its longer side; also returns that scale
/// (working pixels per original pixel, ≤ 1).
pub fn read_photo(path: &Path) -> Result<(Plane, f32), SkipReason> {
    let reader = ImageReader::open(path)
        .map_err(|e| SkipReason::Unreadable(e.to_string()))?
        .with_guessed_format()
        .map_err(|e| SkipReason::Unreadable(e.to_string()))?;
    let mut decoder = reader.into_decoder().map_err(|e| SkipReason::Undecodable(e.to_string()))?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > MAX_PHOTO_PIXELS {
        return Err(SkipReason::TooLarge(format!("{w} × {h} pixels, more than the {MAX_PHOTO_PIXELS} facemb reads")));
    }
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| SkipReason::Undecodable(e.to_string()))?;
    img.apply_orientation(orientation);
    let (w, h) = (img.width(), img.height());
    if w == 0 || h == 0 {
        return Err(SkipReason::Undecodable("the image has no pixels".into()));
    }
    let scale = (WORKING_SIDE as f32 / w.max(h) as f32).min(1.0);
    if scale < 1.0 {
        let (nw, nh) = (((w as f32 * scale).round() as u32).max(1), ((h as f32 * scale).round() as u32).max(1));
        img = img.resize_exact(nw, nh, image::imageops::FilterType::Triangle);
    }
    Ok((from_rgb8(&img.to_rgb8()), scale))
}

/// RGB bytes → a 3-channel plane in [0, 1].
pub fn from_rgb8(img: &image::RgbImage) -> Plane {
    let data = img.as_raw().iter().map(|&v| f32::from(v) / 255.0).collect();
    Plane { width: img.width() as usize, height: img.height() as usize, channels: 3, data }
}

/// A plane (1 or 3 channels) → RGB bytes, for writing crops and drawn photos.
pub fn to_rgb8(p: &Plane) -> image::RgbImage {
    let mut out = image::RgbImage::new(p.width as u32, p.height as u32);
    for (i, px) in out.pixels_mut().enumerate() {
        let at = |k: usize| (p.data[i * p.channels + k.min(p.channels - 1)].clamp(0.0, 1.0) * 255.0).round() as u8;
        *px = image::Rgb([at(0), at(1), at(2)]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pyramid_level_is_read_where_its_pixels_match_the_step() {
        // A 64 px ramp: every level holds the same ramp, so any step reads the same value
        // at the same place (up to the halving's half-pixel blur).
        let mut p = Plane::new(64, 64, 1);
        for y in 0..64 {
            for x in 0..64 {
                p.data[y * 64 + x] = x as f32 / 64.0;
            }
        }
        let mip = Mip::new(p);
        assert_eq!(mip.levels.len(), 5); // 64, 32, 16, 8, 4
        assert_eq!(mip.level(0.5).0, 0);
        assert_eq!(mip.level(2.5).0, 1);
        assert_eq!(mip.level(100.0).0, 4);
        for step in [1.0, 2.0, 4.0] {
            assert!((mip.sample(32.0, 20.0, step, 0) - 0.5).abs() < 0.02, "step {step}");
        }
    }
}
