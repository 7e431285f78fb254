//! Each command of the command line as one library call: `cli/` parses and validates the
//! arguments into one of these settings and makes the call; a Rust program makes the
//! same call the same way. Messages and progress go through the [`Reporter`] a call is
//! handed.
//!
//! [`Reporter`]: crate::progress::Reporter
pub mod detect;
pub mod infer;
pub mod matching;
pub mod report;
pub mod train;

pub use detect::{DetectPhotos, DetectSummary, detect_photos, train_detector};
pub use infer::{Evaluation, Finished, Infer, Outputs, Pixels, infer, pixels};
pub use matching::{Match, match_faces};
pub use report::report;
pub use train::{Trained, calibrate, train_and_calibrate};
