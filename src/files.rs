//! Writing and reading the files facemb leaves: JSON, text, `.npy` and CSV. Checkpoints
//! (`model/`) and run outputs (`output/`, `experiment/`) both write through here, so
//! these helpers sit below both.
use std::fmt::Write as _;
use std::path::Path;

use ndarray::Array2;
use serde::Serialize;

use crate::error::{Error, Result};

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Invalid(e.to_string()))?;
    write_text(path, &(text + "\n"))
}

pub fn write_text(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

/// float32 N×E, what `numpy.load` reads.
pub fn write_npy(path: &Path, x: &Array2<f32>) -> Result<()> {
    ndarray_npy::write_npy(path, x).map_err(|e| Error::Data { path: path.to_path_buf(), reason: e.to_string() })
}

pub fn read_npy(path: &Path) -> Result<Array2<f32>> {
    ndarray_npy::read_npy(path).map_err(|e| Error::Data { path: path.to_path_buf(), reason: e.to_string() })
}

/// A CSV file being built: a header, then rows; every field is quoted where it must be
/// (a comma, quote or line break inside), as RFC 4180 and Python's `csv` read it.
pub struct Csv {
    text: String,
}

impl Csv {
    pub fn new<S: AsRef<str>>(header: impl IntoIterator<Item = S>) -> Self {
        let mut csv = Csv { text: String::new() };
        csv.row(header);
        csv
    }

    pub fn row<S: AsRef<str>>(&mut self, fields: impl IntoIterator<Item = S>) {
        for (i, f) in fields.into_iter().enumerate() {
            let f = f.as_ref();
            let sep = if i == 0 { "" } else { "," };
            if f.contains([',', '"', '\n', '\r']) {
                let _ = write!(self.text, "{sep}\"{}\"", f.replace('"', "\"\""));
            } else {
                let _ = write!(self.text, "{sep}{f}");
            }
        }
        self.text.push('\n');
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        write_text(path, &self.text)
    }
}

/// The fields of one CSV line as [`Csv`] writes them (quotes doubled inside quotes).
pub fn csv_fields(line: &str) -> Vec<String> {
    let (mut fields, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_what_needs_it_and_reads_back() {
        let mut csv = Csv::new(["row", "path", "identity"]);
        let odd = ["0", "a,b/\"c\".png", "plain"];
        csv.row(odd);
        assert_eq!(csv.text(), "row,path,identity\n0,\"a,b/\"\"c\"\".png\",plain\n");
        let line = csv.text().lines().nth(1).unwrap();
        assert_eq!(csv_fields(line), odd);
        assert_eq!(csv_fields("1,,x"), ["1", "", "x"]);
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
