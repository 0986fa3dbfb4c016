//! Figures of a [`Surface`]: contour lines, a heat map with a colour bar, a 3-D surface and 1-D
//! curves, all drawn with plotters onto any `DrawingBackend` (PNG and SVG natively, a canvas in
//! the browser), plus the iso-line extraction and level choice they share.
//!
//! Coordinates: the α axis (`surface.x`, columns) is horizontal, the β axis (`surface.y`, rows) is
//! vertical with row 0 (the smallest β) at the bottom. Iso-lines come from the `contour` crate's
//! marching squares; only cells whose four corners are computed contribute a segment, so partial
//! surfaces never show interpolated guesses.

use std::ops::Range;

use contour::ContourBuilder;
use plotters::coord::Shift;
use plotters::coord::cartesian::Cartesian3d;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::{Deserialize, Serialize};

use crate::surface::{ACCURACY, Grid2, LOSS, Surface};

/// Font family used by every figure; [`register_fonts`] binds it to the bundled DejaVu Sans.
const FONT: &str = "sans-serif";
/// Colour of cells that are not computed (or not finite).
const MISSING: RGBColor = RGBColor(222, 222, 222);
/// Line colour of the main curve in 1-D plots (matplotlib's C0).
const LOSS_COLOUR: RGBColor = RGBColor(31, 119, 180);
/// Line colour of the accuracy curve in 1-D plots (matplotlib's C1).
const ACCURACY_COLOUR: RGBColor = RGBColor(255, 127, 14);
/// Default horizontal rotation of the 3-D view, radians.
pub const DEFAULT_YAW: f64 = 0.7;
/// Default elevation of the 3-D view, radians.
pub const DEFAULT_PITCH: f64 = 0.35;

/// Make "sans-serif" resolve to the bundled DejaVu Sans (native text rendering has no system
/// fonts). Idempotent; every `draw_*` function calls it, so callers only need it when they draw
/// text of their own. In the browser the canvas uses the page's fonts and this does nothing.
pub fn register_fonts() {
    #[cfg(not(target_arch = "wasm32"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // The bytes are a font we ship; a failure here would be a broken build artefact, and
            // the figures would then fail with a "font unavailable" backend error, not a panic.
            let _ = plotters::style::register_font(
                FONT,
                FontStyle::Normal,
                include_bytes!("../static/fonts/DejaVuSans.ttf"),
            );
        });
    }
}

/// What to draw and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlotOptions {
    /// Metric to draw (default [`LOSS`]).
    pub metric: String,
    /// Colour, contour levels and the value axis on a log₁₀ scale (default false). In 2-D figures
    /// values ≤ 0 are clamped to the smallest positive value; curves leave them out.
    pub log_scale: bool,
    /// Approximate number of contour levels (default 12); the levels themselves are round numbers.
    pub levels: usize,
    /// Figure title; `None` = "metric — checkpoint", `Some("")` = no title.
    pub title: Option<String>,
    /// Value range of the colour scale, shared across models when comparing; `None` = this
    /// surface's own range.
    pub color_range: Option<(f64, f64)>,
}

impl Default for PlotOptions {
    fn default() -> Self {
        Self {
            metric: LOSS.to_string(),
            log_scale: false,
            levels: 12,
            title: None,
            color_range: None,
        }
    }
}

/// Where the (α, β) plane of a drawn figure lies, in backend pixels, so a pointer position can
/// be turned back into coordinates (the page's read-out under the cursor).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    /// Left and right pixel of the plotting area.
    pub px: (i32, i32),
    /// Top and bottom pixel of the plotting area.
    pub py: (i32, i32),
    /// α at the left and right edges.
    pub x: (f64, f64),
    /// β at the bottom and top edges.
    pub y: (f64, f64),
}

impl Frame {
    fn of<DB: DrawingBackend>(chart: &Chart2d<'_, DB>) -> Self {
        let (px, py) = chart.plotting_area().get_pixel_range();
        let (x, y) = (chart.x_range(), chart.y_range());
        Self {
            px: (px.start, px.end),
            py: (py.start, py.end),
            x: (x.start, x.end),
            y: (y.start, y.end),
        }
    }

    /// (α, β) at pixel `(u, v)`, or `None` outside the plotting area.
    pub fn coordinates(&self, u: f64, v: f64) -> Option<(f64, f64)> {
        let (l, r) = (f64::from(self.px.0), f64::from(self.px.1));
        let (t, b) = (f64::from(self.py.0), f64::from(self.py.1));
        if !(u >= l && u <= r && v >= t && v <= b) || r <= l || b <= t {
            return None;
        }
        let a = self.x.0 + (u - l) / (r - l) * (self.x.1 - self.x.0);
        let bta = self.y.1 - (v - t) / (b - t) * (self.y.1 - self.y.0);
        Some((a, bta))
    }
}

/// Why a figure could not be drawn.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
pub enum PlotError {
    /// The metric exists but no cell holds a finite value yet.
    #[error("metric `{metric}` has no computed finite value to plot")]
    NoData {
        /// The metric asked for.
        metric: String,
    },
    /// The surface has no such metric.
    #[error("unknown metric `{name}`; this surface has: {available}")]
    UnknownMetric {
        /// The metric asked for.
        name: String,
        /// The metrics present, comma separated.
        available: String,
    },
    /// A log scale was asked for but nothing is positive.
    #[error("log scale needs positive values, but every computed value of `{metric}` is ≤ 0")]
    NoPositive {
        /// The metric asked for.
        metric: String,
    },
    /// The figure needs two axes with at least two points each.
    #[error("{plot} needs a 2-D surface with at least 2 points per axis, this one is {nx}×{ny}")]
    Needs2d {
        /// Which figure.
        plot: &'static str,
        /// Points on the α axis.
        nx: usize,
        /// Points on the β axis.
        ny: usize,
    },
    /// The metric's grid does not match the axes.
    #[error("metric `{metric}` is {rows}×{cols} ([rows][columns]), the axes need {ny}×{nx}")]
    Shape {
        /// The metric.
        metric: String,
        /// Rows found.
        rows: usize,
        /// Length of the shortest row found.
        cols: usize,
        /// Rows expected (β points).
        ny: usize,
        /// Columns expected (α points).
        nx: usize,
    },
    /// `color_range` is unusable.
    #[error("colour range ({lo}, {hi}) must be two finite numbers with lo < hi")]
    ColorRange {
        /// Lower end given.
        lo: f64,
        /// Upper end given.
        hi: f64,
    },
    /// Writing a figure file failed.
    #[error("cannot write {path}: {reason}")]
    Io {
        /// The file or folder.
        path: String,
        /// The operating system's message.
        reason: String,
    },
    /// The drawing backend failed (plotters' message).
    #[error("drawing failed: {0}")]
    Backend(String),
}

/// Turns any plotters error into [`PlotError::Backend`].
trait OrBackend<T> {
    fn or_backend(self) -> Result<T, PlotError>;
}

impl<T, E: std::fmt::Display> OrBackend<T> for Result<T, E> {
    fn or_backend(self) -> Result<T, PlotError> {
        self.map_err(|e| PlotError::Backend(e.to_string()))
    }
}

// ---------------------------------------------------------------------------------------------
// Levels and number formatting
// ---------------------------------------------------------------------------------------------

/// Pick about `levels` round contour thresholds inside `[lo, hi]`, ascending.
///
/// Linear: multiples of a "nice" step (1, 2, 2.5 or 5 × 10ᵏ), the smallest such step that gives
/// at most `levels + 1` thresholds. Log (when `log_scale` and `lo > 0`): round mantissas per decade
/// (1-2-5 and finer or coarser sets), the set whose count is closest to `levels`; ranges too narrow
/// for that fall back to linear.
pub fn contour_levels(lo: f64, hi: f64, levels: usize, log_scale: bool) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || levels == 0 {
        return Vec::new();
    }
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    if hi == lo {
        return vec![lo];
    }
    if log_scale && lo > 0.0 {
        let log = log_levels(lo, hi, levels);
        if log.len() >= 3 || log.len() >= levels {
            return log;
        }
    }
    linear_levels(lo, hi, levels)
}

/// Multiples of a nice step inside `[lo, hi]`.
fn linear_levels(lo: f64, hi: f64, levels: usize) -> Vec<f64> {
    let step = nice_step((hi - lo) / levels as f64);
    let tolerance = step * 1e-9;
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last)
        .map(|k| k as f64 * step)
        .filter(|v| *v >= lo - tolerance && *v <= hi + tolerance)
        .map(|v| v.clamp(lo, hi))
        .collect()
}

/// The smallest of 1, 2, 2.5, 5 × 10ᵏ that is ≥ `raw`.
fn nice_step(raw: f64) -> f64 {
    let exponent = raw.log10().floor();
    let scale = 10f64.powf(exponent);
    let fraction = raw / scale;
    let mantissa = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .find(|m| *m >= fraction * (1.0 - 1e-9))
        .unwrap_or(10.0);
    mantissa * scale
}

/// Round log-spaced values inside `[lo, hi]` (`lo > 0`), about `levels` of them.
fn log_levels(lo: f64, hi: f64, levels: usize) -> Vec<f64> {
    const SETS: [&[f64]; 5] = [
        &[1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0],
        &[1.0, 1.5, 2.0, 3.0, 5.0, 7.0],
        &[1.0, 2.0, 5.0],
        &[1.0, 3.0],
        &[1.0],
    ];
    let first_decade = lo.log10().floor() as i32;
    let last_decade = hi.log10().ceil() as i32;
    let inside = |v: f64| v >= lo * (1.0 - 1e-12) && v <= hi * (1.0 + 1e-12);
    let mut candidates: Vec<Vec<f64>> = SETS
        .iter()
        .map(|set| {
            (first_decade..=last_decade)
                .flat_map(|d| set.iter().map(move |m| m * 10f64.powi(d)))
                .filter(|v| inside(*v))
                .collect()
        })
        .collect();
    // Wide ranges: one level every `stride` decades.
    for stride in [2, 3, 5, 10, 20, 50] {
        candidates.push(
            (first_decade..=last_decade)
                .filter(|d| d.rem_euclid(stride) == 0)
                .map(|d| 10f64.powi(d))
                .filter(|v| inside(*v))
                .collect(),
        );
    }
    // Closest count to `levels`; on a tie the coarser set (later in the list) wins.
    candidates
        .into_iter()
        .rev()
        .min_by_key(|c| c.len().abs_diff(levels))
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.clamp(lo, hi))
        .collect()
}

/// Labels for contour levels: a fixed number of decimals from the step for linear levels,
/// short significant figures for log levels.
fn level_labels(levels: &[f64], log_scale: bool) -> Vec<String> {
    let step = levels
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 0.0)
        .fold(f64::INFINITY, f64::min);
    let magnitude = levels.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if log_scale || !step.is_finite() || step < 1e-4 || magnitude >= 1e6 {
        return levels.iter().map(|v| format_sig(*v)).collect();
    }
    let mantissa = step / 10f64.powf(step.log10().floor());
    let extra = usize::from((mantissa - 2.5).abs() < 1e-6);
    let decimals = ((-step.log10().floor()).max(0.0) as usize + extra).min(6);
    levels
        .iter()
        .map(|v| {
            let v = if v.abs() < step * 1e-6 { 0.0 } else { *v };
            with_minus(format!("{v:.decimals$}"))
        })
        .collect()
}

/// A typographic minus sign instead of the hyphen Rust prints.
fn with_minus(text: String) -> String {
    text.replace('-', "\u{2212}")
}

/// Up to four significant figures, trailing zeros removed; scientific outside [1e-3, 1e5); a
/// typographic minus sign.
fn format_sig(v: f64) -> String {
    with_minus(format_sig_ascii(v))
}

/// [`format_sig`] with a hyphen-minus.
fn format_sig_ascii(v: f64) -> String {
    // Below 1e-12 is rounding noise of tick arithmetic (e.g. -0.5 + 0.5 = -5.55e-17), not data.
    if v.abs() < 1e-12 || !v.is_finite() {
        return if v.is_finite() {
            "0".into()
        } else {
            format!("{v}")
        };
    }
    let magnitude = v.abs();
    if !(1e-3..1e5).contains(&magnitude) {
        let text = format!("{v:.2e}");
        return match text.split_once('e') {
            Some((mantissa, exponent)) => format!("{}e{exponent}", trim_zeros(mantissa)),
            None => text,
        };
    }
    let decimals = (3 - magnitude.log10().floor() as i32).clamp(0, 6) as usize;
    let text = trim_zeros(&format!("{v:.decimals$}")).to_string();
    if text == "-0" { "0".into() } else { text }
}

/// "1.500" → "1.5", "2.000" → "2".
fn trim_zeros(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

// ---------------------------------------------------------------------------------------------
// Iso-lines
// ---------------------------------------------------------------------------------------------

/// A polyline in (α, β) axis coordinates.
pub type Polyline = Vec<(f64, f64)>;

/// The iso-lines of one level: `(level, polylines)`.
pub type IsoLines = (f64, Vec<Polyline>);

/// Iso-lines of a metric in (α, β) axis coordinates: one entry per level, each a list of
/// polylines. Only cells whose four corners are computed contribute, so a partial surface gives
/// partial lines; a metric that is absent, 1-D, or has no fully computed cell gives no entries.
pub fn iso_lines(s: &Surface, metric: &str, levels: &[f64]) -> Vec<IsoLines> {
    match s.metrics.get(metric) {
        Some(grid) => extract_lines(&s.x, &s.y, grid, levels),
        None => Vec::new(),
    }
}

/// Marching squares (the `contour` crate) on `grid` (`[iy][ix]`), cut where cells are incomplete,
/// mapped from grid-index space to axis coordinates.
fn extract_lines(xs: &[f64], ys: &[f64], grid: &Grid2, thresholds: &[f64]) -> Vec<IsoLines> {
    let (nx, ny) = (xs.len(), ys.len());
    if nx < 2 || ny < 2 || grid.len() != ny || grid.iter().any(|row| row.len() != nx) {
        return Vec::new();
    }
    let known = |ix: usize, iy: usize| grid[iy][ix].is_some_and(f64::is_finite);
    let complete_cell = |cx: isize, cy: isize| {
        if cx < 0 || cy < 0 || cx as usize + 1 >= nx || cy as usize + 1 >= ny {
            return false;
        }
        let (cx, cy) = (cx as usize, cy as usize);
        known(cx, cy) && known(cx + 1, cy) && known(cx, cy + 1) && known(cx + 1, cy + 1)
    };
    if !(0..nx as isize - 1).any(|cx| (0..ny as isize - 1).any(|cy| complete_cell(cx, cy))) {
        return Vec::new();
    }
    // The crate wants row-major values with row 0 first, exactly our [iy][ix] order.
    let values: Vec<f64> = grid
        .iter()
        .flat_map(|row| {
            row.iter()
                .map(|v| v.filter(|v| v.is_finite()).unwrap_or(f64::NAN))
        })
        .collect();
    let lines = match ContourBuilder::new(nx, ny, true).lines(&values, thresholds) {
        Ok(lines) => lines,
        Err(_) => return Vec::new(),
    };
    lines
        .into_iter()
        .map(|line| {
            let (geometry, threshold) = line.into_inner();
            let mut polylines = Vec::new();
            for ring in geometry.0 {
                // The crate puts sample (ix, iy) at (ix + 0.5, iy + 0.5); shift to index space.
                let points: Vec<(f64, f64)> =
                    ring.0.iter().map(|c| (c.x - 0.5, c.y - 0.5)).collect();
                for run in valid_runs(&points, &complete_cell) {
                    let mapped: Vec<(f64, f64)> = run
                        .into_iter()
                        .map(|(i, j)| (axis_at(xs, i), axis_at(ys, j)))
                        .collect();
                    if mapped.len() >= 2 {
                        polylines.push(mapped);
                    }
                }
            }
            (threshold, polylines)
        })
        .collect()
}

/// Split a ring (index space) into runs of segments that lie in complete cells. Segments on the
/// crate's virtual border (outside the grid) or touching an uncomputed sample are dropped.
fn valid_runs(
    points: &[(f64, f64)],
    complete_cell: &dyn Fn(isize, isize) -> bool,
) -> Vec<Vec<(f64, f64)>> {
    let segment_ok = |p: (f64, f64), q: (f64, f64)| {
        let (mx, my) = ((p.0 + q.0) / 2.0, (p.1 + q.1) / 2.0);
        mx.is_finite() && my.is_finite() && complete_cell(mx.floor() as isize, my.floor() as isize)
    };
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    for w in points.windows(2) {
        if segment_ok(w[0], w[1]) {
            if current.is_empty() {
                current.push(w[0]);
            }
            if current.last() != Some(&w[1]) {
                current.push(w[1]);
            }
        } else if !current.is_empty() {
            runs.push(std::mem::take(&mut current));
        }
    }
    let closed = points.len() > 2 && points.first() == points.last();
    let whole_ring_kept = runs.is_empty();
    if !current.is_empty() {
        runs.push(current);
    }
    // A closed ring that was cut: its last run continues into its first.
    if closed && !whole_ring_kept && runs.len() >= 2 {
        let first_ok = segment_ok(points[0], points[1]);
        let last_ok = segment_ok(points[points.len() - 2], points[points.len() - 1]);
        if first_ok && last_ok {
            let first = runs.remove(0);
            if let Some(last) = runs.last_mut() {
                last.extend(first.into_iter().skip(1));
            }
        }
    }
    runs
}

/// Axis coordinate of a fractional index (linear between neighbouring points).
fn axis_at(axis: &[f64], t: f64) -> f64 {
    let last = axis.len().saturating_sub(1);
    if last == 0 {
        return axis.first().copied().unwrap_or(0.0);
    }
    let t = t.clamp(0.0, last as f64);
    let k = (t.floor() as usize).min(last - 1);
    axis[k] + (t - k as f64) * (axis[k + 1] - axis[k])
}

// ---------------------------------------------------------------------------------------------
// Shared preparation
// ---------------------------------------------------------------------------------------------

/// A metric ready to draw: values on the colour scale (log₁₀ when asked), with its range.
struct Field {
    /// Values `[iy][ix]` after the log transform; `None` = not computed or not finite.
    z: Grid2,
    /// Colour range (transformed).
    lo: f64,
    /// Colour range (transformed).
    hi: f64,
    /// Whether `z` holds log₁₀ values.
    log: bool,
}

impl Field {
    /// Position of a transformed value on the colour scale, in [0, 1].
    fn unit(&self, v: f64) -> f64 {
        ((v - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0)
    }

    /// The value a transformed number stands for.
    fn value(&self, v: f64) -> f64 {
        if self.log { 10f64.powf(v) } else { v }
    }

    /// The transformed number of a value.
    fn transformed(&self, v: f64) -> f64 {
        if self.log { v.log10() } else { v }
    }

    /// Round contour levels over the colour range, as (value, transformed).
    fn levels(&self, count: usize) -> Vec<(f64, f64)> {
        contour_levels(self.value(self.lo), self.value(self.hi), count, self.log)
            .into_iter()
            .map(|v| (v, self.transformed(v)))
            .collect()
    }
}

/// Look the metric up, check its shape, apply the log transform and find the colour range.
fn prepare(s: &Surface, o: &PlotOptions) -> Result<Field, PlotError> {
    let grid = s
        .metrics
        .get(&o.metric)
        .ok_or_else(|| PlotError::UnknownMetric {
            name: o.metric.clone(),
            available: s.metrics.keys().cloned().collect::<Vec<_>>().join(", "),
        })?;
    let (nx, ny) = (s.x.len(), s.y.len());
    if grid.len() != ny || grid.iter().any(|row| row.len() != nx) {
        return Err(PlotError::Shape {
            metric: o.metric.clone(),
            rows: grid.len(),
            cols: grid.iter().map(Vec::len).min().unwrap_or(0),
            ny,
            nx,
        });
    }
    let finite = || {
        grid.iter()
            .flatten()
            .flatten()
            .copied()
            .filter(|v| v.is_finite())
    };
    if finite().next().is_none() {
        return Err(PlotError::NoData {
            metric: o.metric.clone(),
        });
    }
    if let Some((lo, hi)) = o.color_range
        && !(lo.is_finite() && hi.is_finite() && lo < hi)
    {
        return Err(PlotError::ColorRange { lo, hi });
    }
    let smallest_positive = finite().filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
    if o.log_scale && !smallest_positive.is_finite() {
        return Err(PlotError::NoPositive {
            metric: o.metric.clone(),
        });
    }
    let transform = |v: f64| {
        if o.log_scale {
            v.max(smallest_positive).log10()
        } else {
            v
        }
    };
    let z: Grid2 = grid
        .iter()
        .map(|row| {
            row.iter()
                .map(|v| v.filter(|v| v.is_finite()).map(transform))
                .collect()
        })
        .collect();
    let (mut lo, mut hi) = match o.color_range {
        Some((lo, hi)) if o.log_scale => {
            let hi = hi.max(smallest_positive);
            (transform(lo.max(smallest_positive.min(hi))), transform(hi))
        }
        Some((lo, hi)) => (lo, hi),
        None => z
            .iter()
            .flatten()
            .flatten()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(*v), b.max(*v))
            }),
    };
    if hi - lo <= f64::EPSILON * lo.abs().max(1.0) {
        let pad = lo.abs().max(1.0) * 0.05;
        lo -= pad;
        hi += pad;
    }
    Ok(Field {
        z,
        lo,
        hi,
        log: o.log_scale,
    })
}

/// Fails unless the surface has two axes with at least two points each.
fn require_2d(s: &Surface, plot: &'static str) -> Result<(), PlotError> {
    let (nx, ny) = (s.x.len(), s.y.len());
    if s.is_1d() || nx < 2 || ny < 2 {
        return Err(PlotError::Needs2d { plot, nx, ny });
    }
    Ok(())
}

/// Viridis at `t` ∈ [0, 1].
fn viridis(t: f64) -> RGBColor {
    ViridisRGB::get_color(t.clamp(0.0, 1.0))
}

/// Font sizes scaled to the drawing area, so a small canvas gets proportionally small text.
#[derive(Clone, Copy)]
struct Sizes {
    /// Scale factor relative to an 800-pixel-wide figure.
    scale: f64,
}

impl Sizes {
    fn of<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>) -> Self {
        // Width-led, so the wide 1-D figure and the squarer 2-D ones share text sizes; the
        // height only limits very flat areas.
        let (w, h) = area.dim_in_pixel();
        let reference = f64::from(w).min(f64::from(h) * 1.6);
        Self {
            scale: (reference / 800.0).clamp(0.55, 2.5),
        }
    }
    fn px(&self, base: f64) -> u32 {
        (base * self.scale).round().max(1.0) as u32
    }
    fn font(&self, base: f64) -> TextStyle<'static> {
        TextStyle::from((FONT, base * self.scale).into_font()).color(&BLACK)
    }
    fn title(&self) -> TextStyle<'static> {
        self.font(21.0)
    }
    fn desc(&self) -> TextStyle<'static> {
        self.font(18.0)
    }
    fn tick(&self) -> TextStyle<'static> {
        self.font(15.0)
    }
    fn small(&self) -> TextStyle<'static> {
        self.font(13.0)
    }
}

/// The figure title: the option, or "metric — checkpoint" by default.
fn title_text(s: &Surface, o: &PlotOptions, suffix: &str) -> String {
    match &o.title {
        Some(title) => title.clone(),
        None if s.spec.checkpoint.name.is_empty() => format!("{}{suffix}", o.metric),
        None => format!("{} — {}{suffix}", o.metric, s.spec.checkpoint.name),
    }
}

/// Clear the area, draw the title (if any) and return the area below it.
fn start_figure<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    sz: Sizes,
) -> Result<DrawingArea<DB, Shift>, PlotError> {
    register_fonts();
    area.fill(&WHITE).or_backend()?;
    let body = if title.is_empty() {
        area.clone()
    } else {
        area.margin(sz.px(8.0), 0, 0, 0)
            .titled(title, sz.title())
            .or_backend()?
    };
    Ok(body)
}

/// Colour-bar label: the metric, with "(log)" on a log scale.
fn scale_label(o: &PlotOptions) -> String {
    if o.log_scale {
        format!("{} (log)", o.metric)
    } else {
        o.metric.clone()
    }
}

type Chart2d<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Where the (α, β) plane goes, in pixels of the figure body: margins chosen so that one unit of
/// α and one of β have the same length on screen (when the two ranges are within a factor 3 of
/// each other), with the colour bar, if any, right next to the plane and the same height.
struct PlaneLayout {
    /// Left margin (the whole group is centred horizontally).
    left: u32,
    /// Top margin; the colour bar uses the same.
    top: u32,
    /// Bottom margin below the x labels; the colour bar uses the same.
    bottom: u32,
    /// Height of the α tick labels and title.
    x_labels: u32,
    /// Width of the β tick labels and title.
    y_labels: u32,
    /// Right margin of the plane's chart (gap, colour bar and spare width).
    right: u32,
    /// Where the colour bar's area starts (pixels from the left).
    bar_x: u32,
}

impl PlaneLayout {
    /// Lay out a plane of data size `span` (Δα, Δβ) in a body of `size` pixels, leaving `gap`
    /// pixels right of the plane and `bar` pixels for a colour bar after that.
    fn new(size: (u32, u32), span: (f64, f64), gap: u32, bar: u32, sz: Sizes) -> Self {
        let (x_labels, y_labels) = (sz.px(58.0), sz.px(72.0));
        let (mut left, mut top, mut bottom) = (sz.px(12.0), sz.px(12.0), sz.px(10.0));
        let fixed_w = left + y_labels + gap + bar;
        let fixed_h = top + bottom + x_labels;
        let width = size.0.saturating_sub(fixed_w).max(1);
        let height = size.1.saturating_sub(fixed_h).max(1);
        let ratio = span.0 / span.1;
        let mut plot_w = width;
        if ratio.is_finite() && (1.0 / 3.0..=3.0).contains(&ratio) {
            let want_w = f64::from(height) * ratio;
            if want_w < f64::from(width) {
                plot_w = want_w.round() as u32;
                left += (width - plot_w) / 2;
            } else {
                let want_h = (f64::from(width) / ratio).round() as u32;
                let extra = height.saturating_sub(want_h);
                top += extra / 2;
                bottom += extra - extra / 2;
            }
        }
        let plane_end = left + y_labels + plot_w;
        Self {
            left,
            top,
            bottom,
            x_labels,
            y_labels,
            right: size.0.saturating_sub(plane_end),
            bar_x: plane_end + gap,
        }
    }
}

/// An (α, β) chart placed by `layout`; axes are drawn later by [`finish_plane_axes`] so they end
/// up on top of the data.
fn plane_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    x: Range<f64>,
    y: Range<f64>,
    layout: &PlaneLayout,
) -> Result<Chart2d<'a, DB>, PlotError> {
    ChartBuilder::on(area)
        .margin_top(layout.top)
        .margin_bottom(layout.bottom)
        .margin_left(layout.left)
        .margin_right(layout.right)
        .x_label_area_size(layout.x_labels)
        .y_label_area_size(layout.y_labels)
        .build_cartesian_2d(x, y)
        .or_backend()
}

/// Axes, ticks and axis titles of an (α, β) chart, drawn over what is already there.
fn finish_plane_axes<DB: DrawingBackend>(
    chart: &mut Chart2d<'_, DB>,
    sz: Sizes,
) -> Result<(), PlotError> {
    let format = |v: &f64| format_sig(*v);
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("α (direction x)")
        .y_desc("β (direction y)")
        .label_style(sz.tick())
        .axis_desc_style(sz.desc())
        .x_labels(7)
        .y_labels(7)
        .x_label_formatter(&format)
        .y_label_formatter(&format)
        .set_all_tick_mark_size(sz.px(5.0))
        .draw()
        .or_backend()?;
    // Close the frame on the top and right.
    let (x, y) = (chart.x_range(), chart.y_range());
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(x.start, y.end), (x.end, y.end), (x.end, y.start)],
            BLACK.stroke_width(1),
        )))
        .or_backend()?;
    Ok(())
}

/// Mark the centre θ* = (0, 0) when it lies inside the chart, and return its label box (pixels)
/// so contour labels can keep clear of it.
fn mark_centre<DB: DrawingBackend>(
    chart: &mut Chart2d<'_, DB>,
    colour: RGBColor,
    sz: Sizes,
) -> Result<Option<LabelBox>, PlotError> {
    let (x, y) = (chart.x_range(), chart.y_range());
    if !(x.start <= 0.0 && 0.0 <= x.end && y.start <= 0.0 && 0.0 <= y.end) {
        return Ok(None);
    }
    let size = sz.px(7.0) as i32;
    let style = ShapeStyle::from(&colour).stroke_width(sz.px(2.5));
    let text = sz
        .font(15.0)
        .color(&colour)
        .pos(Pos::new(HPos::Left, VPos::Bottom));
    chart
        .draw_series(std::iter::once(
            EmptyElement::at((0.0, 0.0))
                + Cross::new((0, 0), size, style)
                + Text::new("θ*", (size + 2, -size + 2), text),
        ))
        .or_backend()?;
    let (px, py) = chart.backend_coord(&(0.0, 0.0));
    Ok(Some(LabelBox {
        x0: px - size - 2,
        y0: py - 3 * size,
        x1: px + 4 * size,
        y1: py + size + 2,
    }))
}

// ---------------------------------------------------------------------------------------------
// Contour
// ---------------------------------------------------------------------------------------------

/// Filled contours of a 2-D surface: pale bands between levels under lines labelled with their
/// level, on axes "α (direction x)" / "β (direction y)", with the centre θ* marked. Lines and
/// bands are coloured by level (viridis).
pub fn draw_contour<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &Surface,
    o: &PlotOptions,
) -> Result<Frame, PlotError> {
    require_2d(s, "a contour plot")?;
    let field = prepare(s, o)?;
    let sz = Sizes::of(area);
    let body = start_figure(area, &title_text(s, o, ""), sz)?;
    let (x0, x1) = (s.x[0], s.x[s.x.len() - 1]);
    let (y0, y1) = (s.y[0], s.y[s.y.len() - 1]);
    let layout = PlaneLayout::new(body.dim_in_pixel(), (x1 - x0, y1 - y0), sz.px(30.0), 0, sz);
    let mut chart = plane_chart(&body, x0..x1, y0..y1, &layout)?;

    let levels = field.levels(o.levels);
    let thresholds: Vec<f64> = levels.iter().map(|l| l.1).collect();
    let labels = level_labels(&levels.iter().map(|l| l.0).collect::<Vec<_>>(), o.log_scale);
    let lines = extract_lines(&s.x, &s.y, &field.z, &thresholds);
    let line_colour = |t: f64| viridis(0.88 * field.unit(t));
    fill_bands(&mut chart, s, &field, &thresholds)?;
    for (threshold, polylines) in &lines {
        let style = ShapeStyle::from(&line_colour(*threshold)).stroke_width(sz.px(2.0));
        chart
            .draw_series(polylines.iter().map(|p| PathElement::new(p.clone(), style)))
            .or_backend()?;
    }
    if lines.iter().all(|(_, p)| p.is_empty()) {
        note(
            &mut chart,
            "not enough computed cells for contour lines yet",
            sz,
        )?;
    }
    let mut taken = Vec::new();
    if let Some(centre) = mark_centre(&mut chart, RGBColor(200, 30, 30), sz)? {
        taken.push(centre);
    }
    let labelled: Vec<LabelledLines<'_>> = lines
        .iter()
        .zip(labels)
        .map(|((t, polylines), label)| LabelledLines {
            label,
            polylines,
            colour: darker(line_colour(*t)),
        })
        .collect();
    place_labels(&mut chart, &labelled, sz, taken)?;
    finish_plane_axes(&mut chart, sz)?;
    let frame = Frame::of(&chart);
    area.present().or_backend()?;
    Ok(frame)
}

/// Filled contour bands under the lines: inside every complete cell the surface is interpolated
/// bilinearly (as marching squares does for the lines) on a fine sub-grid, and each piece takes
/// the pale colour of the band between two levels it falls in. Cells with a missing corner stay
/// white, so partial surfaces show no guesses.
fn fill_bands<DB: DrawingBackend>(
    chart: &mut Chart2d<'_, DB>,
    s: &Surface,
    field: &Field,
    thresholds: &[f64],
) -> Result<(), PlotError> {
    let (nx, ny) = (s.x.len(), s.y.len());
    if nx < 2 || ny < 2 {
        return Ok(());
    }
    // About 64 pieces along the longer axis in all (cheap enough to redraw while computing).
    let k = (64 / (nx.max(ny) - 1)).clamp(1, 8);
    let band_colour = |v: f64| {
        let band = thresholds.iter().filter(|t| **t <= v).count();
        let lo = if band == 0 {
            field.lo
        } else {
            thresholds[band - 1]
        };
        let hi = thresholds.get(band).copied().unwrap_or(field.hi);
        let c = viridis(0.88 * field.unit((lo + hi) / 2.0));
        let pale = |x: u8| (f64::from(x) + (255.0 - f64::from(x)) * 0.55) as u8;
        RGBColor(pale(c.0), pale(c.1), pale(c.2))
    };
    let z = |ix: usize, iy: usize| field.z.get(iy).and_then(|r| r.get(ix)).copied().flatten();
    let mut pieces = Vec::new();
    for iy in 0..ny - 1 {
        for ix in 0..nx - 1 {
            let (Some(a), Some(b), Some(c), Some(d)) =
                (z(ix, iy), z(ix + 1, iy), z(ix, iy + 1), z(ix + 1, iy + 1))
            else {
                continue;
            };
            let (xa, xb) = (s.x[ix], s.x[ix + 1]);
            let (ya, yb) = (s.y[iy], s.y[iy + 1]);
            for sy in 0..k {
                for sx in 0..k {
                    let (u0, u1) = (sx as f64 / k as f64, (sx + 1) as f64 / k as f64);
                    let (v0, v1) = (sy as f64 / k as f64, (sy + 1) as f64 / k as f64);
                    let (u, v) = ((u0 + u1) / 2.0, (v0 + v1) / 2.0);
                    let value = a * (1.0 - u) * (1.0 - v)
                        + b * u * (1.0 - v)
                        + c * (1.0 - u) * v
                        + d * u * v;
                    pieces.push(Rectangle::new(
                        [
                            (xa + (xb - xa) * u0, ya + (yb - ya) * v0),
                            (xa + (xb - xa) * u1, ya + (yb - ya) * v1),
                        ],
                        band_colour(value).filled(),
                    ));
                }
            }
        }
    }
    chart.draw_series(pieces).or_backend()?;
    Ok(())
}

/// A colour dark enough for text on white.
fn darker(c: RGBColor) -> RGBColor {
    let f = |v: u8| (f64::from(v) * 0.7) as u8;
    RGBColor(f(c.0), f(c.1), f(c.2))
}

/// A grey note in the middle of a chart (e.g. why it is empty).
fn note<DB: DrawingBackend>(
    chart: &mut Chart2d<'_, DB>,
    text: &str,
    sz: Sizes,
) -> Result<(), PlotError> {
    let (x, y) = (chart.x_range(), chart.y_range());
    let style = sz
        .tick()
        .color(&RGBColor(110, 110, 110))
        .pos(Pos::new(HPos::Center, VPos::Center));
    chart
        .draw_series(std::iter::once(Text::new(
            text.to_string(),
            ((x.start + x.end) / 2.0, (y.start + y.end) / 2.0),
            style,
        )))
        .or_backend()?;
    Ok(())
}

/// A label's box in backend pixels.
#[derive(Clone, Copy, Debug)]
struct LabelBox {
    x0: i32,
    y0: i32,
    x1: i32,
    y1: i32,
}

impl LabelBox {
    /// Whether the segment p–q passes through the box grown by `gap` (Liang–Barsky clipping).
    fn hit_by(&self, p: (i32, i32), q: (i32, i32), gap: i32) -> bool {
        let (x0, y0) = (f64::from(self.x0 - gap), f64::from(self.y0 - gap));
        let (x1, y1) = (f64::from(self.x1 + gap), f64::from(self.y1 + gap));
        let (px, py) = (f64::from(p.0), f64::from(p.1));
        let (dx, dy) = (f64::from(q.0) - px, f64::from(q.1) - py);
        let (mut t0, mut t1) = (0.0f64, 1.0f64);
        for (denominator, numerator) in
            [(-dx, px - x0), (dx, x1 - px), (-dy, py - y0), (dy, y1 - py)]
        {
            if denominator == 0.0 {
                if numerator < 0.0 {
                    return false;
                }
            } else {
                let t = numerator / denominator;
                if denominator < 0.0 {
                    t0 = t0.max(t);
                } else {
                    t1 = t1.min(t);
                }
            }
        }
        t0 <= t1
    }

    fn overlaps(&self, other: &LabelBox, gap: i32) -> bool {
        self.x0 - gap < other.x1
            && other.x0 - gap < self.x1
            && self.y0 - gap < other.y1
            && other.y0 - gap < self.y1
    }
}

/// One level's lines with the text and colour of their label.
struct LabelledLines<'a> {
    label: String,
    polylines: &'a [Polyline],
    colour: RGBColor,
}

/// A label position chosen by [`place_labels`].
struct PlacedLabel {
    /// Centre, in axis coordinates.
    at: (f64, f64),
    label: String,
    colour: RGBColor,
    /// Text size in pixels.
    size: (i32, i32),
}

/// Print each level's value on its lines (inline, on a white patch), at most one label per
/// polyline, at spots along the line that stay inside the plot and clear of other labels.
fn place_labels<DB: DrawingBackend>(
    chart: &mut Chart2d<'_, DB>,
    lines: &[LabelledLines<'_>],
    sz: Sizes,
    mut taken: Vec<LabelBox>,
) -> Result<(), PlotError> {
    let (px_range, py_range) = chart.plotting_area().get_pixel_range();
    let pad = sz.px(3.0) as i32;
    // Every polyline in pixels, `[level][polyline]`.
    let pixel_lines: Vec<Vec<Vec<(i32, i32)>>> = lines
        .iter()
        .map(|l| {
            l.polylines
                .iter()
                .map(|p| p.iter().map(|q| chart.backend_coord(q)).collect())
                .collect()
        })
        .collect();
    let mut chosen: Vec<PlacedLabel> = Vec::new();
    for (level, line) in lines.iter().enumerate() {
        let (w, h) = chart
            .plotting_area()
            .estimate_text_size(&line.label, &sz.small())
            .or_backend()?;
        let (w, h) = (w as i32, h as i32);
        for (k, (polyline, pixels)) in line.polylines.iter().zip(&pixel_lines[level]).enumerate() {
            let lengths: Vec<f64> = pixels
                .windows(2)
                .map(|w| f64::from(w[1].0 - w[0].0).hypot(f64::from(w[1].1 - w[0].1)))
                .collect();
            let total: f64 = lengths.iter().sum();
            if total < f64::from(w) * 3.0 {
                continue;
            }
            for fraction in [0.5, 0.3, 0.7, 0.15, 0.85, 0.4, 0.6, 0.05, 0.95] {
                let Some((data, pixel)) = point_along(polyline, pixels, &lengths, total * fraction)
                else {
                    continue;
                };
                let candidate = LabelBox {
                    x0: pixel.0 - w / 2 - pad,
                    y0: pixel.1 - h / 2 - pad,
                    x1: pixel.0 + w / 2 + pad,
                    y1: pixel.1 + h / 2 + pad,
                };
                let inside = candidate.x0 > px_range.start
                    && candidate.x1 < px_range.end
                    && candidate.y0 > py_range.start
                    && candidate.y1 < py_range.end;
                // The label may sit on its own line only.
                let crosses_other_line = pixel_lines.iter().enumerate().any(|(l, polylines)| {
                    polylines.iter().enumerate().any(|(j, other)| {
                        (l, j) != (level, k)
                            && other.windows(2).any(|s| candidate.hit_by(s[0], s[1], 1))
                    })
                });
                if inside
                    && !crosses_other_line
                    && !taken.iter().any(|t| t.overlaps(&candidate, pad))
                {
                    taken.push(candidate);
                    chosen.push(PlacedLabel {
                        at: data,
                        label: line.label.clone(),
                        colour: line.colour,
                        size: (w, h),
                    });
                    break;
                }
            }
        }
    }
    for placed in chosen {
        let (w, h) = placed.size;
        let style = sz
            .small()
            .color(&placed.colour)
            .pos(Pos::new(HPos::Center, VPos::Center));
        chart
            .draw_series(std::iter::once(
                EmptyElement::at(placed.at)
                    + Rectangle::new(
                        [(-w / 2 - pad, -h / 2 - pad), (w / 2 + pad, h / 2 + pad)],
                        WHITE.mix(0.9).filled(),
                    )
                    + Text::new(placed.label, (0, 0), style),
            ))
            .or_backend()?;
    }
    Ok(())
}

/// The point at arc length `distance` (pixels) along a polyline: (data, pixel) coordinates.
fn point_along(
    data: &[(f64, f64)],
    pixels: &[(i32, i32)],
    lengths: &[f64],
    distance: f64,
) -> Option<((f64, f64), (i32, i32))> {
    let mut walked = 0.0;
    for (k, length) in lengths.iter().enumerate() {
        if walked + length >= distance && *length > 0.0 {
            let t = (distance - walked) / length;
            let (a, b) = (data[k], data[k + 1]);
            let (p, q) = (pixels[k], pixels[k + 1]);
            return Some((
                (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1)),
                (
                    p.0 + (t * f64::from(q.0 - p.0)).round() as i32,
                    p.1 + (t * f64::from(q.1 - p.1)).round() as i32,
                ),
            ));
        }
        walked += length;
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Heat map
// ---------------------------------------------------------------------------------------------

/// Cell edges of an axis: midpoints between neighbours, half a step beyond each end.
fn cell_edges(axis: &[f64]) -> Vec<f64> {
    let n = axis.len();
    if n < 2 {
        let v = axis.first().copied().unwrap_or(0.0);
        return vec![v - 0.5, v + 0.5];
    }
    let mut edges = Vec::with_capacity(n + 1);
    edges.push(axis[0] - (axis[1] - axis[0]) / 2.0);
    edges.extend(axis.windows(2).map(|w| (w[0] + w[1]) / 2.0));
    edges.push(axis[n - 1] + (axis[n - 1] - axis[n - 2]) / 2.0);
    edges
}

/// Filled heat map: one rectangle per cell (viridis; uncomputed cells light grey), white iso-lines
/// over it, the centre marked, and a colour bar with tick labels on the right.
pub fn draw_heatmap<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &Surface,
    o: &PlotOptions,
) -> Result<Frame, PlotError> {
    require_2d(s, "a heat map")?;
    let field = prepare(s, o)?;
    let sz = Sizes::of(area);
    let body = start_figure(area, &title_text(s, o, ""), sz)?;
    let (ex, ey) = (cell_edges(&s.x), cell_edges(&s.y));
    let x_range = ex[0]..ex[ex.len() - 1];
    let y_range = ey[0]..ey[ey.len() - 1];
    let span = (x_range.end - x_range.start, y_range.end - y_range.start);
    let (w, _) = body.dim_in_pixel();
    let bar_width = sz.px(COLOUR_BAR + COLOUR_BAR_LABELS);
    let layout = PlaneLayout::new(body.dim_in_pixel(), span, sz.px(20.0), bar_width, sz);
    let mut chart = plane_chart(&body, x_range, y_range, &layout)?;

    // Cells, anchored at their top-left corner and one pixel wider and taller than their share,
    // so neighbours overlap instead of leaving anti-aliasing seams.
    let mut cells = Vec::with_capacity(s.x.len() * s.y.len());
    for (iy, row) in field.z.iter().enumerate() {
        for (ix, v) in row.iter().enumerate() {
            let colour = v.map_or(MISSING, |v| viridis(field.unit(v)));
            let top_left = chart.backend_coord(&(ex[ix], ey[iy + 1]));
            let bottom_right = chart.backend_coord(&(ex[ix + 1], ey[iy]));
            let size = (
                bottom_right.0 - top_left.0 + 1,
                bottom_right.1 - top_left.1 + 1,
            );
            cells.push(
                EmptyElement::at((ex[ix], ey[iy + 1]))
                    + Rectangle::new([(0, 0), size], colour.filled()),
            );
        }
    }
    chart.draw_series(cells).or_backend()?;

    // `levels: 0` draws the cells alone (e.g. the convexity ratio, whose iso-lines say nothing).
    let thresholds: Vec<f64> = if o.levels == 0 {
        Vec::new()
    } else {
        field.levels(o.levels).into_iter().map(|l| l.1).collect()
    };
    let style = WHITE.mix(0.75).stroke_width(sz.px(1.2));
    for (_, polylines) in extract_lines(&s.x, &s.y, &field.z, &thresholds) {
        chart
            .draw_series(polylines.into_iter().map(|p| PathElement::new(p, style)))
            .or_backend()?;
    }
    mark_centre(&mut chart, WHITE, sz)?;
    finish_plane_axes(&mut chart, sz)?;
    let frame = Frame::of(&chart);
    let bar = body.margin(
        0,
        0,
        layout.bar_x,
        w.saturating_sub(layout.bar_x + bar_width),
    );
    colour_bar(&bar, &field, &scale_label(o), &layout, sz)?;
    area.present().or_backend()?;
    Ok(frame)
}

/// Round tick values for a log axis over `[lo, hi]` (`lo > 0`): plotters' own log ticks are
/// powers of ten only, too few for ranges under two decades.
fn log_ticks(lo: f64, hi: f64, count: usize) -> Vec<f64> {
    let ticks = contour_levels(lo, hi, count, true);
    if ticks.len() >= 2 {
        ticks
    } else {
        vec![lo, hi]
    }
}

/// Width of the colour bar itself (pixels at scale 1).
const COLOUR_BAR: f64 = 22.0;
/// Width of the colour bar's tick labels and title (pixels at scale 1).
const COLOUR_BAR_LABELS: f64 = 82.0;

/// A vertical colour bar whose bar spans exactly the plot height given by `layout`.
fn colour_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    field: &Field,
    label: &str,
    layout: &PlaneLayout,
    sz: Sizes,
) -> Result<(), PlotError> {
    if field.log {
        let (lo, hi) = (field.value(field.lo), field.value(field.hi));
        let range = (lo..hi).log_scale().with_key_points(log_ticks(lo, hi, 6));
        colour_bar_on(area, range, field, label, layout, sz)
    } else {
        colour_bar_on(area, field.lo..field.hi, field, label, layout, sz)
    }
}

/// [`colour_bar`] for a linear or logarithmic value axis.
fn colour_bar_on<DB, YR>(
    area: &DrawingArea<DB, Shift>,
    y_range: YR,
    field: &Field,
    label: &str,
    layout: &PlaneLayout,
    sz: Sizes,
) -> Result<(), PlotError>
where
    DB: DrawingBackend,
    YR: AsRangedCoord<Value = f64>,
    YR::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .margin_top(layout.top)
        .margin_bottom(layout.bottom)
        .x_label_area_size(layout.x_labels)
        .right_y_label_area_size(sz.px(COLOUR_BAR_LABELS))
        .build_cartesian_2d(0.0..1.0, y_range)
        .or_backend()?;
    const STEPS: usize = 256;
    let (lo, hi) = (field.lo, field.hi);
    let stripes = (0..STEPS).map(|k| {
        let a = lo + (hi - lo) * k as f64 / STEPS as f64;
        let b = lo + (hi - lo) * (k + 1) as f64 / STEPS as f64;
        let colour = viridis((k as f64 + 0.5) / STEPS as f64);
        Rectangle::new(
            [(0.0, field.value(a)), (1.0, field.value(b))],
            colour.filled(),
        )
    });
    chart.draw_series(stripes).or_backend()?;
    let format = |v: &f64| format_sig(*v);
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(8)
        .y_label_formatter(&format)
        .y_desc(label)
        .label_style(sz.tick())
        .axis_desc_style(sz.desc())
        .set_all_tick_mark_size(sz.px(5.0))
        .draw()
        .or_backend()?;
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(0.0, field.value(lo)), (1.0, field.value(hi))],
            BLACK.stroke_width(1),
        )))
        .or_backend()?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 3-D surface
// ---------------------------------------------------------------------------------------------

/// The surface in 3-D: α and β on the floor, the metric upwards (log₁₀ of it on a log scale), one
/// quadrilateral per complete cell coloured by its mean value (viridis), painted far to near.
/// `yaw` turns the view about the vertical axis and `pitch` tilts it (radians; see
/// [`DEFAULT_YAW`], [`DEFAULT_PITCH`]).
pub fn draw_surface3d<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &Surface,
    o: &PlotOptions,
    yaw: f64,
    pitch: f64,
) -> Result<(), PlotError> {
    require_2d(s, "a 3-D surface")?;
    let field = prepare(s, o)?;
    let sz = Sizes::of(area);
    let body = start_figure(area, &title_text(s, o, ""), sz)?;
    let (x0, x1) = (s.x[0], s.x[s.x.len() - 1]);
    let (y0, y1) = (s.y[0], s.y[s.y.len() - 1]);
    // The vertical axis covers the data and the colour range (both, when they differ).
    let (data_lo, data_hi) = field
        .z
        .iter()
        .flatten()
        .flatten()
        .fold((field.lo, field.hi), |(a, b), v| (a.min(*v), b.max(*v)));
    let mut chart = ChartBuilder::on(&body)
        .margin(sz.px(18.0))
        .build_cartesian_3d(x0..x1, data_lo..data_hi, y0..y1)
        .or_backend()?;
    chart.with_projection(|mut pb| {
        pb.yaw = yaw;
        pb.pitch = pitch;
        pb.scale = 0.78;
        pb.into_matrix()
    });
    let format = |v: &f64| format_sig(*v);
    let format_z = |v: &f64| format_sig(field.value(*v));
    chart
        .configure_axes()
        .light_grid_style(BLACK.mix(0.05))
        .bold_grid_style(BLACK.mix(0.12))
        .axis_panel_style(RGBColor(246, 246, 246).filled())
        .max_light_lines(2)
        .x_labels(5)
        .y_labels(6)
        .z_labels(5)
        .tick_size(sz.px(5.0) as i32)
        .label_style(sz.small())
        .x_formatter(&format)
        .y_formatter(&format_z)
        .z_formatter(&format)
        .draw()
        .or_backend()?;

    // Quads of complete cells, farthest first (painter's algorithm).
    let mut quads = Vec::new();
    for iy in 0..s.y.len() - 1 {
        for ix in 0..s.x.len() - 1 {
            let corners = [(ix, iy), (ix + 1, iy), (ix + 1, iy + 1), (ix, iy + 1)];
            let values: Option<Vec<f64>> = corners.iter().map(|(i, j)| field.z[*j][*i]).collect();
            let Some(values) = values else { continue };
            let points: Vec<(f64, f64, f64)> = corners
                .iter()
                .zip(&values)
                .map(|((i, j), v)| (s.x[*i], *v, s.y[*j]))
                .collect();
            let mean = values.iter().sum::<f64>() / 4.0;
            let centre = (
                (s.x[ix] + s.x[ix + 1]) / 2.0,
                mean,
                (s.y[iy] + s.y[iy + 1]) / 2.0,
            );
            let depth = chart
                .as_coord_spec()
                .projected_depth(&centre.0, &centre.1, &centre.2);
            quads.push((depth, points, viridis(field.unit(mean))));
        }
    }
    quads.sort_by_key(|q| std::cmp::Reverse(q.0));
    let outline = s.x.len().max(s.y.len()) <= 61;
    let edge = BLACK.mix(0.25).stroke_width(1);
    for (_, points, colour) in quads {
        let mut closed = points.clone();
        if outline {
            closed.push(points[0]);
        }
        chart
            .draw_series(std::iter::once(Polygon::new(points, colour.filled())))
            .or_backend()?;
        if outline {
            chart
                .draw_series(std::iter::once(PathElement::new(closed, edge)))
                .or_backend()?;
        }
    }

    // Axis titles just outside the tick labels plotters drew.
    let value_label = if field.log {
        format!("log₁₀ {}", o.metric)
    } else {
        o.metric.clone()
    };
    let ranges = [(x0, x1), (data_lo, data_hi), (y0, y1)];
    let tick_label = chart
        .plotting_area()
        .estimate_text_size("\u{2212}0.55", &sz.small())
        .or_backend()?;
    let mut titles = Vec::new();
    for (axis, title) in [(0, "α".to_string()), (2, "β".to_string()), (1, value_label)] {
        let (start, end, dir) = labelled_edge(chart.plotting_area(), axis, ranges);
        let title_size = chart
            .plotting_area()
            .estimate_text_size(&title, &sz.desc())
            .or_backend()?;
        let (anchor, offset) = if axis == 1 {
            // The value axis is vertical: its title goes above its top end.
            let top = if start.1 >= end.1 { start } else { end };
            (top, (0, -(title_size.1 as i32) - sz.px(8.0) as i32))
        } else {
            let mid = (
                (start.0 + end.0) / 2.0,
                (start.1 + end.1) / 2.0,
                (start.2 + end.2) / 2.0,
            );
            let tick = sz.px(5.0) as i32;
            let (extent, own) = if dir.0 != 0 {
                (tick_label.0 as i32, title_size.0 as i32 / 2)
            } else {
                (tick_label.1 as i32, title_size.1 as i32 / 2)
            };
            let distance = 2 * tick + extent + own + sz.px(8.0) as i32;
            (mid, (dir.0 * distance, dir.1 * distance))
        };
        titles.push(
            EmptyElement::at(anchor)
                + Text::new(
                    title,
                    offset,
                    sz.desc().pos(Pos::new(HPos::Center, VPos::Center)),
                ),
        );
    }
    chart.draw_series(titles).or_backend()?;
    area.present().or_backend()
}

/// An edge of the 3-D box, `(start, end, label direction)`: see [`labelled_edge`].
type LabelledEdge = ((f64, f64, f64), (f64, f64, f64), (i32, i32));

/// The box edge along which plotters draws the tick labels of `axis` (0 = x, 1 = y, 2 = z) and
/// the unit pixel direction its labels point to: plotters' own choice (in `draw_axis` and
/// `draw_axis_ticks`), recomputed so the axis titles land next to those labels.
fn labelled_edge<X, Y, Z, DB>(
    plotting_area: &DrawingArea<DB, Cartesian3d<X, Y, Z>>,
    axis: usize,
    ranges: [(f64, f64); 3],
) -> LabelledEdge
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
    Z: Ranged<ValueType = f64>,
    DB: DrawingBackend,
{
    let coord = plotting_area.as_coord_spec();
    let point = |p: [f64; 3]| (p[0], p[1], p[2]);
    let depth = |p: [f64; 3]| coord.projected_depth(&p[0], &p[1], &p[2]);
    let pixel = |p: [f64; 3]| coord.translate(&point(p));
    let low = [ranges[0].0, ranges[1].0, ranges[2].0];
    // Each back panel sits at the far end of its axis.
    let far: Vec<f64> = (0..3)
        .map(|i| {
            let mut high = low;
            high[i] = ranges[i].1;
            if depth(low) >= depth(high) {
                ranges[i].0
            } else {
                ranges[i].1
            }
        })
        .collect();
    let mut candidates = Vec::new();
    for i in (0..3).filter(|i| *i != axis) {
        let j = 3 - i - axis;
        for end_j in [ranges[j].0, ranges[j].1] {
            let mut a = [0.0; 3];
            a[i] = far[i];
            a[j] = end_j;
            a[axis] = ranges[axis].0;
            let mut b = a;
            b[axis] = ranges[axis].1;
            candidates.push((a, b));
        }
    }
    let (a, b) = candidates
        .into_iter()
        .min_by_key(|(a, b)| (depth(*a) + depth(*b), pixel(*a).1 + pixel(*b).1))
        .unwrap_or((low, low));
    let (begin, finish) = (pixel(a), pixel(b));
    let along = (finish.0 - begin.0, finish.1 - begin.1);
    let (x_pixels, y_pixels) = plotting_area.get_pixel_range();
    let x_dir = if begin.0 < (x_pixels.start + x_pixels.end) / 2 {
        (-1, 0)
    } else {
        (1, 0)
    };
    let y_dir = if begin.1 < (y_pixels.start + y_pixels.end) / 2 {
        (0, -1)
    } else {
        (0, 1)
    };
    let score = |d: (i32, i32)| (d.0 * along.0 + d.1 * along.1).abs();
    let dir = if score(x_dir) < score(y_dir) {
        x_dir
    } else {
        y_dir
    };
    (point(a), point(b), dir)
}

// ---------------------------------------------------------------------------------------------
// 1-D curves
// ---------------------------------------------------------------------------------------------

/// A curve to draw: runs of computed points (uncomputed points break the line).
struct Curve {
    runs: Vec<Vec<(f64, f64)>>,
    lo: f64,
    hi: f64,
}

/// The row `iy` of a metric as a curve over α, or `None` when nothing in it is computed.
fn curve(s: &Surface, metric: &str, iy: usize, positive_only: bool) -> Option<Curve> {
    let row = s.metrics.get(metric)?.get(iy)?;
    let mut runs = Vec::new();
    let mut run = Vec::new();
    for (x, v) in s.x.iter().zip(row) {
        match v.filter(|v| v.is_finite() && (!positive_only || *v > 0.0)) {
            Some(v) => run.push((*x, v)),
            None if !run.is_empty() => runs.push(std::mem::take(&mut run)),
            None => {}
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    let (lo, hi) = runs
        .iter()
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.1), b.max(p.1))
        });
    lo.is_finite().then_some(Curve { runs, lo, hi })
}

/// The row nearest β = 0.
fn centre_row(s: &Surface) -> usize {
    s.y.iter()
        .enumerate()
        .min_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .map_or(0, |(i, _)| i)
}

/// 1-D curves over α: the metric on the left axis and, when the surface has it, accuracy on a
/// secondary right axis, with a legend above the plot. For a 2-D surface, the row nearest β = 0.
pub fn draw_line<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &Surface,
    o: &PlotOptions,
) -> Result<(), PlotError> {
    let field = prepare(s, o)?; // validates the metric and colour range
    let iy = centre_row(s);
    let main = curve(s, &o.metric, iy, o.log_scale).ok_or_else(|| PlotError::NoData {
        metric: o.metric.clone(),
    })?;
    let accuracy = if o.metric == ACCURACY {
        None
    } else {
        curve(s, ACCURACY, iy, false)
    };
    let suffix = if s.is_1d() {
        String::new()
    } else {
        format!(" (β = {})", format_sig(s.y[iy]))
    };
    let sz = Sizes::of(area);
    let body = start_figure(area, &title_text(s, o, &suffix), sz)?;
    let (lo, hi) = match o.color_range {
        Some(range) => range,
        None => (main.lo, main.hi),
    };
    if field.log {
        let hi = if hi > 0.0 { hi } else { main.hi };
        let (lo, hi) = (lo.max(main.lo.min(hi)), hi);
        let (lo, hi) = if hi / lo < 1.0 + 1e-9 {
            (lo / 1.5, hi * 1.5)
        } else {
            (lo, hi)
        };
        let pad = (hi / lo).powf(0.05);
        let range = (lo / pad..hi * pad).log_scale();
        let ticks = log_ticks(lo / pad, hi * pad, 8);
        line_chart(
            &body,
            s,
            o,
            &main,
            accuracy.as_ref(),
            range.with_key_points(ticks),
            sz,
        )?;
    } else {
        let pad = if hi > lo {
            (hi - lo) * 0.05
        } else {
            lo.abs().max(1.0) * 0.05
        };
        line_chart(
            &body,
            s,
            o,
            &main,
            accuracy.as_ref(),
            lo - pad..hi + pad,
            sz,
        )?;
    }
    area.present().or_backend()
}

/// [`draw_line`] for a linear or logarithmic left axis.
fn line_chart<DB, YR>(
    area: &DrawingArea<DB, Shift>,
    s: &Surface,
    o: &PlotOptions,
    main: &Curve,
    accuracy: Option<&Curve>,
    y_range: YR,
    sz: Sizes,
) -> Result<(), PlotError>
where
    DB: DrawingBackend,
    YR: AsRangedCoord<Value = f64>,
    YR::CoordDescType: ValueFormatter<f64>,
{
    let (mut x0, mut x1) = (s.x[0], s.x[s.x.len() - 1]);
    if x1 <= x0 {
        x0 -= 0.5;
        x1 += 0.5;
    }
    let legend_height = sz.px(34.0);
    let (legend, plot) = area.split_vertically(legend_height);
    let mut chart = ChartBuilder::on(&plot)
        .margin_top(sz.px(6.0))
        .margin_bottom(sz.px(10.0))
        .margin_left(sz.px(12.0))
        .margin_right(if accuracy.is_some() {
            sz.px(6.0)
        } else {
            sz.px(30.0)
        })
        .x_label_area_size(sz.px(58.0))
        .y_label_area_size(sz.px(78.0))
        .right_y_label_area_size(if accuracy.is_some() { sz.px(78.0) } else { 0 })
        .build_cartesian_2d(x0..x1, y_range)
        .or_backend()?;
    let format = |v: &f64| format_sig(*v);
    let y_label = scale_label(o);
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.08))
        .x_desc("α (direction x)")
        .y_desc(y_label.as_str())
        .label_style(sz.tick())
        .axis_desc_style(sz.desc())
        .x_labels(9)
        .y_labels(8)
        .x_label_formatter(&format)
        .y_label_formatter(&format)
        .set_all_tick_mark_size(sz.px(5.0))
        .draw()
        .or_backend()?;
    if accuracy.is_some() {
        // The primary mesh labels every y label area; clear the right one for the accuracy axis.
        // Down to just below the plot, so the last α tick label stays.
        let (x_pixels, y_pixels) = chart.plotting_area().get_pixel_range();
        let (base, (w, _)) = (plot.get_base_pixel(), plot.dim_in_pixel());
        plot.draw(&Rectangle::new(
            [
                (x_pixels.end + 1 - base.0, 0),
                (w as i32, y_pixels.end + 3 - base.1),
            ],
            WHITE.filled(),
        ))
        .or_backend()?;
    }
    let y = chart.y_range();
    if x0 < 0.0 && 0.0 < x1 {
        chart
            .draw_series(std::iter::once(DashedPathElement::new(
                vec![(0.0, y.start), (0.0, y.end)],
                sz.px(5.0),
                sz.px(4.0),
                BLACK.mix(0.35).stroke_width(1),
            )))
            .or_backend()?;
    }
    let width = sz.px(2.5);
    let markers = s.x.len() <= 41;
    for run in &main.runs {
        chart
            .draw_series(std::iter::once(PathElement::new(
                run.clone(),
                LOSS_COLOUR.stroke_width(width),
            )))
            .or_backend()?;
        if markers {
            chart
                .draw_series(
                    run.iter()
                        .map(|p| Circle::new(*p, sz.px(3.0), LOSS_COLOUR.filled())),
                )
                .or_backend()?;
        }
    }
    let mut entries = vec![(o.metric.clone(), LOSS_COLOUR, false)];
    let plot_left = chart.plotting_area().get_pixel_range().0.start;
    if let Some(acc) = accuracy {
        let pad = ((acc.hi - acc.lo) * 0.05).max(0.01);
        let (a0, a1) = ((acc.lo - pad).max(0.0), (acc.hi + pad).min(1.0));
        let (a0, a1) = if a1 > a0 { (a0, a1) } else { (0.0, 1.0) };
        let mut dual = chart.set_secondary_coord(x0..x1, a0..a1);
        dual.configure_secondary_axes()
            .y_desc(ACCURACY)
            .label_style(sz.tick())
            .axis_desc_style(sz.desc())
            .y_labels(8)
            .y_label_formatter(&format)
            .set_all_tick_mark_size(sz.px(5.0))
            .draw()
            .or_backend()?;
        for run in &acc.runs {
            dual.draw_secondary_series(std::iter::once(DashedPathElement::new(
                run.clone(),
                sz.px(9.0),
                sz.px(5.0),
                ACCURACY_COLOUR.stroke_width(width),
            )))
            .or_backend()?;
            if markers {
                dual.draw_secondary_series(
                    run.iter()
                        .map(|p| TriangleMarker::new(*p, sz.px(4.0), ACCURACY_COLOUR.filled())),
                )
                .or_backend()?;
            }
        }
        entries.push((ACCURACY.to_string(), ACCURACY_COLOUR, true));
    }
    draw_legend(&legend, &entries, plot_left - legend.get_base_pixel().0, sz)
}

/// A one-row legend: a line sample and a name per entry, starting at pixel `x`.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(String, RGBColor, bool)],
    x: i32,
    sz: Sizes,
) -> Result<(), PlotError> {
    let (_, h) = area.dim_in_pixel();
    let y = h as i32 / 2 + sz.px(4.0) as i32;
    let sample = sz.px(34.0) as i32;
    let mut at = x + sz.px(8.0) as i32;
    let style = sz.tick().pos(Pos::new(HPos::Left, VPos::Center));
    for (name, colour, dashed) in entries {
        let line_style = colour.stroke_width(sz.px(2.5));
        if *dashed {
            area.draw(&DashedPathElement::new(
                vec![(at, y), (at + sample, y)],
                sz.px(9.0),
                sz.px(5.0),
                line_style,
            ))
            .or_backend()?;
        } else {
            area.draw(&PathElement::new(
                vec![(at, y), (at + sample, y)],
                line_style,
            ))
            .or_backend()?;
        }
        at += sample + sz.px(8.0) as i32;
        area.draw(&Text::new(name.clone(), (at, y), style.clone()))
            .or_backend()?;
        let (w, _) = area.estimate_text_size(name, &style).or_backend()?;
        at += w as i32 + sz.px(26.0) as i32;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Files (native only)
// ---------------------------------------------------------------------------------------------

/// Write every figure that fits the surface into `dir` (created if needed): a 2-D surface gives
/// `contour.png/.svg`, `heatmap.png/.svg` and `surface.png` (900×720); a 1-D surface gives
/// `line.png/.svg` (900×560). Returns the written paths.
#[cfg(not(target_arch = "wasm32"))]
pub fn write_all(
    s: &Surface,
    dir: &std::path::Path,
    o: &PlotOptions,
) -> Result<Vec<std::path::PathBuf>, PlotError> {
    create_dir(dir)?;
    let mut written = Vec::new();
    // A "2-D" grid with a single row or column is a curve.
    if s.is_1d() || s.x.len() < 2 || s.y.len() < 2 {
        written.push(save_png(dir, "line", LINE_SIZE, |a| draw_line(a, s, o))?);
        written.push(save_svg(dir, "line", LINE_SIZE, |a| draw_line(a, s, o))?);
    } else {
        written.push(save_png(dir, "contour", FIGURE_SIZE, |a| {
            draw_contour(a, s, o).map(drop)
        })?);
        written.push(save_svg(dir, "contour", FIGURE_SIZE, |a| {
            draw_contour(a, s, o).map(drop)
        })?);
        written.push(save_png(dir, "heatmap", FIGURE_SIZE, |a| {
            draw_heatmap(a, s, o).map(drop)
        })?);
        written.push(save_svg(dir, "heatmap", FIGURE_SIZE, |a| {
            draw_heatmap(a, s, o).map(drop)
        })?);
        written.push(save_png(dir, "surface", FIGURE_SIZE, |a| {
            draw_surface3d(a, s, o, DEFAULT_YAW, DEFAULT_PITCH)
        })?);
    }
    Ok(written)
}

/// Li et al.'s convexity map: the loss contour (left) beside a heat map of |λmin/λmax| (right,
/// colour scale 0 = locally convex … 0.5 = capped), both over the same grid.
pub fn draw_convexity<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &Surface,
    o: &PlotOptions,
) -> Result<(), PlotError> {
    let (w, _) = area.dim_in_pixel();
    let (left, right) = area.split_horizontally(w / 2);
    let loss = PlotOptions {
        metric: LOSS.to_string(),
        ..o.clone()
    };
    draw_contour(&left, s, &loss)?;
    let ratio = PlotOptions {
        metric: crate::curvature::CONVEXITY.to_string(),
        log_scale: false,
        color_range: Some((0.0, crate::curvature::CONVEXITY_CAP)),
        levels: 0,
        title: Some("|λmin/λmax| — 0 = locally convex, capped at 0.5".into()),
    };
    draw_heatmap(&right, s, &ratio)?;
    Ok(())
}

/// Park & Kim's max-eigenvalue spectrum as a histogram: `bins` are `(lower, upper, count)`; bars
/// of negative eigenvalues are drawn in red, positive ones in blue, with a line at 0.
pub fn draw_histogram<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    bins: &[(f64, f64, usize)],
    title: &str,
    x_desc: &str,
) -> Result<(), PlotError> {
    let sz = Sizes::of(area);
    let body = start_figure(area, title, sz)?;
    let (Some(first), Some(last)) = (bins.first(), bins.last()) else {
        return Err(PlotError::Backend("no values to draw".into()));
    };
    let (mut lo, mut hi) = (first.0.min(0.0), last.1.max(0.0));
    if hi <= lo {
        lo -= 0.5;
        hi += 0.5;
    }
    let pad = (hi - lo) * 0.04;
    // Counts are whole numbers: an integer axis, one tick per count up to ten.
    let top = bins.iter().map(|b| b.2).max().unwrap_or(1).max(1) as u32 + 1;
    let mut chart = ChartBuilder::on(&body)
        .margin(sz.px(14.0))
        .x_label_area_size(sz.px(58.0))
        .y_label_area_size(sz.px(64.0))
        .build_cartesian_2d(lo - pad..hi + pad, 0u32..top)
        .or_backend()?;
    let format = |v: &f64| format_sig(*v);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc(x_desc)
        .y_desc("mini-batches")
        .label_style(sz.tick())
        .axis_desc_style(sz.desc())
        .x_label_formatter(&format)
        .y_labels(top.min(10) as usize + 1)
        .draw()
        .or_backend()?;
    let negative = RGBColor(196, 70, 60);
    let positive = RGBColor(42, 111, 176);
    chart
        .draw_series(bins.iter().map(|&(a, b, n)| {
            let colour = if (a + b) / 2.0 < 0.0 {
                negative
            } else {
                positive
            };
            // A small gap keeps neighbouring bars apart.
            let gap = (b - a) * 0.06;
            Rectangle::new(
                [(a + gap, 0), (b - gap, n as u32)],
                colour.mix(0.8).filled(),
            )
        }))
        .or_backend()?;
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(0.0, 0), (0.0, top)],
            BLACK.mix(0.6).stroke_width(sz.px(1.5)),
        )))
        .or_backend()?;
    area.present().or_backend()
}

/// Write `spectrum.png` and `spectrum.svg` ([`draw_histogram`]) into `dir`.
#[cfg(not(target_arch = "wasm32"))]
pub fn write_histogram(
    bins: &[(f64, f64, usize)],
    title: &str,
    x_desc: &str,
    dir: &std::path::Path,
    name: &str,
) -> Result<Vec<std::path::PathBuf>, PlotError> {
    Ok(vec![
        save_png(dir, name, LINE_SIZE, |a| {
            draw_histogram(a, bins, title, x_desc)
        })?,
        save_svg(dir, name, LINE_SIZE, |a| {
            draw_histogram(a, bins, title, x_desc)
        })?,
    ])
}

/// Write `convexity.png` and `convexity.svg` ([`draw_convexity`]) into `dir`.
#[cfg(not(target_arch = "wasm32"))]
pub fn write_convexity(
    s: &Surface,
    dir: &std::path::Path,
    o: &PlotOptions,
) -> Result<Vec<std::path::PathBuf>, PlotError> {
    create_dir(dir)?;
    let size = (FIGURE_SIZE.0 * 2, FIGURE_SIZE.1);
    Ok(vec![
        save_png(dir, "convexity", size, |a| draw_convexity(a, s, o))?,
        save_svg(dir, "convexity", size, |a| draw_convexity(a, s, o))?,
    ])
}

/// Create the output folder (and its parents).
#[cfg(not(target_arch = "wasm32"))]
fn create_dir(dir: &std::path::Path) -> Result<(), PlotError> {
    std::fs::create_dir_all(dir).map_err(|e| PlotError::Io {
        path: dir.display().to_string(),
        reason: e.to_string(),
    })
}

/// Pixel size of the 2-D figures written by [`write_all`].
#[cfg(not(target_arch = "wasm32"))]
const FIGURE_SIZE: (u32, u32) = (900, 720);
/// Pixel size of the 1-D figure written by [`write_all`].
#[cfg(not(target_arch = "wasm32"))]
const LINE_SIZE: (u32, u32) = (900, 560);

/// Draw into `dir/name.png`. The figure is drawn at twice the size and scaled down, because the
/// bitmap backend does not anti-alias lines wider than one pixel; every size in a figure is
/// relative to the area, so the result matches a direct drawing, only smoother.
#[cfg(not(target_arch = "wasm32"))]
fn save_png(
    dir: &std::path::Path,
    name: &str,
    (w, h): (u32, u32),
    draw: impl Fn(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), PlotError>,
) -> Result<std::path::PathBuf, PlotError> {
    const SUPERSAMPLE: u32 = 2;
    let path = dir.join(format!("{name}.png"));
    let (big_w, big_h) = (w * SUPERSAMPLE, h * SUPERSAMPLE);
    let mut pixels = vec![0u8; (big_w * big_h * 3) as usize];
    draw(&BitMapBackend::with_buffer(&mut pixels, (big_w, big_h)).into_drawing_area())?;
    let big = image::RgbImage::from_raw(big_w, big_h, pixels)
        .ok_or_else(|| PlotError::Backend("bitmap buffer has the wrong size".into()))?;
    image::imageops::resize(&big, w, h, image::imageops::FilterType::Triangle)
        .save(&path)
        .map_err(|e| PlotError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    Ok(path)
}

/// Draw into `dir/name.svg`.
#[cfg(not(target_arch = "wasm32"))]
fn save_svg(
    dir: &std::path::Path,
    name: &str,
    size: (u32, u32),
    draw: impl Fn(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), PlotError>,
) -> Result<std::path::PathBuf, PlotError> {
    let path = dir.join(format!("{name}.svg"));
    draw(&SVGBackend::new(&path, size).into_drawing_area())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{
        Axis, CheckpointRef, DataSource, DataSpec, DirectionSource, DirectionSpec, GridSpec,
        LossSpec, Normalisation, SPEC_VERSION, Split, SweepSpec,
    };

    /// A spec over the given axes; everything but the grid is a placeholder.
    fn spec(x: Axis, y: Option<Axis>) -> SweepSpec {
        SweepSpec {
            version: SPEC_VERSION,
            checkpoint: CheckpointRef {
                name: "test.safetensors".into(),
                sha256: "0".repeat(64),
                branch: None,
                num_heads: 3,
                decoder_num_heads: None,
            },
            data: DataSpec {
                source: DataSource::FashionMnist {
                    dir: "/nonexistent".into(),
                    split: Split::Test,
                },
                eval_images: 16,
                subset_seed: 0,
                mean: vec![0.5],
                std: vec![0.5],
            },
            loss: LossSpec::Classification,
            directions: DirectionSpec {
                source: DirectionSource::Random { seed: 0 },
                normalisation: Normalisation::Filter,
                include_rank1: false,
                include_pos_embed: false,
            },
            grid: GridSpec { x, y },
            batch_size: 8,
        }
    }

    /// A complete surface with `loss = f(α, β)` and `accuracy = g(α, β)`.
    fn surface(
        x: Axis,
        y: Option<Axis>,
        loss: impl Fn(f64, f64) -> f64,
        accuracy: impl Fn(f64, f64) -> f64,
    ) -> Surface {
        let mut s = Surface::empty(spec(x, y), &[LOSS, ACCURACY]);
        for (iy, beta) in s.y.clone().into_iter().enumerate() {
            for (ix, alpha) in s.x.clone().into_iter().enumerate() {
                s.metrics.get_mut(LOSS).unwrap()[iy][ix] = Some(loss(alpha, beta));
                s.metrics.get_mut(ACCURACY).unwrap()[iy][ix] = Some(accuracy(alpha, beta));
            }
        }
        s
    }

    fn axis(min: f64, max: f64, n: usize) -> Axis {
        Axis { min, max, n }
    }

    /// A basin at the centre, a second, shallower basin up right, and a saddle between them.
    fn saddle_surface(nx: usize, ny: usize) -> Surface {
        surface(
            axis(-1.0, 1.0, nx),
            Some(axis(-1.0, 1.0, ny)),
            |a, b| {
                0.4 + 1.5 * (a * a + b * b)
                    - 1.6 * (-((a - 0.75).powi(2) + (b - 0.6).powi(2)) / 0.06).exp()
                    + 0.3 * (3.0 * a).sin() * (2.0 * b).cos().powi(2) * 0.3
            },
            |a, b| (0.92 - 0.35 * (a * a + b * b)).clamp(0.0, 1.0),
        )
    }

    #[test]
    fn contour_levels_are_round_monotone_and_inside() {
        let levels = contour_levels(0.0, 2.0, 12, false);
        let expected: Vec<f64> = (0..=10).map(|k| k as f64 * 0.2).collect();
        assert_eq!(levels.len(), expected.len(), "{levels:?}");
        for (l, e) in levels.iter().zip(&expected) {
            assert!((l - e).abs() < 1e-12, "{levels:?}");
        }
        assert_eq!(
            level_labels(&levels, false)[..4],
            ["0.0", "0.2", "0.4", "0.6"]
        );

        for (lo, hi, n) in [
            (0.37, 5.91, 12),
            (-3.2, 0.05, 7),
            (1e-4, 3e-4, 10),
            (2.30, 2.31, 12),
            (1234.0, 98765.0, 12),
        ] {
            let levels = contour_levels(lo, hi, n, false);
            assert!(
                levels.len() >= n / 2 && levels.len() <= n + 1,
                "{lo}..{hi}: {levels:?}"
            );
            assert!(levels.windows(2).all(|w| w[0] < w[1]), "{levels:?}");
            assert!(levels.iter().all(|v| *v >= lo && *v <= hi), "{levels:?}");
            // Each level is an integer multiple of a step of the form {1, 2, 2.5, 5}·10ᵏ.
            let step = levels[1] - levels[0];
            let mantissa = step / 10f64.powf(step.log10().floor());
            assert!(
                [1.0, 2.0, 2.5, 5.0, 10.0]
                    .iter()
                    .any(|m| (mantissa - m).abs() < 1e-6),
                "step {step}"
            );
            for v in &levels {
                let k = v / step;
                assert!(
                    (k - k.round()).abs() < 1e-6,
                    "{v} is not a multiple of {step}"
                );
            }
        }
    }

    #[test]
    fn numbers_are_short() {
        let cases = [
            (0.0, "0"),
            (2.0, "2"),
            (-0.5, "\u{2212}0.5"),
            (0.123456, "0.1235"),
            (1234.5678, "1235"),
            (0.00012, "1.2e\u{2212}4"),
            (250000.0, "2.5e5"),
        ];
        for (v, text) in cases {
            assert_eq!(format_sig(v), text);
        }
        assert_eq!(
            level_labels(&[-0.5, -0.25, 0.0, 0.25], false),
            ["\u{2212}0.50", "\u{2212}0.25", "0.00", "0.25"]
        );
    }

    #[test]
    fn log_levels_span_decades_with_round_mantissas() {
        let levels = contour_levels(0.05, 20.0, 12, true);
        assert!(levels.len() >= 6 && levels.len() <= 13, "{levels:?}");
        assert!(levels.windows(2).all(|w| w[0] < w[1]), "{levels:?}");
        assert!(levels.iter().all(|v| *v >= 0.05 && *v <= 20.0));
        for v in &levels {
            let mantissa = v / 10f64.powf(v.log10().floor());
            assert!(
                [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
                    .iter()
                    .any(|m| (mantissa - m).abs() < 1e-9),
                "{v}"
            );
        }
        // Ratios are roughly constant (log spacing), unlike a linear set over the same range.
        let labels = level_labels(&levels, true);
        assert!(labels.iter().all(|l| l.len() <= 4), "{labels:?}");
        // lo ≤ 0 falls back to linear.
        let linear = contour_levels(0.0, 2.0, 12, true);
        assert!((linear[1] - linear[0] - 0.2).abs() < 1e-12);
    }

    #[test]
    fn paraboloid_iso_line_is_a_circle() {
        let s = surface(
            axis(-1.0, 1.0, 21),
            Some(axis(-1.0, 1.0, 21)),
            |a, b| a * a + b * b,
            |_, _| 0.5,
        );
        let lines = iso_lines(&s, LOSS, &[0.5]);
        assert_eq!(lines.len(), 1);
        let (level, polylines) = &lines[0];
        assert_eq!(*level, 0.5);
        assert_eq!(polylines.len(), 1, "one closed ring");
        let ring = &polylines[0];
        assert!(ring.len() > 20);
        let radius = 0.5f64.sqrt();
        for (a, b) in ring {
            let r = a.hypot(*b);
            assert!(
                (r - radius).abs() < 0.02 * radius,
                "vertex ({a}, {b}) at radius {r}"
            );
        }
        // It goes all the way round: every quadrant is visited.
        for (sa, sb) in [(1.0, 1.0), (-1.0, 1.0), (-1.0, -1.0), (1.0, -1.0)] {
            assert!(ring.iter().any(|(a, b)| a * sa > 0.1 && b * sb > 0.1));
        }
    }

    #[test]
    fn non_square_grid_maps_both_axes() {
        // 11 α points over [-2, 3], 7 β points over [-0.5, 0.5]; loss = α.
        let s = surface(
            axis(-2.0, 3.0, 11),
            Some(axis(-0.5, 0.5, 7)),
            |a, _| a,
            |_, _| 0.5,
        );
        let lines = iso_lines(&s, LOSS, &[0.25, 1.7]);
        for (level, polylines) in &lines {
            assert_eq!(polylines.len(), 1, "level {level}: one straight line");
            let line = &polylines[0];
            for (a, _) in line {
                assert!((a - level).abs() < 1e-9, "vertex α {a} for level {level}");
            }
            let (b_lo, b_hi) = line
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), p| {
                    (l.min(p.1), h.max(p.1))
                });
            // The line runs the whole β axis and not beyond (no border segments).
            assert!(
                (b_lo + 0.5).abs() < 1e-9 && (b_hi - 0.5).abs() < 1e-9,
                "{b_lo}..{b_hi}"
            );
        }
        // loss = β on the same grid: horizontal lines spanning exactly the α axis.
        let s = surface(
            axis(-2.0, 3.0, 11),
            Some(axis(-0.5, 0.5, 7)),
            |_, b| b,
            |_, _| 0.5,
        );
        let lines = iso_lines(&s, LOSS, &[0.1]);
        let line = &lines[0].1[0];
        let (a_lo, a_hi) = line
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), p| {
                (l.min(p.0), h.max(p.0))
            });
        assert!(
            (a_lo + 2.0).abs() < 1e-9 && (a_hi - 3.0).abs() < 1e-9,
            "{a_lo}..{a_hi}"
        );
        assert!(line.iter().all(|p| (p.1 - 0.1).abs() < 1e-9));
    }

    #[test]
    fn partial_surfaces_give_lines_only_over_complete_cells() {
        let mut s = surface(
            axis(-1.0, 1.0, 21),
            Some(axis(-1.0, 1.0, 21)),
            |a, b| a * a + b * b,
            |_, _| 0.5,
        );
        // Only the lower half (β ≤ 0) computed.
        for row in s.metrics.get_mut(LOSS).unwrap().iter_mut().skip(11) {
            row.iter_mut().for_each(|v| *v = None);
        }
        let lines = iso_lines(&s, LOSS, &[0.5]);
        let vertices: Vec<&(f64, f64)> = lines[0].1.iter().flatten().collect();
        assert!(!vertices.is_empty());
        assert!(
            vertices.iter().all(|(_, b)| *b <= 1e-9),
            "lines only where β ≤ 0"
        );
        assert!(
            vertices
                .iter()
                .all(|(a, b)| (a.hypot(*b) - 0.5f64.sqrt()).abs() < 0.015)
        );
        // A single computed row has no complete cell: no lines.
        for row in s.metrics.get_mut(LOSS).unwrap().iter_mut().skip(1) {
            row.iter_mut().for_each(|v| *v = None);
        }
        assert!(iso_lines(&s, LOSS, &[0.5]).is_empty());
    }

    /// Squared distance between two colours.
    fn distance(p: &[u8], c: RGBColor) -> i32 {
        let d = |a: u8, b: u8| (i32::from(a) - i32::from(b)).pow(2);
        d(p[0], c.0) + d(p[1], c.1) + d(p[2], c.2)
    }

    #[test]
    fn heatmap_draws_high_beta_at_the_top() {
        // 3 α points × 5 β points, loss = β.
        let s = surface(
            axis(-1.0, 1.0, 3),
            Some(axis(-2.0, 2.0, 5)),
            |_, b| b,
            |_, _| 0.5,
        );
        let (w, h) = (600u32, 480u32);
        let mut buffer = vec![0u8; (w * h * 3) as usize];
        {
            let area = BitMapBackend::with_buffer(&mut buffer, (w, h)).into_drawing_area();
            let options = PlotOptions {
                title: Some(String::new()),
                levels: 0,
                ..PlotOptions::default()
            };
            draw_heatmap(&area, &s, &options).unwrap();
        }
        let (top, bottom) = (viridis(1.0), viridis(0.0));
        // A column through the middle of the plane (the colour bar is on the right).
        let x = (w as f64 * 0.3) as usize;
        let rows_near = |c: RGBColor| -> Vec<usize> {
            (0..h as usize)
                .filter(|y| {
                    let i = (y * w as usize + x) * 3;
                    distance(&buffer[i..i + 3], c) < 30
                })
                .collect()
        };
        let (high, low) = (rows_near(top), rows_near(bottom));
        assert!(
            high.len() > 20 && low.len() > 20,
            "{} {}",
            high.len(),
            low.len()
        );
        let max_high = high.iter().max().unwrap();
        let min_low = low.iter().min().unwrap();
        assert!(max_high < min_low, "highest value must be above the lowest");
        assert!(*high.iter().min().unwrap() < h as usize / 4);
        assert!(*low.iter().max().unwrap() > h as usize / 2);
    }

    #[test]
    fn figures_refuse_what_they_cannot_draw() {
        let one_d = surface(axis(-1.0, 1.0, 5), None, |a, _| a * a, |_, _| 0.5);
        let mut buffer = vec![0u8; 200 * 200 * 3];
        let area = BitMapBackend::with_buffer(&mut buffer, (200, 200)).into_drawing_area();
        let err = draw_contour(&area, &one_d, &PlotOptions::default()).unwrap_err();
        assert!(
            matches!(err, PlotError::Needs2d { nx: 5, ny: 1, .. }),
            "{err}"
        );
        let options = PlotOptions {
            metric: "top5".into(),
            ..PlotOptions::default()
        };
        let err = draw_line(&area, &one_d, &options).unwrap_err();
        assert!(err.to_string().contains("top5") && err.to_string().contains("accuracy, loss"));
        let empty = Surface::empty(spec(axis(-1.0, 1.0, 3), Some(axis(-1.0, 1.0, 3))), &[LOSS]);
        let err = draw_heatmap(&area, &empty, &PlotOptions::default()).unwrap_err();
        assert_eq!(
            err,
            PlotError::NoData {
                metric: LOSS.into()
            }
        );
    }

    #[test]
    fn write_all_writes_png_and_svg() {
        let dir = tempfile::tempdir().unwrap();
        let two_d = saddle_surface(21, 15);
        let written = write_all(&two_d, &dir.path().join("two"), &PlotOptions::default()).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "contour.png",
                "contour.svg",
                "heatmap.png",
                "heatmap.svg",
                "surface.png"
            ]
        );
        let one_d = surface(
            axis(-1.0, 1.5, 26),
            None,
            |a, _| 0.3 + a * a,
            |a, _| 0.9 - 0.3 * a * a,
        );
        let written = write_all(&one_d, &dir.path().join("one"), &PlotOptions::default()).unwrap();
        assert_eq!(written.len(), 2);
        for path in dir
            .path()
            .join("two")
            .read_dir()
            .unwrap()
            .chain(dir.path().join("one").read_dir().unwrap())
        {
            let path = path.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                bytes.len() > 1000,
                "{} is {} bytes",
                path.display(),
                bytes.len()
            );
            if path.extension().unwrap() == "png" {
                assert_eq!(&bytes[1..4], b"PNG");
                let image = image::load_from_memory(&bytes).unwrap();
                assert!(image.width() == 900 && (image.height() == 720 || image.height() == 560));
            } else {
                let text = String::from_utf8(bytes).unwrap();
                assert!(text.starts_with("<svg") && text.contains("α (direction x)"));
            }
        }
    }

    /// Renders the gallery used to judge the figures by eye: `cargo test --lib plot -- --ignored`,
    /// then look at /tmp/plots.
    #[test]
    #[ignore = "writes figures for inspection"]
    fn render_gallery() {
        let root = std::env::temp_dir().join("plots");
        let s = saddle_surface(41, 31);
        write_all(&s, &root, &PlotOptions::default()).unwrap();
        let log = PlotOptions {
            log_scale: true,
            ..PlotOptions::default()
        };
        write_all(&s, &root.join("log"), &log).unwrap();
        let mut partial = s.clone();
        for (iy, row) in partial
            .metrics
            .get_mut(LOSS)
            .unwrap()
            .iter_mut()
            .enumerate()
        {
            for (ix, v) in row.iter_mut().enumerate() {
                if iy * 41 + ix > 41 * 18 + 7 {
                    *v = None;
                }
            }
        }
        write_all(&partial, &root.join("partial"), &PlotOptions::default()).unwrap();
        let one_d = surface(
            axis(-1.0, 1.5, 51),
            None,
            |a, _| 0.35 + 2.0 * a * a - 0.8 * (-(a - 1.0).powi(2) / 0.02).exp(),
            |a, _| (0.91 - 0.4 * a * a).clamp(0.0, 1.0),
        );
        write_all(&one_d, &root.join("line"), &PlotOptions::default()).unwrap();
        write_all(&one_d, &root.join("line-log"), &log).unwrap();
        std::fs::create_dir_all(root.join("turn")).unwrap();
        for (name, yaw, pitch) in [("a", -0.7, 0.35), ("b", 2.3, 0.6), ("c", 3.9, 0.15)] {
            save_png(&root.join("turn"), name, FIGURE_SIZE, |a| {
                draw_surface3d(a, &s, &PlotOptions::default(), yaw, pitch)
            })
            .unwrap();
        }
        save_png(&root, "row", LINE_SIZE, |a| {
            draw_line(a, &s, &PlotOptions::default())
        })
        .unwrap();
    }
}
