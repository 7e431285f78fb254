//! Command-line interface (clap derive) and the glue that runs each sub-command.
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::backend::{self, Backend};
use crate::checkpoint;
use crate::config::RunConfig;
use crate::data::{IdentityFolder, report_skipped};
use crate::error::{Error, Result};
use crate::experiment::{self, ExperimentConfig};
use crate::inference::embed_folder;
use crate::pixels::pixel_embeddings;
use crate::report::{self, EvalOptions, Method};
use crate::training;

#[derive(Parser, Debug)]
#[command(
    name = "facemb",
    version,
    about = "Train a face/non-face CNN, export its embeddings, cluster and chart them",
    long_about = "Train a face/non-face CNN (burn), export its penultimate-layer embeddings for a folder \
                  ROOT/<identity>/<image>, cluster them (DBSCAN, k-means, chinese whispers), score the \
                  clusters against the folder labels (ARI, NMI, purity, silhouette, 1-NN) and draw t-SNE \
                  and UMAP charts. `pixels` runs the same evaluation on raw pixels as a baseline."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train the face/non-face classifier and write a checkpoint
    Train(TrainArgs),
    /// Embed a folder ROOT/<identity>/<image> with a checkpoint, cluster, score and chart it
    Infer(InferArgs),
    /// Baseline: raw-pixel embeddings of a folder, through the same clustering, scores and charts
    Pixels(PixelArgs),
    /// Train and evaluate several embedding sizes × seeds (TOML in configs/experiments/)
    Experiment(ExperimentArgs),
    /// Network throughput on random inputs: training and inference images/s
    Bench(BenchArgs),
    /// Time t-SNE, UMAP, DBSCAN, k-means and chinese whispers on blobs or saved embeddings
    BenchCluster(BenchClusterArgs),
    /// End-to-end embedding speed on a folder: network alone, decoding alone and both
    /// overlapped (what `infer` does), interleaved over several rounds
    BenchInfer(BenchInferArgs),
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Conv channels of the network to time
    #[arg(long, value_delimiter = ',', default_value = "32,64,128")]
    pub channels: Vec<usize>,
    #[arg(long, default_value_t = 128)]
    pub embedding_size: usize,
    #[arg(long, default_value_t = 64)]
    pub train_batch: usize,
    #[arg(long, default_value_t = 256)]
    pub infer_batch: usize,
    /// Timed steps of each (after --warmup untimed ones)
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
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
    /// Leave out some of: tsne, umap, dbscan, kmeans, cw
    #[arg(long, value_delimiter = ',')]
    pub skip: Vec<String>,
}

#[derive(Args, Debug)]
pub struct BenchInferArgs {
    /// Folder ROOT/<identity>/<image>, e.g. ../shared/datasets/lfw_identities
    #[arg(long)]
    pub folder: PathBuf,
    /// Checkpoint folder, or the model.bpk inside it
    #[arg(long, short = 'm', default_value = "checkpoints/default")]
    pub model: PathBuf,
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Timed rounds (each: network only, end to end, decoding only), after one untimed one
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Compute backend
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    pub backend: Backend,
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
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long)]
    pub learning_rate: Option<f64>,
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
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Compute backend
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    pub backend: Backend,
    /// Hide progress bars
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct InferArgs {
    /// Folder ROOT/<identity>/<image> (Python form: -id)
    #[arg(long)]
    pub input_directory: PathBuf,
    /// Checkpoint folder, or the model.bpk inside it
    #[arg(long, short = 'm')]
    pub model: PathBuf,
    /// Expected embedding size; read from the checkpoint when omitted, an error when it differs
    #[arg(long, short = 'e')]
    pub embedding_size: Option<usize>,
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    #[command(flatten)]
    pub out: OutputArgs,
    #[command(flatten)]
    pub eval: EvalArgs,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args, Debug)]
pub struct PixelArgs {
    /// Folder ROOT/<identity>/<image> (Python form: -id)
    #[arg(long)]
    pub input_directory: PathBuf,
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
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Clustering methods to run
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Method::Dbscan, Method::Kmeans, Method::Cw])]
    pub methods: Vec<Method>,
    /// DBSCAN radius [default: derived from k-distance statistics, printed]
    #[arg(long)]
    pub eps: Option<f32>,
    /// DBSCAN min_samples
    #[arg(long, default_value_t = 3)]
    pub min_samples: usize,
    /// k-means k [default: number of identity folders]
    #[arg(long)]
    pub k: Option<usize>,
    /// Chinese-whispers edge threshold [default: derived from neighbour distances, printed]
    #[arg(long)]
    pub cw_threshold: Option<f32>,
    /// L2-normalise vectors before clustering and projecting
    #[arg(long)]
    pub normalize: bool,
    /// Seed of k-means, chinese whispers, t-SNE and UMAP
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl EvalArgs {
    fn options(&self, out: &OutputArgs) -> EvalOptions {
        EvalOptions {
            methods: self.methods.clone(),
            eps: self.eps,
            min_samples: self.min_samples,
            k: self.k,
            cw_threshold: self.cw_threshold,
            normalize: self.normalize,
            seed: self.seed,
            tsne: (!out.no_charts).then(|| out.output_tsne.clone()),
            umap: (!out.no_charts).then(|| out.output_umap.clone()),
        }
    }
}

/// The Python tool's multi-letter single-dash flags, which clap cannot parse as shorts.
const PYTHON_FLAGS: &[(&str, &str)] =
    &[("-id", "--input-directory"), ("-os", "--output-tsne"), ("-ou", "--output-umap"), ("-is", "--image-size")];

/// Rewrites `-id X` / `-id=X` (and -os, -ou, -is) to their long forms before clap sees them.
pub fn map_python_flags(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    args.into_iter()
        .map(|a| {
            let Some(s) = a.to_str() else { return a };
            for (short, long) in PYTHON_FLAGS {
                if s == *short {
                    return OsString::from(*long);
                }
                if let Some(v) = s.strip_prefix(short).and_then(|r| r.strip_prefix('=')) {
                    return OsString::from(format!("{long}={v}"));
                }
            }
            a
        })
        .collect()
}

pub fn run(args: impl IntoIterator<Item = OsString>) -> Result<()> {
    let cli = match Cli::try_parse_from(map_python_flags(args)) {
        Ok(c) => c,
        // --help / --version / usage errors: clap formats and exits with its own codes.
        Err(e) => e.exit(),
    };
    match cli.command {
        Command::Train(a) => train(a),
        Command::Infer(a) => infer(a),
        Command::Pixels(a) => pixels(a),
        Command::Experiment(a) => experiment(a),
        Command::Bench(a) => bench(a),
        Command::BenchCluster(a) => bench_cluster(a),
        Command::BenchInfer(a) => bench_infer(a),
    }
}

fn train(a: TrainArgs) -> Result<()> {
    let mut cfg = RunConfig::load(&a.config)?;
    if let Some(e) = a.embedding_size {
        cfg.model.embedding_size = e;
    }
    let t = &mut cfg.training;
    a.epochs.inspect(|&v| t.epochs = v);
    a.batch_size.inspect(|&v| t.batch_size = v);
    a.learning_rate.inspect(|&v| t.learning_rate = v);
    a.seed.inspect(|&v| t.seed = v);
    a.max_per_class.inspect(|&v| t.max_per_class = v);
    if let Some(d) = a.data {
        cfg.data = d;
    }
    if let Some(n) = a.name {
        cfg.name = n;
    }
    let device = backend::device(a.run.backend)?;
    let out = training::train(&cfg, a.run.backend, &device, &a.out, !a.run.quiet)?;
    if let Some(acc) = out.metrics.final_val_accuracy() {
        println!("validation accuracy {acc:.4}; checkpoint {}", out.checkpoint.display());
    }
    Ok(())
}

fn folder_name(p: &Path) -> String {
    p.canonicalize().ok().and_then(|c| c.file_name().map(|n| n.to_string_lossy().into_owned())).unwrap_or_else(|| "folder".into())
}

fn scan(dir: &Path) -> Result<IdentityFolder> {
    let folder = IdentityFolder::scan(dir)?;
    report_skipped(&dir.display().to_string(), &folder.skipped);
    Ok(folder)
}

fn infer(a: InferArgs) -> Result<()> {
    let cfg = checkpoint::load_config(&a.model)?;
    if let Some(e) = a.embedding_size.filter(|&e| e != cfg.model.embedding_size) {
        return Err(Error::Checkpoint {
            path: a.model.clone(),
            reason: format!("--embedding-size {e} does not match the checkpoint's embedding size {}", cfg.model.embedding_size),
        });
    }
    let device = backend::device(a.run.backend)?;
    let (cfg, model) = checkpoint::load(&a.model, &device)?;
    let folder = scan(&a.input_directory)?;
    let started = std::time::Instant::now();
    let emb = embed_folder(&model, cfg.image_spec(), &folder, &device, a.batch_size, !a.run.quiet)?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!("embedded {} images in {secs:.1} s ({:.0} img/s, decoding included)", emb.paths.len(), emb.paths.len() as f64 / secs);
    report_skipped("embedding", &emb.skipped[folder.skipped.len()..]);
    let model_dir = checkpoint::resolve_dir(&a.model);
    let out =
        a.out.out.clone().unwrap_or_else(|| PathBuf::from("results").join(folder_name(&model_dir)).join(folder_name(&a.input_directory)));
    let source = format!("cnn {}", model_dir.display());
    let scores = report::evaluate(&emb, &source, &a.input_directory, &a.eval.options(&a.out), &out)?;
    println!("{}\noutputs in {}", report::table(&scores), out.display());
    Ok(())
}

fn pixels(a: PixelArgs) -> Result<()> {
    let folder = scan(&a.input_directory)?;
    let emb = pixel_embeddings(&folder, a.image_size, !a.quiet)?;
    report_skipped("embedding", &emb.skipped[folder.skipped.len()..]);
    let out = a
        .out
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("results").join(format!("pixels-{}", a.image_size)).join(folder_name(&a.input_directory)));
    let source = format!("pixels {0}x{0}", a.image_size);
    let scores = report::evaluate(&emb, &source, &a.input_directory, &a.eval.options(&a.out), &out)?;
    println!("{}\noutputs in {}", report::table(&scores), out.display());
    Ok(())
}

fn experiment(a: ExperimentArgs) -> Result<()> {
    let mut exp = ExperimentConfig::load(&a.config)?;
    exp.folders.extend(a.folder);
    if let Some(seeds) = a.seeds.filter(|s| !s.is_empty()) {
        exp.seeds = seeds;
    }
    if let Some(sizes) = a.sizes.filter(|s| !s.is_empty() && !s.contains(&0)) {
        exp.embedding_sizes = sizes;
    }
    let device = backend::device(a.run.backend)?;
    let opts = experiment::Options {
        backend: a.run.backend,
        device: &device,
        checkpoints: a.checkpoints.unwrap_or_else(|| PathBuf::from("checkpoints").join(&exp.name)),
        out: a.out.unwrap_or_else(|| PathBuf::from("results").join(&exp.name)),
        progress: !a.run.quiet,
    };
    experiment::run(&exp, &opts)?;
    Ok(())
}

fn bench(a: BenchArgs) -> Result<()> {
    let device = backend::device(a.run.backend)?;
    crate::conv_block::set_fused(!a.unfused);
    let model = crate::model::ModelConfig::new().with_channels(a.channels.clone()).with_embedding_size(a.embedding_size);
    let r = crate::bench::net_throughput(&model, &device, a.train_batch, a.infer_batch, a.warmup, a.steps)?;
    println!(
        "backend {}{} channels {:?} E {}: train {:.0} img/s (batch {}), inference {:.0} img/s (batch {})",
        a.run.backend,
        if a.unfused { " (unfused conv)" } else { "" },
        r.channels,
        r.embedding_size,
        r.train_images_per_sec,
        r.train_batch,
        r.infer_images_per_sec,
        r.infer_batch
    );
    Ok(())
}

fn bench_cluster(a: BenchClusterArgs) -> Result<()> {
    use crate::bench::{ALGORITHMS, algorithms, blobs, median_knn_radius};
    if let Some(bad) = a.skip.iter().find(|s| !ALGORITHMS.contains(&s.as_str())) {
        return Err(Error::Invalid(format!("--skip {bad}: expected some of {}", ALGORITHMS.join(", "))));
    }
    println!("| data | N | method | wall s | notes |\n|---|---|---|---|---|");
    let print = |rows: Vec<crate::bench::Timing>| {
        for r in rows {
            println!("| {} | {} | {} | {:.2} | {} |", r.data, r.n, r.method, r.secs, r.note);
        }
    };
    for &n in &a.n {
        let (x, labels) = blobs(n, 128, 10, 0);
        print(algorithms(x.view(), &labels, "blobs", median_knn_radius(x.view()), 10, &a.skip)?);
    }
    if let Some(dir) = &a.real {
        let (x, labels) = report::read_embeddings(dir)?;
        let k = labels.iter().max().map_or(1, |m| m + 1);
        // Our vectors have no fixed scale (dlib's 0.6 rule does not apply): the same
        // data-derived radius `infer` uses.
        let (eps, _) = crate::cluster::auto_eps(x.view(), 5);
        print(algorithms(x.view(), &labels, &folder_name(dir), eps, k, &a.skip)?);
    }
    Ok(())
}

fn bench_infer(a: BenchInferArgs) -> Result<()> {
    use crate::bench::{decode_stages, infer_rounds, median};
    let device = backend::device(a.backend)?;
    let (cfg, model) = checkpoint::load(&a.model, &device)?;
    let folder = IdentityFolder::scan(&a.folder)?;
    let spec = cfg.image_spec();
    let s = decode_stages(&folder.paths, spec);
    println!(
        "decode stages, 1 thread, {} images: read {:.3} + decode {:.3} + resize {:.3} + to float {:.3} = {:.3} ms/img",
        s.images,
        s.read_ms,
        s.decode_ms,
        s.resize_ms,
        s.to_float_ms,
        s.total_ms()
    );
    let r = infer_rounds(&model, spec, &folder, &device, a.batch_size, a.rounds)?;
    let show = |v: &[f64]| {
        let (lo, hi) = v.iter().fold((f64::INFINITY, 0.0f64), |(l, h), &x| (l.min(x), h.max(x)));
        format!("{:.0} img/s (median of {}, range {lo:.0}–{hi:.0})", median(v), v.len())
    };
    println!("network only (the folder's pixels, decoded beforehand), batch {}: {}", a.batch_size, show(&r.network_only));
    println!("decoding only, every core: {}", show(&r.decode_only));
    println!("end to end (decode overlapped + network, as in infer): {}", show(&r.end_to_end));
    let paired: Vec<f64> = r.end_to_end.iter().zip(&r.network_only).map(|(e, n)| e / n).collect();
    println!("end to end / network only: {:.3} (median of the rounds' ratios; {} images)", median(&paired), r.images);
    if let (Some(n), Some(e)) = (r.cores_network, r.cores_end_to_end) {
        println!("cores busy: network only {n:.2}, end to end {e:.2} (CPU time ÷ wall time, of {})", rayon::current_num_threads());
    }
    Ok(())
}
