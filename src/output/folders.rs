//! Clusters kept as folders (`--save-clusters DIR`): every image copied, or hard-linked
//! with `--link`, into `DIR/cluster_<id>/`, noise into `DIR/noise/`, and `DIR/clusters.csv`
//! saying where each file went. The originals are never moved or changed.
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
        for (i, src) in emb.paths.iter().enumerate() {
            let sub = if labels[i] < 0 { NOISE_DIR.to_string() } else { format!("cluster_{}", labels[i]) };
            let dir = root.join(&sub);
            if made.insert(sub.clone()) {
                std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            }
            let file = copy_name(&dir, src, &emb.names[emb.identity[i]]);
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
                Path::new(&sub).join(&file).to_string_lossy().into_owned(),
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

/// Whether `name` is a folder [`ClusterFolders::write`] makes.
fn is_cluster_folder(name: &str) -> bool {
    name == NOISE_DIR || name.strip_prefix("cluster_").is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
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
    }
}
