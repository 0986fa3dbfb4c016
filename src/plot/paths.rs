//! Paths between the same two checkpoints (the straight line and a Bézier curve) compared: the
//! loss along each on the left, the accuracy on the right when the surfaces have it, one colour
//! per path, each path's barrier in the legend (Garipov et al. 2018's figure).

use super::line::{Curve, curve, draw_legend, draw_runs};
use super::*;
use crate::metrics::barrier::Barrier;

/// One colour per path, in order (the first is the straight line).
const PATH_COLOURS: [RGBColor; 4] = [
    RGBColor(110, 110, 110),
    LOSS_COLOUR,
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
];

/// A path to draw: its surface and a short label (`linear`, `Bézier`).
pub struct PathCurve<'a> {
    /// The 1-D surface along the path.
    pub surface: &'a Surface,
    /// Its name in the legend.
    pub label: String,
}

/// The metric's barrier on a path, from the surface's `info.barrier`.
fn barrier_of<'a>(s: &'a Surface, metric: &str) -> Option<&'a Barrier> {
    s.info.barrier.iter().find(|b| b.metric == metric)
}

/// Loss (and accuracy) along each path, side by side.
pub fn draw_paths<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    paths: &[PathCurve<'_>],
) -> Result<(), PlotError> {
    if paths.is_empty() || paths.len() > PATH_COLOURS.len() {
        return Err(PlotError::Invalid(format!(
            "draws 1 to {} paths, got {}",
            PATH_COLOURS.len(),
            paths.len()
        )));
    }
    let sz = Sizes::of(area);
    // File names without their folders.
    let short = |name: &str| name.rsplit(['/', '\\']).next().unwrap_or(name).to_string();
    let spec = &paths[0].surface.spec;
    let title = format!(
        "from {} (t = 0) to {} (t = 1)",
        short(&spec.checkpoint.name),
        spec.directions
            .source
            .path_target()
            .map_or("?".into(), |t| short(&t.name))
    );
    let body = start_figure(area, &title, sz)?;
    let with_accuracy = paths
        .iter()
        .all(|p| p.surface.metrics.contains_key(ACCURACY));
    let panels: Vec<&str> = if with_accuracy {
        vec![LOSS, ACCURACY]
    } else {
        vec![LOSS]
    };
    let areas = body.split_evenly((1, panels.len()));
    for (panel, metric) in areas.iter().zip(&panels) {
        panel_of(panel, paths, metric, sz)?;
    }
    area.present().or_backend()
}

fn panel_of<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    paths: &[PathCurve<'_>],
    metric: &str,
    sz: Sizes,
) -> Result<(), PlotError> {
    let curves: Vec<Curve> = paths
        .iter()
        .map(|p| {
            curve(p.surface, metric, 0, false).ok_or_else(|| PlotError::NoData {
                metric: metric.to_string(),
            })
        })
        .collect::<Result<_, _>>()?;
    let lo = curves.iter().map(|c| c.lo).fold(f64::INFINITY, f64::min);
    let hi = curves
        .iter()
        .map(|c| c.hi)
        .fold(f64::NEG_INFINITY, f64::max);
    let pad = if hi > lo {
        (hi - lo) * 0.06
    } else {
        lo.abs().max(1.0) * 0.05
    };
    let x0 = paths
        .iter()
        .map(|p| p.surface.x[0])
        .fold(f64::INFINITY, f64::min);
    let x1 = paths
        .iter()
        .map(|p| p.surface.x[p.surface.x.len() - 1])
        .fold(f64::NEG_INFINITY, f64::max);
    let (x0, x1) = if x1 > x0 {
        (x0, x1)
    } else {
        (x0 - 0.5, x1 + 0.5)
    };
    let (legend, plot) = area.split_vertically(sz.px(34.0) * 2);
    let mut chart = ChartBuilder::on(&plot)
        .margin_top(sz.px(6.0))
        .margin_bottom(sz.px(10.0))
        .margin_left(sz.px(12.0))
        .margin_right(sz.px(24.0))
        .x_label_area_size(sz.px(58.0))
        .y_label_area_size(sz.px(78.0))
        .build_cartesian_2d(x0..x1, lo - pad..hi + pad)
        .or_backend()?;
    draw_axes(
        &mut chart,
        sz,
        Axes {
            x: "t (0: start, 1: end)",
            y: metric,
            ticks: (6, 8),
            grid: true,
        },
    )?;
    let mut entries = Vec::new();
    for ((path, c), colour) in paths.iter().zip(&curves).zip(PATH_COLOURS) {
        draw_runs(&mut chart, c, colour, path.surface.x.len() <= 41, sz)?;
        let label = match barrier_of(path.surface, metric) {
            Some(b) => format!("{}: barrier {}", path.label, format_sig(b.height)),
            None => path.label.clone(),
        };
        entries.push((label, colour, false));
    }
    let plot_left = chart.plotting_area().get_pixel_range().0.start;
    let x = plot_left - legend.get_base_pixel().0;
    // Two paths a row: the legend's labels are long.
    let rows = legend.split_evenly((entries.len().div_ceil(2), 1));
    for (row, chunk) in rows.iter().zip(entries.chunks(2)) {
        draw_legend(row, chunk, x, sz)?;
    }
    Ok(())
}
