//! A gallery of known people: their faces' vectors, who each shows, and what made the
//! vectors. `--save-gallery FILE` writes it as JSON so a large gallery is embedded once;
//! a gallery is only matched against vectors made the same way ([`Source`]).
use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::files::write_json;

/// The first field of a gallery file, so that any other JSON is told apart.
pub const FORMAT: &str = "facemb-gallery/1";

/// What turned faces into vectors. Two sources match when everything but the
/// description does: the same weights (by content), reading, size and normalisation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// For people: "cnn checkpoints/identity-v6" or "pixels 64x64".
    pub description: String,
    /// What must be equal: a hash of the weight file's bytes and the reading (layer,
    /// flip), or the pixel size.
    pub fingerprint: String,
    pub dim: usize,
    pub normalized: bool,
}

impl Source {
    /// Refuses vectors from `other` against a gallery made by `self`, naming both.
    pub fn check(&self, other: &Source, gallery: &Path) -> Result<()> {
        let same = (self.fingerprint.as_str(), self.dim, self.normalized) == (other.fingerprint.as_str(), other.dim, other.normalized);
        if same {
            return Ok(());
        }
        Err(Error::Data {
            path: gallery.to_path_buf(),
            reason: format!(
                "this gallery was embedded by {} ({}-d, {}); this run embeds by {} ({}-d, {}): rebuild the gallery from its folder with the same model",
                self.description, self.dim, self.fingerprint, other.description, other.dim, other.fingerprint
            ),
        })
    }
}

/// Known people and their faces' vectors; row `i` of `vectors` is `paths[i]`, showing
/// `names[person[i]]`. Every person has at least one row.
#[derive(Clone, Debug, PartialEq)]
pub struct Gallery {
    pub source: Source,
    pub vectors: Array2<f32>,
    pub person: Vec<usize>,
    pub names: Vec<String>,
    pub paths: Vec<PathBuf>,
}

/// The file as written: vectors as rows of numbers, readable by any JSON tool.
#[derive(Serialize, Deserialize)]
struct GalleryFile {
    format: String,
    source: Source,
    names: Vec<String>,
    person: Vec<usize>,
    paths: Vec<PathBuf>,
    vectors: Vec<Vec<f32>>,
}

impl Gallery {
    /// The gallery of a labelled folder's vectors. A person none of whose faces could be
    /// read is left out; their names come back for the caller to report.
    pub fn from_embeddings(emb: &crate::embed::Embeddings, source: Source) -> (Self, Vec<String>) {
        let mut seen = vec![false; emb.names.len()];
        emb.identity.iter().for_each(|&i| seen[i] = true);
        // Renumber the people who have a face, in folder order.
        let mut index = vec![usize::MAX; emb.names.len()];
        let mut names = Vec::new();
        for (i, _) in seen.iter().enumerate().filter(|(_, s)| **s) {
            index[i] = names.len();
            names.push(emb.names[i].clone());
        }
        let missing = emb.names.iter().zip(&seen).filter(|(_, s)| !**s).map(|(n, _)| n.clone()).collect();
        let gallery = Gallery {
            source,
            vectors: emb.matrix.clone(),
            person: emb.identity.iter().map(|&i| index[i]).collect(),
            names,
            paths: emb.paths.clone(),
        };
        (gallery, missing)
    }

    /// Writes the gallery to `path` whole (a hidden temporary file renamed into place).
    /// Refuses to replace a file that is not a facemb gallery: it may be the user's.
    pub fn save(&self, path: &Path) -> Result<()> {
        if path.exists() && Gallery::read_file(path).is_err() {
            return Err(Error::Output {
                flag: "--save-gallery",
                path: path.to_path_buf(),
                reason: "exists and is not a facemb gallery; choose another file name".into(),
            });
        }
        let file = GalleryFile {
            format: FORMAT.into(),
            source: self.source.clone(),
            names: self.names.clone(),
            person: self.person.clone(),
            paths: self.paths.clone(),
            vectors: self.vectors.rows().into_iter().map(|r| r.to_vec()).collect(),
        };
        let name = path.file_name().map_or("gallery".into(), |n| n.to_string_lossy().into_owned());
        let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
        write_json(&tmp, &file)?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(path, e)
        })
    }

    /// Reads a gallery written by [`Gallery::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let file = Gallery::read_file(path)?;
        let bad = |reason: String| Error::Data { path: path.to_path_buf(), reason };
        let dim = file.source.dim;
        if file.vectors.is_empty() {
            return Err(bad("the gallery holds no face".into()));
        }
        if file.vectors.len() != file.person.len() || file.vectors.len() != file.paths.len() {
            return Err(bad(format!("{} vectors but {} people and {} paths", file.vectors.len(), file.person.len(), file.paths.len())));
        }
        if let Some(row) = file.vectors.iter().position(|v| v.len() != dim) {
            return Err(bad(format!("vector {row} has {} values, not {dim}", file.vectors[row].len())));
        }
        if let Some(&p) = file.person.iter().find(|&&p| p >= file.names.len()) {
            return Err(bad(format!("person {p} has no name ({} names)", file.names.len())));
        }
        let flat: Vec<f32> = file.vectors.into_iter().flatten().collect();
        let vectors = Array2::from_shape_vec((file.person.len(), dim), flat).map_err(|e| bad(e.to_string()))?;
        Ok(Gallery { source: file.source, vectors, person: file.person, names: file.names, paths: file.paths })
    }

    fn read_file(path: &Path) -> Result<GalleryFile> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let bad = |reason: String| Error::Data { path: path.to_path_buf(), reason };
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(format!("not a facemb gallery (not JSON: {e})")))?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(bad(format!("not a facemb gallery (no \"format\": \"{FORMAT}\")")));
        }
        serde_json::from_value(value).map_err(|e| bad(format!("damaged gallery ({e})")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gallery() -> Gallery {
        Gallery {
            source: Source { description: "pixels 2x1".into(), fingerprint: "pixels 2x1".into(), dim: 2, normalized: false },
            vectors: ndarray::array![[0.0f32, 1.0], [0.5, 0.25]],
            person: vec![1, 0],
            names: vec!["ann".into(), "bo, \"b\"".into()],
            paths: vec!["g/bo/1.png".into(), "g/ann/1.png".into()],
        }
    }

    #[test]
    fn a_saved_gallery_reads_back_equal_and_refuses_another_source() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("g.json");
        let g = gallery();
        g.save(&path).unwrap();
        let back = Gallery::load(&path).unwrap();
        assert_eq!(back, g);
        assert!(g.source.check(&back.source, &path).is_ok());
        let other = Source { fingerprint: "pixels 3x1".into(), dim: 3, ..g.source.clone() };
        let e = g.source.check(&other, &path).unwrap_err().to_string();
        assert!(e.starts_with(&path.display().to_string()) && e.contains("rebuild"), "{e}");
        // Saving again over our own file is fine; only the file itself is left.
        g.save(&path).unwrap();
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_user_file_is_neither_read_as_a_gallery_nor_overwritten() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("notes.json");
        std::fs::write(&path, "{\"mine\": 1}").unwrap();
        assert!(Gallery::load(&path).unwrap_err().to_string().contains("not a facemb gallery"));
        let e = gallery().save(&path).unwrap_err().to_string();
        assert!(e.contains("--save-gallery") && e.contains("not a facemb gallery"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"mine\": 1}");
    }
}
