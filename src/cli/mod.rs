//! The command line: [`args`] is what clap parses, [`settings`] turns it into validated
//! library inputs, and each command below is a few calls into the pipeline. Errors are
//! returned, never printed or exited on here: `main` prints them once.
pub mod args;
pub mod settings;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::Parser;

use crate::backend;
use crate::embed::pixels::pixel_embeddings;
use crate::embed::{Readout, embed_folder};
use crate::error::{Error, Result};
use crate::experiment;
use crate::image::folder::{IdentityFolder, report_skipped};
use crate::model::checkpoint::Checkpoint;
use crate::output::{self, table::table};
use crate::train;
use args::{BenchArgs, BenchClusterArgs, BenchInferArgs, Cli, Command, ExperimentArgs, InferArgs, PixelArgs, TrainArgs};
use settings::{bench_model, folder_name};

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

/// Parses `args` (the program name first) and runs the command. `--help`, `--version`
/// and usage mistakes come back as [`Error::Usage`], for `main` to print as clap formats them.
pub fn run(args: impl IntoIterator<Item = OsString>) -> Result<()> {
    let cli = Cli::try_parse_from(map_python_flags(args)).map_err(Error::Usage)?;
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
    let cfg = a.config()?;
    let device = backend::device(a.run.backend)?;
    let out = train::train(&cfg, a.run.backend, &device, &a.out, !a.run.quiet)?;
    if let Some(acc) = out.metrics.final_val_accuracy() {
        println!("validation accuracy {acc:.4}; checkpoint {}", out.checkpoint.display());
    }
    Ok(())
}

fn scan(dir: &Path) -> Result<IdentityFolder> {
    let folder = IdentityFolder::scan(dir)?;
    report_skipped(&dir.display().to_string(), &folder.skipped);
    Ok(folder)
}

fn infer(a: InferArgs) -> Result<()> {
    let (opts, charts) = (a.eval.options()?, a.out.charts()?);
    let ck = Checkpoint::open(&a.model)?;
    let model_cfg = &ck.config.model;
    if let Some(e) = a.embedding_size.filter(|&e| e != model_cfg.embedding_size) {
        return Err(Error::Checkpoint {
            path: a.model.clone(),
            reason: format!("--embedding-size {e} does not match the checkpoint's embedding size {}", model_cfg.embedding_size),
        });
    }
    let device = backend::device(a.run.backend)?;
    let model = ck.load_model(&device)?;
    let folder = scan(&a.input_directory)?;
    let started = std::time::Instant::now();
    let readout = Readout { layer: a.layer, flip: a.flip };
    let emb = embed_folder(&model, model_cfg, readout, &folder, &device, a.batch_size, !a.run.quiet)?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!("embedded {} images in {secs:.1} s ({:.0} img/s, decoding included)", emb.paths.len(), emb.paths.len() as f64 / secs);
    report_skipped("embedding", &emb.skipped[folder.skipped.len()..]);
    let out = a.out.dir(&folder_name(&ck.dir), &a.input_directory);
    let source = format!("cnn {}", ck.dir.display());
    let scores = output::report(&emb, &source, &a.input_directory, &opts, &charts, &out)?;
    println!("{}\noutputs in {}", table(&scores), out.display());
    Ok(())
}

fn pixels(a: PixelArgs) -> Result<()> {
    let (opts, charts) = (a.eval.options()?, a.out.charts()?);
    if a.image_size == 0 {
        return Err(Error::Invalid("--image-size must be > 0".into()));
    }
    let folder = scan(&a.input_directory)?;
    let emb = pixel_embeddings(&folder, a.image_size, !a.quiet)?;
    report_skipped("embedding", &emb.skipped[folder.skipped.len()..]);
    let out = a.out.dir(&format!("pixels-{}", a.image_size), &a.input_directory);
    let source = format!("pixels {0}x{0}", a.image_size);
    let scores = output::report(&emb, &source, &a.input_directory, &opts, &charts, &out)?;
    println!("{}\noutputs in {}", table(&scores), out.display());
    Ok(())
}

fn experiment(a: ExperimentArgs) -> Result<()> {
    let exp = a.experiment()?;
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
    let model = bench_model(a.channels.as_deref(), a.embedding_size)?;
    let device = backend::device(a.run.backend)?;
    let kernel = if a.unfused { crate::model::ConvKernel::Burn } else { crate::model::ConvKernel::Fused };
    let r = crate::bench::net_throughput(&model, kernel, &device, a.train_batch, a.infer_batch, a.warmup, a.steps)?;
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
    use crate::bench::{ALGORITHMS, algorithms, median_knn_radius};
    use crate::synthetic::blobs;
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
        let (x, labels) = blobs(n, 128, 10, 1.0, 0);
        print(algorithms(x.view(), &labels, "blobs", median_knn_radius(x.view()), 10, &a.skip)?);
    }
    if let Some(dir) = &a.real {
        let (x, labels) = output::read_embeddings(dir)?;
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
    let ck = Checkpoint::open(&a.model)?;
    let model = ck.load_model(&device)?;
    let folder = IdentityFolder::scan(&a.folder)?;
    let spec = ck.config.image_spec();
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
    let r = infer_rounds(&model, &ck.config.model, &folder, &device, a.batch_size, a.rounds)?;
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
