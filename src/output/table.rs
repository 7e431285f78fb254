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

/// A score as the tables print it: three decimals, "n/a" where there is none (a score
/// that needs identities on an unlabelled folder, or one undefined on this folder).
pub fn score(v: Option<f64>) -> String {
    v.filter(|v| !v.is_nan()).map_or("n/a".into(), |v| format!("{v:.3}"))
}

/// The columns of the score table, printed and in the report alike.
pub const HEADER: [&str; 8] = ["method", "clusters", "noise", "ARI", "NMI", "purity", "silhouette", "parameters"];

/// One row per clustering method, under [`HEADER`].
pub fn rows(s: &Scores) -> Vec<[String; 8]> {
    s.methods
        .iter()
        .map(|m| {
            [
                m.method.clone(),
                m.clusters.to_string(),
                m.noise.to_string(),
                score(m.ari),
                score(m.nmi),
                score(m.purity),
                score(m.silhouette),
                m.params.clone(),
            ]
        })
        .collect()
}

/// The line above the table: what made the vectors, of which folder, how many.
pub fn headline(s: &Scores) -> String {
    format!(
        "{} on {}: {}, {}, E = {}{}{}",
        s.source,
        s.folder.display(),
        count(s.images, "image"),
        if s.labelled { count(s.identities, "identity") } else { "unlabelled".to_string() },
        s.dim,
        if s.normalized { ", L2-normalised" } else { "" },
        if s.skipped_files > 0 { format!(", {} skipped", count(s.skipped_files, "file")) } else { String::new() }
    )
}

/// The line below the table: the 1-NN accuracy, or why there is none.
pub fn footnote(s: &Scores) -> String {
    match (s.labelled, s.one_nn_accuracy) {
        (false, _) => "unlabelled folder: ARI, NMI, purity and 1-NN accuracy need identity folders".into(),
        // No image has another of its identity to find: "0.000" would misreport it as all wrong.
        (true, None) => "leave-one-out 1-NN identity accuracy: n/a (no identity has two images)".into(),
        (true, Some(v)) => format!("leave-one-out 1-NN identity accuracy: {v:.3}"),
    }
}

pub fn table(s: &Scores) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", headline(s));
    let [a, b, c, d, e, f, g, _] = HEADER;
    let _ = writeln!(out, "{a:<17} {b:>8} {c:>6} {d:>6} {e:>6} {f:>6} {g:>10}  params");
    for [a, b, c, d, e, f, g, h] in rows(s) {
        let _ = writeln!(out, "{a:<17} {b:>8} {c:>6} {d:>6} {e:>6} {f:>6} {g:>10}  {h}");
    }
    let _ = write!(out, "{}", footnote(s));
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
            ari: Some(0.5),
            nmi: Some(0.25),
            purity: Some(1.0),
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
            one_nn_accuracy: Some(0.9),
            methods: vec![m],
            charts: Vec::new(),
            labelled: true,
            checkpoint: None,
        };
        let t = table(&s);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "pixels 8x8 on f: 10 images, 2 identities, E = 64, L2-normalised, 1 file skipped");
        assert!(lines[2].starts_with("kmeans") && lines[2].contains(" 0.500  0.250  1.000        n/a  k = 2 (given)"), "{}", lines[2]);
        assert_eq!(lines[3], "leave-one-out 1-NN identity accuracy: 0.900");
        // Labelled, but no identity with a second image: the 1-NN accuracy is undefined.
        let t = table(&Scores { one_nn_accuracy: None, ..s.clone() });
        assert_eq!(t.lines().last().unwrap(), "leave-one-out 1-NN identity accuracy: n/a (no identity has two images)");
        assert!(t.lines().next().unwrap().contains("2 identities"));
        let t = table(&Scores { one_nn_accuracy: None, labelled: false, ..s });
        assert!(t.contains("10 images, unlabelled") && t.contains("unlabelled folder:"), "{t}");
        assert_eq!([count(1, "identity"), count(3, "identity"), count(0, "image")], ["1 identity", "3 identities", "0 images"]);
    }
}
