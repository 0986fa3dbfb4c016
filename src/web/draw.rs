//! Figures on the page: the library's plot functions drawn onto a `<canvas>` (plotters-canvas)
//! or into an SVG string for export.

use plotters::prelude::*;
use web_sys::HtmlCanvasElement;

use super::measured::MeasuredCanvas;

use crate::landscape::surface::Surface;
use crate::plot::{self, Frame, PlotOptions};
use crate::spec::permalink::{PlotKind, View};

/// Plot options of a panel under a view (`color_range`: the shared scale, when on).
pub fn options(view: &View, label: &str, color_range: Option<(f64, f64)>) -> PlotOptions {
    PlotOptions {
        metric: view.metric.clone(),
        log_scale: view.log_scale,
        levels: view.levels,
        title: Some(label.to_string()),
        color_range,
        colour_map: view.colour_map,
        ..PlotOptions::default()
    }
}

/// The figure a view asks for; a 1-D surface is always drawn as curves.
fn kind(view: &View, s: &Surface) -> PlotKind {
    if s.is_1d() || s.x.len() < 2 || s.y.len() < 2 {
        PlotKind::Line
    } else {
        view.plot
    }
}

fn draw_on<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    s: &Surface,
    view: &View,
    o: &PlotOptions,
) -> Result<Option<Frame>, String> {
    area.fill(&WHITE).map_err(|e| e.to_string())?;
    let result = match kind(view, s) {
        PlotKind::Contour => plot::draw_contour(area, s, o).map(Some),
        PlotKind::Heatmap => plot::draw_heatmap(area, s, o).map(Some),
        PlotKind::Surface => plot::draw_surface3d(area, s, o, view.yaw, view.pitch).map(|_| None),
        PlotKind::Line => plot::draw_line(area, s, o).map(|_| None),
    };
    result.map_err(|e| e.to_string())
}

/// Draw onto a canvas; returns the plane's frame for contour and heat map.
pub fn canvas(
    canvas: &HtmlCanvasElement,
    s: &Surface,
    view: &View,
    o: &PlotOptions,
) -> Result<Option<Frame>, String> {
    let backend = MeasuredCanvas::new(canvas)
        .ok_or_else(|| "this browser gives no 2-D canvas context".to_string())?;
    draw_on(&backend.into_drawing_area(), s, view, o)
}

/// The barcode of a panel's merge tree ([`plot::draw_barcode`]) onto a canvas.
pub fn barcode(
    canvas: &HtmlCanvasElement,
    t: &crate::metrics::topology::Topology,
    title: &str,
) -> Result<(), String> {
    let backend = MeasuredCanvas::new(canvas)
        .ok_or_else(|| "this browser gives no 2-D canvas context".to_string())?;
    plot::draw_barcode(
        &backend.into_drawing_area(),
        t,
        title,
        crate::landscape::surface::LOSS,
    )
    .map_err(|e| e.to_string())
}

/// A demo path pair ([`plot::draw_paths`]: loss and accuracy along the line and the curve)
/// onto a canvas.
pub fn paths(canvas: &HtmlCanvasElement, linear: &Surface, bezier: &Surface) -> Result<(), String> {
    let backend = MeasuredCanvas::new(canvas)
        .ok_or_else(|| "this browser gives no 2-D canvas context".to_string())?;
    let curves = [
        plot::PathCurve {
            surface: linear,
            label: "straight line".into(),
        },
        plot::PathCurve {
            surface: bezier,
            label: "Bézier curve".into(),
        },
    ];
    plot::draw_paths(&backend.into_drawing_area(), &curves).map_err(|e| e.to_string())
}

/// The same figure as an SVG document.
pub fn svg(s: &Surface, view: &View, o: &PlotOptions, size: (u32, u32)) -> Result<String, String> {
    let mut out = String::new();
    {
        let backend = SVGBackend::with_string(&mut out, size);
        draw_on(&backend.into_drawing_area(), s, view, o)?;
    }
    Ok(out)
}

/// The cell nearest to (α, β) and its metric values, for the read-out.
pub fn readout(s: &Surface, alpha: f64, beta: f64) -> Option<String> {
    let nearest = |axis: &[f64], v: f64| {
        axis.iter()
            .enumerate()
            .min_by(|a, b| (a.1 - v).abs().total_cmp(&(b.1 - v).abs()))
            .map(|(i, _)| i)
    };
    let ix = nearest(&s.x, alpha)?;
    let iy = nearest(&s.y, beta)?;
    let mut parts = vec![format!("α = {:.3}", s.x[ix])];
    if !s.is_1d() {
        parts.push(format!("β = {:.3}", s.y[iy]));
    }
    for (name, grid) in &s.metrics {
        let v = grid.get(iy).and_then(|r| r.get(ix)).copied().flatten();
        parts.push(match v {
            Some(v) if name == crate::landscape::surface::ACCURACY => {
                format!("{name} = {:.1} %", v * 100.0)
            }
            Some(v) => format!("{name} = {v:.5}"),
            None => format!("{name} = (not computed)"),
        });
    }
    Some(parts.join("   "))
}

/// The view's options for a comparison figure: its metric, scale, map and levels.
fn figure_options(view: &View) -> PlotOptions {
    options(view, "", None)
}

/// Contours when the view shows contours, else heat maps.
fn panel_kind(view: &View) -> plot::PanelKind {
    match view.plot {
        PlotKind::Contour => plot::PanelKind::Contour,
        _ => plot::PanelKind::Heatmap,
    }
}

/// The comparison as an SVG document, 7 in wide ([`plot::comparison_svg`]).
pub fn comparison_svg(
    panels: &[(String, &Surface)],
    view: &View,
    caption: &str,
) -> Result<String, String> {
    let width_in = plot::PrintSize::default().width_in;
    plot::comparison_svg(
        panels,
        &figure_options(view),
        panel_kind(view),
        width_in,
        caption,
    )
    .map_err(|e| e.to_string())
}

/// The comparison as a PNG, 7 in wide at 300 dpi (recorded in the file), drawn on a detached
/// canvas with the page's fonts.
pub fn comparison_png(
    panels: &[(String, &Surface)],
    view: &View,
    caption: &str,
) -> Result<Vec<u8>, String> {
    use base64::Engine;
    use wasm_bindgen::JsCast;
    let print = plot::PrintSize::default();
    let scale = plot::PrintSize::text_scale(print.dpi);
    let layout = plot::ComparisonLayout::new(panels, print.width_px(print.dpi), scale, caption);
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let canvas: HtmlCanvasElement = document
        .create_element("canvas")
        .map_err(|_| "cannot make a canvas")?
        .dyn_into()
        .map_err(|_| "cannot make a canvas")?;
    canvas.set_width(layout.size.0);
    canvas.set_height(layout.size.1);
    let backend = MeasuredCanvas::new(&canvas)
        .ok_or_else(|| "this browser gives no 2-D canvas context".to_string())?;
    let o = PlotOptions {
        text_scale: Some(scale),
        ..figure_options(view)
    };
    plot::draw_comparison(
        &backend.into_drawing_area(),
        &layout,
        panels,
        &o,
        panel_kind(view),
    )
    .map_err(|e| e.to_string())?;
    let url = canvas
        .to_data_url()
        .map_err(|_| "the canvas cannot be read back")?;
    let data = url
        .strip_prefix("data:image/png;base64,")
        .ok_or("the canvas did not give a PNG")?;
    let png = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| e.to_string())?;
    plot::with_resolution(&png, print.dpi).map_err(|e| e.to_string())
}
