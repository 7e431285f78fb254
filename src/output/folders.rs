//! Clusters kept as folders (`--save-clusters DIR`): every image copied, or hard-linked
//! with `--link`, into `DIR/cluster_<id>/`, noise into `DIR/noise/`, and `DIR/clusters.csv`
//! saying where each file went. The originals are never moved or changed.
use std::path::{Path, PathBuf};

use crate::cluster::Method;
use crate::embed::Embeddings;
use crate::error::{Error, Result};
use crate::files::{Csv, Staged};

pub const CLUSTERS_CSV: &str = "clusters.csv";
pub const NOISE_DIR: &str = "noise";

/// The clustering kept as folders: the automatic default, average linkage, when it ran.
pub const PREFERRED: Method = Method::Linkage;

/// A `--save-clusters` destination, checked and locked before any work.
pub struct ClusterFolders {
    staged: Staged,
    link: bool,
}

impl ClusterFolders {
    /// Refuses a `dir` that is a file, lies inside the input folder, or is not empty
    /// (unless `force`: then it is replaced whole when the new folders are complete).
    pub fn begin(dir: &Path, input: &Path, link: bool, force: bool) -> Result<Self> {
        super::check_destination("--save-clusters", dir, input)?;
        let empty = std::fs::read_dir(dir).map(|mut r| r.next().is_none()).unwrap_or(true);
        if !empty && !force {
            return Err(Error::Output {
                flag: "--save-clusters",
                path: dir.to_path_buf(),
                reason: "is not empty; choose a new folder, or pass --force to replace it".into(),
            });
        }
        Ok(ClusterFolders { staged: Staged::begin("clusters", dir)?, link })
    }

    /// Writes the folders of `labels` (one cluster id per row of `emb`, −1 = noise) and
    /// puts them in place. Returns how many clusters were written.
    pub fn write(self, emb: &Embeddings, method: Method, labels: &[i64]) -> Result<usize> {
        let root = self.staged.dir().to_path_buf();
        let mut csv = Csv::new(["path", "identity", "method", "cluster", "copy"]);
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
            done.map_err(|e| Error::io(src, e))?;
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

/// The copy's file name: `<identity>_<file>` (AT&T has a `01.png` in every person's
/// folder), with a number added if that is still taken.
fn copy_name(dir: &Path, src: &Path, identity: &str) -> PathBuf {
    let file = src.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let base = if identity.is_empty() { file } else { format!("{identity}_{file}") };
    let mut name = PathBuf::from(&base);
    let mut n = 1;
    while dir.join(&name).exists() {
        n += 1;
        name = PathBuf::from(format!("{n}_{base}"));
    }
    name
}
