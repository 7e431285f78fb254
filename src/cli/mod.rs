//! The command line: [`args`] is what clap parses, [`settings`] turns it into validated
//! library inputs, and each command below is a few calls into the pipeline. Errors are
//! returned, never printed or exited on here: `main` prints them once.
pub mod args;
pub mod settings;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

use crate::backend;
use crate::commands;
use crate::error::{Error, Result};
use crate::experiment;
use crate::output::table::{count, table};
use crate::progress::{self, Reporter};
use args::{
    BenchAlbumsArgs, BenchArgs, BenchClusterArgs, BenchDetectArgs, BenchInferArgs, BenchSplitArgs, CalibrateArgs, Cli, Command, DetectArgs,
    ExperimentArgs, InferArgs, MatchArgs, PixelArgs, ReportArgs, TrainArgs, TrainDetectorArgs,
};
use settings::{bench_model, or_ready};

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
        Command::Match(a) => match_faces(a),
        Command::Detect(a) => detect(a),
        Command::TrainDetector(a) => train_detector(a),
        Command::Report(a) => report(a),
        Command::Calibrate(a) => calibrate(a),
        Command::Experiment(a) => experiment(a),
        Command::Bench(a) => bench(a),
        Command::BenchCluster(a) => bench_cluster(a),
        Command::BenchInfer(a) => bench_infer(a),
        Command::BenchDetect(a) => bench_detect(a),
        Command::BenchSplit(a) => bench_split(a),
        Command::BenchAlbums(a) => bench_albums(a),
    }
}

fn train(a: TrainArgs) -> Result<()> {
    let (cfg, opts) = a.settings()?;
    let t = commands::train_and_calibrate(&cfg, a.run.backend, &backend::device(a.run.backend)?, &a.out, opts)?;
    if let Some(acc) = t.metrics.final_val_accuracy() {
        println!("validation accuracy {acc:.4}; checkpoint {}", t.checkpoint.display());
    }
    if let Some(c) = &t.calibration {
        println!("{}", c.summary(&t.checkpoint));
    }
    Ok(())
}

fn detect(a: DetectArgs) -> Result<()> {
    let s = a.settings()?;
    let d = commands::detect_photos(&s)?;
    println!(
        "{} photos, {} found, {} photos without a face, {} skipped, in {:.1} s ({:.1} photos/s); outputs in {}",
        d.photos,
        count(d.faces, "face"),
        d.without_face,
        d.skipped,
        d.seconds,
        d.photos as f64 / d.seconds.max(1e-9),
        s.out.display()
    );
    Ok(())
}

fn train_detector(a: TrainDetectorArgs) -> Result<()> {
    let dir = commands::train_detector(&a.config, &a.out, a.resume, a.run.backend, progress::Reporter::cli(a.run.quiet))?;
    println!("detector checkpoint {}", dir.display());
    Ok(())
}

fn calibrate(a: CalibrateArgs) -> Result<()> {
    let (ck, cal) = commands::calibrate(&a.model, a.run.backend, Reporter::cli(a.run.quiet))?;
    println!("{}", cal.summary(&ck.dir));
    Ok(())
}

fn infer(a: InferArgs) -> Result<()> {
    let done = commands::infer(&a.settings()?)?;
    println!("{}\noutputs in {}", table(&done.scores), done.dir.display());
    Ok(())
}

fn pixels(a: PixelArgs) -> Result<()> {
    let done = commands::pixels(&a.settings()?)?;
    println!("{}\noutputs in {}", table(&done.scores), done.dir.display());
    Ok(())
}

fn report(a: ReportArgs) -> Result<()> {
    let started = std::time::Instant::now();
    let (path, bytes) = commands::report(&a.run, Reporter::cli(false))?;
    println!("{} ({:.1} MB) in {:.1} s", path.display(), bytes as f64 / 1e6, started.elapsed().as_secs_f64());
    Ok(())
}

fn match_faces(a: MatchArgs) -> Result<()> {
    let (s, dir) = commands::match_faces(&a.settings()?)?;
    println!(
        "{} matched against {} known {} ({}): {} named, {} unknown at tolerance {:.4}",
        count(s.query_faces, "face"),
        s.gallery_people,
        if s.gallery_people == 1 { "person" } else { "people" },
        count(s.gallery_faces, "face"),
        s.named,
        s.unknown,
        s.tolerance
    );
    if let Some(o) = &s.scores {
        // A share of no queries is no number: "n/a", never NaN.
        let share = |v: f64| if v.is_finite() { format!("{v:.3}") } else { "n/a".into() };
        println!(
            "known people ({} queries): named correctly {}, named as someone else {}, taken for unknown {}",
            o.known_queries,
            share(o.known_accuracy),
            share(o.known_misnamed),
            share(o.false_unknown)
        );
        println!("unknown people ({} queries): turned away {}", o.unknown_queries, share(o.unknown_rejected));
    }
    println!("outputs in {}", dir.display());
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
        reporter: Reporter::cli(a.run.quiet),
    };
    let (_, results) = experiment::run(&exp, &opts)?;
    println!("{results}");
    println!("results in {}", opts.out.display());
    Ok(())
}

fn bench(a: BenchArgs) -> Result<()> {
    let model = bench_model(a.config.as_deref(), a.channels.as_deref(), a.embedding_size)?;
    let device = backend::device(a.run.backend)?;
    let kernel = if a.unfused { crate::model::ConvKernel::Burn } else { crate::model::ConvKernel::Fused };
    let r = crate::bench::net_throughput(&model, kernel, &device, a.train_batch, a.infer_batch, a.warmup, a.steps)?;
    println!(
        "backend {}{} channels {:?}{}{} E {}: train {:.0} img/s (batch {}), inference {:.0} img/s (batch {})",
        a.run.backend,
        if a.unfused { " (unfused conv)" } else { "" },
        r.channels,
        match (model.conv_norm, model.embedding_norm) {
            (true, true) => " + BatchNorm after each block and on the embedding",
            (true, false) => " + BatchNorm after each block",
            (false, true) => " + BatchNorm on the embedding",
            (false, false) => "",
        },
        if model.residual { " + a residual unit after each block" } else { "" },
        r.embedding_size,
        r.train_images_per_sec,
        r.train_batch,
        r.infer_images_per_sec,
        r.infer_batch
    );
    Ok(())
}

fn bench_cluster(a: BenchClusterArgs) -> Result<()> {
    let rows = crate::bench::cluster_timings(&a.n, a.real.as_deref(), &a.skip)?;
    println!("| data | N | method | wall s | notes |\n|---|---|---|---|---|");
    for r in rows {
        println!("| {} | {} | {} | {:.2} | {} |", r.data, r.n, r.method, r.secs, r.note);
    }
    Ok(())
}

fn bench_albums(a: BenchAlbumsArgs) -> Result<()> {
    let r = crate::bench::albums::run(&a.settings()?)?;
    println!("{}: {} images of {} people; {} albums, {} images in all", r.folder.display(), r.images, r.people, r.albums, r.album_images);
    println!("method           albums: mean ARI  ARI ≥ 0.9  clusters/person (median)   whole folder: ARI  clusters");
    for s in &r.scores {
        let folder = s.folder.map_or("over the memory budget".into(), |(ari, c)| format!("{ari:.3}  {c:>8}"));
        println!("{:<16} {:>16.3} {:>9.0}% {:>25.2}   {:>19}", s.method, s.mean_ari, 100.0 * s.share_good, s.clusters_per_person, folder);
    }
    Ok(())
}

fn bench_split(a: BenchSplitArgs) -> Result<()> {
    let (gallery, queries) = crate::bench::write_match_split(a.input.folder(), &a.out, Reporter::cli(false))?;
    println!("{gallery} gallery and {queries} query images written to {}", a.out.display());
    Ok(())
}

fn bench_infer(a: BenchInferArgs) -> Result<()> {
    use crate::bench::median;
    let model = or_ready(a.model.as_deref(), &crate::model::checkpoint::READY_MODEL, Reporter::cli(false))?;
    let (s, r) = crate::bench::folder_speed(&model, a.input.folder(), a.backend, a.batch_size, a.rounds, Reporter::cli(true))?;
    println!(
        "decode stages, 1 thread, {} images: read {:.3} + decode {:.3} + resize {:.3} + to float {:.3} = {:.3} ms/img",
        s.images,
        s.read_ms,
        s.decode_ms,
        s.resize_ms,
        s.to_float_ms,
        s.total_ms()
    );
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

fn bench_detect(a: BenchDetectArgs) -> Result<()> {
    let done = crate::bench::detect::run(&crate::bench::detect::DetectBench {
        out: a.out,
        faces: a.faces,
        scenes: a.scenes,
        pictures: a.pictures,
        width: a.width,
        height: a.height,
        seed: a.seed,
        search: a.search.search()?,
        detector: a.search.detector(Reporter::cli(a.run.quiet))?,
        speed: !a.no_speed,
        peers: a.peer,
        backend: a.run.backend,
    })?;
    println!("detector              pictures faces found    AP  recall precision  recall <40px 40-80px >80px");
    for (name, s) in done.scores {
        let r = s.recall_by_width.map(|v| if v.is_finite() { format!("{v:.3}") } else { "n/a".into() });
        println!(
            "{name:<21} {:>8} {:>5} {:>5} {:.3}  {:.3}   {:.3}            {:>5} {:>7} {:>5}",
            s.pictures, s.faces, s.detections, s.average_precision, s.recall, s.precision, r[0], r[1], r[2]
        );
    }
    for ((w, h), per_s) in done.speeds {
        println!("facemb detect {w}x{h}: {per_s:.2} photos/s");
    }
    Ok(())
}
