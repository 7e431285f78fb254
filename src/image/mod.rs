//! Images: file → network input ([`decode`]), the folders they come from ([`folder`]),
//! and decoding ahead of the network ([`prefetch`]).
pub mod decode;
pub mod folder;
pub mod prefetch;

use std::path::{Path, PathBuf};

/// File extensions treated as images; anything else in an identity folder is reported.
const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "bmp", "gif", "tif", "tiff", "pgm", "ppm", "pnm", "webp"];

/// Limits on what is decoded, so that a small file declaring a huge image (a 4.6 KB
/// JPEG of 65 500 × 65 500) or a huge non-image named `.png` cannot exhaust memory.
/// A face photo, even from a 100-megapixel camera, is well inside them.
pub const MAX_FILE_BYTES: u64 = 256 << 20;
pub const MAX_SIDE: u32 = 20_000;
pub const MAX_PIXELS: u64 = 120_000_000;

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

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a file found in a folder was not used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// A file beside the identity folders (a SOURCE.md, an index CSV): expected, named in
    /// one note rather than warned about one by one.
    TopLevelFile,
    NestedFolder,
    NotAnImage,
    /// A named pipe, socket or device with an image's name: reading it could block forever.
    NotAFile,
    /// A symbolic link to nothing (its target was moved or deleted).
    BrokenLink,
    /// A symbolic link that cannot be followed (a loop: the system's message).
    UnfollowableLink(String),
    /// Larger than the limits below: a file over [`MAX_FILE_BYTES`], or a header that
    /// declares more than [`MAX_SIDE`] pixels a side or [`MAX_PIXELS`] in all.
    TooLarge(String),
    /// A JPEG that ends before its image data does (a cut-off download): decoders fill
    /// the rest with grey and say nothing, which would embed a half face.
    Truncated,
    /// An identity folder with no image files.
    NoImages,
    EmptyFile,
    /// The file could not be read (the system's message).
    Unreadable(String),
    /// The bytes are not an image the decoders read (their message).
    Undecodable(String),
    /// The decoded image could not be resized (the resizer's message).
    Unresizable(String),
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::TopLevelFile => f.write_str("top-level file ignored (identities are sub-folders)"),
            SkipReason::NestedFolder => f.write_str("nested folder ignored (only one level of sub-folders is read)"),
            SkipReason::NotAnImage => f.write_str("not an image file (by extension)"),
            SkipReason::NotAFile => f.write_str("not a regular file (a pipe, socket or device)"),
            SkipReason::BrokenLink => f.write_str("a broken symbolic link (its target does not exist)"),
            SkipReason::UnfollowableLink(why) => write!(f, "a symbolic link that cannot be followed ({why})"),
            SkipReason::TooLarge(why) => write!(f, "too large ({why})"),
            SkipReason::Truncated => f.write_str("truncated JPEG (the file ends inside the image data)"),
            SkipReason::NoImages => f.write_str("identity folder without images"),
            SkipReason::EmptyFile => f.write_str("empty file (0 bytes)"),
            SkipReason::Unreadable(why) => f.write_str(why),
            SkipReason::Undecodable(why) => write!(f, "not a readable image ({why})"),
            SkipReason::Unresizable(why) => write!(f, "cannot resize ({why})"),
        }
    }
}

/// A file that was not used, and why (shown to the user, counted in summaries).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: SkipReason,
}

/// Appends the left–right mirror of one CHW image (`size` values a row) to `out`: a
/// mirrored face is the same person, so training augments with it and `infer --flip`
/// averages over it.
pub fn push_mirrored(image: &[f32], size: usize, out: &mut Vec<f32>) {
    for row in image.chunks_exact(size) {
        out.extend(row.iter().rev());
    }
}

pub fn is_image_path(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}
