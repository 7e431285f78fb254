pub mod decode;
pub mod folder;
