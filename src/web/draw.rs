//! Figures on the page: the library's plot functions drawn onto a `<canvas>` (plotters-canvas)
//! or into an SVG string for export.

use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use web_sys::HtmlCanvasElement;

use crate::permalink::{PlotKind, View};
use crate::plot::{self, Frame, PlotOptions};
use crate::surface::Surface;

/// Plot options of a panel under a view (`color_range`: the shared scale, when on).
pub fn options(view: &View, label: &str, color_range: Option<(f64, f64)>) -> PlotOptions {
    PlotOptions {
        metric: view.metric.clone(),
        log_scale: view.log_scale,
        levels: view.levels,
        title: Some(label.to_string()),
        color_range,
        colour_map: view.colour_map,
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
    let backend = CanvasBackend::with_canvas_object(canvas.clone())
        .ok_or_else(|| "this browser gives no 2-D canvas context".to_string())?;
    draw_on(&backend.into_drawing_area(), s, view, o)
}

/// The barcode of a panel's merge tree ([`plot::draw_barcode`]) onto a canvas.
pub fn barcode(
    canvas: &HtmlCanvasElement,
    t: &crate::metrics::topology::Topology,
    title: &str,
) -> Result<(), String> {
    let backend = CanvasBackend::with_canvas_object(canvas.clone())
        .ok_or_else(|| "this browser gives no 2-D canvas context".to_string())?;
    plot::draw_barcode(&backend.into_drawing_area(), t, title, crate::surface::LOSS)
        .map_err(|e| e.to_string())
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
            Some(v) if name == crate::surface::ACCURACY => format!("{name} = {:.1} %", v * 100.0),
            Some(v) => format!("{name} = {v:.5}"),
            None => format!("{name} = (not computed)"),
        });
    }
    Some(parts.join("   "))
}
