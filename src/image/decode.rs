//! Image file → network input: decode, luminance, resize, CHW floats in [0, 1].
//!
//! Images are stretched to a square rather than cropped: face crops are near-square and
//! cropping would cut chins or foreheads off non-square ones (AT&T is 92×112).
//!
//! The pixels are those of the straightforward path (`image` decode → `to_luma8`, i.e.
//! Rec. 709 weights → triangle resize), which every checkpoint so far was trained on; the
//! test `fast_decode_matches_the_image_crate_path` holds this to within one grey level.
//! It is reached by a cheaper road because at 1 000–1 600 img/s of network, decoding on
//! the same two cores decides how close `infer` gets to the network's own rate:
//! - JPEGs go straight to zune-jpeg (the decoder `image` wraps, minus a second header
//!   parse and a `DynamicImage`), into buffers that each worker reuses ([`Scratch`]);
//! - luminance is one integer pass, compiled for AVX2 where the CPU has it;
//! - `fast_image_resize`'s SIMD convolution replaces `image`'s generic f32 resampler.
//!
//! Per LFW image (112×112 JPEG → 64×64 grey), one thread: 0.40 ms through `image` and
//! 0.21 ms with fresh buffers (AMD Zen 3, 2026-12-01); 0.124 → 0.095 ms with reused
//! buffers and AVX2 luminance (Intel Xeon, 2026-12-02). `facemb bench-infer` prints the
//! split by stage.
use std::io::Read;
use std::path::Path;

use super::{ImageSpec, MAX_FILE_BYTES, MAX_PIXELS, MAX_SIDE, SkipReason};

/// Refuses a declared size over the limits before anything is allocated for it.
fn check_size(w: u64, h: u64) -> Result<(), SkipReason> {
    if w > MAX_SIDE as u64 || h > MAX_SIDE as u64 || w * h > MAX_PIXELS {
        return Err(SkipReason::TooLarge(format!("{w} × {h} pixels; the limit is {MAX_SIDE} a side and {MAX_PIXELS} in all")));
    }
    Ok(())
}

/// Whether a JPEG's last scan is followed by its end marker. Inside entropy-coded data
/// 0xFF is always followed by 0x00 or a restart marker, so an end-of-image marker (FF D9)
/// after the last start-of-scan (FF DA) is the real end; a cut-off file has none (an EXIF
/// thumbnail's own end marker comes before the main image's scan). Bytes after the
/// marker (some cameras append data) do not matter. Searched from the end, so a whole
/// file (marker in its last two bytes) costs two comparisons, not a pass over its data.
fn jpeg_is_complete(file: &[u8]) -> bool {
    file.windows(2).rev().find(|w| *w == [0xFF, 0xD9] || *w == [0xFF, 0xDA]).is_some_and(|w| w[1] == 0xD9)
}

/// Decodes one image file of any size / colour type into a CHW vector.
pub fn load_image(path: &Path, spec: ImageSpec) -> Result<Vec<f32>, SkipReason> {
    let mut out = vec![0.0; spec.len()];
    Scratch::default().load_into(path, spec, &mut out)?;
    Ok(out)
}

/// Buffers one decoding worker reuses from image to image, and the stages of a decode.
///
/// Allocating (and the kernel zeroing) a fresh output buffer per image cost zune-jpeg
/// 0.090 instead of 0.074 ms on a 112×112 JPEG, so a batch is decoded with one `Scratch`
/// per rayon job (`map_init`), not one per image.
#[derive(Default)]
pub struct Scratch {
    file: Vec<u8>,
    /// Decoder output when it is not yet what the network reads (RGB for a grey input).
    decoded: Vec<u8>,
    /// `channels` interleaved 8-bit values, at the file's size.
    pixels: Vec<u8>,
    resized: Vec<u8>,
    resizer: fast_image_resize::Resizer,
    width: u32,
    height: u32,
    channels: usize,
}

impl Scratch {
    /// Read, decode, resize and convert `path` into `out` (`spec.len()` values).
    pub fn load_into(&mut self, path: &Path, spec: ImageSpec, out: &mut [f32]) -> Result<(), SkipReason> {
        self.read(path)?;
        self.decode(spec.channels)?;
        self.resize(spec.size as u32)?;
        self.write_chw(out);
        Ok(())
    }

    /// The file's bytes; an empty file is an error of its own (a common failed download).
    /// Only regular files under [`MAX_FILE_BYTES`] are read, and only when their first
    /// bytes are those of an image format: a large non-image is not read whole.
    pub fn read(&mut self, path: &Path) -> Result<(), SkipReason> {
        let unreadable = |e: std::io::Error| SkipReason::Unreadable(e.to_string());
        self.file.clear();
        let meta = std::fs::metadata(path).map_err(unreadable)?;
        if !meta.is_file() {
            return Err(SkipReason::NotAFile);
        }
        if meta.len() == 0 {
            return Err(SkipReason::EmptyFile);
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(SkipReason::TooLarge(format!("{} MiB; the limit is {} MiB", meta.len() >> 20, MAX_FILE_BYTES >> 20)));
        }
        let mut f = std::fs::File::open(path).map_err(unreadable)?;
        (&mut f).take(32).read_to_end(&mut self.file).map_err(unreadable)?;
        if image::guess_format(&self.file).is_err() {
            return Err(SkipReason::Undecodable("its first bytes are not those of an image format".into()));
        }
        f.read_to_end(&mut self.file).map_err(unreadable)?;
        Ok(())
    }

    /// The file read last → `channels` (1 or 3) interleaved channels at its own size.
    pub fn decode(&mut self, channels: usize) -> Result<(), SkipReason> {
        self.channels = channels;
        if let Some(done) = self.decode_jpeg(channels) {
            return done;
        }
        let mut reader = image::ImageReader::new(std::io::Cursor::new(&self.file))
            .with_guessed_format()
            .map_err(|e| SkipReason::Unreadable(e.to_string()))?;
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(MAX_SIDE);
        limits.max_image_height = Some(MAX_SIDE);
        limits.max_alloc = Some(MAX_PIXELS * 4);
        reader.limits(limits);
        let img = reader.decode().map_err(|e| match e {
            image::ImageError::Limits(l) => SkipReason::TooLarge(l.to_string()),
            e => SkipReason::Undecodable(e.to_string()),
        })?;
        (self.width, self.height) = (img.width(), img.height());
        self.pixels = if channels == 1 { img.to_luma8().into_raw() } else { img.to_rgb8().into_raw() };
        Ok(())
    }

    /// zune-jpeg with `image`'s own options, for the JPEGs it stores as grey or YCbCr
    /// (nearly all); None hands the file (not a JPEG, or CMYK / with alpha) to `image`.
    fn decode_jpeg(&mut self, channels: usize) -> Option<Result<(), SkipReason>> {
        use zune_jpeg::zune_core::{bytestream::ZCursor, colorspace::ColorSpace, options::DecoderOptions};
        if !self.file.starts_with(&[0xFF, 0xD8, 0xFF]) {
            return None;
        }
        let opts = DecoderOptions::default().set_strict_mode(false).set_max_width(usize::MAX).set_max_height(usize::MAX);
        let mut dec = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(&self.file), opts);
        let fail = |e: zune_jpeg::errors::DecodeErrors| SkipReason::Undecodable(format!("JPEG: {e:?}"));
        if let Err(e) = dec.decode_headers() {
            return Some(Err(fail(e)));
        }
        if let Some((w, h)) = dec.dimensions()
            && let Err(e) = check_size(w as u64, h as u64)
        {
            return Some(Err(e));
        }
        if !jpeg_is_complete(&self.file) {
            return Some(Err(SkipReason::Truncated));
        }
        let have = match dec.input_colorspace()? {
            ColorSpace::Luma => ColorSpace::Luma,
            ColorSpace::YCbCr | ColorSpace::RGB => ColorSpace::RGB,
            _ => return None,
        };
        dec.set_options(dec.options().jpeg_set_out_colorspace(have));
        let (w, h) = dec.dimensions()?;
        let size = dec.output_buffer_size()?;
        let have = if have == ColorSpace::Luma { 1 } else { 3 };
        // Straight into `pixels` when the decoder already gives the wanted channels.
        let target = if have == channels { &mut self.pixels } else { &mut self.decoded };
        target.resize(size, 0);
        if let Err(e) = dec.decode_into(target) {
            return Some(Err(fail(e)));
        }
        let plane = w * h;
        match (have, channels) {
            (3, 1) => {
                self.pixels.resize(plane, 0);
                rgb_to_luma709(&self.decoded[..3 * plane], &mut self.pixels);
            }
            (1, 3) => {
                self.pixels.clear();
                self.pixels.extend(self.decoded[..plane].iter().flat_map(|&v| [v, v, v]));
            }
            _ => self.pixels.truncate(plane * channels),
        }
        (self.width, self.height) = (w as u32, h as u32);
        Some(Ok(()))
    }

    /// The decoded pixels stretched to `side`×`side` (kept as they are when already so).
    pub fn resize(&mut self, side: u32) -> Result<(), SkipReason> {
        use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, images::Image, images::ImageRef};
        if (self.width, self.height) == (side, side) {
            std::mem::swap(&mut self.pixels, &mut self.resized);
            return Ok(());
        }
        let kind = if self.channels == 1 { PixelType::U8 } else { PixelType::U8x3 };
        let fail = |e: &dyn std::fmt::Display| SkipReason::Unresizable(e.to_string());
        let src = ImageRef::new(self.width, self.height, &self.pixels, kind).map_err(|e| fail(&e))?;
        self.resized.resize(side as usize * side as usize * self.channels, 0);
        let mut dst = Image::from_slice_u8(side, side, &mut self.resized, kind).map_err(|e| fail(&e))?;
        // Bilinear here is the same triangle kernel, widened by the scale factor, as
        // `image`'s FilterType::Triangle.
        let opts = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
        self.resizer.resize(&src, &mut dst, &opts).map_err(|e| fail(&e))
    }

    /// The resized pixels, interleaved u8 → planar (CHW) f32 in [0, 1], into `out`.
    pub fn write_chw(&self, out: &mut [f32]) {
        let (c, scale) = (self.channels.max(1), 1.0 / 255.0);
        let plane = self.resized.len() / c;
        if c == 1 {
            for (o, &v) in out.iter_mut().zip(&self.resized) {
                *o = v as f32 * scale;
            }
            return;
        }
        for (i, p) in self.resized.chunks_exact(c).enumerate() {
            for (ch, &v) in p.iter().enumerate() {
                out[ch * plane + i] = v as f32 * scale;
            }
        }
    }
}

/// `image`'s `to_luma8` (0.25.10: Rec. 709 weights in f32, rounded) in integers, so that
/// JPEGs decoded here give the grey levels the checkpoints were trained on (they can
/// differ only where f32 rounding meets an exact half), for interleaved RGB `rgb`.
///
/// Compiled a second time for AVX2 and picked at run time: the default x86-64 target has
/// no byte shuffles, so the stride-3 loads stay scalar there (0.023 → 0.008 ms per
/// 112×112 image, measured on an AVX-512 Xeon).
fn rgb_to_luma709(rgb: &[u8], out: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { luma709_avx2(rgb, out) };
    }
    luma709_loop(rgb, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn luma709_avx2(rgb: &[u8], out: &mut [u8]) {
    luma709_loop(rgb, out)
}

#[inline(always)]
fn luma709_loop(rgb: &[u8], out: &mut [u8]) {
    // Indexing over exact lengths (not chunks_exact) is what lets LLVM vectorise the
    // stride-3 loads.
    let n = out.len().min(rgb.len() / 3);
    let (rgb, out) = (&rgb[..3 * n], &mut out[..n]);
    for i in 0..n {
        let (r, g, b) = (rgb[3 * i] as u32, rgb[3 * i + 1] as u32, rgb[3 * i + 2] as u32);
        out[i] = ((2126 * r + 7152 * g + 722 * b + 5000) / 10000) as u8;
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::synthetic::repo;

    fn sorted(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        v.sort();
        v
    }

    const GREY64: ImageSpec = ImageSpec { size: 64, channels: 1 };

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
        let mut files: Vec<PathBuf> = std::fs::read_dir(repo("datasets/lfw_train_identities"))
            .unwrap()
            .filter_map(|d| d.ok().map(|d| d.path()).filter(|p| p.is_dir()))
            .take(40)
            .flat_map(|d| sorted(&d))
            .collect();
        let jpegs = files.len();
        files.extend(sorted(&repo("datasets/att_faces/s01")));
        files.extend(sorted(&repo("datasets/face_nonface/face")).into_iter().take(10));
        assert!(jpegs > 60, "{jpegs}");
        for spec in [GREY64, ImageSpec { size: 64, channels: 3 }, ImageSpec { size: 150, channels: 1 }] {
            let (mut worst, mut sum, mut n) = (0f32, 0f64, 0usize);
            // One scratch for all files, as a decoding worker has: a buffer left over
            // from a larger or differently coloured image must not leak into the next.
            let mut scratch = Scratch::default();
            for f in &files {
                let mut fast = vec![f32::NAN; spec.len()];
                scratch.load_into(f, spec, &mut fast).unwrap();
                let slow = load_image_reference(f, spec);
                assert_eq!(fast, load_image(f, spec).unwrap(), "{f:?}: reused buffers change the result");
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
    fn vectorised_luminance_is_the_integer_formula_for_every_colour() {
        // Every (r, g, b) once: 16.7 M pixels through whichever path this CPU takes,
        // against the formula written out per pixel.
        let mut rgb = Vec::with_capacity(3 << 16);
        let mut out = vec![0u8; 1 << 16];
        for r in 0..=255u32 {
            rgb.clear();
            for g in 0..=255u8 {
                for b in 0..=255u8 {
                    rgb.extend([r as u8, g, b]);
                }
            }
            rgb_to_luma709(&rgb, &mut out);
            for (i, &y) in out.iter().enumerate() {
                let (g, b) = ((i >> 8) as u32, (i & 255) as u32);
                let want = ((2126 * r + 7152 * g + 722 * b + 5000) / 10000) as u8;
                assert_eq!(y, want, "rgb ({r}, {g}, {b})");
            }
        }
        // A short tail (not a multiple of any vector width) is converted too.
        let mut tail = [0u8; 5];
        rgb_to_luma709(&[255; 15], &mut tail);
        assert_eq!(tail, [255; 5]);
    }

    #[test]
    fn any_size_and_colour_becomes_the_model_input() {
        let att = repo("datasets/att_faces/s01/01.png"); // 92×112 grey
        let face = sorted(&repo("datasets/face_nonface/face")).remove(0); // 64×64 RGB
        for p in [att, face] {
            assert_eq!(load_image(&p, ImageSpec { size: 32, channels: 1 }).unwrap().len(), 32 * 32);
            let rgb = load_image(&p, ImageSpec { size: 20, channels: 3 }).unwrap();
            assert_eq!(rgb.len(), 3 * 20 * 20);
            assert!(rgb.iter().all(|v| (0.0..=1.0).contains(v)));
        }
    }
}
