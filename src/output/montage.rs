//! One picture per cluster (`--montage`): up to 5 × 5 of its faces, its id and size, the
//! folder name most of its faces carry and that share, and its mean face, so that a user
//! can see who a cluster is without opening its files. Written to `montages/` in the run
//! folder, named as the kept folders are ([`super::folders::cluster_names`]:
//! `person_001_s21.png`, largest first) and `noise.png` for the faces no cluster took;
//! `match` writes `person_<name>.png` per matched person and `unknown.png`.
use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::plot::{FONT, canvas, plot_error};
use crate::cluster::Method;
use crate::embed::Embeddings;
use crate::error::{Error, Result};
use crate::image::ImageSpec;
use crate::image::decode::load_image;

pub const MONTAGE_DIR: &str = "montages";
const SIDE: usize = 5;
const THUMB: usize = 64;
const GAP: usize = 4;
const MEAN: usize = 2 * THUMB;

/// What the groups of a montage are.
#[derive(Clone, Copy, Debug)]
pub enum Groups<'a> {
    /// Clusters of a method, named by [`super::folders::cluster_names`].
    Clusters(Method),
    /// Gallery people a query was matched to (`facemb match`), by index into these names:
    /// `person_<name>.png`, and `unknown.png` for −1.
    People(&'a [String]),
}

impl Groups<'_> {
    /// The file and title of each group of `labels`.
    fn files_and_titles(&self, emb: &Embeddings, labels: &[i64]) -> BTreeMap<i64, (String, String)> {
        match self {
            Groups::Clusters(m) => super::folders::cluster_names(emb, labels)
                .into_iter()
                .map(|(g, name)| (g, (format!("{name}.png"), format!("{} {name}", m.name()))))
                .collect(),
            Groups::People(names) => labels
                .iter()
                .map(|&g| match names.get(g as usize).filter(|_| g >= 0) {
                    Some(who) => (g, (format!("person_{}.png", super::folders::file_safe(who, 120)), format!("matched to {who}"))),
                    None => (g, ("unknown.png".into(), "unknown".into())),
                })
                .collect(),
        }
    }
}

/// Draws the montages of `labels` (a group per row of `emb`, −1 = noise or unknown) into
/// `run_dir/montages/`; returns how many were drawn. Files that no longer decode are left
/// out of the picture, not an error.
pub fn draw(run_dir: &Path, emb: &Embeddings, groups: Groups, labels: &[i64]) -> Result<usize> {
    let dir = run_dir.join(MONTAGE_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let mut members: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (row, &l) in labels.iter().enumerate() {
        members.entry(l).or_default().push(row);
    }
    let spec = ImageSpec { size: THUMB, channels: 3 };
    let files = groups.files_and_titles(emb, labels);
    for (&cluster, rows) in &members {
        let faces: Vec<Vec<f32>> = rows.iter().filter_map(|&r| load_image(&emb.paths[r], spec).ok()).collect();
        let mut mean = vec![0.0f32; spec.len()];
        for f in &faces {
            mean.iter_mut().zip(f).for_each(|(m, v)| *m += v / faces.len() as f32);
        }
        let (name, title) = &files[&cluster];
        let path = dir.join(name);
        let caption = format!("{title}: {}{}", super::table::count(rows.len(), "face"), majority(emb, rows));
        picture(&path, &caption, &faces, &mean).map_err(|e| plot_error(&path, e))?;
    }
    Ok(members.len())
}

/// ", mostly <name> (83 %)" when the faces carry folder names.
fn majority(emb: &Embeddings, rows: &[usize]) -> String {
    let Some((id, n)) = super::folders::majority(emb, rows) else { return String::new() };
    format!(", mostly {} ({:.0} %)", emb.names[id], 100.0 * n as f64 / rows.len() as f64)
}

/// CHW floats in [0, 1] → interleaved RGB bytes.
pub(crate) fn rgb(chw: &[f32]) -> Vec<u8> {
    let plane = chw.len() / 3;
    (0..plane).flat_map(|i| (0..3).map(move |c| (chw[c * plane + i].clamp(0.0, 1.0) * 255.0).round() as u8)).collect()
}

/// Nearest-neighbour doubling, for the mean face.
fn doubled(rgb: &[u8], side: usize) -> Vec<u8> {
    (0..2 * side).flat_map(|y| (0..2 * side).flat_map(move |x| rgb[3 * ((y / 2) * side + x / 2)..][..3].to_vec())).collect()
}

fn picture(path: &Path, caption: &str, faces: &[Vec<f32>], mean: &[f32]) -> Result<(), Box<dyn std::error::Error>> {
    let grid = SIDE * (THUMB + GAP);
    let rows = faces.len().min(SIDE * SIDE).div_ceil(SIDE);
    let (w, h) = (grid + 2 * GAP + MEAN + 3 * GAP, 40 + (rows * (THUMB + GAP)).max(MEAN + 24));
    let root = canvas(path, (w as u32, h as u32))?;
    let text = TextStyle::from((FONT, 15)).color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
    root.draw(&Text::new(caption.to_string(), (GAP as i32, 18), text.clone()))?;
    for (i, face) in faces.iter().take(SIDE * SIDE).enumerate() {
        let (x, y) = (GAP + (i % SIDE) * (THUMB + GAP), 36 + (i / SIDE) * (THUMB + GAP));
        if let Some(img) = BitMapElement::with_owned_buffer((x as i32, y as i32), (THUMB as u32, THUMB as u32), rgb(face)) {
            root.draw(&img)?;
        }
    }
    let mx = grid + 3 * GAP;
    if !faces.is_empty()
        && let Some(img) = BitMapElement::with_owned_buffer((mx as i32, 36), (MEAN as u32, MEAN as u32), doubled(&rgb(mean), THUMB))
    {
        root.draw(&img)?;
    }
    root.draw(&Text::new(format!("mean of {}", faces.len()), (mx as i32, (36 + MEAN + 12) as i32), text))?;
    root.present()?;
    Ok(())
}
