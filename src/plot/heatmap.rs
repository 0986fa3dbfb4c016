//! The heat map and its colour bar.

use super::*;

/// Cell edges of an axis: midpoints between neighbours, half a step beyond each end.
pub(crate) fn cell_edges(axis: &[f64]) -> Vec<f64> {
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

/// Filled heat map: one rectangle per cell (the colour map; uncomputed cells light grey), white iso-lines
/// over it, the centre marked, and a colour bar with tick labels on the right.
pub fn draw_heatmap<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &Surface,
    o: &PlotOptions,
) -> Result<Frame, PlotError> {
    require_2d(s, "a heat map")?;
    let field = prepare(s, o)?;
    let sz = Sizes::with(area, o);
    let body = start_figure(area, &title_text(s, o, ""), sz)?;
    let (ex, ey) = (cell_edges(&s.x), cell_edges(&s.y));
    let x_range = ex[0]..ex[ex.len() - 1];
    let y_range = ey[0]..ey[ey.len() - 1];
    let span = (x_range.end - x_range.start, y_range.end - y_range.start);
    let (w, _) = body.dim_in_pixel();
    let bar_width = if o.colour_bar {
        sz.px(COLOUR_BAR + COLOUR_BAR_LABELS)
    } else {
        0
    };
    let layout = PlaneLayout::new(body.dim_in_pixel(), span, sz.px(20.0), bar_width, sz);
    let mut chart = plane_chart(&body, x_range, y_range, &layout)?;

    // Cells, anchored at their top-left corner and one pixel wider and taller than their share,
    // so neighbours overlap instead of leaving anti-aliasing seams.
    let mut cells = Vec::with_capacity(s.x.len() * s.y.len());
    for (iy, row) in field.z.iter().enumerate() {
        for (ix, v) in row.iter().enumerate() {
            let colour = v.map_or(MISSING, |v| field.colour(v));
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
    if let Some(path) = &s.info.trajectory {
        mark_path(&mut chart, path, WHITE, RGBColor(25, 25, 25), sz)?;
    }
    mark_centre(&mut chart, WHITE, sz)?;
    finish_plane_axes(&mut chart, sz)?;
    let frame = Frame::of(&chart);
    if o.colour_bar {
        let bar = body.margin(
            0,
            0,
            layout.bar_x,
            w.saturating_sub(layout.bar_x + bar_width),
        );
        colour_bar(&bar, &field, &scale_label(o), &layout, sz)?;
    }
    area.present().or_backend()?;
    Ok(frame)
}

/// Round tick values for a log axis over `[lo, hi]` (`lo > 0`): plotters' own log ticks are
/// powers of ten only, too few for ranges under two decades.
pub(crate) fn log_ticks(lo: f64, hi: f64, count: usize) -> Vec<f64> {
    let ticks = contour_levels(lo, hi, count, true);
    if ticks.len() >= 2 {
        ticks
    } else {
        vec![lo, hi]
    }
}

/// Width of the colour bar itself (pixels at scale 1).
pub(crate) const COLOUR_BAR: f64 = 22.0;
/// Width of the colour bar's tick labels and title (pixels at scale 1).
pub(crate) const COLOUR_BAR_LABELS: f64 = 82.0;

/// A vertical colour bar whose bar spans exactly the plot height given by `layout`.
pub(crate) fn colour_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    field: &Field,
    label: &str,
    layout: &PlaneLayout,
    sz: Sizes,
) -> Result<(), PlotError> {
    if field.log {
        let (lo, hi) = (field.value(field.lo), field.value(field.hi));
        let range = (lo..hi).log_scale().with_key_points(log_ticks(lo, hi, 6));
        colour_bar_on(area, range, field, 0.0, label, layout, sz)
    } else {
        // A map centred on L(0) draws its bar in L − L(0), so that its ticks are round there.
        let offset = field.centre.unwrap_or(0.0);
        colour_bar_on(
            area,
            field.lo - offset..field.hi - offset,
            field,
            offset,
            label,
            layout,
            sz,
        )
    }
}

/// [`colour_bar`] for a linear or logarithmic value axis; `offset` is subtracted from every value
/// (L(0) for a centred map on a linear scale, else 0).
pub(crate) fn colour_bar_on<DB, YR>(
    area: &DrawingArea<DB, Shift>,
    y_range: YR,
    field: &Field,
    offset: f64,
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
        let colour = field.map.at((k as f64 + 0.5) / STEPS as f64);
        Rectangle::new(
            [
                (0.0, field.value(a) - offset),
                (1.0, field.value(b) - offset),
            ],
            colour.filled(),
        )
    });
    chart.draw_series(stripes).or_backend()?;
    // Ticks of L − L(0) carry their sign.
    let signed = field.centre.is_some() && !field.log;
    let format = |v: &f64| match signed {
        true if v.abs() <= 1e-12 * offset.abs().max(1.0) => "0".to_string(),
        true if *v > 0.0 => format!("+{}", format_sig(*v)),
        _ => format_sig(*v),
    };
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
            [
                (0.0, field.value(lo) - offset),
                (1.0, field.value(hi) - offset),
            ],
            BLACK.stroke_width(1),
        )))
        .or_backend()?;
    Ok(())
}
