//! Writing and reading the files facemb leaves: JSON, text, `.npy` and CSV. Checkpoints
//! (`model/`) and run outputs (`output/`, `experiment/`) both write through here, so
//! these helpers sit below both.
use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::progress::Reporter;

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    write_text(path, &json_text(value)?)
}

/// [`write_json`] through [`atomic_write`], for a file replaced in place (a gallery, a
/// checkpoint's calibration) rather than written into a staging folder.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    atomic_write(path, json_text(value)?.as_bytes())
}

/// `value` as the JSON facemb writes: pretty, with a final line break.
fn json_text<T: Serialize>(value: &T) -> Result<String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Invalid(e.to_string()))?;
    Ok(text + "\n")
}

pub fn write_text(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

/// Refuses `path` unless it is a regular file (after symbolic links), or, with
/// `missing_ok`, nothing at all: facemb opens files only by name, and a named pipe, a
/// device or a socket there would block the open or the read forever.
pub fn check_regular(path: &Path, missing_ok: bool) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(m) => {
            let what = if m.is_dir() { "a folder" } else { "a named pipe, socket or device" };
            Err(Error::Data { path: path.to_path_buf(), reason: format!("is {what}, not a regular file") })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && missing_ok => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && path.is_symlink() => {
            Err(Error::Data { path: path.to_path_buf(), reason: "is a broken symbolic link".into() })
        }
        Err(e) => Err(Error::io(path, e)),
    }
}

/// The text of the regular file `path` ([`check_regular`] first, so a pipe cannot hang it).
pub fn read_text(path: &Path) -> Result<String> {
    check_regular(path, false)?;
    std::fs::read_to_string(path).map_err(|e| Error::io(path, e))
}

/// Up to `n` first bytes of the regular file `path`: enough to tell a format apart before
/// reading a file that may be gigabytes of something else.
pub fn first_bytes(path: &Path, n: usize) -> Result<Vec<u8>> {
    use std::io::Read as _;
    check_regular(path, false)?;
    let mut buf = Vec::with_capacity(n);
    std::fs::File::open(path).and_then(|f| f.take(n as u64).read_to_end(&mut buf)).map_err(|e| Error::io(path, e))?;
    Ok(buf)
}

/// Writes `path` whole: the bytes go to a hidden temporary beside it (removed on any
/// error), which is then renamed over it, so a reader sees the old file or the new one.
/// The one atomic file write of galleries, calibrations and reports.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    check_regular(path, true)?;
    let parent = parent_of(path);
    if !parent.is_dir() {
        return Err(Error::Data { path: path.to_path_buf(), reason: format!("cannot be written: no folder {}", parent.display()) });
    }
    let tmp = temporary(path);
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// The hidden temporary `.name.tmp-PID` that [`atomic_write`] renames into place.
fn temporary(path: &Path) -> PathBuf {
    sibling(path, "tmp", std::process::id())
}

/// Whether `name` is one of facemb's own hidden files: a temporary (`.x.tmp-PID`), a
/// moved-aside copy (`.x.old-PID`) or a lock (`.x.lock`). A folder holding one is not
/// "someone else's" for that.
pub fn is_own_hidden(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.') else { return false };
    if rest.ends_with(".lock") {
        return true;
    }
    ["tmp", "old"]
        .iter()
        .any(|tag| rest.rsplit_once(&format!(".{tag}-")).is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())))
}

/// `#[serde(with = "crate::files::nan_as_null")]` for an `f64` that is NaN where it is
/// undefined (a share of no queries): JSON has no NaN, so it is written as null, and null
/// is read back as NaN (serde_json alone writes null but cannot read it into an `f64`).
pub mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        Some(*v).filter(|v| !v.is_nan()).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

/// FNV-1a of `bytes`: a stable hash (std's may change between Rust releases) for names
/// and fingerprints, not for security.
pub fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

/// float32 N×E, what `numpy.load` reads.
pub fn write_npy(path: &Path, x: &Array2<f32>) -> Result<()> {
    ndarray_npy::write_npy(path, x).map_err(|e| Error::Data { path: path.to_path_buf(), reason: e.to_string() })
}

pub fn read_npy(path: &Path) -> Result<Array2<f32>> {
    // A named pipe in its place would block the open forever.
    check_regular(path, false)?;
    ndarray_npy::read_npy(path).map_err(|e| Error::Data { path: path.to_path_buf(), reason: e.to_string() })
}

/// A CSV file being built: a header, then rows, written by the `csv` crate, which quotes a
/// field only where it must (a comma, quote or line break inside), as RFC 4180 and
/// Python's `csv` read it, so ordinary names give plain `a,b,c` lines.
pub struct Csv {
    writer: csv::Writer<Vec<u8>>,
    /// The first row that could not be written (one of another length than the header):
    /// kept so that `row` stays a one-liner and [`Csv::write`] reports it with the file.
    error: Option<String>,
}

impl Csv {
    pub fn new<S: AsRef<str>>(header: impl IntoIterator<Item = S>) -> Self {
        let mut csv = Csv { writer: csv::Writer::from_writer(Vec::new()), error: None };
        csv.row(header);
        csv
    }

    pub fn row<S: AsRef<str>>(&mut self, fields: impl IntoIterator<Item = S>) {
        if let Err(e) = self.writer.write_record(fields.into_iter().map(|f| f.as_ref().to_owned()))
            && self.error.is_none()
        {
            self.error = Some(csv_reason(&e));
        }
    }

    /// The file's bytes, or why a row could not be written.
    pub fn into_bytes(self) -> std::result::Result<Vec<u8>, String> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.writer.into_inner().map_err(|e| e.to_string())
    }

    pub fn write(self, path: &Path) -> Result<()> {
        let bytes = self.into_bytes().map_err(|reason| Error::Data { path: path.to_path_buf(), reason })?;
        std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
    }
}

/// A CSV file read whole: its header and its rows, every row as long as the header.
pub struct CsvTable {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Reads the regular file `path` as CSV (quoted fields may hold commas, quotes and line
/// breaks). A row of another length than the header is an error naming the file and the
/// line, not a silently shifted column.
pub fn read_csv(path: &Path) -> Result<CsvTable> {
    let text = read_text(path)?;
    let bad = |e: csv::Error| Error::Data { path: path.to_path_buf(), reason: csv_reason(&e) };
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().map_err(bad)?.iter().map(String::from).collect();
    let rows = reader.records().map(|r| r.map(|r| r.iter().map(String::from).collect()).map_err(bad)).collect::<Result<_>>()?;
    Ok(CsvTable { header, rows })
}

/// A `csv` error as one short reason: where in the file, and what is wrong there.
fn csv_reason(e: &csv::Error) -> String {
    let at = |pos: &Option<csv::Position>| pos.as_ref().map_or(String::new(), |p| format!("line {}: ", p.line()));
    match e.kind() {
        csv::ErrorKind::UnequalLengths { pos, expected_len, len } => {
            format!("{}a row of {len} fields where the header has {expected_len}", at(pos))
        }
        csv::ErrorKind::Utf8 { pos, err } => format!("{}not valid UTF-8 ({err})", at(pos)),
        _ => e.to_string(),
    }
}

/// The paths one run reads (`-id`, `-q`, `-g`, `-m`, training data and pools) and
/// writes (`--out`, `--save-clusters`, `--save-gallery`, a checkpoint), each with the flag
/// that named it: what [`may_replace`] keeps every destination of the run away from.
#[derive(Default)]
pub struct Claims {
    paths: Vec<Claim>,
}

struct Claim {
    flag: &'static str,
    given: PathBuf,
    resolved: Option<PathBuf>,
    input: bool,
}

impl Claims {
    pub fn new() -> Self {
        Claims::default()
    }

    /// A path the run reads.
    pub fn input(mut self, flag: &'static str, path: &Path) -> Self {
        self.paths.push(Claim { flag, given: path.to_path_buf(), resolved: resolved(path), input: true });
        self
    }

    /// A path the run writes (replaced whole at its end).
    pub fn output(mut self, flag: &'static str, path: &Path) -> Self {
        self.paths.push(Claim { flag, given: path.to_path_buf(), resolved: resolved(path), input: false });
        self
    }
}

/// What a destination may already be for facemb to replace it.
pub enum Replaceable<'a> {
    /// A folder every entry of which `ours` names as facemb's (its own hidden temporaries
    /// and locks always are); `hint` says what to do instead.
    Folder { ours: &'a dyn Fn(&str) -> bool, hint: &'a str },
    /// A regular file that `ours` accepts (an error says why not).
    File { ours: &'a dyn Fn(&Path) -> Result<()> },
}

/// The one check before facemb replaces `path` (given with `flag`): it is not the current
/// folder nor above it, it neither is, holds nor lies inside any other path `claims`
/// names (an input or another output of the same run), and what is there now is
/// something facemb itself wrote ([`Replaceable`]). facemb never deletes or replaces
/// what it did not write.
pub fn may_replace(flag: &'static str, path: &Path, claims: &Claims, what: Replaceable) -> Result<()> {
    let refuse = |reason: String| Err(Error::Output { flag, path: path.to_path_buf(), reason });
    let Some(target) = resolved(path) else { return refuse("cannot be resolved to a place on disk".into()) };
    if let Some(cwd) = std::env::current_dir().ok().and_then(|c| c.canonicalize().ok())
        && cwd.starts_with(&target)
    {
        return refuse("is the current folder or holds it; choose a folder of its own".into());
    }
    for c in claims.paths.iter().filter(|c| c.flag != flag || c.given != path) {
        let Some(other) = &c.resolved else { continue };
        let (kind, named) = (if c.input { "input" } else { "output" }, format!("{} {}", c.flag, c.given.display()));
        if *other == target {
            return refuse(format!("is the {kind} {named} itself; facemb never replaces what it reads or writes elsewhere in the run"));
        }
        if other.starts_with(&target) {
            return refuse(format!("holds the {kind} {named}; replacing it would delete that"));
        }
        if target.starts_with(other) && c.input && other.is_dir() {
            return refuse(format!(
                "is inside the input folder {} (what is written there would be read as faces next time)",
                c.given.display()
            ));
        }
        if target.starts_with(other) && !c.input {
            return refuse(format!("is inside {named}, which this run replaces whole"));
        }
    }
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    match what {
        Replaceable::Folder { ours, hint } => {
            if !path.is_dir() {
                return refuse("exists and is not a folder".into());
            }
            let rd = std::fs::read_dir(path).map_err(|e| Error::io(path, e))?;
            let foreign =
                rd.filter_map(|e| e.ok()).map(|e| e.file_name()).find(|n| !n.to_str().is_some_and(|n| is_own_hidden(n) || ours(n)));
            match foreign {
                Some(name) => refuse(format!("holds {} which facemb did not write; {hint}", name.to_string_lossy())),
                None => Ok(()),
            }
        }
        Replaceable::File { ours } => {
            check_regular(path, true).map_err(|e| match e {
                Error::Data { reason, .. } => Error::Output { flag, path: path.to_path_buf(), reason },
                e => e,
            })?;
            ours(path)
        }
    }
}

/// `p` with symbolic links and `..` resolved, for a path that may not exist yet: its
/// nearest existing ancestor canonicalised, the rest appended.
pub fn resolved(p: &Path) -> Option<PathBuf> {
    let abs = std::path::absolute(p).ok()?;
    let mut head = abs.as_path();
    let mut tail = Vec::new();
    loop {
        if let Ok(c) = head.canonicalize() {
            return Some(tail.iter().rev().fold(c, |acc: PathBuf, part| acc.join(part)));
        }
        tail.push(head.file_name()?.to_os_string());
        head = head.parent()?;
    }
}

/// Environment variable naming a [`fault_point`] at which the process kills itself.
pub const FAULT_ENV: &str = "FACEMB_FAULT";

/// Test hook: when `FACEMB_FAULT` names `point`, the process sends itself SIGKILL there
/// (no destructor, no cleanup, as a real kill or power cut would stop it), so the fault
/// suite can check what each window between two writes leaves on disk.
pub fn fault_point(point: &str) {
    if std::env::var_os(FAULT_ENV).is_some_and(|v| v == point) {
        #[cfg(unix)]
        // SAFETY: kill(2) on our own pid has no memory-safety preconditions.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
        std::process::abort();
    }
}

fn parent_of(target: &Path) -> &Path {
    target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// `parent/.name<suffix>`: the hidden siblings of a folder (its lock, staging and
/// moved-aside copies).
fn hidden_sibling(target: &Path, suffix: &str) -> PathBuf {
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // A hidden target (train's `.name.resume`) is not hidden twice.
    let dot = if name.starts_with('.') { "" } else { "." };
    parent_of(target).join(format!("{dot}{name}{suffix}"))
}

fn sibling(target: &Path, tag: &str, pid: u32) -> PathBuf {
    hidden_sibling(target, &format!(".{tag}-{pid}"))
}

/// Siblings of `target` left by earlier runs with the given tag, newest first.
fn leftovers(target: &Path, tag: &str) -> Vec<PathBuf> {
    let prefix = hidden_sibling(target, &format!(".{tag}-")).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let Ok(rd) = std::fs::read_dir(parent_of(target)) else { return Vec::new() };
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().strip_prefix(&prefix).is_some_and(|pid| pid.parse::<u32>().is_ok()))
        .map(|e| (e.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH), e.path()))
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found.into_iter().map(|(_, p)| p).collect()
}

/// facemb's cache folder (`$XDG_CACHE_HOME/facemb`, else `$HOME/.cache/facemb`, else the
/// system's temporary folder): what can be made again, such as the face crops of photos.
pub fn cache_dir() -> PathBuf {
    let home =
        std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
    home.unwrap_or_else(std::env::temp_dir).join("facemb")
}

/// A folder of the repository compiled into the binary: the ready models, so that an
/// installed `facemb` has them in any working folder. [`Bundled::unpack`] writes them once
/// into the cache and every command then reads that folder like any checkpoint given by
/// flag: one loading path, with all its checks, for the ready models and the user's own.
///
/// Why unpack rather than load from the bytes: a checkpoint is read as a folder by more
/// than burn's recorder (its config, `calibration.json`, the held-out scale in
/// `metrics.json`, the whitening, the folder name that names `results/<model>/`, the
/// weight file's hash in a saved gallery); loading from bytes would need a second path for
/// each. The cost is one 4.3 MB write on first use and a compare of the files on every
/// later one (a few milliseconds, beside the model load).
#[derive(Debug)]
pub struct Bundled {
    /// The folder's name: `checkpoints/<name>` in the repository, `<name>` in the cache.
    pub name: &'static str,
    pub files: &'static [(&'static str, &'static [u8])],
}

/// `bundle!("checkpoints", "identity-v6"; "config.json", "model.bpk")`: the [`Bundled`]
/// folder `checkpoints/identity-v6` of the repository with those files, compiled in.
macro_rules! bundle {
    ($dir:literal, $name:literal; $($file:literal),+ $(,)?) => {
        $crate::files::Bundled {
            name: $name,
            files: &[$(($file, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $dir, "/", $name, "/", $file)) as &[u8])),+],
        }
    };
}
pub(crate) use bundle;

impl Bundled {
    /// The folder unpacked under [`cache_dir`]`/ready/`; see [`Bundled::unpack_in`].
    pub fn unpack(&self, reporter: Reporter) -> Result<PathBuf> {
        self.unpack_in(&cache_dir().join("ready"), reporter)
    }

    /// The folder as `root/<name>-<content hash>/<name>/`, written there if it is not
    /// already, byte for byte. The hash keeps two facemb versions with different ready
    /// models from sharing a folder; the inner `<name>` keeps the checkpoint's own name
    /// (results go to `results/<name>/`). It is written whole into a hidden sibling and
    /// renamed into place, so a reader sees a complete folder or none, and two runs
    /// unpacking at once both end up reading the one that landed first. A damaged copy
    /// (a file edited or cut short) is put aside and written again: the folder is
    /// facemb's own. A staging folder of a run killed mid-write stays behind (a live
    /// run's cannot be told from it without a lock, which would make a second run wait).
    pub fn unpack_in(&self, root: &Path, reporter: Reporter) -> Result<PathBuf> {
        let hash = fnv1a(
            self.files.iter().flat_map(|(name, bytes)| name.bytes().chain((bytes.len() as u64).to_le_bytes()).chain(bytes.iter().copied())),
        );
        let home = root.join(format!("{}-{hash:016x}", self.name));
        let dir = home.join(self.name);
        if self.is_at(&dir) {
            return Ok(dir);
        }
        // Unique to this call: threads of one process (the library's tests) unpack too.
        static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = hidden_sibling(&home, &format!(".tmp-{}-{call}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let staged = tmp.join(self.name);
        std::fs::create_dir_all(&staged).map_err(|e| Error::io(&staged, e))?;
        for (name, bytes) in self.files {
            let path = staged.join(name);
            if let Err(e) = std::fs::write(&path, bytes) {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(Error::io(path, e));
            }
        }
        let damaged = home.exists().then(|| hidden_sibling(&home, &format!(".old-{}-{call}", std::process::id())));
        if let Some(old) = &damaged {
            // Another run may be repairing it too: whichever moves it aside, it is gone.
            let _ = std::fs::rename(&home, old);
        }
        let renamed = std::fs::rename(&tmp, &home);
        let _ = std::fs::remove_dir_all(&tmp);
        if let Some(old) = &damaged {
            let _ = std::fs::remove_dir_all(old);
        }
        // A failed rename is fine when another run put a good copy there first.
        if !self.is_at(&dir) {
            let reason = match renamed {
                Err(e) => format!("cannot unpack the ready {} here ({e})", self.name),
                Ok(()) => format!("the ready {} unpacked here does not read back as written", self.name),
            };
            return Err(Error::Data { path: dir, reason });
        }
        if renamed.is_ok() {
            let why = if damaged.is_some() { "a damaged copy replaced" } else { "once per facemb version" };
            reporter.note(format!("the ready {} unpacked to {} ({why})", self.name, dir.display()));
        }
        Ok(dir)
    }

    /// Whether `dir` holds exactly these files' bytes (extra files aside).
    fn is_at(&self, dir: &Path) -> bool {
        self.files.iter().all(|(name, bytes)| std::fs::read(dir.join(name)).is_ok_and(|b| b == *bytes))
    }
}

/// A folder written whole under a hidden sibling name and then put in place of its
/// target, so that readers of the target see the old folder or the new one, never a mix,
/// and a failure or kill before [`Staged::commit`] leaves the old one as it was. Holds the
/// target's [`Lock`] from creation to commit.
pub struct Staged {
    /// What is staged ("output", "checkpoint", "resume"): the prefix of its fault points.
    what: &'static str,
    target: PathBuf,
    dir: PathBuf,
    _lock: Lock,
}

impl Staged {
    /// Locks `target`, repairs what an interrupted earlier replacement left (see
    /// [`recover`], saying so through `reporter`) and creates an empty staging folder
    /// beside it.
    pub fn begin(what: &'static str, target: &Path, reporter: Reporter) -> Result<Self> {
        let lock = Lock::acquire(target)?;
        // Also clears any staging folder of a dead run, this process id's included.
        recover(target, reporter)?;
        let dir = sibling(target, "tmp", std::process::id());
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Staged { what, target: target.to_path_buf(), dir, _lock: lock })
    }

    /// Where to write the new folder's files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Replaces the target with the staged folder: the old one is moved aside, the new
    /// one renamed in, the old one removed. A kill between the two renames leaves the old
    /// folder under `.name.old-PID`, which the next [`Staged::begin`] or [`recover`]
    /// puts back.
    pub fn commit(self) -> Result<()> {
        fault_point(&format!("{}:before-swap", self.what));
        let old = sibling(&self.target, "old", std::process::id());
        let had_old = self.target.exists();
        if had_old {
            std::fs::rename(&self.target, &old).map_err(|e| Error::io(&self.target, e))?;
        }
        fault_point(&format!("{}:mid-swap", self.what));
        if let Err(e) = std::fs::rename(&self.dir, &self.target) {
            if had_old {
                let _ = std::fs::rename(&old, &self.target);
            }
            return Err(Error::io(&self.target, e));
        }
        if had_old {
            let _ = std::fs::remove_dir_all(&old);
        }
        Ok(())
    }
}

impl Drop for Staged {
    /// A staging folder that was not committed (an error on the way) is removed: the
    /// target keeps its old content.
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Repairs what a kill during a replacement of `target` left: a target moved aside but
/// not yet replaced is put back (the newest if several), and staging folders and
/// moved-aside copies of finished replacements are removed. Call it holding the
/// target's [`Lock`] (or before reading a target nobody writes). A target put back is a
/// note through `reporter`.
pub fn recover(target: &Path, reporter: Reporter) -> Result<()> {
    let mut old = leftovers(target, "old").into_iter();
    if !target.exists()
        && let Some(newest) = old.next()
    {
        std::fs::rename(&newest, target).map_err(|e| Error::io(target, e))?;
        reporter.note(format!(
            "note: {}: restored from {} (an earlier run was stopped while replacing it)",
            target.display(),
            newest.display()
        ));
    }
    for p in old.chain(leftovers(target, "tmp")) {
        let _ = std::fs::remove_dir_all(&p);
    }
    Ok(())
}

/// [`recover`] for a reader: when `target` is missing but a moved-aside copy of it is
/// there and no run holds its lock, the copy is put back.
pub fn recover_if_idle(target: &Path, reporter: Reporter) -> Result<()> {
    if target.exists() || leftovers(target, "old").is_empty() {
        return Ok(());
    }
    match Lock::acquire(target) {
        Ok(_lock) => recover(target, reporter),
        Err(_) => Ok(()),
    }
}

/// An advisory lock on `parent/.name.lock` for as long as it lives, so that two runs
/// cannot write the same folder at once. The operating system releases it when the
/// process ends in any way, so a killed run leaves no stale lock behind; the empty lock
/// file itself stays (removing it would let a third run lock a new file while a second
/// still holds the old one).
pub struct Lock {
    _file: std::fs::File,
}

impl Lock {
    pub fn acquire(target: &Path) -> Result<Self> {
        let path = hidden_sibling(target, ".lock");
        let parent = parent_of(target);
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(Lock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Busy { path: target.to_path_buf(), lock: path }),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: Bundled = Bundled { name: "tiny-v1", files: &[("config.json", b"{}\n"), ("model.bpk", &[1, 2, 3, 4])] };

    #[test]
    fn a_bundled_folder_is_unpacked_once_whole_and_repaired_when_damaged() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = TINY.unpack_in(tmp.path(), Reporter::SILENT).unwrap();
        // <root>/<name>-<hash>/<name>: the checkpoint keeps its own folder name.
        assert_eq!(dir.file_name().unwrap(), "tiny-v1");
        let home = dir.parent().unwrap();
        assert!(home.parent() == Some(tmp.path()) && home.file_name().unwrap().to_string_lossy().starts_with("tiny-v1-"));
        assert_eq!(std::fs::read(dir.join("model.bpk")).unwrap(), [1, 2, 3, 4]);
        assert_eq!(std::fs::read_to_string(dir.join("config.json")).unwrap(), "{}\n");
        // Nothing but the one folder: no staging or moved-aside copy.
        let names = |p: &Path| std::fs::read_dir(p).unwrap().map(|e| e.unwrap().file_name()).collect::<Vec<_>>();
        assert_eq!(names(tmp.path()), [home.file_name().unwrap()]);
        // A second run reads the same folder without writing it again.
        use std::os::unix::fs::MetadataExt;
        let inode = std::fs::metadata(dir.join("model.bpk")).unwrap().ino();
        assert_eq!(TINY.unpack_in(tmp.path(), Reporter::SILENT).unwrap(), dir);
        assert_eq!(std::fs::metadata(dir.join("model.bpk")).unwrap().ino(), inode);
        // A file cut short or gone is written again, whole.
        std::fs::write(dir.join("model.bpk"), [1, 2]).unwrap();
        std::fs::remove_file(dir.join("config.json")).unwrap();
        assert_eq!(TINY.unpack_in(tmp.path(), Reporter::SILENT).unwrap(), dir);
        assert_eq!(std::fs::read(dir.join("model.bpk")).unwrap(), [1, 2, 3, 4]);
        assert!(dir.join("config.json").is_file());
        assert_eq!(names(tmp.path()), [home.file_name().unwrap()]);
        // Other contents are another folder, beside it.
        const OTHER: Bundled = Bundled { name: "tiny-v1", files: &[("config.json", b"{}\n"), ("model.bpk", &[9])] };
        assert_ne!(OTHER.unpack_in(tmp.path(), Reporter::SILENT).unwrap(), dir);
        assert_eq!(std::fs::read(dir.join("model.bpk")).unwrap(), [1, 2, 3, 4]);
    }

    #[test]
    fn runs_unpacking_at_once_all_read_one_whole_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs: Vec<PathBuf> = std::thread::scope(|s| {
            let runs: Vec<_> = (0..8).map(|_| s.spawn(|| TINY.unpack_in(tmp.path(), Reporter::SILENT).unwrap())).collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        assert!(dirs.iter().all(|d| d == &dirs[0] && std::fs::read(d.join("model.bpk")).unwrap() == [1, 2, 3, 4]));
    }

    #[test]
    fn csv_quotes_only_what_needs_it_and_reads_back() {
        let tmp = tempfile::tempdir().unwrap();
        let mut csv = Csv::new(["row", "path", "identity", "p_face"]);
        let odd = ["0", "a,b/\"c\"\nd.png", "plain", ""];
        csv.row(odd);
        csv.row(["1", "x.png", "", ""]);
        let p = tmp.path().join("i.csv");
        csv.write(&p).unwrap();
        // Byte for byte what the hand-written quoting gave before the `csv` crate.
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text, "row,path,identity,p_face\n0,\"a,b/\"\"c\"\"\nd.png\",plain,\n1,x.png,,\n");
        let back = read_csv(&p).unwrap();
        assert_eq!(back.header, ["row", "path", "identity", "p_face"]);
        assert_eq!(back.rows, [odd.to_vec(), vec!["1", "x.png", "", ""]]);
    }

    #[test]
    fn a_csv_row_of_another_length_or_a_pipe_is_an_error_naming_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("short.csv");
        std::fs::write(&p, "a,b,c\n1,2,3\n4,5\n").unwrap();
        let e = read_csv(&p).err().unwrap().to_string();
        assert!(e.contains("short.csv") && e.contains("line 3") && e.contains("2 fields"), "{e}");
        let mut csv = Csv::new(["a", "b"]);
        csv.row(["1"]);
        let e = csv.write(&tmp.path().join("w.csv")).unwrap_err().to_string();
        assert!(e.contains("w.csv") && e.contains("1 fields"), "{e}");
        let fifo = tmp.path().join("fifo.csv");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let e = read_csv(&fifo).err().unwrap().to_string();
        assert!(e.contains("fifo.csv") && e.contains("not a regular file"), "{e}");
        let e = read_npy(&fifo).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
    }

    #[test]
    fn npy_and_json_round_trip_and_name_the_file_on_error() {
        let tmp = tempfile::tempdir().unwrap();
        let x = ndarray::array![[1.0f32, 2.5], [-3.0, 0.0]];
        let p = tmp.path().join("x.npy");
        write_npy(&p, &x).unwrap();
        assert_eq!(read_npy(&p).unwrap(), x);
        write_json(&tmp.path().join("v.json"), &serde_json::json!({"a": 1})).unwrap();
        assert_eq!(std::fs::read_to_string(tmp.path().join("v.json")).unwrap(), "{\n  \"a\": 1\n}\n");
        let e = write_json(&tmp.path().join("no/such/dir.json"), &1).unwrap_err().to_string();
        assert!(e.contains("no/such/dir.json"), "{e}");
        let e = read_npy(&tmp.path().join("v.json")).unwrap_err().to_string();
        assert!(e.contains("v.json"), "{e}");
    }
}
