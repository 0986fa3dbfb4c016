//! The 3-D surface.

use super::*;

/// The surface in 3-D: α and β on the floor, the metric upwards (log₁₀ of it on a log scale), one
/// quadrilateral per complete cell coloured by its mean value (the colour map), painted far to near.
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

    // Quads of complete cells, farthest first (painter's algorithm), on at most MESH_SEGMENTS
    // per axis: a finer grid is drawn through every k-th row and column (and the last).
    let (xs, ys) = (
        mesh_indices(s.x.len(), MESH_SEGMENTS),
        mesh_indices(s.y.len(), MESH_SEGMENTS),
    );
    let mut quads = Vec::new();
    for yw in ys.windows(2) {
        for xw in xs.windows(2) {
            let (ix, iy, jx, jy) = (xw[0], yw[0], xw[1], yw[1]);
            let corners = [(ix, iy), (jx, iy), (jx, jy), (ix, jy)];
            let values: Option<Vec<f64>> = corners.iter().map(|(i, j)| field.z[*j][*i]).collect();
            let Some(values) = values else { continue };
            let points: Vec<(f64, f64, f64)> = corners
                .iter()
                .zip(&values)
                .map(|((i, j), v)| (s.x[*i], *v, s.y[*j]))
                .collect();
            let mean = values.iter().sum::<f64>() / 4.0;
            let centre = ((s.x[ix] + s.x[jx]) / 2.0, mean, (s.y[iy] + s.y[jy]) / 2.0);
            let depth = chart
                .as_coord_spec()
                .projected_depth(&centre.0, &centre.1, &centre.2);
            quads.push((depth, points, field.colour(mean)));
        }
    }
    quads.sort_by_key(|q| std::cmp::Reverse(q.0));
    let outline = xs.len().max(ys.len()) <= 61;
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
pub(crate) type LabelledEdge = ((f64, f64, f64), (f64, f64, f64), (i32, i32));

/// The box edge along which plotters draws the tick labels of `axis` (0 = x, 1 = y, 2 = z) and
/// the unit pixel direction its labels point to: plotters' own choice (in `draw_axis` and
/// `draw_axis_ticks`), recomputed so the axis titles land next to those labels.
pub(crate) fn labelled_edge<X, Y, Z, DB>(
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

/// Most mesh segments per axis of a 3-D surface (matplotlib's `plot_surface` draws 50 by
/// default): a 101 × 101 sweep is drawn on every other row and column, 2 500 quads instead of
/// 10 000, which keeps a redraw on the page under 100 ms (issue #13); the quads still pass
/// through the computed values.
pub const MESH_SEGMENTS: usize = 64;

/// Indices `0, k, 2k, …, n − 1` of an axis of `n` points, with the smallest step `k` that leaves
/// at most `max_segments` segments.
pub fn mesh_indices(n: usize, max_segments: usize) -> Vec<usize> {
    if n < 2 {
        return (0..n).collect();
    }
    let k = (n - 1).div_ceil(max_segments.max(1));
    let mut out: Vec<usize> = (0..n).step_by(k).collect();
    if out.last() != Some(&(n - 1)) {
        out.push(n - 1);
    }
    out
}
