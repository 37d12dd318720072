//! What the experiments' figures share: matplotlib's colours, curves with markers and dashes, a
//! line-chart panel, and the figure as an SVG string. (The `train` command's plot is in
//! `plot.rs`.)

use std::ops::Range;

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// A drawing area of an SVG figure.
pub type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// What drawing returns: plotters' errors, boxed.
pub type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// matplotlib's first colours ("tab10"), the book's figures' colours, in order.
pub const COLORS: [RGBColor; 6] = [
    RGBColor(0x1f, 0x77, 0xb4), // blue
    RGBColor(0xff, 0x7f, 0x0e), // orange
    RGBColor(0x2c, 0xa0, 0x2c), // green
    RGBColor(0xd6, 0x27, 0x28), // red
    RGBColor(0x94, 0x67, 0xbd), // purple
    RGBColor(0x8c, 0x56, 0x4b), // brown
];

/// The font of every text.
pub const FONT: &str = "sans-serif";

/// A point marker, drawn every few points of a curve (the book's `marker=..., markevery=...`),
/// so that curves stay apart in grey too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    /// `o`.
    Circle,
    /// `x`.
    Cross,
    /// `s`.
    Square,
    /// `D` (drawn as a triangle).
    Triangle,
    /// `+`.
    Plus,
}

impl Marker {
    /// The marker as one polyline around `(x, 0)`, in pixels (a circle as a 12-gon).
    fn outline(self, x: i32) -> Vec<(i32, i32)> {
        let offsets: Vec<(i32, i32)> = match self {
            Marker::Circle => (0..=12)
                .map(|k| {
                    let t = f64::from(k) * std::f64::consts::TAU / 12.0;
                    (
                        (4.0 * t.cos()).round() as i32,
                        (4.0 * t.sin()).round() as i32,
                    )
                })
                .collect(),
            Marker::Cross => vec![(-4, -4), (4, 4), (0, 0), (4, -4), (-4, 4)],
            Marker::Square => vec![(-4, -4), (4, -4), (4, 4), (-4, 4), (-4, -4)],
            Marker::Triangle => vec![(0, -5), (5, 4), (-5, 4), (0, -5)],
            Marker::Plus => vec![(-6, 0), (6, 0), (0, 0), (0, -6), (0, 6)],
        };
        offsets.into_iter().map(|(dx, dy)| (x + dx, dy)).collect()
    }

    /// The markers in the book's order of use.
    pub const ALL: [Marker; 4] = [
        Marker::Circle,
        Marker::Cross,
        Marker::Square,
        Marker::Triangle,
    ];
}

/// One curve of a chart.
#[derive(Clone, Debug)]
pub struct Curve {
    /// Its legend entry (empty: not in the legend).
    pub label: String,
    /// The points, in order of x.
    pub points: Vec<(f64, f64)>,
    /// The colour.
    pub color: RGBColor,
    /// Dashed instead of solid.
    pub dashed: bool,
    /// A marker every `marker_every` points, if any.
    pub marker: Option<Marker>,
    /// Points between two markers.
    pub marker_every: usize,
}

impl Curve {
    /// A solid curve without markers.
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>, color: RGBColor) -> Self {
        Curve {
            label: label.into(),
            points,
            color,
            dashed: false,
            marker: None,
            marker_every: 1,
        }
    }

    /// The same curve, dashed.
    pub fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }

    /// The same curve with `marker` on every `every`-th point (the first one included).
    pub fn marked(mut self, marker: Marker, every: usize) -> Self {
        self.marker = Some(marker);
        self.marker_every = every.max(1);
        self
    }
}

/// A line chart: its title, axes and curves.
pub struct Panel<'a> {
    /// Caption above the chart (empty for none).
    pub title: &'a str,
    /// The x axis' label (empty for none).
    pub x_label: &'a str,
    /// The y axis' label (empty for none).
    pub y_label: &'a str,
    /// The x range shown.
    pub x: Range<f64>,
    /// The y range shown; parts of curves outside it are not drawn.
    pub y: Range<f64>,
    /// The curves, drawn in order.
    pub curves: &'a [Curve],
    /// Where the legend goes, if anywhere.
    pub legend: Option<SeriesLabelPosition>,
    /// Font size of the title (the axis labels are a little smaller).
    pub font_size: u32,
}

/// Draws `panel` on `area`.
pub fn draw_panel(area: &Area<'_>, panel: &Panel<'_>) -> DrawResult {
    let small = panel.font_size * 4 / 5;
    let mut chart = ChartBuilder::on(area);
    chart.margin(8).margin_right(16);
    if !panel.title.is_empty() {
        chart.caption(panel.title, (FONT, panel.font_size));
    }
    let x_area = if panel.x_label.is_empty() { 24 } else { 40 };
    let y_area = if panel.y_label.is_empty() { 36 } else { 56 };
    let mut chart = chart
        .x_label_area_size(x_area)
        .y_label_area_size(y_area)
        .build_cartesian_2d(panel.x.clone(), panel.y.clone())?;
    chart
        .configure_mesh()
        .x_desc(panel.x_label)
        .y_desc(panel.y_label)
        .axis_desc_style((FONT, small))
        .label_style((FONT, small))
        .light_line_style(WHITE.mix(0.0))
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .draw()?;
    for curve in panel.curves {
        let style = curve.color.stroke_width(2);
        let mut first = true;
        for run in runs_within(&curve.points, &panel.y) {
            let drawn = if curve.dashed {
                chart.draw_series(DashedLineSeries::new(run, 6, 4, style))?
            } else {
                chart.draw_series(LineSeries::new(run, style))?
            };
            if first && !curve.label.is_empty() {
                // A short line (in two pieces when dashed) with the marker in its middle.
                let style = curve.color.stroke_width(2);
                let (left, right) = if curve.dashed { (7, 13) } else { (10, 10) };
                let outline = curve.marker.map_or_else(Vec::new, |m| m.outline(10));
                drawn.label(curve.label.as_str()).legend(move |(x, y)| {
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(0, 0), (left, 0)], style)
                        + PathElement::new(vec![(right, 0), (20, 0)], style)
                        + PathElement::new(outline.clone(), style)
                });
            }
            first = false;
        }
        if let Some(marker) = curve.marker {
            let points: Vec<(f64, f64)> = curve
                .points
                .iter()
                .step_by(curve.marker_every)
                .filter(|&&(_, y)| y >= panel.y.start && y <= panel.y.end)
                .copied()
                .collect();
            draw_markers(&mut chart, &points, marker, curve.color)?;
        }
    }
    if let Some(position) = &panel.legend {
        chart
            .configure_series_labels()
            .position(position.clone())
            .label_font((FONT, small))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()?;
    }
    Ok(())
}

/// `marker`s of `color` at `points`, in chart coordinates.
fn draw_markers<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    points: &[(f64, f64)],
    marker: Marker,
    color: RGBColor,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let style = color.stroke_width(2);
    let points = points.iter().copied();
    match marker {
        Marker::Circle => chart.draw_series(points.map(|p| Circle::new(p, 4, style)))?,
        Marker::Cross => chart.draw_series(points.map(|p| Cross::new(p, 4, style)))?,
        Marker::Square => chart.draw_series(
            points.map(|p| EmptyElement::at(p) + Rectangle::new([(-4, -4), (4, 4)], style)),
        )?,
        Marker::Triangle => chart.draw_series(points.map(|p| TriangleMarker::new(p, 5, style)))?,
        Marker::Plus => chart.draw_series(points.map(|p| {
            EmptyElement::at(p)
                + PathElement::new(vec![(-7, 0), (7, 0)], style)
                + PathElement::new(vec![(0, -7), (0, 7)], style)
        }))?,
    };
    Ok(())
}

/// The maximal runs of consecutive points whose y is inside `range` (the parts of a curve a
/// chart of that range shows; the book's `plt.ylim` clips the same way).
pub fn runs_within(points: &[(f64, f64)], range: &Range<f64>) -> Vec<Vec<(f64, f64)>> {
    let mut runs = Vec::new();
    let mut run = Vec::new();
    for &(x, y) in points {
        if y.is_finite() && y >= range.start && y <= range.end {
            run.push((x, y));
        } else if !run.is_empty() {
            runs.push(std::mem::take(&mut run));
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

/// Draws a figure of `size` pixels on a white background with `title` on top, through
/// `draw` on the area below the title, and returns the SVG.
pub fn figure(
    size: (u32, u32),
    title: &str,
    draw: impl FnOnce(&Area<'_>) -> DrawResult,
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        let drawn = root
            .fill(&WHITE)
            .map_err(Into::into)
            .and_then(|()| Ok(root.titled(title, (FONT, 24))?))
            .and_then(|body| draw(&body))
            .and_then(|()| Ok(root.present()?));
        drawn.map_err(|e| anyhow!("cannot draw the figure {title:?}: {e}"))?;
    }
    Ok(svg)
}

/// A tick label: at most 6 decimals, without trailing zeros (`2000`, `0.5`, `0.3`).
pub fn tick(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// Formats a number for a chart title or a table: 3 significant digits, in scientific notation
/// below 0.001 (`1e-4`, `0.0464`, `0.316`, `1`).
pub fn short(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if v.abs() < 1e-3 {
        let s = format!("{v:.2e}");
        // 1.00e-4 -> 1e-4, 2.15e-3 stays
        let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        return format!("{mantissa}e{exponent}");
    }
    let digits = (2 - v.abs().log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_within_cut_the_curve_where_it_leaves_the_range() {
        let points = [
            (0.0, 0.5),
            (1.0, 2.0),
            (2.0, 0.9),
            (3.0, 0.8),
            (4.0, f64::NAN),
        ];
        let runs = runs_within(&points, &(0.0..1.0));
        assert_eq!(runs, vec![vec![(0.0, 0.5)], vec![(2.0, 0.9), (3.0, 0.8)]]);
        assert!(runs_within(&[(0.0, 5.0)], &(0.0..1.0)).is_empty());
    }

    #[test]
    fn ticks_drop_useless_decimals() {
        assert_eq!(tick(2000.0), "2000");
        assert_eq!(tick(0.1 + 0.2), "0.3");
        assert_eq!(tick(-0.0), "0");
        assert_eq!(tick(2.5), "2.5");
    }

    #[test]
    fn short_numbers_read_like_the_books_titles() {
        assert_eq!(short(1.0), "1");
        assert_eq!(short(0.046_415_888), "0.0464");
        assert_eq!(short(0.316_227_77), "0.316");
        assert_eq!(short(0.000_1), "1e-4");
        assert_eq!(short(0.002_154_43), "0.00215");
        assert_eq!(short(0.000_215_443), "2.15e-4");
        assert_eq!(short(12.345), "12.3");
        assert_eq!(short(0.0), "0");
    }

    #[test]
    fn a_figure_has_its_title_labels_and_legend() {
        let curves = [
            Curve::new("train", vec![(0.0, 0.1), (1.0, 0.9)], COLORS[0]).marked(Marker::Circle, 1),
            Curve::new("test", vec![(0.0, 0.1), (1.0, 0.7)], COLORS[1])
                .dashed()
                .marked(Marker::Square, 1),
        ];
        let svg = figure((400, 300), "Overfitting", |area| {
            draw_panel(
                area,
                &Panel {
                    title: "λ = 0",
                    x_label: "epochs",
                    y_label: "accuracy",
                    x: 0.0..1.0,
                    y: 0.0..1.0,
                    curves: &curves,
                    legend: Some(SeriesLabelPosition::LowerRight),
                    font_size: 16,
                },
            )
        })
        .unwrap();
        for text in [
            "Overfitting",
            "λ = 0",
            "epochs",
            "accuracy",
            "train",
            "test",
        ] {
            assert!(svg.contains(text), "no {text} in the figure");
        }
    }
}
