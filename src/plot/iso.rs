//! Iso-lines by marching squares (the `contour` crate) over the computed cells only.

use super::*;

/// A polyline in (α, β) axis coordinates.
pub type Polyline = Vec<(f64, f64)>;

/// The iso-lines of one level: `(level, polylines)`.
pub type IsoLines = (f64, Vec<Polyline>);

/// Iso-lines of a metric in (α, β) axis coordinates: one entry per level, each a list of
/// polylines. Only cells whose four corners are computed contribute, so a partial surface gives
/// partial lines; a metric that is absent, 1-D, or has no fully computed cell gives no entries.
pub fn iso_lines(s: &Surface, metric: &str, levels: &[f64]) -> Vec<IsoLines> {
    match s.metrics.get(metric) {
        Some(grid) => extract_lines(&s.x, &s.y, grid, levels),
        None => Vec::new(),
    }
}

/// Marching squares (the `contour` crate) on `grid` (`[iy][ix]`), cut where cells are incomplete,
/// mapped from grid-index space to axis coordinates.
pub(crate) fn extract_lines(
    xs: &[f64],
    ys: &[f64],
    grid: &Grid2,
    thresholds: &[f64],
) -> Vec<IsoLines> {
    let (nx, ny) = (xs.len(), ys.len());
    if nx < 2 || ny < 2 || grid.len() != ny || grid.iter().any(|row| row.len() != nx) {
        return Vec::new();
    }
    let known = |ix: usize, iy: usize| grid[iy][ix].is_some_and(f64::is_finite);
    let complete_cell = |cx: isize, cy: isize| {
        if cx < 0 || cy < 0 || cx as usize + 1 >= nx || cy as usize + 1 >= ny {
            return false;
        }
        let (cx, cy) = (cx as usize, cy as usize);
        known(cx, cy) && known(cx + 1, cy) && known(cx, cy + 1) && known(cx + 1, cy + 1)
    };
    if !(0..nx as isize - 1).any(|cx| (0..ny as isize - 1).any(|cy| complete_cell(cx, cy))) {
        return Vec::new();
    }
    // The crate wants row-major values with row 0 first, exactly our [iy][ix] order.
    let values: Vec<f64> = grid
        .iter()
        .flat_map(|row| {
            row.iter()
                .map(|v| v.filter(|v| v.is_finite()).unwrap_or(f64::NAN))
        })
        .collect();
    let lines = match ContourBuilder::new(nx, ny, true).lines(&values, thresholds) {
        Ok(lines) => lines,
        Err(_) => return Vec::new(),
    };
    lines
        .into_iter()
        .map(|line| {
            let (geometry, threshold) = line.into_inner();
            let mut polylines = Vec::new();
            for ring in geometry.0 {
                // The crate puts sample (ix, iy) at (ix + 0.5, iy + 0.5); shift to index space.
                let points: Vec<(f64, f64)> =
                    ring.0.iter().map(|c| (c.x - 0.5, c.y - 0.5)).collect();
                for run in valid_runs(&points, &complete_cell) {
                    let mapped: Vec<(f64, f64)> = run
                        .into_iter()
                        .map(|(i, j)| (axis_at(xs, i), axis_at(ys, j)))
                        .collect();
                    if mapped.len() >= 2 {
                        polylines.push(mapped);
                    }
                }
            }
            (threshold, polylines)
        })
        .collect()
}

/// Split a ring (index space) into runs of segments that lie in complete cells. Segments on the
/// crate's virtual border (outside the grid) or touching an uncomputed sample are dropped.
pub(crate) fn valid_runs(
    points: &[(f64, f64)],
    complete_cell: &dyn Fn(isize, isize) -> bool,
) -> Vec<Vec<(f64, f64)>> {
    let segment_ok = |p: (f64, f64), q: (f64, f64)| {
        let (mx, my) = ((p.0 + q.0) / 2.0, (p.1 + q.1) / 2.0);
        mx.is_finite() && my.is_finite() && complete_cell(mx.floor() as isize, my.floor() as isize)
    };
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    for w in points.windows(2) {
        if segment_ok(w[0], w[1]) {
            if current.is_empty() {
                current.push(w[0]);
            }
            if current.last() != Some(&w[1]) {
                current.push(w[1]);
            }
        } else if !current.is_empty() {
            runs.push(std::mem::take(&mut current));
        }
    }
    let closed = points.len() > 2 && points.first() == points.last();
    let whole_ring_kept = runs.is_empty();
    if !current.is_empty() {
        runs.push(current);
    }
    // A closed ring that was cut: its last run continues into its first.
    if closed && !whole_ring_kept && runs.len() >= 2 {
        let first_ok = segment_ok(points[0], points[1]);
        let last_ok = segment_ok(points[points.len() - 2], points[points.len() - 1]);
        if first_ok && last_ok {
            let first = runs.remove(0);
            if let Some(last) = runs.last_mut() {
                last.extend(first.into_iter().skip(1));
            }
        }
    }
    runs
}

/// Axis coordinate of a fractional index (linear between neighbouring points).
pub(crate) fn axis_at(axis: &[f64], t: f64) -> f64 {
    let last = axis.len().saturating_sub(1);
    if last == 0 {
        return axis.first().copied().unwrap_or(0.0);
    }
    let t = t.clamp(0.0, last as f64);
    let k = (t.floor() as usize).min(last - 1);
    axis[k] + (t - k as f64) * (axis[k + 1] - axis[k])
}
