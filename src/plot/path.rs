//! A training path over a plane figure: `info.trajectory`, present when a surface's directions
//! are two principal components of one run (`vitscape trajectory`).

use super::*;
use crate::trajectory::TrajectoryPath;

/// Draw the path: a line through the checkpoints in training order over a halo, a dot at each,
/// the first one labelled "start" (the last is usually θ* itself, marked already). Segments with
/// an end outside the plotted range are left out (a grid need not cover the whole run). Returns
/// the boxes of what it drew, for the iso-line labels to avoid.
pub(crate) fn mark_path<DB: DrawingBackend>(
    chart: &mut Chart2d<'_, DB>,
    path: &TrajectoryPath,
    line: RGBColor,
    halo: RGBColor,
    sz: Sizes,
) -> Result<Vec<LabelBox>, PlotError> {
    let (xr, yr) = (chart.x_range(), chart.y_range());
    let inside = |a: f64, b: f64| xr.start <= a && a <= xr.end && yr.start <= b && b <= yr.end;
    let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for p in &path.points {
        if inside(p.alpha, p.beta) {
            if let Some(run) = runs.last_mut() {
                run.push((p.alpha, p.beta));
            }
        } else if runs.last().is_some_and(|r| !r.is_empty()) {
            runs.push(Vec::new());
        }
    }
    let halo_style = ShapeStyle::from(&halo).stroke_width(sz.px(5.0));
    let line_style = ShapeStyle::from(&line).stroke_width(sz.px(2.0));
    for style in [halo_style, line_style] {
        chart
            .draw_series(
                runs.iter()
                    .filter(|r| r.len() > 1)
                    .map(|r| PathElement::new(r.clone(), style)),
            )
            .or_backend()?;
    }
    let dots: Vec<(f64, f64)> = runs.iter().flatten().copied().collect();
    let radius = sz.px(3.5) as i32;
    chart
        .draw_series(dots.iter().map(|&p| {
            EmptyElement::at(p)
                + Circle::new((0, 0), radius + 1, ShapeStyle::from(&halo).filled())
                + Circle::new((0, 0), radius, ShapeStyle::from(&line).filled())
        }))
        .or_backend()?;
    let mut boxes: Vec<LabelBox> = dots
        .iter()
        .map(|p| {
            let (x, y) = chart.backend_coord(p);
            LabelBox {
                x0: x - radius,
                y0: y - radius,
                x1: x + radius,
                y1: y + radius,
            }
        })
        .collect();
    if let Some(first) = path.points.first().filter(|p| inside(p.alpha, p.beta)) {
        let text = sz
            .font(14.0)
            .color(&line)
            .pos(Pos::new(HPos::Left, VPos::Top));
        let offset = radius + 3;
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((first.alpha, first.beta))
                    + Text::new("start", (offset, offset), text),
            ))
            .or_backend()?;
        let (x, y) = chart.backend_coord(&(first.alpha, first.beta));
        boxes.push(LabelBox {
            x0: x + offset,
            y0: y + offset,
            x1: x + offset + sz.px(40.0) as i32,
            y1: y + offset + sz.px(16.0) as i32,
        });
    }
    Ok(boxes)
}

/// How many of a path's checkpoints lie outside a surface's grid.
pub fn path_points_outside(s: &Surface, path: &TrajectoryPath) -> usize {
    let (x0, x1) = (s.x.first().copied(), s.x.last().copied());
    let (y0, y1) = (s.y.first().copied(), s.y.last().copied());
    let (Some(x0), Some(x1), Some(y0), Some(y1)) = (x0, x1, y0, y1) else {
        return path.points.len();
    };
    path.points
        .iter()
        .filter(|p| !(x0 <= p.alpha && p.alpha <= x1 && y0 <= p.beta && p.beta <= y1))
        .count()
}
