//! Folders of images: `ROOT/<identity>/<image>` clustering folders (one level of
//! sub-folders, each an identity), scanned but not decoded, with what was skipped and why.
use std::path::{Path, PathBuf};

use super::{SkipReason, Skipped, is_image_path};
use crate::error::{Error, Result};
use crate::progress::Reporter;

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut out: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        // Hidden files (.DS_Store, editor swap files) are never data.
        .filter(|p| !p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')))
        .collect();
    out.sort();
    Ok(out)
}

/// Image files directly inside `dir`; everything else there is reported as skipped, and
/// so is `dir` itself when it cannot be listed (one unreadable person does not stop a run).
pub(crate) fn images_in(dir: &Path, skipped: &mut Vec<Skipped>) -> Result<Vec<PathBuf>> {
    let mut images = Vec::new();
    let entries = match read_dir_sorted(dir) {
        Ok(entries) => entries,
        Err(Error::Io { source, .. }) => {
            skipped.push(Skipped { path: dir.to_path_buf(), reason: SkipReason::Unreadable(source.to_string()) });
            return Ok(images);
        }
        Err(e) => return Err(e),
    };
    for p in entries {
        if let (true, Err(e)) = (p.is_symlink(), std::fs::metadata(&p)) {
            let reason =
                if e.kind() == std::io::ErrorKind::NotFound { SkipReason::BrokenLink } else { SkipReason::UnfollowableLink(e.to_string()) };
            skipped.push(Skipped { path: p, reason });
        } else if p.is_dir() {
            skipped.push(Skipped { path: p, reason: SkipReason::NestedFolder });
        } else if is_image_path(&p) && !p.is_file() {
            // A named pipe called face.jpg would block the reader forever.
            skipped.push(Skipped { path: p, reason: SkipReason::NotAFile });
        } else if is_image_path(&p) {
            images.push(p);
        } else {
            skipped.push(Skipped { path: p, reason: SkipReason::NotAnImage });
        }
    }
    Ok(images)
}

/// Refuses a `root` that is missing ("does not exist", not "not a folder") or not a folder.
fn check_folder(root: &Path) -> Result<()> {
    let reason = match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => "is a file, not a folder of images (ROOT/<identity>/<image>, or a flat folder of photos)",
        Err(_) if root.is_symlink() => "is a broken symbolic link",
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "does not exist",
        Err(_) => "cannot be read as a folder",
    };
    Err(Error::Data { path: root.to_path_buf(), reason: reason.into() })
}

/// The one name of an unlabelled folder's images.
pub const UNLABELLED: &str = "(unlabelled)";

/// A clustering folder `ROOT/<identity>/<image>`: image paths with their identity.
#[derive(Debug)]
pub struct IdentityFolder {
    pub root: PathBuf,
    pub paths: Vec<PathBuf>,
    /// Index into `names` for every path.
    pub identity: Vec<usize>,
    pub names: Vec<String>,
    /// Whether the folder names are identities. An unlabelled folder (a flat folder of
    /// photos, or `--unlabelled`) has one name, [`UNLABELLED`], and no scores that need
    /// labels.
    pub labelled: bool,
    /// Files and folders that were found but not used (top-level files, nested folders,
    /// non-images), reported to the user.
    pub skipped: Vec<Skipped>,
}

impl IdentityFolder {
    /// Scans (does not decode) the folder. Exactly one level of sub-folders: each
    /// sub-folder is an identity; files at the top level and deeper folders are reported.
    pub fn scan(root: &Path) -> Result<Self> {
        Self::scan_identities(root)?.non_empty()
    }

    /// [`IdentityFolder::scan`] without the check that something was found.
    fn scan_identities(root: &Path) -> Result<Self> {
        check_folder(root)?;
        let (mut paths, mut identity, mut names, mut skipped) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for entry in read_dir_sorted(root)? {
            if !entry.is_dir() {
                skipped.push(Skipped { path: entry, reason: SkipReason::TopLevelFile });
                continue;
            }
            let images = images_in(&entry, &mut skipped)?;
            if images.is_empty() && skipped.last().is_none_or(|s| s.path != entry) {
                skipped.push(Skipped { path: entry, reason: SkipReason::NoImages });
                continue;
            }
            let id = names.len();
            names.push(entry.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
            identity.extend(std::iter::repeat_n(id, images.len()));
            paths.extend(images);
        }
        Ok(IdentityFolder { root: root.to_path_buf(), paths, identity, names, labelled: true, skipped })
    }

    /// Image files found beside the identity folders (none are read from there).
    fn images_at_top(&self) -> usize {
        self.skipped.iter().filter(|s| s.reason == SkipReason::TopLevelFile && is_image_path(&s.path)).count()
    }

    /// The folder, or an error saying where images were seen, if anywhere: the usual
    /// mistake is one level off.
    fn non_empty(self) -> Result<Self> {
        if !self.paths.is_empty() {
            return Ok(self);
        }
        let at_top = self.images_at_top();
        let deeper = self.skipped.iter().filter(|s| s.reason == SkipReason::NestedFolder).count();
        let seen = if at_top > 0 {
            format!(
                " ({at_top} image{} directly in it: put each person's images in a sub-folder named after them)",
                if at_top == 1 { "" } else { "s" }
            )
        } else if deeper > 0 {
            format!(
                " ({deeper} folder{} two levels down: point at the folder that holds the identity folders)",
                if deeper == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        };
        Err(Error::Data {
            path: self.root,
            reason: format!("no images found: expected ROOT/<identity>/<image> with one level of sub-folders{seen}"),
        })
    }

    /// Every image below `root`, at any depth, with no identities: the everyday folder of
    /// photos. Hidden files and folders are skipped; symbolic links to folders are
    /// followed, each folder read once (a link loop cannot trap the walk).
    pub fn scan_unlabelled(root: &Path) -> Result<Self> {
        check_folder(root)?;
        let (mut paths, mut skipped, mut stack) = (Vec::new(), Vec::new(), vec![root.to_path_buf()]);
        let mut visited = std::collections::HashSet::new();
        while let Some(dir) = stack.pop() {
            if !visited.insert(dir.canonicalize().unwrap_or_else(|_| dir.clone())) {
                continue;
            }
            let mut found = Vec::new();
            for p in images_in(&dir, &mut found)? {
                paths.push(p);
            }
            for s in found {
                match s.reason {
                    SkipReason::NestedFolder => stack.push(s.path),
                    _ => skipped.push(s),
                }
            }
        }
        paths.sort();
        if paths.is_empty() {
            return Err(Error::Data { path: root.to_path_buf(), reason: "no images found at any depth".into() });
        }
        let identity = vec![0; paths.len()];
        Ok(IdentityFolder { root: root.to_path_buf(), paths, identity, names: vec![UNLABELLED.into()], labelled: false, skipped })
    }

    /// [`IdentityFolder::scan`], or, for a folder that holds images but no identity
    /// folders, [`IdentityFolder::scan_unlabelled`] (with a note through `reporter` saying so).
    pub fn scan_any(root: &Path, reporter: Reporter) -> Result<Self> {
        let found = Self::scan_identities(root)?;
        if found.paths.is_empty() && found.images_at_top() > 0 {
            reporter.note(format!(
                "note: {}: no identity folders, so the images are read as one unlabelled set (scores that need names are left out)",
                root.display()
            ));
            return Self::scan_unlabelled(root);
        }
        found.non_empty()
    }
}

/// Reports skipped files through `reporter` (the first few in full, then a count), one line
/// each. Top-level files (a SOURCE.md, an index CSV) are expected beside identity folders:
/// one note names them.
pub fn report_skipped(what: &str, skipped: &[Skipped], reporter: Reporter) {
    const SHOWN: usize = 10;
    let (top, rest): (Vec<&Skipped>, Vec<&Skipped>) = skipped.iter().partition(|s| s.reason == SkipReason::TopLevelFile);
    // One note per folder: a pooled identity set scans several.
    let mut by_dir: Vec<(&Path, Vec<String>)> = Vec::new();
    for s in &top {
        let dir = s.path.parent().unwrap_or(Path::new(""));
        let name = s.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match by_dir.iter_mut().find(|(d, _)| *d == dir) {
            Some((_, names)) => names.push(name),
            None => by_dir.push((dir, vec![name])),
        }
    }
    for (dir, names) in by_dir {
        reporter.note(format!("note: {}: not read, identities are sub-folders: {}", dir.display(), names.join(", ")));
    }
    for s in rest.iter().take(SHOWN) {
        // One line per file, whatever a decoder put in its message.
        reporter.warn(format!("{}: {}", s.path.display(), s.reason.to_string().replace('\n', " ")));
    }
    if rest.len() > SHOWN {
        reporter.warn(format!("… and {} more skipped in {what}", rest.len() - SHOWN));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::ImageSpec;
    use crate::image::prefetch::decode_all;
    use crate::synthetic::repo;

    const GREY64: ImageSpec = ImageSpec { size: 64, channels: 1 };

    #[test]
    fn att_faces_has_40_identities_of_10_and_reports_top_level_files() {
        let f = IdentityFolder::scan(&repo("datasets/att_faces")).unwrap();
        assert_eq!((f.names.len(), f.paths.len()), (40, 400));
        assert_eq!(f.names[0], "s01");
        assert!((0..40).all(|id| f.identity.iter().filter(|&&i| i == id).count() == 10));
        // SOURCE.md sits at the top level: reported, not used.
        assert!(f.skipped.iter().any(|s| s.path.ends_with("SOURCE.md") && s.reason == SkipReason::TopLevelFile));
    }

    #[test]
    fn shared_sets_load_when_present() {
        // CI clones beside ../shared; a checkout without it has nothing to check here.
        let shared = repo("../shared/datasets");
        if !shared.is_dir() {
            eprintln!("../shared/datasets absent: skipped");
            return;
        }
        let yale = IdentityFolder::scan(&shared.join("yale_faces")).unwrap();
        assert_eq!((yale.names.len(), yale.paths.len()), (15, 164));
        let lfw = IdentityFolder::scan(&shared.join("lfw_identities")).unwrap();
        assert_eq!((lfw.names.len(), lfw.paths.len()), (320, 3711));
    }

    #[test]
    fn bad_files_are_skipped_with_their_reason() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let good = repo("datasets/att_faces/s01/01.png");
        let a = root.join("alice");
        std::fs::create_dir_all(a.join("deeper")).unwrap();
        std::fs::copy(&good, a.join("ok.png")).unwrap();
        std::fs::write(a.join("zero.png"), b"").unwrap();
        let bytes = std::fs::read(&good).unwrap();
        std::fs::write(a.join("truncated.png"), &bytes[..bytes.len() / 3]).unwrap();
        std::fs::write(a.join("fake.jpg"), b"this is not a jpeg").unwrap();
        std::fs::write(a.join("notes.txt"), b"hello").unwrap();
        std::fs::copy(&good, a.join("deeper/hidden.png")).unwrap();
        std::fs::write(root.join("README.txt"), b"top").unwrap();
        std::fs::create_dir(root.join("empty_person")).unwrap();

        let f = IdentityFolder::scan(root).unwrap();
        assert_eq!(f.names, vec!["alice"]);
        assert_eq!(f.paths.len(), 4, "ok, zero, truncated and fake are image-named");
        let reason = |name: &str| f.skipped.iter().find(|s| s.path.ends_with(name)).map(|s| s.reason.clone());
        assert_eq!(reason("notes.txt"), Some(SkipReason::NotAnImage));
        assert_eq!(reason("deeper"), Some(SkipReason::NestedFolder));
        assert_eq!(reason("README.txt"), Some(SkipReason::TopLevelFile));
        assert_eq!(reason("empty_person"), Some(SkipReason::NoImages));

        let (data, kept, bad) = decode_all(&f.paths, GREY64);
        assert_eq!(kept.len(), 1);
        assert_eq!(data.len(), 64 * 64);
        let why = |name: &str| bad.iter().find(|s| s.path.ends_with(name)).unwrap().reason.clone();
        assert_eq!(why("zero.png"), SkipReason::EmptyFile);
        assert!(matches!(why("truncated.png"), SkipReason::Undecodable(_)));
        assert!(matches!(why("fake.jpg"), SkipReason::Undecodable(_)));
        assert!(why("fake.jpg").to_string().starts_with("not a readable image"));
    }

    #[test]
    fn a_missing_or_empty_folder_is_an_error_naming_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let e = IdentityFolder::scan(tmp.path()).unwrap_err().to_string();
        assert!(e.contains(&tmp.path().display().to_string()) && e.contains("no images"), "{e}");
        let e = IdentityFolder::scan(&tmp.path().join("nowhere")).unwrap_err().to_string();
        assert!(e.contains("nowhere") && e.contains("does not exist"), "{e}");
    }
}
