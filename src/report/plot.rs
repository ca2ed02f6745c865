//! Figures of the report, drawn with `plotters` twice: as SVG (inline in the HTML, and
//! `results/plots/<name>.svg`) and as PNG through the bitmap backend (`results/plots/<name>.png`,
//! referenced by the Markdown report).
//!
//! Text needs a font: DejaVu Sans (`assets/fonts/DejaVuSans.ttf`, Bitstream Vera licence, which
//! allows redistribution; see `assets/fonts/DejaVuSans-LICENSE.txt`) is embedded in the binary and
//! registered with plotters' `ab_glyph` backend as `sans-serif`, so no system font or fontconfig
//! is used. In the SVG the text stays text (`font-family="sans-serif"`); the browser renders it.

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::sync::OnceLock;

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Registers the embedded font once (idempotent, thread-safe).
fn register_font() -> Result<(), String> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err("the embedded DejaVu Sans font could not be loaded".into())
    }
}

/// Series colours (colour-blind friendly: Okabe–Ito).
pub(crate) const COLORS: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
];

fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

type DResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// A figure that can draw itself on any plotters backend.
pub(crate) trait Plot {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DResult<DB>;
}

/// A rendered figure: SVG text and PNG bytes.
#[derive(Debug, Clone)]
pub(crate) struct Rendered {
    pub svg: String,
    pub png: Vec<u8>,
}

/// Draws `p` as SVG and as PNG.
pub(crate) fn render<P: Plot>(p: &P) -> Result<Rendered, String> {
    register_font()?;
    let (w, h) = p.size();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        p.draw(&root).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    let mut buf = vec![255u8; (w as usize) * (h as usize) * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        p.draw(&root).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    let img = image::RgbImage::from_raw(w, h, buf).ok_or("bitmap size mismatch")?;
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| format!("PNG encoding failed: {e}"))?;
    Ok(Rendered { svg, png })
}

/// Shortens a label for an axis (the tables carry the full text).
pub(crate) fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Formatter of a categorical axis drawn on f64 coordinates: integer `i` → `labels[i]`.
fn category(labels: &[String], max: usize) -> impl Fn(&f64) -> String + '_ {
    move |x: &f64| {
        let r = x.round();
        if (x - r).abs() < 1e-6 && r >= 0.0 && (r as usize) < labels.len() {
            short(&labels[r as usize], max)
        } else {
            String::new()
        }
    }
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// One named series of a bar chart: `(mean, sem)` per category, `None` where absent.
#[derive(Debug, Clone)]
pub(crate) struct BarSeries {
    pub name: String,
    pub values: Vec<Option<(f64, f64)>>,
}

/// Grouped vertical bars with s.e.m. error bars and an optional dashed reference line.
#[derive(Debug, Clone)]
pub(crate) struct Bars {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub categories: Vec<String>,
    pub series: Vec<BarSeries>,
    /// Dashed horizontal line (chance level) and its legend label.
    pub hline: Option<(f64, String)>,
    /// Upper end of the y axis; ticks above it are hidden (room for the legend).
    pub y_top: f64,
    pub y_axis_max: f64,
}

impl Plot for Bars {
    fn size(&self) -> (u32, u32) {
        let n = self.categories.len() * self.series.len().max(1);
        ((420 + 28 * n as u32).clamp(560, 1100), 420)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DResult<DB> {
        let n = self.categories.len().max(1);
        let m = self.series.len().max(1);
        let top = self.y_top;
        // Room above the bars for the legend (one row per series and the reference line).
        let entries = self.series.len() + usize::from(self.hline.is_some());
        let y_axis_max = self
            .y_axis_max
            .max(self.y_top * (1.14 + 0.075 * entries as f64));
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FAMILY, 18))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..y_axis_max)?;
        let xf = category(&self.categories, 26);
        let yf = |y: &f64| {
            if *y > top + 1e-9 {
                String::new()
            } else {
                format!("{y:.1}")
            }
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .x_labels(n)
            .x_label_formatter(&xf)
            .y_label_formatter(&yf)
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style((FAMILY, 12))
            .axis_desc_style((FAMILY, 13))
            .draw()?;
        let width = 0.8 / m as f64;
        let show_values = n * m <= 24;
        for (si, s) in self.series.iter().enumerate() {
            draw_bar_series(&mut chart, si, s, width, show_values, y_axis_max)?;
        }
        if let Some((y, label)) = &self.hline {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(-0.5, *y), (n as f64 - 0.5, *y)],
                    8,
                    5,
                    RED.stroke_width(2),
                ))?
                .label(label.clone())
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 12, y)], RED.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font((FAMILY, 12))
            .draw()?;
        Ok(())
    }
}

/// The chart type of every figure: f64 × f64 coordinates.
type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Series `si` of a bar chart: its bars (legend entry), s.e.m. error bars and, with
/// `show_values`, each mean above its bar. Bars are `width` wide, side by side per category.
fn draw_bar_series<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    si: usize,
    s: &BarSeries,
    width: f64,
    show_values: bool,
    y_axis_max: f64,
) -> DResult<DB> {
    let c = color(si);
    let x0 = move |i: usize| i as f64 - 0.4 + si as f64 * width;
    let bars: Vec<_> = s
        .values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.and_then(|(mean, _)| finite(mean)).map(|mean| (i, mean)))
        .collect();
    chart
        .draw_series(bars.iter().map(|&(i, mean)| {
            Rectangle::new(
                [(x0(i) + width * 0.04, 0.0), (x0(i) + width * 0.96, mean)],
                c.filled(),
            )
        }))?
        .label(short(&s.name, 40))
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
    chart.draw_series(s.values.iter().enumerate().filter_map(|(i, v)| {
        let (mean, sem) = (*v)?;
        (mean.is_finite() && sem.is_finite() && sem > 0.0).then(|| {
            ErrorBar::new_vertical(
                x0(i) + width * 0.5,
                mean - sem,
                mean,
                mean + sem,
                BLACK.stroke_width(1),
                6,
            )
        })
    }))?;
    if show_values {
        chart.draw_series(s.values.iter().enumerate().filter_map(|(i, v)| {
            let (mean, sem) = (*v)?;
            let mean = finite(mean)?;
            let y = mean + if sem.is_finite() { sem.max(0.0) } else { 0.0 };
            Some(Text::new(
                format!("{mean:.2}"),
                (x0(i) + width * 0.5, y + y_axis_max * 0.035),
                (FAMILY, 10)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Center, VPos::Center)),
            ))
        }))?;
    }
    Ok(())
}

/// Horizontal bars with s.e.m. error bars, first label at the top (importance rankings).
#[derive(Debug, Clone)]
pub(crate) struct HBars {
    pub title: String,
    pub x_label: String,
    pub labels: Vec<String>,
    pub values: Vec<(f64, f64)>,
}

impl Plot for HBars {
    fn size(&self) -> (u32, u32) {
        (760, (110 + 24 * self.labels.len() as u32).max(260))
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DResult<DB> {
        let n = self.labels.len().max(1);
        let xmax = self
            .values
            .iter()
            .filter_map(|&(m, s)| finite(m + s.max(0.0)))
            .fold(0.0f64, f64::max)
            .max(1e-9)
            * 1.12;
        // Row i is drawn at y = n - 1 - i (first label on top).
        let rev: Vec<String> = self.labels.iter().rev().cloned().collect();
        let label_px = (rev.iter().map(|s| s.chars().count()).max().unwrap_or(4) as u32 * 7 + 16)
            .clamp(60, 260);
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FAMILY, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(label_px)
            .build_cartesian_2d(0f64..xmax, -0.5f64..(n as f64 - 0.5))?;
        let yf = category(&rev, 36);
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(WHITE)
            .y_labels(n)
            .y_label_formatter(&yf)
            .x_desc(&self.x_label)
            .label_style((FAMILY, 12))
            .axis_desc_style((FAMILY, 13))
            .draw()?;
        let c = color(0);
        chart.draw_series(self.values.iter().enumerate().filter_map(|(i, &(m, _))| {
            let y = (n - 1 - i) as f64;
            finite(m).map(|m| Rectangle::new([(0.0, y - 0.35), (m, y + 0.35)], c.filled()))
        }))?;
        chart.draw_series(self.values.iter().enumerate().filter_map(|(i, &(m, s))| {
            let y = (n - 1 - i) as f64;
            (m.is_finite() && s.is_finite() && s > 0.0)
                .then(|| ErrorBar::new_horizontal(y, m - s, m, m + s, BLACK.stroke_width(1), 6))
        }))?;
        Ok(())
    }
}

/// A heatmap with the value written in each cell (confusion and accuracy matrices).
#[derive(Debug, Clone)]
pub(crate) struct Heatmap {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub rows: Vec<String>,
    pub cols: Vec<String>,
    /// `values[row][col]`; `None` is drawn grey with a dash.
    pub values: Vec<Vec<Option<f64>>>,
    pub vmin: f64,
    pub vmax: f64,
    pub decimals: usize,
}

/// Blues colour map: t ∈ [0, 1] → light to dark blue.
fn blues(t: f64) -> RGBColor {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let a = (247.0, 251.0, 255.0);
    let b = (8.0, 48.0, 107.0);
    let l = |x: f64, y: f64| (x + (y - x) * t).round() as u8;
    RGBColor(l(a.0, b.0), l(a.1, b.1), l(a.2, b.2))
}

impl Plot for Heatmap {
    fn size(&self) -> (u32, u32) {
        let label_px = self.row_label_px();
        let cell = 70u32;
        let w = label_px + 60 + cell * self.cols.len().max(1) as u32;
        let h = 130 + cell * self.rows.len().max(1) as u32;
        (w.max(360), h.max(240))
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DResult<DB> {
        let nr = self.rows.len().max(1);
        let nc = self.cols.len().max(1);
        let rev: Vec<String> = self.rows.iter().rev().cloned().collect();
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FAMILY, 17))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(self.row_label_px())
            .build_cartesian_2d(-0.5f64..(nc as f64 - 0.5), -0.5f64..(nr as f64 - 0.5))?;
        let xf = category(&self.cols, 14);
        let yf = category(&rev, 24);
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(nc)
            .y_labels(nr)
            .x_label_formatter(&xf)
            .y_label_formatter(&yf)
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style((FAMILY, 12))
            .axis_desc_style((FAMILY, 13))
            .draw()?;
        let span = (self.vmax - self.vmin).max(1e-12);
        let mut cells = Vec::new();
        let mut texts = Vec::new();
        for (i, row) in self.values.iter().enumerate() {
            let y = (nr - 1 - i) as f64;
            for (j, v) in row.iter().enumerate() {
                let x = j as f64;
                let (fill, text, light) = match v.and_then(finite) {
                    Some(v) => {
                        let t = (v - self.vmin) / span;
                        (
                            blues(t).filled(),
                            format!("{v:.*}", self.decimals),
                            t > 0.55,
                        )
                    }
                    None => (RGBColor(220, 220, 220).filled(), "–".to_string(), false),
                };
                cells.push(Rectangle::new(
                    [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                    fill,
                ));
                let tc = if light { WHITE } else { BLACK };
                texts.push(Text::new(
                    text,
                    (x, y),
                    (FAMILY, 13)
                        .into_font()
                        .color(&tc)
                        .pos(Pos::new(HPos::Center, VPos::Center)),
                ));
            }
        }
        chart.draw_series(cells)?;
        chart.draw_series(texts)?;
        Ok(())
    }
}

impl Heatmap {
    fn row_label_px(&self) -> u32 {
        (self
            .rows
            .iter()
            .map(|s| s.chars().count().min(24))
            .max()
            .unwrap_or(4) as u32
            * 7
            + 40)
            .clamp(70, 240)
    }
}

/// One line: points `(x, y, sem)`.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub name: String,
    pub points: Vec<(f64, f64, Option<f64>)>,
}

/// One panel of a line figure.
#[derive(Debug, Clone)]
pub(crate) struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub lines: Vec<Line>,
    /// Fixed y range; `None` fits the data.
    pub y_range: Option<(f64, f64)>,
    /// Dashed horizontal reference (chance).
    pub hline: Option<f64>,
    /// The reference line's legend label (default "chance").
    pub hline_label: Option<String>,
    /// Hide y tick labels above this value (the space above is for the legend).
    pub hide_above: Option<f64>,
}

/// Line panels in a grid (training curves, trajectory subsampling).
#[derive(Debug, Clone)]
pub(crate) struct Lines {
    pub title: String,
    pub panels: Vec<Panel>,
    pub cols: usize,
}

impl Lines {
    fn grid(&self) -> (usize, usize) {
        let n = self.panels.len().max(1);
        let c = self.cols.clamp(1, n);
        (n.div_ceil(c), c)
    }
}

impl Plot for Lines {
    fn size(&self) -> (u32, u32) {
        let (r, c) = self.grid();
        ((430 * c as u32).max(560), 40 + 330 * r as u32)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DResult<DB> {
        let area = root.titled(&self.title, (FAMILY, 18))?;
        let (r, c) = self.grid();
        for (panel, a) in self.panels.iter().zip(area.split_evenly((r, c))) {
            draw_panel(panel, &a)?;
        }
        Ok(())
    }
}

/// A panel's finite points, every line's.
fn panel_points(p: &Panel) -> impl Iterator<Item = &(f64, f64, Option<f64>)> {
    p.lines
        .iter()
        .flat_map(|l| l.points.iter())
        .filter(|(x, y, _)| x.is_finite() && y.is_finite())
}

/// A panel's x extent (before padding): its points' range, at least 1 wide when they share one
/// x, 0..1 without points.
fn panel_x_range(p: &Panel) -> (f64, f64) {
    let (mut x0, mut x1) = panel_points(p)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &(x, _, _)| {
            (a.min(x), b.max(x))
        });
    if !x0.is_finite() {
        (x0, x1) = (0.0, 1.0);
    }
    if x1 - x0 < 1e-9 {
        x0 -= 0.5;
        x1 += 0.5;
    }
    (x0, x1)
}

/// A panel's y range: the fixed one, else the points ± their s.e.m. and the reference line,
/// with room above for the legend.
fn panel_y_range(p: &Panel) -> (f64, f64) {
    match p.y_range {
        Some(r) => r,
        None => {
            let (mut a, mut b) =
                panel_points(p).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &(_, y, s)| {
                    let s = s.filter(|s| s.is_finite()).unwrap_or(0.0);
                    (a.min(y - s), b.max(y + s))
                });
            if let Some(h) = p.hline {
                a = a.min(h);
                b = b.max(h);
            }
            if !a.is_finite() {
                (a, b) = (0.0, 1.0);
            }
            let d = (b - a).max(1e-9);
            // Room above the data for the legend.
            (a - 0.06 * d, b + 0.5 * d)
        }
    }
}

/// Line `li` of a panel: the line (legend entry), its points and their s.e.m. error bars.
fn draw_line<DB: DrawingBackend>(chart: &mut Chart<'_, DB>, li: usize, l: &Line) -> DResult<DB> {
    let c = color(li);
    let good: Vec<(f64, f64, Option<f64>)> = l
        .points
        .iter()
        .copied()
        .filter(|(x, y, _)| x.is_finite() && y.is_finite())
        .collect();
    chart
        .draw_series(LineSeries::new(
            good.iter().map(|&(x, y, _)| (x, y)),
            c.stroke_width(2),
        ))?
        .label(short(&l.name, 30))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], c.stroke_width(2)));
    chart.draw_series(
        good.iter()
            .map(|&(x, y, _)| Circle::new((x, y), 3, c.filled())),
    )?;
    chart.draw_series(good.iter().filter_map(|&(x, y, s)| {
        let s = s.filter(|s| s.is_finite() && *s > 0.0)?;
        Some(ErrorBar::new_vertical(
            x,
            y - s,
            y,
            y + s,
            c.stroke_width(1),
            6,
        ))
    }))?;
    Ok(())
}

fn draw_panel<DB: DrawingBackend>(p: &Panel, area: &DrawingArea<DB, Shift>) -> DResult<DB> {
    let (x0, x1) = panel_x_range(p);
    let pad = (x1 - x0) * 0.04;
    let (y0, y1) = panel_y_range(p);
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, (FAMILY, 14))
        .margin(10)
        .x_label_area_size(38)
        .y_label_area_size(54)
        .build_cartesian_2d((x0 - pad)..(x1 + pad), y0..y1)?;
    // Integer x (epochs, sample counts): integer ticks only.
    let integer_x = panel_points(p).all(|&(x, _, _)| (x - x.round()).abs() < 1e-9);
    let x_ticks = if integer_x {
        ((x1 - x0).round() as usize + 1).clamp(2, 11)
    } else {
        8
    };
    let xf = move |x: &f64| {
        if (x - x.round()).abs() < 1e-9 {
            format!("{x:.0}")
        } else if integer_x {
            String::new()
        } else {
            format!("{x:.1}")
        }
    };
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_labels(x_ticks)
        .y_labels(6)
        .x_label_formatter(&xf)
        .y_label_formatter(&|y: &f64| match p.hide_above {
            Some(h) if *y > h + 1e-9 => String::new(),
            // Enough digits to tell the ticks of a narrow range apart.
            _ if (y1 - y0).abs() < 0.05 => format!("{y:.4}"),
            _ => format!("{y:.2}"),
        })
        .x_desc(&p.x_label)
        .y_desc(&p.y_label)
        .label_style((FAMILY, 11))
        .axis_desc_style((FAMILY, 12))
        .draw()?;
    for (li, l) in p.lines.iter().enumerate() {
        draw_line(&mut chart, li, l)?;
    }
    if let Some(h) = p.hline {
        chart
            .draw_series(DashedLineSeries::new(
                vec![(x0 - pad, h), (x1 + pad, h)],
                8,
                5,
                RED.stroke_width(1),
            ))?
            .label(p.hline_label.as_deref().unwrap_or("chance"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], RED.stroke_width(1)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font((FAMILY, 11))
        .draw()?;
    Ok(())
}
