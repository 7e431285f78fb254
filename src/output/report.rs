//! One self-contained HTML page of a run (`report.html`): the scores, the t-SNE and UMAP
//! layouts as interactive scatter plots (hover shows the face, its file and identity;
//! colour by identity or by any method's clusters; the k-NN regions of the colouring
//! shaded behind the points), every cluster's faces and mean face, and what produced the vectors.
//! Thumbnails are inline JPEG data URIs and the script is inline: the page opens from
//! disk with no network.
//!
//! The page is built from the run folder's own files (`index.csv`, `clusters.csv`,
//! `layouts.csv`, `scores.json`), so `infer --report` and `facemb report DIR` are one path.
use std::path::Path;

use base64::Engine as _;
use rayon::prelude::*;
use serde_json::{Value, json};

use super::{CLUSTERS_FILE, EMBEDDINGS_FILE, INDEX_FILE, LAYOUTS_FILE, SCORES_FILE};
use crate::error::{Error, Result};
use crate::files::{atomic_write, check_regular, read_csv, read_npy, read_text};
use crate::image::ImageSpec;
use crate::image::decode::load_image;

pub const REPORT_FILE: &str = "report.html";
/// Thumbnail side in pixels: 48 × 48 colour JPEGs are about 1.3 kB each, so 5 000 faces
/// make a page of about 9 MB.
const THUMB: usize = 48;
const JPEG_QUALITY: u8 = 80;

/// Writes `dir/report.html` from the run files in `dir`; `shown_as` is the folder's name
/// in the page (its final path when `dir` is a staging folder). Returns the page's size in bytes.
pub fn write(dir: &Path, shown_as: &Path) -> Result<usize> {
    let data = page_data(dir, shown_as)?;
    let html = page(&data)?;
    // atomic_write removes its temporary on failure: a stray `.report.html.tmp-PID` would
    // make every later `--out` of this folder refuse it as someone else's file.
    atomic_write(&dir.join(REPORT_FILE), html.as_bytes())?;
    Ok(html.len())
}

/// What the page says above its map: one line about the run, a table, a note below it,
/// and what produced the vectors.
struct Head {
    summary: String,
    table: Value,
    note: String,
    source: String,
    labelled: bool,
    normalized: bool,
    /// Rows of the gallery at the top of a match run (0 otherwise).
    gallery_rows: usize,
    /// Names of the groups of a clusters.csv column (a match run's "matched" people).
    group_names: Option<(String, Vec<String>)>,
}

fn read_json(path: &Path) -> Result<Value> {
    let text = read_text(path)?;
    serde_json::from_str(&text).map_err(|e| Error::Data { path: path.to_path_buf(), reason: e.to_string() })
}

/// A score as the tables print it: three decimals, "n/a" where there is none (scores.json
/// holds null for a NaN: a score that needs identities, or one undefined on this folder).
fn score(v: &Value) -> String {
    v.as_f64().map_or("n/a".into(), |x| format!("{x:.3}"))
}

/// The head of an `infer` / `pixels` run, from its `scores.json`; `names` are the
/// identities of `index.csv`.
fn clustering_head(s: &Value, n: usize, names: &[String]) -> Head {
    // A null 1-NN accuracy alone does not make a folder unlabelled: it is also null on a
    // labelled folder where no identity has two images. An unlabelled folder's one name
    // says it.
    let labelled = !s["one_nn_accuracy"].is_null() || names != [crate::image::folder::UNLABELLED];
    let skipped = s["skipped_files"].as_u64().unwrap_or(0);
    let summary = format!(
        "{} on {}: {}, {}, E = {}{}{}",
        s["source"].as_str().unwrap_or("?"),
        s["folder"].as_str().unwrap_or("?"),
        super::table::count(n, "image"),
        if labelled { super::table::count(s["identities"].as_u64().unwrap_or(0) as usize, "identity") } else { "unlabelled".into() },
        s["dim"],
        if s["normalized"].as_bool() == Some(true) { ", L2-normalised" } else { "" },
        if skipped > 0 { format!(", {} skipped", super::table::count(skipped as usize, "file")) } else { String::new() },
    );
    let rows: Vec<Value> = s["methods"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .map(|m| {
                    json!([
                        m["method"],
                        m["clusters"],
                        m["noise"],
                        score(&m["ari"]),
                        score(&m["nmi"]),
                        score(&m["purity"]),
                        score(&m["silhouette"]),
                        m["params"]
                    ])
                })
                .collect()
        })
        .unwrap_or_default();
    Head {
        summary,
        table: json!({ "header": ["method", "clusters", "noise", "ARI", "NMI", "purity", "silhouette", "parameters"], "rows": rows, "left": [0, 7] }),
        note: if labelled {
            format!("leave-one-out 1-NN identity accuracy: {}", super::table::one_nn(s["one_nn_accuracy"].as_f64().unwrap_or(f64::NAN)))
        } else {
            "unlabelled folder: scores that need identities are left out".into()
        },
        source: s["source"].as_str().unwrap_or("").into(),
        labelled,
        normalized: s["normalized"].as_bool().unwrap_or(false),
        gallery_rows: 0,
        group_names: None,
    }
}

/// The head of a `match` run, from its `match.json`.
fn match_head(m: &Value) -> Head {
    let mut rows = vec![
        json!([
            "gallery",
            format!("{} ({} people, {} faces)", m["gallery"].as_str().unwrap_or("?"), m["gallery_people"], m["gallery_faces"])
        ]),
        json!(["queries", format!("{} ({} faces)", m["queries"].as_str().unwrap_or("?"), m["query_faces"])]),
        json!(["vote", format!("{} of the k = {} nearest gallery faces", m["vote"].as_str().unwrap_or("?"), m["k"])]),
        json!(["tolerance", format!("{} ({})", score(&m["tolerance"]), m["tolerance_origin"].as_str().unwrap_or(""))]),
        json!(["named / unknown", format!("{} / {}", m["named"], m["unknown"])]),
    ];
    let o = &m["scores"];
    let labelled = !o.is_null();
    if labelled {
        rows.push(json!(["known people named correctly", format!("{} of {} queries", score(&o["known_accuracy"]), o["known_queries"])]));
        rows.push(json!(["known people named as someone else", score(&o["known_misnamed"])]));
        rows.push(json!(["known people taken for unknown", score(&o["false_unknown"])]));
        rows.push(json!(["unknown people turned away", format!("{} of {} queries", score(&o["unknown_rejected"]), o["unknown_queries"])]));
    }
    let people: Vec<String> =
        m["people"].as_array().map(|p| p.iter().map(|v| v.as_str().unwrap_or("?").to_string()).collect()).unwrap_or_default();
    Head {
        summary: format!("{}: faces of {} matched against a gallery of known people", m["source"].as_str().unwrap_or("?"), m["queries"].as_str().unwrap_or("?")),
        table: json!({ "header": ["", "value"], "rows": rows, "left": [0, 1] }),
        note: "The map shows the gallery's faces and the queries (ringed) together; the regions are where the known people's faces would place a new one.".into(),
        source: m["source"].as_str().unwrap_or("").into(),
        labelled: true,
        normalized: false,
        gallery_rows: m["gallery_faces"].as_u64().unwrap_or(0) as usize,
        group_names: Some((super::matches::MATCHED_COLUMN.into(), people)),
    }
}

/// Everything the page shows, as the JSON its script reads.
fn page_data(dir: &Path, shown_as: &Path) -> Result<Value> {
    let super::Index { paths, identity, names } = super::read_index(dir)?;
    let n = paths.len();
    // exists(), not is_file(): a pipe or folder called scores.json is an error that names
    // it (read_json), not a sign of a match run.
    let scores = dir.join(SCORES_FILE);
    let head = if scores.exists() {
        clustering_head(&read_json(&scores)?, n, &names)
    } else {
        match_head(&read_json(&dir.join(super::matches::SUMMARY_FILE))?)
    };
    let bad = |file: &str, reason: String| Error::Data { path: dir.join(file), reason };
    let clusters_csv = read_csv(&dir.join(CLUSTERS_FILE))?;
    check_rows(dir, CLUSTERS_FILE, clusters_csv.rows.len(), n)?;
    let mut clusters = Vec::new();
    for (col, method) in clusters_csv.header.iter().enumerate().skip(2) {
        let labels: Vec<i64> = clusters_csv
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| r[col].parse().map_err(|_| bad(CLUSTERS_FILE, format!("row {i}: {method} label {:?} is not a number", r[col]))))
            .collect::<Result<_>>()?;
        let group_names = head.group_names.as_ref().filter(|(c, _)| c == method).map(|(_, names)| names.clone());
        clusters.push(json!({ "method": method, "labels": labels, "names": group_names }));
    }

    let layouts = layouts(dir, n, head.normalized)?;
    let thumbs: Vec<String> = paths.par_iter().map(|p| thumbnail(Path::new(p)).unwrap_or_default()).collect();
    let config = head
        .source
        .strip_prefix("cnn ")
        .and_then(|ck| read_text(&Path::new(ck).join(crate::model::checkpoint::CONFIG_FILE)).ok().map(|c| (ck.to_string(), c)));
    Ok(json!({
        "run": shown_as.display().to_string(),
        "summary": head.summary,
        "table": head.table,
        "note": head.note,
        "source": head.source,
        "paths": paths,
        "identity": identity,
        "names": names,
        "labelled": head.labelled,
        "gallery_rows": head.gallery_rows,
        "clusters": clusters,
        "layouts": layouts,
        "thumbs": thumbs,
        "checkpoint": config.as_ref().map(|c| c.0.clone()),
        "config": config.map(|c| c.1),
    }))
}

/// Refuses a run file whose `rows` disagree with the `n` rows of `index.csv`: the page
/// would draw some faces and silently drop the rest, or pair faces with others' points.
fn check_rows(dir: &Path, file: &str, rows: usize, n: usize) -> Result<()> {
    if rows != n {
        return Err(Error::Data { path: dir.join(file), reason: format!("{rows} rows, but {INDEX_FILE} has {n}") });
    }
    Ok(())
}

/// The 2-D layouts of the run: `layouts.csv` when the run drew its charts, else t-SNE
/// and UMAP computed here from `embeddings.npy` (normalised as the run's were).
fn layouts(dir: &Path, n: usize, normalized: bool) -> Result<Vec<Value>> {
    let path = dir.join(LAYOUTS_FILE);
    // A pipe or folder in its place is an error naming it, not a reason to recompute.
    check_regular(&path, true)?;
    if path.exists() {
        let table = read_csv(&path)?;
        check_rows(dir, LAYOUTS_FILE, table.rows.len(), n)?;
        let header = &table.header;
        if header.len() % 2 != 1 {
            let reason = format!("{} columns, not row and then an x and a y column per layout", header.len());
            return Err(Error::Data { path, reason });
        }
        let mut out = Vec::new();
        for col in (1..header.len()).step_by(2) {
            let name = header[col].strip_suffix("_x").unwrap_or(&header[col]).to_string();
            // write_layouts writes f32's Display, which parses back ("NaN" included).
            let coord = |c: usize| -> Result<Vec<f32>> {
                (table.rows.iter().enumerate())
                    .map(|(i, r)| {
                        r[c].parse().map_err(|_| Error::Data {
                            path: path.clone(),
                            reason: format!("row {i}: {} {:?} is not a number", header[c], r[c]),
                        })
                    })
                    .collect()
            };
            out.push(json!({ "name": name, "x": coord(col)?, "y": coord(col + 1)? }));
        }
        return Ok(out);
    }
    let x = read_npy(&dir.join(EMBEDDINGS_FILE))?;
    check_rows(dir, EMBEDDINGS_FILE, x.nrows(), n)?;
    let x = if normalized { crate::neighbors::l2_normalize(x.view()) } else { x };
    Ok(super::project_all(x.view(), 0)
        .into_iter()
        .map(|(name, y)| json!({ "name": name, "x": y.column(0).to_vec(), "y": y.column(1).to_vec() }))
        .collect())
}

/// A face as a small JPEG data URI, None when the file no longer decodes.
fn thumbnail(path: &Path) -> Option<String> {
    let chw = load_image(path, ImageSpec { size: THUMB, channels: 3 }).ok()?;
    let rgb = super::montage::rgb(&chw);
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, JPEG_QUALITY)
        .encode(&rgb, THUMB as u32, THUMB as u32, image::ExtendedColorType::Rgb8)
        .ok()?;
    Some(format!("data:image/jpeg;base64,{}", base64::engine::general_purpose::STANDARD.encode(jpeg)))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The page: static HTML around the data, which its script renders.
fn page(data: &Value) -> Result<String> {
    // No "<" at all inside the script element: "</script" would end it early, and "<!--"
    // followed by "<script" would put the parser in a state where the real end tag no
    // longer ends it (the page is blank). JSON reads \u003c back as "<"; only strings
    // can hold one.
    let json = serde_json::to_string(data).map_err(|e| Error::Invalid(e.to_string()))?.replace('<', "\\u003c");
    let title = format!("facemb report: {}", data["run"].as_str().unwrap_or("run"));
    Ok(TEMPLATE.replace("{{title}}", &escape(&title)).replace("{{data}}", &json))
}

const TEMPLATE: &str = include_str!("report.html");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_escapes_what_would_end_its_script_or_markup() {
        let names = ["</script><b>", "<!--<script>", "a < b"];
        let data = json!({ "run": "a<b", "names": names });
        let html = page(&data).unwrap();
        assert!(html.contains("<title>facemb report: a&lt;b</title>"));
        let start = "<script id=\"data\" type=\"application/json\">";
        let block = html.split(start).nth(1).unwrap().split("</script>").next().unwrap();
        assert!(!block.contains('<'), "{block}");
        let back: Value = serde_json::from_str(block).unwrap();
        assert_eq!(back["names"], json!(names));
    }
}
