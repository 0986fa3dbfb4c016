//! Running a sweep: the order cells are visited in (row-major or coarse-to-fine), evaluation of
//! each cell from the pristine θ*, progress events, cancellation, and resuming a partial surface.
//! The loop is async: the browser's worker awaits its read-backs, native code drives it with
//! `pollster`.

use std::collections::BTreeMap;

use crate::error::SpecError;
use crate::landscape::surface::{Cell, Surface};
use crate::spec::SweepSpec;

pub mod merge;
pub mod shard;
#[cfg(all(feature = "engine", not(target_arch = "wasm32")))]
mod threads;
pub use merge::{MergeError, Merged, merge};
pub use shard::Shard;
#[cfg(all(feature = "engine", not(target_arch = "wasm32")))]
pub(crate) use threads::in_parallel;
#[cfg(all(feature = "engine", not(target_arch = "wasm32")))]
pub use threads::{eval_parallel, run_threads};

/// Reported after every computed cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Cells computed so far (including any resumed ones).
    pub done: usize,
    /// Cells in the grid.
    pub total: usize,
    /// The cell just computed.
    pub cell: Cell,
    /// Its metrics.
    pub values: BTreeMap<String, f64>,
}

/// What the progress callback wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Keep going.
    Continue,
    /// Stop now; the surface keeps what was computed.
    Cancel,
}

/// Every cell, row by row (`iy` outer, `ix` inner).
pub fn row_major(nx: usize, ny: usize) -> Vec<Cell> {
    (0..ny)
        .flat_map(|iy| (0..nx).map(move |ix| Cell { ix, iy }))
        .collect()
}

/// The coarsest stride of [`coarse_to_fine`] on an `nx`×`ny` grid: the largest power of two
/// below the longer side.
pub fn coarsest_stride(nx: usize, ny: usize) -> usize {
    let mut stride = 1;
    while stride * 2 < nx.max(ny) {
        stride *= 2;
    }
    stride
}

/// The indices of one axis (length `n`) on the lattice of `stride`: every `stride`-th index and
/// always the last one, so each lattice spans the whole axis.
pub fn lattice(n: usize, stride: usize) -> Vec<usize> {
    let mut out: Vec<usize> = (0..n).step_by(stride.max(1)).collect();
    if n > 0 && out.last() != Some(&(n - 1)) {
        out.push(n - 1);
    }
    out
}

/// Every cell, coarse to fine: first a sparse lattice (stride a power of two, edges included),
/// then each finer lattice's new cells. Each lattice spans the whole plane, so once one is
/// complete it is a picture of everything ([`crate::landscape::preview`]).
pub fn coarse_to_fine(nx: usize, ny: usize) -> Vec<Cell> {
    coarse_to_fine_levels(nx, ny).concat()
}

/// [`coarse_to_fine`] level by level: each entry holds the cells that complete one lattice.
pub fn coarse_to_fine_levels(nx: usize, ny: usize) -> Vec<Vec<Cell>> {
    let mut stride = coarsest_stride(nx, ny);
    let mut seen = vec![false; nx * ny];
    let mut levels = Vec::new();
    loop {
        let mut level = Vec::new();
        for &iy in &lattice(ny, stride) {
            for &ix in &lattice(nx, stride) {
                if !seen[iy * nx + ix] {
                    seen[iy * nx + ix] = true;
                    level.push(Cell { ix, iy });
                }
            }
        }
        if !level.is_empty() {
            levels.push(level);
        }
        if stride == 1 {
            break;
        }
        stride /= 2;
    }
    levels
}

/// The direction coefficients of a cell: `[α]` for 1-D, `[α, β]` for 2-D, and `[t, t²]` on a
/// Bézier curve (its two terms, [`crate::landscape::setup::bezier_terms`]).
pub fn coefficients(surface: &Surface, cell: Cell) -> Vec<f64> {
    let alpha = surface.x[cell.ix];
    if let crate::spec::DirectionSource::Bezier { .. } = surface.spec.directions.source {
        vec![alpha, alpha * alpha]
    } else if surface.is_1d() {
        vec![alpha]
    } else {
        vec![alpha, surface.y[cell.iy]]
    }
}

/// Store a cell's metrics in the surface.
pub fn record(surface: &mut Surface, cell: Cell, values: &BTreeMap<String, f64>) {
    for (name, v) in values {
        if let Some(grid) = surface.metrics.get_mut(name)
            && let Some(slot) = grid.get_mut(cell.iy).and_then(|row| row.get_mut(cell.ix))
        {
            *slot = Some(*v);
        }
    }
}

/// True when the cell's loss is already known (resumed surfaces).
pub fn is_done(surface: &Surface, cell: Cell) -> bool {
    surface
        .loss()
        .get(cell.iy)
        .and_then(|row| row.get(cell.ix))
        .is_some_and(Option::is_some)
}

/// Grid cells per forward pass on a GPU (the CLI's `--device wgpu` default and the page's WebGPU).
pub const GPU_CELLS_PER_FORWARD: usize = 8;

/// At most this many parameter values for the K weight sets of one forward pass: 128 MiB of f32,
/// WebGPU's default storage-buffer binding limit, so a run fits the browser too.
pub const MAX_WEIGHT_VALUES: usize = 1 << 25;

/// How a sweep groups its cells: `per_forward` cells per forward pass (K weight sets, see
/// [`crate::model::Weights`]; 1 is fastest on the CPU, several on a GPU) and `per_read` cells per
/// read-back (the browser's GPU runs every forward of a read before the worker waits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Cells per forward pass.
    pub per_forward: usize,
    /// Cells per read-back (a multiple of `per_forward` wastes nothing).
    pub per_read: usize,
}

impl Pace {
    /// `k` cells per forward pass, read back after each.
    pub fn cells(k: usize) -> Self {
        Self {
            per_forward: k,
            per_read: k,
        }
    }
}

/// Evaluate every missing cell in `order` at `pace`, calling `on_cell` after each cell. The one
/// cell loop: the CLI drives it with `pollster`, the browser's worker awaits it chunk by chunk.
///
/// Returns `Err(Error::Cancelled)` when the callback cancels; the surface keeps every cell
/// computed up to then.
#[cfg(feature = "engine")]
pub async fn run(
    evaluator: &crate::landscape::objective::Evaluator,
    surface: &mut Surface,
    order: &[Cell],
    pace: Pace,
    on_cell: &mut dyn FnMut(&Surface, &Progress) -> Control,
) -> Result<(), crate::error::Error> {
    let (mut done, total) = surface.progress();
    for chunk in missing(surface, order).chunks(pace.per_read.max(1)) {
        let points: Vec<Vec<f64>> = chunk.iter().map(|c| coefficients(surface, *c)).collect();
        let results = evaluator.eval_points(&points, pace.per_forward).await?;
        if deliver(surface, chunk, results, &mut done, total, on_cell) == Control::Cancel {
            return Err(crate::error::Error::Cancelled);
        }
    }
    Ok(())
}

/// The cells of `order` not computed yet.
#[cfg(feature = "engine")]
fn missing(surface: &Surface, order: &[Cell]) -> Vec<Cell> {
    order
        .iter()
        .copied()
        .filter(|c| !is_done(surface, *c))
        .collect()
}

/// Record a chunk's results and report each cell; stops at the first `Cancel`.
#[cfg(feature = "engine")]
fn deliver(
    surface: &mut Surface,
    chunk: &[Cell],
    results: Vec<BTreeMap<String, f64>>,
    done: &mut usize,
    total: usize,
    on_cell: &mut dyn FnMut(&Surface, &Progress) -> Control,
) -> Control {
    for (&cell, values) in chunk.iter().zip(results) {
        record(surface, cell, &values);
        *done += 1;
        let progress = Progress {
            done: *done,
            total,
            cell,
            values,
        };
        if on_cell(surface, &progress) == Control::Cancel {
            return Control::Cancel;
        }
    }
    Control::Continue
}

/// Check that a partial surface was computed with `spec` (batch size aside, which only affects
/// rounding) so its cells can be kept.
pub fn check_resumable(previous: &Surface, spec: &SweepSpec) -> Result<(), SpecError> {
    let mut a = previous.spec.clone();
    a.batch_size = spec.batch_size;
    if &a != spec {
        let old = serde_json::to_value(&previous.spec).unwrap_or_default();
        let new = serde_json::to_value(spec).unwrap_or_default();
        let differing: Vec<String> = match (old, new) {
            (serde_json::Value::Object(o), serde_json::Value::Object(n)) => n
                .iter()
                .filter(|(k, v)| o.get(*k) != Some(*v) && k.as_str() != "batch_size")
                .map(|(k, _)| k.clone())
                .collect(),
            _ => vec!["(whole spec)".into()],
        };
        return Err(SpecError::Field {
            field: "resume".into(),
            reason: format!(
                "the partial surface was computed with different settings ({}); start a new output folder or use the same flags",
                differing.join(", ")
            ),
        });
    }
    let rows = previous.loss().len();
    let cols = previous.loss().first().map(Vec::len).unwrap_or(0);
    if rows != previous.y.len() || cols != previous.x.len() {
        return Err(SpecError::Field {
            field: "resume".into(),
            reason: format!(
                "partial surface grid is {rows}×{cols} but its axes have {}×{} points",
                previous.y.len(),
                previous.x.len()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_to_fine_visits_every_cell_once_corners_first() {
        for (nx, ny) in [(1, 1), (5, 3), (41, 41), (8, 2)] {
            let order = coarse_to_fine(nx, ny);
            assert_eq!(order.len(), nx * ny);
            let mut seen = std::collections::HashSet::new();
            for c in &order {
                assert!(c.ix < nx && c.iy < ny);
                assert!(seen.insert((c.ix, c.iy)));
            }
            assert_eq!(order[0], Cell { ix: 0, iy: 0 });
        }
        let order = coarse_to_fine(41, 41);
        // The first lattice has stride 32 and the far edge: 0, 32, 40 on each axis.
        assert_eq!(order[1], Cell { ix: 32, iy: 0 });
        assert_eq!(order[2], Cell { ix: 40, iy: 0 });
        assert_eq!(order[8], Cell { ix: 40, iy: 40 });
        // 17 points: a 2×2 lattice, then 3×3 (stride 8), 5×5, 9×9 and every cell.
        let order = coarse_to_fine(17, 17);
        let first: std::collections::HashSet<_> = order[..9].iter().map(|c| (c.ix, c.iy)).collect();
        for ix in [0, 8, 16] {
            for iy in [0, 8, 16] {
                assert!(
                    first.contains(&(ix, iy)),
                    "({ix}, {iy}) is not among the first 9"
                );
            }
        }
        assert_eq!(lattice(5, 4), [0, 4]);
        assert_eq!(lattice(6, 4), [0, 4, 5]);
        assert_eq!(lattice(1, 8), [0]);
        assert_eq!(row_major(3, 2)[3], Cell { ix: 0, iy: 1 });
    }
}
