//! The picture of a partial surface. Cells arrive coarse to fine ([`crate::landscape::sweep::coarse_to_fine`]),
//! each lattice spanning the whole plane; once one lattice is complete, its values interpolated
//! bilinearly onto the full grid are a landscape of the whole plane — the first 4 or 9 cells of a
//! model already show one. Every cell computed so far keeps its own value, so the picture sharpens
//! cell by cell and ends as the surface itself.

use crate::landscape::surface::Surface;
use crate::landscape::sweep::{coarsest_stride, lattice};

/// A partial surface's preview and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Preview {
    /// The surface with every missing cell interpolated from the lattice.
    pub surface: Surface,
    /// The complete lattice it was interpolated from: points along x and along y.
    pub lattice: (usize, usize),
}

impl Preview {
    /// What a figure's title says about it, e.g. "preview from 3×3 of 17×17 cells".
    pub fn caption(&self) -> String {
        let (nx, ny) = (self.surface.x.len(), self.surface.y.len());
        if self.surface.is_1d() {
            format!("preview from {} of {nx} points", self.lattice.0)
        } else {
            format!(
                "preview from {}×{} of {nx}×{ny} cells",
                self.lattice.0, self.lattice.1
            )
        }
    }
}

/// The preview of `surface`, or `None` when there is nothing to add: the surface is complete, or
/// no lattice of three or more points per axis (the edges and the centre) is complete yet.
pub fn preview(surface: &Surface) -> Option<Preview> {
    let (nx, ny) = (surface.x.len(), surface.y.len());
    let (done, total) = surface.progress();
    if done == total || nx < 2 {
        return None;
    }
    let loss = surface.loss();
    let known = |ix: usize, iy: usize| {
        loss.get(iy)
            .and_then(|row| row.get(ix))
            .is_some_and(Option::is_some)
    };
    // The finest complete lattice (stride 1 would be the whole grid, which is not complete).
    let mut stride = 2;
    let mut found = None;
    while stride <= coarsest_stride(nx, ny).max(2) {
        let (xs, ys) = (lattice(nx, stride), lattice(ny, stride));
        let spans = xs.len() >= nx.min(3) && ys.len() >= ny.min(3);
        if spans && ys.iter().all(|&iy| xs.iter().all(|&ix| known(ix, iy))) {
            found = Some((xs, ys));
            break;
        }
        stride *= 2;
    }
    let (xs, ys) = found?;
    let mut out = surface.clone();
    for grid in out.metrics.values_mut() {
        let source = grid.clone();
        let at = |ix: usize, iy: usize| source.get(iy).and_then(|r| r.get(ix)).copied().flatten();
        for (iy, row) in grid.iter_mut().enumerate() {
            let (y0, y1, wy) = bracket(&ys, &surface.y, iy);
            for (ix, slot) in row.iter_mut().enumerate() {
                if slot.is_some() {
                    continue;
                }
                let (x0, x1, wx) = bracket(&xs, &surface.x, ix);
                let corners = [at(x0, y0), at(x1, y0), at(x0, y1), at(x1, y1)];
                if let [Some(a), Some(b), Some(c), Some(d)] = corners {
                    let top = a + (b - a) * wx;
                    let bottom = c + (d - c) * wx;
                    *slot = Some(top + (bottom - top) * wy);
                }
            }
        }
    }
    Some(Preview {
        surface: out,
        lattice: (xs.len(), ys.len()),
    })
}

/// The lattice indices either side of index `i` and the weight of the upper one, by coordinate.
fn bracket(indices: &[usize], coordinates: &[f64], i: usize) -> (usize, usize, f64) {
    let upper = indices.partition_point(|&k| k < i).min(indices.len() - 1);
    let hi = indices[upper];
    if hi == i || upper == 0 {
        return (hi, hi, 0.0);
    }
    let lo = indices[upper - 1];
    let (a, b) = (coordinates[lo], coordinates[hi]);
    let w = if b != a {
        (coordinates[i] - a) / (b - a)
    } else {
        0.0
    };
    (lo, hi, w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::landscape::surface::{Cell, LOSS};
    use crate::landscape::sweep::{coarse_to_fine, record};

    fn plane(n: usize) -> Surface {
        let axis = crate::spec::Axis {
            min: -1.0,
            max: 1.0,
            n,
        };
        Surface::empty(crate::spec::placeholder(axis, Some(axis)), &[LOSS])
    }

    fn fill(s: &mut Surface, cells: &[Cell], f: impl Fn(f64, f64) -> f64) {
        for &c in cells {
            let v = f(s.x[c.ix], s.y[c.iy]);
            record(s, c, &[(LOSS.to_string(), v)].into_iter().collect());
        }
    }

    #[test]
    fn a_complete_lattice_is_interpolated_over_the_whole_plane() {
        let mut s = plane(17);
        let order = coarse_to_fine(17, 17);
        // Nothing until the 3×3 lattice (edges and centre) is in: 2×2 corners say nothing of
        // the middle.
        fill(&mut s, &order[..8], |a, b| a + b);
        assert!(preview(&s).is_none());
        // A bilinear function is reproduced exactly from the 3×3 lattice.
        fill(&mut s, &order[8..9], |a, b| a + b);
        let p = preview(&s).expect("a 3×3 lattice is a picture");
        assert_eq!(p.lattice, (3, 3));
        assert_eq!(p.caption(), "preview from 3×3 of 17×17 cells");
        for (iy, row) in p.surface.loss().iter().enumerate() {
            for (ix, v) in row.iter().enumerate() {
                let want = s.x[ix] + s.y[iy];
                assert!((v.unwrap() - want).abs() < 1e-12, "({ix}, {iy})");
            }
        }
    }

    #[test]
    fn computed_cells_keep_their_values_and_finer_lattices_win() {
        let mut s = plane(17);
        let order = coarse_to_fine(17, 17);
        let bowl = |a: f64, b: f64| a * a + b * b;
        // The 3×3 lattice plus some of the 5×5 one.
        fill(&mut s, &order[..12], bowl);
        let p = preview(&s).unwrap();
        assert_eq!(p.lattice, (3, 3));
        for c in &order[..12] {
            assert_eq!(p.surface.loss()[c.iy][c.ix], s.loss()[c.iy][c.ix]);
        }
        // The bowl's centre row, between lattice points 0 and 8: linear between 1 and 0.
        let v = p.surface.loss()[8][4].unwrap();
        assert!((v - 0.5).abs() < 1e-12, "{v}");
        fill(&mut s, &order[12..25], bowl);
        assert_eq!(preview(&s).unwrap().lattice, (5, 5));
        // Complete: no preview, the surface is the picture.
        fill(&mut s, &order[25..], bowl);
        assert!(preview(&s).is_none());
    }

    #[test]
    fn uneven_grids_and_single_rows_work() {
        let mut s = plane(6);
        let order = coarse_to_fine(6, 6);
        fill(&mut s, &order[..9], |a, b| 2.0 * a - b);
        let p = preview(&s).unwrap();
        assert_eq!(p.lattice, (3, 3));
        let v = p.surface.loss()[2][3].unwrap();
        assert!((v - (2.0 * s.x[3] - s.y[2])).abs() < 1e-12);
    }
}
