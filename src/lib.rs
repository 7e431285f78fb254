//! facemb: train a face / non-face CNN with burn, export its penultimate-layer embeddings
//! for a folder of faces, cluster them, score the clusters against the folder labels and
//! chart 2-D projections — next to a raw-pixel baseline.
//!
//! Pipeline, one module each: [`data`] → [`model`] (its conv blocks fused on flex in
//! [`conv_block`]) → [`training`] → [`checkpoint`] →
//! [`inference`] / [`pixels`] → [`cluster`] + [`metrics`] + [`project`] → [`plot`] →
//! [`report`]. The device is chosen once, in [`backend`].
pub mod backend;
pub mod bench;
pub mod checkpoint;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod conv_block;
pub mod data;
pub mod decode;
pub mod error;
pub mod experiment;
pub mod inference;
pub mod metrics;
pub mod model;
pub mod neighbors;
pub mod pixels;
pub mod plot;
pub mod project;
pub mod report;
pub mod training;
pub mod tsne;

pub use error::{Error, Result};
