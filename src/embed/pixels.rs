//! The pixel baseline: grey luminance of each pixel after resizing to S×S, /255, as the
//! embedding. Every learned embedding is judged against it.
use super::{DEFAULT_BATCH, Embeddings, embed_folder_with};
use crate::error::{Error, Result};
use crate::image::ImageSpec;
use crate::image::folder::IdentityFolder;

pub fn pixel_embeddings(folder: &IdentityFolder, size: usize, progress: bool) -> Result<Embeddings> {
    if size == 0 {
        return Err(Error::Invalid("the pixel baseline's image size must be > 0".into()));
    }
    let spec = ImageSpec { size, channels: 1 };
    embed_folder_with(folder, spec, DEFAULT_BATCH, spec.len(), progress, |data, _| Ok((data, None)))
}
