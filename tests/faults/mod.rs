//! The fault suite (issue 15): each case runs the binary on a small generated bad input or
//! kills it at a chosen point (`FACEMB_FAULT`, a SIGKILL between two writes) and checks
//! the exit code, the one-line message, and that earlier outputs and checkpoints are
//! byte-identical afterwards.
use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use super::{att_subset, facemb, repo, snapshot, text};

mod destinations;

/// Asserts that two snapshots hold the same files with the same bytes, naming the
/// files that differ (not printing their bytes).
fn assert_same(got: &BTreeMap<PathBuf, Vec<u8>>, want: &BTreeMap<PathBuf, Vec<u8>>, when: &str) {
    let names = |m: &BTreeMap<PathBuf, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(got), names(want), "{when}: other files");
    let changed: Vec<_> = want.iter().filter(|(k, v)| got[*k] != **v).map(|(k, _)| k).collect();
    assert!(changed.is_empty(), "{when}: changed {changed:?}");
}

fn facemb_env(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_facemb"));
    c.args(args).current_dir(cwd);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("facemb runs")
}

/// Runs facemb, killing it (and failing the test) if it takes longer than `limit`.
fn facemb_within(args: &[&str], cwd: &Path, limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_facemb"))
        .args(args)
        .current_dir(cwd)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            panic!("facemb {args:?} still running after {limit:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn killed(o: &Output) -> bool {
    o.status.signal() == Some(9)
}

fn pixels(input: &Path, out: &Path, cwd: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["pixels", "-id", input.to_str().unwrap(), "-is", "8", "--out", out.to_str().unwrap(), "--quiet"];
    args.extend_from_slice(extra);
    facemb_env(&args, cwd, &[])
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The one `error: ` line of a failed run.
fn error_line(o: &Output) -> String {
    let e = stderr(o);
    let lines: Vec<&str> = e.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(lines.len(), 1, "one error line expected: {e}");
    assert!(!e.contains("panicked"), "{e}");
    lines[0].to_string()
}

#[test]
fn a_killed_or_failed_rerun_leaves_the_earlier_outputs_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (a, b) = (att_subset(&t.join("a"), 2), att_subset(&t.join("b"), 3));
    let out = t.join("out");
    let o = pixels(&a, &out, t, &["--no-charts"]);
    assert!(o.status.success(), "{}", text(&o));
    let before = snapshot(&out);
    assert!(before.contains_key(Path::new("scores.json")) && before.len() == 4, "{:?}", before.keys());

    // Killed after the first file, after all files, and between moving the old folder
    // aside and moving the new one in.
    for point in ["output:written-vectors", "output:before-swap", "output:mid-swap"] {
        let o = facemb_env(
            &["pixels", "-id", b.to_str().unwrap(), "-is", "8", "--out", out.to_str().unwrap(), "--quiet"],
            t,
            &[("FACEMB_FAULT", point)],
        );
        assert!(killed(&o), "{point}: {}", text(&o));
        if point == "output:mid-swap" {
            // The old folder waits aside; the next run that takes the folder puts it back,
            // even one that then fails (this one finds no images).
            assert!(!out.exists());
            std::fs::create_dir(t.join("empty")).unwrap();
            let o = pixels(&t.join("empty"), &out, t, &[]);
            assert!(!o.status.success() && stderr(&o).contains("restored"), "{}", text(&o));
        }
        assert_same(&snapshot(&out), &before, &format!("after a kill at {point}"));
    }
    // Nothing of the killed runs is left beside the folder (the lock file stays, empty).
    let mut left: Vec<String> = std::fs::read_dir(t).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, [".out.lock", "a", "b", "empty", "out"]);

    // A finished rerun replaces the folder whole: no chart of an earlier run stays beside
    // the new vectors.
    let o = pixels(&b, &out, t, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(snapshot(&out).keys().any(|k| k.extension().is_some_and(|e| e == "png")));
    let o = pixels(&a, &out, t, &["--no-charts"]);
    assert!(o.status.success(), "{}", text(&o));
    let again = snapshot(&out);
    assert_eq!(again.keys().collect::<Vec<_>>(), before.keys().collect::<Vec<_>>(), "no stale chart");
    assert_eq!(again[Path::new("embeddings.npy")], before[Path::new("embeddings.npy")]);
}

#[test]
fn a_second_run_into_a_folder_being_written_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let a = att_subset(t, 2);
    let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(t.join(".out.lock")).unwrap();
    lock.lock().unwrap();
    let o = pixels(&a, &t.join("out"), t, &[]);
    let e = error_line(&o);
    assert!(!o.status.success() && e.contains("another facemb run is writing it"), "{e}");
    assert!(!t.join("out").exists());
    drop(lock);
    assert!(pixels(&a, &t.join("out"), t, &["--no-charts"]).status.success());
}

#[test]
fn output_folders_never_hold_foreign_files_or_sit_inside_the_input() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let a = att_subset(t, 2);
    // A folder of the user's own files is not replaced.
    std::fs::create_dir(t.join("mine")).unwrap();
    std::fs::write(t.join("mine/thesis.tex"), "precious").unwrap();
    let o = pixels(&a, &t.join("mine"), t, &[]);
    let e = error_line(&o);
    assert!(e.contains("mine") && e.contains("thesis.tex"), "{e}");
    assert_eq!(std::fs::read_to_string(t.join("mine/thesis.tex")).unwrap(), "precious");
    // Inside the input, the next run would embed the charts as faces.
    let o = pixels(&a, &a.join("s01/out"), t, &[]);
    assert!(error_line(&o).contains("inside the input folder"), "{}", text(&o));
    assert!(!a.join("s01/out").exists());
    // A chart name is a name, not a path.
    let o = pixels(&a, &t.join("o"), t, &["-os", "../../x"]);
    assert!(error_line(&o).contains("not a path"));
    // Two input folders with one name get two default output folders.
    let (x, y) = (att_subset(&t.join("x"), 2), att_subset(&t.join("y"), 3));
    for input in [&x, &y] {
        let o = facemb(&["pixels", "-id", input.to_str().unwrap(), "-is", "8", "--no-charts", "--quiet"], t);
        assert!(o.status.success(), "{}", text(&o));
    }
    let mut dirs: Vec<String> =
        std::fs::read_dir(t.join("results/pixels-8")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    dirs.retain(|d| !d.starts_with('.'));
    dirs.sort();
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    assert!(dirs[0] == "att_small" && dirs[1].starts_with("att_small-"), "{dirs:?}");
}

#[test]
fn a_checkpoint_survives_a_kill_at_every_window_of_its_replacement() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    std::os::unix::fs::symlink(repo().join("datasets"), t.join("datasets")).unwrap();
    let cfg = repo().join("configs/default.toml");
    let train = |env: &[(&str, &str)], extra: &[&str]| {
        let mut args = vec![
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--epochs",
            "1",
            "--max-per-class",
            "16",
            "-e",
            "8",
            "--name",
            "ck",
            "--out",
            "cks",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        facemb_env(&args, t, env)
    };
    let o = train(&[], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let ck = t.join("cks/ck");
    let before = snapshot(&ck);
    for point in ["checkpoint:written-weights", "checkpoint:before-swap", "checkpoint:mid-swap"] {
        let o = train(&[("FACEMB_FAULT", point)], &["--seed", "5"]);
        assert!(killed(&o), "{point}: {}", text(&o));
        if point == "checkpoint:mid-swap" {
            assert!(!ck.exists());
            // Opening the checkpoint by name puts the moved-aside copy back.
            let o = facemb(&["calibrate", "-m", "cks/ck"], t);
            assert!(stderr(&o).contains("restored"), "{}", text(&o));
        }
        assert_same(&snapshot(&ck), &before, &format!("after a kill at {point}"));
    }
    // Hyper-parameters that would diverge are refused before training, checkpoint intact.
    for lr in ["inf", "1e6", "-1", "nan"] {
        let o = train(&[], &["--learning-rate", lr]);
        let e = error_line(&o);
        assert!(e.contains("learning_rate"), "{lr}: {e}");
        assert_same(&snapshot(&ck), &before, &format!("after --learning-rate {lr}"));
    }
    // A rerun that validates worse does not replace the finished checkpoint: it lands
    // beside it (this one's metrics are doctored to claim an accuracy no run can reach).
    let metrics = ck.join("metrics.json");
    let mut m: serde_json::Value = serde_json::from_slice(&before[Path::new("metrics.json")]).unwrap();
    let last = m["epochs"].as_array().unwrap().len() - 1;
    m["epochs"][last]["val_accuracy"] = serde_json::json!(1.5);
    std::fs::write(&metrics, serde_json::to_string(&m).unwrap()).unwrap();
    let doctored = snapshot(&ck);
    let o = train(&[], &["--seed", "6"]);
    assert!(o.status.success() && stderr(&o).contains("warning: kept"), "{}", text(&o));
    assert_same(&snapshot(&ck), &doctored, "after a worse rerun");
    assert!(t.join("cks/ck.new/model.bpk").is_file());
    let o = train(&[], &["--seed", "6", "--overwrite"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_ne!(snapshot(&ck), doctored, "--overwrite replaces");
    let before = snapshot(&ck);
    // A bad destination is refused before the first epoch.
    for (name, out) in [(".", "cks"), ("..", "cks"), ("x", "cks/ck/model.bpk")] {
        let o = facemb(&["train", "--config", cfg.to_str().unwrap(), "--name", name, "--out", out], t);
        let e = error_line(&o);
        assert!(!stderr(&o).contains("epoch"), "{name} {out}: trained before failing: {e}");
    }
    assert_same(&snapshot(&ck), &before, "after bad destinations");
}

/// A JPEG of one AT&T face, encoded here.
fn face_jpeg() -> Vec<u8> {
    let img = image::open(repo().join("datasets/att_faces/s01/01.png")).unwrap();
    let mut bytes = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Jpeg).unwrap();
    bytes
}

#[test]
fn bad_image_files_are_skipped_with_their_reason_without_hanging_or_exhausting_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let a = att_subset(t, 2);
    let person = a.join("s01");
    let jpeg = face_jpeg();
    std::fs::write(person.join("whole.jpg"), &jpeg).unwrap();
    // Cut at 75 %: the header survives, the image data does not.
    std::fs::write(person.join("cut.jpg"), &jpeg[..jpeg.len() * 3 / 4]).unwrap();
    // A 5 KB file declaring 65 500 × 65 500 pixels (the frame header's size fields).
    let mut huge = jpeg.clone();
    let sof = huge.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    huge[sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xDC, 0xFF, 0xDC]);
    std::fs::write(person.join("huge.jpg"), &huge).unwrap();
    // 2 GiB named .png (sparse: no disk used), and 1 MiB of zeros named .png.
    std::fs::File::create(person.join("big.png")).unwrap().set_len(2 << 30).unwrap();
    std::fs::File::create(person.join("zeros.png")).unwrap().set_len(1 << 20).unwrap();
    // A Latin-1 file name (not UTF-8): used, and index.csv's lossy copy of it is said.
    use std::os::unix::ffi::OsStrExt;
    std::fs::copy(repo().join("datasets/att_faces/s01/02.png"), person.join(std::ffi::OsStr::from_bytes(b"caf\xe9.png"))).unwrap();
    // A named pipe called face.jpg: nobody will ever write to it.
    assert!(Command::new("mkfifo").arg(person.join("pipe.jpg")).status().unwrap().success());

    let o = facemb_within(
        &["pixels", "-id", a.to_str().unwrap(), "-is", "8", "--no-charts", "--out", t.join("o").to_str().unwrap()],
        t,
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "{}", text(&o));
    let e = stderr(&o);
    let warned = |file: &str, why: &str| e.lines().any(|l| l.starts_with("warning: ") && l.contains(file) && l.contains(why));
    assert!(warned("cut.jpg", "truncated JPEG"), "{e}");
    assert!(warned("huge.jpg", "too large (65500 × 65500 pixels"), "{e}");
    assert!(warned("big.png", "too large (2048 MiB"), "{e}");
    assert!(warned("zeros.png", "first bytes are not those of an image format"), "{e}");
    assert!(warned("pipe.jpg", "not a regular file"), "{e}");
    assert!(e.contains("warning: not valid UTF-8: 1 file path;"), "{e}");
    let scores: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(t.join("o/scores.json")).unwrap()).unwrap();
    assert_eq!((scores["images"].as_u64(), scores["skipped_files"].as_u64()), (Some(22), Some(5)), "whole.jpg and café.png are used");
}

#[test]
fn misleading_inputs_get_messages_that_name_the_real_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let pin = repo().join("tests/fixtures/pin");
    let att = repo().join("datasets/att_faces");
    let infer = |model: &Path, extra: &[&str]| {
        let mut args = vec!["infer", "-id", att.to_str().unwrap(), "-m", model.to_str().unwrap(), "--no-charts", "--quiet"];
        args.extend_from_slice(extra);
        facemb(&args, t)
    };
    // Damaged weights are not "weights that do not match the config".
    let good = std::fs::read(pin.join("model.bpk")).unwrap();
    for (what, bytes) in [("truncated", good[..good.len() / 3].to_vec()), ("garbage", vec![7u8; 5000]), ("empty", Vec::new())] {
        let ck = t.join(what);
        std::fs::create_dir(&ck).unwrap();
        std::fs::copy(pin.join("config.json"), ck.join("config.json")).unwrap();
        std::fs::write(ck.join("model.bpk"), bytes).unwrap();
        let e = error_line(&infer(&ck, &[]));
        assert!(e.contains("model.bpk") && e.contains("damaged") && !e.contains("do not match"), "{what}: {e}");
    }
    let e = error_line(&infer(&pin.join("config.json"), &[]));
    assert!(e.contains("config.json") && e.contains("not weights"), "{e}");
    // k beyond the images is said as such.
    let o = infer(&pin, &["--clusters", "100000", "--methods", "kmeans", "--out", t.join("k").to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("k = 400 (--clusters 100000 is more than the 400 images)"), "{}", text(&o));
    // Images one level off: the message says where they are.
    let deep = t.join("deep/group/person");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::copy(att.join("s01/01.png"), deep.join("a.png")).unwrap();
    let e = error_line(&facemb(&["pixels", "-id", t.join("deep").to_str().unwrap()], t));
    assert!(e.contains("1 folder two levels down"), "{e}");
    // A typo in a config section names the unknown key.
    std::fs::write(t.join("typo.toml"), "name = \"x\"\ndata = \"d\"\n[model]\nembeding_size = 8\n").unwrap();
    let e = error_line(&facemb(&["train", "--config", "typo.toml"], t));
    assert!(e.contains("typo.toml") && e.contains("embeding_size"), "{e}");
}

#[test]
fn a_run_killed_after_an_epoch_resumes_to_the_same_checkpoint_as_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    std::os::unix::fs::symlink(repo().join("datasets"), t.join("datasets")).unwrap();
    // A tiny identity run: CosFace head, augmentation, cosine decay, BatchNorm: every
    // piece of state a resume must carry (weights, Adam's moments, the generator, the
    // shuffled orders) changes its result.
    std::fs::write(
        t.join("id.toml"),
        "name = \"id\"\ndata = \"datasets/face_nonface\"\n[model]\nchannels = [8, 16]\nembedding_size = 16\nimage_size = 32\nin_channels = 1\n\
         conv_norm = true\nembedding_norm = true\n[training]\nepochs = 3\nbatch_size = 16\nlearning_rate = 0.001\nval_fraction = 0.2\naugment_flip = true\nseed = 4\nmax_per_class = 24\n\
         lr_schedule = \"cosine\"\n[identity]\nloss = \"cosface\"\ndata = \"datasets/lfw_train_identities\"\nbatch_size = 32\nweight = 1.0\n",
    )
    .unwrap();
    let train = |name: &str, env: &[(&str, &str)], extra: &[&str]| {
        let mut args = vec!["train", "-c", "id.toml", "--name", name, "--out", "cks", "--quiet"];
        args.extend_from_slice(extra);
        facemb_env(&args, t, env)
    };
    let o = train("whole", &[], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let o = train("cut", &[], &["--resume"]);
    assert!(error_line(&o).contains("no interrupted run to resume"), "{}", text(&o));
    let o = train("cut", &[("FACEMB_FAULT", "resume:saved")], &[]);
    assert!(killed(&o), "{}", text(&o));
    assert!(!t.join("cks/cut").exists() && t.join("cks/.cut.resume/state.json").is_file());
    let state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(t.join("cks/.cut.resume/state.json")).unwrap()).unwrap();
    let saved_seconds = state["seconds"].as_f64().expect("the state keeps the time so far");
    assert!(saved_seconds >= state["epochs"][0]["seconds"].as_f64().unwrap(), "{saved_seconds}");
    // Killed again while epoch 2's state replaces epoch 1's: epoch 1's is put back.
    let o = train("cut", &[("FACEMB_FAULT", "resume:mid-swap")], &["--resume"]);
    assert!(killed(&o) && !t.join("cks/.cut.resume").exists(), "{}", text(&o));
    // Other flags than the interrupted run's are refused, the saved state kept.
    let o = train("cut", &[], &["--resume", "--epochs", "4"]);
    assert!(error_line(&o).contains("another config"), "{}", text(&o));
    let o = train("cut", &[], &["--resume"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!t.join("cks/.cut.resume").exists(), "the resume state goes once the run is finished");

    let metrics = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(t.join("cks").join(name).join("metrics.json")).unwrap()).unwrap()
    };
    let (whole, cut) = (metrics("whole"), metrics("cut"));
    // The resumed run's time counts the time before the kill too.
    let later: f64 = cut["epochs"].as_array().unwrap()[1..].iter().map(|e| e["seconds"].as_f64().unwrap()).sum();
    assert!(cut["total_seconds"].as_f64().unwrap() >= saved_seconds + later, "{} vs {saved_seconds} + {later}", cut["total_seconds"]);
    let field =
        |m: &serde_json::Value, f: &str| -> Vec<f64> { m["epochs"].as_array().unwrap().iter().map(|e| e[f].as_f64().unwrap()).collect() };
    for f in ["train_loss", "identity_loss", "val_loss", "val_accuracy"] {
        let (a, b) = (field(&whole, f), field(&cut, f));
        assert_eq!(a.len(), 3);
        assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() <= 1e-5 * x.abs().max(1.0)), "{f}: {a:?} vs {b:?}");
    }
    // The weights themselves: the vectors of the same faces agree.
    let mut vectors = Vec::new();
    for name in ["whole", "cut"] {
        let out = t.join(format!("v-{name}"));
        let ck = t.join("cks").join(name);
        let o = facemb(
            &[
                "infer",
                "-id",
                "datasets/att_faces",
                "-m",
                ck.to_str().unwrap(),
                "--no-charts",
                "--methods",
                "kmeans",
                "--out",
                out.to_str().unwrap(),
            ],
            t,
        );
        assert!(o.status.success(), "{}", text(&o));
        vectors.push(std::fs::read(out.join("embeddings.npy")).unwrap());
    }
    let values = |b: &[u8]| -> Vec<f32> { b[128..].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect() };
    let (a, b) = (values(&vectors[0]), values(&vectors[1]));
    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(a.len() == b.len() && worst < 1e-4, "largest difference {worst}");
}

mod training;

// report and run files
mod report;
