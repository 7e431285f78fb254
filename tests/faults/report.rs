//! `facemb report` on damaged or unusual run folders (issue 29): every run file it reads
//! by name is refused when it is not a regular file, files that disagree on the number
//! of rows are refused, names with markup or CSV syntax in them survive the round trip,
//! a failed report leaves nothing behind, and an undefined score reads "n/a".
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{error_line, facemb_within, pixels, stderr};
use crate::{att_subset, facemb, text};

/// Far more than a report of a small folder needs, far less than a hang.
const QUICK: Duration = Duration::from_secs(5);

fn report(run: &Path, cwd: &Path) -> std::process::Output {
    facemb_within(&["report", run.to_str().unwrap()], cwd, QUICK)
}

/// The JSON block of `dir/report.html`, as the page's script reads it.
fn page_data(dir: &Path) -> (String, serde_json::Value) {
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let block = html.split("<script id=\"data\" type=\"application/json\">").nth(1).unwrap().split("</script>").next().unwrap();
    (block.to_string(), serde_json::from_str(block).unwrap_or_else(|e| panic!("{e}: {block}")))
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

/// A pixel run of two AT&T people (20 faces) with its charts, so `layouts.csv` is there.
fn small_run(t: &Path) -> PathBuf {
    let a = att_subset(t, 2);
    let out = t.join("run");
    let o = pixels(&a, &out, t, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(out.join("layouts.csv").is_file());
    out
}

#[test]
fn a_pipe_in_place_of_any_run_file_is_an_error_not_a_hang() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let run = small_run(t);
    let aside = t.join("aside");
    std::fs::create_dir(&aside).unwrap();
    // match.json is read when scores.json is not there; embeddings.npy when layouts.csv is not.
    let cases: [(&str, &[&str]); 6] = [
        ("index.csv", &[]),
        ("clusters.csv", &[]),
        ("layouts.csv", &[]),
        ("scores.json", &[]),
        ("match.json", &["scores.json"]),
        ("embeddings.npy", &["layouts.csv"]),
    ];
    for (file, also_gone) in cases {
        let moved: Vec<&str> = std::iter::once(file).chain(also_gone.iter().copied()).filter(|f| run.join(f).exists()).collect();
        for f in &moved {
            std::fs::rename(run.join(f), aside.join(f)).unwrap();
        }
        mkfifo(&run.join(file));
        let o = report(&run, t);
        let e = error_line(&o);
        assert!(!o.status.success() && e.contains(file) && e.contains("not a regular file"), "{file}: {e}");
        std::fs::remove_file(run.join(file)).unwrap();
        for f in &moved {
            std::fs::rename(aside.join(f), run.join(f)).unwrap();
        }
    }
    let o = report(&run, t);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn run_files_that_disagree_on_the_number_of_rows_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let run = small_run(t);
    for file in ["layouts.csv", "clusters.csv"] {
        let whole = std::fs::read_to_string(run.join(file)).unwrap();
        // The header and 4 of the 20 rows.
        let cut: String = whole.lines().take(5).map(|l| format!("{l}\n")).collect();
        std::fs::write(run.join(file), cut).unwrap();
        let o = report(&run, t);
        let e = error_line(&o);
        assert!(e.contains(file) && e.contains("4 rows") && e.contains("index.csv has 20"), "{file}: {e}");
        assert!(!run.join("report.html").exists(), "{file}: no page drawn from part of the faces");
        std::fs::write(run.join(file), whole).unwrap();
    }
}

#[test]
fn a_folder_name_that_opens_a_comment_cannot_end_the_reports_data_early() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let a = att_subset(t, 2);
    let odd = "<!--<script>";
    std::fs::rename(a.join("s01"), a.join(odd)).unwrap();
    let out = t.join("run");
    let o = pixels(&a, &out, t, &["--report"]);
    assert!(o.status.success(), "{}", text(&o));
    let (block, data) = page_data(&out);
    assert!(!block.contains('<'), "a '<' inside the page's data: {block:.300}");
    let mut names: Vec<&str> = data["names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, [odd, "s02"]);
}

#[test]
fn a_file_name_with_a_line_break_comma_and_quote_survives_index_csv_and_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let a = att_subset(t, 2);
    let odd = a.join("s01/new\nline, \"quoted\".png");
    std::fs::copy(a.join("s01/01.png"), &odd).unwrap();
    let out = t.join("run");
    let o = pixels(&a, &out, t, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let mut reader = csv::Reader::from_path(out.join("index.csv")).unwrap();
    let paths: Vec<String> = reader.records().map(|r| r.unwrap()[1].to_string()).collect();
    assert_eq!(paths.len(), 21);
    assert!(paths.iter().any(|p| p == odd.to_str().unwrap()), "{paths:?}");
    let o = report(&out, t);
    assert!(o.status.success(), "{}", text(&o));
    let (_, data) = page_data(&out);
    assert!(data["paths"].as_array().unwrap().iter().any(|p| p == odd.to_str().unwrap()));
}

#[test]
fn a_failed_report_leaves_no_temporary_that_blocks_the_next_run() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let a = att_subset(t, 2);
    let out = t.join("run");
    let o = pixels(&a, &out, t, &["--no-charts"]);
    assert!(o.status.success(), "{}", text(&o));
    // A folder where the page goes: the report cannot be put in place.
    std::fs::create_dir(out.join("report.html")).unwrap();
    let o = report(&out, t);
    let e = error_line(&o);
    assert!(e.contains("report.html"), "{e}");
    let left: Vec<String> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(!left.iter().any(|n| n.starts_with('.')), "left behind: {left:?}");
    let o = pixels(&a, &out, t, &["--no-charts"]);
    assert!(o.status.success(), "a rerun into the folder: {}", text(&o));
}

#[test]
fn the_report_of_a_match_run_without_report_says_how_to_get_one() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (g, q) = (att_subset(&t.join("g"), 2), att_subset(&t.join("q"), 3));
    let out = t.join("m");
    let o = facemb(&["match", "-g", g.to_str().unwrap(), "-q", q.to_str().unwrap(), "--pixels", "8", "--out", out.to_str().unwrap()], t);
    assert!(o.status.success(), "{}", text(&o));
    assert!(out.join("match.json").is_file() && !out.join("index.csv").exists());
    let e = error_line(&report(&out, t));
    assert!(e.contains("without --report") && e.contains("index.csv") && e.contains("rerun match with --report"), "{e}");
}

#[test]
fn a_one_nn_accuracy_with_no_second_image_of_anyone_reads_n_a() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let a = att_subset(t, 3);
    // One image per person: no face has another of its person to find.
    for p in ["s01", "s02", "s03"] {
        for f in std::fs::read_dir(a.join(p)).unwrap() {
            let f = f.unwrap().path();
            if f.file_name().unwrap() != "01.png" {
                std::fs::remove_file(f).unwrap();
            }
        }
    }
    let out = t.join("run");
    let o = pixels(&a, &out, t, &["--no-charts"]);
    assert!(o.status.success(), "{}", text(&o));
    let printed = String::from_utf8_lossy(&o.stdout);
    assert!(printed.contains("3 images, 3 identities"), "{printed}");
    assert!(printed.contains("leave-one-out 1-NN identity accuracy: n/a"), "{printed}");
    let scores: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("scores.json")).unwrap()).unwrap();
    assert!(scores["one_nn_accuracy"].is_null(), "scores.json keeps its schema: null for an undefined score");
    let o = report(&out, t);
    assert!(o.status.success(), "{}", stderr(&o));
    let (_, data) = page_data(&out);
    assert_eq!(data["labelled"], true);
    assert!(data["note"].as_str().unwrap().contains("1-NN identity accuracy: n/a"), "{}", data["note"]);
}
