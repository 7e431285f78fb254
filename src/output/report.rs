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

use super::{CLUSTERS_FILE, EMBEDDINGS_FILE, INDEX_FILE, LAYOUTS_FILE, MatchSummary, SCORES_FILE, table};
use crate::error::{Error, Result};
use crate::evaluate::Scores;
use crate::files::{atomic_write, check_regular, read_csv, read_npy, read_text};
use crate::image::ImageSpec;
use crate::image::decode::load_image;
use crate::progress::Reporter;

pub const REPORT_FILE: &str = "report.html";
/// Thumbnail side in pixels: 48 × 48 colour JPEGs are about 1.3 kB each, so 5 000 faces
/// make a page of about 9 MB.
const THUMB: usize = 48;
const JPEG_QUALITY: u8 = 80;

/// Writes `dir/report.html` from the run files in `dir`; `shown_as` is the folder's name
/// in the page (its final path when `dir` is a staging folder). Returns the page's size in bytes.
pub fn write(dir: &Path, shown_as: &Path, reporter: Reporter) -> Result<usize> {
    let data = page_data(dir, shown_as, reporter)?;
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
    /// The checkpoint that made the vectors (its config is shown).
    checkpoint: Option<std::path::PathBuf>,
    labelled: bool,
    normalized: bool,
    /// Rows of the gallery at the top of a match run (0 otherwise).
    gallery_rows: usize,
    /// Names of the groups of a clusters.csv column (a match run's "matched" people).
    group_names: Option<(String, Vec<String>)>,
}

/// A run file read back into the type that wrote it.
fn read_typed<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = read_text(path)?;
    serde_json::from_str(&text).map_err(|e| Error::Data { path: path.to_path_buf(), reason: e.to_string() })
}

/// The head of an `infer` / `pixels` run, from its `scores.json`; `names` are the
/// identities of `index.csv`.
fn clustering_head(s: &Scores, names: &[String]) -> Head {
    // A file written before `labelled` existed reads as labelled: its one unlabelled
    // name still says it.
    let labelled = s.labelled && names != [crate::image::folder::UNLABELLED];
    let s = Scores { labelled, ..s.clone() };
    Head {
        summary: table::headline(&s),
        table: json!({ "header": table::HEADER, "rows": table::rows(&s), "left": [0, 7] }),
        note: table::footnote(&s),
        source: s.source.clone(),
        checkpoint: s.checkpoint.clone(),
        labelled,
        normalized: s.normalized,
        gallery_rows: 0,
        group_names: None,
    }
}

/// The head of a `match` run, from its `match.json`.
fn match_head(m: &MatchSummary) -> Head {
    let share = |v: f64| table::score(Some(v));
    let mut rows = vec![
        json!(["gallery", format!("{} ({} people, {} faces)", m.gallery.display(), m.gallery_people, m.gallery_faces)]),
        json!(["queries", format!("{} ({} faces)", m.queries.display(), m.query_faces)]),
        json!([
            "vote",
            format!(
                "{} of the k = {} nearest gallery faces",
                serde_json::to_value(m.vote).unwrap_or_default().as_str().unwrap_or("?"),
                m.k
            )
        ]),
        json!(["tolerance", format!("{} ({})", share(m.tolerance as f64), m.tolerance_origin)]),
        json!(["named / unknown", format!("{} / {}", m.named, m.unknown)]),
    ];
    if let Some(o) = &m.scores {
        rows.push(json!(["known people named correctly", format!("{} of {} queries", share(o.known_accuracy), o.known_queries)]));
        rows.push(json!(["known people named as someone else", share(o.known_misnamed)]));
        rows.push(json!(["known people taken for unknown", share(o.false_unknown)]));
        rows.push(json!(["unknown people turned away", format!("{} of {} queries", share(o.unknown_rejected), o.unknown_queries)]));
    }
    Head {
        summary: format!("{}: faces of {} matched against a gallery of known people", m.source, m.queries.display()),
        table: json!({ "header": ["", "value"], "rows": rows, "left": [0, 1] }),
        note: "The map shows the gallery's faces and the queries (ringed) together; the regions are where the known people's faces would place a new one.".into(),
        source: m.source.clone(),
        checkpoint: m.checkpoint.clone(),
        labelled: true,
        normalized: false,
        gallery_rows: m.gallery_faces,
        group_names: Some((super::MATCHED_COLUMN.into(), m.people.clone())),
    }
}

/// Everything the page shows, as the JSON its script reads.
fn page_data(dir: &Path, shown_as: &Path, reporter: Reporter) -> Result<Value> {
    let super::Index { paths, identity, names } = super::read_index(dir)?;
    let n = paths.len();
    // exists(), not is_file(): a pipe or folder called scores.json is an error that names
    // it (read_json), not a sign of a match run.
    let scores = dir.join(SCORES_FILE);
    let head = if scores.exists() {
        clustering_head(&read_typed(&scores)?, &names)
    } else {
        match_head(&read_typed(&dir.join(super::SUMMARY_FILE))?)
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

    let layouts = layouts(dir, n, head.normalized, reporter)?;
    let thumbs: Vec<String> = paths.par_iter().map(|p| thumbnail(Path::new(p)).unwrap_or_default()).collect();
    let config = head
        .checkpoint
        .as_ref()
        .and_then(|ck| read_text(&ck.join(crate::model::checkpoint::CONFIG_FILE)).ok().map(|c| (ck.display().to_string(), c)));
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
        "automatic": crate::cluster::Method::AUTOMATIC.name(),
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
fn layouts(dir: &Path, n: usize, normalized: bool, reporter: Reporter) -> Result<Vec<Value>> {
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
    Ok(super::project_all(x.view(), 0, reporter)
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
