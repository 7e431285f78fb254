//! The speed driver, beside `cli/` and `experiment/`: what `scripts/bench.sh` times —
//! network throughput on random inputs (training img/s: forward, backward, Adam step;
//! inference img/s; after warm-up), the projections and clusterers on blobs or saved
//! embeddings, and a folder's decoding and embedding. Timings belong here, never in tests.
pub mod albums;
pub mod detect;

use std::path::Path;
use std::time::Instant;

use burn::prelude::*;
use burn::tensor::Distribution;
use ndarray::{Array2, ArrayView2};
use serde::Serialize;

use crate::config::ModelConfig;
use crate::error::{Error, Result};
use crate::files::Csv;
use crate::image::ImageSpec;
use crate::image::folder::{IdentityFolder, report_skipped};
use crate::model::{ConvKernel, FaceNet};
use crate::progress::Reporter;
use crate::train::loss::FaceStep;

#[derive(Debug, Clone, Serialize)]
pub struct NetThroughput {
    pub channels: Vec<usize>,
    pub embedding_size: usize,
    pub train_batch: usize,
    pub infer_batch: usize,
    pub train_images_per_sec: f64,
    pub infer_images_per_sec: f64,
}

fn sync(device: &Device) -> Result<()> {
    device.sync().map_err(|e| Error::Compute { what: "device sync", reason: format!("{e:?}") })
}

/// Times `steps` training steps and `steps` inference batches after `warmup` of each.
pub fn net_throughput(
    model: &ModelConfig,
    kernel: ConvKernel,
    device: &Device,
    train_batch: usize,
    infer_batch: usize,
    warmup: usize,
    steps: usize,
) -> Result<NetThroughput> {
    let s = model.image_size;
    let ad = device.clone().autodiff();
    let mut net = model.init(&ad).with_kernel(kernel);
    let mut step_fn = FaceStep::new(&ad);
    let x = Tensor::<4>::random([train_batch, model.in_channels, s, s], Distribution::Default, &ad);
    let labels: Vec<i64> = (0..train_batch as i64).map(|i| i % 2).collect();
    let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [train_batch]), &ad);
    let mut train_secs = 0.0;
    for step in 0..warmup + steps {
        let t = Instant::now();
        net = step_fn.run(net, y.clone(), 1e-3, |m| (m.forward(x.clone()), None)).0;
        sync(&ad)?;
        if step >= warmup {
            train_secs += t.elapsed().as_secs_f64();
        }
    }
    let net = net.valid();
    // A fresh batch per step, made before the clock starts, so no backend can reuse work.
    let inputs: Vec<Tensor<4>> =
        (0..warmup + steps).map(|_| Tensor::<4>::random([infer_batch, model.in_channels, s, s], Distribution::Default, device)).collect();
    sync(device)?;
    let mut infer_secs = 0.0;
    for (step, x) in inputs.into_iter().enumerate() {
        let t = Instant::now();
        // Reading the embedding back is part of inference: it is what `infer` does.
        let _ = net.embed(x).into_data();
        sync(device)?;
        if step >= warmup {
            infer_secs += t.elapsed().as_secs_f64();
        }
    }
    Ok(NetThroughput {
        channels: model.channels.clone(),
        embedding_size: model.embedding_size,
        train_batch,
        infer_batch,
        train_images_per_sec: (steps * train_batch) as f64 / train_secs,
        infer_images_per_sec: (steps * infer_batch) as f64 / infer_secs,
    })
}

/// One timed piece of work for the benchmark table.
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    pub data: String,
    pub n: usize,
    pub method: String,
    pub secs: f64,
    pub note: String,
}

/// What `algorithms` runs, named as in `--skip`.
pub const ALGORITHMS: [&str; 7] = ["tsne", "umap", "dbscan", "kmeans", "cw", "match", "graph"];

/// The `bench-cluster` table: [`algorithms`] on 128-d blobs of each size in `sizes`
/// (10 centres), then on the vectors of the run folder `real` when given, skipping the
/// algorithms named in `skip`.
pub fn cluster_timings(sizes: &[usize], real: Option<&std::path::Path>, skip: &[String]) -> Result<Vec<Timing>> {
    if let Some(bad) = skip.iter().find(|s| !ALGORITHMS.contains(&s.as_str())) {
        return Err(Error::Invalid(format!("--skip {bad}: expected some of {}", ALGORITHMS.join(", "))));
    }
    let mut rows = Vec::new();
    for &n in sizes {
        let (x, labels) = crate::synthetic::blobs(n, 128, 10, 1.0, 0);
        rows.extend(algorithms(x.view(), &labels, "blobs", median_knn_radius(x.view()), 10, skip)?);
    }
    if let Some(dir) = real {
        let (x, labels) = crate::output::read_embeddings(dir)?;
        let k = labels.iter().max().map_or(1, |m| m + 1);
        // Our vectors have no fixed scale (dlib's 0.6 rule does not apply): the same
        // data-derived radius `infer` uses.
        let (eps, _) = crate::cluster::auto_eps(x.view(), 5);
        rows.extend(algorithms(x.view(), &labels, &crate::commands::infer::folder_name(dir), eps, k, skip)?);
    }
    Ok(rows)
}

/// `bench-infer`: the checkpoint `model`'s decoding stages on the images of `folder`
/// (one thread) and [`infer_rounds`] of it.
pub fn folder_speed(
    model: &std::path::Path,
    folder: &std::path::Path,
    backend: crate::backend::Backend,
    batch_size: usize,
    rounds: usize,
    reporter: Reporter,
) -> Result<(DecodeStages, InferRounds)> {
    let device = crate::backend::device(backend)?;
    let ck = crate::model::checkpoint::Checkpoint::open(model, reporter)?;
    let net = ck.load_model(&device)?;
    let folder = IdentityFolder::scan(folder)?;
    let stages = decode_stages(&folder.paths, ck.config.image_spec());
    Ok((stages, infer_rounds(&net, &ck.config.model, &folder, &device, batch_size, rounds)?))
}

/// The known / unknown split [`crate::identify::match_split`] makes of `folder` (its
/// images in the order `infer` embeds them), as (file, "gallery" or "query", identity)
/// rows: the gallery's images, then the queries, each in the split's order.
pub fn split_rows(folder: &IdentityFolder) -> Vec<(&Path, &'static str, &str)> {
    let (gallery, queries, _) = crate::identify::match_split(&folder.identity);
    let row = |role: &'static str| move |&r: &usize| (folder.paths[r].as_path(), role, folder.names[folder.identity[r]].as_str());
    gallery.iter().map(row("gallery")).chain(queries.iter().map(row("query"))).collect()
}

/// `facemb bench-split`: scans the identity folder `input` and writes its [`split_rows`]
/// to `out` as CSV (`file,role,identity`), the split `scripts/match_split.sh` and
/// `scripts/peer_match.py` read instead of making their own. Returns the number of
/// gallery and query rows; skipped files are said through `reporter`.
pub fn write_match_split(input: &Path, out: &Path, reporter: Reporter) -> Result<(usize, usize)> {
    let folder = IdentityFolder::scan(input)?;
    report_skipped(&input.display().to_string(), &folder.skipped, reporter);
    let rows = split_rows(&folder);
    let mut csv = Csv::new(["file", "role", "identity"]);
    for (file, role, identity) in &rows {
        csv.row([&*file.to_string_lossy(), *role, *identity]);
    }
    csv.write(out)?;
    let gallery = rows.iter().filter(|r| r.1 == "gallery").count();
    Ok((gallery, rows.len() - gallery))
}

/// Times t-SNE and UMAP (each with the trustworthiness of its layout, k = 10), DBSCAN,
/// k-means, chinese whispers and graph linkage (each with its ARI against `labels`) and `match`'s
/// nearest-person search ([`crate::identify::match_split`]) on `x`, with the
/// parameters `speed.py` gives its peers: DBSCAN min_samples 5 and CW at the same radius.
pub fn algorithms(x: ArrayView2<f32>, labels: &[usize], data: &str, eps: f32, k: usize, skip: &[String]) -> Result<Vec<Timing>> {
    use crate::evaluate::metrics;
    use crate::project::trustworthiness;
    use crate::{cluster, project};
    let trust =
        |y: &Array2<f32>| trustworthiness(x, y.view(), 10).map_or("trustworthiness –".into(), |t| format!("trustworthiness {t:.4}"));
    let n = x.nrows();
    let mut rows = Vec::new();
    let mut row = |method: &str, secs: f64, note: String| {
        rows.push(Timing { data: data.to_string(), n, method: method.to_string(), secs, note });
    };
    let run = |name: &str| !skip.iter().any(|s| s == name);
    let ari = |pred: &[i64]| {
        let (clusters, noise) = metrics::cluster_counts(pred);
        format!("ARI {:.3}, {clusters} clusters, {noise} noise", metrics::adjusted_rand_index(labels, pred))
    };
    if run("tsne") {
        let t = Instant::now();
        let y = project::tsne(x, &project::TsneParams::default())?;
        let secs = t.elapsed().as_secs_f64();
        row("t-SNE", secs, trust(&y));
    }
    if run("umap") {
        let t = Instant::now();
        let y = project::umap(x, &project::UmapParams::default())?;
        let secs = t.elapsed().as_secs_f64();
        row("UMAP", secs, trust(&y));
    }
    if run("dbscan") {
        let t = Instant::now();
        let pred = cluster::dbscan(x, eps, 5)?;
        row("DBSCAN", t.elapsed().as_secs_f64(), format!("eps {eps:.3}, {}", ari(&pred)));
    }
    if run("kmeans") {
        let t = Instant::now();
        let pred = cluster::kmeans(x, k, 0)?;
        row("k-means", t.elapsed().as_secs_f64(), format!("k {k}, {}, default restarts", ari(&pred)));
        let t = Instant::now();
        let pred = cluster::kmeans_restarts(x, k, 0, 1)?;
        row("k-means, 1 run", t.elapsed().as_secs_f64(), format!("k {k}, {}, like sklearn n_init=auto", ari(&pred)));
    }
    if run("cw") {
        let t = Instant::now();
        let pred = cluster::chinese_whispers(x, eps, 0)?;
        row("chinese whispers", t.elapsed().as_secs_f64(), format!("threshold {eps:.3}, {}", ari(&pred)));
    }
    if run("graph") {
        // The automatic grouping as `infer` runs it on uncalibrated vectors (its cut and fill
        // from the data's own 90th-percentile distance).
        let t = Instant::now();
        let (pred, how) = cluster::run(cluster::Method::AUTOMATIC, x, &cluster::Params::default(), k)?;
        row("graph linkage (automatic)", t.elapsed().as_secs_f64(), format!("{}; {how}", ari(&pred)));
    }
    if run("match") {
        use crate::identify::{Params, Vote, candidates, outcome};
        let (gallery, queries, truth) = crate::identify::match_split(labels);
        let (g, q) = (x.select(ndarray::Axis(0), &gallery), x.select(ndarray::Axis(0), &queries));
        let person: Vec<usize> = gallery.iter().map(|&r| labels[r]).collect();
        let t = Instant::now();
        let c = candidates(q.view(), g.view(), &person, Params::new(1, Vote::Majority)?)?;
        let secs = t.elapsed().as_secs_f64();
        let o = outcome(&c, &truth, f32::INFINITY);
        row(
            "match, 1-NN against a gallery",
            secs,
            format!("{} gallery, {} queries, known named {:.3} with no tolerance", gallery.len(), queries.len(), o.known_accuracy),
        );
    }
    Ok(rows)
}

/// The DBSCAN radius `speed.py` uses on blobs: the median distance to the 4th nearest
/// other point (sklearn's 5-NN query counts the point itself).
pub fn median_knn_radius(x: ArrayView2<f32>) -> f32 {
    let (_, dist) = crate::neighbors::knn(x, 4);
    let mut last: Vec<f32> = dist.iter().filter_map(|d| d.last().copied()).collect();
    last.sort_by(f32::total_cmp);
    last.get(last.len() / 2).copied().unwrap_or(0.0)
}

/// Per-image cost of each stage of `image::decode::load_image` on one thread (milliseconds).
#[derive(Debug, Clone, Default, Serialize)]
pub struct DecodeStages {
    pub images: usize,
    pub read_ms: f64,
    pub decode_ms: f64,
    pub resize_ms: f64,
    pub to_float_ms: f64,
}

impl DecodeStages {
    pub fn total_ms(&self) -> f64 {
        self.read_ms + self.decode_ms + self.resize_ms + self.to_float_ms
    }
}

/// Times each stage of decoding `paths` on the calling thread: the profile that says
/// whether the decoder, the resize or the file system is what `infer` waits on.
pub fn decode_stages(paths: &[std::path::PathBuf], spec: ImageSpec) -> DecodeStages {
    let mut s = DecodeStages::default();
    let mut scratch = crate::image::decode::Scratch::default();
    let mut out = vec![0.0; spec.len()];
    let lap = |t: &mut Instant| {
        let ms = t.elapsed().as_secs_f64() * 1e3;
        *t = Instant::now();
        ms
    };
    for p in paths {
        let mut t = Instant::now();
        if scratch.read(p).is_err() {
            continue;
        }
        let read = lap(&mut t);
        if scratch.decode(spec.channels).is_err() {
            continue;
        }
        let decode = lap(&mut t);
        if scratch.resize(spec.size as u32).is_err() {
            continue;
        }
        let resize = lap(&mut t);
        scratch.write_chw(&mut out);
        s.to_float_ms += lap(&mut t);
        s.read_ms += read;
        s.decode_ms += decode;
        s.resize_ms += resize;
        s.images += 1;
    }
    let n = s.images.max(1) as f64;
    for v in [&mut s.read_ms, &mut s.decode_ms, &mut s.resize_ms, &mut s.to_float_ms] {
        *v /= n;
    }
    s
}

/// Images per second of each round of the interleaved end-to-end benchmark.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InferRounds {
    pub images: usize,
    /// The network alone on the folder's own pixels, decoded beforehand.
    pub network_only: Vec<f64>,
    /// `embed::embed_folder`, what `infer` runs: decoding overlapped with the network.
    pub end_to_end: Vec<f64>,
    /// Decoding alone, batch by batch on every core.
    pub decode_only: Vec<f64>,
    /// Mean number of cores busy (process CPU time ÷ wall time) in the network-only and
    /// end-to-end passes; None where /proc is not readable.
    pub cores_network: Option<f64>,
    pub cores_end_to_end: Option<f64>,
}

/// CPU seconds used so far by this process, all threads (Linux: /proc/self/stat, in
/// USER_HZ = 100 ticks per second, the value on every Linux ABI facemb builds for).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Median of `v` (NaN when empty).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => 0.5 * (s[n / 2 - 1] + s[n / 2]),
    }
}

/// Network-only, end-to-end and decode-only passes over `folder`, interleaved `rounds`
/// times after one untimed pass of each, so that a slow spell of a shared machine hits
/// all three alike and the medians compare like with like.
pub fn infer_rounds(
    model: &FaceNet,
    config: &ModelConfig,
    folder: &IdentityFolder,
    device: &Device,
    batch: usize,
    rounds: usize,
) -> Result<InferRounds> {
    use crate::embed::{Readout, embed_batch, embed_folder};
    use crate::image::prefetch::decode_all;
    let batch = batch.max(1);
    let spec = config.image_spec();
    let (pixels, kept, _) = decode_all(&folder.paths, spec);
    let n = kept.len();
    if n == 0 {
        return Err(Error::Data { path: folder.root.clone(), reason: "none of the images could be read".into() });
    }
    let network = || -> Result<f64> {
        let t = Instant::now();
        for chunk in pixels.chunks(batch * spec.len()) {
            embed_batch(model, spec, Readout::default(), device, chunk.to_vec(), chunk.len() / spec.len())?;
        }
        Ok(n as f64 / t.elapsed().as_secs_f64())
    };
    let end_to_end = || -> Result<f64> {
        let t = Instant::now();
        let e = embed_folder(model, config, Readout::default(), folder, device, batch, false)?;
        Ok(e.paths.len() as f64 / t.elapsed().as_secs_f64())
    };
    let decode = || {
        let t = Instant::now();
        let mut decoded = 0;
        for chunk in folder.paths.chunks(batch) {
            decoded += decode_all(chunk, spec).1.len();
        }
        decoded as f64 / t.elapsed().as_secs_f64()
    };
    let mut r = InferRounds { images: n, ..Default::default() };
    network()?;
    end_to_end()?;
    decode();
    let (mut busy_net, mut busy_e2e, mut secs_net, mut secs_e2e) = (Some(0.0), Some(0.0), 0.0, 0.0);
    let add = |acc: &mut Option<f64>, before: Option<f64>| *acc = acc.zip(before.zip(cpu_seconds())).map(|(a, (b, c))| a + c - b);
    for _ in 0..rounds.max(1) {
        let cpu = cpu_seconds();
        let rate = network()?;
        add(&mut busy_net, cpu);
        secs_net += n as f64 / rate;
        r.network_only.push(rate);
        let cpu = cpu_seconds();
        let rate = end_to_end()?;
        add(&mut busy_e2e, cpu);
        secs_e2e += n as f64 / rate;
        r.end_to_end.push(rate);
        r.decode_only.push(decode());
    }
    r.cores_network = busy_net.map(|c| c / secs_net);
    r.cores_end_to_end = busy_e2e.map(|c| c / secs_e2e);
    Ok(r)
}
