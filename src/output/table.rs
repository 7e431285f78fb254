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

/// A score as the tables print it: three decimals, "n/a" for NaN (a score that needs
/// identities on an unlabelled folder, or one undefined on this folder).
pub fn score(v: f64) -> String {
    if v.is_nan() { "n/a".into() } else { format!("{v:.3}") }
}

/// The leave-one-out 1-NN accuracy as printed: NaN is a labelled folder where no image
/// has another of its identity to find, which "0.000" would misreport as all wrong.
pub fn one_nn(v: f64) -> String {
    if v.is_nan() { "n/a (no identity has two images)".into() } else { format!("{v:.3}") }
}

pub fn table(s: &Scores) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} on {}: {}, {}, E = {}{}{}",
        s.source,
        s.folder.display(),
        count(s.images, "image"),
        if s.labelled { count(s.identities, "identity") } else { "unlabelled".to_string() },
        s.dim,
        if s.normalized { ", L2-normalised" } else { "" },
        if s.skipped_files > 0 { format!(", {} skipped", count(s.skipped_files, "file")) } else { String::new() }
    );
    let _ = writeln!(
        out,
        "{:<17} {:>8} {:>6} {:>6} {:>6} {:>6} {:>10}  params",
        "method", "clusters", "noise", "ARI", "NMI", "purity", "silhouette"
    );
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
            score(m.silhouette.unwrap_or(f64::NAN)),
            m.params
        );
    }
    if s.labelled {
        let _ = write!(out, "leave-one-out 1-NN identity accuracy: {}", one_nn(s.one_nn_accuracy));
    } else {
        let _ = write!(out, "unlabelled folder: ARI, NMI, purity and 1-NN accuracy need identity folders");
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
            labelled: true,
        };
        let t = table(&s);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "pixels 8x8 on f: 10 images, 2 identities, E = 64, L2-normalised, 1 file skipped");
        assert!(lines[2].starts_with("kmeans") && lines[2].contains(" 0.500  0.250  1.000        n/a  k = 2 (given)"), "{}", lines[2]);
        assert_eq!(lines[3], "leave-one-out 1-NN identity accuracy: 0.900");
        // Labelled, but no identity with a second image: the 1-NN accuracy is undefined.
        let t = table(&Scores { one_nn_accuracy: f64::NAN, ..s.clone() });
        assert_eq!(t.lines().last().unwrap(), "leave-one-out 1-NN identity accuracy: n/a (no identity has two images)");
        assert!(t.lines().next().unwrap().contains("2 identities"));
        let t = table(&Scores { one_nn_accuracy: f64::NAN, labelled: false, ..s });
        assert!(t.contains("10 images, unlabelled") && t.contains("unlabelled folder:"), "{t}");
        assert_eq!([count(1, "identity"), count(3, "identity"), count(0, "image")], ["1 identity", "3 identities", "0 images"]);
    }
}
