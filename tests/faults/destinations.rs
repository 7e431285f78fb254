//! Issue 29: facemb never deletes or replaces what it did not write. Each case here
//! deleted or replaced a user's file, hung, or gave a silently wrong result on the code
//! before the one "may I replace this path" check (`files::may_replace`).
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{error_line, facemb_within, stderr};
use crate::{att_match_split, att_subset, facemb, repo, snapshot, text};

/// Fails the test if a command of these cases runs longer: a hang.
const LIMIT: Duration = Duration::from_secs(60);

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn mkfifo(p: &Path) {
    assert!(Command::new("mkfifo").arg(p).status().unwrap().success());
}

/// A copy of the small pinned checkpoint, a folder `-m` can name.
fn checkpoint_copy(dst: &Path) -> PathBuf {
    let pin = repo().join("tests/fixtures/pin");
    std::fs::create_dir_all(dst).unwrap();
    for f in ["config.json", "metrics.json", "model.bpk"] {
        std::fs::copy(pin.join(f), dst.join(f)).unwrap();
    }
    dst.to_path_buf()
}

#[test]
fn case_1_save_clusters_at_the_parent_of_the_input_deletes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // 1. --save-clusters names the parent of the input: every photo was deleted.
    let input = att_subset(&t.join("sc"), 2);
    let before = snapshot(&t.join("sc"));
    let o = facemb_within(
        &["pixels", "-id", s(&input), "-is", "8", "--out", "sc/o1", "--save-clusters", "sc", "--force", "--no-charts", "--quiet"],
        t,
        LIMIT,
    );
    let e = error_line(&o);
    assert!(e.contains("--save-clusters sc") && e.contains("holds the input"), "{e}");
    assert_eq!(snapshot(&t.join("sc")), before, "the input is untouched");
}

#[test]
fn case_2_save_clusters_never_replaces_the_checkpoint_given_with_m() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let input = att_subset(t, 2);
    // 2. --save-clusters names the checkpoint given with -m: it was replaced, exit 0.
    let ck = checkpoint_copy(&t.join("mcopy"));
    let ck_before = snapshot(&ck);
    let o = facemb_within(
        &["infer", "-id", s(&input), "-m", "mcopy", "--out", "out/mc", "--save-clusters", "mcopy", "--force", "--no-charts", "--quiet"],
        t,
        LIMIT,
    );
    let e = error_line(&o);
    assert!(e.contains("is the input -m mcopy itself"), "{e}");
    assert_eq!(snapshot(&ck), ck_before, "the checkpoint is untouched");
}

#[test]
fn case_3_save_clusters_inside_out_the_same_folder_or_the_current_one_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let input = att_subset(t, 2);
    // 3. --save-clusters inside --out: kept, then swept away by the --out swap.
    let o = facemb_within(&["pixels", "-id", s(&input), "-is", "8", "--out", "res", "--save-clusters", "res/kept", "--quiet"], t, LIMIT);
    assert!(error_line(&o).contains("inside --out res, which this run replaces whole"), "{}", text(&o));
    // The same folder for both: said as such, not "another facemb run is writing it".
    let o = facemb_within(&["pixels", "-id", s(&input), "-is", "8", "--out", "x", "--save-clusters", "x", "--quiet"], t, LIMIT);
    let e = error_line(&o);
    assert!(e.contains("is the output --out x itself") && !e.contains("another facemb run"), "{e}");
    // The current folder: no "Device or resource busy", no `..lock` left.
    let o = facemb_within(&["pixels", "-id", s(&input), "-is", "8", "--out", "y", "--save-clusters", ".", "--force", "--quiet"], t, LIMIT);
    assert!(error_line(&o).contains("is the current folder"), "{}", text(&o));
    assert!(!t.join("..lock").exists());
}

#[test]
fn force_replaces_cluster_folders_facemb_wrote_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let input = att_subset(t, 2);
    let kept = t.join("kept");
    let keep = |extra: &[&str]| {
        let mut args = vec!["pixels", "-id", s(&input), "-is", "8", "--out", "k", "--save-clusters", "kept", "--no-charts", "--quiet"];
        args.extend_from_slice(extra);
        facemb_within(&args, t, LIMIT)
    };
    assert!(keep(&[]).status.success());
    let o = keep(&[]);
    assert!(error_line(&o).contains("is not empty"), "{}", text(&o));
    let o = keep(&["--force"]);
    assert!(o.status.success(), "{}", text(&o));
    std::fs::write(kept.join("thesis.tex"), "precious").unwrap();
    let o = keep(&["--force"]);
    assert!(error_line(&o).contains("holds thesis.tex which facemb did not write"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(kept.join("thesis.tex")).unwrap(), "precious");
    // A user's folder shaped like ours but without facemb's clusters.csv is not ours.
    let mine = t.join("mine");
    std::fs::create_dir_all(mine.join("cluster_1")).unwrap();
    std::fs::write(mine.join("cluster_1/photo.jpg"), "mine").unwrap();
    let o = facemb_within(
        &["pixels", "-id", s(&input), "-is", "8", "--out", "m", "--save-clusters", "mine", "--force", "--no-charts", "--quiet"],
        t,
        LIMIT,
    );
    assert!(error_line(&o).contains("has no clusters.csv of facemb's"), "{}", text(&o));
    assert!(mine.join("cluster_1/photo.jpg").is_file());
}

/// `facemb match` of an AT&T split by pixels, with `extra` flags, in `t`.
fn pixel_match(t: &Path, gallery: &Path, queries: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["match", "-g", s(gallery), "-q", s(queries), "--pixels", "8", "--quiet"];
    args.extend_from_slice(extra);
    facemb_within(&args, t, LIMIT)
}

#[test]
fn case_4_a_gallery_is_never_saved_inside_the_out_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (gallery, queries) = att_match_split(t);
    let m = |extra: &[&str]| pixel_match(t, &gallery, &queries, extra);
    // 4. The gallery inside --out: "gallery saved", then the file was gone.
    std::fs::create_dir(t.join("o8")).unwrap();
    let o = m(&["--out", "o8", "--save-gallery", "o8/g.json"]);
    assert!(error_line(&o).contains("inside --out o8"), "{}", text(&o));
}

#[test]
fn case_5_a_gallery_of_other_people_is_replaced_only_with_force() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (gallery, queries) = att_match_split(t);
    let m = |extra: &[&str]| pixel_match(t, &gallery, &queries, extra);
    // 5. A gallery of other people is not replaced silently.
    assert!(m(&["--out", "a", "--save-gallery", "prev.json"]).status.success());
    let prev = std::fs::read(t.join("prev.json")).unwrap();
    let fewer = t.join("fewer");
    std::fs::create_dir(&fewer).unwrap();
    for p in ["s01", "s02"] {
        std::fs::rename(gallery.join(p), fewer.join(p)).unwrap();
    }
    let other = |extra: &[&str]| {
        let mut args =
            vec!["match", "-g", "fewer", "-q", s(&queries), "--pixels", "8", "--out", "b", "--save-gallery", "prev.json", "--quiet"];
        args.extend_from_slice(extra);
        facemb_within(&args, t, LIMIT)
    };
    let o = other(&[]);
    assert!(error_line(&o).contains("holds a gallery of other people") && error_line(&o).contains("--force"), "{}", text(&o));
    assert_eq!(std::fs::read(t.join("prev.json")).unwrap(), prev);
    assert!(other(&["--force"]).status.success());
    assert_ne!(std::fs::read(t.join("prev.json")).unwrap(), prev);
}

#[test]
fn case_7_a_pipe_as_the_gallery_file_is_refused_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (gallery, queries) = att_match_split(t);
    let m = |extra: &[&str]| pixel_match(t, &gallery, &queries, extra);
    // 7. A FIFO, or standard output through a pipe, as the gallery file: it hung.
    mkfifo(&t.join("pipe.json"));
    for target in ["pipe.json", "/dev/stdout"] {
        let o = m(&["--out", "c", "--save-gallery", target]);
        assert!(error_line(&o).contains("not a regular file"), "{target}: {}", text(&o));
    }
    // A missing folder is named, not facemb's hidden temporary.
    let o = m(&["--out", "d", "--save-gallery", "missing_dir/g.json"]);
    let e = error_line(&o);
    assert!(e.contains("missing_dir/g.json") && !e.contains(".tmp-"), "{e}");
    assert!(!t.join("d").exists(), "refused before any work");
}

#[test]
fn case_9_a_pipe_as_a_checkpoint_config_is_refused_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // 9. config.json a FIFO: `infer -m` hung on the open.
    let ck = checkpoint_copy(&t.join("ck"));
    std::fs::remove_file(ck.join("config.json")).unwrap();
    mkfifo(&ck.join("config.json"));
    let input = att_subset(t, 2);
    let o = facemb_within(&["infer", "-id", s(&input), "-m", "ck", "--out", "o", "--quiet"], t, Duration::from_secs(10));
    let e = error_line(&o);
    assert!(e.contains("config.json") && e.contains("not a regular file"), "{e}");
}

#[test]
fn case_10_a_gallery_value_beyond_f32_or_an_image_as_gallery_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (gallery, queries) = att_match_split(t);
    let o =
        facemb(&["match", "-g", s(&gallery), "-q", s(&queries), "--pixels", "8", "--out", "a", "--save-gallery", "g.json", "--quiet"], t);
    assert!(o.status.success(), "{}", text(&o));
    // 10. A value beyond f32 named a stranger at distance 0.
    let json = std::fs::read_to_string(t.join("g.json")).unwrap();
    let first = json.split("\"vectors\": [").nth(1).unwrap().split([',', ']']).next().unwrap().trim().trim_start_matches('[');
    let first = first.trim();
    std::fs::write(t.join("inf.json"), json.replacen(&format!("[\n      {first},"), "[\n      1e308,", 1)).unwrap();
    let o = facemb(&["match", "-g", "inf.json", "-q", s(&queries), "--pixels", "8", "--out", "b", "--quiet"], t);
    let e = error_line(&o);
    assert!(e.contains("inf.json") && e.contains("not a finite number"), "{e}");
    // An image given as the gallery: what a gallery is, not "stream did not contain valid UTF-8".
    let image = gallery.join("s01/01.png");
    let o = facemb(&["match", "-g", s(&image), "-q", s(&queries), "--pixels", "8", "--out", "c", "--quiet"], t);
    assert!(error_line(&o).contains("a gallery is a folder"), "{}", text(&o));
}

#[test]
fn case_11_the_gallery_as_its_own_queries_scores_nothing_and_prints_no_nan() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (gallery, queries) = att_match_split(t);
    // 11. The gallery as its own queries: "named correctly 1.000", "turned away NaN".
    let o = facemb(&["match", "-g", s(&gallery), "-q", s(&gallery), "--pixels", "8", "--out", "d", "--quiet"], t);
    assert!(error_line(&o).contains("every query face is a gallery face"), "{}", text(&o));
    // Queries that hold some of the gallery's files: those are left out, and a share of
    // no query is "n/a", never NaN.
    let mixed = t.join("mixed");
    for (from, name) in [(&gallery, "s03"), (&queries, "s03")] {
        for f in std::fs::read_dir(from.join(name)).unwrap() {
            let f = f.unwrap().path();
            std::fs::create_dir_all(mixed.join(name)).unwrap();
            std::os::unix::fs::symlink(&f, mixed.join(name).join(f.file_name().unwrap())).unwrap();
        }
    }
    let o = facemb(&["match", "-g", s(&gallery), "-q", "mixed", "--pixels", "8", "--out", "e", "--quiet"], t);
    let all = text(&o);
    assert!(o.status.success() && all.contains("9 faces of the queries are gallery faces themselves"), "{all}");
    assert!(!all.contains("NaN") && all.contains("turned away n/a"), "{all}");
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(t.join("e/match.json")).unwrap()).unwrap();
    assert_eq!(summary["query_faces"].as_u64(), Some(1));
}

#[test]
fn paths_that_mislead_get_messages_that_name_the_real_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // A missing folder does not exist; it is not "not a folder".
    let o = facemb(&["pixels", "-id", "nowhere", "-is", "8", "--quiet"], t);
    assert!(error_line(&o).contains("nowhere: does not exist"), "{}", text(&o));
    // --tolerance inf is not "a number ≥ 0" that was mistyped.
    let (gallery, queries) = att_match_split(t);
    let o = facemb(&["match", "-g", s(&gallery), "-q", s(&queries), "--tolerance", "inf", "--pixels", "8", "--quiet"], t);
    assert!(error_line(&o).contains("must be a finite number"), "{}", text(&o));
    // Under --unlabelled a linked folder is read, and broken or looping links are said as such.
    let photos = t.join("photos");
    std::fs::create_dir_all(photos.join("a")).unwrap();
    let att = repo().join("datasets/att_faces");
    for i in 1..=4 {
        std::fs::copy(att.join(format!("s01/0{i}.png")), photos.join(format!("a/{i}.png"))).unwrap();
    }
    std::os::unix::fs::symlink(att.join("s02"), photos.join("linked")).unwrap();
    std::os::unix::fs::symlink(t.join("gone.png"), photos.join("a/broken.png")).unwrap();
    std::os::unix::fs::symlink(photos.join("a/loop.png"), photos.join("a/loop.png")).unwrap();
    std::os::unix::fs::symlink(&photos, photos.join("a/up")).unwrap();
    let o = facemb_within(&["pixels", "-id", "photos", "--unlabelled", "-is", "8", "--no-charts", "--out", "u"], t, LIMIT);
    let e = stderr(&o);
    assert!(o.status.success(), "{}", text(&o));
    assert!(e.contains("broken.png: a broken symbolic link"), "{e}");
    assert!(e.contains("loop.png: a symbolic link that cannot be followed"), "{e}");
    assert!(!e.contains("nested folder ignored"), "{e}");
    let scores: serde_json::Value = serde_json::from_slice(&std::fs::read(t.join("u/scores.json")).unwrap()).unwrap();
    assert_eq!(scores["images"].as_u64(), Some(14), "4 photos, and the 10 of the linked folder once");
    // A 250-byte file name is copied under a shorter name, not "File name too long".
    let long = t.join("long");
    std::fs::create_dir_all(long.join("ann")).unwrap();
    for i in 1..=3 {
        std::fs::copy(att.join(format!("s01/0{i}.png")), long.join("ann").join(format!("{}{i}.png", "x".repeat(245)))).unwrap();
    }
    let o = facemb(&["pixels", "-id", "long", "-is", "8", "--no-charts", "--out", "l", "--save-clusters", "lk", "--quiet"], t);
    assert!(o.status.success(), "{}", text(&o));
    let csv = std::fs::read_to_string(t.join("lk/clusters.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
}

#[test]
fn detect_never_writes_its_crops_over_the_photos_or_the_detector() {
    // --out at the photos folder, at its parent, and at the detector itself: each refused
    // before any work, every file left as it was.
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("album");
    std::fs::create_dir_all(photos.join("Colin_Powell")).unwrap();
    let src = repo().join("datasets/photos_sample/Colin_Powell/Colin_Powell_0009.jpg");
    std::fs::copy(&src, photos.join("Colin_Powell/a.jpg")).unwrap();
    let det = tmp.path().join("det");
    std::fs::create_dir_all(&det).unwrap();
    for f in ["detector.json", "model.bpk"] {
        std::fs::copy(repo().join("checkpoints/detector-v2").join(f), det.join(f)).unwrap();
    }
    let before = snapshot(tmp.path());
    for out in [photos.clone(), tmp.path().to_path_buf(), det.clone()] {
        let o = facemb_within(
            &["detect", "-id", s(&photos), "--detector", s(&det), "--out", s(&out), "--quiet"],
            &repo(),
            Duration::from_secs(60),
        );
        assert!(!o.status.success(), "--out {}: {}", out.display(), text(&o));
        assert!(error_line(&o).contains("--out"), "{}", stderr(&o));
        assert_eq!(snapshot(tmp.path()), before, "--out {} changed files", out.display());
    }
}
