//! Training faults (issue 29): a resume on data that changed since the kill, a folder
//! named twice in a config, a hold-out that cannot hold anyone out.
use std::path::{Path, PathBuf};
use std::process::Output;

use super::{error_line, facemb_env, killed, stderr};
use crate::{repo, snapshot, text};

/// The first `n` files of `from` (by name), copied into `to`.
fn copy_first(from: &Path, to: &Path, n: usize) -> Vec<PathBuf> {
    std::fs::create_dir_all(to).unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(from).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .iter()
        .take(n)
        .map(|f| {
            let dst = to.join(f.file_name().unwrap());
            std::fs::copy(f, &dst).unwrap();
            dst
        })
        .collect()
}

/// A small copied data set in `t`: `data/face` and `data/nonface` (12 images each) and
/// the identity pool `pool/` (AT&T people s01–s04, 3 images each), free to change.
fn small_data(t: &Path) {
    let fnf = repo().join("datasets/face_nonface");
    copy_first(&fnf.join("face"), &t.join("data/face"), 12);
    copy_first(&fnf.join("nonface"), &t.join("data/nonface"), 12);
    for p in 1..=4 {
        let name = format!("s{p:02}");
        copy_first(&repo().join("datasets/att_faces").join(&name), &t.join("pool").join(&name), 3);
    }
}

/// A tiny CosFace run on [`small_data`], `identity` appended to its `[identity]` table.
fn config(t: &Path, file: &str, identity: &str) {
    std::fs::write(
        t.join(file),
        format!(
            "name = \"r\"\ndata = \"data\"\n[model]\nchannels = [4, 8]\nembedding_size = 8\nimage_size = 16\nin_channels = 1\nembedding_norm = true\n\
             [training]\nepochs = 2\nbatch_size = 8\nlearning_rate = 0.001\nval_fraction = 0.2\naugment_flip = true\nseed = 4\n\
             [identity]\nloss = \"cosface\"\ndata = \"pool\"\nbatch_size = 4\nweight = 1.0\n{identity}"
        ),
    )
    .unwrap();
}

fn train(t: &Path, file: &str, env: &[(&str, &str)], extra: &[&str]) -> Output {
    let mut args = vec!["train", "-c", file, "--out", "cks", "--quiet"];
    args.extend_from_slice(extra);
    facemb_env(&args, t, env)
}

#[test]
fn a_resume_on_images_removed_or_added_since_the_kill_is_refused_before_the_weights_load() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    small_data(t);
    config(t, "r.toml", "");
    let o = train(t, "r.toml", &[("FACEMB_FAULT", "resume:saved")], &[]);
    assert!(killed(&o), "{}", text(&o));
    let state_dir = t.join("cks/.r.resume");
    let saved = snapshot(&state_dir);
    let resume = || train(t, "r.toml", &[], &["--resume"]);
    let refused = |when: &str, counts: &str| {
        let o = resume();
        let e = error_line(&o);
        assert_eq!(o.status.code(), Some(1), "{when}: {}", text(&o));
        assert!(
            e.contains(".r.resume/state.json")
                && e.contains("the training data changed since the interrupted run")
                && e.contains(counts)
                && e.contains("start afresh without --resume"),
            "{when}: {e}"
        );
        assert!(snapshot(&state_dir) == saved, "{when}: the saved state is kept");
        assert!(!t.join("cks/r").exists(), "{when}");
    };
    let aside = t.join("aside");
    std::fs::create_dir(&aside).unwrap();
    let (face, nonface) = (t.join("data/face"), t.join("data/nonface"));
    let last = |dir: &Path| {
        let mut f: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        f.sort();
        f.pop().unwrap()
    };
    // Removed: the saved order points past the end of the set (the old code's panic).
    let gone = [last(&face), last(&nonface)];
    for f in &gone {
        std::fs::rename(f, aside.join(f.file_name().unwrap())).unwrap();
    }
    refused("two images removed", "(36 images then, 34 now)");
    for f in &gone {
        std::fs::rename(aside.join(f.file_name().unwrap()), f).unwrap();
    }
    // A person fewer: the saved CosFace head has a class more than this run's (the old
    // code's "shape mismatch" on loading the weights).
    std::fs::rename(t.join("pool/s04"), aside.join("s04")).unwrap();
    refused("a person removed", "(36 images then, 33 now)");
    std::fs::rename(aside.join("s04"), t.join("pool/s04")).unwrap();
    // Added: every saved index is in range, but points at other images (the old code
    // resumed silently).
    let extra = face.join("zz-extra.png");
    std::fs::copy(last(&face), &extra).unwrap();
    refused("an image added", "(36 images then, 37 now)");
    std::fs::remove_file(&extra).unwrap();
    // Renamed: as many images, not the same ones.
    let first = face.join(std::fs::read_dir(&face).unwrap().map(|e| e.unwrap().file_name()).min().unwrap());
    std::fs::rename(&first, face.join("zz-renamed.png")).unwrap();
    refused("an image renamed", "(36 images then and now, but not the same ones)");
    std::fs::rename(face.join("zz-renamed.png"), &first).unwrap();

    // A state saved before the digest existed is checked by its indices.
    let state = state_dir.join("state.json");
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert!(v.as_object_mut().unwrap().remove("data").is_some(), "the state keeps a digest of its data");
    std::fs::write(&state, serde_json::to_string(&v).unwrap()).unwrap();
    let older = snapshot(&state_dir);
    std::fs::rename(&gone[0], aside.join("gone.png")).unwrap();
    let o = resume();
    let e = error_line(&o);
    assert!(e.contains("the training data changed since the interrupted run;"), "{e}");
    assert!(snapshot(&state_dir) == older);
    std::fs::rename(aside.join("gone.png"), &gone[0]).unwrap();
    std::fs::write(&state, &saved[Path::new("state.json")]).unwrap();

    // The data as it was: the kept state resumes and finishes.
    let o = resume();
    assert!(o.status.success(), "{}", text(&o));
    assert!(t.join("cks/r/model.bpk").is_file() && !state_dir.exists());
}

#[test]
fn a_folder_named_twice_in_a_config_is_refused_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    small_data(t);
    std::os::unix::fs::symlink(t.join("pool"), t.join("link")).unwrap();
    for (identity, named) in
        [("pools = [\"./pool\"]\n", "./pool"), ("pools = [\"link\"]\n", "link"), ("pools = [\"data/../pool\"]\n", "data/../pool")]
    {
        config(t, "dup.toml", identity);
        let o = train(t, "dup.toml", &[], &[]);
        let e = error_line(&o);
        assert!(!o.status.success(), "{identity}");
        assert!(e.contains("dup.toml") && e.contains(named) && e.contains("listed twice"), "{identity}: {e}");
        assert!(!stderr(&o).contains("epoch") && !t.join("cks").exists(), "{identity}: trained: {}", text(&o));
    }
    // The face / non-face folder as an identity pool: face/ and nonface/ as two people.
    config(t, "dup.toml", "pools = [\"data\"]\n");
    let e = error_line(&train(t, "dup.toml", &[], &[]));
    assert!(e.contains("dup.toml") && e.contains("identity folder data is the face / non-face folder"), "{e}");
    assert!(!t.join("cks").exists());
    // Two different pools are still one run.
    std::fs::rename(t.join("pool/s04"), t.join("s04")).unwrap();
    std::fs::create_dir(t.join("more")).unwrap();
    std::fs::rename(t.join("s04"), t.join("more/s04")).unwrap();
    config(t, "two.toml", "pools = [\"more\"]\n");
    let o = train(t, "two.toml", &[], &["--epochs", "1"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_hold_out_that_finds_no_person_with_two_images_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    small_data(t);
    // One image of each person: CosFace trains on them, but none can be held out.
    for p in 1..=4 {
        let dir = t.join(format!("pool/s{p:02}"));
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        files[1..].iter().for_each(|f| std::fs::remove_file(f).unwrap());
    }
    config(t, "h.toml", "holdout = 2\n");
    let o = train(t, "h.toml", &[], &["--epochs", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    let e = stderr(&o);
    assert!(
        e.lines().any(|l| l
            == "warning: [identity] holdout = 2, but no person in the identity data has 2 or more images: none is held out, and the checkpoint will not be calibrated"),
        "{e}"
    );
    assert!(t.join("cks/r/model.bpk").is_file() && !t.join("cks/r/calibration.json").exists());
}
