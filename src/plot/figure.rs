//! A comparison for a paper: the panels side by side in one figure on one colour scale with one
//! colour bar, each panel titled and its axes labelled, and a caption under them, at a printed
//! width and resolution.

use super::*;

/// A figure's printed size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrintSize {
    /// Width in inches (7: a two-column page's full width).
    pub width_in: f64,
    /// Pixels per inch.
    pub dpi: f64,
}

impl Default for PrintSize {
    fn default() -> Self {
        Self {
            width_in: 7.0,
            dpi: 300.0,
        }
    }
}

/// Tick labels are 15 px at text scale 1; printed they are this many points.
const TICK_POINTS: f64 = 8.0;
/// The tick font's size at text scale 1, pixels.
const TICK_PX: f64 = 15.0;
/// DejaVu Sans' mean advance is about 0.55 em; a caption line holds width / (this · font) chars.
const CHAR_EM: f64 = 0.56;

impl PrintSize {
    /// Width in pixels at `dpi`.
    pub fn width_px(&self, dpi: f64) -> u32 {
        (self.width_in * dpi).round().max(1.0) as u32
    }

    /// The text scale that prints tick labels at 8 pt at `dpi`.
    pub fn text_scale(dpi: f64) -> f64 {
        TICK_POINTS / 72.0 * dpi / TICK_PX
    }
}

/// What each panel shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanelKind {
    /// Filled cells, white iso-lines ([`draw_heatmap`]).
    Heatmap,
    /// Labelled iso-lines over pale bands ([`draw_contour`]).
    Contour,
}

/// The value range of `metric` over several surfaces (its positive values on a log scale), for
/// one colour scale across panels; `None` when they hold no such value or only one.
pub fn shared_range<'a>(
    surfaces: impl IntoIterator<Item = &'a Surface>,
    metric: &str,
    log_scale: bool,
) -> Option<(f64, f64)> {
    let (lo, hi) = surfaces
        .into_iter()
        .filter_map(|s| s.metrics.get(metric))
        .flatten()
        .flatten()
        .flatten()
        .copied()
        .filter(|v| v.is_finite() && (!log_scale || *v > 0.0))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    (lo.is_finite() && hi.is_finite() && hi > lo).then_some((lo, hi))
}

/// `text` wrapped at spaces into lines of at most `chars` characters (a longer word alone).
pub(crate) fn wrap(text: &str, chars: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.lines() {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            let fits = line.chars().count() + 1 + word.chars().count() <= chars.max(1);
            if !line.is_empty() && !fits {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    lines
}

/// Where the parts of a comparison go, in pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparisonLayout {
    /// The whole figure.
    pub size: (u32, u32),
    /// Height of the row of panels (each `panel_width` wide).
    pub panels_height: u32,
    /// Width of one panel.
    pub panel_width: u32,
    /// Width of the colour bar's column at the right.
    pub bar_width: u32,
    /// The caption's lines.
    pub caption: Vec<String>,
    /// Height of one caption line.
    pub line_height: u32,
}

impl ComparisonLayout {
    /// The layout of `panels` side by side in a figure `width` pixels wide at text scale `scale`.
    pub fn new(panels: &[(String, &Surface)], width: u32, scale: f64, caption: &str) -> Self {
        let sz = Sizes { scale };
        let n = panels.len();
        let bar_width = sz.px(COLOUR_BAR + COLOUR_BAR_LABELS + 30.0);
        let panel_width = (width.saturating_sub(bar_width) / n.max(1) as u32).max(1);
        // A square plane plus its title and α labels, less the β labels' width; a plane with
        // equal units on both axes (PlaneLayout) is as much less (more) tall as Δβ is shorter
        // (longer) than Δα, so no height is left empty under a wide grid.
        // The plane's width: the panel less PlaneLayout's left margin, β labels and gap.
        let plane = f64::from(panel_width.saturating_sub(sz.px(12.0) + sz.px(72.0) + sz.px(20.0)));
        let ratio = plane_ratio(panels);
        let panels_height = (f64::from(panel_width + sz.px(40.0)) - plane + plane / ratio)
            .round()
            .max(1.0) as u32;
        let font = TICK_PX * scale;
        let chars = (f64::from(width) / (CHAR_EM * font)).floor().max(20.0) as usize;
        let caption = if caption.trim().is_empty() {
            Vec::new()
        } else {
            wrap(caption, chars)
        };
        let line_height = (font * 1.35).ceil() as u32;
        let caption_height = if caption.is_empty() {
            0
        } else {
            caption.len() as u32 * line_height + sz.px(16.0)
        };
        Self {
            size: (width, panels_height + caption_height),
            panels_height,
            panel_width,
            bar_width,
            caption,
            line_height,
        }
    }
}

/// Δα/Δβ of the tallest plane among `panels`, as the heat map's [`PlaneLayout`] draws it: within [1/3, 3] (beyond
/// that the plane fills its panel) and 1 for 1-D surfaces.
fn plane_ratio(panels: &[(String, &Surface)]) -> f64 {
    // From the first cell's edge to the last's, as the heat map draws it.
    let span = |v: &[f64]| {
        let n = v.len() as f64;
        v.last()
            .zip(v.first())
            .map_or(0.0, |(b, a)| (b - a) * n / (n - 1.0))
    };
    panels
        .iter()
        .map(|(_, s)| {
            let r = span(&s.x) / span(&s.y);
            if r.is_finite() && (1.0 / 3.0..=3.0).contains(&r) {
                r
            } else {
                1.0
            }
        })
        .fold(f64::INFINITY, f64::min)
        .clamp(1.0 / 3.0, 3.0)
}

/// CSS pixels per inch: an SVG's user unit when it is printed or turned into a PDF.
pub const SVG_DPI: f64 = 96.0;

/// The comparison ([`draw_comparison`]) as an SVG document `width_in` wide at [`SVG_DPI`], its
/// text sized for print and kept as text (for a vector PDF): the CLI's file and the page's download.
pub fn comparison_svg(
    panels: &[(String, &Surface)],
    o: &PlotOptions,
    kind: PanelKind,
    width_in: f64,
    caption: &str,
) -> Result<String, PlotError> {
    let print = PrintSize {
        width_in,
        dpi: SVG_DPI,
    };
    let scale = PrintSize::text_scale(SVG_DPI);
    let layout = ComparisonLayout::new(panels, print.width_px(SVG_DPI), scale, caption);
    let options = PlotOptions {
        text_scale: Some(scale),
        ..o.clone()
    };
    let mut svg = String::new();
    draw_comparison(
        &SVGBackend::with_string(&mut svg, layout.size).into_drawing_area(),
        &layout,
        panels,
        &options,
        kind,
    )?;
    Ok(svg)
}

/// Draw a comparison onto `area`, laid out by `layout` (its size is the area's): the panels
/// `(title, surface)` left to right, each on the colour scale shared by all (`o.color_range`, or
/// the panels' common range), one colour bar at the right, the caption under them. `o.text_scale`
/// sets the text size (a printed figure's). The diverging map, centred on each model's own L(0),
/// has no one scale to share and is refused.
pub fn draw_comparison<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    layout: &ComparisonLayout,
    panels: &[(String, &Surface)],
    o: &PlotOptions,
    kind: PanelKind,
) -> Result<(), PlotError> {
    register_fonts();
    let Some((_, first)) = panels.first() else {
        return Err(PlotError::NoData {
            metric: o.metric.clone(),
        });
    };
    if o.colour_map.centred() {
        return Err(PlotError::Backend(
            "the diverging colour map is centred on each model's own L(0), so panels have no \
             one scale to share: use viridis, magma or cividis for a comparison figure"
                .into(),
        ));
    }
    let range = match o.color_range {
        Some(r) => Some(r),
        None => shared_range(panels.iter().map(|p| p.1), &o.metric, o.log_scale),
    };
    let shared = PlotOptions {
        color_range: range,
        colour_bar: false,
        ..o.clone()
    };
    let sz = Sizes::with(area, o);
    area.fill(&WHITE).or_backend()?;
    let mut frame = None;
    for (i, (title, s)) in panels.iter().enumerate() {
        let x0 = i as u32 * layout.panel_width;
        let panel = area.margin(
            0,
            layout.size.1.saturating_sub(layout.panels_height),
            x0,
            layout.size.0.saturating_sub(x0 + layout.panel_width),
        );
        let options = PlotOptions {
            title: Some(title.clone()),
            ..shared.clone()
        };
        let f = match kind {
            PanelKind::Heatmap => draw_heatmap(&panel, s, &options)?,
            PanelKind::Contour => draw_contour(&panel, s, &options)?,
        };
        frame.get_or_insert(f);
    }
    // The bar spans the first panel's plane, top to bottom.
    if let Some(f) = frame {
        let bar_x = layout.panel_width * panels.len() as u32 + sz.px(24.0);
        let bar = area.margin(
            0,
            layout.size.1.saturating_sub(layout.panels_height),
            bar_x,
            layout
                .size
                .0
                .saturating_sub(bar_x + sz.px(COLOUR_BAR + COLOUR_BAR_LABELS)),
        );
        let (_, top) = bar.get_base_pixel();
        let plane = PlaneLayout {
            left: 0,
            top: u32::try_from(f.py.0 - top).unwrap_or(0),
            bottom: layout
                .panels_height
                .saturating_sub(u32::try_from(f.py.1 - top).unwrap_or(0)),
            x_labels: 0,
            y_labels: 0,
            right: 0,
            bar_x: 0,
        };
        let field = prepare(first, &shared)?;
        colour_bar(&bar, &field, &scale_label(o), &plane, sz)?;
    }
    let style = sz.font(TICK_PX);
    for (k, line) in layout.caption.iter().enumerate() {
        let y = layout.panels_height + sz.px(8.0) + k as u32 * layout.line_height;
        area.draw(&Text::new(
            line.clone(),
            (sz.px(12.0) as i32, y as i32),
            style.clone(),
        ))
        .or_backend()?;
    }
    area.present().or_backend()?;
    Ok(())
}
