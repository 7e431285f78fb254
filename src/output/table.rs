//! The printed summary of a run: one row per clustering method.
use std::fmt::Write as _;

use crate::evaluate::Scores;

/// "1 image", "2 images", "1 identity", "3 identities".
pub fn count(n: usize, noun: &str) -> String {
    match (n, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        _ => format!("{n} {noun}s"),
    }
}

pub fn table(s: &Scores) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} on {}: {}, {}, E = {}{}{}",
        s.source,
        s.folder.display(),
        count(s.images, "image"),
        if s.one_nn_accuracy.is_nan() { "unlabelled".to_string() } else { count(s.identities, "identity") },
        s.dim,
        if s.normalized { ", L2-normalised" } else { "" },
        if s.skipped_files > 0 { format!(", {} skipped", count(s.skipped_files, "file")) } else { String::new() }
    );
    let _ = writeln!(
        out,
        "{:<17} {:>8} {:>6} {:>6} {:>6} {:>6} {:>10}  params",
        "method", "clusters", "noise", "ARI", "NMI", "purity", "silhouette"
    );
    // NaN: a score that needs identities, on an unlabelled folder.
    let score = |v: f64| if v.is_nan() { "-".to_string() } else { format!("{v:.3}") };
    for m in &s.methods {
        let _ = writeln!(
            out,
            "{:<17} {:>8} {:>6} {:>6} {:>6} {:>6} {:>10}  {}",
            m.method,
            m.clusters,
            m.noise,
            score(m.ari),
            score(m.nmi),
            score(m.purity),
            m.silhouette.map_or("-".into(), |v| format!("{v:.3}")),
            m.params
        );
    }
    if s.one_nn_accuracy.is_nan() {
        let _ = write!(out, "unlabelled folder: ARI, NMI, purity and 1-NN accuracy need identity folders");
    } else {
        let _ = write!(out, "leave-one-out 1-NN identity accuracy: {:.3}", s.one_nn_accuracy);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::MethodScores;

    #[test]
    fn the_table_has_a_row_per_method_and_the_one_nn_line() {
        let m = MethodScores {
            method: "kmeans".into(),
            params: "k = 2 (given)".into(),
            clusters: 2,
            noise: 0,
            ari: 0.5,
            nmi: 0.25,
            purity: 1.0,
            silhouette: None,
            seconds: 0.0,
        };
        let s = Scores {
            source: "pixels 8x8".into(),
            folder: "f".into(),
            images: 10,
            identities: 2,
            dim: 64,
            skipped_files: 1,
            normalized: true,
            one_nn_accuracy: 0.9,
            methods: vec![m],
            charts: Vec::new(),
        };
        let t = table(&s);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "pixels 8x8 on f: 10 images, 2 identities, E = 64, L2-normalised, 1 file skipped");
        assert!(lines[2].starts_with("kmeans") && lines[2].contains(" 0.500  0.250  1.000          -  k = 2 (given)"), "{}", lines[2]);
        assert_eq!(lines[3], "leave-one-out 1-NN identity accuracy: 0.900");
        assert_eq!([count(1, "identity"), count(3, "identity"), count(0, "image")], ["1 identity", "3 identities", "0 images"]);
    }
}
