//! The command line as clap parses it: plain data, checked by nothing but clap.
//! [`super::settings`] turns it into validated library inputs.
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::backend::Backend;
use crate::cluster::{self, Method};
use crate::config::{DEFAULT_FACE_SCORE, DEFAULT_MIN_FACE};
use crate::detect::{FacesMode, READY_DETECTOR};
use crate::embed::DEFAULT_BATCH;
use crate::identify::Vote;
use crate::model::Layer;
use crate::model::checkpoint::READY_MODEL;

#[derive(Parser, Debug)]
#[command(
    name = "facemb",
    version,
    about = "Group the faces of a folder by person, name them after known people, find faces in photos",
    long_about = "Group the faces of a folder by person, name them after known people, find faces in photos, \
                  with a ready identity model and face detector built in (nothing to download).\n\n\
                  Everyday: `infer FOLDER` groups a folder of faces or photos (--save-clusters keeps \
                  each person as a folder, --report writes a page to browse); `match FOLDER --gallery \
                  KNOWN` names each face after the nearest known person, or says unknown; `detect FOLDER` \
                  cuts out every face of a folder of photos; `report RUN` writes the offline page of a \
                  finished run. A FOLDER is ROOT/<person>/<image> (the names then score the result) or \
                  a flat folder of photos.\n\n\
                  Research: `train` and `train-detector` train models (burn), `calibrate` measures a \
                  model's clustering cuts, `experiment` sweeps embedding sizes × seeds, `pixels` is the \
                  raw-pixel baseline, and the bench-* commands time and score each stage."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train the face/non-face classifier and write a checkpoint
    Train(TrainArgs),
    /// Group a folder's faces by person: embed them with the ready identity model (or -m),
    /// cluster, score against the folder names when there are any, chart
    Infer(InferArgs),
    /// Baseline: raw-pixel embeddings of a folder, through the same clustering, scores and charts
    Pixels(PixelArgs),
    /// Name the faces of a folder after a gallery of known people: the nearest person, or
    /// unknown when even they are too far (writes matches.csv)
    Match(MatchArgs),
    /// Find every face in a folder of photos: aligned crops in the identity model's framing,
    /// faces.csv (photo, box, turn, score, crop) and each photo with its boxes drawn
    Detect(DetectArgs),
    /// Train facemb's face detector on faces pasted into face-free scenes (configs/detector.toml)
    TrainDetector(TrainDetectorArgs),
    /// Write report.html for a run folder of infer, pixels or match: scores, interactive t-SNE /
    /// UMAP maps with each face on hover, clusters and config, in one file that opens offline
    Report(ReportArgs),
    /// Measure a checkpoint's distances on its held-out training people and store the
    /// clustering cuts that serve them best (train does this itself when it holds people out)
    Calibrate(CalibrateArgs),
    /// Train and evaluate several embedding sizes × seeds (TOML in configs/experiments/)
    Experiment(ExperimentArgs),
    /// Network throughput on random inputs: training and inference images/s
    Bench(BenchArgs),
    /// Time t-SNE, UMAP, DBSCAN, k-means, chinese whispers, match's search and graph linkage
    /// (the automatic grouping) on blobs or saved embeddings
    BenchCluster(BenchClusterArgs),
    /// End-to-end embedding speed on a folder: network alone, decoding alone and both
    /// overlapped (what `infer` does), interleaved over several rounds
    BenchInfer(BenchInferArgs),
    /// Detection on test pictures made of evaluation faces pasted into the test scenes:
    /// average precision at IoU 0.5, recall by face width, photos/s; peers' boxes scored alike
    BenchDetect(BenchDetectArgs),
    /// Albums of 2–12 people (1–12 images each) drawn from a labelled folder, each clustered
    /// on its own by the automatic grouping and by average linkage: mean ARI, share of
    /// albums at ARI ≥ 0.9, clusters per person, and the whole folder's ARI (issue 32)
    BenchAlbums(BenchAlbumsArgs),
    /// The known / unknown split bench-cluster times match on, as CSV (file, role, identity):
    /// the first half of the people known (their last image a query, the others the
    /// gallery), every image of the other half an unknown query. scripts/match_split.sh and
    /// scripts/peer_match.py read it
    BenchSplit(BenchSplitArgs),
}

#[derive(Args, Debug)]
pub struct BenchDetectArgs {
    /// Folder of the benchmark: pictures/, truth.csv, detections.csv
    #[arg(long)]
    pub out: PathBuf,
    /// Faces to paste: identity folders of people the detector never saw
    #[arg(long, default_value = "../shared/datasets/lfw_identities")]
    pub faces: PathBuf,
    /// Face-free scenes (only their test fifth is used)
    #[arg(long, default_value = "../shared/datasets/scenes_nonface")]
    pub scenes: PathBuf,
    /// Test pictures to make
    #[arg(long, default_value_t = 200)]
    pub pictures: usize,
    /// Width of each test picture, in pixels
    #[arg(long, default_value_t = 640)]
    pub width: usize,
    /// Height of each test picture, in pixels
    #[arg(long, default_value_t = 480)]
    pub height: usize,
    /// Seed of the faces, scenes and places picked for the test pictures
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub search: SearchArgs,
    /// Leave out the photos/s timings (150×150, 640×480, 4000×3000)
    #[arg(long)]
    pub no_speed: bool,
    /// A peer's detections on the same pictures (CSV: picture, centre_x, centre_y, size,
    /// angle_degrees, score; framing boxes), scored beside facemb's (repeatable)
    #[arg(long)]
    pub peer: Vec<PathBuf>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Time the network of this run config (e.g. configs/identity.toml) [default:
    /// configs/default.toml's network]
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Conv channels of the network to time [default: the default config's]
    #[arg(long, value_delimiter = ',')]
    pub channels: Option<Vec<usize>>,
    /// Embedding size of the network to time [default: the default config's]
    #[arg(long)]
    pub embedding_size: Option<usize>,
    /// Images per training step
    #[arg(long, default_value_t = 64)]
    pub train_batch: usize,
    /// Images per inference batch
    #[arg(long, default_value_t = 256)]
    pub infer_batch: usize,
    /// Timed steps of each (after --warmup untimed ones)
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// Untimed steps first (allocations, caches)
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Run the conv blocks as burn's own conv2d + relu + max_pool2d instead of facemb's
    /// fused flex kernel (the figure before it)
    #[arg(long)]
    pub unfused: bool,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args, Debug)]
pub struct BenchClusterArgs {
    /// Sizes of the gaussian-blob sets (128-d, 10 centres, like sklearn's make_blobs)
    #[arg(long, value_delimiter = ',', default_value = "1000,5000")]
    pub n: Vec<usize>,
    /// Also time an `infer` output folder (its embeddings.npy and index.csv), e.g. results/default/lfw_identities
    #[arg(long)]
    pub real: Option<PathBuf>,
    /// Leave out some of: tsne, umap, dbscan, kmeans, cw, match, graph
    #[arg(long, value_delimiter = ',')]
    pub skip: Vec<String>,
}

#[derive(Args, Debug)]
pub struct BenchInferArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[arg(long, short = 'm', value_name = "CHECKPOINT", help = model_help())]
    pub model: Option<PathBuf>,
    /// Images per network batch
    #[arg(long, default_value_t = DEFAULT_BATCH)]
    pub batch_size: usize,
    /// Timed rounds (each: network only, end to end, decoding only), after one untimed one
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Compute backend
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    pub backend: Backend,
}

#[derive(Args, Debug)]
pub struct BenchAlbumsArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[arg(long, short = 'm', value_name = "CHECKPOINT", help = model_help())]
    pub model: Option<PathBuf>,
    /// Albums to draw
    #[arg(long, default_value_t = 60)]
    pub albums: usize,
    /// Seed of the draw
    #[arg(long, default_value_t = 32)]
    pub seed: u64,
    /// Read the albums instead of drawing them: a CSV of source, album, identity, file
    /// (e.g. docs/grouping/albums.csv, the draw the Python prototype scored); the rows whose
    /// source is the folder's name
    #[arg(long, conflicts_with_all = ["albums", "seed"])]
    pub albums_csv: Option<PathBuf>,
    /// Images per network batch
    #[arg(long, default_value_t = DEFAULT_BATCH)]
    pub batch_size: usize,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args, Debug)]
pub struct BenchSplitArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// The CSV file to write
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct CalibrateArgs {
    /// Checkpoint folder trained with `[identity] holdout` people
    #[arg(long, short = 'm')]
    pub model: PathBuf,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args, Debug)]
pub struct ExperimentArgs {
    /// Experiment file, e.g. configs/experiments/embedding_sizes.toml
    pub config: PathBuf,
    /// More clustering folders to evaluate on (repeatable), e.g. ../shared/datasets/lfw_identities
    #[arg(long)]
    pub folder: Vec<PathBuf>,
    /// Results folder [default: results/<experiment name>]
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Checkpoint folder of the runs [default: checkpoints/<experiment name>]
    #[arg(long)]
    pub checkpoints: Option<PathBuf>,
    /// Replace the file's seeds, e.g. --seeds 1 for a quicker single-seed sweep
    #[arg(long, value_delimiter = ',')]
    pub seeds: Option<Vec<u64>>,
    /// Replace the file's embedding sizes, e.g. --sizes 16,128,1024
    #[arg(long, value_delimiter = ',')]
    pub sizes: Option<Vec<usize>>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Run configuration (TOML or JSON)
    #[arg(long, short, default_value = "configs/default.toml")]
    pub config: PathBuf,
    /// Override the embedding size (width of the penultimate layer)
    #[arg(long, short = 'e')]
    pub embedding_size: Option<usize>,
    /// Override the number of epochs
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Override the images per training step
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Override the learning rate
    #[arg(long, allow_negative_numbers = true)]
    pub learning_rate: Option<f64>,
    /// Override the seed of initialisation and data order
    #[arg(long)]
    pub seed: Option<u64>,
    /// Training folder with face/ and nonface/ sub-folders
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Use at most this many images per class (quick runs)
    #[arg(long)]
    pub max_per_class: Option<usize>,
    /// Checkpoint name (folder under --out); defaults to the config's name
    #[arg(long)]
    pub name: Option<String>,
    /// Folder that holds checkpoints
    #[arg(long, default_value = "checkpoints")]
    pub out: PathBuf,
    /// Replace a checkpoint of the same name even when this run validates worse (without
    /// it, a worse run is written beside it as <name>.new)
    #[arg(long)]
    pub overwrite: bool,
    /// Continue an interrupted run of this name and config from its last finished epoch
    /// (weights, optimiser state and data order are saved after every epoch)
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args, Debug)]
pub struct DetectArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output folder (crops/, boxes/, faces.csv) [default: results/detect/<folder name>]
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub search: SearchArgs,
    /// Keep only each photo's subject, its most prominent face (confident, large, a little
    /// central: photos of one person each); its crop keeps the photo's name, so the crops
    /// folder can be given to infer as it is
    #[arg(long, alias = "centre")]
    pub subject: bool,
    /// Do not write the photos with their boxes drawn
    #[arg(long)]
    pub no_boxes: bool,
    #[command(flatten)]
    pub run: RunArgs,
}

/// How faces are searched for in photos (`detect`, `bench-detect`).
#[derive(Args, Debug, Clone)]
pub struct SearchArgs {
    #[arg(long, value_name = "CHECKPOINT", help = detector_help())]
    pub detector: Option<PathBuf>,
    /// Smallest face looked for, in pixels of face width
    #[arg(long, default_value_t = DEFAULT_MIN_FACE)]
    pub min_face: f32,
    /// Probability from which a box is a face
    #[arg(long, default_value_t = DEFAULT_FACE_SCORE)]
    pub score: f32,
}

#[derive(Args, Debug)]
pub struct TrainDetectorArgs {
    /// Detector config, e.g. configs/detector.toml
    #[arg(long, short)]
    pub config: PathBuf,
    /// Folder the checkpoint goes in, as <out>/<name>
    #[arg(long, default_value = "checkpoints")]
    pub out: PathBuf,
    /// Go on from the last saved step of an interrupted run of the same config
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Advanced")]
pub struct RunArgs {
    /// Compute backend
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    pub backend: Backend,
    /// Hide progress bars
    #[arg(long)]
    pub quiet: bool,
}

/// Whether a folder holds photos or face crops (`infer`, `match`).
#[derive(Args, Debug, Clone)]
pub struct PhotoArgs {
    /// Photos or face crops: `auto` decides per folder from a sample (and says why),
    /// `detect` finds and aligns every face first, `crops` reads the images as they are
    #[arg(long, value_enum, default_value_t = FacesMode::Auto, help_heading = "Input")]
    pub faces: FacesMode,
    #[arg(long, value_name = "CHECKPOINT", help = detector_help(), help_heading = "Input")]
    pub detector: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct InferArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[arg(long, short = 'm', value_name = "CHECKPOINT", help = model_help(), help_heading = "Input")]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub photos: PhotoArgs,
    #[command(flatten)]
    pub out: OutputArgs,
    #[command(flatten)]
    pub eval: EvalArgs,
    /// Expected embedding size; read from the checkpoint when omitted, an error when it differs
    #[arg(long, short = 'e', help_heading = "Advanced")]
    pub embedding_size: Option<usize>,
    /// Images per network batch
    #[arg(long, default_value_t = DEFAULT_BATCH, help_heading = "Advanced")]
    pub batch_size: usize,
    /// Which side of the penultimate layer's ReLU to export (`linear`: before it, what a
    /// CosFace identity head trains on) [default: linear for identity-trained checkpoints,
    /// relu otherwise]
    #[arg(long, value_enum, help_heading = "Advanced")]
    pub layer: Option<Layer>,
    /// Average each face's vector with its mirror image's [default: on for identity-trained
    /// checkpoints]
    #[arg(long, overrides_with = "no_flip", help_heading = "Advanced")]
    pub flip: bool,
    /// Do not average with the mirror image
    #[arg(long, overrides_with = "flip", help_heading = "Advanced")]
    pub no_flip: bool,
    /// PCA-whiten the vectors with the whitening fitted on the checkpoint's held-out people
    /// (off: it lowered every score of the ready model; docs/identity/). Clustering cuts are
    /// then derived from the folder, since the calibrated ones hold for unwhitened vectors
    #[arg(long, help_heading = "Advanced")]
    pub whiten: bool,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A run folder of `infer`, `pixels` or `match` (the one holding scores.json or match.json)
    pub run: PathBuf,
}

#[derive(Args, Debug)]
pub struct MatchArgs {
    /// Known people: a folder ROOT/<name>/<image>, or a gallery file written by --save-gallery
    #[arg(long, short)]
    pub gallery: PathBuf,
    #[command(flatten)]
    pub query: QueryArgs,
    #[arg(long, short = 'm', value_name = "CHECKPOINT", help = model_help())]
    pub model: Option<PathBuf>,
    /// Match raw S×S grey pixels instead of a network's vectors (the baseline)
    #[arg(long, value_name = "S", conflicts_with = "model")]
    pub pixels: Option<usize>,
    /// Nearest gallery faces that vote for a person (old spelling: --k)
    #[arg(long, alias = "k", alias = "neighbors", value_name = "K", default_value_t = 1)]
    pub neighbours: usize,
    /// How the k faces vote
    #[arg(long, value_enum, default_value_t = Vote::Majority)]
    pub vote: Vote,
    /// Distance beyond which a face is unknown [default: the checkpoint's calibrated
    /// tolerance scaled to these faces; without one, learnt from the gallery's own faces]
    #[arg(long)]
    pub tolerance: Option<f32>,
    /// Also save the gallery's vectors, names and model to FILE (JSON), to pass as
    /// --gallery next time without embedding it again
    #[arg(long, value_name = "FILE")]
    pub save_gallery: Option<PathBuf>,
    /// With --save-gallery: replace a gallery file of other people or of another model
    /// (a gallery of the same people and model is refreshed without it)
    #[arg(long, requires = "save_gallery")]
    pub force: bool,
    /// Read every image below the query folder as one unlabelled set
    #[arg(long)]
    pub unlabelled: bool,
    /// Output folder [default: results/match/<query folder name>]
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// One picture per matched person (and one for the unknown) in <out>/montages/
    #[arg(long)]
    pub montage: bool,
    /// Also write report.html: the gallery and the queries on t-SNE / UMAP maps with the
    /// known people's regions, each face on hover, and the scores, in one offline file
    #[arg(long)]
    pub report: bool,
    /// Images per network batch
    #[arg(long, default_value_t = DEFAULT_BATCH)]
    pub batch_size: usize,
    #[command(flatten)]
    pub photos: PhotoArgs,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args, Debug)]
pub struct PixelArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Resize to S×S grey pixels (Python form: -is)
    #[arg(long, default_value_t = 64)]
    pub image_size: usize,
    #[command(flatten)]
    pub out: OutputArgs,
    #[command(flatten)]
    pub eval: EvalArgs,
    /// Hide progress bars
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// Output folder [default: results/<model or pixels-S>/<folder name>]
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// t-SNE chart name: writes <name>_<E>.png in the output folder (Python form: -os)
    #[arg(long, default_value = "tsne")]
    pub output_tsne: String,
    /// UMAP chart name: writes <name>_<E>.png in the output folder (Python form: -ou)
    #[arg(long, default_value = "umap")]
    pub output_umap: String,
    /// Skip the t-SNE and UMAP charts
    #[arg(long)]
    pub no_charts: bool,
    /// One picture per cluster in <out>/montages/: up to 5×5 of its faces, its size, the
    /// folder name most of them carry, and its mean face (clustering as for --save-clusters)
    #[arg(long)]
    pub montage: bool,
    /// Also keep the clusters as folders: each image copied into DIR/person_001/, … (the
    /// largest first; with the name most of its faces carry, person_001_<name>/, when the
    /// folder names people; noise into DIR/noise/), with DIR/clusters.csv; the clustering
    /// is the automatic grouping (graph linkage) when it ran, else the first of --methods
    #[arg(long, value_name = "DIR")]
    pub save_clusters: Option<PathBuf>,
    /// Also write report.html: scores, interactive t-SNE / UMAP maps (hover shows the face),
    /// every cluster's faces and the config, in one file that opens with no network
    #[arg(long)]
    pub report: bool,
    /// With --save-clusters: hard-link instead of copying (same disk only; copies otherwise)
    #[arg(long, requires = "save_clusters")]
    pub link: bool,
    /// With --save-clusters: replace a DIR of cluster folders facemb wrote earlier (never
    /// any other folder)
    #[arg(long, requires = "save_clusters")]
    pub force: bool,
}

#[derive(Args, Debug)]
#[command(next_help_heading = "Clustering")]
pub struct EvalArgs {
    /// Read every image below the folder, at any depth, as one unlabelled set (a flat
    /// folder of photos is read so without it); scores that need identities are left out
    #[arg(long)]
    pub unlabelled: bool,
    /// Clustering methods to run, space- or comma-separated [default: all; graph
    /// (graph_linkage) is the automatic grouping. Left to the default, a method whose memory
    /// on the folder would pass 2 GB (average linkage above 31 623 faces) is skipped with a
    /// note; named, it is an error]
    #[arg(long, value_enum, value_delimiter = ',', num_args = 1..)]
    pub methods: Option<Vec<Method>>,
    /// DBSCAN radius [default: derived from k-distance statistics, printed]
    #[arg(long, allow_negative_numbers = true)]
    pub eps: Option<f32>,
    /// DBSCAN min_samples
    #[arg(long, default_value_t = cluster::DEFAULT_MIN_SAMPLES)]
    pub min_samples: usize,
    /// Number of clusters k-means makes (old spelling: --k) [default: the number of
    /// identity folders]
    #[arg(long, alias = "k", value_name = "K")]
    pub clusters: Option<usize>,
    /// Chinese-whispers edge threshold [default: derived from neighbour distances, printed]
    #[arg(long, allow_negative_numbers = true)]
    pub cw_threshold: Option<f32>,
    /// Average-linkage cut, of full and of graph linkage [default: the checkpoint's
    /// calibrated one carried to the folder, else derived from its distances, printed]
    #[arg(long, allow_negative_numbers = true)]
    pub link_threshold: Option<f32>,
    /// L2-normalise vectors before clustering and projecting [default: on for
    /// identity-trained checkpoints, whose distances are angles]
    #[arg(long, overrides_with = "raw")]
    pub normalize: bool,
    /// Keep the raw vectors (no L2 normalisation)
    #[arg(long, overrides_with = "normalize")]
    pub raw: bool,
    /// Seed of k-means, chinese whispers, t-SNE and UMAP
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// The folder a command reads: given plainly (`facemb infer photos/`), or by the flag
/// earlier versions and the Python tool took (`--input-directory`, `-id`, `--folder`).
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
#[command(next_help_heading = "Input")]
pub struct InputArgs {
    /// The folder: ROOT/<person>/<image> (the folder names then score the result), or a
    /// flat folder of photos
    #[arg(value_name = "FOLDER")]
    folder: Option<PathBuf>,
    /// The folder, as a flag (Python form: -id)
    #[arg(long = "input-directory", visible_alias = "folder", value_name = "FOLDER")]
    input_directory: Option<PathBuf>,
}

impl InputArgs {
    pub fn folder(&self) -> &Path {
        // clap requires exactly one of the two.
        self.folder.as_deref().or(self.input_directory.as_deref()).unwrap_or(Path::new(""))
    }
}

/// `match`'s faces to name: given plainly or by `--query` / `-q`.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct QueryArgs {
    /// Faces to name: a flat folder of photos, or ROOT/<name>/<image>, whose names only
    /// score the result (a name that is not in the gallery should come out unknown)
    #[arg(value_name = "FOLDER")]
    query_folder: Option<PathBuf>,
    /// The faces to name, as a flag
    #[arg(long = "query", short = 'q', value_name = "FOLDER")]
    query: Option<PathBuf>,
}

impl QueryArgs {
    pub fn folder(&self) -> &Path {
        // clap requires exactly one of the two.
        self.query_folder.as_deref().or(self.query.as_deref()).unwrap_or(Path::new(""))
    }
}

/// `-m`'s help: its one default named, as the constant names it.
fn model_help() -> String {
    format!("Checkpoint folder, or the model.bpk inside it [default: the ready identity model {}, built in]", READY_MODEL.name)
}

fn detector_help() -> String {
    format!("Detector checkpoint folder, for photos [default: the ready detector {}, built in]", READY_DETECTOR.name)
}
