//! facemb: train a face / non-face CNN with burn, export its penultimate-layer embeddings
//! for a folder of faces, cluster them, score the clusters against the folder labels and
//! chart 2-D projections — next to a raw-pixel baseline.
//!
//! The pipeline, one module (or folder) per stage, each importing only stages before it:
//!
//! | stage | module | what |
//! |---|---|---|
//! | image | [`image`] | file → network input, identity folders, decoding ahead |
//! | detect | [`detect`] | photos → faces: the detector, its training scenes, aligned crops |
//! | model | [`model`] | the CNN, its fused conv block, checkpoints |
//! | train | [`train`] | training sets, batcher, losses, the loop |
//! | embed | [`embed`] | checkpoint → vectors; the pixel baseline |
//! | cluster | [`cluster`] | DBSCAN, k-means, chinese whispers, data-derived defaults |
//! | project | [`project`] | t-SNE, UMAP, their PCA |
//! | identify | [`identify`] | known / unknown: faces matched against a gallery |
//! | evaluate | [`evaluate`] | scores only (ARI, NMI, purity, silhouette, 1-NN) |
//! | calibrate | [`calibrate`] | after training: cuts and tolerance measured on held-out people, `calibration.json` |
//! | output | [`output`] | a run's files, table and charts |
//!
//! Drivers on top: [`commands`] (each command as one library call), [`cli`] (arguments →
//! settings → one call), [`experiment`] (sizes × seeds), [`bench`] (speed). Shared
//! below everything: [`config`] (every setting and default), [`error`], [`backend`] (the
//! device), [`files`] (JSON / CSV / npy), [`intern`] (names → numbers), [`progress`] (bars), [`neighbors`] (exact k-NN)
//! and [`synthetic`] (generated test data).
pub mod backend;
pub mod bench;
pub mod calibrate;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod detect;
pub mod embed;
pub mod error;
pub mod evaluate;
pub mod experiment;
pub mod files;
pub mod identify;
pub mod image;
pub mod intern;
pub mod model;
pub mod neighbors;
pub mod output;
pub mod progress;
pub mod project;
pub mod synthetic;
pub mod train;

pub use error::{Error, Result};
