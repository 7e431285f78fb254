//! facemb: train a face / non-face CNN with burn, export its penultimate-layer embeddings
//! for a folder of faces, cluster them, score the clusters against the folder labels and
//! chart 2-D projections — next to a raw-pixel baseline.
pub mod backend;
pub mod bench;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod embed;
pub mod error;
pub mod evaluate;
pub mod experiment;
pub mod image;
pub mod model;
pub mod neighbors;
pub mod output;
pub mod project;
pub mod train;

// Old module names, kept only while the files move (removed by the edits that follow).
pub use embed as inference;
pub use embed::pixels;
pub use evaluate as report;
pub use evaluate::metrics;
pub use image::decode;
pub use image::folder as data;
pub use model::checkpoint;
pub use model::conv_block;
pub use output::plot;
pub use project::tsne;
pub use train as training;

pub use error::{Error, Result};
