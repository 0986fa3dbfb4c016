//! The contour figure: filled bands, labelled iso-lines and label placement.

use super::*;

/// Filled contours of a 2-D surface: pale bands between levels under lines labelled with their
/// level, on axes "α (direction x)" / "β (direction y)", with the centre θ* marked. Lines and
/// bands are coloured by level (the colour map).
pub fn draw_contour<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &Surface,
    o: &PlotOptions,
) -> Result<Frame, PlotError> {
    require_2d(s, "a contour plot")?;
    let field = prepare(s, o)?;
    let sz = Sizes::with(area, o);
    let body = start_figure(area, &title_text(s, o, ""), sz)?;
    let (x0, x1) = (s.x[0], s.x[s.x.len() - 1]);
    let (y0, y1) = (s.y[0], s.y[s.y.len() - 1]);
    let layout = PlaneLayout::new(body.dim_in_pixel(), (x1 - x0, y1 - y0), sz.px(30.0), 0, sz);
    let mut chart = plane_chart(&body, x0..x1, y0..y1, &layout)?;

    let levels = field.levels(o.levels);
    let thresholds: Vec<f64> = levels.iter().map(|l| l.1).collect();
    let labels = level_labels(&levels.iter().map(|l| l.0).collect::<Vec<_>>(), o.log_scale);
    let lines = extract_lines(&s.x, &s.y, &field.z, &thresholds);
    let line_colour = |t: f64| field.line_colour(t);
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
    if let Some(path) = &s.info.trajectory {
        taken.extend(mark_path(
            &mut chart,
            path,
            RGBColor(25, 25, 25),
            WHITE,
            sz,
        )?);
    }
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
pub(crate) fn fill_bands<DB: DrawingBackend>(
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
        let c = field.line_colour((lo + hi) / 2.0);
        let pale = |x: u8| (f64::from(x) + (255.0 - f64::from(x)) * 0.55) as u8;
        RGBColor(pale(c.0), pale(c.1), pale(c.2))
    };
    let z = |ix: usize, iy: usize| field.z.get(iy).and_then(|r| r.get(ix)).copied().flatten();
    // Pieces side by side in a sub-row with the same colour are drawn as one rectangle (the
    // same pixels): a 101 × 101 grid is about a thousand rectangles, not ten thousand.
    let mut pieces = Vec::new();
    let mut run: Option<(f64, f64, f64, f64, RGBColor)> = None; // x0, x1, y0, y1, colour
    let flush = |run: &mut Option<(f64, f64, f64, f64, RGBColor)>, pieces: &mut Vec<_>| {
        if let Some((x0, x1, y0, y1, colour)) = run.take() {
            pieces.push(Rectangle::new([(x0, y0), (x1, y1)], colour.filled()));
        }
    };
    for iy in 0..ny - 1 {
        let (ya, yb) = (s.y[iy], s.y[iy + 1]);
        for sy in 0..k {
            let (v0, v1) = (sy as f64 / k as f64, (sy + 1) as f64 / k as f64);
            let v = (v0 + v1) / 2.0;
            let (y0, y1) = (ya + (yb - ya) * v0, ya + (yb - ya) * v1);
            for ix in 0..nx - 1 {
                let (Some(a), Some(b), Some(c), Some(d)) =
                    (z(ix, iy), z(ix + 1, iy), z(ix, iy + 1), z(ix + 1, iy + 1))
                else {
                    flush(&mut run, &mut pieces);
                    continue;
                };
                let (xa, xb) = (s.x[ix], s.x[ix + 1]);
                for sx in 0..k {
                    let (u0, u1) = (sx as f64 / k as f64, (sx + 1) as f64 / k as f64);
                    let u = (u0 + u1) / 2.0;
                    let value = a * (1.0 - u) * (1.0 - v)
                        + b * u * (1.0 - v)
                        + c * (1.0 - u) * v
                        + d * u * v;
                    let colour = band_colour(value);
                    let (x0, x1) = (xa + (xb - xa) * u0, xa + (xb - xa) * u1);
                    match run.as_mut() {
                        Some(r) if r.4 == colour => r.1 = x1,
                        _ => {
                            flush(&mut run, &mut pieces);
                            run = Some((x0, x1, y0, y1, colour));
                        }
                    }
                }
            }
            flush(&mut run, &mut pieces);
        }
    }
    chart.draw_series(pieces).or_backend()?;
    Ok(())
}

/// A colour dark enough for text on white.
pub(crate) fn darker(c: RGBColor) -> RGBColor {
    let f = |v: u8| (f64::from(v) * 0.7) as u8;
    RGBColor(f(c.0), f(c.1), f(c.2))
}

/// A grey note in the middle of a chart (e.g. why it is empty).
pub(crate) fn note<DB: DrawingBackend>(
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
pub(crate) struct LabelBox {
    pub(crate) x0: i32,
    pub(crate) y0: i32,
    pub(crate) x1: i32,
    pub(crate) y1: i32,
}

impl LabelBox {
    /// Whether the segment p–q passes through the box grown by `gap` (Liang–Barsky clipping).
    pub(crate) fn hit_by(&self, p: (i32, i32), q: (i32, i32), gap: i32) -> bool {
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

    pub(crate) fn overlaps(&self, other: &LabelBox, gap: i32) -> bool {
        self.x0 - gap < other.x1
            && other.x0 - gap < self.x1
            && self.y0 - gap < other.y1
            && other.y0 - gap < self.y1
    }
}

/// One level's lines with the text and colour of their label.
pub(crate) struct LabelledLines<'a> {
    pub(crate) label: String,
    pub(crate) polylines: &'a [Polyline],
    pub(crate) colour: RGBColor,
}

/// A label position chosen by [`place_labels`].
pub(crate) struct PlacedLabel {
    /// Centre, in axis coordinates.
    pub(crate) at: (f64, f64),
    pub(crate) label: String,
    pub(crate) colour: RGBColor,
    /// Text size in pixels.
    pub(crate) size: (i32, i32),
}

/// Print each level's value on its lines (inline, on a white patch), at most one label per
/// polyline, at spots along the line that stay inside the plot and clear of other labels.
pub(crate) fn place_labels<DB: DrawingBackend>(
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
pub(crate) fn point_along(
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
