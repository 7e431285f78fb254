//! `bench-albums`: the album benchmark of issue 32. A labelled folder is embedded once, as
//! `infer` embeds it with default flags; albums of a few of its people are drawn (seeded,
//! or read from a draw such as docs/grouping/albums.csv); each album is clustered on its own
//! with the automatic grouping and, for comparison, with full average linkage at its
//! calibrated cut, and scored against the folder names. The whole folder is scored too, so
//! that no change trades big folders for albums.
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use ndarray::{ArrayView2, Axis};
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::backend::Backend;
use crate::cluster::{self, Method, Params};
use crate::error::{Error, Result};
use crate::evaluate::metrics::{adjusted_rand_index, cluster_counts};
use crate::progress::Reporter;

/// People in an album and images of each, drawn uniformly in these ranges (each capped by
/// what the folder has): the protocol, "2–12 people with 1–12 of their images".
pub const PEOPLE: (usize, usize) = (2, 12);
pub const IMAGES: (usize, usize) = (1, 12);

/// What the benchmark compares: the automatic grouping and the rule it replaced.
pub const COMPARED: [Method; 2] = [Method::AUTOMATIC, Method::Linkage];

/// The albums: drawn here, or read from a CSV (source, album, identity, file).
#[derive(Clone, Debug, PartialEq)]
pub enum Draw {
    Seeded { albums: usize, seed: u64 },
    Csv(PathBuf),
}

/// `facemb bench-albums`: what to embed and how to draw.
#[derive(Clone, Debug)]
pub struct AlbumBench {
    pub folder: PathBuf,
    pub model: PathBuf,
    pub draw: Draw,
    pub backend: Backend,
    pub batch_size: usize,
    pub reporter: Reporter,
}

/// One method's scores over the albums and on the whole folder.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AlbumScores {
    pub method: &'static str,
    pub mean_ari: f64,
    /// Share of albums clustered with ARI ≥ 0.9.
    pub share_good: f64,
    /// Median over albums of clusters ÷ people in the album.
    pub clusters_per_person: f64,
    /// ARI and clusters of the whole folder; None where the method was over its memory budget.
    pub folder: Option<(f64, usize)>,
}

/// What `bench-albums` found.
#[derive(Clone, Debug, Serialize)]
pub struct AlbumReport {
    pub folder: PathBuf,
    pub images: usize,
    pub people: usize,
    pub albums: usize,
    pub album_images: usize,
    pub scores: Vec<AlbumScores>,
}

/// Embeds `b.folder`, draws its albums and scores [`COMPARED`] on them.
pub fn run(b: &AlbumBench) -> Result<AlbumReport> {
    let (emb, params) = crate::commands::infer::embed_as_infer(&b.model, &b.folder, b.backend, b.batch_size, b.reporter)?;
    let albums = match &b.draw {
        Draw::Seeded { albums, seed } => draw(&emb.identity, *albums, *seed)?,
        Draw::Csv(csv) => read_albums(csv, &b.folder, &emb.paths)?,
    };
    Ok(AlbumReport {
        folder: b.folder.clone(),
        images: emb.paths.len(),
        people: emb.names.len(),
        albums: albums.len(),
        album_images: albums.iter().map(Vec::len).sum(),
        scores: score(emb.matrix.view(), &emb.identity, &albums, &params, b.reporter)?,
    })
}

/// `albums` albums of the rows labelled `identity`: each [`PEOPLE`] people drawn without
/// replacement, each bringing [`IMAGES`] of their rows, drawn without replacement; rows of
/// an album in row order. Depends only on the labels and `seed`.
pub fn draw(identity: &[usize], albums: usize, seed: u64) -> Result<Vec<Vec<usize>>> {
    let mut by_person: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (row, &p) in identity.iter().enumerate() {
        by_person.entry(p).or_default().push(row);
    }
    let people: Vec<Vec<usize>> = by_person.into_values().collect();
    if people.len() < PEOPLE.0 {
        return Err(Error::Invalid(format!("albums need at least {} people, the folder has {}", PEOPLE.0, people.len())));
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(albums);
    for _ in 0..albums {
        let p = rng.random_range(PEOPLE.0..=PEOPLE.1.min(people.len()));
        let mut chosen = rand::seq::index::sample(&mut rng, people.len(), p).into_vec();
        chosen.sort_unstable();
        let mut album = Vec::new();
        for c in chosen {
            let rows = &people[c];
            let k = rng.random_range(IMAGES.0..=IMAGES.1.min(rows.len()));
            let mut pick = rand::seq::index::sample(&mut rng, rows.len(), k).into_vec();
            pick.sort_unstable();
            album.extend(pick.into_iter().map(|i| rows[i]));
        }
        album.sort_unstable();
        out.push(album);
    }
    Ok(out)
}

/// The albums of `csv` (columns source, album, identity, file) drawn from the folder
/// `root` (rows whose source is its name), as rows of `paths` (`root/identity/file`), in
/// album order. A file the folder lacks is an error naming it.
pub fn read_albums(csv: &Path, root: &Path, paths: &[PathBuf]) -> Result<Vec<Vec<usize>>> {
    let name = crate::commands::infer::folder_name(root);
    let bad = |reason: String| Error::Data { path: csv.to_path_buf(), reason };
    let key = |p: &Path| {
        let file = p.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let person = p.parent().and_then(Path::file_name).map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        (person, file)
    };
    let row_of: HashMap<(String, String), usize> = paths.iter().enumerate().map(|(i, p)| (key(p), i)).collect();
    let mut reader = csv::Reader::from_path(csv).map_err(|e| bad(e.to_string()))?;
    let header = reader.headers().map_err(|e| bad(e.to_string()))?.clone();
    let col = |c: &str| {
        header.iter().position(|h| h == c).ok_or_else(|| bad(format!("no column {c:?} (expected source, album, identity, file)")))
    };
    let (source, album, identity, file) = (col("source")?, col("album")?, col("identity")?, col("file")?);
    let mut albums: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (line, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| bad(e.to_string()))?;
        if rec.get(source) != Some(name.as_str()) {
            continue;
        }
        let field = |i: usize| rec.get(i).unwrap_or_default().to_string();
        let a: u64 = field(album).parse().map_err(|_| bad(format!("line {}: album {:?} is not a number", line + 2, field(album))))?;
        let (who, what) = (field(identity), field(file));
        let row = row_of
            .get(&(who.clone(), what.clone()))
            .ok_or_else(|| bad(format!("line {}: {who}/{what} is not an image of {}", line + 2, root.display())))?;
        albums.entry(a).or_default().push(*row);
    }
    if albums.is_empty() {
        return Err(bad(format!("no album drawn from {name} (its source column never says {name:?})")));
    }
    Ok(albums.into_values().collect())
}

/// [`COMPARED`]'s scores on `albums` (rows of `x`, labelled `identity`), each album
/// clustered on its own with `params`, and on all of `x`.
pub fn score(
    x: ArrayView2<f32>,
    identity: &[usize],
    albums: &[Vec<usize>],
    params: &Params,
    reporter: Reporter,
) -> Result<Vec<AlbumScores>> {
    let people = |rows: &[usize]| rows.iter().map(|&r| identity[r]).collect::<std::collections::HashSet<_>>().len();
    let mut out = Vec::new();
    for m in COMPARED {
        let (mut aris, mut per_person) = (Vec::new(), Vec::new());
        for album in albums {
            let xs = x.select(Axis(0), album);
            let truth: Vec<usize> = album.iter().map(|&r| identity[r]).collect();
            let (labels, _) = cluster::run(m, xs.view(), params, people(album))?;
            aris.push(adjusted_rand_index(&truth, &labels));
            per_person.push(cluster_counts(&labels).0 as f64 / people(album) as f64);
        }
        let all: Vec<usize> = (0..x.nrows()).collect();
        let folder = match cluster::run(m, x, params, people(&all)) {
            Ok((labels, _)) => Some((adjusted_rand_index(identity, &labels), cluster_counts(&labels).0)),
            Err(e @ Error::TooLarge { .. }) => {
                reporter.note(format!("note: the whole folder is not scored with {}: {e}", m.name()));
                None
            }
            Err(e) => return Err(e),
        };
        let n = aris.len().max(1) as f64;
        out.push(AlbumScores {
            method: m.name(),
            mean_ari: aris.iter().sum::<f64>() / n,
            share_good: aris.iter().filter(|&&a| a >= 0.9).count() as f64 / n,
            clusters_per_person: super::median(&per_person),
            folder,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::blobs;

    #[test]
    fn a_draw_keeps_to_the_protocol_and_depends_only_on_its_seed() {
        // 15 people with 1 to 15 images each.
        let identity: Vec<usize> = (0..15).flat_map(|p| std::iter::repeat_n(p, p + 1)).collect();
        let albums = draw(&identity, 40, 32).unwrap();
        assert_eq!(albums.len(), 40);
        for a in &albums {
            let mut count: BTreeMap<usize, usize> = BTreeMap::new();
            for &r in a {
                *count.entry(identity[r]).or_default() += 1;
            }
            assert!((PEOPLE.0..=PEOPLE.1).contains(&count.len()), "{a:?}");
            assert!(count.values().all(|&k| (IMAGES.0..=IMAGES.1).contains(&k)), "{a:?}");
            assert!(a.windows(2).all(|w| w[0] < w[1]), "rows once each, in order: {a:?}");
        }
        // Every album size in range is reached, not just a few.
        let sizes: std::collections::HashSet<usize> =
            albums.iter().map(|a| a.iter().map(|&r| identity[r]).collect::<std::collections::HashSet<_>>().len()).collect();
        assert!(sizes.len() >= 6, "{sizes:?}");
        assert_eq!(albums, draw(&identity, 40, 32).unwrap());
        assert_ne!(albums, draw(&identity, 40, 33).unwrap());
        assert!(matches!(draw(&[0, 0, 0], 1, 0), Err(Error::Invalid(_))));
    }

    #[test]
    fn albums_are_read_back_from_a_csv_and_a_file_the_folder_lacks_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("people");
        let paths: Vec<PathBuf> = ["ann/1.png", "ann/2.png", "bob/1.png"].iter().map(|p| root.join(p)).collect();
        std::fs::create_dir_all(&root).unwrap();
        let csv = tmp.path().join("albums.csv");
        std::fs::write(&csv, "source,album,identity,file\nother,0,x,y.png\npeople,3,bob,1.png\npeople,1,ann,2.png\npeople,1,bob,1.png\n")
            .unwrap();
        assert_eq!(read_albums(&csv, &root, &paths).unwrap(), vec![vec![1, 2], vec![2]]);
        std::fs::write(&csv, "source,album,identity,file\npeople,0,cat,1.png\n").unwrap();
        let e = read_albums(&csv, &root, &paths).unwrap_err().to_string();
        assert!(e.contains("albums.csv") && e.contains("line 2: cat/1.png is not an image of"), "{e}");
        std::fs::write(&csv, "source,album,identity,file\nother,0,x,y.png\n").unwrap();
        let e = read_albums(&csv, &root, &paths).unwrap_err().to_string();
        assert!(e.contains("no album drawn from people"), "{e}");
    }

    #[test]
    fn separated_people_score_perfectly_in_every_album_and_the_folder() {
        // 512 dimensions: every two centres lie about equally far apart (± 2.5 %), so the
        // uncalibrated cut (0.859 of the 90th-percentile distance) falls between people in
        // every album; in 16 dimensions it merges the closest centres of an album.
        let (x, truth) = blobs(8 * 12, 512, 8, 0.5, 3);
        let albums = draw(&truth, 20, 1).unwrap();
        let s = score(x.view(), &truth, &albums, &Params::default(), Reporter::SILENT).unwrap();
        assert_eq!(s.iter().map(|m| m.method).collect::<Vec<_>>(), ["graph_linkage", "average_linkage"]);
        let graph = &s[0];
        assert_eq!((graph.mean_ari, graph.share_good, graph.clusters_per_person), (1.0, 1.0, 1.0), "{graph:?}");
        assert_eq!(graph.folder, Some((1.0, 8)));
    }
}
