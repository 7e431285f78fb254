//! PNG charts. The font is compiled in (DejaVu Sans, Bitstream Vera licence, see
//! `assets/`) so that charts render the same on machines without any fonts installed.
use std::fmt::Display;
use std::path::Path;
use std::sync::OnceLock;

use ndarray::{Array2, ArrayView2};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Error, Result};

/// Registered under plotters' default family so that every default text style finds it.
pub(super) const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

const SIZE: (u32, u32) = (1000, 800);
const PANEL: u32 = 420;
/// Above this many identities a legend would be taller than the chart and say nothing.
const MAX_LEGEND: usize = 20;

/// Sasha Trubetskoy's 20 distinct colours, the palest ones last so that small label
/// sets stay readable on white.
const PALETTE: [RGBColor; 20] = [
    RGBColor(230, 25, 75),
    RGBColor(60, 180, 75),
    RGBColor(67, 99, 216),
    RGBColor(245, 130, 49),
    RGBColor(145, 30, 180),
    RGBColor(66, 212, 244),
    RGBColor(240, 50, 230),
    RGBColor(128, 128, 0),
    RGBColor(70, 153, 144),
    RGBColor(154, 99, 36),
    RGBColor(128, 0, 0),
    RGBColor(0, 0, 117),
    RGBColor(191, 239, 69),
    RGBColor(169, 169, 169),
    RGBColor(255, 225, 25),
    RGBColor(220, 190, 255),
    RGBColor(250, 190, 212),
    RGBColor(170, 255, 195),
    RGBColor(255, 216, 177),
    RGBColor(0, 0, 0),
];

/// One named line of a [`line_chart_png`]: `(x, mean, spread)` per point; the spread is
/// drawn as a ± error bar when positive.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64, f64)>,
}

/// 2-D scatter: one colour per identity; legend when identities ≤ 20 (else none, and
/// say "N identities" in the caption); title given. `names[label]` names an identity.
pub fn scatter_png(path: &Path, points: ArrayView2<f32>, labels: &[usize], names: &[String], title: &str) -> Result<()> {
    check_points(path, points, labels)?;
    let ids = identities(labels);
    let caption = if ids.len() > MAX_LEGEND { format!("{title} ({} identities)", ids.len()) } else { title.to_string() };
    let draw = || -> DrawResult {
        let root = canvas(path, SIZE)?;
        let body = root.margin(10, 0, 0, 0).titled(&caption, (FONT, 26))?;
        let legend: Vec<(String, Key)> = if ids.len() > MAX_LEGEND {
            Vec::new()
        } else {
            ids.iter()
                .enumerate()
                .map(|(rank, &id)| {
                    let name = names.get(id).cloned().unwrap_or_else(|| format!("#{id}"));
                    (name, Key::Dot(PALETTE[rank % PALETTE.len()]))
                })
                .collect()
        };
        let plot = with_legend(&body, &legend)?;
        let mut chart = ChartBuilder::on(&plot)
            .margin(15)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(padded_range(points.column(0)), padded_range(points.column(1)))?;
        light_mesh(&mut chart, 14)?;
        let radius = if points.nrows() > 5000 { 2 } else { 3 };
        draw_identities(&mut chart, points, labels, &ids, radius)?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| plot_error(path, e))
}

/// Line chart for comparisons: x values (on a log2 axis when `log2_x`), several named
/// series with optional ± error bars, plus optional dashed horizontal reference lines
/// `(name, y)`.
pub fn line_chart_png(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    dashed: &[(String, f64)],
    log2_x: bool,
) -> Result<()> {
    let fail = |reason: &str| plot_error(path, reason);
    let to_x = |x: f64| if log2_x { x.log2() } else { x };
    let finite = |&&(x, mean, _): &&(f64, f64, f64)| to_x(x).is_finite() && mean.is_finite();
    if log2_x && series.iter().flat_map(|s| &s.points).any(|p| p.0 <= 0.0) {
        return Err(fail("x values must be positive on a log2 axis"));
    }
    let xs: Vec<f64> = series.iter().flat_map(|s| s.points.iter().filter(finite)).map(|p| to_x(p.0)).collect();
    if xs.is_empty() {
        return Err(fail("no finite points to draw"));
    }
    let mut ys: Vec<f64> = dashed.iter().map(|d| d.1).filter(|y| y.is_finite()).collect();
    for &(_, mean, spread) in series.iter().flat_map(|s| s.points.iter().filter(finite)) {
        let spread = error_bar(spread);
        ys.extend([mean - spread, mean + spread]);
    }
    let x_range = pad(bounds(xs.iter().copied()), 0.05);
    let y_range = pad(bounds(ys.iter().copied()), 0.08);

    let draw = || -> DrawResult {
        let root = canvas(path, SIZE)?;
        let body = root.margin(10, 0, 0, 0).titled(title, (FONT, 26))?;
        let colour = |i: usize| PALETTE[i % PALETTE.len()];
        let legend: Vec<(String, Key)> = series
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), Key::Line(colour(i))))
            .chain(dashed.iter().enumerate().map(|(j, d)| (d.0.clone(), Key::Dashed(colour(series.len() + j)))))
            .collect();
        let plot = with_legend(&body, &legend)?;
        let mut chart = ChartBuilder::on(&plot)
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(x_range.clone(), y_range.clone())?;

        let pow2_label = |v: &f64| tick_label(v.exp2());
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(x_label)
            .y_desc(y_label)
            .axis_desc_style((FONT, 18))
            .label_style((FONT, 14))
            .max_light_lines(4)
            .light_line_style(RGBColor(240, 240, 240))
            .bold_line_style(RGBColor(215, 215, 215));
        if log2_x {
            // One tick per power of two: a nicer step than 1 would land between them.
            let powers = (x_range.end.floor() - x_range.start.ceil()) as usize + 1;
            mesh.x_labels(powers.clamp(2, 12)).x_label_formatter(&pow2_label);
        }
        mesh.draw()?;

        for (i, s) in series.iter().enumerate() {
            let style = colour(i).stroke_width(2);
            let mut pts: Vec<(f64, f64, f64)> = s.points.iter().filter(finite).map(|&(x, m, sp)| (to_x(x), m, error_bar(sp))).collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            chart.draw_series(LineSeries::new(pts.iter().map(|p| (p.0, p.1)), style))?;
            chart.draw_series(pts.iter().map(|p| Circle::new((p.0, p.1), 4, colour(i).filled())))?;
            for &(x, m, sp) in pts.iter().filter(|p| p.2 > 0.0) {
                chart.draw_series([PathElement::new(vec![(x, m - sp), (x, m + sp)], style)])?;
                // Caps a fixed number of pixels wide, whatever the axis scale.
                for y in [m - sp, m + sp] {
                    chart.draw_series([EmptyElement::at((x, y)) + PathElement::new(vec![(-5, 0), (5, 0)], style)])?;
                }
            }
        }
        for (j, (_, y)) in dashed.iter().enumerate().filter(|d| d.1.1.is_finite()) {
            let style = colour(series.len() + j).stroke_width(2);
            let ends = [(x_range.start, *y), (x_range.end, *y)];
            chart.draw_series(DashedLineSeries::new(ends, 10, 6, style))?;
        }
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| plot_error(path, e))
}

/// Grid of small scatter plots (e.g. one UMAP per embedding size), each panel with its
/// own caption; `labels` colour the rows of every panel the same way.
pub fn scatter_grid_png(path: &Path, panels: &[(String, Array2<f32>)], labels: &[usize]) -> Result<()> {
    if panels.is_empty() {
        return Err(plot_error(path, "no panels to draw"));
    }
    for (_, points) in panels {
        check_points(path, points.view(), labels)?;
    }
    let ids = identities(labels);
    let (rows, cols) = grid_shape(panels.len());
    let draw = || -> DrawResult {
        let root = canvas(path, (cols * PANEL, rows * PANEL))?;
        for (area, (caption, points)) in root.split_evenly((rows as usize, cols as usize)).iter().zip(panels) {
            let mut chart = ChartBuilder::on(area)
                .caption(caption, (FONT, 18))
                .margin(10)
                .x_label_area_size(25)
                .y_label_area_size(40)
                .build_cartesian_2d(padded_range(points.column(0)), padded_range(points.column(1)))?;
            light_mesh(&mut chart, 11)?;
            draw_identities(&mut chart, points.view(), labels, &ids, 2)?;
        }
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| plot_error(path, e))
}

type Chart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
pub(super) type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
pub(super) type DrawResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// How a legend entry is drawn.
enum Key {
    Dot(RGBColor),
    Line(RGBColor),
    Dashed(RGBColor),
}

pub(super) fn canvas(path: &Path, size: (u32, u32)) -> DrawResult<Area<'_>> {
    static FONT_OK: OnceLock<bool> = OnceLock::new();
    let registered = FONT_OK.get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok());
    if !registered {
        return Err("the bundled font does not parse".into());
    }
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    Ok(root)
}

/// Splits a legend column off the right of `area` (when there is a legend) and returns
/// what is left for the chart, so that the legend never hides data.
fn with_legend<'a>(area: &Area<'a>, entries: &[(String, Key)]) -> DrawResult<Area<'a>> {
    if entries.is_empty() {
        return Ok(area.clone());
    }
    let text = TextStyle::from((FONT, 15)).color(&BLACK);
    let names: Vec<String> = entries.iter().map(|e| shorten(&e.0, 32)).collect();
    let mut widest = 0;
    for name in &names {
        widest = widest.max(area.estimate_text_size(name, &text)?.0);
    }
    let key_width = 34;
    let width = (widest as i32 + key_width + 20).clamp(120, 360);
    let (w, h) = area.dim_in_pixel();
    let (chart, legend) = area.split_horizontally(w as i32 - width);

    let row = ((h as i32 - 40) / entries.len() as i32).clamp(12, 26);
    let left = text.pos(Pos::new(HPos::Left, VPos::Center));
    for (i, (name, (_, key))) in names.iter().zip(entries).enumerate() {
        let y = 30 + i as i32 * row;
        match *key {
            Key::Dot(c) => legend.draw(&Circle::new((14, y), 5, c.filled()))?,
            Key::Line(c) => {
                legend.draw(&PathElement::new(vec![(2, y), (26, y)], c.stroke_width(2)))?;
                legend.draw(&Circle::new((14, y), 4, c.filled()))?;
            }
            Key::Dashed(c) => {
                for x in [2, 12, 22] {
                    legend.draw(&PathElement::new(vec![(x, y), (x + 6, y)], c.stroke_width(2)))?;
                }
            }
        }
        legend.draw(&Text::new(name.clone(), (key_width, y), left.clone()))?;
    }
    Ok(chart)
}

fn light_mesh(chart: &mut Chart<'_, '_>, font_size: u32) -> DrawResult {
    chart
        .configure_mesh()
        .label_style((FONT, font_size))
        .max_light_lines(4)
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()?;
    Ok(())
}

/// Each identity as one series, coloured by its rank among the distinct labels; past 20
/// the colours repeat with another marker shape.
fn draw_identities(chart: &mut Chart<'_, '_>, points: ArrayView2<f32>, labels: &[usize], ids: &[usize], r: i32) -> DrawResult {
    let mut groups: Vec<Vec<(f64, f64)>> = vec![Vec::new(); ids.len()];
    for (p, label) in points.rows().into_iter().zip(labels) {
        let (x, y) = (f64::from(p[0]), f64::from(p[1]));
        // Non-finite rows (umap-rs marks disconnected points NaN) have no place to go.
        if !(x.is_finite() && y.is_finite()) {
            continue;
        }
        if let Ok(rank) = ids.binary_search(label) {
            groups[rank].push((x, y));
        }
    }
    for (rank, pts) in groups.iter().enumerate() {
        let colour = PALETTE[rank % PALETTE.len()];
        let style = colour.mix(0.85).filled();
        let pts = pts.iter().copied();
        match (rank / PALETTE.len()) % 4 {
            0 => chart.draw_series(pts.map(|p| Circle::new(p, r, style)))?,
            1 => chart.draw_series(pts.map(|p| TriangleMarker::new(p, r + 1, style)))?,
            2 => chart.draw_series(pts.map(|p| EmptyElement::at(p) + Rectangle::new([(-r, -r), (r, r)], style)))?,
            _ => chart.draw_series(pts.map(|p| Cross::new(p, r, colour.stroke_width(2))))?,
        };
    }
    Ok(())
}

fn check_points(path: &Path, points: ArrayView2<f32>, labels: &[usize]) -> Result<()> {
    if points.ncols() != 2 {
        return Err(plot_error(path, format!("points have {} columns, not 2", points.ncols())));
    }
    if points.nrows() != labels.len() {
        return Err(plot_error(path, format!("{} points but {} labels", points.nrows(), labels.len())));
    }
    Ok(())
}

/// Distinct labels, sorted: a label's index here is its colour.
fn identities(labels: &[usize]) -> Vec<usize> {
    let mut ids = labels.to_vec();
    ids.sort_unstable();
    ids.dedup();
    ids
}

fn grid_shape(panels: usize) -> (u32, u32) {
    let cols = (panels as f64).sqrt().ceil().max(1.0) as u32;
    let rows = (panels as u32).div_ceil(cols);
    (rows, cols)
}

fn padded_range(values: ndarray::ArrayView1<f32>) -> std::ops::Range<f64> {
    pad(bounds(values.iter().map(|&v| f64::from(v))), 0.05)
}

/// (min, max) of the finite values; (0, 0) when there are none.
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo <= hi { (lo, hi) } else { (0.0, 0.0) }
}

/// Widens by `frac` of the span on both sides; a single value gets a unit-wide window.
fn pad((lo, hi): (f64, f64), frac: f64) -> std::ops::Range<f64> {
    let margin = if hi > lo { (hi - lo) * frac } else { 0.5 };
    lo - margin..hi + margin
}

fn error_bar(spread: f64) -> f64 {
    if spread.is_finite() { spread.abs() } else { 0.0 }
}

/// An x tick on a log2 axis: integers plainly, fractions to three significant digits.
fn tick_label(v: f64) -> String {
    if (v - v.round()).abs() < 1e-6 * v.abs().max(1.0) { format!("{}", v.round()) } else { format!("{v:.3}") }
}

fn shorten(name: &str, max_chars: usize) -> String {
    if name.chars().count() <= max_chars {
        name.to_string()
    } else {
        let mut s: String = name.chars().take(max_chars - 1).collect();
        s.push('…');
        s
    }
}

pub(super) fn plot_error(path: &Path, reason: impl Display) -> Error {
    Error::Plot { path: path.to_path_buf(), reason: reason.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn decode(path: &Path) -> image::RgbImage {
        image::open(path).expect("a readable PNG").to_rgb8()
    }

    fn colours(img: &image::RgbImage) -> usize {
        img.pixels().map(|p| p.0).collect::<HashSet<_>>().len()
    }

    /// Strongly coloured pixels in the rightmost `width` columns. Data points drawn to the
    /// chart's right edge land there; a legend takes that strip for its names (dark text
    /// on white) and pushes the chart left of it.
    fn coloured_at_right(img: &image::RgbImage, width: u32) -> usize {
        let (w, h) = img.dimensions();
        let saturated = |p: &image::Rgb<u8>| p.0.iter().max().unwrap() - p.0.iter().min().unwrap() > 80;
        (w - width..w).flat_map(|x| (0..h).map(move |y| (x, y))).filter(|&(x, y)| saturated(img.get_pixel(x, y))).count()
    }

    /// `ids` rings of points, one ring per identity, in a 2-D layout.
    fn rings(ids: usize, per: usize) -> (Array2<f32>, Vec<usize>) {
        let n = ids * per;
        let points = Array2::from_shape_fn((n, 2), |(i, c)| {
            let (id, k) = ((i / per) as f32, (i % per) as f32);
            let angle = k / per as f32 * std::f32::consts::TAU;
            let centre = [id % 5.0 * 10.0, (id / 5.0).floor() * 10.0];
            centre[c] + 2.0 * if c == 0 { angle.cos() } else { angle.sin() }
        });
        (points, (0..n).map(|i| i / per).collect())
    }

    #[test]
    fn scatter_writes_a_png_with_legend() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scatter.png");
        let (points, labels) = rings(6, 40);
        let names: Vec<String> = (0..6).map(|i| format!("person_{i}")).collect();
        scatter_png(&path, points.view(), &labels, &names, "UMAP of 6 identities").unwrap();
        let img = decode(&path);
        assert_eq!(img.dimensions(), SIZE);
        assert!(colours(&img) > 20, "{} colours", colours(&img));
        assert_eq!(coloured_at_right(&img, 100), 0, "the legend's strip holds data points");
    }

    #[test]
    fn scatter_with_many_identities_has_no_legend() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("many.png");
        let (points, labels) = rings(45, 12);
        scatter_png(&path, points.view(), &labels, &[], "t-SNE").unwrap();
        let img = decode(&path);
        assert_eq!(img.dimensions(), SIZE);
        assert!(colours(&img) > 20);
        // No legend: the chart runs to the right edge, so the rightmost rings are there.
        assert!(coloured_at_right(&img, 100) > 50, "{} coloured pixels at the right", coloured_at_right(&img, 100));
    }

    #[test]
    fn line_chart_writes_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lines.png");
        let dims = [16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
        let series: Vec<Series> = ["kmeans", "agglomerative", "chinese whispers"]
            .iter()
            .enumerate()
            .map(|(i, name)| Series {
                name: name.to_string(),
                points: dims.iter().map(|&d: &f64| (d, 0.5 + 0.05 * d.log2() - 0.1 * i as f64, 0.02 + 0.01 * i as f64)).collect(),
            })
            .collect();
        let dashed = vec![("random".to_string(), 0.1), ("ground truth".to_string(), 1.0)];
        line_chart_png(&path, "Purity vs embedding size", "embedding size", "purity", &series, &dashed, true).unwrap();
        let img = decode(&path);
        assert_eq!(img.dimensions(), SIZE);
        assert!(colours(&img) > 20);

        let linear = dir.path().join("linear.png");
        line_chart_png(&linear, "linear", "x", "y", &series[..1], &[], false).unwrap();
        assert_eq!(decode(&linear).dimensions(), SIZE);
    }

    #[test]
    fn grid_writes_one_panel_per_projection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grid.png");
        let (points, labels) = rings(8, 25);
        let panels: Vec<(String, Array2<f32>)> =
            [16, 64, 256, 1024].iter().map(|d| (format!("UMAP, {d}-d embeddings"), points.clone())).collect();
        scatter_grid_png(&path, &panels[..3], &labels).unwrap();
        let img = decode(&path);
        assert_eq!(img.dimensions(), (2 * PANEL, 2 * PANEL));
        assert!(colours(&img) > 20);
    }

    #[test]
    fn bad_paths_and_inputs_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no/such/dir/x.png");
        let (points, labels) = rings(2, 10);
        let err = scatter_png(&missing, points.view(), &labels, &[], "t").unwrap_err();
        assert!(matches!(err, Error::Plot { .. }), "{err}");
        let series = [Series { name: "s".into(), points: vec![(1.0, 1.0, 0.0)] }];
        assert!(line_chart_png(&missing, "t", "x", "y", &series, &[], false).is_err());
        assert!(scatter_grid_png(&missing, &[("p".into(), points.clone())], &labels).is_err());

        let ok = dir.path().join("ok.png");
        assert!(scatter_png(&ok, points.view(), &labels[1..], &[], "t").is_err());
        let zero_x = [Series { name: "s".into(), points: vec![(0.0, 1.0, 0.0)] }];
        assert!(line_chart_png(&ok, "t", "x", "y", &zero_x, &[], true).is_err());
        assert!(scatter_grid_png(&ok, &[], &labels).is_err());
    }
}
