//! The pixel baseline: grey luminance of each pixel after resizing to S×S, /255, as the
//! embedding. Every learned embedding is judged against it.
use crate::data::{IdentityFolder, ImageSpec};
use crate::error::{Error, Result};
use crate::inference::{Embeddings, embed_folder_with};

pub fn pixel_embeddings(folder: &IdentityFolder, size: usize, progress: bool) -> Result<Embeddings> {
    if size == 0 {
        return Err(Error::Invalid("--image-size must be > 0".into()));
    }
    let spec = ImageSpec { size, channels: 1 };
    embed_folder_with(folder, spec, 256, spec.len(), progress, |data, _| Ok((data, None)))
}
