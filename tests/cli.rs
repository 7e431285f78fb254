//! End-to-end runs of the `facemb` binary on small real data: train → infer → pixels,
//! and the error paths a user hits (wrong -e, missing checkpoint, empty folder).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod faults;
mod photos;

fn facemb(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_facemb")).args(args).current_dir(cwd).output().expect("facemb runs")
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir` (relative path → bytes): "byte-identical" compares these.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A small clustering folder: the first `ids` AT&T identities, copied.
fn att_subset(dst: &Path, ids: usize) -> PathBuf {
    let root = dst.join("att_small");
    for i in 1..=ids {
        let name = format!("s{i:02}");
        let to = root.join(&name);
        std::fs::create_dir_all(&to).unwrap();
        for f in std::fs::read_dir(repo().join("datasets/att_faces").join(&name)).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
        }
    }
    root
}

#[test]
fn train_infer_and_pixels_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // Paths in configs are relative to where facemb runs (the repo root): link them.
    std::os::unix::fs::symlink(repo().join("datasets"), t.join("datasets")).unwrap();
    std::os::unix::fs::symlink(repo().join("configs"), t.join("configs")).unwrap();
    let o = facemb(
        &[
            "train",
            "--config",
            "configs/default.toml",
            "--epochs",
            "1",
            "--max-per-class",
            "40",
            "--embedding-size",
            "24",
            "--name",
            "tiny",
            "--out",
            "ck",
            "--quiet",
        ],
        t,
    );
    assert!(o.status.success(), "train failed: {}", text(&o));
    let ck = t.join("ck/tiny");
    for f in ["model.bpk", "config.json", "metrics.json"] {
        assert!(ck.join(f).is_file(), "{f} missing from checkpoint");
    }
    let metrics: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(ck.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["epochs"].as_array().unwrap().len(), 1);
    assert_eq!(metrics["train_images"].as_u64().unwrap() + metrics["val_images"].as_u64().unwrap(), 80);

    let folder = att_subset(t, 4);
    // The Python tool's spelling: -id, -m, -e, -os, -ou.
    let o = facemb(
        &[
            "infer",
            "-id",
            folder.to_str().unwrap(),
            "-m",
            "ck/tiny/model.bpk",
            "-e",
            "24",
            "-os",
            "ts",
            "-ou",
            "um",
            "--out",
            "inf",
            "--quiet",
        ],
        t,
    );
    assert!(o.status.success(), "infer failed: {}", text(&o));
    let out = t.join("inf");
    for f in ["embeddings.npy", "index.csv", "clusters.csv", "scores.json", "ts_24.png", "um_24.png"] {
        assert!(out.join(f).is_file(), "{f} missing: {}", text(&o));
    }
    // .npy: magic, header, then 40 × 24 little-endian f32.
    let npy = std::fs::read(out.join("embeddings.npy")).unwrap();
    assert_eq!(&npy[..6], b"\x93NUMPY");
    let header_len = u16::from_le_bytes([npy[8], npy[9]]) as usize;
    let header = String::from_utf8_lossy(&npy[10..10 + header_len]);
    assert!(header.contains("(40, 24)") && header.contains("<f4"), "header {header}");
    assert_eq!(npy.len() - 10 - header_len, 40 * 24 * 4);
    let index = std::fs::read_to_string(out.join("index.csv")).unwrap();
    assert_eq!(index.lines().count(), 41);
    assert!(index.lines().nth(1).unwrap().contains(",s01,"));
    let scores: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("scores.json")).unwrap()).unwrap();
    assert_eq!(scores["images"], 40);
    assert_eq!(scores["identities"], 4);
    assert_eq!(scores["methods"].as_array().unwrap().len(), 6, "dbscan, kmeans, chinese whispers, average linkage, FINCH, graph linkage");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("ARI") && stdout.contains("chinese_whispers"), "table missing: {stdout}");

    // -e that disagrees with the checkpoint: one clear line, non-zero exit.
    let o = facemb(&["infer", "-id", folder.to_str().unwrap(), "-m", "ck/tiny", "-e", "128", "--quiet"], t);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("does not match") && err.contains("24") && !err.contains("panicked"), "{err}");

    // Pixel baseline through the same evaluation: E = S².
    let o = facemb(&["pixels", "-id", folder.to_str().unwrap(), "-is", "16", "--out", "pix", "--quiet"], t);
    assert!(o.status.success(), "pixels failed: {}", text(&o));
    assert!(t.join("pix/tsne_256.png").is_file() && t.join("pix/umap_256.png").is_file());
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(t.join("pix/scores.json")).unwrap()).unwrap();
    assert_eq!(s["dim"], 256);
    // Four AT&T people are easy for pixels: nearest neighbours nearly always match.
    assert!(s["one_nn_accuracy"].as_f64().unwrap() > 0.9, "{s}");

    // The end-to-end speed benchmark on the same folder: every line, on all 40 images.
    let o = facemb(&["bench-infer", "--folder", folder.to_str().unwrap(), "-m", "ck/tiny", "--rounds", "1", "--batch-size", "16"], t);
    assert!(o.status.success(), "bench-infer failed: {}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    for line in ["decode stages, 1 thread, 40 images", "network only", "decoding only", "end to end (", "40 images)"] {
        assert!(stdout.contains(line), "{line:?} missing: {stdout}");
    }
}

#[test]
fn user_errors_are_one_line_and_non_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let o = facemb(&["infer", "-id", "nowhere", "-m", "no/such/checkpoint"], t);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with("error: ") && err.contains("no/such/checkpoint") && !err.contains("panicked"), "{err}");

    std::fs::create_dir(t.join("empty")).unwrap();
    let o = facemb(&["pixels", "-id", "empty"], t);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("empty") && err.contains("no images found"), "{err}");

    let o = facemb(&["train", "--config", "missing.toml"], t);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.toml"));

    // A destination that cannot hold a checkpoint is refused before any data is read (the
    // missing --data would be the error otherwise), not after an hour of training.
    std::fs::write(t.join("afile"), "x").unwrap();
    let cfg = repo().join("configs/default.toml");
    let o = facemb(&["train", "--config", cfg.to_str().unwrap(), "--data", "nowhere", "--out", "afile"], t);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("afile") && !err.contains("nowhere"), "{err}");
    assert_eq!(std::fs::read_to_string(t.join("afile")).unwrap(), "x");
    let o = facemb(&["pixels", "-id", "empty", "-is", "4096"], t);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--image-size must be in 1..=1024"));

    let o = facemb(&["--help"], t);
    assert!(o.status.success());
    for cmd in ["train", "infer", "pixels"] {
        assert!(String::from_utf8_lossy(&o.stdout).contains(cmd));
    }
}

#[test]
fn experiment_runs_end_to_end_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let cfg = repo().join("configs/experiments/smoke.toml");
    let toml = std::fs::read_to_string(&cfg).unwrap();
    let folder = att_subset(t, 5);
    // Paths in the file are relative to where facemb runs; point them at the repo.
    let toml = toml
        .replace("\"datasets/att_faces\"", &format!("{:?}", folder.to_str().unwrap()))
        .replace("max_per_class = 60", "max_per_class = 30");
    std::fs::write(t.join("smoke.toml"), toml).unwrap();
    // Paths in the files are relative to where facemb runs (the repo root): link what they name.
    std::os::unix::fs::symlink(repo().join("datasets"), t.join("datasets")).unwrap();
    std::os::unix::fs::symlink(repo().join("configs"), t.join("configs")).unwrap();
    let o = facemb(&["experiment", "smoke.toml", "--out", "res", "--checkpoints", "ck", "--quiet"], t);
    assert!(o.status.success(), "experiment failed: {}", text(&o));
    for f in ["results.csv", "results.md", "ari_kmeans.png", "ari_chinese_whispers.png", "one_nn.png", "umap_grid_att_small.png"] {
        assert!(t.join("res").join(f).is_file(), "{f} missing");
    }
    let csv = std::fs::read_to_string(t.join("res/results.csv")).unwrap();
    // 2 sizes × 2 seeds × 2 methods + 1 pixel size × 2 methods, plus the header.
    assert_eq!(csv.lines().count(), 1 + 8 + 2, "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("pixels,16,,att_small,kmeans,")));
    let md = std::fs::read_to_string(t.join("res/results.md")).unwrap();
    assert!(md.contains("| E = 8 |") && md.contains("| E = 32 |") && md.contains("pixels 16×16") && md.contains(" ± "), "{md}");
    let first = std::fs::metadata(t.join("ck/e8-s1/model.bpk")).unwrap().modified().unwrap();

    // Again: every run's scores are reused from res/runs/, nothing retrained, same table.
    let o = facemb(&["experiment", "smoke.toml", "--out", "res", "--checkpoints", "ck"], t);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(text(&o).matches("scores of an earlier run reused").count(), 4, "{}", text(&o));
    assert_eq!(std::fs::metadata(t.join("ck/e8-s1/model.bpk")).unwrap().modified().unwrap(), first);
    // (The pixel rows are recomputed: their img/s column is a fresh timing.)
    let cnn_rows = |c: &str| c.lines().filter(|l| l.starts_with("cnn,")).map(String::from).collect::<Vec<_>>();
    assert_eq!(cnn_rows(&std::fs::read_to_string(t.join("res/results.csv")).unwrap()), cnn_rows(&csv));

    // Without its scores a run is evaluated again from its checkpoint, not retrained.
    std::fs::remove_file(t.join("res/runs/e8-s1.json")).unwrap();
    let o = facemb(&["experiment", "smoke.toml", "--out", "res", "--checkpoints", "ck"], t);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(text(&o).matches("(reused checkpoint)").count(), 1, "{}", text(&o));
    assert_eq!(text(&o).matches("scores of an earlier run reused").count(), 3, "{}", text(&o));
    assert_eq!(std::fs::metadata(t.join("ck/e8-s1/model.bpk")).unwrap().modified().unwrap(), first);

    // Without the checkpoints (a results folder carried to another machine) the scores alone
    // finish the table; a changed evaluation (another folder) would not reuse them.
    std::fs::remove_dir_all(t.join("ck")).unwrap();
    let o = facemb(&["experiment", "smoke.toml", "--out", "res", "--checkpoints", "ck", "--quiet"], t);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!t.join("ck/e8-s1").exists(), "a run was retrained although its scores were kept");
    assert_eq!(std::fs::read_to_string(t.join("res/results.csv")).unwrap().lines().count(), 1 + 8 + 2);
    assert!(t.join("res/umap_grid_att_small.png").is_file());
}

#[test]
fn a_folder_too_small_to_chart_still_gets_vectors_and_scores() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let person = t.join("tiny/alice");
    std::fs::create_dir_all(&person).unwrap();
    for i in 1..=3 {
        std::fs::copy(repo().join(format!("datasets/att_faces/s01/{i:02}.png")), person.join(format!("{i}.png"))).unwrap();
    }
    let o = facemb(&["pixels", "-id", "tiny", "-is", "8", "--out", "o", "--quiet"], t);
    assert!(o.status.success(), "{}", text(&o));
    assert!(t.join("o/scores.json").is_file() && t.join("o/embeddings.npy").is_file());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no t-SNE chart") && err.contains("at least 4"), "{err}");
}

/// Every field of `want` (recursively) is in `got` with the same value; fields `got` has
/// beyond those (added by later work) are not compared.
fn assert_json_subset(want: &serde_json::Value, got: &serde_json::Value, at: &str) {
    match (want, got) {
        (serde_json::Value::Object(w), serde_json::Value::Object(g)) => {
            for (k, v) in w {
                let g = g.get(k).unwrap_or_else(|| panic!("{at}.{k} missing"));
                assert_json_subset(v, g, &format!("{at}.{k}"));
            }
        }
        (serde_json::Value::Array(w), serde_json::Value::Array(g)) => {
            assert_eq!(w.len(), g.len(), "{at}: length");
            for (i, (w, g)) in w.iter().zip(g).enumerate() {
                assert_json_subset(w, g, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(want, got, "{at}"),
    }
}

/// The values of a little-endian f32 `.npy` file (after its header).
fn npy_values(bytes: &[u8]) -> Vec<f32> {
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    bytes[10 + header_len..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// Pins behaviour across refactors: the committed tiny checkpoint (tests/fixtures/pin/,
/// trained by `tests/fixtures/record_pin.sh` with the code before the restructure) and the
/// pixel baseline turn the committed AT&T folder into the recorded vectors, index,
/// cluster labels and scores, bit for bit. On a CPU other than the recording one (gemm
/// picks AVX-512 or FMA kernels at run time, whose sums round differently) the vectors
/// are held to 1e-4 and the rest is not compared.
#[test]
fn the_pinned_checkpoint_gives_the_recorded_vectors_clusters_and_scores() {
    let tmp = tempfile::tempdir().unwrap();
    let expected = repo().join("tests/fixtures/pin_expected");
    let recorded_on_avx512 = std::fs::read_to_string(expected.join("cpu.txt")).unwrap().trim() == "avx512f";
    #[cfg(target_arch = "x86_64")]
    let here_avx512 = std::arch::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    let here_avx512 = false;
    let exact = recorded_on_avx512 == here_avx512;
    for (run, args) in [
        ("infer", vec!["infer", "-id", "datasets/att_faces", "-m", "tests/fixtures/pin"]),
        ("pixels", vec!["pixels", "-id", "datasets/att_faces", "-is", "8"]),
    ] {
        let out = tmp.path().join(run);
        let mut args = args.clone();
        args.extend(["--out", out.to_str().unwrap(), "--no-charts", "--quiet"]);
        let o = facemb(&args, &repo());
        assert!(o.status.success(), "{run}: {}", text(&o));
        let read = |dir: &Path, f: &str| std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{run}/{f}: {e}"));
        let (want, got) = (read(&expected.join(run), "embeddings.npy"), read(&out, "embeddings.npy"));
        if exact {
            assert!(want == got, "{run}: embeddings.npy differs from the recorded one");
            for f in ["index.csv", "clusters.csv"] {
                assert_eq!(
                    String::from_utf8(read(&expected.join(run), f)).unwrap(),
                    String::from_utf8(read(&out, f)).unwrap(),
                    "{run}/{f}"
                );
            }
            let json = |dir: &Path| serde_json::from_slice::<serde_json::Value>(&read(dir, "scores.json")).unwrap();
            assert_json_subset(&json(&expected.join(run)), &json(&out), run);
        } else {
            eprintln!("{run}: recorded on another CPU kind: vectors compared to 1e-4 only");
            let (w, g) = (npy_values(&want), npy_values(&got));
            assert_eq!(w.len(), g.len(), "{run}");
            let worst = w.iter().zip(&g).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(worst < 1e-4, "{run}: vectors differ by {worst}");
        }
    }
}

#[test]
fn an_identity_model_is_calibrated_on_held_out_people_and_infer_uses_its_cuts() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    std::os::unix::fs::symlink(repo().join("datasets"), t.join("datasets")).unwrap();
    let cfg = t.join("id.toml");
    std::fs::write(
        &cfg,
        r#"name = "id"
data = "datasets/face_nonface"
[model]
channels = [8, 16]
embedding_size = 16
image_size = 32
in_channels = 1
conv_norm = true
embedding_norm = true
[training]
epochs = 1
batch_size = 16
learning_rate = 0.001
val_fraction = 0.2
augment_flip = true
seed = 1
max_per_class = 40
lr_schedule = "cosine"
[identity]
loss = "cosface"
data = "datasets/lfw_train_identities"
weight = 1.0
holdout = 30
"#,
    )
    .unwrap();
    let o = facemb(&["train", "-c", cfg.to_str().unwrap(), "--out", "ck", "--quiet"], t);
    assert!(o.status.success(), "train: {}", text(&o));
    assert!(text(&o).contains("calibrated on 30 held-out people"), "{}", text(&o));
    let ck = t.join("ck/id");
    let cal: serde_json::Value = serde_json::from_slice(&std::fs::read(ck.join("calibration.json")).unwrap()).unwrap();
    assert_eq!((cal["people"].as_u64(), cal["layer"].as_str(), cal["flip"].as_bool()), (Some(30), Some("linear"), Some(true)));
    let metrics: serde_json::Value = serde_json::from_slice(&std::fs::read(ck.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["held_out"].as_array().map(Vec::len), Some(30));

    // infer reads an identity model before its ReLU, flip-averaged and normalised, and
    // clusters with the calibrated cuts unless told otherwise.
    let att = att_subset(t, 4);
    let run = |extra: &[&str]| {
        let mut args = vec!["infer", "-id", att.to_str().unwrap(), "-m", "ck/id", "--out", "out", "--no-charts", "--quiet"];
        args.extend(extra);
        let o = facemb(&args, t);
        assert!(o.status.success(), "infer {extra:?}: {}", text(&o));
        serde_json::from_slice::<serde_json::Value>(&std::fs::read(t.join("out/scores.json")).unwrap()).unwrap()
    };
    let s = run(&[]);
    assert_eq!(s["normalized"], serde_json::json!(true));
    let params = |s: &serde_json::Value, m: &str| {
        s["methods"].as_array().unwrap().iter().find(|x| x["method"] == m).unwrap()["params"].as_str().unwrap().to_string()
    };
    let cut = cal["linkage_threshold"].as_f64().unwrap() as f32;
    assert!(
        params(&s, "average_linkage").contains(&format!("(calibrated {cut} × this folder's 10th-percentile distance")),
        "{}",
        params(&s, "average_linkage")
    );
    assert!(params(&s, "chinese_whispers").contains("calibrated"));
    assert!(params(&s, "average_linkage").contains("30 held-out"));
    // Raw vectors are not what the cuts were measured on: the folder's own defaults apply.
    let s = run(&["--raw"]);
    assert_eq!(s["normalized"], serde_json::json!(false));
    assert!(!params(&s, "chinese_whispers").contains("calibrated"));
    let s = run(&["--link-threshold", "0.5"]);
    assert_eq!(params(&s, "average_linkage"), "threshold = 0.5 (given)");
    // Whitened vectors take the held-out people's whitening and the folder's own cuts.
    let s = run(&["--whiten"]);
    assert_eq!(
        (&s["normalized"], s["source"].as_str().unwrap().ends_with(", whitened")),
        (&serde_json::json!(true), true),
        "{}",
        s["source"]
    );
    assert!(!params(&s, "average_linkage").contains("held-out"), "{}", params(&s, "average_linkage"));
    assert_eq!(cal["whitening"]["axes"].as_array().map(Vec::len), Some(16));
    let refused = |extra: &[&str], why: &str| {
        let mut args = vec!["infer", "-id", att.to_str().unwrap(), "-m", "ck/id", "--out", "out2", "--no-charts", "--quiet", "--whiten"];
        args.extend(extra);
        let o = facemb(&args, t);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(!o.status.success() && err.lines().count() == 1, "{extra:?}: {}", text(&o));
        assert!(err.contains("calibration.json") && err.contains(why), "{extra:?}: {err}");
    };
    refused(&["--raw"], "L2-normalised");
    // A calibration from before --whiten existed says how to add one.
    let mut old = cal.clone();
    old.as_object_mut().unwrap().remove("whitening");
    std::fs::write(ck.join("calibration.json"), serde_json::to_vec(&old).unwrap()).unwrap();
    refused(&[], "facemb calibrate -m");

    // A checkpoint without held-out people cannot be calibrated: one line naming the file.
    let o = facemb(&["calibrate", "-m", repo().join("tests/fixtures/pin").to_str().unwrap()], t);
    assert!(!o.status.success());
    assert!(text(&o).contains("metrics.json") && text(&o).contains("no held-out people"), "{}", text(&o));
}

/// A regression guard on the committed identity model and k-means, not a target: the floors
/// sit below what they measured on this folder (identity-v6: 1-NN 0.998, k-means ARI 0.876,
/// average linkage 0.873 with 46 clusters for 40 people; docs/identity/README.md). On
/// identity-v5's vectors plain k-means++ seeding reached 0.748, below the k-means floor.
/// Run from a folder that is not the repository, with an empty cache: the ready model is
/// the one compiled in, unpacked byte for byte.
#[test]
fn the_ready_model_is_the_default_and_tells_the_att_people_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, cache) = (tmp.path().join("att"), tmp.path().join("cache"));
    let att = repo().join("datasets/att_faces");
    let o = Command::new(env!("CARGO_BIN_EXE_facemb"))
        .args(["infer", att.to_str().unwrap(), "--out", out.to_str().unwrap(), "--no-charts"])
        .current_dir(tmp.path())
        .env("XDG_CACHE_HOME", &cache)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("scores.json")).unwrap()).unwrap();
    let source = s["source"].as_str().unwrap();
    assert!(source.contains("identity-v6") && source.contains(cache.to_str().unwrap()), "{source}");
    let unpacked = Path::new(source.strip_prefix("cnn ").unwrap());
    assert!(text(&o).contains(&format!("the ready identity-v6 unpacked to {}", unpacked.display())), "{}", text(&o));
    for f in ["config.json", "calibration.json", "metrics.json", "model.bpk"] {
        assert!(std::fs::read(unpacked.join(f)).unwrap() == std::fs::read(repo().join("checkpoints/identity-v6").join(f)).unwrap(), "{f}");
    }
    assert!(s["one_nn_accuracy"].as_f64().unwrap() > 0.95, "{}", s["one_nn_accuracy"]);
    let method = |m: &str| s["methods"].as_array().unwrap().iter().find(|x| x["method"] == m).unwrap().clone();
    assert!(method("kmeans")["ari"].as_f64().unwrap() > 0.8, "{}", method("kmeans"));
    let link = method("average_linkage");
    assert!(link["ari"].as_f64().unwrap() > 0.55, "{link}");
    assert!(link["params"].as_str().unwrap().contains("calibrated"), "{link}");
    assert!((20..=80).contains(&link["clusters"].as_u64().unwrap()), "{link}");
    // The automatic grouping reads the calibration's graph reference (identity-v6 measured
    // ARI 0.948 with 36 clusters on the full AT&T folder; this is its 40-person sample).
    let graph = method("graph_linkage");
    assert!(graph["ari"].as_f64().unwrap() > 0.7, "{graph}");
    assert!(graph["params"].as_str().unwrap().contains("calibrated 1.26 × this folder's 90th-percentile distance"), "{graph}");
}

#[test]
fn bench_albums_scores_seeded_albums_of_the_att_sample_with_both_rules() {
    let run = |extra: &[&str]| {
        let mut args = vec!["bench-albums", "-id", "datasets/att_faces", "--albums", "12", "--quiet"];
        args.extend(extra);
        let o = facemb(&args, &repo());
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let out = run(&[]);
    assert!(out.contains("400 images of 40 people; 12 albums"), "{out}");
    let row = |m: &str| -> Vec<f64> {
        let line = out.lines().find(|l| l.starts_with(m)).unwrap_or_else(|| panic!("no {m} row: {out}"));
        line.split_whitespace().skip(1).map(|v| v.trim_end_matches('%').parse().unwrap()).collect()
    };
    // mean ARI, share ≥ 0.9 (%), clusters per person, folder ARI, folder clusters.
    let (graph, full) = (row("graph_linkage"), row("average_linkage"));
    assert_eq!((graph.len(), full.len()), (5, 5), "{out}");
    for r in [&graph, &full] {
        assert!((-1.0..=1.0).contains(&r[0]) && (0.0..=100.0).contains(&r[1]) && r[2] > 0.0, "{out}");
    }
    // The ready model tells AT&T people apart: the automatic grouping's albums and folder
    // are far from chance (the Python prototype measured 0.766 and 0.948 on the full set).
    assert!(graph[0] > 0.5 && graph[3] > 0.7, "{out}");
    assert_eq!(run(&[]), out, "the draw is seeded");
    assert_ne!(run(&["--seed", "1"]), out);
}

#[test]
fn clusters_are_kept_as_folders_without_touching_the_originals() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let input = att_subset(t, 3);
    let before: Vec<(PathBuf, Vec<u8>)> =
        std::fs::read_dir(input.join("s01")).unwrap().map(|e| e.unwrap().path()).map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect();
    let run = |extra: &[&str]| {
        let mut args =
            vec!["pixels", "-id", input.to_str().unwrap(), "-is", "8", "--no-charts", "--quiet", "--out", "o", "--save-clusters", "kept"];
        args.extend_from_slice(extra);
        facemb(&args, t)
    };
    let o = run(&[]);
    assert!(o.status.success(), "{}", text(&o));
    let kept = t.join("kept");
    let csv = std::fs::read_to_string(kept.join("clusters.csv")).unwrap();
    let rows: Vec<Vec<String>> = csv.lines().skip(1).map(|l| l.split(',').map(String::from).collect()).collect();
    assert_eq!(rows.len(), 30);
    assert!(rows.iter().all(|r| r[2] == "graph_linkage"), "the automatic grouping is what is kept");
    // Every image is in the one folder of its cluster, under its identity-prefixed name;
    // the folders are person_001, person_002 … largest first, each with the name most of
    // its faces carry, and noise.
    let mut folder_of: BTreeMap<&str, &str> = BTreeMap::new();
    let mut size: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &rows {
        let (folder, file) = r[4].split_once('/').unwrap();
        assert_eq!(*folder_of.entry(&r[3]).or_insert(folder), folder, "{r:?}");
        *size.entry(folder).or_default() += 1;
        assert!(file.starts_with(&format!("{}_", r[1])), "{r:?}");
        assert_eq!(std::fs::read(kept.join(&r[4])).unwrap(), std::fs::read(&r[0]).unwrap());
    }
    let people: Vec<(&str, usize)> = size.iter().filter(|(f, _)| **f != "noise").map(|(f, n)| (*f, *n)).collect();
    for (i, (folder, _)) in people.iter().enumerate() {
        let (number, who) = folder.strip_prefix("person_").unwrap().split_once('_').unwrap();
        assert_eq!(number, format!("{:03}", i + 1));
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        for r in rows.iter().filter(|r| r[4].starts_with(&format!("{folder}/"))) {
            *names.entry(&r[1]).or_default() += 1;
        }
        assert!(names.values().all(|&n| n <= names[who]), "{folder}: {names:?}");
    }
    assert!(people.windows(2).all(|w| w[0].1 >= w[1].1), "largest first: {people:?}");
    for (p, bytes) in &before {
        assert_eq!(&std::fs::read(p).unwrap(), bytes, "original changed: {}", p.display());
    }
    // --montage: one picture per kept cluster (noise included), each a readable PNG.
    let o = facemb(&["pixels", "-id", input.to_str().unwrap(), "-is", "8", "--no-charts", "--quiet", "--out", "m", "--montage"], t);
    assert!(o.status.success(), "{}", text(&o));
    let clusters: std::collections::BTreeSet<&str> = rows.iter().map(|r| r[3].as_str()).collect();
    let pictures: Vec<PathBuf> = std::fs::read_dir(t.join("m/montages")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(pictures.len(), clusters.len());
    // Named as the kept folders are (the same clustering, seed and folder).
    for folder in folder_of.values() {
        let name = format!("{folder}.png");
        let img = image::open(t.join("m/montages").join(&name)).unwrap();
        assert!(img.width() > 400 && img.height() > 150, "{name}");
    }
    // A non-empty folder is not overwritten without --force; --link hard-links.
    let o = run(&[]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--force"), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("error: --save-clusters kept: is not empty"), "{}", text(&o));
    let o = run(&["--force", "--link"]);
    assert!(o.status.success(), "{}", text(&o));
    let first = &std::fs::read_to_string(kept.join("clusters.csv"))
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .map(String::from)
        .collect::<Vec<_>>();
    assert_eq!(std::fs::metadata(kept.join(&first[4])).unwrap().ino(), std::fs::metadata(&first[0]).unwrap().ino());
}

#[test]
fn a_flat_or_unlabelled_folder_is_clustered_with_the_label_scores_left_out() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let nested = att_subset(t, 3);
    let flat = t.join("photos");
    std::fs::create_dir(&flat).unwrap();
    for p in ["s01", "s02", "s03"] {
        for i in ["01", "02", "03", "04"] {
            std::fs::copy(nested.join(p).join(format!("{i}.png")), flat.join(format!("{p}_{i}.png"))).unwrap();
        }
    }
    for (input, extra, images) in [(&flat, None, 12), (&nested, Some("--unlabelled"), 30)] {
        let out = t.join(format!("o{images}"));
        let mut args = vec!["pixels", "-id", input.to_str().unwrap(), "-is", "8", "--no-charts", "--out", out.to_str().unwrap()];
        args.extend(extra);
        let o = facemb(&args, t);
        assert!(o.status.success(), "{}", text(&o));
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(stdout.contains(&format!("{images} images, unlabelled")) && stdout.contains("unlabelled folder:"), "{stdout}");
        let scores: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("scores.json")).unwrap()).unwrap();
        assert!(scores["one_nn_accuracy"].is_null());
        let methods = scores["methods"].as_array().unwrap();
        assert!(methods.iter().all(|m| m["ari"].is_null() && m["method"] != "kmeans"), "k-means needs --k here");
        assert!(
            methods.iter().any(|m| m["method"] == "average_linkage" && m["clusters"].as_u64().unwrap() > 1 && m["silhouette"].is_number())
        );
        assert!(methods.iter().any(|m| m["method"] == "graph_linkage" && m["clusters"].as_u64().unwrap() > 1));
        assert_eq!(std::fs::read_to_string(out.join("index.csv")).unwrap().lines().count(), images + 1);
    }
}

/// AT&T split as `scripts/match_split.sh` does it: s01–s20 known (images 1–9 in the
/// gallery, image 10 a query), s21–s40 unknown (every image a query).
fn att_match_split(dst: &Path) -> (PathBuf, PathBuf) {
    let (gallery, queries) = (dst.join("gallery"), dst.join("queries"));
    for i in 1..=40 {
        let name = format!("s{i:02}");
        for f in std::fs::read_dir(repo().join("datasets/att_faces").join(&name)).unwrap() {
            let f = f.unwrap().path();
            let last = f.file_stem().unwrap() == "10";
            let to = if i <= 20 && !last { gallery.join(&name) } else { queries.join(&name) };
            std::fs::create_dir_all(&to).unwrap();
            std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
        }
    }
    (gallery, queries)
}

/// `bench-split`'s CSV is the split the scripts use (`scripts/match_split.sh` puts its
/// files in place): on AT&T it is [`att_match_split`]'s, and `match` run on folders made
/// from it sees 20 known people, 180 gallery faces and 220 queries.
#[test]
fn the_bench_split_csv_is_the_split_match_is_run_on() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let csv = t.join("split.csv");
    let o = facemb(&["bench-split", "-id", "datasets/att_faces", "--out", csv.to_str().unwrap()], &repo());
    assert!(o.status.success(), "{}", text(&o));
    let mut reader = csv::Reader::from_path(&csv).unwrap();
    assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), ["file", "role", "identity"]);
    let rows: Vec<Vec<String>> = reader.records().map(|r| r.unwrap().iter().map(String::from).collect()).collect();
    // The folders the CSV describes, as match_split.sh makes them.
    let made = t.join("made");
    for r in &rows {
        let to = made.join(if r[1] == "gallery" { "gallery" } else { "queries" }).join(&r[2]);
        std::fs::create_dir_all(&to).unwrap();
        let file = repo().join(&r[0]);
        std::fs::copy(&file, to.join(file.file_name().unwrap())).unwrap();
    }
    let (gallery, queries) = att_match_split(&t.join("expected"));
    let names = |dir: &Path| snapshot(dir).into_keys().collect::<Vec<_>>();
    assert_eq!(names(&made.join("gallery")), names(&gallery));
    assert_eq!(names(&made.join("queries")), names(&queries));
    let out = t.join("m");
    let (g, q) = (made.join("gallery"), made.join("queries"));
    let args = ["match", "-g", g.to_str().unwrap(), "-q", q.to_str().unwrap(), "--pixels", "8", "--out", out.to_str().unwrap(), "--quiet"];
    let o = facemb(&args, &repo());
    assert!(o.status.success(), "{}", text(&o));
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("match.json")).unwrap()).unwrap();
    assert_eq!((s["gallery_people"].as_u64(), s["gallery_faces"].as_u64(), s["query_faces"].as_u64()), (Some(20), Some(180), Some(220)));
    assert_eq!(rows.iter().filter(|r| r[1] == "gallery").count(), 180);
    assert_eq!(rows.iter().filter(|r| r[1] == "query").count(), 220);
}

#[test]
fn known_people_are_named_strangers_turned_away_and_a_saved_gallery_is_reused() {
    let tmp = tempfile::tempdir().unwrap();
    let (gallery, queries) = att_match_split(tmp.path());
    let before = (snapshot(&gallery), snapshot(&queries));
    let (out, saved) = (tmp.path().join("m"), tmp.path().join("g.json"));
    let (g, q, o_, s_) = (gallery.to_str().unwrap(), queries.to_str().unwrap(), out.to_str().unwrap(), saved.to_str().unwrap());
    let o = facemb(&["match", "-g", g, "-q", q, "--out", o_, "--save-gallery", s_, "--montage", "--report", "--quiet"], &repo());
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("calibrated"), "the ready model's tolerance says where it came from: {}", text(&o));
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("match.json")).unwrap()).unwrap();
    assert_eq!((s["gallery_people"].as_u64(), s["gallery_faces"].as_u64(), s["query_faces"].as_u64()), (Some(20), Some(180), Some(220)));
    // Measured 0.95 and 0.85 (issue 16's note): floors well below, a regression guard.
    let (known, rejected) = (s["scores"]["known_accuracy"].as_f64().unwrap(), s["scores"]["unknown_rejected"].as_f64().unwrap());
    assert!(known >= 0.75 && rejected >= 0.6, "{s}");
    let matches = std::fs::read_to_string(out.join("matches.csv")).unwrap();
    assert!(matches.starts_with("query,identity,predicted,distance,nearest,runner_up,runner_up_distance\n"));
    assert_eq!(matches.lines().count(), 221);
    let unknown = matches.lines().filter(|l| l.split(',').nth(2) == Some("unknown")).count() as u64;
    assert_eq!(unknown, s["unknown"].as_u64().unwrap());
    for f in ["tolerance.csv", "tolerance.png", "montages/unknown.png", "report.html", "layouts.csv"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    // A montage per person named, by their name: s01's is person_s01.png.
    let predicted: std::collections::BTreeSet<&str> =
        matches.lines().skip(1).filter_map(|l| l.split(',').nth(2)).filter(|p| *p != "unknown").collect();
    assert!(!predicted.is_empty());
    for p in predicted {
        assert!(out.join(format!("montages/person_{p}.png")).is_file(), "{p}");
    }
    // The report maps the gallery's faces (first) and the queries, coloured by the
    // person each shows or was matched to.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let data = html.split("<script id=\"data\" type=\"application/json\">").nth(1).unwrap().split("</script>").next().unwrap();
    let v: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!((v["gallery_rows"].as_u64(), v["paths"].as_array().unwrap().len()), (Some(180), 400));
    let matched = &v["clusters"][0];
    assert_eq!((matched["method"].as_str(), matched["names"].as_array().unwrap().len()), (Some("matched"), 20));
    let unknown_in_report = matched["labels"].as_array().unwrap().iter().filter(|l| l.as_i64() == Some(-1)).count() as u64;
    assert_eq!(unknown_in_report, s["unknown"].as_u64().unwrap());
    // The saved gallery gives the same matches without the gallery folder being read.
    let again = tmp.path().join("m2");
    let o = facemb(&["match", "-g", s_, "-q", q, "--out", again.to_str().unwrap(), "--quiet"], &repo());
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(again.join("matches.csv")).unwrap(), matches);
    // … but not against vectors made another way.
    let o = facemb(&["match", "-g", s_, "-q", q, "--pixels", "32", "--out", again.to_str().unwrap(), "--quiet"], &repo());
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success() && err.trim().lines().count() == 1 && err.contains("rebuild the gallery"), "{err}");
    // The pixel baseline learns its tolerance from the gallery's own faces.
    let px = tmp.path().join("px");
    let o = facemb(&["match", "-g", g, "-q", q, "--pixels", "32", "--out", px.to_str().unwrap(), "--quiet"], &repo());
    assert!(o.status.success() && text(&o).contains("from the gallery itself"), "{}", text(&o));
    // An empty query folder is one line and exit ≠ 0.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = facemb(&["match", "-g", s_, "-q", empty.to_str().unwrap(), "--out", px.to_str().unwrap(), "--quiet"], &repo());
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success() && err.trim().lines().count() == 1 && err.contains("no images found"), "{err}");
    // Nor is a gallery file written inside an input folder.
    let inside = gallery.join("g.json");
    let o =
        facemb(&["match", "-g", g, "-q", q, "--out", px.to_str().unwrap(), "--save-gallery", inside.to_str().unwrap(), "--quiet"], &repo());
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("inside the input folder"), "{}", text(&o));
    assert_eq!((snapshot(&gallery), snapshot(&queries)), before, "the input folders are never changed");
}

/// A pixel run of four AT&T people with `--report`, and `facemb report` on a run drawn
/// without charts (the page then computes its own layouts).
fn report_runs(t: &Path) -> (PathBuf, PathBuf) {
    let folder = att_subset(t, 4);
    let (with, without) = (t.join("with"), t.join("without"));
    let o = facemb(&["pixels", "-id", folder.to_str().unwrap(), "-is", "32", "--out", with.to_str().unwrap(), "--report", "--quiet"], t);
    assert!(o.status.success(), "{}", text(&o));
    let o =
        facemb(&["pixels", "-id", folder.to_str().unwrap(), "-is", "32", "--out", without.to_str().unwrap(), "--no-charts", "--quiet"], t);
    assert!(o.status.success(), "{}", text(&o));
    let o = facemb(&["report", without.to_str().unwrap()], t);
    assert!(o.status.success(), "{}", text(&o));
    (with, without)
}

#[test]
fn a_report_is_one_offline_page_with_every_face_and_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let (with, without) = report_runs(tmp.path());
    for dir in [&with, &without] {
        let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
        assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("src=\"/"), "nothing fetched");
        let data = html.split("<script id=\"data\" type=\"application/json\">").nth(1).unwrap().split("</script>").next().unwrap();
        let v: serde_json::Value = serde_json::from_str(data).unwrap();
        let thumbs = v["thumbs"].as_array().unwrap();
        assert!(
            thumbs.len() == 40 && thumbs.iter().all(|t| t.as_str().unwrap().starts_with("data:image/jpeg;base64,")),
            "one thumbnail per face"
        );
        let layouts: Vec<&str> = v["layouts"].as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap()).collect();
        assert_eq!(layouts, ["tsne", "umap"]);
        assert_eq!(v["layouts"][0]["x"].as_array().unwrap().len(), 40);
        assert_eq!(v["clusters"].as_array().unwrap().len(), 6, "every method's clusters");
        assert_eq!(v["automatic"], "graph_linkage", "the page opens on the automatic grouping");
        assert_eq!(v["names"].as_array().unwrap().len(), 4);
    }
    assert!(with.join("layouts.csv").is_file() && !without.join("layouts.csv").exists());
    // Not a run folder: one line, exit ≠ 0.
    let o = facemb(&["report", tmp.path().to_str().unwrap()], tmp.path());
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success() && err.trim().lines().count() == 1 && err.contains("scores.json"), "{err}");
}

/// The page in a real browser (Debian's `chromium`): points drawn, and hovering one shows
/// its thumbnail (checked by the page's own `#selftest`), plus a screenshot. Needs
/// Chromium, so it is not in the default run; `.ci/run` runs it when Chromium is present.
#[test]
#[ignore = "needs chromium; .ci/run runs it when chromium is installed"]
fn the_report_draws_its_points_in_chromium_and_hover_shows_the_face() {
    let tmp = tempfile::tempdir().unwrap();
    let (with, _) = report_runs(tmp.path());
    let url = format!("file://{}#selftest", with.join("report.html").display());
    let chromium = |extra: &[&str]| {
        let profile = tmp.path().join("profile");
        let mut args = vec!["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"];
        let profile_arg = format!("--user-data-dir={}", profile.display());
        args.push(&profile_arg);
        args.extend_from_slice(extra);
        args.push(&url);
        Command::new("chromium").args(&args).output().expect("chromium is installed (apt install chromium)")
    };
    let o = chromium(&["--virtual-time-budget=20000", "--dump-dom"]);
    let dom = String::from_utf8_lossy(&o.stdout);
    assert!(
        dom.contains("selftest ok: 40 of 40 points drawn"),
        "{}",
        dom.lines().filter(|l| l.contains("selftest")).collect::<Vec<_>>().join("\n")
    );
    let shot = tmp.path().join("report.png");
    let o = chromium(&["--window-size=1280,1300", &format!("--screenshot={}", shot.display())]);
    assert!(o.status.success(), "{}", text(&o));
    // A blank page is about 7 kB; the scores, map and tooltip make it far more.
    assert!(std::fs::metadata(&shot).unwrap().len() > 40_000, "screenshot {}", shot.display());
}

/// The README's install command, done: `cargo install --path . --locked` into a temporary
/// root, then the installed `facemb` groups a folder from a working folder that is not
/// the repository, with an empty cache. The install reuses this test run's release
/// artifacts (same target folder, profile and lock file), so it only links (or finds
/// everything fresh); under a debug `cargo test` it would be a cold release build, so it
/// runs with `cargo test --release` only, as CI (.ci/run) and the README run the tests.
#[test]
#[cfg_attr(debug_assertions, ignore = "a cold release build under debug tests: runs in `cargo test --release`")]
fn cargo_install_gives_a_facemb_that_works_from_any_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| repo().join("target"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let o = Command::new(cargo)
        .args(["install", "--path", repo().to_str().unwrap(), "--root", t.join("root").to_str().unwrap(), "--locked", "--offline"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(t)
        .output()
        .unwrap();
    assert!(o.status.success(), "cargo install: {}", text(&o));
    let installed = t.join("root/bin/facemb");
    let work = t.join("elsewhere");
    let input = att_subset(&work, 3);
    let o =
        Command::new(&installed).args(["infer", "att_small"]).current_dir(&work).env("XDG_CACHE_HOME", t.join("cache")).output().unwrap();
    assert!(o.status.success(), "installed facemb infer: {}", text(&o));
    // Its outputs, where the README says they go: results/<model>/<folder> here.
    let out = work.join("results/identity-v6/att_small");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&format!("outputs in {}", Path::new("results/identity-v6/att_small").display())),
        "{}",
        text(&o)
    );
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("scores.json")).unwrap()).unwrap();
    assert_eq!(s["images"], 30, "{s}");
    assert!(s["one_nn_accuracy"].as_f64().unwrap() > 0.9, "{s}");
    for f in ["embeddings.npy", "index.csv", "clusters.csv"] {
        assert!(out.join(f).is_file(), "{f} missing in {}", out.display());
    }
    assert!(input.join("s01").is_dir());
}
