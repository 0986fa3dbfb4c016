//! Figures of a [`Surface`]: contour lines, a heat map with a colour bar, a 3-D surface and 1-D
//! curves, all drawn with plotters onto any `DrawingBackend` (PNG and SVG natively, a canvas in
//! the browser), plus the iso-line extraction and level choice they share.
//!
//! Coordinates: the α axis (`surface.x`, columns) is horizontal, the β axis (`surface.y`, rows) is
//! vertical with row 0 (the smallest β) at the bottom. Iso-lines come from the `contour` crate's
//! marching squares; only cells whose four corners are computed contribute a segment, so partial
//! surfaces never show interpolated guesses.

use std::ops::Range;

use ::contour::ContourBuilder;
use plotters::coord::Shift;
use plotters::coord::cartesian::Cartesian3d;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::{Deserialize, Serialize};

use crate::landscape::surface::{ACCURACY, Grid2, LOSS, Surface};

/// Font family used by every figure; [`register_fonts`] binds it to the bundled DejaVu Sans.
pub(crate) const FONT: &str = "sans-serif";
/// Colour of cells that are not computed (or not finite).
pub(crate) const MISSING: RGBColor = RGBColor(222, 222, 222);
/// Line colour of the main curve in 1-D plots (matplotlib's C0).
pub(crate) const LOSS_COLOUR: RGBColor = RGBColor(31, 119, 180);
/// Line colour of the accuracy curve in 1-D plots (matplotlib's C1).
pub(crate) const ACCURACY_COLOUR: RGBColor = RGBColor(255, 127, 14);
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
                include_bytes!("../../static/fonts/DejaVuSans.ttf"),
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
    /// The colour map (default viridis); [`ColourMap::Diverging`] centres it on L(0).
    pub colour_map: ColourMap,
    /// Draw the heat map's own colour bar (default true); a comparison figure draws one for all.
    pub colour_bar: bool,
    /// Text and line sizes relative to an 800-pixel-wide screen figure (`None`: from the area's
    /// width); a printed figure sets them from its resolution ([`PrintSize::text_scale`]).
    pub text_scale: Option<f64>,
}

impl Default for PlotOptions {
    fn default() -> Self {
        Self {
            metric: LOSS.to_string(),
            log_scale: false,
            levels: 12,
            title: None,
            color_range: None,
            colour_map: ColourMap::Viridis,
            colour_bar: true,
            text_scale: None,
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
    pub(crate) fn of<DB: DrawingBackend>(chart: &Chart2d<'_, DB>) -> Self {
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
    /// The inputs of a figure cannot be drawn together (the reason says why).
    #[error("{0}")]
    Invalid(String),
}

/// Turns any plotters error into [`PlotError::Backend`].
pub(crate) trait OrBackend<T> {
    fn or_backend(self) -> Result<T, PlotError>;
}

impl<T, E: std::fmt::Display> OrBackend<T> for Result<T, E> {
    fn or_backend(self) -> Result<T, PlotError> {
        self.map_err(|e| PlotError::Backend(e.to_string()))
    }
}

mod barcode;
mod colours;
mod contour;
mod curvature;
mod figure;
#[cfg(not(target_arch = "wasm32"))]
mod files;
mod heatmap;
mod iso;
mod layout;
mod levels;
mod line;
mod path;
mod paths;
mod resolution;
mod surface3d;
#[cfg(test)]
mod tests;

pub use barcode::*;
pub use colours::*;
pub use contour::*;
pub use curvature::*;
pub use figure::*;
#[cfg(not(target_arch = "wasm32"))]
pub use files::*;
pub use heatmap::*;
pub use iso::*;
#[allow(unused_imports)]
pub use layout::*;
pub use levels::*;
pub use line::*;
pub use path::*;
pub use paths::*;
pub use resolution::*;
pub use surface3d::*;
