//! Curvature figures: the convexity map beside the loss contour, and the max-eigenvalue histogram.

use super::*;

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
        colour_map: o.colour_map.sequential(),
        ..o.clone()
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
