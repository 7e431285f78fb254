//! Clusters kept as folders (`--save-clusters DIR`): every image copied, or hard-linked
//! with `--link`, into `DIR/person_001/` (the largest cluster first, with the name most of
//! its faces carry when the folder names people: `person_001_s21/`), noise into
//! `DIR/noise/`, and `DIR/clusters.csv` saying where each file went. The originals are
//! never moved or changed.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cluster::Method;
use crate::embed::Embeddings;
use crate::error::{Error, Result};
use crate::files::{Claims, Csv, Replaceable, Staged, may_replace};
use crate::progress::Reporter;

pub const CLUSTERS_CSV: &str = "clusters.csv";
const FLAG: &str = "--save-clusters";
/// The columns of `DIR/clusters.csv`; its header line marks a folder facemb wrote.
const COLUMNS: [&str; 5] = ["path", "identity", "method", "cluster", "copy"];
const HEADER: &str = "path,identity,method,cluster,copy\n";
pub const NOISE_DIR: &str = "noise";

/// The clustering kept as folders: the automatic grouping, when it ran.
pub const PREFERRED: Method = Method::AUTOMATIC;

/// A `--save-clusters` destination, checked and locked before any work.
pub struct ClusterFolders {
    staged: Staged,
    link: bool,
}

impl ClusterFolders {
    /// Refuses a `dir` that is a file, is, holds or lies inside a path the run reads or
    /// writes elsewhere (`claims`), or is not empty (unless `force`: then it is replaced
    /// whole when the new folders are complete, and only if it holds nothing but cluster
    /// folders facemb wrote, with their `clusters.csv`). A repair of an interrupted
    /// replacement is said through `reporter`.
    pub fn begin(dir: &Path, claims: &Claims, link: bool, force: bool, reporter: Reporter) -> Result<Self> {
        let refuse = |reason: &str| Error::Output { flag: FLAG, path: dir.to_path_buf(), reason: reason.into() };
        let empty = std::fs::read_dir(dir).map(|mut r| r.next().is_none()).unwrap_or(true);
        if !empty && !force && dir.is_dir() {
            return Err(refuse("is not empty; choose a new folder, or pass --force to replace cluster folders facemb wrote there"));
        }
        let ours = |name: &str| is_cluster_folder(name) || name == CLUSTERS_CSV;
        let hint = "--force replaces only cluster folders facemb wrote; choose a new folder";
        may_replace(FLAG, dir, claims, Replaceable::Folder { ours: &ours, hint })?;
        // The marker of a folder facemb wrote: its clusters.csv, with facemb's header.
        let marker = dir.join(CLUSTERS_CSV);
        if !empty && crate::files::first_bytes(&marker, HEADER.len()).ok().as_deref() != Some(HEADER.as_bytes()) {
            return Err(refuse(
                "has no clusters.csv of facemb's, so facemb did not write it; --force replaces only cluster folders facemb wrote",
            ));
        }
        Ok(ClusterFolders { staged: Staged::begin("clusters", dir, reporter)?, link })
    }

    /// Writes the folders of `labels` (one cluster id per row of `emb`, −1 = noise) and
    /// puts them in place. Returns how many clusters were written.
    pub fn write(self, emb: &Embeddings, method: Method, labels: &[i64]) -> Result<usize> {
        let root = self.staged.dir().to_path_buf();
        let mut csv = Csv::new(COLUMNS);
        let mut made = std::collections::BTreeSet::new();
        let names = cluster_names(emb, labels);
        for (i, src) in emb.paths.iter().enumerate() {
            let sub = &names[&labels[i]];
            let dir = root.join(sub);
            if made.insert(sub.clone()) {
                std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            }
            // An unlabelled folder's one name says nothing: its files keep their own names.
            let identity = if emb.labelled { emb.names[emb.identity[i]].as_str() } else { "" };
            let file = copy_name(&dir, src, identity);
            let dst = dir.join(&file);
            let done = if self.link {
                std::fs::hard_link(src, &dst).or_else(|_| std::fs::copy(src, &dst).map(|_| ()))
            } else {
                std::fs::copy(src, &dst).map(|_| ())
            };
            done.map_err(|e| Error::Copy { from: src.clone(), to: dst.clone(), source: e })?;
            csv.row([
                src.to_string_lossy().into_owned(),
                emb.names[emb.identity[i]].clone(),
                method.name().to_string(),
                labels[i].to_string(),
                Path::new(sub).join(&file).to_string_lossy().into_owned(),
            ]);
        }
        csv.write(&root.join(CLUSTERS_CSV))?;
        self.staged.commit()?;
        Ok(made.iter().filter(|s| *s != NOISE_DIR).count())
    }

    pub fn path(&self) -> &Path {
        self.staged.target()
    }
}

/// Whether `name` is a folder [`ClusterFolders::write`] makes (`person_<n>`, with or
/// without `_<name>`, or `noise`), or made before clusters were named by size
/// (`cluster_<id>`): `--force` replaces those too.
fn is_cluster_folder(name: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let person = name.strip_prefix("person_").is_some_and(|rest| match rest.split_once('_') {
        Some((n, who)) => digits(n) && !who.is_empty(),
        None => digits(rest),
    });
    name == NOISE_DIR || person || name.strip_prefix("cluster_").is_some_and(digits)
}

/// Longest person name in a cluster's folder name, in bytes.
const MAX_PERSON: usize = 80;

/// The name of every cluster of `labels` (−1 = noise): `person_001` for the largest, then
/// in size order (ties by cluster id), zero-padded so that a file browser lists them in
/// that order; `_<name>` added when the folder names people, the name most of the
/// cluster's faces carry; `noise` for the faces no cluster took. The folders of
/// `--save-clusters` and the pictures of `--montage` are named by it.
pub fn cluster_names(emb: &Embeddings, labels: &[i64]) -> BTreeMap<i64, String> {
    let mut members: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (row, &l) in labels.iter().enumerate() {
        members.entry(l).or_default().push(row);
    }
    let mut clusters: Vec<(&i64, &Vec<usize>)> = members.iter().filter(|(l, _)| **l >= 0).collect();
    clusters.sort_by_key(|(l, rows)| (std::cmp::Reverse(rows.len()), **l));
    let width = clusters.len().to_string().len().max(3);
    let mut names: BTreeMap<i64, String> = clusters
        .iter()
        .enumerate()
        .map(|(rank, (l, rows))| {
            let mut name = format!("person_{:0width$}", rank + 1);
            if let Some((id, _)) = majority(emb, rows) {
                name.push('_');
                name.push_str(&file_safe(&emb.names[id], MAX_PERSON));
            }
            (**l, name)
        })
        .collect();
    if members.contains_key(&-1) {
        names.insert(-1, NOISE_DIR.into());
    }
    names
}

/// The name most of `rows` carry and how many carry it (ties: the first name), when the
/// folder names people.
pub fn majority(emb: &Embeddings, rows: &[usize]) -> Option<(usize, usize)> {
    if !emb.labelled {
        return None;
    }
    let mut count: BTreeMap<usize, usize> = BTreeMap::new();
    for &r in rows {
        *count.entry(emb.identity[r]).or_default() += 1;
    }
    count.into_iter().max_by_key(|&(id, n)| (n, std::cmp::Reverse(id)))
}

/// `name` as one path component: separators and control characters as `_`, cut to
/// `max` bytes on a character boundary.
pub fn file_safe(name: &str, max: usize) -> String {
    let mut s: String = name.chars().map(|c| if c == '/' || c == '\\' || c.is_control() { '_' } else { c }).collect();
    let mut cut = s.len().min(max);
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    if s.is_empty() || s == "." || s == ".." { "_".into() } else { s }
}

/// Longest copy name in bytes: file systems allow 255, and the identity prefix and a
/// collision number come on top of the original's name.
const MAX_NAME: usize = 200;

/// The copy's file name: `<identity>_<file>` (AT&T has a `01.png` in every person's
/// folder), with a number added if that is still taken. A name too long for the file
/// system is cut, keeping its extension, with a short hash of the whole name so that two
/// long names stay apart.
fn copy_name(dir: &Path, src: &Path, identity: &str) -> PathBuf {
    let file = src.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut base = if identity.is_empty() { file } else { format!("{identity}_{file}") };
    if base.len() > MAX_NAME {
        let ext = Path::new(&base).extension().map(|e| format!(".{}", e.to_string_lossy())).filter(|e| e.len() < 16).unwrap_or_default();
        let hash = crate::files::fnv1a(base.bytes()) as u32;
        let mut cut = MAX_NAME - ext.len() - 10;
        while !base.is_char_boundary(cut) {
            cut -= 1;
        }
        base = format!("{}-{hash:08x}{ext}", &base[..cut]);
    }
    let mut name = PathBuf::from(&base);
    let mut n = 1;
    while dir.join(&name).exists() {
        n += 1;
        name = PathBuf::from(format!("{n}_{base}"));
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_file_name_is_cut_keeping_its_extension_and_apart_from_another() {
        let tmp = tempfile::tempdir().unwrap();
        let long = |c: char| PathBuf::from(format!("in/{}.jpeg", c.to_string().repeat(250)));
        let (a, b) = (copy_name(tmp.path(), &long('a'), "ann"), copy_name(tmp.path(), &long('b'), "ann"));
        for n in [&a, &b] {
            let s = n.to_str().unwrap();
            assert!(s.len() <= MAX_NAME && s.ends_with(".jpeg") && s.starts_with("ann_"), "{s}");
        }
        assert_ne!(a, b);
        assert_eq!(copy_name(tmp.path(), Path::new("x/01.png"), "s1"), PathBuf::from("s1_01.png"));
        assert!(
            is_cluster_folder("cluster_12") && is_cluster_folder("noise") && !is_cluster_folder("cluster_") && !is_cluster_folder("in")
        );
        assert!(is_cluster_folder("person_001") && is_cluster_folder("person_012_Ann Lee") && is_cluster_folder("person_1234"));
        assert!(
            !is_cluster_folder("person_")
                && !is_cluster_folder("person_01_")
                && !is_cluster_folder("person_x")
                && !is_cluster_folder("persons")
        );
    }

    fn faces(names: &[&str], identity: Vec<usize>, labelled: bool) -> Embeddings {
        let n = identity.len();
        Embeddings {
            matrix: ndarray::Array2::zeros((n, 2)),
            paths: (0..n).map(|i| PathBuf::from(format!("{i}.png"))).collect(),
            identity,
            names: names.iter().map(|s| s.to_string()).collect(),
            labelled,
            p_face: None,
            skipped: Vec::new(),
        }
    }

    #[test]
    fn clusters_are_named_largest_first_zero_padded_with_their_majority_name() {
        // Cluster 7 has three faces (two of bob), cluster 2 two of ann, cluster 5 one;
        // one face is noise.
        let emb = faces(&["ann", "bob/x"], vec![0, 0, 1, 1, 0, 0, 1], true);
        let labels = [2, 2, 7, 7, 7, 5, -1];
        let names = cluster_names(&emb, &labels);
        let want = [(-1, "noise"), (2, "person_002_ann"), (5, "person_003_ann"), (7, "person_001_bob_x")];
        assert_eq!(names, want.iter().map(|&(l, n)| (l, n.to_string())).collect::<BTreeMap<_, _>>());
        // Unlabelled: numbers only. Width grows past 999 clusters, so the order stays.
        let plain = faces(&["(unlabelled)"], vec![0; 3], false);
        let names = cluster_names(&plain, &[0, 1, 1]);
        assert_eq!((names[&1].as_str(), names[&0].as_str()), ("person_001", "person_002"));
        let many = faces(&["(unlabelled)"], vec![0; 1200], false);
        let names = cluster_names(&many, &(0..1200).collect::<Vec<i64>>());
        assert_eq!((names[&0].as_str(), names[&1199].as_str()), ("person_0001", "person_1200"));
        let mut sorted: Vec<&String> = names.values().collect();
        sorted.sort();
        assert_eq!(sorted[9], "person_0010");
        assert_eq!(file_safe("a/b\\c\nd", 80), "a_b_c_d");
        assert_eq!(file_safe("ééé", 3), "é");
        assert_eq!(file_safe("..", 80), "_");
    }

    #[test]
    fn kept_files_keep_their_own_name_when_the_folder_names_no_one() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("IMG_0001.jpg");
        std::fs::write(&src, "jpeg").unwrap();
        let mut emb = faces(&["(unlabelled)"], vec![0], false);
        emb.paths = vec![src.clone()];
        let kept = tmp.path().join("kept");
        let claims = Claims::new().input("-id", &src);
        ClusterFolders::begin(&kept, &claims, false, false, Reporter::SILENT).unwrap().write(&emb, Method::Linkage, &[0]).unwrap();
        assert_eq!(std::fs::read_to_string(kept.join("person_001/IMG_0001.jpg")).unwrap(), "jpeg");
        emb.labelled = true;
        emb.names = vec!["Ann".into()];
        let again = tmp.path().join("again");
        ClusterFolders::begin(&again, &claims, false, false, Reporter::SILENT).unwrap().write(&emb, Method::Linkage, &[0]).unwrap();
        assert!(again.join("person_001_Ann/Ann_IMG_0001.jpg").is_file());
    }
}
