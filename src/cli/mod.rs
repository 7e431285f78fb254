//! The command line: [`args`] is what clap parses, [`settings`] turns it into validated
//! library inputs, and each command below is a few calls into the pipeline. Errors are
//! returned, never printed or exited on here: `main` prints them once.
pub mod args;
pub mod settings;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::Parser;

use burn::prelude::Device;

use crate::backend;
use crate::calibrate;
use crate::cluster;
use crate::embed::pixels::pixel_embeddings;
use crate::embed::{Readout, embed_folder};
use crate::error::{Error, Result};
use crate::experiment;
use crate::image::folder::{IdentityFolder, report_skipped};
use crate::model::FaceNet;
use crate::model::checkpoint::Checkpoint;
use crate::model::checkpoint::{self, HeldOut};
use crate::output::{self, OutDir, table::table};
use crate::project::whiten;
use crate::train;
use args::{
    BenchArgs, BenchClusterArgs, BenchInferArgs, CalibrateArgs, Cli, Command, ExperimentArgs, InferArgs, MatchArgs, PixelArgs, ReportArgs,
    TrainArgs,
};
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
        Command::Match(a) => match_faces(a),
        Command::Report(a) => report(a),
        Command::Calibrate(a) => calibrate(a),
        Command::Experiment(a) => experiment(a),
        Command::Bench(a) => bench(a),
        Command::BenchCluster(a) => bench_cluster(a),
        Command::BenchInfer(a) => bench_infer(a),
    }
}

fn train(a: TrainArgs) -> Result<()> {
    let cfg = a.config()?;
    let device = backend::device(a.run.backend)?;
    let replace = if a.overwrite { train::Replace::Always } else { train::Replace::IfNotWorse };
    let opts = train::Options { replace, resume: a.resume, progress: !a.run.quiet };
    let out = train::train(&cfg, a.run.backend, &device, &a.out, opts)?;
    if let Some(acc) = out.metrics.final_val_accuracy() {
        println!("validation accuracy {acc:.4}; checkpoint {}", out.checkpoint.display());
    }
    if !out.metrics.held_out.is_empty() {
        let ck = Checkpoint::open(&out.checkpoint)?;
        calibrate_checkpoint(&ck, &out.model, &out.metrics.held_out, &device, !a.run.quiet)?;
    }
    Ok(())
}

fn calibrate(a: CalibrateArgs) -> Result<()> {
    let ck = Checkpoint::open(&a.model)?;
    let metrics: train::TrainMetrics = ck.metrics()?;
    if metrics.held_out.is_empty() {
        return Err(Error::Checkpoint {
            path: ck.dir.join(checkpoint::METRICS_FILE),
            reason: "no held-out people to calibrate on (train with [identity] holdout > 0)".into(),
        });
    }
    let device = backend::device(a.run.backend)?;
    let model = ck.load_model(&device)?;
    calibrate_checkpoint(&ck, &model, &metrics.held_out, &device, !a.run.quiet)
}

/// Calibrates `model` (the network of `ck`) on its held-out people and stores the result
/// in the checkpoint.
fn calibrate_checkpoint(ck: &Checkpoint, model: &FaceNet, held: &[HeldOut], device: &Device, progress: bool) -> Result<()> {
    let readout = Readout::for_config(&ck.config);
    let cal = calibrate::calibrate_model(model, &ck.config.model, readout, held, device, progress)?;
    checkpoint::save_calibration(&ck.dir, &cal)?;
    let best = |t: f32, ari: fn(&calibrate::CurvePoint) -> f64| cal.curve.iter().find(|p| p.threshold == t).map_or(f64::NAN, ari);
    println!(
        "calibrated on {} held-out people ({} images): average-linkage cut {} (ARI {:.3}), chinese whispers {} (ARI {:.3}), DBSCAN eps {} (ARI {:.3}); written to {}",
        cal.people,
        cal.images,
        cal.linkage_threshold,
        best(cal.linkage_threshold, |p| p.linkage_ari),
        cal.cw_threshold,
        best(cal.cw_threshold, |p| p.cw_ari),
        cal.dbscan_eps,
        best(cal.dbscan_eps, |p| p.dbscan_ari),
        ck.dir.join(checkpoint::CALIBRATION_FILE).display()
    );
    Ok(())
}

fn scan(dir: &Path, unlabelled: bool) -> Result<IdentityFolder> {
    let folder = if unlabelled { IdentityFolder::scan_unlabelled(dir)? } else { IdentityFolder::scan_any(dir)? };
    report_skipped(&dir.display().to_string(), &folder.skipped);
    Ok(folder)
}

/// The whitening `infer --whiten` applies: the one fitted on the held-out people, which
/// holds only for vectors read and normalised as theirs were.
fn whitening_for(c: Option<&calibrate::Calibration>, ck: &Checkpoint) -> Result<checkpoint::Whitening> {
    let path = ck.dir.join(checkpoint::CALIBRATION_FILE);
    let reason = match c {
        Some(c) => match &c.whitening {
            Some(w) => return Ok(w.clone()),
            None => format!("no whitening fitted (made before --whiten existed); run `facemb calibrate -m {}`", ck.dir.display()),
        },
        None if path.is_file() => "--whiten needs L2-normalised vectors read with the calibration's --layer and flip".into(),
        None => format!("--whiten needs held-out people's whitening; none calibrated (run `facemb calibrate -m {}`)", ck.dir.display()),
    };
    Err(Error::Checkpoint { path, reason })
}

/// The held-out distance scale every calibrated value travels to other faces by
/// (`cluster::SCALE_QUANTILE`), for `infer`'s cuts and `match`'s tolerance alike.
fn held_out_scale(c: &calibrate::Calibration, ck: &Checkpoint) -> Result<f32> {
    c.pair_quantile(cluster::SCALE_QUANTILE).ok_or_else(|| Error::Checkpoint {
        path: ck.dir.join(checkpoint::CALIBRATION_FILE),
        reason: format!("no {} quantile of held-out distances; run `facemb calibrate -m {}`", cluster::SCALE_QUANTILE, ck.dir.display()),
    })
}

/// The checkpoint `-m` names; the ready model's default path gets its own message when
/// it is not found (it is relative to the current folder).
fn open_model(path: &Path) -> Result<Checkpoint> {
    if path == Path::new(checkpoint::READY_MODEL) && !path.exists() {
        return Err(Error::Checkpoint {
            path: path.to_path_buf(),
            reason: "the ready model is found relative to the current folder: run from the facemb repository, or pass -m".into(),
        });
    }
    Checkpoint::open(path)
}

fn check_pixel_size(size: usize) -> Result<()> {
    if size == 0 || size > crate::config::MAX_IMAGE_SIZE {
        return Err(Error::Invalid(format!("--image-size must be in 1..={}, got {size}", crate::config::MAX_IMAGE_SIZE)));
    }
    Ok(())
}

fn infer(a: InferArgs) -> Result<()> {
    let ck = open_model(&a.model)?;
    let (mut opts, charts) = (a.eval.options(ck.config.identity_trained())?, a.out.charts()?);
    let default = Readout::for_config(&ck.config);
    let readout = Readout { layer: a.layer.unwrap_or(default.layer), flip: (default.flip || a.flip) && !a.no_flip };
    // The calibrated cuts and whitening hold for the vectors they were measured on:
    // normalised, read the same way (and, for the cuts, not whitened).
    let calibration = ck.calibration()?.filter(|c| opts.normalize && c.layer == readout.layer && c.flip == readout.flip);
    let whitening = if a.whiten { Some(whitening_for(calibration.as_ref(), &ck)?) } else { None };
    if let Some(c) = calibration.filter(|_| whitening.is_none()) {
        let pair_scale = held_out_scale(&c, &ck)?;
        opts.params.calibrated = Some(cluster::Calibrated {
            eps: c.dbscan_eps,
            cw_threshold: c.cw_threshold,
            link_threshold: c.linkage_threshold,
            pair_scale,
            origin: format!("{} held-out training people of {}", c.people, ck.dir.display()),
        });
    }
    let model_cfg = &ck.config.model;
    if let Some(e) = a.embedding_size.filter(|&e| e != model_cfg.embedding_size) {
        return Err(Error::Checkpoint {
            path: a.model.clone(),
            reason: format!("--embedding-size {e} does not match the checkpoint's embedding size {}", model_cfg.embedding_size),
        });
    }
    let device = backend::device(a.run.backend)?;
    let model = ck.load_model(&device)?;
    let out = OutDir::begin(&a.out.dir(&folder_name(&ck.dir), &a.input_directory), &a.input_directory)?;
    let keep = a.out.keep(&a.input_directory)?;
    let folder = scan(&a.input_directory, a.eval.unlabelled)?;
    let started = std::time::Instant::now();
    let mut emb = embed_folder(&model, model_cfg, readout, &folder, &device, a.batch_size, !a.run.quiet)?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!("embedded {} images in {secs:.1} s ({:.0} img/s, decoding included)", emb.paths.len(), emb.paths.len() as f64 / secs);
    if let Some(w) = &whitening {
        emb.matrix = whiten::apply(w, emb.matrix.view(), whiten::SHRINK)?;
        eprintln!(
            "whitened along {} axes fitted on {}'s held-out people; clustering cuts derived from this folder",
            w.axes.len(),
            ck.dir.display()
        );
    }
    report_skipped("embedding", &emb.skipped[folder.skipped.len()..]);
    let dir = out.path().to_path_buf();
    let source = format!("cnn {}{}", ck.dir.display(), if whitening.is_some() { ", whitened" } else { "" });
    let scores = output::report_and_keep(&emb, &source, &a.input_directory, &opts, &charts, out, keep)?;
    println!("{}\noutputs in {}", table(&scores), dir.display());
    Ok(())
}

fn pixels(a: PixelArgs) -> Result<()> {
    let (opts, charts) = (a.eval.options(false)?, a.out.charts()?);
    check_pixel_size(a.image_size)?;
    let out = OutDir::begin(&a.out.dir(&format!("pixels-{}", a.image_size), &a.input_directory), &a.input_directory)?;
    let keep = a.out.keep(&a.input_directory)?;
    let folder = scan(&a.input_directory, a.eval.unlabelled)?;
    let emb = pixel_embeddings(&folder, a.image_size, !a.quiet)?;
    report_skipped("embedding", &emb.skipped[folder.skipped.len()..]);
    let dir = out.path().to_path_buf();
    let source = format!("pixels {0}x{0}", a.image_size);
    let scores = output::report_and_keep(&emb, &source, &a.input_directory, &opts, &charts, out, keep)?;
    println!("{}\noutputs in {}", table(&scores), dir.display());
    Ok(())
}

fn report(a: ReportArgs) -> Result<()> {
    // exists(), not is_file(): a pipe or folder in a run file's place is an error naming
    // it (the report reads every file as a regular one), not "no such file".
    let (scores, summary, index) =
        (a.run.join(output::SCORES_FILE), a.run.join(output::matches::SUMMARY_FILE), a.run.join(output::INDEX_FILE));
    let not_a_run = |reason: String| Err(Error::Data { path: a.run.clone(), reason });
    if !scores.exists() && summary.exists() && !index.exists() {
        return not_a_run(format!("a match run written without --report keeps no {}; rerun match with --report", output::INDEX_FILE));
    }
    if !scores.exists() && !summary.exists() {
        return not_a_run(format!(
            "not a finished run folder of infer or pixels (no {}), nor of match --report (no {})",
            output::SCORES_FILE,
            output::matches::SUMMARY_FILE
        ));
    }
    let _lock = crate::files::Lock::acquire(&a.run)?;
    let started = std::time::Instant::now();
    let bytes = output::report::write(&a.run, &a.run)?;
    println!(
        "{} ({:.1} MB) in {:.1} s",
        a.run.join(output::report::REPORT_FILE).display(),
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn match_faces(a: MatchArgs) -> Result<()> {
    use crate::embed::Embedder;
    use crate::identify::{self, Gallery, Source, tolerance};
    use crate::output::matches::{self, MatchRun, MatchSummary};
    let params = identify::Params::new(a.k, a.vote)?;
    if a.tolerance.is_some_and(|t| !(t.is_finite() && t >= 0.0)) {
        return Err(Error::Invalid("--tolerance must be a number ≥ 0".into()));
    }
    let progress = !a.run.quiet;
    // The embedder, whether its vectors are compared normalised, and a calibrated
    // tolerance (value, held-out distance scale, origin) when the checkpoint has one.
    let (embedder, normalize, calibrated) = match a.pixels {
        Some(size) => {
            check_pixel_size(size)?;
            (Embedder::Pixels { size }, false, None)
        }
        None => {
            let ck = open_model(&a.model)?;
            let readout = Readout::for_config(&ck.config);
            let normalize = ck.config.identity_trained();
            let calibrated = match ck.calibration()?.filter(|c| normalize && c.layer == readout.layer && c.flip == readout.flip) {
                Some(c) => match c.match_tolerance {
                    Some(t) => {
                        Some((t, held_out_scale(&c, &ck)?, format!("{} held-out training people of {}", c.people, ck.dir.display())))
                    }
                    None => None,
                },
                None => None,
            };
            let bytes = std::fs::read(&ck.model_file).map_err(|e| Error::io(&ck.model_file, e))?;
            let device = backend::device(a.run.backend)?;
            let model = Box::new(ck.load_model(&device)?);
            let name = ck.dir.display().to_string();
            let (config, weights) = (ck.config.model.clone(), crate::files::fnv1a(bytes));
            (Embedder::Network { model, config, readout, device, batch_size: a.batch_size, name, weights }, normalize, calibrated)
        }
    };
    let source =
        Source { description: embedder.description(), fingerprint: embedder.fingerprint(), dim: embedder.dim(), normalized: normalize };
    let out_dir = a.out.clone().unwrap_or_else(|| output::default_dir(Path::new("results/match"), &folder_name(&a.query), &a.query));
    let out = OutDir::begin_beside(&out_dir, &[&a.query, &a.gallery])?;
    if let Some(file) = &a.save_gallery {
        output::check_file_destination("--save-gallery", file, &[&a.query, &a.gallery])?;
    }

    let gallery = if a.gallery.is_file() {
        let g = Gallery::load(&a.gallery)?;
        g.source.check(&source, &a.gallery)?;
        g
    } else {
        let folder = scan(&a.gallery, false)?;
        if !folder.labelled {
            return Err(Error::Data {
                path: a.gallery.clone(),
                reason: "a gallery needs one sub-folder per known person (ROOT/<name>/<image>)".into(),
            });
        }
        let emb = embedder.embed(&folder, normalize, progress)?;
        report_skipped("gallery", &emb.skipped[folder.skipped.len()..]);
        let (g, missing) = Gallery::from_embeddings(&emb, source.clone());
        for name in missing {
            eprintln!("warning: gallery person {name} has no usable image; left out");
        }
        g
    };
    if let Some(file) = &a.save_gallery {
        gallery.save(file)?;
        eprintln!("gallery of {} people saved to {}", gallery.names.len(), file.display());
    }
    let folder = scan(&a.query, a.unlabelled)?;
    let queries = embedder.embed(&folder, normalize, progress)?;
    report_skipped("queries", &queries.skipped[folder.skipped.len()..]);
    let candidates = identify::candidates(queries.matrix.view(), gallery.vectors.view(), &gallery.person, params)?;
    let (tolerance, origin) = match (a.tolerance, calibrated) {
        (Some(t), _) => (t, "given".to_string()),
        (None, Some((t, scale, origin))) => {
            let all = ndarray::concatenate(ndarray::Axis(0), &[gallery.vectors.view(), queries.matrix.view()])
                .map_err(|e| Error::Compute { what: "gallery and queries", reason: e.to_string() })?;
            tolerance::scaled(t, scale, all.view(), &origin)
        }
        (None, None) => tolerance::from_gallery(gallery.vectors.view(), &gallery.person)
            .ok_or_else(|| Error::Invalid("no gallery person has two faces to learn a tolerance from: pass --tolerance".into()))?,
    };
    eprintln!("tolerance {tolerance:.4} ({origin})");
    let index: std::collections::HashMap<&str, usize> = gallery.names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    let truth: Option<Vec<Option<usize>>> =
        queries.labelled.then(|| queries.identity.iter().map(|&i| index.get(queries.names[i].as_str()).copied()).collect());
    let summary = MatchSummary {
        source: source.description.clone(),
        gallery: a.gallery.clone(),
        gallery_people: gallery.names.len(),
        people: gallery.names.clone(),
        gallery_faces: gallery.person.len(),
        queries: a.query.clone(),
        query_faces: queries.paths.len(),
        k: params.k,
        vote: params.vote,
        tolerance,
        tolerance_origin: origin,
        named: 0,
        unknown: 0,
        scores: None,
    };
    let dir = out.path().to_path_buf();
    let run = MatchRun {
        queries: &queries,
        gallery: &gallery,
        candidates: &candidates,
        tolerance,
        truth: truth.as_deref(),
        params,
        montage: a.montage,
        report: a.report,
    };
    let s = matches::write(&run, summary, out)?;
    println!(
        "{} matched against {} known {} ({}): {} named, {} unknown at tolerance {:.4}",
        output::table::count(s.query_faces, "face"),
        s.gallery_people,
        if s.gallery_people == 1 { "person" } else { "people" },
        output::table::count(s.gallery_faces, "face"),
        s.named,
        s.unknown,
        s.tolerance
    );
    if let Some(o) = &s.scores {
        println!(
            "known people ({} queries): named correctly {:.3}, named as someone else {:.3}, taken for unknown {:.3}",
            o.known_queries, o.known_accuracy, o.known_misnamed, o.false_unknown
        );
        println!("unknown people ({} queries): turned away {:.3}", o.unknown_queries, o.unknown_rejected);
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
        progress: !a.run.quiet,
    };
    experiment::run(&exp, &opts)?;
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
