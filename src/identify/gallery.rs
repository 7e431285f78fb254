//! A gallery of known people: their faces' vectors, who each shows, and what made the
//! vectors. `--save-gallery FILE` writes it as JSON so a large gallery is embedded once;
//! a gallery is only matched against vectors made the same way ([`Source`]).
use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::files::{Claims, Replaceable, first_bytes, may_replace, read_text, write_json_atomic};

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

    /// Checks, before any work, that `path` may take a saved gallery: it is not, holds
    /// nor lies inside anything else the run reads or writes (`claims`), and is nothing
    /// yet or a regular file that is a facemb gallery (a user's file is never replaced).
    pub fn check_destination(path: &Path, claims: &Claims) -> Result<()> {
        let ours = |p: &Path| {
            Gallery::read_file(p).map(|_| ()).map_err(|_| Error::Output {
                flag: SAVE_FLAG,
                path: p.to_path_buf(),
                reason: "exists and is not a facemb gallery; choose another file name".into(),
            })
        };
        may_replace(SAVE_FLAG, path, claims, Replaceable::File { ours: &ours })?;
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !parent.is_dir() {
            let reason = format!("cannot be written: there is no folder {}", parent.display());
            return Err(Error::Output { flag: SAVE_FLAG, path: path.to_path_buf(), reason });
        }
        Ok(())
    }

    /// Writes the gallery to `path` whole ([`atomic_write`]). An earlier gallery there is
    /// replaced when it is of the same people and model (a refresh), or with `force`;
    /// a file that is not a facemb gallery never is.
    pub fn save(&self, path: &Path, force: bool) -> Result<()> {
        let refuse = |reason: String| Err(Error::Output { flag: SAVE_FLAG, path: path.to_path_buf(), reason });
        if std::fs::symlink_metadata(path).is_ok() {
            match Gallery::read_file(path) {
                Err(_) => return refuse("exists and is not a facemb gallery; choose another file name".into()),
                Ok(old) if !force && (old.source.fingerprint != self.source.fingerprint || old.names != self.names) => {
                    let whose = if old.source.fingerprint != self.source.fingerprint {
                        format!("made by another model ({})", old.source.description)
                    } else {
                        format!("of other people ({} then, {} now)", old.names.len(), self.names.len())
                    };
                    return refuse(format!("holds a gallery {whose}; pass --force to replace it, or choose another file name"));
                }
                Ok(_) => {}
            }
        }
        let file = GalleryFile {
            format: FORMAT.into(),
            source: self.source.clone(),
            names: self.names.clone(),
            person: self.person.clone(),
            paths: self.paths.clone(),
            vectors: self.vectors.rows().into_iter().map(|r| r.to_vec()).collect(),
        };
        write_json_atomic(path, &file)
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
        let mut seen = std::collections::HashSet::new();
        if let Some(twice) = file.names.iter().find(|n| !seen.insert(n.as_str())) {
            return Err(bad(format!("two people are named {twice:?}; a gallery names each person once")));
        }
        // A value beyond f32 (1e308 reads as inf) or a vector off the unit sphere would
        // put a stranger at distance 0 or nowhere: such a file was not written by facemb.
        for (row, v) in file.vectors.iter().enumerate() {
            if let Some(x) = v.iter().find(|x| !x.is_finite()) {
                return Err(bad(format!("vector {row} holds {x}, not a finite number")));
            }
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            if file.source.normalized && (norm - 1.0).abs() > NORM_TOLERANCE {
                return Err(bad(format!("vector {row} has length {norm}, but the gallery's vectors are L2-normalised (length 1)")));
            }
        }
        let flat: Vec<f32> = file.vectors.into_iter().flatten().collect();
        let vectors = Array2::from_shape_vec((file.person.len(), dim), flat).map_err(|e| bad(e.to_string()))?;
        Ok(Gallery { source: file.source, vectors, person: file.person, names: file.names, paths: file.paths })
    }

    fn read_file(path: &Path) -> Result<GalleryFile> {
        let bad = |reason: String| Error::Data { path: path.to_path_buf(), reason };
        let not_gallery =
            || bad("not a facemb gallery: a gallery is a folder ROOT/<name>/<image> or a JSON file written by --save-gallery".into());
        // The format field comes first in every file facemb writes: a look at the first
        // bytes refuses an image or a 3 GB file of anything else without reading it.
        let head = first_bytes(path, HEAD_BYTES)?;
        if !String::from_utf8_lossy(&head).contains(&format!("\"format\": \"{FORMAT}\"")) {
            return Err(not_gallery());
        }
        let text = read_text(path)?;
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(format!("damaged gallery (not JSON: {e})")))?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(not_gallery());
        }
        serde_json::from_value(value).map_err(|e| bad(format!("damaged gallery ({e})")))
    }
}

/// The flag that saves a gallery, named in its errors.
const SAVE_FLAG: &str = "--save-gallery";
/// How far into a file its `"format"` field must appear.
const HEAD_BYTES: usize = 256;
/// How far from length 1 a normalised vector may be: f32 rounding leaves ~1e-6.
const NORM_TOLERANCE: f32 = 1e-3;

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
        g.save(&path, false).unwrap();
        let back = Gallery::load(&path).unwrap();
        assert_eq!(back, g);
        assert!(g.source.check(&back.source, &path).is_ok());
        let other = Source { fingerprint: "pixels 3x1".into(), dim: 3, ..g.source.clone() };
        let e = g.source.check(&other, &path).unwrap_err().to_string();
        assert!(e.starts_with(&path.display().to_string()) && e.contains("rebuild"), "{e}");
        // Saving again over our own file is fine; only the file itself is left.
        g.save(&path, false).unwrap();
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_user_file_is_neither_read_as_a_gallery_nor_overwritten() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("notes.json");
        std::fs::write(&path, "{\"mine\": 1}").unwrap();
        assert!(Gallery::load(&path).unwrap_err().to_string().contains("not a facemb gallery"));
        let e = gallery().save(&path, true).unwrap_err().to_string();
        assert!(e.contains("--save-gallery") && e.contains("not a facemb gallery"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"mine\": 1}");
    }

    #[test]
    fn a_gallery_of_other_people_is_replaced_only_with_force() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("g.json");
        gallery().save(&path, false).unwrap();
        let mut other = gallery();
        other.names = vec!["cy".into(), "di".into()];
        let e = other.save(&path, false).unwrap_err().to_string();
        assert!(e.contains("other people") && e.contains("--force"), "{e}");
        assert_eq!(Gallery::load(&path).unwrap(), gallery(), "kept");
        other.save(&path, true).unwrap();
        assert_eq!(Gallery::load(&path).unwrap().names, other.names);
    }

    #[test]
    fn doctored_values_names_or_lengths_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("g.json");
        let mut g = gallery();
        g.source.normalized = true;
        g.vectors = ndarray::array![[0.0f32, 1.0], [0.6, 0.8]];
        g.save(&path, false).unwrap();
        assert!(Gallery::load(&path).is_ok());
        let text = std::fs::read_to_string(&path).unwrap();
        for (what, doctored, want) in [
            ("inf", text.replacen("0.6", "1e308", 1), "not a finite number"),
            ("length", text.replacen("0.6", "0.9", 1), "length"),
            ("name", text.replacen("\"ann\"", "\"bo, \\\"b\\\"\"", 1), "two people are named"),
        ] {
            std::fs::write(&path, doctored).unwrap();
            let e = Gallery::load(&path).unwrap_err().to_string();
            assert!(e.contains(want), "{what}: {e}");
        }
        // An image given as a gallery is told apart by its first bytes.
        std::fs::write(&path, [0x89u8, b'P', b'N', b'G', 0xff, 0xfe]).unwrap();
        let e = Gallery::load(&path).unwrap_err().to_string();
        assert!(e.contains("a gallery is a folder"), "{e}");
    }
}
