//! What every plane figure shares: the prepared field (values, colour range, levels), sizes relative to the drawing area, titles, the plane's axes and the marked centre.

use super::*;

/// A metric ready to draw: values on the colour scale (log₁₀ when asked), with its range.
pub(crate) struct Field {
    /// Values `[iy][ix]` after the log transform; `None` = not computed or not finite.
    pub(crate) z: Grid2,
    /// Colour range (transformed).
    pub(crate) lo: f64,
    /// Colour range (transformed).
    pub(crate) hi: f64,
    /// Whether `z` holds log₁₀ values.
    pub(crate) log: bool,
    /// The colour map.
    pub(crate) map: ColourMap,
    /// The value at θ* (transformed) when the map is centred on it.
    pub(crate) centre: Option<f64>,
}

impl Field {
    /// Position of a transformed value on the colour scale, in [0, 1].
    pub(crate) fn unit(&self, v: f64) -> f64 {
        ((v - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0)
    }

    /// The colour of a transformed value.
    pub(crate) fn colour(&self, v: f64) -> RGBColor {
        self.map.at(self.unit(v))
    }

    /// The colour of contour lines and bands at a transformed value.
    pub(crate) fn line_colour(&self, v: f64) -> RGBColor {
        self.map.line(self.unit(v))
    }

    /// The value a transformed number stands for.
    pub(crate) fn value(&self, v: f64) -> f64 {
        if self.log { 10f64.powf(v) } else { v }
    }

    /// The transformed number of a value.
    pub(crate) fn transformed(&self, v: f64) -> f64 {
        if self.log { v.log10() } else { v }
    }

    /// Round contour levels over the colour range, as (value, transformed).
    pub(crate) fn levels(&self, count: usize) -> Vec<(f64, f64)> {
        contour_levels(self.value(self.lo), self.value(self.hi), count, self.log)
            .into_iter()
            .map(|v| (v, self.transformed(v)))
            .collect()
    }
}

/// Look the metric up, check its shape, apply the log transform and find the colour range.
pub(crate) fn prepare(s: &Surface, o: &PlotOptions) -> Result<Field, PlotError> {
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
    // A centred map: the range made symmetric around the value at θ* (the cell nearest the
    // origin), so that its middle colour is L(0).
    let centre = if o.colour_map.centred() {
        let (ix, iy) = s.centre_cell();
        let c = z.get(iy).and_then(|row| row.get(ix)).copied().flatten();
        if let Some(c) = c {
            let half = (hi - c).max(c - lo).max(0.0);
            lo = c - half;
            hi = c + half;
        }
        c
    } else {
        None
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
        map: o.colour_map,
        centre,
    })
}

/// Fails unless the surface has two axes with at least two points each.
pub(crate) fn require_2d(s: &Surface, plot: &'static str) -> Result<(), PlotError> {
    let (nx, ny) = (s.x.len(), s.y.len());
    if s.is_1d() || nx < 2 || ny < 2 {
        return Err(PlotError::Needs2d { plot, nx, ny });
    }
    Ok(())
}

/// Viridis at `t` ∈ [0, 1].
#[cfg(test)]
pub(crate) fn viridis(t: f64) -> RGBColor {
    ColourMap::Viridis.at(t)
}

/// Font sizes scaled to the drawing area, so a small canvas gets proportionally small text.
#[derive(Clone, Copy)]
pub(crate) struct Sizes {
    /// Scale factor relative to an 800-pixel-wide figure.
    pub(crate) scale: f64,
}

impl Sizes {
    pub(crate) fn of<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>) -> Self {
        // Width-led, so the wide 1-D figure and the squarer 2-D ones share text sizes; the
        // height only limits very flat areas.
        let (w, h) = area.dim_in_pixel();
        let reference = f64::from(w).min(f64::from(h) * 1.6);
        Self {
            scale: (reference / 800.0).clamp(0.55, 2.5),
        }
    }
    /// [`Sizes::of`], unless the options fix the scale (a printed figure).
    pub(crate) fn with<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, o: &PlotOptions) -> Self {
        match o.text_scale {
            Some(scale) if scale.is_finite() && scale > 0.0 => Self { scale },
            _ => Self::of(area),
        }
    }
    pub(crate) fn px(&self, base: f64) -> u32 {
        (base * self.scale).round().max(1.0) as u32
    }
    pub(crate) fn font(&self, base: f64) -> TextStyle<'static> {
        TextStyle::from((FONT, base * self.scale).into_font()).color(&BLACK)
    }
    pub(crate) fn title(&self) -> TextStyle<'static> {
        self.font(21.0)
    }
    pub(crate) fn desc(&self) -> TextStyle<'static> {
        self.font(18.0)
    }
    pub(crate) fn tick(&self) -> TextStyle<'static> {
        self.font(15.0)
    }
    pub(crate) fn small(&self) -> TextStyle<'static> {
        self.font(13.0)
    }
}

/// The figure title: the option, or "metric — checkpoint" by default.
pub(crate) fn title_text(s: &Surface, o: &PlotOptions, suffix: &str) -> String {
    match &o.title {
        Some(title) => title.clone(),
        None if s.spec.checkpoint.name.is_empty() => format!("{}{suffix}", o.metric),
        None => format!("{} — {}{suffix}", o.metric, s.spec.checkpoint.name),
    }
}

/// Clear the area, draw the title (if any) and return the area below it.
pub(crate) fn start_figure<DB: DrawingBackend>(
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
pub(crate) fn scale_label(o: &PlotOptions) -> String {
    match (o.log_scale, o.colour_map.centred()) {
        (true, false) => format!("{} (log)", o.metric),
        (true, true) => format!("{} (log; white at θ*)", o.metric),
        (false, true) => format!("{} − {0}(0)", o.metric),
        (false, false) => o.metric.clone(),
    }
}

pub(crate) type Chart2d<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Where the (α, β) plane goes, in pixels of the figure body: margins chosen so that one unit of
/// α and one of β have the same length on screen (when the two ranges are within a factor 3 of
/// each other), with the colour bar, if any, right next to the plane and the same height.
pub(crate) struct PlaneLayout {
    /// Left margin (the whole group is centred horizontally).
    pub(crate) left: u32,
    /// Top margin; the colour bar uses the same.
    pub(crate) top: u32,
    /// Bottom margin below the x labels; the colour bar uses the same.
    pub(crate) bottom: u32,
    /// Height of the α tick labels and title.
    pub(crate) x_labels: u32,
    /// Width of the β tick labels and title.
    pub(crate) y_labels: u32,
    /// Right margin of the plane's chart (gap, colour bar and spare width).
    pub(crate) right: u32,
    /// Where the colour bar's area starts (pixels from the left).
    pub(crate) bar_x: u32,
}

impl PlaneLayout {
    /// Lay out a plane of data size `span` (Δα, Δβ) in a body of `size` pixels, leaving `gap`
    /// pixels right of the plane and `bar` pixels for a colour bar after that.
    pub(crate) fn new(size: (u32, u32), span: (f64, f64), gap: u32, bar: u32, sz: Sizes) -> Self {
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
pub(crate) fn plane_chart<'a, DB: DrawingBackend>(
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

/// What [`draw_axes`] draws: the axis titles, about how many ticks on each, and whether faint
/// grid lines mark the major ticks (line figures) or not (plane figures).
pub(crate) struct Axes<'a> {
    pub x: &'a str,
    pub y: &'a str,
    pub ticks: (usize, usize),
    pub grid: bool,
}

/// A chart's axes in the figure's sizes: titles, ticks with significant-digit labels.
pub(crate) fn draw_axes<DB, X, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
    sz: Sizes,
    axes: Axes<'_>,
) -> Result<(), PlotError>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let format = |v: &f64| format_sig(*v);
    let mut mesh = chart.configure_mesh();
    if axes.grid {
        mesh.light_line_style(plotters::style::TRANSPARENT)
            .bold_line_style(plotters::style::BLACK.mix(0.08));
    } else {
        mesh.disable_mesh();
    }
    mesh.x_desc(axes.x)
        .y_desc(axes.y)
        .label_style(sz.tick())
        .axis_desc_style(sz.desc())
        .x_labels(axes.ticks.0)
        .y_labels(axes.ticks.1)
        .x_label_formatter(&format)
        .y_label_formatter(&format)
        .set_all_tick_mark_size(sz.px(5.0))
        .draw()
        .or_backend()
}

/// Axes, ticks and axis titles of an (α, β) chart, drawn over what is already there.
pub(crate) fn finish_plane_axes<DB: DrawingBackend>(
    chart: &mut Chart2d<'_, DB>,
    sz: Sizes,
) -> Result<(), PlotError> {
    draw_axes(
        chart,
        sz,
        Axes {
            x: "α (direction x)",
            y: "β (direction y)",
            ticks: (7, 7),
            grid: false,
        },
    )?;
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
pub(crate) fn mark_centre<DB: DrawingBackend>(
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
